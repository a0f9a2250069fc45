//! A shared buffer of the runtime, as Python reads it: in place, through
//! the buffer protocol (`memoryview`, `numpy.frombuffer`), never written.

use std::ffi::{c_int, c_void};

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use signal_slot::SharedBuffer;

/// A `SharedBuffer` that a signal of a Rust program carried: its bytes in
/// the shared memory of the process tree, read where they are. It holds
/// the buffer (which goes back to its pool once every copy, in every
/// process, is gone), and so does every `memoryview` of it.
#[pyclass(frozen, module = "signal_slot._native", name = "SharedBuffer")]
pub(crate) struct PySharedBuffer {
    buffer: SharedBuffer,
}

/// The shared buffer a MessagePack extension names (its 24 bytes `body`),
/// held from now on by a Python object.
pub(crate) fn shared_buffer<'py>(py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let len = u8::try_from(body.len()).map_err(|_| PyValueError::new_err("not a shared buffer"))?;
    let mut ext = Vec::with_capacity(body.len() + 3);
    ext.extend_from_slice(&[0xc7, len, SHARED_BUFFER as u8]);
    ext.extend_from_slice(body);
    let buffer: SharedBuffer = rmp_serde::from_slice(&ext).map_err(|error| {
        PyValueError::new_err(format!("a shared buffer cannot be read: {error}"))
    })?;
    Ok(Bound::new(py, PySharedBuffer { buffer })?.into_any())
}

/// The MessagePack extension type of a shared buffer's reference.
pub(crate) const SHARED_BUFFER: i8 = 0x53;

#[pymethods]
impl PySharedBuffer {
    fn __len__(&self) -> usize {
        self.buffer.len()
    }

    /// A copy of its bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.buffer)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.tobytes(py)
    }

    fn __repr__(&self) -> String {
        format!("SharedBuffer({} bytes)", self.buffer.len())
    }

    /// Lends its bytes, read-only, to a `memoryview` (or NumPy), which holds
    /// this object until it is released.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & pyo3::ffi::PyBUF_WRITABLE == pyo3::ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("a shared buffer is read-only"));
        }
        let bytes: &[u8] = &slf.get().buffer;
        let len = isize::try_from(bytes.len())
            .map_err(|_| PyBufferError::new_err("a buffer over isize::MAX bytes"))?;
        // SAFETY: `view` is the `Py_buffer` the interpreter asks this
        // exporter to fill (the protocol's contract). The bytes live in the
        // pool's mapping for as long as `buffer` does, and `buffer` is never
        // changed (the class is frozen) and lives as long as this object,
        // which `PyBuffer_FillInfo` makes the view hold (a new reference in
        // `view.obj`). Read-only (`readonly = 1`): nothing writes through it.
        let filled = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr().cast_mut().cast::<c_void>(),
                len,
                1,
                flags,
            )
        };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}
