//! `ferrohsm-util key ...`: key families (rotate, versions, disable, enable, retire, public).
//!
//! Every command goes through the module's core as a PKCS#11 application would: a rotation is a
//! key generation with `CKA_FERROHSM_KEY_FAMILY` in its template (see `src/family.rs`).

use crate::progress::Progress;
use crate::{find_slot, pin, Fail, Pins, Select, R};
use clap::{Args, Subcommand, ValueEnum};
use cryptoki_sys::*;
use ferrohsm::family::{self, Version};
use ferrohsm::mechanism::Mech;
use ferrohsm::module::Module;
use ferrohsm::object::vendor::*;
use ferrohsm::object::Attribute;
use ferrohsm::Error;

/// A family name and one of its versions, on a token.
#[derive(Args, Debug)]
pub struct VersionArgs {
    name: String,
    #[arg(long)]
    version: CK_ULONG,
    #[command(flatten)]
    sel: Select,
    #[command(flatten)]
    pins: Pins,
}

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Generate the next version of a key family and make it the newest (the first call creates
    /// version 1); the previous newest version then only verifies (and decrypts)
    Rotate {
        /// Family name (becomes the CKA_LABEL of the newest version)
        name: String,
        /// rsa:2048, rsa:3072, rsa:4096, ec:P-256, ec:P-384, ec:P-521, ec:secp256k1, ed25519,
        /// ml-dsa-44, ml-dsa-65, ml-dsa-87,
        /// hmac:32 (bytes), ...
        #[arg(long = "type", value_name = "TYPE")]
        key_type: String,
        /// JOSE alg to publish the version with (RS256, PS256, ..., ES256, ES256K, EdDSA, HS256);
        /// default: the previous version's, else RS256 / ES256|ES384|ES512|ES256K by curve /
        /// EdDSA / HS256
        #[arg(long)]
        alg: Option<String>,
        /// Also make a self-signed certificate (CN=<kid>) for the version, with its ID and label,
        /// so that Java's SunPKCS11 KeyStore lists RSA and EC versions (alias = the family name
        /// for the newest)
        #[arg(long)]
        cert: bool,
        #[command(flatten)]
        sel: Select,
        #[command(flatten)]
        pins: Pins,
    },
    /// List the versions of a family: version, state, algorithm, JOSE alg, creation time, kid
    Versions {
        name: String,
        #[command(flatten)]
        sel: Select,
        #[command(flatten)]
        pins: Pins,
    },
    /// Disable a version: it can no longer sign, verify or decrypt (not the newest version)
    Disable(VersionArgs),
    /// Enable a disabled version again
    Enable(VersionArgs),
    /// Destroy a disabled version's objects
    Retire(VersionArgs),
    /// Print the public keys of the enabled versions (pem: all, SPKI; jwk: the newest, or
    /// --version; jwks: all, {"keys":[...]}, newest first). Needs no PIN: public keys are public
    /// objects (a PIN, when given, logs in)
    Public {
        /// Family name; with --format jwks or pem, several families make one set
        #[arg(required = true, num_args = 1..)]
        names: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Pem)]
        format: Format,
        /// Only this version (it must be enabled)
        #[arg(long)]
        version: Option<CK_ULONG>,
        #[command(flatten)]
        sel: Select,
        #[command(flatten)]
        pins: Pins,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pem,
    Jwk,
    Jwks,
}

/// A logged-in R/W session, closed on drop.
struct Sess<'a> {
    m: &'a Module,
    h: CK_SESSION_HANDLE,
}

impl Drop for Sess<'_> {
    fn drop(&mut self) {
        let _ = self.m.close_session(self.h);
    }
}

fn login<'a>(m: &'a Module, sel: &Select, pins: &Pins) -> R<Sess<'a>> {
    let slot = find_slot(m, sel)?;
    let h = m.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)?;
    let s = Sess { m, h };
    let p = pin(&pins.pin, "FERROHSM_PIN", "Please enter user PIN: ")?;
    m.login(h, CKU_USER, p.as_bytes())?;
    Ok(s)
}

/// A session for reading public keys: logged in when a PIN is given (--pin or $FERROHSM_PIN),
/// else public (public keys need no login), never a prompt.
fn public_session<'a>(m: &'a Module, sel: &Select, pins: &Pins) -> R<Sess<'a>> {
    if pins.pin.is_some() || std::env::var_os("FERROHSM_PIN").is_some() {
        return login(m, sel, pins);
    }
    let slot = find_slot(m, sel)?;
    let h = m.open_session(slot, CKF_SERIAL_SESSION)?;
    Ok(Sess { m, h })
}

const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

const OID_SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

fn bad_type(t: &str) -> Fail {
    Fail(format!(
        "Unknown key type '{t}': use rsa:<bits> (2048, 3072, 4096), ec:P-256, ec:P-384, ec:P-521, ec:secp256k1, ed25519, ml-dsa-44, ml-dsa-65, ml-dsa-87 or hmac:<bytes> (e.g. hmac:32)."
    ))
}

fn name_ok(name: &str) -> R<()> {
    family::check_name(name.as_bytes()).map_err(|_| {
        Fail(format!(
            "Invalid key family name '{name}': 1 to {} bytes, no spaces or control characters.",
            family::MAX_NAME
        ))
    })
}

pub fn run(m: &Module, cmd: KeyCmd) -> R<()> {
    match cmd {
        KeyCmd::Rotate {
            name,
            key_type,
            alg,
            cert,
            sel,
            pins,
        } => rotate(m, &name, &key_type, alg.as_deref(), cert, &sel, &pins),
        KeyCmd::Versions { name, sel, pins } => {
            let s = login(m, &sel, &pins)?;
            let vs = versions(&s, &name)?;
            println!(
                "{:<8} {:<9} {:<10} {:<12} {:<21} KID",
                "VERSION", "STATE", "ALGORITHM", "ALG", "CREATED"
            );
            for v in vs {
                println!(
                    "{:<8} {:<9} {:<10} {:<12} {:<21} {}",
                    v.version,
                    state(&v),
                    v.algorithm,
                    v.alg,
                    family::iso8601(v.created),
                    v.kid
                );
            }
            Ok(())
        }
        KeyCmd::Disable(VersionArgs {
            name,
            version,
            sel,
            pins,
        }) => set_disabled(m, &name, version, true, &sel, &pins),
        KeyCmd::Enable(VersionArgs {
            name,
            version,
            sel,
            pins,
        }) => set_disabled(m, &name, version, false, &sel, &pins),
        KeyCmd::Retire(VersionArgs {
            name,
            version,
            sel,
            pins,
        }) => {
            let s = login(m, &sel, &pins)?;
            let v = one_version(&s, &name, version)?;
            if v.newest {
                return Err(Fail(format!(
                    "Version {version} is the newest version of {name} and cannot be retired: rotate first, then disable it."
                )));
            }
            if !v.disabled {
                return Err(Fail(format!(
                    "Version {version} of {name} is enabled: disable it first (key disable {name} --version {version})."
                )));
            }
            let sess = m.session(s.h)?;
            family::retire(&sess, name.as_bytes(), version)?;
            println!("Retired version {version} of {name} ({}).", v.kid);
            Ok(())
        }
        KeyCmd::Public {
            names,
            format,
            version,
            sel,
            pins,
        } => public(m, &names, format, version, &sel, &pins),
    }
}

fn state(v: &Version) -> &'static str {
    if v.newest {
        "newest"
    } else if v.disabled {
        "disabled"
    } else {
        "enabled"
    }
}

fn versions(s: &Sess<'_>, name: &str) -> R<Vec<Version>> {
    name_ok(name)?;
    let sess = s.m.session(s.h)?;
    let vs = family::versions(&sess, name.as_bytes())?;
    if vs.is_empty() {
        return Err(Fail(format!("No key family named {name} on this token.")));
    }
    Ok(vs)
}

fn one_version(s: &Sess<'_>, name: &str, version: CK_ULONG) -> R<Version> {
    versions(s, name)?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| Fail(format!("Key family {name} has no version {version}.")))
}

fn rotate(
    m: &Module,
    name: &str,
    key_type: &str,
    alg: Option<&str>,
    cert: bool,
    sel: &Select,
    pins: &Pins,
) -> R<()> {
    name_ok(name)?;
    let lower = key_type.to_ascii_lowercase();
    let (kind, size) = if lower == "ed25519" {
        ("ed25519", "")
    } else if let Some(set) = lower.strip_prefix("ml-dsa-") {
        ("ml-dsa", set)
    } else {
        key_type.split_once(':').ok_or_else(|| bad_type(key_type))?
    };
    let fam = Attribute::new(CKA_FERROHSM_KEY_FAMILY, name.as_bytes().to_vec());
    let mut common = vec![fam];
    if let Some(a) = alg {
        common.push(Attribute::new(CKA_FERROHSM_KEY_ALG, a.as_bytes().to_vec()));
    }
    let s = login(m, sel, pins)?;
    // After the PIN prompt, so the spinner never draws over it; RSA-4096 takes seconds.
    let progress = Progress::spinner(format!("Generating a {key_type} key for {name}"));
    let r = match kind.to_ascii_lowercase().as_str() {
        "rsa" | "ec" | "ed25519" => {
            let (mech, mut pub_t) = if kind == "ed25519" {
                (
                    CKM_EC_EDWARDS_KEY_PAIR_GEN,
                    vec![Attribute::new(CKA_EC_PARAMS, OID_ED25519.to_vec())],
                )
            } else if kind.eq_ignore_ascii_case("rsa") {
                let bits: CK_ULONG = size.parse().map_err(|_| bad_type(key_type))?;
                (
                    CKM_RSA_PKCS_KEY_PAIR_GEN,
                    vec![
                        Attribute::ulong(CKA_MODULUS_BITS, bits),
                        Attribute::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
                    ],
                )
            } else {
                let oid = match size.to_ascii_uppercase().as_str() {
                    "P-256" | "P256" | "PRIME256V1" | "SECP256R1" => OID_P256,
                    "P-384" | "P384" | "SECP384R1" => OID_P384,
                    "P-521" | "P521" | "SECP521R1" => OID_P521,
                    "SECP256K1" => OID_SECP256K1,
                    _ => return Err(bad_type(key_type)),
                };
                (
                    CKM_EC_KEY_PAIR_GEN,
                    vec![Attribute::new(CKA_EC_PARAMS, oid.to_vec())],
                )
            };
            pub_t.push(Attribute::bool(CKA_VERIFY, true));
            pub_t.extend(common.iter().cloned());
            let mut priv_t = vec![Attribute::bool(CKA_SIGN, true)];
            if cert {
                priv_t.push(Attribute::bool(CKA_FERROHSM_KEY_CERT, true));
            }
            priv_t.extend(common);
            m.generate_key_pair(s.h, &Mech::new(mech), &pub_t, &priv_t)
                .map(|(_, sh)| sh)
        }
        "ml-dsa" if cert => return Err(Fail(
            "--cert is not offered for ML-DSA keys yet: use rsa, ec or ed25519 for a certificate."
                .into(),
        )),
        "ml-dsa" => {
            let set: CK_ULONG = match size {
                "44" => CKP_ML_DSA_44,
                "65" => CKP_ML_DSA_65,
                "87" => CKP_ML_DSA_87,
                _ => return Err(bad_type(key_type)),
            };
            let mut pub_t = vec![
                Attribute::ulong(CKA_PARAMETER_SET, set),
                Attribute::bool(CKA_VERIFY, true),
            ];
            pub_t.extend(common.iter().cloned());
            let mut priv_t = vec![Attribute::bool(CKA_SIGN, true)];
            priv_t.extend(common);
            m.generate_key_pair(s.h, &Mech::new(CKM_ML_DSA_KEY_PAIR_GEN), &pub_t, &priv_t)
                .map(|(_, sh)| sh)
        }
        "hmac" if cert => {
            return Err(Fail(
                "--cert needs an RSA, EC or Ed25519 key type: secret keys have no certificate."
                    .into(),
            ))
        }
        "hmac" => {
            let len: CK_ULONG = size.parse().map_err(|_| bad_type(key_type))?;
            let mut t = vec![
                Attribute::ulong(CKA_VALUE_LEN, len),
                Attribute::bool(CKA_SIGN, true),
                Attribute::bool(CKA_VERIFY, true),
            ];
            t.extend(common);
            m.generate_key(s.h, &Mech::new(CKM_GENERIC_SECRET_KEY_GEN), &t)
        }
        _ => return Err(bad_type(key_type)),
    };
    progress.finish();
    let h = r.map_err(|e| match e {
        Error::AttributeValueInvalid if alg.is_some() => Fail(format!(
            "The alg {} does not fit a {key_type} key.",
            alg.unwrap_or_default()
        )),
        Error::KeySizeRange => Fail(format!("Unsupported key size in '{key_type}'.")),
        e => e.into(),
    })?;
    let e = m.object(s.h, h)?;
    let v = e.obj.ulong(CKA_FERROHSM_KEY_VERSION).unwrap_or(0);
    let kid = String::from_utf8_lossy(e.obj.get(CKA_ID).unwrap_or_default()).into_owned();
    println!("Key family {name}: version {v} ({kid}) is the newest.");
    if v > 1 {
        println!("Version {} now only verifies.", v - 1);
    }
    Ok(())
}

fn set_disabled(
    m: &Module,
    name: &str,
    version: CK_ULONG,
    disabled: bool,
    sel: &Select,
    pins: &Pins,
) -> R<()> {
    let s = login(m, sel, pins)?;
    let v = one_version(&s, name, version)?;
    if disabled && v.newest {
        return Err(Fail(format!(
            "Version {version} is the newest version of {name} and cannot be disabled: rotate first."
        )));
    }
    let sess = m.session(s.h)?;
    family::set_disabled(&sess, name.as_bytes(), version, disabled)?;
    println!(
        "Version {version} of {name} ({}) is {}.",
        v.kid,
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

fn public(
    m: &Module,
    names: &[String],
    format: Format,
    version: Option<CK_ULONG>,
    sel: &Select,
    pins: &Pins,
) -> R<()> {
    if names.len() > 1 && (format == Format::Jwk || version.is_some()) {
        return Err(Fail(
            "Several families make a key set: use --format jwks or pem, without --version.".into(),
        ));
    }
    let s = public_session(m, sel, pins)?;
    let mut all = Vec::new();
    for name in names {
        let fam = versions(&s, name)?;
        if fam.iter().all(|v| v.public.is_none()) {
            return Err(Fail(format!(
                "Key family {name} has no public keys ({} is a secret-key family).",
                fam[0].algorithm
            )));
        }
        all.push((name, fam));
    }
    let mut chosen: Vec<&Version> = Vec::new();
    // The families in the order given, each newest first.
    for (name, fam) in &all {
        let mut these: Vec<&Version> = match version {
            Some(n) => {
                let v = fam
                    .iter()
                    .find(|v| v.version == n)
                    .ok_or_else(|| Fail(format!("Key family {name} has no version {n}.")))?;
                if v.disabled {
                    return Err(Fail(format!("Version {n} of {name} is disabled.")));
                }
                vec![v]
            }
            None => fam.iter().filter(|v| !v.disabled).collect(),
        };
        these.reverse(); // newest first
        chosen.extend(these);
    }
    match format {
        Format::Pem => {
            for v in chosen {
                let spki = v
                    .spki
                    .as_deref()
                    .ok_or_else(|| Fail(format!("Version {} has no public key.", v.version)))?;
                let pem = der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, spki)
                    .map_err(|e| Fail(format!("PEM encoding: {e}")))?;
                print!("{pem}");
            }
        }
        Format::Jwk => {
            let v = chosen[0];
            let j = family::jwk(v)?
                .ok_or_else(|| Fail(format!("Version {} has no public key.", v.version)))?;
            println!("{}", serde_json::to_string_pretty(&j).expect("JSON"));
        }
        Format::Jwks => {
            let mut keys = Vec::new();
            for v in chosen {
                if let Some(j) = family::jwk(v)? {
                    keys.push(j);
                }
            }
            let set = serde_json::json!({ "keys": keys });
            println!("{}", serde_json::to_string_pretty(&set).expect("JSON"));
        }
    }
    Ok(())
}
