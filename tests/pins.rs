//! C_InitPIN, C_SetPIN, C_Login PIN checks and PIN lockout (pin.max_attempts).
mod common;

use common::*;
use cryptoki::error::RvError;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki_sys::*;

fn login_user(s: &Session, p: &str) -> cryptoki::error::Result<()> {
    s.login(UserType::User, Some(&pin(p)))
}

fn login_so(s: &Session, p: &str) -> cryptoki::error::Result<()> {
    s.login(UserType::So, Some(&pin(p)))
}

const USER_COUNTER: CK_FLAGS =
    CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;
const SO_COUNTER: CK_FLAGS = CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED;

fn user_counter_flags(f: &Fixture, tok: Slot) -> CK_FLAGS {
    f.token_flags(tok) & USER_COUNTER
}

/// The attempt that reaches the limit may report CKR_PIN_INCORRECT or CKR_PIN_LOCKED.
#[track_caller]
fn assert_incorrect_or_locked(r: cryptoki::error::Result<()>) {
    match rv_of(&r) {
        Some(RvError::PinIncorrect) | Some(RvError::PinLocked) => {}
        other => panic!("expected CKR_PIN_INCORRECT or CKR_PIN_LOCKED, got {other:?}"),
    }
}

#[test]
fn init_pin_requires_so_in_rw_session() {
    let f = Fixture::new();
    let tok = f.new_token("initpin");
    {
        let ro = f.ro(tok);
        assert_rv!(ro.init_pin(&pin(USER_PIN)), UserNotLoggedIn);
        let rw = f.rw(tok);
        assert_rv!(rw.init_pin(&pin(USER_PIN)), UserNotLoggedIn);
    }
    assert!(!f.get_token_info(tok).unwrap().user_pin_initialized());
    let so = f.so_session(tok);
    so.init_pin(&pin(USER_PIN)).expect("C_InitPIN as SO");
    assert!(f.get_token_info(tok).unwrap().user_pin_initialized());
    so.logout().unwrap();
    login_user(&so, USER_PIN).unwrap();
    // user logged in: not the R/W SO state either
    assert_rv!(so.init_pin(&pin("9999")), UserNotLoggedIn);
    so.logout().unwrap();
    assert_rv!(login_user(&so, "9999"), PinIncorrect);
}

#[test]
fn init_pin_length_range() {
    let f = Fixture::new();
    let tok = f.new_token("len");
    let so = f.so_session(tok);
    assert_rv!(so.init_pin(&pin("123")), PinLenRange);
    assert_rv!(so.init_pin(&pin(&"z".repeat(256))), PinLenRange);
    assert!(!f.get_token_info(tok).unwrap().user_pin_initialized());
    so.init_pin(&pin("4321")).expect("4-byte user PIN");
    let long = "q".repeat(255);
    so.init_pin(&pin(&long)).expect("255-byte user PIN");
    so.logout().unwrap();
    assert_rv!(login_user(&so, "4321"), PinIncorrect);
    login_user(&so, &long).expect("login with the 255-byte PIN");
}

#[test]
fn set_user_pin_while_logged_in() {
    let f = Fixture::new();
    let tok = f.user_token("setpin");
    let s = f.user_session(tok);
    s.set_pin(&pin(USER_PIN), &pin("5678"))
        .expect("C_SetPIN as user");
    s.logout().unwrap();
    assert_rv!(login_user(&s, USER_PIN), PinIncorrect);
    login_user(&s, "5678").expect("new user PIN");
}

#[test]
fn set_user_pin_in_rw_public_session() {
    let f = Fixture::new();
    let tok = f.user_token("setpin-pub");
    let s = f.rw(tok);
    s.set_pin(&pin(USER_PIN), &pin("abcdef"))
        .expect("C_SetPIN in R/W public session");
    assert_rv!(login_user(&s, USER_PIN), PinIncorrect);
    login_user(&s, "abcdef").expect("new user PIN");
    // the SO PIN is untouched
    s.logout().unwrap();
    login_so(&s, SO_PIN).expect("SO PIN unchanged");
}

#[test]
fn set_pin_in_read_only_session_fails() {
    let f = Fixture::new();
    let tok = f.user_token("ro");
    let ro = f.ro(tok);
    assert_rv!(ro.set_pin(&pin(USER_PIN), &pin("5678")), SessionReadOnly);
    login_user(&ro, USER_PIN).unwrap();
    assert_rv!(ro.set_pin(&pin(USER_PIN), &pin("5678")), SessionReadOnly);
    ro.logout().unwrap();
    login_user(&ro, USER_PIN).expect("PIN unchanged");
}

#[test]
fn set_pin_with_wrong_old_pin_fails() {
    let f = Fixture::new();
    let tok = f.user_token("wrongold");
    let s = f.user_session(tok);
    assert_rv!(s.set_pin(&pin("0000"), &pin("5678")), PinIncorrect);
    s.logout().unwrap();
    login_user(&s, USER_PIN).expect("PIN unchanged");
    s.logout().unwrap();
    let so = f.so_session(tok);
    assert_rv!(so.set_pin(&pin("00000000"), &pin("87654321")), PinIncorrect);
}

#[test]
fn set_pin_new_pin_length_range() {
    let f = Fixture::new();
    let tok = f.user_token("newlen");
    let s = f.user_session(tok);
    assert_rv!(s.set_pin(&pin(USER_PIN), &pin("123")), PinLenRange);
    assert_rv!(
        s.set_pin(&pin(USER_PIN), &pin(&"1".repeat(256))),
        PinLenRange
    );
    s.logout().unwrap();
    login_user(&s, USER_PIN).expect("PIN unchanged");
}

#[test]
fn set_so_pin() {
    let f = Fixture::new();
    let tok = f.user_token("setso");
    {
        let so = f.so_session(tok);
        so.set_pin(&pin(SO_PIN), &pin("87654321"))
            .expect("C_SetPIN as SO");
        so.logout().unwrap();
        assert_rv!(login_so(&so, SO_PIN), PinIncorrect);
        login_so(&so, "87654321").expect("new SO PIN");
        so.logout().unwrap();
        login_user(&so, USER_PIN).expect("user PIN unchanged");
    }
    // C_InitToken checks the new SO PIN too
    assert_rv!(f.init_token(tok, &pin(SO_PIN), "reinit"), PinIncorrect);
    f.init_token(tok, &pin("87654321"), "reinit")
        .expect("C_InitToken with new SO PIN");
}

#[test]
fn login_with_wrong_or_malformed_pin() {
    let f = Fixture::new();
    let tok = f.user_token("login");
    let s = f.rw(tok);
    assert_rv!(login_user(&s, "4321"), PinIncorrect);
    assert_rv!(login_user(&s, "123"), PinIncorrect);
    assert_rv!(login_user(&s, &"9".repeat(256)), PinIncorrect);
    assert_rv!(login_user(&s, "12345"), PinIncorrect); // correct PIN as prefix
    assert_rv!(login_so(&s, "1234567"), PinIncorrect);
    login_user(&s, USER_PIN).unwrap();
}

#[test]
fn user_pin_lockout_flags_and_lock() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("lock");
    let s = f.rw(tok);
    assert_eq!(user_counter_flags(&f, tok), 0);

    assert_rv!(login_user(&s, "0000"), PinIncorrect);
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW,
        "after 1 wrong PIN",
    );

    assert_rv!(login_user(&s, "0000"), PinIncorrect);
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "after 2 wrong PINs (one try left)",
    );

    assert_incorrect_or_locked(login_user(&s, "0000"));
    let flags = f.token_flags(tok);
    assert!(
        flags & CKF_USER_PIN_LOCKED != 0,
        "CKF_USER_PIN_LOCKED: {}",
        flag_names(flags)
    );
    assert_eq!(
        flags & SO_COUNTER,
        0,
        "SO counter untouched: {}",
        flag_names(flags)
    );

    assert_rv!(login_user(&s, USER_PIN), PinLocked);
    assert_rv!(login_user(&s, "0000"), PinLocked);
    assert_eq!(
        s.get_session_info().unwrap().session_state(),
        cryptoki::session::SessionState::RwPublic
    );
    // the SO is not affected
    login_so(&s, SO_PIN).expect("SO login while user PIN locked");
}

#[test]
fn correct_pin_resets_counter() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("reset");
    let s = f.rw(tok);
    assert_rv!(login_user(&s, "0000"), PinIncorrect);
    assert_rv!(login_user(&s, "0000"), PinIncorrect);
    assert_ne!(user_counter_flags(&f, tok) & CKF_USER_PIN_FINAL_TRY, 0);
    login_user(&s, USER_PIN).expect("correct PIN before the limit");
    assert_eq!(
        user_counter_flags(&f, tok),
        0,
        "counter flags cleared: {}",
        flag_names(f.token_flags(tok))
    );
    s.logout().unwrap();
    // two more wrong attempts do not lock (counter was reset)
    assert_rv!(login_user(&s, "0000"), PinIncorrect);
    assert_rv!(login_user(&s, "0000"), PinIncorrect);
    login_user(&s, USER_PIN).expect("still not locked");
    assert_eq!(user_counter_flags(&f, tok), 0);
}

#[test]
fn so_init_pin_unlocks_user_pin() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("unlock");
    let s = f.rw(tok);
    for _ in 0..3 {
        let _ = login_user(&s, "0000");
    }
    assert_rv!(login_user(&s, USER_PIN), PinLocked);
    login_so(&s, SO_PIN).unwrap();
    s.init_pin(&pin("4321"))
        .expect("C_InitPIN on a locked user PIN");
    s.logout().unwrap();
    assert_eq!(
        user_counter_flags(&f, tok),
        0,
        "{}",
        flag_names(f.token_flags(tok))
    );
    assert_rv!(login_user(&s, USER_PIN), PinIncorrect);
    login_user(&s, "4321").expect("login with the new PIN");
}

#[test]
fn lockout_counter_survives_reinitialize() {
    let mut f = Fixture::with_max_attempts(3);
    let tok = f.user_token("survive");
    {
        let s = f.rw(tok);
        assert_rv!(login_user(&s, "0000"), PinIncorrect);
        assert_rv!(login_user(&s, "0000"), PinIncorrect);
    }
    f.reinit();
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "counter after re-initialize",
    );
    {
        let s = f.rw(tok);
        assert_incorrect_or_locked(login_user(&s, "0000"));
    }
    f.reinit();
    let flags = f.token_flags(tok);
    assert!(
        flags & CKF_USER_PIN_LOCKED != 0,
        "lock persisted: {}",
        flag_names(flags)
    );
    let s = f.rw(tok);
    assert_rv!(login_user(&s, USER_PIN), PinLocked);
}

#[test]
fn so_pin_lockout() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("solock");
    {
        let s = f.rw(tok);
        assert_rv!(login_so(&s, "00000000"), PinIncorrect);
        assert_flags(
            f.token_flags(tok) & SO_COUNTER,
            CKF_SO_PIN_COUNT_LOW,
            "after 1 wrong SO PIN",
        );
        assert_rv!(login_so(&s, "00000000"), PinIncorrect);
        assert_flags(
            f.token_flags(tok) & SO_COUNTER,
            CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY,
            "after 2 wrong SO PINs",
        );
        assert_incorrect_or_locked(login_so(&s, "00000000"));
        let flags = f.token_flags(tok);
        assert!(
            flags & CKF_SO_PIN_LOCKED != 0,
            "CKF_SO_PIN_LOCKED: {}",
            flag_names(flags)
        );
        assert_eq!(
            flags & USER_COUNTER,
            0,
            "user counter untouched: {}",
            flag_names(flags)
        );
        assert_rv!(login_so(&s, SO_PIN), PinLocked);
        login_user(&s, USER_PIN).expect("user unaffected by SO lock");
    }
    assert_rv!(f.init_token(tok, &pin(SO_PIN), "x"), PinLocked);
}

// ---------------------------------------------------------------------------------------------
// Every path that checks a PIN counts toward the lockout and is refused once the PIN is locked:
// C_Login (above), C_SetPIN (user and SO), CKU_CONTEXT_SPECIFIC, C_InitToken's SO PIN. They share
// one counter per PIN.

/// Flags of the SO PIN counter.
fn so_counter_flags(f: &Fixture, tok: Slot) -> CK_FLAGS {
    f.token_flags(tok) & SO_COUNTER
}

#[test]
fn wrong_old_pins_in_set_pin_count_and_lock_the_user_pin() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("setpin-lock");
    let s = f.rw(tok);
    assert_rv!(s.set_pin(&pin("0000"), &pin("5678")), PinIncorrect);
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW,
        "after 1 wrong old PIN in C_SetPIN",
    );
    assert_rv!(s.set_pin(&pin("0000"), &pin("5678")), PinIncorrect);
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "after 2 wrong old PINs in C_SetPIN",
    );
    assert_incorrect_or_locked(s.set_pin(&pin("0000"), &pin("5678")));
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_LOCKED,
        "after 3 wrong old PINs in C_SetPIN",
    );
    assert_eq!(so_counter_flags(&f, tok), 0, "SO counter untouched");
    // Locked: the right old PIN is refused, by C_SetPIN and by C_Login, and the PIN is unchanged.
    assert_rv!(s.set_pin(&pin(USER_PIN), &pin("5678")), PinLocked);
    assert_rv!(login_user(&s, USER_PIN), PinLocked);
    assert_rv!(login_user(&s, "5678"), PinLocked);
    // The SO unlocks it; the PIN C_SetPIN was refused to set was never set.
    login_so(&s, SO_PIN).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    assert_rv!(login_user(&s, "5678"), PinIncorrect);
    login_user(&s, USER_PIN).expect("the PIN C_InitPIN set");
}

/// As the user, logged in: a wrong old PIN still counts, and reaching the limit locks the PIN
/// for later logins (the current login stays, as for any C_Login failure elsewhere).
#[test]
fn set_pin_as_logged_in_user_counts_with_wrong_logins() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("setpin-mixed");
    let other = f.rw(tok);
    assert_rv!(login_user(&other, "0000"), PinIncorrect);
    drop(other);
    let s = f.user_session(tok); // a right PIN resets the counter
    assert_eq!(user_counter_flags(&f, tok), 0);
    assert_rv!(s.set_pin(&pin("0000"), &pin("5678")), PinIncorrect);
    assert_rv!(s.set_pin(&pin("0001"), &pin("5678")), PinIncorrect);
    assert_incorrect_or_locked(s.set_pin(&pin("0002"), &pin("5678")));
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_LOCKED,
        "after 3 wrong old PINs",
    );
    assert_rv!(s.set_pin(&pin(USER_PIN), &pin("5678")), PinLocked);
    s.logout().unwrap();
    assert_rv!(login_user(&s, USER_PIN), PinLocked);
}

#[test]
fn wrong_old_so_pins_in_set_pin_count_and_lock_the_so_pin() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("so-setpin-lock");
    {
        let s = f.so_session(tok);
        assert_rv!(s.set_pin(&pin("00000000"), &pin("87654321")), PinIncorrect);
        assert_flags(
            so_counter_flags(&f, tok),
            CKF_SO_PIN_COUNT_LOW,
            "after 1 wrong old SO PIN",
        );
        assert_rv!(s.set_pin(&pin("00000000"), &pin("87654321")), PinIncorrect);
        assert_flags(
            so_counter_flags(&f, tok),
            CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY,
            "after 2 wrong old SO PINs",
        );
        assert_incorrect_or_locked(s.set_pin(&pin("00000000"), &pin("87654321")));
        assert_flags(
            so_counter_flags(&f, tok),
            CKF_SO_PIN_LOCKED,
            "after 3 wrong old SO PINs",
        );
        assert_eq!(user_counter_flags(&f, tok), 0, "user counter untouched");
        assert_rv!(s.set_pin(&pin(SO_PIN), &pin("87654321")), PinLocked);
        s.logout().unwrap();
        assert_rv!(login_so(&s, SO_PIN), PinLocked);
        assert_rv!(login_so(&s, "87654321"), PinLocked);
        login_user(&s, USER_PIN).expect("the user is not affected");
    }
    assert_rv!(f.init_token(tok, &pin(SO_PIN), "x"), PinLocked);
}

#[test]
fn wrong_so_pins_in_init_token_count_and_lock_the_so_pin() {
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("inittoken-lock");
    assert_rv!(f.init_token(tok, &pin("00000000"), "x"), PinIncorrect);
    assert_flags(
        so_counter_flags(&f, tok),
        CKF_SO_PIN_COUNT_LOW,
        "after 1 wrong SO PIN in C_InitToken",
    );
    assert_rv!(f.init_token(tok, &pin("00000000"), "x"), PinIncorrect);
    assert_flags(
        so_counter_flags(&f, tok),
        CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY,
        "after 2 wrong SO PINs in C_InitToken",
    );
    assert_incorrect_or_locked(f.init_token(tok, &pin("00000000"), "x"));
    assert_flags(
        so_counter_flags(&f, tok),
        CKF_SO_PIN_LOCKED,
        "after 3 wrong SO PINs in C_InitToken",
    );
    assert_rv!(f.init_token(tok, &pin(SO_PIN), "x"), PinLocked);
    let s = f.rw(tok);
    assert_rv!(login_so(&s, SO_PIN), PinLocked);
    // Nothing was wiped: the user PIN and the label are the token's still.
    login_user(&s, USER_PIN).expect("the token was not re-initialized");
    assert_eq!(
        f.get_token_info(tok).unwrap().label().trim(),
        "inittoken-lock"
    );
}

/// A P-256 key pair whose private key needs a context-specific login for each signature.
fn always_auth_key(s: &Session) -> cryptoki::object::ObjectHandle {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    let (_, sk) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(P256_OID.to_vec()),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Sign(true),
                Attribute::Sensitive(true),
                Attribute::Private(true),
                Attribute::AlwaysAuthenticate(true),
            ],
        )
        .expect("C_GenerateKeyPair");
    sk
}

#[test]
fn wrong_context_specific_pins_count_and_lock_the_user_pin() {
    use cryptoki::mechanism::Mechanism;
    let f = Fixture::with_max_attempts(3);
    let tok = f.user_token("context-lock");
    let s = f.user_session(tok);
    let sk = always_auth_key(&s);
    s.sign_init(&Mechanism::Ecdsa, sk).expect("C_SignInit");
    let ctx = |p: &str| s.login(UserType::ContextSpecific, Some(&pin(p)));
    assert_rv!(ctx("0000"), PinIncorrect);
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW,
        "after 1 wrong context-specific PIN",
    );
    assert_rv!(ctx("0000"), PinIncorrect);
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "after 2 wrong context-specific PINs",
    );
    assert_incorrect_or_locked(ctx("0000"));
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_LOCKED,
        "after 3 wrong context-specific PINs",
    );
    assert_rv!(ctx(USER_PIN), PinLocked);
    // The refused login authorized nothing: the signature still needs one.
    let raw = Raw::new();
    assert_ck(
        raw.sign(s.handle(), &[0x5a; 32]),
        CKR_USER_NOT_LOGGED_IN,
        "C_Sign after a refused context-specific login",
    );
    s.logout().unwrap();
    assert_rv!(login_user(&s, USER_PIN), PinLocked);
}

/// A right context-specific PIN resets the counter, as a right C_Login does; wrong ones in
/// C_Login, C_SetPIN and the context-specific login add up.
#[test]
fn all_user_pin_paths_share_one_counter() {
    use cryptoki::mechanism::Mechanism;
    let f = Fixture::with_max_attempts(4);
    let tok = f.user_token("shared-counter");
    let s = f.user_session(tok);
    let sk = always_auth_key(&s);
    s.sign_init(&Mechanism::Ecdsa, sk).unwrap();
    assert_rv!(
        s.login(UserType::ContextSpecific, Some(&pin("0000"))),
        PinIncorrect
    );
    s.login(UserType::ContextSpecific, Some(&pin(USER_PIN)))
        .expect("right context-specific PIN");
    assert_eq!(user_counter_flags(&f, tok), 0, "a right PIN resets");
    assert_ck(
        Raw::new().sign(s.handle(), &[0x5a; 32]),
        CKR_OK,
        "C_Sign after the context-specific login",
    );
    assert_rv!(s.set_pin(&pin("0000"), &pin("5678")), PinIncorrect);
    let other = f.rw(tok);
    s.sign_init(&Mechanism::Ecdsa, sk).unwrap();
    assert_rv!(
        s.login(UserType::ContextSpecific, Some(&pin("0000"))),
        PinIncorrect
    );
    s.logout().unwrap();
    assert_rv!(login_user(&other, "0000"), PinIncorrect);
    assert_flags(
        user_counter_flags(&f, tok),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "after 3 wrong PINs on 3 paths",
    );
    assert_incorrect_or_locked(login_user(&other, "0000"));
    assert_rv!(login_user(&other, USER_PIN), PinLocked);
}
