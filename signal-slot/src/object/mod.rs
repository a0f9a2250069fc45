//! Event loop objects: the trait the macro implements, and their handles.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use crate::command::Command;
use crate::connection::SignalConnections;
use crate::context::Context;
use crate::error::{Error, SlotError};
use crate::event_loop::LoopHandle;
use crate::payload::Payload;
use crate::signal::{ConnectTo, Slot, Topic};
use crate::stats::{SlotClock, SlotStats};
use crate::transport::LoopPeer;

mod lifetime;
mod registered;
mod subscriptions;

pub use subscriptions::SignalBlocker;

/// An object that lives on an event loop: its slots are called there, one
/// message at a time.
///
/// Implemented by `#[event_loop_object]` on an `impl` block; never by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event loop object",
    note = "put #[event_loop_object] on the struct `{Self}` and on one `impl` block of it"
)]
pub trait EventLoopObject: ObjectStruct + Send + 'static {
    /// The names of the object's signals, by index.
    #[doc(hidden)]
    const SIGNALS: &'static [&'static str];
    /// The names of the object's slots, by index.
    #[doc(hidden)]
    const SLOTS: &'static [&'static str];

    /// Where the type is registered for processes started by spawn: its
    /// module path and name.
    #[doc(hidden)]
    const TYPE_KEY: &'static str;

    /// Calls slot `slot` with `payload`.
    #[doc(hidden)]
    fn dispatch(
        &mut self,
        ctx: &mut Context<'_, Self>,
        slot: u16,
        payload: Payload<'_>,
    ) -> Result<(), SlotError>;

    /// The object's state, to travel to a process started by spawn; an
    /// error if its type does not implement `Serialize` and `Deserialize`.
    #[doc(hidden)]
    fn encode_state(&self) -> Result<Vec<u8>, String>;

    /// The object back from [`encode_state`](Self::encode_state).
    #[doc(hidden)]
    fn decode_state(bytes: &[u8]) -> Result<Self, String>;

    /// True if its type implements `Serialize` and `Deserialize` (it may
    /// move to another process).
    #[doc(hidden)]
    fn travels() -> bool {
        false
    }

    /// What signal (`signal` true) or slot `index` takes, compared with
    /// another program's view of it before a connection across the
    /// network (see [`Signature`](crate::signature::Signature)).
    #[doc(hidden)]
    fn signature(signal: bool, index: u16) -> Option<crate::signature::Signature> {
        let _ = (signal, index);
        None
    }
}

/// What a signal or slot of an object's type takes: see
/// [`EventLoopObject::signature`].
pub(crate) type SignatureFn = fn(bool, u16) -> Option<crate::signature::Signature>;

/// What a handle knows of its object's type.
#[derive(Clone, Copy)]
pub(crate) struct TypeTable {
    pub(crate) name: &'static str,
    /// Tells apart types of the same name (see `EventLoopObject::TYPE_KEY`).
    pub(crate) key: &'static str,
    pub(crate) signals: &'static [&'static str],
    pub(crate) slots: &'static [&'static str],
    pub(crate) signature: SignatureFn,
}

impl TypeTable {
    pub(crate) fn of<T: EventLoopObject>() -> Self {
        TypeTable {
            name: T::TYPE_NAME,
            key: T::TYPE_KEY,
            signals: T::SIGNALS,
            slots: T::SLOTS,
            signature: T::signature,
        }
    }
}

/// Links an object type to its generated handle type. Implemented by
/// `#[event_loop_object]` on the struct.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event loop object",
    note = "put #[event_loop_object] on the struct `{Self}` and on one `impl` block of it"
)]
pub trait ObjectStruct: Sized {
    /// The generated handle type, `{Name}Handle`.
    type Handle: TypedHandle<Object = Self>;
    /// The struct's name, for messages.
    const TYPE_NAME: &'static str;
}

/// The error of a dispatch to slot number `slot`, which `T` does not have.
#[doc(hidden)]
pub fn no_such_slot<T: ObjectStruct>(slot: u16) -> SlotError {
    SlotError::NoSuchSlot {
        object_type: T::TYPE_NAME,
        slot,
    }
}

/// A generated typed handle. Implemented by `#[event_loop_object]`.
#[doc(hidden)]
pub trait TypedHandle: Clone + Send + Sync + 'static {
    /// The object type.
    type Object;
    /// Wraps an untyped handle.
    fn from_object_handle(handle: ObjectHandle) -> Self;
    /// The untyped handle.
    fn object_handle(&self) -> &ObjectHandle;
}

/// The typed handle of an object of type `T`: `Handle<A>` is the generated
/// `AHandle`, with a method for each signal and slot of `A`.
pub type Handle<T> = <T as ObjectStruct>::Handle;

/// A new instance number: this process's random high half (so that
/// processes started apart do not hand out the same numbers), and a count.
fn next_instance() -> u64 {
    static BASE: LazyLock<u64> = LazyLock::new(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |time| time.as_nanos()),
        );
        hasher.finish() & !0xffff_ffff
    });
    static NEXT: AtomicU64 = AtomicU64::new(1);
    *BASE | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff).max(1)
}

/// How messages name the loop of an object that lives on none.
pub(crate) const NO_LOOP: &str = "<no loop>";

/// Where an object lives, seen from this process.
pub(crate) enum Home {
    /// On an event loop (in this process or another).
    Loop(Arc<LoopPeer>),
    /// On no loop: it emits signals but has no slots (the monitor of a
    /// child process, which lives in the parent).
    NoLoop,
}

/// What every handle to one object shares in one process.
pub(crate) struct ObjectShared {
    pub(crate) id: Arc<str>,
    /// Which object it is among all that ever had its id on its loop:
    /// connections are to an instance, not to an id, so that an object
    /// attached later under the same id (of another type, maybe) gets
    /// nothing meant for this one. 0 for a handle made by name whose
    /// object was not looked up.
    pub(crate) instance: u64,
    /// Set once the object was detached: it emits nothing more, and
    /// nothing connects to it.
    pub(crate) detached: AtomicBool,
    /// How many [`SignalBlocker`]s hold the object's signals (in the
    /// object's own process).
    pub(crate) blocked: AtomicU32,
    pub(crate) type_name: &'static str,
    /// Its type's key (types of one name differ by it).
    pub(crate) type_key: &'static str,
    /// Where it was created; see [`current_peer`](Self::current_peer).
    pub(crate) home: Home,
    /// Where it lives since it moved (see [`ObjectHandle::move_to`]).
    pub(crate) moved: arc_swap::ArcSwapOption<LoopPeer>,
    /// Set once it moved: `moved` is where it lives.
    pub(crate) has_moved: AtomicBool,
    /// Set while it moves to another loop.
    pub(crate) moving: AtomicBool,
    /// Once it moved to a loop of another process: that loop, where its
    /// connections live since (see [`remote_home`](Self::remote_home)).
    pub(crate) emit_home: arc_swap::ArcSwapOption<LoopPeer>,
    /// Its type may travel to another process.
    pub(crate) travels: bool,
    pub(crate) signal_names: &'static [&'static str],
    pub(crate) slot_names: &'static [&'static str],
    /// What its type's signals and slots take, as this program sees them.
    pub(crate) signature: SignatureFn,
    /// The connections of each signal, by index.
    pub(crate) signals: Box<[SignalConnections]>,
    /// How long each of its slots took to run, by index (made at its
    /// first run, in the process where it runs).
    slot_clocks: OnceLock<Box<[SlotClock]>>,
}

/// An untyped handle to an object on an event loop. Typed handles
/// ([`Handle<T>`]) dereference to it.
///
/// Cheap to clone, `Send` and `Sync`.
#[derive(Clone)]
pub struct ObjectHandle {
    pub(crate) shared: Arc<ObjectShared>,
}

impl ObjectHandle {
    pub(crate) fn new(id: Arc<str>, home: Home, table: TypeTable) -> Self {
        Self::with_instance(id, home, table, next_instance())
    }

    pub(crate) fn with_instance(id: Arc<str>, home: Home, table: TypeTable, instance: u64) -> Self {
        let TypeTable {
            name: type_name,
            key: type_key,
            signals: signal_names,
            slots: slot_names,
            signature,
        } = table;
        ObjectHandle {
            shared: Arc::new(ObjectShared {
                id,
                instance,
                detached: AtomicBool::new(false),
                blocked: AtomicU32::new(0),
                type_name,
                type_key,
                home,
                moved: arc_swap::ArcSwapOption::empty(),
                has_moved: AtomicBool::new(false),
                moving: AtomicBool::new(false),
                emit_home: arc_swap::ArcSwapOption::empty(),
                travels: false,
                signal_names,
                slot_names,
                signature,
                // The object's signals, then `destroyed`.
                signals: (0..=signal_names.len())
                    .map(|_| SignalConnections::default())
                    .collect(),
                slot_clocks: OnceLock::new(),
            }),
        }
    }

    pub(crate) fn for_type<T: EventLoopObject>(id: Arc<str>, home: Home) -> Self {
        let mut handle = Self::new(id, home, TypeTable::of::<T>());
        handle.set_travels(T::travels());
        handle
    }

    /// Says whether its type travels; only while the handle is the only
    /// one.
    pub(crate) fn set_travels(&mut self, travels: bool) {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.travels = travels;
        }
    }

    /// A handle made by name to an object of another process, whose
    /// instance is `instance` (0: whichever object has the id).
    pub(crate) fn by_name<T: EventLoopObject>(id: Arc<str>, home: Home, instance: u64) -> Self {
        Self::with_instance(id, home, TypeTable::of::<T>(), instance)
    }

    /// The object's id, unique on its loop.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The name of the loop the object lives on, or `None` for an object
    /// that lives in a process without a loop (such as a process monitor).
    pub fn loop_name(&self) -> Option<Arc<str>> {
        self.peer().map(|peer| peer.name_arc().clone())
    }

    /// The name of the object's type.
    pub fn type_name(&self) -> &'static str {
        self.shared.type_name
    }

    /// The loop the object lives on now.
    pub(crate) fn peer(&self) -> Option<Arc<LoopPeer>> {
        self.shared.current_peer()
    }

    pub(crate) fn loop_label(&self) -> String {
        self.loop_name().as_deref().unwrap_or(NO_LOOP).to_owned()
    }

    /// The handle of the loop the object lives on.
    pub fn event_loop(&self) -> Option<LoopHandle> {
        self.peer().map(|peer| LoopHandle::from_peer(peer.clone()))
    }

    /// The name of slot `slot`, or of the signal a relay index re-emits.
    pub(crate) fn slot_name(&self, slot: u16) -> &'static str {
        if slot & crate::signal::RELAY != 0 && slot != crate::protocol::ANY_SLOT {
            return self.shared.signal_name(slot & !crate::signal::RELAY);
        }
        self.shared
            .slot_names
            .get(usize::from(slot))
            .copied()
            .unwrap_or("<unknown slot>")
    }
}

impl ObjectShared {
    /// The run times of slot `slot` (none for a relay to a signal).
    #[inline]
    pub(crate) fn slot_clock(&self, slot: u16) -> Option<&SlotClock> {
        self.slot_clocks
            .get_or_init(|| {
                self.slot_names
                    .iter()
                    .map(|_| SlotClock::default())
                    .collect()
            })
            .get(usize::from(slot))
    }

    /// The run times of each of its slots that ran here.
    pub(crate) fn slot_stats(&self) -> Vec<SlotStats> {
        let Some(clocks) = self.slot_clocks.get() else {
            return Vec::new();
        };
        clocks
            .iter()
            .zip(self.slot_names)
            .filter(|(clock, _)| clock.runs() > 0)
            .map(|(clock, name)| clock.snapshot(&self.id, name))
            .collect()
    }

    /// The loop the object lives on now: where it was created, or where it
    /// moved.
    pub(crate) fn current_peer(&self) -> Option<Arc<LoopPeer>> {
        if self.has_moved.load(Ordering::Acquire)
            && let Some(peer) = self.moved.load_full()
        {
            return Some(peer);
        }
        match &self.home {
            Home::Loop(peer) => Some(peer.clone()),
            Home::NoLoop => None,
        }
    }

    /// The loop of another process where the object's connections live
    /// (it was made there, or moved there), or `None` if they live here.
    pub(crate) fn remote_home(&self) -> Option<Arc<LoopPeer>> {
        if self.has_moved.load(Ordering::Acquire) {
            return self.emit_home.load_full();
        }
        match &self.home {
            Home::Loop(peer) if peer.is_remote() => Some(peer.clone()),
            _ => None,
        }
    }

    /// Counts a blocker in or out.
    pub(crate) fn count_block(&self, block: bool) {
        if block {
            self.blocked.fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = self
                .blocked
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                    count.checked_sub(1)
                });
        }
    }

    /// The name of signal `index`, for messages.
    pub(crate) fn signal_name(&self, index: u16) -> &'static str {
        if index == self.destroyed_index() {
            return "destroyed";
        }
        self.signal_names
            .get(usize::from(index))
            .copied()
            .unwrap_or("<unknown signal>")
    }

    /// The index of the `destroyed` signal every object has, after its
    /// own.
    pub(crate) fn destroyed_index(&self) -> u16 {
        u16::try_from(self.signal_names.len()).unwrap_or(u16::MAX)
    }
}

impl fmt::Debug for ObjectHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({:?} on {:?})",
            self.shared.type_name,
            self.id(),
            self.loop_label()
        )
    }
}

impl PartialEq for ObjectHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
            || (self.id() == other.id() && self.loop_name() == other.loop_name())
    }
}

impl Eq for ObjectHandle {}

/// An object together with its handle, as the loop stores it.
pub(crate) struct ObjectCell<T: EventLoopObject> {
    pub(crate) object: T,
    pub(crate) handle: T::Handle,
}

/// The loop's view of an object: type-erased dispatch.
pub(crate) trait ErasedObject: Send {
    fn dispatch(
        &mut self,
        state: &mut crate::event_loop::LoopState,
        sender: Option<crate::context::Sender<'_>>,
        reply: Option<crate::protocol::ReplyRoute>,
        slot: u16,
        payload: Payload<'_>,
    ) -> Result<(), SlotError>;

    fn handle(&self) -> &ObjectHandle;

    /// The object as it travels to a process started by spawn.
    fn transfer(&self) -> Result<crate::travel::ObjectTransfer, String>;

    /// The object, for a [`Kept`](crate::Kept) to take back.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

impl<T: EventLoopObject> ErasedObject for ObjectCell<T> {
    fn dispatch(
        &mut self,
        state: &mut crate::event_loop::LoopState,
        sender: Option<crate::context::Sender<'_>>,
        reply: Option<crate::protocol::ReplyRoute>,
        slot: u16,
        payload: Payload<'_>,
    ) -> Result<(), SlotError> {
        let mut ctx = Context::new(&self.handle, state, sender, reply);
        self.object.dispatch(&mut ctx, slot, payload)
    }

    fn handle(&self) -> &ObjectHandle {
        self.handle.object_handle()
    }

    fn transfer(&self) -> Result<crate::travel::ObjectTransfer, String> {
        let shared = &self.handle.object_handle().shared;
        Ok(crate::travel::ObjectTransfer {
            key: T::TYPE_KEY.to_owned(),
            id: shared.id.to_string(),
            instance: shared.instance,
            state: self.object.encode_state()?,
        })
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}
