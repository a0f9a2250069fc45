//! Counting what could not be delivered: the one place where drops are
//! counted, by reason.
//!
//! Each [`LoopPeer`](super::LoopPeer) has a [`DropCounter`]: this process's
//! count of the signals for that loop that it dropped, reported through
//! `tracing` at most once a second. Signals lost in transit to a loop of a
//! process that died are counted exactly from its ring's counters (what
//! the producer published minus what the consumer took, see `sys::ring`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) use crate::protocol::DropReason;
use crate::stats::{AtomicDropCounts, DropCounts};
use crate::util::RateLimit;

/// This process's count of the signals for one loop that it could not
/// deliver, and of those it handed to another process's transport.
pub(crate) struct DropCounter {
    loop_name: Arc<str>,
    dropped: AtomicU64,
    by_reason: AtomicDropCounts,
    log: RateLimit,
}

impl DropCounter {
    pub(crate) fn new(loop_name: Arc<str>) -> Self {
        DropCounter {
            loop_name,
            dropped: AtomicU64::new(0),
            by_reason: AtomicDropCounts::default(),
            log: RateLimit::new(Duration::from_secs(1)),
        }
    }

    /// The number of signals dropped so far.
    pub(crate) fn total(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The signals dropped so far, by reason.
    pub(crate) fn counts(&self) -> DropCounts {
        self.by_reason.snapshot()
    }

    /// Counts `count` dropped signals; `describe` names them for the log.
    pub(crate) fn record(&self, count: u64, reason: DropReason, describe: impl FnOnce() -> String) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
        self.by_reason.add(reason, count);
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
}
