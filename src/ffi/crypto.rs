//! The cryptographic `C_*` functions: sign, verify, encrypt, decrypt, digest, key generation,
//! derivation, wrap and unwrap.
//!
//! Mechanism parameters are read here, with their sizes checked, into [`Param`]; the core never
//! sees a C pointer.

use super::{ffi_entry, input, out, template, write_bytes};
use crate::error::{Error, Result};
use crate::mechanism::ops::{Out, Wrote};
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

/// The parameter as bytes (NULL with length 0 is empty).
///
/// # Safety
/// `m.pParameter` must be NULL or valid for reads of `m.ulParameterLen` bytes.
unsafe fn param_bytes(m: &CK_MECHANISM) -> Result<&[u8]> {
    // SAFETY: per the contract above.
    unsafe { param_input(m.pParameter as *const u8, m.ulParameterLen) }
}

/// A buffer inside a parameter structure; a bad pointer is a bad parameter.
///
/// # Safety
/// `p` must be NULL or valid for reads of `len` bytes.
unsafe fn param_input<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    // SAFETY: per the contract above.
    unsafe { input(p, len) }.map_err(|_| Error::MechanismParamInvalid)
}

/// CK_GCM_PARAMS as the published 2.40 header had it, without `ulIvBits` (what OpenSSL's engine,
/// older Java and several Go libraries send).
#[repr(C)]
#[derive(Clone, Copy)]
struct GcmParamsNoIvBits {
    p_iv: *mut CK_BYTE,
    ul_iv_len: CK_ULONG,
    p_aad: *mut CK_BYTE,
    ul_aad_len: CK_ULONG,
    ul_tag_bits: CK_ULONG,
}

/// Reads CK_GCM_PARAMS in either layout, told apart by `ulParameterLen` (48 and 40 bytes on LP64
/// systems). With `ulIvBits`, a value that is neither 0 nor `8 * ulIvLen` contradicts the IV and
/// is refused.
///
/// # Safety
/// As [`mechanism`].
unsafe fn gcm_params(m: &CK_MECHANISM) -> Result<Param> {
    let (iv, iv_len, aad, aad_len, tag_bits) =
        if m.ulParameterLen as usize == std::mem::size_of::<GcmParamsNoIvBits>() {
            // SAFETY: per the contract above.
            let v: GcmParamsNoIvBits = unsafe { param(m)? };
            (v.p_iv, v.ul_iv_len, v.p_aad, v.ul_aad_len, v.ul_tag_bits)
        } else {
            // SAFETY: per the contract above.
            let v: CK_GCM_PARAMS = unsafe { param(m)? };
            if v.ulIvBits != 0 && Some(v.ulIvBits) != v.ulIvLen.checked_mul(8) {
                return Err(Error::MechanismParamInvalid);
            }
            (v.pIv, v.ulIvLen, v.pAAD, v.ulAADLen, v.ulTagBits)
        };
    Ok(Param::Gcm {
        // SAFETY: the structure's pointers are valid for their lengths, per the contract.
        iv: unsafe { param_input(iv, iv_len)? }.to_vec(),
        // SAFETY: as above.
        aad: unsafe { param_input(aad, aad_len)? }.to_vec(),
        tag_bits,
    })
}

/// Reads CK_PKCS5_PBKD2_PARAMS2 (3.0: `ulPasswordLen` is the length) or CK_PKCS5_PBKD2_PARAMS
/// (2.40: a pointer to the length), which have the same size. Told apart by the value: a length
/// is at most 65535 (longer passwords are refused), and no pointer a process can hand over is
/// that low (Linux maps nothing below `vm.mmap_min_addr`, 64 KiB by default).
///
/// # Safety
/// As [`mechanism`]; with the 2.40 layout `ulPasswordLen` must point to a CK_ULONG.
unsafe fn pbkd2_params(m: &CK_MECHANISM) -> Result<Param> {
    // SAFETY: per the contract above (both layouts have this size).
    let v: CK_PKCS5_PBKD2_PARAMS2 = unsafe { param(m)? };
    let len = if v.ulPasswordLen <= 0xffff {
        v.ulPasswordLen
    } else {
        // SAFETY: not a length, so the 2.40 pointer to one, per the contract above.
        let l = unsafe { std::ptr::read_unaligned(v.ulPasswordLen as usize as *const CK_ULONG) };
        if l > 0xffff {
            return Err(Error::MechanismParamInvalid);
        }
        l
    };
    Ok(Param::Pbkd2(Box::new(crate::mechanism::kdf::Pbkd2Params {
        salt_source: v.saltSource,
        // SAFETY: pSaltSourceData is valid for ulSaltSourceDataLen bytes, per the contract.
        salt: unsafe { param_input(v.pSaltSourceData as *const u8, v.ulSaltSourceDataLen)? }
            .to_vec(),
        iterations: v.iterations,
        prf: v.prf,
        prf_data: !v.pPrfData.is_null() || v.ulPrfDataLen != 0,
        // SAFETY: pPassword is valid for the length read above, per the contract.
        password: zeroize::Zeroizing::new(unsafe { param_input(v.pPassword, len)? }.to_vec()),
        kt: CKK_GENERIC_SECRET,
    })))
}

/// Most data parameters and additional derived keys an SP 800-108 parameter may list.
const MAX_KBKDF_LIST: CK_ULONG = 64;

/// Reads the lists of an SP 800-108 parameter: the `CK_PRF_DATA_PARAM`s (each value of the size
/// its type has: `CK_SP800_108_COUNTER_FORMAT`, `CK_SP800_108_DKM_LENGTH_FORMAT`, bytes, or none
/// for the iteration variable of the feedback and double-pipeline modes) and the templates of the
/// `CK_DERIVED_KEY`s (their `phKey` are written by `C_DeriveKey`, see [`derived_key_outputs`]).
///
/// # Safety
/// Each pointer must be NULL or valid for its count, and the values they point to valid for
/// their lengths.
unsafe fn kbkdf_params(
    prf: CK_MECHANISM_TYPE,
    data: *const CK_PRF_DATA_PARAM,
    n_data: CK_ULONG,
    iv: &[u8],
    keys: *const CK_DERIVED_KEY,
    n_keys: CK_ULONG,
) -> Result<Param> {
    use crate::mechanism::kbkdf::{CounterFormat, KbkdfParams, PrfData};
    if n_data > MAX_KBKDF_LIST || n_keys > MAX_KBKDF_LIST {
        return Err(Error::MechanismParamInvalid);
    }
    // SAFETY: per the contract above.
    let list = unsafe { input(data, n_data) }.map_err(|_| Error::MechanismParamInvalid)?;
    let mut out = Vec::with_capacity(list.len());
    for d in list {
        // SAFETY: pValue is valid for ulValueLen bytes, per the contract.
        let v = unsafe { param_input(d.pValue as *const u8, d.ulValueLen)? };
        let read = |want: usize| {
            if v.len() != want {
                return Err(Error::MechanismParamInvalid);
            }
            Ok(())
        };
        out.push(match d.type_ {
            CK_SP800_108_ITERATION_VARIABLE if v.is_empty() => PrfData::Iteration(None),
            CK_SP800_108_ITERATION_VARIABLE | CK_SP800_108_COUNTER => {
                read(std::mem::size_of::<CK_SP800_108_COUNTER_FORMAT>())?;
                // SAFETY: exactly the structure's size, checked above; unaligned read.
                let f: CK_SP800_108_COUNTER_FORMAT =
                    unsafe { std::ptr::read_unaligned(v.as_ptr() as *const _) };
                let f = CounterFormat {
                    little: f.bLittleEndian != 0,
                    bits: f.ulWidthInBits,
                };
                if d.type_ == CK_SP800_108_COUNTER {
                    PrfData::Counter(f)
                } else {
                    PrfData::Iteration(Some(f))
                }
            }
            CK_SP800_108_DKM_LENGTH => {
                read(std::mem::size_of::<CK_SP800_108_DKM_LENGTH_FORMAT>())?;
                // SAFETY: exactly the structure's size, checked above; unaligned read.
                let f: CK_SP800_108_DKM_LENGTH_FORMAT =
                    unsafe { std::ptr::read_unaligned(v.as_ptr() as *const _) };
                PrfData::DkmLength {
                    method: f.dkmLengthMethod,
                    little: f.bLittleEndian != 0,
                    bits: f.ulWidthInBits,
                }
            }
            CK_SP800_108_BYTE_ARRAY if !v.is_empty() => {
                PrfData::Bytes(zeroize::Zeroizing::new(v.to_vec()))
            }
            _ => return Err(Error::MechanismParamInvalid),
        });
    }
    // SAFETY: per the contract above.
    let keys = unsafe { input(keys, n_keys) }.map_err(|_| Error::MechanismParamInvalid)?;
    let mut extra = Vec::with_capacity(keys.len());
    for k in keys {
        if k.phKey.is_null() {
            return Err(Error::MechanismParamInvalid);
        }
        // SAFETY: pTemplate is valid for ulAttributeCount attributes, per the contract.
        let t = unsafe { template(k.pTemplate, k.ulAttributeCount) }
            .map_err(|_| Error::MechanismParamInvalid)?;
        extra.push((t, 0));
    }
    Ok(Param::Kbkdf(Box::new(KbkdfParams {
        prf,
        data: out,
        iv: iv.to_vec(),
        extra,
    })))
}

/// The `phKey` of each additional derived key of an SP 800-108 mechanism, in order (none for
/// other mechanisms).
///
/// # Safety
/// As [`mechanism`].
unsafe fn derived_key_outputs(p: *const CK_MECHANISM) -> Result<Vec<*mut CK_OBJECT_HANDLE>> {
    // SAFETY: per the contract above.
    let m = unsafe { p.as_ref() }.ok_or(Error::ArgumentsBad)?;
    let (keys, n) = match param_kind(m.mechanism) {
        ParamKind::Kbkdf => {
            // SAFETY: per the contract above.
            let v: CK_SP800_108_KDF_PARAMS = unsafe { param(m)? };
            (v.pAdditionalDerivedKeys, v.ulAdditionalDerivedKeys)
        }
        ParamKind::KbkdfFeedback => {
            // SAFETY: per the contract above.
            let v: CK_SP800_108_FEEDBACK_KDF_PARAMS = unsafe { param(m)? };
            (v.pAdditionalDerivedKeys, v.ulAdditionalDerivedKeys)
        }
        _ => return Ok(vec![]),
    };
    // SAFETY: per the contract above.
    let keys = unsafe { input(keys as *const CK_DERIVED_KEY, n) }
        .map_err(|_| Error::MechanismParamInvalid)?;
    Ok(keys.iter().map(|k| k.phKey).collect())
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
        // A mechanism that takes no parameter, given one (PKCS#11 3.0 section 5.2: the
        // parameter must be absent); one the module does not know is refused later, as invalid.
        ParamKind::None if m.ulParameterLen != 0 && crate::mechanism::is_known(m.mechanism) => {
            return Err(Error::MechanismParamInvalid)
        }
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
        ParamKind::Iv(n) => {
            // SAFETY: per the contract above.
            let iv = unsafe { param_bytes(m)? };
            if iv.len() != n {
                return Err(Error::MechanismParamInvalid);
            }
            Param::Bytes(zeroize::Zeroizing::new(iv.to_vec()))
        }
        ParamKind::OptionalIv(n) => {
            // SAFETY: per the contract above.
            let iv = unsafe { param_bytes(m)? };
            match iv.len() {
                0 => Param::None,
                l if l == n => Param::Bytes(zeroize::Zeroizing::new(iv.to_vec())),
                _ => return Err(Error::MechanismParamInvalid),
            }
        }
        ParamKind::Ctr => {
            // SAFETY: per the contract above.
            let v: CK_AES_CTR_PARAMS = unsafe { param(m)? };
            Param::Ctr {
                bits: v.ulCounterBits,
                cb: v.cb,
            }
        }
        // SAFETY: per the contract above.
        ParamKind::Gcm => unsafe { gcm_params(m)? },
        ParamKind::Ccm => {
            // SAFETY: per the contract above.
            let v: CK_CCM_PARAMS = unsafe { param(m)? };
            Param::Ccm {
                data_len: v.ulDataLen,
                // SAFETY: per the contract above (pointers valid for their lengths).
                nonce: unsafe { param_input(v.pNonce, v.ulNonceLen)? }.to_vec(),
                // SAFETY: as above.
                aad: unsafe { param_input(v.pAAD, v.ulAADLen)? }.to_vec(),
                mac_len: v.ulMACLen,
            }
        }
        ParamKind::Bytes => {
            // SAFETY: pParameter is valid for ulParameterLen bytes, per the contract above.
            let d = unsafe { param_input(m.pParameter as *const u8, m.ulParameterLen)? };
            Param::Bytes(zeroize::Zeroizing::new(d.to_vec()))
        }
        ParamKind::DerivationString => {
            // SAFETY: per the contract above.
            let v: CK_KEY_DERIVATION_STRING_DATA = unsafe { param(m)? };
            // SAFETY: pData is valid for ulLen bytes, per the contract.
            let d = unsafe { param_input(v.pData, v.ulLen)? };
            Param::Bytes(zeroize::Zeroizing::new(d.to_vec()))
        }
        ParamKind::IvData(16) => {
            // SAFETY: per the contract above.
            let v: CK_AES_CBC_ENCRYPT_DATA_PARAMS = unsafe { param(m)? };
            Param::IvData {
                iv: v.iv.to_vec(),
                // SAFETY: pData is valid for `length` bytes, per the contract.
                data: zeroize::Zeroizing::new(unsafe { param_input(v.pData, v.length)? }.to_vec()),
            }
        }
        ParamKind::IvData(_) => {
            // SAFETY: per the contract above.
            let v: CK_DES_CBC_ENCRYPT_DATA_PARAMS = unsafe { param(m)? };
            Param::IvData {
                iv: v.iv.to_vec(),
                // SAFETY: pData is valid for `length` bytes, per the contract.
                data: zeroize::Zeroizing::new(unsafe { param_input(v.pData, v.length)? }.to_vec()),
            }
        }
        ParamKind::OptionalEddsa if m.ulParameterLen == 0 => Param::None,
        ParamKind::OptionalEddsa => {
            // SAFETY: per the contract above.
            let v: CK_EDDSA_PARAMS = unsafe { param(m)? };
            Param::Eddsa {
                ph: v.phFlag != 0,
                // SAFETY: pContextData is valid for ulContextDataLen bytes, per the contract.
                context: unsafe { param_input(v.pContextData, v.ulContextDataLen)? }.to_vec(),
            }
        }
        ParamKind::OptionalSignContext if m.ulParameterLen == 0 => Param::None,
        ParamKind::OptionalSignContext => {
            // SAFETY: per the contract above.
            let v: CK_SIGN_ADDITIONAL_CONTEXT = unsafe { param(m)? };
            Param::SignContext {
                hedge: v.hedgeVariant,
                // SAFETY: pContext is valid for ulContextLen bytes, per the contract.
                context: unsafe { param_input(v.pContext, v.ulContextLen)? }.to_vec(),
            }
        }
        ParamKind::HashSignContext => {
            // SAFETY: per the contract above.
            let v: CK_HASH_SIGN_ADDITIONAL_CONTEXT = unsafe { param(m)? };
            Param::HashSignContext {
                hedge: v.hedgeVariant,
                // SAFETY: pContext is valid for ulContextLen bytes, per the contract.
                context: unsafe { param_input(v.pContext, v.ulContextLen)? }.to_vec(),
                hash: v.hash,
            }
        }
        ParamKind::Ecdh1 => {
            // SAFETY: per the contract above.
            let v: CK_ECDH1_DERIVE_PARAMS = unsafe { param(m)? };
            Param::Ecdh {
                kdf: v.kdf,
                // SAFETY: pSharedData is valid for ulSharedDataLen bytes, per the contract.
                shared: zeroize::Zeroizing::new(
                    unsafe { param_input(v.pSharedData, v.ulSharedDataLen)? }.to_vec(),
                ),
                // SAFETY: pPublicData is valid for ulPublicDataLen bytes, per the contract.
                public: unsafe { param_input(v.pPublicData, v.ulPublicDataLen)? }.to_vec(),
            }
        }
        ParamKind::Ulong => {
            // SAFETY: per the contract above.
            Param::Ulong(unsafe { param::<CK_ULONG>(m)? })
        }
        ParamKind::KeyHandle => Param::OtherKey {
            // SAFETY: per the contract above.
            handle: unsafe { param::<CK_OBJECT_HANDLE>(m)? },
            value: zeroize::Zeroizing::new(Vec::new()),
        },
        ParamKind::Kbkdf => {
            // SAFETY: per the contract above.
            let v: CK_SP800_108_KDF_PARAMS = unsafe { param(m)? };
            // SAFETY: the lists are valid for their counts, per the contract.
            unsafe {
                kbkdf_params(
                    v.prfType,
                    v.pDataParams,
                    v.ulNumberOfDataParams,
                    &[],
                    v.pAdditionalDerivedKeys,
                    v.ulAdditionalDerivedKeys,
                )?
            }
        }
        ParamKind::KbkdfFeedback => {
            // SAFETY: per the contract above.
            let v: CK_SP800_108_FEEDBACK_KDF_PARAMS = unsafe { param(m)? };
            // SAFETY: pIV is valid for ulIVLen bytes, per the contract.
            let iv = unsafe { param_input(v.pIV, v.ulIVLen)? };
            // SAFETY: the lists are valid for their counts, per the contract.
            unsafe {
                kbkdf_params(
                    v.prfType,
                    v.pDataParams,
                    v.ulNumberOfDataParams,
                    iv,
                    v.pAdditionalDerivedKeys,
                    v.ulAdditionalDerivedKeys,
                )?
            }
        }
        ParamKind::Pbkd2 => {
            // SAFETY: per the contract above.
            unsafe { pbkd2_params(m)? }
        }
        ParamKind::Hkdf => {
            // SAFETY: per the contract above.
            let v: CK_HKDF_PARAMS = unsafe { param(m)? };
            Param::Hkdf(Box::new(crate::mechanism::kdf::HkdfParams {
                extract: v.bExtract != 0,
                expand: v.bExpand != 0,
                prf: v.prfHashMechanism,
                salt_type: v.ulSaltType,
                // SAFETY: pSalt is valid for ulSaltLen bytes, per the contract.
                salt: zeroize::Zeroizing::new(
                    unsafe { param_input(v.pSalt, v.ulSaltLen)? }.to_vec(),
                ),
                salt_key: v.hSaltKey,
                // SAFETY: pInfo is valid for ulInfoLen bytes, per the contract.
                info: unsafe { param_input(v.pInfo, v.ulInfoLen)? }.to_vec(),
            }))
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

// ---- verification with the signature first (PKCS #11 3.2) ---------------------------------------

ffi_entry! {
    fn C_VerifySignatureInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE, p_sig: *mut CK_BYTE, sig_len: CK_ULONG) {
        let m = module::get()?;
        let mech = mechanism(p_mech)?;
        m.verify_signature_init(h, &mech, key, input(p_sig, sig_len)?)
    }
}

ffi_entry! {
    fn C_VerifySignature(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG) {
        let m = module::get()?;
        m.verify_signature(h, Some(input(p_data, data_len)?))
    }
}

ffi_entry! {
    fn C_VerifySignatureUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG) {
        let m = module::get()?;
        m.verify_signature_update(h, input(p_data, data_len)?)
    }
}

ffi_entry! {
    fn C_VerifySignatureFinal(h: CK_SESSION_HANDLE) {
        let m = module::get()?;
        m.verify_signature(h, None)
    }
}

// ---- sign and verify with recovery -------------------------------------------------------------

ffi_entry! {
    fn C_SignRecoverInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.recover_init(h, &mechanism(p_mech)?, key, false)
    }
}

ffi_entry! {
    fn C_SignRecover(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_sig: *mut CK_BYTE, p_sig_len: *mut CK_ULONG) {
        let m = module::get()?;
        let data = input(p_data, data_len)?;
        let cap = capacity(p_sig, p_sig_len)?;
        emit(m.recover(h, data, cap, false)?, p_sig, p_sig_len)
    }
}

ffi_entry! {
    fn C_VerifyRecoverInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.recover_init(h, &mechanism(p_mech)?, key, true)
    }
}

ffi_entry! {
    fn C_VerifyRecover(h: CK_SESSION_HANDLE, p_sig: *mut CK_BYTE, sig_len: CK_ULONG, p_data: *mut CK_BYTE, p_data_len: *mut CK_ULONG) {
        let m = module::get()?;
        let sig = input(p_sig, sig_len)?;
        let cap = capacity(p_data, p_data_len)?;
        emit(m.recover(h, sig, cap, true)?, p_data, p_data_len)
    }
}

// ---- encrypt and decrypt -----------------------------------------------------------------------

/// An encryption call's input (borrowed, or copied when it overlaps the output) and output.
pub(super) type InOut<'a> = (std::borrow::Cow<'a, [u8]>, Option<&'a mut [u8]>);

/// The input and output buffers of an encryption call. Applications may encrypt in place (the
/// same buffer, or overlapping ones): then the input is copied first, since Rust may not see one
/// memory as both a shared and a mutable slice.
///
/// # Safety
/// `p_in` must be NULL or valid for `in_len` reads; `p_out` NULL or valid for `*p_out_len`
/// writes; `p_out_len` NULL or valid.
pub(super) unsafe fn in_out<'a>(
    p_in: *const u8,
    in_len: CK_ULONG,
    p_out: *mut u8,
    p_out_len: *mut CK_ULONG,
) -> Result<InOut<'a>> {
    // SAFETY: per the contract above.
    let cap = *unsafe { out(p_out_len)? };
    if p_out.is_null() {
        // SAFETY: per the contract above.
        return Ok((unsafe { input(p_in, in_len)? }.into(), None));
    }
    let (a, b) = (p_in as usize, p_out as usize);
    let overlap = in_len > 0 && cap > 0 && a < b + cap as usize && b < a + in_len as usize;
    // SAFETY: per the contract above.
    let data = unsafe { input(p_in, in_len)? };
    let data: std::borrow::Cow<'a, [u8]> = if overlap {
        std::borrow::Cow::Owned(data.to_vec())
    } else {
        data.into()
    };
    // SAFETY: per the contract above; no shared slice of this memory is alive past here when
    // the two overlap (the input was copied).
    let o = unsafe { crate::ffi::output(p_out, cap)? };
    Ok((data, Some(o)))
}

/// Writes a [`Wrote`] to the caller's length: a NULL buffer learns the length; a short one
/// gets `BufferTooSmall` too.
///
/// # Safety
/// `len` must be NULL or valid.
pub(super) unsafe fn wrote(r: Wrote, p: *const u8, len: *mut CK_ULONG) -> Result<()> {
    // SAFETY: per the contract above.
    let l = unsafe { out(len)? };
    match r {
        Wrote::Wrote(n) => {
            *l = n as CK_ULONG;
            Ok(())
        }
        Wrote::Need(n) => {
            *l = n as CK_ULONG;
            if p.is_null() {
                Ok(())
            } else {
                Err(Error::BufferTooSmall)
            }
        }
    }
}

ffi_entry! {
    fn C_EncryptInit(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module::get()?;
        m.crypt_init(h, &mechanism(p_mech)?, key, false)
    }
}

ffi_entry! {
    fn C_Encrypt(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        wrote(m.crypt(h, false, &data, o)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_EncryptUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        wrote(m.crypt_update(h, false, &data, o)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_EncryptFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let (_, o) = in_out(std::ptr::null(), 0, p_out, p_out_len)?;
        wrote(m.crypt_final(h, false, o)?, p_out, p_out_len)
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
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        wrote(m.crypt(h, true, &data, o)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_DecryptUpdate(h: CK_SESSION_HANDLE, p_data: *mut CK_BYTE, data_len: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let (data, o) = in_out(p_data, data_len, p_out, p_out_len)?;
        wrote(m.crypt_update(h, true, &data, o)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_DecryptFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let (_, o) = in_out(std::ptr::null(), 0, p_out, p_out_len)?;
        wrote(m.crypt_final(h, true, o)?, p_out, p_out_len)
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

ffi_entry! {
    fn C_DeriveKey(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, base: CK_OBJECT_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG, p_key: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let ph = out(p_key)?;
        let mech = mechanism(p_mech)?;
        let t = template(p_template, count)?;
        // SAFETY: p_mech was read above as a valid CK_MECHANISM.
        let outs = unsafe { derived_key_outputs(p_mech)? };
        let (primary, more) = m.derive_keys(h, &mech, base, &t)?;
        *ph = primary;
        for (o, k) in outs.into_iter().zip(more) {
            // SAFETY: phKey is non-NULL (checked when the parameter was read) and writable.
            unsafe { *o = k };
        }
        Ok(())
    }
}

// ---- key encapsulation (PKCS #11 3.2) ----------------------------------------------------------

ffi_entry! {
    /// A NULL `pCiphertext` asks for the ciphertext length only (no key is made), as does a
    /// buffer too short (`CKR_BUFFER_TOO_SMALL`); `phKey` is written only with a new key.
    fn C_EncapsulateKey(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG, p_ct: *mut CK_BYTE, p_ct_len: *mut CK_ULONG, p_key: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let ph = out(p_key)?;
        let mech = mechanism(p_mech)?;
        let t = template(p_template, count)?;
        let cap = capacity(p_ct, p_ct_len)?;
        let (ct, handle) = m.encapsulate_key(h, &mech, key, &t, cap)?;
        let made = matches!(ct, Out::Done(_));
        emit(ct, p_ct, p_ct_len)?;
        if made {
            *ph = handle;
        }
        Ok(())
    }
}

ffi_entry! {
    fn C_DecapsulateKey(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG, p_ct: *mut CK_BYTE, ct_len: CK_ULONG, p_key: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let ph = out(p_key)?;
        let mech = mechanism(p_mech)?;
        if p_ct.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let ct = input(p_ct, ct_len)?;
        let t = template(p_template, count)?;
        *ph = m.decapsulate_key(h, &mech, key, &t, ct)?;
        Ok(())
    }
}

// ---- wrap and unwrap ---------------------------------------------------------------------------

ffi_entry! {
    fn C_WrapKey(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, wrapping: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        let m = module::get()?;
        let mech = mechanism(p_mech)?;
        let cap = capacity(p_out, p_out_len)?;
        emit(m.wrap_key(h, &mech, wrapping, key, cap)?, p_out, p_out_len)
    }
}

ffi_entry! {
    fn C_UnwrapKey(h: CK_SESSION_HANDLE, p_mech: *mut CK_MECHANISM, unwrapping: CK_OBJECT_HANDLE, p_wrapped: *mut CK_BYTE, wrapped_len: CK_ULONG, p_template: *mut CK_ATTRIBUTE, count: CK_ULONG, p_key: *mut CK_OBJECT_HANDLE) {
        let m = module::get()?;
        let ph = out(p_key)?;
        let mech = mechanism(p_mech)?;
        if p_wrapped.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let wrapped = input(p_wrapped, wrapped_len)?;
        let t = template(p_template, count)?;
        *ph = m.unwrap_key(h, &mech, unwrapping, wrapped, &t)?;
        Ok(())
    }
}
