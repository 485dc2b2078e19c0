//! Ed448 and X448 (RFC 8032, RFC 7748), shared by both backends: AWS-LC has no curve448, so the
//! aws-lc backend uses the same RustCrypto crates as the RustCrypto one: `ed448-goldilocks`
//! (signatures, Ed448 and Ed448ph with contexts) and `x448` (agreement), both 0.14 pre-releases
//! (see README.md). Nothing here computes on the curve itself: every function adapts a crate.

use crate::error::{Error, Result};
use ed448_goldilocks::{PreHasherXof, Signature, SigningKey, VerifyingKey};
use shake::{Shake256, Update};
use zeroize::Zeroizing;

/// Length of an Ed448 private key (the seed), of a public key, and of an X448 value.
pub const ED448_LEN: usize = 57;
pub const X448_LEN: usize = 56;
/// Length of an Ed448 signature.
pub const ED448_SIG_LEN: usize = 114;
/// The longest context RFC 8032 allows.
pub const MAX_CONTEXT: usize = 255;

/// An Ed448 private key (RFC 8032 5.2.5: the 57-byte seed; the crate zeroizes it on drop).
pub struct Ed448Private(SigningKey);

/// An Ed448 public key (a valid encoding of a curve point, not the identity).
#[derive(Clone)]
pub struct Ed448Public(VerifyingKey);

impl std::fmt::Debug for Ed448Private {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ed448Private")
    }
}

impl std::fmt::Debug for Ed448Public {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ed448Public")
    }
}

/// Generates an Ed448 private key from the OS generator.
pub fn ed448_generate() -> Result<Ed448Private> {
    let mut seed = Zeroizing::new([0u8; ED448_LEN]);
    super::random(&mut seed[..])?;
    Ed448Private::from_bytes(&seed[..])
}

/// SHAKE256(m, 64), Ed448ph's prehash (RFC 8032, 5.2).
fn prehash(msg: &[u8]) -> PreHasherXof<Shake256> {
    let mut h = Shake256::default();
    h.update(msg);
    PreHasherXof::from(h)
}

impl Ed448Private {
    /// From the 57-byte seed.
    pub fn from_bytes(seed: &[u8]) -> Result<Ed448Private> {
        if seed.len() != ED448_LEN {
            return Err(Error::AttributeValueInvalid);
        }
        SigningKey::try_from(seed)
            .map(Ed448Private)
            .map_err(|_| Error::AttributeValueInvalid)
    }

    /// The seed.
    pub fn seed(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.as_bytes().to_vec())
    }

    pub fn public(&self) -> Ed448Public {
        Ed448Public(self.0.verifying_key())
    }

    /// Ed448 (`ph` false) or Ed448ph over `msg` (hashed here with SHAKE256), with a context of at
    /// most 255 bytes (`MechanismParamInvalid` beyond).
    pub fn sign(&self, ph: bool, context: &[u8], msg: &[u8]) -> Result<Vec<u8>> {
        if context.len() > MAX_CONTEXT {
            return Err(Error::MechanismParamInvalid);
        }
        let sig = if ph {
            self.0.sign_prehashed(Some(context), prehash(msg))
        } else {
            self.0.sign_ctx(context, msg)
        };
        sig.map(|s| s.to_bytes().to_vec())
            .map_err(|_| Error::GeneralError)
    }
}

impl Ed448Public {
    /// From the 57-byte encoding; one that decodes to no point, or to the identity, is refused.
    pub fn from_bytes(p: &[u8]) -> Result<Ed448Public> {
        let p: &[u8; ED448_LEN] = p.try_into().map_err(|_| Error::AttributeValueInvalid)?;
        // RFC 8032 5.2.3: bits 448 to 454 of an encoded point are zero (the crate ignores them).
        if p[ED448_LEN - 1] & 0x7f != 0 {
            return Err(Error::AttributeValueInvalid);
        }
        VerifyingKey::from_bytes(p)
            .map(Ed448Public)
            .map_err(|_| Error::AttributeValueInvalid)
    }

    /// The 57-byte encoding.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }

    /// Verifies an Ed448 or Ed448ph signature (as [`Ed448Private::sign`] makes it).
    pub fn verify(&self, ph: bool, context: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
        if context.len() > MAX_CONTEXT {
            return Err(Error::MechanismParamInvalid);
        }
        let sig: &[u8; ED448_SIG_LEN] = sig.try_into().map_err(|_| Error::SignatureLenRange)?;
        // RFC 8032 5.2.3: in the encoding of R, bits 448 to 454 (the low bits of its last octet)
        // are zero, or R does not decode and the signature is invalid (5.2.7, step 1). The crate
        // ignores them (Wycheproof ed448 tc 63-65), so they are checked here.
        if sig[ED448_LEN - 1] & 0x7f != 0 {
            return Err(Error::SignatureInvalid);
        }
        let sig = Signature::from_bytes(sig);
        let k = self.0;
        let r = if ph {
            k.verify_prehashed(&sig, Some(context), prehash(msg))
        } else {
            k.verify_ctx(&sig, context, msg)
        };
        r.map_err(|_| Error::SignatureInvalid)
    }
}

/// An X448 private key (RFC 7748: 56 bytes; the crate clamps them and zeroizes on drop). The
/// bytes as given are kept for CKA_VALUE.
pub struct X448Private {
    k: x448::StaticSecret,
    given: Zeroizing<[u8; X448_LEN]>,
}

/// An X448 public key: the 56-byte u-coordinate.
#[derive(Clone)]
pub struct X448Public([u8; X448_LEN]);

impl std::fmt::Debug for X448Private {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("X448Private")
    }
}

impl std::fmt::Debug for X448Public {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("X448Public")
    }
}

/// Generates an X448 private key from the OS generator.
pub fn x448_generate() -> Result<X448Private> {
    let mut k = Zeroizing::new([0u8; X448_LEN]);
    super::random(&mut k[..])?;
    X448Private::from_bytes(&k[..])
}

impl X448Private {
    /// From the 56 bytes of RFC 7748's private key.
    pub fn from_bytes(k: &[u8]) -> Result<X448Private> {
        let given: Zeroizing<[u8; X448_LEN]> =
            Zeroizing::new(k.try_into().map_err(|_| Error::AttributeValueInvalid)?);
        Ok(X448Private {
            k: x448::StaticSecret::from(*given),
            given,
        })
    }

    /// The private key's 56 bytes, as given.
    pub fn bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.given.to_vec())
    }

    pub fn public(&self) -> X448Public {
        X448Public(*x448::PublicKey::from(&self.k).as_bytes())
    }

    /// X448(k, u) (RFC 7748, 6.2). A peer value of small order, and an all-zero result, are
    /// refused: `MechanismParamInvalid`, as for X25519.
    pub fn agree(&self, peer: &X448Public) -> Result<Zeroizing<Vec<u8>>> {
        let p = x448::PublicKey::from_bytes(&peer.0).ok_or(Error::MechanismParamInvalid)?;
        let z = Zeroizing::new(*self.k.diffie_hellman(&p).as_bytes());
        if z.iter().all(|&b| b == 0) {
            return Err(Error::MechanismParamInvalid);
        }
        Ok(Zeroizing::new(z.to_vec()))
    }
}

impl X448Public {
    /// From the 56-byte u-coordinate.
    pub fn from_bytes(u: &[u8]) -> Result<X448Public> {
        Ok(X448Public(
            u.try_into().map_err(|_| Error::AttributeValueInvalid)?,
        ))
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// RFC 7748, 6.2: Alice's and Bob's keys and their shared secret.
    #[test]
    fn rfc7748_x448() {
        let a = X448Private::from_bytes(&h(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d\
             d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        ))
        .unwrap();
        let b = X448Private::from_bytes(&h(
            "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d\
             6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
        ))
        .unwrap();
        assert_eq!(
            a.public().bytes(),
            h("9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c\
               22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0")
        );
        assert_eq!(
            b.public().bytes(),
            h("3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b430\
               27d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609")
        );
        let k = h("07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282b\
                   b60c0b56fd2464c335543936521c24403085d59a449a5037514a879d");
        assert_eq!(a.agree(&b.public()).unwrap()[..], k[..]);
        assert_eq!(b.agree(&a.public()).unwrap()[..], k[..]);
        // A low-order peer value (0, 1) is refused.
        for u in [[0u8; 56], {
            let mut v = [0u8; 56];
            v[0] = 1;
            v
        }] {
            assert_eq!(
                a.agree(&X448Public::from_bytes(&u).unwrap()).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
        assert!(X448Public::from_bytes(&[0; 55]).is_err());
        assert!(X448Private::from_bytes(&[0; 57]).is_err());
    }

    #[test]
    fn ed448_lengths_and_contexts() {
        let k = ed448_generate().unwrap();
        let p = k.public();
        for ph in [false, true] {
            let sig = k.sign(ph, b"ctx", b"message").unwrap();
            assert_eq!(sig.len(), ED448_SIG_LEN);
            p.verify(ph, b"ctx", b"message", &sig).unwrap();
            assert_eq!(
                p.verify(!ph, b"ctx", b"message", &sig).unwrap_err(),
                Error::SignatureInvalid
            );
            assert_eq!(
                p.verify(ph, b"ctX", b"message", &sig).unwrap_err(),
                Error::SignatureInvalid
            );
            assert_eq!(
                k.sign(ph, &[0; 256], b"m").unwrap_err(),
                Error::MechanismParamInvalid
            );
            k.sign(ph, &[0; 255], b"m").unwrap();
        }
        assert_eq!(
            p.verify(false, b"", b"m", &[0; 113]).unwrap_err(),
            Error::SignatureLenRange
        );
        assert!(Ed448Public::from_bytes(&[0; 56]).is_err());
        let mut unused = p.bytes();
        unused[56] |= 1;
        assert!(Ed448Public::from_bytes(&unused).is_err());
        assert_eq!(
            Ed448Private::from_bytes(&k.seed())
                .unwrap()
                .public()
                .bytes(),
            p.bytes()
        );
    }
}
