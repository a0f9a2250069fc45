//! A started child, controlled from its parent: stopped (gracefully, by
//! its loop's `stop`), terminated, killed, suspended; whether it lives, how
//! it ended, and joining it.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::{EventLoopProcess, ProcessExit, State};
use crate::error::Error;
use crate::platform;
use crate::serial::{self};
use crate::signal::Slot;

impl EventLoopProcess {
    /// Stops the child's loop gracefully (see [`LoopHandle::stop`](crate::LoopHandle::stop)); the
    /// process exits when its loop has ended.
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// [`stop`](Self::stop) as a slot, to connect a timer or another loop's
    /// `terminate` to.
    pub fn stop_slot(&self) -> Slot<'_, ()> {
        self.handle.stop_slot()
    }

    /// Sends `SIGTERM` to the child.
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] if it was not started, [`Error::Io`] if the
    /// signal cannot be sent.
    pub fn terminate(&self) -> Result<(), Error> {
        self.signal(platform::Signal::Terminate)
    }

    /// Sends `SIGKILL` to the child.
    ///
    /// # Errors
    ///
    /// As for [`terminate`](Self::terminate).
    pub fn kill(&self) -> Result<(), Error> {
        self.signal(platform::Signal::Kill)
    }

    #[doc(hidden)]
    /// Suspends (`SIGSTOP`) or resumes (`SIGCONT`) the child; for tests.
    pub fn suspend(&self, suspend: bool) -> Result<(), Error> {
        let signal = if suspend {
            platform::Signal::Stop
        } else {
            platform::Signal::Continue
        };
        // Not deaf, only stopped on purpose.
        self.suspended
            .store(suspend, std::sync::atomic::Ordering::Relaxed);
        self.signal(signal)
    }

    fn signal(&self, signal: platform::Signal) -> Result<(), Error> {
        let Some(&pid) = self.record.pid.get() else {
            return Err(Error::NotStarted(self.name.to_string()));
        };
        // Held while signalling: while no exit is recorded, the child is
        // not reaped, so the pid is still the child's.
        let outcome = self.record.lock();
        if outcome.is_some() {
            return Ok(());
        }
        platform::send_signal(pid, signal).map_err(|source| {
            Error::io(
                format!("process `{}`: cannot send {signal:?}", self.name),
                source,
            )
        })
    }

    /// The child's process id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.record.pid.get().copied()
    }

    /// True while the child runs (in serial mode: while its loop has not
    /// ended).
    pub fn is_alive(&self) -> bool {
        match &self.state {
            State::Running => self.exit().is_none(),
            State::Serial { result, .. } => result
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_none(),
            State::Ready(_) | State::Failed => false,
        }
    }

    /// How the child ended, once it has.
    pub fn exit(&self) -> Option<ProcessExit> {
        self.record.outcome()
    }

    /// The child's exit code, once it has exited (`None` while it runs or if
    /// a signal ended it).
    pub fn exit_code(&self) -> Option<i32> {
        self.exit().and_then(|exit| exit.code())
    }

    /// Waits for the child to end, and says how it ended.
    ///
    /// ```
    /// use signal_slot::{EventLoopProcess, ExitStatus};
    ///
    /// let mut child = EventLoopProcess::new("join_example_child")?;
    /// child.start()?;
    /// child.stop();
    /// let exit = child.join()?;
    /// assert!(exit.success());
    /// assert_eq!(exit.loop_status(), Some(&ExitStatus::Normal));
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] if it was not started.
    pub fn join(&mut self) -> Result<ProcessExit, Error> {
        self.join_deadline(None)
            .map(|exit| exit.expect("a join without a deadline returns the exit"))
    }

    /// Waits at most `timeout` for the child to end: `Ok(None)` if it still
    /// runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::EventLoopProcess;
    ///
    /// let mut worker = EventLoopProcess::new("join_timeout_example")?;
    /// worker.start()?;
    /// // Still running: nothing stopped it yet.
    /// assert!(worker.join_timeout(Duration::from_millis(20))?.is_none());
    /// worker.stop();
    /// let exit = worker.join_timeout(Duration::from_secs(10))?;
    /// assert!(exit.is_some_and(|exit| exit.success()));
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`join`](Self::join).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<ProcessExit>, Error> {
        self.join_deadline(Some(Instant::now() + timeout))
    }

    fn join_deadline(&mut self, deadline: Option<Instant>) -> Result<Option<ProcessExit>, Error> {
        match &self.state {
            State::Ready(_) | State::Failed => Err(Error::NotStarted(self.name.to_string())),
            State::Serial { result, host } => {
                let status = serial::join(*host, result, deadline)?;
                Ok(status.map(|status| ProcessExit::Exited {
                    code: status.code(),
                    status: Some(status),
                }))
            }
            State::Running => {
                let exit = self.record.wait(deadline);
                if exit.is_some()
                    && let Some(watch) = self.watch.take()
                {
                    // What remains of it is short: telling the others and
                    // emitting `finished`. Once joined, nothing of the child
                    // is left here.
                    let _ = watch.join();
                }
                Ok(exit)
            }
        }
    }
}
