//! SLH-DSA (FIPS 205, PKCS #11 3.2): `CKK_SLH_DSA` keys with `CKA_PARAMETER_SET` (the twelve
//! `CKP_SLH_DSA_*` sets), `CKM_SLH_DSA_KEY_PAIR_GEN` and `CKM_SLH_DSA` (pure SLH-DSA, with the
//! optional `CK_SIGN_ADDITIONAL_CONTEXT`: a context of at most 255 bytes, hedged or
//! deterministic, as for ML-DSA). HashSLH-DSA (`CKM_HASH_SLH_DSA*`) is not offered yet.
//!
//! A public key is PK.seed || PK.root (`CKA_VALUE`), a private key SK.seed || SK.prf || PK.seed
//! || PK.root (`CKA_VALUE`, sensitive).

use super::keys::Key;
use super::{Keys, Mech, MechDef, Param, ParamKind, SignOp};
use crate::crypto::slhdsa::{SlhDsaSet, MAX_CONTEXT};
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
    MechDef::new(CKM_SLH_DSA, "CKM_SLH_DSA", MIN, MAX, CKF_SIGN | CKF_VERIFY)
        .param(ParamKind::OptionalSignContext)
        .keys(Keys::SlhDsa)
        .sign(sign_op),
];

pub struct SlhDsaSign {
    key: Arc<Key>,
    msg: Zeroizing<Vec<u8>>,
    context: Vec<u8>,
    hedged: bool,
}

pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    if mech.ty != CKM_SLH_DSA {
        return Err(Error::MechanismInvalid);
    }
    let (hedged, context) = match &mech.param {
        Param::None => (true, Vec::new()),
        Param::SignContext { hedge, context } => (super::hedged(*hedge)?, context.clone()),
        _ => return Err(Error::MechanismParamInvalid),
    };
    if context.len() > MAX_CONTEXT {
        return Err(Error::MechanismParamInvalid);
    }
    match (&**key, verify) {
        (Key::SlhDsaPrivate(_), false) | (Key::SlhDsaPublic(_), true) => {}
        _ => return Err(Error::KeyTypeInconsistent),
    }
    Ok(Box::new(SlhDsaSign {
        key: key.clone(),
        msg: Zeroizing::new(Vec::new()),
        context,
        hedged,
    }))
}

impl SignOp for SlhDsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.msg.len() + data.len() > MAX_MSG {
            return Err(Error::DataLenRange);
        }
        super::append_secret(&mut self.msg, data);
        Ok(())
    }

    fn sig_len(&self) -> usize {
        match &*self.key {
            Key::SlhDsaPrivate(k) => k.set().sig_len(),
            Key::SlhDsaPublic(k) => k.set().sig_len(),
            _ => 0,
        }
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let Key::SlhDsaPrivate(k) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        Ok(Zeroizing::new(k.sign(
            &self.msg,
            &self.context,
            self.hedged,
        )?))
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        let Key::SlhDsaPublic(k) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        k.verify(&self.msg, &self.context, sig)
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
