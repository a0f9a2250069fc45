//! The ring's protocol, over any memory: where a record goes, when it is
//! visible, when its space is free again.
//!
//! One producer process writes records, one consumer (a loop) reads them,
//! in order. Positions count bytes from the ring's creation and only grow;
//! a position's place in the data area is `position % capacity`.
//!
//! - The producer owns `[write, read + capacity)`: free space. It writes a
//!   record there (an 8-byte header, its body, padding to 8 bytes), then
//!   publishes it by storing `write` with `Release`.
//! - The consumer owns `[read, write)`: published records. It loads `write`
//!   with `Acquire`, reads a record in place, and frees it by storing
//!   `read` with `Release` once its slots have run.
//! - A record never wraps: when it does not fit before the end, the
//!   producer pads the end with a `PAD` header and starts again at 0.
//!
//! Nothing ever waits on the other side: a producer that finds no room
//! reports the ring full, and a process killed at any instruction leaves
//! the survivor positions that are still consistent (an unpublished record
//! is simply not there). The counters `signals_written` and
//! `signals_taken` count signals, not bytes: the producer adds a record's
//! signals when it publishes it, the consumer each signal before its slots
//! run, so that `written - taken` is exactly what a dead consumer never
//! received.
//!
//! `loom` checks this protocol (`cargo test --cfg loom`, see `tests` below).

use std::sync::atomic::Ordering;

/// The header of a record: the length of its body and the number of
/// signals in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordHeader {
    pub(super) len: u32,
    pub(crate) signals: u32,
}

/// The header's size; records start and end on multiples of it.
pub(super) const RECORD_HEADER: u64 = 8;

/// The length that marks padding to the end of the data area.
const PAD: u32 = u32::MAX;

/// The shared counters of a ring.
pub(super) enum Counter {
    /// Where the producer will write next (published records end here).
    Write,
    /// Signals in published records.
    SignalsWritten,
    /// Where the consumer reads next (space before it is free).
    Read,
    /// Signals the consumer handed to slots or dropped itself.
    SignalsTaken,
    /// Bytes of records written outside the ring (large ones), whose
    /// place in the ring is a stub (stored by the producer).
    LargeSent,
    /// Bytes of such records the consumer has freed.
    LargeFreed,
}

/// The shared flags of a ring.
pub(super) enum Flag {
    /// The consumer will read no more (its loop ended).
    ConsumerClosed,
    /// The producer will write no more (its process ended or left).
    ProducerClosed,
}

/// The memory of a ring: its counters and flags (atomics), and record
/// headers. Record bodies are written and read by the code above, which
/// knows their type.
pub(super) trait RingMemory {
    fn load(&self, counter: Counter, order: Ordering) -> u64;
    fn store(&self, counter: Counter, value: u64, order: Ordering);
    fn flag(&self, flag: Flag, order: Ordering) -> bool;
    fn raise(&self, flag: Flag, order: Ordering);
    /// Writes a record header at `offset` in the data area (space the
    /// caller owns).
    fn write_header(&self, offset: u64, header: RecordHeader);
    /// Reads the record header at `offset` in the data area (a published
    /// record the caller owns).
    fn read_header(&self, offset: u64) -> RecordHeader;
}

/// Why a record was not written.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal<E> {
    /// The consumer will read no more.
    Closed,
    /// Not enough free space, or too many signals waiting.
    Full,
    /// Some space was offered and the body did not fit in it: the record
    /// is larger than the ring's free space (and may be larger than it
    /// ever takes).
    Short,
    /// The record cannot fit in this ring, even empty.
    TooLarge,
    /// Writing the body failed for another reason.
    Body(E),
}

/// What writing a record's body into the space offered did.
pub(super) enum BodyResult<E> {
    /// It took this many bytes.
    Written(u64),
    /// It did not fit.
    Overflow,
    Failed(E),
}

/// The producer's side of a ring.
pub(super) struct ProducerCore<M> {
    pub(super) memory: M,
    capacity: u64,
    max_signals: u64,
    /// Our copy of the `Write` counter (only we store it).
    write: u64,
    /// Our copy of `SignalsWritten`.
    signals_written: u64,
    /// The last `Read` and `SignalsTaken` we loaded: looked at again only
    /// when they no longer leave room, so that the producer does not pull
    /// the consumer's cache line on every record.
    read_seen: u64,
    taken_seen: u64,
    /// Our copy of `LargeSent`.
    large_sent: u64,
}

impl<M: RingMemory> ProducerCore<M> {
    /// A producer for a fresh (or existing) ring of `capacity` data bytes.
    pub(super) fn new(memory: M, capacity: u64, max_signals: u64) -> Self {
        let write = memory.load(Counter::Write, Ordering::Relaxed);
        let signals_written = memory.load(Counter::SignalsWritten, Ordering::Relaxed);
        let large_sent = memory.load(Counter::LargeSent, Ordering::Relaxed);
        ProducerCore {
            memory,
            capacity,
            max_signals,
            write,
            signals_written,
            read_seen: 0,
            taken_seen: 0,
            large_sent,
        }
    }

    /// Bytes of large records sent and not yet freed by the consumer.
    pub(super) fn large_in_flight(&self) -> u64 {
        self.large_sent.saturating_sub(self.large_freed())
    }

    /// Bytes of large records the consumer has freed.
    pub(super) fn large_freed(&self) -> u64 {
        self.memory.load(Counter::LargeFreed, Ordering::Acquire)
    }

    /// Bytes of large records sent.
    pub(super) fn large_sent(&self) -> u64 {
        self.large_sent
    }

    /// Counts `bytes` more of large records as sent (before the stub that
    /// names them is written, so that the consumer never frees more than
    /// was counted); `undo` takes them back when the stub did not go.
    pub(super) fn count_large_sent(&mut self, bytes: u64, undo: bool) {
        self.large_sent = if undo {
            self.large_sent.saturating_sub(bytes)
        } else {
            self.large_sent + bytes
        };
        self.memory
            .store(Counter::LargeSent, self.large_sent, Ordering::Release);
    }

    /// The largest record body the ring takes: half the ring, so that it
    /// always fits once the consumer has caught up.
    pub(super) fn max_body(&self) -> u64 {
        self.capacity / 2 - RECORD_HEADER
    }

    /// The space that signals leave free for urgent records: a sixteenth
    /// of the ring.
    fn reserve(&self) -> u64 {
        (self.capacity / 16).next_multiple_of(RECORD_HEADER)
    }

    /// True once the consumer closed the ring.
    pub(super) fn consumer_closed(&self) -> bool {
        self.memory.flag(Flag::ConsumerClosed, Ordering::Acquire)
    }

    /// Bytes of the ring published and not yet freed by the consumer.
    pub(super) fn bytes_in_use(&self) -> u64 {
        let read = self.memory.load(Counter::Read, Ordering::Acquire);
        self.write.saturating_sub(read)
    }

    /// The ring's size in bytes, and the most signals it holds.
    pub(super) fn limits(&self) -> (u64, u64) {
        (self.capacity, self.max_signals)
    }

    /// Signals published and not yet taken by the consumer.
    pub(super) fn in_transit(&self) -> u64 {
        let taken = self.memory.load(Counter::SignalsTaken, Ordering::Acquire);
        self.signals_written.saturating_sub(taken)
    }

    /// True if `signals` more would pass the signal limit, looking at the
    /// consumer's count only when our last look says so.
    fn over_signal_limit(&mut self, signals: u64) -> bool {
        let limit = self.max_signals.saturating_sub(signals);
        if self.signals_written.saturating_sub(self.taken_seen) <= limit {
            return false;
        }
        self.taken_seen = self.memory.load(Counter::SignalsTaken, Ordering::Acquire);
        self.signals_written.saturating_sub(self.taken_seen) > limit
    }

    /// Writes a record of `signals` signals: `body(memory, offset, room)`
    /// writes the body at data offset `offset`, in at most `room` bytes it
    /// owns. It may be called twice (once more at the start of the data
    /// area, when the end was too short).
    ///
    /// A record that is not `urgent` leaves a reserve of the ring free and
    /// counts against the signal limit: urgent records (commands, `stop`)
    /// get through when signals no longer do.
    pub(super) fn write<E>(
        &mut self,
        signals: u32,
        urgent: bool,
        mut body: impl FnMut(&M, u64, u64) -> BodyResult<E>,
    ) -> Result<(), Refusal<E>> {
        if self.consumer_closed() {
            return Err(Refusal::Closed);
        }
        if !urgent && self.over_signal_limit(u64::from(signals)) {
            return Err(Refusal::Full);
        }
        let reserve = if urgent { 0 } else { self.reserve() };
        let mut wrapped = false;
        let mut refreshed = false;
        let mut short = false;
        loop {
            // The consumer's position, looked at again only when what we
            // saw last leaves less than half the ring (or no room).
            if !refreshed && self.capacity - (self.write - self.read_seen) < self.capacity / 2 {
                self.read_seen = self.memory.load(Counter::Read, Ordering::Acquire);
                refreshed = true;
            }
            let read = self.read_seen;
            let free = (self.capacity - (self.write - read)).saturating_sub(reserve);
            let at = self.write % self.capacity;
            let to_end = self.capacity - at;
            let room = free.min(to_end);
            let written = if room > RECORD_HEADER {
                // Never more than the largest body: a record that overflows
                // that much room can never fit.
                let offered = (room - RECORD_HEADER).min(self.max_body());
                match body(&self.memory, at + RECORD_HEADER, offered) {
                    BodyResult::Written(len) => Some(len),
                    BodyResult::Overflow if offered == self.max_body() => {
                        return Err(Refusal::TooLarge);
                    }
                    BodyResult::Overflow => {
                        short = true;
                        None
                    }
                    BodyResult::Failed(error) => return Err(Refusal::Body(error)),
                }
            } else {
                None
            };
            match written {
                Some(len) => {
                    let len32 = u32::try_from(len).map_err(|_| Refusal::TooLarge)?;
                    self.memory.write_header(
                        at,
                        RecordHeader {
                            len: len32,
                            signals,
                        },
                    );
                    self.publish(RECORD_HEADER + len.next_multiple_of(RECORD_HEADER));
                    self.signals_written += u64::from(signals);
                    self.memory.store(
                        Counter::SignalsWritten,
                        self.signals_written,
                        Ordering::Release,
                    );
                    return Ok(());
                }
                // The end was too short but the start is free: pad the end
                // and try once more from the start.
                None if !wrapped && to_end <= free && to_end < self.capacity => {
                    self.memory.write_header(
                        at,
                        RecordHeader {
                            len: PAD,
                            signals: 0,
                        },
                    );
                    self.publish(to_end);
                    wrapped = true;
                }
                // What we saw of the consumer may be old: look once more.
                None if !refreshed => {
                    self.read_seen = self.memory.load(Counter::Read, Ordering::Acquire);
                    refreshed = true;
                }
                None if short => return Err(Refusal::Short),
                None => return Err(Refusal::Full),
            }
        }
    }

    fn publish(&mut self, bytes: u64) {
        self.write += bytes;
        self.memory
            .store(Counter::Write, self.write, Ordering::Release);
    }

    /// Tells the consumer that nothing more will come.
    pub(super) fn close(&self) {
        self.memory.raise(Flag::ProducerClosed, Ordering::Release);
    }
}

/// A published record, until the consumer releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// The data offset of its body.
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(crate) signals: u32,
    /// Its size in the ring, header and padding included.
    size: u64,
}

/// The producer broke the protocol: what the ring holds cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt(pub(crate) String);

/// The consumer's side of a ring.
pub(super) struct ConsumerCore<M> {
    pub(super) memory: M,
    capacity: u64,
    /// Our copy of the `Read` counter (only we store it).
    read: u64,
    /// The last `Write` we loaded.
    write: u64,
    /// Our copy of `SignalsTaken` (counted through `&self`, while a
    /// record's body is borrowed).
    taken: std::cell::Cell<u64>,
    /// Our copy of `LargeFreed`.
    large_freed: std::cell::Cell<u64>,
}

impl<M: RingMemory> ConsumerCore<M> {
    pub(super) fn new(memory: M, capacity: u64) -> Self {
        let read = memory.load(Counter::Read, Ordering::Relaxed);
        let taken = memory.load(Counter::SignalsTaken, Ordering::Relaxed);
        let large_freed = memory.load(Counter::LargeFreed, Ordering::Relaxed);
        ConsumerCore {
            memory,
            capacity,
            read,
            write: read,
            taken: std::cell::Cell::new(taken),
            large_freed: std::cell::Cell::new(large_freed),
        }
    }

    /// Counts `bytes` of large records as freed: the producer may send
    /// that much more.
    pub(super) fn count_large_freed(&self, bytes: u64) {
        let freed = self.large_freed.get() + bytes;
        self.large_freed.set(freed);
        self.memory
            .store(Counter::LargeFreed, freed, Ordering::Release);
    }

    /// Signals written by the producer and not yet taken.
    pub(super) fn waiting(&self) -> u64 {
        let written = self.memory.load(Counter::SignalsWritten, Ordering::Acquire);
        written.saturating_sub(self.taken.get())
    }

    /// True if no published record waits (looking at the producer's
    /// latest `Write`).
    pub(super) fn is_empty(&self) -> bool {
        self.memory.load(Counter::Write, Ordering::Acquire) == self.read
    }

    /// The next published record, if any. It stays the consumer's until
    /// [`release`](Self::release)d.
    pub(super) fn next(&mut self) -> Option<Result<Record, Corrupt>> {
        loop {
            if self.read == self.write {
                self.write = self.memory.load(Counter::Write, Ordering::Acquire);
                if self.read == self.write {
                    return None;
                }
            }
            let published = self.write.wrapping_sub(self.read);
            if published > self.capacity || !published.is_multiple_of(RECORD_HEADER) {
                return Some(Err(Corrupt(format!(
                    "{published} bytes published in a ring of {}",
                    self.capacity
                ))));
            }
            let at = self.read % self.capacity;
            let to_end = self.capacity - at;
            let header = self.memory.read_header(at);
            if header.len == PAD {
                if to_end > published {
                    return Some(Err(Corrupt("padding past what was published".into())));
                }
                self.read += to_end;
                self.memory
                    .store(Counter::Read, self.read, Ordering::Release);
                continue;
            }
            let size = RECORD_HEADER + u64::from(header.len).next_multiple_of(RECORD_HEADER);
            if size > to_end || size > published {
                return Some(Err(Corrupt(format!(
                    "a record of {} bytes past the end of what was published",
                    header.len
                ))));
            }
            return Some(Ok(Record {
                offset: at + RECORD_HEADER,
                len: u64::from(header.len),
                signals: header.signals,
                size,
            }));
        }
    }

    /// Frees a record's space for the producer.
    pub(super) fn release(&mut self, record: Record) {
        self.read += record.size;
        self.memory
            .store(Counter::Read, self.read, Ordering::Release);
    }

    /// Counts `signals` as taken: handed to slots, or dropped here.
    pub(super) fn count_taken(&self, signals: u64) {
        let taken = self.taken.get() + signals;
        self.taken.set(taken);
        self.memory
            .store(Counter::SignalsTaken, taken, Ordering::Release);
    }

    /// True once the producer said nothing more will come.
    pub(super) fn producer_closed(&self) -> bool {
        self.memory.flag(Flag::ProducerClosed, Ordering::Acquire)
    }

    /// Tells the producer that nothing more will be read.
    pub(super) fn close(&self) {
        self.memory.raise(Flag::ConsumerClosed, Ordering::Release);
    }
}

#[cfg(all(test, loom))]
mod tests {
    //! The protocol under every interleaving `loom` can find: a producer
    //! and a consumer thread share a tiny ring; each record's body is a run
    //! of tokens in `UnsafeCell`s, so that loom reports any overlap of the
    //! producer's writes with the consumer's reads, and the consumer checks
    //! that it reads every record once, whole and in order.
    //!
    //! `RUSTFLAGS="--cfg loom" cargo test -p signal-slot-loom` runs them in
    //! a crate of their own (`tests/loom`: this file alone, so that loom's
    //! build does not rebuild the library's dependencies);
    //! `RUSTFLAGS="--cfg loom" cargo test -p signal-slot --lib sys::ring`
    //! in the library.

    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU32, AtomicU64};

    /// A ring's memory with one token cell per 8 bytes of data.
    struct Model {
        counters: [AtomicU64; 6],
        flags: [AtomicU32; 2],
        units: Vec<UnsafeCell<u64>>,
    }

    impl Model {
        fn new(capacity: u64) -> Self {
            Model {
                counters: std::array::from_fn(|_| AtomicU64::new(0)),
                flags: std::array::from_fn(|_| AtomicU32::new(0)),
                units: (0..capacity / 8).map(|_| UnsafeCell::new(0)).collect(),
            }
        }

        fn write_units(&self, offset: u64, len: u64, token: u64) {
            for unit in offset / 8..(offset + len).div_ceil(8) {
                self.units[unit as usize].with_mut(|cell| unsafe { *cell = token });
            }
        }

        fn read_units(&self, offset: u64, len: u64) -> Vec<u64> {
            (offset / 8..(offset + len).div_ceil(8))
                .map(|unit| self.units[unit as usize].with(|cell| unsafe { *cell }))
                .collect()
        }
    }

    impl RingMemory for Arc<Model> {
        fn load(&self, counter: Counter, order: Ordering) -> u64 {
            self.counters[counter as usize].load(order)
        }

        fn store(&self, counter: Counter, value: u64, order: Ordering) {
            self.counters[counter as usize].store(value, order);
        }

        fn flag(&self, flag: Flag, order: Ordering) -> bool {
            self.flags[flag as usize].load(order) != 0
        }

        fn raise(&self, flag: Flag, order: Ordering) {
            self.flags[flag as usize].store(1, order);
        }

        fn write_header(&self, offset: u64, header: RecordHeader) {
            let packed = u64::from(header.len) << 32 | u64::from(header.signals);
            self.write_units(offset, 8, packed);
        }

        fn read_header(&self, offset: u64) -> RecordHeader {
            let packed = self.read_units(offset, 8)[0];
            RecordHeader {
                len: (packed >> 32) as u32,
                signals: packed as u32,
            }
        }
    }

    /// Records of 8, 16 and 24 bytes through a 64-byte ring (so that the
    /// last one pads the end and wraps), each body a run of its sequence
    /// number.
    #[test]
    fn records_arrive_once_whole_and_in_order() {
        loom::model(|| {
            const CAPACITY: u64 = 64;
            let lens = [8u64, 16, 24];
            let model = Arc::new(Model::new(CAPACITY));
            let producer_memory = model.clone();
            let producer = loom::thread::spawn(move || {
                let mut producer = ProducerCore::new(producer_memory, CAPACITY, 100);
                let mut sent = 0;
                for (seq, len) in lens.iter().enumerate() {
                    let mut attempts = 0;
                    loop {
                        let result = producer.write::<()>(1, false, |memory, offset, room| {
                            if *len > room {
                                return BodyResult::Overflow;
                            }
                            memory.write_units(offset, *len, seq as u64 + 1);
                            BodyResult::Written(*len)
                        });
                        match result {
                            Ok(()) => {
                                sent += 1;
                                break;
                            }
                            // Short: offered room the body did not fit
                            // in, as a ring with records still unread does.
                            Err(Refusal::Full | Refusal::Short) if attempts < 2 => {
                                attempts += 1;
                                loom::thread::yield_now();
                            }
                            Err(Refusal::Full | Refusal::Short) => break,
                            Err(other) => panic!("{other:?}"),
                        }
                    }
                }
                sent
            });
            let mut consumer = ConsumerCore::new(model.clone(), CAPACITY);
            let mut seen = Vec::new();
            for _ in 0..8 {
                match consumer.next() {
                    Some(Ok(record)) => {
                        let tokens = model.read_units(record.offset, record.len);
                        let seq = tokens[0];
                        assert!(tokens.iter().all(|token| *token == seq), "{tokens:?}");
                        assert_eq!(record.len, lens[seq as usize - 1]);
                        consumer.count_taken(u64::from(record.signals));
                        consumer.release(record);
                        seen.push(seq);
                    }
                    Some(Err(corrupt)) => panic!("{corrupt:?}"),
                    None => loom::thread::yield_now(),
                }
            }
            let sent = producer.join().unwrap();
            while let Some(record) = consumer.next() {
                let record = record.unwrap();
                seen.push(model.read_units(record.offset, record.len)[0]);
                consumer.count_taken(u64::from(record.signals));
                consumer.release(record);
            }
            // In order, none twice; a record refused as full is not there.
            assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "{seen:?}");
            assert_eq!(seen.len(), sent);
            assert_eq!(
                model.load(Counter::SignalsWritten, Ordering::Acquire),
                model.load(Counter::SignalsTaken, Ordering::Acquire)
            );
        });
    }
}
