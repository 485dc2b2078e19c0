//! DSA (FIPS 186-4), shared by both backends: aws-lc-rs has no DSA, so both use RustCrypto's `dsa`
//! 0.7 (crypto-bigint 0.7 arithmetic, the generation `rsa` 0.10 uses). Signing picks a random
//! per-signature k (the crate's FIPS 186-4 B.2.1 generation) from the OS generator.
//!
//! Sizes (L, N): 2048/224, 2048/256 and 3072/256 for everything; 1024/160 (below 112 bits of
//! security, SP 800-131A: legacy use only) for imported keys' verification only.
//!
//! Imported domain parameters are checked: p and q prime (crypto-primes' BPSW test), q divides
//! p - 1, and 1 < g < p with g^q = 1 mod p (the crate's own public-value check, applied to g). A
//! public value y must be 1 < y < p with y^q = 1 (the crate's check); a private x, 0 < x < q.
//!
//! Domain parameter generation (`dsa_generate_params`, CKM_DSA_PARAMETER_GEN, and the FFC groups
//! of CKM_DH_PKCS_PARAMETER_GEN) is the crate's `Components` generation: a random N-bit prime q
//! (crypto-primes), then random L-bit candidates p = 1 mod 2q until one is prime, and g by FIPS
//! 186-4 A.2.1 (unverifiable: h^((p-1)/q) for h = 2, 3, ... until it is not 1). The result is
//! checked again as imported parameters are before it is used.

use crate::error::{Error, Result};
use ::dsa::pkcs8::EncodePublicKey;
use ::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use ::dsa::{Components, SigningKey, VerifyingKey};
use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Resize};
use zeroize::Zeroizing;

/// The (L, N) pairs of FIPS 186-4 4.2, in bits; `true`: usable for signing and generation.
const SIZES: &[(u32, u32, bool)] = &[
    (1024, 160, false),
    (2048, 224, true),
    (2048, 256, true),
    (3072, 256, true),
];

/// Bits rounded up to whole 64-bit limbs: the precision the crate expects for each size.
fn aligned(bits: u32) -> u32 {
    bits.div_ceil(64) * 64
}

fn uint(be: &[u8], bits: u32) -> Result<BoxedUint> {
    let be = super::strip_zeros(be);
    if be.len() * 8 > bits as usize {
        return Err(Error::AttributeValueInvalid);
    }
    BoxedUint::from_be_slice(be, bits).map_err(|_| Error::AttributeValueInvalid)
}

/// Big-endian, left-padded to `len` bytes. The intermediate buffer is zeroized (the value may be
/// a private key), and the output is allocated once, so no copy is left behind.
fn be(u: &BoxedUint, len: usize) -> Vec<u8> {
    let v = Zeroizing::new(u.to_be_bytes());
    let v = super::strip_zeros(&v);
    let mut out = Vec::with_capacity(len.max(v.len()));
    out.resize(len.saturating_sub(v.len()), 0);
    out.extend_from_slice(v);
    out
}

/// Domain parameters (p, q, g), checked, with their size.
#[derive(Clone)]
pub struct DsaParams {
    c: Components,
    l: u32,
    n: u32,
    strong: bool,
}

impl std::fmt::Debug for DsaParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DsaParams({}/{})", self.l, self.n)
    }
}

impl DsaParams {
    /// Checks p, q and g (big-endian) as the module description says. A size FIPS 186-4 does
    /// not list is `KeySizeRange`; values that are not valid parameters `DomainParamsInvalid`.
    pub fn new(p: &[u8], q: &[u8], g: &[u8]) -> Result<DsaParams> {
        let lb = super::strip_zeros(p).len() as u32 * 8;
        let nb = super::strip_zeros(q).len() as u32 * 8;
        let &(l, n, strong) = SIZES
            .iter()
            .find(|&&(l, n, _)| l == lb && n == nb)
            .ok_or(Error::KeySizeRange)?;
        let (pu, qu) = (uint(p, aligned(l))?, uint(q, aligned(n))?);
        if pu.bits() != l || qu.bits() != n {
            return Err(Error::KeySizeRange);
        }
        let gu = uint(g, aligned(l)).map_err(|_| Error::DomainParamsInvalid)?;
        if !crypto_primes::is_prime(crypto_primes::Flavor::Any, &pu)
            || !crypto_primes::is_prime(crypto_primes::Flavor::Any, &qu)
        {
            return Err(Error::DomainParamsInvalid);
        }
        // q | p - 1.
        let q_wide = NonZero::new(qu.clone().resize(aligned(l)))
            .into_option()
            .ok_or(Error::DomainParamsInvalid)?;
        let p_minus_1 = pu.wrapping_sub(BoxedUint::one_with_precision(aligned(l)));
        if !bool::from(p_minus_1.rem(&q_wide).is_zero()) {
            return Err(Error::DomainParamsInvalid);
        }
        let c = Components::from_components(pu, qu, gu.clone())
            .map_err(|_| Error::DomainParamsInvalid)?;
        // g of order q: the crate's check of a public value (2 <= y, y^q = 1 mod p), on g.
        let _ =
            VerifyingKey::from_components(c.clone(), gu).map_err(|_| Error::DomainParamsInvalid)?;
        Ok(DsaParams { c, l, n, strong })
    }

    /// Length of q in bytes: of r and of s.
    pub fn q_len(&self) -> usize {
        self.n as usize / 8
    }

    /// L, the size of p in bits.
    pub fn bits(&self) -> usize {
        self.l as usize
    }

    /// p, q and g, big-endian.
    pub fn pqg(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let l = self.l as usize / 8;
        (
            be(self.c.p(), l),
            be(self.c.q(), self.q_len()),
            be(self.c.g(), l),
        )
    }
}

/// A DSA private key (the crate zeroizes x on drop).
pub struct DsaPrivate {
    k: SigningKey,
    params: DsaParams,
}

/// A DSA public key.
#[derive(Clone)]
pub struct DsaPublic {
    k: VerifyingKey,
    params: DsaParams,
}

impl std::fmt::Debug for DsaPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DsaPrivate({}/{})", self.params.l, self.params.n)
    }
}

impl std::fmt::Debug for DsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DsaPublic({}/{})", self.params.l, self.params.n)
    }
}

/// Generates domain parameters of size (L, N): 2048/224, 2048/256 or 3072/256 (else
/// `KeySizeRange`: 1024/160 is for verifying legacy signatures only).
pub fn dsa_generate_params(l: u32, n: u32) -> Result<DsaParams> {
    let size = match (l, n) {
        (2048, 224) => ::dsa::KeySize::DSA_2048_224,
        (2048, 256) => ::dsa::KeySize::DSA_2048_256,
        (3072, 256) => ::dsa::KeySize::DSA_3072_256,
        _ => return Err(Error::KeySizeRange),
    };
    let c = Components::try_generate_from_rng_with_key_size(&mut getrandom_04::SysRng, size)
        .map_err(|_| Error::FunctionFailed)?;
    let (p, q, g) = (
        be(c.p(), l as usize / 8),
        be(c.q(), n as usize / 8),
        be(c.g(), l as usize / 8),
    );
    // The crate's output, checked as imported parameters are (primality, q | p - 1, g of order q).
    DsaParams::new(&p, &q, &g).map_err(|_| Error::GeneralError)
}

/// Generates a key pair on `params` (2048/224, 2048/256 or 3072/256: else `KeySizeRange`).
pub fn dsa_generate(params: &DsaParams) -> Result<DsaPrivate> {
    if !params.strong {
        return Err(Error::KeySizeRange);
    }
    let k = SigningKey::try_generate_from_rng_with_components(
        &mut getrandom_04::SysRng,
        params.c.clone(),
    )
    .map_err(|_| Error::FunctionFailed)?;
    Ok(DsaPrivate {
        k,
        params: params.clone(),
    })
}

impl DsaPrivate {
    /// From the private value x (0 < x < q); y = g^x mod p is computed with crypto-bigint's
    /// constant-time Montgomery exponentiation.
    pub fn new(params: &DsaParams, x: &[u8]) -> Result<DsaPrivate> {
        let c = &params.c;
        let x = Zeroizing::new(uint(x, aligned(params.n))?);
        let mp = BoxedMontyParams::new(c.p().clone());
        let y = BoxedMontyForm::new((**c.g()).clone(), &mp)
            .pow(&x)
            .retrieve();
        let vk = VerifyingKey::from_components(c.clone(), y)
            .map_err(|_| Error::AttributeValueInvalid)?;
        let k = SigningKey::from_components(vk, (*x).clone())
            .map_err(|_| Error::AttributeValueInvalid)?;
        Ok(DsaPrivate {
            k,
            params: params.clone(),
        })
    }

    pub fn params(&self) -> &DsaParams {
        &self.params
    }

    /// x, as long as q.
    pub fn value(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(be(self.k.x(), self.params.q_len()))
    }

    pub fn public(&self) -> DsaPublic {
        DsaPublic {
            k: self.k.verifying_key().clone(),
            params: self.params.clone(),
        }
    }

    /// Signs a digest (its leftmost N bits are used, FIPS 186-4 4.6): r || s, each as long as q.
    /// 1024-bit keys do not sign (`KeySizeRange`).
    pub fn sign_prehash(&self, digest: &[u8]) -> Result<Vec<u8>> {
        if !self.params.strong {
            return Err(Error::KeySizeRange);
        }
        let sig = self
            .k
            .sign_prehash_with_rng(&mut getrandom_04::SysRng, digest)
            .map_err(|_| Error::FunctionFailed)?;
        let n = self.params.q_len();
        Ok([be(sig.r(), n), be(sig.s(), n)].concat())
    }
}

impl DsaPublic {
    /// From the public value y (checked: 1 < y < p, y^q = 1 mod p).
    pub fn new(params: &DsaParams, y: &[u8]) -> Result<DsaPublic> {
        let y = uint(y, aligned(params.l))?;
        if y >= *params.c.p().as_ref() {
            return Err(Error::AttributeValueInvalid);
        }
        let k = VerifyingKey::from_components(params.c.clone(), y)
            .map_err(|_| Error::AttributeValueInvalid)?;
        Ok(DsaPublic {
            k,
            params: params.clone(),
        })
    }

    pub fn params(&self) -> &DsaParams {
        &self.params
    }

    /// y, as long as p.
    pub fn value(&self) -> Vec<u8> {
        be(self.k.y(), self.params.l as usize / 8)
    }

    /// The SubjectPublicKeyInfo (RFC 3279, with the parameters).
    pub fn spki(&self) -> Result<Vec<u8>> {
        self.k
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::GeneralError)
    }

    /// Verifies r || s (each as long as q: else `SignatureLenRange`) over a digest.
    pub fn verify_prehash(&self, digest: &[u8], sig: &[u8]) -> Result<()> {
        let n = self.params.q_len();
        if sig.len() != 2 * n {
            return Err(Error::SignatureLenRange);
        }
        let bits = aligned(self.params.n);
        let r = uint(&sig[..n], bits).map_err(|_| Error::SignatureInvalid)?;
        let s = uint(&sig[n..], bits).map_err(|_| Error::SignatureInvalid)?;
        let sig = ::dsa::Signature::from_components(r, s).ok_or(Error::SignatureInvalid)?;
        self.k
            .verify_prehash(digest, &sig)
            .map_err(|_| Error::SignatureInvalid)
    }
}
