//! Several processes on one token: concurrent writers lose nothing; what one process does (objects,
//! attributes, PINs, tokens) the others see on their next call; the PIN failure counter is shared
//! by all processes and survives restarts.
mod common;
mod support;

use common::*;
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;
use cryptoki_sys::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::*;

#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    support::worker_main();
}

const TOKEN: &str = "shared";

#[test]
fn four_processes_create_500_objects_each() {
    const PROCS: usize = 4;
    const EACH: u64 = 500;
    let env = Env::new("log.level = ERROR\n");
    env.make_token(TOKEN);
    let go = env.path("go");
    let mut ws: Vec<Running> = (0..PROCS)
        .map(|k| {
            let mut c = worker_cmd("create_loop", &env.conf);
            c.env("FERROHSM_TEST_TOKEN", TOKEN)
                .env("FERROHSM_TEST_GO", &go)
                .env("FERROHSM_TEST_PREFIX", format!("p{k}"))
                .env("FERROHSM_TEST_COUNT", EACH.to_string())
                .env("FERROHSM_TEST_APP", "multi");
            Running::spawn(c)
        })
        .collect();
    // All four log in first, then start together.
    for (k, w) in ws.iter_mut().enumerate() {
        let r = w.wait_line(
            |l| l == "READY" || l.starts_with("ERR") || l.starts_with("INIT"),
            Duration::from_secs(30),
        );
        assert_eq!(r.as_deref(), Some("READY"), "process {k}\n{}", w.describe());
    }
    let t0 = Instant::now();
    std::fs::write(&go, b"").unwrap();
    for (k, w) in ws.iter_mut().enumerate() {
        let left = Duration::from_secs(80).saturating_sub(t0.elapsed());
        let st = w
            .wait_timeout(left)
            .unwrap_or_else(|| panic!("process {k} did not finish in time\n{}", w.describe()));
        assert!(st.success(), "process {k} failed: {st}\n{}", w.describe());
        let errs: Vec<&String> = w.lines.iter().filter(|l| l.starts_with("ERR")).collect();
        assert!(errs.is_empty(), "process {k}: {errs:?}");
        assert_eq!(
            w.tagged("OK").len() as u64,
            EACH,
            "process {k}: creates reported"
        );
        assert!(
            w.lines.iter().any(|l| l == "DONE"),
            "process {k} did not finish"
        );
        let e = w.stderr();
        assert!(
            !e.contains("ERROR") && !e.contains("Error"),
            "process {k} stderr: {e}"
        );
    }
    eprintln!("4 x 500 creates in {:?}", t0.elapsed());

    let f = env.fixture();
    let s = f.user_session(slot_by_label(&f, TOKEN).unwrap());
    let hs = s
        .find_objects(&[Attribute::Application(b"multi".to_vec())])
        .unwrap();
    assert_eq!(
        hs.len(),
        PROCS * EACH as usize,
        "objects on the token afterwards"
    );
    let mut seen: HashMap<String, u32> = HashMap::new();
    for h in hs {
        let label = String::from_utf8(get_label(&s, h)).unwrap();
        let (p, i) = label.rsplit_once('-').unwrap();
        let (_, want, private) = crash_object(p, i.parse().unwrap(), 3);
        assert_eq!(
            get_bytes(&s, h, AttributeType::Value),
            want,
            "value of {label}"
        );
        assert_eq!(get_bool(&s, h, AttributeType::Private), private, "{label}");
        *seen.entry(label).or_default() += 1;
    }
    for k in 0..PROCS {
        for i in 0..EACH {
            let l = format!("p{k}-{i}");
            assert_eq!(seen.get(&l), Some(&1), "{l} must be present exactly once");
        }
    }
    drop(s);
    drop(f);
    // The rows as the SQLite file holds them (on PostgreSQL, the module's view above is the check).
    if on_postgres() {
        return;
    }
    let rs = rows(&env.only_db());
    assert_eq!(rs.len(), PROCS * EACH as usize);
    // How much the four writers interleaved (informative: row order vs. process).
    let owners: Vec<u8> = rs
        .iter()
        .filter(|r| !r.private)
        .map(|r| decode_record(&r.attrs))
        .map(|a| {
            a.iter()
                .find(|x| x.ty == CKA_LABEL)
                .map(|x| x.value[1])
                .unwrap_or(0)
        })
        .collect();
    let switches = owners.windows(2).filter(|w| w[0] != w[1]).count();
    eprintln!("writer switches in row order (public objects): {switches}");
}

/// Process B (this one) holds a session; process A (a child) acts; B sees it on its next call.
#[test]
fn other_processes_changes_are_seen_on_the_next_call() {
    let env = Env::new("log.level = ERROR\n");
    env.make_token(TOKEN);
    let f = env.fixture();
    let tok = slot_by_label(&f, TOKEN).unwrap();
    let b = f.user_session(tok);
    assert!(find_label(&b, "vis-pub").is_empty());

    // A creates a public and a private object.
    let r = run_script(
        &env.conf,
        TOKEN,
        &["login_user 1234", "create vis-pub 0", "create vis-priv 1"],
    );
    assert!(r.iter().all(|l| l.ends_with("=> OK")), "{r:?}");
    let pubh = find_label(&b, "vis-pub");
    assert_eq!(pubh.len(), 1, "B must see A's new public object");
    let privh = find_label(&b, "vis-priv");
    assert_eq!(
        privh.len(),
        1,
        "B (logged in) must see A's new private object"
    );
    assert_eq!(
        get_bytes(&b, privh[0], AttributeType::Value),
        b"value of vis-priv"
    );

    // A changes attributes: B reads the new values through the handles it already holds.
    let r = run_script(
        &env.conf,
        TOKEN,
        &[
            "login_user 1234",
            "set_label vis-pub vis-pub-2",
            "set_value vis-priv changed-by-A",
        ],
    );
    assert!(r.iter().all(|l| l.ends_with("=> OK")), "{r:?}");
    assert_eq!(
        get_label(&b, pubh[0]),
        b"vis-pub-2",
        "label changed by A, same handle in B"
    );
    assert_eq!(
        get_bytes(&b, privh[0], AttributeType::Value),
        b"changed-by-A"
    );
    assert!(
        find_label(&b, "vis-pub").is_empty(),
        "old label must no longer match"
    );
    assert_eq!(find_label(&b, "vis-pub-2"), pubh);

    // A destroys: B's find no longer returns it and B's handle is invalid.
    let r = run_script(
        &env.conf,
        TOKEN,
        &["login_user 1234", "destroy vis-pub-2", "destroy vis-priv"],
    );
    assert!(r.iter().all(|l| l.ends_with("=> OK")), "{r:?}");
    assert!(find_label(&b, "vis-pub-2").is_empty());
    assert!(find_label(&b, "vis-priv").is_empty());
    assert_rv!(
        b.get_attributes(pubh[0], &[AttributeType::Label]),
        ObjectHandleInvalid
    );
    assert_rv!(
        b.get_attributes(privh[0], &[AttributeType::Value]),
        ObjectHandleInvalid
    );

    // B changes, A sees (the other direction), A being a fresh process each time.
    create_data(&b, "from-B", true, true);
    let r = run_script(&env.conf, TOKEN, &["login_user 1234", "value from-B"]);
    assert_eq!(r[1], "value from-B => value of from-B", "{r:?}");

    // A changes the user PIN: B's next login needs the new one.
    let r = run_script(&env.conf, TOKEN, &["set_pin 1234 4321"]);
    assert_eq!(r, vec!["set_pin 1234 4321 => OK"]);
    b.logout().unwrap();
    assert_rv!(b.login(UserType::User, Some(&pin("1234"))), PinIncorrect);
    b.login(UserType::User, Some(&pin("4321")))
        .expect("B must log in with the PIN A set");
    assert_eq!(
        find_label(&b, "from-B").len(),
        1,
        "private objects readable again"
    );

    // New and deleted tokens (by ferrohsm-util in another process) appear in B's next slot list.
    let before: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    let o = util(
        &env.conf,
        &[
            "--init-token",
            "--free",
            "--label",
            "vis-new",
            "--pin",
            "1234",
            "--so-pin",
            SO_PIN,
        ],
    );
    assert!(o.ok(), "{o}");
    let after: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(after.len(), before.len() + 1, "{before:?} -> {after:?}");
    let new = slot_by_label(&f, "vis-new").expect("B must list the token A created");
    assert_eq!(
        *after.last().unwrap(),
        2,
        "the free slot is listed last with ID = number of initialized tokens"
    );
    let info = f.get_token_info(new).unwrap();
    assert!(info.user_pin_initialized());
    let o = util(&env.conf, &["--delete-token", "--token", "vis-new"]);
    assert!(o.ok(), "{o}");
    let again: Vec<u64> = f.get_all_slots().unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(again, before, "B must no longer list the token A deleted");
    assert!(
        f.get_token_info(new).is_err(),
        "C_GetTokenInfo on the deleted token's slot"
    );
    // B's own token is untouched.
    assert_eq!(find_label(&b, "from-B").len(), 1);
}

/// Another process re-initializes the token B has a session on: B's objects are gone on its next
/// call and B is no longer logged in as the user.
#[test]
fn reinit_by_another_process_is_seen() {
    let env = Env::new("log.level = ERROR\n");
    env.make_token(TOKEN);
    let f = env.fixture();
    let tok = slot_by_label(&f, TOKEN).unwrap();
    let b = f.user_session(tok);
    create_data(&b, "before-reinit", true, false);
    create_data(&b, "before-reinit-priv", true, true);
    drop(b);
    let ro = f.ro(tok);
    assert_eq!(find_label(&ro, "before-reinit").len(), 1);
    let o = util(
        &env.conf,
        &[
            "--init-token",
            "--slot",
            &tok.id().to_string(),
            "--label",
            "reborn",
            "--pin",
            "5678",
            "--so-pin",
            SO_PIN,
        ],
    );
    assert!(o.ok(), "{o}");
    assert!(
        o.stdout.contains(&format!(
            "The token has been initialized on slot {}",
            tok.id()
        )),
        "{o}"
    );
    assert!(
        find_label(&ro, "before-reinit").is_empty(),
        "objects of the old token must be gone"
    );
    assert_eq!(f.get_token_info(tok).unwrap().label().trim_end(), "reborn");
    drop(ro);
    let s = f.rw(tok);
    assert_rv!(s.login(UserType::User, Some(&pin(USER_PIN))), PinIncorrect);
    s.login(UserType::User, Some(&pin("5678"))).unwrap();
    assert!(find_label(&s, "before-reinit-priv").is_empty());
}

fn user_counter(flags: CK_FLAGS) -> CK_FLAGS {
    flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)
}

fn flags_of(lines: &[String]) -> CK_FLAGS {
    let l = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("flags"))
        .expect("flags line");
    let h = l.rsplit(' ').next().unwrap();
    u64::from_str_radix(h.trim_start_matches("0x"), 16).unwrap() as CK_FLAGS
}

#[test]
fn pin_failures_are_shared_between_processes_and_survive_restarts() {
    // 4 attempts: the 3rd failure leaves the final try, the 4th locks.
    let env = Env::new("pin.max_attempts = 4\nlog.level = ERROR\n");
    env.make_token(TOKEN);
    // This process (C) stays initialized all along and must see the other processes' counts.
    let f = env.fixture();
    let tok = slot_by_label(&f, TOKEN).unwrap();
    assert_eq!(user_counter(f.token_flags(tok)), 0);

    // Process A: two wrong PINs, then exits.
    let r = run_script(
        &env.conf,
        TOKEN,
        &["login_user 0000", "login_user 0001", "flags"],
    );
    assert_eq!(
        &r[..2],
        [
            "login_user 0000 => PinIncorrect",
            "login_user 0001 => PinIncorrect"
        ]
    );
    assert_eq!(user_counter(flags_of(&r)), CKF_USER_PIN_COUNT_LOW, "{r:?}");
    assert_eq!(
        user_counter(f.token_flags(tok)),
        CKF_USER_PIN_COUNT_LOW,
        "process C must see the failures of process A: {}",
        flag_names(f.token_flags(tok))
    );

    // Process B (a new process: the count survived A's exit): one more wrong -> final try.
    let r = run_script(&env.conf, TOKEN, &["flags", "login_user 0002", "flags"]);
    assert_eq!(
        user_counter(flags_of(&r[..1])),
        CKF_USER_PIN_COUNT_LOW,
        "{r:?}"
    );
    assert_eq!(r[1], "login_user 0002 => PinIncorrect");
    assert_eq!(
        user_counter(flags_of(&r)),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "{r:?}"
    );
    assert_eq!(
        user_counter(f.token_flags(tok)),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "{}",
        flag_names(f.token_flags(tok))
    );

    // Process C makes the 4th wrong attempt: locked everywhere, even for the right PIN.
    let s = f.rw(tok);
    match rv_of(&s.login(UserType::User, Some(&pin("0003")))) {
        Some(RvError::PinIncorrect) | Some(RvError::PinLocked) => {}
        other => panic!("4th wrong PIN: {other:?}"),
    }
    assert_rv!(s.login(UserType::User, Some(&pin(USER_PIN))), PinLocked);
    let r = run_script(&env.conf, TOKEN, &["login_user 1234", "flags"]);
    assert_eq!(
        r[0], "login_user 1234 => PinLocked",
        "process D after the lock: {r:?}"
    );
    assert_ne!(flags_of(&r) & CKF_USER_PIN_LOCKED, 0, "{r:?}");

    // Restart of C: still locked.
    drop(s);
    let mut f = f;
    f.reinit();
    let tok = slot_by_label(&f, TOKEN).unwrap();
    assert_ne!(
        f.token_flags(tok) & CKF_USER_PIN_LOCKED,
        0,
        "lock must survive a restart"
    );
    let s = f.rw(tok);
    assert_rv!(s.login(UserType::User, Some(&pin(USER_PIN))), PinLocked);

    // The SO (process E) sets the user PIN again: unlocked for everyone.
    let r = run_script(
        &env.conf,
        TOKEN,
        &["login_so 12345678", "init_pin 2468", "logout"],
    );
    assert!(r.iter().all(|l| l.ends_with("=> OK")), "{r:?}");
    assert_eq!(
        user_counter(f.token_flags(tok)),
        0,
        "{}",
        flag_names(f.token_flags(tok))
    );
    s.login(UserType::User, Some(&pin("2468")))
        .expect("login after C_InitPIN");
    s.logout().unwrap();

    // A correct PIN in one process resets the counter seen by the others.
    let r = run_script(&env.conf, TOKEN, &["login_user 1111", "flags"]);
    assert_eq!(user_counter(flags_of(&r)), CKF_USER_PIN_COUNT_LOW);
    assert_eq!(user_counter(f.token_flags(tok)), CKF_USER_PIN_COUNT_LOW);
    let r = run_script(&env.conf, TOKEN, &["login_user 2468", "flags"]);
    assert_eq!(r[0], "login_user 2468 => OK");
    assert_eq!(
        user_counter(f.token_flags(tok)),
        0,
        "{}",
        flag_names(f.token_flags(tok))
    );
}

/// The SO PIN counter too.
#[test]
fn so_pin_failures_are_shared_between_processes() {
    let env = Env::new("pin.max_attempts = 3\nlog.level = ERROR\n");
    env.make_token(TOKEN);
    let r = run_script(
        &env.conf,
        TOKEN,
        &["login_so 00000000", "login_so 00000001"],
    );
    assert!(r.iter().all(|l| l.ends_with("=> PinIncorrect")), "{r:?}");
    let r = run_script(
        &env.conf,
        TOKEN,
        &["flags", "login_so 00000002", "login_so 12345678", "flags"],
    );
    let first = flags_of(&r[..1]);
    assert_ne!(
        first & CKF_SO_PIN_FINAL_TRY,
        0,
        "after 2 of 3: {}",
        flag_names(first)
    );
    assert_eq!(r[2], "login_so 12345678 => PinLocked", "{r:?}");
    assert_ne!(flags_of(&r) & CKF_SO_PIN_LOCKED, 0);
    let f = env.fixture();
    let tok = slot_by_label(&f, TOKEN).unwrap();
    let s = f.rw(tok);
    assert_rv!(s.login(UserType::So, Some(&pin(SO_PIN))), PinLocked);
}

/// B is logged in when another process re-initializes the token (and sets a new user PIN, as
/// ferrohsm-util does). Whatever B is then allowed to store must be readable under the new token's
/// PIN: a private object sealed under the old master key would be lost to everyone.
#[test]
fn reinit_by_another_process_while_logged_in_loses_no_new_data() {
    let env = Env::new("log.level = ERROR\n");
    env.make_token(TOKEN);
    let f = env.fixture();
    let tok = slot_by_label(&f, TOKEN).unwrap();
    let b = f.user_session(tok);
    create_data(&b, "old-priv", true, true);
    let o = util(
        &env.conf,
        &[
            "--init-token",
            "--slot",
            &tok.id().to_string(),
            "--label",
            "reborn",
            "--pin",
            "5678",
            "--so-pin",
            SO_PIN,
        ],
    );
    assert!(o.ok(), "{o}");
    assert!(
        find_label(&b, "old-priv").is_empty(),
        "B still sees an object of the wiped token"
    );
    let r = b.create_object(&data_template("after-reinit", true, true));
    eprintln!("B's C_CreateObject after the re-init: {}", res(&r));
    if r.is_ok() {
        let out = run_script(
            &env.conf,
            "reborn",
            &["login_user 5678", "value after-reinit"],
        );
        assert_eq!(out[0], "login_user 5678 => OK");
        assert_eq!(
            out[1], "value after-reinit => value of after-reinit",
            "B was still logged in with the old master key after another process re-initialized \
             the token: its C_CreateObject returned CKR_OK but the object cannot be read with the \
             new PIN (lost); {out:?}"
        );
    }
}

/// A writer killed between its commit and its second bump of the shared change counter leaves
/// the counter where readers last saw it. Readers still look at the database at least once a
/// second (`FULL_CHECK_EVERY_MS`, on the coarse clock), so the change shows up within about a
/// second. Simulated by putting the counter back to its value before another process's write.
#[test]
fn a_commit_without_its_counter_bump_is_seen_within_a_second() {
    let env = Env::new("log.level = ERROR\n");
    let serial = env.make_token(TOKEN);
    let f = env.fixture();
    let b = f.user_session(slot_by_label(&f, TOKEN).unwrap());
    assert!(find_label(&b, "unbumped").is_empty());
    let counter = env.tokendir.join(&serial).join("changes");
    let read = || -> [u8; 8] {
        std::fs::read(&counter).expect("the change counter file")[..8]
            .try_into()
            .unwrap()
    };
    let before = read();

    let r = run_script(&env.conf, TOKEN, &["login_user 1234", "create unbumped 0"]);
    assert!(r.iter().all(|l| l.ends_with("=> OK")), "{r:?}");
    assert_ne!(read(), before, "the writer bumps the counter");
    // Undo the bumps, as if the writer had died right after its commit. The file is mapped
    // MAP_SHARED by this process's module, which sees the page cache this write changes.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&counter)
        .unwrap();
    std::io::Write::write_all(&mut file, &before).unwrap();
    drop(file);
    assert_eq!(read(), before);

    let t0 = Instant::now();
    loop {
        if find_label(&b, "unbumped").len() == 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "a committed object without its counter bump was not seen after 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("seen after {:?} without a counter bump", t0.elapsed());
}
