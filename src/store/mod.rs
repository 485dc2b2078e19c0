//! Persistent storage of tokens, behind a trait.
//!
//! A [`Backend`] is a directory of tokens; a [`TokenStore`] is one token. The store sees objects only as
//! lists of attributes, some of them already sealed by [`crate::vault`]: it never holds a key in clear.
//! Every write is durable when the call returns. Readers learn of other processes' writes through a
//! cheap [`TokenStore::has_changed`] check and then read only what changed ([`TokenStore::changes_since`]).

pub mod sqlite;

use crate::error::{Error, Result};

/// Which PIN a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinKind {
    So,
    User,
}

/// Token-wide state shared by all processes.
#[derive(Clone, Default)]
pub struct TokenMeta {
    pub serial: String,
    pub label: [u8; 32],
    pub so_wrap: Option<Vec<u8>>,
    pub user_wrap: Option<Vec<u8>>,
    pub so_failures: u32,
    pub user_failures: u32,
}

impl std::fmt::Debug for TokenMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMeta")
            .field("serial", &self.serial)
            .field("label", &String::from_utf8_lossy(&self.label))
            .field("user_pin_initialized", &self.user_wrap.is_some())
            .field("so_failures", &self.so_failures)
            .field("user_failures", &self.user_failures)
            .finish()
    }
}

/// One attribute as stored: sealed values are AEAD ciphertexts.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredAttr {
    pub ty: u64,
    pub sealed: bool,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for StoredAttr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StoredAttr({:#x}, {} bytes{})",
            self.ty,
            self.value.len(),
            if self.sealed { ", sealed" } else { "" }
        )
    }
}

/// One token object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub id: i64,
    pub uid: String,
    pub private: bool,
    pub attrs: Vec<StoredAttr>,
}

/// What changed since a reader's last look.
#[derive(Debug, Default)]
pub struct Changes {
    /// The token was re-initialized (or this is the first look): drop everything cached.
    pub reset: bool,
    pub upserts: Vec<StoredObject>,
    pub deleted: Vec<i64>,
    pub seq: u64,
    pub epoch: u64,
}

/// Writes applied together by [`TokenStore::apply_batch`]: all of them or none.
#[derive(Debug, Default)]
pub struct Batch {
    /// New objects: (unique ID, private, attributes).
    pub inserts: Vec<(String, bool, Vec<StoredAttr>)>,
    /// Replaced objects: (row, private, attributes).
    pub updates: Vec<(i64, bool, Vec<StoredAttr>)>,
    pub deletes: Vec<i64>,
}

/// One token's persistent state.
pub trait TokenStore: Send {
    fn meta(&mut self) -> Result<TokenMeta>;
    /// Cheap check whether another process committed since the last call.
    fn has_changed(&mut self) -> Result<bool>;
    /// Objects written and deleted since `seq` (everything when `epoch` is no longer current).
    fn changes_since(&mut self, seq: u64, epoch: u64) -> Result<Changes>;
    fn insert_object(&mut self, uid: &str, private: bool, attrs: &[StoredAttr]) -> Result<i64>;
    /// Replaces an object's attributes; `ObjectHandleInvalid` if another process deleted it.
    fn update_object(&mut self, id: i64, private: bool, attrs: &[StoredAttr]) -> Result<()>;
    fn delete_object(&mut self, id: i64) -> Result<()>;
    /// Applies a batch in one transaction, provided the token is still at change `seq` of `epoch`
    /// (the caller's last look) once the write lock is held: `Ok(None)` when another writer came
    /// first, and then nothing was written (the caller refreshes and decides again). Returns the
    /// rows of the inserts, in order. Either the whole batch is durable or none of it.
    fn apply_batch(&mut self, seq: u64, epoch: u64, batch: &Batch) -> Result<Option<Vec<i64>>>;
    /// Sets or clears a wrapped master key.
    fn set_wrap(&mut self, kind: PinKind, wrap: Option<&[u8]>) -> Result<()>;
    /// Counts one more failed attempt, durably, and returns the new count.
    fn record_failure(&mut self, kind: PinKind) -> Result<u32>;
    fn reset_failures(&mut self, kind: PinKind) -> Result<()>;
    /// The lock file that serializes PIN checks across threads and processes (locked by the caller
    /// with `File::lock`, outside any other lock), so attempts in flight are never mistaken for
    /// failures by a concurrent check.
    fn pin_lock_file(&mut self) -> Result<std::fs::File>;
    /// Wipes every object and the user PIN, sets a new label and SO wrap; keeps the serial.
    fn reinitialize(&mut self, label: &[u8; 32], so_wrap: &[u8]) -> Result<()>;
}

/// A directory of tokens.
pub trait Backend: Send + Sync {
    /// Serials of the tokens present now.
    fn list(&self) -> Result<Vec<String>>;
    fn create(&self, meta: &TokenMeta) -> Result<Box<dyn TokenStore>>;
    fn open(&self, serial: &str) -> Result<Box<dyn TokenStore>>;
    fn delete(&self, serial: &str) -> Result<()>;
}

/// Serializes attributes into one record.
pub fn encode_attrs(attrs: &[StoredAttr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + attrs.iter().map(|a| 13 + a.value.len()).sum::<usize>());
    out.extend_from_slice(&(attrs.len() as u32).to_le_bytes());
    for a in attrs {
        out.extend_from_slice(&a.ty.to_le_bytes());
        out.push(a.sealed as u8);
        out.extend_from_slice(&(a.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&a.value);
    }
    out
}

/// Parses a record written by [`encode_attrs`]; a truncated or malformed record is a storage error.
pub fn decode_attrs(mut b: &[u8]) -> Result<Vec<StoredAttr>> {
    let bad = || Error::Storage("object record is truncated or malformed".into());
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Some(h)
    }
    let n = u32::from_le_bytes(take(&mut b, 4).ok_or_else(bad)?.try_into().unwrap()) as usize;
    if n > b.len() / 13 {
        return Err(bad());
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let ty = u64::from_le_bytes(take(&mut b, 8).ok_or_else(bad)?.try_into().unwrap());
        let sealed = match take(&mut b, 1).ok_or_else(bad)?[0] {
            0 => false,
            1 => true,
            _ => return Err(bad()),
        };
        let len = u32::from_le_bytes(take(&mut b, 4).ok_or_else(bad)?.try_into().unwrap()) as usize;
        let value = take(&mut b, len).ok_or_else(bad)?.to_vec();
        v.push(StoredAttr { ty, sealed, value });
    }
    if !b.is_empty() {
        return Err(bad());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_detected() {
        let attrs = vec![
            StoredAttr {
                ty: 3,
                sealed: false,
                value: b"label".to_vec(),
            },
            StoredAttr {
                ty: 0x11,
                sealed: true,
                value: vec![9; 40],
            },
        ];
        let e = encode_attrs(&attrs);
        assert_eq!(decode_attrs(&e).unwrap(), attrs);
        for cut in 0..e.len() {
            assert!(decode_attrs(&e[..cut]).is_err(), "cut at {cut}");
        }
    }
}
