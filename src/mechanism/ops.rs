//! The session side of cryptographic operations: C_*Init key checks, one active operation of each
//! kind per session, the output-length protocol, CKA_ALWAYS_AUTHENTICATE, key generation.
//!
//! Length protocol: a call without an output buffer, or with one too short, answers
//! [`Out::Need`] and leaves the operation as it was; a call that produces output, and any error,
//! ends the operation (the operation is taken out of the session before the work starts).

use super::keys::{self, Key};
use super::{info, CryptOp, Mech, MechDef, Param, RecoverOp, SignOp};
use crate::crypto::Hasher;
use crate::error::{Error, Result};
use crate::module::Module;
use crate::object::{Attribute, Object, Origin};
use crate::session::Session;
use crate::token::Entry;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What a call that produces output gives back.
#[derive(Debug)]
pub enum Out {
    /// The caller must supply (at least) this many bytes; the operation goes on.
    Need(usize),
    Done(Zeroizing<Vec<u8>>),
}

/// What an encryption or decryption call that writes into the caller's buffer gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrote {
    /// The caller must supply (at least) this many bytes; the operation goes on.
    Need(usize),
    /// This many bytes were written.
    Wrote(usize),
}

/// An operation in a session, with its authorization state.
pub struct Active<O> {
    op: O,
    /// The key has CKA_ALWAYS_AUTHENTICATE: a context-specific login must precede its use.
    always_auth: bool,
    authed: bool,
    /// C_*Update was called: the single-part call is no longer allowed.
    multi: bool,
    /// Output a final decryption computed but the caller's buffer could not take: the next call
    /// with a buffer large enough gets it.
    pending: Option<Zeroizing<Vec<u8>>>,
}

impl<O> Active<O> {
    fn new(op: O, always_auth: bool) -> Active<O> {
        Active {
            op,
            always_auth,
            authed: false,
            multi: false,
            pending: None,
        }
    }
    fn check_auth(&self) -> Result<()> {
        if self.always_auth && !self.authed {
            Err(Error::UserNotLoggedIn)
        } else {
            Ok(())
        }
    }
}

/// The cryptographic operations of a session (a field of [`crate::session::Ops`]).
#[derive(Default)]
pub struct CryptoOps {
    sign: Option<Active<Box<dyn SignOp>>>,
    verify: Option<Active<Box<dyn SignOp>>>,
    /// A verification whose signature came first (C_VerifySignatureInit, PKCS #11 3.2).
    verify_sig: Option<Active<GivenSig>>,
    encrypt: Option<Active<Box<dyn CryptOp>>>,
    decrypt: Option<Active<Box<dyn CryptOp>>>,
    digest: Option<Hasher>,
    sign_recover: Option<Active<Box<dyn RecoverOp>>>,
    verify_recover: Option<Active<Box<dyn RecoverOp>>>,
}

impl std::fmt::Debug for CryptoOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoOps")
            .field("sign", &self.sign.is_some())
            .field("verify", &self.verify.is_some())
            .field("verify_sig", &self.verify_sig.is_some())
            .field("encrypt", &self.encrypt.is_some())
            .field("decrypt", &self.decrypt.is_some())
            .field("digest", &self.digest.is_some())
            .field("sign_recover", &self.sign_recover.is_some())
            .field("verify_recover", &self.verify_recover.is_some())
            .finish()
    }
}

impl CryptoOps {
    /// Ends the operations `flags` names (C_SessionCancel): CKF_SIGN, CKF_VERIFY, CKF_ENCRYPT,
    /// CKF_DECRYPT, CKF_DIGEST. Naming one that is not active is not an error.
    pub fn cancel(&mut self, flags: CK_FLAGS) {
        if flags & CKF_SIGN != 0 {
            self.sign = None;
        }
        if flags & CKF_VERIFY != 0 {
            self.verify = None;
            self.verify_sig = None;
        }
        if flags & CKF_ENCRYPT != 0 {
            self.encrypt = None;
        }
        if flags & CKF_DECRYPT != 0 {
            self.decrypt = None;
        }
        if flags & CKF_DIGEST != 0 {
            self.digest = None;
        }
        if flags & CKF_SIGN_RECOVER != 0 {
            self.sign_recover = None;
        }
        if flags & CKF_VERIFY_RECOVER != 0 {
            self.verify_recover = None;
        }
    }
}

/// A verification operation and the signature it will check (C_VerifySignatureInit).
pub struct GivenSig {
    op: Box<dyn SignOp>,
    sig: Vec<u8>,
}

fn verify_sig_slot(ops: &mut CryptoOps, _: bool) -> &mut Option<Active<GivenSig>> {
    &mut ops.verify_sig
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crypt {
    Encrypt,
    Decrypt,
}

impl Crypt {
    fn of(decrypt: bool) -> Crypt {
        if decrypt {
            Crypt::Decrypt
        } else {
            Crypt::Encrypt
        }
    }
}

fn slot(ops: &mut CryptoOps, which: Crypt) -> &mut Option<Active<Box<dyn CryptOp>>> {
    match which {
        Crypt::Encrypt => &mut ops.encrypt,
        Crypt::Decrypt => &mut ops.decrypt,
    }
}

fn recover_slot(ops: &mut CryptoOps, verify: bool) -> &mut Option<Active<Box<dyn RecoverOp>>> {
    if verify {
        &mut ops.verify_recover
    } else {
        &mut ops.sign_recover
    }
}

fn sign_slot(ops: &mut CryptoOps, verify: bool) -> &mut Option<Active<Box<dyn SignOp>>> {
    if verify {
        &mut ops.verify
    } else {
        &mut ops.sign
    }
}

pub(crate) fn template_get(t: &[Attribute], ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
    t.iter().rev().find(|a| a.ty == ty).map(|a| &a.value[..])
}

pub(crate) fn template_ulong(t: &[Attribute], ty: CK_ATTRIBUTE_TYPE) -> Result<Option<CK_ULONG>> {
    template_get(t, ty)
        .map(|v| {
            v.try_into()
                .map(CK_ULONG::from_ne_bytes)
                .map_err(|_| Error::AttributeValueInvalid)
        })
        .transpose()
}

pub(crate) fn template_bool(t: &[Attribute], ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    template_get(t, ty).map(|v| v.first().is_some_and(|&b| b != 0))
}

/// A derived secret key: the template's attributes (class and type added), the value, and the
/// attributes it inherits (see [`Module::derive_keys`]).
fn derived_object(
    template: &[Attribute],
    kt: CK_KEY_TYPE,
    value: &[u8],
    mech: CK_MECHANISM_TYPE,
    strict: bool,
    from: InheritFrom,
) -> Result<Object> {
    let st = super::secret_type(kt).ok_or(Error::TemplateInconsistent)?;
    if !st.len_ok(value.len()) {
        return Err(Error::TemplateInconsistent);
    }
    let mut t = with_class(template, CKO_SECRET_KEY, kt)?;
    let mut sensitive = template_bool(template, CKA_SENSITIVE);
    let mut extractable = template_bool(template, CKA_EXTRACTABLE);
    if strict {
        if from.sensitive {
            if sensitive == Some(false) {
                return Err(Error::TemplateInconsistent);
            }
            if sensitive.is_none() {
                t.push(Attribute::bool(CKA_SENSITIVE, true));
            }
            sensitive = Some(true);
        }
        if !from.extractable {
            if extractable == Some(true) {
                return Err(Error::TemplateInconsistent);
            }
            if extractable.is_none() {
                t.push(Attribute::bool(CKA_EXTRACTABLE, false));
            }
            extractable = Some(false);
        }
    }
    let sensitive = sensitive.unwrap_or(false);
    let extractable = extractable.unwrap_or(false);
    let internal = vec![
        Attribute::bool(CKA_LOCAL, false),
        Attribute::ulong(CKA_KEY_GEN_MECHANISM, mech),
        Attribute::bool(CKA_ALWAYS_SENSITIVE, from.always_sensitive && sensitive),
        Attribute::bool(
            CKA_NEVER_EXTRACTABLE,
            from.never_extractable && !extractable,
        ),
        Attribute::new(CKA_CHECK_VALUE, keys::check_value(kt, value)?),
        Attribute::new(CKA_VALUE, value.to_vec()),
    ];
    Object::build(&t, Origin::Generate, &internal)
}

/// The secret key a key encapsulation makes: the template's class and type (a generic secret
/// when it names none), as many bytes of the shared secret as the template's CKA_VALUE_LEN asks
/// or the key type takes (at most all of it). Sensitive and unextractable unless the template
/// says otherwise: the shared secret leaves the token only when the caller asked for that. Like
/// an unwrapped key, its value has been outside the token (in the ciphertext), so it is neither
/// CKA_LOCAL, nor ALWAYS_SENSITIVE, nor NEVER_EXTRACTABLE.
fn kem_object(template: &[Attribute], secret: &[u8], mech: CK_MECHANISM_TYPE) -> Result<Object> {
    let kt = template_ulong(template, CKA_KEY_TYPE)?.unwrap_or(CKK_GENERIC_SECRET);
    let st = super::secret_type(kt).ok_or(Error::TemplateInconsistent)?;
    let asked = template_ulong(template, CKA_VALUE_LEN)?.map(|n| n as usize);
    if asked.is_some_and(|n| !st.len_ok(n) || n > secret.len()) {
        return Err(Error::TemplateInconsistent);
    }
    let n = super::KeyLen { asked, st }
        .len(secret.len())
        .map_err(|_| Error::TemplateInconsistent)?;
    let value = &secret[..n];
    let mut t: Vec<Attribute> = with_class(template, CKO_SECRET_KEY, kt)?
        .into_iter()
        .filter(|a| a.ty != CKA_VALUE_LEN)
        .collect();
    if template_bool(template, CKA_SENSITIVE).is_none() {
        t.push(Attribute::bool(CKA_SENSITIVE, true));
    }
    if template_bool(template, CKA_EXTRACTABLE).is_none() {
        t.push(Attribute::bool(CKA_EXTRACTABLE, false));
    }
    let internal = vec![
        Attribute::bool(CKA_LOCAL, false),
        Attribute::ulong(CKA_KEY_GEN_MECHANISM, mech),
        Attribute::bool(CKA_ALWAYS_SENSITIVE, false),
        Attribute::bool(CKA_NEVER_EXTRACTABLE, false),
        Attribute::new(CKA_CHECK_VALUE, keys::check_value(kt, value)?),
        Attribute::new(CKA_VALUE, value.to_vec()),
    ];
    Object::build(&t, Origin::Generate, &internal)
}

/// The attributes of the keys a derivation starts from that the derived key inherits.
#[derive(Clone, Copy)]
struct InheritFrom {
    sensitive: bool,
    extractable: bool,
    always_sensitive: bool,
    never_extractable: bool,
}

impl InheritFrom {
    fn of(o: &Object) -> InheritFrom {
        InheritFrom {
            sensitive: o.bool(CKA_SENSITIVE),
            extractable: o.bool(CKA_EXTRACTABLE),
            always_sensitive: o.bool(CKA_ALWAYS_SENSITIVE),
            never_extractable: o.bool(CKA_NEVER_EXTRACTABLE),
        }
    }
    /// Both keys: sensitive if either is, extractable only if both are.
    fn and(self, o: InheritFrom) -> InheritFrom {
        InheritFrom {
            sensitive: self.sensitive || o.sensitive,
            extractable: self.extractable && o.extractable,
            always_sensitive: self.always_sensitive && o.always_sensitive,
            never_extractable: self.never_extractable && o.never_extractable,
        }
    }
}

/// The template with CKA_CLASS and CKA_KEY_TYPE, which must agree with the mechanism.
pub(crate) fn with_class(
    t: &[Attribute],
    class: CK_OBJECT_CLASS,
    kt: CK_KEY_TYPE,
) -> Result<Vec<Attribute>> {
    let mut v = t.to_vec();
    for (ty, want) in [(CKA_CLASS, class), (CKA_KEY_TYPE, kt)] {
        match template_ulong(t, ty)? {
            Some(x) if x != want => return Err(Error::TemplateInconsistent),
            Some(_) => {}
            None => v.push(Attribute::ulong(ty, want)),
        }
    }
    Ok(v)
}

/// Attributes every generated key gets.
fn generated(mech: CK_MECHANISM_TYPE, t: &[Attribute], secret: bool) -> Vec<Attribute> {
    let mut v = vec![
        // A key from a password is a key whose value is known outside: never CKA_LOCAL, which
        // the key management policy takes as "never left the token" (docs/CRYPTO.md).
        Attribute::bool(CKA_LOCAL, mech != CKM_PKCS5_PBKD2),
        Attribute::ulong(CKA_KEY_GEN_MECHANISM, mech),
    ];
    if secret {
        let sensitive = template_bool(t, CKA_SENSITIVE).unwrap_or(false);
        let extractable = template_bool(t, CKA_EXTRACTABLE).unwrap_or(false);
        v.push(Attribute::bool(CKA_ALWAYS_SENSITIVE, sensitive));
        v.push(Attribute::bool(CKA_NEVER_EXTRACTABLE, !extractable));
    }
    v
}

/// The mechanisms a key allows (CKA_ALLOWED_MECHANISMS; empty allows all).
fn allowed(obj: &Object, ty: CK_MECHANISM_TYPE) -> bool {
    let Some(v) = obj.get(CKA_ALLOWED_MECHANISMS) else {
        return true;
    };
    let n = std::mem::size_of::<CK_ULONG>();
    v.is_empty()
        || v.chunks_exact(n)
            .any(|c| CK_ULONG::from_ne_bytes(c.try_into().expect("chunk")) == ty)
}

/// Verifies the user PIN for a context-specific login and authorizes the session's pending
/// signature or decryption whose key has CKA_ALWAYS_AUTHENTICATE.
pub fn context_login(s: &Session, pin: &[u8]) -> Result<()> {
    let pending = {
        let ops = s.ops.lock();
        let c = &ops.crypto;
        c.sign.as_ref().is_some_and(|a| a.always_auth)
            || c.decrypt.as_ref().is_some_and(|a| a.always_auth)
            || c.sign_recover.as_ref().is_some_and(|a| a.always_auth)
    };
    if !pending {
        return Err(Error::OperationNotInitialized);
    }
    s.token.verify_user_pin(pin)?;
    let mut ops = s.ops.lock();
    let c = &mut ops.crypto;
    for a in c.sign.iter_mut().filter(|a| a.always_auth) {
        a.authed = true;
    }
    for a in c.decrypt.iter_mut().filter(|a| a.always_auth) {
        a.authed = true;
    }
    for a in c.sign_recover.iter_mut().filter(|a| a.always_auth) {
        a.authed = true;
    }
    Ok(())
}

impl Module {
    /// Builds an operation with the key behind `key`, after the checks every C_*Init makes:
    /// `make` gets the key's entry and parsed key while the token's object is borrowed, so the
    /// entry's reference count is not touched, nor the key's unless the operation keeps it (RSA
    /// and EC do; HMAC copies its keyed state).
    pub(crate) fn with_op_key<T>(
        &self,
        s: &Session,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        usage: CK_ATTRIBUTE_TYPE,
        flag: CK_FLAGS,
        make: impl FnOnce(&MechDef, &Entry, &Arc<Key>) -> Result<T>,
    ) -> Result<T> {
        let def = info(&self.config, mech.ty)?;
        if def.flags & flag == 0 {
            return Err(Error::MechanismInvalid);
        }
        let r = s.token.with_object(key, |entry| {
            Self::check_op_key(entry, def, mech, usage)?;
            make(def, entry, keys::parsed(entry)?)
        });
        r.map_err(|e| match e {
            Error::ObjectHandleInvalid => Error::KeyHandleInvalid,
            e => e,
        })
    }

    fn check_op_key(
        entry: &Entry,
        def: &MechDef,
        mech: &Mech,
        usage: CK_ATTRIBUTE_TYPE,
    ) -> Result<()> {
        let o = &entry.obj;
        if !matches!(o.class(), CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
            return Err(Error::KeyHandleInvalid);
        }
        // A disabled key (ferrohsm key families) is refused for every use, whatever its usage
        // attributes say: this is the one place every C_*Init goes through.
        if crate::family::is_disabled(o) {
            return Err(Error::KeyFunctionNotPermitted);
        }
        let kt = o.key_type().unwrap_or(CK_UNAVAILABLE_INFORMATION);
        if !def.keys.fits(o.class(), kt) {
            return Err(Error::KeyTypeInconsistent);
        }
        let wanted_class = match usage {
            CKA_SIGN | CKA_SIGN_RECOVER | CKA_DECRYPT | CKA_UNWRAP | CKA_DERIVE
            | CKA_DECAPSULATE => [CKO_PRIVATE_KEY, CKO_SECRET_KEY],
            _ => [CKO_PUBLIC_KEY, CKO_SECRET_KEY],
        };
        if !wanted_class.contains(&o.class()) {
            return Err(Error::KeyTypeInconsistent);
        }
        if !o.bool(usage) {
            return Err(Error::KeyFunctionNotPermitted);
        }
        if !allowed(o, mech.ty) {
            return Err(Error::MechanismInvalid);
        }
        Ok(())
    }

    // ---- sign and verify ---------------------------------------------------------------------

    /// C_SignInit (`verify` false) or C_VerifyInit.
    pub fn sign_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        verify: bool,
    ) -> Result<()> {
        let (usage, flag) = if verify {
            (CKA_VERIFY, CKF_VERIFY)
        } else {
            (CKA_SIGN, CKF_SIGN)
        };
        self.start_signature(h, mech, key, (usage, flag), verify, sign_slot, |def, k| {
            def.sign.ok_or(Error::MechanismInvalid)?(mech, k, verify)
        })
    }

    /// The body of the sign and recover inits: no operation of the kind active in `slot`, the
    /// key checked for `usage` (`with_op_key`), the operation built by `make` and put in the
    /// slot, remembering whether a signing key needs a context-specific login.
    #[allow(clippy::too_many_arguments)]
    fn start_signature<O>(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        (usage, flag): (CK_ATTRIBUTE_TYPE, CK_FLAGS),
        verify: bool,
        slot: fn(&mut CryptoOps, bool) -> &mut Option<Active<O>>,
        make: impl FnOnce(&MechDef, &Arc<Key>) -> Result<O>,
    ) -> Result<()> {
        let s = self.session(h)?;
        if slot(&mut s.ops.lock().crypto, verify).is_some() {
            return Err(Error::OperationActive);
        }
        let (op, always) = self.with_op_key(&s, mech, key, usage, flag, |def, entry, k| {
            let op = make(def, k)?;
            Ok((op, !verify && entry.obj.bool(CKA_ALWAYS_AUTHENTICATE)))
        })?;
        let mut ops = s.ops.lock();
        let slot = slot(&mut ops.crypto, verify);
        if slot.is_some() {
            return Err(Error::OperationActive);
        }
        *slot = Some(Active::new(op, always));
        Ok(())
    }

    /// C_Sign (`data` given) or C_SignFinal; `cap` is the caller's buffer size, `None` for NULL.
    pub fn sign(
        &self,
        h: CK_SESSION_HANDLE,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Out> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let a = ops
            .crypto
            .sign
            .as_ref()
            .ok_or(Error::OperationNotInitialized)?;
        if data.is_some() && a.multi {
            ops.crypto.sign = None;
            return Err(Error::OperationActive);
        }
        let n = a.op.sig_len();
        if cap.is_none_or(|c| c < n) {
            return Ok(Out::Need(n));
        }
        let mut a = ops.crypto.sign.take().expect("checked");
        drop(ops);
        a.check_auth()?;
        if let Some(d) = data {
            a.op.update(d)?;
        }
        Ok(Out::Done(a.op.sign()?))
    }

    /// C_SignUpdate or C_VerifyUpdate.
    pub fn sign_update(&self, h: CK_SESSION_HANDLE, data: &[u8], verify: bool) -> Result<()> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let slot = sign_slot(&mut ops.crypto, verify);
        let a = slot.as_mut().ok_or(Error::OperationNotInitialized)?;
        if !a.op.multi_part() {
            *slot = None;
            return Err(Error::OperationNotInitialized);
        }
        a.multi = true;
        let r = a.op.update(data);
        if r.is_err() {
            *slot = None;
        }
        r
    }

    /// C_Verify (`data` given) or C_VerifyFinal.
    pub fn verify(&self, h: CK_SESSION_HANDLE, data: Option<&[u8]>, sig: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        let mut a = s
            .ops
            .lock()
            .crypto
            .verify
            .take()
            .ok_or(Error::OperationNotInitialized)?;
        if let Some(d) = data {
            if a.multi {
                return Err(Error::OperationActive);
            }
            a.op.update(d)?;
        }
        a.op.verify(sig)
    }

    // ---- verification with the signature first (PKCS #11 3.2) ----------------------------------

    /// C_VerifySignatureInit: a verification (the key's CKA_VERIFY, the mechanism's CKF_VERIFY)
    /// whose signature is given now; the data follows in C_VerifySignature or in
    /// C_VerifySignatureUpdate calls and C_VerifySignatureFinal.
    pub fn verify_signature_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        sig: &[u8],
    ) -> Result<()> {
        self.start_signature(
            h,
            mech,
            key,
            (CKA_VERIFY, CKF_VERIFY),
            true,
            verify_sig_slot,
            |def, k| {
                Ok(GivenSig {
                    op: def.sign.ok_or(Error::MechanismInvalid)?(mech, k, true)?,
                    sig: sig.to_vec(),
                })
            },
        )
    }

    /// C_VerifySignatureUpdate.
    pub fn verify_signature_update(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let slot = &mut ops.crypto.verify_sig;
        let a = slot.as_mut().ok_or(Error::OperationNotInitialized)?;
        if !a.op.op.multi_part() {
            *slot = None;
            return Err(Error::OperationNotInitialized);
        }
        a.multi = true;
        let r = a.op.op.update(data);
        if r.is_err() {
            *slot = None;
        }
        r
    }

    /// C_VerifySignature (`data` given) or C_VerifySignatureFinal: ends the operation.
    pub fn verify_signature(&self, h: CK_SESSION_HANDLE, data: Option<&[u8]>) -> Result<()> {
        let s = self.session(h)?;
        let mut a = s
            .ops
            .lock()
            .crypto
            .verify_sig
            .take()
            .ok_or(Error::OperationNotInitialized)?;
        if let Some(d) = data {
            if a.multi {
                return Err(Error::OperationActive);
            }
            a.op.op.update(d)?;
        }
        let GivenSig { op, sig } = a.op;
        op.verify(&sig)
    }

    // ---- sign and verify with recovery -------------------------------------------------------

    /// C_SignRecoverInit (`verify` false) or C_VerifyRecoverInit: the key's CKA_SIGN_RECOVER or
    /// CKA_VERIFY_RECOVER must be true.
    pub fn recover_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        verify: bool,
    ) -> Result<()> {
        let (usage, flag) = if verify {
            (CKA_VERIFY_RECOVER, CKF_VERIFY_RECOVER)
        } else {
            (CKA_SIGN_RECOVER, CKF_SIGN_RECOVER)
        };
        self.start_signature(
            h,
            mech,
            key,
            (usage, flag),
            verify,
            recover_slot,
            |def, k| def.recover.ok_or(Error::MechanismInvalid)?(mech, k, verify),
        )
    }

    /// C_SignRecover (`verify` false) or C_VerifyRecover, single-part; `cap` is the caller's
    /// buffer size, `None` for NULL. Without a buffer the answer is the most the operation can
    /// write (exact for signing); a buffer too short for the result keeps the operation.
    pub fn recover(
        &self,
        h: CK_SESSION_HANDLE,
        input: &[u8],
        cap: Option<usize>,
        verify: bool,
    ) -> Result<Out> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let slot = recover_slot(&mut ops.crypto, verify);
        let a = slot.as_ref().ok_or(Error::OperationNotInitialized)?;
        let n = a.op.max_len();
        let Some(cap) = cap else {
            return Ok(Out::Need(n));
        };
        if !verify && cap < n {
            return Ok(Out::Need(n));
        }
        let r = a.check_auth().and_then(|()| a.op.run(input));
        match r {
            Ok(out) if out.len() > cap => Ok(Out::Need(out.len())),
            Ok(out) => {
                *slot = None;
                Ok(Out::Done(out))
            }
            Err(e) => {
                *slot = None;
                Err(e)
            }
        }
    }

    // ---- encrypt and decrypt -----------------------------------------------------------------

    /// C_EncryptInit (`decrypt` false) or C_DecryptInit.
    pub fn crypt_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        decrypt: bool,
    ) -> Result<()> {
        let s = self.session(h)?;
        let which = if decrypt {
            Crypt::Decrypt
        } else {
            Crypt::Encrypt
        };
        if slot(&mut s.ops.lock().crypto, which).is_some() {
            return Err(Error::OperationActive);
        }
        let (usage, flag) = if decrypt {
            (CKA_DECRYPT, CKF_DECRYPT)
        } else {
            (CKA_ENCRYPT, CKF_ENCRYPT)
        };
        let (op, always) = self.with_op_key(&s, mech, key, usage, flag, |def, entry, k| {
            let op = def.crypt.ok_or(Error::MechanismInvalid)?(mech, k, decrypt)?;
            Ok((op, decrypt && entry.obj.bool(CKA_ALWAYS_AUTHENTICATE)))
        })?;
        let mut ops = s.ops.lock();
        let sl = slot(&mut ops.crypto, which);
        if sl.is_some() {
            return Err(Error::OperationActive);
        }
        *sl = Some(Active::new(op, always));
        Ok(())
    }

    /// Takes the session's encryption or decryption out of it, so no lock is held while it runs.
    fn take_crypt(s: &Session, which: Crypt) -> Result<Active<Box<dyn CryptOp>>> {
        slot(&mut s.ops.lock().crypto, which)
            .take()
            .ok_or(Error::OperationNotInitialized)
    }

    /// Puts an operation that goes on back into its session.
    fn put_crypt(s: &Session, which: Crypt, a: Active<Box<dyn CryptOp>>) {
        let mut ops = s.ops.lock();
        let sl = slot(&mut ops.crypto, which);
        if sl.is_none() {
            *sl = Some(a);
        }
    }

    /// Delivers output computed earlier that the caller's buffer could not take.
    fn deliver_pending(
        s: &Session,
        which: Crypt,
        mut a: Active<Box<dyn CryptOp>>,
        out: Option<&mut [u8]>,
    ) -> Wrote {
        let p = a.pending.take().expect("pending output");
        match out {
            Some(buf) if buf.len() >= p.len() => {
                buf[..p.len()].copy_from_slice(&p);
                Wrote::Wrote(p.len())
            }
            _ => {
                let n = p.len();
                a.pending = Some(p);
                Self::put_crypt(s, which, a);
                Wrote::Need(n)
            }
        }
    }

    /// Writes a final result, or keeps it for the next call when the buffer is too short.
    fn deliver(
        s: &Session,
        which: Crypt,
        mut a: Active<Box<dyn CryptOp>>,
        v: Zeroizing<Vec<u8>>,
        buf: &mut [u8],
    ) -> Wrote {
        if v.len() <= buf.len() {
            buf[..v.len()].copy_from_slice(&v);
            return Wrote::Wrote(v.len());
        }
        let n = v.len();
        a.pending = Some(v);
        Self::put_crypt(s, which, a);
        Wrote::Need(n)
    }

    /// C_Encrypt / C_Decrypt: all of `data`, into `out` (`None` for a NULL buffer).
    pub fn crypt(
        &self,
        h: CK_SESSION_HANDLE,
        decrypt: bool,
        data: &[u8],
        out: Option<&mut [u8]>,
    ) -> Result<Wrote> {
        let which = Crypt::of(decrypt);
        let s = self.session(h)?;
        let mut a = Self::take_crypt(&s, which)?;
        if a.pending.is_some() {
            return Ok(Self::deliver_pending(&s, which, a, out));
        }
        if a.multi {
            return Err(Error::OperationActive);
        }
        let bound = a.op.one_shot_len(data.len())?;
        let Some(buf) = out else {
            Self::put_crypt(&s, which, a);
            return Ok(Wrote::Need(bound));
        };
        if buf.len() < bound && !decrypt {
            // Encryption lengths are exact.
            Self::put_crypt(&s, which, a);
            return Ok(Wrote::Need(bound));
        }
        a.check_auth()?;
        if buf.len() >= bound {
            return Ok(Wrote::Wrote(a.op.one_shot(data, buf)?));
        }
        // Decryption into less than the bound: the plaintext may still fit.
        let v = super::crypt_all(&mut *a.op, data)?;
        Ok(Self::deliver(&s, which, a, v, buf))
    }

    /// C_EncryptUpdate / C_DecryptUpdate: writes what the mode can output now.
    pub fn crypt_update(
        &self,
        h: CK_SESSION_HANDLE,
        decrypt: bool,
        data: &[u8],
        out: Option<&mut [u8]>,
    ) -> Result<Wrote> {
        let which = Crypt::of(decrypt);
        let s = self.session(h)?;
        let mut a = Self::take_crypt(&s, which)?;
        if a.pending.is_some() {
            return Err(Error::OperationActive);
        }
        a.multi = true;
        let need = a.op.update_len(data.len())?;
        match out {
            Some(buf) if buf.len() >= need => {
                let n = a.op.update(data, buf)?;
                Self::put_crypt(&s, which, a);
                Ok(Wrote::Wrote(n))
            }
            _ => {
                Self::put_crypt(&s, which, a);
                Ok(Wrote::Need(need))
            }
        }
    }

    /// C_EncryptFinal / C_DecryptFinal.
    pub fn crypt_final(
        &self,
        h: CK_SESSION_HANDLE,
        decrypt: bool,
        out: Option<&mut [u8]>,
    ) -> Result<Wrote> {
        let which = Crypt::of(decrypt);
        let s = self.session(h)?;
        let mut a = Self::take_crypt(&s, which)?;
        if a.pending.is_some() {
            return Ok(Self::deliver_pending(&s, which, a, out));
        }
        let bound = a.op.final_len();
        let Some(buf) = out else {
            Self::put_crypt(&s, which, a);
            return Ok(Wrote::Need(bound));
        };
        if buf.len() < bound && !decrypt {
            Self::put_crypt(&s, which, a);
            return Ok(Wrote::Need(bound));
        }
        a.check_auth()?;
        if buf.len() >= bound {
            return Ok(Wrote::Wrote(a.op.finish_into(buf)?));
        }
        let v = a.op.finish()?;
        Ok(Self::deliver(&s, which, a, v, buf))
    }

    // ---- digest ------------------------------------------------------------------------------

    pub fn digest_init(&self, h: CK_SESSION_HANDLE, mech: &Mech) -> Result<()> {
        let s = self.session(h)?;
        if s.ops.lock().crypto.digest.is_some() {
            return Err(Error::OperationActive);
        }
        let def = info(&self.config, mech.ty)?;
        if def.flags & CKF_DIGEST == 0 {
            return Err(Error::MechanismInvalid);
        }
        let hasher = def.digest.ok_or(Error::MechanismInvalid)?(mech)?;
        let mut ops = s.ops.lock();
        if ops.crypto.digest.is_some() {
            return Err(Error::OperationActive);
        }
        ops.crypto.digest = Some(hasher);
        Ok(())
    }

    /// C_Digest (`data` given) or C_DigestFinal.
    pub fn digest(
        &self,
        h: CK_SESSION_HANDLE,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Out> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let d = ops
            .crypto
            .digest
            .as_ref()
            .ok_or(Error::OperationNotInitialized)?;
        let n = d.alg().len();
        if cap.is_none_or(|c| c < n) {
            return Ok(Out::Need(n));
        }
        let mut d = ops.crypto.digest.take().expect("checked");
        drop(ops);
        if let Some(data) = data {
            d.update(data);
        }
        Ok(Out::Done(Zeroizing::new(d.finalize())))
    }

    pub fn digest_update(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        let mut ops = s.ops.lock();
        let d = ops
            .crypto
            .digest
            .as_mut()
            .ok_or(Error::OperationNotInitialized)?;
        d.update(data);
        Ok(())
    }

    /// C_DigestKey: feeds a secret key's value.
    pub fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        if s.ops.lock().crypto.digest.is_none() {
            return Err(Error::OperationNotInitialized);
        }
        let r = (|| {
            let e = s.token.object(key).map_err(|e| match e {
                Error::ObjectHandleInvalid => Error::KeyHandleInvalid,
                e => e,
            })?;
            if e.obj.class() != CKO_SECRET_KEY {
                return Err(Error::KeyIndigestible);
            }
            let v = Zeroizing::new(e.obj.get(CKA_VALUE).ok_or(Error::KeyIndigestible)?.to_vec());
            Ok(v)
        })();
        let mut ops = s.ops.lock();
        match r {
            Ok(v) => {
                let d = ops
                    .crypto
                    .digest
                    .as_mut()
                    .ok_or(Error::OperationNotInitialized)?;
                d.update(&v);
                Ok(())
            }
            Err(e) => {
                ops.crypto.digest = None;
                Err(e)
            }
        }
    }

    // ---- key generation ----------------------------------------------------------------------

    /// C_GenerateKey.
    pub fn generate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        template: &[Attribute],
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        super::wrap::check_trusted(&s, template)?;
        let def = info(&self.config, mech.ty)?;
        if def.flags & CKF_GENERATE == 0 {
            return Err(Error::MechanismInvalid);
        }
        if let Some(gen) = def.paramgen {
            return Self::generate_domain_params(&s, gen, mech, template);
        }
        let len = template_ulong(template, CKA_VALUE_LEN)?.map(|n| n as usize);
        // PBKDF2 makes a key of the template's type.
        let mut mech = mech.clone();
        if let Param::Pbkd2(p) = &mut mech.param {
            p.kt = template_ulong(template, CKA_KEY_TYPE)?.unwrap_or(CKK_GENERIC_SECRET);
        }
        let mech = &mech;
        let (kt, value) = def.keygen.ok_or(Error::MechanismInvalid)?(mech, len)?;
        // A template with a key family asks for a rotation (crate::family).
        let fam = crate::family::request(&[template])?;
        let owned;
        let template = match &fam {
            Some(r) => {
                owned = r.template(template, CKO_SECRET_KEY)?;
                &owned[..]
            }
            None => template,
        };
        let t = with_class(template, CKO_SECRET_KEY, kt)?;
        let mut internal = generated(mech.ty, template, true);
        internal.push(Attribute::new(
            CKA_CHECK_VALUE,
            keys::check_value(kt, &value)?,
        ));
        internal.push(Attribute::new(CKA_VALUE, value.to_vec()));
        let obj = Object::build(&t, Origin::Generate, &internal)?;
        if let Some(r) = fam {
            let hs = crate::family::add_version(&s, &r, vec![obj])?;
            return hs.first().copied().ok_or(Error::GeneralError);
        }
        s.token.add(s.caller(), obj)
    }

    /// C_GenerateKey of domain parameters (CKM_DSA_PARAMETER_GEN, CKM_DH_PKCS_PARAMETER_GEN): a
    /// CKO_DOMAIN_PARAMETERS object of the mechanism's key type, CKA_LOCAL true. The template is
    /// checked against the object's rules before the (slow) generation.
    fn generate_domain_params(
        s: &Session,
        (kt, gen): (CK_KEY_TYPE, super::ParamGenFn),
        mech: &Mech,
        template: &[Attribute],
    ) -> Result<CK_OBJECT_HANDLE> {
        let t = with_class(template, CKO_DOMAIN_PARAMETERS, kt)?;
        Object::check_template(&t, Origin::Generate)?;
        let mut internal = vec![Attribute::bool(CKA_LOCAL, true)];
        internal.extend(gen(mech, template)?);
        let obj = Object::build(&t, Origin::Generate, &internal)?;
        s.token.add(s.caller(), obj)
    }

    /// C_DeriveKey for mechanisms that derive a secret key from a base key: the new key takes
    /// its type from the template (generic secret by default) and its length from CKA_VALUE_LEN
    /// (else the type's own, else all the derived bytes; see [`super::KeyLen`]). It is never
    /// CKA_LOCAL; it is CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE only if the base key (and a
    /// second key the parameter names) was and it is too. For the mechanisms of
    /// [`super::kdf`] a sensitive input key makes a sensitive key and one that is not
    /// extractable a key that is not extractable ([`super::kdf::strict`]); `CKM_HKDF_DATA`
    /// makes a data object (CKA_VALUE_LEN of the template says how many bytes).
    pub fn derive_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        base: CK_OBJECT_HANDLE,
        template: &[Attribute],
    ) -> Result<CK_OBJECT_HANDLE> {
        Ok(self.derive_keys(h, mech, base, template)?.0)
    }

    /// C_DeriveKey with the additional keys an SP 800-108 parameter asks for: the primary key's
    /// handle and theirs, in their order. All are created, or none.
    pub fn derive_keys(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        base: CK_OBJECT_HANDLE,
        template: &[Attribute],
    ) -> Result<(CK_OBJECT_HANDLE, Vec<CK_OBJECT_HANDLE>)> {
        let s = self.session(h)?;
        super::wrap::check_trusted(&s, template)?;
        let data = mech.ty == CKM_HKDF_DATA;
        let kt = template_ulong(template, CKA_KEY_TYPE)?.unwrap_or(CKK_GENERIC_SECRET);
        let st = if data {
            if template_ulong(template, CKA_CLASS)? != Some(CKO_DATA) {
                return Err(Error::TemplateInconsistent);
            }
            &super::kdf::DATA_OUT
        } else {
            super::secret_type(kt).ok_or(Error::TemplateInconsistent)?
        };
        let asked = template_ulong(template, CKA_VALUE_LEN)?.map(|n| n as usize);
        // A length the key type never has is a fault of the template; input too short for the
        // key asked for is one of the mechanism's parameter (the mechanism says which).
        if asked.is_some_and(|n| !st.len_ok(n)) {
            return Err(Error::TemplateInconsistent);
        }
        let want = super::KeyLen { asked, st };
        // A key the parameter names (a second key, a salt key): its value and its attributes.
        let (mech, other) = self.param_key(&s, mech)?;
        let strict = super::kdf::strict(mech.ty);
        let (value, base_attrs) =
            self.with_op_key(&s, &mech, base, CKA_DERIVE, CKF_DERIVE, |def, entry, k| {
                let v = def.derive.ok_or(Error::MechanismInvalid)?(&mech, k, &want)?;
                Ok((v, InheritFrom::of(&entry.obj)))
            })?;
        if data {
            let mut t: Vec<Attribute> = template
                .iter()
                .filter(|a| a.ty != CKA_VALUE_LEN)
                .cloned()
                .collect();
            t.push(Attribute::new(CKA_VALUE, value.to_vec()));
            let obj = Object::build(&t, Origin::Create, &[])?;
            return Ok((s.token.add(s.caller(), obj)?, vec![]));
        }
        // SP 800-108's additional keys: their values follow the primary key's.
        let extra: Vec<(Vec<Attribute>, usize)> = match &mech.param {
            Param::Kbkdf(p) => p.extra.clone(),
            _ => vec![],
        };
        let more: usize = extra.iter().map(|(_, l)| l).sum();
        if value.len() < more {
            return Err(Error::GeneralError);
        }
        let (value, rest) = value.split_at(value.len() - more);
        let from = match other {
            Some(o) => base_attrs.and(o),
            None => base_attrs,
        };
        let mut objs = vec![derived_object(template, kt, value, mech.ty, strict, from)?];
        let mut at = 0;
        for (t, l) in &extra {
            let kt = template_ulong(t, CKA_KEY_TYPE)?.unwrap_or(CKK_GENERIC_SECRET);
            objs.push(derived_object(
                t,
                kt,
                &rest[at..at + l],
                mech.ty,
                strict,
                from,
            )?);
            at += l;
        }
        let mut handles = Vec::with_capacity(objs.len());
        for o in objs {
            match s.token.add(s.caller(), o) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    for h in handles {
                        let _ = s.token.destroy(s.caller(), h);
                    }
                    return Err(e);
                }
            }
        }
        let primary = handles.remove(0);
        Ok((primary, handles))
    }

    // ---- key encapsulation (PKCS #11 3.2) -----------------------------------------------------

    /// C_EncapsulateKey: with `cap` `None` (no ciphertext buffer) only the ciphertext length,
    /// and no key is made; with a buffer too short, `Out::Need` and no key either. Otherwise a
    /// new secret key from the template holds the shared secret, and the ciphertext comes back.
    pub fn encapsulate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        template: &[Attribute],
        cap: Option<usize>,
    ) -> Result<(Out, CK_OBJECT_HANDLE)> {
        let s = self.session(h)?;
        super::wrap::check_trusted(&s, template)?;
        let made = self.with_op_key(
            &s,
            mech,
            key,
            CKA_ENCAPSULATE,
            CKF_ENCAPSULATE,
            |def, _, k| {
                let kem = def.kem.ok_or(Error::MechanismInvalid)?;
                let n = (kem.ciphertext_len)(k)?;
                if cap.is_none_or(|c| c < n) {
                    return Ok(Err(n));
                }
                Ok(Ok((kem.encapsulate)(mech, k)?))
            },
        )?;
        let (ct, secret) = match made {
            Err(n) => return Ok((Out::Need(n), CK_INVALID_HANDLE)),
            Ok(v) => v,
        };
        let obj = kem_object(template, &secret, mech.ty)?;
        let handle = s.token.add(s.caller(), obj)?;
        Ok((Out::Done(Zeroizing::new(ct)), handle))
    }

    /// C_DecapsulateKey: a new secret key from the template holds the shared secret the
    /// ciphertext carries.
    pub fn decapsulate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        key: CK_OBJECT_HANDLE,
        template: &[Attribute],
        ct: &[u8],
    ) -> Result<CK_OBJECT_HANDLE> {
        let s = self.session(h)?;
        super::wrap::check_trusted(&s, template)?;
        let secret = self.with_op_key(
            &s,
            mech,
            key,
            CKA_DECAPSULATE,
            CKF_DECAPSULATE,
            |def, _, k| (def.kem.ok_or(Error::MechanismInvalid)?.decapsulate)(mech, k, ct),
        )?;
        let obj = kem_object(template, &secret, mech.ty)?;
        s.token.add(s.caller(), obj)
    }

    /// Reads the secret key a derivation's parameter names into the parameter: the second key of
    /// `CKM_CONCATENATE_BASE_AND_KEY` (a secret key with CKA_DERIVE, as the base key) or HKDF's
    /// salt key (`CKF_HKDF_SALT_KEY`: a generic secret or `CKK_HKDF` key). A handle that names
    /// no such key is `CKR_KEY_HANDLE_INVALID` / `CKR_KEY_TYPE_INCONSISTENT` /
    /// `CKR_KEY_FUNCTION_NOT_PERMITTED`.
    fn param_key(&self, s: &Session, mech: &Mech) -> Result<(Mech, Option<InheritFrom>)> {
        let read = |h: CK_OBJECT_HANDLE, derive: bool, types: Option<&[CK_KEY_TYPE]>| {
            s.token
                .with_object(h, |e| {
                    let o = &e.obj;
                    if o.class() != CKO_SECRET_KEY {
                        return Err(Error::KeyTypeInconsistent);
                    }
                    let kt = o.key_type().unwrap_or(CK_UNAVAILABLE_INFORMATION);
                    if types.is_some_and(|t| !t.contains(&kt)) {
                        return Err(Error::KeyTypeInconsistent);
                    }
                    if derive && !o.bool(CKA_DERIVE) {
                        return Err(Error::KeyFunctionNotPermitted);
                    }
                    if crate::family::is_disabled(o) {
                        return Err(Error::KeyFunctionNotPermitted);
                    }
                    let v =
                        Zeroizing::new(o.get(CKA_VALUE).ok_or(Error::KeyHandleInvalid)?.to_vec());
                    Ok((v, InheritFrom::of(o)))
                })
                .map_err(|e| match e {
                    Error::ObjectHandleInvalid => Error::KeyHandleInvalid,
                    e => e,
                })
        };
        let mut m = mech.clone();
        let mut other = None;
        match &mut m.param {
            Param::OtherKey { handle, value } => {
                let (v, attrs) = read(*handle, true, None)?;
                *value = v;
                other = Some(attrs);
            }
            Param::Kbkdf(p) => {
                for (t, len) in p.extra.iter_mut() {
                    super::wrap::check_trusted(s, t)?;
                    let kt = template_ulong(t, CKA_KEY_TYPE)?.unwrap_or(CKK_GENERIC_SECRET);
                    let st = super::secret_type(kt).ok_or(Error::TemplateInconsistent)?;
                    let asked = template_ulong(t, CKA_VALUE_LEN)?.map(|n| n as usize);
                    if asked.is_some_and(|n| !st.len_ok(n)) {
                        return Err(Error::TemplateInconsistent);
                    }
                    *len = super::kbkdf::key_len(&super::KeyLen { asked, st })?;
                }
            }
            Param::Hkdf(p) if p.salt_type == CKF_HKDF_SALT_KEY => {
                if !p.salt.is_empty() {
                    return Err(Error::MechanismParamInvalid);
                }
                let (v, _) = read(p.salt_key, false, Some(&[CKK_GENERIC_SECRET, CKK_HKDF]))?;
                p.salt = v;
            }
            _ => {}
        }
        Ok((m, other))
    }
    /// C_GenerateKeyPair: returns (public, private).
    pub fn generate_key_pair(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        pub_t: &[Attribute],
        priv_t: &[Attribute],
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let s = self.session(h)?;
        super::wrap::check_trusted(&s, pub_t)?;
        super::wrap::check_trusted(&s, priv_t)?;
        let def = info(&self.config, mech.ty)?;
        if def.flags & CKF_GENERATE_KEY_PAIR == 0 {
            return Err(Error::MechanismInvalid);
        }
        // A template with a key family asks for a rotation (crate::family).
        let fam = crate::family::request(&[pub_t, priv_t])?;
        let owned;
        let (pub_t, priv_t) = match &fam {
            Some(r) => {
                owned = (
                    r.template(pub_t, CKO_PUBLIC_KEY)?,
                    r.template(priv_t, CKO_PRIVATE_KEY)?,
                );
                (&owned.0[..], &owned.1[..])
            }
            None => (pub_t, priv_t),
        };
        let (kt, pubs, privs) = def.pairgen.ok_or(Error::MechanismInvalid)?(mech, pub_t)?;
        let pt = with_class(pub_t, CKO_PUBLIC_KEY, kt)?;
        let st = with_class(priv_t, CKO_PRIVATE_KEY, kt)?;
        let mut pub_i = generated(mech.ty, pub_t, false);
        pub_i.extend(pubs);
        let mut priv_i = generated(mech.ty, priv_t, true);
        priv_i.extend(privs);
        let pub_o = Object::build(&pt, Origin::Generate, &pub_i)?;
        let priv_o = Object::build(&st, Origin::Generate, &priv_i)?;
        if let Some(r) = fam {
            let hs = crate::family::add_version(&s, &r, vec![pub_o, priv_o])?;
            return match hs[..] {
                [ph, sh, ..] => Ok((ph, sh)),
                _ => Err(Error::GeneralError),
            };
        }
        let ph = s.token.add(s.caller(), pub_o)?;
        match s.token.add(s.caller(), priv_o) {
            Ok(sh) => Ok((ph, sh)),
            Err(e) => {
                let _ = s.token.destroy(s.caller(), ph);
                Err(e)
            }
        }
    }
}
