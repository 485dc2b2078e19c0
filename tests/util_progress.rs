//! Progress of long work in ferrohsm-util (issue 15): a spinner on a terminal, nothing extra in
//! a pipe.
mod common;
mod support;

use std::process::{Command, Stdio};
use support::*;

const SO: &str = "12345678";
const PIN: &str = "1234";

fn env_with_token() -> Env {
    let env = Env::new("log.level = ERROR\n");
    let o = util(
        &env.conf,
        &[
            "--init-token",
            "--free",
            "--label",
            "progress",
            "--so-pin",
            SO,
            "--pin",
            PIN,
        ],
    );
    assert!(o.ok(), "init-token: {o}");
    env
}

/// In a pipe, key generation and an import write exactly what they wrote before progress
/// existed: their result lines on stdout, nothing on stderr.
#[test]
fn pipe_output_is_unchanged() {
    let env = env_with_token();
    let o = util(
        &env.conf,
        &[
            "key", "rotate", "fam", "--type", "ec:P-256", "--token", "progress", "--pin", PIN,
        ],
    );
    assert!(o.ok(), "{o}");
    let line = o.stdout.strip_suffix('\n').unwrap_or_default();
    assert!(
        line.starts_with("Key family fam: version 1 (")
            && line.ends_with(") is the newest.")
            && !line.contains('\n'),
        "{o}"
    );
    assert_eq!(o.stderr, "", "{o}");

    let pem = env.path("k.pem");
    let g = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&pem)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(g.success());
    let o = util(
        &env.conf,
        &[
            "--import",
            &pem.display().to_string(),
            "--token",
            "progress",
            "--pin",
            PIN,
            "--label",
            "k",
            "--id",
            "01",
        ],
    );
    assert!(o.ok(), "{o}");
    let want = regex::Regex::new(
        r"\AFound slot \d+ with matching token label\.\nThe key pair has been imported\.\n\z",
    )
    .unwrap();
    assert!(want.is_match(&o.stdout), "{o}");
    assert_eq!(o.stderr, "", "{o}");
}

/// On a terminal (a pty from `script`), RSA-4096 generation shows a spinner with what it does.
#[test]
fn terminal_shows_a_spinner() {
    if !have("script") {
        eprintln!("SKIP: `script` (util-linux) is not installed: no pty to run the tool on");
        return;
    }
    let env = env_with_token();
    let cmd = format!(
        "'{}' key rotate big --type rsa:4096 --token progress --pin {PIN}",
        util_path().display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("FERROHSM_CONF", &env.conf)
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("Generating a rsa:4096 key for big"),
        "no spinner on the terminal:\n{out:?}"
    );
    assert!(out.contains("Key family big: version 1 ("), "{out:?}");
}
