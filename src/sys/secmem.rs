//! Secure memory for key material: pages kept out of core dumps and locked in RAM where the
//! system allows, and containers that live in them and wipe themselves.
//!
//! - **Where.** Anonymous private mappings marked `MADV_DONTDUMP` (a core dump, `gcore` included,
//!   leaves them out) and `mlock`ed (never written to swap). `mlock` may fail (`RLIMIT_MEMLOCK` is
//!   often 64 KiB to 8 MiB): the memory is then used unlocked, with one log line per process.
//!   `MADV_DONTFORK` is *not* set: a forked child keeps the mappings (copy-on-write) so a child
//!   that goes on using what it inherited does not fault; `mlock` is not inherited by the child,
//!   `MADV_DONTDUMP` is.
//! - **How.** A size-class slab: small values (16 bytes to 16 KiB, rounded up to a power of two)
//!   share chunks of at least 16 KiB, so ten thousand keys cost ten thousand slots, not ten
//!   thousand mappings, and stay within a small lock limit. Chunks are never unmapped; freed slots
//!   are zeroed and reused. A value larger than 16 KiB gets a mapping of its own, zeroed and
//!   unmapped when freed. One mutex guards the free lists (a push or a pop: a few dozen
//!   instructions); the fork handlers hold it across `fork()` (see [`super::fork`]).
//! - **What.** [`SecretBytes`] (a byte string: key values, the master key) and [`SecureBox`] (any
//!   value, e.g. a keyed cipher whose round keys are inline). Both zero their slot on drop, after
//!   dropping the value, so what the value held is gone even where its own `Drop` does not wipe;
//!   [`scrub_stack`] wipes what building such a value left on the stack.
//!
//! docs/SECURITY.md ("Memory") lists what is covered and what is not.
//!
//! Chosen over `memsec`/`secrets` (libsodium-style `malloc`): those give every allocation a
//! mapping of its own between guard pages (three or more pages and several system calls per
//! key), which a token with thousands of keys turns into thousands of mappings and a locked-memory
//! use far above `RLIMIT_MEMLOCK`. `region` only wraps the calls made here.

use parking_lot::Mutex;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Smallest slot: 16 bytes (`1 << MIN_SHIFT`).
const MIN_SHIFT: u32 = 4;
/// Largest slot from a shared chunk: 16 KiB.
const MAX_SHIFT: u32 = 14;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Smallest chunk: 16 KiB (four pages); a class's chunk holds at least four slots.
const MIN_CHUNK: usize = 16 * 1024;
/// Alignment every slot has at least (a shared chunk is page-aligned and slots are their size).
const MAX_ALIGN: usize = 4096;

/// The name the mappings carry in `/proc/PID/maps` where the kernel supports it (5.17+).
const NAME: &[u8] = b"ferrohsm-secure\0";

struct Arena {
    /// Free slots per class, as addresses.
    free: [Vec<usize>; CLASSES],
    /// Every mapping made, (address, length): chunks and large values alike.
    maps: Vec<(usize, usize)>,
}

static ARENA: Mutex<Arena> = Mutex::new(Arena {
    free: [const { Vec::new() }; CLASSES],
    maps: Vec::new(),
});

/// Bytes mapped, and bytes that `mlock` refused.
static MAPPED: AtomicUsize = AtomicUsize::new(0);
static UNLOCKED: AtomicUsize = AtomicUsize::new(0);
static LOCK_WARNED: AtomicBool = AtomicBool::new(false);
static DUMP_WARNED: AtomicBool = AtomicBool::new(false);

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Maps `len` bytes (a multiple of the page size) of zeroed memory, kept out of core dumps and
/// locked when allowed. `None` when the mapping itself fails (out of memory).
fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `p..p+len` is the mapping just made; these calls change its flags only.
    unsafe {
        if libc::madvise(p, len, libc::MADV_DONTDUMP) != 0
            && !DUMP_WARNED.swap(true, Ordering::Relaxed)
        {
            crate::log_warn!(
                "secure memory: madvise(MADV_DONTDUMP) failed ({}): key memory may appear in core dumps",
                std::io::Error::last_os_error()
            );
        }
        // Best effort: names the mapping `[anon:ferrohsm-secure]` (needs CONFIG_ANON_VMA_NAME).
        libc::prctl(
            libc::PR_SET_VMA,
            libc::PR_SET_VMA_ANON_NAME as libc::c_ulong,
            p as libc::c_ulong,
            len as libc::c_ulong,
            NAME.as_ptr() as libc::c_ulong,
        );
        if libc::mlock(p, len) != 0 {
            let total = UNLOCKED.fetch_add(len, Ordering::Relaxed) + len;
            if !LOCK_WARNED.swap(true, Ordering::Relaxed) {
                crate::log_warn!(
                    "secure memory: mlock failed ({}; RLIMIT_MEMLOCK too low?): key memory is kept \
                     out of core dumps but may be swapped ({total} bytes unlocked so far)",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
    MAPPED.fetch_add(len, Ordering::Relaxed);
    NonNull::new(p.cast())
}

/// The class of a size, or `None` when it needs a mapping of its own.
fn class_of(size: usize) -> Option<usize> {
    let shift = size
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .max(MIN_SHIFT);
    (shift <= MAX_SHIFT).then(|| (shift - MIN_SHIFT) as usize)
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Allocates `size` (> 0) zeroed bytes aligned to `align` (at most 4096) in secure memory.
/// Aborts like the global allocator when memory is exhausted.
fn alloc(size: usize, align: usize) -> NonNull<u8> {
    assert!(size > 0 && align <= MAX_ALIGN && align.is_power_of_two());
    let size = size.max(align);
    let Some(c) = class_of(size) else {
        let len = round_up(size, page_size());
        let p = map(len).unwrap_or_else(|| oom(len));
        ARENA.lock().maps.push((p.as_ptr() as usize, len));
        return p;
    };
    let mut arena = ARENA.lock();
    if let Some(a) = arena.free[c].pop() {
        // SAFETY: free slots are non-null addresses inside our chunks.
        return unsafe { NonNull::new_unchecked(a as *mut u8) };
    }
    let slot = 1usize << (c as u32 + MIN_SHIFT);
    let len = round_up(MIN_CHUNK.max(4 * slot), page_size());
    let p = map(len).unwrap_or_else(|| oom(len));
    let base = p.as_ptr() as usize;
    arena.maps.push((base, len));
    // Hand out the first slot, keep the others (in reverse, so they are used in address order).
    arena.free[c].extend((1..len / slot).rev().map(|i| base + i * slot));
    p
}

fn oom(len: usize) -> ! {
    std::alloc::handle_alloc_error(std::alloc::Layout::from_size_align(len, 1).expect("layout"))
}

/// Zeroes and frees what [`alloc`] gave for `size` and `align`.
///
/// # Safety
/// `p` came from `alloc(size, align)` and is not used again.
unsafe fn free(p: NonNull<u8>, size: usize, align: usize) {
    let size = size.max(align);
    // SAFETY: the caller gives back a slot of at least `size` bytes that it owned.
    unsafe { wipe(p.as_ptr(), size) };
    match class_of(size) {
        Some(c) => ARENA.lock().free[c].push(p.as_ptr() as usize),
        None => {
            let len = round_up(size, page_size());
            let a = p.as_ptr() as usize;
            ARENA.lock().maps.retain(|&(m, _)| m != a);
            // SAFETY: a mapping of its own, made by `map(len)`, no longer referenced.
            unsafe { libc::munmap(p.as_ptr().cast(), len) };
        }
    }
}

/// Zeroes `len` bytes at `p` in a way the compiler keeps: glibc's `explicit_bzero` (a `memset`
/// the optimizer may not remove), far faster than a volatile byte loop on a large slot.
///
/// # Safety
/// `p..p+len` is writable memory the caller owns.
unsafe fn wipe(p: *mut u8, len: usize) {
    // SAFETY: as the caller promises.
    unsafe { libc::explicit_bzero(p.cast(), len) };
}

/// Zeroes the 16 KiB of stack below the caller's frame: where the frames of the calls it just
/// made were. A key schedule or keyed hash state built on the stack and moved into secure memory
/// (RustCrypto's `hmac` copies the key into a block on the stack, for one) leaves its bytes there
/// until the stack is reused; the cold paths that key something call this afterwards.
#[inline(never)]
pub fn scrub_stack() {
    let mut buf = [0u8; 16 * 1024];
    // SAFETY: a local buffer of that length.
    unsafe { libc::explicit_bzero(buf.as_mut_ptr().cast(), buf.len()) };
    std::hint::black_box(&mut buf);
}

/// Takes the arena's lock before `fork()` (the child must not inherit it held by a thread it
/// does not have). Paired with [`after_fork`].
pub(super) fn before_fork() {
    std::mem::forget(ARENA.lock());
}

/// Releases the lock [`before_fork`] took, in the parent and in the child.
///
/// # Safety
/// Called once after `before_fork`, in the thread that called it (after `fork()`, the child's
/// only thread is that one).
pub(super) unsafe fn after_fork() {
    // SAFETY: `before_fork` locked it and forgot the guard.
    unsafe { ARENA.force_unlock() };
}

/// How much secure memory the process has: (bytes mapped, bytes of it `mlock` refused).
pub fn usage() -> (usize, usize) {
    (
        MAPPED.load(Ordering::Relaxed),
        UNLOCKED.load(Ordering::Relaxed),
    )
}

/// Whether `needle` occurs anywhere in secure memory, live or freed: tests use it to check that a
/// dropped value left nothing behind.
#[doc(hidden)]
pub fn contains(needle: &[u8]) -> bool {
    let arena = ARENA.lock();
    arena.maps.iter().any(|&(a, len)| {
        // SAFETY: our own mappings, readable for their length; the lock keeps large values from
        // being unmapped meanwhile. Live values may change under us (a racing write), which at
        // worst makes a test see a torn value: this is a test hook, not a data path.
        let s = unsafe { std::slice::from_raw_parts(a as *const u8, len) };
        s.windows(needle.len()).any(|w| w == needle)
    })
}

/// A byte string in secure memory, zeroed when dropped; never printed.
pub struct SecretBytes {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `SecretBytes` owns its slot as a `Box<[u8]>` would.
unsafe impl Send for SecretBytes {}
// SAFETY: shared access is read-only.
unsafe impl Sync for SecretBytes {}

impl SecretBytes {
    /// A copy of `v` in secure memory.
    pub fn new(v: &[u8]) -> SecretBytes {
        let mut s = SecretBytes::zeroed(v.len());
        s.copy_from_slice(v);
        s
    }

    /// `len` zero bytes in secure memory.
    pub fn zeroed(len: usize) -> SecretBytes {
        let ptr = if len == 0 {
            NonNull::dangling()
        } else {
            alloc(len, 1)
        };
        SecretBytes { ptr, len }
    }
}

impl Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` holds `len` initialized bytes we own (or is dangling with `len` 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for SecretBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> SecretBytes {
        SecretBytes::new(self)
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &SecretBytes) -> bool {
        self[..] == other[..]
    }
}
impl Eq for SecretBytes {}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.len)
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated by `zeroed` with this length and alignment 1, dropped once.
            unsafe { free(self.ptr, self.len, 1) };
        }
    }
}

/// A value in secure memory: dropped in place, then its slot zeroed. For values whose secrets
/// are inline (round keys, keyed hash states); what such a value keeps on the ordinary heap
/// behind a pointer is not moved here.
pub struct SecureBox<T> {
    ptr: NonNull<T>,
}

// SAFETY: a `SecureBox<T>` owns its `T` as a `Box<T>` does.
unsafe impl<T: Send> Send for SecureBox<T> {}
// SAFETY: as `Box<T>`.
unsafe impl<T: Sync> Sync for SecureBox<T> {}

impl<T> SecureBox<T> {
    /// Moves `value` into secure memory. (The value passed in may leave a copy in the caller's
    /// stack frame: that is not covered.)
    pub fn new(value: T) -> SecureBox<T> {
        let size = std::mem::size_of::<T>();
        let ptr = if size == 0 {
            NonNull::dangling()
        } else {
            alloc(size, std::mem::align_of::<T>()).cast::<T>()
        };
        // SAFETY: `ptr` is a fresh, aligned slot of `size_of::<T>()` bytes (or dangling for a
        // zero-sized `T`, where a write is a no-op).
        unsafe { ptr.as_ptr().write(value) };
        SecureBox { ptr }
    }
}

impl<T> Deref for SecureBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` holds an initialized `T` we own.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for SecureBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: Clone> Clone for SecureBox<T> {
    fn clone(&self) -> SecureBox<T> {
        SecureBox::new((**self).clone())
    }
}

impl<T> std::fmt::Debug for SecureBox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecureBox(..)")
    }
}

impl<T> Drop for SecureBox<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` holds a `T` we own; it is dropped once, then its slot freed once.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr());
            let size = std::mem::size_of::<T>();
            if size > 0 {
                free(self.ptr.cast(), size, std::mem::align_of::<T>());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VmFlags of the mapping holding `addr`, from /proc/self/smaps.
    fn vm_flags(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        inside = (lo..hi).contains(&addr);
                        continue;
                    }
                }
            }
            if inside {
                if let Some(f) = line.strip_prefix("VmFlags:") {
                    return f.trim().to_string();
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    #[test]
    fn slots_are_out_of_dumps_and_locked_when_allowed() {
        for len in [1, 32, 100, 4096, 5000, 16384, 16385, 100_000] {
            let s = SecretBytes::new(&vec![0xa5; len]);
            let flags = vm_flags(s.as_ptr() as usize);
            assert!(flags.split(' ').any(|f| f == "dd"), "{len}: {flags}");
            // Locked unless this process's RLIMIT_MEMLOCK refused it (then counted).
            assert!(
                flags.split(' ').any(|f| f == "lo") || usage().1 > 0,
                "{len}: {flags}"
            );
            assert!(s.iter().all(|&b| b == 0xa5));
        }
    }

    #[test]
    fn dropped_values_leave_nothing_behind() {
        let pattern: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(37) ^ 0x5c).collect();
        let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let s = SecretBytes::new(&pattern);
        let b = SecureBox::new(<[u8; 48]>::try_from(&pattern[..]).unwrap());
        let l = SecretBytes::new(&big);
        assert!(contains(&pattern) && contains(&big[..64]));
        let addr = s.as_ptr();
        drop(s);
        drop(b);
        drop(l);
        assert!(!contains(&pattern), "a freed slot still holds the value");
        assert!(!contains(&big[..64]));
        // The freed slot reads as zeros (it is still mapped: chunks are never unmapped).
        // SAFETY: the slot is in a chunk that stays mapped; nothing else uses it in this test.
        let left = unsafe { std::slice::from_raw_parts(addr, 48) };
        assert!(left.iter().all(|&b| b == 0) || !left.starts_with(&pattern[..8]));
    }

    #[test]
    fn many_small_values_share_chunks() {
        let before = usage().0;
        let v: Vec<SecretBytes> = (0..2000)
            .map(|i| SecretBytes::new(&[i as u8; 32]))
            .collect();
        // 2,000 32-byte values fit in 64 KiB, give or take what other tests map meanwhile.
        assert!(
            usage().0 - before <= 64 * 1024 + 256 * 1024,
            "{}",
            usage().0 - before
        );
        assert!(v.iter().enumerate().all(|(i, s)| s[..] == [i as u8; 32]));
        let c = v[7].clone();
        assert_eq!(c, v[7]);
        assert_ne!(c.as_ptr(), v[7].as_ptr());
    }

    #[test]
    fn secure_box_drops_its_value() {
        use std::sync::atomic::AtomicUsize;
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct D([u8; 64]);
        impl Drop for D {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        let b = SecureBox::new(D([7; 64]));
        assert_eq!(b.0[63], 7);
        drop(b);
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);
        let e = SecretBytes::new(&[]);
        assert!(e.is_empty());
    }
}
