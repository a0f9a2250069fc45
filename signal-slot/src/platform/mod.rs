//! The operating system, fenced: starting and watching child processes.
//!
//! Everything platform-specific (and every `unsafe` block of the crate)
//! lives below this module, behind the small set of functions re-exported
//! here; the rest of the crate is platform-neutral. On Unix a child process
//! is a `fork` of the parent after set-up, as in the original; elsewhere
//! child processes are not available (serial mode still is).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(not(unix))]
mod other;
#[cfg(not(unix))]
pub(crate) use other::*;

/// How a child process ended, as the operating system reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
