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
use crate::transport::{DropReason, LoopPeer, SignalEnvelope};

/// A slot of the object of `shared`.
pub(crate) fn receiver_to(shared: &ObjectShared, slot: u16) -> ReceiverRef {
    ReceiverRef {
        object: shared.id.clone(),
        slot,
        instance: shared.instance,
        lease: None,
    }
}

/// Who emitted a signal, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EmitterName {
    pub(crate) id: Arc<str>,
    /// `None` for an emitter on no loop (a process monitor).
    pub(crate) loop_name: Option<Arc<str>>,
    pub(crate) instance: u64,
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
}

impl Header {
    /// The emitter's id, for messages.
    pub(crate) fn emitter_id(&self) -> &str {
        self.emitter
            .as_ref()
            .map_or(DIRECT_INVOCATION, |emitter| &emitter.id)
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
}

impl SignalConnections {
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

/// Applies `change` to signal `signal` of `emitter`, for receivers on
/// `peer`. Returns false if it changed nothing (already connected, not
/// connected, already broadcast).
pub(crate) fn apply(
    emitter: &ObjectShared,
    signal: u16,
    peer: &Arc<LoopPeer>,
    change: Change,
) -> bool {
    let _guard = writers();
    apply_locked(emitter, signal, peer, change)
}

/// As [`apply`], for an object whose connections lived here when the
/// change was asked for: gives the change back if they went to another
/// process meanwhile (the object moved there).
pub(crate) fn apply_here(
    emitter: &ObjectShared,
    signal: u16,
    peer: &Arc<LoopPeer>,
    change: Change,
) -> Result<bool, Change> {
    let _guard = writers();
    if emitter.remote_home().is_some() {
        return Err(change);
    }
    Ok(apply_locked(emitter, signal, peer, change))
}

/// [`apply`], under the writers' lock.
fn apply_locked(emitter: &ObjectShared, signal: u16, peer: &Arc<LoopPeer>, change: Change) -> bool {
    if signal == EVERY_SIGNAL {
        let mut changed = false;
        for index in 0..emitter.signals.len() {
            let index = u16::try_from(index).unwrap_or(EVERY_SIGNAL);
            changed |= apply_locked(emitter, index, peer, change.clone());
        }
        return changed;
    }
    let Some(connections) = emitter.signals.get(usize::from(signal)) else {
        return false;
    };
    let name = emitter.signal_name(signal);
    let header = |key: &'static str| {
        move |receivers: Vec<ReceiverRef>, broadcast: bool| {
            Arc::new(Header {
                emitter: Some(EmitterName::of(emitter)),
                signal: key,
                receivers: receivers.into(),
                broadcast,
                latest: false,
                request: None,
            })
        }
    };
    let mut list = ConnectionList::clone(&connections.list.load());
    let broadcast = |list: &mut ConnectionList, key: &'static str, on: bool| {
        edit_destination(&mut list.fan_out, peer, key, header(key), |_, broadcast| {
            let changed = *broadcast != on;
            *broadcast = on;
            changed
        })
    };
    let changed = match change {
        Change::Connect(receiver, Delivery::FanOut) => edit_destination(
            &mut list.fan_out,
            peer,
            name,
            header(name),
            |receivers, _| {
                if receivers.iter().any(|existing| existing.matches(&receiver)) {
                    false
                } else {
                    receivers.push(receiver);
                    true
                }
            },
        ),
        Change::Connect(receiver, Delivery::Balanced) => {
            let exists = list
                .balanced
                .iter()
                .any(|destination| destination.is_for(peer, &receiver));
            if !exists {
                list.balanced.push(Destination {
                    peer: peer.clone(),
                    header: header(name)(vec![receiver], false),
                });
            }
            !exists
        }
        Change::Connect(receiver, Delivery::KeepLatest) => {
            let exists = list
                .latest
                .iter()
                .any(|latest| latest.destination.is_for(peer, &receiver));
            if !exists {
                list.latest.push(LatestDestination {
                    destination: Destination {
                        peer: peer.clone(),
                        header: Arc::new(Header {
                            emitter: Some(EmitterName::of(emitter)),
                            signal: name,
                            receivers: Box::new([receiver]),
                            broadcast: false,
                            latest: true,
                            request: None,
                        }),
                    },
                    mailbox: Arc::default(),
                });
            }
            !exists
        }
        Change::Connect(receiver, Delivery::SingleShot) => {
            // One that fired (its emission may still be on its way, and its
            // `Fired` not applied yet) gives way to the new one.
            list.once.retain(|once| {
                !(once.destination.is_for(peer, &receiver) && once.taken.load(Ordering::Acquire))
            });
            let exists = list
                .once
                .iter()
                .any(|once| once.destination.is_for(peer, &receiver));
            if !exists {
                list.once.push(OnceDestination {
                    destination: Destination {
                        peer: peer.clone(),
                        header: header(name)(vec![receiver], false),
                    },
                    taken: Arc::default(),
                });
            }
            !exists
        }
        Change::Fired(receiver) => {
            // Only the one that fired: a new one to the same receiver may
            // have taken its place already.
            let before = list.once.len();
            list.once.retain(|once| {
                !(once.destination.is_for(peer, &receiver) && once.taken.load(Ordering::Acquire))
            });
            list.once.len() != before
        }
        Change::Disconnect(receiver) => {
            let is_it = |destination: &Destination| destination.is_for(peer, &receiver);
            let before = list.balanced.len() + list.latest.len() + list.once.len();
            list.balanced.retain(|destination| !is_it(destination));
            list.latest.retain(|latest| !is_it(&latest.destination));
            list.once.retain(|once| !is_it(&once.destination));
            let from_balanced = list.balanced.len() + list.latest.len() + list.once.len() != before;
            let from_fan_out = edit_destination(
                &mut list.fan_out,
                peer,
                name,
                header(name),
                |receivers, _| {
                    let before = receivers.len();
                    receivers.retain(|existing| !existing.matches(&receiver));
                    receivers.len() != before
                },
            );
            from_balanced || from_fan_out
        }
        Change::DisconnectAll => clear(&mut list),
        Change::Broadcast(on) => broadcast(&mut list, name, on),
        Change::Publish(topic, on) => broadcast(&mut list, intern(&topic), on),
    };
    if changed {
        connections.replace(Arc::new(list));
    }
    changed
}

/// Ends every connection of `list`; broadcasts and publications stay.
/// Returns whether there was any.
fn clear(list: &mut ConnectionList) -> bool {
    let connected = receiver_count(list) > 0;
    list.balanced.clear();
    list.latest.clear();
    list.once.clear();
    list.fan_out.retain_mut(|destination| {
        let header = &destination.header;
        if header.broadcast && !header.receivers.is_empty() {
            destination.header = Arc::new(Header {
                emitter: header.emitter.clone(),
                signal: header.signal,
                receivers: Box::new([]),
                broadcast: true,
                latest: false,
                request: None,
            });
        }
        destination.header.broadcast
    });
    connected
}

/// Ends every connection of signal `signal` of `emitter` (of every
/// signal for [`EVERY_SIGNAL`]), an object of this process. Returns
/// whether there was any.
pub(crate) fn disconnect_all(emitter: &ObjectShared, signal: u16) -> Option<bool> {
    let _guard = writers();
    if emitter.remote_home().is_some() {
        // It moved to another process meanwhile: its connections are there.
        return None;
    }
    let mut changed = false;
    for (index, connections) in emitter.signals.iter().enumerate() {
        if signal != EVERY_SIGNAL && usize::from(signal) != index {
            continue;
        }
        let mut list = ConnectionList::clone(&connections.list.load());
        if clear(&mut list) {
            connections.replace(Arc::new(list));
            changed = true;
        }
    }
    Some(changed)
}

/// An object of this process moves to a loop of another process: `send`
/// writes its connections for that process (with the object), and they
/// end here; from then on they live there (`emit_home`), and emissions
/// here go there, behind the object. Under the writers' lock, so that a
/// change either is in what is sent or finds them gone (see
/// [`apply_here`]). Nothing changes if `send` fails.
pub(crate) fn hand_over<E>(
    object: &ObjectShared,
    to: &Arc<LoopPeer>,
    send: impl FnOnce(&ObjectShared) -> Result<(), E>,
) -> Result<(), E> {
    let _guard = writers();
    send(object)?;
    object.emit_home.store(Some(to.clone()));
    let forward = Arc::new(ConnectionList {
        forward: true,
        ..ConnectionList::default()
    });
    for connections in &object.signals {
        connections.replace(forward.clone());
    }
    Ok(())
}

/// How many receivers `list` names (broadcast subscribers aside).
pub(crate) fn receiver_count(list: &ConnectionList) -> usize {
    list.fan_out
        .iter()
        .map(|destination| destination.header.receivers.len())
        .sum::<usize>()
        + list.balanced.len()
        + list.latest.len()
        + list.once.len()
}

/// How many receivers signal `signal` of `emitter` has (every signal's
/// together for [`EVERY_SIGNAL`]).
pub(crate) fn receivers_of(emitter: &ObjectShared, signal: u16) -> usize {
    emitter
        .signals
        .iter()
        .enumerate()
        .filter(|(index, _)| signal == EVERY_SIGNAL || *index == usize::from(signal))
        .map(|(_, connections)| receiver_count(&connections.list.load()))
        .sum()
}

/// The connections of every signal of `emitter`, by index.
pub(crate) fn snapshot(emitter: &ObjectShared) -> impl Iterator<Item = (u16, Arc<ConnectionList>)> {
    emitter
        .signals
        .iter()
        .enumerate()
        .map(|(index, connections)| {
            (
                u16::try_from(index).unwrap_or(u16::MAX),
                connections.list.load_full(),
            )
        })
}

/// Applies a connection change that another process asked for, to the
/// emitter `emitter` of the loop `emitter_loop` of this process, for
/// receivers on the loop `receiver_loop`. Returns whether it changed
/// anything.
pub(crate) fn apply_requested(
    emitter_loop: &str,
    emitter: &str,
    signal: u16,
    receiver_loop: &str,
    change: Change,
) -> Result<bool, String> {
    let object = crate::registry::registry().find_object(emitter_loop, emitter);
    let peer = crate::transport::routes::find_loop(receiver_loop);
    let object = object
        .filter(|object| !object.shared.detached.load(Ordering::Acquire))
        .ok_or_else(|| format!("no object `{emitter}` on event loop `{emitter_loop}`"))?;
    let peer = peer.ok_or_else(|| format!("event loop `{receiver_loop}` is not known here"))?;
    if signal != EVERY_SIGNAL && object.shared.signals.get(usize::from(signal)).is_none() {
        return Err(format!("`{emitter}` has no signal #{signal}"));
    }
    Ok(apply(&object.shared, signal, &peer, change))
}

/// An object was detached: its own connections end (it emits nothing
/// more), and so do those of the emitters of this process to it.
pub(crate) fn forget_object(
    object: &ObjectShared,
    peer: &Arc<LoopPeer>,
    emitters: impl Iterator<Item = Arc<ObjectShared>>,
) {
    let _guard = writers();
    for connections in &object.signals {
        connections.replace(Arc::default());
    }
    let gone = |receiver: &ReceiverRef| {
        receiver.object == object.id
            && (receiver.instance == object.instance || receiver.instance == 0)
    };
    for emitter in emitters {
        for (index, connections) in emitter.signals.iter().enumerate() {
            let current = connections.list.load();
            let names_it = |destination: &Destination| {
                Arc::ptr_eq(&destination.peer, peer)
                    && destination.header.receivers.iter().any(gone)
            };
            if !current.fan_out.iter().any(names_it)
                && !current.balanced.iter().any(names_it)
                && !current
                    .latest
                    .iter()
                    .any(|latest| names_it(&latest.destination))
                && !current.once.iter().any(|once| names_it(&once.destination))
            {
                continue;
            }
            let mut list = ConnectionList::clone(&current);
            list.balanced.retain(|destination| !names_it(destination));
            list.latest.retain(|latest| !names_it(&latest.destination));
            list.once.retain(|once| !names_it(&once.destination));
            let name = emitter.signal_name(u16::try_from(index).unwrap_or(u16::MAX));
            let header = |receivers: Vec<ReceiverRef>, broadcast: bool| {
                Arc::new(Header {
                    emitter: Some(EmitterName::of(&emitter)),
                    signal: name,
                    receivers: receivers.into(),
                    broadcast,
                    latest: false,
                    request: None,
                })
            };
            edit_destination(&mut list.fan_out, peer, name, header, |receivers, _| {
                receivers.retain(|receiver| !gone(receiver));
                true
            });
            connections.replace(Arc::new(list));
        }
    }
}

/// An object of this process moves from the loop `from` to the loop `to`:
/// the connections of `emitters` to it follow it, and its own connections
/// name it there. Returns once every emission that took a connection
/// before the change has been queued (so that what is queued to `from`
/// after this comes after all of it).
pub(crate) fn repoint(
    object: &Arc<ObjectShared>,
    from: &Arc<LoopPeer>,
    to: &Arc<LoopPeer>,
    rename: bool,
    emitters: impl Iterator<Item = Arc<ObjectShared>>,
) {
    let is_it = |receiver: &ReceiverRef| {
        receiver.object == object.id
            && (receiver.instance == object.instance || receiver.instance == 0)
    };
    let mut touched = Vec::new();
    {
        let _guard = writers();
        for emitter in emitters {
            let renamed = rename && Arc::ptr_eq(&emitter, object);
            for (index, connections) in emitter.signals.iter().enumerate() {
                let current = connections.list.load_full();
                let names_it = |destination: &Destination| {
                    Arc::ptr_eq(&destination.peer, from)
                        && destination.header.receivers.iter().any(is_it)
                };
                let moving = current.fan_out.iter().any(names_it)
                    || current.balanced.iter().any(names_it)
                    || current
                        .latest
                        .iter()
                        .any(|latest| names_it(&latest.destination))
                    || current.once.iter().any(|once| names_it(&once.destination));
                if !moving && !renamed {
                    continue;
                }
                let mut list = ConnectionList::clone(&current);
                let emitter_name = EmitterName::of(&emitter);
                let header = |key: &'static str| {
                    let emitter_name = emitter_name.clone();
                    move |receivers: Vec<ReceiverRef>, broadcast: bool| {
                        Arc::new(Header {
                            emitter: Some(emitter_name),
                            signal: key,
                            receivers: receivers.into(),
                            broadcast,
                            latest: false,
                            request: None,
                        })
                    }
                };
                // One-receiver destinations: to the new loop.
                for destination in list
                    .balanced
                    .iter_mut()
                    .chain(list.latest.iter_mut().map(|latest| &mut latest.destination))
                    .chain(list.once.iter_mut().map(|once| &mut once.destination))
                {
                    if names_it(destination) {
                        destination.peer = to.clone();
                    }
                }
                // Fan-out: its receivers leave the old loop's destination
                // for the new loop's, under the same name.
                let moved: Vec<(&'static str, Vec<ReceiverRef>)> = current
                    .fan_out
                    .iter()
                    .filter(|destination| names_it(destination))
                    .map(|destination| {
                        (
                            destination.header.signal,
                            destination
                                .header
                                .receivers
                                .iter()
                                .filter(|receiver| is_it(receiver))
                                .cloned()
                                .collect(),
                        )
                    })
                    .collect();
                for (key, receivers) in moved {
                    edit_destination(&mut list.fan_out, from, key, header(key), |kept, _| {
                        kept.retain(|receiver| !is_it(receiver));
                        true
                    });
                    edit_destination(&mut list.fan_out, to, key, header(key), |joined, _| {
                        joined.extend(receivers);
                        true
                    });
                }
                if renamed {
                    // Its own emissions name the loop it lives on now.
                    let rename = |header: &Arc<Header>| {
                        Arc::new(Header {
                            emitter: Some(emitter_name.clone()),
                            signal: header.signal,
                            receivers: header.receivers.clone(),
                            broadcast: header.broadcast,
                            latest: header.latest,
                            request: None,
                        })
                    };
                    for destination in list
                        .fan_out
                        .iter_mut()
                        .chain(list.balanced.iter_mut())
                        .chain(list.latest.iter_mut().map(|latest| &mut latest.destination))
                        .chain(list.once.iter_mut().map(|once| &mut once.destination))
                    {
                        destination.header = rename(&destination.header);
                    }
                }
                connections.replace(Arc::new(list));
                touched.push((emitter.clone(), index));
            }
        }
    }
    // The grace period: an emission holds its snapshot of the connections
    // while it delivers; once every list replaced so far is let go, every
    // emission that took one has queued what it sent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for (emitter, index) in touched {
        let connections = &emitter.signals[index];
        while !connections.settled() {
            if std::time::Instant::now() >= deadline {
                tracing::warn!(
                    object = %object.id,
                    emitter = %emitter.id,
                    "an emission held the connections of `{}` for 5 s while `{}` moved: what it \
                     sent may arrive after what was sent since",
                    emitter.id,
                    object.id
                );
                break;
            }
            std::thread::yield_now();
        }
    }
}

/// Edits the receivers of `peer`'s destination under the name `key` (the
/// signal's own, or a topic's that it is published under), creating it if
/// needed and removing it if it ends up empty.
fn edit_destination(
    destinations: &mut Vec<Destination>,
    peer: &Arc<LoopPeer>,
    key: &'static str,
    header: impl FnOnce(Vec<ReceiverRef>, bool) -> Arc<Header>,
    edit: impl FnOnce(&mut Vec<ReceiverRef>, &mut bool) -> bool,
) -> bool {
    let position = destinations.iter().position(|destination| {
        Arc::ptr_eq(&destination.peer, peer) && destination.header.signal == key
    });
    let (mut receivers, mut broadcast) = match position {
        Some(index) => (
            destinations[index].header.receivers.to_vec(),
            destinations[index].header.broadcast,
        ),
        None => (Vec::new(), false),
    };
    let changed = edit(&mut receivers, &mut broadcast);
    if !changed {
        return false;
    }
    let empty = receivers.is_empty() && !broadcast;
    let destination = Destination {
        peer: peer.clone(),
        header: header(receivers, broadcast),
    };
    match (position, empty) {
        (Some(index), true) => {
            destinations.remove(index);
        }
        (Some(index), false) => destinations[index] = destination,
        (None, false) => destinations.push(destination),
        (None, true) => {}
    }
    true
}

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
            peer.forward_emit(emitter, index, make_args());
            return;
        }
    } else if let Home::Loop(peer) = &emitter.home
        && peer.is_remote()
    {
        // The connections live with the object, in its own process.
        peer.forward_emit(emitter, index, make_args());
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
            peer.forward_emit(emitter, index, make_args());
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
    let mut args = Some(make_args());
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
            destination.peer.drops().record_envelope(&envelope, reason);
        }
    }
    for (position, latest) in list.latest.iter().enumerate() {
        deliver_latest(latest, take_args(fan_out + position));
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
            destination.peer.drops().record_envelope(&envelope, reason);
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
fn deliver_latest(latest: &LatestDestination, mut args: Args) {
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
        destination
            .peer
            .drops()
            .record(older as u64, DropReason::Replaced, describe);
    }
    match destination
        .peer
        .deliver_latest(&latest.mailbox, &destination.header, args)
    {
        Ok(None) => {}
        Ok(Some(replaced)) => {
            let count = replaced.count() as u64;
            destination
                .peer
                .drops()
                .record(count, DropReason::Replaced, describe);
        }
        Err((envelope, reason)) => destination.peer.drops().record_envelope(&envelope, reason),
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
        destination.peer.drops().record_envelope(&envelope, reason);
    }
}

/// The outcome of a delivery attempt that failed.
pub(crate) type DeliveryError = (SignalEnvelope, DropReason);
