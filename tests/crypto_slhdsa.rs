//! SLH-DSA (FIPS 205; CKK_SLH_DSA, CKM_SLH_DSA_KEY_PAIR_GEN, CKM_SLH_DSA, CKM_HASH_SLH_DSA*) through the built
//! module: key generation for the twelve parameter sets with a signature each, the `slh-dsa`
//! crate's signatures verified by imported keys and the reverse (deterministic signatures equal),
//! the private value sensitive, and bad input with the spec's codes.

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle, SlhDsaParameterSetType as T,
};
use cryptoki::session::Session;
use cryptoki_sys::*;

/// The twelve sets: (type, n, signature length).
const SETS: [(T, usize, usize); 12] = [
    (T::SHA2_128S, 16, 7856),
    (T::SHAKE_128S, 16, 7856),
    (T::SHA2_128F, 16, 17088),
    (T::SHAKE_128F, 16, 17088),
    (T::SHA2_192S, 24, 16224),
    (T::SHAKE_192S, 24, 16224),
    (T::SHA2_192F, 24, 35664),
    (T::SHAKE_192F, 24, 35664),
    (T::SHA2_256S, 32, 29792),
    (T::SHAKE_256S, 32, 29792),
    (T::SHA2_256F, 32, 49856),
    (T::SHAKE_256F, 32, 49856),
];

fn mech(hedge: HedgeType, ctx: Option<&[u8]>) -> Mechanism<'_> {
    Mechanism::SlhDsa(SignAdditionalContext::new(hedge, ctx))
}

fn import_public(s: &Session, set: T, pk: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::SLH_DSA),
        Attribute::Token(false),
        Attribute::Verify(true),
        Attribute::ParameterSet(set.into()),
        Attribute::Value(pk.to_vec()),
    ])
}

fn import_private(s: &Session, set: T, sk: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::SLH_DSA),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::ParameterSet(set.into()),
        Attribute::Value(sk.to_vec()),
    ])
}

/// Every set: a generated pair, the public value's length, the private value sensitive, one
/// signature of the set's length that verifies and not for another message or context.
#[test]
fn generated_keys_all_sets() {
    let env = Env::new();
    let s = env.user();
    let t = std::time::Instant::now();
    for (set, n, sig_len) in SETS {
        let (p, k) = s
            .generate_key_pair(
                &Mechanism::SlhDsaKeyPairGen,
                &[Attribute::ParameterSet(set.into()), Attribute::Verify(true)],
                &[Attribute::Sign(true), Attribute::Sensitive(true)],
            )
            .unwrap();
        let pk = bytes_attr(&s, p, AttributeType::Value);
        assert_eq!(pk.len(), 2 * n, "{set}");
        let spki = bytes_attr(&s, p, AttributeType::PublicKeyInfo);
        assert_eq!(spki[spki.len() - 2 * n..], pk[..]);
        let mut a = CK_ATTRIBUTE {
            type_: CKA_VALUE,
            pValue: std::ptr::null_mut(),
            ulValueLen: 0,
        };
        assert_eq!(
            unsafe { (env.f.C_GetAttributeValue.unwrap())(s.handle(), k.handle(), &mut a, 1) },
            CKR_ATTRIBUTE_SENSITIVE
        );
        let m = mech(HedgeType::Required, Some(b"ctx"));
        let sig = s.sign(&m, k, b"message").unwrap();
        assert_eq!(sig.len(), sig_len, "{set}");
        s.verify(&m, p, b"message", &sig).unwrap();
        assert_eq!(
            rv(s.verify(&m, p, b"messagf", &sig).unwrap_err()),
            RvError::SignatureInvalid
        );
        assert_eq!(
            rv(
                s.verify(&mech(HedgeType::Preferred, None), p, b"message", &sig)
                    .unwrap_err()
            ),
            RvError::SignatureInvalid
        );
    }
    println!(
        "SLH-DSA: 12 sets generated, signed and verified in {:?}",
        t.elapsed()
    );
    for ty in [MechanismType::SLH_DSA_KEY_PAIR_GEN, MechanismType::SLH_DSA] {
        let info = env.p().get_mechanism_info(env.slot, ty).unwrap();
        assert_eq!((info.min_key_size(), info.max_key_size()), (32, 64));
    }
}

/// The crate's keys and signatures: a private key made by `slh-dsa` imports and signs
/// deterministically what the crate signs; the crate's hedged signature verifies with the
/// imported public key; a private value whose PK.root is not its seeds' is refused.
#[test]
fn crate_keys_and_signatures() {
    use slh_dsa::{Sha2_128f, Shake128f, SigningKey};
    let env = Env::new();
    let s = env.user();
    fn check<P: slh_dsa::ParameterSet>(s: &Session, set: T) {
        let sk = SigningKey::<P>::slh_keygen_internal(&[1u8; 16], &[2u8; 16], &[3u8; 16]);
        let bytes = sk.to_vec();
        let k = import_private(s, set, &bytes).unwrap();
        let p = import_public(s, set, &sk.as_ref().to_vec()).unwrap();
        let msg = b"made by the crate";
        let det = sk.try_sign_with_context(msg, b"c", None).unwrap().to_vec();
        let m = mech(HedgeType::DeterministicRequired, Some(b"c"));
        assert_eq!(s.sign(&m, k, msg).unwrap(), det);
        let hedged = sk
            .try_sign_with_context(msg, b"c", Some(&[9u8; 16][..]))
            .unwrap()
            .to_vec();
        s.verify(&m, p, msg, &hedged).unwrap();
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            rv(import_private(s, set, &bad).unwrap_err()),
            RvError::AttributeValueInvalid
        );
    }
    check::<Sha2_128f>(&s, T::SHA2_128F);
    check::<Shake128f>(&s, T::SHAKE_128F);
}

/// HashSLH-DSA (FIPS 205, Alg. 23 and 25): the module's deterministic signatures equal the
/// `slh-dsa` crate's slh_sign_internal on M' = 1 || |ctx| || ctx || OID(PH) || PH(M), which this
/// test builds itself (the crate has no pre-hash API: the framing is checked independently of
/// the module's); the module hashing (CKM_HASH_SLH_DSA_SHA256) and the caller's digest
/// (CKM_HASH_SLH_DSA) sign alike; a pure signature does not verify as a pre-hashed one;
/// CKM_HASH_SLH_DSA is single-part.
#[test]
fn hash_slh_dsa() {
    use cryptoki::mechanism::dsa::HashSignAdditionalContext;
    use sha2::Digest;
    use slh_dsa::{Sha2_128f, SigningKey};
    let env = Env::new();
    let s = env.user();
    let sk = SigningKey::<Sha2_128f>::slh_keygen_internal(&[4u8; 16], &[5u8; 16], &[6u8; 16]);
    let k = import_private(&s, T::SHA2_128F, &sk.to_vec()).unwrap();
    let p = import_public(&s, T::SHA2_128F, &sk.as_ref().to_vec()).unwrap();
    let msg = b"pre-hashed with SHA-256";
    let ctx = b"ctx";
    let digest = sha2::Sha256::digest(msg).to_vec();
    // id-sha256, 2.16.840.1.101.3.4.2.1
    let oid = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let mut prefix = vec![1u8, ctx.len() as u8];
    prefix.extend_from_slice(ctx);
    prefix.extend_from_slice(&oid);
    let want = sk.slh_sign_internal(&[&prefix, &digest], None).to_vec();
    let with_hash = Mechanism::HashSlhDsaSha256(SignAdditionalContext::new(
        HedgeType::DeterministicRequired,
        Some(ctx),
    ));
    let on_digest = Mechanism::HashSlhDsa(HashSignAdditionalContext::new(
        HedgeType::DeterministicRequired,
        Some(ctx),
        MechanismType::SHA256,
    ));
    assert_eq!(s.sign(&with_hash, k, msg).unwrap(), want);
    assert_eq!(s.sign(&on_digest, k, &digest).unwrap(), want);
    s.verify(&with_hash, p, msg, &want).unwrap();
    s.verify(&on_digest, p, &digest, &want).unwrap();
    // Hedged: another signature, which verifies.
    let hedged =
        Mechanism::HashSlhDsaSha256(SignAdditionalContext::new(HedgeType::Required, Some(ctx)));
    let h = s.sign(&hedged, k, msg).unwrap();
    assert_ne!(h, want);
    s.verify(&with_hash, p, msg, &h).unwrap();
    // Another context, another hash, or the pure variant: no.
    let other = Mechanism::HashSlhDsaSha256(SignAdditionalContext::new(
        HedgeType::Preferred,
        Some(b"other"),
    ));
    assert_eq!(
        rv(s.verify(&other, p, msg, &want).unwrap_err()),
        RvError::SignatureInvalid
    );
    let sha512 =
        Mechanism::HashSlhDsaSha512(SignAdditionalContext::new(HedgeType::Preferred, Some(ctx)));
    assert_eq!(
        rv(s.verify(&sha512, p, msg, &want).unwrap_err()),
        RvError::SignatureInvalid
    );
    let pure = mech(HedgeType::DeterministicRequired, Some(ctx));
    assert_eq!(
        rv(s.verify(&pure, p, msg, &want).unwrap_err()),
        RvError::SignatureInvalid
    );
    // The module's signature checked by the crate, directly.
    let sig = slh_dsa::Signature::<Sha2_128f>::try_from(&h[..]).unwrap();
    sk.as_ref()
        .slh_verify_internal(&[&prefix, &digest], &sig)
        .unwrap();
    // A digest of the wrong length; CKM_HASH_SLH_DSA is single-part.
    assert_eq!(
        rv(s.sign(&on_digest, k, &digest[..31]).unwrap_err()),
        RvError::DataLenRange
    );
    s.sign_init(&on_digest, k).unwrap();
    assert_eq!(
        rv(s.sign_update(&digest).unwrap_err()),
        RvError::OperationNotInitialized
    );
    // Every pre-hash mechanism signs and verifies.
    for m in [
        Mechanism::HashSlhDsaSha224(SignAdditionalContext::new(HedgeType::Preferred, None)),
        Mechanism::HashSlhDsaSha384(SignAdditionalContext::new(HedgeType::Preferred, None)),
        Mechanism::HashSlhDsaSha3_256(SignAdditionalContext::new(HedgeType::Preferred, None)),
        Mechanism::HashSlhDsaShake128(SignAdditionalContext::new(HedgeType::Preferred, None)),
        Mechanism::HashSlhDsaShake256(SignAdditionalContext::new(HedgeType::Preferred, None)),
    ] {
        let sig = s.sign(&m, k, msg).unwrap();
        s.verify(&m, p, msg, &sig).unwrap();
        assert_eq!(
            rv(s.verify(&m, p, b"another", &sig).unwrap_err()),
            RvError::SignatureInvalid
        );
    }
}

/// Bad input: a context over 255 bytes, a signature of the wrong length, unknown parameter
/// sets, values of the wrong length.
#[test]
fn bad_input() {
    let env = Env::new();
    let s = env.user();
    let (p, k) = s
        .generate_key_pair(
            &Mechanism::SlhDsaKeyPairGen,
            &[
                Attribute::ParameterSet(T::SHAKE_128F.into()),
                Attribute::Verify(true),
            ],
            &[Attribute::Sign(true)],
        )
        .unwrap();
    let long = [0u8; 256];
    assert_eq!(
        rv(s.sign(&mech(HedgeType::Preferred, Some(&long)), k, b"m")
            .unwrap_err()),
        RvError::MechanismParamInvalid
    );
    let m = mech(HedgeType::Preferred, None);
    for n in [0usize, 17087, 17089, 7856] {
        assert_eq!(
            rv(s.verify(&m, p, b"m", &vec![0u8; n]).unwrap_err()),
            RvError::SignatureLenRange,
            "{n}"
        );
    }
    let bogus = |v: CK_ULONG| {
        Attribute::ParameterSet(
            cryptoki::object::ParameterSetType::try_from(cryptoki::types::Ulong::from(v)).unwrap(),
        )
    };
    for v in [0, 13] {
        assert_eq!(
            rv(s.generate_key_pair(
                &Mechanism::SlhDsaKeyPairGen,
                &[bogus(v), Attribute::Verify(true)],
                &[]
            )
            .unwrap_err()),
            RvError::AttributeValueInvalid
        );
    }
    let pk = bytes_attr(&s, p, AttributeType::Value);
    assert_eq!(
        rv(import_public(&s, T::SHAKE_192F, &pk).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(import_private(&s, T::SHAKE_128F, &[1u8; 63]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
}
