//! The scale a task is declared with, used by a stage that runs it unless the stage sets
//! its own.

use super::TaskDef;

/// How many workers, and where, a stage running a task gets when it sets none itself:
/// declared with the task (`task! { static T: A => B = map("t", f).workers(4); }`).
///
/// The original skorche's `@task(max_workers=4)`: the task's author knows it is worth
/// spreading. A stage's own `workers(n)` / `processes(n)` overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultScale {
    /// This many threads of the driver.
    Workers(usize),
    /// This many worker processes.
    Processes(usize),
}

impl<In: 'static, Out: 'static> TaskDef<In, Out> {
    /// The task runs on `n` threads in a stage that sets no worker count of its own.
    /// Written after the task's form in [`task!`](crate::task):
    ///
    /// ```
    /// use skorche_worker::registry::DefaultScale;
    ///
    /// fn double(x: u64) -> u64 { x * 2 }
    /// skorche_worker::task! {
    ///     static DOUBLE: u64 => u64 = map("doc_scale_double", double).workers(4);
    /// }
    /// assert_eq!(DOUBLE.default_scale(), Some(DefaultScale::Workers(4)));
    /// ```
    ///
    /// # Panics
    /// If `n` is 0 (at compile time in a `static`): a stage needs at least one worker.
    pub const fn workers(mut self, n: usize) -> Self {
        assert!(n > 0, "workers(0): a stage needs at least one worker");
        self.scale = Some(DefaultScale::Workers(n));
        self
    }

    /// The task runs in `n` worker processes in a stage that sets no worker count of its
    /// own (see [`TaskDef::workers`]).
    ///
    /// ```compile_fail
    /// fn double(x: u64) -> u64 { x * 2 }
    /// skorche_worker::task! {
    ///     // Refused where it is declared: a stage needs at least one worker.
    ///     static DOUBLE: u64 => u64 = map("doc_scale_zero", double).processes(0);
    /// }
    /// ```
    ///
    /// # Panics
    /// If `n` is 0 (at compile time in a `static`): a stage needs at least one worker.
    pub const fn processes(mut self, n: usize) -> Self {
        assert!(n > 0, "processes(0): a stage needs at least one worker");
        self.scale = Some(DefaultScale::Processes(n));
        self
    }

    /// The scale declared with the task, if any.
    pub fn default_scale(&self) -> Option<DefaultScale> {
        self.scale
    }
}
