//! Slots: what a signal connects to, and what a slot may return.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::connection::{Header, ReceiverRef};
use crate::error::Error;
use crate::object::ObjectHandle;
use crate::payload::{Args, EncodeFn};
use crate::transport::{Envelope, SignalEnvelope};

use super::receiving_peer;

/// The signal name of a direct invocation of a slot, for messages.
pub(crate) const INVOKE: &str = "<invoke>";

/// A slot of an object, taking argument tuple `A`: what a signal of the
/// same argument types connects to.
pub struct Slot<'a, A> {
    target: &'a ObjectHandle,
    index: u16,
    encode: EncodeFn<A>,
    _args: PhantomData<fn(A)>,
}

impl<A> Clone for Slot<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for Slot<'_, A> {}

/// A slot that a signal carrying `A` can connect to: a [`Slot`] of the same
/// argument types.
#[diagnostic::on_unimplemented(
    message = "the slot `{Self}` cannot receive a signal carrying `{A}`",
    label = "the slot's parameters must be `{A}`",
    note = "a signal connects to slots that take the same argument types in the same order"
)]
pub trait ConnectTo<A> {
    #[doc(hidden)]
    fn target(&self) -> (&ObjectHandle, u16);
}

impl<A> ConnectTo<A> for Slot<'_, A> {
    fn target(&self) -> (&ObjectHandle, u16) {
        (self.target, self.index)
    }
}

impl<A> ConnectTo<A> for &Slot<'_, A> {
    fn target(&self) -> (&ObjectHandle, u16) {
        (self.target, self.index)
    }
}

pub(crate) fn new_slot<A>(target: &ObjectHandle, index: u16, encode: EncodeFn<A>) -> Slot<'_, A> {
    Slot {
        target,
        index,
        encode,
        _args: PhantomData,
    }
}

impl<'a, A> Slot<'a, A> {
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

impl<A: Clone + Send + 'static> Slot<'_, A> {
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
                receivers: Box::new([ReceiverRef::to(&self.target.shared, self.index)]),
                broadcast: false,
                latest: false,
            }),
            args: Args::one(args, self.encode),
        };
        peer.post(Envelope::Signal(envelope))
    }
}

impl<A> std::fmt::Debug for Slot<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Slot({}.{})",
            self.target.id(),
            self.target.slot_name(self.index)
        )
    }
}

/// What a slot may return: `()`, or `Result<(), E>` where an `Err` is
/// reported (naming the loop, object, slot and emitter) and the loop goes on.
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
