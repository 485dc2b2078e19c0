//! Harness of the crypto integration tests: a fresh token per test, the module driven through
//! `cryptoki`, plus the raw function list for the return codes `cryptoki` hides.
//!
//! The module is a process-wide singleton: tests take a global lock, and each gets its own temp
//! token dir and conf file through `FERROHSM_CONF`.

#![allow(dead_code)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

pub const SO_PIN: &str = "12345678";
pub const USER_PIN: &str = "1234";

static LOCK: Mutex<()> = Mutex::new(());

/// The library under test: the same choice and the same build check as `tests/common`
/// (`$FERROHSM_MODULE`, else the library this `cargo test` built, else target/release), so a stale
/// library or one of the other backend is refused, not tested.
pub fn module_path() -> PathBuf {
    static PATH: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let r = PATH.get_or_init(|| {
        let mut cands = Vec::new();
        if let Some(p) = std::env::var_os("FERROHSM_MODULE").filter(|p| !p.is_empty()) {
            cands.push(PathBuf::from(p));
        } else {
            if let Some(dir) = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(PathBuf::from))
            {
                cands.push(dir.join("libferrohsm.so"));
            }
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
            cands.push(target.join("release/libferrohsm.so"));
        }
        let mut why = Vec::new();
        for c in cands {
            match ferrohsm::build_info::check_library(&c) {
                Ok(()) => return Ok(c),
                Err(e) => why.push(e),
            }
        }
        Err(format!(
            "no libferrohsm.so of this build to test:\n{}",
            why.join("\n")
        ))
    });
    match r {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

pub struct Env {
    pub p: Option<Pkcs11>,
    pub slot: Slot,
    pub f: &'static CK_FUNCTION_LIST,
    pub dir: tempfile::TempDir,
    _lib: libloading::Library,
    _guard: MutexGuard<'static, ()>,
}

impl Env {
    /// A fresh module with one initialized token whose user PIN is set.
    pub fn new() -> Env {
        Env::with_conf("")
    }

    /// As [`Env::new`], with more configuration lines.
    pub fn with_conf(extra: &str) -> Env {
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("ferrohsm.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nkdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\nlog.level = ERROR\n{extra}\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        std::env::set_var("FERROHSM_CONF", &conf);
        let path = module_path();
        assert!(
            path.exists(),
            "{} is missing: run cargo build --release",
            path.display()
        );
        let p = Pkcs11::new(&path).unwrap();
        p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap();
        let free = *p.get_all_slots().unwrap().last().unwrap();
        p.init_token(free, &AuthPin::new(SO_PIN.into()), "crypto")
            .unwrap();
        let slot = p.get_slots_with_initialized_token().unwrap()[0];
        {
            let s = p.open_rw_session(slot).unwrap();
            s.login(UserType::So, Some(&AuthPin::new(SO_PIN.into())))
                .unwrap();
            s.init_pin(&AuthPin::new(USER_PIN.into())).unwrap();
            s.logout().unwrap();
        }
        // SAFETY: the library is the PKCS#11 module, whose C_GetFunctionList has this signature.
        let lib = unsafe { libloading::Library::new(&path) }.unwrap();
        let f = unsafe {
            let get: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
                lib.get(b"C_GetFunctionList").unwrap();
            let mut fl: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
            assert_eq!(get(&mut fl), CKR_OK);
            &*fl
        };
        Env {
            p: Some(p),
            slot,
            f,
            dir,
            _lib: lib,
            _guard: guard,
        }
    }

    /// Finalizes and initializes the module again (a new process would see the same).
    pub fn restart(&mut self) {
        if let Some(p) = self.p.take() {
            p.finalize().unwrap();
        }
        let p = Pkcs11::new(module_path()).unwrap();
        p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap();
        self.p = Some(p);
    }

    pub fn p(&self) -> &Pkcs11 {
        self.p.as_ref().unwrap()
    }

    /// A R/W session with the user logged in.
    pub fn user(&self) -> Session {
        let s = self.p().open_rw_session(self.slot).unwrap();
        s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))
            .unwrap();
        s
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(p) = self.p.take() {
            let _ = p.finalize();
        }
    }
}

/// The CK_RV of a cryptoki error.
pub fn rv(e: CkError) -> RvError {
    match e {
        CkError::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

pub fn rsa_pair(s: &Session, bits: u64, extra_priv: &[Attribute]) -> (ObjectHandle, ObjectHandle) {
    let mut priv_t = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::Decrypt(true),
        Attribute::Id(vec![1]),
    ];
    priv_t.extend_from_slice(extra_priv);
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::ModulusBits(bits.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
            Attribute::Encrypt(true),
            Attribute::Id(vec![1]),
        ],
        &priv_t,
    )
    .unwrap()
}

pub const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
pub const OID_P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

pub fn ec_pair(s: &Session, params: &[u8]) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::EcParams(params.to_vec()),
            Attribute::Verify(true),
        ],
        &[Attribute::Sign(true), Attribute::Sensitive(true)],
    )
    .unwrap()
}

pub fn bytes_attr(s: &Session, o: ObjectHandle, t: AttributeType) -> Vec<u8> {
    match s.get_attributes(o, &[t]).unwrap().pop() {
        Some(Attribute::PublicKeyInfo(v))
        | Some(Attribute::EcPoint(v))
        | Some(Attribute::Modulus(v))
        | Some(Attribute::PublicExponent(v))
        | Some(Attribute::EcParams(v))
        | Some(Attribute::Value(v))
        | Some(Attribute::PrivateExponent(v))
        | Some(Attribute::Prime1(v))
        | Some(Attribute::Prime2(v)) => v,
        other => panic!("unexpected {other:?}"),
    }
}

/// A raw CK_MECHANISM without parameter.
pub fn raw_mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: ty,
        pParameter: std::ptr::null_mut(),
        ulParameterLen: 0,
    }
}

/// A raw CK_MECHANISM pointing at `p`.
pub fn raw_mech_param<T>(ty: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: ty,
        pParameter: p as *mut T as *mut std::ffi::c_void,
        ulParameterLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// This process's peak resident set so far (VmHWM), in KiB.
pub fn peak_rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}
