//! The stored form of an attribute whose value is a template (`CKA_WRAP_TEMPLATE`,
//! `CKA_UNWRAP_TEMPLATE`, `CKA_DERIVE_TEMPLATE`: an array of `CK_ATTRIBUTE` in the C API).
//!
//! The C layer turns the caller's array into one byte string, and back for
//! `C_GetAttributeValue`; the core and the store only see the byte string. Encoding, version 1:
//!
//! ```text
//! empty                      the empty template (the default value, and what earlier versions stored)
//! 0x01                       version
//! count                      number of attributes (u32, little-endian), at least 1
//! then per attribute:        type (u64, little-endian) | length (u32, little-endian) | value
//! ```
//!
//! The form is canonical, so equal templates have equal bytes (C_FindObjects compares them as
//! bytes): attributes sorted by type, each type once, every value well-formed for its type with
//! booleans as 0 or 1. A template inside a template is refused.

use super::rules::{self, Kind};
use crate::error::{Error, Result};
use cryptoki_sys::*;

const VERSION: u8 = 1;
const HEADER: usize = 8 + 4;

/// Encodes a template into its canonical stored form: values checked and normalised, sorted by
/// type; a type given twice with different values is `TemplateInconsistent`.
pub fn encode(attrs: &[(CK_ATTRIBUTE_TYPE, &[u8])]) -> Result<Vec<u8>> {
    if attrs.is_empty() {
        return Ok(Vec::new());
    }
    let mut v: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = Vec::with_capacity(attrs.len());
    for &(ty, value) in attrs {
        let kind = rules::kind(ty).ok_or(Error::AttributeTypeInvalid)?;
        let value = match kind {
            Kind::AttrList => return Err(Error::AttributeValueInvalid),
            Kind::Bool if value.len() == 1 => vec![(value[0] != 0) as u8],
            _ => value.to_vec(),
        };
        check_inner(kind, &value)?;
        v.push((ty, value));
    }
    v.sort_by_key(|(t, _)| *t);
    v.dedup();
    if v.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::TemplateInconsistent);
    }
    let mut out = vec![VERSION];
    let count = u32::try_from(v.len()).map_err(|_| Error::AttributeValueInvalid)?;
    out.extend_from_slice(&count.to_le_bytes());
    for (ty, value) in &v {
        let len = u32::try_from(value.len()).map_err(|_| Error::AttributeValueInvalid)?;
        // CK_ULONG is 32 bits on some platforms: the stored form is always 64.
        #[allow(clippy::unnecessary_cast)]
        out.extend_from_slice(&(*ty as u64).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

fn check_inner(kind: Kind, v: &[u8]) -> Result<()> {
    let ok = match kind {
        Kind::Bool => v.len() == 1 && v[0] <= 1,
        Kind::Ulong => v.len() == std::mem::size_of::<CK_ULONG>(),
        Kind::Bytes => true,
        Kind::Date => v.is_empty() || (v.len() == 8 && v.iter().all(u8::is_ascii_digit)),
        Kind::MechList => v.len().is_multiple_of(std::mem::size_of::<CK_ULONG>()),
        Kind::AttrList => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::AttributeValueInvalid)
    }
}

/// Decodes a stored template, checking that it is canonical (a damaged or foreign value is
/// `AttributeValueInvalid`).
pub fn decode(v: &[u8]) -> Result<Vec<(CK_ATTRIBUTE_TYPE, &[u8])>> {
    let bad = Error::AttributeValueInvalid;
    let Some((&version, mut rest)) = v.split_first() else {
        return Ok(Vec::new());
    };
    if version != VERSION || rest.len() < 4 {
        return Err(bad);
    }
    let count = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
    rest = &rest[4..];
    let mut out: Vec<(CK_ATTRIBUTE_TYPE, &[u8])> = Vec::new();
    while !rest.is_empty() {
        if rest.len() < HEADER {
            return Err(bad);
        }
        let ty = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let ty = CK_ATTRIBUTE_TYPE::try_from(ty).map_err(|_| bad.clone())?;
        let len = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes")) as usize;
        if rest.len() - HEADER < len {
            return Err(bad);
        }
        let value = &rest[HEADER..HEADER + len];
        rest = &rest[HEADER + len..];
        if out.last().is_some_and(|(t, _)| *t >= ty) {
            return Err(bad);
        }
        let kind = rules::kind(ty).ok_or(bad.clone())?;
        check_inner(kind, value)?;
        out.push((ty, value));
    }
    if out.is_empty() || out.len() != count {
        // The empty template is stored empty; a cut at an attribute's end shows in the count.
        return Err(bad);
    }
    Ok(out)
}

/// Whether `ty` holds a template.
pub fn is_attr_list(ty: CK_ATTRIBUTE_TYPE) -> bool {
    rules::kind(ty) == Some(Kind::AttrList)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_canonical() {
        let t = CK_ULONG::to_ne_bytes(CKK_AES);
        let e = encode(&[
            (CKA_SENSITIVE, &[7][..]),
            (CKA_KEY_TYPE, &t[..]),
            (CKA_LABEL, b"x"),
        ])
        .unwrap();
        let d = decode(&e).unwrap();
        assert_eq!(
            d,
            vec![
                (CKA_LABEL, &b"x"[..]),
                (CKA_KEY_TYPE, &t[..]),
                (CKA_SENSITIVE, &[1][..]),
            ]
        );
        // Same template in another order, same bytes.
        let e2 = encode(&[
            (CKA_LABEL, b"x"),
            (CKA_SENSITIVE, &[1][..]),
            (CKA_KEY_TYPE, &t[..]),
        ])
        .unwrap();
        assert_eq!(e, e2);
        assert!(encode(&[]).unwrap().is_empty());
        assert!(decode(&[]).unwrap().is_empty());
    }

    #[test]
    fn refusals() {
        assert_eq!(
            encode(&[(CKA_WRAP_TEMPLATE, &[][..])]).unwrap_err(),
            Error::AttributeValueInvalid
        );
        assert_eq!(
            encode(&[(0x0fff, &[][..])]).unwrap_err(),
            Error::AttributeTypeInvalid
        );
        assert_eq!(
            encode(&[(CKA_SENSITIVE, &[1][..]), (CKA_SENSITIVE, &[0][..])]).unwrap_err(),
            Error::TemplateInconsistent
        );
        assert_eq!(
            encode(&[(CKA_KEY_TYPE, &[1, 2][..])]).unwrap_err(),
            Error::AttributeValueInvalid
        );
        let e = encode(&[(CKA_SENSITIVE, &[1][..]), (CKA_LABEL, b"ab")]).unwrap();
        for cut in 1..e.len() {
            assert!(decode(&e[..cut]).is_err(), "truncated at {cut}");
        }
        let mut bad = e.clone();
        bad[0] = 2;
        assert!(decode(&bad).is_err());
        assert!(decode(&[VERSION]).is_err());
    }
}
