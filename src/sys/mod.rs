//! The operating system below the module: the `unsafe` that is not the C API. Each file is one
//! interface, small enough to audit on its own:
//! - [`clock`]: a coarse monotonic clock (libc `clock_gettime`);
//! - [`fork`]: `pthread_atfork` handlers, so a child starts uninitialized;
//! - [`secmem`]: memory for key material, out of core dumps and locked (`mmap`, `madvise`,
//!   `mlock`), and the containers that live in it;
//! - [`sharded`]: the sharded reader-writer lock of the token's object cache (a raw lock);
//! - [`shm`]: the change counter every process of a token maps (`mmap`);
//! - [`euid`]: the effective uid (the login cache is per user).
//!
//! The C boundary is [`crate::ffi`]; besides these two, only the AWS-LC EVP calls of the default
//! backend (`crypto/awslc.rs`, streaming GCM) have `unsafe`.

pub mod clock;
pub mod fork;
pub mod secmem;
pub mod sharded;
pub mod shm;

/// The process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() }
}
