//! ML-DSA (FIPS 204, PKCS #11 3.2): `CKK_ML_DSA` keys with `CKA_PARAMETER_SET` (`CKP_ML_DSA_44`,
//! `_65`, `_87`), `CKM_ML_DSA_KEY_PAIR_GEN`, `CKM_ML_DSA` (pure ML-DSA), `CKM_HASH_ML_DSA` (on a
//! digest the caller computed, named by `CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash`) and
//! `CKM_HASH_ML_DSA_<hash>` (HashML-DSA: the module hashes the message).
//!
//! The optional `CK_SIGN_ADDITIONAL_CONTEXT` gives the context (at most 255 bytes, else
//! `CKR_MECHANISM_PARAM_INVALID`) and the hedge: `CKH_HEDGE_PREFERRED` and `CKH_HEDGE_REQUIRED`
//! sign hedged (fresh randomness from the OS generator), `CKH_DETERMINISTIC_REQUIRED` with the
//! deterministic variant. No parameter is hedged with an empty context.
//!
//! A private key is its seed (`CKA_SEED`, 32 bytes) and its expanded form (`CKA_VALUE`,
//! skEncode), both sensitive; a public key its pkEncode (`CKA_VALUE`).

use super::keys::Key;
use super::{Keys, Mech, MechDef, Param, ParamKind, SignOp};
use crate::crypto::mldsa::{Hedge, PreHash, PreHasher, MAX_CONTEXT};
use crate::crypto::{self, HashAlg, MlDsaSet};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The most message bytes a multi-part pure ML-DSA operation gathers (μ is computed over the
/// whole message, after the key's tr, so the message is held until the final call, as EdDSA's).
const MAX_MSG: usize = 256 << 20;

/// Key sizes for C_GetMechanismInfo: PKCS #11 3.2 says the range of public key lengths in bytes
/// (ML-DSA-44's 1312 to ML-DSA-87's 2592).
const MIN: CK_ULONG = 1312;
const MAX: CK_ULONG = 2592;

const SIGN: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

macro_rules! hash_row {
    ($ty:ident) => {
        MechDef::new($ty, stringify!($ty), MIN, MAX, SIGN)
            .param(ParamKind::OptionalSignContext)
            .keys(Keys::MlDsa)
            .sign(sign_op)
    };
}

/// The ML-DSA family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_ML_DSA_KEY_PAIR_GEN,
        "CKM_ML_DSA_KEY_PAIR_GEN",
        MIN,
        MAX,
        CKF_GENERATE_KEY_PAIR,
    )
    .pairgen(pair_gen),
    MechDef::new(CKM_ML_DSA, "CKM_ML_DSA", MIN, MAX, SIGN)
        .param(ParamKind::OptionalSignContext)
        .keys(Keys::MlDsa)
        .sign(sign_op),
    MechDef::new(CKM_HASH_ML_DSA, "CKM_HASH_ML_DSA", MIN, MAX, SIGN)
        .param(ParamKind::HashSignContext)
        .keys(Keys::MlDsa)
        .sign(sign_op),
    hash_row!(CKM_HASH_ML_DSA_SHA224),
    hash_row!(CKM_HASH_ML_DSA_SHA256),
    hash_row!(CKM_HASH_ML_DSA_SHA384),
    hash_row!(CKM_HASH_ML_DSA_SHA512),
    hash_row!(CKM_HASH_ML_DSA_SHA3_224),
    hash_row!(CKM_HASH_ML_DSA_SHA3_256),
    hash_row!(CKM_HASH_ML_DSA_SHA3_384),
    hash_row!(CKM_HASH_ML_DSA_SHA3_512),
    hash_row!(CKM_HASH_ML_DSA_SHAKE128),
    hash_row!(CKM_HASH_ML_DSA_SHAKE256),
];

/// The pre-hash of a `CKM_HASH_ML_DSA_<hash>` mechanism.
fn prehash_of_mech(ty: CK_MECHANISM_TYPE) -> Option<PreHash> {
    Some(match ty {
        CKM_HASH_ML_DSA_SHA224 => PreHash::Sha2(HashAlg::Sha224),
        CKM_HASH_ML_DSA_SHA256 => PreHash::Sha2(HashAlg::Sha256),
        CKM_HASH_ML_DSA_SHA384 => PreHash::Sha2(HashAlg::Sha384),
        CKM_HASH_ML_DSA_SHA512 => PreHash::Sha2(HashAlg::Sha512),
        CKM_HASH_ML_DSA_SHA3_224 => PreHash::Sha2(HashAlg::Sha3_224),
        CKM_HASH_ML_DSA_SHA3_256 => PreHash::Sha2(HashAlg::Sha3_256),
        CKM_HASH_ML_DSA_SHA3_384 => PreHash::Sha2(HashAlg::Sha3_384),
        CKM_HASH_ML_DSA_SHA3_512 => PreHash::Sha2(HashAlg::Sha3_512),
        CKM_HASH_ML_DSA_SHAKE128 => PreHash::Shake128,
        CKM_HASH_ML_DSA_SHAKE256 => PreHash::Shake256,
        _ => return None,
    })
}

/// The pre-hash a `CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash` names (the SHA-2 and SHA-3 digest
/// mechanisms FIPS 204 approves; SHA-1 and MD5 are not).
pub(super) fn prehash_of_digest(hash: CK_MECHANISM_TYPE) -> Option<PreHash> {
    match super::hash_of_mech(hash)? {
        HashAlg::Sha1 => None,
        h => Some(PreHash::Sha2(h)),
    }
}

fn hedge_of(v: CK_ULONG) -> Result<Hedge> {
    Ok(if super::hedged(v)? {
        Hedge::Hedged
    } else {
        Hedge::Deterministic
    })
}

/// What the operation gathers: the message (pure), its pre-hash in progress, or the caller's
/// digest (`CKM_HASH_ML_DSA`). One per operation: a hash state inline costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Input {
    Message(Zeroizing<Vec<u8>>),
    Hashing(PreHasher, PreHash),
    Digest(Zeroizing<Vec<u8>>, PreHash),
}

pub struct MlDsaSign {
    key: Arc<Key>,
    input: Input,
    context: Vec<u8>,
    hedge: Hedge,
}

pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    let (hedge, context, digest) = match &mech.param {
        Param::None if mech.ty != CKM_HASH_ML_DSA => (Hedge::Hedged, Vec::new(), None),
        Param::SignContext { hedge, context } if mech.ty != CKM_HASH_ML_DSA => {
            (hedge_of(*hedge)?, context.clone(), None)
        }
        Param::HashSignContext {
            hedge,
            context,
            hash,
        } if mech.ty == CKM_HASH_ML_DSA => (
            hedge_of(*hedge)?,
            context.clone(),
            Some(prehash_of_digest(*hash).ok_or(Error::MechanismParamInvalid)?),
        ),
        _ => return Err(Error::MechanismParamInvalid),
    };
    if context.len() > MAX_CONTEXT {
        return Err(Error::MechanismParamInvalid);
    }
    match (&**key, verify) {
        (Key::MlDsaPrivate(_), false) | (Key::MlDsaPublic(_), true) => {}
        _ => return Err(Error::KeyTypeInconsistent),
    }
    let input = match (mech.ty, digest) {
        (CKM_ML_DSA, _) => Input::Message(Zeroizing::new(Vec::new())),
        (CKM_HASH_ML_DSA, Some(ph)) => Input::Digest(Zeroizing::new(Vec::new()), ph),
        (ty, _) => {
            let ph = prehash_of_mech(ty).ok_or(Error::MechanismInvalid)?;
            Input::Hashing(PreHasher::new(ph), ph)
        }
    };
    Ok(Box::new(MlDsaSign {
        key: key.clone(),
        input,
        context,
        hedge,
    }))
}

impl MlDsaSign {
    fn set(&self) -> MlDsaSet {
        match &*self.key {
            Key::MlDsaPrivate(k) => k.set(),
            Key::MlDsaPublic(k) => k.set(),
            _ => MlDsaSet::MlDsa87,
        }
    }
}

impl SignOp for MlDsaSign {
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
                // A digest is exactly the hash's length; more is refused as it comes.
                if d.len() + data.len() > ph.len() {
                    return Err(Error::DataLenRange);
                }
                d.extend_from_slice(data);
            }
        }
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.set().sig_len()
    }

    fn multi_part(&self) -> bool {
        !matches!(self.input, Input::Digest(..))
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let Key::MlDsaPrivate(k) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        let sig = match self.input {
            Input::Message(m) => k.sign(&m, &self.context, self.hedge)?,
            Input::Hashing(h, ph) => {
                k.sign_prehashed(&h.finalize(), &self.context, ph, self.hedge)?
            }
            Input::Digest(d, ph) => k.sign_prehashed(&d, &self.context, ph, self.hedge)?,
        };
        Ok(Zeroizing::new(sig))
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        let Key::MlDsaPublic(k) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        if sig.len() != k.set().sig_len() {
            return Err(Error::SignatureLenRange);
        }
        match self.input {
            Input::Message(m) => k.verify(&m, &self.context, sig),
            Input::Hashing(h, ph) => k.verify_prehashed(&h.finalize(), &self.context, ph, sig),
            Input::Digest(d, ph) => k.verify_prehashed(&d, &self.context, ph, sig),
        }
    }
}

/// The parameter set a template's CKA_PARAMETER_SET names.
pub fn set_of(v: &[u8]) -> Result<MlDsaSet> {
    let n = CK_ULONG::from_ne_bytes(v.try_into().map_err(|_| Error::AttributeValueInvalid)?);
    MlDsaSet::from_ck(n).ok_or(Error::AttributeValueInvalid)
}

/// The SubjectPublicKeyInfo of an ML-DSA key: id-ml-dsa-44/65/87 (NIST,
/// 2.16.840.1.101.3.4.3.17/18/19, no parameters: the IETF LAMPS profile) and pkEncode.
pub fn spki(set: MlDsaSet, pk: &[u8]) -> Vec<u8> {
    let last = match set {
        MlDsaSet::MlDsa44 => 0x11,
        MlDsaSet::MlDsa65 => 0x12,
        MlDsaSet::MlDsa87 => 0x13,
    };
    nist_spki(3, last, pk)
}

/// A SubjectPublicKeyInfo whose algorithm is NIST's 2.16.840.1.101.3.4.`arc`.`last` without
/// parameters (ML-DSA: arc 3, ML-KEM: arc 4), for keys of 256 to 65535 bytes.
pub fn nist_spki(arc: u8, last: u8, pk: &[u8]) -> Vec<u8> {
    let alg = [
        0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, arc, last,
    ];
    let bits = pk.len() + 1;
    let inner = alg.len() + 4 + bits;
    let mut out = Vec::with_capacity(4 + inner);
    out.extend_from_slice(&[0x30, 0x82, (inner >> 8) as u8, inner as u8]);
    out.extend_from_slice(&alg);
    out.extend_from_slice(&[0x03, 0x82, (bits >> 8) as u8, bits as u8, 0x00]);
    out.extend_from_slice(pk);
    out
}

/// CKM_ML_DSA_KEY_PAIR_GEN from the public key template's CKA_PARAMETER_SET.
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let set = set_of(
        super::ops::template_get(pub_t, CKA_PARAMETER_SET).ok_or(Error::TemplateIncomplete)?,
    )?;
    let k = crypto::mldsa_generate(set)?;
    let pk = k.public().bytes().to_vec();
    let info = spki(set, &pk);
    let seed = k.seed().ok_or(Error::GeneralError)?;
    let (pubs, privs) = seeded_pair(set.ck() as CK_ULONG, pk, info, &seed, &k.expanded());
    Ok((CKK_ML_DSA, pubs, privs))
}

/// The computed attributes of a generated key pair whose private key is a seed and its expanded
/// form (ML-DSA, ML-KEM): the public key's value and SPKI; the private key's parameter set,
/// seed, expanded key and SPKI.
pub fn seeded_pair(
    set: CK_ULONG,
    pk: Vec<u8>,
    info: Vec<u8>,
    seed: &[u8],
    expanded: &[u8],
) -> (Vec<Attribute>, Vec<Attribute>) {
    let pubs = vec![
        Attribute::new(CKA_VALUE, pk),
        Attribute::new(CKA_PUBLIC_KEY_INFO, info.clone()),
    ];
    let privs = vec![
        Attribute::ulong(CKA_PARAMETER_SET, set),
        Attribute::new(CKA_SEED, seed.to_vec()),
        Attribute::new(CKA_VALUE, expanded.to_vec()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, info),
    ];
    (pubs, privs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MlDsaPrivate, MlDsaPublic};

    fn mech(ty: CK_MECHANISM_TYPE, hedge: CK_ULONG, ctx: &[u8]) -> Mech {
        Mech {
            ty,
            param: Param::SignContext {
                hedge,
                context: ctx.to_vec(),
            },
        }
    }

    fn run(m: &Mech, k: &Arc<Key>, p: &Arc<Key>, msg: &[u8]) -> Vec<u8> {
        let mut s = sign_op(m, k, false).unwrap();
        let (a, b) = msg.split_at(msg.len() / 2);
        s.update(a).unwrap();
        s.update(b).unwrap();
        let sig = s.sign().unwrap().to_vec();
        let mut v = sign_op(m, p, true).unwrap();
        v.update(msg).unwrap();
        v.verify(&sig).unwrap();
        sig
    }

    #[test]
    fn every_mechanism_round_trips() {
        for set in MlDsaSet::ALL {
            let k = MlDsaPrivate::from_seed(set, &[7u8; 32]).unwrap();
            let p = Arc::new(Key::MlDsaPublic(
                MlDsaPublic::from_bytes(set, k.public().bytes()).unwrap(),
            ));
            let k = Arc::new(Key::MlDsaPrivate(k));
            for def in MECHS.iter().filter(|d| d.sign.is_some()) {
                let m = if def.ty == CKM_HASH_ML_DSA {
                    Mech {
                        ty: def.ty,
                        param: Param::HashSignContext {
                            hedge: CKH_DETERMINISTIC_REQUIRED,
                            context: b"ctx".to_vec(),
                            hash: CKM_SHA256,
                        },
                    }
                } else {
                    mech(def.ty, CKH_DETERMINISTIC_REQUIRED, b"ctx")
                };
                let msg: &[u8] = if def.ty == CKM_HASH_ML_DSA {
                    &[0x11; 32]
                } else {
                    b"message"
                };
                let a = run(&m, &k, &p, msg);
                assert_eq!(a.len(), set.sig_len(), "{}", def.name);
                // Deterministic: the same signature again; hedged: another one.
                assert_eq!(run(&m, &k, &p, msg), a, "{}", def.name);
                if def.ty != CKM_HASH_ML_DSA {
                    let h = mech(def.ty, CKH_HEDGE_REQUIRED, b"ctx");
                    assert_ne!(run(&h, &k, &p, msg), a, "{}", def.name);
                    // Another context does not verify.
                    let mut v = sign_op(&mech(def.ty, 0, b"other"), &p, true).unwrap();
                    v.update(msg).unwrap();
                    assert_eq!(v.verify(&a).unwrap_err(), Error::SignatureInvalid);
                }
            }
        }
    }

    #[test]
    fn bad_parameters() {
        let k = Arc::new(Key::MlDsaPrivate(
            MlDsaPrivate::from_seed(MlDsaSet::MlDsa44, &[1u8; 32]).unwrap(),
        ));
        let long = vec![0u8; 256];
        assert_eq!(
            sign_op(&mech(CKM_ML_DSA, 0, &long), &k, false)
                .err()
                .unwrap(),
            Error::MechanismParamInvalid
        );
        assert_eq!(
            sign_op(&mech(CKM_ML_DSA, 3, b""), &k, false).err().unwrap(),
            Error::MechanismParamInvalid
        );
        assert_eq!(
            sign_op(&Mech::new(CKM_HASH_ML_DSA), &k, false)
                .err()
                .unwrap(),
            Error::MechanismParamInvalid
        );
        assert!(sign_op(&mech(CKM_ML_DSA, 0, &long[..255]), &k, false).is_ok());
        assert_eq!(
            sign_op(&Mech::new(CKM_ML_DSA), &k, true).err().unwrap(),
            Error::KeyTypeInconsistent
        );
    }
}
