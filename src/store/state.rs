//! The token's authenticated state: one tag over every sealed object row and every IV counter,
//! so rows from different moments cannot be mixed (docs/SECURITY.md, "Rollback").
//!
//! Each sealed row contributes `F(row ‖ id ‖ record)`, each IV counter `F(iv ‖ name ‖ value)`,
//! where `F` is HMAC-SHA-256 under a key derived from the master key ([`StateKey`]). A tag is a
//! fresh random `r` and `acc = F(kind ‖ r) ⊕ (XOR of the contributions)`: the randomized XOR MAC
//! of Bellare, Guérin and Rogaway (CRYPTO '95), which a writer updates in O(1) per changed row
//! (remove the old contribution and the old `r`'s term, add the new ones) and a reader checks in
//! O(1) per changed row. Without the key no one can make a tag, and because every tag carries
//! its own `F(kind ‖ r)` term, tags of earlier states cannot be combined into one for a mixed
//! state. Whole earlier states (the entire database put back) verify: that is what the external
//! anchor ([`crate::store::anchor`]) is for.
//!
//! Rows without a sealed value are not covered: they are written by sessions that may hold no
//! master key (public objects), and are not authenticated at all (docs/SECURITY.md).

use crate::error::{Error, Result};
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2_011::Sha256>;

pub const TAG_LEN: usize = 48;

/// What a tag covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Objects,
    Ivs,
}

impl Kind {
    fn label(self) -> &'static [u8] {
        match self {
            Kind::Objects => b"ferrohsm state objects",
            Kind::Ivs => b"ferrohsm state ivs",
        }
    }
}

/// The key of the state tags (from [`crate::vault::MasterKey::state_key_bytes`]), in secure
/// memory (out of core dumps, [`crate::sys::secmem`]). Never printed.
#[derive(Clone)]
pub struct StateKey {
    mac: crate::sys::secmem::SecureBox<HmacSha256>,
}

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

/// One contribution, or an accumulated XOR of them.
pub type Acc = [u8; 32];

pub fn xor(acc: &mut Acc, v: &Acc) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a ^= b;
    }
}

/// Whether a stored record is covered by the objects' state tag: a well-formed record with a
/// sealed value (exactly the rows readers count, see `Token::sync`).
pub fn covered(record: &[u8]) -> bool {
    super::record_attrs(record).is_ok_and(|mut a| a.any(|a| a.sealed))
}

/// The change one transaction makes to the sealed rows, for the objects' state tag (each store
/// applies it to the tag it keeps, in the same transaction).
pub struct Delta<'k> {
    key: Option<&'k StateKey>,
    acc: Acc,
    touched: bool,
}

impl<'k> Delta<'k> {
    pub fn new(key: Option<&'k StateKey>) -> Delta<'k> {
        Delta {
            key,
            acc: [0; 32],
            touched: false,
        }
    }

    /// A row that appears or goes (the two are the same XOR).
    pub fn flip(&mut self, id: i64, record: &[u8]) -> Result<()> {
        if covered(record) {
            // A sealed row is only written by someone holding the master key; this keeps the
            // tag exact (and a sealed value cannot be made without the key anyway).
            let key = self.key.ok_or(Error::UserNotLoggedIn)?;
            xor(&mut self.acc, &key.row(id, record));
            self.touched = true;
        }
        Ok(())
    }

    /// The key and the change to apply to the objects' tag, when a covered row changed.
    pub fn pending(&self) -> Option<(&'k StateKey, &Acc)> {
        match (self.key, self.touched) {
            (Some(k), true) => Some((k, &self.acc)),
            _ => None,
        }
    }
}

impl StateKey {
    pub fn new(key: &Zeroizing<[u8; 32]>) -> StateKey {
        StateKey {
            mac: crate::sys::secmem::SecureBox::new(
                <HmacSha256 as KeyInit>::new_from_slice(&key[..]).expect("any key length"),
            ),
        }
    }

    fn prf(&self, parts: &[&[u8]]) -> Acc {
        let mut m = (*self.mac).clone();
        for p in parts {
            // Each part is length-prefixed, so no two different lists give the same input.
            m.update(&(p.len() as u64).to_le_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// The contribution of a sealed object row.
    pub fn row(&self, id: i64, record: &[u8]) -> Acc {
        self.prf(&[b"row", &id.to_le_bytes(), record])
    }

    /// The contribution of an IV counter whose authenticated value is `value`.
    pub fn iv(&self, name: &[u8], value: i64) -> Acc {
        self.prf(&[b"iv", name, &value.to_le_bytes()])
    }

    fn nonce_term(&self, kind: Kind, r: &[u8]) -> Acc {
        self.prf(&[kind.label(), r])
    }

    /// A new tag over a set whose contributions XOR to `contributions`.
    pub fn tag(&self, kind: Kind, contributions: &Acc) -> Result<Vec<u8>> {
        let mut r = [0u8; 16];
        crate::vault::random(&mut r)?;
        let mut acc = self.nonce_term(kind, &r);
        xor(&mut acc, contributions);
        Ok([&r[..], &acc[..]].concat())
    }

    /// The tag `old` (over some set) moved to the set that differs by `delta` (the XOR of the
    /// contributions removed and added), under a fresh `r`.
    pub fn update(&self, kind: Kind, old: &[u8], delta: &Acc) -> Result<Vec<u8>> {
        let mut contributions = self.contents(kind, old)?;
        xor(&mut contributions, delta);
        self.tag(kind, &contributions)
    }

    /// The XOR of the contributions `tag` claims (no check: compare it with the set's).
    fn contents(&self, kind: Kind, tag: &[u8]) -> Result<Acc> {
        if tag.len() != TAG_LEN {
            return Err(Error::Storage("the token's state tag is malformed".into()));
        }
        let mut acc: Acc = tag[16..].try_into().expect("32 bytes");
        xor(&mut acc, &self.nonce_term(kind, &tag[..16]));
        Ok(acc)
    }

    /// Whether `tag` is the tag of the set whose contributions XOR to `contributions`
    /// (compared in constant time).
    pub fn verify(&self, kind: Kind, tag: &[u8], contributions: &Acc) -> Result<bool> {
        use subtle::ConstantTimeEq;
        let claimed = self.contents(kind, tag)?;
        Ok(bool::from(claimed.ct_eq(contributions)))
    }
}

/// The error a mismatch gives: the files were rolled back or mixed, or altered by a writer
/// without the key.
pub fn mismatch(what: &str) -> Error {
    Error::Storage(format!(
        "the token's {what} do not match its authenticated state: its files were rolled back, \
         mixed with older copies, or altered (see docs/SECURITY.md, \"Rollback\")"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> StateKey {
        StateKey::new(&Zeroizing::new([b; 32]))
    }

    #[test]
    fn tags_follow_their_set_and_nothing_else() {
        let k = key(1);
        let (a, b, b2) = (k.row(1, b"a"), k.row(2, b"b"), k.row(2, b"b2"));
        let mut set = a;
        xor(&mut set, &b);
        let t = k.tag(Kind::Objects, &set).unwrap();
        assert!(k.verify(Kind::Objects, &t, &set).unwrap());
        // The other kind, another key, a set without b or with b's older record: no.
        assert!(!k.verify(Kind::Ivs, &t, &set).unwrap());
        assert!(!key(2).verify(Kind::Objects, &t, &set).unwrap());
        assert!(!k.verify(Kind::Objects, &t, &a).unwrap());
        let mut mixed = a;
        xor(&mut mixed, &b2);
        assert!(!k.verify(Kind::Objects, &t, &mixed).unwrap());
        // Moving b to b2 incrementally gives a tag of the new set only, under a fresh r.
        let mut delta = b;
        xor(&mut delta, &b2);
        let t2 = k.update(Kind::Objects, &t, &delta).unwrap();
        assert_ne!(t2[..16], t[..16]);
        assert!(k.verify(Kind::Objects, &t2, &mixed).unwrap());
        assert!(!k.verify(Kind::Objects, &t2, &set).unwrap());
        // Tags of two states cannot be combined into one of a third: XOR-ing t, t2 and a third
        // state's tag leaves three r terms.
        let t3 = k.tag(Kind::Objects, &a).unwrap();
        let mut forged = t3.clone();
        for i in 16..48 {
            forged[i] ^= t[i] ^ t2[i];
        }
        let mut want = a;
        xor(&mut want, &b);
        xor(&mut want, &b2);
        assert!(!k.verify(Kind::Objects, &forged, &want).unwrap());
        // Malformed tags are an error, not a match.
        assert!(k.verify(Kind::Objects, &t[..47], &set).is_err());
        // Row ID, record and counter value are all bound.
        assert_ne!(k.row(1, b"a"), k.row(3, b"a"));
        assert_ne!(k.iv(b"n", 5), k.iv(b"n", 6));
        assert_ne!(k.iv(b"n", 5), k.iv(b"m", 5));
    }
}
