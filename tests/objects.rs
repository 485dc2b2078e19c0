//! C_CreateObject / C_CopyObject / C_DestroyObject / C_GetObjectSize, object lifetime.
mod common;

use common::*;
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::*;
use std::collections::HashSet;

fn secret_key_template(kt: KeyType, len: usize, label: &str, token: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(
            (0..len as u8)
                .map(|b| b.wrapping_mul(7).wrapping_add(3))
                .collect(),
        ),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Token(token),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

fn cert_template(label: &str, token: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Token(token),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(vec![0xc3, 0x01]),
        Attribute::Subject(hex(CERT_SUBJECT_HEX)),
        Attribute::Issuer(hex(CERT_SUBJECT_HEX)),
        Attribute::SerialNumber(hex(CERT_SERIAL_HEX)),
        Attribute::Value(hex(CERT_DER_HEX)),
    ]
}

fn rsa_public_template(label: &str, token: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(token),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Modulus(hex(RSA_MODULUS_HEX)),
        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
    ]
}

fn ec_public_template(label: &str, token: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(token),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::EcParams(P256_OID.to_vec()),
        Attribute::EcPoint(p256_point_der()),
    ]
}

fn assert_common(s: &Session, o: ObjectHandle, class: CK_OBJECT_CLASS, label: &str, token: bool) {
    assert_eq!(get_ulong(s, o, AttributeType::Class), class, "CKA_CLASS");
    assert_eq!(get_label(s, o), label.as_bytes(), "CKA_LABEL");
    assert_eq!(get_bool(s, o, AttributeType::Token), token, "CKA_TOKEN");
}

#[test]
fn create_data_objects() {
    let f = Fixture::new();
    let tok = f.user_token("data");
    let s = f.rw(tok);
    for token in [false, true] {
        let label = format!("data-{token}");
        let o = create_data(&s, &label, token, false);
        assert_common(&s, o, CKO_DATA, &label, token);
        assert!(!get_bool(&s, o, AttributeType::Private));
        assert_eq!(
            get_bytes(&s, o, AttributeType::Application),
            b"ferrohsm tests"
        );
        assert_eq!(
            get_bytes(&s, o, AttributeType::Value),
            format!("value of {label}").as_bytes()
        );
    }
    // private data objects once the user is logged in
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    for token in [false, true] {
        let label = format!("pdata-{token}");
        let o = create_data(&s, &label, token, true);
        assert_common(&s, o, CKO_DATA, &label, token);
        assert!(get_bool(&s, o, AttributeType::Private));
    }
    // minimal template
    let o = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Private(false),
        ])
        .unwrap();
    assert_eq!(get_label(&s, o), b"", "CKA_LABEL defaults to empty");
    assert_eq!(
        get_bytes(&s, o, AttributeType::Value),
        b"",
        "CKA_VALUE defaults to empty"
    );
}

/// CKA_CHECK_VALUE of an X.509 certificate (PKCS #11 3.0): the first three bytes of the SHA-1 of
/// CKA_VALUE, computed by the module (SoftHSM gives the same: tests/util_migrate.rs compares); a
/// template may give it, and a wrong one is refused.
#[test]
fn x509_certificate_check_value() {
    use sha1::Digest;
    let f = Fixture::new();
    let tok = f.user_token("kcv");
    let s = f.rw(tok);
    let want = sha1::Sha1::digest(hex(CERT_DER_HEX))[..3].to_vec();
    let o = s.create_object(&cert_template("kcv", false)).unwrap();
    assert_eq!(get_bytes(&s, o, AttributeType::CheckValue), want);
    let mut t = cert_template("given", false);
    t.push(Attribute::CheckValue(want.clone()));
    s.create_object(&t)
        .expect("the right check value is accepted");
    let mut t = cert_template("wrong", false);
    t.push(Attribute::CheckValue(vec![want[0] ^ 1, want[1], want[2]]));
    assert_eq!(
        rv_of(&s.create_object(&t)),
        Some(cryptoki::error::RvError::AttributeValueInvalid)
    );
}

#[test]
fn create_x509_certificates() {
    let f = Fixture::new();
    let tok = f.user_token("certs");
    let s = f.rw(tok);
    for token in [false, true] {
        let label = format!("cert-{token}");
        let o = s
            .create_object(&cert_template(&label, token))
            .expect("create certificate");
        assert_common(&s, o, CKO_CERTIFICATE, &label, token);
        assert_eq!(get_ulong(&s, o, AttributeType::CertificateType), CKC_X_509);
        assert_eq!(get_bytes(&s, o, AttributeType::Value), hex(CERT_DER_HEX));
        assert_eq!(
            get_bytes(&s, o, AttributeType::Subject),
            hex(CERT_SUBJECT_HEX)
        );
        assert_eq!(
            get_bytes(&s, o, AttributeType::Issuer),
            hex(CERT_SUBJECT_HEX)
        );
        assert_eq!(
            get_bytes(&s, o, AttributeType::SerialNumber),
            hex(CERT_SERIAL_HEX)
        );
        assert_eq!(get_bytes(&s, o, AttributeType::Id), vec![0xc3, 0x01]);
        assert!(
            !get_bool(&s, o, AttributeType::Trusted),
            "CKA_TRUSTED defaults to false"
        );
    }
}

#[test]
fn create_secret_keys() {
    let f = Fixture::new();
    let tok = f.user_token("secret");
    let s = f.user_session(tok);
    let cases = [
        (KeyType::GENERIC_SECRET, CKK_GENERIC_SECRET, 32usize),
        (KeyType::GENERIC_SECRET, CKK_GENERIC_SECRET, 1),
        (KeyType::AES, CKK_AES, 16),
        (KeyType::AES, CKK_AES, 24),
        (KeyType::AES, CKK_AES, 32),
        (KeyType::SHA256_HMAC, CKK_SHA256_HMAC, 32),
    ];
    for token in [false, true] {
        for (kt, ckk, len) in cases {
            let label = format!("sk-{ckk}-{len}-{token}");
            let t = secret_key_template(kt, len, &label, token);
            let o = s
                .create_object(&t)
                .unwrap_or_else(|e| panic!("create {label}: {e:?}"));
            assert_common(&s, o, CKO_SECRET_KEY, &label, token);
            assert_eq!(get_ulong(&s, o, AttributeType::KeyType), ckk);
            assert_eq!(
                get_ulong(&s, o, AttributeType::ValueLen),
                len as CK_ULONG,
                "CKA_VALUE_LEN"
            );
            let want = match &t[2] {
                Attribute::Value(v) => v.clone(),
                _ => unreachable!(),
            };
            assert_eq!(
                get_bytes(&s, o, AttributeType::Value),
                want,
                "CKA_VALUE round trip"
            );
            assert!(
                get_bool(&s, o, AttributeType::Private),
                "secret keys are private by default"
            );
            assert!(!get_bool(&s, o, AttributeType::Sensitive));
            assert!(get_bool(&s, o, AttributeType::Extractable));
        }
    }
}

#[test]
fn create_rsa_and_ec_public_keys() {
    let f = Fixture::new();
    let tok = f.user_token("pub");
    let s = f.rw(tok);
    for token in [false, true] {
        let label = format!("rsa-{token}");
        let o = s
            .create_object(&rsa_public_template(&label, token))
            .expect("create RSA public key");
        assert_common(&s, o, CKO_PUBLIC_KEY, &label, token);
        assert_eq!(get_ulong(&s, o, AttributeType::KeyType), CKK_RSA);
        assert_eq!(
            get_bytes(&s, o, AttributeType::Modulus),
            hex(RSA_MODULUS_HEX)
        );
        assert_eq!(
            get_bytes(&s, o, AttributeType::PublicExponent),
            vec![1, 0, 1]
        );
        assert_eq!(
            get_ulong(&s, o, AttributeType::ModulusBits),
            2048,
            "CKA_MODULUS_BITS computed"
        );

        let label = format!("ec-{token}");
        let o = s
            .create_object(&ec_public_template(&label, token))
            .expect("create EC public key");
        assert_common(&s, o, CKO_PUBLIC_KEY, &label, token);
        assert_eq!(get_ulong(&s, o, AttributeType::KeyType), CKK_EC);
        assert_eq!(get_bytes(&s, o, AttributeType::EcParams), P256_OID.to_vec());
        assert_eq!(get_bytes(&s, o, AttributeType::EcPoint), p256_point_der());
    }
}

#[test]
fn create_ec_private_key() {
    let f = Fixture::new();
    let tok = f.user_token("priv");
    let s = f.user_session(tok);
    let o = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Label(b"ec-priv".to_vec()),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::Value(vec![0x11; 32]),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
        ])
        .expect("create EC private key");
    assert_common(&s, o, CKO_PRIVATE_KEY, "ec-priv", true);
    assert!(
        get_bool(&s, o, AttributeType::Private),
        "private keys are private by default"
    );
    assert!(get_bool(&s, o, AttributeType::Sensitive));
    let r = Raw::new().get_attrs(s.handle(), o.handle(), &[(CKA_VALUE, Some(64))]);
    assert_ck(
        r.rv,
        CKR_ATTRIBUTE_SENSITIVE,
        "CKA_VALUE of a sensitive private key",
    );
    assert_eq!(r.attrs[0].0, CK_UNAVAILABLE_INFORMATION);
}

#[test]
fn token_object_in_read_only_session() {
    let f = Fixture::new();
    let tok = f.user_token("ro");
    let ro = f.ro(tok);
    assert_rv!(
        ro.create_object(&data_template("ro-tok", true, false)),
        SessionReadOnly
    );
    // session objects are fine in an R/O session
    create_data(&ro, "ro-sess", false, false);
    ro.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_rv!(
        ro.create_object(&data_template("ro-tok-priv", true, true)),
        SessionReadOnly
    );
    assert_rv!(
        ro.create_object(&secret_key_template(KeyType::AES, 16, "ro-key", true)),
        SessionReadOnly
    );
    create_data(&ro, "ro-sess-priv", false, true);
    assert!(find_label(&ro, "ro-tok").is_empty());
}

#[test]
fn private_object_requires_login() {
    let f = Fixture::new();
    let tok = f.user_token("needlogin");
    let s = f.rw(tok);
    assert_rv!(
        s.create_object(&data_template("p1", false, true)),
        UserNotLoggedIn
    );
    assert_rv!(
        s.create_object(&data_template("p2", true, true)),
        UserNotLoggedIn
    );
    // secret keys default to CKA_PRIVATE = true
    let mut t = secret_key_template(KeyType::AES, 16, "k", false);
    t.retain(|a| !matches!(a, Attribute::Sensitive(_) | Attribute::Extractable(_)));
    assert_rv!(s.create_object(&t), UserNotLoggedIn);
    // SO logged in: still no private objects
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_rv!(
        s.create_object(&data_template("p3", true, true)),
        UserNotLoggedIn
    );
    create_data(&s, "so-public", true, false);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let all = s.find_objects(&[]).unwrap();
    assert_eq!(all.len(), 1, "only the SO's public object exists");
}

#[test]
fn template_errors() {
    let f = Fixture::new();
    let tok = f.user_token("tmpl");
    let s = f.user_session(tok);
    // missing CKA_CLASS
    assert_rv!(
        s.create_object(&[
            Attribute::Token(false),
            Attribute::Label(b"noclass".to_vec())
        ]),
        TemplateIncomplete
    );
    // secret key without CKA_KEY_TYPE
    assert_rv!(
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Value(vec![1; 16]),
        ]),
        TemplateIncomplete
    );
    // certificate without CKA_CERTIFICATE_TYPE
    let mut t = cert_template("nocerttype", false);
    t.retain(|a| !matches!(a, Attribute::CertificateType(_)));
    assert_rv!(s.create_object(&t), TemplateIncomplete);
    // undefined attribute type
    let mut t = data_template("unknown", false, false);
    t.push(raw_attr(UNDEFINED_ATTR, vec![1, 2, 3]));
    assert_rv!(s.create_object(&t), AttributeTypeInvalid);
    // CK_BBOOL with a wrong length
    let t = vec![
        Attribute::Class(ObjectClass::DATA),
        raw_attr(CKA_TOKEN, vec![0, 0]),
    ];
    assert_rv!(s.create_object(&t), AttributeValueInvalid);
    let t = vec![
        Attribute::Class(ObjectClass::DATA),
        raw_attr(CKA_PRIVATE, vec![]),
    ];
    assert_rv!(s.create_object(&t), AttributeValueInvalid);
    assert!(
        s.find_objects(&[]).unwrap().is_empty(),
        "nothing was created"
    );
}

#[test]
fn read_only_attributes_in_create_template() {
    let f = Fixture::new();
    let tok = f.user_token("readonly");
    let s = f.user_session(tok);
    let key = |extra: Attribute| {
        let mut t = secret_key_template(KeyType::GENERIC_SECRET, 16, "ro-attr", false);
        t.push(extra);
        s.create_object(&t)
    };
    assert_rv!(key(Attribute::Local(false)), AttributeReadOnly);
    assert_rv!(key(Attribute::Local(true)), AttributeReadOnly);
    assert_rv!(key(Attribute::AlwaysSensitive(false)), AttributeReadOnly);
    assert_rv!(key(Attribute::NeverExtractable(false)), AttributeReadOnly);
    assert_rv!(
        key(Attribute::UniqueId(b"my-own-id".to_vec())),
        AttributeReadOnly
    );
    let mut t = data_template("uid", false, false);
    t.push(Attribute::UniqueId(b"1".to_vec()));
    assert_rv!(s.create_object(&t), AttributeReadOnly);
    assert!(
        s.find_objects(&[]).unwrap().is_empty(),
        "nothing was created"
    );
}

#[test]
fn default_attribute_values() {
    let f = Fixture::new();
    let tok = f.user_token("defaults");
    let s = f.user_session(tok);
    let key = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![0x42; 16]),
        ])
        .unwrap();
    assert!(
        !get_bool(&s, key, AttributeType::Token),
        "CKA_TOKEN default false"
    );
    assert!(
        get_bool(&s, key, AttributeType::Private),
        "CKA_PRIVATE default true for keys"
    );
    assert!(
        get_bool(&s, key, AttributeType::Modifiable),
        "CKA_MODIFIABLE default true"
    );
    assert!(
        get_bool(&s, key, AttributeType::Copyable),
        "CKA_COPYABLE default true"
    );
    assert!(
        get_bool(&s, key, AttributeType::Destroyable),
        "CKA_DESTROYABLE default true"
    );
    assert!(
        !get_bool(&s, key, AttributeType::Local),
        "CKA_LOCAL false for C_CreateObject"
    );
    assert!(
        !get_bool(&s, key, AttributeType::Derive),
        "CKA_DERIVE default false"
    );
    assert_eq!(get_label(&s, key), b"", "CKA_LABEL default empty");
    assert_eq!(
        get_bytes(&s, key, AttributeType::Id),
        b"",
        "CKA_ID default empty"
    );
    assert_eq!(
        get_ulong(&s, key, AttributeType::KeyGenMechanism),
        CK_UNAVAILABLE_INFORMATION,
        "CKA_KEY_GEN_MECHANISM of a key that is not local"
    );

    let data = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Private(false),
        ])
        .unwrap();
    assert!(!get_bool(&s, data, AttributeType::Token));
    assert!(get_bool(&s, data, AttributeType::Modifiable));
    assert!(get_bool(&s, data, AttributeType::Copyable));
    assert!(get_bool(&s, data, AttributeType::Destroyable));
}

#[test]
fn unique_ids_are_present_and_unique() {
    let f = Fixture::new();
    let tok = f.user_token("uids");
    let s = f.user_session(tok);
    let mut objs = vec![
        create_data(&s, "u1", false, false),
        create_data(&s, "u2", true, false),
        create_data(&s, "u3", true, true),
        s.create_object(&secret_key_template(KeyType::AES, 16, "u4", true))
            .unwrap(),
        s.create_object(&cert_template("u5", false)).unwrap(),
        s.create_object(&ec_public_template("u6", true)).unwrap(),
    ];
    objs.push(
        s.copy_object(objs[0], &[Attribute::Label(b"u7".to_vec())])
            .unwrap(),
    );
    let mut seen = HashSet::new();
    for o in &objs {
        let uid = get_bytes(&s, *o, AttributeType::UniqueId);
        assert!(!uid.is_empty(), "CKA_UNIQUE_ID must be non-empty");
        assert!(seen.insert(uid.clone()), "duplicate CKA_UNIQUE_ID {uid:?}");
    }
    // stable
    let again = get_bytes(&s, objs[1], AttributeType::UniqueId);
    assert!(seen.contains(&again));
}

#[test]
fn unique_id_of_token_object_survives_reinitialize() {
    let mut f = Fixture::new();
    let tok = f.user_token("uid-persist");
    let uid = {
        let s = f.rw(tok);
        let o = create_data(&s, "keep-uid", true, false);
        get_bytes(&s, o, AttributeType::UniqueId)
    };
    f.reinit();
    let s = f.rw(tok);
    let o = find_label(&s, "keep-uid");
    assert_eq!(o.len(), 1);
    assert_eq!(get_bytes(&s, o[0], AttributeType::UniqueId), uid);
}

#[test]
fn session_objects_are_shared_and_vanish_with_their_session() {
    let f = Fixture::new();
    let tok = f.user_token("sessobj");
    let a = f.rw(tok);
    let b = f.ro(tok);
    let o = create_data(&a, "from-a", false, false);
    let ob = create_data(&b, "from-b", false, false);
    assert_eq!(
        find_label(&b, "from-a"),
        vec![o],
        "visible to the other session"
    );
    assert_eq!(
        get_label(&b, o),
        b"from-a",
        "readable from the other session"
    );
    assert_eq!(find_label(&a, "from-b"), vec![ob]);
    a.close().unwrap();
    assert!(
        find_label(&b, "from-a").is_empty(),
        "destroyed with its session"
    );
    let r = Raw::new().get_attrs(b.handle(), o.handle(), &[(CKA_LABEL, Some(64))]);
    assert_ck(
        r.rv,
        CKR_OBJECT_HANDLE_INVALID,
        "handle of an object whose session closed",
    );
    assert_eq!(
        find_label(&b, "from-b"),
        vec![ob],
        "other session's objects untouched"
    );
}

#[test]
fn logout_destroys_private_session_objects() {
    let f = Fixture::new();
    let tok = f.user_token("logout-objs");
    let s = f.user_session(tok);
    let other = f.ro(tok);
    let p = create_data(&s, "priv-sess", false, true);
    let q = create_data(&other, "priv-sess-2", false, true);
    let pb = create_data(&s, "pub-sess", false, false);
    let pt = create_data(&s, "priv-tok", true, true);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert!(
        find_label(&s, "priv-sess").is_empty(),
        "private session object destroyed by C_Logout"
    );
    assert!(
        find_label(&s, "priv-sess-2").is_empty(),
        "also those of other sessions"
    );
    assert_eq!(
        find_label(&s, "pub-sess"),
        vec![pb],
        "public session objects survive"
    );
    assert_eq!(
        find_label(&s, "priv-tok").len(),
        1,
        "private token objects survive"
    );
    let raw = Raw::new();
    for h in [p, q] {
        let r = raw.get_attrs(s.handle(), h.handle(), &[(CKA_LABEL, Some(64))]);
        assert_ck(
            r.rv,
            CKR_OBJECT_HANDLE_INVALID,
            "handle of a destroyed private session object",
        );
    }
    let _ = pt;
}

#[test]
fn private_handles_are_invalid_after_logout_even_after_relogin() {
    // PKCS#11 2.40 §5.6 C_Logout: "any of the application's handles to private objects become
    // invalid (even if a user is later logged back into the token, those handles remain invalid)"
    let f = Fixture::new();
    let tok = f.user_token("stale");
    let s = f.user_session(tok);
    let o = create_data(&s, "stale-priv", true, true);
    s.logout().unwrap();
    let raw = Raw::new();
    let r = raw.get_attrs(s.handle(), o.handle(), &[(CKA_LABEL, Some(64))]);
    assert!(
        r.rv == CKR_OBJECT_HANDLE_INVALID || r.rv == CKR_USER_NOT_LOGGED_IN,
        "private object while logged out: {:?}",
        cryptoki::error::Rv::from(r.rv)
    );
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let r = raw.get_attrs(s.handle(), o.handle(), &[(CKA_LABEL, Some(64))]);
    assert_ck(
        r.rv,
        CKR_OBJECT_HANDLE_INVALID,
        "old private handle after re-login",
    );
    let fresh = find_label(&s, "stale-priv");
    assert_eq!(fresh.len(), 1);
    assert_eq!(get_label(&s, fresh[0]), b"stale-priv");
}

#[test]
fn destroyed_handles_are_invalid() {
    let f = Fixture::new();
    let tok = f.user_token("destroy");
    let s = f.rw(tok);
    for token in [false, true] {
        let o = create_data(&s, "doomed", token, false);
        s.destroy_object(o).expect("C_DestroyObject");
        assert_rv!(
            s.get_attributes(o, &[AttributeType::Label]),
            ObjectHandleInvalid
        );
        assert_rv!(s.destroy_object(o), ObjectHandleInvalid);
        assert_rv!(
            s.update_attributes(o, &[Attribute::Label(b"x".to_vec())]),
            ObjectHandleInvalid
        );
        assert_rv!(s.copy_object(o, &[]), ObjectHandleInvalid);
        assert!(find_label(&s, "doomed").is_empty());
    }
    let zero = unsafe { ObjectHandle::new_from_raw(CK_INVALID_HANDLE) };
    assert_rv!(
        s.get_attributes(zero, &[AttributeType::Label]),
        ObjectHandleInvalid
    );
    assert_rv!(s.destroy_object(zero), ObjectHandleInvalid);
    let never = unsafe { ObjectHandle::new_from_raw(0x7fff_fff0) };
    assert_rv!(
        s.get_attributes(never, &[AttributeType::Class]),
        ObjectHandleInvalid
    );
}

#[test]
fn handles_are_never_reused() {
    let f = Fixture::new();
    let tok = f.user_token("reuse");
    let s = f.user_session(tok);
    let mut seen = HashSet::new();
    for i in 0..40 {
        let token = i % 3 == 0;
        let private = i % 2 == 0;
        let o = create_data(&s, &format!("r{i}"), token, private);
        assert_ne!(o.handle(), CK_INVALID_HANDLE);
        assert!(
            seen.insert(o.handle()),
            "object handle {} reused",
            o.handle()
        );
        s.destroy_object(o).unwrap();
    }
    // also across sessions and for copies
    let s2 = f.rw(tok);
    for i in 0..10 {
        let o = create_data(&s2, &format!("x{i}"), false, false);
        assert!(
            seen.insert(o.handle()),
            "object handle {} reused",
            o.handle()
        );
        let c = s2.copy_object(o, &[]).unwrap();
        assert!(seen.insert(c.handle()), "copy handle {} reused", c.handle());
        s2.destroy_object(o).unwrap();
        s2.destroy_object(c).unwrap();
    }
}

#[test]
fn copy_object() {
    let f = Fixture::new();
    let tok = f.user_token("copy");
    let s = f.user_session(tok);
    let o = create_data(&s, "orig", false, false);
    let c = s
        .copy_object(
            o,
            &[Attribute::Label(b"copy".to_vec()), Attribute::Token(true)],
        )
        .expect("C_CopyObject");
    assert_ne!(c, o);
    assert_eq!(get_label(&s, c), b"copy");
    assert!(get_bool(&s, c, AttributeType::Token));
    assert_eq!(get_bytes(&s, c, AttributeType::Value), b"value of orig");
    assert_eq!(get_label(&s, o), b"orig", "original unchanged");
    assert!(!get_bool(&s, o, AttributeType::Token));

    // keys: value copied, template may raise CKA_SENSITIVE
    let k = s
        .create_object(&secret_key_template(KeyType::AES, 16, "kc", false))
        .unwrap();
    let kc = s
        .copy_object(k, &[Attribute::Sensitive(true)])
        .expect("copy with CKA_SENSITIVE=true");
    assert!(get_bool(&s, kc, AttributeType::Sensitive));
    assert_eq!(get_ulong(&s, kc, AttributeType::ValueLen), 16);
    let sk = s
        .create_object(&{
            let mut t = secret_key_template(KeyType::AES, 16, "ks", false);
            t.retain(|a| !matches!(a, Attribute::Sensitive(_)));
            t.push(Attribute::Sensitive(true));
            t
        })
        .unwrap();
    assert_rv!(
        s.copy_object(sk, &[Attribute::Sensitive(false)]),
        AttributeReadOnly
    );
    assert_rv!(
        s.copy_object(o, &[Attribute::UniqueId(b"u".to_vec())]),
        AttributeReadOnly
    );
    assert_rv!(
        s.copy_object(o, &[raw_attr(UNDEFINED_ATTR, vec![1])]),
        AttributeTypeInvalid
    );

    // copying into a token object needs an R/W session
    let ro = f.ro(tok);
    assert_rv!(
        ro.copy_object(o, &[Attribute::Token(true)]),
        SessionReadOnly
    );
    ro.copy_object(o, &[Attribute::Label(b"ro-copy".to_vec())])
        .expect("session copy in RO session");

    // the copy of a token object persists independently
    s.destroy_object(o).unwrap();
    assert_eq!(get_label(&s, c), b"copy");
}

#[test]
fn copyable_false_prohibits_copy() {
    let f = Fixture::new();
    let tok = f.user_token("nocopy");
    let s = f.rw(tok);
    let mut t = data_template("nocopy", false, false);
    t.push(Attribute::Copyable(false));
    let o = s.create_object(&t).unwrap();
    assert!(!get_bool(&s, o, AttributeType::Copyable));
    assert_rv!(s.copy_object(o, &[]), ActionProhibited);
    assert_rv!(
        s.copy_object(o, &[Attribute::Label(b"x".to_vec())]),
        ActionProhibited
    );
    assert_eq!(find_label(&s, "nocopy"), vec![o]);
}

#[test]
fn destroyable_false_prohibits_destroy() {
    let f = Fixture::new();
    let tok = f.user_token("nodestroy");
    let s = f.rw(tok);
    for token in [false, true] {
        let label = format!("nodestroy-{token}");
        let mut t = data_template(&label, token, false);
        t.push(Attribute::Destroyable(false));
        let o = s.create_object(&t).unwrap();
        assert!(!get_bool(&s, o, AttributeType::Destroyable));
        assert_rv!(s.destroy_object(o), ActionProhibited);
        assert_eq!(find_label(&s, &label), vec![o], "still there");
    }
}

#[test]
fn destroy_token_object_needs_rw_session() {
    let mut f = Fixture::new();
    let tok = f.user_token("destroy-ro");
    let rw = f.rw(tok);
    let o = create_data(&rw, "tok-obj", true, false);
    let ro = f.ro(tok);
    assert_rv!(ro.destroy_object(o), SessionReadOnly);
    let so = create_data(&ro, "sess-obj", false, false);
    ro.destroy_object(so)
        .expect("destroy session object in RO session");
    rw.destroy_object(o).unwrap();
    drop((rw, ro));
    f.reinit();
    let s = f.rw(tok);
    assert!(
        find_label(&s, "tok-obj").is_empty(),
        "destroyed token object stays destroyed"
    );
}

#[test]
fn get_object_size() {
    let f = Fixture::new();
    let tok = f.user_token("size");
    let s = f.user_session(tok);
    let raw = Raw::new();
    let objs = [
        create_data(&s, "sz", false, false),
        create_data(&s, "sz-tok", true, true),
        s.create_object(&cert_template("sz-cert", true)).unwrap(),
        s.create_object(&secret_key_template(KeyType::AES, 32, "sz-key", false))
            .unwrap(),
    ];
    for o in objs {
        let (rv, size) = raw.object_size(s.handle(), o.handle());
        assert_ck(rv, CKR_OK, "C_GetObjectSize");
        // The spec allows CK_UNAVAILABLE_INFORMATION; ferrohsm reports a size.
        assert!(
            size != CK_UNAVAILABLE_INFORMATION && size > 0,
            "object size {size} must be a positive number"
        );
    }
    let (rv, _) = raw.object_size(s.handle(), CK_INVALID_HANDLE);
    assert_ck(
        rv,
        CKR_OBJECT_HANDLE_INVALID,
        "C_GetObjectSize(CK_INVALID_HANDLE)",
    );
    s.destroy_object(objs[0]).unwrap();
    let (rv, _) = raw.object_size(s.handle(), objs[0].handle());
    assert_ck(rv, CKR_OBJECT_HANDLE_INVALID, "C_GetObjectSize(destroyed)");
}

#[test]
fn token_objects_persist_session_objects_do_not() {
    let mut f = Fixture::new();
    let tok = f.user_token("objpersist");
    {
        let s = f.user_session(tok);
        create_data(&s, "tok-pub", true, false);
        create_data(&s, "sess-pub", false, false);
        let mut t = secret_key_template(KeyType::AES, 32, "tok-key", true);
        t.push(Attribute::Id(b"key-1".to_vec()));
        s.create_object(&t).unwrap();
        s.create_object(&cert_template("tok-cert", true)).unwrap();
        s.create_object(&rsa_public_template("tok-rsa", true))
            .unwrap();
        s.create_object(&ec_public_template("tok-ec", true))
            .unwrap();
    }
    f.reinit();
    let s = f.user_session(tok);
    assert!(find_label(&s, "sess-pub").is_empty(), "session object gone");
    for l in ["tok-pub", "tok-key", "tok-cert", "tok-rsa", "tok-ec"] {
        assert_eq!(find_label(&s, l).len(), 1, "{l} persisted");
    }
    let k = find_label(&s, "tok-key")[0];
    let want: Vec<u8> = (0..32u8)
        .map(|b| b.wrapping_mul(7).wrapping_add(3))
        .collect();
    assert_eq!(
        get_bytes(&s, k, AttributeType::Value),
        want,
        "secret value decrypts after reload"
    );
    assert_eq!(get_bytes(&s, k, AttributeType::Id), b"key-1");
    assert_eq!(get_ulong(&s, k, AttributeType::KeyType), CKK_AES);
    let c = find_label(&s, "tok-cert")[0];
    assert_eq!(get_bytes(&s, c, AttributeType::Value), hex(CERT_DER_HEX));
    let r = find_label(&s, "tok-rsa")[0];
    assert_eq!(
        get_bytes(&s, r, AttributeType::Modulus),
        hex(RSA_MODULUS_HEX)
    );
}
