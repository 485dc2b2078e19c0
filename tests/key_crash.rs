//! Crash safety of key rotation (issue 7): processes rotating key families — `ferrohsm-util key
//! rotate`, and a worker rotating through PKCS#11 alone in a loop — are killed with SIGKILL at
//! random instants. After every kill the token must hold, for each family, exactly one newest
//! version (exactly one object per class labelled with the family, and it is the highest
//! version), versions 1..=max each exactly once per class with all of their objects (public key,
//! private key and certificate, or secret key: no half rotation), older versions labelled by their kid and unable to sign, and every version a
//! process reported as made.
//!
//! Bounded: at most 150 kills and about 15 s of killing. `FERROHSM_TEST_SEED=<n>` replays the
//! random kill delays.
mod common;
mod support;

use common::*;
use cryptoki::context::Pkcs11;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki_sys::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const TOKEN: &str = "crash";
const CKA_FERROHSM_KEY_FAMILY: CK_ULONG = 0xC645_0001;
const CKA_FERROHSM_KEY_VERSION: CK_ULONG = 0xC645_0002;
const CKA_FERROHSM_KEY_CERT: CK_ULONG = 0xC645_0006;
/// (family, classes of each version)
const FAMILIES: [(&str, &[ObjectClass]); 2] = [
    (
        "crash-ec",
        &[
            ObjectClass::PUBLIC_KEY,
            ObjectClass::PRIVATE_KEY,
            ObjectClass::CERTIFICATE,
        ],
    ),
    ("crash-hmac", &[ObjectClass::SECRET_KEY]),
];

#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    if std::env::var("FERROHSM_TEST_WORKER").as_deref() != Ok("rotate_loop") {
        return;
    }
    let say = |l: String| {
        let mut o = std::io::stdout().lock();
        writeln!(o, "{l}").unwrap();
        o.flush().unwrap();
    };
    say(String::new());
    let p11 = Pkcs11::new(module_path()).expect("load module");
    p11.initialize(init_args()).expect("C_Initialize");
    let slot = slot_by_label(&p11, TOKEN).expect("token");
    let s = p11.open_rw_session(slot).expect("C_OpenSession");
    s.login(UserType::User, Some(&pin(USER_PIN)))
        .expect("C_Login");
    say("READY".into());
    // FERROHSM_TEST_N: that many rounds, then exit; else until killed.
    let n: u64 = std::env::var("FERROHSM_TEST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    for _ in 0..n {
        let (pk, _) = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::EcParams(P256_OID.to_vec()),
                    raw_attr(CKA_FERROHSM_KEY_FAMILY, b"crash-ec".to_vec()),
                ],
                &[
                    Attribute::Sign(true),
                    raw_attr(CKA_FERROHSM_KEY_CERT, vec![1]),
                ],
            )
            .expect("rotate crash-ec");
        let v = get_ulong(
            &s,
            pk,
            AttributeType::VendorDefined(CKA_FERROHSM_KEY_VERSION),
        );
        say(format!("OK crash-ec {v}"));
        let k = s
            .generate_key(
                &Mechanism::GenericSecretKeyGen,
                &[
                    Attribute::ValueLen(32.into()),
                    raw_attr(CKA_FERROHSM_KEY_FAMILY, b"crash-hmac".to_vec()),
                ],
            )
            .expect("rotate crash-hmac");
        let v = get_ulong(
            &s,
            k,
            AttributeType::VendorDefined(CKA_FERROHSM_KEY_VERSION),
        );
        say(format!("OK crash-hmac {v}"));
    }
}

/// Checks every family on the token; returns the highest version of each.
fn check_token(env: &Env, when: &str) -> BTreeMap<&'static str, u64> {
    let f = env.fixture();
    let slot = slot_by_label(&f, TOKEN).expect("the token must still be listed");
    let s = f.user_session(slot);
    let mut out = BTreeMap::new();
    for (fam, classes) in FAMILIES {
        let mut per_class: Vec<Vec<u64>> = Vec::new();
        for &c in classes {
            let hs = s
                .find_objects(&[
                    Attribute::Class(c),
                    raw_attr(CKA_FERROHSM_KEY_FAMILY, fam.as_bytes().to_vec()),
                ])
                .unwrap();
            let mut versions = Vec::new();
            let mut labelled = Vec::new();
            for h in hs {
                let v = get_ulong(
                    &s,
                    h,
                    AttributeType::VendorDefined(CKA_FERROHSM_KEY_VERSION),
                ) as u64;
                let label = String::from_utf8(get_label(&s, h)).unwrap();
                let id = String::from_utf8(get_bytes(&s, h, AttributeType::Id)).unwrap();
                let kid = format!("{fam}.v{v}");
                assert_eq!(id, kid, "{when}: {fam} {c:?} v{v}: CKA_ID");
                if label == fam {
                    labelled.push(v);
                } else {
                    assert_eq!(
                        label, kid,
                        "{when}: {fam} {c:?} v{v}: label of an older version"
                    );
                }
                versions.push(v);
            }
            versions.sort_unstable();
            let max = versions.last().copied().unwrap_or(0);
            if max > 0 {
                assert_eq!(
                    labelled,
                    vec![max],
                    "{when}: {fam} {c:?}: exactly one object labelled with the family, the newest \
                     (versions {versions:?})"
                );
            }
            assert_eq!(
                versions,
                (1..=max).collect::<Vec<_>>(),
                "{when}: {fam} {c:?}: versions must be 1..=max, each once"
            );
            if c == ObjectClass::PRIVATE_KEY || c == ObjectClass::SECRET_KEY {
                for v in 1..max {
                    let h = s
                        .find_objects(&[
                            Attribute::Class(c),
                            Attribute::Id(format!("{fam}.v{v}").into_bytes()),
                        ])
                        .unwrap();
                    assert!(
                        !get_bool(&s, h[0], AttributeType::Sign),
                        "{when}: {fam} v{v} (older) can still sign"
                    );
                }
            }
            per_class.push(versions);
        }
        assert!(
            per_class.windows(2).all(|w| w[0] == w[1]),
            "{when}: {fam}: a version lacks one of its objects (half rotation): {per_class:?}"
        );
        out.insert(fam, per_class[0].last().copied().unwrap_or(0));
    }
    out
}

fn cli_rotate_args(fam: &str) -> Vec<&str> {
    let mut a = vec!["key", "rotate", fam, "--token", TOKEN, "--pin", USER_PIN];
    if fam == "crash-ec" {
        a.extend(["--type", "ec:P-256", "--cert"]);
    } else {
        a.extend(["--type", "hmac:32"]);
    }
    a
}

#[test]
fn kill9_during_rotation_leaves_exactly_one_newest_version() {
    let env = Env::new("pin.max_attempts = 1000\nlog.level = ERROR\n");
    env.make_token(TOKEN);
    let mut rng = Rng::from_env("kill9_during_rotation");
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut kills, mut cli_runs, mut worker_runs, mut finished) = (0u32, 0u32, 0u32, 0u32);
    let mut reported: BTreeMap<String, u64> = BTreeMap::new();
    // How long a whole CLI rotation takes here (process start, login, key generation, the
    // transaction): the CLI kills land anywhere in that span. Measured once per family, which
    // also makes version 1 of each.
    let mut cli_span = Duration::ZERO;
    for (fam, _) in FAMILIES {
        let t = Instant::now();
        let o = util(&env.conf, &cli_rotate_args(fam));
        assert!(o.ok(), "{o}");
        cli_span = cli_span.max(t.elapsed());
        reported.insert(fam.to_string(), 1);
    }
    let cli_ms = cli_span.as_millis() as u64 + 5;
    let mut last = BTreeMap::new();
    while kills < 150 && Instant::now() < deadline {
        let mut w = if kills % 2 == 0 {
            // The CLI: a whole process per rotation, killed at a random point of its life.
            cli_runs += 1;
            let fam = FAMILIES[(kills / 2 % 2) as usize].0;
            let mut c = Command::new(util_path());
            c.args(cli_rotate_args(fam)).env("FERROHSM_CONF", &env.conf);
            let w = Running::spawn(c);
            std::thread::sleep(Duration::from_millis(rng.range(0, cli_ms)));
            w
        } else {
            // A PKCS#11 program rotating in a loop (a few ms per rotation once warm), killed
            // at a random point after its first rotation.
            worker_runs += 1;
            let mut c = worker_cmd("rotate_loop", &env.conf);
            c.env("FERROHSM_TEST_TOKEN", TOKEN);
            let mut w = Running::spawn(c);
            let first = w.wait_line(|l| l.starts_with("OK "), Duration::from_secs(30));
            assert!(first.is_some(), "worker\n{}", w.describe());
            std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
            w
        };
        if w.child.try_wait().unwrap().is_some() {
            finished += 1;
        }
        w.kill9();
        kills += 1;
        // What the process said it made: "OK fam v" (worker) or "Key family fam: version v" (CLI).
        for l in &w.lines {
            let made = l
                .strip_prefix("OK ")
                .and_then(|r| r.split_once(' '))
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .or_else(|| {
                    let r = l.strip_prefix("Key family ")?;
                    let (f, r) = r.split_once(": version ")?;
                    Some((f.to_string(), r.split_whitespace().next()?.to_string()))
                });
            if let Some((f, v)) = made {
                let v: u64 = v.parse().unwrap();
                let e = reported.entry(f).or_default();
                *e = (*e).max(v);
            }
        }
        let now = check_token(&env, &format!("after kill {kills}"));
        for (fam, v) in &now {
            let r = reported.get(*fam).copied().unwrap_or(0);
            assert!(
                *v >= r,
                "after kill {kills}: {fam} has {v} versions but version {r} was reported made"
            );
            let before = last.get(fam).copied().unwrap_or(0);
            assert!(
                *v >= before,
                "after kill {kills}: {fam} lost versions ({before} -> {v})"
            );
        }
        last = now;
    }
    eprintln!(
        "kill9_during_rotation: {kills} kills ({cli_runs} CLI processes killed within {cli_ms} ms, \
         {worker_runs} PKCS#11 workers, {finished} finished before the kill); versions made: {last:?}"
    );
    assert!(kills >= 20, "too few kills to mean anything: {kills}");
    assert!(
        last.values().all(|&v| v >= 10),
        "too few rotations happened to mean anything: {last:?}"
    );
    // SQLite's own check of the file (PostgreSQL has no equivalent to run).
    if !on_postgres() {
        let db = env.only_db();
        assert_eq!(integrity_check(&db), "ok", "PRAGMA integrity_check");
    }
}

#[test]
fn concurrent_rotations_in_two_processes_never_collide() {
    const N: u64 = 25;
    let env = Env::new("log.level = ERROR\n");
    env.make_token(TOKEN);
    let mut ws: Vec<Running> = (0..2)
        .map(|_| {
            let mut c = worker_cmd("rotate_loop", &env.conf);
            c.env("FERROHSM_TEST_TOKEN", TOKEN)
                .env("FERROHSM_TEST_N", N.to_string());
            Running::spawn(c)
        })
        .collect();
    for w in &mut ws {
        let st = w
            .wait_timeout(Duration::from_secs(120))
            .unwrap_or_else(|| panic!("worker hung\n{}", w.describe()));
        assert!(st.success(), "worker failed\n{}", w.describe());
        assert_eq!(w.tagged("OK").len() as u64, 2 * N, "{}", w.describe());
    }
    // Every rotation of either process made its own version: none lost, none doubled.
    let v = check_token(&env, "after two concurrent rotators");
    assert_eq!(v["crash-ec"], 2 * N);
    assert_eq!(v["crash-hmac"], 2 * N);
    let mut seen: Vec<u64> = ws
        .iter()
        .flat_map(|w| w.tagged("OK"))
        .filter_map(|l| l.strip_prefix("crash-ec ").map(|v| v.parse().unwrap()))
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=2 * N).collect::<Vec<_>>(),
        "versions reported by the two processes"
    );
}
