//! Writing frames into a packet.

use std::io::Write;

use rmp::Marker;

use super::*;
use crate::codec::Encoder;
use crate::error::EncodeError;
use crate::protocol::{Change, Delivery, ReceiverRef};

pub(super) fn io_error(error: impl std::fmt::Display) -> EncodeError {
    EncodeError(error.to_string())
}

/// Writes frames into a packet.
pub(crate) struct Writer<'b, 'e> {
    buf: &'b mut Encoder<'e>,
}

impl<'b, 'e> Writer<'b, 'e> {
    pub(crate) fn new(buf: &'b mut Encoder<'e>) -> Self {
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

    fn bin(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = u32::try_from(bytes.len()).map_err(|_| io_error("a value over 4 GiB"))?;
        rmp::encode::write_bin_len(self.buf, len).map_err(io_error)?;
        self.buf.write_all(bytes).map_err(io_error)
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
        mut encode: impl FnMut(usize, &mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let count = u32::try_from(count).map_err(|_| io_error("too many payloads"))?;
        rmp::encode::write_array_len(self.buf, count).map_err(io_error)?;
        for index in 0..count as usize {
            self.buf
                .write_all(&[Marker::Bin32.to_u8(), 0, 0, 0, 0])
                .map_err(io_error)?;
            let length_at = self.buf.len() - 4;
            encode(index, self.buf)?;
            let length = self.buf.len() - length_at - 4;
            let length = u32::try_from(length).map_err(|_| io_error("a payload over 4 GiB"))?;
            self.buf.patch(length_at, &length.to_be_bytes());
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

    fn u64(&mut self, value: u64) -> Result<(), EncodeError> {
        rmp::encode::write_uint(self.buf, value)
            .map(|_| ())
            .map_err(io_error)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn signal<'r>(
        &mut self,
        emitter_loop: Option<&str>,
        emitter: Option<(&str, u64)>,
        signal: &str,
        receivers: impl ExactSizeIterator<Item = &'r ReceiverRef>,
        flags: (bool, bool),
        reply: Option<(u64, u64)>,
        count: usize,
        encode: impl FnMut(usize, &mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.frame(|w| {
            w.signal_head(
                emitter_loop,
                emitter,
                signal,
                receivers,
                flags,
                reply.is_some(),
            )?;
            if let Some((process, call)) = reply {
                w.u64(process)?;
                w.u64(call)?;
            }
            w.payloads(count, encode)
        })
    }

    /// Writes a signal frame (not a call's) whose fields before the
    /// payloads were encoded once by [`signal_prefix`]: the same bytes as
    /// [`signal`](Self::signal) with those fields.
    pub(crate) fn prefixed_signal(
        &mut self,
        prefix: &[u8],
        count: usize,
        encode: impl FnMut(usize, &mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.frame(|w| {
            w.buf.write_all(prefix).map_err(io_error)?;
            w.payloads(count, encode)
        })
    }

    /// A signal frame's fields up to its payloads (and a call's reply
    /// route, which follows them).
    fn signal_head<'r>(
        &mut self,
        emitter_loop: Option<&str>,
        emitter: Option<(&str, u64)>,
        signal: &str,
        receivers: impl ExactSizeIterator<Item = &'r ReceiverRef>,
        (broadcast, latest): (bool, bool),
        request: bool,
    ) -> Result<(), EncodeError> {
        match request {
            true => self.header(9, REQUEST)?,
            false => self.header(7, SIGNAL)?,
        }
        match emitter_loop {
            Some(name) => self.str(name)?,
            None => self.nil()?,
        }
        match emitter {
            Some((id, instance)) => {
                self.str(id)?;
                self.u64(instance)?;
            }
            None => {
                self.nil()?;
                self.u64(0)?;
            }
        }
        self.str(signal)?;
        let len = u32::try_from(receivers.len()).map_err(|_| io_error("too many receivers"))?;
        rmp::encode::write_array_len(self.buf, len).map_err(io_error)?;
        for receiver in receivers {
            rmp::encode::write_array_len(self.buf, 3).map_err(io_error)?;
            self.receiver(receiver)?;
        }
        self.u16(u16::from(broadcast) | (u16::from(latest) << 1))
    }

    fn nil(&mut self) -> Result<(), EncodeError> {
        rmp::encode::write_nil(self.buf).map_err(io_error)
    }

    /// A receiver's object, slot and instance.
    fn receiver(&mut self, receiver: &ReceiverRef) -> Result<(), EncodeError> {
        self.str(&receiver.object)?;
        self.u16(receiver.slot)?;
        self.u64(receiver.instance)
    }

    pub(crate) fn emit_request(
        &mut self,
        emitter: &str,
        instance: u64,
        signal: u16,
        count: usize,
        encode: impl FnMut(usize, &mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.frame(|w| {
            w.header(4, EMIT_REQUEST)?;
            w.str(emitter)?;
            w.u64(instance)?;
            w.u16(signal)?;
            w.payloads(count, encode)
        })
    }

    pub(crate) fn control(&mut self, frame: &Frame<'_>) -> Result<(), EncodeError> {
        self.frame(|w| match frame {
            Frame::Command(command) => w.command(command),
            Frame::Signal { .. } | Frame::EmitRequest { .. } => Err(io_error(
                "signals are written with `signal` or `emit_request`",
            )),
        })
    }

    fn command(&mut self, command: &Command) -> Result<(), EncodeError> {
        match command {
            Command::Connection {
                emitter,
                signal,
                event_loop,
                change,
            } => {
                let (tag, fields) = match change {
                    Change::Connect(..) => (CONNECT, 7),
                    Change::Disconnect(_) => (DISCONNECT, 6),
                    Change::Broadcast(_) => (BROADCAST, 4),
                    Change::Fired(_) => (FIRED, 6),
                    Change::Publish(..) => (PUBLISH, 5),
                    Change::DisconnectAll => (DISCONNECT_ALL, 3),
                };
                self.header(fields, tag)?;
                self.str(emitter)?;
                self.u16(*signal)?;
                self.str(event_loop)?;
                match change {
                    Change::Connect(receiver, delivery) => {
                        self.receiver(receiver)?;
                        self.u16(match delivery {
                            Delivery::FanOut => 0,
                            Delivery::Balanced => 1,
                            Delivery::KeepLatest => 2,
                            Delivery::SingleShot => 3,
                        })
                    }
                    Change::Disconnect(receiver) | Change::Fired(receiver) => {
                        self.receiver(receiver)
                    }
                    Change::Broadcast(on) => self.bool(*on),
                    Change::DisconnectAll => Ok(()),
                    Change::Publish(topic, on) => {
                        self.str(topic)?;
                        self.bool(*on)
                    }
                }
            }
            Command::Expect {
                object,
                instance,
                on,
            } => {
                self.header(3, EXPECT)?;
                self.str(object)?;
                self.u64(*instance)?;
                self.bool(*on)
            }
            Command::Arrive {
                transfer,
                connections,
            } => {
                self.header(2, ARRIVE)?;
                self.bin(transfer)?;
                self.bin(connections)
            }
            Command::Detach { object, instance } => {
                self.header(2, DETACH)?;
                self.str(object)?;
                self.u64(*instance)
            }
            Command::Block {
                object,
                instance,
                on,
            } => {
                self.header(3, BLOCK)?;
                self.str(object)?;
                self.u64(*instance)?;
                self.bool(*on)
            }
            Command::Keep {
                object,
                instance,
                route,
            } => {
                self.header(4, KEEP)?;
                self.str(object)?;
                self.u64(*instance)?;
                self.u64(route.process)?;
                self.u64(route.call)
            }
            Command::Subscribe {
                signal,
                receiver,
                on,
            } => {
                self.header(5, SUBSCRIBE)?;
                self.str(signal)?;
                self.receiver(receiver)?;
                self.bool(*on)
            }
        }
    }
}

/// The fields of a signal frame (not a call's) before its payloads, for
/// [`Writer::prefixed_signal`]: they are the same for every emission of one
/// signal to one group of receivers, so its emitter encodes them once.
pub(crate) fn signal_prefix<'r>(
    emitter_loop: Option<&str>,
    emitter: Option<(&str, u64)>,
    signal: &str,
    receivers: impl ExactSizeIterator<Item = &'r ReceiverRef>,
    flags: (bool, bool),
) -> Result<Box<[u8]>, EncodeError> {
    let mut buf = Vec::with_capacity(64);
    Writer::new(&mut Encoder::growing(&mut buf)).signal_head(
        emitter_loop,
        emitter,
        signal,
        receivers,
        flags,
        false,
    )?;
    Ok(buf.into_boxed_slice())
}
