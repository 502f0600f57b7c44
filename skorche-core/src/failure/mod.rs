//! Failure policies: what a stage does with an item whose task failed (an error, a panic;
//! in process mode also a dead worker or an item timeout).
//!
//! - [`policy`]: the declared policy (attempts, [`Backoff`], skip / dead letter / fail,
//!   budgets, kept causes, callback), type-independent; and the run-wide budget.
//! - [`failed`]: [`Failed<T>`], what a dead-letter queue carries.
//! - [`guard`]: the per-stage decision on a failed attempt and its bookkeeping, shared by
//!   the stage's workers and usable by any runner.
//! - [`attempt`]: one item under a policy in a worker thread.
//!
//! Declared with the methods of `queue_failure.rs` on the stage's *input* queue, carried on
//! the queue's declaration until its consumer is declared, then handed to that consumer's
//! runner ([`crate::launch::Runner::set_failure`]).

pub(crate) mod attempt;
pub(crate) mod failed;
pub(crate) mod guard;
pub(crate) mod policy;

pub use failed::Failed;
pub use policy::Backoff;
