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

use ipc_channel::ipc::IpcSharedMemory;

use super::bell::Bell;
use crate::codec::Encoder;
use crate::error::EncodeError;
use crate::protocol::{DropReason, ProcessId};
use crate::stats::RingFill;
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

    /// The process that reads what this link carries in place, to lease
    /// shared buffers to (`None`: the bytes leave the machine, and no
    /// buffer is leased).
    fn leases_to(&self) -> Option<ProcessId> {
        None
    }

    /// How full the link is now, if it is a ring that is open.
    fn fill(&self) -> Option<RingFill> {
        None
    }
}

enum RingState {
    /// Nothing sent yet.
    Unopened,
    Open(Producer),
    /// The loop ended.
    Ended,
}

/// How a ring link hands its loop's process what only a channel carries:
/// the ring itself, once, and the segments of large records. Within a
/// process tree, the loop's process's agent takes them (`tree`'s
/// `AgentCourier` sends them to it).
pub(crate) trait Courier: Send + Sync {
    /// Offers the loop this process's new ring to it.
    fn offer_ring(&self, ring: IpcSharedMemory) -> Result<(), String>;
    /// Hands the loop the segment numbered `id` of a large record.
    fn send_segment(&self, id: u64, segment: IpcSharedMemory) -> Result<(), String>;
}

/// Where a ring link writes: the loop, its process, its doorbell, the
/// sizes it asked for, and the way to its process.
pub(crate) struct RingTarget {
    pub(crate) name: Arc<str>,
    pub(crate) process: ProcessId,
    pub(crate) bell: Bell,
    /// The size of this process's ring to the loop, in bytes.
    pub(crate) ring_bytes: u64,
    /// The most signals waiting in the ring.
    pub(crate) capacity: u64,
    /// The most bytes of large records waiting for the loop from here.
    pub(crate) large_bytes: u64,
    pub(crate) courier: Box<dyn Courier>,
}

/// A ring in shared memory, written by the emitting thread and read in
/// place by the loop, which waits on its doorbell. Created on the first
/// write and offered to the loop through its process's agent; what was
/// written before the loop took it waits in it.
pub(crate) struct RingLink {
    target: RingTarget,
    ring: Mutex<RingState>,
}

impl RingLink {
    pub(crate) fn new(target: RingTarget) -> Self {
        RingLink {
            target,
            ring: Mutex::new(RingState::Unopened),
        }
    }

    /// Creates this process's ring to the loop and offers it to the loop's
    /// process.
    fn open(&self) -> Result<Producer, DropReason> {
        let target = &self.target;
        if target.bell.is_closed() {
            return Err(DropReason::Gone);
        }
        let (producer, shared) = Producer::create(target.ring_bytes as usize, target.capacity)
            .map_err(|error| {
                tracing::error!(event_loop = %target.name, %error, "cannot create a ring to event loop `{}`", target.name);
                DropReason::Gone
            })?;
        target.courier.offer_ring(shared).map_err(|error| {
            tracing::debug!(event_loop = %target.name, %error, "the process of event loop `{}` cannot be reached", target.name);
            DropReason::Gone
        })?;
        Ok(producer)
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
        let written = match producer.write(signals, urgent, &mut *encode) {
            // Larger than the ring's free space: larger than it ever
            // takes, or only than what is free now?
            Err(WriteError::Short | WriteError::TooLarge { .. }) => {
                self.write_large(producer, signals, urgent, encode)
            }
            other => other,
        };
        match written {
            Ok(()) => {
                drop(state);
                self.target.bell.ring();
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

    fn leases_to(&self) -> Option<ProcessId> {
        Some(self.target.process)
    }

    fn fill(&self) -> Option<RingFill> {
        let state = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let RingState::Open(producer) = &*state else {
            return None;
        };
        let fill = producer.fill();
        Some(RingFill {
            to_loop: self.target.name.to_string(),
            signals: fill.signals,
            max_signals: fill.max_signals,
            bytes: fill.bytes,
            max_bytes: fill.max_bytes,
            large_bytes: fill.large_bytes,
            max_large_bytes: self.target.large_bytes,
        })
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
        encode: &mut Encode<'_>,
    ) -> Result<(), WriteError> {
        // Its size, without keeping it: a first look that costs little
        // next to the copy (a byte payload is one `bin`, counted whole).
        let mut counter = Encoder::counting();
        encode(&mut counter).map_err(WriteError::Encode)?;
        let len = counter.len();
        if (len as u64) < producer.max_body() / 8 {
            return Err(WriteError::Short);
        }
        // Refused before the work: the loop is gone, or large records it
        // has not taken yet fill its budget (one always goes when none
        // waits, however large).
        if producer.consumer_closed() || self.target.bell.is_closed() {
            return Err(WriteError::Closed);
        }
        let waiting = producer.large_in_flight();
        if waiting > 0 && waiting.saturating_add(len as u64) > self.target.large_bytes {
            return Err(WriteError::Full);
        }
        let (id, segment) = producer.write_large(signals, urgent, len, &mut *encode, |id| {
            wire::segment_stub(id, len as u64).to_vec()
        })?;
        if let Err(error) = self.target.courier.send_segment(id, segment) {
            // The loop's process is gone: the stub's signals are counted
            // lost with what else it never took, when the ring is seen
            // closed.
            tracing::debug!(event_loop = %self.target.name, %error, "the process of event loop `{}` cannot be reached", self.target.name);
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
