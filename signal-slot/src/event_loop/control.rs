//! Changes to the loop's objects, applied in order with its signals:
//! attachment, detachment, subscriptions, and connection changes that other
//! processes ask for (an emitter's connections live where it lives).

use std::sync::Arc;

use crate::command::Command;
use crate::connection::{self, Change, ReceiverRef};
use crate::object::{ErasedObject, ObjectShared};
use crate::registry::registry;

use super::EventLoop;

impl EventLoop {
    pub(super) fn attach(&mut self, object: Box<dyn ErasedObject>) {
        let id = object.handle().shared.id.clone();
        self.detached.remove(&id);
        self.objects.insert(id, object);
    }

    pub(super) fn apply_command(&mut self, command: Command) {
        match command {
            Command::Connection {
                emitter,
                signal,
                event_loop,
                change,
            } => self.change_connection(&emitter, signal, &event_loop, change),
            Command::Detach { object } => self.detach(object),
            Command::Subscribe {
                signal,
                receiver,
                on,
            } => self.subscribe(signal, receiver, on),
        }
    }

    fn detach(&mut self, id: Arc<str>) {
        if self.objects.remove(&id).is_none() {
            return;
        }
        self.state.timers.remove(&id);
        self.state.tight_loops.remove(&id);
        for receivers in self.state.subscribers.values_mut() {
            if receivers.iter().any(|receiver| receiver.object == id) {
                *receivers = receivers
                    .iter()
                    .filter(|receiver| receiver.object != id)
                    .cloned()
                    .collect();
            }
        }
        registry().detach(self.handle.peer().name_arc(), &id);
        self.detached.insert(id);
    }

    fn subscribe(&mut self, signal: Arc<str>, receiver: ReceiverRef, on: bool) {
        let current = self.state.subscribers.get(&signal);
        let mut receivers: Vec<ReceiverRef> = current.map(|list| list.to_vec()).unwrap_or_default();
        let present = receivers.contains(&receiver);
        match (on, present) {
            (true, false) => receivers.push(receiver),
            (false, true) => receivers.retain(|existing| *existing != receiver),
            (true, true) => return,
            (false, false) => {
                tracing::warn!(
                    event_loop = self.name(),
                    object = %receiver.object,
                    signal = %signal,
                    "unsubscribe: `{}` is not subscribed to `{signal}`",
                    receiver.object
                );
                return;
            }
        }
        if receivers.is_empty() {
            self.state.subscribers.remove(&signal);
        } else {
            self.state.subscribers.insert(signal, receivers.into());
        }
    }

    /// An object of this loop, named by another process.
    pub(super) fn local_object(&self, id: &str, what: &str) -> Option<Arc<ObjectShared>> {
        let found = self
            .objects
            .get(id)
            .map(|object| object.handle().shared.clone());
        if found.is_none() {
            tracing::warn!(
                event_loop = self.handle.name(),
                object = id,
                "event loop `{}`: cannot {what} on behalf of `{id}`: no such object here",
                self.handle.name(),
            );
        }
        found
    }

    /// A connection change asked for by another process for an emitter of
    /// this loop.
    fn change_connection(&self, emitter: &str, signal: u16, receiver_loop: &str, change: Change) {
        let Some(shared) = self.local_object(emitter, "change a connection") else {
            return;
        };
        if shared.signals.get(usize::from(signal)).is_none() {
            tracing::error!(
                event_loop = self.handle.name(),
                "`{emitter}` has no signal #{signal}: connection request ignored"
            );
            return;
        };
        let peer = registry().loops.get(receiver_loop).cloned();
        tracing::debug!(
            event_loop = self.handle.name(),
            emitter,
            signal,
            receiver_loop,
            known = peer.is_some(),
            "connection change requested by another process"
        );
        let Some(peer) = peer else {
            tracing::error!(
                event_loop = self.handle.name(),
                "cannot connect `{emitter}` to event loop `{receiver_loop}`: it is not known in \
                 this process"
            );
            return;
        };
        let unchanged_disconnect = match &change {
            Change::Disconnect(receiver) => Some(receiver.object.clone()),
            _ => None,
        };
        if !connection::apply(&shared, signal, &peer, change)
            && let Some(receiver) = unchanged_disconnect
        {
            tracing::warn!(
                event_loop = self.handle.name(),
                "disconnect: the signal `{}` of `{emitter}` is not connected to `{receiver}`",
                shared.signal_name(signal),
            );
        }
    }
}
