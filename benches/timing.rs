//! Statistical timing tests (dudect-style) for the comparisons that must take the same time
//! whatever the secret: PIN checks, HMAC verification, AES-GCM tag checks, RSA PKCS#1 v1.5
//! decryption with good and bad padding. Issue "Hardening", item 5.
//!
//! `cargo bench --bench timing [-- --quick] [--module PATH] [--n N]` drives the built
//! `libferrohsm.so` through the `cryptoki` crate. For each test, two classes of input are
//! measured in a random interleaving (each call timed on its own); Welch's t-statistic between
//! the two classes is computed on all samples and on the samples below several percentiles of the
//! pooled times (cropping, as dudect does, removes the long tail that scheduling adds). The
//! largest |t| is reported. dudect's reading: |t| above 4.5 is evidence that the two classes take
//! different times; below, no difference was found at this sample size (which is not a proof).
//!
//! The classes are chosen so that a non-constant-time comparison would separate them: a MAC or
//! tag wrong in its first byte against one wrong in its last byte (an early-exit compare returns
//! sooner for the first), a wrong PIN far from the right one against one that differs only in
//! its last character, a ciphertext with valid PKCS#1 v1.5 padding against one with invalid
//! padding (the Bleichenbacher/Marvin signal). The numbers are only as quiet as the machine:
//! a shared VM adds noise, which lowers |t|, never raises it systematically, because the classes
//! are interleaved at random.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::path::PathBuf;
use std::time::Instant;

const SO: &str = "12345678";
const PIN: &str = "12345678abcdef";

/// A small xorshift generator: which class goes next (no cryptographic need).
struct Coin(u64);

impl Coin {
    fn flip(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 1 == 1
    }
}

/// Welch's t between two samples.
fn welch(a: &[f64], b: &[f64]) -> f64 {
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
        (n, m, v)
    };
    let (na, ma, va) = stats(a);
    let (nb, mb, vb) = stats(b);
    (ma - mb) / (va / na + vb / nb).sqrt()
}

/// The largest |t| over the uncropped samples and crops at several percentiles of the pooled
/// times; returns (t, the crop it came from, medians of both classes in ns).
fn analyse(a: &[f64], b: &[f64]) -> (f64, &'static str, f64, f64) {
    let mut pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    pooled.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let pct = |p: f64| pooled[((pooled.len() - 1) as f64 * p) as usize];
    let mut best = (0.0f64, "all");
    for (name, cut) in [
        ("all", f64::INFINITY),
        ("<p95", pct(0.95)),
        ("<p90", pct(0.90)),
        ("<p75", pct(0.75)),
        ("<p50", pct(0.50)),
    ] {
        let ka: Vec<f64> = a.iter().copied().filter(|&v| v < cut).collect();
        let kb: Vec<f64> = b.iter().copied().filter(|&v| v < cut).collect();
        if ka.len() < 10 || kb.len() < 10 {
            continue;
        }
        let t = welch(&ka, &kb);
        if t.abs() > best.0.abs() {
            best = (t, name);
        }
    }
    let median = |x: &[f64]| {
        let mut v = x.to_vec();
        v.sort_by(|p, q| p.partial_cmp(q).unwrap());
        v[v.len() / 2]
    };
    (best.0, best.1, median(a), median(b))
}

/// Measures `n` calls of each class, interleaved at random. `run(true)` is class A; it returns
/// the time of the call it makes, so that preparing the input (copying it into the one buffer
/// both classes use: two buffers at two addresses can differ in timing by themselves) is not
/// measured.
fn measure(n: usize, coin: &mut Coin, mut run: impl FnMut(bool) -> f64) -> (Vec<f64>, Vec<f64>) {
    // Warm both paths first.
    for _ in 0..(n / 20).max(5) {
        run(true);
        run(false);
    }
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    while a.len() < n || b.len() < n {
        let class_a = if a.len() >= n {
            false
        } else if b.len() >= n {
            true
        } else {
            coin.flip()
        };
        let ns = run(class_a);
        if class_a {
            a.push(ns)
        } else {
            b.push(ns)
        }
    }
    (a, b)
}

struct Row {
    name: &'static str,
    classes: &'static str,
    n: usize,
    t: f64,
    crop: &'static str,
    med_a: f64,
    med_b: f64,
}

fn report(rows: &[Row]) {
    println!(
        "\n{:<44} {:<44} {:>7} {:>8} {:>6} {:>11} {:>11}",
        "test", "class A vs class B", "n/class", "max |t|", "crop", "median A", "median B"
    );
    for r in rows {
        println!(
            "{:<44} {:<44} {:>7} {:>8.2} {:>6} {:>9.0}ns {:>9.0}ns  {}",
            r.name,
            r.classes,
            r.n,
            r.t.abs(),
            r.crop,
            r.med_a,
            r.med_b,
            if r.t.abs() > 4.5 {
                "DIFFERENT (|t| > 4.5)"
            } else {
                "no difference found"
            }
        );
    }
}

fn setup(module: &PathBuf) -> (Pkcs11, tempfile::TempDir, Session) {
    let dir = tempfile::Builder::new()
        .prefix("ferrohsm-timing-")
        .tempdir()
        .expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.path().join("ferrohsm.conf");
    // The cheapest PIN derivation (the timing of the check after it is what is measured) and the
    // most wrong PINs allowed before a lock (a right login resets the count between batches).
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nlog.level = ERROR\nkdf.argon2.memory_kib = 1024\n\
             kdf.argon2.iterations = 1\npin.max_attempts = 1000\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("FERROHSM_CONF", &conf);
    let p11 = Pkcs11::new(module).unwrap_or_else(|e| panic!("loading {}: {e}", module.display()));
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = p11.get_slots_with_token().unwrap()[0];
    p11.init_token(slot, &AuthPin::new(SO.into()), "timing")
        .unwrap();
    let slot = p11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|&s| p11.get_token_info(s).unwrap().label() == "timing")
        .unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&AuthPin::new(SO.into())))
        .unwrap();
    s.init_pin(&AuthPin::new(PIN.into())).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&AuthPin::new(PIN.into())))
        .unwrap();
    (p11, dir, s)
}

fn secret(s: &Session, kt: KeyType, value: Vec<u8>, attrs: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::Value(value),
    ];
    t.extend_from_slice(attrs);
    s.create_object(&t).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut module = PathBuf::from("target/release/libferrohsm.so");
    let mut n = 20_000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--quick" => n = 1_000,
            "--n" => n = it.next().and_then(|v| v.parse().ok()).expect("--n N"),
            "--module" => module = PathBuf::from(it.next().expect("--module PATH")),
            "--help" | "-h" => {
                println!("usage: cargo bench --bench timing -- [--quick] [--n N] [--module PATH]");
                return;
            }
            x => {
                eprintln!("error: unknown option {x} (see --help)");
                std::process::exit(2);
            }
        }
    }
    let (p11, _dir, s) = setup(&module);
    let mut coin = Coin(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    );
    let mut rows = Vec::new();
    let data = [0x42u8; 64];

    // HMAC verification: a MAC wrong in its first byte against one wrong in its last.
    let hk = secret(
        &s,
        KeyType::GENERIC_SECRET,
        vec![0x0b; 32],
        &[Attribute::Sign(true), Attribute::Verify(true)],
    );
    let mac = s.sign(&Mechanism::Sha256Hmac, hk, &data).unwrap();
    let (mut first, mut last) = (mac.clone(), mac.clone());
    first[0] ^= 1;
    last[31] ^= 1;
    let mut buf = mac.clone();
    let (a, b) = measure(n, &mut coin, |class_a| {
        buf.copy_from_slice(if class_a { &first } else { &last });
        let t = Instant::now();
        let r = s.verify(&Mechanism::Sha256Hmac, hk, &data, &buf);
        let ns = t.elapsed().as_nanos() as f64;
        assert!(r.is_err());
        ns
    });
    let (t, crop, ma, mb) = analyse(&a, &b);
    rows.push(Row {
        name: "C_Verify CKM_SHA256_HMAC (64 B)",
        classes: "MAC wrong in byte 0 vs wrong in byte 31",
        n,
        t,
        crop,
        med_a: ma,
        med_b: mb,
    });

    // AES-GCM tag check: a tag wrong in its first byte against one wrong in its last.
    let gk = secret(
        &s,
        KeyType::AES,
        vec![0x2b; 32],
        &[Attribute::Encrypt(true), Attribute::Decrypt(true)],
    );
    let mut iv = [9u8; 12];
    let ct = s
        .encrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into()).unwrap()),
            gk,
            &data,
        )
        .unwrap();
    let (mut first, mut last) = (ct.clone(), ct.clone());
    let tag0 = ct.len() - 16;
    first[tag0] ^= 1;
    last[ct.len() - 1] ^= 1;
    let mut buf = ct.clone();
    let (a, b) = measure(n, &mut coin, |class_a| {
        buf.copy_from_slice(if class_a { &first } else { &last });
        let mut iv = [9u8; 12];
        let m = Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into()).unwrap());
        let t = Instant::now();
        let r = s.decrypt(&m, gk, &buf);
        let ns = t.elapsed().as_nanos() as f64;
        assert!(r.is_err());
        ns
    });
    let (t, crop, ma, mb) = analyse(&a, &b);
    rows.push(Row {
        name: "C_Decrypt CKM_AES_GCM (64 B, 128-bit tag)",
        classes: "tag wrong in byte 0 vs wrong in byte 15",
        n,
        t,
        crop,
        med_a: ma,
        med_b: mb,
    });

    // RSA PKCS#1 v1.5 decryption: valid padding against invalid padding.
    let (rpub, rpriv) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Encrypt(true),
            ],
            &[
                Attribute::Token(false),
                Attribute::Decrypt(true),
                Attribute::Sensitive(true),
            ],
        )
        .unwrap();
    let good = s.encrypt(&Mechanism::RsaPkcs, rpub, &[0x33; 32]).unwrap();
    // Raw RSA of a block whose padding is wrong (block type 01 where decryption wants 02).
    let mut block = vec![0xffu8; 256];
    block[0] = 0;
    block[1] = 1;
    block[256 - 33] = 0;
    let bad = s.encrypt(&Mechanism::RsaX509, rpub, &block).unwrap();
    // With implicit rejection (AWS-LC) a bad padding decrypts to a synthetic message derived
    // from the ciphertext instead of failing; otherwise it fails. Either is reported.
    let bad_result = match s.decrypt(&Mechanism::RsaPkcs, rpriv, &bad) {
        Ok(m) => format!("implicit rejection ({} B synthetic message)", m.len()),
        Err(e) => format!("error ({e})"),
    };
    println!("RSA PKCS#1 v1.5 decryption of a bad padding gives: {bad_result}");
    let rn = (n / 4).max(200);
    let mut buf = good.clone();
    let (a, b) = measure(rn, &mut coin, |class_a| {
        buf.copy_from_slice(if class_a { &good } else { &bad });
        let t = Instant::now();
        let r = s.decrypt(&Mechanism::RsaPkcs, rpriv, &buf);
        let ns = t.elapsed().as_nanos() as f64;
        if class_a {
            assert_eq!(r.unwrap(), [0x33; 32]);
        }
        ns
    });
    let (t, crop, ma, mb) = analyse(&a, &b);
    rows.push(Row {
        name: "C_Decrypt CKM_RSA_PKCS (2048)",
        classes: "valid padding vs invalid padding",
        n: rn,
        t,
        crop,
        med_a: ma,
        med_b: mb,
    });

    // PIN check: a wrong PIN far from the right one against one differing only at its end.
    // (C_Login runs the PIN derivation, then the check; a wrong try also counts, and a right
    // login, outside the measurement, resets the count every few hundred tries.)
    s.logout().unwrap();
    let far = AuthPin::new("00000000000000".into());
    let near = AuthPin::new("12345678abcdee".into());
    let right = AuthPin::new(PIN.into());
    let mut tries = 0;
    let pn = (n / 10).max(200);
    let (a, b) = measure(pn, &mut coin, |class_a| {
        let p = if class_a { &far } else { &near };
        let t = Instant::now();
        let r = s.login(UserType::User, Some(p));
        let ns = t.elapsed().as_nanos() as f64;
        assert!(r.is_err());
        tries += 1;
        if tries % 400 == 0 {
            s.login(UserType::User, Some(&right)).unwrap();
            s.logout().unwrap();
        }
        ns
    });
    let (t, crop, ma, mb) = analyse(&a, &b);
    rows.push(Row {
        name: "C_Login CKU_USER (wrong PIN)",
        classes: "far from the PIN vs last character wrong",
        n: pn,
        t,
        crop,
        med_a: ma,
        med_b: mb,
    });
    report(&rows);
    drop(s);
    let _ = p11.finalize();
}
