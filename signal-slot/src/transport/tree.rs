//! What the processes of a tree tell each other's agents, and how to ask
//! one: the messages, the questions with a reply, and the courier that
//! hands a ring or a large record's segment to another process's agent.
//!
//! The agent that answers (one thread per process, never on the data path)
//! is a service above the transport: `process::agent`.

use ipc_channel::ipc::{IpcReceiver, IpcSender, IpcSharedMemory};
use serde::{Deserialize, Serialize};

use std::sync::Arc;
use std::time::Duration;

use super::control::{ANSWER_TIMEOUT, Answer, Control, Question};
use super::link::{Courier, RingTarget};
use super::routes::{AddressMessage, LoopAddress, ProcessId};
use crate::protocol::own_process;
use crate::transport::registry::registry;

/// What processes tell each other's agents.
#[derive(Serialize, Deserialize)]
pub(crate) enum AgentMessage {
    /// A ring from process `from` to the loop `to` of this process.
    Ring {
        to: String,
        from: ProcessId,
        ring: IpcSharedMemory,
    },
    /// A record too large for the ring from process `from` to the loop
    /// `to` of this process: the segment numbered `id` that a stub in that
    /// ring names.
    Segment {
        to: String,
        from: ProcessId,
        id: u64,
        segment: IpcSharedMemory,
    },
    /// Loops this process can now reach.
    Routes(Vec<AddressMessage>),
    /// The loop `name` of process `process` ended.
    LoopEnded { name: String, process: ProcessId },
    /// A process of the tree ended.
    ProcessEnded(ProcessId),
    /// A question about a loop of this process (see `Question`).
    Ask {
        question: Question,
        reply: IpcSender<Answer>,
    },
    /// To the root: a loop created in a child, which the others can now
    /// reach; answered once the root knows it and has told the others.
    Announce {
        route: AddressMessage,
        reply: IpcSender<()>,
    },
    /// To the root: where the loop `name` is, if it knows.
    Resolve {
        name: String,
        reply: IpcSender<Option<AddressMessage>>,
    },
    /// To the root: a buffer pool created in a child; answered once the
    /// root has mapped it.
    PoolCreated {
        id: u64,
        memory: IpcSharedMemory,
        reply: IpcSender<()>,
    },
    /// To the root: the buffer pool `id`, if it knows it.
    FindPool {
        id: u64,
        reply: IpcSender<Option<IpcSharedMemory>>,
    },
    /// The reply to call `call` of this process (its bytes in one piece:
    /// a large reply is not written a byte at a time).
    Reply {
        call: u64,
        reply: Result<serde_bytes::ByteBuf, crate::call::Failure>,
    },
    /// What lives in this process, for the topology.
    Describe {
        reply: IpcSender<crate::topology::info::ProcessInfo>,
    },
    /// The process is ending: the agent stops.
    Stop,
}

/// The agent of a loop's process, as the courier of this process's ring
/// to that loop.
struct AgentCourier {
    agent: IpcSender<AgentMessage>,
    to: Arc<str>,
}

impl Courier for AgentCourier {
    fn offer_ring(&self, ring: IpcSharedMemory) -> Result<(), String> {
        self.agent
            .send(AgentMessage::Ring {
                to: self.to.to_string(),
                from: own_process(),
                ring,
            })
            .map_err(|error| error.to_string())
    }

    fn send_segment(&self, id: u64, segment: IpcSharedMemory) -> Result<(), String> {
        self.agent
            .send(AgentMessage::Segment {
                to: self.to.to_string(),
                from: own_process(),
                id,
                segment,
            })
            .map_err(|error| error.to_string())
    }
}

/// Where this process's ring to the loop at `address` writes.
pub(crate) fn ring_target(address: &LoopAddress) -> RingTarget {
    RingTarget {
        name: address.name.clone(),
        process: address.process,
        bell: address.bell.clone(),
        ring_bytes: address.ring_bytes,
        capacity: address.capacity,
        large_bytes: address.large_bytes,
        courier: Box::new(AgentCourier {
            agent: address.agent.clone(),
            to: address.name.clone(),
        }),
    }
}

/// The agent of process `process`, if this process knows one of its loops
/// (or it is the root, which every child knows).
pub(crate) fn agent_of(process: ProcessId) -> Option<IpcSender<AgentMessage>> {
    let registry = registry();
    if process == 0
        && let Some(root) = registry.processes.root_agent()
    {
        return Some(root);
    }
    registry
        .loops
        .values()
        .filter_map(|peer| peer.address())
        .find(|address| address.process == process)
        .map(|address| address.agent.clone())
}

/// What lives in the process of `agent`, for the topology.
pub(crate) fn describe_process(
    agent: &IpcSender<AgentMessage>,
) -> Result<crate::topology::info::ProcessInfo, String> {
    ask(agent, ANSWER_TIMEOUT, |reply| AgentMessage::Describe {
        reply,
    })
}

/// Sends the agent at `agent` the question `message` makes with a reply
/// channel, and waits up to `timeout` for the answer.
fn ask<T: for<'de> Deserialize<'de> + Serialize>(
    agent: &IpcSender<AgentMessage>,
    timeout: std::time::Duration,
    message: impl FnOnce(IpcSender<T>) -> AgentMessage,
) -> Result<T, String> {
    let (reply, answer) = ipc_channel::ipc::channel().map_err(|error| error.to_string())?;
    agent
        .send(message(reply))
        .map_err(|error| format!("its process cannot be reached: {error}"))?;
    await_answer(&answer, timeout)
}

fn await_answer<T: for<'de> Deserialize<'de> + Serialize>(
    answer: &IpcReceiver<T>,
    timeout: std::time::Duration,
) -> Result<T, String> {
    match answer.try_recv_timeout(timeout) {
        Ok(answer) => Ok(answer),
        Err(ipc_channel::TryRecvError::Empty) => {
            Err(format!("its process did not answer in {timeout:?}"))
        }
        Err(ipc_channel::TryRecvError::IpcError(error)) => {
            Err(format!("its process did not answer: {error}"))
        }
    }
}

/// Tells the root of a loop created in this child, and waits until the
/// root knows it.
pub(crate) fn announce(
    root: &IpcSender<AgentMessage>,
    route: AddressMessage,
) -> Result<(), String> {
    ask(root, ANSWER_TIMEOUT, |reply| AgentMessage::Announce {
        route,
        reply,
    })
}

/// Tells the root of a buffer pool created in this child, and waits until
/// the root has mapped it (so that its buffers, sent anywhere after, are
/// found).
pub(crate) fn tell_pool(
    root: &IpcSender<AgentMessage>,
    id: u64,
    memory: IpcSharedMemory,
) -> Result<(), String> {
    ask(root, ANSWER_TIMEOUT, |reply| AgentMessage::PoolCreated {
        id,
        memory,
        reply,
    })
}

/// Asks the root for the buffer pool `id`.
pub(crate) fn find_pool(
    root: &IpcSender<AgentMessage>,
    id: u64,
) -> Result<Option<IpcSharedMemory>, String> {
    ask(root, ANSWER_TIMEOUT, |reply| AgentMessage::FindPool {
        id,
        reply,
    })
}

/// Asks the root where the loop `name` is.
pub(crate) fn resolve(
    root: &IpcSender<AgentMessage>,
    name: &str,
) -> Result<Option<AddressMessage>, String> {
    ask(root, ANSWER_TIMEOUT, |reply| AgentMessage::Resolve {
        name: name.to_owned(),
        reply,
    })
}

/// Another process's agent, asked over its channel.
impl Control for IpcSender<AgentMessage> {
    fn ask(&self, question: Question, timeout: Duration) -> Result<Answer, String> {
        ask(self, timeout, |reply| AgentMessage::Ask { question, reply })
    }
}
