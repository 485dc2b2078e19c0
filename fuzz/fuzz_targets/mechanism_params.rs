//! Every mechanism's parameter structure, through the C boundary: a `CK_MECHANISM` whose type is
//! picked from the module's own list (`C_GetMechanismList`) and whose parameter is fuzzed, given to
//! the functions the mechanism supports (`C_EncryptInit`/`C_DecryptInit`, `C_SignInit`/
//! `C_VerifyInit`, the recover forms, `C_DigestInit`, `C_GenerateKey`, `C_DeriveKey`, `C_WrapKey`/
//! `C_UnwrapKey`) with a key of a fitting or unfitting type, then, when the init succeeds, one
//! single-part call on fuzzed data, so the parameter's use is reached too.
//!
//! Pointers: parameter structures hold pointers, and a pointer made of fuzzed bytes would crash
//! for the caller's fault. So the parameter is one of two things:
//! - a structure of the mechanism's kind built field by field: every non-pointer field fuzzed
//!   (hash and MGF types, lengths in bits, flags, handles, counter formats), every pointer NULL or
//!   pointing to a fuzzed buffer, with a length equal to or shorter than the buffer's (a NULL
//!   pointer gets any length); nested lists (SP 800-108 data parameters, additional derived keys)
//!   built the same way;
//! - raw fuzzed bytes of any length but the exact size of a structure that holds pointers (which
//!   the module reads only at that size), so the size checks themselves are fuzzed.
//!
//! Bounded for speed, not for safety: PBKDF2's iteration count is cut to 4096, derived and
//! generated key lengths to 128 bytes.
//!
//! Checks: no panic, defined return values ([`fuzz_common::rv`]).
#![no_main]

use cryptoki_sys::*;
use ferrohsm::ffi::entry::*;
use ferrohsm::mechanism::{MechDef, ParamKind};
use fuzz_common::{attr, rv, token, Reader};
use libfuzzer_sys::fuzz_target;
use std::ffi::c_void;
use std::mem::size_of;
use std::ptr;
use std::sync::OnceLock;

struct Setup {
    mechs: Vec<&'static MechDef>,
    keys: Vec<CK_OBJECT_HANDLE>,
    digests: Vec<CK_MECHANISM_TYPE>,
}

/// Generates a key (or a key pair, both halves kept) as a session object of the setup session:
/// first with every usage its class may have, extractable and not sensitive; if the module
/// refuses that (its wrap policy, a usage the type cannot have), with the defaults.
unsafe fn make_keys(s: CK_SESSION_HANDLE) -> Vec<CK_OBJECT_HANDLE> {
    let tr = CK_TRUE;
    let fa = CK_FALSE;
    let public_use = [
        CKA_ENCRYPT,
        CKA_VERIFY,
        CKA_WRAP,
        CKA_VERIFY_RECOVER,
        CKA_DERIVE,
    ];
    let private_use = [
        CKA_DECRYPT,
        CKA_SIGN,
        CKA_UNWRAP,
        CKA_SIGN_RECOVER,
        CKA_DERIVE,
    ];
    let with = |uses: &[CK_ATTRIBUTE_TYPE], full: bool, secret: bool| {
        let mut t = vec![attr(CKA_TOKEN, &fa)];
        if full {
            t.extend(uses.iter().map(|&u| attr(u, &tr)));
            if secret {
                t.push(attr(CKA_EXTRACTABLE, &tr));
                t.push(attr(CKA_SENSITIVE, &fa));
            }
        }
        t
    };
    let all_use: Vec<CK_ATTRIBUTE_TYPE> = public_use.iter().chain(&private_use).copied().collect();
    let mut keys = Vec::new();
    let secret: [(CK_MECHANISM_TYPE, CK_ULONG); 6] = [
        (CKM_AES_KEY_GEN, 32),
        (CKM_AES_KEY_GEN, 16),
        (CKM_DES3_KEY_GEN, 0),
        (CKM_GENERIC_SECRET_KEY_GEN, 32),
        (CKM_SHA256_KEY_GEN, 32),
        (CKM_HKDF_KEY_GEN, 32),
    ];
    for (m, len) in secret {
        for full in [true, false] {
            let mut t = with(&all_use, full, true);
            if len != 0 {
                t.push(attr(CKA_VALUE_LEN, &len));
            }
            let mut mech = CK_MECHANISM {
                mechanism: m,
                pParameter: ptr::null_mut(),
                ulParameterLen: 0,
            };
            let mut h = 0;
            if C_GenerateKey(s, &mut mech, t.as_mut_ptr(), t.len() as _, &mut h) == CKR_OK {
                keys.push(h);
                break;
            }
        }
    }
    let bits: CK_ULONG = 2048;
    let e = [1u8, 0, 1];
    let p256 = [0x06u8, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let ed25519 = [0x06u8, 0x03, 0x2b, 0x65, 0x70];
    let x25519 = [0x06u8, 0x03, 0x2b, 0x65, 0x6e];
    let mldsa44: CK_ULONG = CKP_ML_DSA_44;
    let slh128f: CK_ULONG = CKP_SLH_DSA_SHA2_128F;
    let pairs: Vec<(CK_MECHANISM_TYPE, Vec<CK_ATTRIBUTE>)> = vec![
        (
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            vec![
                attr(CKA_MODULUS_BITS, &bits),
                fuzz_common::attr_bytes(CKA_PUBLIC_EXPONENT, &e),
            ],
        ),
        (
            CKM_EC_KEY_PAIR_GEN,
            vec![fuzz_common::attr_bytes(CKA_EC_PARAMS, &p256)],
        ),
        (
            CKM_EC_EDWARDS_KEY_PAIR_GEN,
            vec![fuzz_common::attr_bytes(CKA_EC_PARAMS, &ed25519)],
        ),
        (
            CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
            vec![fuzz_common::attr_bytes(CKA_EC_PARAMS, &x25519)],
        ),
        (
            CKM_ML_DSA_KEY_PAIR_GEN,
            vec![attr(CKA_PARAMETER_SET, &mldsa44)],
        ),
        (
            CKM_SLH_DSA_KEY_PAIR_GEN,
            vec![attr(CKA_PARAMETER_SET, &slh128f)],
        ),
    ];
    for (m, extra) in pairs {
        for full in [true, false] {
            let mut public = with(&public_use, full, false);
            public.extend(extra.iter().copied());
            let mut private = with(&private_use, full, true);
            let mut mech = CK_MECHANISM {
                mechanism: m,
                pParameter: ptr::null_mut(),
                ulParameterLen: 0,
            };
            let (mut hp, mut hs) = (0, 0);
            let r = C_GenerateKeyPair(
                s,
                &mut mech,
                public.as_mut_ptr(),
                public.len() as _,
                private.as_mut_ptr(),
                private.len() as _,
                &mut hp,
                &mut hs,
            );
            if r == CKR_OK {
                keys.push(hp);
                keys.push(hs);
                break;
            }
        }
    }
    if std::env::var_os("FUZZ_VERBOSE").is_some() {
        eprintln!("mechanism_params: {} keys", keys.len());
    }
    keys
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| unsafe {
        let t = token();
        let mut n = 0;
        assert_eq!(C_GetMechanismList(t.slot, ptr::null_mut(), &mut n), CKR_OK);
        let mut list = vec![0; n as usize];
        assert_eq!(
            C_GetMechanismList(t.slot, list.as_mut_ptr(), &mut n),
            CKR_OK
        );
        let mechs = list
            .iter()
            .filter_map(|ty| ferrohsm::mechanism::all().find(|m| m.ty == *ty))
            // Domain parameter generation searches for primes: seconds per call.
            .filter(|m| m.paramgen.is_none())
            .collect();
        let digests = ferrohsm::mechanism::all()
            .filter(|m| m.digest.is_some())
            .map(|m| m.ty)
            .collect();
        Setup {
            mechs,
            keys: make_keys(t.session),
            digests,
        }
    })
}

/// The buffers and nested structures a parameter points to; they live as long as the call.
#[derive(Default)]
struct Arena {
    bytes: Vec<Vec<u8>>,
    prf: Vec<Vec<CK_PRF_DATA_PARAM>>,
    derived: Vec<Vec<CK_DERIVED_KEY>>,
    handles: Vec<Box<[CK_OBJECT_HANDLE; 1]>>,
    ulongs: Vec<Box<CK_ULONG>>,
}

impl Arena {
    /// A fuzzed buffer: (pointer, length), the pointer NULL (any length) or to the buffer with
    /// its length or a shorter one.
    fn buf(&mut self, r: &mut Reader<'_>) -> (*mut u8, CK_ULONG) {
        let mode = r.u8();
        if mode & 0xf == 0 {
            return (
                ptr::null_mut(),
                if mode & 0x10 != 0 { r.u16() as _ } else { 0 },
            );
        }
        let mut b = r.blob().to_vec();
        let len = if mode & 0x20 != 0 && !b.is_empty() {
            r.u8() as usize % b.len()
        } else {
            b.len()
        };
        b.push(0);
        let p = b.as_mut_ptr();
        self.bytes.push(b);
        (p, len as CK_ULONG)
    }

    fn keep<T: Copy>(&mut self, v: T) -> (*mut c_void, CK_ULONG) {
        let n = size_of::<T>();
        let mut b = vec![0u8; n];
        // SAFETY: `b` has exactly size_of::<T>() bytes; unaligned write.
        unsafe { ptr::write_unaligned(b.as_mut_ptr() as *mut T, v) };
        let p = b.as_mut_ptr();
        self.bytes.push(b);
        (p as *mut c_void, n as CK_ULONG)
    }
}

/// A CK_ULONG field: often one of `good`, else small, else anything.
fn ulong(r: &mut Reader<'_>, good: &[CK_ULONG]) -> CK_ULONG {
    match r.u8() {
        0..=159 if !good.is_empty() => r.pick(good),
        0..=223 => r.u8() as CK_ULONG,
        _ => r.u64() as CK_ULONG,
    }
}

/// Whether a parameter kind's structure holds pointers, and its size(s).
fn pointer_sizes(k: ParamKind) -> &'static [usize] {
    match k {
        ParamKind::Oaep => &[size_of::<CK_RSA_PKCS_OAEP_PARAMS>()],
        ParamKind::Gcm => &[size_of::<CK_GCM_PARAMS>(), 40],
        ParamKind::Ccm => &[size_of::<CK_CCM_PARAMS>()],
        ParamKind::DerivationString => &[size_of::<CK_KEY_DERIVATION_STRING_DATA>()],
        ParamKind::IvData(_) => &[
            size_of::<CK_AES_CBC_ENCRYPT_DATA_PARAMS>(),
            size_of::<CK_DES_CBC_ENCRYPT_DATA_PARAMS>(),
        ],
        ParamKind::Ecdh1 => &[size_of::<CK_ECDH1_DERIVE_PARAMS>()],
        ParamKind::OptionalEddsa => &[size_of::<CK_EDDSA_PARAMS>()],
        ParamKind::OptionalSignContext => &[size_of::<CK_SIGN_ADDITIONAL_CONTEXT>()],
        ParamKind::HashSignContext => &[size_of::<CK_HASH_SIGN_ADDITIONAL_CONTEXT>()],
        ParamKind::Hkdf => &[size_of::<CK_HKDF_PARAMS>()],
        ParamKind::Kbkdf => &[size_of::<CK_SP800_108_KDF_PARAMS>()],
        ParamKind::KbkdfFeedback => &[size_of::<CK_SP800_108_FEEDBACK_KDF_PARAMS>()],
        ParamKind::Pbkd2 => &[size_of::<CK_PKCS5_PBKD2_PARAMS2>()],
        _ => &[],
    }
}

/// The SP 800-108 lists: data parameters and additional derived keys.
fn kbkdf_lists(
    r: &mut Reader<'_>,
    a: &mut Arena,
    template: &[CK_ATTRIBUTE],
) -> (
    CK_ULONG,
    *mut CK_PRF_DATA_PARAM,
    CK_ULONG,
    *mut CK_DERIVED_KEY,
) {
    let n = r.u8() % 6;
    let mut list = Vec::new();
    for _ in 0..n {
        let type_ = ulong(r, &[1, 2, 3, 4]);
        let (p, len) = match r.u8() % 4 {
            0 => a.keep(CK_SP800_108_COUNTER_FORMAT {
                bLittleEndian: r.u8(),
                ulWidthInBits: ulong(r, &[8, 16, 24, 32]),
            }),
            1 => a.keep(CK_SP800_108_DKM_LENGTH_FORMAT {
                dkmLengthMethod: ulong(r, &[1, 2]),
                bLittleEndian: r.u8(),
                ulWidthInBits: ulong(r, &[8, 16, 24, 32]),
            }),
            _ => {
                let (p, l) = a.buf(r);
                (p as *mut c_void, l)
            }
        };
        list.push(CK_PRF_DATA_PARAM {
            type_,
            pValue: p,
            ulValueLen: len,
        });
    }
    let nk = r.u8() % 3;
    let mut keys = Vec::new();
    for _ in 0..nk {
        let mut h = Box::new([0 as CK_OBJECT_HANDLE; 1]);
        let ph = if r.u8() & 7 == 0 {
            ptr::null_mut()
        } else {
            h.as_mut_ptr()
        };
        a.handles.push(h);
        keys.push(CK_DERIVED_KEY {
            pTemplate: template.as_ptr() as *mut _,
            ulAttributeCount: template.len() as CK_ULONG,
            phKey: ph,
        });
    }
    let (nl, pl) = (list.len() as CK_ULONG, list.as_mut_ptr());
    let (nk, pk) = (keys.len() as CK_ULONG, keys.as_mut_ptr());
    a.prf.push(list);
    a.derived.push(keys);
    (
        nl,
        if nl == 0 && r.u8() & 1 == 0 {
            ptr::null_mut()
        } else {
            pl
        },
        nk,
        if nk == 0 { ptr::null_mut() } else { pk },
    )
}

/// The parameter of `def`, as the fuzzer asks: (pointer, length).
fn parameter(
    r: &mut Reader<'_>,
    a: &mut Arena,
    def: &MechDef,
    st: &Setup,
    template: &[CK_ATTRIBUTE],
) -> (*mut c_void, CK_ULONG) {
    let mode = r.u8();
    if mode % 4 == 0 {
        // Raw bytes, never at the exact size of a structure with pointers.
        let (p, mut len) = a.buf(r);
        if pointer_sizes(def.param).contains(&(len as usize)) {
            len -= 1;
        }
        return (p as *mut c_void, len);
    }
    let hashes: Vec<CK_ULONG> = st.digests.clone();
    let mgfs: Vec<CK_ULONG> = (1..=0x10).collect();
    let handles: Vec<CK_ULONG> = st.keys.clone();
    match def.param {
        ParamKind::None => (ptr::null_mut(), 0),
        ParamKind::Pss => a.keep(CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: ulong(r, &hashes),
            mgf: ulong(r, &mgfs),
            sLen: ulong(r, &[0, 20, 32, 48, 64]),
        }),
        ParamKind::Oaep => {
            let (p, l) = a.buf(r);
            a.keep(CK_RSA_PKCS_OAEP_PARAMS {
                hashAlg: ulong(r, &hashes),
                mgf: ulong(r, &mgfs),
                source: ulong(r, &[0, 1]),
                pSourceData: p as *mut c_void,
                ulSourceDataLen: l,
            })
        }
        ParamKind::MacGeneral | ParamKind::Ulong => a.keep(ulong(r, &[0, 4, 8, 16, 20, 32, 64])),
        ParamKind::KeyHandle => a.keep(ulong(r, &handles)),
        ParamKind::Iv(_) | ParamKind::OptionalIv(_) | ParamKind::Bytes => {
            let (p, l) = a.buf(r);
            (p as *mut c_void, l)
        }
        ParamKind::Ctr => {
            let mut cb = [0u8; 16];
            cb.copy_from_slice(&[r.bytes(16), &[0u8; 16][..]].concat()[..16]);
            a.keep(CK_AES_CTR_PARAMS {
                ulCounterBits: ulong(r, &[0, 1, 32, 64, 128, 129]),
                cb,
            })
        }
        ParamKind::Gcm => {
            let (iv, iv_len) = a.buf(r);
            let (aad, aad_len) = a.buf(r);
            let tag = ulong(r, &[0, 32, 64, 96, 104, 112, 120, 128, 136]);
            if r.u8() & 1 == 0 {
                a.keep(CK_GCM_PARAMS {
                    pIv: iv,
                    ulIvLen: iv_len,
                    ulIvBits: ulong(r, &[0, iv_len.wrapping_mul(8)]),
                    pAAD: aad,
                    ulAADLen: aad_len,
                    ulTagBits: tag,
                })
            } else {
                // The 2.40 header's layout, without ulIvBits (40 bytes).
                a.keep([iv as CK_ULONG, iv_len, aad as CK_ULONG, aad_len, tag])
            }
        }
        ParamKind::Ccm => {
            let (n, nl) = a.buf(r);
            let (aad, al) = a.buf(r);
            a.keep(CK_CCM_PARAMS {
                ulDataLen: ulong(r, &[0, 1, 16, 32]),
                pNonce: n,
                ulNonceLen: nl,
                pAAD: aad,
                ulAADLen: al,
                ulMACLen: ulong(r, &[4, 6, 8, 10, 12, 14, 16]),
            })
        }
        ParamKind::DerivationString => {
            let (p, l) = a.buf(r);
            a.keep(CK_KEY_DERIVATION_STRING_DATA { pData: p, ulLen: l })
        }
        ParamKind::IvData(16) => {
            let (p, l) = a.buf(r);
            let mut iv = [0u8; 16];
            iv.copy_from_slice(&[r.bytes(16), &[0u8; 16][..]].concat()[..16]);
            a.keep(CK_AES_CBC_ENCRYPT_DATA_PARAMS {
                iv,
                pData: p,
                length: l,
            })
        }
        ParamKind::IvData(_) => {
            let (p, l) = a.buf(r);
            let mut iv = [0u8; 8];
            iv.copy_from_slice(&[r.bytes(8), &[0u8; 8][..]].concat()[..8]);
            a.keep(CK_DES_CBC_ENCRYPT_DATA_PARAMS {
                iv,
                pData: p,
                length: l,
            })
        }
        ParamKind::Ecdh1 => {
            let (sh, shl) = a.buf(r);
            let (pb, pbl) = a.buf(r);
            a.keep(CK_ECDH1_DERIVE_PARAMS {
                kdf: ulong(r, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
                ulSharedDataLen: shl,
                pSharedData: sh,
                ulPublicDataLen: pbl,
                pPublicData: pb,
            })
        }
        ParamKind::OptionalEddsa => {
            let (p, l) = a.buf(r);
            a.keep(CK_EDDSA_PARAMS {
                phFlag: r.u8(),
                ulContextDataLen: l,
                pContextData: p,
            })
        }
        ParamKind::OptionalSignContext => {
            let (p, l) = a.buf(r);
            a.keep(CK_SIGN_ADDITIONAL_CONTEXT {
                hedgeVariant: ulong(r, &[0, 1, 2]),
                pContext: p,
                ulContextLen: l,
            })
        }
        ParamKind::HashSignContext => {
            let (p, l) = a.buf(r);
            a.keep(CK_HASH_SIGN_ADDITIONAL_CONTEXT {
                hedgeVariant: ulong(r, &[0, 1, 2]),
                pContext: p,
                ulContextLen: l,
                hash: ulong(r, &hashes),
            })
        }
        ParamKind::Hkdf => {
            let (s, sl) = a.buf(r);
            let (i, il) = a.buf(r);
            a.keep(CK_HKDF_PARAMS {
                bExtract: r.u8(),
                bExpand: r.u8(),
                prfHashMechanism: ulong(r, &hashes),
                ulSaltType: ulong(r, &[1, 2, 4]),
                pSalt: s,
                ulSaltLen: sl,
                hSaltKey: ulong(r, &handles),
                pInfo: i,
                ulInfoLen: il,
            })
        }
        ParamKind::Kbkdf => {
            let prf = ulong(r, &[CKM_SHA256_HMAC, CKM_SHA_1_HMAC, CKM_AES_CMAC]);
            let (nd, pd, nk, pk) = kbkdf_lists(r, a, template);
            a.keep(CK_SP800_108_KDF_PARAMS {
                prfType: prf,
                ulNumberOfDataParams: nd,
                pDataParams: pd,
                ulAdditionalDerivedKeys: nk,
                pAdditionalDerivedKeys: pk,
            })
        }
        ParamKind::KbkdfFeedback => {
            let prf = ulong(r, &[CKM_SHA256_HMAC, CKM_SHA_1_HMAC, CKM_AES_CMAC]);
            let (iv, ivl) = a.buf(r);
            let (nd, pd, nk, pk) = kbkdf_lists(r, a, template);
            a.keep(CK_SP800_108_FEEDBACK_KDF_PARAMS {
                prfType: prf,
                ulNumberOfDataParams: nd,
                pDataParams: pd,
                ulIVLen: ivl,
                pIV: iv,
                ulAdditionalDerivedKeys: nk,
                pAdditionalDerivedKeys: pk,
            })
        }
        ParamKind::Pbkd2 => {
            let (salt, sl) = a.buf(r);
            let (prf_data, pl) = a.buf(r);
            let (pw, pwl) = a.buf(r);
            // 3.0: the length itself; 2.40: a pointer to it (the module tells them apart).
            let len_field = if r.u8() & 3 == 0 {
                let b = Box::new(pwl);
                let p = &*b as *const CK_ULONG as CK_ULONG;
                a.ulongs.push(b);
                p
            } else {
                pwl.min(0xffff)
            };
            a.keep(CK_PKCS5_PBKD2_PARAMS2 {
                saltSource: ulong(r, &[1]),
                pSaltSourceData: salt as *mut c_void,
                ulSaltSourceDataLen: sl,
                iterations: ulong(r, &[1, 2, 1000]).min(4096),
                prf: ulong(r, &[1, 2, 3, 4, 5, 6, 7, 8]),
                pPrfData: prf_data as *mut c_void,
                ulPrfDataLen: pl,
                pPassword: pw,
                ulPasswordLen: len_field,
            })
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let st = setup();
    let t = token();
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
    // The template of derived, generated and unwrapped keys: a session object, bounded length.
    let (class, fa) = (CKO_SECRET_KEY, CK_FALSE);
    let kt = CKK_GENERIC_SECRET;
    let value_len: CK_ULONG = (r.u8() % 129) as CK_ULONG;
    let with_len = r.u8() & 1 == 0;
    let mut template = vec![
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr(CKA_TOKEN, &fa),
    ];
    if with_len {
        template.push(attr(CKA_VALUE_LEN, &value_len));
    }
    // The same without a key type, for key generation (the mechanism gives it).
    let gen_template: Vec<CK_ATTRIBUTE> = template
        .iter()
        .filter(|a| a.type_ != CKA_KEY_TYPE)
        .copied()
        .collect();

    for _ in 0..4 {
        if r.is_empty() {
            break;
        }
        let def = st.mechs[r.u16() as usize % st.mechs.len()];
        let key = match r.u8() {
            0xff => r.u64() as CK_OBJECT_HANDLE,
            i => st.keys[i as usize % st.keys.len()],
        };
        let mut arena = Arena::default();
        let (p, len) = parameter(&mut r, &mut arena, def, st, &template);
        let mut m = CK_MECHANISM {
            mechanism: def.ty,
            pParameter: p,
            ulParameterLen: len,
        };
        let input = r.long_blob().to_vec();
        let mut out = vec![0u8; 16384];
        let op = r.u8();
        unsafe {
            let mut out_len = out.len() as CK_ULONG;
            let mut data = input.clone();
            let dp = data.as_mut_ptr();
            let dl = data.len() as CK_ULONG;
            match op % 8 {
                0 if def.crypt.is_some() => {
                    if rv("C_EncryptInit", C_EncryptInit(s, &mut m, key)) == CKR_OK {
                        rv(
                            "C_Encrypt",
                            C_Encrypt(s, dp, dl, out.as_mut_ptr(), &mut out_len),
                        );
                    }
                }
                1 if def.crypt.is_some() => {
                    if rv("C_DecryptInit", C_DecryptInit(s, &mut m, key)) == CKR_OK {
                        rv(
                            "C_Decrypt",
                            C_Decrypt(s, dp, dl, out.as_mut_ptr(), &mut out_len),
                        );
                    }
                }
                2 if def.sign.is_some() => {
                    if rv("C_SignInit", C_SignInit(s, &mut m, key)) == CKR_OK {
                        rv("C_Sign", C_Sign(s, dp, dl, out.as_mut_ptr(), &mut out_len));
                    }
                }
                3 if def.sign.is_some() => {
                    if rv("C_VerifyInit", C_VerifyInit(s, &mut m, key)) == CKR_OK {
                        let half = dl / 2;
                        rv(
                            "C_Verify",
                            C_Verify(s, dp, half, dp.add(half as usize), dl - half),
                        );
                    }
                }
                4 if def.recover.is_some() => {
                    if r.u8() & 1 == 0 {
                        if rv("C_SignRecoverInit", C_SignRecoverInit(s, &mut m, key)) == CKR_OK {
                            rv(
                                "C_SignRecover",
                                C_SignRecover(s, dp, dl, out.as_mut_ptr(), &mut out_len),
                            );
                        }
                    } else if rv("C_VerifyRecoverInit", C_VerifyRecoverInit(s, &mut m, key))
                        == CKR_OK
                    {
                        rv(
                            "C_VerifyRecover",
                            C_VerifyRecover(s, dp, dl, out.as_mut_ptr(), &mut out_len),
                        );
                    }
                }
                5 if def.digest.is_some() => {
                    if rv("C_DigestInit", C_DigestInit(s, &mut m)) == CKR_OK {
                        rv(
                            "C_Digest",
                            C_Digest(s, dp, dl, out.as_mut_ptr(), &mut out_len),
                        );
                    }
                }
                6 if def.keygen.is_some() => {
                    let mut g = gen_template.clone();
                    let mut h = 0;
                    rv(
                        "C_GenerateKey",
                        C_GenerateKey(s, &mut m, g.as_mut_ptr(), g.len() as _, &mut h),
                    );
                }
                6 | 7 if def.derive.is_some() => {
                    let mut tpl = template.clone();
                    let mut h = 0;
                    rv(
                        "C_DeriveKey",
                        C_DeriveKey(s, &mut m, key, tpl.as_mut_ptr(), tpl.len() as _, &mut h),
                    );
                }
                _ if def.crypt.is_some() => {
                    // Wrap one of the keys under `key`, or unwrap the fuzzed bytes with it.
                    if op & 0x80 == 0 {
                        let target = st.keys[r.u8() as usize % st.keys.len()];
                        rv(
                            "C_WrapKey",
                            C_WrapKey(s, &mut m, key, target, out.as_mut_ptr(), &mut out_len),
                        );
                    } else {
                        let mut tpl = template.clone();
                        let mut h = 0;
                        rv(
                            "C_UnwrapKey",
                            C_UnwrapKey(
                                s,
                                &mut m,
                                key,
                                dp,
                                dl,
                                tpl.as_mut_ptr(),
                                tpl.len() as _,
                                &mut h,
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        drop(arena);
    }
    unsafe {
        assert_eq!(C_CloseSession(s), CKR_OK);
    }
});
