//! The failed-PIN counters of a token, in a small file updated in place: counting a failure, or
//! clearing the count, never needs new disk space, so a full disk never stops a PIN check and
//! never lets a wrong PIN go uncounted. (SQLite cannot promise that: any write of it may need a
//! new WAL frame.)
//!
//! The file is the token's `pin.lock`, whose `flock` also serializes PIN checks across processes
//! (the caller holds it while counting). It starts with the magic "FHSMPIN1", then the SO's and
//! the user's counts as little-endian u32; a count is one 4-byte write at its offset in the
//! file's first block, which is allocated when the file is made, followed by `fdatasync`. For a
//! token made by an earlier version, the counts move from the database into the file on first
//! open.

use crate::error::Result;
use crate::store::PinKind;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// The file's name in the token's directory.
pub const PIN_FILE: &str = "pin.lock";
const MAGIC: &[u8; 8] = b"FHSMPIN1";
const HEAD: usize = 16;

/// The counters of one token.
#[derive(Debug)]
pub struct PinCounters {
    file: File,
}

fn offset(kind: PinKind) -> u64 {
    match kind {
        PinKind::So => 8,
        PinKind::User => 12,
    }
}

impl PinCounters {
    /// Opens the counters, making them from `initial()` (the SO's and the user's counts kept so
    /// far) when the file has none yet. Fails when the file cannot be made (a read-only directory,
    /// a full disk): the caller keeps counting in the database then.
    pub fn open(
        path: &Path,
        umask: u32,
        initial: impl FnOnce() -> Result<(u32, u32)>,
    ) -> Result<PinCounters> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600 & !umask)
            .open(path)?;
        let c = PinCounters { file };
        if c.read().is_err() {
            // Made under the PIN lock, so a check in another process never sees it half-made.
            c.file.lock()?;
            if c.read().is_err() {
                let (so, user) = initial()?;
                let mut head = [0u8; HEAD];
                head[..8].copy_from_slice(MAGIC);
                head[8..12].copy_from_slice(&so.to_le_bytes());
                head[12..].copy_from_slice(&user.to_le_bytes());
                c.file.write_all_at(&head, 0)?;
                c.file.sync_all()?;
            }
            c.file.unlock()?;
        }
        Ok(c)
    }

    /// The SO's and the user's counts.
    pub fn read(&self) -> Result<(u32, u32)> {
        let mut head = [0u8; HEAD];
        self.file.read_exact_at(&mut head, 0)?;
        if &head[..8] != MAGIC {
            return Err(crate::error::Error::Storage(
                "pin.lock: not a PIN counter file".into(),
            ));
        }
        let n = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
        Ok((n(8), n(12)))
    }

    pub fn get(&self, kind: PinKind) -> Result<u32> {
        let (so, user) = self.read()?;
        Ok(match kind {
            PinKind::So => so,
            PinKind::User => user,
        })
    }

    /// Sets one count, durably, in place; a count already at `n` is not written.
    pub fn set(&self, kind: PinKind, n: u32) -> Result<()> {
        if self.get(kind)? == n {
            return Ok(());
        }
        self.file.write_all_at(&n.to_le_bytes(), offset(kind))?;
        self.file.sync_data()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_persist_and_start_from_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(PIN_FILE);
        // An empty lock file, as earlier versions left it.
        std::fs::write(&p, b"").unwrap();
        let c = PinCounters::open(&p, 0o077, || Ok((2, 5))).unwrap();
        assert_eq!(c.read().unwrap(), (2, 5));
        c.set(PinKind::User, 6).unwrap();
        c.set(PinKind::So, 0).unwrap();
        drop(c);
        let again = PinCounters::open(&p, 0o077, || panic!("already made")).unwrap();
        assert_eq!(again.read().unwrap(), (0, 6));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), HEAD as u64);
        std::fs::write(&p, b"garbage garbage garbage").unwrap();
        assert!(again.read().is_err());
    }

    /// A new counter file is 0600 less the umask, whatever the process's own umask.
    #[test]
    fn new_file_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (umask, want) in [(0o077, 0o600), (0o277, 0o400)] {
            let p = dir.path().join(format!("pins-{umask:o}"));
            PinCounters::open(&p, umask, || Ok((0, 0))).unwrap();
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, want, "umask {umask:o}");
        }
    }
}
