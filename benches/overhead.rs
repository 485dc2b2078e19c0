//! The module's overhead over calling the crypto backend directly, for RSA-2048 and ECDSA P-256
//! sign (issue 6: at most 5%), and verify; and for the post-quantum operations (issue 14):
//! ML-DSA-65 sign and verify, ML-KEM-768 encapsulate and decapsulate, SLH-DSA-SHA2-128f sign.
//! Through the module, an ML-KEM operation makes a session key object for the shared secret
//! (C_EncapsulateKey / C_DecapsulateKey) and destroys it: its rows count that object's life too.
//!
//! `cargo bench --bench overhead` measures it two ways:
//!
//! - **Time, interleaved.** Short bursts of the same operation through PKCS#11 (the built
//!   `libferrohsm.so`, loaded by the `cryptoki` crate: `C_SignInit` + `C_Sign`) and through
//!   `ferrohsm::crypto` directly (hash + sign, the same backend the module calls), alternating
//!   which goes first. Each pair of bursts gives a ratio; the median ratio is reported. Pairs a few
//!   milliseconds apart see the same CPU frequency and the same neighbours, which separate runs
//!   on a shared VM do not (there, run-to-run noise was ±10%, larger than the overhead itself).
//! - **Instructions** (with `--callgrind`, when valgrind is installed): the same bursts run under
//!   `valgrind --tool=callgrind`, counting instructions inside each burst function only. The
//!   backends' signing code is constant-time, so the count per operation barely moves between
//!   runs, and the difference is the instructions the module adds (the boundary, the session and
//!   key lookup, the checks, the client's length query).
//!
//! Options: `--rounds N` (pairs per operation, default 41), `--callgrind`, `--module PATH`. The
//! module must be the build of the same sources and backend as the bench (its `ferrohsm_build_id()`
//! is compared with `ferrohsm::build_info::BUILD_ID`); otherwise the bench stops.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use ferrohsm::crypto::mldsa::Hedge;
use ferrohsm::crypto::slhdsa::{SlhDsaPrivate, SlhDsaSet};
use ferrohsm::crypto::{self, Curve, EcPrivate, EcPublic, HashAlg, Hasher, RsaPrivate, RsaPublic};
use ferrohsm::crypto::{MlDsaPrivate, MlDsaPublic, MlDsaSet, MlKemPrivate, MlKemPublic, MlKemSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const DATA: [u8; 64] = [0x5a; 64];
const DIGEST: [u8; 32] = [0xa5; 32];
/// The template of the shared secret's key object: a session object.
const KEM_KEY: [Attribute; 1] = [Attribute::Token(false)];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Rsa,
    Ec,
    /// The verify rows: not a target of their own, but they show how close the module comes to
    /// the backend where the ratio to SoftHSM is limited by the backend's speed.
    RsaVerify,
    EcVerify,
    MlDsa,
    MlDsaVerify,
    MlKemEncap,
    MlKemDecap,
    SlhDsa,
}

const OPS: [Op; 9] = [
    Op::Rsa,
    Op::Ec,
    Op::RsaVerify,
    Op::EcVerify,
    Op::MlDsa,
    Op::MlDsaVerify,
    Op::MlKemEncap,
    Op::MlKemDecap,
    Op::SlhDsa,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Rsa => "RSA-2048 sign (CKM_SHA256_RSA_PKCS, 64 B)",
            Op::Ec => "ECDSA P-256 sign (CKM_ECDSA, 32 B digest)",
            Op::RsaVerify => "RSA-2048 verify (CKM_SHA256_RSA_PKCS, 64 B)",
            Op::EcVerify => "ECDSA P-256 verify (CKM_ECDSA, 32 B digest)",
            Op::MlDsa => "ML-DSA-65 sign (CKM_ML_DSA, deterministic, 64 B)",
            Op::MlDsaVerify => "ML-DSA-65 verify (CKM_ML_DSA, 64 B)",
            Op::MlKemEncap => "ML-KEM-768 encapsulate (+ key object)",
            Op::MlKemDecap => "ML-KEM-768 decapsulate (+ key object)",
            Op::SlhDsa => "SLH-DSA-SHA2-128f sign (hedged, 64 B)",
        }
    }
    fn arg(self) -> &'static str {
        match self {
            Op::Rsa => "rsa",
            Op::Ec => "ec",
            Op::RsaVerify => "rsa-verify",
            Op::EcVerify => "ec-verify",
            Op::MlDsa => "ml-dsa",
            Op::MlDsaVerify => "ml-dsa-verify",
            Op::MlKemEncap => "ml-kem-encap",
            Op::MlKemDecap => "ml-kem-decap",
            Op::SlhDsa => "slh-dsa",
        }
    }
    fn from_arg(a: &str) -> Option<Op> {
        OPS.into_iter().find(|o| o.arg() == a)
    }
    /// Operations per timed burst: about 10 ms each.
    fn burst(self) -> usize {
        match self {
            Op::Rsa => 24,
            Op::Ec => 400,
            Op::RsaVerify => 400,
            Op::EcVerify => 120,
            Op::MlDsa => 40,
            Op::MlDsaVerify => 100,
            Op::MlKemEncap => 200,
            Op::MlKemDecap => 200,
            Op::SlhDsa => 2,
        }
    }
    /// Operations per callgrind run.
    fn counted(self) -> usize {
        (self.burst() / 2).max(1)
    }
}

/// One key pair, reachable both ways: through the module (token objects made from the same
/// private values) and directly.
struct Setup {
    _dir: tempfile::TempDir,
    _p11: Pkcs11,
    session: Session,
    rsa: RsaPrivate,
    rsa_handle: ObjectHandle,
    ec: EcPrivate,
    ec_handle: ObjectHandle,
    rsa_pub: RsaPublic,
    rsa_pub_handle: ObjectHandle,
    rsa_sig: Vec<u8>,
    ec_pub: EcPublic,
    ec_pub_handle: ObjectHandle,
    ec_sig: Vec<u8>,
    pq: Pq,
}

/// The post-quantum keys, both ways, and what the verify and decapsulate rows check.
struct Pq {
    mldsa: MlDsaPrivate,
    mldsa_handle: ObjectHandle,
    mldsa_pub: MlDsaPublic,
    mldsa_pub_handle: ObjectHandle,
    mldsa_sig: Vec<u8>,
    mlkem: MlKemPrivate,
    mlkem_handle: ObjectHandle,
    mlkem_pub: MlKemPublic,
    mlkem_pub_handle: ObjectHandle,
    mlkem_ct: Vec<u8>,
    slhdsa: SlhDsaPrivate,
    slhdsa_handle: ObjectHandle,
}

/// Deterministic ML-DSA: signing runs FIPS 204's rejection loop a number of times that depends
/// on the randomness, so hedged signatures would make both sides' counts differ by chance; with
/// the same key and message, both ways make the same signature.
fn pq_mech() -> Mechanism<'static> {
    Mechanism::MlDsa(SignAdditionalContext::new(
        HedgeType::DeterministicRequired,
        None,
    ))
}

fn slh_mech() -> Mechanism<'static> {
    Mechanism::SlhDsa(SignAdditionalContext::new(HedgeType::Preferred, None))
}

/// The post-quantum key objects, made from the same private values as the direct keys.
fn pq_setup(session: &Session) -> Pq {
    use cryptoki::object::{KeyType, ObjectClass};
    let private = |kt: KeyType, set: u64, v: Vec<Attribute>| {
        let mut t = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(kt),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::ParameterSet(cryptoki::types::Ulong::from(set).try_into().unwrap()),
        ];
        t.extend(v);
        session
            .create_object(&t)
            .expect("C_CreateObject (PQ private)")
    };
    let public = |kt: KeyType, set: u64, v: Vec<u8>, usage: Attribute| {
        session
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(kt),
                Attribute::Token(true),
                usage,
                Attribute::ParameterSet(cryptoki::types::Ulong::from(set).try_into().unwrap()),
                Attribute::Value(v),
            ])
            .expect("C_CreateObject (PQ public)")
    };
    let mldsa = MlDsaPrivate::from_seed(MlDsaSet::MlDsa65, &[7u8; 32]).expect("ML-DSA key");
    let mldsa_handle = private(
        KeyType::ML_DSA,
        2,
        vec![Attribute::Sign(true), Attribute::Seed(vec![7u8; 32])],
    );
    let pk = mldsa.public().bytes().to_vec();
    let mldsa_pub = MlDsaPublic::from_bytes(MlDsaSet::MlDsa65, &pk).unwrap();
    let mldsa_pub_handle = public(KeyType::ML_DSA, 2, pk, Attribute::Verify(true));
    let mldsa_sig = mldsa.sign(&DATA, &[], Hedge::Deterministic).unwrap();
    assert_eq!(
        session
            .sign(&pq_mech(), mldsa_handle, &DATA)
            .expect("C_Sign (ML-DSA)"),
        mldsa_sig,
        "the module and the backend sign differently (ML-DSA)"
    );
    session
        .verify(&pq_mech(), mldsa_pub_handle, &DATA, &mldsa_sig)
        .expect("C_Verify (ML-DSA) of the backend's signature");
    let mlkem = MlKemPrivate::from_seed(MlKemSet::MlKem768, &[9u8; 64]).expect("ML-KEM key");
    let mlkem_handle = private(
        KeyType::ML_KEM,
        2,
        vec![Attribute::Decapsulate(true), Attribute::Seed(vec![9u8; 64])],
    );
    let ek = mlkem.public().bytes().to_vec();
    let mlkem_pub = MlKemPublic::from_bytes(MlKemSet::MlKem768, &ek).unwrap();
    let mlkem_pub_handle = public(KeyType::ML_KEM, 2, ek, Attribute::Encapsulate(true));
    let (mlkem_ct, _) = mlkem_pub.encapsulate().unwrap();
    let slhdsa = ferrohsm::crypto::slhdsa::slhdsa_generate(SlhDsaSet::Sha2_128f).unwrap();
    let slhdsa_handle = private(
        KeyType::SLH_DSA,
        3,
        vec![
            Attribute::Sign(true),
            Attribute::Value(slhdsa.bytes().to_vec()),
        ],
    );
    Pq {
        mldsa,
        mldsa_handle,
        mldsa_pub,
        mldsa_pub_handle,
        mldsa_sig,
        mlkem,
        mlkem_handle,
        mlkem_pub,
        mlkem_pub_handle,
        mlkem_ct,
        slhdsa,
        slhdsa_handle,
    }
}

/// Asks the library its build ID (the vendor function `ferrohsm_build_id`, src/ffi/entry.rs) and
/// stops unless it is this bench's own build: the comparison is only meaningful when the module
/// and the `ferrohsm::crypto` compiled into this bench are the same code on the same backend, and
/// `cargo bench` does not rebuild target/release/libferrohsm.so.
fn check_same_build(module: &Path) {
    let theirs = unsafe {
        let lib = libloading::Library::new(module)
            .unwrap_or_else(|e| panic!("loading {}: {e}", module.display()));
        let f: libloading::Symbol<unsafe extern "C" fn() -> *const std::ffi::c_char> =
            lib.get(b"ferrohsm_build_id\0").unwrap_or_else(|e| {
                panic!(
                    "{} has no ferrohsm_build_id(): not a libferrohsm.so of this version ({e}); \
                     run `cargo build --release` first",
                    module.display()
                )
            });
        std::ffi::CStr::from_ptr(f()).to_string_lossy().into_owned()
    };
    let theirs = theirs
        .strip_prefix(ferrohsm::build_info::MARKER)
        .unwrap_or(&theirs);
    if theirs != ferrohsm::build_info::BUILD_ID {
        let backend = ferrohsm::build_info::backend_of(theirs);
        eprintln!(
            "error: {} is not the build this bench compares it with{}.\n  module: {theirs}\n  bench:  {}\n\
             Run `cargo build --release` with the same features as `cargo bench` first.",
            module.display(),
            if backend != ferrohsm::build_info::backend() {
                format!(
                    ": the module uses the {backend} backend, ferrohsm::crypto here uses {}",
                    ferrohsm::build_info::backend()
                )
            } else {
                String::new()
            },
            ferrohsm::build_info::BUILD_ID
        );
        std::process::exit(1);
    }
}

fn setup(module: &Path) -> Setup {
    check_same_build(module);
    let dir = tempfile::Builder::new()
        .prefix("ferrohsm-overhead-")
        .tempdir()
        .expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.path().join("ferrohsm.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nlog.level = ERROR\nkdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\n",
            tokens.display()
        ),
    )
    .expect("config");
    std::env::set_var("FERROHSM_CONF", &conf);
    let p11 = Pkcs11::new(module).unwrap_or_else(|e| panic!("loading {}: {e}", module.display()));
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = p11
        .get_slots_with_token()
        .expect("C_GetSlotList")
        .into_iter()
        .find(|&s| !p11.get_token_info(s).unwrap().token_initialized())
        .expect("a free slot");
    let so = AuthPin::new("12345678".into());
    let user = AuthPin::new("1234".into());
    p11.init_token(slot, &so, "overhead").expect("C_InitToken");
    let slot = p11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|&s| p11.get_token_info(s).unwrap().label() == "overhead")
        .expect("the token");
    let session = p11.open_rw_session(slot).expect("C_OpenSession");
    session.login(UserType::So, Some(&so)).expect("C_Login SO");
    session.init_pin(&user).expect("C_InitPIN");
    session.logout().unwrap();
    session.login(UserType::User, Some(&user)).expect("C_Login");

    let rsa = crypto::rsa_generate(2048, &[1, 0, 1]).expect("RSA key");
    let p = rsa.parts();
    let rsa_handle = session
        .create_object(&[
            Attribute::Class(cryptoki::object::ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::RSA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Modulus(p.n.clone()),
            Attribute::PublicExponent(p.e.clone()),
            Attribute::PrivateExponent(p.d.to_vec()),
            Attribute::Prime1(p.p.to_vec()),
            Attribute::Prime2(p.q.to_vec()),
            Attribute::Exponent1(p.dp.to_vec()),
            Attribute::Exponent2(p.dq.to_vec()),
            Attribute::Coefficient(p.qinv.to_vec()),
        ])
        .expect("C_CreateObject (RSA)");
    let ec = crypto::ec_generate(Curve::P256);
    let ec_handle = session
        .create_object(&[
            Attribute::Class(cryptoki::object::ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            // DER OID of P-256.
            Attribute::EcParams(vec![
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ]),
            Attribute::Value(ec.scalar().to_vec()),
        ])
        .expect("C_CreateObject (EC)");
    let rsa_pub_handle = session
        .create_object(&[
            Attribute::Class(cryptoki::object::ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::RSA),
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Modulus(p.n.clone()),
            Attribute::PublicExponent(p.e.clone()),
        ])
        .expect("C_CreateObject (RSA public)");
    let ec_pub = ec.public();
    // The point as a DER OCTET STRING (65 bytes: short form length).
    let mut point = vec![0x04, 65];
    point.extend(ec_pub.point());
    let ec_pub_handle = session
        .create_object(&[
            Attribute::Class(cryptoki::object::ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::EC),
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::EcParams(vec![
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ]),
            Attribute::EcPoint(point),
        ])
        .expect("C_CreateObject (EC public)");
    let rsa_pub = rsa.public();
    let rsa_sig = rsa
        .sign_pkcs1(
            Some(HashAlg::Sha256),
            &Hasher::digest(HashAlg::Sha256, &DATA),
        )
        .unwrap();
    let ec_sig = ec.sign_prehash(&DIGEST).unwrap();
    // The module's public key objects verify what the backend signed.
    session
        .verify(&Mechanism::Sha256RsaPkcs, rsa_pub_handle, &DATA, &rsa_sig)
        .expect("C_Verify (RSA) of the backend's signature");
    session
        .verify(&Mechanism::Ecdsa, ec_pub_handle, &DIGEST, &ec_sig)
        .expect("C_Verify (EC) of the backend's signature");
    let pq = pq_setup(&session);
    let s = Setup {
        pq,
        _dir: dir,
        _p11: p11,
        session,
        rsa,
        rsa_handle,
        ec,
        ec_handle,
        rsa_pub,
        rsa_pub_handle,
        rsa_sig,
        ec_pub,
        ec_pub_handle,
        ec_sig,
    };
    // Both ways sign with the same key, and agree (RSA PKCS#1 v1.5 is deterministic).
    let m = s
        .session
        .sign(&Mechanism::Sha256RsaPkcs, s.rsa_handle, &DATA)
        .expect("C_Sign (RSA)");
    let d = s
        .rsa
        .sign_pkcs1(
            Some(HashAlg::Sha256),
            &Hasher::digest(HashAlg::Sha256, &DATA),
        )
        .unwrap();
    assert_eq!(m, d, "the module and the backend sign differently");
    let sig = s
        .session
        .sign(&Mechanism::Ecdsa, s.ec_handle, &DIGEST)
        .expect("C_Sign (EC)");
    s.ec.public()
        .verify_prehash(&DIGEST, &sig)
        .expect("the module's ECDSA signature verifies with the backend's public key");
    s
}

/// One operation through the module. Not named `burst_*`: callgrind counts only inside those, so
/// the warm-up call (which parses the key into the module's cache) is left out.
fn once_module(s: &Setup, op: Op) {
    let ss = &s.session;
    let ok = match op {
        Op::Rsa => ss
            .sign(&Mechanism::Sha256RsaPkcs, s.rsa_handle, &DATA)
            .map(black_box)
            .is_ok(),
        Op::Ec => ss
            .sign(&Mechanism::Ecdsa, s.ec_handle, &DIGEST)
            .map(black_box)
            .is_ok(),
        Op::RsaVerify => ss
            .verify(
                &Mechanism::Sha256RsaPkcs,
                s.rsa_pub_handle,
                &DATA,
                &s.rsa_sig,
            )
            .is_ok(),
        Op::EcVerify => ss
            .verify(&Mechanism::Ecdsa, s.ec_pub_handle, &DIGEST, &s.ec_sig)
            .is_ok(),
        Op::MlDsa => ss
            .sign(&pq_mech(), s.pq.mldsa_handle, &DATA)
            .map(black_box)
            .is_ok(),
        Op::MlDsaVerify => ss
            .verify(&pq_mech(), s.pq.mldsa_pub_handle, &DATA, &s.pq.mldsa_sig)
            .is_ok(),
        Op::MlKemEncap => ss
            .encapsulate_key(&Mechanism::MlKem, s.pq.mlkem_pub_handle, &KEM_KEY)
            .and_then(|(ct, k)| {
                black_box(ct);
                ss.destroy_object(k)
            })
            .is_ok(),
        Op::MlKemDecap => ss
            .decapsulate_key(
                &Mechanism::MlKem,
                s.pq.mlkem_handle,
                &KEM_KEY,
                &s.pq.mlkem_ct,
            )
            .and_then(|k| ss.destroy_object(k))
            .is_ok(),
        Op::SlhDsa => ss
            .sign(&slh_mech(), s.pq.slhdsa_handle, &DATA)
            .map(black_box)
            .is_ok(),
    };
    assert!(black_box(ok), "{} failed through the module", op.name());
}

/// One operation through the backend directly.
fn once_direct(s: &Setup, op: Op) {
    let sha256 = |d: &[u8]| Hasher::digest(HashAlg::Sha256, black_box(d));
    let ok = match op {
        Op::Rsa => s
            .rsa
            .sign_pkcs1(Some(HashAlg::Sha256), &sha256(&DATA))
            .map(black_box)
            .is_ok(),
        Op::Ec => s.ec.sign_prehash(black_box(&DIGEST)).map(black_box).is_ok(),
        Op::RsaVerify => s
            .rsa_pub
            .verify_pkcs1(Some(HashAlg::Sha256), &sha256(&DATA), &s.rsa_sig)
            .is_ok(),
        Op::EcVerify => s
            .ec_pub
            .verify_prehash(black_box(&DIGEST), &s.ec_sig)
            .is_ok(),
        Op::MlDsa => {
            s.pq.mldsa
                .sign(black_box(&DATA), &[], Hedge::Deterministic)
                .map(black_box)
                .is_ok()
        }
        Op::MlDsaVerify => {
            s.pq.mldsa_pub
                .verify(black_box(&DATA), &[], &s.pq.mldsa_sig)
                .is_ok()
        }
        Op::MlKemEncap => s.pq.mlkem_pub.encapsulate().map(black_box).is_ok(),
        Op::MlKemDecap => {
            s.pq.mlkem
                .decapsulate(black_box(&s.pq.mlkem_ct))
                .map(black_box)
                .is_ok()
        }
        Op::SlhDsa => {
            s.pq.slhdsa
                .sign(black_box(&DATA), &[], true)
                .map(black_box)
                .is_ok()
        }
    };
    assert!(black_box(ok), "{} failed directly", op.name());
}

#[inline(never)]
fn burst_module(s: &Setup, op: Op, n: usize) {
    for _ in 0..n {
        once_module(s, op);
    }
}

#[inline(never)]
fn burst_direct(s: &Setup, op: Op, n: usize) {
    for _ in 0..n {
        once_direct(s, op);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed(s: &Setup, op: Op, rounds: usize) {
    let n = op.burst();
    burst_module(s, op, n);
    burst_direct(s, op, n);
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut ratios, mut module, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let (m, d) = if r % 2 == 0 {
            let m = time(&|| burst_module(s, op, n));
            (m, time(&|| burst_direct(s, op, n)))
        } else {
            let d = time(&|| burst_direct(s, op, n));
            (time(&|| burst_module(s, op, n)), d)
        };
        ratios.push(m / d);
        module.push(n as f64 / m);
        direct.push(n as f64 / d);
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |f: f64| (sorted[((sorted.len() - 1) as f64 * f) as usize] - 1.0) * 100.0;
    println!(
        "{:<44} direct {:>8.0}/s  module {:>8.0}/s  overhead {:+5.1}% (quartiles {:+.1}%..{:+.1}%, {} pairs of {} ops)",
        op.name(),
        median(&mut direct),
        median(&mut module),
        (median(&mut ratios) - 1.0) * 100.0,
        q(0.25),
        q(0.75),
        rounds,
        n,
    );
}

/// Instructions per operation inside `burst_<which>`, from a callgrind run of this program.
fn callgrind(module: &Path, op: Op, which: &str, n: usize) -> Result<f64, String> {
    let out = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let st = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*burst_{which}*"))
        .arg(format!("--callgrind-out-file={}", out.path().display()))
        .arg(exe)
        .args(["--worker", which, op.arg(), &n.to_string(), "--module"])
        .arg(module)
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !st.status.success() {
        return Err(format!(
            "valgrind failed: {}",
            String::from_utf8_lossy(&st.stderr)
        ));
    }
    let text = std::fs::read_to_string(out.path()).map_err(|e| e.to_string())?;
    let total: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or("no totals in the callgrind output")?;
    Ok(total / n as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut module = PathBuf::from("target/release/libferrohsm.so");
    let mut rounds = 41;
    let mut with_callgrind = false;
    let mut worker: Option<(String, Op, usize)> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--module" => module = PathBuf::from(it.next().expect("--module PATH")),
            "--rounds" => {
                rounds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--rounds N")
            }
            "--callgrind" => with_callgrind = true,
            "--worker" => {
                let which = it.next().expect("--worker module|direct").clone();
                let op = it
                    .next()
                    .and_then(|a| Op::from_arg(a))
                    .expect("--worker WHICH OP N");
                let n = it.next().and_then(|v| v.parse().ok()).expect("count");
                worker = Some((which, op, n));
            }
            "--help" | "-h" => {
                println!(
                    "usage: cargo bench --bench overhead -- [--rounds N] [--callgrind] [--module PATH]"
                );
                return;
            }
            x => {
                eprintln!("error: unknown option {x} (see --help)");
                std::process::exit(2);
            }
        }
    }
    let s = setup(&module);
    if let Some((which, op, n)) = worker {
        // Warm, outside the counted functions: the first call parses the key into the module's
        // cache, and the backend sets up its own lazily.
        once_module(&s, op);
        once_direct(&s, op);
        match which.as_str() {
            "module" => burst_module(&s, op, n),
            _ => burst_direct(&s, op, n),
        }
        return;
    }
    println!("module overhead over the backend called directly (median of interleaved pairs):");
    for op in OPS {
        timed(&s, op, rounds);
    }
    if with_callgrind {
        println!("\ninstructions per operation (callgrind, inside the burst functions):");
        for op in OPS {
            let n = op.counted();
            match (
                callgrind(&module, op, "direct", n),
                callgrind(&module, op, "module", n),
            ) {
                (Ok(d), Ok(m)) => println!(
                    "{:<44} direct {:>10.0}  module {:>10.0}  overhead {:+5.2}% ({:+.0} instructions)",
                    op.name(),
                    d,
                    m,
                    (m / d - 1.0) * 100.0,
                    m - d
                ),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: {}: {e}", op.name());
                    std::process::exit(1);
                }
            }
        }
    }
}
