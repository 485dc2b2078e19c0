//! Slot list, token info, C_InitToken, token persistence.
mod common;

use common::*;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki_sys::*;

const INVALID_SLOT: u64 = 0x8000_0000; // initialized tokens have IDs < 2^31, the free one is small

fn serial_slot_id(serial: &str) -> u64 {
    u64::from_str_radix(serial, 16).expect("serial is hex") & 0xffff_ffff & 0x7fff_ffff
}

fn assert_serial_format(serial: &str) {
    assert_eq!(serial.len(), 16, "serial {serial:?} must be 16 hex digits");
    assert!(
        serial
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "serial {serial:?} must be lowercase hex"
    );
}

#[test]
fn initially_one_slot_with_uninitialized_token() {
    let f = Fixture::new();
    let all: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(all, vec![0], "C_GetSlotList(FALSE)");
    let with: Vec<u64> = f
        .get_slots_with_token()
        .unwrap()
        .iter()
        .map(|s| s.id())
        .collect();
    assert_eq!(
        with,
        vec![0],
        "C_GetSlotList(TRUE): the free slot holds a (blank) token"
    );
    assert!(f.get_slots_with_initialized_token().unwrap().is_empty());
    let si = f.get_slot_info(slot(0)).unwrap();
    assert!(si.token_present(), "CKF_TOKEN_PRESENT");
    let ti = f.get_token_info(slot(0)).unwrap();
    assert!(!ti.token_initialized());
    assert!(!ti.user_pin_initialized());
    assert_eq!(ti.manufacturer_id(), "ferrohsm");
    assert_eq!(ti.model(), "ferrohsm");
    let flags = f.token_flags(slot(0));
    assert_eq!(
        flags & (CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED),
        0,
        "{}",
        flag_names(flags)
    );
}

#[test]
fn init_token_moves_token_to_serial_slot_and_adds_free_slot() {
    let f = Fixture::new();
    f.init_token(slot(0), &pin(SO_PIN), "token one")
        .expect("C_InitToken(slot 0)");

    let all: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(all.len(), 2, "one initialized + one free slot: {all:?}");
    let (tok, free) = (all[0], all[1]);
    assert_eq!(
        free, 1,
        "free slot ID = number of initialized tokens, listed last"
    );
    let with: Vec<u64> = f
        .get_slots_with_token()
        .unwrap()
        .iter()
        .map(|s| s.id())
        .collect();
    assert_eq!(with, all, "all slots have a token present");

    let ti = f.get_token_info(slot(tok)).unwrap();
    assert!(ti.token_initialized());
    assert_eq!(ti.label(), "token one");
    assert_eq!(ti.manufacturer_id(), "ferrohsm");
    assert_eq!(ti.model(), "ferrohsm");
    assert_serial_format(ti.serial_number());
    assert_eq!(
        tok,
        serial_slot_id(ti.serial_number()),
        "slot ID derives from the serial"
    );
    assert!(tok < (1 << 31));
    assert_eq!(ti.min_pin_length(), 4);
    assert_eq!(ti.max_pin_length(), 255);
    assert_flags(
        f.token_flags(slot(tok)),
        STANDARD_TOKEN_FLAGS,
        "fresh token",
    );

    let free_ti = f.get_token_info(slot(free)).unwrap();
    assert!(!free_ti.token_initialized());
    assert_eq!(
        f.get_slots_with_initialized_token().unwrap(),
        vec![slot(tok)]
    );

    // The slot ID that was used for C_InitToken now belongs to nobody (unless it is the free slot).
    if tok != 0 && free != 0 {
        assert_rv!(f.get_token_info(slot(0)), SlotIdInvalid);
    }

    // second token
    f.init_token(slot(1), &pin(SO_PIN), "token two")
        .expect("C_InitToken(slot 1)");
    let all2: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(all2.len(), 3, "{all2:?}");
    assert_eq!(all2[2], 2, "free slot ID = 2 after two tokens");
    assert!(
        all2[0] < all2[1],
        "initialized tokens in ascending slot ID order: {all2:?}"
    );
    assert!(all2[..2].contains(&tok), "first token keeps its slot ID");
    let tok2 = if all2[0] == tok { all2[1] } else { all2[0] };
    let ti2 = f.get_token_info(slot(tok2)).unwrap();
    assert_eq!(ti2.label(), "token two");
    assert_serial_format(ti2.serial_number());
    assert_ne!(
        ti2.serial_number(),
        ti.serial_number(),
        "serials are unique"
    );
    assert_eq!(tok2, serial_slot_id(ti2.serial_number()));
}

#[test]
fn token_info_strings_are_blank_padded() {
    let f = Fixture::new();
    let tok = f.new_token("padded label");
    let raw = Raw::new();
    let ti = raw.token_info(tok.id());
    assert_eq!(ti.label, padded::<32>("padded label"));
    assert_eq!(ti.manufacturerID, padded::<32>("ferrohsm"));
    assert_eq!(ti.model, padded::<16>("ferrohsm"));
    assert!(
        ti.serialNumber.iter().all(|b| b.is_ascii_hexdigit()),
        "serial has 16 hex digits, no padding"
    );
    // a full 32-byte label is kept as is
    let tok2 = f.new_token("0123456789abcdef0123456789ABCDEF");
    assert_eq!(
        raw.token_info(tok2.id()).label,
        *b"0123456789abcdef0123456789ABCDEF"
    );
}

#[test]
fn user_pin_initialized_flag() {
    let f = Fixture::new();
    let tok = f.new_token("flags");
    assert_flags(f.token_flags(tok), STANDARD_TOKEN_FLAGS, "before C_InitPIN");
    f.init_user_pin(tok);
    assert_flags(
        f.token_flags(tok),
        STANDARD_TOKEN_FLAGS | CKF_USER_PIN_INITIALIZED,
        "after C_InitPIN",
    );
    assert!(f.get_token_info(tok).unwrap().user_pin_initialized());
}

#[test]
fn session_counts_in_token_info() {
    let f = Fixture::new();
    let tok = f.user_token("counts");
    // CK_UNAVAILABLE_INFORMATION is allowed by the spec, but ferrohsm reports the counts: they
    // are checked exactly.
    let counts = |f: &Fixture| {
        let (n, rw) = session_counts(f, tok);
        (Some(n), Some(rw))
    };
    assert_eq!(counts(&f), (Some(0), Some(0)));
    let ro = f.ro(tok);
    assert_eq!(counts(&f), (Some(1), Some(0)));
    let rw = f.rw(tok);
    assert_eq!(counts(&f), (Some(2), Some(1)));
    let rw2 = f.rw(tok);
    assert_eq!(counts(&f), (Some(3), Some(2)));
    rw.close().unwrap();
    assert_eq!(counts(&f), (Some(2), Some(1)));
    ro.close().unwrap();
    assert_eq!(counts(&f), (Some(1), Some(1)));
    rw2.close().unwrap();
    assert_eq!(counts(&f), (Some(0), Some(0)));
}

#[test]
fn mechanism_list_and_info() {
    let f = Fixture::new();
    let tok = f.new_token("mechs");
    let mechs = f.get_mechanism_list(tok).expect("C_GetMechanismList");
    for m in mechs {
        f.get_mechanism_info(tok, m)
            .unwrap_or_else(|e| panic!("C_GetMechanismInfo({m}): {e:?}"));
    }
    f.get_mechanism_list(f.free_slot())
        .expect("C_GetMechanismList on the free slot");
}

#[test]
fn invalid_slot_ids() {
    let f = Fixture::new();
    let _tok = f.new_token("x");
    let bad = slot(INVALID_SLOT);
    assert_rv!(f.get_slot_info(bad), SlotIdInvalid);
    assert_rv!(f.get_token_info(bad), SlotIdInvalid);
    assert_rv!(f.get_mechanism_list(bad), SlotIdInvalid);
    assert_rv!(f.open_ro_session(bad), SlotIdInvalid);
    assert_rv!(f.open_rw_session(bad), SlotIdInvalid);
    assert_rv!(f.init_token(bad, &pin(SO_PIN), "x"), SlotIdInvalid);
    // the next free slot ID does not exist yet
    assert_rv!(f.get_slot_info(slot(2)), SlotIdInvalid);
    let raw = Raw::new();
    assert_ck(
        raw.close_all_sessions(INVALID_SLOT),
        CKR_SLOT_ID_INVALID,
        "C_CloseAllSessions",
    );
}

#[test]
fn reinit_with_wrong_so_pin_fails() {
    let f = Fixture::new();
    let tok = f.new_token("so");
    assert_rv!(f.init_token(tok, &pin("87654321"), "new"), PinIncorrect);
    assert_eq!(f.get_token_info(tok).unwrap().label(), "so");
}

#[test]
fn reinit_with_open_session_fails() {
    let f = Fixture::new();
    let tok = f.new_token("busy");
    let s = f.ro(tok);
    assert_rv!(f.init_token(tok, &pin(SO_PIN), "busy2"), SessionExists);
    drop(s);
    let s = f.rw(tok);
    assert_rv!(f.init_token(tok, &pin(SO_PIN), "busy2"), SessionExists);
    drop(s);
    f.init_token(tok, &pin(SO_PIN), "busy2")
        .expect("C_InitToken without sessions");
    assert_eq!(f.get_token_info(tok).unwrap().label(), "busy2");
}

#[test]
fn reinit_wipes_objects_and_user_pin_but_keeps_serial_and_slot() {
    let f = Fixture::new();
    let tok = f.user_token("before");
    let serial = f.get_token_info(tok).unwrap().serial_number().to_string();
    {
        let s = f.user_session(tok);
        create_data(&s, "pub-obj", true, false);
        create_data(&s, "priv-obj", true, true);
        assert_eq!(s.find_objects(&[]).unwrap().len(), 2);
    }
    f.init_token(tok, &pin(SO_PIN), "after")
        .expect("C_InitToken (re-init)");

    let all: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(all, vec![tok.id(), 1], "same slot ID, still one free slot");
    let ti = f.get_token_info(tok).unwrap();
    assert_eq!(ti.serial_number(), serial, "serial kept");
    assert_eq!(ti.label(), "after", "new label");
    assert!(!ti.user_pin_initialized(), "user PIN removed");
    assert_flags(f.token_flags(tok), STANDARD_TOKEN_FLAGS, "after re-init");

    let s = f.rw(tok);
    assert_rv!(
        s.login(UserType::User, Some(&pin(USER_PIN))),
        UserPinNotInitialized
    );
    assert!(
        s.find_objects(&[]).unwrap().is_empty(),
        "public objects wiped"
    );
    s.login(UserType::So, Some(&pin(SO_PIN)))
        .expect("SO login with the same SO PIN");
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert!(
        s.find_objects(&[]).unwrap().is_empty(),
        "private objects wiped"
    );
}

#[test]
fn init_token_so_pin_length_range() {
    let f = Fixture::new();
    let free = f.free_slot();
    assert_rv!(f.init_token(free, &pin("123"), "short"), PinLenRange);
    assert_rv!(f.init_token(free, &pin(""), "empty"), PinLenRange);
    let long256 = "x".repeat(256);
    assert_rv!(f.init_token(free, &pin(&long256), "long"), PinLenRange);
    assert!(
        f.get_slots_with_initialized_token().unwrap().is_empty(),
        "nothing initialized"
    );

    // boundaries 4 and 255 are accepted
    f.init_token(free, &pin("4444"), "min")
        .expect("4-byte SO PIN");
    let long255 = "y".repeat(255);
    let free2 = f.free_slot();
    f.init_token(free2, &pin(&long255), "max")
        .expect("255-byte SO PIN");
    let slots = f.get_slots_with_initialized_token().unwrap();
    assert_eq!(slots.len(), 2);
    for s in slots {
        let label = f.get_token_info(s).unwrap().label().to_string();
        let so = if label == "min" {
            "4444".to_string()
        } else {
            long255.clone()
        };
        let sess = f.rw(s);
        sess.login(UserType::So, Some(&pin(&so)))
            .expect("SO login with boundary-length PIN");
    }
}

#[test]
fn tokens_and_objects_persist_across_reinitialize() {
    let mut f = Fixture::new();
    let tok = f.user_token("persist");
    let serial = f.get_token_info(tok).unwrap().serial_number().to_string();
    let second = f.new_token("second");
    {
        let s = f.user_session(tok);
        create_data(&s, "persist-pub", true, false);
        create_data(&s, "persist-priv", true, true);
        create_data(&s, "persist-session", false, false);
    }
    let slots_before: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();

    f.reinit();

    let slots_after: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(slots_after, slots_before, "same slots after re-initialize");
    let ti = f.get_token_info(tok).unwrap();
    assert_eq!(ti.serial_number(), serial);
    assert_eq!(ti.label(), "persist");
    assert_flags(
        f.token_flags(tok),
        STANDARD_TOKEN_FLAGS | CKF_USER_PIN_INITIALIZED,
        "persisted token",
    );
    assert_eq!(f.get_token_info(second).unwrap().label(), "second");

    let s = f.rw(tok);
    let pubs = find_label(&s, "persist-pub");
    assert_eq!(pubs.len(), 1, "public token object persisted");
    assert_eq!(
        get_bytes(&s, pubs[0], AttributeType::Value),
        b"value of persist-pub"
    );
    assert!(
        find_label(&s, "persist-priv").is_empty(),
        "private object hidden before login"
    );
    assert!(
        find_label(&s, "persist-session").is_empty(),
        "session object is gone"
    );
    s.login(UserType::User, Some(&pin(USER_PIN)))
        .expect("user PIN persisted");
    let privs = find_label(&s, "persist-priv");
    assert_eq!(privs.len(), 1, "private token object persisted");
    assert_eq!(
        get_bytes(&s, privs[0], AttributeType::Value),
        b"value of persist-priv"
    );
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN)))
        .expect("SO PIN persisted");
}

/// Runs in a child process spawned by `tokens_persist_across_processes`; a no-op otherwise.
#[test]
fn child_process_persistence_check() {
    let Ok(serial) = std::env::var("FERROHSM_TEST_CHILD_SERIAL") else {
        return;
    };
    let conf = std::path::PathBuf::from(std::env::var("FERROHSM_CONF").unwrap());
    let f = Fixture::with_conf(&conf);
    let tok = f
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| f.get_token_info(*s).unwrap().serial_number() == serial)
        .expect("token of the parent process is visible in the child");
    assert_eq!(tok.id(), serial_slot_id(&serial));
    let s = f.user_session(tok);
    let pubs = find_label(&s, "parent-pub");
    assert_eq!(pubs.len(), 1);
    let privs = find_label(&s, "parent-priv");
    assert_eq!(privs.len(), 1);
    assert_eq!(
        get_bytes(&s, privs[0], AttributeType::Value),
        b"value of parent-priv"
    );
    create_data(&s, "from-child", true, true);
}

#[test]
fn tokens_persist_across_processes() {
    if std::env::var_os("FERROHSM_TEST_CHILD_SERIAL").is_some() {
        return;
    }
    let mut f = Fixture::new();
    let tok = f.user_token("xproc");
    let serial = f.get_token_info(tok).unwrap().serial_number().to_string();
    {
        let s = f.user_session(tok);
        create_data(&s, "parent-pub", true, false);
        create_data(&s, "parent-priv", true, true);
    }
    f.shutdown();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_persistence_check",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("FERROHSM_CONF", &f.conf)
        .env("FERROHSM_TEST_CHILD_SERIAL", &serial)
        .env("FERROHSM_MODULE", module_path())
        .output()
        .expect("spawn child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child process failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    f.startup();
    let s = f.user_session(tok);
    let objs = s
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Label(b"from-child".to_vec()),
        ])
        .unwrap();
    assert_eq!(
        objs.len(),
        1,
        "object created by the child process is visible"
    );
}
