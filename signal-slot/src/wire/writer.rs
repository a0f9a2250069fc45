//! Writing frames into a packet.

use std::io::Write;

use rmp::Marker;

use super::*;
use crate::codec::Encoder;
use crate::connection::{Change, Delivery};
use crate::error::EncodeError;

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

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn signal<'r>(
        &mut self,
        emitter_loop: Option<&str>,
        emitter: Option<&str>,
        signal: &str,
        receivers: impl ExactSizeIterator<Item = (&'r str, u16)>,
        broadcast: bool,
        count: usize,
        encode: impl FnMut(usize, &mut Encoder<'_>) -> Result<(), EncodeError>,
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
                w.u16(slot)?;
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
        encode: impl FnMut(usize, &mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.frame(|w| {
            w.header(3, EMIT_REQUEST)?;
            w.str(emitter)?;
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
                    Change::Connect(..) => (CONNECT, 6),
                    Change::Disconnect(_) => (DISCONNECT, 5),
                    Change::Broadcast(_) => (BROADCAST, 4),
                };
                self.header(fields, tag)?;
                self.str(emitter)?;
                self.u16(*signal)?;
                self.str(event_loop)?;
                match change {
                    Change::Connect(receiver, delivery) => {
                        self.str(&receiver.object)?;
                        self.u16(receiver.slot)?;
                        self.bool(*delivery == Delivery::Balanced)
                    }
                    Change::Disconnect(receiver) => {
                        self.str(&receiver.object)?;
                        self.u16(receiver.slot)
                    }
                    Change::Broadcast(on) => self.bool(*on),
                }
            }
            Command::Detach { object } => {
                self.header(1, DETACH)?;
                self.str(object)
            }
            Command::Subscribe {
                signal,
                receiver,
                on,
            } => {
                self.header(4, SUBSCRIBE)?;
                self.str(signal)?;
                self.str(&receiver.object)?;
                self.u16(receiver.slot)?;
                self.bool(*on)
            }
        }
    }
}
