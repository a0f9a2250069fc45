//! What lives in this process, as its agent describes it to the others.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::connection::{self, Delivery};
use crate::stats::DropCounts;
use crate::transport::registry::registry;

use super::{ConnectionInfo, LoopInfo, ObjectInfo, ProcessInfo, Receiver, UNRESOLVED};

/// What lives in this process: its loops, their objects, their objects'
/// connections and their subscriptions.
pub(crate) fn describe_here() -> ProcessInfo {
    let registry = registry();
    let mut loops: BTreeMap<Arc<str>, LoopInfo> = BTreeMap::new();
    for (name, peer) in &registry.loops {
        if peer.local_inbox().is_some() && !peer.is_gone() {
            loops.insert(
                name.clone(),
                LoopInfo {
                    name: name.to_string(),
                    objects: Vec::new(),
                    subscriptions: registry.subscriptions_of(name),
                    stats: crate::event_loop::stats::here(&registry, peer),
                },
            );
        }
    }
    for (loop_name, object) in registry.attached_objects() {
        let Some(event_loop) = loops.get_mut(&loop_name) else {
            continue;
        };
        if object.detached.load(Ordering::Acquire) {
            continue;
        }
        let mut connections = Vec::new();
        for (index, list) in connection::snapshot(&object) {
            let signal = object.signal_name(index).to_owned();
            let (emitted, dropped) = object
                .signals
                .get(usize::from(index))
                .map_or((0, DropCounts::default()), |connections| {
                    (connections.emitted(), connections.drops())
                });
            let mut slot = |destination: &connection::Destination, delivery: Delivery| {
                for receiver in &destination.header.receivers {
                    connections.push(ConnectionInfo {
                        signal: signal.clone(),
                        to_loop: destination.peer.name().to_owned(),
                        to: Receiver::Slot {
                            object: receiver.object.to_string(),
                            slot: format!("{UNRESOLVED}{}", receiver.slot),
                            delivery,
                        },
                        emitted,
                        dropped,
                        rates: None,
                    });
                }
            };
            for destination in &list.fan_out {
                slot(destination, Delivery::FanOut);
            }
            for destination in &list.balanced {
                slot(destination, Delivery::Balanced);
            }
            for latest in &list.latest {
                slot(&latest.destination, Delivery::KeepLatest);
            }
            for once in &list.once {
                slot(&once.destination, Delivery::SingleShot);
            }
            for destination in &list.fan_out {
                if destination.header.broadcast {
                    connections.push(ConnectionInfo {
                        signal: signal.clone(),
                        to_loop: destination.peer.name().to_owned(),
                        to: Receiver::Subscribers {
                            name: destination.header.signal.to_owned(),
                        },
                        emitted,
                        dropped,
                        rates: None,
                    });
                }
            }
        }
        event_loop.objects.push(ObjectInfo {
            id: object.id.to_string(),
            type_name: object.type_name.to_owned(),
            signals: object
                .signal_names
                .iter()
                .map(|&name| name.to_owned())
                .collect(),
            slots: object
                .slot_names
                .iter()
                .map(|&name| name.to_owned())
                .collect(),
            connections,
        });
    }
    let mut loops: Vec<LoopInfo> = loops.into_values().collect();
    for event_loop in &mut loops {
        event_loop.objects.sort_by(|a, b| a.id.cmp(&b.id));
    }
    ProcessInfo {
        number: registry.processes.own(),
        pid: std::process::id(),
        loops,
        drops: crate::event_loop::stats::drops_here(&registry),
        rings: registry
            .loops
            .values()
            .filter_map(|peer| peer.ring_fill())
            .collect(),
    }
}
