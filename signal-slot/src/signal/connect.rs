//! Connecting a signal: to a slot (fan-out, balanced, keep-latest,
//! single-shot) or a closure, disconnecting, counting receivers; the change
//! is made where the emitter's connections live, here or in its process.

use super::*;

impl<'a, A: Clone + Send + 'static> Signal<'a, A> {
    /// Connects the signal to `slot`: every emission reaches it.
    ///
    /// Connecting the same slot twice delivers once. The emitter and the
    /// slot may live on any loop, in this process or another, running or
    /// not. The connection is in effect when `connect` returns: every
    /// emission after that reaches the slot. For an emitter that lives in
    /// another process, `connect` asks that process (whose agent applies it
    /// at once, whatever its loop is busy with) and waits for the answer, a
    /// round trip of some tens of microseconds: wire chains across processes
    /// after they started, then emit, and nothing is lost.
    ///
    /// A slot of other argument types does not compile:
    ///
    /// ```compile_fail
    /// # use signal_slot::{EventLoop, event_loop_object};
    /// # #[event_loop_object] struct A;
    /// # #[event_loop_object] impl A { #[signal] fn ping(n: u64); }
    /// # #[event_loop_object] struct B;
    /// # #[event_loop_object] impl B { #[slot] fn on_text(&mut self, text: String) {} }
    /// # let main = EventLoop::new("compile_fail_main").unwrap();
    /// # let a = main.add(A).unwrap();
    /// # let b = main.add(B).unwrap();
    /// a.ping().connect(b.on_text())?; // error: the slot cannot receive a `(u64,)`
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if the slot's object or the emitter is not
    /// attached to its loop (any more), [`Error::LoopEnded`] if the slot's
    /// loop has ended, [`Error::Connection`] if the emitter's process
    /// cannot apply the change (it ended, or does not answer within 10 s).
    pub fn connect<S: ConnectTo<A>>(&self, slot: S) -> Result<Connection, Error> {
        let (target, index) = slot.target();
        self.connect_with(target, index, Delivery::FanOut)
    }

    /// Connects the signal to `slot` as one of its balanced receivers:
    /// every emission reaches exactly one balanced receiver, in turn
    /// (skipping receivers whose inbox is full), besides all fan-out
    /// receivers. A work queue across loops, threads and processes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use signal_slot::{Context, EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Dispatcher;
    ///
    /// #[event_loop_object]
    /// impl Dispatcher {
    ///     #[signal]
    ///     fn job(id: u64);
    /// }
    ///
    /// #[event_loop_object]
    /// struct Worker { done: Arc<AtomicU64> }
    ///
    /// #[event_loop_object]
    /// impl Worker {
    ///     #[slot]
    ///     fn run(&mut self, ctx: &mut Context<Self>, id: u64) {
    ///         if self.done.fetch_add(1, Ordering::SeqCst) + 1 == 10 {
    ///             ctx.stop_loop();
    ///         }
    ///         let _ = id;
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("connect_balanced_example")?;
    /// let done = Arc::new(AtomicU64::new(0));
    /// let dispatcher = main.add(Dispatcher)?;
    /// for _ in 0..3 {
    ///     let worker = main.add(Worker { done: done.clone() })?;
    ///     dispatcher.job().connect_balanced(worker.run())?;
    /// }
    /// for id in 0..10 {
    ///     dispatcher.job().emit(id);
    /// }
    /// main.exec();
    /// // Ten jobs, each run once, by one of the three workers.
    /// assert_eq!(done.load(Ordering::SeqCst), 10);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn connect_balanced<S: ConnectTo<A>>(&self, slot: S) -> Result<Connection, Error> {
        let (target, index) = slot.target();
        self.connect_with(target, index, Delivery::Balanced)
    }

    /// Connects the signal to `slot` as a keep-latest receiver: the slot
    /// gets the newest emission. An emission that finds an older one still
    /// waiting for the slot replaces it, and the older one is counted as
    /// dropped (like any other drop, at debug level in the log): the
    /// receiver's queue holds at most one emission of the connection, and
    /// a slow receiver never works through stale values.
    ///
    /// Which delivery to use:
    ///
    /// - [`connect`](Self::connect) (fan-out), for events: every emission
    ///   matters (a request, a trajectory, a log line).
    /// - [`connect_balanced`](Self::connect_balanced), for work: every
    ///   emission matters once, to any one of several workers.
    /// - `connect_latest`, for state: only the newest value matters (model
    ///   weights, a pose, progress), and a receiver that falls behind should
    ///   skip to it rather than replay what it missed.
    ///
    /// An `emit_many` batch counts as its last emission. Between processes,
    /// the receiving loop keeps the newest of what it finds waiting when it
    /// reads from the sending process, and delivers it after that reading
    /// pass: a keep-latest emission is not ordered with the emitter's other
    /// signals.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use signal_slot::{Context, EventLoop, EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Learner;
    ///
    /// #[event_loop_object]
    /// impl Learner {
    ///     #[signal]
    ///     fn weights(version: u64);
    /// }
    ///
    /// #[event_loop_object]
    /// struct Actor { seen: mpsc::Sender<u64>, go: mpsc::Receiver<()> }
    ///
    /// #[event_loop_object]
    /// impl Actor {
    ///     #[slot]
    ///     fn on_weights(&mut self, version: u64) {
    ///         let _ = self.seen.send(version);
    ///         if version == 0 {
    ///             // A slow first step: versions 1 to 99 arrive meanwhile.
    ///             let _ = self.go.recv();
    ///         }
    ///     }
    /// }
    ///
    /// let (seen, versions) = mpsc::channel();
    /// let (go, wait) = mpsc::channel();
    /// let main = EventLoop::new("connect_latest_example")?;
    /// let mut worker = EventLoopThread::new("connect_latest_worker")?;
    /// let learner = main.add(Learner)?;
    /// let actor = worker.add(Actor { seen, go: wait })?;
    /// learner.weights().connect_latest(actor.on_weights())?;
    /// worker.start()?;
    /// learner.weights().emit(0);
    /// assert_eq!(versions.recv().unwrap(), 0);
    /// for version in 1..100 {
    ///     learner.weights().emit(version);
    /// }
    /// go.send(()).unwrap();
    /// // Straight to the newest: 1 to 98 were replaced.
    /// assert_eq!(versions.recv().unwrap(), 99);
    /// worker.stop();
    /// worker.join()?;
    /// assert_eq!(worker.dropped_signals(), 98);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn connect_latest<S: ConnectTo<A>>(&self, slot: S) -> Result<Connection, Error> {
        let (target, index) = slot.target();
        self.connect_with(target, index, Delivery::KeepLatest)
    }

    /// Connects the signal to `slot` for one emission (Qt's single-shot
    /// connection): the next emission reaches the slot (an `emit_many`
    /// batch, its first item), exactly once even when threads emit at the
    /// same time, and the connection ends. An emission that finds the
    /// slot's inbox full takes it too (and is counted as dropped).
    ///
    /// ```
    /// # use signal_slot::{Context, EventLoop, event_loop_object};
    /// #[event_loop_object]
    /// struct Server;
    ///
    /// #[event_loop_object]
    /// impl Server {
    ///     #[signal]
    ///     fn ready(port: u16);
    /// }
    ///
    /// #[event_loop_object]
    /// struct Client { ports: Vec<u16> }
    ///
    /// #[event_loop_object]
    /// impl Client {
    ///     #[slot]
    ///     fn on_ready(&mut self, port: u16) {
    ///         self.ports.push(port);
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("connect_once_example")?;
    /// let server = main.add(Server)?;
    /// let client = main.add(Client { ports: Vec::new() })?;
    /// let kept = main.keep(&client)?;
    /// server.ready().connect_once(client.on_ready())?;
    /// server.ready().emit(8080);
    /// server.ready().emit(8081); // not connected any more
    /// main.stop();
    /// main.exec();
    /// assert_eq!(kept.take()?.ports, [8080]);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn connect_once<S: ConnectTo<A>>(&self, slot: S) -> Result<Connection, Error> {
        let (target, index) = slot.target();
        self.connect_with(target, index, Delivery::SingleShot)
    }

    pub(super) fn connect_with(
        &self,
        target: &ObjectHandle,
        slot: u16,
        delivery: Delivery,
    ) -> Result<Connection, Error> {
        self.connect_receiver(
            crate::connection::receiver_to(&target.shared, slot),
            target,
            delivery,
        )
    }

    pub(super) fn connect_receiver(
        &self,
        receiver: ReceiverRef,
        target: &ObjectHandle,
        delivery: Delivery,
    ) -> Result<Connection, Error> {
        let peer = receiving_peer(target)?;
        if peer.is_gone() {
            return Err(Error::LoopEnded(peer.name().to_owned()));
        }
        let gone = |object: &ObjectHandle| Error::ObjectNotFound {
            loop_name: object.loop_label(),
            id: object.id().to_owned(),
        };
        if receiver.slot == self.index | slot::RELAY && target == self.emitter {
            return Err(Error::Connection {
                emitter: self.emitter.id().to_owned(),
                loop_name: self.emitter.loop_label(),
                message: format!(
                    "the signal `{}` cannot be connected to itself: it would re-emit forever",
                    self.name
                ),
            });
        }
        if receiver.slot & slot::RELAY != 0
            && receiver.slot != connection::ANY_SLOT
            && receiver.slot & !slot::RELAY >= target.shared.destroyed_index()
        {
            return Err(Error::Connection {
                emitter: self.emitter.id().to_owned(),
                loop_name: self.emitter.loop_label(),
                message: format!(
                    "`{}` emits its `destroyed` signal itself when it leaves its loop: no signal \
                     can be connected to it",
                    target.id()
                ),
            });
        }
        if target.shared.detached.load(Ordering::Acquire)
            || (!peer.is_remote() && !registry().is_attached(peer.name(), target.id()))
        {
            return Err(gone(target));
        }
        if peer.is_remote() && !remote_object_is_there(&peer, target) {
            return Err(gone(target));
        }
        self.check_signatures(target, receiver.slot, &peer)?;
        if self.emitter.shared.detached.load(Ordering::Acquire) {
            return Err(gone(self.emitter));
        }
        let slot = receiver.slot;
        if !change(
            self.emitter,
            self.index,
            &peer,
            Change::Connect(receiver, delivery),
        )? {
            tracing::debug!(
                signal = self.name,
                emitter = self.emitter.id(),
                receiver = target.id(),
                slot = target.slot_name(slot),
                "already connected; the connection delivers once"
            );
        }
        Ok(Connection {
            emitter: self.emitter.clone(),
            signal: self.index,
            receiver: target.clone(),
            slot,
            owns_receiver: false,
        })
    }

    /// Disconnects `slot` (fan-out or balanced). Disconnecting a slot that is
    /// not connected logs a warning and is not an error.
    ///
    /// ```
    /// # use signal_slot::{EventLoop, event_loop_object};
    /// # #[event_loop_object] struct Button;
    /// # #[event_loop_object] impl Button { #[signal] fn clicked(); }
    /// # #[event_loop_object] struct Lamp;
    /// # #[event_loop_object] impl Lamp { #[slot] fn toggle(&mut self) {} }
    /// let main = EventLoop::new("disconnect_example")?;
    /// let button = main.add(Button)?;
    /// let lamp = main.add(Lamp)?;
    /// button.clicked().connect(lamp.toggle())?;
    /// button.clicked().disconnect(lamp.toggle())?;
    /// // Not connected any more: a warning, not an error.
    /// button.clicked().disconnect(lamp.toggle())?;
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if the slot's object is not attached to a
    /// loop; [`Error::Connection`] if the emitter lives in another process
    /// that cannot be asked.
    pub fn disconnect<S: ConnectTo<A>>(&self, slot: S) -> Result<(), Error> {
        let (target, index) = slot.target();
        let peer = receiving_peer(target)?;
        let receiver = crate::connection::receiver_to(&target.shared, index);
        if !change(
            self.emitter,
            self.index,
            &peer,
            Change::Disconnect(receiver),
        )? {
            tracing::warn!(
                signal = self.name,
                emitter = self.emitter.id(),
                receiver = target.id(),
                slot = target.slot_name(index),
                "disconnect: the signal `{}` of `{}` is not connected to `{}.{}`",
                self.name,
                self.emitter.id(),
                target.id(),
                target.slot_name(index),
            );
        }
        Ok(())
    }

    /// Connects the signal to a closure that runs on `event_loop` (Qt's
    /// functor connection with a context object): typed like a slot, it
    /// takes the signal's arguments one by one (annotated), or the first of
    /// them, and is called on the loop's thread, in order with the loop's
    /// other deliveries.
    ///
    /// The closure lives on the loop as a hidden object: it leaves when the
    /// connection ends (see [`Connection::disconnect`] and
    /// [`Connection::scoped`]; dropping the [`Connection`] leaves it
    /// connected), when the emitter is detached, or when the loop ends.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use signal_slot::{EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Thermometer;
    ///
    /// #[event_loop_object]
    /// impl Thermometer {
    ///     #[signal]
    ///     fn reading(celsius: u64, place: String);
    /// }
    ///
    /// let mut main = EventLoop::new("connect_fn_example")?;
    /// let thermometer = main.add(Thermometer)?;
    /// let total = Arc::new(AtomicU64::new(0));
    /// let sum = total.clone();
    /// let stop = main.handle();
    /// // A prefix of the arguments: the place is left out.
    /// thermometer.reading().connect_fn(&main, move |celsius: u64| {
    ///     if sum.fetch_add(celsius, Ordering::Relaxed) + celsius >= 40 {
    ///         stop.stop();
    ///     }
    /// })?;
    /// thermometer.reading().emit(19, "hall".to_owned());
    /// thermometer.reading().emit(21, "kitchen".to_owned());
    /// main.exec();
    /// assert_eq!(total.load(Ordering::Relaxed), 40);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// A closure that cannot receive the signal's arguments does not
    /// compile:
    ///
    /// ```compile_fail
    /// # use signal_slot::{EventLoop, event_loop_object};
    /// # #[event_loop_object] struct A;
    /// # #[event_loop_object] impl A { #[signal] fn ping(n: u64); }
    /// # let main = EventLoop::new("compile_fail_main").unwrap();
    /// # let a = main.add(A).unwrap();
    /// a.ping().connect_fn(&main, |text: String| {})?; // error: not a `u64`
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ClosureElsewhere`] if `event_loop` runs in another process,
    /// or is an [`EventLoopProcess`](crate::EventLoopProcess)'s (a closure
    /// cannot go there: connect a slot of an object there instead),
    /// [`Error::Connection`] if the emitter lives in another process (its
    /// connections live there, where the closure cannot go), and the errors
    /// of [`connect`](Self::connect).
    pub fn connect_fn<F: SlotFn<A, Args>, Args>(
        &self,
        event_loop: &LoopHandle,
        closure: F,
    ) -> Result<Connection, Error> {
        let elsewhere = self.emitter.shared.remote_home().or_else(|| {
            // An `EventLoopProcess`'s loop, not started: its objects'
            // connections go with it.
            self.emitter.peer().filter(|peer| peer.runs_elsewhere())
        });
        if let Some(home) = elsewhere {
            return Err(Error::Connection {
                emitter: self.emitter.id().to_owned(),
                loop_name: home.name().to_owned(),
                message: "a closure receives signals of this process only: the emitter's \
                          connections live in another process, where the closure cannot go; \
                          connect a slot instead"
                    .to_owned(),
            });
        }
        if event_loop.peer().runs_elsewhere() {
            return Err(Error::ClosureElsewhere {
                loop_name: event_loop.name().to_owned(),
            });
        }
        let handle = event_loop.add(closure::Closure::new(closure, self.decode))?;
        let handle = TypedHandle::object_handle(&handle);
        let mut receiver = crate::connection::receiver_to(&handle.shared, 0);
        // From here, the closure leaves its loop with the last copy of the
        // lease: at once if the connection is refused.
        receiver.lease = Some(Lease::new(handle, event_loop.peer().clone()));
        let mut connection = self.connect_receiver(receiver, handle, Delivery::FanOut)?;
        connection.owns_receiver = true;
        Ok(connection)
    }

    /// Ends every connection of the signal (Qt's `disconnect(sender,
    /// signal, nullptr, nullptr)`); broadcasts and publications stay. True
    /// if there was any.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] if the emitter's process cannot be reached.
    pub fn disconnect_all(&self) -> Result<bool, Error> {
        disconnect_all(self.emitter, self.index)
    }

    /// How many receivers the signal has now (Qt's `receivers()`): slots,
    /// signals and closures connected to it, each once whatever its
    /// delivery; subscribers of its broadcasts are not counted.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] if the emitter lives in another process that
    /// cannot be asked.
    pub fn receivers(&self) -> Result<usize, Error> {
        receivers(self.emitter, self.index)
    }
}
