//! Packets from other processes: their frames, in order, handled like
//! what comes from this process.

use crate::context::Sender;
use crate::transport::{DropReason, accounting};
use crate::wire::{self, Frame};

use super::EventLoop;
use super::dispatch::{Incoming, Payloads, Receivers};

impl EventLoop {
    /// Handles the frames of a packet from another process, in order.
    pub(super) fn dispatch_packet(&mut self, packet: &[u8]) {
        let mut frames = wire::Reader::new(packet);
        let mut from = None;
        while let Some(frame) = frames.next() {
            match frame {
                Ok(Frame::Sender { process }) => from = Some(process),
                Ok(frame) => self.apply_frame(frame, from),
                Err(error) => {
                    tracing::error!(
                        event_loop = self.handle.name(),
                        %error,
                        "event loop `{}`: a packet from another process cannot be decoded \
                         ({error}); the rest of the packet is dropped",
                        self.handle.name(),
                    );
                    return;
                }
            }
            if self.state.stop.is_some() {
                // What came after the stop (or a failure) in this packet.
                self.handle
                    .peer()
                    .drops()
                    .record_frames(frames, from, DropReason::AfterStop);
                return;
            }
        }
    }

    /// Applies one frame; `from` is the process the packet came from, for
    /// the delivery ledger.
    fn apply_frame(&mut self, frame: Frame<'_>, from: Option<u16>) {
        match frame {
            Frame::Signal {
                emitter_loop,
                emitter,
                signal,
                receivers,
                broadcast,
                payloads,
            } => self.dispatch(Incoming {
                sender: emitter.map(|id| Sender {
                    id,
                    loop_name: emitter_loop,
                }),
                signal,
                receivers: Receivers::Remote(&receivers),
                broadcast,
                payloads: Payloads::Encoded {
                    items: &payloads,
                    from,
                },
            }),
            Frame::EmitRequest {
                emitter,
                signal,
                payloads,
            } => {
                if let Some(from) = from {
                    accounting::taken_from(from, payloads.len() as u64);
                }
                let Some(shared) = self.local_object(emitter, "emit") else {
                    return;
                };
                let items = payloads.iter().map(|payload| payload.to_vec()).collect();
                crate::connection::emit(&shared, signal, || crate::payload::Args::encoded(items));
            }
            Frame::Command(command) => self.apply_command(command),
            // Handled by the reader thread, or by `dispatch_packet`.
            Frame::Routes | Frame::Shutdown | Frame::Sender { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use proptest::prelude::*;

    use crate::codec::Encoder;
    use crate::event_loop::EventLoop;
    use crate::wire::Writer;

    #[crate::event_loop_object]
    struct Target {
        pings: Arc<AtomicU64>,
    }

    #[crate::event_loop_object]
    impl Target {
        #[slot]
        fn ping(&mut self) {
            self.pings.fetch_add(1, Ordering::SeqCst);
        }

        #[slot]
        fn text(&mut self, text: String, number: i64) {
            let _ = (text, number);
        }

        #[slot]
        fn bytes(&mut self, bytes: Vec<u8>) {
            let _ = bytes;
        }
    }

    /// What another process might send: garbage, or frames with random
    /// receivers, slots and payloads.
    fn packet() -> impl Strategy<Value = Vec<u8>> {
        let garbage = prop::collection::vec(any::<u8>(), 0..200);
        let frame = (
            prop::sample::select(vec!["target", "missing", "frames_loop", ""]),
            0u16..6,
            any::<bool>(),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        )
            .prop_map(|(receiver, slot, broadcast, payloads)| {
                let mut packet = Vec::new();
                let _ = Writer::new(&mut Encoder::growing(&mut packet)).signal(
                    Some("elsewhere"),
                    Some("emitter"),
                    "noise",
                    &[(receiver, slot)],
                    broadcast,
                    payloads.len(),
                    |index, buf| {
                        std::io::Write::write_all(buf, &payloads[index])
                            .map_err(|error| crate::error::EncodeError(error.to_string()))
                    },
                );
                packet
            });
        prop_oneof![garbage, frame]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Bad bytes from another process reach the dispatch path without a
        /// panic or a hang, and the loop goes on delivering.
        #[test]
        fn bad_packets_leave_the_loop_running(packets in prop::collection::vec(packet(), 1..6)) {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let name = format!("frames_loop_{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let mut event_loop = EventLoop::builder(name).catch_interrupt(false).build().unwrap();
            let pings = Arc::new(AtomicU64::new(0));
            let target = event_loop.add_with_id("target", Target { pings: pings.clone() }).unwrap();
            for packet in packets {
                event_loop.peer().send_frames(packet).unwrap();
            }
            target.ping().invoke(()).unwrap();
            for _ in 0..8 {
                prop_assert!(event_loop.process_events().is_none(), "the loop ended");
                if pings.load(Ordering::SeqCst) == 1 {
                    break;
                }
            }
            prop_assert_eq!(pings.load(Ordering::SeqCst), 1);
        }
    }
}
