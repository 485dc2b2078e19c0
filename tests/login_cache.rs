//! The login cache in the kernel keyring (`login.cache`): a later process's login skips the full
//! PIN derivation; a wrong PIN, a changed PIN, a re-initialized token, a locked PIN, an expired
//! entry and `ferrohsm-util logout-all` all take (or refuse before) the full path; another uid
//! cannot read the cached entry. What each process did is read from the module's DEBUG log (each
//! line carries its pid), never from timing.

mod crypto_common;
use crypto_common::module_path;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::Error as CkError;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};
use std::process::Command;

const SO: &str = "12345678";

fn start() -> Pkcs11 {
    let p = Pkcs11::new(module_path()).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    p
}

/// A child process: logs in with FERROHSM_TEST_LC_PIN (then changes it to
/// FERROHSM_TEST_LC_NEWPIN if set) and prints `RV=...`; with FERROHSM_TEST_LC_PROBE, first tries
/// to read every key of its session keyring and prints how many it could read.
#[test]
#[ignore = "child process of login_cache_paths"]
fn lc_child() {
    let Ok(pin) = std::env::var("FERROHSM_TEST_LC_PIN") else {
        return;
    };
    if let Ok(ids) = std::env::var("FERROHSM_TEST_LC_PROBE") {
        use linux_keyutils::{Key, KeySerialId};
        let keys: Vec<Key> = ids
            .split(',')
            .map(|i| Key::from_id(KeySerialId::new(i.parse().unwrap())))
            .collect();
        let readable = keys.iter().filter(|k| k.read_to_vec().is_ok()).count();
        println!("PROBE keys={} readable={readable}", keys.len());
    }
    let p = start();
    let slot = p.get_slots_with_initialized_token().unwrap()[0];
    let s = p.open_rw_session(slot).unwrap();
    let r = s.login(UserType::User, Some(&AuthPin::new(pin.clone().into())));
    let r = r.and_then(|()| match std::env::var("FERROHSM_TEST_LC_NEWPIN") {
        Ok(new) => s.set_pin(&AuthPin::new(pin.into()), &AuthPin::new(new.into())),
        Err(_) => Ok(()),
    });
    match r {
        Ok(()) => println!("RV=OK"),
        Err(CkError::Pkcs11(rv, _)) => println!("RV={rv:?}"),
        Err(e) => println!("RV={e:?}"),
    }
    println!("PID={}", std::process::id());
}

struct Run {
    rv: String,
    probe: Option<String>,
    /// The module's log lines of this process about PIN checks.
    full: usize,
    cached: usize,
}

struct World {
    log: PathBuf,
    conf: PathBuf,
}

impl World {
    fn child(
        &self,
        pin: &str,
        extra: &[(&str, &str)],
        conf: Option<&Path>,
        uid: Option<u32>,
    ) -> Run {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args([
            "--exact",
            "lc_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERROHSM_CONF", conf.unwrap_or(&self.conf))
        .env("FERROHSM_MODULE", module_path())
        .env("FERROHSM_TEST_LC_PIN", pin);
        for (k, v) in extra {
            c.env(k, v);
        }
        if let Some(u) = uid {
            use std::os::unix::process::CommandExt;
            c.uid(u).gid(u);
        }
        let out = c.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |k: &str| {
            // (libtest's "test lc_child ... " may start the first line)
            text.lines()
                .find_map(|l| l.find(k).map(|i| l[i + k.len()..].to_string()))
        };
        let (Some(rv), Some(pid)) = (field("RV="), field("PID=")) else {
            panic!(
                "child failed: {}\n{text}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mine: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!("ferrohsm[{pid}]")))
            .collect();
        Run {
            rv,
            probe: field("PROBE "),
            full: mine
                .iter()
                .filter(|l| l.contains("PIN checked with the full key derivation"))
                .count(),
            cached: mine
                .iter()
                .filter(|l| l.contains("PIN checked against the login cache"))
                .count(),
        }
    }
}

/// The IDs of this uid's cached user logins in this process's session keyring.
fn my_entries() -> Vec<String> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier, LinkNode};
    let prefix = format!("ferrohsm:login:v1:{}:", unsafe { libc::geteuid() });
    let ring = KeyRing::from_special_id(KeyRingIdentifier::Session, false).unwrap();
    let links = ring.get_links(4096).unwrap();
    links
        .iter()
        .filter_map(|n| match n {
            LinkNode::Key(k) => Some(*k),
            _ => None,
        })
        .filter(|k| {
            k.metadata().is_ok_and(|m| {
                let d = m.get_description();
                d.starts_with(&prefix) && d.contains(":user:")
            })
        })
        .map(|k| k.get_id().as_raw_id().to_string())
        .collect()
}

fn conf_text(tokens: &Path, log: &Path, extra: &str) -> String {
    format!(
        "directories.tokendir = {}\nkdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\nlog.level = DEBUG\nlog.file = {}\npin.max_attempts = 3\n{extra}\n",
        tokens.display(),
        log.display()
    )
}

#[test]
fn login_cache_paths() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let log = dir.path().join("log");
    let conf = dir.path().join("ferrohsm.conf");
    std::fs::write(&conf, conf_text(&tokens, &log, "")).unwrap();
    let short = dir.path().join("short.conf");
    std::fs::write(&short, conf_text(&tokens, &log, "login.cache_seconds = 3")).unwrap();
    let off = dir.path().join("off.conf");
    std::fs::write(&off, conf_text(&tokens, &log, "login.cache = off")).unwrap();
    std::env::set_var("FERROHSM_CONF", &conf);
    // A session keyring of this process's own, which the children inherit (the one a child that
    // changes its uid keeps, too).
    linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, true)
        .unwrap();
    // A token of this test's own, and nothing cached from before.
    ferrohsm::login_cache::LoginCache::forget_all();
    let p = start();
    let free = *p.get_all_slots().unwrap().last().unwrap();
    p.init_token(free, &AuthPin::new(SO.into()), "lc").unwrap();
    let slot = p.get_slots_with_initialized_token().unwrap()[0];
    let init_user = |pin: &str| {
        let s = p.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&AuthPin::new(SO.into())))
            .unwrap();
        s.init_pin(&AuthPin::new(pin.into())).unwrap();
        s.logout().unwrap();
    };
    init_user("1234");
    let w = World {
        log: log.clone(),
        conf: conf.clone(),
    };
    let path = |r: &Run| match (r.full, r.cached) {
        (0, 0) => "none",
        (_, 0) => "full",
        (0, _) => "cache",
        _ => "both",
    };
    let step = |what: &str, r: Run, rv: &str, want: &str| {
        println!("{what}: {} via {}", r.rv, path(&r));
        assert_eq!((r.rv.as_str(), path(&r)), (rv, want), "{what}");
    };

    step(
        "first process",
        w.child("1234", &[], None, None),
        "OK",
        "full",
    );
    step(
        "second process",
        w.child("1234", &[], None, None),
        "OK",
        "cache",
    );
    step(
        "login.cache = off",
        w.child("1234", &[], Some(&off), None),
        "OK",
        "full",
    );
    step(
        "wrong PIN",
        w.child("9999", &[], None, None),
        "PinIncorrect",
        "full",
    );
    step(
        "right PIN again",
        w.child("1234", &[], None, None),
        "OK",
        "cache",
    );
    step(
        "C_SetPIN (old PIN from the cache)",
        w.child("1234", &[("FERROHSM_TEST_LC_NEWPIN", "5678")], None, None),
        "OK",
        "cache",
    );
    // The process that changed the PIN removed the old entry (it could not match anyway).
    assert_eq!(my_entries().len(), 0, "the old PIN's entry is gone");
    step(
        "new PIN, first",
        w.child("5678", &[], None, None),
        "OK",
        "full",
    );
    step(
        "new PIN, second",
        w.child("5678", &[], None, None),
        "OK",
        "cache",
    );
    step(
        "old PIN",
        w.child("1234", &[], None, None),
        "PinIncorrect",
        "full",
    );
    step(
        "wrong PIN 2",
        w.child("0000", &[], None, None),
        "PinIncorrect",
        "full",
    );
    step(
        "wrong PIN 3",
        w.child("0001", &[], None, None),
        "PinIncorrect",
        "full",
    );
    step(
        "locked, right PIN",
        w.child("5678", &[], None, None),
        "PinLocked",
        "none",
    );

    // Re-initialized token: a new wrap, the full path again.
    {
        let s = p.open_rw_session(slot).unwrap();
        drop(s);
    }
    assert_eq!(my_entries().len(), 1);
    p.init_token(slot, &AuthPin::new(SO.into()), "lc").unwrap();
    assert_eq!(
        my_entries().len(),
        0,
        "C_InitToken removed the user's entry"
    );
    init_user("1234");
    step(
        "after C_InitToken",
        w.child("1234", &[], None, None),
        "OK",
        "full",
    );
    step(
        "after C_InitToken, second",
        w.child("1234", &[], None, None),
        "OK",
        "cache",
    );

    // An entry that expired.
    ferrohsm::login_cache::LoginCache::forget_all();
    step(
        "3 s entry",
        w.child("1234", &[], Some(&short), None),
        "OK",
        "full",
    );
    step(
        "3 s entry, at once",
        w.child("1234", &[], Some(&short), None),
        "OK",
        "cache",
    );
    std::thread::sleep(std::time::Duration::from_millis(5000));
    step(
        "3 s entry, 5 s later",
        w.child("1234", &[], Some(&short), None),
        "OK",
        "full",
    );

    // ferrohsm-util logout-all, on a 300 s entry made afresh (the 3 s one may be gone by now).
    ferrohsm::login_cache::LoginCache::forget_all();
    step("refill", w.child("1234", &[], None, None), "OK", "full");
    step(
        "before logout-all",
        w.child("1234", &[], None, None),
        "OK",
        "cache",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ferrohsm-util"))
        .arg("logout-all")
        .env("FERROHSM_CONF", &conf)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && said.contains("Forgot 1 "), "{said}");
    step(
        "after logout-all",
        w.child("1234", &[], None, None),
        "OK",
        "full",
    );

    // Another uid, in the same session keyring: it cannot read the entry, and takes the full
    // path. (The token's files are opened up to it for this.)
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test as root (a child runs as nobody)"
        );
        eprintln!("SKIPPED the other-uid part: needs root");
        return;
    }
    step(
        "cached for root",
        w.child("1234", &[], None, None),
        "OK",
        "cache",
    );
    let open_up = |p: &Path| {
        Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(p)
            .status()
            .unwrap()
    };
    assert!(open_up(dir.path()).success());
    // The cached entries, by their IDs in this (root's) session keyring.
    let ids = my_entries();
    assert!(!ids.is_empty(), "root's entry is in its session keyring");
    let r = w.child(
        "1234",
        &[("FERROHSM_TEST_LC_PROBE", &ids.join(","))],
        None,
        Some(65534),
    );
    let probe = r.probe.clone().unwrap_or_default();
    println!("nobody's probe of the session keyring: {probe}");
    // It has the entries' IDs (and the session keyring is its own too), and cannot read them.
    assert!(!probe.starts_with("keys=0"), "{probe}");
    assert!(probe.ends_with("readable=0"), "{probe}");
    step("another uid", r, "OK", "full");
    drop(p);
}
