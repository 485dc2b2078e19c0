//! A token shared by a fleet through the PostgreSQL store (issue 16): several processes, each with
//! a configuration of its own as if it were its own host, against one server. What one host does
//! reaches the others within the stated bound, with a notification or without one; a PIN lockout
//! counts across hosts; a server killed in the middle of writes loses no acknowledged write, and
//! the clients go on without a restart.
//!
//! The server is `FERROHSM_TEST_PG` (`scripts/pg-cluster start DIR` prints it), or a throwaway
//! cluster each test starts itself; the crash test always uses its own. Without PostgreSQL
//! installed, the tests fail and say so.
mod common;
mod support;

use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    match std::env::var("FERROHSM_TEST_WORKER").as_deref() {
        Ok("watch_value") => watch_value(),
        Ok("watch_verify") => watch_verify(),
        Ok("threads") => threads(),
        _ => support::worker_main(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster")
}

/// A PostgreSQL server for one test.
struct Server {
    url: String,
    /// The cluster this test started (stopped and removed when dropped).
    own: Option<tempfile::TempDir>,
}

impl Server {
    /// `FERROHSM_TEST_PG`, else a cluster of this test's own.
    fn any() -> Server {
        match std::env::var("FERROHSM_TEST_PG") {
            Ok(url) if !url.is_empty() => Server { url, own: None },
            _ => Server::own(),
        }
    }

    /// A cluster of this test's own, which it may stop and start.
    fn own() -> Server {
        let dir = tempfile::Builder::new()
            .prefix("fhsm-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let url = Self::script(dir.path(), "start");
        Server {
            url: url.trim().to_string(),
            own: Some(dir),
        }
    }

    fn script(dir: &Path, cmd: &str) -> String {
        let o = Command::new(cluster_script())
            .args([cmd, &dir.display().to_string()])
            .output()
            .expect("run scripts/pg-cluster");
        assert!(
            o.status.success(),
            "scripts/pg-cluster {cmd} failed (is PostgreSQL installed? apt-get install \
             postgresql, or set FERROHSM_TEST_PG):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn kill(&self) {
        Self::script(self.own.as_ref().expect("own cluster").path(), "kill");
    }

    fn resume(&self) {
        Self::script(self.own.as_ref().expect("own cluster").path(), "resume");
    }

    fn sql(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(d) = &self.own {
            let _ = Command::new(cluster_script())
                .args(["stop", &d.path().display().to_string()])
                .output();
        }
    }
}

/// Hosts sharing one schema of one server, each with its own configuration file.
struct Fleet {
    dir: tempfile::TempDir,
    server: Server,
    schema: String,
}

impl Fleet {
    fn new(server: Server) -> Fleet {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let schema = format!(
            "fleet_{}_{}_{}",
            std::process::id(),
            now_ms() % 100_000_000,
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        Fleet {
            dir: tempfile::tempdir().unwrap(),
            server,
            schema,
        }
    }

    /// The configuration of host `name`, with `extra` lines.
    fn host(&self, name: &str, extra: &str) -> PathBuf {
        self.host_at(name, &self.server.url, extra)
    }

    /// The configuration of host `name` reaching the server at `url` (the TLS test's URLs).
    fn host_at(&self, name: &str, url: &str, extra: &str) -> PathBuf {
        let conf = self.dir.path().join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\n\
                 kdf.argon2.memory_kib = 1024\n\
                 kdf.argon2.iterations = 1\n\
                 log.level = ERROR\n\
                 objectstore.backend = postgres\n\
                 objectstore.postgres.url = {url}\n\
                 objectstore.postgres.schema = {}\n\
                 {extra}\n",
                self.dir.path().join(format!("{name}-tokens")).display(),
                self.schema
            ),
        )
        .unwrap();
        conf
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The token's serial, from the database.
    fn serial(&self) -> String {
        let mut c = self.server.sql();
        let rows = c
            .query(&format!("SELECT serial FROM {}.tokens", self.schema), &[])
            .unwrap();
        assert_eq!(rows.len(), 1, "one token");
        rows[0].get(0)
    }
}

/// Makes token `label` (SO PIN, user PIN) through host `conf`, in this process.
fn make_token(conf: &Path, label: &str) {
    let f = Fixture::with_conf(conf);
    f.user_token(label);
}

/// Reads the CKA_VALUE of the public object labelled `pub` every 2 ms, printing `V <unix ms>
/// <value>` at each change, until the file FERROHSM_TEST_STOP exists (60 s at most).
fn watch_value() {
    // libtest has printed `test worker ... ` without a newline.
    println!();
    let p11 = cryptoki::context::Pkcs11::new(module_path()).unwrap();
    p11.initialize(init_args()).unwrap();
    let slot = slot_by_label(&p11, "fleet").expect("token");
    let s = p11.open_ro_session(slot).unwrap();
    let stop = PathBuf::from(std::env::var("FERROHSM_TEST_STOP").unwrap());
    let end = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while !stop.exists() && Instant::now() < end {
        let v = match s.find_objects(&[Attribute::Label(b"pub".to_vec())]) {
            Ok(h) if h.len() == 1 => {
                String::from_utf8_lossy(&get_bytes(&s, h[0], AttributeType::Value)).into_owned()
            }
            Ok(h) => format!("{}-objects", h.len()),
            Err(e) => format!("error-{e}"),
        };
        if v != last {
            println!("V {} {v}", now_ms());
            last = v;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("DONE");
    std::process::exit(0);
}

/// Logs in and verifies a (wrong) signature with the public key whose CKA_ID is
/// FERROHSM_TEST_KID every 2 ms, printing `R <unix ms> <result>` at each change of result, until
/// the file FERROHSM_TEST_STOP exists (60 s at most).
fn watch_verify() {
    println!();
    let p11 = cryptoki::context::Pkcs11::new(module_path()).unwrap();
    p11.initialize(init_args()).unwrap();
    let slot = slot_by_label(&p11, "fleet").expect("token");
    let s = p11.open_ro_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let kid = std::env::var("FERROHSM_TEST_KID").unwrap();
    let key = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(kid.into_bytes()),
        ])
        .unwrap()[0];
    let stop = PathBuf::from(std::env::var("FERROHSM_TEST_STOP").unwrap());
    let end = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while !stop.exists() && Instant::now() < end {
        let r = res(&s.verify(&Mechanism::EcdsaSha256, key, b"fleet", &[1u8; 64]));
        if r != last {
            println!("R {} {r}", now_ms());
            last = r;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("DONE");
    std::process::exit(0);
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// With CKF_LIBRARY_CANT_CREATE_OS_THREADS: C_Initialize, login, create, find, and a change made
/// by another host (FERROHSM_TEST_GO names a file the test creates after it, through another
/// configuration): prints `THREADS <before> <after> <seen>`.
fn threads() {
    println!();
    let before = thread_count();
    let p11 = cryptoki::context::Pkcs11::new(module_path()).unwrap();
    p11.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK
            | cryptoki::context::CInitializeFlags::LIBRARY_CANT_CREATE_OS_THREADS,
    ))
    .unwrap();
    let slot = slot_by_label(&p11, "fleet").expect("token");
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.create_object(&data_template("mine", true, true)).unwrap();
    println!("READY");
    let go = PathBuf::from(std::env::var("FERROHSM_TEST_GO").unwrap());
    let end = Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    while Instant::now() < end && !seen {
        seen = go.exists()
            && !s
                .find_objects(&[Attribute::Label(b"theirs".to_vec())])
                .unwrap()
                .is_empty();
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("THREADS {before} {} {seen}", thread_count());
    std::process::exit(0);
}

fn watcher(kind: &str, conf: &Path, stop: &Path, env: &[(&str, &str)]) -> Running {
    let mut c = worker_cmd(kind, conf);
    c.env("FERROHSM_TEST_STOP", stop);
    for (k, v) in env {
        c.env(k, v);
    }
    Running::spawn(c)
}

/// The unix time of the first line `<tag> <ms> <what>`, waiting up to 20 s.
#[track_caller]
fn seen_at(w: &mut Running, tag: &str, what: &str) -> u64 {
    let l = w
        .wait_line(
            |l| l.starts_with(tag) && l.ends_with(what),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("no `{tag} .. {what}` line\n{}", w.describe()));
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A change announced by a notification is seen by another host at once (the poll interval is
/// set to a minute, so nothing else could bring it); a change made behind the module's back,
/// with no notification, is seen within `objectstore.postgres.poll_ms`.
#[test]
fn changes_reach_other_hosts_by_notification_and_within_the_poll_bound() {
    let fleet = Fleet::new(Server::any());
    let a = fleet.host("a", "");
    make_token(&a, "fleet");
    {
        let f = Fixture::with_conf(&a);
        let s = f.rw(slot_by_label(&f, "fleet").unwrap());
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(b"pub".to_vec()),
            Attribute::Value(b"A".to_vec()),
        ])
        .unwrap();
    }
    // Host b hears only notifications; host c only polls every 300 ms (its notifications are
    // there too, but the SQL change below sends none).
    let b = fleet.host("b", "objectstore.postgres.poll_ms = 60000");
    let c = fleet.host("c", "objectstore.postgres.poll_ms = 300");
    let stop = fleet.path("stop");
    let mut wb = watcher("watch_value", &b, &stop, &[]);
    let mut wc = watcher("watch_value", &c, &stop, &[]);
    seen_at(&mut wb, "V", " A");
    seen_at(&mut wc, "V", " A");

    // 1. Through the module on host a: C_SetAttributeValue.
    let t0 = now_ms();
    run_script(&a, "fleet", &["set_value pub B"]);
    let t1 = now_ms();
    let at_b = seen_at(&mut wb, "V", " B");
    eprintln!(
        "notified change: seen on host b {} ms after host a's call began ({} ms after it returned)",
        at_b.saturating_sub(t0),
        at_b as i64 - t1 as i64
    );
    assert!(
        at_b < t1 + 1000,
        "host b (no polling) must see host a's change by its notification"
    );

    // 2. Behind the module's back: the record rewritten in SQL, no notification.
    let serial = fleet.serial();
    let mut sql = fleet.server.sql();
    let mut tx = sql.transaction().unwrap();
    let seq: i64 = tx
        .query_one(
            &format!(
                "UPDATE {}.tokens SET seq = seq + 1, gen = gen + 1 WHERE serial = $1 RETURNING seq",
                fleet.schema
            ),
            &[&serial],
        )
        .unwrap()
        .get(0);
    let row = tx
        .query_one(
            &format!(
                "SELECT id, attrs FROM {}.objects WHERE serial = $1",
                fleet.schema
            ),
            &[&serial],
        )
        .unwrap();
    let (id, rec): (i64, Vec<u8>) = (row.get(0), row.get(1));
    let mut attrs = decode_record(&rec);
    let v = attrs
        .iter_mut()
        .find(|r| r.ty == 0x11)
        .expect("CKA_VALUE in the public record");
    assert_eq!(v.sealed, 0, "a public data object's value is not sealed");
    v.value = b"C".to_vec();
    tx.execute(
        &format!(
            "UPDATE {}.objects SET attrs = $1, seq = $2 WHERE id = $3",
            fleet.schema
        ),
        &[&encode_record(&attrs), &seq, &id],
    )
    .unwrap();
    let t2 = now_ms();
    tx.commit().unwrap();
    let at_c = seen_at(&mut wc, "V", " C");
    eprintln!(
        "change without a notification: seen on host c (poll_ms = 300) after {} ms",
        at_c.saturating_sub(t2)
    );
    assert!(
        at_c <= t2 + 300 + 200,
        "host c must see the change within its poll interval (300 ms, plus 200 ms of slack)"
    );
    std::fs::write(&stop, b"").unwrap();
    for w in [&mut wb, &mut wc] {
        w.wait_timeout(Duration::from_secs(20))
            .expect("watcher ends");
    }
}

/// Disabling a key version on one host: another host, logged in and verifying with it in a
/// loop, is refused within the default bound (1 s).
#[test]
fn a_disabled_version_is_refused_on_other_hosts_within_the_bound() {
    let fleet = Fleet::new(Server::any());
    let a = fleet.host("a", "");
    let b = fleet.host("b", "");
    make_token(&a, "fleet");
    for _ in 0..2 {
        let o = util(
            &a,
            &[
                "key", "rotate", "jwt", "--type", "ec:P-256", "--token", "fleet", "--pin", USER_PIN,
            ],
        );
        assert!(o.ok(), "{o}");
    }
    let stop = fleet.path("stop");
    let mut w = watcher(
        "watch_verify",
        &b,
        &stop,
        &[("FERROHSM_TEST_KID", "jwt.v1")],
    );
    seen_at(&mut w, "R", "SignatureInvalid");
    let t0 = now_ms();
    let o = util(
        &a,
        &[
            "key",
            "disable",
            "jwt",
            "--version",
            "1",
            "--token",
            "fleet",
            "--pin",
            USER_PIN,
        ],
    );
    let t1 = now_ms();
    assert!(o.ok(), "{o}");
    let at = seen_at(&mut w, "R", "KeyFunctionNotPermitted");
    eprintln!(
        "v1 disabled on host a: refused on host b {} ms after the command began, {} ms after it \
         returned",
        at.saturating_sub(t0),
        at as i64 - t1 as i64
    );
    assert!(
        at <= t1 + 1000,
        "host b must refuse the disabled version within 1 s"
    );
    std::fs::write(&stop, b"").unwrap();
    w.wait_timeout(Duration::from_secs(20))
        .expect("watcher ends");
}

/// Wrong PINs on three hosts add up: the third locks the PIN everywhere.
#[test]
fn a_pin_lockout_counts_across_hosts() {
    let fleet = Fleet::new(Server::any());
    let hosts: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|h| fleet.host(h, "pin.max_attempts = 3"))
        .collect();
    make_token(&hosts[0], "fleet");
    for (k, h) in hosts.iter().enumerate() {
        let r = run_script(h, "fleet", &["login_user 9999"]);
        assert_eq!(r, ["login_user 9999 => PinIncorrect"], "host {k}");
    }
    for (k, h) in hosts.iter().enumerate() {
        let r = run_script(h, "fleet", &[&format!("login_user {USER_PIN}")]);
        assert_eq!(
            r,
            [format!("login_user {USER_PIN} => PinLocked")],
            "host {k}: locked by the failures of all three"
        );
    }
}

/// The server is killed (`pg_ctl stop -m immediate`) while two hosts create objects and a third
/// rotates a key family, and started again a second later: the hosts' calls fail meanwhile and
/// work again without a restart, every create that returned CKR_OK is there, the family's
/// versions are contiguous with exactly one newest (none lost that the tool reported made), and
/// the token opens.
#[test]
fn a_server_crash_loses_no_acknowledged_write() {
    let fleet = Fleet::new(Server::own());
    let a = fleet.host("a", "");
    let b = fleet.host("b", "");
    make_token(&a, "fleet");
    const EACH: u64 = 150;
    let mut ws: Vec<Running> = [(&a, "a"), (&b, "b")]
        .iter()
        .map(|(conf, p)| {
            let mut c = worker_cmd("create_loop", conf);
            c.env("FERROHSM_TEST_TOKEN", "fleet")
                .env("FERROHSM_TEST_PREFIX", p)
                .env("FERROHSM_TEST_COUNT", EACH.to_string())
                .env("FERROHSM_TEST_APP", "fleet")
                .env("FERROHSM_TEST_KEEP_GOING", "1");
            Running::spawn(c)
        })
        .collect();
    for w in ws.iter_mut() {
        w.wait_line(
            |l| l.starts_with("OK a-5") || l.starts_with("OK b-5"),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("worker did not start\n{}", w.describe()));
    }
    // Host c rotates `jwt` with the tool, over and over, until told to stop.
    let c = fleet.host("c", "");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rotator = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let o = util(
                    &c,
                    &[
                        "key", "rotate", "jwt", "--type", "ec:P-256", "--token", "fleet", "--pin",
                        USER_PIN,
                    ],
                );
                if o.ok() {
                    ok += 1;
                } else {
                    failed += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    fleet.server.kill();
    std::thread::sleep(Duration::from_secs(1));
    fleet.server.resume();
    let mut acked = Vec::new();
    let mut failed = 0;
    for w in ws.iter_mut() {
        let st = w
            .wait_timeout(Duration::from_secs(120))
            .unwrap_or_else(|| panic!("worker did not finish\n{}", w.describe()));
        assert!(st.success(), "worker failed: {st}\n{}", w.describe());
        assert!(w.lines.iter().any(|l| l == "DONE"), "{}", w.describe());
        acked.extend(w.tagged("OK"));
        failed += w.tagged("ERR").len();
    }
    // A few rotations after the restart too.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (rot_ok, rot_failed) = rotator.join().unwrap();
    assert!(
        failed > 0,
        "the crash came while the hosts were writing: some calls must have failed"
    );
    let o = util(
        &a,
        &[
            "key", "versions", "jwt", "--token", "fleet", "--pin", USER_PIN,
        ],
    );
    assert!(o.ok(), "{o}");
    let rows: Vec<(u64, String)> = o
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].parse().unwrap(), f[1].to_string())
        })
        .collect();
    let n = rows.len() as u64;
    assert!(
        rot_ok >= 2 && rot_failed > 0,
        "rotations: {rot_ok} made, {rot_failed} failed"
    );
    assert!(
        n >= rot_ok,
        "every rotation reported made is there ({n} versions, {rot_ok} reported)"
    );
    let mut versions: Vec<u64> = rows.iter().map(|r| r.0).collect();
    versions.sort();
    assert_eq!(
        versions,
        (1..=n).collect::<Vec<_>>(),
        "contiguous versions:\n{o}"
    );
    let newest: Vec<u64> = rows
        .iter()
        .filter(|r| r.1 == "newest")
        .map(|r| r.0)
        .collect();
    assert_eq!(newest, [n], "exactly one newest, the last:\n{o}");
    eprintln!("server crash: {rot_ok} rotations reported made, {rot_failed} failed, {n} versions, contiguous");
    assert_eq!(acked.len() as u64, 2 * EACH);
    let f = Fixture::with_conf(&a);
    let s = f.user_session(slot_by_label(&f, "fleet").expect("the token opens"));
    let found: std::collections::HashSet<String> = s
        .find_objects(&[Attribute::Application(b"fleet".to_vec())])
        .unwrap()
        .into_iter()
        .map(|h| String::from_utf8(get_label(&s, h)).unwrap())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|l| !found.contains(*l)).collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    eprintln!(
        "server crash: {} creates acknowledged, all present ({} objects in all), {failed} calls \
         failed during the outage",
        acked.len(),
        found.len()
    );
    let e = ws[0].stderr() + &ws[1].stderr();
    assert!(
        e.contains("PostgreSQL"),
        "the log must say what happened to the database:\n{e}"
    );
}

/// A configuration on the SQLite store in `dir`.
fn sqlite_conf(fleet: &Fleet, name: &str, dir: &Path) -> PathBuf {
    let conf = fleet.path(&format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\n\
             kdf.argon2.memory_kib = 1024\n\
             kdf.argon2.iterations = 1\n\
             log.level = ERROR\n",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

/// What a token holds, seen through the module after login: labels of every object, the value
/// of the private data object, and whether the family's newest key signs what its kid's public
/// key verifies.
fn contents(conf: &Path, label: &str) -> (Vec<String>, Vec<u8>) {
    let f = Fixture::with_conf(conf);
    let s = f.user_session(slot_by_label(&f, label).expect("token listed"));
    let mut labels: Vec<String> = s
        .find_objects(&[])
        .unwrap()
        .into_iter()
        .map(|h| String::from_utf8(get_label(&s, h)).unwrap())
        .collect();
    labels.sort();
    let secret = s
        .find_objects(&[Attribute::Label(b"secret".to_vec())])
        .unwrap();
    let value = get_bytes(&s, secret[0], AttributeType::Value);
    let signer = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"jwt".to_vec()),
        ])
        .unwrap();
    let sig = s
        .sign(&Mechanism::EcdsaSha256, signer[0], b"moved")
        .unwrap();
    let vk = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(b"jwt.v2".to_vec()),
        ])
        .unwrap();
    s.verify(&Mechanism::EcdsaSha256, vk[0], b"moved", &sig)
        .expect("the copied family's newest version signs and verifies");
    (labels, value)
}

/// `ferrohsm-util token copy`: a token directory into the database and back, keys, objects, PINs
/// and families intact; a copy onto a serial already there writes nothing, even for the other
/// tokens of the same copy.
#[test]
fn tokens_copy_between_a_directory_and_the_database_and_back() {
    let fleet = Fleet::new(Server::any());
    let src_dir = fleet.path("src-tokens");
    let src = sqlite_conf(&fleet, "src", &src_dir);
    make_token(&src, "fleet");
    make_token(&src, "other");
    {
        let f = Fixture::with_conf(&src);
        let s = f.user_session(slot_by_label(&f, "fleet").unwrap());
        s.create_object(&data_template("secret", true, true))
            .unwrap();
        let h = s
            .find_objects(&[Attribute::Label(b"secret".to_vec())])
            .unwrap()[0];
        s.update_attributes(h, &[Attribute::Value(b"moved intact".to_vec())])
            .unwrap();
    }
    for _ in 0..2 {
        let o = util(
            &src,
            &[
                "key", "rotate", "jwt", "--type", "ec:P-256", "--token", "fleet", "--pin", USER_PIN,
            ],
        );
        assert!(o.ok(), "{o}");
    }
    let before = contents(&src, "fleet");
    assert_eq!(before.1, b"moved intact");
    let src_serials: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&src_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 16)
            .collect();
        v.sort();
        v
    };
    assert_eq!(src_serials.len(), 2);

    // Only "fleet" first; then everything, which must fail on it and write nothing else.
    let pg = fleet.host("pg", "");
    let fleet_serial = {
        let f = Fixture::with_conf(&src);
        let slot = slot_by_label(&f, "fleet").unwrap();
        f.get_token_info(slot).unwrap().serial_number().to_string()
    };
    let copy = |args: &[&str]| {
        let mut a = vec!["token", "copy", "--schema", &fleet.schema];
        a.extend_from_slice(args);
        util(&src, &a)
    };
    let o = copy(&[
        "--from",
        src_dir.to_str().unwrap(),
        "--to",
        &fleet.server.url,
        "--serial",
        &fleet_serial,
    ]);
    assert!(o.ok(), "{o}");
    assert!(o.stdout.contains("Copied 1 token(s)"), "{o}");
    let o = copy(&[
        "--from",
        src_dir.to_str().unwrap(),
        "--to",
        &fleet.server.url,
    ]);
    assert!(
        !o.ok(),
        "copying onto a serial already there must fail:\n{o}"
    );
    assert!(o.stderr.contains("already exists"), "{o}");
    assert_eq!(
        fleet.serial(),
        fleet_serial,
        "the failed copy wrote nothing"
    );

    // The copy in the database holds what the directory held.
    assert_eq!(contents(&pg, "fleet"), before);

    // And back, into a new directory.
    let back_dir = fleet.path("back-tokens");
    let o = copy(&[
        "--from",
        &fleet.server.url,
        "--to",
        back_dir.to_str().unwrap(),
    ]);
    assert!(o.ok(), "{o}");
    let back = sqlite_conf(&fleet, "back", &back_dir);
    assert_eq!(contents(&back, "fleet"), before);
    // The user PIN still works and a wrong one still counts in the copies.
    let r = run_script(&back, "fleet", &["login_user 9999", "flags"]);
    assert_eq!(r[0], "login_user 9999 => PinIncorrect");
}

/// `C_Initialize` with this configuration in a child process: `INIT OK` or `INIT <rv>`, and what
/// the module logged.
fn init_in_child(conf: &Path) -> (String, String) {
    let mut r = Running::spawn(worker_cmd("init", conf));
    let st = r
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("init worker hung\n{}", r.describe()));
    assert!(st.success(), "{}", r.describe());
    let init = r
        .lines
        .iter()
        .find(|l| l.starts_with("INIT "))
        .cloned()
        .unwrap_or_default();
    (init, r.stderr())
}

/// TLS as the URL asks: `verify-full` connects to a server whose certificate the given CA issued
/// for the host name used, and the session is encrypted; another CA, or a name the certificate
/// does not hold, is refused (and `verify-ca` accepts that name); the log says why.
#[test]
fn tls_checks_the_server_as_the_url_asks() {
    let dir = tempfile::Builder::new()
        .prefix("fhsm-pgtls")
        .tempdir_in("/tmp")
        .unwrap();
    let url = Server::script(dir.path(), "start-tls").trim().to_string();
    let port = url
        .split("port=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    // The same server's unix socket, for the test's own queries (the socket carries the port).
    let admin = format!(
        "host={} port={port} user=postgres dbname=postgres",
        dir.path().display()
    );
    let server = Server {
        url: admin.clone(),
        own: Some(dir),
    };
    let tls = server.own.as_ref().unwrap().path().join("tls");
    let fleet = Fleet::new(server);
    let with = |name: &str, url: &str| fleet.host_at(name, url, "");
    let ca = tls.join("ca.pem");
    let good = with(
        "good",
        &format!("{url} sslmode=verify-full sslrootcert={}", ca.display()),
    );
    make_token(&good, "fleet");
    {
        let f = Fixture::with_conf(&good);
        let s = f.user_session(slot_by_label(&f, "fleet").unwrap());
        s.create_object(&data_template("over-tls", true, true))
            .unwrap();
        // Every connection of this process over TCP is encrypted.
        let mut admin = fleet.server.sql();
        let (tcp, encrypted): (i64, i64) = {
            let r = admin
                .query_one(
                    "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
                     JOIN pg_stat_ssl s USING (pid) WHERE a.client_addr IS NOT NULL",
                    &[],
                )
                .unwrap();
            (r.get(0), r.get(1))
        };
        assert!(tcp >= 2, "the module's connections are there ({tcp})");
        assert_eq!(tcp, encrypted, "every TCP connection uses TLS");
    }
    let other = with(
        "other",
        &format!(
            "{url} sslmode=verify-full sslrootcert={}",
            tls.join("other-ca.pem").display()
        ),
    );
    let (init, log) = init_in_child(&other);
    assert_ne!(
        init, "INIT OK",
        "a server certificate from another CA must be refused"
    );
    assert!(log.contains("PostgreSQL"), "{log}");
    // 127.0.0.1 is not a name in the certificate: verify-full refuses, verify-ca accepts.
    let by_ip = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let full = with(
        "ip-full",
        &format!("{by_ip} sslmode=verify-full sslrootcert={}", ca.display()),
    );
    assert_ne!(
        init_in_child(&full).0,
        "INIT OK",
        "name mismatch under verify-full"
    );
    let ca_only = with(
        "ip-ca",
        &format!("{by_ip} sslmode=verify-ca sslrootcert={}", ca.display()),
    );
    assert_eq!(init_in_child(&ca_only).0, "INIT OK");
    // No TLS asked: the same server over TCP works in clear (its pg_hba allows it).
    let clear = with("clear", &by_ip);
    assert_eq!(init_in_child(&clear).0, "INIT OK");
}

/// The module starts no thread for the database when the application forbids it: not to
/// connect, not to listen, not to hear another host's change.
#[test]
fn no_thread_is_started_for_the_database() {
    let fleet = Fleet::new(Server::any());
    let a = fleet.host("a", "");
    let b = fleet.host("b", "objectstore.postgres.poll_ms = 60000");
    make_token(&a, "fleet");
    let go = fleet.path("go");
    let mut c = worker_cmd("threads", &b);
    c.env("FERROHSM_TEST_GO", &go);
    let mut w = Running::spawn(c);
    w.wait_line(|l| l == "READY", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("worker did not start\n{}", w.describe()));
    run_script(
        &a,
        "fleet",
        &[&format!("login_user {USER_PIN}"), "create theirs 0"],
    );
    std::fs::write(&go, b"").unwrap();
    let l = w
        .wait_line(|l| l.starts_with("THREADS "), Duration::from_secs(40))
        .unwrap_or_else(|| panic!("no THREADS line\n{}", w.describe()));
    let v: Vec<&str> = l.split_whitespace().collect();
    assert_eq!(
        v[3], "true",
        "host b saw host a's object by notification: {l}"
    );
    assert_eq!(
        v[1], v[2],
        "threads before C_Initialize and after everything: {l}"
    );
}

/// `ferrohsm-util doctor` checks the PostgreSQL store: it reaches it, lists and opens its tokens,
/// and names an unreachable server.
#[test]
fn doctor_checks_the_postgres_store() {
    let fleet = Fleet::new(Server::any());
    let a = fleet.host("a", "");
    make_token(&a, "fleet");
    let o = util(&a, &["doctor"]);
    assert!(o.ok(), "{o}");
    assert!(
        o.stdout.contains("PostgreSQL token store") && o.stdout.contains("1 token(s)"),
        "{o}"
    );
    assert!(o.stdout.contains("token \"fleet\""), "{o}");
    let text = std::fs::read_to_string(&a).unwrap();
    let gone = fleet.path("gone.conf");
    let url_line = text
        .lines()
        .find(|l| l.starts_with("objectstore.postgres.url"))
        .unwrap();
    std::fs::write(
        &gone,
        text.replace(
            url_line,
            "objectstore.postgres.url = host=/nonexistent user=postgres",
        ),
    )
    .unwrap();
    let o = util(&gone, &["doctor"]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(
        o.stdout.contains("cannot reach the PostgreSQL token store"),
        "{o}"
    );
}

/// The store's own rule, through its API on PostgreSQL: a host still holding the key of the
/// master key from before another host re-initialized the token leaves the new tags alone (an IV
/// reservation, tags made again); with the old key they would be garbage, and every later login
/// would fail as if the database had been altered.
#[test]
fn a_key_of_an_earlier_epoch_never_writes_a_tag_on_postgres() {
    use ferrohsm::store::state::StateKey;
    use ferrohsm::store::{Backend, TokenMeta};
    let fleet = Fleet::new(Server::any());
    let pg = ferrohsm::config::PostgresConfig {
        url: fleet.server.url.clone(),
        schema: fleet.schema.clone(),
        ..Default::default()
    };
    let b = ferrohsm::store::postgres::PgBackend::new(&pg, &fleet.path("local"), 0o077).unwrap();
    let meta = TokenMeta {
        serial: "4c5".into(),
        ..Default::default()
    };
    let old = StateKey::new(&zeroize::Zeroizing::new([7u8; 32]));
    let new = StateKey::new(&zeroize::Zeroizing::new([8u8; 32]));
    let mut one = b.create(&meta).unwrap();
    one.set_state_key(Some(old.clone()));
    one.init_state(false).unwrap();
    assert_eq!(one.reserve_ivs(b"k", 10).unwrap(), 0);
    let mut two = b.open("4c5").unwrap();
    two.set_state_key(Some(new.clone()));
    two.reinitialize(&[b' '; 32], b"so").unwrap();
    assert!(two.check_ivs().unwrap());
    assert_eq!(one.reserve_ivs(b"k", 5).unwrap(), 10);
    one.init_state(true).unwrap();
    assert!(two.check_ivs().unwrap(), "the new tags are intact");
    assert_eq!(two.reserve_ivs(b"k", 1).unwrap(), 15);
    assert!(two.check_ivs().unwrap());
}
