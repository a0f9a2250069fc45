//! How a Python signal travels: `[emitter id, signal name, [args..]]` as
//! MessagePack, encoded and decoded here without the interpreter's help
//! for the plain values (None, bool, int, float, str, bytes, list, dict,
//! and tuple, as extension type 1), and pickled for everything else
//! (extension type 2, one pickle per such value, by `multiprocessing`'s
//! pickler as the original's queue pickles). Exact types only: a
//! subclass of `int` or `dict` is pickled, so that it comes back as itself.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use std::collections::HashMap;

use rmp::Marker;
use rmp::encode as mp;

/// Extension type of a tuple (its items as an array).
const TUPLE: i8 = 1;
/// Extension type of a pickled value.
const PICKLED: i8 = 2;
/// Deeper than this, values are pickled whole (pickle has its own limits).
const MAX_DEPTH: usize = 32;

static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One signal: the emitter's id, the signal's name, its arguments.
pub(crate) fn encode_signal(
    emitter: &Bound<'_, PyAny>,
    signal: &Bound<'_, PyAny>,
    args: &Bound<'_, PyAny>,
) -> PyResult<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let _ = mp::write_array_len(&mut out, 3);
    encode(emitter, &mut out, 0)?;
    encode(signal, &mut out, 0)?;
    let args = match args.cast::<PyTuple>() {
        Ok(args) => args.clone(),
        // Any iterable, as `slot(*args)` takes it.
        Err(_) => PyTuple::new(args.py(), args.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
    };
    let _ = mp::write_array_len(&mut out, len(args.len())?);
    for arg in args.iter() {
        encode(&arg, &mut out, 1)?;
    }
    Ok(out)
}

/// The emitters and signals a loop has seen, as the key its dispatch table
/// is looked up with (`(emitter id, signal name)`), by their encoding: a
/// signal from a known emitter allocates no strings for them.
#[derive(Default)]
pub(crate) struct Keys(HashMap<Box<[u8]>, Py<PyTuple>>);

/// Forgotten all at once past this many (ids made up per emission, say).
const MAX_KEYS: usize = 4096;

/// The signal back: its key `(emitter id, signal name)` and its args.
pub(crate) fn decode_signal<'py>(
    py: Python<'py>,
    keys: &mut Keys,
    mut bytes: &[u8],
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyTuple>)> {
    let bytes = &mut bytes;
    if array_len(bytes)? != 3 {
        return Err(bad("a signal is an array of three"));
    }
    let start = *bytes;
    let mut probe = start;
    let key = if skip_str(&mut probe)
        .and_then(|()| skip_str(&mut probe))
        .is_some()
    {
        // Both strings (the usual case): found by their bytes.
        let raw = &start[..start.len() - probe.len()];
        *bytes = probe;
        if let Some(key) = keys.0.get(raw) {
            key.bind(py).clone()
        } else {
            let mut fields = raw;
            let key = PyTuple::new(py, [decode(py, &mut fields)?, decode(py, &mut fields)?])?;
            if keys.0.len() >= MAX_KEYS {
                keys.0.clear();
            }
            keys.0.insert(raw.into(), key.clone().unbind());
            key
        }
    } else {
        let emitter = decode(py, bytes)?;
        let name = decode(py, bytes)?;
        PyTuple::new(py, [emitter, name])?
    };
    let count = array_len(bytes)?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        args.push(decode(py, bytes)?);
    }
    Ok((key, PyTuple::new(py, args)?))
}

/// The arguments of a signal of another program: a MessagePack array,
/// its values as Python values (arrays as lists, a shared buffer's
/// reference as a `SharedBuffer` read in place); other extension types
/// are refused.
pub(crate) fn decode_foreign<'py>(
    py: Python<'py>,
    mut bytes: &[u8],
) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = &mut bytes;
    let count = array_len(bytes)?;
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        args.push(decode_at(py, bytes, Mode::Plain)?);
    }
    PyTuple::new(py, args)
}

/// Steps over a string, if the next value is one.
fn skip_str(bytes: &mut &[u8]) -> Option<()> {
    let (&first, rest) = bytes.split_first()?;
    let (n, rest) = match Marker::from_u8(first) {
        Marker::FixStr(n) => (usize::from(n), rest),
        Marker::Str8 => (usize::from(*rest.first()?), rest.get(1..)?),
        Marker::Str16 => (
            usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    *bytes = rest.get(n..)?;
    Some(())
}

fn len(n: usize) -> PyResult<u32> {
    u32::try_from(n).map_err(|_| bad("a collection of over 2^32 items"))
}

/// The arguments of a signal to a slot of another program: a plain
/// MessagePack array (tuples and lists as arrays), of the values that
/// MessagePack has; anything else is refused.
pub(crate) fn encode_foreign(args: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let args = match args.cast::<PyTuple>() {
        Ok(args) => args.clone(),
        Err(_) => PyTuple::new(args.py(), args.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
    };
    let mut out = Vec::with_capacity(64);
    mp::write_array_len(&mut out, len(args.len())?).ok();
    for arg in args.iter() {
        encode_plain(&arg, &mut out, 1)?;
    }
    Ok(out)
}

/// The arguments of an init function of another program, as
/// `init_with` encodes them: the one argument itself, or an array of them
/// (`None` for a function of none).
pub(crate) fn encode_init_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    match args.len() {
        0 => {
            mp::write_nil(&mut out).ok();
        }
        1 => encode_plain(&args.get_item(0)?, &mut out, 1)?,
        _ => encode_plain(args.as_any(), &mut out, 0)?,
    }
    Ok(out)
}

fn encode_plain(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyTypeError::new_err(format!(
            "a value nested over {MAX_DEPTH} deep cannot be sent to a slot of another program"
        )));
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        mp::write_array_len(out, len(tuple.len())?).ok();
        for item in tuple.iter() {
            encode_plain(&item, out, depth + 1)?;
        }
        return Ok(());
    }
    if let Ok(list) = value.cast::<PyList>() {
        mp::write_array_len(out, len(list.len())?).ok();
        for item in list.iter() {
            encode_plain(&item, out, depth + 1)?;
        }
        return Ok(());
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        mp::write_map_len(out, len(dict.len())?).ok();
        for (key, item) in dict.iter() {
            encode_plain(&key, out, depth + 1)?;
            encode_plain(&item, out, depth + 1)?;
        }
        return Ok(());
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        mp::write_bin(out, &bytes.to_vec()).ok();
        return Ok(());
    }
    if value.is_none() {
        mp::write_nil(out).ok();
    } else if let Ok(flag) = value.cast::<PyBool>() {
        mp::write_bool(out, flag.is_true()).ok();
    } else if let Ok(int) = value.cast::<PyInt>() {
        if let Ok(int) = int.extract::<i64>() {
            mp::write_sint(out, int).ok();
        } else {
            let int = int.extract::<u64>().map_err(|_| {
                PyTypeError::new_err(
                    "an int outside of 64 bits cannot be sent to a slot of another program",
                )
            })?;
            mp::write_uint(out, int).ok();
        }
    } else if let Ok(float) = value.cast::<PyFloat>() {
        mp::write_f64(out, float.value()).ok();
    } else if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_str().map_err(|_| {
            PyTypeError::new_err(
                "a string that is not valid Unicode cannot be sent to a slot of another program",
            )
        })?;
        mp::write_str(out, text).ok();
    } else if let Ok(bytes) = value.cast::<PyBytes>() {
        mp::write_bin(out, bytes.as_bytes()).ok();
    } else if let Ok(view) = PyMemoryView::from(value) {
        // `array.array`, a NumPy array or scalar, a `memoryview`: bytes as
        // `bin`; numbers as numbers (a Rust slot reads them whatever their
        // width; raw bytes of another width would be misread).
        let format: String = view.getattr("format")?.extract()?;
        if matches!(format.as_str(), "B" | "b" | "c") {
            let bytes = view.call_method0("tobytes")?;
            mp::write_bin(out, bytes.cast::<PyBytes>()?.as_bytes()).ok();
        } else {
            encode_plain(&view.call_method0("tolist")?, out, depth)?;
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "a `{}` cannot be sent to a slot of another program: it takes None, bool, int, \
             float, str, bytes, objects with a buffer (bytearray, array.array, NumPy arrays), \
             and lists, tuples and dicts of them",
            value.get_type().name()?
        )));
    }
    Ok(())
}

fn encode(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    if depth <= MAX_DEPTH {
        if value.is_none() {
            mp::write_nil(out).ok();
            return Ok(());
        }
        if let Ok(value) = value.cast_exact::<PyBool>() {
            mp::write_bool(out, value.is_true()).ok();
            return Ok(());
        }
        if let Ok(int) = value.cast_exact::<PyInt>() {
            if let Ok(int) = int.extract::<i64>() {
                mp::write_sint(out, int).ok();
                return Ok(());
            }
            if let Ok(int) = int.extract::<u64>() {
                mp::write_uint(out, int).ok();
                return Ok(());
            }
        } else if let Ok(float) = value.cast_exact::<PyFloat>() {
            mp::write_f64(out, float.value()).ok();
            return Ok(());
        } else if let Ok(text) = value.cast_exact::<PyString>() {
            // A string with lone surrogates has no UTF-8: pickled.
            if let Ok(text) = text.to_str() {
                mp::write_str(out, text).ok();
                return Ok(());
            }
        } else if let Ok(bytes) = value.cast_exact::<PyBytes>() {
            mp::write_bin(out, bytes.as_bytes()).ok();
            return Ok(());
        } else if let Ok(tuple) = value.cast_exact::<PyTuple>() {
            let mut items = Vec::with_capacity(16);
            mp::write_array_len(&mut items, len(tuple.len())?).ok();
            for item in tuple.iter() {
                encode(&item, &mut items, depth + 1)?;
            }
            mp::write_ext_meta(out, len(items.len())?, TUPLE).ok();
            out.extend_from_slice(&items);
            return Ok(());
        } else if let Ok(list) = value.cast_exact::<PyList>() {
            mp::write_array_len(out, len(list.len())?).ok();
            for item in list.iter() {
                encode(&item, out, depth + 1)?;
            }
            return Ok(());
        } else if let Ok(dict) = value.cast_exact::<PyDict>() {
            mp::write_map_len(out, len(dict.len())?).ok();
            for (key, item) in dict.iter() {
                encode(&key, out, depth + 1)?;
                encode(&item, out, depth + 1)?;
            }
            return Ok(());
        }
    }
    // Pickled as the original pickles a signal's arguments, by
    // `multiprocessing`'s pickler: what `multiprocessing` shares rather than
    // copies (a torch tensor in shared memory, a descriptor) is shared, the
    // receiving process reaching it through this one's resource sharer.
    let py = value.py();
    let dumps = DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("multiprocessing.reduction")?
            .getattr("ForkingPickler")?
            .getattr("dumps")?
            .unbind())
    })?;
    let pickled = PyBuffer::<u8>::get(&dumps.bind(py).call1((value, 5))?)?;
    let at = out.len();
    mp::write_ext_meta(out, len(pickled.len_bytes())?, PICKLED).ok();
    let start = out.len();
    out.resize(start + pickled.len_bytes(), 0);
    if let Err(error) = pickled.copy_to_slice(py, &mut out[start..]) {
        out.truncate(at);
        return Err(error);
    }
    Ok(())
}

fn bad(what: &str) -> PyErr {
    PyValueError::new_err(format!("a signal that cannot be decoded: {what}"))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> PyResult<&'a [u8]> {
    if bytes.len() < n {
        return Err(bad("it ends early"));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn be<const N: usize>(bytes: &mut &[u8]) -> PyResult<[u8; N]> {
    let mut out = [0; N];
    out.copy_from_slice(take(bytes, N)?);
    Ok(out)
}

fn marker(bytes: &mut &[u8]) -> PyResult<Marker> {
    Ok(Marker::from_u8(take(bytes, 1)?[0]))
}

fn array_len(bytes: &mut &[u8]) -> PyResult<usize> {
    match marker(bytes)? {
        marker @ (Marker::FixArray(_) | Marker::Array16 | Marker::Array32) => length(marker, bytes),
        _ => Err(bad("an array was expected")),
    }
}

/// The length a marker announces: in the marker itself, or in the 1, 2 or
/// 4 bytes after it.
fn length(marker: Marker, bytes: &mut &[u8]) -> PyResult<usize> {
    Ok(match marker {
        Marker::FixStr(n) | Marker::FixArray(n) | Marker::FixMap(n) => usize::from(n),
        Marker::FixExt1 => 1,
        Marker::FixExt2 => 2,
        Marker::FixExt4 => 4,
        Marker::FixExt8 => 8,
        Marker::FixExt16 => 16,
        Marker::Str8 | Marker::Bin8 | Marker::Ext8 => usize::from(be::<1>(bytes)?[0]),
        Marker::Str16 | Marker::Bin16 | Marker::Array16 | Marker::Map16 | Marker::Ext16 => {
            usize::from(u16::from_be_bytes(be(bytes)?))
        }
        Marker::Str32 | Marker::Bin32 | Marker::Array32 | Marker::Map32 | Marker::Ext32 => {
            u32::from_be_bytes(be(bytes)?) as usize
        }
        _ => return Err(bad("a length was expected")),
    })
}

/// What extension types mean: this package's (tuples, pickles), or
/// nothing (the values of another program).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Python,
    Plain,
}

fn decode<'py>(py: Python<'py>, bytes: &mut &[u8]) -> PyResult<Bound<'py, PyAny>> {
    decode_at(py, bytes, Mode::Python)
}

fn decode_at<'py>(py: Python<'py>, bytes: &mut &[u8], mode: Mode) -> PyResult<Bound<'py, PyAny>> {
    let value = match marker(bytes)? {
        Marker::Null => py.None().into_bound(py),
        Marker::True => PyBool::new(py, true).to_owned().into_any(),
        Marker::False => PyBool::new(py, false).to_owned().into_any(),
        Marker::FixPos(n) => n.into_pyobject(py)?.into_any(),
        Marker::FixNeg(n) => n.into_pyobject(py)?.into_any(),
        Marker::U8 => be::<1>(bytes)?[0].into_pyobject(py)?.into_any(),
        Marker::U16 => u16::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        Marker::U32 => u32::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        Marker::U64 => u64::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        Marker::I8 => i8::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        Marker::I16 => i16::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        Marker::I32 => i32::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        Marker::I64 => i64::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        Marker::F32 => f64::from(f32::from_be_bytes(be(bytes)?))
            .into_pyobject(py)?
            .into_any(),
        Marker::F64 => f64::from_be_bytes(be(bytes)?).into_pyobject(py)?.into_any(),
        marker @ (Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32) => {
            let n = length(marker, bytes)?;
            text(py, bytes, n)?
        }
        marker @ (Marker::Bin8 | Marker::Bin16 | Marker::Bin32) => {
            let n = length(marker, bytes)?;
            PyBytes::new(py, take(bytes, n)?).into_any()
        }
        marker @ (Marker::FixArray(_) | Marker::Array16 | Marker::Array32) => {
            let list = PyList::empty(py);
            for _ in 0..length(marker, bytes)? {
                list.append(decode_at(py, bytes, mode)?)?;
            }
            list.into_any()
        }
        marker @ (Marker::FixMap(_) | Marker::Map16 | Marker::Map32) => {
            let dict = PyDict::new(py);
            for _ in 0..length(marker, bytes)? {
                let mut key = decode_at(py, bytes, mode)?;
                if mode == Mode::Plain {
                    // A key of another program that is an array (a tuple or
                    // a struct there): a tuple here, which a dict can hold.
                    key = hashable(&key)?;
                }
                dict.set_item(key, decode_at(py, bytes, mode)?)?;
            }
            dict.into_any()
        }
        marker @ (Marker::FixExt1
        | Marker::FixExt2
        | Marker::FixExt4
        | Marker::FixExt8
        | Marker::FixExt16
        | Marker::Ext8
        | Marker::Ext16
        | Marker::Ext32) => {
            let n = length(marker, bytes)?;
            let kind = i8::from_be_bytes(be(bytes)?);
            if mode == Mode::Plain {
                if kind == crate::sys::buffer::SHARED_BUFFER {
                    return crate::sys::buffer::shared_buffer(py, take(bytes, n)?);
                }
                return Err(bad(&format!(
                    "a value of MessagePack extension type {kind}, which Python does not read"
                )));
            }
            extension(py, kind, take(bytes, n)?)?
        }
        Marker::Reserved => return Err(bad("an unknown marker")),
    };
    Ok(value)
}

/// `value` with its lists (nested too) as tuples.
fn hashable<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    match value.cast::<PyList>() {
        Ok(list) => {
            let items = list
                .iter()
                .map(|item| hashable(&item))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyTuple::new(value.py(), items)?.into_any())
        }
        Err(_) => Ok(value.clone()),
    }
}

/// A tuple, or a pickled value.
fn extension<'py>(py: Python<'py>, kind: i8, mut data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match kind {
        TUPLE => {
            let count = array_len(&mut data)?;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode(py, &mut data)?);
            }
            Ok(PyTuple::new(py, items)?.into_any())
        }
        PICKLED => {
            let loads = LOADS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
                Ok(py.import("pickle")?.getattr("loads")?.unbind())
            })?;
            loads.bind(py).call1((PyBytes::new(py, data),))
        }
        _ => Err(bad("an unknown extension type")),
    }
}

fn text<'py>(py: Python<'py>, bytes: &mut &[u8], n: usize) -> PyResult<Bound<'py, PyAny>> {
    let text =
        std::str::from_utf8(take(bytes, n)?).map_err(|_| bad("a string that is not UTF-8"))?;
    Ok(PyString::new(py, text).into_any())
}
