//! Counting what could not be delivered: the one place where drops are
//! counted, by reason, and where signals lost in transit to a process that
//! died are reckoned.
//!
//! Each [`LoopPeer`](super::LoopPeer) has a [`DropCounter`]: this process's
//! count of the signals for that loop that it dropped, reported through
//! `tracing` at most once a second.
//!
//! The *delivery ledger* makes losses to a killed process exact: counters
//! in memory shared by the whole process tree, where each process counts
//! what it took off its channel from each other process. A sender counts
//! what it handed to the transport; when the receiving process dies, the
//! difference is what was in transit (in the socket, or read but not yet
//! handed to a slot) and is counted as dropped. A receiver counts a signal
//! as taken when it hands it to its slots, or when it drops it itself
//! (after its loop stopped, or a slot failed), counting the drop there.
//! Processes are numbered in creation order (the first process is 0); the
//! ledger covers the first [`MAX_PROCESSES`] of them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use super::SignalEnvelope;
use crate::sys::shared::SharedCounters;
use crate::wire::{self, Frame};

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
}

impl DropReason {
    fn describe(self) -> &'static str {
        match self {
            DropReason::Full => "its inbox is full",
            DropReason::Gone => "it has ended or its process is gone",
            DropReason::AfterStop => "it stopped before the signal was handled",
            DropReason::Encode => "the signal could not be encoded for its process",
        }
    }
}

/// This process's count of the signals for one loop that it could not
/// deliver, and of those it handed to another process's transport.
pub(crate) struct DropCounter {
    loop_name: Arc<str>,
    dropped: AtomicU64,
    log: RateLimit,
    /// The number of the process the loop runs in, once known.
    process: OnceLock<u16>,
    /// Signals this process handed to the transport for the loop.
    written: AtomicU64,
    /// Set once the signals in transit to a dead process were counted.
    settled: AtomicBool,
}

impl DropCounter {
    pub(crate) fn new(loop_name: Arc<str>) -> Self {
        DropCounter {
            loop_name,
            dropped: AtomicU64::new(0),
            log: RateLimit::new(Duration::from_secs(1)),
            process: OnceLock::new(),
            written: AtomicU64::new(0),
            settled: AtomicBool::new(false),
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
        if reason == DropReason::AfterStop {
            // Signals racing a stop are expected at shutdown.
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

    /// Counts the signals of a packet from another process that no slot
    /// will receive: taken off the channel (for the ledger), and dropped.
    pub(crate) fn record_packet(&self, packet: &[u8], reason: DropReason) {
        self.record_frames(wire::Reader::new(packet), None, reason);
    }

    /// As [`record_packet`](Self::record_packet), for the rest of a packet
    /// from the process numbered `from` (which a `Sender` frame among
    /// `frames` may also name).
    pub(crate) fn record_frames(
        &self,
        frames: wire::Reader<'_>,
        mut from: Option<u16>,
        reason: DropReason,
    ) {
        let mut count = 0;
        for frame in frames.map_while(Result::ok) {
            match frame {
                Frame::Sender { process } => from = Some(process),
                Frame::Signal { payloads, .. } | Frame::EmitRequest { payloads, .. } => {
                    count += payloads.len() as u64;
                }
                Frame::Command(_) | Frame::Routes | Frame::Shutdown => {}
            }
        }
        if let Some(from) = from {
            taken_from(from, count);
        }
        if count > 0 {
            self.record(count, reason, || {
                format!("{count} signals from another process")
            });
        }
    }

    /// Records the number of the process the loop runs in.
    pub(crate) fn set_process(&self, process: u16) {
        let _ = self.process.set(process);
    }

    /// Counts signals handed to the transport for the loop.
    pub(crate) fn count_written(&self, signals: u64) {
        self.written.fetch_add(signals, Ordering::Relaxed);
    }

    /// Once the loop's process has ended: counts as dropped what this
    /// process sent it that it never took off its channel. Exactly once.
    pub(crate) fn settle_in_transit(&self) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(taken) = self.process.get().and_then(|process| taken_by(*process)) else {
            return;
        };
        let lost = self.written.load(Ordering::Acquire).saturating_sub(taken);
        if lost > 0 {
            self.record(lost, DropReason::Gone, || {
                format!("{lost} signals in transit when its process ended")
            });
        }
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

/// How many processes of a tree the ledger covers.
pub(crate) const MAX_PROCESSES: u16 = 64;

static LEDGER: OnceLock<Option<SharedCounters>> = OnceLock::new();

/// This process's number.
static OWN: AtomicU16 = AtomicU16::new(0);

/// Initializes this module's lazy globals before a fork, and creates the
/// ledger (in the first process, before its first child).
pub(crate) fn prepare_for_processes() {
    LazyLock::force(&CLOCK_START);
    LEDGER.get_or_init(|| {
        let cells = usize::from(MAX_PROCESSES) * usize::from(MAX_PROCESSES);
        SharedCounters::new(cells)
            .map_err(|error| {
                tracing::warn!(%error, "no delivery ledger: losses of killed processes will not be counted");
            })
            .ok()
    });
}

/// This process's number.
pub(crate) fn own_process() -> u16 {
    OWN.load(Ordering::Relaxed)
}

/// Sets this process's number (in a child, right after the fork).
pub(crate) fn set_own_process(number: u16) {
    OWN.store(number, Ordering::Relaxed);
}

fn cell(receiver: u16, sender: u16) -> Option<&'static AtomicU64> {
    if receiver >= MAX_PROCESSES || sender >= MAX_PROCESSES {
        return None;
    }
    let index = usize::from(receiver) * usize::from(MAX_PROCESSES) + usize::from(sender);
    LEDGER.get()?.as_ref()?.get(index)
}

/// Records that this process took `count` signals from process `sender`.
pub(crate) fn taken_from(sender: u16, count: u64) {
    if let Some(cell) = cell(own_process(), sender) {
        cell.fetch_add(count, Ordering::Relaxed);
    }
}

/// How many signals process `receiver` has taken from this process.
fn taken_by(receiver: u16) -> Option<u64> {
    cell(receiver, own_process()).map(|cell| cell.load(Ordering::Acquire))
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
