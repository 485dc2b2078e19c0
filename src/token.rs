//! A token: its PINs and login state, and its objects, cached in memory and kept in step with the store.
//!
//! Lock order (outermost first): `Module::slots` → `Module::sessions` → `Token::inner` → `Token::store`
//! → `Session::ops`. The store lock is only held for one store call; the KDF never runs under a lock.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::object::{Attribute, Object};
use crate::store::{Batch, PinKind, StoredAttr, StoredObject, TokenMeta, TokenStore};
use crate::vault::MasterKey;
use cryptoki_sys::*;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use std::collections::{BTreeSet, HashMap};
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
    kdf: crate::config::KdfCost,
    inner: RwLock<Inner>,
    store: Mutex<Box<dyn TokenStore>>,
}

struct Inner {
    meta: TokenMeta,
    login: Login,
    mk: Option<MasterKey>,
    objects: HashMap<CK_OBJECT_HANDLE, Arc<Entry>>,
    /// Handles by (attribute, value) for the attributes searches name most: label and ID.
    index: HashMap<(CK_ATTRIBUTE_TYPE, Vec<u8>), BTreeSet<CK_OBJECT_HANDLE>>,
    by_db: HashMap<i64, CK_OBJECT_HANDLE>,
    /// Session objects by owning session, so closing a session costs its own objects only.
    by_session: HashMap<CK_SESSION_HANDLE, BTreeSet<CK_OBJECT_HANDLE>>,
    seq: u64,
    epoch: u64,
}

/// Attributes kept in the search index.
const INDEXED: [CK_ATTRIBUTE_TYPE; 2] = [CKA_LABEL, CKA_ID];

impl Inner {
    /// Inserts or replaces an object in the cache and the index.
    fn put(&mut self, e: Entry) {
        self.take(e.handle);
        for ty in INDEXED {
            if let Some(v) = e.obj.get(ty) {
                self.index
                    .entry((ty, v.to_vec()))
                    .or_default()
                    .insert(e.handle);
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
                    set.remove(&handle);
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

fn seal_context(serial: &str, uid: &str, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    let mut v = format!("ferrohsm attribute:{serial}:{uid}:").into_bytes();
    v.extend_from_slice(&ty.to_le_bytes());
    v
}

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

impl Token {
    pub fn open(mut store: Box<dyn TokenStore>, config: &Config) -> Result<Arc<Token>> {
        let meta = store.meta()?;
        let t = Token {
            serial: meta.serial.clone(),
            slot_id: slot_id_for_serial(&meta.serial),
            max_attempts: config.max_pin_attempts,
            kdf: config.kdf,
            inner: RwLock::new(Inner {
                meta,
                login: Login::Public,
                mk: None,
                objects: HashMap::new(),
                index: HashMap::new(),
                by_db: HashMap::new(),
                by_session: HashMap::new(),
                seq: 0,
                epoch: 0,
            }),
            store: Mutex::new(store),
        };
        {
            let mut inner = t.inner.write();
            t.sync(&mut inner)?;
        }
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
        let store = backend.create(&meta)?;
        Token::open(store, config)
    }

    /// Brings the cache up to date with the store: a cheap check, then only what changed.
    fn refresh(&self) -> Result<()> {
        let changed = self.store.lock().has_changed()?;
        if changed {
            let mut inner = self.inner.write();
            self.sync(&mut inner)?;
        }
        Ok(())
    }

    /// A read view of the token, fresh with respect to other processes.
    fn view(&self) -> Result<RwLockReadGuard<'_, Inner>> {
        self.refresh()?;
        Ok(self.inner.read())
    }

    fn sync(&self, inner: &mut Inner) -> Result<()> {
        let (ch, meta) = {
            let mut st = self.store.lock();
            (st.changes_since(inner.seq, inner.epoch)?, st.meta()?)
        };
        if ch.reset {
            inner.take_where(|e| e.db_id.is_some());
            inner.by_db.clear();
        }
        for id in &ch.deleted {
            if let Some(h) = inner.by_db.remove(id) {
                inner.take(h);
            }
        }
        for so in ch.upserts {
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
        Ok(())
    }

    /// Decodes a stored object into the cache when the master key allows it.
    fn load_object(&self, inner: &mut Inner, so: StoredObject) {
        let handle = *inner.by_db.entry(so.id).or_insert_with(new_handle);
        let needs_key = so.attrs.iter().any(|a| a.sealed);
        if needs_key && inner.mk.is_none() {
            inner.take(handle);
            return;
        }
        match self.decode(inner.mk.as_ref(), &so) {
            Ok(obj) => inner.put(Entry {
                handle,
                db_id: Some(so.id),
                session: None,
                obj,
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

    fn decode(&self, mk: Option<&MasterKey>, so: &StoredObject) -> Result<Object> {
        let mut attrs = Vec::with_capacity(so.attrs.len());
        for a in &so.attrs {
            let value = if a.sealed {
                let mk = mk.ok_or(Error::UserNotLoggedIn)?;
                mk.open(&seal_context(&self.serial, &so.uid, a.ty), &a.value)?
            } else {
                zeroize::Zeroizing::new(a.value.clone())
            };
            attrs.push(Attribute { ty: a.ty, value });
        }
        let obj = Object::from_stored(attrs)?;
        // Everything of an object that holds a secret or is private was written sealed: a clear value
        // there was put in by someone without the key, and is refused.
        if obj.needs_sealing() && so.attrs.iter().any(|a| !a.sealed) {
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

    fn encode(&self, mk: Option<&MasterKey>, obj: &Object) -> Result<Vec<StoredAttr>> {
        // Objects with a secret are sealed whole, so their policy attributes (CKA_SENSITIVE,
        // CKA_EXTRACTABLE, ...) are authenticated along with the secret.
        let seal = obj.needs_sealing();
        let uid = obj.unique_id();
        obj.attributes()
            .map(|(ty, v)| {
                if seal {
                    let mk = mk.ok_or(Error::UserNotLoggedIn)?;
                    Ok(StoredAttr {
                        ty,
                        sealed: true,
                        value: mk.seal(&seal_context(&self.serial, uid, ty), v)?,
                    })
                } else {
                    Ok(StoredAttr {
                        ty,
                        sealed: false,
                        value: v.to_vec(),
                    })
                }
            })
            .collect()
    }

    // ---- information -------------------------------------------------------------------------

    pub fn label(&self) -> Result<[u8; 32]> {
        Ok(self.view()?.meta.label)
    }

    pub fn login_state(&self) -> Login {
        self.inner.read().login
    }

    /// Token flags, with the PIN counters shared by all processes.
    pub fn flags(&self) -> Result<CK_FLAGS> {
        let meta = self.store.lock().meta()?;
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
        Ok(f)
    }

    // ---- PINs and login ----------------------------------------------------------------------

    /// Verifies a PIN against its wrapped master key. The failure is counted durably before the
    /// check, so killing the process mid-check cannot buy a free guess.
    fn verify_pin(&self, kind: PinKind, pin: &[u8]) -> Result<MasterKey> {
        // One check at a time per token, across processes: an attempt in flight is counted as a
        // failure until it succeeds, so overlapping correct attempts must not see each other's count.
        let lock_file = self.store.lock().pin_lock_file()?;
        // An exclusive flock, taken without holding the store mutex: held by one open file at a
        // time, whichever thread or process has it; released when `lock_file` is dropped.
        lock_file.lock()?;
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
        match MasterKey::unwrap(&wrap, pin, &wrap_context(&self.serial, kind)) {
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
        // Objects that need the master key become readable: read them all once. If that fails, the
        // login fails whole: no half-logged-in token.
        let all = match self.store.lock().changes_since(0, inner.epoch) {
            Ok(all) => all,
            Err(e) => {
                self.drop_login(&mut inner);
                return Err(e);
            }
        };
        for so in all.upserts {
            if so.attrs.iter().any(|a| a.sealed) {
                self.load_object(&mut inner, so);
            }
        }
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
        let mut inner = self.inner.write();
        self.store.lock().reinitialize(label, &so_wrap)?;
        self.drop_login(&mut inner);
        inner.take_where(|_| true);
        self.sync(&mut inner)
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
        self.store.lock().set_wrap(kind, Some(&wrap))?;
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
                    .map_or(0, BTreeSet::len)
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
