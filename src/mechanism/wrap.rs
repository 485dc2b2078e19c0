//! C_WrapKey and C_UnwrapKey, and the key management policy that keeps them from revealing
//! sensitive keys.
//!
//! Wrapping is one single-part encryption of the key's bytes with the wrapping key's [`CryptOp`]
//! (the registry row of the mechanism must carry `CKF_WRAP`); unwrapping is one decryption and a
//! new object. Secret keys travel as their `CKA_VALUE`; RSA and EC private keys as PKCS#8
//! `PrivateKeyInfo` DER (RFC 5208: PKCS#1 `RSAPrivateKey`, SEC 1 `ECPrivateKey` with the named
//! curve in the algorithm identifier), so a blob can be opened by OpenSSL or another token.
//!
//! The specification's rules: only `CKA_EXTRACTABLE` keys leave; a `CKA_WRAP_WITH_TRUSTED` key
//! only under a `CKA_TRUSTED` key, and only the SO sets `CKA_TRUSTED` ([`check_trusted`]); the
//! wrapping key's `CKA_WRAP_TEMPLATE` must match the key; the unwrapping key's
//! `CKA_UNWRAP_TEMPLATE` is applied to the new key; an unwrapped key is never `CKA_LOCAL`,
//! `CKA_ALWAYS_SENSITIVE` or `CKA_NEVER_EXTRACTABLE`.
//!
//! The policy (`wrap.policy`, [`WrapPolicy`]; docs/CRYPTO.md, "Key management policy") answers
//! the attacks of Bortolozzo, Centenaro, Focardi and Steel (CCS 2010), for the keys where they
//! matter: a sensitive key (`CKA_SENSITIVE`) is wrapped only under a key that cannot decrypt the
//! blob and whose value never left the token ([`may_wrap_sensitive`]); a key that such a key
//! unwraps comes out sensitive ([`guards_sensitive`]), so the same blob cannot be re-imported
//! readable; and no C_SetAttributeValue or C_CopyObject gives a key a wrap/decrypt or
//! unwrap/encrypt pair it did not have ([`check_update`]), so the check cannot be passed first
//! and undone after.

use super::keys::{self, Key};
use super::ops::{template_bool, template_get, template_ulong, with_class, Out};
use super::{crypt_all, secret_type, Mech};
use crate::config::{Config, WrapPolicy};
use crate::crypto::{EcPrivate, RsaPrivate};
use crate::error::{Error, Result};
use crate::module::Module;
use crate::object::rules::{self, Kind};
use crate::object::{attrlist, Attribute, Object, Origin};
use crate::session::Session;
use crate::token::{Entry, Login};
use cryptoki_sys::*;
use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Block modes without padding: they wrap only values that are whole blocks (and unwrap may
/// shorten the value to the template's `CKA_VALUE_LEN`).
const UNPADDED: &[CK_MECHANISM_TYPE] = &[CKM_AES_ECB, CKM_AES_CBC, CKM_DES3_ECB, CKM_DES3_CBC];
/// Mechanisms whose block holds a secret key but not a PKCS#8 private key.
const SECRET_ONLY: &[CK_MECHANISM_TYPE] = &[CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP];

const RSA_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Only the SO gives a new object `CKA_TRUSTED` (C_CreateObject, key generation and derivation,
/// C_UnwrapKey); C_SetAttributeValue checks it in the attribute rules.
pub(crate) fn check_trusted(s: &Session, template: &[Attribute]) -> Result<()> {
    let asks = template
        .iter()
        .any(|a| a.ty == CKA_TRUSTED && a.value.first().is_some_and(|&b| b != 0));
    if asks && s.token.login_state() != Login::So {
        return Err(Error::AttributeReadOnly);
    }
    Ok(())
}

/// C_SetAttributeValue / C_CopyObject under a policy other than `spec`: a change may not give a
/// key both `CKA_WRAP` and `CKA_DECRYPT`, or both `CKA_UNWRAP` and `CKA_ENCRYPT`, unless it
/// already had them (a key born with both never wraps a sensitive key anyway; one that was
/// trusted with a sensitive key because it could not decrypt must not learn to afterwards).
pub(crate) fn check_update(config: &Config, o: &Object, template: &[Attribute]) -> Result<()> {
    if config.wrap_policy == WrapPolicy::Spec {
        return Ok(());
    }
    let after = |ty| template_bool(template, ty).unwrap_or_else(|| o.bool(ty));
    for (a, b) in [(CKA_WRAP, CKA_DECRYPT), (CKA_UNWRAP, CKA_ENCRYPT)] {
        if !(o.bool(a) && o.bool(b)) && after(a) && after(b) {
            return Err(Error::AttributeReadOnly);
        }
    }
    Ok(())
}

/// The token's RSA private keys with the modulus of a public key.
fn private_halves(s: &Session, public: &Object) -> Result<Vec<Arc<Entry>>> {
    let Some(n) = public.get(CKA_MODULUS) else {
        return Ok(Vec::new());
    };
    let t = [
        Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
        Attribute::new(CKA_MODULUS, n.to_vec()),
    ];
    Ok(s.token
        .find(&t)?
        .into_iter()
        .filter_map(|h| s.token.object(h).ok())
        .collect())
}

/// Whether a wrapping key keeps what it wraps from the caller: it cannot decrypt the blob (a
/// secret key without `CKA_DECRYPT`; a public key none of whose private halves in the token has
/// it), and its secret never left the token in the clear (generated here and always sensitive),
/// or the SO vouched for it with `CKA_TRUSTED` (a public key of another token, a shared KEK).
fn may_wrap_sensitive(s: &Session, w: &Object) -> Result<bool> {
    let local = w.bool(CKA_LOCAL) && w.bool(CKA_ALWAYS_SENSITIVE);
    Ok(match w.class() {
        CKO_SECRET_KEY => !w.bool(CKA_DECRYPT) && (w.bool(CKA_TRUSTED) || local),
        CKO_PUBLIC_KEY => {
            let privs = private_halves(s, w)?;
            let decrypts = privs.iter().any(|p| p.obj.bool(CKA_DECRYPT));
            let generated = w.bool(CKA_LOCAL)
                && !privs.is_empty()
                && privs
                    .iter()
                    .all(|p| p.obj.bool(CKA_LOCAL) && p.obj.bool(CKA_ALWAYS_SENSITIVE));
            !decrypts && (w.bool(CKA_TRUSTED) || generated)
        }
        _ => false,
    })
}

/// Whether an unwrapping key may have received sensitive keys: what it unwraps must then come
/// out sensitive, whatever the template asks (the blob does not say what the key was). This is
/// the unwrapping side of [`may_wrap_sensitive`]: a secret key that may wrap sensitive keys,
/// or a private key that cannot decrypt (its public half may be trusted at any time).
fn guards_sensitive(u: &Object) -> bool {
    match u.class() {
        CKO_SECRET_KEY => {
            !u.bool(CKA_DECRYPT)
                && (u.bool(CKA_TRUSTED) || (u.bool(CKA_LOCAL) && u.bool(CKA_ALWAYS_SENSITIVE)))
        }
        CKO_PRIVATE_KEY => !u.bool(CKA_DECRYPT),
        _ => false,
    }
}

/// The wrapping key's CKA_WRAP_TEMPLATE must match the key to wrap.
fn check_wrap_template(w: &Object, key: &Object) -> Result<()> {
    let Some(stored) = w.get(CKA_WRAP_TEMPLATE) else {
        return Ok(());
    };
    for (ty, v) in attrlist::decode(stored)? {
        if key.get(ty) != Some(v) {
            return Err(Error::KeyNotWrappable);
        }
    }
    Ok(())
}

/// The caller's template with the unwrapping key's CKA_UNWRAP_TEMPLATE applied: its attributes
/// are added, and a template attribute that contradicts one of them is `TemplateInconsistent`.
fn with_unwrap_template(u: &Object, template: &[Attribute]) -> Result<Vec<Attribute>> {
    let mut t = template.to_vec();
    let Some(stored) = u.get(CKA_UNWRAP_TEMPLATE) else {
        return Ok(t);
    };
    for (ty, v) in attrlist::decode(stored)? {
        match template_get(template, ty) {
            None => t.push(Attribute::new(ty, v.to_vec())),
            Some(given) => {
                let same = match rules::kind(ty) {
                    Some(Kind::Bool) => given.len() == 1 && (given[0] != 0) as u8 == v[0],
                    _ => given == v,
                };
                if !same {
                    return Err(Error::TemplateInconsistent);
                }
            }
        }
    }
    Ok(t)
}

// ---- PKCS#8 ------------------------------------------------------------------------------------

fn der_err(_: der::Error) -> Error {
    Error::GeneralError
}

fn private_key_info(
    oid: ObjectIdentifier,
    params: AnyRef<'_>,
    inner: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let info = pkcs8::PrivateKeyInfo {
        algorithm: pkcs8::AlgorithmIdentifierRef {
            oid,
            parameters: Some(params),
        },
        private_key: inner,
        public_key: None,
    };
    Ok(Zeroizing::new(info.to_der().map_err(der_err)?))
}

/// An RSA private key as PKCS#8 DER.
fn pkcs8_rsa(k: &RsaPrivate) -> Result<Zeroizing<Vec<u8>>> {
    let p = k.parts();
    fn u(v: &[u8]) -> Result<pkcs1::UintRef<'_>> {
        pkcs1::UintRef::new(keys::strip(v)).map_err(der_err)
    }
    let inner = pkcs1::RsaPrivateKey {
        modulus: u(&p.n)?,
        public_exponent: u(&p.e)?,
        private_exponent: u(&p.d)?,
        prime1: u(&p.p)?,
        prime2: u(&p.q)?,
        exponent1: u(&p.dp)?,
        exponent2: u(&p.dq)?,
        coefficient: u(&p.qinv)?,
        other_prime_infos: None,
    };
    let inner = Zeroizing::new(inner.to_der().map_err(der_err)?);
    private_key_info(RSA_OID, AnyRef::NULL, &inner)
}

/// An EC private key as PKCS#8 DER, with its public point, as OpenSSL writes it.
fn pkcs8_ec(k: &EcPrivate) -> Result<Zeroizing<Vec<u8>>> {
    let curve = ObjectIdentifier::from_der(keys::curve_oid(k.curve())).map_err(der_err)?;
    let d = k.scalar();
    let point = k.public().point();
    let inner = sec1::EcPrivateKey {
        private_key: &d,
        parameters: None,
        public_key: Some(&point),
    };
    let inner = Zeroizing::new(inner.to_der().map_err(der_err)?);
    private_key_info(EC_OID, AnyRef::from(&curve), &inner)
}

/// The attributes of a private key read from PKCS#8 DER: its key type and values. Anything
/// but one well-formed RSA or EC key is `WrappedKeyInvalid`.
fn from_pkcs8(d: &[u8]) -> Result<(CK_KEY_TYPE, Vec<Attribute>)> {
    let bad = |_| Error::WrappedKeyInvalid;
    let pk = pkcs8::PrivateKeyInfo::from_der(d).map_err(bad)?;
    let b = |ty, v: &[u8]| Attribute::new(ty, v.to_vec());
    if pk.algorithm.oid == RSA_OID {
        let k = pkcs1::RsaPrivateKey::from_der(pk.private_key).map_err(bad)?;
        if k.other_prime_infos.is_some() {
            return Err(Error::WrappedKeyInvalid);
        }
        return Ok((
            CKK_RSA,
            vec![
                b(CKA_MODULUS, k.modulus.as_bytes()),
                b(CKA_PUBLIC_EXPONENT, k.public_exponent.as_bytes()),
                b(CKA_PRIVATE_EXPONENT, k.private_exponent.as_bytes()),
                b(CKA_PRIME_1, k.prime1.as_bytes()),
                b(CKA_PRIME_2, k.prime2.as_bytes()),
                b(CKA_EXPONENT_1, k.exponent1.as_bytes()),
                b(CKA_EXPONENT_2, k.exponent2.as_bytes()),
                b(CKA_COEFFICIENT, k.coefficient.as_bytes()),
            ],
        ));
    }
    if pk.algorithm.oid == EC_OID {
        let params = pk
            .algorithm
            .parameters
            .ok_or(Error::WrappedKeyInvalid)?
            .to_der()
            .map_err(bad)?;
        let k = sec1::EcPrivateKey::from_der(pk.private_key).map_err(bad)?;
        if let Some(sec1::EcParameters::NamedCurve(oid)) = k.parameters {
            if oid.to_der().map_err(bad)? != params {
                return Err(Error::WrappedKeyInvalid);
            }
        }
        return Ok((
            CKK_EC,
            vec![b(CKA_EC_PARAMS, &params), b(CKA_VALUE, k.private_key)],
        ));
    }
    Err(Error::WrappedKeyInvalid)
}

/// For the fuzz target `import` (fuzz/fuzz_targets/import.rs): the module's PKCS#8 parser
/// (PKCS#1 RSA and SEC 1 EC keys inside), which C_UnwrapKey applies to what it decrypts.
#[doc(hidden)]
pub fn fuzz_from_pkcs8(d: &[u8]) -> Result<(CK_KEY_TYPE, Vec<Attribute>)> {
    from_pkcs8(d)
}

/// The bytes a key wraps as: a secret key's value, a private key's PKCS#8 encoding.
fn key_bytes(e: &Entry) -> Result<Zeroizing<Vec<u8>>> {
    if e.obj.class() == CKO_SECRET_KEY {
        let v = e.obj.get(CKA_VALUE).ok_or(Error::KeyNotWrappable)?;
        return Ok(Zeroizing::new(v.to_vec()));
    }
    match keys::parsed(e)?.as_ref() {
        Key::RsaPrivate(k) => pkcs8_rsa(k),
        Key::EcPrivate(k) => pkcs8_ec(k),
        _ => Err(Error::KeyNotWrappable),
    }
}

impl Module {
    /// C_WrapKey; `cap` is the caller's buffer size, `None` for a NULL buffer (the length is
    /// then returned after every check, without encrypting).
    pub fn wrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        cap: Option<usize>,
    ) -> Result<Out> {
        let s = self.session(h)?;
        let (mut op, w) = self
            .with_op_key(&s, mech, wrapping, CKA_WRAP, CKF_WRAP, |def, entry, k| {
                let op = def.crypt.ok_or(Error::MechanismInvalid)?(mech, k, false)?;
                Ok((op, entry.obj.clone()))
            })
            .map_err(|e| match e {
                Error::KeyHandleInvalid => Error::WrappingKeyHandleInvalid,
                Error::KeyTypeInconsistent => Error::WrappingKeyTypeInconsistent,
                Error::KeySizeRange => Error::WrappingKeySizeRange,
                e => e,
            })?;
        let target = s.token.object(key).map_err(|e| match e {
            Error::ObjectHandleInvalid => Error::KeyHandleInvalid,
            e => e,
        })?;
        let t = &target.obj;
        match t.class() {
            CKO_SECRET_KEY | CKO_PRIVATE_KEY => {}
            CKO_PUBLIC_KEY => return Err(Error::KeyNotWrappable),
            _ => return Err(Error::KeyHandleInvalid),
        }
        if !t.bool(CKA_EXTRACTABLE) {
            return Err(Error::KeyUnextractable);
        }
        if t.bool(CKA_WRAP_WITH_TRUSTED) && !w.bool(CKA_TRUSTED) {
            return Err(Error::KeyNotWrappable);
        }
        check_wrap_template(&w, t)?;
        let protect = match self.config.wrap_policy {
            WrapPolicy::Spec => false,
            WrapPolicy::Sensitive => t.bool(CKA_SENSITIVE),
            WrapPolicy::Strict => true,
        };
        if protect && !may_wrap_sensitive(&s, &w)? {
            return Err(Error::KeyNotWrappable);
        }
        if t.class() == CKO_PRIVATE_KEY && SECRET_ONLY.contains(&mech.ty) {
            return Err(Error::KeyNotWrappable);
        }
        let data = key_bytes(&target)?;
        let len_err = |e| match e {
            Error::DataLenRange => Error::KeySizeRange,
            e => e,
        };
        let n = op.one_shot_len(data.len()).map_err(len_err)?;
        if cap.is_none_or(|c| c < n) {
            return Ok(Out::Need(n));
        }
        Ok(Out::Done(crypt_all(&mut *op, &data).map_err(len_err)?))
    }

    /// C_UnwrapKey.
    pub fn unwrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &[Attribute],
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        check_trusted(&s, template)?;
        let (mut op, u) = self
            .with_op_key(
                &s,
                mech,
                unwrapping,
                CKA_UNWRAP,
                CKF_UNWRAP,
                |def, entry, k| {
                    let op = def.crypt.ok_or(Error::MechanismInvalid)?(mech, k, true)?;
                    Ok((op, entry.obj.clone()))
                },
            )
            .map_err(|e| match e {
                Error::KeyHandleInvalid => Error::UnwrappingKeyHandleInvalid,
                Error::KeyTypeInconsistent => Error::UnwrappingKeyTypeInconsistent,
                Error::KeySizeRange => Error::UnwrappingKeySizeRange,
                e => e,
            })?;
        let policy = self.config.wrap_policy;
        if policy == WrapPolicy::Strict && u.bool(CKA_ENCRYPT) {
            // The encrypt/unwrap conflict: the caller could have made the blob.
            return Err(Error::KeyFunctionNotPermitted);
        }
        let mut t = with_unwrap_template(&u, template)?;
        let force_sensitive = match policy {
            WrapPolicy::Spec => false,
            WrapPolicy::Sensitive => guards_sensitive(&u),
            WrapPolicy::Strict => true,
        };
        if force_sensitive {
            match template_bool(&t, CKA_SENSITIVE) {
                Some(false) => return Err(Error::TemplateInconsistent),
                Some(true) => {}
                None => t.push(Attribute::bool(CKA_SENSITIVE, true)),
            }
        }
        if t.iter().any(|a| {
            matches!(
                a.ty,
                crate::object::vendor::CKA_FERROHSM_KEY_FAMILY
                    | crate::object::vendor::CKA_FERROHSM_KEY_ALG
            )
        }) {
            // Key family versions are made by rotation only.
            return Err(Error::AttributeReadOnly);
        }
        let class = template_ulong(&t, CKA_CLASS)?.ok_or(Error::TemplateIncomplete)?;
        if !matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY) {
            return Err(Error::TemplateInconsistent);
        }
        let want_kt = template_ulong(&t, CKA_KEY_TYPE)?;
        if class == CKO_SECRET_KEY && want_kt.is_none() {
            return Err(Error::TemplateIncomplete);
        }
        if wrapped.is_empty() {
            return Err(Error::WrappedKeyLenRange);
        }
        let plain = crypt_all(&mut *op, wrapped).map_err(|e| match e {
            Error::EncryptedDataLenRange | Error::DataLenRange => Error::WrappedKeyLenRange,
            Error::EncryptedDataInvalid | Error::DataInvalid => Error::WrappedKeyInvalid,
            e => e,
        })?;
        let (kt, mut internal) = if class == CKO_SECRET_KEY {
            let kt = want_kt.expect("checked");
            let st = secret_type(kt).ok_or(Error::TemplateInconsistent)?;
            let mut v = plain;
            if let Some(n) = template_ulong(&t, CKA_VALUE_LEN)? {
                let n = n as usize;
                if n < v.len() && UNPADDED.contains(&mech.ty) {
                    v.truncate(n);
                } else if n != v.len() {
                    return Err(Error::TemplateInconsistent);
                }
            }
            if !st.len_ok(v.len()) {
                return Err(Error::WrappedKeyInvalid);
            }
            (kt, vec![Attribute::new(CKA_VALUE, v.to_vec())])
        } else {
            if SECRET_ONLY.contains(&mech.ty) {
                return Err(Error::TemplateInconsistent);
            }
            let (kt, attrs) = from_pkcs8(&plain)?;
            if want_kt.is_some_and(|w| w != kt) {
                return Err(Error::TemplateInconsistent);
            }
            (kt, attrs)
        };
        let t = with_class(&t, class, kt)?;
        internal.extend([
            Attribute::bool(CKA_LOCAL, false),
            Attribute::ulong(CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION),
            Attribute::bool(CKA_ALWAYS_SENSITIVE, false),
            Attribute::bool(CKA_NEVER_EXTRACTABLE, false),
        ]);
        let obj = Object::build(&t, Origin::Generate, &internal)?;
        let computed = super::validate_key(&obj).map_err(|e| match e {
            Error::CurveNotSupported
            | Error::HostMemory
            | Error::Storage(_)
            | Error::DiskFull(_) => e,
            _ => Error::WrappedKeyInvalid,
        })?;
        let obj = if computed.is_empty() {
            obj
        } else {
            internal.extend(computed);
            Object::build(&t, Origin::Generate, &internal)?
        };
        s.token.add(s.caller(), obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Curve;
    use crate::mechanism::keys::Secret;
    use crate::mechanism::{info, Param};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn aes(v: &[u8]) -> Arc<Key> {
        Arc::new(Key::Secret(Secret::typed(
            Zeroizing::new(v.to_vec()),
            CKK_AES,
        )))
    }

    /// Runs a registry row single-part, as C_WrapKey / C_UnwrapKey do.
    fn run(ty: CK_MECHANISM_TYPE, key: &Arc<Key>, decrypt: bool, data: &[u8]) -> Result<Vec<u8>> {
        let c = Config::default();
        let def = info(&c, ty).unwrap();
        assert_eq!(def.flags & (CKF_WRAP | CKF_UNWRAP), CKF_WRAP | CKF_UNWRAP);
        let mut op = def.crypt.unwrap()(&Mech::new(ty), key, decrypt)?;
        Ok(crypt_all(&mut *op, data)?.to_vec())
    }

    #[test]
    fn rfc3394_vectors() {
        // RFC 3394 4.1: 128-bit data, 128-bit KEK.
        let kek = aes(&h("000102030405060708090A0B0C0D0E0F"));
        let data = h("00112233445566778899AABBCCDDEEFF");
        let want = h("1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5");
        assert_eq!(run(CKM_AES_KEY_WRAP, &kek, false, &data).unwrap(), want);
        assert_eq!(run(CKM_AES_KEY_WRAP, &kek, true, &want).unwrap(), data);
        // 4.6: 256-bit data, 256-bit KEK.
        let kek = aes(&h(
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        ));
        let data = h("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let want = h(
            "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
        );
        assert_eq!(run(CKM_AES_KEY_WRAP, &kek, false, &data).unwrap(), want);
        assert_eq!(run(CKM_AES_KEY_WRAP, &kek, true, &want).unwrap(), data);
        // A changed bit fails the integrity check; a truncated blob is a length error.
        let mut bad = want.clone();
        bad[5] ^= 1;
        assert_eq!(
            run(CKM_AES_KEY_WRAP, &kek, true, &bad).unwrap_err(),
            Error::EncryptedDataInvalid
        );
        assert_eq!(
            run(CKM_AES_KEY_WRAP, &kek, true, &want[..want.len() - 4]).unwrap_err(),
            Error::EncryptedDataLenRange
        );
    }

    #[test]
    fn rfc5649_vectors() {
        // RFC 5649 section 6, both examples; _KWP (3.0) and _PAD (SoftHSM's 0x210A) agree.
        let kek = aes(&h("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8"));
        let cases = [
            (
                h("c37b7e6492584340 bed1220780894115 5068f738"),
                h("138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"),
            ),
            (h("466f7250617369"), h("afbeb0f07dfbf541 9200f2ccb50bb24f")),
        ];
        for ty in [CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD] {
            for (data, want) in &cases {
                assert_eq!(&run(ty, &kek, false, data).unwrap(), want);
                assert_eq!(&run(ty, &kek, true, want).unwrap(), data);
                let mut bad = want.clone();
                bad[0] ^= 0x80;
                assert_eq!(
                    run(ty, &kek, true, &bad).unwrap_err(),
                    Error::EncryptedDataInvalid
                );
            }
        }
        // The explicit default IV is accepted, another one refused.
        let def = info(&Config::default(), CKM_AES_KEY_WRAP_KWP).unwrap();
        let with_iv = |iv: &[u8]| Mech {
            ty: CKM_AES_KEY_WRAP_KWP,
            param: Param::Bytes(Zeroizing::new(iv.to_vec())),
        };
        assert!(def.crypt.unwrap()(&with_iv(&[0xa6, 0x59, 0x59, 0xa6]), &kek, false).is_ok());
        assert!(def.crypt.unwrap()(&with_iv(&[1, 2, 3, 4]), &kek, false).is_err());
    }

    #[test]
    fn pkcs8_round_trips() {
        let k = crate::crypto::rsa_generate(2048, &[1, 0, 1]).unwrap();
        let der = pkcs8_rsa(&k).unwrap();
        let (kt, attrs) = from_pkcs8(&der).unwrap();
        assert_eq!(kt, CKK_RSA);
        let p = k.parts();
        let get = |ty| attrs.iter().find(|a| a.ty == ty).unwrap().value.to_vec();
        assert_eq!(get(CKA_MODULUS), keys::strip(&p.n));
        assert_eq!(get(CKA_PRIME_1), keys::strip(&p.p));
        for c in Curve::ALL {
            let k = crate::crypto::ec_generate(c);
            let der = pkcs8_ec(&k).unwrap();
            let (kt, attrs) = from_pkcs8(&der).unwrap();
            assert_eq!(kt, CKK_EC);
            let get = |ty| attrs.iter().find(|a| a.ty == ty).unwrap().value.to_vec();
            assert_eq!(keys::curve_of_params(&get(CKA_EC_PARAMS)).unwrap(), c);
            assert_eq!(get(CKA_VALUE), k.scalar().to_vec());
            // Every truncation and a trailing byte are refused.
            for cut in [1, der.len() / 2, der.len() - 1] {
                assert_eq!(
                    from_pkcs8(&der[..cut]).unwrap_err(),
                    Error::WrappedKeyInvalid
                );
            }
            let mut long = der.to_vec();
            long.push(0);
            assert_eq!(from_pkcs8(&long).unwrap_err(), Error::WrappedKeyInvalid);
        }
        assert_eq!(
            from_pkcs8(&[0u8; 32]).unwrap_err(),
            Error::WrappedKeyInvalid
        );
    }
}
