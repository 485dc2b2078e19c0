//! AES and triple DES through the built module: key generation and import rules, the key check
//! value, every mode single- and multi-part with the C length protocol, both CK_GCM_PARAMS
//! layouts, in-place encryption, which errors end an operation, and C_DeriveKey.

mod crypto_common;
use crypto_common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::ekdf::AesCbcDeriveParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

fn secret(
    s: &Session,
    kt: KeyType,
    value: &[u8],
    extra: &[Attribute],
) -> cryptoki::error::Result<ObjectHandle> {
    let mut t: Vec<Attribute> = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Derive(true),
        Attribute::Value(value.to_vec()),
    ]
    .into_iter()
    .filter(|a| {
        !extra
            .iter()
            .any(|e| e.attribute_type() == a.attribute_type())
    })
    .collect();
    t.extend_from_slice(extra);
    s.create_object(&t)
}

/// An attribute's raw value through C_GetAttributeValue (both calls of the length protocol).
fn raw(s: &Session, o: ObjectHandle, t: AttributeType) -> Vec<u8> {
    let f = crate::F.with(|f| f.get().copied().unwrap());
    let mut a = CK_ATTRIBUTE {
        type_: t.into(),
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    };
    unsafe {
        assert_eq!(
            (f.C_GetAttributeValue.unwrap())(s.handle(), o.handle(), &mut a, 1),
            CKR_OK
        );
        let mut v = vec![0u8; a.ulValueLen as usize];
        a.pValue = v.as_mut_ptr() as *mut _;
        assert_eq!(
            (f.C_GetAttributeValue.unwrap())(s.handle(), o.handle(), &mut a, 1),
            CKR_OK
        );
        v
    }
}

fn ulong_attr(s: &Session, o: ObjectHandle, t: AttributeType) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(raw(s, o, t).try_into().unwrap())
}

fn bool_attr(s: &Session, o: ObjectHandle, t: AttributeType) -> bool {
    raw(s, o, t) == [1]
}

thread_local! {
    /// The function list of the test's module, for [`raw`].
    static F: std::cell::OnceCell<&'static CK_FUNCTION_LIST> = const { std::cell::OnceCell::new() };
}

fn env() -> Env {
    let e = Env::new();
    F.with(|f| {
        let _ = f.set(e.f);
    });
    e
}

const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

#[test]
fn key_generation_import_and_check_value() {
    let env = env();
    let s = env.user();
    for len in [16u64, 24, 32] {
        let k = s
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::ValueLen(len.into()),
                    Attribute::Token(false),
                    Attribute::Extractable(true),
                ],
            )
            .unwrap();
        assert_eq!(ulong_attr(&s, k, AttributeType::ValueLen), len);
        assert_eq!(ulong_attr(&s, k, AttributeType::KeyType), CKK_AES);
        assert!(bool_attr(&s, k, AttributeType::Local));
        let v = raw(&s, k, AttributeType::Value);
        // CKA_CHECK_VALUE: the first three bytes of the zero block's encryption.
        let z = s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
        assert_eq!(raw(&s, k, AttributeType::CheckValue), z[..3]);
        assert_eq!(v.len() as u64, len);
    }
    // CKA_VALUE_LEN is required, and must be an AES length.
    assert_eq!(
        rv(s.generate_key(&Mechanism::AesKeyGen, &[]).unwrap_err()),
        RvError::TemplateIncomplete
    );
    assert_eq!(
        rv(
            s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(20.into())])
                .unwrap_err()
        ),
        RvError::KeySizeRange
    );
    // Import: the lengths are checked; a given check value must be right.
    assert_eq!(
        rv(secret(&s, KeyType::AES, &[1; 20], &[]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    let k = secret(&s, KeyType::AES, &h(K128), &[]).unwrap();
    let kcv = raw(&s, k, AttributeType::CheckValue);
    assert_eq!(kcv.len(), 3);
    secret(
        &s,
        KeyType::AES,
        &h(K128),
        &[Attribute::CheckValue(kcv.clone())],
    )
    .unwrap();
    let mut wrong = kcv.clone();
    wrong[0] ^= 1;
    assert_eq!(
        rv(secret(&s, KeyType::AES, &h(K128), &[Attribute::CheckValue(wrong)]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    // Triple DES: fixed lengths, generated with DES parity; generic keys: SHA-1 check value.
    for (m, kt, n) in [
        (Mechanism::Des3KeyGen, CKK_DES3, 24usize),
        (Mechanism::Des2KeyGen, CKK_DES2, 16),
    ] {
        let k = s
            .generate_key(&m, &[Attribute::Token(false), Attribute::Extractable(true)])
            .unwrap();
        assert_eq!(ulong_attr(&s, k, AttributeType::KeyType), kt);
        let v = raw(&s, k, AttributeType::Value);
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|b| b.count_ones() % 2 == 1), "DES parity");
        assert_eq!(raw(&s, k, AttributeType::CheckValue).len(), 3);
    }
    assert_eq!(
        rv(secret(&s, KeyType::DES3, &[1; 16], &[]).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    let g = secret(&s, KeyType::GENERIC_SECRET, b"abc", &[]).unwrap();
    assert_eq!(raw(&s, g, AttributeType::CheckValue), h("a9993e"));
    // The check value is the module's: it cannot be set later.
    assert_eq!(
        rv(
            s.update_attributes(k, &[Attribute::CheckValue(vec![0, 0, 0])])
                .unwrap_err()
        ),
        RvError::AttributeReadOnly
    );
}

#[test]
fn modes_single_and_multi_part() {
    let env = env();
    let s = env.user();
    let k = secret(&s, KeyType::AES, &h(K128), &[]).unwrap();
    let pt = h(PT);
    let iv = h("000102030405060708090a0b0c0d0e0f");
    let cases: Vec<(Mechanism, Vec<u8>)> = vec![
        (
            Mechanism::AesEcb,
            h(
                "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf
               43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
            ),
        ),
        (
            Mechanism::AesCbc(iv.clone().try_into().unwrap()),
            h(
                "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
               73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
            ),
        ),
    ];
    for (m, want) in &cases {
        assert_eq!(&s.encrypt(m, k, &pt).unwrap(), want);
        assert_eq!(s.decrypt(m, k, want).unwrap(), pt);
        // Multi-part in odd chunks gives the same.
        s.encrypt_init(m, k).unwrap();
        let mut got = Vec::new();
        for c in pt.chunks(7) {
            got.extend(s.encrypt_update(c).unwrap());
        }
        got.extend(s.encrypt_final().unwrap());
        assert_eq!(&got, want);
        s.decrypt_init(m, k).unwrap();
        let mut back = Vec::new();
        for c in want.chunks(5) {
            back.extend(s.decrypt_update(c).unwrap());
        }
        back.extend(s.decrypt_final().unwrap());
        assert_eq!(back, pt);
    }
    // CBC_PAD round trips every length, and the ciphertext is padded to the next block.
    for n in [0usize, 1, 15, 16, 17, 63, 64] {
        let m = Mechanism::AesCbcPad(iv.clone().try_into().unwrap());
        let c = s.encrypt(&m, k, &pt[..n]).unwrap();
        assert_eq!(c.len(), (n / 16 + 1) * 16);
        assert_eq!(s.decrypt(&m, k, &c).unwrap(), &pt[..n]);
    }
    // GCM, the spec's test case 3.
    let kg = secret(
        &s,
        KeyType::AES,
        &h("feffe9928665731c6d6a8f9467308308"),
        &[],
    )
    .unwrap();
    let mut giv = h("cafebabefacedbaddecaf888");
    let gpt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    let gct = h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985 4d5c2af327cd64a62cf35abd2ba6fab4");
    let gm = Mechanism::AesGcm(GcmParams::new(&mut giv, b"", 128.into()).unwrap());
    assert_eq!(s.encrypt(&gm, kg, &gpt).unwrap(), gct);
    assert_eq!(s.decrypt(&gm, kg, &gct).unwrap(), gpt);
    let mut bad = gct.clone();
    bad[3] ^= 1;
    assert_eq!(
        rv(s.decrypt(&gm, kg, &bad).unwrap_err()),
        RvError::EncryptedDataInvalid
    );
    // Triple DES (OpenSSL's answer for this key and plaintext).
    let k3 = secret(
        &s,
        KeyType::DES3,
        &h("0123456789abcdeffedcba987654321089abcdef01234567"),
        &[],
    )
    .unwrap();
    assert_eq!(
        s.encrypt(&Mechanism::Des3Ecb, k3, &pt[..32]).unwrap(),
        h("a40aa617219768d8c81f1f9d43f698947c8ce5f35f9885da25588f8d5e1d925a")
    );
    // A key of another type is refused at init.
    assert_eq!(
        rv(s.encrypt(&Mechanism::Des3Ecb, k, &pt).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(s.encrypt(&Mechanism::AesEcb, k3, &pt).unwrap_err()),
        RvError::KeyTypeInconsistent
    );
}

/// Multi-part AES-GCM: on the aws-lc backend each C_EncryptUpdate returns exactly its input's
/// ciphertext (a NULL-buffer length query says so first) and C_EncryptFinal the tag alone; the
/// RustCrypto backend returns everything at the final call. Either way ciphertext || tag equals
/// the single-part output, and decryption releases nothing before C_DecryptFinal.
#[test]
fn gcm_multipart_encryption_streams() {
    let env = env();
    let s = env.user();
    let f = env.f;
    let hs = s.handle();
    let msg: Vec<u8> = (0..70_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    for (kv, iv_len, tag_bits) in [
        (h("feffe9928665731c6d6a8f9467308308"), 12usize, 128u64),
        (h("feffe9928665731c6d6a8f9467308308"), 8, 96),
        (vec![7u8; 32], 16, 120),
        (vec![9u8; 24], 12, 104),
    ] {
        let k = secret(&s, KeyType::AES, &kv, &[]).unwrap();
        let mut iv: Vec<u8> = (0..iv_len as u8).collect();
        let m = Mechanism::AesGcm(GcmParams::new(&mut iv, b"header", tag_bits.into()).unwrap());
        let tag_len = tag_bits as usize / 8;
        let single = s.encrypt(&m, k, &msg).unwrap();
        assert_eq!(single.len(), msg.len() + tag_len);
        s.encrypt_init(&m, k).unwrap();
        let mut got = Vec::new();
        let mut rest = &msg[..];
        for n in [1usize, 15, 17, 4096, 65536].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (c, r) = rest.split_at((*n).min(rest.len()));
            rest = r;
            let mut need: CK_ULONG = 0;
            let rv = unsafe {
                (f.C_EncryptUpdate.unwrap())(
                    hs,
                    c.as_ptr() as *mut _,
                    c.len() as _,
                    std::ptr::null_mut(),
                    &mut need,
                )
            };
            assert_eq!(rv, CKR_OK);
            let out = s.encrypt_update(c).unwrap();
            assert_eq!(out.len(), need as usize);
            if cfg!(feature = "backend-awslc") {
                assert_eq!(out.len(), c.len());
            } else {
                assert!(out.is_empty());
            }
            got.extend(out);
        }
        let last = s.encrypt_final().unwrap();
        if cfg!(feature = "backend-awslc") {
            assert_eq!(last.len(), tag_len);
        }
        got.extend(last);
        assert_eq!(got, single, "iv {iv_len} tag {tag_bits}");
        // Decryption holds its input: nothing before the final call, which checks the tag.
        s.decrypt_init(&m, k).unwrap();
        for c in single.chunks(4096) {
            assert!(s.decrypt_update(c).unwrap().is_empty());
        }
        assert_eq!(s.decrypt_final().unwrap(), msg);
        let mut bad = single.clone();
        *bad.last_mut().unwrap() ^= 1;
        s.decrypt_init(&m, k).unwrap();
        assert!(s.decrypt_update(&bad).unwrap().is_empty());
        assert_eq!(
            rv(s.decrypt_final().unwrap_err()),
            RvError::EncryptedDataInvalid
        );
    }
}

/// The C length protocol on update and final calls, in-place encryption, and which errors end
/// an operation.
#[test]
fn length_protocol_in_place_and_state() {
    let env = env();
    let s = env.user();
    let k = secret(&s, KeyType::AES, &h(K128), &[]).unwrap();
    let f = env.f;
    let hs = s.handle();
    let mut iv = h("000102030405060708090a0b0c0d0e0f");
    let pt = h(PT);
    unsafe {
        let mut m = CK_MECHANISM {
            mechanism: CKM_AES_CBC_PAD,
            pParameter: iv.as_mut_ptr() as *mut _,
            ulParameterLen: 16,
        };
        assert_eq!((f.C_EncryptInit.unwrap())(hs, &mut m, k.handle()), CKR_OK);
        // 20 bytes in: one block out, NULL buffer first, then too short, then right.
        let mut n: CK_ULONG = 0;
        let upd = |out: *mut u8, n: &mut CK_ULONG, data: &[u8]| {
            (f.C_EncryptUpdate.unwrap())(hs, data.as_ptr() as *mut _, data.len() as _, out, n)
        };
        assert_eq!(upd(std::ptr::null_mut(), &mut n, &pt[..20]), CKR_OK);
        assert_eq!(n, 16);
        let mut buf = vec![0u8; 128];
        n = 8;
        assert_eq!(
            upd(buf.as_mut_ptr(), &mut n, &pt[..20]),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 16);
        n = 128;
        assert_eq!(upd(buf.as_mut_ptr(), &mut n, &pt[..20]), CKR_OK);
        assert_eq!(n, 16);
        let mut got = buf[..16].to_vec();
        // Final: the held 4 bytes and their padding, one block.
        n = 0;
        assert_eq!(
            (f.C_EncryptFinal.unwrap())(hs, std::ptr::null_mut(), &mut n),
            CKR_OK
        );
        assert_eq!(n, 16);
        n = 15;
        assert_eq!(
            (f.C_EncryptFinal.unwrap())(hs, buf.as_mut_ptr(), &mut n),
            CKR_BUFFER_TOO_SMALL
        );
        n = 16;
        assert_eq!(
            (f.C_EncryptFinal.unwrap())(hs, buf.as_mut_ptr(), &mut n),
            CKR_OK
        );
        got.extend_from_slice(&buf[..16]);
        let m2 = Mechanism::AesCbcPad(iv.clone().try_into().unwrap());
        assert_eq!(s.decrypt(&m2, k, &got).unwrap(), &pt[..20]);
        assert_eq!(
            (f.C_EncryptFinal.unwrap())(hs, buf.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // Single-part decryption into a buffer shorter than the bound but long enough.
        assert_eq!((f.C_DecryptInit.unwrap())(hs, &mut m, k.handle()), CKR_OK);
        n = 0;
        assert_eq!(
            (f.C_Decrypt.unwrap())(hs, got.as_ptr() as *mut _, 32, std::ptr::null_mut(), &mut n),
            CKR_OK
        );
        assert_eq!(n, 32, "an upper bound");
        n = 20;
        assert_eq!(
            (f.C_Decrypt.unwrap())(hs, got.as_ptr() as *mut _, 32, buf.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!((n, &buf[..20]), (20, &pt[..20]));
        // Shorter than the plaintext: its exact length, and the next call gets it.
        assert_eq!((f.C_DecryptInit.unwrap())(hs, &mut m, k.handle()), CKR_OK);
        n = 10;
        assert_eq!(
            (f.C_Decrypt.unwrap())(hs, got.as_ptr() as *mut _, 32, buf.as_mut_ptr(), &mut n),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 20);
        assert_eq!(
            (f.C_Decrypt.unwrap())(hs, got.as_ptr() as *mut _, 32, buf.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(&buf[..20], &pt[..20]);

        // In place: the same buffer in and out.
        let mut e = CK_MECHANISM {
            mechanism: CKM_AES_ECB,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        };
        let mut inplace = pt.clone();
        assert_eq!((f.C_EncryptInit.unwrap())(hs, &mut e, k.handle()), CKR_OK);
        n = 64;
        let p = inplace.as_mut_ptr();
        assert_eq!((f.C_Encrypt.unwrap())(hs, p, 64, p, &mut n), CKR_OK);
        assert_eq!(inplace, s.encrypt(&Mechanism::AesEcb, k, &pt).unwrap());

        // A data length error ends the operation; so does bad padding.
        assert_eq!((f.C_EncryptInit.unwrap())(hs, &mut e, k.handle()), CKR_OK);
        n = 64;
        assert_eq!(
            (f.C_Encrypt.unwrap())(hs, pt.as_ptr() as *mut _, 17, buf.as_mut_ptr(), &mut n),
            CKR_DATA_LEN_RANGE
        );
        assert_eq!(
            (f.C_Encrypt.unwrap())(hs, pt.as_ptr() as *mut _, 16, buf.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
        let mut cbc = CK_MECHANISM {
            mechanism: CKM_AES_CBC,
            pParameter: iv.as_mut_ptr() as *mut _,
            ulParameterLen: 16,
        };
        let junk = s
            .encrypt(
                &Mechanism::AesCbc(iv.clone().try_into().unwrap()),
                k,
                &[0x33; 16],
            )
            .unwrap();
        assert_eq!((f.C_DecryptInit.unwrap())(hs, &mut m, k.handle()), CKR_OK);
        n = 64;
        assert_eq!(
            (f.C_Decrypt.unwrap())(hs, junk.as_ptr() as *mut _, 16, buf.as_mut_ptr(), &mut n),
            CKR_ENCRYPTED_DATA_INVALID
        );
        assert_eq!(
            (f.C_DecryptFinal.unwrap())(hs, buf.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // A wrong IV length is the parameter's fault.
        cbc.ulParameterLen = 8;
        assert_eq!(
            (f.C_EncryptInit.unwrap())(hs, &mut cbc, k.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
        cbc.pParameter = std::ptr::null_mut();
        cbc.ulParameterLen = 16;
        assert_eq!(
            (f.C_EncryptInit.unwrap())(hs, &mut cbc, k.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
        // NULL length pointer.
        assert_eq!((f.C_EncryptInit.unwrap())(hs, &mut e, k.handle()), CKR_OK);
        assert_eq!(
            (f.C_EncryptUpdate.unwrap())(
                hs,
                pt.as_ptr() as *mut _,
                16,
                buf.as_mut_ptr(),
                std::ptr::null_mut()
            ),
            CKR_ARGUMENTS_BAD
        );
    }
}

/// CK_GCM_PARAMS in the 3.0 layout (with ulIvBits) and the 2.40 header's (without), and a
/// contradictory ulIvBits; CTR counter bits.
#[test]
fn gcm_layouts_and_ctr() {
    #[repr(C)]
    struct NoIvBits {
        p_iv: *mut u8,
        iv_len: CK_ULONG,
        p_aad: *mut u8,
        aad_len: CK_ULONG,
        tag_bits: CK_ULONG,
    }
    let env = env();
    let s = env.user();
    let k = secret(
        &s,
        KeyType::AES,
        &h("feffe9928665731c6d6a8f9467308308"),
        &[],
    )
    .unwrap();
    let f = env.f;
    let hs = s.handle();
    let mut iv = h("cafebabefacedbaddecaf888");
    let gpt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    let want = h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985 4d5c2af327cd64a62cf35abd2ba6fab4");
    let mut out = vec![0u8; 128];
    unsafe {
        let run = |p: *mut std::ffi::c_void, len: usize, out: &mut Vec<u8>| -> CK_RV {
            let mut m = CK_MECHANISM {
                mechanism: CKM_AES_GCM,
                pParameter: p,
                ulParameterLen: len as _,
            };
            let rv = (f.C_EncryptInit.unwrap())(hs, &mut m, k.handle());
            if rv != CKR_OK {
                return rv;
            }
            let mut n: CK_ULONG = out.len() as _;
            let rv = (f.C_Encrypt.unwrap())(
                hs,
                gpt.as_ptr() as *mut _,
                gpt.len() as _,
                out.as_mut_ptr(),
                &mut n,
            );
            out.truncate(n as usize);
            rv
        };
        let mut new = CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: std::ptr::null_mut(),
            ulAADLen: 0,
            ulTagBits: 128,
        };
        assert_eq!(
            run(
                &mut new as *mut _ as *mut _,
                std::mem::size_of::<CK_GCM_PARAMS>(),
                &mut out
            ),
            CKR_OK
        );
        assert_eq!(out, want);
        new.ulIvBits = 0;
        out.resize(128, 0);
        assert_eq!(
            run(
                &mut new as *mut _ as *mut _,
                std::mem::size_of::<CK_GCM_PARAMS>(),
                &mut out
            ),
            CKR_OK
        );
        assert_eq!(out, want);
        new.ulIvBits = 64;
        out.resize(128, 0);
        assert_eq!(
            run(
                &mut new as *mut _ as *mut _,
                std::mem::size_of::<CK_GCM_PARAMS>(),
                &mut out
            ),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut old = NoIvBits {
            p_iv: iv.as_mut_ptr(),
            iv_len: 12,
            p_aad: std::ptr::null_mut(),
            aad_len: 0,
            tag_bits: 128,
        };
        out.resize(128, 0);
        assert_eq!(
            run(
                &mut old as *mut _ as *mut _,
                std::mem::size_of::<NoIvBits>(),
                &mut out
            ),
            CKR_OK
        );
        assert_eq!(out, want);
        // Neither size: refused.
        out.resize(128, 0);
        assert_eq!(
            run(&mut old as *mut _ as *mut _, 24, &mut out),
            CKR_MECHANISM_PARAM_INVALID
        );
        // Tag bits out of range.
        old.tag_bits = 136;
        out.resize(128, 0);
        assert_eq!(
            run(
                &mut old as *mut _ as *mut _,
                std::mem::size_of::<NoIvBits>(),
                &mut out
            ),
            CKR_MECHANISM_PARAM_INVALID
        );

        // CTR: SP 800-38A F.5.1, and counter bits that would wrap.
        let ka = secret(&s, KeyType::AES, &h(K128), &[]).unwrap();
        let mut p = CK_AES_CTR_PARAMS {
            ulCounterBits: 128,
            cb: h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap(),
        };
        let mut m = CK_MECHANISM {
            mechanism: CKM_AES_CTR,
            pParameter: &mut p as *mut _ as *mut _,
            ulParameterLen: std::mem::size_of::<CK_AES_CTR_PARAMS>() as _,
        };
        let pt = h(PT);
        assert_eq!((f.C_EncryptInit.unwrap())(hs, &mut m, ka.handle()), CKR_OK);
        let mut n: CK_ULONG = 128;
        assert_eq!(
            (f.C_Encrypt.unwrap())(hs, pt.as_ptr() as *mut _, 20, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(
            hex::encode(&out[..n as usize]),
            "874d6191b620e3261bef6864990db6ce9806f66b"
        );
        p.ulCounterBits = 4; // counter 0xf: one block left
        let mut m = CK_MECHANISM {
            mechanism: CKM_AES_CTR,
            pParameter: &mut p as *mut _ as *mut _,
            ulParameterLen: std::mem::size_of::<CK_AES_CTR_PARAMS>() as _,
        };
        assert_eq!((f.C_EncryptInit.unwrap())(hs, &mut m, ka.handle()), CKR_OK);
        n = 128;
        assert_eq!(
            (f.C_Encrypt.unwrap())(hs, pt.as_ptr() as *mut _, 17, out.as_mut_ptr(), &mut n),
            CKR_DATA_LEN_RANGE
        );
        for bits in [0, 129] {
            p.ulCounterBits = bits;
            let mut m = CK_MECHANISM {
                mechanism: CKM_AES_CTR,
                pParameter: &mut p as *mut _ as *mut _,
                ulParameterLen: std::mem::size_of::<CK_AES_CTR_PARAMS>() as _,
            };
            assert_eq!(
                (f.C_EncryptInit.unwrap())(hs, &mut m, ka.handle()),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
    }
}

#[test]
fn macs_and_derivation() {
    let env = env();
    let s = env.user();
    let k = secret(&s, KeyType::AES, &h(K128), &[]).unwrap();
    let pt = h(PT);
    // SP 800-38B D.1.
    assert_eq!(
        hex::encode(s.sign(&Mechanism::AesCMac, k, &pt[..40]).unwrap()),
        "dfa66747de9ae63030ca32611497c827"
    );
    s.verify(
        &Mechanism::AesCMac,
        k,
        &pt[..40],
        &h("dfa66747de9ae63030ca32611497c827"),
    )
    .unwrap();
    assert_eq!(
        rv(s.verify(
            &Mechanism::AesCMac,
            k,
            &pt[..41],
            &h("dfa66747de9ae63030ca32611497c827")
        )
        .unwrap_err()),
        RvError::SignatureInvalid
    );
    // CBC_ENCRYPT_DATA: the new key is the CBC encryption of the data; its attributes follow the
    // base key's.
    let iv: [u8; 16] = h("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let cbc = |d| Mechanism::AesCbcEncryptData(AesCbcDeriveParams::new(iv, d));
    let d = s
        .derive_key(
            &cbc(&pt[..16]),
            k,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Extractable(true),
                Attribute::Encrypt(true),
            ],
        )
        .unwrap();
    assert_eq!(
        hex::encode(raw(&s, d, AttributeType::Value)),
        "7649abac8119b246cee98e9b12e9197d"
    );
    assert!(!bool_attr(&s, d, AttributeType::Local));
    assert!(!bool_attr(&s, d, AttributeType::NeverExtractable));
    assert_eq!(
        ulong_attr(&s, d, AttributeType::KeyGenMechanism),
        CKM_AES_CBC_ENCRYPT_DATA
    );
    // The base key needs CKA_DERIVE.
    let nd = secret(&s, KeyType::AES, &h(K128), &[Attribute::Derive(false)]).unwrap();
    assert_eq!(
        rv(s.derive_key(
            &cbc(&pt[..16]),
            nd,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES)
            ]
        )
        .unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    // Data that is not whole blocks is a bad parameter.
    assert_eq!(
        rv(s.derive_key(
            &cbc(&pt[..15]),
            k,
            &[Attribute::Class(ObjectClass::SECRET_KEY)]
        )
        .unwrap_err()),
        RvError::MechanismParamInvalid
    );
    // A 32-byte AES key from 16 bytes of data: the data is too short (python-pkcs11's negative
    // tests, and SoftHSM's CKR_FUNCTION_FAILED, agree it is not the template's fault) ...
    assert_eq!(
        rv(s.derive_key(
            &cbc(&pt[..16]),
            k,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into())
            ]
        )
        .unwrap_err()),
        RvError::MechanismParamInvalid
    );
    // ... while a length the key type never has is.
    assert_eq!(
        rv(s.derive_key(
            &cbc(&pt[..32]),
            k,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(20.into())
            ]
        )
        .unwrap_err()),
        RvError::TemplateInconsistent
    );
    // The mechanism list carries every symmetric mechanism with its flags.
    let slot = env.slot;
    let info = env
        .p()
        .get_mechanism_info(slot, MechanismType::AES_GCM)
        .unwrap();
    assert!(info.encrypt() && info.decrypt() && info.wrap() && info.unwrap());
    let info = env
        .p()
        .get_mechanism_info(slot, MechanismType::AES_KEY_GEN)
        .unwrap();
    assert_eq!((info.min_key_size(), info.max_key_size()), (16, 32));
}

/// C_SessionCancel ends the operations it names and leaves the others.
#[test]
fn session_cancel() {
    let env = env();
    let s = env.user();
    let k = secret(&s, KeyType::AES, &h(K128), &[]).unwrap();
    let f = env.f;
    let hs = s.handle();
    s.encrypt_init(&Mechanism::AesEcb, k).unwrap();
    s.sign_init(&Mechanism::AesCMac, k).unwrap();
    // A 3.0 function: taken from the module's exports (the 2.40 list has no slot for it).
    let lib = unsafe { libloading::Library::new(module_path()).unwrap() };
    let cancel: libloading::Symbol<unsafe extern "C" fn(CK_SESSION_HANDLE, CK_FLAGS) -> CK_RV> =
        unsafe { lib.get(b"C_SessionCancel").unwrap() };
    unsafe {
        assert_eq!(cancel(hs, CKF_ENCRYPT), CKR_OK);
        let mut n: CK_ULONG = 0;
        assert_eq!(
            (f.C_EncryptFinal.unwrap())(hs, std::ptr::null_mut(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // The signature goes on.
        assert_eq!(
            (f.C_SignUpdate.unwrap())(hs, b"x".as_ptr() as *mut _, 1),
            CKR_OK
        );
        assert_eq!(cancel(hs, CKF_SIGN | CKF_DECRYPT), CKR_OK);
        assert_eq!(
            (f.C_SignUpdate.unwrap())(hs, b"x".as_ptr() as *mut _, 1),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(cancel(0xdead, CKF_SIGN), CKR_SESSION_HANDLE_INVALID);
    }
    // A new operation can start.
    s.encrypt_init(&Mechanism::AesEcb, k).unwrap();
}

/// 1 GiB through AES-CBC multi-part, both ways, in 1 MiB calls: the module streams (holds at most
/// a block), so the process's peak RSS stays far below the data size.
#[test]
fn one_gib_cbc_round_trip_in_bounded_memory() {
    use sha2::Digest;
    let env = env();
    let s = env.user();
    let k = secret(&s, KeyType::AES, &[7u8; 32], &[]).unwrap();
    let iv = [3u8; 16];
    let base: Vec<u8> = (0..1usize << 20).map(|j| (j * 7 + j / 251) as u8).collect();
    let chunk = |i: usize| -> Vec<u8> {
        let mut v = base.clone();
        v[..8].copy_from_slice(&(i as u64).to_le_bytes());
        v
    };
    let total = 1024; // MiB
    let (mut h_in, mut h_out) = (sha2::Sha256::new(), sha2::Sha256::new());
    let m = Mechanism::AesCbcPad(iv);
    // Encrypt, and decrypt each ciphertext piece as it comes, so nothing of size is ever held.
    s.encrypt_init(&m, k).unwrap();
    // A second session of the same (logged-in) application.
    let s2 = env.p().open_rw_session(env.slot).unwrap();
    s2.decrypt_init(&m, k).unwrap();
    let mut out_len = 0usize;
    for i in 0..total {
        let p = chunk(i);
        h_in.update(&p);
        let c = s.encrypt_update(&p).unwrap();
        let back = s2.decrypt_update(&c).unwrap();
        out_len += back.len();
        h_out.update(&back);
    }
    let c = s.encrypt_final().unwrap();
    assert_eq!(c.len(), 16, "one padding block");
    let back = s2.decrypt_update(&c).unwrap();
    h_out.update(&back);
    let last = s2.decrypt_final().unwrap();
    out_len += back.len() + last.len();
    h_out.update(&last);
    assert_eq!(out_len, total << 20);
    assert_eq!(h_in.finalize(), h_out.finalize());
    let hwm = peak_rss_kib();
    println!("1 GiB AES-CBC round trip: peak RSS {} MiB", hwm / 1024);
    assert!(hwm < 256 * 1024, "peak RSS {hwm} KiB");
}
