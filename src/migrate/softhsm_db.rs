//! A SoftHSM 2 token of the database object store (`objectstore.backend = db`): one SQLite file,
//! `<tokendir>/<uuid>/sqlite3.db`, read without writing anything. The attributes, PIN blobs and
//! encryption are those of the file store (decrypted by [`super::softhsm`]); only the container
//! differs.
//!
//! The layout (learnt from SoftHSM 2.6.1's public sources, `DBToken`, `DBObject`, `DB`, and
//! checked against databases SoftHSM 2.6.1 wrote; docs/MIGRATION.md has the details):
//! - a table `object` (`id`), one row per object; row 1 is the token itself (label, serial,
//!   flags, PIN blobs as SoftHSM's own attributes);
//! - tables `attribute_boolean`, `attribute_integer`, `attribute_binary` and `attribute_array`,
//!   each `(value, type, object_id, id)`: a row per attribute of an object, by the kind of value.
//!   Integers are stored as signed 64-bit (an unsigned long cast), booleans as 0 or 1.
//!   `CKA_ALLOWED_MECHANISMS` is in `attribute_binary`: the mechanism types one after the other,
//!   8 bytes each in the writing machine's order. `attribute_array` holds the templates
//!   (`CKA_WRAP_TEMPLATE`...) as records `type (8) | kind (4) | value` in the machine's order:
//!   kind 1 a boolean (1 byte), 2 an unsigned long (8), 3 a byte string (length (8), bytes),
//!   5 a mechanism set (byte length (8), types). Read here as little-endian with 8-byte unsigned
//!   longs: what x86-64 and arm64 Linux write.
//! - `attribute_text`, `attribute_datetime` and `attribute_real` exist but SoftHSM 2.6 puts
//!   nothing in them: a row there (a newer schema) is refused, not dropped.
//!
//! Reading: in place with `SQLITE_OPEN_READ_ONLY`, in one read transaction (a consistent view
//! while SoftHSM writes; SQLite's shared lock is a lock, not a write). SoftHSM keeps its database
//! in SQLite's default rollback-journal mode; a database someone switched to WAL mode is copied
//! (with its `-wal`) into a private directory and read there, since reading WAL in place needs
//! a `-shm` file that SQLite would create or write beside it.

use super::softhsm::{
    get, token_from_attrs, Attrs, Found, SoftObject, Store, Value, DB_FILE, MAX_LEN,
};
use cryptoki_sys::*;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The token's own row in `object`.
const TOKEN_ROW: i64 = 1;
/// The tables SoftHSM 2.6 creates, and their columns.
const ATTR_TABLES: [&str; 7] = [
    "attribute_boolean",
    "attribute_integer",
    "attribute_binary",
    "attribute_array",
    "attribute_text",
    "attribute_datetime",
    "attribute_real",
];
/// The ones SoftHSM 2.6 writes nothing into.
const UNUSED_TABLES: [&str; 3] = ["attribute_text", "attribute_datetime", "attribute_real"];
const ATTR_COLUMNS: [&str; 4] = ["value", "type", "object_id", "id"];
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Reads one token directory of the database store.
pub fn open_token(dir: &Path) -> Result<Found, String> {
    let path = dir.join(DB_FILE);
    let what = path.display().to_string();
    let fail = |e: String| format!("{what}: {e}");
    let (token, rows) = read_db(&path).map_err(fail)?;
    let objects = rows
        .into_iter()
        .map(|(id, attrs)| SoftObject {
            origin: format!("{what}, object {id}"),
            name: format!("object {id}"),
            attrs,
        })
        .collect();
    token_from_attrs(
        dir,
        Store::Db,
        &format!("{what} (object {TOKEN_ROW}, the token)"),
        &token,
        objects,
    )
}

/// A directory of our own for a WAL database's copy, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        use std::os::unix::fs::DirBuilderExt;
        let mut r = [0u8; 8];
        crate::vault::random(&mut r).map_err(|e| format!("{e:?}"))?;
        let p = std::env::temp_dir().join(format!(
            "ferrohsm-migrate-{}-{}",
            std::process::id(),
            hex::encode(r)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens the database without writing anything beside it: in place, read-only, in rollback
/// mode; from a private copy in WAL mode. The scratch directory must outlive the connection.
fn open(path: &Path) -> Result<(Connection, Option<Scratch>), String> {
    let mut head = [0u8; 100];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        if len == 0 {
            return Err(
                "the database is empty (a token SoftHSM began to create and did not \
                        finish?)"
                    .into(),
            );
        }
        if len < 100 || f.read_exact(&mut head).is_err() || &head[..16] != SQLITE_MAGIC {
            return Err("not an SQLite database (damaged or truncated)".into());
        }
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // Bytes 18 and 19: the write and read format versions, 2 for WAL.
    let (conn, scratch) = if head[18] == 2 || head[19] == 2 {
        let s = Scratch::new()?;
        let copy = s.0.join(DB_FILE);
        std::fs::copy(path, &copy).map_err(|e| format!("cannot copy it: {e}"))?;
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        if wal.exists() {
            std::fs::copy(&wal, s.0.join(format!("{DB_FILE}-wal")))
                .map_err(|e| format!("cannot copy {}: {e}", wal.display()))?;
        }
        (Connection::open_with_flags(&copy, flags), Some(s))
    } else {
        (Connection::open_with_flags(path, flags), None)
    };
    let conn = conn.map_err(sqlite_error)?;
    // SoftHSM writes in short transactions: wait for one to end rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite_error)?;
    Ok((conn, scratch))
}

/// SQLite's errors in the user's terms.
fn sqlite_error(e: rusqlite::Error) -> String {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match (f.code, f.extended_code) {
            (_, ffi::SQLITE_READONLY_ROLLBACK) => "a SoftHSM write was interrupted (its \
                 sqlite3.db-journal is still there): let SoftHSM open the token once (for \
                 example `softhsm2-util --show-slots` with its configuration), which rolls the \
                 write back, then migrate again"
                .into(),
            (ffi::ErrorCode::NotADatabase, _) => {
                format!("not an SQLite database (damaged or truncated): {e}")
            }
            (ffi::ErrorCode::DatabaseCorrupt, _) => format!("the database is damaged: {e}"),
            (ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked, _) => {
                format!("the database stayed locked by another process (SoftHSM writing?): {e}")
            }
            _ => format!("SQLite: {e}"),
        },
        _ => format!("SQLite: {e}"),
    }
}

/// The token's attributes and every object's, by row, objects in row order.
type Rows = Vec<(i64, Attrs)>;

fn read_db(path: &Path) -> Result<(Attrs, Rows), String> {
    let (mut conn, _scratch) = open(path)?;
    // One read transaction: every query sees the same state of the database.
    let tx = conn.transaction().map_err(sqlite_error)?;
    check_schema(&tx)?;
    let ids: Vec<i64> = first_column(&tx, "select id from object order by id")?;
    if ids.first() != Some(&TOKEN_ROW) {
        return Err(format!(
            "the token's own object (row {TOKEN_ROW}) is missing: a token SoftHSM did not \
             finish creating?"
        ));
    }
    // Every attribute row, by object then row id: SoftHSM reads the first row of a type.
    let mut by_object: BTreeMap<i64, Vec<(u64, &'static str, Value)>> = BTreeMap::new();
    for table in [
        "attribute_boolean",
        "attribute_integer",
        "attribute_binary",
        "attribute_array",
    ] {
        let mut st = tx
            .prepare(&format!(
                "select object_id, type, value from {table} order by object_id, id"
            ))
            .map_err(sqlite_error)?;
        let mut rows = st.query([]).map_err(sqlite_error)?;
        while let Some(r) = rows.next().map_err(sqlite_error)? {
            let object: i64 = r.get(0).map_err(sqlite_error)?;
            let ty = r.get::<_, i64>(1).map_err(sqlite_error)? as u64;
            let value = value_of(table, ty, r.get_ref(2).map_err(sqlite_error)?)
                .map_err(|e| format!("object {object}, attribute {ty:#x}: {e}"))?;
            by_object
                .entry(object)
                .or_default()
                .push((ty, table, value));
        }
    }
    for table in UNUSED_TABLES {
        let n: i64 = tx
            .query_row(&format!("select count(*) from {table}"), [], |r| r.get(0))
            .map_err(sqlite_error)?;
        if n > 0 {
            return Err(format!(
                "{table} has {n} row(s), which SoftHSM 2.6 never writes: a newer SoftHSM's \
                 schema? Nothing was read"
            ));
        }
    }
    drop(tx);
    let mut token = None;
    let mut objects = Vec::with_capacity(ids.len());
    for id in ids {
        // Rows of an object deleted without its attributes (foreign keys off) belong to no
        // object SoftHSM shows: they are not read.
        let attrs = merge(by_object.remove(&id).unwrap_or_default())
            .map_err(|e| format!("object {id}: {e}"))?;
        if id == TOKEN_ROW {
            token = Some(attrs);
        } else {
            objects.push((id, attrs));
        }
    }
    Ok((token.expect("row 1 checked"), objects))
}

/// One attribute per type, sorted by type. A type given twice in one table is read as SoftHSM
/// reads it, the first row. (SoftHSM cannot read back `CKA_DESTROYABLE` and
/// `CKA_PUBLIC_KEY_INFO`, so it adds a row of their defaults each time it loads the object: the
/// first row is the value the object was created with.) A type in two tables is an error.
fn merge(rows: Vec<(u64, &'static str, Value)>) -> Result<Attrs, String> {
    let mut out: BTreeMap<u64, (&'static str, Value)> = BTreeMap::new();
    for (ty, table, v) in rows {
        match out.get(&ty) {
            None => {
                out.insert(ty, (table, v));
            }
            Some((t, _)) if *t == table => {}
            Some((t, _)) => return Err(format!("attribute {ty:#x} is both in {t} and in {table}")),
        }
    }
    Ok(out.into_iter().map(|(ty, (_, v))| (ty, v)).collect())
}

fn value_of(table: &str, ty: u64, v: rusqlite::types::ValueRef<'_>) -> Result<Value, String> {
    use rusqlite::types::ValueRef;
    Ok(match (table, v) {
        ("attribute_boolean", ValueRef::Integer(i)) => Value::Bool(i != 0),
        ("attribute_integer", ValueRef::Integer(i)) => Value::Ulong(i as u64),
        ("attribute_binary" | "attribute_array", ValueRef::Null) => empty(table, ty),
        ("attribute_binary", ValueRef::Blob(b)) if ty == CKA_ALLOWED_MECHANISMS => {
            Value::Mechanisms(mechanisms(b)?)
        }
        ("attribute_binary", ValueRef::Blob(b)) => Value::Bytes(Zeroizing::new(b.to_vec())),
        ("attribute_array", ValueRef::Blob(b)) => Value::Map(template(b)?),
        (_, other) => {
            return Err(format!(
                "a {:?} value in {table}, where SoftHSM writes none",
                other.data_type()
            ))
        }
    })
}

fn empty(table: &str, ty: u64) -> Value {
    if table == "attribute_array" {
        Value::Map(Vec::new())
    } else if ty == CKA_ALLOWED_MECHANISMS {
        Value::Mechanisms(Vec::new())
    } else {
        Value::Bytes(Zeroizing::new(Vec::new()))
    }
}

fn u64_at(b: &[u8], pos: &mut usize) -> Result<u64, String> {
    let s = b
        .get(*pos..*pos + 8)
        .ok_or_else(|| format!("truncated at byte {}", *pos))?;
    *pos += 8;
    Ok(u64::from_le_bytes(s.try_into().expect("8")))
}

fn mechanisms(b: &[u8]) -> Result<Vec<u64>, String> {
    if !b.len().is_multiple_of(8) {
        return Err(format!(
            "a mechanism set of {} bytes (not a multiple of 8)",
            b.len()
        ));
    }
    let mut pos = 0;
    let mut v = Vec::with_capacity(b.len() / 8);
    while pos < b.len() {
        v.push(u64_at(b, &mut pos)?);
    }
    Ok(v)
}

/// An attribute template as SoftHSM's database stores it (see the module's documentation).
fn template(b: &[u8]) -> Result<Vec<(u64, Value)>, String> {
    let mut pos = 0;
    let mut out: Vec<(u64, Value)> = Vec::new();
    let take = |pos: &mut usize, n: u64| -> Result<&[u8], String> {
        let end = (*pos as u64)
            .checked_add(n)
            .filter(|&e| n <= MAX_LEN && e <= b.len() as u64)
            .ok_or_else(|| format!("template truncated at byte {}", *pos))?;
        let s = &b[*pos..end as usize];
        *pos = end as usize;
        Ok(s)
    };
    while pos < b.len() {
        let ty = u64_at(b, &mut pos).map_err(|e| format!("template {e}"))?;
        let kind = u32::from_le_bytes(take(&mut pos, 4)?.try_into().expect("4"));
        let v = match kind {
            1 => Value::Bool(take(&mut pos, 1)?[0] != 0),
            2 => Value::Ulong(u64_at(b, &mut pos).map_err(|e| format!("template {e}"))?),
            3 => {
                let n = u64_at(b, &mut pos).map_err(|e| format!("template {e}"))?;
                Value::Bytes(Zeroizing::new(take(&mut pos, n)?.to_vec()))
            }
            5 => {
                let n = u64_at(b, &mut pos).map_err(|e| format!("template {e}"))?;
                Value::Mechanisms(mechanisms(take(&mut pos, n)?)?)
            }
            k => return Err(format!("unknown value kind {k} in a template")),
        };
        if get(&out, ty).is_some() {
            return Err(format!("attribute {ty:#x} is given twice in a template"));
        }
        out.push((ty, v));
    }
    Ok(out)
}

/// The tables and columns are SoftHSM 2.6's, the schema version is 0 (SoftHSM sets none), and
/// SQLite finds no damage.
/// The first column of every row a query returns.
fn first_column<T: rusqlite::types::FromSql>(c: &Connection, sql: &str) -> Result<Vec<T>, String> {
    let mut st = c.prepare(sql).map_err(sqlite_error)?;
    let rows = st.query_map([], |r| r.get(0)).map_err(sqlite_error)?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error)
}

fn check_schema(c: &Connection) -> Result<(), String> {
    let version: i64 = c
        .query_row("pragma user_version", [], |r| r.get(0))
        .map_err(sqlite_error)?;
    if version != 0 {
        return Err(format!(
            "schema version {version}: SoftHSM 2.6 sets none (0); a newer SoftHSM's database? \
             Nothing was read"
        ));
    }
    let tables: Vec<String> = first_column(
        c,
        "select name from sqlite_master where type = 'table' order by name",
    )?;
    if !tables.iter().any(|t| t == "object") {
        return Err(if tables.is_empty() {
            "the database has no tables: a token SoftHSM began to create and did not finish?"
                .to_string()
        } else {
            format!(
                "no table \"object\": not a SoftHSM token database (tables: {})",
                tables.join(", ")
            )
        });
    }
    for t in &tables {
        let known = t == "object" || t.starts_with("sqlite_") || ATTR_TABLES.contains(&t.as_str());
        if !known {
            return Err(format!(
                "table {t:?} is not one SoftHSM 2.6 makes: a newer SoftHSM's schema? Nothing \
                 was read"
            ));
        }
    }
    for (t, want) in std::iter::once(("object", &["id"][..]))
        .chain(ATTR_TABLES.iter().map(|t| (*t, &ATTR_COLUMNS[..])))
    {
        if !tables.iter().any(|x| x == t) {
            return Err(format!(
                "table {t:?} is missing: not a whole SoftHSM 2.6 token database"
            ));
        }
        let cols: Vec<String> = {
            let mut st = c
                .prepare(&format!("pragma table_info({t})"))
                .map_err(sqlite_error)?;
            let r = st
                .query_map([], |r| r.get(1))
                .map_err(sqlite_error)?
                .collect::<Result<_, _>>()
                .map_err(sqlite_error)?;
            r
        };
        let mut sorted = cols.clone();
        sorted.sort();
        let mut w: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        w.sort();
        if sorted != w {
            return Err(format!(
                "table {t:?} has columns {} where SoftHSM 2.6 has {}: a newer SoftHSM's \
                 schema? Nothing was read",
                cols.join(", "),
                want.join(", ")
            ));
        }
    }
    let check: Vec<String> = first_column(c, "pragma integrity_check")?;
    if check != ["ok"] {
        return Err(format!(
            "the database is damaged (SQLite's integrity check: {})",
            check.join("; ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ty: u64, kind: u32, value: &[u8]) -> Vec<u8> {
        let mut v = ty.to_le_bytes().to_vec();
        v.extend(kind.to_le_bytes());
        v.extend(value);
        v
    }

    fn sized(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u64).to_le_bytes().to_vec();
        v.extend(b);
        v
    }

    #[test]
    fn templates_of_every_kind_and_damage_refused() {
        let mechs: Vec<u8> = [0x1040u64, 0x250]
            .iter()
            .flat_map(|m| m.to_le_bytes())
            .collect();
        let mut t = Vec::new();
        let mut boundaries = vec![0];
        t.extend(rec(CKA_EXTRACTABLE, 1, &[1]));
        boundaries.push(t.len());
        t.extend(rec(CKA_KEY_TYPE, 2, &0x1fu64.to_le_bytes()));
        boundaries.push(t.len());
        t.extend(rec(CKA_LABEL, 3, &sized(b"wrapped")));
        boundaries.push(t.len());
        t.extend(rec(CKA_ALLOWED_MECHANISMS, 5, &sized(&mechs)));
        let m = template(&t).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0], (CKA_EXTRACTABLE, Value::Bool(true)));
        assert_eq!(m[1], (CKA_KEY_TYPE, Value::Ulong(0x1f)));
        assert_eq!(m[2].1, Value::Bytes(Zeroizing::new(b"wrapped".to_vec())));
        assert_eq!(m[3].1, Value::Mechanisms(vec![0x1040, 0x250]));
        for cut in 1..t.len() {
            let r = template(&t[..cut]);
            match boundaries.iter().position(|&b| b == cut) {
                Some(n) => assert_eq!(r.unwrap().len(), n, "cut at {cut}"),
                None => assert!(r.is_err(), "cut at {cut} parsed"),
            }
        }
        // A nested template (kind 4), an unknown kind, a type twice, a huge length.
        for bad in [
            rec(CKA_WRAP_TEMPLATE, 4, &sized(&[])),
            rec(CKA_LABEL, 9, &[]),
            [rec(1, 1, &[0]), rec(1, 1, &[1])].concat(),
            rec(CKA_LABEL, 3, &u64::MAX.to_le_bytes()),
        ] {
            assert!(template(&bad).is_err());
        }
        assert!(mechanisms(&[0; 12]).is_err());
        assert_eq!(mechanisms(&[]).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn values_as_softhsm_reads_them() {
        use rusqlite::types::ValueRef;
        assert_eq!(
            value_of("attribute_integer", 0, ValueRef::Integer(-1)).unwrap(),
            Value::Ulong(u64::MAX)
        );
        assert_eq!(
            value_of("attribute_boolean", 1, ValueRef::Integer(1)).unwrap(),
            Value::Bool(true)
        );
        let am = CKA_ALLOWED_MECHANISMS;
        assert_eq!(
            value_of("attribute_binary", am, ValueRef::Null).unwrap(),
            Value::Mechanisms(vec![])
        );
        assert_eq!(
            value_of("attribute_binary", am, ValueRef::Blob(&7u64.to_le_bytes())).unwrap(),
            Value::Mechanisms(vec![7])
        );
        assert!(value_of("attribute_boolean", 1, ValueRef::Text(b"yes")).is_err());
        assert!(value_of("attribute_integer", 0, ValueRef::Real(1.5)).is_err());
        // The first row of a type is the one SoftHSM reads; a type in two tables is damage.
        let m = merge(vec![
            (0x172, "attribute_boolean", Value::Bool(false)),
            (0x172, "attribute_boolean", Value::Bool(true)),
            (0x0, "attribute_integer", Value::Ulong(3)),
        ])
        .unwrap();
        assert_eq!(m, vec![(0, Value::Ulong(3)), (0x172, Value::Bool(false))]);
        assert!(merge(vec![
            (1, "attribute_boolean", Value::Bool(true)),
            (1, "attribute_integer", Value::Ulong(1)),
        ])
        .is_err());
    }

    /// SoftHSM 2.6's tables, as its sources describe them.
    fn softhsm_schema(c: &Connection) {
        c.execute_batch("create table object (id integer primary key autoincrement);")
            .unwrap();
        for t in ATTR_TABLES {
            let kind = match t {
                "attribute_boolean" => "boolean",
                "attribute_integer" => "integer",
                "attribute_text" => "text",
                "attribute_datetime" => "datetime",
                "attribute_real" => "real",
                _ => "blob",
            };
            c.execute_batch(&format!(
                "create table {t} (value {kind}, type integer, object_id integer references \
                 object(id) on delete cascade, id integer primary key autoincrement);"
            ))
            .unwrap();
        }
    }

    #[test]
    fn a_wal_database_is_read_without_a_file_made_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let c = Connection::open(&path).unwrap();
            softhsm_schema(&c);
            c.query_row("pragma journal_mode = wal", [], |_| Ok(()))
                .unwrap();
            c.execute_batch(
                "pragma foreign_keys = off;
                 insert into object default values; insert into object default values;
                 insert into attribute_integer (value, type, object_id) values (-2, 0, 2);
                 insert into attribute_binary (value, type, object_id) values (x'6b', 3, 2);
                 insert into attribute_boolean (value, type, object_id) values (1, 1, 2);
                 insert into attribute_boolean (value, type, object_id) values (0, 1, 9);",
            )
            .unwrap();
        }
        let listing = || {
            let mut v: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let before = listing();
        assert_eq!(before, [DB_FILE]);
        let (token, objects) = read_db(&path).unwrap();
        assert!(token.is_empty());
        assert_eq!(objects.len(), 1);
        assert_eq!(
            objects[0].1,
            vec![
                (0, Value::Ulong(u64::MAX - 1)),
                (1, Value::Bool(true)),
                (3, Value::Bytes(Zeroizing::new(b"k".to_vec()))),
            ]
        );
        assert_eq!(listing(), before);
        // Without the token's row, or with no tables at all, it is a token not finished.
        let c = Connection::open(&path).unwrap();
        c.execute_batch("delete from object where id = 1").unwrap();
        drop(c);
        assert!(read_db(&path).unwrap_err().contains("did not finish"));
        let empty = dir.path().join("empty.db");
        Connection::open(&empty)
            .unwrap()
            .execute_batch("pragma user_version = 0; vacuum;")
            .unwrap();
        if std::fs::metadata(&empty).unwrap().len() > 0 {
            assert!(read_db(&empty).unwrap_err().contains("no tables"));
        }
    }
}
