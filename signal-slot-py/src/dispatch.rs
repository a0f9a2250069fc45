//! A signal handed to the slots of its receivers on a Python loop: the
//! original's `_process_signal`, with the receivers the loop found for the
//! signal's emitter (`EventLoop._dispatch`), done here rather than in three
//! Python frames. Anything unusual (no receivers found yet, a loop that is
//! stopping or verbose) goes to the Python side, which does the same and
//! keeps what it found.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

/// Delivers one signal (`key`: its emitter's id and its name); says
/// whether the loop stops, and when its next timer is due if that changed.
pub(crate) fn deliver<'py>(
    py: Python<'py>,
    target: &Bound<'py, PyAny>,
    key: Bound<'py, PyTuple>,
    args: Bound<'py, PyTuple>,
) -> PyResult<(bool, Option<f64>)> {
    let slow = || {
        target
            .call_method1(
                intern!(py, "_deliver"),
                (key.get_item(0)?, key.get_item(1)?, &args),
            )?
            .extract()
    };
    let attrs = target.getattr(intern!(py, "__dict__"))?;
    let attrs = attrs.cast::<PyDict>()?;
    let flag = |name: &Bound<'py, PyString>| -> PyResult<bool> {
        attrs
            .get_item(name)?
            .map_or(Ok(false), |value| value.is_truthy())
    };
    if flag(intern!(py, "should_terminate"))? || flag(intern!(py, "verbose"))? {
        return slow();
    }
    let Some(dispatch) = attrs.get_item(intern!(py, "_dispatch"))? else {
        return slow();
    };
    let Some(found) = dispatch.cast::<PyDict>()?.get_item(&key)? else {
        return slow();
    };
    let found = found.cast_into::<PyTuple>()?;
    let emitter = found.get_item(0)?;
    let receivers = found.get_item(1)?;
    for receiver in receivers.cast::<PyTuple>()?.iter() {
        let receiver = receiver.cast_into::<PyTuple>()?;
        let (object, slot) = (receiver.get_item(0)?, receiver.get_item(1)?);
        attrs.set_item(intern!(py, "curr_emitter"), &emitter)?;
        let called = object
            .getattr(slot.cast::<PyString>()?)
            .and_then(|slot| slot.call1(&args));
        if let Err(error) = called {
            // Logged as the original logs it, and raised again.
            target.call_method1(
                intern!(py, "_slot_raised"),
                (&emitter, &slot, &args, error.value(py)),
            )?;
            return Err(error);
        }
    }
    if flag(intern!(py, "should_terminate"))? || flag(intern!(py, "_timers_changed"))? {
        return target.call_method0(intern!(py, "_after_work"))?.extract();
    }
    Ok((false, None))
}
