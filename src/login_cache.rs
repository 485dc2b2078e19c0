//! The login cache: after a login that ran the full PIN derivation, the token's master key is kept
//! in the Linux kernel keyring, wrapped under the same PIN with a cheap derivation, so the next
//! process of the same user that logs in to the same token with the same PIN skips the expensive
//! one (Argon2id at the token's cost: about 50 ms) for a cheap one (Argon2id, 1 MiB, 1 pass).
//!
//! - **Where.** A `user` key in the caller's session keyring (the user-session keyring when the
//!   process has none), readable and searchable only by its owner's uid (no possessor rights, so a
//!   process that changed uid but kept the keyring cannot read it), expiring after
//!   `login.cache_seconds`. A session keyring of another uid is not used at all.
//! - **Bound to.** Its description names the uid, the token's serial, the PIN's role and a hash of
//!   the wrapped master key stored for that PIN: a PIN change, a re-initialization or a new
//!   `C_InitPIN` changes the wrap, so an old entry never matches (and is removed when this process
//!   made the change). The cheap wrap binds the description as associated data.
//! - **Never in the way.** A PIN that does not open the cached wrap falls back to the full
//!   derivation (so a planted entry cannot lock a user out); the caller has already counted the
//!   attempt, and a locked PIN is refused before the cache is looked at. Any keyring error (no
//!   keyring, a seccomp filter, a full quota) leaves the cache unused.
//!
//! docs/SECURITY.md weighs it: what the files alone, the same uid, and root gain.

use crate::config::KdfCost;
use crate::error::Result;
use crate::store::PinKind;
use crate::vault::MasterKey;
use linux_keyutils::{KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, LinkNode, Permission};

/// What the cheap wrap costs: Argon2id with 1 MiB and 1 pass (about 1 ms here).
const CHEAP: KdfCost = KdfCost {
    memory_kib: 1024,
    iterations: 1,
    lanes: 1,
};

const PREFIX: &str = "ferrohsm:login:v1:";

/// The cache's setting (`login.cache`, `login.cache_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginCache {
    pub seconds: u32,
}

/// The session keyring (the user-session keyring when the process has none), if it belongs to
/// this process's uid: a process that changed uid but kept its keyring caches nothing there.
fn ring() -> Option<KeyRing> {
    let r = KeyRing::from_special_id(KeyRingIdentifier::Session, false)
        .or_else(|_| KeyRing::from_special_id(KeyRingIdentifier::UserSession, false))
        .ok()?;
    (r.metadata().ok()?.get_uid() == crate::sys::euid()).then_some(r)
}

fn describe(serial: &str, kind: PinKind, wrap: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(wrap);
    let role = match kind {
        PinKind::So => "so",
        PinKind::User => "user",
    };
    let uid = crate::sys::euid();
    format!("{PREFIX}{uid}:{serial}:{role}:{}", hex::encode(&h[..16]))
}

impl LoginCache {
    /// The master key cached for this token, PIN role and wrap, if `pin` opens it.
    pub fn get(&self, serial: &str, kind: PinKind, wrap: &[u8], pin: &[u8]) -> Option<MasterKey> {
        let desc = describe(serial, kind, wrap);
        let blob = ring()?.search(&desc).ok()?.read_to_vec().ok()?;
        let mk = MasterKey::unwrap(&blob, pin, desc.as_bytes()).ok();
        if mk.is_none() {
            crate::log_debug!(
                "token {serial}: the cached login did not open; deriving from the PIN"
            );
        }
        mk
    }

    /// Caches `mk` for this token, PIN role and wrap (best effort).
    pub fn put(&self, serial: &str, kind: PinKind, wrap: &[u8], pin: &[u8], mk: &MasterKey) {
        let desc = describe(serial, kind, wrap);
        let r = (|| -> Result<()> {
            let blob = mk.wrap(pin, CHEAP, desc.as_bytes())?;
            let ring = ring().ok_or(crate::error::Error::GeneralError)?;
            let key = ring
                .add_key(&desc, &blob)
                .map_err(|_| crate::error::Error::GeneralError)?;
            let only_owner = KeyPermissionsBuilder::builder()
                .user(
                    Permission::VIEW
                        | Permission::READ
                        | Permission::WRITE
                        | Permission::SEARCH
                        | Permission::SETATTR,
                )
                .build();
            let set = key
                .set_timeout(self.seconds as usize)
                .and_then(|()| key.set_perms(only_owner));
            if set.is_err() {
                let _ = key.invalidate();
                return Err(crate::error::Error::GeneralError);
            }
            Ok(())
        })();
        match r {
            Ok(()) => crate::log_debug!("token {serial}: login cached for {} s", self.seconds),
            Err(_) => crate::log_debug!(
                "token {serial}: the kernel keyring is not usable; login not cached"
            ),
        }
    }

    /// Removes the entry for this token, PIN role and (old) wrap, if any.
    pub fn forget(serial: &str, kind: PinKind, wrap: &[u8]) {
        let desc = describe(serial, kind, wrap);
        if let Some(k) = ring().and_then(|r| r.search(&desc).ok()) {
            let _ = k.invalidate();
        }
    }

    /// Removes every ferrohsm login of this user reachable from this process's keyrings
    /// (`ferrohsm-util logout-all`); returns how many.
    pub fn forget_all() -> usize {
        let Some(ring) = ring() else {
            return 0;
        };
        let Ok(links) = ring.get_links(4096) else {
            return 0;
        };
        let mut n = 0;
        for node in links.iter() {
            if let LinkNode::Key(k) = node {
                let ours = k
                    .metadata()
                    .is_ok_and(|m| m.get_description().starts_with(PREFIX));
                if ours && k.invalidate().is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
}
