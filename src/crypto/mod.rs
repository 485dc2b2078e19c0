//! The cryptography backend boundary.
//!
//! The mechanism layer ([`crate::mechanism`]) only sees the types and functions of this module:
//! [`HashAlg`], [`Hasher`], [`Hmac`], [`RsaPrivate`], [`RsaPublic`], [`Curve`], [`EcPrivate`],
//! [`EcPublic`], [`EdPrivate`], [`EdPublic`], [`XPrivate`], [`XPublic`], [`rsa_generate`],
//! [`ec_generate`], [`ed_generate`], [`x25519_generate`], [`random`]. Each backend (one file)
//! provides
//! them with the same signatures; the active one is chosen at build time with a `#[cfg]` on the
//! `pub use` below, without touching the mechanism layer: the cargo feature `backend-awslc` (on by
//! default) selects the `aws-lc-rs` backend (`awslc.rs`); `--no-default-features` builds the
//! RustCrypto backend (`rustcrypto.rs`) alone.
//!
//! Backends never log and never put secret material in `Debug` output or errors; every private
//! key type zeroizes on drop. See `README.md` beside this file for the choice of crates and the
//! handling of RSA PKCS#1 v1.5 decryption (Marvin).

// With `backend-awslc` the RustCrypto backend stays compiled in: the aws-lc backend delegates to it
// the operations aws-lc-rs does not offer (see README.md).
#[cfg_attr(feature = "backend-awslc", allow(dead_code))]
mod rustcrypto;
#[cfg(not(feature = "backend-awslc"))]
pub use rustcrypto::*;

#[cfg(feature = "backend-awslc")]
mod awslc;

pub mod sym;
// Ed448 and X448: the same RustCrypto crates on both backends (AWS-LC has no curve448).
pub mod c448;
#[cfg(feature = "backend-awslc")]
pub use awslc::*;
pub use c448::{ed448_generate, x448_generate, Ed448Private, Ed448Public, X448Private, X448Public};
// DSA: RustCrypto's `dsa` on both backends (aws-lc-rs has none).
pub mod dsa;
pub use self::dsa::{dsa_generate, dsa_generate_params, DsaParams, DsaPrivate, DsaPublic};
// Diffie-Hellman (PKCS #3): crypto-bigint's exponentiation, composed, on both backends.
pub mod dh;
pub use dh::{dh_generate, dh_generate_params, DhParams, DhPrivate, DhPublic};
// ML-DSA (FIPS 204): RustCrypto's `ml-dsa` on both backends (README.md says why).
pub mod mldsa;
pub use mldsa::{mldsa_generate, MlDsaPrivate, MlDsaPublic, MlDsaSet};
// ML-KEM (FIPS 203): RustCrypto's `ml-kem` keys on both backends, AWS-LC's encapsulation on the
// default one (mlkem.rs says why).
pub mod mlkem;
pub use mlkem::{mlkem_generate, MlKemPrivate, MlKemPublic, MlKemSet};
// SLH-DSA (FIPS 205): RustCrypto's `slh-dsa` on both backends (aws-lc-rs has none).
pub mod slhdsa;
pub use slhdsa::{SlhDsaPrivate, SlhDsaPublic};

/// Strips the leading zero bytes of a big-endian integer.
pub(crate) fn strip_zeros(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[i..]
}

/// The hash functions the module offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    /// SHA-512/224 and SHA-512/256 (FIPS 180-4).
    Sha512_224,
    Sha512_256,
    /// SHA-3 (FIPS 202).
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

impl HashAlg {
    /// Every hash, in declaration order (`alg as usize` indexes it).
    pub const ALL: [HashAlg; 11] = [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sha512_224,
        HashAlg::Sha512_256,
        HashAlg::Sha3_224,
        HashAlg::Sha3_256,
        HashAlg::Sha3_384,
        HashAlg::Sha3_512,
    ];

    /// Output length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 | HashAlg::Sha512_224 | HashAlg::Sha3_224 => 28,
            HashAlg::Sha256 | HashAlg::Sha512_256 | HashAlg::Sha3_256 => 32,
            HashAlg::Sha384 | HashAlg::Sha3_384 => 48,
            HashAlg::Sha512 | HashAlg::Sha3_512 => 64,
        }
    }
}

/// The short Weierstrass curves the module offers (`CKK_EC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P224,
    P256,
    P384,
    P521,
    Secp256k1,
    BrainpoolP256r1,
    BrainpoolP384r1,
}

impl Curve {
    /// Every curve, smallest first.
    pub const ALL: [Curve; 7] = [
        Curve::P224,
        Curve::P256,
        Curve::Secp256k1,
        Curve::BrainpoolP256r1,
        Curve::P384,
        Curve::BrainpoolP384r1,
        Curve::P521,
    ];
    /// Length of a field element (and of a private scalar) in bytes.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P224 => 28,
            Curve::P256 | Curve::Secp256k1 | Curve::BrainpoolP256r1 => 32,
            Curve::P384 | Curve::BrainpoolP384r1 => 48,
            Curve::P521 => 66,
        }
    }
    /// Size of the curve order in bits, as C_GetMechanismInfo and CKA_MODULUS_BITS-like uses see it.
    pub fn bits(self) -> usize {
        match self {
            Curve::P224 => 224,
            Curve::P256 | Curve::Secp256k1 | Curve::BrainpoolP256r1 => 256,
            Curve::P384 | Curve::BrainpoolP384r1 => 384,
            Curve::P521 => 521,
        }
    }
    /// Length of an r||s signature.
    pub fn sig_len(self) -> usize {
        2 * self.field_len()
    }
}

/// Constant-time equality of two byte strings of equal length (MACs, tags).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
