//! What a process says about itself, for the topology: plain data that
//! crosses processes (an agent answers with a [`ProcessInfo`]), below the
//! code that gathers it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::protocol::Delivery;
use crate::stats::{DropCounts, LoopStats, RingFill};

/// The topology of the process tree as seen from this process: every
/// process it knows a loop of, their loops, objects, connections and
/// subscriptions.
///
/// ```
/// use signal_slot::{EventLoop, Topology, event_loop_object};
///
/// #[event_loop_object]
/// struct Sensor;
///
/// #[event_loop_object]
/// impl Sensor {
///     #[signal]
///     fn reading(value: f64);
/// }
///
/// #[event_loop_object]
/// struct Display;
///
/// #[event_loop_object]
/// impl Display {
///     #[slot]
///     fn show(&mut self, value: f64) {
///         let _ = value;
///     }
/// }
///
/// let main = EventLoop::new("topology_example")?;
/// let sensor = main.add_with_id("sensor", Sensor)?;
/// let display = main.add_with_id("display", Display)?;
/// sensor.reading().connect_latest(display.show())?;
///
/// let topology = Topology::capture()?;
/// let mermaid = topology.to_mermaid();
/// assert!(mermaid.contains("reading → show"), "{mermaid}");
/// assert!(topology.to_dot().starts_with("digraph"));
/// assert!(topology.to_json().contains("\"KeepLatest\""));
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Topology {
    /// The processes, the root's first.
    pub processes: Vec<ProcessInfo>,
    /// When it was captured (by this process's clock).
    pub captured: SystemTime,
}

/// One process of the tree and the loops that run in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// Its number in the tree (0 for the root).
    pub number: u64,
    /// Its operating-system id.
    pub pid: u32,
    /// Its loops, by name.
    pub loops: Vec<LoopInfo>,
    /// What this process dropped for each loop (its own or another
    /// process's), by loop name: the loops with a drop only.
    pub drops: BTreeMap<String, DropCounts>,
    /// How full its rings to loops of other processes are, one per loop it
    /// wrote to, by loop name.
    pub rings: Vec<RingFill>,
}

/// A loop and what lives on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoopInfo {
    /// The loop's name.
    pub name: String,
    /// Its objects, by id.
    pub objects: Vec<ObjectInfo>,
    /// Who subscribed to which broadcast name on it.
    pub subscriptions: Vec<SubscriptionInfo>,
    /// Its numbers, as its process counts them.
    pub stats: LoopStats,
}

/// An object, its signals and slots, and the connections of its signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The object's id.
    pub id: String,
    /// The name of its type.
    pub type_name: String,
    /// Its signals' names.
    pub signals: Vec<String>,
    /// Its slots' names.
    pub slots: Vec<String>,
    /// The connections of its signals.
    pub connections: Vec<ConnectionInfo>,
}

/// A connection of a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The signal's name.
    pub signal: String,
    /// The receiving loop.
    pub to_loop: String,
    /// What receives it there.
    pub to: Receiver,
    /// Emissions of the signal so far that had a connection to go to (a
    /// batch counts for its size): each connection of a fan-out signal
    /// was offered every one.
    pub emitted: u64,
    /// Emissions of the signal that its process dropped on the way to any
    /// of its connections, by reason: an inbox or ring that was full, a
    /// receiver gone, a keep-latest value replaced before it was taken.
    /// What the receiving loop drops itself counts in its
    /// [`LoopStats::drops`] only.
    pub dropped: DropCounts,
    /// Emissions and drops per second between two captures, once
    /// [`Topology::with_rates`] worked them out.
    pub rates: Option<ConnectionRates>,
}

/// How fast a connection's signal went between two captures of the
/// topology.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionRates {
    /// Emissions per second.
    pub emitted: f64,
    /// Drops per second.
    pub dropped: f64,
}

/// What a connection delivers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Receiver {
    /// A slot of an object.
    Slot {
        /// The object's id.
        object: String,
        /// The slot's name (`#n` if no process of the tree said it).
        slot: String,
        /// How the connection delivers.
        delivery: Delivery,
    },
    /// The loop's subscribers to a broadcast name: the signal's own name
    /// ([`Signal::broadcast_on`](crate::Signal::broadcast_on)) or a topic's
    /// ([`Signal::publish_on`](crate::Signal::publish_on)).
    Subscribers {
        /// The broadcast name.
        name: String,
    },
}

/// A subscription of a slot to a broadcast name on its object's loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// The broadcast name: a signal's, or a topic's path.
    pub name: String,
    /// The subscriber's id.
    pub object: String,
    /// The subscribed slot.
    pub slot: String,
}
