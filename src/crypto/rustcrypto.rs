//! The RustCrypto backend: `rsa` 0.10 (constant-time `crypto-bigint` arithmetic, implicit rejection
//! for PKCS#1 v1.5 decryption), `p256`/`p384`/`p521` 0.14 with `ecdsa` 0.17, `sha1`/`sha2` 0.11,
//! `hmac` 0.13. Nothing here implements a primitive: every function is a thin adapter that maps
//! the crates' errors to the module's.

use super::{Curve, HashAlg};
use crate::error::{Error, Result};
use crypto_bigint::BoxedUint;
use ecdsa::elliptic_curve::Generate;
use hmac::{KeyInit, Mac};
use rand_core::UnwrapErr;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2_011::{Digest, Sha224, Sha256, Sha384, Sha512, Sha512_224, Sha512_256};
use sha3::{Sha3_224, Sha3_256, Sha3_384, Sha3_512};
use zeroize::Zeroizing;

type Rng = UnwrapErr<getrandom_04::SysRng>;

fn rng() -> Rng {
    UnwrapErr(getrandom_04::SysRng)
}

/// Fills `buf` from the operating system's generator.
pub fn random(buf: &mut [u8]) -> Result<()> {
    getrandom_04::fill(buf).map_err(|_| Error::FunctionFailed)
}

/// Largest RSA modulus the backend accepts, in bits.
pub const RSA_MAX_BITS: usize = 8192;
/// Smallest RSA modulus the backend accepts, in bits.
pub const RSA_MIN_BITS: usize = 1024;

// ---- digests -----------------------------------------------------------------------------------

/// A running hash.
#[derive(Clone)]
pub enum Hasher {
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
    Sha512_224(Sha512_224),
    Sha512_256(Sha512_256),
    Sha3_224(Sha3_224),
    Sha3_256(Sha3_256),
    Sha3_384(Sha3_384),
    Sha3_512(Sha3_512),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({:?})", self.alg())
    }
}

macro_rules! each_hash {
    ($v:expr, $h:ident => $e:expr) => {
        match $v {
            Hasher::Sha1($h) => $e,
            Hasher::Sha224($h) => $e,
            Hasher::Sha256($h) => $e,
            Hasher::Sha384($h) => $e,
            Hasher::Sha512($h) => $e,
            Hasher::Sha512_224($h) => $e,
            Hasher::Sha512_256($h) => $e,
            Hasher::Sha3_224($h) => $e,
            Hasher::Sha3_256($h) => $e,
            Hasher::Sha3_384($h) => $e,
            Hasher::Sha3_512($h) => $e,
        }
    };
}

impl Hasher {
    pub fn new(alg: HashAlg) -> Hasher {
        match alg {
            HashAlg::Sha1 => Hasher::Sha1(Sha1::new()),
            HashAlg::Sha224 => Hasher::Sha224(Sha224::new()),
            HashAlg::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(Sha512::new()),
            HashAlg::Sha512_224 => Hasher::Sha512_224(Sha512_224::new()),
            HashAlg::Sha512_256 => Hasher::Sha512_256(Sha512_256::new()),
            HashAlg::Sha3_224 => Hasher::Sha3_224(Sha3_224::new()),
            HashAlg::Sha3_256 => Hasher::Sha3_256(Sha3_256::new()),
            HashAlg::Sha3_384 => Hasher::Sha3_384(Sha3_384::new()),
            HashAlg::Sha3_512 => Hasher::Sha3_512(Sha3_512::new()),
        }
    }
    pub fn alg(&self) -> HashAlg {
        match self {
            Hasher::Sha1(_) => HashAlg::Sha1,
            Hasher::Sha224(_) => HashAlg::Sha224,
            Hasher::Sha256(_) => HashAlg::Sha256,
            Hasher::Sha384(_) => HashAlg::Sha384,
            Hasher::Sha512(_) => HashAlg::Sha512,
            Hasher::Sha512_224(_) => HashAlg::Sha512_224,
            Hasher::Sha512_256(_) => HashAlg::Sha512_256,
            Hasher::Sha3_224(_) => HashAlg::Sha3_224,
            Hasher::Sha3_256(_) => HashAlg::Sha3_256,
            Hasher::Sha3_384(_) => HashAlg::Sha3_384,
            Hasher::Sha3_512(_) => HashAlg::Sha3_512,
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        each_hash!(self, h => Digest::update(h, data))
    }
    pub fn finalize(self) -> Vec<u8> {
        each_hash!(self, h => h.finalize().to_vec())
    }
    /// One-shot hash.
    pub fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(alg);
        h.update(data);
        h.finalize()
    }
}

// ---- HMAC --------------------------------------------------------------------------------------

/// A running HMAC (the key schedule lives in the crate's state, zeroized on drop).
#[derive(Clone)]
pub enum Hmac {
    Sha1(hmac::Hmac<Sha1>),
    Sha224(hmac::Hmac<Sha224>),
    Sha256(hmac::Hmac<Sha256>),
    Sha384(hmac::Hmac<Sha384>),
    Sha512(hmac::Hmac<Sha512>),
    Sha512_224(hmac::Hmac<Sha512_224>),
    Sha512_256(hmac::Hmac<Sha512_256>),
    Sha3_224(hmac::Hmac<Sha3_224>),
    Sha3_256(hmac::Hmac<Sha3_256>),
    Sha3_384(hmac::Hmac<Sha3_384>),
    Sha3_512(hmac::Hmac<Sha3_512>),
}

impl std::fmt::Debug for Hmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hmac(..)")
    }
}

macro_rules! each_hmac {
    ($v:expr, $h:ident => $e:expr) => {
        match $v {
            Hmac::Sha1($h) => $e,
            Hmac::Sha224($h) => $e,
            Hmac::Sha256($h) => $e,
            Hmac::Sha384($h) => $e,
            Hmac::Sha512($h) => $e,
            Hmac::Sha512_224($h) => $e,
            Hmac::Sha512_256($h) => $e,
            Hmac::Sha3_224($h) => $e,
            Hmac::Sha3_256($h) => $e,
            Hmac::Sha3_384($h) => $e,
            Hmac::Sha3_512($h) => $e,
        }
    };
}

/// An HMAC key with its inner and outer pads already hashed: starting a MAC from it is a copy of
/// a few hundred bytes, where keying costs two compression-function calls and more.
#[derive(Clone)]
pub struct HmacKey(Hmac);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

impl HmacKey {
    pub fn new(alg: HashAlg, key: &[u8]) -> Result<HmacKey> {
        Ok(HmacKey(Hmac::new(alg, key)?))
    }
    /// A new MAC under this key.
    pub fn start(&self) -> Hmac {
        self.0.clone()
    }
}

impl Hmac {
    pub fn new(alg: HashAlg, key: &[u8]) -> Result<Hmac> {
        let bad = |_| Error::KeySizeRange;
        Ok(match alg {
            HashAlg::Sha1 => Hmac::Sha1(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha224 => Hmac::Sha224(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha256 => Hmac::Sha256(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha384 => Hmac::Sha384(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha512 => Hmac::Sha512(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha512_224 => Hmac::Sha512_224(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha512_256 => Hmac::Sha512_256(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha3_224 => Hmac::Sha3_224(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha3_256 => Hmac::Sha3_256(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha3_384 => Hmac::Sha3_384(KeyInit::new_from_slice(key).map_err(bad)?),
            HashAlg::Sha3_512 => Hmac::Sha3_512(KeyInit::new_from_slice(key).map_err(bad)?),
        })
    }
    pub fn update(&mut self, data: &[u8]) {
        each_hmac!(self, h => Mac::update(h, data))
    }
    pub fn finalize(self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(each_hmac!(self, h => h.finalize().into_bytes().to_vec()))
    }
    /// Checks a (possibly truncated, leftmost bytes) MAC in constant time.
    pub fn verify_truncated(self, mac: &[u8]) -> Result<()> {
        each_hmac!(self, h => h.verify_truncated_left(mac)).map_err(|_| Error::SignatureInvalid)
    }
}

// ---- RSA ---------------------------------------------------------------------------------------

fn uint(be: &[u8]) -> BoxedUint {
    let bits = (be.len().max(1) * 8).div_ceil(64) * 64;
    BoxedUint::from_be_slice(be, bits as u32).expect("precision covers the input")
}

fn uint_at(be: &[u8], bits: u32) -> Result<BoxedUint> {
    BoxedUint::from_be_slice(be, bits).map_err(|_| Error::DataLenRange)
}

fn be(u: &BoxedUint) -> Vec<u8> {
    u.to_be_bytes_trimmed_vartime().to_vec()
}

/// Left-pads or trims leading zeros to exactly `k` bytes.
fn fixed(v: &[u8], k: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; k]);
    let v = &v[v.len().saturating_sub(k)..];
    out[k - v.len()..].copy_from_slice(v);
    out
}

fn rsa_err(e: rsa::Error) -> Error {
    match e {
        rsa::Error::MessageTooLong => Error::DataLenRange,
        rsa::Error::Verification => Error::SignatureInvalid,
        rsa::Error::Decryption => Error::EncryptedDataInvalid,
        rsa::Error::ModulusTooLarge | rsa::Error::ModulusTooSmall => Error::KeySizeRange,
        _ => Error::FunctionFailed,
    }
}

/// The values of an RSA key, big-endian, for the key's attributes.
pub struct RsaParts {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub dp: Zeroizing<Vec<u8>>,
    pub dq: Zeroizing<Vec<u8>>,
    pub qinv: Zeroizing<Vec<u8>>,
}

/// An RSA private key (zeroized on drop by the crate).
pub struct RsaPrivate(RsaPrivateKey);

/// An RSA public key.
pub struct RsaPublic(RsaPublicKey);

impl std::fmt::Debug for RsaPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPrivate({} bits)", self.bits())
    }
}

impl std::fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublic({} bits)", self.0.n().bits_vartime())
    }
}

/// Generates an RSA key pair.
pub fn rsa_generate(bits: usize, e: &[u8]) -> Result<RsaPrivate> {
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(Error::KeySizeRange);
    }
    // The crate retries until e is invertible: with an even e it would loop forever. Only odd
    // exponents within the crate's bounds (3 ..= 2^33 - 1) are generated.
    let e_be = crate::mechanism::keys::strip(e);
    let small = e_be.len() <= 8 && {
        let mut b = [0u8; 8];
        b[8 - e_be.len()..].copy_from_slice(e_be);
        let v = u64::from_be_bytes(b);
        (3..=RsaPublicKey::MAX_PUB_EXPONENT).contains(&v) && v % 2 == 1
    };
    if !small {
        return Err(Error::TemplateInconsistent);
    }
    let e = uint(e);
    RsaPrivateKey::new_with_exp(&mut rng(), bits, e)
        .map(RsaPrivate)
        .map_err(|e| match e {
            rsa::Error::PublicExponentTooSmall
            | rsa::Error::PublicExponentTooLarge
            | rsa::Error::InvalidExponent => Error::TemplateInconsistent,
            e => rsa_err(e),
        })
}

macro_rules! by_hash {
    ($alg:expr, $D:ident => $e:expr) => {
        match $alg {
            HashAlg::Sha1 => {
                type $D = Sha1;
                $e
            }
            HashAlg::Sha224 => {
                type $D = Sha224;
                $e
            }
            HashAlg::Sha256 => {
                type $D = Sha256;
                $e
            }
            HashAlg::Sha384 => {
                type $D = Sha384;
                $e
            }
            HashAlg::Sha512 => {
                type $D = Sha512;
                $e
            }
            HashAlg::Sha512_224 => {
                type $D = Sha512_224;
                $e
            }
            HashAlg::Sha512_256 => {
                type $D = Sha512_256;
                $e
            }
            HashAlg::Sha3_224 => {
                type $D = Sha3_224;
                $e
            }
            HashAlg::Sha3_256 => {
                type $D = Sha3_256;
                $e
            }
            HashAlg::Sha3_384 => {
                type $D = Sha3_384;
                $e
            }
            HashAlg::Sha3_512 => {
                type $D = Sha3_512;
                $e
            }
        }
    };
}

impl RsaPrivate {
    /// Builds a key from its components; without the primes they are recovered from n, e, d.
    /// Every component is checked for consistency.
    pub fn from_components(
        n: &[u8],
        e: &[u8],
        d: &[u8],
        primes: Option<(&[u8], &[u8])>,
    ) -> Result<RsaPrivate> {
        let primes = match primes {
            Some((p, q)) => vec![uint(p), uint(q)],
            None => vec![],
        };
        let k = RsaPrivateKey::from_components(uint(n), uint(e), uint(d), primes)
            .map_err(|_| Error::AttributeValueInvalid)?;
        let bits = k.n().bits_vartime() as usize;
        if !(RSA_MIN_BITS..=16384).contains(&bits) {
            return Err(Error::AttributeValueInvalid);
        }
        Ok(RsaPrivate(k))
    }

    pub fn bits(&self) -> usize {
        self.0.n().bits_vartime() as usize
    }

    /// The key as unencrypted PKCS#8 DER (for the aws-lc backend, which parses it once).
    #[allow(dead_code)]
    pub(super) fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        use rsa::pkcs8::EncodePrivateKey;
        let doc = self.0.to_pkcs8_der().map_err(|_| Error::FunctionFailed)?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// A key from unencrypted PKCS#8 DER (a key generated by the aws-lc backend).
    #[allow(dead_code)]
    pub(super) fn from_pkcs8_der(der: &[u8]) -> Result<RsaPrivate> {
        use rsa::pkcs8::DecodePrivateKey;
        RsaPrivateKey::from_pkcs8_der(der)
            .map(RsaPrivate)
            .map_err(|_| Error::FunctionFailed)
    }

    /// Modulus length in bytes.
    pub fn size(&self) -> usize {
        self.0.size()
    }

    pub fn public(&self) -> RsaPublic {
        RsaPublic(self.0.to_public_key())
    }

    pub fn parts(&self) -> RsaParts {
        let k = &self.0;
        let primes = k.primes();
        let z = |u: Option<&BoxedUint>| Zeroizing::new(u.map(be).unwrap_or_default());
        RsaParts {
            n: be(k.n()),
            e: be(k.e()),
            d: Zeroizing::new(be(k.d())),
            p: Zeroizing::new(be(&primes[0])),
            q: Zeroizing::new(be(&primes[1])),
            dp: z(k.dp()),
            dq: z(k.dq()),
            qinv: Zeroizing::new(k.crt_coefficient().as_ref().map(be).unwrap_or_default()),
        }
    }

    /// RSASSA-PKCS1-v1_5 over a digest (`Some(alg)`: the DigestInfo prefix is added) or over an
    /// already encoded DigestInfo (`None`).
    pub fn sign_pkcs1(&self, alg: Option<HashAlg>, hashed: &[u8]) -> Result<Vec<u8>> {
        let scheme = match alg {
            Some(a) => by_hash!(a, D => Pkcs1v15Sign::new::<D>()),
            None => Pkcs1v15Sign::new_unprefixed(),
        };
        self.0
            .sign_with_rng(&mut rng(), scheme, hashed)
            .map_err(rsa_err)
    }

    /// RSASSA-PSS over a digest, MGF1 with the same hash.
    pub fn sign_pss(&self, alg: HashAlg, salt_len: usize, hashed: &[u8]) -> Result<Vec<u8>> {
        by_hash!(alg, D => self.0.sign_with_rng(&mut rng(), Pss::<D>::new_with_salt(salt_len), hashed))
            .map_err(rsa_err)
    }

    /// RSAES-PKCS1-v1_5 decryption with implicit rejection: a badly padded ciphertext gives a
    /// deterministic synthetic message, never a distinguishable error.
    pub fn decrypt_pkcs1(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0
            .decrypt_blinded(&mut rng(), Pkcs1v15Encrypt, c)
            .map(Zeroizing::new)
            .map_err(rsa_err)
    }

    /// RSAES-OAEP decryption, MGF1 with the same hash.
    pub fn decrypt_oaep(&self, alg: HashAlg, label: &[u8], c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let label = (!label.is_empty()).then(|| label.to_vec());
        by_hash!(alg, D => {
            let p = match label {
                Some(l) => Oaep::<D>::new_with_label(l),
                None => Oaep::<D>::new(),
            };
            self.0.decrypt_blinded(&mut rng(), p, c)
        })
        .map(Zeroizing::new)
        .map_err(rsa_err)
    }

    /// The raw private operation (CKM_RSA_X_509), blinded and checked; `c` is at most k bytes
    /// and below the modulus.
    pub fn raw(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let k = self.size();
        if c.len() > k {
            return Err(Error::DataLenRange);
        }
        let n = self.0.n();
        let c = uint_at(&fixed(c, k), n.bits_precision())?;
        if c >= *n.as_ref() {
            return Err(Error::DataInvalid);
        }
        let m = rsa::hazmat::rsa_decrypt_and_check(&self.0, Some(&mut rng()), &c)
            .map_err(|_| Error::FunctionFailed)?;
        let m = Zeroizing::new(m.to_be_bytes().to_vec());
        Ok(fixed(&m, k))
    }
}

impl RsaPublic {
    pub fn new(n: &[u8], e: &[u8]) -> Result<RsaPublic> {
        RsaPublicKey::new_with_size_limits(uint(n), uint(e), RSA_MIN_BITS..=16384)
            .map(RsaPublic)
            .map_err(|_| Error::AttributeValueInvalid)
    }

    pub fn size(&self) -> usize {
        self.0.size()
    }

    pub fn bits(&self) -> usize {
        self.0.n().bits_vartime() as usize
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> Result<Vec<u8>> {
        Ok(self
            .0
            .to_public_key_der()
            .map_err(|_| Error::FunctionFailed)?
            .into_vec())
    }

    pub fn verify_pkcs1(&self, alg: Option<HashAlg>, hashed: &[u8], sig: &[u8]) -> Result<()> {
        let scheme = match alg {
            Some(a) => by_hash!(a, D => Pkcs1v15Sign::new::<D>()),
            None => Pkcs1v15Sign::new_unprefixed(),
        };
        self.0
            .verify(scheme, hashed, sig)
            .map_err(|_| Error::SignatureInvalid)
    }

    pub fn verify_pss(
        &self,
        alg: HashAlg,
        salt_len: usize,
        hashed: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        by_hash!(alg, D => {
            let mut p = Pss::<D>::new_with_salt(salt_len);
            p.salt_len = Some(salt_len);
            self.0.verify(p, hashed, sig)
        })
        .map_err(|_| Error::SignatureInvalid)
    }

    pub fn encrypt_pkcs1(&self, m: &[u8]) -> Result<Vec<u8>> {
        self.0
            .encrypt(&mut rng(), Pkcs1v15Encrypt, m)
            .map_err(rsa_err)
    }

    pub fn encrypt_oaep(&self, alg: HashAlg, label: &[u8], m: &[u8]) -> Result<Vec<u8>> {
        let label = (!label.is_empty()).then(|| label.to_vec());
        by_hash!(alg, D => {
            let p = match label {
                Some(l) => Oaep::<D>::new_with_label(l),
                None => Oaep::<D>::new(),
            };
            self.0.encrypt(&mut rng(), p, m)
        })
        .map_err(rsa_err)
    }

    /// The raw public operation (CKM_RSA_X_509): `m` is at most k bytes and below the modulus.
    pub fn raw(&self, m: &[u8]) -> Result<Vec<u8>> {
        let k = self.size();
        if m.len() > k {
            return Err(Error::DataLenRange);
        }
        let n = self.0.n();
        let m = uint_at(&fixed(m, k), n.bits_precision())?;
        if m >= *n.as_ref() {
            return Err(Error::DataInvalid);
        }
        let c = rsa::hazmat::rsa_encrypt(&self.0, &m).map_err(|_| Error::FunctionFailed)?;
        Ok(fixed(&c.to_be_bytes(), k).to_vec())
    }
}

// ---- EC ----------------------------------------------------------------------------------------

// One variant per curve, each the generic `ecdsa` key of its RustCrypto curve crate; every
// method is the same code for every curve, written once here.
macro_rules! ec_keys {
    ($($v:ident: $c:ty),* $(,)?) => {
        /// An EC private key (the crates zeroize the scalar on drop).
        pub enum EcPrivate {
            $($v(ecdsa::SigningKey<$c>),)*
        }

        /// An EC public key (a point on the curve, not the identity).
        pub enum EcPublic {
            $($v(ecdsa::VerifyingKey<$c>),)*
        }

        /// Generates an EC private key.
        pub fn ec_generate(curve: Curve) -> EcPrivate {
            match curve {
                $(Curve::$v => EcPrivate::$v(ecdsa::SigningKey::<$c>::generate_from_rng(&mut rng())),)*
            }
        }

        impl EcPrivate {
            /// From the big-endian private scalar (shorter values are left-padded); 0 and values
            /// not below the order are refused.
            pub fn from_bytes(curve: Curve, d: &[u8]) -> Result<EcPrivate> {
                let fl = curve.field_len();
                if d.len() > fl {
                    return Err(Error::AttributeValueInvalid);
                }
                let d = fixed(d, fl);
                let bad = |_| Error::AttributeValueInvalid;
                Ok(match curve {
                    $(Curve::$v => EcPrivate::$v(ecdsa::SigningKey::<$c>::from_slice(&d).map_err(bad)?),)*
                })
            }

            pub fn curve(&self) -> Curve {
                match self {
                    $(EcPrivate::$v(_) => Curve::$v,)*
                }
            }

            /// The private scalar, big-endian, field length.
            pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
                Zeroizing::new(match self {
                    $(EcPrivate::$v(k) => k.to_bytes().to_vec(),)*
                })
            }

            pub fn public(&self) -> EcPublic {
                match self {
                    $(EcPrivate::$v(k) => EcPublic::$v(*k.verifying_key()),)*
                }
            }

            /// ECDH (SEC 1, 3.3.1; every curve here has cofactor 1, so the cofactor variant is
            /// the same): the x-coordinate of d·Q, field length. `peer` was checked on import: on
            /// the curve, not the identity.
            pub fn ecdh(&self, peer: &EcPublic) -> Result<Zeroizing<Vec<u8>>> {
                use ecdsa::elliptic_curve::ecdh::diffie_hellman;
                let z = match (self, peer) {
                    $((EcPrivate::$v(k), EcPublic::$v(q)) => {
                        diffie_hellman(k.as_nonzero_scalar(), q.as_affine())
                            .raw_secret_bytes()
                            .to_vec()
                    })*
                    _ => return Err(Error::MechanismParamInvalid),
                };
                Ok(Zeroizing::new(z))
            }

            /// ECDSA (RFC 6979 nonces) over a digest of any length, truncated or padded as SEC 1
            /// says. Returns r||s, each of field length. (secp256k1's crate gives low-S values.)
            pub fn sign_prehash(&self, z: &[u8]) -> Result<Vec<u8>> {
                use ecdsa::signature::hazmat::PrehashSigner;
                let fail = |_| Error::FunctionFailed;
                Ok(match self {
                    $(EcPrivate::$v(k) => {
                        let s: ecdsa::Signature<$c> = k.sign_prehash(z).map_err(fail)?;
                        s.to_bytes().to_vec()
                    })*
                })
            }
        }

        impl EcPublic {
            /// From a SEC 1 encoded point (uncompressed or compressed), checked to be on the
            /// curve; the identity is refused.
            pub fn from_sec1(curve: Curve, p: &[u8]) -> Result<EcPublic> {
                let bad = |_| Error::AttributeValueInvalid;
                Ok(match curve {
                    $(Curve::$v => EcPublic::$v(ecdsa::VerifyingKey::<$c>::from_sec1_bytes(p).map_err(bad)?),)*
                })
            }

            pub fn curve(&self) -> Curve {
                match self {
                    $(EcPublic::$v(_) => Curve::$v,)*
                }
            }

            /// The uncompressed SEC 1 point (04 || x || y).
            pub fn point(&self) -> Vec<u8> {
                match self {
                    $(EcPublic::$v(k) => k.to_sec1_point(false).as_bytes().to_vec(),)*
                }
            }

            /// DER SubjectPublicKeyInfo (the curve as its named-curve OID).
            pub fn spki(&self) -> Result<Vec<u8>> {
                let r = match self {
                    $(EcPublic::$v(k) => k.to_public_key_der(),)*
                };
                Ok(r.map_err(|_| Error::FunctionFailed)?.into_vec())
            }

            /// Verifies an r||s signature over a digest of any length. A high s is taken as its
            /// low twin n - s (the same signature's other form): secp256k1's crate accepts low-S
            /// signatures only, PKCS #11 and X9.62 both.
            pub fn verify_prehash(&self, z: &[u8], sig: &[u8]) -> Result<()> {
                use ecdsa::signature::hazmat::PrehashVerifier;
                let bad = |_| Error::SignatureInvalid;
                match self {
                    $(EcPublic::$v(k) => {
                        let s = ecdsa::Signature::<$c>::from_slice(sig).map_err(bad)?;
                        k.verify_prehash(z, &s.normalize_s()).map_err(bad)
                    })*
                }
            }
        }
    };
}

ec_keys! {
    P224: p224::NistP224,
    P256: p256::NistP256,
    P384: p384::NistP384,
    P521: p521::NistP521,
    Secp256k1: k256::Secp256k1,
    BrainpoolP256r1: bp256::r1::BrainpoolP256r1,
    BrainpoolP384r1: bp384::r1::BrainpoolP384r1,
}

impl EcPrivate {
    /// ECDH with the other party's SEC 1 point (uncompressed or compressed): checked to be on the
    /// curve and not the identity (`MechanismParamInvalid` otherwise), then [`EcPrivate::ecdh`].
    pub fn ecdh_sec1(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let q =
            EcPublic::from_sec1(self.curve(), peer).map_err(|_| Error::MechanismParamInvalid)?;
        self.ecdh(&q)
    }
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

// ---- Ed25519 ------------------------------------------------------------------------------------

/// An Ed25519 private key (RFC 8032: the 32-byte seed; the crate zeroizes it on drop).
pub struct EdPrivate(ed25519_dalek::SigningKey);

/// An Ed25519 public key (a valid encoding of a curve point).
#[derive(Clone)]
pub struct EdPublic(ed25519_dalek::VerifyingKey);

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

/// Length of an Ed25519 seed, public key (bytes) and signature (64).
pub const ED25519_LEN: usize = 32;
/// Whether this backend signs Ed25519ctx: `ed25519-dalek` has Ed25519 and Ed25519ph only.
pub const ED25519_CTX: bool = false;

/// Generates an Ed25519 private key from the OS generator.
pub fn ed_generate() -> Result<EdPrivate> {
    let mut seed = Zeroizing::new([0u8; ED25519_LEN]);
    random(&mut seed[..])?;
    Ok(EdPrivate(ed25519_dalek::SigningKey::from_bytes(&seed)))
}

impl EdPrivate {
    /// From the 32-byte seed (RFC 8032's private key).
    pub fn from_bytes(seed: &[u8]) -> Result<EdPrivate> {
        let seed: Zeroizing<[u8; ED25519_LEN]> =
            Zeroizing::new(seed.try_into().map_err(|_| Error::AttributeValueInvalid)?);
        Ok(EdPrivate(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The seed.
    pub fn seed(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.as_bytes().to_vec())
    }

    pub fn public(&self) -> EdPublic {
        EdPublic(self.0.verifying_key())
    }

    /// Pure Ed25519 (RFC 8032, 5.1.6).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        use ed25519_dalek::Signer;
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }

    /// Ed25519ph (`ph` true: SHA-512 of `msg`, then signed with the context, RFC 8032 5.1) or
    /// Ed25519ctx (`ph` false), which `ed25519-dalek` does not offer: `MechanismParamInvalid`.
    /// A context longer than 255 bytes is `MechanismParamInvalid`.
    pub fn sign_variant(&self, ph: bool, context: &[u8], msg: &[u8]) -> Result<Vec<u8>> {
        if !ph || context.len() > 255 {
            return Err(Error::MechanismParamInvalid);
        }
        let h = Sha512::new_with_prefix(msg);
        self.0
            .sign_prehashed(h, Some(context))
            .map(|s| s.to_bytes().to_vec())
            .map_err(|_| Error::MechanismParamInvalid)
    }
}

impl EdPublic {
    /// From the 32-byte encoding; one that decodes to no point is refused.
    pub fn from_bytes(p: &[u8]) -> Result<EdPublic> {
        let p: &[u8; ED25519_LEN] = p.try_into().map_err(|_| Error::AttributeValueInvalid)?;
        ed25519_dalek::VerifyingKey::from_bytes(p)
            .map(EdPublic)
            .map_err(|_| Error::AttributeValueInvalid)
    }

    /// The 32-byte encoding.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }

    /// Pure Ed25519 verification (RFC 8032, 5.1.7, cofactorless, as AWS-LC does; S must be
    /// below the group order).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        use ed25519_dalek::Verifier;
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| Error::SignatureInvalid)?;
        self.0
            .verify(msg, &sig)
            .map_err(|_| Error::SignatureInvalid)
    }

    /// Verifies an Ed25519ph signature (see [`EdPrivate::sign_variant`]; Ed25519ctx is
    /// `MechanismParamInvalid` here).
    pub fn verify_variant(&self, ph: bool, context: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
        if !ph || context.len() > 255 {
            return Err(Error::MechanismParamInvalid);
        }
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| Error::SignatureInvalid)?;
        self.0
            .verify_prehashed(Sha512::new_with_prefix(msg), Some(context), &sig)
            .map_err(|_| Error::SignatureInvalid)
    }
}

// ---- X25519 -------------------------------------------------------------------------------------

/// An X25519 private key (RFC 7748: 32 bytes, clamped when used; the crate zeroizes it).
pub struct XPrivate(x25519_dalek::StaticSecret);

/// An X25519 public key: the 32-byte u-coordinate (any 32 bytes are one, RFC 7748 5).
#[derive(Clone)]
pub struct XPublic(x25519_dalek::PublicKey);

impl std::fmt::Debug for XPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XPrivate(X25519)")
    }
}

impl std::fmt::Debug for XPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XPublic(X25519)")
    }
}

/// Generates an X25519 private key from the OS generator.
pub fn x25519_generate() -> Result<XPrivate> {
    let mut k = Zeroizing::new([0u8; 32]);
    random(&mut k[..])?;
    Ok(XPrivate(x25519_dalek::StaticSecret::from(*k)))
}

impl XPrivate {
    /// From the 32 bytes of RFC 7748's private key.
    pub fn from_bytes(k: &[u8]) -> Result<XPrivate> {
        let k: Zeroizing<[u8; 32]> =
            Zeroizing::new(k.try_into().map_err(|_| Error::AttributeValueInvalid)?);
        Ok(XPrivate(x25519_dalek::StaticSecret::from(*k)))
    }

    /// The private key's 32 bytes, as given.
    pub fn bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_bytes().to_vec())
    }

    pub fn public(&self) -> XPublic {
        XPublic(x25519_dalek::PublicKey::from(&self.0))
    }

    /// X25519(k, u) (RFC 7748, 6.1). An all-zero result (the peer's value is of small order) is
    /// refused: `MechanismParamInvalid`, as AWS-LC does.
    pub fn agree(&self, peer: &XPublic) -> Result<Zeroizing<Vec<u8>>> {
        let z = self.0.diffie_hellman(&peer.0);
        if !z.was_contributory() {
            return Err(Error::MechanismParamInvalid);
        }
        Ok(Zeroizing::new(z.as_bytes().to_vec()))
    }
}

impl XPublic {
    /// From the 32-byte u-coordinate.
    pub fn from_bytes(u: &[u8]) -> Result<XPublic> {
        let u: [u8; 32] = u.try_into().map_err(|_| Error::AttributeValueInvalid)?;
        Ok(XPublic(x25519_dalek::PublicKey::from(u)))
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
}

// ---- key derivation ----------------------------------------------------------------------------

/// HKDF-Extract (RFC 5869, 2.2) with HMAC over `alg` (`hkdf` 0.13): the pseudorandom key. No salt
/// is a salt of hash-length zeros, as the RFC says.
pub fn hkdf_extract(alg: HashAlg, salt: Option<&[u8]>, ikm: &[u8]) -> Zeroizing<Vec<u8>> {
    by_hash!(alg, D => {
        let (prk, _) = hkdf_013::Hkdf::<D>::extract(salt, ikm);
        Zeroizing::new(prk.to_vec())
    })
}

/// HKDF-Expand (RFC 5869, 2.3): `len` bytes from a pseudorandom key of at least the hash's length
/// (`KeySizeRange` otherwise) and `info`; more than 255 hash lengths is `TemplateInconsistent`.
pub fn hkdf_expand(
    alg: HashAlg,
    prk: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    by_hash!(alg, D => {
        let k = hkdf_013::Hkdf::<D>::from_prk(prk).map_err(|_| Error::KeySizeRange)?;
        k.expand(info, &mut out).map_err(|_| Error::TemplateInconsistent)?;
    });
    Ok(out)
}

/// PBKDF2 (RFC 8018, 5.2) with HMAC over `alg` (`pbkdf2` 0.13): `len` bytes.
pub fn pbkdf2(
    alg: HashAlg,
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    by_hash!(alg, D => pbkdf2::pbkdf2_hmac::<D>(password, salt, rounds, &mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    /// The secret-holding types of the crates wipe themselves: checked at compile time. An HMAC's
    /// state is two hash cores keyed with ipad/opad; with the `zeroize` features each core wipes
    /// itself on drop (the hash types below carry that marker from their cores).
    #[test]
    fn secrets_zeroize_on_drop() {
        zeroized_on_drop::<Sha1>();
        zeroized_on_drop::<Sha224>();
        zeroized_on_drop::<Sha256>();
        zeroized_on_drop::<Sha384>();
        zeroized_on_drop::<Sha512>();
        zeroized_on_drop::<RsaPrivateKey>();
        zeroized_on_drop::<p256::ecdsa::SigningKey>();
        zeroized_on_drop::<p384::ecdsa::SigningKey>();
        zeroized_on_drop::<p521::ecdsa::SigningKey>();
        zeroized_on_drop::<p224::ecdsa::SigningKey>();
        zeroized_on_drop::<k256::ecdsa::SigningKey>();
        zeroized_on_drop::<ecdsa::SigningKey<bp256::r1::BrainpoolP256r1>>();
        zeroized_on_drop::<ecdsa::SigningKey<bp384::r1::BrainpoolP384r1>>();
        zeroized_on_drop::<ed25519_dalek::SigningKey>();
        zeroized_on_drop::<x25519_dalek::StaticSecret>();
    }

    /// Exponents the crate would loop on, or refuse, are refused up front.
    #[test]
    fn generation_exponents() {
        for bad in [&[][..], &[0], &[1], &[2], &[1, 0, 0], &[2, 0, 0, 0, 0, 0]] {
            assert_eq!(
                rsa_generate(1024, bad).unwrap_err(),
                Error::TemplateInconsistent,
                "{bad:?}"
            );
        }
        assert_eq!(rsa_generate(1024, &[3]).unwrap().parts().e, vec![3]);
        assert_eq!(
            rsa_generate(512, &[1, 0, 1]).unwrap_err(),
            Error::KeySizeRange
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let k = ec_generate(Curve::P256);
        assert_eq!(format!("{k:?}"), "EcPrivate(P256)");
        let h = Hmac::new(HashAlg::Sha256, b"key").unwrap();
        assert_eq!(format!("{h:?}"), "Hmac(..)");
    }
}
