//! The C boundary: with [`crate::sys`] (the operating system below), the only place with `unsafe`.
//!
//! Every exported function is a thin shell built by [`ffi_entry!`]: a panic guard (a panic becomes
//! `CKR_GENERAL_ERROR`, never an unwind into or an abort of the host), pointer and length checks
//! (`CKR_ARGUMENTS_BAD`), conversion into Rust types, one call into the safe core, the result mapped
//! back through [`rv::to_rv`].

pub mod crypto;
pub mod entry;
pub mod message;
pub mod rv;
pub mod tables;

use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Longest value accepted in one attribute or buffer (1 GiB): longer lengths are taken as garbage.
const MAX_LEN: CK_ULONG = 1 << 30;
/// Most attributes accepted in one template.
const MAX_TEMPLATE: CK_ULONG = 4096;

/// Runs `f`, mapping its error, and turns a panic into `CKR_GENERAL_ERROR`.
pub fn guard(f: impl FnOnce() -> Result<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => rv::to_rv(&e),
        Err(_) => {
            crate::log_error!("internal error (panic) caught at the C boundary");
            CKR_GENERAL_ERROR
        }
    }
}

/// Defines an exported PKCS#11 function whose body returns `Result<()>`.
macro_rules! ffi_entry {
    ($(#[$m:meta])* fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
            // SAFETY: the caller upholds the PKCS#11 contract for every pointer argument; the body
            // checks each for NULL and bounds each length before use.
            $crate::ffi::guard(move || -> $crate::error::Result<()> {
                #[allow(unused_unsafe)]
                unsafe { $body }
            })
        }
    };
}
pub(crate) use ffi_entry;

/// A writable output pointer, or `ArgumentsBad`.
///
/// # Safety
/// `p` must be NULL or valid for writes of a `T`.
pub unsafe fn out<'a, T>(p: *mut T) -> Result<&'a mut T> {
    // SAFETY: per the contract above.
    unsafe { p.as_mut() }.ok_or(Error::ArgumentsBad)
}

/// An input buffer: NULL is only accepted with a zero length.
///
/// # Safety
/// `p` must be NULL or valid for reads of `len` elements.
pub unsafe fn input<'a, T>(p: *const T, len: CK_ULONG) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() || len > MAX_LEN {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: non-NULL and valid for `len` reads per the contract above.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// An output buffer of `len` elements.
///
/// # Safety
/// `p` must be NULL or valid for writes of `len` elements.
pub unsafe fn output<'a, T>(p: *mut T, len: CK_ULONG) -> Result<&'a mut [T]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() || len > MAX_LEN {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: non-NULL and valid for `len` writes per the contract above.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len as usize) })
}

/// Copies a C template into Rust attributes.
///
/// # Safety
/// `p` must be NULL or point to `n` attributes whose `pValue` are NULL or valid for `ulValueLen` bytes.
pub unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<Attribute>> {
    if n > MAX_TEMPLATE {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: per the contract above.
    unsafe { input(p, n)? }
        .iter()
        .map(|a| {
            if crate::object::attrlist::is_attr_list(a.type_) {
                // SAFETY: the value of a template attribute is an array of CK_ATTRIBUTE whose
                // values are valid for their lengths, per the contract above.
                return Ok(Attribute::new(a.type_, unsafe { nested_template(a)? }));
            }
            // SAFETY: each pValue is NULL or valid for ulValueLen bytes, per the contract above.
            let v = unsafe { input(a.pValue as *const u8, a.ulValueLen) }?;
            Ok(Attribute::new(a.type_, v.to_vec()))
        })
        .collect()
}

/// The stored form ([`crate::object::attrlist`]) of a template attribute's value: an array of
/// `ulValueLen / sizeof(CK_ATTRIBUTE)` attributes.
///
/// # Safety
/// `a.pValue` must be NULL or point to that many attributes whose `pValue` are NULL or valid
/// for `ulValueLen` bytes.
unsafe fn nested_template(a: &CK_ATTRIBUTE) -> Result<Vec<u8>> {
    let size = std::mem::size_of::<CK_ATTRIBUTE>() as CK_ULONG;
    if !a.ulValueLen.is_multiple_of(size) || a.ulValueLen / size > MAX_TEMPLATE {
        return Err(Error::AttributeValueInvalid);
    }
    // SAFETY: per the contract above.
    let inner = unsafe { input(a.pValue as *const CK_ATTRIBUTE, a.ulValueLen / size)? };
    let values = inner
        .iter()
        // SAFETY: per the contract above.
        .map(|b| {
            Ok((b.type_, unsafe {
                input(b.pValue as *const u8, b.ulValueLen)?
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::object::attrlist::encode(&values)
}

/// Writes a byte result with the spec's length protocol: NULL output returns the length, a short
/// buffer returns `BufferTooSmall` with the length needed.
///
/// # Safety
/// `p` must be NULL or valid for writes of `*len` bytes; `len` must be NULL or valid.
pub unsafe fn write_bytes(data: &[u8], p: *mut u8, len: *mut CK_ULONG) -> Result<()> {
    // SAFETY: per the contract above.
    let len = unsafe { out(len)? };
    if p.is_null() {
        *len = data.len() as CK_ULONG;
        return Ok(());
    }
    if (*len as usize) < data.len() {
        *len = data.len() as CK_ULONG;
        return Err(Error::BufferTooSmall);
    }
    // SAFETY: `p` is valid for `*len` >= data.len() bytes, per the contract above.
    unsafe { output(p, data.len() as CK_ULONG)? }.copy_from_slice(data);
    *len = data.len() as CK_ULONG;
    Ok(())
}

/// Fills a fixed-width, space-padded text field.
pub fn pad(dst: &mut [u8], s: &[u8]) {
    dst.fill(b' ');
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_general_error() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let rv = guard(|| panic!("boom"));
        std::panic::set_hook(prev);
        assert_eq!(rv, CKR_GENERAL_ERROR);
        assert_eq!(guard(|| Ok(())), CKR_OK);
        assert_eq!(guard(|| Err(Error::PinLocked)), CKR_PIN_LOCKED);
    }

    #[test]
    fn length_protocol() {
        let mut n: CK_ULONG = 0;
        unsafe {
            assert_eq!(write_bytes(b"abc", std::ptr::null_mut(), &mut n), Ok(()));
            assert_eq!(n, 3);
            let mut buf = [0u8; 2];
            n = 2;
            assert_eq!(
                write_bytes(b"abc", buf.as_mut_ptr(), &mut n),
                Err(Error::BufferTooSmall)
            );
            assert_eq!(n, 3);
            let mut buf = [0u8; 8];
            n = 8;
            assert_eq!(write_bytes(b"abc", buf.as_mut_ptr(), &mut n), Ok(()));
            assert_eq!((n, &buf[..3]), (3, &b"abc"[..]));
            assert_eq!(
                write_bytes(b"abc", buf.as_mut_ptr(), std::ptr::null_mut()),
                Err(Error::ArgumentsBad)
            );
            assert_eq!(
                input::<u8>(std::ptr::null(), 4).unwrap_err(),
                Error::ArgumentsBad
            );
            assert!(input::<u8>(std::ptr::null(), 0).unwrap().is_empty());
        }
    }
}
