//! This program's link to a loop of another program: records published
//! under the loop's key, whichever program runs it now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use zenoh::Wait;

use super::record;
use crate::codec::Encoder;
use crate::transport::{Encode, Link, LinkError};

/// What a link to one loop of another program holds.
pub(super) struct LinkState {
    /// Signals: dropped (and counted by the receiver) under congestion.
    publisher: zenoh::pubsub::Publisher<'static>,
    /// Commands and invocations, which a full inbox takes still: under
    /// congestion they wait for room (as long as Zenoh's `block`
    /// congestion control lets them) rather than vanish uncounted.
    urgent: zenoh::pubsub::Publisher<'static>,
    /// This program's number, in each record.
    program: u64,
    /// The loop's program runs, as liveliness says.
    up: AtomicBool,
    /// The signals sent so far to the program that runs the loop now:
    /// each record says how many came before it, so that its receiver
    /// counts exactly what Zenoh dropped. Held while a record is sent, so
    /// that records go in the order of their counts.
    sent: Mutex<u64>,
}

impl LinkState {
    pub(super) fn new(
        publisher: zenoh::pubsub::Publisher<'static>,
        urgent: zenoh::pubsub::Publisher<'static>,
        program: u64,
    ) -> Self {
        LinkState {
            publisher,
            urgent,
            program,
            up: AtomicBool::new(false),
            sent: Mutex::new(0),
        }
    }

    pub(super) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }

    /// The loop is back, run by a program that has received nothing yet.
    pub(super) fn restart(&self) {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        *sent = 0;
        self.set_up(true);
    }
}

/// Records larger than this wait for room in Zenoh's queue rather than be
/// dropped: half of what `peer_config` lets Zenoh queue per link.
pub(super) const WAITS_OVER: usize = 512 << 10;

/// The [`Link`] over the network.
pub(super) struct NetLink(pub(super) std::sync::Arc<LinkState>);

impl Link for NetLink {
    fn write(&self, signals: u32, urgent: bool, encode: &mut Encode<'_>) -> Result<(), LinkError> {
        let state = &self.0;
        if !state.up.load(Ordering::Acquire) {
            return Err(LinkError::Gone { lost: 0 });
        }
        let mut sent = state.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let mut bytes = Vec::with_capacity(256);
        let header = record::Header {
            urgent,
            program: state.program,
            before: *sent,
            signals,
        };
        record::write_header(&mut bytes, header);
        encode(&mut Encoder::growing(&mut bytes)).map_err(LinkError::Encode)?;
        // Congestion control drops rather than block: a record Zenoh
        // drops is counted by the receiver, from the gap in the counts.
        // But a large record would always be dropped (more than Zenoh ever
        // queues per link: see `peer_config`): it waits for room instead,
        // as long as the network takes to carry it.
        let publisher = if urgent || bytes.len() > WAITS_OVER {
            &state.urgent
        } else {
            &state.publisher
        };
        publisher
            .put(bytes)
            .wait()
            .map_err(|_| LinkError::Gone { lost: 0 })?;
        *sent += u64::from(signals);
        Ok(())
    }

    fn end(&self) -> u64 {
        self.0.set_up(false);
        0
    }
}
