//! What the fuzz targets that drive the C boundary share: a token set up once per process in a
//! temporary directory, a reader of the fuzzer's bytes, fuzzed attribute templates, and the check
//! of every return value.
//!
//! The targets call the module's exported `C_*` functions in-process (the crate is also an rlib).
//! A panic anywhere in the module aborts the process before the entry guard can turn it into
//! `CKR_GENERAL_ERROR`: libfuzzer-sys installs a panic hook that calls `abort()`, and the hook runs
//! before unwinding starts. So "no panic reaches the guard" is checked on every call; [`rv`] also
//! refuses `CKR_GENERAL_ERROR` (what the guard returns) and any value the module does not define.

use cryptoki_sys::*;
use ferrohsm::ffi::entry::*;
use std::ptr;
use std::sync::OnceLock;

pub const SO_PIN: &[u8] = b"12345678";
pub const USER_PIN: &[u8] = b"1234";

/// Every return value the module can give (src/ffi/rv.rs), `CKR_GENERAL_ERROR` left out: the
/// panic guard's value, and otherwise only a configuration or RNG failure, neither of which a
/// fuzzed call should cause.
const DEFINED: &[CK_RV] = &[
    CKR_OK,
    CKR_ACTION_PROHIBITED,
    CKR_AEAD_DECRYPT_FAILED,
    CKR_ARGUMENTS_BAD,
    CKR_ATTRIBUTE_READ_ONLY,
    CKR_ATTRIBUTE_SENSITIVE,
    CKR_ATTRIBUTE_TYPE_INVALID,
    CKR_ATTRIBUTE_VALUE_INVALID,
    CKR_BUFFER_TOO_SMALL,
    CKR_CANT_LOCK,
    CKR_CRYPTOKI_ALREADY_INITIALIZED,
    CKR_CRYPTOKI_NOT_INITIALIZED,
    CKR_CURVE_NOT_SUPPORTED,
    CKR_DATA_INVALID,
    CKR_DATA_LEN_RANGE,
    CKR_DOMAIN_PARAMS_INVALID,
    CKR_ENCRYPTED_DATA_INVALID,
    CKR_ENCRYPTED_DATA_LEN_RANGE,
    CKR_FUNCTION_FAILED,
    CKR_FUNCTION_NOT_PARALLEL,
    CKR_FUNCTION_NOT_SUPPORTED,
    CKR_HOST_MEMORY,
    CKR_KEY_FUNCTION_NOT_PERMITTED,
    CKR_KEY_HANDLE_INVALID,
    CKR_KEY_INDIGESTIBLE,
    CKR_KEY_NOT_WRAPPABLE,
    CKR_KEY_SIZE_RANGE,
    CKR_KEY_TYPE_INCONSISTENT,
    CKR_KEY_UNEXTRACTABLE,
    CKR_MECHANISM_INVALID,
    CKR_MECHANISM_PARAM_INVALID,
    CKR_NO_EVENT,
    CKR_OBJECT_HANDLE_INVALID,
    CKR_OPERATION_ACTIVE,
    CKR_OPERATION_NOT_INITIALIZED,
    CKR_PIN_INCORRECT,
    CKR_PIN_INVALID,
    CKR_PIN_LEN_RANGE,
    CKR_PIN_LOCKED,
    CKR_RANDOM_SEED_NOT_SUPPORTED,
    CKR_SESSION_COUNT,
    CKR_SESSION_EXISTS,
    CKR_SESSION_HANDLE_INVALID,
    CKR_SESSION_PARALLEL_NOT_SUPPORTED,
    CKR_SESSION_READ_ONLY,
    CKR_SESSION_READ_ONLY_EXISTS,
    CKR_SESSION_READ_WRITE_SO_EXISTS,
    CKR_SIGNATURE_INVALID,
    CKR_SIGNATURE_LEN_RANGE,
    CKR_SLOT_ID_INVALID,
    CKR_TEMPLATE_INCOMPLETE,
    CKR_TEMPLATE_INCONSISTENT,
    CKR_TOKEN_NOT_PRESENT,
    CKR_TOKEN_NOT_RECOGNIZED,
    CKR_TOKEN_WRITE_PROTECTED,
    CKR_UNWRAPPING_KEY_HANDLE_INVALID,
    CKR_UNWRAPPING_KEY_SIZE_RANGE,
    CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
    CKR_USER_ALREADY_LOGGED_IN,
    CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
    CKR_USER_NOT_LOGGED_IN,
    CKR_USER_PIN_NOT_INITIALIZED,
    CKR_USER_TOO_MANY_TYPES,
    CKR_USER_TYPE_INVALID,
    CKR_WRAPPED_KEY_INVALID,
    CKR_WRAPPED_KEY_LEN_RANGE,
    CKR_WRAPPING_KEY_HANDLE_INVALID,
    CKR_WRAPPING_KEY_SIZE_RANGE,
    CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
    CKR_DEVICE_MEMORY,
];

/// Checks a return value: one the module defines, not the panic guard's `CKR_GENERAL_ERROR`, not
/// `CKR_DEVICE_ERROR` (the token lives on tmpfs: a storage error here is a damaged record or a bug).
pub fn rv(what: &str, rv: CK_RV) -> CK_RV {
    static TRACE: OnceLock<bool> = OnceLock::new();
    // FUZZ_TRACE=1: every checked call and its value on standard error (to read a crash input).
    if *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some()) {
        eprintln!("{what} -> {rv:#x}");
    }
    assert!(
        DEFINED.contains(&rv),
        "{what} returned {rv:#x}, which is not a value it may return"
    );
    rv
}

/// The token every target of a process uses: initialized, user PIN set, one read-write session
/// logged in as the user.
pub struct Token {
    pub slot: CK_SLOT_ID,
    pub session: CK_SESSION_HANDLE,
    _dir: std::path::PathBuf,
}

/// A fresh token directory (on /dev/shm when there is one, so token objects cost no disk sync),
/// fast Argon2id, no login cache; `C_Initialize`, `C_InitToken`, `C_InitPIN`, `C_Login`. Once per
/// process.
pub fn token() -> &'static Token {
    static T: OnceLock<Token> = OnceLock::new();
    T.get_or_init(|| unsafe { setup() })
}

unsafe fn setup() -> Token {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    // libFuzzer ends the process with exit(), which runs no destructor: remove the directories
    // of earlier runs whose process is gone.
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("ferrohsm-fuzz-") {
                if !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let dir = base.join(format!("ferrohsm-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("ferrohsm.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nlog.level = ERROR\nlog.file = {}\n\
             kdf.argon2.memory_kib = 1024\nkdf.argon2.iterations = 1\n\
             login.cache = off\npin.max_attempts = 1000\n",
            tokens.display(),
            dir.join("log").display()
        ),
    )
    .expect("conf");
    std::env::set_var("FERROHSM_CONF", &conf);
    assert_eq!(C_Initialize(ptr::null_mut()), CKR_OK);
    let mut slots = [0 as CK_SLOT_ID; 4];
    let mut n = slots.len() as CK_ULONG;
    assert_eq!(C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut n), CKR_OK);
    let free = slots[n as usize - 1];
    let mut label = [b' '; 32];
    label[..4].copy_from_slice(b"fuzz");
    assert_eq!(
        C_InitToken(
            free,
            SO_PIN.as_ptr() as *mut _,
            SO_PIN.len() as CK_ULONG,
            label.as_mut_ptr()
        ),
        CKR_OK
    );
    let mut n = slots.len() as CK_ULONG;
    assert_eq!(C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut n), CKR_OK);
    let slot = slots[0];
    let mut s = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(
        C_OpenSession(slot, flags, ptr::null_mut(), None, &mut s),
        CKR_OK
    );
    assert_eq!(
        C_Login(
            s,
            CKU_SO,
            SO_PIN.as_ptr() as *mut _,
            SO_PIN.len() as CK_ULONG
        ),
        CKR_OK
    );
    assert_eq!(
        C_InitPIN(s, USER_PIN.as_ptr() as *mut _, USER_PIN.len() as CK_ULONG),
        CKR_OK
    );
    assert_eq!(C_Logout(s), CKR_OK);
    assert_eq!(
        C_Login(
            s,
            CKU_USER,
            USER_PIN.as_ptr() as *mut _,
            USER_PIN.len() as CK_ULONG
        ),
        CKR_OK
    );
    Token {
        slot,
        session: s,
        _dir: dir,
    }
}

/// The fuzzer's bytes, read front to back; past the end every read gives zeros, so any input
/// is a complete, deterministic program.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | u16::from(self.u8()) << 8
    }
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let s = self.bytes(8);
        b[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(b)
    }
    /// A length-prefixed (one byte) byte string.
    pub fn blob(&mut self) -> &'a [u8] {
        let n = self.u8() as usize;
        self.bytes(n)
    }
    /// A length-prefixed (two bytes) byte string.
    pub fn long_blob(&mut self) -> &'a [u8] {
        let n = self.u16() as usize;
        self.bytes(n)
    }
    /// One of `items`, by a byte.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.u8() as usize % items.len()]
    }
}

/// Every attribute type the module knows (`object::rules::kind`), found by asking it.
pub fn known_attributes() -> &'static [CK_ATTRIBUTE_TYPE] {
    static A: OnceLock<Vec<CK_ATTRIBUTE_TYPE>> = OnceLock::new();
    A.get_or_init(|| {
        let vendor = ferrohsm::object::vendor::CKA_FERROHSM_BASE;
        (0..0x1000)
            .chain(vendor..vendor + 0x10)
            .chain([CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE])
            .chain([CKA_ALLOWED_MECHANISMS])
            .filter(|&t| ferrohsm::object::rules::kind(t).is_some())
            .collect()
    })
}

/// A fuzzed template, built from [`Reader`] bytes, that owns the buffers its `pValue`s point to.
/// Every `pValue` is NULL (with any `ulValueLen`) or points to a buffer of at least
/// `ulValueLen` bytes: a caller that lies about a buffer's length breaks the C contract and would
/// crash any module, so lengths vary only downwards from the buffer's.
pub struct Template {
    pub attrs: Vec<CK_ATTRIBUTE>,
    _bufs: Vec<Vec<u8>>,
    _nested: Vec<Vec<CK_ATTRIBUTE>>,
}

impl Template {
    /// Up to 32 attributes; a nesting level for the template attributes.
    pub fn read(r: &mut Reader<'_>, depth: u8) -> Template {
        let n = (r.u8() % 33) as usize;
        let mut t = Template {
            attrs: Vec::with_capacity(n),
            _bufs: Vec::new(),
            _nested: Vec::new(),
        };
        for _ in 0..n {
            let a = t.read_one(r, depth);
            t.attrs.push(a);
        }
        t
    }

    fn read_one(&mut self, r: &mut Reader<'_>, depth: u8) -> CK_ATTRIBUTE {
        let known = known_attributes();
        let k = r.u8();
        let type_ = if (k as usize) < known.len() {
            known[k as usize]
        } else if k == 0xff {
            r.u64()
        } else {
            known[k as usize % known.len()]
        };
        let mode = r.u8();
        let mut buf: Vec<u8> = match mode % 8 {
            // NULL with a claimed length (C_GetAttributeValue's length query; invalid elsewhere).
            0 => {
                let len = r.u16() as CK_ULONG;
                return CK_ATTRIBUTE {
                    type_,
                    pValue: ptr::null_mut(),
                    ulValueLen: len,
                };
            }
            // CK_BBOOL.
            1 => vec![r.u8()],
            // CK_ULONG, small (classes, key types, sizes) or any.
            2 => (r.u8() as CK_ULONG).to_ne_bytes().to_vec(),
            3 => r.u64().to_ne_bytes().to_vec(),
            // A template attribute's array of attributes.
            4 if depth > 0 => {
                let inner = Template::read(r, depth - 1);
                let len = std::mem::size_of_val(&inner.attrs[..]);
                let a = CK_ATTRIBUTE {
                    type_,
                    pValue: if inner.attrs.is_empty() {
                        ptr::null_mut()
                    } else {
                        inner.attrs.as_ptr() as *mut _
                    },
                    ulValueLen: len as CK_ULONG,
                };
                let Template {
                    attrs,
                    _bufs,
                    _nested,
                } = inner;
                self._bufs.extend(_bufs);
                self._nested.extend(_nested);
                self._nested.push(attrs);
                return a;
            }
            // A list of mechanisms (CKA_ALLOWED_MECHANISMS).
            5 => {
                let n = r.u8() % 8;
                let mechs = ferrohsm::mechanism::all().map(|m| m.ty).collect::<Vec<_>>();
                (0..n).flat_map(|_| r.pick(&mechs).to_ne_bytes()).collect()
            }
            // Bytes, with the true length or a shorter one.
            _ => r.long_blob().to_vec(),
        };
        let mut len = if mode & 0x80 != 0 && !buf.is_empty() {
            r.u16() as usize % buf.len()
        } else {
            buf.len()
        };
        // The value of a template attribute (CKA_WRAP_TEMPLATE...) is an array of CK_ATTRIBUTE,
        // whose pointers the module follows: bytes that fill whole entries would be pointers
        // made of fuzzed bytes, the caller's fault. One byte short, they are a malformed value.
        let entry = std::mem::size_of::<CK_ATTRIBUTE>();
        if ferrohsm::object::attrlist::is_attr_list(type_) && len > 0 && len % entry == 0 {
            len -= 1;
        }
        if buf.is_empty() {
            // An empty value: NULL or a dangling-free pointer to nothing.
            buf.reserve(1);
        }
        let a = CK_ATTRIBUTE {
            type_,
            pValue: buf.as_mut_ptr() as *mut _,
            ulValueLen: len as CK_ULONG,
        };
        self._bufs.push(buf);
        a
    }

    /// Output buffers for `C_GetAttributeValue`: each attribute's `pValue` NULL or pointing to a
    /// zeroed buffer of its `ulValueLen`.
    pub fn for_output(r: &mut Reader<'_>) -> Template {
        let known = known_attributes();
        let n = (r.u8() % 17) as usize;
        let mut t = Template {
            attrs: Vec::with_capacity(n),
            _bufs: Vec::new(),
            _nested: Vec::new(),
        };
        for _ in 0..n {
            let k = r.u8();
            let type_ = if k == 0xff {
                r.u64()
            } else {
                known[k as usize % known.len()]
            };
            let len = r.u16() as usize % 1024;
            let null = r.u8() & 1 == 0;
            let mut buf = vec![0u8; len.max(1)];
            t.attrs.push(CK_ATTRIBUTE {
                type_,
                pValue: if null {
                    ptr::null_mut()
                } else {
                    buf.as_mut_ptr() as *mut _
                },
                ulValueLen: len as CK_ULONG,
            });
            t._bufs.push(buf);
        }
        t
    }

    pub fn ptr(&mut self) -> *mut CK_ATTRIBUTE {
        if self.attrs.is_empty() {
            ptr::null_mut()
        } else {
            self.attrs.as_mut_ptr()
        }
    }

    pub fn len(&self) -> CK_ULONG {
        self.attrs.len() as CK_ULONG
    }

    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }
}

/// A well-formed attribute, for the fixed templates of the setup.
pub fn attr<T>(type_: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_,
        pValue: v as *const T as *mut _,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// An attribute whose value is a byte string.
pub fn attr_bytes(type_: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_,
        pValue: v.as_ptr() as *mut _,
        ulValueLen: v.len() as CK_ULONG,
    }
}

/// Destroys every object of the session's token not in `keep` (what an iteration made), so
/// each input starts from the same token.
pub fn destroy_all_but(session: CK_SESSION_HANDLE, keep: &[CK_OBJECT_HANDLE]) {
    unsafe {
        assert_eq!(C_FindObjectsInit(session, ptr::null_mut(), 0), CKR_OK);
        let mut found = Vec::new();
        loop {
            let mut buf = [0 as CK_OBJECT_HANDLE; 64];
            let mut n = 0;
            assert_eq!(
                C_FindObjects(session, buf.as_mut_ptr(), buf.len() as CK_ULONG, &mut n),
                CKR_OK
            );
            if n == 0 {
                break;
            }
            found.extend_from_slice(&buf[..n as usize]);
        }
        assert_eq!(C_FindObjectsFinal(session), CKR_OK);
        for h in found.into_iter().filter(|h| !keep.contains(h)) {
            // A non-destroyable object stays; the targets do not count on its absence.
            rv("C_DestroyObject", C_DestroyObject(session, h));
        }
    }
}
