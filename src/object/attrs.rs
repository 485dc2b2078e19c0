//! The attributes of one object: a vector sorted by type, and values that keep short scalars inline.
//!
//! A token with 10,000 objects holds some 350,000 attribute values, most of them booleans and
//! `CK_ULONG`s. Keeping those inline, and the attributes in one sorted vector rather than a tree,
//! makes building an object from its stored record (at login) a few allocations instead of dozens.
//! Only scalar kinds (booleans, numbers, dates) are ever inline: they are never secret, while byte
//! strings, which may be key material, always live in their own zeroizing allocation, so moving an
//! entry never leaves a copy of a secret behind; the values of secret attributes (key material)
//! are moved on into secure memory ([`Value::Secret`]) once the object knows its type.

use crate::sys::secmem::SecretBytes;
use cryptoki_sys::CK_ATTRIBUTE_TYPE;
use std::ops::Deref;
use zeroize::{Zeroize, Zeroizing};

/// Largest inline value: a `CK_ULONG` or a `CK_DATE`.
const INLINE: usize = 8;

/// One attribute value, zeroized on drop.
#[derive(Clone)]
pub enum Value {
    /// A scalar (never secret) of up to 8 bytes.
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    Heap(Zeroizing<Vec<u8>>),
    /// A secret attribute's value (key material), in secure memory: out of core dumps, locked
    /// where allowed (`sys::secmem`).
    Secret(SecretBytes),
}

impl Value {
    /// A scalar value: inline when it fits.
    pub fn scalar(v: &[u8]) -> Value {
        if v.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..v.len()].copy_from_slice(v);
            Value::Inline {
                len: v.len() as u8,
                buf,
            }
        } else {
            Value::Heap(Zeroizing::new(v.to_vec()))
        }
    }

    /// A byte string (possibly secret): always in its own zeroizing allocation.
    pub fn bytes(v: &[u8]) -> Value {
        Value::Heap(Zeroizing::new(v.to_vec()))
    }
}

impl Value {
    /// A secret value: in secure memory.
    pub fn secret(v: &[u8]) -> Value {
        Value::Secret(SecretBytes::new(v))
    }
}

impl From<Zeroizing<Vec<u8>>> for Value {
    fn from(v: Zeroizing<Vec<u8>>) -> Value {
        Value::Heap(v)
    }
}

impl Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Value::Inline { len, buf } => &buf[..*len as usize],
            Value::Heap(v) => v,
            Value::Secret(v) => v,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self[..] == other[..]
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if let Value::Inline { buf, .. } = self {
            buf.zeroize();
        }
    }
}

/// Attributes by type, sorted.
#[derive(Clone, Default)]
pub struct AttrMap(Vec<(CK_ATTRIBUTE_TYPE, Value)>);

impl AttrMap {
    pub fn with_capacity(n: usize) -> AttrMap {
        AttrMap(Vec::with_capacity(n))
    }

    fn pos(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<usize, usize> {
        self.0.binary_search_by_key(&ty, |(t, _)| *t)
    }

    pub fn get(&self, ty: &CK_ATTRIBUTE_TYPE) -> Option<&Value> {
        self.pos(*ty).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, ty: &CK_ATTRIBUTE_TYPE) -> bool {
        self.pos(*ty).is_ok()
    }

    /// Sets a value; returns the one it replaced.
    pub fn insert(&mut self, ty: CK_ATTRIBUTE_TYPE, v: impl Into<Value>) -> Option<Value> {
        let v = v.into();
        // Appending in order (as a stored record does) costs no search.
        if self.0.last().is_none_or(|(t, _)| *t < ty) {
            self.0.push((ty, v));
            return None;
        }
        match self.pos(ty) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.0.insert(i, (ty, v));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&CK_ATTRIBUTE_TYPE, &Value)> + Clone {
        self.0.iter().map(|(t, v)| (t, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &CK_ATTRIBUTE_TYPE> + Clone {
        self.0.iter().map(|(t, _)| t)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> + Clone {
        self.0.iter().map(|(_, v)| v)
    }

    /// Moves the byte-string values of the types `secret` names into secure memory (their heap
    /// copies are zeroized as they drop).
    pub fn seclude(&mut self, secret: impl Fn(CK_ATTRIBUTE_TYPE) -> bool) {
        for (ty, v) in self.0.iter_mut() {
            if matches!(v, Value::Heap(_)) && secret(*ty) {
                *v = Value::secret(v);
            }
        }
    }
}

impl IntoIterator for AttrMap {
    type Item = (CK_ATTRIBUTE_TYPE, Value);
    type IntoIter = std::vec::IntoIter<(CK_ATTRIBUTE_TYPE, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_insert_get_replace() {
        let mut m = AttrMap::default();
        for ty in [5u64, 1, 9, 3, 7] {
            assert!(m.insert(ty, Value::scalar(&[ty as u8])).is_none());
        }
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![1, 3, 5, 7, 9]);
        assert_eq!(&m.get(&7).unwrap()[..], &[7]);
        let old = m.insert(7, Value::bytes(b"longer than eight bytes"));
        assert_eq!(&old.unwrap()[..], &[7]);
        assert_eq!(&m.get(&7).unwrap()[..], b"longer than eight bytes");
        assert!(m.get(&4).is_none() && !m.contains_key(&4));
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn only_scalars_are_inline() {
        assert!(matches!(Value::scalar(&[1]), Value::Inline { .. }));
        assert!(matches!(Value::scalar(&[0; 9]), Value::Heap(_)));
        assert!(matches!(Value::bytes(&[1]), Value::Heap(_)));
        assert_eq!(&Value::scalar(&[]).to_vec(), &Vec::<u8>::new());
    }
}
