//! The connection that hears other hosts' changes: one per process (per [`super::PgBackend`]),
//! subscribed to the deployment's channel, read without blocking on each call.
//!
//! The synchronous client cannot do that: it reads its socket only while it waits for a reply, so
//! a notification sent to an idle connection would sit in the socket until the next query. Here
//! the asynchronous client (`tokio-postgres`, the synchronous one's core) runs on a runtime of its
//! own on the calling thread: a check turns the runtime's I/O driver once without waiting
//! (`epoll_wait` with a zero timeout, then a read of what arrived) and counts the notifications
//! per token. No thread is started.

use crate::config::PostgresConfig;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;
use tokio_postgres::AsyncMessage;

/// One live subscription.
struct Live {
    rt: tokio::runtime::Runtime,
    /// Kept so the connection stays open (dropping the client closes it).
    _client: tokio_postgres::Client,
    /// Notifications as the connection task reads them: the payload (a token's serial, or empty
    /// for a change of the token list). Disconnected when the connection ends.
    rx: Receiver<String>,
}

/// The notifications heard, counted per token.
pub(super) struct Listener {
    cfg: std::sync::Arc<PostgresConfig>,
    live: Option<Live>,
    /// Notifications per payload since this listener started.
    heard: HashMap<String, u64>,
    /// Moves at every new connection: what was sent while no connection listened is unknown, so
    /// a token that sees a new epoch must look again.
    epoch: u64,
    retry_at: Option<Instant>,
}

/// Where a token stands with respect to the listener: (epoch, notifications heard for it, for
/// the token list).
pub(super) type Stamp = (u64, u64, u64);

impl Listener {
    pub(super) fn new(cfg: std::sync::Arc<PostgresConfig>) -> Listener {
        Listener {
            cfg,
            live: None,
            heard: HashMap::new(),
            epoch: 0,
            retry_at: None,
        }
    }

    fn connect(&mut self) -> Result<Live> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Storage(format!("PostgreSQL listener: {e}")))?;
        let (pc, tls) = super::client_config(&self.cfg)?;
        let (client, rx) = match tls {
            Some(t) => open(&rt, &pc, t)?,
            None => open(&rt, &pc, tokio_postgres::NoTls)?,
        };
        rt.block_on(client.batch_execute(&format!("LISTEN \"{}\"", super::channel(&self.cfg))))
            .map_err(|e| Error::Storage(super::describe(&e)))?;
        Ok(Live {
            rt,
            _client: client,
            rx,
        })
    }

    /// Reads what has arrived, without waiting; connects (again) first when needed.
    pub(super) fn poll(&mut self) -> Result<()> {
        super::not_in_a_runtime()?;
        if self.live.is_none() {
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                return Err(Error::Storage(
                    "the PostgreSQL token store is unreachable (trying again shortly)".into(),
                ));
            }
            match self.connect() {
                Ok(l) => {
                    self.live = Some(l);
                    self.epoch += 1;
                    self.retry_at = None;
                }
                Err(e) => {
                    self.retry_at = Some(Instant::now() + super::RETRY_AFTER);
                    crate::log_error!(
                        "cannot listen to the PostgreSQL token store {}: {e}",
                        self.cfg.redacted_url()
                    );
                    return Err(e);
                }
            }
        }
        let live = self.live.as_mut().expect("connected above");
        // Two yields: the first turns the I/O driver without waiting (which wakes the connection
        // task if its socket has data), the second lets that task run before this returns.
        live.rt.block_on(async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        });
        loop {
            match live.rx.try_recv() {
                Ok(payload) => *self.heard.entry(payload).or_default() += 1,
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Disconnected) => {
                    self.live = None;
                    crate::log_error!(
                        "the connection listening to the PostgreSQL token store {} was lost; the \
                         next call connects again",
                        self.cfg.redacted_url()
                    );
                    return Err(Error::Storage(
                        "PostgreSQL: the listening connection was lost".into(),
                    ));
                }
            }
        }
    }

    pub(super) fn stamp(&self, serial: &str) -> Stamp {
        let n = |k: &str| self.heard.get(k).copied().unwrap_or(0);
        (self.epoch, n(serial), n(""))
    }
}

/// Connects, and starts the task that reads the connection and passes notifications on.
fn open<T>(
    rt: &tokio::runtime::Runtime,
    pc: &tokio_postgres::Config,
    tls: T,
) -> Result<(tokio_postgres::Client, Receiver<String>)>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut conn) = rt
        .block_on(pc.connect(tls))
        .map_err(|e| Error::Storage(super::describe(&e)))?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Runs only while the runtime runs, that is inside `block_on` on the calling thread.
    rt.spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                // The connection ended: dropping `tx` tells the reader.
                Some(Err(_)) | None => break,
            }
        }
    });
    Ok((client, rx))
}
