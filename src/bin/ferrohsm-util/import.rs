//! `import`: PKCS#8 (and PKCS#1 / SEC1) private keys, RSA, EC and Ed25519 (RFC 8410), ML-DSA,
//! ML-KEM and SLH-DSA (the IETF LAMPS encodings), with their public key; ML-DSA, ML-KEM and SLH-DSA
//! public keys alone from their SubjectPublicKeyInfo (`PUBLIC KEY`); X.509 certificates; from PEM
//! or DER. Imported private keys are sensitive and not extractable.

use super::progress::Progress;
use super::{find_slot, pin, Fail, Pins, Select, R};
use cryptoki_sys::*;
use der::{Decode, Encode};
use ferrohsm::module::Module;
use ferrohsm::object::Attribute;

const RSA_OID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_OID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// id-Ed25519 (RFC 8410), and the same OID as CKA_EC_PARAMS (DER).
const ED25519_OID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.101.112");
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// What a file holds.
enum Item {
    Rsa(Vec<Attribute>, Vec<Attribute>),
    Ec(Vec<Attribute>, Vec<Attribute>),
    Ed25519(Vec<Attribute>, Vec<Attribute>),
    /// ML-DSA, ML-KEM, SLH-DSA: the private and public key templates.
    PostQuantum(Vec<Attribute>, Vec<Attribute>),
    /// A public key alone (a SubjectPublicKeyInfo).
    Public(Vec<Attribute>),
    Certificate(Vec<Attribute>),
}

/// The post-quantum algorithms of NIST's OID arc 2.16.840.1.101.3.4 (the IETF LAMPS profiles:
/// no parameters): ML-DSA (.3.17-19), SLH-DSA (.3.20-31), ML-KEM (.4.1-3). Gives the key type
/// and the PKCS #11 3.2 parameter set.
fn pq_algorithm(oid: &der::asn1::ObjectIdentifier) -> Option<(CK_KEY_TYPE, CK_ULONG)> {
    let arcs: Vec<u32> = oid.arcs().collect();
    let (head, tail) = arcs.split_at(arcs.len().checked_sub(2)?);
    if head != [2, 16, 840, 1, 101, 3, 4] {
        return None;
    }
    Some(match (tail[0], tail[1]) {
        (3, n @ 17..=19) => (CKK_ML_DSA, (n - 16) as CK_ULONG),
        // id-slh-dsa-sha2-128s (.20), -128f, -192s, -192f, -256s, -256f, then the SHAKE six
        // (.26-31); CKP_SLH_DSA_* interleave them: SHA2_128S = 1, SHAKE_128S = 2, SHA2_128F = 3...
        (3, n @ 20..=25) => (CKK_SLH_DSA, 1 + 2 * (n - 20) as CK_ULONG),
        (3, n @ 26..=31) => (CKK_SLH_DSA, 2 + 2 * (n - 26) as CK_ULONG),
        (4, n @ 1..=3) => (CKK_ML_KEM, n as CK_ULONG),
        _ => return None,
    })
}

fn bytes(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attribute {
    Attribute::new(ty, v.to_vec())
}

fn parse(data: &[u8]) -> R<Item> {
    let (label, der_bytes) =
        if data.starts_with(b"-----BEGIN") || data.windows(10).any(|w| w == b"-----BEGIN") {
            let text =
                std::str::from_utf8(data).map_err(|_| Fail("The PEM file is not text.".into()))?;
            let start = text.find("-----BEGIN").expect("checked");
            let (label, doc) = pkcs8::der::pem::decode_vec(&text.as_bytes()[start..])
                .map_err(|e| Fail(format!("Could not read the PEM file: {e}")))?;
            (label.to_string(), doc)
        } else {
            (String::new(), data.to_vec())
        };
    match label.as_str() {
        "ENCRYPTED PRIVATE KEY" => Err(Fail(
            "Encrypted PKCS#8 keys are not supported; decrypt with `openssl pkcs8` first.".into(),
        )),
        "RSA PRIVATE KEY" => rsa(&der_bytes),
        "EC PRIVATE KEY" => ec(&der_bytes, None),
        "CERTIFICATE" => certificate(&der_bytes),
        "PRIVATE KEY" => pkcs8_key(&der_bytes),
        "PUBLIC KEY" => spki(&der_bytes),
        "" => pkcs8_key(&der_bytes)
            .or_else(|_| certificate(&der_bytes))
            .or_else(|_| spki(&der_bytes)),
        other => Err(Fail(format!("Unsupported PEM content: {other}"))),
    }
}

fn pkcs8_key(d: &[u8]) -> R<Item> {
    let pk = pkcs8::PrivateKeyInfo::from_der(d)
        .map_err(|e| Fail(format!("Not a PKCS#8 private key: {e}")))?;
    if pk.algorithm.oid == RSA_OID {
        rsa(pk.private_key)
    } else if pk.algorithm.oid == EC_OID {
        let curve = pk
            .algorithm
            .parameters
            .ok_or_else(|| Fail("The EC key names no curve.".into()))?
            .to_der()
            .map_err(|e| Fail(e.to_string()))?;
        ec(pk.private_key, Some(curve))
    } else if pk.algorithm.oid == ED25519_OID {
        ed25519(&pk)
    } else if let Some((kt, set)) = pq_algorithm(&pk.algorithm.oid) {
        post_quantum(&pk, kt, set)
    } else {
        Err(Fail(format!(
            "Unsupported key algorithm {}",
            pk.algorithm.oid
        )))
    }
}

fn uint(u: pkcs1::UintRef<'_>) -> Vec<u8> {
    u.as_bytes().to_vec()
}

fn rsa(d: &[u8]) -> R<Item> {
    let k = pkcs1::RsaPrivateKey::from_der(d)
        .map_err(|e| Fail(format!("Not an RSA private key: {e}")))?;
    let private = vec![
        Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
        bytes(CKA_MODULUS, &uint(k.modulus)),
        bytes(CKA_PUBLIC_EXPONENT, &uint(k.public_exponent)),
        bytes(CKA_PRIVATE_EXPONENT, &uint(k.private_exponent)),
        bytes(CKA_PRIME_1, &uint(k.prime1)),
        bytes(CKA_PRIME_2, &uint(k.prime2)),
        bytes(CKA_EXPONENT_1, &uint(k.exponent1)),
        bytes(CKA_EXPONENT_2, &uint(k.exponent2)),
        bytes(CKA_COEFFICIENT, &uint(k.coefficient)),
    ];
    let public = vec![
        Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
        bytes(CKA_MODULUS, &uint(k.modulus)),
        bytes(CKA_PUBLIC_EXPONENT, &uint(k.public_exponent)),
    ];
    Ok(Item::Rsa(private, public))
}

fn ec(d: &[u8], curve: Option<Vec<u8>>) -> R<Item> {
    let k =
        sec1::EcPrivateKey::from_der(d).map_err(|e| Fail(format!("Not an EC private key: {e}")))?;
    let params = match (curve, k.parameters) {
        (Some(c), _) => c,
        (None, Some(sec1::EcParameters::NamedCurve(oid))) => {
            oid.to_der().map_err(|e| Fail(e.to_string()))?
        }
        (None, None) => return Err(Fail("The EC key names no curve.".into())),
    };
    let mut private = vec![
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
        bytes(CKA_EC_PARAMS, &params),
        bytes(CKA_VALUE, k.private_key),
    ];
    let point = k.public_key.ok_or_else(|| {
        Fail("The EC key does not include its public key; re-export it with OpenSSL.".into())
    })?;
    let point_der = der::asn1::OctetStringRef::new(point)
        .and_then(|o| o.to_der())
        .map_err(|e| Fail(e.to_string()))?;
    let public = vec![
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
        bytes(CKA_EC_PARAMS, &params),
        bytes(CKA_EC_POINT, &point_der),
    ];
    private.shrink_to_fit();
    Ok(Item::Ec(private, public))
}

/// RFC 8410, 7: the algorithm has no parameters, the private key is `CurvePrivateKey ::= OCTET
/// STRING` (the 32-byte seed) inside PKCS#8's OCTET STRING; a v2 key (OneAsymmetricKey) may carry
/// the public key, which must then be the seed's.
fn ed25519(pk: &pkcs8::PrivateKeyInfo<'_>) -> R<Item> {
    if pk.algorithm.parameters.is_some() {
        return Err(Fail("An Ed25519 key has no algorithm parameters.".into()));
    }
    let seed = der::asn1::OctetStringRef::from_der(pk.private_key)
        .map_err(|e| Fail(format!("Not an Ed25519 private key: {e}")))?;
    let key = ferrohsm::crypto::EdPrivate::from_bytes(seed.as_bytes())
        .map_err(|_| Fail("Not an Ed25519 private key: the seed is not 32 bytes.".into()))?;
    let public = key.public().bytes();
    if pk.public_key.is_some_and(|p| p != &public[..]) {
        return Err(Fail(
            "The Ed25519 key's public key does not belong to its private key.".into(),
        ));
    }
    let point = der::asn1::OctetStringRef::new(&public)
        .and_then(|o| o.to_der())
        .map_err(|e| Fail(e.to_string()))?;
    let private = vec![
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
        bytes(CKA_EC_PARAMS, ED25519_PARAMS),
        bytes(CKA_VALUE, seed.as_bytes()),
    ];
    let public = vec![
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS),
        bytes(CKA_EC_PARAMS, ED25519_PARAMS),
        bytes(CKA_EC_POINT, &point),
    ];
    Ok(Item::Ed25519(private, public))
}

/// The private key of an ML-DSA or ML-KEM PKCS#8 (draft-ietf-lamps-dilithium-certificates and
/// -kyber-certificates): `CHOICE { seed [0] IMPLICIT OCTET STRING, expandedKey OCTET STRING,
/// both SEQUENCE { seed, expandedKey } }`; SLH-DSA's is the key itself (SK.seed || SK.prf ||
/// PK.seed || PK.root). The module checks the values (lengths, seed and expanded key the same
/// key) when the object is created; the public key is computed here for its own object.
fn post_quantum(pk: &pkcs8::PrivateKeyInfo<'_>, kt: CK_KEY_TYPE, set: CK_ULONG) -> R<Item> {
    use der::{Reader, Tag, TagNumber, Tagged};
    if pk.algorithm.parameters.is_some() {
        return Err(Fail(format!(
            "A {} key has no algorithm parameters.",
            pk.algorithm.oid
        )));
    }
    let bad = |e: String| Fail(format!("Not a valid {} private key: {e}", pk.algorithm.oid));
    let (seed, expanded): (Option<Vec<u8>>, Option<Vec<u8>>) = if kt == CKK_SLH_DSA {
        (None, Some(pk.private_key.to_vec()))
    } else {
        let any = der::asn1::AnyRef::from_der(pk.private_key).map_err(|e| bad(e.to_string()))?;
        match any.tag() {
            Tag::ContextSpecific {
                constructed: false,
                number,
            } if number == TagNumber::N0 => (Some(any.value().to_vec()), None),
            Tag::OctetString => (None, Some(any.value().to_vec())),
            Tag::Sequence => {
                let mut r = der::SliceReader::new(any.value()).map_err(|e| bad(e.to_string()))?;
                let a =
                    der::asn1::OctetStringRef::decode(&mut r).map_err(|e| bad(e.to_string()))?;
                let b =
                    der::asn1::OctetStringRef::decode(&mut r).map_err(|e| bad(e.to_string()))?;
                r.finish(()).map_err(|e| bad(e.to_string()))?;
                (Some(a.as_bytes().to_vec()), Some(b.as_bytes().to_vec()))
            }
            t => return Err(bad(format!("unexpected {t}"))),
        }
    };
    let public = pq_public(kt, set, seed.as_deref(), expanded.as_deref()).map_err(bad)?;
    if pk.public_key.is_some_and(|p| p != &public[..]) {
        return Err(bad("its public key does not belong to it".into()));
    }
    let mut private = vec![
        Attribute::ulong(CKA_KEY_TYPE, kt),
        Attribute::ulong(CKA_PARAMETER_SET, set),
    ];
    if let Some(v) = &seed {
        private.push(bytes(CKA_SEED, v));
    }
    if let Some(v) = &expanded {
        private.push(bytes(CKA_VALUE, v));
    }
    let public = vec![
        Attribute::ulong(CKA_KEY_TYPE, kt),
        Attribute::ulong(CKA_PARAMETER_SET, set),
        bytes(CKA_VALUE, &public),
    ];
    Ok(Item::PostQuantum(private, public))
}

/// The public key of a post-quantum private key, through the module's own key types.
fn pq_public(
    kt: CK_KEY_TYPE,
    set: CK_ULONG,
    seed: Option<&[u8]>,
    expanded: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    use ferrohsm::crypto::{slhdsa, MlDsaPrivate, MlDsaSet, MlKemPrivate, MlKemSet};
    let e = |e: ferrohsm::Error| format!("{e:?}");
    Ok(match kt {
        CKK_ML_DSA => {
            let set = MlDsaSet::from_ck(set).ok_or("parameter set")?;
            MlDsaPrivate::from_parts(set, seed, expanded)
                .map_err(e)?
                .public()
                .bytes()
                .to_vec()
        }
        CKK_ML_KEM => {
            let set = MlKemSet::from_ck(set).ok_or("parameter set")?;
            MlKemPrivate::from_parts(set, seed, expanded)
                .map_err(e)?
                .public()
                .bytes()
                .to_vec()
        }
        _ => {
            let set = slhdsa::SlhDsaSet::from_ck(set).ok_or("parameter set")?;
            slhdsa::SlhDsaPrivate::from_bytes(set, expanded.unwrap_or_default())
                .map_err(e)?
                .public()
                .bytes()
        }
    })
}

/// A SubjectPublicKeyInfo of ML-DSA, ML-KEM or SLH-DSA: a public key object alone.
fn spki(d: &[u8]) -> R<Item> {
    let info = pkcs8::spki::SubjectPublicKeyInfoRef::from_der(d)
        .map_err(|e| Fail(format!("Not a public key: {e}")))?;
    let (kt, set) = pq_algorithm(&info.algorithm.oid).ok_or_else(|| {
        Fail(format!(
            "Public keys alone are imported for ML-DSA, ML-KEM and SLH-DSA; {} is not one.",
            info.algorithm.oid
        ))
    })?;
    let key = info
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| Fail("The public key is not a whole number of bytes.".into()))?;
    Ok(Item::Public(vec![
        Attribute::ulong(CKA_KEY_TYPE, kt),
        Attribute::ulong(CKA_PARAMETER_SET, set),
        bytes(CKA_VALUE, key),
    ]))
}

fn certificate(d: &[u8]) -> R<Item> {
    let c = x509_cert::Certificate::from_der(d)
        .map_err(|e| Fail(format!("Not a key or certificate: {e}")))?;
    let tbs = &c.tbs_certificate;
    let enc = |r: der::Result<Vec<u8>>| r.map_err(|e| Fail(e.to_string()));
    Ok(Item::Certificate(vec![
        Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
        Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
        bytes(CKA_SUBJECT, &enc(tbs.subject.to_der())?),
        bytes(CKA_ISSUER, &enc(tbs.issuer.to_der())?),
        bytes(CKA_SERIAL_NUMBER, &enc(tbs.serial_number.to_der())?),
        bytes(CKA_VALUE, d),
    ]))
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    m: &Module,
    file: &str,
    sel: &Select,
    pins: &Pins,
    label: &str,
    id: &str,
    force: bool,
    no_public_key: bool,
) -> R<()> {
    let data = std::fs::read(file).map_err(|e| Fail(format!("Could not open file {file}: {e}")))?;
    let id =
        hex::decode(id).map_err(|_| Fail("The ID must be an even number of hex digits.".into()))?;
    let item = parse(&data)?;
    let slot = find_slot(m, sel)?;
    if sel.token.is_some() {
        println!("Found slot {slot} with matching token label.");
    }
    let user_pin = pin(&pins.pin, "FERROHSM_PIN", "Please enter user PIN: ")?;
    let s = m.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)?;
    // After the PIN prompt, so the spinner never draws over it.
    let progress = Progress::spinner(format!("Importing {file}"));
    let r = (|| -> R<&'static str> {
        m.login(s, CKU_USER, user_pin.as_bytes())?;
        if !force {
            m.find_init(s, &[bytes(CKA_ID, &id)])?;
            let found = m.find_next(s, 1)?;
            m.find_final(s)?;
            if !found.is_empty() {
                return Err(Fail(
                    "The ID is already assigned to another object. Use --force to override this message.".into(),
                ));
            }
        }
        let common = |class: CK_OBJECT_CLASS, private: bool| {
            vec![
                Attribute::ulong(CKA_CLASS, class),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_PRIVATE, private),
                bytes(CKA_LABEL, label.as_bytes()),
                bytes(CKA_ID, &id),
            ]
        };
        let (mut private, mut public) = match item {
            Item::Certificate(mut t) => {
                t.extend(common(CKO_CERTIFICATE, false).into_iter().skip(1));
                m.create_object(s, &t)?;
                return Ok("The certificate has been imported.");
            }
            Item::Public(mut t) => {
                t.extend(common(CKO_PUBLIC_KEY, false));
                m.create_object(s, &t)?;
                return Ok("The public key has been imported.");
            }
            Item::Rsa(p, q) | Item::Ec(p, q) | Item::Ed25519(p, q) | Item::PostQuantum(p, q) => {
                (p, q)
            }
        };
        private.extend(common(CKO_PRIVATE_KEY, true));
        private.push(Attribute::bool(CKA_SENSITIVE, true));
        private.push(Attribute::bool(CKA_EXTRACTABLE, false));
        m.create_object(s, &private)?;
        if !no_public_key {
            public.extend(common(CKO_PUBLIC_KEY, false));
            m.create_object(s, &public)?;
        }
        Ok("The key pair has been imported.")
    })();
    let _ = m.close_session(s);
    progress.finish();
    println!("{}", r?);
    Ok(())
}
