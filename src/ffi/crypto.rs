//! The cryptographic `C_*` functions: sign, verify, encrypt, decrypt, digest, key generation.
//!
//! Mechanism parameters are read here, with their sizes checked, into [`Param`]; the core never
//! sees a C pointer.

use super::{ffi_entry, input, out, template, write_bytes};
use crate::error::{Error, Result};
use crate::mechanism::ops::Out;
use crate::mechanism::{param_kind, Mech, Param, ParamKind};
use crate::module;
use cryptoki_sys::*;

/// Reads a mechanism parameter structure of exactly `size_of::<T>()` bytes.
///
/// # Safety
/// `m.pParameter` must be NULL or valid for reads of `m.ulParameterLen` bytes.
unsafe fn param<T: Copy>(m: &CK_MECHANISM) -> Result<T> {
    if m.pParameter.is_null() || m.ulParameterLen as usize != std::mem::size_of::<T>() {
        return Err(Error::MechanismParamInvalid);
    }
    // SAFETY: non-NULL and `ulParameterLen` == size_of::<T>() readable bytes, per the contract;
    // read_unaligned makes no alignment assumption.
    Ok(unsafe { std::ptr::read_unaligned(m.pParameter as *const T) })
}

/// Converts a C mechanism into [`Mech`].
///
/// # Safety
/// `p` must be NULL or point to a valid CK_MECHANISM whose parameter pointers are valid for
/// their lengths.
pub unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mech> {
    // SAFETY: per the contract above.
    let m = unsafe { p.as_ref() }.ok_or(Error::ArgumentsBad)?;
    let param = match param_kind(m.mechanism) {
        ParamKind::None => Param::None,
        ParamKind::Pss => {
            // SAFETY: per the contract above.
            let v: CK_RSA_PKCS_PSS_PARAMS = unsafe { param(m)? };
            Param::Pss {
                hash: v.hashAlg,
                mgf: v.mgf,
                salt_len: v.sLen,
            }
        }
        ParamKind::Oaep => {
            // SAFETY: per the contract above.
            let v: CK_RSA_PKCS_OAEP_PARAMS = unsafe { param(m)? };
            // SAFETY: pSourceData is NULL or valid for ulSourceDataLen bytes, per the contract.
            let label = unsafe { input(v.pSourceData as *const u8, v.ulSourceDataLen) }
                .map_err(|_| Error::MechanismParamInvalid)?
                .to_vec();
            Param::Oaep {
                hash: v.hashAlg,
                mgf: v.mgf,
                source: v.source,
                label,
            }
        }
        ParamKind::MacGeneral => {
            // SAFETY: per the contract above.
            Param::MacLen(unsafe { param::<CK_MAC_GENERAL_PARAMS>(m)? })
        }
    };
    Ok(Mech {
        ty: m.mechanism,
        param,
    })
}

/// The caller's buffer size: `None` when the buffer is NULL.
///
/// # Safety
/// `len` must be NULL or valid.
unsafe fn capacity(p: *const u8, len: *mut CK_ULONG) -> Result<Option<usize>> {
    // SAFETY: per the contract above.
    let n = unsafe { out(len)? };
    Ok((!p.is_null()).then_some(*n as usize))
}

/// Writes an [`Out`] with the length protocol.
///
/// # Safety
/// As [`write_bytes`].
unsafe fn emit(r: Out, p: *mut u8, len: *mut CK_ULONG) -> Result<()> {
    match r {
        Out::Need(n) => {
            // SAFETY: per the contract above.
            *unsafe { out(len)? } = n as CK_ULONG;
            if p.is_null() {
                Ok(())
            } else {
                Err(Error::BufferTooSmall)
            }
        }
        // SAFETY: per the contract above.
        Out::Done(v) => unsafe { write_bytes(&v, p, len) },
    }
}

// ---- sign and verify ---------------------------------------------------------------------------

ffi_entry! {
    fn C_SignInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.sign_init(h, &mechanism(p_mech)?, key, false)
    }
}

ffi_entry! {
    fn C_Sign(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_sig: *mut CK_BYTE, p_sig_len: *mut CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let cap = capacity(p_sig, p_sig_len)?;
        emit(m.sign(h, Some(data), cap)?, p_sig, p_sig_len)
    }
}

ffi_entry! {
    fn C_SignUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG) {
        let m = module::get()?;
        m.sign_update(h, input(p_data, data_len)?, false)
    }
}

ffi_entry! {
    fn C_SignFinal(h: CK_SESSION_HANDLE, p_sig: *mut CK_BYTE, p_sig_len: *mut CK_ULONG) {
        let m = module::get()?;
        let cap = capacity(p_sig, p_sig_len)?;
        emit(m.sign(h, None, cap)?, p_sig, p_sig_len)
    }
}

ffi_entry! {
    fn C_VerifyInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.sign_init(h, &mechanism(p_mech)?, key, true)
    }
}

ffi_entry! {
    fn C_Verify(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_sig: *mut CK_BYTE, sig_len: CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let sig = input(p_sig, sig_len)?;
        m.verify(h, Some(data), sig)
    }
}

ffi_entry! {
    fn C_VerifyUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG) {
        let m = module::get()?;
        m.sign_update(h, input(p_data, data_len)?, true)
    }
}

ffi_entry! {
    fn C_VerifyFinal(h: CK_SESSION_HANDLE, p_sig: *mut CK_BYTE, sig_len: CK_ULONG) {
        let m = module::get()?;
        m.verify(h, None, input(p_sig, sig_len)?)
    }
}

// ---- encrypt and decrypt -----------------------------------------------------------------------

ffi_entry! {
    fn C_EncryptInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.crypt_init(h, &mechanism(p_mech)?, key, false)
    }
}

ffi_entry! {
    fn C_Encrypt(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let cap = capacity(p_out, p_out_len)?;
        emit(m.crypt(h, false, Some(data), cap)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_EncryptUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let n = out(p_out_len)?;
        let _ = p_out;
        m.crypt_update(h, false, data)?;
        *n = 0;
        Ok(())
    }
}

ffi_entry! {
    fn C_EncryptFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let cap = capacity(p_out, p_out_len)?;
        emit(m.crypt(h, false, None, cap)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_DecryptInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.crypt_init(h, &mechanism(p_mech)?, key, true)
    }
}

ffi_entry! {
    fn C_Decrypt(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let cap = capacity(p_out, p_out_len)?;
        emit(m.crypt(h, true, Some(data), cap)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_DecryptUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let n = out(p_out_len)?;
        let _ = p_out;
        m.crypt_update(h, true, data)?;
        *n = 0;
        Ok(())
    }
}

ffi_entry! {
    fn C_DecryptFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let cap = capacity(p_out, p_out_len)?;
        emit(m.crypt(h, true, None, cap)?, p_out, p_out_len)
    }
}

// ---- digest ------------------------------------------------------------------------------------

ffi_entry! {
    fn C_DigestInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM) {
        let m = module::get()?;
        m.digest_init(h, &mechanism(p_mech)?)
    }
}

ffi_entry! {
    fn C_Digest(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let cap = capacity(p_out, p_out_len)?;
        emit(m.digest(h, Some(data), cap)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_DigestUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG) {
        let m = module::get()?;
        m.digest_update(h, input(p_data, data_len)?)
    }
}

ffi_entry! {
    fn C_DigestKey(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) {
        module::get()?.digest_key(h, key)
    }
}

ffi_entry! {
    fn C_DigestFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let cap = capacity(p_out, p_out_len)?;
        emit(m.digest(h, None, cap)?, p_out, p_out_len)
    }
}

// ---- key generation ----------------------------------------------------------------------------

ffi_entry! {
    fn C_GenerateKey(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG, p_key: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let ph = out(p_key)?;
        let mech = mechanism(p_mech)?;
        let t = template(p_template, count)?;
        *ph = m.generate_key(h, &mech, &t)?;
        Ok(())
    }
}

ffi_entry! {
    fn C_GenerateKeyPair(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, p_pub: *mut CK_ATTRIBUTE, pub_count: CK_ULONG, p_priv: *mut CK_ATTRIBUTE, priv_count: CK_ULONG, p_pub_key: *mut CK_OBJECT_HANDLE, p_priv_key: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let pub_h = out(p_pub_key)?;
        let priv_h = out(p_priv_key)?;
        let mech = mechanism(p_mech)?;
        let pt = template(p_pub, pub_count)?;
        let st = template(p_priv, priv_count)?;
        let (a, b) = m.generate_key_pair(h, &mech, &pt, &st)?;
        *pub_h = a;
        *priv_h = b;
        Ok(())
    }
}
