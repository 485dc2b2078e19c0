//! `ferrohsm-util doctor` (issue 15): each check finds what it is there to find, says what to
//! fix, and the exit status is 1 exactly when a check failed.
mod common;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::*;

const SO: &str = "12345678";
const PIN: &str = "1234";

fn init_token(env: &Env, label: &str) {
    let o = util(
        &env.conf,
        &[
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO,
            "--pin",
            PIN,
        ],
    );
    assert!(o.ok(), "init-token: {o}");
}

fn doctor(env: &Env, args: &[&str]) -> Out {
    let mut a = vec!["doctor"];
    a.extend_from_slice(args);
    util(&env.conf, &a)
}

/// The lines of the report at `level` (`ok`, `info`, `warn`, `FAIL`) about `check`.
fn lines<'a>(o: &'a Out, level: &str, check: &str) -> Vec<&'a str> {
    o.stdout
        .lines()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(tag, rest)| tag == level && rest.trim_start().starts_with(check))
        })
        .collect()
}

fn has(o: &Out, level: &str, check: &str, text: &str) -> bool {
    lines(o, level, check).iter().any(|l| l.contains(text))
}

#[test]
fn healthy_token_is_all_ok() {
    let env = Env::new("log.level = ERROR\n");
    init_token(&env, "healthy");
    let o = doctor(&env, &[]);
    assert_eq!(o.code, Some(0), "{o}");
    assert!(
        has(&o, "ok", "config:", &env.conf.display().to_string()),
        "{o}"
    );
    assert!(has(&o, "ok", "config:", "FERROHSM_CONF"), "{o}");
    assert!(has(&o, "ok", "token directory:", "0700"), "{o}");
    assert!(
        has(&o, "ok", "token \"healthy\"", "no failed logins"),
        "{o}"
    );
    assert!(has(&o, "ok", "module:", "library version"), "{o}");
    assert!(
        !o.stdout
            .lines()
            .any(|l| l.starts_with("warn") || l.starts_with("FAIL")),
        "{o}"
    );
    assert!(
        o.stdout.lines().last() == Some("0 failed, 0 warnings"),
        "{o}"
    );
}

#[test]
fn open_token_directory_warns_with_chmod() {
    let env = Env::new("log.level = ERROR\n");
    init_token(&env, "open");
    std::fs::set_permissions(&env.tokendir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = doctor(&env, &[]);
    assert_eq!(o.code, Some(0), "a warning is not a failure: {o}");
    let want = format!("chmod 700 {}", env.tokendir.display());
    assert!(has(&o, "warn", "token directory:", "0755"), "{o}");
    assert!(has(&o, "warn", "token directory:", &want), "{o}");
    assert!(lines(&o, "ok", "token directory:").is_empty(), "{o}");
}

#[test]
fn wrong_pins_then_locked_user_pin_are_reported() {
    let env = Env::new("log.level = ERROR\npin.max_attempts = 3\n");
    init_token(&env, "locked");
    let wrong = || {
        let o = util(
            &env.conf,
            &[
                "list-objects",
                "--token",
                "locked",
                "--login",
                "--pin",
                "99999999",
            ],
        );
        assert_eq!(o.code, Some(1), "{o}");
    };
    wrong();
    let o = doctor(&env, &[]);
    assert_eq!(o.code, Some(0), "{o}");
    assert!(
        has(
            &o,
            "warn",
            "token \"locked\"",
            "1 wrong user PIN in a row (locks at 3)"
        ),
        "{o}"
    );
    wrong();
    wrong();
    let o = doctor(&env, &[]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(
        has(&o, "FAIL", "token \"locked\"", "user PIN locked"),
        "{o}"
    );
    assert!(has(&o, "FAIL", "token \"locked\"", "--init-pin"), "{o}");
    // The fix names the module this doctor loads.
    let fix = format!("pkcs11-tool --module {} ", common::module_path().display());
    assert!(has(&o, "FAIL", "token \"locked\"", &fix), "{o}");
}

/// A fake SoftHSM 2 token (file store) and, when softhsm2-util is installed, a real one.
#[test]
fn softhsm_token_directory_suggests_migration() {
    let env = Env::new("");
    let soft = env.path("softhsm-tokens");
    std::fs::create_dir(&soft).unwrap();
    let fake = soft.join("a2c5d3b1-0f7e-4d7e-9b1c-1234567890ab");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(fake.join("token.object"), b"not really").unwrap();
    let conf = env.path("doctor.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nlog.level = ERROR\n",
            soft.display()
        ),
    )
    .unwrap();
    let want = format!(
        "ferrohsm-util migrate softhsm --tokendir {}",
        soft.display()
    );
    let o = util(&conf, &["doctor"]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(has(&o, "FAIL", "tokens:", "1 SoftHSM 2 token"), "{o}");
    assert!(has(&o, "FAIL", "tokens:", &want), "{o}");

    if !have("softhsm2-util") {
        eprintln!("softhsm2-util is not installed: only the made-up SoftHSM token was checked");
        return;
    }
    std::fs::remove_dir_all(&fake).unwrap();
    let sconf = env.path("softhsm2.conf");
    std::fs::write(
        &sconf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            soft.display()
        ),
    )
    .unwrap();
    let s = softhsm_util(
        &sconf,
        &[
            "--init-token",
            "--free",
            "--label",
            "soft",
            "--so-pin",
            SO,
            "--pin",
            PIN,
        ],
    );
    assert!(s.ok(), "softhsm2-util --init-token: {s}");
    let o = util(&conf, &["doctor"]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(has(&o, "FAIL", "tokens:", "1 SoftHSM 2 token"), "{o}");
    assert!(has(&o, "FAIL", "tokens:", &want), "{o}");
}

#[test]
fn missing_or_foreign_module_fails() {
    let env = Env::new("log.level = ERROR\n");
    init_token(&env, "module");
    let missing = env.path("no/such/libferrohsm.so");
    let o = doctor(&env, &["--module", &missing.display().to_string()]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(has(&o, "FAIL", "module:", "does not exist"), "{o}");

    let text = env.path("text.so");
    std::fs::write(&text, b"not a shared library\n").unwrap();
    let o = doctor(&env, &["--module", &text.display().to_string()]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(has(&o, "FAIL", "module:", "does not load"), "{o}");

    // A real shared library, but not a PKCS#11 module.
    let o = doctor(&env, &["--module", "libc.so.6"]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(has(&o, "FAIL", "module:", "is not a PKCS#11 module"), "{o}");

    // A bare name of a file in the current directory is that file (dlopen alone would not look
    // there).
    let dir = common::module_path().parent().unwrap().to_path_buf();
    let mut c = std::process::Command::new(util_path());
    c.args(["doctor", "--module", "libferrohsm.so"])
        .current_dir(&dir)
        .env("FERROHSM_CONF", &env.conf);
    let o = run(c);
    assert_eq!(o.code, Some(0), "{o}");
    assert!(
        has(&o, "ok", "module:", "./libferrohsm.so (--module) loads"),
        "{o}"
    );

    // The right one, named explicitly.
    let o = doctor(
        &env,
        &["--module", &common::module_path().display().to_string()],
    );
    assert_eq!(o.code, Some(0), "{o}");
    assert!(has(&o, "ok", "module:", "(--module) loads"), "{o}");
}

#[test]
fn bad_configuration_is_reported_line_by_line() {
    // An unknown key: a warning, the module still starts.
    let env = Env::new("log.level = ERROR\nfoo.bar = 1\n");
    let o = doctor(&env, &[]);
    assert_eq!(o.code, Some(0), "{o}");
    assert!(has(&o, "warn", "config:", "unknown key `foo.bar`"), "{o}");

    // Bad values: each one named, and the module refuses to start.
    let env = Env::new("log.level = LOUD\npin.max_attempts = zero\n");
    let o = doctor(&env, &[]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(has(&o, "FAIL", "config:", "log.level = LOUD"), "{o}");
    assert!(has(&o, "FAIL", "config:", "pin.max_attempts = zero"), "{o}");
    assert!(has(&o, "FAIL", "module:", "C_Initialize returned"), "{o}");

    // A configuration file that is not there.
    let mut o = util_env(
        Path::new("/nonexistent/ferrohsm.conf"),
        &["doctor"],
        &[("HOME", &env.dir.path().display().to_string())],
    );
    o.stderr.clear();
    assert_eq!(o.code, Some(1), "{o}");
    assert!(has(&o, "FAIL", "config:", "cannot read"), "{o}");
}

/// A token written by another version (its schema version is not this one's), and a token
/// directory without its database.
#[test]
fn unreadable_tokens_are_named() {
    let env = Env::new("log.level = ERROR\n");
    init_token(&env, "future");
    let db = env.only_db();
    let serial = env.serials().remove(0);
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("UPDATE meta SET v = 99 WHERE k = 'schema'", [])
            .unwrap();
    }
    std::fs::create_dir(env.tokendir.join("00000000deadbeef")).unwrap();
    // A token whose database is not one.
    let junk = env.tokendir.join("0000000000000001");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("token.db"), vec![0x5a; 4096]).unwrap();
    let o = doctor(&env, &[]);
    assert_eq!(o.code, Some(1), "{o}");
    let check = format!("token {serial}:");
    assert!(has(&o, "FAIL", &check, "schema version"), "{o}");
    assert!(
        has(&o, "FAIL", &check, "another version of ferrohsm"),
        "{o}"
    );
    assert!(
        has(&o, "warn", "tokens:", "00000000deadbeef has no token.db"),
        "{o}"
    );
    let junk = "token 0000000000000001:";
    assert!(has(&o, "FAIL", junk, "cannot be opened"), "{o}");
    assert!(
        has(&o, "FAIL", junk, "delete-token --serial 0000000000000001"),
        "{o}"
    );
}

/// Without FERROHSM_CONF, the doctor names the file the module reads (`show-config` shows what
/// `Config::discover` found): the user's own.
#[test]
fn user_file_is_the_one_the_module_reads() {
    let env = Env::new("log.level = ERROR\n");
    let home = env.path("home");
    std::fs::create_dir_all(home.join(".config/ferrohsm")).unwrap();
    let user = home.join(".config/ferrohsm/ferrohsm.conf");
    std::fs::copy(&env.conf, &user).unwrap();
    let run_util = |args: &[&str]| {
        let mut c = std::process::Command::new(util_path());
        c.args(args)
            .env_remove("FERROHSM_CONF")
            .env("HOME", &home)
            .env("FERROHSM_MODULE", common::module_path());
        run(c)
    };
    let shown = run_util(&["show-config"]);
    assert!(shown.ok(), "{shown}");
    assert!(
        shown
            .stdout
            .contains(&format!("config file:      {}\n", user.display())),
        "{shown}"
    );
    let o = run_util(&["doctor"]);
    assert_eq!(o.code, Some(0), "{o}");
    let want = format!("{} (the user's file)", user.display());
    assert!(has(&o, "ok", "config:", &want), "{o}");
}
