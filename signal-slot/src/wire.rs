//! The MessagePack envelope between processes.
//!
//! One transport message (a *packet*) carries one or more *frames*, written
//! back to back. A frame is a MessagePack array whose first element is a tag:
//!
//! | tag | frame | fields after the tag |
//! |---|---|---|
//! | 0 | signal | emitter loop (str or nil), emitter id (str or nil), signal name, receivers `[[object, slot], ..]`, broadcast (bool), payloads `[bin, ..]` |
//! | 1 | emit request | emitter id, signal index, payloads `[bin, ..]` |
//! | 2 | connect | emitter id, signal index, receiver loop, receiver id, slot index, balanced (bool) |
//! | 3 | disconnect | emitter id, signal index, receiver loop, receiver id, slot index |
//! | 4 | broadcast | emitter id, signal index, loop, on (bool) |
//! | 5 | detach | object id |
//! | 6 | subscribe | signal name, object id, slot index, on (bool) |
//! | 7 | routes | (none): route updates wait on the control channel |
//! | 8 | shutdown | (none): the reader of this inbox stops |
//! | 9 | from | sender process number: heads every packet of an outbox |
//!
//! Each payload is the argument tuple as a MessagePack array, wrapped in
//! `bin` so that a frame can be skipped or reported without knowing the
//! slot's types. Decoding borrows from the packet and never panics: every
//! length is checked against what is left.

use crate::error::{DecodeError, EncodeError};

const SIGNAL: u8 = 0;
const EMIT_REQUEST: u8 = 1;
const CONNECT: u8 = 2;
const DISCONNECT: u8 = 3;
const BROADCAST: u8 = 4;
const DETACH: u8 = 5;
const SUBSCRIBE: u8 = 6;
const ROUTES: u8 = 7;
const SHUTDOWN: u8 = 8;
const FROM: u8 = 9;

/// A frame, borrowed from its packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    Signal {
        /// The emitter's loop; `None` for an emitter on no loop.
        emitter_loop: Option<&'a str>,
        /// The emitter's id; `None` for a direct invocation.
        emitter: Option<&'a str>,
        signal: &'a str,
        receivers: Vec<(&'a str, u16)>,
        broadcast: bool,
        payloads: Vec<&'a [u8]>,
    },
    EmitRequest {
        emitter: &'a str,
        signal: u16,
        payloads: Vec<&'a [u8]>,
    },
    Connect {
        emitter: &'a str,
        signal: u16,
        receiver_loop: &'a str,
        receiver: &'a str,
        slot: u16,
        balanced: bool,
    },
    Disconnect {
        emitter: &'a str,
        signal: u16,
        receiver_loop: &'a str,
        receiver: &'a str,
        slot: u16,
    },
    Broadcast {
        emitter: &'a str,
        signal: u16,
        event_loop: &'a str,
        on: bool,
    },
    Detach {
        object: &'a str,
    },
    Subscribe {
        signal: &'a str,
        object: &'a str,
        slot: u16,
        on: bool,
    },
    Routes,
    Shutdown,
    /// The process the rest of the packet comes from.
    From {
        process: u16,
    },
}

fn io_error(error: impl std::fmt::Display) -> EncodeError {
    EncodeError(error.to_string())
}

/// Writes frames into a packet buffer.
pub(crate) struct Writer<'b> {
    buf: &'b mut Vec<u8>,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut Vec<u8>) -> Self {
        Writer { buf }
    }

    fn str(&mut self, value: &str) -> Result<(), EncodeError> {
        rmp::encode::write_str(self.buf, value).map_err(io_error)
    }

    fn u16(&mut self, value: u16) -> Result<(), EncodeError> {
        rmp::encode::write_uint(self.buf, u64::from(value))
            .map(|_| ())
            .map_err(io_error)
    }

    fn bool(&mut self, value: bool) -> Result<(), EncodeError> {
        rmp::encode::write_bool(self.buf, value).map_err(io_error)
    }

    fn header(&mut self, fields: u32, tag: u8) -> Result<(), EncodeError> {
        rmp::encode::write_array_len(self.buf, fields + 1).map_err(io_error)?;
        rmp::encode::write_uint(self.buf, u64::from(tag))
            .map(|_| ())
            .map_err(io_error)
    }

    /// Writes `count` payloads, each produced by `encode(index, buf)` straight
    /// into the packet (no intermediate buffer), as `bin32`.
    fn payloads(
        &mut self,
        count: usize,
        mut encode: impl FnMut(usize, &mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let count = u32::try_from(count).map_err(|_| io_error("too many payloads"))?;
        rmp::encode::write_array_len(self.buf, count).map_err(io_error)?;
        for index in 0..count as usize {
            self.buf.push(0xc6);
            let length_at = self.buf.len();
            self.buf.extend_from_slice(&[0; 4]);
            encode(index, self.buf)?;
            let length = self.buf.len() - length_at - 4;
            let length = u32::try_from(length).map_err(|_| io_error("a payload over 4 GiB"))?;
            self.buf[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
        }
        Ok(())
    }

    /// Writes a whole frame, or nothing if it fails half-way.
    fn frame(
        &mut self,
        write: impl FnOnce(&mut Self) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let start = self.buf.len();
        let result = write(self);
        if result.is_err() {
            self.buf.truncate(start);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn signal(
        &mut self,
        emitter_loop: Option<&str>,
        emitter: Option<&str>,
        signal: &str,
        receivers: &[(&str, u16)],
        broadcast: bool,
        count: usize,
        encode: impl FnMut(usize, &mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.frame(|w| {
            w.header(6, SIGNAL)?;
            for name in [emitter_loop, emitter] {
                match name {
                    Some(name) => w.str(name)?,
                    None => rmp::encode::write_nil(w.buf).map_err(io_error)?,
                }
            }
            w.str(signal)?;
            let len = u32::try_from(receivers.len()).map_err(|_| io_error("too many receivers"))?;
            rmp::encode::write_array_len(w.buf, len).map_err(io_error)?;
            for (object, slot) in receivers {
                rmp::encode::write_array_len(w.buf, 2).map_err(io_error)?;
                w.str(object)?;
                w.u16(*slot)?;
            }
            w.bool(broadcast)?;
            w.payloads(count, encode)
        })
    }

    pub(crate) fn emit_request(
        &mut self,
        emitter: &str,
        signal: u16,
        count: usize,
        encode: impl FnMut(usize, &mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.frame(|w| {
            w.header(3, EMIT_REQUEST)?;
            w.str(emitter)?;
            w.u16(signal)?;
            w.payloads(count, encode)
        })
    }

    pub(crate) fn control(&mut self, frame: &Frame<'_>) -> Result<(), EncodeError> {
        self.frame(|w| match *frame {
            Frame::Connect {
                emitter,
                signal,
                receiver_loop,
                receiver,
                slot,
                balanced,
            } => {
                w.header(6, CONNECT)?;
                w.str(emitter)?;
                w.u16(signal)?;
                w.str(receiver_loop)?;
                w.str(receiver)?;
                w.u16(slot)?;
                w.bool(balanced)
            }
            Frame::Disconnect {
                emitter,
                signal,
                receiver_loop,
                receiver,
                slot,
            } => {
                w.header(5, DISCONNECT)?;
                w.str(emitter)?;
                w.u16(signal)?;
                w.str(receiver_loop)?;
                w.str(receiver)?;
                w.u16(slot)
            }
            Frame::Broadcast {
                emitter,
                signal,
                event_loop,
                on,
            } => {
                w.header(4, BROADCAST)?;
                w.str(emitter)?;
                w.u16(signal)?;
                w.str(event_loop)?;
                w.bool(on)
            }
            Frame::Detach { object } => {
                w.header(1, DETACH)?;
                w.str(object)
            }
            Frame::Subscribe {
                signal,
                object,
                slot,
                on,
            } => {
                w.header(4, SUBSCRIBE)?;
                w.str(signal)?;
                w.str(object)?;
                w.u16(slot)?;
                w.bool(on)
            }
            Frame::Routes => w.header(0, ROUTES),
            Frame::Shutdown => w.header(0, SHUTDOWN),
            Frame::From { process } => {
                w.header(1, FROM)?;
                w.u16(process)
            }
            Frame::Signal { .. } | Frame::EmitRequest { .. } => Err(io_error(
                "signals are written with `signal` or `emit_request`",
            )),
        })
    }
}

/// Encodes one control frame as a packet of its own.
pub(crate) fn control_packet(frame: &Frame<'_>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    Writer::new(&mut buf)
        .control(frame)
        .expect("control frames hold only names and numbers");
    buf
}

/// Reads the frames of a packet, in order.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    failed: bool,
}

fn decode_error(what: impl std::fmt::Display) -> DecodeError {
    DecodeError(what.to_string())
}

impl<'a> Reader<'a> {
    pub(crate) fn new(packet: &'a [u8]) -> Self {
        Reader {
            rest: packet,
            failed: false,
        }
    }

    fn array_len(&mut self) -> Result<usize, DecodeError> {
        let len = rmp::decode::read_array_len(&mut self.rest)
            .map_err(|error| decode_error(format!("expected an array: {error}")))?;
        // Every element takes at least one byte: a longer array is a lie.
        if len as usize > self.rest.len() {
            return Err(decode_error(format!(
                "an array of {len} elements in {} bytes",
                self.rest.len()
            )));
        }
        Ok(len as usize)
    }

    fn uint(&mut self) -> Result<u64, DecodeError> {
        rmp::decode::read_int(&mut self.rest)
            .map_err(|error| decode_error(format!("expected an integer: {error}")))
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let value = self.uint()?;
        u16::try_from(value).map_err(|_| decode_error(format!("index {value} out of range")))
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        rmp::decode::read_bool(&mut self.rest)
            .map_err(|error| decode_error(format!("expected a boolean: {error}")))
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let (value, rest) = rmp::decode::read_str_from_slice(self.rest)
            .map_err(|error| decode_error(format!("expected a string: {error}")))?;
        self.rest = rest;
        Ok(value)
    }

    fn optional_str(&mut self) -> Result<Option<&'a str>, DecodeError> {
        if self.rest.first() == Some(&0xc0) {
            self.rest = &self.rest[1..];
            return Ok(None);
        }
        self.str().map(Some)
    }

    fn bin(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = rmp::decode::read_bin_len(&mut self.rest)
            .map_err(|error| decode_error(format!("expected a payload: {error}")))?
            as usize;
        if len > self.rest.len() {
            return Err(decode_error(format!(
                "a payload of {len} bytes is cut short at {}",
                self.rest.len()
            )));
        }
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(value)
    }

    fn payloads(&mut self) -> Result<Vec<&'a [u8]>, DecodeError> {
        let count = self.array_len()?;
        (0..count).map(|_| self.bin()).collect()
    }

    fn expect_fields(fields: usize, expected: usize, tag: u8) -> Result<(), DecodeError> {
        if fields != expected + 1 {
            return Err(decode_error(format!(
                "frame kind {tag} has {} fields, expected {expected}",
                fields.saturating_sub(1)
            )));
        }
        Ok(())
    }

    fn frame(&mut self) -> Result<Frame<'a>, DecodeError> {
        let fields = self.array_len()?;
        if fields == 0 {
            return Err(decode_error("an empty frame"));
        }
        let tag = u8::try_from(self.uint()?).map_err(|_| decode_error("unknown frame kind"))?;
        let expected = match tag {
            SIGNAL => 6,
            EMIT_REQUEST => 3,
            CONNECT => 6,
            DISCONNECT => 5,
            BROADCAST | SUBSCRIBE => 4,
            DETACH | FROM => 1,
            ROUTES | SHUTDOWN => 0,
            other => return Err(decode_error(format!("unknown frame kind {other}"))),
        };
        Self::expect_fields(fields, expected, tag)?;
        Ok(match tag {
            SIGNAL => {
                let emitter_loop = self.optional_str()?;
                let emitter = self.optional_str()?;
                let signal = self.str()?;
                let count = self.array_len()?;
                let mut receivers = Vec::with_capacity(count);
                for _ in 0..count {
                    if self.array_len()? != 2 {
                        return Err(decode_error("a receiver is `[object, slot]`"));
                    }
                    receivers.push((self.str()?, self.u16()?));
                }
                Frame::Signal {
                    emitter_loop,
                    emitter,
                    signal,
                    receivers,
                    broadcast: self.bool()?,
                    payloads: self.payloads()?,
                }
            }
            EMIT_REQUEST => Frame::EmitRequest {
                emitter: self.str()?,
                signal: self.u16()?,
                payloads: self.payloads()?,
            },
            CONNECT => Frame::Connect {
                emitter: self.str()?,
                signal: self.u16()?,
                receiver_loop: self.str()?,
                receiver: self.str()?,
                slot: self.u16()?,
                balanced: self.bool()?,
            },
            DISCONNECT => Frame::Disconnect {
                emitter: self.str()?,
                signal: self.u16()?,
                receiver_loop: self.str()?,
                receiver: self.str()?,
                slot: self.u16()?,
            },
            BROADCAST => Frame::Broadcast {
                emitter: self.str()?,
                signal: self.u16()?,
                event_loop: self.str()?,
                on: self.bool()?,
            },
            DETACH => Frame::Detach {
                object: self.str()?,
            },
            SUBSCRIBE => Frame::Subscribe {
                signal: self.str()?,
                object: self.str()?,
                slot: self.u16()?,
                on: self.bool()?,
            },
            ROUTES => Frame::Routes,
            FROM => Frame::From {
                process: self.u16()?,
            },
            _ => Frame::Shutdown,
        })
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Frame<'a>, DecodeError>;

    /// The next frame. After an error the rest of the packet cannot be
    /// framed, so iteration ends.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let result = self.frame();
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

/// The process a packet comes from (its first frame), if it says.
pub(crate) fn sender_of(packet: &[u8]) -> Option<u16> {
    match Reader::new(packet).next() {
        Some(Ok(Frame::From { process })) => Some(process),
        _ => None,
    }
}

/// The number of signals a packet carries (for counting the drops of a
/// packet that cannot be delivered).
pub(crate) fn count_signals(packet: &[u8]) -> u64 {
    Reader::new(packet)
        .map_while(Result::ok)
        .map(|frame| match frame {
            Frame::Signal { payloads, .. } | Frame::EmitRequest { payloads, .. } => {
                payloads.len() as u64
            }
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_u64(value: u64) -> impl FnMut(usize, &mut Vec<u8>) -> Result<(), EncodeError> {
        move |index, buf| {
            rmp::encode::write_array_len(buf, 1).map_err(io_error)?;
            rmp::encode::write_uint(buf, value + index as u64).map_err(io_error)?;
            Ok(())
        }
    }

    fn sample_packet() -> Vec<u8> {
        let mut buf = Vec::new();
        let mut writer = Writer::new(&mut buf);
        writer
            .signal(
                Some("main"),
                Some("a"),
                "ping",
                &[("b", 0), ("c", 3)],
                true,
                2,
                encode_u64(7),
            )
            .unwrap();
        writer
            .signal(None, None, "<invoke>", &[("b", 1)], false, 1, encode_u64(1))
            .unwrap();
        writer.emit_request("b", 2, 1, encode_u64(9)).unwrap();
        for frame in [
            Frame::Connect {
                emitter: "a",
                signal: 1,
                receiver_loop: "worker",
                receiver: "b",
                slot: 2,
                balanced: true,
            },
            Frame::Disconnect {
                emitter: "a",
                signal: 1,
                receiver_loop: "worker",
                receiver: "b",
                slot: 2,
            },
            Frame::Broadcast {
                emitter: "a",
                signal: 0,
                event_loop: "worker",
                on: false,
            },
            Frame::Detach { object: "b" },
            Frame::Subscribe {
                signal: "ping",
                object: "b",
                slot: 4,
                on: true,
            },
            Frame::Routes,
            Frame::Shutdown,
            Frame::From { process: 3 },
        ] {
            writer.control(&frame).unwrap();
        }
        buf
    }

    #[test]
    fn every_frame_round_trips() {
        let packet = sample_packet();
        let frames: Vec<Frame<'_>> = Reader::new(&packet).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 11);
        assert_eq!(frames[10], Frame::From { process: 3 });
        let Frame::Signal {
            emitter_loop,
            emitter,
            signal,
            receivers,
            broadcast,
            payloads,
        } = &frames[0]
        else {
            panic!("{:?}", frames[0]);
        };
        assert_eq!((*emitter_loop, *emitter), (Some("main"), Some("a")));
        assert_eq!(*signal, "ping");
        assert_eq!(*receivers, [("b", 0), ("c", 3)]);
        assert!(*broadcast);
        assert_eq!(payloads.len(), 2);
        assert_eq!(payloads[1], [0x91, 8]);
        assert!(matches!(frames[1], Frame::Signal { emitter: None, .. }));
        assert!(matches!(
            frames[2],
            Frame::EmitRequest {
                emitter: "b",
                signal: 2,
                ..
            }
        ));
        assert_eq!(
            frames[7],
            Frame::Subscribe {
                signal: "ping",
                object: "b",
                slot: 4,
                on: true
            }
        );
        assert_eq!(frames[9], Frame::Shutdown);
        assert_eq!(count_signals(&packet), 4);
    }

    #[test]
    fn a_failed_payload_leaves_no_half_frame() {
        let mut buf = Vec::new();
        let mut writer = Writer::new(&mut buf);
        writer
            .signal(None, None, "s", &[], false, 1, encode_u64(1))
            .unwrap();
        let before = buf.len();
        let mut writer = Writer::new(&mut buf);
        let failed = writer.signal(None, None, "s", &[("x", 0)], false, 3, |index, buf| {
            if index == 2 {
                return Err(EncodeError("no".into()));
            }
            buf.push(0x90);
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(buf.len(), before);
        assert_eq!(Reader::new(&buf).count(), 1);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let packet = sample_packet();
        for cut in 0..packet.len() {
            let frames: Vec<_> = Reader::new(&packet[..cut]).collect();
            if let Some(last) = frames.last() {
                // A cut inside a frame shows as an error; a cut on a frame
                // boundary leaves whole frames only.
                if last.is_err() {
                    assert!(frames[..frames.len() - 1].iter().all(Result::is_ok));
                }
            }
        }
    }

    #[test]
    fn lies_about_lengths_are_errors() {
        // An array that claims more elements than bytes left.
        let error = Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0])
            .next()
            .unwrap()
            .unwrap_err();
        assert!(error.0.contains("elements in"), "{error}");
        // A payload that claims more bytes than are left.
        let mut buf = Vec::new();
        Writer::new(&mut buf)
            .signal(None, None, "s", &[], false, 1, encode_u64(1))
            .unwrap();
        let at = buf.len() - 6;
        buf[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
        let error = Reader::new(&buf).next().unwrap().unwrap_err();
        assert!(error.0.contains("cut short"), "{error}");
        // An unknown kind, and a known kind with the wrong number of fields.
        assert!(Reader::new(&[0x91, 42]).next().unwrap().is_err());
        assert!(Reader::new(&[0x92, 5, 1]).next().unwrap().is_err());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Reads every frame; checks that reading ends, and that errors say
        /// what was wrong.
        fn read_all(packet: &[u8]) {
            let mut frames = 0;
            for frame in Reader::new(packet) {
                frames += 1;
                assert!(frames <= packet.len() + 1, "no progress");
                if let Err(error) = frame {
                    assert!(!error.0.is_empty());
                }
            }
            let _ = count_signals(packet);
            let _ = sender_of(packet);
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            #[test]
            fn arbitrary_bytes_decode_to_frames_or_errors(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
                read_all(&bytes);
            }

            #[test]
            fn mutated_packets_decode_to_frames_or_errors(
                flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
                cut in any::<prop::sample::Index>(),
                extra in prop::collection::vec(any::<u8>(), 0..16),
            ) {
                let mut packet = sample_packet();
                for (at, byte) in flips {
                    let at = at.index(packet.len());
                    packet[at] = byte;
                }
                packet.truncate(cut.index(packet.len() + 1));
                packet.extend_from_slice(&extra);
                read_all(&packet);
            }
        }
    }
}
