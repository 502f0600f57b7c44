//! A marker's identity, handed to Python by `insert_periodic`.

use pyo3::prelude::*;

/// Names the markers one `insert_periodic` inserts: for `marker.on` and `marker.until`.
#[pyclass(module = "skorche._skorche", name = "Marker", frozen)]
#[derive(Debug)]
pub struct MarkerHandle(pub skorche::Marker);

#[pymethods]
impl MarkerHandle {
    fn __repr__(&self) -> String {
        format!("<skorche.Marker {:?}>", self.0)
    }
}
