//! C_OpenSession / C_CloseSession / C_CloseAllSessions / C_GetSessionInfo / C_Login / C_Logout.
mod common;

use common::*;
use cryptoki::session::{SessionState, UserType};
use cryptoki_sys::*;
use std::collections::HashSet;

fn state(s: &cryptoki::session::Session) -> SessionState {
    s.get_session_info()
        .expect("C_GetSessionInfo")
        .session_state()
}

#[test]
fn session_info_states() {
    let f = Fixture::new();
    let tok = f.user_token("states");
    let ro = f.ro(tok);
    let rw = f.rw(tok);
    let ri = ro.get_session_info().unwrap();
    assert_eq!(ri.session_state(), SessionState::RoPublic);
    assert!(!ri.read_write());
    assert_eq!(ri.slot_id(), tok);
    assert_eq!(ri.device_error(), 0);
    let wi = rw.get_session_info().unwrap();
    assert_eq!(wi.session_state(), SessionState::RwPublic);
    assert!(wi.read_write());
    assert_eq!(wi.slot_id(), tok);

    // raw flags: CKF_SERIAL_SESSION always set, CKF_RW_SESSION for R/W sessions
    let raw = Raw::new();
    let (rv, info) = raw.session_info(ro.handle());
    assert_ck(rv, CKR_OK, "C_GetSessionInfo");
    assert_eq!(info.flags, CKF_SERIAL_SESSION);
    assert_eq!(info.state, CKS_RO_PUBLIC_SESSION);
    let (_, info) = raw.session_info(rw.handle());
    assert_eq!(info.flags, CKF_SERIAL_SESSION | CKF_RW_SESSION);
    assert_eq!(info.state, CKS_RW_PUBLIC_SESSION);

    rw.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(state(&ro), SessionState::RoUser);
    assert_eq!(state(&rw), SessionState::RwUser);
    rw.logout().unwrap();
    assert_eq!(state(&ro), SessionState::RoPublic);
    assert_eq!(state(&rw), SessionState::RwPublic);

    drop(ro);
    rw.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(state(&rw), SessionState::RwSecurityOfficer);
    let rw2 = f.rw(tok);
    assert_eq!(
        state(&rw2),
        SessionState::RwSecurityOfficer,
        "new session inherits SO login"
    );
    rw2.logout().unwrap();
    assert_eq!(state(&rw), SessionState::RwPublic);
}

#[test]
fn login_state_is_shared_by_all_sessions() {
    let f = Fixture::new();
    let tok = f.user_token("shared");
    let a = f.rw(tok);
    let b = f.ro(tok);
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(state(&b), SessionState::RoUser);
    let c = f.ro(tok);
    let d = f.rw(tok);
    assert_eq!(
        state(&c),
        SessionState::RoUser,
        "new RO session opened after login"
    );
    assert_eq!(
        state(&d),
        SessionState::RwUser,
        "new RW session opened after login"
    );
    // logout through another session logs out all of them
    c.logout().unwrap();
    for s in [&a, &d] {
        assert_eq!(state(s), SessionState::RwPublic);
    }
    assert_eq!(state(&b), SessionState::RoPublic);
    // login via the RO session works for the user
    b.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(state(&a), SessionState::RwUser);
}

#[test]
fn user_already_logged_in() {
    let f = Fixture::new();
    let tok = f.user_token("already");
    let a = f.rw(tok);
    let b = f.rw(tok);
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_rv!(
        a.login(UserType::User, Some(&pin(USER_PIN))),
        UserAlreadyLoggedIn
    );
    assert_rv!(
        b.login(UserType::User, Some(&pin(USER_PIN))),
        UserAlreadyLoggedIn
    );
    a.logout().unwrap();
    a.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_rv!(
        b.login(UserType::So, Some(&pin(SO_PIN))),
        UserAlreadyLoggedIn
    );
}

#[test]
fn another_user_already_logged_in() {
    let f = Fixture::new();
    let tok = f.user_token("another");
    let a = f.rw(tok);
    let b = f.rw(tok);
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_rv!(
        b.login(UserType::So, Some(&pin(SO_PIN))),
        UserAnotherAlreadyLoggedIn
    );
    assert_rv!(
        a.login(UserType::So, Some(&pin(SO_PIN))),
        UserAnotherAlreadyLoggedIn
    );
    a.logout().unwrap();
    a.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_rv!(
        b.login(UserType::User, Some(&pin(USER_PIN))),
        UserAnotherAlreadyLoggedIn
    );
    assert_eq!(state(&b), SessionState::RwSecurityOfficer);
}

#[test]
fn so_login_with_read_only_session_open() {
    let f = Fixture::new();
    let tok = f.user_token("roexists");
    let rw = f.rw(tok);
    let ro = f.ro(tok);
    assert_rv!(
        rw.login(UserType::So, Some(&pin(SO_PIN))),
        SessionReadOnlyExists
    );
    assert_rv!(
        ro.login(UserType::So, Some(&pin(SO_PIN))),
        SessionReadOnlyExists
    );
    assert_eq!(state(&rw), SessionState::RwPublic);
    drop(ro);
    rw.login(UserType::So, Some(&pin(SO_PIN)))
        .expect("SO login once the RO session is closed");
}

#[test]
fn read_only_session_while_so_logged_in() {
    let f = Fixture::new();
    let tok = f.user_token("rwso");
    let rw = f.so_session(tok);
    assert_rv!(f.open_ro_session(tok), SessionReadWriteSoExists);
    let rw2 = f.rw(tok);
    assert_eq!(state(&rw2), SessionState::RwSecurityOfficer);
    rw.logout().unwrap();
    let ro = f.ro(tok);
    assert_eq!(state(&ro), SessionState::RoPublic);
}

#[test]
fn user_login_before_init_pin() {
    let f = Fixture::new();
    let tok = f.new_token("nopin");
    let s = f.rw(tok);
    assert_rv!(
        s.login(UserType::User, Some(&pin(USER_PIN))),
        UserPinNotInitialized
    );
    let ro = f.ro(tok);
    assert_rv!(
        ro.login(UserType::User, Some(&pin(USER_PIN))),
        UserPinNotInitialized
    );
    assert_eq!(state(&s), SessionState::RwPublic);
}

#[test]
fn logout_when_not_logged_in() {
    let f = Fixture::new();
    let tok = f.user_token("nologout");
    let s = f.ro(tok);
    assert_rv!(s.logout(), UserNotLoggedIn);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.logout().unwrap();
    assert_rv!(s.logout(), UserNotLoggedIn);
}

#[test]
fn invalid_user_types() {
    let f = Fixture::new();
    let tok = f.user_token("usertype");
    let s = f.rw(tok);
    assert_rv!(
        s.login(UserType::VendorExtension(3), Some(&pin(USER_PIN))),
        UserTypeInvalid
    );
    assert_eq!(state(&s), SessionState::RwPublic);
}

#[test]
fn context_specific_login_without_operation() {
    // PKCS#11 2.40/3.0 C_Login: "If the user type is CKU_CONTEXT_SPECIFIC ... Improper use of
    // this user type will result in a return value CKR_OPERATION_NOT_INITIALIZED."
    let f = Fixture::new();
    let tok = f.user_token("ctxspecific");
    let s = f.rw(tok);
    let r = s.login(UserType::ContextSpecific, Some(&pin(USER_PIN)));
    assert!(
        matches!(
            rv_of(&r),
            Some(cryptoki::error::RvError::OperationNotInitialized)
                | Some(cryptoki::error::RvError::UserNotLoggedIn)
        ),
        "CKU_CONTEXT_SPECIFIC while nobody is logged in: {r:?}"
    );
    assert_eq!(state(&s), SessionState::RwPublic);
    // logged in, but no operation needs a context-specific login
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_rv!(
        s.login(UserType::ContextSpecific, Some(&pin(USER_PIN))),
        OperationNotInitialized
    );
    assert_eq!(state(&s), SessionState::RwUser);
}

#[test]
fn closing_the_last_session_logs_out() {
    let f = Fixture::new();
    let tok = f.user_token("lastclose");
    let a = f.rw(tok);
    let b = f.ro(tok);
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    a.close().unwrap();
    assert_eq!(
        state(&b),
        SessionState::RoUser,
        "still logged in while a session is open"
    );
    b.close().unwrap();
    let c = f.rw(tok);
    assert_eq!(
        state(&c),
        SessionState::RwPublic,
        "closing the last session logged out"
    );
    c.login(UserType::User, Some(&pin(USER_PIN)))
        .expect("login again (not ALREADY_LOGGED_IN)");
    c.close().unwrap();
    // same for the SO
    let d = f.so_session(tok);
    d.close().unwrap();
    let e = f.ro(tok);
    assert_eq!(state(&e), SessionState::RoPublic);
}

#[test]
fn close_all_sessions() {
    let f = Fixture::new();
    let tok = f.user_token("closeall");
    let other = f.user_token("other");
    let a = f.rw(tok);
    let b = f.ro(tok);
    let keep = f.ro(other);
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    keep.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let raw = Raw::new();
    assert_ck(
        raw.close_all_sessions(tok.id()),
        CKR_OK,
        "C_CloseAllSessions",
    );
    assert_rv!(a.get_session_info(), SessionHandleInvalid);
    assert_rv!(b.get_session_info(), SessionHandleInvalid);
    assert_ck(
        raw.close_session(a.handle()),
        CKR_SESSION_HANDLE_INVALID,
        "C_CloseSession after C_CloseAllSessions",
    );
    assert_eq!(
        state(&keep),
        SessionState::RoUser,
        "sessions of other tokens are untouched"
    );
    let c = f.rw(tok);
    assert_eq!(
        state(&c),
        SessionState::RwPublic,
        "C_CloseAllSessions logged the user out"
    );
    assert_eq!(session_counts(&f, tok).0, 1);
    // with no sessions at all it is still CKR_OK
    drop(c);
    assert_ck(
        raw.close_all_sessions(tok.id()),
        CKR_OK,
        "C_CloseAllSessions with no session",
    );
}

#[test]
fn invalid_session_handles() {
    let f = Fixture::new();
    let tok = f.user_token("badhandle");
    let raw = Raw::new();
    let (rv, h) = raw.open_session(tok.id(), CKF_SERIAL_SESSION | CKF_RW_SESSION);
    assert_ck(rv, CKR_OK, "C_OpenSession");
    assert_ne!(
        h, CK_INVALID_HANDLE,
        "session handle must not be CK_INVALID_HANDLE"
    );
    assert_ck(raw.close_session(h), CKR_OK, "C_CloseSession");
    assert_ck(
        raw.close_session(h),
        CKR_SESSION_HANDLE_INVALID,
        "second C_CloseSession",
    );
    let (rv, _) = raw.session_info(h);
    assert_ck(
        rv,
        CKR_SESSION_HANDLE_INVALID,
        "C_GetSessionInfo on closed session",
    );
    assert_ck(
        raw.login(h, CKU_USER, USER_PIN.as_bytes()),
        CKR_SESSION_HANDLE_INVALID,
        "C_Login on closed session",
    );
    let (rv, _) = raw.session_info(CK_INVALID_HANDLE);
    assert_ck(
        rv,
        CKR_SESSION_HANDLE_INVALID,
        "C_GetSessionInfo(CK_INVALID_HANDLE)",
    );
    let (rv, _) = raw.session_info(0x7654_3210);
    assert_ck(
        rv,
        CKR_SESSION_HANDLE_INVALID,
        "C_GetSessionInfo(never issued)",
    );
    assert_ck(
        raw.close_session(0x7654_3210),
        CKR_SESSION_HANDLE_INVALID,
        "C_CloseSession(never issued)",
    );
    assert_ck(
        raw.find_init(h, &[]),
        CKR_SESSION_HANDLE_INVALID,
        "C_FindObjectsInit on closed session",
    );
    let r = raw.get_attrs(h, 1, &[(CKA_CLASS, Some(8))]);
    assert_ck(
        r.rv,
        CKR_SESSION_HANDLE_INVALID,
        "C_GetAttributeValue on closed session",
    );
    let (rv, _) = raw.create_object(h, &[(CKA_CLASS, ulong_bytes(CKO_DATA))]);
    assert_ck(
        rv,
        CKR_SESSION_HANDLE_INVALID,
        "C_CreateObject on closed session",
    );
}

#[test]
fn session_without_serial_flag_is_rejected() {
    let f = Fixture::new();
    let tok = f.user_token("parallel");
    let raw = Raw::new();
    let (rv, _) = raw.open_session(tok.id(), CKF_RW_SESSION);
    assert_ck(
        rv,
        CKR_SESSION_PARALLEL_NOT_SUPPORTED,
        "C_OpenSession(CKF_RW_SESSION)",
    );
    let (rv, _) = raw.open_session(tok.id(), 0);
    assert_ck(rv, CKR_SESSION_PARALLEL_NOT_SUPPORTED, "C_OpenSession(0)");
    assert_eq!(session_counts(&f, tok).0, 0, "no session was opened");
}

#[test]
fn session_handles_are_distinct() {
    let f = Fixture::new();
    let tok = f.user_token("handles");
    let sessions: Vec<_> = (0..32)
        .map(|i| if i % 2 == 0 { f.rw(tok) } else { f.ro(tok) })
        .collect();
    let handles: HashSet<_> = sessions.iter().map(|s| s.handle()).collect();
    assert_eq!(handles.len(), sessions.len());
    assert!(!handles.contains(&CK_INVALID_HANDLE));
    for s in &sessions {
        assert_eq!(s.get_session_info().unwrap().slot_id(), tok);
    }
}

#[test]
fn sessions_of_two_tokens_have_independent_login_state() {
    let f = Fixture::new();
    let t1 = f.user_token("t1");
    let t2 = f.user_token("t2");
    let a = f.rw(t1);
    let b = f.rw(t2);
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(state(&b), SessionState::RwPublic);
    b.login(UserType::So, Some(&pin(SO_PIN)))
        .expect("SO on another token while user on t1");
    assert_eq!(state(&a), SessionState::RwUser);
    assert_eq!(state(&b), SessionState::RwSecurityOfficer);
    assert_eq!(a.get_session_info().unwrap().slot_id(), t1);
    assert_eq!(b.get_session_info().unwrap().slot_id(), t2);
}

/// A logout forgets what needs the user: private objects, and the decoded token objects that
/// hold secrets. Public token objects, and public session objects (a secret key among them), stay.
#[test]
fn logout_keeps_public_objects() {
    use cryptoki::object::{Attribute, KeyType, ObjectClass};
    let f = Fixture::new();
    let tok = f.user_token("logout-keeps");
    let s = f.user_session(tok);
    create_data(&s, "pub-tok", true, false);
    create_data(&s, "priv-tok", true, true);
    create_data(&s, "pub-sess", false, false);
    create_data(&s, "priv-sess", false, true);
    let key = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Label(b"pub-sess-key".to_vec()),
            Attribute::Value(vec![7; 32]),
        ])
        .expect("a public session secret key");
    s.logout().unwrap();
    for (label, n) in [
        ("pub-tok", 1),
        ("pub-sess", 1),
        ("pub-sess-key", 1),
        ("priv-tok", 0),
        ("priv-sess", 0),
    ] {
        assert_eq!(find_label(&s, label).len(), n, "{label} after C_Logout");
    }
    assert_eq!(get_label(&s, key), b"pub-sess-key".to_vec());
    // The private session object is gone for good; the private token object comes back.
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(find_label(&s, "priv-tok").len(), 1);
    assert_eq!(find_label(&s, "priv-sess").len(), 0);
}

/// The SO's login brings the master key, so the token's private objects are decoded then too:
/// they must stay invisible to the SO (private objects are the normal user's).
#[test]
fn the_so_does_not_see_private_objects() {
    use cryptoki::object::AttributeType;
    let f = Fixture::new();
    let tok = f.user_token("so-private");
    let s = f.user_session(tok);
    use cryptoki::object::{Attribute, KeyType, ObjectClass};
    create_data(&s, "priv", true, true);
    create_data(&s, "pub", true, false);
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sign(true),
        Attribute::Label(b"priv-key".to_vec()),
        Attribute::Value(vec![9; 32]),
    ])
    .expect("a private HMAC key");
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(
        find_label(&s, "priv").len(),
        0,
        "the SO finds a private object"
    );
    assert_eq!(
        find_label(&s, "priv-key").len(),
        0,
        "the SO finds a private key"
    );
    assert_eq!(find_label(&s, "pub").len(), 1);
    let all = s.find_objects(&[]).unwrap();
    assert_eq!(all.len(), 1, "the SO sees {} objects", all.len());
    assert!(!get_bool(&s, all[0], AttributeType::Private));
    // Handles are small sequential numbers: the ones next to the public object's are where the
    // private objects decoded at the SO's login sit. None of them reaches a private object.
    let raw = Raw::new();
    let public = all[0].handle();
    for h in public.saturating_sub(8)..=public + 8 {
        if h == public {
            continue;
        }
        let r = raw.get_attrs(s.handle(), h, &[(CKA_LABEL, None)]);
        assert_ck(
            r.rv,
            CKR_OBJECT_HANDLE_INVALID,
            &format!("the SO reads handle {h}"),
        );
        assert_ck(
            raw.sign_init(s.handle(), CKM_SHA256_HMAC, h),
            CKR_KEY_HANDLE_INVALID,
            &format!("the SO signs with handle {h}"),
        );
    }
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(find_label(&s, "priv").len(), 1);
}

/// Who may create what: a token object needs a R/W session, a private object the normal user
/// (the SO holds the master key too, but private objects are not the SO's).
#[test]
fn creating_objects_needs_the_right_session_and_login() {
    let f = Fixture::new();
    let tok = f.user_token("may-hold");
    {
        let so = f.so_session(tok);
        assert_rv!(
            so.create_object(&data_template("so-priv", true, true)),
            UserNotLoggedIn
        );
        assert_rv!(
            so.create_object(&data_template("so-priv-sess", false, true)),
            UserNotLoggedIn
        );
        so.create_object(&data_template("so-pub", true, false))
            .expect("the SO creates a public token object");
    }
    let ro = f.ro(tok);
    assert_rv!(
        ro.create_object(&data_template("ro-tok", true, false)),
        SessionReadOnly
    );
    ro.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_rv!(
        ro.create_object(&data_template("ro-tok-user", true, true)),
        SessionReadOnly
    );
    ro.create_object(&data_template("ro-sess", false, true))
        .expect("a private session object in a R/O user session");
}
