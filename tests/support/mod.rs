//! Helpers of the store / CLI tests (`tests/store_*.rs`, `tests/util_*.rs`).
//!
//! Builds on `tests/common` (the in-process fixture, `Raw`, PIN constants) and adds:
//! - [`Env`]: a temp directory with a token dir and a configuration file of our choosing;
//! - worker processes: the test binary re-runs itself (`current_exe() worker --exact --ignored`)
//!   with `FERROHSM_TEST_WORKER=<kind>`; each test binary that uses them declares
//!   `#[test] #[ignore] fn worker() { support::worker_main() }`;
//! - `ferrohsm-util` / `softhsm2-util` runners;
//! - the on-disk record format of `src/store/mod.rs` (`encode_attrs`) and database access;
//! - file search helpers for the encryption-at-rest tests.
#![allow(dead_code)]

use crate::common::{self, Fixture, Raw, SO_PIN, USER_PIN};
use cryptoki::context::Pkcs11;
use cryptoki::error::Error as CkError;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Environment: temp dir + configuration

/// A temp directory holding `tokens/` (not created: the module creates it) and `ferrohsm.conf`.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub tokendir: PathBuf,
    pub conf: PathBuf,
}

impl Env {
    /// Test configuration (fast KDF) plus `extra` lines.
    pub fn new(extra: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("ferrohsm-store-")
            .tempdir()
            .expect("tempdir");
        let tokendir = dir.path().join("tokens");
        let conf = dir.path().join("ferrohsm.conf");
        std::fs::write(
            &conf,
            format!(
                "# ferrohsm store test configuration\n\
                 directories.tokendir = {}\n\
                 kdf.argon2.memory_kib = 1024\n\
                 kdf.argon2.iterations = 1\n\
                 {extra}\n{}",
                tokendir.display(),
                common::store_lines()
            ),
        )
        .expect("write conf");
        Env {
            dir,
            tokendir,
            conf,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Loads the module in this process (takes the common lock) with this configuration.
    pub fn fixture(&self) -> Fixture {
        Fixture::with_conf(&self.conf)
    }

    /// Creates a token with label `label`, SO PIN `SO_PIN` and user PIN `USER_PIN`, in this
    /// process; the module is finalized again afterwards. Returns the serial.
    pub fn make_token(&self, label: &str) -> String {
        let f = self.fixture();
        let slot = f.user_token(label);
        let serial = f.get_token_info(slot).unwrap().serial_number().to_string();
        drop(f);
        serial
    }

    /// Serials of the token directories present.
    pub fn serials(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.tokendir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn db(&self, serial: &str) -> PathBuf {
        self.tokendir.join(serial).join("token.db")
    }

    /// The database of the only token.
    pub fn only_db(&self) -> PathBuf {
        let s = self.serials();
        assert_eq!(s.len(), 1, "expected exactly one token dir, found {s:?}");
        self.db(&s[0])
    }
}

/// The slot of the initialized token with this label.
pub fn slot_by_label(p11: &Pkcs11, label: &str) -> Option<Slot> {
    p11.get_all_slots()
        .expect("C_GetSlotList")
        .into_iter()
        .find(|s| {
            p11.get_token_info(*s)
                .map(|t| t.token_initialized() && t.label().trim_end() == label)
                .unwrap_or(false)
        })
}

// ---------------------------------------------------------------------------------------------
// Error formatting

/// "OK" or the CKR_ name (cryptoki's `RvError` Debug, e.g. `PinIncorrect`).
pub fn res<T>(r: &cryptoki::error::Result<T>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(CkError::Pkcs11(rv, _)) => format!("{rv:?}"),
        Err(e) => format!("Other({e})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Small deterministic RNG (no rand crate among the dev-dependencies)

pub struct Rng(u64);

impl Rng {
    /// Seeded from `FERROHSM_TEST_SEED` or the clock; the seed is printed for reproduction.
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("FERROHSM_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    ^ (std::process::id() as u64) << 32
            });
        eprintln!("{what}: FERROHSM_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    /// A generator of its own for each thread of a test, from a seed taken from one made by
    /// `from_env`.
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Random bytes from the OS (for secrets that must be unique to the test run).
pub fn os_random(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut v = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut v))
        .expect("/dev/urandom");
    v
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A child process whose stdout lines are read by a thread; stderr goes to a file.
pub struct Running {
    pub child: Child,
    rx: Receiver<String>,
    pub lines: Vec<String>,
    pub stderr_path: PathBuf,
    _stderr_dir: tempfile::TempDir,
    eof: bool,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        let d = tempfile::tempdir().expect("tempdir");
        let stderr_path = d.path().join("stderr");
        let errf = std::fs::File::create(&stderr_path).expect("stderr file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(errf));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Running {
            child,
            rx,
            lines: Vec::new(),
            stderr_path,
            _stderr_dir: d,
            eof: false,
        }
    }

    /// Waits for a line satisfying `pred` (collecting every line); None on EOF or timeout.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    self.lines.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.eof = true;
                    return None;
                }
            }
        }
    }

    /// SIGKILL, reap, read the rest of stdout.
    pub fn kill9(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        let st = self.child.wait().expect("wait");
        self.drain();
        st
    }

    /// Reads stdout to EOF (the child has exited or is exiting).
    pub fn drain(&mut self) {
        if self.eof {
            return;
        }
        while let Ok(l) = self.rx.recv_timeout(Duration::from_secs(30)) {
            self.lines.push(l);
        }
        self.eof = true;
    }

    /// Waits for exit up to `timeout`; kills (SIGKILL) and returns None on timeout.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                self.drain();
                return Some(st);
            }
            if Instant::now() >= end {
                self.kill9();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Lines starting with `prefix `, prefix removed.
    pub fn tagged(&self, prefix: &str) -> Vec<String> {
        let p = format!("{prefix} ");
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix(&p).map(str::to_string))
            .collect()
    }

    pub fn describe(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.lines.join("\n"),
            self.stderr()
        )
    }
}

/// A command re-running this test binary as a worker of the given kind.
pub fn worker_cmd(kind: &str, conf: &Path) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut c = Command::new(exe);
    c.args([
        "worker",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("FERROHSM_TEST_WORKER", kind)
    .env("FERROHSM_CONF", conf)
    .env("FERROHSM_MODULE", common::module_path())
    .env_remove("FERROHSM_TEST_SEED");
    c
}

/// Runs a `script` worker to completion (see [`worker_main`]) and returns its `R` lines.
pub fn run_script(conf: &Path, token: &str, script: &[&str]) -> Vec<String> {
    let mut c = worker_cmd("script", conf);
    c.env("FERROHSM_TEST_TOKEN", token)
        .env("FERROHSM_TEST_SCRIPT", script.join("\n"));
    let mut r = Running::spawn(c);
    let st = r
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("script worker hung\n{}", r.describe()));
    assert!(
        st.success(),
        "script worker failed ({st})\n{}",
        r.describe()
    );
    r.tagged("R")
}

// ---------------------------------------------------------------------------------------------
// Workers (run in the child process)

fn env_var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("worker needs {k}"))
}

fn env_num(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn say(line: impl AsRef<str>) {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{}", line.as_ref()).expect("stdout");
    o.flush().expect("flush");
}

fn worker_module() -> Pkcs11 {
    let p11 = Pkcs11::new(common::module_path()).expect("load module");
    if let Err(e) = p11.initialize(common::init_args()) {
        say(format!("INIT {}", res::<()>(&Err(e))));
        std::process::exit(2);
    }
    p11
}

fn worker_session(p11: &Pkcs11) -> Session {
    let label = env_var("FERROHSM_TEST_TOKEN");
    let slot = slot_by_label(p11, &label).unwrap_or_else(|| {
        say(format!("ERR no token {label}"));
        std::process::exit(4)
    });
    p11.open_rw_session(slot).expect("C_OpenSession")
}

fn worker_login(s: &Session) {
    let pin = std::env::var("FERROHSM_TEST_PIN").unwrap_or_else(|_| USER_PIN.into());
    if let Err(e) = s.login(UserType::User, Some(&common::pin(&pin))) {
        say(format!("ERR login {}", res::<()>(&Err(e))));
        std::process::exit(5);
    }
}

/// Entry point of every worker; does nothing unless `FERROHSM_TEST_WORKER` is set.
pub fn worker_main() {
    let Ok(kind) = std::env::var("FERROHSM_TEST_WORKER") else {
        return;
    };
    // libtest has printed `test worker ... ` without a newline: start our lines on a fresh one.
    say("");
    match kind.as_str() {
        "create_loop" => create_loop(),
        "setattr_loop" => setattr_loop(),
        "destroy_loop" => destroy_loop(),
        "script" => script(),
        "setpin_loop" => setpin_loop(),
        "inittoken_loop" => inittoken_loop(),
        "init" => init_only(),
        "perms" => perms(),
        other => panic!("unknown worker kind {other}"),
    }
    std::process::exit(0);
}

/// Label, value and privacy of the `i`th object a create loop makes.
pub fn crash_object(prefix: &str, i: u64, private_every: u64) -> (String, Vec<u8>, bool) {
    let label = format!("{prefix}-{i}");
    let value = format!("v:{label}").into_bytes();
    (
        label,
        value,
        private_every > 0 && i.is_multiple_of(private_every),
    )
}

/// Creates token data objects `<prefix>-<i>` from START, printing `OK <label>` after each
/// C_CreateObject returned CKR_OK; stops after COUNT (0: never). A failure ends the worker, or
/// with FERROHSM_TEST_KEEP_GOING is printed and the object tried again.
fn create_loop() {
    let prefix = env_var("FERROHSM_TEST_PREFIX");
    let start = env_num("FERROHSM_TEST_START", 0);
    let count = env_num("FERROHSM_TEST_COUNT", 0);
    let every = env_num("FERROHSM_TEST_PRIVATE_EVERY", 3);
    let app = std::env::var("FERROHSM_TEST_APP").unwrap_or_else(|_| "crash".into());
    let keep_going = std::env::var_os("FERROHSM_TEST_KEEP_GOING").is_some();
    let p11 = worker_module();
    let s = worker_session(&p11);
    worker_login(&s);
    say("READY");
    // Optional start barrier: wait for the file FERROHSM_TEST_GO to exist.
    if let Ok(go) = std::env::var("FERROHSM_TEST_GO") {
        let end = Instant::now() + Duration::from_secs(60);
        while !Path::new(&go).exists() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut i = start;
    while count == 0 || i < start + count {
        let (label, value, private) = crash_object(&prefix, i, every);
        let r = s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(label.clone().into_bytes()),
            Attribute::Application(app.clone().into_bytes()),
            Attribute::Value(value),
        ]);
        match r {
            Ok(_) => say(format!("OK {label}")),
            // FERROHSM_TEST_KEEP_GOING: the store may be away for a while (a database server
            // restarting); the same object is tried again until it is created.
            Err(e) if keep_going => {
                say(format!("ERR {label} {}", res::<()>(&Err(e))));
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => {
                say(format!("ERR {label} {}", res::<()>(&Err(e))));
                std::process::exit(3);
            }
        }
        i += 1;
    }
    drop(s);
    p11.finalize().expect("C_Finalize");
    say("DONE");
}

/// Label and value step `n` of the set-attribute loop gives its object.
pub fn step_values(n: u64) -> (String, Vec<u8>) {
    (
        format!("step-{n}"),
        format!("val-{n}-{}", "x".repeat((n % 7) as usize * 10)).into_bytes(),
    )
}

/// Objects with CKA_APPLICATION `obj-<k>`, k < N; step n sets label and value of object n % N
/// in one C_SetAttributeValue and prints `OK <n>`.
fn setattr_loop() {
    let n_obj = env_num("FERROHSM_TEST_N", 4);
    let start = env_num("FERROHSM_TEST_START", 0);
    let p11 = worker_module();
    let s = worker_session(&p11);
    worker_login(&s);
    let mut handles = Vec::new();
    for k in 0..n_obj {
        let h = s
            .find_objects(&[Attribute::Application(format!("obj-{k}").into_bytes())])
            .expect("find");
        assert_eq!(h.len(), 1, "obj-{k}");
        handles.push(h[0]);
    }
    say("READY");
    let mut n = start;
    loop {
        let (label, value) = step_values(n);
        let r = s.update_attributes(
            handles[(n % n_obj) as usize],
            &[
                Attribute::Label(label.into_bytes()),
                Attribute::Value(value),
            ],
        );
        match r {
            Ok(()) => say(format!("OK {n}")),
            Err(e) => {
                say(format!("ERR {n} {}", res::<()>(&Err(e))));
                std::process::exit(3);
            }
        }
        n += 1;
    }
}

/// Destroys the objects with CKA_APPLICATION `destroy-set` in ascending order of the number in
/// their label `d-<i>`, printing `OK d-<i>` after each.
fn destroy_loop() {
    let p11 = worker_module();
    let s = worker_session(&p11);
    worker_login(&s);
    let hs = s
        .find_objects(&[Attribute::Application(b"destroy-set".to_vec())])
        .expect("find");
    let mut v: Vec<(u64, String, ObjectHandle)> = hs
        .into_iter()
        .map(|h| {
            let l = String::from_utf8(common::get_label(&s, h)).expect("utf8 label");
            let i = l
                .strip_prefix("d-")
                .and_then(|x| x.parse().ok())
                .expect("label d-<i>");
            (i, l, h)
        })
        .collect();
    v.sort_by_key(|(i, _, _)| *i);
    say("READY");
    for (_, l, h) in v {
        match s.destroy_object(h) {
            Ok(()) => say(format!("OK {l}")),
            Err(e) => {
                say(format!("ERR {l} {}", res::<()>(&Err(e))));
                std::process::exit(3);
            }
        }
    }
    say("DONE");
}

/// Finds which of FERROHSM_TEST_PIN_A / _B is the user PIN now (`CUR <pin>`, or `CUR none`),
/// then alternates C_SetPIN between them, printing `OK <new pin>` after each CKR_OK.
fn setpin_loop() {
    let a = env_var("FERROHSM_TEST_PIN_A");
    let b = env_var("FERROHSM_TEST_PIN_B");
    let p11 = worker_module();
    let s = worker_session(&p11);
    let mut cur = None;
    for p in [&a, &b] {
        if s.login(UserType::User, Some(&common::pin(p))).is_ok() {
            s.logout().expect("logout");
            cur = Some(p.clone());
            break;
        }
    }
    let Some(mut cur) = cur else {
        say("CUR none");
        std::process::exit(6);
    };
    say(format!("CUR {cur}"));
    say("READY");
    loop {
        let next = if cur == a { b.clone() } else { a.clone() };
        match s.set_pin(&common::pin(&cur), &common::pin(&next)) {
            Ok(()) => say(format!("OK {next}")),
            Err(e) => {
                say(format!("ERR {}", res::<()>(&Err(e))));
                std::process::exit(3);
            }
        }
        cur = next;
    }
}

/// C_InitToken on the free slot in a loop, labels `<prefix>-<i>`, printing `OK <label>` after each.
fn inittoken_loop() {
    let prefix = env_var("FERROHSM_TEST_PREFIX");
    let p11 = worker_module();
    say("READY");
    let mut i = 0u64;
    loop {
        let label = format!("{prefix}-{i}");
        let free = *p11
            .get_all_slots()
            .expect("C_GetSlotList")
            .last()
            .expect("free slot");
        match p11.init_token(free, &common::pin(SO_PIN), &label) {
            Ok(()) => say(format!("OK {label}")),
            Err(e) => {
                say(format!("ERR {label} {}", res::<()>(&Err(e))));
                std::process::exit(3);
            }
        }
        i += 1;
    }
}

fn find_one(s: &Session, label: &str) -> Option<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .ok()
        .and_then(|v| v.first().copied())
}

/// Runs FERROHSM_TEST_SCRIPT (one command a line) on a R/W session of FERROHSM_TEST_TOKEN,
/// printing `R <command> <result>` for each:
/// login_user PIN | login_so PIN | logout | create LABEL PRIVATE(0/1) | set_label OLD NEW |
/// set_value LABEL VALUE | destroy LABEL | set_pin OLD NEW | init_pin PIN | flags | count |
/// value LABEL | state (the session state) | wait_for PATH (until the file exists, 60 s at most:
/// lets the test change the database between two commands, from another process)
fn script() {
    let p11 = worker_module();
    let s = worker_session(&p11);
    let script = env_var("FERROHSM_TEST_SCRIPT");
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let out = match w[0] {
            "login_user" => res(&s.login(UserType::User, Some(&common::pin(w[1])))),
            "login_so" => res(&s.login(UserType::So, Some(&common::pin(w[1])))),
            "logout" => res(&s.logout()),
            "create" => res(&s.create_object(&common::data_template(w[1], true, w[2] == "1"))),
            "set_label" => match find_one(&s, w[1]) {
                Some(h) => res(&s.update_attributes(h, &[Attribute::Label(w[2].into())])),
                None => "NotFound".into(),
            },
            "set_value" => match find_one(&s, w[1]) {
                Some(h) => res(&s.update_attributes(h, &[Attribute::Value(w[2].into())])),
                None => "NotFound".into(),
            },
            "value" => match find_one(&s, w[1]) {
                Some(h) => String::from_utf8_lossy(&common::get_bytes(&s, h, AttributeType::Value))
                    .into_owned(),
                None => "NotFound".into(),
            },
            "destroy" => match find_one(&s, w[1]) {
                Some(h) => res(&s.destroy_object(h)),
                None => "NotFound".into(),
            },
            "set_pin" => res(&s.set_pin(&common::pin(w[1]), &common::pin(w[2]))),
            "init_pin" => res(&s.init_pin(&common::pin(w[1]))),
            "flags" => {
                let slot = s.get_session_info().expect("session info").slot_id();
                format!("{:#x}", Raw::new().token_info(slot.id()).flags)
            }
            "count" => s
                .find_objects(&[])
                .map(|v| v.len().to_string())
                .unwrap_or_else(|e| res::<()>(&Err(e))),
            "state" => format!(
                "{:?}",
                s.get_session_info().expect("session info").session_state()
            ),
            "wait_for" => {
                let end = Instant::now() + Duration::from_secs(60);
                while !Path::new(w[1]).exists() {
                    assert!(Instant::now() < end, "wait_for {}: timed out", w[1]);
                    std::thread::sleep(Duration::from_millis(5));
                }
                "OK".into()
            }
            other => panic!("unknown script command {other}"),
        };
        say(format!("R {line} => {out}"));
    }
    drop(s);
    p11.finalize().expect("C_Finalize");
}

/// C_Initialize with whatever environment it was given; prints `INIT OK|<rv>`, the slot count,
/// the token dir creation result, then (FERROHSM_TEST_MKTOKEN=label) C_InitToken on the free slot.
fn init_only() {
    let p11 = Pkcs11::new(common::module_path()).expect("load module");
    let r = p11.initialize(common::init_args());
    say(format!("INIT {}", res(&r)));
    if r.is_err() {
        return;
    }
    let slots = p11.get_all_slots().expect("C_GetSlotList");
    say(format!("SLOTS {}", slots.len()));
    if let Ok(label) = std::env::var("FERROHSM_TEST_MKTOKEN") {
        let free = *slots.last().expect("free slot");
        let r = p11.init_token(free, &common::pin(SO_PIN), &label);
        say(format!("MKTOKEN {}", res(&r)));
        if r.is_ok() {
            let slot = slot_by_label(&p11, &label).expect("new token listed");
            let s = p11.open_rw_session(slot).unwrap();
            s.login(UserType::So, Some(&common::pin(SO_PIN))).unwrap();
            s.init_pin(&common::pin(USER_PIN)).unwrap();
            s.logout().unwrap();
            s.login(UserType::User, Some(&common::pin(USER_PIN)))
                .unwrap();
            let r = s.create_object(&common::data_template("cfg-obj", true, true));
            say(format!("CREATE {}", res(&r)));
        }
    }
    p11.finalize().expect("C_Finalize");
    say("DONE");
}

/// Sets the process umask to FERROHSM_TEST_UMASK (octal), makes a token with objects, and prints
/// `MODE <path relative to the token dir> <octal mode>` for everything under the token dir while
/// the module is initialized (`-wal`, `-shm` exist), then `AFTER <path> <mode>` after C_Finalize.
fn perms() {
    let umask = u32::from_str_radix(&env_var("FERROHSM_TEST_UMASK"), 8).expect("octal umask");
    unsafe {
        libc::umask(umask as libc::mode_t);
    }
    let tokendir = PathBuf::from(env_var("FERROHSM_TEST_TOKENDIR"));
    let p11 = worker_module();
    let slots = p11.get_all_slots().unwrap();
    p11.init_token(*slots.last().unwrap(), &common::pin(SO_PIN), "perms")
        .expect("C_InitToken");
    let slot = slot_by_label(&p11, "perms").expect("token");
    {
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&common::pin(SO_PIN))).unwrap();
        s.init_pin(&common::pin(USER_PIN)).unwrap();
        s.logout().unwrap();
        s.login(UserType::User, Some(&common::pin(USER_PIN)))
            .unwrap();
        for i in 0..5 {
            s.create_object(&common::data_template(&format!("p{i}"), true, i % 2 == 0))
                .expect("create");
        }
        report_modes("MODE", &tokendir);
    }
    p11.finalize().unwrap();
    report_modes("AFTER", &tokendir);
    say("DONE");
}

fn report_modes(tag: &str, root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(root).expect("token dir");
    say(format!("{tag} . {:o}", md.permissions().mode() & 0o7777));
    for p in files_and_dirs(root) {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        say(format!(
            "{tag} {rel} {:o}",
            md.permissions().mode() & 0o7777
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Files

/// Every file and directory under `root` (not `root` itself), recursively.
pub fn files_and_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            out.push(p.clone());
            if is_dir {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Regular files under `root`, recursively.
pub fn files(root: &Path) -> Vec<PathBuf> {
    files_and_dirs(root)
        .into_iter()
        .filter(|p| {
            std::fs::symlink_metadata(p)
                .map(|m| m.is_file())
                .unwrap_or(false)
        })
        .collect()
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The files (with their contents at the time of the call) in which `needle` occurs.
pub fn files_containing(snapshot: &[(PathBuf, Vec<u8>)], needle: &[u8]) -> Vec<PathBuf> {
    snapshot
        .iter()
        .filter(|(_, data)| contains(data, needle))
        .map(|(p, _)| p.clone())
        .collect()
}

/// Reads every regular file under `root` now.
pub fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(root)
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|d| (p, d)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The stored record format (src/store/mod.rs `encode_attrs`), read independently

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub ty: u64,
    pub sealed: u8,
    pub value: Vec<u8>,
}

/// The reserved attribute type under which an object that must be sealed is stored whole
/// (src/token.rs `SEALED_RECORD`): its value is nonce || AES-256-GCM(record) || tag.
pub const SEALED_RECORD: u64 = u64::MAX;

/// `u32 LE count`, then per attribute `u64 LE type`, `u8 sealed`, `u32 LE length`, value.
pub fn decode_record(mut b: &[u8]) -> Vec<Rec> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
        assert!(b.len() >= n, "record too short");
        let (h, t) = b.split_at(n);
        *b = t;
        h
    }
    let n = u32::from_le_bytes(take(&mut b, 4).try_into().unwrap());
    let mut v = Vec::new();
    for _ in 0..n {
        let ty = u64::from_le_bytes(take(&mut b, 8).try_into().unwrap());
        let sealed = take(&mut b, 1)[0];
        let len = u32::from_le_bytes(take(&mut b, 4).try_into().unwrap()) as usize;
        v.push(Rec {
            ty,
            sealed,
            value: take(&mut b, len).to_vec(),
        });
    }
    assert!(b.is_empty(), "trailing bytes in record");
    v
}

pub fn encode_record(v: &[Rec]) -> Vec<u8> {
    let mut out = (v.len() as u32).to_le_bytes().to_vec();
    for a in v {
        out.extend_from_slice(&a.ty.to_le_bytes());
        out.push(a.sealed);
        out.extend_from_slice(&(a.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&a.value);
    }
    out
}

#[derive(Clone, Debug)]
pub struct Row {
    pub id: i64,
    pub uid: String,
    pub private: bool,
    pub attrs: Vec<u8>,
}

pub fn open_db(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open token db");
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c
}

pub fn rows(path: &Path) -> Vec<Row> {
    let c = open_db(path);
    let mut st = c
        .prepare("SELECT id, uid, private, attrs FROM objects ORDER BY id")
        .unwrap();
    let v = st
        .query_map([], |r| {
            Ok(Row {
                id: r.get(0)?,
                uid: r.get(1)?,
                private: r.get(2)?,
                attrs: r.get(3)?,
            })
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    v
}

pub fn row_by_uid(path: &Path, uid: &str) -> Row {
    rows(path)
        .into_iter()
        .find(|r| r.uid == uid)
        .unwrap_or_else(|| panic!("no row with uid {uid}"))
}

pub fn set_attrs_blob(path: &Path, id: i64, blob: &[u8]) {
    let c = open_db(path);
    let n = c
        .execute(
            "UPDATE objects SET attrs = ?1 WHERE id = ?2",
            rusqlite::params![blob, id],
        )
        .unwrap();
    assert_eq!(n, 1);
}

pub fn integrity_check(path: &Path) -> String {
    let c = open_db(path);
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

pub fn meta_blob(path: &Path, key: &str) -> Option<Vec<u8>> {
    let c = open_db(path);
    c.query_row("SELECT v FROM meta WHERE k = ?1", [key], |r| {
        r.get::<_, Option<Vec<u8>>>(0)
    })
    .unwrap()
}

pub fn set_meta(path: &Path, key: &str, v: rusqlite::types::Value) {
    let c = open_db(path);
    c.execute(
        "UPDATE meta SET v = ?1 WHERE k = ?2",
        rusqlite::params![v, key],
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// ferrohsm-util and softhsm2-util

pub fn util_path() -> PathBuf {
    match std::env::var_os("FERROHSM_UTIL") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_ferrohsm-util")),
    }
}

#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn run(mut cmd: Command) -> Out {
    cmd.stdin(Stdio::null());
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// ferrohsm-util with `FERROHSM_CONF=conf` (PIN environment variables removed).
pub fn util(conf: &Path, args: &[&str]) -> Out {
    let mut c = Command::new(util_path());
    c.args(args)
        .env("FERROHSM_CONF", conf)
        .env_remove("FERROHSM_PIN")
        .env_remove("FERROHSM_SO_PIN")
        .env("FERROHSM_MODULE", common::module_path());
    run(c)
}

pub fn util_env(conf: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut c = Command::new(util_path());
    c.args(args)
        .env("FERROHSM_CONF", conf)
        .env_remove("FERROHSM_PIN")
        .env_remove("FERROHSM_SO_PIN");
    for (k, v) in env {
        c.env(k, v);
    }
    run(c)
}

/// softhsm2-util with `SOFTHSM2_CONF=conf`.
pub fn softhsm_util(conf: &Path, args: &[&str]) -> Out {
    let mut c = Command::new("softhsm2-util");
    c.args(args).env("SOFTHSM2_CONF", conf);
    run(c)
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Hex-decodes `openssl pkey -text` blocks: returns (field name, big-endian bytes without the
/// leading zero byte) for each multi-line hex field (modulus, privateExponent, prime1, ...).
pub fn openssl_text_fields(pem: &Path) -> Vec<(String, Vec<u8>)> {
    let o = run({
        let mut c = Command::new("openssl");
        c.args(["pkey", "-in"]).arg(pem).args(["-text", "-noout"]);
        c
    });
    assert!(o.ok(), "openssl pkey -text: {o}");
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in o.stdout.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, h)) = cur.as_mut() {
                let t = line.trim();
                if t.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                    h.push_str(&t.replace(':', ""));
                }
            }
        } else {
            if let Some((n, h)) = cur.take() {
                if !h.is_empty() {
                    out.push((n, strip_zero(common::hex(&h))));
                }
            }
            if let Some(name) = line.strip_suffix(':') {
                cur = Some((name.trim().to_string(), String::new()));
            }
        }
    }
    if let Some((n, h)) = cur.take() {
        if !h.is_empty() {
            out.push((n, strip_zero(common::hex(&h))));
        }
    }
    out
}

fn strip_zero(mut v: Vec<u8>) -> Vec<u8> {
    while v.len() > 1 && v[0] == 0 {
        v.remove(0);
    }
    v
}
