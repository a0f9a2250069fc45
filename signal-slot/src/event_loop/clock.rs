//! The loop's clock: the timers running on it, by deadline, and its tight
//! loops. What a timer does when it fires is the timer object's business
//! (`timer.rs`): the loop only calls it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a timer (or a tight loop) does when it fires: emits its signal.
pub(crate) type Fire = Arc<dyn Fn() + Send + Sync>;

/// A running timer on its way to another loop.
pub(crate) struct MovingTimer(Active);

struct Active {
    id: Arc<str>,
    fire: Fire,
    interval: Duration,
    single_shot: bool,
    deadline: Instant,
    generation: u64,
}

/// The running timers of one loop, by deadline.
#[derive(Default)]
pub(crate) struct Timers {
    active: HashMap<Arc<str>, Active>,
    /// Deadlines; entries whose generation is no longer active are stale and
    /// skipped when they surface.
    heap: BinaryHeap<Reverse<(Instant, u64, Arc<str>)>>,
    next_generation: u64,
}

impl Timers {
    pub(crate) fn start(
        &mut self,
        id: Arc<str>,
        fire: Fire,
        interval: Duration,
        single_shot: bool,
        now: Instant,
    ) {
        self.next_generation += 1;
        let generation = self.next_generation;
        let deadline = now + interval;
        self.heap.push(Reverse((deadline, generation, id.clone())));
        self.active.insert(
            id.clone(),
            Active {
                id,
                fire,
                interval,
                single_shot,
                deadline,
                generation,
            },
        );
    }

    /// Stops a timer; returns whether it was running.
    pub(crate) fn remove(&mut self, id: &str) -> bool {
        self.active.remove(id).is_some()
    }

    /// Takes a running timer off this loop, to run on another (its object
    /// moves there), due when it was due here.
    pub(crate) fn take(&mut self, id: &str) -> Option<MovingTimer> {
        self.active.remove(id).map(MovingTimer)
    }

    /// A timer taken off another loop.
    pub(crate) fn resume(&mut self, MovingTimer(mut active): MovingTimer) {
        let id = active.id.clone();
        self.next_generation += 1;
        active.generation = self.next_generation;
        self.heap
            .push(Reverse((active.deadline, active.generation, id.clone())));
        self.active.insert(id, active);
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, generation, id))) = self.heap.peek() {
            let live = self
                .active
                .get(id)
                .is_some_and(|active| active.generation == *generation);
            if live {
                break;
            }
            self.heap.pop();
        }
    }

    /// When the next timer is due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // Stale entries only make the loop wake early, never late.
        self.heap.peek().map(|Reverse((deadline, _, _))| *deadline)
    }

    /// The timers due at `now` (to fire), rescheduling the periodic ones on
    /// their grid.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Fire> {
        let mut due = Vec::new();
        loop {
            self.drop_stale();
            let Some(Reverse((deadline, _, _))) = self.heap.peek() else {
                break;
            };
            if *deadline > now {
                break;
            }
            let Some(Reverse((_, _, id))) = self.heap.pop() else {
                break;
            };
            let Some(active) = self.active.get_mut(&id) else {
                continue;
            };
            due.push(active.fire.clone());
            if active.single_shot {
                self.active.remove(&id);
                continue;
            }
            active.deadline = next_deadline(active.deadline, active.interval, now);
            self.heap
                .push(Reverse((active.deadline, active.generation, id)));
        }
        due
    }
}

/// The first point of the grid `deadline + k × interval` (k ≥ 1) after `now`,
/// or the next one if the loop is on time.
fn next_deadline(deadline: Instant, interval: Duration, now: Instant) -> Instant {
    let next = deadline + interval;
    if next > now || interval.is_zero() {
        return next.max(deadline);
    }
    let late = now.duration_since(deadline).as_nanos();
    let periods = late / interval.as_nanos() + 1;
    let skip = interval.as_nanos() * periods;
    deadline + Duration::from_nanos(u64::try_from(skip).unwrap_or(u64::MAX))
}

impl Timers {
    /// Fires the timers that are due; true if one was.
    pub(crate) fn fire_due(&mut self) -> bool {
        // No clock read without a timer: it costs as much as a message.
        if self.next_deadline().is_none() {
            return false;
        }
        let due = self.take_due(Instant::now());
        let fired = !due.is_empty();
        for fire in due {
            fire();
        }
        fired
    }
}

/// Runs one iteration of each tight loop; true if there is one.
pub(crate) fn run_tight_loops(tight_loops: &BTreeMap<Arc<str>, Fire>) -> bool {
    for iterate in tight_loops.values() {
        iterate();
    }
    !tight_loops.is_empty()
}

#[cfg(test)]
mod tests {
    use super::next_deadline;
    use std::time::{Duration, Instant};

    #[test]
    fn periodic_deadlines_stay_on_their_grid() {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        // On time: the next point of the grid.
        assert_eq!(next_deadline(start, period, start), start + period);
        // 35 ms late: skip to 40 ms, not 10 ms after now.
        let late = start + Duration::from_millis(35);
        assert_eq!(
            next_deadline(start, period, late),
            start + Duration::from_millis(40)
        );
        // Exactly on a grid point: the one after it.
        let on_point = start + Duration::from_millis(20);
        assert_eq!(
            next_deadline(start, period, on_point),
            start + Duration::from_millis(30)
        );
    }
}
