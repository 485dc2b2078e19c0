//! Performance comparison, run by hand:
//! `cargo test --release --test crypto_perf -- --ignored --nocapture`
//!
//! ferrohsm vs SoftHSM (`/usr/lib/softhsm/libsofthsm2.so`) for RSA-2048 sign, ECDSA P-256 sign and
//! verify, HMAC-SHA256 over 64 bytes, and what the parsed-key cache saves (the cost of parsing an
//! RSA key on every call); and for Ed25519 sign and verify and ECDH P-256 derivation (X25519 on
//! ferrohsm alone: SoftHSM 2.6.1 has none). The module's overhead over the backend:
//! `cargo bench --bench overhead`.

mod crypto_common;

use crypto_common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(1500);

/// Operations per second of `f`, over about BUDGET.
fn rate(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < BUDGET {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct Keys {
    rsa: ObjectHandle,
    ec: ObjectHandle,
    ec_pub: ObjectHandle,
    hmac: ObjectHandle,
}

fn keys(s: &Session) -> Keys {
    let (_, rsa) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
            ],
            &[
                Attribute::Sign(true),
                Attribute::Sensitive(true),
                Attribute::Private(true),
            ],
        )
        .unwrap();
    let (ec_pub, ec) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(OID_P256.to_vec()),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Sign(true),
                Attribute::Sensitive(true),
                Attribute::Private(true),
            ],
        )
        .unwrap();
    let hmac = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ],
        )
        .unwrap();
    Keys {
        rsa,
        ec,
        ec_pub,
        hmac,
    }
}

/// [RSA sign, ECDSA sign, ECDSA verify, HMAC] rates through a PKCS#11 session.
fn measure(s: &Session) -> [f64; 4] {
    let k = keys(s);
    let data = [0x5au8; 64];
    // SoftHSM 2.6 has no CKM_ECDSA_SHA256: both sign a SHA-256 digest with CKM_ECDSA.
    let digest = [0xa5u8; 32];
    let ec_sig = s.sign(&Mechanism::Ecdsa, k.ec, &digest).unwrap();
    [
        rate(|| drop(s.sign(&Mechanism::Sha256RsaPkcs, k.rsa, &data).unwrap())),
        rate(|| drop(s.sign(&Mechanism::Ecdsa, k.ec, &digest).unwrap())),
        rate(|| {
            s.verify(&Mechanism::Ecdsa, k.ec_pub, &digest, &ec_sig)
                .unwrap()
        }),
        rate(|| drop(s.sign(&Mechanism::Sha256Hmac, k.hmac, &data).unwrap())),
    ]
}

fn softhsm<const N: usize>(dir: &std::path::Path, measure: fn(&Session) -> [f64; N]) -> [f64; N] {
    let lib = std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so");
    assert!(
        lib.exists(),
        "the comparison needs SoftHSM ({} not found): apt-get install softhsm2",
        lib.display()
    );
    let tokens = dir.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\n", tokens.display()),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let p = Pkcs11::new(lib).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = p.get_all_slots().unwrap()[0];
    p.init_token(slot, &AuthPin::new(SO_PIN.into()), "perf")
        .unwrap();
    let slot = p.get_slots_with_initialized_token().unwrap()[0];
    let r = {
        let s = p.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&AuthPin::new(SO_PIN.into())))
            .unwrap();
        s.init_pin(&AuthPin::new(USER_PIN.into())).unwrap();
        s.logout().unwrap();
        s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))
            .unwrap();
        measure(&s)
    };
    let _ = p.finalize();
    r
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn perf_vs_softhsm_and_direct() {
    let env = Env::new();
    let s = env.user();
    let ours = measure(&s);
    drop(s);
    let theirs = Some(softhsm(env.dir.path(), measure));
    let names = [
        "RSA-2048 sign (SHA256-RSA-PKCS)",
        "ECDSA P-256 sign (CKM_ECDSA)",
        "ECDSA P-256 verify (CKM_ECDSA)",
        "HMAC-SHA256 64 B",
    ];
    println!(
        "\n{:<34} {:>12} {:>12} {:>8}",
        "operation", "ferrohsm/s", "softhsm/s", "ratio"
    );
    for i in 0..4 {
        match theirs {
            Some(t) => println!(
                "{:<34} {:>12.0} {:>12.0} {:>7.2}x",
                names[i],
                ours[i],
                t[i],
                ours[i] / t[i]
            ),
            None => println!("{:<34} {:>12.0}", names[i], ours[i]),
        }
    }

    // The module's overhead over the backend is measured by `cargo bench --bench overhead`
    // (interleaved bursts and instruction counts): timed separately, as here, the run-to-run
    // drift of a shared machine is larger than the overhead.
    use ferrohsm::crypto::{self, RsaPrivate};
    let k = crypto::rsa_generate(2048, &[1, 0, 1]).unwrap();
    // What the cache saves: parsing the key (all CRT components, validated) on each call.
    let p = k.parts();
    let parse = rate(|| {
        drop(RsaPrivate::from_components(&p.n, &p.e, &p.d, Some((&p.p, &p.q))).unwrap());
    });
    let parse_ned = rate(|| {
        drop(RsaPrivate::from_components(&p.n, &p.e, &p.d, None).unwrap());
    });
    println!(
        "parsed-key cache: parsing an RSA-2048 key costs {:.2} ms ({:.0}/s); without the cache a sign would be ~{:.0}/s",
        1000.0 / parse,
        parse,
        1.0 / (1.0 / ours[0] + 1.0 / parse)
    );
    println!(
        "parsed-key cache: an RSA-2048 key imported as n, e, d only costs {:.2} ms to parse (prime recovery): ~{:.0}/s without the cache",
        1000.0 / parse_ned,
        1.0 / (1.0 / ours[0] + 1.0 / parse_ned)
    );
    assert!(ours.iter().all(|&r| r > 0.0));
}

/// A derived 32-byte generic secret, destroyed at once (the rate is of C_DeriveKey plus
/// C_DestroyObject of a session object, on both modules).
fn derive_destroy(s: &Session, base: ObjectHandle, public: &[u8]) {
    use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
    use cryptoki::object::{KeyType, ObjectClass};
    let k = s
        .derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), public)),
            base,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .unwrap();
    s.destroy_object(k).unwrap();
}

fn ec_point(s: &Session, public: ObjectHandle) -> Vec<u8> {
    bytes_attr(s, public, cryptoki::object::AttributeType::EcPoint)
}

/// [Ed25519 sign, Ed25519 verify, ECDH P-256 derive, ECDH P-384 derive, ECDSA secp256k1 sign,
/// ECDSA secp256k1 verify] rates through a PKCS#11 session.
fn measure_kex(s: &Session) -> [f64; 6] {
    use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
    let eddsa = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
    // pkcs11-tool's form of the Ed25519 parameters, which SoftHSM 2.6.1 takes too.
    let ed_params = [&[0x13, 12][..], b"edwards25519"].concat();
    let (ed_pub, ed) = s
        .generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &[Attribute::EcParams(ed_params), Attribute::Verify(true)],
            &[Attribute::Sign(true), Attribute::Sensitive(true)],
        )
        .unwrap();
    let msg = [0x5au8; 64];
    let sig = s.sign(&eddsa, ed, &msg).unwrap();
    let pair = |oid: &[u8]| {
        s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(oid.to_vec()), Attribute::Verify(true)],
            &[
                Attribute::Derive(true),
                Attribute::Sign(true),
                Attribute::Sensitive(true),
            ],
        )
        .unwrap()
    };
    let ((_, a), (pb, _)) = (pair(OID_P256), pair(OID_P256));
    let qb = ec_point(s, pb);
    let ((_, a384), (pb384, _)) = (pair(OID_P384), pair(OID_P384));
    let qb384 = ec_point(s, pb384);
    // secp256k1, CKM_ECDSA on a 32-byte digest
    let (k1_pub, k1) = pair(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]);
    let digest = [0x3cu8; 32];
    let k1_sig = s.sign(&Mechanism::Ecdsa, k1, &digest).unwrap();
    [
        rate(|| drop(s.sign(&eddsa, ed, &msg).unwrap())),
        rate(|| s.verify(&eddsa, ed_pub, &msg, &sig).unwrap()),
        rate(|| derive_destroy(s, a, &qb)),
        rate(|| derive_destroy(s, a384, &qb384)),
        rate(|| drop(s.sign(&Mechanism::Ecdsa, k1, &digest).unwrap())),
        rate(|| {
            s.verify(&Mechanism::Ecdsa, k1_pub, &digest, &k1_sig)
                .unwrap()
        }),
    ]
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn perf_ed25519_ecdh_vs_softhsm() {
    let env = Env::new();
    let s = env.user();
    let ours = measure_kex(&s);
    // X25519, ferrohsm only.
    let x_params = vec![0x06, 0x03, 0x2b, 0x65, 0x6e];
    let pair = || {
        s.generate_key_pair(
            &Mechanism::EccMontgomeryKeyPairGen,
            &[Attribute::EcParams(x_params.clone())],
            &[Attribute::Derive(true), Attribute::Sensitive(true)],
        )
        .unwrap()
    };
    let ((_, xa), (xpb, _)) = (pair(), pair());
    let u = ec_point(&s, xpb);
    let x25519 = rate(|| derive_destroy(&s, xa, &u));
    drop(s);
    let theirs = softhsm(env.dir.path(), measure_kex);
    let names = [
        "Ed25519 sign (64 B, CKM_EDDSA)",
        "Ed25519 verify (64 B)",
        "ECDH P-256 derive (+ destroy)",
        "ECDH P-384 derive (+ destroy)",
        "ECDSA secp256k1 sign (CKM_ECDSA)",
        "ECDSA secp256k1 verify",
    ];
    println!(
        "\n{:<34} {:>12} {:>12} {:>8}",
        "operation", "ferrohsm/s", "softhsm/s", "ratio"
    );
    for i in 0..names.len() {
        println!(
            "{:<34} {:>12.0} {:>12.0} {:>7.2}x",
            names[i],
            ours[i],
            theirs[i],
            ours[i] / theirs[i]
        );
    }
    println!(
        "{:<34} {:>12.0} {:>12}",
        "X25519 derive (+ destroy)", x25519, "-"
    );
    assert!(ours.iter().chain(&theirs).all(|&r| r > 0.0) && x25519 > 0.0);
}

/// C_DeriveKey of a 32-byte generic secret with `m` (raw: cryptoki has no SP 800-108), then
/// C_DestroyObject of it.
fn raw_derive_destroy(
    f: &cryptoki_sys::CK_FUNCTION_LIST,
    hs: cryptoki_sys::CK_SESSION_HANDLE,
    m: &mut cryptoki_sys::CK_MECHANISM,
    base: ObjectHandle,
) {
    use cryptoki_sys::*;
    let (class, kt, len, no, yes) = (CKO_SECRET_KEY, CKK_GENERIC_SECRET, 32 as CK_ULONG, 0u8, 1u8);
    let attr = |ty: CK_ATTRIBUTE_TYPE, p: *const std::ffi::c_void, n: usize| CK_ATTRIBUTE {
        type_: ty,
        pValue: p as *mut std::ffi::c_void,
        ulValueLen: n as CK_ULONG,
    };
    let ul = std::mem::size_of::<CK_ULONG>();
    let mut t = [
        attr(CKA_CLASS, &class as *const _ as _, ul),
        attr(CKA_KEY_TYPE, &kt as *const _ as _, ul),
        attr(CKA_VALUE_LEN, &len as *const _ as _, ul),
        attr(CKA_TOKEN, &no as *const _ as _, 1),
        attr(CKA_SENSITIVE, &no as *const _ as _, 1),
        attr(CKA_EXTRACTABLE, &yes as *const _ as _, 1),
    ];
    let mut k: CK_OBJECT_HANDLE = 0;
    unsafe {
        assert_eq!(
            (f.C_DeriveKey.unwrap())(
                hs,
                m,
                base.handle(),
                t.as_mut_ptr(),
                t.len() as CK_ULONG,
                &mut k
            ),
            CKR_OK
        );
        assert_eq!((f.C_DestroyObject.unwrap())(hs, k), CKR_OK);
    }
}

/// HKDF and SP 800-108 derivations (a 32-byte generic secret, + destroy), ferrohsm alone:
/// SoftHSM 2.6.1 has neither.
#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn perf_kdf() {
    use cryptoki::object::{KeyType, ObjectClass};
    use cryptoki_sys::*;
    let env = Env::new();
    let s = env.user();
    let f = env.f;
    let key = |kt: KeyType| {
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(kt),
            Attribute::Token(false),
            Attribute::Derive(true),
            // The derived keys are readable, so the base must be (kdf.rs's inheritance rule).
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Value(vec![0x42; 32]),
        ])
        .unwrap()
    };
    let (generic, aes) = (key(KeyType::GENERIC_SECRET), key(KeyType::AES));
    let (salt, info) = (b"salt".to_vec(), b"info".to_vec());
    let mut hkdf = CK_HKDF_PARAMS {
        bExtract: 1,
        bExpand: 1,
        prfHashMechanism: CKM_SHA256,
        ulSaltType: CKF_HKDF_SALT_DATA,
        pSalt: salt.as_ptr() as *mut u8,
        ulSaltLen: salt.len() as CK_ULONG,
        hSaltKey: 0,
        pInfo: info.as_ptr() as *mut u8,
        ulInfoLen: info.len() as CK_ULONG,
    };
    let mut m = raw_mech_param(CKM_HKDF_DERIVE, &mut hkdf);
    let hkdf_rate = rate(|| raw_derive_destroy(f, s.handle(), &mut m, generic));
    let c = CK_SP800_108_COUNTER_FORMAT {
        bLittleEndian: 0,
        ulWidthInBits: 32,
    };
    let label = b"label".to_vec();
    let mut data = [
        CK_PRF_DATA_PARAM {
            type_: CK_SP800_108_ITERATION_VARIABLE,
            pValue: &c as *const _ as *mut std::ffi::c_void,
            ulValueLen: std::mem::size_of_val(&c) as CK_ULONG,
        },
        CK_PRF_DATA_PARAM {
            type_: CK_SP800_108_BYTE_ARRAY,
            pValue: label.as_ptr() as *mut std::ffi::c_void,
            ulValueLen: label.len() as CK_ULONG,
        },
    ];
    let mut rates = Vec::new();
    for (prf, base) in [(CKM_SHA256_HMAC, generic), (CKM_AES_CMAC, aes)] {
        let mut p = CK_SP800_108_KDF_PARAMS {
            prfType: prf,
            ulNumberOfDataParams: data.len() as CK_ULONG,
            pDataParams: data.as_mut_ptr(),
            ulAdditionalDerivedKeys: 0,
            pAdditionalDerivedKeys: std::ptr::null_mut(),
        };
        let mut m = raw_mech_param(CKM_SP800_108_COUNTER_KDF, &mut p);
        rates.push(rate(|| raw_derive_destroy(f, s.handle(), &mut m, base)));
    }
    let mut m = raw_mech(CKM_SHA256_KEY_DERIVATION);
    let sha = rate(|| raw_derive_destroy(f, s.handle(), &mut m, generic));
    println!(
        "\n{:<48} {:>12}",
        "operation (32-byte key, + destroy)", "ferrohsm/s"
    );
    for (name, r) in [
        ("HKDF-SHA256 extract+expand (CKM_HKDF_DERIVE)", hkdf_rate),
        ("SP 800-108 counter, HMAC-SHA256", rates[0]),
        ("SP 800-108 counter, AES-CMAC", rates[1]),
        ("CKM_SHA256_KEY_DERIVATION", sha),
    ] {
        println!("{name:<48} {r:>12.0}");
    }
    assert!(hkdf_rate > 0.0 && sha > 0.0 && rates.iter().all(|&r| r > 0.0));
}

/// ECDH P-256 derivations (+ destroy) on ferrohsm alone, for a profiler:
/// `perf record -g <test binary> --ignored --exact ecdh_p256_profile_loop`
/// (`FERROHSM_PERF_SECONDS`, default 5; or `FERROHSM_PERF_ITERS` derivations).
#[test]
#[ignore]
fn ecdh_p256_profile_loop() {
    let env = Env::new();
    let s = env.user();
    let secs: u64 = std::env::var("FERROHSM_PERF_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let pair = || {
        s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(OID_P256.to_vec())],
            &[Attribute::Derive(true), Attribute::Sensitive(true)],
        )
        .unwrap()
    };
    let ((_, a), (pb, _)) = (pair(), pair());
    let qb = ec_point(&s, pb);
    // With FERROHSM_PERF_ITERS, exactly that many (for `perf stat -e instructions`: the count
    // of a run with N minus one with 0, over N, is the instructions of one derivation).
    let iters: Option<u64> = std::env::var("FERROHSM_PERF_ITERS")
        .ok()
        .and_then(|v| v.parse().ok());
    let start = Instant::now();
    let mut n = 0u64;
    while iters.map_or(start.elapsed() < Duration::from_secs(secs), |i| n < i) {
        derive_destroy(&s, a, &qb);
        n += 1;
    }
    println!(
        "ECDH P-256 derive (+ destroy): {:.0}/s",
        n as f64 / start.elapsed().as_secs_f64()
    );
}
