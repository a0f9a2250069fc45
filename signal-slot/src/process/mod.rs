//! A loop in a child process, like the original's `EventLoopProcess`.
//!
//! - this module: the public handle, [`EventLoopProcess`].
//! - [`exit`]: how a child ended ([`ProcessExit`]), as the parent records it.
//! - `fork`: starting a child by `fork`, both sides of it.
//! - `monitor`: the parent's watch over a running child.
//!
//! Objects are attached to the process's loop and connected in the parent;
//! `start()` forks, and the loop with its objects runs in the child. How
//! the process tree's loops reach each other is the transport's business
//! (`transport::routes`).

mod agent;
mod carry;
mod control;
mod exit;
mod fork;
mod hearing;
mod init;
mod method;
mod monitor;
mod spawn;

pub use exit::ProcessExit;
pub use hearing::{Deaf, DeafReason};
use method::SpawnProgram;
pub use method::{StartMethod, set_start_method, start_method};
pub use spawn::init_process;

#[cfg(feature = "zenoh")]
pub(crate) use agent::answer_here;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};

use crate::error::Error;
use crate::event_loop::{EventLoop, LoopHandle};
use crate::object::{Handle, Home, ObjectHandle, TypedHandle};
use crate::platform;
use crate::serial::{self, GuestResult};
use crate::signal::Signal;
use crate::status::ExitStatus;
use crate::transport::registry::registry;
use crate::transport::routes::{self, ChildChannels};
use crate::util::panic_message;

use exit::ExitRecord;
use init::{Init, InitFn, drop_init};
use monitor::ProcessMonitor;

/// What the parent hands to a start method: the loop and its init
/// function move to the child (and stay here if it does not start).
struct Launch<'a> {
    name: &'a Arc<str>,
    event_loop: &'a mut Option<Box<EventLoop>>,
    /// Other loops that go with it (see `EventLoopProcess::carry`).
    carried: &'a mut Vec<EventLoop>,
    init: &'a mut Option<Init>,
    channels: &'a ChildChannels,
    report: &'a IpcSender<ExitStatus>,
    /// What a child started by spawn runs (`None`: this executable again).
    program: Option<&'a SpawnProgram>,
}

enum State {
    Ready(Box<EventLoop>),
    Running,
    Serial {
        result: GuestResult,
        host: std::thread::ThreadId,
    },
    Failed,
}

/// An event loop in a child process.
///
/// Create it, attach objects to its loop and connect them in the parent
/// (through `Deref` to [`LoopHandle`]), optionally give it an
/// [`init`](Self::init) function, then [`start`](Self::start) it: the
/// process forks, and the loop and its objects run in the child. The same
/// signals and slots work whichever side of the fork they are on.
///
/// # Processes and threads
///
/// On Unix the child is a `fork` of the parent, with only the thread that
/// called `start`. The library makes that safe for itself (it holds its
/// locks across the fork and rebuilds its state in the child), but it
/// cannot do so for other code: a lock that another thread of the parent
/// held at the moment of the fork stays locked in the child forever. Start
/// processes before starting threads of your own (as with Python's `fork`
/// start method), or at least while they are quiet, and do not hold locks
/// (of a logger, for instance) across `start`. Child processes end when
/// their parent dies.
///
/// Objects attached to the loop move to the child: the parent's copies are
/// not dropped.
///
/// ```
/// use signal_slot::{EventLoopProcess, ProcessExit};
///
/// let mut worker = EventLoopProcess::new("worker")?
///     .init(|event_loop| tracing::info!("worker {} starting", event_loop.name()));
/// worker.start()?;
/// worker.stop();
/// let exit: ProcessExit = worker.join()?;
/// assert!(exit.success());
/// # Ok::<(), signal_slot::Error>(())
/// ```
pub struct EventLoopProcess {
    name: Arc<str>,
    handle: LoopHandle,
    monitor: Handle<ProcessMonitor>,
    serial: bool,
    method: Option<StartMethod>,
    program: Option<SpawnProgram>,
    init: Option<Init>,
    state: State,
    /// Loops to carry to the child when it starts, and then the handles of
    /// those it carried.
    carried: Box<carry::Carried>,
    record: Arc<ExitRecord>,
    /// The thread that waits for the child to end.
    watch: Option<std::thread::JoinHandle<()>>,
    /// Created with the process (not in serial mode).
    channels: Option<ChildChannels>,
    report: Option<(IpcSender<ExitStatus>, IpcReceiver<ExitStatus>)>,
    /// Listen to the child for deafness past this (see `deaf_after`).
    deaf_after: Option<Duration>,
    hearing: Option<hearing::Hearing>,
    /// Set while the parent has suspended the child.
    suspended: Arc<std::sync::atomic::AtomicBool>,
}

/// How long dropping a running process waits for it to stop gracefully
/// before killing it.
const DROP_GRACE: Duration = Duration::from_secs(3);

impl EventLoopProcess {
    /// A process for a new loop named `name` with default options.
    ///
    /// # Errors
    ///
    /// As for [`EventLoop::new`], and [`Error::Io`] if the transport
    /// channels cannot be created.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        Self::with_options(EventLoop::builder(name))
    }

    /// A process whose loop has the options of `options` (capacity, panic
    /// policy..); the loop is named after the builder's name.
    ///
    /// # Errors
    ///
    /// As for [`EventLoopBuilder::build`](crate::EventLoopBuilder::build), and
    /// [`Error::Io`] if the transport channels cannot be created.
    pub fn with_options(options: crate::EventLoopBuilder) -> Result<Self, Error> {
        Self::create(options, false)
    }

    /// A process in serial mode: `start` runs the init function and the loop
    /// on the calling thread, driven by the loop that runs there, instead of
    /// in a child process. Deterministic, for tests and debugging; see
    /// [serial mode](crate#serial-mode). Works on every platform.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoop, EventLoopProcess, Timer};
    ///
    /// let mut main = EventLoop::new("serial_process_example")?;
    /// let mut worker = EventLoopProcess::new_serial("serial_process_worker")?;
    /// // The worker's loop runs on this thread, driven by `main`.
    /// worker.start()?;
    /// main.terminate_signal().connect(worker.stop_slot())?;
    /// let timer = Timer::single_shot(&main, Duration::from_millis(5))?;
    /// timer.timeout().connect(main.stop_slot())?;
    /// timer.start();
    /// main.exec();
    /// assert!(worker.join()?.success());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`EventLoop::new`].
    pub fn new_serial(name: impl Into<String>) -> Result<Self, Error> {
        Self::create(EventLoop::builder(name), true)
    }

    fn create(options: crate::EventLoopBuilder, serial: bool) -> Result<Self, Error> {
        if !serial && platform::PROCESSES {
            agent::install_seams();
            routes::activate(agent::start).map_err(|source| {
                Error::io(
                    format!(
                        "process `{}`: cannot start the process tree",
                        options.name()
                    ),
                    source,
                )
            })?;
        }
        let event_loop = options.for_child_process().build()?;
        let handle = event_loop.handle();
        if !serial && platform::PROCESSES {
            handle.peer().bind_for_child(true);
        }
        let name: Arc<str> = handle.name().into();
        let monitor = ObjectHandle::for_type::<ProcessMonitor>(
            format!("process:{name}").into(),
            Home::NoLoop,
        );
        let mut process = EventLoopProcess {
            name,
            handle,
            monitor: TypedHandle::from_object_handle(monitor),
            serial,
            method: None,
            program: None,
            init: None,
            state: State::Ready(Box::new(event_loop)),
            carried: Box::default(),
            record: Arc::default(),
            watch: None,
            channels: None,
            report: None,
            deaf_after: None,
            hearing: None,
            suspended: Arc::default(),
        };
        if !serial && platform::PROCESSES {
            // Now, so that processes started earlier can reach its loop
            // before it starts.
            let io = |source| {
                Error::io(
                    format!("process `{}`: cannot create a channel", process.name),
                    source,
                )
            };
            process.report = Some(ipc::channel().map_err(io)?);
            process.channels = Some(routes::open_child(process.handle.peer()).map_err(io)?);
        }
        Ok(process)
    }

    /// How this process starts (by default [`start_method()`]).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Starts the process by spawn, running `program` with `args`, instead
    /// of this executable again with this process's arguments: a worker
    /// program of its own, or an interpreter with the script that hosts
    /// the loop. The program must call [`init_process`] before anything
    /// else, as `main` does for the default (it finds its role in its
    /// environment, whatever its arguments); what is registered in it
    /// (`#[signal_slot::init]` functions, the types of the objects that
    /// travel) must include what this process sends it.
    ///
    /// ```no_run
    /// use signal_slot::EventLoopProcess;
    ///
    /// // `worker` is a program whose `main` calls `signal_slot::init_process()`.
    /// let mut worker = EventLoopProcess::new("worker")?
    ///     .spawn_program("./worker", ["--quiet"]);
    /// worker.start()?;
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// `start` fails with [`Error::Io`] if the program cannot be run, and
    /// with [`Error::Process`] if the start method was set back to fork.
    pub fn spawn_program(
        mut self,
        program: impl Into<std::path::PathBuf>,
        args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>,
    ) -> Self {
        self.method = Some(StartMethod::Spawn);
        self.program = Some(SpawnProgram {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// How this process starts, or started.
    pub fn method(&self) -> StartMethod {
        self.method.unwrap_or_else(start_method)
    }

    /// The process's name (its loop's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loop's handle.
    pub fn event_loop(&self) -> &LoopHandle {
        &self.handle
    }

    /// Emitted in the parent when the child ends, with how it ended.
    pub fn finished(&self) -> Signal<'_, (ProcessExit,)> {
        self.monitor.finished().signal()
    }

    /// Starts the child process; the loop runs there until stopped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{Context, EventLoop, EventLoopProcess, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Doubler;
    ///
    /// #[event_loop_object]
    /// impl Doubler {
    ///     #[slot]
    ///     fn double(&mut self, x: u64) -> u64 {
    ///         x * 2
    ///     }
    /// }
    ///
    /// let mut child = EventLoopProcess::new("start_example_child")?;
    /// let doubler = child.add(Doubler)?;
    /// child.start()?;
    /// // The object runs in the child now; its handle works from here.
    /// let twice = doubler.double().call(21, Duration::from_secs(10));
    /// assert_eq!(twice, Ok(42));
    /// assert_ne!(child.pid(), Some(std::process::id()));
    /// child.stop();
    /// assert!(child.join()?.success());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] if it was started; [`Error::Unsupported`]
    /// where child processes (or the chosen start method) are not available;
    /// [`Error::Refused`] from inside a child; [`Error::Io`] if `fork` fails. In serial mode, [`Error::Process`] if
    /// the init function panics.
    pub fn start(&mut self) -> Result<(), Error> {
        if !matches!(self.state, State::Ready(_)) {
            return Err(Error::AlreadyStarted(self.name.to_string()));
        }
        let State::Ready(event_loop) = std::mem::replace(&mut self.state, State::Failed) else {
            unreachable!("checked above")
        };
        // An init function given by name runs here or in a fork of this
        // executable: one this executable does not have is refused now.
        if (self.serial || self.method() == StartMethod::Fork)
            && let Some(Init::Registered { key, .. }) = &self.init
            && let Err(why) = crate::travel::registered_init(key)
        {
            self.state = State::Ready(event_loop);
            return Err(Error::Process {
                process: self.name.to_string(),
                message: format!("its init function cannot run: {why}"),
            });
        }
        if self.serial {
            return self.start_serial(*event_loop);
        }
        let (Some(channels), Some((report, _))) = (&self.channels, &self.report) else {
            self.state = State::Ready(event_loop);
            return Err(Error::Unsupported(
                "EventLoopProcess (child processes need fork)",
            ));
        };
        let mut event_loop = Some(event_loop);
        let started = match self.method() {
            StartMethod::Fork if !platform::FORK => Err(Error::Unsupported(
                "the fork start method on this platform (use StartMethod::Spawn)",
            )),
            StartMethod::Fork if self.program.is_some() => Err(Error::Process {
                process: self.name.to_string(),
                message: "a program to run is set (spawn_program), but it starts by fork"
                    .to_owned(),
            }),
            StartMethod::Fork => fork::fork(Launch {
                name: &self.name,
                event_loop: &mut event_loop,
                carried: &mut self.carried.loops,
                init: &mut self.init,
                channels,
                report,
                program: None,
            })
            .map(|pid| (pid, None)),
            StartMethod::Spawn => spawn::spawn(Launch {
                name: &self.name,
                event_loop: &mut event_loop,
                carried: &mut self.carried.loops,
                init: &mut self.init,
                channels,
                report,
                program: self.program.as_ref(),
            })
            .map(|spawned| (spawned.pid, Some(spawned))),
        };
        match started {
            Ok((pid, spawned)) => {
                let _ = self.record.pid.set(pid);
                debug_assert!(
                    self.carried.loops.is_empty(),
                    "the start took the carried loops"
                );
                self.state = State::Running;
                if let Some((_, report)) = self.report.take() {
                    let process = self
                        .channels
                        .as_ref()
                        .map_or(0, |channels| channels.process);
                    self.watch = monitor::spawn(monitor::Watch {
                        name: self.name.clone(),
                        pid,
                        process,
                        record: self.record.clone(),
                        monitor: self.monitor.clone(),
                        report,
                        spawned,
                    });
                }
                self.listen(pid);
                tracing::debug!(process = %self.name, pid, method = ?self.method(), "started child process");
                Ok(())
            }
            Err(error) => {
                if let Some(event_loop) = event_loop {
                    self.state = State::Ready(event_loop);
                }
                Err(error)
            }
        }
    }

    fn start_serial(&mut self, event_loop: EventLoop) -> Result<(), Error> {
        // In serial mode the child is this process: the carried loops wait
        // here for their taker, as they would in a child.
        for carried in self.carried.loops.drain(..) {
            crate::event_loop::carried::arrived(carried);
        }
        if let Some(init) = self.init.take() {
            let handle = event_loop.handle();
            let init = init.into_closure();
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| init(&handle))) {
                return Err(Error::Process {
                    process: self.name.to_string(),
                    message: format!("the init function panicked: {}", panic_message(&*panic)),
                });
            }
        }
        self.state = State::Serial {
            result: serial::add_guest(event_loop),
            host: std::thread::current().id(),
        };
        Ok(())
    }
}

impl std::ops::Deref for EventLoopProcess {
    type Target = LoopHandle;

    fn deref(&self) -> &LoopHandle {
        &self.handle
    }
}

impl Drop for EventLoopProcess {
    /// A running child is stopped gracefully, given a few seconds, then
    /// killed: no process outlives its handle.
    fn drop(&mut self) {
        match self.state {
            State::Running if self.exit().is_none() => {
                self.stop();
                if let Ok(None) = self.join_timeout(DROP_GRACE) {
                    tracing::warn!(process = %self.name, "process `{}` did not stop in {DROP_GRACE:?}; killing it", self.name);
                    let _ = self.kill();
                    let _ = self.join_timeout(DROP_GRACE);
                }
            }
            State::Ready(_) => {
                registry().processes.discard_pending(&self.name);
            }
            _ => {}
        }
        if matches!(self.state, State::Running) {
            // The loop lived in the child: its name is free again, and so
            // are those of the loops carried there.
            let mut registry = registry();
            registry.remove_loop(self.handle.peer());
            for carried in &self.carried.handles {
                registry.remove_loop(carried.peer());
            }
        }
    }
}

impl std::fmt::Debug for EventLoopProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoopProcess")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("exit", &self.exit())
            .finish()
    }
}
