//! Ed25519 (CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA) through the built module:
//! RFC 8032 7.1 known answers with keys imported by value, generated keys checked by
//! `ed25519-dalek` directly, both CKA_EC_PARAMS forms and both CKA_EC_POINT forms, and bad input
//! with the spec's return codes.

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// id-Ed25519 (1.3.101.112) and the PrintableString "edwards25519", the two CKA_EC_PARAMS forms.
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
fn printable_ed25519() -> Vec<u8> {
    [&[0x13, 12][..], b"edwards25519"].concat()
}

/// RFC 8032, 7.1: TEST 1, TEST 2, TEST 3, TEST 1024 and TEST SHA(abc): (secret key, public key,
/// message, signature).
const RFC8032: &[(&str, &str, &str, &str)] = &[
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
         5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
         085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac\
         18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589\
         09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

fn eddsa() -> Mechanism<'static> {
    Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
}

fn import_private(
    s: &Session,
    params: &[u8],
    seed: &[u8],
) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC_EDWARDS),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sign(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::Value(seed.to_vec()),
    ])
}

fn import_public(
    s: &Session,
    params: &[u8],
    point: &[u8],
) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC_EDWARDS),
        Attribute::Token(false),
        Attribute::Verify(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::EcPoint(point.to_vec()),
    ])
}

fn der_octet_string(v: &[u8]) -> Vec<u8> {
    [&[0x04, v.len() as u8][..], v].concat()
}

/// RFC 8032 7.1 through C_CreateObject and C_Sign: the private key imported by value gives the
/// RFC's signature; public keys imported with the point as a DER OCTET STRING (OID params) and
/// raw (PrintableString params) verify it and refuse it for another message; multi-part gives
/// the same; CKA_PUBLIC_KEY_INFO is the RFC 8410 SPKI.
#[test]
fn rfc8032_known_answers() {
    let env = Env::new();
    let s = env.user();
    for &(sk, pk, msg, sig) in RFC8032 {
        let (pk, msg, sig) = (h(pk), h(msg), h(sig));
        let k = import_private(&s, OID_ED25519, &h(sk)).unwrap();
        assert_eq!(s.sign(&eddsa(), k, &msg).unwrap(), sig);
        s.sign_init(&eddsa(), k).unwrap();
        for part in msg.chunks(7) {
            s.sign_update(part).unwrap();
        }
        assert_eq!(s.sign_final().unwrap(), sig);
        let spki = bytes_attr(&s, k, AttributeType::PublicKeyInfo);
        assert_eq!(spki[..12], h("302a300506032b6570032100")[..]);
        assert_eq!(spki[12..], pk[..]);
        for p in [
            import_public(&s, OID_ED25519, &der_octet_string(&pk)).unwrap(),
            import_public(&s, &printable_ed25519(), &pk).unwrap(),
        ] {
            s.verify(&eddsa(), p, &msg, &sig).unwrap();
            assert_eq!(
                rv(s.verify(&eddsa(), p, b"another message", &sig).unwrap_err()),
                RvError::SignatureInvalid
            );
            let mut bad = sig.clone();
            bad[63] ^= 0x10;
            assert_eq!(
                rv(s.verify(&eddsa(), p, &msg, &bad).unwrap_err()),
                RvError::SignatureInvalid
            );
            assert_eq!(
                rv(s.verify(&eddsa(), p, &msg, &sig[..63]).unwrap_err()),
                RvError::SignatureLenRange
            );
        }
    }
    println!(
        "Ed25519 RFC 8032: {} vectors signed and verified",
        RFC8032.len()
    );
}

/// Key pairs generated with each CKA_EC_PARAMS form: CKA_EC_POINT is a DER OCTET STRING of the
/// 32-byte key, the private key's CKA_EC_PARAMS is the template's, and the signatures verify
/// with ed25519-dalek used directly.
#[test]
fn generated_keys() {
    use ed25519_dalek::Verifier;
    let env = Env::new();
    let s = env.user();
    let mut n = 0;
    for params in [OID_ED25519.to_vec(), printable_ed25519()] {
        let (p, k) = s
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[
                    Attribute::EcParams(params.clone()),
                    Attribute::Verify(true),
                    Attribute::Token(true),
                ],
                &[
                    Attribute::Sign(true),
                    Attribute::Sensitive(true),
                    Attribute::Token(true),
                ],
            )
            .unwrap();
        let point = bytes_attr(&s, p, AttributeType::EcPoint);
        assert_eq!(point.len(), 34);
        assert_eq!(point[..2], [0x04, 0x20]);
        assert_eq!(bytes_attr(&s, k, AttributeType::EcParams), params);
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&point[2..].try_into().unwrap()).unwrap();
        for msg in [
            &b""[..],
            b"signed by a generated Ed25519 key",
            &[0x5a; 3000],
        ] {
            let sig = s.sign(&eddsa(), k, msg).unwrap();
            assert_eq!(sig.len(), 64);
            let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
            vk.verify(msg, &sig).unwrap();
            assert!(vk.verify(b"tampered", &sig).is_err());
            s.verify(&eddsa(), p, msg, &sig.to_bytes()).unwrap();
            n += 1;
        }
        // The private value cannot be read; the mechanism info is the curve's.
        assert!(s
            .get_attributes(k, &[AttributeType::Value])
            .map_or(true, |v| v.is_empty()));
    }
    for ty in [
        MechanismType::EDDSA,
        MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
    ] {
        let info = env.p().get_mechanism_info(env.slot, ty).unwrap();
        assert_eq!((info.min_key_size(), info.max_key_size()), (255, 448));
    }
    // Persisted: a new process (module restart) signs with the token key.
    let mut env = env;
    env.restart();
    let s = env.user();
    let keys = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
        ])
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(s.sign(&eddsa(), keys[0], b"again").unwrap().len(), 64);
    println!("Ed25519: 2 generated keys, {n} signatures checked by ed25519-dalek");
}

/// Bad input, each with its code.
#[test]
fn bad_input() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let (sk, pk, _, _) = RFC8032[0];
    let (sk, pk) = (h(sk), h(pk));
    // Import: a seed or a point of the wrong length, a point that decodes to nothing, params
    // of P-256 or another name, garbage params.
    assert_eq!(
        rv(import_private(&s, OID_ED25519, &sk[..31]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(import_public(&s, OID_ED25519, &pk[..31]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(import_public(
            &s,
            OID_ED25519,
            &der_octet_string(&[pk.clone(), vec![0]].concat())
        )
        .unwrap_err()),
        RvError::AttributeValueInvalid
    );
    // y = 2 is not the y-coordinate of a point of edwards25519.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert_eq!(
        rv(import_public(&s, OID_ED25519, &not_a_point).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    for (params, want) in [
        (
            [&[0x13, 10][..], b"edwards449"].concat(),
            RvError::CurveNotSupported,
        ),
        (OID_P256.to_vec(), RvError::CurveNotSupported),
        (vec![0x30, 0x00], RvError::DomainParamsInvalid),
    ] {
        assert_eq!(rv(import_private(&s, &params, &sk).unwrap_err()), want);
        assert_eq!(
            rv(s.generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[Attribute::EcParams(params.clone())],
                &[Attribute::Sign(true)],
            )
            .unwrap_err()),
            want
        );
    }
    // CKK_EC with Ed25519's OID is not a NIST curve.
    assert_eq!(
        rv(s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(OID_ED25519.to_vec())],
            &[Attribute::Sign(true)],
        )
        .unwrap_err()),
        RvError::CurveNotSupported
    );
    let k = import_private(&s, OID_ED25519, &sk).unwrap();
    let p = import_public(&s, OID_ED25519, &pk).unwrap();
    // Ed25519ctx needs a context (RFC 8032 5.1), and a backend that has it (aws-lc).
    assert_eq!(
        rv(s.sign(
            &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ctx(&[]))),
            k,
            b"m"
        )
        .unwrap_err()),
        RvError::MechanismParamInvalid
    );
    let r = s.sign(
        &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ctx(b"c"))),
        k,
        b"m",
    );
    if cfg!(feature = "backend-awslc") {
        assert_eq!(r.unwrap().len(), 64);
    } else {
        assert_eq!(rv(r.unwrap_err()), RvError::MechanismParamInvalid);
    }
    // A CK_EDDSA_PARAMS of the wrong size, and a context longer than 255 bytes.
    let hs = s.handle();
    let ctx = [0u8; 256];
    let mut params = CK_EDDSA_PARAMS {
        phFlag: 0,
        ulContextDataLen: 256,
        pContextData: ctx.as_ptr() as *mut u8,
    };
    let mut m = raw_mech_param(CKM_EDDSA, &mut params);
    assert_eq!(
        unsafe { (f.C_SignInit.unwrap())(hs, &mut m, k.handle()) },
        CKR_MECHANISM_PARAM_INVALID
    );
    m.ulParameterLen -= 1;
    assert_eq!(
        unsafe { (f.C_SignInit.unwrap())(hs, &mut m, k.handle()) },
        CKR_MECHANISM_PARAM_INVALID
    );
    // Wrong keys for the mechanism, and the wrong mechanism for the key.
    let (_, ec) = ec_pair(&s, OID_P256);
    assert_eq!(
        rv(s.sign(&eddsa(), ec, b"m").unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, k, &[0; 32]).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(s.verify(&eddsa(), k, b"m", &[0; 64]).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(s.sign(&eddsa(), p, b"m").unwrap_err()),
        RvError::KeyTypeInconsistent
    );
}
