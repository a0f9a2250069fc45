//! Where a loop of the process tree is reached from other processes: its
//! process, its doorbell and its process's agent.

use std::sync::Arc;

use ipc_channel::ipc::{IpcSender, IpcSharedMemory};
use serde::{Deserialize, Serialize};

use super::LoopPeer;
use super::bell::Bell;
use super::tree::AgentMessage;
use crate::protocol::ProcessId;

/// Where a loop of the tree is reached.
pub(crate) struct LoopAddress {
    pub(crate) name: Arc<str>,
    pub(crate) process: ProcessId,
    pub(crate) bell: Bell,
    /// The control channel of the loop's process.
    pub(crate) agent: IpcSender<AgentMessage>,
    /// The size of each sender's ring to the loop, in bytes.
    pub(crate) ring_bytes: u64,
    /// The most signals waiting in each sender's ring.
    pub(crate) capacity: u64,
    /// The most bytes of large records (those that go in segments of
    /// their own) waiting for the loop from each sender.
    pub(crate) large_bytes: u64,
}

/// A [`LoopAddress`] as it travels between processes.
#[derive(Serialize, Deserialize)]
pub(crate) struct AddressMessage {
    pub(super) name: String,
    pub(super) process: ProcessId,
    pub(super) bell: IpcSharedMemory,
    pub(super) agent: IpcSender<AgentMessage>,
    pub(super) ring_bytes: u64,
    pub(super) capacity: u64,
    pub(super) large_bytes: u64,
    /// The loop was carried from the process its receivers knew to this
    /// one, before it ran: a new address for the same loop, whose handles
    /// and connections stay.
    #[serde(default)]
    pub(super) carried: bool,
}

impl AddressMessage {
    /// A copy, for another recipient.
    pub(super) fn clone_message(&self) -> AddressMessage {
        AddressMessage {
            name: self.name.clone(),
            process: self.process,
            bell: self.bell.clone(),
            agent: self.agent.clone(),
            ring_bytes: self.ring_bytes,
            capacity: self.capacity,
            large_bytes: self.large_bytes,
            carried: self.carried,
        }
    }
}

impl LoopAddress {
    /// The address of `peer`, a loop of this process, as process `process`
    /// reached through `agent`; `None` if the loop is not here.
    pub(super) fn of_local(
        peer: &LoopPeer,
        process: ProcessId,
        agent: IpcSender<AgentMessage>,
    ) -> Option<LoopAddress> {
        let inbox = peer.local_inbox()?;
        Some(LoopAddress {
            name: peer.name_arc().clone(),
            process,
            bell: inbox.bell().clone(),
            agent,
            ring_bytes: inbox.ring_bytes(),
            capacity: inbox.capacity() as u64,
            large_bytes: inbox.large_bytes(),
        })
    }

    pub(crate) fn to_message(&self) -> AddressMessage {
        AddressMessage {
            name: self.name.to_string(),
            process: self.process,
            bell: self.bell.share(),
            agent: self.agent.clone(),
            ring_bytes: self.ring_bytes,
            capacity: self.capacity,
            large_bytes: self.large_bytes,
            carried: false,
        }
    }

    pub(super) fn from_message(message: AddressMessage) -> std::io::Result<LoopAddress> {
        Ok(LoopAddress {
            name: message.name.into(),
            process: message.process,
            bell: Bell::open(message.bell)?,
            agent: message.agent,
            ring_bytes: message.ring_bytes,
            capacity: message.capacity,
            large_bytes: message.large_bytes,
        })
    }
}
