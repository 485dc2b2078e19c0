//! `ferrohsm-util --import` of post-quantum keys: ML-DSA and ML-KEM PKCS#8 in the three forms of
//! the IETF LAMPS drafts (seed, expanded key, both), SLH-DSA PKCS#8, and their public keys alone
//! from a SubjectPublicKeyInfo; the imported keys are the right keys (their public key is the one
//! the `ml-dsa` / `ml-kem` / `slh-dsa` crates compute, a signature verifies), sensitive; bad files
//! are refused with an ERROR line and leave nothing.

mod common;
mod support;

use common::*;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use support::{util, Env};

const TOKEN: &str = "pq";

/// DER: a tag, a length, the content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

/// NIST's OID 2.16.840.1.101.3.4.<a>.<b>, DER.
fn nist_oid(a: u8, b: u8) -> Vec<u8> {
    tlv(0x06, &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, a, b])
}

/// A PKCS#8 PrivateKeyInfo (version 0, no parameters) around `private_key`.
fn pkcs8(a: u8, b: u8, private_key: &[u8]) -> Vec<u8> {
    let mut body = tlv(0x02, &[0]);
    body.extend(tlv(0x30, &nist_oid(a, b)));
    body.extend(tlv(0x04, private_key));
    tlv(0x30, &body)
}

fn spki(a: u8, b: u8, public_key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(public_key);
    let mut body = tlv(0x30, &nist_oid(a, b));
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64ct::{Base64, Encoding};
    let b = Base64::encode_string(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for c in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(c).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn import(env: &Env, file: &std::path::Path, label: &str, id: &str) -> support::Out {
    util(
        &env.conf,
        &[
            "--import",
            file.to_str().unwrap(),
            "--token",
            TOKEN,
            "--label",
            label,
            "--id",
            id,
            "--pin",
            USER_PIN,
        ],
    )
}

fn find(s: &Session, class: ObjectClass, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Class(class), Attribute::Label(label.into())])
        .unwrap()
}

fn value(s: &Session, h: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(h, &[AttributeType::Value]).unwrap().pop() {
        Some(Attribute::Value(v)) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn import_post_quantum_keys() {
    use ml_dsa::{ExpandedSigningKey, MlDsa65};
    let env = Env::new("log.level = ERROR\n");
    env.make_token(TOKEN);
    let f = env.fixture();
    let slot = support::slot_by_label(&f, TOKEN).unwrap();
    let s = f.user_session(slot);
    let dir = env.dir.path();

    // ML-DSA-65 from a seed: the expanded key and public key the `ml-dsa` crate computes.
    let seed = [0x42u8; 32];
    let sk = ExpandedSigningKey::<MlDsa65>::from_seed(&seed.into());
    let pk = sk.verifying_key().encode().to_vec();
    #[allow(deprecated)]
    let expanded = sk.to_expanded().to_vec();
    let forms: [(&str, Vec<u8>); 3] = [
        ("seed", tlv(0x80, &seed)),
        ("expanded", tlv(0x04, &expanded)),
        (
            "both",
            tlv(0x30, &[tlv(0x04, &seed), tlv(0x04, &expanded)].concat()),
        ),
    ];
    for (i, (form, key)) in forms.iter().enumerate() {
        let file = dir.join(format!("mldsa-{form}.pem"));
        std::fs::write(&file, pem("PRIVATE KEY", &pkcs8(3, 18, key))).unwrap();
        let label = format!("mldsa-{form}");
        let o = import(&env, &file, &label, &format!("a{i}"));
        assert!(o.ok(), "{o}");
        assert!(o.stdout.contains("The key pair has been imported."), "{o}");
        let private = find(&s, ObjectClass::PRIVATE_KEY, &label);
        let public = find(&s, ObjectClass::PUBLIC_KEY, &label);
        assert_eq!((private.len(), public.len()), (1, 1), "{form}");
        assert_eq!(value(&s, public[0]), pk, "{form}: the public key");
        let m = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None));
        let sig = s.sign(&m, private[0], b"imported").unwrap();
        s.verify(&m, public[0], b"imported", &sig).unwrap();
        // Sensitive: the private values cannot be read.
        assert!(s
            .get_attributes(private[0], &[AttributeType::Value, AttributeType::Seed])
            .unwrap()
            .is_empty());
    }

    // ML-KEM-768 from a seed (64 bytes), and its public key alone from an SPKI.
    let kseed = [0x17u8; 64];
    let dk = ml_kem::DecapsulationKey::<ml_kem::MlKem768>::from_seed(kseed.into());
    let ek = ml_kem::KeyExport::to_bytes(dk.encapsulation_key()).to_vec();
    let file = dir.join("mlkem.der");
    std::fs::write(&file, pkcs8(4, 2, &tlv(0x80, &kseed))).unwrap();
    let o = import(&env, &file, "mlkem", "b0");
    assert!(o.ok(), "{o}");
    let public = find(&s, ObjectClass::PUBLIC_KEY, "mlkem");
    assert_eq!(value(&s, public[0]), ek);
    let (ct, k1) = s
        .encapsulate_key(&Mechanism::MlKem, public[0], &[Attribute::Token(false)])
        .unwrap();
    let private = find(&s, ObjectClass::PRIVATE_KEY, "mlkem");
    s.decapsulate_key(
        &Mechanism::MlKem,
        private[0],
        &[Attribute::Token(false)],
        &ct,
    )
    .unwrap();
    let _ = k1;
    let file = dir.join("mlkem-pub.pem");
    std::fs::write(&file, pem("PUBLIC KEY", &spki(4, 2, &ek))).unwrap();
    let o = import(&env, &file, "mlkem-pub", "b1");
    assert!(
        o.stdout.contains("The public key has been imported."),
        "{o}"
    );
    let public = find(&s, ObjectClass::PUBLIC_KEY, "mlkem-pub");
    assert_eq!(value(&s, public[0]), ek);

    // SLH-DSA-SHAKE-128f (id-slh-dsa-shake-128f, .3.27; CKP_SLH_DSA_SHAKE_128F = 4).
    let sk = slh_dsa::SigningKey::<slh_dsa::Shake128f>::slh_keygen_internal(
        &[1u8; 16], &[2u8; 16], &[3u8; 16],
    );
    let file = dir.join("slh.der");
    std::fs::write(&file, pkcs8(3, 27, &sk.to_vec())).unwrap();
    let o = import(&env, &file, "slh", "c0");
    assert!(o.ok(), "{o}");
    let public = find(&s, ObjectClass::PUBLIC_KEY, "slh");
    assert_eq!(value(&s, public[0]), sk.as_ref().to_vec());
    match s
        .get_attributes(public[0], &[AttributeType::ParameterSet])
        .unwrap()
        .pop()
    {
        Some(Attribute::ParameterSet(p)) => assert_eq!(*cryptoki::types::Ulong::from(p), 4),
        other => panic!("{other:?}"),
    }

    // Refused, with nothing left behind: a seed of the wrong length, seed and expanded key of
    // different keys, an unknown arc, parameters on the algorithm.
    let other = ExpandedSigningKey::<MlDsa65>::from_seed(&[7u8; 32].into());
    #[allow(deprecated)]
    let other_expanded = other.to_expanded().to_vec();
    let before = s.find_objects(&[]).unwrap().len();
    for (name, der) in [
        ("short-seed", pkcs8(3, 18, &tlv(0x80, &seed[..31]))),
        (
            "mismatch",
            pkcs8(
                3,
                18,
                &tlv(
                    0x30,
                    &[tlv(0x04, &seed), tlv(0x04, &other_expanded)].concat(),
                ),
            ),
        ),
        ("unknown", pkcs8(3, 40, &tlv(0x80, &seed))),
    ] {
        let file = dir.join(format!("{name}.der"));
        std::fs::write(&file, der).unwrap();
        let o = import(&env, &file, name, "dd");
        assert!(!o.ok(), "{name}: accepted\n{o}");
        assert!(o.stderr.starts_with("ERROR: "), "{name}: {o}");
    }
    assert_eq!(s.find_objects(&[]).unwrap().len(), before);
}
