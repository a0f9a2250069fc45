//! `signal_slot._native`: the runtime under the Python package
//! `signal_slot`, whose API is the one of `signal-slot-mp`.
//!
//! Every Python `EventLoop` is a loop of the runtime with one object on it,
//! a host (`host::PyHost`), which runs the loop's Python objects: an
//! emission pickles its arguments once and sends them to the host of each
//! receiving loop (through the runtime's queue in a process, its
//! shared-memory rings between processes), and the host hands them to the
//! Python loop, which calls the slots. An `EventLoopProcess` is a process
//! of the runtime, started by fork or by spawn (a Python interpreter that
//! prepares itself as `multiprocessing`'s children do).

#![deny(unsafe_code)]

use pyo3::prelude::*;
use signal_slot::LoopHandle;

mod codec;
mod dispatch;
mod foreign;
mod host;
mod native;
mod sys;

/// The init function of a process started by spawn: its host starts the
/// Python side first thing.
#[signal_slot::init]
fn python_child(event_loop: &LoopHandle) {
    host::kick(event_loop);
}

/// In a Python started by spawn to run a loop: takes that role, runs the
/// loop and exits; never returns. Anywhere else, returns at once.
#[pyfunction]
fn child_main(py: Python<'_>) {
    py.detach(signal_slot::init_process);
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<native::Loop>()?;
    module.add_class::<native::Process>()?;
    module.add_class::<native::HostRef>()?;
    module.add_class::<sys::buffer::PySharedBuffer>()?;
    module.add_class::<foreign::Foreign>()?;
    module.add_class::<foreign::ForeignSlotRef>()?;
    module.add_function(wrap_pyfunction!(foreign::_foreign, module)?)?;
    module.add_function(wrap_pyfunction!(foreign::_foreign_slot, module)?)?;
    module.add_function(wrap_pyfunction!(native::_host_ref, module)?)?;
    module.add_function(wrap_pyfunction!(native::send, module)?)?;
    module.add_function(wrap_pyfunction!(native::send_many, module)?)?;
    module.add_function(wrap_pyfunction!(child_main, module)?)?;
    Ok(())
}
