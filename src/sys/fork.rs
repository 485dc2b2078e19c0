//! `fork()`: the child starts uninitialized. It must not share the parent's sessions or login, nor
//! touch the parent's database connections. The handlers hold the module's state lock across the
//! fork, so the child never inherits it half-changed (and the lock of secure memory's free lists,
//! [`super::secmem`], likewise); they live here because releasing a lock
//! whose guard was forgotten is `unsafe`.

use crate::module::state_lock;

extern "C" fn prepare() {
    std::mem::forget(state_lock().write());
    // Secure memory's free lists: a child must not inherit their lock held by another thread.
    super::secmem::before_fork();
}

extern "C" fn parent() {
    // SAFETY: `prepare` took both locks in this thread and forgot the guards.
    unsafe {
        super::secmem::after_fork();
        state_lock().force_unlock_write();
    }
}

extern "C" fn child() {
    // SAFETY: as in `parent`; the child has only this thread.
    unsafe {
        super::secmem::after_fork();
        state_lock().force_unlock_write();
    }
    // The parent's module is leaked, not dropped: its connections and locks are the parent's.
    crate::module::forget_in_child(&mut state_lock().write());
}

/// Installs the handlers once per process.
pub fn install_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handlers are `extern "C"` functions that live as long as the library
        // (which is never unloaded while they are registered: see build.rs, `-z nodelete`).
        unsafe {
            libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
        }
    });
}
