//! Call sequences: up to 48 random `C_*` calls per input over several sessions (open and close,
//! `C_CloseAllSessions`, login and logout as user or SO with right, wrong and NULL PINs, create,
//! find, get and set attributes, destroy, HMAC sign and verify in one or several parts) with
//! handles that are live, closed, of another session, or anything, and buffers and lengths that
//! are NULL, short or right.
//!
//! Besides no panic and defined return values ([`fuzz_common::rv`]), a model of what must hold
//! is checked after every call:
//! - a closed session's handle, or one never issued, is `CKR_SESSION_HANDLE_INVALID` everywhere;
//! - `C_GetSessionInfo` gives the state the login and the session's read-write flag imply (the
//!   login belongs to the token, so a login in one session shows in all);
//! - an object is usable from every open session exactly while it exists, its session (for a
//!   session object) is open, and it is public or the user is logged in; a destroyed object's
//!   handle, or a session object's after its session closed, works nowhere; at a logout (or
//!   when the last session closes) private session objects go, and token objects stored sealed
//!   (private ones, secret and private keys) leave memory, their handles dead for good (a later
//!   login gives them new ones: src/token.rs, `drop_login`);
//! - an operation or a search started in one session is not seen by another:
//!   `C_Sign`/`C_SignUpdate`/`C_SignFinal`/`C_Verify`/`C_FindObjects` in a session where none was
//!   started give `CKR_OPERATION_NOT_INITIALIZED`, an init in a session with one active gives
//!   `CKR_OPERATION_ACTIVE`.
//!
//! Each input starts from the same state: every session closed, both PIN failure counts reset,
//! the objects earlier inputs left on the token destroyed. PINs are never changed (no
//! `C_InitToken`, `C_InitPIN`, `C_SetPIN`).
#![no_main]

use cryptoki_sys::*;
use ferrohsm::ffi::entry::*;
use fuzz_common::{attr, attr_bytes, rv, token, Reader, Template, SO_PIN, USER_PIN};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::ptr;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Login {
    Public,
    User,
    So,
}

/// Whether an operation is active in a session, as far as the model can tell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    No,
    Yes,
    Unknown,
}

struct Sess {
    rw: bool,
    sign: Op,
    verify: Op,
    find: Op,
}

struct Obj {
    /// The session of a session object; `None` for a token object.
    owner: Option<CK_SESSION_HANDLE>,
    private: bool,
    /// Stored sealed under the master key (private, or a secret or private key): as a token
    /// object it leaves memory at logout, and its handle dies (a later login gives a new one).
    sealed: bool,
    alive: bool,
}

struct Model {
    slot: CK_SLOT_ID,
    login: Login,
    open: HashMap<CK_SESSION_HANDLE, Sess>,
    closed: Vec<CK_SESSION_HANDLE>,
    objs: HashMap<CK_OBJECT_HANDLE, Obj>,
}

impl Model {
    fn visible(&self, h: CK_OBJECT_HANDLE) -> Option<bool> {
        let o = self.objs.get(&h)?;
        let owner_open = o.owner.is_none_or(|s| self.open.contains_key(&s));
        Some(o.alive && owner_open && (!o.private || self.login == Login::User))
    }

    fn close_all(&mut self) {
        let all: Vec<_> = self.open.keys().copied().collect();
        self.closed.extend(all);
        self.open.clear();
        self.drop_login();
    }

    /// A logout, or the last session closed: sealed token objects and private session objects
    /// are gone (src/token.rs, `drop_login`).
    fn drop_login(&mut self) {
        self.login = Login::Public;
        for o in self.objs.values_mut() {
            if (o.owner.is_none() && o.sealed) || (o.owner.is_some() && o.private) {
                o.alive = false;
            }
        }
    }
}

unsafe fn pin_login(s: CK_SESSION_HANDLE, who: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    C_Login(s, who, pin.as_ptr() as *mut _, pin.len() as CK_ULONG)
}

/// Every session closed, PIN counts reset by right PINs, leftover objects destroyed.
unsafe fn reset(slot: CK_SLOT_ID) {
    assert_eq!(C_CloseAllSessions(slot), CKR_OK);
    let mut s = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(
        C_OpenSession(slot, flags, ptr::null_mut(), None, &mut s),
        CKR_OK
    );
    assert_eq!(pin_login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(C_Logout(s), CKR_OK);
    assert_eq!(pin_login(s, CKU_USER, USER_PIN), CKR_OK);
    fuzz_common::destroy_all_but(s, &[]);
    assert_eq!(C_CloseAllSessions(slot), CKR_OK);
}

fn expected_state(login: Login, rw: bool) -> CK_STATE {
    match (login, rw) {
        (Login::Public, false) => CKS_RO_PUBLIC_SESSION,
        (Login::Public, true) => CKS_RW_PUBLIC_SESSION,
        (Login::User, false) => CKS_RO_USER_FUNCTIONS,
        (Login::User, true) => CKS_RW_USER_FUNCTIONS,
        (Login::So, _) => CKS_RW_SO_FUNCTIONS,
    }
}

/// Checks every session the model knows: open ones report the right state, closed ones are
/// invalid.
unsafe fn check_sessions(m: &Model) {
    for (&h, s) in &m.open {
        let mut info: CK_SESSION_INFO = std::mem::zeroed();
        assert_eq!(
            rv("C_GetSessionInfo", C_GetSessionInfo(h, &mut info)),
            CKR_OK
        );
        assert_eq!(info.slotID, m.slot);
        assert_eq!(info.flags & CKF_RW_SESSION != 0, s.rw);
        assert_eq!(
            info.state,
            expected_state(m.login, s.rw),
            "session {h} in state {} with login {:?}",
            info.state,
            m.login
        );
    }
    for h in &m.closed {
        if m.open.contains_key(h) {
            continue;
        }
        let mut info: CK_SESSION_INFO = std::mem::zeroed();
        assert_eq!(
            rv("C_GetSessionInfo", C_GetSessionInfo(*h, &mut info)),
            CKR_SESSION_HANDLE_INVALID,
            "closed session {h} still answers"
        );
    }
}

/// Checks that each object the model knows is usable exactly when it should be, from `s`.
unsafe fn check_objects(m: &Model, s: CK_SESSION_HANDLE) {
    for &h in m.objs.keys() {
        let vis = m.visible(h).unwrap();
        let mut class: CK_ULONG = 0;
        let mut a = [attr(CKA_CLASS, &class)];
        a[0].pValue = &mut class as *mut _ as *mut _;
        let r = rv(
            "C_GetAttributeValue",
            C_GetAttributeValue(s, h, a.as_mut_ptr(), 1),
        );
        if vis {
            assert_eq!(r, CKR_OK, "object {h} not usable from session {s}");
        } else {
            assert_ne!(
                r, CKR_OK,
                "object {h} usable from session {s} where it must not be"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t = token();
    unsafe { reset(t.slot) };
    let mut m = Model {
        slot: t.slot,
        login: Login::Public,
        open: HashMap::new(),
        closed: Vec::new(),
        objs: HashMap::new(),
    };
    let mut r = Reader::new(data);
    let mech_hmac = CK_MECHANISM {
        mechanism: CKM_SHA256_HMAC,
        pParameter: ptr::null_mut(),
        ulParameterLen: 0,
    };
    for _ in 0..48 {
        if r.is_empty() {
            break;
        }
        let op = r.u8();
        // A session: an open one, a closed one, or any number.
        let open: Vec<CK_SESSION_HANDLE> = {
            let mut v: Vec<_> = m.open.keys().copied().collect();
            v.sort_unstable();
            v
        };
        let sel = r.u8();
        let s: CK_SESSION_HANDLE = match sel {
            0..=199 if !open.is_empty() => open[sel as usize % open.len()],
            200..=239 if !m.closed.is_empty() => m.closed[sel as usize % m.closed.len()],
            _ => r.u8() as CK_SESSION_HANDLE,
        };
        let live = m.open.contains_key(&s);
        let issued = live || m.closed.contains(&s);
        // An object: one the model knows, or any number.
        let mut known: Vec<CK_OBJECT_HANDLE> = m.objs.keys().copied().collect();
        known.sort_unstable();
        let osel = r.u8();
        let o: CK_OBJECT_HANDLE = if !known.is_empty() && osel < 224 {
            known[osel as usize % known.len()]
        } else {
            r.u16() as CK_OBJECT_HANDLE
        };
        let invalid_session = |got: CK_RV, what: &str| {
            if !live && issued {
                assert_ne!(got, CKR_OK, "{what} worked on closed session {s}");
                // The C layer reads its arguments before it looks the session up: a NULL output
                // pointer (CKR_ARGUMENTS_BAD) or a malformed nested template
                // (CKR_ATTRIBUTE_VALUE_INVALID) may be refused first.
                if !matches!(got, CKR_ARGUMENTS_BAD | CKR_ATTRIBUTE_VALUE_INVALID) {
                    assert_eq!(
                        got, CKR_SESSION_HANDLE_INVALID,
                        "{what} on closed session {s}"
                    );
                }
            }
        };
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("op {} session {s} (live {live}) object {o}", op % 14);
        }
        unsafe {
            match op % 14 {
                0 => {
                    let rw = r.u8() & 1 == 0;
                    let flags = match r.u8() {
                        0..=239 => CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 },
                        _ => r.u64() as CK_FLAGS,
                    };
                    let null = r.u8() == 0;
                    let mut h = 0;
                    let out = if null {
                        ptr::null_mut()
                    } else {
                        &mut h as *mut _
                    };
                    let got = rv(
                        "C_OpenSession",
                        C_OpenSession(m.slot, flags, ptr::null_mut(), None, out),
                    );
                    if got == CKR_OK {
                        assert!(!null);
                        assert!(!m.open.contains_key(&h), "session handle {h} given twice");
                        assert!(!m.closed.contains(&h), "closed session handle {h} reused");
                        m.open.insert(
                            h,
                            Sess {
                                rw: flags & CKF_RW_SESSION != 0,
                                sign: Op::No,
                                verify: Op::No,
                                find: Op::No,
                            },
                        );
                    }
                }
                1 => {
                    let got = rv("C_CloseSession", C_CloseSession(s));
                    invalid_session(got, "C_CloseSession");
                    if got == CKR_OK {
                        assert!(live, "C_CloseSession accepted unknown session {s}");
                        m.open.remove(&s);
                        m.closed.push(s);
                        if m.open.is_empty() {
                            m.drop_login();
                        }
                    }
                }
                2 => {
                    let slot = if r.u8() < 240 {
                        m.slot
                    } else {
                        r.u64() as CK_SLOT_ID
                    };
                    let got = rv("C_CloseAllSessions", C_CloseAllSessions(slot));
                    if got == CKR_OK && slot == m.slot {
                        m.close_all();
                    }
                }
                3 => {
                    let who = match r.u8() % 5 {
                        0 | 1 => CKU_USER,
                        2 => CKU_SO,
                        3 => CKU_CONTEXT_SPECIFIC,
                        _ => r.u64() as CK_USER_TYPE,
                    };
                    let pin_sel = r.u8();
                    let wrong = r.blob();
                    let got = match pin_sel % 4 {
                        0 | 1 => pin_login(s, who, if who == CKU_SO { SO_PIN } else { USER_PIN }),
                        2 => pin_login(s, who, wrong),
                        _ => C_Login(s, who, ptr::null_mut(), r.u8() as CK_ULONG),
                    };
                    rv("C_Login", got);
                    invalid_session(got, "C_Login");
                    if got == CKR_OK {
                        assert!(live);
                        match who {
                            CKU_USER => m.login = Login::User,
                            CKU_SO => m.login = Login::So,
                            _ => {}
                        }
                        for x in m.open.values_mut() {
                            x.sign = Op::Unknown;
                            x.verify = Op::Unknown;
                        }
                    }
                }
                4 => {
                    let got = rv("C_Logout", C_Logout(s));
                    invalid_session(got, "C_Logout");
                    if got == CKR_OK {
                        assert!(live);
                        m.drop_login();
                        for x in m.open.values_mut() {
                            x.sign = Op::Unknown;
                            x.verify = Op::Unknown;
                            x.find = Op::Unknown;
                        }
                    }
                }
                5 => {
                    let (cls_data, cls_secret, kt) = (CKO_DATA, CKO_SECRET_KEY, CKK_GENERIC_SECRET);
                    let token_obj: CK_BBOOL = r.u8() & 1;
                    let private: CK_BBOOL = r.u8() & 1;
                    let tr = CK_TRUE;
                    let value = [0x5au8; 32];
                    let mode = r.u8() % 3;
                    let mut fuzzed = Template::read(&mut r, 1);
                    fuzzed.attrs.retain(|a| a.type_ != CKA_DESTROYABLE);
                    let mut fixed = match mode {
                        0 => vec![
                            attr(CKA_CLASS, &cls_data),
                            attr(CKA_TOKEN, &token_obj),
                            attr(CKA_PRIVATE, &private),
                            attr_bytes(CKA_VALUE, b"calls"),
                        ],
                        _ => vec![
                            attr(CKA_CLASS, &cls_secret),
                            attr(CKA_KEY_TYPE, &kt),
                            attr(CKA_TOKEN, &token_obj),
                            attr(CKA_PRIVATE, &private),
                            attr(CKA_SIGN, &tr),
                            attr(CKA_VERIFY, &tr),
                            attr_bytes(CKA_VALUE, &value),
                        ],
                    };
                    let (p, n) = if mode == 2 && !fuzzed.is_empty() {
                        (fuzzed.ptr(), fuzzed.len())
                    } else {
                        (fixed.as_mut_ptr(), fixed.len() as CK_ULONG)
                    };
                    let mut h = 0;
                    let got = rv("C_CreateObject", C_CreateObject(s, p, n, &mut h));
                    invalid_session(got, "C_CreateObject");
                    if got == CKR_OK {
                        assert!(live);
                        if let Some(old) = m.objs.get(&h) {
                            let exists =
                                old.alive && old.owner.is_none_or(|x| m.open.contains_key(&x));
                            assert!(!exists, "handle {h} of an existing object given again");
                        }
                        // What was made, read back.
                        let mut tok: CK_BBOOL = 0;
                        let mut prv: CK_BBOOL = 0;
                        let mut class: CK_OBJECT_CLASS = 0;
                        let mut a = [
                            attr(CKA_TOKEN, &tok),
                            attr(CKA_PRIVATE, &prv),
                            attr(CKA_CLASS, &class),
                        ];
                        a[0].pValue = &mut tok as *mut _ as *mut _;
                        a[1].pValue = &mut prv as *mut _ as *mut _;
                        a[2].pValue = &mut class as *mut _ as *mut _;
                        assert_eq!(
                            rv(
                                "C_GetAttributeValue",
                                C_GetAttributeValue(s, h, a.as_mut_ptr(), 3)
                            ),
                            CKR_OK,
                            "an object just made cannot be read"
                        );
                        m.objs.insert(
                            h,
                            Obj {
                                owner: (tok == 0).then_some(s),
                                private: prv != 0,
                                sealed: prv != 0
                                    || class == CKO_SECRET_KEY
                                    || class == CKO_PRIVATE_KEY,
                                alive: true,
                            },
                        );
                    }
                }
                6 => {
                    let mut tpl = Template::read(&mut r, 0);
                    let sess_find = m.open.get(&s).map(|x| x.find);
                    let got = rv(
                        "C_FindObjectsInit",
                        C_FindObjectsInit(s, tpl.ptr(), tpl.len()),
                    );
                    invalid_session(got, "C_FindObjectsInit");
                    // (The template is read first: its errors may come before this one.)
                    if sess_find == Some(Op::Yes)
                        && !matches!(got, CKR_ARGUMENTS_BAD | CKR_ATTRIBUTE_VALUE_INVALID)
                    {
                        assert_eq!(got, CKR_OPERATION_ACTIVE);
                    }
                    if got == CKR_OK {
                        m.open.get_mut(&s).unwrap().find = Op::Yes;
                    }
                }
                7 => {
                    let cap = r.u8() as usize % 8;
                    let mut buf = vec![0 as CK_OBJECT_HANDLE; cap.max(1)];
                    let mut n: CK_ULONG = 0;
                    let null_out = r.u8() == 0;
                    let got = rv(
                        "C_FindObjects",
                        C_FindObjects(
                            s,
                            buf.as_mut_ptr(),
                            cap as CK_ULONG,
                            if null_out { ptr::null_mut() } else { &mut n },
                        ),
                    );
                    invalid_session(got, "C_FindObjects");
                    let sess_find = m.open.get(&s).map(|x| x.find);
                    // (A NULL count is CKR_ARGUMENTS_BAD whatever the search state.)
                    if sess_find == Some(Op::No) && got != CKR_ARGUMENTS_BAD {
                        assert_eq!(
                            got, CKR_OPERATION_NOT_INITIALIZED,
                            "search seen in session {s}"
                        );
                    }
                    if got == CKR_OK {
                        assert!(n as usize <= cap);
                        for h in &buf[..n as usize] {
                            if let Some(v) = m.visible(*h) {
                                assert!(
                                    v,
                                    "C_FindObjects returned object {h}, which is not visible"
                                );
                            }
                        }
                    }
                    if r.u8() & 1 == 0 {
                        let got = rv("C_FindObjectsFinal", C_FindObjectsFinal(s));
                        if got == CKR_OK || got == CKR_OPERATION_NOT_INITIALIZED {
                            if let Some(x) = m.open.get_mut(&s) {
                                x.find = Op::No;
                            }
                        }
                    }
                }
                8 => {
                    let mut tpl = Template::for_output(&mut r);
                    let got = rv(
                        "C_GetAttributeValue",
                        C_GetAttributeValue(s, o, tpl.ptr(), tpl.len()),
                    );
                    invalid_session(got, "C_GetAttributeValue");
                }
                9 => {
                    let mut tpl = Template::read(&mut r, 1);
                    tpl.attrs
                        .retain(|a| !matches!(a.type_, CKA_DESTROYABLE | CKA_TOKEN | CKA_PRIVATE));
                    let got = rv(
                        "C_SetAttributeValue",
                        C_SetAttributeValue(s, o, tpl.ptr(), tpl.len()),
                    );
                    invalid_session(got, "C_SetAttributeValue");
                }
                10 => {
                    let got = rv("C_DestroyObject", C_DestroyObject(s, o));
                    invalid_session(got, "C_DestroyObject");
                    if let Some(v) = m.visible(o) {
                        if live && !v {
                            assert_ne!(got, CKR_OK, "destroyed object {o} it cannot see");
                        }
                    }
                    if got == CKR_OK {
                        if let Some(x) = m.objs.get_mut(&o) {
                            x.alive = false;
                        }
                    }
                }
                11 | 12 => {
                    // HMAC sign (11) or verify (12): init, then one of the three calls.
                    let verify = op % 14 == 12;
                    let mut mech = mech_hmac;
                    let state = m
                        .open
                        .get(&s)
                        .map(|x| if verify { x.verify } else { x.sign });
                    let step = r.u8() % 4;
                    let data = r.blob().to_vec();
                    let dlen = data.len() as CK_ULONG;
                    let dp = if data.is_empty() && r.u8() & 1 == 0 {
                        ptr::null_mut()
                    } else {
                        data.as_ptr() as *mut u8
                    };
                    let mut sig = vec![0u8; 64];
                    let cap = (r.u8() % 65) as CK_ULONG;
                    let mut sig_len = cap;
                    let null_sig = r.u8() & 3 == 0;
                    let null_len = r.u8() & 15 == 0;
                    let sp = if null_sig {
                        ptr::null_mut()
                    } else {
                        sig.as_mut_ptr()
                    };
                    let lp = if null_len {
                        ptr::null_mut()
                    } else {
                        &mut sig_len as *mut _
                    };
                    let (got, name) = match (verify, step) {
                        (false, 0) => (C_SignInit(s, &mut mech, o), "C_SignInit"),
                        (false, 1) => (C_Sign(s, dp, dlen, sp, lp), "C_Sign"),
                        (false, 2) => (C_SignUpdate(s, dp, dlen), "C_SignUpdate"),
                        (false, _) => (C_SignFinal(s, sp, lp), "C_SignFinal"),
                        (true, 0) => (C_VerifyInit(s, &mut mech, o), "C_VerifyInit"),
                        (true, 1) => (C_Verify(s, dp, dlen, sig.as_mut_ptr(), cap), "C_Verify"),
                        (true, 2) => (C_VerifyUpdate(s, dp, dlen), "C_VerifyUpdate"),
                        (true, _) => (C_VerifyFinal(s, sig.as_mut_ptr(), cap), "C_VerifyFinal"),
                    };
                    rv(name, got);
                    invalid_session(got, name);
                    if step == 0 {
                        if state == Some(Op::Yes) {
                            assert_eq!(got, CKR_OPERATION_ACTIVE, "{name} with one active");
                        }
                        if got == CKR_OK {
                            let vis = m.visible(o);
                            assert!(vis != Some(false), "{name} with object {o}, not visible");
                        }
                    } else if state == Some(Op::No) && got != CKR_ARGUMENTS_BAD {
                        assert_eq!(
                            got, CKR_OPERATION_NOT_INITIALIZED,
                            "{name} in session {s}, where none was started"
                        );
                    }
                    // What the model knows afterwards.
                    let after = match step {
                        0 if got == CKR_OK => Op::Yes,
                        0 => state.unwrap_or(Op::No),
                        _ if state == Some(Op::No) => Op::No,
                        2 if got == CKR_OK => Op::Yes,
                        1 | 3
                            if !verify
                                && (got == CKR_BUFFER_TOO_SMALL || (got == CKR_OK && null_sig)) =>
                        {
                            Op::Yes
                        }
                        _ if got == CKR_ARGUMENTS_BAD => Op::Unknown,
                        _ => Op::No,
                    };
                    if let Some(x) = m.open.get_mut(&s) {
                        if verify {
                            x.verify = after;
                        } else {
                            x.sign = after;
                        }
                    }
                }
                _ => {
                    let null = r.u8() & 3 == 0;
                    let mut info: CK_SESSION_INFO = std::mem::zeroed();
                    let got = rv(
                        "C_GetSessionInfo",
                        C_GetSessionInfo(s, if null { ptr::null_mut() } else { &mut info }),
                    );
                    invalid_session(got, "C_GetSessionInfo");
                    if live && null {
                        assert_eq!(got, CKR_ARGUMENTS_BAD);
                    }
                }
            }
            check_sessions(&m);
            if let Some(&any) = m.open.keys().min() {
                check_objects(&m, any);
            }
        }
    }
});
