//! Slots: what a signal connects to, and what a slot may return.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::call::{self, CallError, Failure, Reply, ReplyRoute, RequestGuard, SlotReply};

use crate::connection::Header;
use crate::error::Error;
use crate::object::ObjectHandle;
use crate::payload::{Args, EncodeFn};
use crate::transport::{Envelope, SignalEnvelope};

use super::receiving_peer;

/// The signal name of a direct invocation of a slot, for messages.
pub(crate) const INVOKE: &str = "<invoke>";

/// A slot of an object, taking argument tuple `A` and giving its callers a
/// value of type `R` (`()` for a slot that returns nothing, or only
/// errors): what a signal of the same argument types connects to, and what
/// [`call`](Self::call) and [`call_then`](Self::call_then) call.
pub struct Slot<'a, A, R = ()> {
    target: &'a ObjectHandle,
    index: u16,
    encode: EncodeFn<A>,
    _args: PhantomData<fn(A) -> R>,
}

impl<A, R> Clone for Slot<'_, A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for Slot<'_, A, R> {}

/// What a signal carrying `A` can connect to: a [`Slot`] that takes the
/// same argument types, or a prefix of them (the rest are left out, as Qt
/// lets a slot ignore trailing arguments); or another [`Signal`](crate::Signal) of such
/// argument types, which then re-emits it (see
/// [`Signal::connect`](crate::Signal::connect)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot receive a signal carrying `{A}`",
    label = "the slot's parameters must be `{A}`, or a prefix of them",
    note = "a signal connects to slots (and signals) that take the same argument types in the \
            same order, or only the first of them"
)]
pub trait ConnectTo<A> {
    #[doc(hidden)]
    fn target(&self) -> (&ObjectHandle, u16);
}

/// A signal's emissions reach a slot whatever it gives its callers.
impl<A, B: PrefixOf<A>, R> ConnectTo<A> for Slot<'_, B, R> {
    fn target(&self) -> (&ObjectHandle, u16) {
        (self.target, self.index)
    }
}

impl<A, B: PrefixOf<A>, R> ConnectTo<A> for &Slot<'_, B, R> {
    fn target(&self) -> (&ObjectHandle, u16) {
        (self.target, self.index)
    }
}

/// Marks the slot index under which an object re-emits its signal of the
/// index in the other bits.
pub(crate) const RELAY: u16 = 0x8000;

/// A signal connected to a signal: the second object re-emits it.
impl<A, B: PrefixOf<A>> ConnectTo<A> for crate::Signal<'_, B> {
    fn target(&self) -> (&ObjectHandle, u16) {
        (self.emitter(), self.index() | RELAY)
    }
}

/// An argument tuple that starts a longer one, or is it: `(u64,)` is a
/// prefix of `(u64, String)` and of `(u64,)`, and `()` of every tuple. A
/// slot whose arguments are a prefix of a signal's connects to it.
/// Implemented for tuples of up to 8 elements.
#[diagnostic::on_unimplemented(
    message = "a slot taking `{Self}` cannot receive a signal carrying `{A}`",
    label = "the slot's parameters must be `{A}`, or a prefix of them",
    note = "a signal connects to slots (and signals, and closures) that take the same argument \
            types in the same order, or only the first of them"
)]
pub trait PrefixOf<A> {}

impl<A> PrefixOf<A> for A {}

/// `($($p),*)` is a prefix of `($($p),*, $($rest),+)`.
macro_rules! prefix_of {
    ($( ($($p:ident),*) + ($($rest:ident),+) );* $(;)?) => {
        $( impl<$($p,)* $($rest,)+> PrefixOf<($($p,)* $($rest,)+)> for ($($p,)*) {} )*
    };
}

prefix_of! {
    () + (T1);
    () + (T1, T2); (T1) + (T2);
    () + (T1, T2, T3); (T1) + (T2, T3); (T1, T2) + (T3);
    () + (T1, T2, T3, T4); (T1) + (T2, T3, T4); (T1, T2) + (T3, T4); (T1, T2, T3) + (T4);
    () + (T1, T2, T3, T4, T5); (T1) + (T2, T3, T4, T5); (T1, T2) + (T3, T4, T5); (T1, T2, T3) + (T4, T5); (T1, T2, T3, T4) + (T5);
    () + (T1, T2, T3, T4, T5, T6); (T1) + (T2, T3, T4, T5, T6); (T1, T2) + (T3, T4, T5, T6); (T1, T2, T3) + (T4, T5, T6); (T1, T2, T3, T4) + (T5, T6); (T1, T2, T3, T4, T5) + (T6);
    () + (T1, T2, T3, T4, T5, T6, T7); (T1) + (T2, T3, T4, T5, T6, T7); (T1, T2) + (T3, T4, T5, T6, T7); (T1, T2, T3) + (T4, T5, T6, T7); (T1, T2, T3, T4) + (T5, T6, T7); (T1, T2, T3, T4, T5) + (T6, T7); (T1, T2, T3, T4, T5, T6) + (T7);
    () + (T1, T2, T3, T4, T5, T6, T7, T8); (T1) + (T2, T3, T4, T5, T6, T7, T8); (T1, T2) + (T3, T4, T5, T6, T7, T8); (T1, T2, T3) + (T4, T5, T6, T7, T8); (T1, T2, T3, T4) + (T5, T6, T7, T8); (T1, T2, T3, T4, T5) + (T6, T7, T8); (T1, T2, T3, T4, T5, T6) + (T7, T8); (T1, T2, T3, T4, T5, T6, T7) + (T8);
}

pub(crate) fn new_slot<A, R>(
    target: &ObjectHandle,
    index: u16,
    encode: EncodeFn<A>,
) -> Slot<'_, A, R> {
    Slot {
        target,
        index,
        encode,
        _args: PhantomData,
    }
}

impl<'a, A, R> Slot<'a, A, R> {
    /// The slot's name.
    pub fn name(&self) -> &'static str {
        self.target.slot_name(self.index)
    }

    /// The object the slot belongs to.
    pub fn target(&self) -> &'a ObjectHandle {
        self.target
    }

    pub(crate) fn index(&self) -> u16 {
        self.index
    }
}

/// The arguments of a call of a slot that takes the tuple `A`: the tuple
/// itself, or for a slot of one argument, that argument alone.
///
/// ```
/// # use signal_slot::{EventLoop, event_loop_object};
/// # #[event_loop_object] struct Counter { total: u64 }
/// # #[event_loop_object] impl Counter {
/// #     #[slot] fn add(&mut self, amount: u64) { self.total += amount; }
/// #     #[slot] fn add_two(&mut self, a: u64, b: u64) { self.total += a + b; }
/// # }
/// # let main = EventLoop::new("into_args_example")?;
/// # let counter = main.add(Counter { total: 0 })?;
/// counter.add().invoke(5)?; // the same as `invoke((5,))`
/// counter.add_two().invoke((1, 2))?;
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the arguments of a slot taking `{A}`",
    label = "the slot takes `{A}`",
    note = "pass the arguments as one tuple; a slot of one argument also takes it alone"
)]
pub trait IntoArgs<A> {
    /// The argument tuple.
    fn into_args(self) -> A;
}

impl<A> IntoArgs<A> for A {
    fn into_args(self) -> A {
        self
    }
}

/// One argument alone. (It cannot overlap the tuple itself: `T` would have
/// to be `(T,)`.)
impl<T> IntoArgs<(T,)> for T {
    fn into_args(self) -> (T,) {
        (self,)
    }
}

impl<A: Clone + Send + 'static, R> Slot<'_, A, R> {
    /// Calls the slot on its loop with `args` (the argument tuple, or for a
    /// slot of one argument, that argument alone: see [`IntoArgs`]),
    /// queued like a signal with no emitter (the slot's context reports no
    /// sender).
    ///
    /// ```
    /// # use signal_slot::{Context, EventLoop, event_loop_object};
    /// #[event_loop_object]
    /// struct Greeter;
    ///
    /// #[event_loop_object]
    /// impl Greeter {
    ///     #[slot]
    ///     fn greet(&mut self, ctx: &mut Context<Self>, name: String) {
    ///         assert!(ctx.sender().is_none());
    ///         println!("hello, {name}");
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("invoke_example")?;
    /// let greeter = main.add(Greeter)?;
    /// greeter.greet().invoke("world".to_owned())?;
    /// main.exec();
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopEnded`] if the slot's loop has ended.
    pub fn invoke(&self, args: impl IntoArgs<A>) -> Result<(), Error> {
        let args = args.into_args();
        let peer = receiving_peer(self.target)?;
        let envelope = SignalEnvelope {
            header: Arc::new(Header {
                emitter: None,
                signal: INVOKE,
                receivers: Box::new([crate::connection::receiver_to(
                    &self.target.shared,
                    self.index,
                )]),
                broadcast: false,
                latest: false,
                request: None,
            }),
            args: Args::one(args, self.encode),
        };
        peer.post(Envelope::Signal(envelope))
    }
}

/// The signal name of a call of a slot, for messages.
pub(crate) const CALL: &str = "<call>";

impl<A: Clone + Send + 'static, R: SlotReply> Slot<'_, A, R> {
    /// Calls the slot with `args` and waits up to `timeout` for its value:
    /// from a thread that is not the slot's loop's (from a slot, use
    /// [`call_then`](Self::call_then), which does not block the loop).
    ///
    /// The call is queued like an invocation; the slot runs on its loop,
    /// in its process, and its return value comes back. A slot that
    /// returns nothing (or `Result<(), E>`) gives `()` once it ran.
    ///
    /// In a child process, replies from other processes reach this
    /// process once it runs (its init function runs before): a blocking
    /// call from an init function to another process would time out;
    /// make it from a slot with `call_then`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Calculator { calls: u32 }
    ///
    /// #[event_loop_object]
    /// impl Calculator {
    ///     #[slot]
    ///     fn area(&mut self, width: f64, height: f64) -> f64 {
    ///         self.calls += 1;
    ///         width * height
    ///     }
    /// }
    ///
    /// let mut worker = EventLoopThread::new("call_example")?;
    /// let calculator = worker.add(Calculator { calls: 0 })?;
    /// worker.start()?;
    /// let area = calculator.area().call((3.0, 4.0), Duration::from_secs(5));
    /// assert_eq!(area, Ok(12.0));
    /// worker.stop();
    /// worker.join()?;
    /// // Its loop has ended: an error, not a hang.
    /// assert!(calculator.area().call((1.0, 1.0), Duration::from_secs(5)).is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CallError::Timeout`] if no reply came within `timeout` (called
    /// from the slot's own loop, it cannot come: that loop waits here);
    /// [`CallError::Gone`] if the object, its loop or its process is gone,
    /// or its loop ended before it ran the call; [`CallError::Panicked`] if
    /// the slot panicked; [`CallError::Failed`] if the arguments or the
    /// value could not travel, or the slot returned an error.
    pub fn call(&self, args: impl IntoArgs<A>, timeout: Duration) -> Result<R, CallError> {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let callee = self.callee();
        let complete = Box::new(move |reply| {
            let _ = sender.send(reply);
        });
        let route = self
            .request(args.into_args(), timeout, complete)
            .map_err(|error| CallError::Gone {
                callee: callee.clone(),
                why: error.to_string(),
            })?;
        // The table's watcher fails the call at its deadline; the margin
        // is for a watcher that could not start.
        match receiver.recv_timeout(timeout.saturating_add(Duration::from_secs(1))) {
            Ok(reply) => into_value(reply, &callee),
            Err(_) => {
                call::cancel(route.call);
                Err(CallError::Timeout { callee, timeout })
            }
        }
    }

    /// Calls the slot with `args` without waiting: the outcome (its value,
    /// or why there is none, at the latest after `timeout`) arrives as a
    /// call of `reply_to`, a slot that takes `Result<R, CallError>`,
    /// usually of the caller (`ctx.on_reply()` in a slot). Exactly one
    /// outcome arrives.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{CallError, Context, EventLoop, EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Oracle;
    ///
    /// #[event_loop_object]
    /// impl Oracle {
    ///     #[slot]
    ///     fn answer(&mut self, question: String) -> u32 {
    ///         question.len() as u32
    ///     }
    /// }
    ///
    /// #[event_loop_object]
    /// struct Asker { oracle: OracleHandle, answer: Option<u32> }
    ///
    /// #[event_loop_object]
    /// impl Asker {
    ///     #[slot]
    ///     fn ask(&mut self, ctx: &mut Context<Self>) {
    ///         let question = "what is six times seven?".to_owned();
    ///         self.oracle
    ///             .answer()
    ///             .call_then(question, Duration::from_secs(5), ctx.on_answer())
    ///             .unwrap();
    ///     }
    ///
    ///     #[slot]
    ///     fn on_answer(&mut self, ctx: &mut Context<Self>, answer: Result<u32, CallError>) {
    ///         self.answer = answer.ok();
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("call_then_example")?;
    /// let mut worker = EventLoopThread::new("call_then_worker")?;
    /// let oracle = worker.add(Oracle)?;
    /// let asker = main.add(Asker { oracle, answer: None })?;
    /// let kept = main.keep(&asker)?;
    /// worker.start()?;
    /// asker.ask().invoke(())?;
    /// main.exec();
    /// assert_eq!(kept.take()?.answer, Some(24));
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if the slot's object lives on no loop.
    /// Everything else (the callee gone, a panic, the timeout) arrives at
    /// `reply_to` as a [`CallError`].
    pub fn call_then<S: ConnectTo<(Result<R, CallError>,)>>(
        &self,
        args: impl IntoArgs<A>,
        timeout: Duration,
        reply_to: S,
    ) -> Result<(), Error> {
        let (target, index) = reply_to.target();
        let target = target.clone();
        let callee = self.callee();
        let complete = Box::new(move |reply| {
            let value: Result<R, CallError> = into_value(reply, &callee);
            let slot: Slot<'_, (Result<R, CallError>,)> =
                new_slot(&target, index, crate::codec::encode_serde);
            if let Err(error) = slot.invoke((value,)) {
                tracing::debug!(
                    callee,
                    %error,
                    "the outcome of a call cannot reach `{}.{}`",
                    target.id(),
                    target.slot_name(index)
                );
            }
        });
        self.request(args.into_args(), timeout, complete)
            .map(|_| ())
    }

    /// `object.slot`, for messages.
    fn callee(&self) -> String {
        format!("{}.{}", self.target.id(), self.name())
    }

    /// Queues a call of the slot whose outcome `complete` receives.
    fn request(
        &self,
        args: A,
        timeout: Duration,
        complete: Box<dyn FnOnce(Result<Reply, CallError>) + Send>,
    ) -> Result<ReplyRoute, Error> {
        let peer = receiving_peer(self.target)?;
        if peer.on_network() {
            return Err(Error::Network(format!(
                "slot `{}` is on event loop `{}` of another program: calls with a reply do not \
                 cross the network (connect a signal back instead)",
                self.callee(),
                peer.name()
            )));
        }
        let route = call::register(self.callee(), peer.name_arc().clone(), timeout, complete);
        let envelope = SignalEnvelope {
            header: Arc::new(Header {
                emitter: None,
                signal: CALL,
                receivers: Box::new([crate::connection::receiver_to(
                    &self.target.shared,
                    self.index,
                )]),
                broadcast: false,
                latest: false,
                request: Some(RequestGuard::new(route)),
            }),
            args: Args::one(args, self.encode),
        };
        if let Err(error) = peer.post(Envelope::Signal(envelope)) {
            // Told already if the request was dropped here; not if it was
            // meant for another process and could not be written there.
            let failure = match error {
                Error::LoopEnded(_) => Failure::Gone(error.to_string()),
                other => Failure::Failed(other.to_string()),
            };
            call::complete(route.call, Err(failure));
        }
        Ok(route)
    }
}

/// The value of a call from what came back.
fn into_value<R: SlotReply>(reply: Result<Reply, CallError>, callee: &str) -> Result<R, CallError> {
    let failed = |why: String| CallError::Failed {
        callee: callee.to_owned(),
        why,
    };
    match reply? {
        Reply::Value(value) => value
            .downcast::<R>()
            .map(|value| *value)
            .map_err(|_| failed("the reply is not of the slot's type".to_owned())),
        Reply::Encoded(bytes) => crate::codec::value_from_slice::<R>(&bytes)
            .map_err(|why| failed(format!("the reply cannot be decoded: {why}"))),
    }
}

impl<A, R> std::fmt::Debug for Slot<'_, A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Slot({}.{})",
            self.target.id(),
            self.target.slot_name(self.index)
        )
    }
}

/// What a slot that gives its callers no value may return: `()`, or
/// `Result<(), E>` where an `Err` is reported (naming the loop, object,
/// slot and emitter; a caller gets it as [`CallError::Failed`]) and the
/// loop goes on. A slot that returns any other type gives that value to
/// its callers (see [`Slot::call`]).
#[diagnostic::on_unimplemented(
    message = "a slot returns `()` or `Result<(), E>` with `E: Display`, not `{Self}`",
    label = "unsupported slot return type"
)]
pub trait SlotReturn {
    #[doc(hidden)]
    fn into_slot_result(self) -> Result<(), crate::error::SlotError>;
}

impl SlotReturn for () {
    fn into_slot_result(self) -> Result<(), crate::error::SlotError> {
        Ok(())
    }
}

impl<E: std::fmt::Display> SlotReturn for Result<(), E> {
    fn into_slot_result(self) -> Result<(), crate::error::SlotError> {
        self.map_err(|error| crate::error::SlotError::Returned(error.to_string()))
    }
}
