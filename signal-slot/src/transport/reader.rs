//! The reader of a loop's inbox from other processes.
//!
//! A thread blocks on the loop's transport channel and moves each packet
//! into the loop's queue, where the loop decodes and dispatches it in order
//! with everything else. Decoding stays on the loop's thread; the reader
//! only waits, so a loop never has two things to block on.
//!
//! When the loop's queue is full the reader waits for room: the transport
//! channel then fills, and senders in other processes drop and count
//! instead of this process buffering without bound.

use std::sync::Weak;
use std::time::Duration;

use ipc_channel::ipc::{IpcBytesReceiver, IpcReceiver};

use super::{DropReason, Envelope, InboxSender, LoopPeer};
use crate::wire::{self, Frame};

/// Route updates for a child process: loops it can now reach, by name, with
/// the number of the process each runs in.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RouteUpdate {
    pub(crate) routes: Vec<(String, ipc_channel::ipc::IpcBytesSender, u16)>,
}

/// How long the reader waits between looks at a full queue.
const FULL_QUEUE_POLL: Duration = Duration::from_micros(200);

/// Starts the reader of `peer`'s loop.
pub(crate) fn spawn(
    peer: &LoopPeer,
    inbox: InboxSender,
    data: IpcBytesReceiver,
    control: Option<IpcReceiver<RouteUpdate>>,
) -> std::io::Result<()> {
    let peer = peer.weak();
    let name = peer
        .upgrade()
        .map_or_else(String::new, |peer| format!("inbox:{}", peer.name()));
    std::thread::Builder::new()
        .name(name)
        .spawn(move || read_loop(&peer, &inbox, &data, control.as_ref()))
        .map(|_| ())
}

fn read_loop(
    peer: &Weak<LoopPeer>,
    inbox: &InboxSender,
    data: &IpcBytesReceiver,
    control: Option<&IpcReceiver<RouteUpdate>>,
) {
    // Ends when every sender is gone, or on a shutdown frame.
    while let Ok(packet) = data.recv() {
        let _working = crate::platform::working();
        match wire::Reader::new(&packet).next() {
            Some(Ok(Frame::Shutdown)) => return,
            Some(Ok(Frame::Routes)) => {
                if let Some(control) = control {
                    match control.recv() {
                        Ok(update) => super::routes::apply_route_update(update),
                        Err(error) => {
                            tracing::error!(%error, "cannot read a route update");
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        if peer.upgrade().is_none_or(|peer| peer.is_gone()) {
            // The loop has ended (its queue may linger a while): counted,
            // not queued.
            drop_packet(peer, &packet);
            continue;
        }
        if inbox.is_full() {
            // Waiting for room is waiting, not working.
            drop(_working);
            while inbox.is_full() && peer.upgrade().is_some_and(|peer| !peer.is_gone()) {
                std::thread::sleep(FULL_QUEUE_POLL);
            }
        }
        if let Err(Envelope::Packet(packet)) = inbox.send(Envelope::Packet(packet)) {
            // The loop has ended: what keeps coming is counted as dropped.
            drop_packet(peer, &packet);
        }
    }
}

/// Counts the signals of a packet that no loop will handle.
fn drop_packet(peer: &Weak<LoopPeer>, packet: &[u8]) {
    match peer.upgrade() {
        Some(peer) => peer.drops().record_packet(packet, DropReason::AfterStop),
        // Nobody to count for, but the sender's ledger still hears of it.
        None => {
            if let Some(sender) = wire::sender_of(packet) {
                super::accounting::taken_from(sender, wire::count_signals(packet));
            }
        }
    }
}
