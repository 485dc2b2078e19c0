//! PKCS#11 benchmark (issue 6): the same program measures any two PKCS#11 modules, by default
//! ferrohsm (`target/release/libferrohsm.so`) and SoftHSM 2.6.1 (`/usr/lib/softhsm/libsofthsm2.so`).
//!
//! `cargo bench --bench pkcs11 -- [options]`; `--help` lists the options.
//!
//! For each module: a fresh token in a temp dir (C_InitToken, C_InitPIN, C_Login), every row's result
//! checked once before it is timed, then several rounds of a fixed duration; the table shows the
//! median ops/s with the min and max of the rounds, and the ratio A/B of the medians. A row whose
//! mechanism a module lacks (C_GetMechanismInfo or the operation says CKR_MECHANISM_INVALID) is "n/a",
//! except for ferrohsm, whose rows are all its own: there it is an error. A ferrohsm library must
//! carry the build ID of this bench's own build (`ferrohsm::build_info`), or the run stops.
//!
//! Fresh-process rows spawn this binary in a worker mode (`--worker-init-login`) that times
//! C_Initialize + C_Login in a new process and prints the figures.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use regex::Regex;
use sha2::Digest;

const SO_PIN: &str = "12345678";
const USER_PIN: &str = "87654321";
const TOKEN_LABEL: &str = "bench-token";
/// The second token: the signing key of the fresh-process rows and nothing else.
const EMPTY_LABEL: &str = "bench-empty";
/// The HMAC key a fresh process signs with (on both tokens).
const SIGN_KEY_LABEL: &str = "fresh-sign";
const DEFAULT_A: &str = "target/release/libferrohsm.so";
const DEFAULT_B: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// `--fast-kdf`: the cost the tests use.
const FAST_KDF: (u32, u32) = (1024, 1);
/// ferrohsm's default Argon2id cost (docs/CONVENTIONS.md): 19 MiB, 2 passes, 1 lane.
const DEFAULT_KDF: (u32, u32) = (19456, 2);
/// SoftHSM 2.6.1 derives the PIN key with RFC 4880 iterated SHA-256: 1500 + last salt byte rounds.
const SOFTHSM_PBE_BASE: usize = 1500;

const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const P521_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

type Res<T> = Result<T, Fail>;

/// Why a row has no figure for a module.
#[derive(Debug, Clone)]
enum Fail {
    /// The module does not support the mechanism (or these parameters): printed "n/a".
    Na(String),
    /// Anything else, including a failed correctness check.
    Err(String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        match e {
            Error::Pkcs11(RvError::MechanismInvalid, f) => {
                Fail::Na(format!("CKR_MECHANISM_INVALID from {f}"))
            }
            Error::Pkcs11(RvError::MechanismParamInvalid, f) => {
                Fail::Na(format!("CKR_MECHANISM_PARAM_INVALID from {f}"))
            }
            e => Fail::Err(e.to_string()),
        }
    }
}

fn check(ok: bool, what: impl Into<String>) -> Res<()> {
    if ok {
        Ok(())
    } else {
        Err(Fail::Err(format!("check failed: {}", what.into())))
    }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Opts {
    module_a: PathBuf,
    module_b: Option<PathBuf>,
    threads: usize,
    rounds: usize,
    secs: f64,
    objects: usize,
    rows: Option<Regex>,
    json: Option<PathBuf>,
    svg: Option<PathBuf>,
    quick: bool,
    fast_kdf: bool,
    /// Extra configuration lines for a ferrohsm module A or B (`--conf-a`, `--conf-b`).
    conf: [String; 2],
}

const HELP: &str = "\
PKCS#11 benchmark: ferrohsm against SoftHSM (or any two modules).

usage: cargo bench --bench pkcs11 -- [options]

  --module-a PATH        first module  (default target/release/libferrohsm.so)
  --module-b PATH        second module (default /usr/lib/softhsm/libsofthsm2.so; `none` for A alone;
                         another ferrohsm build is taken as it is, for A/B runs)
  --threads 1|2          threads for the sign and HMAC rows, each with its own session (default 1)
  --rounds N             timed rounds per row and module (default 5; --quick 3)
  --seconds-per-round S  length of a round (default 0.5; --quick 0.1)
  --objects N            token objects for the object rows (default 10000; --quick 200)
  --rows REGEX           only rows whose name matches
  --json FILE            write the results as JSON
  --svg FILE             write a bar chart of the ratios (log scale)
  --quick                few objects, short rounds: a CI smoke run
  --fast-kdf             ferrohsm with kdf.argon2.memory_kib = 1024, iterations = 1
  --conf-a TEXT, --conf-b TEXT
                         extra configuration lines for a ferrohsm module A or B (`\n` between
                         lines; `{sub}` becomes a name unique to each of its token stores), e.g.
                         the PostgreSQL store against the SQLite store with the same build
  --list                 print the row names and exit
";

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        module_a: PathBuf::from(DEFAULT_A),
        module_b: Some(PathBuf::from(DEFAULT_B)),
        threads: 1,
        rounds: 0,
        secs: 0.0,
        objects: usize::MAX,
        rows: None,
        json: None,
        svg: None,
        quick: false,
        fast_kdf: false,
        conf: Default::default(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--bench" => {} // added by `cargo bench`
            "--module-a" => o.module_a = PathBuf::from(val(a)?),
            "--module-b" => {
                let v = val(a)?;
                o.module_b = (v != "none").then(|| PathBuf::from(v));
            }
            "--threads" => {
                o.threads = match val(a)?.as_str() {
                    "1" => 1,
                    "2" => 2,
                    v => return Err(format!("--threads takes 1 or 2, not {v}")),
                }
            }
            "--rounds" => {
                o.rounds = val(a)?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--rounds needs a positive number")?
            }
            "--seconds-per-round" => {
                o.secs = val(a)?
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s.is_finite())
                    .ok_or("--seconds-per-round needs a positive number")?
            }
            "--objects" => {
                o.objects = val(a)?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--objects needs a positive number")?
            }
            "--rows" => {
                let v = val(a)?;
                o.rows = Some(Regex::new(&v).map_err(|e| format!("--rows: {e}"))?);
            }
            "--json" => o.json = Some(PathBuf::from(val(a)?)),
            "--svg" => o.svg = Some(PathBuf::from(val(a)?)),
            "--conf-a" => o.conf[0] = val(a)?.replace("\\n", "\n"),
            "--conf-b" => o.conf[1] = val(a)?.replace("\\n", "\n"),
            "--quick" => o.quick = true,
            "--fast-kdf" => o.fast_kdf = true,
            "--list" => {} // handled in main, after the row filter
            x => return Err(format!("unknown option {x} (see --help)")),
        }
    }
    if o.rounds == 0 {
        o.rounds = if o.quick { 3 } else { 5 };
    }
    if o.secs == 0.0 {
        o.secs = if o.quick { 0.1 } else { 0.5 };
    }
    if o.objects == usize::MAX {
        o.objects = if o.quick { 200 } else { 10_000 };
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeySpec {
    Rsa(u64),
    Ec(usize),
    Ed25519,
}

impl KeySpec {
    fn gen_mech(self) -> MechanismType {
        match self {
            KeySpec::Rsa(_) => MechanismType::RSA_PKCS_KEY_PAIR_GEN,
            KeySpec::Ec(_) => MechanismType::ECC_KEY_PAIR_GEN,
            KeySpec::Ed25519 => MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mech {
    RsaPkcs1Sha256,
    RsaPssSha256,
    /// CKM_ECDSA on a digest (SoftHSM 2.6.1 has no CKM_ECDSA_SHA*).
    Ecdsa,
    /// Pure Ed25519 (CKM_EDDSA without parameters).
    Eddsa,
    OaepSha1,
    OaepSha256,
}

impl Mech {
    fn mechanism(self) -> Mechanism<'static> {
        let pss = PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32u64.into(),
        };
        match self {
            Mech::RsaPkcs1Sha256 => Mechanism::Sha256RsaPkcs,
            Mech::RsaPssSha256 => Mechanism::Sha256RsaPkcsPss(pss),
            Mech::Ecdsa => Mechanism::Ecdsa,
            Mech::Eddsa => Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
                cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
            )),
            Mech::OaepSha1 => Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
                MechanismType::SHA1,
                PkcsMgfType::MGF1_SHA1,
                PkcsOaepSource::empty(),
            )),
            Mech::OaepSha256 => Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
                MechanismType::SHA256,
                PkcsMgfType::MGF1_SHA256,
                PkcsOaepSource::empty(),
            )),
        }
    }
    fn mech_type(self) -> MechanismType {
        self.mechanism().mechanism_type()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Crypto,
    Objects,
    Fresh,
}

/// The symmetric rows: AES-256 keys, a 12-byte IV and a full tag for GCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    /// Single-part AES-GCM encryption of this many bytes.
    GcmEncrypt(usize),
    /// Multi-part AES-GCM encryption of 1 MiB in 64 KiB C_EncryptUpdate calls.
    GcmStream,
    /// Single-part AES-CBC (no padding) encryption of this many bytes.
    CbcEncrypt(usize),
    /// AES-CMAC over this many bytes.
    Cmac(usize),
    /// C_WrapKey of an AES-256 key under an AES-256 key with CKM_AES_KEY_WRAP.
    KeyWrap,
}

/// The key-derivation rows: each derives a 32-byte generic secret (a session object) and destroys
/// it, so a round measures C_DeriveKey plus C_DestroyObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Derive {
    /// CKM_ECDH1_DERIVE with CKD_NULL on this NIST curve (256 or 384) and the peer's raw point.
    Ecdh(usize),
    /// CKM_ECDH1_DERIVE with CKD_NULL on X25519 keys (CKK_EC_MONTGOMERY).
    X25519,
    /// CKM_HKDF_DERIVE with SHA-256: extract with a 16-byte salt, expand with a 16-byte info.
    HkdfSha256,
    /// CKM_SP800_108_COUNTER_KDF with CKM_SHA256_HMAC: a 32-bit big-endian counter, then a label.
    Sp800Counter,
}

#[derive(Debug, Clone)]
enum RowKind {
    Sym(Sym),
    Derive(Derive),
    Sign(KeySpec, Mech),
    Verify(KeySpec, Mech),
    Decrypt(Mech),
    Hmac(usize),
    GenKeyPair(KeySpec),
    OpenClose,
    GetLabel,
    FindLabel,
    FindId,
    Create,
    Destroy,
    /// A fresh process: C_Initialize + C_Login, or spawn to exit of one that signs once.
    Fresh(Series),
    KdfAlone,
    BeyondKdf,
}

/// The fresh-process measurements: a login with an empty login cache (`First`: ferrohsm's kernel
/// keyring entries are removed before each process) or after one (`Later`), and a whole process
/// that logs in and signs once (`Spawn`, cache warm), each on a token with one key (`empty`) and
/// on the token with every object of the run; and a process that only lists the tokens and opens
/// a session, as `pkcs11-tool -L` does (`List`, spawn to exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Series {
    First { full: bool },
    Later { full: bool },
    Spawn { full: bool },
    List { full: bool },
}

#[derive(Debug, Clone)]
struct Row {
    name: String,
    kind: RowKind,
}

impl Row {
    fn group(&self) -> Group {
        match self.kind {
            RowKind::Sign(..)
            | RowKind::Verify(..)
            | RowKind::Decrypt(_)
            | RowKind::Hmac(_)
            | RowKind::Sym(_)
            | RowKind::Derive(_)
            | RowKind::GenKeyPair(_) => Group::Crypto,
            RowKind::OpenClose
            | RowKind::GetLabel
            | RowKind::FindLabel
            | RowKind::FindId
            | RowKind::Create
            | RowKind::Destroy => Group::Objects,
            RowKind::Fresh(_) | RowKind::KdfAlone | RowKind::BeyondKdf => Group::Fresh,
        }
    }
    fn threaded(&self) -> bool {
        matches!(self.kind, RowKind::Sign(..) | RowKind::Hmac(_))
    }
}

fn all_rows(n_objects: usize) -> Vec<Row> {
    let mut v = Vec::new();
    let mut add = |name: String, kind: RowKind| v.push(Row { name, kind });
    for bits in [2048u64, 3072] {
        for (m, mn) in [
            (Mech::RsaPkcs1Sha256, "pkcs1-sha256"),
            (Mech::RsaPssSha256, "pss-sha256"),
        ] {
            add(
                format!("rsa{bits}-{mn}-sign"),
                RowKind::Sign(KeySpec::Rsa(bits), m),
            );
            add(
                format!("rsa{bits}-{mn}-verify"),
                RowKind::Verify(KeySpec::Rsa(bits), m),
            );
        }
    }
    add(
        "rsa2048-oaep-sha1-decrypt".into(),
        RowKind::Decrypt(Mech::OaepSha1),
    );
    add(
        "rsa2048-oaep-sha256-decrypt".into(),
        RowKind::Decrypt(Mech::OaepSha256),
    );
    for (c, bytes) in [(256usize, 32usize), (384, 48), (521, 64)] {
        add(
            format!("ecdsa-p{c}-sign ({bytes} B digest)"),
            RowKind::Sign(KeySpec::Ec(c), Mech::Ecdsa),
        );
        add(
            format!("ecdsa-p{c}-verify"),
            RowKind::Verify(KeySpec::Ec(c), Mech::Ecdsa),
        );
    }
    add(
        "ed25519-sign (100 B)".into(),
        RowKind::Sign(KeySpec::Ed25519, Mech::Eddsa),
    );
    add(
        "ed25519-verify".into(),
        RowKind::Verify(KeySpec::Ed25519, Mech::Eddsa),
    );
    add("hmac-sha256-64B".into(), RowKind::Hmac(64));
    add("hmac-sha256-16KiB".into(), RowKind::Hmac(16 * 1024));
    add(
        "aes256-gcm-encrypt-64B".into(),
        RowKind::Sym(Sym::GcmEncrypt(64)),
    );
    add(
        "aes256-gcm-encrypt-16KiB".into(),
        RowKind::Sym(Sym::GcmEncrypt(16 * 1024)),
    );
    add(
        "aes256-gcm-multipart-1MiB".into(),
        RowKind::Sym(Sym::GcmStream),
    );
    add(
        "aes256-cbc-encrypt-16KiB".into(),
        RowKind::Sym(Sym::CbcEncrypt(16 * 1024)),
    );
    add("aes256-cmac-64B".into(), RowKind::Sym(Sym::Cmac(64)));
    add("aes256-key-wrap".into(), RowKind::Sym(Sym::KeyWrap));
    add(
        "ecdh-p256-derive (32 B secret)".into(),
        RowKind::Derive(Derive::Ecdh(256)),
    );
    add(
        "ecdh-p384-derive (32 B secret)".into(),
        RowKind::Derive(Derive::Ecdh(384)),
    );
    add(
        "x25519-derive (32 B secret)".into(),
        RowKind::Derive(Derive::X25519),
    );
    add(
        "hkdf-sha256-derive (32 B)".into(),
        RowKind::Derive(Derive::HkdfSha256),
    );
    add(
        "sp800-108-counter-hmac-sha256-derive (32 B)".into(),
        RowKind::Derive(Derive::Sp800Counter),
    );
    add(
        "keygen-rsa2048".into(),
        RowKind::GenKeyPair(KeySpec::Rsa(2048)),
    );
    add(
        "keygen-ec-p256".into(),
        RowKind::GenKeyPair(KeySpec::Ec(256)),
    );
    add("session-open-close".into(), RowKind::OpenClose);
    add("get-attribute-label".into(), RowKind::GetLabel);
    add(
        format!("find-by-label (1 of {n_objects})"),
        RowKind::FindLabel,
    );
    add(format!("find-by-id (1 of {n_objects})"), RowKind::FindId);
    add("create-token-object".into(), RowKind::Create);
    add("destroy-token-object".into(), RowKind::Destroy);
    for (full, n) in [(false, 0), (true, n_objects)] {
        add(
            format!("fresh-login-first ({n} objects)"),
            RowKind::Fresh(Series::First { full }),
        );
        add(
            format!("fresh-login-later ({n} objects)"),
            RowKind::Fresh(Series::Later { full }),
        );
        add(
            format!("spawn-login-sign-exit ({n} objects)"),
            RowKind::Fresh(Series::Spawn { full }),
        );
        add(
            format!("spawn-list-tokens-exit ({n} objects)"),
            RowKind::Fresh(Series::List { full }),
        );
    }
    add("kdf-alone".into(), RowKind::KdfAlone);
    add("init+login-beyond-kdf".into(), RowKind::BeyondKdf);
    v
}

// ---------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ferrohsm,
    SoftHsm,
    Other,
}

struct Module {
    name: String,
    path: PathBuf,
    kind: Kind,
    description: String,
    /// The main session (RW, user logged in). Not `Sync`, so apart from what threads share.
    session: Session,
    sh: Shared,
    _dir: Option<tempfile::TempDir>,
    env: Vec<(String, PathBuf)>,
    /// The configuration of the empty token's own directory (under `_dir`), for the
    /// fresh-process rows with no objects: a module that reads every token of its directory at
    /// C_Initialize (SoftHSM) must not pay there for the main token's objects.
    env_empty: Vec<(String, PathBuf)>,
    kdf: (u32, u32),
    keys: Mutex<HashMap<KeySpec, (ObjectHandle, ObjectHandle)>>,
}

/// What the operations of a row may use from any thread.
struct Shared {
    p11: Pkcs11,
    slot: Slot,
    /// Token objects made by populate: object i has label `obj-{i:06}` and CKA_ID `id-{i:06}`.
    objects: Vec<ObjectHandle>,
    /// Objects made by the create row, consumed by the destroy row.
    pool: Mutex<Vec<ObjectHandle>>,
    created: AtomicUsize,
    create_rate: Mutex<f64>,
}

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

fn init_args() -> CInitializeArgs {
    CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)
}

fn find_token_slot(p11: &Pkcs11, label: &str) -> Result<Option<Slot>, Error> {
    for s in p11.get_slots_with_token()? {
        let ti = p11.get_token_info(s)?;
        if ti.token_initialized() && ti.label().trim_end() == label {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// `own_build`: the library must be this build's (module A); a ferrohsm given as module B is a
/// deliberate comparison (another version, another build) and is taken as it is.
fn open_module(
    path: &Path,
    fast_kdf: bool,
    own_build: bool,
    extra: &str,
) -> Result<Module, String> {
    let lower = path.to_string_lossy().to_lowercase();
    let dir = tempfile::Builder::new()
        .prefix("pkcs11-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    if std::env::var_os("PKCS11_BENCH_KEEP").is_some() {
        // For profiling: the token directory outlives the run (e.g. to rerun --worker-init-login).
        eprintln!("keeping {}", dir.path().display());
    }
    let kdf = if fast_kdf { FAST_KDF } else { DEFAULT_KDF };
    // Each module reads its own variable, so both point into this module's temp dir.
    let confs = |sub: &str| -> Result<Vec<(String, PathBuf)>, String> {
        let tokens = dir.path().join(sub).join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| e.to_string())?;
        let soft_conf = dir.path().join(sub).join("softhsm2.conf");
        let ferro_conf = dir.path().join(sub).join("ferrohsm.conf");
        let base = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        );
        let mut ferro = base.clone();
        let unique = format!("{sub}_{}_{}", std::process::id(), usize::from(own_build));
        let _ = writeln!(ferro, "{}", extra.replace("{sub}", &unique));
        if fast_kdf {
            let _ = write!(
                ferro,
                "kdf.argon2.memory_kib = {}\nkdf.argon2.iterations = {}\n",
                kdf.0, kdf.1
            );
        }
        std::fs::write(&soft_conf, &base).map_err(|e| e.to_string())?;
        std::fs::write(&ferro_conf, ferro).map_err(|e| e.to_string())?;
        Ok(vec![
            ("SOFTHSM2_CONF".to_string(), soft_conf),
            ("FERROHSM_CONF".to_string(), ferro_conf),
        ])
    };
    let env = confs("main")?;
    let env_empty = confs("empty")?;
    for (k, v) in &env {
        std::env::set_var(k, v);
    }
    let e = |what: &str| {
        let what = what.to_string();
        move |err: Error| format!("{}: {what}: {err}", path.display())
    };
    let p11 = Pkcs11::new(path).map_err(e("loading"))?;
    p11.initialize(init_args()).map_err(e("C_Initialize"))?;
    let info = p11.get_library_info().map_err(e("C_GetInfo"))?;
    let manuf = info.manufacturer_id().trim().to_string();
    let kind = if manuf.to_lowercase().contains("softhsm") || lower.contains("softhsm") {
        Kind::SoftHsm
    } else if manuf.to_lowercase().contains("ferrohsm") || lower.contains("ferrohsm") {
        Kind::Ferrohsm
    } else {
        Kind::Other
    };
    // A ferrohsm library must be the one built from these sources, with this bench's features:
    // `cargo bench` does not rebuild target/release/libferrohsm.so.
    if kind == Kind::Ferrohsm && own_build {
        ferrohsm::build_info::check_library(path)?;
    }
    let name = match kind {
        Kind::SoftHsm => "softhsm".to_string(),
        Kind::Ferrohsm => "ferrohsm".to_string(),
        Kind::Other => path
            .file_stem()
            .map(|s| s.to_string_lossy().trim_start_matches("lib").to_string())
            .unwrap_or_else(|| "module".into()),
    };
    let description = format!(
        "{} {} ({}), {}",
        manuf,
        info.library_version(),
        info.library_description().trim(),
        std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
    );
    // A free (uninitialized) token.
    let mut free = None;
    for s in p11.get_slots_with_token().map_err(e("C_GetSlotList"))? {
        if !p11
            .get_token_info(s)
            .map_err(e("C_GetTokenInfo"))?
            .token_initialized()
        {
            free = Some(s);
            break;
        }
    }
    let free = free.ok_or_else(|| format!("{}: no free token slot", path.display()))?;
    p11.init_token(free, &pin(SO_PIN), TOKEN_LABEL)
        .map_err(e("C_InitToken"))?;
    let slot = find_token_slot(&p11, TOKEN_LABEL)
        .map_err(e("C_GetTokenInfo"))?
        .ok_or_else(|| format!("{}: initialized token not found", path.display()))?;
    let session = p11.open_rw_session(slot).map_err(e("C_OpenSession"))?;
    session
        .login(UserType::So, Some(&pin(SO_PIN)))
        .map_err(e("C_Login(SO)"))?;
    session.init_pin(&pin(USER_PIN)).map_err(e("C_InitPIN"))?;
    session.logout().map_err(e("C_Logout"))?;
    session
        .login(UserType::User, Some(&pin(USER_PIN)))
        .map_err(e("C_Login(USER)"))?;
    sign_key(&session).map_err(e("C_CreateObject(sign key)"))?;
    // A second token with the signing key alone, in a directory of its own, for the
    // fresh-process rows with no objects: made by a worker, which reads that directory's
    // configuration.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("--worker-setup-empty")
        .arg(path)
        .envs(env_empty.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| format!("spawning the setup worker: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{}: making the empty token: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Module {
        name,
        path: path.to_path_buf(),
        kind,
        description,
        session,
        sh: Shared {
            p11,
            slot,
            objects: Vec::new(),
            pool: Mutex::new(Vec::new()),
            created: AtomicUsize::new(0),
            create_rate: Mutex::new(0.0),
        },
        _dir: if std::env::var_os("PKCS11_BENCH_KEEP").is_some() {
            drop(dir.keep());
            None
        } else {
            Some(dir)
        },
        env,
        env_empty,
        kdf,
        keys: Mutex::new(HashMap::new()),
    })
}

impl Module {
    /// Fails with n/a when the module does not list the mechanism.
    fn need(&self, mt: MechanismType) -> Res<()> {
        match self.sh.p11.get_mechanism_info(self.sh.slot, mt) {
            Ok(_) => Ok(()),
            Err(Error::Pkcs11(RvError::MechanismInvalid, _)) => {
                Err(Fail::Na(format!("{mt} not supported")))
            }
            Err(e) => Err(Fail::Err(format!("C_GetMechanismInfo({mt}): {e}"))),
        }
    }

    fn key_pair(&self, spec: KeySpec) -> Res<(ObjectHandle, ObjectHandle)> {
        if let Some(k) = self.keys.lock().unwrap().get(&spec) {
            return Ok(*k);
        }
        self.need(spec.gen_mech())?;
        let k = gen_key_pair(&self.session, spec, "bench")?;
        self.keys.lock().unwrap().insert(spec, k);
        Ok(k)
    }

    fn populate(&mut self, n: usize) -> Result<(), String> {
        let t0 = Instant::now();
        let mut last = Instant::now();
        for i in self.sh.objects.len()..n {
            let h = self
                .session
                .create_object(&object_template(
                    &format!("obj-{i:06}"),
                    &format!("id-{i:06}"),
                ))
                .map_err(|e| format!("{}: creating object {i}: {e}", self.name))?;
            self.sh.objects.push(h);
            if last.elapsed() > Duration::from_secs(10) {
                last = Instant::now();
                eprintln!(
                    "  {}: {} of {n} objects ({:.0}/s)",
                    self.name,
                    i + 1,
                    (i + 1) as f64 / t0.elapsed().as_secs_f64()
                );
            }
        }
        eprintln!(
            "  {}: {n} token objects created in {:.1} s (setup, not timed: {:.0}/s)",
            self.name,
            t0.elapsed().as_secs_f64(),
            n as f64 / t0.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// The token objects of the object rows: AES-128 secret keys (private, sensitive) with a label and
/// an ID, so creating one includes the module's protection of secret values at rest.
fn object_template(label: &str, id: &str) -> Vec<Attribute> {
    let mut value = [0u8; 16];
    getrandom::getrandom(&mut value).expect("getrandom");
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Value(value.to_vec()),
    ]
}

fn ec_oid(curve: usize) -> &'static [u8] {
    match curve {
        256 => P256_OID,
        384 => P384_OID,
        _ => P521_OID,
    }
}

fn gen_key_pair(
    s: &Session,
    spec: KeySpec,
    label: &str,
) -> Result<(ObjectHandle, ObjectHandle), Error> {
    let l = Attribute::Label(label.as_bytes().to_vec());
    let (mech, mut public, mut private) = match spec {
        KeySpec::Rsa(bits) => (
            Mechanism::RsaPkcsKeyPairGen,
            vec![
                Attribute::ModulusBits(bits.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Verify(true),
                Attribute::Encrypt(true),
            ],
            vec![Attribute::Sign(true), Attribute::Decrypt(true)],
        ),
        KeySpec::Ec(c) => (
            Mechanism::EccKeyPairGen,
            vec![
                Attribute::EcParams(ec_oid(c).to_vec()),
                Attribute::Verify(true),
            ],
            vec![Attribute::Sign(true)],
        ),
        KeySpec::Ed25519 => (
            Mechanism::EccEdwardsKeyPairGen,
            vec![
                // id-Ed25519, 1.3.101.112
                Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x70]),
                Attribute::Verify(true),
            ],
            vec![Attribute::Sign(true)],
        ),
    };
    public.extend([Attribute::Token(false), l.clone()]);
    private.extend([
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        l,
    ]);
    s.generate_key_pair(&mech, &public, &private)
}

fn get_bytes(s: &Session, h: ObjectHandle, t: AttributeType) -> Res<Vec<u8>> {
    for a in s.get_attributes(h, &[t])? {
        match a {
            Attribute::Label(v)
            | Attribute::Id(v)
            | Attribute::Modulus(v)
            | Attribute::PublicExponent(v)
            | Attribute::EcParams(v)
            | Attribute::EcPoint(v)
            | Attribute::Value(v) => return Ok(v),
            _ => {}
        }
    }
    Err(Fail::Err(format!("attribute {t} not returned")))
}

fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// What is signed: the message for hash-and-sign mechanisms, a digest of the curve's size for CKM_ECDSA.
fn sign_input(spec: KeySpec) -> Vec<u8> {
    let m = message(100);
    match spec {
        KeySpec::Rsa(_) | KeySpec::Ed25519 => m,
        KeySpec::Ec(256) => sha2::Sha256::digest(&m).to_vec(),
        KeySpec::Ec(384) => sha2::Sha384::digest(&m).to_vec(),
        KeySpec::Ec(_) => sha2::Sha512::digest(&m).to_vec(),
    }
}

/// HMAC-SHA-256 computed here, independently of the modules.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = sha2::Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    sha2::Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Checks that `sig` verifies with the module's public key, that a changed input does not, and,
/// when the other module supports the mechanism, that the other module verifies it too (with the
/// public key imported as a session object). Returns a note of what was checked.
fn check_signature(
    m: &Module,
    other: Option<&Module>,
    spec: KeySpec,
    mech: Mech,
    public: ObjectHandle,
    data: &[u8],
    sig: &[u8],
) -> Res<String> {
    let mechanism = mech.mechanism();
    m.session
        .verify(&mechanism, public, data, sig)
        .map_err(|e| Fail::Err(format!("check failed: own C_Verify: {e}")))?;
    let mut bad = data.to_vec();
    bad[0] ^= 1;
    match m.session.verify(&mechanism, public, &bad, sig) {
        Err(Error::Pkcs11(RvError::SignatureInvalid, _)) => {}
        r => return Err(Fail::Err(format!("check failed: changed input gave {r:?}"))),
    }
    let mut note = "verifies, changed input rejected".to_string();
    let Some(o) = other else { return Ok(note) };
    if o.need(mech.mech_type()).is_err() {
        return Ok(note);
    }
    let mut t = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Token(false),
        Attribute::Verify(true),
    ];
    match spec {
        KeySpec::Rsa(_) => t.extend([
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(get_bytes(&m.session, public, AttributeType::Modulus)?),
            Attribute::PublicExponent(get_bytes(
                &m.session,
                public,
                AttributeType::PublicExponent,
            )?),
        ]),
        KeySpec::Ec(_) => t.extend([
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(get_bytes(&m.session, public, AttributeType::EcParams)?),
            Attribute::EcPoint(get_bytes(&m.session, public, AttributeType::EcPoint)?),
        ]),
        KeySpec::Ed25519 => t.extend([
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::EcParams(get_bytes(&m.session, public, AttributeType::EcParams)?),
            Attribute::EcPoint(get_bytes(&m.session, public, AttributeType::EcPoint)?),
        ]),
    }
    let h = o
        .session
        .create_object(&t)
        .map_err(|e| Fail::Err(format!("importing the public key into {}: {e}", o.name)))?;
    let r = o.session.verify(&mechanism, h, data, sig);
    let _ = o.session.destroy_object(h);
    r.map_err(|e| Fail::Err(format!("check failed: {} does not verify it: {e}", o.name)))?;
    let _ = write!(note, ", verified by {} too", o.name);
    Ok(note)
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

type OpFn<'a> = Box<dyn Fn(&Session) -> Result<bool, Error> + Sync + 'a>;
type HookFn<'a> = Box<dyn Fn(Option<f64>) -> Res<()> + 'a>;

/// A row made ready for one module: its check passed, `op` does one operation (false: nothing left
/// to do this round).
struct Prepared<'a> {
    op: OpFn<'a>,
    before_round: Option<HookFn<'a>>,
    after_round: Option<HookFn<'a>>,
    warmup: bool,
    note: String,
}

impl<'a> Prepared<'a> {
    fn new(op: OpFn<'a>, note: impl Into<String>) -> Self {
        Prepared {
            op,
            before_round: None,
            after_round: None,
            warmup: true,
            note: note.into(),
        }
    }
}

fn run_loop(op: &OpFn<'_>, s: &Session, secs: f64) -> Result<(u64, f64), Error> {
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        let more = op(s)?;
        if more {
            n += 1;
        }
        let el = start.elapsed().as_secs_f64();
        if !more || el >= secs {
            return Ok((n, el));
        }
    }
}

/// Runs the rounds; returns ops/s of each round (and with several threads, the scaling of each
/// round over one thread).
fn measure(o: &Opts, m: &Module, p: &Prepared<'_>, threads: usize) -> Res<(Vec<f64>, Vec<f64>)> {
    if threads > 1 {
        return measure_threads(o, m, p, threads);
    }
    if p.warmup {
        run_loop(&p.op, &m.session, o.secs * 0.2)?;
    }
    let mut rates = Vec::new();
    for _ in 0..o.rounds {
        if let Some(b) = &p.before_round {
            b(rates.last().copied())?;
        }
        let (n, el) = run_loop(&p.op, &m.session, o.secs)?;
        if let Some(a) = &p.after_round {
            a(None)?;
        }
        if n == 0 {
            return Err(Fail::Err("no operation completed in a round".into()));
        }
        rates.push(n as f64 / el);
    }
    Ok((rates, Vec::new()))
}

/// Each thread opens its own session; all start each round together; a round's figure is the total
/// number of operations over the longest thread's time. Each round is followed by as long a run of
/// the first thread alone, so the scaling is measured between neighbouring runs: on a shared
/// machine, one thread's speed drifts by more than the difference being measured.
fn measure_threads(
    o: &Opts,
    m: &Module,
    p: &Prepared<'_>,
    threads: usize,
) -> Res<(Vec<f64>, Vec<f64>)> {
    let barrier = Barrier::new(threads);
    let failed = AtomicBool::new(false);
    let error = Mutex::new(None::<String>);
    let counts = Mutex::new(vec![(0u64, 0f64); o.rounds]);
    let alone = Mutex::new(vec![0f64; o.rounds]);
    let first = AtomicBool::new(true);
    let sh = &m.sh;
    let op = &p.op;
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                let is_first = first.swap(false, Ordering::SeqCst);
                let fail = |e: String| {
                    failed.store(true, Ordering::SeqCst);
                    error.lock().unwrap().get_or_insert(e);
                };
                let session = match sh.p11.open_rw_session(sh.slot) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        fail(format!("C_OpenSession: {e}"));
                        None
                    }
                };
                if let Some(s) = &session {
                    if let Err(e) = run_loop(op, s, o.secs * 0.2) {
                        fail(e.to_string());
                    }
                }
                for r in 0..o.rounds {
                    // Every other round runs the lone thread first, so neither order is favoured.
                    for together in [r % 2 == 0, r % 2 == 1] {
                        barrier.wait();
                        let live = !failed.load(Ordering::SeqCst);
                        let runs = live && (together || is_first);
                        if let (Some(s), true) = (&session, runs) {
                            match run_loop(op, s, o.secs) {
                                Ok((n, el)) if together => {
                                    let mut c = counts.lock().unwrap();
                                    c[r].0 += n;
                                    c[r].1 = c[r].1.max(el);
                                }
                                Ok((0, _)) => fail("no operation completed alone".into()),
                                Ok((n, el)) => alone.lock().unwrap()[r] = n as f64 / el,
                                Err(e) => fail(e.to_string()),
                            }
                        }
                        barrier.wait();
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap() {
        return Err(Fail::Err(e));
    }
    let counts = counts.into_inner().unwrap();
    if counts.iter().any(|&(n, _)| n == 0) {
        return Err(Fail::Err("no operation completed in a round".into()));
    }
    let rates: Vec<f64> = counts.into_iter().map(|(n, el)| n as f64 / el).collect();
    let scaling = rates
        .iter()
        .zip(alone.into_inner().unwrap())
        .map(|(r, a)| r / a)
        .collect();
    Ok((rates, scaling))
}

fn prepare<'a>(row: &Row, m: &'a Module, other: Option<&'a Module>, o: &Opts) -> Res<Prepared<'a>> {
    let s = &m.session;
    let sh = &m.sh;
    match row.kind {
        RowKind::Sign(spec, mech) | RowKind::Verify(spec, mech) => {
            m.need(mech.mech_type())?;
            let (public, private) = m.key_pair(spec)?;
            let data = sign_input(spec);
            let mechanism = mech.mechanism();
            let sig = s.sign(&mechanism, private, &data)?;
            let expected_len = match spec {
                KeySpec::Rsa(bits) => bits as usize / 8,
                KeySpec::Ec(c) => 2 * c.div_ceil(8),
                KeySpec::Ed25519 => 64,
            };
            check(
                sig.len() == expected_len,
                format!("signature is {} bytes, not {expected_len}", sig.len()),
            )?;
            let note = check_signature(m, other, spec, mech, public, &data, &sig)?;
            if matches!(row.kind, RowKind::Sign(..)) {
                Ok(Prepared::new(
                    Box::new(move |s: &Session| {
                        s.sign(&mech.mechanism(), private, &data).map(|_| true)
                    }),
                    note,
                ))
            } else {
                Ok(Prepared::new(
                    Box::new(move |s: &Session| {
                        s.verify(&mech.mechanism(), public, &data, &sig)
                            .map(|_| true)
                    }),
                    note,
                ))
            }
        }
        RowKind::Decrypt(mech) => {
            m.need(mech.mech_type())?;
            let (public, private) = m.key_pair(KeySpec::Rsa(2048))?;
            let pt = message(32);
            let ct = match s.encrypt(&mech.mechanism(), public, &pt) {
                // SoftHSM 2.6.1 accepts OAEP with SHA-1 only and says CKR_ARGUMENTS_BAD otherwise.
                Err(Error::Pkcs11(RvError::ArgumentsBad, f)) if mech == Mech::OaepSha256 => {
                    return Err(Fail::Na(format!(
                        "OAEP with SHA-256 refused (CKR_ARGUMENTS_BAD from {f})"
                    )))
                }
                r => r?,
            };
            check(ct.len() == 256, "ciphertext is not 256 bytes")?;
            let back = s.decrypt(&mech.mechanism(), private, &ct)?;
            check(back == pt, "decrypted text differs from the plaintext")?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    s.decrypt(&mech.mechanism(), private, &ct).map(|_| true)
                }),
                "decrypts to the plaintext",
            ))
        }
        RowKind::Hmac(len) => {
            m.need(MechanismType::SHA256_HMAC)?;
            let mut key = vec![0u8; 32];
            getrandom::getrandom(&mut key).expect("getrandom");
            let h = s.create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
                Attribute::Verify(true),
                Attribute::Value(key.clone()),
                Attribute::Label(b"bench-hmac".to_vec()),
            ])?;
            let data = message(len);
            let mac = s.sign(&Mechanism::Sha256Hmac, h, &data)?;
            check(
                mac == hmac_sha256(&key, &data),
                "HMAC differs from the value computed independently",
            )?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| s.sign(&Mechanism::Sha256Hmac, h, &data).map(|_| true)),
                "matches HMAC-SHA-256 computed independently",
            ))
        }
        RowKind::Sym(sym) => prepare_sym(m, sym),
        RowKind::Derive(d) => prepare_derive(m, d),
        RowKind::GenKeyPair(spec) => {
            m.need(spec.gen_mech())?;
            let (public, private) = gen_key_pair(s, spec, "bench-gen")?;
            match spec {
                KeySpec::Rsa(bits) => check(
                    get_bytes(s, public, AttributeType::Modulus)?.len() == bits as usize / 8,
                    "modulus length",
                )?,
                KeySpec::Ec(c) => {
                    let point = get_bytes(s, public, AttributeType::EcPoint)?;
                    // DER OCTET STRING (or raw) of an uncompressed point.
                    let raw = 1 + 2 * c.div_ceil(8);
                    check(
                        point.len() == raw || point.len() == raw + 2,
                        "EC point length",
                    )?
                }
                KeySpec::Ed25519 => {
                    let point = get_bytes(s, public, AttributeType::EcPoint)?;
                    check(point.len() == 32 || point.len() == 34, "Ed25519 key length")?
                }
            }
            let data = sign_input(spec);
            let sig_mech = match spec {
                KeySpec::Rsa(_) => Mechanism::Sha256RsaPkcs,
                KeySpec::Ec(_) => Mechanism::Ecdsa,
                KeySpec::Ed25519 => Mech::Eddsa.mechanism(),
            };
            if m.need(sig_mech.mechanism_type()).is_ok() {
                let sig = s.sign(&sig_mech, private, &data)?;
                s.verify(&sig_mech, public, &data, &sig)
                    .map_err(|e| Fail::Err(format!("check failed: new key's signature: {e}")))?;
            }
            s.destroy_object(public)?;
            s.destroy_object(private)?;
            let made = Arc::new(Mutex::new(Vec::new()));
            let made2 = made.clone();
            let mut p = Prepared::new(
                Box::new(move |s: &Session| {
                    let (a, b) = gen_key_pair(s, spec, "bench-gen")?;
                    made2.lock().unwrap().extend([a, b]);
                    Ok(true)
                }),
                "key length checked, new key signs and verifies",
            );
            p.warmup = false;
            // Session objects made while timing are destroyed between rounds, untimed.
            p.after_round = Some(Box::new(move |_| {
                for h in made.lock().unwrap().drain(..) {
                    s.destroy_object(h)?;
                }
                Ok(())
            }));
            Ok(p)
        }
        RowKind::OpenClose => {
            let t = sh.p11.open_ro_session(sh.slot)?;
            check(t.get_session_info()?.slot_id() == sh.slot, "session's slot")?;
            t.close()?;
            Ok(Prepared::new(
                Box::new(move |_: &Session| {
                    let t = sh.p11.open_ro_session(sh.slot)?;
                    t.close()?;
                    Ok(true)
                }),
                "session on the token's slot",
            ))
        }
        RowKind::GetLabel => {
            let n = sh.objects.len();
            check(n > 0, "no token objects")?;
            check(
                get_bytes(s, sh.objects[n / 2], AttributeType::Label)?
                    == format!("obj-{:06}", n / 2).into_bytes(),
                "CKA_LABEL value",
            )?;
            let i = AtomicUsize::new(0);
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    let k = i.fetch_add(1, Ordering::Relaxed) % n;
                    s.get_attributes(sh.objects[k], &[AttributeType::Label])
                        .map(|_| true)
                }),
                "label read back",
            ))
        }
        RowKind::FindLabel | RowKind::FindId => {
            let by_label = matches!(row.kind, RowKind::FindLabel);
            let n = sh.objects.len();
            check(n > 0, "no token objects")?;
            let tmpl = move |k: usize| {
                if by_label {
                    Attribute::Label(format!("obj-{k:06}").into_bytes())
                } else {
                    Attribute::Id(format!("id-{k:06}").into_bytes())
                }
            };
            for k in [0, n / 2, n - 1] {
                let found = s.find_objects(&[tmpl(k)])?;
                check(
                    found == vec![sh.objects[k]],
                    format!("find object {k} returned {found:?}"),
                )?;
            }
            // Objects are found in a scattered order, not sequentially.
            let i = AtomicUsize::new(0);
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    let k = (i.fetch_add(1, Ordering::Relaxed) * 7919) % n;
                    let found = s.find_objects(&[tmpl(k)])?;
                    if found.len() != 1 {
                        return Err(Error::NotSupported);
                    }
                    Ok(true)
                }),
                "finds exactly the right object",
            ))
        }
        RowKind::Create => {
            let label = |k: usize| format!("new-{k:06}");
            let k = sh.created.fetch_add(1, Ordering::Relaxed);
            let h = s.create_object(&object_template(&label(k), &label(k)))?;
            check(
                s.find_objects(&[Attribute::Label(label(k).into_bytes())])? == vec![h],
                "the new object is found by its label",
            )?;
            sh.pool.lock().unwrap().push(h);
            let mut p = Prepared::new(
                Box::new(move |s: &Session| {
                    let k = sh.created.fetch_add(1, Ordering::Relaxed);
                    let h = s.create_object(&object_template(&label(k), &label(k)))?;
                    sh.pool.lock().unwrap().push(h);
                    Ok(true)
                }),
                "created object is found",
            );
            p.warmup = false;
            Ok(p)
        }
        RowKind::Destroy => {
            let label = |k: usize| format!("new-{k:06}");
            let refill = move |target: usize| -> Res<()> {
                while sh.pool.lock().unwrap().len() < target {
                    let k = sh.created.fetch_add(1, Ordering::Relaxed);
                    let h = s.create_object(&object_template(&label(k), &label(k)))?;
                    sh.pool.lock().unwrap().push(h);
                }
                Ok(())
            };
            refill(1)?;
            let h = sh.pool.lock().unwrap().pop().unwrap();
            s.destroy_object(h)?;
            match s.get_attributes(h, &[AttributeType::Label]) {
                Err(Error::Pkcs11(RvError::ObjectHandleInvalid, _)) => {}
                r => check(false, format!("destroyed object still answers: {r:?}"))?,
            }
            let secs = o.secs;
            let mut p = Prepared::new(
                Box::new(move |s: &Session| {
                    let Some(h) = sh.pool.lock().unwrap().pop() else {
                        return Ok(false);
                    };
                    s.destroy_object(h)?;
                    Ok(true)
                }),
                "destroyed handle is invalid",
            );
            p.warmup = false;
            // Enough objects for a whole round, made untimed before it (the create row's first).
            p.before_round = Some(Box::new(move |last: Option<f64>| {
                let rate = last.unwrap_or_else(|| sh.create_rate.lock().unwrap().max(100.0) * 2.0);
                refill(((rate * secs * 1.5).ceil() as usize + 10).min(100_000))
            }));
            Ok(p)
        }
        RowKind::Fresh(_) | RowKind::KdfAlone | RowKind::BeyondKdf => {
            unreachable!("fresh-process rows are run apart")
        }
    }
}

/// The template of every derived key: a 32-byte generic secret session object whose value can be
/// read back for the check.
fn derived_template() -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen(32u64.into()),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

/// A session key pair for key agreement (CKA_DERIVE on the private key) on a NIST curve
/// (`Some(bits)`) or X25519 (`None`); returns the public key's raw value (an uncompressed point, or
/// the 32-byte u-coordinate) and the private key.
fn agreement_pair(m: &Module, curve: Option<usize>) -> Res<(Vec<u8>, ObjectHandle)> {
    let (mech, params, raw_len) = match curve {
        Some(c) => (
            Mechanism::EccKeyPairGen,
            ec_oid(c).to_vec(),
            1 + 2 * c.div_ceil(8),
        ),
        // id-X25519, 1.3.101.110
        None => (
            Mechanism::EccMontgomeryKeyPairGen,
            vec![0x06, 0x03, 0x2b, 0x65, 0x6e],
            32,
        ),
    };
    m.need(mech.mechanism_type())?;
    m.need(MechanismType::ECDH1_DERIVE)?;
    let (public, private) = m.session.generate_key_pair(
        &mech,
        &[
            Attribute::EcParams(params),
            Attribute::Token(false),
            Attribute::Derive(true),
        ],
        &[
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Derive(true),
        ],
    )?;
    let point = get_bytes(&m.session, public, AttributeType::EcPoint)?;
    // CKA_EC_POINT is a DER OCTET STRING (04 len value) or, with some modules, the raw value.
    let raw = if point.len() == raw_len + 2 && point[0] == 0x04 && point[1] as usize == raw_len {
        point[2..].to_vec()
    } else {
        point
    };
    check(
        raw.len() == raw_len,
        format!("public value is {} bytes, not {raw_len}", raw.len()),
    )?;
    Ok((raw, private))
}

/// A generic secret session key with a random 32-byte value, usable as a KDF's base key. Not
/// sensitive and extractable: a key derived from a sensitive (or unextractable) key is so too
/// (PKCS #11 3.0, HKDF and SP 800-108), and the check reads the derived value back.
fn kdf_base_key(s: &Session) -> Res<(Vec<u8>, ObjectHandle)> {
    let mut value = vec![0u8; 32];
    getrandom::getrandom(&mut value).expect("getrandom");
    let h = s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Derive(true),
        Attribute::Value(value.clone()),
    ])?;
    Ok((value, h))
}

/// CKM_ECDH1_DERIVE with CKD_NULL and the peer's raw public value.
fn ecdh_null(peer: &[u8]) -> Mechanism<'_> {
    Mechanism::Ecdh1Derive(cryptoki::mechanism::elliptic_curve::Ecdh1DeriveParams::new(
        cryptoki::mechanism::elliptic_curve::EcKdf::null(),
        peer,
    ))
}

/// CKM_HKDF_DERIVE with SHA-256, extract (salt as data) and expand.
fn hkdf_sha256<'a>(salt: &'a [u8], info: &'a [u8]) -> Mechanism<'a> {
    Mechanism::HkdfDerive(cryptoki::mechanism::hkdf::HkdfParams::new(
        MechanismType::SHA256,
        Some(cryptoki::mechanism::hkdf::HkdfSalt::Data(salt)),
        Some(info),
    ))
}

fn prepare_derive<'a>(m: &'a Module, d: Derive) -> Res<Prepared<'a>> {
    let s = &m.session;
    // Derives once with `mech` and reads the value back (then destroys the derived key).
    let derive_value = |mech: &Mechanism, base: ObjectHandle| -> Res<Vec<u8>> {
        let k = match s.derive_key(mech, base, &derived_template()) {
            Err(Error::Pkcs11(RvError::MechanismInvalid | RvError::MechanismParamInvalid, f))
                if m.kind != Kind::Ferrohsm =>
            {
                return Err(Fail::Na(format!(
                    "{} refused by {f}",
                    mech.mechanism_type()
                )));
            }
            r => r?,
        };
        let v = get_bytes(s, k, AttributeType::Value)?;
        s.destroy_object(k)?;
        check(v.len() == 32, format!("derived {} bytes, not 32", v.len()))?;
        Ok(v)
    };
    match d {
        Derive::Ecdh(_) | Derive::X25519 => {
            let curve = match d {
                Derive::Ecdh(c) => Some(c),
                _ => None,
            };
            // Two key pairs on the token: each side's secret from its private key and the other's
            // public value must be the same (and not zero).
            let (pub_a, priv_a) = agreement_pair(m, curve)?;
            let (pub_b, priv_b) = agreement_pair(m, curve)?;
            let null = ecdh_null;
            let ab = derive_value(&null(&pub_b), priv_a)?;
            let ba = derive_value(&null(&pub_a), priv_b)?;
            check(
                ab == ba,
                "the two sides of the agreement derived different secrets",
            )?;
            check(ab.iter().any(|&b| b != 0), "the shared secret is zero")?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    let k = s.derive_key(&null(&pub_b), priv_a, &derived_template())?;
                    s.destroy_object(k)?;
                    Ok(true)
                }),
                "both sides of the agreement derive the same secret",
            ))
        }
        Derive::HkdfSha256 => {
            m.need(MechanismType::HKDF_DERIVE)?;
            let (ikm, base) = kdf_base_key(s)?;
            let salt = message(16);
            let info = b"ferrohsm bench 1".to_vec();
            let mech = hkdf_sha256;
            let got = derive_value(&mech(&salt, &info), base)?;
            // RFC 5869: PRK = HMAC(salt, IKM), T(1) = HMAC(PRK, info || 0x01)
            let prk = hmac_sha256(&salt, &ikm);
            let want = hmac_sha256(&prk, &[info.as_slice(), &[1]].concat());
            check(
                got == want,
                "HKDF output differs from the value computed independently",
            )?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    let k = s.derive_key(&mech(&salt, &info), base, &derived_template())?;
                    s.destroy_object(k)?;
                    Ok(true)
                }),
                "matches HKDF-SHA-256 computed independently",
            ))
        }
        Derive::Sp800Counter => {
            use cryptoki::mechanism::kbkdf::{
                Endianness, KbkdfCounterFormat, KbkdfParams, PrfDataParam, PrfDataParamType,
            };
            m.need(MechanismType::SP800_108_COUNTER_KDF)?;
            let (key, base) = kdf_base_key(s)?;
            let label = b"ferrohsm bench label and context".to_vec();
            let width = std::num::NonZeroUsize::new(32).unwrap();
            let derive = move |s: &Session, label: &[u8]| -> Result<ObjectHandle, Error> {
                let counter = KbkdfCounterFormat::new(Endianness::Big, width);
                let data = [
                    PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&counter))),
                    PrfDataParam::new(PrfDataParamType::ByteArray(label)),
                ];
                let params = KbkdfParams::new(MechanismType::SHA256_HMAC, &data, None);
                s.derive_key(&Mechanism::KbkdfCounter(params), base, &derived_template())
            };
            let k = derive(s, &label)?;
            let got = get_bytes(s, k, AttributeType::Value)?;
            s.destroy_object(k)?;
            // SP 800-108 counter mode, one block: K(1) = HMAC(key, [1]_32 || label)
            let want = hmac_sha256(&key, &[&[0u8, 0, 0, 1][..], &label].concat());
            check(
                got == want,
                "SP 800-108 output differs from the value computed independently",
            )?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    let k = derive(s, &label)?;
                    s.destroy_object(k)?;
                    Ok(true)
                }),
                "matches SP 800-108 counter HMAC-SHA-256 computed independently",
            ))
        }
    }
}

/// An AES-256 session key with a random value both modules can be given.
fn aes_key(s: &Session, value: &[u8], extractable: bool) -> Res<ObjectHandle> {
    Ok(s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(!extractable),
        Attribute::Extractable(extractable),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Value(value.to_vec()),
    ])?)
}

/// The symmetric rows. Each result is checked once against the RustCrypto crates computing the
/// same thing directly (independent of the module's path for GCM, which runs on aws-lc).
fn prepare_sym<'a>(m: &'a Module, sym: Sym) -> Res<Prepared<'a>> {
    use aes_gcm_011::aead::{AeadInOut, KeyInit};
    use cipher::{BlockModeEncrypt, KeyIvInit};
    use cryptoki::mechanism::aead::GcmParams;
    let s = &m.session;
    let mut kv = [0u8; 32];
    getrandom::getrandom(&mut kv).expect("getrandom");
    let iv = [7u8; 12];
    let gcm_expected = |data: &[u8]| -> Vec<u8> {
        let g = aes_gcm_011::Aes256Gcm::new_from_slice(&kv).unwrap();
        let mut buf = data.to_vec();
        let tag = g
            .encrypt_inout_detached(&iv.into(), b"", buf.as_mut_slice().into())
            .unwrap();
        buf.extend_from_slice(&tag);
        buf
    };
    match sym {
        Sym::GcmEncrypt(_) | Sym::GcmStream => {
            m.need(MechanismType::AES_GCM)?;
            let k = aes_key(s, &kv, false)?;
            let len = match sym {
                Sym::GcmEncrypt(n) => n,
                _ => 1 << 20,
            };
            let data = message(len);
            let want = gcm_expected(&data);
            let stream = sym == Sym::GcmStream;
            // cryptoki's GcmParams borrows the IV, and a Mechanism is not Sync: each call makes
            // its own (a few stores).
            let run = move |s: &Session| -> Result<Vec<u8>, Error> {
                let mut ivc = iv;
                let mech = Mechanism::AesGcm(
                    GcmParams::new(&mut ivc, b"", 128.into()).expect("GCM parameters"),
                );
                if !stream {
                    return s.encrypt(&mech, k, &data);
                }
                s.encrypt_init(&mech, k)?;
                let mut out = Vec::with_capacity(len + 16);
                for c in data.chunks(64 * 1024) {
                    out.extend(s.encrypt_update(c)?);
                }
                out.extend(s.encrypt_final()?);
                Ok(out)
            };
            check(
                run(s)? == want,
                "GCM differs from AES-GCM computed directly",
            )?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| run(s).map(|_| true)),
                "matches AES-GCM computed directly (RustCrypto)",
            ))
        }
        Sym::CbcEncrypt(len) => {
            m.need(MechanismType::AES_CBC)?;
            let k = aes_key(s, &kv, false)?;
            let data = message(len);
            let ivb = [9u8; 16];
            let mut want = data.clone();
            let (blocks, _) =
                cipher::array::Array::<u8, cipher::consts::U16>::slice_as_chunks_mut(&mut want);
            cbc::Encryptor::<aes::Aes256>::new_from_slices(&kv, &ivb)
                .unwrap()
                .encrypt_blocks(blocks);
            let mech = Mechanism::AesCbc(ivb);
            check(
                s.encrypt(&mech, k, &data)? == want,
                "CBC differs from AES-CBC computed directly",
            )?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    s.encrypt(&Mechanism::AesCbc(ivb), k, &data).map(|_| true)
                }),
                "matches AES-CBC computed directly (RustCrypto)",
            ))
        }
        Sym::Cmac(len) => {
            m.need(MechanismType::AES_CMAC)?;
            let k = aes_key(s, &kv, false)?;
            let data = message(len);
            let mut mac = <cmac::Cmac<aes::Aes256> as cmac::KeyInit>::new_from_slice(&kv).unwrap();
            cmac::Mac::update(&mut mac, &data);
            let want = cmac::Mac::finalize(mac).into_bytes().to_vec();
            check(
                s.sign(&Mechanism::AesCMac, k, &data)? == want,
                "CMAC differs from AES-CMAC computed directly",
            )?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| s.sign(&Mechanism::AesCMac, k, &data).map(|_| true)),
                "matches AES-CMAC computed directly (RustCrypto)",
            ))
        }
        Sym::KeyWrap => {
            m.need(MechanismType::AES_KEY_WRAP)?;
            let kek = aes_key(s, &kv, false)?;
            let mut tv = [0u8; 32];
            getrandom::getrandom(&mut tv).expect("getrandom");
            let target = aes_key(s, &tv, true)?;
            let blob = s.wrap_key(&Mechanism::AesKeyWrap, kek, target)?;
            let mut want = vec![0u8; 40];
            aes_kw::AesKw::<aes::Aes256>::new_from_slice(&kv)
                .unwrap()
                .wrap_key(&tv, &mut want)
                .unwrap();
            check(
                blob == want,
                "wrapped key differs from RFC 3394 computed directly",
            )?;
            Ok(Prepared::new(
                Box::new(move |s: &Session| {
                    s.wrap_key(&Mechanism::AesKeyWrap, kek, target)
                        .map(|_| true)
                }),
                "matches RFC 3394 key wrap computed directly (RustCrypto)",
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fresh process: C_Initialize + C_Login in a child, and the KDF alone
// ---------------------------------------------------------------------------------------------

/// The generic secret key a fresh process signs with (HMAC-SHA256).
fn sign_key(s: &Session) -> Result<ObjectHandle, Error> {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sign(true),
        Attribute::Label(SIGN_KEY_LABEL.as_bytes().to_vec()),
        Attribute::Value(vec![0x5a; 32]),
    ])
}

/// Worker mode: `--worker-setup-empty MODULE`: makes the token EMPTY_LABEL with the user PIN and
/// the signing key, in the directory the environment's configuration names.
fn worker_setup_empty(module: &str) -> Result<(), String> {
    let e = |what: &'static str| move |err: Error| format!("{what}: {err}");
    let p11 = Pkcs11::new(module).map_err(|e| format!("loading: {e}"))?;
    p11.initialize(init_args()).map_err(e("C_Initialize"))?;
    let free = p11
        .get_slots_with_token()
        .map_err(e("C_GetSlotList"))?
        .into_iter()
        .find(|s| p11.get_token_info(*s).is_ok_and(|t| !t.token_initialized()))
        .ok_or("no free token slot")?;
    p11.init_token(free, &pin(SO_PIN), EMPTY_LABEL)
        .map_err(e("C_InitToken"))?;
    let slot = find_token_slot(&p11, EMPTY_LABEL)
        .map_err(e("C_GetTokenInfo"))?
        .ok_or("token not found")?;
    let s = p11.open_rw_session(slot).map_err(e("C_OpenSession"))?;
    s.login(UserType::So, Some(&pin(SO_PIN)))
        .map_err(e("C_Login(SO)"))?;
    s.init_pin(&pin(USER_PIN)).map_err(e("C_InitPIN"))?;
    s.logout().map_err(e("C_Logout"))?;
    s.login(UserType::User, Some(&pin(USER_PIN)))
        .map_err(e("C_Login(USER)"))?;
    sign_key(&s).map_err(e("C_CreateObject"))?;
    drop(s);
    p11.finalize().map_err(e("C_Finalize"))?;
    Ok(())
}

/// Worker mode: `--worker-sign-once MODULE LABEL`: loads the module, logs in to the token,
/// finds the signing key, signs 32 bytes with HMAC-SHA256, finalizes and exits; the parent times
/// it from spawn to exit.
fn worker_sign_once(module: &str, label: &str) -> Result<(), String> {
    let p11 = Pkcs11::new(module).map_err(|e| format!("loading: {e}"))?;
    p11.initialize(init_args())
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let slot = find_token_slot(&p11, label)
        .map_err(|e| format!("slots: {e}"))?
        .ok_or("token not found")?;
    let s = p11
        .open_ro_session(slot)
        .map_err(|e| format!("C_OpenSession: {e}"))?;
    s.login(UserType::User, Some(&pin(USER_PIN)))
        .map_err(|e| format!("C_Login: {e}"))?;
    let k = s
        .find_objects(&[Attribute::Label(SIGN_KEY_LABEL.as_bytes().to_vec())])
        .map_err(|e| format!("C_FindObjects: {e}"))?;
    let k = *k.first().ok_or("no signing key")?;
    let sig = s
        .sign(&Mechanism::Sha256Hmac, k, &[7u8; 32])
        .map_err(|e| format!("C_Sign: {e}"))?;
    if sig != hmac_sha256(&[0x5a; 32], &[7u8; 32]) {
        return Err("wrong HMAC".into());
    }
    drop(s);
    p11.finalize().map_err(|e| format!("C_Finalize: {e}"))?;
    println!("SIGNED");
    Ok(())
}

/// Worker mode: `--worker-list MODULE LABEL`: loads the module, lists the slots and every token's
/// information, opens and closes a session on the token LABEL without logging in, finalizes and
/// exits (what `pkcs11-tool -L` or a health check does); the parent times it from spawn to exit.
fn worker_list(module: &str, label: &str) -> Result<(), String> {
    let p11 = Pkcs11::new(module).map_err(|e| format!("loading: {e}"))?;
    p11.initialize(init_args())
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let slot = find_token_slot(&p11, label)
        .map_err(|e| format!("slots: {e}"))?
        .ok_or("token not found")?;
    let s = p11
        .open_ro_session(slot)
        .map_err(|e| format!("C_OpenSession: {e}"))?;
    drop(s);
    p11.finalize().map_err(|e| format!("C_Finalize: {e}"))?;
    println!("LISTED");
    Ok(())
}

/// Worker mode: `--worker-init-login MODULE [LABEL]`; the environment names the configuration.
fn worker_init_login(module: &str, label: &str) -> Result<(), String> {
    let p11 = Pkcs11::new(module).map_err(|e| format!("loading: {e}"))?;
    let t0 = Instant::now();
    p11.initialize(init_args())
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let init = t0.elapsed().as_secs_f64();
    let slot = find_token_slot(&p11, label)
        .map_err(|e| format!("slots: {e}"))?
        .ok_or("token not found")?;
    let s = p11
        .open_ro_session(slot)
        .map_err(|e| format!("C_OpenSession: {e}"))?;
    let t1 = Instant::now();
    s.login(UserType::User, Some(&pin(USER_PIN)))
        .map_err(|e| format!("C_Login: {e}"))?;
    let login = t1.elapsed().as_secs_f64();
    // The token's objects are there: the child sees the same token.
    let found = s
        .find_objects(&[Attribute::Label(SIGN_KEY_LABEL.as_bytes().to_vec())])
        .map_err(|e| format!("C_FindObjects: {e}"))?;
    println!("FRESH init_s={init} login_s={login} found={}", found.len());
    Ok(())
}

#[derive(Debug, Clone, Default)]
struct Fresh {
    /// C_Initialize and C_Login of the `First { full: true }` series (for the KDF rows).
    init_s: Vec<f64>,
    login_s: Vec<f64>,
    /// Seconds per process, by series: init + login, or spawn to exit.
    series: HashMap<Series, Vec<f64>>,
    /// Median of `kdf_cold_s`.
    kdf_s: Option<f64>,
    kdf_cold_s: Vec<f64>,
    kdf_warm_s: Option<f64>,
    kdf_what: String,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Ferrohsm => "ferrohsm",
        Kind::SoftHsm => "softhsm",
        Kind::Other => "other",
    }
}

type KdfRun = (Box<dyn Fn()>, String);

/// The module's PIN KDF, computed here independently of the module.
fn kdf_fn(kind: Kind, (mem, t): (u32, u32)) -> Option<KdfRun> {
    match kind {
        Kind::Ferrohsm => {
            let params = argon2::Params::new(mem, t, 1, Some(32)).expect("argon2 params");
            let a2 =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            Some((
                Box::new(move || {
                    let mut out = [0u8; 32];
                    a2.hash_password_into(USER_PIN.as_bytes(), &[7u8; 16], &mut out)
                        .expect("argon2");
                    std::hint::black_box(out);
                }),
                format!("Argon2id m={mem} KiB t={t} p=1"),
            ))
        }
        Kind::SoftHsm => Some((
            Box::new(|| {
                // RFC 4880 iterated SHA-256 as SoftHSM's PBEDeriveKey: 1500 + last salt byte
                // rounds; a middle value (128) for the salt byte.
                let mut d = sha2::Sha256::new()
                    .chain_update([0x55u8; 8])
                    .chain_update(USER_PIN.as_bytes())
                    .finalize();
                for _ in 1..SOFTHSM_PBE_BASE + 128 {
                    d = sha2::Sha256::digest(d);
                }
                std::hint::black_box(d);
            }),
            format!(
                "RFC 4880 iterated SHA-256, {} rounds, estimate",
                SOFTHSM_PBE_BASE + 128
            ),
        )),
        Kind::Other => None,
    }
}

/// The token of a fresh-process row and its configuration: the main token (with the run's
/// objects) or the empty one, in its own directory.
fn fresh_target(m: &Module, full: bool) -> (&'static str, &[(String, PathBuf)]) {
    if full {
        (TOKEN_LABEL, &m.env)
    } else {
        (EMPTY_LABEL, &m.env_empty)
    }
}

/// Runs this binary in a worker `mode` on the fresh-process token of `full`: its output, and the
/// seconds from spawn to exit.
fn run_worker(exe: &Path, m: &Module, full: bool, mode: &str) -> Res<(std::process::Output, f64)> {
    let (label, env) = fresh_target(m, full);
    let t0 = Instant::now();
    let out = Command::new(exe)
        .arg(mode)
        .arg(&m.path)
        .arg(label)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| Fail::Err(format!("spawning the worker ({mode}): {e}")))?;
    Ok((out, t0.elapsed().as_secs_f64()))
}

/// One fresh process logging in (`--worker-init-login`): (C_Initialize, C_Login) seconds.
fn fresh_login(exe: &Path, m: &Module, full: bool) -> Res<(f64, f64)> {
    let (out, _) = run_worker(exe, m, full, "--worker-init-login")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("FRESH "));
    let (Some(line), true) = (line, out.status.success()) else {
        return Err(Fail::Err(format!(
            "worker failed ({}): {} {}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    };
    let field = |k: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
    };
    let (Some(i), Some(l), Some(found)) = (field("init_s="), field("login_s="), field("found="))
    else {
        return Err(Fail::Err(format!("worker printed {line:?}")));
    };
    check(found == 1.0, "the worker does not find the signing key")?;
    Ok((i, l))
}

/// One fresh process that logs in and signs once (`--worker-sign-once`, prints SIGNED) or only
/// lists the tokens (`--worker-list`, prints LISTED): spawn to exit, seconds.
fn fresh_spawn(exe: &Path, m: &Module, full: bool, mode: &str, says: &str) -> Res<f64> {
    let (out, took) = run_worker(exe, m, full, mode)?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains(says) {
        return Err(Fail::Err(format!(
            "worker {mode} failed ({}): {} {}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(took)
}

fn run_fresh(o: &Opts, m: &Module) -> Res<Fresh> {
    let exe = std::env::current_exe().map_err(|e| Fail::Err(e.to_string()))?;
    let mut f = Fresh::default();
    for full in [false, true] {
        for _ in 0..o.rounds {
            // The login cache (ferrohsm's, in this session's kernel keyring) emptied first.
            ferrohsm::login_cache::LoginCache::forget_all();
            let (i, l) = fresh_login(&exe, m, full)?;
            f.series
                .entry(Series::First { full })
                .or_default()
                .push(i + l);
            if full {
                f.init_s.push(i);
                f.login_s.push(l);
            }
        }
        // Warm: one login fills the cache, then the measured ones.
        fresh_login(&exe, m, full)?;
        for _ in 0..o.rounds {
            let (i, l) = fresh_login(&exe, m, full)?;
            f.series
                .entry(Series::Later { full })
                .or_default()
                .push(i + l);
        }
        for _ in 0..o.rounds {
            let t = fresh_spawn(&exe, m, full, "--worker-sign-once", "SIGNED")?;
            f.series.entry(Series::Spawn { full }).or_default().push(t);
        }
        for _ in 0..o.rounds {
            let t = fresh_spawn(&exe, m, full, "--worker-list", "LISTED")?;
            f.series.entry(Series::List { full }).or_default().push(t);
        }
    }
    // The KDF alone, with the module's parameters, in a fresh process as well (a first Argon2 run
    // pays for fresh memory pages), and warm in this process.
    if let Some((run, what)) = kdf_fn(m.kind, m.kdf) {
        for _ in 0..o.rounds {
            let out = Command::new(&exe)
                .arg("--worker-kdf")
                .arg(kind_name(m.kind))
                .arg(m.kdf.0.to_string())
                .arg(m.kdf.1.to_string())
                .output()
                .map_err(|e| Fail::Err(format!("spawning the KDF worker: {e}")))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix("KDF s="))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| Fail::Err(format!("KDF worker printed {:?}", text.trim())))?;
            f.kdf_cold_s.push(v);
        }
        run();
        let mut times = Vec::new();
        for _ in 0..o.rounds.max(3) {
            let t0 = Instant::now();
            run();
            times.push(t0.elapsed().as_secs_f64());
        }
        f.kdf_s = Some(median(&f.kdf_cold_s));
        f.kdf_warm_s = Some(median(&times));
        f.kdf_what = what;
    }
    Ok(f)
}

// ---------------------------------------------------------------------------------------------
// Results and output
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Cellv {
    Ok {
        rates: Vec<f64>,
        note: String,
        /// With `--threads 2`: each round's rate over one thread's rate in the same round.
        scaling: Vec<f64>,
    },
    Na(String),
    Err(String),
}

impl Cellv {
    fn median(&self) -> Option<f64> {
        match self {
            Cellv::Ok { rates, .. } => Some(median(rates)),
            _ => None,
        }
    }
}

/// One line per cell (row × module) for which `f` has one, in table order.
fn cell_lines(
    results: &[Result1],
    names: &[String],
    f: impl Fn(&str, &str, &Cellv) -> Option<String>,
) -> Vec<String> {
    results
        .iter()
        .flat_map(|r| {
            r.cells
                .iter()
                .zip(names)
                .filter_map(|(c, n)| f(&r.row.name, n, c))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn fmt_rate(v: f64) -> String {
    if v >= 1000.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_cell(c: &Cellv) -> String {
    match c {
        Cellv::Ok { rates, .. } => format!(
            "{} ({}..{})",
            fmt_rate(median(rates)),
            fmt_rate(min(rates)),
            fmt_rate(max(rates))
        ),
        Cellv::Na(_) => "n/a".into(),
        Cellv::Err(_) => "ERROR".into(),
    }
}

fn ratio(cells: &[Cellv]) -> Option<f64> {
    match (cells.first()?.median(), cells.get(1)?.median()) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => format!("{r:.0}x"),
        Some(r) if r >= 1.0 => format!("{r:.2}x"),
        Some(r) => format!("{r:.3}x"),
        None => "-".into(),
    }
}

struct Result1 {
    row: Row,
    cells: Vec<Cellv>,
}

fn print_table(names: &[String], results: &[Result1]) {
    let mut head = vec!["row".to_string()];
    for n in names {
        head.push(format!("{n} ops/s (min..max)"));
    }
    if names.len() == 2 {
        head.push(format!("ratio {}/{}", names[0], names[1]));
    }
    let mut lines = vec![head];
    for r in results {
        let mut l = vec![r.row.name.clone()];
        l.extend(r.cells.iter().map(fmt_cell));
        if names.len() == 2 {
            l.push(fmt_ratio(ratio(&r.cells)));
        }
        lines.push(l);
    }
    let cols = lines[0].len();
    let w: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c == 0 {
                    format!("{s:<w$}", w = w[c])
                } else {
                    format!("{s:>w$}", w = w[c])
                }
            })
            .collect();
        println!("{}", cells.join(" | "));
        if i == 0 {
            let sep: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
            println!("{}", sep.join("-|-"));
        }
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_nums(v: &[f64]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|&x| json_num(x))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn write_json(
    path: &Path,
    o: &Opts,
    mods: &[Module],
    results: &[Result1],
    fresh: &[Option<Fresh>],
) -> std::io::Result<()> {
    let mut j = String::from("{\n");
    let _ = writeln!(j, "  \"benchmark\": \"pkcs11\",");
    let _ = writeln!(
        j,
        "  \"options\": {{\"rounds\": {}, \"seconds_per_round\": {}, \"threads\": {}, \"objects\": {}, \"quick\": {}, \"fast_kdf\": {}, \"rows\": {}}},",
        o.rounds,
        o.secs,
        o.threads,
        o.objects,
        o.quick,
        o.fast_kdf,
        o.rows.as_ref().map(|r| json_str(r.as_str())).unwrap_or("null".into())
    );
    let _ = writeln!(j, "  \"unit\": \"ops/s\",");
    let mods_j: Vec<String> = mods
        .iter()
        .map(|m| {
            format!(
                "    {{\"name\": {}, \"path\": {}, \"library\": {}}}",
                json_str(&m.name),
                json_str(&m.path.to_string_lossy()),
                json_str(&m.description)
            )
        })
        .collect();
    let _ = writeln!(j, "  \"modules\": [\n{}\n  ],", mods_j.join(",\n"));
    let mut rows_j = Vec::new();
    for r in results {
        let cells: Vec<String> = r
            .cells
            .iter()
            .zip(mods)
            .map(|(c, m)| {
                let body = match c {
                    Cellv::Ok {
                        rates,
                        note,
                        scaling,
                    } => format!(
                        "\"status\": \"ok\", \"median\": {}, \"min\": {}, \"max\": {}, \"rounds\": {}, \"check\": {}{}",
                        json_num(median(rates)),
                        json_num(min(rates)),
                        json_num(max(rates)),
                        json_nums(rates),
                        json_str(note),
                        if scaling.is_empty() {
                            String::new()
                        } else {
                            format!(
                                ", \"scaling_over_one_thread\": {{\"median\": {}, \"rounds\": {}}}",
                                json_num(median(scaling)),
                                json_nums(scaling)
                            )
                        }
                    ),
                    Cellv::Na(why) => format!("\"status\": \"n/a\", \"reason\": {}", json_str(why)),
                    Cellv::Err(why) => format!("\"status\": \"error\", \"reason\": {}", json_str(why)),
                };
                format!("{}: {{{body}}}", json_str(&m.name))
            })
            .collect();
        let threads = if r.row.threaded() { o.threads } else { 1 };
        rows_j.push(format!(
            "    {{\"row\": {}, \"threads\": {threads}, \"results\": {{{}}}, \"ratio\": {}}}",
            json_str(&r.row.name),
            cells.join(", "),
            ratio(&r.cells).map(json_num).unwrap_or("null".into())
        ));
    }
    let _ = writeln!(j, "  \"rows\": [\n{}\n  ],", rows_j.join(",\n"));
    let fresh_j: Vec<String> = mods
        .iter()
        .zip(fresh)
        .filter_map(|(m, f)| {
            let f = f.as_ref()?;
            let total: Vec<f64> = f.init_s.iter().zip(&f.login_s).map(|(a, b)| a + b).collect();
            Some(format!(
                "    {}: {{\"init_s\": {}, \"login_s\": {}, \"total_median_s\": {}, \"kdf_s\": {}, \"kdf_cold_s\": {}, \"kdf_warm_s\": {}, \"kdf\": {}, \"beyond_kdf_s\": {}}}",
                json_str(&m.name),
                json_nums(&f.init_s),
                json_nums(&f.login_s),
                json_num(median(&total)),
                f.kdf_s.map(json_num).unwrap_or("null".into()),
                json_nums(&f.kdf_cold_s),
                f.kdf_warm_s.map(json_num).unwrap_or("null".into()),
                json_str(&f.kdf_what),
                f.kdf_s
                    .map(|k| json_num(median(&total) - k))
                    .unwrap_or("null".into())
            ))
        })
        .collect();
    let _ = writeln!(j, "  \"fresh_process\": {{\n{}\n  }}", fresh_j.join(",\n"));
    j.push_str("}\n");
    std::fs::write(path, j)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars of log10(ratio) around 1x.
fn write_svg(path: &Path, names: &[String], results: &[Result1]) -> std::io::Result<()> {
    // The KDF row compares two different KDFs (SoftHSM's is an estimate): not a speed ratio.
    let bars: Vec<(&str, f64)> = results
        .iter()
        .filter(|r| !matches!(r.row.kind, RowKind::KdfAlone))
        .filter_map(|r| Some((r.row.name.as_str(), ratio(&r.cells)?)))
        .collect();
    let decades = bars
        .iter()
        .map(|(_, r)| r.log10().abs())
        .fold(1.0f64, f64::max)
        .ceil();
    let (label_w, plot_w, row_h, top) = (260.0, 560.0, 22.0, 60.0);
    let width = label_w + plot_w + 80.0;
    let height = top + row_h * bars.len().max(1) as f64 + 40.0;
    let x0 = label_w + plot_w / 2.0;
    let scale = plot_w / 2.0 / decades;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" font-size=\"15\">ops/s ratio {} / {} (log scale; right of 1x: {} faster)</text>",
        xml(&names[0]),
        xml(names.get(1).map(String::as_str).unwrap_or("-")),
        xml(&names[0])
    );
    let d = decades as i32;
    for k in -d..=d {
        let x = x0 + k as f64 * scale;
        let label = match k {
            3.. | ..=-3 => format!("1e{k}x"),
            0.. => format!("{}x", 10f64.powi(k)),
            _ => format!("1/{}x", 10f64.powi(-k)),
        };
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{}\"/>\n<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{label}</text>",
            top - 8.0,
            top + row_h * bars.len() as f64,
            if k == 0 { "#000" } else { "#ccc" },
            top - 12.0
        );
    }
    for (i, (name, r)) in bars.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let w = r.log10() * scale;
        let (x, color) = if w >= 0.0 {
            (x0, "#3a7d44")
        } else {
            (x0 + w, "#b33a3a")
        };
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text>",
            label_w - 8.0,
            y + row_h * 0.7,
            xml(name),
            y + 3.0,
            w.abs().max(1.0),
            row_h - 6.0,
            if w >= 0.0 { x0 + w + 4.0 } else { x0 + w - 4.0 },
            y + row_h * 0.7,
            if w >= 0.0 { "start" } else { "end" },
            fmt_ratio(Some(*r))
        );
    }
    s.push_str("</svg>\n");
    std::fs::write(path, s)
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker-setup-empty") {
        let Some(module) = args.get(1) else {
            eprintln!("--worker-setup-empty MODULE");
            std::process::exit(2);
        };
        if let Err(e) = worker_setup_empty(module) {
            eprintln!("worker: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    if args.first().map(String::as_str) == Some("--worker-sign-once") {
        let (Some(module), Some(label)) = (args.get(1), args.get(2)) else {
            eprintln!("--worker-sign-once MODULE LABEL");
            std::process::exit(2);
        };
        if let Err(e) = worker_sign_once(module, label) {
            eprintln!("worker: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    if args.first().map(String::as_str) == Some("--worker-list") {
        let (Some(module), Some(label)) = (args.get(1), args.get(2)) else {
            eprintln!("--worker-list MODULE LABEL");
            std::process::exit(2);
        };
        if let Err(e) = worker_list(module, label) {
            eprintln!("worker: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    if args.first().map(String::as_str) == Some("--worker-init-login") {
        let Some(module) = args.get(1) else {
            eprintln!("--worker-init-login MODULE [LABEL]");
            std::process::exit(2);
        };
        let label = args.get(2).map_or(TOKEN_LABEL, String::as_str);
        if let Err(e) = worker_init_login(module, label) {
            eprintln!("worker: {e}");
            std::process::exit(1);
        }
        // Skip C_Finalize and library unloading: only the figures matter here.
        std::process::exit(0);
    }
    if args.first().map(String::as_str) == Some("--worker-kdf") {
        let kind = match args.get(1).map(String::as_str) {
            Some("ferrohsm") => Kind::Ferrohsm,
            Some("softhsm") => Kind::SoftHsm,
            _ => Kind::Other,
        };
        let num = |i: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
        let Some((run, _)) = kdf_fn(kind, (num(2), num(3))) else {
            std::process::exit(2);
        };
        let t0 = Instant::now();
        run();
        println!("KDF s={}", t0.elapsed().as_secs_f64());
        std::process::exit(0);
    }
    // The independent HMAC must itself be right: RFC 4231 test case 2.
    assert_eq!(
        hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "HMAC-SHA-256 self-test"
    );
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return;
    }
    let o = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let rows: Vec<Row> = all_rows(o.objects)
        .into_iter()
        .filter(|r| o.rows.as_ref().is_none_or(|re| re.is_match(&r.name)))
        .collect();
    if args.iter().any(|a| a == "--list") {
        for r in &rows {
            println!("{}", r.name);
        }
        return;
    }
    if rows.is_empty() {
        eprintln!("error: no row matches --rows");
        std::process::exit(2);
    }
    let started = Instant::now();
    let mut paths = vec![o.module_a.clone()];
    paths.extend(o.module_b.clone());
    let mut mods = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        eprintln!("setting up {} ...", p.display());
        match open_module(p, o.fast_kdf, i == 0, &o.conf[i]) {
            Ok(m) => mods.push(m),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    if mods.len() == 2 && mods[0].name == mods[1].name {
        mods[0].name.push_str("-a");
        mods[1].name.push_str("-b");
    }
    let names: Vec<String> = mods.iter().map(|m| m.name.clone()).collect();
    println!("PKCS#11 benchmark");
    for m in &mods {
        println!("  {}: {}", m.name, m.description);
    }
    println!(
        "  rounds {} x {} s, median (min..max) ops/s; threads {} (sign and HMAC rows); {} token objects; ferrohsm KDF {}",
        o.rounds,
        o.secs,
        o.threads,
        o.objects,
        if o.fast_kdf { "fast (1024 KiB, t=1)" } else { "default (19456 KiB, t=2)" }
    );

    let mut results: Vec<Result1> = Vec::new();
    let mut fresh: Vec<Option<Fresh>> = vec![None; mods.len()];
    let mut populated = false;
    let want_fresh = rows.iter().any(|r| r.group() == Group::Fresh);
    // Fresh processes run right after populating, while the token holds exactly the N objects
    // (the create row adds some).
    let mut per_mod: Option<Vec<Res<Fresh>>> = None;
    for row in rows.iter().filter(|r| r.group() != Group::Fresh) {
        if row.group() == Group::Objects && !populated {
            for m in mods.iter_mut() {
                eprintln!("populating {} with {} token objects ...", m.name, o.objects);
                if let Err(e) = m.populate(o.objects) {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
            populated = true;
            if want_fresh {
                per_mod = Some(mods.iter().map(|m| run_fresh(&o, m)).collect());
            }
        }
        let threads = if row.threaded() { o.threads } else { 1 };
        let mut cells = Vec::new();
        for (i, m) in mods.iter().enumerate() {
            let other = mods.get(1 - i.min(1)).filter(|_| mods.len() == 2);
            let t0 = Instant::now();
            let cell = match prepare(row, m, other, &o)
                .and_then(|p| measure(&o, m, &p, threads).map(|r| (r, p.note.clone())))
            {
                Ok(((rates, scaling), note)) => Cellv::Ok {
                    rates,
                    note,
                    scaling,
                },
                Err(Fail::Na(w)) => Cellv::Na(w),
                Err(Fail::Err(w)) => Cellv::Err(w),
            };
            if matches!(row.kind, RowKind::Create) {
                if let Some(r) = cell.median() {
                    *m.sh.create_rate.lock().unwrap() = r;
                }
            }
            eprintln!(
                "  {:<34} {:<9} {:>28}  [{:.1} s]{}",
                row.name,
                m.name,
                fmt_cell(&cell),
                t0.elapsed().as_secs_f64(),
                match &cell {
                    Cellv::Na(w) | Cellv::Err(w) => format!("  {w}"),
                    Cellv::Ok { scaling, .. } if !scaling.is_empty() => format!(
                        "  {:.2}x one thread in the same rounds ({:.2}..{:.2})",
                        median(scaling),
                        min(scaling),
                        max(scaling)
                    ),
                    _ => String::new(),
                }
            );
            cells.push(cell);
        }
        results.push(Result1 {
            row: row.clone(),
            cells,
        });
    }
    let fresh_rows: Vec<&Row> = rows.iter().filter(|r| r.group() == Group::Fresh).collect();
    if !fresh_rows.is_empty() {
        let per_mod = match per_mod {
            Some(p) => p,
            None => {
                for m in mods.iter_mut() {
                    if let Err(e) = m.populate(o.objects) {
                        eprintln!("error: {e}");
                        std::process::exit(1);
                    }
                }
                mods.iter().map(|m| run_fresh(&o, m)).collect()
            }
        };
        for (i, r) in per_mod.iter().enumerate() {
            if let Ok(f) = r {
                fresh[i] = Some(f.clone());
            }
        }
        for row in fresh_rows {
            let cells = per_mod
                .iter()
                .map(|r| match r {
                    Err(Fail::Na(w)) => Cellv::Na(w.clone()),
                    Err(Fail::Err(w)) => Cellv::Err(w.clone()),
                    Ok(f) => {
                        let total: Vec<f64> = f
                            .init_s
                            .iter()
                            .zip(&f.login_s)
                            .map(|(a, b)| a + b)
                            .collect();
                        match (&row.kind, f.kdf_s) {
                            (RowKind::Fresh(series), _) => Cellv::Ok {
                                rates: f.series[series].iter().map(|t| 1.0 / t).collect(),
                                note: match series {
                                    Series::Spawn { .. } => {
                                        "spawn to exit; the HMAC checked".into()
                                    }
                                    Series::List { .. } => {
                                        "spawn to exit; slots, token info, a session, no login"
                                            .into()
                                    }
                                    _ => "C_Initialize + C_Login; the worker found the key".into(),
                                },
                                scaling: Vec::new(),
                            },
                            (RowKind::KdfAlone, Some(_)) => Cellv::Ok {
                                rates: f.kdf_cold_s.iter().map(|t| 1.0 / t).collect(),
                                note: format!("{}, one run per fresh process", f.kdf_what),
                                scaling: Vec::new(),
                            },
                            // What the first login costs beyond its KDF: a few ms next to a
                            // KDF of tens, so a round can come out at or under the KDF's median;
                            // such rounds count as 0.1 ms (the note says so).
                            (RowKind::BeyondKdf, Some(k)) => Cellv::Ok {
                                rates: total.iter().map(|t| 1.0 / (t - k).max(1e-4)).collect(),
                                note: format!(
                                    "first init+login minus {} (at least 0.1 ms)",
                                    f.kdf_what
                                ),
                                scaling: Vec::new(),
                            },
                            _ => Cellv::Na("KDF unknown for this module".into()),
                        }
                    }
                })
                .collect();
            results.push(Result1 {
                row: row.clone(),
                cells,
            });
        }
    }

    println!();
    print_table(&names, &results);
    if fresh.iter().any(Option::is_some) {
        println!();
        println!(
            "Fresh process with {} token objects: C_Initialize + C_Login, median of {} child processes",
            o.objects, o.rounds
        );
        for (m, f) in mods.iter().zip(&fresh) {
            let Some(f) = f else { continue };
            let init = median(&f.init_s) * 1e3;
            let login = median(&f.login_s) * 1e3;
            let total: Vec<f64> = f
                .init_s
                .iter()
                .zip(&f.login_s)
                .map(|(a, b)| a + b)
                .collect();
            let total = median(&total) * 1e3;
            let kdf = f
                .kdf_s
                .map(|k| {
                    format!(
                        "; KDF alone {:.2} ms in a fresh process ({:.2} ms warm; {}); beyond the KDF {:.2} ms",
                        k * 1e3,
                        f.kdf_warm_s.unwrap_or(f64::NAN) * 1e3,
                        f.kdf_what,
                        total - k * 1e3
                    )
                })
                .unwrap_or_default();
            println!(
                "  {:<9} C_Initialize {init:.2} ms + C_Login {login:.2} ms = {total:.2} ms{kdf}",
                m.name
            );
        }
    }
    let scaled = cell_lines(&results, &names, |row, n, c| match c {
        Cellv::Ok { scaling, .. } if !scaling.is_empty() => Some(format!(
            "  {row:<34} {n:<9} {:.2}x ({:.2}..{:.2})",
            median(scaling),
            min(scaling),
            max(scaling)
        )),
        _ => None,
    });
    if !scaled.is_empty() {
        println!();
        println!(
            "{} threads over 1 thread, each round against a 1-thread run next to it, median (min..max):",
            o.threads
        );
        for l in &scaled {
            println!("{l}");
        }
    }
    // Every row is one ferrohsm supports: a mechanism ferrohsm stops supporting is an error of
    // ferrohsm's, not an "n/a" (that is only for the module it is compared with).
    let ferrohsm: Vec<&str> = mods
        .iter()
        .filter(|m| m.kind == Kind::Ferrohsm)
        .map(|m| m.name.as_str())
        .collect();
    let problems = cell_lines(&results, &names, |row, n, c| match c {
        Cellv::Err(w) => Some(format!("  ERROR {row} / {n}: {w}")),
        Cellv::Na(w) if ferrohsm.contains(&n) => Some(format!(
            "  ERROR {row} / {n}: not supported by ferrohsm itself ({w})"
        )),
        _ => None,
    });
    let nas = cell_lines(&results, &names, |row, n, c| match c {
        Cellv::Na(w) if !ferrohsm.contains(&n) => Some(format!("  n/a {row} / {n}: {w}")),
        _ => None,
    });
    if !nas.is_empty() {
        println!();
        println!("Not supported ({}):", nas.len());
        for l in nas.iter().take(12) {
            println!("{l}");
        }
        if nas.len() > 12 {
            println!("  ... and {} more (see --json)", nas.len() - 12);
        }
    }
    if !problems.is_empty() {
        println!();
        println!("Errors:");
        for l in &problems {
            println!("{l}");
        }
    }
    if let Some(p) = &o.json {
        match write_json(p, &o, &mods, &results, &fresh) {
            Ok(()) => println!("\nJSON written to {}", p.display()),
            Err(e) => eprintln!("error: writing {}: {e}", p.display()),
        }
    }
    if let Some(p) = &o.svg {
        match write_svg(p, &names, &results) {
            Ok(()) => println!("SVG written to {}", p.display()),
            Err(e) => eprintln!("error: writing {}: {e}", p.display()),
        }
    }
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
    let failed = !problems.is_empty();
    // Log out and close sessions before the libraries are finalized and unloaded.
    for m in mods {
        let _ = m.session.logout();
        drop(m.session);
        let _ = m.sh.p11.finalize();
    }
    std::process::exit(if failed { 1 } else { 0 });
}
