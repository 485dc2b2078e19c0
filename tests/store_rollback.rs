//! Rollback and mixing of the token's files (docs/SECURITY.md, "Rollback"): someone with write
//! access to the token directory puts back an older copy of a sealed record, deletes one,
//! resurrects a destroyed key, or removes the state tag. Each is refused at the next login with
//! `CKR_DEVICE_ERROR` and a log line that names the cause; the same files without the edit log in
//! (so each refusal is the edit's doing); `token.state_mismatch = accept` recovers a damaged
//! token on purpose. The database is edited between module loads (never while this process has
//! it open: two copies of SQLite in one process must not share a file).
mod common;
mod support;

use common::*;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::path::PathBuf;
use support::*;

#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    support::worker_main();
}

const TOKEN: &str = "rollback";
const MISMATCH: &str = "do not match its authenticated state";

struct Setup {
    env: Env,
    log: PathBuf,
    db: PathBuf,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        let env = Env::new(&format!("log.level = ERROR\n{extra}"));
        let log = env.path("ferrohsm.log");
        std::fs::write(
            &env.conf,
            std::fs::read_to_string(&env.conf).unwrap()
                + &format!("log.file = {}\n", log.display()),
        )
        .unwrap();
        env.make_token(TOKEN);
        let db = env.only_db();
        Setup { env, log, db }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `f` in a user session of a fresh load of the module.
    fn as_user<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        let fx = self.env.fixture();
        let s = fx.user_session(slot_by_label(&fx, TOKEN).unwrap());
        f(&s)
    }

    /// A fresh load of the module and a user login: its result.
    fn login(&self) -> Result<(), RvError> {
        let fx = self.env.fixture();
        let s = fx.rw(slot_by_label(&fx, TOKEN).unwrap());
        match s.login(UserType::User, Some(&pin(USER_PIN))) {
            Ok(()) => Ok(()),
            Err(CkError::Pkcs11(rv, _)) => Err(rv),
            Err(e) => panic!("login: {e}"),
        }
    }

    /// The login is refused as a mismatch, with the cause in the log.
    #[track_caller]
    fn assert_refused(&self, what: &str) {
        let before = self.log_text().len();
        assert_eq!(
            self.login(),
            Err(RvError::DeviceError),
            "{what}: the login must be refused"
        );
        let log = self.log_text();
        assert!(
            log[before..].contains(MISMATCH),
            "{what}: the log must say why\nlog:\n{log}"
        );
    }
}

fn make_key(s: &Session, label: &str, private: bool) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(private),
        Attribute::Sensitive(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(os_random(32)),
    ])
    .unwrap_or_else(|e| panic!("create {label}: {e:?}"))
}

fn find(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .unwrap()
}

fn uid(s: &Session, h: ObjectHandle) -> String {
    String::from_utf8(get_bytes(s, h, cryptoki::object::AttributeType::UniqueId)).unwrap()
}

/// An older copy of a sealed record put back over its newer one, alone: the record itself is
/// authentic (it opens under the master key), only the state tag can tell it is old. Here the
/// attack would undo a change of CKA_SIGN from true to false.
#[test]
fn an_older_record_put_back_is_refused() {
    let st = Setup::new("");
    let id = st.as_user(|s| {
        let h = make_key(s, "k", true);
        make_key(s, "other", false);
        uid(s, h)
    });
    let old = row_by_uid(&st.db, &id).attrs;
    st.as_user(|s| {
        let h = find(s, "k")[0];
        s.update_attributes(h, &[Attribute::Label(b"k2".to_vec())])
            .unwrap();
    });
    let new = row_by_uid(&st.db, &id).attrs;
    assert_ne!(old, new);
    let row = row_by_uid(&st.db, &id).id;
    set_attrs_blob(&st.db, row, &old);
    st.assert_refused("an older record put back");
    // The same files with the current record: the login works, so the refusal was the edit's.
    set_attrs_blob(&st.db, row, &new);
    assert_eq!(st.login(), Ok(()));
    st.as_user(|s| assert_eq!(find(s, "k2").len(), 1));
}

/// Deleting a sealed row, or putting back the row of a key destroyed since: both refused. A
/// public object that holds a secret (CKA_PRIVATE false, sealed value) is covered as well.
#[test]
fn deleted_and_resurrected_keys_are_refused() {
    let st = Setup::new("");
    let (a, b) = st.as_user(|s| {
        let a = make_key(s, "a", true);
        let b = make_key(s, "b", false);
        (uid(s, a), uid(s, b))
    });
    // Deleted behind the module's back.
    let row_b = row_by_uid(&st.db, &b);
    let c = open_db(&st.db);
    c.execute("DELETE FROM objects WHERE id = ?1", [row_b.id])
        .unwrap();
    drop(c);
    st.assert_refused("a sealed row deleted");
    let put_back = |r: &Row| {
        open_db(&st.db)
            .execute(
                "INSERT INTO objects (id, uid, seq, private, attrs) VALUES (?1, ?2, 0, ?3, ?4)",
                rusqlite::params![r.id, r.uid, r.private, r.attrs],
            )
            .unwrap();
    };
    put_back(&row_b);
    assert_eq!(st.login(), Ok(()), "the row back where it was");
    // Destroyed through the module, then resurrected from a copy.
    let row_a = row_by_uid(&st.db, &a);
    st.as_user(|s| s.destroy_object(find(s, "a")[0]).unwrap());
    assert_eq!(st.login(), Ok(()));
    put_back(&row_a);
    st.assert_refused("a destroyed key resurrected");
}

/// Removing the tags would make the next login accept whatever the files hold (as it does, once,
/// for a token of an earlier version): the removal is that case, so the login goes on and the
/// tags are made again. What it cannot do is hide an edit made in the same stroke from a
/// deployment with an external anchor; without one, docs/SECURITY.md lists it as open.
#[test]
fn tags_are_made_for_a_token_of_an_earlier_version() {
    let st = Setup::new("");
    st.as_user(|s| {
        make_key(s, "a", true);
    });
    assert!(meta_blob(&st.db, "state_objects").is_some());
    let c = open_db(&st.db);
    c.execute_batch(
        "DELETE FROM meta WHERE k IN ('state_objects', 'state_ivs');
         ALTER TABLE iv_counters DROP COLUMN auth;
         UPDATE meta SET v = 1 WHERE k = 'schema';",
    )
    .unwrap();
    drop(c);
    assert_eq!(st.login(), Ok(()));
    assert!(meta_blob(&st.db, "state_objects").is_some());
    assert!(meta_blob(&st.db, "state_ivs").is_some());
    // From now on the tags hold: an edit is refused again.
    let row = rows(&st.db).into_iter().next().unwrap();
    let mut damaged = row.attrs.clone();
    let n = damaged.len();
    damaged[n - 1] ^= 1;
    set_attrs_blob(&st.db, row.id, &damaged);
    st.assert_refused("an edit after the upgrade");
}

/// `token.state_mismatch = accept`: the login logs the mismatch, makes the tags again and goes
/// on; the damaged record itself is still refused by its own seal (never a wrong value), and
/// without the setting the next login works, over the accepted state.
#[test]
fn accept_recovers_a_damaged_token() {
    let st = Setup::new("");
    let id = st.as_user(|s| {
        make_key(s, "ok", true);
        let h = make_key(s, "bad", true);
        uid(s, h)
    });
    let row = row_by_uid(&st.db, &id);
    let mut damaged = row.attrs.clone();
    let n = damaged.len();
    damaged[n - 1] ^= 1;
    set_attrs_blob(&st.db, row.id, &damaged);
    st.assert_refused("a damaged record");
    let conf = std::fs::read_to_string(&st.env.conf).unwrap();
    std::fs::write(
        &st.env.conf,
        format!("{conf}token.state_mismatch = accept\n"),
    )
    .unwrap();
    assert_eq!(st.login(), Ok(()));
    assert!(st
        .log_text()
        .contains("accepted (token.state_mismatch = accept)"));
    st.as_user(|s| {
        assert_eq!(find(s, "ok").len(), 1);
        assert!(find(s, "bad").is_empty(), "the damaged record is skipped");
    });
    std::fs::write(&st.env.conf, conf).unwrap();
    assert_eq!(st.login(), Ok(()));
}

/// No false alarm: public objects written with nobody logged in, and writes by another process
/// while this one is logged in (each sync checks the tag against what it read).
#[test]
fn ordinary_writes_keep_the_tag_true() {
    let st = Setup::new("");
    st.as_user(|s| {
        make_key(s, "a", true);
    });
    {
        let fx = st.env.fixture();
        let s = fx.rw(slot_by_label(&fx, TOKEN).unwrap());
        let h = s
            .create_object(&data_template("public data", true, false))
            .unwrap();
        s.destroy_object(h).unwrap();
        s.create_object(&data_template("public data 2", true, false))
            .unwrap();
    }
    assert_eq!(st.login(), Ok(()));
    // Another process creates and destroys sealed keys while this one is logged in and reads.
    let fx = st.env.fixture();
    let s = fx.user_session(slot_by_label(&fx, TOKEN).unwrap());
    for i in 0..3 {
        let (create, rename) = (format!("create x-{i} 1"), format!("set_label x-{i} y-{i}"));
        let mut script = vec!["login_user 1234", &create, &rename];
        if i == 0 {
            script.push("destroy a");
        }
        let r = run_script(&st.env.conf, TOKEN, &script);
        assert!(r.iter().all(|l| l.ends_with("=> OK")), "{r:?}");
        assert_eq!(find(&s, &format!("y-{i}")).len(), 1);
        assert!(find(&s, "a").is_empty());
    }
    assert!(!st.log_text().contains(MISMATCH), "{}", st.log_text());
}

/// The files of the token's directory that hold its database (after the module is finalized).
fn db_files(st: &Setup) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = st.db.parent().unwrap();
    ["token.db", "token.db-wal"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn put_back(st: &Setup, copy: &[(PathBuf, Vec<u8>)]) {
    let dir = st.db.parent().unwrap();
    for n in ["token.db-wal", "token.db-shm"] {
        let _ = std::fs::remove_file(dir.join(n));
    }
    for (p, b) in copy {
        std::fs::write(p, b).unwrap();
    }
}

/// A whole older copy of the token's database put back (undoing a destroy): the state tag
/// inside cannot see it (the copy is a consistent earlier state: without an anchor the login
/// works and the destroyed key is back, which this test also shows), the anchor outside can: the
/// token is not listed, and the log says why. The current files put back work again.
#[test]
fn a_whole_older_copy_is_refused_with_an_anchor() {
    let st = Setup::new("");
    let plain = std::fs::read_to_string(&st.env.conf).unwrap();
    let anchored = format!(
        "{plain}token.anchor_dir = {}\n",
        st.env.path("anchor").display()
    );
    std::fs::write(&st.env.conf, &anchored).unwrap();
    st.as_user(|s| {
        make_key(s, "a", true);
        make_key(s, "b", true);
    });
    let old = db_files(&st);
    st.as_user(|s| s.destroy_object(find(s, "b")[0]).unwrap());
    let new = db_files(&st);
    put_back(&st, &old);
    let before = st.log_text().len();
    {
        let fx = st.env.fixture();
        assert!(
            slot_by_label(&fx, TOKEN).is_none(),
            "a rolled-back token must not be listed"
        );
    }
    let log = st.log_text();
    assert!(
        log[before..].contains("was rolled back"),
        "the log must say why\nlog:\n{log}"
    );
    // Without the anchor, the same files are taken: the destroyed key is back.
    std::fs::write(&st.env.conf, &plain).unwrap();
    assert_eq!(st.login(), Ok(()));
    st.as_user(|s| assert_eq!(find(s, "b").len(), 1, "the old copy is in use"));
    // With the anchor again and the current files: listed, and b is gone.
    std::fs::write(&st.env.conf, &anchored).unwrap();
    put_back(&st, &new);
    assert_eq!(st.login(), Ok(()));
    st.as_user(|s| assert!(find(s, "b").is_empty()));
}

/// Another process re-initializes the token (a new master key, so new tags) while this one is
/// logged in: this one's login ends, quietly, as C_InitToken elsewhere implies; its next calls
/// are not refused as tampering, and a login with the new PINs works.
#[test]
fn a_reinitialization_elsewhere_is_not_tampering() {
    let st = Setup::new("");
    st.as_user(|s| {
        make_key(s, "a", true);
    });
    let fx = st.env.fixture();
    let slot = slot_by_label(&fx, TOKEN).unwrap();
    let s = fx.user_session(slot);
    assert_eq!(find(&s, "a").len(), 1);
    // The other process: C_InitToken (no sessions of its own), then the user PIN again.
    let out = util(
        &st.env.conf,
        &[
            "--init-token",
            "--slot",
            &slot.id().to_string(),
            "--label",
            TOKEN,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ],
    );
    assert!(out.ok(), "{out}");
    // The next call that reads the token sees the change (and is not refused).
    assert!(find(&s, "a").is_empty(), "the old objects are gone");
    let info = s.get_session_info().expect("the session still answers");
    assert_eq!(
        info.session_state(),
        cryptoki::session::SessionState::RwPublic,
        "the login ended with the re-initialization"
    );
    drop(s);
    drop(fx);
    assert_eq!(st.login(), Ok(()));
    assert!(!st.log_text().contains(MISMATCH), "{}", st.log_text());
}
