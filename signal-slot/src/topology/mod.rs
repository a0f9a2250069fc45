//! A picture of the running system: its processes, their loops, the objects
//! on them and the connections between them, exported as Mermaid, Graphviz
//! DOT or JSON.
//!
//! Each process describes what lives in it (the connections of an object
//! live with the object); [`Topology::capture`] asks every process of the
//! tree that this one knows a loop of, through its agent.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::connection::Delivery;
use crate::error::Error;
use crate::registry::registry;
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

/// A slot of `object` on `loop_name`, by index, until names are known.
const UNRESOLVED: &str = "#";

impl Topology {
    /// The topology of the tree now: this process, and every other process
    /// it knows a loop of, asked through its agent (a round trip each).
    ///
    /// # Errors
    ///
    /// [`Error::Process`] if a process that should answer does not (it
    /// ended meanwhile, or is stuck).
    pub fn capture() -> Result<Topology, Error> {
        let here = describe_here();
        let mut agents = BTreeMap::new();
        {
            let registry = registry();
            for peer in registry.loops.values() {
                if let Some(address) = peer.address().filter(|_| peer.is_remote())
                    && address.process != here.number
                {
                    agents
                        .entry(address.process)
                        .or_insert_with(|| address.agent.clone());
                }
            }
        }
        let mut processes = vec![here];
        for (number, agent) in agents {
            let view =
                crate::transport::describe_process(&agent).map_err(|message| Error::Process {
                    process: format!("#{number}"),
                    message: format!("cannot describe its loops: {message}"),
                })?;
            processes.push(view);
        }
        processes.sort_by_key(|process| process.number);
        // What only a parent knows of its children: which are deaf.
        {
            let registry = registry();
            for event_loop in processes.iter_mut().flat_map(|process| &mut process.loops) {
                if let Some(peer) = registry.loops.get(event_loop.name.as_str()) {
                    event_loop.stats.deaf |= peer.activity().is_deaf();
                }
            }
        }
        let mut topology = Topology {
            processes,
            captured: SystemTime::now(),
        };
        topology.name_slots();
        Ok(topology)
    }

    /// Every signal dropped in the tree, by reason: what each process
    /// dropped, for any loop.
    ///
    /// ```
    /// use signal_slot::Topology;
    ///
    /// let drops = Topology::capture()?.drops();
    /// println!("dropped: {drops}"); // `none`, or `full 3, replaced 12`
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn drops(&self) -> DropCounts {
        self.processes
            .iter()
            .flat_map(|process| process.drops.values().copied())
            .sum()
    }

    /// How full each process's ring to `loop_name` is: the process's
    /// number and its ring's fill, one per process that wrote to it.
    pub fn rings_to<'a>(
        &'a self,
        loop_name: &'a str,
    ) -> impl Iterator<Item = (u64, &'a RingFill)> + 'a {
        self.processes.iter().flat_map(move |process| {
            process
                .rings
                .iter()
                .filter(move |ring| ring.to_loop == loop_name)
                .map(move |ring| (process.number, ring))
        })
    }

    /// Every loop's numbers, with the number of its process.
    pub fn loop_stats(&self) -> impl Iterator<Item = (u64, &LoopStats)> + '_ {
        self.processes.iter().flat_map(|process| {
            process
                .loops
                .iter()
                .map(move |event_loop| (process.number, &event_loop.stats))
        })
    }

    /// Replaces slot numbers by names, from the process where each
    /// receiver lives.
    fn name_slots(&mut self) {
        // The names of each object's slots and signals, by loop and id.
        type Names<'a> = (&'a [String], &'a [String]);
        let mut slots: HashMap<(String, String), Names<'_>> = HashMap::new();
        for process in &self.processes {
            for event_loop in &process.loops {
                for object in &event_loop.objects {
                    slots.insert(
                        (event_loop.name.clone(), object.id.clone()),
                        (&object.slots, &object.signals),
                    );
                }
            }
        }
        // A signal connected to a signal: the second one's name.
        let relay = usize::from(crate::signal::RELAY);
        let names: HashMap<(String, String, usize), String> = self
            .processes
            .iter()
            .flat_map(|process| &process.loops)
            .flat_map(|event_loop| &event_loop.objects)
            .flat_map(|object| &object.connections)
            .filter_map(|connection| match &connection.to {
                Receiver::Slot { object, slot, .. } => {
                    let index = slot.strip_prefix(UNRESOLVED)?.parse::<usize>().ok()?;
                    let (slot_names, signal_names) =
                        slots.get(&(connection.to_loop.clone(), object.clone()))?;
                    let name = match index.checked_sub(relay) {
                        Some(signal) => format!("{} (signal)", signal_names.get(signal)?),
                        None => slot_names.get(index)?.clone(),
                    };
                    Some(((connection.to_loop.clone(), object.clone(), index), name))
                }
                Receiver::Subscribers { .. } => None,
            })
            .collect();
        let connections = self
            .processes
            .iter_mut()
            .flat_map(|process| &mut process.loops)
            .flat_map(|event_loop| &mut event_loop.objects)
            .flat_map(|object| &mut object.connections);
        for connection in connections {
            if let Receiver::Slot { object, slot, .. } = &mut connection.to
                && let Some(index) = slot.strip_prefix(UNRESOLVED)
                && let Ok(index) = index.parse::<usize>()
                && let Some(name) = names.get(&(connection.to_loop.clone(), object.clone(), index))
            {
                *slot = name.clone();
            }
        }
    }

    /// The topology as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\": {error:?}}}"))
    }
}

mod describe;
mod rates;
mod render;
pub(crate) use describe::describe_here;
