//! A picture of the running system: its processes, their loops, the objects
//! on them and the connections between them, exported as Mermaid, Graphviz
//! DOT or JSON.
//!
//! Each process describes what lives in it (the connections of an object
//! live with the object); [`Topology::capture`] asks every process of the
//! tree that this one knows a loop of, through its agent.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use crate::error::Error;
use crate::stats::{DropCounts, LoopStats, RingFill};
use crate::transport::registry::registry;

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
pub(crate) mod info;
mod rates;
mod render;
pub(crate) use describe::describe_here;
pub use info::{
    ConnectionInfo, ConnectionRates, LoopInfo, ObjectInfo, ProcessInfo, Receiver, SubscriptionInfo,
    Topology,
};
