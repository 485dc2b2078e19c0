//! Configuration: where tokens live, how PINs are protected, what is logged.
//!
//! Found through `FERROHSM_CONF`, then `~/.config/ferrohsm/ferrohsm.conf`, then the system's
//! `/etc/ferrohsm/ferrohsm.conf` (the Debian package installs one, every key commented out), then
//! built-in defaults. The syntax and keys are softhsm2.conf's (`name = value`, `#` comments), so an
//! existing softhsm2.conf works when `FERROHSM_CONF` names it; ferrohsm adds its own keys (PIN
//! attempts, KDF cost, log file). [`KEYS`] documents every key: the manual page ferrohsm.conf(5)
//! and the packaged example file are generated from it, and a test keeps it and [`Config::parse`]
//! in step.

use crate::error::{Error, Result};
use crate::log::Level;
use std::path::{Path, PathBuf};

/// Argon2id cost of deriving a key from a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
}

/// Bounds on the KDF cost, for the configuration and for what is read back from a token.
pub const KDF_MEMORY_KIB: std::ops::RangeInclusive<u32> = 64..=1024 * 1024;
pub const KDF_ITERATIONS: std::ops::RangeInclusive<u32> = 1..=100;
pub const KDF_LANES: std::ops::RangeInclusive<u32> = 1..=16;

impl KdfCost {
    pub fn is_sane(&self) -> bool {
        KDF_MEMORY_KIB.contains(&self.memory_kib)
            && KDF_ITERATIONS.contains(&self.iterations)
            && KDF_LANES.contains(&self.lanes)
    }
}

impl Default for KdfCost {
    /// OWASP's recommended Argon2id setting (19 MiB, 2 passes, 1 lane).
    fn default() -> Self {
        KdfCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            lanes: 1,
        }
    }
}

/// The module's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from, if a file was found.
    pub source: Option<PathBuf>,
    pub token_dir: PathBuf,
    pub umask: u32,
    pub log_level: Level,
    pub log_file: Option<PathBuf>,
    pub max_pin_attempts: u32,
    /// `token.state_mismatch = accept`: a login that finds the token's files do not match their
    /// state tag makes the tags again instead of failing (`crate::store::state`).
    pub accept_state_mismatch: bool,
    /// `token.anchor_dir`: where the rollback anchors are kept (`crate::store::anchor`).
    pub anchor_dir: Option<PathBuf>,
    /// `objectstore.backend = postgres`: the tokens live in PostgreSQL (`crate::store::postgres`).
    pub postgres: Option<PostgresConfig>,
    pub kdf: KdfCost,
    pub removable: bool,
    /// `slots.mechanisms`: `None` means all; an allow list, or a deny list when `deny` is set.
    pub mechanisms: Option<MechanismFilter>,
    /// `wrap.policy`: the key management policy of C_WrapKey / C_UnwrapKey
    /// (`crate::mechanism::wrap`, docs/CRYPTO.md).
    pub wrap_policy: WrapPolicy,
    /// `login.cache` and `login.cache_seconds`: the login cache in the kernel keyring
    /// ([`crate::login_cache`]); `None` when off.
    pub login_cache: Option<crate::login_cache::LoginCache>,
    /// Problems that do not stop the module (unknown keys), to be logged once logging is set up.
    pub warnings: Vec<String>,
    /// The module may start threads of its own (not a file key: false when the application
    /// passes `CKF_LIBRARY_CANT_CREATE_OS_THREADS` to `C_Initialize`).
    pub threads_allowed: bool,
}

/// How far C_WrapKey / C_UnwrapKey go beyond the specification's own rules to keep sensitive
/// keys from being revealed (docs/CRYPTO.md, "Key management policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WrapPolicy {
    /// The specification's rules only (CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, the templates):
    /// what SoftHSM does.
    Spec,
    /// The default: sensitive keys are wrapped only under keys that cannot decrypt the result
    /// and whose value never left the token, keys unwrapped by such keys stay sensitive, and a
    /// change of attributes cannot make a key both a wrapping and a decryption key.
    #[default]
    Sensitive,
    /// As `Sensitive` for every key, sensitive or not, and a key that can encrypt never unwraps.
    Strict,
}

/// `objectstore.postgres.*`: how the module reaches the PostgreSQL token store.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// libpq-style; may hold a password, so it is only ever shown through [`Self::redacted_url`].
    pub url: String,
    pub password_file: Option<PathBuf>,
    pub schema: String,
    pub poll_ms: u64,
    pub connect_timeout_s: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: String::new(),
            password_file: None,
            schema: "ferrohsm".into(),
            poll_ms: 1000,
            connect_timeout_s: 5,
        }
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.redacted_url())
            .field("password_file", &self.password_file)
            .field("schema", &self.schema)
            .field("poll_ms", &self.poll_ms)
            .finish()
    }
}

impl PostgresConfig {
    /// The URL with any password in it replaced by `***` (for logs and errors). It reads the
    /// password where the client does: in a URL, between the user's `:` and the first `@`, or a
    /// `password` query parameter; in the key=value form, the `password` key's value (spaces
    /// around `=` and quotes as libpq allows).
    pub fn redacted_url(&self) -> String {
        let u = &self.url;
        if let Some(i) = u.find("://") {
            let (scheme, rest) = u.split_at(i + 3);
            let rest = match rest.find('@') {
                Some(at) => {
                    let (info, host) = rest.split_at(at);
                    match info.find(':') {
                        Some(c) => format!("{}:***{host}", &info[..c]),
                        None => rest.to_string(),
                    }
                }
                None => rest.to_string(),
            };
            return format!("{scheme}{}", redact_password_param(&rest));
        }
        let mut out = String::with_capacity(u.len());
        let mut last = 0;
        for p in conninfo_pairs(u) {
            if p.key == "password" {
                out.push_str(&u[last..p.value_span.0]);
                out.push_str("***");
                last = p.value_span.1;
            }
        }
        out.push_str(&u[last..]);
        out
    }

    /// The password from `password_file`, else `PGPASSWORD` (`None`: no password).
    pub fn password(&self) -> Result<Option<zeroize::Zeroizing<String>>> {
        if let Some(p) = &self.password_file {
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(p).map_err(|e| {
                Error::Config(format!(
                    "objectstore.postgres.password_file {}: {e}",
                    p.display()
                ))
            })?);
            let line = text.lines().next().unwrap_or("");
            return Ok(Some(zeroize::Zeroizing::new(line.to_string())));
        }
        Ok(std::env::var("PGPASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .map(zeroize::Zeroizing::new))
    }
}

/// One `key = value` of a libpq key=value connection string.
pub(crate) struct ConninfoPair {
    pub key: String,
    /// The value, unquoted and unescaped.
    pub value: String,
    /// Where the whole pair is in the string, and where its value's text is (inside quotes).
    pub span: (usize, usize),
    pub value_span: (usize, usize),
}

/// The pairs of a libpq key=value string, as libpq reads them: spaces around `=`, values in
/// single quotes with `\'` and `\\` escapes, or unquoted up to the next space. Stops at the
/// first thing it cannot read (the client then rejects the string).
pub(crate) fn conninfo_pairs(s: &str) -> Vec<ConninfoPair> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip(&mut i);
        if i >= b.len() {
            return out;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = s[start..i].to_string();
        skip(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return out;
        }
        i += 1;
        skip(&mut i);
        let mut value = String::new();
        let (vs, ve);
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            vs = i;
            loop {
                match b.get(i) {
                    None => return out,
                    Some(b'\\') if i + 1 < b.len() => {
                        value.push(b[i + 1] as char);
                        i += 2;
                    }
                    Some(b'\'') => break,
                    Some(_) => {
                        let ch = s[i..].chars().next().expect("in bounds");
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            ve = i;
            i += 1;
        } else {
            vs = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = s[i..].chars().next().expect("in bounds");
                value.push(ch);
                i += ch.len_utf8();
            }
            ve = i;
        }
        out.push(ConninfoPair {
            key,
            value,
            span: (start, i),
            value_span: (vs, ve),
        });
    }
}

/// `?password=...` in a URL's query, replaced by `***`.
fn redact_password_param(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let q: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", q.join("&"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MechanismFilter {
    pub deny: bool,
    pub names: Vec<String>,
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The default token directory: `$XDG_DATA_HOME/ferrohsm/tokens`, else `~/.local/share/ferrohsm/tokens`.
pub fn default_token_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("ferrohsm/tokens");
    }
    match home() {
        Some(h) => h.join(".local/share/ferrohsm/tokens"),
        None => PathBuf::from("/var/lib/ferrohsm/tokens"),
    }
}

/// The system-wide configuration file, read when neither `FERROHSM_CONF` nor the user's own file is there.
pub const SYSTEM_CONF: &str = "/etc/ferrohsm/ferrohsm.conf";

/// One configuration key, as the manual page and the example file show it.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    pub name: &'static str,
    /// The values it takes.
    pub values: &'static str,
    /// The value in effect when the key is absent, as written in a file.
    pub default: &'static str,
    /// What it does (one paragraph).
    pub doc: &'static str,
}

/// Every key [`Config::parse`] understands.
pub const KEYS: &[KeyDoc] = &[
    KeyDoc {
        name: "directories.tokendir",
        values: "a directory",
        default: "~/.local/share/ferrohsm/tokens",
        doc: "Where the tokens live: one subdirectory per token, created 0700, its database 0600. \
              Without the key: $XDG_DATA_HOME/ferrohsm/tokens, else ~/.local/share/ferrohsm/tokens, \
              else (no home directory) /var/lib/ferrohsm/tokens. A softhsm2.conf's value is taken \
              as it is, but SoftHSM's token files are not read (see ferrohsm-util(1)).",
    },
    KeyDoc {
        name: "objectstore.umask",
        values: "an octal mask, at most 0777",
        default: "0077",
        doc: "Mask applied to the files and directories the module creates. Permissions wider \
              than 0700 for directories and 0600 for files are never given, whatever the mask.",
    },
    KeyDoc {
        name: "objectstore.backend",
        values: "sqlite | postgres (db and file, softhsm2.conf's values, mean sqlite)",
        default: "sqlite",
        doc: "Where the tokens live. sqlite: one database file per token under \
              directories.tokendir, shared by the processes of one machine. postgres: every token \
              in one schema of a PostgreSQL server (objectstore.postgres.*), shared by every host \
              configured with it. Either way the records are encrypted before they are stored.",
    },
    KeyDoc {
        name: "objectstore.postgres.url",
        values: "a libpq-style URL or key=value string",
        default: "",
        doc: "The server, user and database, such as postgresql://ferrohsm@db.example.org/hsm or \
              host=/run/postgresql user=ferrohsm dbname=hsm. Put the password in \
              objectstore.postgres.password_file or PGPASSWORD rather than here; it is never \
              logged. TLS (sslmode=require) is not supported yet.",
    },
    KeyDoc {
        name: "objectstore.postgres.password_file",
        values: "a file path, or empty",
        default: "",
        doc: "A file holding the database password (its first line), read at each connection. \
              Without it and without a password in the URL, PGPASSWORD is used.",
    },
    KeyDoc {
        name: "objectstore.postgres.schema",
        values: "a lowercase name: letters, digits, _ (at most 40)",
        default: "ferrohsm",
        doc: "The schema that holds this deployment's tables (made if missing), so several \
              deployments can share one server.",
    },
    KeyDoc {
        name: "objectstore.postgres.poll_ms",
        values: "milliseconds, 50 to 60000",
        default: "1000",
        doc: "Changes made on other hosts are announced by notifications; at least this often, \
              a host also asks the database whether a token changed. It bounds how long a change \
              (a disabled key version, a destroyed object, a PIN lockout) can stay unseen.",
    },
    KeyDoc {
        name: "log.level",
        values: "ERROR | WARNING | INFO | DEBUG",
        default: "WARNING",
        doc: "What the module logs. Nothing secret is ever logged, at any level.",
    },
    KeyDoc {
        name: "log.file",
        values: "a file path, or empty",
        default: "",
        doc: "Where the log goes; empty means standard error.",
    },
    KeyDoc {
        name: "login.cache",
        values: "keyring | off",
        default: "keyring",
        doc: "Keeps a successful login in the user's kernel session keyring for \
              login.cache_seconds, so that short-lived processes of the same session skip the \
              PIN's key derivation. The cached key is bound to the token and the user.",
    },
    KeyDoc {
        name: "login.cache_seconds",
        values: "1 to 86400",
        default: "300",
        doc: "How long a cached login lasts.",
    },
    KeyDoc {
        name: "token.state_mismatch",
        values: "refuse | accept",
        default: "refuse",
        doc: "What a login does when the token's sealed objects or IV counters do not match \
              their authenticated state (its files were rolled back, mixed with older copies, \
              or damaged): refuse logs the cause and fails the login (CKR_DEVICE_ERROR); accept \
              logs it, makes the state tags again over what the files hold now, and logs in. \
              Set accept once, deliberately, to recover a damaged token, then remove it.",
    },
    KeyDoc {
        name: "token.anchor_dir",
        values: "a directory path, or empty",
        default: "",
        doc: "Keeps, for each token, the highest change number its files have reached in a \
              small file in this directory, outside the token directory, and refuses a token \
              whose files are older than that (a whole older copy put back). Useful only where \
              whoever can write the token directory cannot write this one.",
    },
    KeyDoc {
        name: "slots.removable",
        values: "true | false",
        default: "false",
        doc: "Reports the tokens as removable (CKF_REMOVABLE_DEVICE), as SoftHSM's key does.",
    },
    KeyDoc {
        name: "slots.mechanisms",
        values: "ALL, a list of mechanism names, or a list of names each prefixed with -",
        default: "ALL",
        doc: "Which mechanisms the slots offer: all of them, only those listed \
              (CKM_AES_GCM,CKM_ECDSA), or all but those listed (-CKM_RSA_X_509,-CKM_SHA_1).",
    },
    KeyDoc {
        name: "wrap.policy",
        values: "spec | sensitive | strict",
        default: "sensitive",
        doc: "The key management policy of C_WrapKey and C_UnwrapKey. spec applies the \
              specification's rules only (what SoftHSM does); sensitive (the default) wraps \
              sensitive keys only under keys that cannot decrypt the result and never left the \
              token, and keeps unwrapped keys sensitive; strict adds further limits (see the \
              project's docs/CRYPTO.md).",
    },
    KeyDoc {
        name: "library.reset_on_fork",
        values: "true | false",
        default: "false",
        doc: "Accepted for softhsm2.conf compatibility: a forked child always starts afresh, as \
              PKCS #11 requires (it must call C_Initialize).",
    },
    KeyDoc {
        name: "pin.max_attempts",
        values: "1 to 1000",
        default: "10",
        doc: "Wrong PINs in a row after which the PIN is locked (CKF_USER_PIN_LOCKED, \
              CKF_SO_PIN_LOCKED). The count is kept in the token, across processes.",
    },
    KeyDoc {
        name: "kdf.argon2.memory_kib",
        values: "64 to 1048576",
        default: "19456",
        doc: "Memory cost of the Argon2id derivation of keys from PINs. Each PIN's wrapped key \
              records the cost it was made with, so a new value applies to the tokens \
              initialized and the PINs set from then on.",
    },
    KeyDoc {
        name: "kdf.argon2.iterations",
        values: "1 to 100",
        default: "2",
        doc: "Passes of the Argon2id derivation (applies like kdf.argon2.memory_kib).",
    },
    KeyDoc {
        name: "kdf.argon2.lanes",
        values: "1 to 16",
        default: "1",
        doc: "Parallel lanes of the Argon2id derivation (applies like kdf.argon2.memory_kib).",
    },
];

/// The example configuration file: every key commented out, with its default and what it does.
pub fn example_file() -> String {
    let mut out = String::from(
        "# ferrohsm configuration (see ferrohsm.conf(5)).\n\
         # Read when FERROHSM_CONF is not set and ~/.config/ferrohsm/ferrohsm.conf does not exist.\n\
         # Every key below is shown with its default value, commented out.\n",
    );
    for k in KEYS {
        out.push('\n');
        let mut line = String::from("#");
        for w in k.doc.split_whitespace() {
            if line.len() + 1 + w.len() > 78 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(w);
        }
        out.push_str(&line);
        out.push('\n');
        out.push_str(&format!("# Values: {}\n", k.values));
        out.push_str(&format!("# {} = {}\n", k.name, k.default));
    }
    out
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            token_dir: default_token_dir(),
            umask: 0o077,
            log_level: Level::Warning,
            log_file: None,
            max_pin_attempts: 10,
            accept_state_mismatch: false,
            anchor_dir: None,
            postgres: None,
            kdf: KdfCost::default(),
            removable: false,
            mechanisms: None,
            wrap_policy: WrapPolicy::default(),
            login_cache: Some(crate::login_cache::LoginCache { seconds: 300 }),
            warnings: Vec::new(),
            threads_allowed: true,
        }
    }
}

impl Config {
    /// Finds and reads the configuration as the module does at `C_Initialize`.
    pub fn discover() -> Result<Config> {
        if let Some(p) = std::env::var_os("FERROHSM_CONF").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            let text = std::fs::read_to_string(&p).map_err(|e| {
                Error::Config(format!(
                    "cannot read {} (named by FERROHSM_CONF): {e}; fix the path or unset FERROHSM_CONF",
                    p.display()
                ))
            })?;
            return Config::parse(&text, Some(&p));
        }
        if let Some(h) = home() {
            let p = h.join(".config/ferrohsm/ferrohsm.conf");
            if p.exists() {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?;
                return Config::parse(&text, Some(&p));
            }
        }
        let p = Path::new(SYSTEM_CONF);
        if p.exists() {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?;
            return Config::parse(&text, Some(p));
        }
        Ok(Config::default())
    }

    /// Parses the text of a configuration file.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Config> {
        let c = Self::parse_lines(text, source)?;
        c.check_whole()?;
        Ok(c)
    }

    /// Parses the lines of a configuration file, each on its own (the doctor checks them one
    /// by one); [`Config::parse`] also checks the keys that need each other.
    pub fn parse_lines(text: &str, source: Option<&Path>) -> Result<Config> {
        let mut c = Config {
            source: source.map(Path::to_path_buf),
            ..Config::default()
        };
        let at = |n: usize| match source {
            Some(p) => format!("{}:{}", p.display(), n + 1),
            None => format!("line {}", n + 1),
        };
        let mut postgres = false;
        let mut pg = PostgresConfig::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(Error::Config(format!(
                    "{}: expected `name = value`, found `{line}`",
                    at(n)
                )));
            };
            let (key, value) = (key.trim(), value.trim());
            let bad = |what: &str| Error::Config(format!("{}: {key} = {value}: {what}", at(n)));
            match key {
                "directories.tokendir" => {
                    if value.is_empty() {
                        return Err(bad("needs a directory path"));
                    }
                    c.token_dir = PathBuf::from(value);
                }
                "objectstore.umask" => {
                    let v = u32::from_str_radix(value.trim_start_matches("0o"), 8)
                        .map_err(|_| bad("needs an octal number such as 0077"))?;
                    if v > 0o777 {
                        return Err(bad("needs an octal number no larger than 0777"));
                    }
                    c.umask = v;
                }
                "objectstore.backend" => {
                    postgres = match value {
                        "db" | "file" | "sqlite" => false,
                        "postgres" => true,
                        _ => {
                            return Err(bad(
                                "must be `sqlite` or `postgres` (or SoftHSM's `db`, `file`)",
                            ))
                        }
                    }
                }
                "objectstore.postgres.url" => pg.url = value.to_string(),
                "objectstore.postgres.password_file" => {
                    pg.password_file = (!value.is_empty()).then(|| PathBuf::from(value))
                }
                "objectstore.postgres.schema" => {
                    let ok = !value.is_empty()
                        && value.len() <= 40
                        && value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                    if !ok {
                        return Err(bad(
                            "needs a lowercase name of letters, digits and _ (at most 40)",
                        ));
                    }
                    pg.schema = value.to_string();
                }
                "objectstore.postgres.poll_ms" => {
                    pg.poll_ms = value
                        .parse()
                        .ok()
                        .filter(|v| (50..=60_000).contains(v))
                        .ok_or_else(|| bad("needs a number of milliseconds from 50 to 60000"))?
                }
                "log.level" => {
                    c.log_level = Level::parse(value)
                        .ok_or_else(|| bad("must be ERROR, WARNING, INFO or DEBUG"))?
                }
                "log.file" => c.log_file = (!value.is_empty()).then(|| PathBuf::from(value)),
                "login.cache" => match value {
                    "keyring" => {
                        c.login_cache
                            .get_or_insert(crate::login_cache::LoginCache { seconds: 300 });
                    }
                    "off" => c.login_cache = None,
                    _ => return Err(bad("must be `keyring` or `off`")),
                },
                "login.cache_seconds" => {
                    let n: u32 = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=86_400).contains(n))
                        .ok_or_else(|| bad("must be a number of seconds from 1 to 86400"))?;
                    if let Some(lc) = c.login_cache.as_mut() {
                        lc.seconds = n;
                    }
                }
                "token.anchor_dir" => {
                    c.anchor_dir = (!value.is_empty()).then(|| PathBuf::from(value))
                }
                "token.state_mismatch" => {
                    c.accept_state_mismatch = match value {
                        "refuse" => false,
                        "accept" => true,
                        _ => return Err(bad("must be `refuse` or `accept`")),
                    }
                }
                "slots.removable" => {
                    c.removable = parse_bool(value).ok_or_else(|| bad("must be true or false"))?
                }
                "slots.mechanisms" => {
                    let names: Vec<String> = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if names.is_empty() || names == ["ALL"] {
                        c.mechanisms = None;
                    } else {
                        let deny = names[0].starts_with('-');
                        let names = names
                            .into_iter()
                            .map(|s| s.trim_start_matches('-').to_string())
                            .collect();
                        c.mechanisms = Some(MechanismFilter { deny, names });
                    }
                }
                "wrap.policy" => {
                    c.wrap_policy = match value.to_ascii_lowercase().as_str() {
                        "spec" => WrapPolicy::Spec,
                        "sensitive" => WrapPolicy::Sensitive,
                        "strict" => WrapPolicy::Strict,
                        _ => return Err(bad("must be spec, sensitive or strict")),
                    }
                }
                "library.reset_on_fork" => {
                    parse_bool(value).ok_or_else(|| bad("must be true or false"))?;
                }
                "pin.max_attempts" => {
                    c.max_pin_attempts = value
                        .parse()
                        .ok()
                        .filter(|v| (1..=1000).contains(v))
                        .ok_or_else(|| bad("needs a number from 1 to 1000"))?
                }
                "kdf.argon2.memory_kib" => {
                    c.kdf.memory_kib = value
                        .parse()
                        .ok()
                        .filter(|v| KDF_MEMORY_KIB.contains(v))
                        .ok_or_else(|| bad("needs a number of KiB from 64 to 1048576"))?
                }
                "kdf.argon2.iterations" => {
                    c.kdf.iterations = value
                        .parse()
                        .ok()
                        .filter(|v| KDF_ITERATIONS.contains(v))
                        .ok_or_else(|| bad("needs a number from 1 to 100"))?
                }
                "kdf.argon2.lanes" => {
                    c.kdf.lanes = value
                        .parse()
                        .ok()
                        .filter(|v| KDF_LANES.contains(v))
                        .ok_or_else(|| bad("needs a number from 1 to 16"))?
                }
                _ => c
                    .warnings
                    .push(format!("{}: unknown key `{key}` ignored", at(n))),
            }
        }
        if postgres {
            c.postgres = Some(pg);
        }
        Ok(c)
    }

    /// What no single line can say: keys that need each other.
    pub fn check_whole(&self) -> Result<()> {
        if self.postgres.as_ref().is_some_and(|p| p.url.is_empty()) {
            return Err(Error::Config(
                "objectstore.backend = postgres needs objectstore.postgres.url".into(),
            ));
        }
        Ok(())
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softhsm_conf_is_accepted() {
        let c = Config::parse(
            "# SoftHSM v2 configuration file\n\ndirectories.tokendir = /var/lib/softhsm/tokens/\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n",
            None,
        )
        .unwrap();
        assert_eq!(c.token_dir, PathBuf::from("/var/lib/softhsm/tokens/"));
        assert!(c.warnings.is_empty());
        assert_eq!(c.mechanisms, None);
    }

    #[test]
    fn unknown_keys_warn_and_bad_values_fail() {
        let c = Config::parse("foo.bar = 1\n", None).unwrap();
        assert_eq!(c.warnings.len(), 1);
        let e = Config::parse("pin.max_attempts = zero\n", None).unwrap_err();
        assert!(matches!(e, Error::Config(m) if m.contains("pin.max_attempts")));
        assert!(Config::parse("just words\n", None).is_err());
        assert!(Config::parse("log.level = LOUD\n", None).is_err());
    }

    /// `KEYS` (the manual page's source) and `parse` agree: every documented key parses with its
    /// documented default and gives the built-in default, and every key `parse` matches is documented.
    #[test]
    fn documented_keys_are_the_parsed_keys() {
        let defaults = Config::default();
        for k in KEYS {
            let value = match k.name {
                // Home-relative defaults are not file values; any directory does.
                "directories.tokendir" => "/tmp/x",
                _ => k.default,
            };
            let c = Config::parse(&format!("{} = {value}\n", k.name), None)
                .unwrap_or_else(|e| panic!("{}: {e:?}", k.name));
            assert!(c.warnings.is_empty(), "{}: {:?}", k.name, c.warnings);
            assert_eq!(c.umask, defaults.umask, "{}", k.name);
            assert_eq!(c.log_level, defaults.log_level, "{}", k.name);
            assert_eq!(c.max_pin_attempts, defaults.max_pin_attempts, "{}", k.name);
            assert_eq!(c.kdf, defaults.kdf, "{}", k.name);
            assert_eq!(c.removable, defaults.removable, "{}", k.name);
            assert_eq!(c.mechanisms, defaults.mechanisms, "{}", k.name);
            assert_eq!(c.wrap_policy, defaults.wrap_policy, "{}", k.name);
            assert_eq!(
                c.login_cache.as_ref().map(|l| l.seconds),
                defaults.login_cache.as_ref().map(|l| l.seconds),
                "{}",
                k.name
            );
        }
        // The other direction: the keys matched in `parse`, read from this file's source.
        let src = include_str!("config.rs");
        let body = &src[src.find("pub fn parse(").unwrap()..src.find("fn parse_bool").unwrap()];
        let mut parsed = Vec::new();
        for line in body.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix('"') {
                if let Some((name, tail)) = rest.split_once('"') {
                    if tail.trim_start().starts_with("=>") && name.contains('.') {
                        parsed.push(name.to_string());
                    }
                }
            }
        }
        assert!(parsed.len() >= 10, "{parsed:?}");
        for name in &parsed {
            assert!(
                KEYS.iter().any(|k| k.name == name),
                "{name} is parsed but not documented in KEYS"
            );
        }
        assert_eq!(parsed.len(), KEYS.len(), "{parsed:?}");
        // The example file is all comments: read as a configuration, it is the default one.
        let c = Config::parse(&example_file(), None).unwrap();
        assert!(c.warnings.is_empty());
        assert_eq!(c.token_dir, defaults.token_dir);
    }

    #[test]
    fn own_keys() {
        let c = Config::parse(
            "pin.max_attempts = 3\nkdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\nobjectstore.umask = 0027\nslots.mechanisms = -CKM_RSA_X_509,-CKM_SHA_1\n",
            None,
        )
        .unwrap();
        assert_eq!(c.max_pin_attempts, 3);
        assert_eq!(
            c.kdf,
            KdfCost {
                memory_kib: 1024,
                iterations: 1,
                lanes: 1
            }
        );
        assert_eq!(c.umask, 0o027);
        assert_eq!(
            c.mechanisms,
            Some(MechanismFilter {
                deny: true,
                names: vec!["CKM_RSA_X_509".into(), "CKM_SHA_1".into()]
            })
        );
    }

    #[test]
    fn postgres_keys_and_the_password_never_shown() {
        let c = Config::parse(
            "objectstore.backend = postgres\n\
             objectstore.postgres.url = postgresql://hsm:s3cret@db.example.org:5433/tokens?sslmode=disable&password=other\n\
             objectstore.postgres.schema = prod_eu\n\
             objectstore.postgres.poll_ms = 250\n",
            None,
        )
        .unwrap();
        let pg = c.postgres.as_ref().expect("postgres chosen");
        assert_eq!(pg.schema, "prod_eu");
        assert_eq!(pg.poll_ms, 250);
        let shown = format!("{c:?} {}", pg.redacted_url());
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(
            pg.redacted_url(),
            "postgresql://hsm:***@db.example.org:5433/tokens?sslmode=disable&password=***"
        );
        let shown = |url: &str| {
            PostgresConfig {
                url: url.into(),
                ..PostgresConfig::default()
            }
            .redacted_url()
        };
        assert_eq!(
            shown("host=/run/postgresql user=hsm password=s3cret dbname=t"),
            "host=/run/postgresql user=hsm password=*** dbname=t"
        );
        // Where the client finds a password, the redaction finds it too (a review found these).
        assert_eq!(
            shown("postgresql://hsm:pa/ss?w@db/hsm"),
            "postgresql://hsm:***@db/hsm"
        );
        assert_eq!(
            shown("host=db password = s3cret user=u"),
            "host=db password = *** user=u"
        );
        assert_eq!(
            shown("host=db password='a b\\'c' user=u"),
            "host=db password='***' user=u"
        );
        assert_eq!(shown("postgresql://db/hsm"), "postgresql://db/hsm");
        let p = conninfo_pairs("a=1 b = '2 3' c='x\\'y'");
        let kv: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(kv, [("a", "1"), ("b", "2 3"), ("c", "x'y")]);
        // SoftHSM's values and sqlite choose the file store; postgres needs a URL; bad names fail.
        for v in ["db", "file", "sqlite"] {
            let c = Config::parse(&format!("objectstore.backend = {v}\n"), None).unwrap();
            assert!(c.postgres.is_none());
        }
        assert!(Config::parse("objectstore.backend = postgres\n", None).is_err());
        assert!(Config::parse("objectstore.backend = mysql\n", None).is_err());
        for bad in ["Prod", "a-b", "1abc", "x; DROP", ""] {
            let t = format!("objectstore.backend = postgres\nobjectstore.postgres.url = host=/tmp\nobjectstore.postgres.schema = {bad}\n");
            assert!(Config::parse(&t, None).is_err(), "schema {bad:?}");
        }
        assert!(Config::parse("objectstore.postgres.poll_ms = 10\n", None).is_err());
    }
}
