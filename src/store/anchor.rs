//! The external anchor (`token.anchor_dir`): a counter kept outside the token's directory that
//! remembers the highest change generation each token has reached, so that a whole older copy of
//! the token's files put back (which the state tag inside cannot tell from the real thing, see
//! [`super::state`]) is refused: its generation is below the anchor's.
//!
//! One small file per token, `<anchor_dir>/<serial>.anchor`, holding the generation as decimal
//! text. Writers raise it after each commit (under an exclusive `flock`, never lowering it, synced
//! before the call returns); readers compare. The anchor only helps where the attacker who can
//! write the token's files cannot write the anchor's directory: another file system, another
//! owner (a directory root owns and the token's user may only write its own file in), a mount
//! the backup and restore process does not touch. docs/SECURITY.md says what it covers.

use crate::error::{Error, Result};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Anchor {
    path: PathBuf,
    umask: u32,
}

impl Anchor {
    pub fn new(dir: &Path, serial: &str, umask: u32) -> Anchor {
        Anchor {
            path: dir.join(format!("{serial}.anchor")),
            umask,
        }
    }

    fn parse(text: &str, path: &Path) -> Result<u64> {
        text.trim().parse().map_err(|_| {
            Error::Storage(format!(
                "the rollback anchor {} is damaged (it should hold one number)",
                path.display()
            ))
        })
    }

    /// The highest generation recorded (0 when the token has no anchor file yet).
    pub fn get(&self) -> Result<u64> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Self::parse(&t, &self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::Storage(format!(
                "the rollback anchor {} cannot be read: {e}",
                self.path.display()
            ))),
        }
    }

    /// Raises the recorded generation to `gen` (never lowers it), durably.
    pub fn advance(&self, gen: u64) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::Storage(format!(
                "the rollback anchor {} cannot be written: {e}",
                self.path.display()
            ))
        };
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600 & !self.umask)
            .open(&self.path)
            .map_err(io)?;
        f.lock().map_err(io)?;
        let mut text = String::new();
        f.read_to_string(&mut text).map_err(io)?;
        let have = if text.trim().is_empty() {
            0
        } else {
            Self::parse(&text, &self.path)?
        };
        if gen <= have {
            return Ok(());
        }
        // Shorter or equal text never leaves old digits behind: the number only grows.
        f.rewind().map_err(io)?;
        f.write_all(format!("{gen}\n").as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)
    }

    /// `Err` when the token's files are older than the anchor says they must be.
    pub fn check(&self, serial: &str, gen: u64) -> Result<()> {
        let have = self.get()?;
        if gen < have {
            return Err(Error::Storage(format!(
                "token {serial} was rolled back: its files are at change {gen}, but the rollback \
                 anchor {} has seen change {have} (an older copy of the token's files was put \
                 back; see docs/SECURITY.md, \"Rollback\")",
                self.path.display()
            )));
        }
        Ok(())
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchor_only_rises_and_catches_older_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = Anchor::new(dir.path(), "ab", 0o077);
        assert_eq!(a.get().unwrap(), 0);
        a.check("ab", 0).unwrap();
        a.advance(9).unwrap();
        a.advance(12).unwrap();
        a.advance(10).unwrap();
        assert_eq!(a.get().unwrap(), 12);
        a.check("ab", 12).unwrap();
        a.check("ab", 13).unwrap();
        assert!(a.check("ab", 11).is_err());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("ab.anchor"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join("ab.anchor"), "x").unwrap();
        assert!(a.get().is_err());
        // An anchor that cannot be read is an error, not "no anchor yet" (which would let any
        // older copy through).
        let b = Anchor::new(dir.path(), "cd", 0o077);
        std::fs::create_dir(dir.path().join("cd.anchor")).unwrap();
        assert!(b.get().is_err());
        assert!(b.check("cd", 5).is_err());
    }
}
