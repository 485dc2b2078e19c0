//! RSA: PKCS#1 v1.5, PSS and raw signatures; PKCS#1 v1.5, OAEP and raw encryption; key pairs.

use super::keys::Key;
use super::{
    hash_of_mech, mgf_of, CryptOp, Input, Keys, Mech, MechDef, Param, ParamKind, RecoverOp, SignOp,
};
use crate::crypto::{self, HashAlg, RsaPrivate, RsaPublic};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const MIN: CK_ULONG = crypto::RSA_MIN_BITS as CK_ULONG;
const MAX: CK_ULONG = crypto::RSA_MAX_BITS as CK_ULONG;
const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
const ED: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const WU: CK_FLAGS = CKF_WRAP | CKF_UNWRAP;
const SVR: CK_FLAGS = CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER;

const fn sig(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    MechDef::new(ty, name, MIN, MAX, SV)
        .keys(Keys::Rsa)
        .sign(sign_op)
}

const fn pss(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    sig(ty, name).param(ParamKind::Pss)
}

/// The RSA family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        MIN,
        MAX,
        CKF_GENERATE_KEY_PAIR,
    )
    .pairgen(pair_gen),
    sig(CKM_RSA_PKCS, "CKM_RSA_PKCS")
        .crypt(crypt_op)
        .recover(recover_op)
        .flags(SV | SVR | ED | WU),
    sig(CKM_RSA_X_509, "CKM_RSA_X_509")
        .crypt(crypt_op)
        .recover(recover_op)
        .flags(SV | SVR | ED),
    MechDef::new(CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP", MIN, MAX, ED | WU)
        .keys(Keys::Rsa)
        .param(ParamKind::Oaep)
        .crypt(crypt_op),
    pss(CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS"),
    sig(CKM_SHA1_RSA_PKCS, "CKM_SHA1_RSA_PKCS"),
    sig(CKM_SHA224_RSA_PKCS, "CKM_SHA224_RSA_PKCS"),
    sig(CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"),
    sig(CKM_SHA384_RSA_PKCS, "CKM_SHA384_RSA_PKCS"),
    sig(CKM_SHA512_RSA_PKCS, "CKM_SHA512_RSA_PKCS"),
    pss(CKM_SHA1_RSA_PKCS_PSS, "CKM_SHA1_RSA_PKCS_PSS"),
    pss(CKM_SHA224_RSA_PKCS_PSS, "CKM_SHA224_RSA_PKCS_PSS"),
    pss(CKM_SHA256_RSA_PKCS_PSS, "CKM_SHA256_RSA_PKCS_PSS"),
    pss(CKM_SHA384_RSA_PKCS_PSS, "CKM_SHA384_RSA_PKCS_PSS"),
    pss(CKM_SHA512_RSA_PKCS_PSS, "CKM_SHA512_RSA_PKCS_PSS"),
    sig(CKM_SHA3_224_RSA_PKCS, "CKM_SHA3_224_RSA_PKCS"),
    sig(CKM_SHA3_256_RSA_PKCS, "CKM_SHA3_256_RSA_PKCS"),
    sig(CKM_SHA3_384_RSA_PKCS, "CKM_SHA3_384_RSA_PKCS"),
    sig(CKM_SHA3_512_RSA_PKCS, "CKM_SHA3_512_RSA_PKCS"),
    pss(CKM_SHA3_224_RSA_PKCS_PSS, "CKM_SHA3_224_RSA_PKCS_PSS"),
    pss(CKM_SHA3_256_RSA_PKCS_PSS, "CKM_SHA3_256_RSA_PKCS_PSS"),
    pss(CKM_SHA3_384_RSA_PKCS_PSS, "CKM_SHA3_384_RSA_PKCS_PSS"),
    pss(CKM_SHA3_512_RSA_PKCS_PSS, "CKM_SHA3_512_RSA_PKCS_PSS"),
];

#[derive(Debug, Clone, Copy)]
enum Scheme {
    /// PKCS#1 v1.5; `None`: the input is a DigestInfo already.
    Pkcs1(Option<HashAlg>),
    /// PSS on a digest of this hash.
    Pss {
        hash: HashAlg,
        salt: usize,
    },
    Raw,
}

/// (mechanism hashes the data with, is PSS) of the RSA signature mechanisms.
fn sign_shape(ty: CK_MECHANISM_TYPE) -> Option<(Option<HashAlg>, u8)> {
    Some(match ty {
        CKM_RSA_PKCS => (None, 0),
        CKM_SHA1_RSA_PKCS => (Some(HashAlg::Sha1), 0),
        CKM_SHA224_RSA_PKCS => (Some(HashAlg::Sha224), 0),
        CKM_SHA256_RSA_PKCS => (Some(HashAlg::Sha256), 0),
        CKM_SHA384_RSA_PKCS => (Some(HashAlg::Sha384), 0),
        CKM_SHA512_RSA_PKCS => (Some(HashAlg::Sha512), 0),
        CKM_RSA_PKCS_PSS => (None, 1),
        CKM_SHA1_RSA_PKCS_PSS => (Some(HashAlg::Sha1), 1),
        CKM_SHA224_RSA_PKCS_PSS => (Some(HashAlg::Sha224), 1),
        CKM_SHA256_RSA_PKCS_PSS => (Some(HashAlg::Sha256), 1),
        CKM_SHA384_RSA_PKCS_PSS => (Some(HashAlg::Sha384), 1),
        CKM_SHA512_RSA_PKCS_PSS => (Some(HashAlg::Sha512), 1),
        CKM_SHA3_224_RSA_PKCS => (Some(HashAlg::Sha3_224), 0),
        CKM_SHA3_256_RSA_PKCS => (Some(HashAlg::Sha3_256), 0),
        CKM_SHA3_384_RSA_PKCS => (Some(HashAlg::Sha3_384), 0),
        CKM_SHA3_512_RSA_PKCS => (Some(HashAlg::Sha3_512), 0),
        CKM_SHA3_224_RSA_PKCS_PSS => (Some(HashAlg::Sha3_224), 1),
        CKM_SHA3_256_RSA_PKCS_PSS => (Some(HashAlg::Sha3_256), 1),
        CKM_SHA3_384_RSA_PKCS_PSS => (Some(HashAlg::Sha3_384), 1),
        CKM_SHA3_512_RSA_PKCS_PSS => (Some(HashAlg::Sha3_512), 1),
        CKM_RSA_X_509 => (None, 2),
        _ => return None,
    })
}

/// Checks CK_RSA_PKCS_PSS_PARAMS against the mechanism and the key size.
fn pss_params(mech: &Mech, data_hash: Option<HashAlg>, k_bits: usize) -> Result<(HashAlg, usize)> {
    let Param::Pss {
        hash,
        mgf,
        salt_len,
    } = mech.param
    else {
        return Err(Error::MechanismParamInvalid);
    };
    let h = hash_of_mech(hash).ok_or(Error::MechanismParamInvalid)?;
    if data_hash.is_some_and(|d| d != h) || Some(mgf) != mgf_of(h) {
        return Err(Error::MechanismParamInvalid);
    }
    // EMSA-PSS: emLen = ceil((modBits - 1) / 8) >= hLen + sLen + 2.
    let em_len = (k_bits - 1).div_ceil(8);
    if salt_len as usize + h.len() + 2 > em_len {
        return Err(Error::MechanismParamInvalid);
    }
    Ok((h, salt_len as usize))
}

type Hashed = (Arc<Key>, Scheme, Zeroizing<Vec<u8>>, usize);

pub struct RsaSign {
    key: Arc<Key>,
    scheme: Scheme,
    input: Input,
    k: usize,
}

/// Starts an RSA signature (`verify` false: needs a private key) or verification.
pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    let (data_hash, kind) = sign_shape(mech.ty).ok_or(Error::MechanismInvalid)?;
    let key = key.clone();
    let (k, bits) = match (&*key, verify) {
        (Key::RsaPrivate(p), false) => (p.size(), p.bits()),
        (Key::RsaPublic(p), true) => (p.size(), p.bits()),
        _ => return Err(Error::KeyTypeInconsistent),
    };
    let scheme = match kind {
        0 => Scheme::Pkcs1(data_hash),
        1 => {
            let (hash, salt) = pss_params(mech, data_hash, bits)?;
            Scheme::Pss { hash, salt }
        }
        _ => Scheme::Raw,
    };
    Ok(Box::new(RsaSign {
        key,
        scheme,
        input: Input::new(data_hash),
        k,
    }))
}

impl RsaSign {
    // The operation arrives boxed (`SignOp::sign(self: Box<Self>)`); whether clippy calls the box
    // needless depends on the backend's `Hasher` size (it does for aws-lc's small one).
    #[allow(clippy::boxed_local)]
    fn hashed(self: Box<Self>) -> Result<Hashed> {
        let RsaSign {
            key,
            scheme,
            input,
            k,
        } = *self;
        let raw_input = matches!(input, Input::Raw(_));
        let data = input.finish();
        if let Scheme::Pss { hash, .. } = scheme {
            if raw_input && data.len() != hash.len() {
                return Err(Error::DataLenRange);
            }
        }
        Ok((key, scheme, data, k))
    }
}

impl SignOp for RsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn sig_len(&self) -> usize {
        self.k
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let (key, scheme, data, _) = self.hashed()?;
        let Key::RsaPrivate(p) = &*key else {
            return Err(Error::KeyTypeInconsistent);
        };
        Ok(match scheme {
            Scheme::Pkcs1(h) => Zeroizing::new(p.sign_pkcs1(h, &data)?),
            Scheme::Pss { hash, salt } => Zeroizing::new(p.sign_pss(hash, salt, &data)?),
            Scheme::Raw => p.raw(&data)?,
        })
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        let (key, scheme, data, k) = self.hashed()?;
        if sig.len() != k {
            return Err(Error::SignatureLenRange);
        }
        let Key::RsaPublic(p) = &*key else {
            return Err(Error::KeyTypeInconsistent);
        };
        match scheme {
            Scheme::Pkcs1(h) => p.verify_pkcs1(h, &data, sig),
            Scheme::Pss { hash, salt } => p.verify_pss(hash, salt, &data, sig),
            Scheme::Raw => {
                if data.len() > k {
                    return Err(Error::DataLenRange);
                }
                let m = p.raw(sig).map_err(|_| Error::SignatureInvalid)?;
                let mut want = vec![0u8; k - data.len()];
                want.extend_from_slice(&data);
                if m == want {
                    Ok(())
                } else {
                    Err(Error::SignatureInvalid)
                }
            }
        }
    }
}

// ---- signatures with recovery ------------------------------------------------------------------

/// C_SignRecover / C_VerifyRecover with CKM_RSA_PKCS (PKCS#1 v1.5 block type 1 around the data,
/// at most k - 11 bytes) or CKM_RSA_X_509 (the raw operation on at most k bytes; recovered, the
/// k bytes of the result).
pub struct RsaRecover {
    key: Arc<Key>,
    pkcs1: bool,
    k: usize,
}

/// Starts a signature with recovery (`verify` false: a private key) or its verification.
pub fn recover_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn RecoverOp>> {
    let pkcs1 = match mech.ty {
        CKM_RSA_PKCS => true,
        CKM_RSA_X_509 => false,
        _ => return Err(Error::MechanismInvalid),
    };
    let k = match (&**key, verify) {
        (Key::RsaPrivate(p), false) => p.size(),
        (Key::RsaPublic(p), true) => p.size(),
        _ => return Err(Error::KeyTypeInconsistent),
    };
    Ok(Box::new(RsaRecover {
        key: key.clone(),
        pkcs1,
        k,
    }))
}

impl RecoverOp for RsaRecover {
    fn max_len(&self) -> usize {
        match (&*self.key, self.pkcs1) {
            (Key::RsaPublic(_), true) => self.k - 11,
            _ => self.k,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match &*self.key {
            Key::RsaPrivate(p) if self.pkcs1 => {
                // The crate pads (00 01 FF.. 00 data) and signs.
                if input.len() > self.k - 11 {
                    return Err(Error::DataLenRange);
                }
                Ok(Zeroizing::new(p.sign_pkcs1(None, input)?))
            }
            Key::RsaPrivate(p) => p.raw(input),
            Key::RsaPublic(p) => {
                if input.len() != self.k {
                    return Err(Error::SignatureLenRange);
                }
                // The public operation; a signature not below the modulus is invalid.
                let em = p.raw(input).map_err(|_| Error::SignatureInvalid)?;
                if !self.pkcs1 {
                    return Ok(Zeroizing::new(em));
                }
                // Where the data starts, if `em` is 00 01 FF.. 00 data (RFC 8017 9.2); the
                // crate's own verification then judges the signature over that data.
                let body = em
                    .strip_prefix(&[0x00, 0x01])
                    .ok_or(Error::SignatureInvalid)?;
                let ff = body.iter().take_while(|&&b| b == 0xff).count();
                let data = body[ff..]
                    .strip_prefix(&[0x00])
                    .ok_or(Error::SignatureInvalid)?;
                p.verify_pkcs1(None, data, input)?;
                Ok(Zeroizing::new(data.to_vec()))
            }
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
}

// ---- encryption --------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Padding {
    Pkcs1,
    Oaep { hash: HashAlg, label: Vec<u8> },
    Raw,
}

pub struct RsaCrypt {
    key: Arc<Key>,
    padding: Padding,
    k: usize,
    /// Multi-part input, gathered (RSA is single-part in substance): at most k bytes.
    input: Zeroizing<Vec<u8>>,
}

/// Starts an RSA encryption (`decrypt` false: needs a public key) or decryption.
pub fn crypt_op(mech: &Mech, key: &Arc<Key>, decrypt: bool) -> Result<Box<dyn CryptOp>> {
    let key = key.clone();
    let k = match (&*key, decrypt) {
        (Key::RsaPrivate(p), true) => p.size(),
        (Key::RsaPublic(p), false) => p.size(),
        _ => return Err(Error::KeyTypeInconsistent),
    };
    let padding = match mech.ty {
        CKM_RSA_PKCS => Padding::Pkcs1,
        CKM_RSA_X_509 => Padding::Raw,
        CKM_RSA_PKCS_OAEP => {
            let Param::Oaep {
                hash,
                mgf,
                source,
                label,
            } = &mech.param
            else {
                return Err(Error::MechanismParamInvalid);
            };
            let h = hash_of_mech(*hash).ok_or(Error::MechanismParamInvalid)?;
            if Some(*mgf) != mgf_of(h) {
                return Err(Error::MechanismParamInvalid);
            }
            if *source != CKZ_DATA_SPECIFIED && !(*source == 0 && label.is_empty()) {
                return Err(Error::MechanismParamInvalid);
            }
            if 2 * h.len() + 2 > k {
                return Err(Error::KeySizeRange);
            }
            Padding::Oaep {
                hash: h,
                label: label.clone(),
            }
        }
        _ => return Err(Error::MechanismInvalid),
    };
    Ok(Box::new(RsaCrypt {
        key,
        padding,
        k,
        input: Zeroizing::new(Vec::with_capacity(k)),
    }))
}

impl CryptOp for RsaCrypt {
    fn update_len(&self, n: usize) -> Result<usize> {
        if self.input.len() + n > self.k {
            return Err(match self.key.as_ref() {
                Key::RsaPrivate(_) => Error::EncryptedDataLenRange,
                _ => Error::DataLenRange,
            });
        }
        Ok(0)
    }

    fn update(&mut self, input: &[u8], _out: &mut [u8]) -> Result<usize> {
        self.update_len(input.len())?;
        self.input.extend_from_slice(input);
        Ok(0)
    }

    fn final_len(&self) -> usize {
        self.k
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let input = std::mem::take(&mut self.input);
        self.run(&input)
    }
}

impl RsaCrypt {
    fn run(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match &*self.key {
            Key::RsaPublic(p) => Ok(Zeroizing::new(match &self.padding {
                Padding::Pkcs1 => p.encrypt_pkcs1(input)?,
                Padding::Oaep { hash, label } => p.encrypt_oaep(*hash, label, input)?,
                Padding::Raw => p.raw(input)?,
            })),
            Key::RsaPrivate(p) => {
                if input.len() != self.k {
                    return Err(Error::EncryptedDataLenRange);
                }
                let r = match &self.padding {
                    Padding::Pkcs1 => p.decrypt_pkcs1(input),
                    Padding::Oaep { hash, label } => p.decrypt_oaep(*hash, label, input),
                    Padding::Raw => p.raw(input),
                };
                r.map_err(|e| match e {
                    Error::DataInvalid | Error::DataLenRange => Error::EncryptedDataInvalid,
                    e => e,
                })
            }
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
}

// ---- key pairs ---------------------------------------------------------------------------------

/// CKM_RSA_PKCS_KEY_PAIR_GEN from the public key template (CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT).
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let bits =
        super::ops::template_ulong(pub_t, CKA_MODULUS_BITS)?.ok_or(Error::TemplateIncomplete)?;
    if !(MIN..=MAX).contains(&bits) {
        return Err(Error::KeySizeRange);
    }
    let (pubs, privs) = generate(
        bits as usize,
        super::ops::template_get(pub_t, CKA_PUBLIC_EXPONENT),
    )?;
    Ok((CKK_RSA, pubs, privs))
}

/// Generates a key pair for CKM_RSA_PKCS_KEY_PAIR_GEN: `bits` from CKA_MODULUS_BITS, `e` from
/// CKA_PUBLIC_EXPONENT (65537 when absent). Returns the computed attributes of the public and the
/// private key.
pub fn generate(bits: usize, e: Option<&[u8]>) -> Result<(Vec<Attribute>, Vec<Attribute>)> {
    let e = e.unwrap_or(&[0x01, 0x00, 0x01]);
    if super::keys::strip(e).is_empty() {
        return Err(Error::AttributeValueInvalid);
    }
    let k = crypto::rsa_generate(bits, e)?;
    attributes(&k)
}

/// The value attributes of a key pair.
pub fn attributes(k: &RsaPrivate) -> Result<(Vec<Attribute>, Vec<Attribute>)> {
    let p = k.parts();
    let public: RsaPublic = k.public();
    let spki = public.spki()?;
    let pubs = vec![
        Attribute::new(CKA_MODULUS, p.n.clone()),
        Attribute::new(CKA_PUBLIC_EXPONENT, p.e.clone()),
        Attribute::ulong(CKA_MODULUS_BITS, k.bits() as CK_ULONG),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki.clone()),
    ];
    let privs = vec![
        Attribute::new(CKA_MODULUS, p.n.clone()),
        Attribute::new(CKA_PUBLIC_EXPONENT, p.e.clone()),
        Attribute::new(CKA_PRIVATE_EXPONENT, p.d.to_vec()),
        Attribute::new(CKA_PRIME_1, p.p.to_vec()),
        Attribute::new(CKA_PRIME_2, p.q.to_vec()),
        Attribute::new(CKA_EXPONENT_1, p.dp.to_vec()),
        Attribute::new(CKA_EXPONENT_2, p.dq.to_vec()),
        Attribute::new(CKA_COEFFICIENT, p.qinv.to_vec()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki),
    ];
    Ok((pubs, privs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::crypt_all;
    use crate::object::{Object, Origin};

    fn key_objects() -> (Arc<Key>, Arc<Key>, RsaPrivate) {
        let k = crypto::rsa_generate(2048, &[1, 0, 1]).unwrap();
        let pubk = Arc::new(Key::RsaPublic(k.public()));
        let p = k.parts();
        let k2 = RsaPrivate::from_components(&p.n, &p.e, &p.d, Some((&p.p, &p.q))).unwrap();
        (Arc::new(Key::RsaPrivate(k2)), pubk, k)
    }

    fn pss(h: CK_MECHANISM_TYPE, mgf: CK_ULONG, s: CK_ULONG, ty: CK_MECHANISM_TYPE) -> Mech {
        Mech {
            ty,
            param: Param::Pss {
                hash: h,
                mgf,
                salt_len: s,
            },
        }
    }

    #[test]
    fn sign_verify_all_schemes_and_params() {
        let (sk, pk, _) = key_objects();
        let digest = crypto::Hasher::digest(HashAlg::Sha256, b"abc");
        let mechs = [
            Mech::new(CKM_SHA256_RSA_PKCS),
            Mech::new(CKM_SHA1_RSA_PKCS),
            pss(CKM_SHA256, CKG_MGF1_SHA256, 32, CKM_SHA256_RSA_PKCS_PSS),
            pss(CKM_SHA512, CKG_MGF1_SHA512, 0, CKM_SHA512_RSA_PKCS_PSS),
        ];
        for m in &mechs {
            let mut s = sign_op(m, &sk, false).unwrap();
            s.update(b"ab").unwrap();
            s.update(b"c").unwrap();
            let sig = s.sign().unwrap();
            assert_eq!(sig.len(), 256);
            let mut v = sign_op(m, &pk, true).unwrap();
            v.update(b"abc").unwrap();
            v.verify(&sig).unwrap();
            let mut v = sign_op(m, &pk, true).unwrap();
            v.update(b"abd").unwrap();
            assert_eq!(v.verify(&sig).unwrap_err(), Error::SignatureInvalid);
            let mut v = sign_op(m, &pk, true).unwrap();
            v.update(b"abc").unwrap();
            assert_eq!(v.verify(&sig[1..]).unwrap_err(), Error::SignatureLenRange);
        }
        // PSS on a digest: the input must be a digest of the named hash.
        let m = pss(CKM_SHA256, CKG_MGF1_SHA256, 32, CKM_RSA_PKCS_PSS);
        let mut s = sign_op(&m, &sk, false).unwrap();
        s.update(&digest).unwrap();
        let sig = s.sign().unwrap();
        let mut v = sign_op(&m, &pk, true).unwrap();
        v.update(&digest).unwrap();
        v.verify(&sig).unwrap();
        let mut s = sign_op(&m, &sk, false).unwrap();
        s.update(&digest[1..]).unwrap();
        assert_eq!(s.sign().unwrap_err(), Error::DataLenRange);
        // Parameter checks.
        for bad in [
            pss(CKM_SHA256, CKG_MGF1_SHA1, 32, CKM_RSA_PKCS_PSS),
            pss(CKM_SHA_1, CKG_MGF1_SHA1, 20, CKM_SHA256_RSA_PKCS_PSS),
            pss(CKM_SHA256, CKG_MGF1_SHA256, 256, CKM_RSA_PKCS_PSS),
            pss(CKM_MD5, CKG_MGF1_SHA256, 16, CKM_RSA_PKCS_PSS),
            Mech::new(CKM_RSA_PKCS_PSS),
        ] {
            assert_eq!(
                sign_op(&bad, &sk, false).err().unwrap(),
                Error::MechanismParamInvalid,
                "{bad:?}"
            );
        }
        // Keys of the wrong kind.
        assert_eq!(
            sign_op(&mechs[0], &pk, false).err().unwrap(),
            Error::KeyTypeInconsistent
        );
        assert_eq!(
            sign_op(&mechs[0], &sk, true).err().unwrap(),
            Error::KeyTypeInconsistent
        );
    }

    #[test]
    fn raw_and_encryption() {
        let (sk, pk, _) = key_objects();
        // X.509 raw: sign then verify; encrypt then decrypt.
        let m = Mech::new(CKM_RSA_X_509);
        let mut s = sign_op(&m, &sk, false).unwrap();
        s.update(b"hello").unwrap();
        let sig = s.sign().unwrap();
        let mut v = sign_op(&m, &pk, true).unwrap();
        v.update(b"hello").unwrap();
        v.verify(&sig).unwrap();
        for mech in [
            Mech::new(CKM_RSA_PKCS),
            Mech::new(CKM_RSA_X_509),
            Mech {
                ty: CKM_RSA_PKCS_OAEP,
                param: Param::Oaep {
                    hash: CKM_SHA256,
                    mgf: CKG_MGF1_SHA256,
                    source: CKZ_DATA_SPECIFIED,
                    label: b"label".to_vec(),
                },
            },
        ] {
            let mut e = crypt_op(&mech, &pk, false).unwrap();
            let c = crypt_all(&mut *e, b"secret").unwrap();
            assert_eq!(c.len(), 256);
            let mut d = crypt_op(&mech, &sk, true).unwrap();
            let p = crypt_all(&mut *d, &c).unwrap();
            if mech.ty == CKM_RSA_X_509 {
                assert_eq!(&p[250..], b"secret");
            } else {
                assert_eq!(&p[..], b"secret");
            }
            assert_eq!(
                crypt_all(&mut *d, &c[1..]).unwrap_err(),
                Error::EncryptedDataLenRange
            );
        }
        let bad = Mech {
            ty: CKM_RSA_PKCS_OAEP,
            param: Param::Oaep {
                hash: CKM_SHA256,
                mgf: CKG_MGF1_SHA1,
                source: CKZ_DATA_SPECIFIED,
                label: vec![],
            },
        };
        assert_eq!(
            crypt_op(&bad, &sk, true).err().unwrap(),
            Error::MechanismParamInvalid
        );
        // Too long for PKCS#1 v1.5.
        let mut e = crypt_op(&Mech::new(CKM_RSA_PKCS), &pk, false).unwrap();
        assert_eq!(
            crypt_all(&mut *e, &[1u8; 246]).unwrap_err(),
            Error::DataLenRange
        );
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 is deterministic: a key and signature made by OpenSSL
    /// (`openssl dgst -sha256 -sign`, 1024-bit key, message "abc") are a known answer.
    #[test]
    fn pkcs1_sha256_known_answer() {
        let h = |s: &str| hex::decode(s).unwrap();
        let n = h("b7798946f099de664fb74a5db8d88d46d1a4650754e8b9edfa6f7c4faca8a36968b5eb878ee90292d72aa5598027f8a2d7fff3c4fd27fc557376e2e54b6bf073a3a3e214e0cd93a31e6001d7951596bf31ac6982b6e0d9bb3a1cf72622761bb1a9390682b483e4b611b784e38122b06b17bf0d82081f46232205f6d7308c7d11");
        let d = h("23da9d47fea6a2fe6d5f8d29c980900321deb55b7c6d4a40462b59289cbe0bc9028c626d8830e2aedd5b591aa75fa847f25bf34030948acc0c175479a8867c63579d80647bd346e45055f125c8999df152f99242f3f7bb3a775c3e2b920950a2911fe29f4faf1d9dc2bd75eb0632f26ae9a98e15fe5b891f2f6c77174c591bed");
        let p = h("ef46abbb384fa81b50acc2b59652f02eb8a26e8a79ee09d403049c8d5af40975fc6aca0b4453b168f6fafc03fc9761d5ff015c2ba9ac172c56980c5c579f2ebb");
        let q = h("c44c6bdc7b761708eda857c8e8af35ddfdf7e7cf46a12721abe5a6a8afbe4e0af24c6ea7b9c78d36e8d1bff929508bf8bd94dc2ed779216fe0a50e347f3f74a3");
        let want = h("272ac166bdabfaee24becbd196a5ae3866378e4467d8b3e4e1f992bbfa4f626f0ad346e64750b21889858c963ed46a81667d33c2ac411811bbc378d1177ea53dc3ddcbc8b5578fdcede0823d8715e5800d8db8f114b4b52f7825f0a08c516b4d3e3cbe77e2ecb077b61f473def0870334e1d6443dc8bcfaa8bcf062d3cc6b592");
        let e = [1, 0, 1];
        for primes in [Some((&p[..], &q[..])), None] {
            let k = RsaPrivate::from_components(&n, &e, &d, primes).unwrap();
            let mut s = sign_op(
                &Mech::new(CKM_SHA256_RSA_PKCS),
                &Arc::new(Key::RsaPrivate(k)),
                false,
            )
            .unwrap();
            s.update(b"abc").unwrap();
            assert_eq!(&s.sign().unwrap()[..], &want[..]);
        }
        let pk = Arc::new(Key::RsaPublic(RsaPublic::new(&n, &e).unwrap()));
        let mut v = sign_op(&Mech::new(CKM_SHA256_RSA_PKCS), &pk, true).unwrap();
        v.update(b"abc").unwrap();
        v.verify(&want).unwrap();
    }

    #[test]
    fn import_checks() {
        let (_, _, k) = key_objects();
        let p = k.parts();
        let base = |extra: Vec<Attribute>| {
            let mut t = vec![
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
                Attribute::new(CKA_MODULUS, p.n.clone()),
                Attribute::new(CKA_PUBLIC_EXPONENT, p.e.clone()),
            ];
            t.extend(extra);
            Object::build(&t, Origin::Create, &[]).unwrap()
        };
        // n, e, d only: the primes are recovered.
        let o = base(vec![Attribute::new(CKA_PRIVATE_EXPONENT, p.d.to_vec())]);
        super::super::validate_key(&o).unwrap();
        // Full CRT.
        let o = base(vec![
            Attribute::new(CKA_PRIVATE_EXPONENT, p.d.to_vec()),
            Attribute::new(CKA_PRIME_1, p.p.to_vec()),
            Attribute::new(CKA_PRIME_2, p.q.to_vec()),
            Attribute::new(CKA_EXPONENT_1, p.dp.to_vec()),
            Attribute::new(CKA_EXPONENT_2, p.dq.to_vec()),
            Attribute::new(CKA_COEFFICIENT, p.qinv.to_vec()),
        ]);
        super::super::validate_key(&o).unwrap();
        // A wrong d, a wrong prime, a wrong CRT exponent.
        let mut d = p.d.to_vec();
        d[10] ^= 1;
        let o = base(vec![Attribute::new(CKA_PRIVATE_EXPONENT, d)]);
        assert!(super::super::validate_key(&o).is_err());
        let mut q = p.q.to_vec();
        q[3] ^= 1;
        let o = base(vec![
            Attribute::new(CKA_PRIVATE_EXPONENT, p.d.to_vec()),
            Attribute::new(CKA_PRIME_1, p.p.to_vec()),
            Attribute::new(CKA_PRIME_2, q),
        ]);
        assert_eq!(
            super::super::validate_key(&o).unwrap_err(),
            Error::AttributeValueInvalid
        );
        let mut dp = p.dp.to_vec();
        dp[3] ^= 1;
        let o = base(vec![
            Attribute::new(CKA_PRIVATE_EXPONENT, p.d.to_vec()),
            Attribute::new(CKA_PRIME_1, p.p.to_vec()),
            Attribute::new(CKA_PRIME_2, p.q.to_vec()),
            Attribute::new(CKA_EXPONENT_1, dp),
        ]);
        assert_eq!(
            super::super::validate_key(&o).unwrap_err(),
            Error::AttributeValueInvalid
        );
    }
}
