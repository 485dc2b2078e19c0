//! A token: its PINs and login state, and its objects, cached in memory and kept in step with the store.
//!
//! Lock order (outermost first): `Module::slots` → `Module::sessions` → `Token::inner` → `Token::store`
//! → `Session::ops`. The store lock is only held for one store call; the KDF never runs under a lock.
//! `Token::inner` is a sharded lock (`crate::sys::sharded`): a reader takes its thread's shard, a
//! write takes every shard, in one order.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::object::{Attribute, Object};
use crate::store::state::{self as tags, Acc, StateKey};
use crate::store::{Batch, PinKind, StoredAttr, StoredObject, TokenMeta, TokenStore};
use crate::sys::sharded::{ShardedReadGuard, ShardedRwLock};
use crate::vault::MasterKey;
use cryptoki_sys::*;
use parking_lot::Mutex;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Object handles are never reused in a process.
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);

fn new_handle() -> CK_OBJECT_HANDLE {
    NEXT_OBJECT.fetch_add(1, Ordering::Relaxed) as CK_OBJECT_HANDLE
}

pub const MIN_PIN: usize = 4;
pub const MAX_PIN: usize = 255;

/// Who is logged in to a token, for this application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Public,
    User,
    So,
}

/// An object as the token holds it.
#[derive(Debug)]
pub struct Entry {
    pub handle: CK_OBJECT_HANDLE,
    /// Row of a token object in the store.
    pub db_id: Option<i64>,
    /// Session that owns a session object.
    pub session: Option<CK_SESSION_HANDLE>,
    pub obj: Object,
    /// The key parsed for the backend, made on first use (see [`crate::mechanism::keys::parsed`]).
    /// A changed object is a new entry, so a parsed key never outlives the values it came from.
    pub parsed: std::sync::OnceLock<Arc<crate::mechanism::keys::Key>>,
}

/// A change of several token objects, applied at once by [`Token::batch`].
#[derive(Debug, Default)]
pub struct Change {
    pub inserts: Vec<Object>,
    /// (handle, new object)
    pub updates: Vec<(CK_OBJECT_HANDLE, Object)>,
    pub deletes: Vec<CK_OBJECT_HANDLE>,
}

/// What an operation knows of the calling session.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub session: CK_SESSION_HANDLE,
    pub rw: bool,
}

pub struct Token {
    pub serial: String,
    pub slot_id: CK_SLOT_ID,
    max_attempts: u32,
    /// `token.state_mismatch = accept` (see [`Token::login`]).
    accept_mismatch: bool,
    kdf: crate::config::KdfCost,
    /// The login cache in the kernel keyring (`None`: off).
    login_cache: Option<crate::login_cache::LoginCache>,
    /// Whether login may decode objects on worker threads.
    threads: bool,
    inner: ShardedRwLock<Inner>,
    store: Mutex<Box<dyn TokenStore>>,
    /// The store's change hint, read without a lock on every call; `hint_seen` is its value at the
    /// last full check, made at `last_full_ms` on the coarse clock (`crate::sys::clock`).
    hint: Option<Arc<crate::sys::shm::SharedCounter>>,
    hint_seen: AtomicU64,
    /// Even when the hint has not moved, the store is asked at least this often
    /// ([`TokenStore::check_interval_ms`]).
    check_every_ms: u64,
    /// The store holds something no sync has read yet (see `refresh`): a change another process
    /// made, or, from `open` until the first call that needs the objects, all of them.
    unsynced: std::sync::atomic::AtomicBool,
    last_full_ms: AtomicU64,
}

struct Inner {
    meta: TokenMeta,
    login: Login,
    mk: Option<MasterKey>,
    objects: HashMap<CK_OBJECT_HANDLE, Arc<Entry>>,
    /// Handles by (attribute, value) for the attributes searches name most: label and ID.
    index: HashMap<(CK_ATTRIBUTE_TYPE, Vec<u8>), Vec<CK_OBJECT_HANDLE>>,
    by_db: HashMap<i64, CK_OBJECT_HANDLE>,
    /// Session objects by owning session, so closing a session costs its own objects only.
    by_session: HashMap<CK_SESSION_HANDLE, BTreeSet<CK_OBJECT_HANDLE>>,
    /// Stored objects that need the master key, kept as read while nobody holding the key is
    /// logged in, so a login decodes them without reading the store again.
    locked: HashMap<i64, StoredObject>,
    /// `locked` holds every such object (false after a logout dropped decoded ones: the next
    /// login reads them from the store).
    locked_complete: bool,
    seq: u64,
    epoch: u64,
    /// The objects' state tag as of `seq` (`None`: not made yet, see [`TokenStore::init_state`]).
    state_tag: Option<Vec<u8>>,
    /// While the master key is at hand: the contributions of the sealed rows to that tag.
    tracker: Option<Tracker>,
}

/// The contributions of the sealed rows held in the cache to the objects' state tag
/// ([`crate::store::state`]), kept up to date by every sync so that each sync checks the tag in
/// time proportional to what changed.
struct Tracker {
    key: StateKey,
    rows: HashMap<i64, Acc>,
    acc: Acc,
}

impl Tracker {
    fn new(key: StateKey) -> Tracker {
        Tracker {
            key,
            rows: HashMap::default(),
            acc: [0; 32],
        }
    }

    /// A row read from the store (an upsert): counted if it is sealed, in place of what it was.
    fn upsert(&mut self, so: &StoredObject) {
        self.remove(so.id);
        if so.has_sealed() {
            let c = self.key.row(so.id, so.record());
            tags::xor(&mut self.acc, &c);
            self.rows.insert(so.id, c);
        }
    }

    fn remove(&mut self, id: i64) {
        if let Some(c) = self.rows.remove(&id) {
            tags::xor(&mut self.acc, &c);
        }
    }

    fn matches(&self, tag: &[u8]) -> Result<bool> {
        self.key.verify(tags::Kind::Objects, tag, &self.acc)
    }
}

/// Attributes kept in the search index.
const INDEXED: [CK_ATTRIBUTE_TYPE; 2] = [CKA_LABEL, CKA_ID];

impl Inner {
    /// Inserts or replaces an object in the cache and the index.
    fn put(&mut self, e: Entry) {
        self.take(e.handle);
        for ty in INDEXED {
            if let Some(v) = e.obj.get(ty) {
                // A handle list, not a set: most labels and IDs name one object, and a list of
                // one is one small allocation. `take` above made sure the handle is not in it.
                self.index
                    .entry((ty, v.to_vec()))
                    .or_default()
                    .push(e.handle);
            }
        }
        if let Some(sh) = e.session {
            self.by_session.entry(sh).or_default().insert(e.handle);
        }
        self.objects.insert(e.handle, Arc::new(e));
    }

    /// Removes an object from the cache and the index.
    fn take(&mut self, handle: CK_OBJECT_HANDLE) -> Option<Arc<Entry>> {
        let e = self.objects.remove(&handle)?;
        if let Some(sh) = e.session {
            if let Some(set) = self.by_session.get_mut(&sh) {
                set.remove(&handle);
                if set.is_empty() {
                    self.by_session.remove(&sh);
                }
            }
        }
        for ty in INDEXED {
            if let Some(v) = e.obj.get(ty) {
                let key = (ty, v.to_vec());
                if let Some(set) = self.index.get_mut(&key) {
                    set.retain(|&h| h != handle);
                    if set.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
        }
        Some(e)
    }

    /// Removes every object for which `f` holds.
    fn take_where(&mut self, f: impl Fn(&Entry) -> bool) {
        let gone: Vec<CK_OBJECT_HANDLE> = self
            .objects
            .values()
            .filter(|e| f(e))
            .map(|e| e.handle)
            .collect();
        for h in gone {
            self.take(h);
        }
    }
}

/// The slot ID SoftHSM and ferrohsm give a token: the low 31 bits of the serial's low 32 bits.
pub fn slot_id_for_serial(serial: &str) -> CK_SLOT_ID {
    let v = u64::from_str_radix(serial, 16).unwrap_or(0);
    (v & 0x7fff_ffff) as CK_SLOT_ID
}

fn wrap_context(serial: &str, kind: PinKind) -> Vec<u8> {
    format!("ferrohsm master key:{serial}:{kind:?}").into_bytes()
}

/// The associated data of a sealed attribute: `seal_prefix(serial, uid)` then the type.
fn seal_prefix(serial: &str, uid: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(48 + serial.len() + uid.len());
    v.extend_from_slice(b"ferrohsm attribute:");
    v.extend_from_slice(serial.as_bytes());
    v.push(b':');
    v.extend_from_slice(uid.as_bytes());
    v.push(b':');
    v
}

/// Sets `ctx` (a [`seal_prefix`] of `base` bytes) to the associated data of attribute `ty`.
fn seal_context(ctx: &mut Vec<u8>, base: usize, ty: CK_ATTRIBUTE_TYPE) -> &[u8] {
    ctx.truncate(base);
    ctx.extend_from_slice(&ty.to_le_bytes());
    ctx
}

/// How an object that must be sealed is stored: one attribute of this reserved type (no PKCS#11
/// attribute type has every bit set) holding nonce || AES-256-GCM(record of its attributes) || tag,
/// with [`object_context`] as associated data. One AEAD per object: the attribute types and values
/// are authenticated together, so no attribute can be moved, dropped, added or rolled back alone.
const SEALED_RECORD: u64 = u64::MAX;

/// The associated data of a sealed object: token, object and its CKA_PRIVATE.
fn object_context(serial: &str, uid: &str, private: bool) -> Vec<u8> {
    format!("ferrohsm object v2:{serial}:{uid}:{}", private as u8).into_bytes()
}

/// Hooks for the fuzz target `record` (fuzz/fuzz_targets/record.rs): the decoder of object
/// records as read from disk, and the encoder that writes them, with no token around them.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Decodes a stored row as a login does ([`decode_object`]).
    pub fn decode(serial: &str, mk: Option<&MasterKey>, so: &StoredObject) -> Result<Object> {
        decode_object(serial, mk, so)
    }

    /// Encodes an object as the token writes it ([`encode_object`]).
    pub fn encode(serial: &str, mk: Option<&MasterKey>, obj: &Object) -> Result<Vec<StoredAttr>> {
        encode_object(serial, mk, obj)
    }

    /// A row sealed whole around `plain`, any bytes taken as the inner record, as
    /// [`encode_object`] seals one: lets a fuzzer reach the inner record's decoder, which it
    /// could not forge past AES-GCM.
    pub fn seal_whole(
        serial: &str,
        mk: &MasterKey,
        uid: &str,
        private: bool,
        plain: &[u8],
    ) -> Result<Vec<u8>> {
        let value = mk.seal(&object_context(serial, uid, private), plain)?;
        Ok(crate::store::encode_attrs(&[StoredAttr {
            ty: SEALED_RECORD,
            sealed: true,
            value,
        }]))
    }
}

/// Objects a login worker thread decodes at a time.
const DECODE_CHUNK: usize = 256;
const MAX_DECODE_THREADS: usize = 4;

/// Pads a label to 32 bytes with spaces.
pub fn pad32(label: &[u8]) -> [u8; 32] {
    let mut l = [b' '; 32];
    let n = label.len().min(32);
    l[..n].copy_from_slice(&label[..n]);
    l
}

pub fn check_pin_len(pin: &[u8]) -> Result<()> {
    if (MIN_PIN..=MAX_PIN).contains(&pin.len()) {
        Ok(())
    } else {
        Err(Error::PinLenRange)
    }
}

/// Reads a stored object (sealed whole, or attribute by attribute as earlier versions wrote).
fn decode_object(serial: &str, mk: Option<&MasterKey>, so: &StoredObject) -> Result<Object> {
    let sealed_whole = so.attrs().any(|a| a.ty == SEALED_RECORD);
    let (obj, any_clear) = if sealed_whole {
        let plain = open_record(mk, serial, so)?;
        let attrs = crate::store::record_attrs(&plain)?;
        if attrs.clone().any(|a| a.sealed || a.ty == SEALED_RECORD) {
            return Err(Error::Storage("sealed object record is damaged".into()));
        }
        (Object::from_record(attrs.map(|a| (a.ty, a.value)))?, false)
    } else {
        let (attrs, any_clear) = open_attributes(serial, mk, so)?;
        (Object::from_stored(attrs)?, any_clear)
    };
    // Everything of an object that holds a secret or is private was written sealed: a clear value
    // there was put in by someone without the key, and is refused.
    if any_clear && obj.needs_sealing() {
        return Err(Error::Storage(
            "object record has unsealed values where sealed ones belong".into(),
        ));
    }
    if obj.unique_id() != so.uid || obj.is_private() != so.private {
        return Err(Error::Storage(
            "object record does not match its row".into(),
        ));
    }
    Ok(obj)
}

/// The record inside an object sealed whole ([`SEALED_RECORD`]).
fn open_record(
    mk: Option<&MasterKey>,
    serial: &str,
    so: &StoredObject,
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let damaged = || Error::Storage("sealed object record is damaged".into());
    let mut it = so.attrs();
    let sealed = it.next().filter(|a| a.sealed).ok_or_else(damaged)?;
    if sealed.ty != SEALED_RECORD || it.next().is_some() {
        return Err(damaged());
    }
    let mk = mk.ok_or(Error::UserNotLoggedIn)?;
    mk.open(&object_context(serial, &so.uid, so.private), sealed.value)
}

/// The attributes of an object stored one by one (sealed one by one by earlier versions, whose
/// tokens stay readable), and whether any was in clear.
fn open_attributes(
    serial: &str,
    mk: Option<&MasterKey>,
    so: &StoredObject,
) -> Result<(Vec<Attribute>, bool)> {
    let mut ctx = seal_prefix(serial, &so.uid);
    let base = ctx.len();
    let mut attrs = Vec::with_capacity(40);
    let mut any_clear = false;
    for a in so.attrs() {
        let value = if a.sealed {
            let mk = mk.ok_or(Error::UserNotLoggedIn)?;
            mk.open(seal_context(&mut ctx, base, a.ty), a.value)?
        } else {
            any_clear = true;
            zeroize::Zeroizing::new(a.value.to_vec())
        };
        attrs.push(Attribute { ty: a.ty, value });
    }
    Ok((attrs, any_clear))
}

/// The stored form of an object: sealed whole when it is private or holds a secret.
fn encode_object(serial: &str, mk: Option<&MasterKey>, obj: &Object) -> Result<Vec<StoredAttr>> {
    if !obj.needs_sealing() {
        return Ok(obj
            .attributes()
            .map(|(ty, v)| StoredAttr {
                ty,
                sealed: false,
                value: v.to_vec(),
            })
            .collect());
    }
    // Objects with a secret, and private objects, are sealed whole: their policy attributes
    // (CKA_SENSITIVE, CKA_EXTRACTABLE, ...) are authenticated along with the secret.
    let mk = mk.ok_or(Error::UserNotLoggedIn)?;
    let plain = zeroize::Zeroizing::new(crate::store::encode_record(obj.attributes().map(
        |(ty, value)| crate::store::RecordAttr {
            ty,
            sealed: false,
            value,
        },
    )));
    let ctx = object_context(serial, obj.unique_id(), obj.is_private());
    Ok(vec![StoredAttr {
        ty: SEALED_RECORD,
        sealed: true,
        value: mk.seal(&ctx, &plain)?,
    }])
}

impl Token {
    pub fn open(mut store: Box<dyn TokenStore>, config: &Config) -> Result<Arc<Token>> {
        let meta = store.meta()?;
        let hint = store.change_hint();
        let check_every_ms = store.check_interval_ms();
        let t = Token {
            serial: meta.serial.clone(),
            slot_id: slot_id_for_serial(&meta.serial),
            max_attempts: config.max_pin_attempts,
            accept_mismatch: config.accept_state_mismatch,
            kdf: config.kdf,
            login_cache: config.login_cache,
            threads: config.threads_allowed,
            inner: ShardedRwLock::new(Inner {
                meta,
                login: Login::Public,
                mk: None,
                objects: HashMap::default(),
                index: HashMap::default(),
                by_db: HashMap::default(),
                by_session: HashMap::default(),
                locked: HashMap::default(),
                locked_complete: true,
                seq: 0,
                epoch: 0,
                state_tag: None,
                tracker: None,
            }),
            store: Mutex::new(store),
            hint_seen: AtomicU64::new(hint.as_ref().map_or(0, |h| h.load())),
            check_every_ms,
            hint,
            last_full_ms: AtomicU64::new(0),
            // The objects are read by the first call that needs them (`refresh`), not here:
            // C_Initialize, the slot list and the token information need only the metadata, so a
            // process that never looks at objects never reads them (issue 18).
            unsynced: std::sync::atomic::AtomicBool::new(true),
        };
        Ok(Arc::new(t))
    }

    /// Creates a token in `backend` under `so_pin`.
    pub fn create(
        backend: &dyn crate::store::Backend,
        config: &Config,
        serial: String,
        label: &[u8; 32],
        so_pin: &[u8],
    ) -> Result<Arc<Token>> {
        let mk = MasterKey::generate()?;
        let so_wrap = mk.wrap(so_pin, config.kdf, &wrap_context(&serial, PinKind::So))?;
        let meta = TokenMeta {
            serial,
            label: *label,
            so_wrap: Some(so_wrap),
            ..TokenMeta::default()
        };
        let mut store = backend.create(&meta)?;
        // The state tags start here, over nothing.
        store.set_state_key(Some(StateKey::new(&mk.state_key_bytes())));
        store.init_state(false)?;
        store.set_state_key(None);
        Token::open(store, config)
    }

    /// Brings the cache up to date with the store: a cheap check, then only what changed.
    fn refresh(&self) -> Result<()> {
        let now_ms = crate::sys::clock::coarse_ms();
        let hint = self.hint.as_ref().map(|h| h.load());
        if let Some(h) = hint {
            let last = self.last_full_ms.load(Ordering::Relaxed);
            // A clock that went backwards (it cannot, but then) also means "look".
            if !self.unsynced.load(Ordering::SeqCst)
                && h == self.hint_seen.load(Ordering::Acquire)
                && now_ms >= last
                && now_ms - last < self.check_every_ms
            {
                return Ok(());
            }
        }
        {
            // The store answers "changed" once per change; `unsynced` keeps that answer until a
            // sync has read the change, so neither a failed sync nor a thread that asks while
            // another is about to sync can miss it. Set under the store lock, so whoever asks
            // next sees it.
            let mut st = self.store.lock();
            if st.has_changed()? {
                self.unsynced.store(true, Ordering::SeqCst);
            }
        }
        if self.unsynced.load(Ordering::SeqCst) {
            let mut inner = self.inner.write();
            // Cleared before reading: a change recorded after this point sets it again; one
            // recorded before is committed, so the sync below reads it.
            if self.unsynced.swap(false, Ordering::SeqCst) {
                if let Err(e) = self.sync(&mut inner) {
                    self.unsynced.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        // The value read before the check: a bump made meanwhile is seen by the next call.
        if let Some(h) = hint {
            self.hint_seen.store(h, Ordering::Release);
            self.last_full_ms.store(now_ms, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A read view of the token, fresh with respect to other processes.
    fn view(&self) -> Result<ShardedReadGuard<'_, Inner>> {
        self.refresh()?;
        Ok(self.inner.read())
    }

    fn sync(&self, inner: &mut Inner) -> Result<()> {
        let (ch, meta) = {
            let mut st = self.store.lock();
            (st.changes_since(inner.seq, inner.epoch)?, st.meta()?)
        };
        if inner.epoch == 0 {
            // The first read since `open` (tests/lazy_open.rs watches for this line).
            crate::log_debug!(
                "token {}: {} objects read from the store",
                self.serial,
                ch.upserts.len()
            );
        }
        if ch.reset {
            inner.take_where(|e| e.db_id.is_some());
            inner.by_db.clear();
            // Every stored object comes again below.
            inner.locked.clear();
            inner.locked_complete = true;
            if let Some(t) = &mut inner.tracker {
                t.rows.clear();
                t.acc = [0; 32];
            }
        }
        for id in &ch.deleted {
            inner.locked.remove(id);
            if let Some(t) = &mut inner.tracker {
                t.remove(*id);
            }
            if let Some(h) = inner.by_db.remove(id) {
                inner.take(h);
            }
        }
        for so in ch.upserts {
            if let Some(t) = &mut inner.tracker {
                t.upsert(&so);
            }
            self.load_object(inner, so);
        }
        let reinitialized = ch.epoch != inner.epoch && inner.epoch != 0;
        if (reinitialized || (inner.meta.user_wrap.is_some() && meta.user_wrap.is_none()))
            && inner.login != Login::Public
        {
            // Another process re-initialized the token: the login is gone with the user PIN.
            self.drop_login(inner);
        }
        inner.meta = meta;
        inner.seq = ch.seq;
        inner.epoch = ch.epoch;
        inner.state_tag = ch.state;
        // Logged in: what was read must be what the tag covers (a re-initialization above ended
        // the login, and with it the old key's tracker).
        if let (Some(t), Some(tag)) = (&inner.tracker, &inner.state_tag) {
            if !t.matches(tag)? {
                return Err(self.tampered(inner, "objects"));
            }
        }
        Ok(())
    }

    /// The token's files do not match their state tag: logs it, ends the login (the objects
    /// read with the key leave memory) and gives the error to return.
    fn tampered(&self, inner: &mut Inner, what: &str) -> Error {
        let e = tags::mismatch(what);
        crate::log_error!("token {}: {e}", self.serial);
        self.drop_login(inner);
        e
    }

    /// Decodes a stored object into the cache, or keeps it aside until a login brings the key.
    fn load_object(&self, inner: &mut Inner, so: StoredObject) {
        if inner.mk.is_none() && so.has_sealed() {
            if let Some(h) = inner.by_db.remove(&so.id) {
                inner.take(h);
            }
            inner.locked.insert(so.id, so);
            return;
        }
        inner.locked.remove(&so.id);
        let r = self.decode(inner.mk.as_ref(), &so);
        self.place(inner, &so, r);
    }

    /// Puts a decoded object in the cache, or drops it (with a log line) if it could not be read.
    fn place(&self, inner: &mut Inner, so: &StoredObject, decoded: Result<Object>) {
        let handle = *inner.by_db.entry(so.id).or_insert_with(new_handle);
        match decoded {
            Ok(obj) => inner.put(Entry {
                handle,
                db_id: Some(so.id),
                session: None,
                obj,
                parsed: Default::default(),
            }),
            Err(e) => {
                crate::log_error!(
                    "token {}: object {} cannot be read and is skipped: {e}",
                    self.serial,
                    so.id
                );
                inner.take(handle);
            }
        }
    }

    /// Decodes stored objects with the master key into the cache. With many objects (and the
    /// application's leave to start threads), worker threads decode chunks while this thread puts
    /// the decoded objects in the cache as they come: both cores work, and the cache is only ever
    /// touched by this thread.
    fn load_all(&self, inner: &mut Inner, mk: &MasterKey, objs: &[StoredObject]) {
        let n = objs.len();
        inner.objects.reserve(n);
        inner.by_db.reserve(n);
        inner.index.reserve(2 * n);
        let decode_chunk = |c: &[StoredObject]| -> Vec<Result<Object>> {
            c.iter().map(|so| self.decode(Some(mk), so)).collect()
        };
        let place_chunk = |inner: &mut Inner, c: &[StoredObject], decoded: Vec<Result<Object>>| {
            for (so, r) in c.iter().zip(decoded) {
                self.place(inner, so, r);
            }
        };
        let chunks: Vec<&[StoredObject]> = objs.chunks(DECODE_CHUNK).collect();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = chunks.len().min(cpus).min(MAX_DECODE_THREADS);
        if !self.threads || workers < 2 {
            for c in chunks {
                place_chunk(inner, c, decode_chunk(c));
            }
            return;
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut placed = vec![false; chunks.len()];
        std::thread::scope(|sc| {
            let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<Result<Object>>)>();
            let handles: Vec<_> = (0..workers)
                .filter_map(|_| {
                    let (tx, next, chunks) = (tx.clone(), &next, &chunks);
                    let work = move || loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(c) = chunks.get(i) else { break };
                        if tx.send((i, decode_chunk(c))).is_err() {
                            break;
                        }
                    };
                    std::thread::Builder::new()
                        .name("ferrohsm-decode".into())
                        .spawn_scoped(sc, work)
                        .ok()
                })
                .collect();
            drop(tx);
            for (i, decoded) in rx {
                place_chunk(inner, chunks[i], decoded);
                placed[i] = true;
            }
            // Joined here so that a worker's panic is not the scope's; whatever a failed or
            // missing worker left undone is decoded below.
            for h in handles {
                let _ = h.join();
            }
        });
        for (c, _) in chunks.iter().zip(&placed).filter(|(_, &p)| !p) {
            place_chunk(inner, c, decode_chunk(c));
        }
    }

    fn decode(&self, mk: Option<&MasterKey>, so: &StoredObject) -> Result<Object> {
        decode_object(&self.serial, mk, so)
    }

    fn encode(&self, mk: Option<&MasterKey>, obj: &Object) -> Result<Vec<StoredAttr>> {
        encode_object(&self.serial, mk, obj)
    }

    // ---- information -------------------------------------------------------------------------

    /// The label and the flags (C_GetTokenInfo), from one read of the store's metadata: no object
    /// is read, so listing tokens stays cheap however many objects they hold.
    pub fn label_and_flags(&self) -> Result<([u8; 32], CK_FLAGS)> {
        let meta = self.store.lock().meta()?;
        Ok((meta.label, self.flags_of(&meta)))
    }

    pub fn login_state(&self) -> Login {
        self.inner.read().login
    }

    /// Token flags, with the PIN counters shared by all processes.
    fn flags_of(&self, meta: &TokenMeta) -> CK_FLAGS {
        let mut f =
            CKF_RNG | CKF_LOGIN_REQUIRED | CKF_RESTORE_KEY_NOT_NEEDED | CKF_TOKEN_INITIALIZED;
        if meta.user_wrap.is_some() {
            f |= CKF_USER_PIN_INITIALIZED;
        }
        let counter = |n: u32, low, last, locked| match n {
            0 => 0,
            n if n >= self.max_attempts => locked,
            n if n + 1 == self.max_attempts => low | last,
            _ => low,
        };
        if meta.user_wrap.is_some() {
            f |= counter(
                meta.user_failures,
                CKF_USER_PIN_COUNT_LOW,
                CKF_USER_PIN_FINAL_TRY,
                CKF_USER_PIN_LOCKED,
            );
        }
        f |= counter(
            meta.so_failures,
            CKF_SO_PIN_COUNT_LOW,
            CKF_SO_PIN_FINAL_TRY,
            CKF_SO_PIN_LOCKED,
        );
        f
    }

    // ---- PINs and login ----------------------------------------------------------------------

    /// Verifies a PIN against its wrapped master key. The failure is counted durably before the
    /// check, so killing the process mid-check cannot buy a free guess.
    fn verify_pin(&self, kind: PinKind, pin: &[u8]) -> Result<MasterKey> {
        // One check at a time per token, across processes: an attempt in flight is counted as a
        // failure until it succeeds, so overlapping correct attempts must not see each other's count.
        let mut pin_lock = self.store.lock().pin_lock()?;
        // Taken without holding the store mutex; released when `pin_lock` is dropped.
        pin_lock.lock()?;
        let meta = self.store.lock().meta()?;
        let (wrap, failures) = match kind {
            PinKind::So => (meta.so_wrap, meta.so_failures),
            PinKind::User => (
                Some(meta.user_wrap.ok_or(Error::UserPinNotInitialized)?),
                meta.user_failures,
            ),
        };
        let wrap = wrap.ok_or(Error::TokenNotRecognized)?;
        if failures >= self.max_attempts {
            return Err(Error::PinLocked);
        }
        self.store.lock().record_failure(kind)?;
        let cached = self
            .login_cache
            .and_then(|c| c.get(&self.serial, kind, &wrap, pin));
        let checked = match cached {
            Some(mk) => {
                crate::log_debug!(
                    "token {}: {kind:?} PIN checked against the login cache",
                    self.serial
                );
                Ok(mk)
            }
            None => {
                crate::log_debug!(
                    "token {}: {kind:?} PIN checked with the full key derivation",
                    self.serial
                );
                let r = MasterKey::unwrap(&wrap, pin, &wrap_context(&self.serial, kind));
                if let (Ok(mk), Some(c)) = (&r, self.login_cache) {
                    c.put(&self.serial, kind, &wrap, pin, mk);
                }
                r
            }
        };
        match checked {
            Ok(mk) => {
                self.store.lock().reset_failures(kind)?;
                Ok(mk)
            }
            Err(Error::PinIncorrect) => {
                crate::log_info!(
                    "token {}: wrong {kind:?} PIN ({} of {})",
                    self.serial,
                    failures + 1,
                    self.max_attempts
                );
                Err(Error::PinIncorrect)
            }
            Err(e) => Err(e),
        }
    }

    /// C_Login for SO or user. `ro_session_exists` tells whether the application has a R/O session.
    pub fn login(&self, kind: PinKind, pin: &[u8], ro_session_exists: bool) -> Result<()> {
        self.refresh()?;
        let want = match kind {
            PinKind::So => Login::So,
            PinKind::User => Login::User,
        };
        let check = |inner: &Inner| -> Result<()> {
            match inner.login {
                Login::Public => {}
                l if l == want => return Err(Error::UserAlreadyLoggedIn),
                _ => return Err(Error::UserAnotherAlreadyLoggedIn),
            }
            if kind == PinKind::So && ro_session_exists {
                return Err(Error::SessionReadOnlyExists);
            }
            if kind == PinKind::User && inner.meta.user_wrap.is_none() {
                return Err(Error::UserPinNotInitialized);
            }
            Ok(())
        };
        check(&self.inner.read())?;
        let mk = self.verify_pin(kind, pin)?;
        let mut inner = self.inner.write();
        check(&inner)?;
        inner.login = want;
        inner.mk = Some(mk);
        // Objects that need the master key become readable: decode them all once, from what was
        // read before (no store access) unless a logout dropped them. If reading fails, the login
        // fails whole: no half-logged-in token.
        // The tag read with the rows, when they are read here.
        let mut all_state: Option<Option<Vec<u8>>> = None;
        let pending: Vec<StoredObject> = if inner.locked_complete {
            inner.locked.drain().map(|(_, so)| so).collect()
        } else {
            let all = self.store.lock().changes_since(0, inner.epoch);
            match all {
                Ok(all) => {
                    inner.locked.clear();
                    all_state = Some(all.state);
                    all.upserts
                        .into_iter()
                        .filter(|so| so.has_sealed())
                        .collect()
                }
                Err(e) => {
                    self.drop_login(&mut inner);
                    return Err(e);
                }
            }
        };
        inner.locked_complete = true;
        let mk = inner.mk.clone().expect("set above");
        // Before any of them is used: the sealed rows must be the set the state tag covers.
        let key = StateKey::new(&mk.state_key_bytes());
        let mut tracker = Tracker::new(key.clone());
        for so in &pending {
            tracker.upsert(so);
        }
        let tag = all_state.unwrap_or_else(|| inner.state_tag.clone());
        let objects_ok = match &tag {
            Some(tag) => match tracker.matches(tag) {
                Ok(ok) => ok,
                Err(e) => {
                    self.drop_login(&mut inner);
                    return Err(e);
                }
            },
            None => true,
        };
        {
            let mut st = self.store.lock();
            st.set_state_key(Some(key));
            let ivs_ok = match st.check_ivs() {
                Ok(ok) => ok,
                Err(e) => {
                    drop(st);
                    crate::log_error!("token {}: IV counters not checked: {e}", self.serial);
                    self.drop_login(&mut inner);
                    return Err(e);
                }
            };
            let mismatch = match (objects_ok, ivs_ok) {
                (true, true) => None,
                (false, true) => Some("objects"),
                (true, false) => Some("IV counters"),
                (false, false) => Some("objects and IV counters"),
            };
            if let Some(what) = mismatch {
                if !self.accept_mismatch {
                    drop(st);
                    return Err(self.tampered(&mut inner, what));
                }
                crate::log_error!(
                    "token {}: {}; accepted (token.state_mismatch = accept): the state tags are \
                     made again over what the files hold now",
                    self.serial,
                    tags::mismatch(what)
                );
                if let Err(e) = st.init_state(true) {
                    drop(st);
                    crate::log_error!("token {}: state tags not made: {e}", self.serial);
                    self.drop_login(&mut inner);
                    return Err(e);
                }
            } else if tag.is_none() {
                // A token of an earlier version: its tags are made now (best effort: on a full
                // disk the login goes on, and the next login tries again).
                if let Err(e) = st.init_state(false) {
                    crate::log_warn!("token {}: state tags not made: {e}", self.serial);
                }
            }
        }
        inner.tracker = Some(tracker);
        self.load_all(&mut inner, &mk, &pending);
        Ok(())
    }

    /// Checks the user PIN again for a context-specific login.
    pub fn verify_user_pin(&self, pin: &[u8]) -> Result<()> {
        if self.inner.read().login != Login::User {
            return Err(Error::UserNotLoggedIn);
        }
        self.verify_pin(PinKind::User, pin).map(drop)
    }

    fn drop_login(&self, inner: &mut Inner) {
        inner.login = Login::Public;
        inner.mk = None;
        inner.tracker = None;
        self.store.lock().set_state_key(None);
        // The decoded objects go below; their records are read again at the next login.
        inner.locked.clear();
        inner.locked_complete = false;
        // Token objects that needed the key leave memory (their values are zeroized on drop), and
        // their handles die with the login: a later login gives them new ones, as the spec requires.
        let needs_key = |e: &Entry| e.obj.needs_sealing();
        let gone: Vec<i64> = inner
            .objects
            .values()
            .filter(|e| needs_key(e))
            .filter_map(|e| e.db_id)
            .collect();
        for id in gone {
            inner.by_db.remove(&id);
        }
        inner.take_where(|e| e.db_id.is_some() && needs_key(e));
        // Private session objects are destroyed on logout.
        inner.take_where(|e| e.session.is_some() && e.obj.is_private());
    }

    pub fn logout(&self) -> Result<()> {
        let mut inner = self.inner.write();
        if inner.login == Login::Public {
            return Err(Error::UserNotLoggedIn);
        }
        self.drop_login(&mut inner);
        Ok(())
    }

    /// Forgets the login (when the application's last session on the token closes).
    pub fn logout_silently(&self) {
        let mut inner = self.inner.write();
        if inner.login != Login::Public {
            self.drop_login(&mut inner);
        }
    }

    /// C_InitToken on an initialized token: the SO PIN, then every object and the user PIN are wiped.
    pub fn reinitialize(&self, so_pin: &[u8], label: &[u8; 32]) -> Result<()> {
        self.verify_pin(PinKind::So, so_pin)?;
        let mk = MasterKey::generate()?;
        let so_wrap = mk.wrap(so_pin, self.kdf, &wrap_context(&self.serial, PinKind::So))?;
        let before = self.store.lock().meta()?;
        let mut inner = self.inner.write();
        {
            // The tags start again under the new key (the login below ends, and takes it away).
            let mut st = self.store.lock();
            st.set_state_key(Some(StateKey::new(&mk.state_key_bytes())));
            let r = st.reinitialize(label, &so_wrap);
            if r.is_err() {
                st.set_state_key(
                    inner
                        .mk
                        .as_ref()
                        .map(|m| StateKey::new(&m.state_key_bytes())),
                );
            }
            r?;
        }
        for (kind, w) in [
            (PinKind::So, before.so_wrap),
            (PinKind::User, before.user_wrap),
        ] {
            if let Some(w) = w {
                crate::login_cache::LoginCache::forget(&self.serial, kind, &w);
            }
        }
        self.drop_login(&mut inner);
        inner.take_where(|_| true);
        self.sync(&mut inner)
    }

    /// Reserves `n` values of the IV counter `name` (see [`TokenStore::reserve_ivs`]); takes the
    /// store lock alone.
    pub fn reserve_ivs(&self, name: &[u8], n: u64) -> Result<u64> {
        self.store.lock().reserve_ivs(name, n)
    }

    /// C_InitPIN: the SO sets the user PIN (and so unlocks it).
    pub fn init_pin(&self, pin: &[u8]) -> Result<()> {
        check_pin_len(pin)?;
        let inner = self.inner.read();
        if inner.login != Login::So {
            return Err(Error::UserNotLoggedIn);
        }
        let mk = inner.mk.clone().ok_or(Error::UserNotLoggedIn)?;
        drop(inner);
        let wrap = mk.wrap(pin, self.kdf, &wrap_context(&self.serial, PinKind::User))?;
        self.store.lock().set_wrap(PinKind::User, Some(&wrap))?;
        self.inner.write().meta.user_wrap = Some(wrap);
        Ok(())
    }

    /// C_SetPIN: changes the PIN of whoever is logged in (the user's when nobody is).
    pub fn set_pin(&self, old: &[u8], new: &[u8]) -> Result<()> {
        let kind = match self.inner.read().login {
            Login::So => PinKind::So,
            _ => PinKind::User,
        };
        check_pin_len(new)?;
        let mk = self.verify_pin(kind, old)?;
        let wrap = mk.wrap(new, self.kdf, &wrap_context(&self.serial, kind))?;
        let before = self.store.lock().meta()?;
        self.store.lock().set_wrap(kind, Some(&wrap))?;
        let old_wrap = match kind {
            PinKind::So => before.so_wrap,
            PinKind::User => before.user_wrap,
        };
        if let Some(w) = old_wrap {
            crate::login_cache::LoginCache::forget(&self.serial, kind, &w);
        }
        Ok(())
    }

    // ---- objects -----------------------------------------------------------------------------

    fn visible(inner: &Inner, e: &Entry) -> bool {
        !e.obj.is_private() || inner.login == Login::User
    }

    /// The object behind a handle, if the caller can see it.
    pub fn object(&self, handle: CK_OBJECT_HANDLE) -> Result<Arc<Entry>> {
        let inner = self.view()?;
        match inner.objects.get(&handle) {
            Some(e) if Self::visible(&inner, e) => Ok(e.clone()),
            _ => Err(Error::ObjectHandleInvalid),
        }
    }

    /// Runs `f` on the object behind a handle, if the caller can see it, without taking a
    /// reference to it: hot paths (C_SignInit...) then share no reference count between threads.
    pub fn with_object<T>(
        &self,
        handle: CK_OBJECT_HANDLE,
        f: impl FnOnce(&Entry) -> Result<T>,
    ) -> Result<T> {
        let inner = self.view()?;
        match inner.objects.get(&handle) {
            Some(e) if Self::visible(&inner, e) => f(e),
            _ => Err(Error::ObjectHandleInvalid),
        }
    }

    /// Checks that the caller may hold `obj` (on create, copy or change).
    fn may_hold(inner: &Inner, caller: Caller, obj: &Object) -> Result<()> {
        if obj.is_token() && !caller.rw {
            return Err(Error::SessionReadOnly);
        }
        if obj.is_private() && inner.login != Login::User {
            return Err(Error::UserNotLoggedIn);
        }
        Ok(())
    }

    /// Adds a new object (from C_CreateObject, C_CopyObject or a key generation).
    pub fn add(&self, caller: Caller, obj: Object) -> Result<CK_OBJECT_HANDLE> {
        self.refresh()?;
        let mut inner = self.inner.write();
        Self::may_hold(&inner, caller, &obj)?;
        if obj.is_token() {
            let stored = self.encode(inner.mk.as_ref(), &obj)?;
            let id = self
                .store
                .lock()
                .insert_object(obj.unique_id(), obj.is_private(), &stored)?;
            self.sync(&mut inner)?;
            inner
                .by_db
                .get(&id)
                .copied()
                .ok_or_else(|| Error::Storage("created object vanished".into()))
        } else {
            let handle = new_handle();
            inner.put(Entry {
                handle,
                db_id: None,
                session: Some(caller.session),
                obj,
                parsed: Default::default(),
            });
            Ok(handle)
        }
    }

    pub fn destroy(&self, caller: Caller, handle: CK_OBJECT_HANDLE) -> Result<()> {
        self.refresh()?;
        let mut inner = self.inner.write();
        let e = match inner.objects.get(&handle) {
            Some(e) if Self::visible(&inner, e) => e.clone(),
            _ => return Err(Error::ObjectHandleInvalid),
        };
        if e.obj.is_token() && !caller.rw {
            return Err(Error::SessionReadOnly);
        }
        if !e.obj.bool(CKA_DESTROYABLE) {
            return Err(Error::ActionProhibited);
        }
        if let Some(id) = e.db_id {
            match self.store.lock().delete_object(id) {
                Ok(()) | Err(Error::ObjectHandleInvalid) => {}
                Err(err) => return Err(err),
            }
            self.sync(&mut inner)?;
        }
        inner.take(handle);
        Ok(())
    }

    /// C_SetAttributeValue.
    pub fn set_attributes(
        &self,
        caller: Caller,
        handle: CK_OBJECT_HANDLE,
        template: &[Attribute],
    ) -> Result<()> {
        self.refresh()?;
        let mut inner = self.inner.write();
        let e = match inner.objects.get(&handle) {
            Some(e) if Self::visible(&inner, e) => e.clone(),
            _ => return Err(Error::ObjectHandleInvalid),
        };
        if e.obj.is_token() && !caller.rw {
            return Err(Error::SessionReadOnly);
        }
        let obj = e.obj.updated(template, inner.login == Login::So, false)?;
        if let Some(id) = e.db_id {
            let stored = self.encode(inner.mk.as_ref(), &obj)?;
            self.store
                .lock()
                .update_object(id, obj.is_private(), &stored)?;
            self.sync(&mut inner)?;
        } else {
            inner.put(Entry {
                handle,
                db_id: None,
                session: e.session,
                obj,
                parsed: Default::default(),
            });
        }
        Ok(())
    }

    /// C_CopyObject.
    pub fn copy(
        &self,
        caller: Caller,
        handle: CK_OBJECT_HANDLE,
        template: &[Attribute],
    ) -> Result<CK_OBJECT_HANDLE> {
        let e = self.object(handle)?;
        let obj = e
            .obj
            .updated(template, self.login_state() == Login::So, true)?;
        self.add(caller, obj)
    }

    /// Handles of the visible objects matching a template, in handle order.
    pub fn find(&self, template: &[Attribute]) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let inner = self.view()?;
        let keep = |e: &Entry| Self::visible(&inner, e) && e.obj.matches(template);
        // With a label or an ID in the template, only the objects that have it are candidates.
        let narrowest = template
            .iter()
            .filter(|a| INDEXED.contains(&a.ty))
            .min_by_key(|a| {
                inner
                    .index
                    .get(&(a.ty, a.value.to_vec()))
                    .map_or(0, Vec::len)
            });
        let mut v: Vec<CK_OBJECT_HANDLE> = match narrowest {
            Some(a) => match inner.index.get(&(a.ty, a.value.to_vec())) {
                Some(set) => set
                    .iter()
                    .filter_map(|h| inner.objects.get(h))
                    .filter(|e| keep(e))
                    .map(|e| e.handle)
                    .collect(),
                None => Vec::new(),
            },
            None => inner
                .objects
                .values()
                .filter(|e| keep(e))
                .map(|e| e.handle)
                .collect(),
        };
        v.sort_unstable();
        Ok(v)
    }

    /// Decides and applies a change of several token objects as one store transaction, atomic
    /// also against other processes: `decide` sees every token object (the user is logged in, so
    /// all are visible) and returns the change. If another writer committed between that look
    /// and the write, nothing is written, the cache is refreshed and `decide` runs again. Returns
    /// the handles of the inserted objects, in order. The objects are written as given: the
    /// caller has applied the attribute rules.
    pub fn batch(
        &self,
        caller: Caller,
        mut decide: impl FnMut(&[Arc<Entry>]) -> Result<Change>,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        if !caller.rw {
            return Err(Error::SessionReadOnly);
        }
        for _ in 0..100 {
            self.refresh()?;
            let mut inner = self.inner.write();
            if inner.login != Login::User {
                return Err(Error::UserNotLoggedIn);
            }
            let entries: Vec<Arc<Entry>> = inner
                .objects
                .values()
                .filter(|e| e.db_id.is_some())
                .cloned()
                .collect();
            let ch = decide(&entries)?;
            drop(entries);
            let row = |h: &CK_OBJECT_HANDLE| {
                inner
                    .objects
                    .get(h)
                    .and_then(|e| e.db_id)
                    .ok_or(Error::ObjectHandleInvalid)
            };
            let mut b = Batch::default();
            for o in &ch.inserts {
                if !o.is_token() {
                    return Err(Error::TemplateInconsistent);
                }
                let stored = self.encode(inner.mk.as_ref(), o)?;
                b.inserts
                    .push((o.unique_id().to_string(), o.is_private(), stored));
            }
            for (h, o) in &ch.updates {
                let stored = self.encode(inner.mk.as_ref(), o)?;
                b.updates.push((row(h)?, o.is_private(), stored));
            }
            for h in &ch.deletes {
                b.deletes.push(row(h)?);
            }
            let applied = self.store.lock().apply_batch(inner.seq, inner.epoch, &b)?;
            self.sync(&mut inner)?;
            if let Some(ids) = applied {
                return ids
                    .iter()
                    .map(|id| {
                        inner
                            .by_db
                            .get(id)
                            .copied()
                            .ok_or_else(|| Error::Storage("created object vanished".into()))
                    })
                    .collect();
            }
        }
        Err(Error::FunctionFailed)
    }

    /// Removes the session objects of a closed session.
    pub fn close_session(&self, session: CK_SESSION_HANDLE) {
        let mut inner = self.inner.write();
        let mine = inner.by_session.remove(&session).unwrap_or_default();
        for h in mine {
            inner.take(h);
        }
    }

    /// Forgets every session object (C_CloseAllSessions / C_Finalize).
    pub fn drop_session_objects(&self) {
        self.inner.write().take_where(|e| e.session.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Origin;
    use crate::store::{encode_attrs, StoredObject};

    const SERIAL: &str = "00112233aabbccdd";

    /// A private secret key object, with its value.
    fn key() -> Object {
        let t = [
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            Attribute::bool(CKA_TOKEN, true),
            Attribute::bool(CKA_PRIVATE, true),
            Attribute::bool(CKA_SENSITIVE, false),
            Attribute::bool(CKA_EXTRACTABLE, true),
            Attribute::new(CKA_LABEL, b"k".to_vec()),
            Attribute::new(CKA_VALUE, vec![0x5a; 24]),
        ];
        Object::build(&t, Origin::Create, &[]).unwrap()
    }

    fn stored(obj: &Object, attrs: &[StoredAttr]) -> StoredObject {
        StoredObject::new(
            7,
            obj.unique_id().to_string(),
            obj.is_private(),
            encode_attrs(attrs),
        )
        .unwrap()
    }

    fn same(a: &Object, b: &Object) {
        let x: Vec<_> = a.attributes().collect();
        let y: Vec<_> = b.attributes().collect();
        assert_eq!(x, y);
    }

    #[test]
    fn sealed_whole_round_trip_and_binding() {
        let mk = MasterKey::generate().unwrap();
        let obj = key();
        let attrs = encode_object(SERIAL, Some(&mk), &obj).unwrap();
        assert_eq!(attrs.len(), 1);
        assert!(attrs[0].sealed && attrs[0].ty == SEALED_RECORD);
        assert!(!attrs[0].value.windows(24).any(|w| w == [0x5a; 24]));
        let so = stored(&obj, &attrs);
        same(&decode_object(SERIAL, Some(&mk), &so).unwrap(), &obj);
        // Without the key, on another token, under another key: no object.
        assert_eq!(
            decode_object(SERIAL, None, &so).unwrap_err(),
            Error::UserNotLoggedIn
        );
        assert!(decode_object("ffffffffffffffff", Some(&mk), &so).is_err());
        let other = MasterKey::generate().unwrap();
        assert!(decode_object(SERIAL, Some(&other), &so).is_err());
        // The row's CKA_PRIVATE is bound too.
        let flipped = StoredObject::new(7, so.uid.clone(), false, encode_attrs(&attrs)).unwrap();
        assert!(decode_object(SERIAL, Some(&mk), &flipped).is_err());
        // A clear attribute next to the sealed record is damage.
        let mut extra = attrs.clone();
        extra.push(StoredAttr {
            ty: CKA_SENSITIVE,
            sealed: false,
            value: vec![0],
        });
        assert!(decode_object(SERIAL, Some(&mk), &stored(&obj, &extra)).is_err());
    }

    /// Records sealed attribute by attribute, as earlier versions wrote them, stay readable, and
    /// keep their own protections.
    #[test]
    fn attribute_sealed_records_of_earlier_versions_are_read() {
        let mk = MasterKey::generate().unwrap();
        let obj = key();
        let mut ctx = seal_prefix(SERIAL, obj.unique_id());
        let base = ctx.len();
        let legacy: Vec<StoredAttr> = obj
            .attributes()
            .map(|(ty, v)| StoredAttr {
                ty,
                sealed: true,
                value: mk.seal(seal_context(&mut ctx, base, ty), v).unwrap(),
            })
            .collect();
        let so = stored(&obj, &legacy);
        same(&decode_object(SERIAL, Some(&mk), &so).unwrap(), &obj);
        assert_eq!(
            decode_object(SERIAL, None, &so).unwrap_err(),
            Error::UserNotLoggedIn
        );
        // A sealed value moved to another attribute fails to open.
        let mut moved = legacy.clone();
        let label = moved.iter().position(|a| a.ty == CKA_LABEL).unwrap();
        let value = moved.iter().position(|a| a.ty == CKA_VALUE).unwrap();
        moved[label].value = legacy[value].value.clone();
        assert!(decode_object(SERIAL, Some(&mk), &stored(&obj, &moved)).is_err());
        // A clear value where a sealed one belongs is refused.
        let mut clear = legacy.clone();
        clear[value] = StoredAttr {
            ty: CKA_VALUE,
            sealed: false,
            value: vec![0x41; 24],
        };
        assert!(decode_object(SERIAL, Some(&mk), &stored(&obj, &clear)).is_err());
    }

    /// A record sealed attribute by attribute binds each value to its token and its object, not
    /// only to its attribute type; and the row's CKA_PRIVATE must be the object's.
    #[test]
    fn attribute_sealed_values_are_bound_to_token_and_object() {
        let mk = MasterKey::generate().unwrap();
        let legacy = |serial: &str, obj: &Object| -> Vec<StoredAttr> {
            let mut ctx = seal_prefix(serial, obj.unique_id());
            let base = ctx.len();
            obj.attributes()
                .map(|(ty, v)| StoredAttr {
                    ty,
                    sealed: true,
                    value: mk.seal(seal_context(&mut ctx, base, ty), v).unwrap(),
                })
                .collect()
        };
        let (a, b) = (key(), key());
        assert_ne!(a.unique_id(), b.unique_id());
        let (la, lb) = (legacy(SERIAL, &a), legacy(SERIAL, &b));
        same(
            &decode_object(SERIAL, Some(&mk), &stored(&b, &lb)).unwrap(),
            &b,
        );
        // Read as another token's record: nothing opens.
        assert!(decode_object("ffffffffffffffff", Some(&mk), &stored(&a, &la)).is_err());
        // Object a's CKA_VALUE put in place of object b's, at the same attribute type.
        let value = lb.iter().position(|x| x.ty == CKA_VALUE).unwrap();
        let mut moved = lb.clone();
        moved[value].value = la[value].value.clone();
        assert!(decode_object(SERIAL, Some(&mk), &stored(&b, &moved)).is_err());
        // Object a as another token sealed it (same key, same object), read in this token.
        let other = legacy("ffffffffffffffff", &a);
        assert!(decode_object(SERIAL, Some(&mk), &stored(&a, &other)).is_err());
        // The row says public, the object is private (CKA_PRIVATE is not in these values' AAD).
        let flipped = StoredObject::new(7, a.unique_id().into(), false, encode_attrs(&la)).unwrap();
        assert!(decode_object(SERIAL, Some(&mk), &flipped).is_err());
    }

    /// The record inside an object sealed whole holds clear values only: a sealed flag or a nested
    /// sealed record in it is damage, even under the right key and context.
    #[test]
    fn sealed_whole_record_with_sealed_values_inside_is_refused() {
        let mk = MasterKey::generate().unwrap();
        let obj = key();
        let ctx = object_context(SERIAL, obj.unique_id(), obj.is_private());
        let seal_inner = |mark: &dyn Fn(u64) -> (u64, bool)| -> StoredObject {
            let plain = crate::store::encode_record(obj.attributes().map(|(ty, value)| {
                let (ty, sealed) = mark(ty);
                crate::store::RecordAttr { ty, sealed, value }
            }));
            let outer = [StoredAttr {
                ty: SEALED_RECORD,
                sealed: true,
                value: mk.seal(&ctx, &plain).unwrap(),
            }];
            stored(&obj, &outer)
        };
        // The unmarked record opens (the construction is right).
        same(
            &decode_object(SERIAL, Some(&mk), &seal_inner(&|ty| (ty, false))).unwrap(),
            &obj,
        );
        let label_sealed = seal_inner(&|ty| (ty, ty == CKA_LABEL));
        assert!(decode_object(SERIAL, Some(&mk), &label_sealed).is_err());
        let nested = seal_inner(&|ty| (if ty == CKA_LABEL { SEALED_RECORD } else { ty }, false));
        assert!(decode_object(SERIAL, Some(&mk), &nested).is_err());
    }
}
