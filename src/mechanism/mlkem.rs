//! ML-KEM (FIPS 203, PKCS #11 3.2): `CKK_ML_KEM` keys with `CKA_PARAMETER_SET` (`CKP_ML_KEM_512`,
//! `_768`, `_1024`), `CKM_ML_KEM_KEY_PAIR_GEN`, and `CKM_ML_KEM` for `C_EncapsulateKey` (with the
//! public key, `CKA_ENCAPSULATE`) and `C_DecapsulateKey` (with the private key,
//! `CKA_DECAPSULATE`). The shared secret (32 bytes) becomes a new secret key object from the
//! caller's template (`ops::encapsulate_key`); it is never returned as bytes.
//!
//! A private key is its seed (`CKA_SEED`, d || z, 64 bytes) and its expanded form (`CKA_VALUE`),
//! both sensitive; a public key its encapsulation key (`CKA_VALUE`).

use super::keys::Key;
use super::{Keys, Mech, MechDef, Param};
use crate::crypto::{self, MlKemSet};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// Key sizes for C_GetMechanismInfo: the range of encapsulation key lengths in bytes, as for
/// ML-DSA (ML-KEM-512's 800 to ML-KEM-1024's 1568).
const MIN: CK_ULONG = 800;
const MAX: CK_ULONG = 1568;

/// The ML-KEM family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_ML_KEM_KEY_PAIR_GEN,
        "CKM_ML_KEM_KEY_PAIR_GEN",
        MIN,
        MAX,
        CKF_GENERATE_KEY_PAIR,
    )
    .pairgen(pair_gen),
    MechDef::new(
        CKM_ML_KEM,
        "CKM_ML_KEM",
        MIN,
        MAX,
        CKF_ENCAPSULATE | CKF_DECAPSULATE,
    )
    .keys(Keys::MlKem)
    .kem(encapsulate, decapsulate, ciphertext_len),
];

fn set_of_key(key: &Key) -> Result<MlKemSet> {
    match key {
        Key::MlKemPublic(k) => Ok(k.set()),
        Key::MlKemPrivate(k) => Ok(k.set()),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

/// C_EncapsulateKey: the ciphertext and the shared secret. `CKM_ML_KEM` takes no parameter.
fn encapsulate(mech: &Mech, key: &Key) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    let Key::MlKemPublic(k) = key else {
        return Err(Error::KeyTypeInconsistent);
    };
    k.encapsulate()
}

/// C_DecapsulateKey: the shared secret of a ciphertext.
fn decapsulate(mech: &Mech, key: &Key, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    let Key::MlKemPrivate(k) = key else {
        return Err(Error::KeyTypeInconsistent);
    };
    k.decapsulate(ct)
}

/// The length of the ciphertext `key` encapsulates to (known before any work, so a caller
/// asking for the length creates no key).
pub fn ciphertext_len(key: &Key) -> Result<usize> {
    Ok(set_of_key(key)?.ciphertext_len())
}

/// The parameter set a template's CKA_PARAMETER_SET names.
pub fn set_of(v: &[u8]) -> Result<MlKemSet> {
    let n = CK_ULONG::from_ne_bytes(v.try_into().map_err(|_| Error::AttributeValueInvalid)?);
    MlKemSet::from_ck(n).ok_or(Error::AttributeValueInvalid)
}

/// The SubjectPublicKeyInfo of an ML-KEM key: id-alg-ml-kem-512/768/1024 (NIST,
/// 2.16.840.1.101.3.4.4.1/2/3, no parameters: the IETF LAMPS profile) and the encapsulation key.
pub fn spki(set: MlKemSet, pk: &[u8]) -> Vec<u8> {
    super::mldsa::nist_spki(4, set.ck() as u8, pk)
}

/// CKM_ML_KEM_KEY_PAIR_GEN from the public key template's CKA_PARAMETER_SET.
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let set = set_of(
        super::ops::template_get(pub_t, CKA_PARAMETER_SET).ok_or(Error::TemplateIncomplete)?,
    )?;
    let k = crypto::mlkem_generate(set)?;
    let pk = k.public().bytes().to_vec();
    let info = spki(set, &pk);
    let seed = k.seed().ok_or(Error::GeneralError)?;
    let (pubs, privs) =
        super::mldsa::seeded_pair(set.ck() as CK_ULONG, pk, info, &seed, &k.expanded());
    Ok((CKK_ML_KEM, pubs, privs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MlKemPrivate, MlKemPublic};

    #[test]
    fn encapsulate_then_decapsulate() {
        for set in MlKemSet::ALL {
            let k = MlKemPrivate::from_seed(set, &[3u8; 64]).unwrap();
            let p = Key::MlKemPublic(MlKemPublic::from_bytes(set, k.public().bytes()).unwrap());
            let k = Key::MlKemPrivate(k);
            let m = Mech::new(CKM_ML_KEM);
            let (ct, ss) = encapsulate(&m, &p).unwrap();
            assert_eq!(ct.len(), ciphertext_len(&p).unwrap());
            assert_eq!(ct.len(), ciphertext_len(&k).unwrap());
            assert_eq!(decapsulate(&m, &k, &ct).unwrap(), ss);
            // The wrong key of the pair, or a parameter, is refused.
            assert_eq!(encapsulate(&m, &k).unwrap_err(), Error::KeyTypeInconsistent);
            assert_eq!(
                decapsulate(&m, &p, &ct).unwrap_err(),
                Error::KeyTypeInconsistent
            );
            let with = Mech {
                ty: CKM_ML_KEM,
                param: Param::Ulong(1),
            };
            assert_eq!(
                encapsulate(&with, &p).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
    }

    #[test]
    fn spki_lengths() {
        for set in MlKemSet::ALL {
            let pk = vec![0u8; set.public_len()];
            let s = spki(set, &pk);
            assert_eq!(s.len(), 4 + 13 + 5 + pk.len());
            assert_eq!(((s[2] as usize) << 8) | s[3] as usize, s.len() - 4);
            assert_eq!(s[16], set.ck() as u8);
        }
    }
}
