//! ferrohsm-util against softhsm2-util: the same commands on both, comparing the lines scripts
//! parse, the exit status and the `ERROR: ...` lines; and what an import leaves on the token.
mod common;
mod support;

use common::*;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const SO: &str = "12345678";
const PIN: &str = "1234";

/// One tool with its own token directory.
struct Tool {
    name: &'static str,
    soft: bool,
    conf: PathBuf,
    tokendir: PathBuf,
    _env: Env,
}

impl Tool {
    fn ferro() -> Tool {
        let env = Env::new("log.level = ERROR\n");
        Tool {
            name: "ferrohsm-util",
            soft: false,
            conf: env.conf.clone(),
            tokendir: env.tokendir.clone(),
            _env: env,
        }
    }

    fn soft() -> Tool {
        assert!(have("softhsm2-util"), "softhsm2-util must be installed");
        let env = Env::new("");
        let tokendir = env.path("softhsm-tokens");
        std::fs::create_dir(&tokendir).unwrap();
        let conf = env.path("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokendir.display()
            ),
        )
        .unwrap();
        Tool {
            name: "softhsm2-util",
            soft: true,
            conf,
            tokendir,
            _env: env,
        }
    }

    fn both() -> [Tool; 2] {
        [Tool::soft(), Tool::ferro()]
    }

    fn run(&self, args: &[&str]) -> Out {
        if self.soft {
            softhsm_util(&self.conf, args)
        } else {
            let mut o = util(&self.conf, args);
            o.stderr = strip_next_steps(&o.stderr);
            o
        }
    }
}

/// ferrohsm-util prints a "Next steps" help block on stderr after --init-token; not part of the
/// compared output.
fn strip_next_steps(e: &str) -> String {
    match e.find("\nNext steps") {
        Some(i) => e[..i].to_string(),
        None if e.starts_with("Next steps") => String::new(),
        None => e.to_string(),
    }
}

fn slot_of_serial(serial: &str) -> u64 {
    (u64::from_str_radix(serial, 16).unwrap() & 0xffff_ffff) & 0x7fff_ffff
}

/// (slot id, serial, label, initialized) per `Slot` block of --show-slots.
fn parse_show_slots(out: &str) -> Vec<(u64, String, String, bool)> {
    let mut v: Vec<(u64, String, String, bool)> = Vec::new();
    for l in out.lines() {
        if let Some(n) = l.strip_prefix("Slot ") {
            v.push((
                n.trim().parse().unwrap(),
                String::new(),
                String::new(),
                false,
            ));
        } else if let Some(last) = v.last_mut() {
            let t = l.trim_start();
            if let Some(s) = t.strip_prefix("Serial number:") {
                last.1 = s.trim().to_string();
            } else if let Some(s) = t.strip_prefix("Label:") {
                last.2 = s.trim().to_string();
            } else if let Some(s) = t.strip_prefix("Initialized:") {
                last.3 = s.trim() == "yes";
            }
        }
    }
    v
}

/// The shape of --show-slots: each line reduced to its indentation and key.
fn shape(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            if l.starts_with("Slot ") {
                "Slot <n>".to_string()
            } else {
                match l.find(':') {
                    Some(i) => l[..=i].to_string(),
                    None => l.trim_end().to_string(),
                }
            }
        })
        .collect()
}

fn init_free(t: &Tool, label: &str) -> Out {
    t.run(&[
        "--init-token",
        "--free",
        "--label",
        label,
        "--pin",
        PIN,
        "--so-pin",
        SO,
    ])
}

fn serial_of(t: &Tool, label: &str) -> String {
    let o = t.run(&["--show-slots"]);
    assert!(o.ok(), "{}: {o}", t.name);
    parse_show_slots(&o.stdout)
        .into_iter()
        .find(|s| s.2 == label)
        .unwrap_or_else(|| panic!("{}: no token {label} in\n{o}", t.name))
        .1
}

#[track_caller]
fn assert_error(t: &Tool, o: &Out, what: &str) {
    assert_eq!(o.code, Some(1), "{} {what}: exit status\n{o}", t.name);
    if !t.soft {
        assert!(
            o.stderr.lines().any(|l| l.starts_with("ERROR: ")),
            "{} {what}: stderr must have an `ERROR: ...` line\n{o}",
            t.name
        );
        assert!(
            !o.stdout.contains("ERROR"),
            "{} {what}: errors go to stderr\n{o}",
            t.name
        );
    }
}

#[test]
fn init_token_free_prints_the_softhsm_lines() {
    for t in Tool::both() {
        for (n, label) in ["first", "second"].iter().enumerate() {
            let o = init_free(&t, label);
            assert!(o.ok(), "{}: {o}", t.name);
            assert!(!o.stderr.contains("ERROR"), "{}: {o}", t.name);
            let lines = o.lines();
            assert_eq!(lines.len(), 2, "{}: stdout lines\n{o}", t.name);
            assert_eq!(
                lines[0],
                format!("Slot {n} has a free/uninitialized token."),
                "{}",
                t.name
            );
            let m: u64 = lines[1]
                .strip_prefix("The token has been initialized and is reassigned to slot ")
                .unwrap_or_else(|| panic!("{}: second line {:?}", t.name, lines[1]))
                .parse()
                .unwrap();
            let serial = serial_of(&t, label);
            assert_eq!(serial.len(), 16, "{}: serial {serial:?}", t.name);
            assert_eq!(
                m,
                slot_of_serial(&serial),
                "{}: slot derived from serial {serial}",
                t.name
            );
        }
    }
}

#[test]
fn reinit_by_slot_prints_the_softhsm_line() {
    for t in Tool::both() {
        assert!(init_free(&t, "orig").ok());
        let slot = slot_of_serial(&serial_of(&t, "orig")).to_string();
        let o = t.run(&[
            "--init-token",
            "--slot",
            &slot,
            "--label",
            "again",
            "--pin",
            PIN,
            "--so-pin",
            SO,
        ]);
        assert!(o.ok(), "{}: {o}", t.name);
        assert_eq!(
            o.lines(),
            vec![format!("The token has been initialized on slot {slot}")],
            "{}",
            t.name
        );
        assert_eq!(serial_of(&t, "again").len(), 16);
        // wrong SO PIN: refused
        let o = t.run(&[
            "--init-token",
            "--slot",
            &slot,
            "--label",
            "x",
            "--pin",
            PIN,
            "--so-pin",
            "87654321",
        ]);
        assert_eq!(o.code, Some(1), "{}: wrong SO PIN\n{o}", t.name);
        if !t.soft {
            assert_error(&t, &o, "re-init with a wrong SO PIN");
        }
        // a slot that does not exist
        let o = t.run(&[
            "--init-token",
            "--slot",
            "4242",
            "--label",
            "x",
            "--pin",
            PIN,
            "--so-pin",
            SO,
        ]);
        assert_error(&t, &o, "--slot 4242");
    }
}

#[test]
fn show_slots_has_the_softhsm_structure() {
    let mut shapes = Vec::new();
    for t in Tool::both() {
        let o = t.run(&["--show-slots"]);
        assert!(o.ok(), "{}: {o}", t.name);
        let empty = parse_show_slots(&o.stdout);
        assert_eq!(empty.len(), 1, "{}: one free slot\n{o}", t.name);
        assert_eq!(empty[0].0, 0);
        assert!(!empty[0].3);
        assert!(init_free(&t, "shown").ok());
        let o = t.run(&["--show-slots"]);
        assert!(o.ok(), "{}: {o}", t.name);
        let s = parse_show_slots(&o.stdout);
        assert_eq!(s.len(), 2, "{}\n{o}", t.name);
        assert_eq!(s[0].0, slot_of_serial(&s[0].1), "{}", t.name);
        assert_eq!(s[0].2, "shown");
        assert!(s[0].3);
        assert_eq!((s[1].0, s[1].3), (1, false), "{}: free slot last", t.name);
        assert_eq!(o.lines()[0], "Available slots:");
        shapes.push((t.name, shape(&o.stdout)));
    }
    assert_eq!(
        shapes[1].1, shapes[0].1,
        "--show-slots line structure differs (left {}, right {})",
        shapes[1].0, shapes[0].0
    );
}

fn genpkey(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let mut c = Command::new("openssl");
    c.arg("genpkey").args(args).arg("-out").arg(&p);
    let o = run(c);
    assert!(o.ok(), "openssl: {o}");
    p
}

#[test]
fn import_prints_the_softhsm_lines_and_refuses_a_used_id() {
    let keys = tempfile::tempdir().unwrap();
    let rsa = genpkey(
        keys.path(),
        "rsa.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let ec = genpkey(
        keys.path(),
        "ec.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let (rsa, ec) = (rsa.to_str().unwrap(), ec.to_str().unwrap());
    let mut id_errors = Vec::new();
    for t in Tool::both() {
        assert!(init_free(&t, "imp").ok());
        let slot = slot_of_serial(&serial_of(&t, "imp"));
        let found = format!("Found slot {slot} with matching token label.");
        let imp = |file: &str, id: &str, extra: &[&str], pin: &str| {
            let mut a = vec![
                "--import", file, "--token", "imp", "--label", "key", "--id", id, "--pin", pin,
            ];
            a.extend_from_slice(extra);
            t.run(&a)
        };
        let o = imp(rsa, "a1b2", &[], PIN);
        assert!(o.ok(), "{}: {o}", t.name);
        assert_eq!(
            o.lines(),
            vec![found.as_str(), "The key pair has been imported."],
            "{}",
            t.name
        );
        let o = imp(ec, "c3d4", &[], PIN);
        assert!(o.ok(), "{}: EC import\n{o}", t.name);
        assert_eq!(
            o.lines(),
            vec![found.as_str(), "The key pair has been imported."],
            "{}",
            t.name
        );
        // the same ID again
        let o = imp(rsa, "a1b2", &[], PIN);
        assert_error(&t, &o, "import with a used ID");
        assert_eq!(o.lines(), vec![found.as_str()], "{}: stdout", t.name);
        id_errors.push(
            o.stderr
                .lines()
                .find(|l| l.starts_with("ERROR:"))
                .unwrap_or_default()
                .to_string(),
        );
        let o = imp(rsa, "a1b2", &["--force"], PIN);
        assert!(o.ok(), "{}: --force\n{o}", t.name);
        assert_eq!(
            o.lines(),
            vec![found.as_str(), "The key pair has been imported."]
        );
        // errors
        assert_error(
            &t,
            &imp(rsa, "0101", &[], "9999"),
            "import with a wrong PIN",
        );
        assert_error(
            &t,
            &imp("/nonexistent/key.pem", "0102", &[], PIN),
            "import of a missing file",
        );
        let o = t.run(&[
            "--import", rsa, "--token", "nope", "--label", "k", "--id", "01", "--pin", PIN,
        ]);
        assert_error(&t, &o, "import to an unknown token");
    }
    assert_eq!(
        id_errors[1], id_errors[0],
        "the used-ID error text (scripts grep it)"
    );
}

#[test]
fn imported_private_keys_are_sensitive_and_not_extractable() {
    let keys = tempfile::tempdir().unwrap();
    let rsa = genpkey(
        keys.path(),
        "rsa.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let ec = genpkey(
        keys.path(),
        "ec.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let t = Tool::ferro();
    assert!(init_free(&t, "imp").ok());
    for (file, label, id) in [(&rsa, "rsa", "01"), (&ec, "ec", "02")] {
        let o = t.run(&[
            "--import",
            file.to_str().unwrap(),
            "--token",
            "imp",
            "--label",
            label,
            "--id",
            id,
            "--pin",
            PIN,
        ]);
        assert!(o.ok(), "{o}");
    }
    let o = t.run(&[
        "--import",
        rsa.to_str().unwrap(),
        "--token",
        "imp",
        "--label",
        "nopub",
        "--id",
        "03",
        "--pin",
        PIN,
        "--no-public-key",
    ]);
    assert!(o.ok(), "{o}");
    let f = Fixture::with_conf(&t.conf);
    let tok = slot_by_label(&f, "imp").unwrap();
    // not visible without login
    let ro = f.ro(tok);
    assert!(ro
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap()
        .is_empty());
    let s = f.rw(tok);
    s.login(UserType::User, Some(&pin(PIN))).unwrap();
    for (label, id, secret) in [
        ("rsa", 1u8, AttributeType::PrivateExponent),
        ("ec", 2, AttributeType::Value),
        ("nopub", 3, AttributeType::PrivateExponent),
    ] {
        let h = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.into()),
            ])
            .unwrap();
        assert_eq!(h.len(), 1, "{label}");
        let h = h[0];
        assert!(
            get_bool(&s, h, AttributeType::Sensitive),
            "{label}: CKA_SENSITIVE"
        );
        assert!(
            !get_bool(&s, h, AttributeType::Extractable),
            "{label}: CKA_EXTRACTABLE"
        );
        assert!(
            get_bool(&s, h, AttributeType::Private),
            "{label}: CKA_PRIVATE"
        );
        assert!(get_bool(&s, h, AttributeType::Token), "{label}: CKA_TOKEN");
        assert_eq!(
            get_bytes(&s, h, AttributeType::Id),
            vec![id],
            "{label}: CKA_ID"
        );
        let r = Raw::new().get_attrs(s.handle(), h.handle(), &[(secret.into(), None)]);
        assert_ck(
            r.rv,
            cryptoki_sys::CKR_ATTRIBUTE_SENSITIVE,
            &format!("{label}: reading {secret:?}"),
        );
        assert_eq!(
            r.attrs[0].0,
            cryptoki_sys::CK_UNAVAILABLE_INFORMATION,
            "{label}: {secret:?} length"
        );
        let pubs = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(vec![id]),
            ])
            .unwrap();
        assert_eq!(
            pubs.len(),
            if label == "nopub" { 0 } else { 1 },
            "{label}: public key"
        );
    }
}

/// Ed25519 keys (RFC 8410 PKCS#8, PEM and DER, as OpenSSL writes them) import as CKK_EC_EDWARDS
/// pairs; the imported private key signs (CKM_EDDSA) what OpenSSL verifies with the original
/// key, and the public key object holds the same public key.
#[test]
fn ed25519_keys_import_and_sign() {
    use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
    use cryptoki::mechanism::Mechanism;
    let keys = tempfile::tempdir().unwrap();
    let pem = genpkey(keys.path(), "ed.pem", &["-algorithm", "ed25519"]);
    let der = keys.path().join("ed.der");
    let o = run({
        let mut c = Command::new("openssl");
        c.args(["pkey", "-in"])
            .arg(&pem)
            .args(["-outform", "DER", "-out"])
            .arg(&der);
        c
    });
    assert!(o.ok(), "{o}");
    let spki = keys.path().join("ed.pub.der");
    let o = run({
        let mut c = Command::new("openssl");
        c.args(["pkey", "-in"])
            .arg(&pem)
            .args(["-pubout", "-outform", "DER", "-out"])
            .arg(&spki);
        c
    });
    assert!(o.ok(), "{o}");
    let spki = std::fs::read(&spki).unwrap();
    let t = Tool::ferro();
    assert!(init_free(&t, "ed").ok());
    for (file, label, id) in [(&pem, "ed-pem", "e1"), (&der, "ed-der", "e2")] {
        let o = t.run(&[
            "--import",
            file.to_str().unwrap(),
            "--token",
            "ed",
            "--label",
            label,
            "--id",
            id,
            "--pin",
            PIN,
        ]);
        assert!(o.ok(), "{o}");
        assert!(o.stdout.contains("The key pair has been imported."), "{o}");
    }
    let f = Fixture::with_conf(&t.conf);
    let tok = slot_by_label(&f, "ed").unwrap();
    let s = f.rw(tok);
    s.login(UserType::User, Some(&pin(PIN))).unwrap();
    let msg = b"signed by an imported Ed25519 key";
    for (label, id) in [("ed-pem", 0xe1u8), ("ed-der", 0xe2)] {
        let sk = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.into()),
            ])
            .unwrap()[0];
        assert!(get_bool(&s, sk, AttributeType::Sensitive), "{label}");
        assert!(!get_bool(&s, sk, AttributeType::Extractable), "{label}");
        let pk = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(vec![id]),
            ])
            .unwrap()[0];
        // CKA_EC_POINT: DER OCTET STRING of the 32 bytes that end OpenSSL's SPKI.
        let point = get_bytes(&s, pk, AttributeType::EcPoint);
        assert_eq!(point[..2], [0x04, 0x20], "{label}");
        assert_eq!(point[2..], spki[spki.len() - 32..], "{label}");
        assert_eq!(get_bytes(&s, pk, AttributeType::PublicKeyInfo), spki);
        let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = s.sign(&mech, sk, msg).unwrap();
        s.verify(&mech, pk, msg, &sig).unwrap();
        let m = keys.path().join("msg");
        let sf = keys.path().join("sig");
        std::fs::write(&m, msg).unwrap();
        std::fs::write(&sf, &sig).unwrap();
        let o = run({
            let mut c = Command::new("openssl");
            c.args(["pkeyutl", "-verify", "-rawin", "-inkey"])
                .arg(&pem)
                .arg("-in")
                .arg(&m)
                .arg("-sigfile")
                .arg(&sf);
            c
        });
        assert!(
            o.ok() && o.stdout.contains("Signature Verified Successfully"),
            "{label}: OpenSSL verifies\n{o}"
        );
    }
    // A PKCS#8 Ed25519 key with algorithm parameters is refused.
    let bad = keys.path().join("bad.der");
    let mut d = std::fs::read(&der).unwrap();
    // 30 2e 02 01 00 30 05 06 03 2b 65 70 ...: make the AlgorithmIdentifier carry a NULL.
    assert_eq!(
        d[..12],
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]
    );
    d[1] += 2;
    d[6] += 2;
    d.splice(12..12, [0x05, 0x00]);
    std::fs::write(&bad, &d).unwrap();
    let o = t.run(&[
        "--import",
        bad.to_str().unwrap(),
        "--token",
        "ed",
        "--label",
        "bad",
        "--id",
        "e3",
        "--pin",
        PIN,
    ]);
    assert_error(&t, &o, "import of an Ed25519 key with parameters");
}

#[test]
fn delete_token_prints_the_softhsm_lines() {
    for t in Tool::both() {
        assert!(init_free(&t, "doomed").ok());
        assert!(init_free(&t, "kept").ok());
        let o = t.run(&["--delete-token", "--token", "doomed"]);
        assert!(o.ok(), "{}: {o}", t.name);
        let l = o.lines();
        assert_eq!(l.len(), 2, "{}: {o}", t.name);
        let id = l[0]
            .strip_prefix("Found token (")
            .and_then(|x| x.strip_suffix(") with matching token label."))
            .unwrap_or_else(|| panic!("{}: {:?}", t.name, l[0]));
        let path = l[1]
            .strip_prefix("The token (")
            .and_then(|x| x.strip_suffix(") has been deleted."))
            .unwrap_or_else(|| panic!("{}: {:?}", t.name, l[1]));
        assert_eq!(
            Path::new(path),
            t.tokendir.join(id),
            "{}: deleted path",
            t.name
        );
        assert!(!Path::new(path).exists(), "{}: {path} still exists", t.name);
        let left = parse_show_slots(&t.run(&["--show-slots"]).stdout);
        assert_eq!(
            left.len(),
            2,
            "{}: one token and the free slot left",
            t.name
        );
        assert_eq!(left[0].2, "kept");
        assert_error(
            &t,
            &t.run(&["--delete-token", "--token", "doomed"]),
            "deleting it again",
        );
        assert_error(
            &t,
            &t.run(&["--delete-token"]),
            "--delete-token without a token",
        );
    }
}

#[test]
fn errors_are_error_lines_with_exit_status_1() {
    for t in Tool::both() {
        assert!(init_free(&t, "tok").ok());
        for (what, args) in [
            (
                "--init-token without --label",
                vec!["--init-token", "--free", "--pin", PIN, "--so-pin", SO],
            ),
            (
                "--init-token without a slot",
                vec!["--init-token", "--label", "x", "--pin", PIN, "--so-pin", SO],
            ),
            (
                "a 2-character user PIN",
                vec![
                    "--init-token",
                    "--free",
                    "--label",
                    "x",
                    "--pin",
                    "12",
                    "--so-pin",
                    SO,
                ],
            ),
            ("no action", vec![]),
            (
                "--import without --id",
                vec![
                    "--import",
                    "/dev/null",
                    "--token",
                    "tok",
                    "--label",
                    "k",
                    "--pin",
                    PIN,
                ],
            ),
            (
                "--delete-token of an unknown token",
                vec!["--delete-token", "--token", "nope"],
            ),
        ] {
            let o = t.run(&args);
            assert_error(&t, &o, what);
        }
    }
}

#[test]
fn bad_configuration_is_an_error_line() {
    let t = Tool::ferro();
    std::fs::write(&t.conf, "pin.max_attempts = lots\n").unwrap();
    let o = t.run(&["--show-slots"]);
    assert_error(&t, &o, "bad config value");
    assert!(o.stderr.contains("pin.max_attempts"), "{o}");
    let o = util(Path::new("/nonexistent/ferrohsm.conf"), &["--show-slots"]);
    assert_error(&t, &o, "missing config file");
    assert!(o.stderr.contains("FERROHSM_CONF"), "{o}");
}

#[test]
fn version_and_help() {
    for t in Tool::both() {
        for flag in ["--version", "-v"] {
            let o = t.run(&[flag]);
            assert!(o.ok(), "{} {flag}: {o}", t.name);
            let l = o.lines();
            assert_eq!(l.len(), 1, "{} {flag}: one line\n{o}", t.name);
            let parts: Vec<&str> = l[0].split('.').collect();
            assert!(
                parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
                "{} {flag}: `x.y.z` expected, got {:?}",
                t.name,
                l[0]
            );
        }
        for flag in ["--help", "-h"] {
            let o = t.run(&[flag]);
            assert!(o.ok(), "{} {flag}: {o}", t.name);
            for opt in [
                "--init-token",
                "--show-slots",
                "--import",
                "--delete-token",
                "--slot",
                "--token",
                "--serial",
                "--free",
                "--label",
                "--pin",
                "--so-pin",
                "--id",
                "--force",
                "--no-public-key",
                "--version",
                "--help",
            ] {
                assert!(
                    o.stdout.contains(opt),
                    "{} {flag} does not mention {opt}",
                    t.name
                );
            }
        }
    }
}

#[test]
fn pins_from_the_environment() {
    let keys = tempfile::tempdir().unwrap();
    let rsa = genpkey(
        keys.path(),
        "rsa.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let t = Tool::ferro();
    let o = util_env(
        &t.conf,
        &["--init-token", "--free", "--label", "envpins"],
        &[
            ("FERROHSM_PIN", "env-user-pin"),
            ("FERROHSM_SO_PIN", "env-so-pin"),
            ("FERROHSM_QUIET", "1"),
        ],
    );
    assert!(o.ok(), "init with PINs from the environment: {o}");
    let args = [
        "--import",
        rsa.to_str().unwrap(),
        "--token",
        "envpins",
        "--label",
        "k",
        "--id",
        "01",
    ];
    let o = util_env(&t.conf, &args, &[("FERROHSM_PIN", "env-user-pin")]);
    assert!(o.ok(), "import with FERROHSM_PIN: {o}");
    assert!(o.stdout.contains("The key pair has been imported."), "{o}");
    let o = util_env(&t.conf, &args, &[("FERROHSM_PIN", "wrong-pin")]);
    assert_error(&t, &o, "FERROHSM_PIN wrong");
    // --pin wins over FERROHSM_PIN
    let o = util_env(
        &t.conf,
        &[
            "--import",
            rsa.to_str().unwrap(),
            "--token",
            "envpins",
            "--label",
            "k2",
            "--id",
            "02",
            "--pin",
            "env-user-pin",
        ],
        &[("FERROHSM_PIN", "wrong-pin")],
    );
    assert!(o.ok(), "--pin must win over FERROHSM_PIN: {o}");
    // and the PINs really are those: log in through the module
    let f = Fixture::with_conf(&t.conf);
    let tok = slot_by_label(&f, "envpins").unwrap();
    let s = f.rw(tok);
    s.login(UserType::User, Some(&pin("env-user-pin"))).unwrap();
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin("env-so-pin"))).unwrap();
}

/// Malformed arguments: where softhsm2-util exits with status 1, so must ferrohsm-util, with an
/// `ERROR: ...` line (scripts test `$? -eq 1` / grep `^ERROR:`).
#[test]
fn malformed_arguments_are_error_lines_with_exit_status_1() {
    let mut problems = Vec::new();
    for t in Tool::both() {
        assert!(init_free(&t, "tok").ok());
        for (what, args) in [
            (
                "a non-numeric --slot",
                vec![
                    "--init-token",
                    "--slot",
                    "abc",
                    "--label",
                    "x",
                    "--pin",
                    PIN,
                    "--so-pin",
                    SO,
                ],
            ),
            (
                "a non-numeric --slot on --import",
                vec![
                    "--import",
                    "/dev/null",
                    "--slot",
                    "abc",
                    "--label",
                    "k",
                    "--id",
                    "01",
                    "--pin",
                    PIN,
                ],
            ),
        ] {
            let o = t.run(&args);
            if t.soft {
                assert_eq!(o.code, Some(1), "softhsm2-util {what}: {o}");
                continue;
            }
            if o.code != Some(1) || !o.stderr.lines().any(|l| l.starts_with("ERROR: ")) {
                problems.push(format!(
                    "{what}: exit {:?}, stderr {:?}",
                    o.code,
                    o.stderr.lines().next().unwrap_or("")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "ferrohsm-util:\n{}",
        problems.join("\n")
    );
}
