//! How a child process ended, and where the parent records it.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::status::ExitStatus;

/// How a child process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProcessExit {
    /// The process exited with `code`. `status` is how its loop ended, as
    /// the child reported it (absent if it exited before it could).
    Exited {
        /// The exit code.
        code: i32,
        /// The loop's exit status.
        status: Option<ExitStatus>,
    },
    /// A signal ended the process (`SIGKILL`, `SIGSEGV`..).
    Signaled {
        /// The signal number.
        signal: i32,
        /// The signal's name.
        name: String,
    },
}

impl ProcessExit {
    /// The exit code, if the process exited (rather than being killed).
    pub fn code(&self) -> Option<i32> {
        match self {
            ProcessExit::Exited { code, .. } => Some(*code),
            ProcessExit::Signaled { .. } => None,
        }
    }

    /// True if the process exited with code 0.
    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }

    /// How the child's loop ended, if the child reported it.
    pub fn loop_status(&self) -> Option<&ExitStatus> {
        match self {
            ProcessExit::Exited { status, .. } => status.as_ref(),
            ProcessExit::Signaled { .. } => None,
        }
    }
}

impl std::fmt::Display for ProcessExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessExit::Exited {
                code,
                status: Some(status),
            } => write!(f, "exited with code {code} ({status})"),
            ProcessExit::Exited { code, status: None } => write!(f, "exited with code {code}"),
            ProcessExit::Signaled { signal, name } => write!(f, "killed by {name} ({signal})"),
        }
    }
}

/// The parent's record of one child: its pid once started, how it ended
/// once it has.
#[derive(Default)]
pub(super) struct ExitRecord {
    pub(super) pid: OnceLock<u32>,
    outcome: Mutex<Option<ProcessExit>>,
    ended: Condvar,
}

impl ExitRecord {
    /// How the child ended, once it has.
    pub(super) fn outcome(&self) -> Option<ProcessExit> {
        self.lock().clone()
    }

    /// The record, locked: the monitor records the exit under this lock
    /// before it reaps the child, so while it is held with no outcome, the
    /// pid is still the child's.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Option<ProcessExit>> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the exit (under the lock, with `then` run before it is
    /// released) and wakes the waiters.
    pub(super) fn record(&self, exit: ProcessExit, then: impl FnOnce()) {
        let mut outcome = self.lock();
        *outcome = Some(exit);
        then();
        drop(outcome);
        self.ended.notify_all();
    }

    /// Waits until the child has ended or `deadline` passes.
    pub(super) fn wait(&self, deadline: Option<Instant>) -> Option<ProcessExit> {
        let mut outcome = self.lock();
        loop {
            if let Some(exit) = &*outcome {
                return Some(exit.clone());
            }
            match deadline {
                None => {
                    outcome = self
                        .ended
                        .wait(outcome)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    outcome = self
                        .ended
                        .wait_timeout(outcome, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}
