//! Sessions: which token, read-only or read/write, and the operations in progress.

use crate::token::{Login, Token};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::Arc;

/// A search started by C_FindObjectsInit: the matching handles, taken when it started.
#[derive(Debug, Default)]
pub struct Find {
    pub results: Vec<CK_OBJECT_HANDLE>,
    pub pos: usize,
}

/// Operations in progress in a session.
#[derive(Debug, Default)]
pub struct Ops {
    pub find: Option<Find>,
    /// Sign, verify, encrypt, decrypt and digest operations (see [`crate::mechanism::ops`]).
    pub crypto: crate::mechanism::ops::CryptoOps,
    /// Message-based encryption and decryption (see [`crate::message`]).
    pub message: crate::mechanism::message::MessageOps,
}

pub struct Session {
    pub handle: CK_SESSION_HANDLE,
    pub slot_id: CK_SLOT_ID,
    pub token: Arc<Token>,
    pub rw: bool,
    pub ops: Mutex<Ops>,
}

impl Session {
    /// The session state of C_GetSessionInfo.
    pub fn state(&self) -> CK_STATE {
        match (self.token.login_state(), self.rw) {
            (Login::Public, false) => CKS_RO_PUBLIC_SESSION,
            (Login::Public, true) => CKS_RW_PUBLIC_SESSION,
            (Login::User, false) => CKS_RO_USER_FUNCTIONS,
            (Login::User, true) => CKS_RW_USER_FUNCTIONS,
            (Login::So, _) => CKS_RW_SO_FUNCTIONS,
        }
    }

    pub fn caller(&self) -> crate::token::Caller {
        crate::token::Caller {
            session: self.handle,
            rw: self.rw,
        }
    }
}
