//! Encryption at rest and file permissions of the token store.
//!
//! Secrets (secret key values, RSA/EC private key components, private objects' values, PINs) must
//! never appear in clear in any file under the token directory (`token.db`, `-wal`, `-shm`),
//! neither while the module has the token open nor after C_Finalize. A positive control (a public
//! object's label, stored in clear by design) proves that the search sees the data.
mod common;
mod support;

use common::*;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use std::path::Path;
use std::process::Command;
use support::*;

#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    support::worker_main();
}

const SO: &str = "So-Secret-PIN-7fq2";
const USER: &str = "User-Secret-PIN-9xk4";

fn openssl_genpkey(out: &Path, args: &[&str]) {
    let mut c = Command::new("openssl");
    c.arg("genpkey").args(args).arg("-out").arg(out);
    let o = run(c);
    assert!(o.ok(), "openssl genpkey: {o}");
}

fn secret_key(s: &Session, label: &str, value: &[u8], private: bool, sensitive: bool) {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(private),
        Attribute::Sensitive(sensitive),
        Attribute::Extractable(!sensitive),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(value.to_vec()),
    ])
    .unwrap_or_else(|e| panic!("create secret key {label}: {e:?}"));
}

/// Secrets to look for: (what, bytes). Each is also looked for by its first and last 16 bytes and
/// in lowercase hex.
fn needles(secrets: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for (what, b) in secrets {
        v.push((what.clone(), b.clone()));
        if b.len() > 24 {
            v.push((format!("{what} (first 16 bytes)"), b[..16].to_vec()));
            v.push((
                format!("{what} (last 16 bytes)"),
                b[b.len() - 16..].to_vec(),
            ));
        }
        if b.len() >= 8 {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            v.push((format!("{what} (hex)"), hex.into_bytes()));
        }
    }
    v
}

fn assert_not_in_files(when: &str, tokendir: &Path, secrets: &[(String, Vec<u8>)], control: &[u8]) {
    let snap = snapshot(tokendir);
    let names: Vec<String> = snap
        .iter()
        .map(|(p, d)| {
            format!(
                "{} ({} bytes)",
                p.strip_prefix(tokendir).unwrap().display(),
                d.len()
            )
        })
        .collect();
    eprintln!("{when}: files {names:?}");
    assert!(
        !files_containing(&snap, control).is_empty(),
        "{when}: positive control (a public label) not found in {names:?}: the search is broken"
    );
    let mut leaks = Vec::new();
    for (what, n) in needles(secrets) {
        for p in files_containing(&snap, &n) {
            leaks.push(format!("{what} in {}", p.display()));
        }
    }
    assert!(
        leaks.is_empty(),
        "{when}: secrets found in clear:\n{}",
        leaks.join("\n")
    );
}

#[test]
fn secrets_and_pins_are_never_stored_in_clear() {
    if !have("openssl") {
        panic!("openssl is needed");
    }
    let env = Env::new("log.level = ERROR\n");
    let o = util(
        &env.conf,
        &[
            "--init-token",
            "--free",
            "--label",
            "atrest",
            "--pin",
            USER,
            "--so-pin",
            SO,
        ],
    );
    assert!(o.ok(), "{o}");

    // Keys imported with ferrohsm-util from files made by openssl.
    let rsa_pem = env.path("rsa.pem");
    let ec_pem = env.path("ec.pem");
    openssl_genpkey(
        &rsa_pem,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    openssl_genpkey(
        &ec_pem,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    for (pem, label, id) in [(&rsa_pem, "rsa", "01"), (&ec_pem, "ec", "02")] {
        let o = util(
            &env.conf,
            &[
                "--import",
                pem.to_str().unwrap(),
                "--token",
                "atrest",
                "--label",
                label,
                "--id",
                id,
                "--pin",
                USER,
            ],
        );
        assert!(o.ok(), "import {label}: {o}");
    }
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    let rsa = openssl_text_fields(&rsa_pem);
    let modulus = rsa
        .iter()
        .find(|(n, _)| n == "modulus")
        .expect("modulus")
        .1
        .clone();
    for name in [
        "privateExponent",
        "prime1",
        "prime2",
        "exponent1",
        "exponent2",
        "coefficient",
    ] {
        let v = rsa
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("openssl output has no {name}: {rsa:?}"));
        secrets.push((format!("RSA {name}"), v.1.clone()));
    }
    let ec = openssl_text_fields(&ec_pem);
    let ec_priv = ec
        .iter()
        .find(|(n, _)| n == "priv")
        .expect("EC priv")
        .1
        .clone();
    assert!(ec_priv.len() >= 30, "EC private scalar {ec_priv:?}");
    secrets.push(("EC private scalar".into(), ec_priv));
    secrets.push(("SO PIN".into(), SO.as_bytes().to_vec()));
    secrets.push(("user PIN".into(), USER.as_bytes().to_vec()));

    let f = env.fixture();
    let tok = slot_by_label(&f, "atrest").unwrap();
    let s = f.rw(tok);
    s.login(UserType::User, Some(&pin(USER))).unwrap();
    // The import worked (so the search below is looking for the right thing).
    let rsa_pub = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(b"rsa".to_vec()),
        ])
        .unwrap();
    assert_eq!(rsa_pub.len(), 1);
    assert_eq!(
        get_bytes(&s, rsa_pub[0], AttributeType::Modulus),
        modulus,
        "imported modulus"
    );

    let k_private = os_random(32);
    let k_public_sensitive = os_random(32);
    let k_public_extractable = os_random(32);
    secret_key(&s, "k-private", &k_private, true, true);
    secret_key(&s, "k-public-sensitive", &k_public_sensitive, false, true);
    secret_key(
        &s,
        "k-public-extractable",
        &k_public_extractable,
        false,
        false,
    );
    secrets.push(("private sensitive secret key value".into(), k_private));
    secrets.push((
        "public sensitive secret key value".into(),
        k_public_sensitive,
    ));
    secrets.push((
        "public non-sensitive secret key value".into(),
        k_public_extractable,
    ));

    let d1 = os_random(48);
    let d2 = os_random(48);
    let data_label = format!("private-data-{}", hexs(&os_random(6)));
    let h = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(data_label.clone().into_bytes()),
            Attribute::Value(d1.clone()),
        ])
        .unwrap();
    // A new value replaces the old: neither may be left in clear (old pages, WAL frames).
    s.update_attributes(h, &[Attribute::Value(d2.clone())])
        .unwrap();
    assert_eq!(get_bytes(&s, h, AttributeType::Value), d2);
    secrets.push(("private data object value".into(), d1));
    secrets.push((
        "private data object value (after C_SetAttributeValue)".into(),
        d2,
    ));
    secrets.push(("private data object label".into(), data_label.into_bytes()));

    // Positive control: a public object's label is stored in clear.
    let control = format!("public-control-{}", hexs(&os_random(6)));
    create_data(&s, &control, true, false);
    // The PIN is also used by C_SetPIN; the new PIN must not be stored either.
    let new_user = "User-Secret-PIN-2nd-3mz8";
    s.set_pin(&pin(USER), &pin(new_user)).unwrap();
    secrets.push(("new user PIN".into(), new_user.as_bytes().to_vec()));

    assert_not_in_files(
        "module running",
        &env.tokendir,
        &secrets,
        control.as_bytes(),
    );
    drop(s);
    drop(f);
    assert_not_in_files(
        "after C_Finalize",
        &env.tokendir,
        &secrets,
        control.as_bytes(),
    );
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Permissions

/// Runs the `perms` worker: process umask `proc_umask`, token dir created by the module.
fn modes(extra_conf: &str, proc_umask: &str) -> (Env, Vec<(String, String, u32)>) {
    let env = Env::new(extra_conf);
    let mut c = worker_cmd("perms", &env.conf);
    c.env("FERROHSM_TEST_UMASK", proc_umask)
        .env("FERROHSM_TEST_TOKENDIR", &env.tokendir);
    let mut w = Running::spawn(c);
    let st = w
        .wait_timeout(std::time::Duration::from_secs(60))
        .expect("perms worker hung");
    assert!(st.success(), "{}", w.describe());
    let mut v = Vec::new();
    for l in &w.lines {
        let p: Vec<&str> = l.split(' ').collect();
        if p.len() == 3 && (p[0] == "MODE" || p[0] == "AFTER") {
            v.push((
                p[0].to_string(),
                p[1].to_string(),
                u32::from_str_radix(p[2], 8).unwrap(),
            ));
        }
    }
    assert!(
        v.iter().any(|(_, p, _)| p.ends_with("token.db")),
        "{}",
        w.describe()
    );
    (env, v)
}

fn kind(rel: &str) -> &'static str {
    if rel == "." {
        "token directory"
    } else if rel.ends_with("token.db") {
        "db"
    } else if rel.ends_with("-wal") {
        "wal"
    } else if rel.ends_with("-shm") {
        "shm"
    } else if rel.ends_with("-journal") {
        "journal"
    } else if !rel.contains('/') {
        "token subdirectory"
    } else {
        "other"
    }
}

#[test]
fn token_dir_0700_and_files_0600_whatever_the_process_umask() {
    // process umask 0: only the module's own modes / objectstore.umask (default 0077) count
    let (_env, v) = modes("log.level = ERROR\n", "0");
    let mut seen = std::collections::BTreeSet::new();
    let mut bad = Vec::new();
    for (when, rel, mode) in &v {
        let k = kind(rel);
        seen.insert(k);
        let want = match k {
            "token directory" | "token subdirectory" => 0o700,
            _ => 0o600,
        };
        if *mode != want {
            bad.push(format!("{when} {rel} ({k}): {mode:o}, expected {want:o}"));
        }
    }
    eprintln!("{v:?}");
    for k in ["token directory", "token subdirectory", "db", "wal", "shm"] {
        assert!(
            seen.contains(k),
            "no {k} seen while the module was running: {v:?}"
        );
    }
    assert!(bad.is_empty(), "wrong permissions:\n{}", bad.join("\n"));
}

#[test]
fn objectstore_umask_is_respected() {
    for umask in [0o077u32, 0o027, 0o007] {
        let (_env, v) = modes(
            &format!("objectstore.umask = {umask:04o}\nlog.level = ERROR\n"),
            "0",
        );
        let mut bad = Vec::new();
        for (when, rel, mode) in &v {
            let k = kind(rel);
            let dir = k.contains("directory");
            let owner = if dir { 0o700 } else { 0o600 };
            if mode & umask != 0 {
                bad.push(format!(
                    "{when} {rel} ({k}): {mode:o} has bits of umask {umask:04o}"
                ));
            }
            if mode & owner != owner {
                bad.push(format!(
                    "{when} {rel} ({k}): {mode:o} lacks owner bits {owner:o}"
                ));
            }
            if mode & 0o002 != 0 {
                bad.push(format!("{when} {rel} ({k}): {mode:o} is world-writable"));
            }
        }
        assert!(
            bad.is_empty(),
            "objectstore.umask = {umask:04o}:\n{}",
            bad.join("\n")
        );
    }
}
