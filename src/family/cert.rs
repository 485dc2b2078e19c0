//! The self-signed X.509 certificate a rotation can make for a new version (CKA_FERROHSM_KEY_CERT),
//! so that applications that list private keys only with a certificate of the same CKA_ID (Java's
//! SunPKCS11 KeyStore) see the version, under the family name while it is the newest.
//!
//! Subject and issuer CN=<kid>, a random serial, valid from now for 10 years, the version's public
//! key; signed with the new private key (sha256WithRSAEncryption, ECDSA with the curve's hash, or
//! Ed25519).

use crate::error::{Error, Result};
use crate::mechanism::keys::Key;
use crate::mechanism::{ec, rsa, Mech};
use crate::object::{Attribute, Object, Origin};
use cryptoki_sys::*;
use der::asn1::{BitString, SetOfVec, UintRef, Utf8StringRef};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ECDSA_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const TEN_YEARS: u64 = 10 * 365 * 86_400;

fn der_err(_: der::Error) -> Error {
    Error::GeneralError
}

fn name(cn: &str) -> Result<RdnSequence> {
    let value = Any::encode_from(&Utf8StringRef::new(cn).map_err(der_err)?).map_err(der_err)?;
    let atv = AttributeTypeAndValue { oid: CN, value };
    let rdn = RelativeDistinguishedName(SetOfVec::try_from(vec![atv]).map_err(der_err)?);
    Ok(RdnSequence(vec![rdn]))
}

/// `SEQUENCE { INTEGER r, INTEGER s }` of a PKCS#11 `r || s` signature.
fn ecdsa_der(rs: &[u8]) -> Result<Vec<u8>> {
    let (r, s) = rs.split_at(rs.len() / 2);
    let mut body = UintRef::new(r)
        .map_err(der_err)?
        .to_der()
        .map_err(der_err)?;
    body.extend(
        UintRef::new(s)
            .map_err(der_err)?
            .to_der()
            .map_err(der_err)?,
    );
    let len = der::Length::try_from(body.len()).map_err(der_err)?;
    let mut out = der::Header::new(der::Tag::Sequence, len)
        .map_err(der_err)?
        .to_der()
        .map_err(der_err)?;
    out.extend(body);
    Ok(out)
}

/// The certificate object (without ID, label or family attributes: the caller sets them) of the
/// key pair whose private key is `key` / `private`.
pub fn self_signed(key: &Arc<Key>, private: &Object, kid: &str, now: u64) -> Result<Object> {
    let spki_der = private
        .get(CKA_PUBLIC_KEY_INFO)
        .filter(|v| !v.is_empty())
        .ok_or(Error::TemplateIncomplete)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(der_err)?;
    let (alg_oid, params, mech) = match &**key {
        Key::RsaPrivate(_) => (SHA256_RSA, Some(Any::null()), CKM_SHA256_RSA_PKCS),
        // The hash of the curve's size (P-224: SHA-224; 256-bit curves: SHA-256; ...).
        Key::EcPrivate(k) => match k.curve().bits() {
            224 => (ECDSA_SHA224, None, CKM_ECDSA_SHA224),
            256 => (ECDSA_SHA256, None, CKM_ECDSA_SHA256),
            384 => (ECDSA_SHA384, None, CKM_ECDSA_SHA384),
            _ => (ECDSA_SHA512, None, CKM_ECDSA_SHA512),
        },
        // RFC 8410, 6: id-Ed25519, no parameters; pure Ed25519 over the TBSCertificate.
        Key::EdPrivate(_) => (ED25519, None, CKM_EDDSA),
        _ => return Err(Error::KeyTypeInconsistent),
    };
    let alg = AlgorithmIdentifierOwned {
        oid: alg_oid,
        parameters: params,
    };
    let mut serial = [0u8; 16];
    crate::vault::random(&mut serial)?;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let time = |secs: u64| Time::try_from(UNIX_EPOCH + Duration::from_secs(secs)).map_err(der_err);
    let subject = name(kid)?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).map_err(der_err)?,
        signature: alg.clone(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: time(now)?,
            not_after: time(now + TEN_YEARS)?,
        },
        subject: subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let tbs_der = tbs.to_der().map_err(der_err)?;
    let m = Mech::new(mech);
    let sig = match &**key {
        Key::EdPrivate(k) => k.sign(&tbs_der)?,
        Key::RsaPrivate(_) => {
            let mut op = rsa::sign_op(&m, key, false)?;
            op.update(&tbs_der)?;
            op.sign()?.to_vec()
        }
        _ => {
            let mut op = ec::sign_op(&m, key, false)?;
            op.update(&tbs_der)?;
            ecdsa_der(&op.sign()?)?
        }
    };
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&sig).map_err(der_err)?,
    };
    let value = cert.to_der().map_err(der_err)?;
    let subject_der = subject.to_der().map_err(der_err)?;
    let serial_der = cert
        .tbs_certificate
        .serial_number
        .to_der()
        .map_err(der_err)?;
    Object::build(
        &[
            Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
            Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
            Attribute::bool(CKA_TOKEN, true),
            Attribute::bool(CKA_PRIVATE, false),
            Attribute::new(CKA_SUBJECT, subject_der.clone()),
            Attribute::new(CKA_ISSUER, subject_der),
            Attribute::new(CKA_SERIAL_NUMBER, serial_der),
            Attribute::new(CKA_VALUE, value),
            Attribute::new(CKA_ID, kid.as_bytes().to_vec()),
        ],
        Origin::Create,
        &[],
    )
}
