//! The session side of message-based encryption (PKCS#11 3.0, C_MessageEncryptInit to
//! C_MessageDecryptFinal): one message-based encryption and one decryption per session, each
//! with the IV counter of its key's value backed by the token's store. The operations are in
//! [`crate::mechanism::message`].
//!
//! Lock order: the session's `ops` lock, then (to reserve IVs) the token's store lock. Each call
//! holds the session's lock while it runs, so C_SessionCancel from another thread waits for it.

use crate::error::{Error, Result};
use crate::mechanism::message::{counter_name, IvCounter, MessageOp, MsgOut, MsgParam};
use crate::mechanism::Mech;
use crate::module::Module;
use crate::token::Token;
use cryptoki_sys::*;
use std::sync::Arc;

/// The IV counter of one key value, in one token's store.
struct StoreCounter {
    token: Arc<Token>,
    name: Vec<u8>,
}

impl IvCounter for StoreCounter {
    fn reserve(&self, n: u64) -> Result<u64> {
        self.token.reserve_ivs(&self.name, n)
    }
}

impl Module {
    /// C_MessageEncryptInit (`decrypt` false) or C_MessageDecryptInit.
    pub fn message_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        decrypt: bool,
    ) -> Result<()> {
        let s = self.session(h)?;
        if s.ops.lock().message.slot(decrypt).is_some() {
            return Err(Error::OperationActive);
        }
        let (usage, flag) = if decrypt {
            (CKA_DECRYPT, CKF_MESSAGE_DECRYPT)
        } else {
            (CKA_ENCRYPT, CKF_MESSAGE_ENCRYPT)
        };
        let op = self.with_op_key(&s, mech, key, usage, flag, |_, _, k| {
            let counter = StoreCounter {
                token: s.token.clone(),
                name: counter_name(k)?,
            };
            MessageOp::new(mech, k, decrypt, Box::new(counter))
        })?;
        let mut ops = s.ops.lock();
        let slot = ops.message.slot(decrypt);
        if slot.is_some() {
            return Err(Error::OperationActive);
        }
        *slot = Some(op);
        Ok(())
    }

    fn with_message<T>(
        &self,
        h: CK_SESSION_HANDLE,
        decrypt: bool,
        f: impl FnOnce(&mut MessageOp) -> Result<T>,
    ) -> Result<T> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let op = ops
            .message
            .slot(decrypt)
            .as_mut()
            .ok_or(Error::OperationNotInitialized)?;
        f(op)
    }

    /// C_EncryptMessage or C_DecryptMessage.
    pub fn message_one(
        &self,
        h: CK_SESSION_HANDLE,
        decrypt: bool,
        p: &MsgParam,
        aad: &[u8],
        input: &[u8],
        out: Option<&mut [u8]>,
    ) -> Result<MsgOut> {
        self.with_message(h, decrypt, |op| op.one(p, aad, input, out))
    }

    /// C_EncryptMessageBegin or C_DecryptMessageBegin: the generated IV, if any.
    pub fn message_begin(
        &self,
        h: CK_SESSION_HANDLE,
        decrypt: bool,
        p: &MsgParam,
        aad: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        self.with_message(h, decrypt, |op| op.begin(p, aad))
    }

    /// C_EncryptMessageNext or C_DecryptMessageNext.
    pub fn message_next(
        &self,
        h: CK_SESSION_HANDLE,
        decrypt: bool,
        p: &MsgParam,
        input: &[u8],
        out: Option<&mut [u8]>,
        last: bool,
    ) -> Result<MsgOut> {
        self.with_message(h, decrypt, |op| op.next(p, input, out, last))
    }

    /// C_MessageEncryptFinal or C_MessageDecryptFinal: ends the operation (and any message in
    /// progress).
    pub fn message_final(&self, h: CK_SESSION_HANDLE, decrypt: bool) -> Result<()> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        ops.message
            .slot(decrypt)
            .take()
            .map(drop)
            .ok_or(Error::OperationNotInitialized)
    }
}
