//! Reading the frames of a packet: borrowed from it, every length checked
//! against what is left, never a panic.

use std::sync::Arc;

use rmp::Marker;

use super::*;
use crate::error::DecodeError;
use crate::protocol::{Change, Delivery, ReceiverRef};

/// Reads the frames of a packet, in order.
pub(crate) struct Reader<'a> {
    pub(super) rest: &'a [u8],
    pub(super) failed: bool,
    /// The head (the bytes before the payloads) of the last frame, if it
    /// was a signal's (not a call's): see `heads`.
    head: Option<&'a [u8]>,
}

/// The fields of a signal frame before its payloads.
pub(super) struct SignalHead<'a> {
    pub(super) emitter_loop: Option<&'a str>,
    pub(super) emitter: Option<&'a str>,
    pub(super) emitter_instance: u64,
    pub(super) signal: &'a str,
    pub(super) receivers: Receivers<'a>,
    pub(super) broadcast: bool,
    pub(super) latest: bool,
    pub(super) reply: Option<(u64, u64)>,
}

pub(super) fn decode_error(what: impl std::fmt::Display) -> DecodeError {
    DecodeError(what.to_string())
}

impl<'a> Reader<'a> {
    pub(crate) fn new(packet: &'a [u8]) -> Self {
        // A record's lease mark is not a frame.
        let rest = match packet.split_first() {
            Some((&(LEASES | NO_LEASES), rest)) => rest,
            _ => packet,
        };
        Reader {
            rest,
            failed: false,
            head: None,
        }
    }

    /// The head of the last frame read, if it was a signal's (see
    /// `heads`).
    pub(crate) fn take_head(&mut self) -> Option<&'a [u8]> {
        self.head.take()
    }

    pub(super) fn array_len(&mut self) -> Result<usize, DecodeError> {
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

    /// A string that outlives the packet (commands are kept).
    fn name(&mut self) -> Result<Arc<str>, DecodeError> {
        self.str().map(Arc::from)
    }

    fn optional_str(&mut self) -> Result<Option<&'a str>, DecodeError> {
        if self.rest.first() == Some(&Marker::Null.to_u8()) {
            self.rest = &self.rest[1..];
            return Ok(None);
        }
        self.str().map(Some)
    }

    pub(super) fn bin(&mut self) -> Result<&'a [u8], DecodeError> {
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

    fn payloads(&mut self) -> Result<Payloads<'a>, DecodeError> {
        let count = self.array_len()?;
        (0..count).map(|_| self.bin()).collect()
    }

    /// A receiver's object, slot and instance.
    fn receiver(&mut self) -> Result<ReceiverRef, DecodeError> {
        Ok(ReceiverRef {
            object: self.name()?,
            slot: self.u16()?,
            instance: self.uint()?,
            lease: None,
        })
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

    /// The fields of a signal (or call) frame after its tag, up to its
    /// payloads.
    pub(super) fn signal_fields(&mut self, tag: u8) -> Result<SignalHead<'a>, DecodeError> {
        let emitter_loop = self.optional_str()?;
        let emitter = self.optional_str()?;
        let emitter_instance = self.uint()?;
        let signal = self.str()?;
        let count = self.array_len()?;
        let mut receivers = Receivers::with_capacity(count);
        for _ in 0..count {
            if self.array_len()? != 3 {
                return Err(decode_error("a receiver is `[object, slot, instance]`"));
            }
            receivers.push((self.str()?, self.u16()?, self.uint()?));
        }
        let flags = self.u16()?;
        if flags > 0b11 {
            return Err(decode_error(format!("unknown signal flags {flags:#b}")));
        }
        let reply = if tag == REQUEST {
            Some((self.uint()?, self.uint()?))
        } else {
            None
        };
        Ok(SignalHead {
            emitter_loop,
            emitter,
            emitter_instance,
            signal,
            receivers,
            broadcast: flags & 1 != 0,
            latest: flags & 0b10 != 0,
            reply,
        })
    }

    /// The frame tag and field count of the next frame.
    pub(super) fn frame_tag(&mut self) -> Result<(usize, u8), DecodeError> {
        let fields = self.array_len()?;
        if fields == 0 {
            return Err(decode_error("an empty frame"));
        }
        let tag = u8::try_from(self.uint()?).map_err(|_| decode_error("unknown frame kind"))?;
        Ok((fields, tag))
    }

    fn frame(&mut self) -> Result<Frame<'a>, DecodeError> {
        let start = self.rest;
        self.head = None;
        let (fields, tag) = self.frame_tag()?;
        let expected = match tag {
            REQUEST => 9,
            SIGNAL | CONNECT => 7,
            DISCONNECT | FIRED => 6,
            SUBSCRIBE | PUBLISH => 5,
            EMIT_REQUEST | BROADCAST => 4,
            DETACH => 2,
            KEEP => 4,
            BLOCK | EXPECT | DISCONNECT_ALL => 3,
            ARRIVE => 2,
            other => return Err(decode_error(format!("unknown frame kind {other}"))),
        };
        Self::expect_fields(fields, expected, tag)?;
        Ok(match tag {
            SIGNAL | REQUEST => {
                let head = self.signal_fields(tag)?;
                if tag == SIGNAL {
                    let len = start.len() - self.rest.len();
                    self.head = start.get(..len);
                }
                Frame::Signal {
                    emitter_loop: head.emitter_loop,
                    emitter: head.emitter,
                    emitter_instance: head.emitter_instance,
                    signal: head.signal,
                    receivers: head.receivers,
                    broadcast: head.broadcast,
                    latest: head.latest,
                    reply: head.reply,
                    payloads: self.payloads()?,
                }
            }
            EMIT_REQUEST => Frame::EmitRequest {
                emitter: self.str()?,
                instance: self.uint()?,
                signal: self.u16()?,
                payloads: self.payloads()?,
            },
            CONNECT | DISCONNECT | FIRED | BROADCAST | PUBLISH | DISCONNECT_ALL => {
                let emitter = self.name()?;
                let signal = self.u16()?;
                let event_loop = self.name()?;
                let change = match tag {
                    BROADCAST => Change::Broadcast(self.bool()?),
                    PUBLISH => Change::Publish(self.name()?, self.bool()?),
                    DISCONNECT_ALL => Change::DisconnectAll,
                    _ => {
                        let receiver = self.receiver()?;
                        if tag == CONNECT {
                            let delivery = match self.u16()? {
                                0 => Delivery::FanOut,
                                1 => Delivery::Balanced,
                                2 => Delivery::KeepLatest,
                                3 => Delivery::SingleShot,
                                other => {
                                    return Err(decode_error(format!("unknown delivery {other}")));
                                }
                            };
                            Change::Connect(receiver, delivery)
                        } else if tag == FIRED {
                            Change::Fired(receiver)
                        } else {
                            Change::Disconnect(receiver)
                        }
                    }
                };
                Frame::Command(Command::Connection {
                    emitter,
                    signal,
                    event_loop,
                    change,
                })
            }
            DETACH => Frame::Command(Command::Detach {
                object: self.name()?,
                instance: self.uint()?,
            }),
            EXPECT => Frame::Command(Command::Expect {
                object: self.name()?,
                instance: self.uint()?,
                on: self.bool()?,
            }),
            ARRIVE => Frame::Command(Command::Arrive {
                transfer: self.bin()?.to_vec(),
                connections: self.bin()?.to_vec(),
            }),
            BLOCK => Frame::Command(Command::Block {
                object: self.name()?,
                instance: self.uint()?,
                on: self.bool()?,
            }),
            KEEP => Frame::Command(Command::Keep {
                object: self.name()?,
                instance: self.uint()?,
                route: crate::protocol::ReplyRoute {
                    process: self.uint()?,
                    call: self.uint()?,
                },
            }),
            SUBSCRIBE => Frame::Command(Command::Subscribe {
                signal: self.name()?,
                receiver: self.receiver()?,
                on: self.bool()?,
            }),
            other => return Err(decode_error(format!("unknown frame kind {other}"))),
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
