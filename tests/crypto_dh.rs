//! Diffie-Hellman (PKCS #3: CKK_DH, CKM_DH_PKCS_KEY_PAIR_GEN, CKM_DH_PKCS_DERIVE) through the
//! built module: OpenSSL's DH on the RFC 7919 group ffdhe2048 as the known answer (its keys
//! imported by value, its shared secret compared), generated key pairs that agree, and bad
//! input (peer values out of range, parameters that are not valid) with the spec's codes. The
//! `cryptoki` crate has no DH mechanisms, so this goes through the function list.

mod crypto_common;
use crypto_common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::process::Command;

fn strip(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[i..]
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
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

    fn generate(
        &self,
        public: &Template,
        private: &Template,
    ) -> Rv<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let mut m = raw_mech(CKM_DH_PKCS_KEY_PAIR_GEN);
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

    fn get(&self, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
        let mut a = CK_ATTRIBUTE {
            type_: ty,
            pValue: std::ptr::null_mut(),
            ulValueLen: 0,
        };
        unsafe {
            assert_eq!(
                (self.f.C_GetAttributeValue.unwrap())(self.h, o, &mut a, 1),
                CKR_OK
            );
            let mut v = vec![0u8; a.ulValueLen as usize];
            a.pValue = v.as_mut_ptr() as *mut c_void;
            assert_eq!(
                (self.f.C_GetAttributeValue.unwrap())(self.h, o, &mut a, 1),
                CKR_OK
            );
            v
        }
    }

    /// C_DeriveKey with CKM_DH_PKCS_DERIVE into a readable generic secret (or `template`).
    fn derive(&self, base: CK_OBJECT_HANDLE, peer: &[u8], len: Option<usize>) -> Rv<Vec<u8>> {
        let mut m = CK_MECHANISM {
            mechanism: CKM_DH_PKCS_DERIVE,
            pParameter: peer.as_ptr() as *mut c_void,
            ulParameterLen: peer.len() as CK_ULONG,
        };
        let mut t: Template = vec![
            (CKA_CLASS, ul(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, ul(CKK_GENERIC_SECRET)),
            (CKA_TOKEN, vec![0]),
            (CKA_SENSITIVE, vec![0]),
            (CKA_EXTRACTABLE, vec![1]),
        ];
        if let Some(n) = len {
            t.push((CKA_VALUE_LEN, ul(n as CK_ULONG)));
        }
        let mut a = raw_template(&t);
        let mut k = 0;
        ok(unsafe {
            (self.f.C_DeriveKey.unwrap())(
                self.h,
                &mut m,
                base,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                &mut k,
            )
        })?;
        Ok(self.get(k, CKA_VALUE))
    }

    fn import(&self, class: CK_OBJECT_CLASS, p: &[u8], g: &[u8], v: &[u8]) -> Rv<CK_OBJECT_HANDLE> {
        let usage = if class == CKO_PRIVATE_KEY {
            CKA_DERIVE
        } else {
            CKA_VERIFY
        };
        let mut t = vec![
            (CKA_CLASS, ul(class)),
            (CKA_KEY_TYPE, ul(CKK_DH)),
            (CKA_TOKEN, vec![0]),
            (CKA_PRIME, p.to_vec()),
            (CKA_BASE, g.to_vec()),
            (CKA_VALUE, v.to_vec()),
        ];
        if class == CKO_PRIVATE_KEY {
            t.push((usage, vec![1]));
        }
        self.create(&t)
    }

    fn pair(&self, p: &[u8], g: &[u8]) -> Rv<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        self.generate(
            &vec![
                (CKA_TOKEN, vec![0]),
                (CKA_PRIME, p.to_vec()),
                (CKA_BASE, g.to_vec()),
            ],
            &vec![
                (CKA_TOKEN, vec![0]),
                (CKA_DERIVE, vec![1]),
                (CKA_SENSITIVE, vec![0]),
                (CKA_EXTRACTABLE, vec![1]),
            ],
        )
    }
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

/// The hex block after `label:` in `openssl pkey -text` output.
fn text_hex(text: &str, label: &str) -> Vec<u8> {
    let mut hex = String::new();
    let mut on = false;
    for line in text.lines() {
        if line.starts_with(label) {
            on = true;
            continue;
        }
        if on {
            if !line.starts_with("    ") {
                break;
            }
            hex.extend(line.trim().split(':').filter(|s| !s.is_empty()));
        }
    }
    hex::decode(hex).unwrap()
}

/// ffdhe2048 (RFC 7919) from OpenSSL: p and g out of its DER DHParameter.
fn ffdhe2048(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    openssl(
        dir,
        &[
            "genpkey",
            "-genparam",
            "-algorithm",
            "DH",
            "-pkeyopt",
            "group:ffdhe2048",
            "-out",
            "params.pem",
        ],
    );
    openssl(
        dir,
        &[
            "dhparam",
            "-in",
            "params.pem",
            "-outform",
            "DER",
            "-out",
            "params.der",
        ],
    );
    let der = std::fs::read(dir.join("params.der")).unwrap();
    // SEQUENCE (82 LL LL) { INTEGER (82 01 01) 00 p, INTEGER (01) g }
    assert_eq!(der[..2], [0x30, 0x82]);
    assert_eq!(der[4..8], [0x02, 0x82, 0x01, 0x01]);
    let p = strip(&der[8..8 + 257]).to_vec();
    let rest = &der[8 + 257..];
    assert_eq!(rest[0], 0x02);
    let g = rest[2..2 + rest[1] as usize].to_vec();
    assert_eq!((p.len(), &g[..]), (256, &[2u8][..]));
    (p, g)
}

/// OpenSSL's DH as the known answer: its two keys on ffdhe2048, imported by value, give in the
/// module the shared secret `openssl pkeyutl -derive` gives (both directions); a module key
/// pair agrees with OpenSSL's key.
#[test]
fn openssl_known_answer() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let dir = env.dir.path().join("openssl");
    std::fs::create_dir_all(&dir).unwrap();
    let (p, g) = ffdhe2048(&dir);
    let mut keys = Vec::new();
    for name in ["a", "b"] {
        openssl(
            &dir,
            &[
                "genpkey",
                "-paramfile",
                "params.pem",
                "-out",
                &format!("{name}.pem"),
            ],
        );
        openssl(
            &dir,
            &[
                "pkey",
                "-in",
                &format!("{name}.pem"),
                "-pubout",
                "-out",
                &format!("{name}_pub.pem"),
            ],
        );
        let text = openssl(
            &dir,
            &["pkey", "-in", &format!("{name}.pem"), "-text", "-noout"],
        );
        keys.push((
            text_hex(&text, "private-key:"),
            text_hex(&text, "public-key:"),
        ));
    }
    openssl(
        &dir,
        &[
            "pkeyutl",
            "-derive",
            "-inkey",
            "a.pem",
            "-peerkey",
            "b_pub.pem",
            "-pkeyopt",
            "pad:1",
            "-out",
            "z.bin",
        ],
    );
    let z = std::fs::read(dir.join("z.bin")).unwrap();
    assert_eq!(z.len(), 256);
    let a = raw.import(CKO_PRIVATE_KEY, &p, &g, &keys[0].0).unwrap();
    let b = raw.import(CKO_PRIVATE_KEY, &p, &g, &keys[1].0).unwrap();
    assert_eq!(raw.derive(a, &keys[1].1, None).unwrap(), z);
    assert_eq!(raw.derive(b, &keys[0].1, None).unwrap(), z);
    // Truncation keeps the trailing bytes (PKCS #11: it removes bytes from the leading end).
    assert_eq!(raw.derive(a, &keys[1].1, Some(32)).unwrap(), z[224..]);
    // The public value the module computes for an imported private key is OpenSSL's.
    let pubk = raw.import(CKO_PUBLIC_KEY, &p, &g, &keys[0].1).unwrap();
    assert_eq!(strip(&raw.get(pubk, CKA_VALUE)), strip(&keys[0].1));
    // A module key pair and OpenSSL's key b agree.
    let (mp, mk) = raw.pair(&p, &g).unwrap();
    let y = raw.get(mp, CKA_VALUE);
    assert_eq!(y.len(), 256);
    let z1 = raw.derive(mk, &keys[1].1, None).unwrap();
    let z2 = raw.derive(b, &y, None).unwrap();
    assert_eq!(z1, z2);
    // The private key carries the parameters.
    assert_eq!(strip(&raw.get(mk, CKA_PRIME)), &p[..]);
    assert_eq!(raw.get(mk, CKA_BASE), g);
    println!("DH: OpenSSL's ffdhe2048 shared secret reproduced; module and OpenSSL keys agree");
}

/// Bad input: peer values out of range (0, 1, p - 1, p, longer than p), parameters that are not
/// valid (p not prime, g = 1 or p - 1), sizes out of range, a length beyond Z, other key types.
#[test]
fn bad_input() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let dir = env.dir.path().join("openssl");
    std::fs::create_dir_all(&dir).unwrap();
    let (p, g) = ffdhe2048(&dir);
    let (_, k) = raw.pair(&p, &g).unwrap();
    let mut pm1 = p.clone();
    pm1[255] -= 1;
    for bad in [
        vec![0u8],
        vec![1],
        pm1.clone(),
        p.clone(),
        [vec![1], p.clone()].concat(),
        vec![],
    ] {
        assert_eq!(raw.derive(k, &bad, None), Err(CKR_MECHANISM_PARAM_INVALID));
    }
    assert_eq!(
        raw.derive(k, &[2], Some(257)),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );
    let mut not_prime = p.clone();
    not_prime[255] = not_prime[255].wrapping_sub(2);
    assert_eq!(
        raw.pair(&not_prime, &g).unwrap_err(),
        CKR_DOMAIN_PARAMS_INVALID
    );
    assert_eq!(raw.pair(&p, &[1]).unwrap_err(), CKR_DOMAIN_PARAMS_INVALID);
    assert_eq!(raw.pair(&p, &pm1).unwrap_err(), CKR_DOMAIN_PARAMS_INVALID);
    assert_eq!(raw.pair(&p[..128], &g).unwrap_err(), CKR_KEY_SIZE_RANGE);
    assert_eq!(
        raw.generate(&vec![(CKA_PRIME, p.clone())], &vec![(CKA_DERIVE, vec![1])])
            .unwrap_err(),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        raw.import(CKO_PRIVATE_KEY, &p, &g, &[1]),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
    assert_eq!(
        raw.import(CKO_PUBLIC_KEY, &p, &g, &pm1),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
    // An EC key with the DH mechanism; a DH key with ECDH.
    let (_, ec) = ec_pair(&s, OID_P256);
    assert_eq!(
        raw.derive(ec.handle(), &[2], None),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
    let mut two = [2u8];
    let mut params = CK_ECDH1_DERIVE_PARAMS {
        kdf: CKD_NULL,
        ulSharedDataLen: 0,
        pSharedData: std::ptr::null_mut(),
        ulPublicDataLen: 1,
        pPublicData: two.as_mut_ptr(),
    };
    let mut m = raw_mech_param(CKM_ECDH1_DERIVE, &mut params);
    let owned: Template = vec![
        (CKA_CLASS, ul(CKO_SECRET_KEY)),
        (CKA_KEY_TYPE, ul(CKK_GENERIC_SECRET)),
        (CKA_TOKEN, vec![0]),
        (CKA_VALUE_LEN, ul(16)),
    ];
    let mut t = raw_template(&owned);
    let mut out = 0;
    assert_eq!(
        unsafe {
            (env.f.C_DeriveKey.unwrap())(
                raw.h,
                &mut m,
                k,
                t.as_mut_ptr(),
                t.len() as CK_ULONG,
                &mut out,
            )
        },
        CKR_KEY_TYPE_INCONSISTENT
    );
}
