//! What a loop's thread counts about the loop as a whole, and what the
//! process's watch and a parent's listener read of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{DropCounts, LoopStats, SlotStats, bump};

/// The default time after which a slot that still runs is reported as
/// slow: see [`EventLoopBuilder::slow_slot`](crate::EventLoopBuilder::slow_slot).
pub const DEFAULT_SLOW_SLOT: Duration = Duration::from_secs(1);

/// The default time after which a loop with signals waiting that has taken
/// none is reported as stuck: see
/// [`EventLoopBuilder::stuck_after`](crate::EventLoopBuilder::stuck_after).
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(5);

/// What a process tells its parent of one of its loops, a few times a
/// deafness threshold (see `EventLoopProcess::deaf_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pulse {
    /// Slot runs so far.
    pub(crate) handled: u64,
    /// How long the slot that runs now has run (zero if none runs).
    pub(crate) running: Duration,
    /// Signals from its own process and in its rings, waiting.
    pub(crate) waiting: u64,
}

/// What a loop's thread counts about the loop as a whole, and what the
/// process's watch reads to report a slow slot or a stuck loop.
pub(crate) struct LoopActivity {
    born: Instant,
    handled: AtomicU64,
    busy_nanos: AtomicU64,
    queued_from_processes: AtomicU64,
    /// The slot that runs now: its object's instance and its index.
    running_instance: AtomicU64,
    running_slot: AtomicU64,
    /// When it started, in nanoseconds since `born`, plus one; 0 while no
    /// slot runs.
    running_since: AtomicU64,
    /// Slot runs that took longer than `slow_after`.
    slow_runs: AtomicU64,
    /// Set once the loop runs (and not before: a loop that waits for its
    /// `exec` is not stuck).
    started: std::sync::atomic::AtomicBool,
    slow_after: AtomicU64,
    stuck_after: AtomicU64,
    /// Set in a parent while it finds the loop (of its child) deaf.
    deaf: std::sync::atomic::AtomicBool,
    /// The start (`running_since`) of the run the watch saw past the
    /// threshold.
    flagged: AtomicU64,
}

impl Default for LoopActivity {
    fn default() -> Self {
        LoopActivity {
            born: Instant::now(),
            handled: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            queued_from_processes: AtomicU64::new(0),
            running_instance: AtomicU64::new(0),
            running_slot: AtomicU64::new(0),
            running_since: AtomicU64::new(0),
            slow_runs: AtomicU64::new(0),
            started: std::sync::atomic::AtomicBool::new(false),
            slow_after: AtomicU64::new(nanos(DEFAULT_SLOW_SLOT)),
            stuck_after: AtomicU64::new(nanos(DEFAULT_STUCK_AFTER)),
            deaf: std::sync::atomic::AtomicBool::new(false),
            flagged: AtomicU64::new(0),
        }
    }
}

/// A duration in nanoseconds, saturated.
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A slot that has run for a while, as the watch sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Running {
    /// The object's instance and the slot's index.
    pub(crate) instance: u64,
    pub(crate) slot: u16,
    /// Since when (nanoseconds since the loop was created, plus one): the
    /// run's identity.
    pub(crate) since: u64,
    pub(crate) elapsed: Duration,
}

impl LoopActivity {
    /// The thresholds of the watch's reports.
    pub(crate) fn set_thresholds(&self, slow_after: Duration, stuck_after: Duration) {
        self.slow_after.store(nanos(slow_after), Ordering::Relaxed);
        self.stuck_after
            .store(nanos(stuck_after), Ordering::Relaxed);
    }

    pub(crate) fn slow_after(&self) -> Duration {
        Duration::from_nanos(self.slow_after.load(Ordering::Relaxed))
    }

    pub(crate) fn stuck_after(&self) -> Duration {
        Duration::from_nanos(self.stuck_after.load(Ordering::Relaxed))
    }

    /// The parent finds the loop (of its child) deaf, or hears it again.
    pub(crate) fn set_deaf(&self, deaf: bool) {
        self.deaf.store(deaf, Ordering::Relaxed);
    }

    pub(crate) fn is_deaf(&self) -> bool {
        self.deaf.load(Ordering::Relaxed)
    }

    /// The loop runs from now on.
    pub(crate) fn start(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    pub(crate) fn has_started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// The slot `slot` of the object `instance` starts to run at `at`. Only
    /// the loop's thread calls it.
    #[inline]
    pub(crate) fn begin(&self, instance: u64, slot: u16, at: Instant) {
        // After the last run's `running_since = 0`, for a reader that sees
        // what follows (see `running`).
        std::sync::atomic::fence(Ordering::Release);
        self.running_instance.store(instance, Ordering::Relaxed);
        self.running_slot.store(u64::from(slot), Ordering::Relaxed);
        let since = nanos(at.saturating_duration_since(self.born)).saturating_add(1);
        self.running_since.store(since, Ordering::Release);
    }

    /// The slot that began last ran for `nanos` (measured if `timed`, taken
    /// to be its slot's mean otherwise); true if it was timed and slow.
    /// Only the loop's thread calls it.
    #[inline]
    pub(crate) fn ran(&self, nanos: u64, timed: bool) -> bool {
        self.running_since.store(0, Ordering::Release);
        bump(&self.handled, 1);
        bump(&self.busy_nanos, nanos);
        let slow = timed && nanos > self.slow_after.load(Ordering::Relaxed);
        if slow {
            bump(&self.slow_runs, 1);
        }
        slow
    }

    /// The watch saw the run that started at `since` (see [`Running`])
    /// past the loop's threshold: its end is to be timed.
    pub(crate) fn flag(&self, since: u64) {
        self.flagged.store(since, Ordering::Relaxed);
    }

    /// True if the watch flagged the slot that runs now. Only the loop's
    /// thread calls it.
    #[inline]
    pub(crate) fn flagged(&self) -> bool {
        let flagged = self.flagged.load(Ordering::Relaxed);
        flagged != 0 && flagged == self.running_since.load(Ordering::Relaxed)
    }

    /// The slot that runs now, if one does (and if it still ran while it
    /// was read: its fields are read between two looks at `running_since`,
    /// as in a sequence lock).
    pub(crate) fn running(&self) -> Option<Running> {
        let since = self.running_since.load(Ordering::Acquire);
        if since == 0 {
            return None;
        }
        let instance = self.running_instance.load(Ordering::Relaxed);
        let slot = self.running_slot.load(Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Acquire);
        if self.running_since.load(Ordering::Relaxed) != since {
            return None;
        }
        let started = self.born + Duration::from_nanos(since - 1);
        Some(Running {
            instance,
            slot: u16::try_from(slot).unwrap_or(u16::MAX),
            since,
            elapsed: started.elapsed(),
        })
    }

    /// Slot runs so far.
    pub(crate) fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    /// The loop's pulse, with the signals of its own process waiting.
    pub(crate) fn pulse(&self, queued: u64) -> Pulse {
        Pulse {
            handled: self.handled(),
            running: self
                .running()
                .map_or(Duration::ZERO, |running| running.elapsed),
            waiting: queued + self.queued_from_processes.load(Ordering::Relaxed),
        }
    }

    /// The loop saw `signals` from other processes waiting in its rings.
    /// Only the loop's thread calls it.
    #[inline]
    pub(crate) fn saw(&self, signals: u64) {
        self.queued_from_processes.store(signals, Ordering::Relaxed);
    }

    /// The loop's numbers, with what only its callers know.
    pub(crate) fn snapshot(
        &self,
        name: &str,
        drops: DropCounts,
        (queued, queued_high_water): (u64, u64),
        slots: Vec<SlotStats>,
    ) -> LoopStats {
        LoopStats {
            name: name.to_owned(),
            handled: self.handled.load(Ordering::Relaxed),
            emitted: 0,
            drops,
            queued,
            queued_high_water: queued_high_water.max(queued),
            queued_from_processes: self.queued_from_processes.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed)),
            slow_runs: self.slow_runs.load(Ordering::Relaxed),
            running: self
                .running()
                .map_or(Duration::ZERO, |running| running.elapsed),
            deaf: self.is_deaf(),
            age: self.born.elapsed(),
            slots,
        }
    }
}
