//! Tamper detection: the token database is edited behind the module's back (rusqlite, record format
//! of `src/store/mod.rs` `encode_attrs`). The module must never return a wrong key value: a damaged
//! object is skipped (with an error in the log) or its reads fail; it never crashes or hangs.
//! Damaging the wrapped master key makes login fail cleanly.
//!
//! Every key here holds a secret, so it is stored sealed whole: one attribute of the reserved type
//! `SEALED_RECORD` whose value is nonce || ciphertext || tag. Attacks on single attributes are made
//! by putting clear attributes next to it, or in its place.
mod common;
mod support;

use common::*;
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::{
    CKA_EXTRACTABLE, CKA_KEY_TYPE, CKA_SENSITIVE, CKA_VALUE, CKR_OK, CK_RV,
    CK_UNAVAILABLE_INFORMATION,
};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;
use support::*;

#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    support::worker_main();
}

const TOKEN: &str = "tamper";

struct Setup {
    env: Env,
    log: PathBuf,
    db: PathBuf,
    /// label -> (unique id, CKA_VALUE)
    keys: Vec<(String, String, Vec<u8>)>,
}

impl Setup {
    fn uid(&self, label: &str) -> &str {
        &self.keys.iter().find(|k| k.0 == label).unwrap().1
    }
    fn value(&self, label: &str) -> &[u8] {
        &self.keys.iter().find(|k| k.0 == label).unwrap().2
    }
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn make_key(s: &Session, label: &str, private: bool, sensitive: bool) -> (ObjectHandle, Vec<u8>) {
    let v = os_random(32);
    let h = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Sensitive(sensitive),
            Attribute::Extractable(!sensitive),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Value(v.clone()),
        ])
        .unwrap_or_else(|e| panic!("create {label}: {e:?}"));
    (h, v)
}

/// The attacks here edit single records: the token's state tag (tests/store_rollback.rs) makes
/// every such login fail at once. These tests check the layer below it, each record's own seal,
/// which holds alone: `token.state_mismatch = accept` lets the login go on over the damage.
///
/// A token with: `victim` (private, extractable: its value can be read back), `pub-victim`
/// (public, extractable: only CKA_VALUE is sealed), `donor` (private, extractable) and `control`
/// (private, extractable), `pub-sensitive` (public, sensitive, not extractable).
fn setup() -> Setup {
    let env =
        Env::new("pin.max_attempts = 1000\nlog.level = ERROR\ntoken.state_mismatch = accept\n");
    let log = env.path("ferrohsm.log");
    std::fs::write(
        &env.conf,
        std::fs::read_to_string(&env.conf).unwrap() + &format!("log.file = {}\n", log.display()),
    )
    .unwrap();
    env.make_token(TOKEN);
    let mut keys = Vec::new();
    {
        let f = env.fixture();
        let s = f.user_session(slot_by_label(&f, TOKEN).unwrap());
        for (label, private, sensitive) in [
            ("victim", true, false),
            ("pub-victim", false, false),
            ("donor", true, false),
            ("control", true, false),
            ("pub-sensitive", false, true),
            ("priv-sensitive", true, true),
        ] {
            let (h, v) = make_key(&s, label, private, sensitive);
            let uid = String::from_utf8(get_bytes(&s, h, AttributeType::UniqueId)).unwrap();
            keys.push((label.to_string(), uid, v));
        }
    }
    let db = env.only_db();
    Setup { env, log, db, keys }
}

/// What the module shows for an object after tampering.
#[derive(Debug, PartialEq)]
enum Seen {
    /// Not listed (skipped).
    Absent,
    /// Listed, CKA_VALUE read failed with this code.
    ReadFails(RvError),
    /// Listed and CKA_VALUE read back.
    Value(Vec<u8>),
}

fn find1(s: &Session, label: &str) -> cryptoki::error::Result<Vec<ObjectHandle>> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
}

fn rv_err(rv: CK_RV) -> RvError {
    match cryptoki::error::Rv::from(rv) {
        cryptoki::error::Rv::Error(e) => e,
        cryptoki::error::Rv::Ok => unreachable!(),
    }
}

fn read_value(s: &Session, h: ObjectHandle) -> Seen {
    let raw = Raw::new();
    let r = raw.get_attrs(s.handle(), h.handle(), &[(CKA_VALUE, None)]);
    if r.rv != CKR_OK {
        return Seen::ReadFails(rv_err(r.rv));
    }
    let n = r.attrs[0].0;
    if n == CK_UNAVAILABLE_INFORMATION {
        return Seen::ReadFails(RvError::AttributeSensitive);
    }
    let r = raw.get_attrs(s.handle(), h.handle(), &[(CKA_VALUE, Some(n as usize))]);
    if r.rv != CKR_OK {
        return Seen::ReadFails(rv_err(r.rv));
    }
    Seen::Value(r.attrs[0].1.clone())
}

/// Loads the module, logs in, and reports what `label` looks like; also checks `control`.
/// Returns (seen, control still fine, any call failure text).
fn observe(st: &Setup, label: &str) -> (Seen, Result<(), String>) {
    let f = st.env.fixture();
    let Some(tok) = slot_by_label(&f, TOKEN) else {
        return (Seen::Absent, Err("the token is no longer listed".into()));
    };
    let s = f.rw(tok);
    if let Err(e) = s.login(UserType::User, Some(&pin(USER_PIN))) {
        return (Seen::Absent, Err(format!("user login fails: {e}")));
    }
    let seen = match find1(&s, label) {
        Err(e) => Seen::ReadFails(match e {
            cryptoki::error::Error::Pkcs11(rv, _) => rv,
            other => panic!("{other}"),
        }),
        Ok(v) if v.is_empty() => Seen::Absent,
        Ok(v) => {
            assert_eq!(v.len(), 1);
            read_value(&s, v[0])
        }
    };
    let control = match find1(&s, "control") {
        Ok(v) if v.len() == 1 => match read_value(&s, v[0]) {
            Seen::Value(x) if x == st.value("control") => Ok(()),
            other => Err(format!("control key reads as {other:?}")),
        },
        other => Err(format!("control key: find gives {other:?}")),
    };
    (seen, control)
}

fn edit_value_attr(st: &Setup, label: &str, f: impl Fn(&mut Vec<Rec>)) -> Vec<u8> {
    let row = row_by_uid(&st.db, st.uid(label));
    let mut recs = decode_record(&row.attrs);
    f(&mut recs);
    set_attrs_blob(&st.db, row.id, &encode_record(&recs));
    row.attrs
}

fn restore(st: &Setup, label: &str, blob: &[u8]) {
    let row = row_by_uid(&st.db, st.uid(label));
    set_attrs_blob(&st.db, row.id, blob);
}

/// The sealed object, checked to be the record's only attribute.
fn sealed_rec(recs: &mut [Rec]) -> &mut Rec {
    assert_eq!(
        recs.len(),
        1,
        "an object with a secret is stored as one sealed attribute"
    );
    assert_eq!(
        recs[0].ty, SEALED_RECORD,
        "the object is stored sealed whole"
    );
    assert_eq!(recs[0].sealed, 1, "the object is stored sealed whole");
    &mut recs[0]
}

/// Sets a clear attribute in a record (replacing one of that type, or added next to the others).
fn put_clear(recs: &mut Vec<Rec>, ty: u64, value: Vec<u8>) {
    recs.retain(|r| r.ty != ty);
    recs.push(Rec {
        ty,
        sealed: 0,
        value,
    });
}

/// Never a wrong value; a skip is logged.
#[track_caller]
fn check_outcome(st: &Setup, what: &str, label: &str, seen: &Seen, log_before: usize) {
    match seen {
        Seen::Value(v) => {
            assert_eq!(
                v.as_slice(),
                st.value(label),
                "{what}: the module returned a WRONG value for {label} instead of failing"
            );
            panic!("{what}: the damage to {label} went unnoticed (original value returned)");
        }
        Seen::Absent => {
            let log = st.log_text();
            let new = &log[log_before.min(log.len())..];
            assert!(
                !new.trim().is_empty(),
                "{what}: {label} was skipped without an error in the log"
            );
        }
        Seen::ReadFails(_) => {}
    }
}

#[test]
fn flipped_or_truncated_sealed_values_are_detected() {
    let st = setup();
    type Mutation = (&'static str, fn(&mut Rec));
    let mutations: [Mutation; 8] = [
        ("nonce byte flipped", |r| r.value[0] ^= 0x01),
        ("ciphertext byte flipped", |r| r.value[12] ^= 0x80),
        ("last ciphertext byte flipped", |r| {
            let n = r.value.len();
            r.value[n - 17] ^= 0x01
        }),
        ("tag byte flipped", |r| {
            let n = r.value.len();
            r.value[n - 1] ^= 0x01
        }),
        ("sealed value truncated to 20 bytes", |r| {
            r.value.truncate(20)
        }),
        ("sealed value cut by its last byte", |r| {
            r.value.pop();
        }),
        ("sealed value emptied", |r| r.value.clear()),
        ("sealed value extended by one byte", |r| r.value.push(0)),
    ];
    for label in ["victim", "pub-victim"] {
        for (what, m) in mutations.iter() {
            let orig = edit_value_attr(&st, label, |recs| m(sealed_rec(recs)));
            let before = st.log_text().len();
            let (seen, control) = observe(&st, label);
            let what = format!("{label}: {what}");
            check_outcome(&st, &what, label, &seen, before);
            control.unwrap_or_else(|e| panic!("{what}: other objects must stay usable: {e}"));
            restore(&st, label, &orig);
        }
    }
    // After restoring, everything reads back (the test edits what it thinks it edits).
    let (seen, control) = observe(&st, "victim");
    assert_eq!(seen, Seen::Value(st.value("victim").to_vec()));
    control.unwrap();
}

#[test]
fn sealed_value_moved_from_another_object_is_rejected() {
    let st = setup();
    let mut donor = decode_record(&row_by_uid(&st.db, st.uid("donor")).attrs);
    let donor_sealed = sealed_rec(&mut donor).clone();
    edit_value_attr(&st, "victim", |recs| {
        *sealed_rec(recs) = donor_sealed.clone()
    });
    let before = st.log_text().len();
    let (seen, control) = observe(&st, "victim");
    assert_ne!(
        seen,
        Seen::Value(st.value("donor").to_vec()),
        "the victim key shows the donor's value: sealed values are not bound to their object"
    );
    check_outcome(
        &st,
        "donor's sealed record copied into victim",
        "victim",
        &seen,
        before,
    );
    control.unwrap();
}

/// Marking the sealed record as clear, or putting a clear CKA_VALUE in the record (next to the
/// sealed one or in its place), must not make the module take the stored bytes (ciphertext, or a
/// value of the attacker's choice) as the key value.
#[test]
fn clearing_the_sealed_flag_does_not_substitute_a_value() {
    let st = setup();
    let chosen = vec![0x41u8; 32];
    let mut problems = Vec::new();
    // A whole clear record of the attacker's choice, with the victim's class, type and unique ID.
    let forged = |label: &str, private: bool| {
        let ul = |v: u64| v.to_ne_bytes().to_vec();
        vec![
            Rec {
                ty: cryptoki_sys::CKA_CLASS,
                sealed: 0,
                value: ul(cryptoki_sys::CKO_SECRET_KEY),
            },
            Rec {
                ty: CKA_KEY_TYPE,
                sealed: 0,
                value: ul(cryptoki_sys::CKK_GENERIC_SECRET),
            },
            Rec {
                ty: cryptoki_sys::CKA_TOKEN,
                sealed: 0,
                value: vec![1],
            },
            Rec {
                ty: cryptoki_sys::CKA_PRIVATE,
                sealed: 0,
                value: vec![private as u8],
            },
            Rec {
                ty: CKA_SENSITIVE,
                sealed: 0,
                value: vec![0],
            },
            Rec {
                ty: CKA_EXTRACTABLE,
                sealed: 0,
                value: vec![1],
            },
            Rec {
                ty: cryptoki_sys::CKA_LABEL,
                sealed: 0,
                value: label.as_bytes().to_vec(),
            },
            Rec {
                ty: cryptoki_sys::CKA_UNIQUE_ID,
                sealed: 0,
                value: st.uid(label).as_bytes().to_vec(),
            },
            Rec {
                ty: CKA_VALUE,
                sealed: 0,
                value: chosen.clone(),
            },
        ]
    };
    for (what, label, replace) in [
        ("sealed flag cleared, ciphertext kept", "victim", None),
        (
            "clear CKA_VALUE of the attacker's choice next to the sealed record",
            "victim",
            Some(chosen.clone()),
        ),
        (
            "clear CKA_VALUE of the attacker's choice next to the sealed record",
            "pub-victim",
            Some(chosen.clone()),
        ),
    ] {
        let orig = edit_value_attr(&st, label, |recs| match &replace {
            None => sealed_rec(recs).sealed = 0,
            Some(v) => put_clear(recs, CKA_VALUE, v.clone()),
        });
        let (seen, control) = observe(&st, label);
        let what = format!("{label}: {what}");
        match &seen {
            Seen::Value(v) if v.as_slice() != st.value(label) => problems.push(format!(
                "{what}: C_GetAttributeValue(CKA_VALUE) returned a WRONG value ({} bytes: {})",
                v.len(),
                if *v == chosen {
                    "the attacker's"
                } else {
                    "the stored ciphertext"
                }
            )),
            _ => {}
        }
        if let Err(e) = control {
            problems.push(format!("{what}: {e}"));
        }
        restore(&st, label, &orig);
    }
    for (label, private) in [("victim", true), ("pub-victim", false)] {
        let what = format!("{label}: sealed record replaced by a forged clear record");
        let row = row_by_uid(&st.db, st.uid(label));
        set_attrs_blob(&st.db, row.id, &encode_record(&forged(label, private)));
        let (seen, control) = observe(&st, label);
        if let Seen::Value(v) = &seen {
            problems.push(format!(
                "{what}: C_GetAttributeValue(CKA_VALUE) returned {} bytes",
                v.len()
            ));
        }
        if let Err(e) = control {
            problems.push(format!("{what}: {e}"));
        }
        set_attrs_blob(&st.db, row.id, &row.attrs);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// CKA_SENSITIVE / CKA_EXTRACTABLE of a public (CKA_PRIVATE=false) sensitive key are sealed with
/// it; clear values put next to the sealed record must not let the module reveal the key.
#[test]
fn editing_clear_policy_attributes_does_not_reveal_a_sensitive_key() {
    let st = setup();
    edit_value_attr(&st, "pub-sensitive", |recs| {
        sealed_rec(recs);
        put_clear(recs, CKA_SENSITIVE, vec![0]);
        put_clear(recs, CKA_EXTRACTABLE, vec![1]);
    });
    let before = st.log_text().len();
    let (seen, control) = observe(&st, "pub-sensitive");
    assert_ne!(
        seen,
        Seen::Value(st.value("pub-sensitive").to_vec()),
        "a sensitive, non-extractable key's value is revealed after CKA_SENSITIVE/CKA_EXTRACTABLE \
         were edited in the database (the policy attributes are not authenticated)"
    );
    let _ = before;
    control.unwrap();
}

/// A private key's CKA_SENSITIVE / CKA_EXTRACTABLE are sealed; clear values put next to the sealed
/// record (sealed flag 0) must not make the module reveal the key.
#[test]
fn replacing_sealed_policy_attributes_does_not_reveal_a_private_key() {
    let st = setup();
    edit_value_attr(&st, "priv-sensitive", |recs| {
        sealed_rec(recs);
        put_clear(recs, CKA_SENSITIVE, vec![0]);
        put_clear(recs, CKA_EXTRACTABLE, vec![1]);
    });
    let (seen, control) = observe(&st, "priv-sensitive");
    assert_ne!(
        seen,
        Seen::Value(st.value("priv-sensitive").to_vec()),
        "a private, sensitive key's value is revealed after its sealed CKA_SENSITIVE and \
         CKA_EXTRACTABLE were replaced by clear values in the database"
    );
    control.unwrap();
}

/// A truncated record (the whole `attrs` blob): never a crash or wrong value.
#[test]
fn truncated_record_is_not_a_crash_or_wrong_value() {
    let st = setup();
    let row = row_by_uid(&st.db, st.uid("victim"));
    for cut in [1usize, 17, row.attrs.len() / 2, row.attrs.len() - 2] {
        set_attrs_blob(&st.db, row.id, &row.attrs[..row.attrs.len() - cut]);
        let before = st.log_text().len();
        let (seen, _control) = observe(&st, "victim");
        if let Seen::Value(v) = &seen {
            assert_eq!(
                v.as_slice(),
                st.value("victim"),
                "record cut by {cut}: wrong value"
            );
        }
        let _ = before;
        set_attrs_blob(&st.db, row.id, &row.attrs);
    }
}

/// One truncated record must not take the rest of the token with it.
#[test]
fn truncated_record_leaves_the_other_objects_usable() {
    let st = setup();
    let row = row_by_uid(&st.db, st.uid("victim"));
    set_attrs_blob(&st.db, row.id, &row.attrs[..row.attrs.len() - 17]);
    let before = st.log_text().len();
    let (seen, control) = observe(&st, "victim");
    let log = st.log_text();
    control.unwrap_or_else(|e| {
        panic!(
            "one truncated record makes the whole token unusable: {e}\nlog:\n{}",
            &log[before.min(log.len())..]
        )
    });
    check_outcome(&st, "record truncated", "victim", &seen, before);
}

/// A clear attribute of a public object damaged (CKA_KEY_TYPE of the wrong length): that object
/// is unreadable, the module and the rest of the token keep working.
#[test]
fn malformed_clear_attribute_does_not_break_the_module() {
    let st = setup();
    edit_value_attr(&st, "pub-victim", |recs| {
        // The object is sealed whole (it holds a secret); a malformed clear value is added.
        sealed_rec(recs);
        put_clear(recs, CKA_KEY_TYPE, vec![1, 2, 3]);
    });
    // In a child process first (a crash must not take this test binary with it).
    let r = run_script(&st.env.conf, TOKEN, &["login_user 1234", "value control"]);
    let log = st.log_text();
    assert_eq!(r.len(), 2, "{r:?}\nlog:\n{log}");
    assert_eq!(
        r[0], "login_user 1234 => OK",
        "one object with a malformed clear attribute makes C_Login fail\nlog:\n{log}"
    );
    let (seen, control) = observe(&st, "pub-victim");
    control.unwrap_or_else(|e| panic!("{e}\nlog:\n{}", st.log_text()));
    assert!(
        matches!(seen, Seen::Absent | Seen::ReadFails(_)),
        "damaged object: {seen:?}"
    );
}

/// When C_Login fails after the PIN was found right, the session must not be left logged in.
/// The failure: after a logout, a login reads every stored object again (the logout dropped the
/// decoded ones); a row whose `private` column is not a number cannot be read at all, so that
/// read fails and the login with it. The row's change number is untouched, so the refresh before
/// the PIN check does not read it: the failure comes after the PIN check, where the module has
/// already set up the login and must take it back.
///
/// The module runs in a child process while this one edits the database between two of its
/// commands: two copies of SQLite in one process (the module's and this test's) must not share a
/// database file, their POSIX locks would clash.
#[test]
fn failed_login_leaves_the_session_logged_out() {
    let st = setup();
    let row = row_by_uid(&st.db, st.uid("pub-victim"));
    let set_private = |v: rusqlite::types::Value| {
        let n = open_db(&st.db)
            .execute(
                "UPDATE objects SET private = ?1 WHERE id = ?2",
                rusqlite::params![v, row.id],
            )
            .unwrap();
        assert_eq!(n, 1);
    };
    let (damaged, repaired) = (st.env.path("damaged"), st.env.path("repaired"));
    let script = [
        "login_user 1234".to_string(),
        "logout".into(),
        "count".into(),
        format!("wait_for {}", damaged.display()),
        "login_user 1234".into(),
        "state".into(),
        "login_user 1234".into(),
        "logout".into(),
        "count".into(),
        "flags".into(),
        format!("wait_for {}", repaired.display()),
        "login_user 1234".into(),
        "count".into(),
    ];
    let mut c = worker_cmd("script", &st.env.conf);
    c.env("FERROHSM_TEST_TOKEN", TOKEN)
        .env("FERROHSM_TEST_SCRIPT", script.join("\n"));
    let mut child = Running::spawn(c);
    let wait = |child: &mut Running, what: &str| {
        child
            .wait_line(
                |l| l.starts_with(&format!("R {what}")),
                Duration::from_secs(60),
            )
            .unwrap_or_else(|| panic!("the script did not reach `{what}`\n{}", child.describe()))
    };
    wait(&mut child, "count");
    set_private(rusqlite::types::Value::Text("damaged".into()));
    std::fs::write(&damaged, b"").unwrap();
    wait(&mut child, "flags");
    set_private(rusqlite::types::Value::Integer(row.private as i64));
    std::fs::write(&repaired, b"").unwrap();
    let status = child.wait_timeout(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "script worker failed or hung\n{}",
        child.describe()
    );
    let r = child.tagged("R");
    let log = st.log_text();
    let result = |i: usize| r[i].rsplit(" => ").next().unwrap().to_string();
    assert_eq!(r.len(), script.len(), "{r:?}\nlog:\n{log}");
    assert_eq!(result(0), "OK", "first login: {r:?}");
    let public = result(2);
    let failed = result(4);
    assert!(
        !["OK", "PinIncorrect", "PinLocked"].contains(&failed.as_str()),
        "the login with a right PIN over an unreadable row must fail with the store's error: {r:?}\nlog:\n{log}"
    );
    assert_eq!(
        result(5),
        "RwPublic",
        "C_Login failed ({failed}), yet the session is logged in: {r:?}"
    );
    assert_eq!(
        result(6),
        failed,
        "a second login after the failed one: {r:?}"
    );
    assert_eq!(
        result(7),
        "UserNotLoggedIn",
        "logout after failed logins: {r:?}"
    );
    assert_eq!(
        result(8),
        public,
        "objects visible after failed logins (only the public ones): {r:?}"
    );
    // The PIN was right: the failure is not counted as a wrong PIN.
    let flags = u64::from_str_radix(result(9).trim_start_matches("0x"), 16).unwrap();
    assert_eq!(
        flags & cryptoki_sys::CKF_USER_PIN_COUNT_LOW,
        0,
        "a right PIN was counted as a wrong one: {r:?}"
    );
    assert_eq!(
        result(11),
        "OK",
        "login once the row is repaired: {r:?}\nlog:\n{log}"
    );
    assert_eq!(
        result(12),
        st.keys.len().to_string(),
        "every object is visible once logged in: {r:?}"
    );
    assert!(public.parse::<usize>().unwrap() < st.keys.len());
}

// ---------------------------------------------------------------------------------------------
// The wrapped master key

/// Layout of a wrap (src/vault.rs): format(1) | memory_kib(4, BE) | iterations(4) | lanes(4) |
/// salt(16) | nonce(12) | ciphertext(32) | tag(16).
const WRAP_LEN: usize = 1 + 12 + 16 + 12 + 32 + 16;

fn reset_failures(st: &Setup) {
    set_meta(&st.db, "user_failures", rusqlite::types::Value::Integer(0));
    set_meta(&st.db, "so_failures", rusqlite::types::Value::Integer(0));
}

#[test]
fn damaged_wrapped_master_key_makes_login_fail_cleanly() {
    let st = setup();
    let orig = meta_blob(&st.db, "user_wrap").expect("user_wrap");
    assert_eq!(orig.len(), WRAP_LEN, "wrap layout changed; update the test");
    use rusqlite::types::Value as V;
    let flip = |i: usize| {
        let mut w = orig.clone();
        w[i] ^= 0x01;
        V::Blob(w)
    };
    let cases: Vec<(String, V)> = vec![
        ("format byte".into(), flip(0)),
        ("lanes low byte".into(), flip(12)),
        ("salt".into(), flip(13)),
        ("nonce".into(), flip(29)),
        ("ciphertext".into(), flip(41)),
        ("tag".into(), flip(WRAP_LEN - 1)),
        (
            "truncated by one byte".into(),
            V::Blob(orig[..WRAP_LEN - 1].to_vec()),
        ),
        (
            "extended by one byte".into(),
            V::Blob([&orig[..], &[0]].concat()),
        ),
        ("empty".into(), V::Blob(vec![])),
        ("a text value".into(), V::Text("garbage".into())),
        ("an integer value".into(), V::Integer(7)),
    ];
    for (what, v) in cases {
        set_meta(&st.db, "user_wrap", v);
        reset_failures(&st);
        let f = st.env.fixture();
        let tok = slot_by_label(&f, TOKEN);
        // A token whose meta record cannot be read may be left out of the slot list; that is a
        // clean failure too.
        if let Some(tok) = tok {
            let s = f.rw(tok);
            let r = s.login(UserType::User, Some(&pin(USER_PIN)));
            assert!(
                r.is_err(),
                "user_wrap damaged ({what}): C_Login(USER) returned CKR_OK"
            );
            // The module is still alive and the SO can still log in.
            f.get_token_info(tok)
                .expect("C_GetTokenInfo after the failed login");
            let so = s.login(UserType::So, Some(&pin(SO_PIN)));
            assert!(
                so.is_ok(),
                "user_wrap damaged ({what}): SO login fails too: {so:?}"
            );
        } else {
            eprintln!("user_wrap damaged ({what}): token not listed");
        }
    }
    set_meta(&st.db, "user_wrap", V::Blob(orig));
    reset_failures(&st);
    let (seen, control) = observe(&st, "victim");
    assert_eq!(seen, Seen::Value(st.value("victim").to_vec()));
    control.unwrap();
}

/// The KDF cost stored in the wrap header is read back and used: a damaged header must not make
/// C_Login allocate gigabytes or run for hours. Runs the login in a child process with a 2 GiB
/// address-space limit and a 10 s deadline.
#[test]
fn damaged_kdf_cost_in_wrapped_key_fails_cleanly() {
    let st = setup();
    let orig = meta_blob(&st.db, "user_wrap").expect("user_wrap");
    assert_eq!(orig.len(), WRAP_LEN);
    let mut problems = Vec::new();
    for (what, i) in [
        ("memory_kib high byte", 1usize),
        ("iterations high byte", 5),
        ("lanes second byte", 11),
    ] {
        let mut w = orig.clone();
        w[i] ^= 0x01;
        set_meta(&st.db, "user_wrap", rusqlite::types::Value::Blob(w));
        reset_failures(&st);
        let mut c = worker_cmd("script", &st.env.conf);
        c.env("FERROHSM_TEST_TOKEN", TOKEN)
            .env("FERROHSM_TEST_SCRIPT", "login_user 1234\nflags");
        unsafe {
            c.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 2 << 30,
                    rlim_max: 2 << 30,
                };
                libc::setrlimit(libc::RLIMIT_AS, &lim);
                Ok(())
            });
        }
        let mut r = Running::spawn(c);
        match r.wait_timeout(Duration::from_secs(10)) {
            None => problems.push(format!(
                "{what} (byte {i}) flipped: C_Login did not return within 10 s (killed)"
            )),
            Some(status) if !status.success() => problems.push(format!(
                "{what} (byte {i}) flipped: the process died ({status}); stderr: {}",
                r.stderr().lines().take(3).collect::<Vec<_>>().join(" | ")
            )),
            Some(_) => {
                let out = r.tagged("R");
                if out.first().map(|l| l.ends_with("=> OK")).unwrap_or(true) {
                    problems.push(format!("{what}: unexpected login result {out:?}"));
                }
            }
        }
    }
    set_meta(&st.db, "user_wrap", rusqlite::types::Value::Blob(orig));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Each wrapped master key is bound to its token and to its PIN's role (the associated data of
/// the wrap): the user's wrap put in the SO's place does not make the user PIN an SO PIN, and a
/// wrap copied from another token does not open there.
#[test]
fn wrapped_master_key_moved_to_another_place_does_not_open() {
    let st = setup();
    let user_wrap = meta_blob(&st.db, "user_wrap").expect("user_wrap");
    let so_wrap = meta_blob(&st.db, "so_wrap").expect("so_wrap");
    set_meta(
        &st.db,
        "so_wrap",
        rusqlite::types::Value::Blob(user_wrap.clone()),
    );
    {
        let f = st.env.fixture();
        let tok = slot_by_label(&f, TOKEN).expect("token");
        let s = f.rw(tok);
        assert_rv!(s.login(UserType::So, Some(&pin(USER_PIN))), PinIncorrect);
    }
    set_meta(&st.db, "so_wrap", rusqlite::types::Value::Blob(so_wrap));
    // A second token, same PINs: its wrap in the first token's place.
    st.env.make_token("other");
    let other_db = st
        .env
        .serials()
        .into_iter()
        .map(|serial| st.env.db(&serial))
        .find(|p| *p != st.db)
        .expect("the other token's database");
    let other_wrap = meta_blob(&other_db, "user_wrap").expect("user_wrap");
    set_meta(
        &st.db,
        "user_wrap",
        rusqlite::types::Value::Blob(other_wrap),
    );
    reset_failures(&st);
    {
        let f = st.env.fixture();
        let tok = slot_by_label(&f, TOKEN).expect("token");
        let s = f.rw(tok);
        assert_rv!(s.login(UserType::User, Some(&pin(USER_PIN))), PinIncorrect);
    }
    set_meta(&st.db, "user_wrap", rusqlite::types::Value::Blob(user_wrap));
    reset_failures(&st);
    let (seen, control) = observe(&st, "victim");
    assert_eq!(seen, Seen::Value(st.value("victim").to_vec()));
    control.unwrap();
}
