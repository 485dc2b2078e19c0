//! ferrohsm's vendor-defined attributes (`include/ferrohsm.h`), in the range
//! `CKA_VENDOR_DEFINED | 0x46450000` ("FE"). Values are never reused or renumbered.
//!
//! The key-family attributes name a key's family and version (key rotation, see
//! [`crate::family`]); their rules (who may set them, when) are in [`super::rules`].

use cryptoki_sys::{CKA_VENDOR_DEFINED, CK_ATTRIBUTE_TYPE};

/// "FE" in bits 16..31.
pub const FERROHSM_VENDOR_TAG: CK_ATTRIBUTE_TYPE = 0x4645_0000;
/// The base of the range; names nothing.
pub const CKA_FERROHSM_BASE: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | FERROHSM_VENDOR_TAG;

/// UTF-8 name of the key family (bytes). Given in a key generation template, it asks for a
/// rotation; never changed afterwards.
pub const CKA_FERROHSM_KEY_FAMILY: CK_ATTRIBUTE_TYPE = CKA_FERROHSM_BASE | 0x0001;
/// CK_ULONG version number within the family, assigned by the module (read-only).
pub const CKA_FERROHSM_KEY_VERSION: CK_ATTRIBUTE_TYPE = CKA_FERROHSM_BASE | 0x0002;
/// CK_BBOOL: a disabled key cannot be used for any operation. Set with C_SetAttributeValue.
pub const CKA_FERROHSM_KEY_DISABLED: CK_ATTRIBUTE_TYPE = CKA_FERROHSM_BASE | 0x0003;
/// CK_ULONG creation time of the version, seconds since 1970 UTC, set by the module (read-only).
pub const CKA_FERROHSM_KEY_CREATED: CK_ATTRIBUTE_TYPE = CKA_FERROHSM_BASE | 0x0004;
/// The JOSE `alg` the version is meant for (ASCII, e.g. "PS256"); may be given at generation.
pub const CKA_FERROHSM_KEY_ALG: CK_ATTRIBUTE_TYPE = CKA_FERROHSM_BASE | 0x0005;
/// CK_BBOOL, only in a rotation template: also make a self-signed X.509 certificate for the new
/// version (subject CN=<kid>, signed by the new key), with the version's ID and label, in the same
/// transaction. Never stored on an object.
pub const CKA_FERROHSM_KEY_CERT: CK_ATTRIBUTE_TYPE = CKA_FERROHSM_BASE | 0x0006;
