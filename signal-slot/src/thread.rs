//! A loop on a thread of its own, like `QThread`.

use std::ops::Deref;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::error::Error;
use crate::event_loop::{EventLoop, EventLoopBuilder, LoopHandle};
use crate::serial::{self, GuestResult};
use crate::signal::Slot;
use crate::status::ExitStatus;

enum State {
    Ready(Box<EventLoop>),
    Running {
        thread: JoinHandle<ExitStatus>,
        done: crossbeam_channel::Receiver<()>,
    },
    Serial {
        result: GuestResult,
        host: ThreadId,
    },
    Joined(ExitStatus),
    Poisoned,
}

/// An event loop on a thread of its own.
///
/// Create it, attach objects to its loop and connect them (from this
/// thread, through `Deref` to [`LoopHandle`]), then [`start`](Self::start)
/// it: the objects run on the new thread. Dropping it stops and joins the
/// thread, so no thread outlives its handle.
///
/// ```
/// use signal_slot::{EventLoopThread, ExitStatus};
///
/// let mut worker = EventLoopThread::new("worker_example")?;
/// worker.start()?;
/// worker.stop();
/// assert_eq!(worker.join()?, ExitStatus::Normal);
/// # Ok::<(), signal_slot::Error>(())
/// ```
pub struct EventLoopThread {
    handle: LoopHandle,
    serial: bool,
    state: State,
}

impl EventLoopThread {
    /// A thread for a new loop named `name` with default options.
    ///
    /// # Errors
    ///
    /// As for [`EventLoop::new`].
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        Self::with_options(EventLoop::builder(name))
    }

    /// A thread whose loop has the options of `options` (capacity, panic
    /// policy..), as [`EventLoopProcess::with_options`](crate::EventLoopProcess::with_options)
    /// for a process.
    ///
    /// ```
    /// use signal_slot::{EventLoop, EventLoopThread, PanicPolicy};
    ///
    /// let options = EventLoop::builder("with_options_example")
    ///     .panic_policy(PanicPolicy::KeepGoing);
    /// let mut worker = EventLoopThread::with_options(options)?;
    /// worker.start()?;
    /// worker.stop();
    /// assert!(worker.join()?.is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`EventLoopBuilder::build`](crate::EventLoopBuilder::build).
    pub fn with_options(options: EventLoopBuilder) -> Result<Self, Error> {
        Ok(Self::create(options.build()?, false))
    }

    /// A loop in serial mode: `start` runs it on the calling thread, driven
    /// by the loop that runs there, instead of on a thread of its own, as
    /// [`EventLoopProcess::new_serial`](crate::EventLoopProcess::new_serial)
    /// for a process. Deterministic, for tests and debugging; see
    /// [serial mode](crate#serial-mode).
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoop, EventLoopThread, Timer};
    ///
    /// let mut main = EventLoop::new("serial_thread_example")?;
    /// let mut worker = EventLoopThread::new_serial("serial_thread_worker")?;
    /// // The worker's loop runs on this thread, driven by `main`.
    /// worker.start()?;
    /// main.terminate_signal().connect(worker.stop_slot())?;
    /// let timer = Timer::single_shot(&main, Duration::from_millis(5))?;
    /// timer.timeout().connect(main.stop_slot())?;
    /// timer.start();
    /// main.exec();
    /// assert!(worker.join()?.is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`EventLoop::new`].
    pub fn new_serial(name: impl Into<String>) -> Result<Self, Error> {
        Ok(Self::create(EventLoop::new(name)?, true))
    }

    fn create(event_loop: EventLoop, serial: bool) -> Self {
        EventLoopThread {
            handle: event_loop.handle(),
            serial,
            state: State::Ready(Box::new(event_loop)),
        }
    }

    /// The loop's handle.
    pub fn event_loop(&self) -> &LoopHandle {
        &self.handle
    }

    /// Starts the thread; the loop runs on it until stopped.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] if it was started, [`Error::Io`] if the
    /// thread cannot be spawned.
    pub fn start(&mut self) -> Result<(), Error> {
        let State::Ready(_) = self.state else {
            return Err(Error::AlreadyStarted(self.handle.name().to_owned()));
        };
        let State::Ready(mut event_loop) = std::mem::replace(&mut self.state, State::Poisoned)
        else {
            unreachable!("checked above")
        };
        if self.serial {
            self.state = State::Serial {
                result: serial::add_guest(*event_loop),
                host: std::thread::current().id(),
            };
            return Ok(());
        }
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name(self.handle.name().to_owned())
            .spawn(move || {
                let status = event_loop.exec();
                drop(event_loop);
                let _ = done_tx.send(());
                status
            });
        match spawned {
            Ok(thread) => {
                self.state = State::Running { thread, done };
                Ok(())
            }
            Err(source) => Err(Error::io(
                format!(
                    "cannot start a thread for event loop `{}`",
                    self.handle.name()
                ),
                source,
            )),
        }
    }

    /// Stops the loop gracefully (see [`LoopHandle::stop`]).
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// [`stop`](Self::stop) as a slot.
    pub fn stop_slot(&self) -> Slot<'_, ()> {
        self.handle.stop_slot()
    }

    /// True while the thread runs (or, in serial mode, the loop has not
    /// ended).
    pub fn is_running(&self) -> bool {
        match &self.state {
            State::Running { thread, .. } => !thread.is_finished(),
            State::Serial { result, .. } => result
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none(),
            _ => false,
        }
    }

    /// Waits for the loop to end and returns how it ended.
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] if it was never started.
    pub fn join(&mut self) -> Result<ExitStatus, Error> {
        self.join_deadline(None)
            .map(|status| status.expect("a join without a deadline returns a status"))
    }

    /// Waits at most `timeout` for the loop to end: `Ok(None)` if it is
    /// still running.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::EventLoopThread;
    ///
    /// let mut worker = EventLoopThread::new("thread_join_timeout_example")?;
    /// worker.start()?;
    /// assert!(worker.join_timeout(Duration::from_millis(10))?.is_none());
    /// worker.stop();
    /// assert!(worker.join_timeout(Duration::from_secs(10))?.is_some());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`join`](Self::join).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        self.join_deadline(Some(Instant::now() + timeout))
    }

    fn join_deadline(&mut self, deadline: Option<Instant>) -> Result<Option<ExitStatus>, Error> {
        let name = self.handle.name().to_owned();
        match &self.state {
            State::Joined(status) => return Ok(Some(status.clone())),
            State::Ready(_) | State::Poisoned => return Err(Error::NotStarted(name)),
            State::Serial { result, host } => {
                let status = serial::join(*host, result, deadline)?;
                if let Some(status) = &status {
                    self.state = State::Joined(status.clone());
                }
                return Ok(status);
            }
            State::Running { done, .. } => {
                if let Some(deadline) = deadline
                    && let Err(RecvTimeoutError::Timeout) = done.recv_deadline(deadline)
                {
                    return Ok(None);
                }
            }
        }
        let State::Running { thread, .. } = std::mem::replace(&mut self.state, State::Poisoned)
        else {
            unreachable!("matched above")
        };
        let status = thread.join().map_err(|_| Error::Process {
            process: name,
            message: "the loop's thread panicked outside of any slot".to_owned(),
        })?;
        self.state = State::Joined(status.clone());
        Ok(Some(status))
    }
}

impl Deref for EventLoopThread {
    type Target = LoopHandle;

    fn deref(&self) -> &LoopHandle {
        &self.handle
    }
}

impl Drop for EventLoopThread {
    fn drop(&mut self) {
        if let State::Running { .. } = self.state {
            self.stop();
            let _ = self.join();
        }
    }
}

impl std::fmt::Debug for EventLoopThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoopThread")
            .field("event_loop", &self.handle.name())
            .field("running", &self.is_running())
            .finish()
    }
}
