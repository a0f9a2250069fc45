//! A signal to the slots it names, whatever its origin: one function for
//! values from this process and for MessagePack bytes from another.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crate::stats::{SlotClock, nanos};

use crate::call::{Failure, ReplyRoute};
use crate::connection::{DIRECT_INVOCATION, ReceiverRef};
use crate::context::Sender;
use crate::error::SlotError;
use crate::object::ErasedObject;
use crate::payload::{Args, Payload};
use crate::status::{PanicPolicy, SlotFailure};
use crate::transport::{DropReason, SignalEnvelope};

use super::remote::Tally;
use super::{EventLoop, LoopHandle, LoopState, Resident, StopCause};
use crate::util::panic_message;

/// The receivers a signal names on this loop.
pub(super) enum Receivers<'a> {
    /// From this process: the connection's ready-made list.
    Local(&'a [ReceiverRef]),
    /// Decoded from another process's frame.
    Remote(&'a [(&'a str, u16, u64)]),
}

impl<'a> Receivers<'a> {
    fn len(&self) -> usize {
        match self {
            Receivers::Local(receivers) => receivers.len(),
            Receivers::Remote(receivers) => receivers.len(),
        }
    }

    /// Receiver `index`: its object, slot and instance.
    fn get(&self, index: usize) -> (&'a str, u16, u64) {
        match self {
            Receivers::Local(receivers) => {
                let receiver = &receivers[index];
                (&receiver.object, receiver.slot, receiver.instance)
            }
            Receivers::Remote(receivers) => receivers[index],
        }
    }
}

/// The arguments of the emissions of a signal (one, or an `emit_many`
/// batch).
pub(super) enum Payloads<'a> {
    /// Values from this process: moved to the last receiver, cloned for
    /// the others.
    Local(&'a mut Args),
    /// MessagePack bytes from another process, decoded by each slot.
    Encoded {
        items: &'a [&'a [u8]],
        /// Counts them as taken off the ring they came in.
        tally: &'a Tally<'a>,
    },
}

impl Payloads<'_> {
    fn count(&self) -> usize {
        match self {
            Payloads::Local(args) => args.count(),
            Payloads::Encoded { items, .. } => items.len(),
        }
    }

    fn payload(&mut self, index: usize, last: bool) -> Payload<'_> {
        match self {
            Payloads::Local(args) => Payload::Local { args, index, last },
            Payloads::Encoded { items, .. } => Payload::Encoded(items[index]),
        }
    }

    /// Counts `count` emissions as taken off the ring they came in, for
    /// the sender's reckoning. Counted before the slots run: a slot that
    /// kills the process has received its signal.
    fn taken(&self, count: usize) {
        if let Payloads::Encoded { tally, .. } = self {
            tally.taken(count as u64);
        }
    }
}

/// A signal for this loop's objects.
pub(super) struct Incoming<'a> {
    pub(super) sender: Option<Sender<'a>>,
    pub(super) signal: &'a str,
    pub(super) receivers: Receivers<'a>,
    /// Also for the loop's subscribers to `signal`.
    pub(super) broadcast: bool,
    /// A call's: where the slot's value goes.
    pub(super) reply: Option<ReplyRoute>,
    /// A call's from this process: its claim to the reply, handed on if
    /// the request is (see `redirect`).
    pub(super) request: Option<&'a crate::call::RequestGuard>,
    pub(super) payloads: Payloads<'a>,
}

impl EventLoop {
    /// Dispatches a signal emitted in this process.
    pub(super) fn dispatch_local(&mut self, envelope: SignalEnvelope) {
        let SignalEnvelope { header, mut args } = envelope;
        if let Args::Latest(ticket) = &mut args {
            // The newest emission of a keep-latest connection.
            match ticket.redeem() {
                Some(newest) => args = newest,
                None => return,
            }
        }
        let sender = header.emitter.as_ref().map(|emitter| Sender {
            id: &emitter.id,
            loop_name: emitter.loop_name.as_deref(),
            instance: emitter.instance,
            signal: header.signal,
        });
        self.dispatch(Incoming {
            sender,
            signal: header.signal,
            receivers: Receivers::Local(&header.receivers),
            broadcast: header.broadcast,
            reply: header.request.as_ref().map(|request| request.route),
            request: header.request.as_ref(),
            payloads: Payloads::Local(&mut args),
        });
    }

    /// Calls every receiver's slot once per emission, in order.
    ///
    /// Inlined into its two callers, so that each gets a copy where the
    /// origin of the signal is known and the matches on it fold away.
    #[inline(always)]
    pub(super) fn dispatch(&mut self, incoming: Incoming<'_>) {
        let Incoming {
            sender,
            signal,
            receivers,
            broadcast,
            reply,
            request,
            mut payloads,
        } = incoming;
        let subscribers = if broadcast {
            self.state.subscribers.get(signal).cloned()
        } else {
            None
        };
        let subscribers: &[ReceiverRef] = subscribers.as_deref().unwrap_or_default();
        let count = payloads.count();
        let total = receivers.len() + subscribers.len();
        if let (1, []) = (receivers.len(), subscribers) {
            // One receiver (the common case): find it once for the batch.
            let (object_id, slot, instance) = receivers.get(0);
            let Some(Resident { object, .. }) = self
                .objects
                .get_mut(object_id)
                .filter(|resident| instance == 0 || resident.instance == instance)
                .filter(|resident| !resident.removed())
            else {
                payloads.taken(count);
                if self.redirects(object_id, instance) {
                    // It moves: kept for it here, or sent on to it.
                    self.redirect(
                        object_id, slot, instance, sender, signal, reply, request, &payloads,
                    );
                    return;
                }
                self.drop_for_missing_object(object_id, instance, sender, signal, count);
                self.refuse_call(reply, object_id);
                return;
            };
            for index in 0..count {
                payloads.taken(1);
                let payload = payloads.payload(index, true);
                Self::run_slot(
                    object,
                    &mut self.state,
                    &self.handle,
                    object_id,
                    slot,
                    sender,
                    reply,
                    signal,
                    payload,
                );
                if self.state.aborted() {
                    self.cut_short(&payloads, count - index - 1, signal);
                    return;
                }
            }
            return;
        }
        for index in 0..count {
            payloads.taken(1);
            for position in 0..total {
                let (object_id, slot, instance) = match position.checked_sub(receivers.len()) {
                    None => receivers.get(position),
                    Some(at) => {
                        let subscriber = &subscribers[at];
                        (&*subscriber.object, subscriber.slot, subscriber.instance)
                    }
                };
                let resident = self
                    .objects
                    .get_mut(object_id)
                    .filter(|resident| instance == 0 || resident.instance == instance)
                    .filter(|resident| !resident.removed());
                match resident {
                    Some(Resident { object, .. }) => Self::run_slot(
                        object,
                        &mut self.state,
                        &self.handle,
                        object_id,
                        slot,
                        sender,
                        reply,
                        signal,
                        payloads.payload(index, position + 1 == total),
                    ),
                    None => {
                        if self.redirects(object_id, instance) {
                            // It moves: the whole batch is kept for it, or
                            // sent on to it, once.
                            if index == 0 {
                                self.redirect(
                                    object_id, slot, instance, sender, signal, reply, request,
                                    &payloads,
                                );
                            }
                        } else {
                            self.drop_for_missing_object(object_id, instance, sender, signal, 1);
                            self.refuse_call(reply, object_id);
                        }
                    }
                }
                if self.state.aborted() {
                    self.cut_short(&payloads, count - index - 1, signal);
                    return;
                }
            }
        }
    }

    /// Tells the caller of a call to a missing object.
    fn refuse_call(&self, reply: Option<ReplyRoute>, object_id: &str) {
        if let Some(route) = reply {
            crate::call::reply_failure(
                route,
                Failure::Gone(format!(
                    "no object `{object_id}` on event loop `{}`",
                    self.handle.name()
                )),
            );
        }
    }

    /// Counts a message for an object that is not on this loop (quietly if
    /// it was detached, or replaced by another of the same id).
    fn drop_for_missing_object(
        &self,
        object_id: &str,
        instance: u64,
        sender: Option<Sender<'_>>,
        signal: &str,
        count: usize,
    ) {
        let resident = self.objects.get(object_id);
        if resident.is_some_and(|resident| {
            resident.removed() && (instance == 0 || resident.instance == instance)
        }) {
            // Detached at once: what was queued to it goes with it.
            self.handle
                .peer()
                .drops()
                .record(count as u64, DropReason::Removed, || {
                    format!(
                        "signal `{signal}` from `{}` to `{object_id}`, detached at once",
                        sender.map_or(DIRECT_INVOCATION, |sender| sender.id),
                    )
                });
            return;
        }
        let replaced = instance != 0 && resident.is_some();
        if !replaced && !self.detached.contains(object_id) {
            self.handle
                .peer()
                .drops()
                .record(count as u64, DropReason::Gone, || {
                    format!(
                        "signal `{signal}` from `{}` to the missing object `{object_id}`",
                        sender.map_or(DIRECT_INVOCATION, |sender| sender.id),
                    )
                });
        }
    }

    /// Counts the `rest` emissions of a batch left undelivered when a
    /// failing slot ended the loop.
    fn cut_short(&self, payloads: &Payloads<'_>, rest: usize, signal: &str) {
        payloads.taken(rest);
        if rest > 0 {
            self.handle
                .peer()
                .drops()
                .record(rest as u64, DropReason::AfterStop, || {
                    format!("{rest} emissions of signal `{signal}` after a slot failed")
                });
        }
    }

    /// Calls one slot, containing a panic and reporting failures.
    #[allow(clippy::too_many_arguments)]
    fn run_slot(
        object: &mut Box<dyn ErasedObject>,
        state: &mut LoopState,
        handle: &LoopHandle,
        object_id: &str,
        slot: u16,
        sender: Option<Sender<'_>>,
        reply: Option<ReplyRoute>,
        signal: &str,
        payload: Payload<'_>,
    ) {
        // For subscribers that trace slot runs (tracing-chrome, an
        // OpenTelemetry layer): nothing is built unless one wants it.
        let span = tracing::trace_span!(
            "slot",
            event_loop = handle.name(),
            object = object_id,
            slot = object.handle().slot_name(slot),
            signal,
            emitter = sender.map(|sender| sender.id),
        );
        let _in_span = span.enter();
        let activity = handle.peer().activity();
        let shared = &object.handle().shared;
        let instance = shared.instance;
        // A clock read costs as much as a quick run: a quick slot's runs
        // are timed one in 16, and start (for the watch) at the pass's
        // clock, read again every 64 such runs.
        let timed = shared.slot_clock(slot).is_some_and(SlotClock::times_next);
        let started = if timed {
            Instant::now()
        } else {
            state.untimed = state.untimed.wrapping_add(1);
            if state.untimed.is_multiple_of(64) {
                state.clock = None;
            }
            *state.clock.get_or_insert_with(Instant::now)
        };
        activity.begin(instance, slot, started);
        let result = catch_unwind(AssertUnwindSafe(|| {
            object.dispatch(state, sender, reply, slot, payload)
        }));
        // A run the watch saw past the threshold is timed too.
        let timed = timed || activity.flagged();
        let took = match object.handle().shared.slot_clock(slot) {
            Some(clock) if timed => {
                let took = nanos(started.elapsed());
                clock.record(took);
                took
            }
            Some(clock) => clock.count(),
            None => 0,
        };
        if activity.ran(took, timed) {
            super::watch::slow_run(
                handle,
                object_id,
                object.handle().slot_name(slot),
                signal,
                sender,
                took,
            );
        }
        let slot_name = || object.handle().slot_name(slot);
        if let Some(route) = reply {
            // A slot that ran replied itself; one that did not, says why.
            let failure = match &result {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(Failure::Failed(error.to_string())),
                Err(panic) => Some(Failure::Panicked(panic_message(panic.as_ref()))),
            };
            if let Some(failure) = failure {
                crate::call::reply_failure(route, failure);
            }
        }
        match result {
            Ok(Ok(())) => {}
            Ok(Err(SlotError::Returned(error))) => {
                tracing::warn!(
                    event_loop = handle.name(),
                    object = object_id,
                    slot = slot_name(),
                    signal,
                    emitter = sender.map(|sender| sender.id),
                    "slot `{}.{}` on event loop `{}`: the slot returned an error: {error}",
                    object_id,
                    slot_name(),
                    handle.name(),
                );
            }
            Ok(Err(error)) => {
                let emitter = sender.map_or(DIRECT_INVOCATION, |sender| sender.id);
                tracing::error!(
                    event_loop = handle.name(),
                    object = object_id,
                    slot = slot_name(),
                    signal,
                    emitter = sender.map(|sender| sender.id),
                    "signal `{signal}` from `{emitter}` not delivered to `{}.{}` on event loop \
                     `{}`: {error}",
                    object_id,
                    slot_name(),
                    handle.name(),
                );
            }
            Err(panic) => {
                let failure = SlotFailure {
                    event_loop: handle.name().to_owned(),
                    object: object_id.to_owned(),
                    slot: slot_name().to_owned(),
                    signal: signal.to_owned(),
                    emitter: sender.map(|sender| sender.id.to_owned()),
                    message: panic_message(panic.as_ref()),
                };
                tracing::error!(
                    event_loop = %failure.event_loop,
                    object = %failure.object,
                    slot = %failure.slot,
                    signal = %failure.signal,
                    emitter = failure.emitter.as_deref(),
                    "{failure}"
                );
                state.first_failure.get_or_insert(failure);
                if state.panic_policy == PanicPolicy::StopLoop {
                    state.request_stop(StopCause::SlotFailed);
                }
            }
        }
    }
}
