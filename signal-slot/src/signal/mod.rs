//! Typed signals and slots.
//!
//! - this module: [`Signal`], what an object emits and connects.
//! - `slot`: [`Slot`], what a signal connects to, and [`SlotReturn`].
//! - `call`: calling a slot for its value (blocking, to a slot, awaited).
//! - `stream`: a signal as an async [`SignalStream`].
//! - `methods`: the methods of the generated per-signal types.

mod apply;
mod broadcast;
mod call;
mod closure;
mod connect;
mod connected;
mod foreign;
mod methods;
mod slot;
mod stream;
mod topic;

pub(crate) use apply::{change, disconnect_all, receivers};

pub(crate) use slot::{RELAY, new_slot};

/// How long a change to the connections of an emitter in another process
/// may take before `connect` gives up.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub use call::CallFuture;
pub(crate) use closure::Lease;
pub use closure::SlotFn;
pub use connected::{Connection, ScopedConnection};
pub use foreign::{ForeignObject, ForeignSlot};
pub use slot::{ConnectTo, IntoArgs, PrefixOf, Slot, SlotReturn};
pub use stream::{SignalStream, StreamItem};
pub use topic::Topic;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use std::sync::atomic::Ordering;

use crate::command::Command;
use crate::connection::{self, Change, Delivery, ReceiverRef};
use crate::error::Error;
use crate::event_loop::LoopHandle;
use crate::object::{NO_LOOP, ObjectHandle, TypedHandle};
use crate::payload::{Args, DecodeFn, EncodeFn};
use crate::transport::registry::registry;
use crate::transport::{Control, LoopPeer};

/// What a signal or slot argument must be: owned, cloneable (for fan-out
/// inside a process), sendable across threads, and serializable (for other
/// processes).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a signal or slot argument",
    label = "this type is not `Clone + Send + Serialize + DeserializeOwned + 'static`",
    note = "arguments are moved or cloned to other threads and encoded as MessagePack for \
            other processes, so they need `Clone`, `Send`, `Serialize` and `Deserialize`"
)]
pub trait SignalArg: Clone + Send + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> SignalArg for T {}

/// A signal of an object, with argument tuple `A`.
///
/// The generated per-signal type, obtained from a handle (`a.signal_a()`)
/// or a slot's context (`ctx.signal_a()`), has the same methods plus `emit`
/// with the declared parameters, and gives this type with `.signal()`, for
/// code that is generic over signals.
pub struct Signal<'a, A> {
    emitter: &'a ObjectHandle,
    index: u16,
    name: &'static str,
    encode: EncodeFn<A>,
    decode: DecodeFn<A>,
}

pub(crate) fn new_signal<'a, A>(
    emitter: &'a ObjectHandle,
    index: u16,
    name: &'static str,
    encode: EncodeFn<A>,
    decode: DecodeFn<A>,
) -> Signal<'a, A> {
    Signal {
        emitter,
        index,
        name,
        encode,
        decode,
    }
}

impl<'a, A> Signal<'a, A> {
    /// The signal's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The object that emits it.
    pub fn emitter(&self) -> &'a ObjectHandle {
        self.emitter
    }

    pub(crate) fn index(&self) -> u16 {
        self.index
    }
}

impl<'a, A: Clone + Send + 'static> Signal<'a, A> {
    /// Emits the signal with its arguments as one tuple.
    ///
    /// Every connected slot receives it: one message per receiving loop,
    /// in emission order per emitter. Never blocks and never fails: a
    /// receiver whose inbox is full (or whose loop is gone) misses it, and
    /// the drop is counted on that loop and logged. The generated `emit`
    /// takes the arguments one by one.
    ///
    /// ```
    /// # use signal_slot::{Context, EventLoop, event_loop_object};
    /// #[event_loop_object]
    /// struct Sensor;
    ///
    /// #[event_loop_object]
    /// impl Sensor {
    ///     #[signal]
    ///     fn reading(name: String, value: f64);
    /// }
    ///
    /// #[event_loop_object]
    /// struct Display { last: Option<(String, f64)> }
    ///
    /// #[event_loop_object]
    /// impl Display {
    ///     #[slot]
    ///     fn show(&mut self, ctx: &mut Context<Self>, name: String, value: f64) {
    ///         self.last = Some((name, value));
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("emit_example")?;
    /// let sensor = main.add(Sensor)?;
    /// let display = main.add(Display { last: None })?;
    /// sensor.reading().connect(display.show())?;
    /// sensor.reading().emit("kitchen".to_owned(), 21.5);
    /// sensor.reading().emit_tuple(("hall".to_owned(), 19.0));
    /// main.exec();
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn emit_tuple(&self, args: A) {
        let encode = self.encode;
        let args = crate::payload::Unsent::new(args);
        connection::emit(&self.emitter.shared, self.index, move || {
            Args::one(args.take(), encode)
        });
    }

    /// Emits the signal once per item of `batch`, in order, as one message
    /// per receiving loop (and one transport operation per receiving
    /// process). A balanced connection receives the batch as a unit.
    ///
    /// The cheap way to send many signals: the per-message costs (queueing,
    /// waking the receiver, looking up its objects) are paid once per batch.
    ///
    /// ```
    /// # use signal_slot::{Context, EventLoop, event_loop_object};
    /// #[event_loop_object]
    /// struct Producer;
    ///
    /// #[event_loop_object]
    /// impl Producer {
    ///     #[signal]
    ///     fn item(seq: u64);
    /// }
    ///
    /// #[event_loop_object]
    /// struct Consumer { seen: Vec<u64> }
    ///
    /// #[event_loop_object]
    /// impl Consumer {
    ///     #[slot]
    ///     fn on_item(&mut self, ctx: &mut Context<Self>, seq: u64) {
    ///         self.seen.push(seq);
    ///         if seq == 99 {
    ///             assert_eq!(self.seen, (0..100).collect::<Vec<_>>());
    ///             ctx.stop_loop();
    ///         }
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("emit_many_example")?;
    /// let producer = main.add(Producer)?;
    /// let consumer = main.add(Consumer { seen: Vec::new() })?;
    /// producer.item().connect(consumer.on_item())?;
    /// // One message, a hundred calls of `on_item`, in order.
    /// producer.item().emit_many((0..100).map(|seq| (seq,)));
    /// assert!(main.exec().is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn emit_many<I: IntoIterator<Item = A>>(&self, batch: I) {
        let items: Vec<A> = batch.into_iter().collect();
        if items.is_empty() {
            return;
        }
        let encode = self.encode;
        let items = crate::payload::Unsent::new(items);
        connection::emit(&self.emitter.shared, self.index, move || {
            Args::many(items.take(), encode)
        });
    }
}

/// Encodes the argument of `destroyed`: the object's id.
pub(crate) fn encode_id(
    args: &(String,),
    buf: &mut crate::codec::Encoder<'_>,
) -> Result<(), crate::error::EncodeError> {
    use crate::codec::EncodeSerde as _;
    crate::codec::write_array_len(buf, 1)?;
    (&crate::codec::Arg(&args.0)).encode_arg(buf)
}

/// Decodes the argument of `destroyed`.
pub(crate) fn decode_id(bytes: &mut &[u8]) -> Result<(String,), crate::error::DecodeError> {
    use crate::codec::DecodeSerde as _;
    let rest = crate::codec::read_array_len(bytes, 1)?;
    let id = (&crate::codec::DecodeAs::<String>::new()).decode_arg(bytes)?;
    crate::codec::skip_args(bytes, rest)?;
    Ok((id,))
}

/// Asks the process of `target`'s loop whether `target` (that object, not
/// merely its id) is still there. When the process cannot be asked, the
/// answer is yes: a connection to a loop that ended is harmless.
fn remote_object_is_there(peer: &LoopPeer, target: &ObjectHandle) -> bool {
    let Some(control) = peer.control() else {
        return true;
    };
    match control.lookup(peer.name(), target.id()) {
        Ok(Some((_, instance))) => {
            target.shared.instance == 0 || instance == target.shared.instance
        }
        Ok(None) => false,
        Err(_) => true,
    }
}

pub(crate) fn receiving_peer(target: &ObjectHandle) -> Result<Arc<LoopPeer>, Error> {
    target.peer().ok_or_else(|| Error::ObjectNotFound {
        loop_name: NO_LOOP.to_owned(),
        id: target.id().to_owned(),
    })
}

impl<A> std::fmt::Debug for Signal<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signal({}.{})", self.emitter.id(), self.name)
    }
}

impl<A> Clone for Signal<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for Signal<'_, A> {}
