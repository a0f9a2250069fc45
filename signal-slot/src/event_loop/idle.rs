//! How an idle loop waits for work: it looks for it a while (spins), then
//! sleeps on its doorbell; and how long "a while" is, decided by what
//! spinning costs on this machine now.
//!
//! Spinning pays when the work comes from a thread that runs on another
//! core: a reply arrives within a microsecond or two, with no wake-up (which
//! takes tens of microseconds on a virtual machine whose other core is
//! halted). It costs when runnable threads outnumber cores: the spinning
//! loop holds a core that the thread it waits for may need, and each yield
//! hands its core to whatever else is runnable. Under Linux's EEVDF
//! scheduler a yield also moves the yielder's deadline a whole slice later,
//! so next to a CPU-bound program every yield costs a slice (about a
//! millisecond): measured, a system shaped like Sample Factory fell from
//! 1.3M to 50k environment steps per second with two busy programs beside
//! it, and spinning without yields or not at all kept 400-550k.
//!
//! Yields are still what makes a machine crowded only by this system's own
//! loops fast (Sample Factory's shape runs six processes on two cores:
//! without yields it runs at half the speed), so no fixed setting serves
//! both. The waiter therefore watches what its own waiting costs:
//!
//! - a yield that returns after more than [`LOST`] (750 µs: a slice of
//!   EEVDF's is 0.75 ms or more; a yield to one of this system's own loops
//!   comes back sooner), or a gap that long
//!   between two looks at the clock while spinning, means the core went to
//!   another thread for a slice: a *loss*;
//! - once [`SAMPLE`] yields and losses have been seen, the loop is
//!   *contended* if at least a quarter of them were losses (measured: a
//!   tenth of a percent of yields are that long on an idle machine, about
//!   40% next to two busy programs on two cores);
//! - a contended loop spins only briefly ([`CONTENDED_SPIN`]), never yields,
//!   then sleeps: on a busy machine a wake-up is cheap (no core has to come
//!   out of a halt) and the core goes to whoever has work;
//! - after a while (10 ms at first, doubling up to 1 s while the machine
//!   stays busy) it spins and yields again to see whether it still is: a
//!   probe costs a few slices, at most a few per second.
//!
//! Everything here is the loop's own thread's: no atomics, no system calls
//! but the yields, and the clock is read every few rounds only.

use std::time::{Duration, Instant};

use crate::status::IdleWait;

/// A yield (or a gap between two looks at the clock) longer than this lost
/// the core for a scheduler slice.
pub(crate) const LOST: Duration = Duration::from_micros(750);

/// Yields and losses seen before deciding whether the loop is contended.
pub(crate) const SAMPLE: u32 = 8;

/// How long a contended loop spins before it sleeps: long enough to catch
/// a reply from a thread that runs beside it, short next to a wake-up.
pub(crate) const CONTENDED_SPIN: Duration = Duration::from_micros(10);

/// The first and the longest time a loop stays contended before it looks
/// again.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Observations older than this are forgotten: a decision rests on what
/// the machine does now.
const WINDOW: Duration = Duration::from_millis(100);

/// The clock is read every this many rounds of the spin; a look at the
/// queues costs less.
const CLOCK_EVERY: u32 = 16;
/// A spinning loop that may yield does so every this many rounds.
const YIELD_EVERY: u32 = 64;

/// Whether spinning costs more than it brings, from what the loop's own
/// spinning and yields cost lately.
#[derive(Debug, Clone)]
pub(crate) struct Contention {
    /// Contended until then.
    until: Option<Instant>,
    /// How long the next contended period lasts.
    backoff: Duration,
    /// The window of observations now open: when it started, how many
    /// observations it has, and how many of them were losses.
    window_start: Option<Instant>,
    seen: u32,
    losses: u32,
    /// Times the loop became contended (for tests and stats).
    episodes: u64,
}

impl Default for Contention {
    fn default() -> Self {
        Contention {
            until: None,
            backoff: BACKOFF_MIN,
            window_start: None,
            seen: 0,
            losses: 0,
            episodes: 0,
        }
    }
}

impl Contention {
    /// True while the loop should not spin long nor yield.
    pub(crate) fn is_contended(&mut self, now: Instant) -> bool {
        match self.until {
            Some(until) if now < until => true,
            Some(_) => {
                // The period is over: look again, from a fresh window.
                self.until = None;
                self.open_window(now);
                false
            }
            None => false,
        }
    }

    /// Records a yield that took `took`, or (`yielded` false) a gap of
    /// `took` between two looks at the clock while spinning.
    pub(crate) fn observe(&mut self, now: Instant, took: Duration, yielded: bool) {
        let lost = took > LOST;
        if (!yielded && !lost) || self.until.is_some() {
            // Short gaps are the spin itself: they say nothing. And a
            // contended period runs its course before the loop looks again.
            return;
        }
        if self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) > WINDOW)
        {
            self.open_window(now);
        }
        self.seen += 1;
        self.losses += u32::from(lost);
        if self.seen < SAMPLE {
            return;
        }
        if self.losses * 4 >= self.seen {
            self.until = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            self.episodes += 1;
        } else {
            // Spinning pays again: the next contended period starts short.
            self.backoff = BACKOFF_MIN;
        }
        self.open_window(now);
    }

    fn open_window(&mut self, now: Instant) {
        self.window_start = Some(now);
        self.seen = 0;
        self.losses = 0;
    }

    /// How many times the loop became contended.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn episodes(&self) -> u64 {
        self.episodes
    }
}

/// A loop's way of waiting when it has nothing to do.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    policy: IdleWait,
    contention: Contention,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spun {
    /// Work arrived while spinning.
    Found,
    /// The spin ended: sleep on the doorbell (unless busy-polling).
    Sleep,
}

impl Waiter {
    pub(crate) fn new(policy: IdleWait) -> Self {
        Waiter {
            policy,
            contention: Contention::default(),
        }
    }

    pub(crate) fn policy(&self) -> IdleWait {
        self.policy
    }

    /// True if the loop never sleeps.
    pub(crate) fn busy_polls(&self) -> bool {
        matches!(self.policy, IdleWait::BusyPoll)
    }

    /// Where the next spin ends, and whether it may yield.
    fn plan(&mut self, now: Instant, deadline: Option<Instant>, poll: Duration) -> (Instant, bool) {
        let (spin, may_yield) = match self.policy {
            IdleWait::Adaptive if self.contention.is_contended(now) => (CONTENDED_SPIN, false),
            IdleWait::Adaptive => (IdleWait::DEFAULT_SPIN, true),
            IdleWait::SpinThenSleep(spin) => (spin, true),
            IdleWait::BusyPoll => (poll, true),
        };
        let until = now + spin;
        (
            deadline.map_or(until, |deadline| deadline.min(until)),
            may_yield,
        )
    }

    /// Spins until `has_work`, `deadline`, or the end of the spin this
    /// policy and the machine's state allow. `poll` bounds a busy-polling
    /// loop's spin when it has no deadline (to look at Ctrl-C).
    pub(crate) fn spin(
        &mut self,
        now: Instant,
        deadline: Option<Instant>,
        poll: Duration,
        has_work: impl Fn() -> bool,
    ) -> Spun {
        let (until, may_yield) = self.plan(now, deadline, poll);
        let watch = matches!(self.policy, IdleWait::Adaptive);
        let mut last_look = now;
        let mut round = 0u32;
        loop {
            if has_work() {
                return Spun::Found;
            }
            round = round.wrapping_add(1);
            if !round.is_multiple_of(CLOCK_EVERY) {
                std::hint::spin_loop();
                continue;
            }
            let look = Instant::now();
            if watch {
                self.contention
                    .observe(look, look.saturating_duration_since(last_look), false);
            }
            if look >= until {
                return Spun::Sleep;
            }
            last_look = look;
            if may_yield && round.is_multiple_of(YIELD_EVERY) {
                // Lets another thread of this core run: a peer on a machine
                // with more runnable threads than cores.
                std::thread::yield_now();
                if watch {
                    let back = Instant::now();
                    self.contention
                        .observe(back, back.saturating_duration_since(look), true);
                    if self.contention.is_contended(back) {
                        // The yield found another program: stop spinning.
                        return Spun::Sleep;
                    }
                    last_look = back;
                }
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_micros(3);
    const LONG: Duration = Duration::from_millis(2);

    /// Feeds `n` yields of `took` each, 10 µs apart, from `start`.
    fn yields(contention: &mut Contention, start: Instant, n: u32, took: Duration) -> Instant {
        let mut now = start;
        for _ in 0..n {
            now += Duration::from_micros(10) + took;
            contention.observe(now, took, true);
        }
        now
    }

    #[test]
    fn cheap_yields_keep_the_loop_spinning() {
        let mut contention = Contention::default();
        let start = Instant::now();
        let now = yields(&mut contention, start, 1_000, SHORT);
        assert!(!contention.is_contended(now));
        assert_eq!(contention.episodes(), 0);
    }

    #[test]
    fn a_rare_long_yield_is_noise() {
        // One loss in every 50 yields, as on a machine crowded by this
        // system's own loops.
        let mut contention = Contention::default();
        let mut now = Instant::now();
        for _ in 0..40 {
            now = yields(&mut contention, now, 49, SHORT);
            now = yields(&mut contention, now, 1, LONG);
        }
        assert_eq!(contention.episodes(), 0);
        assert!(!contention.is_contended(now));
    }

    #[test]
    fn yields_that_lose_the_core_make_the_loop_contended_then_it_looks_again() {
        let mut contention = Contention::default();
        let start = Instant::now();
        // Three yields of eight lose the core, as next to busy programs.
        let mut now = yields(&mut contention, start, 3, SHORT);
        now = yields(&mut contention, now, 2, LONG);
        now = yields(&mut contention, now, 2, SHORT);
        assert!(
            !contention.is_contended(now),
            "decided before {SAMPLE} observations"
        );
        now = yields(&mut contention, now, 1, LONG);
        assert!(contention.is_contended(now), "{contention:?}");
        assert_eq!(contention.episodes(), 1);
        // The first period is BACKOFF_MIN long.
        assert!(contention.is_contended(now + BACKOFF_MIN - Duration::from_micros(1)));
        let later = now + BACKOFF_MIN;
        assert!(!contention.is_contended(later));
        // Still busy: contended again, for twice as long.
        let again = yields(&mut contention, later, SAMPLE, LONG);
        assert!(contention.is_contended(again));
        assert_eq!(contention.episodes(), 2);
        assert!(contention.is_contended(again + BACKOFF_MIN * 2 - Duration::from_micros(1)));
        assert!(!contention.is_contended(again + BACKOFF_MIN * 2));
    }

    #[test]
    fn the_backoff_is_bounded_and_resets_once_yields_are_cheap() {
        let mut contention = Contention::default();
        let mut now = Instant::now();
        for _ in 0..20 {
            now = yields(&mut contention, now, SAMPLE, LONG);
            assert!(contention.is_contended(now));
            now += BACKOFF_MAX;
            assert!(!contention.is_contended(now));
        }
        assert_eq!(contention.backoff, BACKOFF_MAX);
        // The load went away: cheap yields, then a busy spell starts short.
        now = yields(&mut contention, now, SAMPLE, SHORT);
        assert_eq!(contention.backoff, BACKOFF_MIN);
        now = yields(&mut contention, now, SAMPLE, LONG);
        assert!(contention.is_contended(now));
        assert!(!contention.is_contended(now + BACKOFF_MIN));
    }

    #[test]
    fn preemption_while_spinning_counts_and_short_gaps_do_not() {
        let mut contention = Contention::default();
        let mut now = Instant::now();
        for _ in 0..10_000 {
            now += Duration::from_micros(1);
            contention.observe(now, Duration::from_micros(1), false);
        }
        assert!(!contention.is_contended(now));
        for _ in 0..SAMPLE {
            now += LONG;
            contention.observe(now, LONG, false);
        }
        assert!(contention.is_contended(now));
    }

    #[test]
    fn old_observations_are_forgotten() {
        let mut contention = Contention::default();
        let mut now = Instant::now();
        // Losses spread thinner than the window never add up.
        for _ in 0..50 {
            now += WINDOW + Duration::from_millis(1);
            contention.observe(now, LONG, true);
        }
        assert_eq!(contention.episodes(), 0);
    }

    #[test]
    fn a_spin_returns_when_work_arrives_or_the_spin_ends() {
        use std::cell::Cell;
        // A spin long enough that no preemption on a busy machine ends it.
        let mut patient = Waiter::new(IdleWait::SpinThenSleep(Duration::from_secs(30)));
        let looks = Cell::new(0u32);
        let found = patient.spin(Instant::now(), None, Duration::from_secs(60), || {
            looks.set(looks.get() + 1);
            looks.get() == 100
        });
        assert_eq!(found, Spun::Found);
        let mut waiter = Waiter::new(IdleWait::Adaptive);
        let started = Instant::now();
        let spun = waiter.spin(started, None, Duration::from_millis(50), || false);
        assert_eq!(spun, Spun::Sleep);
        // A deadline before the spin's end ends it.
        let deadline = Instant::now();
        assert_eq!(
            waiter.spin(deadline, Some(deadline), Duration::from_millis(50), || {
                false
            }),
            Spun::Sleep
        );
    }

    #[test]
    fn a_contended_loop_spins_briefly_and_never_yields() {
        let mut waiter = Waiter::new(IdleWait::Adaptive);
        let poll = Duration::from_millis(50);
        let now = Instant::now();
        assert_eq!(
            waiter.plan(now, None, poll),
            (now + IdleWait::DEFAULT_SPIN, true)
        );
        let now = yields(&mut waiter.contention, now, SAMPLE, LONG);
        assert_eq!(waiter.plan(now, None, poll), (now + CONTENDED_SPIN, false));
        // A fixed spin is what it says, whatever the machine does.
        let mut fixed = Waiter::new(IdleWait::SpinThenSleep(Duration::from_micros(7)));
        yields(&mut fixed.contention, now, SAMPLE, LONG);
        assert_eq!(
            fixed.plan(now, None, poll),
            (now + Duration::from_micros(7), true)
        );
        // A deadline before the spin's end ends it.
        let soon = now + Duration::from_micros(1);
        assert_eq!(waiter.plan(now, Some(soon), poll).0, soon);
    }
}
