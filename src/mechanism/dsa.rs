//! DSA (FIPS 186-4): `CKK_DSA` keys, `CKM_DSA_KEY_PAIR_GEN` (from the domain parameters of the
//! public key template), `CKM_DSA` (on a digest the caller computed) and `CKM_DSA_SHA1`,
//! `CKM_DSA_SHA224` ... `CKM_DSA_SHA512`. Signatures are r || s, each as long as q (PKCS #11
//! 3.0, 2.2.5). `CKM_DSA_PARAMETER_GEN` makes CKO_DOMAIN_PARAMETERS objects (2.2.4) for key pair
//! generation. The arithmetic is RustCrypto's `dsa` (`crypto::dsa`).

use super::keys::Key;
use super::{Input, Keys, Mech, MechDef, SignOp};
use crate::crypto::{self, DsaParams, HashAlg};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

const fn sig(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    MechDef::new(ty, name, 1024, 3072, SV)
        .keys(Keys::Dsa)
        .sign(sign_op)
}

/// The DSA family's mechanisms. Key sizes: bits of p (1024 for verification only).
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_DSA_KEY_PAIR_GEN,
        "CKM_DSA_KEY_PAIR_GEN",
        2048,
        3072,
        CKF_GENERATE_KEY_PAIR,
    )
    .pairgen(pair_gen),
    MechDef::new(
        CKM_DSA_PARAMETER_GEN,
        "CKM_DSA_PARAMETER_GEN",
        2048,
        3072,
        CKF_GENERATE,
    )
    .paramgen(CKK_DSA, param_gen),
    sig(CKM_DSA, "CKM_DSA"),
    sig(CKM_DSA_SHA1, "CKM_DSA_SHA1"),
    sig(CKM_DSA_SHA224, "CKM_DSA_SHA224"),
    sig(CKM_DSA_SHA256, "CKM_DSA_SHA256"),
    sig(CKM_DSA_SHA384, "CKM_DSA_SHA384"),
    sig(CKM_DSA_SHA512, "CKM_DSA_SHA512"),
];

/// The hash a mechanism applies to the data (`None`: CKM_DSA, the data is the digest).
fn hash_of(ty: CK_MECHANISM_TYPE) -> Option<Option<HashAlg>> {
    Some(match ty {
        CKM_DSA => None,
        CKM_DSA_SHA1 => Some(HashAlg::Sha1),
        CKM_DSA_SHA224 => Some(HashAlg::Sha224),
        CKM_DSA_SHA256 => Some(HashAlg::Sha256),
        CKM_DSA_SHA384 => Some(HashAlg::Sha384),
        CKM_DSA_SHA512 => Some(HashAlg::Sha512),
        _ => return None,
    })
}

pub struct DsaSign {
    key: Arc<Key>,
    input: Input,
    raw: bool,
    q_len: usize,
}

/// Starts a DSA signature (`verify` false: a private key) or verification.
pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    let hash = hash_of(mech.ty).ok_or(Error::MechanismInvalid)?;
    let q_len = match (&**key, verify) {
        (Key::DsaPrivate(k), false) => k.params().q_len(),
        (Key::DsaPublic(k), true) => k.params().q_len(),
        _ => return Err(Error::KeyTypeInconsistent),
    };
    Ok(Box::new(DsaSign {
        key: key.clone(),
        input: Input::new(hash),
        raw: hash.is_none(),
        q_len,
    }))
}

impl DsaSign {
    /// The digest; CKM_DSA takes the digest of a SHA-1 or SHA-2 hash (20 to 64 bytes).
    fn digest(input: Input, raw: bool) -> Result<Zeroizing<Vec<u8>>> {
        let d = input.finish();
        if raw && ![20, 28, 32, 48, 64].contains(&d.len()) {
            return Err(Error::DataLenRange);
        }
        Ok(d)
    }
}

impl SignOp for DsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn sig_len(&self) -> usize {
        2 * self.q_len
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let DsaSign {
            key, input, raw, ..
        } = *self;
        let d = Self::digest(input, raw)?;
        match &*key {
            Key::DsaPrivate(k) => Ok(Zeroizing::new(k.sign_prehash(&d)?)),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        let DsaSign {
            key, input, raw, ..
        } = *self;
        let d = Self::digest(input, raw)?;
        match &*key {
            Key::DsaPublic(k) => k.verify_prehash(&d, sig),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
}

/// CKM_DSA_KEY_PAIR_GEN: the public key template gives CKA_PRIME, CKA_SUBPRIME and CKA_BASE
/// (checked as on import); the private key gets them with x, the public key y.
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let get = |ty| super::ops::template_get(pub_t, ty).ok_or(Error::TemplateIncomplete);
    let params = DsaParams::new(get(CKA_PRIME)?, get(CKA_SUBPRIME)?, get(CKA_BASE)?).map_err(
        |e| match e {
            Error::AttributeValueInvalid => Error::DomainParamsInvalid,
            e => e,
        },
    )?;
    let k = crypto::dsa_generate(&params)?;
    let public = k.public();
    let spki = public.spki()?;
    let (p, q, g) = params.pqg();
    let pubs = vec![
        Attribute::new(CKA_VALUE, public.value()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki.clone()),
    ];
    let privs = vec![
        Attribute::new(CKA_PRIME, p),
        Attribute::new(CKA_SUBPRIME, q),
        Attribute::new(CKA_BASE, g),
        Attribute::new(CKA_VALUE, k.value().to_vec()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki),
    ];
    Ok((CKK_DSA, pubs, privs))
}

/// CKM_DSA_PARAMETER_GEN: L from CKA_PRIME_BITS (required), N from CKA_SUBPRIME_BITS (256 when
/// absent, as OpenSSL and SoftHSM choose for L >= 2048). Only the sizes keys can be generated on
/// are made (2048/224, 2048/256, 3072/256); another is `AttributeValueInvalid`.
fn param_gen(_: &Mech, t: &[Attribute]) -> Result<Vec<Attribute>> {
    let bits = |ty| -> Result<Option<u32>> {
        super::ops::template_ulong(t, ty)?
            .map(|v| u32::try_from(v).map_err(|_| Error::AttributeValueInvalid))
            .transpose()
    };
    let l = bits(CKA_PRIME_BITS)?.ok_or(Error::TemplateIncomplete)?;
    let n = bits(CKA_SUBPRIME_BITS)?.unwrap_or(256);
    let params = crypto::dsa_generate_params(l, n).map_err(|e| match e {
        Error::KeySizeRange => Error::AttributeValueInvalid,
        e => e,
    })?;
    let (p, q, g) = params.pqg();
    Ok(vec![
        Attribute::new(CKA_PRIME, p),
        Attribute::new(CKA_SUBPRIME, q),
        Attribute::new(CKA_BASE, g),
    ])
}
