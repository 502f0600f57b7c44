//! The version a task is declared with: the contract that its results do not change while
//! the version does not.

use super::{chain, TaskDef};

impl<In: 'static, Out: 'static> TaskDef<In, Out> {
    /// The task declared with `version`, written `.version("2")` after the task's form in
    /// [`task!`](crate::task). Rust cannot hash a function's code, so the version is how its
    /// author says the results changed: a cached stage running the task keys its results on
    /// it, and a worker process whose binary declares the task with another version is
    /// refused at handshake.
    ///
    /// ```
    /// fn double(x: u64) -> u64 { x * 2 }
    /// skorche_worker::task! {
    ///     static DOUBLE: u64 => u64 = map("doc_with_version", double).version("2").workers(2);
    /// }
    /// assert_eq!(DOUBLE.version(), Some("2"));
    /// ```
    ///
    /// ```compile_fail
    /// fn double(x: u64) -> u64 { x * 2 }
    /// skorche_worker::task! {
    ///     // Refused where it is declared: a chain's version would be ambiguous.
    ///     static DOUBLE: u64 => u64 = map("doc_version_arrow", double).version("1 => 2");
    /// }
    /// ```
    ///
    /// # Panics
    /// If `version` contains [`CHAIN_SEPARATOR`](super::CHAIN_SEPARATOR) (at compile time in
    /// a `static`): a chain's version joins its steps' versions with it.
    pub const fn with_version(mut self, version: &'static str) -> Self {
        assert!(
            !chain::contains_separator(version),
            "a task version cannot contain the chain separator \" => \""
        );
        self.version = Some(version);
        self
    }

    /// The version declared with the task, if any (see [`TaskDef::with_version`]).
    pub fn version(&self) -> Option<&'static str> {
        self.version
    }
}

/// The version of a chain of steps with these versions: `None` if none declares one, else
/// each step's version (empty if undeclared) joined by [`CHAIN_SEPARATOR`], so that the
/// driver and a worker, which resolves the chain by name, compute the same.
///
/// [`CHAIN_SEPARATOR`]: super::CHAIN_SEPARATOR
pub(crate) fn chain_version<'a>(
    versions: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<String> {
    let versions: Vec<_> = versions.into_iter().collect();
    versions.iter().any(Option::is_some).then(|| {
        versions
            .iter()
            .map(|v| v.unwrap_or(""))
            .collect::<Vec<_>>()
            .join(super::CHAIN_SEPARATOR)
    })
}

/// The suffixes `task!` accepts after a task's form, applied in the order written.
#[doc(hidden)]
pub mod suffix {
    use super::super::TaskDef;

    pub const fn workers<In: 'static, Out: 'static>(
        def: TaskDef<In, Out>,
        n: usize,
    ) -> TaskDef<In, Out> {
        def.workers(n)
    }

    pub const fn processes<In: 'static, Out: 'static>(
        def: TaskDef<In, Out>,
        n: usize,
    ) -> TaskDef<In, Out> {
        def.processes(n)
    }

    pub const fn version<In: 'static, Out: 'static>(
        def: TaskDef<In, Out>,
        version: &'static str,
    ) -> TaskDef<In, Out> {
        def.with_version(version)
    }
}
