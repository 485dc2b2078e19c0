//! `ferrohsm-util migrate softhsm`: a token SoftHSM 2.6.1 made (softhsm2-util, pkcs11-tool from
//! several processes at once, and SoftHSM itself through the cryptoki crate for the attribute
//! combinations pkcs11-tool cannot ask for) moves into ferrohsm. Every attribute is read through
//! both modules and compared; every migrated private key signs and SoftHSM's public key verifies;
//! a JWT SoftHSM signed before verifies after; secret keys give the same ciphertexts and MACs.
//! Bad input (wrong PINs, damaged files, a directory that is not SoftHSM's) writes nothing.
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

/// A SoftHSM configuration with its own token directory under `dir`, holding one initialized
/// token (label LABEL, PINs SOFT_PIN and SOFT_SO) made by softhsm2-util.
fn soft_conf(dir: &Path) -> (PathBuf, PathBuf) {
    assert!(
        Path::new(SOFTHSM).exists() && have("softhsm2-util") && have("pkcs11-tool"),
        "these tests need SoftHSM 2 and OpenSC: apt-get install softhsm2 opensc"
    );
    let tokens = dir.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let o = softhsm_util(
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

fn p11tool(conf: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("pkcs11-tool");
    c.args([
        "--module",
        SOFTHSM,
        "--token-label",
        LABEL,
        "--login",
        "--pin",
        SOFT_PIN,
    ])
    .args(args)
    .env("SOFTHSM2_CONF", conf);
    c
}

/// A SoftHSM token with one EC key: enough for the failure cases.
fn small_soft_token(dir: &Path) -> (PathBuf, PathBuf) {
    let (conf, tokens) = soft_conf(dir);
    let o = run(p11tool(
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

fn load_softhsm(conf: &Path) -> Pkcs11 {
    std::env::set_var("SOFTHSM2_CONF", conf);
    let p = Pkcs11::new(SOFTHSM).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    p
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
    let env = Env::new("log.level = ERROR\n");
    let (sconf, stokens) = soft_conf(env.dir.path());
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
        .map(|a| (a, p11tool(&sconf, a).output_spawn()))
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
            let o = run(p11tool(&sconf, a));
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
    let o = run(p11tool(
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
    let o = run(p11tool(
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
    let soft = load_softhsm(&sconf);
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
    eprintln!("migrated 14 objects in {took:?}");
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
    eprintln!("{compared} attribute values compared");
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
    let env = Env::new("log.level = ERROR\n");
    let (_sconf, stokens) = small_soft_token(env.dir.path());
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
    let (_sconf, stokens) = small_soft_token(env.dir.path());
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
