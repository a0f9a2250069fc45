//! A loop's numbers, gathered in its process from the counters its thread
//! keeps (see `crate::stats`): read without asking the loop, so that a loop
//! stuck in a slot still shows them.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::error::Error;
use crate::stats::{DropCounts, LoopStats};
use crate::transport::LoopPeer;
use crate::transport::registry::Registry;

use super::LoopHandle;

/// The numbers of the loop `peer`, which runs in this process.
pub(crate) fn here(registry: &Registry, peer: &LoopPeer) -> LoopStats {
    let queued = peer.local_inbox().map_or((0, 0), |inbox| {
        (inbox.signals() as u64, inbox.high_water() as u64)
    });
    let objects: Vec<_> = registry
        .attached_objects()
        .into_iter()
        .filter(|(loop_name, object)| {
            **loop_name == *peer.name() && !object.detached.load(Ordering::Acquire)
        })
        .map(|(_, object)| object)
        .collect();
    let mut slots: Vec<_> = objects
        .iter()
        .flat_map(|object| object.slot_stats())
        .collect();
    slots.sort_by(|a, b| (&a.object, &a.slot).cmp(&(&b.object, &b.slot)));
    let emitted = objects
        .iter()
        .flat_map(|object| object.signals.iter())
        .map(|connections| connections.emitted())
        .sum();
    LoopStats {
        emitted,
        ..peer
            .activity()
            .snapshot(peer.name(), peer.drops().counts(), queued, slots)
    }
}

/// What this process dropped for each loop it knows, by loop name: the
/// loops with a drop only.
pub(crate) fn drops_here(registry: &Registry) -> BTreeMap<String, DropCounts> {
    registry
        .loops
        .iter()
        .map(|(name, peer)| (name.to_string(), peer.drops().counts()))
        .filter(|(_, counts)| counts.total() > 0)
        .collect()
}

impl LoopHandle {
    /// What the loop did so far: signals handled, drops by reason, what
    /// waits, how long its slots took. Read from counters the loop's
    /// thread keeps, without waiting for the loop: a loop stuck in a slot
    /// answers too. For a loop of another process of the tree, that
    /// process's agent answers (a round trip).
    ///
    /// ```
    /// use signal_slot::EventLoop;
    ///
    /// let main = EventLoop::new("stats_handle_example")?;
    /// let stats = main.stats()?;
    /// assert_eq!(stats.name, "stats_handle_example");
    /// assert_eq!((stats.handled, stats.queued, stats.drops.total()), (0, 0, 0));
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopEnded`] if the loop has ended; [`Error::Process`] if
    /// its process does not answer; [`Error::Unsupported`] for a loop of
    /// another program, reached over the network.
    pub fn stats(&self) -> Result<LoopStats, Error> {
        let peer = self.peer();
        if peer.is_gone() {
            return Err(Error::LoopEnded(self.name().to_owned()));
        }
        if peer.local_inbox().is_some() {
            return Ok(here(&crate::transport::registry::registry(), peer));
        }
        let Some(address) = peer.address() else {
            return Err(Error::Unsupported(
                "the numbers of a loop of another program (ask that program)",
            ));
        };
        let process = crate::transport::describe_process(&address.agent).map_err(|message| {
            Error::Process {
                process: format!("#{}", address.process),
                message: format!("cannot describe its loops: {message}"),
            }
        })?;
        process
            .loops
            .into_iter()
            .find(|event_loop| event_loop.name == self.name())
            .map(|event_loop| LoopStats {
                deaf: peer.activity().is_deaf(),
                ..event_loop.stats
            })
            .ok_or_else(|| Error::LoopEnded(self.name().to_owned()))
    }
}
