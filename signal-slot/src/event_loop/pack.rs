//! A loop packed for the process that runs it, and unpacked there.
//!
//! A forked child inherits the loop as it is. A child started by spawn
//! inherits nothing: the parent packs the loop ([`PackedLoop`]) — its
//! options, its objects (their state, which their type must be able to
//! serialize), the connections of their signals, and what was queued for
//! them, as wire frames — and the child unpacks it into a loop of its own,
//! with the same doorbell, the same instances and the same order.
//!
//! Either way, the parent's copies then go without ending the loop
//! ([`EventLoop::release_after_move`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec::Encoder;
use crate::command::Command;
use crate::connection::{self, Change, Delivery};
use crate::error::Error;
use crate::event_loop::hand_back::{KeepRequest, StateBack};
use crate::object::{ErasedObject, ObjectShared};
use crate::protocol::ReplyRoute;
use crate::transport::bell::Bell;
use crate::transport::registry::registry;
use crate::transport::{Envelope, LoopPeer, ProcessId, Route, encode_signal};
use crate::travel::{ObjectTransfer, revive_object};
use crate::wire::{self, Frame, Writer};

use super::{EventLoop, EventLoopBuilder, Local, LoopOptions, Phase};

/// A loop as it travels to a process started by spawn.
#[derive(Serialize, Deserialize)]
pub(crate) struct PackedLoop {
    options: LoopOptions,
    /// The instance of the loop's own object, which handles name.
    loop_instance: u64,
    /// The objects on the loop, then what was queued for it, in order.
    cargo: Vec<Cargo>,
    /// The connections of the signals of every object above, as
    /// `Command` frames.
    #[serde(with = "serde_bytes")]
    connections: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
enum Cargo {
    /// An object attached to the loop (or on its way to it).
    Object(ObjectTransfer),
    /// Queued signals and commands, as wire frames, with the number of
    /// signals they hold.
    Frames {
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        signals: u32,
    },
    /// A process of the tree ended.
    ProducerEnded(ProcessId),
    /// An object to hand back (its state, to the process and call named)
    /// when it leaves the loop.
    Keep {
        object: String,
        instance: u64,
        process: ProcessId,
        call: u64,
    },
}

/// Why a loop could not be packed: the object and what it lacks.
fn cannot_move(loop_name: &str, object: &dyn ErasedObject, why: &str) -> Error {
    let handle = object.handle();
    Error::Process {
        process: loop_name.to_owned(),
        message: format!(
            "object `{}` ({}) cannot travel to a process started by spawn: {why}",
            handle.id(),
            handle.type_name()
        ),
    }
}

impl EventLoop {
    /// Packs the loop to travel to a process started by spawn. Its queue
    /// is emptied into the pack and returned (to put back with
    /// [`requeue`](Self::requeue) if the child does not start, or to let go
    /// with the loop); if an object cannot travel, everything is put back
    /// as it was and the error names the object.
    ///
    /// Call once nothing of this process sends to the loop's queue any
    /// more (its route leads to the child's ring).
    ///
    /// Shared buffers in queued signals are leased to the child through
    /// `leases`.
    pub(crate) fn pack(
        &mut self,
        leases: &mut crate::pool::Leases,
    ) -> Result<(PackedLoop, Vec<Envelope>), Error> {
        let mut queued = Vec::new();
        while let Some(envelope) = self.inbox.try_recv() {
            queued.push(envelope);
        }
        self.forget_detached_arrivals(&mut queued);
        match leases.enter(|| self.pack_with(&queued)) {
            Ok(packed) => Ok((packed, queued)),
            Err(error) => {
                self.requeue(queued);
                Err(error)
            }
        }
    }

    /// Objects on their way to the loop that were detached before it ran
    /// (by `detach_now`, or a `detach` queued after them) do not travel:
    /// they go here, as if the loop had run the detach. So a spawn start
    /// refused for an object that cannot travel goes once it is detached.
    fn forget_detached_arrivals(&self, queued: &mut Vec<Envelope>) {
        let mut later_detaches: Vec<(Arc<str>, u64)> = Vec::new();
        let mut kept = Vec::with_capacity(queued.len());
        for envelope in queued.drain(..).rev() {
            let gone = match &envelope {
                Envelope::Command(Command::Detach { object, instance }) => {
                    later_detaches.push((object.clone(), *instance));
                    false
                }
                Envelope::Local(work) => match Local::of_ref(&**work) {
                    Some(Local::Attach(object)) => {
                        let shared = &object.handle().shared;
                        shared.detached.load(std::sync::atomic::Ordering::Acquire)
                            || later_detaches.iter().any(|(id, instance)| {
                                *id == shared.id && (*instance == 0 || *instance == shared.instance)
                            })
                    }
                    _ => false,
                },
                _ => false,
            };
            if gone {
                self.drop_user_values(envelope);
            } else {
                kept.push(envelope);
            }
        }
        kept.reverse();
        *queued = kept;
    }

    /// Puts back what [`pack`](Self::pack) took from the queue.
    pub(crate) fn requeue(&mut self, queued: Vec<Envelope>) {
        for envelope in queued {
            // Packed (and so disarmed) for a process that did not start.
            if let Envelope::Signal(signal) = &envelope
                && let Some(request) = &signal.header.request
            {
                request.rearm();
            }
            if let Err(envelope) = self.sender.send(envelope) {
                self.drop_user_values(envelope);
            }
        }
    }

    fn pack_with(&self, queued: &[Envelope]) -> Result<PackedLoop, Error> {
        let name = self.handle.name();
        let mut cargo = Vec::new();
        let mut movers: Vec<&Arc<ObjectShared>> = Vec::new();
        let mut own = Vec::new();
        let mut kept = Vec::new();
        for resident in self.objects.values() {
            let object = &*resident.object;
            movers.push(&object.handle().shared);
            if Arc::ptr_eq(&object.handle().shared, &self.handle.object.shared) {
                continue;
            }
            own.push(
                object
                    .transfer()
                    .map_err(|why| cannot_move(name, object, &why))?,
            );
            if let Some(keep) = &resident.keep {
                let route = keep.route();
                kept.push(Cargo::Keep {
                    object: object.handle().id().to_owned(),
                    instance: resident.instance,
                    process: route.process,
                    call: route.call,
                });
            }
        }
        cargo.extend(own.into_iter().map(Cargo::Object));
        cargo.extend(kept);
        let mut frames = Vec::new();
        let mut signals = 0u32;
        let flush = |cargo: &mut Vec<Cargo>, frames: &mut Vec<u8>, signals: &mut u32| {
            if !frames.is_empty() {
                cargo.push(Cargo::Frames {
                    bytes: std::mem::take(frames),
                    signals: std::mem::take(signals),
                });
            }
        };
        for envelope in queued {
            let mut out = Encoder::growing(&mut frames);
            match envelope {
                Envelope::Signal(signal) => {
                    encode_signal(signal, &mut out).map_err(|error| Error::Process {
                        process: name.to_owned(),
                        message: format!(
                            "signal `{}` queued for the loop cannot travel to a process started \
                             by spawn: {error}",
                            signal.header.signal
                        ),
                    })?;
                    signals = signals.saturating_add(signal.args.count() as u32);
                }
                Envelope::Command(command) => {
                    Writer::new(&mut out)
                        .control(&Frame::Command(command.clone()))
                        .map_err(|error| Error::Process {
                            process: name.to_owned(),
                            message: format!("a command cannot be packed: {error}"),
                        })?;
                }
                Envelope::Local(work) => match Local::of_ref(&**work) {
                    Some(Local::Attach(object)) => {
                        let transfer = object
                            .transfer()
                            .map_err(|why| cannot_move(name, &**object, &why))?;
                        movers.push(&object.handle().shared);
                        flush(&mut cargo, &mut frames, &mut signals);
                        cargo.push(Cargo::Object(transfer));
                    }
                    Some(Local::Keep(request)) => {
                        flush(&mut cargo, &mut frames, &mut signals);
                        let route = request.to.route();
                        cargo.push(Cargo::Keep {
                            object: request.object.to_string(),
                            instance: request.instance,
                            process: route.process,
                            call: route.call,
                        });
                    }
                    Some(Local::Relocation(_)) => {
                        return Err(Error::Process {
                            process: name.to_owned(),
                            message: "an object is moving to or from the loop".to_owned(),
                        });
                    }
                    None => {}
                },
                Envelope::ProducerEnded(process) => {
                    flush(&mut cargo, &mut frames, &mut signals);
                    cargo.push(Cargo::ProducerEnded(*process));
                }
                Envelope::Frames { .. }
                | Envelope::Network { .. }
                | Envelope::Ring(_)
                | Envelope::Segment { .. } => {
                    return Err(Error::Process {
                        process: name.to_owned(),
                        message: "the loop already took messages of another process".to_owned(),
                    });
                }
            }
        }
        flush(&mut cargo, &mut frames, &mut signals);
        let mut connections = Vec::new();
        for shared in movers {
            describe_connections(shared, &mut connections).map_err(|error| Error::Process {
                process: name.to_owned(),
                message: format!(
                    "the connections of `{}` cannot be packed: {error}",
                    shared.id
                ),
            })?;
        }
        Ok(PackedLoop {
            options: self.options.clone(),
            loop_instance: self.handle.object.shared.instance,
            cargo,
            connections,
        })
    }
}

/// Writes the connections of every signal of `emitter` as `Command`
/// frames that rebuild them.
pub(super) fn describe_connections(
    emitter: &ObjectShared,
    out: &mut Vec<u8>,
) -> Result<(), crate::error::EncodeError> {
    let mut out = Encoder::growing(out);
    let mut writer = Writer::new(&mut out);
    for (signal, list) in connection::snapshot(emitter) {
        let mut write = |event_loop: &Arc<str>, change: Change| {
            writer.control(&Frame::Command(Command::Connection {
                emitter: emitter.id.clone(),
                signal,
                event_loop: event_loop.clone(),
                change,
            }))
        };
        for destination in &list.fan_out {
            let event_loop = destination.peer.name_arc();
            for receiver in &destination.header.receivers {
                write(
                    event_loop,
                    Change::Connect(receiver.clone(), Delivery::FanOut),
                )?;
            }
            if destination.header.broadcast {
                let name = emitter.signal_name(signal);
                let change = if destination.header.signal == name {
                    Change::Broadcast(true)
                } else {
                    Change::Publish(destination.header.signal.into(), true)
                };
                write(event_loop, change)?;
            }
        }
        let balanced = list
            .balanced
            .iter()
            .map(|destination| (destination, Delivery::Balanced));
        let latest = list
            .latest
            .iter()
            .map(|latest| (&latest.destination, Delivery::KeepLatest));
        let once = list
            .once
            .iter()
            .filter(|once| !once.taken.load(std::sync::atomic::Ordering::Acquire))
            .map(|once| (&once.destination, Delivery::SingleShot));
        for (destination, delivery) in balanced.chain(latest).chain(once) {
            let event_loop = destination.peer.name_arc();
            for receiver in &destination.header.receivers {
                write(event_loop, Change::Connect(receiver.clone(), delivery))?;
            }
        }
    }
    Ok(())
}

impl PackedLoop {
    /// The loop's name.
    pub(crate) fn name(&self) -> &str {
        &self.options.name
    }

    /// Rebuilds the loop in the process started by spawn, on the doorbell
    /// the others already ring: its objects revived and their connections
    /// restored (before anything runs), and what was queued for it queued
    /// again, before anything from another process.
    ///
    /// Loops that travel together (a process's own loop and those carried
    /// with it) are unpacked together: each is created before any
    /// connection is restored, so that connections between them find them.
    pub(crate) fn unpack_all(packs: Vec<(PackedLoop, Bell)>) -> Result<Vec<EventLoop>, String> {
        let mut created = Vec::with_capacity(packs.len());
        for (pack, bell) in packs {
            let event_loop = EventLoopBuilder::with_options(pack.options.clone())
                .moved_here(bell, pack.loop_instance)
                .build()
                .map_err(|error| error.to_string())?;
            created.push((event_loop, pack));
        }
        created
            .into_iter()
            .map(|(mut event_loop, pack)| {
                pack.fill(&mut event_loop)?;
                Ok(event_loop)
            })
            .collect()
    }

    /// Revives the objects into `event_loop`, restores their connections
    /// and queues again what was queued.
    fn fill(self, event_loop: &mut EventLoop) -> Result<(), String> {
        let peer = event_loop.peer().clone();
        let mut queue = Vec::new();
        for cargo in self.cargo {
            match cargo {
                Cargo::Object(transfer) => {
                    let revived = revive_object(&transfer, peer.clone());
                    // The shared buffers in its state were leased to this
                    // process for the journey; the object holds its own.
                    crate::pool::end_leases_in(&transfer.state);
                    let object = revived.map_err(|why| {
                        format!("object `{}` cannot be revived: {why}", transfer.id)
                    })?;
                    queue.push(Local::Attach(object).envelope());
                }
                Cargo::Frames { bytes, signals } => {
                    queue.push(Envelope::Frames { bytes, signals });
                }
                Cargo::ProducerEnded(process) => queue.push(Envelope::ProducerEnded(process)),
                Cargo::Keep {
                    object,
                    instance,
                    process,
                    call,
                } => queue.push(
                    Local::Keep(KeepRequest {
                        object: object.into(),
                        instance,
                        to: Box::new(StateBack {
                            route: ReplyRoute { process, call },
                        }),
                    })
                    .envelope(),
                ),
            }
        }
        restore_connections(peer.name(), &self.connections)?;
        for envelope in queue {
            if event_loop.sender.send(envelope).is_err() {
                return Err("its inbox closed".to_owned());
            }
        }
        event_loop.keep_order_after_move();
        Ok(())
    }
}

impl EventLoop {
    /// The loop moved to another process, which runs it: this process's
    /// copies of its objects, and of what was queued for them (`queued`:
    /// what [`pack`](Self::pack) took), go, without ending the loop.
    pub(crate) fn release_after_move(mut self: Box<Self>, queued: Vec<Envelope>) {
        self.phase = Phase::Moved;
        let inbox = std::iter::from_fn(|| self.inbox.try_recv()).collect::<Vec<_>>();
        for envelope in queued.into_iter().chain(inbox) {
            // Calls queued here are answered by the loop's new process
            // (which inherited or got them): these copies fail nothing.
            if let Envelope::Signal(signal) = &envelope
                && let Some(request) = &signal.header.request
            {
                request.forwarded();
            }
            self.drop_user_values(envelope);
        }
        // The objects asked back are handed back from the loop's new
        // process (which inherited the requests, or got them packed):
        // these copies go quietly.
        for resident in self.objects.values_mut() {
            drop(resident.keep.take());
        }
        self.release_objects();
    }

    /// In the process the loop moved to: what was queued before the move
    /// is handled before anything from another process's ring.
    pub(crate) fn keep_order_after_move(&mut self) {
        self.backlog = self.inbox.len();
    }
}

/// Restores the connections of objects of the loop `loop_name`, written
/// by [`describe_connections`] in another process.
pub(super) fn restore_connections(loop_name: &str, frames: &[u8]) -> Result<(), String> {
    for frame in wire::Reader::new(frames) {
        let Ok(Frame::Command(Command::Connection {
            emitter,
            signal,
            event_loop: receivers,
            change,
        })) = frame
        else {
            return Err("the connections of its objects cannot be decoded".to_owned());
        };
        // A loop the other process knew that this one does not (it ended
        // meanwhile): what is emitted to it is counted as dropped, as it
        // would have been there.
        registry()
            .loops
            .entry(receivers.clone())
            .or_insert_with(|| LoopPeer::new(receivers.clone(), Route::Gone));
        connection::apply_requested(loop_name, &emitter, signal, &receivers, change)?;
    }
    Ok(())
}
