//! The process tree's routes: which loops this process can reach, and how,
//! as processes come and go.
//!
//! Once a (non-serial) process exists, every loop of the parent gets a
//! transport channel and a reader, and loops created later get one when
//! they are created. The parent creates a child's channels when the process
//! is *created*, so that processes started earlier can send to it before it
//! starts, and tells running children of every loop created after them
//! (route updates, through each child's outbox, in order with the rest).
//!
//! The receiving end of a child's channel is kept by that child only (the
//! parent closes its copy after the fork, and every child closes the copies
//! it inherits of other children's), so that a child that dies closes its
//! channel and its senders learn it at once. (The receiving ends of the
//! parent's loops are inherited by children, which cannot close them
//! without access to the descriptors; a parent loop that ends while children
//! send to it makes their outboxes fill, drop and count.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender};

use super::accounting;
use super::{DEFAULT_INBOX_CAPACITY, InboxSender, LoopPeer, OutItem, Outbox, Route, RouteUpdate};
use crate::registry::{Registry, registry};

/// The receiving ends of a child's channels, held (by the parent) from the
/// process's creation until its start.
pub(crate) struct PendingChannels {
    pub(crate) data: IpcBytesReceiver,
    pub(crate) control: IpcReceiver<RouteUpdate>,
}

/// A running child, as the parent knows it.
struct ChildRecord {
    loop_name: Arc<str>,
    control: IpcSender<RouteUpdate>,
}

/// This process's part in the process tree.
#[derive(Default)]
pub(crate) struct ProcessTable {
    /// Set in a child process: its name.
    child_of: Option<Arc<str>>,
    /// True once a (non-serial) process was created: loops then need a
    /// transport channel.
    active: bool,
    /// The number the last process created got (see `accounting`).
    last_number: u16,
    pending: HashMap<Arc<str>, PendingChannels>,
    children: Vec<ChildRecord>,
}

impl ProcessTable {
    /// True in a child process.
    pub(crate) fn is_child(&self) -> bool {
        self.child_of.is_some()
    }

    /// The channels of a process that was created and not started.
    pub(crate) fn take_pending(&mut self, name: &str) -> Option<PendingChannels> {
        self.pending.remove(name)
    }

    /// Gives back the channels of a process that could not start.
    pub(crate) fn restore_pending(&mut self, name: Arc<str>, channels: PendingChannels) {
        self.pending.insert(name, channels);
    }

    /// Forgets the channels of a process that will never start.
    pub(crate) fn discard_pending(&mut self, name: &str) {
        self.pending.remove(name);
    }

    /// Records a child that started, to tell it of loops created later.
    pub(crate) fn add_child(&mut self, loop_name: Arc<str>, control: IpcSender<RouteUpdate>) {
        self.children.push(ChildRecord { loop_name, control });
    }

    /// Forgets a child that ended.
    pub(crate) fn remove_child(&mut self, loop_name: &str) {
        self.children.retain(|child| &*child.loop_name != loop_name);
    }
}

/// The channels of a new child process, created in the parent.
pub(crate) struct ChildChannels {
    pub(crate) control: IpcSender<RouteUpdate>,
    /// The number of the child in the tree (see `accounting`).
    pub(crate) number: u16,
}

/// Creates the channels of the child process whose loop is `peer`, and
/// announces its route to the running children.
pub(crate) fn open_child_channels(peer: &Arc<LoopPeer>) -> std::io::Result<ChildChannels> {
    let (data_tx, data_rx) = ipc::bytes_channel()?;
    let (control_tx, control_rx) = ipc::channel()?;
    peer.set_address(data_tx.clone());
    let mut registry = registry();
    activate(&mut registry);
    // Numbers past the ledger's size (or past u16) are not counted.
    let table = &mut registry.processes;
    table.last_number = table.last_number.saturating_add(1);
    let number = table.last_number;
    peer.drops().set_process(number);
    table.pending.insert(
        peer.name_arc().clone(),
        PendingChannels {
            data: data_rx,
            control: control_rx,
        },
    );
    distribute_route(&registry, peer.name_arc(), &data_tx, number);
    Ok(ChildChannels {
        control: control_tx,
        number,
    })
}

/// Marks the process tree as active: from now on every loop of this
/// process can be reached from other processes.
fn activate(registry: &mut Registry) {
    if registry.processes.active || registry.processes.is_child() {
        return;
    }
    if let Err(error) = super::prepare_for_processes() {
        tracing::warn!(%error, "cannot prepare the transport for child processes");
    }
    registry.processes.active = true;
    let peers: Vec<Arc<LoopPeer>> = registry.loops.values().cloned().collect();
    for peer in peers {
        open_inbox(registry, &peer);
    }
}

/// Gives a loop of this process a transport channel and a reader, and tells
/// running children about it. Called for every loop created once processes
/// exist.
pub(crate) fn open_inbox(registry: &Registry, peer: &Arc<LoopPeer>) {
    if !registry.processes.active || registry.processes.is_child() {
        return;
    }
    if peer.address().is_some() {
        return;
    }
    let Some(inbox) = peer.local_inbox() else {
        return;
    };
    let result = ipc::bytes_channel().and_then(|(tx, rx)| {
        super::spawn_reader(peer, inbox, rx, None)?;
        Ok(tx)
    });
    match result {
        Ok(address) => {
            peer.set_address(address.clone());
            let own = accounting::own_process();
            peer.drops().set_process(own);
            distribute_route(registry, peer.name_arc(), &address, own);
        }
        Err(error) => tracing::error!(
            event_loop = peer.name(),
            %error,
            "cannot open a channel to event loop `{}`: other processes cannot reach it",
            peer.name()
        ),
    }
}

/// Tells every running child where to reach the loop `name`.
fn distribute_route(registry: &Registry, name: &Arc<str>, address: &IpcBytesSender, process: u16) {
    for child in &registry.processes.children {
        let Some(peer) = registry.loops.get(&child.loop_name) else {
            continue;
        };
        let update = RouteUpdate {
            routes: vec![(name.to_string(), address.clone(), process)],
        };
        // Through the child's outbox, in order with what goes there, and
        // without blocking here if the child does not read.
        if let Some(outbox) = peer.outbox() {
            let _ = outbox.push(
                peer,
                OutItem::Routes {
                    control: child.control.clone(),
                    update,
                },
            );
        }
    }
}

/// Applies a route update in a child: loops it can now reach.
pub(crate) fn apply_route_update(update: RouteUpdate) {
    let mut registry = registry();
    for (name, address, process) in update.routes {
        tracing::debug!(route = %name, "route update");
        let name: Arc<str> = name.into();
        if registry
            .loops
            .get(&name)
            .is_some_and(|peer| peer.local_inbox().is_some())
        {
            continue;
        }
        // A fresh peer, even if the name was known: a loop of that name
        // that ended has nothing to pass on to the new one.
        let outbox = Outbox::new(address.clone(), DEFAULT_INBOX_CAPACITY);
        let peer = LoopPeer::new(name.clone(), Route::Remote(outbox));
        peer.set_address(address);
        peer.drops().set_process(process);
        registry.loops.insert(name, peer);
    }
}

/// Rebuilds the inherited routes in a freshly forked child whose loop is
/// `own`, reached through `inbox`.
pub(crate) fn become_child(registry: &mut Registry, own: &Arc<LoopPeer>, inbox: InboxSender) {
    let table = &mut registry.processes;
    table.child_of = Some(own.name_arc().clone());
    table.active = false;
    // The copies of other children's receiving ends close here, so that
    // each is held by its own process only.
    table.pending.clear();
    table.children.clear();
    let mut inbox = Some(inbox);
    for peer in registry.loops.values() {
        let route = if Arc::ptr_eq(peer, own) {
            match inbox.take() {
                Some(inbox) => Route::Local(inbox),
                None => Route::Gone,
            }
        } else if let Some(address) = peer.address() {
            Route::Remote(Outbox::new(address.clone(), DEFAULT_INBOX_CAPACITY))
        } else {
            Route::Gone
        };
        // Leaked: the old route's queues were shared with threads of the
        // parent, which do not exist here.
        std::mem::forget(peer.set_route(route));
    }
}

/// Gives every outbox of this process until `deadline` to send what it
/// holds; names the loops it could not flush.
pub(crate) fn flush_outboxes(deadline: Instant) {
    let peers: Vec<Arc<LoopPeer>> = registry().loops.values().cloned().collect();
    for peer in peers {
        if let Some(outbox) = peer.outbox()
            && !outbox.flush(&peer, deadline)
        {
            tracing::warn!(
                event_loop = peer.name(),
                "timed out sending the last messages to event loop `{}`",
                peer.name()
            );
        }
    }
}

/// Counts as lost what was in transit to a loop whose process ended, once
/// the outbox has sent (or failed to send) what it holds.
pub(crate) fn settle_ended_process(peer: &Arc<LoopPeer>) {
    match peer.outbox() {
        Some(outbox) if outbox.push(peer, OutItem::SettleInTransit).is_ok() => {}
        _ => peer.drops().settle_in_transit(),
    }
    peer.set_gone();
}
