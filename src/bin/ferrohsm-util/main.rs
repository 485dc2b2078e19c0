//! ferrohsm-util: initialize, list and delete tokens, import keys and certificates.
//!
//! Two ways in: subcommands for people (`ferrohsm-util init-token --label L`), and the flags CI scripts
//! already pass to softhsm2-util (`ferrohsm-util --init-token --free --label L --pin P --so-pin S`), with
//! the same lines on stdout and `ERROR: ...` on stderr with exit status 1.

mod copy;
mod dist;
mod doctor;
mod import;
mod key;
mod migrate;
mod progress;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use cryptoki_sys::*;
use ferrohsm::config::Config;
use ferrohsm::module::{Module, Slot};
use ferrohsm::Error;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "ferrohsm-util",
    version,
    about = "Manage ferrohsm tokens",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    compat: Compat,
}

/// The softhsm2-util flags.
#[derive(Args, Debug, Default)]
struct Compat {
    /// Initialize a token (softhsm2-util compatible)
    #[arg(long)]
    init_token: bool,
    /// Show slots and tokens (softhsm2-util compatible)
    #[arg(long)]
    show_slots: bool,
    /// Delete the token named by --token or --serial (softhsm2-util compatible)
    #[arg(long)]
    delete_token: bool,
    /// Import a PKCS#8 key or X.509 certificate, PEM or DER (softhsm2-util compatible)
    #[arg(long, value_name = "FILE")]
    import: Option<String>,
    /// Print the version
    #[arg(long, short = 'v')]
    version: bool,
    #[command(flatten)]
    sel: Select,
    #[command(flatten)]
    pins: Pins,
    /// Token label for --init-token; object label for --import
    #[arg(long)]
    label: Option<String>,
    /// Object ID in hex, for --import
    #[arg(long)]
    id: Option<String>,
    /// Overwrite objects with the same ID on --import
    #[arg(long)]
    force: bool,
    /// Do not import the public key with the private key
    #[arg(long)]
    no_public_key: bool,
    /// Accepted for compatibility; ferrohsm has one storage engine
    #[arg(long, value_name = "FILE", hide = true)]
    file_pin: Option<String>,
}

/// Which token.
#[derive(Args, Debug, Default, Clone)]
pub(crate) struct Select {
    /// Use the free slot
    #[arg(long)]
    free: bool,
    /// Slot ID
    #[arg(long)]
    slot: Option<u64>,
    /// Token label
    #[arg(long)]
    token: Option<String>,
    /// Token serial number
    #[arg(long)]
    serial: Option<String>,
}

#[derive(Args, Debug, Default, Clone)]
pub(crate) struct Pins {
    /// User PIN (else $FERROHSM_PIN, else a prompt)
    #[arg(long)]
    pin: Option<String>,
    /// SO PIN (else $FERROHSM_SO_PIN, else a prompt)
    #[arg(long)]
    so_pin: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Initialize a token (on the free slot unless told otherwise) and set its user PIN
    InitToken {
        #[arg(long)]
        label: String,
        #[command(flatten)]
        sel: Select,
        #[command(flatten)]
        pins: Pins,
    },
    /// Show slots and tokens
    ShowSlots,
    /// Delete a token and everything in it
    DeleteToken {
        #[command(flatten)]
        sel: Select,
    },
    /// Import a PKCS#8 private key (RSA, EC, Ed25519) or an X.509 certificate, PEM or DER
    Import {
        file: String,
        #[command(flatten)]
        sel: Select,
        #[command(flatten)]
        pins: Pins,
        #[arg(long)]
        label: String,
        /// Object ID in hex
        #[arg(long)]
        id: String,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        no_public_key: bool,
    },
    /// Show the configuration in effect (file, token directory, PIN and KDF settings)
    ShowConfig,
    /// Forget every cached login of this user in this session's kernel keyring (login.cache)
    LogoutAll,
    /// Key families: rotate, list, disable, enable and retire versions; public keys as PEM or JWKS
    Key {
        #[command(subcommand)]
        cmd: key::KeyCmd,
    },
    /// Move tokens in from another software HSM (SoftHSM 2), keys and PINs included
    Migrate {
        #[command(subcommand)]
        cmd: migrate::MigrateCmd,
    },
    /// Tokens as a whole: copy them between a token directory and a PostgreSQL database
    Token {
        #[command(subcommand)]
        cmd: copy::TokenCmd,
    },
    /// List the objects of a token (private ones after login)
    ListObjects {
        #[command(flatten)]
        sel: Select,
        #[command(flatten)]
        pins: Pins,
        /// Also log in and list private objects
        #[arg(long)]
        login: bool,
    },
    /// Check the configuration, the token directory, the tokens' PINs and the module, and say
    /// what to fix (exit status 1 when a check failed)
    Doctor(doctor::DoctorArgs),
    /// Write the manual pages, shell completions and example configuration file (for packaging)
    #[command(hide = true)]
    DistFiles {
        /// Directory to write them under
        out: std::path::PathBuf,
    },
}

/// A failure to report as `ERROR: ...`.
pub(crate) struct Fail(pub(crate) String);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail(describe(&e))
    }
}

fn describe(e: &Error) -> String {
    match e {
        Error::PinIncorrect => "The PIN is incorrect.".into(),
        Error::PinLocked => "The PIN is locked after too many wrong attempts.".into(),
        Error::PinLenRange => "The PIN must be 4 to 255 characters long.".into(),
        Error::SlotIdInvalid => "There is no such slot.".into(),
        Error::Config(m) | Error::Storage(m) => m.clone(),
        Error::DiskFull(m) => {
            format!("The token's file system is full; nothing was written ({m}).")
        }
        Error::UserNotLoggedIn => "The user is not logged in.".into(),
        Error::ActionProhibited => "The token refused this action (CKR_ACTION_PROHIBITED).".into(),
        other => format!("{other:?}"),
    }
}

pub(crate) type R<T> = std::result::Result<T, Fail>;

fn main() -> ExitCode {
    // Argument errors follow the softhsm2-util convention too: `ERROR: ...` and exit status 1.
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!("ERROR: {}", first.trim_start_matches("error: "));
            eprintln!("Use --help for the options.");
            return ExitCode::from(1);
        }
    };
    let cli = match cli {
        Cli {
            cmd: Some(Cmd::Doctor(args)),
            ..
        } => return doctor::run(args),
        cli => cli,
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(m)) => {
            eprintln!("ERROR: {m}");
            ExitCode::from(1)
        }
    }
}

fn open() -> R<Module> {
    let config = Config::discover()?;
    ferrohsm::log::setup(config.log_level, config.log_file.as_deref())
        .map_err(|e| Fail(e.to_string()))?;
    for w in &config.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(Module::new(config)?)
}

fn run(cli: Cli) -> R<()> {
    if let Some(cmd) = cli.cmd {
        return match cmd {
            Cmd::InitToken { label, sel, pins } => init_token(&sel, &pins, &label),
            Cmd::ShowSlots => show_slots(),
            Cmd::ShowConfig => show_config(),
            Cmd::DistFiles { out } => dist::run(Cli::command(), &out),
            Cmd::LogoutAll => {
                let n = ferrohsm::login_cache::LoginCache::forget_all();
                println!("Forgot {n} cached login(s).");
                Ok(())
            }
            Cmd::DeleteToken { sel } => delete_token(&sel),
            Cmd::Import {
                file,
                sel,
                pins,
                label,
                id,
                force,
                no_public_key,
            } => import::run(
                &open()?,
                &file,
                &sel,
                &pins,
                &label,
                &id,
                force,
                no_public_key,
            ),
            Cmd::ListObjects { sel, pins, login } => list_objects(&sel, &pins, login),
            Cmd::Key { cmd } => key::run(&open()?, cmd),
            Cmd::Migrate { cmd } => migrate::run(cmd),
            Cmd::Token { cmd } => {
                let config = Config::discover()?;
                ferrohsm::log::setup(config.log_level, config.log_file.as_deref())
                    .map_err(|e| Fail(e.to_string()))?;
                copy::run(cmd, &config)
            }
            Cmd::Doctor(_) => unreachable!("run by main"),
        };
    }
    let c = cli.compat;
    let chosen = [
        c.init_token,
        c.show_slots,
        c.delete_token,
        c.import.is_some(),
        c.version,
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if chosen != 1 {
        return Err(Fail(
            "Choose one of --init-token, --show-slots, --delete-token, --import, --version (see --help).".into(),
        ));
    }
    if c.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if c.show_slots {
        return show_slots();
    }
    if c.delete_token {
        return delete_token(&c.sel);
    }
    if c.init_token {
        let label = c
            .label
            .ok_or_else(|| Fail("A token label must be supplied. Use --label <text>".into()))?;
        return init_token(&c.sel, &c.pins, &label);
    }
    let file = c.import.expect("counted above");
    let label = c.label.ok_or_else(|| {
        Fail("A label for the object must be supplied. Use --label <text>".into())
    })?;
    let id =
        c.id.ok_or_else(|| Fail("An ID for the object must be supplied. Use --id <hex>".into()))?;
    import::run(
        &open()?,
        &file,
        &c.sel,
        &c.pins,
        &label,
        &id,
        c.force,
        c.no_public_key,
    )
}

/// Reads a PIN from the flag, the environment, or a prompt without echo.
pub(crate) fn pin(given: &Option<String>, env: &str, prompt: &str) -> R<String> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    let p = rpassword::prompt_password(prompt)
        .map_err(|e| Fail(format!("cannot read the PIN: {e}")))?;
    Ok(p)
}

fn label_of(raw: &[u8; 32]) -> String {
    String::from_utf8_lossy(raw).trim_end().to_string()
}

/// Finds the slot a selection names.
pub(crate) fn find_slot(m: &Module, sel: &Select) -> R<CK_SLOT_ID> {
    let slots = m.slot_list()?;
    if sel.free {
        let id = *slots.last().expect("the free slot is always listed");
        return Ok(id);
    }
    if let Some(id) = sel.slot {
        m.slot(id as CK_SLOT_ID)
            .map_err(|_| Fail(format!("The given slot ({id}) does not exist.")))?;
        return Ok(id as CK_SLOT_ID);
    }
    if sel.token.is_none() && sel.serial.is_none() {
        return Err(Fail(
            "A slot/token must be supplied. Use --slot <number>, --token <label>, --serial <serial> or --free".into(),
        ));
    }
    let mut found = Vec::new();
    for id in slots {
        if let Some(t) = m.token_info(id)? {
            let label_ok = sel.token.as_deref().is_none_or(|l| l == label_of(&t.label));
            let serial_ok = sel.serial.as_deref().is_none_or(|s| s == t.serial);
            if label_ok && serial_ok {
                found.push((id, t.serial));
            }
        }
    }
    match found.len() {
        0 => Err(Fail(
            "Could not find a token using --token or --serial.".into(),
        )),
        1 => Ok(found[0].0),
        _ => Err(Fail(
            "More than one token matches; use --serial to choose one.".into(),
        )),
    }
}

fn init_token(sel: &Select, pins: &Pins, label: &str) -> R<()> {
    let m = open()?;
    if label.len() > 32 {
        return Err(Fail(
            "The label must not have a length greater than 32 chars.".into(),
        ));
    }
    if sel.token.is_some() && !sel.free && sel.slot.is_none() {
        // softhsm2-util: --token names an initialized token to re-initialize.
    }
    let slot = find_slot(&m, sel)?;
    let was_free = matches!(m.slot(slot)?, Slot::Free);
    let so_pin = pin(
        &pins.so_pin,
        "FERROHSM_SO_PIN",
        "=== SO PIN (4-255 characters) ===\nPlease enter SO PIN: ",
    )?;
    let user_pin = pin(
        &pins.pin,
        "FERROHSM_PIN",
        "=== User PIN (4-255 characters) ===\nPlease enter user PIN: ",
    )?;
    ferrohsm::token::check_pin_len(so_pin.as_bytes())?;
    ferrohsm::token::check_pin_len(user_pin.as_bytes())?;
    if was_free {
        println!("Slot {slot} has a free/uninitialized token.");
    }
    let new_slot = m.init_token(
        slot,
        so_pin.as_bytes(),
        &ferrohsm::token::pad32(label.as_bytes()),
    )?;
    let s = m.open_session(new_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)?;
    let r = m
        .login(s, CKU_SO, so_pin.as_bytes())
        .and_then(|_| m.init_pin(s, user_pin.as_bytes()));
    let _ = m.close_session(s);
    r?;
    if was_free {
        println!("The token has been initialized and is reassigned to slot {new_slot}");
    } else {
        println!("The token has been initialized on slot {new_slot}");
    }
    print_next_steps(new_slot, label);
    Ok(())
}

/// Where the module is: beside this program, as cargo and the install layout put it.
fn module_path() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("libferrohsm.so")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "libferrohsm.so".into())
}

fn print_next_steps(slot: CK_SLOT_ID, label: &str) {
    if std::env::var_os("FERROHSM_QUIET").is_some() {
        return;
    }
    let module = module_path();
    eprintln!();
    eprintln!("Next steps (token \"{label}\", slot {slot}):");
    eprintln!("  module:      {module}");
    if let Ok(c) = std::env::var("FERROHSM_CONF") {
        eprintln!("  config:      export FERROHSM_CONF={c}");
    }
    eprintln!("  pkcs11-tool: pkcs11-tool --module {module} --token-label \"{label}\" --login --list-objects");
    eprintln!("  Java SunPKCS11 config (java.security / -providerArg):");
    eprintln!("    name = ferrohsm");
    eprintln!("    library = {module}");
    eprintln!("    slot = {slot}");
}

fn show_config() -> R<()> {
    let c = Config::discover()?;
    match &c.source {
        Some(p) => println!("config file:      {}", p.display()),
        None => println!("config file:      (none; built-in defaults)"),
    }
    println!("token directory:  {}", c.token_dir.display());
    println!("umask:            {:04o}", c.umask);
    println!("log level:        {:?}", c.log_level);
    println!("pin.max_attempts: {}", c.max_pin_attempts);
    println!(
        "kdf:              argon2id m={} KiB t={} p={}",
        c.kdf.memory_kib, c.kdf.iterations, c.kdf.lanes
    );
    match c.login_cache {
        Some(lc) => println!("login.cache:      keyring, {} s", lc.seconds),
        None => println!("login.cache:      off"),
    }
    println!("wrap.policy:      {:?}", c.wrap_policy);
    for w in &c.warnings {
        println!("warning:          {w}");
    }
    Ok(())
}

fn show_slots() -> R<()> {
    let m = open()?;
    println!("Available slots:");
    for id in m.slot_list()? {
        println!("Slot {id}");
        println!("    Slot info:");
        println!("        Description:      ferrohsm slot ID {id:#x}");
        println!("        Manufacturer ID:  ferrohsm");
        println!("        Hardware version: {}", env!("CARGO_PKG_VERSION"));
        println!("        Firmware version: {}", env!("CARGO_PKG_VERSION"));
        println!("        Token present:    yes");
        println!("    Token info:");
        println!("        Manufacturer ID:  ferrohsm");
        println!("        Model:            ferrohsm");
        println!("        Hardware version: {}", env!("CARGO_PKG_VERSION"));
        println!("        Firmware version: {}", env!("CARGO_PKG_VERSION"));
        match m.token_info(id)? {
            Some(t) => {
                println!("        Serial number:    {}", t.serial);
                println!("        Initialized:      yes");
                let pin_init = t.flags & CKF_USER_PIN_INITIALIZED != 0;
                println!(
                    "        User PIN init.:   {}",
                    if pin_init { "yes" } else { "no" }
                );
                if t.flags & CKF_USER_PIN_LOCKED != 0 {
                    println!("        User PIN locked:  yes");
                }
                println!("        Label:            {}", label_of(&t.label));
            }
            None => {
                println!("        Serial number:    ");
                println!("        Initialized:      no");
                println!("        User PIN init.:   no");
                println!("        Label:            ");
            }
        }
    }
    Ok(())
}

fn delete_token(sel: &Select) -> R<()> {
    if sel.token.is_none() && sel.serial.is_none() {
        return Err(Fail(
            "A token must be supplied. Use --token <label> or --serial <serial>".into(),
        ));
    }
    let m = open()?;
    let slot = find_slot(
        &m,
        &Select {
            free: false,
            slot: None,
            ..sel.clone()
        },
    )?;
    let serial = m
        .token_info(slot)?
        .map(|t| t.serial)
        .ok_or_else(|| Fail("Could not find the token.".into()))?;
    println!("Found token ({serial}) with matching token label.");
    let dir = m.delete_token(&serial)?;
    println!("The token ({}) has been deleted.", dir.display());
    Ok(())
}

fn list_objects(sel: &Select, pins: &Pins, login: bool) -> R<()> {
    let m = open()?;
    let slot = find_slot(&m, sel)?;
    let s = m.open_session(slot, CKF_SERIAL_SESSION)?;
    let r = (|| -> R<()> {
        if login {
            let p = pin(&pins.pin, "FERROHSM_PIN", "Please enter user PIN: ")?;
            m.login(s, CKU_USER, p.as_bytes())?;
        }
        m.find_init(s, &[])?;
        let handles = m.find_next(s, usize::MAX)?;
        m.find_final(s)?;
        for h in handles {
            let e = m.object(s, h)?;
            let o = &e.obj;
            let class = match o.class() {
                CKO_DATA => "data",
                CKO_CERTIFICATE => "certificate",
                CKO_PUBLIC_KEY => "public key",
                CKO_PRIVATE_KEY => "private key",
                CKO_SECRET_KEY => "secret key",
                CKO_DOMAIN_PARAMETERS => "domain parameters",
                _ => "other",
            };
            let label = String::from_utf8_lossy(o.get(CKA_LABEL).unwrap_or_default()).to_string();
            let id = hex::encode(o.get(CKA_ID).unwrap_or_default());
            let mut flags = Vec::new();
            for (a, n) in [
                (CKA_PRIVATE, "private"),
                (CKA_SENSITIVE, "sensitive"),
                (CKA_EXTRACTABLE, "extractable"),
                (CKA_LOCAL, "local"),
            ] {
                if o.bool(a) {
                    flags.push(n);
                }
            }
            println!("{class:12} label={label:?} id={id} [{}]", flags.join(","));
        }
        Ok(())
    })();
    let _ = m.close_session(s);
    r
}
