//! Loops carried to a child process with its start (see
//! [`EventLoopProcess::carry`](crate::EventLoopProcess::carry)): they wait
//! here, in the child, until its code takes them to run.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::Error;

use super::{EventLoop, Phase};

/// The loops carried to this process that nobody took yet.
static CARRIED: Mutex<Vec<EventLoop>> = Mutex::new(Vec::new());

fn carried() -> MutexGuard<'static, Vec<EventLoop>> {
    CARRIED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A loop carried to this process arrived: it waits for its taker.
pub(crate) fn arrived(event_loop: EventLoop) {
    carried().push(event_loop);
}

/// The loops waiting for their takers, held across a fork (so that the
/// child does not inherit the list locked), and where the loops carried
/// by that fork arrive in the child.
pub(crate) fn hold() -> MutexGuard<'static, Vec<EventLoop>> {
    carried()
}

impl EventLoop {
    /// The loop `name`, carried to this process with its start by
    /// [`EventLoopProcess::carry`](crate::EventLoopProcess::carry), to run
    /// here: on this thread with [`exec`](Self::exec), or on another.
    /// `None` if no such loop arrived, or it was taken already.
    ///
    /// Take it in the process's init function (or later): until then,
    /// what is sent to it waits, within its capacity.
    ///
    /// ```
    /// // Nothing was carried to this process.
    /// assert!(signal_slot::EventLoop::take_carried("batcher").is_none());
    /// ```
    pub fn take_carried(name: &str) -> Option<EventLoop> {
        let mut carried = carried();
        let at = carried
            .iter()
            .position(|event_loop| event_loop.name() == name)?;
        Some(carried.swap_remove(at))
    }

    /// Why this loop cannot be carried to a child process, if it cannot:
    /// it ran already, or took rings of other processes (their records
    /// would be read here).
    pub(crate) fn refuse_carry(&self) -> Result<(), Error> {
        let why = if !matches!(self.phase, Phase::NotStarted) {
            Some("it ran already")
        } else if !self.inbox.rings.is_empty() || self.backlog > 0 {
            Some("it already took messages of another process")
        } else {
            None
        };
        match why {
            None => Ok(()),
            Some(why) => Err(Error::Process {
                process: self.name().to_owned(),
                message: format!(
                    "event loop `{}` cannot be carried to a child: {why}",
                    self.name()
                ),
            }),
        }
    }
}
