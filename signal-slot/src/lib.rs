//! Qt-like event loops, signals and slots for communication across threads
//! and processes, with signatures checked at compile time.
//!
//! An application is a set of [`EventLoop`]s, each occupying a thread or a
//! process. Its logic lives in *objects* on those loops: plain structs
//! annotated with [`#[event_loop_object]`](event_loop_object). Objects
//! declare typed *signals* and *slots*; connecting a signal to a slot of a
//! different signature does not compile. Emitting a signal queues one
//! message per receiving loop, whatever runs where: the same loop, another
//! thread, or another process.
//!
//! ```
//! use std::time::Duration;
//! use signal_slot::{Context, EventLoop, EventLoopThread, Timer, event_loop_object};
//!
//! #[event_loop_object]
//! struct Ping { rounds: u32 }
//!
//! #[event_loop_object]
//! impl Ping {
//!     #[signal]
//!     fn ping(round: u32);
//!
//!     #[slot]
//!     fn on_pong(&mut self, ctx: &mut Context<Self>, round: u32) {
//!         self.rounds = round;
//!         if round < 3 {
//!             ctx.ping().emit(round + 1);
//!         } else {
//!             ctx.stop_loop();
//!         }
//!     }
//! }
//!
//! #[event_loop_object]
//! struct Pong;
//!
//! #[event_loop_object]
//! impl Pong {
//!     #[signal]
//!     fn pong(round: u32);
//!
//!     #[slot]
//!     fn on_ping(&mut self, ctx: &mut Context<Self>, round: u32) {
//!         ctx.pong().emit(round);
//!     }
//! }
//!
//! let mut main = EventLoop::new("doc_main")?;
//! let mut worker = EventLoopThread::new("doc_worker")?;
//! let ping = main.add_with_id("ping", Ping { rounds: 0 })?;
//! let pong = worker.add_with_id("pong", Pong)?;
//! ping.ping().connect(pong.on_ping())?;
//! pong.pong().connect(ping.on_pong())?;
//! // The worker stops when the main loop ends.
//! main.terminate_signal().connect(worker.stop_slot())?;
//!
//! worker.start()?;
//! ping.ping().emit(1);
//! main.exec();
//! worker.join()?;
//! # Ok::<(), signal_slot::Error>(())
//! ```
//!
//! # Concepts
//!
//! | concept | type |
//! |---|---|
//! | a loop on this thread | [`EventLoop`], reached from anywhere through a [`LoopHandle`] |
//! | a loop on its own thread | [`EventLoopThread`] |
//! | a loop in a child process | [`EventLoopProcess`] |
//! | an object on a loop | a struct with `#[event_loop_object]`, reached through its [`Handle`] |
//! | a signal, a slot | [`Signal`], [`Slot`], from the handle's generated methods |
//! | a slot's view of its loop | [`Context`] |
//! | broadcast to a loop's subscribers | [`topic!`], [`Signal::publish_on`], [`ObjectHandle::subscribe`]; by name: [`Signal::broadcast_on`], [`ObjectHandle::subscribe_by_name`] |
//! | a work queue | [`Signal::connect_balanced`] |
//! | the newest value only (weights, poses, progress) | [`Signal::connect_latest`] |
//! | one emission only (Qt's single-shot connection) | [`Signal::connect_once`] |
//! | an object's signals held for a scope (Qt's `QSignalBlocker`) | [`ObjectHandle::block_signals`] |
//! | time | [`Timer`], [`TightLoop`] |
//! | an object back from its loop, to read its state | [`LoopHandle::keep`], [`Kept`] |
//! | large payloads between processes, with no copy | [`BufferPool`], [`SharedBuffer`] |
//! | a picture of the running system (Mermaid, DOT, JSON) | [`Topology`] |
//! | loops of other programs, across machines (feature `zenoh`) | `network::Network` |
//!
//! # Delivery
//!
//! - Every emission reaches every connected slot: one message per receiving
//!   loop, which the loop hands to each receiver on it.
//! - Emissions of one emitter from one thread arrive at a loop in emission
//!   order.
//! - Connecting the same signal to the same slot twice delivers once.
//! - Emitting never blocks and never fails. When a receiver's inbox is full
//!   or its loop is gone, the signal is dropped for that receiver, the drop is
//!   counted ([`LoopHandle::dropped_signals`]) and reported through `tracing`
//!   at most once a second per loop.
//! - Inside a process, arguments are moved (or cloned, for all but the last
//!   receiver) and never serialized. Between processes they travel as
//!   MessagePack; a [`SharedBuffer`] travels as a handle to memory both
//!   processes map.
//! - A panicking slot is caught and reported with its loop, object, slot and
//!   emitter; the loop ends with [`ExitStatus::SlotFailed`] unless its
//!   [`PanicPolicy`] says to keep going.
//!
//! # Serial mode
//!
//! [`EventLoopThread::new_serial`] (and [`EventLoopProcess::new_serial`]) runs a loop on the
//! thread that starts it instead of a thread of its own, driven by the loop
//! that runs there. Everything then happens on one thread, in a deterministic
//! order: for tests and debugging.
//!
//! # Logging
//!
//! The library logs through [`tracing`]; install any subscriber to see it.
//! It prints nothing itself.
//!
//! # The guide
//!
//! The long form, one chapter per module of [`guide`]: semantics, calls,
//! async code, Qt's toolbox, processes, shared buffers, the network,
//! reliability, testing, the system's picture and performance.

#![warn(missing_docs)]
// docs.rs builds with `--cfg docsrs`: every feature-gated item shows its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

extern crate self as signal_slot;

mod call;
#[doc(hidden)]
pub mod codec;
mod command;
mod connection;
mod context;
mod error;
mod event_loop;
pub mod guide;
mod interrupt;
mod keep;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(feature = "zenoh")]
#[cfg_attr(docsrs, doc(cfg(feature = "zenoh")))]
pub mod network;
mod object;
mod payload;
mod pool;
mod process;
mod protocol;
mod serial;
mod signal;
mod signature;
mod stats;
mod status;
#[allow(unsafe_code)]
mod sys;
mod thread;
mod timer;
mod topology;
mod transport;
mod travel;
mod util;
mod wire;

use sys::platform;

pub use call::{CallError, SlotReply};
pub use codec::EncodedArgs;
pub use context::{Context, Sender};
pub use error::{DecodeError, EncodeError, Error, SlotError};
pub use event_loop::{EventLoop, EventLoopBuilder, LoopHandle};
pub use keep::Kept;
pub use object::{EventLoopObject, Handle, ObjectHandle, SignalBlocker};
pub use pool::{BufferMut, BufferPool, SharedBuffer};
pub use process::{
    Deaf, DeafReason, EventLoopProcess, ProcessExit, StartMethod, init_process, set_start_method,
    start_method,
};
pub use protocol::Delivery;
pub use signal::{
    CallFuture, ConnectTo, Connection, ForeignObject, ForeignSlot, IntoArgs, PrefixOf,
    ScopedConnection, Signal, SignalArg, SignalStream, Slot, SlotFn, SlotReturn, StreamItem, Topic,
};
pub use stats::{
    DEFAULT_SLOW_SLOT, DEFAULT_STUCK_AFTER, DropCounts, DropReason, LoopStats, RingFill, SlotStats,
};
pub use status::{ExitStatus, IdleWait, PanicPolicy, SlotFailure};
pub use thread::EventLoopThread;
pub use timer::{TightLoop, Timer};
pub use topology::{
    ConnectionInfo, ConnectionRates, LoopInfo, ObjectInfo, ProcessInfo, Receiver, SubscriptionInfo,
    Topology,
};
pub use transport::{DEFAULT_INBOX_BYTES, DEFAULT_INBOX_CAPACITY, DEFAULT_LARGE_INBOX_BYTES};

/// The deepest nesting an argument may have to travel to another process:
/// deeper values are refused when they are encoded (dropped and counted,
/// with an error that says so), as MessagePack's decoder would refuse them.
pub const MAX_NESTING: usize = codec::MAX_DEPTH;

/// Turns a struct into an event loop object, and one `impl` block of it into
/// its signals and slots.
///
/// ```
/// use signal_slot::{Context, EventLoop, event_loop_object};
///
/// #[event_loop_object]
/// struct Thermometer {
///     readings: u32,
/// }
///
/// #[event_loop_object]
/// impl Thermometer {
///     /// A signal: a declaration with named, typed arguments and no body.
///     #[signal]
///     fn too_hot(celsius: f64, sensor: String);
///
///     /// A slot: a method taking `&mut self` (or `&self`), optionally the
///     /// context, then its arguments.
///     #[slot]
///     fn on_reading(&mut self, ctx: &mut Context<Self>, celsius: f64) {
///         self.readings += 1;
///         if celsius > 90.0 {
///             ctx.too_hot().emit(celsius, ctx.id().to_owned());
///         }
///     }
///
///     // Other methods are ordinary methods.
///     fn reset(&mut self) {
///         self.readings = 0;
///     }
/// }
///
/// let main = EventLoop::new("thermometer_doc")?;
/// let thermometer = main.add_with_id("kitchen", Thermometer { readings: 0 })?;
/// // The handle has a method per signal and per slot.
/// // A slot of the same argument types connects; any other would not compile.
/// # #[event_loop_object] struct Alarm;
/// # #[event_loop_object] impl Alarm { #[slot] fn ring(&mut self, celsius: f64, sensor: String) { let _ = (celsius, sensor); } }
/// let alarm = main.add(Alarm)?;
/// thermometer.too_hot().connect(alarm.ring())?;
/// # Ok::<(), signal_slot::Error>(())
/// ```
///
/// On the struct, the attribute generates the handle type `{Name}Handle`
/// (also written `Handle<Name>`): cheap to clone, `Send` and `Sync`, with
/// the methods of [`ObjectHandle`]
/// through `Deref`. The struct may not be generic.
///
/// On the `impl` block, each `#[signal] fn name(arg: Type, ..);` becomes
/// a method `name()` of the handle returning a typed signal with
/// `emit(arg, ..)`, `emit_tuple`, `emit_many`, `connect`,
/// `connect_balanced`, `connect_latest`, `connect_once`, `disconnect`, `publish_on` and
/// `broadcast_on`; each `#[slot]` method becomes a method of the same name
/// returning a `Slot<(Type, ..), R>` to connect to, `invoke` or `call`. A
/// slot returns `()`, `Result<(), E>` with `E: Display` (an `Err` is
/// reported), or a value `R` for its callers ([`Slot::call`],
/// [`Slot::call_then`]), which must travel like an argument. The return
/// type is read as written: `Result<(), E>` behind a type alias is a value
/// for callers, not an error to report; `Self` is refused (name the type).
///
/// Each signal also gives the struct a hidden method of its name, so that
/// `self.signal()` in a slot fails with an error that says to use the
/// context: a method of that name in the same `impl` block keeps its name,
/// one in another block clashes with it.
///
/// Argument types must be owned and `Clone + Send + Serialize +
/// DeserializeOwned + 'static`. Everything is checked at compile time, with
/// errors at the offending tokens: connecting a signal to a slot of other
/// argument types, arguments that cannot travel, duplicate names, names the
/// handle already has, a signal with a body, a receiver or a return type, a
/// slot without `&self`, generics, `async`.
pub use signal_slot_macros::event_loop_object;

pub use signal_slot_macros::{init, main};

pub use travel::ProcessInit;

/// What generated code uses. Not part of the API: no semver guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec;
    pub use inventory;
    pub use serde;

    /// What travels to a process started by spawn.
    pub mod travel {
        pub use crate::travel::{
            InitFunction, ObjectType, Stays, Traveler, Travels, deserialize_handle,
            serialize_handle,
        };
    }
    pub use crate::error::{DecodeError, EncodeError, SlotError};
    pub use crate::object::{ObjectStruct, TypedHandle, no_such_slot};
    pub use crate::payload::{ErasedArgs, Payload};
    pub use crate::signal::SlotReturn;
    pub use crate::signature::{NamedSignature, Signature, SignatureOf, TracedSignature};

    use crate::object::ObjectHandle;
    use crate::payload::{DecodeFn, EncodeFn};
    use crate::signal::{Signal, SignalArg, Slot};

    /// A signal accessor's value.
    pub fn signal<'a, A>(
        handle: &'a ObjectHandle,
        index: u16,
        name: &'static str,
        encode: EncodeFn<A>,
        decode: DecodeFn<A>,
    ) -> Signal<'a, A> {
        crate::signal::new_signal(handle, index, name, encode, decode)
    }

    /// Re-emits a signal connected to signal `index` of the object of
    /// `ctx`, as that object's (see [`Signal::connect`]).
    pub fn relay<T: crate::EventLoopObject, A: Clone + Send + 'static>(
        ctx: &mut crate::Context<'_, T>,
        index: u16,
        name: &'static str,
        encode: EncodeFn<A>,
        decode: DecodeFn<A>,
        payload: Payload<'_>,
    ) -> Result<(), SlotError> {
        let args = payload.take::<A>(decode)?;
        let handle = TypedHandle::object_handle(ctx.handle());
        crate::signal::new_signal(handle, index, name, encode, decode).emit_tuple(args);
        Ok(())
    }

    /// A slot accessor's value.
    pub fn slot<A, R>(handle: &ObjectHandle, index: u16, encode: EncodeFn<A>) -> Slot<'_, A, R> {
        crate::signal::new_slot(handle, index, encode)
    }

    /// Fails to compile, at the argument's type, if it cannot travel.
    pub fn assert_arg<T: SignalArg>() {}

    /// Fails to compile, at the slot's return type, if it cannot travel
    /// back to a caller.
    pub fn assert_reply<T: crate::call::SlotReply>() {}

    /// A called slot's value, to its caller.
    pub fn reply<T: crate::EventLoopObject, R: crate::call::SlotReply>(
        ctx: &mut crate::Context<'_, T>,
        value: R,
    ) -> Result<(), SlotError> {
        ctx.reply(value);
        Ok(())
    }

    /// A slot that gives no value: a caller, if it was called, gets `()`
    /// once it ran without error.
    pub fn finish<T: crate::EventLoopObject>(
        ctx: &mut crate::Context<'_, T>,
        result: Result<(), SlotError>,
    ) -> Result<(), SlotError> {
        if result.is_ok() {
            ctx.reply(());
        }
        result
    }

    /// Never implemented for an object: the bound of the methods that
    /// catch `self.signal()` in a slot, so that the error says where
    /// signals are.
    #[diagnostic::on_unimplemented(
        message = "a slot emits signals through its context, not through `self`",
        label = "`{Self}` has no signals: its handle and a slot's context have them",
        note = "take `ctx: &mut Context<Self>` after `&mut self` in the slot's parameters, \
                and write `ctx.signal_name().emit(..)`"
    )]
    pub trait EmitThroughContext {}

    impl<T: crate::EventLoopObject> EmitThroughContext for crate::Context<'_, T> {}
}
