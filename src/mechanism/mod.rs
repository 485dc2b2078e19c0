//! Mechanisms: the registry of what the module offers, and one file per family.
//!
//! - [`keys`]: parsing key objects into backend keys (cached per object), import validation.
//! - [`rsa`], [`ec`], [`hmac`], [`digest`]: the operations of each family behind [`SignOp`] and
//!   [`CryptOp`], and their key generation.
//! - [`ops`]: the session side: `C_*Init`, the length protocol, one operation of each kind per
//!   session, key usage checks, context-specific login.
//!
//! The cryptography itself is behind [`crate::crypto`].

pub mod digest;
pub mod ec;
pub mod hmac;
pub mod keys;
pub mod ops;
pub mod rsa;

use crate::crypto::HashAlg;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use zeroize::Zeroizing;

pub use keys::validate_key;

/// A mechanism's parameter, as the C layer read it (sizes already checked).
#[derive(Clone, PartialEq, Eq)]
pub enum Param {
    None,
    /// CK_RSA_PKCS_PSS_PARAMS.
    Pss {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        salt_len: CK_ULONG,
    },
    /// CK_RSA_PKCS_OAEP_PARAMS.
    Oaep {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        source: CK_RSA_PKCS_OAEP_SOURCE_TYPE,
        label: Vec<u8>,
    },
    /// CK_MAC_GENERAL_PARAMS.
    MacLen(CK_ULONG),
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::None => f.write_str("None"),
            Param::Pss {
                hash,
                mgf,
                salt_len,
            } => write!(f, "Pss({hash:#x}, {mgf:#x}, {salt_len})"),
            Param::Oaep {
                hash,
                mgf,
                source,
                label,
            } => write!(
                f,
                "Oaep({hash:#x}, {mgf:#x}, {source:#x}, {} bytes)",
                label.len()
            ),
            Param::MacLen(n) => write!(f, "MacLen({n})"),
        }
    }
}

/// A mechanism and its parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mech {
    pub ty: CK_MECHANISM_TYPE,
    pub param: Param,
}

impl Mech {
    pub fn new(ty: CK_MECHANISM_TYPE) -> Mech {
        Mech {
            ty,
            param: Param::None,
        }
    }
}

/// Which parameter structure a mechanism takes, for the C layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    None,
    Pss,
    Oaep,
    MacGeneral,
}

pub fn param_kind(ty: CK_MECHANISM_TYPE) -> ParamKind {
    match ty {
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => ParamKind::Pss,
        CKM_RSA_PKCS_OAEP => ParamKind::Oaep,
        CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL => ParamKind::MacGeneral,
        _ => ParamKind::None,
    }
}

/// The hash of a CKM_SHA* digest mechanism value (as PSS and OAEP parameters name them).
pub fn hash_of_mech(m: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    Some(match m {
        CKM_SHA_1 => HashAlg::Sha1,
        CKM_SHA224 => HashAlg::Sha224,
        CKM_SHA256 => HashAlg::Sha256,
        CKM_SHA384 => HashAlg::Sha384,
        CKM_SHA512 => HashAlg::Sha512,
        _ => return None,
    })
}

/// The MGF1 variant that goes with a hash.
pub fn mgf_of(h: HashAlg) -> CK_RSA_PKCS_MGF_TYPE {
    match h {
        HashAlg::Sha1 => CKG_MGF1_SHA1,
        HashAlg::Sha224 => CKG_MGF1_SHA224,
        HashAlg::Sha256 => CKG_MGF1_SHA256,
        HashAlg::Sha384 => CKG_MGF1_SHA384,
        HashAlg::Sha512 => CKG_MGF1_SHA512,
    }
}

/// A signing or verifying operation in progress.
pub trait SignOp: Send {
    /// Feeds data (C_SignUpdate / C_VerifyUpdate, or the whole input of C_Sign / C_Verify).
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Length of the signature or MAC this operation produces.
    fn sig_len(&self) -> usize;
    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>>;
    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()>;
}

/// An encryption or decryption operation in progress (single-part in substance: multi-part
/// input is gathered and processed at the end).
pub trait CryptOp: Send {
    /// Most output one call can produce (the exact length for encryption).
    fn max_out(&self) -> usize;
    fn run(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// One row of the registry.
#[derive(Debug, Clone, Copy)]
pub struct MechInfo {
    pub ty: CK_MECHANISM_TYPE,
    pub name: &'static str,
    pub min: CK_ULONG,
    pub max: CK_ULONG,
    pub flags: CK_FLAGS,
}

const RSA_MIN: CK_ULONG = crate::crypto::RSA_MIN_BITS as CK_ULONG;
const RSA_MAX: CK_ULONG = crate::crypto::RSA_MAX_BITS as CK_ULONG;
const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
const ED: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;

const fn mi(
    ty: CK_MECHANISM_TYPE,
    name: &'static str,
    min: CK_ULONG,
    max: CK_ULONG,
    flags: CK_FLAGS,
) -> MechInfo {
    MechInfo {
        ty,
        name,
        min,
        max,
        flags,
    }
}

/// Every mechanism the module implements. Key sizes: RSA and EC in bits, HMAC in bytes, generic
/// secret key generation in bits, the SHA-n key generations in bytes.
pub const MECHANISMS: &[MechInfo] = &[
    mi(
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        RSA_MIN,
        RSA_MAX,
        CKF_GENERATE_KEY_PAIR,
    ),
    mi(CKM_RSA_PKCS, "CKM_RSA_PKCS", RSA_MIN, RSA_MAX, SV | ED),
    mi(CKM_RSA_X_509, "CKM_RSA_X_509", RSA_MIN, RSA_MAX, SV | ED),
    mi(CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP", RSA_MIN, RSA_MAX, ED),
    mi(CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS", RSA_MIN, RSA_MAX, SV),
    mi(CKM_SHA1_RSA_PKCS, "CKM_SHA1_RSA_PKCS", RSA_MIN, RSA_MAX, SV),
    mi(
        CKM_SHA224_RSA_PKCS,
        "CKM_SHA224_RSA_PKCS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA256_RSA_PKCS,
        "CKM_SHA256_RSA_PKCS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA384_RSA_PKCS,
        "CKM_SHA384_RSA_PKCS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA512_RSA_PKCS,
        "CKM_SHA512_RSA_PKCS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA1_RSA_PKCS_PSS,
        "CKM_SHA1_RSA_PKCS_PSS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA224_RSA_PKCS_PSS,
        "CKM_SHA224_RSA_PKCS_PSS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA256_RSA_PKCS_PSS,
        "CKM_SHA256_RSA_PKCS_PSS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA384_RSA_PKCS_PSS,
        "CKM_SHA384_RSA_PKCS_PSS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_SHA512_RSA_PKCS_PSS,
        "CKM_SHA512_RSA_PKCS_PSS",
        RSA_MIN,
        RSA_MAX,
        SV,
    ),
    mi(
        CKM_EC_KEY_PAIR_GEN,
        "CKM_EC_KEY_PAIR_GEN",
        256,
        521,
        CKF_GENERATE_KEY_PAIR | EC_FLAGS,
    ),
    mi(CKM_ECDSA, "CKM_ECDSA", 256, 521, SV | EC_FLAGS),
    mi(CKM_ECDSA_SHA1, "CKM_ECDSA_SHA1", 256, 521, SV | EC_FLAGS),
    mi(
        CKM_ECDSA_SHA224,
        "CKM_ECDSA_SHA224",
        256,
        521,
        SV | EC_FLAGS,
    ),
    mi(
        CKM_ECDSA_SHA256,
        "CKM_ECDSA_SHA256",
        256,
        521,
        SV | EC_FLAGS,
    ),
    mi(
        CKM_ECDSA_SHA384,
        "CKM_ECDSA_SHA384",
        256,
        521,
        SV | EC_FLAGS,
    ),
    mi(
        CKM_ECDSA_SHA512,
        "CKM_ECDSA_SHA512",
        256,
        521,
        SV | EC_FLAGS,
    ),
    mi(
        CKM_GENERIC_SECRET_KEY_GEN,
        "CKM_GENERIC_SECRET_KEY_GEN",
        8,
        4096,
        CKF_GENERATE,
    ),
    mi(CKM_SHA_1_KEY_GEN, "CKM_SHA_1_KEY_GEN", 1, 512, CKF_GENERATE),
    mi(
        CKM_SHA224_KEY_GEN,
        "CKM_SHA224_KEY_GEN",
        1,
        512,
        CKF_GENERATE,
    ),
    mi(
        CKM_SHA256_KEY_GEN,
        "CKM_SHA256_KEY_GEN",
        1,
        512,
        CKF_GENERATE,
    ),
    mi(
        CKM_SHA384_KEY_GEN,
        "CKM_SHA384_KEY_GEN",
        1,
        512,
        CKF_GENERATE,
    ),
    mi(
        CKM_SHA512_KEY_GEN,
        "CKM_SHA512_KEY_GEN",
        1,
        512,
        CKF_GENERATE,
    ),
    mi(CKM_SHA_1_HMAC, "CKM_SHA_1_HMAC", 1, 512, SV),
    mi(CKM_SHA_1_HMAC_GENERAL, "CKM_SHA_1_HMAC_GENERAL", 1, 512, SV),
    mi(CKM_SHA224_HMAC, "CKM_SHA224_HMAC", 1, 512, SV),
    mi(
        CKM_SHA224_HMAC_GENERAL,
        "CKM_SHA224_HMAC_GENERAL",
        1,
        512,
        SV,
    ),
    mi(CKM_SHA256_HMAC, "CKM_SHA256_HMAC", 1, 512, SV),
    mi(
        CKM_SHA256_HMAC_GENERAL,
        "CKM_SHA256_HMAC_GENERAL",
        1,
        512,
        SV,
    ),
    mi(CKM_SHA384_HMAC, "CKM_SHA384_HMAC", 1, 512, SV),
    mi(
        CKM_SHA384_HMAC_GENERAL,
        "CKM_SHA384_HMAC_GENERAL",
        1,
        512,
        SV,
    ),
    mi(CKM_SHA512_HMAC, "CKM_SHA512_HMAC", 1, 512, SV),
    mi(
        CKM_SHA512_HMAC_GENERAL,
        "CKM_SHA512_HMAC_GENERAL",
        1,
        512,
        SV,
    ),
    mi(CKM_SHA_1, "CKM_SHA_1", 0, 0, CKF_DIGEST),
    mi(CKM_SHA224, "CKM_SHA224", 0, 0, CKF_DIGEST),
    mi(CKM_SHA256, "CKM_SHA256", 0, 0, CKF_DIGEST),
    mi(CKM_SHA384, "CKM_SHA384", 0, 0, CKF_DIGEST),
    mi(CKM_SHA512, "CKM_SHA512", 0, 0, CKF_DIGEST),
];

/// Whether the configuration (`slots.mechanisms`) lets a mechanism through.
fn allowed_by(config: &crate::config::Config, info: &MechInfo) -> bool {
    match &config.mechanisms {
        None => true,
        Some(f) => {
            let listed = f
                .names
                .iter()
                .any(|n| n.trim_start_matches('-').eq_ignore_ascii_case(info.name));
            listed != f.deny
        }
    }
}

/// The mechanisms offered under a configuration, in registry order.
pub fn list(config: &crate::config::Config) -> Vec<CK_MECHANISM_TYPE> {
    MECHANISMS
        .iter()
        .filter(|m| allowed_by(config, m))
        .map(|m| m.ty)
        .collect()
}

/// The registry row of an offered mechanism, or `MechanismInvalid`.
pub fn info(config: &crate::config::Config, ty: CK_MECHANISM_TYPE) -> Result<MechInfo> {
    MECHANISMS
        .iter()
        .find(|m| m.ty == ty && allowed_by(config, m))
        .copied()
        .ok_or(Error::MechanismInvalid)
}

/// The input of a signature: hashed as it comes, or gathered whole.
pub(crate) enum Input {
    Hash(crate::crypto::Hasher),
    Raw(Zeroizing<Vec<u8>>),
}

impl Input {
    pub(crate) fn new(hash: Option<HashAlg>) -> Input {
        match hash {
            Some(h) => Input::Hash(crate::crypto::Hasher::new(h)),
            None => Input::Raw(Zeroizing::new(Vec::new())),
        }
    }
    pub(crate) fn update(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Input::Hash(h) => h.update(data),
            Input::Raw(v) => {
                // Unhashed inputs are at most a modulus or a digest: refuse to gather megabytes.
                if v.len() + data.len() > 64 * 1024 {
                    return Err(Error::DataLenRange);
                }
                v.extend_from_slice(data)
            }
        }
        Ok(())
    }
    pub(crate) fn finish(self) -> Zeroizing<Vec<u8>> {
        match self {
            Input::Hash(h) => Zeroizing::new(h.finalize()),
            Input::Raw(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_consistent() {
        let c = crate::config::Config::default();
        let l = list(&c);
        assert_eq!(l.len(), MECHANISMS.len());
        for m in MECHANISMS {
            assert!(m.min <= m.max, "{}", m.name);
            assert_eq!(l.iter().filter(|&&t| t == m.ty).count(), 1, "{}", m.name);
        }
        assert_eq!(info(&c, CKM_MD5).unwrap_err(), Error::MechanismInvalid);
        assert_eq!(info(&c, CKM_ECDSA).unwrap().flags & CKF_SIGN, CKF_SIGN);
    }

    #[test]
    fn config_filter() {
        let mut c = crate::config::Config {
            mechanisms: Some(crate::config::MechanismFilter {
                deny: true,
                names: vec!["-CKM_RSA_X_509".into(), "-CKM_SHA_1".into()],
            }),
            ..Default::default()
        };
        assert!(!list(&c).contains(&CKM_RSA_X_509));
        assert!(!list(&c).contains(&CKM_SHA_1));
        assert!(list(&c).contains(&CKM_SHA256));
        assert_eq!(
            info(&c, CKM_RSA_X_509).unwrap_err(),
            Error::MechanismInvalid
        );
        c.mechanisms = Some(crate::config::MechanismFilter {
            deny: false,
            names: vec!["CKM_SHA256".into()],
        });
        assert_eq!(list(&c), vec![CKM_SHA256]);
    }
}
