//! The classes of `signal_slot._native`: a loop of this process, a loop in
//! a child process, and a reference to a loop's host that emitters hold.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use signal_slot::{
    DropReason, Error, EventLoop, EventLoopProcess, ExitStatus, Handle, LoopHandle, ProcessExit,
    StartMethod,
};

use crate::codec;
use crate::host::{HOST_ID, PyHost, Travel, kick, take_failure};

/// A Python exception for an error of the runtime.
pub(crate) fn py_error(error: Error) -> PyErr {
    match error {
        Error::DuplicateLoopName(_) | Error::InvalidName { .. } => {
            PyValueError::new_err(error.to_string())
        }
        _ => PyRuntimeError::new_err(error.to_string()),
    }
}

/// `make(name)`, or with `name#2`, `name#3`.. while the name is taken (a
/// loop of an earlier test that the garbage collector has not freed yet).
fn with_free_name<T>(name: &str, make: impl Fn(&str) -> Result<T, Error>) -> PyResult<T> {
    let mut made = make(name);
    let mut n = 1;
    while let Err(Error::DuplicateLoopName(_)) = made
        && n < 1000
    {
        n += 1;
        made = make(&format!("{name}#{n}"));
    }
    made.map_err(py_error)
}

/// How an `exec` ended, for Python: 0 normally, 1 interrupted (Ctrl-C);
/// a slot that raised raises again.
fn exit_code(name: &str, status: ExitStatus) -> PyResult<i32> {
    match status {
        ExitStatus::Normal => Ok(0),
        ExitStatus::Interrupted => Ok(1),
        status => Err(take_failure(name)
            .unwrap_or_else(|| PyRuntimeError::new_err(format!("loop `{name}`: {status}")))),
    }
}

/// The Rust loop of a Python `EventLoop` that runs in this process (on any
/// thread of it: the one that calls `exec`).
#[pyclass(frozen, module = "signal_slot._native")]
pub(crate) struct Loop {
    /// `None` once carried to a child process (and, in a child forked with
    /// it, until it runs there).
    event_loop: Mutex<Option<EventLoop>>,
    handle: LoopHandle,
    host: Handle<PyHost>,
    /// Set once it ran (or was carried): it cannot be carried then.
    ran: AtomicBool,
    /// The process that created it.
    pid: u32,
    /// The process it was carried to, by name.
    carried_to: Mutex<Option<String>>,
}

#[pymethods]
impl Loop {
    #[new]
    fn new(target: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let event_loop = with_free_name(name, |name| EventLoop::new(name))?;
        let handle = event_loop.handle();
        let host = handle
            .add_with_id(HOST_ID, PyHost::new(target, handle.name(), false)?)
            .map_err(py_error)?;
        Ok(Loop::of(event_loop, host))
    }

    /// In a process started by spawn, the loop `name` carried to it, for
    /// `target`, its Python loop (unpickled with the process's objects).
    #[staticmethod]
    fn carried(target: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let event_loop = EventLoop::take_carried(name).ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "event loop `{name}` was carried to this process, but did not arrive"
            ))
        })?;
        let host = event_loop.object::<PyHost>(HOST_ID).map_err(py_error)?;
        crate::host::attach(target, name)?;
        Ok(Loop::of(event_loop, host))
    }

    /// True if the loop can go to a child process that starts now: it is
    /// this process's, and has not run.
    fn can_carry(&self) -> bool {
        self.pid == std::process::id()
            && !self.ran.load(Ordering::Relaxed)
            && self
                .event_loop
                .try_lock()
                .is_ok_and(|event_loop| event_loop.is_some())
    }

    /// Carries the loop to the child of `process` when it starts (see
    /// `EventLoopProcess::carry`): it runs there, and only there.
    fn carry_to(&self, process: &Process) -> PyResult<()> {
        let event_loop = self.lock()?.take().ok_or_else(|| self.elsewhere())?;
        self.ran.store(true, Ordering::Relaxed);
        let mut slot = process.lock();
        let process = slot
            .as_mut()
            .ok_or_else(|| PyRuntimeError::new_err("the process cannot be started again"))?;
        let to = process.name().to_owned();
        process.carry(event_loop).map_err(py_error)?;
        crate::host::set_travel(self.handle.name(), Some(Travel::Carried));
        *self
            .carried_to
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(to);
        Ok(())
    }

    /// The loop's name in the runtime.
    #[getter]
    fn name(&self) -> String {
        self.handle.name().to_owned()
    }

    /// What emitters hold to send to this loop.
    fn host(&self) -> HostRef {
        HostRef::to(&self.host)
    }

    /// Runs the loop until it stops, without the GIL; each slot takes it.
    fn exec(&self, py: Python<'_>) -> PyResult<i32> {
        let status = py.detach(|| {
            let mut event_loop = self.lock()?;
            let event_loop = self.here(&mut event_loop)?;
            self.ran.store(true, Ordering::Relaxed);
            let _ = self.host.wake().invoke(());
            Ok::<_, PyErr>(event_loop.exec())
        })?;
        exit_code(self.handle.name(), status)
    }

    /// Runs what is due now, without waiting; false if the loop runs
    /// already (this is a slot of it, or another thread runs it), which
    /// leaves its signals to that run.
    fn process_events(&self, py: Python<'_>) -> PyResult<bool> {
        let ran = py.detach(|| {
            let Ok(mut event_loop) = self.event_loop.try_lock() else {
                return Ok(None);
            };
            let event_loop = self.here(&mut event_loop)?;
            self.ran.store(true, Ordering::Relaxed);
            let _ = self.host.wake().invoke(());
            Ok::<_, PyErr>(Some(event_loop.process_events()))
        })?;
        match ran {
            None => Ok(false),
            Some(Some(status)) => exit_code(self.handle.name(), status).map(|_| true),
            Some(None) => Ok(true),
        }
    }

    /// Signals to this loop that this process dropped.
    fn dropped_signals(&self) -> u64 {
        self.handle.dropped_signals()
    }
}

impl Loop {
    fn of(event_loop: EventLoop, host: Handle<PyHost>) -> Self {
        Loop {
            handle: event_loop.handle(),
            event_loop: Mutex::new(Some(event_loop)),
            host,
            ran: AtomicBool::new(false),
            pid: std::process::id(),
            carried_to: Mutex::new(None),
        }
    }

    fn lock(&self) -> PyResult<MutexGuard<'_, Option<EventLoop>>> {
        self.event_loop.try_lock().map_err(|_| {
            PyRuntimeError::new_err(format!("loop `{}` is running already", self.handle.name()))
        })
    }

    /// The loop, to run in this process: the one it made, or one carried
    /// here by fork with the process that carried it.
    fn here<'a>(&self, slot: &'a mut Option<EventLoop>) -> PyResult<&'a mut EventLoop> {
        if slot.is_none() {
            *slot = EventLoop::take_carried(self.handle.name());
        } else if self.pid != std::process::id() {
            return Err(self.elsewhere());
        }
        slot.as_mut().ok_or_else(|| self.elsewhere())
    }

    /// Why the loop does not run in this process.
    fn elsewhere(&self) -> PyErr {
        let name = self.handle.name();
        let carried_to = self
            .carried_to
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        PyRuntimeError::new_err(match carried_to {
            Some(process) => format!(
                "event loop `{name}` runs in another process: it went with process `{process}`, \
                 whose objects referred to it when it started (a loop that has not run goes with \
                 the child whose objects refer to it)"
            ),
            None => format!(
                "event loop `{name}` runs in another process: the one that created it, or the \
                 child it went with"
            ),
        })
    }
}

/// The loop of a Python `EventLoopProcess`, and the child it runs in.
#[pyclass(frozen, module = "signal_slot._native")]
pub(crate) struct Process {
    process: Mutex<Option<EventLoopProcess>>,
    handle: LoopHandle,
    /// None for a process that runs a program of its own.
    host: Option<Handle<PyHost>>,
}

#[pymethods]
impl Process {
    #[new]
    fn new(target: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let process = with_free_name(name, |name| EventLoopProcess::new(name))?;
        let handle = process.event_loop().clone();
        let host = handle
            .add_with_id(HOST_ID, PyHost::new(target, handle.name(), true)?)
            .map_err(py_error)?;
        Ok(Process {
            process: Mutex::new(Some(process)),
            handle,
            host: Some(host),
        })
    }

    /// A process that runs `program` with `args` (a program built on the
    /// runtime, which calls `init_process` first), its loop `name`: the
    /// init function registered there as `init` runs first, with
    /// `init_args` (a tuple) as MessagePack.
    #[staticmethod]
    #[pyo3(signature = (name, program, args, init=None, init_args=None))]
    fn program(
        name: &str,
        program: String,
        args: Vec<String>,
        init: Option<String>,
        init_args: Option<&Bound<'_, PyTuple>>,
    ) -> PyResult<Self> {
        let mut process =
            with_free_name(name, |name| EventLoopProcess::new(name))?.spawn_program(program, args);
        if let Some(init) = init {
            let args = match init_args {
                None => vec![0xc0],
                Some(args) => codec::encode_init_args(args)?,
            };
            process = process.init_named(init, args);
        }
        let handle = process.event_loop().clone();
        Ok(Process {
            process: Mutex::new(Some(process)),
            handle,
            host: None,
        })
    }

    /// The loop's name in the runtime.
    #[getter]
    fn name(&self) -> String {
        self.handle.name().to_owned()
    }

    /// What emitters hold to send to this loop.
    fn host(&self) -> PyResult<HostRef> {
        self.host
            .as_ref()
            .map(HostRef::to)
            .ok_or_else(|| PyRuntimeError::new_err("this process runs a program of its own"))
    }

    /// Starts a process made by `program`.
    fn start_program(&self, py: Python<'_>) -> PyResult<()> {
        let mut slot = self.lock();
        let process = slot
            .as_mut()
            .filter(|process| process.pid().is_none())
            .ok_or_else(|| PyRuntimeError::new_err("the process cannot be started again"))?;
        py.detach(|| process.start()).map_err(py_error)
    }

    /// Stops its loop gracefully.
    fn stop(&self) {
        self.handle.stop();
    }

    /// The object `id` of its loop, by name (see `Foreign`).
    fn object(&self, py: Python<'_>, id: &str) -> PyResult<crate::foreign::Foreign> {
        crate::foreign::Foreign::find(py, self.handle.name(), id)
    }

    /// Starts the child by fork: it runs on from this point, in Python,
    /// with the GIL this thread holds.
    fn start_fork(&self, py: Python<'_>) -> PyResult<()> {
        let mut slot = self.lock();
        let process = take(&mut slot)?
            .start_method(StartMethod::Fork)
            .init(|event_loop| {
                crate::sys::fork::after_child();
                kick(event_loop);
            });
        let process = slot.insert(process);
        crate::sys::fork::before(py);
        let started = process.start();
        crate::sys::fork::after_parent(py);
        started.map_err(py_error)
    }

    /// Starts the child by spawn: `program` with `args`, a Python that
    /// prepares itself as `multiprocessing` does and calls `child_main`;
    /// `pickled` is its Python loop, pickled already (the loops it
    /// carries were found on the way).
    fn start_spawn(
        &self,
        py: Python<'_>,
        program: String,
        args: Vec<String>,
        pickled: Vec<u8>,
    ) -> PyResult<()> {
        let mut slot = self.lock();
        let process = take(&mut slot)?
            .spawn_program(program, args)
            .init_with(crate::python_child, ());
        let process = slot.insert(process);
        let name = self.handle.name().to_owned();
        crate::host::set_travel(&name, Some(Travel::Pickled(pickled)));
        let started = py.detach(|| process.start());
        crate::host::set_travel(&name, None);
        started.map_err(py_error)
    }

    /// Waits for the child to end, at most `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn join(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let deadline = timeout.map(|secs| {
            Instant::now() + Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX / 4)
        });
        py.detach(|| {
            loop {
                let slice = deadline.map_or(JOIN_SLICE, |deadline| {
                    deadline
                        .saturating_duration_since(Instant::now())
                        .min(JOIN_SLICE)
                });
                // Waits in slices, so that others can ask meanwhile.
                let mut slot = self.lock();
                let process = self.started(&slot)?;
                if process.exit().is_some() {
                    return Ok(());
                }
                let Some(process) = slot.as_mut() else {
                    return Ok(());
                };
                if process.join_timeout(slice).map_err(py_error)?.is_some()
                    || deadline.is_some_and(|deadline| Instant::now() >= deadline)
                {
                    return Ok(());
                }
            }
        })
    }

    fn is_alive(&self) -> bool {
        self.lock().as_ref().is_some_and(EventLoopProcess::is_alive)
    }

    /// The exit code once ended, as `multiprocessing` gives it: negative
    /// for the signal that ended it, 1 for an exception (a slot or the init
    /// function raised).
    #[getter]
    fn exitcode(&self) -> Option<i32> {
        match self.lock().as_ref()?.exit()? {
            ProcessExit::Signaled { signal, .. } => Some(-signal),
            ProcessExit::Exited {
                status: Some(ExitStatus::SlotFailed(_) | ExitStatus::InitFailed(_)),
                ..
            } => Some(1),
            exit => exit.code(),
        }
    }

    #[getter]
    fn pid(&self) -> Option<u32> {
        self.lock().as_ref()?.pid()
    }

    /// SIGTERM.
    fn terminate(&self) -> PyResult<()> {
        let slot = self.lock();
        self.started(&slot)?.terminate().map_err(py_error)
    }

    /// SIGKILL.
    fn kill(&self) -> PyResult<()> {
        let slot = self.lock();
        self.started(&slot)?.kill().map_err(py_error)
    }

    /// Signals to this loop that this process dropped.
    fn dropped_signals(&self) -> u64 {
        self.handle.dropped_signals()
    }

    /// Runs nothing here: the loop of a process runs in its child.
    fn process_events(&self) -> bool {
        false
    }
}

/// How long `join` holds the process at a time.
const JOIN_SLICE: Duration = Duration::from_millis(50);

impl Process {
    fn lock(&self) -> MutexGuard<'_, Option<EventLoopProcess>> {
        self.process.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn started<'a>(&self, slot: &'a Option<EventLoopProcess>) -> PyResult<&'a EventLoopProcess> {
        slot.as_ref()
            .filter(|process| process.pid().is_some())
            .ok_or_else(|| {
                PyRuntimeError::new_err(format!("process `{}` was not started", self.handle.name()))
            })
    }
}

fn take(slot: &mut Option<EventLoopProcess>) -> PyResult<EventLoopProcess> {
    slot.take()
        .ok_or_else(|| PyRuntimeError::new_err("the process cannot be started again"))
}

/// A loop's host, as emitters hold it: `put` sends it a batch of signals.
/// Pickles as the loop and object it names, so it reaches the loop from a
/// process started by spawn too.
#[pyclass(frozen, module = "signal_slot._native")]
pub(crate) struct HostRef {
    pub(crate) handle: Handle<PyHost>,
}

impl HostRef {
    fn to(host: &Handle<PyHost>) -> Self {
        HostRef {
            handle: host.clone(),
        }
    }
}

#[pymethods]
impl HostRef {
    /// The name of the loop it reaches.
    #[getter]
    fn loop_name(&self) -> Option<String> {
        self.handle.loop_name().map(|name| name.to_string())
    }

    /// How many signals wait for the loop (in its queue, and in the rings
    /// from other processes), as `qsize()` of the original's queue says;
    /// 0 for a loop that ended or cannot be asked. For a loop of another
    /// process, that process is asked.
    fn qsize(&self, py: Python<'_>) -> u64 {
        let Some(event_loop) = self.handle.event_loop() else {
            return 0;
        };
        py.detach(|| event_loop.stats())
            .map_or(0, |stats| stats.queued + stats.queued_from_processes)
    }

    /// True if nothing waits for the loop.
    fn empty(&self, py: Python<'_>) -> bool {
        self.qsize(py) == 0
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let bytes = rmp_serde::to_vec(&self.handle).map_err(|error| {
            PyRuntimeError::new_err(format!("cannot pickle a loop's host: {error}"))
        })?;
        let revive = py.import("signal_slot._native")?.getattr("_host_ref")?;
        Ok((revive, (PyBytes::new(py, &bytes),)))
    }
}

/// Emits one signal to the loops of `queues` (the hosts of the receiving
/// loops): encoded once, posted to each as an emission is. The hosts that
/// dropped it (counted for their loop), each with why (`DropReason`'s
/// name: `Full`, `Gone`, `AfterStop`..), if any.
#[pyfunction]
pub(crate) fn send<'py>(
    queues: &Bound<'py, PyTuple>,
    emitter: &Bound<'py, PyAny>,
    signal: &Bound<'py, PyAny>,
    args: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyList>>> {
    if !queues.iter().all(|queue| queue.is_instance_of::<HostRef>()) {
        return crate::foreign::send_mixed(queues, emitter, signal, std::slice::from_ref(args));
    }
    let signal = codec::encode_signal(emitter, signal, args)?;
    post_each(queues, signal, |host, signal| host.deliver().post(signal))
}

/// Emits a batch of signals (one per item of `list_of_args`) to the loops
/// of `queues`, in one message to each, whole or not at all.
#[pyfunction]
pub(crate) fn send_many<'py>(
    queues: &Bound<'py, PyTuple>,
    emitter: &Bound<'py, PyAny>,
    signal: &Bound<'py, PyAny>,
    list_of_args: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyList>>> {
    if !queues.iter().all(|queue| queue.is_instance_of::<HostRef>()) {
        let batch = list_of_args.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        return crate::foreign::send_mixed(queues, emitter, signal, &batch);
    }
    let signals = list_of_args
        .try_iter()?
        .map(|args| codec::encode_signal(emitter, signal, &args?))
        .collect::<PyResult<Vec<_>>>()?;
    if signals.is_empty() {
        return Ok(None);
    }
    post_each(queues, signals, |host, signals| {
        host.deliver().post_many(signals)
    })
}

/// Posts `message` to each host, moving it to the last one.
fn post_each<'py, M: Clone>(
    queues: &Bound<'py, PyTuple>,
    message: M,
    post: impl Fn(&Handle<PyHost>, M) -> Result<(), DropReason>,
) -> PyResult<Option<Bound<'py, PyList>>> {
    let mut message = Some(message);
    let mut dropped: Option<Bound<'py, PyList>> = None;
    let last = queues.len().saturating_sub(1);
    for (position, queue) in queues.iter().enumerate() {
        let host = queue.cast::<HostRef>()?;
        let this = if position == last {
            message.take()
        } else {
            message.clone()
        };
        let Some(this) = this else { break };
        if let Err(reason) = post(&host.get().handle, this) {
            dropped
                .get_or_insert_with(|| PyList::empty(queues.py()))
                .append((host, format!("{reason:?}")))?;
        }
    }
    Ok(dropped)
}

/// A `HostRef` back from its pickle.
#[pyfunction]
pub(crate) fn _host_ref(bytes: &[u8]) -> PyResult<HostRef> {
    let handle = rmp_serde::from_slice(bytes).map_err(|error| {
        PyRuntimeError::new_err(format!("cannot unpickle a loop's host: {error}"))
    })?;
    Ok(HostRef { handle })
}
