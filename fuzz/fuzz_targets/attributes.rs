//! Attribute templates through the C boundary: `C_CreateObject`, `C_GetAttributeValue`,
//! `C_SetAttributeValue`, `C_FindObjectsInit` with fuzzed `CK_ATTRIBUTE` arrays (types the module
//! knows or any, values of the right shape or not, lengths shorter than the buffer, NULL
//! `pValue` with any length, nested templates, mechanism lists).
//!
//! Each input is a program of up to 16 such calls in a fresh session, on the objects it creates
//! and on fixed ones (a secret key, a sensitive secret key, a data object, all unmodifiable).
//! Checks, besides no panic and defined return values ([`fuzz_common::rv`]): the module never
//! claims to have written more than a buffer's length; a sensitive or unextractable key's secret
//! is never returned; `C_FindObjects` returns only handles that `C_GetAttributeValue` accepts.
#![no_main]

use cryptoki_sys::*;
use ferrohsm::ffi::entry::*;
use fuzz_common::{attr, attr_bytes, rv, token, Reader, Template};
use libfuzzer_sys::fuzz_target;
use std::ptr;
use std::sync::OnceLock;

/// Token objects made once: an AES key, a sensitive AES key, a data object.
fn fixed() -> &'static [CK_OBJECT_HANDLE] {
    static F: OnceLock<Vec<CK_OBJECT_HANDLE>> = OnceLock::new();
    F.get_or_init(|| unsafe {
        let s = token().session;
        let (tr, fa) = (CK_TRUE, CK_FALSE);
        let secret = CKO_SECRET_KEY;
        let aes = CKK_AES;
        let data = CKO_DATA;
        let value = [0x42u8; 32];
        let mut out = Vec::new();
        for sensitive in [fa, tr] {
            let mut t = [
                attr(CKA_CLASS, &secret),
                attr(CKA_KEY_TYPE, &aes),
                attr(CKA_TOKEN, &tr),
                attr(CKA_MODIFIABLE, &fa),
                attr(CKA_SENSITIVE, &sensitive),
                attr(CKA_EXTRACTABLE, &tr),
                attr_bytes(CKA_LABEL, b"fixed key"),
                attr_bytes(CKA_VALUE, &value),
            ];
            let mut h = 0;
            assert_eq!(
                C_CreateObject(s, t.as_mut_ptr(), t.len() as _, &mut h),
                CKR_OK
            );
            out.push(h);
        }
        let mut t = [
            attr(CKA_CLASS, &data),
            attr(CKA_TOKEN, &tr),
            attr(CKA_PRIVATE, &fa),
            attr(CKA_MODIFIABLE, &fa),
            attr_bytes(CKA_APPLICATION, b"fuzz"),
            attr_bytes(CKA_VALUE, b"data"),
        ];
        let mut h = 0;
        assert_eq!(
            C_CreateObject(s, t.as_mut_ptr(), t.len() as _, &mut h),
            CKR_OK
        );
        out.push(h);
        out
    })
}

/// Leaves out `CKA_DESTROYABLE`, so every object an input makes can be destroyed after it and
/// the token is the same for every input.
fn keep_destroyable(t: &mut Template) {
    t.attrs.retain(|a| a.type_ != CKA_DESTROYABLE);
}

fn get_ulong(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Option<u64> {
    let mut v: CK_ULONG = 0;
    let mut a = [attr(ty, &v)];
    a[0].pValue = &mut v as *mut _ as *mut _;
    let r = rv("C_GetAttributeValue", unsafe {
        C_GetAttributeValue(s, h, a.as_mut_ptr(), 1)
    });
    (r == CKR_OK && a[0].ulValueLen == 8).then_some(v)
}

fn get_bool(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    let mut v: CK_BBOOL = 0;
    let mut a = [attr(ty, &v)];
    a[0].pValue = &mut v as *mut _ as *mut _;
    let r = rv("C_GetAttributeValue", unsafe {
        C_GetAttributeValue(s, h, a.as_mut_ptr(), 1)
    });
    (r == CKR_OK && a[0].ulValueLen == 1).then_some(v != 0)
}

/// A key that is sensitive or unextractable never gives its secret attributes.
fn check_secret_stays(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE) {
    let Some(class) = get_ulong(s, h, CKA_CLASS) else {
        return;
    };
    if class != CKO_SECRET_KEY && class != CKO_PRIVATE_KEY {
        return;
    }
    let sensitive = get_bool(s, h, CKA_SENSITIVE).unwrap_or(true);
    let extractable = get_bool(s, h, CKA_EXTRACTABLE).unwrap_or(false);
    if !sensitive && extractable {
        return;
    }
    for ty in [
        CKA_VALUE,
        CKA_PRIVATE_EXPONENT,
        CKA_PRIME_1,
        CKA_PRIME_2,
        CKA_EXPONENT_1,
        CKA_EXPONENT_2,
        CKA_COEFFICIENT,
        CKA_SEED,
    ] {
        let mut buf = [0u8; 4096];
        let mut a = [CK_ATTRIBUTE {
            type_: ty,
            pValue: buf.as_mut_ptr() as *mut _,
            ulValueLen: buf.len() as CK_ULONG,
        }];
        let r = rv("C_GetAttributeValue", unsafe {
            C_GetAttributeValue(s, h, a.as_mut_ptr(), 1)
        });
        assert!(
            r != CKR_OK && a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION,
            "secret attribute {ty:#x} of a sensitive or unextractable key read: rv {r:#x}"
        );
        assert!(buf.iter().all(|&b| b == 0), "secret written out");
    }
}

fuzz_target!(|data: &[u8]| {
    let t = token();
    let fixed = fixed();
    let mut r = Reader::new(data);
    let mut s = 0;
    unsafe {
        assert_eq!(
            C_OpenSession(
                t.slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                ptr::null_mut(),
                None,
                &mut s
            ),
            CKR_OK
        );
    }
    let mut made: Vec<CK_OBJECT_HANDLE> = Vec::new();
    for _ in 0..16 {
        if r.is_empty() {
            break;
        }
        let op = r.u8();
        let pick = |r: &mut Reader<'_>, made: &[CK_OBJECT_HANDLE]| -> CK_OBJECT_HANDLE {
            let all: Vec<CK_OBJECT_HANDLE> = fixed.iter().chain(made).copied().collect();
            match r.u8() {
                0xff => r.u64() as CK_OBJECT_HANDLE,
                i => all[i as usize % all.len()],
            }
        };
        unsafe {
            match op % 4 {
                0 => {
                    let mut tpl = Template::read(&mut r, 2);
                    keep_destroyable(&mut tpl);
                    let mut h = 0;
                    let c = rv(
                        "C_CreateObject",
                        C_CreateObject(s, tpl.ptr(), tpl.len(), &mut h),
                    );
                    if c == CKR_OK {
                        assert!(h != 0, "C_CreateObject gave handle 0");
                        made.push(h);
                        check_secret_stays(s, h);
                    }
                }
                1 => {
                    let h = pick(&mut r, &made);
                    let mut tpl = Template::for_output(&mut r);
                    let given: Vec<(bool, CK_ULONG)> = tpl
                        .attrs
                        .iter()
                        .map(|a| (a.pValue.is_null(), a.ulValueLen))
                        .collect();
                    let c = rv(
                        "C_GetAttributeValue",
                        C_GetAttributeValue(s, h, tpl.ptr(), tpl.len()),
                    );
                    for (a, (null, len)) in tpl.attrs.iter().zip(given) {
                        let got = a.ulValueLen;
                        if got == CK_UNAVAILABLE_INFORMATION {
                            assert!(c != CKR_OK, "unavailable attribute with CKR_OK");
                        } else if !null && c != CKR_BUFFER_TOO_SMALL {
                            assert!(got <= len, "claims {got} bytes written in {len}");
                        }
                    }
                }
                2 => {
                    let h = pick(&mut r, &made);
                    let mut tpl = Template::read(&mut r, 2);
                    keep_destroyable(&mut tpl);
                    let c = rv(
                        "C_SetAttributeValue",
                        C_SetAttributeValue(s, h, tpl.ptr(), tpl.len()),
                    );
                    if c == CKR_OK {
                        check_secret_stays(s, h);
                    }
                }
                _ => {
                    let mut tpl = Template::read(&mut r, 1);
                    let c = rv(
                        "C_FindObjectsInit",
                        C_FindObjectsInit(s, tpl.ptr(), tpl.len()),
                    );
                    if c == CKR_OK {
                        let mut buf = [0 as CK_OBJECT_HANDLE; 8];
                        let mut n = 0;
                        let f = rv(
                            "C_FindObjects",
                            C_FindObjects(s, buf.as_mut_ptr(), buf.len() as CK_ULONG, &mut n),
                        );
                        assert_eq!(f, CKR_OK);
                        assert!(n as usize <= buf.len());
                        for &h in &buf[..n as usize] {
                            assert!(
                                get_ulong(s, h, CKA_CLASS).is_some(),
                                "found a handle that has no class"
                            );
                        }
                        assert_eq!(rv("C_FindObjectsFinal", C_FindObjectsFinal(s)), CKR_OK);
                    }
                }
            }
        }
    }
    fuzz_common::destroy_all_but(s, fixed);
    unsafe {
        assert_eq!(C_CloseSession(s), CKR_OK);
    }
});
