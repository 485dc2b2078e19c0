//! HMAC with SHA-1, SHA-2 (with SHA-512/224 and SHA-512/256) and SHA-3 (full and general
//! length), and secret key generation.

use super::keys::Key;
use super::{Keys, Mech, MechDef, Param, ParamKind, SecretType, SignOp};
use crate::crypto::{self, HashAlg, Hasher};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

const fn mac(ty: CK_MECHANISM_TYPE, name: &'static str, keys: &'static [CK_KEY_TYPE]) -> MechDef {
    MechDef::new(ty, name, 1, 512, SV)
        .keys(Keys::Secret(keys))
        .sign(sign_op_any)
}

const fn general(
    ty: CK_MECHANISM_TYPE,
    name: &'static str,
    keys: &'static [CK_KEY_TYPE],
) -> MechDef {
    mac(ty, name, keys).param(ParamKind::MacGeneral)
}

const fn gen(ty: CK_MECHANISM_TYPE, name: &'static str, min: CK_ULONG, max: CK_ULONG) -> MechDef {
    MechDef::new(ty, name, min, max, CKF_GENERATE).keygen(keygen)
}

const SHA1: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA_1_HMAC];
const SHA224: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA224_HMAC];
const SHA256: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA256_HMAC];
const SHA384: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA384_HMAC];
const SHA512: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA512_HMAC];
const SHA512_224: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA512_224_HMAC];
const SHA512_256: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA512_256_HMAC];
const SHA3_224: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA3_224_HMAC];
const SHA3_256: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA3_256_HMAC];
const SHA3_384: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA3_384_HMAC];
const SHA3_512: &[CK_KEY_TYPE] = &[CKK_GENERIC_SECRET, CKK_SHA3_512_HMAC];

/// The HMAC family's mechanisms: the MACs, and generic and HMAC secret key generation (generic
/// in bits, as the spec has it; the SHA-n key generations in bytes).
pub const MECHS: &[MechDef] = &[
    gen(
        CKM_GENERIC_SECRET_KEY_GEN,
        "CKM_GENERIC_SECRET_KEY_GEN",
        8,
        4096,
    ),
    gen(CKM_SHA_1_KEY_GEN, "CKM_SHA_1_KEY_GEN", 1, 512),
    gen(CKM_SHA224_KEY_GEN, "CKM_SHA224_KEY_GEN", 1, 512),
    gen(CKM_SHA256_KEY_GEN, "CKM_SHA256_KEY_GEN", 1, 512),
    gen(CKM_SHA384_KEY_GEN, "CKM_SHA384_KEY_GEN", 1, 512),
    gen(CKM_SHA512_KEY_GEN, "CKM_SHA512_KEY_GEN", 1, 512),
    mac(CKM_SHA_1_HMAC, "CKM_SHA_1_HMAC", SHA1),
    general(CKM_SHA_1_HMAC_GENERAL, "CKM_SHA_1_HMAC_GENERAL", SHA1),
    mac(CKM_SHA224_HMAC, "CKM_SHA224_HMAC", SHA224),
    general(CKM_SHA224_HMAC_GENERAL, "CKM_SHA224_HMAC_GENERAL", SHA224),
    mac(CKM_SHA256_HMAC, "CKM_SHA256_HMAC", SHA256),
    general(CKM_SHA256_HMAC_GENERAL, "CKM_SHA256_HMAC_GENERAL", SHA256),
    mac(CKM_SHA384_HMAC, "CKM_SHA384_HMAC", SHA384),
    general(CKM_SHA384_HMAC_GENERAL, "CKM_SHA384_HMAC_GENERAL", SHA384),
    mac(CKM_SHA512_HMAC, "CKM_SHA512_HMAC", SHA512),
    general(CKM_SHA512_HMAC_GENERAL, "CKM_SHA512_HMAC_GENERAL", SHA512),
    gen(CKM_SHA512_224_KEY_GEN, "CKM_SHA512_224_KEY_GEN", 1, 512),
    gen(CKM_SHA512_256_KEY_GEN, "CKM_SHA512_256_KEY_GEN", 1, 512),
    mac(CKM_SHA512_224_HMAC, "CKM_SHA512_224_HMAC", SHA512_224),
    general(
        CKM_SHA512_224_HMAC_GENERAL,
        "CKM_SHA512_224_HMAC_GENERAL",
        SHA512_224,
    ),
    mac(CKM_SHA512_256_HMAC, "CKM_SHA512_256_HMAC", SHA512_256),
    general(
        CKM_SHA512_256_HMAC_GENERAL,
        "CKM_SHA512_256_HMAC_GENERAL",
        SHA512_256,
    ),
    gen(CKM_SHA3_224_KEY_GEN, "CKM_SHA3_224_KEY_GEN", 1, 512),
    gen(CKM_SHA3_256_KEY_GEN, "CKM_SHA3_256_KEY_GEN", 1, 512),
    gen(CKM_SHA3_384_KEY_GEN, "CKM_SHA3_384_KEY_GEN", 1, 512),
    gen(CKM_SHA3_512_KEY_GEN, "CKM_SHA3_512_KEY_GEN", 1, 512),
    mac(CKM_SHA3_224_HMAC, "CKM_SHA3_224_HMAC", SHA3_224),
    general(
        CKM_SHA3_224_HMAC_GENERAL,
        "CKM_SHA3_224_HMAC_GENERAL",
        SHA3_224,
    ),
    mac(CKM_SHA3_256_HMAC, "CKM_SHA3_256_HMAC", SHA3_256),
    general(
        CKM_SHA3_256_HMAC_GENERAL,
        "CKM_SHA3_256_HMAC_GENERAL",
        SHA3_256,
    ),
    mac(CKM_SHA3_384_HMAC, "CKM_SHA3_384_HMAC", SHA3_384),
    general(
        CKM_SHA3_384_HMAC_GENERAL,
        "CKM_SHA3_384_HMAC_GENERAL",
        SHA3_384,
    ),
    mac(CKM_SHA3_512_HMAC, "CKM_SHA3_512_HMAC", SHA3_512),
    general(
        CKM_SHA3_512_HMAC_GENERAL,
        "CKM_SHA3_512_HMAC_GENERAL",
        SHA3_512,
    ),
];

const fn secret(kt: CK_KEY_TYPE) -> SecretType {
    SecretType {
        kt,
        lens: &[1, 512],
        range: true,
        check: sha1_check_value,
    }
}

/// Generic secret and HMAC keys: 1 to 512 bytes.
pub const KEY_TYPES: &[SecretType] = &[
    secret(CKK_GENERIC_SECRET),
    secret(CKK_SHA_1_HMAC),
    secret(CKK_SHA224_HMAC),
    secret(CKK_SHA256_HMAC),
    secret(CKK_SHA384_HMAC),
    secret(CKK_SHA512_HMAC),
    secret(CKK_SHA512_224_HMAC),
    secret(CKK_SHA512_256_HMAC),
    secret(CKK_SHA3_224_HMAC),
    secret(CKK_SHA3_256_HMAC),
    secret(CKK_SHA3_384_HMAC),
    secret(CKK_SHA3_512_HMAC),
];

/// The key check value of keys with no cipher of their own: the first three bytes of the SHA-1
/// of the value (PKCS#11 3.0, 4.10).
pub fn sha1_check_value(v: &[u8]) -> Result<Vec<u8>> {
    Ok(Hasher::digest(HashAlg::Sha1, v)[..3].to_vec())
}

fn sign_op_any(mech: &Mech, key: &Arc<Key>, _verify: bool) -> Result<Box<dyn SignOp>> {
    sign_op(mech, key)
}

/// (hash, general) of the HMAC mechanisms.
fn shape(ty: CK_MECHANISM_TYPE) -> Option<(HashAlg, bool)> {
    Some(match ty {
        CKM_SHA_1_HMAC => (HashAlg::Sha1, false),
        CKM_SHA_1_HMAC_GENERAL => (HashAlg::Sha1, true),
        CKM_SHA224_HMAC => (HashAlg::Sha224, false),
        CKM_SHA224_HMAC_GENERAL => (HashAlg::Sha224, true),
        CKM_SHA256_HMAC => (HashAlg::Sha256, false),
        CKM_SHA256_HMAC_GENERAL => (HashAlg::Sha256, true),
        CKM_SHA384_HMAC => (HashAlg::Sha384, false),
        CKM_SHA384_HMAC_GENERAL => (HashAlg::Sha384, true),
        CKM_SHA512_HMAC => (HashAlg::Sha512, false),
        CKM_SHA512_HMAC_GENERAL => (HashAlg::Sha512, true),
        CKM_SHA512_224_HMAC => (HashAlg::Sha512_224, false),
        CKM_SHA512_224_HMAC_GENERAL => (HashAlg::Sha512_224, true),
        CKM_SHA512_256_HMAC => (HashAlg::Sha512_256, false),
        CKM_SHA512_256_HMAC_GENERAL => (HashAlg::Sha512_256, true),
        CKM_SHA3_224_HMAC => (HashAlg::Sha3_224, false),
        CKM_SHA3_224_HMAC_GENERAL => (HashAlg::Sha3_224, true),
        CKM_SHA3_256_HMAC => (HashAlg::Sha3_256, false),
        CKM_SHA3_256_HMAC_GENERAL => (HashAlg::Sha3_256, true),
        CKM_SHA3_384_HMAC => (HashAlg::Sha3_384, false),
        CKM_SHA3_384_HMAC_GENERAL => (HashAlg::Sha3_384, true),
        CKM_SHA3_512_HMAC => (HashAlg::Sha3_512, false),
        CKM_SHA3_512_HMAC_GENERAL => (HashAlg::Sha3_512, true),
        _ => return None,
    })
}

/// The HMAC key type that goes with a hash.
pub fn key_type_of(h: HashAlg) -> CK_KEY_TYPE {
    match h {
        HashAlg::Sha1 => CKK_SHA_1_HMAC,
        HashAlg::Sha224 => CKK_SHA224_HMAC,
        HashAlg::Sha256 => CKK_SHA256_HMAC,
        HashAlg::Sha384 => CKK_SHA384_HMAC,
        HashAlg::Sha512 => CKK_SHA512_HMAC,
        HashAlg::Sha512_224 => CKK_SHA512_224_HMAC,
        HashAlg::Sha512_256 => CKK_SHA512_256_HMAC,
        HashAlg::Sha3_224 => CKK_SHA3_224_HMAC,
        HashAlg::Sha3_256 => CKK_SHA3_256_HMAC,
        HashAlg::Sha3_384 => CKK_SHA3_384_HMAC,
        HashAlg::Sha3_512 => CKK_SHA3_512_HMAC,
    }
}

pub struct HmacSign {
    mac: crypto::Hmac,
    len: usize,
}

pub fn sign_op(mech: &Mech, key: &Key) -> Result<Box<dyn SignOp>> {
    let (h, general) = shape(mech.ty).ok_or(Error::MechanismInvalid)?;
    let len = match (general, &mech.param) {
        (false, _) => h.len(),
        (true, Param::MacLen(n)) if (1..=h.len() as CK_ULONG).contains(n) => *n as usize,
        (true, _) => return Err(Error::MechanismParamInvalid),
    };
    let Key::Secret(s) = key else {
        return Err(Error::KeyTypeInconsistent);
    };
    Ok(Box::new(HmacSign {
        mac: s.hmac(h)?,
        len,
    }))
}

impl SignOp for HmacSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.mac.update(data);
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.len
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let mut m = self.mac.finalize();
        m.truncate(self.len);
        Ok(m)
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        if sig.len() != self.len {
            return Err(Error::SignatureLenRange);
        }
        self.mac.verify_truncated(sig)
    }
}

/// C_GenerateKey for generic secret and HMAC keys: CKA_VALUE_LEN bytes, or the hash's length.
fn keygen(mech: &Mech, len: Option<usize>) -> Result<(CK_KEY_TYPE, Zeroizing<Vec<u8>>)> {
    let (kt, default_len) = keygen_shape(mech.ty).ok_or(Error::MechanismInvalid)?;
    let len = len.or(default_len).ok_or(Error::TemplateIncomplete)?;
    let value = generate(len).map_err(|_| Error::AttributeValueInvalid)?;
    Ok((kt, value))
}

/// The key type and default length (bytes) made by a secret key generation mechanism.
fn keygen_shape(ty: CK_MECHANISM_TYPE) -> Option<(CK_KEY_TYPE, Option<usize>)> {
    Some(match ty {
        CKM_GENERIC_SECRET_KEY_GEN => (CKK_GENERIC_SECRET, None),
        CKM_SHA_1_KEY_GEN => (CKK_SHA_1_HMAC, Some(20)),
        CKM_SHA224_KEY_GEN => (CKK_SHA224_HMAC, Some(28)),
        CKM_SHA256_KEY_GEN => (CKK_SHA256_HMAC, Some(32)),
        CKM_SHA384_KEY_GEN => (CKK_SHA384_HMAC, Some(48)),
        CKM_SHA512_KEY_GEN => (CKK_SHA512_HMAC, Some(64)),
        CKM_SHA512_224_KEY_GEN => (CKK_SHA512_224_HMAC, Some(28)),
        CKM_SHA512_256_KEY_GEN => (CKK_SHA512_256_HMAC, Some(32)),
        CKM_SHA3_224_KEY_GEN => (CKK_SHA3_224_HMAC, Some(28)),
        CKM_SHA3_256_KEY_GEN => (CKK_SHA3_256_HMAC, Some(32)),
        CKM_SHA3_384_KEY_GEN => (CKK_SHA3_384_HMAC, Some(48)),
        CKM_SHA3_512_KEY_GEN => (CKK_SHA3_512_HMAC, Some(64)),
        _ => return None,
    })
}

/// A fresh random secret of `len` bytes.
pub fn generate(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    if !(1..=512).contains(&len) {
        return Err(Error::KeySizeRange);
    }
    let mut v = Zeroizing::new(vec![0u8; len]);
    crypto::random(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::keys::Secret;

    fn mac(ty: CK_MECHANISM_TYPE, param: Param, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        let k = Key::Secret(Secret::new(Zeroizing::new(key.to_vec())));
        let mut op = sign_op(&Mech { ty, param }, &k)?;
        op.update(data)?;
        Ok(op.sign()?.to_vec())
    }

    /// RFC 4231 test cases 1, 2 and 6 (key longer than a block).
    #[test]
    fn rfc4231() {
        let cases: [(Vec<u8>, &[u8], [&str; 4]); 3] = [
            (
                vec![0x0b; 20],
                b"Hi There",
                [
                    "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                    "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                ],
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?",
                [
                    "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                ],
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                [
                    "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                    "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
                ],
            ),
        ];
        for (key, data, want) in cases {
            for (ty, w) in [
                CKM_SHA224_HMAC,
                CKM_SHA256_HMAC,
                CKM_SHA384_HMAC,
                CKM_SHA512_HMAC,
            ]
            .into_iter()
            .zip(want)
            {
                assert_eq!(hex::encode(mac(ty, Param::None, &key, data).unwrap()), w);
            }
        }
        // RFC 2202 test case 2 for SHA-1.
        assert_eq!(
            hex::encode(
                mac(
                    CKM_SHA_1_HMAC,
                    Param::None,
                    b"Jefe",
                    b"what do ya want for nothing?"
                )
                .unwrap()
            ),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn general_length_and_verify() {
        let key = [7u8; 32];
        let full = mac(CKM_SHA256_HMAC, Param::None, &key, b"x").unwrap();
        let short = mac(CKM_SHA256_HMAC_GENERAL, Param::MacLen(12), &key, b"x").unwrap();
        assert_eq!(short, full[..12]);
        for bad in [Param::MacLen(0), Param::MacLen(33), Param::None] {
            assert_eq!(
                mac(CKM_SHA256_HMAC_GENERAL, bad, &key, b"x").unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
        let k = Key::Secret(Secret::new(Zeroizing::new(key.to_vec())));
        let m = Mech {
            ty: CKM_SHA256_HMAC_GENERAL,
            param: Param::MacLen(12),
        };
        let mut v = sign_op(&m, &k).unwrap();
        v.update(b"x").unwrap();
        v.verify(&short).unwrap();
        let mut v = sign_op(&m, &k).unwrap();
        v.update(b"y").unwrap();
        assert_eq!(v.verify(&short).unwrap_err(), Error::SignatureInvalid);
        let mut v = sign_op(&m, &k).unwrap();
        v.update(b"x").unwrap();
        assert_eq!(v.verify(&full).unwrap_err(), Error::SignatureLenRange);
        let fits = |kt| {
            crate::mechanism::all()
                .find(|m| m.ty == CKM_SHA256_HMAC)
                .unwrap()
                .keys
                .fits(CKO_SECRET_KEY, kt)
        };
        assert!(fits(CKK_GENERIC_SECRET));
        assert!(fits(CKK_SHA256_HMAC));
        assert!(!fits(CKK_SHA_1_HMAC));
        assert!(!fits(CKK_AES));
    }
}
