//! What travels to a process started by spawn, where nothing of the parent
//! is inherited: objects (their state as MessagePack), handles (by loop,
//! id and instance) and init functions (by registered name).
//!
//! A fresh run of the executable knows every type of object and every init
//! function it could be asked to revive: `#[event_loop_object]` and
//! `#[signal_slot::init]` register them (with `inventory`) under their
//! module path and name, the same in every run of the same executable.
//! Whether an object's type can travel is decided at compile time, on the
//! concrete type (autoref specialization): one that does not implement
//! `Serialize` and `Deserialize` makes `start()` fail with an error naming
//! the object, never a child that silently lacks it.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event_loop::LoopHandle;
use crate::object::{ErasedObject, EventLoopObject, Home, ObjectCell, ObjectHandle, TypedHandle};
use crate::transport::registry::registry;
use crate::transport::routes::find_loop;
use crate::transport::{LoopPeer, Route};

/// Encodes and decodes a `T` if it can travel (see [`Travels`] and
/// [`Stays`]: generated code calls `(&&Traveler::<T>::new()).encode(..)` with
/// both in scope, and the first that applies wins).
pub struct Traveler<T>(PhantomData<fn() -> T>);

impl<T> Traveler<T> {
    /// The traveler of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Traveler(PhantomData)
    }
}

/// A type that can travel: `Serialize + DeserializeOwned`.
pub trait Travels<T> {
    /// True: the type travels.
    fn travels(&self) -> bool {
        true
    }
    /// The value as MessagePack.
    fn encode(&self, value: &T) -> Result<Vec<u8>, String>;
    /// The value back.
    fn decode(&self, bytes: &[u8]) -> Result<T, String>;
}

impl<T: Serialize + DeserializeOwned> Travels<T> for &Traveler<T> {
    fn encode(&self, value: &T) -> Result<Vec<u8>, String> {
        crate::codec::to_vec(value)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, String> {
        crate::codec::from_slice(bytes)
    }
}

/// A type that cannot travel.
pub trait Stays<T> {
    /// False: the type stays in its process.
    fn travels(&self) -> bool {
        false
    }
    /// Always an error that says what the type lacks.
    fn encode(&self, value: &T) -> Result<Vec<u8>, String> {
        let _ = value;
        Err(lacks::<T>())
    }

    /// Always an error that says what the type lacks.
    fn decode(&self, bytes: &[u8]) -> Result<T, String> {
        let _ = bytes;
        Err(lacks::<T>())
    }
}

impl<T> Stays<T> for Traveler<T> {}

fn lacks<T>() -> String {
    format!(
        "`{}` does not implement `Serialize` and `Deserialize`",
        std::any::type_name::<T>()
    )
}

/// An object as it travels: its type's key, id, instance and state.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ObjectTransfer {
    pub(crate) key: String,
    pub(crate) id: String,
    pub(crate) instance: u64,
    #[serde(with = "serde_bytes")]
    pub(crate) state: Vec<u8>,
}

/// Builds an object of one type from its transfer, on a loop.
type Revive = fn(&ObjectTransfer, Arc<LoopPeer>) -> Result<Box<dyn ErasedObject>, String>;

/// A type of object that a process started by spawn can revive.
pub struct ObjectType {
    key: &'static str,
    revive: Revive,
}

impl ObjectType {
    /// The entry of `T`, for `inventory`.
    pub const fn of<T: EventLoopObject>() -> Self {
        ObjectType {
            key: T::TYPE_KEY,
            revive: revive::<T>,
        }
    }
}

inventory::collect!(ObjectType);

fn revive<T: EventLoopObject>(
    transfer: &ObjectTransfer,
    peer: Arc<LoopPeer>,
) -> Result<Box<dyn ErasedObject>, String> {
    let object = T::decode_state(&transfer.state)?;
    let mut handle = ObjectHandle::with_instance(
        transfer.id.as_str().into(),
        Home::Loop(peer),
        crate::object::TypeTable::of::<T>(),
        transfer.instance,
    );
    handle.set_travels(T::travels());
    registry()
        .attach(&handle)
        .map_err(|error| error.to_string())?;
    Ok(Box::new(ObjectCell {
        object,
        handle: <T::Handle as TypedHandle>::from_object_handle(handle),
    }))
}

/// Revives an object sent by the parent, on the loop of `peer`.
pub(crate) fn revive_object(
    transfer: &ObjectTransfer,
    peer: Arc<LoopPeer>,
) -> Result<Box<dyn ErasedObject>, String> {
    let kind = inventory::iter::<ObjectType>
        .into_iter()
        .find(|kind| kind.key == transfer.key)
        .ok_or_else(|| {
            format!(
                "no type `{}` in this executable (is it the same as the parent's?)",
                transfer.key
            )
        })?;
    (kind.revive)(transfer, peer)
}

/// A function that prepares a process's loop, before it runs: registered
/// with `#[signal_slot::init]`, so that a process started by spawn can run
/// it by name, with arguments that travel.
///
/// ```
/// use signal_slot::{EventLoopProcess, LoopHandle};
///
/// #[signal_slot::init]
/// fn prepare(event_loop: &LoopHandle, workers: u32) {
///     tracing::info!("{} prepares {workers} workers", event_loop.name());
/// }
///
/// let worker = EventLoopProcess::new("prepared_example")?.init_with(prepare, 4);
/// # drop(worker);
/// # Ok::<(), signal_slot::Error>(())
/// ```
pub trait ProcessInit: Copy + Send + 'static {
    /// Its arguments (after the loop's handle).
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// Its registered name: module path and name.
    #[doc(hidden)]
    const KEY: &'static str;

    /// Runs it.
    fn run(event_loop: &LoopHandle, args: Self::Args);
}

/// A registered init function, for `inventory`.
pub struct InitFunction {
    key: &'static str,
    run: fn(&LoopHandle, &[u8]) -> Result<(), String>,
}

impl InitFunction {
    /// The entry of `I`.
    pub const fn of<I: ProcessInit>() -> Self {
        InitFunction {
            key: I::KEY,
            run: run_init::<I>,
        }
    }
}

inventory::collect!(InitFunction);

fn run_init<I: ProcessInit>(event_loop: &LoopHandle, args: &[u8]) -> Result<(), String> {
    let args = crate::codec::from_slice::<I::Args>(args)
        .map_err(|error| format!("its arguments cannot be decoded: {error}"))?;
    I::run(event_loop, args);
    Ok(())
}

/// Runs the init function registered as `key` with `args` (MessagePack).
/// A key without the line it was registered at (`module::name`, as a
/// program that does not have the function names it) finds the one
/// function of that name.
pub(crate) fn run_registered_init(
    key: &str,
    event_loop: &LoopHandle,
    args: &[u8],
) -> Result<(), String> {
    (registered_init(key)?.run)(event_loop, args)
}

/// The init function registered as `key` (or, for a key without its
/// line, the one function of that name), or why there is none.
pub(crate) fn registered_init(key: &str) -> Result<&'static InitFunction, String> {
    let registered = || inventory::iter::<InitFunction>.into_iter();
    if let Some(init) = registered().find(|init| init.key == key) {
        return Ok(init);
    }
    let mut named =
        registered().filter(|init| !key.contains('@') && init.key.split('@').next() == Some(key));
    match (named.next(), named.next()) {
        (Some(init), None) => Ok(init),
        (Some(_), Some(_)) => Err(format!(
            "several init functions are named `{key}` in this executable"
        )),
        (None, _) => Err(format!("no init function `{key}` in this executable")),
    }
}

/// A handle as it travels: which loop, which object.
#[derive(Serialize, Deserialize)]
struct HandleOnTheWire {
    event_loop: Option<String>,
    id: String,
    instance: u64,
}

/// Serializes a handle by name (for a generated handle's `Serialize`).
pub fn serialize_handle<S: serde::Serializer>(
    handle: &ObjectHandle,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    HandleOnTheWire {
        event_loop: handle.loop_name().map(|name| name.to_string()),
        id: handle.id().to_owned(),
        instance: handle.shared.instance,
    }
    .serialize(serializer)
}

/// A handle back (for a generated handle's `Deserialize`): to the object of
/// this process if it lives here, else a handle by name to it.
pub fn deserialize_handle<'de, T: EventLoopObject, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<T::Handle, D::Error> {
    let wire = HandleOnTheWire::deserialize(deserializer)?;
    let Some(loop_name) = wire.event_loop else {
        return Err(serde::de::Error::custom(
            "a handle to an object on no loop does not travel",
        ));
    };
    Ok(TypedHandle::from_object_handle(handle_by_name(
        &loop_name,
        &wire.id,
        wire.instance,
        crate::object::TypeTable::of::<T>(),
    )))
}

fn handle_by_name(
    loop_name: &str,
    id: &str,
    instance: u64,
    table: crate::object::TypeTable,
) -> ObjectHandle {
    let known = |registry: &crate::transport::registry::Registry| {
        registry
            .find_object(loop_name, id)
            .filter(|found| found.shared.instance == instance || instance == 0)
    };
    if let Some(found) = known(&registry()) {
        return found;
    }
    // A loop this process does not know (any more) reaches nobody, and
    // says so when used.
    let peer = find_loop(loop_name).unwrap_or_else(|| LoopPeer::new(loop_name.into(), Route::Gone));
    let mut registry = registry();
    if let Some(found) = known(&registry) {
        return found;
    }
    let handle = ObjectHandle::with_instance(id.into(), Home::Loop(peer), table, instance);
    registry.remember(&handle);
    handle
}

impl Serialize for LoopHandle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.name().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LoopHandle {
    /// The loop of that name as this process knows it (one it does not
    /// know reaches nobody).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let peer = find_loop(&name).unwrap_or_else(|| LoopPeer::new(name.into(), Route::Gone));
        Ok(LoopHandle::from_peer(peer))
    }
}

/// The variable that tells a run of the executable that it was started by
/// spawn to run a loop, and where to reach its parent.
pub(crate) const SPAWNED_CHILD: &str = "SIGNAL_SLOT_SPAWNED_CHILD";

/// Set once this process took the role it was spawned for.
static ROLE_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that this process takes the role it was spawned for.
pub(crate) fn take_role() {
    ROLE_TAKEN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// An error if this process was started by spawn and its `main` went on
/// without taking its role (it did not call `init_process` first): it
/// would run the parent's program again, starting processes of its own.
pub(crate) fn refuse_without_role() -> Result<(), crate::Error> {
    if ROLE_TAKEN.load(std::sync::atomic::Ordering::Relaxed)
        || std::env::var_os(SPAWNED_CHILD).is_none()
    {
        return Ok(());
    }
    Err(crate::Error::Refused(
        "this process was started by spawn to run an event loop, but its `main` did not call \
         `signal_slot::init_process()` (or use `#[signal_slot::main]`) before creating loops: \
         call it first thing in `main`",
    ))
}
