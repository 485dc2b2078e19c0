//! NIST SP 800-108 key derivation (PKCS #11 3.0, 2.42): `CKM_SP800_108_COUNTER_KDF`,
//! `CKM_SP800_108_FEEDBACK_KDF`, `CKM_SP800_108_DOUBLE_PIPELINE_KDF`, with HMAC (SHA-1, SHA-2,
//! SHA-3) or AES-CMAC as the PRF, the `CK_PRF_DATA_PARAM` list that lays out each PRF input, and
//! additional derived keys (`CK_DERIVED_KEY`), cut from the derived keying material after the
//! primary key, in their order.
//!
//! The three modes are compositions of the PRF (SP 800-108r1, 4.1 to 4.3); the PRFs are the
//! module's HMAC (`hmac` 0.13) and CMAC (`cmac` 0.8). No maintained crate takes PKCS #11's
//! parameter lists (the `kbkdf` crate has a fixed layout: counter before or after one fixed input),
//! so the layout is built here from the list, field by field.

use super::keys::Key;
use super::{KeyLen, Keys, Mech, MechDef, Param, ParamKind};
use crate::crypto::sym::{BlockKey, Cipher, Cmac};
use crate::crypto::{HashAlg, Hmac};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Base keys: secret keys for HMAC, AES keys for AES-CMAC (checked against the PRF).
const BASE: &[CK_KEY_TYPE] = &[
    CKK_GENERIC_SECRET,
    CKK_AES,
    CKK_SHA_1_HMAC,
    CKK_SHA224_HMAC,
    CKK_SHA256_HMAC,
    CKK_SHA384_HMAC,
    CKK_SHA512_HMAC,
    CKK_SHA3_224_HMAC,
    CKK_SHA3_256_HMAC,
    CKK_SHA3_384_HMAC,
    CKK_SHA3_512_HMAC,
];

const fn row(ty: CK_MECHANISM_TYPE, name: &'static str, param: ParamKind) -> MechDef {
    MechDef::new(ty, name, 0, 0, CKF_DERIVE)
        .param(param)
        .keys(Keys::Secret(BASE))
        .derive(derive)
}

/// The SP 800-108 family's mechanisms.
pub const MECHS: &[MechDef] = &[
    row(
        CKM_SP800_108_COUNTER_KDF,
        "CKM_SP800_108_COUNTER_KDF",
        ParamKind::Kbkdf,
    ),
    row(
        CKM_SP800_108_FEEDBACK_KDF,
        "CKM_SP800_108_FEEDBACK_KDF",
        ParamKind::KbkdfFeedback,
    ),
    row(
        CKM_SP800_108_DOUBLE_PIPELINE_KDF,
        "CKM_SP800_108_DOUBLE_PIPELINE_KDF",
        ParamKind::Kbkdf,
    ),
];

/// The encoding of a counter: width in bits (8, 16, 24 or 32) and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterFormat {
    pub little: bool,
    pub bits: CK_ULONG,
}

/// One CK_PRF_DATA_PARAM.
#[derive(Clone, PartialEq, Eq)]
pub enum PrfData {
    /// CK_SP800_108_ITERATION_VARIABLE: the counter (counter mode, with its format), or the
    /// previous block (feedback: K(i-1); double pipeline: A(i); no value).
    Iteration(Option<CounterFormat>),
    /// CK_SP800_108_OPTIONAL_COUNTER (feedback and double pipeline).
    Counter(CounterFormat),
    /// CK_SP800_108_DKM_LENGTH: how L is counted, and its encoding (8 to 64 bits).
    DkmLength {
        method: CK_ULONG,
        little: bool,
        bits: CK_ULONG,
    },
    /// CK_SP800_108_BYTE_ARRAY (may be secret: the context of a protocol).
    Bytes(Zeroizing<Vec<u8>>),
}

/// CK_SP800_108_KDF_PARAMS / CK_SP800_108_FEEDBACK_KDF_PARAMS, read by the C layer. `extra`
/// holds the templates of the additional derived keys and, once `ops::derive_key` has worked
/// them out, their lengths.
#[derive(Clone, PartialEq, Eq)]
pub struct KbkdfParams {
    pub prf: CK_MECHANISM_TYPE,
    pub data: Vec<PrfData>,
    pub iv: Vec<u8>,
    pub extra: Vec<(Vec<Attribute>, usize)>,
}

impl std::fmt::Debug for KbkdfParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Kbkdf(prf {:#x}, {} data params, iv {} bytes, {} more keys)",
            self.prf,
            self.data.len(),
            self.iv.len(),
            self.extra.len()
        )
    }
}

enum Prf {
    Hmac(HashAlg),
    Cmac(Box<BlockKey>),
}

impl Prf {
    fn new(prf: CK_MECHANISM_TYPE, key: &[u8], kt: CK_KEY_TYPE) -> Result<Prf> {
        let alg = match prf {
            CKM_AES_CMAC => {
                if kt != CKK_AES {
                    return Err(Error::KeyTypeInconsistent);
                }
                return Ok(Prf::Cmac(Box::new(BlockKey::new(Cipher::Aes, key)?)));
            }
            CKM_SHA_1_HMAC => HashAlg::Sha1,
            CKM_SHA224_HMAC => HashAlg::Sha224,
            CKM_SHA256_HMAC => HashAlg::Sha256,
            CKM_SHA384_HMAC => HashAlg::Sha384,
            CKM_SHA512_HMAC => HashAlg::Sha512,
            CKM_SHA3_224_HMAC => HashAlg::Sha3_224,
            CKM_SHA3_256_HMAC => HashAlg::Sha3_256,
            CKM_SHA3_384_HMAC => HashAlg::Sha3_384,
            CKM_SHA3_512_HMAC => HashAlg::Sha3_512,
            _ => return Err(Error::MechanismParamInvalid),
        };
        if kt == CKK_AES {
            return Err(Error::KeyTypeInconsistent);
        }
        Ok(Prf::Hmac(alg))
    }

    /// Output length h in bytes.
    fn len(&self) -> usize {
        match self {
            Prf::Hmac(a) => a.len(),
            Prf::Cmac(_) => 16,
        }
    }

    fn run(&self, key: &[u8], parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            Prf::Hmac(a) => {
                let mut m = Hmac::new(*a, key)?;
                for p in parts {
                    m.update(p);
                }
                Ok(m.finalize())
            }
            Prf::Cmac(k) => {
                let mut m = Cmac::new(k);
                for p in parts {
                    m.update(p);
                }
                Ok(m.finalize())
            }
        }
    }
}

/// `v` in `bits / 8` bytes, big or little endian; `None` if it does not fit.
fn encode(v: u64, bits: CK_ULONG, little: bool) -> Option<Vec<u8>> {
    let n = (bits / 8) as usize;
    if n < 8 && v >> (8 * n) != 0 {
        return None;
    }
    let be = v.to_be_bytes();
    let mut out = be[8 - n..].to_vec();
    if little {
        out.reverse();
    }
    Some(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Counter,
    Feedback,
    Pipeline,
}

/// Checks the data parameter list against the mode (PKCS #11 3.0, 2.42.3 to 2.42.8): exactly one
/// iteration variable (with a counter format in counter mode, without one otherwise), at most one
/// optional counter (not in counter mode) and one DKM length; counter widths of 8, 16, 24 or 32
/// bits, DKM length widths of 8 to 64 in whole bytes, a known DKM length method. Any other list is
/// `MechanismParamInvalid`.
fn check(mode: Mode, p: &KbkdfParams) -> Result<()> {
    let bad = Err(Error::MechanismParamInvalid);
    let counter_ok = |f: &CounterFormat| matches!(f.bits, 8 | 16 | 24 | 32);
    let (mut iter, mut counters, mut dkm) = (0, 0, 0);
    for d in &p.data {
        match d {
            PrfData::Iteration(f) => {
                iter += 1;
                match (mode, f) {
                    (Mode::Counter, Some(f)) if counter_ok(f) => {}
                    (Mode::Feedback | Mode::Pipeline, None) => {}
                    _ => return bad,
                }
            }
            PrfData::Counter(f) => {
                counters += 1;
                if mode == Mode::Counter || !counter_ok(f) {
                    return bad;
                }
            }
            PrfData::DkmLength { method, bits, .. } => {
                dkm += 1;
                if !matches!(
                    *method,
                    CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS | CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS
                ) || *bits == 0
                    || *bits > 64
                    || bits % 8 != 0
                {
                    return bad;
                }
            }
            PrfData::Bytes(_) => {}
        }
    }
    if iter != 1 || counters > 1 || dkm > 1 || (mode != Mode::Feedback && !p.iv.is_empty()) {
        return bad;
    }
    Ok(())
}

/// The keying material: `total` bytes (the primary key, then each additional key).
fn kbkdf(
    mode: Mode,
    p: &KbkdfParams,
    key: &[u8],
    kt: CK_KEY_TYPE,
    total: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    check(mode, p)?;
    let prf = Prf::new(p.prf, key, kt)?;
    let h = prf.len();
    if total == 0 {
        return Err(Error::TemplateInconsistent);
    }
    let n = total.div_ceil(h);
    // The counter must hold n (it counts from 1), the DKM length field L.
    let counter_bits = p.data.iter().find_map(|d| match d {
        PrfData::Iteration(Some(f)) | PrfData::Counter(f) => Some(f.bits),
        _ => None,
    });
    if counter_bits.is_some_and(|b| (n as u64) >> b != 0) {
        return Err(Error::TemplateInconsistent);
    }
    let mut fixed: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(p.data.len());
    for d in &p.data {
        fixed.push(match d {
            PrfData::DkmLength {
                method,
                little,
                bits,
            } => {
                let l = if *method == CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS {
                    total * 8
                } else {
                    n * h * 8
                };
                Zeroizing::new(encode(l as u64, *bits, *little).ok_or(Error::TemplateInconsistent)?)
            }
            PrfData::Bytes(b) => b.clone(),
            _ => Zeroizing::new(Vec::new()),
        });
    }
    // Double pipeline: A(0) is the fixed input (every field but the iteration variable and the
    // counter).
    let mut a: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    if mode == Mode::Pipeline {
        for (d, v) in p.data.iter().zip(&fixed) {
            if matches!(d, PrfData::Bytes(_) | PrfData::DkmLength { .. }) {
                a.extend_from_slice(v);
            }
        }
    }
    let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(p.iv.clone());
    let mut out = Zeroizing::new(Vec::with_capacity(n * h));
    for i in 1..=n as u64 {
        if mode == Mode::Pipeline {
            a = prf.run(key, &[&a])?;
        }
        let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(p.data.len());
        for (d, v) in p.data.iter().zip(&fixed) {
            parts.push(match d {
                PrfData::Iteration(Some(f)) | PrfData::Counter(f) => {
                    Zeroizing::new(encode(i, f.bits, f.little).ok_or(Error::TemplateInconsistent)?)
                }
                PrfData::Iteration(None) if mode == Mode::Pipeline => a.clone(),
                PrfData::Iteration(None) => prev.clone(),
                _ => v.clone(),
            });
        }
        let refs: Vec<&[u8]> = parts.iter().map(|v| &v[..]).collect();
        let k = prf.run(key, &refs)?;
        out.extend_from_slice(&k);
        prev = k;
    }
    out.truncate(total);
    Ok(out)
}

/// The derivation: the primary key's length (CKA_VALUE_LEN, or the key type's only length)
/// followed by the additional keys' (worked out by `ops::derive_key`).
fn derive(mech: &Mech, key: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    let Key::Secret(base) = &**key else {
        return Err(Error::KeyTypeInconsistent);
    };
    let Param::Kbkdf(p) = &mech.param else {
        return Err(Error::MechanismParamInvalid);
    };
    let mode = match mech.ty {
        CKM_SP800_108_COUNTER_KDF => Mode::Counter,
        CKM_SP800_108_FEEDBACK_KDF => Mode::Feedback,
        CKM_SP800_108_DOUBLE_PIPELINE_KDF => Mode::Pipeline,
        _ => return Err(Error::MechanismInvalid),
    };
    let primary = key_len(want)?;
    let total = p
        .extra
        .iter()
        .try_fold(primary, |t, (_, l)| t.checked_add(*l));
    let total = total.ok_or(Error::TemplateInconsistent)?;
    kbkdf(mode, p, &base.value, base.kt, total)
}

/// The length of a key SP 800-108 derives: CKA_VALUE_LEN, else the key type's only length
/// (`TemplateIncomplete` for types of several lengths or any).
pub fn key_len(want: &KeyLen) -> Result<usize> {
    match want.asked {
        Some(n) => Ok(n),
        None if !want.st.range && want.st.lens.len() == 1 => Ok(want.st.lens[0]),
        None => Err(Error::TemplateIncomplete),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn ctr(bits: CK_ULONG) -> CounterFormat {
        CounterFormat {
            little: false,
            bits,
        }
    }

    fn bytes(v: &[u8]) -> PrfData {
        PrfData::Bytes(Zeroizing::new(v.to_vec()))
    }

    fn params(data: Vec<PrfData>, iv: &[u8]) -> KbkdfParams {
        KbkdfParams {
            prf: CKM_AES_CMAC,
            data,
            iv: iv.to_vec(),
            extra: vec![],
        }
    }

    /// NIST CAVP KBKDF (KDFCTR_gen.txt, CMAC_AES128, BEFORE_FIXED, r = 8): the first vector.
    #[test]
    fn cavp_counter_cmac() {
        let fixed = h("c16e6e02c5a3dcc8d78b9ac1306877761310455b4e41469951d9e6c2245a064b33fd8c3b01203a7824485bf0a64060c4648b707d2607935699316ea5");
        let p = params(vec![PrfData::Iteration(Some(ctr(8))), bytes(&fixed)], &[]);
        let k = kbkdf(
            Mode::Counter,
            &p,
            &h("dff1e50ac0b69dc40f1051d46c2b069c"),
            CKK_AES,
            16,
        )
        .unwrap();
        assert_eq!(hex::encode(&k[..]), "8be8f0869b3c0ba97b71863d1b9f7813");
    }

    #[test]
    fn bad_lists() {
        let f = bytes(b"x");
        for (mode, data) in [
            (Mode::Counter, vec![f.clone()]),
            (Mode::Counter, vec![PrfData::Iteration(None), f.clone()]),
            (Mode::Counter, vec![PrfData::Iteration(Some(ctr(12)))]),
            (
                Mode::Counter,
                vec![PrfData::Iteration(Some(ctr(8))), PrfData::Counter(ctr(8))],
            ),
            (Mode::Feedback, vec![PrfData::Iteration(Some(ctr(8)))]),
            (
                Mode::Feedback,
                vec![PrfData::Iteration(None), PrfData::Iteration(None)],
            ),
            (
                Mode::Pipeline,
                vec![PrfData::Iteration(None), PrfData::Counter(ctr(40))],
            ),
            (
                Mode::Pipeline,
                vec![
                    PrfData::Iteration(None),
                    PrfData::DkmLength {
                        method: 3,
                        little: false,
                        bits: 32,
                    },
                ],
            ),
            (
                Mode::Pipeline,
                vec![
                    PrfData::Iteration(None),
                    PrfData::DkmLength {
                        method: 1,
                        little: false,
                        bits: 72,
                    },
                ],
            ),
        ] {
            let p = params(data, &[]);
            assert_eq!(
                kbkdf(mode, &p, &[1u8; 16], CKK_AES, 16).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
        // An 8-bit counter holds 255 blocks: 255 * 16 bytes, not one more.
        let p = params(vec![PrfData::Iteration(Some(ctr(8)))], &[]);
        assert!(kbkdf(Mode::Counter, &p, &[1u8; 16], CKK_AES, 255 * 16).is_ok());
        assert_eq!(
            kbkdf(Mode::Counter, &p, &[1u8; 16], CKK_AES, 255 * 16 + 1).unwrap_err(),
            Error::TemplateInconsistent
        );
        // The PRF and the key: CMAC needs AES, HMAC refuses it; an unknown PRF.
        assert_eq!(
            kbkdf(Mode::Counter, &p, &[1u8; 16], CKK_GENERIC_SECRET, 16).unwrap_err(),
            Error::KeyTypeInconsistent
        );
        let mut q = p.clone();
        q.prf = CKM_SHA256_HMAC;
        assert_eq!(
            kbkdf(Mode::Counter, &q, &[1u8; 16], CKK_AES, 16).unwrap_err(),
            Error::KeyTypeInconsistent
        );
        q.prf = CKM_SHA256;
        assert_eq!(
            kbkdf(Mode::Counter, &q, &[1u8; 16], CKK_GENERIC_SECRET, 16).unwrap_err(),
            Error::MechanismParamInvalid
        );
    }
}
