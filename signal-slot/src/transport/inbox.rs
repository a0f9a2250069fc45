//! A loop's inbox: a queue for what this process sends it, rings for what
//! other processes send it, and the doorbell it waits on for both.
//!
//! The queue is unbounded so that control messages (attach, commands,
//! `stop`) are never lost; signals respect the loop's capacity, counted in
//! signals (an `emit_many` batch counts for its size), by a check before
//! they go in. Each other process that sends to the loop has a ring of its
//! own, bounded in bytes and in signals (see `sys::ring`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::DeliveryError;
use super::bell::Bell;
use super::routes::ProcessId;
use super::{DropReason, Envelope, SignalEnvelope};
use crate::sys::ring::Consumer;
use crate::sys::shm::Segment;

/// The default capacity of an inbox, in signals: from this process, and
/// from each other process.
pub const DEFAULT_INBOX_CAPACITY: usize = 100_000;

/// The default size of each other process's ring to a loop, in bytes.
pub const DEFAULT_INBOX_BYTES: usize = 8 << 20;

/// The default most bytes of large signals (those over half the ring, each
/// in a shared-memory segment of its own) that wait for a loop from each
/// other process.
pub const DEFAULT_LARGE_INBOX_BYTES: usize = 1 << 30;

/// What the queue's length does not say: the signals of a message beyond
/// the first (batches), and the messages that are not signals. Both are
/// rare, so the emit path only reads them.
#[derive(Default)]
struct Tally {
    extra_signals: AtomicUsize,
    not_signals: AtomicUsize,
    /// Bytes of large records from the network that wait (those over
    /// `large_over` bytes, half a ring), held to the loop's
    /// `large_inbox_bytes` as rings' segments are.
    #[cfg_attr(not(feature = "zenoh"), allow(dead_code))]
    large_waiting: std::sync::atomic::AtomicU64,
    large_over: u64,
    /// The most signals ever waiting, as senders saw it.
    high_water: AtomicUsize,
}

impl Tally {
    /// The signals waiting in a queue of `len` messages.
    fn signals(&self, len: usize) -> usize {
        (len + self.extra_signals.load(Ordering::Relaxed))
            .saturating_sub(self.not_signals.load(Ordering::Relaxed))
    }
}

/// The sending side of a loop's inbox, inside its process.
#[derive(Clone)]
pub(crate) struct InboxSender {
    tx: Sender<Envelope>,
    capacity: usize,
    ring_bytes: usize,
    large_bytes: usize,
    bell: Bell,
    tally: Arc<Tally>,
}

impl InboxSender {
    /// True if `count` more signals would pass the capacity; if not,
    /// counts them towards the high-water mark.
    #[inline]
    fn would_overflow(&self, count: usize) -> bool {
        let waiting = self.tally.signals(self.tx.len()) + count;
        if waiting > self.capacity {
            return true;
        }
        if waiting > self.tally.high_water.load(Ordering::Relaxed) {
            self.tally.high_water.fetch_max(waiting, Ordering::Relaxed);
        }
        false
    }

    /// The most signals from this process ever waiting at once.
    pub(crate) fn high_water(&self) -> usize {
        self.tally.high_water.load(Ordering::Relaxed)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of signals from this process that wait.
    pub(crate) fn signals(&self) -> usize {
        self.tally.signals(self.tx.len())
    }

    /// The size of each other process's ring to the loop.
    pub(crate) fn ring_bytes(&self) -> u64 {
        self.ring_bytes as u64
    }

    /// The most bytes of large signals waiting from each other process.
    pub(crate) fn large_bytes(&self) -> u64 {
        self.large_bytes as u64
    }

    pub(crate) fn bell(&self) -> &Bell {
        &self.bell
    }

    /// Queues a signal unless the inbox is full. Never blocks.
    #[inline]
    pub(crate) fn deliver(&self, envelope: SignalEnvelope) -> Result<(), DeliveryError> {
        let count = envelope.args.count();
        if self.would_overflow(count) {
            return Err((envelope, DropReason::Full));
        }
        if count > 1 {
            self.tally
                .extra_signals
                .fetch_add(count - 1, Ordering::Relaxed);
        }
        match self.tx.send(Envelope::Signal(envelope)) {
            Ok(()) => {
                self.bell.ring();
                Ok(())
            }
            Err(error) => match error.into_inner() {
                Envelope::Signal(envelope) => Err((envelope, DropReason::Gone)),
                _ => unreachable!("a signal was sent"),
            },
        }
    }

    /// Queues a record from the network, unless its signals would pass the
    /// capacity (a record of commands only always goes), or it is large
    /// (over half a ring) and the large records that wait would pass the
    /// loop's `large_inbox_bytes` (one always goes when none waits). Never
    /// blocks.
    #[cfg(feature = "zenoh")]
    pub(crate) fn deliver_network(
        &self,
        envelope: Envelope,
        signals: u32,
    ) -> Result<(), DropReason> {
        if signals > 0 && self.would_overflow(signals as usize) {
            return Err(DropReason::Full);
        }
        let large = self.tally.large(&envelope);
        if large > 0 {
            let waiting = self.tally.large_waiting.load(Ordering::Relaxed);
            if waiting > 0 && waiting.saturating_add(large) > self.large_bytes as u64 {
                return Err(DropReason::Full);
            }
            self.tally.large_waiting.fetch_add(large, Ordering::Relaxed);
        }
        self.send(envelope).map_err(|envelope| {
            let large = self.tally.large(&envelope);
            self.tally.large_waiting.fetch_sub(large, Ordering::Relaxed);
            DropReason::Gone
        })
    }

    /// Queues regardless of capacity; returns the envelope if the loop has
    /// ended.
    pub(crate) fn send(&self, envelope: Envelope) -> Result<(), Envelope> {
        let (extra, not_signal) = self.tally.adds(&envelope);
        self.tally.add(extra, not_signal);
        let signal = matches!(envelope, Envelope::Signal(_));
        if let Err(error) = self.tx.send(envelope) {
            self.tally.remove(extra, not_signal);
            return Err(error.into_inner());
        }
        self.bell.ring();
        if signal {
            // A direct invocation: past the capacity check, not past the
            // high-water mark.
            let waiting = self.tally.signals(self.tx.len());
            self.tally.high_water.fetch_max(waiting, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// How long a loop waits for the segment of a stub it has read, while the
/// stub's process lives: the segment comes through that process's agent
/// and the loop's, in well under a millisecond unless a machine is
/// swamped.
pub(crate) const SEGMENT_PATIENCE: Duration = Duration::from_secs(10);

/// How long it waits once the stub's process has ended (a segment it sent
/// before it ended is still on its way).
pub(crate) const ORPHAN_PATIENCE: Duration = Duration::from_secs(1);

/// A ring from another process, as its loop reads it.
pub(crate) struct InboundRing {
    pub(crate) from: ProcessId,
    pub(crate) consumer: Consumer,
    /// The producer's process ended: the ring goes once it is read.
    pub(crate) orphaned: bool,
    /// Segments of large records that came before the loop read their
    /// stubs, by number.
    segments: BTreeMap<u64, Segment>,
    /// Segments numbered below this were read or given up: one of them
    /// that comes now is let go at once.
    done_below: u64,
    /// Since when the ring's next record is a stub whose segment has not
    /// come: the loop does not look at the ring again until it comes (or
    /// the loop gives up on it).
    waiting_since: Option<Instant>,
    /// The heads of the signal frames it carried lately, decoded.
    pub(crate) heads: crate::wire::Heads,
}

impl InboundRing {
    pub(crate) fn new(from: ProcessId, consumer: Consumer) -> Self {
        InboundRing {
            from,
            consumer,
            orphaned: false,
            segments: BTreeMap::new(),
            done_below: 0,
            waiting_since: None,
            heads: crate::wire::Heads::default(),
        }
    }

    /// Tells the producer that nothing more will be read.
    pub(crate) fn close(&self) {
        self.consumer.close();
    }

    /// True if records wait that the loop can read now.
    fn has_records(&self) -> bool {
        self.waiting_since.is_none() && !self.consumer.is_empty()
    }

    /// Keeps the segment numbered `id` until the loop reads its stub.
    pub(crate) fn add_segment(&mut self, id: u64, segment: Segment) {
        if id < self.done_below {
            // Its stub was given up (and its bytes counted freed then):
            // it goes unread.
            return;
        }
        self.segments.insert(id, segment);
        self.waiting_since = None;
    }

    /// The segment numbered `id`, if it has come. Any segment numbered
    /// below it has no stub left to read: it goes.
    pub(crate) fn take_segment(&mut self, id: u64) -> Option<Segment> {
        let segment = self.segments.remove(&id)?;
        self.done_with(id);
        Some(segment)
    }

    /// The stub of segment `id` was read or given up. (Stubs are read in
    /// the order of their numbers, and a segment is sent after its stub:
    /// none numbered below `id` can still be kept here, but if one were,
    /// it would go unread.)
    pub(crate) fn done_with(&mut self, id: u64) {
        self.done_below = self.done_below.max(id.saturating_add(1));
        self.segments = self.segments.split_off(&self.done_below);
        self.waiting_since = None;
    }

    /// The loop read a stub whose segment has not come: true once it has
    /// waited long enough to give up on it.
    pub(crate) fn waited_too_long(&mut self, now: Instant) -> bool {
        let since = *self.waiting_since.get_or_insert(now);
        now.saturating_duration_since(since) >= self.patience()
    }

    fn patience(&self) -> Duration {
        if self.orphaned || self.consumer.producer_closed() {
            ORPHAN_PATIENCE
        } else {
            SEGMENT_PATIENCE
        }
    }

    /// When the loop must look again at a stub whose segment has not come.
    fn give_up_at(&self) -> Option<Instant> {
        self.waiting_since.map(|since| since + self.patience())
    }
}

impl Tally {
    /// The bytes of `envelope` that count as large: those of a record from
    /// the network over half a ring.
    fn large(&self, envelope: &Envelope) -> u64 {
        match envelope {
            Envelope::Network { bytes, .. } if bytes.len() as u64 > self.large_over => {
                bytes.len() as u64
            }
            _ => 0,
        }
    }

    /// What `envelope` adds: extra signals, and whether it is not a signal.
    fn adds(&self, envelope: &Envelope) -> (usize, bool) {
        match envelope {
            Envelope::Signal(signal) => (signal.args.count().saturating_sub(1), false),
            Envelope::Frames { signals, .. } | Envelope::Network { signals, .. }
                if *signals > 0 =>
            {
                (*signals as usize - 1, false)
            }
            _ => (0, true),
        }
    }

    fn add(&self, extra: usize, not_signal: bool) {
        if extra > 0 {
            self.extra_signals.fetch_add(extra, Ordering::Relaxed);
        }
        if not_signal {
            self.not_signals.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&self, extra: usize, not_signal: bool) {
        if extra > 0 {
            self.extra_signals.fetch_sub(extra, Ordering::Relaxed);
        }
        if not_signal {
            self.not_signals.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The receiving side of a loop's inbox, owned by the loop.
pub(crate) struct Inbox {
    rx: Receiver<Envelope>,
    bell: Bell,
    tally: Arc<Tally>,
    pub(crate) rings: Vec<InboundRing>,
}

/// Creates a loop's inbox: `capacity` signals from this process and from
/// each other one, `ring_bytes` for each other process's ring and
/// `large_bytes` of large signals waiting from each.
pub(crate) fn inbox(
    capacity: usize,
    ring_bytes: usize,
    large_bytes: usize,
    bell: Option<Bell>,
) -> std::io::Result<(InboxSender, Inbox)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let bell = match bell {
        Some(bell) => bell,
        None => Bell::create()?,
    };
    let tally = Arc::new(Tally {
        large_over: ring_bytes as u64 / 2,
        ..Tally::default()
    });
    let sender = InboxSender {
        tx,
        capacity,
        ring_bytes,
        large_bytes,
        bell: bell.clone(),
        tally: tally.clone(),
    };
    let inbox = Inbox {
        rx,
        bell,
        tally,
        rings: Vec::new(),
    };
    Ok((sender, inbox))
}

impl Inbox {
    /// The next message from this process, if one waits.
    pub(crate) fn try_recv(&self) -> Option<Envelope> {
        let envelope = self.rx.try_recv().ok()?;
        let (extra, not_signal) = self.tally.adds(&envelope);
        self.tally.remove(extra, not_signal);
        let large = self.tally.large(&envelope);
        if large > 0 {
            self.tally.large_waiting.fetch_sub(large, Ordering::Relaxed);
        }
        Some(envelope)
    }

    /// The number of messages from this process that wait (signals,
    /// commands, objects).
    pub(crate) fn len(&self) -> usize {
        self.rx.len()
    }

    /// The number of signals from this process that wait (a batch counts
    /// for its size).
    pub(crate) fn signals(&self) -> usize {
        self.tally.signals(self.rx.len())
    }

    /// The number of signals from other processes that wait in the rings.
    pub(crate) fn ring_signals(&self) -> u64 {
        self.rings.iter().map(|ring| ring.consumer.waiting()).sum()
    }

    /// True if something waits, from this process or another.
    pub(crate) fn has_work(&self) -> bool {
        !self.rx.is_empty() || self.rings.iter().any(InboundRing::has_records)
    }

    /// When the loop must look again at a stub whose segment has not come,
    /// if one waits.
    pub(crate) fn give_up_at(&self) -> Option<Instant> {
        self.rings.iter().filter_map(InboundRing::give_up_at).min()
    }

    /// Gives a large record's segment to the ring from process `from`; it
    /// goes if there is none (its process ended, and the ring with it).
    pub(crate) fn add_segment(&mut self, from: ProcessId, id: u64, segment: Segment) {
        if let Some(ring) = self.rings.iter_mut().rev().find(|ring| ring.from == from) {
            ring.add_segment(id, segment);
        }
    }

    /// Sleeps until something arrives or `deadline` passes.
    pub(crate) fn wait(&self, deadline: Option<Instant>) {
        self.bell.sleep(deadline, || self.has_work());
    }

    /// Closes the inbox: senders of other processes see the loop ended.
    pub(crate) fn close(&self) {
        self.bell.close();
        for ring in &self.rings {
            ring.close();
        }
    }
}
