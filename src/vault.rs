//! Encryption at rest.
//!
//! Each token has a random 256-bit master key. It is stored only wrapped: under a key derived from the
//! SO PIN and under a key derived from the user PIN (Argon2id with a per-wrap salt and stored cost, then
//! AES-256-GCM). Unwrapping is also how a PIN is verified: a wrong PIN fails the GCM tag. Attribute values
//! that must not be stored in clear are sealed with AES-256-GCM under a key derived from the master key
//! (HKDF-SHA-256); the associated data binds the token serial, the object's unique ID and the attribute
//! type, so a value moved to another object or attribute fails to open.

use crate::config::KdfCost;
use crate::error::{Error, Result};
use crate::sys::secmem::SecureBox;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, Zeroizing};

const WRAP_FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const SALT_LEN: usize = 16;

/// Fills `buf` from the operating system's CSPRNG.
pub fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buf).map_err(|_| Error::GeneralError)
}

/// A token's master key. Zeroized on drop; never printed. The key and its sealer (the AES-GCM
/// key schedule and GHASH key derived from it) live in secure memory (`sys::secmem`): out of core
/// dumps, locked where allowed.
#[derive(Clone)]
pub struct MasterKey {
    key: SecureBox<[u8; 32]>,
    sealer: SecureBox<Aes256Gcm>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn generate() -> Result<MasterKey> {
        let mut k = SecureBox::new([0u8; 32]);
        random(&mut k[..])?;
        Ok(MasterKey::from_bytes(k))
    }

    fn from_bytes(key: SecureBox<[u8; 32]>) -> MasterKey {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &key[..]);
        let mut ak = Zeroizing::new([0u8; 32]);
        hk.expand(b"ferrohsm attribute seal v1", &mut ak[..])
            .expect("32 bytes is a valid HKDF length");
        let sealer = SecureBox::new(Aes256Gcm::new_from_slice(&ak[..]).expect("32-byte key"));
        MasterKey { key, sealer }
    }

    /// The key of the token's state tags ([`crate::store::state`]), derived from this one.
    pub fn state_key_bytes(&self) -> Zeroizing<[u8; 32]> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &self.key[..]);
        let mut k = Zeroizing::new([0u8; 32]);
        hk.expand(b"ferrohsm state tag v1", &mut k[..])
            .expect("32 bytes is a valid HKDF length");
        k
    }

    /// Wraps this key under a key derived from `pin`. `context` is bound as associated data.
    pub fn wrap(&self, pin: &[u8], cost: KdfCost, context: &[u8]) -> Result<Vec<u8>> {
        let mut salt = [0u8; SALT_LEN];
        random(&mut salt)?;
        let kek = derive_kek(pin, &salt, cost)?;
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let header = wrap_header(cost, &salt, &nonce);
        let aad = [&header[..], context].concat();
        let ct = kek
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &self.key[..],
                    aad: &aad,
                },
            )
            .map_err(|_| Error::GeneralError)?;
        crate::sys::secmem::scrub_stack();
        Ok([header, ct].concat())
    }

    /// Unwraps a key wrapped by [`MasterKey::wrap`]. A wrong PIN gives `PinIncorrect`; a damaged record
    /// gives a storage error.
    pub fn unwrap(blob: &[u8], pin: &[u8], context: &[u8]) -> Result<MasterKey> {
        let hl = 1 + 12 + SALT_LEN + NONCE_LEN;
        if blob.len() != hl + 32 + 16 || blob[0] != WRAP_FORMAT {
            return Err(Error::Storage(
                "wrapped master key record is damaged".into(),
            ));
        }
        let word =
            |i: usize| u32::from_be_bytes(blob[1 + 4 * i..5 + 4 * i].try_into().expect("4 bytes"));
        let cost = KdfCost {
            memory_kib: word(0),
            iterations: word(1),
            lanes: word(2),
        };
        // The header is authenticated, but only after the KDF has run: bound it first, so a damaged
        // record cannot make the KDF allocate gigabytes or run for hours.
        if !cost.is_sane() {
            return Err(Error::Storage(
                "wrapped master key record has out-of-range KDF parameters".into(),
            ));
        }
        let salt = &blob[13..13 + SALT_LEN];
        let nonce = &blob[13 + SALT_LEN..hl];
        let kek = derive_kek(pin, salt, cost)?;
        let aad = [&blob[..hl], context].concat();
        let mut pt = Zeroizing::new(
            kek.decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &blob[hl..],
                    aad: &aad,
                },
            )
            .map_err(|_| Error::PinIncorrect)?,
        );
        let mut key = SecureBox::new([0u8; 32]);
        key.copy_from_slice(&pt[..]);
        pt.zeroize();
        let mk = MasterKey::from_bytes(key);
        // The PIN-derived key and the sealer's key schedule were built on the stack.
        crate::sys::secmem::scrub_stack();
        Ok(mk)
    }

    /// Seals an attribute value. Output: nonce || ciphertext || tag.
    pub fn seal(&self, aad: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let ct = self
            .sealer
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: value, aad })
            .map_err(|_| Error::GeneralError)?;
        Ok([&nonce[..], &ct].concat())
    }

    /// Opens a sealed value. Tampering, truncation or a value moved elsewhere gives a storage error.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(Error::Storage("sealed value is truncated".into()));
        }
        self.sealer
            .decrypt(
                Nonce::from_slice(&sealed[..NONCE_LEN]),
                Payload {
                    msg: &sealed[NONCE_LEN..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::Storage("sealed value failed its integrity check (tampered or moved)".into())
            })
    }
}

fn wrap_header(cost: KdfCost, salt: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut h = vec![WRAP_FORMAT];
    h.extend_from_slice(&cost.memory_kib.to_be_bytes());
    h.extend_from_slice(&cost.iterations.to_be_bytes());
    h.extend_from_slice(&cost.lanes.to_be_bytes());
    h.extend_from_slice(salt);
    h.extend_from_slice(nonce);
    h
}

/// The key-encryption key derived from a PIN, in secure memory.
fn derive_kek(pin: &[u8], salt: &[u8], cost: KdfCost) -> Result<SecureBox<Aes256Gcm>> {
    let params = argon2::Params::new(cost.memory_kib, cost.iterations, cost.lanes, Some(32))
        .map_err(|_| Error::Storage("stored KDF parameters are invalid".into()))?;
    let a2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a2.hash_password_into(pin, salt, &mut out[..])
        .map_err(|_| Error::GeneralError)?;
    Ok(SecureBox::new(
        Aes256Gcm::new_from_slice(&out[..]).expect("32-byte key"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    const COST: KdfCost = KdfCost {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };

    #[test]
    fn wrap_unwrap_and_wrong_pin() {
        let mk = MasterKey::generate().unwrap();
        let w = mk.wrap(b"1234", COST, b"tok:user").unwrap();
        let back = MasterKey::unwrap(&w, b"1234", b"tok:user").unwrap();
        assert_eq!(&back.key[..], &mk.key[..]);
        assert_eq!(
            MasterKey::unwrap(&w, b"1235", b"tok:user").unwrap_err(),
            Error::PinIncorrect
        );
        assert_eq!(
            MasterKey::unwrap(&w, b"1234", b"tok:so").unwrap_err(),
            Error::PinIncorrect
        );
        assert!(matches!(
            MasterKey::unwrap(&w[..10], b"1234", b"tok:user"),
            Err(Error::Storage(_))
        ));
    }

    #[test]
    fn sealed_values_are_bound_to_their_place() {
        let mk = MasterKey::generate().unwrap();
        let s = mk.seal(b"a", b"secret").unwrap();
        assert_eq!(&mk.open(b"a", &s).unwrap()[..], b"secret");
        assert!(mk.open(b"b", &s).is_err());
        let mut t = s.clone();
        t[14] ^= 1;
        assert!(mk.open(b"a", &t).is_err());
        assert!(mk.open(b"a", &s[..20]).is_err());
        assert!(!s.windows(6).any(|w| w == b"secret"));
        // An empty value seals and opens; anything shorter than nonce and tag is an error, not a
        // panic.
        let e = mk.seal(b"a", b"").unwrap();
        assert_eq!(e.len(), NONCE_LEN + 16);
        assert!(mk.open(b"a", &e).unwrap().is_empty());
        for cut in 0..e.len() {
            assert!(mk.open(b"a", &e[..cut]).is_err(), "cut at {cut}");
        }
    }

    /// Master keys, wrap salts and nonces, and seal nonces come from the CSPRNG: no two are the
    /// same (a repeated AES-GCM nonce under one key gives the key stream and the tag key away).
    #[test]
    fn keys_salts_and_nonces_are_fresh() {
        let (a, b) = (
            MasterKey::generate().unwrap(),
            MasterKey::generate().unwrap(),
        );
        assert_ne!(&a.key[..], &b.key[..]);
        let (w1, w2) = (
            a.wrap(b"1234", COST, b"tok:user").unwrap(),
            a.wrap(b"1234", COST, b"tok:user").unwrap(),
        );
        let hl = 1 + 12 + SALT_LEN + NONCE_LEN;
        assert_ne!(&w1[13..13 + SALT_LEN], &w2[13..13 + SALT_LEN]);
        assert_ne!(&w1[13 + SALT_LEN..hl], &w2[13 + SALT_LEN..hl]);
        let (s1, s2) = (a.seal(b"a", b"v").unwrap(), a.seal(b"a", b"v").unwrap());
        assert_ne!(&s1[..NONCE_LEN], &s2[..NONCE_LEN]);
    }
}
