//! The PostgreSQL engine: the tokens of a deployment in one schema of a server that several hosts
//! share (`objectstore.backend = postgres`, `objectstore.postgres.*`; docs/POSTGRES.md).
//!
//! What the database holds is what the SQLite store holds: sealed records, wrapped master keys,
//! the state tags ([`super::state`]) and counters. An administrator of the database sees
//! ciphertext, and the state tags catch rows put back from different moments.
//!
//! **Transactions.** Every write to a token first locks the token's row (`SELECT ... FOR
//! UPDATE`): the writers of one token, on every host, go one at a time, as SQLite's write lock
//! makes them go on one host. The statements after it run at READ COMMITTED, each seeing all that
//! was committed before it, which under the lock is everything. Explicit locks rather than
//! SERIALIZABLE: a conflict waits instead of failing, so no PKCS#11 call fails because another
//! host wrote at the same moment, and no caller has to retry. A read of changes is one
//! REPEATABLE READ, READ ONLY transaction: the position and the rows come from one snapshot.
//!
//! **Changes.** A write sends a notification (`pg_notify`, delivered when it commits). A reader
//! takes notifications from its connection's socket without a query ([`TokenStore::has_changed`]),
//! and polls the token's generation at least every `objectstore.postgres.poll_ms`: that bounds
//! how long a change stays unseen even when a notification is lost with a connection. Nothing
//! runs in the background: the module makes no thread (`CKF_LIBRARY_CANT_CREATE_OS_THREADS`), and
//! a forked child never touches its parent's connections (`crate::sys::fork`).
//!
//! **PINs.** Checks are serialized across hosts by an advisory lock on a connection of its own
//! ([`PgPinLock`]), and the failure counts are columns of the token's row: a wrong PIN on one host
//! counts on every host.
//!
//! **Faults.** A call that finds the connection gone fails (`CKR_DEVICE_ERROR`) with a log line
//! that says so; the next call connects again. A transaction that did not commit left nothing; one
//! whose commit reply was lost may or may not be there, and the next read shows which.

mod listener;
mod tls;

/// The TLS connector (`tls.rs`).
type Tls = tokio_postgres_rustls::MakeRustlsConnect;

use super::state::{self, covered, Delta, Kind, StateKey};
use super::{
    Backend, Batch, Changes, PinKind, PinLock, StoredAttr, StoredObject, TokenDump, TokenMeta,
    TokenStore,
};
use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use crate::sys::shm::SharedCounter;
use ::postgres::{Client, IsolationLevel, NoTls, Transaction};
use listener::{Listener, Stamp};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The version of the tables below, kept in `info`.
const SCHEMA_VERSION: i64 = 1;

/// The tables, in the configured schema (every connection's `search_path`). Made by the first
/// process that finds them missing, under an advisory lock (concurrent `CREATE ... IF NOT
/// EXISTS` can collide in PostgreSQL's catalog).
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS info (k TEXT PRIMARY KEY, v BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    serial TEXT PRIMARY KEY,
    label BYTEA NOT NULL,
    so_wrap BYTEA,
    user_wrap BYTEA,
    so_failures INTEGER NOT NULL DEFAULT 0,
    user_failures INTEGER NOT NULL DEFAULT 0,
    seq BIGINT NOT NULL DEFAULT 0,
    epoch BIGINT NOT NULL DEFAULT 1,
    gen BIGINT NOT NULL DEFAULT 0,
    state_objects BYTEA,
    state_ivs BYTEA);
CREATE TABLE IF NOT EXISTS objects (
    id BIGSERIAL PRIMARY KEY,
    serial TEXT NOT NULL REFERENCES tokens ON DELETE CASCADE,
    uid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    private BOOLEAN NOT NULL,
    attrs BYTEA NOT NULL,
    UNIQUE (serial, uid));
CREATE INDEX IF NOT EXISTS objects_seq ON objects (serial, seq);
CREATE TABLE IF NOT EXISTS deleted (
    serial TEXT NOT NULL REFERENCES tokens ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    id BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS deleted_seq ON deleted (serial, seq);
CREATE TABLE IF NOT EXISTS iv_counters (
    serial TEXT NOT NULL REFERENCES tokens ON DELETE CASCADE,
    key BYTEA NOT NULL,
    next BIGINT NOT NULL,
    auth BIGINT,
    PRIMARY KEY (serial, key));
INSERT INTO info (k, v) VALUES ('schema', 1) ON CONFLICT (k) DO NOTHING;
";

/// How often the module asks the store about other hosts' changes when this machine's change
/// counter has not moved (`TokenStore::check_interval_ms`).
const CHECK_EVERY_MS: u64 = 5;

/// After a failed connection attempt, how long calls fail at once before the next attempt.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// How long a lock (a token's row, the PIN lock) is waited for before the call fails.
const LOCK_TIMEOUT: &str = "30s";

/// The error of a failed PostgreSQL call, with its cause (the crate's `Display` gives only the
/// kind). Never holds the password: the server's messages do not quote it.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("PostgreSQL: {e}: {cause}"),
            None => format!("PostgreSQL: {e}"),
        },
    }
}

impl From<::postgres::Error> for Error {
    fn from(e: ::postgres::Error) -> Self {
        use ::postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY => {
                Error::DiskFull(describe(&e))
            }
            _ => Error::Storage(describe(&e)),
        }
    }
}

/// The client settings: the configured URL, password and timeouts. Host names are resolved here,
/// in the calling thread (the client's own resolver would start a thread).
fn client_config(cfg: &PostgresConfig) -> Result<(tokio_postgres::Config, Option<Tls>)> {
    let split = tls::split(&cfg.url)?;
    let tls = tls::connector(&split)?;
    let mut pc: tokio_postgres::Config =
        split.url.parse().map_err(|e: tokio_postgres::Error| {
            Error::Config(format!(
                "objectstore.postgres.url {}: {}",
                cfg.redacted_url(),
                describe(&e)
            ))
        })?;
    if pc.get_password().is_none() {
        if let Some(p) = cfg.password()? {
            pc.password(p.as_bytes());
        }
    }
    if pc.get_application_name().is_none() {
        pc.application_name("ferrohsm");
    }
    pc.connect_timeout(Duration::from_secs(cfg.connect_timeout_s));
    pc.keepalives(true);
    pc.keepalives_idle(Duration::from_secs(30));
    pc.tcp_user_timeout(Duration::from_secs(30));
    if pc.get_hostaddrs().is_empty() {
        let ports = pc.get_ports().to_vec();
        let hosts = pc.get_hosts().to_vec();
        let mut addrs = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            if let tokio_postgres::config::Host::Tcp(name) = h {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                let ip = match name.parse::<std::net::IpAddr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
                        .ok()
                        .and_then(|mut a| a.next())
                        .map(|a| a.ip()),
                };
                match ip {
                    Some(ip) => addrs.push(ip),
                    None => {
                        return Err(Error::Storage(format!(
                            "PostgreSQL server {name}: the host name does not resolve"
                        )))
                    }
                }
            }
        }
        // Only when every host is a TCP host: the client pairs host addresses with hosts.
        if addrs.len() == hosts.len() {
            for ip in addrs {
                pc.hostaddr(ip);
            }
        }
    }
    if tls.is_some() {
        pc.ssl_mode(tokio_postgres::config::SslMode::Require);
    }
    Ok((pc, tls))
}

/// The store's client runs its own runtime on the calling thread, which tokio forbids on a
/// thread that already runs one. An application that loads `libferrohsm.so` has its own copy of
/// tokio, which this check does not see and which does not conflict; a Rust program that links
/// ferrohsm as a library and calls it from an async task would: that is an error with a clear
/// message, not a panic.
fn not_in_a_runtime() -> Result<()> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::Storage(
            "the PostgreSQL token store cannot be used from a thread that runs a tokio runtime: \
             call the module from a blocking thread (tokio::task::spawn_blocking)"
                .into(),
        ));
    }
    Ok(())
}

/// Opens a query connection, in the configured schema.
fn connect(cfg: &PostgresConfig) -> Result<Client> {
    let (pc, tls) = client_config(cfg)?;
    let pc = ::postgres::Config::from(pc);
    let r = match tls {
        Some(t) => pc.connect(t),
        None => pc.connect(NoTls),
    };
    let mut c = r.map_err(|e| {
        let e = describe(&e);
        crate::log_error!(
            "cannot connect to the PostgreSQL token store {}: {e}",
            cfg.redacted_url()
        );
        Error::Storage(e)
    })?;
    // synchronous_commit on whatever the server's or the role's default: a commit is
    // acknowledged once it is durable (and on the synchronous standbys, where there are some).
    // An IV reservation that a crash took back would repeat nonces.
    c.batch_execute(&format!(
        "SET search_path TO \"{}\"; SET lock_timeout = '{LOCK_TIMEOUT}'; \
         SET synchronous_commit = on",
        cfg.schema
    ))?;
    Ok(c)
}

/// The notification channel of a deployment (one per schema).
fn channel(cfg: &PostgresConfig) -> String {
    format!("ferrohsm_{}", cfg.schema)
}

/// The tokens of one schema.
pub struct PgBackend {
    cfg: Arc<PostgresConfig>,
    /// Where this host keeps the change counters its processes share (`None`: not available).
    local: Option<(std::path::PathBuf, u32)>,
    /// For listing, creating and deleting tokens (each open token has its own connection).
    conn: Mutex<Option<Client>>,
    /// Other hosts' changes, heard for every token of this process. Lock order: after a token's
    /// store lock (`Token::store`), never held while waiting for anything else.
    listener: Arc<Mutex<Listener>>,
}

impl PgBackend {
    /// Connects, and makes the schema and its tables when they are missing. `local_dir` (made
    /// 0700 if missing) holds the change counters shared by this machine's processes, so a
    /// change made by one is seen by the others on their next call, as with the SQLite store;
    /// other hosts learn of it by notification or poll.
    pub fn new(cfg: &PostgresConfig, local_dir: &std::path::Path, umask: u32) -> Result<PgBackend> {
        use std::os::unix::fs::DirBuilderExt;
        let local = match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(local_dir)
        {
            Ok(()) => Some((local_dir.to_path_buf(), umask)),
            Err(e) => {
                crate::log_warn!(
                    "no local change counters in {} ({e}): this machine's other processes see \
                     changes by notification",
                    local_dir.display()
                );
                None
            }
        };
        let cfg = Arc::new(cfg.clone());
        let mut c = connect(&cfg)?;
        let mut tx = c.transaction()?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('ferrohsm schema'))",
            &[],
        )?;
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", cfg.schema))?;
        tx.batch_execute(TABLES)?;
        let v: i64 = tx
            .query_one("SELECT v FROM info WHERE k = 'schema'", &[])?
            .get(0);
        tx.commit()?;
        if v != SCHEMA_VERSION {
            return Err(Error::Storage(format!(
                "PostgreSQL schema {}: unknown version {v} of ferrohsm's tables",
                cfg.schema
            )));
        }
        Ok(PgBackend {
            listener: Arc::new(Mutex::new(Listener::new(cfg.clone()))),
            cfg,
            local,
            conn: Mutex::new(Some(c)),
        })
    }

    /// Runs `f` on the backend's connection, connecting again if it was lost.
    fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        not_in_a_runtime()?;
        let mut g = self.conn.lock();
        if g.as_ref().is_none_or(Client::is_closed) {
            *g = Some(connect(&self.cfg)?);
        }
        let c = g.as_mut().expect("connected above");
        let r = f(c);
        if r.is_err() && c.is_closed() {
            crate::log_error!("the connection to the PostgreSQL token store was lost");
            *g = None;
        }
        r
    }
}

impl Backend for PgBackend {
    fn list(&self) -> Result<Vec<String>> {
        self.with(|c| {
            Ok(c.query("SELECT serial FROM tokens ORDER BY serial", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn create(&self, meta: &TokenMeta) -> Result<Box<dyn TokenStore>> {
        if meta.serial.is_empty() || !meta.serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Storage(format!(
                "invalid token serial {:?}",
                meta.serial
            )));
        }
        let chan = channel(&self.cfg);
        self.with(|c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "INSERT INTO tokens (serial, label, so_wrap, user_wrap) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (serial) DO NOTHING",
                &[
                    &meta.serial,
                    &&meta.label[..],
                    &meta.so_wrap,
                    &meta.user_wrap,
                ],
            )?;
            if n != 1 {
                return Err(Error::Storage(format!(
                    "a token with serial {} already exists",
                    meta.serial
                )));
            }
            tx.execute("SELECT pg_notify($1, '')", &[&chan])?;
            tx.commit()?;
            Ok(())
        })?;
        self.open(&meta.serial)
    }

    fn open(&self, serial: &str) -> Result<Box<dyn TokenStore>> {
        let counter = self.local.as_ref().and_then(|(dir, umask)| {
            let path = dir.join(format!("{}.{serial}.changes", self.cfg.schema));
            SharedCounter::open(&path, 0o600 & !umask)
                .inspect_err(|e| crate::log_warn!("token {serial}: no local change counter ({e})"))
                .ok()
                .map(Arc::new)
        });
        let mut t = PgToken {
            cfg: self.cfg.clone(),
            serial: serial.to_string(),
            conn: Conn::default(),
            local_seen: counter.as_ref().map_or(0, |c| c.load()),
            counter,
            listener: self.listener.clone(),
            stamp: None,
            state_key: None,
            key_epoch: None,
            pin_shared: Arc::default(),
        };
        let cfg = t.cfg.clone();
        let found = t.conn.run(&cfg, |c| {
            Ok(c.query_opt("SELECT 1 FROM tokens WHERE serial = $1", &[&serial])?)
        })?;
        if found.is_none() {
            return Err(Error::TokenNotPresent);
        }
        Ok(Box::new(t))
    }

    fn restore(&self, tokens: &[TokenDump]) -> Result<()> {
        let chan = channel(&self.cfg);
        // One transaction for every token: all of them or none.
        self.with(|c| {
            let mut tx = c.transaction()?;
            for t in tokens {
                let m = &t.meta;
                if m.serial.is_empty() || !m.serial.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::Storage(format!("invalid token serial {:?}", m.serial)));
                }
                let n = tx.execute(
                    "INSERT INTO tokens (serial, label, so_wrap, user_wrap, so_failures, \
                     user_failures, seq, state_ivs) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) \
                     ON CONFLICT (serial) DO NOTHING",
                    &[
                        &m.serial,
                        &&m.label[..],
                        &m.so_wrap,
                        &m.user_wrap,
                        &(m.so_failures.min(i32::MAX as u32) as i32),
                        &(m.user_failures.min(i32::MAX as u32) as i32),
                        &t.state_ivs,
                    ],
                )?;
                if n != 1 {
                    return Err(Error::Storage(format!(
                        "a token with serial {} already exists in schema {}",
                        m.serial, self.cfg.schema
                    )));
                }
                let ins = tx.prepare(
                    "INSERT INTO objects (serial, uid, seq, private, attrs) VALUES ($1, $2, 1, $3, $4)",
                )?;
                for (uid, private, record) in &t.objects {
                    super::check_record(record)?;
                    tx.execute(&ins, &[&m.serial, uid, private, record])?;
                }
                let iv = tx.prepare(
                    "INSERT INTO iv_counters (serial, key, next, auth) VALUES ($1, $2, $3, $4)",
                )?;
                for (name, next, auth) in &t.ivs {
                    tx.execute(&iv, &[&m.serial, name, next, auth])?;
                }
            }
            tx.execute("SELECT pg_notify($1, '')", &[&chan])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn delete(&self, serial: &str) -> Result<()> {
        let chan = channel(&self.cfg);
        self.with(|c| {
            let mut tx = c.transaction()?;
            if tx.execute("DELETE FROM tokens WHERE serial = $1", &[&serial])? == 0 {
                return Err(Error::TokenNotPresent);
            }
            tx.execute("SELECT pg_notify($1, $2)", &[&chan, &serial])?;
            tx.commit()?;
            Ok(())
        })
    }
}

/// A token's connection, and what it knows of other hosts' changes.
#[derive(Default)]
struct Conn {
    client: Option<Client>,
    /// The token's generation as last seen, and when to poll it next.
    gen: i64,
    next_poll: Option<Instant>,
    /// No new connection is tried before then (the last attempt failed).
    retry_at: Option<Instant>,
}

impl Conn {
    /// The connection, made when missing.
    fn client(&mut self, cfg: &PostgresConfig) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            // After a failed attempt, calls fail at once for a moment instead of each waiting
            // for a server that is not there.
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                return Err(Error::Storage(
                    "the PostgreSQL token store is unreachable (trying again shortly)".into(),
                ));
            }
            let again = self.client.take().is_some();
            let c = connect(cfg).inspect_err(|_| {
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
            })?;
            self.retry_at = None;
            if again {
                crate::log_warn!("connected again to the PostgreSQL token store");
            }
            self.client = Some(c);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Runs `f` on the connection; a connection found lost is dropped (and made again by the
    /// next call), with a log line.
    fn run<T>(
        &mut self,
        cfg: &PostgresConfig,
        f: impl FnOnce(&mut Client) -> Result<T>,
    ) -> Result<T> {
        not_in_a_runtime()?;
        let c = self.client(cfg)?;
        let r = f(c);
        if r.is_err() && c.is_closed() {
            crate::log_error!(
                "the connection to the PostgreSQL token store {} was lost; the next call connects again",
                cfg.redacted_url()
            );
            self.client = None;
        }
        r
    }
}

/// One token in the database.
struct PgToken {
    cfg: Arc<PostgresConfig>,
    serial: String,
    conn: Conn,
    /// This machine's change counter of the token, bumped around every commit (as the SQLite
    /// store's), and its value when last looked at.
    counter: Option<Arc<SharedCounter>>,
    local_seen: u64,
    /// The process's listener, and where this token stood with it at the last check.
    listener: Arc<Mutex<Listener>>,
    stamp: Option<Stamp>,
    /// As in the SQLite store: the key of the state tags while the master key is at hand, and the
    /// epoch it belongs to.
    state_key: Option<StateKey>,
    key_epoch: Option<i64>,
    /// What this process's PIN locks of the token share ([`PgPinLock`]).
    pin_shared: Arc<PinShared>,
}

fn failures_col(kind: PinKind) -> &'static str {
    match kind {
        PinKind::So => "so_failures",
        PinKind::User => "user_failures",
    }
}

fn wrap_col(kind: PinKind) -> &'static str {
    match kind {
        PinKind::So => "so_wrap",
        PinKind::User => "user_wrap",
    }
}

/// The token's row, locked for this transaction: (seq, epoch).
fn lock_token(tx: &mut Transaction<'_>, serial: &str) -> Result<(i64, i64)> {
    let r = tx
        .query_opt(
            "SELECT seq, epoch FROM tokens WHERE serial = $1 FOR UPDATE",
            &[&serial],
        )?
        .ok_or(Error::TokenNotPresent)?;
    Ok((r.get(0), r.get(1)))
}

fn next_seq(tx: &mut Transaction<'_>, serial: &str) -> Result<i64> {
    Ok(tx
        .query_one(
            "UPDATE tokens SET seq = seq + 1 WHERE serial = $1 RETURNING seq",
            &[&serial],
        )?
        .get(0))
}

fn insert_row(
    tx: &mut Transaction<'_>,
    d: &mut Delta<'_>,
    serial: &str,
    seq: i64,
    uid: &str,
    private: bool,
    attrs: &[StoredAttr],
) -> Result<i64> {
    let record = super::encode_attrs(attrs);
    let id: i64 = tx
        .query_one(
            "INSERT INTO objects (serial, uid, seq, private, attrs) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
            &[&serial, &uid, &seq, &private, &record],
        )?
        .get(0);
    d.flip(id, &record)?;
    Ok(id)
}

fn old_record(tx: &mut Transaction<'_>, serial: &str, id: i64) -> Result<Vec<u8>> {
    Ok(tx
        .query_opt(
            "SELECT attrs FROM objects WHERE id = $1 AND serial = $2",
            &[&id, &serial],
        )?
        .ok_or(Error::ObjectHandleInvalid)?
        .get(0))
}

fn update_row(
    tx: &mut Transaction<'_>,
    d: &mut Delta<'_>,
    serial: &str,
    seq: i64,
    id: i64,
    private: bool,
    attrs: &[StoredAttr],
) -> Result<()> {
    let old = old_record(tx, serial, id)?;
    let record = super::encode_attrs(attrs);
    tx.execute(
        "UPDATE objects SET seq = $1, private = $2, attrs = $3 WHERE id = $4",
        &[&seq, &private, &record, &id],
    )?;
    d.flip(id, &old)?;
    d.flip(id, &record)
}

fn delete_row(
    tx: &mut Transaction<'_>,
    d: &mut Delta<'_>,
    serial: &str,
    seq: i64,
    id: i64,
) -> Result<()> {
    let old = old_record(tx, serial, id)?;
    tx.execute("DELETE FROM objects WHERE id = $1", &[&id])?;
    tx.execute(
        "INSERT INTO deleted (serial, seq, id) VALUES ($1, $2, $3)",
        &[&serial, &seq, &id],
    )?;
    d.flip(id, &old)
}

/// Moves the objects' tag by the transaction's delta (a missing tag stays missing).
fn finish(tx: &mut Transaction<'_>, serial: &str, d: Delta<'_>) -> Result<()> {
    let Some((key, acc)) = d.pending() else {
        return Ok(());
    };
    let tag: Option<Vec<u8>> = tx
        .query_one(
            "SELECT state_objects FROM tokens WHERE serial = $1",
            &[&serial],
        )?
        .get(0);
    if let Some(tag) = tag {
        let tag = key.update(Kind::Objects, &tag, acc)?;
        tx.execute(
            "UPDATE tokens SET state_objects = $1 WHERE serial = $2",
            &[&tag, &serial],
        )?;
    }
    Ok(())
}

/// Sets every IV counter's authenticated value to its value and returns the tag over them.
fn iv_tag_now(tx: &mut Transaction<'_>, serial: &str, key: &StateKey) -> Result<Vec<u8>> {
    tx.execute(
        "UPDATE iv_counters SET auth = next WHERE serial = $1",
        &[&serial],
    )?;
    let mut acc = [0u8; 32];
    for r in tx.query(
        "SELECT key, next FROM iv_counters WHERE serial = $1",
        &[&serial],
    )? {
        let (name, next): (Vec<u8>, i64) = (r.get(0), r.get(1));
        state::xor(&mut acc, &key.iv(&name, next));
    }
    key.tag(Kind::Ivs, &acc)
}

impl PgToken {
    /// A write transaction on the token, its row locked first. `f` returns the result and whether
    /// it changed anything other hosts must see: then the generation moves and a notification
    /// goes out, both with the commit.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>, (i64, i64)) -> Result<(T, bool)>,
    ) -> Result<T> {
        let serial = &self.serial;
        let chan = channel(&self.cfg);
        let seen = self.conn.gen;
        // Bumped before and after, as in the SQLite store: a process of this machine that looks
        // while the commit is in flight still sees a bump after it.
        let bump = |c: &Option<Arc<SharedCounter>>| c.as_deref().map(SharedCounter::bump);
        bump(&self.counter);
        let r = self.conn.run(&self.cfg, |c| {
            let mut tx = c.transaction()?;
            let pos = lock_token(&mut tx, serial)?;
            let (v, changed) = f(&mut tx, pos)?;
            let gen = if changed {
                let g: i64 = tx
                    .query_one(
                        "UPDATE tokens SET gen = gen + 1 WHERE serial = $1 RETURNING gen",
                        &[&serial],
                    )?
                    .get(0);
                tx.execute("SELECT pg_notify($1, $2)", &[&chan, &serial])?;
                Some(g)
            } else {
                None
            };
            tx.commit()?;
            Ok((v, gen))
        });
        bump(&self.counter);
        let (v, gen) = r?;
        // Our own change is no news, unless another came between (then the next check sees it).
        if gen == Some(seen + 1) {
            self.conn.gen = seen + 1;
        }
        Ok(v)
    }

    /// A write of object rows, the objects' state tag moved along (see the SQLite store).
    fn write_rows<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>, &mut Delta<'_>, (i64, i64)) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let key = self.state_key.clone();
        let key_epoch = self.key_epoch;
        let serial = self.serial.clone();
        self.write(|tx, pos| {
            let key = key.filter(|_| key_epoch == Some(pos.1));
            let mut d = Delta::new(key.as_ref());
            match f(tx, &mut d, pos)? {
                Some(v) => {
                    finish(tx, &serial, d)?;
                    Ok((Some(v), true))
                }
                None => Ok((None, false)),
            }
        })
    }

    fn failures(&mut self, kind: PinKind) -> Result<u32> {
        let serial = &self.serial;
        let n: i32 = self
            .conn
            .run(&self.cfg, |c| {
                Ok(c.query_opt(
                    &format!(
                        "SELECT {} FROM tokens WHERE serial = $1",
                        failures_col(kind)
                    ),
                    &[&serial],
                )?)
            })?
            .ok_or(Error::TokenNotPresent)?
            .get(0);
        Ok(n as u32)
    }
}

impl TokenStore for PgToken {
    fn meta(&mut self) -> Result<TokenMeta> {
        let serial = &self.serial;
        let r = self
            .conn
            .run(&self.cfg, |c| {
                Ok(c.query_opt(
                    "SELECT label, so_wrap, user_wrap, so_failures, user_failures FROM tokens \
                     WHERE serial = $1",
                    &[&serial],
                )?)
            })?
            .ok_or(Error::TokenNotPresent)?;
        let label: Vec<u8> = r.get(0);
        let mut l = [b' '; 32];
        if label.len() == 32 {
            l.copy_from_slice(&label);
        }
        Ok(TokenMeta {
            serial: serial.clone(),
            label: l,
            so_wrap: r.get(1),
            user_wrap: r.get(2),
            so_failures: r.get::<_, i32>(3) as u32,
            user_failures: r.get::<_, i32>(4) as u32,
        })
    }

    /// This machine's change counter: the module reads it without a lock on every call, and asks
    /// [`TokenStore::has_changed`] when it moved or [`Self::check_interval_ms`] passed.
    fn change_hint(&self) -> Option<Arc<SharedCounter>> {
        self.counter.clone()
    }

    /// Other hosts' changes are heard by the listener: it is asked about every 5 ms (the coarse
    /// clock's tick is 4 ms), which adds that much to the time a notified change takes to be
    /// seen and keeps the listener off the path of each call.
    fn check_interval_ms(&self) -> u64 {
        CHECK_EVERY_MS
    }

    /// Asks this machine's change counter and the process's listener (no query); polls the
    /// token's generation when the poll interval has passed.
    fn has_changed(&mut self) -> Result<bool> {
        let serial = &self.serial;
        let poll = Duration::from_millis(self.cfg.poll_ms);
        let mut changed = false;
        if let Some(c) = &self.counter {
            let v = c.load();
            changed |= v != self.local_seen;
            self.local_seen = v;
        }
        let stamp = {
            let mut l = self.listener.lock();
            l.poll()?;
            l.stamp(serial)
        };
        changed |= self.stamp != Some(stamp);
        self.stamp = Some(stamp);
        let conn = &mut self.conn;
        let now = Instant::now();
        if !changed && conn.next_poll.is_none_or(|t| now >= t) {
            let gen: Option<i64> = conn
                .run(&self.cfg, |c| {
                    Ok(c.query_opt("SELECT gen FROM tokens WHERE serial = $1", &[&serial])?)
                })?
                .map(|r| r.get(0));
            let gen = gen.ok_or(Error::TokenNotPresent)?;
            changed = gen != conn.gen;
            conn.gen = gen;
            conn.next_poll = Some(now + poll);
        }
        Ok(changed)
    }

    fn changes_since(&mut self, seq: u64, epoch: u64) -> Result<Changes> {
        let serial = &self.serial;
        let (ch, gen) = self.conn.run(&self.cfg, |c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let r = tx
                .query_opt(
                    "SELECT seq, epoch, gen, state_objects FROM tokens WHERE serial = $1",
                    &[&serial],
                )?
                .ok_or(Error::TokenNotPresent)?;
            let (cur_seq, cur_epoch, gen): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
            let reset = cur_epoch as u64 != epoch;
            let since = if reset { -1 } else { seq as i64 };
            let mut ch = Changes {
                reset,
                seq: cur_seq as u64,
                epoch: cur_epoch as u64,
                state: r.get(3),
                ..Changes::default()
            };
            for r in tx.query(
                "SELECT id, uid, private, attrs FROM objects WHERE serial = $1 AND seq > $2",
                &[&serial, &since],
            )? {
                let id: i64 = r.get(0);
                match StoredObject::new(id, r.get(1), r.get(2), r.get(3)) {
                    Ok(so) => ch.upserts.push(so),
                    Err(e) => {
                        crate::log_error!("object {id} cannot be read and is skipped: {e}");
                        ch.deleted.push(id);
                    }
                }
            }
            if !reset {
                for r in tx.query(
                    "SELECT id FROM deleted WHERE serial = $1 AND seq > $2",
                    &[&serial, &since],
                )? {
                    ch.deleted.push(r.get(0));
                }
            }
            tx.commit()?;
            Ok((ch, gen))
        })?;
        self.conn.gen = self.conn.gen.max(gen);
        Ok(ch)
    }

    fn insert_object(&mut self, uid: &str, private: bool, attrs: &[StoredAttr]) -> Result<i64> {
        let serial = self.serial.clone();
        self.write_rows(|tx, d, _| {
            let seq = next_seq(tx, &serial)?;
            insert_row(tx, d, &serial, seq, uid, private, attrs).map(Some)
        })
        .map(|v| v.expect("always written"))
    }

    fn update_object(&mut self, id: i64, private: bool, attrs: &[StoredAttr]) -> Result<()> {
        let serial = self.serial.clone();
        self.write_rows(|tx, d, _| {
            let seq = next_seq(tx, &serial)?;
            update_row(tx, d, &serial, seq, id, private, attrs).map(Some)
        })
        .map(|_| ())
    }

    fn delete_object(&mut self, id: i64) -> Result<()> {
        let serial = self.serial.clone();
        self.write_rows(|tx, d, _| {
            let seq = next_seq(tx, &serial)?;
            delete_row(tx, d, &serial, seq, id).map(Some)
        })
        .map(|_| ())
    }

    fn apply_batch(&mut self, seq: u64, epoch: u64, batch: &Batch) -> Result<Option<Vec<i64>>> {
        let serial = self.serial.clone();
        self.write_rows(|tx, d, pos| {
            // Under the token's row lock: no other host commits a change of this token until
            // this transaction ends, so the caller's decision, made at `seq`, still holds.
            if pos != (seq as i64, epoch as i64) {
                return Ok(None);
            }
            let next = next_seq(tx, &serial)?;
            let mut ids = Vec::with_capacity(batch.inserts.len());
            for (uid, private, attrs) in &batch.inserts {
                ids.push(insert_row(tx, d, &serial, next, uid, *private, attrs)?);
            }
            for (id, private, attrs) in &batch.updates {
                update_row(tx, d, &serial, next, *id, *private, attrs)?;
            }
            for id in &batch.deletes {
                delete_row(tx, d, &serial, next, *id)?;
            }
            Ok(Some(ids))
        })
    }

    fn set_wrap(&mut self, kind: PinKind, wrap: Option<&[u8]>) -> Result<()> {
        let serial = self.serial.clone();
        self.write(|tx, _| {
            tx.execute(
                &format!(
                    "UPDATE tokens SET {} = $1, {} = 0 WHERE serial = $2",
                    wrap_col(kind),
                    failures_col(kind)
                ),
                &[&wrap, &serial],
            )?;
            Ok(((), true))
        })
    }

    fn record_failure(&mut self, kind: PinKind) -> Result<u32> {
        let serial = self.serial.clone();
        self.write(|tx, _| {
            let col = failures_col(kind);
            let n: i32 = tx
                .query_one(
                    &format!(
                        "UPDATE tokens SET {col} = LEAST({col}, 2147483646) + 1 WHERE serial = $1 \
                         RETURNING {col}"
                    ),
                    &[&serial],
                )?
                .get(0);
            Ok((n as u32, true))
        })
    }

    fn reset_failures(&mut self, kind: PinKind) -> Result<()> {
        if self.failures(kind)? == 0 {
            return Ok(());
        }
        let serial = self.serial.clone();
        self.write(|tx, _| {
            tx.execute(
                &format!(
                    "UPDATE tokens SET {} = 0 WHERE serial = $1",
                    failures_col(kind)
                ),
                &[&serial],
            )?;
            Ok(((), true))
        })
    }

    fn pin_lock(&mut self) -> Result<Box<dyn PinLock>> {
        Ok(Box::new(PgPinLock {
            cfg: self.cfg.clone(),
            name: format!("ferrohsm pin {} {}", self.cfg.schema, self.serial),
            shared: self.pin_shared.clone(),
            held: false,
        }))
    }

    fn reinitialize(&mut self, label: &[u8; 32], so_wrap: &[u8]) -> Result<()> {
        let key = self.state_key.clone();
        let serial = self.serial.clone();
        let epoch = self.write(|tx, pos| {
            tx.execute("DELETE FROM objects WHERE serial = $1", &[&serial])?;
            tx.execute("DELETE FROM deleted WHERE serial = $1", &[&serial])?;
            tx.execute(
                "UPDATE tokens SET epoch = epoch + 1, label = $1, so_wrap = $2, user_wrap = NULL, \
                 so_failures = 0, user_failures = 0, state_objects = NULL, state_ivs = NULL \
                 WHERE serial = $3",
                &[&&label[..], &so_wrap, &serial],
            )?;
            // The new master key's tags: the objects' over nothing, the IV counters' over the
            // values they have now.
            if let Some(key) = &key {
                let objects = key.tag(Kind::Objects, &[0; 32])?;
                let ivs = iv_tag_now(tx, &serial, key)?;
                tx.execute(
                    "UPDATE tokens SET state_objects = $1, state_ivs = $2 WHERE serial = $3",
                    &[&objects, &ivs, &serial],
                )?;
            }
            Ok((pos.1 + 1, true))
        })?;
        // The key given for the new master key belongs to the new epoch.
        if self.state_key.is_some() {
            self.key_epoch = Some(epoch);
        }
        Ok(())
    }

    fn reserve_ivs(&mut self, key: &[u8], n: u64) -> Result<u64> {
        let n = i64::try_from(n).map_err(|_| Error::MechanismParamInvalid)?;
        let serial = self.serial.clone();
        let skey = self.state_key.clone();
        let key_epoch = self.key_epoch;
        // Changes no object: other hosts need not look, so no generation move.
        self.write(|tx, pos| {
            // A key of an earlier epoch (another host re-initialized the token) is no key: the
            // tag is under the new master key now, and an update with the old one would spoil it.
            let skey = skey.filter(|_| key_epoch == Some(pos.1));
            let (first, auth): (i64, Option<i64>) = tx
                .query_opt(
                    "SELECT next, auth FROM iv_counters WHERE serial = $1 AND key = $2",
                    &[&serial, &key],
                )?
                .map(|r| (r.get(0), r.get(1)))
                .unwrap_or((0, None));
            let next = first
                .checked_add(n)
                .filter(|_| first >= 0)
                .ok_or(Error::MechanismParamInvalid)?;
            let tag: Option<Vec<u8>> = tx
                .query_one("SELECT state_ivs FROM tokens WHERE serial = $1", &[&serial])?
                .get(0);
            let auth = match (&skey, tag) {
                (Some(k), Some(tag)) => {
                    let mut delta = k.iv(key, next);
                    if let Some(a) = auth {
                        state::xor(&mut delta, &k.iv(key, a));
                    }
                    let tag = k.update(Kind::Ivs, &tag, &delta)?;
                    tx.execute(
                        "UPDATE tokens SET state_ivs = $1 WHERE serial = $2",
                        &[&tag, &serial],
                    )?;
                    Some(next)
                }
                _ => auth,
            };
            tx.execute(
                "INSERT INTO iv_counters (serial, key, next, auth) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (serial, key) DO UPDATE SET next = EXCLUDED.next, auth = EXCLUDED.auth",
                &[&serial, &key, &next, &auth],
            )?;
            Ok((first as u64, false))
        })
    }

    fn set_state_key(&mut self, key: Option<StateKey>) {
        let serial = &self.serial;
        self.key_epoch = match &key {
            Some(_) => self
                .conn
                .run(&self.cfg, |c| {
                    Ok(c.query_opt("SELECT epoch FROM tokens WHERE serial = $1", &[&serial])?)
                })
                .ok()
                .flatten()
                .map(|r| r.get(0)),
            None => None,
        };
        self.state_key = key;
    }

    fn init_state(&mut self, replace: bool) -> Result<()> {
        let key = self.state_key.clone().ok_or(Error::UserNotLoggedIn)?;
        let serial = self.serial.clone();
        let key_epoch = self.key_epoch;
        self.write(|tx, pos| {
            // Tags made with a key of an earlier epoch would be garbage under the new master key
            // (whoever re-initialized the token made the new ones).
            if key_epoch != Some(pos.1) {
                return Ok(((), false));
            }
            if replace {
                tx.execute(
                    "UPDATE tokens SET state_objects = NULL, state_ivs = NULL WHERE serial = $1",
                    &[&serial],
                )?;
            }
            let r = tx.query_one(
                "SELECT state_objects IS NOT NULL, state_ivs IS NOT NULL FROM tokens \
                 WHERE serial = $1",
                &[&serial],
            )?;
            let (have_objects, have_ivs): (bool, bool) = (r.get(0), r.get(1));
            if have_objects && have_ivs {
                return Ok(((), false));
            }
            if !have_objects {
                let mut acc = [0u8; 32];
                for r in tx.query(
                    "SELECT id, attrs FROM objects WHERE serial = $1",
                    &[&serial],
                )? {
                    let (id, record): (i64, Vec<u8>) = (r.get(0), r.get(1));
                    if covered(&record) {
                        state::xor(&mut acc, &key.row(id, &record));
                    }
                }
                let tag = key.tag(Kind::Objects, &acc)?;
                tx.execute(
                    "UPDATE tokens SET state_objects = $1 WHERE serial = $2",
                    &[&tag, &serial],
                )?;
            }
            if !have_ivs {
                let tag = iv_tag_now(tx, &serial, &key)?;
                tx.execute(
                    "UPDATE tokens SET state_ivs = $1 WHERE serial = $2",
                    &[&tag, &serial],
                )?;
            }
            crate::log_info!(
                "token state tags made ({}{})",
                if have_objects { "" } else { "objects " },
                if have_ivs { "" } else { "IV counters" }
            );
            Ok(((), true))
        })
    }

    fn dump(&mut self) -> Result<TokenDump> {
        let serial = &self.serial;
        self.conn.run(&self.cfg, |c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let r = tx
                .query_opt(
                    "SELECT label, so_wrap, user_wrap, so_failures, user_failures, state_ivs \
                     FROM tokens WHERE serial = $1",
                    &[&serial],
                )?
                .ok_or(Error::TokenNotPresent)?;
            let label: Vec<u8> = r.get(0);
            let mut l = [b' '; 32];
            if label.len() == 32 {
                l.copy_from_slice(&label);
            }
            let mut d = TokenDump {
                meta: TokenMeta {
                    serial: serial.clone(),
                    label: l,
                    so_wrap: r.get(1),
                    user_wrap: r.get(2),
                    so_failures: r.get::<_, i32>(3) as u32,
                    user_failures: r.get::<_, i32>(4) as u32,
                },
                state_ivs: r.get(5),
                ..TokenDump::default()
            };
            for r in tx.query(
                "SELECT uid, private, attrs FROM objects WHERE serial = $1 ORDER BY id",
                &[&serial],
            )? {
                d.objects.push((r.get(0), r.get(1), r.get(2)));
            }
            for r in tx.query(
                "SELECT key, next, auth FROM iv_counters WHERE serial = $1",
                &[&serial],
            )? {
                d.ivs.push((r.get(0), r.get(1), r.get(2)));
            }
            tx.commit()?;
            Ok(d)
        })
    }

    fn check_ivs(&mut self) -> Result<bool> {
        let key = self.state_key.clone().ok_or(Error::UserNotLoggedIn)?;
        let serial = &self.serial;
        self.conn.run(&self.cfg, |c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let tag: Option<Vec<u8>> = tx
                .query_opt("SELECT state_ivs FROM tokens WHERE serial = $1", &[&serial])?
                .ok_or(Error::TokenNotPresent)?
                .get(0);
            let Some(tag) = tag else {
                return Ok(true);
            };
            let mut acc = [0u8; 32];
            let mut below = false;
            for r in tx.query(
                "SELECT key, next, auth FROM iv_counters WHERE serial = $1",
                &[&serial],
            )? {
                let (name, next, auth): (Vec<u8>, i64, Option<i64>) =
                    (r.get(0), r.get(1), r.get(2));
                if let Some(a) = auth {
                    state::xor(&mut acc, &key.iv(&name, a));
                    below |= next < a;
                }
            }
            tx.commit()?;
            Ok(!below && key.verify(Kind::Ivs, &tag, &acc)?)
        })
    }
}

/// What the PIN locks of one token in this process share: whether a thread holds it (the
/// threads of the process take turns), and the connection that holds the advisory lock.
#[derive(Default)]
struct PinShared {
    busy: Mutex<bool>,
    free: parking_lot::Condvar,
    conn: Mutex<Option<Client>>,
}

/// The PIN lock of a token on PostgreSQL: one thread of the process at a time, and a
/// session-level advisory lock on the shared connection, which serializes hosts. If the
/// connection dies, the server releases the lock with it; the worst a lost lock allows is two
/// checks counting at once, each counted.
struct PgPinLock {
    cfg: Arc<PostgresConfig>,
    name: String,
    shared: Arc<PinShared>,
    held: bool,
}

impl PgPinLock {
    fn advisory(&self, sql: &str) -> Result<()> {
        let mut g = self.shared.conn.lock();
        if g.as_ref().is_none_or(Client::is_closed) {
            *g = Some(connect(&self.cfg)?);
        }
        let c = g.as_mut().expect("connected above");
        let r = c.execute(sql, &[&self.name]);
        if r.is_err() {
            // Closing the session releases every lock it holds (and a lost one is gone anyway).
            *g = None;
        }
        r.map(|_| ()).map_err(Error::from)
    }

    fn release_turn(&self) {
        *self.shared.busy.lock() = false;
        self.shared.free.notify_one();
    }
}

impl PinLock for PgPinLock {
    fn lock(&mut self) -> Result<()> {
        {
            let mut busy = self.shared.busy.lock();
            while *busy {
                self.shared.free.wait(&mut busy);
            }
            *busy = true;
        }
        // The turn is given back on every way out, a panic included (else every later PIN check
        // of this token in this process would wait for ever).
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            not_in_a_runtime()?;
            self.advisory("SELECT pg_advisory_lock(hashtext($1))")
        }));
        let r = match r {
            Ok(r) => r,
            Err(p) => {
                self.release_turn();
                std::panic::resume_unwind(p);
            }
        };
        if let Err(e) = r {
            self.release_turn();
            return Err(e);
        }
        self.held = true;
        Ok(())
    }
}

impl Drop for PgPinLock {
    fn drop(&mut self) {
        if self.held {
            let _ = self.advisory("SELECT pg_advisory_unlock(hashtext($1))");
            self.release_turn();
        }
    }
}
