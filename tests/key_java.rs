//! A Java application (SunPKCS11, the JDK's PKCS#11 provider) that names its key by alias gets the
//! newest version of a key family after each rotation (issue 7): the alias is the family name,
//! which is the CKA_LABEL of the newest version only.
//!
//! SunPKCS11's KeyStore lists secret keys by CKA_LABEL, but a private key only together with a
//! certificate of the same CKA_ID (alias = the certificate's label): so the RSA and EC families
//! are rotated with `--cert` (a self-signed certificate per version, demoted with it), the HMAC
//! family without. What Java signs (or MACs) with each alias must verify (through PKCS#11) under
//! the newest version, found by its kid, and not under the previous one.
//!
//! Needs a JDK (`javac`, `java`; `.ci/run` installs default-jdk-headless): without one the test
//! fails and says so.
mod common;
mod support;

use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use std::process::Command;
use support::{run, util, Env};

const TOKEN: &str = "java";
const JAVA_FLAGS: [&str; 2] = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

#[test]
fn sunpkcs11_alias_signs_with_the_newest_version() {
    for tool in ["javac", "java"] {
        assert!(
            support::have(tool),
            "this test needs a JDK ({tool} not found): apt-get install default-jdk-headless, as .ci/run does"
        );
    }
    let env = Env::new("log.level = ERROR\n");
    env.make_token(TOKEN);
    let classes = tempfile::tempdir().unwrap();
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/java/KeyRotationCheck.java"
    );
    let o = run({
        let mut c = Command::new("javac");
        c.arg("-J-XX:TieredStopAtLevel=1")
            .arg("-d")
            .arg(classes.path())
            .arg(src);
        c
    });
    assert!(o.ok(), "javac KeyRotationCheck.java:\n{o}");

    let f = env.fixture();
    let slot = support::slot_by_label(&f, TOKEN).unwrap();
    let s = f.user_session(slot);
    let cfg = env.path("p11.cfg");
    std::fs::write(
        &cfg,
        format!(
            "name = ferrohsm\nlibrary = {}\nslot = {}\n",
            module_path().display(),
            slot.id()
        ),
    )
    .unwrap();
    // (family, type, rotate flags, mechanism, class that verifies)
    let fams = [
        (
            "java-hmac",
            "hmac:32",
            None,
            Mechanism::Sha256Hmac,
            ObjectClass::SECRET_KEY,
        ),
        (
            "java-rsa",
            "rsa:2048",
            Some("--cert"),
            Mechanism::Sha256RsaPkcs,
            ObjectClass::PUBLIC_KEY,
        ),
        (
            "java-ec",
            "ec:P-256",
            Some("--cert"),
            Mechanism::EcdsaSha256,
            ObjectClass::PUBLIC_KEY,
        ),
    ];
    let msg = "signed by Java";
    for v in 1..=3u64 {
        for (fam, ty, flag, _, _) in &fams {
            let mut args = vec![
                "key", "rotate", fam, "--type", ty, "--token", TOKEN, "--pin", USER_PIN,
            ];
            args.extend(flag);
            let o = util(&env.conf, &args);
            assert!(o.ok(), "key rotate:\n{o}");
        }
        let o = run({
            let mut c = Command::new("java");
            c.args(JAVA_FLAGS)
                .arg("-cp")
                .arg(classes.path())
                .arg("KeyRotationCheck")
                .arg(&cfg)
                .args([USER_PIN, msg])
                .args(fams.iter().map(|f| f.0))
                .env("FERROHSM_CONF", &env.conf);
            c
        });
        assert!(o.ok(), "java KeyRotationCheck after rotation {v}:\n{o}");
        let line = |p: &str| {
            o.stdout
                .lines()
                .find_map(|l| l.strip_prefix(p))
                .unwrap_or_else(|| panic!("no {p:?} line:\n{o}"))
                .to_string()
        };
        // The KeyStore shows each family (its newest version) and the older versions by kid.
        let mut want: Vec<String> = Vec::new();
        for (fam, ..) in &fams {
            want.push(fam.to_string());
            want.extend((1..v).map(|i| format!("{fam}.v{i}")));
        }
        want.sort();
        assert_eq!(
            line("ALIASES "),
            want.join(","),
            "aliases after rotation {v}"
        );
        for (fam, _, _, mech, class) in &fams {
            let sig = hex(&line(&format!("SIG {fam} ")));
            let key_of = |i: u64| {
                let hs = s
                    .find_objects(&[
                        Attribute::Class(*class),
                        Attribute::Id(format!("{fam}.v{i}").into_bytes()),
                    ])
                    .unwrap();
                assert_eq!(hs.len(), 1);
                hs[0]
            };
            s.verify(mech, key_of(v), msg.as_bytes(), &sig)
                .unwrap_or_else(|e| {
                    panic!("Java's signature with alias {fam} must verify under version {v}: {e:?}")
                });
            if v > 1 {
                match s.verify(mech, key_of(v - 1), msg.as_bytes(), &sig) {
                    Err(cryptoki::error::Error::Pkcs11(RvError::SignatureInvalid, _)) => {}
                    other => panic!(
                        "Java's signature with alias {fam} after rotation {v} must not verify \
                         under version {}: {other:?}",
                        v - 1
                    ),
                }
            }
        }
    }
}
