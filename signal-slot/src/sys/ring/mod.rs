//! A ring of records in shared memory, from one process to one loop of
//! another: the data path between processes.
//!
//! The producer (any thread of the sending process, one at a time) encodes
//! each record straight into the ring; the consumer (the receiving loop)
//! decodes it in place and frees its space once the slots have run. No
//! thread of the library stands in between, and neither side ever waits
//! for the other: a full ring is a dropped (and counted) signal. The
//! protocol is in [`core`]; this module puts it in a shared region:
//!
//! | offset | what |
//! |---|---|
//! | 0 | magic, data capacity, most signals in flight |
//! | 64 | `Write`, `SignalsWritten`, `LargeSent` (stored by the producer) |
//! | 128 | `Read`, `SignalsTaken`, `LargeFreed` (stored by the consumer) |
//! | 192 | `ConsumerClosed`, `ProducerClosed` flags |
//! | 4096 | the records |

mod core;
mod large;

use std::io;
use std::sync::atomic::Ordering;

use ipc_channel::ipc::IpcSharedMemory;

use self::core::{BodyResult, ConsumerCore, Counter, Flag, ProducerCore, RecordHeader, RingMemory};
pub(crate) use self::core::{Corrupt, Record};
use super::shm::SharedRegion;
use crate::codec::encoder::Encoder;
use crate::error::EncodeError;

const MAGIC: u64 = u64::from_le_bytes(*b"sigslot1");
const DATA: usize = 4096;

fn counter_offset(counter: Counter) -> usize {
    match counter {
        Counter::Write => 64,
        Counter::SignalsWritten => 72,
        Counter::LargeSent => 80,
        Counter::Read => 128,
        Counter::SignalsTaken => 136,
        Counter::LargeFreed => 144,
    }
}

fn flag_offset(flag: Flag) -> usize {
    match flag {
        Flag::ConsumerClosed => 192,
        Flag::ProducerClosed => 196,
    }
}

impl RingMemory for SharedRegion {
    fn load(&self, counter: Counter, order: Ordering) -> u64 {
        self.atomic_u64(counter_offset(counter)).load(order)
    }

    fn store(&self, counter: Counter, value: u64, order: Ordering) {
        self.atomic_u64(counter_offset(counter)).store(value, order);
    }

    fn flag(&self, flag: Flag, order: Ordering) -> bool {
        self.atomic_u32(flag_offset(flag)).load(order) != 0
    }

    fn raise(&self, flag: Flag, order: Ordering) {
        self.atomic_u32(flag_offset(flag)).store(1, order);
    }

    fn write_header(&self, offset: u64, header: RecordHeader) {
        let mut bytes = [0; 8];
        bytes[..4].copy_from_slice(&header.len.to_le_bytes());
        bytes[4..].copy_from_slice(&header.signals.to_le_bytes());
        // SAFETY: the producer writes headers only into free space, which
        // it owns until it publishes it (see `core`).
        unsafe { self.bytes_mut(DATA + offset as usize, 8) }.copy_from_slice(&bytes);
    }

    fn read_header(&self, offset: u64) -> RecordHeader {
        // SAFETY: the consumer reads headers only of published records,
        // which it owns until it releases them (see `core`).
        let bytes = unsafe { self.bytes(DATA + offset as usize, 8) };
        let word = |range: std::ops::Range<usize>| {
            u32::from_le_bytes(bytes[range].try_into().unwrap_or_default())
        };
        RecordHeader {
            len: word(0..4),
            signals: word(4..8),
        }
    }
}

/// The size of a ring's shared region for `capacity` data bytes.
fn region_size(capacity: usize) -> usize {
    DATA + capacity
}

/// Why a record was not written to a ring.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The consumer's loop has ended.
    Closed,
    /// The ring has no room (or too many signals wait in it).
    Full,
    /// The record is larger than the ring's free space now (it may or may
    /// not fit once the consumer catches up).
    Short,
    /// The record is larger than half the ring: it could never be sure to
    /// fit.
    TooLarge { max: u64 },
    /// The arguments could not be encoded.
    Encode(EncodeError),
}

/// Numbers the segments this process sends (one sequence for all its
/// rings: each ring sees its own numbers grow).
static NEXT_SEGMENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// How full a ring is: what its producer wrote that its consumer has
/// not taken yet, against the ring's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fill {
    pub(crate) signals: u64,
    pub(crate) max_signals: u64,
    pub(crate) bytes: u64,
    pub(crate) max_bytes: u64,
    /// Bytes of large records (outside the ring) not yet freed.
    pub(crate) large_bytes: u64,
}

/// The sending side of a ring.
pub(crate) struct Producer {
    core: ProducerCore<SharedRegion>,
    large: large::LargeSegments,
}

impl Producer {
    /// Creates a ring of `capacity` data bytes (rounded up to a multiple
    /// of 8) that holds at most `max_signals` signals at a time. Returns
    /// the handle to send to the consumer's process.
    pub(crate) fn create(
        capacity: usize,
        max_signals: u64,
    ) -> io::Result<(Producer, IpcSharedMemory)> {
        let capacity = capacity.max(64).next_multiple_of(8);
        let region = SharedRegion::create(region_size(capacity))?;
        region.atomic_u64(0).store(MAGIC, Ordering::Relaxed);
        region
            .atomic_u64(8)
            .store(capacity as u64, Ordering::Relaxed);
        region.atomic_u64(16).store(max_signals, Ordering::Release);
        let shared = region.share();
        let producer = Producer {
            core: ProducerCore::new(region, capacity as u64, max_signals),
            large: large::LargeSegments::default(),
        };
        Ok((producer, shared))
    }

    /// Writes one record of `signals` signals, encoded by `encode` straight
    /// into the ring. `encode` may run twice (when the first place offered
    /// was too short, before the ring wraps). An `urgent` record (a
    /// command) may use the last sixteenth of the ring, which signals leave
    /// free, and is not held to the signal limit.
    pub(crate) fn write(
        &mut self,
        signals: u32,
        urgent: bool,
        mut encode: impl FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), WriteError> {
        let result = self.core.write(signals, urgent, |region, offset, room| {
            // SAFETY: `core` offers free space, which the producer owns
            // until it publishes it: nobody reads or writes it meanwhile.
            let out = unsafe { region.bytes_mut(DATA + offset as usize, room as usize) };
            let mut encoder = Encoder::fixed(out);
            match encode(&mut encoder) {
                Ok(()) => BodyResult::Written(encoder.len() as u64),
                Err(_) if encoder.overflowed() => BodyResult::Overflow,
                Err(error) => BodyResult::Failed(error),
            }
        });
        result.map_err(|refusal| match refusal {
            core::Refusal::Closed => WriteError::Closed,
            core::Refusal::Full => WriteError::Full,
            core::Refusal::Short => WriteError::Short,
            core::Refusal::TooLarge => WriteError::TooLarge {
                max: self.core.max_body(),
            },
            core::Refusal::Body(error) => WriteError::Encode(error),
        })
    }

    /// Writes a record of `len` bytes, more than the ring takes, in a
    /// segment of its own (see `large`), and in the ring in its place the
    /// stub `stub(number)` makes (held to the ring's limits like any
    /// record). Returns the segment's number and a handle to send to the
    /// consumer's process: the consumer reads the stub, then waits for the
    /// segment if it has not come.
    pub(crate) fn write_large(
        &mut self,
        signals: u32,
        urgent: bool,
        len: usize,
        mut encode: impl FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>,
        stub: impl FnOnce(u64) -> Vec<u8>,
    ) -> Result<(u64, IpcSharedMemory), WriteError> {
        self.large.reclaim(self.core.large_freed());
        let segment = self.large.write(len, &mut encode).map_err(|error| {
            WriteError::Encode(match error {
                large::LargeError::Memory(error) => {
                    EncodeError(format!("no memory for a record of {len} bytes: {error}"))
                }
                large::LargeError::Encode(error) => error,
                large::LargeError::Changed(written) => EncodeError(format!(
                    "its encoding took {len} bytes, then {written} written again: a \
                     `Serialize` that is not deterministic"
                )),
            })
        })?;
        let id = NEXT_SEGMENT.fetch_add(1, Ordering::Relaxed);
        let stub = stub(id);
        // Counted before the stub is published: the consumer never frees
        // more than was sent.
        self.core.count_large_sent(len as u64, false);
        let written = self.write(signals, urgent, |out| {
            std::io::Write::write_all(out, &stub).map_err(|error| EncodeError(error.to_string()))
        });
        if let Err(refused) = written {
            self.core.count_large_sent(len as u64, true);
            self.large.unsent(segment);
            return Err(refused);
        }
        let handle = segment.handle();
        self.large.sent(segment, self.core.large_sent());
        Ok((id, handle))
    }

    /// Signals written and not yet taken by the consumer.
    pub(crate) fn in_transit(&self) -> u64 {
        self.core.in_transit()
    }

    /// How full the ring is now, as its producer sees it.
    pub(crate) fn fill(&self) -> Fill {
        let (bytes, signals) = self.core.limits();
        Fill {
            signals: self.core.in_transit(),
            max_signals: signals,
            bytes: self.core.bytes_in_use(),
            max_bytes: bytes,
            large_bytes: self.core.large_in_flight(),
        }
    }

    /// The largest record body the ring itself takes (half of it).
    pub(crate) fn max_body(&self) -> u64 {
        self.core.max_body()
    }

    /// Bytes of large records (written outside the ring, a stub in it)
    /// sent and not yet freed by the consumer.
    pub(crate) fn large_in_flight(&self) -> u64 {
        self.core.large_in_flight()
    }

    /// True once the consumer's loop has ended.
    pub(crate) fn consumer_closed(&self) -> bool {
        self.core.consumer_closed()
    }

    /// Tells the consumer that nothing more will come.
    pub(crate) fn close(&self) {
        self.core.close();
    }
}

/// The receiving side of a ring.
pub(crate) struct Consumer {
    core: ConsumerCore<SharedRegion>,
}

impl Consumer {
    /// Opens a ring another process created.
    ///
    /// # Errors
    ///
    /// If the region is not a ring of this format.
    pub(crate) fn open(memory: IpcSharedMemory) -> Result<Consumer, Corrupt> {
        let region = SharedRegion::open(memory).map_err(|error| Corrupt(error.to_string()))?;
        if region.len() < DATA {
            return Err(Corrupt(format!("a ring of {} bytes", region.len())));
        }
        if region.atomic_u64(0).load(Ordering::Acquire) != MAGIC {
            return Err(Corrupt("not a ring".to_owned()));
        }
        let capacity = region.atomic_u64(8).load(Ordering::Acquire);
        let fits =
            usize::try_from(capacity).is_ok_and(|capacity| region_size(capacity) <= region.len());
        if capacity < 64 || capacity % 8 != 0 || !fits {
            return Err(Corrupt(format!(
                "a capacity of {capacity} bytes in a region of {}",
                region.len()
            )));
        }
        Ok(Consumer {
            core: ConsumerCore::new(region, capacity),
        })
    }

    /// The next record, if one is published. It stays readable until
    /// [`release`](Self::release)d.
    pub(crate) fn next(&mut self) -> Option<Result<Record, Corrupt>> {
        self.core.next()
    }

    /// The body of a record that was not released.
    pub(crate) fn body(&self, record: &Record) -> &[u8] {
        // SAFETY: `record` came from `next` and was not released: its
        // bytes are published and the producer does not write them until
        // `release`.
        unsafe {
            self.core
                .memory
                .bytes(DATA + record.offset as usize, record.len as usize)
        }
    }

    /// Frees a record's space.
    pub(crate) fn release(&mut self, record: Record) {
        self.core.release(record);
    }

    /// Counts signals as taken (before their slots run, or when dropped).
    pub(crate) fn count_taken(&self, signals: u64) {
        self.core.count_taken(signals);
    }

    /// Counts `bytes` of large records as freed.
    pub(crate) fn count_large_freed(&self, bytes: u64) {
        self.core.count_large_freed(bytes);
    }

    /// Signals written and not yet taken.
    pub(crate) fn waiting(&self) -> u64 {
        self.core.waiting()
    }

    /// True if no published record waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.core.is_empty()
    }

    /// True once the producer said nothing more will come.
    pub(crate) fn producer_closed(&self) -> bool {
        self.core.producer_closed()
    }

    /// Tells the producer that nothing more will be read.
    pub(crate) fn close(&self) {
        self.core.close();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::sys::shm::Segment;

    fn write_bytes(producer: &mut Producer, bytes: &[u8]) -> Result<(), WriteError> {
        producer.write(1, false, |encoder| {
            encoder
                .write_all(bytes)
                .map_err(|error| EncodeError(error.to_string()))
        })
    }

    fn read_all(consumer: &mut Consumer) -> Vec<Vec<u8>> {
        let mut bodies = Vec::new();
        while let Some(record) = consumer.next() {
            let record = record.unwrap();
            bodies.push(consumer.body(&record).to_vec());
            consumer.count_taken(u64::from(record.signals));
            consumer.release(record);
        }
        bodies
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn records_go_through_in_order_and_wrap() {
        let (mut producer, shared) = Producer::create(256, 1000).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        let mut expected = Vec::new();
        for round in 0..50u8 {
            let body = vec![round; usize::from(round % 40) + 1];
            write_bytes(&mut producer, &body).unwrap();
            expected.push(body);
            if round % 3 == 0 {
                assert_eq!(read_all(&mut consumer), expected);
                expected.clear();
            }
        }
        assert_eq!(read_all(&mut consumer), expected);
        assert_eq!(producer.in_transit(), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_full_ring_refuses_and_takes_again_once_read() {
        let (mut producer, shared) = Producer::create(256, 3).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        // The signal limit.
        for _ in 0..3 {
            write_bytes(&mut producer, b"x").unwrap();
        }
        assert!(matches!(
            write_bytes(&mut producer, b"x"),
            Err(WriteError::Full)
        ));
        assert_eq!(producer.in_transit(), 3);
        read_all(&mut consumer);
        // The byte limit: records of 64 bytes in 512, less the reserve.
        let (mut producer, shared) = Producer::create(512, 1000).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        let mut written = 0;
        while write_bytes(&mut producer, &[7; 56]).is_ok() {
            written += 1;
        }
        assert_eq!(written, 7);
        // The reserve takes an urgent record when signals no longer fit.
        producer
            .write(0, true, |encoder| {
                encoder
                    .write_all(&[1; 24])
                    .map_err(|error| EncodeError(error.to_string()))
            })
            .unwrap();
        assert_eq!(read_all(&mut consumer).len(), 8);
        write_bytes(&mut producer, &[7; 56]).unwrap();
        // Too large for the ring, even empty.
        read_all(&mut consumer);
        assert!(matches!(
            write_bytes(&mut producer, &[7; 400]),
            Err(WriteError::TooLarge { max: 248 })
        ));
    }

    fn write_large(producer: &mut Producer, body: &[u8]) -> Result<(u64, Segment), WriteError> {
        let (id, handle) = producer.write_large(
            1,
            false,
            body.len(),
            |encoder| {
                encoder
                    .write_all(body)
                    .map_err(|error| EncodeError(error.to_string()))
            },
            |id| id.to_le_bytes().to_vec(),
        )?;
        Ok((id, Segment::open(handle).unwrap()))
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn large_records_go_in_segments_that_are_written_again_once_freed() {
        let (mut producer, shared) = Producer::create(256, 1000).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        let first = vec![1u8; 10_000];
        let (id, segment) = write_large(&mut producer, &first).unwrap();
        assert_eq!(&segment.bytes()[..first.len()], &first[..]);
        assert_eq!(producer.large_in_flight(), 10_000);
        // Its stub is in the ring, in order with the other records.
        write_bytes(&mut producer, b"after").unwrap();
        assert_eq!(
            read_all(&mut consumer),
            [id.to_le_bytes().to_vec(), b"after".to_vec()]
        );
        // While the consumer holds it, another record gets new memory.
        let second = vec![2u8; 8_000];
        let (_, held) = write_large(&mut producer, &second).unwrap();
        assert_eq!(producer.large.held(), 18_000);
        // Once freed (after the consumer let go of it), the first one's
        // memory takes the next record: nothing new is made.
        drop(segment);
        consumer.count_large_freed(10_000);
        assert_eq!(producer.large_in_flight(), 8_000);
        let third = vec![3u8; 9_000];
        let (_, reused) = write_large(&mut producer, &third).unwrap();
        assert_eq!(reused.len(), 10_000);
        assert_eq!(&reused.bytes()[..third.len()], &third[..]);
        assert_eq!(producer.large.held(), 18_000);
        // The second one is still the consumer's: untouched.
        assert!(held.bytes()[..second.len()].iter().all(|&b| b == 2));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_large_record_that_does_not_go_changes_nothing() {
        let (mut producer, shared) = Producer::create(256, 1).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        // An encoding that changes between its two passes.
        let mut calls = 0;
        let changed = producer.write_large(
            1,
            false,
            5_000,
            |encoder| {
                calls += 1;
                encoder
                    .write_all(&[0; 4_000])
                    .map_err(|error| EncodeError(error.to_string()))
            },
            |id| id.to_le_bytes().to_vec(),
        );
        assert!(matches!(changed, Err(WriteError::Encode(_))), "{changed:?}");
        assert_eq!(producer.large_in_flight(), 0);
        assert!(consumer.is_empty());
        // A stub that finds the ring full (one signal at most): nothing
        // counted, the memory kept for the next.
        write_bytes(&mut producer, b"x").unwrap();
        assert!(matches!(
            write_large(&mut producer, &[7; 5_000]),
            Err(WriteError::Full)
        ));
        assert_eq!(producer.large_in_flight(), 0);
        read_all(&mut consumer);
        let (_, segment) = write_large(&mut producer, &[7; 5_000]).unwrap();
        assert_eq!(segment.len(), 5_000);
        assert_eq!(producer.large.held(), 5_000);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn closing_is_seen_on_the_other_side() {
        let (mut producer, shared) = Producer::create(256, 10).unwrap();
        let consumer = Consumer::open(shared).unwrap();
        write_bytes(&mut producer, b"lost").unwrap();
        consumer.close();
        assert!(matches!(
            write_bytes(&mut producer, b"x"),
            Err(WriteError::Closed)
        ));
        assert_eq!(producer.in_transit(), 1);
        producer.close();
        assert!(consumer.producer_closed());
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn an_encoding_error_leaves_nothing_behind() {
        let (mut producer, shared) = Producer::create(256, 10).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        let failed = producer.write(1, false, |encoder| {
            encoder.write_all(b"half").unwrap();
            Err(EncodeError("no".to_owned()))
        });
        assert!(matches!(failed, Err(WriteError::Encode(_))));
        assert!(consumer.is_empty());
        write_bytes(&mut producer, b"next").unwrap();
        assert_eq!(read_all(&mut consumer), [b"next".to_vec()]);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn garbage_in_the_ring_is_reported_not_followed() {
        let (mut producer, shared) = Producer::create(256, 10).unwrap();
        let spare = SharedRegion::open(shared.clone()).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        write_bytes(&mut producer, b"ok").unwrap();
        // A producer gone mad: a length past what it published.
        spare.write_header(
            0,
            RecordHeader {
                len: 5000,
                signals: 1,
            },
        );
        assert!(matches!(consumer.next(), Some(Err(Corrupt(_)))));
        // A `Write` that claims more than the ring holds.
        spare
            .atomic_u64(counter_offset(Counter::Write))
            .store(1 << 40, Ordering::Release);
        assert!(matches!(consumer.next(), Some(Err(Corrupt(_)))));
        // Not a ring at all.
        let plain = SharedRegion::create(8192).unwrap();
        assert!(Consumer::open(plain.share()).is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn two_threads_stream_through_a_small_ring() {
        let (mut producer, shared) = Producer::create(1024, 1 << 20).unwrap();
        let mut consumer = Consumer::open(shared).unwrap();
        const COUNT: u64 = 20_000;
        let writer = std::thread::spawn(move || {
            let mut seq = 0u64;
            while seq < COUNT {
                let len = (seq % 13 + 1) as usize * 8;
                let mut body = vec![0u8; len];
                body[..8].copy_from_slice(&seq.to_le_bytes());
                match write_bytes(&mut producer, &body) {
                    Ok(()) => seq += 1,
                    Err(WriteError::Full | WriteError::Short) => std::thread::yield_now(),
                    Err(other) => panic!("{other:?}"),
                }
            }
        });
        let mut next = 0u64;
        while next < COUNT {
            match consumer.next() {
                Some(record) => {
                    let record = record.unwrap();
                    let body = consumer.body(&record);
                    let seq = u64::from_le_bytes(body[..8].try_into().unwrap());
                    assert_eq!(seq, next);
                    assert_eq!(body.len(), (seq % 13 + 1) as usize * 8);
                    consumer.count_taken(1);
                    consumer.release(record);
                    next += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        writer.join().unwrap();
    }
}
