//! ECDH (CKM_ECDH1_DERIVE, CKM_ECDH1_COFACTOR_DERIVE) through the built module: NIST CAVP known
//! answers, agreement between token keys with every X9.63 KDF (checked against the KDF computed
//! here with the `sha1`/`sha2` crates), the derived key's attributes, X25519 (RFC 7748 known
//! answers, CKM_EC_MONTGOMERY_KEY_PAIR_GEN), and bad input with the spec's return codes (nothing
//! created on failure).

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// NIST CAVP KAS ECC CDH primitive test vectors (KAS_ECC_CDH_PrimitiveTest.txt), COUNT = 0 and 1
/// of each curve: (EC params, dIUT, QCAVSx, QCAVSy, ZIUT). P-521's dIUT and QCAVS lose the two
/// zero bytes the file puts before them.
const CAVP: &[(&[u8], &str, &str, &str, &str)] = &[
    (
        OID_P256,
        "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534",
        "700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287",
        "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
        "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b",
    ),
    (
        OID_P256,
        "38f65d6dce47676044d58ce5139582d568f64bb16098d179dbab07741dd5caf5",
        "809f04289c64348c01515eb03d5ce7ac1a8cb9498f5caa50197e58d43a86a7ae",
        "b29d84e811197f25eba8f5194092cb6ff440e26d4421011372461f579271cda3",
        "057d636096cb80b67a8c038c890e887d1adfa4195e9b3ce241c8a778c59cda67",
    ),
    (
        OID_P384,
        "3cc3122a68f0d95027ad38c067916ba0eb8c38894d22e1b15618b6818a661774\
         ad463b205da88cf699ab4d43c9cf98a1",
        "a7c76b970c3b5fe8b05d2838ae04ab47697b9eaf52e764592efda27fe7513272\
         734466b400091adbf2d68c58e0c50066",
        "ac68f19f2e1cb879aed43a9969b91a0839c4c38a49749b661efedf243451915e\
         d0905a32b060992b468c64766fc8437a",
        "5f9d29dc5e31a163060356213669c8ce132e22f57c9a04f40ba7fcead493b457\
         e5621e766c40a2e3d4d6a04b25e533f1",
    ),
    (
        OID_P384,
        "92860c21bde06165f8e900c687f8ef0a05d14f290b3f07d8b3a8cc6404366e5d\
         5119cd6d03fb12dc58e89f13df9cd783",
        "30f43fcf2b6b00de53f624f1543090681839717d53c7c955d1d69efaf0349b73\
         63acb447240101cbb3af6641ce4b88e0",
        "25e46c0c54f0162a77efcc27b6ea792002ae2ba82714299c860857a68153ab62\
         e525ec0530d81b5aa15897981e858757",
        "a23742a2c267d7425fda94b93f93bbcc24791ac51cd8fd501a238d40812f4cbf\
         c59aac9520d758cf789c76300c69d2ff",
    ),
    (
        OID_P521,
        "017eecc07ab4b329068fba65e56a1f8890aa935e57134ae0ffcce802735151f4ea\
         c6564f6ee9974c5e6887a1fefee5743ae2241bfeb95d5ce31ddcb6f9edb4d6fc47",
        "00685a48e86c79f0f0875f7bc18d25eb5fc8c0b07e5da4f4370f3a949034085433\
         4b1e1b87fa395464c60626124a4e70d0f785601d37c09870ebf176666877a2046d",
        "01ba52c56fc8776d9e8f5db4f0cc27636d0b741bbe05400697942e80b739884a83\
         bde99e0f6716939e632bc8986fa18dccd443a348b6c3e522497955a4f3c302f676",
        "005fc70477c3e63bc3954bd0df3ea0d1f41ee21746ed95fc5e1fdf90930d5e1366\
         72d72cc770742d1711c3c3a4c334a0ad9759436a4d3c5bf6e74b9578fac148c831",
    ),
];

/// An EC private key imported by value, usable for derivation.
fn import_ec_private(s: &Session, params: &[u8], d: &[u8], extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::Value(d.to_vec()),
    ];
    if !extra
        .iter()
        .any(|a| a.attribute_type() == AttributeType::Derive)
    {
        t.push(Attribute::Derive(true));
    }
    t.extend_from_slice(extra);
    s.create_object(&t).unwrap()
}

/// A readable generic secret of `len` bytes (None: no CKA_VALUE_LEN).
fn generic(len: Option<u64>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    if let Some(n) = len {
        t.push(Attribute::ValueLen(n.into()));
    }
    t
}

fn value(s: &Session, k: ObjectHandle) -> Vec<u8> {
    bytes_attr(s, k, AttributeType::Value)
}

fn bool_attr(s: &Session, o: ObjectHandle, t: AttributeType) -> bool {
    match s.get_attributes(o, &[t]).unwrap().pop() {
        Some(Attribute::AlwaysSensitive(b))
        | Some(Attribute::NeverExtractable(b))
        | Some(Attribute::Local(b))
        | Some(Attribute::Sensitive(b))
        | Some(Attribute::Extractable(b)) => b,
        other => panic!("unexpected {other:?}"),
    }
}

/// The raw point inside CKA_EC_POINT (a DER OCTET STRING).
fn point(s: &Session, pubk: ObjectHandle) -> Vec<u8> {
    let der = bytes_attr(s, pubk, AttributeType::EcPoint);
    let hdr = if der[1] == 0x81 { 3 } else { 2 };
    assert_eq!(der[0], 0x04);
    der[hdr..].to_vec()
}

fn der_octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    if v.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(v.len() as u8);
    out.extend_from_slice(v);
    out
}

/// ANSI X9.63 KDF, computed here independently of the module (the `sha1` and `sha2` crates).
fn x963(kdf: CK_EC_KDF_TYPE, z: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    use sha2_011::Digest;
    fn block<D: Digest>(z: &[u8], c: u32, info: &[u8]) -> Vec<u8> {
        D::new()
            .chain_update(z)
            .chain_update(c.to_be_bytes())
            .chain_update(info)
            .finalize()
            .to_vec()
    }
    let mut out = Vec::new();
    let mut c = 1u32;
    while out.len() < len {
        out.extend(match kdf {
            CKD_SHA1_KDF => block::<sha1::Sha1>(z, c, info),
            CKD_SHA224_KDF => block::<sha2_011::Sha224>(z, c, info),
            CKD_SHA256_KDF => block::<sha2_011::Sha256>(z, c, info),
            CKD_SHA384_KDF => block::<sha2_011::Sha384>(z, c, info),
            CKD_SHA512_KDF => block::<sha2_011::Sha512>(z, c, info),
            _ => unreachable!(),
        });
        c += 1;
    }
    out.truncate(len);
    out
}

fn x963_kdf(kdf: CK_EC_KDF_TYPE, info: &[u8]) -> EcKdf<'_> {
    match kdf {
        CKD_SHA1_KDF => EcKdf::sha1(info),
        CKD_SHA224_KDF => EcKdf::sha224(info),
        CKD_SHA256_KDF => EcKdf::sha256(info),
        CKD_SHA384_KDF => EcKdf::sha384(info),
        CKD_SHA512_KDF => EcKdf::sha512(info),
        _ => unreachable!(),
    }
}

fn ecdh<'a>(kdf: EcKdf<'a>, public: &'a [u8]) -> Mechanism<'a> {
    Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(kdf, public))
}

/// CAVP vectors through C_CreateObject and C_DeriveKey: the peer point raw and as a DER OCTET
/// STRING, both mechanisms (the cofactor one through the C interface, which `cryptoki` lacks),
/// the full Z and a CKA_VALUE_LEN truncation (from the leading end, as PKCS #11 says).
#[test]
fn cavp_known_answers() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let mut n = 0;
    for &(params, d, qx, qy, z) in CAVP {
        let k = import_ec_private(&s, params, &h(d), &[]);
        let raw = [vec![4u8], h(qx), h(qy)].concat();
        let z = h(z);
        for public in [raw.clone(), der_octet_string(&raw)] {
            let key = s
                .derive_key(&ecdh(EcKdf::null(), &public), k, &generic(None))
                .unwrap();
            assert_eq!(value(&s, key), z);
            let key = s
                .derive_key(&ecdh(EcKdf::null(), &public), k, &generic(Some(16)))
                .unwrap();
            assert_eq!(value(&s, key), z[z.len() - 16..]);
            // CKM_ECDH1_COFACTOR_DERIVE: the same value (cofactor 1).
            let mut p = CK_ECDH1_DERIVE_PARAMS {
                kdf: CKD_NULL,
                ulSharedDataLen: 0,
                pSharedData: std::ptr::null_mut(),
                ulPublicDataLen: public.len() as CK_ULONG,
                pPublicData: public.as_ptr() as *mut u8,
            };
            let mut m = raw_mech_param(CKM_ECDH1_COFACTOR_DERIVE, &mut p);
            let (class, kt, yes, no) = (CKO_SECRET_KEY, CKK_GENERIC_SECRET, 1u8, 0u8);
            let mut t = [
                ulong_attr_raw(CKA_CLASS, &class),
                ulong_attr_raw(CKA_KEY_TYPE, &kt),
                bool_attr_raw(CKA_TOKEN, &no),
                bool_attr_raw(CKA_SENSITIVE, &no),
                bool_attr_raw(CKA_EXTRACTABLE, &yes),
            ];
            let mut out: CK_OBJECT_HANDLE = 0;
            let rv = unsafe {
                (f.C_DeriveKey.unwrap())(
                    s.handle(),
                    &mut m,
                    k.handle(),
                    t.as_mut_ptr(),
                    t.len() as CK_ULONG,
                    &mut out,
                )
            };
            assert_eq!(rv, CKR_OK);
            assert_eq!(raw_value(f, s.handle(), out), z);
            n += 1;
        }
    }
    println!(
        "ECDH CAVP: {} vectors, {n} derivations per mechanism",
        CAVP.len()
    );
}

/// CKA_VALUE of an object known by its raw handle.
fn raw_value(f: &CK_FUNCTION_LIST, hs: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> Vec<u8> {
    let mut a = CK_ATTRIBUTE {
        type_: CKA_VALUE,
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    };
    unsafe {
        assert_eq!((f.C_GetAttributeValue.unwrap())(hs, o, &mut a, 1), CKR_OK);
        let mut v = vec![0u8; a.ulValueLen as usize];
        a.pValue = v.as_mut_ptr() as *mut std::ffi::c_void;
        assert_eq!((f.C_GetAttributeValue.unwrap())(hs, o, &mut a, 1), CKR_OK);
        v
    }
}

fn ulong_attr_raw(ty: CK_ATTRIBUTE_TYPE, v: &CK_ULONG) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const CK_ULONG as *mut std::ffi::c_void,
        ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    }
}

fn bool_attr_raw(ty: CK_ATTRIBUTE_TYPE, v: &u8) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const u8 as *mut std::ffi::c_void,
        ulValueLen: 1,
    }
}

/// Two key pairs made in the token agree on each curve, with CKD_NULL and with each X9.63 KDF
/// (the key as long as asked, longer than one hash too), and the KDF output is the X9.63 KDF of
/// the raw Z computed here. The derived keys' attributes follow PKCS #11's rules for C_DeriveKey.
#[test]
fn agreement_kdfs_and_attributes() {
    let env = Env::new();
    let s = env.user();
    let mut n = 0;
    for params in [OID_P256, OID_P384, OID_P521] {
        let pair = || {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::EcParams(params.to_vec()),
                    Attribute::Token(false),
                ],
                &[
                    Attribute::Derive(true),
                    Attribute::Sensitive(true),
                    Attribute::Token(false),
                ],
            )
            .unwrap()
        };
        let (pa, ka) = pair();
        let (pb, kb) = pair();
        let (qa, qb) = (point(&s, pa), point(&s, pb));
        let za = value(
            &s,
            s.derive_key(&ecdh(EcKdf::null(), &qb), ka, &generic(None))
                .unwrap(),
        );
        let zb = value(
            &s,
            s.derive_key(&ecdh(EcKdf::null(), &qa), kb, &generic(None))
                .unwrap(),
        );
        assert_eq!(za, zb);
        for kdf in [
            CKD_SHA1_KDF,
            CKD_SHA224_KDF,
            CKD_SHA256_KDF,
            CKD_SHA384_KDF,
            CKD_SHA512_KDF,
        ] {
            let mk = |info| x963_kdf(kdf, info);
            for len in [16u64, 100] {
                let info = b"shared info";
                let a = value(
                    &s,
                    s.derive_key(&ecdh(mk(info), &qb), ka, &generic(Some(len)))
                        .unwrap(),
                );
                let b = value(
                    &s,
                    s.derive_key(&ecdh(mk(info), &qa), kb, &generic(Some(len)))
                        .unwrap(),
                );
                assert_eq!(a, b);
                assert_eq!(a, x963(kdf, &za, info, len as usize), "kdf {kdf}");
                n += 1;
            }
            // Empty shared data.
            let a = value(
                &s,
                s.derive_key(&ecdh(mk(&[]), &qb), ka, &generic(Some(32)))
                    .unwrap(),
            );
            assert_eq!(a, x963(kdf, &za, &[], 32));
        }
        // An AES key from each side, sensitive: they encrypt and decrypt for each other.
        let aes = |k, q: &[u8], sensitive: bool| {
            s.derive_key(
                &ecdh(EcKdf::sha256(b"aes"), q),
                k,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(false),
                    Attribute::Sensitive(sensitive),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ],
            )
            .unwrap()
        };
        let (ea, eb) = (aes(ka, &qb, true), aes(kb, &qa, true));
        let iv = [5u8; 16];
        let c = s
            .encrypt(&Mechanism::AesCbcPad(iv), ea, b"agreed over ECDH")
            .unwrap();
        assert_eq!(
            s.decrypt(&Mechanism::AesCbcPad(iv), eb, &c).unwrap(),
            b"agreed over ECDH"
        );
        // Generated sensitive, never extractable base: the derived key is always sensitive and
        // never extractable exactly when it is sensitive / not extractable itself; never local.
        assert!(bool_attr(&s, ea, AttributeType::AlwaysSensitive));
        assert!(bool_attr(&s, ea, AttributeType::NeverExtractable));
        assert!(!bool_attr(&s, ea, AttributeType::Local));
        let open = aes(ka, &qb, false);
        assert!(!bool_attr(&s, open, AttributeType::AlwaysSensitive));
        let readable = s
            .derive_key(&ecdh(EcKdf::null(), &qb), ka, &generic(None))
            .unwrap();
        assert!(!bool_attr(&s, readable, AttributeType::NeverExtractable));
        assert!(!bool_attr(&s, readable, AttributeType::AlwaysSensitive));
        // An AES key without CKA_VALUE_LEN: the longest AES length Z covers (32 bytes), the
        // last bytes of Z.
        let k = s
            .derive_key(
                &ecdh(EcKdf::null(), &qb),
                ka,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(false),
                    Attribute::Extractable(true),
                ],
            )
            .unwrap();
        assert_eq!(value(&s, k), za[za.len() - 32..]);
    }
    println!("ECDH: 3 curves agree, {n} X9.63 KDF derivations match");
}

/// An imported base key: CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE are false on it, so on
/// every key derived from it.
#[test]
fn imported_base_key_attributes() {
    let env = Env::new();
    let s = env.user();
    let (_, d, qx, qy, _) = CAVP[0];
    let k = import_ec_private(&s, OID_P256, &h(d), &[Attribute::Sensitive(true)]);
    let raw = [vec![4u8], h(qx), h(qy)].concat();
    let key = s
        .derive_key(
            &ecdh(EcKdf::null(), &raw),
            k,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Sensitive(true),
            ],
        )
        .unwrap();
    assert!(bool_attr(&s, key, AttributeType::Sensitive));
    assert!(!bool_attr(&s, key, AttributeType::AlwaysSensitive));
    assert!(!bool_attr(&s, key, AttributeType::NeverExtractable));
    // Sensitive: its value cannot be read.
    assert!(s
        .get_attributes(key, &[AttributeType::Value])
        .map_or(true, |v| v.is_empty()));
}

fn object_count(s: &Session) -> usize {
    s.find_objects(&[]).unwrap().len()
}

/// Bad input: each with the spec's code, and no object left behind.
#[test]
fn bad_input() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let (_, d, qx, qy, _) = CAVP[0];
    let k = import_ec_private(&s, OID_P256, &h(d), &[]);
    let q = [vec![4u8], h(qx), h(qy)].concat();
    let before = object_count(&s);
    let err = |m: &Mechanism, base, t: &[Attribute]| rv(s.derive_key(m, base, t).unwrap_err());

    // The peer point: off the curve, the identity, too short, too long, another curve's,
    // garbage, empty.
    let mut off = q.clone();
    off[64] ^= 1;
    let p384 = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(OID_P384.to_vec()),
                Attribute::Token(false),
            ],
            &[Attribute::Token(false), Attribute::Derive(true)],
        )
        .unwrap();
    let q384 = point(&s, p384.0);
    let before = before + 2;
    for bad in [
        off,
        vec![0u8],
        q[..64].to_vec(),
        [&q[..], &[1]].concat(),
        q384,
        vec![4u8; 65],
        der_octet_string(&q[..64]),
    ] {
        assert_eq!(
            err(&ecdh(EcKdf::null(), &bad), k, &generic(None)),
            RvError::MechanismParamInvalid,
            "{}",
            hex::encode(&bad)
        );
    }
    // Unknown or unsupported KDFs (SHA-3, the SP 800-56A variant), and shared data with CKD_NULL,
    // through the C interface.
    let hs = s.handle();
    let (class, kt, no) = (CKO_SECRET_KEY, CKK_GENERIC_SECRET, 0u8);
    let derive_raw = |kdf: CK_EC_KDF_TYPE, shared: &[u8], public: &[u8], len: usize| -> CK_RV {
        let mut p = CK_ECDH1_DERIVE_PARAMS {
            kdf,
            ulSharedDataLen: shared.len() as CK_ULONG,
            pSharedData: shared.as_ptr() as *mut u8,
            ulPublicDataLen: public.len() as CK_ULONG,
            pPublicData: public.as_ptr() as *mut u8,
        };
        let mut m = raw_mech_param(CKM_ECDH1_DERIVE, &mut p);
        m.ulParameterLen = len as CK_ULONG;
        let mut t = [
            ulong_attr_raw(CKA_CLASS, &class),
            ulong_attr_raw(CKA_KEY_TYPE, &kt),
            bool_attr_raw(CKA_TOKEN, &no),
        ];
        let mut out: CK_OBJECT_HANDLE = 0;
        unsafe { (f.C_DeriveKey.unwrap())(hs, &mut m, k.handle(), t.as_mut_ptr(), 3, &mut out) }
    };
    let full = std::mem::size_of::<CK_ECDH1_DERIVE_PARAMS>();
    assert_eq!(derive_raw(CKD_NULL, &[], &q, full), CKR_OK);
    let before = before + 1;
    for kdf in [
        0,
        CKD_SHA1_KDF_ASN1,
        CKD_SHA3_256_KDF,
        CKD_SHA256_KDF_SP800,
        0x8000_0000,
    ] {
        assert_eq!(
            derive_raw(kdf, &[], &q, full),
            CKR_MECHANISM_PARAM_INVALID,
            "kdf {kdf:#x}"
        );
    }
    assert_eq!(
        derive_raw(CKD_NULL, b"data", &q, full),
        CKR_MECHANISM_PARAM_INVALID
    );
    // A parameter of the wrong size, or none.
    assert_eq!(
        derive_raw(CKD_NULL, &[], &q, full - 8),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut none = raw_mech(CKM_ECDH1_DERIVE);
    let mut out: CK_OBJECT_HANDLE = 0;
    let mut t = [ulong_attr_raw(CKA_CLASS, &class)];
    assert_eq!(
        unsafe { (f.C_DeriveKey.unwrap())(hs, &mut none, k.handle(), t.as_mut_ptr(), 1, &mut out) },
        CKR_MECHANISM_PARAM_INVALID
    );
    // Lengths: more than Z without a KDF, 0, and a length no AES key has.
    assert_eq!(
        err(&ecdh(EcKdf::null(), &q), k, &generic(Some(33))),
        RvError::TemplateInconsistent
    );
    assert_eq!(
        err(&ecdh(EcKdf::sha256(b""), &q), k, &generic(Some(0))),
        RvError::TemplateInconsistent
    );
    assert_eq!(
        err(
            &ecdh(EcKdf::sha256(b""), &q),
            k,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(20.into())
            ]
        ),
        RvError::TemplateInconsistent
    );
    // A derived key must be a secret key.
    assert_eq!(
        err(
            &ecdh(EcKdf::null(), &q),
            k,
            &[Attribute::Class(ObjectClass::PRIVATE_KEY)]
        ),
        RvError::TemplateInconsistent
    );
    // Base keys: without CKA_DERIVE, a public key, an RSA key, a secret key.
    let nd = import_ec_private(&s, OID_P256, &h(d), &[Attribute::Derive(false)]);
    assert_eq!(
        err(&ecdh(EcKdf::null(), &q), nd, &generic(None)),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        err(&ecdh(EcKdf::null(), &q), p384.0, &generic(None)),
        RvError::KeyTypeInconsistent
    );
    let (_, rsa) = rsa_pair(&s, 2048, &[Attribute::Derive(true)]);
    assert_eq!(
        err(&ecdh(EcKdf::null(), &q), rsa, &generic(None)),
        RvError::KeyTypeInconsistent
    );
    let sk = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Derive(true),
            Attribute::Value(vec![1; 32]),
        ])
        .unwrap();
    assert_eq!(
        err(&ecdh(EcKdf::null(), &q), sk, &generic(None)),
        RvError::KeyTypeInconsistent
    );
    // A P-384 base key with a P-256 point.
    assert_eq!(
        err(&ecdh(EcKdf::null(), &q), p384.1, &generic(None)),
        RvError::MechanismParamInvalid
    );
    // Nothing was created by the failures: only the four keys made above for the checks.
    assert_eq!(object_count(&s), before + 4);
    // The mechanism info: derivation, field sizes in bits.
    let info = env
        .p()
        .get_mechanism_info(env.slot, MechanismType::ECDH1_DERIVE)
        .unwrap();
    assert!(info.derive());
    assert_eq!((info.min_key_size(), info.max_key_size()), (224, 521));
    let mut ci = CK_MECHANISM_INFO {
        ulMinKeySize: 0,
        ulMaxKeySize: 0,
        flags: 0,
    };
    let slot: CK_SLOT_ID = env.slot.into();
    assert_eq!(
        unsafe { (f.C_GetMechanismInfo.unwrap())(slot, CKM_ECDH1_COFACTOR_DERIVE, &mut ci) },
        CKR_OK
    );
    assert_eq!((ci.ulMinKeySize, ci.ulMaxKeySize), (224, 521));
    assert_ne!(ci.flags & CKF_DERIVE, 0);
}

/// id-X25519 (1.3.101.110) and the PrintableString "curve25519", the two CKA_EC_PARAMS forms.
const OID_X25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];
fn printable_x25519() -> Vec<u8> {
    [&[0x13, 10][..], b"curve25519"].concat()
}

fn import_x25519(s: &Session, params: &[u8], k: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC_MONTGOMERY),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Derive(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::Value(k.to_vec()),
    ])
}

/// X25519: RFC 7748 6.1 with Alice's key imported by value and Bob's public value raw and as a
/// DER OCTET STRING; generated key pairs (both CKA_EC_PARAMS forms) agree with each other and
/// with x25519-dalek used directly, also through a KDF; bad input.
#[test]
fn x25519() {
    let env = Env::new();
    let s = env.user();
    let alice = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let bob_pub = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    let a = import_x25519(&s, OID_X25519, &alice).unwrap();
    // The imported key's SPKI carries Alice's public value (RFC 7748 6.1).
    assert_eq!(
        hex::encode(bytes_attr(&s, a, AttributeType::PublicKeyInfo)),
        "302a300506032b656e0321008520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    for public in [bob_pub.clone(), der_octet_string(&bob_pub)] {
        let key = s
            .derive_key(&ecdh(EcKdf::null(), &public), a, &generic(None))
            .unwrap();
        assert_eq!(value(&s, key), k);
    }
    let key = s
        .derive_key(
            &ecdh(EcKdf::sha256(b"info"), &bob_pub),
            a,
            &generic(Some(48)),
        )
        .unwrap();
    assert_eq!(value(&s, key), x963(CKD_SHA256_KDF, &k, b"info", 48));

    let mut n = 0;
    for params in [OID_X25519.to_vec(), printable_x25519()] {
        let (p, kx) = s
            .generate_key_pair(
                &Mechanism::EccMontgomeryKeyPairGen,
                &[Attribute::EcParams(params.clone()), Attribute::Token(false)],
                &[
                    Attribute::Derive(true),
                    Attribute::Sensitive(true),
                    Attribute::Token(false),
                ],
            )
            .unwrap();
        let u = point(&s, p);
        assert_eq!(u.len(), 32);
        assert_eq!(bytes_attr(&s, kx, AttributeType::EcParams), params);
        // x25519-dalek, directly, on the other side.
        let peer = x25519_dalek::StaticSecret::from([0x42u8; 32]);
        let peer_pub = x25519_dalek::PublicKey::from(&peer);
        let want = peer.diffie_hellman(&x25519_dalek::PublicKey::from(
            <[u8; 32]>::try_from(&u[..]).unwrap(),
        ));
        let got = value(
            &s,
            s.derive_key(
                &ecdh(EcKdf::null(), peer_pub.as_bytes()),
                kx,
                &generic(None),
            )
            .unwrap(),
        );
        assert_eq!(got, want.as_bytes());
        n += 1;
    }
    // Bad input: peer values of the wrong length, a small-order value (all-zero secret), keys
    // of an unknown curve or with Ed25519's params, an X25519 key for EdDSA.
    for bad in [
        bob_pub[..31].to_vec(),
        [&bob_pub[..], &[0]].concat(),
        vec![0u8; 32],
    ] {
        assert_eq!(
            rv(s.derive_key(&ecdh(EcKdf::null(), &bad), a, &generic(None))
                .unwrap_err()),
            RvError::MechanismParamInvalid
        );
    }
    for (params, want) in [
        (
            [&[0x13, 8][..], b"curve449"].concat(),
            RvError::CurveNotSupported,
        ),
        (
            vec![0x06, 0x03, 0x2b, 0x65, 0x70],
            RvError::CurveNotSupported,
        ),
        (vec![0x30, 0x00], RvError::DomainParamsInvalid),
    ] {
        assert_eq!(rv(import_x25519(&s, &params, &alice).unwrap_err()), want);
        assert_eq!(
            rv(s.generate_key_pair(
                &Mechanism::EccMontgomeryKeyPairGen,
                &[Attribute::EcParams(params.clone())],
                &[Attribute::Derive(true)],
            )
            .unwrap_err()),
            want
        );
    }
    assert_eq!(
        rv(import_x25519(&s, OID_X25519, &alice[..31]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(s.sign(
            &Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
                cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure
            )),
            a,
            b"m"
        )
        .unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    let info = env
        .p()
        .get_mechanism_info(env.slot, MechanismType::ECC_MONTGOMERY_KEY_PAIR_GEN)
        .unwrap();
    assert_eq!((info.min_key_size(), info.max_key_size()), (255, 448));
    println!("X25519: RFC 7748 6.1 through the module, {n} generated keys agree with x25519-dalek");
}
