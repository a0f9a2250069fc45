//! The numbers a running system keeps about itself: what each loop handled
//! and how long its slots took, what was dropped and why.
//!
//! Counting is always on and costs a few relaxed stores per slot run: each
//! counter has one writer (the loop's thread, or whoever counts a drop with
//! an atomic add), and any thread reads them without asking the loop, so a
//! loop stuck in a slot still shows its numbers. The public types here are
//! snapshots: [`LoopHandle::stats`](crate::LoopHandle::stats) for one loop,
//! [`Topology::capture`](crate::Topology::capture) for every loop of every
//! process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::protocol::DropReason;

mod activity;
pub use activity::{DEFAULT_SLOW_SLOT, DEFAULT_STUCK_AFTER};
pub(crate) use activity::{LoopActivity, Pulse, Running, nanos};

/// Signals dropped, by reason.
///
/// ```
/// use signal_slot::{DropCounts, DropReason};
///
/// let mut drops = DropCounts::default();
/// drops.add(DropReason::Full, 3);
/// drops.add(DropReason::Replaced, 2);
/// assert_eq!(drops.get(DropReason::Full), 3);
/// assert_eq!(drops.total(), 5);
/// let reasons: Vec<_> = drops.iter().map(|(reason, _)| reason.name()).collect();
/// assert_eq!(reasons, ["full", "replaced"]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounts {
    /// The signals dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason as usize]
    }

    /// Counts `count` more signals dropped for `reason`.
    pub fn add(&mut self, reason: DropReason, count: u64) {
        let slot = &mut self.counts[reason as usize];
        *slot = slot.saturating_add(count);
    }

    /// Every signal dropped, whatever the reason.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0, |sum, count| sum.saturating_add(*count))
    }

    /// The reasons with a drop, each with its count, in the order of
    /// [`DropReason::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|reason| (*reason, self.get(*reason)))
            .filter(|(_, count)| *count > 0)
    }
}

impl std::ops::AddAssign for DropCounts {
    fn add_assign(&mut self, other: DropCounts) {
        for reason in DropReason::ALL {
            self.add(reason, other.get(reason));
        }
    }
}

impl std::iter::Sum for DropCounts {
    fn sum<I: Iterator<Item = DropCounts>>(iter: I) -> DropCounts {
        iter.fold(DropCounts::default(), |mut sum, counts| {
            sum += counts;
            sum
        })
    }
}

impl std::fmt::Display for DropCounts {
    /// `none`, or each reason with its count: `full 3, replaced 2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut any = false;
        for (reason, count) in self.iter() {
            if any {
                f.write_str(", ")?;
            }
            write!(f, "{} {count}", reason.name())?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// The counters behind [`DropCounts`], added to from any thread.
#[derive(Default)]
pub(crate) struct AtomicDropCounts {
    counts: [AtomicU64; DropReason::ALL.len()],
}

impl AtomicDropCounts {
    pub(crate) fn add(&self, reason: DropReason, count: u64) {
        self.counts[reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DropCounts {
        DropCounts {
            counts: std::array::from_fn(|at| self.counts[at].load(Ordering::Relaxed)),
        }
    }
}

/// Buckets of a run-time histogram: bucket `b` holds the runs of under
/// 2^(b+1) ns (and at least 2^b ns, but for the first): up to 2^40 ns, 18
/// minutes; the last bucket holds anything longer.
const BUCKETS: usize = 40;

/// A quick slot (its last timed run under [`LONG_RUN`]) has one run in
/// this many timed: a clock read costs as much as such a run.
pub(crate) const TIME_EVERY: u64 = 16;

/// A run at least this long makes its slot's next runs timed, every one.
pub(crate) const LONG_RUN: u64 = 20_000;

/// How long one slot's runs took: a count of runs, and of the timed ones a
/// sum, the longest, and a histogram of powers of two, written by the
/// loop's thread alone.
pub(crate) struct SlotClock {
    runs: AtomicU64,
    timed: AtomicU64,
    /// The last timed run was long: time every run.
    long: std::sync::atomic::AtomicBool,
    total_nanos: AtomicU64,
    max_nanos: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for SlotClock {
    fn default() -> Self {
        SlotClock {
            runs: AtomicU64::new(0),
            timed: AtomicU64::new(0),
            long: std::sync::atomic::AtomicBool::new(false),
            total_nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Adds to a counter that only the calling thread writes: a load and a
/// store, no read-modify-write.
#[inline]
pub(super) fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl SlotClock {
    /// Whether the next run is to be timed: every run of a slot whose last
    /// timed run was long, one in [`TIME_EVERY`] of a quick one's.
    #[inline]
    pub(crate) fn times_next(&self) -> bool {
        self.runs.load(Ordering::Relaxed).is_multiple_of(TIME_EVERY)
            || self.long.load(Ordering::Relaxed)
    }

    /// Counts a run that was not timed; returns the time it is taken to
    /// have run (the mean of the timed ones). Only the loop's thread calls
    /// it.
    #[inline]
    pub(crate) fn count(&self) -> u64 {
        bump(&self.runs, 1);
        self.total_nanos.load(Ordering::Relaxed) / self.timed.load(Ordering::Relaxed).max(1)
    }

    /// Counts a timed run of `nanos`. Only the loop's thread calls it.
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        bump(&self.runs, 1);
        bump(&self.timed, 1);
        self.long.store(nanos >= LONG_RUN, Ordering::Relaxed);
        bump(&self.total_nanos, nanos);
        if nanos > self.max_nanos.load(Ordering::Relaxed) {
            self.max_nanos.store(nanos, Ordering::Relaxed);
        }
        let bucket = (u64::BITS - nanos.leading_zeros()).saturating_sub(1) as usize;
        bump(&self.buckets[bucket.min(BUCKETS - 1)], 1);
    }

    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The runs so far of the slot `slot` of `object`.
    pub(crate) fn snapshot(&self, object: &str, slot: &str) -> SlotStats {
        let buckets: [u64; BUCKETS] =
            std::array::from_fn(|at| self.buckets[at].load(Ordering::Relaxed));
        let timed = buckets.iter().sum::<u64>();
        let runs = timed;
        let max = Duration::from_nanos(self.max_nanos.load(Ordering::Relaxed));
        // The bucket's upper bound, never past the longest run seen.
        let quantile = |q: f64| -> Duration {
            if runs == 0 {
                return Duration::ZERO;
            }
            let rank = ((runs as f64 * q).ceil() as u64).clamp(1, runs);
            let mut seen = 0;
            for (at, count) in buckets.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    if at == BUCKETS - 1 {
                        return max;
                    }
                    let bound = Duration::from_nanos(1u64 << (at + 1));
                    return bound.min(max);
                }
            }
            max
        };
        let all = self.runs.load(Ordering::Relaxed).max(timed);
        // The timed runs' time, for every run.
        let total =
            self.total_nanos.load(Ordering::Relaxed) as f64 * all as f64 / timed.max(1) as f64;
        SlotStats {
            object: object.to_owned(),
            slot: slot.to_owned(),
            runs: all,
            timed,
            total: Duration::from_nanos(total as u64),
            max,
            p50: quantile(0.50),
            p99: quantile(0.99),
        }
    }
}

/// How full one process's ring to a loop of another process is: what it
/// wrote that the loop has not taken yet, against the ring's limits. A
/// ring that stays full is a loop that cannot keep up with that process:
/// what finds no room is dropped (and counted as
/// [`DropReason::Full`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RingFill {
    /// The receiving loop.
    pub to_loop: String,
    /// Signals waiting in the ring.
    pub signals: u64,
    /// The most signals it holds (the loop's `capacity`).
    pub max_signals: u64,
    /// Bytes of the ring in use.
    pub bytes: u64,
    /// The ring's size in bytes.
    pub max_bytes: u64,
    /// Bytes of large records (each in a segment of its own) sent and not
    /// yet freed by the loop.
    pub large_bytes: u64,
    /// The most such bytes waiting from one process (the loop's
    /// `large_inbox_bytes`).
    pub max_large_bytes: u64,
}

impl RingFill {
    /// The fuller of the ring's two limits, signals and bytes, from 0.0
    /// (empty) to 1.0 (full).
    pub fn fraction(&self) -> f64 {
        let of = |used: u64, max: u64| {
            if max == 0 {
                0.0
            } else {
                used as f64 / max as f64
            }
        };
        of(self.signals, self.max_signals)
            .max(of(self.bytes, self.max_bytes))
            .min(1.0)
    }
}

/// How a slot's runs went so far.
///
/// Run times are of the timed runs: every run of a slot whose last timed
/// run took 20 µs or more, one in 16 runs of a quicker slot (a clock read
/// costs as much as such a run), and every run that the process's watch saw
/// past the loop's `slow_slot`. The quantiles come from a histogram of
/// powers of two: each is the upper bound of its bucket (at most twice the
/// true value), never more than [`max`](Self::max).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlotStats {
    /// The object's id.
    pub object: String,
    /// The slot's name.
    pub slot: String,
    /// How many times it ran.
    pub runs: u64,
    /// How many of its runs were timed.
    pub timed: u64,
    /// Its time in all, over every run (the timed runs' time, in
    /// proportion).
    pub total: Duration,
    /// Its longest timed run.
    pub max: Duration,
    /// Half of its runs took at most this long.
    pub p50: Duration,
    /// 99% of its runs took at most this long.
    pub p99: Duration,
}

/// What a loop did so far, as the process it runs in counts it.
///
/// Every number is cumulative: a rate is the difference of two snapshots
/// over the time between them, as `sample_factory --top` shows.
///
/// ```
/// use signal_slot::{EventLoop, event_loop_object};
///
/// #[event_loop_object]
/// struct Counter { seen: u64 }
///
/// #[event_loop_object]
/// impl Counter {
///     #[signal]
///     fn tick(n: u64);
///
///     #[slot]
///     fn on_tick(&mut self, n: u64) {
///         self.seen += n;
///     }
/// }
///
/// let mut main = EventLoop::new("stats_example")?;
/// let counter = main.add_with_id("counter", Counter { seen: 0 })?;
/// counter.tick().connect(counter.on_tick())?;
/// for n in 1..=3 {
///     counter.tick().emit(n);
/// }
/// assert_eq!(main.stats()?.queued, 3);
/// // One pass of the loop takes what waits.
/// assert!(main.process_events().is_none());
/// let stats = main.stats()?;
/// assert_eq!(stats.handled, 3);
/// assert_eq!(stats.drops.total(), 0);
/// let slot = stats.slot("counter", "on_tick").expect("it ran");
/// assert_eq!(slot.runs, 3);
/// assert!(slot.p50 <= slot.max);
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoopStats {
    /// The loop's name.
    pub name: String,
    /// Slot runs so far: each receiver of each signal, and each call.
    pub handled: u64,
    /// Emissions of the signals of its objects (those attached now) that
    /// had a connection to go to; a batch counts for its size.
    pub emitted: u64,
    /// Signals for this loop that its process dropped, by reason. Other
    /// processes count what they drop for it themselves (a full ring, say):
    /// [`Topology::drops`](crate::Topology::drops) adds every process's.
    pub drops: DropCounts,
    /// Signals from the loop's own process waiting for it now.
    pub queued: u64,
    /// The most signals from its own process ever waiting at once.
    pub queued_high_water: u64,
    /// Signals from other processes waiting in its rings when it last
    /// looked.
    pub queued_from_processes: u64,
    /// The time its slots ran, in all.
    pub busy: Duration,
    /// Slot runs that took longer than the loop's
    /// [`slow_slot`](crate::EventLoopBuilder::slow_slot) threshold.
    pub slow_runs: u64,
    /// How long the slot that runs now has run: zero if none runs.
    pub running: Duration,
    /// The loop runs in a child process whose parent listens to it (see
    /// [`EventLoopProcess::deaf_after`](crate::EventLoopProcess::deaf_after))
    /// and finds it deaf now. Known in the parent's process: its
    /// [`Topology::capture`](crate::Topology::capture) and
    /// [`LoopHandle::stats`](crate::LoopHandle::stats) say so.
    pub deaf: bool,
    /// The time since the loop was created.
    pub age: Duration,
    /// Each slot that ran, with its run times.
    pub slots: Vec<SlotStats>,
}

impl LoopStats {
    /// The share of its life the loop spent in slots, from 0 to 1.
    pub fn busy_fraction(&self) -> f64 {
        if self.age.is_zero() {
            return 0.0;
        }
        (self.busy.as_secs_f64() / self.age.as_secs_f64()).clamp(0.0, 1.0)
    }

    /// The slot `slot` of the object `object`, if it ran.
    pub fn slot(&self, object: &str, slot: &str) -> Option<&SlotStats> {
        self.slots
            .iter()
            .find(|stats| stats.object == object && stats.slot == slot)
    }

    /// The slot with the longest run so far.
    pub fn slowest_slot(&self) -> Option<&SlotStats> {
        self.slots.iter().max_by_key(|stats| stats.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_bounds_never_past_the_longest_run() {
        let clock = SlotClock::default();
        // 98 quick runs (~1 µs), two slow ones (~1 ms and 5 ms).
        for _ in 0..98 {
            clock.record(1_000);
        }
        clock.record(1_000_000);
        clock.record(5_000_000);
        let stats = clock.snapshot("object", "slot");
        assert_eq!(stats.runs, 100);
        assert_eq!(stats.max, Duration::from_millis(5));
        assert_eq!(stats.total, Duration::from_nanos(98 * 1_000 + 6_000_000));
        // 1000 ns is in the bucket [512, 1024) ns.
        assert_eq!(stats.p50, Duration::from_nanos(1024));
        // The 99th run of 100 is the 1 ms one: bucket [2^19, 2^20) ns.
        assert_eq!(stats.p99, Duration::from_nanos(1 << 20));
        assert!(stats.p99 <= stats.max);
    }

    #[test]
    fn quick_runs_are_timed_one_in_sixteen_and_after_a_long_run_every_run() {
        let clock = SlotClock::default();
        // The loop's rule: time a run if `times_next`, else only count it.
        let mut run = |nanos: u64| {
            let timed = clock.times_next();
            if timed {
                clock.record(nanos);
            } else {
                clock.count();
            }
            timed
        };
        // A long first run, then quick ones: the first two are timed, then
        // one in 16 (the 17th and 33rd runs).
        let pattern: Vec<bool> = std::iter::once(LONG_RUN)
            .chain(std::iter::repeat_n(1_000, 47))
            .map(&mut run)
            .collect();
        let timed: Vec<usize> = (0..48).filter(|&i| pattern[i]).collect();
        assert_eq!(timed, [0, 1, 16, 32]);
        // A long run among quick ones: every run after it is timed until
        // one is quick again.
        assert!(run(LONG_RUN * 2), "run 48 is one in 16");
        assert!(run(LONG_RUN), "after a long run");
        assert!(run(1_000), "after a long run");
        assert!(!run(1_000), "quick again");
        assert_eq!(clock.snapshot("o", "s").timed, 7);
    }

    #[test]
    fn an_empty_clock_says_zero_and_extremes_stay_in_range() {
        let clock = SlotClock::default();
        let empty = clock.snapshot("o", "s");
        assert_eq!(
            (empty.runs, empty.p50, empty.max),
            (0, Duration::ZERO, Duration::ZERO)
        );
        clock.record(0);
        clock.record(u64::MAX);
        let stats = clock.snapshot("o", "s");
        assert_eq!(stats.runs, 2);
        assert_eq!(stats.p99, Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn drop_counts_add_up_by_reason() {
        let counter = AtomicDropCounts::default();
        counter.add(DropReason::Full, 2);
        counter.add(DropReason::Lost, 1);
        counter.add(DropReason::Full, 3);
        let counts = counter.snapshot();
        assert_eq!(counts.get(DropReason::Full), 5);
        assert_eq!(counts.total(), 6);
        let sum: DropCounts = [counts, counts].into_iter().sum();
        assert_eq!(sum.get(DropReason::Lost), 2);
        assert_eq!(sum.to_string(), "full 10, lost 2");
        assert_eq!(DropCounts::default().to_string(), "none");
    }
}
