//! The function tables: the 2.40 `CK_FUNCTION_LIST` and the 3.0 and 3.2 interfaces.

use super::entry::*;
use cryptoki_sys::*;
use std::ffi::c_void;

pub const INTERFACE_NAME: &[u8] = b"PKCS 11";
static INTERFACE_NAME_Z: [u8; 8] = *b"PKCS 11\0";

/// A function table: the version, its own C_GetInfo (which reports that version), the 2.40
/// functions, then `$extra` fields (the later versions' functions).
macro_rules! list {
    ($ty:ident, $major:expr, $minor:expr, $get_info:ident, { $($extra:tt)* }) => {
        $ty {
            version: CK_VERSION {
                major: $major,
                minor: $minor,
            },
            C_GetInfo: Some($get_info),
            C_Initialize: Some(C_Initialize),
            C_Finalize: Some(C_Finalize),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(C_GetSlotList),
            C_GetSlotInfo: Some(C_GetSlotInfo),
            C_GetTokenInfo: Some(C_GetTokenInfo),
            C_GetMechanismList: Some(C_GetMechanismList),
            C_GetMechanismInfo: Some(C_GetMechanismInfo),
            C_InitToken: Some(C_InitToken),
            C_InitPIN: Some(C_InitPIN),
            C_SetPIN: Some(C_SetPIN),
            C_OpenSession: Some(C_OpenSession),
            C_CloseSession: Some(C_CloseSession),
            C_CloseAllSessions: Some(C_CloseAllSessions),
            C_GetSessionInfo: Some(C_GetSessionInfo),
            C_GetOperationState: Some(C_GetOperationState),
            C_SetOperationState: Some(C_SetOperationState),
            C_Login: Some(C_Login),
            C_Logout: Some(C_Logout),
            C_CreateObject: Some(C_CreateObject),
            C_CopyObject: Some(C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(C_SetAttributeValue),
            C_FindObjectsInit: Some(C_FindObjectsInit),
            C_FindObjects: Some(C_FindObjects),
            C_FindObjectsFinal: Some(C_FindObjectsFinal),
            C_EncryptInit: Some(C_EncryptInit),
            C_Encrypt: Some(C_Encrypt),
            C_EncryptUpdate: Some(C_EncryptUpdate),
            C_EncryptFinal: Some(C_EncryptFinal),
            C_DecryptInit: Some(C_DecryptInit),
            C_Decrypt: Some(C_Decrypt),
            C_DecryptUpdate: Some(C_DecryptUpdate),
            C_DecryptFinal: Some(C_DecryptFinal),
            C_DigestInit: Some(C_DigestInit),
            C_Digest: Some(C_Digest),
            C_DigestUpdate: Some(C_DigestUpdate),
            C_DigestKey: Some(C_DigestKey),
            C_DigestFinal: Some(C_DigestFinal),
            C_SignInit: Some(C_SignInit),
            C_Sign: Some(C_Sign),
            C_SignUpdate: Some(C_SignUpdate),
            C_SignFinal: Some(C_SignFinal),
            C_SignRecoverInit: Some(C_SignRecoverInit),
            C_SignRecover: Some(C_SignRecover),
            C_VerifyInit: Some(C_VerifyInit),
            C_Verify: Some(C_Verify),
            C_VerifyUpdate: Some(C_VerifyUpdate),
            C_VerifyFinal: Some(C_VerifyFinal),
            C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
            C_VerifyRecover: Some(C_VerifyRecover),
            C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
            C_GenerateKey: Some(C_GenerateKey),
            C_GenerateKeyPair: Some(C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(C_UnwrapKey),
            C_DeriveKey: Some(C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
            $($extra)*
        }
    };
}

static FUNCTIONS_240: CK_FUNCTION_LIST = list!(CK_FUNCTION_LIST, 2, 40, ferrohsm_GetInfo_v240, {});

/// A 3.x table: the 2.40 and 3.0 functions, then `$extra` fields.
macro_rules! list_3x {
    ($ty:ident, $minor:expr, $get_info:ident, { $($extra:tt)* }) => {
        list!($ty, 3, $minor, $get_info, {
            C_GetInterfaceList: Some(C_GetInterfaceList),
            C_GetInterface: Some(C_GetInterface),
            C_LoginUser: Some(C_LoginUser),
            C_SessionCancel: Some(C_SessionCancel),
            C_MessageEncryptInit: Some(C_MessageEncryptInit),
            C_EncryptMessage: Some(C_EncryptMessage),
            C_EncryptMessageBegin: Some(C_EncryptMessageBegin),
            C_EncryptMessageNext: Some(C_EncryptMessageNext),
            C_MessageEncryptFinal: Some(C_MessageEncryptFinal),
            C_MessageDecryptInit: Some(C_MessageDecryptInit),
            C_DecryptMessage: Some(C_DecryptMessage),
            C_DecryptMessageBegin: Some(C_DecryptMessageBegin),
            C_DecryptMessageNext: Some(C_DecryptMessageNext),
            C_MessageDecryptFinal: Some(C_MessageDecryptFinal),
            C_MessageSignInit: Some(C_MessageSignInit),
            C_SignMessage: Some(C_SignMessage),
            C_SignMessageBegin: Some(C_SignMessageBegin),
            C_SignMessageNext: Some(C_SignMessageNext),
            C_MessageSignFinal: Some(C_MessageSignFinal),
            C_MessageVerifyInit: Some(C_MessageVerifyInit),
            C_VerifyMessage: Some(C_VerifyMessage),
            C_VerifyMessageBegin: Some(C_VerifyMessageBegin),
            C_VerifyMessageNext: Some(C_VerifyMessageNext),
            C_MessageVerifyFinal: Some(C_MessageVerifyFinal),
            $($extra)*
        })
    };
}

static FUNCTIONS_300: CK_FUNCTION_LIST_3_0 = list_3x!(CK_FUNCTION_LIST_3_0, 0, C_GetInfo, {});

/// The 3.2 table: the 3.0 functions, then key encapsulation, verification with the signature
/// first, and the functions the module does not offer (`CKR_FUNCTION_NOT_SUPPORTED`).
static FUNCTIONS_320: CK_FUNCTION_LIST_3_2 = list_3x!(CK_FUNCTION_LIST_3_2, 2, ferrohsm_GetInfo_v320, {
    C_EncapsulateKey: Some(C_EncapsulateKey),
    C_DecapsulateKey: Some(C_DecapsulateKey),
    C_VerifySignatureInit: Some(C_VerifySignatureInit),
    C_VerifySignature: Some(C_VerifySignature),
    C_VerifySignatureUpdate: Some(C_VerifySignatureUpdate),
    C_VerifySignatureFinal: Some(C_VerifySignatureFinal),
    C_GetSessionValidationFlags: Some(C_GetSessionValidationFlags),
    C_AsyncComplete: Some(C_AsyncComplete),
    C_AsyncGetID: Some(C_AsyncGetID),
    C_AsyncJoin: Some(C_AsyncJoin),
    C_WrapKeyAuthenticated: Some(C_WrapKeyAuthenticated),
    C_UnwrapKeyAuthenticated: Some(C_UnwrapKeyAuthenticated),
});

/// A `CK_INTERFACE` in static memory. Its pointers point to immutable statics, so sharing it
/// between threads is sound.
pub struct Interface(CK_INTERFACE);
// SAFETY: the pointers inside are to immutable statics and are never written through.
unsafe impl Sync for Interface {}

impl Interface {
    pub fn get(&self) -> CK_INTERFACE {
        CK_INTERFACE { ..self.0 }
    }
    /// A writable copy for the caller. Some callers write into the interface they are given
    /// (OpenSC's pkcs11-spy before 0.26 does), which would fault on read-only static memory. One
    /// copy per interface, made on first use and kept for the life of the process, is refreshed
    /// from the static on every call and handed out: no allocation per call (valgrind in
    /// `scripts/test` checks there is no leak), and whatever a caller wrote is undone for the next.
    pub fn to_caller(&self) -> *mut CK_INTERFACE {
        static COPIES: parking_lot::Mutex<Vec<(usize, usize)>> =
            parking_lot::Mutex::new(Vec::new());
        let key = self as *const Interface as usize;
        let mut copies = COPIES.lock();
        let ptr = match copies.iter().find(|(k, _)| *k == key) {
            Some(&(_, p)) => p as *mut CK_INTERFACE,
            None => {
                let p = Box::into_raw(Box::new(self.get()));
                copies.push((key, p as usize));
                p
            }
        };
        // SAFETY: `ptr` came from Box::into_raw above and is never freed; the lock is held.
        unsafe { ptr.write(self.get()) };
        ptr
    }
    pub fn version(&self) -> CK_VERSION {
        // SAFETY: every function list starts with its CK_VERSION.
        unsafe { *(self.0.pFunctionList as *const CK_VERSION) }
    }
}

static INTERFACES: [Interface; 3] = [
    Interface(CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME_Z.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTIONS_320 as *const CK_FUNCTION_LIST_3_2 as *mut c_void,
        flags: 0,
    }),
    Interface(CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME_Z.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTIONS_300 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    }),
    Interface(CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME_Z.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTIONS_240 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    }),
];

/// The interfaces offered, newest first.
pub fn interfaces() -> &'static [Interface] {
    &INTERFACES
}

pub fn function_list_240() -> *mut CK_FUNCTION_LIST {
    &FUNCTIONS_240 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST
}
