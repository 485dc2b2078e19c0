//! Key material in memory (docs/SECURITY.md, "Memory"): a real core dump of a client that is
//! logged in and has used a secret key does not hold the key's value, though the value is in the
//! process's memory (in the module's secure pages: `MADV_DONTDUMP`, locked); once the key is
//! destroyed and the user logged out, no copy is left in those pages (zeroized on drop), and the
//! dump holds none either.
//!
//! A child process (this binary, re-run as a worker) reads a random 32-byte value from a file
//! straight into a stack buffer, creates a sensitive HMAC key with it (wiping its own copies), signs
//! with it, checks its own memory through `/proc/self/smaps` and `/proc/self/mem`, and aborts with
//! a core dump. The parent searches the core for the value, and for a canary the child keeps on its
//! ordinary heap (found: the dump is complete enough to hold what is not excluded). Where the
//! kernel's `core_pattern` does not write a file into the working directory (a pipe to
//! systemd-coredump or apport), or the hard core size limit forbids it, `gcore` dumps the
//! waiting child instead; without either, the test
//! says so and passes.

mod crypto_common;
use crypto_common::module_path;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SO: &str = "12345678";
/// The user PIN: long enough to be searched for, and made at run time, so that the whole string
/// is not in the binary's read-only data (which `gcore` dumps).
fn user_pin() -> String {
    let n = std::hint::black_box(0x7f3a_9c1e_5b2d_4068u64);
    format!("pin-{n:x}-memory")
}

/// How the dump is taken.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dumper {
    /// The kernel writes `core*` into the child's working directory when it aborts.
    Kernel,
    /// `gcore` dumps the child while it waits.
    Gcore,
}

fn dumper() -> Option<Dumper> {
    // FERROHSM_TEST_MEM_DUMP=gcore takes the gcore path where the kernel's would work.
    if std::env::var("FERROHSM_TEST_MEM_DUMP").as_deref() == Ok("gcore") {
        return Some(Dumper::Gcore);
    }
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let pattern = pattern.trim();
    // The worker raises its core size limit to the hard limit: that must allow a core.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads this process's limit into a local.
    unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) };
    let core_allowed = lim.rlim_max == libc::RLIM_INFINITY || lim.rlim_max >= 64 << 20;
    if core_allowed && !pattern.is_empty() && !pattern.starts_with('|') && !pattern.contains('/') {
        return Some(Dumper::Kernel);
    }
    let gcore = Command::new("gcore")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    gcore.is_ok().then_some(Dumper::Gcore)
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The mappings of this process whose VmFlags carry `dd` (left out of core dumps), with their
/// flags.
fn dontdump_mappings() -> Vec<(usize, usize, String)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let mut out = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let first = line.split(' ').next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                cur = Some((lo, hi));
                continue;
            }
        }
        if let (Some(f), Some((lo, hi))) = (line.strip_prefix("VmFlags:"), cur) {
            if f.split_whitespace().any(|x| x == "dd") {
                out.push((lo, hi, f.trim().to_string()));
            }
        }
    }
    out
}

/// The flags of the `dd` mapping of this process that holds `needle` (read through
/// /proc/self/mem), if one does.
fn in_dontdump(needle: &[u8]) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mem = std::fs::File::open("/proc/self/mem").expect("/proc/self/mem");
    let maps = dontdump_mappings();
    let found = maps.iter().find(|&&(lo, hi, _)| {
        // Zeroized after the search: a copy of the secure pages on this heap would be in the dump.
        let mut buf = zeroize::Zeroizing::new(vec![0u8; hi - lo]);
        mem.read_exact_at(&mut buf, lo as u64).is_ok() && find(&buf, needle)
    });
    found.map(|m| m.2.clone())
}

/// The child: see the file's comment. Prints `KEY_IN_SECURE=`, `FLAGS=` and `SECURE_MAPPINGS=`
/// lines, then aborts (kernel dumps) or prints `READY` and waits to be dumped and killed.
#[test]
#[ignore = "child process of key_values_stay_out_of_core_dumps"]
fn memory_worker() {
    let Ok(phase) = std::env::var("FERROHSM_TEST_MEM_PHASE") else {
        return;
    };
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, KeyType, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    use zeroize::Zeroize;

    // libtest has printed `test memory_worker ... ` without a newline.
    println!();
    // The canary: on the ordinary heap, kept alive to the end.
    let canary = std::hint::black_box(b"ferrohsm-canary-0123456789abcdef".to_vec());
    let mut key = [0u8; 32];
    std::fs::File::open("key")
        .and_then(|mut f| f.read_exact(&mut key))
        .expect("read key");

    let p11 = Pkcs11::new(module_path()).unwrap();
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = p11.get_slots_with_token().unwrap()[0];
    p11.init_token(slot, &AuthPin::new(SO.into()), "memory")
        .unwrap();
    let slot = p11.get_slots_with_initialized_token().unwrap()[0];
    {
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&AuthPin::new(SO.into())))
            .unwrap();
        s.init_pin(&AuthPin::new(user_pin().into())).unwrap();
        s.logout().unwrap();
    }
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(user_pin().into())))
        .unwrap();
    let mut template = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::Value(key.to_vec()),
    ];
    let h = s.create_object(&template).unwrap();
    // Wipe this process's own copies: only the module's remain.
    for a in template.iter_mut() {
        if let Attribute::Value(v) = a {
            v.zeroize();
        }
    }
    drop(template);
    let mac = s.sign(&Mechanism::Sha256Hmac, h, b"data").unwrap();
    assert_eq!(mac.len(), 32);
    if phase == "gone" {
        s.destroy_object(h).unwrap();
        s.logout().unwrap();
    }
    // The flags of the dd mapping holding the value ("none": no dd mapping holds it).
    println!(
        "KEY_IN_SECURE={}",
        in_dontdump(&key).as_deref().unwrap_or("none")
    );
    println!("DONTDUMP_MAPPINGS={}", dontdump_mappings().len());
    key.zeroize();
    std::hint::black_box(&canary);
    if std::env::var("FERROHSM_TEST_MEM_DUMPER").as_deref() == Ok("Kernel") {
        // SAFETY: setrlimit on this process's own core size limit.
        unsafe {
            let l = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &l) != 0 {
                let mut cur = std::mem::zeroed::<libc::rlimit>();
                libc::getrlimit(libc::RLIMIT_CORE, &mut cur);
                let l = libc::rlimit {
                    rlim_cur: cur.rlim_max,
                    rlim_max: cur.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &l);
            }
        }
        std::io::stdout().flush().unwrap();
        std::process::abort();
    }
    println!("READY");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
    drop((s, p11, canary, mac));
}

struct Run {
    out: Vec<String>,
    core: Vec<u8>,
    /// The token's master key, and the key derived from the user PIN that unwraps it, both
    /// recomputed from the token's files and the PIN.
    master: [u8; 32],
    kek: [u8; 32],
}

/// The master key of the one token under `tokendir`, unwrapped from its stored user wrap with
/// the user PIN as `vault::MasterKey::unwrap` does, and the PIN-derived key that unwrapped it.
fn master_key(tokendir: &Path) -> ([u8; 32], [u8; 32]) {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let dir = std::fs::read_dir(tokendir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a token directory");
    let serial = dir.file_name().unwrap().to_str().unwrap().to_string();
    let db = rusqlite::Connection::open(dir.join("token.db")).unwrap();
    let wrap: Vec<u8> = db
        .query_row("SELECT v FROM meta WHERE k = 'user_wrap'", [], |r| r.get(0))
        .unwrap();
    let word = |i: usize| u32::from_be_bytes(wrap[1 + 4 * i..5 + 4 * i].try_into().unwrap());
    let (salt, nonce, hl) = (&wrap[13..29], &wrap[29..41], 41);
    let params = argon2::Params::new(word(0), word(1), word(2), Some(32)).unwrap();
    let mut kek = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(user_pin().as_bytes(), salt, &mut kek)
        .unwrap();
    let aad = [
        &wrap[..hl],
        format!("ferrohsm master key:{serial}:User").as_bytes(),
    ]
    .concat();
    let mk = aes_gcm::Aes256Gcm::new_from_slice(&kek)
        .unwrap()
        .decrypt(
            aes_gcm::Nonce::from_slice(nonce),
            Payload {
                msg: &wrap[hl..],
                aad: &aad,
            },
        )
        .expect("the user PIN unwraps the master key");
    (mk.try_into().unwrap(), kek)
}

/// Runs the worker for `phase` with `key` and dumps it.
fn run(phase: &str, key: &[u8; 32], how: Dumper) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ferrohsm.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nkdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\n\
             login.cache = off\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("key"), key).unwrap();
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "memory_worker",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .current_dir(dir.path())
    .env("FERROHSM_TEST_MEM_PHASE", phase)
    .env("FERROHSM_TEST_MEM_DUMPER", format!("{how:?}"))
    .env("FERROHSM_CONF", &conf)
    .env("FERROHSM_MODULE", module_path())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = c.spawn().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut out = Vec::new();
    let mut lines = stdout.lines();
    let core_path = match how {
        Dumper::Kernel => {
            out.extend(lines.map_while(|l| l.ok()));
            let st = child.wait().unwrap();
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(st.signal(), Some(libc::SIGABRT), "worker: {st:?} {out:?}");
            assert!(st.core_dumped(), "no core dumped: {out:?}");
            core_file(dir.path()).expect("core file in the working directory")
        }
        Dumper::Gcore => {
            for l in lines.by_ref() {
                let l = l.unwrap();
                let ready = l == "READY";
                out.push(l);
                if ready {
                    break;
                }
            }
            let prefix = dir.path().join("core");
            let st = Command::new("gcore")
                .arg("-o")
                .arg(&prefix)
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            let _ = child.kill();
            let _ = child.wait();
            assert!(st.success(), "gcore failed");
            core_file(dir.path()).expect("gcore wrote no file")
        }
    };
    let core = std::fs::read(&core_path).unwrap();
    // For a look at what a failing run found: FERROHSM_TEST_MEM_KEEP=DIR keeps the core and key.
    if let Some(keep) = std::env::var_os("FERROHSM_TEST_MEM_KEEP") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(keep.join(format!("core.{phase}")), &core).unwrap();
        std::fs::write(keep.join(format!("key.{phase}")), key).unwrap();
        let (master, _) = master_key(&dir.path().join("tokens"));
        std::fs::write(keep.join(format!("master.{phase}")), master).unwrap();
    }
    let (master, kek) = master_key(&dir.path().join("tokens"));
    Run {
        out,
        core,
        master,
        kek,
    }
}

fn core_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("core"))
        })
}

fn line<'a>(r: &'a Run, key: &str) -> &'a str {
    r.out
        .iter()
        .find_map(|l| l.strip_prefix(key).and_then(|l| l.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} line in {:?}", r.out))
}

#[test]
fn key_values_stay_out_of_core_dumps() {
    let Some(how) = dumper() else {
        eprintln!(
            "SKIP: core_pattern is a pipe or a path, and gcore is not installed: no dump to search"
        );
        return;
    };
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).unwrap();

    // Logged in, the key used: its value is in the secure pages, and not in the dump.
    let live = run("live", &key, how);
    eprintln!(
        "live ({how:?}): {:?}, core {} bytes",
        live.out,
        live.core.len()
    );
    assert!(
        find(&live.core, b"ferrohsm-canary-0123456789abcdef"),
        "the canary on the ordinary heap is not in the dump: the search proves nothing"
    );
    assert!(
        !find(&live.core, &key),
        "the key's value is in the core dump"
    );
    // The PIN passed through C_InitPIN and C_Login: the module keeps no copy of it (not secure
    // memory: it never holds one past the call, and what passes through is zeroized).
    assert!(
        !find(&live.core, user_pin().as_bytes()),
        "the user PIN is in the core dump"
    );
    assert!(
        !find(&live.core, &live.master),
        "the token's master key is in the core dump"
    );
    // Nor the key derived from the PIN that unwrapped it at login (kept in secure memory for the
    // call, its stack frames scrubbed after).
    assert!(
        !find(&live.core, &live.kek),
        "the PIN-derived key that unwrapped the master key is in the core dump"
    );
    let flags = line(&live, "KEY_IN_SECURE");
    assert_ne!(
        flags, "none",
        "the key's value is not in the module's secure (MADV_DONTDUMP) pages"
    );
    // Locked too, where RLIMIT_MEMLOCK allows (the module logs a line when it does not).
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads this process's limit into a local.
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    if lim.rlim_cur >= 1 << 20 {
        assert!(
            flags.split(' ').any(|f| f == "lo"),
            "secure pages not locked: {flags}"
        );
    }

    // Destroyed and logged out: no copy in the secure pages (zeroized), none in the dump.
    let gone = run("gone", &key, how);
    eprintln!(
        "gone ({how:?}): {:?}, core {} bytes",
        gone.out,
        gone.core.len()
    );
    assert!(find(&gone.core, b"ferrohsm-canary-0123456789abcdef"));
    assert!(
        !find(&gone.core, &key),
        "a destroyed key's value is in the core dump"
    );
    assert!(!find(&gone.core, user_pin().as_bytes()));
    assert_eq!(
        line(&gone, "KEY_IN_SECURE"),
        "none",
        "a destroyed key's value is left in secure memory"
    );
}
