//! Signals and slots by name, with their arguments as MessagePack: for a
//! program that does not have an object's type (one written in another
//! language, such as the Python package's loops, or a tool). The object's
//! own program still decodes what reaches its slots with their types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::codec::EncodedArgs;
use crate::connection::Header;
use crate::error::Error;
use crate::event_loop::LoopHandle;
use crate::object::{Home, ObjectHandle, TypeTable};
use crate::payload::Args;
use crate::protocol::{Delivery, DropReason};
use crate::transport::SignalEnvelope;
use crate::transport::control::Members;
use crate::transport::registry::registry;

use super::{Connection, Signal, new_signal, receiving_peer};

/// An object reached by its id, without its type: its signals and slots
/// are found by name, and what is sent to its slots is MessagePack that
/// its own program decodes with the slot's types.
///
/// For bindings to other languages and for tools; a Rust program that
/// has the type uses [`LoopHandle::object`] and typed connections, checked
/// at compile time. Within a process tree, the object may live in any of
/// its processes (its program need not be this one: see
/// [`EventLoopProcess::spawn_program`](crate::EventLoopProcess::spawn_program)).
///
/// ```
/// use signal_slot::{Context, EncodedArgs, EventLoop, ForeignObject, event_loop_object};
///
/// #[event_loop_object]
/// struct Counter { total: u64 }
///
/// #[event_loop_object]
/// impl Counter {
///     #[slot]
///     fn add(&mut self, ctx: &mut Context<Self>, amount: u64) {
///         self.total += amount;
///         if self.total == 42 {
///             ctx.stop_loop();
///         }
///     }
/// }
///
/// let mut main = EventLoop::new("foreign_object_example")?;
/// main.add_with_id("counter", Counter { total: 0 })?;
/// let counter = main.handle().foreign_object("counter")?;
/// assert_eq!(counter.slots(), ["add"]);
/// let add = counter.slot("add")?;
/// // [40] and [2]: MessagePack arrays of one argument each.
/// add.post(EncodedArgs::new(vec![0x91, 40])).expect("queued");
/// add.post(EncodedArgs::new(vec![0x91, 2])).expect("queued");
/// main.exec();
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ForeignObject {
    handle: ObjectHandle,
}

/// A slot of a [`ForeignObject`] (or of any object), by index: what its
/// `post` sends is decoded there with the slot's argument types, as a
/// signal from another process is.
#[derive(Clone, Debug)]
pub struct ForeignSlot {
    target: ObjectHandle,
    index: u16,
}

impl LoopHandle {
    /// The object `id` of this loop, reached without its type (see
    /// [`ForeignObject`]). On a loop of another process, that process is
    /// asked what the object is now.
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if the loop has no such object,
    /// [`Error::Connection`] if the loop's process does not answer.
    pub fn foreign_object(&self, id: &str) -> Result<ForeignObject, Error> {
        let not_found = || Error::ObjectNotFound {
            loop_name: self.name().to_owned(),
            id: id.to_owned(),
        };
        let peer = self.peer().clone();
        if !peer.is_remote() {
            let registry = registry();
            return registry
                .find_object(self.name(), id)
                .filter(|_| registry.is_attached(self.name(), id))
                .map(|handle| ForeignObject { handle })
                .ok_or_else(not_found);
        }
        let control = peer.control().ok_or_else(not_found)?;
        let members = control
            .members(self.name(), id)
            .map_err(|message| Error::Connection {
                emitter: id.to_owned(),
                loop_name: self.name().to_owned(),
                message,
            })?
            .ok_or_else(not_found)?;
        // Across the network an object is named by its loop and id.
        let instance = if peer.on_network() {
            0
        } else {
            members.instance
        };
        let table = foreign_table(members).map_err(|message| Error::Connection {
            emitter: id.to_owned(),
            loop_name: self.name().to_owned(),
            message,
        })?;
        let handle = ObjectHandle::with_instance(id.into(), Home::Loop(peer), table, instance);
        Ok(ForeignObject { handle })
    }
}

impl ForeignObject {
    /// The object behind a handle this program has.
    pub fn new(handle: &ObjectHandle) -> Self {
        ForeignObject {
            handle: handle.clone(),
        }
    }

    /// Its handle.
    pub fn handle(&self) -> &ObjectHandle {
        &self.handle
    }

    /// Its id.
    pub fn id(&self) -> &str {
        self.handle.id()
    }

    /// The name of its type, as its program names it.
    pub fn type_name(&self) -> &'static str {
        self.handle.type_name()
    }

    /// The names of its signals, by index.
    pub fn signals(&self) -> &'static [&'static str] {
        self.handle.shared.signal_names
    }

    /// The names of its slots, by index.
    pub fn slots(&self) -> &'static [&'static str] {
        self.handle.shared.slot_names
    }

    /// Its slot `name`.
    ///
    /// # Errors
    ///
    /// [`Error::NoMember`] if it has no slot of that name.
    pub fn slot(&self, name: &str) -> Result<ForeignSlot, Error> {
        ForeignSlot::of(&self.handle, name)
    }

    /// Connects its signal `signal` to `slot`, as a typed connection is
    /// made (to an object of this process or another). Nothing checks that
    /// the slot takes what the signal carries: a slot that cannot decode
    /// an emission fails as a slot does (see
    /// [`SlotError::Decode`](crate::SlotError::Decode)), unless it takes
    /// [`EncodedArgs`].
    ///
    /// # Errors
    ///
    /// [`Error::NoMember`] if it has no signal of that name, and the
    /// errors of [`Signal::connect`].
    pub fn connect(
        &self,
        signal: &str,
        slot: &ForeignSlot,
        delivery: Delivery,
    ) -> Result<Connection, Error> {
        self.signal(signal)?
            .connect_with(&slot.target, slot.index, delivery)
    }

    /// Ends the connection of its signal `signal` to `slot`; says whether
    /// there was one.
    ///
    /// # Errors
    ///
    /// [`Error::NoMember`] if it has no signal of that name;
    /// [`Error::Connection`] if the emitter lives in another process that
    /// cannot be asked.
    pub fn disconnect(&self, signal: &str, slot: &ForeignSlot) -> Result<bool, Error> {
        let signal = self.signal(signal)?;
        let peer = receiving_peer(&slot.target)?;
        let receiver = crate::connection::receiver_to(&slot.target.shared, slot.index);
        super::change(
            &self.handle,
            signal.index(),
            &peer,
            crate::connection::Change::Disconnect(receiver),
        )
    }

    fn signal(&self, name: &str) -> Result<Signal<'_, (EncodedArgs,)>, Error> {
        let (index, name) = position(self.signals(), name)
            .ok_or_else(|| no_member(&self.handle, "signal", name))?;
        Ok(new_signal(
            &self.handle,
            index,
            name,
            crate::codec::write_whole::<(EncodedArgs,)>,
            read_whole,
        ))
    }
}

impl ForeignSlot {
    /// The slot `name` of `object`.
    ///
    /// # Errors
    ///
    /// [`Error::NoMember`] if the object has no slot of that name.
    pub fn of(object: &ObjectHandle, name: &str) -> Result<Self, Error> {
        let (index, _) = position(object.shared.slot_names, name)
            .ok_or_else(|| no_member(object, "slot", name))?;
        Ok(ForeignSlot {
            target: object.clone(),
            index,
        })
    }

    /// The slot's name.
    pub fn name(&self) -> &'static str {
        self.target.slot_name(self.index)
    }

    /// The object it belongs to.
    pub fn object(&self) -> &ObjectHandle {
        &self.target
    }

    /// Queues a call of the slot with `args` (a MessagePack array, an
    /// element per argument), as [`Slot::post`](crate::Slot::post) does:
    /// the loop's capacity applies, and a call that does not fit, or finds
    /// the loop ended, is dropped, counted for the loop, and its reason
    /// returned.
    ///
    /// # Errors
    ///
    /// Why the call was dropped.
    pub fn post(&self, args: EncodedArgs) -> Result<(), DropReason> {
        self.post_many(vec![args])
    }

    /// [`post`](Self::post) for a batch of calls, in one message: queued
    /// whole or dropped whole (and counted as that many); an empty batch
    /// is not sent.
    ///
    /// # Errors
    ///
    /// Why the batch was dropped.
    pub fn post_many(&self, batch: Vec<EncodedArgs>) -> Result<(), DropReason> {
        if batch.is_empty() {
            return Ok(());
        }
        let Ok(peer) = receiving_peer(&self.target) else {
            return Err(DropReason::Gone);
        };
        let items: Vec<Vec<u8>> = batch.into_iter().map(EncodedArgs::into_bytes).collect();
        let held = crate::pool::Held::of(items.iter().map(Vec::as_slice));
        let envelope = SignalEnvelope {
            header: Arc::new(Header::new(
                None,
                super::slot::INVOKE,
                Box::new([crate::connection::receiver_to(
                    &self.target.shared,
                    self.index,
                )]),
                false,
                false,
                None,
            )),
            args: Args::encoded(items, held),
        };
        peer.deliver(envelope).map_err(|(envelope, reason)| {
            peer.drops().record_envelope(&envelope, reason);
            reason
        })
    }
}

impl ObjectHandle {
    /// What the object is, by name, for a program without its type.
    pub(crate) fn members(&self) -> Members {
        Members {
            type_name: self.type_name().to_owned(),
            instance: self.shared.instance,
            signals: self
                .shared
                .signal_names
                .iter()
                .map(|s| s.to_string())
                .collect(),
            slots: self
                .shared
                .slot_names
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// The index of `name` among `names`, and the name as kept.
fn position(names: &'static [&'static str], name: &str) -> Option<(u16, &'static str)> {
    let at = names.iter().position(|candidate| *candidate == name)?;
    Some((u16::try_from(at).ok()?, names.get(at)?))
}

fn no_member(object: &ObjectHandle, what: &'static str, name: &str) -> Error {
    Error::NoMember {
        id: object.id().to_owned(),
        type_name: object.type_name(),
        what,
        name: name.to_owned(),
    }
}

/// The type table of an object of a type this program does not have, made
/// once per shape of type (its names are kept for the life of the process,
/// as a compiled type's are: as many as the distinct types reached).
fn foreign_table(members: Members) -> Result<TypeTable, String> {
    static TABLES: Mutex<Option<HashMap<Members, TypeTable>>> = Mutex::new(None);
    let key = Members {
        instance: 0,
        ..members
    };
    let mut tables = TABLES.lock().unwrap_or_else(PoisonError::into_inner);
    let tables = tables.get_or_insert_with(HashMap::new);
    if let Some(table) = tables.get(&key) {
        return Ok(*table);
    }
    // Another program says what its objects are (a program across the
    // network is not trusted): the names kept are bounded.
    let names = key.signals.len() + key.slots.len();
    let long = std::iter::once(&key.type_name)
        .chain(&key.signals)
        .chain(&key.slots)
        .any(|name| name.len() > MAX_NAME);
    if tables.len() >= MAX_FOREIGN_TYPES || names > usize::from(u16::MAX) || long {
        return Err(format!(
            "its program describes it with {names} names, or names over {MAX_NAME} bytes, or \
             this process knows {MAX_FOREIGN_TYPES} types of other programs already"
        ));
    }
    let leak = |names: &[String]| -> &'static [&'static str] {
        let names: Vec<&'static str> = names
            .iter()
            .map(|name| &*Box::leak(name.clone().into_boxed_str()))
            .collect();
        Box::leak(names.into_boxed_slice())
    };
    let name: &'static str = Box::leak(key.type_name.clone().into_boxed_str());
    let table = TypeTable {
        name,
        // Never the key of a compiled type: a typed lookup does not take
        // this handle for one of its own.
        key: "<foreign>",
        signals: leak(&key.signals),
        slots: leak(&key.slots),
        signature: |_, _| None,
    };
    tables.insert(key, table);
    Ok(table)
}

/// The most types of other programs a process keeps the names of.
const MAX_FOREIGN_TYPES: usize = 4096;
/// The longest name of a type, signal or slot of another program.
const MAX_NAME: usize = 1024;

/// The decoder of [`EncodedArgs`] as a signal's argument list: every byte.
fn read_whole(bytes: &mut &[u8]) -> Result<(EncodedArgs,), crate::error::DecodeError> {
    Ok((EncodedArgs::new(std::mem::take(bytes).to_vec()),))
}
