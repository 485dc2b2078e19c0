//! The block-cipher modes as PKCS#11 operations, shared by the AES and triple DES families:
//! ECB, CBC, CBC with PKCS#7 padding, CTR, CBC-CTS (CS3), GCM, CCM, key wrap, CMAC and CBC-MAC, and
//! the ENCRYPT_DATA derivations.
//!
//! Streaming: `update` outputs every block it can and holds only what the mode must (a partial
//! block; the last block of CBC_PAD decryption, which carries the padding; the last two blocks of
//! CTS). GCM encryption on the aws-lc backend streams too (`GcmEncrypt`: ciphertext at each
//! update, the tag at the final call). AEAD decryption, CCM encryption, GCM encryption on the
//! RustCrypto backend and key wrap hold their input until the final call, up to [`HELD_CAP`].

use super::keys::{Key, Secret};
use super::{CryptOp, KeyLen, Mech, Param, SignOp};
use crate::crypto::sym::{self, BlockStream, Cmac, SymKey};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Most input an operation that must see all of it before answering (GCM, key wrap) holds in a
/// multi-part call: 256 MiB. Single-part calls have their input in memory already and are not
/// capped.
pub const HELD_CAP: usize = 256 << 20;

/// The secret key of an operation.
pub fn secret(key: &Key) -> Result<&Secret> {
    match key {
        Key::Secret(s) => Ok(s),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

fn sym_key(key: &Arc<Key>) -> Result<&SymKey> {
    secret(key)?.sym()
}

/// The IV of a mechanism whose parameter is exactly one block.
fn iv_param(mech: &Mech, len: usize) -> Result<&[u8]> {
    match &mech.param {
        Param::Bytes(iv) if iv.len() == len => Ok(iv),
        _ => Err(Error::MechanismParamInvalid),
    }
}

fn len_error(decrypt: bool) -> Error {
    if decrypt {
        Error::EncryptedDataLenRange
    } else {
        Error::DataLenRange
    }
}

// ---- ECB, CBC, CBC_PAD, CTS --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ecb,
    Cbc,
    CbcPad,
    Cts,
}

/// ECB, CBC, CBC_PAD or CTS in progress.
pub struct Blocks {
    stream: Box<dyn BlockStream>,
    mode: Mode,
    decrypt: bool,
    bs: usize,
    /// Input not yet processed (less than a block, or what the mode holds back).
    held: Zeroizing<Vec<u8>>,
    /// CTS: the key and the last ciphertext block so far (the IV of the stolen tail).
    cts: Option<(Arc<Key>, Vec<u8>)>,
}

/// Builds a block-mode operation.
pub fn blocks(mech: &Mech, key: &Arc<Key>, decrypt: bool, mode: Mode) -> Result<Box<dyn CryptOp>> {
    let k = sym_key(key)?;
    let bs = k.block.block_len();
    let (stream, cts) = match mode {
        Mode::Ecb => {
            if mech.param != Param::None {
                return Err(Error::MechanismParamInvalid);
            }
            (sym::ecb(&k.block, decrypt), None)
        }
        Mode::Cbc | Mode::CbcPad => (sym::cbc(&k.block, iv_param(mech, bs)?, decrypt)?, None),
        Mode::Cts => {
            let iv = iv_param(mech, bs)?;
            (
                sym::cbc(&k.block, iv, decrypt)?,
                Some((key.clone(), iv.to_vec())),
            )
        }
    };
    Ok(Box::new(Blocks {
        stream,
        mode,
        decrypt,
        bs,
        held: Zeroizing::new(Vec::with_capacity(3 * bs)),
        cts,
    }))
}

impl Blocks {
    /// How many of `total` pending bytes the mode keeps for later.
    fn keep(&self, total: usize) -> usize {
        let r = total % self.bs;
        match self.mode {
            Mode::CbcPad if self.decrypt && r == 0 => total.min(self.bs),
            Mode::Cts if total <= 2 * self.bs => total,
            Mode::Cts if r == 0 => 2 * self.bs,
            Mode::Cts => self.bs + r,
            _ => r,
        }
    }

    /// Runs whole blocks through the stream, remembering CTS's chaining block.
    fn process(&mut self, input: &[u8], out: &mut [u8]) {
        self.stream.process(input, out);
        if let Some((_, last)) = &mut self.cts {
            let ct = if self.decrypt {
                input
            } else {
                &out[..input.len()]
            };
            if ct.len() >= self.bs {
                last.copy_from_slice(&ct[ct.len() - self.bs..]);
            }
        }
    }
}

impl CryptOp for Blocks {
    fn update_len(&self, n: usize) -> Result<usize> {
        let total = self.held.len() + n;
        Ok(total - self.keep(total))
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let total = self.held.len() + input.len();
        let emit = total - self.keep(total);
        let out = &mut out[..emit];
        let mut done = 0;
        let mut input = input;
        if !self.held.is_empty() && emit > 0 {
            // Complete the held bytes into whole blocks first.
            let from_held = self.held.len().min(emit);
            let first = from_held.next_multiple_of(self.bs).min(emit);
            let take = first - from_held;
            let mut head = Zeroizing::new(Vec::with_capacity(first));
            head.extend_from_slice(&self.held[..from_held]);
            head.extend_from_slice(&input[..take]);
            self.process(&head, &mut out[..first]);
            self.held.drain(..from_held);
            input = &input[take..];
            done = first;
        }
        let direct = emit - done;
        if direct > 0 {
            self.process(&input[..direct], &mut out[done..]);
            input = &input[direct..];
        }
        self.held.extend_from_slice(input);
        Ok(emit)
    }

    fn final_len(&self) -> usize {
        match self.mode {
            Mode::CbcPad if !self.decrypt => self.held.len() / self.bs * self.bs + self.bs,
            _ => self.held.len(),
        }
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let held = std::mem::take(&mut self.held);
        let n = held.len();
        let mut out = Zeroizing::new(vec![0u8; self.final_len().max(n)]);
        match self.mode {
            Mode::Ecb | Mode::Cbc => {
                if n != 0 {
                    return Err(len_error(self.decrypt));
                }
                out.clear();
            }
            Mode::CbcPad if !self.decrypt => {
                let pad = self.bs - n % self.bs;
                let mut last = Zeroizing::new(held.to_vec());
                last.resize(n + pad, pad as u8);
                out.truncate(last.len());
                self.stream.process(&last, &mut out);
            }
            Mode::CbcPad => {
                if n != self.bs {
                    return Err(Error::EncryptedDataLenRange);
                }
                self.stream.process(&held, &mut out);
                let pad = out[n - 1] as usize;
                let valid = (1..=self.bs).contains(&pad)
                    && out[n - pad..].iter().all(|&b| b as usize == pad);
                if !valid {
                    return Err(Error::EncryptedDataInvalid);
                }
                out.truncate(n - pad);
            }
            Mode::Cts => {
                let (key, iv) = self.cts.as_ref().expect("CTS state");
                if n < self.bs {
                    return Err(len_error(self.decrypt));
                }
                sym::cts_cs3(&sym_key(key)?.block, iv, &held, &mut out, self.decrypt)?;
            }
        }
        Ok(out)
    }

    fn one_shot_len(&self, n: usize) -> Result<usize> {
        if matches!(self.mode, Mode::Ecb | Mode::Cbc) && !n.is_multiple_of(self.bs) {
            return Err(len_error(self.decrypt));
        }
        if self.mode == Mode::CbcPad && self.decrypt && (n == 0 || !n.is_multiple_of(self.bs)) {
            return Err(Error::EncryptedDataLenRange);
        }
        if self.mode == Mode::Cts && n < self.bs {
            return Err(len_error(self.decrypt));
        }
        Ok(match self.mode {
            Mode::CbcPad if !self.decrypt => n / self.bs * self.bs + self.bs,
            _ => n,
        })
    }
}

// ---- CTR ---------------------------------------------------------------------------------------

/// AES-CTR: the counter is the low `bits` bits of the counter block; an operation that would
/// wrap them is refused (`DataLenRange`) before any output.
pub struct Ctr {
    stream: Box<dyn BlockStream>,
    /// Bytes left before the counter would wrap (`None`: more than any input can use).
    left: Option<u128>,
}

pub fn ctr(mech: &Mech, key: &Arc<Key>, _decrypt: bool) -> Result<Box<dyn CryptOp>> {
    let Param::Ctr { bits, cb } = &mech.param else {
        return Err(Error::MechanismParamInvalid);
    };
    if !(1..=128).contains(bits) {
        return Err(Error::MechanismParamInvalid);
    }
    let k = sym_key(key)?;
    let left = if *bits >= 64 {
        None
    } else {
        let counter = u128::from_be_bytes(*cb) & ((1u128 << bits) - 1);
        Some(((1u128 << bits) - counter) * 16)
    };
    Ok(Box::new(Ctr {
        stream: sym::ctr(&k.block, cb)?,
        left,
    }))
}

impl CryptOp for Ctr {
    fn update_len(&self, n: usize) -> Result<usize> {
        match self.left {
            Some(left) if n as u128 > left => Err(Error::DataLenRange),
            _ => Ok(n),
        }
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = self.update_len(input.len())?;
        self.stream.process(input, &mut out[..n]);
        if let Some(left) = &mut self.left {
            // Whole blocks of keystream are spent even by a partial block.
            *left = left.saturating_sub((n as u128).next_multiple_of(16));
        }
        Ok(n)
    }

    fn final_len(&self) -> usize {
        0
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(Vec::new()))
    }
}

// ---- held-input operations: GCM, key wrap ------------------------------------------------------

/// The operation an input-holding mode runs at the end.
#[derive(Clone)]
enum Whole {
    Gcm {
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_len: usize,
    },
    Kw {
        pad: bool,
    },
    Ccm {
        data_len: usize,
        nonce: Vec<u8>,
        aad: Vec<u8>,
        mac_len: usize,
    },
}

/// GCM or AES key wrap: the input is held until the final call (`HELD_CAP` at most).
pub struct Held {
    key: Arc<Key>,
    whole: Whole,
    decrypt: bool,
    input: Zeroizing<Vec<u8>>,
}

pub fn gcm(mech: &Mech, key: &Arc<Key>, decrypt: bool) -> Result<Box<dyn CryptOp>> {
    let Param::Gcm { iv, aad, tag_bits } = &mech.param else {
        return Err(Error::MechanismParamInvalid);
    };
    if tag_bits % 8 != 0 || !sym::GCM_TAG_LENS.contains(&(*tag_bits as usize / 8)) {
        return Err(Error::MechanismParamInvalid);
    }
    if !sym::GCM_IV_LENS.contains(&iv.len()) {
        return Err(Error::MechanismParamInvalid);
    }
    let tag_len = *tag_bits as usize / 8;
    #[cfg(feature = "backend-awslc")]
    if !decrypt {
        if sym_key(key)?.block.cipher() != sym::Cipher::Aes {
            return Err(Error::KeyTypeInconsistent);
        }
        return Ok(Box::new(GcmEncrypt {
            key: key.clone(),
            iv: iv.clone(),
            aad: aad.clone(),
            tag_len,
            stream: None,
            done: 0,
        }));
    }
    sym_key(key)?;
    Ok(Box::new(Held {
        key: key.clone(),
        whole: Whole::Gcm {
            iv: iv.clone(),
            aad: aad.clone(),
            tag_len,
        },
        decrypt,
        input: Zeroizing::new(Vec::new()),
    }))
}

/// CKM_AES_CCM: CK_CCM_PARAMS names the message length up front; the input must have it
/// (encryption: `ulDataLen` bytes; decryption: `ulDataLen` plus the MAC).
pub fn ccm(mech: &Mech, key: &Arc<Key>, decrypt: bool) -> Result<Box<dyn CryptOp>> {
    let Param::Ccm {
        data_len,
        nonce,
        aad,
        mac_len,
    } = &mech.param
    else {
        return Err(Error::MechanismParamInvalid);
    };
    let mac_ok = (4..=16).contains(mac_len) && mac_len % 2 == 0;
    if !mac_ok || !(7..=13).contains(&nonce.len()) {
        return Err(Error::MechanismParamInvalid);
    }
    // The length field has 15 - nonce bytes.
    let l = 15 - nonce.len();
    if l < 8 && (*data_len as u128) >> (8 * l) != 0 {
        return Err(Error::MechanismParamInvalid);
    }
    sym_key(key)?;
    Ok(Box::new(Held {
        key: key.clone(),
        whole: Whole::Ccm {
            data_len: *data_len as usize,
            nonce: nonce.clone(),
            aad: aad.clone(),
            mac_len: *mac_len as usize,
        },
        decrypt,
        input: Zeroizing::new(Vec::new()),
    }))
}

/// CKM_AES_KEY_WRAP (RFC 3394) and CKM_AES_KEY_WRAP_KWP / _PAD (RFC 5649). Only the default IV
/// is accepted (an explicit one equal to it too).
pub fn kw(mech: &Mech, key: &Arc<Key>, decrypt: bool, pad: bool) -> Result<Box<dyn CryptOp>> {
    let default: &[u8] = if pad {
        &[0xa6, 0x59, 0x59, 0xa6]
    } else {
        &[0xa6; 8]
    };
    match &mech.param {
        Param::None => {}
        Param::Bytes(iv) if iv[..] == *default => {}
        _ => return Err(Error::MechanismParamInvalid),
    }
    sym_key(key)?;
    Ok(Box::new(Held {
        key: key.clone(),
        whole: Whole::Kw { pad },
        decrypt,
        input: Zeroizing::new(Vec::new()),
    }))
}

impl Held {
    fn out_len(&self, n: usize) -> Result<usize> {
        Ok(match (&self.whole, self.decrypt) {
            (Whole::Gcm { tag_len, .. }, false) => n + tag_len,
            (Whole::Gcm { tag_len, .. }, true) => n
                .checked_sub(*tag_len)
                .ok_or(Error::EncryptedDataLenRange)?,
            (Whole::Kw { pad: false }, false) => {
                if n < 16 || !n.is_multiple_of(8) {
                    return Err(Error::DataLenRange);
                }
                n + 8
            }
            (Whole::Kw { pad: true }, false) => {
                if n == 0 {
                    return Err(Error::DataLenRange);
                }
                n.next_multiple_of(8) + 8
            }
            (Whole::Ccm { data_len, .. }, false) => {
                if n != *data_len {
                    return Err(Error::DataLenRange);
                }
                n + match &self.whole {
                    Whole::Ccm { mac_len, .. } => mac_len,
                    _ => unreachable!(),
                }
            }
            (
                Whole::Ccm {
                    data_len, mac_len, ..
                },
                true,
            ) => {
                if n != data_len + mac_len {
                    return Err(Error::EncryptedDataLenRange);
                }
                *data_len
            }
            (Whole::Kw { pad }, true) => {
                // RFC 3394 wraps two semiblocks at least; RFC 5649 one.
                let min = if *pad { 16 } else { 24 };
                if n < min || !n.is_multiple_of(8) {
                    return Err(Error::EncryptedDataLenRange);
                }
                n - 8
            }
        })
    }

    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let k = sym_key(&self.key)?;
        match &self.whole {
            Whole::Gcm { iv, aad, tag_len } => {
                if self.decrypt {
                    let n = input.len() - tag_len;
                    out[..n].copy_from_slice(&input[..n]);
                    sym::aes_gcm(k, iv, aad, &mut out[..n], *tag_len, Some(&input[n..]))?;
                    Ok(n)
                } else {
                    let n = input.len();
                    out[..n].copy_from_slice(input);
                    let tag = sym::aes_gcm(k, iv, aad, &mut out[..n], *tag_len, None)?;
                    out[n..n + tag_len].copy_from_slice(&tag[..*tag_len]);
                    Ok(n + tag_len)
                }
            }
            Whole::Ccm {
                nonce,
                aad,
                mac_len,
                ..
            } => {
                if self.decrypt {
                    let n = input.len() - mac_len;
                    out[..n].copy_from_slice(&input[..n]);
                    sym::aes_ccm(
                        &k.block,
                        nonce,
                        aad,
                        &mut out[..n],
                        *mac_len,
                        Some(&input[n..]),
                    )?;
                    Ok(n)
                } else {
                    let n = input.len();
                    out[..n].copy_from_slice(input);
                    let tag = sym::aes_ccm(&k.block, nonce, aad, &mut out[..n], *mac_len, None)?;
                    out[n..n + mac_len].copy_from_slice(&tag);
                    Ok(n + mac_len)
                }
            }
            Whole::Kw { pad } => {
                let v = sym::aes_kw(&k.block, *pad, input, self.decrypt)?;
                out[..v.len()].copy_from_slice(&v);
                Ok(v.len())
            }
        }
    }
}

impl CryptOp for Held {
    fn update_len(&self, n: usize) -> Result<usize> {
        if self.input.len() + n > HELD_CAP {
            return Err(len_error(self.decrypt));
        }
        Ok(0)
    }

    fn update(&mut self, input: &[u8], _out: &mut [u8]) -> Result<usize> {
        self.update_len(input.len())?;
        super::append_secret(&mut self.input, input);
        Ok(0)
    }

    fn final_len(&self) -> usize {
        self.out_len(self.input.len()).unwrap_or(0)
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; self.out_len(self.input.len())?]);
        let n = self.finish_into(&mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn finish_into(&mut self, out: &mut [u8]) -> Result<usize> {
        let input = std::mem::take(&mut self.input);
        if self.out_len(input.len())? > out.len() {
            return Err(Error::GeneralError);
        }
        self.run(&input, out)
    }

    fn one_shot_len(&self, n: usize) -> Result<usize> {
        self.out_len(n)
    }

    fn one_shot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.out_len(input.len())?;
        self.run(input, out)
    }
}

/// GCM's limit on the plaintext of one message (SP 800-38D): 2^39 - 256 bits.
#[cfg(feature = "backend-awslc")]
const GCM_MAX_MESSAGE: u64 = (1 << 36) - 32;

/// Multi-part GCM encryption (aws-lc backend): each update returns the ciphertext of its input, the
/// final call the tag (PKCS#11 3.0, CKM_AES_GCM). The AWS-LC stream starts on the first update, so
/// a single-part C_Encrypt never makes one and takes the one-shot path instead. Decryption holds
/// its input ([`Held`]): no plaintext leaves before the tag verifies.
#[cfg(feature = "backend-awslc")]
pub struct GcmEncrypt {
    key: Arc<Key>,
    iv: Vec<u8>,
    aad: Vec<u8>,
    tag_len: usize,
    stream: Option<crate::crypto::GcmStream>,
    /// Plaintext bytes encrypted so far.
    done: u64,
}

#[cfg(feature = "backend-awslc")]
impl GcmEncrypt {
    fn stream(&mut self) -> Result<&mut crate::crypto::GcmStream> {
        if self.stream.is_none() {
            let value = &secret(&self.key)?.value;
            self.stream = Some(crate::crypto::GcmStream::new(
                value,
                &self.iv,
                &self.aad,
                self.tag_len,
            )?);
        }
        self.stream.as_mut().ok_or(Error::GeneralError)
    }
}

#[cfg(feature = "backend-awslc")]
impl CryptOp for GcmEncrypt {
    fn update_len(&self, n: usize) -> Result<usize> {
        match self.done.checked_add(n as u64) {
            Some(total) if total <= GCM_MAX_MESSAGE => Ok(n),
            _ => Err(Error::DataLenRange),
        }
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = self.update_len(input.len())?;
        if n > 0 {
            self.stream()?.update(input, out)?;
            self.done += n as u64;
        }
        Ok(n)
    }

    fn final_len(&self) -> usize {
        self.tag_len
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        self.stream()?;
        let s = self.stream.take().ok_or(Error::GeneralError)?;
        Ok(Zeroizing::new(s.finish()?))
    }

    fn one_shot_len(&self, n: usize) -> Result<usize> {
        Ok(self.update_len(n)? + self.tag_len)
    }

    fn one_shot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let total = self.one_shot_len(input.len())?;
        if self.stream.is_some() || self.done != 0 || out.len() < total {
            return Err(Error::GeneralError);
        }
        // Whole message at once: aws-lc-rs's sealing (12-byte IV, full tag) or RustCrypto.
        let n = input.len();
        out[..n].copy_from_slice(input);
        let tag = sym::aes_gcm(
            sym_key(&self.key)?,
            &self.iv,
            &self.aad,
            &mut out[..n],
            self.tag_len,
            None,
        )?;
        out[n..total].copy_from_slice(tag.get(..self.tag_len).ok_or(Error::GeneralError)?);
        Ok(total)
    }
}

// ---- MACs --------------------------------------------------------------------------------------

/// CMAC (full or general length) and the CBC-MAC of CKM_AES_MAC / CKM_AES_MAC_GENERAL.
pub struct Mac {
    kind: MacKind,
    len: usize,
}

enum MacKind {
    Cmac(Box<Cmac>),
    /// CBC-MAC, zero IV; the data zero-padded to whole blocks (ISO 9797-1 padding method 1: an
    /// empty message is one zero block).
    CbcMac {
        stream: Box<dyn BlockStream>,
        held: Zeroizing<Vec<u8>>,
        last: Zeroizing<Vec<u8>>,
        bs: usize,
        seen: bool,
    },
}

/// `general`: the length comes from CK_MAC_GENERAL_PARAMS (1 to a block); otherwise `full_len`.
pub fn mac(
    mech: &Mech,
    key: &Arc<Key>,
    cmac: bool,
    general: bool,
    full_len: usize,
) -> Result<Box<dyn SignOp>> {
    let k = sym_key(key)?;
    let bs = k.block.block_len();
    let len = match (&mech.param, general) {
        (Param::None, false) => full_len.min(bs),
        (Param::MacLen(n), true) if (1..=bs as CK_ULONG).contains(n) => *n as usize,
        _ => return Err(Error::MechanismParamInvalid),
    };
    let kind = if cmac {
        MacKind::Cmac(Box::new(Cmac::new(&k.block)))
    } else {
        MacKind::CbcMac {
            stream: sym::cbc(&k.block, &vec![0u8; bs], false)?,
            held: Zeroizing::new(Vec::with_capacity(2 * bs)),
            last: Zeroizing::new(vec![0u8; bs]),
            bs,
            seen: false,
        }
    };
    Ok(Box::new(Mac { kind, len }))
}

impl Mac {
    fn full(self) -> Zeroizing<Vec<u8>> {
        match self.kind {
            MacKind::Cmac(m) => m.finalize(),
            MacKind::CbcMac {
                mut stream,
                mut held,
                mut last,
                bs,
                seen,
            } => {
                if !held.is_empty() || !seen {
                    held.resize(bs, 0);
                    stream.process(&held, &mut last);
                }
                last
            }
        }
    }
}

impl SignOp for Mac {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.kind {
            MacKind::Cmac(m) => m.update(data),
            MacKind::CbcMac {
                stream,
                held,
                last,
                bs,
                seen,
            } => {
                *seen |= !data.is_empty();
                let bs = *bs;
                let mut data = data;
                if !held.is_empty() {
                    let take = (bs - held.len()).min(data.len());
                    held.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if held.len() == bs {
                        stream.process(held, last);
                        held.clear();
                    }
                }
                // Whole blocks straight from the input, through a small scratch buffer.
                let whole = data.len() / bs * bs;
                let mut scratch = Zeroizing::new([0u8; 4096]);
                for c in data[..whole].chunks(4096) {
                    stream.process(c, &mut scratch[..c.len()]);
                    last.copy_from_slice(&scratch[c.len() - bs..c.len()]);
                }
                held.extend_from_slice(&data[whole..]);
            }
        }
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.len
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let len = self.len;
        let mut m = self.full();
        m.truncate(len);
        Ok(m)
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        if sig.len() != self.len {
            return Err(Error::SignatureLenRange);
        }
        let len = self.len;
        let m = self.full();
        if crate::crypto::ct_eq(&m[..len], sig) {
            Ok(())
        } else {
            Err(Error::SignatureInvalid)
        }
    }
}

// ---- derivation --------------------------------------------------------------------------------

/// CKM_*_ECB_ENCRYPT_DATA (`cbc` false: CK_KEY_DERIVATION_STRING_DATA) and
/// CKM_*_CBC_ENCRYPT_DATA (an IV and the data): the data, a whole number of blocks, encrypted
/// under the base key without padding, is the new key's value.
/// The ENCRYPT_DATA derivations: the encryption of the data, truncated to the key's length (its
/// first bytes); a key longer than the data is `MechanismParamInvalid` (the data is too short).
pub fn encrypt_data(
    mech: &Mech,
    key: &Arc<Key>,
    cbc: bool,
    want: &KeyLen,
) -> Result<Zeroizing<Vec<u8>>> {
    let k = sym_key(key)?;
    let bs = k.block.block_len();
    let (mut stream, data) = match (&mech.param, cbc) {
        (Param::Bytes(d), false) => (sym::ecb(&k.block, false), d),
        (Param::IvData { iv, data }, true) if iv.len() == bs => {
            (sym::cbc(&k.block, iv, false)?, data)
        }
        _ => return Err(Error::MechanismParamInvalid),
    };
    if data.is_empty() || !data.len().is_multiple_of(bs) {
        return Err(Error::MechanismParamInvalid);
    }
    let len = want.len(data.len())?;
    if len > data.len() {
        return Err(Error::MechanismParamInvalid);
    }
    let mut out = Zeroizing::new(vec![0u8; data.len()]);
    stream.process(data, &mut out);
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::{crypt_all, info};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    fn key(kt: CK_KEY_TYPE, v: &str) -> Arc<Key> {
        Arc::new(Key::Secret(Secret::typed(Zeroizing::new(h(v)), kt)))
    }

    fn op(ty: CK_MECHANISM_TYPE, param: Param, k: &Arc<Key>, decrypt: bool) -> Box<dyn CryptOp> {
        let def = info(&Default::default(), ty).unwrap();
        def.crypt.unwrap()(&Mech { ty, param }, k, decrypt).unwrap()
    }

    /// Single-part, then multi-part in chunks of every size from 1 to 40 bytes: both give `want`,
    /// and decryption gives the plaintext back the same ways.
    fn check(ty: CK_MECHANISM_TYPE, param: Param, k: &Arc<Key>, pt: &[u8], want: &[u8]) {
        let mut e = op(ty, param.clone(), k, false);
        assert_eq!(e.one_shot_len(pt.len()).unwrap(), want.len());
        assert_eq!(
            hex::encode(crypt_all(&mut *e, pt).unwrap()),
            hex::encode(want),
            "{ty:#x}"
        );
        let mut d = op(ty, param.clone(), k, true);
        assert_eq!(
            &crypt_all(&mut *d, want).unwrap()[..],
            pt,
            "{ty:#x} decrypt"
        );
        for chunk in 1..=40 {
            for (decrypt, input, expect) in [(false, pt, want), (true, want, pt)] {
                let mut o = op(ty, param.clone(), k, decrypt);
                let (mut got, mut fed) = (Vec::new(), 0);
                for c in input.chunks(chunk) {
                    let n = o.update_len(c.len()).unwrap();
                    let mut out = vec![0u8; n];
                    assert_eq!(o.update(c, &mut out).unwrap(), n);
                    got.extend_from_slice(&out);
                    fed += c.len();
                    // Streaming: outside AEAD, a mode holds two blocks at most.
                    assert!(
                        ty == CKM_AES_GCM || fed - got.len() <= 32,
                        "{ty:#x} holds too much"
                    );
                }
                got.extend_from_slice(&o.finish().unwrap());
                assert_eq!(
                    hex::encode(&got),
                    hex::encode(expect),
                    "{ty:#x} chunk {chunk} decrypt {decrypt}"
                );
            }
        }
    }

    const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                      30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

    /// NIST SP 800-38A F.1.1, F.2.1, F.5.1 (AES-128 ECB, CBC, CTR).
    #[test]
    fn sp800_38a() {
        let k = key(CKK_AES, K128);
        let pt = h(PT);
        check(
            CKM_AES_ECB,
            Param::None,
            &k,
            &pt,
            &h(
                "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf
                43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
            ),
        );
        let iv = Param::Bytes(Zeroizing::new(h("000102030405060708090a0b0c0d0e0f")));
        check(
            CKM_AES_CBC,
            iv.clone(),
            &k,
            &pt,
            &h(
                "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
                73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
            ),
        );
        let cb: [u8; 16] = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
        let ctr_ct = h(
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
                        5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        );
        check(CKM_AES_CTR, Param::Ctr { bits: 128, cb }, &k, &pt, &ctr_ct);
        // CTR on a partial last block is the keystream's prefix.
        check(
            CKM_AES_CTR,
            Param::Ctr { bits: 128, cb },
            &k,
            &pt[..37],
            &ctr_ct[..37],
        );
        // CBC_PAD: the 64 bytes, then a full block of padding (its CBC encryption).
        let mut e = op(CKM_AES_CBC_PAD, iv.clone(), &k, false);
        let c = crypt_all(&mut *e, &pt).unwrap();
        assert_eq!(c.len(), 80);
        assert_eq!(hex::encode(&c[..64]), "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7");
        check(CKM_AES_CBC_PAD, iv.clone(), &k, &pt, &c);
        for n in [0usize, 1, 15, 16, 17, 33] {
            let mut e = op(CKM_AES_CBC_PAD, iv.clone(), &k, false);
            let c = crypt_all(&mut *e, &pt[..n]).unwrap();
            assert_eq!(c.len(), (n / 16 + 1) * 16);
            check(CKM_AES_CBC_PAD, iv.clone(), &k, &pt[..n], &c);
        }
    }

    #[test]
    fn length_errors_and_padding() {
        let k = key(CKK_AES, K128);
        let iv = Param::Bytes(Zeroizing::new(vec![0; 16]));
        for ty in [CKM_AES_ECB, CKM_AES_CBC] {
            let p = if ty == CKM_AES_ECB {
                Param::None
            } else {
                iv.clone()
            };
            let mut e = op(ty, p.clone(), &k, false);
            assert_eq!(
                crypt_all(&mut *e, &[0; 17]).unwrap_err(),
                Error::DataLenRange
            );
            let mut d = op(ty, p.clone(), &k, true);
            assert_eq!(
                crypt_all(&mut *d, &[0; 15]).unwrap_err(),
                Error::EncryptedDataLenRange
            );
            // Multi-part: the partial block is refused at the end.
            let mut e = op(ty, p, &k, false);
            e.update(&[0; 5], &mut []).unwrap();
            assert_eq!(e.finish().unwrap_err(), Error::DataLenRange);
        }
        // Bad padding.
        let mut e = op(CKM_AES_CBC, iv.clone(), &k, false);
        let c = crypt_all(&mut *e, &[0x11u8; 16]).unwrap();
        let mut d = op(CKM_AES_CBC_PAD, iv.clone(), &k, true);
        assert_eq!(
            crypt_all(&mut *d, &c).unwrap_err(),
            Error::EncryptedDataInvalid
        );
        let mut d = op(CKM_AES_CBC_PAD, iv.clone(), &k, true);
        assert_eq!(
            crypt_all(&mut *d, &[]).unwrap_err(),
            Error::EncryptedDataLenRange
        );
        // Wrong IV length, wrong parameter kinds.
        let def = info(&Default::default(), CKM_AES_CBC).unwrap();
        let bad = Mech {
            ty: CKM_AES_CBC,
            param: Param::Bytes(Zeroizing::new(vec![0; 8])),
        };
        assert_eq!(
            def.crypt.unwrap()(&bad, &k, false).err().unwrap(),
            Error::MechanismParamInvalid
        );
        // A triple DES key with an AES mechanism's mode works on 8-byte blocks instead.
        let d3 = key(CKK_DES3, "0123456789abcdeffedcba987654321089abcdef01234567");
        let bad = Mech {
            ty: CKM_DES3_CBC,
            param: Param::Bytes(Zeroizing::new(vec![0; 16])),
        };
        let def = info(&Default::default(), CKM_DES3_CBC).unwrap();
        assert_eq!(
            def.crypt.unwrap()(&bad, &d3, false).err().unwrap(),
            Error::MechanismParamInvalid
        );
    }

    /// CTR: the counter bits are honoured; wrapping them is refused before any output.
    #[test]
    fn ctr_counter_bits() {
        let k = key(CKK_AES, K128);
        let mut cb = [0u8; 16];
        cb[15] = 0xfe;
        // 8 counter bits from 0xfe: two blocks left.
        let mut e = op(CKM_AES_CTR, Param::Ctr { bits: 8, cb }, &k, false);
        assert_eq!(e.update_len(33).unwrap_err(), Error::DataLenRange);
        assert_eq!(e.update_len(32).unwrap(), 32);
        let mut out = [0u8; 20];
        e.update(&[0; 20], &mut out).unwrap();
        // 20 bytes spent two blocks of keystream.
        assert_eq!(e.update_len(1).unwrap_err(), Error::DataLenRange);
        for bits in [0, 129] {
            let def = info(&Default::default(), CKM_AES_CTR).unwrap();
            let m = Mech {
                ty: CKM_AES_CTR,
                param: Param::Ctr { bits, cb },
            };
            assert_eq!(
                def.crypt.unwrap()(&m, &k, false).err().unwrap(),
                Error::MechanismParamInvalid
            );
        }
    }

    /// RFC 3962 appendix B (AES-128 CBC-CS3, key "chicken teriyaki", zero IV).
    #[test]
    fn cts_rfc3962() {
        let k = key(CKK_AES, "636869636b656e207465726979616b69");
        let iv = Param::Bytes(Zeroizing::new(vec![0; 16]));
        let pt = h("4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c");
        for (n, ct) in [
            (17, "c6353568f2bf8cb4d8a580362da7ff7f97"),
            (31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"),
            (32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"),
            (47, "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5"),
        ] {
            check(CKM_AES_CTS, iv.clone(), &k, &pt[..n], &h(ct));
        }
        let mut e = op(CKM_AES_CTS, iv, &k, false);
        assert_eq!(
            crypt_all(&mut *e, &pt[..15]).unwrap_err(),
            Error::DataLenRange
        );
    }

    /// The GCM specification's test cases 2 and 3 (McGrew and Viega), and a tag that fails.
    #[test]
    fn gcm_known_answers() {
        let gcm = |iv: &str, aad: &[u8], bits| Param::Gcm {
            iv: h(iv),
            aad: aad.to_vec(),
            tag_bits: bits,
        };
        let k = key(CKK_AES, "00000000000000000000000000000000");
        check(
            CKM_AES_GCM,
            gcm("000000000000000000000000", b"", 128),
            &k,
            &[0; 16],
            &h("0388dace60b6a392f328c2b971b2fe78 ab6e47d42cec13bdf53a67b21257bddf"),
        );
        let k = key(CKK_AES, "feffe9928665731c6d6a8f9467308308");
        let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
        let ct = h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985 4d5c2af327cd64a62cf35abd2ba6fab4");
        check(
            CKM_AES_GCM,
            gcm("cafebabefacedbaddecaf888", b"", 128),
            &k,
            &pt,
            &ct,
        );
        // A 96-bit tag is the prefix of the full tag (the RustCrypto path on either backend).
        let short = [&ct[..64], &ct[64..76]].concat();
        check(
            CKM_AES_GCM,
            gcm("cafebabefacedbaddecaf888", b"", 96),
            &k,
            &pt,
            &short,
        );
        let mut bad = ct.clone();
        bad[70] ^= 1;
        let mut d = op(
            CKM_AES_GCM,
            gcm("cafebabefacedbaddecaf888", b"", 128),
            &k,
            true,
        );
        assert_eq!(
            crypt_all(&mut *d, &bad).unwrap_err(),
            Error::EncryptedDataInvalid
        );
        let mut d = op(
            CKM_AES_GCM,
            gcm("cafebabefacedbaddecaf888", b"x", 128),
            &k,
            true,
        );
        assert_eq!(
            crypt_all(&mut *d, &ct).unwrap_err(),
            Error::EncryptedDataInvalid
        );
        let mut d = op(
            CKM_AES_GCM,
            gcm("cafebabefacedbaddecaf888", b"", 128),
            &k,
            true,
        );
        assert_eq!(
            crypt_all(&mut *d, &ct[..15]).unwrap_err(),
            Error::EncryptedDataLenRange
        );
        let def = info(&Default::default(), CKM_AES_GCM).unwrap();
        for p in [
            gcm("cafebabefacedbaddecaf888", b"", 64),
            gcm("cafebabefacedbaddecaf888", b"", 129),
            gcm("", b"", 128),
            gcm("cafebabefacedbaddecaf888", b"", 100),
        ] {
            let m = Mech {
                ty: CKM_AES_GCM,
                param: p,
            };
            assert_eq!(
                def.crypt.unwrap()(&m, &k, false).err().unwrap(),
                Error::MechanismParamInvalid
            );
        }
    }

    /// The GCM specification's test cases 4 (12-byte IV) and 5 (8-byte IV), with AAD; and
    /// multi-part encryption in odd chunk sizes against the single-part result for every IV
    /// length, tag length and key size the mechanism takes. Single-part encryption with a 12-byte
    /// IV and a full tag runs on aws-lc-rs, the rest on RustCrypto, so on the aws-lc backend the
    /// streaming path (AWS-LC's EVP interface) is checked against both.
    #[test]
    fn gcm_multipart_matches_single_part() {
        let k = key(CKK_AES, "feffe9928665731c6d6a8f9467308308");
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        for (iv, ct, tag) in [
            (
                "cafebabefacedbaddecaf888",
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
                "5bc94fbc3221a5db94fae95ae7121a47",
            ),
            (
                "cafebabefacedbad",
                "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
                "3612d2e79e3b0785561be14aaca2fccb",
            ),
        ] {
            for tag_len in [12usize, 16] {
                let p = Param::Gcm {
                    iv: h(iv),
                    aad: aad.clone(),
                    tag_bits: 8 * tag_len as CK_ULONG,
                };
                let want = [h(ct), h(tag)[..tag_len].to_vec()].concat();
                check(CKM_AES_GCM, p, &k, &pt, &want);
            }
        }
        let msg: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for key_hex in [
            "000102030405060708090a0b0c0d0e0f",
            "000102030405060708090a0b0c0d0e0f1011121314151617",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ] {
            let k = key(CKK_AES, key_hex);
            for iv_len in [8usize, 12, 16] {
                for tag_len in 12..=16usize {
                    let p = Param::Gcm {
                        iv: (0..iv_len as u8).collect(),
                        aad: b"associated".to_vec(),
                        tag_bits: 8 * tag_len as CK_ULONG,
                    };
                    let mut e = op(CKM_AES_GCM, p.clone(), &k, false);
                    let single = crypt_all(&mut *e, &msg).unwrap();
                    assert_eq!(single.len(), msg.len() + tag_len);
                    for sizes in [&[1usize][..], &[15], &[17], &[4096], &[1, 15, 17, 4096, 3]] {
                        let mut e = op(CKM_AES_GCM, p.clone(), &k, false);
                        let mut got = Vec::new();
                        let mut rest = &msg[..];
                        for &n in sizes.iter().cycle() {
                            if rest.is_empty() {
                                break;
                            }
                            let (c, r) = rest.split_at(n.min(rest.len()));
                            rest = r;
                            let mut out = vec![0u8; e.update_len(c.len()).unwrap()];
                            // Every update returns exactly its input's ciphertext on the aws-lc
                            // backend; the RustCrypto backend holds everything for the final.
                            let n = e.update(c, &mut out).unwrap();
                            #[cfg(feature = "backend-awslc")]
                            assert_eq!(n, c.len());
                            got.extend_from_slice(&out[..n]);
                        }
                        let fl = e.final_len();
                        #[cfg(feature = "backend-awslc")]
                        assert_eq!(fl, tag_len);
                        let mut out = vec![0u8; fl];
                        let n = e.finish_into(&mut out).unwrap();
                        got.extend_from_slice(&out[..n]);
                        assert_eq!(
                            got,
                            single[..],
                            "key {} iv {iv_len} tag {tag_len} chunks {sizes:?}",
                            key_hex.len() / 2
                        );
                    }
                    // The empty message: the tag alone, multi-part (an empty update) or not.
                    let mut e = op(CKM_AES_GCM, p.clone(), &k, false);
                    let single = crypt_all(&mut *e, &[]).unwrap();
                    let mut e = op(CKM_AES_GCM, p.clone(), &k, false);
                    assert_eq!(e.update(&[], &mut []).unwrap(), 0);
                    assert_eq!(&e.finish().unwrap()[..], &single[..]);
                    assert_eq!(single.len(), tag_len);
                    let mut d = op(CKM_AES_GCM, p, &k, true);
                    assert_eq!(crypt_all(&mut *d, &single).unwrap().len(), 0);
                }
            }
        }
    }

    fn mac(ty: CK_MECHANISM_TYPE, param: Param, k: &Arc<Key>, data: &[u8]) -> Vec<u8> {
        let def = info(&Default::default(), ty).unwrap();
        let mut s = def.sign.unwrap()(
            &Mech {
                ty,
                param: param.clone(),
            },
            k,
            false,
        )
        .unwrap();
        for c in data.chunks(7) {
            s.update(c).unwrap();
        }
        let m = s.sign().unwrap().to_vec();
        let mut v = def.sign.unwrap()(&Mech { ty, param }, k, true).unwrap();
        v.update(data).unwrap();
        v.verify(&m).unwrap();
        m
    }

    /// NIST SP 800-38B D.1 (AES-128 CMAC), general length, and the CBC-MAC of AES_MAC.
    #[test]
    fn macs() {
        let k = key(CKK_AES, K128);
        let pt = h(PT);
        for (n, want) in [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ] {
            assert_eq!(
                hex::encode(mac(CKM_AES_CMAC, Param::None, &k, &pt[..n])),
                want
            );
            assert_eq!(
                hex::encode(mac(CKM_AES_CMAC_GENERAL, Param::MacLen(4), &k, &pt[..n])),
                want[..8]
            );
        }
        // CBC-MAC of whole blocks is the last CBC block under a zero IV (SP 800-38A F.2.1's
        // blocks with IV 0 are not listed, so the CBC mode above is the reference).
        let mut e = op(
            CKM_AES_CBC,
            Param::Bytes(Zeroizing::new(vec![0; 16])),
            &k,
            false,
        );
        let c = crypt_all(&mut *e, &pt).unwrap();
        assert_eq!(
            mac(CKM_AES_MAC_GENERAL, Param::MacLen(16), &k, &pt),
            c[48..]
        );
        assert_eq!(mac(CKM_AES_MAC, Param::None, &k, &pt), c[48..56]);
        // A partial block is zero-padded.
        let mut padded = pt[..20].to_vec();
        padded.resize(32, 0);
        let mut e = op(
            CKM_AES_CBC,
            Param::Bytes(Zeroizing::new(vec![0; 16])),
            &k,
            false,
        );
        let c = crypt_all(&mut *e, &padded).unwrap();
        assert_eq!(
            mac(CKM_AES_MAC_GENERAL, Param::MacLen(16), &k, &pt[..20]),
            c[16..]
        );
        // A wrong MAC, a wrong length.
        let def = info(&Default::default(), CKM_AES_CMAC).unwrap();
        let mut v = def.sign.unwrap()(&Mech::new(CKM_AES_CMAC), &k, true).unwrap();
        v.update(b"x").unwrap();
        assert_eq!(v.verify(&[0; 16]).unwrap_err(), Error::SignatureInvalid);
        let mut v = def.sign.unwrap()(&Mech::new(CKM_AES_CMAC), &k, true).unwrap();
        v.update(b"x").unwrap();
        assert_eq!(v.verify(&[0; 15]).unwrap_err(), Error::SignatureLenRange);
        for bad in [Param::MacLen(0), Param::MacLen(17), Param::None] {
            let def = info(&Default::default(), CKM_AES_CMAC_GENERAL).unwrap();
            let m = Mech {
                ty: CKM_AES_CMAC_GENERAL,
                param: bad,
            };
            assert!(def.sign.unwrap()(&m, &k, false).is_err());
        }
    }

    /// ENCRYPT_DATA derivations are the ECB / CBC encryption of the data.
    #[test]
    fn encrypt_data_derivations() {
        let all = KeyLen {
            asked: None,
            st: crate::mechanism::secret_type(CKK_GENERIC_SECRET).unwrap(),
        };
        let k = key(CKK_AES, K128);
        let pt = h(PT);
        let m = Mech {
            ty: CKM_AES_ECB_ENCRYPT_DATA,
            param: Param::Bytes(Zeroizing::new(pt[..32].to_vec())),
        };
        assert_eq!(
            hex::encode(encrypt_data(&m, &k, false, &all).unwrap()),
            "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
        );
        let m = Mech {
            ty: CKM_AES_CBC_ENCRYPT_DATA,
            param: Param::IvData {
                iv: h("000102030405060708090a0b0c0d0e0f"),
                data: Zeroizing::new(pt[..16].to_vec()),
            },
        };
        assert_eq!(
            hex::encode(encrypt_data(&m, &k, true, &all).unwrap()),
            "7649abac8119b246cee98e9b12e9197d"
        );
        let m = Mech {
            ty: CKM_AES_ECB_ENCRYPT_DATA,
            param: Param::Bytes(Zeroizing::new(vec![1; 15])),
        };
        assert_eq!(
            encrypt_data(&m, &k, false, &all).unwrap_err(),
            Error::MechanismParamInvalid
        );
    }

    /// Triple DES: SP 800-38B D.4 (three-key TDEA CMAC); ECB and CBC known answers computed by
    /// OpenSSL 3.0 (`openssl enc -des-ede3[-cbc]`, `-des-ede` for the two-key form).
    #[test]
    fn triple_des() {
        let k = key(CKK_DES3, "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5");
        let m = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        for (n, want) in [
            (0, "b7a688e122ffaf95"),
            (8, "8e8f293136283797"),
            (20, "743ddbe0ce2dc2ed"),
            (32, "33e6b1092400eae5"),
        ] {
            assert_eq!(
                hex::encode(mac(CKM_DES3_CMAC, Param::None, &k, &m[..n])),
                want
            );
        }
        let k3 = key(CKK_DES3, "0123456789abcdeffedcba987654321089abcdef01234567");
        check(
            CKM_DES3_ECB,
            Param::None,
            &k3,
            &m,
            &h("a40aa617219768d8c81f1f9d43f698947c8ce5f35f9885da25588f8d5e1d925a"),
        );
        let iv = Param::Bytes(Zeroizing::new(h("0001020304050607")));
        check(
            CKM_DES3_CBC,
            iv.clone(),
            &k3,
            &m,
            &h("d8a0b26281afd80e66a0bf96ccec523e7f119bb7bfdb1a6e5e664e06409e1d28"),
        );
        let k2 = key(CKK_DES2, "0123456789abcdeffedcba9876543210");
        check(
            CKM_DES3_ECB,
            Param::None,
            &k2,
            &m,
            &h("ea43f9aa27f82f595a3e3056e1710d3492d9a7b73ab3b15840eaf7b333e9740c"),
        );
        for n in [0usize, 7, 8, 9] {
            let mut e = op(CKM_DES3_CBC_PAD, iv.clone(), &k3, false);
            let c = crypt_all(&mut *e, &m[..n]).unwrap();
            assert_eq!(c.len(), (n / 8 + 1) * 8);
            check(CKM_DES3_CBC_PAD, iv.clone(), &k3, &m[..n], &c);
        }
        // Generated keys carry DES parity.
        let def = info(&Default::default(), CKM_DES3_KEY_GEN).unwrap();
        let (kt, v) = def.keygen.unwrap()(&Mech::new(CKM_DES3_KEY_GEN), None).unwrap();
        assert_eq!((kt, v.len()), (CKK_DES3, 24));
        assert!(v.iter().all(|b| b.count_ones() % 2 == 1));
        assert_eq!(
            def.keygen.unwrap()(&Mech::new(CKM_DES3_KEY_GEN), Some(16)).unwrap_err(),
            Error::TemplateInconsistent
        );
    }

    /// NIST SP 800-38C appendix C, examples 1 and 2; the message length is checked.
    #[test]
    fn ccm_known_answers() {
        let k = key(CKK_AES, "404142434445464748494a4b4c4d4e4f");
        let ccm = |n: &str, a: &str, len, mac| Param::Ccm {
            data_len: len,
            nonce: h(n),
            aad: h(a),
            mac_len: mac,
        };
        check(
            CKM_AES_CCM,
            ccm("10111213141516", "0001020304050607", 4, 4),
            &k,
            &h("20212223"),
            &h("7162015b4dac255d"),
        );
        check(
            CKM_AES_CCM,
            ccm(
                "1011121314151617",
                "000102030405060708090a0b0c0d0e0f",
                16,
                6,
            ),
            &k,
            &h("202122232425262728292a2b2c2d2e2f"),
            &h("d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd"),
        );
        let p = ccm("10111213141516", "0001020304050607", 5, 4);
        let mut e = op(CKM_AES_CCM, p, &k, false);
        assert_eq!(
            crypt_all(&mut *e, &h("20212223")).unwrap_err(),
            Error::DataLenRange
        );
        let mut d = op(
            CKM_AES_CCM,
            ccm("10111213141516", "0001020304050607", 4, 4),
            &k,
            true,
        );
        assert_eq!(
            crypt_all(&mut *d, &h("7162015b4dac255e")).unwrap_err(),
            Error::EncryptedDataInvalid
        );
        let def = info(&Default::default(), CKM_AES_CCM).unwrap();
        for p in [
            ccm("101112131415", "", 4, 4),
            ccm("10111213141516", "", 4, 5),
            ccm("10111213141516", "", 4, 18),
        ] {
            let m = Mech {
                ty: CKM_AES_CCM,
                param: p,
            };
            assert_eq!(
                def.crypt.unwrap()(&m, &k, false).err().unwrap(),
                Error::MechanismParamInvalid
            );
        }
    }
}
