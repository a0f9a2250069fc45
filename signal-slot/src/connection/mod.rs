//! The connections of a signal, and fan-out on emission.
//!
//! Each signal of each object has a [`ConnectionList`] behind an `ArcSwap`:
//! emitting loads it without a lock (any thread may emit), and the rare
//! changes (connect, disconnect, broadcast) copy it, edit the copy and swap
//! it in under one process-wide writer lock. The list groups receivers by
//! loop, so that one emission is one message per receiving loop, and keeps
//! for each loop a ready-made [`Header`]: an emission costs one reference
//! count on it, whatever it names.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::object::{Home, ObjectShared};
use crate::payload::{Args, Mailbox};
pub(crate) use crate::protocol::{ANY_SLOT, Change, Delivery, EVERY_SIGNAL, ReceiverRef};
use crate::stats::{AtomicDropCounts, DropCounts};

mod change;
mod emit;

pub(crate) use crate::transport::{DIRECT_INVOCATION, EmitterName, Header};
use crate::transport::{DropReason, LoopPeer, SignalEnvelope};
pub(crate) use change::{
    apply_here, apply_requested, disconnect_all, forget_object, hand_over, receivers_of, repoint,
    snapshot,
};
pub(crate) use emit::{emit, emit_destroyed, loop_ended_for};

/// A slot of the object of `shared`.
pub(crate) fn receiver_to(shared: &ObjectShared, slot: u16) -> ReceiverRef {
    ReceiverRef {
        object: shared.id.clone(),
        slot,
        instance: shared.instance,
        lease: None,
    }
}

impl EmitterName {
    pub(crate) fn of(object: &ObjectShared) -> Self {
        EmitterName {
            id: object.id.clone(),
            loop_name: object.current_peer().map(|peer| peer.name_arc().clone()),
            instance: object.instance,
        }
    }
}

/// The receivers of a signal on one loop.
#[derive(Clone)]
pub(crate) struct Destination {
    pub(crate) peer: Arc<LoopPeer>,
    pub(crate) header: Arc<Header>,
}

impl Destination {
    /// True for the one-receiver destination of `receiver` on `peer` (a
    /// balanced, keep-latest or single-shot connection).
    fn is_for(&self, peer: &Arc<LoopPeer>, receiver: &ReceiverRef) -> bool {
        Arc::ptr_eq(&self.peer, peer) && self.header.receivers[0].matches(receiver)
    }
}

/// A single-shot connection: one receiver, and whether an emission took
/// it already.
#[derive(Clone)]
pub(crate) struct OnceDestination {
    pub(crate) destination: Destination,
    pub(crate) taken: Arc<std::sync::atomic::AtomicBool>,
}

/// A keep-latest connection: one receiver, and the mailbox of the newest
/// emission waiting for it (in this process).
#[derive(Clone)]
pub(crate) struct LatestDestination {
    pub(crate) destination: Destination,
    pub(crate) mailbox: Arc<Mailbox>,
}

/// The connections of one signal: an immutable snapshot.
#[derive(Default, Clone)]
pub(crate) struct ConnectionList {
    pub(crate) fan_out: Vec<Destination>,
    /// One entry per receiver, each a one-receiver destination.
    pub(crate) balanced: Vec<Destination>,
    /// One entry per keep-latest receiver.
    pub(crate) latest: Vec<LatestDestination>,
    /// One entry per single-shot receiver.
    pub(crate) once: Vec<OnceDestination>,
    /// The object moved to a loop of another process, with its
    /// connections: emissions go there (see `hand_over`).
    pub(crate) forward: bool,
}

/// The connections of one signal of one object.
#[derive(Default)]
pub(crate) struct SignalConnections {
    list: ArcSwap<ConnectionList>,
    next_balanced: AtomicUsize,
    /// Lists replaced while an emission still held them: until they are
    /// let go, an emission that took them may still be queueing (see
    /// [`repoint`]).
    retired: Mutex<Vec<std::sync::Weak<ConnectionList>>>,
    /// Emissions that had somewhere to go (a batch counts for its size).
    emitted: std::sync::atomic::AtomicU64,
    /// Emissions lost on the way from here, by reason (counted for their
    /// loop too).
    dropped: AtomicDropCounts,
}

impl SignalConnections {
    /// Emissions so far that had a connection to go to.
    pub(crate) fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }

    /// Emissions so far lost on the way from this process, by reason.
    pub(crate) fn drops(&self) -> DropCounts {
        self.dropped.snapshot()
    }

    /// Counts `count` emissions to `peer` that were dropped, for this
    /// signal and for its loop; `describe` names them for the log.
    fn lost(
        &self,
        peer: &LoopPeer,
        count: u64,
        reason: DropReason,
        describe: impl FnOnce() -> String,
    ) {
        self.dropped.add(reason, count);
        peer.drops().record(count, reason, describe);
    }

    /// Counts an envelope to `peer` that was dropped, for this signal and
    /// for its loop.
    fn lost_envelope(&self, peer: &LoopPeer, envelope: &SignalEnvelope, reason: DropReason) {
        self.dropped.add(reason, envelope.args.count() as u64);
        peer.drops().record_envelope(envelope, reason);
    }

    /// Puts `list` in place (under the writers' lock). A list replaced
    /// while an emission holds it is remembered until let go (replacing
    /// pays every reader's debt: the count is theirs).
    fn replace(&self, list: Arc<ConnectionList>) {
        let old = self.list.swap(list);
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.retain(|list| list.strong_count() > 0);
        if Arc::strong_count(&old) > 1 {
            retired.push(Arc::downgrade(&old));
        }
    }

    /// True once no emission holds a list replaced before now.
    fn settled(&self) -> bool {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.retain(|list| list.strong_count() > 0);
        retired.is_empty()
    }
}

/// The `'static` name of a topic named in a change another process asked
/// for (or of a signal from another process, forwarded): they are declared
/// in code, so there are few, each kept once.
pub(crate) fn intern(name: &str) -> &'static str {
    static TOPICS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut topics = TOPICS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = topics.iter().find(|known| **known == name) {
        return known;
    }
    let key: &'static str = Box::leak(name.into());
    topics.push(key);
    key
}

/// Serializes writers, so that no change is lost between load and store.
/// Also held across `fork`, so that a child never inherits a half-made
/// change.
static WRITERS: Mutex<()> = Mutex::new(());

pub(crate) fn writers() -> MutexGuard<'static, ()> {
    WRITERS.lock().unwrap_or_else(PoisonError::into_inner)
}
