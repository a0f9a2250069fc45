//! Alive but deaf: the parent listens to a child's loop (see
//! [`EventLoopProcess::deaf_after`]) by asking the child's agent, a few
//! times a threshold, how the loop does. The agent is a thread of its own:
//! it answers while the loop is stuck, and says so. A loop is deaf when a
//! slot has run past the threshold, when signals wait and it has taken none
//! for that long, or when its process does not answer at all (stopped,
//! swamped, or its agent stuck).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::object::Handle;
use crate::signal::Signal;
use crate::stats::Pulse;
use crate::transport::{Control, LoopPeer};
use crate::util::Periodic;

use super::EventLoopProcess;
use super::exit::ExitRecord;
use super::monitor::ProcessMonitor;

/// A child process whose loop stopped answering: the argument of
/// [`EventLoopProcess::deaf`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deaf {
    /// The process's (and its loop's) name.
    pub process: String,
    /// Its operating-system id.
    pub pid: u32,
    /// Why it counts as deaf.
    pub why: DeafReason,
    /// How long it has been so when it was reported.
    pub silent_for: Duration,
}

/// Why a child counts as deaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeafReason {
    /// One of its slots has run this long and still runs.
    InSlot,
    /// Signals wait for its loop (this many) and it has taken none.
    NotTaking {
        /// The signals waiting at the last answer.
        waiting: u64,
    },
    /// Its process does not answer (stopped, swamped, or stuck outside its
    /// loop).
    NoAnswer,
}

impl std::fmt::Display for Deaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match &self.why {
            DeafReason::InSlot => "a slot has run".to_owned(),
            DeafReason::NotTaking { waiting } => {
                format!("{waiting} signals wait and it has taken none")
            }
            DeafReason::NoAnswer => "its process has not answered".to_owned(),
        };
        write!(
            f,
            "process `{}` (pid {}) is deaf: {why} for {:?}",
            self.process, self.pid, self.silent_for
        )
    }
}

/// The thread that listens to one child, until the child ends or the
/// parent's handle goes.
pub(super) struct Hearing {
    deaf: Arc<AtomicBool>,
    _thread: Periodic,
}

/// What the listener needs of the child.
pub(super) struct Child {
    pub(super) name: Arc<str>,
    pub(super) pid: u32,
    pub(super) control: Arc<dyn Control>,
    pub(super) record: Arc<ExitRecord>,
    pub(super) monitor: Handle<ProcessMonitor>,
    /// Paused while the parent suspended the child on purpose.
    pub(super) suspended: Arc<AtomicBool>,
    /// The child's loop, as this process knows it: its stats say it is
    /// deaf.
    pub(super) peer: Arc<LoopPeer>,
}

impl Hearing {
    pub(super) fn listen(child: Child, after: Duration) -> std::io::Result<Hearing> {
        let deaf = Arc::new(AtomicBool::new(false));
        let name = format!("signal-slot-hearing-{}", child.name);
        let mut listener = Listener::new(child, after, deaf.clone());
        let look = (after / 4).max(Duration::from_millis(5));
        let thread = Periodic::start(name, move || listener.step(look).then_some(look))?;
        Ok(Hearing {
            deaf,
            _thread: thread,
        })
    }

    pub(super) fn is_deaf(&self) -> bool {
        self.deaf.load(Ordering::Relaxed)
    }
}

struct Listener {
    child: Child,
    after: Duration,
    deaf: Arc<AtomicBool>,
    /// The last answer, and when it came.
    heard: Option<(Pulse, Instant)>,
    /// Since when the loop has handled nothing with signals waiting.
    idle_since: Option<Instant>,
    /// Since when the child's process has not answered.
    silent_since: Option<Instant>,
}

impl Listener {
    fn new(child: Child, after: Duration, deaf: Arc<AtomicBool>) -> Listener {
        Listener {
            child,
            after,
            deaf,
            heard: None,
            idle_since: None,
            silent_since: None,
        }
    }

    /// One look at the child; false once it ended (or its loop is gone):
    /// the listener is done.
    fn step(&mut self, look: Duration) -> bool {
        if self.child.record.outcome().is_some() {
            return false;
        }
        if self.child.suspended.load(Ordering::Relaxed) {
            // Stopped on purpose: neither deaf nor heard.
            self.silent_since = None;
            self.idle_since = None;
            return true;
        }
        self.listen(look)
    }

    /// One question to the child; false once its loop is gone.
    fn listen(&mut self, timeout: Duration) -> bool {
        let now = Instant::now();
        match self.child.control.pulse(&self.child.name, timeout) {
            Ok(Some(pulse)) => {
                self.silent_since = None;
                let moved = self
                    .heard
                    .is_none_or(|(last, _)| last.handled != pulse.handled);
                if moved || pulse.waiting == 0 {
                    self.idle_since = None;
                } else {
                    self.idle_since.get_or_insert(now);
                }
                self.heard = Some((pulse, now));
                let not_taking = self
                    .idle_since
                    .map(|since| now - since)
                    .filter(|idle| *idle > self.after);
                if pulse.running > self.after {
                    self.report(DeafReason::InSlot, pulse.running);
                } else if let Some(idle) = not_taking {
                    let waiting = pulse.waiting;
                    self.report(DeafReason::NotTaking { waiting }, idle);
                } else {
                    self.hear();
                }
                true
            }
            // The loop has ended there: nothing more to hear.
            Ok(None) => false,
            Err(_) if self.child.record.outcome().is_some() => false,
            Err(_) => {
                let since = *self.silent_since.get_or_insert(now);
                let silent = now - since + timeout;
                if silent > self.after {
                    self.report(DeafReason::NoAnswer, silent);
                }
                true
            }
        }
    }

    /// Reports the child deaf, once until it is heard again.
    fn report(&self, why: DeafReason, silent_for: Duration) {
        if self.deaf.swap(true, Ordering::AcqRel) {
            return;
        }
        self.child.peer.activity().set_deaf(true);
        let deaf = Deaf {
            process: self.child.name.to_string(),
            pid: self.child.pid,
            why,
            silent_for,
        };
        tracing::warn!(process = %self.child.name, pid = self.child.pid, "{deaf}");
        self.child.monitor.deaf().emit(deaf);
    }

    /// The child answers, and its loop takes what comes.
    fn hear(&self) {
        if self.deaf.swap(false, Ordering::AcqRel) {
            self.child.peer.activity().set_deaf(false);
            tracing::info!(
                process = %self.child.name,
                pid = self.child.pid,
                "process `{}` (pid {}) answers again",
                self.child.name,
                self.child.pid
            );
        }
    }
}

impl EventLoopProcess {
    /// Listens to the child for deafness, if asked to.
    pub(super) fn listen(&mut self, pid: u32) {
        let (Some(after), Some(control)) = (self.deaf_after, self.handle.peer().control()) else {
            return;
        };
        let child = Child {
            name: self.name.clone(),
            pid,
            control,
            record: self.record.clone(),
            monitor: self.monitor.clone(),
            suspended: self.suspended.clone(),
            peer: self.handle.peer().clone(),
        };
        match Hearing::listen(child, after) {
            Ok(hearing) => self.hearing = Some(hearing),
            Err(error) => tracing::warn!(
                process = %self.name,
                "process `{}`: cannot listen for its deafness: {error}",
                self.name
            ),
        }
    }

    /// Listens to the child once it runs: if its loop stops answering for
    /// `after` (a slot runs that long, or signals wait and it takes none,
    /// or the process does not answer at all), [`deaf`](Self::deaf) is
    /// emitted in the parent, once until it answers again. The parent asks
    /// the child's agent (a thread of the child's own, which answers while
    /// the loop is stuck) four times per `after`; a busy child that keeps
    /// taking its signals is never deaf. Off by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::EventLoopProcess;
    ///
    /// let mut worker = EventLoopProcess::new("deaf_after_example")?
    ///     .deaf_after(Duration::from_secs(30));
    /// worker.start()?;
    /// assert!(!worker.is_deaf());
    /// worker.stop();
    /// assert!(worker.join()?.success());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn deaf_after(mut self, after: Duration) -> Self {
        self.deaf_after = Some(after);
        self
    }

    /// Emitted in the parent when the child is found deaf (see
    /// [`deaf_after`](Self::deaf_after)), with why: connect it to log, or
    /// to a supervisor that kills and restarts the child.
    pub fn deaf(&self) -> Signal<'_, (Deaf,)> {
        self.monitor.deaf().signal()
    }

    /// True while the child counts as deaf.
    pub fn is_deaf(&self) -> bool {
        self.hearing.as_ref().is_some_and(Hearing::is_deaf)
    }
}
