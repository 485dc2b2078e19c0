//! Message-based encryption (PKCS#11 3.0, C_MessageEncryptInit to C_MessageDecryptFinal) with
//! AES-GCM and AES-CCM: the per-message parameters, the IV generators, and one message at a time,
//! single-part (C_EncryptMessage) or in parts (C_EncryptMessageBegin / Next).
//!
//! **IVs never repeat under a key.** A generated IV (`CKG_GENERATE`, `CKG_GENERATE_COUNTER`) keeps
//! the caller's `ulIvFixedBits` leading bits and puts a counter in the rest. The counter belongs to
//! the key's *value*, not to one object: it is named by a fingerprint of the value, so copies,
//! re-imports and session objects of the same key share it. Its values come from an
//! [`IvCounter`], which the token backs with its store: an operation reserves a range of values
//! in one durable transaction and hands them out from memory, so two operations, two processes,
//! or a process before and after a restart never get the same value; a crash only skips the rest
//! of a range. A counter that no longer fits the free bits is refused, never wrapped.
//! `CKG_GENERATE_RANDOM` fills the free bits from the system's generator and needs at least 96 of
//! them (SP 800-38D, 8.2.2). A decryption takes its IV as given (`CKG_NO_GENERATE`).
//!
//! **Streaming.** On the aws-lc backend, GCM parts stream both ways: each part's output is returned
//! at once and the tag is made or checked with the last part (`CKF_END_OF_MESSAGE`). Until then a
//! decrypted part is unauthenticated, which is the message API's contract: a caller discards the
//! plaintext of a message whose last part fails with `CKR_AEAD_DECRYPT_FAILED`. CCM, and GCM on the
//! RustCrypto backend, hold the message until its last part ([`super::block::HELD_CAP`]).
//!
//! **Errors.** An error ends the message in progress, never the message-based operation; a size
//! query or a buffer too small changes nothing (no IV is used up).

use super::block;
use super::keys::Key;
use super::ops::Wrote;
use super::{CryptOp, Mech, Param};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Which parameter structure a call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    /// CK_GCM_MESSAGE_PARAMS.
    Gcm,
    /// CK_CCM_MESSAGE_PARAMS.
    Ccm,
}

/// The per-message parameters (CK_GCM_MESSAGE_PARAMS or CK_CCM_MESSAGE_PARAMS) as read from the
/// caller; the caller's buffers get the generated IV and the tag back from [`MsgOut`].
#[derive(Debug, Clone)]
pub struct MsgParam {
    pub kind: MsgKind,
    /// pIv / pNonce: the IV (its fixed part when one is generated).
    pub iv: Vec<u8>,
    pub fixed_bits: CK_ULONG,
    pub generator: CK_GENERATOR_FUNCTION,
    /// GCM: ulTagBits. CCM: ulMACLen (bytes).
    pub tag_size: CK_ULONG,
    /// What pTag / pMAC holds now: the tag to check, for a decryption.
    pub tag: Vec<u8>,
    /// CCM: ulDataLen, the message's length without the MAC.
    pub data_len: CK_ULONG,
}

impl MsgParam {
    /// The tag length in bytes this parameter names (0 when it names none that is valid).
    pub fn tag_len(kind: MsgKind, tag_size: CK_ULONG) -> usize {
        match kind {
            MsgKind::Gcm if tag_size.is_multiple_of(8) => (tag_size / 8).try_into().unwrap_or(0),
            MsgKind::Gcm => 0,
            MsgKind::Ccm => tag_size.try_into().unwrap_or(0),
        }
    }
}

/// What a message call gives back.
#[derive(Debug)]
pub struct MsgOut {
    pub wrote: Wrote,
    /// A generated IV, for the caller's pIv / pNonce.
    pub iv: Option<Vec<u8>>,
    /// An encryption's tag, for the caller's pTag / pMAC (at the message's end).
    pub tag: Option<Vec<u8>>,
}

impl MsgOut {
    fn need(n: usize) -> MsgOut {
        MsgOut {
            wrote: Wrote::Need(n),
            iv: None,
            tag: None,
        }
    }
}

/// The durable counter behind generated IVs (the token's store, for ferrohsm).
pub trait IvCounter: Send + Sync {
    /// Reserves `n` consecutive values, never handed out before, and returns the first.
    fn reserve(&self, n: u64) -> Result<u64>;
}

/// The least free bits `CKG_GENERATE_RANDOM` accepts (SP 800-38D, 8.2.2).
pub const RANDOM_IV_MIN_BITS: usize = 96;

/// How many counter values one reservation takes: at most 4096, and few enough that a crash
/// wastes a small part of a narrow counter (1/65536 of its space).
fn lease_size(free_bits: usize) -> u64 {
    ((1u64 << free_bits.min(28)) >> 16).clamp(1, 4096)
}

/// The counter values an operation has reserved and not used yet.
struct IvGen {
    counter: Box<dyn IvCounter>,
    next: u64,
    end: u64,
}

impl IvGen {
    fn take(&mut self, free_bits: usize) -> Result<u64> {
        if self.next == self.end {
            let n = lease_size(free_bits);
            self.next = self.counter.reserve(n)?;
            self.end = self.next.checked_add(n).ok_or(Error::GeneralError)?;
        }
        let c = self.next;
        if free_bits < 64 && c >> free_bits != 0 {
            // Every IV this fixed part allows under this key has been used.
            return Err(Error::MechanismParamInvalid);
        }
        self.next += 1;
        Ok(c)
    }
}

/// Replaces the `free` low-order bits of `iv` with those of `v` (big-endian, as long as `iv`).
fn put_low_bits(iv: &mut [u8], free: usize, v: &[u8]) {
    for (i, (b, x)) in iv.iter_mut().rev().zip(v.iter().rev()).enumerate() {
        let left = free.saturating_sub(8 * i);
        if left == 0 {
            break;
        }
        let mask: u8 = if left >= 8 { 0xff } else { (1u8 << left) - 1 };
        *b = (*b & !mask) | (x & mask);
    }
}

/// The IV of the next message: the caller's, or one generated from its fixed part.
fn message_iv(p: &MsgParam, gen: &mut IvGen, decrypt: bool) -> Result<Vec<u8>> {
    if p.generator == CKG_NO_GENERATE {
        return Ok(p.iv.clone());
    }
    if decrypt {
        return Err(Error::MechanismParamInvalid);
    }
    let bits = p.iv.len() * 8;
    let fixed = usize::try_from(p.fixed_bits)
        .ok()
        .filter(|&f| f <= bits)
        .ok_or(Error::MechanismParamInvalid)?;
    let free = bits - fixed;
    let mut iv = p.iv.clone();
    let mut v = vec![0u8; iv.len()];
    match p.generator {
        CKG_GENERATE | CKG_GENERATE_COUNTER if free > 0 => {
            let c = gen.take(free)?.to_be_bytes();
            let n = c.len().min(v.len());
            let at = v.len() - n;
            v[at..].copy_from_slice(&c[c.len() - n..]);
        }
        CKG_GENERATE_RANDOM if free >= RANDOM_IV_MIN_BITS => crate::crypto::random(&mut v)?,
        _ => return Err(Error::MechanismParamInvalid),
    }
    put_low_bits(&mut iv, free, &v);
    Ok(iv)
}

/// How a message is computed.
enum Engine {
    /// The mechanism's single-message operation; a decryption is fed the ciphertext, then the tag.
    Op(Box<dyn CryptOp>),
    /// GCM decryption streaming each part (aws-lc backend).
    #[cfg(feature = "backend-awslc")]
    Open(crate::crypto::GcmStream),
}

/// A message begun with C_*MessageBegin and not ended yet.
struct Current {
    engine: Engine,
    tag_len: usize,
    /// Input taken and output given so far.
    fed: usize,
    given: usize,
}

/// A message-based encryption or decryption operation: the mechanism and key of its init, the
/// IVs it has reserved, the message in progress.
pub struct MessageOp {
    mech: CK_MECHANISM_TYPE,
    key: Arc<Key>,
    decrypt: bool,
    ivs: IvGen,
    current: Option<Current>,
}

impl std::fmt::Debug for MessageOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MessageOp({:#x}, {}, in message: {})",
            self.mech,
            if self.decrypt { "decrypt" } else { "encrypt" },
            self.current.is_some()
        )
    }
}

/// The name of a key value's IV counter: a fingerprint of the value. The store holds it in clear;
/// it tells no more of the key than CKA_CHECK_VALUE does.
pub fn counter_name(key: &Key) -> Result<Vec<u8>> {
    let value = &block::secret(key)?.value;
    let mut m = Zeroizing::new(b"ferrohsm iv counter v1\0".to_vec());
    m.extend_from_slice(value);
    Ok(crate::crypto::Hasher::digest(
        crate::crypto::HashAlg::Sha256,
        &m,
    ))
}

impl MessageOp {
    /// C_MessageEncryptInit / C_MessageDecryptInit with CKM_AES_GCM or CKM_AES_CCM, whose
    /// parameter then comes with each message: the mechanism's own must be absent.
    pub fn new(
        mech: &Mech,
        key: &Arc<Key>,
        decrypt: bool,
        counter: Box<dyn IvCounter>,
    ) -> Result<MessageOp> {
        if !matches!(mech.ty, CKM_AES_GCM | CKM_AES_CCM) {
            return Err(Error::MechanismInvalid);
        }
        if !matches!(mech.param, Param::None) {
            return Err(Error::MechanismParamInvalid);
        }
        block::secret(key)?.sym()?;
        Ok(MessageOp {
            mech: mech.ty,
            key: key.clone(),
            decrypt,
            ivs: IvGen {
                counter,
                next: 0,
                end: 0,
            },
            current: None,
        })
    }

    /// Whether a message begun in parts is in progress.
    pub fn in_message(&self) -> bool {
        self.current.is_some()
    }

    /// Checks the parameter against the mechanism and returns the message's tag length.
    fn check(&self, p: &MsgParam) -> Result<usize> {
        let kind = match self.mech {
            CKM_AES_GCM => MsgKind::Gcm,
            _ => MsgKind::Ccm,
        };
        let tag_len = MsgParam::tag_len(kind, p.tag_size);
        // The tag buffer: an encryption's output, a decryption's input; either way it must be
        // there, as long as the parameter says.
        if p.kind != kind || tag_len == 0 || p.tag.len() != tag_len {
            return Err(Error::MechanismParamInvalid);
        }
        Ok(tag_len)
    }

    /// The single-message operation of this mechanism for one message.
    fn op(
        &self,
        p: &MsgParam,
        iv: Vec<u8>,
        aad: &[u8],
        tag_len: usize,
    ) -> Result<Box<dyn CryptOp>> {
        let param = match p.kind {
            MsgKind::Gcm => Param::Gcm {
                iv,
                aad: aad.to_vec(),
                tag_bits: p.tag_size,
            },
            MsgKind::Ccm => Param::Ccm {
                data_len: p.data_len,
                nonce: iv,
                aad: aad.to_vec(),
                mac_len: tag_len as CK_ULONG,
            },
        };
        let mech = Mech {
            ty: self.mech,
            param,
        };
        match p.kind {
            MsgKind::Gcm => block::gcm(&mech, &self.key, self.decrypt),
            MsgKind::Ccm => block::ccm(&mech, &self.key, self.decrypt),
        }
    }

    /// C_EncryptMessage / C_DecryptMessage: one whole message. `out` is `None` for a size query;
    /// the tag goes to (encryption) or comes from (decryption) the parameter.
    pub fn one(
        &mut self,
        p: &MsgParam,
        aad: &[u8],
        input: &[u8],
        out: Option<&mut [u8]>,
    ) -> Result<MsgOut> {
        if self.current.is_some() {
            return Err(Error::OperationActive);
        }
        let tag_len = self.check(p)?;
        let n = input.len();
        let out = match out {
            Some(o) if o.len() >= n => o,
            _ => return Ok(MsgOut::need(n)),
        };
        let iv = message_iv(p, &mut self.ivs, self.decrypt)?;
        let generated = (p.generator != CKG_NO_GENERATE).then(|| iv.clone());
        let mut op = self.op(p, iv, aad, tag_len)?;
        if self.decrypt {
            let mut whole = Vec::with_capacity(n + tag_len);
            whole.extend_from_slice(input);
            whole.extend_from_slice(&p.tag);
            let r = op.one_shot(&whole, &mut out[..n]);
            if r.is_err() {
                // Nothing unauthenticated leaves.
                out[..n].fill(0);
            }
            let w = r.map_err(aead_error)?;
            return Ok(MsgOut {
                wrote: Wrote::Wrote(w),
                iv: generated,
                tag: None,
            });
        }
        let mut sealed = Zeroizing::new(vec![0u8; n + tag_len]);
        let w = op.one_shot(input, &mut sealed)?;
        if w != n + tag_len {
            return Err(Error::GeneralError);
        }
        out[..n].copy_from_slice(&sealed[..n]);
        Ok(MsgOut {
            wrote: Wrote::Wrote(n),
            iv: generated,
            tag: Some(sealed[n..].to_vec()),
        })
    }

    /// C_EncryptMessageBegin / C_DecryptMessageBegin: starts a message in parts; returns the
    /// generated IV, if one was.
    pub fn begin(&mut self, p: &MsgParam, aad: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.current.is_some() {
            return Err(Error::OperationActive);
        }
        let tag_len = self.check_begin(p)?;
        let iv = message_iv(p, &mut self.ivs, self.decrypt)?;
        let generated = (p.generator != CKG_NO_GENERATE).then(|| iv.clone());
        // The single-message operation checks every parameter, for the streaming path too.
        let op = self.op(p, iv.clone(), aad, tag_len)?;
        #[cfg(feature = "backend-awslc")]
        let engine = if self.decrypt && p.kind == MsgKind::Gcm {
            drop(op);
            let value = &block::secret(&self.key)?.value;
            Engine::Open(crate::crypto::GcmStream::new_decrypt(
                value, &iv, aad, tag_len,
            )?)
        } else {
            Engine::Op(op)
        };
        #[cfg(not(feature = "backend-awslc"))]
        let engine = Engine::Op(op);
        self.current = Some(Current {
            engine,
            tag_len,
            fed: 0,
            given: 0,
        });
        Ok(generated)
    }

    /// As `check`, without the tag buffer (the tag is made or checked with the last part).
    fn check_begin(&self, p: &MsgParam) -> Result<usize> {
        let mut q = p.clone();
        q.tag = vec![0; MsgParam::tag_len(q.kind, q.tag_size)];
        self.check(&q)
    }

    /// C_EncryptMessageNext / C_DecryptMessageNext: the next part of the message; `last` when
    /// the caller's flags hold CKF_END_OF_MESSAGE. `out` is `None` for a size query.
    pub fn next(
        &mut self,
        p: &MsgParam,
        input: &[u8],
        out: Option<&mut [u8]>,
        last: bool,
    ) -> Result<MsgOut> {
        let cur = self
            .current
            .as_mut()
            .ok_or(Error::OperationNotInitialized)?;
        let need = match (&cur.engine, last) {
            (_, true) => (cur.fed + input.len())
                .checked_sub(cur.given)
                .ok_or(Error::GeneralError)?,
            (Engine::Op(op), false) => match op.update_len(input.len()) {
                Ok(n) => n,
                Err(e) => {
                    self.current = None;
                    return Err(e);
                }
            },
            #[cfg(feature = "backend-awslc")]
            (Engine::Open(_), false) => input.len(),
        };
        let out = match out {
            Some(o) if o.len() >= need => o,
            _ => return Ok(MsgOut::need(need)),
        };
        let mut cur = self.current.take().expect("checked");
        let r = Self::part(&mut cur, p, input, &mut out[..need], last, self.decrypt);
        if r.is_ok() && !last {
            cur.fed += input.len();
            cur.given += need;
            self.current = Some(cur);
        }
        r.map(|tag| MsgOut {
            wrote: Wrote::Wrote(need),
            iv: None,
            tag,
        })
    }

    /// Runs one part into `out` (exactly the output it makes); returns an encryption's tag at
    /// the end.
    fn part(
        cur: &mut Current,
        p: &MsgParam,
        input: &[u8],
        out: &mut [u8],
        last: bool,
        decrypt: bool,
    ) -> Result<Option<Vec<u8>>> {
        if last && p.tag.len() != cur.tag_len {
            return Err(Error::MechanismParamInvalid);
        }
        match &mut cur.engine {
            Engine::Op(op) if !last => {
                let w = op.update(input, out)?;
                (w == out.len()).then_some(None).ok_or(Error::GeneralError)
            }
            Engine::Op(op) if decrypt => {
                let mut none = [0u8; 0];
                op.update(input, &mut none)?;
                op.update(&p.tag, &mut none)?;
                let r = op.finish_into(out);
                if r.is_err() {
                    out.fill(0);
                }
                match r.map_err(aead_error)? {
                    w if w == out.len() => Ok(None),
                    _ => Err(Error::GeneralError),
                }
            }
            Engine::Op(op) => {
                let w = op.update(input, out)?;
                let fin = op.finish()?;
                let body = fin
                    .len()
                    .checked_sub(cur.tag_len)
                    .filter(|&b| w + b == out.len())
                    .ok_or(Error::GeneralError)?;
                out[w..].copy_from_slice(&fin[..body]);
                Ok(Some(fin[body..].to_vec()))
            }
            #[cfg(feature = "backend-awslc")]
            Engine::Open(s) => {
                s.update(input, out)?;
                if last {
                    s.finish_decrypt(&p.tag).map_err(aead_error)?;
                }
                Ok(None)
            }
        }
    }
}

/// A tag that does not verify, in the message API's words.
fn aead_error(e: Error) -> Error {
    match e {
        Error::EncryptedDataInvalid => Error::AeadDecryptFailed,
        e => e,
    }
}

/// The message-based operations of a session (a field of [`crate::session::Ops`]).
#[derive(Debug, Default)]
pub struct MessageOps {
    pub encrypt: Option<MessageOp>,
    pub decrypt: Option<MessageOp>,
}

impl MessageOps {
    pub fn slot(&mut self, decrypt: bool) -> &mut Option<MessageOp> {
        if decrypt {
            &mut self.decrypt
        } else {
            &mut self.encrypt
        }
    }

    /// Ends the operations `flags` names (C_SessionCancel): CKF_MESSAGE_ENCRYPT,
    /// CKF_MESSAGE_DECRYPT.
    pub fn cancel(&mut self, flags: CK_FLAGS) {
        if flags & CKF_MESSAGE_ENCRYPT != 0 {
            self.encrypt = None;
        }
        if flags & CKF_MESSAGE_DECRYPT != 0 {
            self.decrypt = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reservations are 4096 values for wide counters, and 1/65536 of a narrow counter's space
    /// (at least one), so a crash wastes little of either.
    #[test]
    fn lease_sizes() {
        assert_eq!(lease_size(96), 4096);
        assert_eq!(lease_size(28), 4096);
        assert_eq!(lease_size(27), 2048);
        assert_eq!(lease_size(20), 16);
        assert_eq!(lease_size(16), 1);
        assert_eq!(lease_size(1), 1);
    }

    /// Only the free low-order bits change, across a byte boundary too.
    #[test]
    fn low_bits() {
        let mut iv = [0xffu8; 4];
        put_low_bits(&mut iv, 12, &[0, 0, 0x0a, 0xbc]);
        assert_eq!(iv, [0xff, 0xff, 0xfa, 0xbc]);
        let mut iv = [0u8; 4];
        put_low_bits(&mut iv, 3, &[0xff; 4]);
        assert_eq!(iv, [0, 0, 0, 7]);
        let mut iv = [0x12u8, 0x34];
        put_low_bits(&mut iv, 0, &[0xff; 2]);
        assert_eq!(iv, [0x12, 0x34]);
    }
}
