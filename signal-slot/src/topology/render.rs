//! The topology drawn: Mermaid and Graphviz DOT, a box per process holding
//! a box per loop holding its objects, an arrow per connection.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use super::{ConnectionInfo, ProcessInfo, Receiver, SubscriptionInfo, Topology};
use crate::connection::Delivery;

impl Topology {
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
                                    traffic(connection)
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
                                        traffic(connection)
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

/// An edge's traffic, if any: ` · 1234 sent · 3 dropped (full 3)`, or
/// with rates, ` · 1.2k/s · 3.0 dropped/s`.
fn traffic(connection: &ConnectionInfo) -> String {
    let mut out = String::new();
    if let Some(rates) = connection.rates {
        let _ = write!(out, " · {}/s", per_second(rates.emitted));
        if rates.dropped > 0.0 {
            let _ = write!(out, " · {} dropped/s", per_second(rates.dropped));
        }
        return out;
    }
    if connection.emitted > 0 {
        let _ = write!(out, " · {} sent", connection.emitted);
    }
    if connection.dropped.total() > 0 {
        let _ = write!(
            out,
            " · {} dropped ({})",
            connection.dropped.total(),
            connection.dropped
        );
    }
    out
}

/// A rate, short: `0.5`, `12`, `3.4k`, `1.2M`.
fn per_second(rate: f64) -> String {
    match rate {
        rate if rate >= 1e6 => format!("{:.1}M", rate / 1e6),
        rate if rate >= 1e3 => format!("{:.1}k", rate / 1e3),
        rate if rate >= 10.0 => format!("{rate:.0}"),
        rate => format!("{rate:.1}"),
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
