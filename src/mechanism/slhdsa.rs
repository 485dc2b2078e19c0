//! SLH-DSA (FIPS 205, PKCS #11 3.2): `CKK_SLH_DSA` keys with `CKA_PARAMETER_SET` (the twelve
//! `CKP_SLH_DSA_*` sets), `CKM_SLH_DSA_KEY_PAIR_GEN` and `CKM_SLH_DSA` (pure SLH-DSA, with the
//! optional `CK_SIGN_ADDITIONAL_CONTEXT`: a context of at most 255 bytes, hedged or
//! deterministic, as for ML-DSA), and HashSLH-DSA: `CKM_HASH_SLH_DSA` on a digest the caller
//! computed (named by `CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash`; single-part) and
//! `CKM_HASH_SLH_DSA_<hash>` (the module hashes the message), with the pre-hash functions
//! HashML-DSA offers (SHA-2, SHA-3, SHAKE128, SHAKE256; FIPS 205, 10.2.2).
//!
//! A public key is PK.seed || PK.root (`CKA_VALUE`), a private key SK.seed || SK.prf || PK.seed
//! || PK.root (`CKA_VALUE`, sensitive).

use super::keys::Key;
use super::{Keys, Mech, MechDef, Param, ParamKind, SignOp};
use crate::crypto::mldsa::{PreHash, PreHasher};
use crate::crypto::slhdsa::{SlhDsaSet, MAX_CONTEXT};
use crate::crypto::HashAlg;
use crate::crypto::{self};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The most message bytes a multi-part operation gathers (SLH-DSA hashes the message with the
/// randomizer first, so the message is held until the final call).
const MAX_MSG: usize = 256 << 20;

/// C_GetMechanismInfo: the public key lengths in bytes (32 to 64), as for ML-DSA.
const MIN: CK_ULONG = 32;
const MAX: CK_ULONG = 64;

const SIGN: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

macro_rules! hash_row {
    ($ty:ident) => {
        MechDef::new($ty, stringify!($ty), MIN, MAX, SIGN)
            .param(ParamKind::OptionalSignContext)
            .keys(Keys::SlhDsa)
            .sign(sign_op)
    };
}

/// The SLH-DSA family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_SLH_DSA_KEY_PAIR_GEN,
        "CKM_SLH_DSA_KEY_PAIR_GEN",
        MIN,
        MAX,
        CKF_GENERATE_KEY_PAIR,
    )
    .pairgen(pair_gen),
    MechDef::new(CKM_SLH_DSA, "CKM_SLH_DSA", MIN, MAX, SIGN)
        .param(ParamKind::OptionalSignContext)
        .keys(Keys::SlhDsa)
        .sign(sign_op),
    MechDef::new(CKM_HASH_SLH_DSA, "CKM_HASH_SLH_DSA", MIN, MAX, SIGN)
        .param(ParamKind::HashSignContext)
        .keys(Keys::SlhDsa)
        .sign(sign_op),
    hash_row!(CKM_HASH_SLH_DSA_SHA224),
    hash_row!(CKM_HASH_SLH_DSA_SHA256),
    hash_row!(CKM_HASH_SLH_DSA_SHA384),
    hash_row!(CKM_HASH_SLH_DSA_SHA512),
    hash_row!(CKM_HASH_SLH_DSA_SHA3_224),
    hash_row!(CKM_HASH_SLH_DSA_SHA3_256),
    hash_row!(CKM_HASH_SLH_DSA_SHA3_384),
    hash_row!(CKM_HASH_SLH_DSA_SHA3_512),
    hash_row!(CKM_HASH_SLH_DSA_SHAKE128),
    hash_row!(CKM_HASH_SLH_DSA_SHAKE256),
];

/// The pre-hash of a `CKM_HASH_SLH_DSA_<hash>` mechanism.
fn prehash_of_mech(ty: CK_MECHANISM_TYPE) -> Option<PreHash> {
    Some(match ty {
        CKM_HASH_SLH_DSA_SHA224 => PreHash::Sha2(HashAlg::Sha224),
        CKM_HASH_SLH_DSA_SHA256 => PreHash::Sha2(HashAlg::Sha256),
        CKM_HASH_SLH_DSA_SHA384 => PreHash::Sha2(HashAlg::Sha384),
        CKM_HASH_SLH_DSA_SHA512 => PreHash::Sha2(HashAlg::Sha512),
        CKM_HASH_SLH_DSA_SHA3_224 => PreHash::Sha2(HashAlg::Sha3_224),
        CKM_HASH_SLH_DSA_SHA3_256 => PreHash::Sha2(HashAlg::Sha3_256),
        CKM_HASH_SLH_DSA_SHA3_384 => PreHash::Sha2(HashAlg::Sha3_384),
        CKM_HASH_SLH_DSA_SHA3_512 => PreHash::Sha2(HashAlg::Sha3_512),
        CKM_HASH_SLH_DSA_SHAKE128 => PreHash::Shake128,
        CKM_HASH_SLH_DSA_SHAKE256 => PreHash::Shake256,
        _ => return None,
    })
}

/// What the operation gathers: the message (pure), its pre-hash in progress, or the caller's
/// digest (`CKM_HASH_SLH_DSA`).
#[allow(clippy::large_enum_variant)]
enum Input {
    Message(Zeroizing<Vec<u8>>),
    Hashing(PreHasher, PreHash),
    Digest(Zeroizing<Vec<u8>>, PreHash),
}

pub struct SlhDsaSign {
    key: Arc<Key>,
    input: Input,
    context: Vec<u8>,
    hedged: bool,
}

pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    let pure = mech.ty == CKM_SLH_DSA;
    let on_digest = mech.ty == CKM_HASH_SLH_DSA;
    let (hedged, context, digest) = match &mech.param {
        Param::None if !on_digest => (true, Vec::new(), None),
        Param::SignContext { hedge, context } if !on_digest => {
            (super::hedged(*hedge)?, context.clone(), None)
        }
        Param::HashSignContext {
            hedge,
            context,
            hash,
        } if on_digest => (
            super::hedged(*hedge)?,
            context.clone(),
            Some(super::mldsa::prehash_of_digest(*hash).ok_or(Error::MechanismParamInvalid)?),
        ),
        _ => return Err(Error::MechanismParamInvalid),
    };
    if context.len() > MAX_CONTEXT {
        return Err(Error::MechanismParamInvalid);
    }
    match (&**key, verify) {
        (Key::SlhDsaPrivate(_), false) | (Key::SlhDsaPublic(_), true) => {}
        _ => return Err(Error::KeyTypeInconsistent),
    }
    let input = match (pure, digest) {
        (true, _) => Input::Message(Zeroizing::new(Vec::new())),
        (false, Some(ph)) => Input::Digest(Zeroizing::new(Vec::new()), ph),
        (false, None) => {
            let ph = prehash_of_mech(mech.ty).ok_or(Error::MechanismInvalid)?;
            Input::Hashing(PreHasher::new(ph), ph)
        }
    };
    Ok(Box::new(SlhDsaSign {
        key: key.clone(),
        input,
        context,
        hedged,
    }))
}

impl SignOp for SlhDsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.input {
            Input::Message(m) => {
                if m.len() + data.len() > MAX_MSG {
                    return Err(Error::DataLenRange);
                }
                super::append_secret(m, data);
            }
            Input::Hashing(h, _) => h.update(data),
            Input::Digest(d, ph) => {
                if d.len() + data.len() > ph.len() {
                    return Err(Error::DataLenRange);
                }
                d.extend_from_slice(data);
            }
        }
        Ok(())
    }

    fn sig_len(&self) -> usize {
        match &*self.key {
            Key::SlhDsaPrivate(k) => k.set().sig_len(),
            Key::SlhDsaPublic(k) => k.set().sig_len(),
            _ => 0,
        }
    }

    fn multi_part(&self) -> bool {
        !matches!(self.input, Input::Digest(..))
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let Key::SlhDsaPrivate(k) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        let sig = match self.input {
            Input::Message(m) => k.sign(&m, &self.context, self.hedged)?,
            Input::Hashing(h, ph) => {
                k.sign_prehashed(&h.finalize(), &self.context, ph, self.hedged)?
            }
            Input::Digest(d, ph) => k.sign_prehashed(&d, &self.context, ph, self.hedged)?,
        };
        Ok(Zeroizing::new(sig))
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        let Key::SlhDsaPublic(k) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        match self.input {
            Input::Message(m) => k.verify(&m, &self.context, sig),
            Input::Hashing(h, ph) => k.verify_prehashed(&h.finalize(), &self.context, ph, sig),
            Input::Digest(d, ph) => k.verify_prehashed(&d, &self.context, ph, sig),
        }
    }
}

/// The parameter set a template's CKA_PARAMETER_SET names.
pub fn set_of(v: &[u8]) -> Result<SlhDsaSet> {
    let n = CK_ULONG::from_ne_bytes(v.try_into().map_err(|_| Error::AttributeValueInvalid)?);
    SlhDsaSet::from_ck(n).ok_or(Error::AttributeValueInvalid)
}

/// CKM_SLH_DSA_KEY_PAIR_GEN from the public key template's CKA_PARAMETER_SET.
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let set = set_of(
        super::ops::template_get(pub_t, CKA_PARAMETER_SET).ok_or(Error::TemplateIncomplete)?,
    )?;
    let k = crypto::slhdsa::slhdsa_generate(set)?;
    let info = k.public().spki();
    let pubs = vec![
        Attribute::new(CKA_VALUE, k.public().bytes()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, info.clone()),
    ];
    let privs = vec![
        Attribute::ulong(CKA_PARAMETER_SET, set.ck() as CK_ULONG),
        Attribute::new(CKA_VALUE, k.bytes().to_vec()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, info),
    ];
    Ok((CKK_SLH_DSA, pubs, privs))
}
