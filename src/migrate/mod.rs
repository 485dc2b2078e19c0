//! Moving tokens in from other software tokens, read from their own files (`ferrohsm-util
//! migrate ...`). Readers only: they never write or count a PIN attempt in the source, and
//! hand back attributes that the core ([`crate::module::Module::restore_objects`]) turns into
//! objects under the same rules as any other.

pub mod softhsm;
pub mod softhsm_db;
