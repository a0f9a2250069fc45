//! The heads of the signal frames a ring carried lately, decoded once.
//!
//! Every emission of one signal to one group of receivers on a loop starts
//! its frame with the same bytes: the frame's length and tag, the emitter,
//! the signal, the receivers and the flags (its sender encodes them once:
//! see [`signal_prefix`](super::signal_prefix)). A loop keeps the last few
//! such *heads* of each ring it reads, decoded; a frame that starts with the
//! bytes of one is read from its payloads on, its names neither decoded nor
//! checked again.
//!
//! The heads are found by their bytes, so what a hit gives is exactly what
//! decoding those bytes gives: nothing kept can be stale, whatever was
//! connected, disconnected, moved or detached since (the names still go to
//! the loop's objects, which are looked up as for any frame).

use std::cell::Cell;

use super::reader::decode_error;
use super::{Frame, Payloads, Reader, Receivers};
use crate::error::DecodeError;

/// How many heads a ring keeps.
const ENTRIES: usize = 8;
/// Heads longer than this (hundreds of receivers) are decoded each time.
const MAX_HEAD: usize = 1024;
/// Every this many frames, the cache checks whether it pays: if fewer than
/// half of them found their head (frames of more signals than it holds,
/// interleaved), it learns a head for only one miss in [`SPARSE`] over the
/// next ones, so that such frames do not pay for learning every time.
const WINDOW: u32 = 64;
const SPARSE: u32 = 16;

/// The heads one ring carried lately (see the module's documentation).
#[derive(Default)]
pub(crate) struct Heads {
    entries: Vec<Head>,
    /// The entry the last hit found, looked at first.
    last: Cell<usize>,
    /// The entry the next head learned replaces, once all are in use.
    next: usize,
    /// Frames, and hits among them, in this window of [`WINDOW`] frames.
    seen: Cell<u32>,
    hits: Cell<u32>,
    /// Misses so far (counted to learn one in [`SPARSE`]).
    misses: Cell<u32>,
    /// The last window found fewer than half of its heads.
    sparse: Cell<bool>,
}

/// One head, decoded.
struct Head {
    bytes: Box<[u8]>,
    emitter_loop: Option<Box<str>>,
    emitter: Option<Box<str>>,
    emitter_instance: u64,
    signal: Box<str>,
    receivers: Box<[(Box<str>, u16, u64)]>,
    broadcast: bool,
    latest: bool,
}

impl Heads {
    /// The head that `frame` (the rest of a record) starts with, if one is
    /// kept: its index and length.
    fn find(&self, frame: &[u8]) -> Option<(usize, usize)> {
        let last = self.last.get();
        let hit = |index: usize| {
            let head = self.entries.get(index)?;
            frame
                .starts_with(&head.bytes)
                .then_some((index, head.bytes.len()))
        };
        let found = hit(last).or_else(|| {
            (0..self.entries.len())
                .filter(|&index| index != last)
                .find_map(hit)
        });
        match found {
            Some((index, _)) => {
                self.last.set(index);
                self.hits.set(self.hits.get() + 1);
            }
            None => self.misses.set(self.misses.get().wrapping_add(1)),
        }
        self.seen.set(self.seen.get() + 1);
        if self.seen.get() == WINDOW {
            self.sparse.set(self.hits.get() < WINDOW / 2);
            self.seen.set(0);
            self.hits.set(0);
        }
        found
    }

    /// Keeps the head of a signal frame decoded the long way (its bytes up
    /// to its payloads), unless heads are not paying (see [`WINDOW`]).
    /// Returns whether it was kept.
    pub(crate) fn learn(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > MAX_HEAD
            || (self.sparse.get() && !self.misses.get().is_multiple_of(SPARSE))
        {
            return false;
        }
        let Ok(head) = Head::decode(bytes) else {
            return false;
        };
        if self.entries.len() < ENTRIES {
            self.entries.push(head);
        } else {
            self.entries[self.next] = head;
            self.next = (self.next + 1) % ENTRIES;
        }
        true
    }
}

impl Head {
    fn decode(bytes: &[u8]) -> Result<Head, DecodeError> {
        let mut reader = Reader::new(bytes);
        let (fields, tag) = reader.frame_tag()?;
        if (fields, tag) != (8, super::SIGNAL) {
            return Err(decode_error("not the head of a signal frame"));
        }
        let head = reader.signal_fields(tag)?;
        if !reader.rest.is_empty() {
            return Err(decode_error("not the head of a signal frame"));
        }
        Ok(Head {
            bytes: bytes.into(),
            emitter_loop: head.emitter_loop.map(Into::into),
            emitter: head.emitter.map(Into::into),
            emitter_instance: head.emitter_instance,
            signal: head.signal.into(),
            receivers: head
                .receivers
                .iter()
                .map(|&(object, slot, instance)| (object.into(), slot, instance))
                .collect(),
            broadcast: head.broadcast,
            latest: head.latest,
        })
    }
}

impl<'a> Reader<'a> {
    /// The next frame, its head taken from `heads` if one is kept there
    /// (see the module's documentation). After a frame whose head was
    /// decoded the long way, [`take_head`](Self::take_head) gives its
    /// bytes to learn.
    pub(crate) fn next_cached<'h>(
        &mut self,
        heads: &'h Heads,
    ) -> Option<Result<Frame<'h>, DecodeError>>
    where
        'a: 'h,
    {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let Some((index, len)) = heads.find(self.rest) else {
            return self.next().map(|frame| frame.map(Frame::shorten));
        };
        self.rest = &self.rest[len..];
        let head = &heads.entries[index];
        let payloads = match self.payloads_for() {
            Ok(payloads) => payloads,
            Err(error) => {
                self.failed = true;
                return Some(Err(error));
            }
        };
        Some(Ok(Frame::Signal {
            emitter_loop: head.emitter_loop.as_deref(),
            emitter: head.emitter.as_deref(),
            emitter_instance: head.emitter_instance,
            signal: &head.signal,
            receivers: head
                .receivers
                .iter()
                .map(|(object, slot, instance)| (&**object, *slot, *instance))
                .collect::<Receivers<'h>>(),
            broadcast: head.broadcast,
            latest: head.latest,
            reply: None,
            payloads,
        }))
    }

    /// The payloads of a frame, borrowed for `'h` (a `SmallVec` of
    /// borrows does not shorten its borrows' lifetime by itself).
    fn payloads_for<'h>(&mut self) -> Result<Payloads<'h>, DecodeError>
    where
        'a: 'h,
    {
        let count = self.array_len()?;
        (0..count)
            .map(|_| self.bin().map(|payload| -> &'h [u8] { payload }))
            .collect()
    }
}

impl<'a> Frame<'a> {
    /// The same frame, its borrows taken as shorter ones (a `SmallVec` of
    /// borrows does not shorten by itself: its element type is invariant).
    fn shorten<'h>(self) -> Frame<'h>
    where
        'a: 'h,
    {
        match self {
            Frame::Signal {
                emitter_loop,
                emitter,
                emitter_instance,
                signal,
                receivers,
                broadcast,
                latest,
                reply,
                payloads,
            } => Frame::Signal {
                emitter_loop,
                emitter,
                emitter_instance,
                signal,
                receivers: receivers
                    .into_iter()
                    .map(|(object, slot, instance)| -> (&'h str, u16, u64) {
                        (object, slot, instance)
                    })
                    .collect(),
                broadcast,
                latest,
                reply,
                payloads: shorten_payloads(payloads),
            },
            Frame::EmitRequest {
                emitter,
                instance,
                signal,
                payloads,
            } => Frame::EmitRequest {
                emitter,
                instance,
                signal,
                payloads: shorten_payloads(payloads),
            },
            Frame::Command(command) => Frame::Command(command),
        }
    }
}

fn shorten_payloads<'a: 'h, 'h>(payloads: Payloads<'a>) -> Payloads<'h> {
    payloads
        .into_iter()
        .map(|payload| -> &'h [u8] { payload })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Encoder;
    use crate::protocol::ReceiverRef;
    use crate::wire::Writer;
    use crate::wire::writer::io_error;

    fn receiver(object: &str, slot: u16) -> ReceiverRef {
        ReceiverRef {
            object: object.into(),
            slot,
            instance: 7,
            lease: None,
        }
    }

    /// A record of signal frames of `signals` (by name), one payload each
    /// (its index in the record), and a call's frame at the end.
    fn record(signals: &[&str]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut encoder = Encoder::growing(&mut buf);
        let mut writer = Writer::new(&mut encoder);
        for (index, signal) in signals.iter().enumerate() {
            let receivers = [receiver("b", 1), receiver(signal, 2)];
            writer
                .signal(
                    Some("main"),
                    Some(("a", 3)),
                    signal,
                    receivers.iter(),
                    (index % 2 == 0, false),
                    None,
                    1,
                    |_, buf| {
                        rmp::encode::write_uint(buf, index as u64)
                            .map(drop)
                            .map_err(io_error)
                    },
                )
                .unwrap();
        }
        writer
            .signal(
                None,
                None,
                "<call>",
                [receiver("b", 0)].iter(),
                (false, false),
                Some((1, 2)),
                0,
                |_, _| Ok(()),
            )
            .unwrap();
        buf
    }

    /// Reads a record through `heads`, learning as a loop does; and how
    /// many heads it learned.
    fn read_learning(record: &[u8], heads: &mut Heads) -> (Vec<String>, usize) {
        let mut reader = Reader::new(record);
        let mut frames = Vec::new();
        let mut learned = 0;
        loop {
            let Some(frame) = reader.next_cached(heads) else {
                break;
            };
            frames.push(format!("{frame:?}"));
            drop(frame);
            if let Some(head) = reader.take_head() {
                learned += usize::from(heads.learn(head));
            }
        }
        (frames, learned)
    }

    fn read_cached(record: &[u8], heads: &mut Heads) -> Vec<String> {
        read_learning(record, heads).0
    }

    fn read_plain(record: &[u8]) -> Vec<String> {
        Reader::new(record)
            .map(|frame| format!("{frame:?}"))
            .collect()
    }

    #[test]
    fn frames_read_through_heads_are_the_frames_read_plainly() {
        let mut heads = Heads::default();
        // Repeated signals (hits), more distinct ones than are kept
        // (replacements), and a call (never kept).
        let names: Vec<String> = (0..40).map(|i| format!("s{}", i % 11)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let record = record(&names);
        for _ in 0..3 {
            assert_eq!(read_cached(&record, &mut heads), read_plain(&record));
        }
        assert!(!heads.entries.is_empty() && heads.entries.len() <= ENTRIES);
    }

    #[test]
    fn a_repeated_head_is_found_and_a_changed_one_is_not() {
        let mut heads = Heads::default();
        let record = record(&["ping", "ping"]);
        read_cached(&record, &mut heads);
        assert_eq!(heads.entries.len(), 2, "broadcast and not: two heads");
        assert!(heads.find(&record).is_some());
        // One byte of the emitter's name changed: not the same head.
        let mut changed = record.clone();
        let at = changed.windows(4).position(|w| w == b"main").unwrap();
        changed[at] = b'n';
        assert!(heads.find(&changed).is_none());
        assert_eq!(read_cached(&changed, &mut heads), read_plain(&changed));
    }

    #[test]
    fn a_hit_with_bad_payloads_is_an_error_and_ends_the_record() {
        let mut heads = Heads::default();
        let record = record(&["ping"]);
        read_cached(&record, &mut heads);
        let (_, len) = heads.find(&record).unwrap();
        // The head, then a payload array that claims more than is left.
        let mut bad = record[..len].to_vec();
        bad.extend_from_slice(&[0x93, 0xc4, 0x05, 1]);
        let mut reader = Reader::new(&bad);
        assert!(reader.next_cached(&heads).unwrap().is_err());
        assert!(reader.next_cached(&heads).is_none());
    }

    #[test]
    fn many_interleaved_heads_are_learned_sparsely() {
        let mut heads = Heads::default();
        let names: Vec<String> = (0..400).map(|i| format!("s{}", i % 50)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let record = record(&names);
        let (frames, learned) = read_learning(&record, &mut heads);
        assert_eq!(frames, read_plain(&record));
        // 50 heads in turn, 8 kept: the first window's misses are all
        // learned, then about one in 16.
        let window = WINDOW as usize;
        let sparse = (400 - window).div_ceil(SPARSE as usize);
        assert!(
            (window..=window + sparse).contains(&learned),
            "learned {learned} of 400"
        );
        assert!(heads.sparse.get());
    }

    #[test]
    fn heads_are_bounded_in_number_and_size() {
        let mut heads = Heads::default();
        // A signal to 200 receivers: a head of several KiB, not kept.
        let receivers: Vec<ReceiverRef> = (0..200)
            .map(|index| receiver(&format!("receiver number {index}"), 1))
            .collect();
        let mut buf = Vec::new();
        for _ in 0..3 {
            Writer::new(&mut Encoder::growing(&mut buf))
                .signal(
                    None,
                    None,
                    "wide",
                    receivers.iter(),
                    (false, false),
                    None,
                    0,
                    |_, _| Ok(()),
                )
                .unwrap();
        }
        let (frames, learned) = read_learning(&buf, &mut heads);
        assert_eq!(frames, read_plain(&buf));
        assert_eq!((learned, heads.entries.len()), (0, 0));
        // Many short heads: never more than ENTRIES kept.
        let names: Vec<String> = (0..100).map(|index| format!("s{index}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        read_learning(&record(&names), &mut heads);
        assert_eq!(heads.entries.len(), ENTRIES);
        assert!(
            heads
                .entries
                .iter()
                .all(|head| head.bytes.len() <= MAX_HEAD)
        );
    }

    #[test]
    fn a_few_interleaved_heads_are_learned_once() {
        let mut heads = Heads::default();
        let names: Vec<String> = (0..400).map(|i| format!("s{}", i % 3)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let record = record(&names);
        let (frames, learned) = read_learning(&record, &mut heads);
        assert_eq!(frames, read_plain(&record));
        // Three signals, each broadcast on even indices and not on odd
        // ones: six heads, each learned at its first frame.
        assert_eq!(learned, 6);
        assert_eq!(read_learning(&record, &mut heads).1, 0);
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn read_all(record: &[u8], heads: Option<&mut Heads>) -> Vec<String> {
            match heads {
                Some(heads) => read_learning(record, heads).0,
                None => read_plain(record),
            }
        }

        proptest! {
            /// Whatever a record holds, reading it through heads learned
            /// from good records gives the frames and errors that reading
            /// it plainly does.
            #[test]
            fn reading_through_heads_is_reading_plainly(
                flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
                cut in any::<prop::sample::Index>(),
                extra in prop::collection::vec(any::<u8>(), 0..16),
            ) {
                let good = record(&["ping", "pong", "ping"]);
                let mut heads = Heads::default();
                read_all(&good, Some(&mut heads));
                let mut bad = good.clone();
                for (at, byte) in flips {
                    let at = at.index(bad.len());
                    bad[at] = byte;
                }
                bad.truncate(cut.index(bad.len() + 1));
                bad.extend_from_slice(&extra);
                prop_assert_eq!(read_all(&bad, Some(&mut heads)), read_all(&bad, None));
                prop_assert_eq!(read_all(&good, Some(&mut heads)), read_all(&good, None));
            }
        }
    }
}
