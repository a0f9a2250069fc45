//! A picture of the running system: its processes, their loops, the objects
//! on them and the connections between them, exported as Mermaid, Graphviz
//! DOT or JSON.
//!
//! Each process describes what lives in it (the connections of an object
//! live with the object); [`Topology::capture`] asks every process of the
//! tree that this one knows a loop of, through its agent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::connection::Delivery;
use crate::error::Error;
use crate::registry::registry;
use crate::stats::{DropCounts, LoopStats};

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
        let mut topology = Topology { processes };
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

    /// The topology as a Mermaid flowchart: a box per process holding a
    /// box per loop holding its objects; an arrow per connection, labelled
    /// `signal → slot` (dotted for balanced connections, thick for
    /// keep-latest ones, and via the broadcast name for broadcasts).
    pub fn to_mermaid(&self) -> String {
        self.render(&Dialect {
            head: "flowchart LR\n",
            tail: "",
            open: |out, indent, id, label| {
                let _ = writeln!(out, "{indent}subgraph {id}[\"{}\"]", mermaid_text(label));
            },
            close: "end",
            node: |out, indent, id, label| {
                let _ = writeln!(out, "{indent}{id}[\"{}\"]", mermaid_text(label));
            },
            edge: |out, edge| {
                let arrow = match edge.delivery {
                    Some(Delivery::Balanced) => "-.->",
                    Some(Delivery::KeepLatest) => "==>",
                    Some(Delivery::FanOut | Delivery::SingleShot) | None => "-->",
                };
                let label = mermaid_text(&edge.label);
                let _ = writeln!(out, "  {} {arrow}|\"{label}\"| {}", edge.from, edge.to);
            },
        })
    }

    /// The topology as a Graphviz DOT digraph: a cluster per process and
    /// per loop; an edge per connection, labelled `signal → slot` (dashed
    /// for balanced connections, bold for keep-latest ones).
    pub fn to_dot(&self) -> String {
        self.render(&Dialect {
            head: "digraph signal_slot {\n  rankdir=LR;\n  node [shape=box];\n",
            tail: "}\n",
            open: |out, indent, id, label| {
                let label = dot_text(label);
                let _ = writeln!(
                    out,
                    "{indent}subgraph cluster_{id} {{\n{indent}  label=\"{label}\";"
                );
            },
            close: "}",
            node: |out, indent, id, label| {
                let _ = writeln!(out, "{indent}{id} [label=\"{}\"];", dot_text(label));
            },
            edge: |out, edge| {
                let style = match edge.delivery {
                    Some(Delivery::Balanced) => ", style=dashed",
                    Some(Delivery::KeepLatest) => ", style=bold",
                    Some(Delivery::SingleShot) => ", style=dotted",
                    Some(Delivery::FanOut) | None => "",
                };
                let label = dot_text(&edge.label);
                let _ = writeln!(
                    out,
                    "  {} -> {} [label=\"{label}\"{style}];",
                    edge.from, edge.to
                );
            },
        })
    }

    /// The diagram in `dialect`: processes holding loops holding objects,
    /// then the edges.
    fn render(&self, dialect: &Dialect) -> String {
        let mut out = String::from(dialect.head);
        let nodes = self.nodes();
        for process in &self.processes {
            let id = format!("p{}", process.number);
            (dialect.open)(&mut out, "  ", &id, &process_label(process));
            for event_loop in &process.loops {
                let id = nodes.loop_id(&event_loop.name);
                let label = format!("loop {}", event_loop.name);
                (dialect.open)(&mut out, "    ", &id, &label);
                for object in &event_loop.objects {
                    let id = nodes.object(&event_loop.name, &object.id);
                    let label = format!("{}: {}", object.id, object.type_name);
                    (dialect.node)(&mut out, "      ", &id, &label);
                }
                let _ = writeln!(out, "    {}", dialect.close);
            }
            let _ = writeln!(out, "  {}", dialect.close);
        }
        for edge in self.edges(&nodes) {
            (dialect.edge)(&mut out, &edge);
        }
        out.push_str(dialect.tail);
        out
    }

    /// A node id for every loop and object.
    fn nodes(&self) -> Nodes {
        let mut nodes = Nodes::default();
        for process in &self.processes {
            for event_loop in &process.loops {
                let next = nodes.loops.len();
                nodes.loops.insert(event_loop.name.clone(), next);
                for object in &event_loop.objects {
                    let next = nodes.objects.len();
                    nodes
                        .objects
                        .insert((event_loop.name.clone(), object.id.clone()), next);
                }
            }
        }
        nodes
    }

    /// An edge per connection, and per subscriber reached by a broadcast.
    fn edges(&self, nodes: &Nodes) -> Vec<Edge> {
        let subscribers: HashMap<(&str, &str), Vec<&SubscriptionInfo>> = {
            let mut map: HashMap<(&str, &str), Vec<&SubscriptionInfo>> = HashMap::new();
            for event_loop in self.processes.iter().flat_map(|process| &process.loops) {
                for subscription in &event_loop.subscriptions {
                    map.entry((&event_loop.name, &subscription.name))
                        .or_default()
                        .push(subscription);
                }
            }
            map
        };
        let mut edges = Vec::new();
        let mut seen = BTreeSet::new();
        for event_loop in self.processes.iter().flat_map(|process| &process.loops) {
            for object in &event_loop.objects {
                let from = nodes.object(&event_loop.name, &object.id);
                for connection in &object.connections {
                    let mut push = |to: String, label: String, delivery: Option<Delivery>| {
                        if seen.insert((from.clone(), to.clone(), label.clone())) {
                            edges.push(Edge {
                                from: from.clone(),
                                to,
                                label,
                                delivery,
                            });
                        }
                    };
                    match &connection.to {
                        Receiver::Slot {
                            object: receiver,
                            slot,
                            delivery,
                        } => {
                            let suffix = match delivery {
                                Delivery::FanOut => "",
                                Delivery::Balanced => " (balanced)",
                                Delivery::KeepLatest => " (latest)",
                                Delivery::SingleShot => " (once)",
                            };
                            push(
                                nodes.object(&connection.to_loop, receiver),
                                format!(
                                    "{} → {slot}{suffix}{}",
                                    connection.signal,
                                    sent(connection.emitted)
                                ),
                                Some(*delivery),
                            );
                        }
                        Receiver::Subscribers { name } => {
                            let reached = subscribers
                                .get(&(connection.to_loop.as_str(), name.as_str()))
                                .map(Vec::as_slice)
                                .unwrap_or_default();
                            for subscription in reached {
                                push(
                                    nodes.object(&connection.to_loop, &subscription.object),
                                    format!(
                                        "{} → {} (broadcast {}){}",
                                        connection.signal,
                                        subscription.slot,
                                        short_name(name),
                                        sent(connection.emitted)
                                    ),
                                    None,
                                );
                            }
                        }
                    }
                }
            }
        }
        edges
    }
}

/// Node ids, by loop and by object.
#[derive(Default)]
struct Nodes {
    loops: HashMap<String, usize>,
    objects: HashMap<(String, String), usize>,
}

impl Nodes {
    fn loop_id(&self, name: &str) -> String {
        format!("l{}", self.loops.get(name).copied().unwrap_or(usize::MAX))
    }

    /// An object's node; one of a process that did not answer gets an id
    /// of its own, made of its names.
    fn object(&self, loop_name: &str, id: &str) -> String {
        match self.objects.get(&(loop_name.to_owned(), id.to_owned())) {
            Some(index) => format!("o{index}"),
            None => {
                let mut name = String::from("x_");
                for c in loop_name.chars().chain(['_']).chain(id.chars()) {
                    name.push(if c.is_ascii_alphanumeric() { c } else { '_' });
                }
                name
            }
        }
    }
}

/// How a diagram language writes clusters, nodes and edges.
struct Dialect {
    head: &'static str,
    tail: &'static str,
    /// Opens a cluster: indentation, id, label.
    open: fn(&mut String, &str, &str, &str),
    /// What closes a cluster.
    close: &'static str,
    /// A node: indentation, id, label.
    node: fn(&mut String, &str, &str, &str),
    edge: fn(&mut String, &Edge),
}

struct Edge {
    from: String,
    to: String,
    label: String,
    delivery: Option<Delivery>,
}

/// An edge's count of emissions, if any: ` · 1234 sent`.
fn sent(emitted: u64) -> String {
    if emitted == 0 {
        String::new()
    } else {
        format!(" · {emitted} sent")
    }
}

fn process_label(process: &ProcessInfo) -> String {
    if process.number == 0 {
        format!("root process (pid {})", process.pid)
    } else {
        format!("process #{} (pid {})", process.number, process.pid)
    }
}

/// A topic's name without its module path.
fn short_name(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// Text inside a quoted Mermaid label.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// Text inside a quoted DOT label.
fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

mod describe;
pub(crate) use describe::describe_here;
