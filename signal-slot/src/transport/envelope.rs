//! What a loop's queue carries: signals with their header (who emitted
//! them, to which receivers), commands, frames from other processes and
//! programs, rings and their large records, and work the loop does for
//! itself, which the transport carries without naming it.

use std::sync::Arc;

use crate::command::Command;
use crate::error::Error;
use crate::payload::Args;
use crate::protocol::{ProcessId, ReceiverRef};

use super::{DropReason, InboundRing};

/// Who emitted a signal, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EmitterName {
    pub(crate) id: Arc<str>,
    /// `None` for an emitter on no loop (a process monitor).
    pub(crate) loop_name: Option<Arc<str>>,
    pub(crate) instance: u64,
}

/// How messages name the emitter of a direct slot invocation.
pub(crate) const DIRECT_INVOCATION: &str = "<direct invocation>";

/// What every emission of one signal to one loop carries besides its
/// arguments.
#[derive(Debug)]
pub(crate) struct Header {
    /// `None` for a direct invocation of a slot.
    pub(crate) emitter: Option<EmitterName>,
    pub(crate) signal: &'static str,
    pub(crate) receivers: Box<[ReceiverRef]>,
    /// The signal is also broadcast to the loop's subscribers.
    pub(crate) broadcast: bool,
    /// A keep-latest connection's (one receiver).
    pub(crate) latest: bool,
    /// A call's: where its reply goes (one receiver, no emitter).
    pub(crate) request: Option<crate::call::RequestGuard>,
    /// The signal frame's fields before its arguments, encoded once for
    /// every emission to a loop of another process (`None` for a call,
    /// whose frame names the call).
    pub(crate) prefix: Option<Box<[u8]>>,
}

impl Header {
    /// The header of one emission (an invocation, a call, a redirected
    /// signal): its frame is encoded whole when it is sent.
    pub(crate) fn new(
        emitter: Option<EmitterName>,
        signal: &'static str,
        receivers: Box<[ReceiverRef]>,
        broadcast: bool,
        latest: bool,
        request: Option<crate::call::RequestGuard>,
    ) -> Self {
        Header {
            emitter,
            signal,
            receivers,
            broadcast,
            latest,
            request,
            prefix: None,
        }
    }

    /// The header of a connection's every emission: the fields of its
    /// frame before the arguments are encoded now, once, for the
    /// emissions to a loop of another process. (Now, not on first use:
    /// nothing is initialized lazily on the emitting path, where a fork
    /// may catch it half done.)
    pub(crate) fn connection(
        emitter: EmitterName,
        signal: &'static str,
        receivers: Box<[ReceiverRef]>,
        broadcast: bool,
        latest: bool,
    ) -> Self {
        let mut header = Header::new(Some(emitter), signal, receivers, broadcast, latest, None);
        let (emitter_loop, emitter) = header.emitter_fields();
        header.prefix = crate::wire::signal_prefix(
            emitter_loop,
            emitter,
            header.signal,
            header.receivers.iter(),
            (header.broadcast, header.latest),
        )
        .ok();
        header
    }

    /// The emitter's loop, id and instance, as a frame names them.
    pub(crate) fn emitter_fields(&self) -> (Option<&str>, Option<(&str, u64)>) {
        match &self.emitter {
            Some(emitter) => (
                emitter.loop_name.as_deref(),
                Some((&*emitter.id, emitter.instance)),
            ),
            None => (None, None),
        }
    }

    /// The emitter's id, for messages.
    pub(crate) fn emitter_id(&self) -> &str {
        self.emitter
            .as_ref()
            .map_or(DIRECT_INVOCATION, |emitter| &emitter.id)
    }
}

/// One emission (or batch) of a signal, for the receivers on one loop.
pub(crate) struct SignalEnvelope {
    pub(crate) header: Arc<Header>,
    pub(crate) args: Args,
}

/// The outcome of a delivery attempt that failed: the signal, and why.
pub(crate) type DeliveryError = (SignalEnvelope, DropReason);

/// Work for the loop itself, which only the loop knows how to do (an
/// object joining it, one to hand back, one moving between loops of this
/// process): its inbox carries it in order with the rest and never looks
/// inside, as a task queue carries tasks it does not run.
pub(crate) trait LocalWork: Send {
    /// What goes instead to the loop once it runs in another process: a
    /// command it applies there, or why nothing can.
    fn for_other_process(&self, loop_name: &str) -> Result<Command, Error>;
    /// The work, for the loop to take back its type.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
    /// The work in place, for the loop to look at.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A message in a loop's queue.
pub(crate) enum Envelope {
    Signal(SignalEnvelope),
    Command(Command),
    /// Work for the loop itself.
    Local(Box<dyn LocalWork>),
    /// Signals and commands as wire frames (what was queued for a loop
    /// before it moved to a process started by spawn), holding `signals`
    /// signals.
    Frames {
        bytes: Vec<u8>,
        signals: u32,
    },
    /// Signals and commands as wire frames from another program, over the
    /// network: untrusted (no shared buffer is decoded from them), holding
    /// `signals` signals; `from` names the sender for reports.
    #[cfg_attr(not(feature = "zenoh"), allow(dead_code))]
    Network {
        bytes: Vec<u8>,
        signals: u32,
        from: Arc<str>,
    },
    /// A ring from another process.
    Ring(Box<InboundRing>),
    /// The segment of a large record from another process, which a stub in
    /// its ring names.
    Segment {
        from: ProcessId,
        id: u64,
        segment: crate::sys::shm::Segment,
    },
    /// A process of the tree ended: its rings get no more records.
    ProducerEnded(ProcessId),
}

/// An emission forwarded to the process where its emitter lives: the
/// emitter (that instance) and which of its signals.
pub(crate) struct Forwarded<'a> {
    pub(crate) id: &'a str,
    pub(crate) instance: u64,
    pub(crate) signal: u16,
    pub(crate) signal_name: &'static str,
}
