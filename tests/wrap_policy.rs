//! The key management attacks of Bortolozzo, Centenaro, Focardi and Steel ("Attacking and Fixing
//! PKCS#11 Security Tokens", CCS 2010), each a case that MUST FAIL under ferrohsm's default
//! policy (`wrap.policy = sensitive`, docs/CRYPTO.md "Key management policy"), and the clients'
//! legitimate uses that must keep working. `wrap.policy = spec` (SoftHSM's behaviour) is shown
//! letting the first attack through, so the tests prove they test something.
//!
//! The attacker holds the user PIN and wants the value of a sensitive key.

mod crypto_common;

use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

const KW: Mechanism = Mechanism::AesKeyWrap;

/// The victim: a sensitive AES key that may be wrapped (CKA_EXTRACTABLE), as backups need.
fn victim(s: &Session) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::ValueLen(32.into()),
            Attribute::Sensitive(true),
            Attribute::Extractable(true),
        ],
    )
    .unwrap()
}

fn aes(s: &Session, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![Attribute::ValueLen(32.into())];
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}

/// A key management key as a careful application makes it: generated sensitive, wraps and
/// unwraps, never encrypts or decrypts.
fn kmk(s: &Session) -> ObjectHandle {
    aes(
        s,
        &[
            Attribute::Sensitive(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
        ],
    )
}

fn aes_template(extra: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
    ];
    t.extend_from_slice(extra);
    t
}

fn err<T: std::fmt::Debug>(r: cryptoki::error::Result<T>) -> RvError {
    rv(r.unwrap_err())
}

fn sensitive(s: &Session, k: ObjectHandle) -> bool {
    matches!(
        s.get_attributes(k, &[AttributeType::Sensitive]).unwrap()[..],
        [Attribute::Sensitive(true)]
    )
}

#[test]
fn attack_wrap_decrypt_fails() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    // One key with CKA_WRAP and CKA_DECRYPT (the default of every secret key).
    let k = aes(&s, &[Attribute::Wrap(true), Attribute::Decrypt(true)]);
    assert_eq!(err(s.wrap_key(&KW, k, v)), RvError::KeyNotWrappable);
    // With a padding mode too (the blob would decrypt with C_Decrypt).
    assert_eq!(
        err(s.wrap_key(&Mechanism::AesCbcPad([0; 16]), k, v)),
        RvError::KeyNotWrappable
    );
}

#[test]
fn under_spec_policy_the_wrap_decrypt_attack_succeeds() {
    // What SoftHSM 2.6.1 allows: the sensitive key comes out in the clear.
    let env = Env::with_conf("wrap.policy = spec");
    let s = env.user();
    let v = victim(&s);
    let k = aes(&s, &[Attribute::Wrap(true), Attribute::Decrypt(true)]);
    let blob = s.wrap_key(&Mechanism::AesCbcPad([0; 16]), k, v).unwrap();
    let clear = s.decrypt(&Mechanism::AesCbcPad([0; 16]), k, &blob).unwrap();
    assert_eq!(clear.len(), 32, "the victim's value, revealed");
    // ...although the token would not show it.
    assert!(!s
        .get_attributes(v, &[AttributeType::Value])
        .unwrap()
        .iter()
        .any(|a| matches!(a, Attribute::Value(_))));
}

#[test]
fn attack_asymmetric_wrap_decrypt_fails() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    // The public key wraps, its private key decrypts.
    let (pk, _sk) = rsa_pair(&s, 2048, &[]);
    assert_eq!(
        err(s.wrap_key(&Mechanism::RsaPkcs, pk, v)),
        RvError::KeyNotWrappable
    );
}

#[test]
fn attack_encrypt_unwrap_fails() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    // A key that encrypts and unwraps: the attacker encrypts a value he knows and unwraps it as
    // a wrapping key of known value...
    let k = aes(
        &s,
        &[
            Attribute::Encrypt(true),
            Attribute::Unwrap(true),
            Attribute::Wrap(false),
        ],
    );
    let known = [0x42u8; 32];
    let blob = s.encrypt(&Mechanism::AesEcb, k, &known).unwrap();
    let known_key = s
        .unwrap_key(
            &Mechanism::AesEcb,
            k,
            &blob,
            &aes_template(&[Attribute::Wrap(true), Attribute::Decrypt(false)]),
        )
        .unwrap();
    // ...which is not allowed to wrap the sensitive key (it was not made in the token).
    assert_eq!(err(s.wrap_key(&KW, known_key, v)), RvError::KeyNotWrappable);
}

#[test]
fn attack_encrypt_unwrap_fails_at_unwrap_under_strict() {
    let env = Env::with_conf("wrap.policy = strict");
    let s = env.user();
    let k = aes(&s, &[Attribute::Encrypt(true), Attribute::Unwrap(true)]);
    let blob = s.encrypt(&Mechanism::AesEcb, k, &[0x42u8; 32]).unwrap();
    assert_eq!(
        err(s.unwrap_key(&Mechanism::AesEcb, k, &blob, &aes_template(&[]))),
        RvError::KeyFunctionNotPermitted
    );
}

#[test]
fn attack_import_own_wrapping_key_fails() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    // A wrapping key whose value the attacker chose (C_CreateObject), without CKA_DECRYPT.
    let mine = s
        .create_object(&aes_template(&[
            Attribute::Value(vec![0x13; 32]),
            Attribute::Wrap(true),
            Attribute::Decrypt(false),
        ]))
        .unwrap();
    assert_eq!(err(s.wrap_key(&KW, mine, v)), RvError::KeyNotWrappable);
    // An RSA public key of the attacker's (he holds the private key elsewhere).
    let (pk, _) = rsa_pair(&s, 2048, &[]);
    let n = bytes_attr(&s, pk, AttributeType::Modulus);
    let imported = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(n),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Wrap(true),
        ])
        .unwrap();
    assert_eq!(
        err(s.wrap_key(&Mechanism::RsaPkcs, imported, v)),
        RvError::KeyNotWrappable
    );
}

#[test]
fn attack_reimport_with_weaker_attributes_fails() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    let w = kmk(&s);
    // Legitimate: the key management key wraps the sensitive key.
    let blob = s.wrap_key(&KW, w, v).unwrap();
    // Re-import as a readable key: refused.
    assert_eq!(
        err(s.unwrap_key(
            &KW,
            w,
            &blob,
            &aes_template(&[Attribute::Sensitive(false), Attribute::Extractable(true)])
        )),
        RvError::TemplateInconsistent
    );
    // Re-import without saying: it comes out sensitive.
    let copy = s.unwrap_key(&KW, w, &blob, &aes_template(&[])).unwrap();
    assert!(sensitive(&s, copy));
    // Re-import twice, once as a wrapping key and once as a decryption key (each key alone has
    // no conflict): the wrapping copy cannot wrap a sensitive key, so nothing reaches the other.
    let as_wrap = s
        .unwrap_key(
            &KW,
            w,
            &blob,
            &aes_template(&[Attribute::Wrap(true), Attribute::Decrypt(false)]),
        )
        .unwrap();
    let as_decrypt = s
        .unwrap_key(
            &KW,
            w,
            &blob,
            &aes_template(&[Attribute::Wrap(false), Attribute::Decrypt(true)]),
        )
        .unwrap();
    let v2 = victim(&s);
    assert_eq!(err(s.wrap_key(&KW, as_wrap, v2)), RvError::KeyNotWrappable);
    let _ = as_decrypt;
}

#[test]
fn attack_turn_on_decrypt_after_wrapping_fails() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    let w = kmk(&s);
    let blob = s.wrap_key(&Mechanism::AesCbcPad([0; 16]), w, v).unwrap();
    // The check passed because the key could not decrypt; it cannot learn to afterwards.
    assert_eq!(
        err(s.update_attributes(w, &[Attribute::Decrypt(true)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        err(s.copy_object(w, &[Attribute::Decrypt(true)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        err(s.decrypt(&Mechanism::AesCbcPad([0; 16]), w, &blob)),
        RvError::KeyFunctionNotPermitted
    );
    // Nor can a decryption key learn to wrap, or an unwrapping key to encrypt.
    let d = aes(&s, &[Attribute::Decrypt(true), Attribute::Wrap(false)]);
    assert_eq!(
        err(s.update_attributes(d, &[Attribute::Wrap(true)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        err(s.update_attributes(w, &[Attribute::Encrypt(true)])),
        RvError::AttributeReadOnly
    );
}

#[test]
fn attack_sensitive_to_readable_fails() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    assert_eq!(
        err(s.update_attributes(v, &[Attribute::Sensitive(false)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        err(s.copy_object(v, &[Attribute::Sensitive(false)])),
        RvError::AttributeReadOnly
    );
    let stuck = aes(&s, &[Attribute::Extractable(false)]);
    assert_eq!(
        err(s.update_attributes(stuck, &[Attribute::Extractable(true)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        err(s.copy_object(stuck, &[Attribute::Extractable(true)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        err(s.wrap_key(&KW, kmk(&s), stuck)),
        RvError::KeyUnextractable
    );
}

#[test]
fn attack_self_made_trusted_key_fails() {
    let env = Env::new();
    let s = env.user();
    let v = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
                Attribute::WrapWithTrusted(true),
            ],
        )
        .unwrap();
    assert_eq!(
        err(s.create_object(&aes_template(&[
            Attribute::Value(vec![7; 32]),
            Attribute::Trusted(true),
        ]))),
        RvError::AttributeReadOnly
    );
    let w = kmk(&s);
    assert_eq!(
        err(s.update_attributes(w, &[Attribute::Trusted(true)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(err(s.wrap_key(&KW, w, v)), RvError::KeyNotWrappable);
}

// ---- what legitimate clients do keeps working ---------------------------------------------------

#[test]
fn legit_multi_purpose_key_wraps_readable_keys() {
    // python-pkcs11's tests: a key with every capability wraps an extractable, non-sensitive key
    // and unwraps it readable again.
    for policy in ["sensitive", "spec"] {
        let env = Env::with_conf(&format!("wrap.policy = {policy}"));
        let s = env.user();
        let k = aes(
            &s,
            &[
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Sign(true),
            ],
        );
        let data = aes(
            &s,
            &[Attribute::Extractable(true), Attribute::Sensitive(false)],
        );
        let blob = s.wrap_key(&KW, k, data).unwrap();
        let back = s
            .unwrap_key(
                &KW,
                k,
                &blob,
                &aes_template(&[Attribute::Extractable(true), Attribute::Sensitive(false)]),
            )
            .unwrap();
        assert_eq!(
            bytes_attr(&s, back, AttributeType::Value),
            bytes_attr(&s, data, AttributeType::Value)
        );
    }
}

#[test]
fn legit_key_management_key_carries_sensitive_keys() {
    let env = Env::new();
    let s = env.user();
    let v = victim(&s);
    let w = kmk(&s);
    let blob = s.wrap_key(&KW, w, v).unwrap();
    let back = s.unwrap_key(&KW, w, &blob, &aes_template(&[])).unwrap();
    assert!(sensitive(&s, back));
    let x = [9u8; 16];
    assert_eq!(
        s.encrypt(&Mechanism::AesEcb, back, &x).unwrap(),
        s.encrypt(&Mechanism::AesEcb, v, &x).unwrap()
    );
}

#[test]
fn legit_migration_to_a_trusted_public_key() {
    // The SO marks the public key of another token trusted; sensitive keys may go to it.
    let env = Env::new();
    let (n, e) = {
        let s = env.user();
        let (pk, _) = rsa_pair(&s, 2048, &[]);
        let n = bytes_attr(&s, pk, AttributeType::Modulus);
        s.logout().unwrap();
        (n, vec![1, 0, 1])
    };
    let target = {
        let so = env.p().open_rw_session(env.slot).unwrap();
        so.login(UserType::So, Some(&AuthPin::new(SO_PIN.into())))
            .unwrap();
        let t = so
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Modulus(n),
                Attribute::PublicExponent(e),
                Attribute::Token(true),
                Attribute::Wrap(true),
                Attribute::Trusted(true),
            ])
            .unwrap();
        so.logout().unwrap();
        t
    };
    let s = env.user();
    let v = victim(&s);
    // The matching private key in this token can decrypt (rsa_pair): still refused, since the
    // blob would be readable here.
    assert_eq!(
        err(s.wrap_key(&Mechanism::RsaPkcs, target, v)),
        RvError::KeyNotWrappable
    );
    // Once the private key here cannot decrypt, the trusted key carries the sensitive key.
    let privs = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
        ])
        .unwrap();
    for p in privs {
        s.destroy_object(p).unwrap();
    }
    let blob = s.wrap_key(&Mechanism::RsaPkcs, target, v).unwrap();
    assert_eq!(blob.len(), 256);
}

#[test]
fn strict_policy_protects_every_key() {
    let env = Env::with_conf("wrap.policy = strict");
    let s = env.user();
    let k = aes(&s, &[Attribute::Wrap(true), Attribute::Decrypt(true)]);
    let data = aes(
        &s,
        &[Attribute::Extractable(true), Attribute::Sensitive(false)],
    );
    assert_eq!(err(s.wrap_key(&KW, k, data)), RvError::KeyNotWrappable);
    let w = kmk(&s);
    let blob = s.wrap_key(&KW, w, data).unwrap();
    assert_eq!(
        err(s.unwrap_key(&KW, w, &blob, &aes_template(&[Attribute::Sensitive(false)]))),
        RvError::TemplateInconsistent
    );
    let back = s.unwrap_key(&KW, w, &blob, &aes_template(&[])).unwrap();
    assert!(sensitive(&s, back));
}
