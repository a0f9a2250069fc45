//! Counting what could not be delivered: the one place where drops are
//! counted, by reason.
//!
//! Each [`LoopPeer`](super::LoopPeer) has a [`DropCounter`]: this process's
//! count of the signals for that loop that it dropped, reported through
//! `tracing` at most once a second. Signals lost in transit to a loop of a
//! process that died are counted exactly from its ring's counters (what
//! the producer published minus what the consumer took, see `sys::ring`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use super::SignalEnvelope;

/// Why a signal was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The receiving loop's inbox is full.
    Full,
    /// The receiving loop has ended, or its process is gone.
    Gone,
    /// The loop was stopping and the signal came after the stop.
    AfterStop,
    /// The arguments could not be encoded for another process.
    Encode,
    /// The encoded signal is larger than the receiving loop's inbox takes.
    TooLarge,
    /// It arrived from another process damaged (after a frame that cannot
    /// be decoded).
    Corrupt,
    /// A newer emission replaced it on a keep-latest connection.
    Replaced,
    /// Its receiver was detached at once, with what was queued to it.
    Removed,
    /// It was lost on the network (Zenoh dropped it under congestion).
    #[cfg_attr(not(feature = "zenoh"), allow(dead_code))]
    Lost,
}

impl DropReason {
    fn describe(self) -> &'static str {
        match self {
            DropReason::Full => "its inbox is full",
            DropReason::Gone => "it has ended or its process is gone",
            DropReason::AfterStop => "it stopped before the signal was handled",
            DropReason::Encode => "the signal could not be encoded for its process",
            DropReason::TooLarge => "the signal is too large for its inbox",
            DropReason::Corrupt => "it arrived damaged from another process",
            DropReason::Replaced => "a newer one replaced it (a keep-latest connection)",
            DropReason::Removed => "its receiver was detached at once",
            DropReason::Lost => "it was lost on the network",
        }
    }
}

/// This process's count of the signals for one loop that it could not
/// deliver, and of those it handed to another process's transport.
pub(crate) struct DropCounter {
    loop_name: Arc<str>,
    dropped: AtomicU64,
    log: RateLimit,
}

impl DropCounter {
    pub(crate) fn new(loop_name: Arc<str>) -> Self {
        DropCounter {
            loop_name,
            dropped: AtomicU64::new(0),
            log: RateLimit::new(Duration::from_secs(1)),
        }
    }

    /// The number of signals dropped so far.
    pub(crate) fn total(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts `count` dropped signals; `describe` names them for the log.
    pub(crate) fn record(&self, count: u64, reason: DropReason, describe: impl FnOnce() -> String) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
        let Some(suppressed) = self.log.allow() else {
            self.log.suppress();
            return;
        };
        let message = format!(
            "dropped {} on event loop `{}`: {} ({suppressed} more drops not reported since \
             the last report)",
            describe(),
            self.loop_name,
            reason.describe(),
        );
        let total = self.total();
        if matches!(reason, DropReason::AfterStop | DropReason::Replaced) {
            // Signals racing a stop are expected at shutdown; replacing is
            // what a keep-latest connection is for.
            tracing::debug!(event_loop = %self.loop_name, dropped_total = total, "{message}");
        } else {
            tracing::error!(event_loop = %self.loop_name, dropped_total = total, "{message}");
        }
    }

    /// Counts a dropped signal (or batch), naming its emitter and receivers.
    pub(crate) fn record_envelope(&self, envelope: &SignalEnvelope, reason: DropReason) {
        let count = envelope.args.count() as u64;
        self.record(count, reason, || {
            let header = &envelope.header;
            let emitter = header.emitter_id();
            let mut receivers = String::new();
            for (index, receiver) in header.receivers.iter().enumerate() {
                if index > 0 {
                    receivers.push_str(", ");
                }
                let _ = write!(receivers, "`{}`", receiver.object);
            }
            if header.broadcast {
                if !receivers.is_empty() {
                    receivers.push_str(", ");
                }
                receivers.push_str("the loop's subscribers");
            }
            format!("signal `{}` from `{emitter}` to {receivers}", header.signal)
        });
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
}
