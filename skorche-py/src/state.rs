//! What a `Graph` holds while Python declares it.

use std::collections::HashSet;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use skorche::{OrderPoint, Pipeline, Queue};

use crate::item::PyItem;

/// The pipeline, and its queues and order points by the ids Python holds.
pub(crate) struct State {
    pub(crate) pipeline: Option<Pipeline>,
    pub(crate) queues: Vec<Option<Queue<PyItem>>>,
    pub(crate) orders: Vec<Option<OrderPoint>>,
    /// Stage names given so far: skorche wants them unique, Python code has many `<lambda>`.
    pub(crate) names: HashSet<String>,
}

impl State {
    /// A new pipeline whose queues hold `capacity` items unless a stage says otherwise.
    pub(crate) fn new(capacity: usize) -> Self {
        let pipeline = Pipeline::new();
        pipeline.default_capacity(capacity);
        State {
            pipeline: Some(pipeline),
            queues: Vec::new(),
            orders: Vec::new(),
            names: HashSet::new(),
        }
    }

    pub(crate) fn pipeline(&self) -> PyResult<&Pipeline> {
        self.pipeline
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("this pipeline has already been run"))
    }

    pub(crate) fn take(&mut self, q: usize) -> PyResult<Queue<PyItem>> {
        self.pipeline()?;
        self.queues
            .get_mut(q)
            .and_then(Option::take)
            .ok_or_else(|| {
                PyRuntimeError::new_err(format!(
                    "queue {q} is already read by another stage: a stage's output goes to one \
                     consumer (use tee for several)"
                ))
            })
    }

    /// `name`, or `name#2`, `name#3`... if a stage already has it.
    pub(crate) fn unique(&mut self, name: Option<String>) -> Option<String> {
        let name = name?;
        let mut candidate = name.clone();
        let mut n = 1;
        while !self.names.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{name}#{n}");
        }
        Some(candidate)
    }

    pub(crate) fn put(&mut self, q: Queue<PyItem>) -> usize {
        self.queues.push(Some(q));
        self.queues.len() - 1
    }
}
