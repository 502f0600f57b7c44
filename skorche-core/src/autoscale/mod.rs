//! Autoscaling: a stage declared with a range of workers
//! ([`Queue::workers`](crate::Queue::workers)`(1..=8)`) runs its maximum of threads, of
//! which only a target number take items; the others stop between chunks ([`gate`]). In a
//! process stage a stopped worker's process is ended and a started one spawned (see
//! `coordinator::run_worker`). A [`controller`] thread moves the targets within the
//! pipeline's worker budget.

pub(crate) mod controller;
pub(crate) mod event;
pub(crate) mod gate;

pub use event::ScaleEvent;
