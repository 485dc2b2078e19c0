//! The PKCS#11 3.0 message-based encryption API through the built module's 3.0 function list:
//! AES-GCM and AES-CCM known answers single-part and in parts, the length protocol, the IV
//! generators, which errors end what, and IVs that never repeat under a key across two processes
//! and a restart; a 1 GiB GCM round trip in parts in bounded memory.

mod crypto_common;
use crypto_common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use std::collections::HashSet;
use std::ptr::null_mut;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// The module's 3.0 function list, from C_GetInterface("PKCS 11", 3.0), as a 3.0 client gets it.
struct F30 {
    f: &'static CK_FUNCTION_LIST_3_0,
    _lib: libloading::Library,
}

impl F30 {
    fn new() -> F30 {
        let lib = unsafe { libloading::Library::new(module_path()) }.unwrap();
        let f = unsafe {
            let get: libloading::Symbol<
                unsafe extern "C" fn(
                    *mut CK_UTF8CHAR,
                    *mut CK_VERSION,
                    *mut *mut CK_INTERFACE,
                    CK_FLAGS,
                ) -> CK_RV,
            > = lib.get(b"C_GetInterface").unwrap();
            let mut v = CK_VERSION { major: 3, minor: 0 };
            let mut iface: *mut CK_INTERFACE = null_mut();
            assert_eq!(
                get(c"PKCS 11".as_ptr() as *mut _, &mut v, &mut iface, 0),
                CKR_OK
            );
            &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0)
        };
        F30 { f, _lib: lib }
    }
}

/// CK_GCM_MESSAGE_PARAMS with its own IV and tag buffers.
struct Gcm {
    iv: Vec<u8>,
    tag: Vec<u8>,
    p: CK_GCM_MESSAGE_PARAMS,
}

impl Gcm {
    fn new(iv: &[u8], fixed_bits: CK_ULONG, gen: CK_GENERATOR_FUNCTION, tag: &[u8]) -> Box<Gcm> {
        let mut g = Box::new(Gcm {
            iv: iv.to_vec(),
            tag: tag.to_vec(),
            p: CK_GCM_MESSAGE_PARAMS {
                pIv: null_mut(),
                ulIvLen: iv.len() as CK_ULONG,
                ulIvFixedBits: fixed_bits,
                ivGenerator: gen,
                pTag: null_mut(),
                ulTagBits: (tag.len() * 8) as CK_ULONG,
            },
        });
        g.p.pIv = g.iv.as_mut_ptr();
        g.p.pTag = g.tag.as_mut_ptr();
        g
    }
    fn ptr(&mut self) -> (*mut std::ffi::c_void, CK_ULONG) {
        (
            &mut self.p as *mut _ as *mut _,
            std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG,
        )
    }
}

/// CK_CCM_MESSAGE_PARAMS with its own nonce and MAC buffers.
struct Ccm {
    nonce: Vec<u8>,
    mac: Vec<u8>,
    p: CK_CCM_MESSAGE_PARAMS,
}

impl Ccm {
    fn new(data_len: usize, nonce: &[u8], mac: &[u8]) -> Box<Ccm> {
        let mut c = Box::new(Ccm {
            nonce: nonce.to_vec(),
            mac: mac.to_vec(),
            p: CK_CCM_MESSAGE_PARAMS {
                ulDataLen: data_len as CK_ULONG,
                pNonce: null_mut(),
                ulNonceLen: nonce.len() as CK_ULONG,
                ulNonceFixedBits: 0,
                nonceGenerator: CKG_NO_GENERATE,
                pMAC: null_mut(),
                ulMACLen: mac.len() as CK_ULONG,
            },
        });
        c.p.pNonce = c.nonce.as_mut_ptr();
        c.p.pMAC = c.mac.as_mut_ptr();
        c
    }
    fn ptr(&mut self) -> (*mut std::ffi::c_void, CK_ULONG) {
        (
            &mut self.p as *mut _ as *mut _,
            std::mem::size_of::<CK_CCM_MESSAGE_PARAMS>() as CK_ULONG,
        )
    }
}

/// What a part before the last returns for `n` bytes of GCM: all of it when GCM streams (the
/// default backend), nothing when it holds the message until the end (RustCrypto).
fn part_out(n: usize) -> usize {
    if cfg!(feature = "backend-awslc") {
        n
    } else {
        0
    }
}

fn aes_key(s: &Session, value: &[u8], token: bool, label: &str) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(token),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Label(label.into()),
        Attribute::Value(value.to_vec()),
    ])
    .unwrap()
}

fn mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: ty,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

/// One whole message: (rv, output).
unsafe fn one(
    f: &CK_FUNCTION_LIST_3_0,
    hs: CK_SESSION_HANDLE,
    decrypt: bool,
    (p, pl): (*mut std::ffi::c_void, CK_ULONG),
    aad: &[u8],
    data: &[u8],
) -> (CK_RV, Vec<u8>) {
    let call = if decrypt {
        f.C_DecryptMessage.unwrap()
    } else {
        f.C_EncryptMessage.unwrap()
    };
    let mut out = vec![0xeeu8; data.len() + 32];
    let mut n = out.len() as CK_ULONG;
    let rv = call(
        hs,
        p,
        pl,
        aad.as_ptr() as *mut _,
        aad.len() as CK_ULONG,
        data.as_ptr() as *mut _,
        data.len() as CK_ULONG,
        out.as_mut_ptr(),
        &mut n,
    );
    out.truncate(n as usize);
    (rv, out)
}

/// One part of a message: (rv, output).
unsafe fn next(
    f: &CK_FUNCTION_LIST_3_0,
    hs: CK_SESSION_HANDLE,
    decrypt: bool,
    (p, pl): (*mut std::ffi::c_void, CK_ULONG),
    data: &[u8],
    last: bool,
) -> (CK_RV, Vec<u8>) {
    let call = if decrypt {
        f.C_DecryptMessageNext.unwrap()
    } else {
        f.C_EncryptMessageNext.unwrap()
    };
    let flags = if last { CKF_END_OF_MESSAGE } else { 0 };
    // The size first (a part's output is not always its input's length: held messages give
    // everything at the end).
    let mut n: CK_ULONG = 0;
    let rv = call(
        hs,
        p,
        pl,
        data.as_ptr() as *mut _,
        data.len() as CK_ULONG,
        null_mut(),
        &mut n,
        flags,
    );
    if rv != CKR_OK {
        return (rv, Vec::new());
    }
    let mut out = vec![0u8; n as usize];
    let rv = call(
        hs,
        p,
        pl,
        data.as_ptr() as *mut _,
        data.len() as CK_ULONG,
        out.as_mut_ptr(),
        &mut n,
        flags,
    );
    out.truncate(n as usize);
    (rv, out)
}

unsafe fn begin(
    f: &CK_FUNCTION_LIST_3_0,
    hs: CK_SESSION_HANDLE,
    decrypt: bool,
    (p, pl): (*mut std::ffi::c_void, CK_ULONG),
    aad: &[u8],
) -> CK_RV {
    let call = if decrypt {
        f.C_DecryptMessageBegin.unwrap()
    } else {
        f.C_EncryptMessageBegin.unwrap()
    };
    call(hs, p, pl, aad.as_ptr() as *mut _, aad.len() as CK_ULONG)
}

unsafe fn init(
    f: &CK_FUNCTION_LIST_3_0,
    hs: CK_SESSION_HANDLE,
    decrypt: bool,
    ty: CK_MECHANISM_TYPE,
    k: ObjectHandle,
) -> CK_RV {
    let mut m = mech(ty);
    let call = if decrypt {
        f.C_MessageDecryptInit.unwrap()
    } else {
        f.C_MessageEncryptInit.unwrap()
    };
    call(hs, &mut m, k.handle())
}

// The GCM specification's test case 4 (McGrew and Viega): 60 bytes, 20 bytes of AAD.
const K4: &str = "feffe9928665731c6d6a8f9467308308";
const IV4: &str = "cafebabefacedbaddecaf888";
const P4: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const A4: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const C4: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091";
const T4: &str = "5bc94fbc3221a5db94fae95ae7121a47";

#[test]
fn mechanism_info_offers_the_message_api() {
    let env = env();
    for ty in [CKM_AES_GCM, CKM_AES_CCM] {
        let mut info = CK_MECHANISM_INFO::default();
        let rv = unsafe { (env.f.C_GetMechanismInfo.unwrap())(env.slot.id(), ty, &mut info) };
        assert_eq!(rv, CKR_OK);
        let want = CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE;
        assert_eq!(info.flags & want, want, "{ty:#x}");
    }
    let mut info = CK_MECHANISM_INFO::default();
    unsafe { (env.f.C_GetMechanismInfo.unwrap())(env.slot.id(), CKM_AES_CBC, &mut info) };
    assert_eq!(info.flags & CKF_MESSAGE_ENCRYPT, 0);
}

/// Test case 4 single-part both ways; a changed tag, AAD or ciphertext fails with
/// CKR_AEAD_DECRYPT_FAILED and gives no plaintext; the operation outlives each failure.
#[test]
fn gcm_known_answer_single_part() {
    let env = env();
    let s = env.user();
    let hs = s.handle();
    let k = aes_key(&s, &h(K4), false, "k");
    let f30 = F30::new();
    let f = f30.f;
    unsafe {
        assert_eq!(init(f, hs, false, CKM_AES_GCM, k), CKR_OK);
        let mut p = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &[0; 16]);
        let (rv, c) = one(f, hs, false, p.ptr(), &h(A4), &h(P4));
        assert_eq!(rv, CKR_OK);
        assert_eq!(hex::encode(&c), C4);
        assert_eq!(hex::encode(&p.tag), T4);
        // A second message under the same init.
        let (rv, c2) = one(f, hs, false, p.ptr(), b"", b"");
        assert_eq!((rv, c2.len()), (CKR_OK, 0));
        assert_ne!(hex::encode(&p.tag), T4);
        assert_eq!(init(f, hs, false, CKM_AES_GCM, k), CKR_OPERATION_ACTIVE);
        assert_eq!((f.C_MessageEncryptFinal.unwrap())(hs), CKR_OK);
        assert_eq!(
            (f.C_MessageEncryptFinal.unwrap())(hs),
            CKR_OPERATION_NOT_INITIALIZED
        );

        assert_eq!(init(f, hs, true, CKM_AES_GCM, k), CKR_OK);
        let mut p = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &h(T4));
        let (rv, pt) = one(f, hs, true, p.ptr(), &h(A4), &h(C4));
        assert_eq!(rv, CKR_OK);
        assert_eq!(hex::encode(&pt), P4);
        let mut bad_tag = h(T4);
        bad_tag[0] ^= 1;
        let mut bad_ct = h(C4);
        bad_ct[59] ^= 0x80;
        for (tag, aad, ct) in [
            (bad_tag.clone(), h(A4), h(C4)),
            (h(T4), h(A4)[1..].to_vec(), h(C4)),
            (h(T4), h(A4), bad_ct),
        ] {
            let mut p = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &tag);
            let (rv, out) = one(f, hs, true, p.ptr(), &aad, &ct);
            assert_eq!(rv, CKR_AEAD_DECRYPT_FAILED);
            assert!(
                !out.windows(4).any(|w| w == &h(P4)[..4]),
                "plaintext leaked"
            );
        }
        // Still alive.
        let (rv, pt) = one(f, hs, true, p.ptr(), &h(A4), &h(C4));
        assert_eq!((rv, hex::encode(pt)), (CKR_OK, P4.to_string()));
        assert_eq!((f.C_MessageDecryptFinal.unwrap())(hs), CKR_OK);
    }
}

/// RFC 3610 packet vector 1 (AES-CCM, 13-byte nonce, 8-byte MAC) both ways, and a MAC that fails.
#[test]
fn ccm_known_answer() {
    let env = env();
    let s = env.user();
    let hs = s.handle();
    let k = aes_key(&s, &h("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"), false, "k");
    let nonce = h("00000003020100a0a1a2a3a4a5");
    let aad = h("0001020304050607");
    let pt = h("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e");
    let ct = "588c979a61c663d2f066d0c2c0f989806d5f6b61dac384";
    let mac = "17e8d12cfdf926e0";
    let f30 = F30::new();
    let f = f30.f;
    unsafe {
        assert_eq!(init(f, hs, false, CKM_AES_CCM, k), CKR_OK);
        let mut p = Ccm::new(pt.len(), &nonce, &[0; 8]);
        let (rv, c) = one(f, hs, false, p.ptr(), &aad, &pt);
        assert_eq!((rv, hex::encode(&c)), (CKR_OK, ct.to_string()));
        assert_eq!(hex::encode(&p.mac), mac);
        // In parts: the output comes with the last part (CCM holds the message).
        assert_eq!(begin(f, hs, false, p.ptr(), &aad), CKR_OK);
        let (rv, a) = next(f, hs, false, p.ptr(), &pt[..10], false);
        assert_eq!((rv, a.len()), (CKR_OK, 0));
        let (rv, b) = next(f, hs, false, p.ptr(), &pt[10..], true);
        assert_eq!((rv, hex::encode(&b)), (CKR_OK, ct.to_string()));
        assert_eq!(hex::encode(&p.mac), mac);
        // A message whose length is not ulDataLen.
        let (rv, _) = one(f, hs, false, p.ptr(), &aad, &pt[1..]);
        assert_eq!(rv, CKR_DATA_LEN_RANGE);
        // GCM parameters to a CCM operation.
        let mut g = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &[0; 16]);
        assert_eq!(
            one(f, hs, false, g.ptr(), b"", b"x").0,
            CKR_MECHANISM_PARAM_INVALID
        );

        assert_eq!(init(f, hs, true, CKM_AES_CCM, k), CKR_OK);
        let mut p = Ccm::new(pt.len(), &nonce, &h(mac));
        let (rv, back) = one(f, hs, true, p.ptr(), &aad, &h(ct));
        assert_eq!((rv, back), (CKR_OK, pt.clone()));
        let mut bad = h(mac);
        bad[7] ^= 1;
        let mut p = Ccm::new(pt.len(), &nonce, &bad);
        assert_eq!(
            one(f, hs, true, p.ptr(), &aad, &h(ct)).0,
            CKR_AEAD_DECRYPT_FAILED
        );
    }
}

/// Test case 4 in parts of every split, both ways: the same ciphertext and tag as single-part;
/// a wrong tag at the last part fails with CKR_AEAD_DECRYPT_FAILED.
#[test]
fn gcm_in_parts_matches_single_part() {
    let env = env();
    let s = env.user();
    let hs = s.handle();
    let k = aes_key(&s, &h(K4), false, "k");
    let f30 = F30::new();
    let f = f30.f;
    let (pt, ct) = (h(P4), h(C4));
    unsafe {
        assert_eq!(init(f, hs, false, CKM_AES_GCM, k), CKR_OK);
        assert_eq!(init(f, hs, true, CKM_AES_GCM, k), CKR_OK);
        for cut in [0, 1, 15, 16, 17, 59, 60] {
            let mut p = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &[0; 16]);
            assert_eq!(begin(f, hs, false, p.ptr(), &h(A4)), CKR_OK);
            assert_eq!(begin(f, hs, false, p.ptr(), &h(A4)), CKR_OPERATION_ACTIVE);
            let (rv, a) = next(f, hs, false, p.ptr(), &pt[..cut], false);
            assert_eq!(rv, CKR_OK);
            let (rv, b) = next(f, hs, false, p.ptr(), &pt[cut..], true);
            assert_eq!(rv, CKR_OK);
            assert_eq!(hex::encode([a, b].concat()), C4, "cut {cut}");
            assert_eq!(hex::encode(&p.tag), T4);
            // The message ended: a part without a begin is refused.
            assert_eq!(
                next(f, hs, false, p.ptr(), b"x", true).0,
                CKR_OPERATION_NOT_INITIALIZED
            );

            let mut p = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &h(T4));
            assert_eq!(begin(f, hs, true, p.ptr(), &h(A4)), CKR_OK);
            let (rv, a) = next(f, hs, true, p.ptr(), &ct[..cut], false);
            assert_eq!(rv, CKR_OK);
            let (rv, b) = next(f, hs, true, p.ptr(), &ct[cut..], true);
            assert_eq!(rv, CKR_OK);
            assert_eq!(hex::encode([a, b].concat()), P4, "cut {cut}");

            p.tag[3] ^= 1;
            assert_eq!(begin(f, hs, true, p.ptr(), &h(A4)), CKR_OK);
            next(f, hs, true, p.ptr(), &ct[..cut], false);
            assert_eq!(
                next(f, hs, true, p.ptr(), &ct[cut..], true).0,
                CKR_AEAD_DECRYPT_FAILED
            );
        }
    }
}

/// A NULL tag buffer: fine for a message's first parts (the tag comes at the end), refused for a
/// whole message or a last part, and nothing is encrypted then.
#[test]
fn null_tag_buffer() {
    let env = env();
    let s = env.user();
    let hs = s.handle();
    let k = aes_key(&s, &h(K4), false, "k");
    let f30 = F30::new();
    let f = f30.f;
    unsafe {
        assert_eq!(init(f, hs, false, CKM_AES_GCM, k), CKR_OK);
        assert_eq!(init(f, hs, true, CKM_AES_GCM, k), CKR_OK);
        let mut none = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &[0; 16]);
        none.p.pTag = null_mut();
        assert_eq!(
            one(f, hs, false, none.ptr(), b"", b"abc").0,
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            one(f, hs, true, none.ptr(), b"", b"abc").0,
            CKR_MECHANISM_PARAM_INVALID
        );
        for decrypt in [false, true] {
            let data = if decrypt { h(C4) } else { h(P4) };
            assert_eq!(begin(f, hs, decrypt, none.ptr(), &h(A4)), CKR_OK);
            let (rv, a) = next(f, hs, decrypt, none.ptr(), &data[..20], false);
            assert_eq!((rv, a.len()), (CKR_OK, part_out(20)));
            assert_eq!(
                next(f, hs, decrypt, none.ptr(), &data[20..], true).0,
                CKR_MECHANISM_PARAM_INVALID
            );
            // That ended the message; the operation goes on.
            let tag = if decrypt { h(T4) } else { vec![0; 16] };
            let mut p = Gcm::new(&h(IV4), 0, CKG_NO_GENERATE, &tag);
            assert_eq!(begin(f, hs, decrypt, none.ptr(), &h(A4)), CKR_OK);
            let (rv, a) = next(f, hs, decrypt, none.ptr(), &data[..20], false);
            assert_eq!(rv, CKR_OK);
            let (rv, b) = next(f, hs, decrypt, p.ptr(), &data[20..], true);
            assert_eq!(rv, CKR_OK);
            let want = if decrypt { P4 } else { C4 };
            assert_eq!(hex::encode([a, b].concat()), want);
            if !decrypt {
                assert_eq!(hex::encode(&p.tag), T4);
            }
        }
    }
}

/// The length protocol: a NULL buffer learns the size, a short one gets CKR_BUFFER_TOO_SMALL,
/// and neither uses an IV or ends anything.
#[test]
fn length_protocol_uses_no_iv() {
    let env = env();
    let s = env.user();
    let hs = s.handle();
    let k = aes_key(&s, &[1; 16], false, "k");
    let f30 = F30::new();
    let f = f30.f;
    unsafe {
        assert_eq!(init(f, hs, false, CKM_AES_GCM, k), CKR_OK);
        let mut p = Gcm::new(&[0xaa; 12], 32, CKG_GENERATE_COUNTER, &[0; 16]);
        let (pp, pl) = p.ptr();
        let data = [5u8; 20];
        let mut n: CK_ULONG = 0;
        let enc = f.C_EncryptMessage.unwrap();
        let rv = enc(
            hs,
            pp,
            pl,
            null_mut(),
            0,
            data.as_ptr() as *mut _,
            20,
            null_mut(),
            &mut n,
        );
        assert_eq!((rv, n), (CKR_OK, 20));
        let mut small = [0u8; 19];
        n = 19;
        let rv = enc(
            hs,
            pp,
            pl,
            null_mut(),
            0,
            data.as_ptr() as *mut _,
            20,
            small.as_mut_ptr(),
            &mut n,
        );
        assert_eq!((rv, n), (CKR_BUFFER_TOO_SMALL, 20));
        assert_eq!(p.iv, [0xaa; 12], "no IV was generated");
        let (rv, c) = one(f, hs, false, p.ptr(), b"", &data);
        assert_eq!((rv, c.len()), (CKR_OK, 20));
        assert_eq!(p.iv[..4], [0xaa; 4], "the fixed part is kept");
        let first = p.iv.clone();
        // Parts: the size of a part, then of the last one.
        assert_eq!(begin(f, hs, false, p.ptr(), b""), CKR_OK);
        assert_ne!(p.iv, first);
        let nx = f.C_EncryptMessageNext.unwrap();
        n = 0;
        let rv = nx(
            hs,
            pp,
            pl,
            data.as_ptr() as *mut _,
            20,
            null_mut(),
            &mut n,
            0,
        );
        assert_eq!((rv, n), (CKR_OK, part_out(20) as CK_ULONG));
        n = 0;
        let rv = nx(
            hs,
            pp,
            pl,
            data.as_ptr() as *mut _,
            20,
            null_mut(),
            &mut n,
            CKF_END_OF_MESSAGE,
        );
        assert_eq!((rv, n), (CKR_OK, 20));
        let (rv, c) = next(f, hs, false, p.ptr(), &data, true);
        assert_eq!((rv, c.len()), (CKR_OK, 20));
    }
}

/// The generators: counter IVs keep the fixed bits and count up; random IVs need 96 free bits;
/// a decryption takes no generator; fixed bits longer than the IV, or a bit count that is not a
/// whole byte for the tag, are refused. C_SessionCancel ends a message-based operation.
#[test]
fn iv_generators() {
    let env = env();
    let s = env.user();
    let hs = s.handle();
    let k = aes_key(&s, &[2; 32], false, "k");
    let f30 = F30::new();
    let f = f30.f;
    unsafe {
        assert_eq!(init(f, hs, false, CKM_AES_GCM, k), CKR_OK);
        let mut seen = Vec::new();
        for _ in 0..5 {
            let mut p = Gcm::new(
                &h("0123456789abcdef01234567"),
                36,
                CKG_GENERATE_COUNTER,
                &[0; 16],
            );
            assert_eq!(one(f, hs, false, p.ptr(), b"", b"abc").0, CKR_OK);
            assert_eq!(hex::encode(&p.iv[..4]), "01234567");
            assert_eq!(p.iv[4] & 0xf0, 0x80, "bits 33 to 36 kept");
            seen.push(u64::from_be_bytes(p.iv[4..].try_into().unwrap()) & ((1 << 60) - 1));
        }
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
        // CKG_GENERATE is the counter too.
        let mut p = Gcm::new(&[0; 12], 0, CKG_GENERATE, &[0; 16]);
        assert_eq!(one(f, hs, false, p.ptr(), b"", b"abc").0, CKR_OK);
        assert_eq!(
            u64::from_be_bytes(p.iv[4..].try_into().unwrap()),
            seen[4] + 1
        );
        let mut ivs = HashSet::new();
        for _ in 0..50 {
            let mut p = Gcm::new(&[0; 12], 0, CKG_GENERATE_RANDOM, &[0; 16]);
            assert_eq!(one(f, hs, false, p.ptr(), b"", b"abc").0, CKR_OK);
            assert!(ivs.insert(p.iv.clone()));
        }
        for (iv, fixed, gen, tag_len) in [
            (vec![0; 12], 8, CKG_GENERATE_RANDOM, 16),
            (vec![0; 12], 97, CKG_GENERATE_COUNTER, 16),
            (vec![0; 12], 96, CKG_GENERATE_COUNTER, 16),
            (vec![0; 12], 0, 99, 16),
            (vec![0; 12], 0, CKG_NO_GENERATE, 8),
            (vec![0; 11], 0, CKG_NO_GENERATE, 16),
        ] {
            let mut p = Gcm::new(&iv, fixed, gen, &vec![0; tag_len]);
            let r = one(f, hs, false, p.ptr(), b"", b"abc").0;
            assert_eq!(r, CKR_MECHANISM_PARAM_INVALID, "{fixed} {gen} {tag_len}");
        }
        let mut p = Gcm::new(&[0; 12], 0, CKG_NO_GENERATE, &[0; 16]);
        p.p.ulTagBits = 127;
        assert_eq!(
            one(f, hs, false, p.ptr(), b"", b"abc").0,
            CKR_MECHANISM_PARAM_INVALID
        );
        // A parameter of neither size, or none.
        let (pp, _) = p.ptr();
        let mut out = [0u8; 8];
        let mut n: CK_ULONG = 8;
        let enc = f.C_EncryptMessage.unwrap();
        assert_eq!(
            enc(
                hs,
                pp,
                40,
                null_mut(),
                0,
                b"abc".as_ptr() as *mut _,
                3,
                out.as_mut_ptr(),
                &mut n
            ),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            enc(
                hs,
                null_mut(),
                0,
                null_mut(),
                0,
                b"abc".as_ptr() as *mut _,
                3,
                out.as_mut_ptr(),
                &mut n
            ),
            CKR_ARGUMENTS_BAD
        );
        // No output length; no input with a length; no AAD with a length.
        let mut g = Gcm::new(&[0; 12], 0, CKG_NO_GENERATE, &[0; 16]);
        let (gp, gl) = g.ptr();
        let abc = b"abc".as_ptr() as *mut u8;
        for (aad, aad_len, data, len_ptr) in [
            (null_mut(), 0, abc, null_mut()),
            (null_mut(), 0, null_mut(), &mut n as *mut CK_ULONG),
            (null_mut(), 5, abc, &mut n as *mut CK_ULONG),
        ] {
            let r = enc(hs, gp, gl, aad, aad_len, data, 3, out.as_mut_ptr(), len_ptr);
            assert_eq!(r, CKR_ARGUMENTS_BAD);
        }
        let nx = f.C_EncryptMessageNext.unwrap();
        assert_eq!(begin(f, hs, false, g.ptr(), b""), CKR_OK);
        let r = nx(hs, gp, gl, abc, 3, out.as_mut_ptr(), null_mut(), 0);
        assert_eq!(r, CKR_ARGUMENTS_BAD);

        assert_eq!(init(f, hs, true, CKM_AES_GCM, k), CKR_OK);
        let mut p = Gcm::new(&[0; 12], 0, CKG_GENERATE_COUNTER, &[0; 16]);
        assert_eq!(
            one(f, hs, true, p.ptr(), b"", b"abc").0,
            CKR_MECHANISM_PARAM_INVALID
        );

        // No free bits at all, on a key whose counter is still at 0: refused too (a first
        // message would otherwise take the caller's IV as it is).
        let fresh = aes_key(&s, &[0x33; 16], false, "fresh");
        assert_eq!(init(f, hs, false, CKM_AES_GCM, fresh), CKR_OPERATION_ACTIVE);
        assert_eq!((f.C_MessageEncryptFinal.unwrap())(hs), CKR_OK);
        assert_eq!(init(f, hs, false, CKM_AES_GCM, fresh), CKR_OK);
        let mut p = Gcm::new(&[0; 12], 96, CKG_GENERATE_COUNTER, &[0; 16]);
        assert_eq!(
            one(f, hs, false, p.ptr(), b"", b"abc").0,
            CKR_MECHANISM_PARAM_INVALID
        );

        // Each key value has a counter of its own: another key's first counter IV is 0.
        let other = aes_key(&s, &[0x44; 16], false, "other");
        assert_eq!((f.C_MessageEncryptFinal.unwrap())(hs), CKR_OK);
        assert_eq!(init(f, hs, false, CKM_AES_GCM, other), CKR_OK);
        let mut p = Gcm::new(&[0xee; 12], 32, CKG_GENERATE_COUNTER, &[0; 16]);
        assert_eq!(one(f, hs, false, p.ptr(), b"", b"abc").0, CKR_OK);
        assert_eq!(hex::encode(&p.iv), "eeeeeeee0000000000000000");

        // C_SessionCancel ends both.
        assert_eq!(
            (f.C_SessionCancel.unwrap())(hs, CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT),
            CKR_OK
        );
        let mut p = Gcm::new(&[0; 12], 0, CKG_NO_GENERATE, &[0; 16]);
        assert_eq!(
            one(f, hs, false, p.ptr(), b"", b"abc").0,
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(
            one(f, hs, true, p.ptr(), b"", b"abc").0,
            CKR_OPERATION_NOT_INITIALIZED
        );
    }
}

/// C_MessageEncryptInit's checks: the mechanism's own parameter must be absent; the key must
/// allow encryption; only GCM and CCM; an unknown session or key.
#[test]
fn init_checks() {
    let env = env();
    let s = env.user();
    let hs = s.handle();
    let k = aes_key(&s, &[3; 16], false, "k");
    let no_enc = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Encrypt(false),
            Attribute::Value(vec![4; 16]),
        ])
        .unwrap();
    let f30 = F30::new();
    let f = f30.f;
    unsafe {
        let call = f.C_MessageEncryptInit.unwrap();
        let mut iv = [0u8; 12];
        let mut m = CK_MECHANISM {
            mechanism: CKM_AES_GCM,
            pParameter: iv.as_mut_ptr() as *mut _,
            ulParameterLen: 12,
        };
        assert_eq!(call(hs, &mut m, k.handle()), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(
            init(f, hs, false, CKM_AES_GCM, no_enc),
            CKR_KEY_FUNCTION_NOT_PERMITTED
        );
        assert_eq!(init(f, hs, false, CKM_AES_CBC, k), CKR_MECHANISM_INVALID);
        let mut m = mech(CKM_AES_GCM);
        assert_eq!(call(hs, &mut m, 0xdead), CKR_KEY_HANDLE_INVALID);
        assert_eq!(
            init(f, 0xdead, false, CKM_AES_GCM, k),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(call(hs, null_mut(), k.handle()), CKR_ARGUMENTS_BAD);
        assert_eq!(
            (f.C_MessageEncryptFinal.unwrap())(hs),
            CKR_OPERATION_NOT_INITIALIZED
        );
    }
}

// ---- IVs across processes ----------------------------------------------------------------------

const KEY_LABEL: &str = "iv-key";
const PER_PROCESS: usize = 3000;

/// Encrypts `n` messages under the token key labelled KEY_LABEL with CKG_GENERATE_COUNTER (24
/// fixed bits) and returns their IVs; `copy`: through a session object holding the same value.
fn counter_ivs(p: &Pkcs11, n: usize, copy: bool) -> Vec<String> {
    let slot = p.get_slots_with_initialized_token().unwrap()[0];
    let s = p.open_rw_session(slot).unwrap();
    if s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))
        .is_err()
    {
        // Already logged in by another session of this process.
    }
    let found = s
        .find_objects(&[Attribute::Label(KEY_LABEL.into())])
        .unwrap();
    let mut k = found[0];
    if copy {
        let value = match &s
            .get_attributes(k, &[cryptoki::object::AttributeType::Value])
            .unwrap()[0]
        {
            Attribute::Value(v) => v.clone(),
            _ => unreachable!(),
        };
        k = aes_key(&s, &value, false, "copy");
    }
    let f30 = F30::new();
    let f = f30.f;
    let mut v = Vec::with_capacity(n);
    unsafe {
        assert_eq!(init(f, s.handle(), false, CKM_AES_GCM, k), CKR_OK);
        for _ in 0..n {
            let mut m = Gcm::new(
                &h("c0ffee000000000000000000"),
                24,
                CKG_GENERATE_COUNTER,
                &[0; 16],
            );
            assert_eq!(one(f, s.handle(), false, m.ptr(), b"", b"m").0, CKR_OK);
            v.push(hex::encode(&m.iv));
        }
    }
    v
}

#[test]
#[ignore = "child process of ivs_never_repeat_across_processes_and_restarts"]
fn iv_child() {
    let Ok(out) = std::env::var("FERROHSM_TEST_IV_OUT") else {
        return;
    };
    let copy = std::env::var("FERROHSM_TEST_IV_COPY").is_ok();
    let p = Pkcs11::new(module_path()).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let ivs = counter_ivs(&p, PER_PROCESS, copy);
    std::fs::write(out, ivs.join("\n")).unwrap();
}

/// Two processes (one through a session-object copy of the key's value) encrypt at the same time
/// as this one, then this one restarts and goes on: 4 x 3000 generated IVs, all different.
#[test]
fn ivs_never_repeat_across_processes_and_restarts() {
    let mut env = env();
    {
        let s = env.user();
        // Readable, so the second process can import a copy of its value.
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Encrypt(true),
            Attribute::Label(KEY_LABEL.into()),
            Attribute::Value(vec![9; 32]),
        ])
        .unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let kids: Vec<(std::process::Child, std::path::PathBuf)> = (0..2)
        .map(|i| {
            let out = env.dir.path().join(format!("ivs{i}"));
            let mut c = std::process::Command::new(&exe);
            c.args(["--exact", "iv_child", "--ignored", "--test-threads=1"])
                .env("FERROHSM_TEST_IV_OUT", &out)
                .env("FERROHSM_MODULE", module_path());
            if i == 1 {
                c.env("FERROHSM_TEST_IV_COPY", "1");
            }
            (c.spawn().unwrap(), out)
        })
        .collect();
    let mut all = counter_ivs(env.p(), PER_PROCESS, false);
    for (mut c, out) in kids {
        assert!(c.wait().unwrap().success());
        let got = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<String> = got.lines().map(String::from).collect();
        assert_eq!(lines.len(), PER_PROCESS);
        all.extend(lines);
    }
    env.restart();
    all.extend(counter_ivs(env.p(), PER_PROCESS, false));
    assert!(all.iter().all(|iv| iv.starts_with("c0ffee")));
    let distinct: HashSet<&String> = all.iter().collect();
    println!(
        "{} generated IVs from 3 processes and a restart, {} distinct",
        all.len(),
        distinct.len()
    );
    assert_eq!(distinct.len(), 4 * PER_PROCESS);
}

// ---- 1 GiB -------------------------------------------------------------------------------------

/// 1 GiB through AES-GCM in 1 MiB parts, encrypted and decrypted part by part in two sessions:
/// both directions stream (aws-lc backend), so the peak RSS stays far below the data size, and
/// the tag verifies at the end. On the RustCrypto backend GCM holds each message up to its
/// 256 MiB cap, which the test checks instead.
#[test]
fn one_gib_gcm_round_trip_in_bounded_memory() {
    use sha2::Digest;
    let env = env();
    let s = env.user();
    let s2 = env.p().open_rw_session(env.slot).unwrap();
    let k = aes_key(&s, &[7; 32], false, "k");
    let f30 = F30::new();
    let f = f30.f;
    let base: Vec<u8> = (0..1usize << 20).map(|j| (j * 7 + j / 251) as u8).collect();
    let total = 1024;
    unsafe {
        assert_eq!(init(f, s.handle(), false, CKM_AES_GCM, k), CKR_OK);
        assert_eq!(init(f, s2.handle(), true, CKM_AES_GCM, k), CKR_OK);
        let mut e = Gcm::new(&[0; 12], 0, CKG_GENERATE, &[0; 16]);
        assert_eq!(begin(f, s.handle(), false, e.ptr(), b"backup"), CKR_OK);
        let mut d = Gcm::new(&e.iv, 0, CKG_NO_GENERATE, &[0; 16]);
        assert_eq!(begin(f, s2.handle(), true, d.ptr(), b"backup"), CKR_OK);
        let (mut h_in, mut h_out) = (sha2::Sha256::new(), sha2::Sha256::new());
        let mut out_len = 0;
        for i in 0..total {
            let mut p = base.clone();
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
            h_in.update(&p);
            let last = i == total - 1;
            let (rv, c) = next(f, s.handle(), false, e.ptr(), &p, last);
            if cfg!(not(feature = "backend-awslc")) && i == 256 {
                assert_eq!(rv, CKR_DATA_LEN_RANGE, "the held-message cap");
                return;
            }
            assert_eq!(rv, CKR_OK);
            if last {
                d.tag.copy_from_slice(&e.tag);
            }
            let (rv, back) = next(f, s2.handle(), true, d.ptr(), &c, last);
            assert_eq!(rv, CKR_OK, "part {i}");
            out_len += back.len();
            h_out.update(&back);
        }
        assert_eq!(out_len, total << 20);
        assert_eq!(h_in.finalize(), h_out.finalize());
    }
    let hwm = peak_rss_kib();
    println!(
        "1 GiB AES-GCM message in parts, both ways: peak RSS {} MiB",
        hwm / 1024
    );
    assert!(hwm < 256 * 1024, "peak RSS {hwm} KiB");
}

fn env() -> Env {
    Env::new()
}
