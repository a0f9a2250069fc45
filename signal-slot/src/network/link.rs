//! This program's link to a loop of another program: records published
//! under the loop's key, whichever program runs it now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Held while a record is sent, so that records go in the order of
    /// their counts.
    sending: Mutex<Sending>,
}

/// What the sender of a link keeps between records.
struct Sending {
    /// The signals sent so far to the program that runs the loop now:
    /// each record says how many came before it, so that its receiver
    /// counts exactly what Zenoh dropped.
    sent: u64,
    /// When the last large record went into Zenoh's queue, while the
    /// records behind it still wait for room (see [`Sending::waits`]).
    behind_large: Option<Instant>,
    /// A record went out that congestion may have dropped, and no record
    /// that is never dropped followed it: if it was the last, its receiver
    /// has no later count to find the gap from (see [`LinkState::tally`]).
    unconfirmed: bool,
}

impl LinkState {
    /// Tells the receiver how many signals were sent so far, if a record
    /// that congestion may have dropped went out since it last learnt: an
    /// empty record that is never dropped. The receiver finds what was
    /// lost from the gap before any record; without this one, the signals
    /// of the last records before a pause would go uncounted if Zenoh
    /// dropped them. Sent by the network's own thread, now and then.
    pub(super) fn tally(&self) {
        if !self.up.load(Ordering::Acquire) {
            return;
        }
        let mut sending = self.sending.lock().unwrap_or_else(PoisonError::into_inner);
        if !sending.unconfirmed {
            return;
        }
        let mut bytes = Vec::with_capacity(record::HEADER);
        let header = record::Header {
            urgent: true,
            program: self.program,
            before: sending.sent,
            signals: 0,
        };
        record::write_header(&mut bytes, header);
        if self.urgent.put(bytes).wait().is_ok() {
            sending.unconfirmed = false;
        }
    }
}

/// Records larger than this wait for room in Zenoh's queue rather than be
/// dropped: half of what `peer_config` lets Zenoh queue per link.
pub(super) const WAITS_OVER: usize = 512 << 10;

/// A put into Zenoh's queue that returns sooner than this found room: the
/// large record ahead of it has left the queue's head.
const ROOM_FOUND: Duration = Duration::from_millis(1);

/// The longest records wait for room behind a large record of their own
/// link before congestion drops them again.
const BEHIND_LARGE_AT_MOST: Duration = Duration::from_secs(1);

impl Sending {
    /// Whether a record of `len` bytes waits for room in Zenoh's queue
    /// rather than be dropped under congestion.
    ///
    /// Urgent records always wait, and so does a large one (it would
    /// always be dropped, being more than Zenoh ever queues per link). The
    /// records right behind a large one wait too: its fragments fill the
    /// queue, and dropping what this link sends next for the congestion
    /// that the link itself made would lose small signals after every
    /// large one on a busy machine. They wait until one of them finds room
    /// at once, or for [`BEHIND_LARGE_AT_MOST`].
    /// `now` reads the clock, which only a record behind a large one needs.
    fn waits(&mut self, len: usize, urgent: bool, now: impl FnOnce() -> Instant) -> bool {
        if urgent || len > WAITS_OVER {
            return true;
        }
        match self.behind_large {
            Some(since) if now().duration_since(since) < BEHIND_LARGE_AT_MOST => true,
            Some(_) => {
                self.behind_large = None;
                false
            }
            None => false,
        }
    }

    /// Learns from a put of `len` bytes: `waited` is how long a put that
    /// waits for room took and when it returned, `None` for one that may
    /// have been dropped.
    fn learn(&mut self, len: usize, waited: Option<(Duration, Instant)>) {
        // A record that waited is never dropped: its count confirms all
        // that came before it.
        self.unconfirmed = waited.is_none();
        if let Some((took, now)) = waited {
            if len > WAITS_OVER {
                self.behind_large = Some(now);
            } else if took < ROOM_FOUND {
                self.behind_large = None;
            }
        }
    }
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
            sending: Mutex::new(Sending {
                sent: 0,
                behind_large: None,
                unconfirmed: false,
            }),
        }
    }

    pub(super) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }

    /// The loop is back, run by a program that has received nothing yet.
    pub(super) fn restart(&self) {
        let mut sending = self.sending.lock().unwrap_or_else(PoisonError::into_inner);
        sending.sent = 0;
        sending.behind_large = None;
        sending.unconfirmed = false;
        self.set_up(true);
    }
}

/// The [`Link`] over the network.
pub(super) struct NetLink(pub(super) std::sync::Arc<LinkState>);

impl Link for NetLink {
    fn write(&self, signals: u32, urgent: bool, encode: &mut Encode<'_>) -> Result<(), LinkError> {
        let state = &self.0;
        if !state.up.load(Ordering::Acquire) {
            return Err(LinkError::Gone { lost: 0 });
        }
        let mut sending = state.sending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut bytes = Vec::with_capacity(256);
        let header = record::Header {
            urgent,
            program: state.program,
            before: sending.sent,
            signals,
        };
        record::write_header(&mut bytes, header);
        encode(&mut Encoder::growing(&mut bytes)).map_err(LinkError::Encode)?;
        // Congestion control drops rather than block: a record Zenoh
        // drops is counted by the receiver, from the gap in the counts.
        // Some wait for room instead: see `Sending::waits`.
        // The clock is read only around a put that waits.
        let len = bytes.len();
        let waits = sending.waits(len, urgent, Instant::now);
        let (publisher, start) = if waits {
            (&state.urgent, Some(Instant::now()))
        } else {
            (&state.publisher, None)
        };
        publisher
            .put(bytes)
            .wait()
            .map_err(|_| LinkError::Gone { lost: 0 })?;
        let waited = start.map(|start| {
            let now = Instant::now();
            (now - start, now)
        });
        sending.learn(len, waited);
        sending.sent += u64::from(signals);
        Ok(())
    }

    fn end(&self) -> u64 {
        self.0.set_up(false);
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Sending {
        Sending {
            sent: 0,
            behind_large: None,
            unconfirmed: false,
        }
    }

    #[test]
    fn a_record_that_may_be_dropped_awaits_a_tally_until_one_that_waited() {
        let mut sending = fresh();
        let now = Instant::now();
        sending.learn(100, None);
        assert!(sending.unconfirmed);
        sending.learn(100, None);
        assert!(sending.unconfirmed);
        sending.learn(100, Some((Duration::ZERO, now)));
        assert!(
            !sending.unconfirmed,
            "a record that waited carries the count"
        );
    }

    #[test]
    fn small_records_are_dropped_under_congestion_unless_urgent() {
        let mut sending = fresh();
        let now = Instant::now();
        assert!(!sending.waits(100, false, || now));
        assert!(sending.waits(100, true, || now));
        assert!(sending.waits(WAITS_OVER + 1, false, || now));
    }

    #[test]
    fn records_behind_a_large_one_wait_until_one_finds_room_at_once() {
        let mut sending = fresh();
        let now = Instant::now();
        sending.learn(WAITS_OVER + 1, Some((Duration::from_millis(40), now)));
        // Behind it, a put that waited long found the queue still full.
        assert!(sending.waits(100, false, || now));
        sending.learn(100, Some((Duration::from_millis(3), now)));
        assert!(sending.waits(100, false, || now));
        // One that found room at once: the large record has gone ahead.
        sending.learn(100, Some((Duration::from_micros(20), now)));
        assert!(!sending.waits(100, false, || now));
    }

    #[test]
    fn records_behind_a_large_one_wait_for_a_bounded_time() {
        let mut sending = fresh();
        let then = Instant::now();
        sending.learn(WAITS_OVER + 1, Some((Duration::from_millis(40), then)));
        assert!(sending.waits(100, false, || then + BEHIND_LARGE_AT_MOST / 2));
        assert!(!sending.waits(100, false, || then + BEHIND_LARGE_AT_MOST));
        assert_eq!(sending.behind_large, None);
    }
}
