//! The seam between the protocol and a transport: a [`Link`] carries
//! records of wire frames from this process to one loop elsewhere.
//!
//! Above it (`remote`): what goes in a record (signals, invocations,
//! commands, as `wire` frames), and what is counted when a record cannot
//! go. Below it: how the bytes get there. Today's link is a ring in shared
//! memory ([`RingLink`]); a link over a network plugs in beside it, with
//! the same promises: `write` never blocks, and a link that ends says how
//! many signals it had taken that the loop never did.

use std::sync::atomic::{AtomicU64, Ordering};
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

/// This process's number in its tree, for the rings it offers.
static OWN_PROCESS: AtomicU64 = AtomicU64::new(0);

/// Sets this process's number (in a child, right after it starts).
pub(crate) fn set_own_process(process: ProcessId) {
    OWN_PROCESS.store(process, Ordering::Relaxed);
    crate::sys::pool::set_holder(process);
}

/// This process's number in its tree (0 in the root).
pub(crate) fn own_process() -> ProcessId {
    OWN_PROCESS.load(Ordering::Relaxed)
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
            from: OWN_PROCESS.load(Ordering::Relaxed),
            ring: shared,
        };
        address.agent.send(offer).map_err(|error| {
            tracing::debug!(event_loop = %address.name, %error, "the process of event loop `{}` cannot be reached", address.name);
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
        // Shared buffers in the arguments are leased to the loop's process
        // for as long as the record is unread; the record says so in its
        // first byte. (`encode` may run twice, when the first place
        // offered is too short: leases of a failed attempt go back.) A
        // process that has never seen a pool has no buffer to lease.
        let written = if crate::pool::in_use() {
            let mut leases = crate::pool::Leases::to(self.address.process);
            let mut retry = false;
            let written = producer.write(signals, urgent, |out| {
                if std::mem::replace(&mut retry, true) {
                    leases.revoke();
                }
                wire::write_lease_mark(out)?;
                let mark = out.len() - 1;
                leases.enter(|| encode(out))?;
                if leases.any() {
                    wire::set_lease_mark(out, mark);
                }
                Ok(())
            });
            if written.is_ok() {
                leases.sent();
            }
            written
        } else {
            producer.write(signals, urgent, encode)
        };
        match written {
            Ok(()) => {
                drop(state);
                self.address.bell.ring();
                Ok(())
            }
            Err(WriteError::Full) => Err(LinkError::Full),
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
