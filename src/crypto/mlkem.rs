//! ML-KEM (FIPS 203). Keys, their encodings and their checks are RustCrypto's `ml-kem` on both
//! backends (aws-lc-rs neither takes nor gives the 64-byte seed, the private key form PKCS #11 3.2
//! and the IETF LAMPS drafts prefer); encapsulation and decapsulation run on the active backend:
//! AWS-LC's ML-KEM (in its FIPS 140-3 module) with `backend-awslc`, RustCrypto's otherwise. Both
//! pass the same FIPS 203 and Wycheproof vectors (tests/crypto_mlkem.rs and the unit tests
//! below), and the unit tests check that each decapsulates what the other encapsulated.
//!
//! Nothing here computes on lattices: every function adapts a crate.

use crate::error::{Error, Result};
#[allow(deprecated)]
use ml_kem::ExpandedKeyEncoding;
use ml_kem::{
    Ciphertext, Decapsulate, DecapsulationKey, EncapsulationKey, Key, KeyExport, MlKem1024,
    MlKem512, MlKem768, Seed, B32,
};
use zeroize::Zeroizing;

/// Length of a private key seed (d || z), for every parameter set.
pub const SEED_LEN: usize = 64;
/// Length of the shared secret, for every parameter set.
pub const SHARED_LEN: usize = 32;

/// The three parameter sets (`CKA_PARAMETER_SET`: `CKP_ML_KEM_512`, `_768`, `_1024`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlKemSet {
    MlKem512,
    MlKem768,
    MlKem1024,
}

impl MlKemSet {
    pub const ALL: [MlKemSet; 3] = [MlKemSet::MlKem512, MlKemSet::MlKem768, MlKemSet::MlKem1024];

    /// From the PKCS #11 3.2 value (CKP_ML_KEM_512 = 1, _768 = 2, _1024 = 3).
    pub fn from_ck(v: u64) -> Option<MlKemSet> {
        Some(match v {
            1 => MlKemSet::MlKem512,
            2 => MlKemSet::MlKem768,
            3 => MlKemSet::MlKem1024,
            _ => return None,
        })
    }
    pub fn ck(self) -> u64 {
        match self {
            MlKemSet::MlKem512 => 1,
            MlKemSet::MlKem768 => 2,
            MlKemSet::MlKem1024 => 3,
        }
    }
    /// Encapsulation key length (FIPS 203, table 3).
    pub fn public_len(self) -> usize {
        match self {
            MlKemSet::MlKem512 => 800,
            MlKemSet::MlKem768 => 1184,
            MlKemSet::MlKem1024 => 1568,
        }
    }
    /// Expanded decapsulation key length.
    pub fn private_len(self) -> usize {
        match self {
            MlKemSet::MlKem512 => 1632,
            MlKemSet::MlKem768 => 2400,
            MlKemSet::MlKem1024 => 3168,
        }
    }
    pub fn ciphertext_len(self) -> usize {
        match self {
            MlKemSet::MlKem512 => 768,
            MlKemSet::MlKem768 => 1088,
            MlKemSet::MlKem1024 => 1568,
        }
    }
    #[cfg(feature = "backend-awslc")]
    fn aws(self) -> &'static aws_lc_rs::kem::Algorithm {
        match self {
            MlKemSet::MlKem512 => &aws_lc_rs::kem::ML_KEM_512,
            MlKemSet::MlKem768 => &aws_lc_rs::kem::ML_KEM_768,
            MlKemSet::MlKem1024 => &aws_lc_rs::kem::ML_KEM_1024,
        }
    }
}

enum Dk {
    A(Box<DecapsulationKey<MlKem512>>),
    B(Box<DecapsulationKey<MlKem768>>),
    C(Box<DecapsulationKey<MlKem1024>>),
}

enum Ek {
    A(Box<EncapsulationKey<MlKem512>>),
    B(Box<EncapsulationKey<MlKem768>>),
    C(Box<EncapsulationKey<MlKem1024>>),
}

/// Runs `$body` with `$k` bound to the key of whichever parameter set `$e` holds.
macro_rules! each {
    ($e:expr, $ty:ident, $k:ident => $body:expr) => {
        match $e {
            $ty::A($k) => $body,
            $ty::B($k) => $body,
            $ty::C($k) => $body,
        }
    };
}

/// An ML-KEM decapsulation (private) key.
pub struct MlKemPrivate {
    set: MlKemSet,
    seed: Option<Zeroizing<[u8; SEED_LEN]>>,
    dk: Dk,
    public: MlKemPublic,
    #[cfg(feature = "backend-awslc")]
    aws: aws_lc_rs::kem::DecapsulationKey,
}

/// An ML-KEM encapsulation (public) key.
pub struct MlKemPublic {
    set: MlKemSet,
    ek: Ek,
    bytes: Vec<u8>,
    #[cfg(feature = "backend-awslc")]
    aws: aws_lc_rs::kem::EncapsulationKey,
}

impl std::fmt::Debug for MlKemPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlKemPrivate({:?})", self.set)
    }
}

impl std::fmt::Debug for MlKemPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlKemPublic({:?})", self.set)
    }
}

/// A new key pair from a fresh seed of the OS generator.
pub fn mlkem_generate(set: MlKemSet) -> Result<MlKemPrivate> {
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    super::random(&mut seed[..])?;
    MlKemPrivate::from_seed(set, &seed[..])
}

/// The expanded form of whichever key `dk` holds (`ml-kem` keeps it only for compatibility).
#[allow(deprecated)]
fn expanded_of(dk: &Dk) -> Zeroizing<Vec<u8>> {
    each!(dk, Dk, k => Zeroizing::new(k.to_expanded_bytes().to_vec()))
}

impl MlKemPrivate {
    /// From the 64-byte seed d || z (ML-KEM.KeyGen_internal, FIPS 203 Alg. 16).
    pub fn from_seed(set: MlKemSet, seed: &[u8]) -> Result<MlKemPrivate> {
        let s: [u8; SEED_LEN] = seed.try_into().map_err(|_| Error::AttributeValueInvalid)?;
        let s = Zeroizing::new(s);
        let seed = Seed::from(*s);
        let dk = match set {
            MlKemSet::MlKem512 => Dk::A(Box::new(DecapsulationKey::from_seed(seed))),
            MlKemSet::MlKem768 => Dk::B(Box::new(DecapsulationKey::from_seed(seed))),
            MlKemSet::MlKem1024 => Dk::C(Box::new(DecapsulationKey::from_seed(seed))),
        };
        Self::finish(set, Some(s), dk)
    }

    /// From the expanded decapsulation key, checked as FIPS 203, 7.3 asks (its length, the
    /// encapsulation key inside it by the modulus check, and the hash of that key it carries).
    #[allow(deprecated)]
    pub fn from_expanded(set: MlKemSet, v: &[u8]) -> Result<MlKemPrivate> {
        if v.len() != set.private_len() {
            return Err(Error::AttributeValueInvalid);
        }
        let bad = |_| Error::AttributeValueInvalid;
        let dk = match set {
            MlKemSet::MlKem512 => Dk::A(Box::new(
                DecapsulationKey::from_expanded_bytes(&v.try_into().map_err(bad)?)
                    .map_err(|_| Error::AttributeValueInvalid)?,
            )),
            MlKemSet::MlKem768 => Dk::B(Box::new(
                DecapsulationKey::from_expanded_bytes(&v.try_into().map_err(bad)?)
                    .map_err(|_| Error::AttributeValueInvalid)?,
            )),
            MlKemSet::MlKem1024 => Dk::C(Box::new(
                DecapsulationKey::from_expanded_bytes(&v.try_into().map_err(bad)?)
                    .map_err(|_| Error::AttributeValueInvalid)?,
            )),
        };
        Self::finish(set, None, dk)
    }

    /// From CKA_SEED and/or CKA_VALUE: when both are given they must be the same key.
    pub fn from_parts(
        set: MlKemSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
    ) -> Result<MlKemPrivate> {
        match (seed, expanded) {
            (Some(s), None) => MlKemPrivate::from_seed(set, s),
            (None, Some(v)) => MlKemPrivate::from_expanded(set, v),
            (Some(s), Some(v)) => {
                let k = MlKemPrivate::from_seed(set, s)?;
                if !super::ct_eq(&k.expanded()[..], v) {
                    return Err(Error::AttributeValueInvalid);
                }
                Ok(k)
            }
            (None, None) => Err(Error::TemplateIncomplete),
        }
    }

    fn finish(set: MlKemSet, seed: Option<Zeroizing<[u8; SEED_LEN]>>, dk: Dk) -> Result<Self> {
        let ek = each!(&dk, Dk, k => k.encapsulation_key().to_bytes().to_vec());
        let public = MlKemPublic::from_bytes(set, &ek)?;
        #[cfg(feature = "backend-awslc")]
        let aws = {
            let x = expanded_of(&dk);
            aws_lc_rs::kem::DecapsulationKey::new(set.aws(), &x).map_err(|_| Error::GeneralError)?
        };
        Ok(MlKemPrivate {
            set,
            seed,
            dk,
            public,
            #[cfg(feature = "backend-awslc")]
            aws,
        })
    }

    pub fn set(&self) -> MlKemSet {
        self.set
    }
    /// The seed d || z, if the key was made from one.
    pub fn seed(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.seed.as_ref().map(|s| Zeroizing::new(s.to_vec()))
    }
    /// The expanded decapsulation key (FIPS 203's dk).
    pub fn expanded(&self) -> Zeroizing<Vec<u8>> {
        expanded_of(&self.dk)
    }
    pub fn public(&self) -> &MlKemPublic {
        &self.public
    }

    /// ML-KEM.Decaps (FIPS 203, Alg. 18): a ciphertext of the set's length always gives a
    /// secret (a forged one gives the implicit-rejection value, by design); another length is
    /// `EncryptedDataLenRange`.
    pub fn decapsulate(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if ct.len() != self.set.ciphertext_len() {
            return Err(Error::EncryptedDataLenRange);
        }
        #[cfg(feature = "backend-awslc")]
        {
            let k = self
                .aws
                .decapsulate(aws_lc_rs::kem::Ciphertext::from(ct))
                .map_err(|_| Error::GeneralError)?;
            Ok(Zeroizing::new(k.as_ref().to_vec()))
        }
        #[cfg(not(feature = "backend-awslc"))]
        self.decapsulate_rustcrypto(ct)
    }

    /// Decapsulation by RustCrypto's `ml-kem` (the RustCrypto backend's; on the aws-lc backend,
    /// the unit tests' cross-check).
    #[cfg_attr(feature = "backend-awslc", allow(dead_code))]
    fn decapsulate_rustcrypto(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let bad = |_| Error::EncryptedDataLenRange;
        let k = match &self.dk {
            Dk::A(k) => k.decapsulate(&Ciphertext::<MlKem512>::try_from(ct).map_err(bad)?),
            Dk::B(k) => k.decapsulate(&Ciphertext::<MlKem768>::try_from(ct).map_err(bad)?),
            Dk::C(k) => k.decapsulate(&Ciphertext::<MlKem1024>::try_from(ct).map_err(bad)?),
        };
        Ok(Zeroizing::new(k.to_vec()))
    }
}

impl MlKemPublic {
    /// From the encapsulation key, checked as FIPS 203, 7.2 asks (its length and the modulus
    /// check: every coefficient below q).
    pub fn from_bytes(set: MlKemSet, v: &[u8]) -> Result<MlKemPublic> {
        if v.len() != set.public_len() {
            return Err(Error::AttributeValueInvalid);
        }
        let bad = |_| Error::AttributeValueInvalid;
        let ek = match set {
            MlKemSet::MlKem512 => Ek::A(Box::new(
                EncapsulationKey::new(
                    &Key::<EncapsulationKey<MlKem512>>::try_from(v).map_err(bad)?,
                )
                .map_err(|_| Error::AttributeValueInvalid)?,
            )),
            MlKemSet::MlKem768 => Ek::B(Box::new(
                EncapsulationKey::new(
                    &Key::<EncapsulationKey<MlKem768>>::try_from(v).map_err(bad)?,
                )
                .map_err(|_| Error::AttributeValueInvalid)?,
            )),
            MlKemSet::MlKem1024 => Ek::C(Box::new(
                EncapsulationKey::new(
                    &Key::<EncapsulationKey<MlKem1024>>::try_from(v).map_err(bad)?,
                )
                .map_err(|_| Error::AttributeValueInvalid)?,
            )),
        };
        #[cfg(feature = "backend-awslc")]
        let aws = aws_lc_rs::kem::EncapsulationKey::new(set.aws(), v)
            .map_err(|_| Error::AttributeValueInvalid)?;
        Ok(MlKemPublic {
            set,
            ek,
            bytes: v.to_vec(),
            #[cfg(feature = "backend-awslc")]
            aws,
        })
    }
    pub fn set(&self) -> MlKemSet {
        self.set
    }
    /// The encapsulation key.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// ML-KEM.Encaps (FIPS 203, Alg. 17) with fresh randomness: the ciphertext and the secret.
    pub fn encapsulate(&self) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        #[cfg(feature = "backend-awslc")]
        {
            let (ct, k) = self.aws.encapsulate().map_err(|_| Error::GeneralError)?;
            Ok((ct.as_ref().to_vec(), Zeroizing::new(k.as_ref().to_vec())))
        }
        #[cfg(not(feature = "backend-awslc"))]
        {
            let mut m = Zeroizing::new([0u8; 32]);
            super::random(&mut m[..])?;
            Ok(self.encapsulate_with(&m))
        }
    }

    /// ML-KEM.Encaps_internal with the caller's 32 random bytes m: for known-answer tests (and
    /// the RustCrypto backend's `encapsulate`, with m from the OS generator).
    #[doc(hidden)]
    pub fn encapsulate_with(&self, m: &[u8; 32]) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
        let m = B32::from(*m);
        let (c, k) = each!(&self.ek, Ek, e => {
            let (c, k) = e.encapsulate_deterministic(&m);
            (c.to_vec(), k.to_vec())
        });
        (c, Zeroizing::new(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_and_both_implementations_agree() {
        for set in MlKemSet::ALL {
            let k = MlKemPrivate::from_seed(set, &[5u8; SEED_LEN]).unwrap();
            assert_eq!(k.public().bytes().len(), set.public_len());
            assert_eq!(k.expanded().len(), set.private_len());
            // The expanded form gives the same key back.
            let x = MlKemPrivate::from_expanded(set, &k.expanded()).unwrap();
            assert_eq!(x.public().bytes(), k.public().bytes());
            assert!(x.seed().is_none());
            for _ in 0..4 {
                let (ct, ss) = k.public().encapsulate().unwrap();
                assert_eq!(ct.len(), set.ciphertext_len());
                assert_eq!(ss.len(), SHARED_LEN);
                assert_eq!(&k.decapsulate(&ct).unwrap()[..], &ss[..]);
                // The backend's secret is what RustCrypto's decapsulation finds too.
                assert_eq!(&k.decapsulate_rustcrypto(&ct).unwrap()[..], &ss[..]);
                let (ct2, ss2) = k.public().encapsulate_with(&[9u8; 32]);
                assert_eq!(&k.decapsulate(&ct2).unwrap()[..], &ss2[..]);
                assert_ne!(ct, ct2);
            }
            // A changed ciphertext gives another (implicit rejection) secret, never an error.
            let (mut ct, ss) = k.public().encapsulate().unwrap();
            ct[0] ^= 1;
            assert_ne!(&k.decapsulate(&ct).unwrap()[..], &ss[..]);
            assert_eq!(
                k.decapsulate(&ct[1..]).unwrap_err(),
                Error::EncryptedDataLenRange
            );
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        let set = MlKemSet::MlKem768;
        let k = MlKemPrivate::from_seed(set, &[1u8; SEED_LEN]).unwrap();
        assert!(MlKemPrivate::from_seed(set, &[1u8; 32]).is_err());
        let mut x = k.expanded().to_vec();
        // The hash of the encapsulation key inside the expanded key no longer matches.
        let h = set.private_len() - 64;
        x[h] ^= 1;
        assert!(MlKemPrivate::from_expanded(set, &x).is_err());
        // Seed and expanded key of different keys.
        let other = MlKemPrivate::from_seed(set, &[2u8; SEED_LEN]).unwrap();
        assert!(MlKemPrivate::from_parts(set, Some(&[1u8; 64]), Some(&other.expanded())).is_err());
        assert!(MlKemPrivate::from_parts(set, Some(&[1u8; 64]), Some(&k.expanded())).is_ok());
        // An encapsulation key with a coefficient of q (0xd01) fails the modulus check.
        let mut pk = k.public().bytes().to_vec();
        pk[0] = 0x01;
        pk[1] = (pk[1] & 0xf0) | 0x0d;
        assert!(MlKemPublic::from_bytes(set, &pk).is_err());
        assert!(MlKemPublic::from_bytes(set, &pk[1..]).is_err());
    }
}
