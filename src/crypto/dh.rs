//! Diffie-Hellman over a prime field (PKCS #3), shared by both backends. There is no maintained
//! DH crate of this generation, so the modular exponentiation is crypto-bigint 0.7's constant-time
//! Montgomery exponentiation (`BoxedMontyForm::pow`, the arithmetic `rsa` 0.10 and `dsa` 0.7 run
//! on), composed here: y = g^x mod p and Z = y'^x mod p, nothing else.
//!
//! Checks: p is a prime (crypto-primes' BPSW test) of 2048 to 8192 bits, 1 < g < p - 1; the
//! private x is drawn uniformly from [2, p - 2]; a peer's value must be 1 < y < p - 1 (NIST SP
//! 800-56A 5.6.2.3.1's range check; PKCS #3 domain parameters carry no subgroup order q, so the
//! full check y^q = 1 cannot be made), and a shared secret of 1 is refused.
//!
//! Parameter generation (`dh_generate_params`) makes FIPS 186-4 finite-field groups (SP 800-56A's
//! FFC domain parameters): a 2048- or 3072-bit prime p with a 256-bit prime q dividing p - 1 and g
//! of order q, by the `dsa` crate's generation (`super::dsa::dsa_generate_params`), of which the
//! PKCS #3 object keeps p and g. Safe primes (p = 2q' + 1, what OpenSSL's `dhparam` and SoftHSM
//! make) are not generated: crypto-primes took 160 s for one 2048-bit safe prime on this
//! machine's class (OpenSSL's sieve 2 to 52 s), too slow and too variable for C_GenerateKey.
//! Since x is drawn from [2, p - 2], not below q, a peer value confined to a small subgroup of
//! such a group can reveal x modulo that subgroup's order only, which is independent of x mod q,
//! the part every secret shared with an honest peer (in g's subgroup) depends on.

use crate::error::{Error, Result};
use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd, RandomMod};
use zeroize::Zeroizing;

/// Sizes of p, in bits.
pub const DH_MIN_BITS: usize = 2048;
pub const DH_MAX_BITS: usize = 8192;

/// Sizes of generated p, each with the size of the prime q that divides p - 1 (the order of g).
pub const DH_GEN_SIZES: &[(usize, u32)] = &[(2048, 256), (3072, 256)];

/// Generates domain parameters with a `bits`-bit p (`DH_GEN_SIZES`; another size is
/// `KeySizeRange`): see the module description.
pub fn dh_generate_params(bits: usize) -> Result<DhParams> {
    let &(l, n) = DH_GEN_SIZES
        .iter()
        .find(|&&(l, _)| l == bits)
        .ok_or(Error::KeySizeRange)?;
    let ffc = super::dsa::dsa_generate_params(l as u32, n)?;
    let (p, _, g) = ffc.pqg();
    DhParams::new(&p, &g).map_err(|_| Error::GeneralError)
}

/// Checked PKCS #3 domain parameters.
#[derive(Clone)]
pub struct DhParams {
    p: Odd<BoxedUint>,
    g: BoxedUint,
    mp: BoxedMontyParams,
}

impl std::fmt::Debug for DhParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DhParams({} bits)", self.bits())
    }
}

impl DhParams {
    /// p and g, big-endian. A size out of range is `KeySizeRange`; a p that is not prime, or a g
    /// out of range, `DomainParamsInvalid`.
    pub fn new(p: &[u8], g: &[u8]) -> Result<DhParams> {
        let p = super::strip_zeros(p);
        let bits = (p.len() * 8) as u32;
        if !(DH_MIN_BITS..=DH_MAX_BITS).contains(&(p.len() * 8)) {
            return Err(Error::KeySizeRange);
        }
        let p = BoxedUint::from_be_slice(p, bits).map_err(|_| Error::DomainParamsInvalid)?;
        let g = super::strip_zeros(g);
        if g.len() > p.bits_precision() as usize / 8 {
            return Err(Error::DomainParamsInvalid);
        }
        let g = BoxedUint::from_be_slice(g, bits).map_err(|_| Error::DomainParamsInvalid)?;
        let p = Odd::new(p)
            .into_option()
            .ok_or(Error::DomainParamsInvalid)?;
        let one = BoxedUint::one_with_precision(bits);
        let p_minus_1 = p.wrapping_sub(&one);
        if g <= one || g >= p_minus_1 {
            return Err(Error::DomainParamsInvalid);
        }
        if !crypto_primes::is_prime(crypto_primes::Flavor::Any, p.as_ref()) {
            return Err(Error::DomainParamsInvalid);
        }
        let mp = BoxedMontyParams::new(p.clone());
        Ok(DhParams { p, g, mp })
    }

    /// Bits of p.
    pub fn bits(&self) -> usize {
        self.p.bits() as usize
    }

    /// Bytes of p: the length of public values and of the shared secret.
    pub fn len(&self) -> usize {
        self.bits().div_ceil(8)
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// p and g, big-endian.
    pub fn pg(&self) -> (Vec<u8>, Vec<u8>) {
        (be(&self.p, self.len()), be(&self.g, 0))
    }

    fn pow(&self, base: &BoxedUint, e: &BoxedUint) -> BoxedUint {
        BoxedMontyForm::new(base.clone(), &self.mp)
            .pow(e)
            .retrieve()
    }

    /// Parses a value v with 1 < v < p - 1.
    fn value(&self, v: &[u8]) -> Option<BoxedUint> {
        let v = super::strip_zeros(v);
        if v.len() > self.len() {
            return None;
        }
        let v = BoxedUint::from_be_slice(v, self.p.bits_precision()).ok()?;
        let one = BoxedUint::one_with_precision(self.p.bits_precision());
        (v > one && v < self.p.wrapping_sub(&one)).then_some(v)
    }
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

/// A DH private key: the parameters and x (zeroized on drop).
pub struct DhPrivate {
    params: DhParams,
    x: Zeroizing<BoxedUint>,
}

/// A DH public key: the parameters and y.
#[derive(Clone)]
pub struct DhPublic {
    params: DhParams,
    y: BoxedUint,
}

impl std::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DhPrivate({} bits)", self.params.bits())
    }
}

impl std::fmt::Debug for DhPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DhPublic({} bits)", self.params.bits())
    }
}

/// Generates x uniformly in [2, p - 2] from the OS generator.
pub fn dh_generate(params: &DhParams) -> Result<DhPrivate> {
    let prec = params.p.bits_precision();
    let three = BoxedUint::from_be_slice(&[3], prec).map_err(|_| Error::GeneralError)?;
    let two = BoxedUint::from_be_slice(&[2], prec).map_err(|_| Error::GeneralError)?;
    let range = NonZero::new(params.p.wrapping_sub(&three))
        .into_option()
        .ok_or(Error::GeneralError)?;
    let mut rng = rand_core::UnwrapErr(getrandom_04::SysRng);
    let r = Zeroizing::new(BoxedUint::random_mod_vartime(&mut rng, &range));
    let x = Zeroizing::new(r.wrapping_add(&two));
    Ok(DhPrivate {
        params: params.clone(),
        x,
    })
}

impl DhPrivate {
    /// From x (1 < x < p - 1).
    pub fn new(params: &DhParams, x: &[u8]) -> Result<DhPrivate> {
        let x = Zeroizing::new(params.value(x).ok_or(Error::AttributeValueInvalid)?);
        Ok(DhPrivate {
            params: params.clone(),
            x,
        })
    }

    pub fn params(&self) -> &DhParams {
        &self.params
    }

    /// x, as long as p.
    pub fn value(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(be(&self.x, self.params.len()))
    }

    /// y = g^x mod p.
    pub fn public(&self) -> DhPublic {
        DhPublic {
            params: self.params.clone(),
            y: self.params.pow(&self.params.g, &self.x),
        }
    }

    /// Z = y'^x mod p, as long as p (leading zeros kept, PKCS #3). A peer value out of range,
    /// or a shared secret of 1, is `MechanismParamInvalid`.
    pub fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let y = self
            .params
            .value(peer)
            .ok_or(Error::MechanismParamInvalid)?;
        let z = Zeroizing::new(self.params.pow(&y, &self.x));
        if *z <= BoxedUint::one_with_precision(z.bits_precision()) {
            return Err(Error::MechanismParamInvalid);
        }
        Ok(Zeroizing::new(be(&z, self.params.len())))
    }
}

impl DhPublic {
    /// From y (1 < y < p - 1).
    pub fn new(params: &DhParams, y: &[u8]) -> Result<DhPublic> {
        let y = params.value(y).ok_or(Error::AttributeValueInvalid)?;
        Ok(DhPublic {
            params: params.clone(),
            y,
        })
    }

    /// y, as long as p.
    pub fn value(&self) -> Vec<u8> {
        be(&self.y, self.params.len())
    }
}
