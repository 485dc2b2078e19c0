//! The PostgreSQL store against the SQLite store with 1, 2 and 4 processes sharing one token
//! (issue 16): each process loads the module, logs in and repeats one operation for a while; the
//! rows give the total operations per second of all processes together.
//!
//! `cargo bench --bench fleet -- [--postgres URL] [--seconds S] [--procs 1,2,4] [--module PATH]`
//!
//! Without `--postgres`, a throwaway cluster is started with `scripts/pg-cluster` (PostgreSQL
//! must be installed) and stopped at the end. Rows:
//! - `ecdsa-p256-sign`: `C_Sign` with one key (the store is not on this path);
//! - `find-by-label`: `C_FindObjects*` for one of 1,000 objects;
//! - `create-token-object`: `C_CreateObject` of a small token data object (one write each, every
//!   process writing to the same token).

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: [&str; 3] = ["ecdsa-p256-sign", "find-by-label", "create-token-object"];
const OBJECTS: usize = 1000;

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.to_string().into())
}

fn open(module: &Path) -> (Pkcs11, cryptoki::slot::Slot) {
    let p11 = Pkcs11::new(module).expect("load module");
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = p11
        .get_slots_with_initialized_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            p11.get_token_info(*s)
                .map(|i| i.label().trim() == "fleet")
                .unwrap_or(false)
        })
        .expect("token `fleet`");
    (p11, slot)
}

/// Makes token `fleet` with an EC key and OBJECTS data objects (in this process).
fn setup(module: &Path) {
    let p11 = Pkcs11::new(module).expect("load module");
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let free = *p11.get_all_slots().unwrap().last().unwrap();
    p11.init_token(free, &pin("12345678"), "fleet").unwrap();
    let slot = p11
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_token_info(*s).unwrap().label().trim() == "fleet")
        .unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin("12345678"))).unwrap();
    s.init_pin(&pin("1234")).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin("1234"))).unwrap();
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::Token(true), Attribute::EcParams(p256)],
        &[
            Attribute::Token(true),
            Attribute::Sign(true),
            Attribute::Label(b"signer".to_vec()),
        ],
    )
    .unwrap();
    for i in 0..OBJECTS {
        s.create_object(&data(&format!("obj-{i}"))).unwrap();
    }
}

fn data(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(vec![0x42; 32]),
    ]
}

/// One process of a row: waits for the file `go`, runs for `secs`, prints the count.
fn worker(module: &Path, row: &str, secs: f64, go: &Path, tag: &str) {
    let (p11, slot) = open(module);
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin("1234"))).unwrap();
    let key = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"signer".to_vec()),
        ])
        .unwrap()[0];
    println!("READY");
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while Instant::now() < end {
        match row {
            "ecdsa-p256-sign" => {
                s.sign(&Mechanism::Ecdsa, key, &[0xa5; 32]).unwrap();
            }
            "find-by-label" => {
                let l = format!("obj-{}", n as usize % OBJECTS);
                assert_eq!(
                    s.find_objects(&[Attribute::Label(l.into_bytes())])
                        .unwrap()
                        .len(),
                    1
                );
            }
            "create-token-object" => {
                s.create_object(&data(&format!("new-{tag}-{n}"))).unwrap();
            }
            other => panic!("unknown row {other}"),
        }
        n += 1;
    }
    println!("COUNT {n}");
}

struct Store {
    name: &'static str,
    conf: PathBuf,
}

fn conf(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let tokens = dir.join(format!("{name}-tokens"));
    std::fs::create_dir_all(&tokens).unwrap();
    let c = dir.join(format!("{name}.conf"));
    std::fs::write(
        &c,
        format!(
            "directories.tokendir = {}\nlog.level = ERROR\nkdf.argon2.memory_kib = 1024\n\
             kdf.argon2.iterations = 1\n{extra}\n",
            tokens.display()
        ),
    )
    .unwrap();
    c
}

/// Total operations per second of `procs` processes running `row` on `store`.
fn measure(exe: &Path, module: &Path, store: &Store, row: &str, procs: usize, secs: f64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let mut kids: Vec<std::process::Child> = (0..procs)
        .map(|k| {
            Command::new(exe)
                .args(["--worker", row, &secs.to_string()])
                .arg(&go)
                .arg(k.to_string())
                .arg(module)
                .env("FERROHSM_CONF", &store.conf)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    let mut outs: Vec<std::io::Lines<std::io::BufReader<std::process::ChildStdout>>> = kids
        .iter_mut()
        .map(|k| {
            use std::io::BufRead;
            std::io::BufReader::new(k.stdout.take().unwrap()).lines()
        })
        .collect();
    for o in outs.iter_mut() {
        let l = o.next().expect("worker output").unwrap();
        assert_eq!(l, "READY");
    }
    std::fs::write(&go, b"").unwrap();
    let mut total = 0u64;
    for (o, k) in outs.iter_mut().zip(kids.iter_mut()) {
        let l = o.next().expect("worker count").unwrap();
        total += l.strip_prefix("COUNT ").unwrap().parse::<u64>().unwrap();
        assert!(k.wait().unwrap().success());
    }
    total as f64 / secs
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        let secs: f64 = args[2].parse().unwrap();
        worker(
            Path::new(&args[5]),
            &args[1],
            secs,
            Path::new(&args[3]),
            &args[4],
        );
        return;
    }
    if args.first().map(String::as_str) == Some("--setup") {
        setup(Path::new(&args[1]));
        return;
    }
    let mut pg_url = None;
    let mut secs = 2.0;
    let mut procs = vec![1usize, 2, 4];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut module = root.join("target/release/libferrohsm.so");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--postgres" => pg_url = it.next().cloned(),
            "--seconds" => secs = it.next().and_then(|v| v.parse().ok()).expect("--seconds S"),
            "--procs" => {
                procs = it
                    .next()
                    .expect("--procs 1,2,4")
                    .split(',')
                    .map(|v| v.parse().expect("a number of processes"))
                    .collect()
            }
            "--module" => module = PathBuf::from(it.next().expect("--module PATH")),
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = ferrohsm::build_info::check_library(&module) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = tempfile::Builder::new()
        .prefix("fhsm-bench-pg")
        .tempdir_in("/tmp")
        .unwrap();
    let started = pg_url.is_none();
    let url = pg_url.unwrap_or_else(|| {
        let o = Command::new(root.join("scripts/pg-cluster"))
            .arg("start")
            .arg(cluster.path())
            .output()
            .expect("scripts/pg-cluster");
        assert!(
            o.status.success(),
            "scripts/pg-cluster start failed (is PostgreSQL installed?): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    });
    let stores = [
        Store {
            name: "sqlite",
            conf: conf(dir.path(), "sqlite", ""),
        },
        Store {
            name: "postgres",
            conf: conf(
                dir.path(),
                "postgres",
                &format!(
                    "objectstore.backend = postgres\nobjectstore.postgres.url = {url}\n\
                     objectstore.postgres.schema = bench_fleet_{}",
                    std::process::id()
                ),
            ),
        },
    ];
    let exe = std::env::current_exe().unwrap();
    for st in &stores {
        let ok = Command::new(&exe)
            .arg("--setup")
            .arg(&module)
            .env("FERROHSM_CONF", &st.conf)
            .status()
            .unwrap()
            .success();
        assert!(ok, "setting up the {} store failed", st.name);
    }
    println!(
        "{:<22} {:>5} {:>14} {:>14} {:>10}",
        "row", "procs", "sqlite ops/s", "postgres ops/s", "pg/sqlite"
    );
    for row in ROWS {
        for &n in &procs {
            let a = measure(&exe, &module, &stores[0], row, n, secs);
            let b = measure(&exe, &module, &stores[1], row, n, secs);
            println!("{row:<22} {n:>5} {a:>14.0} {b:>14.0} {:>9.3}x", b / a);
        }
    }
    if started {
        let _ = Command::new(root.join("scripts/pg-cluster"))
            .arg("stop")
            .arg(cluster.path())
            .output();
    }
}
