//! The aws-lc-rs backend (cargo feature `backend-awslc`): AWS-LC (BoringSSL-derived, assembly for
//! RSA, P-256/P-384/P-521 and SHA) through `aws-lc-rs`.
//!
//! Each key type holds the RustCrypto key (the attribute values, SPKI and points come from it, and
//! it serves the operations aws-lc-rs does not offer) next to the aws-lc key, both parsed once when
//! the object is parsed (the parsed-key cache of `mechanism/keys.rs` keeps this type). Every
//! operation takes the aws-lc path when its preconditions hold exactly and otherwise delegates to
//! [`super::rustcrypto`]; `README.md` lists which operation goes where.

use super::rustcrypto as rc;
use super::{Curve, HashAlg};
use crate::error::{Error, Result};
use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rsa as lrsa;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, ParsedPublicKey};
use std::sync::OnceLock;
use zeroize::Zeroizing;

pub use rc::{random, RsaParts, RSA_MAX_BITS, RSA_MIN_BITS};
// Key derivation (HKDF, PBKDF2) is RustCrypto's on both backends: over the same HMAC states the MACs
// use (src/crypto/README.md).
pub use rc::{hkdf_expand, hkdf_extract, pbkdf2};

// ---- digests -----------------------------------------------------------------------------------

fn digest_alg(alg: HashAlg) -> Option<&'static digest::Algorithm> {
    Some(match alg {
        HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha224 => &digest::SHA224,
        HashAlg::Sha256 => &digest::SHA256,
        HashAlg::Sha384 => &digest::SHA384,
        HashAlg::Sha512 => &digest::SHA512,
        HashAlg::Sha512_256 => &digest::SHA512_256,
        HashAlg::Sha3_256 => &digest::SHA3_256,
        HashAlg::Sha3_384 => &digest::SHA3_384,
        HashAlg::Sha3_512 => &digest::SHA3_512,
        // aws-lc-rs has neither: RustCrypto's (`sha2`, `sha3`).
        HashAlg::Sha512_224 | HashAlg::Sha3_224 => return None,
    })
}

/// A digest computed elsewhere, as aws-lc-rs takes it; `None` when the length does not match or
/// aws-lc-rs lacks the hash.
fn imported(alg: HashAlg, hashed: &[u8]) -> Option<Digest> {
    Digest::import_less_safe(hashed, digest_alg(alg)?).ok()
}

/// A running hash: AWS-LC's where aws-lc-rs has the hash, RustCrypto's otherwise.
#[derive(Clone)]
pub enum Hasher {
    Lc(HashAlg, digest::Context),
    /// Boxed: a SHA-3 state is several times an AWS-LC context.
    Rc(Box<rc::Hasher>),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({:?})", self.alg())
    }
}

impl Hasher {
    pub fn new(alg: HashAlg) -> Hasher {
        match digest_alg(alg) {
            Some(a) => Hasher::Lc(alg, digest::Context::new(a)),
            None => Hasher::Rc(Box::new(rc::Hasher::new(alg))),
        }
    }
    pub fn alg(&self) -> HashAlg {
        match self {
            Hasher::Lc(alg, _) => *alg,
            Hasher::Rc(h) => h.alg(),
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Lc(_, ctx) => ctx.update(data),
            Hasher::Rc(h) => h.update(data),
        }
    }
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Lc(_, ctx) => ctx.finish().as_ref().to_vec(),
            Hasher::Rc(h) => h.finalize(),
        }
    }
    /// One-shot hash.
    pub fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
        match digest_alg(alg) {
            Some(a) => digest::digest(a, data).as_ref().to_vec(),
            None => rc::Hasher::digest(alg, data),
        }
    }
}

// ---- HMAC --------------------------------------------------------------------------------------

// HMAC is RustCrypto's (with SHA-NI where the CPU has it): its keyed state is a few hundred bytes,
// copied to start each MAC, where an AWS-LC `HMAC_CTX` is over a kilobyte to copy and box. With
// keyed states cached per key, HMAC-SHA-256 over 64 bytes ran about 20% faster this way
// (`cargo bench --bench pkcs11 -- --rows hmac`).
pub use super::rustcrypto::{Hmac, HmacKey};

// ---- RSA ---------------------------------------------------------------------------------------

/// aws-lc-rs takes RSA keys of 2048 to 8192 bits; other sizes stay with RustCrypto.
fn lc_size(bits: usize) -> bool {
    (2048..=8192).contains(&bits)
}

/// The aws-lc half of an RSA private key.
struct LcRsaPrivate {
    sign: lrsa::KeyPair,
    /// Built from `sign` on the first OAEP decryption (`None`: aws-lc refused it).
    oaep: OnceLock<Option<lrsa::OaepPrivateDecryptingKey>>,
}

impl LcRsaPrivate {
    fn new(sign: lrsa::KeyPair) -> LcRsaPrivate {
        LcRsaPrivate {
            sign,
            oaep: OnceLock::new(),
        }
    }

    fn from_rc(k: &rc::RsaPrivate) -> Option<LcRsaPrivate> {
        if !lc_size(k.bits()) {
            return None;
        }
        let der = k.pkcs8_der().ok()?;
        lrsa::KeyPair::from_pkcs8(&der).ok().map(LcRsaPrivate::new)
    }

    fn oaep(&self) -> Option<&lrsa::OaepPrivateDecryptingKey> {
        self.oaep
            .get_or_init(|| {
                let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&self.sign).ok()?;
                let der = Zeroizing::new(der.as_ref().to_vec());
                let k = lrsa::PrivateDecryptingKey::from_pkcs8(&der).ok()?;
                lrsa::OaepPrivateDecryptingKey::new(k).ok()
            })
            .as_ref()
    }
}

/// An RSA private key: the RustCrypto key and, for 2048 to 8192 bits, the aws-lc key.
pub struct RsaPrivate {
    rc: rc::RsaPrivate,
    lc: Option<LcRsaPrivate>,
}

impl std::fmt::Debug for RsaPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPrivate({} bits)", self.bits())
    }
}

/// Generates an RSA key pair: AWS-LC for e = 65537 and 2048/3072/4096/8192 bits, RustCrypto for
/// every other size or exponent.
pub fn rsa_generate(bits: usize, e: &[u8]) -> Result<RsaPrivate> {
    let size = match bits {
        2048 => Some(lrsa::KeySize::Rsa2048),
        3072 => Some(lrsa::KeySize::Rsa3072),
        4096 => Some(lrsa::KeySize::Rsa4096),
        8192 => Some(lrsa::KeySize::Rsa8192),
        _ => None,
    };
    if let (Some(size), [1, 0, 1]) = (size, crate::mechanism::keys::strip(e)) {
        let kp = lrsa::KeyPair::generate(size).map_err(|_| Error::FunctionFailed)?;
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp)
            .map_err(|_| Error::FunctionFailed)?;
        let der = Zeroizing::new(der.as_ref().to_vec());
        let rc = rc::RsaPrivate::from_pkcs8_der(&der)?;
        return Ok(RsaPrivate {
            rc,
            lc: Some(LcRsaPrivate::new(kp)),
        });
    }
    Ok(RsaPrivate::wrap(rc::rsa_generate(bits, e)?))
}

fn pkcs1_sign_enc(alg: HashAlg) -> Option<&'static sig::RsaSignatureEncoding> {
    match alg {
        HashAlg::Sha256 => Some(&sig::RSA_PKCS1_SHA256),
        HashAlg::Sha384 => Some(&sig::RSA_PKCS1_SHA384),
        HashAlg::Sha512 => Some(&sig::RSA_PKCS1_SHA512),
        _ => None,
    }
}

fn pss_sign_enc(alg: HashAlg) -> Option<&'static sig::RsaSignatureEncoding> {
    match alg {
        HashAlg::Sha256 => Some(&sig::RSA_PSS_SHA256),
        HashAlg::Sha384 => Some(&sig::RSA_PSS_SHA384),
        HashAlg::Sha512 => Some(&sig::RSA_PSS_SHA512),
        _ => None,
    }
}

fn oaep_alg(alg: HashAlg) -> Option<&'static lrsa::OaepAlgorithm> {
    match alg {
        HashAlg::Sha1 => Some(&lrsa::OAEP_SHA1_MGF1SHA1),
        HashAlg::Sha256 => Some(&lrsa::OAEP_SHA256_MGF1SHA256),
        HashAlg::Sha384 => Some(&lrsa::OAEP_SHA384_MGF1SHA384),
        HashAlg::Sha512 => Some(&lrsa::OAEP_SHA512_MGF1SHA512),
        _ => None,
    }
}

impl RsaPrivate {
    fn wrap(rc: rc::RsaPrivate) -> RsaPrivate {
        let lc = LcRsaPrivate::from_rc(&rc);
        RsaPrivate { rc, lc }
    }

    /// Builds a key from its components; without the primes they are recovered from n, e, d (by
    /// RustCrypto). Every component is checked for consistency.
    pub fn from_components(
        n: &[u8],
        e: &[u8],
        d: &[u8],
        primes: Option<(&[u8], &[u8])>,
    ) -> Result<RsaPrivate> {
        Ok(RsaPrivate::wrap(rc::RsaPrivate::from_components(
            n, e, d, primes,
        )?))
    }

    pub fn bits(&self) -> usize {
        self.rc.bits()
    }

    /// Modulus length in bytes.
    pub fn size(&self) -> usize {
        self.rc.size()
    }

    pub fn public(&self) -> RsaPublic {
        RsaPublic::wrap(self.rc.public())
    }

    pub fn parts(&self) -> RsaParts {
        self.rc.parts()
    }

    fn lc_sign(
        &self,
        enc: Option<&'static sig::RsaSignatureEncoding>,
        alg: HashAlg,
        hashed: &[u8],
    ) -> Option<Result<Vec<u8>>> {
        let (lc, enc, d) = (self.lc.as_ref()?, enc?, imported(alg, hashed)?);
        let mut out = vec![0u8; lc.sign.public_modulus_len()];
        Some(
            lc.sign
                .sign_digest(enc, &d, &mut out)
                .map(|()| out)
                .map_err(|_| Error::FunctionFailed),
        )
    }

    /// RSASSA-PKCS1-v1_5 over a digest (`Some(alg)`: the DigestInfo prefix is added) or over an
    /// already encoded DigestInfo (`None`, RustCrypto).
    pub fn sign_pkcs1(&self, alg: Option<HashAlg>, hashed: &[u8]) -> Result<Vec<u8>> {
        if let Some(a) = alg {
            if let Some(r) = self.lc_sign(pkcs1_sign_enc(a), a, hashed) {
                return r;
            }
        }
        self.rc.sign_pkcs1(alg, hashed)
    }

    /// RSASSA-PSS over a digest, MGF1 with the same hash. aws-lc signs with a salt as long as the
    /// hash; other salt lengths go to RustCrypto.
    pub fn sign_pss(&self, alg: HashAlg, salt_len: usize, hashed: &[u8]) -> Result<Vec<u8>> {
        if salt_len == alg.len() {
            if let Some(r) = self.lc_sign(pss_sign_enc(alg), alg, hashed) {
                return r;
            }
        }
        self.rc.sign_pss(alg, salt_len, hashed)
    }

    /// RSAES-PKCS1-v1_5 decryption with implicit rejection (RustCrypto: aws-lc-rs offers no
    /// implicit rejection).
    pub fn decrypt_pkcs1(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.rc.decrypt_pkcs1(c)
    }

    /// RSAES-OAEP decryption, MGF1 with the same hash.
    pub fn decrypt_oaep(&self, alg: HashAlg, label: &[u8], c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let key = match (&self.lc, oaep_alg(alg)) {
            (Some(lc), Some(a)) if c.len() == self.size() => lc.oaep().map(|k| (k, a)),
            _ => None,
        };
        let Some((k, a)) = key else {
            return self.rc.decrypt_oaep(alg, label, c);
        };
        let mut out = Zeroizing::new(vec![0u8; k.min_output_size()]);
        let label = (!label.is_empty()).then_some(label);
        let n = k
            .decrypt(a, c, &mut out, label)
            .map_err(|_| Error::EncryptedDataInvalid)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// The raw private operation (CKM_RSA_X_509): RustCrypto (aws-lc-rs has no raw RSA).
    pub fn raw(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.rc.raw(c)
    }
}

/// The aws-lc half of an RSA public key: verification keys per parameter set and the OAEP
/// encryption key, each parsed from the SPKI on first use and kept.
struct LcRsaPublic {
    spki: Vec<u8>,
    verify: [OnceLock<Option<ParsedPublicKey>>; 7],
    oaep: OnceLock<Option<lrsa::OaepPublicEncryptingKey>>,
}

const RSA_VERIFY: [&sig::RsaParameters; 7] = [
    &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    &sig::RSA_PKCS1_2048_8192_SHA256,
    &sig::RSA_PKCS1_2048_8192_SHA384,
    &sig::RSA_PKCS1_2048_8192_SHA512,
    &sig::RSA_PSS_2048_8192_SHA256,
    &sig::RSA_PSS_2048_8192_SHA384,
    &sig::RSA_PSS_2048_8192_SHA512,
];

impl LcRsaPublic {
    fn verifier(&self, i: usize) -> Option<&ParsedPublicKey> {
        self.verify[i]
            .get_or_init(|| ParsedPublicKey::new(RSA_VERIFY[i], &self.spki).ok())
            .as_ref()
    }

    fn oaep(&self) -> Option<&lrsa::OaepPublicEncryptingKey> {
        self.oaep
            .get_or_init(|| {
                let k = lrsa::PublicEncryptingKey::from_der(&self.spki).ok()?;
                lrsa::OaepPublicEncryptingKey::new(k).ok()
            })
            .as_ref()
    }
}

/// An RSA public key: the RustCrypto key and, for 2048 to 8192 bits, the aws-lc keys.
pub struct RsaPublic {
    rc: rc::RsaPublic,
    lc: Option<LcRsaPublic>,
}

impl std::fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublic({} bits)", self.bits())
    }
}

impl RsaPublic {
    fn wrap(rc: rc::RsaPublic) -> RsaPublic {
        let lc = if lc_size(rc.bits()) {
            rc.spki().ok().map(|spki| LcRsaPublic {
                spki,
                verify: Default::default(),
                oaep: OnceLock::new(),
            })
        } else {
            None
        };
        RsaPublic { rc, lc }
    }

    pub fn new(n: &[u8], e: &[u8]) -> Result<RsaPublic> {
        Ok(RsaPublic::wrap(rc::RsaPublic::new(n, e)?))
    }

    pub fn size(&self) -> usize {
        self.rc.size()
    }

    pub fn bits(&self) -> usize {
        self.rc.bits()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> Result<Vec<u8>> {
        self.rc.spki()
    }

    fn lc_verify(
        &self,
        i: Option<usize>,
        alg: HashAlg,
        hashed: &[u8],
        s: &[u8],
    ) -> Option<Result<()>> {
        let (lc, i, d) = (self.lc.as_ref()?, i?, imported(alg, hashed)?);
        let v = lc.verifier(i)?;
        Some(
            v.verify_digest_sig(&d, s)
                .map_err(|_| Error::SignatureInvalid),
        )
    }

    pub fn verify_pkcs1(&self, alg: Option<HashAlg>, hashed: &[u8], sig: &[u8]) -> Result<()> {
        if let Some(a) = alg {
            let i = match a {
                HashAlg::Sha1 => Some(0),
                HashAlg::Sha256 => Some(1),
                HashAlg::Sha384 => Some(2),
                HashAlg::Sha512 => Some(3),
                _ => None,
            };
            if let Some(r) = self.lc_verify(i, a, hashed, sig) {
                return r;
            }
        }
        self.rc.verify_pkcs1(alg, hashed, sig)
    }

    pub fn verify_pss(
        &self,
        alg: HashAlg,
        salt_len: usize,
        hashed: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        if salt_len == alg.len() {
            let i = match alg {
                HashAlg::Sha256 => Some(4),
                HashAlg::Sha384 => Some(5),
                HashAlg::Sha512 => Some(6),
                _ => None,
            };
            if let Some(r) = self.lc_verify(i, alg, hashed, sig) {
                return r;
            }
        }
        self.rc.verify_pss(alg, salt_len, hashed, sig)
    }

    /// RSAES-PKCS1-v1_5 encryption (RustCrypto).
    pub fn encrypt_pkcs1(&self, m: &[u8]) -> Result<Vec<u8>> {
        self.rc.encrypt_pkcs1(m)
    }

    pub fn encrypt_oaep(&self, alg: HashAlg, label: &[u8], m: &[u8]) -> Result<Vec<u8>> {
        let key = match (&self.lc, oaep_alg(alg)) {
            (Some(lc), Some(a)) => lc
                .oaep()
                .filter(|k| m.len() <= k.max_plaintext_size(a))
                .map(|k| (k, a)),
            _ => None,
        };
        let Some((k, a)) = key else {
            return self.rc.encrypt_oaep(alg, label, m);
        };
        let mut out = vec![0u8; k.ciphertext_size()];
        let label = (!label.is_empty()).then_some(label);
        let n = k
            .encrypt(a, m, &mut out, label)
            .map_err(|_| Error::FunctionFailed)?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// The raw public operation (CKM_RSA_X_509): RustCrypto.
    pub fn raw(&self, m: &[u8]) -> Result<Vec<u8>> {
        self.rc.raw(m)
    }
}

// ---- EC ----------------------------------------------------------------------------------------

/// The aws-lc signing algorithm of a curve: the digest length it takes is the curve's own.
/// aws-lc-rs offers ECDSA on P-256, P-384, P-521 and secp256k1; the other curves are RustCrypto's.
fn ec_sign_alg(curve: Curve) -> Option<&'static sig::EcdsaSigningAlgorithm> {
    Some(match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        Curve::Secp256k1 => &sig::ECDSA_P256K1_SHA256_FIXED_SIGNING,
        Curve::P224 | Curve::BrainpoolP256r1 | Curve::BrainpoolP384r1 => return None,
    })
}

fn ec_verify_alg(curve: Curve) -> Option<&'static sig::EcdsaVerificationAlgorithm> {
    Some(match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
        Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED,
        Curve::Secp256k1 => &sig::ECDSA_P256K1_SHA256_FIXED,
        Curve::P224 | Curve::BrainpoolP256r1 | Curve::BrainpoolP384r1 => return None,
    })
}

/// The hash whose digest aws-lc takes for a curve (see [`ec_sign_alg`]).
fn ec_hash(curve: Curve) -> HashAlg {
    match curve {
        Curve::P384 | Curve::BrainpoolP384r1 => HashAlg::Sha384,
        Curve::P521 => HashAlg::Sha512,
        Curve::P224 => HashAlg::Sha224,
        Curve::P256 | Curve::Secp256k1 | Curve::BrainpoolP256r1 => HashAlg::Sha256,
    }
}

/// An EC private key: the RustCrypto key, the aws-lc key pair, and the aws-lc ECDH key (made on
/// the first derivation and kept with the parsed key).
pub struct EcPrivate {
    rc: rc::EcPrivate,
    lc: Option<EcdsaKeyPair>,
    ecdh: OnceLock<Option<agreement::PrivateKey>>,
}

/// aws-lc-rs agrees on the NIST curves P-256, P-384, P-521 only.
fn ecdh_alg(curve: Curve) -> Option<&'static agreement::Algorithm> {
    Some(match curve {
        Curve::P256 => &agreement::ECDH_P256,
        Curve::P384 => &agreement::ECDH_P384,
        Curve::P521 => &agreement::ECDH_P521,
        _ => return None,
    })
}

/// An EC public key: the RustCrypto key and the parsed aws-lc verification key, made on the
/// first verification and kept (an ECDH peer's point never needs it).
pub struct EcPublic {
    rc: rc::EcPublic,
    lc: OnceLock<Option<ParsedPublicKey>>,
}

impl std::fmt::Debug for EcPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcPrivate({:?})", self.curve())
    }
}

impl std::fmt::Debug for EcPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcPublic({:?})", self.curve())
    }
}

/// Generates an EC private key (AWS-LC; RustCrypto if AWS-LC fails).
pub fn ec_generate(curve: Curve) -> EcPrivate {
    let lc = ec_sign_alg(curve)
        .and_then(|alg| EcdsaKeyPair::generate(alg).ok())
        .and_then(|kp| {
            let d =
                AsBigEndian::<aws_lc_rs::encoding::EcPrivateKeyBin>::as_be_bytes(&kp.private_key())
                    .ok()?;
            let rc = rc::EcPrivate::from_bytes(curve, d.as_ref()).ok()?;
            Some(EcPrivate {
                rc,
                lc: Some(kp),
                ecdh: OnceLock::new(),
            })
        });
    lc.unwrap_or_else(|| EcPrivate::wrap(rc::ec_generate(curve)))
}

impl EcPrivate {
    fn wrap(rc: rc::EcPrivate) -> EcPrivate {
        let lc = ec_sign_alg(rc.curve()).and_then(|alg| {
            EcdsaKeyPair::from_private_key_and_public_key(alg, &rc.scalar(), &rc.public().point())
                .ok()
        });
        EcPrivate {
            rc,
            lc,
            ecdh: OnceLock::new(),
        }
    }

    /// From the big-endian private scalar (shorter values are left-padded).
    pub fn from_bytes(curve: Curve, d: &[u8]) -> Result<EcPrivate> {
        Ok(EcPrivate::wrap(rc::EcPrivate::from_bytes(curve, d)?))
    }

    pub fn curve(&self) -> Curve {
        self.rc.curve()
    }

    /// The private scalar, big-endian, field length.
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        self.rc.scalar()
    }

    pub fn public(&self) -> EcPublic {
        EcPublic::wrap(self.rc.public())
    }

    /// ECDH: the x-coordinate of d·Q, field length (AWS-LC; RustCrypto if AWS-LC refused the
    /// key). `peer` was checked on import: on the curve, not the identity.
    pub fn ecdh(&self, peer: &EcPublic) -> Result<Zeroizing<Vec<u8>>> {
        if peer.curve() != self.curve() {
            return Err(Error::MechanismParamInvalid);
        }
        let Some(alg) = ecdh_alg(self.curve()) else {
            return self.rc.ecdh(&peer.rc);
        };
        let key = self
            .ecdh
            .get_or_init(|| agreement::PrivateKey::from_private_key(alg, &self.scalar()).ok())
            .as_ref();
        let Some(key) = key else {
            return self.rc.ecdh(&peer.rc);
        };
        let point = peer.point();
        let q = agreement::UnparsedPublicKey::new(alg, &point);
        agreement::agree(key, q, Error::MechanismParamInvalid, |z| {
            Ok(Zeroizing::new(z.to_vec()))
        })
    }

    /// ECDH with the other party's SEC 1 point. On the curves AWS-LC agrees on, an uncompressed
    /// point goes to AWS-LC as it is: its parse checks that the point is on the curve (the
    /// identity has no uncompressed form), so RustCrypto's parse and the re-encoding are skipped
    /// (`MechanismParamInvalid` for a bad point either way). Compressed points, the other curves
    /// and a key AWS-LC refused go through [`rc::EcPrivate::ecdh_sec1`].
    pub fn ecdh_sec1(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let curve = self.curve();
        let uncompressed = peer.len() == 2 * curve.field_len() + 1 && peer[0] == 4;
        let key = match ecdh_alg(curve) {
            Some(alg) if uncompressed => self
                .ecdh
                .get_or_init(|| agreement::PrivateKey::from_private_key(alg, &self.scalar()).ok())
                .as_ref()
                .map(|k| (alg, k)),
            _ => None,
        };
        let Some((alg, key)) = key else {
            return self.rc.ecdh_sec1(peer);
        };
        let q = agreement::UnparsedPublicKey::new(alg, peer);
        agreement::agree(key, q, Error::MechanismParamInvalid, |z| {
            Ok(Zeroizing::new(z.to_vec()))
        })
    }

    /// ECDSA over a digest of any length, truncated or padded as SEC 1 says; r||s, each of field
    /// length. aws-lc (random nonces) signs a digest as long as the curve's hash (32, 48, 64 bytes
    /// for P-256, P-384, P-521); other lengths go to RustCrypto (RFC 6979 nonces).
    pub fn sign_prehash(&self, z: &[u8]) -> Result<Vec<u8>> {
        if let (Some(kp), Some(d)) = (&self.lc, imported(ec_hash(self.curve()), z)) {
            return kp
                .sign_digest(&d)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| Error::FunctionFailed);
        }
        self.rc.sign_prehash(z)
    }
}

impl EcPublic {
    fn wrap(rc: rc::EcPublic) -> EcPublic {
        EcPublic {
            rc,
            lc: OnceLock::new(),
        }
    }

    /// From a SEC 1 encoded point (uncompressed or compressed), checked to be on the curve.
    pub fn from_sec1(curve: Curve, p: &[u8]) -> Result<EcPublic> {
        Ok(EcPublic::wrap(rc::EcPublic::from_sec1(curve, p)?))
    }

    pub fn curve(&self) -> Curve {
        self.rc.curve()
    }

    /// The uncompressed SEC 1 point (04 || x || y).
    pub fn point(&self) -> Vec<u8> {
        self.rc.point()
    }

    /// The aws-lc verification key, parsed on first use.
    fn lc(&self) -> Option<&ParsedPublicKey> {
        self.lc
            .get_or_init(|| {
                ParsedPublicKey::new(ec_verify_alg(self.curve())?, self.rc.point()).ok()
            })
            .as_ref()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> Result<Vec<u8>> {
        self.rc.spki()
    }

    /// Verifies an r||s signature over a digest of any length (aws-lc for a digest as long as the
    /// curve's hash, RustCrypto otherwise).
    pub fn verify_prehash(&self, z: &[u8], sig: &[u8]) -> Result<()> {
        if let (Some(k), Some(d)) = (self.lc(), imported(ec_hash(self.curve()), z)) {
            return k
                .verify_digest_sig(&d, sig)
                .map_err(|_| Error::SignatureInvalid);
        }
        self.rc.verify_prehash(z, sig)
    }
}

// ---- Ed25519 ------------------------------------------------------------------------------------

/// Whether this backend signs Ed25519ctx: AWS-LC does (`ED25519ctx_sign`).
pub const ED25519_CTX: bool = true;

pub use rc::ED25519_LEN;

/// An Ed25519 private key: the RustCrypto key (the seed and public key come from it) and the
/// aws-lc key pair, which signs.
pub struct EdPrivate {
    rc: rc::EdPrivate,
    lc: Option<sig::Ed25519KeyPair>,
}

/// An Ed25519 public key: the RustCrypto key (it checks the encoding) and the aws-lc key, which
/// verifies.
pub struct EdPublic {
    rc: rc::EdPublic,
    lc: Option<ParsedPublicKey>,
}

impl std::fmt::Debug for EdPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdPrivate(Ed25519)")
    }
}

impl std::fmt::Debug for EdPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdPublic(Ed25519)")
    }
}

/// Generates an Ed25519 private key (AWS-LC; RustCrypto if AWS-LC fails).
pub fn ed_generate() -> Result<EdPrivate> {
    let lc = sig::Ed25519KeyPair::generate().ok().and_then(|kp| {
        let seed = kp.seed().ok()?;
        let seed =
            AsBigEndian::<aws_lc_rs::encoding::Curve25519SeedBin>::as_be_bytes(&seed).ok()?;
        let rc = rc::EdPrivate::from_bytes(seed.as_ref()).ok()?;
        Some(EdPrivate { rc, lc: Some(kp) })
    });
    match lc {
        Some(k) => Ok(k),
        None => Ok(EdPrivate::wrap(rc::ed_generate()?)),
    }
}

impl EdPrivate {
    fn wrap(rc: rc::EdPrivate) -> EdPrivate {
        let lc =
            sig::Ed25519KeyPair::from_seed_and_public_key(&rc.seed(), &rc.public().bytes()).ok();
        EdPrivate { rc, lc }
    }

    /// From the 32-byte seed (RFC 8032's private key).
    pub fn from_bytes(seed: &[u8]) -> Result<EdPrivate> {
        Ok(EdPrivate::wrap(rc::EdPrivate::from_bytes(seed)?))
    }

    pub fn seed(&self) -> Zeroizing<Vec<u8>> {
        self.rc.seed()
    }

    pub fn public(&self) -> EdPublic {
        EdPublic::wrap(self.rc.public())
    }

    /// Pure Ed25519 (RFC 8032, 5.1.6): AWS-LC.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        match &self.lc {
            Some(kp) => Ok(kp.sign(msg).as_ref().to_vec()),
            None => self.rc.sign(msg),
        }
    }

    /// Ed25519ph (`ph` true; RustCrypto's `ed25519-dalek`) or Ed25519ctx (`ph` false; AWS-LC's
    /// `ED25519ctx_sign`, which aws-lc-rs does not wrap, so through `aws-lc-sys`). A context
    /// longer than 255 bytes, or an empty one for Ed25519ctx (RFC 8032 5.1: it is then Ed25519),
    /// is `MechanismParamInvalid`.
    pub fn sign_variant(&self, ph: bool, context: &[u8], msg: &[u8]) -> Result<Vec<u8>> {
        if ph {
            return self.rc.sign_variant(ph, context, msg);
        }
        if context.is_empty() || context.len() > 255 {
            return Err(Error::MechanismParamInvalid);
        }
        // AWS-LC's private key form: the seed, then the public key.
        let mut sk = Zeroizing::new([0u8; 64]);
        sk[..32].copy_from_slice(&self.rc.seed());
        sk[32..].copy_from_slice(&self.rc.public().bytes());
        let mut sig = [0u8; 64];
        // SAFETY: every pointer is valid for the length passed with it (`sig` and `sk` are the
        // 64 bytes the function reads or writes), and nothing is kept after the call.
        let ok = unsafe {
            aws_lc_sys::ED25519ctx_sign(
                sig.as_mut_ptr(),
                msg.as_ptr(),
                msg.len(),
                sk.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        };
        if ok != 1 {
            // SAFETY: clears this thread's AWS-LC error queue; no arguments.
            unsafe { aws_lc_sys::ERR_clear_error() };
            return Err(Error::GeneralError);
        }
        Ok(sig.to_vec())
    }
}

impl EdPublic {
    fn wrap(rc: rc::EdPublic) -> EdPublic {
        let lc = ParsedPublicKey::new(&sig::ED25519, rc.bytes()).ok();
        EdPublic { rc, lc }
    }

    /// From the 32-byte encoding; one that decodes to no point is refused (by RustCrypto).
    pub fn from_bytes(p: &[u8]) -> Result<EdPublic> {
        Ok(EdPublic::wrap(rc::EdPublic::from_bytes(p)?))
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.rc.bytes()
    }

    /// Pure Ed25519 verification (RFC 8032, 5.1.7): AWS-LC.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        match &self.lc {
            Some(k) => k.verify_sig(msg, sig).map_err(|_| Error::SignatureInvalid),
            None => self.rc.verify(msg, sig),
        }
    }

    /// Verifies an Ed25519ph (RustCrypto) or Ed25519ctx (AWS-LC) signature, as
    /// [`EdPrivate::sign_variant`] makes them.
    pub fn verify_variant(&self, ph: bool, context: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
        if ph {
            return self.rc.verify_variant(ph, context, msg, sig);
        }
        if context.is_empty() || context.len() > 255 {
            return Err(Error::MechanismParamInvalid);
        }
        let sig: &[u8; 64] = sig.try_into().map_err(|_| Error::SignatureInvalid)?;
        let pk = self.rc.bytes();
        // SAFETY: every pointer is valid for the length passed with it (`sig` is 64 bytes, `pk`
        // the 32 of a public key), and nothing is kept after the call.
        let ok = unsafe {
            aws_lc_sys::ED25519ctx_verify(
                msg.as_ptr(),
                msg.len(),
                sig.as_ptr(),
                pk.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        };
        if ok != 1 {
            // SAFETY: clears this thread's AWS-LC error queue; no arguments.
            unsafe { aws_lc_sys::ERR_clear_error() };
            return Err(Error::SignatureInvalid);
        }
        Ok(())
    }
}

// ---- X25519 -------------------------------------------------------------------------------------

pub use rc::XPublic;

/// An X25519 private key: the RustCrypto key (its bytes and public key come from it) and the
/// aws-lc key, which agrees.
pub struct XPrivate {
    rc: rc::XPrivate,
    lc: Option<agreement::PrivateKey>,
}

impl std::fmt::Debug for XPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XPrivate(X25519)")
    }
}

/// Generates an X25519 private key (AWS-LC; RustCrypto if AWS-LC fails).
pub fn x25519_generate() -> Result<XPrivate> {
    let lc = agreement::PrivateKey::generate(&agreement::X25519)
        .ok()
        .and_then(|k| {
            let b = AsBigEndian::<aws_lc_rs::encoding::Curve25519SeedBin>::as_be_bytes(&k).ok()?;
            let rc = rc::XPrivate::from_bytes(b.as_ref()).ok()?;
            Some(XPrivate { rc, lc: Some(k) })
        });
    match lc {
        Some(k) => Ok(k),
        None => Ok(XPrivate::wrap(rc::x25519_generate()?)),
    }
}

impl XPrivate {
    fn wrap(rc: rc::XPrivate) -> XPrivate {
        let lc = agreement::PrivateKey::from_private_key(&agreement::X25519, &rc.bytes()).ok();
        XPrivate { rc, lc }
    }

    /// From the 32 bytes of RFC 7748's private key.
    pub fn from_bytes(k: &[u8]) -> Result<XPrivate> {
        Ok(XPrivate::wrap(rc::XPrivate::from_bytes(k)?))
    }

    pub fn bytes(&self) -> Zeroizing<Vec<u8>> {
        self.rc.bytes()
    }

    pub fn public(&self) -> XPublic {
        self.rc.public()
    }

    /// X25519(k, u) (RFC 7748, 6.1): AWS-LC, which refuses an all-zero result
    /// (`MechanismParamInvalid`).
    pub fn agree(&self, peer: &XPublic) -> Result<Zeroizing<Vec<u8>>> {
        let Some(k) = &self.lc else {
            return self.rc.agree(peer);
        };
        let u = peer.bytes();
        let q = agreement::UnparsedPublicKey::new(&agreement::X25519, &u);
        agreement::agree(k, q, Error::MechanismParamInvalid, |z| {
            Ok(Zeroizing::new(z.to_vec()))
        })
    }
}

// ---- AES-GCM -----------------------------------------------------------------------------------

/// aws-lc-rs's keyed AES-GCM (96-bit nonces, 128-bit tags), for a 16-, 24- or 32-byte key.
pub(super) fn gcm_key(key: &[u8]) -> Option<aws_lc_rs::aead::LessSafeKey> {
    use aws_lc_rs::aead::{self, UnboundKey};
    let alg = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        32 => &aead::AES_256_GCM,
        _ => return None,
    };
    UnboundKey::new(alg, key).ok().map(aead::LessSafeKey::new)
}

/// AES-GCM with a 12-byte IV and a 16-byte tag, in place: seals (returns the tag) or, with
/// `tag`, opens.
pub(super) fn aes_gcm_96(
    key: &aws_lc_rs::aead::LessSafeKey,
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: Option<&[u8]>,
) -> Result<Vec<u8>> {
    use aws_lc_rs::aead::{Aad, Nonce};
    let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| Error::MechanismParamInvalid)?;
    match tag {
        None => key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), buf)
            .map(|t| t.as_ref().to_vec())
            .map_err(|_| Error::DataLenRange),
        Some(t) => key
            .open_in_place_separate_tag(nonce, Aad::from(aad), t, buf)
            .map(|_| Vec::new())
            .map_err(|_| Error::EncryptedDataInvalid),
    }
}

/// Multi-part AES-GCM through AWS-LC's EVP cipher interface (aws-lc-rs only seals and opens whole
/// messages): each `update` encrypts or decrypts its input at once; `finish` gives the tag of an
/// encryption, `finish_decrypt` checks the tag of a decryption.
///
/// The context holds the key schedule and the GHASH key; `EVP_CIPHER_CTX_free` cleanses both (the
/// GCM state explicitly, the rest as AWS-LC's allocator wipes every block it frees). Nothing here
/// is printed: `Debug` shows the tag length only.
pub struct GcmStream {
    ctx: std::ptr::NonNull<aws_lc_sys::EVP_CIPHER_CTX>,
    tag_len: usize,
    decrypt: bool,
}

// SAFETY: the context is owned by this value alone (no copies, no shared references escape), and
// an EVP cipher context has no affinity to the thread that made it.
unsafe impl Send for GcmStream {}

impl std::fmt::Debug for GcmStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GcmStream({}-byte tag)", self.tag_len)
    }
}

/// The most bytes handed to one EVP call (its lengths are `int`).
const EVP_CHUNK: usize = 1 << 30;

/// An EVP return code: 1 is success. A failure drops AWS-LC's queued error for this thread.
fn evp_ok(rc: std::os::raw::c_int) -> Result<()> {
    if rc == 1 {
        Ok(())
    } else {
        // SAFETY: clears this thread's error queue; no arguments.
        unsafe { aws_lc_sys::ERR_clear_error() };
        Err(Error::GeneralError)
    }
}

impl GcmStream {
    /// Starts an encryption under a 16-, 24- or 32-byte AES key with any non-empty IV, the AAD
    /// taken in now, and a tag of 1 to 16 bytes (the prefix of the full tag, as SP 800-38D
    /// truncates).
    pub fn new(key: &[u8], iv: &[u8], aad: &[u8], tag_len: usize) -> Result<GcmStream> {
        Self::start(key, iv, aad, tag_len, false)
    }

    /// Starts a decryption, as [`GcmStream::new`] an encryption. The plaintext each
    /// `update` returns is unauthenticated until `finish_decrypt` accepts the tag: only the
    /// message API, whose callers are told so by the specification, uses it.
    pub fn new_decrypt(key: &[u8], iv: &[u8], aad: &[u8], tag_len: usize) -> Result<GcmStream> {
        Self::start(key, iv, aad, tag_len, true)
    }

    fn start(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        tag_len: usize,
        decrypt: bool,
    ) -> Result<GcmStream> {
        use aws_lc_sys as sys;
        // SAFETY: these return pointers to static cipher tables.
        let cipher = unsafe {
            match key.len() {
                16 => sys::EVP_aes_128_gcm(),
                24 => sys::EVP_aes_192_gcm(),
                32 => sys::EVP_aes_256_gcm(),
                _ => return Err(Error::KeySizeRange),
            }
        };
        if !(1..=16).contains(&tag_len) {
            return Err(Error::MechanismParamInvalid);
        }
        let iv_len = std::os::raw::c_int::try_from(iv.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or(Error::MechanismParamInvalid)?;
        if cipher.is_null() {
            return Err(Error::GeneralError);
        }
        // SAFETY: allocates a fresh context (or returns null, handled).
        let ctx = std::ptr::NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() })
            .ok_or(Error::HostMemory)?;
        // From here on `Drop` frees the context, whatever fails below.
        let s = GcmStream {
            ctx,
            tag_len,
            decrypt,
        };
        let enc = std::os::raw::c_int::from(!decrypt);
        let c = s.ctx.as_ptr();
        // SAFETY: `c` is a live context owned by `s`; the cipher is static; the key and IV
        // pointers are valid for the lengths the cipher reads (the key length is the cipher's,
        // the IV length was set just before); a null key and IV only select the cipher.
        unsafe {
            evp_ok(sys::EVP_CipherInit_ex(
                c,
                cipher,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
                enc,
            ))?;
            evp_ok(sys::EVP_CIPHER_CTX_ctrl(
                c,
                sys::EVP_CTRL_GCM_SET_IVLEN,
                iv_len,
                std::ptr::null_mut(),
            ))?;
            evp_ok(sys::EVP_CipherInit_ex(
                c,
                std::ptr::null(),
                std::ptr::null_mut(),
                key.as_ptr(),
                iv.as_ptr(),
                enc,
            ))?;
        }
        for part in aad.chunks(EVP_CHUNK) {
            let mut n: std::os::raw::c_int = 0;
            // SAFETY: a null output makes the call take `part` as AAD; `part` is valid for its
            // length, which fits an int.
            evp_ok(unsafe {
                sys::EVP_CipherUpdate(
                    c,
                    std::ptr::null_mut(),
                    &mut n,
                    part.as_ptr(),
                    part.len() as std::os::raw::c_int,
                )
            })?;
        }
        Ok(s)
    }

    /// Encrypts (decrypts) `input` into the first `input.len()` bytes of `out`. An `out` too short is refused
    /// before anything runs; an AWS-LC failure (the message past GCM's limit of 2^36 - 32 bytes,
    /// which the caller checks first) leaves the stream unusable.
    pub fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let out = out.get_mut(..input.len()).ok_or(Error::GeneralError)?;
        for (i, o) in input.chunks(EVP_CHUNK).zip(out.chunks_mut(EVP_CHUNK)) {
            let mut n: std::os::raw::c_int = 0;
            // SAFETY: `i` and `o` are distinct slices of equal length (at most EVP_CHUNK, so it
            // fits an int); GCM writes exactly as many bytes as it reads.
            evp_ok(unsafe {
                aws_lc_sys::EVP_CipherUpdate(
                    self.ctx.as_ptr(),
                    o.as_mut_ptr(),
                    &mut n,
                    i.as_ptr(),
                    i.len() as std::os::raw::c_int,
                )
            })?;
            if usize::try_from(n).ok() != Some(i.len()) {
                return Err(Error::GeneralError);
            }
        }
        Ok(())
    }

    /// Ends an encryption and returns the tag (`tag_len` bytes).
    pub fn finish(self) -> Result<Vec<u8>> {
        if self.decrypt {
            return Err(Error::GeneralError);
        }
        let c = self.ctx.as_ptr();
        // GCM writes nothing at the end; the buffer is there in case a cipher ever does.
        let mut last = [0u8; 32];
        let mut n: std::os::raw::c_int = 0;
        let mut tag = vec![0u8; self.tag_len];
        // SAFETY: `c` is live; `last` has room for a block; `tag` holds `tag_len` (1 to 16)
        // bytes, which is what GET_TAG copies.
        unsafe {
            evp_ok(aws_lc_sys::EVP_EncryptFinal_ex(
                c,
                last.as_mut_ptr(),
                &mut n,
            ))?;
            if n != 0 {
                return Err(Error::GeneralError);
            }
            evp_ok(aws_lc_sys::EVP_CIPHER_CTX_ctrl(
                c,
                aws_lc_sys::EVP_CTRL_GCM_GET_TAG,
                self.tag_len as std::os::raw::c_int,
                tag.as_mut_ptr().cast(),
            ))?;
        }
        Ok(tag)
    }

    /// Ends a decryption: `EncryptedDataInvalid` unless `tag` (`tag_len` bytes) is the message's.
    /// The stream is of no further use either way.
    pub fn finish_decrypt(&mut self, tag: &[u8]) -> Result<()> {
        if !self.decrypt || tag.len() != self.tag_len {
            return Err(Error::GeneralError);
        }
        let c = self.ctx.as_ptr();
        let mut last = [0u8; 32];
        let mut n: std::os::raw::c_int = 0;
        let mut t = tag.to_vec();
        // SAFETY: `c` is live; SET_TAG copies `tag_len` (1 to 16) bytes from `t`, which holds
        // them; `last` has room for a block (GCM writes nothing at the end).
        unsafe {
            evp_ok(aws_lc_sys::EVP_CIPHER_CTX_ctrl(
                c,
                aws_lc_sys::EVP_CTRL_GCM_SET_TAG,
                self.tag_len as std::os::raw::c_int,
                t.as_mut_ptr().cast(),
            ))?;
            evp_ok(aws_lc_sys::EVP_CipherFinal_ex(c, last.as_mut_ptr(), &mut n))
                .map_err(|_| Error::EncryptedDataInvalid)?;
        }
        Ok(())
    }
}

impl Drop for GcmStream {
    fn drop(&mut self) {
        // SAFETY: the context came from EVP_CIPHER_CTX_new and is freed once, here.
        unsafe { aws_lc_sys::EVP_CIPHER_CTX_free(self.ctx.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hmac;

    /// Whether a key took the aws-lc path (so the cross tests below test what they claim).
    fn lc_rsa(k: &RsaPrivate) -> bool {
        k.lc.is_some()
    }

    fn cross_rsa(k: &RsaPrivate) {
        assert!(lc_rsa(k));
        let p = k.parts();
        let rck = rc::RsaPrivate::from_components(&p.n, &p.e, &p.d, Some((&p.p, &p.q))).unwrap();
        let rcp = rck.public();
        let lcp = k.public();
        assert!(lcp.lc.is_some());
        for alg in [
            HashAlg::Sha1,
            HashAlg::Sha224,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ] {
            let z = Hasher::digest(alg, b"cross-backend");
            // PKCS#1 v1.5: aws-lc signs, RustCrypto verifies, and back. Both are deterministic.
            let s1 = k.sign_pkcs1(Some(alg), &z).unwrap();
            rcp.verify_pkcs1(Some(alg), &z, &s1).unwrap();
            let s2 = rck.sign_pkcs1(Some(alg), &z).unwrap();
            lcp.verify_pkcs1(Some(alg), &z, &s2).unwrap();
            assert_eq!(s1, s2, "{alg:?}");
            let mut bad = s1.clone();
            bad[10] ^= 1;
            assert_eq!(
                lcp.verify_pkcs1(Some(alg), &z, &bad).unwrap_err(),
                Error::SignatureInvalid
            );
            // PSS with the hash-length salt (the aws-lc path) and another salt (RustCrypto).
            for salt in [alg.len(), 0] {
                let s = k.sign_pss(alg, salt, &z).unwrap();
                rcp.verify_pss(alg, salt, &z, &s).unwrap();
                let s = rck.sign_pss(alg, salt, &z).unwrap();
                lcp.verify_pss(alg, salt, &z, &s).unwrap();
                let mut bad = s.clone();
                bad[5] ^= 1;
                assert!(lcp.verify_pss(alg, salt, &z, &bad).is_err());
            }
            // OAEP, with and without a label.
            for label in [&b""[..], b"label"] {
                let c = lcp.encrypt_oaep(alg, label, b"secret").unwrap();
                assert_eq!(&rck.decrypt_oaep(alg, label, &c).unwrap()[..], b"secret");
                let c = rcp.encrypt_oaep(alg, label, b"secret").unwrap();
                assert_eq!(&k.decrypt_oaep(alg, label, &c).unwrap()[..], b"secret");
                let mut bad = c.clone();
                bad[3] ^= 1;
                assert_eq!(
                    k.decrypt_oaep(alg, label, &bad).unwrap_err(),
                    Error::EncryptedDataInvalid
                );
            }
        }
    }

    #[test]
    fn cross_backend_rsa_generated_by_awslc() {
        cross_rsa(&rsa_generate(2048, &[1, 0, 1]).unwrap());
    }

    #[test]
    fn cross_backend_rsa_generated_by_rustcrypto() {
        // e = 3 is not generated by aws-lc: RustCrypto generates, aws-lc gets the key.
        let k = rsa_generate(2048, &[3]).unwrap();
        assert_eq!(k.parts().e, vec![3]);
        cross_rsa(&k);
    }

    #[test]
    fn small_rsa_keys_stay_with_rustcrypto() {
        let k = rsa_generate(1024, &[1, 0, 1]).unwrap();
        assert!(!lc_rsa(&k));
        let z = Hasher::digest(HashAlg::Sha256, b"x");
        let s = k.sign_pkcs1(Some(HashAlg::Sha256), &z).unwrap();
        k.public()
            .verify_pkcs1(Some(HashAlg::Sha256), &z, &s)
            .unwrap();
    }

    #[test]
    fn cross_backend_ecdsa() {
        // secp256k1: AWS-LC signs without low-S normalization; RustCrypto's k256 verifies those.
        for curve in [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1] {
            for k in [ec_generate(curve), EcPrivate::wrap(rc::ec_generate(curve))] {
                assert!(k.lc.is_some());
                let rck = rc::EcPrivate::from_bytes(curve, &k.scalar()).unwrap();
                let rcp = rck.public();
                let lcp = k.public();
                assert!(lcp.lc().is_some());
                assert_eq!(lcp.point(), rcp.point());
                // Every digest length: the curve's own goes through aws-lc, others RustCrypto.
                for alg in [
                    HashAlg::Sha1,
                    HashAlg::Sha224,
                    HashAlg::Sha256,
                    HashAlg::Sha384,
                    HashAlg::Sha512,
                ] {
                    let z = Hasher::digest(alg, b"cross-backend");
                    let s = k.sign_prehash(&z).unwrap();
                    assert_eq!(s.len(), curve.sig_len());
                    rcp.verify_prehash(&z, &s).unwrap();
                    let s = rck.sign_prehash(&z).unwrap();
                    lcp.verify_prehash(&z, &s).unwrap();
                    let mut bad = s.clone();
                    bad[1] ^= 1;
                    assert_eq!(
                        lcp.verify_prehash(&z, &bad).unwrap_err(),
                        Error::SignatureInvalid
                    );
                    assert!(lcp.verify_prehash(&z, &s[1..]).is_err());
                }
            }
        }
    }

    /// The curves aws-lc-rs lacks are RustCrypto's alone, for ECDSA and ECDH.
    #[test]
    fn curves_without_awslc() {
        for curve in [
            Curve::P224,
            Curve::BrainpoolP256r1,
            Curve::BrainpoolP384r1,
            Curve::Secp256k1,
        ] {
            let a = ec_generate(curve);
            assert_eq!(a.lc.is_some(), curve == Curve::Secp256k1);
            let b = ec_generate(curve);
            let z = a.ecdh(&b.public()).unwrap();
            assert_eq!(z.len(), curve.field_len());
            assert_eq!(z, b.ecdh(&a.public()).unwrap());
            assert!(a.ecdh.get().is_none());
            let d = Hasher::digest(HashAlg::Sha256, b"x");
            let s = a.sign_prehash(&d).unwrap();
            a.public().verify_prehash(&d, &s).unwrap();
        }
    }

    /// ECDH through AWS-LC agrees with RustCrypto's, and AWS-LC took the key (so the aws-lc path
    /// is the one tested).
    #[test]
    fn cross_backend_ecdh() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let a = ec_generate(curve);
            let b = ec_generate(curve);
            let z = a.ecdh(&b.public()).unwrap();
            assert!(matches!(a.ecdh.get(), Some(Some(_))));
            let rca = rc::EcPrivate::from_bytes(curve, &a.scalar()).unwrap();
            assert_eq!(z, rca.ecdh(&b.public().rc).unwrap());
            assert_eq!(z, b.ecdh(&a.public()).unwrap());
            let other = ec_generate(if curve == Curve::P256 {
                Curve::P384
            } else {
                Curve::P256
            });
            assert_eq!(
                a.ecdh(&other.public()).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
    }

    /// ECDH from SEC 1 bytes: the AWS-LC path (uncompressed) and the RustCrypto one (compressed)
    /// give the same Z; points off the curve, the identity and wrong lengths are refused.
    #[test]
    fn ecdh_from_sec1_bytes() {
        for curve in Curve::ALL {
            let a = ec_generate(curve);
            let b = ec_generate(curve);
            let p = b.public().point();
            let z = a.ecdh(&b.public()).unwrap();
            assert_eq!(a.ecdh_sec1(&p).unwrap(), z, "{curve:?}");
            let fl = curve.field_len();
            let parity = 2 | (p[2 * fl] & 1);
            let compressed = [&[parity][..], &p[1..=fl]].concat();
            assert_eq!(a.ecdh_sec1(&compressed).unwrap(), z, "{curve:?}");
            let mut off = p.clone();
            off[2 * fl] ^= 1;
            for bad in [&off[..], &[0u8][..], &p[..2 * fl], &[]] {
                assert_eq!(
                    a.ecdh_sec1(bad).unwrap_err(),
                    Error::MechanismParamInvalid,
                    "{curve:?}"
                );
            }
        }
    }

    /// Ed25519 through AWS-LC gives RustCrypto's signatures (the scheme is deterministic), each
    /// verifies the other's, and AWS-LC took the keys.
    #[test]
    fn cross_backend_ed25519() {
        for k in [
            ed_generate().unwrap(),
            EdPrivate::wrap(rc::ed_generate().unwrap()),
        ] {
            assert!(k.lc.is_some());
            let p = k.public();
            assert!(p.lc.is_some());
            for msg in [&b""[..], b"cross-backend", &[7u8; 1000]] {
                let s = k.sign(msg).unwrap();
                assert_eq!(s, k.rc.sign(msg).unwrap());
                p.verify(msg, &s).unwrap();
                p.rc.verify(msg, &s).unwrap();
                let mut bad = s.clone();
                bad[40] ^= 1;
                assert_eq!(p.verify(msg, &bad).unwrap_err(), Error::SignatureInvalid);
            }
            assert_eq!(format!("{k:?}"), "EdPrivate(Ed25519)");
        }
    }

    /// ML-DSA is RustCrypto's `ml-dsa` on both backends; AWS-LC's (FIPS-validated) ML-DSA is an
    /// independent implementation to check it against: the same seed gives the same public and
    /// expanded private keys, and each verifies the other's signatures (empty context, hedged).
    #[test]
    fn cross_implementation_ml_dsa() {
        use super::super::mldsa::{Hedge, MlDsaPrivate, MlDsaPublic, MlDsaSet};
        use aws_lc_rs::encoding::AsRawBytes;
        use aws_lc_rs::signature::{KeyPair, PqdsaKeyPair, UnparsedPublicKey};
        for (set, signing, verifying) in [
            (MlDsaSet::MlDsa44, &sig::ML_DSA_44_SIGNING, &sig::ML_DSA_44),
            (MlDsaSet::MlDsa65, &sig::ML_DSA_65_SIGNING, &sig::ML_DSA_65),
            (MlDsaSet::MlDsa87, &sig::ML_DSA_87_SIGNING, &sig::ML_DSA_87),
        ] {
            let seed = [0x5au8; 32];
            let ours = MlDsaPrivate::from_seed(set, &seed).unwrap();
            let theirs = PqdsaKeyPair::from_seed(signing, &seed).unwrap();
            assert_eq!(ours.public().bytes(), theirs.public_key().as_ref());
            let raw = theirs.private_key().as_raw_bytes().unwrap();
            assert_eq!(&ours.expanded()[..], raw.as_ref());
            let msg = b"ml-dsa against AWS-LC";
            let s = ours.sign(msg, &[], Hedge::Hedged).unwrap();
            UnparsedPublicKey::new(verifying, ours.public().bytes())
                .verify(msg, &s)
                .unwrap();
            let mut t = vec![0u8; set.sig_len()];
            assert_eq!(theirs.sign(msg, &mut t).unwrap(), set.sig_len());
            let p = MlDsaPublic::from_bytes(set, theirs.public_key().as_ref()).unwrap();
            p.verify(msg, &[], &t).unwrap();
            assert_eq!(
                p.verify(b"other", &[], &t).unwrap_err(),
                Error::SignatureInvalid
            );
        }
    }

    /// X25519 through AWS-LC agrees with RustCrypto's, and AWS-LC took the keys.
    #[test]
    fn cross_backend_x25519() {
        for a in [
            x25519_generate().unwrap(),
            XPrivate::wrap(rc::x25519_generate().unwrap()),
        ] {
            assert!(a.lc.is_some());
            let b = x25519_generate().unwrap();
            let z = a.agree(&b.public()).unwrap();
            assert_eq!(z, a.rc.agree(&b.public()).unwrap());
            assert_eq!(z, b.agree(&a.public()).unwrap());
            let zero = XPublic::from_bytes(&[0; 32]).unwrap();
            assert_eq!(a.agree(&zero).unwrap_err(), Error::MechanismParamInvalid);
            assert_eq!(a.rc.agree(&zero).unwrap_err(), Error::MechanismParamInvalid);
        }
    }

    #[test]
    fn digests_and_hmac_match_rustcrypto() {
        let data = [7u8; 200];
        // AWS-LC's SHA-3 and SHA-512/256 digests against RustCrypto's (`sha3`, `sha2`).
        for alg in HashAlg::ALL {
            assert_eq!(Hasher::digest(alg, &data), rc::Hasher::digest(alg, &data));
            let mut h = Hasher::new(alg);
            h.update(&data[..3]);
            h.update(&data[3..]);
            assert_eq!(h.finalize(), rc::Hasher::digest(alg, &data), "{alg:?}");
        }
        for alg in [
            HashAlg::Sha1,
            HashAlg::Sha224,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ] {
            assert_eq!(Hasher::digest(alg, &data), rc::Hasher::digest(alg, &data));
            let mut h = Hasher::new(alg);
            h.update(&data[..3]);
            h.clone().update(b"ignored");
            h.update(&data[3..]);
            assert_eq!(h.finalize(), rc::Hasher::digest(alg, &data));
            let lc_alg = match alg {
                HashAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                HashAlg::Sha224 => hmac::HMAC_SHA224,
                HashAlg::Sha256 => hmac::HMAC_SHA256,
                HashAlg::Sha384 => hmac::HMAC_SHA384,
                HashAlg::Sha512 => hmac::HMAC_SHA512,
                _ => unreachable!(),
            };
            for key in [&b""[..], b"k", &[9u8; 200]] {
                // The delegated HMAC agrees with AWS-LC's, started fresh or from a cached key.
                let lc = hmac::sign(&hmac::Key::new(lc_alg, key), &data);
                let k = HmacKey::new(alg, key).unwrap();
                for _ in 0..2 {
                    let mut m = k.start();
                    m.update(&data);
                    assert_eq!(*m.finalize(), *lc.as_ref());
                }
            }
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let k = ec_generate(Curve::P256);
        assert_eq!(format!("{k:?}"), "EcPrivate(P256)");
        let h = Hmac::new(HashAlg::Sha256, b"key").unwrap();
        assert_eq!(format!("{h:?}"), "Hmac(..)");
    }

    /// The streaming GCM wrapper: refused parameters, a short output buffer, and the tag of the
    /// GCM specification's test case 1 (zero key and IV, empty message).
    #[test]
    fn gcm_encrypt_stream_edges() {
        let zero = [0u8; 16];
        assert_eq!(
            GcmStream::new(&[0; 15], &zero[..12], b"", 16).unwrap_err(),
            Error::KeySizeRange
        );
        for (iv, tag) in [(&zero[..0], 16), (&zero[..12], 0), (&zero[..12], 17)] {
            assert_eq!(
                GcmStream::new(&zero, iv, b"", tag).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
        let s = GcmStream::new(&zero, &zero[..12], b"", 16).unwrap();
        assert_eq!(format!("{s:?}"), "GcmStream(16-byte tag)");
        assert_eq!(
            hex::encode(s.finish().unwrap()),
            "58e2fccefa7e3061367f1d57a4e7455a"
        );
        let mut s = GcmStream::new(&zero, &zero[..12], b"", 12).unwrap();
        let mut out = [0u8; 15];
        assert_eq!(s.update(&zero, &mut out).unwrap_err(), Error::GeneralError);
        let mut out = [0u8; 16];
        s.update(&zero, &mut out).unwrap();
        assert_eq!(hex::encode(out), "0388dace60b6a392f328c2b971b2fe78");
        assert_eq!(hex::encode(s.finish().unwrap()), "ab6e47d42cec13bdf53a67b2");
    }

    /// Test case 2 of the GCM specification decrypted in parts; a wrong tag, a tag of the wrong
    /// length and the wrong direction's final call are refused.
    #[test]
    fn gcm_decrypt_stream() {
        let zero = [0u8; 16];
        let ct = hex::decode("0388dace60b6a392f328c2b971b2fe78").unwrap();
        let tag = hex::decode("ab6e47d42cec13bdf53a67b21257bddf").unwrap();
        let open = || GcmStream::new_decrypt(&zero, &zero[..12], b"", 16).unwrap();
        let mut s = open();
        let mut out = [1u8; 16];
        s.update(&ct[..5], &mut out[..5]).unwrap();
        s.update(&ct[5..], &mut out[5..]).unwrap();
        assert_eq!(out, zero);
        s.finish_decrypt(&tag).unwrap();
        let mut bad = tag.clone();
        bad[15] ^= 1;
        let mut s = open();
        s.update(&ct, &mut out).unwrap();
        assert_eq!(
            s.finish_decrypt(&bad).unwrap_err(),
            Error::EncryptedDataInvalid
        );
        assert_eq!(
            open().finish_decrypt(&tag[..12]).unwrap_err(),
            Error::GeneralError
        );
        assert_eq!(open().finish().unwrap_err(), Error::GeneralError);
        let mut e = GcmStream::new(&zero, &zero[..12], b"", 16).unwrap();
        assert_eq!(e.finish_decrypt(&tag).unwrap_err(), Error::GeneralError);
    }
}
