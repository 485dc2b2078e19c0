//! Cross-checks with the OpenSSL command line: signatures made by the module verify in OpenSSL
//! and the other way round; OpenSSL ciphertexts decrypt in the module; keys OpenSSL made import.
//! `openssl` must be installed (Debian/Ubuntu: `apt-get install openssl`): without it these tests
//! fail, they do not pass unchecked.

mod crypto_common;

use crypto_common::*;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::Session;
use std::path::PathBuf;
use std::process::Command;

/// Fails the test, naming the package, when the `openssl` command is missing.
#[track_caller]
fn need_openssl() {
    let r = Command::new("openssl").arg("version").output();
    match r {
        Ok(o) if o.status.success() => {}
        other => panic!(
            "the OpenSSL cross-checks need the `openssl` command (Debian/Ubuntu package `openssl`: \
             apt-get install openssl); `openssl version` gave {other:?}"
        ),
    }
}

/// Runs openssl; returns (success, stdout+stderr).
fn openssl(args: &[&str]) -> (bool, String) {
    let o = Command::new("openssl").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn ok(args: &[&str]) -> String {
    let (good, text) = openssl(args);
    assert!(good, "openssl {args:?} failed: {text}");
    text
}

struct Files(PathBuf);

impl Files {
    fn p(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
    fn write(&self, name: &str, data: &[u8]) -> String {
        std::fs::write(self.0.join(name), data).unwrap();
        self.p(name)
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).unwrap()
    }
}

/// The module's public key (CKA_PUBLIC_KEY_INFO) as a PEM file for OpenSSL.
fn export_pub(s: &Session, f: &Files, key: cryptoki::object::ObjectHandle, name: &str) -> String {
    let spki = bytes_attr(s, key, AttributeType::PublicKeyInfo);
    let der = f.write(&format!("{name}.der"), &spki);
    let pem = f.p(&format!("{name}.pem"));
    ok(&[
        "pkey", "-pubin", "-inform", "DER", "-in", &der, "-out", &pem,
    ]);
    pem
}

fn der_int(v: &[u8]) -> Vec<u8> {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
    let mut x = v[i..].to_vec();
    if x[0] & 0x80 != 0 {
        x.insert(0, 0);
    }
    let mut out = vec![0x02, x.len() as u8];
    out.extend(x);
    out
}

/// r||s to a DER ECDSA-Sig-Value.
fn ecdsa_to_der(sig: &[u8]) -> Vec<u8> {
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut body = der_int(r);
    body.extend(der_int(s));
    let mut out = vec![0x30];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        out.extend([0x81, body.len() as u8]);
    }
    out.extend(body);
    out
}

/// A DER ECDSA-Sig-Value to r||s of field length `fl`.
fn ecdsa_from_der(der: &[u8], fl: usize) -> Vec<u8> {
    let mut i = if der[1] == 0x81 { 3 } else { 2 };
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let v = &der[i + 2..i + 2 + len];
        let v = &v[v.len().saturating_sub(fl)..];
        out.extend(std::iter::repeat_n(0u8, fl - v.len()));
        out.extend_from_slice(v);
        i += 2 + len;
    }
    out
}

/// The components of an OpenSSL RSA private key, from `openssl rsa -text`.
fn rsa_components(f: &Files, pem: &str) -> Vec<(String, Vec<u8>)> {
    let text = ok(&["rsa", "-in", pem, "-noout", "-text"]);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("publicExponent") {
            out.push(("publicExponent".into(), vec![1, 0, 1]));
            assert!(line.contains("65537"));
        } else if !line.starts_with(' ') && line.ends_with(':') {
            out.push((line.trim_end_matches(':').to_string(), Vec::new()));
        } else if line.starts_with("    ") {
            let last = out.last_mut().unwrap();
            for h in line.trim().split(':').filter(|h| !h.is_empty()) {
                last.1.push(u8::from_str_radix(h, 16).unwrap());
            }
        }
    }
    let _ = f;
    out
}

fn get(c: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
    c.iter().find(|(n, _)| n == name).unwrap().1.clone()
}

fn files(env: &Env) -> Files {
    let d = env.dir.path().join("openssl");
    std::fs::create_dir_all(&d).unwrap();
    Files(d)
}

#[test]
fn module_signatures_verify_in_openssl() {
    need_openssl();
    let env = Env::new();
    let f = files(&env);
    let s = env.user();
    let data = f.write("data.bin", b"cross-checked with OpenSSL");
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    let pem = export_pub(&s, &f, pk, "rsa");
    for (m, md) in [
        (Mechanism::Sha1RsaPkcs, "-sha1"),
        (Mechanism::Sha256RsaPkcs, "-sha256"),
        (Mechanism::Sha384RsaPkcs, "-sha384"),
        (Mechanism::Sha512RsaPkcs, "-sha512"),
    ] {
        let sig = s.sign(&m, sk, &f.read("data.bin")).unwrap();
        let sp = f.write("sig.bin", &sig);
        let out = ok(&["dgst", md, "-verify", &pem, "-signature", &sp, &data]);
        assert!(out.contains("Verified OK"), "{m:?}: {out}");
    }
    for (m, md, salt) in [
        (
            Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: 32.into(),
            }),
            "-sha256",
            "32",
        ),
        (
            Mechanism::Sha512RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA512,
                mgf: PkcsMgfType::MGF1_SHA512,
                s_len: 0.into(),
            }),
            "-sha512",
            "0",
        ),
    ] {
        let sig = s.sign(&m, sk, &f.read("data.bin")).unwrap();
        let sp = f.write("sig.bin", &sig);
        let out = ok(&[
            "dgst",
            md,
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            &format!("rsa_pss_saltlen:{salt}"),
            "-verify",
            &pem,
            "-signature",
            &sp,
            &data,
        ]);
        assert!(out.contains("Verified OK"), "{m:?}: {out}");
        // A wrong salt length is refused: the check is real.
        let (good, _) = openssl(&[
            "dgst",
            md,
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:7",
            "-verify",
            &pem,
            "-signature",
            &sp,
            &data,
        ]);
        assert!(!good);
    }
    for (params, fl) in [(OID_P256, 32), (OID_P384, 48), (OID_P521, 66)] {
        let (pk, sk) = ec_pair(&s, params);
        let pem = export_pub(&s, &f, pk, "ec");
        for (m, md) in [
            (Mechanism::EcdsaSha256, "-sha256"),
            (Mechanism::EcdsaSha384, "-sha384"),
            (Mechanism::EcdsaSha512, "-sha512"),
        ] {
            let sig = s.sign(&m, sk, &f.read("data.bin")).unwrap();
            assert_eq!(sig.len(), 2 * fl);
            let sp = f.write("sig.der", &ecdsa_to_der(&sig));
            let out = ok(&["dgst", md, "-verify", &pem, "-signature", &sp, &data]);
            assert!(out.contains("Verified OK"), "{m:?} {fl}: {out}");
        }
    }
}

#[test]
fn openssl_signatures_verify_in_module_and_openssl_keys_import() {
    need_openssl();
    let env = Env::new();
    let f = files(&env);
    let s = env.user();
    let msg = b"signed by OpenSSL".to_vec();
    let data = f.write("data.bin", &msg);
    // RSA: OpenSSL key, imported whole into the module.
    let key = f.p("rsa.pem");
    ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &key,
    ]);
    let c = rsa_components(&f, &key);
    let pk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(get(&c, "modulus")),
            Attribute::PublicExponent(get(&c, "publicExponent")),
            Attribute::Verify(true),
            Attribute::Encrypt(true),
        ])
        .unwrap();
    let sk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(get(&c, "modulus")),
            Attribute::PublicExponent(get(&c, "publicExponent")),
            Attribute::PrivateExponent(get(&c, "privateExponent")),
            Attribute::Prime1(get(&c, "prime1")),
            Attribute::Prime2(get(&c, "prime2")),
            Attribute::Exponent1(get(&c, "exponent1")),
            Attribute::Exponent2(get(&c, "exponent2")),
            Attribute::Coefficient(get(&c, "coefficient")),
            Attribute::Sign(true),
            Attribute::Decrypt(true),
        ])
        .unwrap();
    let sp = f.p("sig.bin");
    ok(&["dgst", "-sha256", "-sign", &key, "-out", &sp, &data]);
    let osig = f.read("sig.bin");
    s.verify(&Mechanism::Sha256RsaPkcs, pk, &msg, &osig)
        .unwrap();
    // PKCS#1 v1.5 is deterministic: the imported key signs exactly as OpenSSL does.
    assert_eq!(s.sign(&Mechanism::Sha256RsaPkcs, sk, &msg).unwrap(), osig);
    // The module derives CKA_PUBLIC_KEY_INFO of imported keys as OpenSSL encodes them.
    let der = f.p("rsa.der");
    ok(&[
        "pkey", "-in", &key, "-pubout", "-outform", "DER", "-out", &der,
    ]);
    let spki = std::fs::read(&der).unwrap();
    assert_eq!(bytes_attr(&s, pk, AttributeType::PublicKeyInfo), spki);
    assert_eq!(bytes_attr(&s, sk, AttributeType::PublicKeyInfo), spki);
    ok(&[
        "dgst",
        "-sha256",
        "-sign",
        &key,
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-out",
        &sp,
        &data,
    ]);
    let pss = Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32.into(),
    });
    s.verify(&pss, pk, &msg, &f.read("sig.bin")).unwrap();
    // The module encrypts with OAEP, OpenSSL decrypts with the original key.
    let oaep = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    );
    let ct = s
        .encrypt(&Mechanism::RsaPkcsOaep(oaep), pk, b"to openssl")
        .unwrap();
    let cp = f.write("ct.bin", &ct);
    let pp = f.p("pt.bin");
    ok(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        &key,
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-in",
        &cp,
        "-out",
        &pp,
    ]);
    assert_eq!(f.read("pt.bin"), b"to openssl");

    // ECDSA on each curve: OpenSSL signs, the module verifies with the imported public key.
    for (curve, fl, params) in [
        ("P-256", 32, OID_P256),
        ("P-384", 48, OID_P384),
        ("P-521", 66, OID_P521),
    ] {
        let key = f.p("ec.pem");
        ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &key,
        ]);
        let spki = f.p("ec.der");
        ok(&[
            "pkey", "-in", &key, "-pubout", "-outform", "DER", "-out", &spki,
        ]);
        let spki = std::fs::read(&spki).unwrap();
        let point = spki[spki.len() - (2 * fl + 1)..].to_vec();
        assert_eq!(point[0], 4);
        let pk = s
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(params.to_vec()),
                Attribute::EcPoint(point),
                Attribute::Verify(true),
            ])
            .unwrap();
        // The module derives the same SPKI OpenSSL wrote.
        assert_eq!(
            bytes_attr(&s, pk, AttributeType::PublicKeyInfo),
            spki,
            "{curve}"
        );
        ok(&["dgst", "-sha256", "-sign", &key, "-out", &sp, &data]);
        let sig = ecdsa_from_der(&f.read("sig.bin"), fl);
        s.verify(&Mechanism::EcdsaSha256, pk, &msg, &sig).unwrap();
        let mut bad = msg.clone();
        bad[0] ^= 1;
        assert!(s.verify(&Mechanism::EcdsaSha256, pk, &bad, &sig).is_err());
    }
}

#[test]
fn openssl_ciphertexts_decrypt_in_module() {
    need_openssl();
    let env = Env::new();
    let f = files(&env);
    let s = env.user();
    let (pk, sk) = rsa_pair(&s, 2048, &[]);
    let pem = export_pub(&s, &f, pk, "rsa");
    let msg = f.write("msg.bin", b"a session key, say");
    let ct = f.p("ct.bin");
    let cases: [(&[&str], Mechanism); 4] = [
        (&[], Mechanism::RsaPkcs),
        (
            &["-pkeyopt", "rsa_padding_mode:oaep"],
            Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
                MechanismType::SHA1,
                PkcsMgfType::MGF1_SHA1,
                PkcsOaepSource::empty(),
            )),
        ),
        (
            &[
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
            ],
            Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
                MechanismType::SHA256,
                PkcsMgfType::MGF1_SHA256,
                PkcsOaepSource::empty(),
            )),
        ),
        (
            &[
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
                "-pkeyopt",
                "rsa_oaep_label:6c6162656c",
            ],
            Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
                MechanismType::SHA256,
                PkcsMgfType::MGF1_SHA256,
                PkcsOaepSource::data_specified(b"label"),
            )),
        ),
    ];
    for (opts, m) in cases {
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", &pem, "-in", &msg, "-out", &ct,
        ];
        args.extend_from_slice(opts);
        ok(&args);
        let p = s.decrypt(&m, sk, &f.read("ct.bin")).unwrap();
        assert_eq!(p, b"a session key, say", "{m:?}");
    }
}
