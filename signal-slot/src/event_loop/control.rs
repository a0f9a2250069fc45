//! Changes to the loop's objects, applied in order with its signals:
//! attachment, detachment, subscriptions, and connection changes that other
//! processes ask for (an emitter's connections live where it lives).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::command::Command;
use crate::connection::{self, ReceiverRef};
use crate::event_loop::hand_back::KeepRequest;
use crate::object::{ErasedObject, ObjectShared};
use crate::transport::registry::registry;

use super::{EventLoop, Resident};
use crate::util::panic_message;

impl EventLoop {
    pub(super) fn attach(&mut self, object: Box<dyn ErasedObject>) {
        let id = object.handle().shared.id.clone();
        self.detached.remove(&id);
        self.objects.insert(id, Resident::new(object));
    }

    /// Hands the object of `request` back when it leaves the loop.
    pub(super) fn keep(&mut self, request: KeepRequest) {
        let resident = self
            .objects
            .get_mut(&request.object)
            .filter(|resident| request.instance == 0 || resident.instance == request.instance);
        match resident {
            Some(resident) => {
                if let Some(earlier) = resident.keep.replace(request.to) {
                    earlier.refuse("it was asked for again; the later request gets it");
                }
            }
            None => request
                .to
                .refuse("it is not attached to the loop (it was detached before it was asked for)"),
        }
    }

    pub(super) fn apply_command(&mut self, command: Command) {
        match command {
            Command::Connection {
                emitter,
                signal,
                event_loop,
                change,
            } => {
                let requested = connection::apply_requested(
                    self.handle.name(),
                    &emitter,
                    signal,
                    &event_loop,
                    change,
                );
                if let Err(error) = requested {
                    tracing::error!(
                        event_loop = self.handle.name(),
                        "event loop `{}`: a connection change asked for by another process \
                         failed: {error}",
                        self.handle.name()
                    );
                }
            }
            Command::Detach { object, instance } => self.detach_object(object, instance),
            Command::Expect {
                object,
                instance,
                on,
            } => self.relocate(if on {
                super::Relocation::Expect { object, instance }
            } else {
                super::Relocation::Cancel { object, instance }
            }),
            Command::Arrive {
                transfer,
                connections,
            } => self.arrive_from_process(&transfer, &connections),
            Command::Block {
                object,
                instance,
                on,
            } => {
                if let Some(shared) = self.local_object(&object, instance) {
                    shared.count_block(on);
                }
            }
            Command::Keep {
                object,
                instance,
                route,
            } => self.keep(KeepRequest {
                object,
                instance,
                to: Box::new(crate::event_loop::hand_back::StateBack { route }),
            }),
            Command::Subscribe {
                signal,
                receiver,
                on,
            } => self.subscribe(signal, receiver, on),
        }
    }

    pub(super) fn detach_object(&mut self, id: Arc<str>, instance: u64) {
        let Some(shared) = self.local_object(&id, instance) else {
            // On its way here: detached once it comes.
            self.detach_on_arrival(&id, instance);
            return;
        };
        let resident = self.objects.remove(&id);
        shared.detached.store(true, Ordering::Release);
        connection::emit_destroyed(&shared);
        let emitters = registry().live_objects();
        connection::forget_object(&shared, self.handle.peer(), emitters.into_iter());
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| resident.map(Resident::leave))) {
            tracing::error!(
                event_loop = self.handle.name(),
                object = %id,
                "event loop `{}`: dropping the detached object `{id}` panicked: {}",
                self.handle.name(),
                panic_message(&*panic)
            );
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
        self.report_subscriptions();
        self.detached.insert(id);
    }

    fn subscribe(&mut self, signal: Arc<str>, receiver: ReceiverRef, on: bool) {
        let current = self.state.subscribers.get(&signal);
        let mut receivers: Vec<ReceiverRef> = current.map(|list| list.to_vec()).unwrap_or_default();
        let present = receivers.iter().any(|existing| existing.matches(&receiver));
        match (on, present) {
            (true, false) => receivers.push(receiver),
            (false, true) => receivers.retain(|existing| !existing.matches(&receiver)),
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
        self.report_subscriptions();
    }

    /// Tells the registry the loop's subscriptions, for the topology.
    pub(super) fn report_subscriptions(&self) {
        let mut list = Vec::new();
        for (name, receivers) in &self.state.subscribers {
            for receiver in receivers.iter() {
                let slot = self.objects.get(&receiver.object).map_or_else(
                    || format!("#{}", receiver.slot),
                    |resident| resident.object.handle().slot_name(receiver.slot).to_owned(),
                );
                list.push(crate::topology::info::SubscriptionInfo {
                    name: name.to_string(),
                    object: receiver.object.to_string(),
                    slot,
                });
            }
        }
        list.sort_by(|a, b| (&a.name, &a.object, &a.slot).cmp(&(&b.name, &b.object, &b.slot)));
        registry().set_subscriptions(self.handle.peer().name_arc(), list);
    }

    /// An object of this loop, named by another process with its
    /// instance (0: whichever has the id).
    pub(super) fn local_object(&self, id: &str, instance: u64) -> Option<Arc<ObjectShared>> {
        self.objects
            .get(id)
            .filter(|resident| instance == 0 || resident.instance == instance)
            .map(|resident| resident.object.handle().shared.clone())
    }
}
