//! The outbox to a loop in another process: a queue drained by a writer
//! thread.
//!
//! Emitters push into a queue and return at once; the writer encodes what
//! it finds into one packet (so a burst of emissions becomes one transport
//! operation) and sends it. Sending may block (the receiver is slow, or
//! stopped), but only the writer waits: the queue fills, and emitters drop
//! and count. When the receiving process is gone, the send fails, and the
//! writer marks the loop gone, counts what it held, and ends.
//!
//! The writer starts with the first message, so that an outbox inherited
//! through `fork` is never mistaken for one with a running writer.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use ipc_channel::ipc::IpcBytesSender;

use super::{DropReason, LoopPeer, SignalEnvelope};
use crate::codec::Encoder;
use crate::error::EncodeError;
use crate::object::ObjectShared;
use crate::payload::Args;
use crate::wire::{Frame, Writer};

/// A packet stops growing past this size, below the size that the transport
/// must split into fragments.
const PACKET_LIMIT: usize = 128 * 1024;

/// What an outbox carries.
pub(crate) enum OutItem {
    /// A signal for receivers on the loop (or a direct invocation).
    Signal(SignalEnvelope),
    /// An emission on behalf of an object that lives on the loop.
    EmitRequest {
        emitter: Arc<ObjectShared>,
        signal: u16,
        args: Args,
    },
    /// Frames encoded by the caller (connections, detach, subscribe).
    Packet(Vec<u8>),
    /// Answered once everything queued before it was sent.
    Flush(Sender<()>),
    /// The receiving process has ended: count what was in transit.
    SettleInTransit,
    /// Loops the receiving process can now reach: sent on its control
    /// channel, then announced on its data channel, in order with the rest.
    Routes {
        control: ipc_channel::ipc::IpcSender<super::RouteUpdate>,
        update: super::RouteUpdate,
    },
}

impl OutItem {
    /// The number of signals the item carries.
    fn signals(&self) -> u64 {
        match self {
            OutItem::Signal(envelope) => envelope.args.count() as u64,
            OutItem::EmitRequest { args, .. } => args.count() as u64,
            OutItem::Packet(packet) => crate::wire::count_signals(packet),
            OutItem::Flush(_) | OutItem::SettleInTransit | OutItem::Routes { .. } => 0,
        }
    }
}

struct Shared {
    tx: Sender<OutItem>,
    /// Taken by the writer when it starts.
    rx: Mutex<Option<Receiver<OutItem>>>,
    writer: OnceLock<()>,
    sender: IpcBytesSender,
    capacity: usize,
}

/// The sending side of a loop in another process. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

impl Outbox {
    pub(crate) fn new(sender: IpcBytesSender, capacity: usize) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Outbox {
            shared: Arc::new(Shared {
                tx,
                rx: Mutex::new(Some(rx)),
                writer: OnceLock::new(),
                sender,
                capacity,
            }),
        }
    }

    /// Queues a signal unless the queue is full. Never blocks.
    pub(crate) fn push_signal(
        &self,
        peer: &LoopPeer,
        envelope: SignalEnvelope,
    ) -> Result<(), (SignalEnvelope, DropReason)> {
        if self.shared.tx.len() >= self.shared.capacity {
            return Err((envelope, DropReason::Full));
        }
        self.push(peer, OutItem::Signal(envelope))
            .map_err(|item| match item {
                OutItem::Signal(envelope) => (envelope, DropReason::Gone),
                _ => unreachable!("a signal was pushed"),
            })
    }

    /// Queues a message whatever the queue's length (control messages are
    /// never dropped for a full queue). Returns the item if the writer is
    /// gone.
    pub(crate) fn push(&self, peer: &LoopPeer, item: OutItem) -> Result<(), OutItem> {
        self.start_writer(peer);
        self.shared
            .tx
            .send(item)
            .map_err(|error| error.into_inner())
    }

    /// True if the queue is at capacity.
    pub(crate) fn is_full(&self) -> bool {
        self.shared.tx.len() >= self.shared.capacity
    }

    /// Waits until everything queued so far was handed to the transport, or
    /// `deadline` passes. Returns false on timeout.
    pub(crate) fn flush(&self, peer: &LoopPeer, deadline: Instant) -> bool {
        if self.shared.writer.get().is_none() {
            return true;
        }
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        if self.push(peer, OutItem::Flush(ack_tx)).is_err() {
            return true;
        }
        ack_rx.recv_deadline(deadline).is_ok()
    }

    fn start_writer(&self, peer: &LoopPeer) {
        self.shared.writer.get_or_init(|| {
            let rx = self
                .shared
                .rx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let Some(rx) = rx else { return };
            let sender = self.shared.sender.clone();
            let peer = peer.weak();
            let name = format!(
                "outbox:{}",
                peer.upgrade()
                    .map_or_else(String::new, |p| p.name().to_owned())
            );
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || write_loop(&rx, &sender, &peer));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start an outbox writer thread");
            }
        });
    }
}

/// Encodes one item into the packet. Returns the number of signals it
/// added; an item that cannot be encoded is reported, counted as dropped and
/// left out.
fn encode(item: &OutItem, buf: &mut Encoder<'_>, peer: &Weak<LoopPeer>) -> u64 {
    let result = match item {
        OutItem::Signal(envelope) => {
            let header = &envelope.header;
            let receivers: Vec<(&str, u16)> = header
                .receivers
                .iter()
                .map(|receiver| (&*receiver.object, receiver.slot))
                .collect();
            let (emitter_loop, emitter) = match &header.emitter {
                Some(emitter) => (emitter.loop_name.as_deref(), Some(&*emitter.id)),
                None => (None, None),
            };
            Writer::new(buf).signal(
                emitter_loop,
                emitter,
                header.signal,
                &receivers,
                header.broadcast,
                envelope.args.count(),
                |index, buf| envelope.args.encode_item(index, buf),
            )
        }
        OutItem::EmitRequest {
            emitter,
            signal,
            args,
        } => Writer::new(buf).emit_request(&emitter.id, *signal, args.count(), |index, buf| {
            args.encode_item(index, buf)
        }),
        OutItem::Packet(packet) => {
            std::io::Write::write_all(buf, packet).map_err(|error| EncodeError(error.to_string()))
        }
        OutItem::Flush(_) | OutItem::SettleInTransit | OutItem::Routes { .. } => return 0,
    };
    match result {
        Ok(()) => item.signals(),
        Err(error) => {
            report_encode_error(item, &error, peer);
            0
        }
    }
}

fn report_encode_error(item: &OutItem, error: &EncodeError, peer: &Weak<LoopPeer>) {
    let (emitter, signal) = match item {
        OutItem::Signal(envelope) => (envelope.header.emitter_id(), envelope.header.signal),
        OutItem::EmitRequest {
            emitter, signal, ..
        } => (&*emitter.id, emitter.signal_name(*signal)),
        OutItem::Packet(_)
        | OutItem::Flush(_)
        | OutItem::SettleInTransit
        | OutItem::Routes { .. } => ("<control>", "<control>"),
    };
    if let Some(peer) = peer.upgrade() {
        peer.drops().record(item.signals(), DropReason::Encode, || {
            format!("signal `{signal}` from `{emitter}` ({error})")
        });
    }
}

fn write_loop(rx: &Receiver<OutItem>, sender: &IpcBytesSender, peer: &Weak<LoopPeer>) {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut flushes = Vec::new();
    while let Ok(first) = rx.recv() {
        let working = crate::platform::working();
        buf.clear();
        // Every packet says where it comes from, for the delivery ledger.
        let from = Frame::Sender {
            process: super::accounting::own_process(),
        };
        let mut packet = Encoder::growing(&mut buf);
        let _ = Writer::new(&mut packet).control(&from);
        let header = packet.len();
        let mut signals = 0;
        let mut settle = false;
        let mut routes = None;
        let mut item = Some(first);
        while let Some(current) = item.take() {
            signals += encode(&current, &mut packet, peer);
            match current {
                OutItem::Flush(ack) => flushes.push(ack),
                OutItem::SettleInTransit => settle = true,
                // Sent after the packet so far, before anything later.
                OutItem::Routes { control, update } => {
                    routes = Some((control, update));
                    break;
                }
                _ => {}
            }
            if packet.len() < PACKET_LIMIT {
                item = rx.try_recv().ok();
            }
        }
        // Sending may block on a slow receiver: that is waiting.
        drop(working);
        if buf.len() > header {
            if let Err(error) = sender.send(&buf) {
                let _working = crate::platform::working();
                receiver_gone(rx, signals, &error, peer);
                for ack in flushes.drain(..) {
                    let _ = ack.send(());
                }
                return;
            }
            if let Some(peer) = peer.upgrade() {
                peer.drops().count_written(signals);
            }
        }
        if let Some((control, update)) = routes
            && control.send(update).is_ok()
        {
            // The marker makes the child's reader fetch the update, in order
            // with the data that follows.
            let _ = sender.send(&crate::wire::control_packet(&Frame::Routes));
        }
        if settle && let Some(peer) = peer.upgrade() {
            let _working = crate::platform::working();
            peer.drops().settle_in_transit();
        }
        for ack in flushes.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// The receiving process is gone: mark its loop, count what was lost, and
/// drain the queue (counting) so that emitters fail fast from now on.
fn receiver_gone(
    rx: &Receiver<OutItem>,
    in_packet: u64,
    error: &std::io::Error,
    peer: &Weak<LoopPeer>,
) {
    let Some(peer) = peer.upgrade() else { return };
    peer.set_gone();
    peer.drops().settle_in_transit();
    let mut lost = in_packet;
    // Until the last sender is gone: an emitter that took the route before
    // it changed may still push, and what it pushes is counted too.
    while let Ok(item) = rx.recv() {
        lost += item.signals();
        if let OutItem::Flush(ack) = item {
            let _ = ack.send(());
        }
    }
    if lost > 0 {
        peer.drops().record(lost, DropReason::Gone, || {
            format!("{lost} queued signals ({error})")
        });
    } else {
        tracing::warn!(
            event_loop = peer.name(),
            %error,
            "event loop `{}` cannot be reached any more: its process is gone",
            peer.name()
        );
    }
}
