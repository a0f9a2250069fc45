//! The operating system, fenced: starting and watching child processes.
//!
//! Everything platform-specific lives below this module, behind the small
//! set of functions re-exported here; the rest of the crate is
//! platform-neutral. On Unix a child process starts by `fork` or by spawn;
//! on Windows by spawn only; elsewhere child processes are not available
//! (serial mode still is).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(not(any(unix, windows)))]
mod other;
#[cfg(not(any(unix, windows)))]
pub(crate) use other::*;

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Keeps `fork` out while the library's background threads (inbox readers,
/// outbox writers, process monitors) do anything but wait: a child then never
/// inherits a lock (of the allocator, the logger, the library) that one of
/// them held in the middle of its work.
static FORK_GATE: RwLock<()> = RwLock::new(());

/// Held by a background thread while it works (not while it blocks on I/O).
pub(crate) fn working() -> RwLockReadGuard<'static, ()> {
    FORK_GATE.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held across `fork`.
pub(crate) fn quiesce() -> RwLockWriteGuard<'static, ()> {
    FORK_GATE.write().unwrap_or_else(PoisonError::into_inner)
}

/// How a child process ended, as the operating system reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) enum RawExit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

/// A signal the parent sends to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Terminate,
    Kill,
    Stop,
    Continue,
}
