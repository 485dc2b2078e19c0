//! Mechanisms: the registry of what the module offers, and one file per family.
//!
//! - [`keys`]: parsing key objects into backend keys (cached per object), import validation.
//! - [`rsa`], [`ec`], [`hmac`], [`digest`]: the operations of each family behind [`SignOp`] and
//!   [`CryptOp`], and their key generation.
//! - [`ops`]: the session side: `C_*Init`, the length protocol, one operation of each kind per
//!   session, key usage checks, context-specific login.
//! - [`wrap`]: C_WrapKey / C_UnwrapKey and the key management policy.
//!
//! The cryptography itself is behind [`crate::crypto`].

pub mod aes;
pub mod block;
pub mod des3;
pub mod dh;
pub mod digest;
pub mod dsa;
pub mod ec;
pub mod ecdh;
pub mod ecparams;
pub mod eddsa;
pub mod hmac;
pub mod kbkdf;
pub mod kdf;
pub mod keys;
pub mod message;
pub mod mldsa;
pub mod mlkem;
pub mod ops;
pub mod rsa;
pub mod slhdsa;
pub mod wrap;

use crate::crypto::{HashAlg, Hasher};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use keys::Key;
use std::sync::Arc;
use zeroize::Zeroizing;

pub use keys::validate_key;

/// A mechanism's parameter, as the C layer read it (sizes already checked). Values that may be
/// secret (IVs are not, but derivation data can be) are zeroized and never printed.
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
    /// A byte string: an IV (CBC modes, the optional IV of AES key wrap), or the data of
    /// CK_KEY_DERIVATION_STRING_DATA.
    Bytes(Zeroizing<Vec<u8>>),
    /// CK_AES_CTR_PARAMS.
    Ctr {
        bits: CK_ULONG,
        cb: [u8; 16],
    },
    /// CK_GCM_PARAMS (either layout: see `ffi::crypto`).
    Gcm {
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_bits: CK_ULONG,
    },
    /// CK_CCM_PARAMS.
    Ccm {
        data_len: CK_ULONG,
        nonce: Vec<u8>,
        aad: Vec<u8>,
        mac_len: CK_ULONG,
    },
    /// CK_AES_CBC_ENCRYPT_DATA_PARAMS / CK_DES_CBC_ENCRYPT_DATA_PARAMS: an IV and the data.
    IvData {
        iv: Vec<u8>,
        data: Zeroizing<Vec<u8>>,
    },
    /// CK_EDDSA_PARAMS: the prehash flag and the context.
    Eddsa {
        ph: bool,
        context: Vec<u8>,
    },
    /// CK_SIGN_ADDITIONAL_CONTEXT (PKCS #11 3.2): the hedge variant and the context.
    SignContext {
        hedge: CK_ULONG,
        context: Vec<u8>,
    },
    /// CK_HASH_SIGN_ADDITIONAL_CONTEXT: the same and the hash that made the caller's digest.
    HashSignContext {
        hedge: CK_ULONG,
        context: Vec<u8>,
        hash: CK_MECHANISM_TYPE,
    },
    /// CK_ECDH1_DERIVE_PARAMS: the KDF, the shared data (its input besides the secret) and the
    /// other party's public value.
    Ecdh {
        kdf: CK_EC_KDF_TYPE,
        shared: Zeroizing<Vec<u8>>,
        public: Vec<u8>,
    },
    /// A CK_ULONG (CK_EXTRACT_PARAMS: the index of the first bit to extract).
    Ulong(CK_ULONG),
    /// A second key (CKM_CONCATENATE_BASE_AND_KEY): its handle, and its value once
    /// `ops::derive_key` has read it (empty until then).
    OtherKey {
        handle: CK_OBJECT_HANDLE,
        value: Zeroizing<Vec<u8>>,
    },
    /// CK_HKDF_PARAMS; a salt given as a key (`CKF_HKDF_SALT_KEY`) is in `salt` once
    /// `ops::derive_key` has read it.
    Hkdf(Box<kdf::HkdfParams>),
    /// CK_SP800_108_KDF_PARAMS / CK_SP800_108_FEEDBACK_KDF_PARAMS.
    Kbkdf(Box<kbkdf::KbkdfParams>),
    /// CK_PKCS5_PBKD2_PARAMS / CK_PKCS5_PBKD2_PARAMS2.
    Pbkd2(Box<kdf::Pbkd2Params>),
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
            Param::Bytes(v) => write!(f, "Bytes({} bytes)", v.len()),
            Param::Ctr { bits, .. } => write!(f, "Ctr({bits} bits)"),
            Param::Gcm { iv, aad, tag_bits } => {
                write!(
                    f,
                    "Gcm(iv {} bytes, aad {} bytes, {tag_bits} tag bits)",
                    iv.len(),
                    aad.len()
                )
            }
            Param::Ccm {
                data_len,
                nonce,
                aad,
                mac_len,
            } => write!(
                f,
                "Ccm({data_len}, nonce {} bytes, aad {} bytes, mac {mac_len})",
                nonce.len(),
                aad.len()
            ),
            Param::IvData { iv, data } => {
                write!(f, "IvData(iv {} bytes, {} bytes)", iv.len(), data.len())
            }
            Param::Eddsa { ph, context } => {
                write!(f, "Eddsa(ph {ph}, context {} bytes)", context.len())
            }
            Param::SignContext { hedge, context } => {
                write!(f, "SignContext({hedge}, context {} bytes)", context.len())
            }
            Param::HashSignContext {
                hedge,
                context,
                hash,
            } => write!(
                f,
                "HashSignContext({hedge}, context {} bytes, {hash:#x})",
                context.len()
            ),
            Param::Ecdh {
                kdf,
                shared,
                public,
            } => write!(
                f,
                "Ecdh(kdf {kdf:#x}, shared {} bytes, public {} bytes)",
                shared.len(),
                public.len()
            ),
            Param::Ulong(n) => write!(f, "Ulong({n})"),
            Param::OtherKey { handle, .. } => write!(f, "OtherKey({handle})"),
            Param::Hkdf(p) => write!(f, "{p:?}"),
            Param::Kbkdf(p) => write!(f, "{p:?}"),
            Param::Pbkd2(p) => write!(f, "{p:?}"),
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
    /// An IV of exactly this many bytes.
    Iv(usize),
    /// An optional IV of this many bytes (no parameter: the mechanism's default).
    OptionalIv(usize),
    Ctr,
    Gcm,
    Ccm,
    /// CK_KEY_DERIVATION_STRING_DATA.
    DerivationString,
    /// CK_AES_CBC_ENCRYPT_DATA_PARAMS (16) or CK_DES_CBC_ENCRYPT_DATA_PARAMS (8): IV length.
    IvData(usize),
    /// CK_ECDH1_DERIVE_PARAMS.
    Ecdh1,
    /// CK_EDDSA_PARAMS, optional.
    OptionalEddsa,
    /// CK_SIGN_ADDITIONAL_CONTEXT, optional (PKCS #11 3.2).
    OptionalSignContext,
    /// CK_HASH_SIGN_ADDITIONAL_CONTEXT (PKCS #11 3.2).
    HashSignContext,
    /// A CK_ULONG (CK_EXTRACT_PARAMS).
    Ulong,
    /// A CK_OBJECT_HANDLE (CKM_CONCATENATE_BASE_AND_KEY).
    KeyHandle,
    /// CK_HKDF_PARAMS.
    Hkdf,
    /// CK_SP800_108_KDF_PARAMS.
    Kbkdf,
    /// CK_SP800_108_FEEDBACK_KDF_PARAMS.
    KbkdfFeedback,
    /// CK_PKCS5_PBKD2_PARAMS (2.40) or CK_PKCS5_PBKD2_PARAMS2 (3.0).
    Pbkd2,
    /// A byte string (CKM_DH_PKCS_DERIVE: the other party's public value).
    Bytes,
}

/// The key objects a mechanism works with.
#[derive(Debug, Clone, Copy)]
pub enum Keys {
    /// No key (digests).
    None,
    /// RSA public and private keys.
    Rsa,
    /// EC public and private keys.
    Ec,
    /// Edwards-curve (CKK_EC_EDWARDS) public and private keys.
    EcEdwards,
    /// The keys of ECDH: EC and Montgomery-curve (CKK_EC_MONTGOMERY) keys.
    Ecdh,
    /// Secret keys of these types.
    Secret(&'static [CK_KEY_TYPE]),
    /// DSA public and private keys.
    Dsa,
    /// Diffie-Hellman (CKK_DH) private keys.
    Dh,
    /// ML-DSA (CKK_ML_DSA) public and private keys.
    MlDsa,
    /// SLH-DSA (CKK_SLH_DSA) public and private keys.
    SlhDsa,
    /// ML-KEM (CKK_ML_KEM) public and private keys.
    MlKem,
}

impl Keys {
    /// Whether a key object of this class and type fits.
    pub fn fits(&self, class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> bool {
        let asym = matches!(class, CKO_PUBLIC_KEY | CKO_PRIVATE_KEY);
        match self {
            Keys::None => false,
            Keys::Rsa => asym && kt == CKK_RSA,
            Keys::Ec => asym && kt == CKK_EC,
            Keys::EcEdwards => asym && kt == CKK_EC_EDWARDS,
            Keys::Ecdh => asym && matches!(kt, CKK_EC | CKK_EC_MONTGOMERY),
            Keys::Secret(types) => class == CKO_SECRET_KEY && types.contains(&kt),
            Keys::Dsa => asym && kt == CKK_DSA,
            Keys::Dh => asym && kt == CKK_DH,
            Keys::MlDsa => asym && kt == CKK_ML_DSA,
            Keys::SlhDsa => asym && kt == CKK_SLH_DSA,
            Keys::MlKem => asym && kt == CKK_ML_KEM,
        }
    }
}

/// Builds a signing (`verify` false) or verifying operation.
pub type SignFn = fn(&Mech, &Arc<Key>, bool) -> Result<Box<dyn SignOp>>;
/// Builds a signature with recovery (`verify` false: C_SignRecoverInit) or a verification with
/// recovery (C_VerifyRecoverInit).
pub type RecoverFn = fn(&Mech, &Arc<Key>, bool) -> Result<Box<dyn RecoverOp>>;
/// Builds an encryption (`decrypt` false) or decryption operation.
pub type CryptFn = fn(&Mech, &Arc<Key>, bool) -> Result<Box<dyn CryptOp>>;
/// Starts a digest.
pub type DigestFn = fn(&Mech) -> Result<Hasher>;
/// Makes a secret key value: the key type and the value, from CKA_VALUE_LEN when the template
/// gives one.
pub type KeyGenFn = fn(&Mech, Option<usize>) -> Result<(CK_KEY_TYPE, Zeroizing<Vec<u8>>)>;
/// Makes a key pair from the public key template: the key type and the computed attributes of the
/// public and the private key.
pub type PairGenFn =
    fn(&Mech, &[Attribute]) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)>;
/// Makes the values of domain parameters (C_GenerateKey of a CKO_DOMAIN_PARAMETERS object of the
/// row's key type) from the template.
pub type ParamGenFn = fn(&Mech, &[Attribute]) -> Result<Vec<Attribute>>;
/// Derives the value of a new secret key from a base key: exactly `want.len(n)?` bytes, where `n`
/// is what the mechanism gives when the template asks no length (each mechanism truncates its
/// output as its specification says, or runs its KDF to that length).
pub type DeriveFn = fn(&Mech, &Arc<Key>, &KeyLen) -> Result<Zeroizing<Vec<u8>>>;

/// A key encapsulation mechanism (PKCS #11 3.2): encapsulation with a public key (the ciphertext
/// and the shared secret), decapsulation with a private key, and the ciphertext length a key makes.
#[derive(Clone, Copy)]
pub struct KemFns {
    pub encapsulate: EncapFn,
    pub decapsulate: DecapFn,
    pub ciphertext_len: fn(&Key) -> Result<usize>,
}

/// Encapsulates to a public key: the ciphertext and the shared secret.
pub type EncapFn = fn(&Mech, &Key) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)>;
/// Decapsulates a ciphertext with a private key: the shared secret.
pub type DecapFn = fn(&Mech, &Key, &[u8]) -> Result<Zeroizing<Vec<u8>>>;

/// The length a derived key must have: the template's CKA_VALUE_LEN (already checked to suit the
/// key type), else the key type's length.
#[derive(Clone, Copy)]
pub struct KeyLen {
    pub asked: Option<usize>,
    pub st: &'static SecretType,
}

impl KeyLen {
    /// The length to derive when the mechanism's own output is `natural` bytes: CKA_VALUE_LEN if
    /// the template gave one (it may exceed `natural`: the mechanism decides whether it can make
    /// it), else all of it for a key type of any length, else the longest length of the type
    /// that fits (`MechanismParamInvalid` if none does: the input was too short).
    pub fn len(&self, natural: usize) -> Result<usize> {
        match self.asked {
            Some(n) => Ok(n),
            None if self.st.range => Ok(natural),
            None => self
                .st
                .lens
                .iter()
                .copied()
                .filter(|&l| l <= natural)
                .max()
                .ok_or(Error::MechanismParamInvalid),
        }
    }
}

/// One row of the registry: everything the module knows about a mechanism. Each family file
/// contributes its rows (`MECHS`); nothing else decides what a mechanism is or does.
#[derive(Clone, Copy)]
pub struct MechDef {
    pub ty: CK_MECHANISM_TYPE,
    pub name: &'static str,
    /// Key sizes for C_GetMechanismInfo (bits for RSA, EC and AES/DES key generation as the spec
    /// says per mechanism; bytes for HMAC and AES).
    pub min: CK_ULONG,
    pub max: CK_ULONG,
    pub flags: CK_FLAGS,
    pub param: ParamKind,
    pub keys: Keys,
    pub sign: Option<SignFn>,
    pub crypt: Option<CryptFn>,
    pub digest: Option<DigestFn>,
    pub keygen: Option<KeyGenFn>,
    pub pairgen: Option<PairGenFn>,
    /// The key type of the domain parameters the mechanism generates, and the generation.
    pub paramgen: Option<(CK_KEY_TYPE, ParamGenFn)>,
    pub derive: Option<DeriveFn>,
    pub recover: Option<RecoverFn>,
    pub kem: Option<KemFns>,
}

impl std::fmt::Debug for MechDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MechDef({})", self.name)
    }
}

impl MechDef {
    /// A row with no operation yet; the builder methods below add them.
    pub const fn new(
        ty: CK_MECHANISM_TYPE,
        name: &'static str,
        min: CK_ULONG,
        max: CK_ULONG,
        flags: CK_FLAGS,
    ) -> MechDef {
        MechDef {
            ty,
            name,
            min,
            max,
            flags,
            param: ParamKind::None,
            keys: Keys::None,
            sign: None,
            crypt: None,
            digest: None,
            keygen: None,
            pairgen: None,
            paramgen: None,
            derive: None,
            recover: None,
            kem: None,
        }
    }
    pub const fn flags(self, flags: CK_FLAGS) -> MechDef {
        MechDef { flags, ..self }
    }
    pub const fn param(self, param: ParamKind) -> MechDef {
        MechDef { param, ..self }
    }
    pub const fn keys(self, keys: Keys) -> MechDef {
        MechDef { keys, ..self }
    }
    pub const fn sign(self, f: SignFn) -> MechDef {
        MechDef {
            sign: Some(f),
            ..self
        }
    }
    pub const fn crypt(self, f: CryptFn) -> MechDef {
        MechDef {
            crypt: Some(f),
            ..self
        }
    }
    pub const fn digest(self, f: DigestFn) -> MechDef {
        MechDef {
            digest: Some(f),
            ..self
        }
    }
    pub const fn keygen(self, f: KeyGenFn) -> MechDef {
        MechDef {
            keygen: Some(f),
            ..self
        }
    }
    pub const fn pairgen(self, f: PairGenFn) -> MechDef {
        MechDef {
            pairgen: Some(f),
            ..self
        }
    }
    pub const fn paramgen(self, kt: CK_KEY_TYPE, f: ParamGenFn) -> MechDef {
        MechDef {
            paramgen: Some((kt, f)),
            ..self
        }
    }
    pub const fn derive(self, f: DeriveFn) -> MechDef {
        MechDef {
            derive: Some(f),
            ..self
        }
    }
    pub const fn kem(
        self,
        encapsulate: EncapFn,
        decapsulate: DecapFn,
        ciphertext_len: fn(&Key) -> Result<usize>,
    ) -> MechDef {
        MechDef {
            kem: Some(KemFns {
                encapsulate,
                decapsulate,
                ciphertext_len,
            }),
            ..self
        }
    }
    pub const fn recover(self, f: RecoverFn) -> MechDef {
        MechDef {
            recover: Some(f),
            ..self
        }
    }
}

/// A secret key type: its valid lengths and its key check value (CKA_CHECK_VALUE).
#[derive(Clone, Copy)]
pub struct SecretType {
    pub kt: CK_KEY_TYPE,
    /// Valid lengths of CKA_VALUE in bytes: a list, or (when `range`) an inclusive range of two.
    pub lens: &'static [usize],
    pub range: bool,
    /// The key check value (PKCS#11 3.0, CKA_CHECK_VALUE): three bytes.
    pub check: fn(&[u8]) -> Result<Vec<u8>>,
}

impl SecretType {
    pub fn len_ok(&self, n: usize) -> bool {
        if self.range {
            (self.lens[0]..=self.lens[1]).contains(&n)
        } else {
            self.lens.contains(&n)
        }
    }
}

/// Every family's rows. A new mechanism is one row in its family's file; a new family is one
/// entry here.
const FAMILIES: &[&[MechDef]] = &[
    rsa::MECHS,
    ec::MECHS,
    ecdh::MECHS,
    eddsa::MECHS,
    hmac::MECHS,
    digest::MECHS,
    kdf::MECHS,
    kbkdf::MECHS,
    aes::MECHS,
    des3::MECHS,
    dsa::MECHS,
    dh::MECHS,
    mldsa::MECHS,
    mlkem::MECHS,
    slhdsa::MECHS,
];

/// Every family's secret key types.
const SECRET_TYPES: &[&[SecretType]] = &[
    hmac::KEY_TYPES,
    aes::KEY_TYPES,
    des3::KEY_TYPES,
    kdf::KEY_TYPES,
];

/// Every mechanism the module implements, in registry order.
pub fn all() -> impl Iterator<Item = &'static MechDef> + Clone {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The secret key type `kt`, if the module knows it.
pub fn secret_type(kt: CK_KEY_TYPE) -> Option<&'static SecretType> {
    SECRET_TYPES
        .iter()
        .flat_map(|f| f.iter())
        .find(|t| t.kt == kt)
}

/// Whether the configuration (`slots.mechanisms`) lets a mechanism through.
fn allowed_by(config: &crate::config::Config, def: &MechDef) -> bool {
    match &config.mechanisms {
        None => true,
        Some(f) => {
            let listed = f
                .names
                .iter()
                .any(|n| n.trim_start_matches('-').eq_ignore_ascii_case(def.name));
            listed != f.deny
        }
    }
}

/// The mechanisms offered under a configuration, in registry order.
pub fn list(config: &crate::config::Config) -> Vec<CK_MECHANISM_TYPE> {
    all()
        .filter(|m| allowed_by(config, m))
        .map(|m| m.ty)
        .collect()
}

/// The registry row of an offered mechanism, or `MechanismInvalid`.
pub fn info(config: &crate::config::Config, ty: CK_MECHANISM_TYPE) -> Result<&'static MechDef> {
    all()
        .find(|m| m.ty == ty && allowed_by(config, m))
        .ok_or(Error::MechanismInvalid)
}

/// The parameter structure of a mechanism (none for one the module does not know).
pub fn param_kind(ty: CK_MECHANISM_TYPE) -> ParamKind {
    all()
        .find(|m| m.ty == ty)
        .map_or(ParamKind::None, |m| m.param)
}

/// Whether the module knows a mechanism (offered or not by the configuration).
pub fn is_known(ty: CK_MECHANISM_TYPE) -> bool {
    all().any(|m| m.ty == ty)
}

/// The hash of a CKM_SHA* digest mechanism value (as PSS and OAEP parameters name them).
pub fn hash_of_mech(m: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    digest::hash_of(m)
}

/// The MGF1 variant that goes with a hash (PKCS #11 defines none for SHA-512/t).
pub fn mgf_of(h: HashAlg) -> Option<CK_RSA_PKCS_MGF_TYPE> {
    Some(match h {
        HashAlg::Sha1 => CKG_MGF1_SHA1,
        HashAlg::Sha224 => CKG_MGF1_SHA224,
        HashAlg::Sha256 => CKG_MGF1_SHA256,
        HashAlg::Sha384 => CKG_MGF1_SHA384,
        HashAlg::Sha512 => CKG_MGF1_SHA512,
        HashAlg::Sha3_224 => CKG_MGF1_SHA3_224,
        HashAlg::Sha3_256 => CKG_MGF1_SHA3_256,
        HashAlg::Sha3_384 => CKG_MGF1_SHA3_384,
        HashAlg::Sha3_512 => CKG_MGF1_SHA3_512,
        HashAlg::Sha512_224 | HashAlg::Sha512_256 => return None,
    })
}

/// A signing or verifying operation in progress.
pub trait SignOp: Send {
    /// Feeds data (C_SignUpdate / C_VerifyUpdate, or the whole input of C_Sign / C_Verify).
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Length of the signature or MAC this operation produces.
    fn sig_len(&self) -> usize;
    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>>;
    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()>;
    /// Whether C_SignUpdate / C_VerifyUpdate may feed it. A mechanism the spec makes single-part
    /// (`CKM_HASH_ML_DSA`, on a digest the caller made) answers false: an update call then ends
    /// the operation with `CKR_OPERATION_NOT_INITIALIZED`, as Kryoptic does and the `cryptoki`
    /// crate's tests expect.
    fn multi_part(&self) -> bool {
        true
    }
}

/// A signature or verification with recovery (C_SignRecover / C_VerifyRecover): single-part.
pub trait RecoverOp: Send {
    /// The most bytes `run` can return (exact when signing).
    fn max_len(&self) -> usize;
    /// Signs `input` into a signature from which it can be recovered, or verifies the signature
    /// `input` and returns the data it carries.
    fn run(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// An encryption or decryption operation in progress, streaming: `update` returns output as soon
/// as the mode has it, and holds at most what the mode needs (a block, the last two blocks of
/// CTS, the padded block of CBC_PAD decryption; AEAD decryption and RSA hold their input, capped).
///
/// The length protocol is exact: `update_len` says how much the next `update` writes before it
/// runs, so a caller's short buffer never costs the operation.
pub trait CryptOp: Send {
    /// Exactly how many bytes `update` writes for `n` more input bytes; an error when the input
    /// would go past a limit of the mode (the CTR counter space, the cap on held input).
    fn update_len(&self, n: usize) -> Result<usize>;
    /// Processes `input`, writing exactly `update_len(input.len())` bytes at the start of `out`.
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize>;
    /// The most bytes `finish` can write.
    fn final_len(&self) -> usize;
    /// Ends the operation and returns the last output.
    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>>;
    /// Ends the operation into `out`, which holds at least `final_len()` bytes; returns the
    /// length. Modes whose last output is large (AEAD) write it in place instead of returning it.
    fn finish_into(&mut self, out: &mut [u8]) -> Result<usize> {
        let last = self.finish()?;
        out.get_mut(..last.len())
            .ok_or(Error::GeneralError)?
            .copy_from_slice(&last);
        Ok(last.len())
    }
    /// The most bytes a single-part call on `n` bytes can write (exact for encryption).
    fn one_shot_len(&self, n: usize) -> Result<usize> {
        Ok(self.update_len(n)? + self.final_len())
    }
    /// Single-part: all of `input`, into `out` (at least `one_shot_len` bytes). Returns the length.
    fn one_shot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = self.update(input, out)?;
        Ok(n + self.finish_into(&mut out[n..])?)
    }
}

/// The hedging a 3.2 signature's `CK_SIGN_ADDITIONAL_CONTEXT` asks for (ML-DSA, SLH-DSA):
/// `true` for hedged (preferred or required), `false` for deterministic.
pub(crate) fn hedged(v: CK_ULONG) -> Result<bool> {
    match v {
        CKH_HEDGE_PREFERRED | CKH_HEDGE_REQUIRED => Ok(true),
        CKH_DETERMINISTIC_REQUIRED => Ok(false),
        _ => Err(Error::MechanismParamInvalid),
    }
}

/// Appends to a buffer that may hold secrets: when it must grow, the new allocation is made here
/// and the old one is zeroized as it is dropped (a plain `Vec` would leave a copy in freed memory).
pub(crate) fn append_secret(v: &mut Zeroizing<Vec<u8>>, data: &[u8]) {
    if v.capacity() - v.len() < data.len() {
        let want = (v.len() + data.len()).next_power_of_two();
        let mut grown = Zeroizing::new(Vec::with_capacity(want));
        grown.extend_from_slice(v);
        *v = grown;
    }
    v.extend_from_slice(data);
}

/// Runs a single-part operation into a new buffer.
pub fn crypt_all(op: &mut dyn CryptOp, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; op.one_shot_len(input.len())?]);
    let n = op.one_shot(input, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The input of a signature: hashed as it comes, or gathered whole. (One per operation: the
/// size of a SHA-3 state inline costs nothing worth a box.)
#[allow(clippy::large_enum_variant)]
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
        assert_eq!(l.len(), all().count());
        for m in all() {
            assert!(m.min <= m.max, "{}", m.name);
            assert_eq!(l.iter().filter(|&&t| t == m.ty).count(), 1, "{}", m.name);
        }
        // Every flag has the builder that serves it, and every builder a flag that reaches it.
        for m in all() {
            let has = |f: CK_FLAGS| m.flags & f != 0;
            assert_eq!(has(CKF_SIGN | CKF_VERIFY), m.sign.is_some(), "{}", m.name);
            assert_eq!(
                has(CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
                m.crypt.is_some(),
                "{}",
                m.name
            );
            assert_eq!(has(CKF_DIGEST), m.digest.is_some(), "{}", m.name);
            // C_GenerateKey makes a secret key or domain parameters, never both.
            assert_eq!(
                has(CKF_GENERATE),
                m.keygen.is_some() || m.paramgen.is_some(),
                "{}",
                m.name
            );
            assert!(!(m.keygen.is_some() && m.paramgen.is_some()), "{}", m.name);
            assert_eq!(
                has(CKF_GENERATE_KEY_PAIR),
                m.pairgen.is_some(),
                "{}",
                m.name
            );
            assert_eq!(has(CKF_DERIVE), m.derive.is_some(), "{}", m.name);
            assert_eq!(
                has(CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER),
                m.recover.is_some(),
                "{}",
                m.name
            );
            assert_eq!(
                has(CKF_ENCAPSULATE | CKF_DECAPSULATE),
                m.kem.is_some(),
                "{}",
                m.name
            );
            // Operations on keys name the keys they take.
            let keyed =
                m.sign.is_some() || m.crypt.is_some() || m.derive.is_some() || m.kem.is_some();
            assert_eq!(keyed, !matches!(m.keys, Keys::None), "{}", m.name);
            // The C name is the constant's.
            assert!(m.name.starts_with("CKM_"), "{}", m.name);
        }
        for kt in [
            CKK_AES,
            CKK_DES2,
            CKK_DES3,
            CKK_GENERIC_SECRET,
            CKK_SHA256_HMAC,
        ] {
            let st = secret_type(kt).unwrap();
            assert!(crate::object::rules::is_secret_key_type(kt));
            let n = st.lens[0];
            assert_eq!((st.check)(&vec![1u8; n]).unwrap().len(), 3);
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
