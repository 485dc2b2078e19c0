//! ML-DSA (FIPS 204), shared by both backends: RustCrypto's `ml-dsa` (see README.md for why not
//! aws-lc-rs). Nothing here computes on lattices: every function adapts the crate. What this file
//! adds is the byte-level framing of FIPS 204 (the HashML-DSA message M', the key encodings) and
//! the checks of imported keys.

use crate::error::{Error, Result};
use ml_dsa::{
    EncodedSignature, EncodedVerifyingKey, ExpandedSigningKey, ExpandedSigningKeyBytes, MlDsa44,
    MlDsa65, MlDsa87, MlDsaParams, Seed, Signature, VerifyingKey, B32,
};
use shake::{ExtendableOutput, Shake128, Shake256, Update, XofReader};
use zeroize::Zeroizing;

/// Length of a private key seed (ξ), for every parameter set.
pub const SEED_LEN: usize = 32;
/// The longest context string FIPS 204 allows.
pub const MAX_CONTEXT: usize = 255;

/// The three parameter sets (`CKA_PARAMETER_SET`: `CKP_ML_DSA_44`, `_65`, `_87`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlDsaSet {
    MlDsa44,
    MlDsa65,
    MlDsa87,
}

impl MlDsaSet {
    pub const ALL: [MlDsaSet; 3] = [MlDsaSet::MlDsa44, MlDsaSet::MlDsa65, MlDsaSet::MlDsa87];

    /// From the PKCS #11 3.2 value (CKP_ML_DSA_44 = 1, _65 = 2, _87 = 3).
    pub fn from_ck(v: u64) -> Option<MlDsaSet> {
        Some(match v {
            1 => MlDsaSet::MlDsa44,
            2 => MlDsaSet::MlDsa65,
            3 => MlDsaSet::MlDsa87,
            _ => return None,
        })
    }
    pub fn ck(self) -> u64 {
        match self {
            MlDsaSet::MlDsa44 => 1,
            MlDsaSet::MlDsa65 => 2,
            MlDsaSet::MlDsa87 => 3,
        }
    }
    /// pkEncode length (FIPS 204, table 2).
    pub fn public_len(self) -> usize {
        match self {
            MlDsaSet::MlDsa44 => 1312,
            MlDsaSet::MlDsa65 => 1952,
            MlDsaSet::MlDsa87 => 2592,
        }
    }
    /// skEncode length (the expanded private key).
    pub fn private_len(self) -> usize {
        match self {
            MlDsaSet::MlDsa44 => 2560,
            MlDsaSet::MlDsa65 => 4032,
            MlDsaSet::MlDsa87 => 4896,
        }
    }
    pub fn sig_len(self) -> usize {
        match self {
            MlDsaSet::MlDsa44 => 2420,
            MlDsaSet::MlDsa65 => 3309,
            MlDsaSet::MlDsa87 => 4627,
        }
    }
}

/// How a signature is randomized (`CK_SIGN_ADDITIONAL_CONTEXT.hedgeVariant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hedge {
    /// FIPS 204's default, hedged: fresh randomness (rnd) from the OS generator.
    Hedged,
    /// The optional deterministic variant (rnd = 0^32).
    Deterministic,
}

/// The pre-hash functions of HashML-DSA (FIPS 204, 5.4), with their DER OIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreHash {
    Sha2(super::HashAlg),
    Shake128,
    Shake256,
}

impl PreHash {
    /// The DER encoding of the hash function's OID (NIST's 2.16.840.1.101.3.4.2.x).
    fn oid(self) -> Result<[u8; 11]> {
        use super::HashAlg::*;
        let last = match self {
            PreHash::Sha2(Sha256) => 0x01,
            PreHash::Sha2(Sha384) => 0x02,
            PreHash::Sha2(Sha512) => 0x03,
            PreHash::Sha2(Sha224) => 0x04,
            PreHash::Sha2(Sha512_224) => 0x05,
            PreHash::Sha2(Sha512_256) => 0x06,
            PreHash::Sha2(Sha3_224) => 0x07,
            PreHash::Sha2(Sha3_256) => 0x08,
            PreHash::Sha2(Sha3_384) => 0x09,
            PreHash::Sha2(Sha3_512) => 0x0a,
            PreHash::Shake128 => 0x0b,
            PreHash::Shake256 => 0x0c,
            PreHash::Sha2(Sha1) => return Err(Error::MechanismParamInvalid),
        };
        Ok([
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, last,
        ])
    }
    /// Length of PH(M): the hash's, 32 bytes for SHAKE128 and 64 for SHAKE256 (FIPS 204, Alg. 4).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            PreHash::Sha2(h) => h.len(),
            PreHash::Shake128 => 32,
            PreHash::Shake256 => 64,
        }
    }
}

/// A pre-hash in progress (the module hashes the message as it comes).
pub enum PreHasher {
    Hash(super::Hasher),
    Shake128(Shake128),
    Shake256(Shake256),
}

impl PreHasher {
    pub fn new(h: PreHash) -> PreHasher {
        match h {
            PreHash::Sha2(a) => PreHasher::Hash(super::Hasher::new(a)),
            PreHash::Shake128 => PreHasher::Shake128(Shake128::default()),
            PreHash::Shake256 => PreHasher::Shake256(Shake256::default()),
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        match self {
            PreHasher::Hash(h) => h.update(data),
            PreHasher::Shake128(h) => h.update(data),
            PreHasher::Shake256(h) => h.update(data),
        }
    }
    pub fn finalize(self) -> Vec<u8> {
        match self {
            PreHasher::Hash(h) => h.finalize(),
            PreHasher::Shake128(h) => {
                let mut out = vec![0u8; 32];
                h.finalize_xof().read(&mut out);
                out
            }
            PreHasher::Shake256(h) => {
                let mut out = vec![0u8; 64];
                h.finalize_xof().read(&mut out);
                out
            }
        }
    }
}

/// HashML-DSA's M' without the digest: 1 || |ctx| || ctx || OID(PH) (FIPS 204, Alg. 4 and 5;
/// HashSLH-DSA's is the same, FIPS 205, Alg. 23 and 25), after checking the digest's length.
pub(crate) fn hash_prefix(ctx: &[u8], ph: PreHash, digest: &[u8]) -> Result<Vec<u8>> {
    if ctx.len() > MAX_CONTEXT {
        return Err(Error::MechanismParamInvalid);
    }
    if digest.len() != ph.len() {
        return Err(Error::DataLenRange);
    }
    let mut m = Vec::with_capacity(2 + ctx.len() + 11);
    m.push(1);
    m.push(ctx.len() as u8);
    m.extend_from_slice(ctx);
    m.extend_from_slice(&ph.oid()?);
    Ok(m)
}

enum Sk {
    A(Box<ExpandedSigningKey<MlDsa44>>),
    B(Box<ExpandedSigningKey<MlDsa65>>),
    C(Box<ExpandedSigningKey<MlDsa87>>),
}

#[derive(Clone)]
enum Vk {
    A(Box<VerifyingKey<MlDsa44>>),
    B(Box<VerifyingKey<MlDsa65>>),
    C(Box<VerifyingKey<MlDsa87>>),
}

/// An ML-DSA private key: the expanded key, the seed when the key came from one, and the public
/// key. The crate zeroizes the expanded key on drop; the seed is `Zeroizing`.
pub struct MlDsaPrivate {
    set: MlDsaSet,
    seed: Option<Zeroizing<[u8; SEED_LEN]>>,
    sk: Sk,
    public: MlDsaPublic,
}

/// An ML-DSA public key and its encoding.
#[derive(Clone)]
pub struct MlDsaPublic {
    set: MlDsaSet,
    vk: Vk,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for MlDsaPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsaPrivate({:?})", self.set)
    }
}

impl std::fmt::Debug for MlDsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsaPublic({:?})", self.set)
    }
}

/// Generates a key pair from a seed drawn from the OS generator (FIPS 204, Alg. 1).
pub fn mldsa_generate(set: MlDsaSet) -> Result<MlDsaPrivate> {
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    super::random(&mut seed[..])?;
    MlDsaPrivate::from_seed(set, &seed[..])
}

fn vk_of<P: MlDsaParams>(sk: &ExpandedSigningKey<P>) -> (VerifyingKey<P>, Vec<u8>) {
    let vk = sk.verifying_key();
    let bytes = vk.encode().to_vec();
    (vk, bytes)
}

/// SHAKE256(pk, 64): the tr of FIPS 204 (Alg. 6), which an expanded private key carries.
fn tr_of(pk: &[u8]) -> [u8; 64] {
    let mut h = Shake256::default();
    h.update(pk);
    let mut tr = [0u8; 64];
    h.finalize_xof().read(&mut tr);
    tr
}

#[allow(deprecated)]
fn sk_encode<P: MlDsaParams>(sk: &ExpandedSigningKey<P>) -> Zeroizing<Vec<u8>> {
    let mut enc = sk.to_expanded();
    let v = Zeroizing::new(enc.to_vec());
    zeroize::Zeroize::zeroize(enc.as_mut_slice());
    v
}

/// Whether every coefficient of s1 and s2 in an skEncode is a valid BitPack(η, η) value (at most
/// 2η): the crate's skDecode asserts it, so out-of-range keys are refused before it sees them.
/// (t0's 13-bit values are all valid.) FIPS 204 Alg. 17 packs coefficients LSB first.
fn s1_s2_in_range(set: MlDsaSet, v: &[u8]) -> bool {
    let (k, l, eta) = match set {
        MlDsaSet::MlDsa44 => (4, 4, 2u32),
        MlDsaSet::MlDsa65 => (6, 5, 4),
        MlDsaSet::MlDsa87 => (8, 7, 2),
    };
    let bits = if eta == 2 { 3 } else { 4 };
    let len = (k + l) * 32 * bits;
    let Some(packed) = v.get(128..128 + len) else {
        return false;
    };
    // Bits are consumed LSB first; `bits` divides 24, so three bytes hold whole coefficients.
    packed.chunks(3).all(|c| {
        let w = c
            .iter()
            .enumerate()
            .fold(0u32, |w, (i, &b)| w | (b as u32) << (8 * i));
        (0..(8 * c.len()) / bits).all(|j| (w >> (j * bits)) & ((1 << bits) - 1) <= 2 * eta)
    })
}

/// skDecode with the checks the crate leaves to its caller: the encoding must re-encode to
/// itself (s1, s2 within η) and its tr must be the hash of the public key it gives.
#[allow(deprecated)]
fn sk_decode<P: MlDsaParams>(set: MlDsaSet, v: &[u8]) -> Result<ExpandedSigningKey<P>> {
    if !s1_s2_in_range(set, v) {
        return Err(Error::AttributeValueInvalid);
    }
    let enc =
        ExpandedSigningKeyBytes::<P>::try_from(v).map_err(|_| Error::AttributeValueInvalid)?;
    let sk = ExpandedSigningKey::<P>::from_expanded(&enc);
    let again = sk_encode(&sk);
    if !super::ct_eq(&again[..], v) {
        return Err(Error::AttributeValueInvalid);
    }
    let (_, pk) = vk_of(&sk);
    if tr_of(&pk)[..] != v[64..128] {
        return Err(Error::AttributeValueInvalid);
    }
    Ok(sk)
}

fn sign_with<P: MlDsaParams>(
    sk: &ExpandedSigningKey<P>,
    msg: &[u8],
    ctx: &[u8],
    hedge: Hedge,
) -> Result<Vec<u8>> {
    let sig = match hedge {
        Hedge::Hedged => sk.sign_randomized(msg, ctx, &mut getrandom_04::SysRng),
        Hedge::Deterministic => sk.sign_deterministic(msg, ctx),
    }
    .map_err(|_| Error::FunctionFailed)?;
    Ok(sig.encode().to_vec())
}

/// ML-DSA.Sign_internal on M' (HashML-DSA), with rnd as the hedge says.
fn sign_internal_with<P: MlDsaParams>(
    sk: &ExpandedSigningKey<P>,
    parts: &[&[u8]],
    hedge: Hedge,
) -> Result<Vec<u8>> {
    let mut rnd = B32::default();
    if hedge == Hedge::Hedged {
        super::random(rnd.as_mut_slice())?;
    }
    Ok(sk.sign_internal(parts, &rnd).encode().to_vec())
}

fn decode_sig<P: MlDsaParams>(sig: &[u8]) -> Option<Signature<P>> {
    let enc = EncodedSignature::<P>::try_from(sig).ok()?;
    Signature::<P>::decode(&enc)
}

fn verify_with<P: MlDsaParams>(vk: &VerifyingKey<P>, msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
    decode_sig::<P>(sig).is_some_and(|s| vk.verify_with_context(msg, ctx, &s))
}

fn verify_internal_with<P: MlDsaParams>(vk: &VerifyingKey<P>, m: &[u8], sig: &[u8]) -> bool {
    decode_sig::<P>(sig).is_some_and(|s| vk.verify_internal(m, &s))
}

impl MlDsaPrivate {
    /// From the 32-byte seed ξ (ML-DSA.KeyGen_internal).
    pub fn from_seed(set: MlDsaSet, seed: &[u8]) -> Result<MlDsaPrivate> {
        let s: [u8; SEED_LEN] = seed.try_into().map_err(|_| Error::AttributeValueInvalid)?;
        let xi = Seed::from(s);
        let (sk, (vk, bytes)) = match set {
            MlDsaSet::MlDsa44 => {
                let k = ExpandedSigningKey::<MlDsa44>::from_seed(&xi);
                let (vk, b) = vk_of(&k);
                (Sk::A(Box::new(k)), (Vk::A(Box::new(vk)), b))
            }
            MlDsaSet::MlDsa65 => {
                let k = ExpandedSigningKey::<MlDsa65>::from_seed(&xi);
                let (vk, b) = vk_of(&k);
                (Sk::B(Box::new(k)), (Vk::B(Box::new(vk)), b))
            }
            MlDsaSet::MlDsa87 => {
                let k = ExpandedSigningKey::<MlDsa87>::from_seed(&xi);
                let (vk, b) = vk_of(&k);
                (Sk::C(Box::new(k)), (Vk::C(Box::new(vk)), b))
            }
        };
        Ok(MlDsaPrivate {
            set,
            seed: Some(Zeroizing::new(s)),
            sk,
            public: MlDsaPublic { set, vk, bytes },
        })
    }

    /// From the expanded private key (skEncode), checked (see `sk_decode`) and then by a
    /// signature it must make that its public key verifies (a t0 that does not belong to the key
    /// would make signatures that do not verify).
    pub fn from_expanded(set: MlDsaSet, v: &[u8]) -> Result<MlDsaPrivate> {
        if v.len() != set.private_len() {
            return Err(Error::AttributeValueInvalid);
        }
        let (sk, vk, bytes) = match set {
            MlDsaSet::MlDsa44 => {
                let k = sk_decode::<MlDsa44>(set, v)?;
                let (vk, b) = vk_of(&k);
                (Sk::A(Box::new(k)), Vk::A(Box::new(vk)), b)
            }
            MlDsaSet::MlDsa65 => {
                let k = sk_decode::<MlDsa65>(set, v)?;
                let (vk, b) = vk_of(&k);
                (Sk::B(Box::new(k)), Vk::B(Box::new(vk)), b)
            }
            MlDsaSet::MlDsa87 => {
                let k = sk_decode::<MlDsa87>(set, v)?;
                let (vk, b) = vk_of(&k);
                (Sk::C(Box::new(k)), Vk::C(Box::new(vk)), b)
            }
        };
        let k = MlDsaPrivate {
            set,
            seed: None,
            sk,
            public: MlDsaPublic { set, vk, bytes },
        };
        let probe = b"ferrohsm ML-DSA pairwise consistency";
        let sig = k.sign(probe, &[], Hedge::Deterministic)?;
        k.public
            .verify(probe, &[], &sig)
            .map_err(|_| Error::AttributeValueInvalid)?;
        Ok(k)
    }

    /// From CKA_SEED and/or CKA_VALUE: when both are given they must be the same key.
    pub fn from_parts(
        set: MlDsaSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
    ) -> Result<MlDsaPrivate> {
        match (seed, expanded) {
            (Some(s), None) => MlDsaPrivate::from_seed(set, s),
            (None, Some(v)) => MlDsaPrivate::from_expanded(set, v),
            (Some(s), Some(v)) => {
                let k = MlDsaPrivate::from_seed(set, s)?;
                if !super::ct_eq(&k.expanded()[..], v) {
                    return Err(Error::AttributeValueInvalid);
                }
                Ok(k)
            }
            (None, None) => Err(Error::TemplateIncomplete),
        }
    }

    pub fn set(&self) -> MlDsaSet {
        self.set
    }
    /// The seed ξ, if the key was made from one.
    pub fn seed(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.seed.as_ref().map(|s| Zeroizing::new(s.to_vec()))
    }
    /// skEncode: the expanded private key.
    pub fn expanded(&self) -> Zeroizing<Vec<u8>> {
        match &self.sk {
            Sk::A(k) => sk_encode(k),
            Sk::B(k) => sk_encode(k),
            Sk::C(k) => sk_encode(k),
        }
    }
    pub fn public(&self) -> &MlDsaPublic {
        &self.public
    }

    /// ML-DSA.Sign (FIPS 204, Alg. 2) with a context of at most 255 bytes.
    pub fn sign(&self, msg: &[u8], ctx: &[u8], hedge: Hedge) -> Result<Vec<u8>> {
        if ctx.len() > MAX_CONTEXT {
            return Err(Error::MechanismParamInvalid);
        }
        match &self.sk {
            Sk::A(k) => sign_with(k, msg, ctx, hedge),
            Sk::B(k) => sign_with(k, msg, ctx, hedge),
            Sk::C(k) => sign_with(k, msg, ctx, hedge),
        }
    }

    /// HashML-DSA.Sign (FIPS 204, Alg. 4) on a digest the caller computed with `ph`.
    pub fn sign_prehashed(
        &self,
        digest: &[u8],
        ctx: &[u8],
        ph: PreHash,
        hedge: Hedge,
    ) -> Result<Vec<u8>> {
        let prefix = hash_prefix(ctx, ph, digest)?;
        let parts: [&[u8]; 2] = [&prefix, digest];
        match &self.sk {
            Sk::A(k) => sign_internal_with(k, &parts, hedge),
            Sk::B(k) => sign_internal_with(k, &parts, hedge),
            Sk::C(k) => sign_internal_with(k, &parts, hedge),
        }
    }
}

impl MlDsaPublic {
    /// From pkEncode (FIPS 204, Alg. 22): any string of the set's length decodes (t1 is 10-bit
    /// packed, every value valid), so the length is the whole check.
    pub fn from_bytes(set: MlDsaSet, v: &[u8]) -> Result<MlDsaPublic> {
        if v.len() != set.public_len() {
            return Err(Error::AttributeValueInvalid);
        }
        let vk = match set {
            MlDsaSet::MlDsa44 => Vk::A(Box::new(VerifyingKey::decode(
                &EncodedVerifyingKey::<MlDsa44>::try_from(v)
                    .map_err(|_| Error::AttributeValueInvalid)?,
            ))),
            MlDsaSet::MlDsa65 => Vk::B(Box::new(VerifyingKey::decode(
                &EncodedVerifyingKey::<MlDsa65>::try_from(v)
                    .map_err(|_| Error::AttributeValueInvalid)?,
            ))),
            MlDsaSet::MlDsa87 => Vk::C(Box::new(VerifyingKey::decode(
                &EncodedVerifyingKey::<MlDsa87>::try_from(v)
                    .map_err(|_| Error::AttributeValueInvalid)?,
            ))),
        };
        Ok(MlDsaPublic {
            set,
            vk,
            bytes: v.to_vec(),
        })
    }
    pub fn set(&self) -> MlDsaSet {
        self.set
    }
    /// pkEncode.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// ML-DSA.Verify (FIPS 204, Alg. 3). A signature of the wrong length is
    /// `SignatureLenRange`; one that does not decode or verify `SignatureInvalid`.
    pub fn verify(&self, msg: &[u8], ctx: &[u8], sig: &[u8]) -> Result<()> {
        if ctx.len() > MAX_CONTEXT {
            return Err(Error::MechanismParamInvalid);
        }
        if sig.len() != self.set.sig_len() {
            return Err(Error::SignatureLenRange);
        }
        let ok = match &self.vk {
            Vk::A(k) => verify_with(k, msg, ctx, sig),
            Vk::B(k) => verify_with(k, msg, ctx, sig),
            Vk::C(k) => verify_with(k, msg, ctx, sig),
        };
        ok.then_some(()).ok_or(Error::SignatureInvalid)
    }

    /// HashML-DSA.Verify (FIPS 204, Alg. 5) on a digest the caller computed with `ph`.
    pub fn verify_prehashed(
        &self,
        digest: &[u8],
        ctx: &[u8],
        ph: PreHash,
        sig: &[u8],
    ) -> Result<()> {
        let mut m = hash_prefix(ctx, ph, digest)?;
        if sig.len() != self.set.sig_len() {
            return Err(Error::SignatureLenRange);
        }
        m.extend_from_slice(digest);
        let ok = match &self.vk {
            Vk::A(k) => verify_internal_with(k, &m, sig),
            Vk::B(k) => verify_internal_with(k, &m, sig),
            Vk::C(k) => verify_internal_with(k, &m, sig),
        };
        ok.then_some(()).ok_or(Error::SignatureInvalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// skEncode of real keys passes the range check, and one out-of-range coefficient of s1 or
    /// s2 (all ones: 7 > 2η for η = 2, 15 > 8 for η = 4) fails it, at either end of the vectors.
    #[test]
    fn s1_s2_range_check() {
        for set in MlDsaSet::ALL {
            let k = MlDsaPrivate::from_seed(set, &[9u8; 32]).unwrap();
            let sk = k.expanded();
            assert!(s1_s2_in_range(set, &sk));
            for i in [128usize, 128 + 95] {
                let mut bad = sk.to_vec();
                bad[i] = 0xff;
                assert!(!s1_s2_in_range(set, &bad), "{set:?} byte {i}");
                assert_eq!(
                    MlDsaPrivate::from_expanded(set, &bad).unwrap_err(),
                    Error::AttributeValueInvalid
                );
            }
            assert!(MlDsaPrivate::from_expanded(set, &sk).is_ok());
        }
    }
}
