//! Key families: named, numbered versions of a key, rotated, disabled and retired without downtime
//! (issue 7).
//!
//! A version is an ordinary key object (RSA or EC key pair, or one HMAC secret key) carrying the
//! vendor attributes of [`crate::object::vendor`]: its family, version number, creation time,
//! JOSE `alg` and whether it is disabled. Every version has `CKA_ID` = its kid, the ASCII string
//! `<family>.v<N>`; the newest version has `CKA_LABEL` = the family name, older ones
//! `CKA_LABEL` = their kid. So a client that looks a key up by label signs with the newest.
//!
//! A rotation is a key generation whose template carries `CKA_FERROHSM_KEY_FAMILY`: the new objects
//! are inserted and the previous newest demoted (label → its kid, `CKA_SIGN` false) in one store
//! transaction ([`crate::token::Token::batch`]), decided under the store's write lock, so neither a
//! crash nor a concurrent rotation in another process can leave two newest versions or none.
//!
//! Rules enforced here and in [`crate::mechanism::ops`]: a disabled version cannot be used at all
//! (`CKR_KEY_FUNCTION_NOT_PERMITTED`, checked in the one place every `C_*Init` goes through); the
//! newest version cannot be disabled, nor retired (`CKR_ACTION_PROHIBITED`); an older version
//! cannot be given `CKA_SIGN` again; family keys cannot be copied (a copy would be a second
//! object of the same version).

use crate::error::{Error, Result};
use crate::mechanism::keys;
use crate::object::vendor::*;
use crate::object::{bit_length, Attribute, Object};
use crate::session::Session;
use crate::token::{Change, Entry};
use cryptoki_sys::*;
use std::sync::Arc;

mod cert;

/// Longest family name, in bytes.
pub const MAX_NAME: usize = 64;

/// The kid (and `CKA_ID`) of a version.
pub fn kid(family: &[u8], version: CK_ULONG) -> Vec<u8> {
    let mut v = family.to_vec();
    v.extend_from_slice(format!(".v{version}").as_bytes());
    v
}

pub fn family_of(o: &Object) -> Option<&[u8]> {
    o.get(CKA_FERROHSM_KEY_FAMILY)
}

pub fn version_of(o: &Object) -> Option<CK_ULONG> {
    o.ulong(CKA_FERROHSM_KEY_VERSION)
}

pub fn is_disabled(o: &Object) -> bool {
    o.bool(CKA_FERROHSM_KEY_DISABLED)
}

/// A family name must be 1 to 64 bytes of UTF-8 without control characters or spaces.
pub fn check_name(name: &[u8]) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && std::str::from_utf8(name)
            .is_ok_and(|s| !s.chars().any(|c| c.is_control() || c.is_whitespace()));
    if ok {
        Ok(())
    } else {
        Err(Error::AttributeValueInvalid)
    }
}

/// A rotation asked for by a key generation template.
#[derive(Debug, Clone)]
pub struct Request {
    pub family: Vec<u8>,
    pub alg: Option<Vec<u8>>,
    /// CKA_FERROHSM_KEY_CERT: also make a self-signed certificate for the version.
    pub cert: bool,
}

fn get(t: &[Attribute], ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
    t.iter().rev().find(|a| a.ty == ty).map(|a| &a.value[..])
}

/// Whether the templates of a key generation ask for a rotation, and of which family. The
/// family (and alg) may be in either template of a pair; when in both they must agree.
pub fn request(templates: &[&[Attribute]]) -> Result<Option<Request>> {
    let mut found: Option<Request> = None;
    for t in templates {
        let Some(f) = get(t, CKA_FERROHSM_KEY_FAMILY) else {
            continue;
        };
        check_name(f)?;
        if let Some(r) = &found {
            if r.family != f {
                return Err(Error::TemplateInconsistent);
            }
        } else {
            found = Some(Request {
                family: f.to_vec(),
                alg: None,
                cert: false,
            });
        }
    }
    let Some(mut r) = found else {
        return Ok(None);
    };
    for t in templates {
        if let Some(a) = get(t, CKA_FERROHSM_KEY_ALG) {
            if r.alg.as_deref().is_some_and(|b| b != a) {
                return Err(Error::TemplateInconsistent);
            }
            r.alg = Some(a.to_vec());
        }
        if let Some(c) = get(t, CKA_FERROHSM_KEY_CERT) {
            if c.len() != 1 {
                return Err(Error::AttributeValueInvalid);
            }
            r.cert |= c[0] != 0;
        }
    }
    Ok(Some(r))
}

impl Request {
    /// The template of one object of the new version: the family on it, a token object, private
    /// and secret keys private, sensitive and never extractable. The module assigns label and ID,
    /// so a template that names them is inconsistent, as is one that asks for anything weaker.
    pub fn template(&self, t: &[Attribute], class: CK_OBJECT_CLASS) -> Result<Vec<Attribute>> {
        let mut v: Vec<Attribute> = t
            .iter()
            .filter(|a| {
                !matches!(
                    a.ty,
                    CKA_FERROHSM_KEY_FAMILY | CKA_FERROHSM_KEY_ALG | CKA_FERROHSM_KEY_CERT
                )
            })
            .cloned()
            .collect();
        if get(t, CKA_LABEL).is_some() || get(t, CKA_ID).is_some() {
            return Err(Error::TemplateInconsistent);
        }
        let secret = class != CKO_PUBLIC_KEY;
        let mut want = vec![(CKA_TOKEN, true)];
        if secret {
            want.extend([
                (CKA_PRIVATE, true),
                (CKA_SENSITIVE, true),
                (CKA_EXTRACTABLE, false),
            ]);
        }
        for (ty, b) in want {
            match get(t, ty) {
                Some(x) if x.first().is_some_and(|&y| (y != 0) != b) => {
                    return Err(Error::TemplateInconsistent)
                }
                Some(_) => {}
                None => v.push(Attribute::bool(ty, b)),
            }
        }
        v.push(Attribute::new(CKA_FERROHSM_KEY_FAMILY, self.family.clone()));
        if let Some(a) = &self.alg {
            v.push(Attribute::new(CKA_FERROHSM_KEY_ALG, a.clone()));
        }
        Ok(v)
    }
}

/// The JOSE algorithms a key can be published for; the first is the default.
fn algs_for(o: &Object) -> Result<&'static [&'static str]> {
    Ok(match o.key_type() {
        Some(CKK_RSA) => &[
            "RS256",
            "RS384",
            "RS512",
            "PS256",
            "PS384",
            "PS512",
            "RSA-OAEP",
            "RSA-OAEP-256",
        ],
        Some(CKK_EC) => {
            let params = o.get(CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?;
            // JOSE names ECDSA on these curves only (RFC 7518, RFC 8812 for secp256k1).
            match keys::curve_of_params(params)? {
                crate::crypto::Curve::P256 => &["ES256"],
                crate::crypto::Curve::P384 => &["ES384"],
                crate::crypto::Curve::P521 => &["ES512"],
                crate::crypto::Curve::Secp256k1 => &["ES256K"],
                _ => return Err(Error::CurveNotSupported),
            }
        }
        // RFC 8037: Ed25519 signatures are JOSE's "EdDSA".
        Some(CKK_EC_EDWARDS) => &["EdDSA"],
        // draft-ietf-cose-dilithium (-06 onwards): one JOSE algorithm per parameter set.
        Some(CKK_ML_DSA) => match o.ulong(CKA_PARAMETER_SET) {
            Some(1) => &["ML-DSA-44"],
            Some(2) => &["ML-DSA-65"],
            Some(3) => &["ML-DSA-87"],
            _ => return Err(Error::TemplateIncomplete),
        },
        Some(_) if o.class() == CKO_SECRET_KEY => &["HS256", "HS384", "HS512"],
        _ => return Err(Error::KeyTypeInconsistent),
    })
}

/// Adds a new version made of `objs` (built from [`Request::template`]s) and demotes the previous
/// newest, in one transaction. Returns the handles of `objs`, in order.
pub fn add_version(s: &Session, req: &Request, objs: Vec<Object>) -> Result<Vec<CK_OBJECT_HANDLE>> {
    let first = objs.first().ok_or(Error::GeneralError)?;
    let allowed = algs_for(first)?;
    if let Some(a) = &req.alg {
        if !allowed.iter().any(|x| x.as_bytes() == &a[..]) {
            return Err(Error::AttributeValueInvalid);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as CK_ULONG;
    let fam = &req.family[..];
    // The key that signs the certificate: the new private key.
    let signer = if req.cert {
        let o = objs
            .iter()
            .find(|o| o.class() == CKO_PRIVATE_KEY)
            .ok_or(Error::TemplateInconsistent)?;
        Some((Arc::new(keys::parse(o)?), o.clone()))
    } else {
        None
    };
    s.token.batch(s.caller(), |entries| {
        let members: Vec<&Arc<Entry>> = entries
            .iter()
            .filter(|e| family_of(&e.obj) == Some(fam))
            .collect();
        let newest = members.iter().filter_map(|e| version_of(&e.obj)).max();
        let version = newest.unwrap_or(0) + 1;
        // The alg: as asked, else the previous newest's when it fits this key, else the default.
        let inherited = members
            .iter()
            .filter(|e| version_of(&e.obj) == newest)
            .find_map(|e| e.obj.get(CKA_FERROHSM_KEY_ALG))
            .filter(|a| allowed.iter().any(|x| x.as_bytes() == *a));
        let alg = req
            .alg
            .as_deref()
            .or(inherited)
            .unwrap_or(allowed[0].as_bytes())
            .to_vec();
        let mut ch = Change::default();
        for o in &objs {
            let mut o = o.clone();
            o.set_internal(CKA_LABEL, fam.to_vec())?;
            o.set_internal(CKA_ID, kid(fam, version))?;
            o.set_internal(CKA_FERROHSM_KEY_VERSION, version.to_ne_bytes().to_vec())?;
            o.set_internal(CKA_FERROHSM_KEY_CREATED, now.to_ne_bytes().to_vec())?;
            o.set_internal(CKA_FERROHSM_KEY_DISABLED, vec![0])?;
            o.set_internal(CKA_FERROHSM_KEY_ALG, alg.clone())?;
            ch.inserts.push(o);
        }
        if let Some((key, private)) = &signer {
            let k = String::from_utf8_lossy(&kid(fam, version)).into_owned();
            let mut c = cert::self_signed(key, private, &k, now as u64)?;
            c.set_internal(CKA_LABEL, fam.to_vec())?;
            c.set_internal(CKA_FERROHSM_KEY_FAMILY, fam.to_vec())?;
            c.set_internal(CKA_FERROHSM_KEY_VERSION, version.to_ne_bytes().to_vec())?;
            c.set_internal(CKA_FERROHSM_KEY_CREATED, now.to_ne_bytes().to_vec())?;
            c.set_internal(CKA_FERROHSM_KEY_DISABLED, vec![0])?;
            c.set_internal(CKA_FERROHSM_KEY_ALG, alg.clone())?;
            ch.inserts.push(c);
        }
        // Demote: every older version is labelled by its kid and cannot sign.
        for e in members {
            let mut o = e.obj.clone();
            let mut changed = false;
            let v = version_of(&o).unwrap_or(0);
            if o.get(CKA_LABEL) == Some(fam) {
                o.set_internal(CKA_LABEL, kid(fam, v))?;
                changed = true;
            }
            for ty in [CKA_SIGN, CKA_SIGN_RECOVER] {
                if o.bool(ty) {
                    o.set_internal(ty, vec![0])?;
                    changed = true;
                }
            }
            if changed {
                ch.updates.push((e.handle, o));
            }
        }
        Ok(ch)
    })
}

/// Checks a C_SetAttributeValue on a family object: label and ID are the module's, the newest
/// version cannot be disabled, and an older one cannot sign again.
pub fn check_set(s: &Session, e: &Entry, template: &[Attribute]) -> Result<()> {
    let Some(fam) = family_of(&e.obj) else {
        return Ok(());
    };
    for ty in [CKA_LABEL, CKA_ID] {
        if get(template, ty).is_some_and(|v| Some(v) != e.obj.get(ty)) {
            return Err(Error::ActionProhibited);
        }
    }
    let sets_true = |ty| get(template, ty).is_some_and(|v| v.first().is_some_and(|&b| b != 0));
    let disabling = sets_true(CKA_FERROHSM_KEY_DISABLED);
    let signing = sets_true(CKA_SIGN) || sets_true(CKA_SIGN_RECOVER);
    if !disabling && !signing {
        return Ok(());
    }
    let newest = newest_version(s, fam)?;
    let is_newest = version_of(&e.obj) == newest;
    if (disabling && is_newest) || (signing && !is_newest) {
        return Err(Error::ActionProhibited);
    }
    Ok(())
}

/// C_DestroyObject on a family object: only a disabled version that is not the newest can go (as
/// `key retire` does), so the family never loses its newest version.
pub fn check_destroy(s: &Session, e: &Entry) -> Result<()> {
    let Some(fam) = family_of(&e.obj) else {
        return Ok(());
    };
    if !is_disabled(&e.obj) || version_of(&e.obj) == newest_version(s, fam)? {
        return Err(Error::ActionProhibited);
    }
    Ok(())
}

/// Family keys are never copied.
pub fn check_copy(e: &Entry) -> Result<()> {
    if family_of(&e.obj).is_some() {
        Err(Error::ActionProhibited)
    } else {
        Ok(())
    }
}

fn members(s: &Session, fam: &[u8]) -> Result<Vec<Arc<Entry>>> {
    let hs = s
        .token
        .find(&[Attribute::new(CKA_FERROHSM_KEY_FAMILY, fam.to_vec())])?;
    hs.into_iter()
        .map(|h| s.token.object(h))
        .filter(|r| !matches!(r, Err(Error::ObjectHandleInvalid)))
        .collect()
}

fn newest_version(s: &Session, fam: &[u8]) -> Result<Option<CK_ULONG>> {
    Ok(members(s, fam)?
        .iter()
        .filter_map(|e| version_of(&e.obj))
        .max())
}

/// One version of a family, as `key versions` lists it.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: CK_ULONG,
    pub newest: bool,
    pub disabled: bool,
    /// "rsa:2048", "ec:P-256", "hmac:32".
    pub algorithm: String,
    /// The JOSE alg (CKA_FERROHSM_KEY_ALG).
    pub alg: String,
    /// Seconds since 1970 UTC.
    pub created: CK_ULONG,
    pub kid: String,
    pub handles: Vec<CK_OBJECT_HANDLE>,
    /// CKA_PUBLIC_KEY_INFO (DER SubjectPublicKeyInfo) of the public key, if the version has one.
    pub spki: Option<Vec<u8>>,
    /// The public key object, if any.
    pub public: Option<Arc<Entry>>,
}

fn algorithm_of(o: &Object) -> String {
    match (o.class(), o.key_type()) {
        (_, Some(CKK_RSA)) => {
            let bits = o
                .ulong(CKA_MODULUS_BITS)
                .map(|b| b as usize)
                .or_else(|| o.get(CKA_MODULUS).map(bit_length))
                .unwrap_or(0);
            format!("rsa:{bits}")
        }
        (_, Some(CKK_EC)) => match o.get(CKA_EC_PARAMS).map(keys::curve_of_params) {
            Some(Ok(crate::crypto::Curve::P256)) => "ec:P-256".into(),
            Some(Ok(crate::crypto::Curve::P384)) => "ec:P-384".into(),
            Some(Ok(crate::crypto::Curve::P521)) => "ec:P-521".into(),
            Some(Ok(crate::crypto::Curve::Secp256k1)) => "ec:secp256k1".into(),
            _ => "ec:?".into(),
        },
        (_, Some(CKK_EC_EDWARDS)) => "ed25519".into(),
        (_, Some(CKK_ML_DSA)) => match o.ulong(CKA_PARAMETER_SET) {
            Some(1) => "ml-dsa-44".into(),
            Some(2) => "ml-dsa-65".into(),
            Some(3) => "ml-dsa-87".into(),
            _ => "ml-dsa-?".into(),
        },
        (CKO_SECRET_KEY, _) => format!("hmac:{}", o.ulong(CKA_VALUE_LEN).unwrap_or(0)),
        _ => "?".into(),
    }
}

/// The versions of a family, oldest first (the caller is logged in as the user).
pub fn versions(s: &Session, fam: &[u8]) -> Result<Vec<Version>> {
    let all = members(s, fam)?;
    let newest = all.iter().filter_map(|e| version_of(&e.obj)).max();
    let mut out: Vec<Version> = Vec::new();
    for e in all {
        let Some(v) = version_of(&e.obj) else {
            continue;
        };
        let i = match out.iter().position(|x| x.version == v) {
            Some(i) => i,
            None => {
                let o = &e.obj;
                out.push(Version {
                    version: v,
                    newest: Some(v) == newest,
                    disabled: false,
                    algorithm: algorithm_of(o),
                    alg: String::from_utf8_lossy(o.get(CKA_FERROHSM_KEY_ALG).unwrap_or_default())
                        .into_owned(),
                    created: o.ulong(CKA_FERROHSM_KEY_CREATED).unwrap_or(0),
                    kid: String::from_utf8_lossy(&kid(fam, v)).into_owned(),
                    handles: Vec::new(),
                    spki: None,
                    public: None,
                });
                out.len() - 1
            }
        };
        let x = &mut out[i];
        if e.obj.class() != CKO_CERTIFICATE {
            x.algorithm = algorithm_of(&e.obj);
        }
        x.disabled |= is_disabled(&e.obj);
        x.handles.push(e.handle);
        if e.obj.class() == CKO_PUBLIC_KEY {
            x.spki = e
                .obj
                .get(CKA_PUBLIC_KEY_INFO)
                .filter(|v| !v.is_empty())
                .map(<[u8]>::to_vec);
            x.public = Some(e.clone());
        }
    }
    out.sort_by_key(|x| x.version);
    Ok(out)
}

/// The newest version of a family and the objects of `version` (`ObjectHandleInvalid` if none).
fn version_objects<'a>(
    entries: &'a [Arc<Entry>],
    fam: &[u8],
    version: CK_ULONG,
) -> Result<(CK_ULONG, Vec<&'a Arc<Entry>>)> {
    let members = entries.iter().filter(|e| family_of(&e.obj) == Some(fam));
    let newest = members.clone().filter_map(|e| version_of(&e.obj)).max();
    let mine: Vec<&Arc<Entry>> = members
        .filter(|e| version_of(&e.obj) == Some(version))
        .collect();
    match newest {
        Some(newest) if !mine.is_empty() => Ok((newest, mine)),
        _ => Err(Error::ObjectHandleInvalid),
    }
}

/// Disables or enables every object of a version at once. The newest cannot be disabled.
pub fn set_disabled(s: &Session, fam: &[u8], version: CK_ULONG, disabled: bool) -> Result<()> {
    s.token.batch(s.caller(), |entries| {
        let (newest, mine) = version_objects(entries, fam, version)?;
        if disabled && newest == version {
            return Err(Error::ActionProhibited);
        }
        let mut ch = Change::default();
        for e in mine {
            let mut o = e.obj.clone();
            o.set_internal(CKA_FERROHSM_KEY_DISABLED, vec![disabled as u8])?;
            ch.updates.push((e.handle, o));
        }
        Ok(ch)
    })?;
    Ok(())
}

/// Destroys every object of a disabled version at once; anything else is `ActionProhibited`.
pub fn retire(s: &Session, fam: &[u8], version: CK_ULONG) -> Result<()> {
    s.token.batch(s.caller(), |entries| {
        let (newest, mine) = version_objects(entries, fam, version)?;
        if newest == version || mine.iter().any(|e| !is_disabled(&e.obj)) {
            return Err(Error::ActionProhibited);
        }
        Ok(Change {
            deletes: mine.iter().map(|e| e.handle).collect(),
            ..Change::default()
        })
    })?;
    Ok(())
}

/// The JWK of a version's public key (RFC 7517/7518), or `None` for a version without one (HMAC).
pub fn jwk(v: &Version) -> Result<Option<serde_json::Value>> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let b64 = |b: &[u8]| Base64UrlUnpadded::encode_string(b);
    let Some(p) = &v.public else {
        return Ok(None);
    };
    let o = &p.obj;
    let use_ = if v.alg.starts_with("RSA-OAEP") {
        "enc"
    } else {
        "sig"
    };
    let mut m = serde_json::Map::new();
    match o.key_type() {
        Some(CKK_RSA) => {
            let n = o.get(CKA_MODULUS).ok_or(Error::TemplateIncomplete)?;
            let e = o
                .get(CKA_PUBLIC_EXPONENT)
                .ok_or(Error::TemplateIncomplete)?;
            m.insert("kty".into(), "RSA".into());
            m.insert("n".into(), b64(keys::strip(n)).into());
            m.insert("e".into(), b64(keys::strip(e)).into());
        }
        Some(CKK_EC) => {
            let curve = keys::curve_of_params(o.get(CKA_EC_PARAMS).unwrap_or_default())?;
            let point =
                keys::point_of(curve, o.get(CKA_EC_POINT).ok_or(Error::TemplateIncomplete)?)?
                    .point();
            let n = curve.field_len();
            if point.len() != 2 * n + 1 || point[0] != 4 {
                return Err(Error::AttributeValueInvalid);
            }
            let crv = match curve {
                crate::crypto::Curve::P256 => "P-256",
                crate::crypto::Curve::P384 => "P-384",
                crate::crypto::Curve::P521 => "P-521",
                crate::crypto::Curve::Secp256k1 => "secp256k1",
                _ => return Err(Error::CurveNotSupported),
            };
            m.insert("kty".into(), "EC".into());
            m.insert("crv".into(), crv.into());
            m.insert("x".into(), b64(&point[1..1 + n]).into());
            m.insert("y".into(), b64(&point[1 + n..]).into());
        }
        // RFC 8037, 2: an Octet Key Pair, "x" the 32-byte public key.
        Some(CKK_EC_EDWARDS) => {
            keys::edwards_params(o.get(CKA_EC_PARAMS).unwrap_or_default())?;
            let k = keys::ed_point_of(o.get(CKA_EC_POINT).ok_or(Error::TemplateIncomplete)?)?;
            m.insert("kty".into(), "OKP".into());
            m.insert("crv".into(), "Ed25519".into());
            m.insert("x".into(), b64(&k.bytes()).into());
        }
        // draft-ietf-cose-dilithium-06 and later: an Algorithm Key Pair ("AKP", registered by
        // IANA for it), "pub" the public key (FIPS 204's pkEncode); the "alg" below names the
        // parameter set.
        Some(CKK_ML_DSA) => {
            let pk = o.get(CKA_VALUE).ok_or(Error::TemplateIncomplete)?;
            m.insert("kty".into(), "AKP".into());
            m.insert("pub".into(), b64(pk).into());
        }
        _ => return Ok(None),
    }
    m.insert("kid".into(), v.kid.clone().into());
    m.insert("alg".into(), v.alg.clone().into());
    m.insert("use".into(), use_.into());
    Ok(Some(serde_json::Value::Object(m)))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since 1970 (proleptic Gregorian, UTC).
pub fn iso8601(secs: CK_ULONG) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_kids_dates() {
        assert_eq!(kid(b"oauth2-signing", 3), b"oauth2-signing.v3");
        assert!(check_name(b"oauth2-signing").is_ok());
        assert!(check_name(b"").is_err());
        assert!(check_name(b"a b").is_err());
        assert!(check_name(&[b'a'; 65]).is_err());
        assert!(check_name(&[0xff]).is_err());
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn requests() {
        let f = Attribute::new(CKA_FERROHSM_KEY_FAMILY, b"f".to_vec());
        let g = Attribute::new(CKA_FERROHSM_KEY_FAMILY, b"g".to_vec());
        assert!(request(&[&[], &[]]).unwrap().is_none());
        let r = request(&[std::slice::from_ref(&f), &[]]).unwrap().unwrap();
        assert_eq!(r.family, b"f");
        assert_eq!(
            request(&[std::slice::from_ref(&f), &[g]]).unwrap_err(),
            Error::TemplateInconsistent
        );
        let t = r.template(&[], CKO_PRIVATE_KEY).unwrap();
        assert!(t
            .iter()
            .any(|a| a.ty == CKA_SENSITIVE && a.value[..] == [1]));
        assert_eq!(
            r.template(&[Attribute::bool(CKA_EXTRACTABLE, true)], CKO_PRIVATE_KEY)
                .unwrap_err(),
            Error::TemplateInconsistent
        );
        assert_eq!(
            r.template(&[Attribute::new(CKA_LABEL, b"x".to_vec())], CKO_PUBLIC_KEY)
                .unwrap_err(),
            Error::TemplateInconsistent
        );
    }
}
