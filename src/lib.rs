//! ferrohsm: a software HSM, as a PKCS#11 module.
//!
//! The crate builds `libferrohsm.so`, which any PKCS#11 application loads. The tree reads like the
//! architecture:
//! - [`ffi`]: the C boundary; function tables and interfaces. With [`sys`] (the operating system:
//!   clock, fork handlers, the sharded lock, shared memory), the only `unsafe` code but the
//!   AWS-LC EVP calls of the default backend.
//! - [`module`]: slots, tokens and sessions, the safe core the C functions call.
//! - [`token`], [`session`]: login state, PINs, objects; operations in progress.
//! - [`object`]: objects, and the attribute rules of the spec as data tables.
//! - [`store`]: persistent storage behind a trait (SQLite).
//! - [`vault`]: encryption at rest (Argon2id, AES-256-GCM).
//! - [`family`]: key families (versions, rotation, retirement) on top of the objects.
//! - [`mechanism`], [`message`]: the mechanisms as data rows and their operations; the session side
//!   of the 3.0 message-based API.
//! - [`crypto`]: the one backend boundary (aws-lc-rs by default, RustCrypto).
//! - [`config`], [`log`]: configuration and logging.
//! - [`migrate`]: tokens of other software HSMs (SoftHSM 2) read from their files, to move them in.

#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)]

pub mod build_info;
pub mod config;
pub mod crypto;
pub mod error;
pub mod family;
pub mod ffi;
pub mod log;
pub mod login_cache;
pub mod mechanism;
pub mod message;
pub mod migrate;
pub mod module;
pub mod object;
pub mod session;
pub mod store;
pub mod sys;
pub mod token;
pub mod vault;

pub use error::{Error, Result};
