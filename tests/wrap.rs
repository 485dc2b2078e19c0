//! C_WrapKey / C_UnwrapKey through the built module: every wrapping mechanism on secret keys
//! (AES, generic, triple DES) with the unwrapped key checked to work like the original, RSA and
//! EC private keys as PKCS#8, known answers, OpenSSL, the length protocol, the spec's error codes,
//! CKA_WRAP_TEMPLATE / CKA_UNWRAP_TEMPLATE and CKA_TRUSTED. The attacks on key management are in
//! tests/wrap_policy.rs.

mod crypto_common;

use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use std::ptr;

/// A raw template over `t`'s bytes (which must outlive it), for the C calls cryptoki cannot make.
fn ck_template(t: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<CK_ATTRIBUTE> {
    t.iter()
        .map(|(ty, v)| CK_ATTRIBUTE {
            type_: *ty,
            pValue: v.as_ptr() as *mut _,
            ulValueLen: v.len() as CK_ULONG,
        })
        .collect()
}

fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A secret key from a value, extractable and not sensitive (the policy does not apply).
fn secret(s: &Session, kt: KeyType, v: &[u8], extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(v.to_vec()),
        Attribute::Extractable(true),
        Attribute::Sensitive(false),
    ];
    t.extend_from_slice(extra);
    s.create_object(&t).unwrap()
}

fn gen_aes(s: &Session, len: u64, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![Attribute::ValueLen(len.into())];
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}

fn value(s: &Session, k: ObjectHandle) -> Vec<u8> {
    bytes_attr(s, k, AttributeType::Value)
}

fn get_bool(s: &Session, k: ObjectHandle, t: AttributeType) -> bool {
    match s.get_attributes(k, &[t]).unwrap().pop() {
        Some(Attribute::Local(b))
        | Some(Attribute::AlwaysSensitive(b))
        | Some(Attribute::NeverExtractable(b))
        | Some(Attribute::Sensitive(b))
        | Some(Attribute::Extractable(b))
        | Some(Attribute::Sign(b)) => b,
        other => panic!("unexpected {other:?}"),
    }
}

fn unwrap_template(kt: KeyType) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Extractable(true),
        Attribute::Sensitive(false),
        Attribute::Encrypt(true),
        Attribute::Sign(true),
    ]
}

/// The key works as the original does: same ECB encryption (AES, triple DES) or HMAC.
fn same_behaviour(s: &Session, kt: KeyType, a: ObjectHandle, b: ObjectHandle) {
    let data = [0x5au8; 32];
    let (m, what) = if kt == KeyType::AES {
        (Mechanism::AesEcb, "AES-ECB")
    } else if kt == KeyType::DES3 {
        (Mechanism::Des3Ecb, "DES3-ECB")
    } else {
        (Mechanism::Sha256Hmac, "HMAC")
    };
    let (x, y) = if what == "HMAC" {
        (s.sign(&m, a, &data).unwrap(), s.sign(&m, b, &data).unwrap())
    } else {
        (
            s.encrypt(&m, a, &data).unwrap(),
            s.encrypt(&m, b, &data).unwrap(),
        )
    };
    assert_eq!(x, y, "{what}");
}

/// C_WrapKey with a raw mechanism (KWP has no `cryptoki` variant).
fn raw_wrap(
    env: &Env,
    s: &Session,
    m: &mut CK_MECHANISM,
    wk: ObjectHandle,
    k: ObjectHandle,
) -> Result<Vec<u8>, CK_RV> {
    let f = env.f;
    let mut n: CK_ULONG = 0;
    let rv = unsafe {
        (f.C_WrapKey.unwrap())(
            s.handle(),
            m,
            wk.handle(),
            k.handle(),
            ptr::null_mut(),
            &mut n,
        )
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; n as usize];
    let rv = unsafe {
        (f.C_WrapKey.unwrap())(
            s.handle(),
            m,
            wk.handle(),
            k.handle(),
            out.as_mut_ptr(),
            &mut n,
        )
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(n as usize);
    Ok(out)
}

fn raw_unwrap(
    env: &Env,
    s: &Session,
    m: &mut CK_MECHANISM,
    uk: ObjectHandle,
    blob: &[u8],
    t: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
) -> Result<ObjectHandle, CK_RV> {
    let mut ct = ck_template(t);
    let mut k: CK_OBJECT_HANDLE = 0;
    let rv = unsafe {
        (env.f.C_UnwrapKey.unwrap())(
            s.handle(),
            m,
            uk.handle(),
            blob.as_ptr() as *mut u8,
            blob.len() as CK_ULONG,
            ct.as_mut_ptr(),
            ct.len() as CK_ULONG,
            &mut k,
        )
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    // SAFETY: a handle the module just returned.
    Ok(unsafe { ObjectHandle::new_from_raw(k) })
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn raw_secret_template(kt: CK_KEY_TYPE) -> Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> {
    vec![
        (CKA_CLASS, ul(CKO_SECRET_KEY)),
        (CKA_KEY_TYPE, ul(kt)),
        (CKA_EXTRACTABLE, vec![1]),
        (CKA_SENSITIVE, vec![0]),
        (CKA_ENCRYPT, vec![1]),
        (CKA_SIGN, vec![1]),
    ]
}

#[test]
fn secret_keys_every_mechanism() {
    let env = Env::new();
    let s = env.user();
    let aes_kek = gen_aes(&s, 32, &[]);
    let des_kek = s
        .generate_key(&Mechanism::Des3KeyGen, &[Attribute::Token(false)])
        .unwrap();
    let (rsa_pub, rsa_priv) = rsa_pair(&s, 2048, &[]);
    let targets = [
        (KeyType::AES, secret(&s, KeyType::AES, &[0x11; 32], &[])),
        (
            KeyType::GENERIC_SECRET,
            secret(&s, KeyType::GENERIC_SECRET, &[0x22; 32], &[]),
        ),
        (
            KeyType::DES3,
            s.generate_key(
                &Mechanism::Des3KeyGen,
                &[Attribute::Extractable(true), Attribute::Sensitive(false)],
            )
            .unwrap(),
        ),
    ];
    let mut iv16 = [7u8; 12];
    let oaep = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    );
    let gcm = GcmParams::new(&mut iv16, b"aad", 128.into()).unwrap();
    let mechs: Vec<(Mechanism, ObjectHandle, ObjectHandle)> = vec![
        (Mechanism::AesKeyWrap, aes_kek, aes_kek),
        (Mechanism::AesKeyWrapPad, aes_kek, aes_kek),
        (Mechanism::AesCbcPad([3; 16]), aes_kek, aes_kek),
        (Mechanism::AesGcm(gcm), aes_kek, aes_kek),
        (Mechanism::AesEcb, aes_kek, aes_kek),
        (Mechanism::AesCbc([4; 16]), aes_kek, aes_kek),
        (Mechanism::Des3CbcPad([5; 8]), des_kek, des_kek),
        (Mechanism::Des3Ecb, des_kek, des_kek),
        (Mechanism::Des3Cbc([6; 8]), des_kek, des_kek),
        (Mechanism::RsaPkcs, rsa_pub, rsa_priv),
        (Mechanism::RsaPkcsOaep(oaep), rsa_pub, rsa_priv),
    ];
    let mut done = 0;
    for (m, wk, uk) in &mechs {
        for (kt, k) in &targets {
            let r = s.wrap_key(m, *wk, *k);
            if matches!(m, Mechanism::AesEcb | Mechanism::AesCbc(_)) && *kt == KeyType::DES3 {
                // 24 bytes are not whole AES blocks.
                assert_eq!(rv(r.unwrap_err()), RvError::KeySizeRange, "{m:?}");
                continue;
            }
            let blob = r.unwrap_or_else(|e| panic!("{m:?} {kt:?}: {e:?}"));
            assert_ne!(&blob[..], &value(&s, *k)[..]);
            let u = s
                .unwrap_key(m, *uk, &blob, &unwrap_template(*kt))
                .unwrap_or_else(|e| panic!("unwrap {m:?} {kt:?}: {e:?}"));
            assert_eq!(value(&s, u), value(&s, *k), "{m:?} {kt:?}");
            same_behaviour(&s, *kt, *k, u);
            assert!(!get_bool(&s, u, AttributeType::Local));
            assert!(!get_bool(&s, u, AttributeType::AlwaysSensitive));
            assert!(!get_bool(&s, u, AttributeType::NeverExtractable));
            done += 1;
        }
    }
    // KWP (PKCS#11 3.0's 0x210B) through the raw interface: the same blob as _PAD (0x210A).
    for (kt, k) in &targets {
        let pad = s.wrap_key(&Mechanism::AesKeyWrapPad, aes_kek, *k).unwrap();
        let kwp = raw_wrap(&env, &s, &mut raw_mech(CKM_AES_KEY_WRAP_KWP), aes_kek, *k).unwrap();
        assert_eq!(pad, kwp);
        let u = raw_unwrap(
            &env,
            &s,
            &mut raw_mech(CKM_AES_KEY_WRAP_KWP),
            aes_kek,
            &kwp,
            &raw_secret_template(CK_KEY_TYPE::from(*kt)),
        )
        .unwrap();
        same_behaviour(&s, *kt, *k, u);
        done += 1;
    }
    println!("secret key wrap/unwrap round trips: {done}");
    assert_eq!(done, 11 * 3 - 2 + 3);
}

#[test]
fn private_keys_as_pkcs8() {
    let env = Env::new();
    let s = env.user();
    // A key management key: wraps and unwraps only, generated sensitive: it may carry
    // sensitive keys under the default policy.
    let kmk = gen_aes(
        &s,
        32,
        &[
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Sensitive(true),
        ],
    );
    let (rpub, rpriv) = rsa_pair(&s, 2048, &[Attribute::Extractable(true)]);
    let (epub, epriv) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(OID_P384.to_vec()),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Sign(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
            ],
        )
        .unwrap();
    let mut n = 0;
    for m in [Mechanism::AesKeyWrapPad, Mechanism::AesCbcPad([9; 16])] {
        for (kt, pk, sk, sm) in [
            (KeyType::RSA, rpub, rpriv, Mechanism::Sha256RsaPkcs),
            (KeyType::EC, epub, epriv, Mechanism::EcdsaSha384),
        ] {
            let blob = s.wrap_key(&m, kmk, sk).unwrap();
            let u = s
                .unwrap_key(
                    &m,
                    kmk,
                    &blob,
                    &[
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                        Attribute::KeyType(kt),
                        Attribute::Sign(true),
                    ],
                )
                .unwrap();
            // Unwrapped by a key that may carry sensitive keys: sensitive, whatever was asked.
            assert!(get_bool(&s, u, AttributeType::Sensitive));
            assert!(!get_bool(&s, u, AttributeType::Local));
            assert!(!get_bool(&s, u, AttributeType::AlwaysSensitive));
            let data = b"signed by an unwrapped key";
            let sig = s.sign(&sm, u, data).unwrap();
            s.verify(&sm, pk, data, &sig).unwrap();
            assert_eq!(
                bytes_attr(&s, u, AttributeType::PublicKeyInfo),
                bytes_attr(&s, sk, AttributeType::PublicKeyInfo)
            );
            // A key type that is not the blob's.
            let other = if kt == KeyType::RSA {
                KeyType::EC
            } else {
                KeyType::RSA
            };
            assert_eq!(
                rv(s.unwrap_key(
                    &m,
                    kmk,
                    &blob,
                    &[
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                        Attribute::KeyType(other)
                    ],
                )
                .unwrap_err()),
                RvError::TemplateInconsistent
            );
            n += 1;
        }
    }
    // RSA mechanisms carry secret keys only.
    let (wpub, _) = rsa_pair(&s, 2048, &[]);
    let (_, loose) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(OID_P256.to_vec())],
            &[Attribute::Extractable(true), Attribute::Sensitive(false)],
        )
        .unwrap();
    assert_eq!(
        rv(s.wrap_key(&Mechanism::RsaPkcs, wpub, loose).unwrap_err()),
        RvError::KeyNotWrappable
    );
    println!("private keys wrapped, unwrapped and signing: {n}");
}

#[test]
fn known_answers_through_the_module() {
    let env = Env::new();
    let s = env.user();
    // RFC 3394 4.1.
    let kek = secret(
        &s,
        KeyType::AES,
        &h("000102030405060708090A0B0C0D0E0F"),
        &[],
    );
    let k = secret(
        &s,
        KeyType::GENERIC_SECRET,
        &h("00112233445566778899AABBCCDDEEFF"),
        &[],
    );
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, kek, k).unwrap();
    assert_eq!(
        blob,
        h("1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5")
    );
    // RFC 5649 section 6, 20-byte key.
    let kek = secret(
        &s,
        KeyType::AES,
        &h("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8"),
        &[],
    );
    let k = secret(
        &s,
        KeyType::GENERIC_SECRET,
        &h("c37b7e6492584340 bed1220780894115 5068f738"),
        &[],
    );
    let want = h("138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a");
    assert_eq!(s.wrap_key(&Mechanism::AesKeyWrapPad, kek, k).unwrap(), want);
    let u = s
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            kek,
            &want,
            &unwrap_template(KeyType::GENERIC_SECRET),
        )
        .unwrap();
    assert_eq!(
        value(&s, u),
        h("c37b7e6492584340 bed1220780894115 5068f738")
    );
}

#[test]
fn openssl_agrees_on_aes_key_wrap() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("openssl not found: skipped");
        return;
    }
    let env = Env::new();
    let s = env.user();
    let kek_v: Vec<u8> = (0u8..32).map(|i| i * 7 + 1).collect();
    let kek = secret(&s, KeyType::AES, &kek_v, &[]);
    let k_v: Vec<u8> = (0u8..32).map(|i| i ^ 0xa5).collect();
    let k = secret(&s, KeyType::AES, &k_v, &[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let hexkey: String = kek_v.iter().map(|b| format!("{b:02x}")).collect();
    let openssl = |args: &[&str], data: &[u8]| -> Vec<u8> {
        std::fs::write(&input, data).unwrap();
        let o = std::process::Command::new("openssl")
            .args(args)
            .args(["-K", &hexkey, "-in"])
            .arg(&input)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    for (m, cipher, iv) in [
        (Mechanism::AesKeyWrap, "-id-aes256-wrap", "A6A6A6A6A6A6A6A6"),
        (Mechanism::AesKeyWrapPad, "-id-aes256-wrap-pad", "A65959A6"),
    ] {
        let ours = s.wrap_key(&m, kek, k).unwrap();
        let theirs = openssl(&["enc", cipher, "-iv", iv], &k_v);
        assert_eq!(ours, theirs, "{cipher}");
        let back = openssl(&["enc", "-d", cipher, "-iv", iv], &ours);
        assert_eq!(back, k_v, "{cipher}");
        let u = s
            .unwrap_key(&m, kek, &theirs, &unwrap_template(KeyType::AES))
            .unwrap();
        assert_eq!(value(&s, u), k_v);
    }
}

#[test]
fn length_protocol_and_pointers() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let kek = gen_aes(&s, 16, &[]);
    let k = secret(&s, KeyType::AES, &[1; 32], &[]);
    let sh = s.handle();
    let mut m = raw_mech(CKM_AES_KEY_WRAP);
    let wrap = |m: &mut CK_MECHANISM, p: *mut u8, n: *mut CK_ULONG| unsafe {
        (f.C_WrapKey.unwrap())(sh, m, kek.handle(), k.handle(), p, n)
    };
    let mut n: CK_ULONG = 0;
    assert_eq!(wrap(&mut m, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 40);
    let mut buf = [0u8; 64];
    n = 39;
    assert_eq!(wrap(&mut m, buf.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 40);
    n = 64;
    assert_eq!(wrap(&mut m, buf.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(n, 40);
    assert_eq!(
        &buf[..40],
        &s.wrap_key(&Mechanism::AesKeyWrap, kek, k).unwrap()[..]
    );
    assert_eq!(
        wrap(&mut m, buf.as_mut_ptr(), ptr::null_mut()),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        unsafe {
            (f.C_WrapKey.unwrap())(
                sh,
                ptr::null_mut(),
                kek.handle(),
                k.handle(),
                ptr::null_mut(),
                &mut n,
            )
        },
        CKR_ARGUMENTS_BAD
    );
    // C_UnwrapKey: NULL blob, NULL handle pointer, NULL template with a count.
    let blob = &buf[..40];
    let t = raw_secret_template(CKK_AES);
    let mut ct = ck_template(&t);
    let mut out: CK_OBJECT_HANDLE = 0;
    let unwrap = |p: *mut u8,
                  len: usize,
                  tp: *mut CK_ATTRIBUTE,
                  tn: usize,
                  o: *mut CK_OBJECT_HANDLE| unsafe {
        (f.C_UnwrapKey.unwrap())(
            sh,
            &mut raw_mech(CKM_AES_KEY_WRAP),
            kek.handle(),
            p,
            len as CK_ULONG,
            tp,
            tn as CK_ULONG,
            o,
        )
    };
    let tn = ct.len();
    assert_eq!(
        unwrap(ptr::null_mut(), 40, ct.as_mut_ptr(), tn, &mut out),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        unwrap(ptr::null_mut(), 0, ct.as_mut_ptr(), tn, &mut out),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        unwrap(
            blob.as_ptr() as *mut u8,
            40,
            ct.as_mut_ptr(),
            tn,
            ptr::null_mut()
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        unwrap(blob.as_ptr() as *mut u8, 40, ptr::null_mut(), tn, &mut out),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        unwrap(blob.as_ptr() as *mut u8, 40, ct.as_mut_ptr(), tn, &mut out),
        CKR_OK
    );
    let u = unsafe { ObjectHandle::new_from_raw(out) };
    assert_eq!(value(&s, u), vec![1; 32]);
}

#[test]
fn bad_input_gets_the_spec_codes() {
    let env = Env::new();
    let s = env.user();
    let kek = gen_aes(&s, 32, &[]);
    let k = secret(&s, KeyType::AES, &[3; 32], &[]);
    let t = unwrap_template(KeyType::AES);
    let code = |r: cryptoki::error::Result<ObjectHandle>| rv(r.unwrap_err());
    // Not extractable.
    let stuck = gen_aes(&s, 32, &[Attribute::Extractable(false)]);
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, stuck).unwrap_err()),
        RvError::KeyUnextractable
    );
    // Corrupted and truncated blobs, every mechanism with an integrity check or a length rule.
    let mut iv = [1u8; 12];
    let gcm = GcmParams::new(&mut iv, &[], 128.into()).unwrap();
    for m in [
        Mechanism::AesKeyWrap,
        Mechanism::AesKeyWrapPad,
        Mechanism::AesCbcPad([2; 16]),
        Mechanism::AesGcm(gcm),
    ] {
        let blob = s.wrap_key(&m, kek, k).unwrap();
        let mut bad = blob.clone();
        let i = blob.len() - 17;
        bad[i] ^= 0x01;
        assert_eq!(
            code(s.unwrap_key(&m, kek, &bad, &t)),
            RvError::WrappedKeyInvalid,
            "{m:?} corrupted"
        );
        let short = &blob[..blob.len() - 1];
        let c = code(s.unwrap_key(&m, kek, short, &t));
        assert!(
            matches!(c, RvError::WrappedKeyLenRange | RvError::WrappedKeyInvalid),
            "{m:?} truncated: {c:?}"
        );
        assert_eq!(
            code(s.unwrap_key(&m, kek, &blob[..8], &t)),
            RvError::WrappedKeyLenRange,
            "{m:?} 8 bytes"
        );
    }
    // Key wrap: a blob shortened by a whole 8-byte block still fails its check.
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, kek, k).unwrap();
    assert_eq!(
        code(s.unwrap_key(&Mechanism::AesKeyWrap, kek, &blob[..32], &t)),
        RvError::WrappedKeyInvalid
    );
    // A blob whose value is not a valid key of the template's type.
    assert_eq!(
        code(s.unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &blob,
            &unwrap_template(KeyType::DES3)
        )),
        RvError::WrappedKeyInvalid
    );
    // Template without a class; secret key without a key type.
    assert_eq!(
        code(s.unwrap_key(&Mechanism::AesKeyWrap, kek, &blob, &[])),
        RvError::TemplateIncomplete
    );
    assert_eq!(
        code(s.unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &blob,
            &[Attribute::Class(ObjectClass::SECRET_KEY)]
        )),
        RvError::TemplateIncomplete
    );
    // Handles.
    let bogus = unsafe { ObjectHandle::new_from_raw(0x7777_7777) };
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, bogus, k).unwrap_err()),
        RvError::WrappingKeyHandleInvalid
    );
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, bogus).unwrap_err()),
        RvError::KeyHandleInvalid
    );
    assert_eq!(
        code(s.unwrap_key(&Mechanism::AesKeyWrap, bogus, &blob, &t)),
        RvError::UnwrappingKeyHandleInvalid
    );
    // Key types that do not fit the mechanism.
    let des = s.generate_key(&Mechanism::Des3KeyGen, &[]).unwrap();
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, des, k).unwrap_err()),
        RvError::WrappingKeyTypeInconsistent
    );
    assert_eq!(
        code(s.unwrap_key(&Mechanism::AesKeyWrap, des, &blob, &t)),
        RvError::UnwrappingKeyTypeInconsistent
    );
    let (rpub, rpriv) = rsa_pair(&s, 2048, &[]);
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, rpub, k).unwrap_err()),
        RvError::WrappingKeyTypeInconsistent
    );
    assert_eq!(
        code(s.unwrap_key(&Mechanism::RsaPkcs, kek, &blob, &t)),
        RvError::UnwrappingKeyTypeInconsistent
    );
    // A public key is not wrapped; a mechanism without CKF_WRAP is refused.
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, rpub).unwrap_err()),
        RvError::KeyNotWrappable
    );
    assert_eq!(
        rv(s.wrap_key(&Mechanism::Sha256, kek, k).unwrap_err()),
        RvError::MechanismInvalid
    );
    let _ = rpriv;
    // CKA_WRAP / CKA_UNWRAP false.
    let nowrap = gen_aes(&s, 16, &[Attribute::Wrap(false), Attribute::Unwrap(false)]);
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, nowrap, k).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        code(s.unwrap_key(&Mechanism::AesKeyWrap, nowrap, &blob, &t)),
        RvError::KeyFunctionNotPermitted
    );
    // A key value that is not whole blocks for an unpadded mode, or too short for key wrap.
    let odd = secret(&s, KeyType::GENERIC_SECRET, &[5; 20], &[]);
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesEcb, kek, odd).unwrap_err()),
        RvError::KeySizeRange
    );
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, odd).unwrap_err()),
        RvError::KeySizeRange
    );
    let tiny = secret(&s, KeyType::GENERIC_SECRET, &[5; 8], &[]);
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, tiny).unwrap_err()),
        RvError::KeySizeRange
    );
    // A read-only session cannot unwrap a token key.
    let ro = env.p().open_ro_session(env.slot).unwrap();
    let mut tt = t.clone();
    tt.push(Attribute::Token(true));
    assert_eq!(
        code(ro.unwrap_key(&Mechanism::AesKeyWrap, kek, &blob, &tt)),
        RvError::SessionReadOnly
    );
}

/// CK_ATTRIBUTE array helpers for template attributes.
fn attr(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v.as_ptr() as *mut _,
        ulValueLen: v.len() as CK_ULONG,
    }
}

#[test]
fn wrap_and_unwrap_templates() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let sh = s.handle();
    // A KEK that wraps only AES keys and gives what it unwraps CKA_SIGN false.
    let aes = ul(CKK_AES);
    let f0 = [0u8];
    let mut wrap_t = [attr(CKA_KEY_TYPE, &aes)];
    let mut unwrap_t = [attr(CKA_SIGN, &f0), attr(CKA_KEY_TYPE, &aes)];
    let class = ul(CKO_SECRET_KEY);
    let len = ul(32);
    let t1 = [1u8];
    let mut t = [
        attr(CKA_CLASS, &class),
        attr(CKA_VALUE_LEN, &len),
        attr(CKA_WRAP, &t1),
        attr(CKA_UNWRAP, &t1),
        CK_ATTRIBUTE {
            type_: CKA_WRAP_TEMPLATE,
            pValue: wrap_t.as_mut_ptr() as *mut _,
            ulValueLen: std::mem::size_of_val(&wrap_t) as CK_ULONG,
        },
        CK_ATTRIBUTE {
            type_: CKA_UNWRAP_TEMPLATE,
            pValue: unwrap_t.as_mut_ptr() as *mut _,
            ulValueLen: std::mem::size_of_val(&unwrap_t) as CK_ULONG,
        },
    ];
    let mut kek: CK_OBJECT_HANDLE = 0;
    let rv0 = unsafe {
        (f.C_GenerateKey.unwrap())(
            sh,
            &mut raw_mech(CKM_AES_KEY_GEN),
            t.as_mut_ptr(),
            t.len() as CK_ULONG,
            &mut kek,
        )
    };
    assert_eq!(rv0, CKR_OK);
    let kek = unsafe { ObjectHandle::new_from_raw(kek) };

    // C_GetAttributeValue of the template: its size, then types and lengths, then values.
    let get = |ty: CK_ATTRIBUTE_TYPE, arr: &mut [CK_ATTRIBUTE], null: bool| -> (CK_RV, CK_ULONG) {
        let mut a = CK_ATTRIBUTE {
            type_: ty,
            pValue: if null {
                ptr::null_mut()
            } else {
                arr.as_mut_ptr() as *mut _
            },
            ulValueLen: std::mem::size_of_val(arr) as CK_ULONG,
        };
        let r = unsafe { (f.C_GetAttributeValue.unwrap())(sh, kek.handle(), &mut a, 1) };
        (r, a.ulValueLen)
    };
    let sz = std::mem::size_of::<CK_ATTRIBUTE>() as CK_ULONG;
    assert_eq!(get(CKA_UNWRAP_TEMPLATE, &mut [], true), (CKR_OK, 2 * sz));
    let mut arr = [
        CK_ATTRIBUTE {
            type_: 0,
            pValue: ptr::null_mut(),
            ulValueLen: 0,
        },
        CK_ATTRIBUTE {
            type_: 0,
            pValue: ptr::null_mut(),
            ulValueLen: 0,
        },
    ];
    assert_eq!(
        get(CKA_UNWRAP_TEMPLATE, &mut arr[..1], false),
        (CKR_BUFFER_TOO_SMALL, CK_UNAVAILABLE_INFORMATION)
    );
    assert_eq!(get(CKA_UNWRAP_TEMPLATE, &mut arr, false), (CKR_OK, 2 * sz));
    // Sorted by type: CKA_KEY_TYPE (0x100) before CKA_SIGN (0x108).
    assert_eq!((arr[0].type_, arr[0].ulValueLen), (CKA_KEY_TYPE, 8));
    assert_eq!((arr[1].type_, arr[1].ulValueLen), (CKA_SIGN, 1));
    let mut kt_buf = [0u8; 8];
    let mut sign_buf = [9u8; 1];
    arr[0].pValue = kt_buf.as_mut_ptr() as *mut _;
    arr[1].pValue = sign_buf.as_mut_ptr() as *mut _;
    assert_eq!(get(CKA_UNWRAP_TEMPLATE, &mut arr, false), (CKR_OK, 2 * sz));
    assert_eq!(CK_ULONG::from_ne_bytes(kt_buf), CKK_AES);
    assert_eq!(sign_buf, [0]);
    let mut one = [CK_ATTRIBUTE {
        type_: 0,
        pValue: ptr::null_mut(),
        ulValueLen: 0,
    }];
    assert_eq!(get(CKA_WRAP_TEMPLATE, &mut one, false), (CKR_OK, sz));
    assert_eq!(one[0].type_, CKA_KEY_TYPE);

    // CKA_WRAP_TEMPLATE: only AES keys leave under this KEK.
    let hmac = secret(&s, KeyType::GENERIC_SECRET, &[1; 32], &[]);
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, hmac).unwrap_err()),
        RvError::KeyNotWrappable
    );
    let k = secret(&s, KeyType::AES, &[2; 32], &[]);
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, kek, k).unwrap();
    // CKA_UNWRAP_TEMPLATE: applied; a contradiction is refused.
    let mut t = unwrap_template(KeyType::AES);
    t.retain(|a| a.attribute_type() != AttributeType::Sign);
    let u = s
        .unwrap_key(&Mechanism::AesKeyWrap, kek, &blob, &t)
        .unwrap();
    assert!(!get_bool(&s, u, AttributeType::Sign));
    assert_eq!(
        rv(s.unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &blob,
            &unwrap_template(KeyType::AES)
        )
        .unwrap_err()),
        RvError::TemplateInconsistent
    );
    // A template attribute nested in a template is refused; so is a badly sized array.
    let mut nested = [CK_ATTRIBUTE {
        type_: CKA_WRAP_TEMPLATE,
        pValue: ptr::null_mut(),
        ulValueLen: 0,
    }];
    let mut t2 = [
        attr(CKA_CLASS, &class),
        attr(CKA_VALUE_LEN, &len),
        CK_ATTRIBUTE {
            type_: CKA_WRAP_TEMPLATE,
            pValue: nested.as_mut_ptr() as *mut _,
            ulValueLen: sz,
        },
    ];
    let mut o: CK_OBJECT_HANDLE = 0;
    let r = unsafe {
        (f.C_GenerateKey.unwrap())(
            sh,
            &mut raw_mech(CKM_AES_KEY_GEN),
            t2.as_mut_ptr(),
            3,
            &mut o,
        )
    };
    assert_eq!(r, CKR_ATTRIBUTE_VALUE_INVALID);
    t2[2].ulValueLen = sz - 1;
    let r = unsafe {
        (f.C_GenerateKey.unwrap())(
            sh,
            &mut raw_mech(CKM_AES_KEY_GEN),
            t2.as_mut_ptr(),
            3,
            &mut o,
        )
    };
    assert_eq!(r, CKR_ATTRIBUTE_VALUE_INVALID);
}

#[test]
fn trusted_keys_and_wrap_with_trusted() {
    let env = Env::new();
    // Only the SO makes a trusted key; a public one, so the user can use it.
    {
        let s = env.user();
        assert_eq!(
            rv(s.generate_key(
                &Mechanism::AesKeyGen,
                &[Attribute::ValueLen(32.into()), Attribute::Trusted(true)]
            )
            .unwrap_err()),
            RvError::AttributeReadOnly
        );
        assert_eq!(
            rv(s.create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Value(vec![1; 16]),
                Attribute::Trusted(true),
            ])
            .unwrap_err()),
            RvError::AttributeReadOnly
        );
        let k = gen_aes(&s, 16, &[Attribute::Token(true), Attribute::Private(false)]);
        assert_eq!(
            rv(s.update_attributes(k, &[Attribute::Trusted(true)])
                .unwrap_err()),
            RvError::AttributeReadOnly
        );
        s.logout().unwrap();
    }
    {
        let so = env.p().open_rw_session(env.slot).unwrap();
        so.login(UserType::So, Some(&AuthPin::new(SO_PIN.into())))
            .unwrap();
        so.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Trusted(true),
                Attribute::Label(b"trusted kek".to_vec()),
            ],
        )
        .unwrap();
        so.logout().unwrap();
    }
    let s = env.user();
    let trusted = s
        .find_objects(&[Attribute::Label(b"trusted kek".to_vec())])
        .unwrap()[0];
    let untrusted = gen_aes(&s, 32, &[]);
    let picky = secret(
        &s,
        KeyType::AES,
        &[4; 32],
        &[Attribute::WrapWithTrusted(true)],
    );
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, untrusted, picky)
            .unwrap_err()),
        RvError::KeyNotWrappable
    );
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, trusted, picky).unwrap();
    let u = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            trusted,
            &blob,
            &unwrap_template(KeyType::AES),
        )
        .unwrap();
    assert_eq!(value(&s, u), vec![4; 32]);
    // CKA_WRAP_WITH_TRUSTED cannot be turned off.
    assert_eq!(
        rv(
            s.update_attributes(picky, &[Attribute::WrapWithTrusted(false)])
                .unwrap_err()
        ),
        RvError::AttributeReadOnly
    );
}

#[test]
fn openssl_reads_and_writes_the_pkcs8_blobs() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("openssl not found: skipped");
        return;
    }
    let env = Env::new();
    let s = env.user();
    let kek_v = vec![0x3cu8; 32];
    let kek = secret(&s, KeyType::AES, &kek_v, &[]);
    let hexkey: String = kek_v.iter().map(|b| format!("{b:02x}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], input: &[u8]| -> Vec<u8> {
        let p = dir.path().join("in.bin");
        std::fs::write(&p, input).unwrap();
        let o = std::process::Command::new("openssl")
            .args(args)
            .arg("-in")
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    let kwp = [
        "enc",
        "-id-aes256-wrap-pad",
        "-iv",
        "A65959A6",
        "-K",
        &hexkey,
    ];
    let kwp_d = [
        "enc",
        "-d",
        "-id-aes256-wrap-pad",
        "-iv",
        "A65959A6",
        "-K",
        &hexkey,
    ];
    let spki_of = |der: &[u8]| {
        run(
            &["pkey", "-inform", "DER", "-pubout", "-outform", "DER"],
            der,
        )
    };
    // ferrohsm's blobs open in OpenSSL as PKCS#8 keys with the right public key.
    let (_, rsa) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(2048.into())],
            &[Attribute::Extractable(true), Attribute::Sensitive(false)],
        )
        .unwrap();
    let (_, ec) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(OID_P521.to_vec())],
            &[Attribute::Extractable(true), Attribute::Sensitive(false)],
        )
        .unwrap();
    for k in [rsa, ec] {
        let blob = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, k).unwrap();
        let der = run(&kwp_d, &blob);
        assert_eq!(
            spki_of(&der),
            bytes_attr(&s, k, AttributeType::PublicKeyInfo)
        );
    }
    // OpenSSL's PKCS#8 keys, wrapped by OpenSSL, unwrap into working keys.
    for (alg, opt, kt, m) in [
        (
            "EC",
            "ec_paramgen_curve:P-256",
            KeyType::EC,
            Mechanism::EcdsaSha256,
        ),
        (
            "RSA",
            "rsa_keygen_bits:2048",
            KeyType::RSA,
            Mechanism::Sha256RsaPkcs,
        ),
    ] {
        let o = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                alg,
                "-pkeyopt",
                opt,
                "-outform",
                "DER",
            ])
            .output()
            .unwrap();
        assert!(o.status.success());
        // genpkey writes the traditional form (SEC 1, PKCS#1) in DER: make it PKCS#8.
        let der = run(
            &[
                "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-outform", "DER",
            ],
            &o.stdout,
        );
        let blob = run(&kwp, &der);
        let u = s
            .unwrap_key(
                &Mechanism::AesKeyWrapPad,
                kek,
                &blob,
                &[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::KeyType(kt),
                    Attribute::Sign(true),
                ],
            )
            .unwrap();
        let spki = spki_of(&der);
        assert_eq!(bytes_attr(&s, u, AttributeType::PublicKeyInfo), spki);
        // The unwrapped key signs.
        let sig = s.sign(&m, u, b"openssl interop").unwrap();
        assert!(!sig.is_empty());
    }
}
