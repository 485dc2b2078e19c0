//! A SoftHSM 2 token read from its own files: the file object store parsed strictly (the
//! database object store in [`super::softhsm_db`]), the PIN blobs opened with the PINs, the
//! private objects' values decrypted, every attribute turned into ferrohsm's form. Read only:
//! nothing here writes or counts a PIN attempt.
//!
//! The file store's format (learnt from SoftHSM 2's public sources and checked against tokens
//! SoftHSM 2.6.1 wrote; docs/MIGRATION.md has the details):
//! - `<tokendir>/<uuid>/token.object` holds the token's label, serial, flags and two PIN blobs;
//!   each other `<uuid>/<uuid>.object` file is one token object.
//! - A file is a generation number then records `type | kind | value`, every integer a big-endian
//!   u64. Kinds: 1 boolean (1 byte), 2 unsigned long, 3 byte string (length, bytes), 4 attribute
//!   map (byte length, then records of kinds 1, 2, 3, 5), 5 mechanism set (count, values).
//! - A PIN blob is `salt (8) | IV (16) | AES-256-CBC-PKCS#7("RJR" | master key (32))` under
//!   SHA-256 iterated `1500 + salt[7]` times over `salt | PIN`. Both blobs hold the same key.
//! - In an object whose CKA_PRIVATE is true, every non-empty byte string is `IV (16) |
//!   AES-256-CBC-PKCS#7(value)` under the master key, but for CKA_START_DATE and CKA_END_DATE,
//!   which SoftHSM stores in clear. Attribute maps and mechanism sets are in clear.
//!
//! Both stores keep the same attributes, PIN blobs and encryption: only the container differs.

use crate::object::{attrlist, Attribute};
use cryptoki_sys::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// SoftHSM's own attributes of `token.object` (`CKA_VENDOR_DEFINED + 0x5348 + n`).
const OS_BASE: u64 = 0x8000_0000 + 0x5348;
const OS_TOKENLABEL: u64 = OS_BASE + 1;
const OS_TOKENSERIAL: u64 = OS_BASE + 2;
const OS_TOKENFLAGS: u64 = OS_BASE + 3;
const OS_SOPIN: u64 = OS_BASE + 4;
const OS_USERPIN: u64 = OS_BASE + 5;

const TOKEN_FILE: &str = "token.object";
pub(crate) const DB_FILE: &str = "sqlite3.db";
/// Longer byte strings than this are not SoftHSM's (its own dump tool has the same bound).
pub(crate) const MAX_LEN: u64 = 0x3fff_ffff;
const MAGIC: &[u8; 3] = b"RJR";
const PBE_BASE: u32 = 1500;

/// A value as SoftHSM stores it. Byte strings may be secret: Debug shows their length only.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Ulong(u64),
    Bytes(Zeroizing<Vec<u8>>),
    Map(Vec<(u64, Value)>),
    Mechanisms(Vec<u64>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Ulong(u) => write!(f, "Ulong({u:#x})"),
            Value::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Value::Map(m) => write!(f, "Map({} entries)", m.len()),
            Value::Mechanisms(m) => write!(f, "Mechanisms({m:x?})"),
        }
    }
}

/// The attributes of one SoftHSM object: in file order (file store), by type (database store).
pub type Attrs = Vec<(u64, Value)>;

pub(crate) fn get(attrs: &Attrs, ty: u64) -> Option<&Value> {
    attrs.iter().find(|(t, _)| *t == ty).map(|(_, v)| v)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos == self.b.len()
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = (self.b.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "truncated: {n} bytes wanted at offset {}, {left} left",
                self.pos
            ));
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn len(&mut self) -> Result<u64, String> {
        let n = self.u64()?;
        if n > MAX_LEN {
            return Err(format!(
                "length {n} at offset {} is not plausible",
                self.pos - 8
            ));
        }
        Ok(n)
    }

    fn value(&mut self, kind: u64, in_map: bool) -> Result<Value, String> {
        Ok(match kind {
            1 => Value::Bool(self.take(1)?[0] != 0),
            2 => Value::Ulong(self.u64()?),
            3 => {
                let n = self.len()?;
                Value::Bytes(Zeroizing::new(self.take(n)?.to_vec()))
            }
            4 if !in_map => {
                let n = self.len()?;
                let mut r = Reader {
                    b: self.take(n)?,
                    pos: 0,
                };
                let mut m = Vec::new();
                while !r.done() {
                    let ty = r.u64()?;
                    let kind = r.u64()?;
                    m.push((ty, r.value(kind, true)?));
                }
                Value::Map(m)
            }
            5 => {
                let n = self.len()?;
                let mut v = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    v.push(self.u64()?);
                }
                Value::Mechanisms(v)
            }
            k => return Err(format!("unknown value kind {k} at offset {}", self.pos - 8)),
        })
    }
}

/// Parses one SoftHSM object file: the generation, then whole records to the last byte. Anything
/// else (a short record, an unknown kind, a type given twice, an empty file) is an error.
pub fn parse_file(b: &[u8]) -> Result<Attrs, String> {
    if b.is_empty() {
        return Err("the file is empty (a half-written object?)".into());
    }
    let mut r = Reader { b, pos: 0 };
    let _generation = r.u64()?;
    let mut attrs: Attrs = Vec::new();
    while !r.done() {
        let ty = r.u64()?;
        let kind = r.u64()?;
        let v = r.value(kind, false)?;
        if get(&attrs, ty).is_some() {
            return Err(format!("attribute {ty:#x} is given twice"));
        }
        attrs.push((ty, v));
    }
    Ok(attrs)
}

fn aes_cbc_decrypt(key: &[u8], iv: &[u8], ct: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, KeyIvInit};
    if ct.is_empty() || !ct.len().is_multiple_of(16) {
        return None;
    }
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv).ok()?;
    let mut buf = Zeroizing::new(ct.to_vec());
    let n = dec.decrypt_padded::<Pkcs7>(&mut buf).ok()?.len();
    buf.truncate(n);
    Some(buf)
}

/// SoftHSM's PIN key: SHA-256 over `salt | PIN`, then over its own output, `1500 + salt[7]`
/// hashes in all.
fn pin_key(pin: &[u8], salt: &[u8; 8]) -> Zeroizing<[u8; 32]> {
    let mut h = Zeroizing::new([0u8; 32]);
    let mut d = Sha256::new();
    d.update(salt);
    d.update(pin);
    h.copy_from_slice(&d.finalize());
    for _ in 1..PBE_BASE + salt[7] as u32 {
        let next = Sha256::digest(&h[..]);
        h.copy_from_slice(&next);
    }
    h
}

/// Opens a PIN blob: the master key, or `None` for a wrong PIN.
pub fn open_pin_blob(blob: &[u8], pin: &[u8]) -> Result<Option<Zeroizing<[u8; 32]>>, String> {
    if blob.len() < 8 + 16 + 48 || !(blob.len() - 24).is_multiple_of(16) {
        return Err(format!(
            "the PIN blob has an unexpected size ({})",
            blob.len()
        ));
    }
    let salt: [u8; 8] = blob[..8].try_into().expect("8");
    let key = pin_key(pin, &salt);
    let Some(plain) = aes_cbc_decrypt(&key[..], &blob[8..24], &blob[24..]) else {
        return Ok(None);
    };
    if plain.len() != 3 + 32 || &plain[..3] != MAGIC {
        return Ok(None);
    }
    let mut mk = Zeroizing::new([0u8; 32]);
    mk.copy_from_slice(&plain[3..]);
    Ok(Some(mk))
}

/// Which PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    So,
    User,
}

/// One object of a SoftHSM token, as read (private values still encrypted).
#[derive(Debug)]
pub struct SoftObject {
    /// Where it came from, for messages: its file, or the database and the object's row.
    pub origin: String,
    /// The same, short: the file's name, or `object <row>`.
    pub name: String,
    pub attrs: Attrs,
}

impl SoftObject {
    pub fn class(&self) -> Option<u64> {
        match get(&self.attrs, CKA_CLASS) {
            Some(Value::Ulong(c)) => Some(*c),
            _ => None,
        }
    }

    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<u64> {
        match get(&self.attrs, ty) {
            Some(Value::Ulong(c)) => Some(*c),
            _ => None,
        }
    }

    pub fn bool(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        matches!(get(&self.attrs, ty), Some(Value::Bool(true)))
    }

    /// A byte string in clear (the label of a public object, say), else `None`.
    pub fn bytes(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        match get(&self.attrs, ty) {
            Some(Value::Bytes(b)) => Some(&b[..]),
            _ => None,
        }
    }
}

/// Which of SoftHSM's object stores a token was kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `objectstore.backend = file`: one file per object (SoftHSM's default).
    File,
    /// `objectstore.backend = db`: one SQLite database per token.
    Db,
}

/// A SoftHSM token found on disk, every file parsed. Debug leaves the PIN blobs out: each is the
/// master key under a cheap PIN derivation, material for guessing the PIN offline.
pub struct Found {
    pub dir: PathBuf,
    pub store: Store,
    /// The label as the token shows it (32 bytes, blank-padded).
    pub label: [u8; 32],
    pub serial: String,
    pub flags: u64,
    so_blob: Zeroizing<Vec<u8>>,
    user_blob: Option<Zeroizing<Vec<u8>>>,
    pub objects: Vec<SoftObject>,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("dir", &self.dir)
            .field("store", &self.store)
            .field("label", &self.label_str())
            .field("serial", &self.serial)
            .field("flags", &self.flags)
            .field("objects", &self.objects.len())
            .finish_non_exhaustive()
    }
}

impl Found {
    pub fn label_str(&self) -> String {
        String::from_utf8_lossy(&self.label).trim_end().to_string()
    }

    pub fn user_pin_set(&self) -> bool {
        self.user_blob.is_some()
    }

    /// The master key, from one PIN. A wrong PIN is `Ok(None)`: nothing is counted anywhere.
    pub fn master_key(
        &self,
        which: Pin,
        pin: &[u8],
    ) -> Result<Option<Zeroizing<[u8; 32]>>, String> {
        let blob = match which {
            Pin::So => &self.so_blob,
            Pin::User => self
                .user_blob
                .as_ref()
                .ok_or("the token's user PIN was never set")?,
        };
        open_pin_blob(blob, pin).map_err(|e| format!("{}: {e}", self.dir.display()))
    }

    /// Every object with its values decrypted under the master key, in ferrohsm's attribute
    /// form. An attribute SoftHSM stores as empty is its stand-in for "not given": left out,
    /// so ferrohsm's default applies.
    pub fn decrypt(&self, mk: &[u8; 32]) -> Result<Vec<Vec<Attribute>>, String> {
        self.objects
            .iter()
            .map(|o| convert(o, mk).map_err(|e| format!("{}: {e}", o.origin)))
            .collect()
    }
}

fn ulong_bytes(v: u64) -> Vec<u8> {
    (v as CK_ULONG).to_ne_bytes().to_vec()
}

/// One value in ferrohsm's form; `None` for SoftHSM's empty stand-ins.
fn plain(ty: u64, v: &Value) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    Ok(match v {
        Value::Bool(b) => Some(Zeroizing::new(vec![*b as u8])),
        Value::Ulong(u) => Some(Zeroizing::new(ulong_bytes(*u))),
        Value::Bytes(b) if b.is_empty() => None,
        Value::Bytes(b) => Some(b.clone()),
        Value::Mechanisms(m) if m.is_empty() => None,
        Value::Mechanisms(m) => Some(Zeroizing::new(
            m.iter().flat_map(|&x| ulong_bytes(x)).collect(),
        )),
        Value::Map(m) if m.is_empty() => None,
        Value::Map(m) => {
            let mut inner: Vec<(CK_ATTRIBUTE_TYPE, Zeroizing<Vec<u8>>)> = Vec::new();
            for (t, v) in m {
                if let Some(x) = plain(*t, v)? {
                    inner.push((*t as CK_ATTRIBUTE_TYPE, x));
                }
            }
            let refs: Vec<(CK_ATTRIBUTE_TYPE, &[u8])> =
                inner.iter().map(|(t, v)| (*t, &v[..])).collect();
            Some(Zeroizing::new(attrlist::encode(&refs).map_err(|e| {
                format!("the template in attribute {ty:#x} is not valid here ({e:?})")
            })?))
        }
    })
}

fn convert(o: &SoftObject, mk: &[u8; 32]) -> Result<Vec<Attribute>, String> {
    let private = o.bool(CKA_PRIVATE);
    let mut out = Vec::with_capacity(o.attrs.len());
    for (ty, v) in &o.attrs {
        let v = match v {
            Value::Bytes(b)
                if private
                    && !b.is_empty()
                    && !(matches!(*ty as CK_ATTRIBUTE_TYPE, CKA_START_DATE | CKA_END_DATE)
                        && b.len() == 8) =>
            {
                if b.len() < 32 {
                    return Err(format!("the encrypted attribute {ty:#x} is too short"));
                }
                let p = aes_cbc_decrypt(mk, &b[..16], &b[16..]).ok_or_else(|| {
                    format!("attribute {ty:#x} does not decrypt under the token's key")
                })?;
                Value::Bytes(p)
            }
            other => other.clone(),
        };
        if let Some(value) = plain(*ty, &v)? {
            out.push(Attribute {
                ty: *ty as CK_ATTRIBUTE_TYPE,
                value,
            });
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<Attrs, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_file(&b)
        .map_err(|e| format!("{} is not a valid SoftHSM object file: {e}", path.display()))
}

/// The token from its token object's attributes (`what` names where they came from) and its
/// objects: the same for both stores.
pub(crate) fn token_from_attrs(
    dir: &Path,
    store: Store,
    what: &str,
    t: &Attrs,
    objects: Vec<SoftObject>,
) -> Result<Found, String> {
    let bytes = |ty: u64, name: &str| match get(t, ty) {
        Some(Value::Bytes(b)) => Ok(b.clone()),
        _ => Err(format!(
            "{what} has no {name} (a token written by another SoftHSM version?)"
        )),
    };
    let raw_label = bytes(OS_TOKENLABEL, "label")?;
    let mut label = [b' '; 32];
    let n = raw_label.len().min(32);
    label[..n].copy_from_slice(&raw_label[..n]);
    let serial = String::from_utf8_lossy(&bytes(OS_TOKENSERIAL, "serial")?)
        .trim_end()
        .to_string();
    let flags = match get(t, OS_TOKENFLAGS) {
        Some(Value::Ulong(f)) => *f,
        _ => return Err(format!("{what} has no flags")),
    };
    let so_blob = match get(t, OS_SOPIN) {
        Some(Value::Bytes(b)) if !b.is_empty() => b.clone(),
        _ => {
            return Err(format!(
                "{}: the token was never initialized (no SO PIN in {what})",
                dir.display()
            ))
        }
    };
    let user_blob = match get(t, OS_USERPIN) {
        Some(Value::Bytes(b)) if !b.is_empty() => Some(b.clone()),
        _ => None,
    };
    for o in &objects {
        if o.class().is_none() {
            return Err(format!("{}: the object has no class", o.origin));
        }
    }
    Ok(Found {
        dir: dir.to_path_buf(),
        store,
        label,
        serial,
        flags,
        so_blob,
        user_blob,
        objects,
    })
}

/// Reads one SoftHSM token directory (`<tokendir>/<uuid>`), of either object store.
pub fn open_token(dir: &Path) -> Result<Found, String> {
    let file = dir.join(TOKEN_FILE);
    let db = dir.join(DB_FILE);
    match (file.exists(), db.exists()) {
        (true, true) => Err(format!(
            "{} holds both a token.object (file object store) and a {DB_FILE} (database \
             object store): which one SoftHSM uses depends on its objectstore.backend; move \
             the other away",
            dir.display()
        )),
        (false, true) => super::softhsm_db::open_token(dir),
        _ => open_file_token(dir),
    }
}

/// A token of the file object store.
fn open_file_token(dir: &Path) -> Result<Found, String> {
    let tf = dir.join(TOKEN_FILE);
    let t = read(&tf)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "object")
                && p.file_name().is_some_and(|n| n != TOKEN_FILE)
        })
        .collect();
    files.sort();
    let mut objects = Vec::with_capacity(files.len());
    for f in files {
        let attrs = read(&f)?;
        objects.push(SoftObject {
            origin: f.display().to_string(),
            name: f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            attrs,
        });
    }
    token_from_attrs(dir, Store::File, &tf.display().to_string(), &t, objects)
}

/// The SoftHSM token directories under `dir` (SoftHSM's `directories.tokendir`), of either object
/// store, or `dir` itself when it is one token's directory. An error says why `dir` is not a
/// SoftHSM token directory.
pub fn find_tokens(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let is_token = |p: &Path| p.join(TOKEN_FILE).is_file() || p.join(DB_FILE).is_file();
    if is_token(dir) {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if is_token(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "{} is not a SoftHSM 2 token directory: no <token>/token.object or \
             <token>/{DB_FILE} in it",
            dir.display()
        ));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ty: u64, kind: u64, value: &[u8]) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend(kind.to_be_bytes());
        v.extend(value);
        v
    }

    fn bytes(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u64).to_be_bytes().to_vec();
        v.extend(b);
        v
    }

    #[test]
    fn parses_every_kind_and_refuses_damage() {
        let mut f = 7u64.to_be_bytes().to_vec();
        let mut boundaries = vec![f.len()];
        f.extend(rec(CKA_TOKEN, 1, &[0xff]));
        boundaries.push(f.len());
        f.extend(rec(CKA_CLASS, 2, &3u64.to_be_bytes()));
        boundaries.push(f.len());
        f.extend(rec(CKA_LABEL, 3, &bytes(b"k")));
        boundaries.push(f.len());
        let mut mechs = 2u64.to_be_bytes().to_vec();
        mechs.extend(1u64.to_be_bytes());
        mechs.extend(0x40u64.to_be_bytes());
        f.extend(rec(CKA_ALLOWED_MECHANISMS, 5, &mechs));
        boundaries.push(f.len());
        let inner = rec(CKA_EXTRACTABLE, 1, &[0]);
        f.extend(rec(CKA_WRAP_TEMPLATE, 4, &bytes(&inner)));
        let a = parse_file(&f).unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!(a[0], (CKA_TOKEN, Value::Bool(true)));
        assert_eq!(a[1], (CKA_CLASS, Value::Ulong(3)));
        assert_eq!(a[3].1, Value::Mechanisms(vec![1, 0x40]));
        assert_eq!(
            a[4].1,
            Value::Map(vec![(CKA_EXTRACTABLE, Value::Bool(false))])
        );
        // A cut inside a record is an error. The format has no length or checksum, so a cut
        // between records reads as an object with fewer attributes: the object rules (class,
        // key type, key values required) are what catch those (see docs/MIGRATION.md).
        for cut in 1..f.len() {
            let r = parse_file(&f[..cut]);
            match boundaries.iter().position(|&b| b == cut) {
                Some(n) => assert_eq!(r.unwrap().len(), n, "cut at {cut}"),
                None => assert!(r.is_err(), "cut at {cut} parsed"),
            }
        }
        assert!(parse_file(&[]).is_err());
        let mut unknown = f.clone();
        unknown.extend(rec(CKA_ID, 9, &[]));
        assert!(parse_file(&unknown).is_err());
        let mut twice = f.clone();
        twice.extend(rec(CKA_TOKEN, 1, &[0]));
        assert!(parse_file(&twice).is_err());
        let mut huge = 0u64.to_be_bytes().to_vec();
        huge.extend(rec(CKA_VALUE, 3, &u64::MAX.to_be_bytes()));
        assert!(parse_file(&huge).is_err());
    }

    #[test]
    fn pin_blob_opens_with_the_right_pin_only() {
        use cbc::cipher::{block_padding::Pkcs7, BlockModeEncrypt, KeyIvInit};
        let salt = [1, 2, 3, 4, 5, 6, 7, 9u8];
        let iv = [0x42u8; 16];
        let mk = [0x5au8; 32];
        let key = pin_key(b"1234", &salt);
        let mut pt = b"RJR".to_vec();
        pt.extend(mk);
        let mut buf = vec![0u8; 48];
        buf[..35].copy_from_slice(&pt);
        let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key[..], &iv).unwrap();
        let ct = enc.encrypt_padded::<Pkcs7>(&mut buf, 35).unwrap().to_vec();
        let mut blob = salt.to_vec();
        blob.extend(iv);
        blob.extend(ct);
        assert_eq!(*open_pin_blob(&blob, b"1234").unwrap().unwrap(), mk);
        assert!(open_pin_blob(&blob, b"1235").unwrap().is_none());
        assert!(open_pin_blob(&blob[..40], b"1234").is_err());
    }

    #[test]
    fn pin_key_iterates_1500_plus_the_last_salt_byte() {
        // Recomputed here step by step: SHA-256(salt | PIN), then 1500 + 2 - 1 more hashes.
        let salt = [0, 0, 0, 0, 0, 0, 0, 2u8];
        let mut h: Vec<u8> = Sha256::digest([&salt[..], b"pin"].concat()).to_vec();
        for _ in 0..1501 {
            h = Sha256::digest(&h).to_vec();
        }
        assert_eq!(&pin_key(b"pin", &salt)[..], &h[..]);
    }
}
