//! Small helpers every layer uses: a panic's message, a rate limit for
//! reports, drops that contain a panicking `Drop`, and a thread that does
//! one thing at an interval.

use std::any::{Any, type_name};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The message of a panic, for a report.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "<a panic payload that is not a string>".to_owned()
    }
}

/// Lets one report through per period and counts the others.
pub(crate) struct RateLimit {
    period_ns: u64,
    next_ns: AtomicU64,
    suppressed: AtomicU64,
}

static CLOCK_START: LazyLock<Instant> = LazyLock::new(Instant::now);

impl RateLimit {
    pub(crate) fn new(period: Duration) -> Self {
        RateLimit {
            period_ns: u64::try_from(period.as_nanos()).unwrap_or(u64::MAX),
            next_ns: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Returns `Some(number suppressed since the last report)` if a report
    /// may go out now.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = u64::try_from(CLOCK_START.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let next = self.next_ns.load(Ordering::Relaxed);
        if now < next {
            return None;
        }
        self.next_ns
            .compare_exchange(
                next,
                now.saturating_add(self.period_ns),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| self.suppressed.swap(0, Ordering::Relaxed))
    }

    pub(crate) fn suppress(&self) {
        self.suppressed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Initializes this module's lazy globals before a fork.
pub(crate) fn prepare_for_processes() {
    LazyLock::force(&CLOCK_START);
}

/// Drops arguments of a signal where the library lets them go (no
/// receiver, a full or ended inbox, a slot that took none of them, a
/// replaced keep-latest value): a `Drop` of the user's that panics is
/// reported, once a second at most, and goes no further, so that the
/// emitter and the loop go on.
pub(crate) fn drop_contained<T>(value: T) {
    drop_contained_with::<T>(move || drop(value));
}

/// Runs `drop`, which drops a `T`, containing a panic as
/// [`drop_contained`] does. Nothing to contain (nor any cost) for a type
/// without drop glue.
#[inline]
pub(crate) fn drop_contained_with<T>(drop: impl FnOnce()) {
    if !std::mem::needs_drop::<T>() {
        drop();
        return;
    }
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(drop)) {
        report_drop_panic(type_name::<T>(), &*panic);
    }
}

#[cold]
fn report_drop_panic(what: &str, panic: &(dyn Any + Send)) {
    static LIMIT: LazyLock<RateLimit> = LazyLock::new(|| RateLimit::new(Duration::from_secs(1)));
    match LIMIT.allow() {
        Some(suppressed) => tracing::error!(
            arguments = what,
            suppressed,
            "dropping a signal's arguments (`{what}`) panicked: {}; contained",
            panic_message(panic)
        ),
        None => LIMIT.suppress(),
    }
}

/// A thread of the library's that does one thing at an interval (records
/// metrics, asks a child how it does) until its handle is dropped: dropping
/// it wakes the thread from its sleep and joins it (after a step under
/// way).
pub(crate) struct Periodic {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Closed on drop: wakes the thread early.
    wake: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Periodic {
    /// Starts thread `name`, which runs `step` and sleeps what it returns,
    /// again and again, until it returns `None` or the handle is dropped.
    pub(crate) fn start(
        name: String,
        mut step: impl FnMut() -> Option<Duration> + Send + 'static,
    ) -> std::io::Result<Periodic> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (wake, sleep) = crossbeam_channel::bounded::<()>(0);
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                let Some(pause) = step() else {
                    return;
                };
                // Woken early (disconnected) when the handle is dropped.
                let _ = sleep.recv_timeout(pause);
            }
        })?;
        Ok(Periodic {
            stop,
            wake: Some(wake),
            thread: Some(thread),
        })
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_lets_one_report_through_per_period() {
        let limit = RateLimit::new(Duration::from_secs(3600));
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), None);
        limit.suppress();
        limit.suppress();
        assert_eq!(limit.suppressed.load(Ordering::Relaxed), 2);
        let limit = RateLimit::new(Duration::ZERO);
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), Some(0));
    }

    #[test]
    fn a_panic_says_what_it_says() {
        let text = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*text), "plain");
        let formatted = std::panic::catch_unwind(|| panic!("{} {}", "with", 2)).unwrap_err();
        assert_eq!(panic_message(&*formatted), "with 2");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(
            panic_message(&*other),
            "<a panic payload that is not a string>"
        );
    }
}
