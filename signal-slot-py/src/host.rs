//! The one Rust object on each loop that Python code uses: it hands the
//! loop's work (a batch of signals, a due timer) to the Python `EventLoop`
//! it serves, and wakes that loop when its Python timers are due.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use signal_slot::{Context, EncodedArgs, LoopHandle, Timer, event_loop_object};

/// The id of the host on every loop made from Python.
pub(crate) const HOST_ID: &str = "__python__";

/// The longest a loop sleeps before it asks its Python timers again.
const LONGEST_WAIT: f64 = 86_400.0;

/// Serves one Python `EventLoop` on the Rust loop of the same name.
#[event_loop_object]
#[derive(Serialize, Deserialize)]
pub(crate) struct PyHost {
    target: Target,
    /// The loop of an `EventLoopProcess` (it runs in a child).
    process: bool,
    /// Set until the child ran the Python side of its start (the init
    /// function, then the loop's `start` signal), before anything else.
    starting: bool,
    #[serde(skip)]
    wake: Option<Timer>,
    /// When the wake timer is due, while it runs.
    #[serde(skip)]
    armed: Option<Instant>,
    #[serde(skip)]
    keys: crate::codec::Keys,
}

#[event_loop_object]
impl PyHost {
    /// A signal for the loop's Python objects: its emitter's id, its name
    /// and its arguments, as `codec` encodes them.
    #[slot]
    fn deliver(&mut self, ctx: &mut Context<Self>, signal: Vec<u8>) {
        let mut keys = std::mem::take(&mut self.keys);
        self.run(ctx, |py, target| {
            let (key, args) = crate::codec::decode_signal(py, &mut keys, &signal)?;
            crate::dispatch::deliver(py, target, key, args)
        });
        self.keys = keys;
    }

    /// A signal of an object of another program (a Rust object): its
    /// arguments as that program encodes them, dispatched as a signal of
    /// the emitter `loop/id` (see `foreign.py`).
    ///
    /// Arguments Python cannot read (an extension type it does not know) are not
    /// delivered: logged, and the loop goes on, as a Rust slot does with
    /// arguments it cannot decode.
    #[slot]
    fn deliver_foreign(&mut self, ctx: &mut Context<Self>, args: EncodedArgs) {
        let (emitter, signal) = match ctx.sender() {
            Some(sender) => (
                format!("{}/{}", sender.loop_name().unwrap_or_default(), sender.id()),
                sender.signal().to_owned(),
            ),
            None => (String::new(), String::new()),
        };
        self.run(ctx, |py, target| {
            let decoded = match crate::codec::decode_foreign(py, args.as_bytes()) {
                Ok(decoded) if !signal.is_empty() => decoded,
                outcome => {
                    let why = match outcome {
                        Err(error) => error.to_string(),
                        Ok(_) => "a call with no emitter".to_owned(),
                    };
                    target.call_method1(
                        intern!(py, "_foreign_undelivered"),
                        (&emitter, &signal, why),
                    )?;
                    return target.call_method0(intern!(py, "_after_work"))?.extract();
                }
            };
            let key = PyTuple::new(py, [emitter.into_pyobject(py)?, signal.into_pyobject(py)?])?;
            crate::dispatch::deliver(py, target, key, decoded)
        });
    }

    /// Fires the Python timers that are due (and, first of all, starts the
    /// Python side of the loop).
    #[slot]
    fn wake(&mut self, ctx: &mut Context<Self>) {
        self.armed = None;
        self.run(ctx, |py, target| {
            target.call_method0(intern!(py, "_on_wake"))?.extract()
        });
    }
}

impl PyHost {
    /// A host for `target`, the Python loop (held weakly: the Python side
    /// owns its loop); `process` for the loop of an `EventLoopProcess`.
    pub(crate) fn new(target: &Bound<'_, PyAny>, name: &str, process: bool) -> PyResult<Self> {
        Ok(PyHost {
            target: Target::Weak(weak_reference(target)?, name.to_owned()),
            process,
            starting: process,
            wake: None,
            armed: None,
            keys: crate::codec::Keys::default(),
        })
    }

    /// Runs `call` on the Python loop; what it returns says whether the
    /// loop stops and when its next timer is due.
    fn run(
        &mut self,
        ctx: &mut Context<Self>,
        call: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyAny>) -> PyResult<(bool, Option<f64>)>,
    ) {
        let outcome = Python::attach(|py| -> PyResult<Option<(bool, Option<f64>)>> {
            let Some(target) = self.target.resolve(py, ctx.event_loop().name())? else {
                return Ok(None);
            };
            if self.starting {
                self.starting = false;
                target.call_method0(intern!(py, "_child_start"))?;
            }
            Ok(Some(call(py, &target)?))
        });
        match outcome {
            // The Python loop is gone: there is nobody to deliver to.
            Ok(None) => {}
            Ok(Some((true, _))) => ctx.stop_loop(),
            Ok(Some((false, next))) => self.arm(ctx, next),
            Err(error) => self.fail(ctx, error),
        }
    }

    /// Makes sure the loop wakes within `next` seconds.
    fn arm(&mut self, ctx: &mut Context<Self>, next: Option<f64>) {
        let Some(delay) = next
            .map(|secs| secs.clamp(0.0, LONGEST_WAIT))
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        else {
            return;
        };
        let due = Instant::now() + delay;
        if self.armed.is_some_and(|armed| armed <= due) {
            // It wakes earlier anyway, and asks again then.
            return;
        }
        if self.wake.is_none() {
            let Ok(timer) = Timer::single_shot(ctx.event_loop(), delay) else {
                return;
            };
            if timer.timeout().connect(ctx.handle().wake()).is_err() {
                return;
            }
            self.wake = Some(timer);
        }
        if let Some(timer) = &self.wake {
            // A running timer restarts with its new interval.
            timer.set_interval(delay);
            if self.armed.is_none() {
                timer.start();
            }
            self.armed = Some(due);
        }
    }

    /// A slot raised: the loop ends as with a failing slot, and the
    /// exception waits for `exec` to raise it again (in a child, its
    /// traceback is printed, as `multiprocessing` prints a target's).
    fn fail(&self, ctx: &mut Context<Self>, error: PyErr) -> ! {
        let message = Python::attach(|py| {
            if self.process {
                error.display(py);
                flush_std_streams(py);
            }
            error.to_string()
        });
        failures().push((ctx.event_loop().name().to_owned(), error));
        std::panic::resume_unwind(Box::new(format!("a Python slot raised {message}")))
    }
}

impl Drop for PyHost {
    /// A child ends without Python's own shutdown: what its slots printed
    /// leaves now.
    fn drop(&mut self) {
        Python::attach(flush_std_streams);
    }
}

fn flush_std_streams(py: Python<'_>) {
    for stream in ["stdout", "stderr"] {
        if let Ok(stream) = py.import("sys").and_then(|sys| sys.getattr(stream)) {
            let _ = stream.call_method0("flush");
        }
    }
}

/// The exceptions raised by slots, with the loop they ended, until `exec`
/// takes them.
fn failures() -> std::sync::MutexGuard<'static, Vec<(String, PyErr)>> {
    static FAILURES: Mutex<Vec<(String, PyErr)>> = Mutex::new(Vec::new());
    FAILURES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The exception a slot of loop `name` raised, if one did.
pub(crate) fn take_failure(name: &str) -> Option<PyErr> {
    let mut failures = failures();
    let at = failures
        .iter()
        .position(|(loop_name, _)| loop_name == name)?;
    Some(failures.remove(at).1)
}

/// Wakes the host of `event_loop`: its first work in a child.
pub(crate) fn kick(event_loop: &LoopHandle) {
    if let Ok(host) = event_loop.object::<PyHost>(HOST_ID) {
        let _ = host.wake().invoke(());
    }
}

/// The Python loop a host serves.
enum Target {
    /// `weakref.ref` to it, and the name of its loop.
    Weak(Py<PyAny>, String),
    /// Its pickle, as it arrives in a process started by spawn; unpickled
    /// when first used, once the process knows every loop.
    Pickled(Vec<u8>),
    /// A loop carried to a process started by spawn: its Python loop
    /// arrives with the process's own (in its objects' state) and attaches
    /// itself to the host (`attach`).
    Attached,
}

/// How a host's Python loop travels with a process started now by spawn.
pub(crate) enum Travel {
    /// Pickled already (with the loops it carries found on the way).
    Pickled(Vec<u8>),
    /// Carried: it arrives in the pickle of the process's own loop.
    Carried,
}

/// The travels of the loops of a start under way, by loop name.
static TRAVELS: Mutex<Vec<(String, Travel)>> = Mutex::new(Vec::new());

/// The Python loops of carried loops, by loop name, that their hosts take
/// when they first run.
static ATTACHED: Mutex<Vec<(String, Py<PyAny>)>> = Mutex::new(Vec::new());

/// Says how the Python loop of the loop `name` travels (`None`: pickled
/// when its loop is packed, as by default).
pub(crate) fn set_travel(name: &str, travel: Option<Travel>) {
    let mut travels = TRAVELS.lock().unwrap_or_else(PoisonError::into_inner);
    travels.retain(|(loop_name, _)| loop_name != name);
    if let Some(travel) = travel {
        travels.push((name.to_owned(), travel));
    }
}

/// The Python loop `target` is the one of the carried loop `name`: its host
/// serves it (held weakly, as any host holds its loop).
pub(crate) fn attach(target: &Bound<'_, PyAny>, name: &str) -> PyResult<()> {
    let weak = weak_reference(target)?;
    let mut attached = ATTACHED.lock().unwrap_or_else(PoisonError::into_inner);
    attached.retain(|(loop_name, _)| loop_name != name);
    attached.push((name.to_owned(), weak));
    Ok(())
}

/// The Python loops of this process that only their host holds (those of a
/// process started by spawn).
static KEPT: Mutex<Vec<Py<PyAny>>> = Mutex::new(Vec::new());

impl Target {
    /// The Python loop of the loop `name`, if it still exists.
    fn resolve<'py>(&mut self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self {
            Target::Weak(weak, _) => {
                let target = weak.bind(py).call0()?;
                Ok((!target.is_none()).then_some(target))
            }
            Target::Pickled(bytes) => {
                let target = py
                    .import(intern!(py, "signal_slot.signal_slot"))?
                    .call_method1(intern!(py, "_unpickle_loop"), (PyBytes::new(py, bytes),))?;
                KEPT.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(target.clone().unbind());
                *self = Target::Weak(weak_reference(&target)?, name.to_owned());
                Ok(Some(target))
            }
            Target::Attached => {
                let mut attached = ATTACHED.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(at) = attached.iter().position(|(loop_name, _)| loop_name == name) else {
                    return Ok(None);
                };
                let (_, weak) = attached.swap_remove(at);
                drop(attached);
                *self = Target::Weak(weak, name.to_owned());
                self.resolve(py, name)
            }
        }
    }
}

fn weak_reference(target: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = target.py();
    Ok(py
        .import(intern!(py, "weakref"))?
        .call_method1(intern!(py, "ref"), (target,))?
        .unbind())
}

impl Serialize for Target {
    /// The Python loop, pickled: its objects, their connections, its
    /// timers (for a process started by spawn).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pickled = Python::attach(|py| -> PyResult<Vec<u8>> {
            let target = match self {
                Target::Weak(weak, name) => {
                    let travels = TRAVELS.lock().unwrap_or_else(PoisonError::into_inner);
                    match travels.iter().find(|(loop_name, _)| loop_name == name) {
                        Some((_, Travel::Pickled(bytes))) => return Ok(bytes.clone()),
                        // No bytes: the loop's Python side arrives in
                        // another loop's pickle.
                        Some((_, Travel::Carried)) => return Ok(Vec::new()),
                        None => {}
                    }
                    drop(travels);
                    weak.bind(py).call0()?
                }
                Target::Pickled(bytes) => return Ok(bytes.clone()),
                Target::Attached => return Ok(Vec::new()),
            };
            if target.is_none() {
                return Err(PyRuntimeError::new_err("the Python event loop is gone"));
            }
            py.import(intern!(py, "signal_slot.signal_slot"))?
                .call_method1(intern!(py, "_pickle_loop"), (target,))?
                .extract()
        })
        .map_err(|error| {
            serde::ser::Error::custom(format!("cannot pickle the Python event loop: {error}"))
        })?;
        serde_bytes::serialize(&pickled, serializer)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde_bytes::deserialize(deserializer)?;
        // A pickle is never empty.
        Ok(if bytes.is_empty() {
            Target::Attached
        } else {
            Target::Pickled(bytes)
        })
    }
}
