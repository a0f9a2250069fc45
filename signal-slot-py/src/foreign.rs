//! Objects of programs of their own (Rust programs built on the runtime),
//! reached from Python by name: their slots take what Python emits as a
//! plain MessagePack array, and their signals reach Python slots through
//! the host of the receiving loop (its `deliver_foreign` slot).

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use signal_slot::{Delivery, EncodedArgs, ForeignObject, ForeignSlot, LoopHandle};

use crate::codec;
use crate::host::PyHost;
use crate::native::{HostRef, py_error};

/// The host's slot that takes signals of other programs.
const FOREIGN_SLOT: &str = "deliver_foreign";

/// An object of another program, by name.
#[pyclass(frozen, module = "signal_slot._native")]
pub(crate) struct Foreign {
    object: ForeignObject,
    loop_name: String,
}

impl Foreign {
    pub(crate) fn find(py: Python<'_>, loop_name: &str, id: &str) -> PyResult<Self> {
        let object = py
            .detach(|| {
                LoopHandle::named(loop_name).and_then(|event_loop| event_loop.foreign_object(id))
            })
            .map_err(py_error)?;
        Ok(Foreign {
            object,
            loop_name: loop_name.to_owned(),
        })
    }

    /// The host's slot for signals of other programs.
    fn host_slot(host: &HostRef) -> PyResult<ForeignSlot> {
        ForeignSlot::of(&host.handle, FOREIGN_SLOT).map_err(py_error)
    }
}

#[pymethods]
impl Foreign {
    #[getter]
    fn loop_name(&self) -> &str {
        &self.loop_name
    }

    #[getter]
    fn id(&self) -> &str {
        self.object.id()
    }

    #[getter]
    fn type_name(&self) -> &str {
        self.object.type_name()
    }

    #[getter]
    fn signals(&self) -> Vec<&'static str> {
        self.object.signals().to_vec()
    }

    #[getter]
    fn slots(&self) -> Vec<&'static str> {
        self.object.slots().to_vec()
    }

    /// Its slot `name`, as emitters hold it.
    fn slot(&self, name: &str) -> PyResult<ForeignSlotRef> {
        let slot = self
            .object
            .slot(name)
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        Ok(ForeignSlotRef {
            slot,
            loop_name: self.loop_name.clone(),
        })
    }

    /// Connects its signal `signal` to the loop of `host`, whose Python
    /// side dispatches it to the slots connected to it there.
    fn connect(&self, py: Python<'_>, signal: &str, host: &Bound<'_, HostRef>) -> PyResult<()> {
        let slot = Self::host_slot(host.get())?;
        py.detach(|| self.object.connect(signal, &slot, Delivery::FanOut))
            .map(drop)
            .map_err(py_error)
    }

    /// Ends that connection; says whether there was one.
    fn disconnect(
        &self,
        py: Python<'_>,
        signal: &str,
        host: &Bound<'_, HostRef>,
    ) -> PyResult<bool> {
        let slot = Self::host_slot(host.get())?;
        py.detach(|| self.object.disconnect(signal, &slot))
            .map_err(py_error)
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String, String))> {
        let revive = py.import("signal_slot._native")?.getattr("_foreign")?;
        Ok((
            revive,
            (self.loop_name.clone(), self.object.id().to_owned()),
        ))
    }
}

/// A slot of an object of another program, as emitters hold it (beside
/// the hosts of Python loops).
#[pyclass(frozen, module = "signal_slot._native")]
pub(crate) struct ForeignSlotRef {
    slot: ForeignSlot,
    loop_name: String,
}

#[pymethods]
impl ForeignSlotRef {
    /// The name of the loop it reaches.
    #[getter]
    fn loop_name(&self) -> &str {
        &self.loop_name
    }

    #[getter]
    fn name(&self) -> &str {
        self.slot.name()
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, String, String))> {
        let revive = py.import("signal_slot._native")?.getattr("_foreign_slot")?;
        Ok((
            revive,
            (
                self.loop_name.clone(),
                self.slot.object().id().to_owned(),
                self.slot.name().to_owned(),
            ),
        ))
    }
}

/// A `Foreign` back from its pickle (in a process started by spawn).
#[pyfunction]
pub(crate) fn _foreign(py: Python<'_>, loop_name: &str, id: &str) -> PyResult<Foreign> {
    Foreign::find(py, loop_name, id)
}

/// A `ForeignSlotRef` back from its pickle.
#[pyfunction]
pub(crate) fn _foreign_slot(
    py: Python<'_>,
    loop_name: &str,
    id: &str,
    slot: &str,
) -> PyResult<ForeignSlotRef> {
    Foreign::find(py, loop_name, id)?.slot(slot)
}

/// Emits a batch of signals to receivers of which some are slots of other
/// programs: each Python loop gets them as `send_many` sends them, each
/// foreign slot as plain MessagePack arrays, in one message each.
pub(crate) fn send_mixed<'py>(
    queues: &Bound<'py, PyTuple>,
    emitter: &Bound<'py, PyAny>,
    signal: &Bound<'py, PyAny>,
    batch: &[Bound<'py, PyAny>],
) -> PyResult<Option<Bound<'py, PyList>>> {
    if batch.is_empty() {
        return Ok(None);
    }
    // Encoded for every kind of receiver first: a value one of them cannot
    // take fails the emission before anything is sent.
    let mut python: Option<Vec<Vec<u8>>> = None;
    let mut plain: Option<Vec<EncodedArgs>> = None;
    for queue in queues.iter() {
        if queue.is_instance_of::<HostRef>() && python.is_none() {
            python = Some(
                batch
                    .iter()
                    .map(|args| codec::encode_signal(emitter, signal, args))
                    .collect::<PyResult<_>>()?,
            );
        } else if queue.is_instance_of::<ForeignSlotRef>() && plain.is_none() {
            plain = Some(
                batch
                    .iter()
                    .map(|args| codec::encode_foreign(args).map(EncodedArgs::new))
                    .collect::<PyResult<_>>()?,
            );
        }
    }
    let mut dropped: Option<Bound<'py, PyList>> = None;
    for queue in queues.iter() {
        let posted = if let Ok(host) = queue.cast::<HostRef>() {
            let signals = python.clone().unwrap_or_default();
            let deliver: &signal_slot::Handle<PyHost> = &host.get().handle;
            deliver.deliver().post_many(signals)
        } else if let Ok(slot) = queue.cast::<ForeignSlotRef>() {
            slot.get().slot.post_many(plain.clone().unwrap_or_default())
        } else {
            return Err(PyRuntimeError::new_err(format!(
                "not a receiving loop or slot: {queue}"
            )));
        };
        if let Err(reason) = posted {
            dropped
                .get_or_insert_with(|| PyList::empty(queues.py()))
                .append((&queue, format!("{reason:?}")))?;
        }
    }
    Ok(dropped)
}
