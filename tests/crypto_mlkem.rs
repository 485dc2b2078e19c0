//! ML-KEM (FIPS 203; CKK_ML_KEM, CKM_ML_KEM_KEY_PAIR_GEN, CKM_ML_KEM) and the PKCS #11 3.2
//! functions it needs (C_EncapsulateKey, C_DecapsulateKey) through the built module: key
//! generation for the three parameter sets, secrets checked against the `ml-kem` crate in both
//! directions, Wycheproof's ML-KEM vectors (key generation from seeds, decapsulation as known
//! answers, invalid keys refused), the length protocol and bad input with the spec's codes. Also
//! C_VerifySignature* (3.2: the signature given first).

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, MlKemParameterSetType, ObjectClass,
    ObjectHandle,
};
use cryptoki::session::Session;
use cryptoki_sys::*;
use wycheproof::TestResult;

const SETS: [(MlKemParameterSetType, usize, usize, usize); 3] = [
    (MlKemParameterSetType::ML_KEM_512, 800, 1632, 768),
    (MlKemParameterSetType::ML_KEM_768, 1184, 2400, 1088),
    (MlKemParameterSetType::ML_KEM_1024, 1568, 3168, 1568),
];

fn generate(s: &Session, set: MlKemParameterSetType) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::MlKemKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::ParameterSet(set.into()),
            Attribute::Encapsulate(true),
        ],
        &[
            Attribute::Token(true),
            Attribute::Decapsulate(true),
            Attribute::Sensitive(true),
        ],
    )
    .unwrap()
}

/// A template for the secret a KEM call makes: a readable AES key.
fn readable_aes() -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]
}

fn import_private(
    s: &Session,
    set: MlKemParameterSetType,
    seed: Option<&[u8]>,
    value: Option<&[u8]>,
) -> cryptoki::error::Result<ObjectHandle> {
    let mut t = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::ML_KEM),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Decapsulate(true),
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

fn import_public(
    s: &Session,
    set: MlKemParameterSetType,
    ek: &[u8],
) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::ML_KEM),
        Attribute::Token(false),
        Attribute::Encapsulate(true),
        Attribute::ParameterSet(set.into()),
        Attribute::Value(ek.to_vec()),
    ])
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

fn secret_of(s: &Session, k: ObjectHandle) -> Vec<u8> {
    bytes_attr(s, k, AttributeType::Value)
}

/// The `ml-kem` crate, directly: the key of a seed, its decapsulation, and an encapsulation.
mod reference {
    use ml_kem::{
        Ciphertext, Decapsulate, DecapsulationKey, EncapsulationKey, Key, KeyExport, MlKem1024,
        MlKem512, MlKem768, Seed,
    };

    pub fn public_of(set: usize, seed: &[u8; 64]) -> Vec<u8> {
        let s = Seed::from(*seed);
        match set {
            0 => DecapsulationKey::<MlKem512>::from_seed(s)
                .encapsulation_key()
                .to_bytes()
                .to_vec(),
            1 => DecapsulationKey::<MlKem768>::from_seed(s)
                .encapsulation_key()
                .to_bytes()
                .to_vec(),
            _ => DecapsulationKey::<MlKem1024>::from_seed(s)
                .encapsulation_key()
                .to_bytes()
                .to_vec(),
        }
    }

    pub fn decapsulate(set: usize, seed: &[u8; 64], ct: &[u8]) -> Vec<u8> {
        let s = Seed::from(*seed);
        match set {
            0 => DecapsulationKey::<MlKem512>::from_seed(s)
                .decapsulate(&Ciphertext::<MlKem512>::try_from(ct).unwrap())
                .to_vec(),
            1 => DecapsulationKey::<MlKem768>::from_seed(s)
                .decapsulate(&Ciphertext::<MlKem768>::try_from(ct).unwrap())
                .to_vec(),
            _ => DecapsulationKey::<MlKem1024>::from_seed(s)
                .decapsulate(&Ciphertext::<MlKem1024>::try_from(ct).unwrap())
                .to_vec(),
        }
    }

    /// An encapsulation to `ek` by the crate (fixed m: the test needs no randomness): (ciphertext,
    /// secret).
    pub fn encapsulate(set: usize, ek: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let m = [0x5au8; 32].into();
        match set {
            0 => {
                let k = EncapsulationKey::<MlKem512>::new(
                    &Key::<EncapsulationKey<MlKem512>>::try_from(ek).unwrap(),
                )
                .unwrap();
                let (c, s) = k.encapsulate_deterministic(&m);
                (c.to_vec(), s.to_vec())
            }
            1 => {
                let k = EncapsulationKey::<MlKem768>::new(
                    &Key::<EncapsulationKey<MlKem768>>::try_from(ek).unwrap(),
                )
                .unwrap();
                let (c, s) = k.encapsulate_deterministic(&m);
                (c.to_vec(), s.to_vec())
            }
            _ => {
                let k = EncapsulationKey::<MlKem1024>::new(
                    &Key::<EncapsulationKey<MlKem1024>>::try_from(ek).unwrap(),
                )
                .unwrap();
                let (c, s) = k.encapsulate_deterministic(&m);
                (c.to_vec(), s.to_vec())
            }
        }
    }
}

/// Key pairs of the three sets: attribute sizes, sensitive private parts, the mechanism info;
/// a secret encapsulated by the token is the one the token decapsulates, both keys encrypt
/// alike (as the `cryptoki` crate's own test does), and the secret is a new key, not bytes.
#[test]
fn generated_keys_encapsulate_and_decapsulate() {
    let env = Env::new();
    let s = env.user();
    let info = env
        .p()
        .get_mechanism_info(env.slot, cryptoki::mechanism::MechanismType::ML_KEM)
        .unwrap();
    assert!(info.encapsulate() && info.decapsulate());
    assert_eq!((info.min_key_size(), info.max_key_size()), (800, 1568));
    for (set, pk_len, sk_len, ct_len) in SETS {
        let (public, private) = generate(&s, set);
        assert_eq!(bytes_attr(&s, public, AttributeType::Value).len(), pk_len);
        for t in [CKA_VALUE, CKA_SEED] {
            assert_eq!(attr_rv(&env, &s, private, t), CKR_ATTRIBUTE_SENSITIVE);
        }
        let spki = bytes_attr(&s, private, AttributeType::PublicKeyInfo);
        assert!(spki.ends_with(&bytes_attr(&s, public, AttributeType::Value)));
        let (ct, k1) = s
            .encapsulate_key(&Mechanism::MlKem, public, &readable_aes())
            .unwrap();
        assert_eq!(ct.len(), ct_len);
        let k2 = s
            .decapsulate_key(&Mechanism::MlKem, private, &readable_aes(), &ct)
            .unwrap();
        let v = secret_of(&s, k1);
        assert_eq!(v.len(), 32);
        assert_eq!(v, secret_of(&s, k2));
        let data = [7u8; 16];
        let c = s.encrypt(&Mechanism::AesEcb, k1, &data).unwrap();
        assert_eq!(s.decrypt(&Mechanism::AesEcb, k2, &c).unwrap(), data);
        // Another encapsulation is another secret.
        let (ct2, k3) = s
            .encapsulate_key(&Mechanism::MlKem, public, &readable_aes())
            .unwrap();
        assert_ne!(ct2, ct);
        assert_ne!(secret_of(&s, k3), v);
        // The private key's sizes, read through a non-sensitive import of the same seed
        // elsewhere (tests below); here: the expanded key's length is what FIPS 203 says.
        let _ = sk_len;
    }
}

/// The secret key a KEM call makes: sensitive and unextractable unless the template says
/// otherwise, never CKA_LOCAL, ALWAYS_SENSITIVE or NEVER_EXTRACTABLE (its value travelled in
/// the ciphertext), a generic secret of 32 bytes by default, shorter when CKA_VALUE_LEN asks.
#[test]
fn the_new_key_attributes() {
    let env = Env::new();
    let s = env.user();
    let (public, private) = generate(&s, MlKemParameterSetType::ML_KEM_768);
    let (ct, k) = s
        .encapsulate_key(&Mechanism::MlKem, public, &[Attribute::Token(false)])
        .unwrap();
    let attrs = s
        .get_attributes(
            k,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Local,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
            ],
        )
        .unwrap();
    let want = [
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen(32.into()),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Local(false),
        Attribute::AlwaysSensitive(false),
        Attribute::NeverExtractable(false),
    ];
    assert_eq!(attrs, want);
    assert_eq!(attr_rv(&env, &s, k, CKA_VALUE), CKR_ATTRIBUTE_SENSITIVE);
    let d = s
        .decapsulate_key(&Mechanism::MlKem, private, &[Attribute::Token(false)], &ct)
        .unwrap();
    assert_eq!(
        s.get_attributes(d, &[AttributeType::Sensitive]).unwrap()[0],
        Attribute::Sensitive(true)
    );
    // A 16-byte AES key takes the first 16 bytes of the secret, on both sides.
    let mut t = readable_aes();
    t.push(Attribute::ValueLen(16.into()));
    let (ct, a) = s.encapsulate_key(&Mechanism::MlKem, public, &t).unwrap();
    let b = s
        .decapsulate_key(&Mechanism::MlKem, private, &t, &ct)
        .unwrap();
    assert_eq!(secret_of(&s, a).len(), 16);
    assert_eq!(secret_of(&s, a), secret_of(&s, b));
    // More than the secret holds, or a length AES never has.
    for n in [64u64, 20] {
        let mut t = readable_aes();
        t.push(Attribute::ValueLen(n.into()));
        assert_eq!(
            rv(s.encapsulate_key(&Mechanism::MlKem, public, &t)
                .unwrap_err()),
            RvError::TemplateInconsistent
        );
    }
}

/// Secrets agree with an independent implementation in both directions: the token decapsulates
/// what the `ml-kem` crate encapsulated to the token's key, and the crate decapsulates what the
/// token encapsulated, with a key imported from a seed the test knows.
#[test]
fn secrets_agree_with_the_ml_kem_crate() {
    let env = Env::new();
    let s = env.user();
    for (i, (set, _, _, _)) in SETS.into_iter().enumerate() {
        let seed = [i as u8 + 0x30; 64];
        let private = import_private(&s, set, Some(&seed), None).unwrap();
        let ek = reference::public_of(i, &seed);
        let public = import_public(&s, set, &ek).unwrap();
        // The token encapsulates, the crate decapsulates.
        let (ct, k) = s
            .encapsulate_key(&Mechanism::MlKem, public, &readable_aes())
            .unwrap();
        assert_eq!(secret_of(&s, k), reference::decapsulate(i, &seed, &ct));
        // The crate encapsulates, the token decapsulates.
        let (ct, secret) = reference::encapsulate(i, &ek);
        let k = s
            .decapsulate_key(&Mechanism::MlKem, private, &readable_aes(), &ct)
            .unwrap();
        assert_eq!(secret_of(&s, k), secret);
    }
}

fn set_of(p: wycheproof::mlkem::MlKemParameterSet) -> (usize, MlKemParameterSetType) {
    use wycheproof::mlkem::MlKemParameterSet::*;
    match p {
        MlKem512 => (0, MlKemParameterSetType::ML_KEM_512),
        MlKem768 => (1, MlKemParameterSetType::ML_KEM_768),
        MlKem1024 => (2, MlKemParameterSetType::ML_KEM_1024),
    }
}

/// Wycheproof's ML-KEM vectors through the module: key generation from the seed (the public
/// key, the expanded private key), decapsulation of each ciphertext as a known answer (the
/// implicit-rejection cases included), and every invalid case refused.
#[test]
fn wycheproof_mlkem() {
    use wycheproof::mlkem::TestName::*;
    let env = Env::new();
    let s = env.user();
    let (mut valid, mut invalid) = (0, 0);
    for name in [
        MlKem512KeyGenSeed,
        MlKem768KeyGenSeed,
        MlKem1024KeyGenSeed,
        MlKem512,
        MlKem768,
        MlKem1024,
        MlKem512Encaps,
        MlKem768Encaps,
        MlKem1024Encaps,
        MlKem512SemiExpandedDecaps,
        MlKem768SemiExpandedDecaps,
        MlKem1024SemiExpandedDecaps,
    ] {
        let set = wycheproof::mlkem::TestSet::load(name).unwrap();
        for g in &set.test_groups {
            let (i, ps) = set_of(g.parameter_set);
            let _ = i;
            for t in &g.tests {
                let ok = t.result == TestResult::Valid;
                let what = format!("{name:?} tcId {}", t.tc_id);
                // What the vector's key is made of, imported.
                let private = match (&t.seed, &t.decaps_key) {
                    (Some(seed), _) => Some(import_private(&s, ps, Some(seed), None)),
                    (None, Some(dk)) => Some(import_private(&s, ps, None, Some(dk))),
                    _ => None,
                };
                let public = t.encaps_key.as_ref().map(|ek| import_public(&s, ps, ek));
                if !ok {
                    invalid += 1;
                    // Refused at import, or at decapsulation (a ciphertext of the wrong length).
                    let refused = match (&private, &public) {
                        (Some(Err(_)), _) | (_, Some(Err(_))) => true,
                        (Some(Ok(k)), _) => {
                            let ct =
                                t.ct.as_ref()
                                    .expect("an invalid case with a good key has a ciphertext");
                            s.decapsulate_key(&Mechanism::MlKem, *k, &readable_aes(), ct)
                                .is_err()
                        }
                        _ => false,
                    };
                    assert!(refused, "{what}: accepted");
                    continue;
                }
                valid += 1;
                let private = private.map(|r| r.unwrap_or_else(|e| panic!("{what}: {e}")));
                if let Some(public) = public {
                    let public = public.unwrap_or_else(|e| panic!("{what}: {e}"));
                    // A valid encapsulation key encapsulates.
                    s.encapsulate_key(&Mechanism::MlKem, public, &readable_aes())
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                }
                let Some(k) = private else { continue };
                if let Some(ek) = &t.encaps_key {
                    let spki = bytes_attr(&s, k, AttributeType::PublicKeyInfo);
                    assert!(spki.ends_with(ek), "{what}: public key");
                }
                if let (Some(dk), Some(_)) = (&t.decaps_key, &t.seed) {
                    assert_eq!(
                        &bytes_attr(&s, k, AttributeType::Value),
                        &dk[..],
                        "{what}: dk"
                    );
                }
                if let (Some(ct), Some(secret)) = (&t.ct, &t.shared_secret) {
                    let d = s
                        .decapsulate_key(&Mechanism::MlKem, k, &readable_aes(), ct)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(&secret_of(&s, d), &secret[..], "{what}: shared secret");
                }
            }
        }
    }
    println!("wycheproof ML-KEM: {valid} valid, {invalid} invalid cases");
    assert!(
        valid > 600 && invalid > 50,
        "{valid} valid, {invalid} invalid"
    );
}

/// C_EncapsulateKey's length protocol and bad input: a NULL ciphertext buffer gives the length
/// and makes no key, a short one CKR_BUFFER_TOO_SMALL and no key; the wrong key or usage, a
/// ciphertext of the wrong length, NULL pointers.
#[test]
fn length_protocol_and_bad_input() {
    let env = Env::new();
    let s = env.user();
    let (public, private) = generate(&s, MlKemParameterSetType::ML_KEM_512);
    let f = raw32(&env);
    let mut mech = raw_mech(CKM_ML_KEM);
    let objects = |s: &Session| s.find_objects(&[]).unwrap().len();
    let before = objects(&s);
    let mut len: CK_ULONG = 0;
    let mut h: CK_OBJECT_HANDLE = CK_INVALID_HANDLE;
    let encap = |p: *mut u8,
                 len: &mut CK_ULONG,
                 h: &mut CK_OBJECT_HANDLE,
                 key: CK_OBJECT_HANDLE,
                 mech: &mut CK_MECHANISM| unsafe {
        (f.C_EncapsulateKey.unwrap())(s.handle(), mech, key, std::ptr::null_mut(), 0, p, len, h)
    };
    assert_eq!(
        encap(
            std::ptr::null_mut(),
            &mut len,
            &mut h,
            public.handle(),
            &mut mech
        ),
        CKR_OK
    );
    assert_eq!(len, 768);
    assert_eq!(h, CK_INVALID_HANDLE);
    let mut buf = vec![0u8; 767];
    len = 767;
    assert_eq!(
        encap(
            buf.as_mut_ptr(),
            &mut len,
            &mut h,
            public.handle(),
            &mut mech
        ),
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(len, 768);
    assert_eq!(objects(&s), before, "no key made by a length query");
    buf.resize(800, 0);
    len = 800;
    assert_eq!(
        encap(
            buf.as_mut_ptr(),
            &mut len,
            &mut h,
            public.handle(),
            &mut mech
        ),
        CKR_OK
    );
    assert_eq!(len, 768);
    assert_ne!(h, CK_INVALID_HANDLE);
    assert_eq!(objects(&s), before + 1);
    // The private key does not encapsulate, the public key does not decapsulate.
    assert_eq!(
        encap(
            buf.as_mut_ptr(),
            &mut len,
            &mut h,
            private.handle(),
            &mut mech
        ),
        CKR_KEY_TYPE_INCONSISTENT
    );
    let ct = buf[..768].to_vec();
    let ct = &ct[..];
    assert_eq!(
        rv(
            s.decapsulate_key(&Mechanism::MlKem, public, &readable_aes(), ct)
                .unwrap_err()
        ),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(
            s.decapsulate_key(&Mechanism::MlKem, private, &readable_aes(), &ct[1..])
                .unwrap_err()
        ),
        RvError::EncryptedDataLenRange
    );
    // NULL mechanism, NULL phKey, NULL ciphertext length pointer.
    len = 800;
    let rv_null_mech = unsafe {
        (f.C_EncapsulateKey.unwrap())(
            s.handle(),
            std::ptr::null_mut(),
            public.handle(),
            std::ptr::null_mut(),
            0,
            buf.as_mut_ptr(),
            &mut len,
            &mut h,
        )
    };
    assert_eq!(rv_null_mech, CKR_ARGUMENTS_BAD);
    let r = unsafe {
        (f.C_EncapsulateKey.unwrap())(
            s.handle(),
            &mut mech,
            public.handle(),
            std::ptr::null_mut(),
            0,
            buf.as_mut_ptr(),
            &mut len,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, CKR_ARGUMENTS_BAD);
    let r = unsafe {
        (f.C_DecapsulateKey.unwrap())(
            s.handle(),
            &mut mech,
            private.handle(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            768,
            &mut h,
        )
    };
    assert_eq!(r, CKR_ARGUMENTS_BAD);
    // A key whose CKA_ENCAPSULATE / CKA_DECAPSULATE is false.
    s.update_attributes(public, &[Attribute::Encapsulate(false)])
        .unwrap();
    s.update_attributes(private, &[Attribute::Decapsulate(false)])
        .unwrap();
    assert_eq!(
        rv(
            s.encapsulate_key(&Mechanism::MlKem, public, &readable_aes())
                .unwrap_err()
        ),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        rv(
            s.decapsulate_key(&Mechanism::MlKem, private, &readable_aes(), ct)
                .unwrap_err()
        ),
        RvError::KeyFunctionNotPermitted
    );
    // A mechanism that is not a KEM.
    let (p2, _) = generate(&s, MlKemParameterSetType::ML_KEM_512);
    assert_eq!(
        rv(s.encapsulate_key(&Mechanism::AesEcb, p2, &readable_aes())
            .unwrap_err()),
        RvError::MechanismInvalid
    );
    // An RSA key has no CKA_ENCAPSULATE (the attribute engine's code for an attribute the
    // class and key type do not have).
    assert_eq!(
        rv(s.create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(vec![0xc5; 256]),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Encapsulate(true),
        ])
        .unwrap_err()),
        RvError::TemplateInconsistent
    );
}

/// The 3.2 function list, for the calls the `cryptoki` crate makes only through its own checks.
fn raw32(_env: &Env) -> &'static CK_FUNCTION_LIST_3_2 {
    // The module the Env loaded, loaded again: the same library, kept for the process.
    let lib: &'static libloading::Library = Box::leak(Box::new(
        unsafe { libloading::Library::new(module_path()) }.unwrap(),
    ));
    let get: libloading::Symbol<
        unsafe extern "C" fn(
            *mut CK_UTF8CHAR,
            *mut CK_VERSION,
            *mut *mut CK_INTERFACE,
            CK_FLAGS,
        ) -> CK_RV,
    > = unsafe { lib.get(b"C_GetInterface").unwrap() };
    let mut v = CK_VERSION { major: 3, minor: 2 };
    let mut iface: *mut CK_INTERFACE = std::ptr::null_mut();
    let r = unsafe { get(c"PKCS 11".as_ptr() as *mut _, &mut v, &mut iface, 0) };
    assert_eq!(r, CKR_OK);
    unsafe { &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_2) }
}

/// C_VerifySignatureInit / C_VerifySignature / _Update / _Final (PKCS #11 3.2) with ML-DSA and
/// ECDSA: a good signature verifies in one part and in several; a bad one is
/// CKR_SIGNATURE_INVALID; the operation ends either way; a second init while one is active is
/// CKR_OPERATION_ACTIVE.
#[test]
fn verify_signature_with_the_signature_first() {
    let env = Env::new();
    let s = env.user();
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::MlDsaKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_44.into()),
                Attribute::Verify(true),
            ],
            &[Attribute::Token(false), Attribute::Sign(true)],
        )
        .unwrap();
    let m = Mechanism::MlDsa(SignAdditionalContext::new(
        HedgeType::Required,
        Some(b"ctx"),
    ));
    let msg = b"the message signed first";
    let sig = s.sign(&m, private, msg).unwrap();
    s.verify_signature_init(&m, public, &sig).unwrap();
    assert_eq!(
        rv(s.verify_signature_init(&m, public, &sig).unwrap_err()),
        RvError::OperationActive
    );
    s.verify_signature(msg).unwrap();
    assert_eq!(
        rv(s.verify_signature(msg).unwrap_err()),
        RvError::OperationNotInitialized
    );
    s.verify_signature_init(&m, public, &sig).unwrap();
    s.verify_signature_update(&msg[..5]).unwrap();
    s.verify_signature_update(&msg[5..]).unwrap();
    s.verify_signature_final().unwrap();
    let mut bad = sig.clone();
    bad[10] ^= 1;
    s.verify_signature_init(&m, public, &bad).unwrap();
    assert_eq!(
        rv(s.verify_signature(msg).unwrap_err()),
        RvError::SignatureInvalid
    );
    s.verify_signature_init(&m, public, &sig[1..]).unwrap();
    assert_eq!(
        rv(s.verify_signature(msg).unwrap_err()),
        RvError::SignatureLenRange
    );
    // ECDSA, and a key without CKA_VERIFY.
    let (ep, ek) = ec_pair(&s, OID_P256);
    let sig = s.sign(&Mechanism::EcdsaSha256, ek, msg).unwrap();
    s.verify_signature_init(&Mechanism::EcdsaSha256, ep, &sig)
        .unwrap();
    s.verify_signature(msg).unwrap();
    s.verify_signature_init(&Mechanism::EcdsaSha256, ep, &sig)
        .unwrap();
    assert_eq!(
        rv(s.verify_signature(b"another message").unwrap_err()),
        RvError::SignatureInvalid
    );
    s.update_attributes(ep, &[Attribute::Verify(false)])
        .unwrap();
    assert_eq!(
        rv(s.verify_signature_init(&Mechanism::EcdsaSha256, ep, &sig)
            .unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    // The private key is not a verification key.
    assert_eq!(
        rv(s.verify_signature_init(&Mechanism::EcdsaSha256, ek, &sig)
            .unwrap_err()),
        RvError::KeyTypeInconsistent
    );
}

/// Encapsulation in this process, decapsulation in another: the child process loads the module,
/// logs in to the same token, finds the private key by its label and decapsulates the ciphertext
/// this process made; its secret is the one this process got.
#[test]
fn encapsulate_here_decapsulate_in_another_process() {
    let env = Env::new();
    let s = env.user();
    let (public, _) = s
        .generate_key_pair(
            &Mechanism::MlKemKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Label(b"kem".to_vec()),
                Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_1024.into()),
            ],
            &[Attribute::Token(true), Attribute::Label(b"kem".to_vec())],
        )
        .unwrap();
    let (ct, k) = s
        .encapsulate_key(&Mechanism::MlKem, public, &readable_aes())
        .unwrap();
    let want = secret_of(&s, k);
    let ct_file = env.dir.path().join("ciphertext");
    std::fs::write(&ct_file, &ct).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kem_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERROHSM_CONF", env.dir.path().join("ferrohsm.conf"))
        .env("FERROHSM_MODULE", module_path())
        .env("FERROHSM_TEST_KEM_CT", &ct_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = text
        .lines()
        .find_map(|l| l.split("SECRET=").nth(1))
        .unwrap_or_else(|| panic!("no SECRET= line:\n{text}"));
    assert_eq!(got.trim(), hex::encode(&want));
}

/// The other process of the test above (run only by it).
#[test]
#[ignore]
fn kem_child() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    let Ok(ct_file) = std::env::var("FERROHSM_TEST_KEM_CT") else {
        return;
    };
    let ct = std::fs::read(ct_file).unwrap();
    let p = Pkcs11::new(module_path()).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = p.get_slots_with_initialized_token().unwrap()[0];
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))
        .unwrap();
    let private = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"kem".to_vec()),
        ])
        .unwrap();
    assert_eq!(private.len(), 1);
    let k = s
        .decapsulate_key(&Mechanism::MlKem, private[0], &readable_aes(), &ct)
        .unwrap();
    println!("SECRET={}", hex::encode(secret_of(&s, k)));
}
