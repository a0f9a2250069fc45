//! Slots: what a signal connects to, and what a slot may return.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::connection::Header;
use crate::error::Error;
use crate::object::ObjectHandle;
use crate::payload::{Args, EncodeFn};
use crate::protocol::DropReason;
use crate::transport::{Envelope, SignalEnvelope};

use super::receiving_peer;

/// The signal name of a direct invocation of a slot, for messages.
pub(crate) const INVOKE: &str = "<invoke>";

/// A slot of an object, taking argument tuple `A` and giving its callers a
/// value of type `R` (`()` for a slot that returns nothing, or only
/// errors): what a signal of the same argument types connects to, and what
/// [`call`](Self::call) and [`call_then`](Self::call_then) call.
pub struct Slot<'a, A, R = ()> {
    pub(super) target: &'a ObjectHandle,
    pub(super) index: u16,
    pub(super) encode: EncodeFn<A>,
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
        let peer = receiving_peer(self.target)?;
        peer.post(Envelope::Signal(self.envelope(args)))
    }

    /// Calls the slot on its loop with `args` as an emission reaches it:
    /// the loop's capacity applies (where [`invoke`](Self::invoke) queues
    /// past it), and a call that does not fit, or finds the loop ended, is
    /// dropped and counted for the loop ([`LoopHandle::dropped_signals`](crate::LoopHandle::dropped_signals)).
    /// Never blocks; `Err` says why the call was dropped. For code that sends to
    /// one object without a connection and must not grow a slow loop's
    /// queue without bound (a bridge from another language, say).
    ///
    /// ```
    /// # use signal_slot::{DropReason, EventLoop, event_loop_object};
    /// #[event_loop_object]
    /// struct Sink { got: u32 }
    ///
    /// #[event_loop_object]
    /// impl Sink {
    ///     #[slot]
    ///     fn take(&mut self, _n: u32) {
    ///         self.got += 1;
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::builder("post_example").capacity(2).build()?;
    /// let sink = main.add(Sink { got: 0 })?;
    /// let queued = (0..3).filter(|&n| sink.take().post(n).is_ok()).count();
    /// assert_eq!(queued, 2);
    /// assert_eq!(sink.take().post(3), Err(DropReason::Full));
    /// assert_eq!(main.dropped_signals(), 2);
    /// main.process_events();
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn post(&self, args: impl IntoArgs<A>) -> Result<(), DropReason> {
        self.post_args(|| Args::one(args.into_args(), self.encode))
    }

    /// [`post`](Self::post) for a batch of calls, in one message: as
    /// [`Signal::emit_many`](crate::Signal::emit_many) is to `emit`. The
    /// batch is queued whole or dropped whole, and counted as that many
    /// (an empty batch is not sent).
    pub fn post_many<I: IntoIterator<Item = impl IntoArgs<A>>>(
        &self,
        batch: I,
    ) -> Result<(), DropReason> {
        let calls: Vec<A> = batch.into_iter().map(IntoArgs::into_args).collect();
        if calls.is_empty() {
            return Ok(());
        }
        self.post_args(|| Args::many(calls, self.encode))
    }

    fn post_args(&self, args: impl FnOnce() -> Args) -> Result<(), DropReason> {
        let Ok(peer) = receiving_peer(self.target) else {
            // On no loop: there is no loop to count it for.
            return Err(DropReason::Gone);
        };
        let envelope = SignalEnvelope {
            header: self.header(),
            args: args(),
        };
        peer.deliver(envelope).map_err(|(envelope, reason)| {
            peer.drops().record_envelope(&envelope, reason);
            reason
        })
    }

    /// The call, as a signal with no emitter.
    fn envelope(&self, args: impl IntoArgs<A>) -> SignalEnvelope {
        SignalEnvelope {
            header: self.header(),
            args: Args::one(args.into_args(), self.encode),
        }
    }

    /// The header of a call: a signal with no emitter, to this slot.
    fn header(&self) -> Arc<Header> {
        Arc::new(Header::new(
            None,
            INVOKE,
            Box::new([crate::connection::receiver_to(
                &self.target.shared,
                self.index,
            )]),
            false,
            false,
            None,
        ))
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
/// slot and emitter; a caller gets it as [`CallError::Failed`](crate::CallError::Failed)) and the
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
