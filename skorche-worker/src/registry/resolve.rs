//! What a worker runs, resolved from the name it was given: one registered task, or a
//! chain of them whose steps it runs in sequence on each item.

use std::any::Any;

use super::chain::{chain_kind, in_step, CHAIN_SEPARATOR};
use super::{lookup, task_names, ErasedInstance, ErasedTask};
use crate::codec::{self, PayloadIo};
use crate::protocol::{FailureKind, TaskFailure, TaskIdentity};
use crate::values::{ValueRef, Values};

/// A value between two steps of a chain, never encoded: the worker thread that made it
/// hands it to the next step.
pub type StepValue = Box<dyn Any>;

/// One step of a chain in a worker, over values of its own types behind [`Any`].
pub trait StepInstance: Send {
    /// Decodes the chain's input (first step).
    ///
    /// # Errors
    /// [`FailureKind::Codec`] when the input does not decode.
    fn decode(&self, input: ValueRef<'_>, io: &PayloadIo) -> Result<StepValue, TaskFailure>;

    /// Runs the step, keeping its outputs as values (every step but the last).
    ///
    /// # Errors
    /// The task's failure.
    fn call(&mut self, input: StepValue) -> Result<Vec<StepValue>, TaskFailure>;

    /// Runs the step and appends its encoded outputs to `out` (last step); returns how many.
    ///
    /// # Errors
    /// As [`ErasedInstance::call_value`].
    fn call_into(
        &mut self,
        input: StepValue,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure>;
}

/// The task a worker was named: one registered task, or a chain of them.
pub struct Resolved {
    steps: Vec<&'static dyn ErasedTask>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.steps.iter().map(|s| s.name()).collect();
        f.debug_struct("Resolved").field("steps", &names).finish()
    }
}

/// Why a name does not resolve: the reason, and the registered names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// What is wrong, naming the task(s).
    pub reason: String,
    /// The names registered in this binary.
    pub known: Vec<String>,
}

/// Resolves `name`: a registered task, or registered names joined by [`CHAIN_SEPARATOR`]
/// whose types line up (each step's output type is the next one's input type).
///
/// ```
/// use skorche_worker::builtin::{DOUBLE_U64, TO_DECIMAL};
/// use skorche_worker::registry::resolve;
///
/// let chain = resolve(DOUBLE_U64.then(&TO_DECIMAL).name())?;
/// assert_eq!(chain.identity().output_type, "alloc::string::String");
/// let wrong = resolve("to_decimal => double_u64").unwrap_err();
/// assert!(wrong.reason.contains("'to_decimal'") && wrong.reason.contains("'double_u64'"));
/// # Ok::<(), skorche_worker::registry::Unresolved>(())
/// ```
///
/// # Errors
/// A step that is not registered, or two steps whose types do not line up (naming both and
/// both types).
pub fn resolve(name: &str) -> Result<Resolved, Unresolved> {
    let known = || task_names().into_iter().map(String::from).collect();
    let mut steps = Vec::new();
    for step in name.split(CHAIN_SEPARATOR) {
        let Some(task) = lookup(step) else {
            return Err(Unresolved {
                reason: format!("task {step:?} is not registered in this binary"),
                known: known(),
            });
        };
        if let Some(prev) = steps.last().copied() {
            check_link(name, prev, task).map_err(|reason| Unresolved {
                reason,
                known: Vec::new(),
            })?;
        }
        steps.push(task);
    }
    Ok(Resolved { steps })
}

fn check_link(chain: &str, prev: &dyn ErasedTask, next: &dyn ErasedTask) -> Result<(), String> {
    if prev.output_type() == next.input_type() {
        return Ok(());
    }
    Err(format!(
        "task chain {chain:?}: the output of '{}' ({}) is not the input of '{}' ({})",
        prev.name(),
        prev.output_type(),
        next.name(),
        next.input_type()
    ))
}

impl Resolved {
    /// What the worker announces at handshake: for a chain, its name, the first step's
    /// input type, the last step's output type and its steps' versions.
    pub fn identity(&self) -> TaskIdentity {
        let (first, last) = (self.steps[0], self.steps[self.steps.len() - 1]);
        let kind = match self.steps.as_slice() {
            [one] => one.kind(),
            steps => chain_kind(steps.iter().map(|s| s.kind())),
        };
        let names: Vec<_> = self.steps.iter().map(|s| s.name()).collect();
        TaskIdentity {
            name: names.join(CHAIN_SEPARATOR),
            kind,
            input_type: first.input_type().to_string(),
            output_type: last.output_type().to_string(),
            version: super::version::chain_version(self.steps.iter().map(|s| s.version())),
        }
    }

    /// Builds the instance a worker serves with, from the params of its `Welcome`.
    ///
    /// # Errors
    /// Params that do not decode, or a step whose state cannot be built (naming it).
    pub fn instantiate(&self, params: &[u8]) -> Result<Box<dyn ErasedInstance>, TaskFailure> {
        if let [one] = self.steps.as_slice() {
            // One task keeps its own paths (reading its input in place, filling its output).
            return one.instantiate_erased(params);
        }
        let lists: Vec<Vec<u8>> = codec::decode(params)
            .map_err(|e| TaskFailure::new(FailureKind::Codec, format!("bad chain params: {e}")))?;
        if lists.len() != self.steps.len() {
            return Err(TaskFailure::new(
                FailureKind::Codec,
                format!(
                    "bad chain params: {} lists for {} steps",
                    lists.len(),
                    self.steps.len()
                ),
            ));
        }
        let steps = self
            .steps
            .iter()
            .zip(&lists)
            .map(|(s, p)| {
                let step = s
                    .instantiate_step(p)
                    .map_err(|f| in_step(Some(s.name()), f))?;
                Ok((s.name(), step))
            })
            .collect::<Result<_, TaskFailure>>()?;
        Ok(Box::new(ChainedInstance { steps }))
    }
}

/// Every step of a chain on each item, in one worker.
struct ChainedInstance {
    steps: Vec<(&'static str, Box<dyn StepInstance>)>,
}

impl ErasedInstance for ChainedInstance {
    fn call_value(
        &mut self,
        input: ValueRef<'_>,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure> {
        let (last, middle) = self.steps.split_last_mut().expect("a chain has steps");
        let first = middle.first().map_or(&last.1, |s| &s.1);
        let mut values = vec![first.decode(input, io)?];
        for (name, step) in middle {
            let mut next = Vec::with_capacity(values.len());
            for v in values {
                next.extend(step.call(v).map_err(|f| in_step(Some(name), f))?);
            }
            values = next;
        }
        let mark = out.mark();
        let mut count = 0;
        for v in values {
            match last.1.call_into(v, io, out) {
                Ok(n) => count += n,
                Err(f) => {
                    // Outputs of this item already written go too, as for one task.
                    codec::release_handles(&out.truncate(mark), &io.rings);
                    return Err(in_step(Some(last.0), f));
                }
            }
        }
        Ok(count)
    }
}
