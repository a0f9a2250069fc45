//! A connection change made where the emitter's connections live: in this
//! process, or in the process of the emitter's loop, which applies it in
//! order with what it receives and answers; and the check, across the
//! network, that both sides see the same signature.

use super::*;

/// Applies `change` to signal `index` of `emitter` (every signal for
/// [`EVERY_SIGNAL`](connection::EVERY_SIGNAL)), for receivers on `peer`,
/// where the emitter's connections live: here, or in the process of its
/// loop (where the change is applied in order with what that process
/// receives; it reports "not connected" itself).
pub(crate) fn change(
    emitter: &ObjectHandle,
    index: u16,
    peer: &Arc<LoopPeer>,
    change: Change,
) -> Result<bool, Error> {
    if let Some(home) = emitter.shared.remote_home() {
        let command = Command::Connection {
            emitter: emitter.shared.id.clone(),
            signal: index,
            event_loop: peer.name_arc().clone(),
            change,
        };
        return ask_home(emitter, &home, |control| {
            control.connection(home.name(), command, CONNECT_TIMEOUT)
        });
    }
    match connection::apply_here(&emitter.shared, index, peer, change) {
        Ok(changed) => Ok(changed),
        // It moved to another process meanwhile: its connections are there.
        Err(change) => self::change(emitter, index, peer, change),
    }
}

/// Ends every connection of signal `index` of `emitter` (of every signal
/// for [`EVERY_SIGNAL`](connection::EVERY_SIGNAL)), where they live.
pub(crate) fn disconnect_all(emitter: &ObjectHandle, index: u16) -> Result<bool, Error> {
    match emitter.shared.remote_home() {
        Some(home) => change(emitter, index, &home, Change::DisconnectAll),
        None => match connection::disconnect_all(&emitter.shared, index) {
            Some(changed) => Ok(changed),
            None => disconnect_all(emitter, index),
        },
    }
}

/// How many receivers signal `index` of `emitter` (every signal for
/// [`EVERY_SIGNAL`](connection::EVERY_SIGNAL)) has, where its connections
/// live.
pub(crate) fn receivers(emitter: &ObjectHandle, index: u16) -> Result<usize, Error> {
    match emitter.shared.remote_home() {
        Some(home) => ask_home(emitter, &home, |control| {
            control.receivers(home.name(), emitter.id(), index)
        }),
        None => Ok(connection::receivers_of(&emitter.shared, index)),
    }
}

/// Asks the agent of `home`, the loop of another process where the
/// connections of `emitter` live; a failure names both.
fn ask_home<T>(
    emitter: &ObjectHandle,
    home: &LoopPeer,
    ask: impl FnOnce(&dyn Control) -> Result<T, String>,
) -> Result<T, Error> {
    let failed = |message: String| Error::Connection {
        emitter: emitter.id().to_owned(),
        loop_name: home.name().to_owned(),
        message,
    };
    let control = home
        .control()
        .ok_or_else(|| failed("its process cannot be reached".to_owned()))?;
    ask(&*control).map_err(failed)
}

impl<A> Signal<'_, A> {
    /// Across the network, the signal and the receiver must take the same
    /// types as their programs see them as in this one (the compiler
    /// checked this program's view only).
    pub(super) fn check_signatures(
        &self,
        target: &ObjectHandle,
        slot: u16,
        peer: &Arc<LoopPeer>,
    ) -> Result<(), Error> {
        if peer.on_network() {
            let receiving = if slot & slot::RELAY != 0 {
                (true, slot & !slot::RELAY)
            } else {
                (false, slot)
            };
            same_signature(peer, target, receiving)?;
        }
        if let Some(home) = self
            .emitter
            .shared
            .remote_home()
            .filter(|home| home.on_network())
        {
            same_signature(&home, self.emitter, (true, self.index))?;
        }
        Ok(())
    }
}

/// Compares what signal or slot `index` of `object` takes here with what
/// it takes in the program of `peer`, its loop.
fn same_signature(
    peer: &LoopPeer,
    object: &ObjectHandle,
    (signal, index): (bool, u16),
) -> Result<(), Error> {
    let name = if signal {
        object.shared.signal_name(index)
    } else {
        object.slot_name(index)
    };
    let what = format!("{}.{name}", object.id());
    let failed = |message: String| Error::Connection {
        emitter: object.id().to_owned(),
        loop_name: peer.name().to_owned(),
        message,
    };
    let Some(control) = peer.control() else {
        return Ok(());
    };
    let there = control
        .signature(peer.name(), object.id(), signal, index)
        .map_err(failed)?;
    let here = (object.shared.signature)(signal, index);
    match (here, there) {
        (Some(here), Some(there)) if here.fingerprint != there.fingerprint => {
            Err(Error::Signature {
                what,
                loop_name: peer.name().to_owned(),
                here: format!("`{}` (shape {:016x})", here.types, here.fingerprint),
                there: format!("`{}` (shape {:016x})", there.types, there.fingerprint),
            })
        }
        _ => Ok(()),
    }
}
