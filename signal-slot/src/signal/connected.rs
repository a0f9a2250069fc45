//! Connections as values: what `connect` gives back, to end the connection
//! by itself or when a guard goes out of scope.

use crate::connection::Change;
use crate::error::Error;
use crate::object::ObjectHandle;
use crate::stats::DropCounts;

use super::{change, receiving_peer};

/// The connection of a signal to a slot (or to a signal, or a closure), as
/// [`Signal::connect`](crate::Signal::connect) and its kin give it back:
/// Qt's `QMetaObject::Connection`.
///
/// It names the signal and the receiving slot: as connecting the same slot
/// twice makes one connection, two values from two `connect` calls name the
/// same one, and ending it ends it for both (whatever the delivery, as
/// [`Signal::disconnect`](crate::Signal::disconnect) does). Dropping it
/// leaves the connection in place; [`disconnect`] ends it, and [`scoped`]
/// turns it into a guard that ends it when dropped. Cheap to clone, `Send`
/// and `Sync`.
///
/// ```
/// use signal_slot::{EventLoop, event_loop_object};
///
/// #[event_loop_object]
/// struct Button;
///
/// #[event_loop_object]
/// impl Button {
///     #[signal]
///     fn clicked();
/// }
///
/// #[event_loop_object]
/// struct Lamp;
///
/// #[event_loop_object]
/// impl Lamp {
///     #[slot]
///     fn toggle(&mut self) {}
/// }
///
/// let main = EventLoop::new("connection_example")?;
/// let button = main.add(Button)?;
/// let lamp = main.add(Lamp)?;
/// let connection = button.clicked().connect(lamp.toggle())?;
/// assert_eq!(button.clicked().receivers()?, 1);
/// assert!(connection.disconnect()?);
/// // Once only: it is not connected any more.
/// assert!(!connection.disconnect()?);
/// {
///     let _guard = button.clicked().connect(lamp.toggle())?.scoped();
///     assert_eq!(button.clicked().receivers()?, 1);
/// }
/// assert_eq!(button.clicked().receivers()?, 0);
/// # Ok::<(), signal_slot::Error>(())
/// ```
///
/// [`disconnect`]: Connection::disconnect
/// [`scoped`]: Connection::scoped
#[derive(Clone)]
pub struct Connection {
    pub(super) emitter: ObjectHandle,
    pub(super) signal: u16,
    pub(super) receiver: ObjectHandle,
    pub(super) slot: u16,
    /// A closure's: its object leaves its loop with the connection.
    pub(super) owns_receiver: bool,
}

impl Connection {
    /// Ends the connection: emissions after this reach the receiver no
    /// more (those already queued to it still arrive). True if it was
    /// connected; false if it had ended already (disconnected, fired once,
    /// or the emitter or receiver was detached). A closure connected with
    /// [`connect_fn`](crate::Signal::connect_fn) leaves its loop with it.
    ///
    /// # Errors
    ///
    /// As for [`Signal::disconnect`](crate::Signal::disconnect).
    pub fn disconnect(&self) -> Result<bool, Error> {
        let peer = receiving_peer(&self.receiver)?;
        let receiver = crate::connection::receiver_to(&self.receiver.shared, self.slot);
        let connected = change(
            &self.emitter,
            self.signal,
            &peer,
            Change::Disconnect(receiver),
        )?;
        if self.owns_receiver {
            // Its lease does it too, where the emitter's connections live
            // in this process; a loop that ended took it already.
            let _ = self.receiver.detach();
        }
        Ok(connected)
    }

    /// A guard that ends the connection when it is dropped.
    pub fn scoped(self) -> ScopedConnection {
        ScopedConnection(Some(self))
    }

    /// The object whose signal it is.
    pub fn emitter(&self) -> &ObjectHandle {
        &self.emitter
    }

    /// The object whose slot (or signal, or closure) receives.
    pub fn receiver(&self) -> &ObjectHandle {
        &self.receiver
    }

    /// The name of the connected signal.
    pub fn signal_name(&self) -> &'static str {
        self.emitter.shared.signal_name(self.signal)
    }

    /// The name of the receiving slot (or signal).
    pub fn slot_name(&self) -> &'static str {
        self.receiver.slot_name(self.slot)
    }

    /// Emissions of the connected signal so far that had a connection to go
    /// to (a batch counts for its size), counted for the signal: every
    /// connection of a fan-out signal was offered each one. `None` for an
    /// emitter whose connections live in another process (its numbers are
    /// in [`Topology::capture`](crate::Topology::capture)).
    ///
    /// ```
    /// use signal_slot::{DropReason, EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Meter;
    ///
    /// #[event_loop_object]
    /// impl Meter {
    ///     #[signal]
    ///     fn reading(value: f64);
    ///
    ///     #[slot]
    ///     fn show(&mut self, value: f64) {
    ///         let _ = value;
    ///     }
    /// }
    ///
    /// let main = EventLoop::new("connection_traffic_example")?;
    /// let meter = main.add(Meter)?;
    /// let connection = meter.reading().connect_latest(meter.show())?;
    /// for value in 0..3 {
    ///     meter.reading().emit(f64::from(value));
    /// }
    /// assert_eq!(connection.emitted(), Some(3));
    /// // The loop did not run: each value replaced the one before.
    /// let dropped = connection.dropped().expect("its emitter is here");
    /// assert_eq!(dropped.get(DropReason::Replaced), 2);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn emitted(&self) -> Option<u64> {
        self.signal_connections()
            .map(|connections| connections.emitted())
    }

    /// What the emitter's process dropped of the connected signal's
    /// emissions on the way to any of its connections, by reason (a full
    /// inbox or ring, a receiver gone, a keep-latest value replaced before
    /// it was taken). `None` as for [`emitted`](Self::emitted).
    pub fn dropped(&self) -> Option<DropCounts> {
        self.signal_connections()
            .map(|connections| connections.drops())
    }

    /// The connected signal's connections, if they live in this process.
    fn signal_connections(&self) -> Option<&crate::connection::SignalConnections> {
        let emitter = &self.emitter.shared;
        // On a loop of another process, or of a child not started yet
        // (whose connections go with it).
        if emitter.remote_home().is_some()
            || emitter
                .current_peer()
                .is_some_and(|peer| peer.runs_elsewhere())
        {
            return None;
        }
        emitter.signals.get(usize::from(self.signal))
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Connection({}.{} -> {}.{})",
            self.emitter.id(),
            self.signal_name(),
            self.receiver.id(),
            self.slot_name()
        )
    }
}

/// A [`Connection`] that ends when this guard is dropped: see
/// [`Connection::scoped`].
#[must_use = "the connection ends as soon as the guard is dropped"]
#[derive(Debug)]
pub struct ScopedConnection(Option<Connection>);

impl ScopedConnection {
    /// The connection, no longer ended by the guard.
    pub fn release(mut self) -> Connection {
        self.0
            .take()
            .expect("a scoped connection holds its connection until released or dropped")
    }

    /// The connection the guard ends.
    pub fn connection(&self) -> &Connection {
        self.0
            .as_ref()
            .expect("a scoped connection holds its connection until released or dropped")
    }
}

impl Drop for ScopedConnection {
    fn drop(&mut self) {
        if let Some(connection) = self.0.take()
            && let Err(error) = connection.disconnect()
        {
            // A process that cannot be reached has no connection to end.
            tracing::debug!(%error, "a scoped connection could not be ended: {error}");
        }
    }
}
