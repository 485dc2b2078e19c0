//! `ferrohsm-util migrate softhsm`: a SoftHSM 2 token, read from its files (either object store)
//! with its PINs,
//! becomes a ferrohsm token with the same label, serial (so the same slot ID), PINs and objects,
//! non-extractable keys included.
//!
//! All or nothing: the token is built in a staging directory inside the token directory
//! (`.new-migrate-<pid>`, which the module removes if this process dies) and appears by one
//! rename once every object is written. The SoftHSM files are only read; a wrong PIN is refused
//! without being counted anywhere.

use crate::{pin, Fail, Pins, R};
use cryptoki_sys::*;
use ferrohsm::config::Config;
use ferrohsm::migrate::softhsm::{self, Found, Pin};
use ferrohsm::module::Module;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum MigrateCmd {
    /// Move a SoftHSM 2 token (file or database object store) into a new ferrohsm token
    Softhsm {
        /// SoftHSM's token directory (directories.tokendir of softhsm2.conf), or one token's
        /// directory in it
        #[arg(long, value_name = "DIR")]
        tokendir: PathBuf,
        /// Label of the token to move, when the directory holds several
        #[arg(long, value_name = "LABEL")]
        token: Option<String>,
        #[command(flatten)]
        pins: Pins,
        /// Check everything and list what would move, write nothing
        #[arg(long)]
        dry_run: bool,
    },
}

pub(crate) fn run(cmd: MigrateCmd) -> R<()> {
    match cmd {
        MigrateCmd::Softhsm {
            tokendir,
            token,
            pins,
            dry_run,
        } => softhsm_run(&tokendir, token.as_deref(), &pins, dry_run),
    }
}

fn choose(tokendir: &Path, label: Option<&str>) -> R<Found> {
    let dirs = softhsm::find_tokens(tokendir).map_err(Fail)?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for d in dirs {
        match softhsm::open_token(&d) {
            Ok(t) => found.push(t),
            Err(e) => errors.push(e),
        }
    }
    if let Some(l) = label {
        found.retain(|t| t.label_str() == l);
    }
    if !errors.is_empty() && (label.is_none() || found.is_empty()) {
        return Err(Fail(format!(
            "The SoftHSM token cannot be read; nothing was written. {}",
            errors.join("; ")
        )));
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(Fail(format!(
            "No SoftHSM token labelled {:?} in {}.",
            label.unwrap_or_default(),
            tokendir.display()
        ))),
        _ => Err(Fail(format!(
            "{} holds several SoftHSM tokens ({}); choose one with --token <label>.",
            tokendir.display(),
            found
                .iter()
                .map(|t| format!("{:?}", t.label_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn class_name(c: u64) -> String {
    match c as CK_OBJECT_CLASS {
        CKO_DATA => "data".into(),
        CKO_CERTIFICATE => "certificate".into(),
        CKO_PUBLIC_KEY => "public key".into(),
        CKO_PRIVATE_KEY => "private key".into(),
        CKO_SECRET_KEY => "secret key".into(),
        CKO_DOMAIN_PARAMETERS => "domain parameters".into(),
        other => format!("class {other:#x}"),
    }
}

fn key_type_name(k: u64) -> String {
    match k as CK_KEY_TYPE {
        CKK_RSA => "RSA".into(),
        CKK_EC => "EC".into(),
        CKK_EC_EDWARDS => "EdDSA".into(),
        CKK_EC_MONTGOMERY => "Montgomery".into(),
        CKK_DSA => "DSA".into(),
        CKK_DH => "DH".into(),
        CKK_AES => "AES".into(),
        CKK_DES3 => "DES3".into(),
        CKK_GENERIC_SECRET => "generic secret".into(),
        CKK_SHA_1_HMAC | CKK_SHA224_HMAC | CKK_SHA256_HMAC | CKK_SHA384_HMAC | CKK_SHA512_HMAC => {
            "HMAC".into()
        }
        other => format!("key type {other:#x}"),
    }
}

/// One line per object: what it is, and what is visible without decrypting (private objects'
/// labels are encrypted: they are shown after decryption, from `plain`).
fn describe(o: &softhsm::SoftObject, plain: &[ferrohsm::object::Attribute]) -> String {
    let get = |ty: CK_ATTRIBUTE_TYPE| plain.iter().find(|a| a.ty == ty).map(|a| &a.value[..]);
    let label = get(CKA_LABEL)
        .map(|l| String::from_utf8_lossy(l).to_string())
        .unwrap_or_default();
    let id = get(CKA_ID).map(hex::encode).unwrap_or_default();
    let mut s = class_name(o.class().unwrap_or(u64::MAX));
    if let Some(k) = o.ulong(CKA_KEY_TYPE) {
        s = format!("{} {s}", key_type_name(k));
    }
    let mut flags = Vec::new();
    for (ty, name) in [
        (CKA_PRIVATE, "private"),
        (CKA_SENSITIVE, "sensitive"),
        (CKA_LOCAL, "local"),
    ] {
        if o.bool(ty) {
            flags.push(name);
        }
    }
    if matches!(
        o.class().map(|c| c as CK_OBJECT_CLASS),
        Some(CKO_PRIVATE_KEY | CKO_SECRET_KEY)
    ) && !o.bool(CKA_EXTRACTABLE)
    {
        flags.push("non-extractable");
    }
    format!("{s:<24} label {label:?} id {id:?} {}", flags.join(" "))
}

fn softhsm_run(tokendir: &Path, label: Option<&str>, pins: &Pins, dry_run: bool) -> R<()> {
    let started = std::time::Instant::now();
    let soft = choose(tokendir, label)?;
    if !soft.user_pin_set() {
        return Err(Fail(format!(
            "The SoftHSM token {:?} has no user PIN; set one with SoftHSM first.",
            soft.label_str()
        )));
    }
    let so_pin = pin(&pins.so_pin, "FERROHSM_SO_PIN", "SoftHSM SO PIN: ")?;
    let user_pin = pin(&pins.pin, "FERROHSM_PIN", "SoftHSM user PIN: ")?;
    ferrohsm::token::check_pin_len(so_pin.as_bytes())?;
    ferrohsm::token::check_pin_len(user_pin.as_bytes())?;
    let which = |p: Pin| match p {
        Pin::So => "SO",
        Pin::User => "user",
    };
    let mut keys = Vec::new();
    for (p, value) in [(Pin::So, &so_pin), (Pin::User, &user_pin)] {
        match soft.master_key(p, value.as_bytes()).map_err(Fail)? {
            Some(k) => keys.push(k),
            None => {
                return Err(Fail(format!(
                    "The {} PIN is incorrect for the SoftHSM token {:?}; nothing was written \
                     (and nothing counted: SoftHSM's files were only read).",
                    which(p),
                    soft.label_str()
                )))
            }
        }
    }
    if keys[0] != keys[1] {
        return Err(Fail(format!(
            "The SoftHSM token {:?} is damaged: its two PINs open different keys.",
            soft.label_str()
        )));
    }
    let objects = soft.decrypt(&keys[1]).map_err(|e| {
        Fail(format!(
            "The SoftHSM token cannot be read; nothing was written. {e}"
        ))
    })?;
    drop(keys);
    println!(
        "SoftHSM token {:?} (serial {}) in {} ({} object store): {} object(s)",
        soft.label_str(),
        soft.serial,
        soft.dir.display(),
        match soft.store {
            softhsm::Store::File => "file",
            softhsm::Store::Db => "database",
        },
        objects.len()
    );
    for (o, plain) in soft.objects.iter().zip(&objects) {
        println!("  {}", describe(o, plain));
    }

    let config = Config::discover()?;
    for w in &config.warnings {
        eprintln!("WARNING: {w}");
    }
    ferrohsm::log::setup(config.log_level, config.log_file.as_deref())
        .map_err(|e| Fail(e.to_string()))?;
    let serial = soft.serial.to_ascii_lowercase();
    let keep_serial = serial.len() == 16 && serial.bytes().all(|b| b.is_ascii_hexdigit());
    let target = config.token_dir.clone();
    std::fs::create_dir_all(&target).map_err(|e| {
        Fail(format!(
            "cannot create the token directory {}: {e}",
            target.display()
        ))
    })?;
    let serial = if keep_serial && !target.join(&serial).exists() {
        serial
    } else if keep_serial {
        return Err(Fail(format!(
            "A ferrohsm token with serial {serial} already exists in {} (migrated before?); \
             nothing was written.",
            target.display()
        )));
    } else {
        let mut b = [0u8; 8];
        ferrohsm::vault::random(&mut b)?;
        hex::encode(b)
    };
    let staging = target.join(format!(".new-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&staging)
            .map_err(|e| Fail(format!("cannot create {}: {e}", staging.display())))?;
    }
    let built = build(
        &config,
        &staging,
        serial.clone(),
        &soft,
        &so_pin,
        &user_pin,
        &objects,
    );
    let result = built.and_then(|dropped| {
        if !dry_run {
            std::fs::rename(staging.join(&serial), target.join(&serial)).map_err(|e| {
                Fail(format!(
                    "cannot move the new token into {}: {e}; nothing was written",
                    target.display()
                ))
            })?;
        }
        Ok(dropped)
    });
    let _ = std::fs::remove_dir_all(&staging);
    let dropped = result?;
    for (o, d) in soft.objects.iter().zip(&dropped) {
        if !d.is_empty() {
            let names: Vec<String> = d.iter().map(|t| format!("{t:#x}")).collect();
            println!(
                "  note: {} kept without attribute(s) ferrohsm does not define for it: {}",
                o.name,
                names.join(", ")
            );
        }
    }
    let slot = ferrohsm::token::slot_id_for_serial(&serial);
    if dry_run {
        println!(
            "Dry run: all {} object(s) would move to a new ferrohsm token {:?} (serial {serial}, slot {slot}) in {}; nothing was written ({:.1} s).",
            objects.len(),
            soft.label_str(),
            target.display(),
            started.elapsed().as_secs_f64()
        );
    } else {
        println!(
            "Migrated {} object(s) to the ferrohsm token {:?} (serial {serial}, slot {slot}) in {} ({:.1} s). The SoftHSM token was not changed.",
            objects.len(),
            soft.label_str(),
            target.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Makes the token in `staging` (a token directory of its own) with everything in it.
fn build(
    config: &Config,
    staging: &Path,
    serial: String,
    soft: &Found,
    so_pin: &str,
    user_pin: &str,
    objects: &[Vec<ferrohsm::object::Attribute>],
) -> R<Vec<Vec<CK_ATTRIBUTE_TYPE>>> {
    let mut cfg = config.clone();
    cfg.token_dir = staging.to_path_buf();
    cfg.login_cache = None;
    let m = Module::new(cfg)?;
    let slot = m.create_token(serial, &soft.label, so_pin.as_bytes())?;
    let s = m.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)?;
    m.login(s, CKU_SO, so_pin.as_bytes())?;
    m.init_pin(s, user_pin.as_bytes())?;
    m.logout(s)?;
    m.login(s, CKU_USER, user_pin.as_bytes())?;
    let (_handles, dropped) = m.restore_objects(s, objects).map_err(|e| match e.index {
        Some(i) => Fail(format!(
            "{}: ferrohsm refuses this object ({:?}); nothing was written",
            soft.objects[i].origin, e.error
        )),
        None => Fail(format!("{:?}; nothing was written", e.error)),
    })?;
    m.close_session(s)?;
    Ok(dropped)
}
