//! The event loop: an inbox, the objects living on it, their timers.
//!
//! - [`handle`]: what any thread may do with a loop ([`LoopHandle`]).
//! - [`builder`]: the options of a new loop.
//! - this module: the loop itself, one iteration at a time.
//! - `dispatch`: a signal to the slots it names, whatever its origin.
//! - `control`: objects attached and detached, subscriptions, connection
//!   changes asked for by other processes.
//! - `remote`: records from other processes' rings, frame by frame.
//! - `pack`, `carried`: a loop on its way to the process that runs it.

mod arrival;
mod builder;
pub(crate) mod carried;
pub(crate) mod clock;
mod control;
mod dispatch;
pub(crate) mod hand_back;
mod handle;
mod idle;
mod local;
mod move_to;
mod pack;
mod remote;
pub(crate) mod stats;
mod watch;

pub use builder::EventLoopBuilder;
pub(crate) use builder::LoopOptions;
pub use handle::LoopHandle;
use move_to::Relocation;
pub(crate) use pack::PackedLoop;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::connection::{EmitterName, ReceiverRef};
use crate::error::Error;
use crate::interrupt;
use crate::object::{ErasedObject, ObjectShared};
use crate::serial::{self, Step};
use crate::status::{ExitStatus, PanicPolicy, SlotFailure};
use crate::transport::registry::registry;
use crate::transport::{DropReason, Envelope, Inbox, InboxSender, routes};
use crate::util::panic_message;
use clock::{Fire, Timers};
use hand_back::HandBack;
use idle::{Spun, Waiter};
pub(crate) use local::Local;

/// Why the loop is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    Requested,
    Interrupted,
    SlotFailed,
}

/// What slots may change of their loop, through their
/// [`Context`](crate::Context).
pub(crate) struct LoopState {
    handle: LoopHandle,
    stop: Option<StopCause>,
    pub(crate) timers: Timers,
    pub(crate) tight_loops: BTreeMap<Arc<str>, Fire>,
    subscribers: HashMap<Arc<str>, Arc<[ReceiverRef]>>,
    first_failure: Option<SlotFailure>,
    panic_policy: PanicPolicy,
    /// The pass's clock: when an untimed slot run (see `SlotClock`) is
    /// taken to start. Read at the pass's first run, and again every 64
    /// untimed runs; `None` at the start of a pass and after work that is
    /// not a slot's.
    pub(crate) clock: Option<Instant>,
    /// Untimed slot runs so far.
    pub(crate) untimed: u32,
}

impl LoopState {
    fn new(handle: LoopHandle, panic_policy: PanicPolicy) -> Self {
        LoopState {
            handle,
            stop: None,
            timers: Timers::default(),
            tight_loops: BTreeMap::new(),
            subscribers: HashMap::new(),
            first_failure: None,
            panic_policy,
            clock: None,
            untimed: 0,
        }
    }

    pub(crate) fn handle(&self) -> &LoopHandle {
        &self.handle
    }

    pub(crate) fn request_stop(&mut self, cause: StopCause) {
        self.stop.get_or_insert(cause);
    }

    /// True once a failure must cut the current message short.
    fn aborted(&self) -> bool {
        self.stop == Some(StopCause::SlotFailed)
    }
}

#[derive(Debug)]
enum Phase {
    NotStarted,
    Running,
    Ended(ExitStatus),
    /// The loop runs in another process now; this is a copy to let go.
    Moved,
}

/// An object on the loop, with its instance (see `ObjectShared::instance`)
/// at hand for the check of every delivery.
pub(crate) struct Resident {
    pub(crate) instance: u64,
    /// What its handles share: says whether it was detached at once.
    pub(crate) shared: Arc<ObjectShared>,
    pub(crate) object: Box<dyn ErasedObject>,
    /// Where the object goes when it leaves the loop, instead of being
    /// dropped (see [`LoopHandle::keep`]).
    pub(crate) keep: Option<Box<dyn HandBack>>,
}

impl Resident {
    pub(crate) fn new(object: Box<dyn ErasedObject>) -> Self {
        let shared = object.handle().shared.clone();
        Resident {
            instance: shared.instance,
            shared,
            object,
            keep: None,
        }
    }

    /// True once the object was detached at once (see
    /// [`ObjectHandle::detach_now`](crate::ObjectHandle::detach_now)):
    /// nothing more reaches it.
    pub(crate) fn removed(&self) -> bool {
        self.shared.detached.load(Ordering::Relaxed)
    }

    /// The object leaves the loop: handed back if asked for, dropped
    /// otherwise (the caller catches a panicking `Drop`).
    pub(crate) fn leave(self) {
        match self.keep {
            Some(keep) => keep.give(self.object),
            None => drop(self.object),
        }
    }
}

/// The most messages handled in one iteration before timers get a look.
const BUDGET: usize = 1024;

/// An event loop: an endless loop that owns a thread, an inbox of signals
/// for the objects living on it, and their timers.
///
/// Create it, attach objects ([`LoopHandle::add_with_id`] through `Deref`),
/// connect their signals, then [`exec`](Self::exec) it on this thread, or
/// hand it to an [`EventLoopThread`](crate::EventLoopThread) or
/// [`EventLoopProcess`](crate::EventLoopProcess).
///
/// ```
/// use std::time::Duration;
/// use signal_slot::{EventLoop, ExitStatus, Timer};
///
/// let main = EventLoop::new("exec_example")?;
/// let timer = Timer::single_shot(&main, Duration::from_millis(10))?;
/// timer.timeout().connect(main.stop_slot())?;
/// timer.start();
/// let mut main = main;
/// assert_eq!(main.exec(), ExitStatus::Normal);
/// # Ok::<(), signal_slot::Error>(())
/// ```
pub struct EventLoop {
    handle: LoopHandle,
    state: LoopState,
    objects: FxHashMap<Arc<str>, Resident>,
    /// Ids detached from this loop: signals to them are dropped quietly.
    detached: HashSet<Arc<str>>,
    /// Objects on their way here from another loop, and what came for them.
    arriving: FxHashMap<Arc<str>, move_to::Arriving>,
    /// Objects that moved from here, and where: what still comes for them
    /// is forwarded.
    moved_out: FxHashMap<Arc<str>, (u64, Arc<crate::transport::LoopPeer>)>,
    inbox: Inbox,
    /// A sender into `inbox`.
    sender: InboxSender,
    /// Messages queued before the loop moved to the process it runs in,
    /// to handle before any ring from another process (whose records came
    /// after them).
    backlog: usize,
    catch_interrupt: bool,
    /// The newest emissions of keep-latest connections from other
    /// processes, for the end of the reading pass.
    newest: remote::NewestValues,
    waiter: Waiter,
    phase: Phase,
    /// What the loop was built with.
    options: LoopOptions,
}

/// The loop's name, state, objects and what waits in its inbox.
///
/// ```
/// let main = signal_slot::EventLoop::new("debug_example")?;
/// let text = format!("{main:?}");
/// assert!(text.starts_with("EventLoop { name: \"debug_example\", phase: NotStarted"), "{text}");
/// # Ok::<(), signal_slot::Error>(())
/// ```
impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut objects: Vec<&str> = self.objects.keys().map(|id| &**id).collect();
        objects.sort_unstable();
        f.debug_struct("EventLoop")
            .field("name", &self.handle.name())
            .field("phase", &self.phase)
            .field("objects", &objects)
            .field("pending_signals", &self.pending_messages())
            .field("rings", &self.inbox.rings.len())
            .field("idle_wait", &self.waiter.policy())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for EventLoop {
    type Target = LoopHandle;

    fn deref(&self) -> &LoopHandle {
        &self.handle
    }
}

impl EventLoop {
    /// Creates a loop with default options.
    ///
    /// ```
    /// use signal_slot::EventLoop;
    ///
    /// let main = EventLoop::new("new_example")?;
    /// assert_eq!(main.name(), "new_example");
    /// // Names are unique in a process.
    /// assert!(EventLoop::new("new_example").is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateLoopName`] if a loop of that name exists in this
    /// process.
    pub fn new(name: impl Into<String>) -> Result<EventLoop, Error> {
        Self::builder(name).build()
    }

    /// Options for a new loop.
    pub fn builder(name: impl Into<String>) -> EventLoopBuilder {
        EventLoopBuilder::new(name.into())
    }

    /// A handle to the loop, for other threads.
    pub fn handle(&self) -> LoopHandle {
        self.handle.clone()
    }

    /// Runs the loop on this thread until it is stopped, and returns how it
    /// ended. Emits `start` first and `terminate` last. Calling it again
    /// after the loop ended returns the same status at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoop, ExitStatus, Timer};
    ///
    /// let mut main = EventLoop::new("exec_example")?;
    /// let timer = Timer::single_shot(&main, Duration::from_millis(5))?;
    /// timer.timeout().connect(main.stop_slot())?;
    /// timer.start();
    /// // Runs the timer's slot, then returns: stopped normally.
    /// assert_eq!(main.exec(), ExitStatus::Normal);
    /// assert_eq!(main.exec(), ExitStatus::Normal);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn exec(&mut self) -> ExitStatus {
        let _interrupt = self.catch_interrupt.then(interrupt::arm);
        loop {
            if let Some(status) = self.iterate(true) {
                return status;
            }
        }
    }

    /// Runs one iteration without blocking: due timers, the messages queued
    /// now (up to a budget), tight loops. For embedding the loop in a
    /// foreign loop. Returns the exit status once the loop has ended.
    ///
    /// ```
    /// use signal_slot::EventLoop;
    ///
    /// let mut main = EventLoop::new("process_events_example")?;
    /// main.stop();
    /// // A foreign loop drives it until it ends.
    /// let status = loop {
    ///     if let Some(status) = main.process_events() {
    ///         break status;
    ///     }
    /// };
    /// assert!(status.is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn process_events(&mut self) -> Option<ExitStatus> {
        self.iterate(false)
    }

    /// The number of signals from this process waiting in the loop's inbox
    /// (an `emit_many` batch counts for its size; commands and objects on
    /// their way in do not count).
    pub fn pending_messages(&self) -> usize {
        self.inbox.signals()
    }

    /// True while the loop has started and not ended (here).
    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running)
    }

    pub(crate) fn iterate(&mut self, block: bool) -> Option<ExitStatus> {
        match self.step(block) {
            Step::Ended(status) => Some(status),
            Step::Worked | Step::Idle => None,
        }
    }

    /// One iteration; blocks (if `block`) only when it found nothing to do.
    pub(crate) fn step(&mut self, block: bool) -> Step {
        match &self.phase {
            Phase::Ended(status) => return Step::Ended(status.clone()),
            Phase::Moved => return Step::Ended(ExitStatus::Normal),
            Phase::NotStarted => {
                self.phase = Phase::Running;
                self.handle.peer().activity().start();
                watch::watch();
                self.handle.object.start().emit();
            }
            Phase::Running => {}
        }
        let mut worked = self.state.timers.fire_due();
        worked |= self.drain(BUDGET);
        if self.state.stop.is_none() {
            worked |= clock::run_tight_loops(&self.state.tight_loops);
            worked |= serial::drive_guests();
        }
        if self.state.stop.is_some() {
            return Step::Ended(self.finish());
        }
        if worked {
            return Step::Worked;
        }
        if block {
            self.wait();
        }
        Step::Idle
    }

    /// Blocks until a message arrives or the next timer is due.
    fn wait(&mut self) {
        let now = Instant::now();
        let mut deadline = self.state.timers.next_deadline();
        if let Some(guest) = serial::guests_deadline() {
            deadline = Some(deadline.map_or(guest, |own| own.min(guest)));
        }
        if self.catch_interrupt {
            let poll = now + interrupt::POLL;
            deadline = Some(deadline.map_or(poll, |own| own.min(poll)));
        }
        if let Some(give_up) = self.inbox.give_up_at() {
            deadline = Some(deadline.map_or(give_up, |own| own.min(give_up)));
        }
        if self
            .waiter
            .spin(now, deadline, interrupt::POLL, || self.inbox.has_work())
            == Spun::Found
            || self.waiter.busy_polls()
        {
            return;
        }
        self.inbox.wait(deadline);
    }

    /// Handles what waits, up to `budget` messages: first what this process
    /// sent, then what other processes wrote in their rings.
    fn drain(&mut self, budget: usize) -> bool {
        self.state.clock = None;
        self.handle.peer().activity().saw(self.inbox.ring_signals());
        let mut handled = 0;
        while handled < budget && !self.stopping() {
            let Some(envelope) = self.inbox.try_recv() else {
                break;
            };
            self.backlog = self.backlog.saturating_sub(1);
            self.handle_envelope(envelope);
            handled += 1;
        }
        if self.backlog == 0 && handled < budget {
            handled += self.drain_rings(budget - handled);
        }
        handled > 0
    }

    /// True once the loop is to end: stopped, or interrupted (Ctrl-C ends
    /// the loop after the slot that runs now, not after its backlog).
    fn stopping(&mut self) -> bool {
        if self.catch_interrupt && interrupt::interrupted() {
            self.state.request_stop(StopCause::Interrupted);
        }
        self.state.stop.is_some()
    }

    fn handle_envelope(&mut self, envelope: Envelope) {
        if !matches!(
            envelope,
            Envelope::Signal(_) | Envelope::Frames { .. } | Envelope::Network { .. }
        ) {
            // Not a slot's work: the next run's clock starts afresh.
            self.state.clock = None;
        }
        match envelope {
            Envelope::Signal(signal) => self.dispatch_local(signal),
            Envelope::Command(command) => self.apply_command(command),
            Envelope::Local(work) => match Local::of(work) {
                Some(Local::Attach(object)) => self.attach(object),
                Some(Local::Keep(request)) => self.keep(request),
                Some(Local::Relocation(relocation)) => self.relocate(*relocation),
                None => {}
            },
            Envelope::Frames { bytes, signals } => self.dispatch_packet(&bytes, signals),
            Envelope::Network {
                bytes,
                signals,
                from,
            } => self.dispatch_network(&bytes, signals, &from),
            Envelope::Ring(ring) => self.inbox.rings.push(*ring),
            Envelope::Segment { from, id, segment } => self.inbox.add_segment(from, id, segment),
            Envelope::ProducerEnded(process) => {
                for ring in &mut self.inbox.rings {
                    if ring.from == process {
                        ring.orphaned = true;
                    }
                }
            }
        }
    }

    /// Emits `terminate`, delivers it to this loop's own objects, and drops
    /// (counting) what was queued after the stop.
    fn finish(&mut self) -> ExitStatus {
        let status = match (self.state.stop, self.state.first_failure.clone()) {
            (Some(StopCause::Interrupted), None) => ExitStatus::Interrupted,
            (_, Some(failure)) => ExitStatus::SlotFailed(failure),
            _ => ExitStatus::Normal,
        };
        self.handle.object.terminate().emit();
        let own = EmitterName::of(&self.handle.object.shared);
        self.state.stop = None;
        // The loop's own `start` (if the stop came first) and `terminate`
        // still reach the loop's objects.
        self.drain_after_stop(|signal| {
            signal.header.emitter.as_ref() == Some(&own)
                && (signal.header.signal == handle::START
                    || signal.header.signal == handle::TERMINATE)
        });
        self.end(status.clone());
        status
    }

    /// Empties the inbox after the stop: signals that `deliver` picks are
    /// still delivered, everything else is dropped and counted.
    fn drain_after_stop(&mut self, deliver: impl Fn(&crate::transport::SignalEnvelope) -> bool) {
        while let Some(envelope) = self.inbox.try_recv() {
            let drops = self.handle.peer().drops();
            match envelope {
                Envelope::Signal(signal) if deliver(&signal) => self.dispatch_local(signal),
                Envelope::Signal(signal) => {
                    drops.record_envelope(&signal, DropReason::AfterStop);
                    self.drop_user_values(signal);
                }
                Envelope::Ring(ring) => self.inbox.rings.push(*ring),
                Envelope::Segment { from, id, segment } => {
                    self.inbox.add_segment(from, id, segment)
                }
                Envelope::Frames { signals, .. } => {
                    drops.record(u64::from(signals), DropReason::AfterStop, || {
                        format!("{signals} signals queued before the loop moved here")
                    });
                }
                Envelope::Network { signals, from, .. } => {
                    drops.record(u64::from(signals), DropReason::AfterStop, || {
                        format!("{signals} signals from program {from} over the network")
                    });
                }
                Envelope::Local(work) => match Local::of(work) {
                    Some(Local::Attach(object)) => self.drop_user_values(object),
                    // The objects are still here: handed back when they go.
                    Some(Local::Keep(request)) => self.keep(request),
                    Some(Local::Relocation(relocation)) => self.relocate_after_stop(*relocation),
                    None => {}
                },
                Envelope::Command(_) | Envelope::ProducerEnded(_) => {}
            }
        }
    }

    /// Drops what holds values of the user's types (arguments, objects):
    /// a `Drop` that panics is reported, and the loop goes on.
    pub(super) fn drop_user_values<T>(&self, values: T) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| drop(values))) {
            tracing::error!(
                event_loop = self.handle.name(),
                "event loop `{}`: dropping a signal's arguments or an object panicked: {}",
                self.handle.name(),
                panic_message(&*panic)
            );
        }
    }

    /// Marks the loop as ended and releases what it holds.
    fn end(&mut self, status: ExitStatus) {
        self.phase = Phase::Ended(status);
        self.handle.peer().set_gone();
        self.inbox.close();
        // Whatever raced in before the route closed.
        self.drain_after_stop(|_| false);
        self.drop_rings();
        routes::loop_ended_here(self.handle.peer());
        crate::call::loop_ended(self.handle.name(), "its loop ended");
        self.state.timers = Timers::default();
        self.state.tight_loops.clear();
        for resident in self.objects.values() {
            crate::connection::loop_ended_for(&resident.shared, self.handle.peer());
        }
        self.release_objects();
    }

    /// Drops the loop's objects (or hands them back), one by one: a panic
    /// in one's `Drop` is reported, and the others still go.
    fn release_objects(&mut self) {
        for (id, resident) in self.objects.drain() {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| resident.leave())) {
                tracing::error!(
                    event_loop = self.handle.name(),
                    object = %id,
                    "event loop `{}`: dropping object `{id}` panicked: {}",
                    self.handle.name(),
                    panic_message(&*panic)
                );
            }
        }
    }

    /// A sender into the loop's inbox.
    pub(crate) fn inbox_sender(&self) -> InboxSender {
        self.sender.clone()
    }
}

/// A serial loop is a guest of its host's loop.
impl serial::GuestLoop for EventLoop {
    fn step_now(&mut self) -> Step {
        self.step(false)
    }

    /// True if the loop has messages waiting or tight loops running.
    fn has_work(&self) -> bool {
        self.inbox.has_work() || !self.state.tight_loops.is_empty()
    }

    /// The deadline of the loop's next timer, for a host that drives it.
    fn next_deadline(&self) -> Option<Instant> {
        self.state.timers.next_deadline()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        match self.phase {
            Phase::Moved => return,
            Phase::Ended(_) => {}
            Phase::NotStarted | Phase::Running => self.end(ExitStatus::Normal),
        }
        registry().remove_loop(self.handle.peer());
        watch::loop_ended();
    }
}
