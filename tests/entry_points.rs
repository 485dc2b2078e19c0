//! C_Initialize / C_Finalize / C_GetInfo / C_GetInterface / C_WaitForSlotEvent.
mod common;

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function};
use cryptoki_sys::*;

#[test]
fn get_info_manufacturer_and_version() {
    let f = Fixture::new();
    let info = f.get_library_info().expect("C_GetInfo");
    assert_eq!(info.manufacturer_id(), "ferrohsm");
    // cryptoki 0.12 asks C_GetInterface(NULL) for the default interface first and only uses
    // it when its function list version is >= 3.0; otherwise it uses C_GetFunctionList.
    let v = info.cryptoki_version();
    if f.is_fn_supported(Function::GetInterface) {
        assert_eq!(
            (v.major(), v.minor()),
            (3, 2),
            "cryptokiVersion through the default (PKCS#11 3.2) interface"
        );
    } else {
        assert_eq!(
            (v.major(), v.minor()),
            (2, 40),
            "cryptokiVersion through C_GetFunctionList"
        );
    }
}

#[test]
fn get_info_fields_are_blank_padded() {
    let _f = Fixture::new();
    let raw = Raw::new();
    let (rv, info) = raw.get_info();
    assert_ck(rv, CKR_OK, "C_GetInfo");
    assert_eq!(
        info.manufacturerID,
        padded::<32>("ferrohsm"),
        "manufacturerID blank padded"
    );
    assert_eq!(info.flags, 0, "CK_INFO.flags must be 0");
    assert!(
        !info.libraryDescription.contains(&0),
        "libraryDescription must be blank padded, not NUL terminated"
    );
}

#[test]
fn get_interface_default_is_pkcs11_3_2() {
    let _f = Fixture::new();
    let raw = Raw::new();
    let Some((name, fl)) = raw.default_interface() else {
        panic!("module does not export C_GetInterface (PKCS#11 3.0)");
    };
    assert_eq!(name, "PKCS 11", "default interface name");
    let ver = unsafe { (*fl).version };
    assert_eq!(
        (ver.major, ver.minor),
        (3, 2),
        "default interface function list version"
    );
    let (rv, info) = raw.get_info_via(fl);
    assert_ck(rv, CKR_OK, "C_GetInfo via the 3.2 interface");
    assert_eq!(
        (info.cryptokiVersion.major, info.cryptokiVersion.minor),
        (3, 2),
        "C_GetInfo cryptokiVersion via C_GetInterface"
    );
    assert_eq!(info.manufacturerID, padded::<32>("ferrohsm"));
}

/// Each interface asked for by version is that version's table, and its C_GetInfo reports the
/// version of the table the caller holds; a version not offered is refused.
#[test]
fn get_interface_by_version() {
    let _f = Fixture::new();
    let raw = Raw::new();
    for (major, minor) in [(3u8, 2u8), (3, 0), (2, 40)] {
        let (rv, fl) = raw.interface_version(major, minor);
        assert_ck(rv, CKR_OK, "C_GetInterface with a version");
        let ver = unsafe { (*fl).version };
        assert_eq!((ver.major, ver.minor), (major, minor));
        let (rv, info) = raw.get_info_via(fl);
        assert_ck(rv, CKR_OK, "C_GetInfo");
        assert_eq!(
            (info.cryptokiVersion.major, info.cryptokiVersion.minor),
            (major, minor)
        );
    }
    let (rv, _) = raw.interface_version(3, 1);
    assert_ck(rv, CKR_ARGUMENTS_BAD, "C_GetInterface for 3.1");
    // The 3.2 table's functions the module does not offer say so.
    let (_, fl) = raw.interface_version(3, 2);
    let fl = fl as *mut CK_FUNCTION_LIST_3_2;
    let mut flags: CK_FLAGS = 0;
    let rv = unsafe { ((*fl).C_GetSessionValidationFlags.unwrap())(0, 0, &mut flags) };
    assert_ck(
        rv,
        CKR_SESSION_HANDLE_INVALID,
        "C_GetSessionValidationFlags, no session",
    );
}

#[test]
fn initialize_twice_fails() {
    let f = Fixture::new();
    assert_rv!(f.initialize(init_args()), CryptokiAlreadyInitialized);
    // A second Pkcs11 instance of the same module is the same library state.
    let other = cryptoki::context::Pkcs11::new(module_path()).expect("load");
    assert_rv!(other.initialize(init_args()), CryptokiAlreadyInitialized);
    // still usable
    f.get_all_slots()
        .expect("C_GetSlotList after failed C_Initialize");
}

#[test]
fn initialize_with_reserved_pointer_is_arguments_bad() {
    let f = Fixture::new();
    f.p11().finalize().expect("C_Finalize");
    let mut dummy = 0u64;
    let args = unsafe {
        CInitializeArgs::new_with_reserved(
            CInitializeFlags::OS_LOCKING_OK,
            std::ptr::NonNull::new(&mut dummy as *mut u64 as *mut std::ffi::c_void).unwrap(),
        )
    };
    assert_rv!(f.initialize(args), ArgumentsBad);
    // the failed call must not have initialized the library
    assert_rv!(f.get_all_slots(), CryptokiNotInitialized);
    f.initialize(init_args())
        .expect("C_Initialize after the failed one");
    f.get_all_slots().expect("C_GetSlotList");
}

#[test]
fn functions_after_finalize() {
    let f = Fixture::new();
    let slot0 = slot(0);
    f.p11().finalize().expect("C_Finalize");
    assert_rv!(f.get_all_slots(), CryptokiNotInitialized);
    assert_rv!(f.get_slots_with_token(), CryptokiNotInitialized);
    assert_rv!(f.get_library_info(), CryptokiNotInitialized);
    assert_rv!(f.get_slot_info(slot0), CryptokiNotInitialized);
    assert_rv!(f.get_token_info(slot0), CryptokiNotInitialized);
    assert_rv!(f.get_mechanism_list(slot0), CryptokiNotInitialized);
    assert_rv!(f.open_ro_session(slot0), CryptokiNotInitialized);
    assert_rv!(
        f.init_token(slot0, &pin(SO_PIN), "x"),
        CryptokiNotInitialized
    );
    assert_rv!(f.p11().finalize(), CryptokiNotInitialized);
    // Re-initialize works and the module is usable again.
    f.initialize(init_args())
        .expect("C_Initialize after C_Finalize");
    assert_eq!(f.get_all_slots().expect("C_GetSlotList").len(), 1);
}

#[test]
fn finalize_closes_sessions() {
    let f = Fixture::new();
    let slot = f.user_token("fin");
    let s = f.user_session(slot);
    let h = s.handle();
    f.p11().finalize().expect("C_Finalize");
    assert_rv!(s.get_session_info(), CryptokiNotInitialized);
    f.initialize(init_args()).expect("C_Initialize");
    // the handle of the session that existed before C_Finalize is gone
    assert_rv!(s.get_session_info(), SessionHandleInvalid);
    let raw = Raw::new();
    assert_ck(
        raw.close_session(h),
        CKR_SESSION_HANDLE_INVALID,
        "C_CloseSession(old handle)",
    );
    // and nobody is logged in any more
    let s2 = f.rw(slot);
    assert_eq!(
        s2.get_session_info().unwrap().session_state(),
        cryptoki::session::SessionState::RwPublic
    );
    assert_eq!(
        session_counts(&f, slot).0,
        1,
        "only the new session is open"
    );
}

#[test]
fn get_slot_event_dont_block_reports_no_event() {
    let f = Fixture::new();
    // cryptoki maps CKR_NO_EVENT to Ok(None)
    match f.get_slot_event() {
        Ok(None) => {}
        other => panic!("C_WaitForSlotEvent(CKF_DONT_BLOCK) expected CKR_NO_EVENT, got {other:?}"),
    }
    let raw = Raw::new();
    let (rv, _) = raw.wait_for_slot_event(CKF_DONT_BLOCK);
    assert_ck(rv, CKR_NO_EVENT, "C_WaitForSlotEvent(CKF_DONT_BLOCK)");
}

#[test]
fn get_function_list_is_complete_for_core_functions() {
    let f = Fixture::new();
    for func in [
        Function::Initialize,
        Function::Finalize,
        Function::GetInfo,
        Function::GetFunctionList,
        Function::GetSlotList,
        Function::GetSlotInfo,
        Function::GetTokenInfo,
        Function::GetMechanismList,
        Function::GetMechanismInfo,
        Function::InitToken,
        Function::InitPIN,
        Function::SetPIN,
        Function::OpenSession,
        Function::CloseSession,
        Function::CloseAllSessions,
        Function::GetSessionInfo,
        Function::Login,
        Function::Logout,
        Function::CreateObject,
        Function::CopyObject,
        Function::DestroyObject,
        Function::GetObjectSize,
        Function::GetAttributeValue,
        Function::SetAttributeValue,
        Function::FindObjectsInit,
        Function::FindObjects,
        Function::FindObjectsFinal,
        Function::SeedRandom,
        Function::GenerateRandom,
        Function::WaitForSlotEvent,
    ] {
        assert!(
            f.is_fn_supported(func),
            "{func} is NULL in the function list"
        );
    }
}
