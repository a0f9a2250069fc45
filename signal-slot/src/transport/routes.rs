//! The process tree's routes: where each loop lives, how to reach it, and
//! what happens when loops and processes come and go.
//!
//! The first process of a tree (the *root*) numbers the processes it
//! creates and keeps everyone's routes current. Once it has created a
//! process, every loop in the tree has an *address*: the process it lives
//! in, its doorbell (shared memory), and the control channel of its
//! process's agent (`process::agent`). A sender in another process writes
//! records into a ring of its own for that loop, offered once to the
//! loop's agent, and rings the doorbell.
//!
//! The root tells the running children of every loop created after them,
//! of every loop that ends, and of every child that ends; a child tells
//! the root of its loops that end. Whoever learns that a loop ended closes
//! its ring to it and counts what the loop never took as dropped; so
//! nothing is kept for loops and processes that are gone.

use std::collections::HashMap;
use std::sync::Arc;

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};

use super::link::RingLink;
use super::tree::{self, AgentMessage};
use super::{LoopPeer, RemoteLoop, Route};
use crate::transport::registry::{Registry, registry};

pub(crate) use super::address::{AddressMessage, LoopAddress};
pub(crate) use crate::protocol::ProcessId;

/// Loops beyond the process tree (another program's, when this process
/// joined a network): found by name when the tree has none of that name,
/// and told of the tree's loops that end. The network registers itself
/// here as it joins: the routes never name it.
pub(crate) trait Beyond: Sync {
    /// A loop of another program, by name.
    fn find(&self, name: &str) -> Option<Arc<LoopPeer>>;
    /// A loop of this process ended: no other program reaches it now.
    fn loop_ended_here(&self, name: &str);
}

static BEYOND: std::sync::OnceLock<&'static dyn Beyond> = std::sync::OnceLock::new();

/// Registers what lies beyond the tree (once; later calls change nothing).
#[cfg_attr(not(feature = "zenoh"), allow(dead_code))]
pub(crate) fn reach_beyond(beyond: &'static dyn Beyond) {
    let _ = BEYOND.set(beyond);
}

fn beyond() -> Option<&'static dyn Beyond> {
    BEYOND.get().copied()
}

/// A child that was created and not started: the receiving end of its
/// agent's channel, held here until the child takes it.
pub(crate) struct PendingChild {
    pub(crate) agent: IpcReceiver<AgentMessage>,
}

/// A running child, as the root knows it.
struct ChildRecord {
    process: ProcessId,
    agent: IpcSender<AgentMessage>,
}

/// This process's part in the process tree.
#[derive(Default)]
pub(crate) struct ProcessTable {
    /// This process's number.
    /// Set in a child process.
    is_child: bool,
    /// True once the tree exists: loops then have addresses.
    active: bool,
    /// The number of the last process created.
    last: ProcessId,
    /// This process's agent, where other processes reach it.
    agent: Option<IpcSender<AgentMessage>>,
    /// The root's agent (in a child).
    root: Option<IpcSender<AgentMessage>>,
    pending: HashMap<Arc<str>, PendingChild>,
    children: Vec<ChildRecord>,
}

impl ProcessTable {
    /// This process's number in the tree (0 for the root).
    pub(crate) fn own(&self) -> ProcessId {
        crate::protocol::own_process()
    }

    /// The root's agent, in a child.
    pub(crate) fn root_agent(&self) -> Option<IpcSender<AgentMessage>> {
        self.root.clone().filter(|_| self.is_child)
    }

    /// True in a child process.
    pub(crate) fn is_child(&self) -> bool {
        self.is_child
    }

    /// The agent channel of a process that was created and not started.
    pub(crate) fn take_pending(&mut self, name: &str) -> Option<PendingChild> {
        self.pending.remove(name)
    }

    /// Gives back the channel of a process that could not start.
    pub(crate) fn restore_pending(&mut self, name: Arc<str>, pending: PendingChild) {
        self.pending.insert(name, pending);
    }

    /// Forgets a process that will never start.
    pub(crate) fn discard_pending(&mut self, name: &str) {
        self.pending.remove(name);
    }
}

/// Sends `message` to every running child.
fn tell_children(table: &ProcessTable, message: impl Fn() -> AgentMessage) {
    for child in &table.children {
        if let Err(error) = child.agent.send(message()) {
            tracing::debug!(process = child.process, %error, "a child did not take a route update");
        }
    }
}

/// Makes this process the root of a tree, once: starts its agent with
/// `start_agent` (a service above the transport) and gives every loop of
/// it an address. Called before the loop of the first child process is
/// created (which gets an address of its own).
pub(crate) fn activate(
    start_agent: impl FnOnce(IpcReceiver<AgentMessage>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut registry = registry();
    let registry = &mut *registry;
    let table = &mut registry.processes;
    if table.active || table.is_child {
        return Ok(());
    }
    super::prepare_for_processes()?;
    let (tx, rx) = ipc::channel()?;
    start_agent(rx)?;
    table.agent = Some(tx);
    table.active = true;
    let peers: Vec<Arc<LoopPeer>> = registry.loops.values().cloned().collect();
    for peer in peers {
        // The root announces to nobody.
        let _ = give_address(registry, &peer);
    }
    Ok(())
}

/// Gives a loop of this process an address, once processes exist. Called
/// for every loop created; the root tells its running children at once; a
/// child returns the route, to [`announce`] to the root once the registry
/// is released.
#[must_use = "a child must announce the route to the root"]
pub(crate) fn give_address(registry: &Registry, peer: &Arc<LoopPeer>) -> Option<AddressMessage> {
    let table = &registry.processes;
    let agent = table.agent.clone().filter(|_| table.active)?;
    let address = LoopAddress::of_local(peer, crate::protocol::own_process(), agent)?;
    if !peer.set_address(address) {
        return None;
    }
    let address = peer.address()?;
    if table.is_child {
        return Some(address.to_message());
    }
    tell_children(table, || AgentMessage::Routes(vec![address.to_message()]));
    None
}

/// In a child: tells the root of a loop created here, and returns once the
/// root knows it (so that a handle to it, sent anywhere after, resolves).
pub(crate) fn announce(route: AddressMessage) {
    let root = registry().processes.root.clone();
    let Some(root) = root else {
        return;
    };
    let name = route.name.clone();
    if let Err(error) = tree::announce(&root, route) {
        tracing::warn!(
            event_loop = %name,
            "event loop `{name}` cannot be announced to the other processes: {error}"
        );
    }
}

/// In the root: a child created a loop. The root learns its route and
/// tells the other children.
pub(crate) fn announced(route: AddressMessage) {
    let from = route.process;
    let copy = route.clone_message();
    add_routes(vec![route]);
    let registry = registry();
    for child in registry
        .processes
        .children
        .iter()
        .filter(|child| child.process != from)
    {
        let _ = child
            .agent
            .send(AgentMessage::Routes(vec![copy.clone_message()]));
    }
}

/// The address of the loop `name`, if this process knows one.
pub(crate) fn address_of(name: &str) -> Option<AddressMessage> {
    let registry = registry();
    // A loop that ended (its value not dropped yet) has no address to give:
    // the asker would keep it for a loop made again under its name.
    let peer = registry.loops.get(name).filter(|peer| !peer.is_gone())?;
    peer.address().map(|address| address.to_message())
}

/// The loop `name` as this process knows it; a child that does not know
/// it asks the root (a loop created in another child may be known there
/// first).
pub(crate) fn find_loop(name: &str) -> Option<Arc<LoopPeer>> {
    let root = {
        let registry = registry();
        if let Some(peer) = registry.loops.get(name) {
            return Some(peer.clone());
        }
        match registry.processes.root.clone() {
            Some(root) => root,
            None => {
                drop(registry);
                return beyond().and_then(|beyond| beyond.find(name));
            }
        }
    };
    match tree::resolve(&root, name) {
        Ok(Some(route)) => add_routes(vec![route]),
        Ok(None) => return beyond().and_then(|beyond| beyond.find(name)),
        Err(error) => {
            tracing::warn!(event_loop = %name, "cannot ask where event loop `{name}` is: {error}");
            return None;
        }
    }
    registry().loops.get(name).cloned()
}

/// What the root keeps of a child it created.
pub(crate) struct ChildChannels {
    /// The child's number.
    pub(crate) process: ProcessId,
    /// The child's agent.
    pub(crate) agent: IpcSender<AgentMessage>,
}

/// Numbers a new child whose loop is `peer`, creates its agent's channel,
/// gives its loop an address and tells the running children.
pub(crate) fn open_child(peer: &Arc<LoopPeer>) -> std::io::Result<ChildChannels> {
    let mut registry = registry();
    let (tx, rx) = ipc::channel()?;
    let table = &mut registry.processes;
    if !table.active {
        return Err(std::io::Error::other("the process tree was not started"));
    }
    table.last += 1;
    let process = table.last;
    let address = LoopAddress::of_local(peer, process, tx.clone())
        .ok_or_else(|| std::io::Error::other("the loop of a new process is not here"))?;
    peer.set_address(address);
    table
        .pending
        .insert(peer.name_arc().clone(), PendingChild { agent: rx });
    if let Some(address) = peer.address() {
        tell_children(table, || AgentMessage::Routes(vec![address.to_message()]));
    }
    Ok(ChildChannels { process, agent: tx })
}

/// In the root, once a child started: it hears of route changes.
pub(crate) fn child_started(registry: &mut Registry, child: &ChildChannels) {
    registry.processes.children.push(ChildRecord {
        process: child.process,
        agent: child.agent.clone(),
    });
}

/// In the root, a child that was told of routes did not start after all.
pub(crate) fn child_not_started(registry: &mut Registry, process: ProcessId) {
    registry
        .processes
        .children
        .retain(|child| child.process != process);
}

/// In the root: the loop `peer`, of this process and not run yet, is
/// carried to the child `child` when it starts. Its address becomes the
/// child's now, as the address of a child's own loop is from its creation:
/// what other processes send it waits for the child; the running children
/// hear of it as the same loop in a new place, so that their handles and
/// connections stay.
pub(crate) fn carry_to_child(peer: &Arc<LoopPeer>, child: &ChildChannels) -> std::io::Result<()> {
    let registry = registry();
    let table = &registry.processes;
    if !table.active || table.is_child {
        return Err(std::io::Error::other(
            "only the root process carries loops to its children",
        ));
    }
    let address = LoopAddress::of_local(peer, child.process, child.agent.clone())
        .ok_or_else(|| std::io::Error::other("the loop is not here"))?;
    peer.readdress(address);
    if let Some(address) = peer.address() {
        tell_children(table, || {
            let mut message = address.to_message();
            message.carried = true;
            AgentMessage::Routes(vec![message])
        });
    }
    Ok(())
}

/// Where a ring or a large record for the loop `name` goes if the loop
/// was carried to another process (a sender learnt its old address): that
/// process's agent, which holds it until the loop is there.
pub(crate) fn carried_elsewhere(name: &str) -> Option<IpcSender<AgentMessage>> {
    let registry = registry();
    let peer = registry.loops.get(name)?;
    if peer.is_gone() {
        return None;
    }
    let address = peer.address()?;
    (address.process != crate::protocol::own_process()).then(|| address.agent.clone())
}

/// The route to `peer` once its loop runs in another process.
pub(crate) fn remote_route(peer: &LoopPeer) -> Route {
    match peer.address() {
        Some(address) => Route::Remote(RemoteLoop::new(Box::new(RingLink::new(
            tree::ring_target(&address),
        )))),
        None => Route::Gone,
    }
}

/// Rebuilds the inherited routes in a freshly forked child numbered
/// `process`, whose loop is `own`.
pub(crate) fn become_child(registry: &mut Registry, process: ProcessId, own: &Arc<LoopPeer>) {
    crate::protocol::set_own_process(process);
    let table = &mut registry.processes;
    table.root = table.agent.take().or_else(|| table.root.take());
    table.is_child = true;
    table.active = true;
    // The other children's channels belong to the root.
    table.pending.clear();
    table.children.clear();
    table.agent = own.address().map(|address| address.agent.clone());
    for peer in registry.loops.values() {
        let here = peer
            .address()
            .is_some_and(|address| address.process == process);
        // Its own loop, and those carried to it, run here.
        if Arc::ptr_eq(peer, own) || here || peer.is_gone() {
            // A loop that ended stays ended here: a loop made again under
            // its name is a new route, which the root tells.
            continue;
        }
        // Leaked, not dropped: the old route may be held by threads of the
        // root (an emitter in the middle of a send), which do not exist
        // here; the rings it holds are the root's to write.
        std::mem::forget(peer.set_route(remote_route(peer)));
    }
    // No network here: a process forks only before it joins one.
}

/// What a child started by spawn must know of the tree, which it does not
/// inherit: the root's agent and the address of every loop but its own.
pub(crate) fn for_spawned_child(
    registry: &Registry,
    own: &Arc<LoopPeer>,
) -> Option<(IpcSender<AgentMessage>, Vec<AddressMessage>)> {
    let root = registry.processes.agent.clone()?;
    let routes = registry
        .loops
        .values()
        .filter(|peer| !Arc::ptr_eq(peer, own))
        // Nor the loops carried to the child: they arrive packed.
        .filter(|peer| {
            peer.address()
                .is_none_or(|address| Some(address.process) != own_process_of(own))
        })
        // A loop that ended (its value not dropped yet) is not passed on:
        // the child would keep its address for a loop made again under
        // its name, and never hear of that one.
        .filter(|peer| !peer.is_gone())
        .filter_map(|peer| peer.address())
        .map(|address| address.to_message())
        .collect();
    Some((root, routes))
}

/// The process the loop `own` is addressed to.
fn own_process_of(own: &LoopPeer) -> Option<ProcessId> {
    own.address().map(|address| address.process)
}

/// Sets up the tree in a child started by spawn, numbered `process`: it
/// reaches the root through `root`, and is reached through `agent`.
pub(crate) fn become_spawned_child(
    process: ProcessId,
    root: IpcSender<AgentMessage>,
    agent: IpcSender<AgentMessage>,
) {
    crate::protocol::set_own_process(process);
    let mut registry = registry();
    let table = &mut registry.processes;
    table.is_child = true;
    table.active = true;
    table.root = Some(root);
    table.agent = Some(agent);
}

/// In a child started by spawn, once its loop is rebuilt here: the loop's
/// address, as the others know it.
pub(crate) fn adopt_own_loop(peer: &Arc<LoopPeer>) {
    let registry = registry();
    let table = &registry.processes;
    if let Some(address) = table
        .agent
        .clone()
        .and_then(|agent| LoopAddress::of_local(peer, crate::protocol::own_process(), agent))
    {
        peer.set_address(address);
    }
}

/// Applies routes the root sent: loops this process can now reach.
pub(crate) fn add_routes(messages: Vec<AddressMessage>) {
    let mut registry = registry();
    for message in messages {
        let carried = message.carried;
        let address = match LoopAddress::from_message(message) {
            Ok(address) => address,
            Err(error) => {
                tracing::error!(%error, "a route from the root cannot be used");
                continue;
            }
        };
        let name = address.name.clone();
        tracing::debug!(route = %name, process = address.process, "route added");
        if carried {
            // The same loop in a new place: the peer stays, with its
            // handles and connections, and the ring it may have (its
            // records go to the old place's agent, which passes them on).
            if let Some(peer) = registry.loops.get(&name)
                && peer.local_inbox().is_none()
                && !peer.is_gone()
            {
                peer.readdress(address);
                continue;
            }
        }
        // A loop of this process, or one it knows already by this address
        // (a route told twice), keeps its peer and its connections.
        let known = registry.loops.get(&name).is_some_and(|peer| {
            peer.local_inbox().is_some()
                || peer
                    .address()
                    .is_some_and(|known| known.process == address.process && !peer.is_gone())
        });
        if known {
            continue;
        }
        // A fresh peer, even if the name was known: a loop of that name
        // that ended has nothing to pass on to the new one.
        let peer = LoopPeer::new(name.clone(), Route::Gone);
        peer.set_address(address);
        peer.set_route(remote_route(&peer));
        if let Some(old) = registry.loops.insert(name, peer) {
            old.end_route();
        }
    }
}

/// A loop of this process ended: in the root, tell the children; in a
/// child, tell the root (which tells the others).
pub(crate) fn loop_ended_here(peer: &LoopPeer) {
    if let Some(beyond) = beyond() {
        beyond.loop_ended_here(peer.name());
    }
    let Some(address) = peer.address() else {
        return;
    };
    let registry = registry();
    let table = &registry.processes;
    let message = || AgentMessage::LoopEnded {
        name: address.name.to_string(),
        process: address.process,
    };
    if table.is_child {
        if let Some(root) = &table.root {
            let _ = root.send(message());
        }
    } else {
        tell_children(table, message);
    }
}

/// A loop of another process ended (`process` says which one, in case a
/// newer loop took its name): what was in transit to it is lost, and this
/// process forgets it. In the root, the other children hear of it too.
pub(crate) fn loop_ended_elsewhere(name: &str, process: ProcessId) {
    let ended = {
        let mut registry = registry();
        let ended = registry
            .loops
            .get(name)
            .filter(|peer| {
                peer.address()
                    .is_some_and(|address| address.process == process)
            })
            .cloned();
        if let Some(peer) = &ended {
            registry.remove_loop(peer);
        }
        let table = &registry.processes;
        if !table.is_child {
            let others = table
                .children
                .iter()
                .filter(|child| child.process != process);
            for child in others {
                let _ = child.agent.send(AgentMessage::LoopEnded {
                    name: name.to_owned(),
                    process,
                });
            }
        }
        ended
    };
    if let Some(peer) = ended {
        end_loop(&peer);
    }
}

/// A process of the tree ended: its loops are gone (what was in transit to
/// them is lost), and its rings into this process's loops get no more
/// records. In the root, the children hear of it.
pub(crate) fn process_ended(process: ProcessId) {
    let theirs = {
        let mut registry = registry();
        let (theirs, ours): (Vec<_>, Vec<_>) = registry.loops.values().cloned().partition(|peer| {
            peer.address()
                .is_some_and(|address| address.process == process)
                && peer.local_inbox().is_none()
        });
        for peer in &theirs {
            registry.remove_loop(peer);
        }
        for peer in ours {
            if let Some(inbox) = peer.local_inbox() {
                let _ = inbox.send(super::Envelope::ProducerEnded(process));
            }
        }
        let table = &mut registry.processes;
        table.children.retain(|child| child.process != process);
        if !table.is_child {
            tell_children(table, || AgentMessage::ProcessEnded(process));
        }
        theirs
    };
    for peer in theirs {
        end_loop(&peer);
    }
}

/// A loop of another process ended: what was in transit to it is lost,
/// and its ring, doorbell and channel go. Connections to it stay, so that
/// what is emitted to it is counted as dropped; they are the user's to end.
fn end_loop(peer: &LoopPeer) {
    peer.end_route();
    crate::call::loop_ended(peer.name(), "its loop (or its process) ended");
}
