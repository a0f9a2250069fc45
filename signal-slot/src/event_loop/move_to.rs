//! An object moving from a loop of this process to another loop (Qt's
//! `moveToThread`), here or in another process, with its connections, in
//! order.
//!
//! The protocol, for an object moving from loop X to loop Y:
//!
//! 1. The mover tells Y to expect it (`Expect`, in Y's queue), reserves
//!    its id on Y, and makes Y its home: from then on what is sent to it
//!    goes to Y, which keeps it aside until the object comes.
//! 2. The connections of this process's emitters to it are re-pointed from
//!    X to Y; once every emission that took the old connections has been
//!    queued (a grace period: their snapshots are let go), the mover tells
//!    X (`Out`, in X's queue, behind all of them).
//! 3. X delivers what was queued before, then hands the object over (`In`,
//!    with its timer, tight loop and subscriptions; to a loop of another
//!    process, an `Arrive` command with its state and the connections of
//!    its signals, which live there from then on) and forwards to Y what
//!    still comes for it (from other processes, whose connections name X).
//! 4. Y attaches it, then delivers what it kept aside, in order.
//!
//! So what was queued before the move is delivered before what comes
//! after, per emitter, and nothing is lost or delivered twice.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::clock::{Fire, MovingTimer};
use crate::command::Command;
use crate::connection::ReceiverRef;
use crate::error::Error;
use crate::object::ObjectHandle;
use crate::transport::registry::registry;
use crate::transport::{DropReason, LoopPeer, SignalEnvelope};

use super::{EventLoop, Local, Resident};

/// What travels between the loops of a move.
pub(crate) enum Relocation {
    /// To the new loop: an object is on its way; keep what comes for it.
    Expect { object: Arc<str>, instance: u64 },
    /// To the old loop: hand the object over to `to`.
    Out {
        object: Arc<str>,
        instance: u64,
        to: Arc<LoopPeer>,
    },
    /// To the new loop: the object, and what ran for it on the old one.
    In(Box<Arrival>),
    /// To the new loop: the object will not come (it left the old loop
    /// before it could be handed over).
    Cancel { object: Arc<str>, instance: u64 },
}

/// An object handed over to its new loop.
pub(crate) struct Arrival {
    pub(super) resident: Resident,
    pub(super) timer: Option<MovingTimer>,
    pub(super) tight_loop: Option<Fire>,
    /// Its subscriptions on the old loop, by broadcast name.
    pub(super) subscriptions: Vec<(Arc<str>, ReceiverRef)>,
}

/// An object on its way to this loop: what came for it meanwhile.
pub(super) struct Arriving {
    pub(super) instance: u64,
    pub(super) stash: Vec<SignalEnvelope>,
    /// How much of the stash came before it was detached (if it was).
    pub(super) detach_at: Option<usize>,
}

impl ObjectHandle {
    /// Moves the object to another loop (Qt's `moveToThread`): its slots
    /// run there from then on, its connections (to and from it) follow it,
    /// its timer, tight loop and subscriptions too. What was queued to it
    /// before the move is delivered first (on the old loop), then what
    /// comes after (on the new one), in order per emitter: nothing is lost
    /// or delivered twice.
    ///
    /// The new loop may run in another process if the object's type can
    /// travel (`Serialize` and `Deserialize`, as for the spawn start
    /// method): its state goes there once the old loop delivered what was
    /// queued to it, with the connections of its signals; this process's
    /// copy is dropped. A move is made in the object's own process (a slot
    /// of it may call `move_to`, to come back, say).
    ///
    /// Returns once the move is under way. Signals and slot invocations
    /// from other processes (whose connections and handles name the loop
    /// they knew) keep reaching it through that loop, which forwards them
    /// in order while it runs; other requests through such a handle
    /// (connecting its signals, detaching it) need a fresh handle, from
    /// [`LoopHandle::object`](crate::LoopHandle::object) on its new loop.
    /// A signal blocker does not move with it to another process.
    ///
    /// ```
    /// use signal_slot::{Context, EventLoop, EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Worker { seen: Vec<String> }
    ///
    /// #[event_loop_object]
    /// impl Worker {
    ///     #[slot]
    ///     fn work(&mut self, ctx: &mut Context<Self>, n: u64) {
    ///         let here = std::thread::current().name().unwrap_or("?").to_owned();
    ///         self.seen.push(format!("{n} on {here}"));
    ///         if n == 2 {
    ///             ctx.stop_loop();
    ///         }
    ///     }
    /// }
    ///
    /// let main = EventLoop::new("move_to_example_main")?;
    /// let mut other = EventLoopThread::new("move_to_example_other")?;
    /// let worker = main.add(Worker { seen: Vec::new() })?;
    /// // Asked of the loop it is on; handed back from wherever it ends.
    /// let kept = main.keep(&worker)?;
    /// worker.work().invoke(1)?;
    /// worker.move_to(&other)?;
    /// worker.work().invoke(2)?;
    /// other.start()?;
    /// let mut main = main;
    /// // Delivers `1` here, then hands the worker over.
    /// main.process_events();
    /// assert!(other.join()?.is_normal());
    /// assert_eq!(kept.take()?.seen, ["1 on main", "2 on move_to_example_other"]);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Move`] if the object lives in another process (or on an
    /// [`EventLoopProcess`](crate::EventLoopProcess)'s loop), if `to` is
    /// an `EventLoopProcess`'s loop that has not started, if `to` runs in
    /// another process and the object's type cannot travel, if it is a
    /// loop's own object, or is moving already;
    /// [`Error::DuplicateObjectId`] if `to` has an object of its id;
    /// [`Error::LoopEnded`] if either loop has ended;
    /// [`Error::ObjectNotFound`] if it was detached.
    pub fn move_to(&self, to: &crate::LoopHandle) -> Result<(), Error> {
        let refuse = |why: &str| Error::Move {
            id: self.id().to_owned(),
            message: why.to_owned(),
        };
        let from = self.peer().ok_or_else(|| refuse("it lives on no loop"))?;
        let to = to.peer().clone();
        if Arc::ptr_eq(&from, &to) {
            return Ok(());
        }
        if from.runs_elsewhere() {
            return Err(refuse(
                "it lives in another process (or on an `EventLoopProcess`'s loop): a move is made \
                 in the object's own process (a slot of it may call `move_to`)",
            ));
        }
        if to.on_network() {
            return Err(refuse(
                "that loop runs in another program, reached over the network: objects do not \
                 move there",
            ));
        }
        let remote = to.is_remote();
        if to.runs_elsewhere() && !remote {
            return Err(refuse(
                "that loop is an `EventLoopProcess`'s that has not started: add the object to it \
                 instead, or move it once the process runs",
            ));
        }
        if remote && leases_closures(&self.shared) {
            return Err(refuse(
                "a closure receives its signals, and closures stay in their process (disconnect \
                 them first)",
            ));
        }
        if self.shared.type_name == "closure" && self.shared.slot_names == ["closure"] {
            return Err(refuse(
                "a closure runs on the loop it was connected on (connect another one there)",
            ));
        }
        if remote && !self.shared.travels {
            return Err(refuse(
                "its type cannot travel to another process: it needs `Serialize` and \
                 `Deserialize` (and a closure never travels)",
            ));
        }
        if super::LoopHandle::own_object(&from).is_some_and(|own| Arc::ptr_eq(&own, &self.shared)) {
            return Err(refuse("a loop's own object stays with its loop"));
        }
        for peer in [&from, &to] {
            if peer.is_gone() {
                return Err(Error::LoopEnded(peer.name().to_owned()));
            }
        }
        if self.shared.detached.load(Ordering::Acquire) {
            return Err(Error::ObjectNotFound {
                loop_name: from.name().to_owned(),
                id: self.id().to_owned(),
            });
        }
        if self.shared.moving.swap(true, Ordering::AcqRel) {
            return Err(refuse("it is moving already"));
        }
        let object = self.shared.id.clone();
        let instance = self.shared.instance;
        let undo = |error: Error| {
            self.shared.moving.store(false, Ordering::Release);
            error
        };
        if remote {
            expect_elsewhere(&to, &object, instance).map_err(undo)?;
        } else {
            registry().attach_at(to.name_arc(), self).map_err(undo)?;
            let expect = Relocation::Expect {
                object: object.clone(),
                instance,
            };
            if let Err(error) = to.post(Local::relocation(expect)) {
                registry().detach(to.name_arc(), &object);
                return Err(undo(error));
            }
        }
        // From here, what is sent to it goes to its new loop.
        self.shared.moved.store(Some(to.clone()));
        self.shared.has_moved.store(true, Ordering::Release);

        let emitters = registry().live_objects();
        crate::connection::repoint(&self.shared, &from, &to, !remote, emitters.into_iter());
        let out = Relocation::Out {
            object: object.clone(),
            instance,
            to: to.clone(),
        };
        if let Err(error) = from.post(Local::relocation(out)) {
            // The old loop ended meanwhile, and the object with it.
            cancel(&to, object, instance);
            return Err(undo(error));
        }
        Ok(())
    }
}

/// Tells the loop `to` of another process that an object is on its way,
/// once its process said the id is free there.
fn expect_elsewhere(to: &Arc<LoopPeer>, object: &Arc<str>, instance: u64) -> Result<(), Error> {
    let address = to
        .address()
        .ok_or_else(|| Error::LoopEnded(to.name().to_owned()))?;
    match crate::transport::Control::lookup(&address.agent, to.name(), object) {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(Error::DuplicateObjectId {
                loop_name: to.name().to_owned(),
                id: object.to_string(),
            });
        }
        Err(message) => {
            return Err(Error::Move {
                id: object.to_string(),
                message,
            });
        }
    }
    to.send_command(Command::Expect {
        object: object.clone(),
        instance,
        on: true,
    })
}

/// True if a closure receives a signal of `object` (a closure never leaves
/// its process).
fn leases_closures(object: &crate::object::ObjectShared) -> bool {
    crate::connection::snapshot(object).any(|(_, list)| {
        let leased = |destination: &crate::connection::Destination| {
            destination
                .header
                .receivers
                .iter()
                .any(|receiver| receiver.lease.is_some())
        };
        list.fan_out.iter().any(leased)
            || list.balanced.iter().any(leased)
            || list.latest.iter().any(|latest| leased(&latest.destination))
            || list.once.iter().any(|once| leased(&once.destination))
    })
}

/// Tells the loop `to` that the object it expects will not come.
fn cancel(to: &Arc<LoopPeer>, object: Arc<str>, instance: u64) {
    let _ = if to.is_remote() {
        to.send_command(Command::Expect {
            object,
            instance,
            on: false,
        })
    } else {
        to.post(Local::relocation(Relocation::Cancel { object, instance }))
    };
}

impl EventLoop {
    pub(super) fn relocate(&mut self, relocation: Relocation) {
        match relocation {
            Relocation::Expect { object, instance } => {
                self.arriving.insert(
                    object,
                    Arriving {
                        instance,
                        stash: Vec::new(),
                        detach_at: None,
                    },
                );
            }
            Relocation::Out {
                object,
                instance,
                to,
            } => self.hand_over(object, instance, to),
            Relocation::In(arrival) => self.arrive(*arrival),
            Relocation::Cancel { object, instance } => {
                if let Some(arriving) = self.arriving.remove(&object) {
                    self.drop_stash(&object, instance, arriving.stash);
                }
                // The id it reserved here, and the connections that were
                // turned to it here, go.
                let name = self.handle.peer().name_arc().clone();
                let reserved = registry()
                    .find_object(&name, &object)
                    .filter(|handle| handle.shared.instance == instance)
                    .filter(|_| !self.objects.contains_key(&object));
                if let Some(handle) = reserved {
                    registry().detach(&name, &object);
                    let emitters = registry().live_objects();
                    crate::connection::forget_object(
                        &handle.shared,
                        self.handle.peer(),
                        emitters.into_iter(),
                    );
                }
            }
        }
    }

    /// What comes after the loop stopped: an object that arrives stays
    /// (it goes with the others), nothing is kept for it any more.
    pub(super) fn relocate_after_stop(&mut self, relocation: Relocation) {
        match relocation {
            Relocation::In(arrival) => {
                let id = arrival.resident.shared.id.clone();
                arrival
                    .resident
                    .shared
                    .moving
                    .store(false, Ordering::Release);
                if let Some(arriving) = self.arriving.remove(&id) {
                    for envelope in arriving.stash {
                        self.handle
                            .peer()
                            .drops()
                            .record_envelope(&envelope, DropReason::AfterStop);
                        self.drop_user_values(envelope);
                    }
                }
                self.objects.insert(id, arrival.resident);
            }
            Relocation::Out {
                object,
                instance,
                to,
            } => {
                // It stays, and goes with the others.
                if let Some(resident) = self.objects.get(&object) {
                    resident.shared.moving.store(false, Ordering::Release);
                }
                let _ = to.post(Local::relocation(Relocation::Cancel { object, instance }));
            }
            other @ (Relocation::Expect { .. } | Relocation::Cancel { .. }) => {
                self.relocate(other);
            }
        }
    }

    /// On the old loop: the object goes to `to`, with what ran for it here.
    fn hand_over(&mut self, id: Arc<str>, instance: u64, to: Arc<LoopPeer>) {
        let resident = self
            .objects
            .get(&id)
            .filter(|resident| resident.instance == instance)
            .is_some();
        if !resident {
            // Detached before it could go.
            cancel(&to, id, instance);
            return;
        }
        let Some(resident) = self.objects.remove(&id) else {
            return;
        };
        if to.is_remote() {
            self.hand_over_elsewhere(id, resident, to);
            return;
        }
        let timer = self.state.timers.take(&id);
        let tight_loop = self.state.tight_loops.remove(&id);
        let subscriptions = self.leave_here(&id, instance, &to);
        let arrival = Arrival {
            resident,
            timer,
            tight_loop,
            subscriptions,
        };
        // A new loop that ended drops the object in `post`: a `Drop` of
        // the user's that panics is contained.
        let posted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            to.post(Local::relocation(Relocation::In(Box::new(arrival))))
        }))
        .unwrap_or_else(|panic| {
            Err(Error::Move {
                id: id.to_string(),
                message: format!(
                    "dropping it panicked: {}",
                    crate::util::panic_message(&*panic)
                ),
            })
        });
        if let Err(error) = posted {
            tracing::warn!(
                event_loop = self.handle.name(),
                "event loop `{}`: an object could not move to `{}`: {error}",
                self.handle.name(),
                to.name()
            );
        }
    }

    /// What an object leaving for `to` leaves here: its subscriptions
    /// (given back, to take along), its id, and what still comes for it
    /// (forwarded).
    fn leave_here(
        &mut self,
        id: &Arc<str>,
        instance: u64,
        to: &Arc<LoopPeer>,
    ) -> Vec<(Arc<str>, ReceiverRef)> {
        let mut subscriptions = Vec::new();
        for (name, receivers) in self.state.subscribers.iter_mut() {
            if receivers.iter().any(|receiver| receiver.object == *id) {
                subscriptions.extend(
                    receivers
                        .iter()
                        .filter(|receiver| receiver.object == *id)
                        .map(|receiver| (name.clone(), receiver.clone())),
                );
                *receivers = receivers
                    .iter()
                    .filter(|receiver| receiver.object != *id)
                    .cloned()
                    .collect();
            }
        }
        self.state
            .subscribers
            .retain(|_, receivers| !receivers.is_empty());
        if !subscriptions.is_empty() {
            self.report_subscriptions();
        }
        let name = self.handle.peer().name_arc().clone();
        {
            let mut registry = registry();
            // Unless another object took the id here meanwhile.
            if registry
                .find_object(&name, id)
                .is_none_or(|object| object.shared.instance == instance)
            {
                registry.detach(&name, id);
            }
        }
        // Where nothing goes any more, nothing is forwarded.
        self.moved_out.retain(|_, (_, to)| !to.is_gone());
        self.moved_out.insert(id.clone(), (instance, to.clone()));
        subscriptions
    }

    /// On the old loop: the object goes to `to`, a loop of another
    /// process, as its state and its connections; this process's copy is
    /// dropped, and its handles reach it there.
    fn hand_over_elsewhere(&mut self, id: Arc<str>, resident: Resident, to: Arc<LoopPeer>) {
        let instance = resident.instance;
        let shared = resident.shared.clone();
        // A request to hand it back follows it, in the same record as the
        // object: the loop it goes to holds the request before the object
        // can do anything there (move on, say).
        let keep = resident.keep.as_ref().map(|keep| Command::Keep {
            object: id.clone(),
            instance,
            route: keep.route(),
        });
        // Its state, then (under the writers' lock) its connections and the
        // object go, and its emissions here follow them.
        let packed = resident.object.transfer().and_then(|transfer| {
            let transfer = crate::codec::to_vec(&transfer)?;
            if leases_closures(&shared) {
                return Err(
                    "a closure receives its signals, and closures stay in their process \
                            (disconnect them first)"
                        .to_owned(),
                );
            }
            crate::connection::hand_over(&shared, &to, |object| {
                let mut connections = Vec::new();
                super::pack::describe_connections(object, &mut connections)
                    .map_err(|error| error.to_string())?;
                let arrive = Command::Arrive {
                    transfer,
                    connections,
                };
                to.send_commands(std::iter::once(arrive).chain(keep).collect())
                    .map_err(|error| error.to_string())
            })
        });
        if let Err(why) = packed {
            // It stays: what was sent to it comes back here.
            tracing::error!(
                event_loop = self.handle.name(),
                object = %id,
                "event loop `{}`: `{id}` cannot move to `{}`: {why}; it stays here",
                self.handle.name(),
                to.name()
            );
            // Back where it was: the loop it moved to here (if it did),
            // or where it was made.
            let here = self.handle.peer().clone();
            let made_here =
                matches!(&shared.home, crate::object::Home::Loop(home) if Arc::ptr_eq(home, &here));
            if made_here {
                shared.has_moved.store(false, Ordering::Release);
                shared.moved.store(None);
            } else {
                shared.moved.store(Some(here));
            }
            let emitters = registry().live_objects();
            crate::connection::repoint(
                &shared,
                &to,
                self.handle.peer(),
                true,
                emitters.into_iter(),
            );
            self.objects.insert(id.clone(), resident);
            shared.moving.store(false, Ordering::Release);
            cancel(&to, id, instance);
            return;
        }
        self.state.timers.remove(&id);
        self.state.tight_loops.remove(&id);
        let subscriptions = self.leave_here(&id, instance, &to);
        for (name, receiver) in subscriptions {
            let _ = to.send_command(Command::Subscribe {
                signal: name,
                receiver,
                on: true,
            });
        }
        shared.moving.store(false, Ordering::Release);
        // The request went with the object: the loop it went to hands its
        // state back from wherever it ends. This end of it goes unanswered.
        let Resident { object, keep, .. } = resident;
        drop(keep);
        // Its state went on; this copy goes, as a parent's after a spawn.
        self.drop_user_values(object);
    }
}
