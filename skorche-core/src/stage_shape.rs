//! What a queue knows about the stage that produces it, so that only the settings that
//! stage can use exist on its queue.
//!
//! [`Queue<T, S>`](crate::Queue)'s second parameter is a marker: [`AnyStage`] (the default,
//! what `Queue<T>` means) offers the settings every stage has (`workers`, `capacity`,
//! `name`, failure policies); [`TaskStage`], returned by
//! [`map_task`](crate::Queue::map_task), adds the process-mode settings (`processes`,
//! `shm_threshold`, `ring_capacity`, `item_timeout`, `process_batching`, `worker_program`,
//! ...). A closure cannot cross a process boundary, so asking a closure stage to run in
//! processes does not compile:
//!
//! ```compile_fail
//! # use skorche_core::Pipeline;
//! let p = Pipeline::new();
//! let _ = p.source(0..3u64).map(|x| x + 1).processes(2); // no `processes` on Queue<u64>
//! ```
//!
//! ```compile_fail
//! # use skorche_core::Pipeline;
//! # use std::time::Duration;
//! let p = Pipeline::new();
//! let _ = p.source(0..3u64).filter(|x| x % 2 == 0).item_timeout(Duration::from_secs(1));
//! ```
//!
//! Every operation and everything that takes a queue (`run_iter`, `merge`, `zip`,
//! `output`, ...) accepts either kind of queue.

use crate::queue::Queue;

/// The producing stage may be any stage: only the settings every stage has.
///
/// The default of [`Queue`]'s second parameter, so `Queue<T>` is `Queue<T, AnyStage>`. It
/// has no values: it only marks a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyStage {}

/// The producing stage runs a registered task ([`Queue::map_task`]), so it may also run in
/// worker processes and has the process-mode settings ([`Queue::processes`], ...).
///
/// It has no values: it only marks a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStage {}

impl<T: Send + 'static> From<Queue<T, TaskStage>> for Queue<T> {
    fn from(q: Queue<T, TaskStage>) -> Self {
        q.into_any()
    }
}

impl<T: Send + 'static> Queue<T, TaskStage> {
    /// The same queue, as a `Queue<T>`: for a collection of queues from stages of both
    /// shapes (an array given to [`Pipeline::merge`](crate::Pipeline::merge), a `Vec`), or
    /// a field typed `Queue<T>`. The process settings are no longer offered afterwards;
    /// those already made stay.
    ///
    /// ```
    /// use skorche_core::Pipeline;
    /// use skorche_worker::builtin::DOUBLE_U64;
    ///
    /// let p = Pipeline::new();
    /// let (a, b) = p.source(1..=4u64).split(|x| x % 2 == 0);
    /// let doubled = a.map_task(&DOUBLE_U64).workers(2).into_any();
    /// let tenfold = b.map(|x| x * 10);
    /// let both = p.merge([doubled, tenfold]);
    /// let mut all: Vec<u64> = p.run_iter(both)?.collect::<Result<_, _>>()?;
    /// all.sort();
    /// assert_eq!(all, [4, 8, 10, 30]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn into_any(self) -> Queue<T> {
        self.reshape()
    }
}
