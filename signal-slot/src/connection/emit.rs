//! Emission: an emitter's signal to the loops of its connections, by
//! delivery (fan-out, balanced, keep-latest, single-shot); what cannot be
//! delivered is counted where it is found.

use super::*;
use crate::transport::Forwarded;

/// Emits a batch of signal `index` of `emitter` to all its connections.
///
/// The hot path: one lock-free load of the connection list; per receiving
/// loop, the arguments (moved to the last loop, cloned for the others:
/// inline when small, boxed otherwise), one reference count and one queue
/// push.
///
/// `make_args` boxes the arguments; it is not called when nothing is
/// connected.
pub(crate) fn emit(emitter: &Arc<ObjectShared>, index: u16, make_args: impl FnOnce() -> Args) {
    if emitter.has_moved.load(Ordering::Relaxed) {
        // It moved (rare): to another process, where its connections went?
        if let Some(peer) = emitter.remote_home() {
            peer.forward_emit(&forwarded(emitter, index), make_args());
            return;
        }
    } else if let Home::Loop(peer) = &emitter.home
        && peer.is_remote()
    {
        // The connections live with the object, in its own process.
        peer.forward_emit(&forwarded(emitter, index), make_args());
        return;
    }
    if emitter.blocked.load(Ordering::Relaxed) != 0 {
        // Held by a signal blocker: nobody hears it.
        return;
    }
    deliver(emitter, index, make_args);
}

/// An object leaves its loop: its `destroyed` signal, which no signal
/// blocker holds (as in Qt), with its id.
pub(crate) fn emit_destroyed(emitter: &Arc<ObjectShared>) {
    let id = emitter.id.to_string();
    deliver(emitter, emitter.destroyed_index(), move || {
        Args::one((id,), crate::signal::encode_id)
    });
}

/// The loop `ending` ends, and `emitter` with it: its `destroyed` reaches
/// the receivers on other loops (those on `ending` would only count it as
/// dropped). Its connections stay: what is emitted through its handles
/// afterwards still reaches (or is counted as dropped by) its receivers.
pub(crate) fn loop_ended_for(emitter: &Arc<ObjectShared>, ending: &Arc<LoopPeer>) {
    let index = emitter.destroyed_index();
    if let Some(connections) = emitter.signals.get(usize::from(index)) {
        let list = connections.list.load_full();
        let elsewhere = |destination: &Destination| !Arc::ptr_eq(&destination.peer, ending);
        let others = ConnectionList {
            fan_out: list
                .fan_out
                .iter()
                .filter(|d| elsewhere(d))
                .cloned()
                .collect(),
            balanced: list
                .balanced
                .iter()
                .filter(|d| elsewhere(d))
                .cloned()
                .collect(),
            latest: list
                .latest
                .iter()
                .filter(|latest| elsewhere(&latest.destination))
                .cloned()
                .collect(),
            once: list
                .once
                .iter()
                .filter(|once| elsewhere(&once.destination))
                .cloned()
                .collect(),
            forward: list.forward,
        };
        let id = emitter.id.to_string();
        deliver_list(emitter, index, connections, &others, move || {
            Args::one((id,), crate::signal::encode_id)
        });
    }
}

/// Delivers an emission to all the connections of signal `index` of
/// `emitter`, an object of this process.
#[inline(always)]
fn deliver(emitter: &Arc<ObjectShared>, index: u16, make_args: impl FnOnce() -> Args) {
    let Some(connections) = emitter.signals.get(usize::from(index)) else {
        return;
    };
    let list = connections.list.load();
    deliver_list(emitter, index, connections, &list, make_args);
}

/// Delivers an emission of signal `index` of `emitter` to the connections
/// of `list`.
#[inline(always)]
fn deliver_list(
    emitter: &Arc<ObjectShared>,
    index: u16,
    connections: &SignalConnections,
    list: &ConnectionList,
    make_args: impl FnOnce() -> Args,
) {
    if list.forward {
        // It moved to another process, and its connections with it.
        if let Some(peer) = emitter.remote_home() {
            peer.forward_emit(&forwarded(emitter, index), make_args());
        }
        return;
    }
    let fan_out = list.fan_out.len();
    let latest = list.latest.len();
    let balanced = !list.balanced.is_empty();
    // Single-shot connections this emission takes: each by one emission
    // only, whichever thread gets there first.
    let fired: smallvec::SmallVec<[&OnceDestination; 2]> = if list.once.is_empty() {
        smallvec::SmallVec::new()
    } else {
        list.once
            .iter()
            .filter(|once| !once.taken.swap(true, Ordering::AcqRel))
            .collect()
    };
    let total = fan_out + latest + fired.len() + usize::from(balanced);
    if total == 0 {
        return;
    }
    let made = make_args();
    connections
        .emitted
        .fetch_add(made.count() as u64, Ordering::Relaxed);
    let mut args = Some(made);
    let mut take_args = |position: usize| -> Args {
        if position + 1 == total {
            args.take()
                .expect("the last destination takes the arguments once")
        } else {
            args.as_ref()
                .expect("arguments are kept until the last destination")
                .clone_args()
        }
    };
    for (position, destination) in list.fan_out.iter().enumerate() {
        let envelope = SignalEnvelope {
            header: destination.header.clone(),
            args: take_args(position),
        };
        if let Err((envelope, reason)) = destination.peer.deliver(envelope) {
            connections.lost_envelope(&destination.peer, &envelope, reason);
        }
    }
    for (position, latest) in list.latest.iter().enumerate() {
        deliver_latest(connections, latest, take_args(fan_out + position));
    }
    for (position, once) in fired.iter().enumerate() {
        let mut args = take_args(fan_out + latest + position);
        // One emission of a batch: its first.
        args.retain_first();
        let destination = &once.destination;
        let envelope = SignalEnvelope {
            header: destination.header.clone(),
            args,
        };
        if let Err((envelope, reason)) = destination.peer.deliver(envelope) {
            connections.lost_envelope(&destination.peer, &envelope, reason);
        }
        fired_once(emitter, index, &once.taken);
    }
    if balanced {
        deliver_balanced(
            connections,
            &list.balanced,
            take_args(fan_out + latest + fired.len()),
        );
    }
}

/// Ends the single-shot connection whose claim is `taken` (it fired),
/// wherever it points now (its receiver may have moved meanwhile).
fn fired_once(emitter: &ObjectShared, index: u16, taken: &Arc<std::sync::atomic::AtomicBool>) {
    let Some(connections) = emitter.signals.get(usize::from(index)) else {
        return;
    };
    let _guard = writers();
    let current = connections.list.load();
    if !current
        .once
        .iter()
        .any(|once| Arc::ptr_eq(&once.taken, taken))
    {
        return;
    }
    let mut list = ConnectionList::clone(&current);
    list.once.retain(|once| !Arc::ptr_eq(&once.taken, taken));
    connections.replace(Arc::new(list));
}

/// Delivers to a keep-latest receiver: into its mailbox, replacing what
/// waits there (a ticket for it is queued already), or with a new ticket.
fn deliver_latest(connections: &SignalConnections, latest: &LatestDestination, mut args: Args) {
    let destination = &latest.destination;
    let describe = || {
        format!(
            "signal `{}` from `{}` to `{}`",
            destination.header.signal,
            destination.header.emitter_id(),
            destination.header.receivers[0].object
        )
    };
    let older = args.retain_last();
    if older > 0 {
        connections.lost(
            &destination.peer,
            older as u64,
            DropReason::Replaced,
            describe,
        );
    }
    match destination
        .peer
        .deliver_latest(&latest.mailbox, &destination.header, args)
    {
        Ok(None) => {}
        Ok(Some(replaced)) => {
            let count = replaced.count() as u64;
            connections.lost(&destination.peer, count, DropReason::Replaced, describe);
        }
        Err((envelope, reason)) => connections.lost_envelope(&destination.peer, &envelope, reason),
    }
}

/// Delivers to one balanced receiver, trying each in turn from the next one.
fn deliver_balanced(connections: &SignalConnections, receivers: &[Destination], args: Args) {
    let start = connections.next_balanced.fetch_add(1, Ordering::Relaxed);
    let mut envelope = SignalEnvelope {
        header: receivers[start % receivers.len()].header.clone(),
        args,
    };
    let mut last_failure = None;
    for offset in 0..receivers.len() {
        let destination = &receivers[(start + offset) % receivers.len()];
        if offset > 0 {
            envelope.header = destination.header.clone();
        }
        match destination.peer.deliver(envelope) {
            Ok(()) => return,
            Err((returned, reason)) => {
                envelope = returned;
                last_failure = Some((destination, reason));
            }
        }
    }
    if let Some((destination, reason)) = last_failure {
        connections.lost_envelope(&destination.peer, &envelope, reason);
    }
}

/// An emission of signal `index` of `emitter`, forwarded to the process
/// where it lives.
fn forwarded(emitter: &ObjectShared, index: u16) -> Forwarded<'_> {
    Forwarded {
        id: &emitter.id,
        instance: emitter.instance,
        signal: index,
        signal_name: emitter.signal_name(index),
    }
}
