//! Objects and the one engine that applies the attribute rules of [`rules`].

pub mod attrlist;
pub mod attrs;
pub mod rules;
pub mod vendor;

use crate::error::{Error, Result};
use attrs::{AttrMap, Value};
use cryptoki_sys::*;
use rules::{flag, Kind, Rule};
use zeroize::Zeroizing;

/// One attribute of a template or an object. Values are zeroized on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ty: CK_ATTRIBUTE_TYPE,
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attribute({:#x}, {} bytes)", self.ty, self.value.len())
    }
}

impl Attribute {
    pub fn new(ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) -> Attribute {
        Attribute {
            ty,
            value: Zeroizing::new(value),
        }
    }
    pub fn bool(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Attribute {
        Attribute::new(ty, vec![v as u8])
    }
    pub fn ulong(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attribute {
        Attribute::new(ty, v.to_ne_bytes().to_vec())
    }
}

/// How an object comes to be; it decides which footnote flags apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Create,
    Generate,
}

/// What reading one attribute gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    Value(&'a [u8]),
    Sensitive,
    Invalid,
}

/// A PKCS#11 object: its attributes, checked against the rules.
#[derive(Clone)]
pub struct Object {
    class: CK_OBJECT_CLASS,
    sub: Option<&'static [Rule]>,
    attrs: AttrMap,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("class", &self.class)
            .field("attributes", &self.attrs.len())
            .finish()
    }
}

fn ulong_of(v: &[u8]) -> Option<CK_ULONG> {
    Some(CK_ULONG::from_ne_bytes(v.try_into().ok()?))
}

/// Checks a value against its type's encoding and normalises it (booleans become 0 or 1).
fn check_value(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let kind = check_kind(ty, v)?;
    Ok(Zeroizing::new(if kind == Kind::Bool {
        vec![(v[0] != 0) as u8]
    } else {
        v.to_vec()
    }))
}

/// The kind of attribute `ty`, once `v` is checked to be a well-formed value of it.
fn check_kind(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Result<Kind> {
    let kind = rules::kind(ty).ok_or(Error::AttributeTypeInvalid)?;
    let ok = match kind {
        Kind::Bool => v.len() == 1,
        Kind::Ulong => v.len() == std::mem::size_of::<CK_ULONG>(),
        Kind::Bytes => true,
        Kind::Date => v.is_empty() || (v.len() == 8 && v.iter().all(u8::is_ascii_digit)),
        Kind::MechList => v.len().is_multiple_of(std::mem::size_of::<CK_ULONG>()),
        // Wrap, unwrap and derive templates, in their stored form (see `attrlist`).
        Kind::AttrList => attrlist::decode(v).is_ok(),
    };
    if !ok {
        return Err(Error::AttributeValueInvalid);
    }
    Ok(kind)
}

/// Parses a template into a map, rejecting unknown types, malformed values and contradictions.
fn parse_template(template: &[Attribute]) -> Result<AttrMap> {
    let mut m = AttrMap::with_capacity(template.len() + 24);
    for a in template {
        let v = check_value(a.ty, &a.value)?;
        if let Some(prev) = m.insert(a.ty, v) {
            if Some(&prev) != m.get(&a.ty) {
                return Err(Error::TemplateInconsistent);
            }
        }
    }
    Ok(m)
}

impl Object {
    /// Builds an object from a template, applying the spec's rules for `origin`. `internal` holds
    /// attributes a mechanism computed (key values, CKA_LOCAL, ...): they bypass the template checks.
    pub fn build(template: &[Attribute], origin: Origin, internal: &[Attribute]) -> Result<Object> {
        let (mut attrs, class, sub) = Self::checked_template(template, origin)?;
        for a in internal {
            attrs.insert(a.ty, a.value.clone());
        }
        let required = match origin {
            Origin::Create => flag::REQ_CREATE,
            Origin::Generate => flag::REQ_GEN,
        };
        for rule in rules::rules_for(class, sub).expect("class checked") {
            if attrs.contains_key(&rule.ty) {
                continue;
            }
            if rule.flags & required != 0 && rule.flags & flag::DERIVED == 0 {
                return Err(Error::TemplateIncomplete);
            }
            let v = match rule.default {
                rules::Default::Bool(b) => vec![b as u8],
                rules::Default::Ulong(u) => u.to_ne_bytes().to_vec(),
                rules::Default::Empty => Vec::new(),
                rules::Default::None if rule.ty == CKA_PRIVATE => {
                    vec![rules::private_default(class) as u8]
                }
                rules::Default::None => continue,
            };
            attrs.insert(rule.ty, Zeroizing::new(v));
        }
        let mut obj = Object { class, sub, attrs };
        obj.derive(origin)?;
        obj.seclude();
        Ok(obj)
    }

    /// Checks a template as [`Object::build`] does before it adds the mechanism's attributes:
    /// for a generation that is slow, before it starts.
    pub fn check_template(template: &[Attribute], origin: Origin) -> Result<()> {
        Self::checked_template(template, origin).map(|_| ())
    }

    /// The parsed template, its class and its type's rules: every attribute valid for the object
    /// and settable on this origin.
    fn checked_template(
        template: &[Attribute],
        origin: Origin,
    ) -> Result<(AttrMap, CK_OBJECT_CLASS, Option<&'static [Rule]>)> {
        let attrs = parse_template(template)?;
        let class = attrs
            .get(&CKA_CLASS)
            .map(|v| ulong_of(v).expect("checked"))
            .ok_or(Error::TemplateIncomplete)?;
        rules::class_rules(class).ok_or(Error::AttributeValueInvalid)?;
        let sub = Self::sub_rules(class, &attrs)?;
        for &ty in attrs.keys() {
            let rule = rules::find_rule(class, sub, ty).ok_or(Error::TemplateInconsistent)?;
            let forbidden = match origin {
                Origin::Create => flag::NO_CREATE,
                Origin::Generate => flag::NO_GEN,
            };
            if rule.flags & (forbidden | flag::DERIVED) != 0 {
                return Err(Error::AttributeReadOnly);
            }
        }
        Ok((attrs, class, sub))
    }

    fn sub_rules(class: CK_OBJECT_CLASS, attrs: &AttrMap) -> Result<Option<&'static [Rule]>> {
        Ok(match class {
            CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY | CKO_DOMAIN_PARAMETERS => {
                let kt = attrs
                    .get(&CKA_KEY_TYPE)
                    .map(|v| ulong_of(v).expect("checked"))
                    .ok_or(Error::TemplateIncomplete)?;
                Some(
                    rules::key_type_rules(class, kt).ok_or(if rules::is_known_key_type(kt) {
                        Error::TemplateInconsistent
                    } else {
                        Error::AttributeValueInvalid
                    })?,
                )
            }
            CKO_CERTIFICATE => {
                let ct = attrs
                    .get(&CKA_CERTIFICATE_TYPE)
                    .map(|v| ulong_of(v).expect("checked"))
                    .ok_or(Error::TemplateIncomplete)?;
                Some(rules::certificate_rules(ct).ok_or(Error::AttributeValueInvalid)?)
            }
            _ => None,
        })
    }

    /// Computes the attributes that follow from others.
    fn derive(&mut self, origin: Origin) -> Result<()> {
        let mut uid = [0u8; 16];
        crate::vault::random(&mut uid)?;
        self.attrs
            .insert(CKA_UNIQUE_ID, Zeroizing::new(hex::encode(uid).into_bytes()));
        if matches!(self.class, CKO_PRIVATE_KEY | CKO_SECRET_KEY) && origin == Origin::Create {
            self.attrs
                .insert(CKA_ALWAYS_SENSITIVE, Zeroizing::new(vec![0]));
            self.attrs
                .insert(CKA_NEVER_EXTRACTABLE, Zeroizing::new(vec![0]));
        }
        if self.class == CKO_SECRET_KEY {
            if let Some(v) = self.attrs.get(&CKA_VALUE) {
                let len = v.len() as CK_ULONG;
                self.attrs
                    .insert(CKA_VALUE_LEN, Zeroizing::new(len.to_ne_bytes().to_vec()));
            }
        }
        // Domain parameters: their sizes, from the values (PKCS #11 3.0, 2.2.4 and 2.5.3).
        if self.class == CKO_DOMAIN_PARAMETERS {
            for (value, bits) in [
                (CKA_PRIME, CKA_PRIME_BITS),
                (CKA_SUBPRIME, CKA_SUBPRIME_BITS),
            ] {
                if let Some(v) = self.attrs.get(&value) {
                    let n = bit_length(v) as CK_ULONG;
                    self.attrs
                        .insert(bits, Zeroizing::new(n.to_ne_bytes().to_vec()));
                }
            }
        }
        if self.class == CKO_CERTIFICATE && self.ulong(CKA_CERTIFICATE_TYPE) == Some(CKC_X_509) {
            if let Some(v) = self.attrs.get(&CKA_VALUE) {
                use sha1::Digest;
                let kcv = sha1::Sha1::digest(&v[..])[..3].to_vec();
                match self.attrs.get(&CKA_CHECK_VALUE) {
                    Some(given) if given[..] != kcv[..] => {
                        return Err(Error::AttributeValueInvalid)
                    }
                    _ => {
                        self.attrs.insert(CKA_CHECK_VALUE, Zeroizing::new(kcv));
                    }
                }
            }
        }
        if self.class == CKO_PUBLIC_KEY && self.key_type() == Some(CKK_RSA) {
            if let Some(m) = self.attrs.get(&CKA_MODULUS) {
                let bits = bit_length(m);
                if bits == 0 {
                    return Err(Error::AttributeValueInvalid);
                }
                self.attrs.insert(
                    CKA_MODULUS_BITS,
                    Zeroizing::new((bits as CK_ULONG).to_ne_bytes().to_vec()),
                );
            }
        }
        Ok(())
    }

    /// Rebuilds an object another token made (a migration). The attributes a creator may set
    /// go through the rules as a C_CreateObject template; the ones that record the key's history
    /// (`CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE`, `CKA_NEVER_EXTRACTABLE`, `CKA_KEY_GEN_MECHANISM`) are
    /// returned apart, to be set as they were once the key is checked; the ones the module
    /// computes are computed again. Returns (template, history, types this module does not know
    /// for such an object, left out).
    pub fn split_restored(
        attrs: &[Attribute],
    ) -> Result<(Vec<Attribute>, Vec<Attribute>, Vec<CK_ATTRIBUTE_TYPE>)> {
        // Only the class and type are needed here; other values are checked by `build` later.
        let typing: Vec<Attribute> = attrs
            .iter()
            .filter(|a| matches!(a.ty, CKA_CLASS | CKA_KEY_TYPE | CKA_CERTIFICATE_TYPE))
            .cloned()
            .collect();
        let map = parse_template(&typing)?;
        let class = map
            .get(&CKA_CLASS)
            .and_then(|v| ulong_of(v))
            .ok_or(Error::TemplateIncomplete)?;
        rules::class_rules(class).ok_or(Error::AttributeValueInvalid)?;
        let sub = Self::sub_rules(class, &map)?;
        let (mut template, mut history, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for a in attrs {
            match rules::find_rule(class, sub, a.ty) {
                None => dropped.push(a.ty),
                Some(_)
                    if matches!(
                        a.ty,
                        CKA_LOCAL
                            | CKA_ALWAYS_SENSITIVE
                            | CKA_NEVER_EXTRACTABLE
                            | CKA_KEY_GEN_MECHANISM
                    ) =>
                {
                    history.push(a.clone())
                }
                Some(r) if r.flags & (flag::NO_CREATE | flag::DERIVED) != 0 => {}
                Some(_) => template.push(a.clone()),
            }
        }
        Ok((template, history, dropped))
    }

    /// Rebuilds an object from stored attributes (already validated when written).
    pub fn from_stored(attrs: Vec<Attribute>) -> Result<Object> {
        Self::from_record(attrs.iter().map(|a| (a.ty, &a.value[..])))
    }

    /// Rebuilds an object from stored attributes, read in place from a record.
    pub fn from_record<'a>(
        attrs: impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &'a [u8])>,
    ) -> Result<Object> {
        // Stored values are checked like a template's: a damaged record is an error, never a panic.
        let mut map = AttrMap::with_capacity(attrs.size_hint().0);
        for (ty, v) in attrs {
            let kind = check_kind(ty, v)
                .map_err(|_| Error::Storage(format!("stored attribute {ty:#x} is malformed")))?;
            let value = match kind {
                Kind::Bool => Value::scalar(&[(v[0] != 0) as u8]),
                Kind::Ulong | Kind::Date => Value::scalar(v),
                _ => Value::bytes(v),
            };
            map.insert(ty, value);
        }
        let class = map
            .get(&CKA_CLASS)
            .and_then(|v| ulong_of(v))
            .ok_or_else(|| Error::Storage("stored object has no class".into()))?;
        rules::class_rules(class)
            .ok_or_else(|| Error::Storage("stored object has an unknown class".into()))?;
        let sub = Self::sub_rules(class, &map)
            .map_err(|_| Error::Storage("stored object has an unknown type".into()))?;
        let mut obj = Object {
            class,
            sub,
            attrs: map,
        };
        obj.seclude();
        Ok(obj)
    }

    /// Moves the values of secret attributes (key material) into secure memory.
    fn seclude(&mut self) {
        let (class, sub) = (self.class, self.sub);
        self.attrs.seclude(|ty| {
            rules::may_be_secret(ty)
                && rules::find_rule(class, sub, ty).is_some_and(|r| r.flags & flag::SECRET != 0)
        });
    }

    pub fn class(&self) -> CK_OBJECT_CLASS {
        self.class
    }

    pub fn key_type(&self) -> Option<CK_KEY_TYPE> {
        self.ulong(CKA_KEY_TYPE)
    }

    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.attrs.get(&ty).map(|v| &v[..])
    }

    pub fn bool(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.get(ty).is_some_and(|v| v == [1])
    }

    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        self.get(ty).and_then(ulong_of)
    }

    pub fn is_token(&self) -> bool {
        self.bool(CKA_TOKEN)
    }

    pub fn is_private(&self) -> bool {
        self.bool(CKA_PRIVATE)
    }

    pub fn unique_id(&self) -> &str {
        std::str::from_utf8(self.get(CKA_UNIQUE_ID).unwrap_or_default()).unwrap_or_default()
    }

    /// Sets an attribute the module manages itself (a key family's label, ID, version and usage
    /// after a rotation), bypassing the template rules: the caller is the rule. The type must be
    /// one the module knows.
    pub fn set_internal(&mut self, ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) -> Result<()> {
        let v = check_value(ty, &value)?;
        self.attrs.insert(ty, v);
        self.seclude();
        Ok(())
    }

    /// All attributes, for storage.
    pub fn attributes(&self) -> impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &[u8])> + Clone {
        self.attrs.iter().map(|(k, v)| (*k, &v[..]))
    }

    /// Whether an attribute's value must never be stored in clear.
    pub fn is_secret_attribute(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        rules::find_rule(self.class, self.sub, ty).is_some_and(|r| r.flags & flag::SECRET != 0)
    }

    /// Whether the object must be stored sealed: it is private, or it holds a secret value.
    pub fn needs_sealing(&self) -> bool {
        self.is_private() || self.attrs.keys().any(|&t| self.is_secret_attribute(t))
    }

    /// Whether an attribute's value may be revealed (footnote 7).
    fn hidden(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.is_secret_attribute(ty) && (self.bool(CKA_SENSITIVE) || !self.bool(CKA_EXTRACTABLE))
    }

    /// Reads one attribute as C_GetAttributeValue does.
    pub fn read(&self, ty: CK_ATTRIBUTE_TYPE) -> Read<'_> {
        match self.attrs.get(&ty) {
            None => Read::Invalid,
            Some(_) if self.hidden(ty) => Read::Sensitive,
            Some(v) => Read::Value(v),
        }
    }

    /// Approximate size in bytes, for C_GetObjectSize.
    pub fn size(&self) -> usize {
        self.attrs
            .values()
            .map(|v| v.len() + 2 * std::mem::size_of::<CK_ULONG>())
            .sum()
    }

    /// Whether every attribute of a search template matches. Hidden values never match.
    pub fn matches(&self, template: &[Attribute]) -> bool {
        template.iter().all(|a| match self.attrs.get(&a.ty) {
            Some(_) if self.hidden(a.ty) => false,
            Some(v) => match rules::kind(a.ty) {
                Some(Kind::Bool) => a.value.len() == 1 && v[0] == (a.value[0] != 0) as u8,
                _ => v[..] == a.value[..],
            },
            None => false,
        })
    }

    /// Applies C_SetAttributeValue (or, with `copy`, C_CopyObject's template) and returns the new
    /// object; `self` is unchanged on error, so a failed update changes nothing.
    pub fn updated(&self, template: &[Attribute], is_so: bool, copy: bool) -> Result<Object> {
        if !copy && !self.bool(CKA_MODIFIABLE) {
            return Err(Error::ActionProhibited);
        }
        if copy && !self.bool(CKA_COPYABLE) {
            return Err(Error::ActionProhibited);
        }
        let changes = parse_template(template)?;
        let mut new = self.clone();
        for (ty, v) in changes {
            let rule =
                rules::find_rule(self.class, self.sub, ty).ok_or(Error::TemplateInconsistent)?;
            let old = self.get(ty);
            if old == Some(&v[..]) {
                continue;
            }
            let settable = rule.flags & flag::MODIFY != 0 || (copy && rule.flags & flag::COPY != 0);
            if !settable {
                return Err(Error::AttributeReadOnly);
            }
            let now_true = old == Some(&[1][..]);
            if rule.flags & flag::LATCH_TRUE != 0 && now_true {
                return Err(Error::AttributeReadOnly);
            }
            if rule.flags & flag::LATCH_FALSE != 0 && old == Some(&[0][..]) {
                return Err(Error::AttributeReadOnly);
            }
            if rule.flags & flag::SO_TRUE != 0 && v[..] == [1] && !is_so {
                return Err(Error::AttributeReadOnly);
            }
            new.attrs.insert(ty, v);
        }
        if copy {
            let mut uid = [0u8; 16];
            crate::vault::random(&mut uid)?;
            new.attrs
                .insert(CKA_UNIQUE_ID, Zeroizing::new(hex::encode(uid).into_bytes()));
            // A key whose extractability was just removed was once extractable.
            if self.bool(CKA_EXTRACTABLE) && !new.bool(CKA_EXTRACTABLE) {
                new.attrs
                    .insert(CKA_NEVER_EXTRACTABLE, Zeroizing::new(vec![0]));
            }
        }
        new.seclude();
        Ok(new)
    }
}

/// Bit length of a big-endian unsigned integer.
pub fn bit_length(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(label: &str) -> Vec<Attribute> {
        vec![
            Attribute::ulong(CKA_CLASS, CKO_DATA),
            Attribute::new(CKA_LABEL, label.as_bytes().to_vec()),
        ]
    }

    #[test]
    fn defaults_and_derived() {
        let o = Object::build(&data("x"), Origin::Create, &[]).unwrap();
        assert!(!o.is_token());
        assert!(o.is_private());
        assert!(o.bool(CKA_MODIFIABLE) && o.bool(CKA_COPYABLE) && o.bool(CKA_DESTROYABLE));
        assert_eq!(o.unique_id().len(), 32);
        let k = Object::build(
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                Attribute::new(CKA_VALUE, vec![7; 20]),
            ],
            Origin::Create,
            &[],
        )
        .unwrap();
        assert_eq!(k.ulong(CKA_VALUE_LEN), Some(20));
        assert_eq!(
            k.read(CKA_VALUE),
            Read::Sensitive,
            "not extractable by default"
        );
        assert!(!k.bool(CKA_LOCAL));
    }

    #[test]
    fn template_errors() {
        assert_eq!(
            Object::build(&[], Origin::Create, &[]).unwrap_err(),
            Error::TemplateIncomplete
        );
        let mut t = data("x");
        t.push(Attribute::bool(CKA_LOCAL, true));
        assert_eq!(
            Object::build(&t, Origin::Create, &[]).unwrap_err(),
            Error::TemplateInconsistent
        );
        let mut t = data("x");
        t.push(Attribute::new(0x0fff, vec![]));
        assert_eq!(
            Object::build(&t, Origin::Create, &[]).unwrap_err(),
            Error::AttributeTypeInvalid
        );
        let mut t = data("x");
        t.push(Attribute::new(CKA_TOKEN, vec![1, 0]));
        assert_eq!(
            Object::build(&t, Origin::Create, &[]).unwrap_err(),
            Error::AttributeValueInvalid
        );
        let t = vec![
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
        ];
        assert_eq!(
            Object::build(&t, Origin::Create, &[]).unwrap_err(),
            Error::TemplateIncomplete
        );
        let t = vec![
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
            Attribute::new(CKA_VALUE, vec![0; 16]),
            Attribute::bool(CKA_ALWAYS_SENSITIVE, true),
        ];
        assert_eq!(
            Object::build(&t, Origin::Create, &[]).unwrap_err(),
            Error::AttributeReadOnly
        );
    }

    #[test]
    fn latches() {
        let k = Object::build(
            &[
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::new(CKA_VALUE, vec![0; 16]),
                Attribute::bool(CKA_EXTRACTABLE, true),
            ],
            Origin::Create,
            &[],
        )
        .unwrap();
        assert_eq!(k.read(CKA_VALUE), Read::Value(&[0; 16]));
        let k2 = k
            .updated(&[Attribute::bool(CKA_SENSITIVE, true)], false, false)
            .unwrap();
        assert_eq!(k2.read(CKA_VALUE), Read::Sensitive);
        assert_eq!(
            k2.updated(&[Attribute::bool(CKA_SENSITIVE, false)], false, false)
                .unwrap_err(),
            Error::AttributeReadOnly
        );
        let k3 = k
            .updated(&[Attribute::bool(CKA_EXTRACTABLE, false)], false, false)
            .unwrap();
        assert_eq!(
            k3.updated(&[Attribute::bool(CKA_EXTRACTABLE, true)], false, false)
                .unwrap_err(),
            Error::AttributeReadOnly
        );
        assert_eq!(
            k.updated(&[Attribute::bool(CKA_TOKEN, true)], false, false)
                .unwrap_err(),
            Error::AttributeReadOnly
        );
        assert!(k
            .updated(&[Attribute::bool(CKA_TOKEN, true)], false, true)
            .unwrap()
            .is_token());
        assert_eq!(
            k.updated(&[Attribute::bool(CKA_TRUSTED, true)], false, false)
                .unwrap_err(),
            Error::AttributeReadOnly
        );
    }
}
