//! Symmetric ciphers: AES and triple DES, their block modes, CMAC, AES key wrap, AES-GCM and
//! AES-CCM.
//!
//! Both backends use these: the RustCrypto crates of one generation (cipher 0.5: `aes`, `des`,
//! `cbc`, `ecb`, `ctr`, `cts`, `cmac`, `aes-kw`, `aes-gcm`, `ccm`), which detect AES-NI and
//! CLMUL at run time. With the aws-lc backend, AES-GCM with a 12-byte IV and a full tag (what
//! nearly every client sends) runs on aws-lc-rs instead, whose stitched assembly is faster.
//!
//! Nothing here buffers, pads or counts: that is the mechanism layer's business
//! (`src/mechanism/block.rs`). Keyed states zeroize on drop (the crates' `zeroize` features).

use crate::error::{Error, Result};
use aes::{Aes128, Aes192, Aes256};
use cipher::common::InnerInit;
use cipher::{
    BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InOutBuf, InnerIvInit, KeyInit,
    StreamCipher,
};
use des::{TdesEde2, TdesEde3};
use zeroize::Zeroizing;

/// The block ciphers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Aes,
    /// Triple DES (EDE), two-key (16-byte keys) or three-key (24-byte keys).
    Des3,
}

/// A keyed block cipher.
#[derive(Clone)]
pub enum BlockKey {
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
    Tdes2(TdesEde2),
    Tdes3(TdesEde3),
}

impl std::fmt::Debug for BlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlockKey::Aes128(_) => "BlockKey(AES-128)",
            BlockKey::Aes192(_) => "BlockKey(AES-192)",
            BlockKey::Aes256(_) => "BlockKey(AES-256)",
            BlockKey::Tdes2(_) => "BlockKey(2-key 3DES)",
            BlockKey::Tdes3(_) => "BlockKey(3-key 3DES)",
        })
    }
}

/// Runs `$body` with `$c` bound to the concrete cipher of a [`BlockKey`].
macro_rules! with_cipher {
    ($key:expr, $c:ident => $body:expr) => {
        match $key {
            BlockKey::Aes128($c) => $body,
            BlockKey::Aes192($c) => $body,
            BlockKey::Aes256($c) => $body,
            BlockKey::Tdes2($c) => $body,
            BlockKey::Tdes3($c) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the concrete AES cipher, or fails for triple DES.
macro_rules! with_aes {
    ($key:expr, $c:ident => $body:expr) => {
        match $key {
            BlockKey::Aes128($c) => $body,
            BlockKey::Aes192($c) => $body,
            BlockKey::Aes256($c) => $body,
            _ => return Err(Error::KeyTypeInconsistent),
        }
    };
}

impl BlockKey {
    /// Keys a cipher; a wrong key length is `KeySizeRange`.
    pub fn new(cipher: Cipher, key: &[u8]) -> Result<BlockKey> {
        let bad = |_| Error::KeySizeRange;
        Ok(match (cipher, key.len()) {
            (Cipher::Aes, 16) => BlockKey::Aes128(Aes128::new_from_slice(key).map_err(bad)?),
            (Cipher::Aes, 24) => BlockKey::Aes192(Aes192::new_from_slice(key).map_err(bad)?),
            (Cipher::Aes, 32) => BlockKey::Aes256(Aes256::new_from_slice(key).map_err(bad)?),
            (Cipher::Des3, 16) => BlockKey::Tdes2(TdesEde2::new_from_slice(key).map_err(bad)?),
            (Cipher::Des3, 24) => BlockKey::Tdes3(TdesEde3::new_from_slice(key).map_err(bad)?),
            _ => return Err(Error::KeySizeRange),
        })
    }

    pub fn cipher(&self) -> Cipher {
        match self {
            BlockKey::Tdes2(_) | BlockKey::Tdes3(_) => Cipher::Des3,
            _ => Cipher::Aes,
        }
    }

    /// Block length in bytes: 16 for AES, 8 for triple DES.
    pub fn block_len(&self) -> usize {
        match self.cipher() {
            Cipher::Aes => 16,
            Cipher::Des3 => 8,
        }
    }

    /// Encrypts one block in place (key check values).
    pub fn encrypt_block(&self, block: &mut [u8]) {
        with_cipher!(self, c => {
            let (blocks, _) = InOutBuf::from(block).into_chunks();
            c.encrypt_blocks_inout(blocks)
        })
    }
}

/// A secret key ready for the symmetric operations: the keyed block cipher, and (aws-lc backend,
/// AES keys) the keyed AES-GCM of aws-lc-rs. Made once per key object and cached with it.
pub struct SymKey {
    pub block: BlockKey,
    #[cfg(feature = "backend-awslc")]
    gcm: Option<aws_lc_rs::aead::LessSafeKey>,
}

impl std::fmt::Debug for SymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.block.fmt(f)
    }
}

impl SymKey {
    pub fn new(cipher: Cipher, key: &[u8]) -> Result<SymKey> {
        Ok(SymKey {
            block: BlockKey::new(cipher, key)?,
            #[cfg(feature = "backend-awslc")]
            gcm: (cipher == Cipher::Aes)
                .then(|| super::awslc::gcm_key(key))
                .flatten(),
        })
    }
}

/// A block mode in progress, over whole blocks.
pub trait BlockStream: Send {
    /// Processes `input` into `out` (same length; a whole number of blocks, except for CTR).
    fn process(&mut self, input: &[u8], out: &mut [u8]);
}

struct Enc<M>(M);
struct Dec<M>(M);
struct Stream<S>(S);

impl<M: BlockModeEncrypt + Send> BlockStream for Enc<M> {
    fn process(&mut self, input: &[u8], out: &mut [u8]) {
        let buf = InOutBuf::new(input, out).expect("equal lengths");
        let (blocks, tail) = buf.into_chunks();
        debug_assert!(tail.is_empty());
        self.0.encrypt_blocks_inout(blocks);
    }
}

impl<M: BlockModeDecrypt + Send> BlockStream for Dec<M> {
    fn process(&mut self, input: &[u8], out: &mut [u8]) {
        let buf = InOutBuf::new(input, out).expect("equal lengths");
        let (blocks, tail) = buf.into_chunks();
        debug_assert!(tail.is_empty());
        self.0.decrypt_blocks_inout(blocks);
    }
}

impl<S: StreamCipher + Send> BlockStream for Stream<S> {
    fn process(&mut self, input: &[u8], out: &mut [u8]) {
        let buf = InOutBuf::new(input, out).expect("equal lengths");
        self.0.apply_keystream_inout(buf);
    }
}

/// ECB.
pub fn ecb(key: &BlockKey, decrypt: bool) -> Box<dyn BlockStream> {
    with_cipher!(key, c => {
        if decrypt {
            Box::new(Dec(ecb::Decryptor::inner_init(c.clone()))) as Box<dyn BlockStream>
        } else {
            Box::new(Enc(ecb::Encryptor::inner_init(c.clone())))
        }
    })
}

/// CBC with an IV of one block.
pub fn cbc(key: &BlockKey, iv: &[u8], decrypt: bool) -> Result<Box<dyn BlockStream>> {
    let bad = |_| Error::MechanismParamInvalid;
    Ok(with_cipher!(key, c => {
        if decrypt {
            Box::new(Dec(cbc::Decryptor::inner_iv_slice_init(c.clone(), iv).map_err(bad)?))
                as Box<dyn BlockStream>
        } else {
            Box::new(Enc(cbc::Encryptor::inner_iv_slice_init(c.clone(), iv).map_err(bad)?))
        }
    }))
}

/// AES-CTR with a 128-bit big-endian counter block. The caller keeps the count of blocks within
/// the counter bits the application asked for; within them, a 128-bit increment is the same.
pub fn ctr(key: &BlockKey, cb: &[u8; 16]) -> Result<Box<dyn BlockStream>> {
    Ok(
        with_aes!(key, c => Box::new(Stream(ctr::Ctr128BE::from_core(ctr::CtrCore::inner_iv_init(c.clone(), cb.into()))))
        as Box<dyn BlockStream>),
    )
}

/// CBC with ciphertext stealing, variant CS3 (NIST SP 800-38A addendum; Kerberos's, and what
/// Kryoptic and OpenSSL's CS3 produce): the whole message at once, at least one block.
pub fn cts_cs3(
    key: &BlockKey,
    iv: &[u8],
    input: &[u8],
    out: &mut [u8],
    decrypt: bool,
) -> Result<()> {
    use cts::{Decrypt, Encrypt};
    let bad = |_| Error::MechanismParamInvalid;
    let r = with_aes!(key, c => {
        let m = cts::CbcCs3::inner_iv_slice_init(c.clone(), iv).map_err(bad)?;
        if decrypt {
            m.decrypt_b2b(input, out)
        } else {
            m.encrypt_b2b(input, out)
        }
    });
    r.map_err(|_| Error::DataLenRange)
}

/// CMAC (NIST SP 800-38B) under AES or triple DES, full length.
pub struct Cmac(CmacInner);

enum CmacInner {
    Aes128(cmac::Cmac<Aes128>),
    Aes192(cmac::Cmac<Aes192>),
    Aes256(cmac::Cmac<Aes256>),
    Tdes2(cmac::Cmac<TdesEde2>),
    Tdes3(cmac::Cmac<TdesEde3>),
}

impl Cmac {
    pub fn new(key: &BlockKey) -> Cmac {
        Cmac(match key {
            BlockKey::Aes128(c) => CmacInner::Aes128(cmac::Cmac::inner_init(c.clone())),
            BlockKey::Aes192(c) => CmacInner::Aes192(cmac::Cmac::inner_init(c.clone())),
            BlockKey::Aes256(c) => CmacInner::Aes256(cmac::Cmac::inner_init(c.clone())),
            BlockKey::Tdes2(c) => CmacInner::Tdes2(cmac::Cmac::inner_init(c.clone())),
            BlockKey::Tdes3(c) => CmacInner::Tdes3(cmac::Cmac::inner_init(c.clone())),
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        use cmac::Mac;
        match &mut self.0 {
            CmacInner::Aes128(m) => m.update(data),
            CmacInner::Aes192(m) => m.update(data),
            CmacInner::Aes256(m) => m.update(data),
            CmacInner::Tdes2(m) => m.update(data),
            CmacInner::Tdes3(m) => m.update(data),
        }
    }

    /// The full MAC (one block).
    pub fn finalize(self) -> Zeroizing<Vec<u8>> {
        use cmac::Mac;
        Zeroizing::new(match self.0 {
            CmacInner::Aes128(m) => m.finalize().into_bytes().to_vec(),
            CmacInner::Aes192(m) => m.finalize().into_bytes().to_vec(),
            CmacInner::Aes256(m) => m.finalize().into_bytes().to_vec(),
            CmacInner::Tdes2(m) => m.finalize().into_bytes().to_vec(),
            CmacInner::Tdes3(m) => m.finalize().into_bytes().to_vec(),
        })
    }
}

/// AES key wrap (RFC 3394, `pad` false; the IV is the default A6A6...) or key wrap with padding
/// (RFC 5649, `pad` true).
pub fn aes_kw(key: &BlockKey, pad: bool, input: &[u8], unwrap: bool) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; input.len() + 16]);
    let n = with_aes!(key, c => {
        if pad {
            let kw = aes_kw::AesKwp::inner_init(c.clone());
            if unwrap {
                kw.unwrap_key(input, &mut out).map(|v| v.len())
            } else {
                kw.wrap_key(input, &mut out).map(|v| v.len())
            }
        } else {
            let kw = aes_kw::AesKw::inner_init(c.clone());
            if unwrap {
                kw.unwrap_key(input, &mut out).map(|v| v.len())
            } else {
                kw.wrap_key(input, &mut out).map(|v| v.len())
            }
        }
    });
    let n = n.map_err(|_| {
        if unwrap {
            Error::EncryptedDataInvalid
        } else {
            Error::DataLenRange
        }
    })?;
    out.truncate(n);
    Ok(out)
}

/// GCM IV lengths this build accepts (96 bits is what SP 800-38D recommends and clients send).
pub const GCM_IV_LENS: &[usize] = &[8, 12, 16];
/// GCM tag lengths in bytes (SP 800-38D: 96 to 128 bits; the 32- and 64-bit tags are refused).
pub const GCM_TAG_LENS: std::ops::RangeInclusive<usize> = 12..=16;

/// AES-GCM over a whole message: encrypts `buf` in place and returns the tag (`tag_len` bytes),
/// or (with `tag`) checks the tag and decrypts in place. A tag that does not verify leaves `buf`
/// unspecified and is `EncryptedDataInvalid`.
pub fn aes_gcm(
    key: &SymKey,
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag_len: usize,
    tag: Option<&[u8]>,
) -> Result<Vec<u8>> {
    #[cfg(feature = "backend-awslc")]
    if let (Some(k), 12, 16) = (&key.gcm, iv.len(), tag_len) {
        return super::awslc::aes_gcm_96(k, iv, aad, buf, tag);
    }
    let key = &key.block;
    use aes_gcm_011::aead::consts::{U12, U13, U14, U15, U16, U8};
    macro_rules! run {
        ($c:expr, $n:ty, $t:ty) => {
            gcm_with::<_, $n, $t>($c.clone(), iv, aad, buf, tag)
        };
    }
    macro_rules! tags {
        ($c:expr, $n:ty) => {
            match tag_len {
                12 => run!($c, $n, U12),
                13 => run!($c, $n, U13),
                14 => run!($c, $n, U14),
                15 => run!($c, $n, U15),
                16 => run!($c, $n, U16),
                _ => Err(Error::MechanismParamInvalid),
            }
        };
    }
    with_aes!(key, c => match iv.len() {
        8 => tags!(c, U8),
        12 => tags!(c, U12),
        16 => tags!(c, U16),
        _ => Err(Error::MechanismParamInvalid),
    })
}

fn gcm_with<C, N, T>(
    c: C,
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: Option<&[u8]>,
) -> Result<Vec<u8>>
where
    C: BlockCipherEncrypt<BlockSize = cipher::consts::U16> + cipher::BlockSizeUser,
    N: cipher::array::ArraySize,
    T: aes_gcm_011::TagSize,
    aes_gcm_011::AesGcm<C, N, T>: aes_gcm_011::aead::AeadInOut + From<C>,
{
    use aes_gcm_011::aead::AeadInOut;
    let g = aes_gcm_011::AesGcm::<C, N, T>::from(c);
    let nonce = aes_gcm_011::aead::Nonce::<aes_gcm_011::AesGcm<C, N, T>>::try_from(iv)
        .map_err(|_| Error::MechanismParamInvalid)?;
    match tag {
        None => g
            .encrypt_inout_detached(&nonce, aad, buf.into())
            .map(|t| t.to_vec())
            .map_err(|_| Error::DataLenRange),
        Some(t) => {
            let t = aes_gcm_011::aead::Tag::<aes_gcm_011::AesGcm<C, N, T>>::try_from(t)
                .map_err(|_| Error::EncryptedDataInvalid)?;
            g.decrypt_inout_detached(&nonce, aad, buf.into(), &t)
                .map(|_| Vec::new())
                .map_err(|_| Error::EncryptedDataInvalid)
        }
    }
}

/// AES-CCM (NIST SP 800-38C) over a whole message: nonces of 7 to 13 bytes, MACs of 4 to 16
/// bytes (even). Encrypts `buf` in place and returns the MAC, or (with `tag`) checks it and
/// decrypts in place.
pub fn aes_ccm(
    key: &BlockKey,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    mac_len: usize,
    tag: Option<&[u8]>,
) -> Result<Vec<u8>> {
    use ccm::consts::{U10, U11, U12, U13, U14, U16, U4, U6, U7, U8, U9};
    macro_rules! run {
        ($c:expr, $m:ty, $n:ty) => {
            ccm_with::<_, $m, $n>($c.clone(), nonce, aad, buf, tag)
        };
    }
    macro_rules! nonces {
        ($c:expr, $m:ty) => {
            match nonce.len() {
                7 => run!($c, $m, U7),
                8 => run!($c, $m, U8),
                9 => run!($c, $m, U9),
                10 => run!($c, $m, U10),
                11 => run!($c, $m, U11),
                12 => run!($c, $m, U12),
                13 => run!($c, $m, U13),
                _ => Err(Error::MechanismParamInvalid),
            }
        };
    }
    with_aes!(key, c => match mac_len {
        4 => nonces!(c, U4),
        6 => nonces!(c, U6),
        8 => nonces!(c, U8),
        10 => nonces!(c, U10),
        12 => nonces!(c, U12),
        14 => nonces!(c, U14),
        16 => nonces!(c, U16),
        _ => Err(Error::MechanismParamInvalid),
    })
}

fn ccm_with<C, M, N>(
    c: C,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: Option<&[u8]>,
) -> Result<Vec<u8>>
where
    C: BlockCipherEncrypt + cipher::BlockSizeUser<BlockSize = cipher::consts::U16>,
    M: cipher::array::ArraySize + ccm::TagSize,
    N: cipher::array::ArraySize + ccm::NonceSize,
{
    use ccm::aead::AeadInOut;
    let m = ccm::Ccm::<C, M, N>::from(c);
    let nonce = ccm::aead::Nonce::<ccm::Ccm<C, M, N>>::try_from(nonce)
        .map_err(|_| Error::MechanismParamInvalid)?;
    match tag {
        None => m
            .encrypt_inout_detached(&nonce, aad, buf.into())
            .map(|t| t.to_vec())
            .map_err(|_| Error::DataLenRange),
        Some(t) => {
            let t = ccm::aead::Tag::<ccm::Ccm<C, M, N>>::try_from(t)
                .map_err(|_| Error::EncryptedDataInvalid)?;
            m.decrypt_inout_detached(&nonce, aad, buf.into(), &t)
                .map(|_| Vec::new())
                .map_err(|_| Error::EncryptedDataInvalid)
        }
    }
}

/// Sets the parity bit (the low bit) of each byte of a DES key so that every byte has an odd
/// number of ones, as DES keys carry it.
pub fn set_des_parity(key: &mut [u8]) {
    for b in key {
        let hi = *b & 0xfe;
        *b = hi | ((hi.count_ones() as u8 + 1) & 1);
    }
}
