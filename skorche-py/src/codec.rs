//! How a Python value crosses to and from a worker process, as one byte string.
//!
//! - `PICKLE`: `[0] pickle` (protocol 5, buffers in band): small values.
//! - `RAW`: `[1] bytes`: a `bytes`, `bytearray` or `memoryview` of at least the stage's
//!   threshold. The reader gets a read-only `memoryview` over the received record.
//! - `OUT_OF_BAND`: pickle protocol 5 with out-of-band buffers (numpy arrays, `PickleBuffer`s):
//!   `[2] pad[7] n:u64 head_len:u64 len_0..len_n-1:u64 head (pad to 64) buf_0 (pad) buf_1 ...`.
//!   The reader unpickles the head with each buffer as a read-only [`Record`] window: arrays
//!   come back as zero-copy views of the record.
//!
//! - Scalars skip pickle: `[3]` None, `[4]` False, `[5]` True, `[6] i64`, `[7] f64`,
//!   `[8] utf-8` str, `[9] bytes` (below the threshold): the common items (numbers, paths,
//!   keys) cost a type check and a copy each way, not a pickle call.
//!
//! Above the stage's threshold the whole string travels through the worker's shared-memory
//! ring (the core's `shm_threshold`), so large values are copied once into the ring by the
//! writer and never by the reader.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString,
};
use skorche::ShmBytes;

use crate::record::Record;

const PICKLE: u8 = 0;
const RAW: u8 = 1;
const OUT_OF_BAND: u8 = 2;
const NONE: u8 = 3;
const FALSE: u8 = 4;
const TRUE: u8 = 5;
const INT: u8 = 6;
const FLOAT: u8 = 7;
const STR: u8 = 8;
const BYTES: u8 = 9;
/// Buffers start at multiples of this (numpy's widest SIMD loads like aligned data).
const ALIGN: usize = 64;

static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn dumps(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    DUMPS.import(py, "pickle", "dumps")
}

fn loads(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOADS.import(py, "pickle", "loads")
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Encodes `value` for a worker or for the driver; `raw_threshold`: the size from which a
/// byte string travels raw.
pub fn encode(value: &Bound<'_, PyAny>, raw_threshold: usize) -> PyResult<Vec<u8>> {
    let py = value.py();
    if let Some(scalar) = scalar(value, raw_threshold) {
        return Ok(scalar);
    }
    if let Some(raw) = raw_bytes(value, raw_threshold)? {
        return Ok(raw);
    }
    PICKLER.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            let buffers = PyList::empty(py);
            let kwargs = PyDict::new(py);
            kwargs.set_item("protocol", 5)?;
            kwargs.set_item("buffer_callback", buffers.getattr("append")?)?;
            *cell = Some((kwargs.unbind(), buffers.unbind()));
        }
        let (kwargs, buffers) = cell.as_ref().expect("set above");
        let buffers = buffers.bind(py);
        let head = dumps(py)?.call((value,), Some(kwargs.bind(py)));
        let taken = buffers.get_slice(0, buffers.len());
        buffers.call_method1("clear", ())?;
        pickled(&head?.cast_into::<PyBytes>()?, &taken)
    })
}

thread_local! {
    /// This thread's `pickle.dumps` keyword arguments and the list its buffer callback fills:
    /// made once, not per item.
    static PICKLER: std::cell::RefCell<Option<(Py<PyDict>, Py<PyList>)>> = const { std::cell::RefCell::new(None) };
}

/// A scalar's own encoding (see the module documentation), `None` for anything else.
fn scalar(value: &Bound<'_, PyAny>, raw_threshold: usize) -> Option<Vec<u8>> {
    let tagged = |tag: u8, data: &[u8]| {
        let mut out = Vec::with_capacity(1 + data.len());
        out.push(tag);
        out.extend_from_slice(data);
        out
    };
    if value.is_none() {
        return Some(vec![NONE]);
    }
    if value.is_exact_instance_of::<PyInt>() {
        return value
            .extract::<i64>()
            .ok()
            .map(|n| tagged(INT, &n.to_le_bytes()));
    }
    if value.is_exact_instance_of::<PyBool>() {
        return Some(vec![if value.is_truthy().ok()? { TRUE } else { FALSE }]);
    }
    if value.is_exact_instance_of::<PyFloat>() {
        return value
            .extract::<f64>()
            .ok()
            .map(|x| tagged(FLOAT, &x.to_le_bytes()));
    }
    if value.is_exact_instance_of::<PyString>() {
        let s = value.cast::<PyString>().ok()?.to_str().ok()?;
        return Some(tagged(STR, s.as_bytes()));
    }
    if value.is_exact_instance_of::<PyBytes>() {
        let b = value.cast::<PyBytes>().ok()?.as_bytes();
        return (b.len() < raw_threshold).then(|| tagged(BYTES, b));
    }
    None
}

/// `[PICKLE] head`, or the out-of-band layout when pickle gave buffers.
fn pickled(head: &Bound<'_, PyBytes>, buffers: &Bound<'_, PyList>) -> PyResult<Vec<u8>> {
    let head = head.as_bytes();
    if buffers.is_empty() {
        let mut out = Vec::with_capacity(1 + head.len());
        out.push(PICKLE);
        out.extend_from_slice(head);
        return Ok(out);
    }
    let mut raws = Vec::with_capacity(buffers.len());
    for b in buffers.iter() {
        let raw = b.call_method0("raw")?; // a contiguous 1-D byte memoryview
        raws.push(pyo3::buffer::PyBuffer::<u8>::get(&raw)?);
    }
    let header = 8 + 8 + 8 + 8 * raws.len();
    let mut total = align(header + head.len());
    for r in &raws {
        total = align(total + r.len_bytes());
    }
    // Built by appending, not zero-filled first: the buffers are most of it and are
    // written once.
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&[OUT_OF_BAND, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&(raws.len() as u64).to_le_bytes());
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    for r in &raws {
        out.extend_from_slice(&(r.len_bytes() as u64).to_le_bytes());
    }
    out.extend_from_slice(head);
    for r in &raws {
        out.resize(align(out.len()), 0);
        out.extend_from_slice(contiguous(r));
    }
    out.resize(total, 0);
    Ok(out)
}

/// The bytes of a C-contiguous buffer.
fn contiguous(buffer: &pyo3::buffer::PyBuffer<u8>) -> &[u8] {
    debug_assert!(buffer.is_c_contiguous());
    // SAFETY: the buffer is C-contiguous (PickleBuffer.raw() and the callers' checks
    // guarantee it), so `len_bytes` bytes from `buf_ptr` are its contents; `PyBuffer` keeps
    // the exporter's view (and so the memory) alive for the returned borrow, and the caller
    // holds the GIL, so Python code cannot resize the exporter meanwhile.
    unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) }
}

/// `[RAW] bytes` for a large enough `bytes`, `bytearray` or `memoryview`.
fn raw_bytes(value: &Bound<'_, PyAny>, threshold: usize) -> PyResult<Option<Vec<u8>>> {
    let copy = |data: &[u8]| {
        let mut out = Vec::with_capacity(1 + data.len());
        out.push(RAW);
        out.extend_from_slice(data);
        out
    };
    if let Ok(b) = value.cast::<PyBytes>() {
        let data = b.as_bytes();
        return Ok((data.len() >= threshold).then(|| copy(data)));
    }
    if value.is_instance_of::<PyByteArray>() || value.is_instance_of::<PyMemoryView>() {
        let buffer = pyo3::buffer::PyBuffer::<u8>::get(value)?;
        if buffer.len_bytes() < threshold || !buffer.is_c_contiguous() {
            return Ok(None);
        }
        return Ok(Some(copy(contiguous(&buffer))));
    }
    Ok(None)
}

fn u64_at(bytes: &[u8], at: usize) -> PyResult<usize> {
    bytes
        .get(at..at + 8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .ok_or_else(|| PyValueError::new_err(format!("truncated value: no header at {at}")))
}

/// How [`decode`] hands out the large parts of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Large {
    /// Read in place, as read-only [`Record`] windows: large `bytes` become a `memoryview`,
    /// arrays view the record (the driver, reading a worker's ring).
    Views,
    /// Copied into objects of their own, as plain pickle gives them: `bytes` stay `bytes`,
    /// arrays are writable (a worker, whose input is a copy already).
    Copies,
}

/// Decodes what [`encode`] made.
pub fn decode(py: Python<'_>, bytes: ShmBytes, large: Large) -> PyResult<Py<PyAny>> {
    let Some(&tag) = bytes.first() else {
        return Err(PyValueError::new_err("an empty value came from a worker"));
    };
    let payload = &bytes[1..];
    match tag {
        NONE => return Ok(py.None()),
        FALSE => return Ok(PyBool::new(py, false).to_owned().into_any().unbind()),
        TRUE => return Ok(PyBool::new(py, true).to_owned().into_any().unbind()),
        INT | FLOAT => {
            let n: [u8; 8] = payload.try_into().map_err(|_| {
                PyValueError::new_err("truncated value: a number without its 8 bytes")
            })?;
            return Ok(if tag == INT {
                i64::from_le_bytes(n).into_pyobject(py)?.into_any().unbind()
            } else {
                f64::from_le_bytes(n).into_pyobject(py)?.into_any().unbind()
            });
        }
        STR => {
            let s = std::str::from_utf8(payload)
                .map_err(|e| PyValueError::new_err(format!("a str value is not UTF-8: {e}")))?;
            return Ok(PyString::new(py, s).into_any().unbind());
        }
        BYTES => return Ok(PyBytes::new(py, payload).into_any().unbind()),
        _ => {}
    }
    match tag {
        PICKLE => {
            let head = PyBytes::new(py, &bytes[1..]);
            Ok(loads(py)?.call1((head,))?.unbind())
        }
        RAW if large == Large::Copies => Ok(PyBytes::new(py, payload).into_any().unbind()),
        RAW => {
            let len = bytes.len() - 1;
            let record = Bound::new(py, Record::new(bytes, 1, len)?)?;
            Ok(PyMemoryView::from(&record.into_any())?.into_any().unbind())
        }
        OUT_OF_BAND => {
            let n = u64_at(&bytes, 8)?;
            let head_len = u64_at(&bytes, 16)?;
            let header = 8usize
                .checked_mul(n)
                .and_then(|l| l.checked_add(24))
                .filter(|&h| h <= bytes.len())
                .ok_or_else(|| PyValueError::new_err("truncated value: bad buffer count"))?;
            let head = header
                .checked_add(head_len)
                .and_then(|end| bytes.get(header..end))
                .ok_or_else(|| PyValueError::new_err("truncated value: short pickle head"))?;
            let head = PyBytes::new(py, head);
            let buffers = PyList::empty(py);
            let mut at = align(header + head_len);
            for i in 0..n {
                let len = u64_at(&bytes, 24 + 8 * i)?;
                let record = Record::new(bytes.clone(), at, len)?;
                match large {
                    Large::Views => buffers.append(Bound::new(py, record)?)?,
                    Large::Copies => buffers.append(PyByteArray::new(py, record.data()))?,
                }
                at = align(at + len);
            }
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("buffers", buffers)?;
            Ok(loads(py)?.call((head,), Some(&kwargs))?.unbind())
        }
        other => Err(PyValueError::new_err(format!(
            "a value came with tag {other}: not one skorche encodes (0, 1 or 2); the worker \
             runs another version of skorche"
        ))),
    }
}
