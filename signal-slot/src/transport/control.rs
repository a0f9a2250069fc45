//! The seam for control, as [`Link`](super::link::Link) is for data: the
//! questions and requests this process puts to the process that runs a
//! loop (which object has an id, change an emitter's connections, ...).
//! Inside a process tree they go to that process's agent over its
//! ipc-channel; across the network, to the program's agent over Zenoh.

use std::time::Duration;

use crate::command::Command;
use crate::protocol::Signature;

/// The way to the process (or program) that runs a loop, for control.
pub(crate) trait Control: Send + Sync {
    /// Which object has the id `id` on the loop `loop_name`: its type's
    /// name and its instance.
    fn lookup(&self, loop_name: &str, id: &str) -> Result<Option<(String, u64)>, String>;

    /// Applies a connection change (a `Command::Connection`) to an emitter
    /// of the loop `emitter_loop`; says whether it changed anything.
    fn connection(
        &self,
        emitter_loop: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<bool, String>;

    /// How many receivers signal `signal` of `emitter` has.
    fn receivers(&self, emitter_loop: &str, emitter: &str, signal: u16) -> Result<usize, String>;

    /// Marks the object removed at once (see `LoopPeer::remove_now`).
    fn remove_now(&self, loop_name: &str, object: &str, instance: u64) -> Result<bool, String>;

    /// What signal (`signal` true) or slot `index` of the object `id` takes,
    /// as its program sees it. `None` where signatures are not compared
    /// (processes of one tree run one build).
    fn signature(
        &self,
        loop_name: &str,
        id: &str,
        signal: bool,
        index: u16,
    ) -> Result<Option<Signature>, String> {
        let _ = (loop_name, id, signal, index);
        Ok(None)
    }
}
