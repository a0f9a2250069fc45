//! A loop in a child process, like the original's `EventLoopProcess`.
//!
//! # How a child starts
//!
//! Objects are attached to the process's loop and connected in the parent;
//! `start()` forks, and the loop with its objects runs in the child. The
//! parent hands the loop its transport channel when the process is
//! *created*, so that processes started earlier can send to it before it
//! starts. The receiving end of a child's channel is kept by that child only
//! (the parent closes its copy after the fork, and every child closes the
//! copies it inherits of other children's), so that a child that dies
//! closes its channel and its senders learn it at once. (The receiving ends
//! of the parent's loops are inherited by children, which cannot close them
//! without access to the descriptors; a parent loop that ends while children
//! send to it makes their outboxes fill, drop and count.)
//!
//! Between the fork and its loop the child resets what it inherited: loops
//! of other processes become outboxes of its own, its own loop becomes local
//! again, and locks are fresh (the parent holds them across the fork).
//!
//! Loops of the parent get a transport channel as soon as a process exists
//! (and loops created later get one when they are created), and running
//! children learn of loops created after them through route updates, so that
//! connections can be made at any time between any two loops.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::event_loop::{EventLoop, LoopHandle};
use crate::object::{Handle, Home, ObjectHandle, TypedHandle};
use crate::platform::{self, Forked, RawExit};
use crate::registry::{Registry, registry};
use crate::serial::{self, GuestResult};
use crate::signal::{Signal, Slot};
use crate::status::ExitStatus;
use crate::transport::{
    DEFAULT_INBOX_CAPACITY, LoopPeer, OutItem, Outbox, Route, RouteUpdate, spawn_reader,
};

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

/// Emits `finished` when a child process ends; lives in the parent, on no
/// loop.
#[crate::event_loop_object]
pub(crate) struct ProcessMonitor;

#[crate::event_loop_object]
impl ProcessMonitor {
    #[signal]
    fn finished(exit: ProcessExit);
}

/// The receiving ends of a child's channels, held (by the parent) from the
/// process's creation until its fork.
pub(crate) struct PendingChannels {
    data: IpcBytesReceiver,
    control: IpcReceiver<RouteUpdate>,
}

/// A running child, as the parent knows it.
pub(crate) struct ChildRecord {
    loop_name: Arc<str>,
    control: IpcSender<RouteUpdate>,
}

/// This process's part in the process tree.
#[derive(Default)]
pub(crate) struct ProcessTable {
    /// Set in a child process: its name.
    child_of: Option<Arc<str>>,
    /// True once a (non-serial) process was created: loops then need a
    /// transport channel.
    active: bool,
    /// The number the next process gets (see `ledger`).
    next_number: u16,
    pending: std::collections::HashMap<Arc<str>, PendingChannels>,
    children: Vec<ChildRecord>,
}

type InitFn = Box<dyn FnOnce(&LoopHandle) + Send + 'static>;

struct Exit {
    pid: OnceLock<u32>,
    exit: Mutex<Option<ProcessExit>>,
    ended: Condvar,
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
/// ```no_run
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
    init: Option<InitFn>,
    state: State,
    exit: Arc<Exit>,
    control: Option<IpcSender<RouteUpdate>>,
    report: Option<(IpcSender<ExitStatus>, IpcReceiver<ExitStatus>)>,
    /// The process's number in the tree (see `ledger`).
    number: u16,
}

/// How long dropping a running process waits for it to stop gracefully
/// before killing it.
const DROP_GRACE: Duration = Duration::from_secs(3);

/// How long a child gives its outboxes to send what they hold when it ends.
const EXIT_FLUSH: Duration = Duration::from_secs(5);

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
    /// # Errors
    ///
    /// As for [`EventLoop::new`].
    pub fn new_serial(name: impl Into<String>) -> Result<Self, Error> {
        Self::create(EventLoop::builder(name), true)
    }

    fn create(options: crate::EventLoopBuilder, serial: bool) -> Result<Self, Error> {
        let event_loop = options.for_child_process().build()?;
        let handle = event_loop.handle();
        let name: Arc<str> = handle.name().into();
        let monitor = ObjectHandle::for_type::<ProcessMonitor>(
            format!("process:{name}").into(),
            Home::Process,
        );
        EventLoopProcess {
            name,
            handle,
            monitor: TypedHandle::from_object_handle(monitor),
            serial,
            init: None,
            state: State::Ready(Box::new(event_loop)),
            exit: Arc::new(Exit {
                pid: OnceLock::new(),
                exit: Mutex::new(None),
                ended: Condvar::new(),
            }),
            control: None,
            report: None,
            number: u16::MAX,
        }
        .with_channels()
    }

    /// Creates the process's channels now, so that processes started
    /// earlier can reach its loop before it starts.
    fn with_channels(mut self) -> Result<Self, Error> {
        if self.serial || !platform::PROCESSES {
            return Ok(self);
        }
        let io = |source| {
            Error::io(
                format!("process `{}`: cannot create a channel", self.name),
                source,
            )
        };
        let (data_tx, data_rx) = ipc::bytes_channel().map_err(io)?;
        let (control_tx, control_rx) = ipc::channel().map_err(io)?;
        let (report_tx, report_rx) = ipc::channel().map_err(io)?;
        let peer = self.handle.peer().clone();
        peer.set_address(data_tx.clone());
        let mut registry = registry();
        activate(&mut registry);
        // Numbers past the ledger's size (or past u16) are not counted.
        registry.processes.next_number = registry.processes.next_number.saturating_add(1);
        self.number = registry.processes.next_number;
        peer.set_process(self.number);
        registry.processes.pending.insert(
            self.name.clone(),
            PendingChannels {
                data: data_rx,
                control: control_rx,
            },
        );
        distribute_route(&registry, &self.name, &data_tx, self.number);
        drop(registry);
        self.control = Some(control_tx);
        self.report = Some((report_tx, report_rx));
        Ok(self)
    }

    /// A function to run in the child, on its loop's thread, before the
    /// loop starts: create objects that must be born there, connect them.
    /// Arguments are whatever the closure captures.
    pub fn init(mut self, init: impl FnOnce(&LoopHandle) + Send + 'static) -> Self {
        self.init = Some(Box::new(init));
        self
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
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] if it was started; [`Error::Unsupported`]
    /// where child processes are not available, or from inside a child;
    /// [`Error::Io`] if `fork` fails. In serial mode, [`Error::Process`] if
    /// the init function panics.
    pub fn start(&mut self) -> Result<(), Error> {
        if !matches!(self.state, State::Ready(_)) {
            return Err(Error::AlreadyStarted(self.name.to_string()));
        }
        let State::Ready(event_loop) = std::mem::replace(&mut self.state, State::Failed) else {
            unreachable!("checked above")
        };
        if self.serial {
            return self.start_serial(*event_loop);
        }
        if !platform::PROCESSES {
            self.state = State::Ready(event_loop);
            return Err(Error::Unsupported(
                "EventLoopProcess (child processes need fork)",
            ));
        }
        self.fork(event_loop)
    }

    fn start_serial(&mut self, event_loop: EventLoop) -> Result<(), Error> {
        if let Some(init) = self.init.take() {
            let handle = event_loop.handle();
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| init(&handle))) {
                return Err(Error::Process {
                    process: self.name.to_string(),
                    message: format!(
                        "the init function panicked: {}",
                        crate::event_loop::panic_message(&*panic)
                    ),
                });
            }
        }
        self.state = State::Serial {
            result: serial::add_guest(event_loop),
            host: std::thread::current().id(),
        };
        Ok(())
    }

    fn fork(&mut self, event_loop: Box<EventLoop>) -> Result<(), Error> {
        let fail = |state: &mut State, event_loop, error| {
            *state = State::Ready(event_loop);
            Err(error)
        };
        let peer = self.handle.peer().clone();
        let address = peer.address().cloned();
        let (Some(address), Some(control), Some((report_tx, _))) =
            (address, self.control.clone(), self.report.as_ref())
        else {
            return fail(
                &mut self.state,
                event_loop,
                Error::Process {
                    process: self.name.to_string(),
                    message: "its channels were not created".to_owned(),
                },
            );
        };
        let report_tx = report_tx.clone();
        initialize_globals();
        // Every lock of the library that the child may take, held across the
        // fork (in this order everywhere), so that none is inherited locked
        // by a thread that does not exist there; and the library's own
        // threads kept between tasks.
        let gate = platform::quiesce();
        let writers = crate::connection::writers();
        let mut registry = registry();
        let hooks = crate::interrupt::hold();
        let ids_of = peer.clone();
        let ids = ids_of.hold_ids();
        if registry.processes.child_of.is_some() {
            drop(registry);
            return fail(
                &mut self.state,
                event_loop,
                Error::Unsupported("starting a process from inside a child process"),
            );
        }
        let Some(pending) = registry.processes.pending.remove(&self.name) else {
            drop(registry);
            return fail(
                &mut self.state,
                event_loop,
                Error::AlreadyStarted(self.name.to_string()),
            );
        };
        // From here on this process reaches the loop through its channel;
        // what was queued before stays in the queue the child inherits.
        let local = peer.set_route(Route::Remote(Outbox::new(
            address.clone(),
            event_loop.inbox_capacity(),
        )));
        // A thread that took the old route just before the switch may still
        // be queueing into the loop's queue: wait until it is done, so that
        // the child inherits whole messages and none lands here after the
        // fork. (Swapping the route turned every reader's hold on it into a
        // reference count.)
        while Arc::strong_count(&local) > 1 {
            std::thread::yield_now();
        }
        let parent = std::process::id();
        match platform::fork() {
            Err(source) => {
                drop(peer.set_route(Route::Local(event_loop.inbox_sender())));
                registry
                    .processes
                    .pending
                    .insert(self.name.clone(), pending);
                drop((ids, hooks, registry, writers, gate));
                drop(local);
                fail(
                    &mut self.state,
                    event_loop,
                    Error::io(format!("process `{}`: cannot fork", self.name), source),
                )
            }
            Ok(Forked::Child) => {
                // Whatever the old route held may belong to threads that do
                // not exist here.
                std::mem::forget(local);
                let init = self.init.take();
                crate::ledger::set_own(self.number);
                let mut hooks = hooks;
                hooks.forget_loops();
                child_main(ChildStart {
                    event_loop: *event_loop,
                    peer,
                    pending,
                    registry,
                    held: Box::new((ids, hooks, writers, gate)),
                    init,
                    report: report_tx,
                    parent,
                })
            }
            Ok(Forked::Parent { pid }) => {
                // Close this process's copies of the child's receiving ends.
                drop(pending);
                registry.processes.children.push(ChildRecord {
                    loop_name: self.name.clone(),
                    control,
                });
                drop((ids, hooks, registry, writers, gate));
                drop(local);
                // The loop, its objects and the init function live in the
                // child now: the parent's copies are neither run nor dropped.
                std::mem::forget(event_loop);
                std::mem::forget(self.init.take());
                let _ = self.exit.pid.set(pid);
                self.state = State::Running;
                self.spawn_monitor(pid);
                tracing::debug!(process = %self.name, pid, "started child process");
                Ok(())
            }
        }
    }

    /// Waits for the child in a thread of its own and reports its end.
    fn spawn_monitor(&mut self, pid: u32) {
        let Some((_, report)) = self.report.take() else {
            return;
        };
        let exit = self.exit.clone();
        let peer = self.handle.peer().clone();
        let monitor = self.monitor.clone();
        let name = self.name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wait:{name}"))
            .spawn(move || {
                // Waits without reaping: until the exit is recorded below,
                // the pid cannot be reused, so `kill` cannot hit another
                // process.
                let raw = platform::wait(pid);
                let status = report.try_recv().ok();
                let result = match raw {
                    Ok(RawExit::Code(code)) => ProcessExit::Exited { code, status },
                    Ok(RawExit::Signal(signal)) => ProcessExit::Signaled {
                        signal,
                        name: platform::signal_name(signal).to_owned(),
                    },
                    Err(error) => {
                        tracing::error!(process = %name, %error, "cannot wait for process `{name}`");
                        ProcessExit::Exited {
                            code: -1,
                            status: None,
                        }
                    }
                };
                {
                    let mut recorded = exit.exit.lock().unwrap_or_else(PoisonError::into_inner);
                    *recorded = Some(result.clone());
                    if let Err(error) = platform::reap(pid) {
                        tracing::error!(process = %name, %error, "cannot reap process `{name}`");
                    }
                }
                exit.ended.notify_all();
                let _working = platform::working();
                // Whatever was in transit to it is lost: counted once the
                // outbox has sent (or failed to send) what it holds.
                match peer.outbox() {
                    Some(outbox) if outbox.push(&peer, OutItem::Reckon).is_ok() => {}
                    _ => peer.reckon_in_transit(),
                }
                peer.set_gone();
                registry()
                    .processes
                    .children
                    .retain(|child| child.loop_name != name);
                if result.success() {
                    tracing::debug!(process = %name, pid, "process `{name}` {result}");
                } else {
                    tracing::warn!(process = %name, pid, "process `{name}` {result}");
                }
                monitor.finished().emit(result);
            });
        if let Err(error) = spawned {
            tracing::error!(process = %self.name, %error, "cannot start the thread that waits for the process");
        }
    }

    /// Stops the child's loop gracefully (see [`LoopHandle::stop`]); the
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
        self.signal(signal)
    }

    fn signal(&self, signal: platform::Signal) -> Result<(), Error> {
        let Some(&pid) = self.exit.pid.get() else {
            return Err(Error::NotStarted(self.name.to_string()));
        };
        // Held while signalling: the monitor records the exit under this
        // lock before it reaps the child, so the pid is still the child's.
        let exit = self
            .exit
            .exit
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if exit.is_some() {
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
        self.exit.pid.get().copied()
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
        self.exit
            .exit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The child's exit code, once it has exited (`None` while it runs or if
    /// a signal ended it).
    pub fn exit_code(&self) -> Option<i32> {
        self.exit().and_then(|exit| exit.code())
    }

    /// Waits for the child to end.
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
                if *host != std::thread::current().id() {
                    return Err(Error::Unsupported(
                        "joining a serial process from a thread other than the one that started it",
                    ));
                }
                let status = serial::run_until(result, deadline);
                Ok(status.map(|status| ProcessExit::Exited {
                    code: status.code(),
                    status: Some(status),
                }))
            }
            State::Running => {
                let mut exit = self
                    .exit
                    .exit
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                loop {
                    if let Some(exit) = &*exit {
                        return Ok(Some(exit.clone()));
                    }
                    match deadline {
                        None => {
                            exit = self
                                .exit
                                .ended
                                .wait(exit)
                                .unwrap_or_else(PoisonError::into_inner);
                        }
                        Some(deadline) => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                return Ok(None);
                            }
                            exit = self
                                .exit
                                .ended
                                .wait_timeout(exit, left)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0;
                        }
                    }
                }
            }
        }
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
                registry().processes.pending.remove(&self.name);
            }
            _ => {}
        }
        if matches!(self.state, State::Running) {
            // The loop lived in the child: its name is free again.
            registry().remove_loop(self.handle.peer());
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

/// Marks the process tree as active: from now on every loop of this
/// process can be reached from other processes.
fn activate(registry: &mut Registry) {
    if registry.processes.active || registry.processes.child_of.is_some() {
        return;
    }
    // Before any thread of ours could be initializing them.
    initialize_globals();
    crate::ledger::create();
    registry.processes.active = true;
    let peers: Vec<Arc<LoopPeer>> = registry.loops.values().cloned().collect();
    for peer in peers {
        open_inbox(registry, &peer);
    }
}

/// Initializes the lazy globals the child will use, so that none is half
/// initialized (and locked forever) in the child.
fn initialize_globals() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        crate::interrupt::initialize_globals();
        platform::prepare_lifeline();
        if let Err(error) = crate::transport::initialize_globals() {
            tracing::warn!(%error, "cannot prepare the transport for child processes");
        }
    });
}

/// Gives a loop of this process a transport channel and a reader, and tells
/// running children about it. Called for every loop created once processes
/// exist.
pub(crate) fn open_inbox(registry: &Registry, peer: &Arc<LoopPeer>) {
    if !registry.processes.active || registry.processes.child_of.is_some() {
        return;
    }
    if peer.address().is_some() {
        return;
    }
    let Some(inbox) = peer.local_inbox() else {
        return;
    };
    let result = ipc::bytes_channel().and_then(|(tx, rx)| {
        spawn_reader(peer, inbox, rx, None)?;
        Ok(tx)
    });
    match result {
        Ok(address) => {
            peer.set_address(address.clone());
            peer.set_process(crate::ledger::own());
            distribute_route(registry, peer.name_arc(), &address, crate::ledger::own());
        }
        Err(error) => tracing::error!(
            event_loop = peer.name(),
            %error,
            "cannot open a channel to event loop `{}`: other processes cannot reach it",
            peer.name()
        ),
    }
}

/// Tells every running child where to reach the loop `name`.
fn distribute_route(registry: &Registry, name: &Arc<str>, address: &IpcBytesSender, process: u16) {
    for child in &registry.processes.children {
        let Some(peer) = registry.loops.get(&child.loop_name) else {
            continue;
        };
        let update = RouteUpdate {
            routes: vec![(name.to_string(), address.clone(), process)],
        };
        // Through the child's outbox, in order with what goes there, and
        // without blocking here if the child does not read.
        if let Some(outbox) = peer.outbox() {
            let _ = outbox.push(
                peer,
                OutItem::Routes {
                    control: child.control.clone(),
                    update,
                },
            );
        }
    }
}

/// Applies a route update in a child: loops it can now reach.
pub(crate) fn apply_route_update(update: RouteUpdate) {
    let mut registry = registry();
    for (name, address, process) in update.routes {
        tracing::debug!(route = %name, "route update");
        let name: Arc<str> = name.into();
        if registry
            .loops
            .get(&name)
            .is_some_and(|peer| peer.local_inbox().is_some())
        {
            continue;
        }
        // A fresh peer, even if the name was known: a loop of that name
        // that ended has nothing to pass on to the new one.
        let outbox = Outbox::new(address.clone(), DEFAULT_INBOX_CAPACITY);
        let peer = LoopPeer::new(name.clone(), Route::Remote(outbox));
        peer.set_address(address);
        peer.set_process(process);
        registry.loops.insert(name, peer);
    }
}

/// Anything held until dropped (lock guards).
trait Held {}

impl<T> Held for T {}

struct ChildStart<'a> {
    event_loop: EventLoop,
    peer: Arc<LoopPeer>,
    pending: PendingChannels,
    registry: std::sync::MutexGuard<'a, Registry>,
    /// The other locks held across the fork, released once the child has
    /// rebuilt its state.
    held: Box<dyn Held + 'a>,
    init: Option<InitFn>,
    report: IpcSender<ExitStatus>,
    parent: u32,
}

/// The child's side of the fork: reset, run, report, exit.
fn child_main(start: ChildStart<'_>) -> ! {
    let ChildStart {
        mut event_loop,
        peer,
        pending,
        mut registry,
        held,
        init,
        report,
        parent,
    } = start;
    let _ = parent;
    platform::die_with_parent();
    crate::serial::forget_inherited_guests();
    become_child(&mut registry, &peer, &event_loop);
    drop(registry);
    drop(held);
    let reader = spawn_reader(
        &peer,
        event_loop.inbox_sender(),
        pending.data,
        Some(pending.control),
    );
    let status = match (reader, init) {
        (Err(error), _) => {
            tracing::error!(%error, "process `{}`: cannot start the reader of its inbox", peer.name());
            ExitStatus::InitFailed(format!("cannot start the reader of its inbox: {error}"))
        }
        (Ok(()), Some(init)) => {
            let handle = event_loop.handle();
            match catch_unwind(AssertUnwindSafe(|| init(&handle))) {
                Ok(()) => event_loop.exec(),
                Err(panic) => {
                    let message = crate::event_loop::panic_message(&*panic);
                    tracing::error!(
                        process = peer.name(),
                        "process `{}`: the init function panicked: {message}",
                        peer.name()
                    );
                    ExitStatus::InitFailed(message)
                }
            }
        }
        (Ok(()), None) => event_loop.exec(),
    };
    drop(event_loop);
    flush_outboxes(Instant::now() + EXIT_FLUSH);
    let _ = report.send(status.clone());
    std::process::exit(status.code())
}

/// Rebuilds the inherited process-wide state in a freshly forked child.
fn become_child(registry: &mut Registry, own: &Arc<LoopPeer>, event_loop: &EventLoop) {
    registry.processes.child_of = Some(own.name_arc().clone());
    registry.processes.active = false;
    // The copies of other children's receiving ends close here, so that
    // each is held by its own process only.
    registry.processes.pending.clear();
    registry.processes.children.clear();
    for peer in registry.loops.values() {
        let route = if Arc::ptr_eq(peer, own) {
            Route::Local(event_loop.inbox_sender())
        } else if let Some(address) = peer.address() {
            Route::Remote(Outbox::new(address.clone(), DEFAULT_INBOX_CAPACITY))
        } else {
            Route::Gone
        };
        // Leaked: the old route's queues were shared with threads of the
        // parent, which do not exist here.
        std::mem::forget(peer.set_route(route));
    }
}

/// Gives every outbox of this process until `deadline` to send what it
/// holds.
pub(crate) fn flush_outboxes(deadline: Instant) {
    let peers: Vec<Arc<LoopPeer>> = registry().loops.values().cloned().collect();
    for peer in peers {
        if let Some(outbox) = peer.outbox()
            && !outbox.flush(&peer, deadline)
        {
            tracing::warn!(
                event_loop = peer.name(),
                "timed out sending the last messages to event loop `{}`",
                peer.name()
            );
        }
    }
}
