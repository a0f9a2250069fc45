//! How a loop ended.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How an event loop ended: returned by [`EventLoop::exec`](crate::EventLoop::exec)
/// and by the `join` of threads and processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ExitStatus {
    /// Stopped by `stop()` (or its slot), everything queued before the stop
    /// delivered.
    Normal,
    /// Stopped by Ctrl-C (SIGINT).
    Interrupted,
    /// A slot panicked. With [`PanicPolicy::StopLoop`] (the default) the loop
    /// ended right after it; with [`PanicPolicy::KeepGoing`] it went on, and
    /// this reports the first failure.
    SlotFailed(SlotFailure),
    /// The init function of an [`EventLoopProcess`](crate::EventLoopProcess)
    /// failed (panicked) before the loop started.
    InitFailed(String),
}

impl ExitStatus {
    /// True for [`ExitStatus::Normal`].
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitStatus::Normal)
    }

    /// The process exit code that stands for this status: 0 normal,
    /// 130 interrupted (as a shell reports SIGINT), 70 slot failed, 71 init
    /// failed.
    pub fn code(&self) -> i32 {
        match self {
            ExitStatus::Normal => 0,
            ExitStatus::Interrupted => 130,
            ExitStatus::SlotFailed(_) => 70,
            ExitStatus::InitFailed(_) => 71,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Normal => f.write_str("stopped normally"),
            ExitStatus::Interrupted => f.write_str("interrupted"),
            ExitStatus::SlotFailed(failure) => write!(f, "{failure}"),
            ExitStatus::InitFailed(message) => write!(f, "the init function failed: {message}"),
        }
    }
}

/// A slot that panicked: where, on what, and the panic message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotFailure {
    /// The loop the slot ran on.
    pub event_loop: String,
    /// The id of the slot's object.
    pub object: String,
    /// The slot's name.
    pub slot: String,
    /// The signal being delivered (`<invoke>` for a direct invocation).
    pub signal: String,
    /// The emitter's id, if the slot was called for a signal.
    pub emitter: Option<String>,
    /// The panic message.
    pub message: String,
}

impl fmt::Display for SlotFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "slot `{}.{}` panicked on event loop `{}` handling signal `{}`",
            self.object, self.slot, self.event_loop, self.signal
        )?;
        if let Some(emitter) = &self.emitter {
            write!(f, " from `{emitter}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How a loop waits when it has nothing to do.
///
/// ```
/// use std::time::Duration;
/// use signal_slot::{EventLoop, IdleWait};
///
/// // A latency-critical loop on a core of its own: it answers in about a
/// // microsecond, and keeps that core busy while idle.
/// let fast = EventLoop::builder("idle_wait_example")
///     .idle_wait(IdleWait::BusyPoll)
///     .build()?;
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum IdleWait {
    /// Look for work while looking pays, then sleep until work arrives (the
    /// default). On a machine with cores to spare the loop looks for up to
    /// [`IdleWait::DEFAULT_SPIN`] (20 µs), yielding its core now and then,
    /// so that a reply that comes within that time costs no wake-up (on a
    /// virtual machine a wake-up can take tens of microseconds). When its
    /// yields show that other programs want the cores (a yield that loses
    /// the core for a scheduler slice), it looks only briefly, never
    /// yields, and sleeps: it looks again from time to time, at most a few
    /// slices a second, and spins again once the machine has room.
    #[default]
    Adaptive,
    /// Look for work for up to this long, yielding the core now and then,
    /// then sleep until work arrives, whatever else runs on the machine.
    /// `SpinThenSleep(Duration::ZERO)` sleeps at once.
    SpinThenSleep(std::time::Duration),
    /// Never sleep: look for work without pause. The lowest latency, at the
    /// cost of a whole core for as long as the loop runs, idle or not: for
    /// loops pinned to cores of their own.
    BusyPoll,
}

impl IdleWait {
    /// How long an [`IdleWait::Adaptive`] loop looks for work on a machine
    /// with cores to spare.
    pub const DEFAULT_SPIN: std::time::Duration = std::time::Duration::from_micros(20);
}

/// What a loop does when a slot panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PanicPolicy {
    /// End the loop right after the failing message (the default): its
    /// objects may be in an inconsistent state.
    #[default]
    StopLoop,
    /// Report the panic and go on with the next message.
    KeepGoing,
}
