//! Changes to connection lists: connect, disconnect, broadcast, and what an
//! object's moves and ends do to the lists that name it. Every change copies
//! a list, edits the copy and swaps it in, under the writers' lock.

use super::*;

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
            Arc::new(Header::connection(
                EmitterName::of(emitter),
                key,
                receivers.into(),
                broadcast,
                false,
            ))
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
                        header: Arc::new(Header::connection(
                            EmitterName::of(emitter),
                            name,
                            Box::new([receiver]),
                            false,
                            true,
                        )),
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
            destination.header = Arc::new(match header.emitter.clone() {
                Some(emitter) => {
                    Header::connection(emitter, header.signal, Box::new([]), true, false)
                }
                None => Header::new(None, header.signal, Box::new([]), true, false, None),
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
    let object = crate::transport::registry::registry().find_object(emitter_loop, emitter);
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
                Arc::new(Header::connection(
                    EmitterName::of(&emitter),
                    name,
                    receivers.into(),
                    broadcast,
                    false,
                ))
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
                        Arc::new(Header::connection(
                            emitter_name,
                            key,
                            receivers.into(),
                            broadcast,
                            false,
                        ))
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
                        Arc::new(Header::connection(
                            emitter_name.clone(),
                            header.signal,
                            header.receivers.clone(),
                            header.broadcast,
                            header.latest,
                        ))
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
