//! The module: configuration, slots and tokens, sessions; the safe core the C functions call.
//!
//! Lock order (outermost first): `STATE` (initialize, finalize and fork only; calls read `CURRENT`
//! without a lock) → `Module::slots` → `Module::sessions` (its `changing` mutex, then one shard)
//! → `Token::inner` → `Token::store` → `Session::ops`.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::object::{Attribute, Object, Origin};
use crate::session::{Find, Session};
use crate::store::{postgres::PgBackend, sqlite::SqliteBackend, Backend, PinKind};
use crate::token::{self, Login, Token};
use cryptoki_sys::*;
use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Serializes C_Initialize, C_Finalize and fork(); `CURRENT` mirrors it for readers.
static STATE: RwLock<Option<Arc<Module>>> = RwLock::new(None);
/// The module as every call reads it: without a lock and without touching a shared reference
/// count (arc-swap's per-thread slots), so threads calling at once do not contend on one cache
/// line. Written only under the `STATE` lock.
static CURRENT: arc_swap::ArcSwapOption<Module> = arc_swap::ArcSwapOption::const_empty();
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// The module as a call holds it; keeps it alive (through C_Finalize by another thread) until the
/// call returns.
pub struct ModuleRef(arc_swap::Guard<Option<Arc<Module>>>);

impl std::ops::Deref for ModuleRef {
    type Target = Module;
    fn deref(&self) -> &Module {
        self.0.as_deref().expect("checked in get()")
    }
}

/// The module, once `C_Initialize` has run.
pub fn get() -> Result<ModuleRef> {
    let g = CURRENT.load();
    if g.is_none() {
        return Err(Error::CryptokiNotInitialized);
    }
    Ok(ModuleRef(g))
}

/// Reads the configuration and opens the token directory.
/// `threads_allowed` is false when the application forbids the module to create threads.
pub fn initialize(threads_allowed: bool) -> Result<()> {
    crate::sys::fork::install_handlers();
    let mut st = STATE.write();
    if st.is_some() {
        return Err(Error::CryptokiAlreadyInitialized);
    }
    let mut config = Config::discover().inspect_err(report_config_error)?;
    config.threads_allowed = threads_allowed;
    if let Err(e) = crate::log::setup(config.log_level, config.log_file.as_deref()) {
        let e = Error::Config(format!("cannot open log.file: {e}"));
        report_config_error(&e);
        return Err(e);
    }
    for w in &config.warnings {
        crate::log_warn!("{w}");
    }
    let m = Arc::new(Module::new(config).inspect_err(report_config_error)?);
    CURRENT.store(Some(m.clone()));
    *st = Some(m);
    Ok(())
}

fn report_config_error(e: &Error) {
    // Always said, whatever log.level: the caller only sees CKR_GENERAL_ERROR.
    crate::log::write(
        crate::log::Level::Error,
        format_args!("C_Initialize failed: {e}"),
    );
}

pub fn finalize() -> Result<()> {
    let m = {
        let mut st = STATE.write();
        let m = st.take().ok_or(Error::CryptokiNotInitialized)?;
        CURRENT.store(None);
        m
    };
    m.close_everything();
    Ok(())
}

/// The module state, for the fork handlers of [`crate::sys::fork`], which hold its lock across
/// `fork()` so the child never inherits it half-changed.
pub(crate) fn state_lock() -> &'static RwLock<Option<Arc<Module>>> {
    &STATE
}

/// In a forked child (one thread, `STATE` held by the fork handler): forgets the parent's module
/// without dropping it, since its connections and locks are the parent's.
pub(crate) fn forget_in_child(st: &mut Option<Arc<Module>>) {
    std::mem::forget(CURRENT.swap(None));
    std::mem::forget(st.take());
}

/// Shards of the session map: threads working on different sessions take different locks.
const SESSION_SHARDS: usize = 16;

/// One shard, alone on its cache lines so that two shards' locks never share one.
#[repr(align(128))]
#[derive(Default)]
struct SessionShard(RwLock<FxHashMap<CK_SESSION_HANDLE, Arc<Session>>>);

/// Sessions by handle. A lookup takes one shard's read lock. Opening and closing also hold
/// `changing`, so that "the last session of a token closes" is decided on a map nobody else is
/// changing (lock order: `changing`, then a shard).
#[derive(Default)]
struct SessionMap {
    shards: [SessionShard; SESSION_SHARDS],
    changing: parking_lot::Mutex<()>,
}

impl SessionMap {
    fn shard(&self, h: CK_SESSION_HANDLE) -> &RwLock<FxHashMap<CK_SESSION_HANDLE, Arc<Session>>> {
        &self.shards[h as usize % SESSION_SHARDS].0
    }
    fn get(&self, h: CK_SESSION_HANDLE) -> Option<Arc<Session>> {
        self.shard(h).read().get(&h).cloned()
    }
    fn insert(&self, s: Arc<Session>) {
        self.shard(s.handle).write().insert(s.handle, s);
    }
    fn remove(&self, h: CK_SESSION_HANDLE) -> Option<Arc<Session>> {
        self.shard(h).write().remove(&h)
    }
    fn all(&self) -> Vec<Arc<Session>> {
        self.shards
            .iter()
            .flat_map(|sh| sh.0.read().values().cloned().collect::<Vec<_>>())
            .collect()
    }
    fn drain(&self) -> Vec<Arc<Session>> {
        self.shards
            .iter()
            .flat_map(|sh| sh.0.write().drain().map(|(_, s)| s).collect::<Vec<_>>())
            .collect()
    }
}

/// What is in a slot.
pub enum Slot {
    Token(Arc<Token>),
    /// The free slot, with an uninitialized token.
    Free,
}

struct Slots {
    tokens: BTreeMap<CK_SLOT_ID, Arc<Token>>,
    free_id: CK_SLOT_ID,
}

pub struct Module {
    pub config: Config,
    backend: Box<dyn Backend>,
    slots: RwLock<Slots>,
    sessions: SessionMap,
    /// Tokens that failed to open, reported once each.
    unreadable: parking_lot::Mutex<std::collections::HashSet<String>>,
}

/// Session information for C_GetSessionInfo.
/// Why [`Module::restore_objects`] wrote nothing: the object at `index` was refused, or (no
/// index) the session or the store failed.
#[derive(Debug)]
pub struct RestoreError {
    pub index: Option<usize>,
    pub error: Error,
}

impl RestoreError {
    fn all(error: Error) -> RestoreError {
        RestoreError { index: None, error }
    }
}

pub struct SessionInfo {
    pub slot_id: CK_SLOT_ID,
    pub state: CK_STATE,
    pub flags: CK_FLAGS,
}

/// Token information for C_GetTokenInfo.
pub struct TokenInfo {
    pub label: [u8; 32],
    pub serial: String,
    pub flags: CK_FLAGS,
    pub sessions: usize,
    pub rw_sessions: usize,
}

impl Module {
    pub fn new(config: Config) -> Result<Module> {
        let backend: Box<dyn Backend> = match &config.postgres {
            Some(pg) => Box::new(PgBackend::new(
                pg,
                &config.token_dir.join(".postgres"),
                config.umask,
            )?),
            None => Box::new(
                SqliteBackend::new(&config.token_dir, config.umask)?
                    .with_anchor(config.anchor_dir.as_deref())?,
            ),
        };
        let m = Module {
            config,
            backend,
            slots: RwLock::new(Slots {
                tokens: BTreeMap::new(),
                free_id: 0,
            }),
            sessions: SessionMap::default(),
            unreadable: Default::default(),
        };
        m.scan()?;
        Ok(m)
    }

    /// Picks up tokens created or deleted by other processes.
    fn scan(&self) -> Result<()> {
        let serials = self.backend.list()?;
        let mut slots = self.slots.write();
        slots.tokens.retain(|_, t| serials.contains(&t.serial));
        for s in serials {
            let id = token::slot_id_for_serial(&s);
            if slots.tokens.get(&id).is_some_and(|t| t.serial == s) {
                continue;
            }
            match self
                .backend
                .open(&s)
                .and_then(|st| Token::open(st, &self.config))
            {
                Ok(t) => {
                    slots.tokens.insert(id, t);
                }
                Err(e) => {
                    if self.unreadable.lock().insert(s.clone()) {
                        crate::log_error!("token {s} cannot be opened and is not listed: {e}");
                    }
                }
            }
        }
        let mut free = slots.tokens.len() as CK_SLOT_ID;
        while slots.tokens.contains_key(&free) {
            free += 1;
        }
        slots.free_id = free;
        Ok(())
    }

    fn close_everything(&self) {
        let sessions = {
            let _changing = self.sessions.changing.lock();
            self.sessions.drain()
        };
        for s in sessions {
            s.token.close_session(s.handle);
            s.token.logout_silently();
        }
    }

    // ---- slots and tokens ----------------------------------------------------------------------

    pub fn slot_list(&self) -> Result<Vec<CK_SLOT_ID>> {
        self.scan()?;
        let slots = self.slots.read();
        Ok(slots
            .tokens
            .keys()
            .copied()
            .chain(std::iter::once(slots.free_id))
            .collect())
    }

    pub fn slot(&self, id: CK_SLOT_ID) -> Result<Slot> {
        let slots = self.slots.read();
        if let Some(t) = slots.tokens.get(&id) {
            return Ok(Slot::Token(t.clone()));
        }
        if id == slots.free_id {
            return Ok(Slot::Free);
        }
        Err(Error::SlotIdInvalid)
    }

    fn token(&self, slot: CK_SLOT_ID) -> Result<Arc<Token>> {
        match self.slot(slot)? {
            Slot::Token(t) => Ok(t),
            Slot::Free => Err(Error::TokenNotRecognized),
        }
    }

    pub fn token_info(&self, slot: CK_SLOT_ID) -> Result<Option<TokenInfo>> {
        let t = match self.slot(slot)? {
            Slot::Token(t) => t,
            Slot::Free => return Ok(None),
        };
        let on = self.sessions_on(&t);
        let (n, rw) = (on.len(), on.iter().filter(|s| s.rw).count());
        let (label, flags) = t.label_and_flags()?;
        Ok(Some(TokenInfo {
            label,
            serial: t.serial.clone(),
            flags,
            sessions: n,
            rw_sessions: rw,
        }))
    }

    fn sessions_on(&self, t: &Arc<Token>) -> Vec<Arc<Session>> {
        self.sessions
            .all()
            .into_iter()
            .filter(|s| Arc::ptr_eq(&s.token, t))
            .collect()
    }

    /// C_InitToken. Returns the slot the token is in afterwards.
    pub fn init_token(
        &self,
        slot: CK_SLOT_ID,
        so_pin: &[u8],
        label: &[u8; 32],
    ) -> Result<CK_SLOT_ID> {
        token::check_pin_len(so_pin)?;
        match self.slot(slot)? {
            Slot::Token(t) => {
                if !self.sessions_on(&t).is_empty() {
                    return Err(Error::SessionExists);
                }
                t.reinitialize(so_pin, label)?;
                Ok(t.slot_id)
            }
            Slot::Free => {
                let serial = {
                    let slots = self.slots.read();
                    loop {
                        let mut b = [0u8; 8];
                        crate::vault::random(&mut b)?;
                        let s = hex::encode(b);
                        let id = token::slot_id_for_serial(&s);
                        if !slots.tokens.contains_key(&id) && id >= 64 {
                            break s;
                        }
                    }
                };
                self.create_token(serial, label, so_pin)
            }
        }
    }

    /// Creates a token with the given serial (16 lowercase hex digits, free) and SO PIN.
    /// Returns its slot.
    pub fn create_token(
        &self,
        serial: String,
        label: &[u8; 32],
        so_pin: &[u8],
    ) -> Result<CK_SLOT_ID> {
        token::check_pin_len(so_pin)?;
        if serial.len() != 16
            || !serial
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::ArgumentsBad);
        }
        if self
            .slots
            .read()
            .tokens
            .contains_key(&token::slot_id_for_serial(&serial))
        {
            return Err(Error::ArgumentsBad);
        }
        let t = Token::create(self.backend.as_ref(), &self.config, serial, label, so_pin)?;
        let id = t.slot_id;
        crate::log_info!("token {} initialized in slot {id}", t.serial);
        self.scan()?;
        Ok(id)
    }

    // ---- sessions ------------------------------------------------------------------------------

    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        let token = self.token(slot)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::SessionParallelNotSupported);
        }
        let rw = flags & CKF_RW_SESSION != 0;
        let _changing = self.sessions.changing.lock();
        if !rw && token.login_state() == Login::So {
            return Err(Error::SessionReadWriteSoExists);
        }
        let handle = NEXT_SESSION.fetch_add(1, Ordering::Relaxed) as CK_SESSION_HANDLE;
        let s = Arc::new(Session {
            handle,
            slot_id: token.slot_id,
            token,
            rw,
            ops: Default::default(),
        });
        self.sessions.insert(s);
        Ok(handle)
    }

    pub fn session(&self, h: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        self.sessions.get(h).ok_or(Error::SessionHandleInvalid)
    }

    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = {
            let _changing = self.sessions.changing.lock();
            let s = self.sessions.remove(h).ok_or(Error::SessionHandleInvalid)?;
            if self.sessions_on(&s.token).is_empty() {
                s.token.logout_silently();
            }
            s
        };
        s.token.close_session(h);
        Ok(())
    }

    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<()> {
        let t = self.token(slot)?;
        let mine: Vec<CK_SESSION_HANDLE> = self.sessions_on(&t).iter().map(|s| s.handle).collect();
        for h in mine {
            // A concurrent close of the same session is not an error here.
            let _ = self.close_session(h);
        }
        t.logout_silently();
        Ok(())
    }

    pub fn session_info(&self, h: CK_SESSION_HANDLE) -> Result<SessionInfo> {
        let s = self.session(h)?;
        let mut flags = CKF_SERIAL_SESSION;
        if s.rw {
            flags |= CKF_RW_SESSION;
        }
        Ok(SessionInfo {
            slot_id: s.slot_id,
            state: s.state(),
            flags,
        })
    }

    pub fn login(&self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        match user {
            CKU_SO => {
                let ro = self.sessions_on(&s.token).iter().any(|o| !o.rw);
                s.token.login(PinKind::So, pin, ro)
            }
            CKU_USER => s.token.login(PinKind::User, pin, false),
            CKU_CONTEXT_SPECIFIC => {
                if s.token.login_state() != Login::User {
                    return Err(Error::UserNotLoggedIn);
                }
                // Authorizes the pending operation whose key has CKA_ALWAYS_AUTHENTICATE.
                crate::mechanism::ops::context_login(&s, pin)
            }
            _ => Err(Error::UserTypeInvalid),
        }
    }

    /// C_SessionCancel: ends the session's operations that `flags` names (CKF_SIGN, CKF_VERIFY,
    /// CKF_ENCRYPT, CKF_DECRYPT, CKF_DIGEST, CKF_FIND_OBJECTS, CKF_MESSAGE_ENCRYPT,
    /// CKF_MESSAGE_DECRYPT).
    pub fn session_cancel(&self, h: CK_SESSION_HANDLE, flags: CK_FLAGS) -> Result<()> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        ops.crypto.cancel(flags);
        ops.message.cancel(flags);
        if flags & CKF_FIND_OBJECTS != 0 {
            ops.find = None;
        }
        Ok(())
    }

    pub fn logout(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        s.token.logout()?;
        // Operations started while logged in end with the login, and keys parsed from objects
        // that left memory are forgotten.
        for o in self.sessions_on(&s.token) {
            let mut ops = o.ops.lock();
            ops.crypto = Default::default();
            ops.message = Default::default();
        }
        Ok(())
    }

    pub fn init_pin(&self, h: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        // Only the "R/W SO Functions" state may set the user PIN; an SO is never logged in with a
        // R/O session open, so the login decides.
        if s.token.login_state() != Login::So {
            return Err(Error::UserNotLoggedIn);
        }
        if !s.rw {
            return Err(Error::SessionReadOnly);
        }
        s.token.init_pin(pin)
    }

    pub fn set_pin(&self, h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        if !s.rw {
            return Err(Error::SessionReadOnly);
        }
        s.token.set_pin(old, new)
    }

    // ---- objects -------------------------------------------------------------------------------

    pub fn create_object(
        &self,
        h: CK_SESSION_HANDLE,
        template: &[Attribute],
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        crate::mechanism::wrap::check_trusted(&s, template)?;
        let mut obj = Object::build(template, Origin::Create, &[])?;
        let computed = crate::mechanism::validate_key(&obj)?;
        if !computed.is_empty() {
            obj = Object::build(template, Origin::Create, &computed)?;
        }
        s.token.add(s.caller(), obj)
    }

    /// Writes objects another token held (a migration, see [`crate::migrate`]) in one batch: each
    /// is built under the C_CreateObject rules, its key checked, and its history attributes
    /// (`CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE`, ...) kept as they were. All or none are written. The
    /// user must be logged in on a read/write session. Returns the handles, and per object the
    /// attribute types left out because this module does not know them for such an object.
    pub fn restore_objects(
        &self,
        h: CK_SESSION_HANDLE,
        objects: &[Vec<Attribute>],
    ) -> std::result::Result<(Vec<CK_OBJECT_HANDLE>, Vec<Vec<CK_ATTRIBUTE_TYPE>>), RestoreError>
    {
        let s = self.session(h).map_err(RestoreError::all)?;
        let mut built = Vec::with_capacity(objects.len());
        let mut dropped = Vec::with_capacity(objects.len());
        for (i, attrs) in objects.iter().enumerate() {
            let one = || -> Result<(Object, Vec<CK_ATTRIBUTE_TYPE>)> {
                let (template, history, left_out) = Object::split_restored(attrs)?;
                let mut obj = Object::build(&template, Origin::Create, &[])?;
                let computed = crate::mechanism::validate_key(&obj)?;
                if !computed.is_empty() {
                    obj = Object::build(&template, Origin::Create, &computed)?;
                }
                for a in history {
                    obj.set_internal(a.ty, a.value.to_vec())?;
                }
                if !obj.is_token() {
                    return Err(Error::TemplateInconsistent);
                }
                Ok((obj, left_out))
            };
            let (obj, left_out) = one().map_err(|error| RestoreError {
                index: Some(i),
                error,
            })?;
            built.push(obj);
            dropped.push(left_out);
        }
        let handles = s
            .token
            .batch(s.caller(), |_| {
                Ok(crate::token::Change {
                    inserts: built.clone(),
                    ..Default::default()
                })
            })
            .map_err(RestoreError::all)?;
        Ok((handles, dropped))
    }

    pub fn copy_object(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        template: &[Attribute],
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        let e = s.token.object(o)?;
        crate::family::check_copy(&e)?;
        crate::mechanism::wrap::check_update(&self.config, &e.obj, template)?;
        s.token.copy(s.caller(), o, template)
    }

    pub fn destroy_object(&self, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        crate::family::check_destroy(&s, &*s.token.object(o)?)?;
        s.token.destroy(s.caller(), o)?;
        Ok(())
    }

    pub fn object(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
    ) -> Result<Arc<crate::token::Entry>> {
        self.session(h)?.token.object(o)
    }

    pub fn set_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        template: &[Attribute],
    ) -> Result<()> {
        let s = self.session(h)?;
        let e = s.token.object(o)?;
        crate::family::check_set(&s, &e, template)?;
        crate::mechanism::wrap::check_update(&self.config, &e.obj, template)?;
        s.token.set_attributes(s.caller(), o, template)
    }

    pub fn find_init(&self, h: CK_SESSION_HANDLE, template: &[Attribute]) -> Result<()> {
        let s = self.session(h)?;
        if s.ops.lock().find.is_some() {
            return Err(Error::OperationActive);
        }
        let results = s.token.find(template)?;
        let mut ops = s.ops.lock();
        if ops.find.is_some() {
            return Err(Error::OperationActive);
        }
        ops.find = Some(Find { results, pos: 0 });
        Ok(())
    }

    pub fn find_next(&self, h: CK_SESSION_HANDLE, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let f = ops.find.as_mut().ok_or(Error::OperationNotInitialized)?;
        let end = (f.pos + max).min(f.results.len());
        let out = f.results[f.pos..end].to_vec();
        f.pos = end;
        Ok(out)
    }

    pub fn find_final(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        let taken = s.ops.lock().find.take();
        taken.map(drop).ok_or(Error::OperationNotInitialized)
    }
}

impl Module {
    /// Deletes a token and everything in it; returns the directory it was in.
    pub fn delete_token(&self, serial: &str) -> Result<std::path::PathBuf> {
        if let Some(t) = self
            .slots
            .read()
            .tokens
            .values()
            .find(|t| t.serial == serial)
        {
            if !self.sessions_on(t).is_empty() {
                return Err(Error::SessionExists);
            }
        }
        self.backend.delete(serial)?;
        self.scan()?;
        Ok(self.config.token_dir.join(serial))
    }
}
