//! Cryptographic operations through the built module: every mechanism's round trip, the error
//! codes of the spec, key generation attributes, imports.

mod crypto_common;

use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::*;

fn pss(h: MechanismType, mgf: PkcsMgfType, s: u64) -> PkcsPssParams {
    PkcsPssParams {
        hash_alg: h,
        mgf,
        s_len: s.into(),
    }
}

fn round_trip(
    s: &Session,
    m: &Mechanism,
    sk: ObjectHandle,
    pk: ObjectHandle,
    data: &[u8],
) -> Vec<u8> {
    let sig = s.sign(m, sk, data).unwrap();
    s.verify(m, pk, data, &sig).unwrap();
    let mut bad = data.to_vec();
    bad[0] ^= 1;
    assert_eq!(
        rv(s.verify(m, pk, &bad, &sig).unwrap_err()),
        RvError::SignatureInvalid,
        "{m:?}"
    );
    let mut bad_sig = sig.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 1;
    assert_eq!(
        rv(s.verify(m, pk, data, &bad_sig).unwrap_err()),
        RvError::SignatureInvalid,
        "{m:?}"
    );
    assert_eq!(
        rv(s.verify(m, pk, data, &sig[..sig.len() - 1]).unwrap_err()),
        RvError::SignatureLenRange,
        "{m:?}"
    );
    // Multi-part gives the same verdict.
    s.verify_init(m, pk).unwrap();
    s.verify_update(&data[..1]).unwrap();
    s.verify_update(&data[1..]).unwrap();
    s.verify_final(&sig).unwrap();
    sig
}

#[test]
fn mechanism_list_and_info() {
    let env = Env::new();
    let p = env.p();
    let l = p.get_mechanism_list(env.slot).unwrap();
    assert!(l.len() >= 30, "{}", l.len());
    for t in [
        MechanismType::RSA_PKCS_KEY_PAIR_GEN,
        MechanismType::RSA_PKCS_PSS,
        MechanismType::RSA_PKCS_OAEP,
        MechanismType::ECDSA,
        MechanismType::SHA256_HMAC,
        MechanismType::SHA256,
        MechanismType::ECC_KEY_PAIR_GEN,
    ] {
        assert!(l.contains(&t), "{t}");
    }
    let i = p
        .get_mechanism_info(env.slot, MechanismType::RSA_PKCS)
        .unwrap();
    assert!(i.sign() && i.verify() && i.encrypt() && i.decrypt() && !i.digest());
    assert_eq!((i.min_key_size(), i.max_key_size()), (1024, 8192));
    let i = p
        .get_mechanism_info(env.slot, MechanismType::ECDSA)
        .unwrap();
    assert_eq!((i.min_key_size(), i.max_key_size()), (224, 521));
    assert!(i.ec_f_p() && i.ec_from_oid() && i.ec_uncompressed());
    let i = p
        .get_mechanism_info(env.slot, MechanismType::ECC_KEY_PAIR_GEN)
        .unwrap();
    assert!(i.generate_key_pair());
    let i = p
        .get_mechanism_info(env.slot, MechanismType::SHA256)
        .unwrap();
    assert!(i.digest());
    let mut info = CK_MECHANISM_INFO::default();
    let slot_id = env.slot.id();
    unsafe {
        assert_eq!(
            (env.f.C_GetMechanismInfo.unwrap())(slot_id, CKM_MD5, &mut info),
            CKR_MECHANISM_INVALID
        );
        assert_eq!(
            (env.f.C_GetMechanismInfo.unwrap())(slot_id, CKM_SHA256_HMAC_GENERAL, &mut info),
            CKR_OK
        );
    }
    assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (1, 512));
    assert_eq!(info.flags, CKF_SIGN | CKF_VERIFY);
}

#[test]
fn rsa_keygen_attributes_and_every_signature_mechanism() {
    let env = Env::new();
    let s = env.user();
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    let a = s
        .get_attributes(
            sk,
            &[
                AttributeType::Local,
                AttributeType::KeyGenMechanism,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Sensitive,
            ],
        )
        .unwrap();
    assert_eq!(
        a,
        vec![
            Attribute::Local(true),
            Attribute::KeyGenMechanism(MechanismType::RSA_PKCS_KEY_PAIR_GEN),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Sensitive(true),
        ]
    );
    // The private exponent is sensitive; the modulus is not, and both keys share it.
    assert!(
        s.get_attributes(sk, &[AttributeType::PrivateExponent])
            .unwrap()
            .is_empty()
            || s.get_attributes(sk, &[AttributeType::PrivateExponent])
                .is_err()
    );
    let n = bytes_attr(&s, pk, AttributeType::Modulus);
    assert_eq!(n.len(), 256);
    assert_eq!(bytes_attr(&s, sk, AttributeType::Modulus), n);
    assert_eq!(
        bytes_attr(&s, pk, AttributeType::PublicExponent),
        vec![1, 0, 1]
    );
    let spki = bytes_attr(&s, pk, AttributeType::PublicKeyInfo);
    assert_eq!(spki, bytes_attr(&s, sk, AttributeType::PublicKeyInfo));
    assert_eq!(spki[0], 0x30);
    assert!(matches!(
        s.get_attributes(pk, &[AttributeType::ModulusBits]).unwrap()[0],
        Attribute::ModulusBits(b) if u64::from(b) == 2048
    ));

    let data = b"the quick brown fox".to_vec();
    for m in [
        Mechanism::Sha1RsaPkcs,
        Mechanism::Sha224RsaPkcs,
        Mechanism::Sha256RsaPkcs,
        Mechanism::Sha384RsaPkcs,
        Mechanism::Sha512RsaPkcs,
        Mechanism::Sha1RsaPkcsPss(pss(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, 20)),
        Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32)),
        Mechanism::Sha384RsaPkcsPss(pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 0)),
        Mechanism::Sha512RsaPkcsPss(pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64)),
    ] {
        let sig = round_trip(&s, &m, sk, pk, &data);
        assert_eq!(sig.len(), 256);
    }
    // PKCS#1 v1.5 is deterministic: single and multi-part agree.
    let m = Mechanism::Sha256RsaPkcs;
    let one = s.sign(&m, sk, &data).unwrap();
    s.sign_init(&m, sk).unwrap();
    s.sign_update(&data[..5]).unwrap();
    s.sign_update(&data[5..]).unwrap();
    assert_eq!(s.sign_final().unwrap(), one);
    // Raw mechanisms: CKM_RSA_PKCS on a DigestInfo, PSS on a digest, X.509.
    let digest = s.digest(&Mechanism::Sha256, &data).unwrap();
    let mut di = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    di.extend_from_slice(&digest);
    let raw = round_trip(&s, &Mechanism::RsaPkcs, sk, pk, &di);
    assert_eq!(
        raw, one,
        "CKM_RSA_PKCS over the DigestInfo equals CKM_SHA256_RSA_PKCS"
    );
    let m = Mechanism::RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32));
    round_trip(&s, &m, sk, pk, &digest);
    assert_eq!(
        rv(s.sign(&m, sk, &digest[1..]).unwrap_err()),
        RvError::DataLenRange
    );
    round_trip(&s, &Mechanism::RsaX509, sk, pk, b"\x01raw block");
    assert_eq!(
        rv(s.sign(&Mechanism::RsaPkcs, sk, &[7u8; 250]).unwrap_err()),
        RvError::DataLenRange
    );
}

#[test]
fn ecdsa_every_curve_and_hash() {
    let env = Env::new();
    let s = env.user();
    let mut printable = vec![0x13, 10];
    printable.extend_from_slice(b"prime256v1");
    for (params, fl) in [
        (OID_P256, 32),
        (OID_P384, 48),
        (OID_P521, 66),
        (&printable[..], 32),
    ] {
        let (pk, sk) = ec_pair(&s, params);
        let point = bytes_attr(&s, pk, AttributeType::EcPoint);
        // DER OCTET STRING of the uncompressed point.
        let raw_len = 2 * fl + 1;
        assert_eq!(point[point.len() - raw_len], 0x04);
        assert_eq!(point[0], 0x04);
        assert_eq!(bytes_attr(&s, sk, AttributeType::EcParams), params);
        let spki = bytes_attr(&s, sk, AttributeType::PublicKeyInfo);
        assert_eq!(spki, bytes_attr(&s, pk, AttributeType::PublicKeyInfo));
        for m in [
            Mechanism::EcdsaSha1,
            Mechanism::EcdsaSha224,
            Mechanism::EcdsaSha256,
            Mechanism::EcdsaSha384,
            Mechanism::EcdsaSha512,
        ] {
            let sig = round_trip(&s, &m, sk, pk, b"message to sign");
            assert_eq!(sig.len(), 2 * fl);
        }
        for len in [20usize, 32, 48, 64] {
            round_trip(&s, &Mechanism::Ecdsa, sk, pk, &vec![0x42; len]);
        }
        // An RSA mechanism with an EC key.
        assert_eq!(
            rv(s.sign_init(&Mechanism::Sha256RsaPkcs, sk).unwrap_err()),
            RvError::KeyTypeInconsistent
        );
    }
    // Unsupported and malformed curves (brainpoolP512r1: a known OID the module does not offer;
    // the other curves are tests/crypto_curves.rs's).
    let bp512 = [
        0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d,
    ];
    let r = s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(bp512.to_vec())],
        &[Attribute::Sign(true)],
    );
    assert_eq!(rv(r.unwrap_err()), RvError::CurveNotSupported);
    let r = s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(vec![0x30, 0x00])],
        &[Attribute::Sign(true)],
    );
    assert_eq!(rv(r.unwrap_err()), RvError::DomainParamsInvalid);
}

#[test]
fn hmac_keys_and_macs() {
    let env = Env::new();
    let s = env.user();
    let k = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ],
        )
        .unwrap();
    let a = s
        .get_attributes(
            k,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Local,
                AttributeType::KeyGenMechanism,
                AttributeType::NeverExtractable,
            ],
        )
        .unwrap();
    assert_eq!(a[0], Attribute::KeyType(KeyType::GENERIC_SECRET));
    assert!(matches!(a[1], Attribute::ValueLen(n) if u64::from(n) == 32));
    assert_eq!(a[2], Attribute::Local(true));
    assert_eq!(
        a[3],
        Attribute::KeyGenMechanism(MechanismType::GENERIC_SECRET_KEY_GEN)
    );
    assert_eq!(a[4], Attribute::NeverExtractable(true));
    for m in [
        Mechanism::Sha1Hmac,
        Mechanism::Sha224Hmac,
        Mechanism::Sha256Hmac,
        Mechanism::Sha384Hmac,
        Mechanism::Sha512Hmac,
    ] {
        round_trip(&s, &m, k, k, b"mac me");
    }
    // The 3.0 key generation mechanisms make typed HMAC keys of the hash's length by default.
    let k2 = s
        .generate_key(
            &Mechanism::Sha256KeyGen,
            &[Attribute::Sign(true), Attribute::Verify(true)],
        )
        .unwrap();
    let a = s
        .get_attributes(k2, &[AttributeType::KeyType, AttributeType::ValueLen])
        .unwrap();
    assert_eq!(a[0], Attribute::KeyType(KeyType::SHA256_HMAC));
    assert!(matches!(a[1], Attribute::ValueLen(n) if u64::from(n) == 32));
    round_trip(&s, &Mechanism::Sha256Hmac, k2, k2, b"typed");
    assert_eq!(
        rv(s.sign_init(&Mechanism::Sha1Hmac, k2).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    // An imported key gives the RFC 4231 answer.
    let imported = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(b"Jefe".to_vec()),
            Attribute::Sign(true),
        ])
        .unwrap();
    let mac = s
        .sign(
            &Mechanism::Sha256Hmac,
            imported,
            b"what do ya want for nothing?",
        )
        .unwrap();
    assert_eq!(
        hex(&mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // *_HMAC_GENERAL through the raw interface (cryptoki has no variant for it).
    let f = env.f;
    let h = s.handle();
    let mut len: CK_MAC_GENERAL_PARAMS = 10;
    let mut m = raw_mech_param(CKM_SHA256_HMAC_GENERAL, &mut len);
    unsafe {
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, imported.handle()),
            CKR_OK
        );
        let data = b"what do ya want for nothing?";
        let mut out = [0u8; 64];
        let mut n: CK_ULONG = 64;
        assert_eq!(
            (f.C_Sign.unwrap())(
                h,
                data.as_ptr() as *mut _,
                data.len() as _,
                out.as_mut_ptr(),
                &mut n
            ),
            CKR_OK
        );
        assert_eq!(n, 10);
        assert_eq!(out[..10], mac[..10]);
        let mut bad: CK_MAC_GENERAL_PARAMS = 33;
        let mut m = raw_mech_param(CKM_SHA256_HMAC_GENERAL, &mut bad);
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, imported.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut m = raw_mech(CKM_SHA256_HMAC_GENERAL);
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, imported.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn digests_single_multi_and_key() {
    let env = Env::new();
    let s = env.user();
    for (m, want) in [
        (Mechanism::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (Mechanism::Sha224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
        (Mechanism::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (Mechanism::Sha384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        (Mechanism::Sha512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    ] {
        assert_eq!(hex(&s.digest(&m, b"abc").unwrap()), want);
        s.digest_init(&m).unwrap();
        s.digest_update(b"a").unwrap();
        s.digest_update(b"bc").unwrap();
        assert_eq!(hex(&s.digest_final().unwrap()), want);
    }
    // C_DigestKey: the value of a secret key.
    let k = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(b"bc".to_vec()),
        ])
        .unwrap();
    let f = env.f;
    let h = s.handle();
    unsafe {
        let mut m = raw_mech(CKM_SHA256);
        assert_eq!((f.C_DigestInit.unwrap())(h, &mut m), CKR_OK);
        assert_eq!((f.C_DigestInit.unwrap())(h, &mut m), CKR_OPERATION_ACTIVE);
        assert_eq!(
            (f.C_DigestUpdate.unwrap())(h, b"a".as_ptr() as *mut _, 1),
            CKR_OK
        );
        assert_eq!((f.C_DigestKey.unwrap())(h, k.handle()), CKR_OK);
        let mut out = [0u8; 32];
        let mut n: CK_ULONG = 32;
        assert_eq!(
            (f.C_DigestFinal.unwrap())(h, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(
            hex(&out),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // A public key is not digestible.
        let (pk, _) = ec_pair(&s, OID_P256);
        assert_eq!((f.C_DigestInit.unwrap())(h, &mut m), CKR_OK);
        assert_eq!(
            (f.C_DigestKey.unwrap())(h, pk.handle()),
            CKR_KEY_INDIGESTIBLE
        );
        let mut bad = raw_mech(CKM_MD5);
        assert_eq!(
            (f.C_DigestInit.unwrap())(h, &mut bad),
            CKR_MECHANISM_INVALID
        );
    }
}

#[test]
fn rsa_encryption() {
    let env = Env::new();
    let s = env.user();
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    let label = b"label";
    let oaep1 = PkcsOaepParams::new(
        MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    );
    let oaep256 = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::data_specified(label),
    );
    let oaep512 = PkcsOaepParams::new(
        MechanismType::SHA512,
        PkcsMgfType::MGF1_SHA512,
        PkcsOaepSource::empty(),
    );
    for m in [
        Mechanism::RsaPkcs,
        Mechanism::RsaPkcsOaep(oaep1),
        Mechanism::RsaPkcsOaep(oaep256),
        Mechanism::RsaPkcsOaep(oaep512),
    ] {
        let c = s.encrypt(&m, pk, b"secret message").unwrap();
        assert_eq!(c.len(), 256);
        assert_eq!(s.decrypt(&m, sk, &c).unwrap(), b"secret message");
        assert_eq!(
            rv(s.decrypt(&m, sk, &c[1..]).unwrap_err()),
            RvError::EncryptedDataLenRange
        );
    }
    // OAEP: a wrong label is detected.
    let other = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::data_specified(b"other"),
    );
    let c = s
        .encrypt(&Mechanism::RsaPkcsOaep(oaep256), pk, b"x")
        .unwrap();
    assert_eq!(
        rv(s.decrypt(&Mechanism::RsaPkcsOaep(other), sk, &c)
            .unwrap_err()),
        RvError::EncryptedDataInvalid
    );
    // PKCS#1 v1.5: implicit rejection, a tampered ciphertext decrypts to something else.
    let mut c = s
        .encrypt(&Mechanism::RsaPkcs, pk, b"secret message")
        .unwrap();
    c[100] ^= 1;
    if let Ok(p) = s.decrypt(&Mechanism::RsaPkcs, sk, &c) {
        assert_ne!(p, b"secret message");
    }
    // X.509 raw.
    let c = s.encrypt(&Mechanism::RsaX509, pk, b"raw").unwrap();
    let p = s.decrypt(&Mechanism::RsaX509, sk, &c).unwrap();
    assert_eq!(&p[253..], b"raw");
    // Mismatched MGF.
    let bad = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    );
    assert_eq!(
        rv(s.encrypt(&Mechanism::RsaPkcsOaep(bad), pk, b"x")
            .unwrap_err()),
        RvError::MechanismParamInvalid
    );
    assert_eq!(
        rv(s.encrypt(&Mechanism::RsaPkcs, pk, &[1u8; 246]).unwrap_err()),
        RvError::DataLenRange
    );
}

#[test]
fn length_protocol_and_operation_state() {
    let env = Env::new();
    let s = env.user();
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    let f = env.f;
    let h = s.handle();
    let data = b"data";
    unsafe {
        let mut m = raw_mech(CKM_SHA256_RSA_PKCS);
        let sign = |out: *mut u8, n: &mut CK_ULONG| {
            (f.C_Sign.unwrap())(h, data.as_ptr() as *mut _, data.len() as _, out, n)
        };
        let mut n: CK_ULONG = 0;
        assert_eq!(
            sign(std::ptr::null_mut(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!((f.C_SignInit.unwrap())(h, &mut m, sk.handle()), CKR_OK);
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, sk.handle()),
            CKR_OPERATION_ACTIVE
        );
        // NULL output: the length, and the operation goes on.
        assert_eq!(sign(std::ptr::null_mut(), &mut n), CKR_OK);
        assert_eq!(n, 256);
        // Too short: BUFFER_TOO_SMALL with the length, and the operation goes on.
        let mut buf = vec![0u8; 300];
        n = 100;
        assert_eq!(sign(buf.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
        assert_eq!(n, 256);
        n = 300;
        assert_eq!(sign(buf.as_mut_ptr(), &mut n), CKR_OK);
        assert_eq!(n, 256);
        // Success ended it.
        assert_eq!(
            sign(buf.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
        s.verify(&Mechanism::Sha256RsaPkcs, pk, data, &buf[..256])
            .unwrap();
        // An error ends it too.
        assert_eq!((f.C_VerifyInit.unwrap())(h, &mut m, pk.handle()), CKR_OK);
        assert_eq!(
            (f.C_Verify.unwrap())(h, data.as_ptr() as *mut _, 4, buf.as_mut_ptr(), 10),
            CKR_SIGNATURE_LEN_RANGE
        );
        assert_eq!(
            (f.C_Verify.unwrap())(h, data.as_ptr() as *mut _, 4, buf.as_mut_ptr(), 256),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // Sign and verify are separate operations of one session.
        assert_eq!((f.C_SignInit.unwrap())(h, &mut m, sk.handle()), CKR_OK);
        assert_eq!((f.C_VerifyInit.unwrap())(h, &mut m, pk.handle()), CKR_OK);
        assert_eq!(
            (f.C_SignUpdate.unwrap())(h, data.as_ptr() as *mut _, 4),
            CKR_OK
        );
        n = 0;
        assert_eq!(
            (f.C_SignFinal.unwrap())(h, std::ptr::null_mut(), &mut n),
            CKR_OK
        );
        assert_eq!(n, 256);
        n = 256;
        assert_eq!(
            (f.C_SignFinal.unwrap())(h, buf.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(
            (f.C_VerifyUpdate.unwrap())(h, data.as_ptr() as *mut _, 4),
            CKR_OK
        );
        assert_eq!((f.C_VerifyFinal.unwrap())(h, buf.as_mut_ptr(), 256), CKR_OK);
        // Decryption into a short buffer keeps the operation.
        let c = s.encrypt(&Mechanism::RsaPkcs, pk, b"twelve bytes").unwrap();
        let mut dm = raw_mech(CKM_RSA_PKCS);
        assert_eq!((f.C_DecryptInit.unwrap())(h, &mut dm, sk.handle()), CKR_OK);
        n = 0;
        assert_eq!(
            (f.C_Decrypt.unwrap())(h, c.as_ptr() as *mut _, 256, std::ptr::null_mut(), &mut n),
            CKR_OK
        );
        assert_eq!(n, 256);
        n = 4;
        assert_eq!(
            (f.C_Decrypt.unwrap())(h, c.as_ptr() as *mut _, 256, buf.as_mut_ptr(), &mut n),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 12);
        assert_eq!(
            (f.C_Decrypt.unwrap())(h, c.as_ptr() as *mut _, 256, buf.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(&buf[..12], b"twelve bytes");
    }
}

#[test]
fn key_checks() {
    let env = Env::new();
    let s = env.user();
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    let f = env.f;
    let h = s.handle();
    // No CKA_SIGN.
    let (_, nosign) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(OID_P256.to_vec())],
            &[Attribute::Sign(false)],
        )
        .unwrap();
    assert_eq!(
        rv(s.sign_init(&Mechanism::Ecdsa, nosign).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    // A public key cannot sign, a private key cannot verify.
    assert_eq!(
        rv(s.sign_init(&Mechanism::Sha256RsaPkcs, pk).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(s.verify_init(&Mechanism::Sha256RsaPkcs, sk).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    // Unknown or non-signing mechanisms.
    assert_eq!(
        rv(s.sign_init(&Mechanism::Sha256, sk).unwrap_err()),
        RvError::MechanismInvalid
    );
    unsafe {
        let mut m = raw_mech(CKM_MD5_RSA_PKCS);
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, sk.handle()),
            CKR_MECHANISM_INVALID
        );
        let mut m = raw_mech(CKM_SHA256_RSA_PKCS);
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, 0xdead_beef),
            CKR_KEY_HANDLE_INVALID
        );
        // PSS parameters: wrong size, mismatched MGF, hash not the mechanism's, salt too long.
        let mut p = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            sLen: 32,
        };
        let mut m = raw_mech_param(CKM_SHA256_RSA_PKCS_PSS, &mut p);
        m.ulParameterLen -= 1;
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, sk.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
        for bad in [
            CK_RSA_PKCS_PSS_PARAMS {
                hashAlg: CKM_SHA256,
                mgf: CKG_MGF1_SHA1,
                sLen: 32,
            },
            CK_RSA_PKCS_PSS_PARAMS {
                hashAlg: CKM_SHA_1,
                mgf: CKG_MGF1_SHA1,
                sLen: 20,
            },
            CK_RSA_PKCS_PSS_PARAMS {
                hashAlg: CKM_SHA256,
                mgf: CKG_MGF1_SHA256,
                sLen: 300,
            },
        ] {
            let mut p = bad;
            let mut m = raw_mech_param(CKM_SHA256_RSA_PKCS_PSS, &mut p);
            assert_eq!(
                (f.C_SignInit.unwrap())(h, &mut m, sk.handle()),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let mut m = raw_mech(CKM_RSA_PKCS_PSS);
        assert_eq!(
            (f.C_SignInit.unwrap())(h, &mut m, sk.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
        // SHA224 PSS (not in cryptoki) works with good parameters.
        let mut p = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: CKM_SHA224,
            mgf: CKG_MGF1_SHA224,
            sLen: 28,
        };
        let mut m = raw_mech_param(CKM_SHA224_RSA_PKCS_PSS, &mut p);
        assert_eq!((f.C_SignInit.unwrap())(h, &mut m, sk.handle()), CKR_OK);
        let mut out = [0u8; 256];
        let mut n: CK_ULONG = 256;
        assert_eq!(
            (f.C_Sign.unwrap())(h, b"x".as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!((f.C_VerifyInit.unwrap())(h, &mut m, pk.handle()), CKR_OK);
        assert_eq!(
            (f.C_Verify.unwrap())(h, b"x".as_ptr() as *mut _, 1, out.as_mut_ptr(), 256),
            CKR_OK
        );
    }
    // CKA_ALLOWED_MECHANISMS restricts.
    let (_, restricted) = rsa_pair(
        &s,
        2048,
        &[Attribute::AllowedMechanisms(vec![
            MechanismType::SHA256_RSA_PKCS,
        ])],
    );
    s.sign(&Mechanism::Sha256RsaPkcs, restricted, b"ok")
        .unwrap();
    assert_eq!(
        rv(s.sign_init(&Mechanism::Sha1RsaPkcs, restricted)
            .unwrap_err()),
        RvError::MechanismInvalid
    );
    // CKA_DECRYPT false.
    s.update_attributes(sk, &[Attribute::Decrypt(false)])
        .unwrap();
    assert_eq!(
        rv(s.decrypt(&Mechanism::RsaPkcs, sk, &[0u8; 256]).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    // Private keys are invisible without a login.
    s.logout().unwrap();
    assert_eq!(
        rv(s.sign_init(&Mechanism::Sha256RsaPkcs, sk).unwrap_err()),
        RvError::KeyHandleInvalid
    );
    s.verify_init(&Mechanism::Sha256RsaPkcs, pk).unwrap();
}

#[test]
fn always_authenticate_needs_context_login() {
    let env = Env::new();
    let s = env.user();
    let (_, sk) = rsa_pair(&s, 2048, &[Attribute::AlwaysAuthenticate(true)]);
    let (_, plain) = rsa_pair(&s, 2048, &[]);
    let m = Mechanism::Sha256RsaPkcs;
    assert_eq!(
        rv(s.sign(&m, sk, b"x").unwrap_err()),
        RvError::UserNotLoggedIn
    );
    let pin = AuthPin::new(USER_PIN.into());
    // Without a pending operation whose key needs it, a context login has nothing to authorize.
    assert_eq!(
        rv(s.login(UserType::ContextSpecific, Some(&pin)).unwrap_err()),
        RvError::OperationNotInitialized
    );
    s.sign_init(&m, plain).unwrap();
    assert_eq!(
        rv(s.login(UserType::ContextSpecific, Some(&pin)).unwrap_err()),
        RvError::OperationNotInitialized
    );
    let f = env.f;
    unsafe {
        let mut out = [0u8; 256];
        let mut n: CK_ULONG = 256;
        assert_eq!(
            (f.C_Sign.unwrap())(
                s.handle(),
                b"x".as_ptr() as *mut _,
                1,
                out.as_mut_ptr(),
                &mut n
            ),
            CKR_OK
        );
    }
    // Init, context login, sign: works once.
    let f = env.f;
    let h = s.handle();
    unsafe {
        let mut raw = raw_mech(CKM_SHA256_RSA_PKCS);
        assert_eq!((f.C_SignInit.unwrap())(h, &mut raw, sk.handle()), CKR_OK);
        let wrong = b"9999";
        assert_eq!(
            (f.C_Login.unwrap())(h, CKU_CONTEXT_SPECIFIC, wrong.as_ptr() as *mut _, 4),
            CKR_PIN_INCORRECT
        );
        assert_eq!(
            (f.C_Login.unwrap())(h, CKU_CONTEXT_SPECIFIC, USER_PIN.as_ptr() as *mut _, 4),
            CKR_OK
        );
        let mut out = [0u8; 256];
        let mut n: CK_ULONG = 256;
        assert_eq!(
            (f.C_Sign.unwrap())(h, b"x".as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!((f.C_SignInit.unwrap())(h, &mut raw, sk.handle()), CKR_OK);
        assert_eq!(
            (f.C_Sign.unwrap())(h, b"x".as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut n),
            CKR_USER_NOT_LOGGED_IN
        );
    }
}

#[test]
fn imports_and_bad_imports() {
    let env = Env::new();
    let s = env.user();
    let k = ferrohsm::crypto::rsa_generate(2048, &[1, 0, 1]).unwrap();
    let p = k.parts();
    let base = || {
        vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(p.n.clone()),
            Attribute::PublicExponent(p.e.clone()),
            Attribute::Sign(true),
        ]
    };
    let pubkey = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(p.n.clone()),
            Attribute::PublicExponent(p.e.clone()),
            Attribute::Verify(true),
        ])
        .unwrap();
    // Full CRT.
    let mut t = base();
    t.extend([
        Attribute::PrivateExponent(p.d.to_vec()),
        Attribute::Prime1(p.p.to_vec()),
        Attribute::Prime2(p.q.to_vec()),
        Attribute::Exponent1(p.dp.to_vec()),
        Attribute::Exponent2(p.dq.to_vec()),
        Attribute::Coefficient(p.qinv.to_vec()),
    ]);
    let full = s.create_object(&t).unwrap();
    // n, e, d only.
    let mut t = base();
    t.push(Attribute::PrivateExponent(p.d.to_vec()));
    let ned = s.create_object(&t).unwrap();
    for key in [full, ned] {
        let sig = s.sign(&Mechanism::Sha256RsaPkcs, key, b"imported").unwrap();
        s.verify(&Mechanism::Sha256RsaPkcs, pubkey, b"imported", &sig)
            .unwrap();
    }
    // Inconsistent values.
    let mut d = p.d.to_vec();
    d[5] ^= 0x10;
    let mut t = base();
    t.push(Attribute::PrivateExponent(d));
    assert_eq!(
        rv(s.create_object(&t).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    let mut q = p.q.to_vec();
    q[7] ^= 1;
    let mut t = base();
    t.extend([
        Attribute::PrivateExponent(p.d.to_vec()),
        Attribute::Prime1(p.p.to_vec()),
        Attribute::Prime2(q),
    ]);
    assert_eq!(
        rv(s.create_object(&t).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    let mut t = base();
    t.extend([
        Attribute::PrivateExponent(p.d.to_vec()),
        Attribute::Prime1(p.p.to_vec()),
    ]);
    assert_eq!(
        rv(s.create_object(&t).unwrap_err()),
        RvError::TemplateInconsistent
    );
    let r = s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(vec![0x10; 256]),
        Attribute::PublicExponent(vec![1, 0, 1]),
    ]);
    assert_eq!(
        rv(r.unwrap_err()),
        RvError::AttributeValueInvalid,
        "even modulus"
    );

    // EC: a private key and its public point in both encodings.
    let ek = ferrohsm::crypto::ec_generate(ferrohsm::crypto::Curve::P384);
    let point = ek.public().point();
    let esk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(OID_P384.to_vec()),
            Attribute::Value(ek.scalar().to_vec()),
            Attribute::Sign(true),
        ])
        .unwrap();
    let mut der = vec![0x04, point.len() as u8];
    der.extend_from_slice(&point);
    for enc in [der, point.clone()] {
        let epk = s
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(OID_P384.to_vec()),
                Attribute::EcPoint(enc),
                Attribute::Verify(true),
            ])
            .unwrap();
        let sig = s.sign(&Mechanism::EcdsaSha384, esk, b"ec import").unwrap();
        s.verify(&Mechanism::EcdsaSha384, epk, b"ec import", &sig)
            .unwrap();
    }
    let mut bad_point = point.clone();
    bad_point[10] ^= 1;
    let r = s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(OID_P384.to_vec()),
        Attribute::EcPoint(bad_point),
    ]);
    assert_eq!(rv(r.unwrap_err()), RvError::AttributeValueInvalid);
    let r = s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(OID_P256.to_vec()),
        Attribute::Value(vec![0xff; 32]),
    ]);
    assert_eq!(
        rv(r.unwrap_err()),
        RvError::AttributeValueInvalid,
        "scalar above the order"
    );
    let r = s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(vec![0x06, 0x03, 1, 2, 3]),
        Attribute::Value(vec![1; 32]),
    ]);
    assert_eq!(rv(r.unwrap_err()), RvError::CurveNotSupported);
    let r = s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Value(vec![]),
    ]);
    assert_eq!(rv(r.unwrap_err()), RvError::AttributeValueInvalid);
}

#[test]
fn keygen_template_rules_and_persistence() {
    let mut env = Env::new();
    {
        let s = env.user();
        let gen = |pub_t: &[Attribute]| {
            s.generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                pub_t,
                &[Attribute::Sign(true)],
            )
            .map(drop)
            .map_err(rv)
        };
        assert_eq!(gen(&[]).unwrap_err(), RvError::TemplateIncomplete);
        assert_eq!(
            gen(&[Attribute::ModulusBits(512.into())]).unwrap_err(),
            RvError::KeySizeRange
        );
        assert_eq!(
            gen(&[Attribute::ModulusBits(16384.into())]).unwrap_err(),
            RvError::KeySizeRange
        );
        assert_eq!(
            gen(&[
                Attribute::ModulusBits(2048.into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY)
            ])
            .unwrap_err(),
            RvError::TemplateInconsistent
        );
        assert_eq!(
            gen(&[
                Attribute::ModulusBits(2048.into()),
                Attribute::KeyType(KeyType::EC)
            ])
            .unwrap_err(),
            RvError::TemplateInconsistent
        );
        assert_eq!(
            gen(&[
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 0])
            ])
            .unwrap_err(),
            RvError::TemplateInconsistent,
            "even public exponent"
        );
        // The values are the module's to compute.
        assert_eq!(
            gen(&[
                Attribute::ModulusBits(2048.into()),
                Attribute::Modulus(vec![1; 256])
            ])
            .unwrap_err(),
            RvError::AttributeReadOnly
        );
        let r = s.generate_key(&Mechanism::GenericSecretKeyGen, &[]);
        assert_eq!(
            rv(r.unwrap_err()),
            RvError::TemplateIncomplete,
            "CKA_VALUE_LEN is required"
        );
        // 4096 bits, exponent 3, token objects with a label and an ID.
        let (pk, sk) = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::ModulusBits(4096.into()),
                    Attribute::PublicExponent(vec![3]),
                    Attribute::Label(b"big".to_vec()),
                    Attribute::Id(vec![9, 9]),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Label(b"big".to_vec()),
                    Attribute::Id(vec![9, 9]),
                    Attribute::Sign(true),
                    Attribute::Extractable(true),
                ],
            )
            .unwrap();
        assert_eq!(bytes_attr(&s, pk, AttributeType::PublicExponent), vec![3]);
        let a = s
            .get_attributes(
                sk,
                &[
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Id,
                ],
            )
            .unwrap();
        assert_eq!(
            a,
            vec![
                Attribute::AlwaysSensitive(false),
                Attribute::NeverExtractable(false),
                Attribute::Id(vec![9, 9])
            ]
        );
        // Extractable and not sensitive: the private exponent can be read, and is consistent.
        let d = bytes_attr(&s, sk, AttributeType::PrivateExponent);
        assert!(d.len() > 500);
        let sig = s.sign(&Mechanism::Sha256RsaPkcs, sk, b"persist").unwrap();
        assert_eq!(sig.len(), 512);
        // A session key pair goes with its session.
        let (_, ephemeral) = ec_pair(&s, OID_P256);
        let h = ephemeral.handle();
        drop(s);
        let s = env.user();
        let f = env.f;
        let mut m = raw_mech(CKM_ECDSA);
        unsafe {
            assert_eq!(
                (f.C_SignInit.unwrap())(s.handle(), &mut m, h),
                CKR_KEY_HANDLE_INVALID
            );
        }
    }
    // Token keys survive a restart of the module and still work.
    env.restart();
    let s = env.user();
    s.find_objects(&[Attribute::Label(b"big".to_vec())])
        .unwrap();
    let found = s
        .find_objects(&[
            Attribute::Label(b"big".to_vec()),
            Attribute::Class(ObjectClass::PRIVATE_KEY),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);
    let pubs = s
        .find_objects(&[
            Attribute::Label(b"big".to_vec()),
            Attribute::Class(ObjectClass::PUBLIC_KEY),
        ])
        .unwrap();
    let sig = s
        .sign(&Mechanism::Sha256RsaPkcs, found[0], b"after restart")
        .unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, pubs[0], b"after restart", &sig)
        .unwrap();
}

#[test]
fn configured_mechanisms_are_the_only_ones() {
    let env = Env::with_conf("slots.mechanisms = -CKM_RSA_X_509,-CKM_SHA_1");
    let l = env.p().get_mechanism_list(env.slot).unwrap();
    assert!(!l.contains(&MechanismType::RSA_X_509));
    assert!(!l.contains(&MechanismType::SHA1));
    assert!(l.contains(&MechanismType::SHA256));
    let s = env.user();
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    assert_eq!(
        rv(s.sign_init(&Mechanism::RsaX509, sk).unwrap_err()),
        RvError::MechanismInvalid
    );
    assert_eq!(
        rv(s.digest(&Mechanism::Sha1, b"x").unwrap_err()),
        RvError::MechanismInvalid
    );
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, sk, b"x").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, pk, b"x", &sig).unwrap();
}

#[test]
fn single_part_after_update_and_always_authenticate_decrypt() {
    let env = Env::new();
    let s = env.user();
    let (pk, sk) = rsa_pair(&s, 2048, &[Attribute::AlwaysAuthenticate(true)]);
    let f = env.f;
    let h = s.handle();
    unsafe {
        let mut m = raw_mech(CKM_SHA256_RSA_PKCS);
        assert_eq!((f.C_VerifyInit.unwrap())(h, &mut m, pk.handle()), CKR_OK);
        assert_eq!(
            (f.C_VerifyUpdate.unwrap())(h, b"ab".as_ptr() as *mut _, 2),
            CKR_OK
        );
        let mut sig = [0u8; 256];
        assert_eq!(
            (f.C_Verify.unwrap())(h, b"ab".as_ptr() as *mut _, 2, sig.as_mut_ptr(), 256),
            CKR_OPERATION_ACTIVE
        );
        // Decryption with CKA_ALWAYS_AUTHENTICATE: refused without, done with a context login.
        let c = s.encrypt(&Mechanism::RsaPkcs, pk, b"hidden").unwrap();
        let mut dm = raw_mech(CKM_RSA_PKCS);
        let mut out = [0u8; 256];
        let mut n: CK_ULONG = 256;
        assert_eq!((f.C_DecryptInit.unwrap())(h, &mut dm, sk.handle()), CKR_OK);
        assert_eq!(
            (f.C_Decrypt.unwrap())(h, c.as_ptr() as *mut _, 256, out.as_mut_ptr(), &mut n),
            CKR_USER_NOT_LOGGED_IN
        );
        assert_eq!((f.C_DecryptInit.unwrap())(h, &mut dm, sk.handle()), CKR_OK);
        assert_eq!(
            (f.C_Login.unwrap())(h, CKU_CONTEXT_SPECIFIC, USER_PIN.as_ptr() as *mut _, 4),
            CKR_OK
        );
        n = 256;
        assert_eq!(
            (f.C_Decrypt.unwrap())(h, c.as_ptr() as *mut _, 256, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(&out[..n as usize], b"hidden");
    }
    // A logout ends the operations that were started while logged in.
    unsafe {
        let mut m = raw_mech(CKM_SHA256_RSA_PKCS);
        assert_eq!((f.C_SignInit.unwrap())(h, &mut m, sk.handle()), CKR_OK);
        assert_eq!((f.C_Logout.unwrap())(h), CKR_OK);
        let mut out = [0u8; 256];
        let mut n: CK_ULONG = 256;
        assert_eq!(
            (f.C_Sign.unwrap())(h, b"x".as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
    }
    // A context-specific login needs the user logged in.
    assert_eq!(
        rv(s.login(
            UserType::ContextSpecific,
            Some(&AuthPin::new(USER_PIN.into()))
        )
        .unwrap_err()),
        RvError::UserNotLoggedIn
    );
}

#[test]
fn concurrent_sessions_sign_and_verify() {
    let env = Env::new();
    let s = env.user();
    let (pk, sk) = ec_pair(&s, OID_P256);
    let (rpk, rsk) = rsa_pair(&s, 2048, &[]);
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let p = env.p();
            let slot = env.slot;
            scope.spawn(move || {
                let s = p.open_ro_session(slot).unwrap();
                for i in 0..40u8 {
                    let data = [t, i, 7];
                    let sig = s.sign(&Mechanism::EcdsaSha256, sk, &data).unwrap();
                    s.verify(&Mechanism::EcdsaSha256, pk, &data, &sig).unwrap();
                    if i % 10 == 0 {
                        let sig = s.sign(&Mechanism::Sha256RsaPkcs, rsk, &data).unwrap();
                        s.verify(&Mechanism::Sha256RsaPkcs, rpk, &data, &sig)
                            .unwrap();
                    }
                }
            });
        }
    });
}
