//! How messages reach a loop: its inbox inside the process, an outbox to
//! another process, and the accounting of what could not be delivered.
//!
//! A [`LoopPeer`] is this process's view of one loop, wherever it runs. Its
//! route says how to reach it: the loop's queue when it runs in this
//! process, an outbox that writes to its process otherwise, or nothing once
//! it has ended. Dispatch code never sees the difference.

mod outbox;
mod reader;

pub(crate) use outbox::{OutItem, Outbox};
pub(crate) use reader::{RouteUpdate, spawn as spawn_reader};

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};
use ipc_channel::ipc::IpcBytesSender;

use crate::connection::{DeliveryError, Header};
use crate::error::Error;
use crate::object::{ErasedObject, ObjectShared};
use crate::payload::Args;
use crate::wire::{self, Frame};

/// The default capacity of an inbox, in messages (an `emit_many` batch is
/// one message).
pub const DEFAULT_INBOX_CAPACITY: usize = 100_000;

/// One emission (or batch) of a signal, for the receivers on one loop.
pub(crate) struct SignalEnvelope {
    pub(crate) header: Arc<Header>,
    pub(crate) args: Args,
}

/// A change to the objects of a loop, applied in order with the signals.
pub(crate) enum Control {
    Attach(Box<dyn ErasedObject>),
    Detach {
        id: Arc<str>,
    },
    Subscribe {
        signal: Arc<str>,
        object: Arc<str>,
        slot: u16,
        subscribe: bool,
    },
}

/// A message in a loop's queue.
pub(crate) enum Envelope {
    Signal(SignalEnvelope),
    Control(Control),
    /// Frames from another process, decoded by the loop.
    Packet(Vec<u8>),
}

/// Why a signal was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The receiving loop's inbox is full.
    Full,
    /// The receiving loop has ended, or its process is gone.
    Gone,
    /// The loop was stopping and the signal came after the stop.
    AfterStop,
    /// The arguments could not be encoded for another process.
    Encode,
}

impl DropReason {
    fn describe(self) -> &'static str {
        match self {
            DropReason::Full => "its inbox is full",
            DropReason::Gone => "it has ended or its process is gone",
            DropReason::AfterStop => "it stopped before the signal was handled",
            DropReason::Encode => "the signal could not be encoded for its process",
        }
    }
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

/// This process's view of one event loop, wherever it runs.
pub(crate) struct LoopPeer {
    name: Arc<str>,
    this: Weak<LoopPeer>,
    /// Where other processes reach the loop, once it can be reached.
    address: OnceLock<IpcBytesSender>,
    /// Whether the route is `Remote`, for the emit path (one load less).
    remote: AtomicBool,
    /// The number of the process the loop runs in (see `ledger`).
    process: OnceLock<u16>,
    /// Signals this process handed to the transport for the loop.
    written: AtomicU64,
    /// Set once the signals in transit to a dead loop were counted.
    reckoned: AtomicBool,
    route: ArcSwap<Route>,
    /// Object ids on the loop (authoritative while the loop is local).
    ids: Mutex<HashSet<Arc<str>>>,
    /// The loop's own object (its `stop` slot, `start` and `terminate`
    /// signals), held weakly to avoid a cycle through its home.
    pub(crate) loop_object: OnceLock<Weak<ObjectShared>>,
    dropped: AtomicU64,
    drop_log: RateLimit,
}

impl LoopPeer {
    pub(crate) fn new(name: Arc<str>, route: Route) -> Arc<Self> {
        Arc::new_cyclic(|this| LoopPeer {
            name,
            this: this.clone(),
            address: OnceLock::new(),
            remote: AtomicBool::new(matches!(route, Route::Remote(_))),
            process: OnceLock::new(),
            written: AtomicU64::new(0),
            reckoned: AtomicBool::new(false),
            route: ArcSwap::from_pointee(route),
            ids: Mutex::default(),
            loop_object: OnceLock::new(),
            dropped: AtomicU64::new(0),
            drop_log: RateLimit::new(Duration::from_secs(1)),
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

    /// The number of the process the loop runs in, if known.
    pub(crate) fn process(&self) -> Option<u16> {
        self.process.get().copied()
    }

    /// Records the number of the process the loop runs in.
    pub(crate) fn set_process(&self, process: u16) {
        let _ = self.process.set(process);
    }

    /// Counts signals handed to the transport for the loop.
    pub(crate) fn count_written(&self, signals: u64) {
        self.written.fetch_add(signals, Ordering::Relaxed);
    }

    /// Once the loop's process has ended: counts as dropped what this
    /// process sent it that it never took off its channel. Exactly once.
    pub(crate) fn reckon_in_transit(&self) {
        if self.reckoned.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(taken) = self.process().and_then(crate::ledger::taken_by) else {
            return;
        };
        let lost = self.written.load(Ordering::Acquire).saturating_sub(taken);
        if lost > 0 {
            self.record_drops(lost, DropReason::Gone, || {
                format!("{lost} signals in transit when its process ended")
            });
        }
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

    /// Queues a control message (or a slot invocation) regardless of the
    /// inbox's capacity, so that it is never lost while the loop runs.
    pub(crate) fn send_control(&self, envelope: Envelope) -> Result<(), Error> {
        match &**self.route.load() {
            Route::Local(inbox) => inbox
                .tx
                .send(envelope)
                .map_err(|_| Error::LoopEnded(self.name.to_string())),
            Route::Remote(outbox) => {
                let item = match envelope {
                    Envelope::Signal(signal) => OutItem::Signal(signal),
                    Envelope::Packet(packet) => OutItem::Packet(packet),
                    Envelope::Control(Control::Detach { id }) => {
                        OutItem::Packet(wire::control_packet(&Frame::Detach { object: &id }))
                    }
                    Envelope::Control(Control::Subscribe {
                        signal,
                        object,
                        slot,
                        subscribe,
                    }) => OutItem::Packet(wire::control_packet(&Frame::Subscribe {
                        signal: &signal,
                        object: &object,
                        slot,
                        on: subscribe,
                    })),
                    Envelope::Control(Control::Attach(object)) => {
                        return Err(Error::RemoteLoop {
                            loop_name: self.name.to_string(),
                            id: object.handle().id().to_owned(),
                        });
                    }
                };
                outbox
                    .push(self, item)
                    .map_err(|_| Error::LoopEnded(self.name.to_string()))
            }
            Route::Gone => Err(Error::LoopEnded(self.name.to_string())),
        }
    }

    /// Sends encoded control frames to the loop, in order with its signals.
    pub(crate) fn send_frames(&self, packet: Vec<u8>) -> Result<(), Error> {
        match &**self.route.load() {
            Route::Local(inbox) => inbox
                .send(Envelope::Packet(packet))
                .map_err(|_| Error::LoopEnded(self.name.to_string())),
            Route::Remote(outbox) => outbox
                .push(self, OutItem::Packet(packet))
                .map_err(|_| Error::LoopEnded(self.name.to_string())),
            Route::Gone => Err(Error::LoopEnded(self.name.to_string())),
        }
    }

    /// Forwards an emission to the process where its emitter lives, which
    /// holds its connections.
    pub(crate) fn forward_emit(&self, emitter: &Arc<ObjectShared>, index: u16, args: Args) {
        let count = args.count() as u64;
        let signal = emitter
            .signal_names
            .get(usize::from(index))
            .copied()
            .unwrap_or("<unknown>");
        let describe = || {
            format!(
                "signal `{signal}` from `{}` (emitted here on its behalf)",
                emitter.id
            )
        };
        match &**self.route.load() {
            Route::Remote(outbox) if outbox.is_full() => {
                self.record_drops(count, DropReason::Full, describe);
            }
            Route::Remote(outbox) => {
                let item = OutItem::EmitRequest {
                    emitter: emitter.clone(),
                    signal: index,
                    args,
                };
                if outbox.push(self, item).is_err() {
                    self.record_drops(count, DropReason::Gone, describe);
                }
            }
            _ => self.record_drops(count, DropReason::Gone, describe),
        }
    }

    /// Reserves an object id on the loop.
    pub(crate) fn reserve_id(&self, id: &Arc<str>) -> Result<(), Error> {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if !ids.insert(id.clone()) {
            return Err(Error::DuplicateObjectId {
                loop_name: self.name.to_string(),
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Holds the loop's id set (across `fork`).
    pub(crate) fn hold_ids(&self) -> impl Sized + '_ {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Frees an object id (after its object was detached).
    pub(crate) fn release_id(&self, id: &str) {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// True if an object with that id is attached to the loop.
    pub(crate) fn has_id(&self, id: &str) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    /// The number of signals destined to this loop that this process dropped.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts a dropped signal and reports it, at most once a second per loop.
    pub(crate) fn record_drop(&self, envelope: &SignalEnvelope, reason: DropReason) {
        let count = envelope.args.count() as u64;
        self.record_drops(count, reason, || {
            let header = &envelope.header;
            let emitter = header
                .emitter
                .as_ref()
                .map_or("<direct invocation>", |emitter| &emitter.id);
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

    /// Counts `count` dropped signals; `describe` names them for the log.
    pub(crate) fn record_drops(
        &self,
        count: u64,
        reason: DropReason,
        describe: impl FnOnce() -> String,
    ) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
        let Some(suppressed) = self.drop_log.allow() else {
            self.drop_log.suppress();
            return;
        };
        let message = format!(
            "dropped {} on event loop `{}`: {} ({suppressed} more drops not reported since \
             the last report)",
            describe(),
            self.name,
            reason.describe(),
        );
        let total = self.dropped();
        if reason == DropReason::AfterStop {
            // Signals racing a stop are expected at shutdown.
            tracing::debug!(event_loop = %self.name, dropped_total = total, "{message}");
        } else {
            tracing::error!(event_loop = %self.name, dropped_total = total, "{message}");
        }
    }
}

/// Lets one report through per period and counts the others.
pub(crate) struct RateLimit {
    period_ns: u64,
    next_ns: AtomicU64,
    suppressed: AtomicU64,
}

static CLOCK_START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Initializes the lazy globals of the transport (this crate's and the ipc
/// library's), so that no thread is in the middle of initializing one when
/// the process forks: in the child, such a global would stay locked.
pub(crate) fn initialize_globals() -> std::io::Result<()> {
    LazyLock::force(&CLOCK_START);
    // The ipc library sizes its messages from a lazily read socket option,
    // first read by a send or a receive.
    let (tx, rx) = ipc_channel::ipc::bytes_channel()?;
    tx.send(&[0])?;
    rx.recv().map_err(std::io::Error::other)?;
    Ok(())
}

impl RateLimit {
    pub(crate) fn new(period: Duration) -> Self {
        RateLimit {
            period_ns: u64::try_from(period.as_nanos()).unwrap_or(u64::MAX),
            next_ns: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Returns `Some(number suppressed since the last report)` if a report
    /// may go out now.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = u64::try_from(CLOCK_START.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let next = self.next_ns.load(Ordering::Relaxed);
        if now < next {
            return None;
        }
        self.next_ns
            .compare_exchange(
                next,
                now.saturating_add(self.period_ns),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| self.suppressed.swap(0, Ordering::Relaxed))
    }

    pub(crate) fn suppress(&self) {
        self.suppressed.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_lets_one_report_through_per_period() {
        let limit = RateLimit::new(Duration::from_secs(3600));
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), None);
        limit.suppress();
        limit.suppress();
        assert_eq!(limit.suppressed.load(Ordering::Relaxed), 2);
        let limit = RateLimit::new(Duration::ZERO);
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), Some(0));
    }
}
