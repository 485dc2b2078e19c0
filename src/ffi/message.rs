//! The message-based encryption `C_*` functions of PKCS#11 3.0 (C_MessageEncryptInit to
//! C_MessageDecryptFinal). Each call's parameter, CK_GCM_MESSAGE_PARAMS or CK_CCM_MESSAGE_PARAMS,
//! is told apart by its size (they differ on every ABI) and read here into [`MsgParam`]; the
//! generated IV and an encryption's tag are written back into the caller's buffers here too.

use super::crypto::{in_out, wrote};
use super::{ffi_entry, input, output};
use crate::error::{Error, Result};
use crate::mechanism::message::{MsgKind, MsgOut, MsgParam};
use crate::mechanism::{Mech, Param};
use crate::module;
use cryptoki_sys::*;
use std::ffi::c_void;

/// The caller's IV and tag buffers of one parameter structure.
struct Buffers {
    iv: *mut u8,
    iv_len: CK_ULONG,
    tag: *mut u8,
    tag_len: usize,
}

/// The mechanism of C_MessageEncryptInit / C_MessageDecryptInit: its parameter comes with each
/// message, so the mechanism's own must be absent.
///
/// # Safety
/// `p` must be NULL or point to a valid CK_MECHANISM.
unsafe fn message_mechanism(p: *const CK_MECHANISM) -> Result<Mech> {
    // SAFETY: per the contract above.
    let m = unsafe { p.as_ref() }.ok_or(Error::ArgumentsBad)?;
    if !m.pParameter.is_null() || m.ulParameterLen != 0 {
        return Err(Error::MechanismParamInvalid);
    }
    Ok(Mech {
        ty: m.mechanism,
        param: Param::None,
    })
}

/// Reads a message parameter structure.
///
/// # Safety
/// `p` must be NULL or valid for reads of `len` bytes; the buffers it names must be NULL or valid
/// for their lengths (the IV for reads and writes of `ulIvLen` / `ulNonceLen` bytes, the tag of
/// `ulTagBits / 8` / `ulMACLen` bytes).
unsafe fn message_param(p: *mut c_void, len: CK_ULONG) -> Result<(MsgParam, Buffers)> {
    if p.is_null() {
        return Err(Error::ArgumentsBad);
    }
    let (kind, iv, iv_len, fixed_bits, generator, tag, tag_size, data_len) =
        if len as usize == std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() {
            // SAFETY: `len` readable bytes, per the contract; no alignment assumed.
            let v = unsafe { std::ptr::read_unaligned(p as *const CK_GCM_MESSAGE_PARAMS) };
            let (iv, iv_len, fixed, gen, tag, bits) = (
                v.pIv,
                v.ulIvLen,
                v.ulIvFixedBits,
                v.ivGenerator,
                v.pTag,
                v.ulTagBits,
            );
            (MsgKind::Gcm, iv, iv_len, fixed, gen, tag, bits, 0)
        } else if len as usize == std::mem::size_of::<CK_CCM_MESSAGE_PARAMS>() {
            // SAFETY: as above.
            let v = unsafe { std::ptr::read_unaligned(p as *const CK_CCM_MESSAGE_PARAMS) };
            let (iv, iv_len, fixed, gen, tag, mac) = (
                v.pNonce,
                v.ulNonceLen,
                v.ulNonceFixedBits,
                v.nonceGenerator,
                v.pMAC,
                v.ulMACLen,
            );
            (MsgKind::Ccm, iv, iv_len, fixed, gen, tag, mac, v.ulDataLen)
        } else {
            return Err(Error::MechanismParamInvalid);
        };
    let tag_len = MsgParam::tag_len(kind, tag_size);
    // SAFETY: per the contract above.
    let iv_bytes = unsafe { input(iv as *const u8, iv_len) }
        .map_err(|_| Error::MechanismParamInvalid)?
        .to_vec();
    // A NULL tag buffer is read as no tag: a message's first part needs none, and the core
    // refuses a call that does.
    let tag_bytes = if tag.is_null() {
        Vec::new()
    } else {
        // SAFETY: per the contract above.
        unsafe { input(tag as *const u8, tag_len as CK_ULONG) }
            .map_err(|_| Error::MechanismParamInvalid)?
            .to_vec()
    };
    Ok((
        MsgParam {
            kind,
            iv: iv_bytes,
            fixed_bits,
            generator,
            tag_size,
            tag: tag_bytes,
            data_len,
        },
        Buffers {
            iv,
            iv_len,
            tag,
            tag_len,
        },
    ))
}

/// Writes a generated IV and a tag back into the caller's parameter buffers.
///
/// # Safety
/// As [`message_param`] for the buffers `b` came from.
unsafe fn put_back(b: &Buffers, iv: Option<&[u8]>, tag: Option<&[u8]>) -> Result<()> {
    if let Some(iv) = iv {
        // SAFETY: per the contract above.
        let dst = unsafe { output(b.iv, b.iv_len)? };
        dst.get_mut(..iv.len())
            .ok_or(Error::GeneralError)?
            .copy_from_slice(iv);
    }
    if let Some(tag) = tag {
        // SAFETY: per the contract above.
        let dst = unsafe { output(b.tag, b.tag_len as CK_ULONG)? };
        if dst.len() != tag.len() {
            return Err(Error::GeneralError);
        }
        dst.copy_from_slice(tag);
    }
    Ok(())
}

/// Writes what a message call returned: the parameter's buffers, then the output length.
///
/// # Safety
/// As [`message_param`] and [`wrote`].
unsafe fn finish(r: MsgOut, b: &Buffers, p_out: *const u8, p_out_len: *mut CK_ULONG) -> Result<()> {
    // SAFETY: per the contract above.
    unsafe { put_back(b, r.iv.as_deref(), r.tag.as_deref())? };
    // SAFETY: per the contract above.
    unsafe { wrote(r.wrote, p_out, p_out_len) }
}

ffi_entry! {
    fn C_MessageEncryptInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.message_init(h, &message_mechanism(p_mech)?, key, false)
    }
}

ffi_entry! {
    fn C_EncryptMessage(h: CK_SESSION_HANDLE, p_param: *mut c_void, param_len: CK_ULONG, p_aad: *mut CK_BYTE, aad_len: CK_ULONG, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        m.session(h)?;
        let (p, b) = message_param(p_param, param_len)?;
        let aad = input(p_aad, aad_len)?;
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        finish(m.message_one(h, false, &p, aad, &data, o)?, &b, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_EncryptMessageBegin(h: CK_SESSION_HANDLE, p_param: *mut c_void, param_len: CK_ULONG, p_aad: *mut CK_BYTE, aad_len: CK_ULONG) {
        let m = module::get()?;
        m.session(h)?;
        let (p, b) = message_param(p_param, param_len)?;
        let aad = input(p_aad, aad_len)?;
        let iv = m.message_begin(h, false, &p, aad)?;
        put_back(&b, iv.as_deref(), None)
    }
}

ffi_entry! {
    fn C_EncryptMessageNext(h: CK_SESSION_HANDLE, p_param: *mut c_void, param_len: CK_ULONG, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG, flags: CK_FLAGS) {
        let m = module::get()?;
        m.session(h)?;
        let (p, b) = message_param(p_param, param_len)?;
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        let last = flags & CKF_END_OF_MESSAGE != 0;
        finish(m.message_next(h, false, &p, &data, o, last)?, &b, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_MessageEncryptFinal(h: CK_SESSION_HANDLE) {
        module::get()?.message_final(h, false)
    }
}

ffi_entry! {
    fn C_MessageDecryptInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.message_init(h, &message_mechanism(p_mech)?, key, true)
    }
}

ffi_entry! {
    fn C_DecryptMessage(h: CK_SESSION_HANDLE, p_param: *mut c_void, param_len: CK_ULONG, p_aad: *mut CK_BYTE, aad_len: CK_ULONG, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        m.session(h)?;
        let (p, b) = message_param(p_param, param_len)?;
        let aad = input(p_aad, aad_len)?;
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        finish(m.message_one(h, true, &p, aad, &data, o)?, &b, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_DecryptMessageBegin(h: CK_SESSION_HANDLE, p_param: *mut c_void, param_len: CK_ULONG, p_aad: *mut CK_BYTE, aad_len: CK_ULONG) {
        let m = module::get()?;
        m.session(h)?;
        let (p, _) = message_param(p_param, param_len)?;
        let aad = input(p_aad, aad_len)?;
        m.message_begin(h, true, &p, aad).map(drop)
    }
}

ffi_entry! {
    fn C_DecryptMessageNext(h: CK_SESSION_HANDLE, p_param: *mut c_void, param_len: CK_ULONG, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG, flags: CK_FLAGS) {
        let m = module::get()?;
        m.session(h)?;
        let (p, b) = message_param(p_param, param_len)?;
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        let last = flags & CKF_END_OF_MESSAGE != 0;
        finish(m.message_next(h, true, &p, &data, o, last)?, &b, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_MessageDecryptFinal(h: CK_SESSION_HANDLE) {
        module::get()?.message_final(h, true)
    }
}
