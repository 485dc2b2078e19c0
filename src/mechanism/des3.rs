//! Triple DES (two- and three-key EDE, `CKK_DES2` / `CKK_DES3`): key generation with DES parity,
//! ECB, CBC, CBC_PAD, CMAC and the ENCRYPT_DATA derivations, for legacy banking and payment
//! pipelines. Single DES is not offered (see conformance/DIVERGENCES.md). The modes are in
//! [`super::block`].

use super::aes::block_check_value;
use super::block::{self, Mode};
use super::keys::Key;
use super::{CryptOp, KeyLen, Keys, Mech, MechDef, ParamKind, SecretType, SignOp};
use crate::crypto::sym::{set_des_parity, Cipher};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const DES3: Keys = Keys::Secret(&[CKK_DES2, CKK_DES3]);
const ED: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const WU: CK_FLAGS = CKF_WRAP | CKF_UNWRAP;
const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

/// A row over triple DES keys; key sizes in bytes.
const fn row(ty: CK_MECHANISM_TYPE, name: &'static str, flags: CK_FLAGS) -> MechDef {
    MechDef::new(ty, name, 16, 24, flags).keys(DES3)
}

/// The triple DES family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(CKM_DES2_KEY_GEN, "CKM_DES2_KEY_GEN", 16, 16, CKF_GENERATE).keygen(keygen),
    MechDef::new(CKM_DES3_KEY_GEN, "CKM_DES3_KEY_GEN", 24, 24, CKF_GENERATE).keygen(keygen),
    row(CKM_DES3_ECB, "CKM_DES3_ECB", ED | WU).crypt(ecb),
    row(CKM_DES3_CBC, "CKM_DES3_CBC", ED | WU)
        .param(ParamKind::Iv(8))
        .crypt(cbc),
    row(CKM_DES3_CBC_PAD, "CKM_DES3_CBC_PAD", ED | WU)
        .param(ParamKind::Iv(8))
        .crypt(cbc_pad),
    row(CKM_DES3_CMAC, "CKM_DES3_CMAC", SV).sign(cmac),
    row(CKM_DES3_CMAC_GENERAL, "CKM_DES3_CMAC_GENERAL", SV)
        .param(ParamKind::MacGeneral)
        .sign(cmac_general),
    row(
        CKM_DES3_ECB_ENCRYPT_DATA,
        "CKM_DES3_ECB_ENCRYPT_DATA",
        CKF_DERIVE,
    )
    .param(ParamKind::DerivationString)
    .derive(ecb_encrypt_data),
    row(
        CKM_DES3_CBC_ENCRYPT_DATA,
        "CKM_DES3_CBC_ENCRYPT_DATA",
        CKF_DERIVE,
    )
    .param(ParamKind::IvData(8))
    .derive(cbc_encrypt_data),
];

/// Two-key (16 bytes) and three-key (24 bytes) triple DES.
pub const KEY_TYPES: &[SecretType] = &[
    SecretType {
        kt: CKK_DES2,
        lens: &[16],
        range: false,
        check: check_value,
    },
    SecretType {
        kt: CKK_DES3,
        lens: &[24],
        range: false,
        check: check_value,
    },
];

fn check_value(key: &[u8]) -> Result<Vec<u8>> {
    block_check_value(Cipher::Des3, key)
}

/// CKM_DES2_KEY_GEN / CKM_DES3_KEY_GEN: the length is the key type's (a CKA_VALUE_LEN that says
/// otherwise is inconsistent); every byte carries DES's odd parity.
fn keygen(m: &Mech, len: Option<usize>) -> Result<(CK_KEY_TYPE, Zeroizing<Vec<u8>>)> {
    let (kt, n) = match m.ty {
        CKM_DES2_KEY_GEN => (CKK_DES2, 16),
        _ => (CKK_DES3, 24),
    };
    if len.is_some_and(|l| l != n) {
        return Err(Error::TemplateInconsistent);
    }
    let mut v = Zeroizing::new(vec![0u8; n]);
    crate::crypto::random(&mut v)?;
    set_des_parity(&mut v);
    Ok((kt, v))
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
fn cmac(m: &Mech, k: &Arc<Key>, _: bool) -> Result<Box<dyn SignOp>> {
    block::mac(m, k, true, false, 8)
}
fn cmac_general(m: &Mech, k: &Arc<Key>, _: bool) -> Result<Box<dyn SignOp>> {
    block::mac(m, k, true, true, 8)
}
fn ecb_encrypt_data(m: &Mech, k: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    block::encrypt_data(m, k, false, want)
}
fn cbc_encrypt_data(m: &Mech, k: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    block::encrypt_data(m, k, true, want)
}
