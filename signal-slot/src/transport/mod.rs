//! How messages reach a loop: its inbox inside the process, an outbox to
//! another process, the process tree's routes, and the accounting of what
//! could not be delivered.
//!
//! A [`LoopPeer`] is this process's view of one loop, wherever it runs. Its
//! route says how to reach it: the loop's queue when it runs in this
//! process, an outbox that writes to its process otherwise, or nothing once
//! it has ended. Dispatch code never sees the difference.
//!
//! - `outbox`: the sending side to a loop of another process, with its
//!   writer thread.
//! - `reader`: the receiving side of a loop from other processes.
//! - [`routes`]: which loops this process can reach, and how, as processes
//!   come and go.
//! - [`accounting`]: drops by reason, and the delivery ledger.

pub(crate) mod accounting;
mod outbox;
mod reader;
pub(crate) mod routes;

pub(crate) use accounting::{DropCounter, DropReason};
pub(crate) use outbox::{OutItem, Outbox};
pub(crate) use reader::{RouteUpdate, spawn as spawn_reader};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};
use ipc_channel::ipc::IpcBytesSender;

use crate::command::Command;
use crate::connection::{DeliveryError, Header};
use crate::error::Error;
use crate::object::{ErasedObject, ObjectShared};
use crate::payload::Args;
use crate::wire;

/// The default capacity of an inbox, in messages (an `emit_many` batch is
/// one message).
pub const DEFAULT_INBOX_CAPACITY: usize = 100_000;

/// One emission (or batch) of a signal, for the receivers on one loop.
pub(crate) struct SignalEnvelope {
    pub(crate) header: Arc<Header>,
    pub(crate) args: Args,
}

/// A message in a loop's queue.
pub(crate) enum Envelope {
    Signal(SignalEnvelope),
    /// An object joining the loop.
    Attach(Box<dyn ErasedObject>),
    Command(Command),
    /// Frames from another process, decoded by the loop.
    Packet(Vec<u8>),
}

/// The sending side of a loop's queue inside this process.
#[derive(Clone)]
pub(crate) struct InboxSender {
    tx: Sender<Envelope>,
    capacity: usize,
}

impl InboxSender {
    pub(crate) fn is_full(&self) -> bool {
        self.tx.len() >= self.capacity
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues regardless of capacity; returns the envelope if the loop's
    /// queue is gone.
    pub(crate) fn send(&self, envelope: Envelope) -> Result<(), Envelope> {
        self.tx.send(envelope).map_err(|error| error.into_inner())
    }
}

/// Creates a loop's queue. It is unbounded so that control messages (attach,
/// stop) are never lost, and signals respect `capacity` by a length check.
pub(crate) fn inbox(capacity: usize) -> (InboxSender, Receiver<Envelope>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (InboxSender { tx, capacity }, rx)
}

/// How this process reaches a loop.
pub(crate) enum Route {
    /// The loop runs (or will run) in this process.
    Local(InboxSender),
    /// The loop runs in another process.
    Remote(Outbox),
    /// The loop has ended; nothing reaches it any more.
    Gone,
}

/// This process's view of one event loop, wherever it runs: how to reach
/// it, and the count of what could not reach it.
pub(crate) struct LoopPeer {
    name: Arc<str>,
    this: Weak<LoopPeer>,
    /// Where other processes reach the loop, once it can be reached.
    address: OnceLock<IpcBytesSender>,
    /// Whether the route is `Remote`, for the emit path (one load less).
    remote: AtomicBool,
    route: ArcSwap<Route>,
    /// The loop's own object (its `stop` slot, `start` and `terminate`
    /// signals), held weakly to avoid a cycle through its home.
    pub(crate) loop_object: OnceLock<Weak<ObjectShared>>,
    drops: DropCounter,
}

impl LoopPeer {
    pub(crate) fn new(name: Arc<str>, route: Route) -> Arc<Self> {
        Arc::new_cyclic(|this| LoopPeer {
            this: this.clone(),
            address: OnceLock::new(),
            remote: AtomicBool::new(matches!(route, Route::Remote(_))),
            route: ArcSwap::from_pointee(route),
            loop_object: OnceLock::new(),
            drops: DropCounter::new(name.clone()),
            name,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn weak(&self) -> Weak<LoopPeer> {
        self.this.clone()
    }

    /// What this process could not deliver to the loop.
    pub(crate) fn drops(&self) -> &DropCounter {
        &self.drops
    }

    /// True if the loop runs in another process.
    pub(crate) fn is_remote(&self) -> bool {
        self.remote.load(Ordering::Acquire)
    }

    /// Where other processes reach the loop, if they can.
    pub(crate) fn address(&self) -> Option<&IpcBytesSender> {
        self.address.get()
    }

    /// Records where other processes reach the loop. Returns false if it was
    /// known already.
    pub(crate) fn set_address(&self, address: IpcBytesSender) -> bool {
        self.address.set(address).is_ok()
    }

    /// The loop's queue, while it runs in this process.
    pub(crate) fn local_inbox(&self) -> Option<InboxSender> {
        match &**self.route.load() {
            Route::Local(inbox) => Some(inbox.clone()),
            _ => None,
        }
    }

    /// The outbox to the loop, while it runs in another process.
    pub(crate) fn outbox(&self) -> Option<Outbox> {
        match &**self.route.load() {
            Route::Remote(outbox) => Some(outbox.clone()),
            _ => None,
        }
    }

    /// Replaces the route. Returns the old one, which the caller drops or,
    /// in a child that has just been forked, leaks: the old route may hold
    /// queues whose other ends were in threads that do not exist here.
    pub(crate) fn set_route(&self, route: Route) -> Arc<Route> {
        // Route first, flag second: an emitter that sees the new flag finds
        // the new route.
        let remote = matches!(route, Route::Remote(_));
        let old = self.route.swap(Arc::new(route));
        self.remote.store(remote, Ordering::Release);
        old
    }

    /// True if the loop has ended.
    pub(crate) fn is_gone(&self) -> bool {
        matches!(**self.route.load(), Route::Gone)
    }

    /// Marks the loop as ended: later deliveries are dropped and counted.
    pub(crate) fn set_gone(&self) {
        self.route.store(Arc::new(Route::Gone));
        self.remote.store(false, Ordering::Release);
    }

    /// Delivers a signal, unless the inbox is full or the loop is gone.
    /// Never blocks.
    pub(crate) fn deliver(&self, envelope: SignalEnvelope) -> Result<(), DeliveryError> {
        match &**self.route.load() {
            Route::Local(inbox) => {
                if inbox.tx.len() >= inbox.capacity {
                    return Err((envelope, DropReason::Full));
                }
                inbox.tx.send(Envelope::Signal(envelope)).map_err(|error| {
                    let Envelope::Signal(envelope) = error.into_inner() else {
                        unreachable!("a signal was sent")
                    };
                    (envelope, DropReason::Gone)
                })
            }
            Route::Remote(outbox) => outbox.push_signal(self, envelope),
            Route::Gone => Err((envelope, DropReason::Gone)),
        }
    }

    /// Queues a message (a command, an object, a slot invocation)
    /// regardless of the inbox's capacity, so that it is never lost while
    /// the loop runs.
    pub(crate) fn post(&self, envelope: Envelope) -> Result<(), Error> {
        let ended = || Error::LoopEnded(self.name.to_string());
        match &**self.route.load() {
            Route::Local(inbox) => inbox.tx.send(envelope).map_err(|_| ended()),
            Route::Remote(outbox) => {
                let item = match envelope {
                    Envelope::Signal(signal) => OutItem::Signal(signal),
                    Envelope::Packet(packet) => OutItem::Packet(packet),
                    Envelope::Command(command) => OutItem::Packet(wire::command_packet(command)),
                    Envelope::Attach(object) => {
                        return Err(Error::RemoteLoop {
                            loop_name: self.name.to_string(),
                            id: object.handle().id().to_owned(),
                        });
                    }
                };
                outbox.push(self, item).map_err(|_| ended())
            }
            Route::Gone => Err(ended()),
        }
    }

    /// Sends a command to the loop, in order with its signals.
    pub(crate) fn send_command(&self, command: Command) -> Result<(), Error> {
        self.post(Envelope::Command(command))
    }

    /// Sends encoded frames to the loop, in order with its signals.
    #[cfg(test)]
    pub(crate) fn send_frames(&self, packet: Vec<u8>) -> Result<(), Error> {
        self.post(Envelope::Packet(packet))
    }

    /// Forwards an emission to the process where its emitter lives, which
    /// holds its connections.
    pub(crate) fn forward_emit(&self, emitter: &Arc<ObjectShared>, index: u16, args: Args) {
        let count = args.count() as u64;
        let signal = emitter.signal_name(index);
        let describe = || {
            format!(
                "signal `{signal}` from `{}` (emitted here on its behalf)",
                emitter.id
            )
        };
        match &**self.route.load() {
            Route::Remote(outbox) if outbox.is_full() => {
                self.drops.record(count, DropReason::Full, describe);
            }
            Route::Remote(outbox) => {
                let item = OutItem::EmitRequest {
                    emitter: emitter.clone(),
                    signal: index,
                    args,
                };
                if outbox.push(self, item).is_err() {
                    self.drops.record(count, DropReason::Gone, describe);
                }
            }
            _ => self.drops.record(count, DropReason::Gone, describe),
        }
    }
}

/// Prepares the transport for child processes, so that no thread is in
/// the middle of initializing a lazy global (this crate's or the ipc
/// library's) when the process forks: in the child, such a global would
/// stay locked.
pub(crate) fn prepare_for_processes() -> std::io::Result<()> {
    accounting::prepare_for_processes();
    // The ipc library sizes its messages from a lazily read socket option,
    // first read by a send or a receive.
    let (tx, rx) = ipc_channel::ipc::bytes_channel()?;
    tx.send(&[0])?;
    rx.recv().map_err(std::io::Error::other)?;
    Ok(())
}
