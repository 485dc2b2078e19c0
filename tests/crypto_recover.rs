//! C_SignRecover / C_VerifyRecover with CKM_RSA_PKCS and CKM_RSA_X_509 through the built module
//! (the `cryptoki` crate has no binding for them, so through the function list): the length
//! protocol, the key's CKA_SIGN_RECOVER / CKA_VERIFY_RECOVER, bad signatures and data lengths,
//! and OpenSSL's `pkeyutl -verifyrecover` / `-sign` on the other side.

mod crypto_common;
use crypto_common::*;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use std::process::Command;

struct Raw<'a> {
    f: &'a CK_FUNCTION_LIST,
    h: CK_SESSION_HANDLE,
}

impl Raw<'_> {
    fn init(&self, verify: bool, mech: CK_MECHANISM_TYPE, key: ObjectHandle) -> CK_RV {
        let mut m = raw_mech(mech);
        unsafe {
            if verify {
                (self.f.C_VerifyRecoverInit.unwrap())(self.h, &mut m, key.handle())
            } else {
                (self.f.C_SignRecoverInit.unwrap())(self.h, &mut m, key.handle())
            }
        }
    }

    /// One C_SignRecover / C_VerifyRecover call with an output buffer of `cap` bytes (`None`:
    /// NULL); the code, the length it answered and the output.
    fn call(&self, verify: bool, input: &[u8], cap: Option<usize>) -> (CK_RV, usize, Vec<u8>) {
        let mut out = vec![0u8; cap.unwrap_or(0)];
        let mut len = cap.unwrap_or(0) as CK_ULONG;
        let p = if cap.is_some() {
            out.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        let rv = unsafe {
            let f = if verify {
                self.f.C_VerifyRecover.unwrap()
            } else {
                self.f.C_SignRecover.unwrap()
            };
            f(
                self.h,
                input.as_ptr() as *mut u8,
                input.len() as CK_ULONG,
                p,
                &mut len,
            )
        };
        out.truncate(len as usize);
        (rv, len as usize, out)
    }

    /// A whole operation with a large enough buffer.
    fn run(
        &self,
        verify: bool,
        mech: CK_MECHANISM_TYPE,
        key: ObjectHandle,
        input: &[u8],
    ) -> Result<Vec<u8>, CK_RV> {
        let rv = self.init(verify, mech, key);
        if rv != CKR_OK {
            return Err(rv);
        }
        match self.call(verify, input, Some(1024)) {
            (CKR_OK, _, out) => Ok(out),
            (rv, _, _) => Err(rv),
        }
    }
}

fn pair(s: &Session, recover: bool) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
            Attribute::VerifyRecover(recover),
        ],
        &[
            Attribute::Token(false),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::SignRecover(recover),
        ],
    )
    .unwrap()
}

/// The length protocol, round trips for both mechanisms, agreement with C_Sign, bad input.
#[test]
fn sign_and_verify_recover() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let (p, k) = pair(&s, true);
    let data = b"data to recover from a signature".to_vec();

    // Signing: NULL buffer and a short one tell k, the operation stays; then the signature,
    // the same as C_Sign with CKM_RSA_PKCS (PKCS#1 v1.5 is deterministic).
    assert_eq!(raw.init(false, CKM_RSA_PKCS, k), CKR_OK);
    assert_eq!(raw.init(false, CKM_RSA_PKCS, k), CKR_OPERATION_ACTIVE);
    assert_eq!(raw.call(false, &data, None).0, CKR_OK);
    assert_eq!(raw.call(false, &data, None).1, 256);
    let (rv, len, _) = raw.call(false, &data, Some(10));
    assert_eq!((rv, len), (CKR_BUFFER_TOO_SMALL, 256));
    let (rv, len, sig) = raw.call(false, &data, Some(256));
    assert_eq!((rv, len), (CKR_OK, 256));
    assert_eq!(sig, s.sign(&Mechanism::RsaPkcs, k, &data).unwrap());
    assert_eq!(
        raw.call(false, &data, Some(256)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    // The signature verifies with C_Verify too.
    s.verify(&Mechanism::RsaPkcs, p, &data, &sig).unwrap();

    // Verifying: NULL tells the most (k - 11); a buffer shorter than the data keeps the
    // operation and tells the exact length; then the data.
    assert_eq!(raw.init(true, CKM_RSA_PKCS, p), CKR_OK);
    assert_eq!(raw.call(true, &sig, None).1, 245);
    let (rv, len, _) = raw.call(true, &sig, Some(3));
    assert_eq!((rv, len), (CKR_BUFFER_TOO_SMALL, data.len()));
    let (rv, _, got) = raw.call(true, &sig, Some(data.len()));
    assert_eq!(rv, CKR_OK);
    assert_eq!(got, data);

    // A bad signature ends the operation; wrong lengths; data too long to sign.
    let mut bad = sig.clone();
    bad[100] ^= 1;
    assert_eq!(
        raw.run(true, CKM_RSA_PKCS, p, &bad),
        Err(CKR_SIGNATURE_INVALID)
    );
    assert_eq!(
        raw.call(true, &sig, Some(256)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        raw.run(true, CKM_RSA_PKCS, p, &sig[1..]),
        Err(CKR_SIGNATURE_LEN_RANGE)
    );
    assert_eq!(
        raw.run(true, CKM_RSA_PKCS, p, &[0xff; 256]),
        Err(CKR_SIGNATURE_INVALID)
    );
    // A valid raw signature of something that is not PKCS#1 v1.5 padding.
    let x = raw.run(false, CKM_RSA_X_509, k, &[0x42; 200]).unwrap();
    assert_eq!(
        raw.run(true, CKM_RSA_PKCS, p, &x),
        Err(CKR_SIGNATURE_INVALID)
    );
    assert_eq!(
        raw.run(false, CKM_RSA_PKCS, k, &[1; 246]),
        Err(CKR_DATA_LEN_RANGE)
    );
    assert_eq!(
        raw.run(
            true,
            CKM_RSA_PKCS,
            p,
            &raw.run(false, CKM_RSA_PKCS, k, &[1; 245]).unwrap()
        ),
        Ok(vec![1; 245])
    );
    assert_eq!(
        raw.run(
            true,
            CKM_RSA_PKCS,
            p,
            &raw.run(false, CKM_RSA_PKCS, k, &[]).unwrap()
        ),
        Ok(vec![])
    );

    // CKM_RSA_X_509: the raw operation; recovered, the k bytes.
    let mut m = vec![0u8; 256];
    m[200..].copy_from_slice(&[7; 56]);
    let sig = raw.run(false, CKM_RSA_X_509, k, &m[200..]).unwrap();
    assert_eq!(sig.len(), 256);
    assert_eq!(raw.run(true, CKM_RSA_X_509, p, &sig), Ok(m));
    assert_eq!(
        raw.run(false, CKM_RSA_X_509, k, &[0xff; 256]),
        Err(CKR_DATA_INVALID)
    );
    assert_eq!(
        raw.run(false, CKM_RSA_X_509, k, &[1; 257]),
        Err(CKR_DATA_LEN_RANGE)
    );

    // Keys: the wrong class, a mechanism without recovery, an EC key.
    assert_eq!(raw.init(false, CKM_RSA_PKCS, p), CKR_KEY_TYPE_INCONSISTENT);
    assert_eq!(raw.init(true, CKM_RSA_PKCS, k), CKR_KEY_TYPE_INCONSISTENT);
    assert_eq!(
        raw.init(false, CKM_SHA256_RSA_PKCS, k),
        CKR_MECHANISM_INVALID
    );
    assert_eq!(raw.init(true, CKM_SHA1_RSA_PKCS, p), CKR_MECHANISM_INVALID);
    let (_, ec) = ec_pair(&s, OID_P256);
    assert_eq!(raw.init(false, CKM_RSA_PKCS, ec), CKR_KEY_TYPE_INCONSISTENT);
    // The mechanisms say they recover.
    for ty in [MechanismType::RSA_PKCS, MechanismType::RSA_X_509] {
        let info = env.p().get_mechanism_info(env.slot, ty).unwrap();
        assert!(info.sign_recover() && info.verify_recover());
    }
    let info = env
        .p()
        .get_mechanism_info(env.slot, MechanismType::SHA256_RSA_PKCS)
        .unwrap();
    assert!(!info.sign_recover());
}

/// CKA_SIGN_RECOVER / CKA_VERIFY_RECOVER false: CKR_KEY_FUNCTION_NOT_PERMITTED, while C_Sign and
/// C_Verify still work; set true, recovery works.
#[test]
fn recover_attributes_checked() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let (p, k) = pair(&s, false);
    assert_eq!(
        raw.init(false, CKM_RSA_PKCS, k),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    assert_eq!(
        raw.init(true, CKM_RSA_PKCS, p),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    let sig = s.sign(&Mechanism::RsaPkcs, k, b"abc").unwrap();
    s.verify(&Mechanism::RsaPkcs, p, b"abc", &sig).unwrap();
    s.update_attributes(k, &[Attribute::SignRecover(true)])
        .unwrap();
    s.update_attributes(p, &[Attribute::VerifyRecover(true)])
        .unwrap();
    let sig = raw.run(false, CKM_RSA_PKCS, k, b"abc").unwrap();
    assert_eq!(raw.run(true, CKM_RSA_PKCS, p, &sig), Ok(b"abc".to_vec()));
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

/// The module's signatures recover in OpenSSL (`pkeyutl -verifyrecover`, PKCS#1 and raw), and
/// OpenSSL's `pkeyutl -sign` signatures recover in the module.
#[test]
fn openssl_cross_check() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let dir = env.dir.path().join("openssl");
    std::fs::create_dir_all(&dir).unwrap();
    let (p, k) = pair(&s, true);
    std::fs::write(
        dir.join("pub.der"),
        bytes_attr(&s, p, AttributeType::PublicKeyInfo),
    )
    .unwrap();
    let data = b"recovered by openssl";
    for (mech, mode) in [(CKM_RSA_PKCS, "pkcs1"), (CKM_RSA_X_509, "none")] {
        let input: Vec<u8> = if mech == CKM_RSA_X_509 {
            [vec![0u8; 256 - data.len()], data.to_vec()].concat()
        } else {
            data.to_vec()
        };
        let sig = raw.run(false, mech, k, &input).unwrap();
        std::fs::write(dir.join("sig.bin"), &sig).unwrap();
        openssl(
            &dir,
            &[
                "pkeyutl",
                "-verifyrecover",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                "pub.der",
                "-in",
                "sig.bin",
                "-out",
                "rec.bin",
                "-pkeyopt",
                &format!("rsa_padding_mode:{mode}"),
            ],
        );
        assert_eq!(std::fs::read(dir.join("rec.bin")).unwrap(), input, "{mode}");
    }
    // OpenSSL signs with a key of its own; the module recovers with the imported public key.
    openssl(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "k.pem",
        ],
    );
    let modulus = openssl(&dir, &["rsa", "-in", "k.pem", "-noout", "-modulus"]);
    let n = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
    let op = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(false),
            Attribute::Modulus(n),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::VerifyRecover(true),
        ])
        .unwrap();
    std::fs::write(dir.join("data.bin"), data).unwrap();
    openssl(
        &dir,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "k.pem",
            "-in",
            "data.bin",
            "-out",
            "osig.bin",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
    );
    let osig = std::fs::read(dir.join("osig.bin")).unwrap();
    assert_eq!(raw.run(true, CKM_RSA_PKCS, op, &osig), Ok(data.to_vec()));
    println!("C_SignRecover / C_VerifyRecover: PKCS#1 and raw recovered by OpenSSL, OpenSSL's recovered by the module");
}
