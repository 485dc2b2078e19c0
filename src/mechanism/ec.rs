//! ECDSA on P-224, P-256, P-384, P-521, secp256k1, brainpoolP256r1 and brainpoolP384r1:
//! signatures (r||s, fixed length) and key pairs.

use super::keys::{self, Key};
use super::{Input, Keys, Mech, MechDef, SignOp};
use crate::crypto::{self, HashAlg};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The hash an ECDSA mechanism applies first (`None` for CKM_ECDSA, which signs a digest).
fn hash_of(ty: CK_MECHANISM_TYPE) -> Option<Option<HashAlg>> {
    Some(match ty {
        CKM_ECDSA => None,
        CKM_ECDSA_SHA1 => Some(HashAlg::Sha1),
        CKM_ECDSA_SHA224 => Some(HashAlg::Sha224),
        CKM_ECDSA_SHA256 => Some(HashAlg::Sha256),
        CKM_ECDSA_SHA384 => Some(HashAlg::Sha384),
        CKM_ECDSA_SHA512 => Some(HashAlg::Sha512),
        CKM_ECDSA_SHA3_224 => Some(HashAlg::Sha3_224),
        CKM_ECDSA_SHA3_256 => Some(HashAlg::Sha3_256),
        CKM_ECDSA_SHA3_384 => Some(HashAlg::Sha3_384),
        CKM_ECDSA_SHA3_512 => Some(HashAlg::Sha3_512),
        _ => return None,
    })
}

// Named curves and explicit parameters equal to one of them (`ecparams`).
const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_ECPARAMETERS | CKF_EC_UNCOMPRESS;
const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY | EC_FLAGS;

const fn sig(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    MechDef::new(ty, name, 224, 521, SV)
        .keys(Keys::Ec)
        .sign(sign_op)
}

/// The EC family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_EC_KEY_PAIR_GEN,
        "CKM_EC_KEY_PAIR_GEN",
        224,
        521,
        CKF_GENERATE_KEY_PAIR | EC_FLAGS,
    )
    .pairgen(pair_gen),
    sig(CKM_ECDSA, "CKM_ECDSA"),
    sig(CKM_ECDSA_SHA1, "CKM_ECDSA_SHA1"),
    sig(CKM_ECDSA_SHA224, "CKM_ECDSA_SHA224"),
    sig(CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256"),
    sig(CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384"),
    sig(CKM_ECDSA_SHA512, "CKM_ECDSA_SHA512"),
    sig(CKM_ECDSA_SHA3_224, "CKM_ECDSA_SHA3_224"),
    sig(CKM_ECDSA_SHA3_256, "CKM_ECDSA_SHA3_256"),
    sig(CKM_ECDSA_SHA3_384, "CKM_ECDSA_SHA3_384"),
    sig(CKM_ECDSA_SHA3_512, "CKM_ECDSA_SHA3_512"),
];

pub struct EcdsaSign {
    key: Arc<Key>,
    input: Input,
    sig_len: usize,
}

pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    let hash = hash_of(mech.ty).ok_or(Error::MechanismInvalid)?;
    let key = key.clone();
    let curve = match (&*key, verify) {
        (Key::EcPrivate(k), false) => k.curve(),
        (Key::EcPublic(k), true) => k.curve(),
        _ => return Err(Error::KeyTypeInconsistent),
    };
    Ok(Box::new(EcdsaSign {
        key,
        input: Input::new(hash),
        sig_len: curve.sig_len(),
    }))
}

impl SignOp for EcdsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn sig_len(&self) -> usize {
        self.sig_len
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let z = self.input.finish();
        match &*self.key {
            Key::EcPrivate(k) => Ok(Zeroizing::new(k.sign_prehash(&z)?)),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        let z = self.input.finish();
        let sig = widen_signature(sig, self.sig_len)?;
        match &*self.key {
            Key::EcPublic(k) => k.verify_prehash(&z, &sig),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
}

/// Brings an r||s signature to its full width. PKCS#11 (2.3.1) has r and s as octet strings "of
/// equal length of at most nLen": some clients (Java's SunPKCS11 among them) send shorter halves
/// when both values are small, as happens for about a quarter of P-521 signatures. Each half is
/// left-padded with zeros; an odd length or one longer than the full width is out of range.
fn widen_signature(sig: &[u8], full: usize) -> Result<Vec<u8>> {
    if sig.is_empty() || !sig.len().is_multiple_of(2) || sig.len() > full {
        return Err(Error::SignatureLenRange);
    }
    let (half, n) = (sig.len() / 2, full / 2);
    let mut out = vec![0u8; full];
    out[n - half..n].copy_from_slice(&sig[..half]);
    out[full - half..].copy_from_slice(&sig[half..]);
    Ok(out)
}

/// CKM_EC_KEY_PAIR_GEN from the public key template (CKA_EC_PARAMS).
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let params = super::ops::template_get(pub_t, CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?;
    let (pubs, privs) = generate(params)?;
    Ok((CKK_EC, pubs, privs))
}

/// Generates a key pair on the curve named by CKA_EC_PARAMS. Returns the computed attributes of
/// the public and the private key.
pub fn generate(params: &[u8]) -> Result<(Vec<Attribute>, Vec<Attribute>)> {
    let curve = keys::curve_of_params(params)?;
    let k = crypto::ec_generate(curve);
    let public = k.public();
    let spki = public.spki()?;
    let pubs = vec![
        Attribute::new(CKA_EC_POINT, keys::der_octet_string(&public.point())),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki.clone()),
    ];
    let privs = vec![
        Attribute::new(CKA_EC_PARAMS, params.to_vec()),
        Attribute::new(CKA_VALUE, k.scalar().to_vec()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki),
    ];
    Ok((pubs, privs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Curve, EcPrivate};

    #[test]
    fn sign_verify_each_curve_and_hash() {
        for c in Curve::ALL {
            let k = crypto::ec_generate(c);
            let pk = Arc::new(Key::EcPublic(k.public()));
            let sk = Arc::new(Key::EcPrivate(
                EcPrivate::from_bytes(c, &k.scalar()).unwrap(),
            ));
            for ty in [
                CKM_ECDSA_SHA1,
                CKM_ECDSA_SHA224,
                CKM_ECDSA_SHA256,
                CKM_ECDSA_SHA384,
                CKM_ECDSA_SHA512,
            ] {
                let m = Mech::new(ty);
                let mut s = sign_op(&m, &sk, false).unwrap();
                s.update(b"message").unwrap();
                let sig = s.sign().unwrap();
                assert_eq!(sig.len(), c.sig_len());
                let mut v = sign_op(&m, &pk, true).unwrap();
                v.update(b"mess").unwrap();
                v.update(b"age").unwrap();
                v.verify(&sig).unwrap();
                let mut v = sign_op(&m, &pk, true).unwrap();
                v.update(b"massage").unwrap();
                assert_eq!(v.verify(&sig).unwrap_err(), Error::SignatureInvalid);
                let mut v = sign_op(&m, &pk, true).unwrap();
                v.update(b"message").unwrap();
                assert_eq!(
                    v.verify(&sig[1..]).unwrap_err(),
                    Error::SignatureLenRange,
                    "odd length"
                );
                let mut v = sign_op(&m, &pk, true).unwrap();
                v.update(b"message").unwrap();
                assert_eq!(
                    v.verify(&[&sig[..], &[0, 0]].concat()).unwrap_err(),
                    Error::SignatureLenRange,
                    "too long"
                );
            }
            // Raw ECDSA on digests shorter and longer than the order.
            for len in [1usize, 20, 32, 64, 100] {
                let m = Mech::new(CKM_ECDSA);
                let z = vec![0x5a; len];
                let mut s = sign_op(&m, &sk, false).unwrap();
                s.update(&z).unwrap();
                let sig = s.sign().unwrap();
                let mut v = sign_op(&m, &pk, true).unwrap();
                v.update(&z).unwrap();
                v.verify(&sig).unwrap();
            }
        }
    }

    /// P-521 signatures whose r and s both fit in 65 bytes verify in the short form clients send
    /// (PKCS#11 2.3.1: "of equal length of at most nLen"), and the padding is exact.
    #[test]
    fn short_p521_signatures_verify() {
        let c = Curve::P521;
        let k = crypto::ec_generate(c);
        let pk = Arc::new(Key::EcPublic(k.public()));
        let sk = Arc::new(Key::EcPrivate(
            EcPrivate::from_bytes(c, &k.scalar()).unwrap(),
        ));
        let m = Mech::new(CKM_ECDSA_SHA512);
        let mut found = 0;
        for i in 0u32..200 {
            let msg = i.to_be_bytes();
            let mut s = sign_op(&m, &sk, false).unwrap();
            s.update(&msg).unwrap();
            let sig = s.sign().unwrap();
            if sig[0] != 0 || sig[66] != 0 {
                continue;
            }
            found += 1;
            let short = [&sig[1..66], &sig[67..]].concat();
            let mut v = sign_op(&m, &pk, true).unwrap();
            v.update(&msg).unwrap();
            v.verify(&short).unwrap();
            let mut v = sign_op(&m, &pk, true).unwrap();
            v.update(b"other").unwrap();
            assert_eq!(v.verify(&short).unwrap_err(), Error::SignatureInvalid);
        }
        assert!(
            found > 0,
            "no signature with two short halves among 200 (expected ~50)"
        );
        assert_eq!(widen_signature(&[1, 2], 6).unwrap(), vec![0, 0, 1, 0, 0, 2]);
    }

    /// RFC 6979 A.2.5 (P-256, SHA-256, message "sample"): deterministic nonces make the
    /// signature a known answer. Only the RustCrypto backend uses RFC 6979 nonces; aws-lc's are
    /// random (see `rfc6979_p256_sha256_known_answer_verifies` for that backend).
    #[cfg(not(feature = "backend-awslc"))]
    #[test]
    fn rfc6979_p256_sha256_known_answer() {
        let x = hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
            .unwrap();
        let k = EcPrivate::from_bytes(Curve::P256, &x).unwrap();
        let sk = Arc::new(Key::EcPrivate(k));
        let mut s = sign_op(&Mech::new(CKM_ECDSA_SHA256), &sk, false).unwrap();
        s.update(b"sample").unwrap();
        let sig = s.sign().unwrap();
        assert_eq!(
            hex::encode_upper(&sig[..]),
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716\
             F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
        );
    }

    /// With aws-lc (random nonces): the RFC 6979 A.2.5 signature verifies, and so does a fresh
    /// one, which differs from it.
    #[cfg(feature = "backend-awslc")]
    #[test]
    fn rfc6979_p256_sha256_known_answer_verifies() {
        let x = hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
            .unwrap();
        let k = EcPrivate::from_bytes(Curve::P256, &x).unwrap();
        let pk = Arc::new(Key::EcPublic(k.public()));
        let sk = Arc::new(Key::EcPrivate(k));
        let known = hex::decode(
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716\
             F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
        )
        .unwrap();
        let mut s = sign_op(&Mech::new(CKM_ECDSA_SHA256), &sk, false).unwrap();
        s.update(b"sample").unwrap();
        let fresh = s.sign().unwrap();
        assert_ne!(fresh[..], known[..]);
        for sig in [&known[..], &fresh[..]] {
            let mut v = sign_op(&Mech::new(CKM_ECDSA_SHA256), &pk, true).unwrap();
            v.update(b"sample").unwrap();
            v.verify(sig).unwrap();
        }
    }

    #[test]
    fn generate_attributes() {
        let (pubs, privs) = generate(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]).unwrap();
        let point = &pubs.iter().find(|a| a.ty == CKA_EC_POINT).unwrap().value;
        assert_eq!(point[..3], [0x04, 97, 0x04]);
        let d = &privs.iter().find(|a| a.ty == CKA_VALUE).unwrap().value;
        assert_eq!(d.len(), 48);
        assert_eq!(
            generate(&[0x05, 0x00]).unwrap_err(),
            Error::DomainParamsInvalid
        );
    }
}
