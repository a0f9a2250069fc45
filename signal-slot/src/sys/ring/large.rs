//! Records too large for a ring, on the producer's side: each goes in a
//! [`Segment`] of its own, with a stub in the ring in its place, so that it
//! arrives in order with the producer's other records.
//!
//! The ring's counters say how much of it the consumer holds: the producer
//! counts a segment's bytes as sent (`LargeSent`) before its stub is
//! published, the consumer counts them as freed (`LargeFreed`) once it has
//! let go of the segment, never before, and in the order of the stubs. So
//! a segment whose bytes the consumer has counted is one it will never
//! read again, and the producer may write it anew: fresh shared memory
//! costs a page fault for every 4 KiB the first time it is written (70 ms
//! for 64 MiB, measured, where the copy takes 6), memory already written
//! costs nothing. A few such segments are kept (at most
//! [`SPARE_BYTES`]); the rest go, as do all of them when the ring does.

use std::collections::VecDeque;
use std::io;

use crate::codec::encoder::Encoder;
use crate::error::EncodeError;
use crate::sys::shm::Segment;

/// The most bytes of segments, freed by the consumer, that a producer keeps
/// to write its next large records in.
pub(crate) const SPARE_BYTES: usize = 256 << 20;

/// A producer's segments.
#[derive(Default)]
pub(super) struct LargeSegments {
    /// Handed to the consumer, each with the count of large bytes sent up
    /// to and including it: the consumer has let go of it once it counts
    /// that many freed.
    in_flight: VecDeque<(u64, Segment)>,
    /// Let go of by the consumer: to write again.
    spares: Vec<Segment>,
}

impl LargeSegments {
    /// Takes back what the consumer has let go of (`freed` bytes in all):
    /// kept while the spares stay within [`SPARE_BYTES`], let go otherwise.
    pub(super) fn reclaim(&mut self, freed: u64) {
        while self.in_flight.front().is_some_and(|(end, _)| *end <= freed) {
            if let Some((_, segment)) = self.in_flight.pop_front() {
                self.keep(segment);
            }
        }
    }

    fn keep(&mut self, segment: Segment) {
        let held: usize = self.spares.iter().map(Segment::len).sum();
        if held + segment.len() <= SPARE_BYTES {
            self.spares.push(segment);
        }
    }

    /// A segment of at least `len` bytes, written by `encode`: the
    /// smallest spare that holds it, or a new one.
    pub(super) fn write(
        &mut self,
        len: usize,
        encode: &mut dyn FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<Segment, LargeError> {
        let spare = self
            .spares
            .iter()
            .enumerate()
            .filter(|(_, segment)| segment.len() >= len)
            .min_by_key(|(_, segment)| segment.len())
            .map(|(index, _)| index);
        let mut segment = match spare {
            Some(index) => self.spares.swap_remove(index),
            None => Segment::create(len).map_err(LargeError::Memory)?,
        };
        // SAFETY: the segment is new, or one the consumer has let go of
        // (`reclaim`: its bytes counted freed, which the consumer does only
        // after dropping its mapping, and never reads a segment again).
        let bytes = unsafe { segment.bytes_mut() };
        let mut out = Encoder::fixed(&mut bytes[..len]);
        match encode(&mut out) {
            Ok(()) if out.len() == len => Ok(segment),
            Ok(()) => {
                let written = out.len();
                self.keep(segment);
                Err(LargeError::Changed(written))
            }
            Err(error) => {
                let overflowed = out.overflowed();
                self.keep(segment);
                Err(if overflowed {
                    LargeError::Changed(len + 1)
                } else {
                    LargeError::Encode(error)
                })
            }
        }
    }

    /// `segment` went to the consumer, its bytes counted sent up to
    /// `sent_through`.
    pub(super) fn sent(&mut self, segment: Segment, sent_through: u64) {
        self.in_flight.push_back((sent_through, segment));
    }

    /// `segment` did not go: written again next time.
    pub(super) fn unsent(&mut self, segment: Segment) {
        self.keep(segment);
    }

    /// Bytes of segments kept (in flight and spare).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.in_flight
            .iter()
            .map(|(_, segment)| segment.len())
            .chain(self.spares.iter().map(Segment::len))
            .sum()
    }
}

/// Why a large record was not written.
#[derive(Debug)]
pub(crate) enum LargeError {
    /// No memory for its segment.
    Memory(io::Error),
    /// Its encoding failed.
    Encode(EncodeError),
    /// Its encoding took this many bytes where the first pass took another
    /// number: a `Serialize` that is not deterministic.
    Changed(usize),
}
