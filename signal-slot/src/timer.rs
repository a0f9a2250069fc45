//! Timers and tight loops: objects that emit on their loop's clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::Error;
use crate::event_loop::LoopHandle;
use crate::event_loop::clock::Fire;
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
        let handle: Handle<TimerObject> = ctx.handle().clone();
        let id = handle.shared.id.clone();
        let fire: Fire = Arc::new(move || handle.timeout().emit());
        ctx.state()
            .timers
            .start(id, fire, self.interval, self.single_shot, Instant::now());
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

#[crate::event_loop_object]
pub(crate) struct TightLoopObject;

#[crate::event_loop_object]
impl TightLoopObject {
    #[signal]
    fn iteration();

    #[slot]
    fn start(&mut self, ctx: &mut Context<Self>) {
        let handle: Handle<TightLoopObject> = ctx.handle().clone();
        let id = handle.shared.id.clone();
        let iterate: Fire = Arc::new(move || handle.iteration().emit());
        ctx.state().tight_loops.insert(id, iterate);
    }

    #[slot]
    fn stop(&mut self, ctx: &mut Context<Self>) {
        let id = ctx.handle().shared.id.clone();
        ctx.state().tight_loops.remove(&id);
    }
}

type TightLoopHandle = Handle<TightLoopObject>;

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
