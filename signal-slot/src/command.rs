//! Commands: what one process asks of a loop besides signals, applied by
//! the loop in order with them.
//!
//! A command changes state that lives on the loop: the connections of an
//! object that lives there, an object's attachment, a subscription. Inside
//! a process it travels in the loop's queue as it is; to another process it
//! is one wire frame (`wire::Writer::control` and `wire::Reader`, the only
//! conversion in either direction).

use std::sync::Arc;

use crate::protocol::{Change, ReceiverRef};

/// A change to the connections or objects of a loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Changes the connections of signal `signal` of `emitter` (an object
    /// of the loop) to receivers on the loop `event_loop`.
    Connection {
        emitter: Arc<str>,
        signal: u16,
        event_loop: Arc<str>,
        change: Change,
    },
    /// Detaches the object `object` (the one of that instance, or any if
    /// 0) from the loop.
    Detach { object: Arc<str>, instance: u64 },
    /// Subscribes (or, with `on: false`, unsubscribes) a slot of an object
    /// of the loop to the broadcasts of `signal` on the loop.
    Subscribe {
        signal: Arc<str>,
        receiver: ReceiverRef,
        on: bool,
    },
    /// Blocks (or, with `on: false`, unblocks) the signals of the object
    /// `object` (that instance, or any if 0) of the loop.
    Block {
        object: Arc<str>,
        instance: u64,
        on: bool,
    },
    /// An object is on its way to the loop from a loop of another process
    /// (or, with `on: false`, will not come): what comes for it meanwhile
    /// is kept for it.
    Expect {
        object: Arc<str>,
        instance: u64,
        on: bool,
    },
    /// An object arrives from a loop of another process: its transfer (as
    /// MessagePack) and its connections (as `Connection` command frames).
    Arrive {
        transfer: Vec<u8>,
        connections: Vec<u8>,
    },
    /// Hands the state of the object `object` (that instance, or any if 0)
    /// back to another process, as the reply to a call of it, when the
    /// object leaves the loop.
    Keep {
        object: Arc<str>,
        instance: u64,
        route: crate::protocol::ReplyRoute,
    },
}
