//! C_GetAttributeValue / C_SetAttributeValue semantics.
mod common;

use common::*;
use cryptoki::object::{
    Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use cryptoki_sys::*;

const UL: usize = std::mem::size_of::<CK_ULONG>();

fn aes_key(
    s: &Session,
    label: &str,
    token: bool,
    sensitive: bool,
    extractable: bool,
) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(vec![0x5a; 16]),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Token(token),
        Attribute::Sensitive(sensitive),
        Attribute::Extractable(extractable),
    ])
    .unwrap_or_else(|e| panic!("create AES key {label}: {e:?}"))
}

#[test]
fn sensitive_value_is_not_revealed_but_other_attributes_are() {
    let f = Fixture::new();
    let tok = f.user_token("sens");
    let s = f.user_session(tok);
    let k = aes_key(&s, "sensitive-key", false, true, true);
    let raw = Raw::new();
    let r = raw.get_attrs(
        s.handle(),
        k.handle(),
        &[
            (CKA_LABEL, Some(64)),
            (CKA_VALUE, Some(64)),
            (CKA_KEY_TYPE, Some(UL)),
            (CKA_CLASS, Some(UL)),
            (CKA_SENSITIVE, Some(1)),
        ],
    );
    assert_ck(
        r.rv,
        CKR_ATTRIBUTE_SENSITIVE,
        "C_GetAttributeValue with CKA_VALUE of a sensitive key",
    );
    assert_eq!(r.attrs[0].0, 13, "CKA_LABEL length");
    assert_eq!(r.attrs[0].1, b"sensitive-key");
    assert_eq!(
        r.attrs[1].0, CK_UNAVAILABLE_INFORMATION,
        "CKA_VALUE length must be CK_UNAVAILABLE_INFORMATION"
    );
    assert!(
        r.attrs[1].1.iter().all(|b| *b == 0),
        "nothing of the value is copied out"
    );
    assert_eq!(r.attrs[2].0 as usize, UL);
    assert_eq!(ulong_from(&r.attrs[2].1), CKK_AES);
    assert_eq!(ulong_from(&r.attrs[3].1), CKO_SECRET_KEY);
    assert_eq!(r.attrs[4].1, vec![CK_TRUE]);

    // length query (pValue = NULL) of a sensitive attribute
    let r = raw.get_attrs(
        s.handle(),
        k.handle(),
        &[(CKA_VALUE, None), (CKA_VALUE_LEN, None)],
    );
    assert_ck(r.rv, CKR_ATTRIBUTE_SENSITIVE, "length query of CKA_VALUE");
    assert_eq!(r.attrs[0].0, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(r.attrs[1].0 as usize, UL, "CKA_VALUE_LEN length");

    // through cryptoki's helpers
    let info = s
        .get_attribute_info(k, &[AttributeType::Label, AttributeType::Value])
        .unwrap();
    assert!(matches!(info[0], AttributeInfo::Available(13)), "{info:?}");
    assert!(matches!(info[1], AttributeInfo::Sensitive), "{info:?}");
    let attrs = s
        .get_attributes(
            k,
            &[
                AttributeType::Label,
                AttributeType::Value,
                AttributeType::ValueLen,
            ],
        )
        .unwrap();
    assert_eq!(attrs.len(), 2, "Value is skipped: {attrs:?}");
    assert!(matches!(&attrs[0], Attribute::Label(l) if l == b"sensitive-key"));
    assert!(matches!(&attrs[1], Attribute::ValueLen(v) if u64::from(*v) == 16));
}

#[test]
fn unextractable_value_is_not_revealed() {
    let f = Fixture::new();
    let tok = f.user_token("unext");
    let s = f.user_session(tok);
    let k = aes_key(&s, "unextractable", false, false, false);
    let r = Raw::new().get_attrs(
        s.handle(),
        k.handle(),
        &[(CKA_VALUE, Some(64)), (CKA_EXTRACTABLE, Some(1))],
    );
    assert_ck(
        r.rv,
        CKR_ATTRIBUTE_SENSITIVE,
        "CKA_VALUE of an unextractable key",
    );
    assert_eq!(r.attrs[0].0, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(r.attrs[1].1, vec![CK_FALSE]);
    // a non-sensitive, extractable key reveals its value
    let k2 = aes_key(&s, "plain", false, false, true);
    assert_eq!(get_bytes(&s, k2, AttributeType::Value), vec![0x5a; 16]);
}

#[test]
fn invalid_attribute_types_in_get() {
    let f = Fixture::new();
    let tok = f.user_token("badtype");
    let s = f.rw(tok);
    let o = create_data(&s, "typed", false, false);
    let r = Raw::new().get_attrs(
        s.handle(),
        o.handle(),
        &[
            (CKA_LABEL, Some(32)),
            (UNDEFINED_ATTR, Some(32)),
            (CKA_MODULUS, Some(256)), // valid type, but a data object has no modulus
            (CKA_CLASS, Some(UL)),
        ],
    );
    assert_ck(
        r.rv,
        CKR_ATTRIBUTE_TYPE_INVALID,
        "C_GetAttributeValue with invalid types",
    );
    assert_eq!(r.attrs[0].1, b"typed");
    assert_eq!(r.attrs[1].0, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(r.attrs[2].0, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(ulong_from(&r.attrs[3].1), CKO_DATA);
    let info = s
        .get_attribute_info(o, &[AttributeType::VendorDefined(UNDEFINED_ATTR)])
        .unwrap();
    assert!(matches!(info[0], AttributeInfo::TypeInvalid), "{info:?}");
}

#[test]
fn length_query_and_buffer_too_small() {
    let f = Fixture::new();
    let tok = f.user_token("lens");
    let s = f.rw(tok);
    let o = create_data(&s, "twelve chars", false, false);
    let raw = Raw::new();
    let r = raw.get_attrs(s.handle(), o.handle(), &[(CKA_LABEL, None)]);
    assert_ck(r.rv, CKR_OK, "length query");
    assert_eq!(r.attrs[0].0, 12);
    let r = raw.get_attrs(s.handle(), o.handle(), &[(CKA_LABEL, Some(12))]);
    assert_ck(r.rv, CKR_OK, "exact buffer");
    assert_eq!(r.attrs[0], (12, b"twelve chars".to_vec()));
    let r = raw.get_attrs(s.handle(), o.handle(), &[(CKA_LABEL, Some(100))]);
    assert_ck(r.rv, CKR_OK, "larger buffer");
    assert_eq!(r.attrs[0], (12, b"twelve chars".to_vec()));
    let r = raw.get_attrs(
        s.handle(),
        o.handle(),
        &[(CKA_LABEL, Some(5)), (CKA_CLASS, Some(UL))],
    );
    assert_ck(r.rv, CKR_BUFFER_TOO_SMALL, "too small buffer");
    assert_eq!(
        r.attrs[0].0, CK_UNAVAILABLE_INFORMATION,
        "ulValueLen of the too small attribute"
    );
    assert_eq!(
        r.attrs[1].0 as usize, UL,
        "other attributes are still processed"
    );
    assert_eq!(ulong_from(&r.attrs[1].1), CKO_DATA);
    let r = raw.get_attrs(s.handle(), o.handle(), &[(CKA_TOKEN, Some(0))]);
    assert_ck(r.rv, CKR_BUFFER_TOO_SMALL, "CK_BBOOL into 0-byte buffer");
    // a zero-length attribute with an (empty) buffer
    let e = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Private(false),
        ])
        .unwrap();
    let r = raw.get_attrs(s.handle(), e.handle(), &[(CKA_LABEL, Some(0))]);
    assert_ck(r.rv, CKR_OK, "empty label");
    assert_eq!(r.attrs[0].0, 0);
}

#[test]
fn set_label_and_id() {
    let mut f = Fixture::new();
    let tok = f.user_token("setlabel");
    {
        let s = f.rw(tok);
        let o = create_data(&s, "old", true, false);
        s.update_attributes(o, &[Attribute::Label(b"new".to_vec())])
            .expect("set CKA_LABEL");
        assert_eq!(get_label(&s, o), b"new");
        assert!(find_label(&s, "old").is_empty());
        assert_eq!(find_label(&s, "new"), vec![o]);
        s.update_attributes(o, &[Attribute::Label(b"".to_vec())])
            .expect("empty label");
        assert_eq!(get_label(&s, o), b"");
        s.update_attributes(o, &[Attribute::Label(b"persisted label".to_vec())])
            .unwrap();

        let k = s
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(P256_OID.to_vec()),
                Attribute::EcPoint(p256_point_der()),
                Attribute::Token(false),
            ])
            .unwrap();
        s.update_attributes(
            k,
            &[Attribute::Label(b"ec".to_vec()), Attribute::Id(vec![9, 9])],
        )
        .expect("set CKA_LABEL + CKA_ID");
        assert_eq!(get_label(&s, k), b"ec");
        assert_eq!(get_bytes(&s, k, AttributeType::Id), vec![9, 9]);

        // R/O session: session objects may be modified, token objects not
        let ro = f.ro(tok);
        ro.update_attributes(k, &[Attribute::Label(b"ec2".to_vec())])
            .expect("session object in RO session");
        assert_rv!(
            ro.update_attributes(o, &[Attribute::Label(b"nope".to_vec())]),
            SessionReadOnly
        );
        assert_eq!(get_label(&s, o), b"persisted label");
    }
    f.reinit();
    let s = f.ro(tok);
    assert_eq!(
        find_label(&s, "persisted label").len(),
        1,
        "modified label persisted"
    );
}

#[test]
fn sensitive_can_only_become_true() {
    let f = Fixture::new();
    let tok = f.user_token("senschange");
    let s = f.user_session(tok);
    let k = aes_key(&s, "k", false, false, true);
    s.update_attributes(k, &[Attribute::Sensitive(true)])
        .expect("CKA_SENSITIVE false -> true");
    assert!(get_bool(&s, k, AttributeType::Sensitive));
    assert_rv!(
        s.update_attributes(k, &[Attribute::Sensitive(false)]),
        AttributeReadOnly
    );
    assert!(get_bool(&s, k, AttributeType::Sensitive));
    let r = Raw::new().get_attrs(s.handle(), k.handle(), &[(CKA_VALUE, Some(32))]);
    assert_ck(
        r.rv,
        CKR_ATTRIBUTE_SENSITIVE,
        "value after becoming sensitive",
    );
}

#[test]
fn extractable_can_only_become_false() {
    let f = Fixture::new();
    let tok = f.user_token("extchange");
    let s = f.user_session(tok);
    let k = aes_key(&s, "k", false, false, true);
    s.update_attributes(k, &[Attribute::Extractable(false)])
        .expect("CKA_EXTRACTABLE true -> false");
    assert!(!get_bool(&s, k, AttributeType::Extractable));
    assert_rv!(
        s.update_attributes(k, &[Attribute::Extractable(true)]),
        AttributeReadOnly
    );
    assert!(!get_bool(&s, k, AttributeType::Extractable));
}

#[test]
fn non_modifiable_object_prohibits_set() {
    let f = Fixture::new();
    let tok = f.user_token("nomod");
    let s = f.user_session(tok);
    for token in [false, true] {
        let label = format!("frozen-{token}");
        let mut t = data_template(&label, token, false);
        t.push(Attribute::Modifiable(false));
        let o = s.create_object(&t).unwrap();
        assert!(!get_bool(&s, o, AttributeType::Modifiable));
        assert_rv!(
            s.update_attributes(o, &[Attribute::Label(b"thawed".to_vec())]),
            ActionProhibited
        );
        assert_eq!(get_label(&s, o), label.as_bytes());
    }
    let k = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(vec![1; 20]),
            Attribute::Modifiable(false),
            Attribute::Sensitive(false),
        ])
        .unwrap();
    assert_rv!(
        s.update_attributes(k, &[Attribute::Sensitive(true)]),
        ActionProhibited
    );
}

#[test]
fn read_only_attributes_in_set() {
    let f = Fixture::new();
    let tok = f.user_token("roset");
    let s = f.user_session(tok);
    let k = aes_key(&s, "k", false, false, true);
    assert_rv!(
        s.update_attributes(k, &[Attribute::Token(true)]),
        AttributeReadOnly
    );
    assert_rv!(
        s.update_attributes(k, &[Attribute::Class(ObjectClass::DATA)]),
        AttributeReadOnly
    );
    assert_rv!(
        s.update_attributes(k, &[Attribute::KeyType(KeyType::GENERIC_SECRET)]),
        AttributeReadOnly
    );
    assert_rv!(
        s.update_attributes(k, &[Attribute::Value(vec![1; 16])]),
        AttributeReadOnly
    );
    assert_rv!(
        s.update_attributes(k, &[Attribute::Local(true)]),
        AttributeReadOnly
    );
    assert_rv!(
        s.update_attributes(k, &[Attribute::AlwaysSensitive(true)]),
        AttributeReadOnly
    );
    assert_rv!(
        s.update_attributes(k, &[Attribute::NeverExtractable(true)]),
        AttributeReadOnly
    );
    assert_rv!(
        s.update_attributes(k, &[Attribute::UniqueId(b"mine".to_vec())]),
        AttributeReadOnly
    );
    // a failing template changes nothing
    assert_rv!(
        s.update_attributes(
            k,
            &[
                Attribute::Label(b"changed".to_vec()),
                Attribute::Token(true)
            ]
        ),
        AttributeReadOnly
    );
    assert_eq!(get_label(&s, k), b"k", "no partial update");
    assert!(!get_bool(&s, k, AttributeType::Token));
    assert_eq!(get_bytes(&s, k, AttributeType::Value), vec![0x5a; 16]);
}

#[test]
fn invalid_types_and_values_in_set() {
    let f = Fixture::new();
    let tok = f.user_token("badset");
    let s = f.rw(tok);
    let o = create_data(&s, "o", false, false);
    assert_rv!(
        s.update_attributes(o, &[raw_attr(UNDEFINED_ATTR, vec![1])]),
        AttributeTypeInvalid
    );
    let k = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::EcPoint(p256_point_der()),
        ])
        .unwrap();
    assert_rv!(
        s.update_attributes(k, &[raw_attr(CKA_VERIFY, vec![1, 0, 0])]),
        AttributeValueInvalid
    );
    assert_eq!(get_label(&s, o), b"o");
}

#[test]
fn copyable_can_only_become_false() {
    let f = Fixture::new();
    let tok = f.user_token("copychange");
    let s = f.rw(tok);
    let o = create_data(&s, "c", false, false);
    s.update_attributes(o, &[Attribute::Copyable(false)])
        .expect("CKA_COPYABLE true -> false");
    assert!(!get_bool(&s, o, AttributeType::Copyable));
    assert_rv!(s.copy_object(o, &[]), ActionProhibited);
    assert_rv!(
        s.update_attributes(o, &[Attribute::Copyable(true)]),
        AttributeReadOnly
    );
}

#[test]
fn private_attributes_need_login() {
    let f = Fixture::new();
    let tok = f.user_token("privattr");
    let s = f.user_session(tok);
    let o = create_data(&s, "private-token-obj", true, true);
    let k = aes_key(&s, "tok-key", true, false, true);
    s.logout().unwrap();
    let raw = Raw::new();
    for h in [o, k] {
        let r = raw.get_attrs(s.handle(), h.handle(), &[(CKA_LABEL, Some(64))]);
        assert!(
            r.rv == CKR_OBJECT_HANDLE_INVALID || r.rv == CKR_USER_NOT_LOGGED_IN,
            "C_GetAttributeValue on a private object while logged out: {:?}",
            cryptoki::error::Rv::from(r.rv)
        );
        let e = s.update_attributes(h, &[Attribute::Label(b"x".to_vec())]);
        assert!(
            matches!(
                rv_of(&e),
                Some(cryptoki::error::RvError::ObjectHandleInvalid)
                    | Some(cryptoki::error::RvError::UserNotLoggedIn)
            ),
            "C_SetAttributeValue on a private object while logged out: {e:?}"
        );
    }
}
