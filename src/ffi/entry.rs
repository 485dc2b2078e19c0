//! The exported `C_*` functions. Each is a thin shell over [`crate::module`].

pub use super::crypto::*;
pub use super::message::*;
use super::{ffi_entry, input, out, output, pad, template};
use crate::error::Error;
use crate::module;
use crate::object::Read;
use cryptoki_sys::*;
use std::ffi::c_void;

const MANUFACTURER: &[u8] = b"ferrohsm";
const MODEL: &[u8] = b"ferrohsm";
const LIBRARY_DESCRIPTION: &[u8] = b"ferrohsm PKCS#11 module";

fn version() -> CK_VERSION {
    let major = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    CK_VERSION { major, minor }
}

/// Vendor function: the build ID of this library (`crate::build_info`), a NUL-terminated string
/// `ferrohsm-build-id:backend=... profile=... features=... sources=...`, static. The project's
/// tests and benches use it (through the same string in the file) to refuse a stale library or
/// one built with another backend.
#[no_mangle]
pub extern "C" fn ferrohsm_build_id() -> *const std::ffi::c_char {
    crate::build_info::TAGGED.as_ptr().cast()
}

// ---- general purpose ---------------------------------------------------------------------------

ffi_entry! {
    fn C_Initialize(p_init_args: *mut c_void) {
        let mut threads_allowed = true;
        if let Some(args) = (p_init_args as *const CK_C_INITIALIZE_ARGS).as_ref() {
            threads_allowed = args.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS == 0;
            if !args.pReserved.is_null() {
                return Err(Error::ArgumentsBad);
            }
            let given = [
                args.CreateMutex.is_some(),
                args.DestroyMutex.is_some(),
                args.LockMutex.is_some(),
                args.UnlockMutex.is_some(),
            ];
            if given.iter().any(|&g| g) && !given.iter().all(|&g| g) {
                return Err(Error::ArgumentsBad);
            }
            // Whatever the application offers, the module's own locks are correct in every case
            // the spec describes, so the callbacks are not needed.
        }
        module::initialize(threads_allowed)
    }
}

ffi_entry! {
    fn C_Finalize(p_reserved: *mut c_void) {
        if !p_reserved.is_null() {
            module::get()?;
            return Err(Error::ArgumentsBad);
        }
        module::finalize()
    }
}

fn fill_info(info: &mut CK_INFO, cryptoki: CK_VERSION) {
    info.cryptokiVersion = cryptoki;
    pad(&mut info.manufacturerID, MANUFACTURER);
    info.flags = 0;
    pad(&mut info.libraryDescription, LIBRARY_DESCRIPTION);
    info.libraryVersion = version();
}

ffi_entry! {
    /// C_GetInfo of the 3.0 interface (and the exported symbol).
    fn C_GetInfo(p_info: *mut CK_INFO) {
        module::get()?;
        fill_info(out(p_info)?, CK_VERSION { major: 3, minor: 0 });
        Ok(())
    }
}

ffi_entry! {
    /// C_GetInfo of the 3.2 interface: reports the version the caller obtained.
    fn ferrohsm_GetInfo_v320(p_info: *mut CK_INFO) {
        module::get()?;
        fill_info(out(p_info)?, CK_VERSION { major: 3, minor: 2 });
        Ok(())
    }
}

ffi_entry! {
    /// C_GetInfo of the 2.40 function list: reports the version the caller obtained.
    fn ferrohsm_GetInfo_v240(p_info: *mut CK_INFO) {
        module::get()?;
        fill_info(out(p_info)?, CK_VERSION { major: 2, minor: 40 });
        Ok(())
    }
}

ffi_entry! {
    fn C_GetFunctionList(pp: *mut *mut CK_FUNCTION_LIST) {
        *out(pp)? = super::tables::function_list_240();
        Ok(())
    }
}

ffi_entry! {
    fn C_GetInterfaceList(p_list: *mut CK_INTERFACE, p_count: *mut CK_ULONG) {
        let count = out(p_count)?;
        let all = super::tables::interfaces();
        if p_list.is_null() {
            *count = all.len() as CK_ULONG;
            return Ok(());
        }
        if (*count as usize) < all.len() {
            *count = all.len() as CK_ULONG;
            return Err(Error::BufferTooSmall);
        }
        let dst = output(p_list, all.len() as CK_ULONG)?;
        for (d, s) in dst.iter_mut().zip(all) {
            *d = s.get();
        }
        *count = all.len() as CK_ULONG;
        Ok(())
    }
}

ffi_entry! {
    fn C_GetInterface(p_name: *mut CK_UTF8CHAR, p_version: *mut CK_VERSION, pp: *mut *mut CK_INTERFACE, flags: CK_FLAGS) {
        let pp = out(pp)?;
        if !p_name.is_null() {
            let name = std::ffi::CStr::from_ptr(p_name as *const std::ffi::c_char);
            if name.to_bytes() != super::tables::INTERFACE_NAME {
                return Err(Error::ArgumentsBad);
            }
        }
        let want = p_version.as_ref().map(|v| (v.major, v.minor));
        let found = super::tables::interfaces().iter().find(|i| {
            let v = i.version();
            want.is_none_or(|w| w == (v.major, v.minor)) && i.get().flags & flags == flags
        });
        *pp = found.ok_or(Error::ArgumentsBad)?.to_caller();
        Ok(())
    }
}

// ---- slots and tokens --------------------------------------------------------------------------

ffi_entry! {
    fn C_GetSlotList(_token_present: CK_BBOOL, p_list: *mut CK_SLOT_ID, p_count: *mut CK_ULONG) {
        let m = module::get()?;
        let count = out(p_count)?;
        // Every slot holds a token (the free slot an uninitialized one), so the filter changes nothing.
        let ids = m.slot_list()?;
        if p_list.is_null() {
            *count = ids.len() as CK_ULONG;
            return Ok(());
        }
        if (*count as usize) < ids.len() {
            *count = ids.len() as CK_ULONG;
            return Err(Error::BufferTooSmall);
        }
        output(p_list, ids.len() as CK_ULONG)?.copy_from_slice(&ids);
        *count = ids.len() as CK_ULONG;
        Ok(())
    }
}

ffi_entry! {
    fn C_GetSlotInfo(slot: CK_SLOT_ID, p_info: *mut CK_SLOT_INFO) {
        let m = module::get()?;
        let info = out(p_info)?;
        m.slot(slot)?;
        pad(&mut info.slotDescription, format!("ferrohsm slot ID {slot:#x}").as_bytes());
        pad(&mut info.manufacturerID, MANUFACTURER);
        info.flags = CKF_TOKEN_PRESENT;
        if m.config.removable {
            info.flags |= CKF_REMOVABLE_DEVICE;
        }
        info.hardwareVersion = version();
        info.firmwareVersion = version();
        Ok(())
    }
}

ffi_entry! {
    fn C_GetTokenInfo(slot: CK_SLOT_ID, p_info: *mut CK_TOKEN_INFO) {
        let m = module::get()?;
        let info = out(p_info)?;
        let ti = m.token_info(slot)?;
        pad(&mut info.manufacturerID, MANUFACTURER);
        pad(&mut info.model, MODEL);
        info.ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
        info.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
        info.ulMaxPinLen = crate::token::MAX_PIN as CK_ULONG;
        info.ulMinPinLen = crate::token::MIN_PIN as CK_ULONG;
        info.ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
        info.hardwareVersion = version();
        info.firmwareVersion = version();
        pad(&mut info.utcTime, b"");
        match ti {
            Some(t) => {
                info.label = t.label;
                pad(&mut info.serialNumber, t.serial.as_bytes());
                info.flags = t.flags;
                info.ulSessionCount = t.sessions as CK_ULONG;
                info.ulRwSessionCount = t.rw_sessions as CK_ULONG;
            }
            None => {
                pad(&mut info.label, b"");
                pad(&mut info.serialNumber, b"");
                info.flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_RESTORE_KEY_NOT_NEEDED;
                info.ulSessionCount = 0;
                info.ulRwSessionCount = 0;
            }
        }
        Ok(())
    }
}

ffi_entry! {
    fn C_GetMechanismList(slot: CK_SLOT_ID, p_list: *mut CK_MECHANISM_TYPE, p_count: *mut CK_ULONG) {
        let m = module::get()?;
        let count = out(p_count)?;
        m.slot(slot)?;
        let mechs = crate::mechanism::list(&m.config);
        if p_list.is_null() {
            *count = mechs.len() as CK_ULONG;
            return Ok(());
        }
        if (*count as usize) < mechs.len() {
            *count = mechs.len() as CK_ULONG;
            return Err(Error::BufferTooSmall);
        }
        output(p_list, mechs.len() as CK_ULONG)?.copy_from_slice(&mechs);
        *count = mechs.len() as CK_ULONG;
        Ok(())
    }
}

ffi_entry! {
    fn C_GetMechanismInfo(slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE, p_info: *mut CK_MECHANISM_INFO) {
        let m = module::get()?;
        let info = out(p_info)?;
        m.slot(slot)?;
        let mi = crate::mechanism::info(&m.config, mech)?;
        info.ulMinKeySize = mi.min;
        info.ulMaxKeySize = mi.max;
        info.flags = mi.flags;
        Ok(())
    }
}

ffi_entry! {
    fn C_InitToken(slot: CK_SLOT_ID, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, p_label: *mut CK_UTF8CHAR) {
        let m = module::get()?;
        if p_pin.is_null() || p_label.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let pin = input(p_pin, pin_len)?;
        let label: [u8; 32] = input(p_label, 32)?.try_into().map_err(|_| Error::ArgumentsBad)?;
        m.init_token(slot, pin, &label).map(drop)
    }
}

ffi_entry! {
    fn C_InitPIN(h: CK_SESSION_HANDLE, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG) {
        let m = module::get()?;
        if p_pin.is_null() {
            return Err(Error::ArgumentsBad);
        }
        m.init_pin(h, input(p_pin, pin_len)?)
    }
}

ffi_entry! {
    fn C_SetPIN(h: CK_SESSION_HANDLE, p_old: *mut CK_UTF8CHAR, old_len: CK_ULONG, p_new: *mut CK_UTF8CHAR, new_len: CK_ULONG) {
        let m = module::get()?;
        if p_old.is_null() || p_new.is_null() {
            return Err(Error::ArgumentsBad);
        }
        m.set_pin(h, input(p_old, old_len)?, input(p_new, new_len)?)
    }
}

ffi_entry! {
    fn C_WaitForSlotEvent(flags: CK_FLAGS, p_slot: *mut CK_SLOT_ID, _p_reserved: *mut c_void) {
        module::get()?;
        out(p_slot)?;
        if flags & CKF_DONT_BLOCK != 0 {
            Err(Error::NoEvent)
        } else {
            Err(Error::FunctionNotSupported)
        }
    }
}

// ---- sessions ----------------------------------------------------------------------------------

ffi_entry! {
    fn C_OpenSession(slot: CK_SLOT_ID, flags: CK_FLAGS, _app: *mut c_void, _notify: CK_NOTIFY, p_session: *mut CK_SESSION_HANDLE) {
        let m = module::get()?;
        let ph = out(p_session)?;
        *ph = m.open_session(slot, flags)?;
        Ok(())
    }
}

ffi_entry! {
    fn C_CloseSession(h: CK_SESSION_HANDLE) {
        module::get()?.close_session(h)
    }
}

ffi_entry! {
    fn C_CloseAllSessions(slot: CK_SLOT_ID) {
        module::get()?.close_all_sessions(slot)
    }
}

ffi_entry! {
    fn C_GetSessionInfo(h: CK_SESSION_HANDLE, p_info: *mut CK_SESSION_INFO) {
        let m = module::get()?;
        let info = out(p_info)?;
        let si = m.session_info(h)?;
        info.slotID = si.slot_id;
        info.state = si.state;
        info.flags = si.flags;
        info.ulDeviceError = 0;
        Ok(())
    }
}

ffi_entry! {
    fn C_Login(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG) {
        let m = module::get()?;
        if p_pin.is_null() {
            // No protected authentication path: a PIN is always needed.
            m.session(h)?;
            return Err(Error::ArgumentsBad);
        }
        m.login(h, user, input(p_pin, pin_len)?)
    }
}

ffi_entry! {
    fn C_LoginUser(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, p_name: *mut CK_UTF8CHAR, name_len: CK_ULONG) {
        let m = module::get()?;
        if p_pin.is_null() {
            m.session(h)?;
            return Err(Error::ArgumentsBad);
        }
        // Tokens have no user names: the name is checked for validity and otherwise ignored.
        input(p_name, name_len)?;
        m.login(h, user, input(p_pin, pin_len)?)
    }
}

ffi_entry! {
    fn C_Logout(h: CK_SESSION_HANDLE) {
        module::get()?.logout(h)
    }
}

ffi_entry! {
    fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        module::get()?.session_cancel(h, flags)
    }
}

// ---- objects -----------------------------------------------------------------------------------

ffi_entry! {
    fn C_CreateObject(h: CK_SESSION_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG, p_object: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let ph = out(p_object)?;
        let t = template(p_template, count)?;
        *ph = m.create_object(h, &t)?;
        Ok(())
    }
}

ffi_entry! {
    fn C_CopyObject(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG, p_object: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let ph = out(p_object)?;
        let t = template(p_template, count)?;
        *ph = m.copy_object(h, o, &t)?;
        Ok(())
    }
}

ffi_entry! {
    fn C_DestroyObject(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) {
        module::get()?.destroy_object(h, o)
    }
}

ffi_entry! {
    fn C_GetObjectSize(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p_size: *mut CK_ULONG) {
        let m = module::get()?;
        let size = out(p_size)?;
        *size = m.object(h, o)?.obj.size() as CK_ULONG;
        Ok(())
    }
}

ffi_entry! {
    fn C_GetAttributeValue(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG) {
        let m = module::get()?;
        if count > 0 && p_template.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let entry = m.object(h, o)?;
        let attrs = output(p_template, count)?;
        // Every attribute is processed; the error reported is the most serious one met.
        let mut worst: Option<Error> = None;
        let mut note = |e: Error| {
            let rank = |e: &Error| match e {
                Error::AttributeSensitive => 3,
                Error::AttributeTypeInvalid => 2,
                _ => 1,
            };
            if worst.as_ref().is_none_or(|w| rank(&e) > rank(w)) {
                worst = Some(e);
            }
        };
        for a in attrs.iter_mut() {
            match entry.obj.read(a.type_) {
                Read::Invalid => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    note(Error::AttributeTypeInvalid);
                }
                Read::Sensitive => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    note(Error::AttributeSensitive);
                }
                Read::Value(v) if crate::object::attrlist::is_attr_list(a.type_) => {
                    if let Err(e) = get_template(a, v)? {
                        note(e);
                    }
                }
                Read::Value(v) => {
                    if a.pValue.is_null() {
                        a.ulValueLen = v.len() as CK_ULONG;
                    } else if (a.ulValueLen as usize) < v.len() {
                        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        note(Error::BufferTooSmall);
                    } else {
                        output(a.pValue as *mut u8, v.len() as CK_ULONG)?.copy_from_slice(v);
                        a.ulValueLen = v.len() as CK_ULONG;
                    }
                }
            }
        }
        worst.map_or(Ok(()), Err)
    }
}

/// C_GetAttributeValue of a template attribute (`CKA_WRAP_TEMPLATE`, ...): the value is an
/// array of CK_ATTRIBUTE, `ulValueLen` its size in bytes. A NULL `pValue` learns that size; an
/// array whose elements all have a NULL `pValue` learns each attribute's type and length, in
/// order; otherwise each element's value is filled for the type it names (PKCS#11 3.0, 5.7; as
/// SoftHSM does). The outer `Err` is a C error (bad pointers); the inner one a per-attribute
/// result for the caller to rank.
///
/// # Safety
/// `a.pValue` must be NULL or valid for `a.ulValueLen` bytes, holding CK_ATTRIBUTEs whose
/// non-NULL `pValue` are valid for their `ulValueLen` bytes.
unsafe fn get_template(
    a: &mut CK_ATTRIBUTE,
    stored: &[u8],
) -> crate::error::Result<Result<(), Error>> {
    let list = crate::object::attrlist::decode(stored)?;
    let size = std::mem::size_of::<CK_ATTRIBUTE>();
    let total = (list.len() * size) as CK_ULONG;
    if a.pValue.is_null() {
        a.ulValueLen = total;
        return Ok(Ok(()));
    }
    if a.ulValueLen < total {
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return Ok(Err(Error::BufferTooSmall));
    }
    // SAFETY: pValue holds at least `list.len()` attributes, per the contract above.
    let elems = unsafe { output(a.pValue as *mut CK_ATTRIBUTE, list.len() as CK_ULONG)? };
    a.ulValueLen = total;
    if elems.iter().all(|e| e.pValue.is_null()) {
        for (e, (ty, v)) in elems.iter_mut().zip(&list) {
            e.type_ = *ty;
            e.ulValueLen = v.len() as CK_ULONG;
        }
        return Ok(Ok(()));
    }
    let mut r = Ok(());
    for e in elems.iter_mut() {
        match list.iter().find(|(ty, _)| *ty == e.type_) {
            None => {
                e.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                r = Err(Error::AttributeTypeInvalid);
            }
            Some((_, v)) if e.pValue.is_null() => e.ulValueLen = v.len() as CK_ULONG,
            Some((_, v)) if (e.ulValueLen as usize) < v.len() => {
                e.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                r = Err(Error::BufferTooSmall);
            }
            Some((_, v)) => {
                // SAFETY: pValue is valid for ulValueLen >= v.len() bytes, per the contract.
                unsafe { output(e.pValue as *mut u8, v.len() as CK_ULONG)? }.copy_from_slice(v);
                e.ulValueLen = v.len() as CK_ULONG;
            }
        }
    }
    Ok(r)
}

ffi_entry! {
    fn C_SetAttributeValue(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG) {
        let m = module::get()?;
        let t = template(p_template, count)?;
        m.set_attributes(h, o, &t)
    }
}

ffi_entry! {
    fn C_FindObjectsInit(h: CK_SESSION_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG) {
        let m = module::get()?;
        let t = template(p_template, count)?;
        m.find_init(h, &t)
    }
}

ffi_entry! {
    fn C_FindObjects(h: CK_SESSION_HANDLE, p_objects: *mut CK_OBJECT_HANDLE, max: CK_ULONG, p_count: *mut CK_ULONG) {
        let m = module::get()?;
        let count = out(p_count)?;
        if p_objects.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let found = m.find_next(h, max.min(super::MAX_LEN) as usize)?;
        output(p_objects, found.len() as CK_ULONG)?.copy_from_slice(&found);
        *count = found.len() as CK_ULONG;
        Ok(())
    }
}

ffi_entry! {
    fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) {
        module::get()?.find_final(h)
    }
}

// ---- random ------------------------------------------------------------------------------------

ffi_entry! {
    fn C_SeedRandom(h: CK_SESSION_HANDLE, p_seed: *mut CK_BYTE, len: CK_ULONG) {
        let m = module::get()?;
        m.session(h)?;
        // The OS generator needs no seed; what the application gives is accepted and not used.
        input(p_seed, len)?;
        Ok(())
    }
}

ffi_entry! {
    fn C_GenerateRandom(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, len: CK_ULONG) {
        let m = module::get()?;
        m.session(h)?;
        crate::vault::random(output(p_out, len)?)
    }
}

// ---- legacy and not yet supported --------------------------------------------------------------

ffi_entry! {
    fn C_GetFunctionStatus(h: CK_SESSION_HANDLE) {
        module::get()?.session(h)?;
        Err(Error::FunctionNotParallel)
    }
}

ffi_entry! {
    fn C_CancelFunction(h: CK_SESSION_HANDLE) {
        module::get()?.session(h)?;
        Err(Error::FunctionNotParallel)
    }
}

/// Functions that are not implemented yet: they check the module state and the session, then
/// return `CKR_FUNCTION_NOT_SUPPORTED`.
macro_rules! not_supported {
    ($($name:ident(h: CK_SESSION_HANDLE $(, $arg:ident : $ty:ty)*);)*) => {$(
        ffi_entry! {
            fn $name(h: CK_SESSION_HANDLE $(, $arg: $ty)*) {
                module::get()?.session(h)?;
                $(let _ = $arg;)*
                Err(Error::FunctionNotSupported)
            }
        }
    )*};
}

/// The same for functions that take a mechanism: a NULL one is `CKR_ARGUMENTS_BAD` first, as in
/// the functions that are implemented.
macro_rules! not_supported_with_mechanism {
    ($($name:ident;)*) => {$(
        ffi_entry! {
            fn $name(h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
                module::get()?.session(h)?;
                if mech.is_null() {
                    return Err(Error::ArgumentsBad);
                }
                let _ = key;
                Err(Error::FunctionNotSupported)
            }
        }
    )*};
}

not_supported_with_mechanism! {
    C_MessageSignInit;
    C_MessageVerifyInit;
}

// PKCS #11 3.2 functions the module does not offer (the README says why).
not_supported! {
    C_GetSessionValidationFlags(h: CK_SESSION_HANDLE, a: CK_SESSION_VALIDATION_FLAGS_TYPE, b: *mut CK_FLAGS);
    C_AsyncComplete(h: CK_SESSION_HANDLE, a: *mut CK_UTF8CHAR, b: *mut CK_ASYNC_DATA);
    C_AsyncGetID(h: CK_SESSION_HANDLE, a: *mut CK_UTF8CHAR, b: *mut CK_ULONG);
    C_AsyncJoin(h: CK_SESSION_HANDLE, a: *mut CK_UTF8CHAR, b: CK_ULONG, c: *mut CK_BYTE, d: CK_ULONG);
}

ffi_entry! {
    fn C_WrapKeyAuthenticated(h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, a: CK_OBJECT_HANDLE, b: CK_OBJECT_HANDLE, c: *mut CK_BYTE, d: CK_ULONG, e: *mut CK_BYTE, f: *mut CK_ULONG) {
        module::get()?.session(h)?;
        if mech.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let _ = (a, b, c, d, e, f);
        Err(Error::FunctionNotSupported)
    }
}

ffi_entry! {
    fn C_UnwrapKeyAuthenticated(h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, a: CK_OBJECT_HANDLE, b: *mut CK_BYTE, c: CK_ULONG, d: *mut CK_ATTRIBUTE, e: CK_ULONG, f: *mut CK_BYTE, g: CK_ULONG, k: *mut CK_OBJECT_HANDLE) {
        module::get()?.session(h)?;
        if mech.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let _ = (a, b, c, d, e, f, g, k);
        Err(Error::FunctionNotSupported)
    }
}

not_supported! {
    C_GetOperationState(h: CK_SESSION_HANDLE, a: *mut CK_BYTE, b: *mut CK_ULONG);
    C_SetOperationState(h: CK_SESSION_HANDLE, a: *mut CK_BYTE, b: CK_ULONG, c: CK_OBJECT_HANDLE, d: CK_OBJECT_HANDLE);
    C_DigestEncryptUpdate(h: CK_SESSION_HANDLE, a: *mut CK_BYTE, b: CK_ULONG, c: *mut CK_BYTE, d: *mut CK_ULONG);
    C_DecryptDigestUpdate(h: CK_SESSION_HANDLE, a: *mut CK_BYTE, b: CK_ULONG, c: *mut CK_BYTE, d: *mut CK_ULONG);
    C_SignEncryptUpdate(h: CK_SESSION_HANDLE, a: *mut CK_BYTE, b: CK_ULONG, c: *mut CK_BYTE, d: *mut CK_ULONG);
    C_DecryptVerifyUpdate(h: CK_SESSION_HANDLE, a: *mut CK_BYTE, b: CK_ULONG, c: *mut CK_BYTE, d: *mut CK_ULONG);
    C_SignMessage(h: CK_SESSION_HANDLE, a: *mut c_void, b: CK_ULONG, c: *mut CK_BYTE, d: CK_ULONG, e: *mut CK_BYTE, f: *mut CK_ULONG);
    C_SignMessageBegin(h: CK_SESSION_HANDLE, a: *mut c_void, b: CK_ULONG);
    C_SignMessageNext(h: CK_SESSION_HANDLE, a: *mut c_void, b: CK_ULONG, c: *mut CK_BYTE, d: CK_ULONG, e: *mut CK_BYTE, f: *mut CK_ULONG);
    C_MessageSignFinal(h: CK_SESSION_HANDLE);
    C_VerifyMessage(h: CK_SESSION_HANDLE, a: *mut c_void, b: CK_ULONG, c: *mut CK_BYTE, d: CK_ULONG, e: *mut CK_BYTE, f: CK_ULONG);
    C_VerifyMessageBegin(h: CK_SESSION_HANDLE, a: *mut c_void, b: CK_ULONG);
    C_VerifyMessageNext(h: CK_SESSION_HANDLE, a: *mut c_void, b: CK_ULONG, c: *mut CK_BYTE, d: CK_ULONG, e: *mut CK_BYTE, f: CK_ULONG);
    C_MessageVerifyFinal(h: CK_SESSION_HANDLE);
}
