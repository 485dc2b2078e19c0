//! Key objects as the backend sees them: parsing (cached per object), import validation, and the
//! DER encodings of EC parameters and points.
//!
//! Parsing an RSA key means building big integers, checking them and precomputing CRT values:
//! far too slow to do on every C_Sign. A parsed key is kept in the token's entry for the object
//! ([`crate::token::Entry::parsed`]): an entry that is replaced (attributes changed) or dropped
//! (destroyed, logout) takes its parsed key with it.

use crate::crypto::sym::{Cipher, SymKey};
use crate::crypto::{
    Curve, EcPrivate, EcPublic, Ed448Private, Ed448Public, EdPrivate, EdPublic, HashAlg, Hmac,
    HmacKey, RsaPrivate, RsaPublic, X448Private, X448Public, XPrivate, XPublic,
};
use crate::error::{Error, Result};
use crate::object::Object;
use crate::sys::secmem::{SecretBytes, SecureBox};
use crate::token::Entry;
use cryptoki_sys::*;
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// A key ready for the backend.
#[derive(Debug)]
pub enum Key {
    RsaPrivate(RsaPrivate),
    RsaPublic(RsaPublic),
    EcPrivate(EcPrivate),
    EcPublic(EcPublic),
    EdPrivate(EdPrivate),
    EdPublic(EdPublic),
    XPrivate(XPrivate),
    XPublic(XPublic),
    Ed448Private(Ed448Private),
    Ed448Public(Ed448Public),
    X448Private(X448Private),
    X448Public(X448Public),
    DsaPrivate(crate::crypto::DsaPrivate),
    DsaPublic(crate::crypto::DsaPublic),
    DhPrivate(crate::crypto::DhPrivate),
    DhPublic(crate::crypto::DhPublic),
    MlDsaPrivate(crate::crypto::MlDsaPrivate),
    MlDsaPublic(crate::crypto::MlDsaPublic),
    SlhDsaPrivate(crate::crypto::SlhDsaPrivate),
    SlhDsaPublic(crate::crypto::SlhDsaPublic),
    MlKemPrivate(crate::crypto::MlKemPrivate),
    MlKemPublic(crate::crypto::MlKemPublic),
    Secret(Secret),
}

/// A secret key value (zeroized on drop, never printed), with its keyed HMAC states and its keyed
/// block cipher. The value, the keyed HMAC states and the cipher object live in secure memory
/// (`sys::secmem`: out of core dumps, locked where allowed); what a cipher keeps behind a pointer
/// (AWS-LC's `EVP_AEAD_CTX` for AES-GCM) stays on the C heap.
pub struct Secret {
    pub value: SecretBytes,
    /// CKA_KEY_TYPE.
    pub kt: CK_KEY_TYPE,
    /// The keyed cipher of an AES or triple DES key, made on first use.
    sym: OnceLock<SecureBox<SymKey>>,
    /// Keyed HMAC state per hash, made on first use: keying is most of the cost of a short MAC,
    /// and the parsed key lives in the key cache, so each key is keyed once per hash. Each in a
    /// slot of its own, so a key that is only checked (a KCV) or used with one hash allocates
    /// nothing for the others.
    hmac: [OnceLock<SecureBox<HmacKey>>; HashAlg::ALL.len()],
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.value.len())
    }
}

impl Secret {
    pub fn new(value: Zeroizing<Vec<u8>>) -> Secret {
        Secret::typed(value, CKK_GENERIC_SECRET)
    }

    pub fn typed(value: Zeroizing<Vec<u8>>, kt: CK_KEY_TYPE) -> Secret {
        Secret {
            value: SecretBytes::new(&value),
            kt,
            sym: OnceLock::new(),
            hmac: Default::default(),
        }
    }

    /// The keyed block cipher of an AES, DES2 or DES3 key.
    pub fn sym(&self) -> Result<&SymKey> {
        if let Some(k) = self.sym.get() {
            return Ok(k);
        }
        let cipher = match self.kt {
            CKK_AES => Cipher::Aes,
            CKK_DES2 | CKK_DES3 => Cipher::Des3,
            _ => return Err(Error::KeyTypeInconsistent),
        };
        let k = SecureBox::new(SymKey::new(cipher, &self.value)?);
        crate::sys::secmem::scrub_stack();
        Ok(self.sym.get_or_init(|| k))
    }

    /// A new HMAC with `alg` under this key.
    pub fn hmac(&self, alg: HashAlg) -> Result<Hmac> {
        let i = alg as usize;
        if let Some(k) = self.hmac[i].get() {
            return Ok(k.start());
        }
        let k = SecureBox::new(HmacKey::new(alg, &self.value)?);
        crate::sys::secmem::scrub_stack();
        Ok(self.hmac[i].get_or_init(|| k).start())
    }
}

/// The parsed key of a token entry: parsed on first use and kept in the entry, so it lives exactly
/// as long as the entry (a destroyed or changed object, or a logout, drops it) and the hot path
/// takes no lock. Two threads racing on a first use may both parse; one result is kept.
pub fn parsed(entry: &Entry) -> Result<&Arc<Key>> {
    if let Some(k) = entry.parsed.get() {
        return Ok(k);
    }
    let key = Arc::new(parse(&entry.obj)?);
    // Parsing leaves key bytes in the frames it used.
    crate::sys::secmem::scrub_stack();
    Ok(entry.parsed.get_or_init(|| key))
}

fn attr(o: &Object, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
    o.get(ty).filter(|v| !v.is_empty())
}

fn need(o: &Object, ty: CK_ATTRIBUTE_TYPE) -> Result<&[u8]> {
    attr(o, ty).ok_or(Error::TemplateIncomplete)
}

/// Strips leading zero bytes of a big-endian integer.
pub fn strip(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[i..]
}

/// Parses a key object into a backend key, checking its values.
pub fn parse(o: &Object) -> Result<Key> {
    let kt = o.key_type().ok_or(Error::KeyTypeInconsistent)?;
    Ok(match (o.class(), kt) {
        (CKO_PRIVATE_KEY, CKK_RSA) => {
            let n = need(o, CKA_MODULUS)?;
            let e = need(o, CKA_PUBLIC_EXPONENT)?;
            let d = need(o, CKA_PRIVATE_EXPONENT)?;
            let primes = match (attr(o, CKA_PRIME_1), attr(o, CKA_PRIME_2)) {
                (Some(p), Some(q)) => Some((p, q)),
                (None, None) => None,
                _ => return Err(Error::TemplateInconsistent),
            };
            let k = RsaPrivate::from_components(n, e, d, primes)?;
            // CRT values given with the key must be the ones the key has.
            let parts = k.parts();
            for (ty, want) in [
                (CKA_EXPONENT_1, &parts.dp),
                (CKA_EXPONENT_2, &parts.dq),
                (CKA_COEFFICIENT, &parts.qinv),
            ] {
                if let Some(v) = attr(o, ty) {
                    if primes.is_some() && strip(v) != strip(want) {
                        return Err(Error::AttributeValueInvalid);
                    }
                }
            }
            Key::RsaPrivate(k)
        }
        (CKO_PUBLIC_KEY, CKK_RSA) => Key::RsaPublic(RsaPublic::new(
            need(o, CKA_MODULUS)?,
            need(o, CKA_PUBLIC_EXPONENT)?,
        )?),
        (CKO_PRIVATE_KEY, CKK_EC) => {
            let curve = curve_of_params(need(o, CKA_EC_PARAMS)?)?;
            Key::EcPrivate(EcPrivate::from_bytes(curve, need(o, CKA_VALUE)?)?)
        }
        (CKO_PUBLIC_KEY, CKK_EC) => {
            let curve = curve_of_params(need(o, CKA_EC_PARAMS)?)?;
            let p = point_of(curve, need(o, CKA_EC_POINT)?)?;
            Key::EcPublic(p)
        }
        (CKO_PRIVATE_KEY, CKK_EC_EDWARDS) => match edwards_params(need(o, CKA_EC_PARAMS)?)? {
            Twisted::C25519 => Key::EdPrivate(EdPrivate::from_bytes(need(o, CKA_VALUE)?)?),
            Twisted::C448 => Key::Ed448Private(Ed448Private::from_bytes(need(o, CKA_VALUE)?)?),
        },
        (CKO_PUBLIC_KEY, CKK_EC_EDWARDS) => match edwards_params(need(o, CKA_EC_PARAMS)?)? {
            Twisted::C25519 => Key::EdPublic(ed_point_of(need(o, CKA_EC_POINT)?)?),
            Twisted::C448 => Key::Ed448Public(Ed448Public::from_bytes(
                fixed_point(need(o, CKA_EC_POINT)?, crate::crypto::c448::ED448_LEN)
                    .ok_or(Error::AttributeValueInvalid)?,
            )?),
        },
        (CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY) => match montgomery_params(need(o, CKA_EC_PARAMS)?)? {
            Twisted::C25519 => Key::XPrivate(XPrivate::from_bytes(need(o, CKA_VALUE)?)?),
            Twisted::C448 => Key::X448Private(X448Private::from_bytes(need(o, CKA_VALUE)?)?),
        },
        (CKO_PUBLIC_KEY, CKK_EC_MONTGOMERY) => match montgomery_params(need(o, CKA_EC_PARAMS)?)? {
            Twisted::C25519 => Key::XPublic(x_point_of(need(o, CKA_EC_POINT)?)?),
            Twisted::C448 => Key::X448Public(X448Public::from_bytes(
                fixed_point(need(o, CKA_EC_POINT)?, crate::crypto::c448::X448_LEN)
                    .ok_or(Error::AttributeValueInvalid)?,
            )?),
        },
        (CKO_PRIVATE_KEY | CKO_PUBLIC_KEY, CKK_DSA) => {
            let params = crate::crypto::DsaParams::new(
                need(o, CKA_PRIME)?,
                need(o, CKA_SUBPRIME)?,
                need(o, CKA_BASE)?,
            )
            .map_err(|e| match e {
                Error::DomainParamsInvalid | Error::KeySizeRange => Error::AttributeValueInvalid,
                e => e,
            })?;
            let v = need(o, CKA_VALUE)?;
            if o.class() == CKO_PRIVATE_KEY {
                Key::DsaPrivate(crate::crypto::DsaPrivate::new(&params, v)?)
            } else {
                Key::DsaPublic(crate::crypto::DsaPublic::new(&params, v)?)
            }
        }
        (CKO_PRIVATE_KEY | CKO_PUBLIC_KEY, CKK_DH) => {
            let params = crate::crypto::DhParams::new(need(o, CKA_PRIME)?, need(o, CKA_BASE)?)
                .map_err(|e| match e {
                    Error::DomainParamsInvalid | Error::KeySizeRange => {
                        Error::AttributeValueInvalid
                    }
                    e => e,
                })?;
            let v = need(o, CKA_VALUE)?;
            if o.class() == CKO_PRIVATE_KEY {
                Key::DhPrivate(crate::crypto::DhPrivate::new(&params, v)?)
            } else {
                Key::DhPublic(crate::crypto::DhPublic::new(&params, v)?)
            }
        }
        (CKO_PRIVATE_KEY, CKK_ML_DSA) => {
            let set = super::mldsa::set_of(need(o, CKA_PARAMETER_SET)?)?;
            Key::MlDsaPrivate(crate::crypto::MlDsaPrivate::from_parts(
                set,
                attr(o, CKA_SEED),
                attr(o, CKA_VALUE),
            )?)
        }
        (CKO_PUBLIC_KEY, CKK_ML_DSA) => {
            let set = super::mldsa::set_of(need(o, CKA_PARAMETER_SET)?)?;
            Key::MlDsaPublic(crate::crypto::MlDsaPublic::from_bytes(
                set,
                need(o, CKA_VALUE)?,
            )?)
        }
        (CKO_PRIVATE_KEY, CKK_SLH_DSA) => {
            let set = super::slhdsa::set_of(need(o, CKA_PARAMETER_SET)?)?;
            Key::SlhDsaPrivate(crate::crypto::SlhDsaPrivate::from_bytes(
                set,
                need(o, CKA_VALUE)?,
            )?)
        }
        (CKO_PUBLIC_KEY, CKK_SLH_DSA) => {
            let set = super::slhdsa::set_of(need(o, CKA_PARAMETER_SET)?)?;
            Key::SlhDsaPublic(crate::crypto::SlhDsaPublic::from_bytes(
                set,
                need(o, CKA_VALUE)?,
            )?)
        }
        (CKO_PRIVATE_KEY, CKK_ML_KEM) => {
            let set = super::mlkem::set_of(need(o, CKA_PARAMETER_SET)?)?;
            Key::MlKemPrivate(crate::crypto::MlKemPrivate::from_parts(
                set,
                attr(o, CKA_SEED),
                attr(o, CKA_VALUE),
            )?)
        }
        (CKO_PUBLIC_KEY, CKK_ML_KEM) => {
            let set = super::mlkem::set_of(need(o, CKA_PARAMETER_SET)?)?;
            Key::MlKemPublic(crate::crypto::MlKemPublic::from_bytes(
                set,
                need(o, CKA_VALUE)?,
            )?)
        }
        (CKO_SECRET_KEY, kt) => {
            let v = o.get(CKA_VALUE).ok_or(Error::TemplateIncomplete)?;
            let st = super::secret_type(kt).ok_or(Error::KeyTypeInconsistent)?;
            if !st.len_ok(v.len()) {
                return Err(Error::AttributeValueInvalid);
            }
            Key::Secret(Secret::typed(Zeroizing::new(v.to_vec()), kt))
        }
        _ => return Err(Error::KeyTypeInconsistent),
    })
}

/// Domain parameters given to C_CreateObject are checked as a key's are (`crypto::DsaParams`,
/// `crypto::DhParams`): values that are not valid parameters, or of a size keys cannot have, are
/// `AttributeValueInvalid`.
fn validate_domain_params(o: &Object) -> Result<()> {
    let checked = match o.key_type() {
        Some(CKK_DSA) => crate::crypto::DsaParams::new(
            need(o, CKA_PRIME)?,
            need(o, CKA_SUBPRIME)?,
            need(o, CKA_BASE)?,
        )
        .map(drop),
        Some(CKK_DH) => {
            crate::crypto::DhParams::new(need(o, CKA_PRIME)?, need(o, CKA_BASE)?).map(drop)
        }
        _ => return Err(Error::TemplateInconsistent),
    };
    checked.map_err(|e| match e {
        Error::DomainParamsInvalid | Error::KeySizeRange => Error::AttributeValueInvalid,
        e => e,
    })
}

/// The key check value of a secret key (CKA_CHECK_VALUE), from its type's row.
pub fn check_value(kt: CK_KEY_TYPE, value: &[u8]) -> Result<Vec<u8>> {
    let st = super::secret_type(kt).ok_or(Error::KeyTypeInconsistent)?;
    (st.check)(value)
}

/// Checks the values of a key being imported with C_CreateObject, and returns the attributes the
/// module computes for it (CKA_PUBLIC_KEY_INFO of RSA and EC keys, when the template has none;
/// CKA_CHECK_VALUE of secret keys, which must match the template's when it gives one). Objects
/// that are not keys pass unchanged.
pub fn validate_key(o: &Object) -> Result<Vec<crate::object::Attribute>> {
    if o.class() == CKO_DOMAIN_PARAMETERS {
        validate_domain_params(o)?;
        return Ok(Vec::new());
    }
    match (o.class(), o.key_type()) {
        (
            CKO_PRIVATE_KEY | CKO_PUBLIC_KEY,
            Some(
                CKK_RSA | CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY | CKK_DSA | CKK_DH
                | CKK_ML_DSA | CKK_SLH_DSA | CKK_ML_KEM,
            ),
        )
        | (CKO_SECRET_KEY, Some(_)) => {}
        _ => return Ok(Vec::new()),
    }
    let key = parse(o)?;
    if let Key::Secret(s) = &key {
        let kcv = check_value(s.kt, &s.value)?;
        return match o.get(CKA_CHECK_VALUE) {
            // An empty value asks for no check value (PKCS#11 3.0, 4.10).
            Some([]) => Ok(Vec::new()),
            Some(given) if given != &kcv[..] => Err(Error::AttributeValueInvalid),
            _ => Ok(vec![crate::object::Attribute::new(CKA_CHECK_VALUE, kcv)]),
        };
    }
    // A public point given raw is kept as the DER OCTET STRING clients read (PKCS #11 3.0,
    // 2.3.3: CKA_EC_POINT is "DER-encoding of ANSI X9.62 ECPoint value Q").
    let mut out = Vec::new();
    if let (CKO_PUBLIC_KEY, Some(v)) = (o.class(), o.get(CKA_EC_POINT)) {
        let der = match &key {
            Key::EcPublic(k) => unwrap_octet_string(v)
                .is_some_and(|inner| EcPublic::from_sec1(k.curve(), inner).is_ok()),
            Key::EdPublic(_) => {
                unwrap_octet_string(v).is_some() && v.len() != crate::crypto::ED25519_LEN
            }
            Key::XPublic(_) => x_bytes(v).is_some_and(|u| u.len() != v.len()),
            _ => true,
        };
        if !der {
            out.push(crate::object::Attribute::new(
                CKA_EC_POINT,
                der_octet_string(v),
            ));
        }
    }
    // An ML-KEM private key given by its seed alone gets its expanded form (CKA_VALUE), which
    // PKCS #11 3.2 lists with the key and other implementations may only read.
    if let Key::MlKemPrivate(k) = &key {
        if o.get(CKA_VALUE).is_none() {
            out.push(crate::object::Attribute::new(
                CKA_VALUE,
                k.expanded().to_vec(),
            ));
        }
    }
    if o.get(CKA_PUBLIC_KEY_INFO).is_some_and(|v| !v.is_empty()) {
        return Ok(out);
    }
    let spki = match &key {
        Key::RsaPrivate(k) => k.public().spki()?,
        Key::RsaPublic(k) => k.spki()?,
        Key::EcPrivate(k) => k.public().spki()?,
        Key::EcPublic(k) => k.spki()?,
        Key::EdPrivate(k) => ed25519_spki(&k.public().bytes()),
        Key::EdPublic(k) => ed25519_spki(&k.bytes()),
        Key::XPrivate(k) => x25519_spki(&k.public().bytes()),
        Key::XPublic(k) => x25519_spki(&k.bytes()),
        Key::Ed448Private(k) => ed448_spki(&k.public().bytes()),
        Key::Ed448Public(k) => ed448_spki(&k.bytes()),
        Key::X448Private(k) => x448_spki(&k.public().bytes()),
        Key::X448Public(k) => x448_spki(&k.bytes()),
        Key::DsaPrivate(k) => k.public().spki()?,
        Key::DsaPublic(k) => k.spki()?,
        Key::MlDsaPrivate(k) => super::mldsa::spki(k.set(), k.public().bytes()),
        Key::MlDsaPublic(k) => super::mldsa::spki(k.set(), k.bytes()),
        Key::SlhDsaPrivate(k) => k.public().spki(),
        Key::SlhDsaPublic(k) => k.spki(),
        Key::MlKemPrivate(k) => super::mlkem::spki(k.set(), k.public().bytes()),
        Key::MlKemPublic(k) => super::mlkem::spki(k.set(), k.bytes()),
        // PKCS #3 keys have no SPKI the module computes (X9.42 would need q).
        Key::DhPrivate(_) | Key::DhPublic(_) => return Ok(out),
        Key::Secret(_) => return Ok(out),
    };
    out.push(crate::object::Attribute::new(CKA_PUBLIC_KEY_INFO, spki));
    Ok(out)
}

// ---- EC encodings ------------------------------------------------------------------------------

/// Each curve's named-curve OID (DER) and the names a PKCS #11 3.0 PrintableString may give
/// it (OpenSSL's, SEC 2's and FIPS 186's spellings).
type CurveRow = (Curve, &'static [u8], &'static [&'static [u8]]);
const CURVES: &[CurveRow] = &[
    (
        Curve::P224,
        &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21],
        &[b"secp224r1", b"P-224", b"nistp224"],
    ),
    (
        Curve::P256,
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        &[b"prime256v1", b"secp256r1", b"P-256", b"nistp256"],
    ),
    (
        Curve::P384,
        &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        &[b"secp384r1", b"P-384", b"nistp384"],
    ),
    (
        Curve::P521,
        &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        &[b"secp521r1", b"P-521", b"nistp521"],
    ),
    (
        Curve::Secp256k1,
        &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        &[b"secp256k1"],
    ),
    (
        Curve::BrainpoolP256r1,
        &[
            0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07,
        ],
        &[b"brainpoolP256r1"],
    ),
    (
        Curve::BrainpoolP384r1,
        &[
            0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b,
        ],
        &[b"brainpoolP384r1"],
    ),
];

#[cfg(test)]
const OID_P256: &[u8] = CURVES[1].1;

/// The named-curve OID of a curve, DER.
pub fn curve_oid(curve: Curve) -> &'static [u8] {
    CURVES
        .iter()
        .find(|c| c.0 == curve)
        .map(|c| c.1)
        .expect("every curve has a row")
}

/// The curve named by CKA_EC_PARAMS: a DER OID, a DER PrintableString with the curve's name, or
/// explicit domain parameters (a DER SEQUENCE) equal to one of the curves (`ecparams`). An
/// unknown OID or name is `CurveNotSupported`, anything else `DomainParamsInvalid`.
pub fn curve_of_params(p: &[u8]) -> Result<Curve> {
    if let Some(c) = CURVES.iter().find(|c| c.1 == p) {
        return Ok(c.0);
    }
    if p.len() >= 2 && p[0] == 0x13 && p[1] as usize == p.len() - 2 {
        return CURVES
            .iter()
            .find(|c| c.2.contains(&&p[2..]))
            .map(|c| c.0)
            .ok_or(Error::CurveNotSupported);
    }
    match p.first() {
        Some(0x06) => Err(Error::CurveNotSupported),
        Some(0x30) => super::ecparams::curve_of_explicit(p),
        _ => Err(Error::DomainParamsInvalid),
    }
}

// ---- Edwards curves (PKCS #11 3.0, CKK_EC_EDWARDS) ----------------------------------------------

/// id-Ed25519 (RFC 8410), 1.3.101.112, and id-Ed448, 1.3.101.113, as DER OIDs.
pub const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
pub const OID_ED448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];

/// Which of the RFC 7748 / RFC 8032 curves a CKK_EC_EDWARDS or CKK_EC_MONTGOMERY key is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Twisted {
    /// Ed25519 / X25519.
    C25519,
    /// Ed448 / X448.
    C448,
}

/// The curve CKA_EC_PARAMS of a CKK_EC_EDWARDS key names: Ed25519 (the OID 1.3.101.112 or the
/// PrintableString "edwards25519"; PKCS #11 3.0 allows both) or Ed448 (1.3.101.113,
/// "edwards448"). The NIST curves are `CurveNotSupported`; anything else `DomainParamsInvalid`.
pub fn edwards_params(p: &[u8]) -> Result<Twisted> {
    if p == OID_ED25519 {
        return Ok(Twisted::C25519);
    }
    if p == OID_ED448 {
        return Ok(Twisted::C448);
    }
    if p.len() >= 2 && p[0] == 0x13 && p[1] as usize == p.len() - 2 {
        return match &p[2..] {
            b"edwards25519" => Ok(Twisted::C25519),
            b"edwards448" => Ok(Twisted::C448),
            _ => Err(Error::CurveNotSupported),
        };
    }
    if p.first() == Some(&0x06) {
        return Err(Error::CurveNotSupported);
    }
    Err(Error::DomainParamsInvalid)
}

/// The public key of CKA_EC_POINT of an Ed25519 key: a DER OCTET STRING of the 32 bytes (what
/// pkcs11-tool, OpenSSL's pkcs11 provider and python-pkcs11 expect, and what the module
/// stores), or the 32 bytes raw (some clients import them so).
pub fn ed_point_of(v: &[u8]) -> Result<EdPublic> {
    match unwrap_octet_string(v) {
        Some(inner) if v.len() != crate::crypto::ED25519_LEN => EdPublic::from_bytes(inner),
        _ => EdPublic::from_bytes(v),
    }
}

/// The SubjectPublicKeyInfo of an Ed25519 public key (RFC 8410: the algorithm has no
/// parameters).
pub fn ed25519_spki(pk: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = &[
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    [PREFIX, pk].concat()
}

// ---- Montgomery curves (PKCS #11 3.0, CKK_EC_MONTGOMERY) ----------------------------------------

/// id-X25519 (RFC 8410), 1.3.101.110, and id-X448, 1.3.101.111, as DER OIDs.
pub const OID_X25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];
pub const OID_X448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6f];

/// The curve CKA_EC_PARAMS of a CKK_EC_MONTGOMERY key names: X25519 (the OID 1.3.101.110 or the
/// PrintableString "curve25519") or X448 (1.3.101.111, "curve448"). Other curves are
/// `CurveNotSupported`; anything else `DomainParamsInvalid`.
pub fn montgomery_params(p: &[u8]) -> Result<Twisted> {
    if p == OID_X25519 {
        return Ok(Twisted::C25519);
    }
    if p == OID_X448 {
        return Ok(Twisted::C448);
    }
    if p.len() >= 2 && p[0] == 0x13 && p[1] as usize == p.len() - 2 {
        return match &p[2..] {
            b"curve25519" => Ok(Twisted::C25519),
            b"curve448" => Ok(Twisted::C448),
            _ => Err(Error::CurveNotSupported),
        };
    }
    if p.first() == Some(&0x06) {
        return Err(Error::CurveNotSupported);
    }
    Err(Error::DomainParamsInvalid)
}

/// The 32 bytes of an X25519 public value: `v` raw (what key agreement peers send) or as a DER
/// OCTET STRING (as CKA_EC_POINT holds it); any other length is refused.
pub fn x_bytes(v: &[u8]) -> Option<&[u8]> {
    match unwrap_octet_string(v) {
        Some(inner) if v.len() != 32 && inner.len() == 32 => Some(inner),
        _ if v.len() == 32 => Some(v),
        _ => None,
    }
}

/// The public key of CKA_EC_POINT of an X25519 key (DER OCTET STRING of the 32 bytes, or raw).
pub fn x_point_of(v: &[u8]) -> Result<XPublic> {
    XPublic::from_bytes(x_bytes(v).ok_or(Error::AttributeValueInvalid)?)
}

/// The SubjectPublicKeyInfo of an X25519 public key (RFC 8410).
pub fn x25519_spki(u: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = &[
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
    ];
    [PREFIX, u].concat()
}

/// The `n` bytes of an Ed448 or X448 public value: `v` raw, or as a DER OCTET STRING (as
/// CKA_EC_POINT holds it); any other length is refused.
pub fn fixed_point(v: &[u8], n: usize) -> Option<&[u8]> {
    if v.len() == n {
        return Some(v);
    }
    unwrap_octet_string(v).filter(|inner| inner.len() == n)
}

/// The SubjectPublicKeyInfo of an Ed448 public key (RFC 8410).
pub fn ed448_spki(pk: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = &[
        0x30, 0x43, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x03, 0x3a, 0x00,
    ];
    [PREFIX, pk].concat()
}

/// The SubjectPublicKeyInfo of an X448 public key (RFC 8410).
pub fn x448_spki(u: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = &[
        0x30, 0x42, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f, 0x03, 0x39, 0x00,
    ];
    [PREFIX, u].concat()
}

/// DER OCTET STRING around a point.
pub fn der_octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    match v.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(v);
    out
}

/// The contents of `v` if it is exactly one DER OCTET STRING (lengths below 65536).
pub fn octet_string_contents(v: &[u8]) -> Option<&[u8]> {
    unwrap_octet_string(v)
}

/// Unwraps a DER OCTET STRING, if `v` is exactly one.
fn unwrap_octet_string(v: &[u8]) -> Option<&[u8]> {
    if v.len() < 2 || v[0] != 0x04 {
        return None;
    }
    let (len, hdr) = match v[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 if v.len() >= 3 => (v[2] as usize, 3),
        0x82 if v.len() >= 4 => (((v[2] as usize) << 8) | v[3] as usize, 4),
        _ => return None,
    };
    (v.len() == hdr + len).then(|| &v[hdr..])
}

/// The public point of CKA_EC_POINT: DER OCTET STRING of the SEC 1 point, or the raw point.
pub fn point_of(curve: Curve, v: &[u8]) -> Result<EcPublic> {
    if let Some(inner) = unwrap_octet_string(v) {
        if let Ok(p) = EcPublic::from_sec1(curve, inner) {
            return Ok(p);
        }
    }
    EcPublic::from_sec1(curve, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_params() {
        for c in Curve::ALL {
            assert_eq!(curve_of_params(curve_oid(c)).unwrap(), c);
        }
        assert_eq!(curve_of_params(OID_P256).unwrap(), Curve::P256);
        let mut s = vec![0x13, 10];
        s.extend_from_slice(b"prime256v1");
        assert_eq!(curve_of_params(&s).unwrap(), Curve::P256);
        let mut s = vec![0x13, 9];
        s.extend_from_slice(b"secp384r1");
        assert_eq!(curve_of_params(&s).unwrap(), Curve::P384);
        let mut s = vec![0x13, 15];
        s.extend_from_slice(b"brainpoolP256r1");
        assert_eq!(curve_of_params(&s).unwrap(), Curve::BrainpoolP256r1);
        // brainpoolP512r1 and prime192v1: valid OIDs, not supported.
        assert_eq!(
            curve_of_params(&[0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0d])
                .unwrap_err(),
            Error::CurveNotSupported
        );
        assert_eq!(
            curve_of_params(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01])
                .unwrap_err(),
            Error::CurveNotSupported
        );
        let mut s = vec![0x13, 15];
        s.extend_from_slice(b"brainpoolP512r1");
        assert_eq!(curve_of_params(&s).unwrap_err(), Error::CurveNotSupported);
        assert_eq!(
            curve_of_params(&[1, 2, 3]).unwrap_err(),
            Error::DomainParamsInvalid
        );
        assert_eq!(
            curve_of_params(&[]).unwrap_err(),
            Error::DomainParamsInvalid
        );
    }

    #[test]
    fn ec_points_both_forms() {
        for c in Curve::ALL {
            let k = crate::crypto::ec_generate(c);
            let raw = k.public().point();
            assert_eq!(raw.len(), 2 * c.field_len() + 1);
            let der = der_octet_string(&raw);
            assert_eq!(unwrap_octet_string(&der).unwrap(), &raw[..]);
            assert_eq!(point_of(c, &der).unwrap().point(), raw);
            assert_eq!(point_of(c, &raw).unwrap().point(), raw);
            let mut bad = raw.clone();
            bad[5] ^= 1;
            assert!(point_of(c, &bad).is_err());
        }
    }
}
