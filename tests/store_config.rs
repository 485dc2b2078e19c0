//! Configuration discovery and errors, observed from a child process that calls C_Initialize
//! (the `init` worker): its return value, its stderr (or log.file), and the directories created.
mod common;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use support::*;

#[test]
#[ignore = "worker process entry point, run by the other tests"]
fn worker() {
    support::worker_main();
}

/// Runs the init worker with `conf` as FERROHSM_CONF (None: unset) and extra environment.
fn init(conf: Option<&Path>, env: &[(&str, &Path)], mktoken: Option<&str>) -> Running {
    let mut c = worker_cmd("init", Path::new("/dev/null"));
    c.env_remove("FERROHSM_CONF").env_remove("XDG_DATA_HOME");
    if let Some(p) = conf {
        c.env("FERROHSM_CONF", p);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    if let Some(l) = mktoken {
        c.env("FERROHSM_TEST_MKTOKEN", l);
    }
    let mut r = Running::spawn(c);
    let st = r
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("init worker hung\n{}", r.describe()));
    assert!(st.success(), "init worker crashed: {st}\n{}", r.describe());
    r
}

fn init_result(r: &Running) -> String {
    r.tagged("INIT").first().cloned().unwrap_or_default()
}

#[track_caller]
fn assert_init_ok(r: &Running) {
    assert_eq!(init_result(r), "OK", "C_Initialize\n{}", r.describe());
}

/// C_Initialize failed (any error) and stderr says something containing each of `words`.
#[track_caller]
fn assert_init_fails_saying(r: &Running, words: &[&str]) {
    let rv = init_result(r);
    assert!(
        !rv.is_empty() && rv != "OK",
        "C_Initialize must fail\n{}",
        r.describe()
    );
    let e = r.stderr();
    for w in words {
        assert!(
            e.contains(w),
            "stderr must mention {w:?}; C_Initialize returned {rv}; stderr:\n{e}"
        );
    }
}

fn write(p: &Path, text: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

#[test]
fn missing_conf_file_fails_and_says_what_to_fix() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("no/such/ferrohsm.conf");
    let r = init(Some(&missing), &[], None);
    assert_init_fails_saying(&r, &[&missing.display().to_string(), "FERROHSM_CONF"]);
    assert_eq!(init_result(&r), "GeneralError", "{}", r.describe());
}

#[test]
fn unknown_keys_warn_but_work() {
    let env = Env::new("log.level = WARNING\nfoo.bar = 1\n");
    let r = init(Some(&env.conf), &[], Some("t"));
    assert_init_ok(&r);
    assert_eq!(r.tagged("MKTOKEN"), vec!["OK"], "{}", r.describe());
    let e = r.stderr();
    assert!(
        e.contains("foo.bar"),
        "a warning must name the unknown key; stderr:\n{e}"
    );
}

/// With no log.level, a misspelt key still warns: otherwise `directories.tokendri = ...` silently
/// puts tokens in the default place. (With an explicit `log.level = ERROR` the warning is not
/// shown; that is the level asked for.)
#[test]
fn unknown_keys_warn_at_the_default_log_level() {
    {
        let level = "";
        let env = Env::new(&format!("{level}directories.tokendri = /tmp/typo\n"));
        let r = init(Some(&env.conf), &[], None);
        assert_init_ok(&r);
        let e = r.stderr();
        assert!(
            e.contains("directories.tokendri"),
            "config with {:?}: the misspelt key is ignored without a word on stderr:\n{e}",
            level.trim()
        );
    }
}

#[test]
fn bad_values_fail_with_a_message_naming_the_key() {
    for (line, key) in [
        ("pin.max_attempts = zero", "pin.max_attempts"),
        ("pin.max_attempts = 0", "pin.max_attempts"),
        ("kdf.argon2.memory_kib = 1", "kdf.argon2.memory_kib"),
        ("kdf.argon2.iterations = many", "kdf.argon2.iterations"),
        ("objectstore.umask = 0999", "objectstore.umask"),
        ("objectstore.backend = sql", "objectstore.backend"),
        ("log.level = LOUD", "log.level"),
        ("slots.removable = maybe", "slots.removable"),
        ("directories.tokendir =", "directories.tokendir"),
        (
            "this line has no equals sign",
            "this line has no equals sign",
        ),
    ] {
        let env = Env::new(&format!("{line}\n"));
        let r = init(Some(&env.conf), &[], None);
        assert_init_fails_saying(&r, &[key]);
        // and where: the file
        assert!(
            r.stderr().contains(&env.conf.display().to_string()),
            "{line}: the message should name the file\n{}",
            r.stderr()
        );
    }
}

#[test]
fn unusable_token_directory_fails_with_a_message() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("regular-file");
    std::fs::write(&file, b"x").unwrap();
    // A path under a regular file cannot be created, even by root.
    let under = file.join("tokens");
    for (dir, what) in [(&under, "under a regular file"), (&file, "a regular file")] {
        let conf = d.path().join("c.conf");
        write(
            &conf,
            &format!("directories.tokendir = {}\n", dir.display()),
        );
        let r = init(Some(&conf), &[], None);
        assert_init_fails_saying(&r, &[&dir.display().to_string()]);
        let e = r.stderr();
        assert!(
            e.contains("directories.tokendir"),
            "token dir {what}: the message should say which setting to fix:\n{e}"
        );
    }
}

#[test]
fn config_errors_go_to_log_file_when_one_is_set() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("regular-file");
    std::fs::write(&file, b"x").unwrap();
    let log = d.path().join("ferrohsm.log");
    let conf = d.path().join("c.conf");
    write(
        &conf,
        &format!(
            "directories.tokendir = {}/tokens\nlog.file = {}\n",
            file.display(),
            log.display()
        ),
    );
    let r = init(Some(&conf), &[], None);
    let rv = init_result(&r);
    assert!(rv != "OK" && !rv.is_empty(), "{}", r.describe());
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let said = format!("{logged}{}", r.stderr());
    assert!(
        said.contains("directories.tokendir"),
        "neither log.file nor stderr says what to fix:\nlog:\n{logged}\nstderr:\n{}",
        r.stderr()
    );
}

#[test]
fn no_config_at_all_uses_home_local_share() {
    let home = tempfile::tempdir().unwrap();
    let r = init(None, &[("HOME", home.path())], Some("default-place"));
    assert_init_ok(&r);
    assert_eq!(r.tagged("MKTOKEN"), vec!["OK"], "{}", r.describe());
    assert_eq!(r.tagged("CREATE"), vec!["OK"], "{}", r.describe());
    let dir = home.path().join(".local/share/ferrohsm/tokens");
    assert!(dir.is_dir(), "{} must be created", dir.display());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "mode of {}", dir.display());
    let toks: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(toks.len(), 1, "one token dir expected in {}", dir.display());
    assert!(toks[0].path().join("token.db").is_file());
    // the same token is found again by a new process
    let r = init(None, &[("HOME", home.path())], None);
    assert_eq!(r.tagged("SLOTS"), vec!["2"], "{}", r.describe());
}

#[test]
fn xdg_data_home_is_honored() {
    let home = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    let r = init(
        None,
        &[("HOME", home.path()), ("XDG_DATA_HOME", xdg.path())],
        Some("xdg"),
    );
    assert_init_ok(&r);
    assert_eq!(r.tagged("MKTOKEN"), vec!["OK"], "{}", r.describe());
    let dir = xdg.path().join("ferrohsm/tokens");
    assert!(dir.is_dir(), "{} must be used", dir.display());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    assert!(
        !home.path().join(".local/share/ferrohsm").exists(),
        "$HOME/.local/share must not be used when XDG_DATA_HOME is set"
    );
}

#[test]
fn user_config_file_is_found() {
    let home = tempfile::tempdir().unwrap();
    let tokens = home.path().join("elsewhere/tokens");
    write(
        &home.path().join(".config/ferrohsm/ferrohsm.conf"),
        &format!(
            "directories.tokendir = {}\nkdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\n",
            tokens.display()
        ),
    );
    let r = init(None, &[("HOME", home.path())], Some("user-conf"));
    assert_init_ok(&r);
    assert_eq!(r.tagged("MKTOKEN"), vec!["OK"], "{}", r.describe());
    assert!(
        tokens.is_dir(),
        "the token dir of ~/.config/ferrohsm/ferrohsm.conf must be used"
    );
    assert_eq!(std::fs::read_dir(&tokens).unwrap().count(), 1);
    assert!(!home.path().join(".local/share/ferrohsm").exists());
    // FERROHSM_CONF wins over the user file
    let env = Env::new("");
    let r = init(Some(&env.conf), &[("HOME", home.path())], Some("explicit"));
    assert_init_ok(&r);
    assert_eq!(env.serials().len(), 1);
    assert_eq!(std::fs::read_dir(&tokens).unwrap().count(), 1);
}

#[test]
fn softhsm2_conf_works() {
    let d = tempfile::tempdir().unwrap();
    let tokens = d.path().join("softhsm-tokens");
    let conf = d.path().join("softhsm2.conf");
    write(
        &conf,
        &format!(
            "# SoftHSM v2 configuration file\n\n\
             directories.tokendir = {}\n\
             objectstore.backend = file\n\n\
             # ERROR, WARNING, INFO, DEBUG\n\
             log.level = ERROR\n\n\
             # If CKF_REMOVABLE_DEVICE flag should be set\n\
             slots.removable = false\n\n\
             # Enable and disable PKCS#11 mechanisms using slots.mechanisms.\n\
             slots.mechanisms = ALL\n\n\
             # If the library should reset the state on fork\n\
             library.reset_on_fork = false\n",
            tokens.display()
        ),
    );
    std::fs::create_dir(&tokens).unwrap();
    let r = init(Some(&conf), &[], Some("from-softhsm-conf"));
    assert_init_ok(&r);
    assert_eq!(r.tagged("MKTOKEN"), vec!["OK"], "{}", r.describe());
    assert_eq!(r.tagged("CREATE"), vec!["OK"], "{}", r.describe());
    assert_eq!(std::fs::read_dir(&tokens).unwrap().count(), 1);
    assert!(
        r.stderr().trim().is_empty(),
        "no complaints expected:\n{}",
        r.stderr()
    );
    // slots.removable = true and log.level = DEBUG are accepted too
    let conf2 = d.path().join("softhsm2-b.conf");
    write(
        &conf2,
        &format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = DEBUG\nslots.removable = true\n",
            tokens.display()
        ),
    );
    let r = init(Some(&conf2), &[], None);
    assert_init_ok(&r);
    assert_eq!(r.tagged("SLOTS"), vec!["2"], "{}", r.describe());
}
