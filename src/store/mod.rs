//! Persistent storage of tokens, behind a trait.
//!
//! A [`Backend`] is a directory of tokens; a [`TokenStore`] is one token. The store sees objects only as
//! lists of attributes, some of them already sealed by [`crate::vault`]: it never holds a key in clear.
//! Every write is durable when the call returns. Readers learn of other processes' writes through a
//! cheap [`TokenStore::has_changed`] check and then read only what changed ([`TokenStore::changes_since`]).

pub mod anchor;
pub mod pins;
pub mod postgres;
pub mod sqlite;
pub mod state;

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

/// One token object as stored: its record is kept as read (one allocation per object), and its
/// attributes are read from it in place by [`StoredObject::attrs`]. The store only hands out
/// records that [`check_record`] accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub id: i64,
    pub uid: String,
    pub private: bool,
    record: Vec<u8>,
}

impl std::fmt::Debug for StoredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredObject")
            .field("id", &self.id)
            .field("uid", &self.uid)
            .field("private", &self.private)
            .field("record_bytes", &self.record.len())
            .finish()
    }
}

impl StoredObject {
    /// Wraps a record read from storage; a truncated or malformed record is a storage error.
    pub fn new(id: i64, uid: String, private: bool, record: Vec<u8>) -> Result<StoredObject> {
        check_record(&record)?;
        Ok(StoredObject {
            id,
            uid,
            private,
            record,
        })
    }

    /// The attributes, borrowed from the record.
    pub fn attrs(&self) -> RecordAttrs<'_> {
        RecordAttrs::new(&self.record).expect("checked when read")
    }

    /// Whether any value is sealed (the object cannot be read without the master key). Such
    /// rows are covered by the token's state tag ([`state`]).
    pub fn has_sealed(&self) -> bool {
        self.attrs().any(|a| a.sealed)
    }

    /// The record as stored (what the state tag covers).
    pub fn record(&self) -> &[u8] {
        &self.record
    }
}

/// One attribute of a record, borrowed.
#[derive(Clone, Copy)]
pub struct RecordAttr<'a> {
    pub ty: u64,
    pub sealed: bool,
    pub value: &'a [u8],
}

/// The attributes of a record written by [`encode_attrs`], in order, read in place.
#[derive(Clone)]
pub struct RecordAttrs<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> RecordAttrs<'a> {
    fn new(b: &'a [u8]) -> Option<RecordAttrs<'a>> {
        let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        // Each attribute takes at least 13 bytes: a count beyond that is damage, not a huge record.
        if n > (b.len() - 4) / 13 {
            return None;
        }
        Some(RecordAttrs {
            rest: &b[4..],
            left: n,
        })
    }

    /// The next attribute; `Err` on a malformed record.
    fn step(&mut self) -> std::result::Result<Option<RecordAttr<'a>>, ()> {
        if self.left == 0 {
            return if self.rest.is_empty() {
                Ok(None)
            } else {
                Err(())
            };
        }
        let b = self.rest;
        if b.len() < 13 {
            return Err(());
        }
        let ty = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let sealed = match b[8] {
            0 => false,
            1 => true,
            _ => return Err(()),
        };
        let len = u32::from_le_bytes(b[9..13].try_into().expect("4 bytes")) as usize;
        let value = b[13..].get(..len).ok_or(())?;
        self.rest = &b[13 + len..];
        self.left -= 1;
        Ok(Some(RecordAttr { ty, sealed, value }))
    }
}

impl<'a> Iterator for RecordAttrs<'a> {
    type Item = RecordAttr<'a>;
    /// Only used on checked records, where `step` cannot fail.
    fn next(&mut self) -> Option<RecordAttr<'a>> {
        self.step().ok().flatten()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Checks that a record is well formed, without copying anything.
pub fn check_record(b: &[u8]) -> Result<()> {
    let bad = || Error::Storage("object record is truncated or malformed".into());
    let mut it = RecordAttrs::new(b).ok_or_else(bad)?;
    while it.step().map_err(|_| bad())?.is_some() {}
    Ok(())
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
    /// The tag of the sealed rows at `seq` ([`state`]), read with them; `None` until a login
    /// makes it (a token written by a version before it).
    pub state: Option<Vec<u8>>,
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

/// The lock of one token's PIN checks ([`TokenStore::pin_lock`]): held from [`PinLock::lock`]
/// until dropped.
pub trait PinLock: Send {
    /// Waits for the lock (a bounded wait where the engine has one).
    fn lock(&mut self) -> Result<()>;
}

/// One token's persistent state.
pub trait TokenStore: Send {
    fn meta(&mut self) -> Result<TokenMeta>;
    /// Whether another process committed since the last call (asks the database).
    fn has_changed(&mut self) -> Result<bool>;
    /// A counter every writer bumps before and after each commit, readable without any lock, so
    /// a reader asks [`TokenStore::has_changed`] only when it moved. `None`: ask every time.
    fn change_hint(&self) -> Option<std::sync::Arc<crate::sys::shm::SharedCounter>> {
        None
    }
    /// With a change hint: how long a reader may go on the hint alone before it asks
    /// [`TokenStore::has_changed`]. It bounds how long a change the hint does not show stays
    /// unseen: a writer that died between its commit and its bump on this machine, or, for a
    /// store shared by several machines, another machine's change.
    fn check_interval_ms(&self) -> u64 {
        1000
    }
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
    /// The lock that serializes PIN checks across threads, processes and hosts (taken by the
    /// caller with [`PinLock::lock`], outside any other lock), so attempts in flight are never
    /// mistaken for failures by a concurrent check.
    fn pin_lock(&mut self) -> Result<Box<dyn PinLock>>;
    /// Wipes every object and the user PIN, sets a new label and SO wrap; keeps the serial and
    /// the IV counters.
    fn reinitialize(&mut self, label: &[u8; 32], so_wrap: &[u8]) -> Result<()>;
    /// Reserves `n` consecutive values of the IV counter named `key` (a fingerprint of a key
    /// value, see [`crate::mechanism::message`]) and returns the first, durably: no two calls, in
    /// any process, before or after a restart, get overlapping ranges. Counters are never reset,
    /// not even by [`TokenStore::reinitialize`]. `MechanismParamInvalid` when the counter would
    /// pass 2^63.
    fn reserve_ivs(&mut self, key: &[u8], n: u64) -> Result<u64>;
    /// The key of the state tags ([`state`]), held while someone with the master key is logged
    /// in: with it, every write of a sealed row and every IV reservation updates the tags in
    /// the same transaction; without it, writing a sealed row is `UserNotLoggedIn`.
    fn set_state_key(&mut self, key: Option<state::StateKey>);
    /// Makes the tags that are missing (a token written by an earlier version), or all of them
    /// when `replace`, from what the store holds now, with the key given by
    /// [`TokenStore::set_state_key`].
    fn init_state(&mut self, replace: bool) -> Result<()>;
    /// Checks the IV counters against their tag: each counter at or above its authenticated
    /// value, the authenticated values those the tag covers (`Ok(true)`; also when there is no
    /// tag yet). `Err` only when the check could not be made.
    fn check_ivs(&mut self) -> Result<bool>;
    /// The whole token, read at one moment ([`Backend::restore`] writes it elsewhere).
    fn dump(&mut self) -> Result<TokenDump>;
}

/// A directory of tokens.
pub trait Backend: Send + Sync {
    /// Serials of the tokens present now.
    fn list(&self) -> Result<Vec<String>>;
    fn create(&self, meta: &TokenMeta) -> Result<Box<dyn TokenStore>>;
    fn open(&self, serial: &str) -> Result<Box<dyn TokenStore>>;
    fn delete(&self, serial: &str) -> Result<()>;
    /// Writes whole tokens read from another store ([`TokenStore::dump`]): all of them or none.
    /// Refuses (and writes nothing) when one of their serials is already here.
    fn restore(&self, tokens: &[TokenDump]) -> Result<()>;
}

/// A whole token as stored, for moving it from one store to another (`ferrohsm-util token
/// copy`). Nothing in it is in clear that the store does not already hold so.
#[derive(Debug, Default)]
pub struct TokenDump {
    /// The label, the wrapped master keys and the failed-PIN counts (a lockout moves along).
    pub meta: TokenMeta,
    /// Every object: (unique ID, private, record as stored).
    pub objects: Vec<(String, bool, Vec<u8>)>,
    /// Every IV counter: (name, next value, authenticated value).
    pub ivs: Vec<(Vec<u8>, i64, Option<i64>)>,
    /// The IV counters' state tag, still true in the copy. The objects' tag covers row numbers,
    /// which a copy does not keep: it is made again at the copy's first login, as for a token of
    /// an earlier version (docs/POSTGRES.md says what that leaves open).
    pub state_ivs: Option<Vec<u8>>,
}

/// Serializes attributes into one record.
pub fn encode_attrs(attrs: &[StoredAttr]) -> Vec<u8> {
    encode_record(attrs.iter().map(|a| RecordAttr {
        ty: a.ty,
        sealed: a.sealed,
        value: &a.value,
    }))
}

/// Serializes attributes into one record (the format [`RecordAttrs`] reads).
pub fn encode_record<'a, I>(attrs: I) -> Vec<u8>
where
    I: Iterator<Item = RecordAttr<'a>> + Clone,
{
    let len = 4 + attrs.clone().map(|a| 13 + a.value.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(attrs.clone().count() as u32).to_le_bytes());
    for a in attrs {
        out.extend_from_slice(&a.ty.to_le_bytes());
        out.push(a.sealed as u8);
        out.extend_from_slice(&(a.value.len() as u32).to_le_bytes());
        out.extend_from_slice(a.value);
    }
    out
}

/// The attributes of a record, after checking that it is well formed.
pub fn record_attrs(b: &[u8]) -> Result<RecordAttrs<'_>> {
    check_record(b)?;
    Ok(RecordAttrs::new(b).expect("checked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record as owned attributes (what `check_record` and `RecordAttrs` read in place).
    fn decode_attrs(b: &[u8]) -> Result<Vec<StoredAttr>> {
        Ok(record_attrs(b)?
            .map(|a| StoredAttr {
                ty: a.ty,
                sealed: a.sealed,
                value: a.value.to_vec(),
            })
            .collect())
    }

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
            assert!(StoredObject::new(1, "u".into(), false, e[..cut].to_vec()).is_err());
        }
        let mut longer = e.clone();
        longer.push(0);
        assert!(check_record(&longer).is_err());
        let so = StoredObject::new(1, "u".into(), false, e).unwrap();
        assert!(so.has_sealed());
        let seen: Vec<(u64, bool, &[u8])> = so.attrs().map(|a| (a.ty, a.sealed, a.value)).collect();
        assert_eq!(
            seen,
            vec![(3, false, &b"label"[..]), (0x11, true, &[9u8; 40][..])]
        );
        // The size hint is exact (it sizes the attribute maps objects are decoded into).
        assert_eq!(so.attrs().size_hint(), (2, Some(2)));
        let mut it = so.attrs();
        it.next();
        assert_eq!(it.size_hint(), (1, Some(1)));
        // A record with no sealed value: the object is readable without the master key.
        let clear = encode_attrs(&attrs[..1]);
        assert!(!StoredObject::new(2, "v".into(), false, clear)
            .unwrap()
            .has_sealed());
    }

    /// Empty values (an empty CKA_LABEL or CKA_ID) are a 13-byte header and nothing else, first,
    /// in the middle or last in a record.
    #[test]
    fn empty_values_round_trip() {
        let a = |ty: u64, v: &[u8]| StoredAttr {
            ty,
            sealed: false,
            value: v.to_vec(),
        };
        for attrs in [
            vec![a(3, b"")],
            vec![a(3, b"x"), a(0x102, b"")],
            vec![a(3, b""), a(0x102, b"y")],
            vec![a(3, b"x"), a(0x102, b""), a(0x11, b"z")],
        ] {
            let e = encode_attrs(&attrs);
            assert_eq!(decode_attrs(&e).unwrap(), attrs);
        }
    }
}
