//! Shared harness for the ferrohsm integration tests.
//!
//! The PKCS#11 module is a process-wide singleton while cargo runs the tests of one file as
//! threads of one process, so every test takes [`LOCK`] through a [`Fixture`]. The fixture
//! writes a fresh token directory + configuration file, points `FERROHSM_CONF` at it, loads the
//! module with `cryptoki`, calls `C_Initialize`, and calls `C_Finalize` when dropped.
//!
//! Things the `cryptoki` crate cannot express (exact return values of multi-attribute
//! `C_GetAttributeValue`, `C_FindObjects` chunks, `C_CloseAllSessions`, `C_GetObjectSize`,
//! sessions without `CKF_SERIAL_SESSION`, ...) go through [`Raw`], which loads the same shared
//! object with `cryptoki-sys` (same `dlopen` handle, hence same module state) and calls the
//! function list returned by `C_GetFunctionList`.
#![allow(dead_code)]

use std::collections::HashSet;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Mutex, MutexGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::*;

pub static LOCK: Mutex<()> = Mutex::new(());

pub const SO_PIN: &str = "12345678";
pub const USER_PIN: &str = "1234";
/// An attribute type that no PKCS#11 version defines (and that is not vendor defined).
pub const UNDEFINED_ATTR: CK_ATTRIBUTE_TYPE = 0x0000_0FFF;
/// DER of the P-256 OID 1.2.840.10045.3.1.7.
pub const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The library these tests drive: `$FERROHSM_MODULE` when set; else the `libferrohsm.so` this
/// very `cargo test` built next to the test binary (`target/<profile>/deps/`), else
/// `$CARGO_TARGET_DIR/release/libferrohsm.so` or `<repo>/target/release/libferrohsm.so`. Whichever
/// it is must be the build of the sources and features this test binary was compiled with
/// (`ferrohsm::build_info`): a stale library, or one built with the other backend, stops the test
/// with a message saying what to rebuild, instead of testing code that is not the code in `src/`.
pub fn module_path() -> PathBuf {
    static PATH: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    match PATH.get_or_init(|| pick_module(&module_candidates())) {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// The libraries [`module_path`] considers, in order.
pub fn module_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("FERROHSM_MODULE").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut v = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        v.push(dir.join("libferrohsm.so"));
    }
    v.push(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("release/libferrohsm.so"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/libferrohsm.so"),
    });
    v
}

/// The first candidate that is this build's library, or why none is.
pub fn pick_module(candidates: &[PathBuf]) -> Result<PathBuf, String> {
    let mut why = Vec::new();
    for c in candidates {
        match ferrohsm::build_info::check_library(c) {
            Ok(()) => return Ok(c.clone()),
            Err(e) => why.push(e),
        }
    }
    Err(format!(
        "no libferrohsm.so of this build to test:\n{}",
        why.join("\n")
    ))
}

pub fn init_args() -> CInitializeArgs {
    CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)
}

pub fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

/// Load the module (a new `Pkcs11` instance) and call `C_Initialize`.
pub fn load_module() -> Pkcs11 {
    let path = module_path();
    let p11 =
        Pkcs11::new(&path).unwrap_or_else(|e| panic!("loading {} failed: {e:?}", path.display()));
    p11.initialize(init_args()).expect("C_Initialize");
    p11
}

/// The configuration lines that choose the token store: none (SQLite under the token directory),
/// or, when `FERROHSM_TEST_PG` holds a connection string (`scripts/pg-cluster`), PostgreSQL, in a
/// schema of its own for each call, so every fixture starts from an empty store as it does with a
/// fresh directory. The same tests then run against either store.
pub fn store_lines() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    match std::env::var("FERROHSM_TEST_PG") {
        Ok(url) if !url.is_empty() => format!(
            "objectstore.backend = postgres\n\
             objectstore.postgres.url = {url}\n\
             objectstore.postgres.schema = t{}_{}_{}\n",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() % 1_000_000),
            N.fetch_add(1, Ordering::Relaxed)
        ),
        _ => String::new(),
    }
}

/// Whether the tests run against the PostgreSQL store (`FERROHSM_TEST_PG`).
pub fn on_postgres() -> bool {
    std::env::var("FERROHSM_TEST_PG").is_ok_and(|u| !u.is_empty())
}

pub struct Fixture {
    p11: Option<Pkcs11>,
    pub dir: Option<tempfile::TempDir>,
    pub conf: PathBuf,
    pub tokendir: PathBuf,
    _guard: MutexGuard<'static, ()>,
}

impl Deref for Fixture {
    type Target = Pkcs11;
    fn deref(&self) -> &Pkcs11 {
        self.p11
            .as_ref()
            .expect("module is not loaded in this fixture")
    }
}

impl Fixture {
    /// Fresh token directory, `pin.max_attempts = 10`.
    pub fn new() -> Fixture {
        Self::with_max_attempts(10)
    }

    pub fn with_max_attempts(max_attempts: u32) -> Fixture {
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::Builder::new()
            .prefix("ferrohsm-test-")
            .tempdir()
            .expect("tempdir");
        let tokendir = dir.path().join("tokens");
        std::fs::create_dir(&tokendir).expect("create tokens dir");
        let conf = dir.path().join("ferrohsm.conf");
        std::fs::write(
            &conf,
            format!(
                "# ferrohsm integration test configuration\n\
                 directories.tokendir = {}\n\
                 objectstore.umask = 0077\n\
                 log.level = ERROR\n\
                 kdf.argon2.memory_kib = 1024\n\
                 kdf.argon2.iterations = 1\n\
                 pin.max_attempts = {}\n{}",
                tokendir.display(),
                max_attempts,
                store_lines()
            ),
        )
        .expect("write conf");
        std::env::set_var("FERROHSM_CONF", &conf);
        let p11 = load_module();
        Fixture {
            p11: Some(p11),
            dir: Some(dir),
            conf,
            tokendir,
            _guard: guard,
        }
    }

    /// Use an existing configuration file (which is not deleted afterwards).
    pub fn with_conf(conf: &Path) -> Fixture {
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        std::env::set_var("FERROHSM_CONF", conf);
        let p11 = load_module();
        Fixture {
            p11: Some(p11),
            dir: None,
            conf: conf.to_path_buf(),
            tokendir: PathBuf::new(),
            _guard: guard,
        }
    }

    /// A second handle on the same context (e.g. to call `finalize`, which consumes it).
    pub fn p11(&self) -> Pkcs11 {
        (**self).clone()
    }

    /// `C_Finalize`, drop this `Pkcs11` instance (the library may be unloaded), then load a new
    /// instance with the same configuration and `C_Initialize` it.
    pub fn reinit(&mut self) {
        self.shutdown();
        std::env::set_var("FERROHSM_CONF", &self.conf);
        self.p11 = Some(load_module());
    }

    /// `C_Finalize` and drop the `Pkcs11` instance.
    pub fn shutdown(&mut self) {
        if let Some(p) = self.p11.take() {
            p.finalize().expect("C_Finalize");
        }
    }

    /// Load + initialize again after `shutdown`.
    pub fn startup(&mut self) {
        assert!(self.p11.is_none(), "module already loaded");
        std::env::set_var("FERROHSM_CONF", &self.conf);
        self.p11 = Some(load_module());
    }

    pub fn initialized_slot_ids(&self) -> Vec<u64> {
        self.get_all_slots()
            .expect("C_GetSlotList")
            .into_iter()
            .filter(|s| {
                self.get_token_info(*s)
                    .expect("C_GetTokenInfo")
                    .token_initialized()
            })
            .map(|s| s.id())
            .collect()
    }

    /// The slot with the uninitialized token (listed last).
    pub fn free_slot(&self) -> Slot {
        let slots = self.get_all_slots().expect("C_GetSlotList");
        let last = *slots.last().expect("no slot at all");
        let info = self.get_token_info(last).expect("C_GetTokenInfo");
        assert!(
            !info.token_initialized(),
            "the last slot ({}) must hold the uninitialized token",
            last.id()
        );
        last
    }

    /// C_InitToken on the free slot; returns the slot of the new token.
    pub fn new_token(&self, label: &str) -> Slot {
        let before: HashSet<u64> = self.initialized_slot_ids().into_iter().collect();
        let free = self.free_slot();
        (**self)
            .init_token(free, &pin(SO_PIN), label)
            .expect("C_InitToken on the free slot");
        let new: Vec<u64> = self
            .initialized_slot_ids()
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        assert_eq!(
            new.len(),
            1,
            "exactly one new initialized token slot expected"
        );
        slot(new[0])
    }

    /// SO logs in on an R/W session, C_InitPIN(USER_PIN), logs out.
    pub fn init_user_pin(&self, slot: Slot) {
        let s = self.open_rw_session(slot).expect("C_OpenSession");
        s.login(UserType::So, Some(&pin(SO_PIN)))
            .expect("SO C_Login");
        s.init_pin(&pin(USER_PIN)).expect("C_InitPIN");
        s.logout().expect("C_Logout");
    }

    /// Initialized token with the user PIN set.
    pub fn user_token(&self, label: &str) -> Slot {
        let slot = self.new_token(label);
        self.init_user_pin(slot);
        slot
    }

    pub fn rw(&self, slot: Slot) -> Session {
        self.open_rw_session(slot).expect("C_OpenSession(RW)")
    }

    pub fn ro(&self, slot: Slot) -> Session {
        self.open_ro_session(slot).expect("C_OpenSession(RO)")
    }

    /// R/W session with the normal user logged in.
    pub fn user_session(&self, slot: Slot) -> Session {
        let s = self.rw(slot);
        s.login(UserType::User, Some(&pin(USER_PIN)))
            .expect("user C_Login");
        s
    }

    /// R/W session with the SO logged in.
    pub fn so_session(&self, slot: Slot) -> Session {
        let s = self.rw(slot);
        s.login(UserType::So, Some(&pin(SO_PIN)))
            .expect("SO C_Login");
        s
    }

    /// Exact CK_TOKEN_INFO.flags.
    pub fn token_flags(&self, slot: Slot) -> CK_FLAGS {
        Raw::new().token_info(slot.id()).flags
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(p) = self.p11.take() {
            let _ = p.finalize();
        }
    }
}

/// The token's (ulSessionCount, ulRwSessionCount). The spec lets a token report
/// CK_UNAVAILABLE_INFORMATION; ferrohsm reports both counts, so here an unavailable count fails.
#[track_caller]
pub fn session_counts(p11: &Pkcs11, slot: Slot) -> (u64, u64) {
    let ti = p11.get_token_info(slot).expect("C_GetTokenInfo");
    match (ti.session_count(), ti.rw_session_count()) {
        (Some(n), Some(rw)) => (n, rw),
        other => panic!(
            "ferrohsm reports its session counts, got {other:?} (None: CK_UNAVAILABLE_INFORMATION)"
        ),
    }
}

pub fn slot(id: u64) -> Slot {
    Slot::try_from(id).expect("slot id")
}

// ---------------------------------------------------------------------------------------------
// Error helpers

/// The PKCS#11 return value of a cryptoki result (None for CKR_OK).
pub fn rv_of<T>(r: &cryptoki::error::Result<T>) -> Option<RvError> {
    match r {
        Ok(_) => None,
        Err(Error::Pkcs11(rv, _)) => Some(*rv),
        Err(e) => panic!("unexpected non-PKCS#11 error: {e:?}"),
    }
}

/// Assert that a cryptoki call failed with exactly this CKR_ value.
#[macro_export]
macro_rules! assert_rv {
    ($expr:expr, $rv:ident) => {{
        let r = $expr;
        match &r {
            Err(cryptoki::error::Error::Pkcs11(got, _)) => assert_eq!(
                *got,
                cryptoki::error::RvError::$rv,
                "`{}` returned {:?}, expected {:?}",
                stringify!($expr),
                got,
                cryptoki::error::RvError::$rv
            ),
            Err(e) => panic!(
                "`{}` failed with non-PKCS#11 error {:?}, expected {:?}",
                stringify!($expr),
                e,
                cryptoki::error::RvError::$rv
            ),
            Ok(_) => panic!(
                "`{}` returned CKR_OK, expected {:?}",
                stringify!($expr),
                cryptoki::error::RvError::$rv
            ),
        }
    }};
}

/// Assert that a raw CK_RV equals the expected constant, printing names.
#[track_caller]
pub fn assert_ck(got: CK_RV, want: CK_RV, what: &str) {
    assert_eq!(
        got,
        want,
        "{what}: got {:#x} ({:?}), expected {:#x} ({:?})",
        got,
        cryptoki::error::Rv::from(got),
        want,
        cryptoki::error::Rv::from(want)
    );
}

// ---------------------------------------------------------------------------------------------
// Attribute helpers

pub fn ulong_bytes(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

pub fn ulong_from(bytes: &[u8]) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(bytes.try_into().expect("CK_ULONG-sized value"))
}

/// An attribute of an arbitrary type with raw bytes (goes through cryptoki's vendor variant,
/// which passes the type number through unchanged).
pub fn raw_attr(ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value))
}

pub fn get_attr(s: &Session, obj: ObjectHandle, ty: AttributeType) -> Attribute {
    let mut v = s
        .get_attributes(obj, &[ty])
        .unwrap_or_else(|e| panic!("C_GetAttributeValue({ty:?}): {e:?}"));
    assert_eq!(v.len(), 1, "attribute {ty:?} not returned");
    v.remove(0)
}

pub fn get_bool(s: &Session, obj: ObjectHandle, ty: AttributeType) -> bool {
    let r = Raw::new().get_attrs(s.handle(), obj.handle(), &[(ty.into(), Some(1))]);
    assert_ck(r.rv, CKR_OK, &format!("C_GetAttributeValue({ty:?})"));
    assert_eq!(
        r.attrs[0].0, 1,
        "CK_BBOOL attribute {ty:?} must have length 1"
    );
    r.attrs[0].1[0] != 0
}

pub fn get_ulong(s: &Session, obj: ObjectHandle, ty: AttributeType) -> CK_ULONG {
    let n = std::mem::size_of::<CK_ULONG>();
    let r = Raw::new().get_attrs(s.handle(), obj.handle(), &[(ty.into(), Some(n))]);
    assert_ck(r.rv, CKR_OK, &format!("C_GetAttributeValue({ty:?})"));
    assert_eq!(r.attrs[0].0 as usize, n, "CK_ULONG attribute {ty:?} length");
    ulong_from(&r.attrs[0].1)
}

pub fn get_bytes(s: &Session, obj: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    let r = Raw::new().get_attrs(s.handle(), obj.handle(), &[(ty.into(), None)]);
    assert_ck(
        r.rv,
        CKR_OK,
        &format!("C_GetAttributeValue({ty:?}) length query"),
    );
    let len = r.attrs[0].0;
    assert_ne!(len, CK_UNAVAILABLE_INFORMATION);
    let r = Raw::new().get_attrs(s.handle(), obj.handle(), &[(ty.into(), Some(len as usize))]);
    assert_ck(r.rv, CKR_OK, &format!("C_GetAttributeValue({ty:?})"));
    assert_eq!(r.attrs[0].0, len);
    r.attrs[0].1.clone()
}

pub fn get_label(s: &Session, obj: ObjectHandle) -> Vec<u8> {
    get_bytes(s, obj, AttributeType::Label)
}

pub fn data_template(label: &str, token: bool, private: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(token),
        Attribute::Private(private),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Application(b"ferrohsm tests".to_vec()),
        Attribute::Value(format!("value of {label}").into_bytes()),
    ]
}

pub fn create_data(s: &Session, label: &str, token: bool, private: bool) -> ObjectHandle {
    s.create_object(&data_template(label, token, private))
        .unwrap_or_else(|e| panic!("C_CreateObject(data {label}): {e:?}"))
}

pub fn find_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .expect("find by label")
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A self-signed P-256 X.509 certificate (CN=ferrohsm test), DER.
pub const CERT_DER_HEX: &str = "308201863082012ba00302010202147dabbaf642d974c516bdc3f39fb04c8f01b38baf300a06082a8648ce3d04030230183116301406035504030c0d666572726f68736d2074657374301e170d3236313132323033303430335a170d3336313131393033303430335a30183116301406035504030c0d666572726f68736d20746573743059301306072a8648ce3d020106082a8648ce3d030107034200040ebd4e4c822611bbcb80db58341b1f239098b125eb0ae50c2f3ec23de28e4ece7d4d9530d2f2952c2d965e325fe15d3a3e4cbddcbc57d33f930b13c550e3835da3533051301d0603551d0e04160414dc2afd91751516abe01f2a4fb2d3a07b1da89155301f0603551d23041830168014dc2afd91751516abe01f2a4fb2d3a07b1da89155300f0603551d130101ff040530030101ff300a06082a8648ce3d0403020349003046022100905fcc7481ee0e89e78308e7c0c24f3e3ddb6e4c9f02f9772659f1bf87b0a3a4022100f9c302498ea9fce035d6b58407eef8f9056a70cf95bd28b859b4f1fae6a5ec17";
/// DER of the certificate's subject (and issuer) Name.
pub const CERT_SUBJECT_HEX: &str = "30183116301406035504030c0d666572726f68736d2074657374";
/// DER of the certificate's serial number INTEGER.
pub const CERT_SERIAL_HEX: &str = "02147dabbaf642d974c516bdc3f39fb04c8f01b38baf";

/// A 2048-bit RSA modulus.
pub const RSA_MODULUS_HEX: &str = "9554435d5fc0c17ce7c6527ba2762d99ac8799cb86aa89c275818f4a5dd74cf1682208b4a8b2e9e7523609fce86897469d763c3583f1a110a1a9646e53ec6193d35e16ffa4de9994f58e498c71656a4529136b894248a2340bc7ce8c3e5a06548b075bfb268e0c4dddb30049aa379d03926d60b37891a195031e4c37b1351b1a213e93e753586471cc889d2bf390dc3e3f441deb5dbc06f8863afdeb5af165759791e999bc2d2413309e162557140d8e1d6a6a7e9e123063d7bd395cd819fb48f9474d26902ae4c579abd73ecb1f4d2690726d78b531c47d087bcb9fc0680656a59b5c480da7056860670a127589bdcfe5991fdc5b6c68be106fae5623a27e05";

/// CKA_EC_POINT for the P-256 base point G: DER OCTET STRING of the uncompressed point.
pub fn p256_point_der() -> Vec<u8> {
    let mut v = vec![0x04, 0x41, 0x04];
    v.extend(hex(
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    ));
    v.extend(hex(
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    ));
    v
}

// ---------------------------------------------------------------------------------------------
// Raw access through cryptoki-sys

pub struct RawAttrs {
    pub rv: CK_RV,
    /// (ulValueLen after the call, buffer contents truncated to ulValueLen when it fits)
    pub attrs: Vec<(CK_ULONG, Vec<u8>)>,
}

pub struct Raw {
    lib: cryptoki_sys::Pkcs11,
    fl: *mut CK_FUNCTION_LIST,
}

macro_rules! rawf {
    ($self:ident, $f:ident) => {
        (*$self.fl)
            .$f
            .expect(concat!(stringify!($f), " is NULL in the function list"))
    };
}

impl Raw {
    pub fn new() -> Raw {
        let lib = unsafe { cryptoki_sys::Pkcs11::new(module_path()) }.expect("dlopen module");
        let mut fl: *mut CK_FUNCTION_LIST = ptr::null_mut();
        let rv = unsafe { lib.C_GetFunctionList(&mut fl) };
        assert_ck(rv, CKR_OK, "C_GetFunctionList");
        assert!(!fl.is_null());
        Raw { lib, fl }
    }

    pub fn function_list_version(&self) -> CK_VERSION {
        unsafe { (*self.fl).version }
    }

    /// C_GetInterface(NULL, NULL, &p, 0) if exported: (interface name, function list pointer).
    pub fn default_interface(&self) -> Option<(String, *mut CK_FUNCTION_LIST)> {
        let f = self.lib.C_GetInterface.as_ref().ok()?;
        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        let rv = unsafe { f(ptr::null_mut(), ptr::null_mut(), &mut iface, 0) };
        assert_ck(rv, CKR_OK, "C_GetInterface(NULL, NULL)");
        assert!(!iface.is_null());
        unsafe {
            let name = std::ffi::CStr::from_ptr((*iface).pInterfaceName as *const _)
                .to_string_lossy()
                .into_owned();
            Some((name, (*iface).pFunctionList as *mut CK_FUNCTION_LIST))
        }
    }

    /// C_GetInterface("PKCS 11", version): the return value and the function list.
    pub fn interface_version(&self, major: u8, minor: u8) -> (CK_RV, *mut CK_FUNCTION_LIST) {
        let f = self.lib.C_GetInterface.as_ref().expect("C_GetInterface");
        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        let mut v = CK_VERSION { major, minor };
        let rv = unsafe { f(c"PKCS 11".as_ptr() as *mut _, &mut v, &mut iface, 0) };
        if rv != CKR_OK || iface.is_null() {
            return (rv, ptr::null_mut());
        }
        (rv, unsafe {
            (*iface).pFunctionList as *mut CK_FUNCTION_LIST
        })
    }

    pub fn get_info_via(&self, fl: *mut CK_FUNCTION_LIST) -> (CK_RV, CK_INFO) {
        let mut info = CK_INFO::default();
        let rv = unsafe { ((*fl).C_GetInfo.expect("C_GetInfo"))(&mut info) };
        (rv, info)
    }

    pub fn get_info(&self) -> (CK_RV, CK_INFO) {
        self.get_info_via(self.fl)
    }

    pub fn token_info_rv(&self, slot: CK_SLOT_ID) -> (CK_RV, CK_TOKEN_INFO) {
        let mut info = CK_TOKEN_INFO::default();
        let rv = unsafe { rawf!(self, C_GetTokenInfo)(slot, &mut info) };
        (rv, info)
    }

    pub fn token_info(&self, slot: CK_SLOT_ID) -> CK_TOKEN_INFO {
        let (rv, info) = self.token_info_rv(slot);
        assert_ck(rv, CKR_OK, "C_GetTokenInfo");
        info
    }

    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> (CK_RV, CK_SESSION_HANDLE) {
        let mut h: CK_SESSION_HANDLE = 0;
        let rv = unsafe { rawf!(self, C_OpenSession)(slot, flags, ptr::null_mut(), None, &mut h) };
        (rv, h)
    }

    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> CK_RV {
        unsafe { rawf!(self, C_CloseSession)(h) }
    }

    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> CK_RV {
        unsafe { rawf!(self, C_CloseAllSessions)(slot) }
    }

    pub fn session_info(&self, h: CK_SESSION_HANDLE) -> (CK_RV, CK_SESSION_INFO) {
        let mut info = CK_SESSION_INFO::default();
        let rv = unsafe { rawf!(self, C_GetSessionInfo)(h, &mut info) };
        (rv, info)
    }

    pub fn login(&self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
        unsafe { rawf!(self, C_Login)(h, user, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG) }
    }

    /// C_GetAttributeValue with one triple per request: `Some(n)` passes an n-byte buffer,
    /// `None` passes pValue = NULL (length query).
    pub fn get_attrs(
        &self,
        h: CK_SESSION_HANDLE,
        obj: CK_OBJECT_HANDLE,
        req: &[(CK_ATTRIBUTE_TYPE, Option<usize>)],
    ) -> RawAttrs {
        let mut bufs: Vec<Vec<u8>> = req.iter().map(|(_, n)| vec![0u8; n.unwrap_or(0)]).collect();
        let mut tmpl: Vec<CK_ATTRIBUTE> = req
            .iter()
            .zip(bufs.iter_mut())
            .map(|((ty, n), b)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: if n.is_some() {
                    b.as_mut_ptr() as *mut _
                } else {
                    ptr::null_mut()
                },
                ulValueLen: n.unwrap_or(0) as CK_ULONG,
            })
            .collect();
        let rv = unsafe {
            rawf!(self, C_GetAttributeValue)(h, obj, tmpl.as_mut_ptr(), tmpl.len() as CK_ULONG)
        };
        let attrs = tmpl
            .iter()
            .zip(bufs)
            .map(|(a, mut b)| {
                if a.ulValueLen != CK_UNAVAILABLE_INFORMATION && (a.ulValueLen as usize) <= b.len()
                {
                    b.truncate(a.ulValueLen as usize);
                }
                (a.ulValueLen, b)
            })
            .collect();
        RawAttrs { rv, attrs }
    }

    pub fn create_object(
        &self,
        h: CK_SESSION_HANDLE,
        tmpl: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> (CK_RV, CK_OBJECT_HANDLE) {
        let mut t: Vec<CK_ATTRIBUTE> = tmpl
            .iter()
            .map(|(ty, v)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: v.as_ptr() as *mut _,
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect();
        let mut obj: CK_OBJECT_HANDLE = 0;
        let rv = unsafe {
            rawf!(self, C_CreateObject)(h, t.as_mut_ptr(), t.len() as CK_ULONG, &mut obj)
        };
        (rv, obj)
    }

    pub fn find_init(&self, h: CK_SESSION_HANDLE, tmpl: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> CK_RV {
        let mut t: Vec<CK_ATTRIBUTE> = tmpl
            .iter()
            .map(|(ty, v)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: v.as_ptr() as *mut _,
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect();
        let p = if t.is_empty() {
            ptr::null_mut()
        } else {
            t.as_mut_ptr()
        };
        unsafe { rawf!(self, C_FindObjectsInit)(h, p, t.len() as CK_ULONG) }
    }

    pub fn find(&self, h: CK_SESSION_HANDLE, max: usize) -> (CK_RV, Vec<CK_OBJECT_HANDLE>) {
        let mut out = vec![0 as CK_OBJECT_HANDLE; max.max(1)];
        let mut n: CK_ULONG = 0;
        let rv =
            unsafe { rawf!(self, C_FindObjects)(h, out.as_mut_ptr(), max as CK_ULONG, &mut n) };
        out.truncate(if rv == CKR_OK { n as usize } else { 0 });
        (rv, out)
    }

    pub fn find_final(&self, h: CK_SESSION_HANDLE) -> CK_RV {
        unsafe { rawf!(self, C_FindObjectsFinal)(h) }
    }

    /// C_SignInit with a mechanism that takes no parameter.
    pub fn sign_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: CK_MECHANISM_TYPE,
        key: CK_OBJECT_HANDLE,
    ) -> CK_RV {
        let mut m = CK_MECHANISM {
            mechanism: mech,
            pParameter: ptr::null_mut(),
            ulParameterLen: 0,
        };
        unsafe { rawf!(self, C_SignInit)(h, &mut m, key) }
    }

    /// C_Sign of `data` into a 512-byte buffer (the operation must be initialized).
    pub fn sign(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
        let mut out = [0u8; 512];
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        unsafe {
            rawf!(self, C_Sign)(
                h,
                data.as_ptr() as *mut u8,
                data.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n,
            )
        }
    }

    pub fn object_size(&self, h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> (CK_RV, CK_ULONG) {
        let mut size: CK_ULONG = 0;
        let rv = unsafe { rawf!(self, C_GetObjectSize)(h, obj, &mut size) };
        (rv, size)
    }

    pub fn destroy_object(&self, h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> CK_RV {
        unsafe { rawf!(self, C_DestroyObject)(h, obj) }
    }

    pub fn wait_for_slot_event(&self, flags: CK_FLAGS) -> (CK_RV, CK_SLOT_ID) {
        let mut slot: CK_SLOT_ID = 0;
        let rv = unsafe { rawf!(self, C_WaitForSlotEvent)(flags, &mut slot, ptr::null_mut()) };
        (rv, slot)
    }
}

/// Blank-padded fixed-size field.
pub fn padded<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

pub const STANDARD_TOKEN_FLAGS: CK_FLAGS =
    CKF_RNG | CKF_LOGIN_REQUIRED | CKF_RESTORE_KEY_NOT_NEEDED | CKF_TOKEN_INITIALIZED;

pub const PIN_COUNTER_FLAGS: CK_FLAGS = CKF_USER_PIN_COUNT_LOW
    | CKF_USER_PIN_FINAL_TRY
    | CKF_USER_PIN_LOCKED
    | CKF_SO_PIN_COUNT_LOW
    | CKF_SO_PIN_FINAL_TRY
    | CKF_SO_PIN_LOCKED;

pub fn flag_names(flags: CK_FLAGS) -> String {
    let names = [
        (CKF_RNG, "RNG"),
        (CKF_WRITE_PROTECTED, "WRITE_PROTECTED"),
        (CKF_LOGIN_REQUIRED, "LOGIN_REQUIRED"),
        (CKF_USER_PIN_INITIALIZED, "USER_PIN_INITIALIZED"),
        (CKF_RESTORE_KEY_NOT_NEEDED, "RESTORE_KEY_NOT_NEEDED"),
        (CKF_CLOCK_ON_TOKEN, "CLOCK_ON_TOKEN"),
        (
            CKF_PROTECTED_AUTHENTICATION_PATH,
            "PROTECTED_AUTHENTICATION_PATH",
        ),
        (CKF_DUAL_CRYPTO_OPERATIONS, "DUAL_CRYPTO_OPERATIONS"),
        (CKF_TOKEN_INITIALIZED, "TOKEN_INITIALIZED"),
        (CKF_SECONDARY_AUTHENTICATION, "SECONDARY_AUTHENTICATION"),
        (CKF_USER_PIN_COUNT_LOW, "USER_PIN_COUNT_LOW"),
        (CKF_USER_PIN_FINAL_TRY, "USER_PIN_FINAL_TRY"),
        (CKF_USER_PIN_LOCKED, "USER_PIN_LOCKED"),
        (CKF_USER_PIN_TO_BE_CHANGED, "USER_PIN_TO_BE_CHANGED"),
        (CKF_SO_PIN_COUNT_LOW, "SO_PIN_COUNT_LOW"),
        (CKF_SO_PIN_FINAL_TRY, "SO_PIN_FINAL_TRY"),
        (CKF_SO_PIN_LOCKED, "SO_PIN_LOCKED"),
        (CKF_SO_PIN_TO_BE_CHANGED, "SO_PIN_TO_BE_CHANGED"),
        (CKF_ERROR_STATE, "ERROR_STATE"),
    ];
    let mut v: Vec<&str> = names
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    let known: CK_FLAGS = names.iter().map(|(f, _)| f).fold(0, |a, b| a | b);
    let unknown = flags & !known;
    let extra = format!("{unknown:#x}");
    if unknown != 0 {
        v.push(&extra);
    }
    format!("{flags:#x} [{}]", v.join(" | "))
}

#[track_caller]
pub fn assert_flags(got: CK_FLAGS, want: CK_FLAGS, what: &str) {
    assert_eq!(
        got,
        want,
        "{what}: token flags {} != expected {}",
        flag_names(got),
        flag_names(want)
    );
}
