//! Any Python iterable as a skorche source, pulled a chunk at a time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyIterator;

use crate::item::{PyItem, PyTaskError};

/// Items pulled per attach, at most.
const CHUNK: usize = 256;
/// A chunk is cut short after this long, so a slow generator's first items are not held back.
const CHUNK_TIME: Duration = Duration::from_micros(200);

/// A Python iterator as a Rust iterator: each attach pulls up to [`CHUNK`] items (or what
/// [`CHUNK_TIME`] allows), so the source thread crosses into Python once per chunk.
pub struct PySource {
    iter: Py<PyIterator>,
    ready: VecDeque<Result<PyItem, PyTaskError>>,
    ended: bool,
}

impl PySource {
    /// Iterates `iterable` (its `__iter__` is called now, while declaring).
    pub fn new(iterable: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PySource {
            iter: iterable.try_iter()?.unbind(),
            ready: VecDeque::new(),
            ended: false,
        })
    }

    fn refill(&mut self) {
        crate::gil::attach(|py| {
            let iter = self.iter.bind(py);
            let started = Instant::now();
            for _ in 0..CHUNK {
                match iter.clone().next() {
                    Some(Ok(x)) => self.ready.push_back(Ok(PyItem(x.unbind()))),
                    Some(Err(e)) => {
                        self.ready.push_back(Err(PyTaskError::new(py, e)));
                        self.ended = true;
                        return;
                    }
                    None => {
                        self.ended = true;
                        return;
                    }
                }
                if started.elapsed() > CHUNK_TIME {
                    return;
                }
            }
        });
    }
}

impl Iterator for PySource {
    type Item = Result<PyItem, PyTaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && !self.ended {
            self.refill();
        }
        self.ready.pop_front()
    }
}
