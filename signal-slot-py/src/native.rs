//! The classes of `signal_slot._native`: a loop of this process, a loop in
//! a child process, and a reference to a loop's host that emitters hold.

use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use signal_slot::{
    Error, EventLoop, EventLoopProcess, ExitStatus, Handle, LoopHandle, ProcessExit, StartMethod,
};

use crate::host::{HOST_ID, PyHost, kick, take_failure};

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
    let mut candidate = name.to_owned();
    for n in 2.. {
        match make(&candidate) {
            Err(Error::DuplicateLoopName(_)) if n < 1000 => candidate = format!("{name}#{n}"),
            other => return other.map_err(py_error),
        }
    }
    unreachable!("the loop above returns")
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

/// The Rust loop of a Python `EventLoop` that runs in this process.
#[pyclass(unsendable, module = "signal_slot._native")]
pub(crate) struct Loop {
    event_loop: EventLoop,
    host: Handle<PyHost>,
}

#[pymethods]
impl Loop {
    #[new]
    fn new(target: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let event_loop = with_free_name(name, |name| EventLoop::new(name))?;
        let host = event_loop
            .add_with_id(HOST_ID, PyHost::new(target, false)?)
            .map_err(py_error)?;
        Ok(Loop { event_loop, host })
    }

    /// The loop's name in the runtime.
    #[getter]
    fn name(&self) -> String {
        self.event_loop.name().to_owned()
    }

    /// What emitters hold to send to this loop.
    fn host(&self) -> HostRef {
        HostRef {
            handle: self.host.clone(),
        }
    }

    /// Runs the loop until it stops, without the GIL; each slot takes it.
    fn exec(&mut self, py: Python<'_>) -> PyResult<i32> {
        let _ = self.host.wake().invoke(());
        let event_loop = &mut self.event_loop;
        let status = py.detach(move || event_loop.exec());
        exit_code(self.event_loop.name(), status)
    }

    /// Runs what is due now, without waiting.
    fn process_events(&mut self, py: Python<'_>) -> PyResult<()> {
        let _ = self.host.wake().invoke(());
        let event_loop = &mut self.event_loop;
        match py.detach(move || event_loop.process_events()) {
            Some(status) => exit_code(self.event_loop.name(), status).map(drop),
            None => Ok(()),
        }
    }

    /// Signals to this loop that this process dropped.
    fn dropped_signals(&self) -> u64 {
        self.event_loop.dropped_signals()
    }
}

/// The loop of a Python `EventLoopProcess`, and the child it runs in.
#[pyclass(unsendable, module = "signal_slot._native")]
pub(crate) struct Process {
    process: Option<EventLoopProcess>,
    handle: LoopHandle,
    host: Handle<PyHost>,
}

#[pymethods]
impl Process {
    #[new]
    fn new(target: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let process = with_free_name(name, |name| EventLoopProcess::new(name))?;
        let handle = process.event_loop().clone();
        let host = handle
            .add_with_id(HOST_ID, PyHost::new(target, true)?)
            .map_err(py_error)?;
        Ok(Process {
            process: Some(process),
            handle,
            host,
        })
    }

    /// The loop's name in the runtime.
    #[getter]
    fn name(&self) -> String {
        self.handle.name().to_owned()
    }

    /// What emitters hold to send to this loop.
    fn host(&self) -> HostRef {
        HostRef {
            handle: self.host.clone(),
        }
    }

    /// Starts the child by fork: it runs on from this point, in Python,
    /// with the GIL this thread holds.
    fn start_fork(&mut self, py: Python<'_>) -> PyResult<()> {
        let process = self
            .take()?
            .start_method(StartMethod::Fork)
            .init(|event_loop| {
                crate::fork::after_child();
                kick(event_loop);
            });
        let process = self.process.insert(process);
        crate::fork::before(py);
        let started = process.start();
        crate::fork::after_parent(py);
        started.map_err(py_error)
    }

    /// Starts the child by spawn: `program` with `args`, a Python that
    /// prepares itself as `multiprocessing` does and calls `child_main`.
    fn start_spawn(&mut self, py: Python<'_>, program: String, args: Vec<String>) -> PyResult<()> {
        let process = self
            .take()?
            .spawn_program(program, args)
            .init_with(crate::python_child, ());
        let process = self.process.insert(process);
        py.detach(move || process.start()).map_err(py_error)
    }

    /// Waits for the child to end, at most `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn join(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let Some(process) = self.process.as_mut() else {
            return Ok(());
        };
        if process.pid().is_none() {
            return Err(PyRuntimeError::new_err("can only join a started process"));
        }
        let joined = match timeout {
            None => py.detach(move || process.join()).map(drop),
            Some(secs) => {
                let timeout = Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX);
                py.detach(move || process.join_timeout(timeout)).map(drop)
            }
        };
        joined.map_err(py_error)
    }

    fn is_alive(&self) -> bool {
        self.process
            .as_ref()
            .is_some_and(EventLoopProcess::is_alive)
    }

    /// The exit code once ended, as `multiprocessing` gives it: negative
    /// for the signal that ended it.
    #[getter]
    fn exitcode(&self) -> Option<i32> {
        match self.process.as_ref()?.exit()? {
            ProcessExit::Signaled { signal, .. } => Some(-signal),
            exit => exit.code(),
        }
    }

    #[getter]
    fn pid(&self) -> Option<u32> {
        self.process.as_ref()?.pid()
    }

    /// SIGTERM.
    fn terminate(&self) -> PyResult<()> {
        self.started()?.terminate().map_err(py_error)
    }

    /// SIGKILL.
    fn kill(&self) -> PyResult<()> {
        self.started()?.kill().map_err(py_error)
    }

    /// Signals to this loop that this process dropped.
    fn dropped_signals(&self) -> u64 {
        self.handle.dropped_signals()
    }
}

impl Process {
    fn take(&mut self) -> PyResult<EventLoopProcess> {
        self.process
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("the process was closed"))
    }

    fn started(&self) -> PyResult<&EventLoopProcess> {
        self.process
            .as_ref()
            .filter(|process| process.pid().is_some())
            .ok_or_else(|| PyRuntimeError::new_err("the process was not started"))
    }
}

/// A loop's host, as emitters hold it: `put` sends it a batch of signals.
/// Pickles as the loop and object it names, so it reaches the loop from a
/// process started by spawn too.
#[pyclass(frozen, module = "signal_slot._native")]
pub(crate) struct HostRef {
    handle: Handle<PyHost>,
}

#[pymethods]
impl HostRef {
    /// Sends a pickled batch; false if the loop has ended (a full inbox
    /// drops it too, counted by the receiving loop's `dropped_signals`).
    fn put(&self, batch: &[u8]) -> bool {
        self.handle.deliver().invoke(batch.to_vec()).is_ok()
    }

    /// The name of the loop it reaches.
    #[getter]
    fn loop_name(&self) -> Option<String> {
        self.handle.loop_name().map(|name| name.to_string())
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

/// A `HostRef` back from its pickle.
#[pyfunction]
pub(crate) fn _host_ref(bytes: &[u8]) -> PyResult<HostRef> {
    let handle = rmp_serde::from_slice(bytes).map_err(|error| {
        PyRuntimeError::new_err(format!("cannot unpickle a loop's host: {error}"))
    })?;
    Ok(HostRef { handle })
}
