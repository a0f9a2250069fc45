//! An object arriving on a loop (the last steps of a move, see
//! `relocate`): attached, with its timer, tight loop and subscriptions,
//! then what was kept aside for it delivered in order; and what still comes
//! for an object that moved on, forwarded.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::call::{ReplyRoute, RequestGuard};
use crate::connection::{EmitterName, Header, ReceiverRef};
use crate::context::Sender;
use crate::payload::Args;
use crate::transport::{DropReason, SignalEnvelope};

use super::dispatch::Payloads;
use super::move_to::{Arrival, Arriving};
use super::{EventLoop, Resident};

impl EventLoop {
    /// On the new loop: an object from a loop of another process.
    pub(super) fn arrive_from_process(&mut self, transfer: &[u8], connections: &[u8]) {
        let revived = crate::codec::from_slice::<crate::travel::ObjectTransfer>(transfer).and_then(
            |transfer| {
                let object = crate::travel::revive_object(&transfer, self.handle.peer().clone())?;
                // The shared buffers in its state were leased to this
                // process for the journey; the object holds its own.
                crate::pool::end_leases_in(&transfer.state);
                Ok(object)
            },
        );
        let object = match revived {
            Ok(object) => object,
            Err(why) => {
                tracing::error!(
                    event_loop = self.handle.name(),
                    "event loop `{}`: an object from another process cannot be revived: {why}",
                    self.handle.name()
                );
                // What was kept for it goes, counted.
                if let Ok(transfer) =
                    crate::codec::from_slice::<crate::travel::ObjectTransfer>(transfer)
                    && let Some(arriving) = self.arriving.remove(transfer.id.as_str())
                {
                    self.drop_stash(&transfer.id, transfer.instance, arriving.stash);
                }
                return;
            }
        };
        if let Err(why) = super::pack::restore_connections(self.handle.name(), connections) {
            tracing::error!(
                event_loop = self.handle.name(),
                object = object.handle().id(),
                "event loop `{}`: the connections of `{}` cannot be restored: {why}",
                self.handle.name(),
                object.handle().id()
            );
        }
        self.arrive(Arrival {
            resident: Resident::new(object),
            timer: None,
            tight_loop: None,
            subscriptions: Vec::new(),
        });
    }

    /// On the new loop: the object, then what came for it meanwhile.
    pub(super) fn arrive(&mut self, arrival: Arrival) {
        let Arrival {
            resident,
            timer,
            tight_loop,
            subscriptions,
        } = arrival;
        let id = resident.shared.id.clone();
        let instance = resident.instance;
        resident.shared.moving.store(false, Ordering::Release);
        self.detached.remove(&id);
        self.moved_out.remove(&id);
        self.objects.insert(id.clone(), resident);
        if let Some(timer) = timer {
            self.state.timers.resume(timer);
        }
        if let Some(tight_loop) = tight_loop {
            self.state.tight_loops.insert(id.clone(), tight_loop);
        }
        if !subscriptions.is_empty() {
            for (name, receiver) in subscriptions {
                let mut receivers = self
                    .state
                    .subscribers
                    .get(&name)
                    .map(|list| list.to_vec())
                    .unwrap_or_default();
                receivers.push(receiver);
                self.state.subscribers.insert(name, receivers.into());
            }
            self.report_subscriptions();
        }
        let Some(arriving) = self
            .arriving
            .remove(&id)
            .filter(|arriving| arriving.instance == instance)
        else {
            return;
        };
        let Arriving {
            mut stash,
            detach_at,
            ..
        } = arriving;
        let after_detach = detach_at.map(|at| stash.split_off(at.min(stash.len())));
        for envelope in stash {
            self.dispatch_local(envelope);
        }
        if let Some(rest) = after_detach {
            self.detach_object(id.clone(), instance);
            // Detached: what came after goes quietly, as for any detached
            // object.
            self.drop_user_values(rest);
        }
    }

    /// Drops what was kept for an object that does not come, counted.
    pub(super) fn drop_stash(&self, id: &str, _instance: u64, stash: Vec<SignalEnvelope>) {
        for envelope in stash {
            self.handle
                .peer()
                .drops()
                .record_envelope(&envelope, DropReason::Gone);
            self.drop_user_values(envelope);
        }
        tracing::debug!(
            event_loop = self.handle.name(),
            object = id,
            "an object on its way here did not come"
        );
    }

    /// A detachment of an object on its way here: it is detached on
    /// arrival, after what came before the detachment. True if it was one.
    pub(super) fn detach_on_arrival(&mut self, id: &str, instance: u64) -> bool {
        match self
            .arriving
            .get_mut(id)
            .filter(|arriving| instance == 0 || arriving.instance == instance)
        {
            Some(arriving) => {
                arriving.detach_at.get_or_insert(arriving.stash.len());
                true
            }
            None => false,
        }
    }

    /// True if what comes for `object_id` (that instance, or any if 0),
    /// which is not here, is to be kept for it (it is on its way here) or
    /// forwarded (it moved on from here).
    pub(super) fn redirects(&self, object_id: &str, instance: u64) -> bool {
        let matches = |expected: u64| instance == 0 || instance == expected;
        match self.arriving.get(object_id) {
            Some(arriving) => matches(arriving.instance),
            None => self
                .moved_out
                .get(object_id)
                .is_some_and(|(moved, _)| matches(*moved)),
        }
    }

    /// Keeps for `object_id` (on its way here), or forwards to it (moved on
    /// from here), the whole batch of `payloads`, as if sent to its slot
    /// `slot` alone. A call's request goes with it (`request` here is let
    /// go: the new one answers). Only when [`redirects`](Self::redirects)
    /// says so.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn redirect(
        &mut self,
        object_id: &str,
        slot: u16,
        instance: u64,
        sender: Option<Sender<'_>>,
        signal: &str,
        reply: Option<ReplyRoute>,
        request: Option<&RequestGuard>,
        payloads: &Payloads<'_>,
    ) {
        let receiver = ReceiverRef {
            object: object_id.into(),
            slot,
            instance,
            lease: None,
        };
        let envelope = SignalEnvelope {
            header: Arc::new(Header::new(
                sender.map(|sender| EmitterName {
                    id: sender.id.into(),
                    loop_name: sender.loop_name.map(Into::into),
                    instance: sender.instance,
                }),
                // Under the writers' lock, which a fork holds: the names'
                // table is never inherited locked.
                {
                    let _writers = crate::connection::writers();
                    crate::connection::intern(signal)
                },
                Box::new([receiver]),
                false,
                false,
                reply.map(RequestGuard::new),
            )),
            args: payloads.batch(),
        };
        if let Some(request) = request {
            request.forwarded();
        }
        if let Some(arriving) = self.arriving.get_mut(object_id) {
            arriving.stash.push(envelope);
        } else if let Some((_, to)) = self.moved_out.get(object_id)
            && let Err((envelope, reason)) = to.deliver(envelope)
        {
            to.drops().record_envelope(&envelope, reason);
        }
    }
}

impl Payloads<'_> {
    /// The whole batch, for another delivery: cloned from this process's
    /// values, or the bytes from another process's (holding the shared
    /// buffers they name).
    fn batch(&self) -> Args {
        match self {
            Payloads::Local(args) => args.clone_args(),
            Payloads::Encoded { items, .. } => Args::encoded(
                items.iter().map(|item| item.to_vec()).collect(),
                crate::pool::Held::of(items.iter().copied()),
            ),
        }
    }
}
