//! Timers and tight loops: objects that emit on their loop's clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::Error;
use crate::event_loop::LoopHandle;
use crate::object::{Handle, ObjectHandle};
use crate::signal::{Signal, Slot};

#[crate::event_loop_object]
pub(crate) struct TimerObject {
    interval: Duration,
    single_shot: bool,
}

#[crate::event_loop_object]
impl TimerObject {
    #[signal]
    fn timeout();

    #[slot]
    fn start(&mut self, ctx: &mut Context<Self>) {
        let handle = ctx.handle().clone();
        ctx.state()
            .timers
            .start(handle, self.interval, self.single_shot, Instant::now());
    }

    #[slot]
    fn stop(&mut self, ctx: &mut Context<Self>) {
        let id = ctx.handle().shared.id.clone();
        ctx.state().timers.remove(&id);
    }

    #[slot]
    fn set_interval(&mut self, ctx: &mut Context<Self>, interval: Duration) {
        self.interval = interval;
        let id = ctx.handle().shared.id.clone();
        if ctx.state().timers.remove(&id) {
            self.start(ctx);
        }
    }
}

/// A timer on an event loop: emits [`timeout`](Self::timeout) after its
/// interval, once (single-shot) or periodically.
///
/// Periodic timers do not drift: the n-th timeout is due at
/// `start + n × interval`, however late the previous one was handled; when
/// the loop falls behind by whole periods, the missed ticks are skipped, not
/// bunched.
///
/// ```
/// use std::time::Duration;
/// use signal_slot::{EventLoop, Timer};
///
/// let mut main = EventLoop::new("timer_example")?;
/// let stop = Timer::single_shot(&main, Duration::from_millis(20))?;
/// stop.timeout().connect(main.stop_slot())?;
/// stop.start();
/// main.exec();
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Timer {
    handle: Handle<TimerObject>,
}

impl Timer {
    /// A periodic timer on `event_loop`, stopped until [`start`](Self::start).
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{Context, EventLoop, Timer, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Ticks { count: u32 }
    ///
    /// #[event_loop_object]
    /// impl Ticks {
    ///     #[slot]
    ///     fn on_tick(&mut self, ctx: &mut Context<Self>) {
    ///         self.count += 1;
    ///         if self.count == 3 {
    ///             ctx.stop_loop();
    ///         }
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("timer_new_example")?;
    /// let ticks = main.add(Ticks { count: 0 })?;
    /// let timer = Timer::new(&main, Duration::from_millis(2))?;
    /// timer.timeout().connect(ticks.on_tick())?;
    /// timer.start();
    /// assert!(main.exec().is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`LoopHandle::add`].
    pub fn new(event_loop: &LoopHandle, interval: Duration) -> Result<Timer, Error> {
        Self::create(event_loop, interval, false)
    }

    /// A single-shot timer on `event_loop`: after [`start`](Self::start) it
    /// emits `timeout` once, after `delay`. See [`Timer`] for an example.
    ///
    /// # Errors
    ///
    /// As for [`LoopHandle::add`].
    pub fn single_shot(event_loop: &LoopHandle, delay: Duration) -> Result<Timer, Error> {
        Self::create(event_loop, delay, true)
    }

    fn create(
        event_loop: &LoopHandle,
        interval: Duration,
        single_shot: bool,
    ) -> Result<Timer, Error> {
        let handle = event_loop.add(TimerObject {
            interval,
            single_shot,
        })?;
        Ok(Timer { handle })
    }

    /// Starts (or restarts) the timer: the first timeout is due one interval
    /// from when the loop handles this call. Does nothing once the loop ended.
    pub fn start(&self) {
        let _ = self.handle.start().invoke(());
    }

    /// Stops the timer. Does nothing once the loop ended.
    pub fn stop(&self) {
        let _ = self.handle.stop().invoke(());
    }

    /// Changes the interval; a running timer restarts with it.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use signal_slot::{EventLoop, Timer};
    ///
    /// let mut main = EventLoop::new("set_interval_example")?;
    /// // Due in an hour, until the interval changes to a millisecond.
    /// let timer = Timer::single_shot(&main, Duration::from_secs(3600))?;
    /// timer.timeout().connect(main.stop_slot())?;
    /// timer.start();
    /// timer.set_interval(Duration::from_millis(1));
    /// let started = Instant::now();
    /// main.exec();
    /// assert!(started.elapsed() < Duration::from_secs(60));
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn set_interval(&self, interval: Duration) {
        let _ = self.handle.set_interval().invoke(interval);
    }

    /// Emitted when the timer fires.
    pub fn timeout(&self) -> Signal<'_, ()> {
        self.handle.timeout().signal()
    }

    /// [`start`](Self::start) as a slot.
    pub fn start_slot(&self) -> Slot<'_, ()> {
        self.handle.start()
    }

    /// [`stop`](Self::stop) as a slot.
    pub fn stop_slot(&self) -> Slot<'_, ()> {
        self.handle.stop()
    }

    /// The timer's object: its id, and `detach` to remove it.
    pub fn object(&self) -> &ObjectHandle {
        &self.handle
    }
}

/// A running timer on its way to another loop.
pub(crate) struct MovingTimer(Active);

struct Active {
    handle: Handle<TimerObject>,
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
        handle: Handle<TimerObject>,
        interval: Duration,
        single_shot: bool,
        now: Instant,
    ) {
        let id = handle.shared.id.clone();
        self.next_generation += 1;
        let generation = self.next_generation;
        let deadline = now + interval;
        self.heap.push(Reverse((deadline, generation, id.clone())));
        self.active.insert(
            id,
            Active {
                handle,
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
        let id = active.handle.shared.id.clone();
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

    /// The timers due at `now`, rescheduling the periodic ones on their grid.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Handle<TimerObject>> {
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
            due.push(active.handle.clone());
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

#[crate::event_loop_object]
pub(crate) struct TightLoopObject;

#[crate::event_loop_object]
impl TightLoopObject {
    #[signal]
    fn iteration();

    #[slot]
    fn start(&mut self, ctx: &mut Context<Self>) {
        let handle = ctx.handle().clone();
        let id = handle.shared.id.clone();
        ctx.state().tight_loops.insert(id, handle);
    }

    #[slot]
    fn stop(&mut self, ctx: &mut Context<Self>) {
        let id = ctx.handle().shared.id.clone();
        ctx.state().tight_loops.remove(&id);
    }
}

pub(crate) type TightLoopHandle = Handle<TightLoopObject>;

/// Emits [`iteration`](Self::iteration) on every iteration of its loop: the
/// loop never sleeps while a tight loop runs. For polling work that has no
/// signal of its own (a simulator step, a non-blocking socket).
///
/// ```
/// use signal_slot::{Context, EventLoop, TightLoop, event_loop_object};
///
/// #[event_loop_object]
/// struct Simulator { steps: u64 }
///
/// #[event_loop_object]
/// impl Simulator {
///     #[slot]
///     fn step(&mut self, ctx: &mut Context<Self>) {
///         self.steps += 1;
///         if self.steps == 100 {
///             ctx.stop_loop();
///         }
///     }
/// }
///
/// let mut main = EventLoop::new("tight_loop_example")?;
/// let simulator = main.add(Simulator { steps: 0 })?;
/// let tight_loop = TightLoop::new(&main)?;
/// tight_loop.iteration().connect(simulator.step())?;
/// assert!(main.exec().is_normal());
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TightLoop {
    handle: TightLoopHandle,
}

impl TightLoop {
    /// A tight loop on `event_loop`, running from when the loop handles its
    /// creation.
    ///
    /// # Errors
    ///
    /// As for [`LoopHandle::add`].
    pub fn new(event_loop: &LoopHandle) -> Result<TightLoop, Error> {
        let handle = event_loop.add(TightLoopObject)?;
        handle.start().invoke(())?;
        Ok(TightLoop { handle })
    }

    /// Emitted on every loop iteration while running.
    pub fn iteration(&self) -> Signal<'_, ()> {
        self.handle.iteration().signal()
    }

    /// Resumes emitting `iteration`.
    pub fn start(&self) {
        let _ = self.handle.start().invoke(());
    }

    /// Stops emitting `iteration`.
    pub fn stop(&self) {
        let _ = self.handle.stop().invoke(());
    }

    /// [`stop`](Self::stop) as a slot.
    pub fn stop_slot(&self) -> Slot<'_, ()> {
        self.handle.stop()
    }

    /// The tight loop's object: its id, and `detach` to remove it.
    pub fn object(&self) -> &ObjectHandle {
        &self.handle
    }
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
