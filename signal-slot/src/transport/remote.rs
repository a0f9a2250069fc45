//! Sending to a loop of another process: this process's ring to it,
//! written by the emitting thread, then the loop's doorbell.
//!
//! The ring is created on the first send and offered to the loop through
//! its process's agent; what was written before the loop took it waits in
//! it. Writing never blocks: a full ring is a dropped signal, counted. An
//! argument whose `Serialize` fails or panics is reported and counted, and
//! the ring is left as it was.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::agent::AgentMessage;
use super::routes::{LoopAddress, ProcessId};
use super::{DropReason, LoopPeer, SignalEnvelope};
use crate::codec::Encoder;
use crate::connection::DeliveryError;
use crate::error::{EncodeError, Error};
use crate::object::ObjectShared;
use crate::payload::Args;
use crate::sys::ring::{Producer, WriteError};
use crate::wire::Writer;

/// This process's number in its tree, for the rings it offers.
static OWN_PROCESS: AtomicU64 = AtomicU64::new(0);

/// Sets this process's number (in a child, right after it starts).
pub(crate) fn set_own_process(process: ProcessId) {
    OWN_PROCESS.store(process, Ordering::Relaxed);
}

enum RingState {
    /// Nothing sent yet.
    Unopened,
    Open(Producer),
    /// The loop ended; what was in transit was counted.
    Ended,
}

/// This process's way to a loop of another process.
pub(crate) struct RemoteLoop {
    address: Arc<LoopAddress>,
    ring: Mutex<RingState>,
}

/// Why a record did not reach the ring.
enum Refused {
    Dropped(DropReason),
    /// Already counted (with the reason and the error), nothing more to do.
    Reported,
}

impl RemoteLoop {
    pub(crate) fn new(address: Arc<LoopAddress>) -> Self {
        RemoteLoop {
            address,
            ring: Mutex::new(RingState::Unopened),
        }
    }

    /// Writes one record of `signals` signals, then rings the loop's bell.
    /// `describe` names what it carries, for the log.
    fn write(
        &self,
        peer: &LoopPeer,
        signals: u32,
        urgent: bool,
        describe: &dyn Fn() -> String,
        mut encode: impl FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), Refused> {
        let mut state = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let producer = match &mut *state {
            RingState::Open(producer) => producer,
            RingState::Ended => return Err(Refused::Dropped(DropReason::Gone)),
            RingState::Unopened => match self.open() {
                Ok(producer) => {
                    *state = RingState::Open(producer);
                    match &mut *state {
                        RingState::Open(producer) => producer,
                        _ => unreachable!("just opened"),
                    }
                }
                Err(reason) => {
                    *state = RingState::Ended;
                    return Err(Refused::Dropped(reason));
                }
            },
        };
        // A panicking `Serialize` leaves nothing published: the ring is as
        // it was, and the emitter goes on.
        let written = catch_unwind(AssertUnwindSafe(|| {
            producer.write(signals, urgent, &mut encode)
        }));
        let refused = match written {
            Ok(Ok(())) => {
                drop(state);
                self.address.bell.ring();
                return Ok(());
            }
            Ok(Err(WriteError::Full)) => DropReason::Full,
            Ok(Err(WriteError::Closed)) => {
                let lost = producer.in_transit();
                *state = RingState::Ended;
                drop(state);
                count_lost(peer, lost);
                DropReason::Gone
            }
            Ok(Err(WriteError::TooLarge { max })) => {
                peer.drops()
                    .record(u64::from(signals), DropReason::TooLarge, || {
                        format!(
                            "{} (its encoding is larger than {max} bytes, half the loop's inbox; \
                         raise the loop's `inbox_bytes`)",
                            describe()
                        )
                    });
                return Err(Refused::Reported);
            }
            Ok(Err(WriteError::Encode(error))) => {
                peer.drops()
                    .record(u64::from(signals), DropReason::Encode, || {
                        format!("{} ({error})", describe())
                    });
                return Err(Refused::Reported);
            }
            Err(panic) => {
                let message = crate::event_loop::panic_message(&*panic);
                peer.drops()
                    .record(u64::from(signals), DropReason::Encode, || {
                        format!(
                            "{} (the arguments' `Serialize` panicked: {message})",
                            describe()
                        )
                    });
                return Err(Refused::Reported);
            }
        };
        Err(Refused::Dropped(refused))
    }

    /// Creates this process's ring to the loop and offers it to the loop's
    /// process.
    fn open(&self) -> Result<Producer, DropReason> {
        if self.address.bell.is_closed() {
            return Err(DropReason::Gone);
        }
        let address = &self.address;
        let (producer, shared) = Producer::create(address.ring_bytes as usize, address.capacity)
            .map_err(|error| {
                tracing::error!(event_loop = %address.name, %error, "cannot create a ring to event loop `{}`", address.name);
                DropReason::Gone
            })?;
        let offer = AgentMessage::Ring {
            to: address.name.to_string(),
            from: OWN_PROCESS.load(Ordering::Relaxed),
            ring: shared,
        };
        address.agent.send(offer).map_err(|error| {
            tracing::debug!(event_loop = %address.name, %error, "the process of event loop `{}` cannot be reached", address.name);
            DropReason::Gone
        })?;
        Ok(producer)
    }

    /// Sends a signal (or a batch) to the loop. Never blocks.
    pub(crate) fn deliver(
        &self,
        peer: &LoopPeer,
        envelope: SignalEnvelope,
    ) -> Result<(), DeliveryError> {
        let count = signal_count(&envelope.args);
        let describe = || describe_signal(&envelope);
        match self.write(peer, count, false, &describe, |out| {
            encode_signal(&envelope, out)
        }) {
            Ok(()) | Err(Refused::Reported) => Ok(()),
            Err(Refused::Dropped(reason)) => Err((envelope, reason)),
        }
    }

    /// Sends something that must not be dropped for a full inbox: a slot
    /// invocation (with `stop`), or encoded command frames.
    pub(crate) fn post(
        &self,
        peer: &LoopPeer,
        signals: u32,
        describe: &dyn Fn() -> String,
        encode: impl FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), Error> {
        match self.write(peer, signals, true, describe, encode) {
            Ok(()) => Ok(()),
            Err(Refused::Dropped(DropReason::Full)) => {
                Err(Error::InboxFull(peer.name().to_owned()))
            }
            Err(Refused::Dropped(_)) => Err(Error::LoopEnded(peer.name().to_owned())),
            Err(Refused::Reported) => Err(Error::Process {
                process: peer.name().to_owned(),
                message: format!("{} could not be encoded (reported)", describe()),
            }),
        }
    }

    /// Forwards an emission to the loop where its emitter lives, which
    /// holds its connections.
    pub(crate) fn forward_emit(
        &self,
        peer: &LoopPeer,
        emitter: &Arc<ObjectShared>,
        index: u16,
        args: Args,
    ) {
        let count = signal_count(&args);
        let describe = || {
            format!(
                "signal `{}` from `{}` (emitted here on its behalf)",
                emitter.signal_name(index),
                emitter.id
            )
        };
        let result = self.write(peer, count, false, &describe, |out| {
            Writer::new(out).emit_request(
                &emitter.id,
                emitter.instance,
                index,
                args.count(),
                |item, buf| args.encode_item(item, buf),
            )
        });
        if let Err(Refused::Dropped(reason)) = result {
            peer.drops().record(u64::from(count), reason, describe);
        }
    }

    /// The loop (or its process) ended: what this process wrote that it
    /// never took is lost, and the ring goes.
    pub(crate) fn end(&self, peer: &LoopPeer) {
        let mut state = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let lost = match std::mem::replace(&mut *state, RingState::Ended) {
            RingState::Open(producer) => {
                producer.close();
                producer.in_transit()
            }
            RingState::Unopened | RingState::Ended => 0,
        };
        drop(state);
        count_lost(peer, lost);
    }
}

impl Drop for RemoteLoop {
    /// This process will write no more: the loop lets the ring go once it
    /// has read it.
    fn drop(&mut self) {
        let state = self.ring.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let RingState::Open(producer) = state {
            producer.close();
        }
    }
}

fn count_lost(peer: &LoopPeer, lost: u64) {
    if lost > 0 {
        peer.drops().record(lost, DropReason::Gone, || {
            format!("{lost} signals in transit when it ended")
        });
    }
}

fn signal_count(args: &Args) -> u32 {
    u32::try_from(args.count()).unwrap_or(u32::MAX)
}

/// Encodes a signal frame for its receivers on the loop.
pub(crate) fn encode_signal(
    envelope: &SignalEnvelope,
    out: &mut Encoder<'_>,
) -> Result<(), EncodeError> {
    let header = &envelope.header;
    let (emitter_loop, emitter) = match &header.emitter {
        Some(emitter) => (
            emitter.loop_name.as_deref(),
            Some((&*emitter.id, emitter.instance)),
        ),
        None => (None, None),
    };
    Writer::new(out).signal(
        emitter_loop,
        emitter,
        header.signal,
        header.receivers.iter(),
        header.broadcast,
        envelope.args.count(),
        |index, buf| envelope.args.encode_item(index, buf),
    )
}

fn describe_signal(envelope: &SignalEnvelope) -> String {
    format!(
        "signal `{}` from `{}`",
        envelope.header.signal,
        envelope.header.emitter_id()
    )
}
