//! The seam between the protocol and a transport: a [`Link`] carries
//! records of wire frames from this process to one loop elsewhere.
//!
//! Above it (`remote`): what goes in a record (signals, invocations,
//! commands, as `wire` frames), and what is counted when a record cannot
//! go. Below it: how the bytes get there. Today's link is a ring in shared
//! memory ([`RingLink`]); a link over a network plugs in beside it, with
//! the same promises: `write` never blocks, and a link that ends says how
//! many signals it had taken that the loop never did.
//!
//! A record larger than half its ring (a model's weights, an image, a
//! recorded episode), or one of a sixteenth of it that finds the ring
//! full, goes in a shared-memory segment of its own instead, written by
//! the emitting thread and mapped by the loop, while a stub holds its
//! place in the ring, so that it arrives in order with the emitter's other
//! signals. The bytes of such records that a loop has not
//! taken yet count against its `large_inbox_bytes`, per sending process:
//! past it, they are dropped and counted like signals that find the ring
//! full (one always goes when none waits, whatever its size).

use std::sync::{Arc, Mutex, PoisonError};

use super::DropReason;
use super::agent::AgentMessage;
use super::routes::{LoopAddress, ProcessId};
use crate::codec::Encoder;
use crate::error::EncodeError;
use crate::sys::ring::{Producer, WriteError};
use crate::wire;

/// Writes a record's frames into the space a link gives it.
pub(crate) type Encode<'a> = dyn FnMut(&mut Encoder<'_>) -> Result<(), EncodeError> + 'a;

/// Why a record did not go.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// No room now (the loop is slow, or stopped).
    Full,
    /// The loop is gone; `lost` signals written before were never taken
    /// (counted once, by whoever sees this first).
    Gone { lost: u64 },
    /// The record is larger than the link ever carries.
    TooLarge { max: u64 },
    /// The frames could not be encoded; nothing was written.
    Encode(EncodeError),
}

/// This process's way of writing records to one loop of another process.
pub(crate) trait Link: Send + Sync {
    /// Writes one record of `signals` signals, its bytes written by
    /// `encode` in place. `urgent` records (commands, invocations) may use
    /// room kept for them. Never blocks.
    fn write(&self, signals: u32, urgent: bool, encode: &mut Encode<'_>) -> Result<(), LinkError>;

    /// Nothing more will be written: returns how many signals written
    /// were never taken by the loop.
    fn end(&self) -> u64;
}

enum RingState {
    /// Nothing sent yet.
    Unopened,
    Open(Producer),
    /// The loop ended.
    Ended,
}

/// A ring in shared memory, written by the emitting thread and read in
/// place by the loop, which waits on its doorbell. Created on the first
/// write and offered to the loop through its process's agent; what was
/// written before the loop took it waits in it.
pub(crate) struct RingLink {
    address: Arc<LoopAddress>,
    ring: Mutex<RingState>,
}

impl RingLink {
    pub(crate) fn new(address: Arc<LoopAddress>) -> Self {
        RingLink {
            address,
            ring: Mutex::new(RingState::Unopened),
        }
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
            from: crate::protocol::own_process(),
            ring: shared,
        };
        address.agent.send(offer).map_err(|error| {
            tracing::debug!(event_loop = %address.name, %error, "the process of event loop `{}` cannot be reached", address.name);
            DropReason::Gone
        })?;
        Ok(producer)
    }
}

/// One record being written: its frames, with the shared buffers they name
/// leased to the receiving process (a record may be written more than
/// once, when a first place was too short: each attempt's leases replace
/// the last one's).
struct RecordWriter<'a, 'e> {
    encode: &'a mut Encode<'e>,
    leases: Option<crate::pool::Leases>,
    attempted: bool,
}

impl<'a, 'e> RecordWriter<'a, 'e> {
    fn new(process: ProcessId, encode: &'a mut Encode<'e>) -> Self {
        // A process that has never seen a pool has no buffer to lease.
        let leases = crate::pool::in_use().then(|| crate::pool::Leases::to(process));
        RecordWriter {
            encode,
            leases,
            attempted: false,
        }
    }

    fn write(&mut self, out: &mut Encoder<'_>) -> Result<(), EncodeError> {
        let Some(leases) = &mut self.leases else {
            return (self.encode)(out);
        };
        if std::mem::replace(&mut self.attempted, true) {
            leases.revoke();
        }
        // The record says in its first byte whether it leases buffers.
        wire::write_lease_mark(out)?;
        let mark = out.len() - 1;
        let encode = &mut *self.encode;
        leases.enter(|| encode(out))?;
        if leases.any() {
            wire::set_lease_mark(out, mark);
        }
        Ok(())
    }

    /// The record went: its receiver gives the leases back.
    fn sent(self) {
        if let Some(leases) = self.leases {
            leases.sent();
        }
    }
}

impl Link for RingLink {
    fn write(&self, signals: u32, urgent: bool, encode: &mut Encode<'_>) -> Result<(), LinkError> {
        let mut state = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if let RingState::Unopened = *state {
            match self.open() {
                Ok(producer) => *state = RingState::Open(producer),
                Err(_) => {
                    *state = RingState::Ended;
                    return Err(LinkError::Gone { lost: 0 });
                }
            }
        }
        let RingState::Open(producer) = &mut *state else {
            return Err(LinkError::Gone { lost: 0 });
        };
        let mut record = RecordWriter::new(self.address.process, encode);
        let written = match producer.write(signals, urgent, |out| record.write(out)) {
            // Larger than the ring's free space: larger than it ever
            // takes, or only than what is free now?
            Err(WriteError::Short | WriteError::TooLarge { .. }) => {
                self.write_large(producer, signals, urgent, &mut record)
            }
            other => other,
        };
        match written {
            Ok(()) => {
                record.sent();
                drop(state);
                self.address.bell.ring();
                Ok(())
            }
            Err(WriteError::Full | WriteError::Short) => Err(LinkError::Full),
            Err(WriteError::Closed) => {
                let lost = producer.in_transit();
                *state = RingState::Ended;
                Err(LinkError::Gone { lost })
            }
            Err(WriteError::TooLarge { max }) => Err(LinkError::TooLarge { max }),
            Err(WriteError::Encode(error)) => Err(LinkError::Encode(error)),
        }
    }

    fn end(&self) -> u64 {
        let mut state = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *state, RingState::Ended) {
            RingState::Open(producer) => {
                producer.close();
                producer.in_transit()
            }
            RingState::Unopened | RingState::Ended => 0,
        }
    }
}

impl RingLink {
    /// Writes a record that the ring cannot take as it is now: one larger
    /// than the ring ever takes, or a sizeable one (an eighth of that) in
    /// a burst that fills the ring, goes in a segment of its own, its stub
    /// in the ring in its place (see `sys::ring::large`); a smaller one
    /// finds no room (`Short`), like any signal to a full inbox.
    ///
    /// The stub goes first, then the segment to the loop's process through
    /// its agent: the loop reads the stub in order with the ring's other
    /// records, and waits for its segment if it comes after it. So no
    /// segment is ever sent that no stub names, and one whose stub went is
    /// in the agent's channel (or its process is gone).
    fn write_large(
        &self,
        producer: &mut Producer,
        signals: u32,
        urgent: bool,
        record: &mut RecordWriter<'_, '_>,
    ) -> Result<(), WriteError> {
        // Its size, without keeping it: a first look that costs little
        // next to the copy (a byte payload is one `bin`, counted whole).
        let mut counter = Encoder::counting();
        record.write(&mut counter).map_err(WriteError::Encode)?;
        let len = counter.len();
        if (len as u64) < producer.max_body() / 8 {
            return Err(WriteError::Short);
        }
        // Refused before the work: the loop is gone, or large records it
        // has not taken yet fill its budget (one always goes when none
        // waits, however large).
        if producer.consumer_closed() || self.address.bell.is_closed() {
            return Err(WriteError::Closed);
        }
        let waiting = producer.large_in_flight();
        if waiting > 0 && waiting.saturating_add(len as u64) > self.address.large_bytes {
            return Err(WriteError::Full);
        }
        let (id, segment) = producer.write_large(
            signals,
            urgent,
            len,
            |out| record.write(out),
            |id| wire::segment_stub(id, len as u64).to_vec(),
        )?;
        let message = AgentMessage::Segment {
            to: self.address.name.to_string(),
            from: crate::protocol::own_process(),
            id,
            segment,
        };
        if let Err(error) = self.address.agent.send(message) {
            // The loop's process is gone: the stub's signals are counted
            // lost with what else it never took, when the ring is seen
            // closed.
            tracing::debug!(event_loop = %self.address.name, %error, "the process of event loop `{}` cannot be reached", self.address.name);
        }
        Ok(())
    }
}

impl Drop for RingLink {
    /// This process will write no more: the loop lets the ring go once it
    /// has read it.
    fn drop(&mut self) {
        let state = self.ring.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let RingState::Open(producer) = state {
            producer.close();
        }
    }
}
