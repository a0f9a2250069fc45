//! How messages reach a loop: its inbox inside the process, a ring to a
//! loop of another process, the process tree's routes, and the accounting
//! of what could not be delivered.
//!
//! A [`LoopPeer`] is this process's view of one loop, wherever it runs. Its
//! route says how to reach it: the loop's inbox when it runs in this
//! process, this process's ring to it otherwise, or nothing once it has
//! ended. Dispatch code never sees the difference.
//!
//! - `envelope`: what a loop's inbox carries.
//! - `inbox`: a loop's receiving side, and its sending side here.
//! - `bell`: the doorbell a loop waits on, rung from any process.
//! - `remote`: sending to a loop of another process, whatever the link.
//! - `link`: the seam to a transport, and the shared-memory ring link.
//! - `tree`: what processes tell each other's agents, and asking them.
//! - [`registry`]: the process's table of loops and objects, by name.
//! - [`routes`]: which loops this process can reach, and how, as loops and
//!   processes come and go.
//! - [`accounting`]: drops by reason.

pub(crate) mod accounting;
mod address;
pub(crate) mod bell;
pub(crate) mod control;
mod envelope;
mod inbox;
mod link;
pub(crate) mod registry;
mod remote;
pub(crate) mod routes;
pub(crate) mod tree;

pub(crate) use accounting::{DropCounter, DropReason};
pub(crate) use control::Control;
pub(crate) use envelope::{
    DIRECT_INVOCATION, DeliveryError, EmitterName, Envelope, Forwarded, Header, LocalWork,
    SignalEnvelope,
};
pub use inbox::{DEFAULT_INBOX_BYTES, DEFAULT_INBOX_CAPACITY, DEFAULT_LARGE_INBOX_BYTES};
pub(crate) use inbox::{InboundRing, Inbox, InboxSender, inbox};
#[cfg(feature = "zenoh")]
pub(crate) use link::{Encode, Link, LinkError};
pub(crate) use remote::{RemoteLoop, encode_signal};
pub(crate) use routes::ProcessId;
pub(crate) use tree::{AgentMessage, describe_process};

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use arc_swap::ArcSwap;

use crate::command::Command;
use crate::error::Error;
use crate::payload::Args;
use crate::stats::LoopActivity;
use crate::wire::{Frame, Writer};
use routes::LoopAddress;

/// How this process reaches a loop.
pub(crate) enum Route {
    /// The loop runs (or will run) in this process.
    Local(InboxSender),
    /// The loop runs in another process.
    Remote(RemoteLoop),
    /// The loop has ended; nothing reaches it any more.
    Gone,
}

/// This process's view of one event loop, wherever it runs: how to reach
/// it, and the count of what could not reach it.
pub(crate) struct LoopPeer {
    name: Arc<str>,
    /// Where other processes reach the loop, once there are any (and until
    /// it ends).
    address: Mutex<Option<Arc<LoopAddress>>>,
    /// Whether the route is `Remote`, for the emit path (one load less).
    remote: AtomicBool,
    /// The loop is to run in a child process (an `EventLoopProcess`'s, not
    /// started yet): what cannot travel (a closure) must not go to it.
    bound_for_child: AtomicBool,
    /// For a loop of another program, reached over the network: its
    /// program's agent there.
    network: OnceLock<Arc<dyn Control>>,
    route: ArcSwap<Route>,
    /// The loop's own object (its `stop` slot, `start` and `terminate`
    /// signals), held weakly to avoid a cycle through its home; the
    /// transport never looks inside (see `LoopHandle::own_object`).
    pub(crate) loop_object: OnceLock<Weak<dyn std::any::Any + Send + Sync>>,
    drops: DropCounter,
    /// What the loop did, counted by its thread (in its own process).
    activity: LoopActivity,
}

impl LoopPeer {
    pub(crate) fn new(name: Arc<str>, route: Route) -> Arc<Self> {
        Arc::new(LoopPeer {
            address: Mutex::new(None),
            remote: AtomicBool::new(matches!(route, Route::Remote(_))),
            bound_for_child: AtomicBool::new(false),
            network: OnceLock::new(),
            route: ArcSwap::from_pointee(route),
            loop_object: OnceLock::new(),
            drops: DropCounter::new(name.clone()),
            activity: LoopActivity::default(),
            name,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Marks the loop as one to run in a child process (or, in that
    /// child, as running here).
    pub(crate) fn bind_for_child(&self, bound: bool) {
        self.bound_for_child.store(bound, Ordering::Relaxed);
    }

    /// True if the loop runs in another process, or is to (see
    /// [`bind_for_child`](Self::bind_for_child)).
    pub(crate) fn runs_elsewhere(&self) -> bool {
        self.is_remote() || self.bound_for_child.load(Ordering::Relaxed)
    }

    /// A loop of another program, reached over the network through
    /// `control`, with a `Route::Remote` over the network.
    #[cfg(feature = "zenoh")]
    pub(crate) fn on_network_via(
        name: Arc<str>,
        route: Route,
        control: Arc<dyn Control>,
    ) -> Arc<Self> {
        let peer = LoopPeer::new(name, route);
        let _ = peer.network.set(control);
        peer
    }

    /// True for a loop of another program, reached over the network.
    pub(crate) fn on_network(&self) -> bool {
        self.network.get().is_some()
    }

    /// The way to the process (or program) that runs the loop, for
    /// control; `None` if it runs here or has ended.
    pub(crate) fn control(&self) -> Option<Arc<dyn Control>> {
        if let Some(control) = self.network.get() {
            return Some(control.clone());
        }
        self.address()
            .map(|address| Arc::new(address.agent.clone()) as Arc<dyn Control>)
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// What this process could not deliver to the loop.
    pub(crate) fn drops(&self) -> &DropCounter {
        &self.drops
    }

    /// How full this process's ring to the loop is: `None` for a loop of
    /// this process, or one not written to yet.
    pub(crate) fn ring_fill(&self) -> Option<crate::stats::RingFill> {
        match &**self.route.load() {
            Route::Remote(remote) => remote.fill(),
            Route::Local(_) | Route::Gone => None,
        }
    }

    /// What the loop did, as its own process counts it.
    pub(crate) fn activity(&self) -> &LoopActivity {
        &self.activity
    }

    /// True if the loop runs in another process.
    pub(crate) fn is_remote(&self) -> bool {
        self.remote.load(Ordering::Acquire)
    }

    /// Where other processes reach the loop, if they can.
    pub(crate) fn address(&self) -> Option<Arc<LoopAddress>> {
        self.address
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records where other processes reach the loop. Returns false if it was
    /// known already.
    pub(crate) fn set_address(&self, address: LoopAddress) -> bool {
        let mut current = self.address.lock().unwrap_or_else(PoisonError::into_inner);
        if current.is_some() {
            return false;
        }
        *current = Some(Arc::new(address));
        true
    }

    /// Records where other processes reach the loop from now on: it is
    /// carried to the child process that will run it (see
    /// `routes::carry_to_child`).
    pub(crate) fn readdress(&self, address: LoopAddress) {
        *self.address.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(address));
    }

    /// The loop's inbox, while it runs in this process.
    pub(crate) fn local_inbox(&self) -> Option<InboxSender> {
        match &**self.route.load() {
            Route::Local(inbox) => Some(inbox.clone()),
            _ => None,
        }
    }

    /// Replaces the route. Returns the old one, which the caller drops or,
    /// in a child that has just been forked, leaks: the old route may be
    /// held by threads that do not exist there.
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
        self.set_route(Route::Gone);
    }

    /// The loop (or its process) ended elsewhere: what this process sent
    /// that it never took is counted as lost, and its ring goes.
    pub(crate) fn end_route(&self) {
        let old = self.set_route(Route::Gone);
        if let Route::Remote(remote) = &*old {
            remote.end(self);
        }
        // Its doorbell and its process's channel go with it.
        self.address
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Delivers a signal, unless the inbox is full or the loop is gone.
    /// Never blocks.
    #[inline]
    pub(crate) fn deliver(&self, envelope: SignalEnvelope) -> Result<(), DeliveryError> {
        match &**self.route.load() {
            Route::Local(inbox) => inbox.deliver(envelope),
            Route::Remote(remote) => remote.deliver(self, envelope),
            Route::Gone => Err((envelope, DropReason::Gone)),
        }
    }

    /// Delivers to a keep-latest receiver, deciding where the loop runs and
    /// delivering under one hold on its route (so that a loop moving to a
    /// child waits for it): in this process, into `mailbox` (replacing what
    /// waits there, which is given back, a ticket for it being queued
    /// already) or with a new ticket; to another process, as a signal
    /// whose receiving loop keeps the newest.
    pub(crate) fn deliver_latest(
        &self,
        mailbox: &Arc<crate::payload::Mailbox>,
        header: &Arc<Header>,
        args: Args,
    ) -> Result<Option<Args>, DeliveryError> {
        let route = self.route.load();
        match &**route {
            Route::Local(inbox) => match mailbox.put(args) {
                Some(replaced) => Ok(Some(replaced)),
                None => {
                    let envelope = SignalEnvelope {
                        header: header.clone(),
                        args: Args::Latest(crate::payload::Ticket::new(mailbox.clone())),
                    };
                    // A ticket that cannot be queued empties the mailbox
                    // as it goes.
                    inbox.deliver(envelope).map(|()| None)
                }
            },
            Route::Remote(remote) => {
                let envelope = SignalEnvelope {
                    header: header.clone(),
                    args,
                };
                remote.deliver(self, envelope).map(|()| None)
            }
            Route::Gone => Err((
                SignalEnvelope {
                    header: header.clone(),
                    args,
                },
                DropReason::Gone,
            )),
        }
    }

    /// Queues a message (a command, an object, a slot invocation)
    /// regardless of the inbox's capacity for signals, so that it is not
    /// lost while the loop runs.
    pub(crate) fn post(&self, envelope: Envelope) -> Result<(), Error> {
        let ended = || Error::LoopEnded(self.name.to_string());
        match &**self.route.load() {
            Route::Local(inbox) => inbox.send(envelope).map_err(|_| ended()),
            Route::Remote(remote) => match envelope {
                Envelope::Signal(signal) => {
                    let describe = || format!("signal `{}`", signal.header.signal);
                    let count = u32::try_from(signal.args.count()).unwrap_or(u32::MAX);
                    remote.post(self, count, &describe, |out| {
                        remote::encode_signal(&signal, out)
                    })
                }
                Envelope::Command(command) => {
                    let describe = || format!("{command:?}");
                    let frame = Frame::Command(command.clone());
                    remote.post(self, 0, &describe, |out| Writer::new(out).control(&frame))
                }
                Envelope::Local(work) => {
                    let command = work.for_other_process(&self.name)?;
                    let describe = || format!("{command:?}");
                    let frame = Frame::Command(command.clone());
                    remote.post(self, 0, &describe, |out| Writer::new(out).control(&frame))
                }
                Envelope::Frames { .. }
                | Envelope::Network { .. }
                | Envelope::Ring(_)
                | Envelope::Segment { .. }
                | Envelope::ProducerEnded(_) => Err(ended()),
            },
            Route::Gone => Err(ended()),
        }
    }

    /// Sends a command to the loop, in order with its signals.
    pub(crate) fn send_command(&self, command: Command) -> Result<(), Error> {
        self.post(Envelope::Command(command))
    }

    /// Sends commands that the loop applies together: in one record to a
    /// loop of another process, so that nothing another thread sends
    /// comes between them.
    pub(crate) fn send_commands(&self, commands: Vec<Command>) -> Result<(), Error> {
        if let Route::Remote(remote) = &**self.route.load() {
            let describe = || format!("{commands:?}");
            return remote.post(self, 0, &describe, |out| {
                for command in &commands {
                    Writer::new(out).control(&Frame::Command(command.clone()))?;
                }
                Ok(())
            });
        }
        // Into this process's queue, which one thread reads in order.
        commands
            .into_iter()
            .try_for_each(|command| self.send_command(command))
    }

    /// Detaches the object `object` (that instance, or any if 0) of this
    /// loop of another process at once: that process's agent marks it
    /// removed, ahead of what waits in the loop's inbox, and answers; the
    /// loop detaches it at its turn.
    pub(crate) fn remove_now(&self, object: &Arc<str>, instance: u64) -> Result<(), Error> {
        let control = self
            .control()
            .ok_or_else(|| Error::LoopEnded(self.name.to_string()))?;
        control
            .remove_now(&self.name, object, instance)
            .map_err(|_| Error::LoopEnded(self.name.to_string()))?;
        self.send_command(Command::Detach {
            object: object.clone(),
            instance,
        })
    }

    /// Forwards an emission to the process where its emitter lives, which
    /// holds its connections.
    pub(crate) fn forward_emit(&self, emitter: &Forwarded<'_>, args: Args) {
        match &**self.route.load() {
            Route::Remote(remote) => remote.forward_emit(self, emitter, args),
            _ => {
                let count = args.count() as u64;
                self.drops.record(count, DropReason::Gone, || {
                    format!(
                        "signal `{}` from `{}` (emitted here on its behalf)",
                        emitter.signal_name, emitter.id
                    )
                });
            }
        }
    }
}

/// Prepares the transport for child processes, so that no thread is in
/// the middle of initializing a lazy global (this crate's or the ipc
/// library's) when the process forks: in the child, such a global would
/// stay locked.
pub(crate) fn prepare_for_processes() -> std::io::Result<()> {
    crate::util::prepare_for_processes();
    // The ipc library sizes its messages from a lazily read socket option,
    // first read by a send or a receive.
    let (tx, rx) = ipc_channel::ipc::bytes_channel()?;
    tx.send(&[0])?;
    rx.recv().map_err(std::io::Error::other)?;
    Ok(())
}

impl DropCounter {
    /// Counts a dropped signal (or batch), naming its emitter and receivers.
    pub(crate) fn record_envelope(&self, envelope: &SignalEnvelope, reason: DropReason) {
        let count = envelope.args.count() as u64;
        self.record(count, reason, || {
            let header = &envelope.header;
            let emitter = header.emitter_id();
            let mut receivers = String::new();
            for (index, receiver) in header.receivers.iter().enumerate() {
                if index > 0 {
                    receivers.push_str(", ");
                }
                let _ = write!(receivers, "`{}`", receiver.object);
            }
            if header.broadcast {
                if !receivers.is_empty() {
                    receivers.push_str(", ");
                }
                receivers.push_str("the loop's subscribers");
            }
            format!("signal `{}` from `{emitter}` to {receivers}", header.signal)
        });
    }
}
