//! Key derivation from secret keys (`C_DeriveKey`): the simple mechanisms of PKCS #11 (2.40
//! section 2.39, "Miscellaneous simple key derivation mechanisms": concatenation with another key
//! or with data, XOR with data, extraction of bits) and the hash of a key (`CKM_SHA*_KEY_DERIVATION`,
//! `CKM_SHA3_*_KEY_DERIVATION`); HKDF (PKCS #11 3.0, RFC 5869: `CKM_HKDF_DERIVE`,
//! `CKM_HKDF_DATA`, `CKM_HKDF_KEY_GEN`, `CKK_HKDF`).
//!
//! The keys these mechanisms make follow the attribute rules of their section of the spec, which
//! `ops::derive_key` applies for every mechanism [`strict`] names: a base key (or second key) that
//! is sensitive makes a sensitive key, one that is not extractable a key that is not extractable
//! (a template asking otherwise is `CKR_TEMPLATE_INCONSISTENT`). Without that rule
//! `CKM_EXTRACT_KEY_FROM_KEY`, or a concatenation with empty data, would copy a sensitive key into
//! a readable one.

use super::keys::Key;
use super::{KeyLen, Keys, Mech, MechDef, Param, ParamKind, SecretType};
use crate::crypto::{self, HashAlg, Hasher};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Every secret key type the module has: the base keys of the simple derivations.
const ANY_SECRET: &[CK_KEY_TYPE] = &[
    CKK_GENERIC_SECRET,
    CKK_AES,
    CKK_DES2,
    CKK_DES3,
    CKK_SHA_1_HMAC,
    CKK_SHA224_HMAC,
    CKK_SHA256_HMAC,
    CKK_SHA384_HMAC,
    CKK_SHA512_HMAC,
    CKK_SHA512_224_HMAC,
    CKK_SHA512_256_HMAC,
    CKK_SHA3_224_HMAC,
    CKK_SHA3_256_HMAC,
    CKK_SHA3_384_HMAC,
    CKK_SHA3_512_HMAC,
    CKK_HKDF,
];

/// The base and salt keys of HKDF.
const HKDF_KEYS: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_HKDF];

const fn simple(ty: CK_MECHANISM_TYPE, name: &'static str, param: ParamKind) -> MechDef {
    MechDef::new(ty, name, 0, 0, CKF_DERIVE)
        .param(param)
        .keys(Keys::Secret(ANY_SECRET))
        .derive(derive)
}

const fn hash(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    simple(ty, name, ParamKind::None)
}

const fn hkdf(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    MechDef::new(ty, name, 1, 512, CKF_DERIVE)
        .param(ParamKind::Hkdf)
        .keys(Keys::Secret(HKDF_KEYS))
        .derive(derive)
}

/// The key derivation family's mechanisms.
pub const MECHS: &[MechDef] = &[
    simple(
        CKM_CONCATENATE_BASE_AND_KEY,
        "CKM_CONCATENATE_BASE_AND_KEY",
        ParamKind::KeyHandle,
    ),
    simple(
        CKM_CONCATENATE_BASE_AND_DATA,
        "CKM_CONCATENATE_BASE_AND_DATA",
        ParamKind::DerivationString,
    ),
    simple(
        CKM_CONCATENATE_DATA_AND_BASE,
        "CKM_CONCATENATE_DATA_AND_BASE",
        ParamKind::DerivationString,
    ),
    simple(
        CKM_XOR_BASE_AND_DATA,
        "CKM_XOR_BASE_AND_DATA",
        ParamKind::DerivationString,
    ),
    simple(
        CKM_EXTRACT_KEY_FROM_KEY,
        "CKM_EXTRACT_KEY_FROM_KEY",
        ParamKind::Ulong,
    ),
    hash(CKM_SHA1_KEY_DERIVATION, "CKM_SHA1_KEY_DERIVATION"),
    hash(CKM_SHA224_KEY_DERIVATION, "CKM_SHA224_KEY_DERIVATION"),
    hash(CKM_SHA256_KEY_DERIVATION, "CKM_SHA256_KEY_DERIVATION"),
    hash(CKM_SHA384_KEY_DERIVATION, "CKM_SHA384_KEY_DERIVATION"),
    hash(CKM_SHA512_KEY_DERIVATION, "CKM_SHA512_KEY_DERIVATION"),
    hash(
        CKM_SHA512_224_KEY_DERIVATION,
        "CKM_SHA512_224_KEY_DERIVATION",
    ),
    hash(
        CKM_SHA512_256_KEY_DERIVATION,
        "CKM_SHA512_256_KEY_DERIVATION",
    ),
    hash(CKM_SHA3_224_KEY_DERIVATION, "CKM_SHA3_224_KEY_DERIVATION"),
    hash(CKM_SHA3_256_KEY_DERIVATION, "CKM_SHA3_256_KEY_DERIVATION"),
    hash(CKM_SHA3_384_KEY_DERIVATION, "CKM_SHA3_384_KEY_DERIVATION"),
    hash(CKM_SHA3_512_KEY_DERIVATION, "CKM_SHA3_512_KEY_DERIVATION"),
    hkdf(CKM_HKDF_DERIVE, "CKM_HKDF_DERIVE"),
    hkdf(CKM_HKDF_DATA, "CKM_HKDF_DATA"),
    MechDef::new(CKM_HKDF_KEY_GEN, "CKM_HKDF_KEY_GEN", 1, 512, CKF_GENERATE).keygen(hkdf_keygen),
    MechDef::new(CKM_PKCS5_PBKD2, "CKM_PKCS5_PBKD2", 1, 512, CKF_GENERATE)
        .param(ParamKind::Pbkd2)
        .keygen(pbkd2_keygen),
];

/// `CKK_HKDF` keys: 1 to 512 bytes, as generic secrets; the check value of keys without a cipher.
pub const KEY_TYPES: &[SecretType] = &[SecretType {
    kt: CKK_HKDF,
    lens: &[1, 512],
    range: true,
    check: super::hmac::sha1_check_value,
}];

/// The output of `CKM_HKDF_DATA` (a data object): 1 byte to HKDF's limit with SHA-512 (its
/// check value is never used).
pub static DATA_OUT: SecretType = SecretType {
    kt: CK_UNAVAILABLE_INFORMATION,
    lens: &[1, 255 * 64],
    range: true,
    check: super::hmac::sha1_check_value,
};

/// Whether `ops::derive_key` applies the inheritance rules of this family (see the module doc).
pub fn strict(ty: CK_MECHANISM_TYPE) -> bool {
    MECHS
        .iter()
        .chain(super::kbkdf::MECHS)
        .any(|m| m.ty == ty && m.derive.is_some())
}

/// CK_HKDF_PARAMS, read by the C layer. `salt` holds the salt data (`CKF_HKDF_SALT_DATA`), or the
/// salt key's value once `ops::derive_key` has read it (`CKF_HKDF_SALT_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct HkdfParams {
    pub extract: bool,
    pub expand: bool,
    pub prf: CK_MECHANISM_TYPE,
    pub salt_type: CK_ULONG,
    pub salt: Zeroizing<Vec<u8>>,
    pub salt_key: CK_OBJECT_HANDLE,
    pub info: Vec<u8>,
}

impl std::fmt::Debug for HkdfParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Hkdf(extract {}, expand {}, prf {:#x}, salt type {:#x}, salt {} bytes, info {} bytes)",
            self.extract,
            self.expand,
            self.prf,
            self.salt_type,
            self.salt.len(),
            self.info.len()
        )
    }
}

/// CK_PKCS5_PBKD2_PARAMS(2), read by the C layer; `kt` is the key type the template asks for
/// (filled by `ops::generate_key`).
#[derive(Clone, PartialEq, Eq)]
pub struct Pbkd2Params {
    pub salt_source: CK_ULONG,
    pub salt: Vec<u8>,
    pub iterations: CK_ULONG,
    pub prf: CK_ULONG,
    pub prf_data: bool,
    pub password: Zeroizing<Vec<u8>>,
    pub kt: CK_KEY_TYPE,
}

impl std::fmt::Debug for Pbkd2Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pbkd2(prf {:#x}, {} iterations, salt {} bytes)",
            self.prf,
            self.iterations,
            self.salt.len()
        )
    }
}

/// CKM_PKCS5_PBKD2 (C_GenerateKey; PKCS #5 v2.1, RFC 8018 5.2): a key of the template's type
/// (generic secret by default) and CKA_VALUE_LEN (required unless the type has one length),
/// from the password and salt (`CKZ_SALT_SPECIFIED`), with HMAC-SHA-1, -SHA-224, -SHA-256,
/// -SHA-384, -SHA-512, -SHA-512/224 or -SHA-512/256; 1 to 2^32 - 1 iterations. Anything else in
/// the parameter is `MechanismParamInvalid`.
fn pbkd2_keygen(mech: &Mech, len: Option<usize>) -> Result<(CK_KEY_TYPE, Zeroizing<Vec<u8>>)> {
    let Param::Pbkd2(p) = &mech.param else {
        return Err(Error::MechanismParamInvalid);
    };
    let alg = match p.prf {
        CKP_PKCS5_PBKD2_HMAC_SHA1 => HashAlg::Sha1,
        CKP_PKCS5_PBKD2_HMAC_SHA224 => HashAlg::Sha224,
        CKP_PKCS5_PBKD2_HMAC_SHA256 => HashAlg::Sha256,
        CKP_PKCS5_PBKD2_HMAC_SHA384 => HashAlg::Sha384,
        CKP_PKCS5_PBKD2_HMAC_SHA512 => HashAlg::Sha512,
        CKP_PKCS5_PBKD2_HMAC_SHA512_224 => HashAlg::Sha512_224,
        CKP_PKCS5_PBKD2_HMAC_SHA512_256 => HashAlg::Sha512_256,
        _ => return Err(Error::MechanismParamInvalid),
    };
    if p.salt_source != CKZ_SALT_SPECIFIED || p.prf_data {
        return Err(Error::MechanismParamInvalid);
    }
    let rounds = u32::try_from(p.iterations)
        .ok()
        .filter(|&r| r > 0)
        .ok_or(Error::MechanismParamInvalid)?;
    let st = super::secret_type(p.kt).ok_or(Error::TemplateInconsistent)?;
    let len = super::kbkdf::key_len(&KeyLen { asked: len, st })?;
    if !st.len_ok(len) {
        return Err(Error::TemplateInconsistent);
    }
    Ok((p.kt, crypto::pbkdf2(alg, &p.password, &p.salt, rounds, len)))
}

/// The hash of a `CKM_SHA*_KEY_DERIVATION` mechanism.
fn hash_of(ty: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    Some(match ty {
        CKM_SHA1_KEY_DERIVATION => HashAlg::Sha1,
        CKM_SHA224_KEY_DERIVATION => HashAlg::Sha224,
        CKM_SHA256_KEY_DERIVATION => HashAlg::Sha256,
        CKM_SHA384_KEY_DERIVATION => HashAlg::Sha384,
        CKM_SHA512_KEY_DERIVATION => HashAlg::Sha512,
        CKM_SHA512_224_KEY_DERIVATION => HashAlg::Sha512_224,
        CKM_SHA512_256_KEY_DERIVATION => HashAlg::Sha512_256,
        CKM_SHA3_224_KEY_DERIVATION => HashAlg::Sha3_224,
        CKM_SHA3_256_KEY_DERIVATION => HashAlg::Sha3_256,
        CKM_SHA3_384_KEY_DERIVATION => HashAlg::Sha3_384,
        CKM_SHA3_512_KEY_DERIVATION => HashAlg::Sha3_512,
        _ => return None,
    })
}

/// The first `len` bytes of `v`, or `TemplateInconsistent` when the key asked for is longer than
/// what the mechanism makes ("an error is generated", PKCS #11 2.40, 2.39).
fn first(v: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    v.get(..len)
        .map(|v| Zeroizing::new(v.to_vec()))
        .ok_or(Error::TemplateInconsistent)
}

fn derive(mech: &Mech, key: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    let Key::Secret(base) = &**key else {
        return Err(Error::KeyTypeInconsistent);
    };
    let b: &[u8] = &base.value;
    if let Some(alg) = hash_of(mech.ty) {
        let d = Zeroizing::new(Hasher::digest(alg, b));
        return first(&d, want.len(d.len())?);
    }
    match (mech.ty, &mech.param) {
        (CKM_CONCATENATE_BASE_AND_KEY, Param::OtherKey { value, .. }) => {
            let mut v = Zeroizing::new(Vec::with_capacity(b.len() + value.len()));
            v.extend_from_slice(b);
            v.extend_from_slice(value);
            first(&v, want.len(v.len())?)
        }
        (CKM_CONCATENATE_BASE_AND_DATA | CKM_CONCATENATE_DATA_AND_BASE, Param::Bytes(d)) => {
            let mut v = Zeroizing::new(Vec::with_capacity(b.len() + d.len()));
            if mech.ty == CKM_CONCATENATE_BASE_AND_DATA {
                v.extend_from_slice(b);
                v.extend_from_slice(d);
            } else {
                v.extend_from_slice(d);
                v.extend_from_slice(b);
            }
            first(&v, want.len(v.len())?)
        }
        (CKM_XOR_BASE_AND_DATA, Param::Bytes(d)) => {
            // As long as the shorter of the two.
            let v: Zeroizing<Vec<u8>> =
                Zeroizing::new(b.iter().zip(d.iter()).map(|(x, y)| x ^ y).collect());
            first(&v, want.len(v.len())?)
        }
        (CKM_EXTRACT_KEY_FROM_KEY, &Param::Ulong(bit)) => extract(b, bit, want),
        (CKM_HKDF_DERIVE | CKM_HKDF_DATA, Param::Hkdf(p)) => hkdf_derive(p, b, want),
        _ => Err(Error::MechanismParamInvalid),
    }
}

/// CKM_EXTRACT_KEY_FROM_KEY: `len` bytes taken from the base key's bits, numbered from 0 at the
/// most significant bit of its first byte, starting at bit `bit` and wrapping around the end (PKCS
/// #11 2.40, 2.39.5). The key asked for may not be longer than the base key
/// (`TemplateInconsistent`), nor the first bit beyond its end (`MechanismParamInvalid`).
fn extract(b: &[u8], bit: CK_ULONG, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    let bits = b.len() * 8;
    let start = usize::try_from(bit).map_err(|_| Error::MechanismParamInvalid)?;
    if start >= bits {
        return Err(Error::MechanismParamInvalid);
    }
    let len = want.len(b.len())?;
    if len > b.len() || len == 0 {
        return Err(Error::TemplateInconsistent);
    }
    let bit_at = |i: usize| (b[i / 8] >> (7 - i % 8)) & 1;
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (j, byte) in out.iter_mut().enumerate() {
        for k in 0..8 {
            *byte = (*byte << 1) | bit_at((start + 8 * j + k) % bits);
        }
    }
    Ok(out)
}

/// CKM_HKDF_DERIVE and CKM_HKDF_DATA: Extract, Expand or both (RFC 5869) with HMAC over the
/// `prfHashMechanism` digest. Extract alone makes the pseudorandom key, exactly a hash long
/// (another CKA_VALUE_LEN is `TemplateInconsistent`); Expand makes CKA_VALUE_LEN bytes (a hash
/// length by default), at most 255 hash lengths, from the base key as the pseudorandom key (at
/// least a hash long, else `KeySizeRange`) or from Extract's. Neither stage, an unknown hash or
/// salt type, or salt bytes with `CKF_HKDF_SALT_NULL` is `MechanismParamInvalid`.
fn hkdf_derive(p: &HkdfParams, ikm: &[u8], want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    let alg = super::hash_of_mech(p.prf).ok_or(Error::MechanismParamInvalid)?;
    if !p.extract && !p.expand {
        return Err(Error::MechanismParamInvalid);
    }
    let len = want.len(alg.len())?;
    if len == 0 {
        return Err(Error::TemplateInconsistent);
    }
    let prk = if p.extract {
        let salt = match p.salt_type {
            CKF_HKDF_SALT_NULL if p.salt.is_empty() => None,
            CKF_HKDF_SALT_DATA if !p.salt.is_empty() => Some(&p.salt[..]),
            CKF_HKDF_SALT_KEY => Some(&p.salt[..]),
            _ => return Err(Error::MechanismParamInvalid),
        };
        crypto::hkdf_extract(alg, salt, ikm)
    } else {
        Zeroizing::new(ikm.to_vec())
    };
    if !p.expand {
        if len != prk.len() {
            return Err(Error::TemplateInconsistent);
        }
        return Ok(prk);
    }
    crypto::hkdf_expand(alg, &prk, &p.info, len)
}

/// CKM_HKDF_KEY_GEN: a random `CKK_HKDF` key of CKA_VALUE_LEN bytes (required).
fn hkdf_keygen(_: &Mech, len: Option<usize>) -> Result<(CK_KEY_TYPE, Zeroizing<Vec<u8>>)> {
    let len = len.ok_or(Error::TemplateIncomplete)?;
    let v = super::hmac::generate(len).map_err(|_| Error::AttributeValueInvalid)?;
    Ok((CKK_HKDF, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::keys::Secret;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    fn key(v: &[u8]) -> Arc<Key> {
        Arc::new(Key::Secret(Secret::new(Zeroizing::new(v.to_vec()))))
    }

    fn len(asked: Option<usize>) -> KeyLen {
        KeyLen {
            asked,
            st: super::super::secret_type(CKK_GENERIC_SECRET).unwrap(),
        }
    }

    fn run(
        ty: CK_MECHANISM_TYPE,
        param: Param,
        base: &[u8],
        asked: Option<usize>,
    ) -> Result<Vec<u8>> {
        derive(&Mech { ty, param }, &key(base), &len(asked)).map(|v| v.to_vec())
    }

    /// The example of PKCS #11 2.40, 2.39.5: 0x329F84A9 from bit 21, two bytes, is 0x9526 (the
    /// extraction wraps around the end).
    #[test]
    fn extract_spec_example() {
        let v = run(
            CKM_EXTRACT_KEY_FROM_KEY,
            Param::Ulong(21),
            &h("329F84A9"),
            Some(2),
        )
        .unwrap();
        assert_eq!(v, h("9526"));
        // Bit 0, whole key: the key itself; bit 8: rotated by a byte.
        let b = h("0102030405");
        assert_eq!(
            run(CKM_EXTRACT_KEY_FROM_KEY, Param::Ulong(0), &b, None).unwrap(),
            b
        );
        assert_eq!(
            run(CKM_EXTRACT_KEY_FROM_KEY, Param::Ulong(8), &b, None).unwrap(),
            h("0203040501")
        );
        assert_eq!(
            run(CKM_EXTRACT_KEY_FROM_KEY, Param::Ulong(40), &b, None).unwrap_err(),
            Error::MechanismParamInvalid
        );
        assert_eq!(
            run(CKM_EXTRACT_KEY_FROM_KEY, Param::Ulong(0), &b, Some(6)).unwrap_err(),
            Error::TemplateInconsistent
        );
    }

    #[test]
    fn concatenation_xor_and_hashes() {
        let b = h("00112233");
        let d = Param::Bytes(Zeroizing::new(h("aabb")));
        assert_eq!(
            run(CKM_CONCATENATE_BASE_AND_DATA, d.clone(), &b, None).unwrap(),
            h("00112233aabb")
        );
        assert_eq!(
            run(CKM_CONCATENATE_DATA_AND_BASE, d.clone(), &b, Some(3)).unwrap(),
            h("aabb00")
        );
        assert_eq!(
            run(CKM_XOR_BASE_AND_DATA, d.clone(), &b, None).unwrap(),
            h("aaaa")
        );
        assert_eq!(
            run(CKM_XOR_BASE_AND_DATA, d, &b, Some(3)).unwrap_err(),
            Error::TemplateInconsistent
        );
        let other = Param::OtherKey {
            handle: 1,
            value: Zeroizing::new(h("ff")),
        };
        assert_eq!(
            run(CKM_CONCATENATE_BASE_AND_KEY, other, &b, None).unwrap(),
            h("00112233ff")
        );
        // SHA-256 of "abc" (FIPS 180-4), whole and truncated; longer than the hash is refused.
        let abc = b"abc";
        let want = h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            run(CKM_SHA256_KEY_DERIVATION, Param::None, abc, None).unwrap(),
            want
        );
        assert_eq!(
            run(CKM_SHA256_KEY_DERIVATION, Param::None, abc, Some(16)).unwrap(),
            want[..16]
        );
        assert_eq!(
            run(CKM_SHA256_KEY_DERIVATION, Param::None, abc, Some(33)).unwrap_err(),
            Error::TemplateInconsistent
        );
        assert_eq!(
            run(CKM_SHA3_256_KEY_DERIVATION, Param::None, abc, None).unwrap(),
            h("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        );
        // The wrong parameter for the mechanism.
        assert_eq!(
            run(CKM_CONCATENATE_BASE_AND_DATA, Param::None, &b, None).unwrap_err(),
            Error::MechanismParamInvalid
        );
    }

    fn hkdf_param(
        extract: bool,
        expand: bool,
        salt_type: CK_ULONG,
        salt: &[u8],
        info: &[u8],
    ) -> Param {
        Param::Hkdf(Box::new(HkdfParams {
            extract,
            expand,
            prf: CKM_SHA256,
            salt_type,
            salt: Zeroizing::new(salt.to_vec()),
            salt_key: 0,
            info: info.to_vec(),
        }))
    }

    /// RFC 5869 A.1 (SHA-256): both stages, Extract alone (the PRK) and Expand alone from the PRK.
    #[test]
    fn hkdf_rfc5869_case1() {
        let ikm = h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = h("000102030405060708090a0b0c");
        let info = h("f0f1f2f3f4f5f6f7f8f9");
        let prk = h("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        let okm = h(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        );
        let both = hkdf_param(true, true, CKF_HKDF_SALT_DATA, &salt, &info);
        assert_eq!(
            run(CKM_HKDF_DERIVE, both.clone(), &ikm, Some(42)).unwrap(),
            okm
        );
        let ext = hkdf_param(true, false, CKF_HKDF_SALT_DATA, &salt, &[]);
        assert_eq!(run(CKM_HKDF_DERIVE, ext.clone(), &ikm, None).unwrap(), prk);
        assert_eq!(
            run(CKM_HKDF_DERIVE, ext, &ikm, Some(16)).unwrap_err(),
            Error::TemplateInconsistent
        );
        let exp = hkdf_param(false, true, CKF_HKDF_SALT_NULL, &[], &info);
        assert_eq!(
            run(CKM_HKDF_DERIVE, exp.clone(), &prk, Some(42)).unwrap(),
            okm
        );
        // A PRK shorter than the hash.
        assert_eq!(
            run(CKM_HKDF_DERIVE, exp.clone(), &prk[..31], Some(42)).unwrap_err(),
            Error::KeySizeRange
        );
        // Beyond 255 hash lengths.
        assert_eq!(
            run(CKM_HKDF_DERIVE, exp, &prk, Some(255 * 32 + 1)).unwrap_err(),
            Error::TemplateInconsistent
        );
        // Neither stage; salt data with CKF_HKDF_SALT_NULL; no salt with CKF_HKDF_SALT_DATA; an
        // unknown salt type or hash.
        for p in [
            hkdf_param(false, false, CKF_HKDF_SALT_NULL, &[], &[]),
            hkdf_param(true, true, CKF_HKDF_SALT_NULL, &salt, &[]),
            hkdf_param(true, true, CKF_HKDF_SALT_DATA, &[], &[]),
            hkdf_param(true, true, 8, &[], &[]),
        ] {
            assert_eq!(
                run(CKM_HKDF_DERIVE, p, &ikm, Some(16)).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
        let Param::Hkdf(mut p) = both else {
            unreachable!()
        };
        p.prf = CKM_MD5;
        assert_eq!(
            run(CKM_HKDF_DERIVE, Param::Hkdf(p), &ikm, Some(16)).unwrap_err(),
            Error::MechanismParamInvalid
        );
    }
}
