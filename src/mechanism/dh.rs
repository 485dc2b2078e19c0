//! Diffie-Hellman (PKCS #3): `CKK_DH` keys, `CKM_DH_PKCS_KEY_PAIR_GEN` (from CKA_PRIME and
//! CKA_BASE of the public key template) and `CKM_DH_PKCS_DERIVE` (the parameter is the other
//! party's public value); `CKM_DH_PKCS_PARAMETER_GEN` makes CKO_DOMAIN_PARAMETERS objects (2.5.3)
//! for key pair generation. The arithmetic is composed in `crypto::dh` from crypto-bigint's.

use super::keys::Key;
use super::{KeyLen, Keys, Mech, MechDef, Param, ParamKind};
use crate::crypto::{self, DhParams};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const MIN: CK_ULONG = crypto::dh::DH_MIN_BITS as CK_ULONG;
const MAX: CK_ULONG = crypto::dh::DH_MAX_BITS as CK_ULONG;
const GEN_MIN: CK_ULONG = crypto::dh::DH_GEN_SIZES[0].0 as CK_ULONG;
const GEN_MAX: CK_ULONG =
    crypto::dh::DH_GEN_SIZES[crypto::dh::DH_GEN_SIZES.len() - 1].0 as CK_ULONG;

/// The DH family's mechanisms. Key sizes: bits of p.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_DH_PKCS_KEY_PAIR_GEN,
        "CKM_DH_PKCS_KEY_PAIR_GEN",
        MIN,
        MAX,
        CKF_GENERATE_KEY_PAIR,
    )
    .pairgen(pair_gen),
    MechDef::new(
        CKM_DH_PKCS_PARAMETER_GEN,
        "CKM_DH_PKCS_PARAMETER_GEN",
        GEN_MIN,
        GEN_MAX,
        CKF_GENERATE,
    )
    .paramgen(CKK_DH, param_gen),
    MechDef::new(
        CKM_DH_PKCS_DERIVE,
        "CKM_DH_PKCS_DERIVE",
        MIN,
        MAX,
        CKF_DERIVE,
    )
    .param(ParamKind::Bytes)
    .keys(Keys::Dh)
    .derive(derive),
];

/// CKM_DH_PKCS_KEY_PAIR_GEN: p and g from the public key template (checked); the private key
/// gets them with x, the public key y.
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let get = |ty| super::ops::template_get(pub_t, ty).ok_or(Error::TemplateIncomplete);
    let params = DhParams::new(get(CKA_PRIME)?, get(CKA_BASE)?)?;
    let k = crypto::dh_generate(&params)?;
    let (p, g) = params.pg();
    let pubs = vec![Attribute::new(CKA_VALUE, k.public().value())];
    let privs = vec![
        Attribute::new(CKA_PRIME, p),
        Attribute::new(CKA_BASE, g),
        Attribute::new(CKA_VALUE, k.value().to_vec()),
    ];
    Ok((CKK_DH, pubs, privs))
}

/// CKM_DH_PKCS_PARAMETER_GEN: p of CKA_PRIME_BITS bits (required; 2048 or 3072, else
/// `AttributeValueInvalid`) and g (`crypto::dh_generate_params`).
fn param_gen(_: &Mech, t: &[Attribute]) -> Result<Vec<Attribute>> {
    let bits = super::ops::template_ulong(t, CKA_PRIME_BITS)?.ok_or(Error::TemplateIncomplete)?;
    let params = usize::try_from(bits)
        .map_err(|_| Error::KeySizeRange)
        .and_then(crypto::dh_generate_params)
        .map_err(|e| match e {
            Error::KeySizeRange => Error::AttributeValueInvalid,
            e => e,
        })?;
    let (p, g) = params.pg();
    Ok(vec![
        Attribute::new(CKA_PRIME, p),
        Attribute::new(CKA_BASE, g),
    ])
}

/// The derivation: Z from the other party's value, truncated from its leading end to the
/// template's length as PKCS #11 says for CKM_DH_PKCS_DERIVE (longer is `TemplateInconsistent`).
fn derive(mech: &Mech, key: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    let Param::Bytes(peer) = &mech.param else {
        return Err(Error::MechanismParamInvalid);
    };
    let z = match &**key {
        Key::DhPrivate(k) => k.agree(peer)?,
        _ => return Err(Error::KeyTypeInconsistent),
    };
    let len = want.len(z.len())?;
    if len > z.len() {
        return Err(Error::TemplateInconsistent);
    }
    Ok(Zeroizing::new(z[z.len() - len..].to_vec()))
}
