//! A process's agent: one thread per process of a tree that takes the
//! control messages other processes send it (`transport::tree` says what
//! they are). It is never on the data path (signals go through rings,
//! straight from the emitting thread to the receiving loop); it hands new
//! rings to their loops, applies route changes, answers questions about
//! this process's loops, and changes the connections of emitters that live
//! here on behalf of other processes.
//!
//! The agent never waits for a loop, so a connection request is answered
//! even while the emitter's loop runs a long slot, and two processes that
//! connect to each other's emitters at once cannot deadlock.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ipc_channel::ipc::{IpcReceiver, IpcSharedMemory};

use crate::command::Command;
use crate::sys::ring::Consumer;
use crate::sys::shm::Segment;
use crate::transport::control::{Answer, Question};
use crate::transport::registry::registry;
use crate::transport::routes::{self, ProcessId};
use crate::transport::tree::{self, AgentMessage};
use crate::transport::{Envelope, InboundRing};
use crate::wire::{self, Frame};

/// Sets what the layers below reach the process tree through: replies to
/// calls of other processes, and the root's pools. Before anything of this
/// process can need them: as the tree is made (the root), and as a spawned
/// child joins it (a forked one inherits them).
pub(crate) fn install_seams() {
    crate::call::set_send_reply(send_reply);
    crate::pool::set_to_root(crate::pool::ToRoot {
        tell: |id, memory| {
            let root = registry().processes.root_agent()?;
            Some(tree::tell_pool(&root, id, memory))
        },
        find: |id| {
            let root = registry().processes.root_agent()?;
            Some(tree::find_pool(&root, id))
        },
    });
}

/// Starts the agent on `channel`.
pub(crate) fn start(channel: IpcReceiver<AgentMessage>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signal-slot-agent".to_owned())
        .spawn(move || run(&channel))
        .map(|_| ())
}

fn run(channel: &IpcReceiver<AgentMessage>) {
    // Ends when every sender is gone (the tree ended) or on `Stop`.
    while let Ok(message) = channel.recv() {
        let _working = crate::platform::working();
        if let AgentMessage::Stop = message {
            return;
        }
        // Nothing here runs user code, but a bug must not silently take
        // the agent down with it: what it carried would be lost unseen.
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| handle(message))) {
            tracing::error!(
                "the process's agent failed handling a message: {}",
                crate::util::panic_message(&*panic)
            );
        }
    }
}

fn handle(message: AgentMessage) {
    match message {
        AgentMessage::Ring { to, from, ring } => match routes::carried_elsewhere(&to) {
            // Its sender learnt where the loop was before it was carried.
            Some(agent) => {
                let _ = agent.send(AgentMessage::Ring { to, from, ring });
            }
            None => hand_over_ring(&to, from, ring),
        },
        AgentMessage::Segment {
            to,
            from,
            id,
            segment,
        } => match routes::carried_elsewhere(&to) {
            Some(agent) => {
                let _ = agent.send(AgentMessage::Segment {
                    to,
                    from,
                    id,
                    segment,
                });
            }
            None => hand_over_segment(&to, from, id, segment),
        },
        AgentMessage::Routes(routes) => routes::add_routes(routes),
        AgentMessage::LoopEnded { name, process } => routes::loop_ended_elsewhere(&name, process),
        AgentMessage::ProcessEnded(process) => routes::process_ended(process),
        AgentMessage::Ask { question, reply } => {
            let _ = reply.send(answer_here(question));
        }
        AgentMessage::Reply { call, reply } => {
            crate::call::replied(call, reply.map(serde_bytes::ByteBuf::into_vec))
        }
        AgentMessage::Describe { reply } => {
            let _ = reply.send(crate::topology::describe_here());
        }
        AgentMessage::Announce { route, reply } => {
            routes::announced(route);
            let _ = reply.send(());
        }
        AgentMessage::Resolve { name, reply } => {
            let _ = reply.send(routes::address_of(&name));
        }
        AgentMessage::PoolCreated { id, memory, reply } => {
            crate::pool::pool_created(id, memory);
            let _ = reply.send(());
        }
        AgentMessage::FindPool { id, reply } => {
            let _ = reply.send(crate::pool::pool_memory(id));
        }
        AgentMessage::Stop => {}
    }
}

/// The answer of this process to a question about one of its loops, from
/// another process of the tree or another program: the one dispatcher.
pub(crate) fn answer_here(question: Question) -> Answer {
    match question {
        Question::Lookup { loop_name, id } => Answer::Lookup(lookup_here(&loop_name, &id)),
        Question::Connection {
            emitter_loop,
            frame,
        } => Answer::Connection(change_connection(&emitter_loop, &frame)),
        Question::Receivers {
            emitter_loop,
            emitter,
            signal,
        } => Answer::Receivers(receivers_here(&emitter_loop, &emitter, signal)),
        Question::RemoveNow {
            loop_name,
            object,
            instance,
        } => Answer::RemoveNow(remove_now_here(&loop_name, &object, instance)),
        Question::Signature {
            loop_name,
            id,
            signal,
            index,
        } => Answer::Signature(signature_here(&loop_name, &id, signal, index)),
        Question::Pulse { loop_name } => Answer::Pulse(pulse_here(&loop_name)),
        Question::Members { loop_name, id } => {
            Answer::Members(attached_object(&loop_name, &id).map(|object| object.members()))
        }
    }
}

/// How the loop `loop_name` of this process does, if it runs here.
fn pulse_here(loop_name: &str) -> Option<crate::stats::Pulse> {
    let peer = registry().loops.get(loop_name).cloned()?;
    let inbox = peer.local_inbox().filter(|_| !peer.is_gone())?;
    Some(peer.activity().pulse(inbox.signals() as u64))
}

/// Which object has the id `id` on the loop `loop_name` of this process:
/// its type's name and its instance.
fn lookup_here(loop_name: &str, id: &str) -> Option<(String, u64)> {
    attached_object(loop_name, id)
        .map(|object| (object.type_name().to_owned(), object.shared.instance))
}

/// How many receivers signal `signal` of the object `emitter` of the loop
/// `emitter_loop` of this process has (`None`: no such object).
fn receivers_here(emitter_loop: &str, emitter: &str, signal: u16) -> Option<u64> {
    attached_object(emitter_loop, emitter)
        .map(|object| crate::connection::receivers_of(&object.shared, signal) as u64)
}

/// Marks the object `object` (that instance, or any if 0) of the loop
/// `loop_name` of this process removed; false if there is none.
fn remove_now_here(loop_name: &str, object: &str, instance: u64) -> bool {
    let found = registry()
        .find_object(loop_name, object)
        .filter(|object| instance == 0 || object.shared.instance == instance);
    if let Some(object) = &found {
        object
            .shared
            .detached
            .store(true, std::sync::atomic::Ordering::Release);
    }
    found.is_some()
}

/// What signal (`signal` true) or slot `index` of the object `id` of the
/// loop `loop_name` of this process takes.
#[cfg(feature = "zenoh")]
fn signature_here(
    loop_name: &str,
    id: &str,
    signal: bool,
    index: u16,
) -> Result<crate::signature::Signature, String> {
    let object = attached_object(loop_name, id)
        .ok_or_else(|| format!("no object `{id}` on event loop `{loop_name}`"))?;
    (object.shared.signature)(signal, index).ok_or_else(|| {
        let kind = if signal { "signal" } else { "slot" };
        format!("`{id}` ({}) has no {kind} #{index}", object.type_name())
    })
}

/// Signatures are compared across the network only.
#[cfg(not(feature = "zenoh"))]
fn signature_here(
    _loop_name: &str,
    _id: &str,
    _signal: bool,
    _index: u16,
) -> Result<crate::signature::Signature, String> {
    Err("this build does not compare signatures (it has no network)".to_owned())
}

/// The object `id` of the loop `loop_name` of this process, unless it was
/// detached.
fn attached_object(loop_name: &str, id: &str) -> Option<crate::ObjectHandle> {
    registry().find_object(loop_name, id).filter(|object| {
        !object
            .shared
            .detached
            .load(std::sync::atomic::Ordering::Acquire)
    })
}

/// Gives a new ring to its loop, which reads it from its next iteration.
fn hand_over_ring(to: &str, from: ProcessId, ring: IpcSharedMemory) {
    tracing::debug!(
        event_loop = to,
        from,
        "a ring from process {from} to event loop `{to}`"
    );
    let consumer = match Consumer::open(ring) {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::error!(
                event_loop = to,
                from,
                "a ring from process {from} to event loop `{to}` cannot be used: {}",
                error.0
            );
            return;
        }
    };
    let inbox = registry().loops.get(to).and_then(|peer| peer.local_inbox());
    let ring = Box::new(InboundRing::new(from, consumer));
    match inbox {
        Some(inbox) => {
            if let Err(Envelope::Ring(ring)) = inbox.send(Envelope::Ring(ring)) {
                ring.close();
            }
        }
        // The loop ended: the sender will see the ring closed.
        None => ring.close(),
    }
}

/// Gives a large record's segment to its loop, which reads it when it
/// comes to its stub. A loop that has ended lets it go (it is unmapped
/// here, and gone once its sender has let it go too).
fn hand_over_segment(to: &str, from: ProcessId, id: u64, segment: IpcSharedMemory) {
    let segment = match Segment::open(segment) {
        Ok(segment) => segment,
        Err(error) => {
            tracing::error!(
                event_loop = to,
                from,
                "a large record from process {from} to event loop `{to}` cannot be mapped: {error}"
            );
            return;
        }
    };
    if let Some(inbox) = registry().loops.get(to).and_then(|peer| peer.local_inbox()) {
        let _ = inbox.send(Envelope::Segment { from, id, segment });
    }
}

/// Applies a connection change to an emitter of this process.
fn change_connection(emitter_loop: &str, frame: &[u8]) -> Result<bool, String> {
    match wire::Reader::new(frame).next() {
        Some(Ok(Frame::Command(Command::Connection {
            emitter,
            signal,
            event_loop,
            change,
        }))) => {
            crate::connection::apply_requested(emitter_loop, &emitter, signal, &event_loop, change)
        }
        Some(Err(error)) => Err(format!("a connection request cannot be decoded: {error}")),
        _ => Err("a request without a connection change".to_owned()),
    }
}

/// Sends a reply to a call of process `route.process` through its agent;
/// false if this process knows no way to it.
fn send_reply(
    route: crate::call::ReplyRoute,
    reply: Result<Vec<u8>, crate::call::Failure>,
) -> bool {
    tree::agent_of(route.process).is_some_and(|agent| {
        agent
            .send(AgentMessage::Reply {
                call: route.call,
                reply: reply.map(serde_bytes::ByteBuf::from),
            })
            .is_ok()
    })
}
