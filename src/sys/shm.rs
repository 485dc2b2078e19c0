//! A change counter shared by every process that uses a token: one `u64` in a small file, mapped
//! `MAP_SHARED` into each process. Writers bump it around each commit; readers compare it with the
//! value they last saw, which costs one atomic load instead of a database query (SQLite's
//! `PRAGMA data_version` takes and drops WAL read locks with `fcntl` on every call).
//!
//! The counter only says "look again"; the database stays the truth. Mapping memory is an
//! operating-system interface, so this lives in `src/sys/`.
//!
//! The file is never shrunk by ferrohsm (a mapping of a truncated file faults on access); it is
//! created 0600 (minus the umask) in the token's own 0700 directory.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes mapped: one page, of which the first 8 are the counter.
const LEN: usize = 4096;

/// A counter in shared memory.
pub struct SharedCounter {
    ptr: NonNull<AtomicU64>,
    /// Kept open for the life of the mapping.
    _file: File,
}

// SAFETY: the mapping is only accessed through `AtomicU64` operations, which are safe to share
// between threads (and processes); the pointer stays valid until `drop` unmaps it.
unsafe impl Send for SharedCounter {}
unsafe impl Sync for SharedCounter {}

impl std::fmt::Debug for SharedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedCounter({})", self.load())
    }
}

impl SharedCounter {
    /// Opens (creating it with `mode` if missing) the counter file and maps it.
    pub fn open(path: &Path, mode: u32) -> io::Result<SharedCounter> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(mode)
            .open(path)?;
        // Grow only: several processes may do this at once, and a shorter file would fault.
        if file.metadata()?.len() < LEN as u64 {
            file.set_len(LEN as u64)?;
        }
        // SAFETY: a fresh shared mapping of LEN bytes of a file at least LEN bytes long; the
        // kernel picks the address. Page alignment satisfies AtomicU64's alignment.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<AtomicU64>()).ok_or_else(io::Error::last_os_error)?;
        Ok(SharedCounter { ptr, _file: file })
    }

    fn cell(&self) -> &AtomicU64 {
        // SAFETY: the mapping is live while `self` is, and is only used as an AtomicU64.
        unsafe { self.ptr.as_ref() }
    }

    /// The current value.
    pub fn load(&self) -> u64 {
        self.cell().load(Ordering::Acquire)
    }

    /// Tells every process to look again.
    pub fn bump(&self) {
        self.cell().fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for SharedCounter {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`; no reference to it outlives `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), LEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("changes");
        let a = SharedCounter::open(&p, 0o600).unwrap();
        let b = SharedCounter::open(&p, 0o600).unwrap();
        let start = a.load();
        b.bump();
        assert_eq!(a.load(), start + 1);
        a.bump();
        assert_eq!(b.load(), start + 2);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), LEN as u64);
    }
}
