//! AES: keys (16, 24 or 32 bytes), ECB, CBC, CBC_PAD, CTR, CTS, GCM, CCM, key wrap (RFC 3394 and
//! 5649), CMAC, CBC-MAC and the ENCRYPT_DATA derivations. The modes are in [`super::block`].

use super::block::{self, Mode};
use super::keys::Key;
use super::{CryptOp, KeyLen, Keys, Mech, MechDef, ParamKind, SecretType, SignOp};
use crate::crypto::sym::{BlockKey, Cipher};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const AES: Keys = Keys::Secret(&[CKK_AES]);
const ED: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const WU: CK_FLAGS = CKF_WRAP | CKF_UNWRAP;
const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
/// Message-based encryption and decryption, one message or several (PKCS#11 3.0).
const MSG: CK_FLAGS = CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE;

/// A row over AES keys; key sizes in bytes, as SoftHSM and most tokens report them.
const fn row(ty: CK_MECHANISM_TYPE, name: &'static str, flags: CK_FLAGS) -> MechDef {
    MechDef::new(ty, name, 16, 32, flags).keys(AES)
}

/// The AES family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN", 16, 32, CKF_GENERATE).keygen(keygen),
    row(CKM_AES_ECB, "CKM_AES_ECB", ED | WU).crypt(ecb),
    row(CKM_AES_CBC, "CKM_AES_CBC", ED | WU)
        .param(ParamKind::Iv(16))
        .crypt(cbc),
    row(CKM_AES_CBC_PAD, "CKM_AES_CBC_PAD", ED | WU)
        .param(ParamKind::Iv(16))
        .crypt(cbc_pad),
    row(CKM_AES_CTR, "CKM_AES_CTR", ED)
        .param(ParamKind::Ctr)
        .crypt(block::ctr),
    row(CKM_AES_CTS, "CKM_AES_CTS", ED)
        .param(ParamKind::Iv(16))
        .crypt(cts),
    row(CKM_AES_GCM, "CKM_AES_GCM", ED | WU | MSG)
        .param(ParamKind::Gcm)
        .crypt(block::gcm),
    row(CKM_AES_CCM, "CKM_AES_CCM", ED | WU | MSG)
        .param(ParamKind::Ccm)
        .crypt(block::ccm),
    row(CKM_AES_KEY_WRAP, "CKM_AES_KEY_WRAP", ED | WU)
        .param(ParamKind::OptionalIv(8))
        .crypt(kw),
    row(CKM_AES_KEY_WRAP_PAD, "CKM_AES_KEY_WRAP_PAD", ED | WU)
        .param(ParamKind::OptionalIv(4))
        .crypt(kwp),
    row(CKM_AES_KEY_WRAP_KWP, "CKM_AES_KEY_WRAP_KWP", ED | WU)
        .param(ParamKind::OptionalIv(4))
        .crypt(kwp),
    row(CKM_AES_CMAC, "CKM_AES_CMAC", SV).sign(cmac),
    row(CKM_AES_CMAC_GENERAL, "CKM_AES_CMAC_GENERAL", SV)
        .param(ParamKind::MacGeneral)
        .sign(cmac_general),
    row(CKM_AES_MAC, "CKM_AES_MAC", SV).sign(cbc_mac),
    row(CKM_AES_MAC_GENERAL, "CKM_AES_MAC_GENERAL", SV)
        .param(ParamKind::MacGeneral)
        .sign(cbc_mac_general),
    row(
        CKM_AES_ECB_ENCRYPT_DATA,
        "CKM_AES_ECB_ENCRYPT_DATA",
        CKF_DERIVE,
    )
    .param(ParamKind::DerivationString)
    .derive(ecb_encrypt_data),
    row(
        CKM_AES_CBC_ENCRYPT_DATA,
        "CKM_AES_CBC_ENCRYPT_DATA",
        CKF_DERIVE,
    )
    .param(ParamKind::IvData(16))
    .derive(cbc_encrypt_data),
];

/// AES keys: 16, 24 or 32 bytes.
pub const KEY_TYPES: &[SecretType] = &[SecretType {
    kt: CKK_AES,
    lens: &[16, 24, 32],
    range: false,
    check: check_value,
}];

/// The key check value of a block cipher key: the first three bytes of the encryption of one
/// zero block (PKCS#11 3.0, 4.10).
pub fn block_check_value(cipher: Cipher, key: &[u8]) -> Result<Vec<u8>> {
    let k = BlockKey::new(cipher, key)?;
    let mut b = vec![0u8; k.block_len()];
    k.encrypt_block(&mut b);
    b.truncate(3);
    Ok(b)
}

fn check_value(key: &[u8]) -> Result<Vec<u8>> {
    block_check_value(Cipher::Aes, key)
}

/// CKM_AES_KEY_GEN: CKA_VALUE_LEN (16, 24 or 32) is required.
fn keygen(_: &Mech, len: Option<usize>) -> Result<(CK_KEY_TYPE, Zeroizing<Vec<u8>>)> {
    let len = len.ok_or(Error::TemplateIncomplete)?;
    if !KEY_TYPES[0].len_ok(len) {
        return Err(Error::KeySizeRange);
    }
    let mut v = Zeroizing::new(vec![0u8; len]);
    crate::crypto::random(&mut v)?;
    Ok((CKK_AES, v))
}

fn ecb(m: &Mech, k: &Arc<Key>, d: bool) -> Result<Box<dyn CryptOp>> {
    block::blocks(m, k, d, Mode::Ecb)
}
fn cbc(m: &Mech, k: &Arc<Key>, d: bool) -> Result<Box<dyn CryptOp>> {
    block::blocks(m, k, d, Mode::Cbc)
}
fn cbc_pad(m: &Mech, k: &Arc<Key>, d: bool) -> Result<Box<dyn CryptOp>> {
    block::blocks(m, k, d, Mode::CbcPad)
}
fn cts(m: &Mech, k: &Arc<Key>, d: bool) -> Result<Box<dyn CryptOp>> {
    block::blocks(m, k, d, Mode::Cts)
}
fn kw(m: &Mech, k: &Arc<Key>, d: bool) -> Result<Box<dyn CryptOp>> {
    block::kw(m, k, d, false)
}
fn kwp(m: &Mech, k: &Arc<Key>, d: bool) -> Result<Box<dyn CryptOp>> {
    block::kw(m, k, d, true)
}
fn cmac(m: &Mech, k: &Arc<Key>, _: bool) -> Result<Box<dyn SignOp>> {
    block::mac(m, k, true, false, 16)
}
fn cmac_general(m: &Mech, k: &Arc<Key>, _: bool) -> Result<Box<dyn SignOp>> {
    block::mac(m, k, true, true, 16)
}
/// CKM_AES_MAC: half a block (PKCS#11 3.0, 2.15.8).
fn cbc_mac(m: &Mech, k: &Arc<Key>, _: bool) -> Result<Box<dyn SignOp>> {
    block::mac(m, k, false, false, 8)
}
fn cbc_mac_general(m: &Mech, k: &Arc<Key>, _: bool) -> Result<Box<dyn SignOp>> {
    block::mac(m, k, false, true, 16)
}
fn ecb_encrypt_data(m: &Mech, k: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    block::encrypt_data(m, k, false, want)
}
fn cbc_encrypt_data(m: &Mech, k: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    block::encrypt_data(m, k, true, want)
}
