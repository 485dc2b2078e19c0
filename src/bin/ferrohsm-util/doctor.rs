//! `ferrohsm-util doctor`: checks what usually goes wrong, one line per check (`ok`, `info`,
//! `warn` or `FAIL`, what was found, and what to do about it), exit status 1 when a check failed.
//!
//! The checks: which configuration file is read and what is wrong in it; the token directory
//! (there, a directory, 0700, the user's own, writable); SoftHSM 2 tokens in it by mistake; each
//! token opened through the store as the module opens it (another version's format, damage) and
//! its PINs (locked, not set, failures so far); the module loaded as an application loads it
//! (`dlopen`, `C_GetFunctionList`, `C_Initialize`, `C_GetInfo`, `C_GetSlotList`, `C_Finalize`);
//! its registration with p11-kit.

use clap::Args;
use cryptoki_sys::*;
use ferrohsm::config::{Config, SYSTEM_CONF};
use ferrohsm::store::postgres::PgBackend;
use ferrohsm::store::sqlite::SqliteBackend;
use ferrohsm::store::{Backend, TokenMeta};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The PKCS#11 module to load (default: $FERROHSM_MODULE, else the libferrohsm.so beside
    /// this program, else /usr/lib/x86_64-linux-gnu/pkcs11/libferrohsm.so, else
    /// target/release/libferrohsm.so)
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
}

/// The installed module (the Debian package's path).
const SYSTEM_MODULE: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/libferrohsm.so";
/// The p11-kit registration the Debian package installs.
const P11KIT_MODULE: &str = "/usr/share/p11-kit/modules/ferrohsm.module";
const P11KIT_MODULE_DIR: &str = "/usr/lib/x86_64-linux-gnu/pkcs11";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Info,
    Warn,
    Fail,
}

#[derive(Default)]
struct Report {
    warnings: usize,
    failures: usize,
}

impl Report {
    /// One line: the level, the check, what was found, and what to do (if anything).
    fn say(&mut self, level: Level, check: &str, msg: impl AsRef<str>, fix: Option<String>) {
        let tag = match level {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warn => {
                self.warnings += 1;
                "warn"
            }
            Level::Fail => {
                self.failures += 1;
                "FAIL"
            }
        };
        match fix {
            Some(f) => println!("{tag:<4}  {check}: {}; fix: {f}", msg.as_ref()),
            None => println!("{tag:<4}  {check}: {}", msg.as_ref()),
        }
    }
    fn ok(&mut self, check: &str, msg: impl AsRef<str>) {
        self.say(Level::Ok, check, msg, None)
    }
    fn info(&mut self, check: &str, msg: impl AsRef<str>, fix: Option<String>) {
        self.say(Level::Info, check, msg, fix)
    }
    fn warn(&mut self, check: &str, msg: impl AsRef<str>, fix: impl Into<String>) {
        self.say(Level::Warn, check, msg, Some(fix.into()))
    }
    fn fail(&mut self, check: &str, msg: impl AsRef<str>, fix: impl Into<String>) {
        self.say(Level::Fail, check, msg, Some(fix.into()))
    }
}

pub fn run(args: DoctorArgs) -> ExitCode {
    let mut r = Report::default();
    let config = check_config(&mut r);
    // The module the fixes name (pkcs11-tool --module ...).
    let module = module_choice(args.module.as_deref())
        .map(|(p, _)| p.display().to_string())
        .unwrap_or_else(|_| "libferrohsm.so".into());
    if check_token_dir(&mut r, &config.token_dir) {
        check_tokens(&mut r, &config, &module);
    }
    check_module(&mut r, args.module.as_deref());
    check_p11kit(&mut r);
    println!(
        "{} failed, {} warning{}",
        r.failures,
        r.warnings,
        if r.warnings == 1 { "" } else { "s" }
    );
    if r.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

// ---- configuration ------------------------------------------------------------------------------

/// The file `Config::discover` reads, and how it was found; `None`: the built-in defaults.
fn config_file() -> Option<(PathBuf, &'static str)> {
    if let Some(p) = std::env::var_os("FERROHSM_CONF").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), "named by FERROHSM_CONF"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let p = PathBuf::from(h).join(".config/ferrohsm/ferrohsm.conf");
        if p.exists() {
            return Some((p, "the user's file"));
        }
    }
    let p = Path::new(SYSTEM_CONF);
    p.exists().then(|| (p.to_path_buf(), "the system's file"))
}

/// Reports the configuration file and every problem in it (not only the first, as the module
/// does), and returns the configuration made of its good lines, for the other checks.
fn check_config(r: &mut Report) -> Config {
    let Some((path, how)) = config_file() else {
        r.info(
            "config",
            format!(
                "no configuration file (FERROHSM_CONF unset, no ~/.config/ferrohsm/ferrohsm.conf, \
                 no {SYSTEM_CONF}); built-in defaults"
            ),
            None,
        );
        return Config::default();
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            r.fail(
                "config",
                format!("cannot read {} ({how}): {e}", path.display()),
                "fix the path or its permissions, or unset FERROHSM_CONF",
            );
            return Config::default();
        }
    };
    // Each line alone, at its own line number, so every bad line is named.
    let mut good = String::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let alone = format!("{}{line}\n", "\n".repeat(n));
        match Config::parse_lines(&alone, Some(&path)) {
            Ok(c) => {
                warnings.extend(c.warnings);
                good.push_str(line);
            }
            Err(e) => errors.push(e),
        }
        good.push('\n');
    }
    if errors.is_empty() && warnings.is_empty() {
        r.ok("config", format!("{} ({how})", path.display()));
    } else {
        r.info("config", format!("{} ({how})", path.display()), None);
    }
    for w in &warnings {
        r.warn(
            "config",
            w,
            "remove the line or correct the key's name (ferrohsm.conf(5) lists the keys)",
        );
    }
    for e in &errors {
        let m = match e {
            ferrohsm::Error::Config(m) => m.clone(),
            other => other.to_string(),
        };
        r.fail(
            "config",
            format!("{m} (the module refuses to start)"),
            "correct the value (ferrohsm.conf(5) lists what each key takes)",
        );
    }
    let config = Config::parse_lines(&good, Some(&path)).unwrap_or_default();
    if let Err(ferrohsm::Error::Config(m)) = config.check_whole() {
        r.fail(
            "config",
            format!("{m} (the module refuses to start)"),
            "add the missing key (ferrohsm.conf(5) lists the keys)",
        );
    }
    config
}

// ---- token directory ------------------------------------------------------------------------------

/// Checks the token directory; true when it is there to look into.
fn check_token_dir(r: &mut Report, dir: &Path) -> bool {
    let check = "token directory";
    let md = match std::fs::symlink_metadata(dir).and_then(|_| std::fs::metadata(dir)) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = dir
                .ancestors()
                .skip(1)
                .find(|p| !p.as_os_str().is_empty() && p.exists());
            match parent {
                Some(p) if !writable(p) => r.fail(
                    check,
                    format!(
                        "{} does not exist and cannot be made ({} is not writable)",
                        dir.display(),
                        p.display()
                    ),
                    "set directories.tokendir to a directory you can write",
                ),
                _ => r.info(
                    check,
                    format!(
                        "{} does not exist yet: it is made (0700) when the module first starts",
                        dir.display()
                    ),
                    None,
                ),
            }
            return false;
        }
        Err(e) => {
            r.fail(
                check,
                format!("{}: {e}", dir.display()),
                "set directories.tokendir to a directory you can read and write",
            );
            return false;
        }
    };
    if !md.is_dir() {
        r.fail(
            check,
            format!("{} is not a directory", dir.display()),
            "set directories.tokendir to a directory",
        );
        return false;
    }
    let mut clean = true;
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        clean = false;
        r.warn(
            check,
            format!(
                "{} has mode {mode:04o}: group or others can {}",
                dir.display(),
                if mode & 0o022 != 0 {
                    "change it"
                } else {
                    "look into it"
                }
            ),
            format!("chmod 700 {}", dir.display()),
        );
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if md.uid() != me {
        clean = false;
        r.warn(
            check,
            format!(
                "{} belongs to uid {}, not to you (uid {me})",
                dir.display(),
                md.uid()
            ),
            format!(
                "run as its owner, or chown -R {me} {} if it is yours",
                dir.display()
            ),
        );
    }
    if !writable(dir) {
        r.fail(
            check,
            format!("{} is not writable by you", dir.display()),
            format!(
                "chmod u+rwx {} (or set directories.tokendir to a directory you can write)",
                dir.display()
            ),
        );
        return false;
    }
    if clean {
        r.ok(
            check,
            format!("{} (mode {mode:04o}, yours, writable)", dir.display()),
        );
    }
    true
}

fn writable(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// `8-4-4-4-12` hex digits: how SoftHSM 2 names its token directories.
fn is_uuid(name: &str) -> bool {
    name.len() == 36
        && name.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// ferrohsm names a token's directory by its serial: 16 hex digits.
fn is_serial(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---- tokens ---------------------------------------------------------------------------------------

fn check_tokens(r: &mut Report, config: &Config, module: &str) {
    if let Some(pg) = &config.postgres {
        let where_ = format!("{} (schema {})", pg.redacted_url(), pg.schema);
        let backend = PgBackend::new(pg, &config.token_dir.join(".postgres"), config.umask);
        let listed = backend.and_then(|b| b.list().map(|l| (b, l)));
        match listed {
            Err(e) => r.fail(
                "tokens",
                format!("cannot reach the PostgreSQL token store {where_}: {e}"),
                "check objectstore.postgres.url, the password (objectstore.postgres.password_file or PGPASSWORD) and that the server is up",
            ),
            Ok((_, serials)) if serials.is_empty() => r.info(
                "tokens",
                format!("no tokens in the PostgreSQL token store {where_}"),
                Some("ferrohsm-util init-token --label LABEL makes one".into()),
            ),
            Ok((b, serials)) => {
                r.ok("tokens", format!("PostgreSQL token store {where_}: {} token(s)", serials.len()));
                for serial in &serials {
                    check_token(r, &b, config, module, serial);
                }
            }
        }
        return;
    }
    let dir = &config.token_dir;
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            r.fail(
                "tokens",
                format!("cannot list {}: {e}", dir.display()),
                format!("chmod u+rwx {}", dir.display()),
            );
            return;
        }
    };
    let mut softhsm = Vec::new();
    let mut serials = Vec::new();
    let mut damaged = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if !path.is_dir() {
            continue;
        }
        if is_uuid(&name)
            && (path.join("token.object").exists() || path.join("sqlite3.db").exists())
        {
            softhsm.push(name);
        } else if is_serial(&name) {
            if path.join("token.db").is_file() {
                serials.push(name);
            } else {
                damaged.push(name);
            }
        }
    }
    softhsm.sort();
    serials.sort();
    damaged.sort();
    if !softhsm.is_empty() {
        let msg = format!(
            "{} holds {} SoftHSM 2 token{} ({}/{}), which ferrohsm does not read",
            dir.display(),
            softhsm.len(),
            if softhsm.len() == 1 { "" } else { "s" },
            softhsm[0],
            if Path::new(dir)
                .join(&softhsm[0])
                .join("token.object")
                .exists()
            {
                "token.object"
            } else {
                "sqlite3.db"
            }
        );
        let fix = format!(
            "ferrohsm-util migrate softhsm --tokendir {} (then set directories.tokendir to \
             ferrohsm's own directory)",
            dir.display()
        );
        if serials.is_empty() {
            r.fail("tokens", msg, fix);
        } else {
            r.warn("tokens", msg, fix);
        }
    }
    for name in &damaged {
        r.warn(
            "tokens",
            format!(
                "{} has no token.db: a half-made or damaged token, not listed",
                dir.join(name).display()
            ),
            "remove it if it holds nothing you need",
        );
    }
    if serials.is_empty() {
        if softhsm.is_empty() {
            r.info(
                "tokens",
                format!("no tokens in {}", dir.display()),
                Some("ferrohsm-util init-token --label LABEL makes one".into()),
            );
        }
        return;
    }
    let backend = match SqliteBackend::new(dir, config.umask) {
        Ok(b) => b,
        Err(e) => {
            r.fail(
                "tokens",
                format!("cannot open {}: {e}", dir.display()),
                "see the token directory line above",
            );
            return;
        }
    };
    for serial in &serials {
        check_token(r, &backend, config, module, serial);
    }
}

fn check_token(r: &mut Report, backend: &dyn Backend, config: &Config, module: &str, serial: &str) {
    let check = format!("token {serial}");
    let meta: ferrohsm::Result<TokenMeta> = backend.open(serial).and_then(|mut st| st.meta());
    let meta = match meta {
        Ok(m) => m,
        Err(e) => {
            let text = e.to_string();
            let fix = if text.contains("schema version") {
                "it was written by another version of ferrohsm: use that version (or a newer \
                 one) to read it"
                    .to_string()
            } else {
                format!(
                    "restore {} from a backup, or delete it (ferrohsm-util delete-token --serial {serial})",
                    config.token_dir.join(serial).display()
                )
            };
            r.fail(
                &check,
                format!("cannot be opened, the module does not list it: {text}"),
                fix,
            );
            return;
        }
    };
    let label = String::from_utf8_lossy(&meta.label).trim_end().to_string();
    let check = format!("token \"{label}\" ({serial})");
    let max = config.max_pin_attempts;
    let slot = ferrohsm::token::slot_id_for_serial(serial);
    let mut clean = true;
    if meta.so_wrap.is_none() {
        clean = false;
        r.fail(
            &check,
            "has no SO PIN: its metadata is damaged",
            format!("restore it from a backup, or delete it (ferrohsm-util delete-token --serial {serial})"),
        );
    } else if meta.so_failures >= max {
        clean = false;
        r.fail(
            &check,
            format!("SO PIN locked after {} wrong PINs", meta.so_failures),
            format!(
                "nothing unlocks an SO PIN: keep using the user PIN, or delete the token \
                 (ferrohsm-util delete-token --serial {serial}) and make a new one"
            ),
        );
    } else if meta.so_failures > 0 {
        clean = false;
        r.warn(
            &check,
            format!(
                "{} wrong SO PIN{} in a row (locks at {max})",
                meta.so_failures,
                if meta.so_failures == 1 { "" } else { "s" }
            ),
            "the next correct SO PIN resets the count; check which PIN your scripts pass",
        );
    }
    if meta.user_wrap.is_none() {
        clean = false;
        r.warn(
            &check,
            "user PIN not initialized: the token cannot be used",
            format!(
                "set it as the SO: pkcs11-tool --module {module} --slot {slot} --login \
                 --login-type so --init-pin"
            ),
        );
    } else if meta.user_failures >= max {
        clean = false;
        r.fail(
            &check,
            format!("user PIN locked after {} wrong PINs", meta.user_failures),
            format!(
                "the SO sets a new user PIN, which unlocks it: pkcs11-tool --module \
                 {module} --slot {slot} --login --login-type so --init-pin"
            ),
        );
    } else if meta.user_failures > 0 {
        clean = false;
        r.warn(
            &check,
            format!(
                "{} wrong user PIN{} in a row (locks at {max})",
                meta.user_failures,
                if meta.user_failures == 1 { "" } else { "s" }
            ),
            "the next correct user PIN resets the count; check which PIN your scripts pass",
        );
    }
    if clean {
        r.ok(
            &check,
            format!("opens, slot {slot}, PINs set, no failed logins"),
        );
    }
}

// ---- the module -----------------------------------------------------------------------------------

/// The module to load and where the choice came from.
fn module_choice(given: Option<&Path>) -> Result<(PathBuf, &'static str), Vec<PathBuf>> {
    if let Some(p) = given {
        // dlopen looks a bare name up in the loader's path, not here: a file here is meant.
        if p.components().count() == 1 && p.is_file() {
            return Ok((Path::new(".").join(p), "--module"));
        }
        return Ok((p.to_path_buf(), "--module"));
    }
    if let Some(p) = std::env::var_os("FERROHSM_MODULE").filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(p), "FERROHSM_MODULE"));
    }
    let mut tried = Vec::new();
    if let Some(p) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("libferrohsm.so")))
    {
        if p.is_file() {
            return Ok((p, "beside ferrohsm-util"));
        }
        tried.push(p);
    }
    for (p, how) in [
        (PathBuf::from(SYSTEM_MODULE), "installed"),
        (
            PathBuf::from("target/release/libferrohsm.so"),
            "this directory's build",
        ),
    ] {
        if p.is_file() {
            return Ok((p, how));
        }
        tried.push(p);
    }
    Err(tried)
}

fn rv_name(rv: CK_RV) -> String {
    let name = match rv {
        CKR_HOST_MEMORY => "CKR_HOST_MEMORY",
        CKR_GENERAL_ERROR => "CKR_GENERAL_ERROR",
        CKR_FUNCTION_FAILED => "CKR_FUNCTION_FAILED",
        CKR_ARGUMENTS_BAD => "CKR_ARGUMENTS_BAD",
        CKR_CANT_LOCK => "CKR_CANT_LOCK",
        CKR_DEVICE_ERROR => "CKR_DEVICE_ERROR",
        CKR_FUNCTION_NOT_SUPPORTED => "CKR_FUNCTION_NOT_SUPPORTED",
        CKR_CRYPTOKI_NOT_INITIALIZED => "CKR_CRYPTOKI_NOT_INITIALIZED",
        CKR_CRYPTOKI_ALREADY_INITIALIZED => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        _ => return format!("CK_RV {rv:#x}"),
    };
    name.to_string()
}

fn check_module(r: &mut Report, given: Option<&Path>) {
    let check = "module";
    let (path, how) = match module_choice(given) {
        Ok(c) => c,
        Err(tried) => {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            r.fail(
                check,
                format!("no libferrohsm.so found (looked at {})", tried.join(", ")),
                "install the package, build it (cargo build --release), or pass --module PATH",
            );
            return;
        }
    };
    // A bare name is looked up by the dynamic loader, as applications do; a path must be there.
    if path.components().count() > 1 && !path.exists() {
        r.fail(
            check,
            format!("{} ({how}) does not exist", path.display()),
            "give the path of libferrohsm.so (e.g. /usr/lib/x86_64-linux-gnu/pkcs11/libferrohsm.so)",
        );
        return;
    }
    let shown = format!("{} ({how})", path.display());
    // SAFETY: loading a library runs its initializers: that is what is being checked, as any
    // PKCS#11 application would load it.
    let lib = match unsafe { libloading::Library::new(&path) } {
        Ok(l) => l,
        Err(e) => {
            r.fail(
                check,
                format!("{shown} does not load: {e}"),
                "give the path of a PKCS#11 module built for this machine (libferrohsm.so)",
            );
            return;
        }
    };
    // Never unloaded: a library's threads and thread-local destructors may outlive C_Finalize.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol's type is the one the PKCS#11 specification gives it.
    let get: libloading::Symbol<
        'static,
        unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV,
    > = match unsafe { lib.get(b"C_GetFunctionList\0") } {
        Ok(s) => s,
        Err(_) => {
            r.fail(
                check,
                format!("{shown} is not a PKCS#11 module (no C_GetFunctionList)"),
                "give the path of libferrohsm.so",
            );
            return;
        }
    };
    let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    // SAFETY: C_GetFunctionList writes one pointer.
    let rv = unsafe { get(&mut list) };
    if rv != CKR_OK || list.is_null() {
        r.fail(
            check,
            format!("{shown}: C_GetFunctionList returned {}", rv_name(rv)),
            "give the path of libferrohsm.so",
        );
        return;
    }
    // SAFETY: a module's function list lives as long as the module, which is never unloaded.
    let f: &CK_FUNCTION_LIST = unsafe { &*list };
    let (Some(init), Some(fin), Some(info), Some(slots)) =
        (f.C_Initialize, f.C_Finalize, f.C_GetInfo, f.C_GetSlotList)
    else {
        r.fail(
            check,
            format!("{shown}: its function list lacks C_Initialize, C_Finalize, C_GetInfo or C_GetSlotList"),
            "give the path of libferrohsm.so",
        );
        return;
    };
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: std::ptr::null_mut(),
    };
    // SAFETY: the arguments are a valid CK_C_INITIALIZE_ARGS.
    let rv = unsafe { init(&mut args as *mut CK_C_INITIALIZE_ARGS as *mut _) };
    if rv != CKR_OK {
        r.fail(
            check,
            format!(
                "{shown}: C_Initialize returned {} (the module says why on standard error or in its log.file)",
                rv_name(rv)
            ),
            "correct what the config and token directory lines above report",
        );
        return;
    }
    let mut ci = CK_INFO::default();
    // SAFETY: C_GetInfo fills one CK_INFO.
    let rv_info = unsafe { info(&mut ci) };
    let mut n: CK_ULONG = 0;
    // SAFETY: a null list asks for the count only.
    let rv_slots = unsafe { slots(CK_FALSE, std::ptr::null_mut(), &mut n) };
    // SAFETY: the module was initialized above.
    let rv_fin = unsafe { fin(std::ptr::null_mut()) };
    if rv_info != CKR_OK || rv_slots != CKR_OK || rv_fin != CKR_OK {
        r.fail(
            check,
            format!(
                "{shown}: C_GetInfo returned {}, C_GetSlotList {}, C_Finalize {}",
                rv_name(rv_info),
                rv_name(rv_slots),
                rv_name(rv_fin)
            ),
            "report this as a bug, with the module's log (log.level = DEBUG)",
        );
        return;
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
    r.ok(
        check,
        format!(
            "{shown} loads: {} {}, library version {}.{}, PKCS#11 {}.{}, {n} slot{}",
            text(&ci.manufacturerID),
            text(&ci.libraryDescription),
            ci.libraryVersion.major,
            ci.libraryVersion.minor,
            ci.cryptokiVersion.major,
            ci.cryptokiVersion.minor,
            if n == 1 { "" } else { "s" }
        ),
    );
    // Another build than this tool's: both work, but mixing versions is how formats drift.
    match ferrohsm::build_info::build_id_of_file(&path) {
        Ok(Some(id)) if id != ferrohsm::build_info::BUILD_ID => r.warn(
            check,
            format!(
                "{} is another build than this ferrohsm-util ({id}; this tool: {})",
                path.display(),
                ferrohsm::build_info::BUILD_ID
            ),
            "use the ferrohsm-util and the module of one version (the same package or build)",
        ),
        Ok(None) => r.info(
            check,
            format!(
                "{} is not a ferrohsm module; the checks above are ferrohsm's",
                path.display()
            ),
            None,
        ),
        _ => {}
    }
}

// ---- p11-kit --------------------------------------------------------------------------------------

fn check_p11kit(r: &mut Report) {
    let check = "p11-kit";
    let text = match std::fs::read_to_string(P11KIT_MODULE) {
        Ok(t) => t,
        Err(_) => {
            r.info(
                check,
                format!("not registered ({P11KIT_MODULE} absent): p11-kit-aware programs (GnuTLS, p11tool) do not see ferrohsm unless told its path"),
                Some("optional: install the Debian package, which registers it".into()),
            );
            return;
        }
    };
    let module = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "module").then(|| v.trim().to_string())
    });
    match module {
        None => r.warn(
            check,
            format!("{P11KIT_MODULE} names no module"),
            format!("add the line `module: libferrohsm.so` to {P11KIT_MODULE}"),
        ),
        Some(m) => {
            let path = if m.starts_with('/') {
                PathBuf::from(&m)
            } else {
                Path::new(P11KIT_MODULE_DIR).join(&m)
            };
            if path.exists() {
                r.ok(
                    check,
                    format!("registered ({P11KIT_MODULE}, module {})", path.display()),
                );
            } else {
                r.warn(
                    check,
                    format!(
                        "{P11KIT_MODULE} names {m}, but {} does not exist",
                        path.display()
                    ),
                    "reinstall the package (dpkg -i ferrohsm_*.deb), or remove the stale file",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_uuid("a2c5d3b1-0f7e-4d7e-9b1c-1234567890ab"));
        assert!(!is_uuid("a2c5d3b1-0f7e-4d7e-9b1c-1234567890a"));
        assert!(!is_uuid("a2c5d3b1x0f7e-4d7e-9b1c-1234567890ab"));
        assert!(is_serial("0123456789abcdef"));
        assert!(!is_serial("0123456789abcdeg"));
    }
}
