//! Waiting on a word of memory, shared with other processes, until it
//! changes: the loop's doorbell.
//!
//! On Linux this is a futex on shared memory (no `FUTEX_PRIVATE_FLAG`, so
//! that other processes that map the word can wake the waiter). Elsewhere
//! there is no waiting on a shared word that every process can wake, so a
//! waiter sleeps in short steps and looks again: waking costs the sender
//! nothing, and a sleeping loop answers within [`POLL_STEP`].

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How long a waiter sleeps between looks where there is no futex.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const POLL_STEP: Duration = Duration::from_millis(1);

/// Blocks while `word` holds `expected`, at most `timeout` (for ever if
/// `None`). May return early (a wake, a signal, a spurious wake-up): the
/// caller looks again.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let timeout = timeout.map(|timeout| libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below a billion: fits every `c_long`.
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    });
    let timeout_ptr = timeout
        .as_ref()
        .map_or(std::ptr::null(), |timeout| timeout as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned `u32` for the duration of the call
    // (a shared reference keeps it alive); `timeout_ptr` is null or points
    // to a live `timespec`; the remaining arguments are unused by
    // `FUTEX_WAIT`. The call reads the word and sleeps; it writes nothing.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            timeout_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every waiter on `word`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn wake(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned `u32` (kept alive by the shared
    // reference); `FUTEX_WAKE` only looks up waiters on its address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Sleeps one step (or less, up to `timeout`) unless `word` changed.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    if word.load(std::sync::atomic::Ordering::Acquire) != expected {
        return;
    }
    let step = timeout.map_or(POLL_STEP, |timeout| timeout.min(POLL_STEP));
    std::thread::sleep(step);
}

/// Nothing to do where waiters poll.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn wake(_word: &AtomicU32) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_wait_ends_on_wake_or_timeout() {
        let word = Arc::new(AtomicU32::new(1));
        // A changed word: no wait at all.
        let started = Instant::now();
        wait(&word, 0, Some(Duration::from_secs(5)));
        assert!(started.elapsed() < Duration::from_secs(4));
        // The timeout.
        let started = Instant::now();
        wait(&word, 1, Some(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(1));
        // A wake from another thread.
        let waker = {
            let word = word.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                word.store(0, Ordering::Release);
                wake(&word);
            })
        };
        let started = Instant::now();
        while word.load(Ordering::Acquire) == 1 {
            wait(&word, 1, Some(Duration::from_secs(10)));
        }
        assert!(started.elapsed() < Duration::from_secs(9));
        waker.join().unwrap();
    }
}
