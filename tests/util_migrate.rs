//! `ferrohsm-util migrate softhsm`: a token SoftHSM 2.6.1 made (softhsm2-util, pkcs11-tool from
//! several processes at once, and SoftHSM itself through the cryptoki crate for the attribute
//! combinations pkcs11-tool cannot ask for) moves into ferrohsm. Every attribute is read through
//! both modules and compared; every migrated private key signs and SoftHSM's public key verifies;
//! a JWT SoftHSM signed before verifies after; secret keys give the same ciphertexts and MACs.
//! Bad input (wrong PINs, damaged files, a directory that is not SoftHSM's) writes nothing.
//! The same for SoftHSM's database object store (SoftHSM 2.6.1 built with it by
//! conformance/softhsm-db.sh, cached under the target directory): the same token moves, and a
//! damaged, newer or half-written database is refused.
mod common;
mod support;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const LABEL: &str = "moving token";
const SOFT_SO: &str = "87654321";
const SOFT_PIN: &str = "4321";

/// A SoftHSM build and the object store its tokens are made in: Debian's softhsm2 with the file
/// store, or SoftHSM 2.6.1 built with the database store by conformance/softhsm-db.sh.
struct Soft {
    module: PathBuf,
    util: PathBuf,
    backend: &'static str,
}

/// Tests that load SoftHSM in this process take this lock: SOFTHSM2_CONF is process-wide.
static SOFT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Soft {
    fn file() -> Soft {
        assert!(
            Path::new(SOFTHSM).exists() && have("softhsm2-util") && have("pkcs11-tool"),
            "these tests need SoftHSM 2 and OpenSC: apt-get install softhsm2 opensc"
        );
        Soft {
            module: SOFTHSM.into(),
            util: "softhsm2-util".into(),
            backend: "file",
        }
    }

    /// SoftHSM 2.6.1 with the database object store, as conformance/softhsm-db.sh builds it
    /// (`<target dir>/softhsm-db`, or `$SOFTHSM_DB_PREFIX`). Missing, the test is skipped with
    /// a message, except under CI, where it fails: scripts/test builds it first.
    fn db() -> Option<Soft> {
        let prefix = std::env::var_os("SOFTHSM_DB_PREFIX")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_TARGET_TMPDIR"))
                    .parent()
                    .expect("the target directory")
                    .join("softhsm-db")
            });
        let s = Soft {
            module: prefix.join("lib/softhsm/libsofthsm2.so"),
            util: prefix.join("bin/softhsm2-util"),
            backend: "db",
        };
        if s.module.exists() && s.util.exists() && have("pkcs11-tool") {
            return Some(s);
        }
        let msg = format!(
            "SoftHSM with the database object store is not built in {} (or pkcs11-tool is \
             missing): run `bash conformance/softhsm-db.sh` (scripts/test does)",
            prefix.display()
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        None
    }

    fn util(&self, conf: &Path, args: &[&str]) -> Out {
        let mut c = Command::new(&self.util);
        c.args(args).env("SOFTHSM2_CONF", conf);
        run(c)
    }

    /// A SoftHSM configuration with its own token directory under `dir`, holding one
    /// initialized token (label LABEL, PINs SOFT_PIN and SOFT_SO) made by softhsm2-util.
    fn conf(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let tokens = dir.join("softhsm-tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = {}\nlog.level = ERROR\n",
                tokens.display(),
                self.backend
            ),
        )
        .unwrap();
        let o = self.util(
            &conf,
            &[
                "--init-token",
                "--free",
                "--label",
                LABEL,
                "--pin",
                SOFT_PIN,
                "--so-pin",
                SOFT_SO,
            ],
        );
        assert!(o.ok(), "softhsm2-util --init-token: {o}");
        (conf, tokens)
    }

    fn p11tool(&self, conf: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("pkcs11-tool");
        c.arg("--module")
            .arg(&self.module)
            .args(["--token-label", LABEL, "--login", "--pin", SOFT_PIN])
            .args(args)
            .env("SOFTHSM2_CONF", conf);
        c
    }

    /// A SoftHSM token with one EC key: enough for the failure cases.
    fn small_token(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (conf, tokens) = self.conf(dir);
        let o = run(self.p11tool(
            &conf,
            &[
                "--keypairgen",
                "--key-type",
                "EC:prime256v1",
                "--id",
                "02",
                "--label",
                "ec",
            ],
        ));
        assert!(o.ok(), "pkcs11-tool keypairgen: {o}");
        (conf, tokens)
    }

    /// The module loaded in this process (the caller holds SOFT_LOCK).
    fn load(&self, conf: &Path) -> Pkcs11 {
        std::env::set_var("SOFTHSM2_CONF", conf);
        let p = Pkcs11::new(&self.module).unwrap();
        p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap();
        p
    }
}

/// Every file under `dir` with its bytes: to show the SoftHSM token was only read.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            m.extend(snapshot(&p));
        } else {
            m.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    m
}

fn migrate(env: &Env, tokens: &Path, extra: &[&str]) -> Out {
    let mut args = vec!["migrate", "softhsm", "--tokendir", tokens.to_str().unwrap()];
    args.extend_from_slice(extra);
    util(&env.conf, &args)
}

/// No ferrohsm token and no staging directory left in the token directory.
fn assert_nothing_written(env: &Env) {
    assert!(
        env.serials().is_empty(),
        "a token was written: {:?}",
        env.serials()
    );
    if let Ok(rd) = std::fs::read_dir(&env.tokendir) {
        let left: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".new-migrate"))
            .collect();
        assert!(left.is_empty(), "staging left behind: {left:?}");
    }
}

fn login(p: &Pkcs11, pin: &str) -> Session {
    let slot = slot_by_label(p, LABEL).expect("the token is there");
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(pin.into())))
        .unwrap();
    s
}

/// The attributes compared: every one the spec defines for the objects made here.
const COMPARED: &[AttributeType] = &[
    AttributeType::Class,
    AttributeType::Token,
    AttributeType::Private,
    AttributeType::Label,
    AttributeType::Id,
    AttributeType::Modifiable,
    AttributeType::Copyable,
    AttributeType::Destroyable,
    AttributeType::KeyType,
    AttributeType::StartDate,
    AttributeType::EndDate,
    AttributeType::Derive,
    AttributeType::Local,
    AttributeType::KeyGenMechanism,
    AttributeType::AllowedMechanisms,
    AttributeType::Subject,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Wrap,
    AttributeType::Unwrap,
    AttributeType::Sign,
    AttributeType::SignRecover,
    AttributeType::Verify,
    AttributeType::VerifyRecover,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::AlwaysSensitive,
    AttributeType::NeverExtractable,
    AttributeType::WrapWithTrusted,
    AttributeType::AlwaysAuthenticate,
    AttributeType::Trusted,
    AttributeType::Modulus,
    AttributeType::ModulusBits,
    AttributeType::PublicExponent,
    AttributeType::PrivateExponent,
    AttributeType::Prime1,
    AttributeType::Prime2,
    AttributeType::Exponent1,
    AttributeType::Exponent2,
    AttributeType::Coefficient,
    AttributeType::EcParams,
    AttributeType::EcPoint,
    AttributeType::Value,
    AttributeType::ValueLen,
    AttributeType::CheckValue,
    AttributeType::CertificateType,
    AttributeType::Issuer,
    AttributeType::SerialNumber,
    AttributeType::Application,
    AttributeType::ObjectId,
];

/// What a module shows of one object: each compared attribute it returns with a non-empty value.
fn read_all(s: &Session, o: ObjectHandle) -> Vec<Attribute> {
    COMPARED
        .iter()
        .filter_map(|t| s.get_attributes(o, &[*t]).ok()?.into_iter().next())
        .filter(|a| !format!("{a:?}").ends_with("([])"))
        .collect()
}

/// Objects by (class, id, label), as a module shows them.
fn objects(s: &Session) -> BTreeMap<String, (ObjectHandle, Vec<Attribute>)> {
    let mut m = BTreeMap::new();
    for o in s.find_objects(&[]).unwrap() {
        let attrs = read_all(s, o);
        let pick = |t: AttributeType| {
            attrs
                .iter()
                .find(|a| a.attribute_type() == t)
                .map(|a| format!("{a:?}"))
                .unwrap_or_default()
        };
        let key = format!(
            "{} {} {}",
            pick(AttributeType::Class),
            pick(AttributeType::Id),
            pick(AttributeType::Label)
        );
        assert!(
            m.insert(key.clone(), (o, attrs)).is_none(),
            "two objects {key}"
        );
    }
    m
}

fn find(s: &Session, class: ObjectClass, id: &[u8]) -> ObjectHandle {
    let v = s
        .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
        .unwrap();
    assert_eq!(v.len(), 1, "{class:?} {id:02x?}");
    v[0]
}

#[test]
fn a_softhsm_token_moves_with_every_attribute_and_its_keys_work() {
    moves_with_every_attribute(&Soft::file());
}

#[test]
fn a_softhsm_database_token_moves_with_every_attribute_and_its_keys_work() {
    if let Some(soft) = Soft::db() {
        moves_with_every_attribute(&soft);
    }
}

/// A token with every kind of object SoftHSM makes, migrated and compared through both modules.
fn moves_with_every_attribute(soft_hsm: &Soft) {
    let _soft_lock = SOFT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("log.level = ERROR\n");
    let (sconf, stokens) = soft_hsm.conf(env.dir.path());
    // Several processes write the token at once, as CI jobs sharing a SoftHSM token do.
    let gens: Vec<Vec<&str>> = vec![
        vec![
            "--keypairgen",
            "--key-type",
            "rsa:2048",
            "--id",
            "01",
            "--label",
            "rsa",
        ],
        vec![
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--id",
            "02",
            "--label",
            "p256",
        ],
        vec![
            "--keypairgen",
            "--key-type",
            "EC:secp384r1",
            "--id",
            "06",
            "--label",
            "p384",
        ],
        vec![
            "--keypairgen",
            "--key-type",
            "EC:edwards25519",
            "--id",
            "07",
            "--label",
            "ed",
        ],
        vec![
            "--keygen",
            "--key-type",
            "AES:32",
            "--id",
            "03",
            "--label",
            "aes",
        ],
        vec![
            "--keygen",
            "--key-type",
            "GENERIC:32",
            "--id",
            "04",
            "--label",
            "hmac",
        ],
    ];
    let children: Vec<_> = gens
        .iter()
        .map(|a| (a, soft_hsm.p11tool(&sconf, a).output_spawn()))
        .collect();
    // Every child ends before any retry: a retry beside a running writer could lose again.
    let outputs: Vec<_> = children
        .into_iter()
        .map(|(a, c)| (a, c.wait_with_output().unwrap()))
        .collect();
    for (a, o) in outputs {
        // SoftHSM's own races: a process that reads token.object or an object file while another
        // rewrites it in place finds no token, or fails to log in or to store. The command runs
        // again alone (a failed C_GenerateKey(Pair) leaves no object in SoftHSM).
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            eprintln!("pkcs11-tool {a:?} failed beside the others (SoftHSM race): {err}");
            let o = run(soft_hsm.p11tool(&sconf, a));
            assert!(o.ok(), "pkcs11-tool {a:?} (again): {o}");
        }
    }
    let cert_key = env.path("cert-key.pem");
    let cert = env.path("cert.der");
    let o = run({
        let mut c = Command::new("openssl");
        c.args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&cert_key)
        .args([
            "-outform",
            "DER",
            "-subj",
            "/CN=migrated",
            "-days",
            "2",
            "-out",
        ])
        .arg(&cert);
        c
    });
    assert!(o.ok(), "openssl req: {o}");
    let o = run(soft_hsm.p11tool(
        &sconf,
        &[
            "--write-object",
            cert.to_str().unwrap(),
            "--type",
            "cert",
            "--id",
            "05",
            "--label",
            "cert",
        ],
    ));
    assert!(o.ok(), "pkcs11-tool --write-object cert: {o}");
    let data = env.path("data.bin");
    std::fs::write(&data, b"configuration blob").unwrap();
    let o = run(soft_hsm.p11tool(
        &sconf,
        &[
            "--write-object",
            data.to_str().unwrap(),
            "--type",
            "data",
            "--label",
            "data",
            "--private",
        ],
    ));
    assert!(o.ok(), "pkcs11-tool --write-object data: {o}");

    // What pkcs11-tool cannot ask for: an extractable, non-sensitive, non-private secret key
    // with allowed mechanisms and dates, and a public data object; and a JWT signed now.
    let soft = soft_hsm.load(&sconf);
    let jwt_input = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtaWdyYXRlZCJ9".to_vec();
    let jwt_sig;
    {
        let s = login(&soft, SOFT_PIN);
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::GENERIC_SECRET),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Sign(true),
            Attribute::Verify(true),
            Attribute::Id(vec![8]),
            Attribute::Label(b"open".to_vec()),
            Attribute::Value(vec![0x3c; 32]),
            Attribute::AllowedMechanisms(vec![cryptoki::mechanism::MechanismType::SHA256_HMAC]),
            Attribute::StartDate(
                cryptoki::types::Date::new_from_str_slice("2026", "01", "31").unwrap(),
            ),
        ])
        .unwrap();
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(b"public data".to_vec()),
            Attribute::Application(b"ferrohsm tests".to_vec()),
            Attribute::Value(b"in clear".to_vec()),
        ])
        .unwrap();
        let rsa = find(&s, ObjectClass::PRIVATE_KEY, &[1]);
        jwt_sig = s.sign(&Mechanism::Sha256RsaPkcs, rsa, &jwt_input).unwrap();
    }
    let before = snapshot(&stokens);

    let t0 = std::time::Instant::now();
    let o = migrate(&env, &stokens, &["--pin", SOFT_PIN, "--so-pin", SOFT_SO]);
    let took = t0.elapsed();
    assert!(o.ok(), "migrate: {o}");
    assert!(o.stdout.contains("Migrated 14 object(s)"), "{o}");
    let store = if soft_hsm.backend == "db" {
        "(database object store)"
    } else {
        "(file object store)"
    };
    assert!(o.stdout.contains(store), "{o}");
    eprintln!("{}: migrated 14 objects in {took:?}", soft_hsm.backend);
    assert_eq!(snapshot(&stokens), before, "the SoftHSM token was written");
    let serial = env.serials();
    assert_eq!(serial.len(), 1);
    // SoftHSM keeps a non-private object's values in clear, secret keys included; ferrohsm seals
    // every secret value at rest. The "open" key's bytes are in SoftHSM's files, not in ours.
    let secret = [0x3cu8; 32];
    let holds = |files: &BTreeMap<PathBuf, Vec<u8>>| {
        files
            .values()
            .any(|b| b.windows(secret.len()).any(|w| w == secret))
    };
    assert!(
        holds(&before),
        "SoftHSM's files should show the key in clear"
    );
    assert!(
        !holds(&snapshot(&env.tokendir)),
        "a migrated secret key is in clear in ferrohsm's token directory"
    );

    let ferro = env.fixture();
    // Same slot ID: the serial was kept, and both modules derive the slot from it.
    let fslot = slot_by_label(&ferro, LABEL).unwrap();
    let sslot = slot_by_label(&soft, LABEL).unwrap();
    assert_eq!(fslot.id(), sslot.id());
    let fs = login(&ferro, SOFT_PIN);
    let ss = login(&soft, SOFT_PIN);
    // The SO PIN came along too.
    {
        let so = ferro.open_rw_session(fslot).unwrap();
        fs.logout().unwrap();
        so.login(UserType::So, Some(&AuthPin::new(SOFT_SO.into())))
            .unwrap();
        so.logout().unwrap();
        fs.login(UserType::User, Some(&AuthPin::new(SOFT_PIN.into())))
            .unwrap();
    }

    let theirs = objects(&ss);
    let ours = objects(&fs);
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "the same objects"
    );
    let mut compared = 0;
    for (k, (_, sattrs)) in &theirs {
        let fattrs = &ours[k].1;
        for a in sattrs {
            let mine = fattrs
                .iter()
                .find(|b| b.attribute_type() == a.attribute_type());
            assert_eq!(mine, Some(a), "{k}: {:?}", a.attribute_type());
            compared += 1;
        }
        // Sensitive values stay hidden in both.
        for t in [AttributeType::Value, AttributeType::PrivateExponent] {
            let hidden_there = ss.get_attributes(theirs[k].0, &[t]).map(|v| v.is_empty());
            let hidden_here = fs.get_attributes(ours[k].0, &[t]).map(|v| v.is_empty());
            if hidden_there.as_ref().is_ok_and(|h| *h) || hidden_there.is_err() {
                assert!(
                    hidden_here.is_err() || hidden_here.as_ref().is_ok_and(|h| *h),
                    "{k}: {t:?} readable after migration"
                );
            }
        }
    }
    eprintln!("{}: {compared} attribute values compared", soft_hsm.backend);
    assert!(compared > 250, "only {compared} attributes compared");

    // Every private key signs in ferrohsm and SoftHSM's public key verifies.
    // (SoftHSM 2.6.1 has raw CKM_ECDSA only: the EC keys sign a digest-sized input.)
    let msg = b"signed after the move";
    for (id, mech, input) in [
        (1u8, Mechanism::Sha256RsaPkcs, &msg[..]),
        (2, Mechanism::Ecdsa, &[0x11u8; 32][..]),
        (6, Mechanism::Ecdsa, &[0x22u8; 48][..]),
        (
            7,
            Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
                cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
            )),
            &msg[..],
        ),
    ] {
        let k = find(&fs, ObjectClass::PRIVATE_KEY, &[id]);
        let sig = fs.sign(&mech, k, input).unwrap();
        let p = find(&ss, ObjectClass::PUBLIC_KEY, &[id]);
        ss.verify(&mech, p, input, &sig)
            .unwrap_or_else(|e| panic!("key {id}: SoftHSM rejects ferrohsm's signature: {e}"));
    }
    // The JWT signed before verifies after.
    let p = find(&fs, ObjectClass::PUBLIC_KEY, &[1]);
    fs.verify(&Mechanism::Sha256RsaPkcs, p, &jwt_input, &jwt_sig)
        .unwrap();
    // Secret keys: the same MAC, and what ferrohsm encrypts SoftHSM decrypts.
    for id in [4u8, 8] {
        let a = fs
            .sign(
                &Mechanism::Sha256Hmac,
                find(&fs, ObjectClass::SECRET_KEY, &[id]),
                msg,
            )
            .unwrap();
        let b = ss
            .sign(
                &Mechanism::Sha256Hmac,
                find(&ss, ObjectClass::SECRET_KEY, &[id]),
                msg,
            )
            .unwrap();
        assert_eq!(a, b, "HMAC key {id}");
    }
    let iv = [7u8; 16];
    let ct = fs
        .encrypt(
            &Mechanism::AesCbcPad(iv),
            find(&fs, ObjectClass::SECRET_KEY, &[3]),
            msg,
        )
        .unwrap();
    let pt = ss
        .decrypt(
            &Mechanism::AesCbcPad(iv),
            find(&ss, ObjectClass::SECRET_KEY, &[3]),
            &ct,
        )
        .unwrap();
    assert_eq!(pt, msg);
    drop((fs, ss));
    let _ = soft.finalize();

    // Migrating again is refused: the token exists.
    drop(ferro);
    let o = migrate(&env, &stokens, &["--pin", SOFT_PIN, "--so-pin", SOFT_SO]);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("already exists"), "{o}");
}

trait SpawnOut {
    fn output_spawn(self) -> std::process::Child;
}

impl SpawnOut for Command {
    fn output_spawn(mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn wrong_pins_are_refused_and_nothing_is_written_or_counted() {
    wrong_pins(&Soft::file());
}

#[test]
fn wrong_pins_of_a_database_token_are_refused_and_nothing_is_written_or_counted() {
    if let Some(soft) = Soft::db() {
        wrong_pins(&soft);
    }
}

fn wrong_pins(soft: &Soft) {
    let env = Env::new("log.level = ERROR\n");
    let (_sconf, stokens) = soft.small_token(env.dir.path());
    let before = snapshot(&stokens);
    for (pin, so, which) in [("9999", SOFT_SO, "user"), (SOFT_PIN, "99999999", "SO")] {
        let o = migrate(&env, &stokens, &["--pin", pin, "--so-pin", so]);
        assert_eq!(o.code, Some(1), "{o}");
        assert!(
            o.stderr.contains(&format!("The {which} PIN is incorrect")),
            "{which}: {o}"
        );
        assert_nothing_written(&env);
    }
    assert_eq!(snapshot(&stokens), before, "the SoftHSM token was written");
    // Nothing was counted: the right PINs still work, and many wrong tries before change nothing.
    for _ in 0..12 {
        let o = migrate(&env, &stokens, &["--pin", "0000", "--so-pin", SOFT_SO]);
        assert_eq!(o.code, Some(1));
    }
    let o = migrate(
        &env,
        &stokens,
        &["--pin", SOFT_PIN, "--so-pin", SOFT_SO, "--dry-run"],
    );
    assert!(o.ok(), "{o}");
    assert!(
        o.stdout.contains("Dry run: all 2 object(s) would move"),
        "{o}"
    );
    assert_nothing_written(&env);
    let o = migrate(&env, &stokens, &["--pin", SOFT_PIN, "--so-pin", SOFT_SO]);
    assert!(o.ok(), "{o}");
    assert_eq!(env.serials().len(), 1);
}

#[test]
fn damaged_or_foreign_directories_write_nothing() {
    let env = Env::new("log.level = ERROR\n");
    let (_sconf, stokens) = Soft::file().small_token(env.dir.path());
    let tokdir = std::fs::read_dir(&stokens)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("token.object").exists())
        .unwrap();
    let obj = std::fs::read_dir(&tokdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "object")
                && p.file_name().is_some_and(|n| n != "token.object")
        })
        .unwrap();
    let good = std::fs::read(&obj).unwrap();
    let args = ["--pin", SOFT_PIN, "--so-pin", SOFT_SO];
    // A truncated object (a crash mid-write), an empty one, one with an unknown value kind.
    let mut unknown_kind = good.clone();
    unknown_kind[8 + 15] = 9;
    for (what, bytes) in [
        ("truncated", good[..good.len() - 5].to_vec()),
        ("empty", Vec::new()),
        ("unknown kind", unknown_kind),
    ] {
        std::fs::write(&obj, &bytes).unwrap();
        let o = migrate(&env, &stokens, &args);
        assert_eq!(o.code, Some(1), "{what}: {o}");
        assert!(
            o.stderr.contains("not a valid SoftHSM object file"),
            "{what}: {o}"
        );
        assert!(
            o.stderr
                .contains(&obj.file_name().unwrap().to_string_lossy().to_string()),
            "{what}: the file is named: {o}"
        );
        assert_nothing_written(&env);
    }
    std::fs::write(&obj, &good).unwrap();
    // A damaged token.object.
    let tok = tokdir.join("token.object");
    let tgood = std::fs::read(&tok).unwrap();
    std::fs::write(&tok, &tgood[..tgood.len() / 2]).unwrap();
    let o = migrate(&env, &stokens, &args);
    assert_eq!(o.code, Some(1), "{o}");
    assert_nothing_written(&env);
    std::fs::write(&tok, &tgood).unwrap();
    // Not a SoftHSM directory: empty, a file, ferrohsm's own token directory.
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = env.make_token("mine");
    let o = migrate(&env, &empty, &args);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(
        o.stderr.contains("is not a SoftHSM 2 token directory"),
        "{o}"
    );
    let o = migrate(&env, &env.tokendir.clone(), &args);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(
        o.stderr.contains("is not a SoftHSM 2 token directory"),
        "{o}"
    );
    let o = migrate(&env, &obj, &args);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("is not a directory"), "{o}");
    assert_eq!(env.serials(), vec![other]);
    // Repaired, it moves.
    let o = migrate(&env, &stokens, &args);
    assert!(o.ok(), "{o}");
    assert_eq!(env.serials().len(), 2);
}

/// The database store's bad inputs: a truncated, overwritten, empty or foreign sqlite3.db, a
/// newer schema, a write SoftHSM did not finish. Each is one `ERROR:` naming the database, exit
/// status 1, nothing written anywhere. Then the good cases SoftHSM does not make itself: the
/// interrupted write rolled back by SoftHSM, and a database switched to WAL mode with its `-wal`
/// still there, read without a file created beside it.
#[test]
fn damaged_newer_or_interrupted_databases_write_nothing() {
    let Some(soft) = Soft::db() else { return };
    let env = Env::new("log.level = ERROR\n");
    let (sconf, stokens) = soft.small_token(env.dir.path());
    let tokdir = std::fs::read_dir(&stokens)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("sqlite3.db").exists())
        .expect("a database token");
    let db = tokdir.join("sqlite3.db");
    let good = std::fs::read(&db).unwrap();
    let args = ["--pin", SOFT_PIN, "--so-pin", SOFT_SO];
    let refused = |what: &str, needle: &str| {
        let before = snapshot(&stokens);
        let o = migrate(&env, &stokens, &args);
        assert_eq!(o.code, Some(1), "{what}: {o}");
        assert!(o.stderr.contains(needle), "{what}: {o}");
        assert!(
            o.stderr.contains("sqlite3.db"),
            "{what}: the database is named: {o}"
        );
        assert_eq!(o.stderr.lines().count(), 1, "{what}: one line: {o}");
        assert_nothing_written(&env);
        assert_eq!(
            snapshot(&stokens),
            before,
            "{what}: the SoftHSM token was written"
        );
    };
    let mut overwritten = good.clone();
    let mid = good.len() / 2;
    overwritten[mid..mid + 1024].fill(0xa5);
    for (what, bytes, needle) in [
        ("truncated", good[..mid].to_vec(), "damaged"),
        ("overwritten", overwritten, "damaged"),
        ("empty", Vec::new(), "the database is empty"),
        ("not SQLite", vec![b'x'; 4096], "not an SQLite database"),
    ] {
        std::fs::write(&db, &bytes).unwrap();
        refused(what, needle);
    }
    // Newer schemas: a version number, a table, a column, a kind of row SoftHSM 2.6 never writes.
    for (what, sql) in [
        ("user_version", "pragma user_version = 3"),
        ("table", "create table object_meta (k, v)"),
        (
            "column",
            "alter table attribute_binary add column flags integer",
        ),
        (
            "text attribute",
            "insert into attribute_text (value, type, object_id) values ('x', 3, 2)",
        ),
    ] {
        std::fs::write(&db, &good).unwrap();
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(sql).unwrap();
        drop(c);
        refused(what, "newer SoftHSM");
    }
    // A write killed midway leaves a hot journal, which only a writer can roll back: refused
    // with what to do, and once SoftHSM has opened the token, it moves.
    std::fs::write(&db, &good).unwrap();
    if have("sqlite3") {
        let journal = tokdir.join("sqlite3.db-journal");
        let mut w = Command::new("sqlite3")
            .arg(&db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        w.stdin
            .as_mut()
            .unwrap()
            .write_all(
                b"pragma cache_size = 1;\nbegin;\nupdate attribute_binary set value = zeroblob(20000);\n",
            )
            .unwrap();
        let t0 = std::time::Instant::now();
        while !(journal.metadata().is_ok_and(|m| m.len() > 0)
            && db.metadata().unwrap().len() > good.len() as u64)
        {
            assert!(t0.elapsed().as_secs() < 20, "sqlite3 wrote nothing");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        w.kill().unwrap();
        w.wait().unwrap();
        refused("interrupted write", "a SoftHSM write was interrupted");
        let o = soft.util(&sconf, &["--show-slots"]);
        assert!(o.ok(), "softhsm2-util --show-slots: {o}");
        assert!(!journal.exists(), "SoftHSM rolled the write back");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            good,
            "SoftHSM rolled the write back"
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the interrupted-write case needs sqlite3 (apt-get install sqlite3)"
        );
        eprintln!("SKIPPED the interrupted write: no sqlite3");
    }
    // WAL mode, with committed writes still in the -wal: the database's state includes them, and
    // reading it creates no -shm (nor anything else) beside it.
    let wal_dir = env.path("wal-token");
    std::fs::create_dir(&wal_dir).unwrap();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.query_row("pragma journal_mode = wal", [], |_| Ok(()))
            .unwrap();
        c.execute_batch(
            "pragma wal_autocheckpoint = 0;
             update attribute_binary set value = cast('moved from WAL' as blob)
                 where type = 3 and object_id = (select min(object_id) from attribute_binary
                     where type = 3 and object_id > 1 and value = cast('ec' as blob));",
        )
        .unwrap();
        assert!(tokdir.join("sqlite3.db-wal").metadata().unwrap().len() > 0);
        for f in ["sqlite3.db", "sqlite3.db-wal"] {
            std::fs::copy(tokdir.join(f), wal_dir.join(f)).unwrap();
        }
    }
    let before = snapshot(&wal_dir);
    let o = migrate(&env, &wal_dir, &args);
    assert!(o.ok(), "{o}");
    assert!(o.stdout.contains("label \"moved from WAL\""), "{o}");
    assert_eq!(
        snapshot(&wal_dir),
        before,
        "files written beside a WAL database"
    );
    assert_eq!(env.serials().len(), 1);
}
