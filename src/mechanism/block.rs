//! The block-cipher modes as PKCS#11 operations, shared by the AES and triple DES families:
//! ECB, CBC, CBC with PKCS#7 padding, CTR, CBC-CTS (CS3), GCM, key wrap, CMAC and CBC-MAC, and
//! the ENCRYPT_DATA derivations.
//!
//! Streaming: `update` outputs every block it can and holds only what the mode must (a partial
//! block; the last block of CBC_PAD decryption, which carries the padding; the last two blocks of
//! CTS). AEAD and key wrap hold their input until the final call, up to [`HELD_CAP`].

use super::keys::{Key, Secret};
use super::{CryptOp, Mech, Param, SignOp};
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
        held: Zeroizing::new(Vec::with_capacity(2 * bs)),
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
        if matches!(self.mode, Mode::Ecb | Mode::Cbc) && n % self.bs != 0 {
            return Err(len_error(self.decrypt));
        }
        if self.mode == Mode::CbcPad && self.decrypt && (n == 0 || n % self.bs != 0) {
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
    sym_key(key)?;
    Ok(Box::new(Held {
        key: key.clone(),
        whole: Whole::Gcm {
            iv: iv.clone(),
            aad: aad.clone(),
            tag_len: *tag_bits as usize / 8,
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
                if n < 16 || n % 8 != 0 {
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
            (Whole::Kw { .. }, true) => {
                if n < 16 || n % 8 != 0 {
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
        self.input.extend_from_slice(input);
        Ok(0)
    }

    fn final_len(&self) -> usize {
        self.out_len(self.input.len()).unwrap_or(0)
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let input = std::mem::take(&mut self.input);
        let mut out = Zeroizing::new(vec![0u8; self.out_len(input.len())?]);
        let n = self.run(&input, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn one_shot_len(&self, n: usize) -> Result<usize> {
        self.out_len(n)
    }

    fn one_shot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.out_len(input.len())?;
        self.run(input, out)
    }
}

// ---- MACs --------------------------------------------------------------------------------------

/// CMAC (full or general length) and the CBC-MAC of CKM_AES_MAC / CKM_AES_MAC_GENERAL.
pub struct Mac {
    kind: MacKind,
    len: usize,
}

enum MacKind {
    Cmac(Cmac),
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
        MacKind::Cmac(Cmac::new(&k.block))
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
                held.extend_from_slice(data);
                let whole = held.len() / *bs * *bs;
                if whole > 0 {
                    let mut out = Zeroizing::new(vec![0u8; whole]);
                    stream.process(&held[..whole], &mut out);
                    last.copy_from_slice(&out[whole - *bs..]);
                    held.drain(..whole);
                }
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
pub fn encrypt_data(mech: &Mech, key: &Arc<Key>, cbc: bool) -> Result<Zeroizing<Vec<u8>>> {
    let k = sym_key(key)?;
    let bs = k.block.block_len();
    let (mut stream, data) = match (&mech.param, cbc) {
        (Param::Bytes(d), false) => (sym::ecb(&k.block, false), d),
        (Param::IvData { iv, data }, true) if iv.len() == bs => {
            (sym::cbc(&k.block, iv, false)?, data)
        }
        _ => return Err(Error::MechanismParamInvalid),
    };
    if data.is_empty() || data.len() % bs != 0 {
        return Err(Error::MechanismParamInvalid);
    }
    let mut out = Zeroizing::new(vec![0u8; data.len()]);
    stream.process(data, &mut out);
    Ok(out)
}
