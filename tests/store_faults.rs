//! Fault injection below the store (issue 17, item 1). An LD_PRELOAD shim (tests/c/faultshim.c)
//! fails the Nth write-like call (write, pwrite, writev, fsync, fdatasync, ftruncate, rename) on the
//! token's files during one operation: a create, a destroy, a PIN change and a key rotation, at
//! every position the operation reaches, once (EIO or ENOSPC) or from then on (EIO, a disk gone
//! bad). After each run, a fresh process without the shim opens the token and checks: the token
//! opens, every object from before is there and readable, and the operation's change is there if
//! and only if the operation said CKR_OK. The process that saw the failure must agree too.

mod common;

use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::CK_ULONG;
use std::path::{Path, PathBuf};
use std::process::Command;

const CKA_FERROHSM_KEY_FAMILY: CK_ULONG = 0xC645_0001;
const FAMILY: &[u8] = b"fault-fam";
const NEW_PIN: &str = "5678";
/// Objects made before the operation: public data, private data (sealed), and the victim.
const BASE: usize = 6;
const OPS: [&str; 4] = ["create", "destroy", "setpin", "rotate"];

fn conf(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let conf = dir.join("ferrohsm.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nkdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\n\
             login.cache = off\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    conf
}

fn session(p: &cryptoki::context::Pkcs11) -> Session {
    let slot = p.get_slots_with_initialized_token().unwrap()[0];
    p.open_rw_session(slot).unwrap()
}

fn count(s: &Session, label: &str) -> usize {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .unwrap()
        .len()
}

fn versions(s: &Session) -> usize {
    s.find_objects(&[raw_attr(CKA_FERROHSM_KEY_FAMILY, FAMILY.to_vec())])
        .unwrap()
        .len()
}

fn value(s: &Session, h: ObjectHandle) -> Vec<u8> {
    get_bytes(s, h, AttributeType::Value)
}

/// The operation's change as the process sees it: (new object, victim, family versions).
fn state(s: &Session) -> (usize, usize, usize) {
    (count(s, "new"), count(s, "victim"), versions(s))
}

type Shim = (
    unsafe extern "C" fn(i64, i32, i32),
    unsafe extern "C" fn(),
    unsafe extern "C" fn() -> i64,
    unsafe extern "C" fn() -> i32,
);

fn shim() -> Shim {
    unsafe {
        let f = |name: &str| {
            let c = std::ffi::CString::new(name).unwrap();
            let p = libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr());
            assert!(!p.is_null(), "{name}: the shim is not preloaded");
            p
        };
        (
            std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn(i64, i32, i32)>(f(
                "ferrohsm_fault_arm",
            )),
            std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn()>(f(
                "ferrohsm_fault_disarm",
            )),
            std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn() -> i64>(f(
                "ferrohsm_fault_seen",
            )),
            std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn() -> i32>(f(
                "ferrohsm_fault_hit",
            )),
        )
    }
}

/// A child: logs in, arms the shim (`FERROHSM_TEST_FAULT_AT`, `_ERRNO`, `_PERSIST`), runs
/// `FERROHSM_TEST_FAULT_OP`, disarms, prints what it got and what it then sees.
#[test]
#[ignore = "child process of faults_at_every_write"]
fn fault_child() {
    let Ok(op) = std::env::var("FERROHSM_TEST_FAULT_OP") else {
        return;
    };
    let env = |k: &str| std::env::var(k).unwrap().parse::<i64>().unwrap();
    let (at, err, persist) = (
        env("FERROHSM_TEST_FAULT_AT"),
        env("FERROHSM_TEST_FAULT_ERRNO") as i32,
        env("FERROHSM_TEST_FAULT_PERSIST") as i32,
    );
    let (arm, disarm, seen, hit) = shim();
    let p = load_module();
    let s = session(&p);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    unsafe { arm(at, err, persist) };
    let r = match op.as_str() {
        "create" => s
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Label(b"new".to_vec()),
                Attribute::Value(b"new value".to_vec()),
            ])
            .map(drop),
        "destroy" => {
            let v = s
                .find_objects(&[Attribute::Label(b"victim".to_vec())])
                .unwrap();
            s.destroy_object(v[0])
        }
        "setpin" => s.set_pin(&pin(USER_PIN), &pin(NEW_PIN)),
        "rotate" => s
            .generate_key(
                &Mechanism::GenericSecretKeyGen,
                &[
                    Attribute::ValueLen(32.into()),
                    Attribute::Sign(true),
                    raw_attr(CKA_FERROHSM_KEY_FAMILY, FAMILY.to_vec()),
                ],
            )
            .map(drop),
        other => panic!("{other}"),
    };
    let (n, h) = unsafe { (seen(), hit()) };
    unsafe { disarm() };
    let rv = rv_of(&r).map_or("OK".to_string(), |e| format!("{e:?}"));
    let (new, victim, vers) = state(&s);
    println!("\nRESULT rv={rv} seen={n} hit={h} new={new} victim={victim} versions={vers}");
    drop(s);
    p.finalize().unwrap();
}

/// A child without the shim: opens the token and prints what it holds.
#[test]
#[ignore = "child process of faults_at_every_write"]
fn check_child() {
    if std::env::var("FERROHSM_TEST_FAULT_CHECK").is_err() {
        return;
    }
    let p = load_module();
    let s = session(&p);
    let pin_now = if s.login(UserType::User, Some(&pin(USER_PIN))).is_ok() {
        "old"
    } else {
        s.login(UserType::User, Some(&pin(NEW_PIN))).unwrap();
        "new"
    };
    let mut base_ok = 0;
    for i in 0..BASE {
        let h = s
            .find_objects(&[Attribute::Label(format!("base-{i}").into_bytes())])
            .unwrap();
        if h.len() == 1 && value(&s, h[0]) == format!("value {i}").into_bytes() {
            base_ok += 1;
        }
    }
    let (new, victim, vers) = state(&s);
    println!("\nCHECK pin={pin_now} base={base_ok} new={new} victim={victim} versions={vers}");
}

fn field<'a>(text: &'a str, line: &str, key: &str) -> &'a str {
    let l = text
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no {line} line in:\n{text}"));
    l.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {l}"))
}

fn run(test: &str, conf: &Path, envs: &[(&str, String)], preload: Option<&Path>) -> String {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("FERROHSM_CONF", conf)
    .env("FERROHSM_MODULE", module_path());
    for (k, v) in envs {
        c.env(k, v);
    }
    if let Some(p) = preload {
        c.env("LD_PRELOAD", p);
    }
    let out = c.output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The shim's trace (FERROHSM_FAULT_TRACE), if any, for the messages below.
    for l in String::from_utf8_lossy(&out.stderr).lines() {
        if l.starts_with("faultshim:") {
            text.push_str(&format!("\n{l}"));
        }
    }
    assert!(
        out.status.success(),
        "{test} failed ({}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[test]
fn faults_at_every_write() {
    let root = tempfile::tempdir().unwrap();
    // The shim, built for this run.
    let so = root.path().join("faultshim.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/faultshim.c");
    let st = Command::new(std::env::var("CC").unwrap_or("cc".into()))
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("a C compiler (cc) builds the fault shim");
    assert!(st.success(), "building {}", src.display());

    // The token every run starts from.
    let template = root.path().join("template");
    let tconf = conf(&template);
    {
        let f = Fixture::with_conf(&tconf);
        let slot = f.user_token("faults");
        let s = f.user_session(slot);
        for i in 0..BASE {
            s.create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(i % 2 == 1),
                Attribute::Label(format!("base-{i}").into_bytes()),
                Attribute::Value(format!("value {i}").into_bytes()),
            ])
            .unwrap();
        }
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(b"victim".to_vec()),
        ])
        .unwrap();
        s.generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Sign(true),
                raw_attr(CKA_FERROHSM_KEY_FAMILY, FAMILY.to_vec()),
            ],
        )
        .unwrap();
    }

    let mut runs = 0;
    let mut summary = Vec::new();
    for op in OPS {
        // A run without a fault counts the calls the operation makes.
        let mut total = None;
        let mut at = 1i64;
        // (errno, persistent): EIO once, ENOSPC once, EIO from then on.
        for (err, persist) in [(libc::EIO, 0), (libc::ENOSPC, 0), (libc::EIO, 1)] {
            at = 1;
            loop {
                runs += 1;
                let dir = root.path().join(format!("run-{runs}"));
                copy_dir(&template, &dir);
                let c = conf(&dir);
                let envs = [
                    ("FERROHSM_TEST_FAULT_OP", op.to_string()),
                    ("FERROHSM_TEST_FAULT_AT", at.to_string()),
                    ("FERROHSM_TEST_FAULT_ERRNO", err.to_string()),
                    ("FERROHSM_TEST_FAULT_PERSIST", persist.to_string()),
                    (
                        "FERROHSM_FAULT_DIR",
                        dir.join("tokens").to_string_lossy().into_owned(),
                    ),
                ];
                let out = run("fault_child", &c, &envs, Some(&so));
                let rv = field(&out, "RESULT", "rv").to_string();
                let hit = field(&out, "RESULT", "hit") == "1";
                let seen: i64 = field(&out, "RESULT", "seen").parse().unwrap();
                let check = run(
                    "check_child",
                    &c,
                    &[("FERROHSM_TEST_FAULT_CHECK", "1".into())],
                    None,
                );
                let trace: Vec<&str> = out
                    .lines()
                    .filter(|l| l.starts_with("faultshim:"))
                    .collect();
                let what = format!(
                    "{op}, fault at call {at} of {seen} (errno {err}, persistent {persist}): rv {rv}{}",
                    if trace.is_empty() { String::new() } else { format!("\n{}\n", trace.join("\n")) }
                );
                assert_eq!(
                    field(&check, "CHECK", "base"),
                    BASE.to_string(),
                    "{what}: objects from before lost"
                );
                let ok = rv == "OK";
                // The change, as a fresh process sees it after the run, and as the process
                // that ran it saw it just after.
                let (after, during) = match op {
                    "create" => (
                        field(&check, "CHECK", "new") == "1",
                        field(&out, "RESULT", "new") == "1",
                    ),
                    "destroy" => (
                        field(&check, "CHECK", "victim") == "0",
                        field(&out, "RESULT", "victim") == "0",
                    ),
                    "setpin" => (field(&check, "CHECK", "pin") == "new", ok),
                    "rotate" => (
                        field(&check, "CHECK", "versions") == "2",
                        field(&out, "RESULT", "versions") == "2",
                    ),
                    _ => unreachable!(),
                };
                assert_eq!(
                    after,
                    ok,
                    "{what}: the change is {} on disk",
                    if after { "there" } else { "not there" }
                );
                assert_eq!(
                    during,
                    ok,
                    "{what}: the process sees the change {}",
                    if during { "made" } else { "not made" }
                );
                if !ok {
                    assert!(hit, "{what}: failed without an injected fault");
                    assert!(
                        rv == "DeviceMemory" || rv == "DeviceError",
                        "{what}: an I/O failure must be CKR_DEVICE_MEMORY or CKR_DEVICE_ERROR"
                    );
                    if err == libc::ENOSPC && persist == 0 {
                        assert_eq!(rv, "DeviceMemory", "{what}: a full disk");
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
                if !hit {
                    total.get_or_insert(seen);
                    break;
                }
                summary.push(format!("{op} at {at} errno {err} persist {persist}: {rv}"));
                at += 1;
            }
        }
        eprintln!(
            "{op}: {} write-like calls, each failed once (EIO, ENOSPC) and from then on (EIO)",
            total.unwrap_or(at - 1)
        );
    }
    eprintln!("{runs} runs; the failed ones:\n  {}", summary.join("\n  "));
    assert!(
        runs >= 3 * OPS.len() * 2,
        "every operation writes something"
    );
}
