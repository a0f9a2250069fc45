//! The MessagePack envelope between processes.
//!
//! One transport message (a *packet*) carries one or more *frames*, written
//! back to back. A frame is a MessagePack array whose first element is a tag:
//!
//! | tag | frame | fields after the tag |
//! |---|---|---|
//! | 0 | signal | emitter loop (str or nil), emitter id (str or nil), emitter instance, signal name, receivers `[[object, slot, instance], ..]`, broadcast (bool), payloads `[bin, ..]` |
//! | 1 | emit request | emitter id, emitter instance, signal index, payloads `[bin, ..]` |
//! | 2 | connect | emitter id, signal index, receiver loop, receiver id, slot index, receiver instance, balanced (bool) |
//! | 3 | disconnect | emitter id, signal index, receiver loop, receiver id, slot index, receiver instance |
//! | 4 | broadcast | emitter id, signal index, loop, on (bool) |
//! | 5 | detach | object id, object instance |
//! | 6 | subscribe | signal name, object id, slot index, object instance, on (bool) |
//! | 12 | disconnect all | emitter id, signal index (`u16::MAX`: every signal), loop |
//! | 13 | expect | object id, object instance, on (bool) |
//! | 14 | arrive | object transfer (bin), its connections as command frames (bin) |
//!
//! A record of a ring may start with a lease mark: `nil` (nothing leased)
//! or `true` (the payloads name shared buffers leased to the receiver).
//!
//! A record too large for its ring travels in a segment of its own (see
//! `transport::link`); the ring holds, in its place and in its order, a
//! *stub*: the byte `0xc1` (never used by MessagePack, so that no record
//! starts with it), the segment's number (8 bytes, little-endian) and the
//! record's length (8 bytes).
//!
//! An *instance* tells apart the objects that had the same id on a loop
//! one after the other (0: any).
//!
//! Tags 2 to 6 are the [`Command`]s; this module is the only place that
//! converts them to and from bytes.
//!
//! A signal frame's *head* (its fields before the payloads) is the same
//! for every emission of one connection to one loop: the sender encodes it
//! once, when the connection is made ([`signal_prefix`]), and the loop
//! decodes it once per ring and finds it again by its bytes ([`Heads`]).
//!
//! Each payload is the argument tuple as a MessagePack array, wrapped in
//! `bin` so that a frame can be skipped or reported without knowing the
//! slot's types. Decoding borrows from the packet and never panics: every
//! length is checked against what is left.

mod heads;
mod reader;
mod writer;

pub(crate) use heads::Heads;

pub(crate) use reader::Reader;
pub(crate) use writer::{Writer, signal_prefix};

use crate::codec::Encoder;
use crate::command::Command;
use crate::error::EncodeError;

const SIGNAL: u8 = 0;
const EMIT_REQUEST: u8 = 1;
const CONNECT: u8 = 2;
const DISCONNECT: u8 = 3;
const BROADCAST: u8 = 4;
const DETACH: u8 = 5;
const SUBSCRIBE: u8 = 6;
const PUBLISH: u8 = 7;
const REQUEST: u8 = 8;
const KEEP: u8 = 9;
const FIRED: u8 = 10;
const BLOCK: u8 = 11;
const DISCONNECT_ALL: u8 = 12;
const EXPECT: u8 = 13;
const ARRIVE: u8 = 14;

/// The receivers a signal frame names (object, slot, instance): on the
/// stack for the usual few.
pub(crate) type Receivers<'a> = smallvec::SmallVec<[(&'a str, u16, u64); 4]>;

/// The payloads of a frame: on the stack for the usual few.
pub(crate) type Payloads<'a> = smallvec::SmallVec<[&'a [u8]; 4]>;

/// A frame, borrowed from its packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    Signal {
        /// The emitter's loop; `None` for an emitter on no loop.
        emitter_loop: Option<&'a str>,
        /// The emitter's id; `None` for a direct invocation.
        emitter: Option<&'a str>,
        /// The emitter's instance (0 with no emitter).
        emitter_instance: u64,
        signal: &'a str,
        receivers: Receivers<'a>,
        /// Also for the loop's subscribers to `signal`.
        broadcast: bool,
        /// For a keep-latest connection: the receiving loop keeps the
        /// newest of what it finds waiting.
        latest: bool,
        /// For a call: the caller's process and the call's number there.
        reply: Option<(u64, u64)>,
        payloads: Payloads<'a>,
    },
    EmitRequest {
        emitter: &'a str,
        instance: u64,
        signal: u16,
        payloads: Payloads<'a>,
    },
    Command(Command),
}

/// The first byte of a record that leases shared buffers to its receiver
/// (MessagePack `true`), which gives them back once the record is read.
const LEASES: u8 = 0xc3;
/// The first byte of a record that leases nothing (MessagePack `nil`).
const NO_LEASES: u8 = 0xc0;

/// Writes the lease mark of a record (none yet), before its frames.
pub(crate) fn write_lease_mark(out: &mut Encoder<'_>) -> Result<(), EncodeError> {
    std::io::Write::write_all(out, &[NO_LEASES]).map_err(writer::io_error)
}

/// Marks the record whose mark is at `at` as leasing shared buffers.
pub(crate) fn set_lease_mark(out: &mut Encoder<'_>, at: usize) {
    out.patch(at, &[LEASES]);
}

/// True if a record leases shared buffers to its receiver.
pub(crate) fn has_leases(record: &[u8]) -> bool {
    record.first() == Some(&LEASES)
}

/// The first byte of a stub: a record that travels in a segment.
const SEGMENT_STUB: u8 = 0xc1;

/// The size of a stub.
pub(crate) const STUB_LEN: usize = 17;

/// The stub that stands in a ring for record `len` bytes long, in the
/// segment numbered `id`.
pub(crate) fn segment_stub(id: u64, len: u64) -> [u8; STUB_LEN] {
    let mut stub = [0; STUB_LEN];
    stub[0] = SEGMENT_STUB;
    stub[1..9].copy_from_slice(&id.to_le_bytes());
    stub[9..].copy_from_slice(&len.to_le_bytes());
    stub
}

/// The segment's number and the record's length, if `record` is a stub.
pub(crate) fn as_segment_stub(record: &[u8]) -> Option<(u64, u64)> {
    let stub: &[u8; STUB_LEN] = record.try_into().ok()?;
    if stub[0] != SEGMENT_STUB {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(stub[at..at + 8].try_into().unwrap_or_default());
    Some((word(1), word(9)))
}

/// Encodes one control frame as a packet of its own.
pub(crate) fn control_packet(frame: &Frame<'_>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    Writer::new(&mut Encoder::growing(&mut buf))
        .control(frame)
        .expect("control frames hold only names and numbers");
    buf
}

/// Encodes a command as a packet of its own.
pub(crate) fn command_packet(command: Command) -> Vec<u8> {
    control_packet(&Frame::Command(command))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EncodeError;
    use crate::protocol::{Change, Delivery, ReceiverRef};
    use crate::wire::writer::io_error;

    fn encode_u64(value: u64) -> impl FnMut(usize, &mut Encoder<'_>) -> Result<(), EncodeError> {
        move |index, buf| {
            rmp::encode::write_array_len(buf, 1).map_err(io_error)?;
            rmp::encode::write_uint(buf, value + index as u64).map_err(io_error)?;
            Ok(())
        }
    }

    fn receiver(object: &str, slot: u16) -> ReceiverRef {
        ReceiverRef {
            object: object.into(),
            slot,
            instance: 40 + u64::from(slot),
            lease: None,
        }
    }

    fn connection(change: Change) -> Command {
        Command::Connection {
            emitter: "a".into(),
            signal: 1,
            event_loop: "worker".into(),
            change,
        }
    }

    fn sample_packet() -> Vec<u8> {
        let mut buf = Vec::new();
        let mut encoder = Encoder::growing(&mut buf);
        let mut writer = Writer::new(&mut encoder);
        writer
            .signal(
                Some("main"),
                Some(("a", 17)),
                "ping",
                [receiver("b", 0), receiver("c", 3)].iter(),
                (true, false),
                None,
                2,
                encode_u64(7),
            )
            .unwrap();
        writer
            .signal(
                None,
                None,
                "<invoke>",
                [receiver("b", 1)].iter(),
                (false, true),
                Some((3, 77)),
                1,
                encode_u64(1),
            )
            .unwrap();
        writer.emit_request("b", 5, 2, 1, encode_u64(9)).unwrap();
        for frame in [
            Frame::Command(connection(Change::Connect(
                receiver("b", 2),
                Delivery::Balanced,
            ))),
            Frame::Command(connection(Change::Connect(
                receiver("b", 3),
                Delivery::KeepLatest,
            ))),
            Frame::Command(connection(Change::Disconnect(receiver("b", 2)))),
            Frame::Command(Command::Connection {
                emitter: "a".into(),
                signal: 0,
                event_loop: "worker".into(),
                change: Change::Broadcast(false),
            }),
            Frame::Command(Command::Connection {
                emitter: "a".into(),
                signal: 1,
                event_loop: "worker".into(),
                change: Change::Publish("app::Weights".into(), true),
            }),
            Frame::Command(Command::Detach {
                object: "b".into(),
                instance: 9,
            }),
            Frame::Command(Command::Subscribe {
                signal: "ping".into(),
                receiver: receiver("b", 4),
                on: true,
            }),
            Frame::Command(Command::Keep {
                object: "b".into(),
                instance: 9,
                route: crate::protocol::ReplyRoute {
                    process: 2,
                    call: 31,
                },
            }),
            Frame::Command(connection(Change::Connect(
                receiver("b", 5),
                Delivery::SingleShot,
            ))),
            Frame::Command(connection(Change::Fired(receiver("b", 5)))),
            Frame::Command(Command::Block {
                object: "b".into(),
                instance: 4,
                on: true,
            }),
            Frame::Command(Command::Connection {
                emitter: "a".into(),
                signal: u16::MAX,
                event_loop: "worker".into(),
                change: Change::DisconnectAll,
            }),
            Frame::Command(Command::Expect {
                object: "b".into(),
                instance: 7,
                on: false,
            }),
            Frame::Command(Command::Arrive {
                transfer: vec![1, 2, 3],
                connections: vec![],
            }),
        ] {
            writer.control(&frame).unwrap();
        }
        buf
    }

    #[test]
    fn stubs_read_back_and_no_record_is_taken_for_one() {
        let stub = segment_stub(7, 1 << 33);
        assert_eq!(as_segment_stub(&stub), Some((7, 1 << 33)));
        // A stub's length and first byte are both checked.
        assert_eq!(as_segment_stub(&stub[..16]), None);
        let mut signal = Vec::new();
        let mut out = Encoder::growing(&mut signal);
        write_lease_mark(&mut out).unwrap();
        assert_eq!(as_segment_stub(&signal), None);
        let mut padded = signal.clone();
        padded.resize(STUB_LEN, 0);
        assert_eq!(as_segment_stub(&padded), None);
        let command = command_packet(Command::Detach {
            object: "o".into(),
            instance: 0,
        });
        assert_ne!(command.first(), Some(&SEGMENT_STUB));
    }

    #[test]
    fn every_frame_round_trips() {
        let packet = sample_packet();
        let frames: Vec<Frame<'_>> = Reader::new(&packet).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 17);
        assert_eq!(
            frames[15],
            Frame::Command(Command::Expect {
                object: "b".into(),
                instance: 7,
                on: false,
            })
        );
        assert_eq!(
            frames[16],
            Frame::Command(Command::Arrive {
                transfer: vec![1, 2, 3],
                connections: vec![],
            })
        );
        assert_eq!(
            frames[14],
            Frame::Command(Command::Connection {
                emitter: "a".into(),
                signal: u16::MAX,
                event_loop: "worker".into(),
                change: Change::DisconnectAll,
            })
        );
        assert_eq!(
            frames[13],
            Frame::Command(Command::Block {
                object: "b".into(),
                instance: 4,
                on: true,
            })
        );
        assert_eq!(
            frames[11],
            Frame::Command(connection(Change::Connect(
                receiver("b", 5),
                Delivery::SingleShot
            )))
        );
        assert_eq!(
            frames[12],
            Frame::Command(connection(Change::Fired(receiver("b", 5))))
        );
        let Frame::Signal {
            emitter_loop,
            emitter,
            emitter_instance,
            signal,
            receivers,
            broadcast,
            latest,
            reply,
            payloads,
        } = &frames[0]
        else {
            panic!("{:?}", frames[0]);
        };
        assert_eq!(
            (*emitter_loop, *emitter, *emitter_instance),
            (Some("main"), Some("a"), 17)
        );
        assert_eq!(*signal, "ping");
        assert_eq!(receivers[..], [("b", 0, 40), ("c", 3, 43)]);
        assert!(*broadcast);
        assert!(!*latest);
        assert_eq!(*reply, None);
        assert_eq!(payloads.len(), 2);
        assert_eq!(payloads[1], [0x91, 8]);
        assert!(matches!(
            frames[1],
            Frame::Signal {
                emitter: None,
                broadcast: false,
                latest: true,
                reply: Some((3, 77)),
                ..
            }
        ));
        assert!(matches!(
            frames[2],
            Frame::EmitRequest {
                emitter: "b",
                instance: 5,
                signal: 2,
                ..
            }
        ));
        assert_eq!(
            frames[3],
            Frame::Command(connection(Change::Connect(
                receiver("b", 2),
                Delivery::Balanced
            )))
        );
        assert_eq!(
            frames[4],
            Frame::Command(connection(Change::Connect(
                receiver("b", 3),
                Delivery::KeepLatest
            )))
        );
        assert_eq!(
            frames[7],
            Frame::Command(Command::Connection {
                emitter: "a".into(),
                signal: 1,
                event_loop: "worker".into(),
                change: Change::Publish("app::Weights".into(), true),
            })
        );
        assert_eq!(
            frames[9],
            Frame::Command(Command::Subscribe {
                signal: "ping".into(),
                receiver: receiver("b", 4),
                on: true,
            })
        );
        assert!(matches!(frames[8], Frame::Command(Command::Detach { .. })));
        assert_eq!(
            frames[10],
            Frame::Command(Command::Keep {
                object: "b".into(),
                instance: 9,
                route: crate::protocol::ReplyRoute {
                    process: 2,
                    call: 31
                },
            })
        );
    }

    #[test]
    fn a_prefixed_signal_is_the_same_frame_as_a_whole_one() {
        let receivers = [receiver("b", 0), receiver("c", 3)];
        for (emitter_loop, emitter, flags) in [
            (Some("main"), Some(("a", 17)), (true, false)),
            (None, Some(("a", u64::MAX)), (false, true)),
            (None, None, (false, false)),
        ] {
            let mut whole = Vec::new();
            Writer::new(&mut Encoder::growing(&mut whole))
                .signal(
                    emitter_loop,
                    emitter,
                    "ping",
                    receivers.iter(),
                    flags,
                    None,
                    3,
                    encode_u64(7),
                )
                .unwrap();
            let prefix =
                signal_prefix(emitter_loop, emitter, "ping", receivers.iter(), flags).unwrap();
            let mut prefixed = Vec::new();
            Writer::new(&mut Encoder::growing(&mut prefixed))
                .prefixed_signal(&prefix, 3, encode_u64(7))
                .unwrap();
            assert_eq!(prefixed, whole);
            let frames: Vec<_> = Reader::new(&prefixed).collect::<Result<_, _>>().unwrap();
            let [
                Frame::Signal {
                    signal,
                    receivers: read,
                    payloads,
                    ..
                },
            ] = &frames[..]
            else {
                panic!("one signal frame: {frames:?}");
            };
            assert_eq!((*signal, read.len(), payloads.len()), ("ping", 2, 3));
        }
        // A payload that fails leaves nothing of the frame, prefix included.
        let prefix = signal_prefix(None, None, "ping", [].iter(), (false, false)).unwrap();
        let mut buf = vec![1, 2, 3];
        let failed =
            Writer::new(&mut Encoder::growing(&mut buf))
                .prefixed_signal(&prefix, 1, |_, _| Err(io_error("no")));
        assert!(failed.is_err());
        assert_eq!(buf, [1, 2, 3]);
    }

    #[test]
    fn a_failed_payload_leaves_no_half_frame() {
        let mut buf = Vec::new();
        Writer::new(&mut Encoder::growing(&mut buf))
            .signal(
                None,
                None,
                "s",
                [].iter(),
                (false, false),
                None,
                1,
                encode_u64(1),
            )
            .unwrap();
        let before = buf.len();
        let mut encoder = Encoder::growing(&mut buf);
        let failed = Writer::new(&mut encoder).signal(
            None,
            None,
            "s",
            [receiver("x", 0)].iter(),
            (false, false),
            None,
            3,
            |index, buf| {
                if index == 2 {
                    return Err(EncodeError("no".into()));
                }
                rmp::encode::write_array_len(buf, 0)
                    .map(|_| ())
                    .map_err(io_error)
            },
        );
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
        Writer::new(&mut Encoder::growing(&mut buf))
            .signal(
                None,
                None,
                "s",
                [].iter(),
                (false, false),
                None,
                1,
                encode_u64(1),
            )
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
