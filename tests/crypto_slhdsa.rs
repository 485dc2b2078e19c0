//! SLH-DSA (FIPS 205; CKK_SLH_DSA, CKM_SLH_DSA_KEY_PAIR_GEN, CKM_SLH_DSA) through the built
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
