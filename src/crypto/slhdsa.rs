//! SLH-DSA (FIPS 205), shared by both backends: RustCrypto's `slh-dsa` (aws-lc-rs has none).
//! Nothing here hashes a tree: every function adapts the crate. The twelve parameter sets are
//! twelve types of the crate; one generic adapter per key kind hides them behind a trait object.

use super::mldsa::PreHash;
use crate::error::{Error, Result};
use slh_dsa::{
    ParameterSet, Sha2_128f, Sha2_128s, Sha2_192f, Sha2_192s, Sha2_256f, Sha2_256s, Shake128f,
    Shake128s, Shake192f, Shake192s, Shake256f, Shake256s, Signature, SigningKey, VerifyingKey,
};
use zeroize::Zeroizing;

/// The longest context string FIPS 205 allows.
pub const MAX_CONTEXT: usize = 255;

/// The twelve parameter sets, in the order of their PKCS #11 3.2 values (`CKP_SLH_DSA_*`, 1..12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlhDsaSet {
    Sha2_128s,
    Shake128s,
    Sha2_128f,
    Shake128f,
    Sha2_192s,
    Shake192s,
    Sha2_192f,
    Shake192f,
    Sha2_256s,
    Shake256s,
    Sha2_256f,
    Shake256f,
}

impl SlhDsaSet {
    pub const ALL: [SlhDsaSet; 12] = [
        SlhDsaSet::Sha2_128s,
        SlhDsaSet::Shake128s,
        SlhDsaSet::Sha2_128f,
        SlhDsaSet::Shake128f,
        SlhDsaSet::Sha2_192s,
        SlhDsaSet::Shake192s,
        SlhDsaSet::Sha2_192f,
        SlhDsaSet::Shake192f,
        SlhDsaSet::Sha2_256s,
        SlhDsaSet::Shake256s,
        SlhDsaSet::Sha2_256f,
        SlhDsaSet::Shake256f,
    ];

    /// From the PKCS #11 3.2 value (CKP_SLH_DSA_SHA2_128S = 1 .. CKP_SLH_DSA_SHAKE_256F = 12).
    pub fn from_ck(v: u64) -> Option<SlhDsaSet> {
        let i = usize::try_from(v).ok()?.checked_sub(1)?;
        SlhDsaSet::ALL.get(i).copied()
    }
    pub fn ck(self) -> u64 {
        SlhDsaSet::ALL.iter().position(|&s| s == self).unwrap_or(0) as u64 + 1
    }
    /// n, the security parameter in bytes (16, 24, 32).
    pub fn n(self) -> usize {
        use SlhDsaSet::*;
        match self {
            Sha2_128s | Shake128s | Sha2_128f | Shake128f => 16,
            Sha2_192s | Shake192s | Sha2_192f | Shake192f => 24,
            _ => 32,
        }
    }
    /// PK.seed || PK.root.
    pub fn public_len(self) -> usize {
        2 * self.n()
    }
    /// SK.seed || SK.prf || PK.seed || PK.root.
    pub fn private_len(self) -> usize {
        4 * self.n()
    }
    /// FIPS 205, table 2.
    pub fn sig_len(self) -> usize {
        use SlhDsaSet::*;
        match self {
            Sha2_128s | Shake128s => 7856,
            Sha2_128f | Shake128f => 17088,
            Sha2_192s | Shake192s => 16224,
            Sha2_192f | Shake192f => 35664,
            Sha2_256s | Shake256s => 29792,
            Sha2_256f | Shake256f => 49856,
        }
    }
}

/// The crate's signing key of one parameter set.
trait Private: Send + Sync {
    fn sign(&self, msg: &[u8], ctx: &[u8], rand: Option<&[u8]>) -> Result<Vec<u8>>;
    /// slh_sign_internal on M' given in parts (HashSLH-DSA).
    fn sign_internal(&self, parts: &[&[u8]], rand: Option<&[u8]>) -> Vec<u8>;
    fn bytes(&self) -> Zeroizing<Vec<u8>>;
    fn public(&self) -> Box<dyn Public>;
}

/// The crate's verifying key of one parameter set.
trait Public: Send + Sync {
    fn verify(&self, msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool;
    /// slh_verify_internal on M' given in parts (HashSLH-DSA).
    fn verify_internal(&self, parts: &[&[u8]], sig: &[u8]) -> bool;
    fn bytes(&self) -> Vec<u8>;
    fn oid(&self) -> Vec<u8>;
    fn boxed(&self) -> Box<dyn Public>;
}

impl<P: ParameterSet + 'static> Private for SigningKey<P>
where
    SigningKey<P>: Send + Sync,
    VerifyingKey<P>: Send + Sync,
{
    fn sign(&self, msg: &[u8], ctx: &[u8], rand: Option<&[u8]>) -> Result<Vec<u8>> {
        self.try_sign_with_context(msg, ctx, rand)
            .map(|s| s.to_vec())
            .map_err(|_| Error::MechanismParamInvalid)
    }
    fn sign_internal(&self, parts: &[&[u8]], rand: Option<&[u8]>) -> Vec<u8> {
        self.slh_sign_internal(parts, rand).to_vec()
    }
    fn bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut a = self.to_bytes();
        let v = Zeroizing::new(a.to_vec());
        zeroize::Zeroize::zeroize(a.as_mut_slice());
        v
    }
    fn public(&self) -> Box<dyn Public> {
        Box::new(self.as_ref().clone())
    }
}

impl<P: ParameterSet + 'static> Public for VerifyingKey<P>
where
    VerifyingKey<P>: Send + Sync,
{
    fn verify(&self, msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
        Signature::<P>::try_from(sig)
            .is_ok_and(|s| self.try_verify_with_context(msg, ctx, &s).is_ok())
    }
    fn verify_internal(&self, parts: &[&[u8]], sig: &[u8]) -> bool {
        Signature::<P>::try_from(sig).is_ok_and(|s| self.slh_verify_internal(parts, &s).is_ok())
    }
    fn bytes(&self) -> Vec<u8> {
        self.to_vec()
    }
    fn oid(&self) -> Vec<u8> {
        P::ALGORITHM_OID.as_bytes().to_vec()
    }
    fn boxed(&self) -> Box<dyn Public> {
        Box::new(self.clone())
    }
}

/// slh_keygen_internal from SK.seed, SK.prf and PK.seed (n bytes each).
fn keygen<P: ParameterSet + 'static>(
    sk_seed: &[u8],
    sk_prf: &[u8],
    pk_seed: &[u8],
) -> Box<dyn Private>
where
    SigningKey<P>: Send + Sync,
    VerifyingKey<P>: Send + Sync,
{
    Box::new(SigningKey::<P>::slh_keygen_internal(
        sk_seed, sk_prf, pk_seed,
    ))
}

fn keygen_for(set: SlhDsaSet, sk_seed: &[u8], sk_prf: &[u8], pk_seed: &[u8]) -> Box<dyn Private> {
    use SlhDsaSet as S;
    let f = match set {
        S::Sha2_128s => keygen::<Sha2_128s>,
        S::Shake128s => keygen::<Shake128s>,
        S::Sha2_128f => keygen::<Sha2_128f>,
        S::Shake128f => keygen::<Shake128f>,
        S::Sha2_192s => keygen::<Sha2_192s>,
        S::Shake192s => keygen::<Shake192s>,
        S::Sha2_192f => keygen::<Sha2_192f>,
        S::Shake192f => keygen::<Shake192f>,
        S::Sha2_256s => keygen::<Sha2_256s>,
        S::Shake256s => keygen::<Shake256s>,
        S::Sha2_256f => keygen::<Sha2_256f>,
        S::Shake256f => keygen::<Shake256f>,
    };
    f(sk_seed, sk_prf, pk_seed)
}

fn public_from<P: ParameterSet + 'static>(v: &[u8]) -> Option<Box<dyn Public>>
where
    VerifyingKey<P>: Send + Sync,
{
    VerifyingKey::<P>::try_from(v)
        .ok()
        .map(|k| Box::new(k) as Box<dyn Public>)
}

fn public_for(set: SlhDsaSet, v: &[u8]) -> Option<Box<dyn Public>> {
    use SlhDsaSet as S;
    let f = match set {
        S::Sha2_128s => public_from::<Sha2_128s>,
        S::Shake128s => public_from::<Shake128s>,
        S::Sha2_128f => public_from::<Sha2_128f>,
        S::Shake128f => public_from::<Shake128f>,
        S::Sha2_192s => public_from::<Sha2_192s>,
        S::Shake192s => public_from::<Shake192s>,
        S::Sha2_192f => public_from::<Sha2_192f>,
        S::Shake192f => public_from::<Shake192f>,
        S::Sha2_256s => public_from::<Sha2_256s>,
        S::Shake256s => public_from::<Shake256s>,
        S::Sha2_256f => public_from::<Sha2_256f>,
        S::Shake256f => public_from::<Shake256f>,
    };
    f(v)
}

/// An SLH-DSA private key (the crate zeroizes SK.seed and SK.prf on drop).
pub struct SlhDsaPrivate {
    set: SlhDsaSet,
    k: Box<dyn Private>,
    public: SlhDsaPublic,
}

/// An SLH-DSA public key.
pub struct SlhDsaPublic {
    set: SlhDsaSet,
    k: Box<dyn Public>,
}

impl Clone for SlhDsaPublic {
    fn clone(&self) -> Self {
        SlhDsaPublic {
            set: self.set,
            k: self.k.boxed(),
        }
    }
}

impl std::fmt::Debug for SlhDsaPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlhDsaPrivate({:?})", self.set)
    }
}

impl std::fmt::Debug for SlhDsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlhDsaPublic({:?})", self.set)
    }
}

/// Generates a key pair (FIPS 205, Alg. 21: three n-byte seeds from the OS generator).
pub fn slhdsa_generate(set: SlhDsaSet) -> Result<SlhDsaPrivate> {
    let n = set.n();
    let mut seeds = Zeroizing::new(vec![0u8; 3 * n]);
    super::random(&mut seeds)?;
    let k = keygen_for(set, &seeds[..n], &seeds[n..2 * n], &seeds[2 * n..]);
    let public = SlhDsaPublic { set, k: k.public() };
    Ok(SlhDsaPrivate { set, k, public })
}

impl SlhDsaPrivate {
    /// From SK.seed || SK.prf || PK.seed || PK.root: the key is regenerated from the three seeds
    /// and its PK.root must be the given one (else `AttributeValueInvalid`).
    pub fn from_bytes(set: SlhDsaSet, v: &[u8]) -> Result<SlhDsaPrivate> {
        let n = set.n();
        if v.len() != set.private_len() {
            return Err(Error::AttributeValueInvalid);
        }
        let k = keygen_for(set, &v[..n], &v[n..2 * n], &v[2 * n..3 * n]);
        if !super::ct_eq(&k.bytes()[..], v) {
            return Err(Error::AttributeValueInvalid);
        }
        let public = SlhDsaPublic { set, k: k.public() };
        Ok(SlhDsaPrivate { set, k, public })
    }
    pub fn set(&self) -> SlhDsaSet {
        self.set
    }
    pub fn bytes(&self) -> Zeroizing<Vec<u8>> {
        self.k.bytes()
    }
    pub fn public(&self) -> &SlhDsaPublic {
        &self.public
    }
    /// slh_sign (FIPS 205, Alg. 22): hedged with n fresh random bytes, or deterministic
    /// (opt_rand = PK.seed).
    pub fn sign(&self, msg: &[u8], ctx: &[u8], hedged: bool) -> Result<Vec<u8>> {
        if ctx.len() > MAX_CONTEXT {
            return Err(Error::MechanismParamInvalid);
        }
        if hedged {
            let mut rnd = Zeroizing::new(vec![0u8; self.set.n()]);
            super::random(&mut rnd)?;
            self.k.sign(msg, ctx, Some(&rnd))
        } else {
            self.k.sign(msg, ctx, None)
        }
    }

    /// hash_slh_sign (FIPS 205, Alg. 23) on a digest made with `ph`: hedged, or deterministic
    /// (opt_rand = PK.seed).
    pub fn sign_prehashed(
        &self,
        digest: &[u8],
        ctx: &[u8],
        ph: PreHash,
        hedged: bool,
    ) -> Result<Vec<u8>> {
        let prefix = super::mldsa::hash_prefix(ctx, ph, digest)?;
        let parts: [&[u8]; 2] = [&prefix, digest];
        if hedged {
            let mut rnd = Zeroizing::new(vec![0u8; self.set.n()]);
            super::random(&mut rnd)?;
            Ok(self.k.sign_internal(&parts, Some(&rnd)))
        } else {
            Ok(self.k.sign_internal(&parts, None))
        }
    }
}

impl SlhDsaPublic {
    /// From PK.seed || PK.root (any bytes of the right length are a key).
    pub fn from_bytes(set: SlhDsaSet, v: &[u8]) -> Result<SlhDsaPublic> {
        if v.len() != set.public_len() {
            return Err(Error::AttributeValueInvalid);
        }
        let k = public_for(set, v).ok_or(Error::AttributeValueInvalid)?;
        Ok(SlhDsaPublic { set, k })
    }
    pub fn set(&self) -> SlhDsaSet {
        self.set
    }
    pub fn bytes(&self) -> Vec<u8> {
        self.k.bytes()
    }
    /// The SubjectPublicKeyInfo (the set's id-slh-dsa-* OID from the crate, no parameters).
    pub fn spki(&self) -> Vec<u8> {
        let oid = self.k.oid();
        let pk = self.bytes();
        let alg_len = 2 + oid.len();
        let bits = pk.len() + 1;
        let inner = 2 + alg_len + 2 + bits;
        let mut out = vec![
            0x30,
            inner as u8,
            0x30,
            alg_len as u8,
            0x06,
            oid.len() as u8,
        ];
        out.extend_from_slice(&oid);
        out.extend_from_slice(&[0x03, bits as u8, 0x00]);
        out.extend_from_slice(&pk);
        out
    }
    /// slh_verify (FIPS 205, Alg. 24).
    pub fn verify(&self, msg: &[u8], ctx: &[u8], sig: &[u8]) -> Result<()> {
        if ctx.len() > MAX_CONTEXT {
            return Err(Error::MechanismParamInvalid);
        }
        if sig.len() != self.set.sig_len() {
            return Err(Error::SignatureLenRange);
        }
        self.k
            .verify(msg, ctx, sig)
            .then_some(())
            .ok_or(Error::SignatureInvalid)
    }

    /// hash_slh_verify (FIPS 205, Alg. 25) on a digest made with `ph`.
    pub fn verify_prehashed(
        &self,
        digest: &[u8],
        ctx: &[u8],
        ph: PreHash,
        sig: &[u8],
    ) -> Result<()> {
        let prefix = super::mldsa::hash_prefix(ctx, ph, digest)?;
        if sig.len() != self.set.sig_len() {
            return Err(Error::SignatureLenRange);
        }
        self.k
            .verify_internal(&[&prefix, digest], sig)
            .then_some(())
            .ok_or(Error::SignatureInvalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every set: lengths, a round trip (deterministic twice the same, hedged not), the private
    /// encoding re-imports, a changed PK.root is refused, the SPKI names the set.
    #[test]
    fn fast_sets_round_trip() {
        for set in SlhDsaSet::ALL {
            assert_eq!(SlhDsaSet::from_ck(set.ck()), Some(set));
            if !matches!(
                set,
                SlhDsaSet::Sha2_128f | SlhDsaSet::Shake128f | SlhDsaSet::Shake192f
            ) {
                continue;
            }
            let k = slhdsa_generate(set).unwrap();
            let p = SlhDsaPublic::from_bytes(set, &k.public().bytes()).unwrap();
            let a = k.sign(b"m", b"c", false).unwrap();
            assert_eq!(a.len(), set.sig_len());
            assert_eq!(k.sign(b"m", b"c", false).unwrap(), a);
            let h = k.sign(b"m", b"c", true).unwrap();
            assert_ne!(h, a);
            p.verify(b"m", b"c", &a).unwrap();
            p.verify(b"m", b"c", &h).unwrap();
            assert_eq!(
                p.verify(b"m", b"", &a).unwrap_err(),
                Error::SignatureInvalid
            );
            let again = SlhDsaPrivate::from_bytes(set, &k.bytes()).unwrap();
            assert_eq!(again.sign(b"m", b"c", false).unwrap(), a);
            let mut bad = k.bytes().to_vec();
            *bad.last_mut().unwrap() ^= 1;
            assert_eq!(
                SlhDsaPrivate::from_bytes(set, &bad).unwrap_err(),
                Error::AttributeValueInvalid
            );
            let spki = p.spki();
            assert_eq!(spki[1] as usize, spki.len() - 2);
            assert_eq!(spki[spki.len() - set.public_len()..], p.bytes()[..]);
        }
        assert_eq!(SlhDsaSet::from_ck(0), None);
        assert_eq!(SlhDsaSet::from_ck(13), None);
    }
}
