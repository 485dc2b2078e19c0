//! A coarse monotonic clock for checks made on every call.
//!
//! `std::time::Instant` reads `CLOCK_MONOTONIC`, which costs a few percent of a sub-microsecond
//! operation such as an HMAC over 64 bytes. `CLOCK_MONOTONIC_COARSE` is the same clock at the
//! resolution of the kernel tick (1 to 10 ms), read from the vDSO without touching the TSC, which
//! is all that a once-a-second check needs. It lives here because calling libc is `unsafe`.

/// Milliseconds on a monotonic clock with an arbitrary origin, at tick resolution.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime writes only into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        // Not expected; the precise clock is a correct if slower answer (the caller treats a
        // clock that goes backwards as "look now").
        return fallback_ms();
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Elsewhere (the BSDs have no `CLOCK_MONOTONIC_COARSE`): the precise clock.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn coarse_ms() -> u64 {
    fallback_ms()
}

fn fallback_ms() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_at_tick_resolution() {
        let a = coarse_ms();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = coarse_ms();
        assert!(b >= a + 15, "{a} then {b}");
        assert!(b < a + 5_000, "{a} then {b}");
    }
}
