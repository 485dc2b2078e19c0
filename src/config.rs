//! Configuration: where tokens live, how PINs are protected, what is logged.
//!
//! Found through `FERROHSM_CONF`, then `~/.config/ferrohsm/ferrohsm.conf`, then built-in defaults. The
//! syntax and keys are softhsm2.conf's (`name = value`, `#` comments), so an existing softhsm2.conf works
//! when `FERROHSM_CONF` names it; ferrohsm adds its own keys (PIN attempts, KDF cost, log file).

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

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            token_dir: default_token_dir(),
            umask: 0o077,
            log_level: Level::Warning,
            log_file: None,
            max_pin_attempts: 10,
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
        Ok(Config::default())
    }

    /// Parses the text of a configuration file.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Config> {
        let mut c = Config {
            source: source.map(Path::to_path_buf),
            ..Config::default()
        };
        let at = |n: usize| match source {
            Some(p) => format!("{}:{}", p.display(), n + 1),
            None => format!("line {}", n + 1),
        };
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
                    if value != "db" && value != "file" {
                        return Err(bad(
                            "must be `db` or `file` (ferrohsm always uses its database)",
                        ));
                    }
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
        Ok(c)
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
}
