//! Key families (issue 7) through the built module and `ferrohsm-util`: rotation makes the newest
//! version the one a label finds, older versions verify (by kid) but cannot sign, disabled
//! versions are refused for every use, the newest cannot be disabled, retire destroys only
//! disabled versions; the same through PKCS#11 alone (vendor attribute in a key generation
//! template); the public keys as a JWKS verify JWTs signed on the token (checked with Python's
//! jwcrypto, an independent JOSE implementation).
mod common;
mod support;

use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use support::{util, Env, Out};

pub const CKA_FERROHSM_KEY_FAMILY: CK_ULONG = 0xC645_0001;
pub const CKA_FERROHSM_KEY_VERSION: CK_ULONG = 0xC645_0002;
pub const CKA_FERROHSM_KEY_DISABLED: CK_ULONG = 0xC645_0003;
pub const CKA_FERROHSM_KEY_CREATED: CK_ULONG = 0xC645_0004;
pub const CKA_FERROHSM_KEY_ALG: CK_ULONG = 0xC645_0005;
pub const CKA_FERROHSM_KEY_CERT: CK_ULONG = 0xC645_0006;

const TOKEN: &str = "keys";

fn env() -> Env {
    let e = Env::new("log.level = ERROR\n");
    e.make_token(TOKEN);
    e
}

/// `ferrohsm-util key ARGS --token keys --pin 1234`.
fn key(env: &Env, args: &[&str]) -> Out {
    let mut a = vec!["key"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--token", TOKEN, "--pin", USER_PIN]);
    util(&env.conf, &a)
}

#[track_caller]
fn key_ok(env: &Env, args: &[&str]) -> Out {
    let o = key(env, args);
    assert!(o.ok(), "ferrohsm-util key {args:?}:\n{o}");
    o
}

#[track_caller]
fn key_fails(env: &Env, args: &[&str], msg: &str) -> Out {
    let o = key(env, args);
    assert_eq!(
        o.code,
        Some(1),
        "ferrohsm-util key {args:?} must fail:\n{o}"
    );
    assert!(
        o.stderr.starts_with("ERROR: ") && o.stderr.contains(msg),
        "ferrohsm-util key {args:?}: expected an ERROR line with {msg:?}:\n{o}"
    );
    o
}

fn kid(fam: &str, v: u64) -> String {
    format!("{fam}.v{v}")
}

fn rv<T: std::fmt::Debug>(r: cryptoki::error::Result<T>) -> RvError {
    match r {
        Err(cryptoki::error::Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

fn find(s: &Session, t: &[Attribute]) -> Vec<ObjectHandle> {
    s.find_objects(t).expect("C_FindObjects")
}

#[track_caller]
fn one(s: &Session, t: &[Attribute]) -> ObjectHandle {
    let v = find(s, t);
    assert_eq!(
        v.len(),
        1,
        "exactly one object expected for {t:?}, got {}",
        v.len()
    );
    v[0]
}

fn by_label(s: &Session, class: ObjectClass, label: &str) -> Vec<ObjectHandle> {
    find(
        s,
        &[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ],
    )
}

#[track_caller]
fn by_kid(s: &Session, class: ObjectClass, kid: &str) -> ObjectHandle {
    one(
        s,
        &[
            Attribute::Class(class),
            Attribute::Id(kid.as_bytes().to_vec()),
        ],
    )
}

fn ulong_attr(s: &Session, h: ObjectHandle, ty: CK_ULONG) -> CK_ULONG {
    get_ulong(s, h, AttributeType::VendorDefined(ty))
}

fn bool_attr(s: &Session, h: ObjectHandle, ty: CK_ULONG) -> bool {
    get_bool(s, h, AttributeType::VendorDefined(ty))
}

/// The kinds of family the tests rotate.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Rsa,
    Ec,
    Hmac,
    MlDsa,
}

impl Kind {
    fn cli_type(self) -> &'static str {
        match self {
            Kind::Rsa => "rsa:2048",
            Kind::Ec => "ec:P-256",
            Kind::Hmac => "hmac:32",
            Kind::MlDsa => "ml-dsa-65",
        }
    }
    fn mech(self) -> Mechanism<'static> {
        match self {
            Kind::Rsa => Mechanism::Sha256RsaPkcs,
            Kind::Ec => Mechanism::EcdsaSha256,
            Kind::Hmac => Mechanism::Sha256Hmac,
            Kind::MlDsa => Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None)),
        }
    }
    /// The class that signs and the class that verifies.
    fn classes(self) -> (ObjectClass, ObjectClass) {
        match self {
            Kind::Hmac => (ObjectClass::SECRET_KEY, ObjectClass::SECRET_KEY),
            _ => (ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY),
        }
    }
}

/// Every object of a family is labelled as the rotation rules say: exactly one object per class
/// labelled with the family, the newest version; the others labelled with their kid.
#[track_caller]
fn check_labels(s: &Session, fam: &str, kind: Kind, newest: u64, versions: &[u64]) {
    let (sc, vc) = kind.classes();
    let mut classes = vec![sc];
    if vc != sc {
        classes.push(vc);
    }
    for c in classes {
        let n = by_label(s, c, fam);
        assert_eq!(n.len(), 1, "{fam}: one {c:?} labelled with the family");
        let id = get_bytes(s, n[0], AttributeType::Id);
        assert_eq!(
            id,
            kid(fam, newest).as_bytes(),
            "{fam}: the label finds the newest"
        );
        assert_eq!(
            ulong_attr(s, n[0], CKA_FERROHSM_KEY_VERSION),
            newest as CK_ULONG
        );
        for &v in versions.iter().filter(|&&v| v != newest) {
            let h = by_kid(s, c, &kid(fam, v));
            assert_eq!(get_label(s, h), kid(fam, v).as_bytes(), "{fam} v{v} label");
        }
    }
}

/// Rotates three times with the CLI; after each rotation the label signs with the newest version
/// only. Returns the signature made by each version (index = version - 1).
fn rotate_three(env: &Env, s: &Session, fam: &str, kind: Kind, msg: &[u8]) -> Vec<Vec<u8>> {
    let (sc, vc) = kind.classes();
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for v in 1..=3u64 {
        let o = key_ok(env, &["rotate", fam, "--type", kind.cli_type()]);
        assert!(
            o.stdout
                .contains(&format!("version {v} ({}) is the newest", kid(fam, v))),
            "{o}"
        );
        check_labels(s, fam, kind, v, &(1..=v).collect::<Vec<_>>());
        let signer = by_label(s, sc, fam);
        assert_eq!(signer.len(), 1);
        let sig = s
            .sign(&kind.mech(), signer[0], msg)
            .expect("sign with the label");
        // Verifies under the newest version, not under the previous one.
        let newest = by_kid(s, vc, &kid(fam, v));
        s.verify(&kind.mech(), newest, msg, &sig)
            .expect("the label's signature verifies under the newest version");
        if v > 1 {
            let prev = by_kid(s, vc, &kid(fam, v - 1));
            assert_eq!(
                rv(s.verify(&kind.mech(), prev, msg, &sig)),
                RvError::SignatureInvalid,
                "{fam}: the label signed with v{v}, not v{}",
                v - 1
            );
        }
        sigs.push(sig);
    }
    sigs
}

fn lifecycle(kind: Kind) {
    let env = env();
    let f = env.fixture();
    let slot = support::slot_by_label(&f, TOKEN).unwrap();
    let s = f.user_session(slot);
    let fam = format!("fam-{kind:?}").to_lowercase();
    let fam = fam.as_str();
    let msg = b"payload to sign";
    let (sc, vc) = kind.classes();
    let m = kind.mech();
    let sigs = rotate_three(&env, &s, fam, kind, msg);

    // Older versions: found by kid, verify what they signed, cannot sign any more.
    for v in 1..=3u64 {
        let signer = by_kid(&s, sc, &kid(fam, v));
        let verifier = by_kid(&s, vc, &kid(fam, v));
        s.verify(&m, verifier, msg, &sigs[v as usize - 1])
            .unwrap_or_else(|e| panic!("{fam} v{v} verifies its own signature: {e:?}"));
        assert_eq!(
            get_bool(&s, signer, AttributeType::Sign),
            v == 3,
            "{fam} v{v} CKA_SIGN"
        );
        assert!(get_bool(&s, verifier, AttributeType::Verify));
        if v < 3 {
            assert_eq!(
                rv(s.sign(&m, signer, msg)),
                RvError::KeyFunctionNotPermitted,
                "{fam} v{v} cannot sign"
            );
            // ... and cannot be given CKA_SIGN back.
            assert_eq!(
                rv(s.update_attributes(signer, &[Attribute::Sign(true)])),
                RvError::ActionProhibited,
                "{fam} v{v}: CKA_SIGN true on an older version"
            );
        }
        assert!(!bool_attr(&s, signer, CKA_FERROHSM_KEY_DISABLED));
        assert_eq!(
            get_bytes(
                &s,
                signer,
                AttributeType::VendorDefined(CKA_FERROHSM_KEY_FAMILY)
            ),
            fam.as_bytes()
        );
    }
    let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ));
    if kind == Kind::Rsa {
        // Decryption stays allowed on an older version.
        let ct = s
            .encrypt(&oaep, by_kid(&s, vc, &kid(fam, 1)), b"secret")
            .unwrap();
        let pt = s.decrypt(&oaep, by_kid(&s, sc, &kid(fam, 1)), &ct).unwrap();
        assert_eq!(pt, b"secret");
    }

    // versions
    let o = key_ok(&env, &["versions", fam]);
    let rows: Vec<Vec<String>> = o
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 3, "{o}");
    let algo = kind.cli_type();
    let iso = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
    for (i, st) in ["enabled", "enabled", "newest"].iter().enumerate() {
        let r = &rows[i];
        assert_eq!(r[0], (i + 1).to_string(), "{o}");
        assert_eq!(r[1], *st, "{o}");
        assert_eq!(r[2], algo, "{o}");
        assert!(iso.is_match(&r[4]), "{o}");
        assert_eq!(r[5], kid(fam, i as u64 + 1), "{o}");
    }

    // The newest version cannot be disabled (CLI and PKCS#11).
    key_fails(&env, &["disable", fam, "--version", "3"], "newest");
    assert_eq!(
        rv(s.update_attributes(
            by_label(&s, sc, fam)[0],
            &[raw_attr(CKA_FERROHSM_KEY_DISABLED, vec![1])]
        )),
        RvError::ActionProhibited
    );
    key_fails(&env, &["retire", fam, "--version", "3"], "newest");
    key_fails(&env, &["retire", fam, "--version", "2"], "disable it first");
    key_fails(&env, &["disable", fam, "--version", "9"], "no version 9");

    // Disable v2 with the CLI: every use refused.
    key_ok(&env, &["disable", fam, "--version", "2"]);
    let (s2, v2) = (by_kid(&s, sc, &kid(fam, 2)), by_kid(&s, vc, &kid(fam, 2)));
    assert!(bool_attr(&s, s2, CKA_FERROHSM_KEY_DISABLED));
    assert!(bool_attr(&s, v2, CKA_FERROHSM_KEY_DISABLED));
    assert_eq!(
        rv(s.verify(&m, v2, msg, &sigs[1])),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(rv(s.sign(&m, s2, msg)), RvError::KeyFunctionNotPermitted);
    if kind == Kind::Rsa {
        assert_eq!(
            rv(s.encrypt(&oaep, v2, b"x")),
            RvError::KeyFunctionNotPermitted
        );
        assert_eq!(
            rv(s.decrypt(&oaep, s2, &[0u8; 256])),
            RvError::KeyFunctionNotPermitted
        );
    }
    // Disable v1 through PKCS#11 (C_SetAttributeValue on each of its objects).
    let (s1, v1) = (by_kid(&s, sc, &kid(fam, 1)), by_kid(&s, vc, &kid(fam, 1)));
    for h in [s1, v1] {
        s.update_attributes(h, &[raw_attr(CKA_FERROHSM_KEY_DISABLED, vec![1])])
            .expect("disable v1 by C_SetAttributeValue");
    }
    assert_eq!(
        rv(s.verify(&m, v1, msg, &sigs[0])),
        RvError::KeyFunctionNotPermitted
    );
    let o = key_ok(&env, &["versions", fam]);
    assert!(o.stdout.lines().nth(1).unwrap().contains("disabled"), "{o}");
    assert!(o.stdout.lines().nth(2).unwrap().contains("disabled"), "{o}");
    // The newest still signs and verifies.
    let sig = s.sign(&m, by_label(&s, sc, fam)[0], msg).unwrap();
    s.verify(&m, by_kid(&s, vc, &kid(fam, 3)), msg, &sig)
        .unwrap();

    // Enable v2 again: it verifies again.
    key_ok(&env, &["enable", fam, "--version", "2"]);
    s.verify(&m, v2, msg, &sigs[1])
        .expect("re-enabled v2 verifies");
    assert!(!bool_attr(&s, s2, CKA_FERROHSM_KEY_DISABLED));
    assert_eq!(
        rv(s.sign(&m, s2, msg)),
        RvError::KeyFunctionNotPermitted,
        "still verify-only"
    );

    // Retire v1 (disabled): its objects are gone; v2 and v3 stay.
    key_ok(&env, &["retire", fam, "--version", "1"]);
    assert!(find(&s, &[Attribute::Id(kid(fam, 1).into_bytes())]).is_empty());
    let o = key_ok(&env, &["versions", fam]);
    let vs: Vec<&str> = o
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(vs, ["2", "3"], "{o}");
    // A rotation after a retire continues the numbering.
    key_ok(&env, &["rotate", fam, "--type", kind.cli_type()]);
    check_labels(&s, fam, kind, 4, &[2, 3, 4]);
    key_fails(&env, &["versions", "no-such-family"], "No key family");
}

#[test]
fn rsa_family_lifecycle() {
    lifecycle(Kind::Rsa);
}

#[test]
fn ec_family_lifecycle() {
    lifecycle(Kind::Ec);
}

#[test]
fn ml_dsa_family_lifecycle() {
    lifecycle(Kind::MlDsa);
}

/// ML-DSA families (draft-ietf-cose-dilithium): `key public --format jwk` gives an "AKP" key
/// whose "pub" is the public key, with the parameter set's JOSE "alg"; a signature made through
/// the family's label verifies with the `ml-dsa` crate under that "pub"; one JWKS holds ML-DSA and
/// classical families together, each newest first.
#[test]
fn ml_dsa_family_jwk() {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use ml_dsa::{EncodedSignature, EncodedVerifyingKey, MlDsa44, Signature, VerifyingKey};
    let env = env();
    let f = env.fixture();
    let slot = support::slot_by_label(&f, TOKEN).unwrap();
    let s = f.user_session(slot);
    let m = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None));
    // Three rotations; after each, the label signs a JWT-style input naming the newest kid.
    let mut jwts: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    for v in 1..=3u64 {
        key_ok(&env, &["rotate", "pq", "--type", "ml-dsa-44"]);
        let header = format!(r#"{{"alg":"ML-DSA-44","kid":"{}"}}"#, kid("pq", v));
        let input = format!(
            "{}.{}",
            b64url(header.as_bytes()),
            b64url(br#"{"sub":"ci"}"#)
        );
        let signer = by_label(&s, ObjectClass::PRIVATE_KEY, "pq");
        let sig = s.sign(&m, signer[0], input.as_bytes()).unwrap();
        jwts.push((kid("pq", v), input.into_bytes(), sig));
    }
    key_ok(&env, &["rotate", "classic", "--type", "ec:P-256"]);
    key_ok(&env, &["disable", "pq", "--version", "1"]);
    let o = key_ok(&env, &["public", "pq", "--format", "jwk"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["kty"], "AKP", "{o}");
    assert_eq!(j["alg"], "ML-DSA-44", "{o}");
    assert_eq!(j["kid"], kid("pq", 3), "{o}");
    let pk = Base64UrlUnpadded::decode_vec(j["pub"].as_str().unwrap()).unwrap();
    assert_eq!(pk.len(), 1312);
    let public = by_kid(&s, ObjectClass::PUBLIC_KEY, &kid("pq", 3));
    assert_eq!(get_bytes(&s, public, AttributeType::Value), pk);
    // One JWKS of both families, each newest first, the disabled version left out; each enabled
    // version's JWT verifies with the `ml-dsa` crate under the key its kid names.
    let o = key_ok(&env, &["public", "pq", "classic", "--format", "jwks"]);
    let set: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let keys = set["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [kid("pq", 3), kid("pq", 2), kid("classic", 1)], "{o}");
    let mut verified = 0;
    for (k, input, sig) in &jwts {
        let Some(jwk) = keys.iter().find(|j| j["kid"] == *k) else {
            assert_eq!(*k, kid("pq", 1), "only the disabled version is missing");
            continue;
        };
        let pk = Base64UrlUnpadded::decode_vec(jwk["pub"].as_str().unwrap()).unwrap();
        let vk = VerifyingKey::<MlDsa44>::decode(
            &EncodedVerifyingKey::<MlDsa44>::try_from(&pk[..]).unwrap(),
        );
        let sig =
            Signature::<MlDsa44>::decode(&EncodedSignature::<MlDsa44>::try_from(&sig[..]).unwrap())
                .unwrap();
        assert!(vk.verify_with_context(input, &[], &sig), "{k}");
        // ... and not under another version's key.
        let other = keys
            .iter()
            .find(|j| j["kid"] != *k && j["kty"] == "AKP")
            .unwrap();
        let pk = Base64UrlUnpadded::decode_vec(other["pub"].as_str().unwrap()).unwrap();
        let vk = VerifyingKey::<MlDsa44>::decode(
            &EncodedVerifyingKey::<MlDsa44>::try_from(&pk[..]).unwrap(),
        );
        assert!(
            !vk.verify_with_context(input, &[], &sig),
            "{k} under {}",
            other["kid"]
        );
        verified += 1;
    }
    assert_eq!(verified, 2);
    let o = key_ok(&env, &["versions", "pq"]);
    assert!(
        o.stdout.contains("ml-dsa-44") && o.stdout.contains("ML-DSA-44"),
        "{o}"
    );
    key_fails(
        &env,
        &["public", "pq", "classic", "--format", "jwk"],
        "Several families",
    );
    key_fails(
        &env,
        &["rotate", "pq2", "--type", "ml-dsa-50"],
        "Unknown key type",
    );
}

#[test]
fn hmac_family_lifecycle() {
    lifecycle(Kind::Hmac);
}

fn ec_pair_templates(fam: &[u8]) -> (Vec<Attribute>, Vec<Attribute>) {
    (
        vec![
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::Verify(true),
            raw_attr(CKA_FERROHSM_KEY_FAMILY, fam.to_vec()),
        ],
        vec![Attribute::Sign(true)],
    )
}

#[test]
fn rotation_through_pkcs11_alone() {
    let env = env();
    let f = env.fixture();
    let slot = support::slot_by_label(&f, TOKEN).unwrap();
    let s = f.user_session(slot);
    let fam = b"p11-only";
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut pairs = Vec::new();
    for v in 1..=3u64 {
        let (pt, st) = ec_pair_templates(fam);
        let (pk, sk) = s
            .generate_key_pair(&Mechanism::EccKeyPairGen, &pt, &st)
            .expect("C_GenerateKeyPair with CKA_FERROHSM_KEY_FAMILY");
        for h in [pk, sk] {
            assert_eq!(ulong_attr(&s, h, CKA_FERROHSM_KEY_VERSION), v as CK_ULONG);
            assert_eq!(
                get_bytes(&s, h, AttributeType::Id),
                kid("p11-only", v).as_bytes()
            );
            assert_eq!(get_label(&s, h), fam);
            assert_eq!(
                get_bytes(&s, h, AttributeType::VendorDefined(CKA_FERROHSM_KEY_ALG)),
                b"ES256"
            );
            let created = ulong_attr(&s, h, CKA_FERROHSM_KEY_CREATED) as u64;
            assert!(
                created >= before && created <= before + 600,
                "created {created}"
            );
            assert!(!bool_attr(&s, h, CKA_FERROHSM_KEY_DISABLED));
            assert!(get_bool(&s, h, AttributeType::Token));
        }
        assert!(get_bool(&s, sk, AttributeType::Private));
        assert!(get_bool(&s, sk, AttributeType::Sensitive));
        assert!(!get_bool(&s, sk, AttributeType::Extractable));
        assert!(get_bool(&s, sk, AttributeType::AlwaysSensitive));
        assert!(get_bool(&s, sk, AttributeType::NeverExtractable));
        if let Some((ppk, psk)) = pairs.last().copied() {
            // The previous newest was demoted in the same call.
            assert_eq!(get_label(&s, psk), kid("p11-only", v - 1).as_bytes());
            assert_eq!(get_label(&s, ppk), kid("p11-only", v - 1).as_bytes());
            assert!(!get_bool(&s, psk, AttributeType::Sign));
            assert!(get_bool(&s, ppk, AttributeType::Verify));
        }
        pairs.push((pk, sk));
    }
    check_labels(&s, "p11-only", Kind::Ec, 3, &[1, 2, 3]);
    // Version and creation time are the module's; the family cannot be changed or imported.
    let (pk3, sk3) = pairs[2];
    assert_eq!(
        rv(s.update_attributes(sk3, &[raw_attr(CKA_FERROHSM_KEY_VERSION, ulong_bytes(7))])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        rv(s.update_attributes(pk3, &[raw_attr(CKA_FERROHSM_KEY_FAMILY, b"other".to_vec())])),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        rv(s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(vec![1; 32]),
            raw_attr(CKA_FERROHSM_KEY_FAMILY, fam.to_vec()),
        ])),
        RvError::AttributeReadOnly
    );
    assert_eq!(rv(s.copy_object(sk3, &[])), RvError::ActionProhibited);
    // Label and ID are the module's.
    assert_eq!(
        rv(s.update_attributes(sk3, &[Attribute::Label(b"renamed".to_vec())])),
        RvError::ActionProhibited
    );
    assert_eq!(
        rv(s.update_attributes(pairs[0].0, &[Attribute::Id(b"x".to_vec())])),
        RvError::ActionProhibited
    );
    s.update_attributes(sk3, &[Attribute::Label(fam.to_vec())])
        .expect("setting the same label is no change");
    // Only a disabled older version can be destroyed (the newest never; an enabled one not).
    assert_eq!(rv(s.destroy_object(sk3)), RvError::ActionProhibited);
    let (pk1, sk1) = pairs[0];
    assert_eq!(rv(s.destroy_object(sk1)), RvError::ActionProhibited);
    for h in [pk1, sk1] {
        s.update_attributes(h, &[raw_attr(CKA_FERROHSM_KEY_DISABLED, vec![1])])
            .unwrap();
        s.destroy_object(h)
            .expect("destroy a disabled older version");
    }
    assert!(find(&s, &[Attribute::Id(b"p11-only.v1".to_vec())]).is_empty());
    // Templates the module refuses.
    let (mut pt, st) = ec_pair_templates(fam);
    pt.push(Attribute::Label(b"mine".to_vec()));
    assert_eq!(
        rv(s.generate_key_pair(&Mechanism::EccKeyPairGen, &pt, &st)),
        RvError::TemplateInconsistent
    );
    let (pt, mut st) = ec_pair_templates(fam);
    st.push(Attribute::Extractable(true));
    assert_eq!(
        rv(s.generate_key_pair(&Mechanism::EccKeyPairGen, &pt, &st)),
        RvError::TemplateInconsistent
    );
    let (mut pt, st) = ec_pair_templates(fam);
    pt.push(raw_attr(CKA_FERROHSM_KEY_ALG, b"RS256".to_vec()));
    assert_eq!(
        rv(s.generate_key_pair(&Mechanism::EccKeyPairGen, &pt, &st)),
        RvError::AttributeValueInvalid
    );
    let (pt, st) = ec_pair_templates(b"bad name");
    assert_eq!(
        rv(s.generate_key_pair(&Mechanism::EccKeyPairGen, &pt, &st)),
        RvError::AttributeValueInvalid
    );
    // A rotation needs the user logged in and a R/W session.
    let ro = f.ro(slot);
    let (pt, st) = ec_pair_templates(fam);
    assert_eq!(
        rv(ro.generate_key_pair(&Mechanism::EccKeyPairGen, &pt, &st)),
        RvError::SessionReadOnly
    );
    drop(ro);
    // Nothing above created a version.
    check_labels(&s, "p11-only", Kind::Ec, 3, &[2, 3]);
    // HMAC through C_GenerateKey.
    for v in 1..=2u64 {
        let k = s
            .generate_key(
                &Mechanism::GenericSecretKeyGen,
                &[
                    Attribute::ValueLen(32.into()),
                    Attribute::Sign(true),
                    Attribute::Verify(true),
                    raw_attr(CKA_FERROHSM_KEY_FAMILY, b"p11-hmac".to_vec()),
                    raw_attr(CKA_FERROHSM_KEY_ALG, b"HS512".to_vec()),
                ],
            )
            .expect("C_GenerateKey with CKA_FERROHSM_KEY_FAMILY");
        assert_eq!(ulong_attr(&s, k, CKA_FERROHSM_KEY_VERSION), v as CK_ULONG);
        assert_eq!(
            get_bytes(&s, k, AttributeType::VendorDefined(CKA_FERROHSM_KEY_ALG)),
            b"HS512"
        );
    }
    check_labels(&s, "p11-hmac", Kind::Hmac, 2, &[1, 2]);
    // The CLI sees what PKCS#11 made, and vice versa.
    let o = key_ok(&env, &["versions", "p11-only"]);
    assert_eq!(o.stdout.lines().count(), 3, "{o}");
    key_ok(&env, &["rotate", "p11-only", "--type", "ec:P-256"]);
    check_labels(&s, "p11-only", Kind::Ec, 4, &[2, 3, 4]);
    // Keys outside families are unaffected: no vendor attribute, usable as before.
    let (pk, sk) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(P256_OID.to_vec()),
                Attribute::Token(true),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
    let r = Raw::new().get_attrs(s.handle(), sk.handle(), &[(CKA_FERROHSM_KEY_FAMILY, None)]);
    assert_ck(
        r.rv,
        CKR_ATTRIBUTE_TYPE_INVALID,
        "CKA_FERROHSM_KEY_FAMILY of a key outside families",
    );
    let sig = s.sign(&Mechanism::EcdsaSha256, sk, b"m").unwrap();
    s.verify(&Mechanism::EcdsaSha256, pk, b"m", &sig).unwrap();
    // Another vendor-defined type stays unknown.
    assert_eq!(
        rv(s.update_attributes(sk, &[raw_attr(CKA_VENDOR_DEFINED | 0x1234, vec![1])])),
        RvError::AttributeTypeInvalid
    );
}

#[test]
fn rotate_with_cert_makes_a_certificate_per_version() {
    use x509_cert::der::{Decode, Encode};
    let env = env();
    let f = env.fixture();
    let slot = support::slot_by_label(&f, TOKEN).unwrap();
    let s = f.user_session(slot);
    let dir = tempfile::tempdir().unwrap();
    for (fam, ty) in [
        ("crt-rsa", "rsa:2048"),
        ("crt-ec", "ec:P-384"),
        ("crt-ed", "ed25519"),
    ] {
        for v in 1..=2u64 {
            key_ok(&env, &["rotate", fam, "--type", ty, "--cert"]);
            let certs = by_label(&s, ObjectClass::CERTIFICATE, fam);
            assert_eq!(
                certs.len(),
                1,
                "{fam}: one certificate labelled with the family"
            );
            let c = certs[0];
            assert_eq!(get_bytes(&s, c, AttributeType::Id), kid(fam, v).as_bytes());
            assert_eq!(ulong_attr(&s, c, CKA_FERROHSM_KEY_VERSION), v as CK_ULONG);
            let der = get_bytes(&s, c, AttributeType::Value);
            let cert = x509_cert::Certificate::from_der(&der).expect("the certificate parses");
            assert_eq!(
                cert.tbs_certificate.subject.to_string(),
                format!("CN={}", kid(fam, v))
            );
            // Its public key is the version's.
            let pk = by_kid(&s, ObjectClass::PUBLIC_KEY, &kid(fam, v));
            assert_eq!(
                cert.tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .unwrap(),
                get_bytes(&s, pk, AttributeType::PublicKeyInfo)
            );
            // Its signature verifies (OpenSSL, self-signed).
            let pem = dir.path().join(format!("{fam}-{v}.der"));
            std::fs::write(&pem, &der).unwrap();
            let o = support::run({
                let mut c = std::process::Command::new("openssl");
                c.args(["x509", "-inform", "DER", "-in"])
                    .arg(&pem)
                    .arg("-out")
                    .arg(pem.with_extension("pem"));
                c
            });
            assert!(o.ok(), "{o}");
            let o = support::run({
                let mut c = std::process::Command::new("openssl");
                c.args(["verify", "-check_ss_sig", "-CAfile"])
                    .arg(pem.with_extension("pem"))
                    .arg(pem.with_extension("pem"));
                c
            });
            assert!(
                o.ok() && o.stdout.contains(": OK"),
                "openssl verify {fam} v{v}:\n{o}"
            );
            if v > 1 {
                let old = by_kid(&s, ObjectClass::CERTIFICATE, &kid(fam, v - 1));
                assert_eq!(get_label(&s, old), kid(fam, v - 1).as_bytes());
            }
        }
        // Disable and retire take the certificate along.
        key_ok(&env, &["disable", fam, "--version", "1"]);
        let c1 = by_kid(&s, ObjectClass::CERTIFICATE, &kid(fam, 1));
        assert!(bool_attr(&s, c1, CKA_FERROHSM_KEY_DISABLED));
        let o = key_ok(&env, &["versions", fam]);
        assert!(o.stdout.contains(ty), "{o}");
        key_ok(&env, &["retire", fam, "--version", "1"]);
        assert!(find(&s, &[Attribute::Id(kid(fam, 1).into_bytes())]).is_empty());
    }
    key_fails(
        &env,
        &["rotate", "crt-h", "--type", "hmac:32", "--cert"],
        "--cert",
    );
}

#[test]
fn header_defines_the_vendor_attributes() {
    let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/ferrohsm.h"))
        .unwrap();
    let re = regex::Regex::new(
        r"#define\s+(CKA_FERROHSM_KEY_\w+)\s+\(CKA_FERROHSM_BASE \| (0x[0-9A-Fa-f]+)UL\)",
    )
    .unwrap();
    let found: Vec<(String, CK_ULONG)> = re
        .captures_iter(&h)
        .map(|c| {
            (
                c[1].to_string(),
                0xC645_0000 | CK_ULONG::from_str_radix(&c[2][2..], 16).unwrap(),
            )
        })
        .collect();
    let want = [
        ("CKA_FERROHSM_KEY_FAMILY", CKA_FERROHSM_KEY_FAMILY),
        ("CKA_FERROHSM_KEY_VERSION", CKA_FERROHSM_KEY_VERSION),
        ("CKA_FERROHSM_KEY_DISABLED", CKA_FERROHSM_KEY_DISABLED),
        ("CKA_FERROHSM_KEY_CREATED", CKA_FERROHSM_KEY_CREATED),
        ("CKA_FERROHSM_KEY_ALG", CKA_FERROHSM_KEY_ALG),
        ("CKA_FERROHSM_KEY_CERT", CKA_FERROHSM_KEY_CERT),
    ];
    let want: Vec<(String, CK_ULONG)> = want.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!(found, want);
    assert!(
        h.contains("#define CKA_FERROHSM_BASE          (CKA_VENDOR_DEFINED | FERROHSM_VENDOR_TAG)")
    );
    assert!(h.contains("#define FERROHSM_VENDOR_TAG        0x46450000UL"));
    // And a C compiler agrees (the header compiles, the values are these).
    let mut c = String::from("#include \"ferrohsm.h\"\n");
    for (n, v) in &want {
        c.push_str(&format!("_Static_assert({n} == {v:#x}UL, \"{n}\");\n"));
    }
    let src = tempfile::Builder::new().suffix(".c").tempfile().unwrap();
    std::fs::write(src.path(), c).unwrap();
    let o = support::run({
        let mut cmd = std::process::Command::new("cc");
        cmd.args(["-fsyntax-only", "-Wall", "-Werror", "-I"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/include"))
            .arg(src.path());
        cmd
    });
    assert!(
        o.ok(),
        "cc on include/ferrohsm.h (needs a C compiler, as tests/c does):\n{o}"
    );
}

// ---------------------------------------------------------------------------------------------
// JWKS, checked by an independent JOSE implementation

fn b64url(b: &[u8]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Base64UrlUnpadded::encode_string(b)
}

/// The Python that has jwcrypto: `$FERROHSM_PYTHON`, else /usr/bin/python3 (Debian's
/// python3-jwcrypto, which CI installs), else python3.
fn python() -> String {
    if let Ok(p) = std::env::var("FERROHSM_PYTHON") {
        return p;
    }
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".into()
    } else {
        "python3".into()
    }
}

const VERIFY_PY: &str = r#"
import json, sys
from jwcrypto import jwk, jwt
keys = jwk.JWKSet.from_json(open(sys.argv[1]).read())
for line in open(sys.argv[2]):
    name, tok = line.split()
    try:
        t = jwt.JWT(jwt=tok, key=keys,
                    algs=["RS256", "PS256", "ES256", "ES384", "ES512", "ES256K", "EdDSA"])
        print(name, "ok", json.loads(t.claims)["v"])
    except Exception as e:
        print(name, "fail", type(e).__name__)
"#;

#[test]
fn jwks_verifies_jwts_signed_by_each_enabled_version() {
    let py = python();
    let probe = support::run({
        let mut c = std::process::Command::new(&py);
        c.args(["-c", "import jwcrypto.jwt, jwcrypto.jwk"]);
        c
    });
    assert!(
        probe.ok(),
        "this test needs Python with jwcrypto ({py}; apt-get install python3-jwcrypto, as .ci/run does, \
         or set FERROHSM_PYTHON):\n{probe}"
    );
    let env = env();
    let f = env.fixture();
    let slot = support::slot_by_label(&f, TOKEN).unwrap();
    let s = f.user_session(slot);
    let pss = |h, mgf, n: u64| PkcsPssParams {
        hash_alg: h,
        mgf,
        s_len: n.into(),
    };
    // (family, type, alg, mechanism)
    let fams: Vec<(&str, &str, &str, Mechanism)> = vec![
        ("rs", "rsa:2048", "RS256", Mechanism::Sha256RsaPkcs),
        (
            "ps",
            "rsa:2048",
            "PS256",
            Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32)),
        ),
        ("es256", "ec:P-256", "ES256", Mechanism::EcdsaSha256),
        ("es384", "ec:P-384", "ES384", Mechanism::EcdsaSha384),
        ("es512", "ec:P-521", "ES512", Mechanism::EcdsaSha512),
        // RFC 8812 (ES256K on secp256k1) and RFC 8037 (EdDSA, OKP keys).
        ("es256k", "ec:secp256k1", "ES256K", Mechanism::EcdsaSha256),
        (
            "ed",
            "ed25519",
            "EdDSA",
            Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
        ),
    ];
    // (name, expected to verify, JWT)
    let mut pairs: Vec<(String, bool, String)> = Vec::new();
    for (fam, ty, alg, mech) in &fams {
        for v in 1..=3u64 {
            let mut args = vec!["rotate", fam, "--type", ty];
            if v == 1 && *alg == "PS256" {
                args.extend(["--alg", "PS256"]);
            }
            key_ok(&env, &args);
            // Sign a JWT with the newest version, found by label (the kid is its CKA_ID).
            let sk = by_label(&s, ObjectClass::PRIVATE_KEY, fam)[0];
            let k = String::from_utf8(get_bytes(&s, sk, AttributeType::Id)).unwrap();
            assert_eq!(k, kid(fam, v));
            let header = format!(r#"{{"alg":"{alg}","kid":"{k}","typ":"JWT"}}"#);
            let claims = format!(r#"{{"sub":"test","v":{v}}}"#);
            let input = format!(
                "{}.{}",
                b64url(header.as_bytes()),
                b64url(claims.as_bytes())
            );
            let sig = s.sign(mech, sk, input.as_bytes()).unwrap();
            let jwt = format!("{input}.{}", b64url(&sig));
            // v1 of es256 is disabled below: its token must then fail.
            let disabled = *fam == "es256" && v == 1;
            pairs.push((format!("{fam}-v{v}"), !disabled, jwt));
        }
    }
    key_ok(&env, &["disable", "es256", "--version", "1"]);

    // One JWKS for all families, from `key public --format jwks`.
    let mut all = Vec::new();
    for (fam, _, alg, _) in &fams {
        let o = key_ok(&env, &["public", fam, "--format", "jwks"]);
        let j: serde_json::Value = serde_json::from_str(&o.stdout).expect("JWKS is JSON");
        let keys = j["keys"].as_array().expect("keys array").clone();
        let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        if *fam == "es256" {
            assert_eq!(
                kids,
                [kid(fam, 3), kid(fam, 2)],
                "disabled versions are not published"
            );
        } else {
            assert_eq!(
                kids,
                [kid(fam, 3), kid(fam, 2), kid(fam, 1)],
                "newest first"
            );
        }
        for k in &keys {
            assert_eq!(k["alg"], *alg);
            assert_eq!(k["use"], "sig");
            assert!(
                k.get("d").is_none() && k.get("p").is_none(),
                "no private parts: {k}"
            );
        }
        all.extend(keys);
    }
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::json!({ "keys": all }).to_string()).unwrap();
    let list = dir.path().join("tokens.txt");
    let mut text = String::new();
    for (name, _, jwt) in &pairs {
        text.push_str(&format!("{name} {jwt}\n"));
    }
    // A token whose payload was changed after signing must fail.
    let (_, _, good) = &pairs[0];
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = b64url(br#"{"sub":"admin","v":1}"#);
    parts[1] = &forged;
    text.push_str(&format!("forged {}\n", parts.join(".")));
    std::fs::write(&list, text).unwrap();
    let script = dir.path().join("verify.py");
    std::fs::write(&script, VERIFY_PY).unwrap();
    let o = support::run({
        let mut c = std::process::Command::new(&py);
        c.arg(&script).arg(&jwks).arg(&list);
        c
    });
    assert!(o.ok(), "jwcrypto script:\n{o}");
    let results: std::collections::HashMap<String, String> = o
        .stdout
        .lines()
        .map(|l| {
            let (n, r) = l.split_once(' ').unwrap();
            (n.to_string(), r.to_string())
        })
        .collect();
    for (name, want_ok, _) in &pairs {
        let got = results
            .get(name)
            .unwrap_or_else(|| panic!("no result for {name}:\n{o}"));
        let v = name.rsplit_once("-v").unwrap().1;
        if *want_ok {
            assert_eq!(
                got,
                &format!("ok {v}"),
                "{name} must verify with the JWKS:\n{o}"
            );
        } else {
            assert!(
                got.starts_with("fail"),
                "{name} (disabled) must not verify:\n{o}"
            );
        }
    }
    assert!(
        results["forged"].starts_with("fail"),
        "a forged token verified:\n{o}"
    );
    // Publishing needs no PIN: the public keys are public objects (and disabled ones stay out).
    let o = util(
        &env.conf,
        &[
            "key", "public", "es256", "--format", "jwks", "--token", TOKEN,
        ],
    );
    assert!(o.ok(), "{o}");
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let kids: Vec<&str> = j["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [kid("es256", 3), kid("es256", 2)], "{o}");
    // PEM and single JWK forms.
    let o = key_ok(&env, &["public", "rs"]);
    assert_eq!(
        o.stdout.matches("-----BEGIN PUBLIC KEY-----").count(),
        3,
        "{o}"
    );
    let o = key_ok(&env, &["public", "es384", "--format", "jwk"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["kid"], kid("es384", 3));
    assert_eq!(j["crv"], "P-384");
    let o = key_ok(&env, &["public", "ed", "--format", "jwk"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["kty"], "OKP", "{o}");
    assert_eq!(j["crv"], "Ed25519", "{o}");
    assert_eq!(
        j["x"].as_str().map(str::len),
        Some(43),
        "32 bytes, base64url: {o}"
    );
    assert!(j.get("y").is_none() && j.get("d").is_none(), "{o}");
    let o = key_ok(&env, &["public", "es256k", "--format", "jwk"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["crv"], "secp256k1", "{o}");
    let o = key_ok(&env, &["versions", "ed"]);
    assert!(
        o.stdout.contains("ed25519") && o.stdout.contains("EdDSA"),
        "{o}"
    );
    key_fails(&env, &["public", "es256", "--version", "1"], "disabled");
    key_ok(&env, &["rotate", "mac", "--type", "hmac:32"]);
    key_fails(
        &env,
        &["public", "mac", "--format", "jwks"],
        "no public keys",
    );
}
