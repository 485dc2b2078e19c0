//! A reader-writer lock for data that every call reads and few calls write (the token's object
//! cache): a reader takes the lock of its own thread's shard, a writer takes every shard.
//!
//! With one lock word, two threads reading at a million calls a second each bounce its cache line
//! between the cores on every lock and unlock; with a shard per thread they share nothing. It
//! is a raw lock for `lock_api`, so the guards and the data access are `lock_api`'s safe code;
//! what is `unsafe` is the promise that this raw lock excludes as a lock must, which is why it
//! lives here, with the crate's other `unsafe`.
//!
//! A thread's shard is a number taken from a counter the first time it reads; it needs no
//! registry, no mutex and no thread-exit destructor, so a `fork()` can never leave a child blocked
//! on one (crossbeam's `ShardedLock`, used before, has all three).

use parking_lot::lock_api::GuardNoSend;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shards: more than the cores this module expects to share a token between (threads beyond
/// that share shards, which stays correct and costs only contention).
const SHARDS: usize = 8;

/// One shard's lock, alone on its cache lines.
#[repr(align(128))]
struct Shard(parking_lot::RawRwLock);

/// The raw lock: see the module documentation.
pub struct RawSharded([Shard; SHARDS]);

/// A `lock_api` reader-writer lock over [`RawSharded`].
pub type ShardedRwLock<T> = parking_lot::lock_api::RwLock<RawSharded, T>;
pub type ShardedReadGuard<'a, T> = parking_lot::lock_api::RwLockReadGuard<'a, RawSharded, T>;
pub type ShardedWriteGuard<'a, T> = parking_lot::lock_api::RwLockWriteGuard<'a, RawSharded, T>;

/// This thread's shard.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // A plain number: no destructor runs when the thread exits.
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    // A thread-local without a destructor is never marked destroyed, so this cannot fail, even
    // from another thread-local's destructor; were it to, lock and unlock would both fall back
    // to shard 0 for the rest of the thread's life and still pair up.
    MINE.try_with(|s| *s).unwrap_or(0)
}

// SAFETY: shared locks: a reader holds the read lock of exactly one shard, the one `shard()`
// names for its thread, and releases that same one: `GuardNoSend` keeps a read guard on the
// thread that took it, and `shard()` gives a thread the same answer every time. Exclusive locks:
// a writer holds the write locks of all shards, taken in index order (so two writers cannot
// deadlock), which excludes every reader and every other writer. A failed try leaves nothing
// held.
unsafe impl parking_lot::lock_api::RawRwLock for RawSharded {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawSharded = {
        #[allow(clippy::declare_interior_mutable_const)]
        const ONE: Shard = Shard(parking_lot::RawRwLock::INIT);
        RawSharded([ONE; SHARDS])
    };
    type GuardMarker = GuardNoSend;

    fn lock_shared(&self) {
        self.0[shard()].0.lock_shared();
    }

    fn try_lock_shared(&self) -> bool {
        self.0[shard()].0.try_lock_shared()
    }

    unsafe fn unlock_shared(&self) {
        // SAFETY: the caller holds a shared lock, taken on this thread, hence on this shard.
        unsafe { self.0[shard()].0.unlock_shared() }
    }

    fn lock_exclusive(&self) {
        for s in &self.0 {
            s.0.lock_exclusive();
        }
    }

    fn try_lock_exclusive(&self) -> bool {
        for (i, s) in self.0.iter().enumerate() {
            if !s.0.try_lock_exclusive() {
                for held in &self.0[..i] {
                    // SAFETY: taken just above, in this call.
                    unsafe { held.0.unlock_exclusive() };
                }
                return false;
            }
        }
        true
    }

    unsafe fn unlock_exclusive(&self) {
        for s in &self.0 {
            // SAFETY: the caller holds the exclusive lock, which is every shard's.
            unsafe { s.0.unlock_exclusive() };
        }
    }

    fn is_locked(&self) -> bool {
        self.0.iter().any(|s| s.0.is_locked())
    }

    fn is_locked_exclusive(&self) -> bool {
        self.0[SHARDS - 1].0.is_locked_exclusive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn readers_share_and_a_writer_excludes_them() {
        let l = Arc::new(ShardedRwLock::new(0u64));
        {
            let a = l.read();
            assert!(l.try_read().is_some(), "a second reader on the same thread");
            assert!(
                l.try_write().is_none(),
                "no writer while a reader holds a shard"
            );
            assert_eq!(*a, 0);
        }
        {
            let mut w = l.write();
            *w = 7;
            let l2 = Arc::clone(&l);
            let other = std::thread::spawn(move || l2.try_read().is_none());
            assert!(
                other.join().unwrap(),
                "no reader on another thread while a writer holds"
            );
            assert!(l.try_write().is_none());
        }
        assert!(!l.is_locked(), "a failed try_write left nothing held");
        assert_eq!(*l.read(), 7);
    }

    #[test]
    fn readers_on_every_shard_block_a_writer_until_they_leave() {
        let l = Arc::new(ShardedRwLock::new(Vec::<usize>::new()));
        let barrier = Arc::new(std::sync::Barrier::new(2 * SHARDS + 1));
        let readers: Vec<_> = (0..2 * SHARDS)
            .map(|_| {
                let (l, b) = (Arc::clone(&l), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let g = l.read();
                    b.wait(); // every reader holds its shard
                    b.wait(); // the main thread has tried to write
                    g.len()
                })
            })
            .collect();
        barrier.wait();
        assert!(l.try_write().is_none(), "readers hold shards");
        barrier.wait();
        for r in readers {
            assert_eq!(r.join().unwrap(), 0);
        }
        l.write().push(1);
        assert_eq!(*l.read(), [1]);
    }

    #[test]
    fn many_threads_writing_and_reading_agree() {
        let l = Arc::new(ShardedRwLock::new((0u64, 0u64)));
        let ts: Vec<_> = (0..6)
            .map(|t| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        if (i + t) % 5 == 0 {
                            let mut w = l.write();
                            w.0 += 1;
                            w.1 += 1;
                        } else {
                            let r = l.read();
                            assert_eq!(r.0, r.1, "a reader saw a half-done write");
                        }
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        let r = l.read();
        assert_eq!(r.0, r.1);
        assert_eq!(r.0, 6 * 2000 / 5);
    }
}
