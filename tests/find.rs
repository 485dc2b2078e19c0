//! C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal.
mod common;

use common::*;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::UserType;
use cryptoki_sys::*;
use std::collections::HashSet;
use std::num::NonZeroUsize;

fn set(v: &[ObjectHandle]) -> HashSet<CK_OBJECT_HANDLE> {
    v.iter().map(|h| h.handle()).collect()
}

#[test]
fn find_by_label_class_id_and_empty_template() {
    let f = Fixture::new();
    let tok = f.user_token("find");
    let s = f.user_session(tok);
    let d1 = create_data(&s, "alpha", false, false);
    let d2 = create_data(&s, "alpha", true, false);
    let d3 = create_data(&s, "beta", true, true);
    let k1 = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![3; 16]),
            Attribute::Label(b"alpha".to_vec()),
            Attribute::Id(vec![1, 2, 3]),
            Attribute::Token(true),
        ])
        .unwrap();
    let k2 = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::EcPoint(p256_point_der()),
            Attribute::Label(b"gamma".to_vec()),
            Attribute::Id(vec![1, 2, 3]),
        ])
        .unwrap();
    let all = [d1, d2, d3, k1, k2];

    assert_eq!(set(&find_label(&s, "alpha")), set(&[d1, d2, k1]));
    assert_eq!(set(&find_label(&s, "beta")), set(&[d3]));
    assert!(find_label(&s, "alph").is_empty(), "no prefix matching");
    assert!(find_label(&s, "alphaa").is_empty());
    assert!(
        find_label(&s, "").is_empty(),
        "empty label matches only empty labels"
    );
    assert_eq!(
        set(&s
            .find_objects(&[Attribute::Class(ObjectClass::DATA)])
            .unwrap()),
        set(&[d1, d2, d3])
    );
    assert_eq!(
        set(&s
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
            .unwrap()),
        set(&[k1])
    );
    assert!(s
        .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
        .unwrap()
        .is_empty());
    assert_eq!(
        set(&s.find_objects(&[Attribute::Id(vec![1, 2, 3])]).unwrap()),
        set(&[k1, k2])
    );
    assert!(s
        .find_objects(&[Attribute::Id(vec![1, 2])])
        .unwrap()
        .is_empty());
    assert_eq!(
        set(&s
            .find_objects(&[
                Attribute::Id(vec![1, 2, 3]),
                Attribute::Class(ObjectClass::PUBLIC_KEY)
            ])
            .unwrap()),
        set(&[k2])
    );
    assert_eq!(
        set(&s.find_objects(&[Attribute::Token(true)]).unwrap()),
        set(&[d2, d3, k1])
    );
    assert_eq!(
        set(&s.find_objects(&[Attribute::Token(false)]).unwrap()),
        set(&[d1, k2])
    );
    assert_eq!(
        set(&s
            .find_objects(&[Attribute::Label(b"alpha".to_vec()), Attribute::Token(false)])
            .unwrap()),
        set(&[d1])
    );
    assert_eq!(
        set(&s.find_objects(&[Attribute::Private(true)]).unwrap()),
        set(&[d3, k1])
    );
    assert_eq!(
        set(&s.find_objects(&[]).unwrap()),
        set(&all),
        "empty template = all visible objects"
    );
    let found = s.find_objects(&[]).unwrap();
    assert_eq!(found.len(), all.len(), "no duplicates");
}

#[test]
fn find_with_undefined_attribute_matches_nothing() {
    let f = Fixture::new();
    let tok = f.user_token("undef");
    let s = f.rw(tok);
    create_data(&s, "x", false, false);
    let raw = Raw::new();
    let rv = raw.find_init(s.handle(), &[(UNDEFINED_ATTR, vec![1])]);
    if rv == CKR_OK {
        let (rv, found) = raw.find(s.handle(), 10);
        assert_ck(rv, CKR_OK, "C_FindObjects");
        assert!(found.is_empty(), "no object has an undefined attribute");
        assert_ck(raw.find_final(s.handle()), CKR_OK, "C_FindObjectsFinal");
    } else {
        assert_ck(
            rv,
            CKR_ATTRIBUTE_TYPE_INVALID,
            "C_FindObjectsInit with an undefined type",
        );
    }
}

#[test]
fn find_in_chunks() {
    let f = Fixture::new();
    let tok = f.user_token("chunks");
    let s = f.rw(tok);
    let created: HashSet<_> = (0..10)
        .map(|i| create_data(&s, "chunk", i % 2 == 0, false).handle())
        .collect();
    create_data(&s, "other", false, false);
    let raw = Raw::new();
    let label = b"chunk".to_vec();
    assert_ck(
        raw.find_init(s.handle(), &[(CKA_LABEL, label.clone())]),
        CKR_OK,
        "C_FindObjectsInit",
    );
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let (rv, chunk) = raw.find(s.handle(), 3);
        assert_ck(rv, CKR_OK, "C_FindObjects");
        sizes.push(chunk.len());
        if chunk.is_empty() {
            break;
        }
        got.extend(chunk);
        assert!(sizes.len() < 10, "runaway search");
    }
    assert_eq!(sizes, vec![3, 3, 3, 1, 0], "chunk sizes");
    assert_eq!(got.len(), 10);
    assert_eq!(
        got.iter().copied().collect::<HashSet<_>>(),
        created,
        "each object exactly once"
    );
    // further calls keep returning 0 objects until C_FindObjectsFinal
    let (rv, chunk) = raw.find(s.handle(), 3);
    assert_ck(rv, CKR_OK, "C_FindObjects after the end");
    assert!(chunk.is_empty());
    assert_ck(raw.find_final(s.handle()), CKR_OK, "C_FindObjectsFinal");

    // a bigger buffer gets everything at once
    assert_ck(
        raw.find_init(s.handle(), &[(CKA_LABEL, label)]),
        CKR_OK,
        "C_FindObjectsInit",
    );
    let (rv, chunk) = raw.find(s.handle(), 100);
    assert_ck(rv, CKR_OK, "C_FindObjects(max 100)");
    assert_eq!(chunk.len(), 10);
    assert_ck(raw.find_final(s.handle()), CKR_OK, "C_FindObjectsFinal");

    // cryptoki iterator with a cache of 4
    let it = s
        .iter_objects_with_cache_size(
            &[Attribute::Label(b"chunk".to_vec())],
            NonZeroUsize::new(4).unwrap(),
        )
        .unwrap();
    let v: Vec<_> = it.map(|r| r.unwrap().handle()).collect();
    assert_eq!(v.into_iter().collect::<HashSet<_>>(), created);
}

#[test]
fn find_operation_state_errors() {
    let f = Fixture::new();
    let tok = f.user_token("opstate");
    let s = f.rw(tok);
    create_data(&s, "x", false, false);
    let raw = Raw::new();
    let (rv, _) = raw.find(s.handle(), 5);
    assert_ck(
        rv,
        CKR_OPERATION_NOT_INITIALIZED,
        "C_FindObjects without C_FindObjectsInit",
    );
    assert_ck(
        raw.find_final(s.handle()),
        CKR_OPERATION_NOT_INITIALIZED,
        "C_FindObjectsFinal without init",
    );

    {
        let _it = s.iter_objects(&[]).unwrap();
        assert_rv!(s.find_objects(&[]), OperationActive);
        assert_ck(
            raw.find_init(s.handle(), &[]),
            CKR_OPERATION_ACTIVE,
            "second C_FindObjectsInit",
        );
        // a search in another session is independent
        let s2 = f.ro(tok);
        assert_eq!(s2.find_objects(&[]).unwrap().len(), 1);
    } // iterator drop = C_FindObjectsFinal
    assert_eq!(
        s.find_objects(&[]).unwrap().len(),
        1,
        "new search after C_FindObjectsFinal"
    );

    assert_ck(raw.find_init(s.handle(), &[]), CKR_OK, "C_FindObjectsInit");
    assert_ck(raw.find_final(s.handle()), CKR_OK, "C_FindObjectsFinal");
    assert_ck(
        raw.find_final(s.handle()),
        CKR_OPERATION_NOT_INITIALIZED,
        "second C_FindObjectsFinal",
    );
    let (rv, _) = raw.find(s.handle(), 5);
    assert_ck(
        rv,
        CKR_OPERATION_NOT_INITIALIZED,
        "C_FindObjects after C_FindObjectsFinal",
    );
}

#[test]
fn private_objects_are_invisible_without_login() {
    let f = Fixture::new();
    let tok = f.user_token("privfind");
    let s = f.rw(tok);
    let public = create_data(&s, "pub", true, false);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let private = create_data(&s, "priv", true, true);
    let private_sess = create_data(&s, "priv-sess", false, true);
    // (C_Logout destroying private session objects is checked in objects.rs)
    assert_eq!(
        set(&s.find_objects(&[]).unwrap()),
        set(&[public, private, private_sess])
    );
    s.logout().unwrap();

    assert_eq!(
        set(&s.find_objects(&[]).unwrap()),
        set(&[public]),
        "only public objects without login"
    );
    assert!(find_label(&s, "priv").is_empty());
    assert!(s
        .find_objects(&[Attribute::Private(true)])
        .unwrap()
        .is_empty());
    let ro = f.ro(tok);
    assert_eq!(set(&ro.find_objects(&[]).unwrap()), set(&[public]));

    // the SO does not see private objects either
    drop(ro);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(
        set(&s.find_objects(&[]).unwrap()),
        set(&[public]),
        "SO sees only public objects"
    );
    s.logout().unwrap();

    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let found = find_label(&s, "priv");
    assert_eq!(found.len(), 1, "visible again after login");
    assert_eq!(get_label(&s, found[0]), b"priv");
}

#[test]
fn objects_of_other_tokens_are_invisible() {
    let f = Fixture::new();
    let t1 = f.user_token("t1");
    let t2 = f.user_token("t2");
    let s1 = f.user_session(t1);
    let s2 = f.user_session(t2);
    let a = create_data(&s1, "mine", true, false);
    let b = create_data(&s1, "mine-sess", false, true);
    assert!(
        s2.find_objects(&[]).unwrap().is_empty(),
        "token 2 sees nothing of token 1"
    );
    let raw = Raw::new();
    for h in [a, b] {
        let r = raw.get_attrs(s2.handle(), h.handle(), &[(CKA_LABEL, Some(64))]);
        assert_ck(
            r.rv,
            CKR_OBJECT_HANDLE_INVALID,
            "another token's object handle",
        );
    }
    assert_eq!(set(&s1.find_objects(&[]).unwrap()), set(&[a, b]));
}

#[test]
fn find_in_read_only_session_sees_token_objects() {
    let mut f = Fixture::new();
    let tok = f.user_token("rofind");
    {
        let s = f.rw(tok);
        create_data(&s, "tokobj", true, false);
    }
    f.reinit();
    let ro = f.ro(tok);
    assert_eq!(find_label(&ro, "tokobj").len(), 1);
    assert_eq!(ro.find_objects(&[Attribute::Token(true)]).unwrap().len(), 1);
}
