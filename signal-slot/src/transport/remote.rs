//! Sending to a loop of another process: records of wire frames, written
//! by the emitting thread into this process's [`Link`] to the loop (a ring
//! in shared memory: see `link`).
//!
//! Writing never blocks: a record that finds no room is a dropped signal,
//! counted. An argument whose `Serialize` fails or panics is reported and
//! counted, and the link is left as it was. What is counted, and how, is
//! the same whatever the link.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::DeliveryError;
use super::link::{Link, LinkError};
use super::{DropReason, LoopPeer, SignalEnvelope};
use crate::codec::Encoder;
use crate::error::{EncodeError, Error};
use crate::payload::Args;
use crate::protocol::ProcessId;
use crate::wire::{self, Writer};

/// This process's way to a loop of another process.
pub(crate) struct RemoteLoop {
    link: Box<dyn Link>,
}

/// Why a record did not go.
enum Refused {
    Dropped(DropReason),
    /// Already counted (with the reason and the error), nothing more to do.
    Reported,
}

impl RemoteLoop {
    pub(crate) fn new(link: Box<dyn Link>) -> Self {
        RemoteLoop { link }
    }

    /// How full this process's ring to the loop is, if it has one.
    pub(crate) fn fill(&self) -> Option<crate::stats::RingFill> {
        self.link.fill()
    }

    /// Writes one record of `signals` signals. `describe` names what it
    /// carries, for the log.
    fn write(
        &self,
        peer: &LoopPeer,
        signals: u32,
        urgent: bool,
        describe: &dyn Fn() -> String,
        mut encode: impl FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), Refused> {
        // A panicking `Serialize` leaves nothing written: the link is as it
        // was, and the emitter goes on.
        let written = catch_unwind(AssertUnwindSafe(|| {
            let mut record = RecordWriter::new(self.link.leases_to(), &mut encode);
            let written = self
                .link
                .write(signals, urgent, &mut |out| record.write(out));
            if written.is_ok() {
                record.sent();
            }
            written
        }));
        let reason = match written {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(LinkError::Full)) => DropReason::Full,
            Ok(Err(LinkError::Gone { lost })) => {
                count_lost(peer, lost);
                DropReason::Gone
            }
            Ok(Err(LinkError::TooLarge { max })) => {
                peer.drops()
                    .record(u64::from(signals), DropReason::TooLarge, || {
                        format!(
                            "{} (its encoding is larger than {max} bytes, the most its link \
                             carries)",
                            describe()
                        )
                    });
                return Err(Refused::Reported);
            }
            Ok(Err(LinkError::Encode(error))) => {
                peer.drops()
                    .record(u64::from(signals), DropReason::Encode, || {
                        format!("{} ({error})", describe())
                    });
                return Err(Refused::Reported);
            }
            Err(panic) => {
                let message = crate::util::panic_message(&*panic);
                peer.drops()
                    .record(u64::from(signals), DropReason::Encode, || {
                        format!(
                            "{} (the arguments' `Serialize` panicked: {message})",
                            describe()
                        )
                    });
                return Err(Refused::Reported);
            }
        };
        Err(Refused::Dropped(reason))
    }

    /// Sends a signal (or a batch) to the loop. Never blocks.
    pub(crate) fn deliver(
        &self,
        peer: &LoopPeer,
        envelope: SignalEnvelope,
    ) -> Result<(), DeliveryError> {
        let count = signal_count(&envelope.args);
        let describe = || describe_signal(&envelope);
        match self.write(peer, count, false, &describe, |out| {
            encode_signal(&envelope, out)
        }) {
            Ok(()) | Err(Refused::Reported) => Ok(()),
            Err(Refused::Dropped(reason)) => Err((envelope, reason)),
        }
    }

    /// Sends something that must not be dropped for a full inbox: a slot
    /// invocation (with `stop`), or encoded command frames.
    pub(crate) fn post(
        &self,
        peer: &LoopPeer,
        signals: u32,
        describe: &dyn Fn() -> String,
        encode: impl FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), Error> {
        match self.write(peer, signals, true, describe, encode) {
            Ok(()) => Ok(()),
            Err(Refused::Dropped(DropReason::Full)) => {
                Err(Error::InboxFull(peer.name().to_owned()))
            }
            Err(Refused::Dropped(_)) => Err(Error::LoopEnded(peer.name().to_owned())),
            Err(Refused::Reported) => Err(Error::Process {
                process: peer.name().to_owned(),
                message: format!("{} could not be encoded (reported)", describe()),
            }),
        }
    }

    /// Forwards an emission to the loop where its emitter lives, which
    /// holds its connections.
    pub(crate) fn forward_emit(&self, peer: &LoopPeer, emitter: &super::Forwarded<'_>, args: Args) {
        let count = signal_count(&args);
        let describe = || {
            format!(
                "signal `{}` from `{}` (emitted here on its behalf)",
                emitter.signal_name, emitter.id
            )
        };
        let result = self.write(peer, count, false, &describe, |out| {
            Writer::new(out).emit_request(
                emitter.id,
                emitter.instance,
                emitter.signal,
                args.count(),
                |item, buf| args.encode_item(item, buf),
            )
        });
        if let Err(Refused::Dropped(reason)) = result {
            peer.drops().record(u64::from(count), reason, describe);
        }
    }

    /// The loop (or its process) ended: what this process wrote that it
    /// never took is lost, and the link goes.
    pub(crate) fn end(&self, peer: &LoopPeer) {
        count_lost(peer, self.link.end());
    }
}

/// One record being written: its frames, with the shared buffers they name
/// leased to the process that reads them in place (a record may be written
/// more than once, when a first place was too short: each attempt's
/// leases replace the last one's).
struct RecordWriter<'a, F> {
    encode: &'a mut F,
    leases: Option<crate::pool::Leases>,
    attempted: bool,
}

impl<'a, F: FnMut(&mut Encoder<'_>) -> Result<(), EncodeError>> RecordWriter<'a, F> {
    fn new(reader: Option<ProcessId>, encode: &'a mut F) -> Self {
        // A process that has never seen a pool has no buffer to lease.
        let leases = reader
            .filter(|_| crate::pool::in_use())
            .map(crate::pool::Leases::to);
        RecordWriter {
            encode,
            leases,
            attempted: false,
        }
    }

    fn write(&mut self, out: &mut Encoder<'_>) -> Result<(), EncodeError> {
        let Some(leases) = &mut self.leases else {
            return (self.encode)(out);
        };
        if std::mem::replace(&mut self.attempted, true) {
            leases.revoke();
        }
        // The record says in its first byte whether it leases buffers.
        wire::write_lease_mark(out)?;
        let mark = out.len() - 1;
        let encode = &mut *self.encode;
        leases.enter(|| encode(out))?;
        if leases.any() {
            wire::set_lease_mark(out, mark);
        }
        Ok(())
    }

    /// The record went: its reader gives the leases back.
    fn sent(self) {
        if let Some(leases) = self.leases {
            leases.sent();
        }
    }
}

fn count_lost(peer: &LoopPeer, lost: u64) {
    if lost > 0 {
        peer.drops().record(lost, DropReason::Gone, || {
            format!("{lost} signals in transit when it ended")
        });
    }
}

fn signal_count(args: &Args) -> u32 {
    u32::try_from(args.count()).unwrap_or(u32::MAX)
}

/// Encodes a signal frame for its receivers on the loop.
pub(crate) fn encode_signal(
    envelope: &SignalEnvelope,
    out: &mut Encoder<'_>,
) -> Result<(), EncodeError> {
    let header = &envelope.header;
    let args = &envelope.args;
    let encode = |index, buf: &mut Encoder<'_>| args.encode_item(index, buf);
    if let Some(prefix) = &header.prefix {
        return Writer::new(out).prefixed_signal(prefix, args.count(), encode);
    }
    let (emitter_loop, emitter) = header.emitter_fields();
    Writer::new(out).signal(
        emitter_loop,
        emitter,
        header.signal,
        header.receivers.iter(),
        (header.broadcast, header.latest),
        header.request.as_ref().map(|request| {
            let route = request.forwarded();
            (route.process, route.call)
        }),
        args.count(),
        encode,
    )
}

fn describe_signal(envelope: &SignalEnvelope) -> String {
    format!(
        "signal `{}` from `{}`",
        envelope.header.signal,
        envelope.header.emitter_id()
    )
}
