//! The SQLite engine: one database per token, in its own directory, WAL mode, `synchronous=FULL`.
//!
//! Why SQLite: its journal makes every committed transaction durable and every interrupted one vanish
//! (a `kill -9` at any instant leaves the last committed state), its file locks let several processes
//! share a token, and an index makes a lookup or a write cost the same among 10 or 10,000 objects.
//!
//! Layout: `<tokendir>/<serial>/token.db`. A token directory is created under a temporary name and
//! renamed into place once its database holds the token, so a crash never leaves half a token.

use super::anchor::Anchor;
use super::pins::{PinCounters, PIN_FILE};
use super::state::{self, covered, Delta, Kind, StateKey};
use super::{
    Backend, Batch, Changes, PinKind, PinLock, StoredAttr, StoredObject, TokenDump, TokenMeta,
    TokenStore,
};
use crate::error::{Error, Result};
use crate::sys::shm::SharedCounter;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DB_FILE: &str = "token.db";
/// The change counter shared by the processes using a token ([`SharedCounter`]).
const CHANGES_FILE: &str = "changes";

/// 2: IV counters carry their authenticated value, and `meta` the state tags (`state.rs`).
const SCHEMA_VERSION: i64 = 2;
/// Space set aside in the token's directory so objects can still be destroyed, to make room, on
/// a full file system (SQLite needs a little space even to delete): released when a destroy finds
/// the disk full, made again when there is room.
const RESERVE_FILE: &str = "reserve";
const RESERVE_SIZE: usize = 256 << 10;

pub struct SqliteBackend {
    dir: PathBuf,
    umask: u32,
    /// `token.anchor_dir` (see [`super::anchor`]).
    anchor_dir: Option<PathBuf>,
}

impl SqliteBackend {
    /// Opens (creating it if needed) the token directory.
    pub fn new(dir: &Path, umask: u32) -> Result<SqliteBackend> {
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o777 & !umask & 0o700).create(dir).map_err(|e| {
                Error::Config(format!(
                    "cannot create the token directory {}: {e}; set directories.tokendir to a writable path",
                    dir.display()
                ))
            })?;
        }
        let md = std::fs::metadata(dir)
            .map_err(|e| Error::Config(format!("token directory {}: {e}", dir.display())))?;
        if !md.is_dir() {
            return Err(Error::Config(format!(
                "token directory {} is not a directory; set directories.tokendir to a directory",
                dir.display()
            )));
        }
        let probe = dir.join(format!(".probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| {
            Error::Config(format!(
                "token directory {} is not writable: {e}; fix its permissions or set directories.tokendir",
                dir.display()
            ))
        })?;
        let _ = std::fs::remove_file(&probe);
        remove_leftovers(dir);
        Ok(SqliteBackend {
            dir: dir.to_path_buf(),
            umask,
            anchor_dir: None,
        })
    }

    /// Keeps each token's rollback anchor in `dir` (created `0700` if missing).
    pub fn with_anchor(mut self, dir: Option<&Path>) -> Result<SqliteBackend> {
        if let Some(d) = dir {
            if !d.is_dir() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(d)
                    .map_err(|e| {
                        Error::Config(format!(
                            "cannot create the rollback anchor directory {}: {e}",
                            d.display()
                        ))
                    })?;
            }
        }
        self.anchor_dir = dir.map(Path::to_path_buf);
        Ok(self)
    }

    fn anchor(&self, serial: &str) -> Option<Anchor> {
        self.anchor_dir
            .as_ref()
            .map(|d| Anchor::new(d, serial, self.umask))
    }

    /// Makes a token's database under a temporary name in the token directory, with `meta` and
    /// what `fill` writes in the same transaction, and returns the temporary directory (renamed
    /// into place by the caller, so a crash never leaves half a token).
    fn build(
        &self,
        meta: &TokenMeta,
        fill: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<()>,
    ) -> Result<PathBuf> {
        self.token_dir(&meta.serial)?;
        let tmp = self
            .dir
            .join(format!(".new-{}-{}", meta.serial, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::DirBuilder::new()
            .mode(0o700 & !self.umask)
            .create(&tmp)?;
        let r = (|| {
            let mut conn = open_db(&tmp.join(DB_FILE), self.umask, true)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut put = tx.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)")?;
                put.execute(params!["schema", SCHEMA_VERSION])?;
                put.execute(params!["serial", meta.serial])?;
                put.execute(params!["label", &meta.label[..]])?;
                put.execute(params!["so_wrap", meta.so_wrap])?;
                put.execute(params!["user_wrap", meta.user_wrap])?;
                put.execute(params!["so_failures", meta.so_failures])?;
                put.execute(params!["user_failures", meta.user_failures])?;
                put.execute(params!["seq", 0])?;
                put.execute(params!["epoch", 1])?;
            }
            fill(&tx)?;
            tx.commit()?;
            conn.pragma_update(None, "wal_checkpoint", "TRUNCATE").ok();
            Ok(())
        })();
        if let Err(e) = r {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        Ok(tmp)
    }

    /// Makes the token directory's entries durable (after a rename into it).
    fn sync_dir(&self) {
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
    }

    fn token_dir(&self, serial: &str) -> Result<PathBuf> {
        if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Storage(format!("invalid token serial {serial:?}")));
        }
        Ok(self.dir.join(serial))
    }
}

impl Backend for SqliteBackend {
    fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() == 16
                && name.bytes().all(|b| b.is_ascii_hexdigit())
                && entry.path().join(DB_FILE).is_file()
            {
                out.push(name.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    fn create(&self, meta: &TokenMeta) -> Result<Box<dyn TokenStore>> {
        let final_dir = self.token_dir(&meta.serial)?;
        let tmp = self.build(meta, |_| Ok(()))?;
        std::fs::rename(&tmp, &final_dir)?;
        self.sync_dir();
        self.open(&meta.serial)
    }

    fn restore(&self, tokens: &[TokenDump]) -> Result<()> {
        // Every token is made under a temporary name first; only when all are made are they
        // renamed into place, and a failed rename takes back the ones before it.
        let mut made: Vec<(PathBuf, PathBuf)> = Vec::new();
        let r = (|| {
            for t in tokens {
                let dest = self.token_dir(&t.meta.serial)?;
                if dest.exists() {
                    return Err(Error::Storage(format!(
                        "a token with serial {} already exists in {}",
                        t.meta.serial,
                        self.dir.display()
                    )));
                }
                let tmp = self.build(&t.meta, |tx| fill_from_dump(tx, t))?;
                made.push((tmp, dest));
            }
            Ok(())
        })();
        if let Err(e) = r {
            for (tmp, _) in &made {
                let _ = std::fs::remove_dir_all(tmp);
            }
            return Err(e);
        }
        for (i, (tmp, dest)) in made.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, dest) {
                for (tmp, dest) in &made[..i] {
                    let _ = std::fs::remove_dir_all(dest);
                    let _ = std::fs::remove_dir_all(tmp);
                }
                for (tmp, _) in &made[i..] {
                    let _ = std::fs::remove_dir_all(tmp);
                }
                return Err(e.into());
            }
        }
        self.sync_dir();
        Ok(())
    }

    fn open(&self, serial: &str) -> Result<Box<dyn TokenStore>> {
        let path = self.token_dir(serial)?.join(DB_FILE);
        if !path.is_file() {
            return Err(Error::TokenNotPresent);
        }
        let conn = open_db(&path, self.umask, false)?;
        let dir = self.token_dir(serial)?;
        // Without the shared counter (say, a read-only directory) every check asks the database.
        let counter = SharedCounter::open(&dir.join(CHANGES_FILE), 0o600 & !self.umask)
            .inspect_err(|e| {
                crate::log_warn!(
                    "token {serial}: no shared change counter ({e}); using the database"
                )
            })
            .ok()
            .map(Arc::new);
        let mut s = SqliteToken {
            conn,
            data_version: 0,
            counter,
            pins: None,
            dir,
            umask: self.umask,
            unsettled: false,
            state_key: None,
            key_epoch: None,
            anchor: self.anchor(serial),
            serial: serial.to_string(),
        };
        s.upgrade()?;
        let v: Option<i64> = s.get_meta("schema")?;
        if v != Some(SCHEMA_VERSION) {
            return Err(Error::Storage(format!(
                "{}: unknown schema version {v:?}",
                path.display()
            )));
        }
        s.pins = PinCounters::open(&s.dir.join(PIN_FILE), self.umask, || {
            let n = |k| s.get_meta::<i64>(k).map(|v| v.unwrap_or(0) as u32);
            Ok((n("so_failures")?, n("user_failures")?))
        })
        .inspect_err(|e| {
            crate::log_warn!(
                "token {serial}: no PIN counter file ({e}); counting failed PINs in the database"
            )
        })
        .ok();
        s.ensure_reserve();
        s.data_version = s
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?;
        Ok(Box::new(s))
    }

    fn delete(&self, serial: &str) -> Result<()> {
        let dir = self.token_dir(serial)?;
        if !dir.exists() {
            return Err(Error::TokenNotPresent);
        }
        // Rename first so other processes stop listing it at once, then remove.
        let trash = self
            .dir
            .join(format!(".del-{serial}-{}", std::process::id()));
        std::fs::rename(&dir, &trash)?;
        std::fs::remove_dir_all(&trash)?;
        if let Some(a) = self.anchor(serial) {
            a.remove();
        }
        Ok(())
    }
}

/// Writes a dumped token's objects (all at change 1), IV counters and IV tag into a new database.
fn fill_from_dump(tx: &rusqlite::Transaction<'_>, t: &TokenDump) -> Result<()> {
    {
        let mut ins =
            tx.prepare("INSERT INTO objects (uid, seq, private, attrs) VALUES (?1, 1, ?2, ?3)")?;
        for (uid, private, record) in &t.objects {
            super::check_record(record)?;
            ins.execute(params![uid, private, record])?;
        }
        let mut iv = tx.prepare("INSERT INTO iv_counters (key, next, auth) VALUES (?1, ?2, ?3)")?;
        for (name, next, auth) in &t.ivs {
            iv.execute(params![name, next, auth])?;
        }
    }
    tx.execute("UPDATE meta SET v = 1 WHERE k = 'seq'", [])?;
    if let Some(tag) = &t.state_ivs {
        put_meta(tx, "state_ivs", tag)?;
    }
    Ok(())
}

/// Removes what a process killed while creating or deleting a token left behind (`.new-*` and
/// `.del-*` directories whose process is gone).
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(".new-") || name.starts_with(".del-")) {
            continue;
        }
        let alive = name
            .rsplit('-')
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn open_db(path: &Path, umask: u32, create: bool) -> Result<Connection> {
    if create {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600 & !umask)
            .open(path)?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v);
         CREATE TABLE IF NOT EXISTS objects (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             uid TEXT NOT NULL UNIQUE,
             seq INTEGER NOT NULL,
             private INTEGER NOT NULL,
             attrs BLOB NOT NULL);
         CREATE INDEX IF NOT EXISTS objects_seq ON objects(seq);
         CREATE TABLE IF NOT EXISTS deleted (seq INTEGER NOT NULL, id INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS deleted_seq ON deleted(seq);
         CREATE TABLE IF NOT EXISTS iv_counters (key BLOB PRIMARY KEY, next INTEGER NOT NULL,
             auth INTEGER);",
    )?;
    Ok(conn)
}

struct SqliteToken {
    conn: Connection,
    data_version: i64,
    /// Bumped by every writer before and after each commit (read by [`crate::token::Token`]).
    counter: Option<Arc<SharedCounter>>,
    /// The failed-PIN counts, kept in place so a full disk never stops a PIN check
    /// (`None`: the file could not be made; the database's counts are used).
    pins: Option<PinCounters>,
    dir: PathBuf,
    umask: u32,
    /// A failed commit could not be settled (see `settle`): the next commit, or the close,
    /// settles it.
    unsettled: bool,
    /// The key of the state tags while the token's master key is at hand, and the epoch it
    /// belongs to (a re-initialization by another process makes a new master key).
    state_key: Option<StateKey>,
    key_epoch: Option<i64>,
    /// The rollback anchor outside the token's directory, when configured.
    anchor: Option<Anchor>,
    serial: String,
}

impl Drop for SqliteToken {
    fn drop(&mut self) {
        if self.unsettled {
            let cause = Error::Storage("an earlier commit failed".into());
            self.settle(&cause);
        }
    }
}

fn failures_key(kind: PinKind) -> &'static str {
    match kind {
        PinKind::So => "so_failures",
        PinKind::User => "user_failures",
    }
}

/// The token's change position: (seq, epoch).
fn position(tx: &rusqlite::Transaction<'_>) -> Result<(i64, i64)> {
    let seq: i64 = tx.query_row("SELECT v FROM meta WHERE k = 'seq'", [], |r| r.get(0))?;
    let epoch: i64 = tx.query_row("SELECT v FROM meta WHERE k = 'epoch'", [], |r| r.get(0))?;
    Ok((seq, epoch))
}

fn next_seq(tx: &rusqlite::Transaction<'_>) -> Result<i64> {
    let seq: i64 = tx.query_row("SELECT v FROM meta WHERE k = 'seq'", [], |r| r.get(0))?;
    tx.execute("UPDATE meta SET v = ?1 WHERE k = 'seq'", params![seq + 1])?;
    Ok(seq + 1)
}

/// Moves the objects' tag to the new set, in the same transaction. A missing tag (a token of an
/// earlier version, before its first login here) stays missing.
fn finish(d: Delta<'_>, tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let Some((key, acc)) = d.pending() else {
        return Ok(());
    };
    if let Some(tag) = meta_blob(tx, "state_objects")? {
        let tag = key.update(Kind::Objects, &tag, acc)?;
        put_meta(tx, "state_objects", &tag)?;
    }
    Ok(())
}

/// Moves the token's generation on (every write transaction does) and returns the new one.
fn next_gen(tx: &rusqlite::Transaction<'_>) -> Result<u64> {
    let g: i64 = tx.query_row(
        "INSERT INTO meta (k, v) VALUES ('gen', 1) ON CONFLICT(k) DO UPDATE SET v = v + 1 \
         RETURNING v",
        [],
        |r| r.get(0),
    )?;
    Ok(g as u64)
}

fn current_gen(tx: &rusqlite::Transaction<'_>) -> Result<u64> {
    let g: Option<i64> = tx
        .query_row("SELECT v FROM meta WHERE k = 'gen'", [], |r| r.get(0))
        .optional()?;
    Ok(g.unwrap_or(0) as u64)
}

fn meta_blob(tx: &rusqlite::Transaction<'_>, k: &str) -> Result<Option<Vec<u8>>> {
    let v: Option<Option<Vec<u8>>> = tx
        .query_row("SELECT v FROM meta WHERE k = ?1", params![k], |r| r.get(0))
        .optional()?;
    Ok(v.flatten())
}

fn put_meta(tx: &rusqlite::Transaction<'_>, k: &str, v: &[u8]) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)",
        params![k, v],
    )?;
    Ok(())
}

fn old_record(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<Option<Vec<u8>>> {
    Ok(tx
        .query_row(
            "SELECT attrs FROM objects WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?)
}

// The row writes of one change, at change `seq`; every write path (one object or a batch) uses them.

fn insert_row(
    tx: &rusqlite::Transaction<'_>,
    d: &mut Delta<'_>,
    seq: i64,
    uid: &str,
    private: bool,
    attrs: &[StoredAttr],
) -> Result<i64> {
    let record = super::encode_attrs(attrs);
    tx.execute(
        "INSERT INTO objects (uid, seq, private, attrs) VALUES (?1, ?2, ?3, ?4)",
        params![uid, seq, private, record],
    )?;
    let id = tx.last_insert_rowid();
    d.flip(id, &record)?;
    Ok(id)
}

/// `ObjectHandleInvalid` if the row is gone (another process deleted it).
fn update_row(
    tx: &rusqlite::Transaction<'_>,
    d: &mut Delta<'_>,
    seq: i64,
    id: i64,
    private: bool,
    attrs: &[StoredAttr],
) -> Result<()> {
    let old = old_record(tx, id)?.ok_or(Error::ObjectHandleInvalid)?;
    let record = super::encode_attrs(attrs);
    tx.execute(
        "UPDATE objects SET seq = ?1, private = ?2, attrs = ?3 WHERE id = ?4",
        params![seq, private, record, id],
    )?;
    d.flip(id, &old)?;
    d.flip(id, &record)
}

/// Deletes a row and logs the deletion for other readers; `ObjectHandleInvalid` if it is gone.
fn delete_row(tx: &rusqlite::Transaction<'_>, d: &mut Delta<'_>, seq: i64, id: i64) -> Result<()> {
    let old = old_record(tx, id)?.ok_or(Error::ObjectHandleInvalid)?;
    tx.execute("DELETE FROM objects WHERE id = ?1", params![id])?;
    tx.execute(
        "INSERT INTO deleted (seq, id) VALUES (?1, ?2)",
        params![seq, id],
    )?;
    d.flip(id, &old)
}

impl SqliteToken {
    fn get_meta<T: rusqlite::types::FromSql>(&self, k: &str) -> Result<Option<T>> {
        let v: Option<Option<T>> = self
            .conn
            .query_row("SELECT v FROM meta WHERE k = ?1", params![k], |r| r.get(0))
            .optional()?;
        Ok(v.flatten())
    }

    /// The body of [`TokenStore::apply_batch`].
    fn batch(&mut self, seq: u64, epoch: u64, batch: &Batch) -> Result<Option<Vec<i64>>> {
        self.write_rows(|tx, d| {
            // Under the write lock (BEGIN IMMEDIATE): no other process can commit until we do, so
            // the caller's decision, made at `seq`, still holds when it is written.
            if position(tx)? != (seq as i64, epoch as i64) {
                return Ok(None);
            }
            let next = next_seq(tx)?;
            let mut ids = Vec::with_capacity(batch.inserts.len());
            for (uid, private, attrs) in &batch.inserts {
                ids.push(insert_row(tx, d, next, uid, *private, attrs)?);
            }
            for (id, private, attrs) in &batch.updates {
                update_row(tx, d, next, *id, *private, attrs)?;
            }
            for id in &batch.deletes {
                delete_row(tx, d, next, *id)?;
            }
            Ok(Some(ids))
        })
    }

    /// A write of object rows: [`SqliteToken::write`], with the objects' state tag moved along.
    fn write_rows<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &mut Delta<'_>) -> Result<T>,
    ) -> Result<T> {
        let key = self.state_key.clone();
        let key_epoch = self.key_epoch;
        self.write(|tx| {
            // A key of an earlier epoch (another process re-initialized the token since this
            // one logged in) is no key: its tags would be garbage under the new master key.
            let epoch = position(tx)?.1;
            let key = key.filter(|_| key_epoch == Some(epoch));
            let mut d = Delta::new(key.as_ref());
            let v = f(tx, &mut d)?;
            finish(d, tx)?;
            Ok(v)
        })
    }

    /// Brings a database of an earlier schema to this one (once, whichever process opens it
    /// first). Schema 1 had no state tags: they are made at the next login (`init_state`).
    fn upgrade(&mut self) -> Result<()> {
        if self.get_meta::<i64>("schema")? != Some(1) {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v: Option<i64> = tx
            .query_row("SELECT v FROM meta WHERE k = 'schema'", [], |r| r.get(0))
            .optional()?;
        if v == Some(1) {
            let has_auth: bool = tx
                .prepare("SELECT 1 FROM pragma_table_info('iv_counters') WHERE name = 'auth'")?
                .exists([])?;
            if !has_auth {
                tx.execute("ALTER TABLE iv_counters ADD COLUMN auth INTEGER", [])?;
            }
            tx.execute(
                "UPDATE meta SET v = ?1 WHERE k = 'schema'",
                params![SCHEMA_VERSION],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes the reserve file when it is missing and there is room (best effort).
    fn ensure_reserve(&self) {
        let path = self.dir.join(RESERVE_FILE);
        if path.exists() {
            return;
        }
        let tmp = self.dir.join(".reserve.tmp");
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600 & !self.umask)
            .open(&tmp)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(&vec![0u8; RESERVE_SIZE])?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        if made.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Runs a write that only frees space (destroying objects); on a full disk, releases the
    /// reserve and tries once more.
    fn freeing<T>(&mut self, mut f: impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        match f(self) {
            Err(Error::DiskFull(m)) => {
                let reserve = self.dir.join(RESERVE_FILE);
                if std::fs::remove_file(&reserve).is_err() {
                    return Err(Error::DiskFull(m));
                }
                crate::log_warn!(
                    "{}: file system full; released the reserve to destroy objects",
                    self.dir.display()
                );
                let r = f(self);
                self.ensure_reserve();
                r
            }
            r => r,
        }
    }

    /// After a commit: the anchor learns the new generation. A failure is logged, not returned:
    /// the change is committed, and an anchor that lags only detects less.
    fn raise_anchor(&self, gen: u64) {
        if let Some(a) = &self.anchor {
            if let Err(e) = a.advance(gen) {
                crate::log_warn!("token {}: {e}", self.serial);
            }
        }
    }

    /// `Err` when the anchor has seen a later generation than the files hold.
    fn check_anchor(&self, gen: u64) -> Result<()> {
        match &self.anchor {
            Some(a) => a.check(&self.serial, gen).inspect_err(|e| {
                crate::log_error!("{e}");
            }),
            None => Ok(()),
        }
    }

    /// A failed-PIN count: from the counter file, else from the database.
    fn failures(&self, kind: PinKind) -> Result<u32> {
        match &self.pins {
            Some(p) => p.get(kind),
            None => Ok(self.get_meta::<i64>(failures_key(kind))?.unwrap_or(0) as u32),
        }
    }

    fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        // Bumped before and after: a reader that looks while the commit is in flight still gets a
        // bump after it. A writer killed in between is covered by the readers' periodic full
        // check (`TokenStore::check_interval_ms`).
        let bump = |c: &Option<Arc<SharedCounter>>| c.as_deref().map(SharedCounter::bump);
        bump(&self.counter);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v = match f(&tx).and_then(|v| Ok((v, next_gen(&tx)?))) {
            Ok(v) => v,
            Err(e) => {
                bump(&self.counter);
                return Err(e);
            }
        };
        let r = tx.commit().map(|()| v);
        let r = match r {
            Ok((v, gen)) => {
                // Written over the frames of an earlier failed commit, if any.
                self.unsettled = false;
                self.raise_anchor(gen);
                Ok(v)
            }
            Err(e) => Err(e),
        };
        let r = r.map_err(|e| {
            let e = match Error::from(e) {
                // A sync or a late write that failed for want of space is a full disk too
                // (SQLite reports it as a generic I/O error, with the errno aside).
                Error::Storage(m)
                    if matches!(system_errno(&self.conn), libc::ENOSPC | libc::EDQUOT) =>
                {
                    Error::DiskFull(m)
                }
                e => e,
            };
            self.settle(&e);
            e
        });
        bump(&self.counter);
        r
    }

    /// After a commit that failed: makes the failure final. SQLite writes a transaction's frames
    /// to the WAL, then syncs it; when the sync (or a late write) fails, the commit is reported
    /// failed and this connection forgets it, but the frames are in the file, and a later open
    /// that rebuilds the WAL index from the file would bring the transaction back: a change the
    /// application was told failed would appear. A small transaction committed now is written
    /// over those frames and breaks their checksum chain, so they can never be recovered (found
    /// by tests/store_faults.rs). If this fails too, the outcome is unknown until the store can
    /// be written again; the log says so.
    fn settle(&mut self, cause: &Error) {
        let r = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .and_then(|tx| {
                tx.execute(
                    "INSERT OR REPLACE INTO meta (k, v) VALUES ('settled', \
                     coalesce((SELECT v FROM meta WHERE k = 'settled'), 0) + 1)",
                    [],
                )?;
                tx.commit()
            });
        self.unsettled = r.is_err();
        if let Err(e) = r {
            crate::log_error!(
                "token in {}: a commit failed ({cause}) and could not be settled ({e}): the \
                 change may still appear when the token is next opened",
                self.dir.display()
            );
        }
    }
}

/// The PIN lock: an exclusive `flock` of the token's `pin.lock`, held by one open file at a time,
/// whichever thread or process has it; released when the file is closed.
struct FileLock(std::fs::File);

impl PinLock for FileLock {
    fn lock(&mut self) -> Result<()> {
        self.0.lock()?;
        Ok(())
    }
}

/// The OS error behind the connection's last failed I/O (0 if none).
fn system_errno(conn: &Connection) -> i32 {
    // SAFETY: the handle is this open connection's own, valid while `conn` is borrowed; the call
    // only reads the error the connection last recorded.
    unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) }
}

fn row_object(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, bool, Vec<u8>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

impl TokenStore for SqliteToken {
    fn meta(&mut self) -> Result<TokenMeta> {
        if self.anchor.is_some() {
            let gen = self.get_meta::<i64>("gen")?.unwrap_or(0) as u64;
            self.check_anchor(gen)?;
        }
        let label: Vec<u8> = self.get_meta("label")?.unwrap_or_default();
        let mut l = [b' '; 32];
        if label.len() == 32 {
            l.copy_from_slice(&label);
        }
        Ok(TokenMeta {
            serial: self.get_meta("serial")?.unwrap_or_default(),
            label: l,
            so_wrap: self.get_meta("so_wrap")?,
            user_wrap: self.get_meta("user_wrap")?,
            so_failures: self.failures(PinKind::So)?,
            user_failures: self.failures(PinKind::User)?,
        })
    }

    fn has_changed(&mut self) -> Result<bool> {
        // A cached statement; callers ask only when the change hint moved (see `change_hint`).
        let v: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let changed = v != self.data_version;
        self.data_version = v;
        Ok(changed)
    }

    fn change_hint(&self) -> Option<Arc<SharedCounter>> {
        self.counter.clone()
    }

    fn changes_since(&mut self, seq: u64, epoch: u64) -> Result<Changes> {
        let tx = self.conn.transaction()?;
        let (cur_seq, cur_epoch) = position(&tx)?;
        let gen = current_gen(&tx)?;
        let reset = cur_epoch as u64 != epoch;
        let since = if reset { -1 } else { seq as i64 };
        let mut ch = Changes {
            reset,
            seq: cur_seq as u64,
            epoch: cur_epoch as u64,
            state: meta_blob(&tx, "state_objects")?,
            ..Changes::default()
        };
        {
            let mut st =
                tx.prepare_cached("SELECT id, uid, private, attrs FROM objects WHERE seq > ?1")?;
            let rows = st.query_map(params![since], row_object)?;
            for row in rows {
                let (id, uid, private, blob) = row?;
                // One damaged record makes one object unreadable (dropped from view), never the whole
                // token.
                match StoredObject::new(id, uid, private, blob) {
                    Ok(so) => ch.upserts.push(so),
                    Err(e) => {
                        crate::log_error!("object {id} cannot be read and is skipped: {e}");
                        ch.deleted.push(id);
                    }
                }
            }
            if !reset {
                let mut st = tx.prepare_cached("SELECT id FROM deleted WHERE seq > ?1")?;
                for id in st.query_map(params![since], |r| r.get(0))? {
                    ch.deleted.push(id?);
                }
            }
        }
        tx.commit()?;
        self.check_anchor(gen)?;
        Ok(ch)
    }

    fn insert_object(&mut self, uid: &str, private: bool, attrs: &[StoredAttr]) -> Result<i64> {
        self.write_rows(|tx, d| insert_row(tx, d, next_seq(tx)?, uid, private, attrs))
    }

    fn update_object(&mut self, id: i64, private: bool, attrs: &[StoredAttr]) -> Result<()> {
        self.write_rows(|tx, d| update_row(tx, d, next_seq(tx)?, id, private, attrs))
    }

    fn delete_object(&mut self, id: i64) -> Result<()> {
        self.freeing(|s| s.write_rows(|tx, d| delete_row(tx, d, next_seq(tx)?, id)))
    }

    fn apply_batch(&mut self, seq: u64, epoch: u64, batch: &Batch) -> Result<Option<Vec<i64>>> {
        if batch.inserts.is_empty() && batch.updates.is_empty() {
            return self.freeing(|s| s.batch(seq, epoch, batch));
        }
        self.batch(seq, epoch, batch)
    }

    fn set_wrap(&mut self, kind: PinKind, wrap: Option<&[u8]>) -> Result<()> {
        let k = match kind {
            PinKind::So => "so_wrap",
            PinKind::User => "user_wrap",
        };
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)",
                params![k, wrap],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, 0)",
                params![failures_key(kind)],
            )?;
            Ok(())
        })?;
        if let Some(p) = &self.pins {
            p.set(kind, 0)?;
        }
        Ok(())
    }

    fn record_failure(&mut self, kind: PinKind) -> Result<u32> {
        if let Some(p) = &self.pins {
            let n = p.get(kind)?.saturating_add(1);
            p.set(kind, n)?;
            return Ok(n);
        }
        self.write(|tx| {
            let k = failures_key(kind);
            let n: i64 = tx
                .query_row("SELECT v FROM meta WHERE k = ?1", params![k], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            tx.execute(
                "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)",
                params![k, n + 1],
            )?;
            Ok((n + 1) as u32)
        })
    }

    fn reset_failures(&mut self, kind: PinKind) -> Result<()> {
        // Nothing is written when there is nothing to clear: a login on a full disk must work.
        if self.failures(kind)? == 0 {
            return Ok(());
        }
        if let Some(p) = &self.pins {
            return p.set(kind, 0);
        }
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, 0)",
                params![failures_key(kind)],
            )?;
            Ok(())
        })
    }

    fn pin_lock(&mut self) -> Result<Box<dyn PinLock>> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600 & !self.umask)
            .open(self.dir.join(PIN_FILE))?;
        Ok(Box::new(FileLock(f)))
    }

    fn reinitialize(&mut self, label: &[u8; 32], so_wrap: &[u8]) -> Result<()> {
        // The new master key's state key (see `Token::reinitialize`): the tags start again, the
        // objects' over nothing, the IV counters' over the values they have now.
        let key = self.state_key.clone();
        self.write(|tx| {
            tx.execute(
                "DELETE FROM meta WHERE k IN ('state_objects', 'state_ivs')",
                [],
            )?;
            if let Some(key) = &key {
                make_tags(tx, key)?;
            }
            tx.execute("DELETE FROM objects", [])?;
            tx.execute("DELETE FROM deleted", [])?;
            tx.execute("UPDATE meta SET v = v + 1 WHERE k = 'epoch'", [])?;
            let mut put = tx.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)")?;
            put.execute(params!["label", &label[..]])?;
            put.execute(params!["so_wrap", so_wrap])?;
            put.execute(params!["user_wrap", Option::<Vec<u8>>::None])?;
            put.execute(params!["so_failures", 0])?;
            put.execute(params!["user_failures", 0])?;
            Ok(())
        })?;
        if let Some(p) = &self.pins {
            p.set(PinKind::So, 0)?;
            p.set(PinKind::User, 0)?;
        }
        // The key given for the new master key belongs to the new epoch.
        if self.state_key.is_some() {
            self.key_epoch = self.get_meta::<i64>("epoch")?;
        }
        Ok(())
    }

    fn reserve_ivs(&mut self, key: &[u8], n: u64) -> Result<u64> {
        let n = i64::try_from(n).map_err(|_| Error::MechanismParamInvalid)?;
        // Not through `write`: a reservation changes no object, so other processes need not
        // look for changes (they still see SQLite's data_version move, and find none).
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (first, auth): (i64, Option<i64>) = tx
            .query_row(
                "SELECT next, auth FROM iv_counters WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, None));
        let next = first
            .checked_add(n)
            .filter(|_| first >= 0)
            .ok_or(Error::MechanismParamInvalid)?;
        // With the state key, the new value becomes the authenticated one (so rolling the counter
        // back below it is seen at the next login); without it (a session key used by a session
        // with nobody logged in), only the counter moves.
        let tag = meta_blob(&tx, "state_ivs")?;
        // A key of an earlier epoch (another process re-initialized the token) is no key: the
        // tag is under the new master key now, and an update with the old one would spoil it.
        let epoch = position(&tx)?.1;
        let skey = self
            .state_key
            .as_ref()
            .filter(|_| self.key_epoch == Some(epoch));
        let auth = match (skey, tag) {
            (Some(k), Some(tag)) => {
                let mut delta = k.iv(key, next);
                if let Some(a) = auth {
                    state::xor(&mut delta, &k.iv(key, a));
                }
                put_meta(&tx, "state_ivs", &k.update(Kind::Ivs, &tag, &delta)?)?;
                Some(next)
            }
            _ => auth,
        };
        tx.execute(
            "INSERT OR REPLACE INTO iv_counters (key, next, auth) VALUES (?1, ?2, ?3)",
            params![key, next, auth],
        )?;
        let gen = next_gen(&tx)?;
        tx.commit()?;
        self.raise_anchor(gen);
        Ok(first as u64)
    }

    fn set_state_key(&mut self, key: Option<StateKey>) {
        self.key_epoch = key
            .as_ref()
            .and_then(|_| self.get_meta::<i64>("epoch").ok().flatten());
        self.state_key = key;
    }

    fn init_state(&mut self, replace: bool) -> Result<()> {
        let key = self.state_key.clone().ok_or(Error::UserNotLoggedIn)?;
        let missing = |s: &Self| -> Result<bool> {
            Ok(s.get_meta::<Vec<u8>>("state_objects")?.is_none()
                || s.get_meta::<Vec<u8>>("state_ivs")?.is_none())
        };
        if !replace && !missing(self)? {
            return Ok(());
        }
        let key_epoch = self.key_epoch;
        self.write(|tx| {
            // Tags made with a key of an earlier epoch would be garbage under the new master key
            // (whoever re-initialized the token made the new ones).
            if key_epoch != Some(position(tx)?.1) {
                return Ok(());
            }
            if replace {
                tx.execute(
                    "DELETE FROM meta WHERE k IN ('state_objects', 'state_ivs')",
                    [],
                )?;
            }
            // Made over what is there now: whatever happened to the files before this point is
            // accepted (docs/SECURITY.md says what that leaves open).
            let have_objects = meta_blob(tx, "state_objects")?.is_some();
            let have_ivs = meta_blob(tx, "state_ivs")?.is_some();
            if !have_objects {
                let mut acc = [0u8; 32];
                let mut st = tx.prepare("SELECT id, attrs FROM objects")?;
                let rows =
                    st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
                for row in rows {
                    let (id, record) = row?;
                    if covered(&record) {
                        state::xor(&mut acc, &key.row(id, &record));
                    }
                }
                put_meta(tx, "state_objects", &key.tag(Kind::Objects, &acc)?)?;
            }
            if !have_ivs {
                put_meta(tx, "state_ivs", &iv_tag_now(tx, &key)?)?;
            }
            crate::log_info!(
                "token state tags made ({}{})",
                if have_objects { "" } else { "objects " },
                if have_ivs { "" } else { "IV counters" }
            );
            Ok(())
        })
    }

    fn dump(&mut self) -> Result<TokenDump> {
        let so_failures = self.failures(PinKind::So)?;
        let user_failures = self.failures(PinKind::User)?;
        let mut meta = self.meta()?;
        meta.so_failures = so_failures;
        meta.user_failures = user_failures;
        let tx = self.conn.transaction()?;
        let mut d = TokenDump {
            meta,
            state_ivs: meta_blob(&tx, "state_ivs")?,
            ..TokenDump::default()
        };
        {
            let mut st = tx.prepare("SELECT uid, private, attrs FROM objects ORDER BY id")?;
            for row in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
                d.objects.push(row?);
            }
            let mut st = tx.prepare("SELECT key, next, auth FROM iv_counters")?;
            for row in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
                d.ivs.push(row?);
            }
        }
        tx.commit()?;
        Ok(d)
    }

    fn check_ivs(&mut self) -> Result<bool> {
        let key = self.state_key.clone().ok_or(Error::UserNotLoggedIn)?;
        let tx = self.conn.transaction()?;
        let Some(tag) = meta_blob(&tx, "state_ivs")? else {
            return Ok(true);
        };
        let mut acc = [0u8; 32];
        let mut below = false;
        {
            let mut st = tx.prepare("SELECT key, next, auth FROM iv_counters")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })?;
            for row in rows {
                let (name, next, auth) = row?;
                if let Some(a) = auth {
                    state::xor(&mut acc, &key.iv(&name, a));
                    below |= next < a;
                }
            }
        }
        tx.commit()?;
        Ok(!below && key.verify(Kind::Ivs, &tag, &acc)?)
    }
}

/// Sets every IV counter's authenticated value to its value and returns the tag over them.
fn iv_tag_now(tx: &rusqlite::Transaction<'_>, key: &StateKey) -> Result<Vec<u8>> {
    tx.execute("UPDATE iv_counters SET auth = next", [])?;
    let mut acc = [0u8; 32];
    let mut st = tx.prepare("SELECT key, next FROM iv_counters")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (name, next) = row?;
        state::xor(&mut acc, &key.iv(&name, next));
    }
    key.tag(Kind::Ivs, &acc)
}

/// The tags of a token with no objects (after a re-initialization) under `key`.
fn make_tags(tx: &rusqlite::Transaction<'_>, key: &StateKey) -> Result<()> {
    put_meta(tx, "state_objects", &key.tag(Kind::Objects, &[0; 32])?)?;
    put_meta(tx, "state_ivs", &iv_tag_now(tx, key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reservations never overlap, through two connections to one token and after a reopen.
    #[test]
    fn iv_reservations_never_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let b = SqliteBackend::new(dir.path(), 0o077).unwrap();
        let meta = TokenMeta {
            serial: "1c5".into(),
            ..Default::default()
        };
        let mut one = b.create(&meta).unwrap();
        let mut two = b.open("1c5").unwrap();
        assert_eq!(one.reserve_ivs(b"k", 10).unwrap(), 0);
        assert_eq!(two.reserve_ivs(b"k", 5).unwrap(), 10);
        assert_eq!(two.reserve_ivs(b"other", 5).unwrap(), 0);
        assert_eq!(one.reserve_ivs(b"k", 1).unwrap(), 15);
        one.reinitialize(&[b' '; 32], b"so").unwrap();
        drop((one, two));
        let mut again = b.open("1c5").unwrap();
        assert_eq!(again.reserve_ivs(b"k", 1).unwrap(), 16);
        assert!(matches!(
            again.reserve_ivs(b"k", u64::MAX),
            Err(Error::MechanismParamInvalid)
        ));
        assert_eq!(again.reserve_ivs(b"k", (1 << 63) - 18).unwrap(), 17);
        assert!(matches!(
            again.reserve_ivs(b"k", 1),
            Err(Error::MechanismParamInvalid)
        ));
    }

    /// The IV counters' tag: a counter put back below its authenticated value, an authenticated
    /// value changed, or a counter deleted is a mismatch; reservations without the key (nobody
    /// logged in) move the counter only, which stays valid; a re-initialization starts the tag
    /// again under the new key, over the counters as they are.
    #[test]
    fn iv_counters_rolled_back_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let b = SqliteBackend::new(dir.path(), 0o077).unwrap();
        let meta = TokenMeta {
            serial: "2c5".into(),
            ..Default::default()
        };
        let mut st = b.create(&meta).unwrap();
        let key = StateKey::new(&zeroize::Zeroizing::new([7u8; 32]));
        st.set_state_key(Some(key.clone()));
        st.init_state(false).unwrap();
        assert_eq!(st.reserve_ivs(b"k", 10).unwrap(), 0);
        assert_eq!(st.reserve_ivs(b"j", 3).unwrap(), 0);
        assert!(st.check_ivs().unwrap());
        st.set_state_key(None);
        assert_eq!(st.reserve_ivs(b"k", 5).unwrap(), 10);
        st.set_state_key(Some(key.clone()));
        assert!(
            st.check_ivs().unwrap(),
            "a counter above its authenticated value"
        );
        let other = Connection::open(dir.path().join("2c5").join(DB_FILE)).unwrap();
        let set = |sql: &str| {
            other.execute(sql, []).unwrap();
        };
        for (attack, undo) in [
            (
                "UPDATE iv_counters SET next = 4 WHERE key = x'6b'",
                "UPDATE iv_counters SET next = 15 WHERE key = x'6b'",
            ),
            (
                "UPDATE iv_counters SET next = 4, auth = 4 WHERE key = x'6b'",
                "UPDATE iv_counters SET next = 15, auth = 10 WHERE key = x'6b'",
            ),
            (
                "DELETE FROM iv_counters WHERE key = x'6a'",
                "INSERT INTO iv_counters (key, next, auth) VALUES (x'6a', 3, 3)",
            ),
        ] {
            set(attack);
            assert!(!st.check_ivs().unwrap(), "not detected: {attack}");
            set(undo);
            assert!(st.check_ivs().unwrap(), "after undoing {attack}");
        }
        // One tag missing alone is made again, the other left as it is.
        other
            .execute("DELETE FROM meta WHERE k = 'state_ivs'", [])
            .unwrap();
        let objects_tag = |c: &Connection| -> Vec<u8> {
            c.query_row("SELECT v FROM meta WHERE k = 'state_objects'", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let before = objects_tag(&other);
        st.init_state(false).unwrap();
        let ivs_tag: Option<Vec<u8>> = other
            .query_row("SELECT v FROM meta WHERE k = 'state_ivs'", [], |r| r.get(0))
            .optional()
            .unwrap();
        assert!(ivs_tag.is_some(), "the missing tag is made");
        assert!(st.check_ivs().unwrap());
        assert_eq!(objects_tag(&other), before);
        let new_key = StateKey::new(&zeroize::Zeroizing::new([8u8; 32]));
        st.set_state_key(Some(new_key));
        st.reinitialize(&[b' '; 32], b"so").unwrap();
        assert!(st.check_ivs().unwrap());
        st.set_state_key(Some(key));
        assert!(!st.check_ivs().unwrap(), "the old key's tag is gone");
    }

    /// A process still holding the key of the master key before another process re-initialized
    /// the token leaves the new tags alone (an IV reservation, a tag made again): with the old key
    /// they would be garbage, and every later login would fail as if the files were altered.
    #[test]
    fn a_key_of_an_earlier_epoch_never_writes_a_tag() {
        let dir = tempfile::tempdir().unwrap();
        let b = SqliteBackend::new(dir.path(), 0o077).unwrap();
        let meta = TokenMeta {
            serial: "4c5".into(),
            ..Default::default()
        };
        let old = StateKey::new(&zeroize::Zeroizing::new([7u8; 32]));
        let new = StateKey::new(&zeroize::Zeroizing::new([8u8; 32]));
        let mut one = b.create(&meta).unwrap();
        one.set_state_key(Some(old.clone()));
        one.init_state(false).unwrap();
        assert_eq!(one.reserve_ivs(b"k", 10).unwrap(), 0);
        let mut two = b.open("4c5").unwrap();
        two.set_state_key(Some(new.clone()));
        two.reinitialize(&[b' '; 32], b"so").unwrap();
        assert!(two.check_ivs().unwrap());
        // `one` still holds the old key: its reservation moves the counter, not the tag.
        assert_eq!(one.reserve_ivs(b"k", 5).unwrap(), 10);
        one.init_state(true).unwrap();
        assert!(two.check_ivs().unwrap(), "the new tags are intact");
        assert_eq!(two.reserve_ivs(b"k", 1).unwrap(), 15);
        assert!(two.check_ivs().unwrap());
    }

    /// With an anchor directory, writes raise the token's anchor, and deleting the token
    /// removes it (a token made again under the same serial must not meet an old anchor).
    #[test]
    fn the_anchor_follows_writes_and_goes_with_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let anchors = dir.path().join("anchors");
        let b = SqliteBackend::new(&dir.path().join("tokens"), 0o077)
            .unwrap()
            .with_anchor(Some(&anchors))
            .unwrap();
        let meta = TokenMeta {
            serial: "3c5".into(),
            ..Default::default()
        };
        let mut st = b.create(&meta).unwrap();
        let file = anchors.join("3c5.anchor");
        let read = || {
            std::fs::read_to_string(&file)
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        st.reserve_ivs(b"k", 1).unwrap();
        let g1 = read();
        st.insert_object("u", false, &[]).unwrap();
        assert!(read() > g1);
        drop(st);
        b.delete("3c5").unwrap();
        assert!(!file.exists());
    }

    /// A read that fails part-way (a row that cannot be read) must leave no transaction open:
    /// otherwise the connection keeps reading that old snapshot, and every later change, repairs
    /// and other processes' writes included, stays unseen until the module is restarted.
    #[test]
    fn a_failed_read_leaves_no_stale_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::new(dir.path(), 0o077).unwrap();
        let serial = "00112233aabbccdd".to_string();
        let meta = TokenMeta {
            serial: serial.clone(),
            label: [b' '; 32],
            ..TokenMeta::default()
        };
        let mut st = backend.create(&meta).unwrap();
        let attrs = [StoredAttr {
            ty: 3,
            sealed: false,
            value: b"x".to_vec(),
        }];
        let id = st.insert_object("u1", false, &attrs).unwrap();
        let epoch = st.changes_since(0, 0).unwrap().epoch;
        let other = Connection::open(dir.path().join(&serial).join(DB_FILE)).unwrap();
        let set = |v: rusqlite::types::Value| {
            other
                .execute(
                    "UPDATE objects SET private = ?1 WHERE id = ?2",
                    params![v, id],
                )
                .unwrap()
        };
        set(rusqlite::types::Value::Text("damaged".into()));
        assert!(st.changes_since(0, epoch).is_err());
        assert!(st.has_changed().unwrap(), "the damage is a change");
        assert!(st.changes_since(0, epoch).is_err());
        set(rusqlite::types::Value::Integer(0));
        assert!(st.has_changed().unwrap(), "the repair is a change");
        let ch = st
            .changes_since(0, epoch)
            .expect("the repaired row is read");
        assert_eq!(ch.upserts.len(), 1);
    }
}
