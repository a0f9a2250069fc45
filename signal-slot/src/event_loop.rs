//! The event loop: an inbox, the objects living on it, their timers.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rustc_hash::FxHashMap;

use crate::connection::{Change, Delivery, ReceiverRef};
use crate::context::{Context, Sender};
use crate::error::{Error, SlotError, check_name};
use crate::object::{
    ErasedObject, EventLoopObject, Handle, Home, ObjectCell, ObjectHandle, TypedHandle,
};
use crate::payload::{Args, Payload};
use crate::registry::registry;
use crate::signal::{Signal, Slot};
use crate::status::{ExitStatus, PanicPolicy, SlotFailure};
use crate::timer::{TightLoopHandle, Timers};
use crate::transport::{
    Control, DEFAULT_INBOX_CAPACITY, DropReason, Envelope, InboxSender, LoopPeer, Route,
    SignalEnvelope, inbox,
};
use crate::wire::{self, Frame};
use crate::{interrupt, serial};

/// The loop's own object: its `stop` slot and `start`/`terminate` signals.
/// Its id is the loop's name.
#[crate::event_loop_object]
pub(crate) struct LoopObject;

#[crate::event_loop_object]
impl LoopObject {
    /// Emitted right before the loop starts handling messages.
    #[signal]
    fn start();

    /// Emitted when the loop ends.
    #[signal]
    fn terminate();

    /// Stops the loop gracefully.
    #[slot]
    fn stop(&mut self, ctx: &mut Context<Self>) {
        ctx.state().request_stop(StopCause::Requested);
    }
}

/// A handle to an event loop: attach objects, stop it, connect to its
/// `start` and `terminate` signals. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct LoopHandle {
    peer: Arc<LoopPeer>,
    object: Handle<LoopObject>,
}

impl LoopHandle {
    pub(crate) fn from_peer(peer: Arc<LoopPeer>) -> LoopHandle {
        let shared = peer.loop_object.get().and_then(std::sync::Weak::upgrade);
        let object = match shared {
            Some(shared) => ObjectHandle { shared },
            // The loop is gone from this process: a handle that still names
            // it, whose signals reach nobody.
            None => ObjectHandle::for_type::<LoopObject>(
                peer.name_arc().clone(),
                Home::Loop(peer.clone()),
            ),
        };
        LoopHandle {
            peer,
            object: TypedHandle::from_object_handle(object),
        }
    }

    pub(crate) fn peer(&self) -> &Arc<LoopPeer> {
        &self.peer
    }

    /// The loop's name, unique in the process.
    pub fn name(&self) -> &str {
        self.peer.name()
    }

    /// Attaches `object` to the loop with a default unique id
    /// (`TypeName#N`).
    ///
    /// # Errors
    ///
    /// As for [`add_with_id`](Self::add_with_id).
    pub fn add<T: EventLoopObject>(&self, object: T) -> Result<Handle<T>, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = loop {
            let id = format!("{}#{}", T::TYPE_NAME, NEXT.fetch_add(1, Ordering::Relaxed));
            // Taken only if a user chose such an id by hand.
            if !self.peer.has_id(&id) {
                break id;
            }
        };
        self.add_with_id(id, object)
    }

    /// Attaches `object` to the loop under `id`, and returns its handle.
    /// The object moves to the loop; from then on it is reached through
    /// its signals and slots.
    ///
    /// ```
    /// use signal_slot::{EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Counter { count: u64 }
    ///
    /// #[event_loop_object]
    /// impl Counter {}
    ///
    /// let main = EventLoop::new("add_with_id_example")?;
    /// let counter = main.add_with_id("counter", Counter { count: 0 })?;
    /// assert_eq!(counter.id(), "counter");
    /// assert!(main.add_with_id("counter", Counter { count: 1 }).is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateObjectId`] if the id is taken on this loop,
    /// [`Error::InvalidName`] if it is empty, [`Error::LoopEnded`] if the
    /// loop has ended, [`Error::RemoteLoop`] if it runs in another process.
    pub fn add_with_id<T: EventLoopObject>(
        &self,
        id: impl Into<String>,
        object: T,
    ) -> Result<Handle<T>, Error> {
        let id: Arc<str> = id.into().into();
        check_name("object id", &id)?;
        if self.peer.is_remote() {
            return Err(Error::RemoteLoop {
                loop_name: self.name().to_owned(),
                id: id.to_string(),
            });
        }
        if self.peer.is_gone() {
            return Err(Error::LoopEnded(self.name().to_owned()));
        }
        self.peer.reserve_id(&id)?;
        let raw = ObjectHandle::for_type::<T>(id.clone(), Home::Loop(self.peer.clone()));
        registry().add_object(&raw);
        let handle = <T::Handle as TypedHandle>::from_object_handle(raw);
        let cell = ObjectCell {
            object,
            handle: handle.clone(),
        };
        if let Err(error) = self
            .peer
            .send_control(Envelope::Control(Control::Attach(Box::new(cell))))
        {
            self.peer.release_id(&id);
            registry().remove_object(self.peer.name_arc(), &id);
            return Err(error);
        }
        Ok(handle)
    }

    /// A handle to the object `id` on this loop, typed as `T`.
    ///
    /// For objects created where no handle was kept (in a child's init
    /// function, say): on a loop of another process the handle is made from
    /// the name alone, and a wrong type shows when a message reaches it (as
    /// an error naming the slot), never as undefined behaviour.
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if the loop runs in this process and has no
    /// such object of type `T`.
    pub fn object<T: EventLoopObject>(&self, id: &str) -> Result<Handle<T>, Error> {
        let mut registry = registry();
        let found = registry
            .find_object(self.name(), id)
            .filter(|handle| handle.type_name() == T::TYPE_NAME);
        if let Some(found) = found {
            return Ok(TypedHandle::from_object_handle(found));
        }
        if !self.peer.is_remote() {
            return Err(Error::ObjectNotFound {
                loop_name: self.name().to_owned(),
                id: id.to_owned(),
            });
        }
        let handle = ObjectHandle::for_type::<T>(id.into(), Home::Loop(self.peer.clone()));
        if registry.find_object(self.name(), id).is_none() {
            registry.add_object(&handle);
        }
        Ok(TypedHandle::from_object_handle(handle))
    }

    /// Stops the loop gracefully: every message queued before this call is
    /// still delivered, then the loop emits `terminate` and ends. Stopping a
    /// loop that has ended does nothing.
    pub fn stop(&self) {
        // A loop that has ended is stopped already.
        let _ = self.stop_slot().invoke(());
    }

    /// The loop's `stop` as a slot, to connect signals to (a timer's
    /// `timeout`, another loop's `terminate`..).
    pub fn stop_slot(&self) -> Slot<'_, ()> {
        self.object.stop()
    }

    /// Emitted right before the loop starts handling messages.
    pub fn start_signal(&self) -> Signal<'_, ()> {
        self.object.start().signal()
    }

    /// Emitted when the loop ends.
    pub fn terminate_signal(&self) -> Signal<'_, ()> {
        self.object.terminate().signal()
    }

    /// The number of signals destined to this loop that this process
    /// dropped: inbox full, loop ended, or arrived after the stop.
    pub fn dropped_signals(&self) -> u64 {
        self.peer.dropped()
    }

    /// True once the loop has ended.
    pub fn has_ended(&self) -> bool {
        self.peer.is_gone()
    }
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LoopHandle").field(&self.name()).finish()
    }
}

/// Options of a new loop; see [`EventLoop::builder`].
#[derive(Debug, Clone)]
pub struct EventLoopBuilder {
    name: String,
    capacity: usize,
    panic_policy: PanicPolicy,
    catch_interrupt: bool,
    /// Whether the loop gets a channel from other processes in this one
    /// (not for the loop of an `EventLoopProcess`, which gets its own).
    reachable_here: bool,
}

impl EventLoopBuilder {
    /// The inbox's capacity in messages (default 100,000). Signals beyond
    /// it are dropped and counted, never blocking the emitter.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// What to do when a slot panics (default: end the loop).
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Self {
        self.panic_policy = policy;
        self
    }

    /// Whether Ctrl-C ends `exec` with [`ExitStatus::Interrupted`]
    /// (default: yes).
    pub fn catch_interrupt(mut self, catch: bool) -> Self {
        self.catch_interrupt = catch;
        self
    }

    /// For the loop of a child process: reached through the channel the
    /// process creates, never through one in this process.
    pub(crate) fn for_child_process(mut self) -> Self {
        self.reachable_here = false;
        self
    }

    /// Creates the loop.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateLoopName`] if a loop of that name exists in this
    /// process, [`Error::InvalidName`] if the name is empty.
    pub fn build(self) -> Result<EventLoop, Error> {
        check_name("loop name", &self.name)?;
        let name: Arc<str> = self.name.into();
        let (sender, receiver) = inbox(self.capacity);
        let peer = LoopPeer::new(name.clone(), Route::Local(sender.clone()));
        {
            let mut registry = registry();
            registry.add_loop(peer.clone())?;
            if self.reachable_here {
                crate::process::open_inbox(&registry, &peer);
            }
        }
        peer.reserve_id(&name)?;
        let raw = ObjectHandle::for_type::<LoopObject>(name.clone(), Home::Loop(peer.clone()));
        let _ = peer.loop_object.set(Arc::downgrade(&raw.shared));
        registry().add_object(&raw);
        let object: Handle<LoopObject> = TypedHandle::from_object_handle(raw);
        let handle = LoopHandle {
            peer,
            object: object.clone(),
        };
        let mut objects: FxHashMap<Arc<str>, Box<dyn ErasedObject>> = FxHashMap::default();
        objects.insert(
            name,
            Box::new(ObjectCell {
                object: LoopObject,
                handle: object,
            }),
        );
        Ok(EventLoop {
            state: LoopState {
                handle: handle.clone(),
                stop: None,
                timers: Timers::default(),
                tight_loops: BTreeMap::new(),
                subscribers: HashMap::new(),
                first_failure: None,
                panic_policy: self.panic_policy,
            },
            handle,
            objects,
            detached: HashSet::new(),
            inbox: receiver,
            sender,
            catch_interrupt: self.catch_interrupt,
            phase: Phase::NotStarted,
        })
    }
}

/// Why the loop is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    Requested,
    Interrupted,
    SlotFailed,
}

/// What slots may change of their loop, through their [`Context`].
pub(crate) struct LoopState {
    handle: LoopHandle,
    stop: Option<StopCause>,
    pub(crate) timers: Timers,
    pub(crate) tight_loops: BTreeMap<Arc<str>, TightLoopHandle>,
    subscribers: HashMap<Arc<str>, Arc<[ReceiverRef]>>,
    first_failure: Option<SlotFailure>,
    panic_policy: PanicPolicy,
}

impl LoopState {
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

/// The outcome of one iteration.
pub(crate) enum Step {
    Ended(ExitStatus),
    Worked,
    Idle,
}

enum Phase {
    NotStarted,
    Running,
    Ended(ExitStatus),
}

/// The most messages handled in one iteration before timers get a look.
const BUDGET: usize = 1024;

/// An event loop: an endless loop that owns a thread, an inbox of signals
/// for the objects living on it, and their timers.
///
/// Create it, attach objects ([`LoopHandle::add_with_id`] through `Deref`),
/// connect their signals, then [`exec`](Self::exec) it on this thread, or
/// hand it to an [`EventLoopThread`](crate::EventLoopThread) or
/// `EventLoopProcess`.
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
    objects: FxHashMap<Arc<str>, Box<dyn ErasedObject>>,
    /// Ids detached from this loop: signals to them are dropped quietly.
    detached: HashSet<Arc<str>>,
    inbox: Receiver<Envelope>,
    /// A sender into `inbox`, for the reader of other processes' packets.
    sender: InboxSender,
    catch_interrupt: bool,
    phase: Phase,
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
    /// # Errors
    ///
    /// [`Error::DuplicateLoopName`] if a loop of that name exists in this
    /// process.
    pub fn new(name: impl Into<String>) -> Result<EventLoop, Error> {
        Self::builder(name).build()
    }

    /// Options for a new loop.
    pub fn builder(name: impl Into<String>) -> EventLoopBuilder {
        EventLoopBuilder {
            name: name.into(),
            capacity: DEFAULT_INBOX_CAPACITY,
            panic_policy: PanicPolicy::default(),
            catch_interrupt: true,
            reachable_here: true,
        }
    }

    /// A handle to the loop, for other threads.
    pub fn handle(&self) -> LoopHandle {
        self.handle.clone()
    }

    /// Runs the loop on this thread until it is stopped, and returns how it
    /// ended. Emits `start` first and `terminate` last. Calling it again
    /// after the loop ended returns the same status at once.
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
    pub fn process_events(&mut self) -> Option<ExitStatus> {
        self.iterate(false)
    }

    /// The number of messages waiting in the loop's inbox.
    pub fn pending_messages(&self) -> usize {
        self.inbox.len()
    }

    /// True while the loop has started and not ended.
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
            Phase::NotStarted => {
                self.phase = Phase::Running;
                self.handle.object.start().emit();
            }
            Phase::Running => {}
        }
        if self.catch_interrupt && interrupt::interrupted() {
            self.state.request_stop(StopCause::Interrupted);
        }
        let mut worked = self.fire_timers();
        worked |= self.drain(BUDGET);
        if self.state.stop.is_none() {
            worked |= self.run_tight_loops();
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
        let mut deadline = self.state.timers.next_deadline();
        if let Some(guest) = serial::guests_deadline() {
            deadline = Some(deadline.map_or(guest, |own| own.min(guest)));
        }
        if self.catch_interrupt {
            let poll = Instant::now() + interrupt::POLL;
            deadline = Some(deadline.map_or(poll, |own| own.min(poll)));
        }
        let received = match deadline {
            Some(deadline) => self.inbox.recv_deadline(deadline),
            // The peer holds a sender for as long as the loop exists.
            None => self
                .inbox
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
        };
        if let Ok(envelope) = received {
            self.handle_envelope(envelope);
        }
    }

    fn drain(&mut self, budget: usize) -> bool {
        let mut handled = 0;
        while handled < budget && self.state.stop.is_none() {
            let Ok(envelope) = self.inbox.try_recv() else {
                break;
            };
            self.handle_envelope(envelope);
            handled += 1;
        }
        handled > 0
    }

    fn handle_envelope(&mut self, envelope: Envelope) {
        match envelope {
            Envelope::Signal(signal) => self.dispatch_signal(signal),
            Envelope::Control(control) => self.apply_control(control),
            Envelope::Packet(packet) => self.dispatch_packet(&packet),
        }
    }

    /// Handles the frames of a packet from another process, in order.
    fn dispatch_packet(&mut self, packet: &[u8]) {
        let mut frames = wire::Reader::new(packet);
        let mut sender = None;
        while let Some(frame) = frames.next() {
            match frame {
                Ok(Frame::From { process }) => sender = Some(process),
                Ok(frame) => self.apply_frame(frame, sender),
                Err(error) => {
                    tracing::error!(
                        event_loop = self.handle.name(),
                        %error,
                        "event loop `{}`: a packet from another process cannot be decoded \
                         ({error}); the rest of the packet is dropped",
                        self.handle.name(),
                    );
                    return;
                }
            }
            if self.state.stop.is_some() {
                // What came after the stop (or a failure) in this packet.
                let rest: u64 = frames
                    .map_while(Result::ok)
                    .map(|frame| match frame {
                        Frame::Signal { payloads, .. } | Frame::EmitRequest { payloads, .. } => {
                            payloads.len() as u64
                        }
                        _ => 0,
                    })
                    .sum();
                if let Some(sender) = sender {
                    crate::ledger::taken(sender, rest);
                }
                if rest > 0 {
                    self.handle
                        .peer
                        .record_drops(rest, DropReason::AfterStop, || {
                            format!("{rest} signals from another process")
                        });
                }
                return;
            }
        }
    }

    /// Applies one frame; `from` is the process the packet came from, for
    /// the delivery ledger.
    fn apply_frame(&mut self, frame: Frame<'_>, from: Option<u16>) {
        let taken = |count: usize| {
            if let Some(from) = from {
                crate::ledger::taken(from, count as u64);
            }
        };
        match frame {
            Frame::Signal {
                emitter_loop,
                emitter,
                signal,
                receivers,
                broadcast,
                payloads,
            } => {
                let subscribers = if broadcast {
                    self.state.subscribers.get(signal).cloned()
                } else {
                    None
                };
                let subscribers: &[ReceiverRef] = subscribers.as_deref().unwrap_or_default();
                let sender = emitter.map(|id| Sender {
                    id,
                    loop_name: emitter_loop,
                });
                let targets = receivers
                    .iter()
                    .copied()
                    .chain(subscribers.iter().map(|r| (&*r.object, r.slot)));
                let targets: Vec<(&str, u16)> = targets.collect();
                for (index, payload) in payloads.iter().enumerate() {
                    // Counted as taken before its slots run: a slot that
                    // kills the process has received its signal.
                    taken(1);
                    for &(object, slot) in &targets {
                        self.call(object, slot, sender, signal, Payload::Encoded(payload));
                        if self.state.aborted() {
                            let rest = payloads.len() - index - 1;
                            taken(rest);
                            self.cut_short(rest, signal);
                            return;
                        }
                    }
                }
            }
            Frame::EmitRequest {
                emitter,
                signal,
                payloads,
            } => {
                taken(payloads.len());
                let Some(shared) = self.local_object(emitter, "emit") else {
                    return;
                };
                let items = payloads.iter().map(|payload| payload.to_vec()).collect();
                crate::connection::emit(&shared, signal, || Args::encoded(items));
            }
            Frame::Connect {
                emitter,
                signal,
                receiver_loop,
                receiver,
                slot,
                balanced,
            } => {
                let delivery = if balanced {
                    Delivery::Balanced
                } else {
                    Delivery::FanOut
                };
                let receiver = ReceiverRef {
                    object: receiver.into(),
                    slot,
                };
                self.apply_remote_change(
                    emitter,
                    signal,
                    receiver_loop,
                    Change::Connect(receiver, delivery),
                );
            }
            Frame::Disconnect {
                emitter,
                signal,
                receiver_loop,
                receiver,
                slot,
            } => {
                let receiver = ReceiverRef {
                    object: receiver.into(),
                    slot,
                };
                self.apply_remote_change(
                    emitter,
                    signal,
                    receiver_loop,
                    Change::Disconnect(receiver),
                );
            }
            Frame::Broadcast {
                emitter,
                signal,
                event_loop,
                on,
            } => self.apply_remote_change(emitter, signal, event_loop, Change::Broadcast(on)),
            Frame::Detach { object } => self.apply_control(Control::Detach { id: object.into() }),
            Frame::Subscribe {
                signal,
                object,
                slot,
                on,
            } => self.apply_control(Control::Subscribe {
                signal: signal.into(),
                object: object.into(),
                slot,
                subscribe: on,
            }),
            // Handled by the reader thread, or by `dispatch_packet`.
            Frame::Routes | Frame::Shutdown | Frame::From { .. } => {}
        }
    }

    /// An object of this loop, named by another process.
    fn local_object(&self, id: &str, what: &str) -> Option<Arc<crate::object::ObjectShared>> {
        let found = self
            .objects
            .get(id)
            .map(|object| object.handle().shared.clone());
        if found.is_none() {
            tracing::warn!(
                event_loop = self.handle.name(),
                object = id,
                "event loop `{}`: cannot {what} on behalf of `{id}`: no such object here",
                self.handle.name(),
            );
        }
        found
    }

    /// A connection change requested by another process for an emitter of
    /// this loop.
    fn apply_remote_change(&self, emitter: &str, signal: u16, receiver_loop: &str, change: Change) {
        let Some(shared) = self.local_object(emitter, "change a connection") else {
            return;
        };
        if shared.signals.get(usize::from(signal)).is_none() {
            tracing::error!(
                event_loop = self.handle.name(),
                "`{emitter}` has no signal #{signal}: connection request ignored"
            );
            return;
        }
        let peer = registry().loops.get(receiver_loop).cloned();
        tracing::debug!(
            event_loop = self.handle.name(),
            emitter,
            signal,
            receiver_loop,
            known = peer.is_some(),
            "connection change requested by another process"
        );
        let Some(peer) = peer else {
            tracing::error!(
                event_loop = self.handle.name(),
                "cannot connect `{emitter}` to event loop `{receiver_loop}`: it is not known in \
                 this process"
            );
            return;
        };
        if let (false, Change::Disconnect(receiver)) = (
            crate::connection::apply(&shared, signal, &peer, change.clone()),
            &change,
        ) {
            tracing::warn!(
                event_loop = self.handle.name(),
                "disconnect: the signal `{}` of `{emitter}` is not connected to `{}`",
                shared
                    .signal_names
                    .get(usize::from(signal))
                    .copied()
                    .unwrap_or("<unknown>"),
                receiver.object,
            );
        }
    }

    fn apply_control(&mut self, control: Control) {
        match control {
            Control::Attach(object) => {
                let id = object.handle().shared.id.clone();
                self.detached.remove(&id);
                self.objects.insert(id, object);
            }
            Control::Detach { id } => {
                if self.objects.remove(&id).is_some() {
                    self.state.timers.remove(&id);
                    self.state.tight_loops.remove(&id);
                    for receivers in self.state.subscribers.values_mut() {
                        if receivers.iter().any(|receiver| receiver.object == id) {
                            *receivers = receivers
                                .iter()
                                .filter(|receiver| receiver.object != id)
                                .cloned()
                                .collect();
                        }
                    }
                    self.handle.peer.release_id(&id);
                    registry().remove_object(self.handle.peer.name_arc(), &id);
                    self.detached.insert(id);
                }
            }
            Control::Subscribe {
                signal,
                object,
                slot,
                subscribe,
            } => {
                let receiver = ReceiverRef { object, slot };
                let current = self.state.subscribers.get(&signal);
                let mut receivers: Vec<ReceiverRef> =
                    current.map(|list| list.to_vec()).unwrap_or_default();
                let present = receivers.contains(&receiver);
                match (subscribe, present) {
                    (true, false) => receivers.push(receiver),
                    (false, true) => receivers.retain(|existing| *existing != receiver),
                    (true, true) => return,
                    (false, false) => {
                        tracing::warn!(
                            event_loop = self.name(),
                            object = %receiver.object,
                            signal = %signal,
                            "unsubscribe: `{}` is not subscribed to `{signal}`",
                            receiver.object
                        );
                        return;
                    }
                }
                if receivers.is_empty() {
                    self.state.subscribers.remove(&signal);
                } else {
                    self.state.subscribers.insert(signal, receivers.into());
                }
            }
        }
    }

    fn dispatch_signal(&mut self, envelope: SignalEnvelope) {
        let SignalEnvelope { header, mut args } = envelope;
        let signal = header.signal;
        let receivers = &header.receivers;
        let subscribers = if header.broadcast {
            self.state.subscribers.get(signal).cloned()
        } else {
            None
        };
        let subscribers: &[ReceiverRef] = subscribers.as_deref().unwrap_or_default();
        let sender = header.emitter.as_ref().map(|emitter| Sender {
            id: &emitter.id,
            loop_name: emitter.loop_name.as_deref(),
        });
        let total = receivers.len() + subscribers.len();
        if let ([receiver], []) = (&receivers[..], subscribers) {
            // One receiver (the common case): find it once for the batch.
            let Some(object) = self.objects.get_mut(&*receiver.object) else {
                self.missing(&receiver.object, sender, signal, args.count() as u64);
                return;
            };
            let count = args.count();
            for index in 0..count {
                let payload = Payload::Local {
                    args: &mut args,
                    index,
                    take: true,
                };
                Self::run_slot(
                    object,
                    &mut self.state,
                    &self.handle,
                    &receiver.object,
                    receiver.slot,
                    sender,
                    signal,
                    payload,
                );
                if self.state.aborted() {
                    self.cut_short(count - index - 1, signal);
                    return;
                }
            }
            return;
        }
        let count = args.count();
        for index in 0..count {
            for (position, receiver) in receivers.iter().chain(subscribers).enumerate() {
                let payload = Payload::Local {
                    args: &mut args,
                    index,
                    take: position + 1 == total,
                };
                self.call(&receiver.object, receiver.slot, sender, signal, payload);
                if self.state.aborted() {
                    self.cut_short(count - index - 1, signal);
                    return;
                }
            }
        }
    }

    fn call(
        &mut self,
        object_id: &str,
        slot: u16,
        sender: Option<Sender<'_>>,
        signal: &str,
        payload: Payload<'_>,
    ) {
        let Some(object) = self.objects.get_mut(object_id) else {
            self.missing(object_id, sender, signal, 1);
            return;
        };
        Self::run_slot(
            object,
            &mut self.state,
            &self.handle,
            object_id,
            slot,
            sender,
            signal,
            payload,
        );
    }

    /// Reports a message for an object that is not on this loop (quietly if
    /// it was detached).
    fn missing(&self, object_id: &str, sender: Option<Sender<'_>>, signal: &str, count: u64) {
        if !self.detached.contains(object_id) {
            self.handle.peer.record_drops(count, DropReason::Gone, || {
                format!(
                    "signal `{signal}` from `{}` to the missing object `{object_id}`",
                    sender.map_or("<direct invocation>", |sender| sender.id),
                )
            });
        }
    }

    /// Counts the emissions of a batch left undelivered when a failing slot
    /// ended the loop.
    fn cut_short(&self, rest: usize, signal: &str) {
        if rest > 0 {
            self.handle
                .peer
                .record_drops(rest as u64, DropReason::AfterStop, || {
                    format!("{rest} emissions of signal `{signal}` after a slot failed")
                });
        }
    }

    /// Calls one slot, containing a panic and reporting failures.
    #[allow(clippy::too_many_arguments)]
    fn run_slot(
        object: &mut Box<dyn ErasedObject>,
        state: &mut LoopState,
        handle: &LoopHandle,
        object_id: &str,
        slot: u16,
        sender: Option<Sender<'_>>,
        signal: &str,
        payload: Payload<'_>,
    ) {
        let result = catch_unwind(AssertUnwindSafe(|| {
            object.dispatch(state, sender, slot, payload)
        }));
        let slot_name = || object.handle().slot_name(slot);
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                let level_is_error = !matches!(error, SlotError::Returned(_));
                if level_is_error {
                    tracing::error!(
                        event_loop = handle.name(),
                        object = object_id,
                        slot = slot_name(),
                        signal,
                        emitter = sender.map(|sender| sender.id),
                        "signal `{signal}` from `{}` not delivered to `{}.{}` on event loop `{}`: {error}",
                        sender.map_or("<direct invocation>", |sender| sender.id),
                        object_id,
                        slot_name(),
                        handle.name(),
                    );
                } else {
                    tracing::warn!(
                        event_loop = handle.name(),
                        object = object_id,
                        slot = slot_name(),
                        signal,
                        emitter = sender.map(|sender| sender.id),
                        "slot `{}.{}` on event loop `{}`: {error}",
                        object_id,
                        slot_name(),
                        handle.name(),
                    );
                }
            }
            Err(panic) => {
                let failure = SlotFailure {
                    event_loop: handle.name().to_owned(),
                    object: object_id.to_owned(),
                    slot: slot_name().to_owned(),
                    signal: signal.to_owned(),
                    emitter: sender.map(|sender| sender.id.to_owned()),
                    message: panic_message(panic.as_ref()),
                };
                tracing::error!(
                    event_loop = %failure.event_loop,
                    object = %failure.object,
                    slot = %failure.slot,
                    signal = %failure.signal,
                    emitter = failure.emitter.as_deref(),
                    "{failure}"
                );
                state.first_failure.get_or_insert(failure);
                if state.panic_policy == PanicPolicy::StopLoop {
                    state.request_stop(StopCause::SlotFailed);
                }
            }
        }
    }

    fn fire_timers(&mut self) -> bool {
        let due = self.state.timers.take_due(Instant::now());
        let fired = !due.is_empty();
        for timer in due {
            timer.timeout().emit();
        }
        fired
    }

    fn run_tight_loops(&mut self) -> bool {
        if self.state.tight_loops.is_empty() {
            return false;
        }
        for tight_loop in self.state.tight_loops.values() {
            tight_loop.iteration().emit();
        }
        true
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
        let own = crate::connection::EmitterName::of(&self.handle.object.shared);
        self.state.stop = None;
        while let Ok(envelope) = self.inbox.try_recv() {
            match envelope {
                Envelope::Signal(signal)
                    if signal.header.emitter.as_ref() == Some(&own)
                        && signal.header.signal == LoopObject::SIGNALS[1] =>
                {
                    self.dispatch_signal(signal);
                }
                Envelope::Signal(signal) => {
                    self.handle.peer.record_drop(&signal, DropReason::AfterStop);
                }
                Envelope::Packet(packet) => self.drop_packet(&packet),
                Envelope::Control(_) => {}
            }
        }
        self.end(status.clone());
        status
    }

    fn drop_packet(&self, packet: &[u8]) {
        let count = wire::count_signals(packet);
        if let Some(sender) = wire::sender_of(packet) {
            crate::ledger::taken(sender, count);
        }
        if count > 0 {
            self.handle
                .peer
                .record_drops(count, DropReason::AfterStop, || {
                    format!("{count} signals from another process")
                });
        }
    }

    /// Marks the loop as ended and releases what it holds.
    fn end(&mut self, status: ExitStatus) {
        self.phase = Phase::Ended(status);
        self.handle.peer.set_gone();
        // Whatever raced in before the route closed.
        while let Ok(envelope) = self.inbox.try_recv() {
            match envelope {
                Envelope::Signal(signal) => {
                    self.handle.peer.record_drop(&signal, DropReason::AfterStop);
                }
                Envelope::Packet(packet) => self.drop_packet(&packet),
                Envelope::Control(_) => {}
            }
        }
        self.state.timers = Timers::default();
        self.state.tight_loops.clear();
        self.objects.clear();
    }

    /// The deadline of the loop's next timer, for a host that drives it.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.state.timers.next_deadline()
    }

    /// The capacity of the loop's inbox.
    pub(crate) fn inbox_capacity(&self) -> usize {
        self.sender.capacity()
    }

    /// A sender into the loop's inbox.
    pub(crate) fn inbox_sender(&self) -> InboxSender {
        self.sender.clone()
    }

    /// True if the loop has messages waiting or tight loops running.
    pub(crate) fn has_work(&self) -> bool {
        !self.inbox.is_empty() || !self.state.tight_loops.is_empty()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if !matches!(self.phase, Phase::Ended(_)) {
            self.end(ExitStatus::Normal);
        }
        // Stops the reader of other processes' packets, if it has one.
        if let Some(address) = self.handle.peer.address() {
            let _ = address.send(&wire::control_packet(&Frame::Shutdown));
        }
        registry().remove_loop(&self.handle.peer);
    }
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "<a panic payload that is not a string>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use proptest::prelude::*;

    use super::EventLoop;
    use crate::wire::Writer;

    #[crate::event_loop_object]
    struct Target {
        pings: Arc<AtomicU64>,
    }

    #[crate::event_loop_object]
    impl Target {
        #[slot]
        fn ping(&mut self) {
            self.pings.fetch_add(1, Ordering::SeqCst);
        }

        #[slot]
        fn text(&mut self, text: String, number: i64) {
            let _ = (text, number);
        }

        #[slot]
        fn bytes(&mut self, bytes: Vec<u8>) {
            let _ = bytes;
        }
    }

    /// What another process might send: garbage, or frames with random
    /// receivers, slots and payloads.
    fn packet() -> impl Strategy<Value = Vec<u8>> {
        let garbage = prop::collection::vec(any::<u8>(), 0..200);
        let frame = (
            prop::sample::select(vec!["target", "missing", "frames_loop", ""]),
            0u16..6,
            any::<bool>(),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        )
            .prop_map(|(receiver, slot, broadcast, payloads)| {
                let mut packet = Vec::new();
                let _ = Writer::new(&mut packet).signal(
                    Some("elsewhere"),
                    Some("emitter"),
                    "noise",
                    &[(receiver, slot)],
                    broadcast,
                    payloads.len(),
                    |index, buf| {
                        buf.extend_from_slice(&payloads[index]);
                        Ok(())
                    },
                );
                packet
            });
        prop_oneof![garbage, frame]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Bad bytes from another process reach the dispatch path without a
        /// panic or a hang, and the loop goes on delivering.
        #[test]
        fn bad_packets_leave_the_loop_running(packets in prop::collection::vec(packet(), 1..6)) {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let name = format!("frames_loop_{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let mut event_loop = EventLoop::builder(name).catch_interrupt(false).build().unwrap();
            let pings = Arc::new(AtomicU64::new(0));
            let target = event_loop.add_with_id("target", Target { pings: pings.clone() }).unwrap();
            for packet in packets {
                event_loop.peer().send_frames(packet).unwrap();
            }
            target.ping().invoke(()).unwrap();
            for _ in 0..8 {
                prop_assert!(event_loop.process_events().is_none(), "the loop ended");
                if pings.load(Ordering::SeqCst) == 1 {
                    break;
                }
            }
            prop_assert_eq!(pings.load(Ordering::SeqCst), 1);
        }
    }
}
