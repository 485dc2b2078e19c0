//! The attribute rules of the PKCS#11 specification, as data.
//!
//! Each object class and key type has a table of the attributes valid for it, with the spec's footnote
//! flags (required on create, read-only, sensitive, modifiable, one-way latches) and the default value.
//! [`super`] reads these tables; no other code decides attribute rules.

use super::vendor::*;
use cryptoki_sys::*;

/// How an attribute's value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Ulong,
    Bytes,
    /// UTF-8 or opaque text (labels, IDs): stored as bytes.
    Date,
    /// An array of CK_MECHANISM_TYPE.
    MechList,
    /// An array of CK_ATTRIBUTE (wrap/unwrap/derive templates).
    AttrList,
}

/// The spec's footnotes, as bits.
pub mod flag {
    /// 1: must be specified when the object is created with C_CreateObject.
    pub const REQ_CREATE: u16 = 1 << 0;
    /// 2: must not be specified when the object is created with C_CreateObject.
    pub const NO_CREATE: u16 = 1 << 1;
    /// 3: must be specified when the object is generated.
    pub const REQ_GEN: u16 = 1 << 2;
    /// 4: must not be specified when the object is generated.
    pub const NO_GEN: u16 = 1 << 3;
    /// 7: cannot be revealed if the object is sensitive or not extractable; never stored in clear.
    pub const SECRET: u16 = 1 << 4;
    /// 8: may be modified with C_SetAttributeValue or during C_CopyObject.
    pub const MODIFY: u16 = 1 << 5;
    /// 10: can only be set to true by the SO.
    pub const SO_TRUE: u16 = 1 << 6;
    /// 11: cannot be changed once true.
    pub const LATCH_TRUE: u16 = 1 << 7;
    /// 12: cannot be changed once false.
    pub const LATCH_FALSE: u16 = 1 << 8;
    /// May be given a new value in C_CopyObject only (CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE).
    pub const COPY: u16 = 1 << 9;
    /// Computed by the module from other attributes (never from the template).
    pub const DERIVED: u16 = 1 << 10;
}
use flag::*;

/// Default value when the template does not give one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    None,
    Bool(bool),
    Ulong(CK_ULONG),
    Empty,
}

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub ty: CK_ATTRIBUTE_TYPE,
    pub flags: u16,
    pub default: Default,
}

const fn r(ty: CK_ATTRIBUTE_TYPE, flags: u16, default: Default) -> Rule {
    Rule { ty, flags, default }
}
use self::Default::{Bool as B, Empty as E, None as N, Ulong as U};

/// Value encoding of every attribute type the module knows; `None` is an invalid type.
pub fn kind(ty: CK_ATTRIBUTE_TYPE) -> Option<Kind> {
    Some(match ty {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_ENCAPSULATE
        | CKA_DECAPSULATE
        | CKA_FERROHSM_KEY_DISABLED => Kind::Bool,
        CKA_CLASS
        | CKA_KEY_TYPE
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_MODULUS_BITS
        | CKA_VALUE_LEN
        | CKA_PRIME_BITS
        | CKA_SUBPRIME_BITS
        | CKA_KEY_GEN_MECHANISM
        | CKA_NAME_HASH_ALGORITHM
        | CKA_PARAMETER_SET
        | CKA_FERROHSM_KEY_VERSION
        | CKA_FERROHSM_KEY_CREATED => Kind::Ulong,
        CKA_LABEL
        | CKA_APPLICATION
        | CKA_VALUE
        | CKA_OBJECT_ID
        | CKA_ISSUER
        | CKA_SERIAL_NUMBER
        | CKA_SUBJECT
        | CKA_ID
        | CKA_CHECK_VALUE
        | CKA_URL
        | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
        | CKA_HASH_OF_ISSUER_PUBLIC_KEY
        | CKA_PUBLIC_KEY_INFO
        | CKA_MODULUS
        | CKA_PRIME
        | CKA_SUBPRIME
        | CKA_BASE
        | CKA_PUBLIC_EXPONENT
        | CKA_PRIVATE_EXPONENT
        | CKA_PRIME_1
        | CKA_PRIME_2
        | CKA_EXPONENT_1
        | CKA_EXPONENT_2
        | CKA_COEFFICIENT
        | CKA_EC_PARAMS
        | CKA_EC_POINT
        | CKA_UNIQUE_ID
        | CKA_SEED
        | CKA_FERROHSM_KEY_FAMILY
        | CKA_FERROHSM_KEY_ALG => Kind::Bytes,
        CKA_START_DATE | CKA_END_DATE => Kind::Date,
        CKA_ALLOWED_MECHANISMS => Kind::MechList,
        CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE => Kind::AttrList,
        _ => return None,
    })
}

const COMMON: &[Rule] = &[r(CKA_CLASS, REQ_CREATE, N)];

const STORAGE: &[Rule] = &[
    r(CKA_TOKEN, COPY, B(false)),
    // CKA_PRIVATE's default depends on the class: see `private_default`.
    r(CKA_PRIVATE, COPY, N),
    r(CKA_MODIFIABLE, COPY | LATCH_FALSE, B(true)),
    r(CKA_LABEL, MODIFY, E),
    r(CKA_COPYABLE, MODIFY | LATCH_FALSE, B(true)),
    r(CKA_DESTROYABLE, MODIFY, B(true)),
    r(CKA_UNIQUE_ID, NO_CREATE | NO_GEN | DERIVED, N),
];

const DATA: &[Rule] = &[
    r(CKA_APPLICATION, MODIFY, E),
    r(CKA_OBJECT_ID, MODIFY, E),
    r(CKA_VALUE, MODIFY, E),
];

const CERTIFICATE: &[Rule] = &[
    r(CKA_CERTIFICATE_TYPE, REQ_CREATE, N),
    r(CKA_TRUSTED, SO_TRUE, B(false)),
    r(
        CKA_CERTIFICATE_CATEGORY,
        MODIFY,
        U(CK_CERTIFICATE_CATEGORY_UNSPECIFIED),
    ),
    r(CKA_START_DATE, MODIFY, E),
    r(CKA_END_DATE, MODIFY, E),
    r(CKA_PUBLIC_KEY_INFO, 0, E),
];

const X509: &[Rule] = &[
    r(CKA_SUBJECT, REQ_CREATE | MODIFY, N),
    r(CKA_ID, MODIFY, E),
    r(CKA_ISSUER, MODIFY, E),
    r(CKA_SERIAL_NUMBER, MODIFY, E),
    r(CKA_VALUE, REQ_CREATE, N),
    r(CKA_URL, 0, E),
    r(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, 0, E),
    r(CKA_HASH_OF_ISSUER_PUBLIC_KEY, 0, E),
    r(CKA_JAVA_MIDP_SECURITY_DOMAIN, 0, U(0)),
    r(CKA_NAME_HASH_ALGORITHM, 0, U(CKM_SHA_1)),
    // PKCS #11 3.0: the first three bytes of the SHA-1 of CKA_VALUE, computed by the module
    // (Object::derive); a template may give it, and it must then match.
    r(CKA_CHECK_VALUE, 0, N),
    // The certificate a rotation makes for a family version (CKA_FERROHSM_KEY_CERT) carries the
    // version's family attributes, set by the module only (see KEY below).
    r(CKA_FERROHSM_KEY_FAMILY, NO_CREATE, N),
    r(CKA_FERROHSM_KEY_VERSION, NO_CREATE | DERIVED, N),
    r(CKA_FERROHSM_KEY_DISABLED, NO_CREATE | MODIFY, N),
    r(CKA_FERROHSM_KEY_CREATED, NO_CREATE | DERIVED, N),
    r(CKA_FERROHSM_KEY_ALG, NO_CREATE, N),
];

const KEY: &[Rule] = &[
    r(CKA_KEY_TYPE, REQ_CREATE, N),
    r(CKA_ID, MODIFY, E),
    r(CKA_START_DATE, MODIFY, E),
    r(CKA_END_DATE, MODIFY, E),
    r(CKA_DERIVE, MODIFY, B(false)),
    r(CKA_LOCAL, NO_CREATE | NO_GEN | DERIVED, B(false)),
    r(
        CKA_KEY_GEN_MECHANISM,
        NO_CREATE | NO_GEN | DERIVED,
        U(CK_UNAVAILABLE_INFORMATION),
    ),
    r(CKA_ALLOWED_MECHANISMS, MODIFY, E),
    // ferrohsm key families (include/ferrohsm.h). No defaults: a key outside a family has none of
    // them. The family (and the JOSE alg) may be given to C_GenerateKey(Pair) only, which then
    // rotates the family (crate::family); version and creation time are the module's; disabled
    // is set by the module at generation and then with C_SetAttributeValue.
    r(CKA_FERROHSM_KEY_FAMILY, NO_CREATE, N),
    r(CKA_FERROHSM_KEY_VERSION, NO_CREATE | NO_GEN | DERIVED, N),
    r(CKA_FERROHSM_KEY_DISABLED, NO_CREATE | NO_GEN | MODIFY, N),
    r(CKA_FERROHSM_KEY_CREATED, NO_CREATE | NO_GEN | DERIVED, N),
    r(CKA_FERROHSM_KEY_ALG, NO_CREATE, N),
];

const PUBLIC_KEY: &[Rule] = &[
    r(CKA_SUBJECT, MODIFY, E),
    r(CKA_ENCRYPT, MODIFY, B(true)),
    r(CKA_VERIFY, MODIFY, B(true)),
    r(CKA_VERIFY_RECOVER, MODIFY, B(true)),
    r(CKA_WRAP, MODIFY, B(true)),
    // Any caller may lower it; only the SO may set it (on a key the SO can see: a public one).
    r(CKA_TRUSTED, MODIFY | SO_TRUE, B(false)),
    r(CKA_WRAP_TEMPLATE, 0, E),
    r(CKA_PUBLIC_KEY_INFO, 0, E),
];

const PRIVATE_KEY: &[Rule] = &[
    r(CKA_SUBJECT, MODIFY, E),
    r(CKA_SENSITIVE, MODIFY | LATCH_TRUE, B(false)),
    r(CKA_DECRYPT, MODIFY, B(true)),
    r(CKA_SIGN, MODIFY, B(true)),
    r(CKA_SIGN_RECOVER, MODIFY, B(true)),
    r(CKA_UNWRAP, MODIFY, B(true)),
    r(CKA_EXTRACTABLE, MODIFY | LATCH_FALSE, B(false)),
    r(CKA_ALWAYS_SENSITIVE, NO_CREATE | NO_GEN | DERIVED, B(false)),
    r(
        CKA_NEVER_EXTRACTABLE,
        NO_CREATE | NO_GEN | DERIVED,
        B(false),
    ),
    r(CKA_WRAP_WITH_TRUSTED, MODIFY | LATCH_TRUE, B(false)),
    r(CKA_UNWRAP_TEMPLATE, 0, E),
    r(CKA_ALWAYS_AUTHENTICATE, MODIFY, B(false)),
    r(CKA_PUBLIC_KEY_INFO, 0, E),
];

const SECRET_KEY: &[Rule] = &[
    r(CKA_SENSITIVE, MODIFY | LATCH_TRUE, B(false)),
    r(CKA_ENCRYPT, MODIFY, B(true)),
    r(CKA_DECRYPT, MODIFY, B(true)),
    r(CKA_SIGN, MODIFY, B(true)),
    r(CKA_VERIFY, MODIFY, B(true)),
    r(CKA_WRAP, MODIFY, B(true)),
    r(CKA_UNWRAP, MODIFY, B(true)),
    r(CKA_EXTRACTABLE, MODIFY | LATCH_FALSE, B(false)),
    r(CKA_ALWAYS_SENSITIVE, NO_CREATE | NO_GEN | DERIVED, B(false)),
    r(
        CKA_NEVER_EXTRACTABLE,
        NO_CREATE | NO_GEN | DERIVED,
        B(false),
    ),
    r(CKA_WRAP_WITH_TRUSTED, MODIFY | LATCH_TRUE, B(false)),
    r(CKA_TRUSTED, MODIFY | SO_TRUE, B(false)),
    r(CKA_WRAP_TEMPLATE, 0, E),
    r(CKA_UNWRAP_TEMPLATE, 0, E),
];

const RSA_PUBLIC: &[Rule] = &[
    r(CKA_MODULUS, REQ_CREATE | NO_GEN, N),
    r(CKA_MODULUS_BITS, NO_CREATE | REQ_GEN, N),
    r(CKA_PUBLIC_EXPONENT, REQ_CREATE, N),
];

const RSA_PRIVATE: &[Rule] = &[
    r(CKA_MODULUS, REQ_CREATE | NO_GEN, N),
    r(CKA_PUBLIC_EXPONENT, NO_GEN, E),
    r(CKA_PRIVATE_EXPONENT, REQ_CREATE | NO_GEN | SECRET, N),
    r(CKA_PRIME_1, NO_GEN | SECRET, E),
    r(CKA_PRIME_2, NO_GEN | SECRET, E),
    r(CKA_EXPONENT_1, NO_GEN | SECRET, E),
    r(CKA_EXPONENT_2, NO_GEN | SECRET, E),
    r(CKA_COEFFICIENT, NO_GEN | SECRET, E),
];

const EC_PUBLIC: &[Rule] = &[
    r(CKA_EC_PARAMS, REQ_CREATE | REQ_GEN, N),
    r(CKA_EC_POINT, REQ_CREATE | NO_GEN, N),
];

const EC_PRIVATE: &[Rule] = &[
    r(CKA_EC_PARAMS, REQ_CREATE | NO_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN | SECRET, N),
];

/// DSA keys (PKCS #11 3.0, 2.2.2 and 2.2.3): the domain parameters are given with a public key
/// (on create and in the key pair generation template) and computed into the private key.
const DSA_PUBLIC: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | REQ_GEN, N),
    r(CKA_SUBPRIME, REQ_CREATE | REQ_GEN, N),
    r(CKA_BASE, REQ_CREATE | REQ_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN, N),
];

const DSA_PRIVATE: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GEN, N),
    r(CKA_SUBPRIME, REQ_CREATE | NO_GEN, N),
    r(CKA_BASE, REQ_CREATE | NO_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN | SECRET, N),
];

/// PKCS #3 Diffie-Hellman keys (PKCS #11 3.0, 2.5.1 and 2.5.2).
const DH_PUBLIC: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | REQ_GEN, N),
    r(CKA_BASE, REQ_CREATE | REQ_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN, N),
];

const DH_PRIVATE: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GEN, N),
    r(CKA_BASE, REQ_CREATE | NO_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN | SECRET, N),
];

/// Domain parameter objects (PKCS #11 3.0, 4.12): the key type they are for, and whether the
/// token generated them.
const DOMAIN_PARAMETERS: &[Rule] = &[
    r(CKA_KEY_TYPE, REQ_CREATE, N),
    r(CKA_LOCAL, NO_CREATE | NO_GEN | DERIVED, B(false)),
];

/// DSA domain parameters (PKCS #11 3.0, 2.2.4): given on create, computed by
/// CKM_DSA_PARAMETER_GEN from CKA_PRIME_BITS (and CKA_SUBPRIME_BITS, which the spec leaves to the
/// token: ferrohsm takes it, as SoftHSM does). The sizes are the values' (`Object::derive`).
const DSA_PARAMS: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GEN, N),
    r(CKA_SUBPRIME, REQ_CREATE | NO_GEN, N),
    r(CKA_BASE, REQ_CREATE | NO_GEN, N),
    r(CKA_PRIME_BITS, NO_CREATE | REQ_GEN, N),
    r(CKA_SUBPRIME_BITS, NO_CREATE, N),
];

/// PKCS #3 Diffie-Hellman domain parameters (PKCS #11 3.0, 2.5.3).
const DH_PARAMS: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GEN, N),
    r(CKA_BASE, REQ_CREATE | NO_GEN, N),
    r(CKA_PRIME_BITS, NO_CREATE | REQ_GEN, N),
];

/// ML-DSA keys (PKCS #11 3.2): the parameter set is given with the public key (on create and in
/// the key pair generation template) and computed into the private key. A private key is created
/// from CKA_SEED, CKA_VALUE (skEncode) or both (they must then be the same key:
/// mechanism::keys); the 3.2 table marks CKA_VALUE required on create, but its text asks only
/// one of the two, which is what the module does.
const ML_DSA_PUBLIC: &[Rule] = &[
    r(CKA_PARAMETER_SET, REQ_CREATE | REQ_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN, N),
];

const ML_DSA_PRIVATE: &[Rule] = &[
    r(CKA_PARAMETER_SET, REQ_CREATE | NO_GEN, N),
    r(CKA_SEED, NO_GEN | SECRET, N),
    r(CKA_VALUE, NO_GEN | SECRET, N),
];

/// ML-KEM keys (PKCS #11 3.2): as ML-DSA's (a private key from CKA_SEED, d || z, and/or
/// CKA_VALUE, the expanded key), with the usage attributes of key encapsulation. The 3.2 tables
/// make CKA_ENCAPSULATE and CKA_DECAPSULATE common to all public and private keys; the module
/// keeps them on the one key type that encapsulates, so other keys do not list attributes that
/// could never be used.
const ML_KEM_PUBLIC: &[Rule] = &[
    r(CKA_PARAMETER_SET, REQ_CREATE | REQ_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN, N),
    r(CKA_ENCAPSULATE, MODIFY, B(true)),
];

const ML_KEM_PRIVATE: &[Rule] = &[
    r(CKA_PARAMETER_SET, REQ_CREATE | NO_GEN, N),
    r(CKA_SEED, NO_GEN | SECRET, N),
    r(CKA_VALUE, NO_GEN | SECRET, N),
    r(CKA_DECAPSULATE, MODIFY, B(true)),
];

/// SLH-DSA keys (PKCS #11 3.2): like ML-DSA's, with one private value (SK.seed || SK.prf ||
/// PK.seed || PK.root).
const SLH_DSA_PRIVATE: &[Rule] = &[
    r(CKA_PARAMETER_SET, REQ_CREATE | NO_GEN, N),
    r(CKA_VALUE, REQ_CREATE | NO_GEN | SECRET, N),
];

const SECRET_VALUE: &[Rule] = &[
    r(CKA_VALUE, REQ_CREATE | NO_GEN | SECRET, N),
    r(CKA_VALUE_LEN, NO_CREATE, N),
    // PKCS#11 3.0: the key check value. The module computes it; a template may give it on
    // create, and it must then match (mechanism::keys::validate_key).
    r(CKA_CHECK_VALUE, NO_GEN, N),
];

/// Key types with a table of their own, by class.
pub fn key_type_rules(class: CK_OBJECT_CLASS, key_type: CK_KEY_TYPE) -> Option<&'static [Rule]> {
    Some(match (class, key_type) {
        (CKO_PUBLIC_KEY, CKK_RSA) => RSA_PUBLIC,
        (CKO_PRIVATE_KEY, CKK_RSA) => RSA_PRIVATE,
        // PKCS #11 3.0 gives the Edwards (and Montgomery) keys the attributes of EC keys.
        (CKO_PUBLIC_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY) => EC_PUBLIC,
        (CKO_PRIVATE_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY) => EC_PRIVATE,
        (CKO_SECRET_KEY, k) if is_secret_key_type(k) => SECRET_VALUE,
        (CKO_PUBLIC_KEY, CKK_DSA) => DSA_PUBLIC,
        (CKO_PRIVATE_KEY, CKK_DSA) => DSA_PRIVATE,
        (CKO_PUBLIC_KEY, CKK_DH) => DH_PUBLIC,
        (CKO_PRIVATE_KEY, CKK_DH) => DH_PRIVATE,
        (CKO_DOMAIN_PARAMETERS, CKK_DSA) => DSA_PARAMS,
        (CKO_DOMAIN_PARAMETERS, CKK_DH) => DH_PARAMS,
        (CKO_PUBLIC_KEY, CKK_ML_DSA) => ML_DSA_PUBLIC,
        (CKO_PRIVATE_KEY, CKK_ML_DSA) => ML_DSA_PRIVATE,
        (CKO_PUBLIC_KEY, CKK_SLH_DSA) => ML_DSA_PUBLIC,
        (CKO_PRIVATE_KEY, CKK_SLH_DSA) => SLH_DSA_PRIVATE,
        (CKO_PUBLIC_KEY, CKK_ML_KEM) => ML_KEM_PUBLIC,
        (CKO_PRIVATE_KEY, CKK_ML_KEM) => ML_KEM_PRIVATE,
        _ => return None,
    })
}

/// Secret key types the module stores.
pub fn is_secret_key_type(k: CK_KEY_TYPE) -> bool {
    matches!(
        k,
        CKK_GENERIC_SECRET
            | CKK_AES
            | CKK_DES2
            | CKK_DES3
            | CKK_SHA_1_HMAC
            | CKK_SHA224_HMAC
            | CKK_SHA256_HMAC
            | CKK_SHA384_HMAC
            | CKK_SHA512_HMAC
            | CKK_SHA512_224_HMAC
            | CKK_SHA512_256_HMAC
            | CKK_SHA3_224_HMAC
            | CKK_SHA3_256_HMAC
            | CKK_SHA3_384_HMAC
            | CKK_SHA3_512_HMAC
            | CKK_HKDF
    )
}

/// Whether a key type exists for any class (to tell an invalid value from an inconsistent one).
pub fn is_known_key_type(k: CK_KEY_TYPE) -> bool {
    matches!(
        k,
        CKK_RSA
            | CKK_EC
            | CKK_EC_EDWARDS
            | CKK_EC_MONTGOMERY
            | CKK_DSA
            | CKK_DH
            | CKK_ML_DSA
            | CKK_SLH_DSA
            | CKK_ML_KEM
    ) || is_secret_key_type(k)
}

/// The groups of rules that apply to an object: common, storage, class, then type.
pub fn class_rules(class: CK_OBJECT_CLASS) -> Option<&'static [&'static [Rule]]> {
    Some(match class {
        CKO_DATA => &[COMMON, STORAGE, DATA],
        CKO_CERTIFICATE => &[COMMON, STORAGE, CERTIFICATE],
        CKO_PUBLIC_KEY => &[COMMON, STORAGE, KEY, PUBLIC_KEY],
        CKO_PRIVATE_KEY => &[COMMON, STORAGE, KEY, PRIVATE_KEY],
        CKO_SECRET_KEY => &[COMMON, STORAGE, KEY, SECRET_KEY],
        CKO_DOMAIN_PARAMETERS => &[COMMON, STORAGE, DOMAIN_PARAMETERS],
        _ => return None,
    })
}

/// Certificate types with a table of their own.
pub fn certificate_rules(cert_type: CK_CERTIFICATE_TYPE) -> Option<&'static [Rule]> {
    match cert_type {
        CKC_X_509 => Some(X509),
        _ => None,
    }
}

/// `CKA_PRIVATE` defaults to true except for certificates and public keys (as SoftHSM does).
pub fn private_default(class: CK_OBJECT_CLASS) -> bool {
    !matches!(class, CKO_CERTIFICATE | CKO_PUBLIC_KEY)
}

/// Every rule for an object, later groups overriding earlier ones for the same type.
pub fn rules_for(
    class: CK_OBJECT_CLASS,
    sub: Option<&'static [Rule]>,
) -> Option<impl Iterator<Item = &'static Rule> + Clone> {
    let groups = class_rules(class)?;
    Some(groups.iter().copied().chain(sub).flat_map(|g| g.iter()))
}

/// Whether some rule marks `ty` `SECRET`: a quick filter before [`find_rule`] (the test
/// `secret_types_are_all_listed` keeps it in step with the tables).
pub fn may_be_secret(ty: CK_ATTRIBUTE_TYPE) -> bool {
    matches!(
        ty,
        CKA_VALUE
            | CKA_SEED
            | CKA_PRIVATE_EXPONENT
            | CKA_PRIME_1
            | CKA_PRIME_2
            | CKA_EXPONENT_1
            | CKA_EXPONENT_2
            | CKA_COEFFICIENT
    )
}

/// The rule for `ty`, the most specific group winning.
pub fn find_rule(
    class: CK_OBJECT_CLASS,
    sub: Option<&'static [Rule]>,
    ty: CK_ATTRIBUTE_TYPE,
) -> Option<Rule> {
    rules_for(class, sub)?
        .filter(|r| r.ty == ty)
        .last()
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `may_be_secret` lists every type some table marks `SECRET`: a type it missed would keep its
    /// value out of secure memory.
    #[test]
    fn secret_types_are_all_listed() {
        let tables: &[&[Rule]] = &[
            COMMON,
            STORAGE,
            DATA,
            CERTIFICATE,
            X509,
            KEY,
            PUBLIC_KEY,
            PRIVATE_KEY,
            SECRET_KEY,
            RSA_PUBLIC,
            RSA_PRIVATE,
            EC_PUBLIC,
            EC_PRIVATE,
            DSA_PUBLIC,
            DSA_PRIVATE,
            DH_PUBLIC,
            DH_PRIVATE,
            DOMAIN_PARAMETERS,
            DSA_PARAMS,
            DH_PARAMS,
            ML_DSA_PUBLIC,
            ML_DSA_PRIVATE,
            ML_KEM_PUBLIC,
            ML_KEM_PRIVATE,
            SLH_DSA_PRIVATE,
            SECRET_VALUE,
        ];
        for r in tables.iter().flat_map(|t| t.iter()) {
            if r.flags & flag::SECRET != 0 {
                assert!(may_be_secret(r.ty), "{:#x} is SECRET but not listed", r.ty);
            }
        }
    }
}
