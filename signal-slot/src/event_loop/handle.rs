//! The handle of a loop: what any thread may do with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::context::Context;
use crate::error::{Error, check_name};
use crate::object::{
    EventLoopObject, Handle, Home, ObjectCell, ObjectHandle, ObjectShared, TypedHandle,
};
use crate::signal::{Signal, Slot};
use crate::transport::LoopPeer;
use crate::transport::registry::registry;

use super::StopCause;

/// The loop's own object: its `stop` slot and `start`/`terminate` signals.
/// Its id is the loop's name.
#[crate::event_loop_object]
pub(crate) struct LoopObject;

#[crate::event_loop_object]
impl LoopObject {
    /// Emitted right before the loop starts handling messages.
    #[signal]
    fn start();

    /// Emitted when the loop ends.
    #[signal]
    fn terminate();

    /// Stops the loop gracefully.
    #[slot]
    fn stop(&mut self, ctx: &mut Context<Self>) {
        ctx.state().request_stop(StopCause::Requested);
    }
}

/// The names of the loop object's `start` and `terminate` signals.
pub(crate) const START: &str = LoopObject::SIGNALS[0];
pub(crate) const TERMINATE: &str = LoopObject::SIGNALS[1];

/// A handle to an event loop: attach objects, stop it, connect to its
/// `start` and `terminate` signals. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct LoopHandle {
    peer: Arc<LoopPeer>,
    pub(crate) object: Handle<LoopObject>,
}

impl LoopHandle {
    pub(crate) fn new(peer: Arc<LoopPeer>, object: Handle<LoopObject>) -> LoopHandle {
        LoopHandle { peer, object }
    }

    pub(crate) fn from_peer(peer: Arc<LoopPeer>) -> LoopHandle {
        let shared = Self::own_object(&peer);
        let object = match shared {
            Some(shared) => ObjectHandle { shared },
            // A loop of another process, or one that ended: a handle by
            // name (a loop has one loop object, so any instance will do).
            None => ObjectHandle::by_name::<LoopObject>(
                peer.name_arc().clone(),
                Home::Loop(peer.clone()),
                0,
            ),
        };
        LoopHandle {
            peer,
            object: TypedHandle::from_object_handle(object),
        }
    }

    /// The loop's own object, while it lives.
    pub(crate) fn own_object(peer: &LoopPeer) -> Option<Arc<ObjectShared>> {
        let own = peer.loop_object.get()?.upgrade()?;
        own.downcast::<ObjectShared>().ok()
    }

    pub(crate) fn peer(&self) -> &Arc<LoopPeer> {
        &self.peer
    }

    /// The loop's name, unique in the process.
    pub fn name(&self) -> &str {
        self.peer.name()
    }

    /// Attaches `object` to the loop with a default unique id
    /// (`TypeName#N`).
    ///
    /// ```
    /// use signal_slot::{EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Sensor;
    ///
    /// #[event_loop_object]
    /// impl Sensor {}
    ///
    /// let main = EventLoop::new("add_example")?;
    /// let first = main.add(Sensor)?;
    /// let second = main.add(Sensor)?;
    /// assert!(first.id().starts_with("Sensor#"));
    /// assert_ne!(first.id(), second.id());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`add_with_id`](Self::add_with_id).
    pub fn add<T: EventLoopObject>(&self, object: T) -> Result<Handle<T>, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = loop {
            let id = format!("{}#{}", T::TYPE_NAME, NEXT.fetch_add(1, Ordering::Relaxed));
            // Taken only if a user chose such an id by hand.
            if !registry().is_attached(self.name(), &id) {
                break id;
            }
        };
        self.add_with_id(id, object)
    }

    /// Attaches `object` to the loop under `id`, and returns its handle.
    /// The object moves to the loop; from then on it is reached through
    /// its signals and slots.
    ///
    /// ```
    /// use signal_slot::{EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Counter { count: u64 }
    ///
    /// #[event_loop_object]
    /// impl Counter {}
    ///
    /// let main = EventLoop::new("add_with_id_example")?;
    /// let counter = main.add_with_id("counter", Counter { count: 0 })?;
    /// assert_eq!(counter.id(), "counter");
    /// assert!(main.add_with_id("counter", Counter { count: 1 }).is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateObjectId`] if the id is taken on this loop,
    /// [`Error::InvalidName`] if it is empty, [`Error::LoopEnded`] if the
    /// loop has ended, [`Error::RemoteLoop`] if it runs in another process.
    pub fn add_with_id<T: EventLoopObject>(
        &self,
        id: impl Into<String>,
        object: T,
    ) -> Result<Handle<T>, Error> {
        let id: Arc<str> = id.into().into();
        check_name("object id", &id)?;
        if self.peer.is_remote() {
            return Err(Error::RemoteLoop {
                loop_name: self.name().to_owned(),
                id: id.to_string(),
            });
        }
        if self.peer.is_gone() {
            return Err(Error::LoopEnded(self.name().to_owned()));
        }
        let raw = ObjectHandle::for_type::<T>(id.clone(), Home::Loop(self.peer.clone()));
        registry().attach(&raw)?;
        let handle = <T::Handle as TypedHandle>::from_object_handle(raw);
        let cell = ObjectCell {
            object,
            handle: handle.clone(),
        };
        if let Err(error) = self
            .peer
            .post(super::Local::Attach(Box::new(cell)).envelope())
        {
            registry().detach(self.peer.name_arc(), &id);
            return Err(error);
        }
        Ok(handle)
    }

    /// A handle to the object `id` on this loop, typed as `T`.
    ///
    /// For objects created where no handle was kept (in a child's init
    /// function, say). On a loop of another process, the loop's process is
    /// asked which object has that id now: the handle is to that object
    /// (connections made through it end with it).
    ///
    /// ```
    /// use signal_slot::{EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Logger;
    ///
    /// #[event_loop_object]
    /// impl Logger {}
    ///
    /// let main = EventLoop::new("object_example")?;
    /// main.add_with_id("logger", Logger)?;
    /// let logger = main.object::<Logger>("logger")?;
    /// assert_eq!(logger.id(), "logger");
    /// assert!(main.object::<Logger>("nobody").is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if the loop has no such object,
    /// [`Error::ObjectType`] if it is not a `T`, [`Error::Connection`] if
    /// the loop's process does not answer.
    pub fn object<T: EventLoopObject>(&self, id: &str) -> Result<Handle<T>, Error> {
        let not_found = || Error::ObjectNotFound {
            loop_name: self.name().to_owned(),
            id: id.to_owned(),
        };
        let wrong_type = |found: &str| Error::ObjectType {
            loop_name: self.name().to_owned(),
            id: id.to_owned(),
            expected: T::TYPE_NAME,
            found: found.to_owned(),
        };
        if !self.peer.is_remote() {
            let found = {
                let registry = registry();
                registry
                    .find_object(self.name(), id)
                    .filter(|_| registry.is_attached(self.name(), id))
            }
            .ok_or_else(not_found)?;
            if found.type_name() != T::TYPE_NAME {
                return Err(wrong_type(found.type_name()));
            }
            return Ok(TypedHandle::from_object_handle(found));
        }
        let control = self.peer.control().ok_or_else(not_found)?;
        let (type_name, instance) = control
            .lookup(self.name(), id)
            .map_err(|message| Error::Connection {
                emitter: id.to_owned(),
                loop_name: self.name().to_owned(),
                message,
            })?
            .ok_or_else(not_found)?;
        if type_name != T::TYPE_NAME {
            return Err(wrong_type(&type_name));
        }
        // Across the network an object is named by its loop and id, so
        // that the same object of a restarted program is reached.
        let instance = if self.peer.on_network() { 0 } else { instance };
        let mut registry = registry();
        if let Some(known) = registry.find_object(self.name(), id).filter(|known| {
            known.shared.instance == instance && known.shared.type_key == T::TYPE_KEY
        }) {
            return Ok(TypedHandle::from_object_handle(known));
        }
        let handle = ObjectHandle::by_name::<T>(id.into(), Home::Loop(self.peer.clone()), instance);
        registry.remember(&handle);
        Ok(TypedHandle::from_object_handle(handle))
    }

    /// The loop named `name`, wherever it runs in this process tree: in
    /// this process, in a child, or on a thread of a child (a child
    /// announces the loops it creates to the first process, which tells
    /// the others; a process that has not heard of a loop yet asks it).
    ///
    /// ```
    /// use signal_slot::{EventLoop, LoopHandle};
    ///
    /// let main = EventLoop::new("named_example")?;
    /// assert_eq!(LoopHandle::named("named_example")?.name(), "named_example");
    /// assert!(LoopHandle::named("nowhere").is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopNotFound`] if no loop of that name is known, or it has
    /// ended.
    pub fn named(name: &str) -> Result<LoopHandle, Error> {
        crate::transport::routes::find_loop(name)
            .filter(|peer| !peer.is_gone())
            .map(LoopHandle::from_peer)
            .ok_or_else(|| Error::LoopNotFound(name.to_owned()))
    }

    /// Stops the loop gracefully: every message queued before this call is
    /// still delivered, then the loop emits `terminate` and ends. Stopping a
    /// loop that has ended does nothing.
    ///
    /// ```
    /// use signal_slot::{EventLoopThread, ExitStatus};
    ///
    /// let mut worker = EventLoopThread::new("stop_example")?;
    /// worker.start()?;
    /// worker.event_loop().stop();
    /// assert_eq!(worker.join()?, ExitStatus::Normal);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn stop(&self) {
        match self.stop_slot().invoke(()) {
            // A loop that has ended is stopped already.
            Ok(()) | Err(Error::LoopEnded(_)) => {}
            Err(error) => tracing::warn!(
                event_loop = self.name(),
                %error,
                "cannot stop event loop `{}`: {error}",
                self.name()
            ),
        }
    }

    /// The loop's `stop` as a slot, to connect signals to (a timer's
    /// `timeout`, another loop's `terminate`..).
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoop, Timer};
    ///
    /// let mut main = EventLoop::new("stop_slot_example")?;
    /// let timer = Timer::single_shot(&main, Duration::from_millis(5))?;
    /// timer.timeout().connect(main.stop_slot())?;
    /// timer.start();
    /// assert!(main.exec().is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn stop_slot(&self) -> Slot<'_, ()> {
        self.object.stop()
    }

    /// Emitted when the loop starts (its first `exec` or `process_events`),
    /// on the loop's thread. It is queued like any signal: what was queued
    /// before the loop started comes first. Delivered even if the loop was
    /// stopped before it started (after what was queued before the stop,
    /// then `terminate`).
    ///
    /// ```
    /// use signal_slot::{Context, EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Greeter;
    ///
    /// #[event_loop_object]
    /// impl Greeter {
    ///     #[slot]
    ///     fn on_start(&mut self, ctx: &mut Context<Self>) {
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("start_signal_example")?;
    /// let greeter = main.add(Greeter)?;
    /// main.start_signal().connect(greeter.on_start())?;
    /// assert!(main.exec().is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn start_signal(&self) -> Signal<'_, ()> {
        self.object.start().signal()
    }

    /// Emitted when the loop ends; the loop's own objects still receive it.
    ///
    /// ```
    /// use signal_slot::{EventLoop, EventLoopThread};
    ///
    /// let mut main = EventLoop::new("terminate_signal_example")?;
    /// let mut worker = EventLoopThread::new("terminate_signal_worker")?;
    /// // The worker stops when the main loop ends.
    /// main.terminate_signal().connect(worker.stop_slot())?;
    /// worker.start()?;
    /// main.stop();
    /// main.exec();
    /// assert!(worker.join()?.is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn terminate_signal(&self) -> Signal<'_, ()> {
        self.object.terminate().signal()
    }

    /// The number of signals destined to this loop that this process
    /// dropped: inbox full, loop ended, or arrived after the stop.
    pub fn dropped_signals(&self) -> u64 {
        self.peer.drops().total()
    }

    /// True once the loop has ended.
    pub fn has_ended(&self) -> bool {
        self.peer.is_gone()
    }
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LoopHandle").field(&self.name()).finish()
    }
}
