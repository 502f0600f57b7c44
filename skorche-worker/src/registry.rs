//! Tasks registered under stable names.
//!
//! A task is declared once with [`task!`](crate::task), which defines a
//! `static NAME: TaskDef<In, Out>` and registers an erased entry with [`inventory`], so every
//! binary that links the code (the driver re-executed as a worker, or a separate worker
//! binary) can look the task up by name. The same [`TaskDef`] runs in-process in thread mode
//! ([`BoundTask::instantiate`]) and in a worker process (looked up with [`lookup`]).
//!
//! ```
//! use skorche_worker::registry::Outputs;
//!
//! fn double(x: u64) -> u64 { x * 2 }
//! skorche_worker::task! {
//!     /// Doubles a number.
//!     pub static DOUBLE: u64 => u64 = map("doc_double", double);
//! }
//!
//! let mut inst = DOUBLE.bind().instantiate()?;
//! assert!(matches!(inst.call(21)?, Outputs::One(42)));
//! assert_eq!(skorche_worker::registry::lookup("doc_double").unwrap().input_type(), "u64");
//! # Ok::<(), skorche_worker::protocol::TaskFailure>(())
//! ```

use crate::codec::{self, PayloadIo};
use crate::protocol::{FailureKind, TaskFailure};
use crate::values::{ValueRef, Values};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

pub use crate::protocol::TaskKind;
pub use chain::{IntoTask, CHAIN_SEPARATOR};
pub use in_place::BytesInput;
pub use resolve::{resolve, Resolved, StepInstance, StepValue, Unresolved};
pub use scale::DefaultScale;

/// The outputs of one call: one value (map kinds) or any number (flat-map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outputs<Out> {
    /// Exactly one output.
    One(Out),
    /// Zero or more outputs.
    Many(Vec<Out>),
}

impl<Out> Outputs<Out> {
    /// Number of outputs.
    pub fn len(&self) -> usize {
        match self {
            Outputs::One(_) => 1,
            Outputs::Many(v) => v.len(),
        }
    }

    /// Whether there are no outputs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` on each output in order.
    pub fn for_each(self, mut f: impl FnMut(Out)) {
        match self {
            Outputs::One(o) => f(o),
            Outputs::Many(v) => v.into_iter().for_each(f),
        }
    }

    /// The outputs as a vector.
    pub fn into_vec(self) -> Vec<Out> {
        match self {
            Outputs::One(o) => vec![o],
            Outputs::Many(v) => v,
        }
    }
}

/// One running copy of a task (its state, if any). Created by [`BoundTask::instantiate`].
pub trait TaskInstance<In, Out>: Send {
    /// Runs the task on one input.
    ///
    /// # Errors
    /// The task's error as [`FailureKind::Error`]; a panic is caught and reported as
    /// [`FailureKind::Panic`] with the panic message.
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure>;

    /// Runs the task and appends its encoded outputs to `out` (worker side); returns how
    /// many it appended.
    ///
    /// The default calls [`TaskInstance::call`] and encodes each output with
    /// [`PayloadIo::encode_value`]; a task declared with `fill_bytes` instead writes its
    /// output straight into the output ring. When an output fails to encode, the outputs of
    /// this call are taken back off `out` and the ring records among them released.
    ///
    /// # Errors
    /// As [`TaskInstance::call`], plus [`FailureKind::Codec`] when an output cannot be encoded
    /// or stored.
    fn call_into(&mut self, input: In, io: &PayloadIo, out: &mut Values) -> Result<u32, TaskFailure>
    where
        Out: Serialize + 'static,
    {
        let outputs = self.call(input)?;
        let n = outputs.len() as u32;
        let mark = out.mark();
        let mut error = None;
        outputs.for_each(|o| {
            if error.is_none() {
                if let Err(e) = crate::zero_copy::encode_output(o, io, out) {
                    error = Some(e);
                }
            }
        });
        if let Some(e) = error {
            codec::release_handles(&out.truncate(mark), &io.rings);
            return Err(encode_failure(e));
        }
        Ok(n)
    }

    /// Decodes `input`, runs the task and appends its encoded outputs to `out` (worker
    /// side); returns how many it appended.
    ///
    /// The default decodes the input with [`zero_copy::decode_input`](crate::zero_copy::decode_input)
    /// and calls [`TaskInstance::call_into`]; a task declared with `map_in_place` instead
    /// reads its input where it lies in the ring.
    ///
    /// # Errors
    /// As [`TaskInstance::call_into`], plus [`FailureKind::Codec`] when the input does
    /// not decode.
    fn call_value(
        &mut self,
        input: ValueRef<'_>,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure>
    where
        In: DeserializeOwned + 'static,
        Out: Serialize + 'static,
    {
        let value: In = crate::zero_copy::decode_input(input, io).map_err(decode_failure)?;
        self.call_into(value, io, out)
    }
}

fn decode_failure(e: crate::error::DecodeError) -> TaskFailure {
    TaskFailure::new(FailureKind::Codec, format!("cannot decode input: {e}"))
}

fn encode_failure(e: crate::error::EncodeError) -> TaskFailure {
    TaskFailure::new(FailureKind::Codec, format!("cannot encode output: {e}"))
}

/// Constructor stored in a [`TaskDef`]: builds an instance from encoded params.
pub type MakeFn<In, Out> = fn(&[u8]) -> Result<Box<dyn TaskInstance<In, Out>>, TaskFailure>;

/// A registered task: its stable name, kind, constructor, and the scale and version declared
/// with it. Defined by [`task!`](crate::task).
pub struct TaskDef<In, Out> {
    name: &'static str,
    kind: TaskKind,
    make: MakeFn<In, Out>,
    scale: Option<DefaultScale>,
    version: Option<&'static str>,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out> fmt::Debug for TaskDef<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("input_type", &type_name::<In>())
            .field("output_type", &type_name::<Out>())
            .field("scale", &self.scale)
            .field("version", &self.version)
            .finish()
    }
}

impl<In: 'static, Out: 'static> TaskDef<In, Out> {
    /// Builds a definition from parts; [`task!`](crate::task) is the usual way.
    ///
    /// # Panics
    /// If `name` contains [`CHAIN_SEPARATOR`] (at compile time in a `static`): that is how a
    /// chain of tasks is named to a worker.
    pub const fn from_parts(name: &'static str, kind: TaskKind, make: MakeFn<In, Out>) -> Self {
        assert!(
            !chain::contains_separator(name),
            "a task name cannot contain the chain separator \" => \""
        );
        TaskDef {
            name,
            kind,
            make,
            scale: None,
            version: None,
            _types: PhantomData,
        }
    }

    /// The stable registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `std::any::type_name` of the input.
    pub fn input_type(&self) -> &'static str {
        type_name::<In>()
    }

    /// `std::any::type_name` of the output.
    pub fn output_type(&self) -> &'static str {
        type_name::<Out>()
    }

    /// The task's kind.
    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// Binds the task with no params (stateless tasks, or a state whose params are `()`).
    pub fn bind(&'static self) -> BoundTask<In, Out> {
        BoundTask {
            bound: Bound::One {
                def: self,
                params: Arc::from(Vec::new()),
            },
        }
    }

    /// Binds the task with per-worker constants, serialized with [`codec::encode`]; each
    /// instance (thread or worker process) builds its state from them.
    ///
    /// # Panics
    /// If serde refuses `params` (see [`TaskDef::try_bind_with`]).
    pub fn bind_with<P: Serialize>(&'static self, params: &P) -> BoundTask<In, Out> {
        self.try_bind_with(params)
            .expect("task params must be serializable")
    }

    /// As [`TaskDef::bind_with`], returning the encode error.
    ///
    /// # Errors
    /// [`EncodeError`](crate::error::EncodeError) if serde refuses `params`.
    pub fn try_bind_with<P: Serialize>(
        &'static self,
        params: &P,
    ) -> Result<BoundTask<In, Out>, crate::error::EncodeError> {
        Ok(BoundTask {
            bound: Bound::One {
                def: self,
                params: Arc::from(codec::encode(params)?),
            },
        })
    }

    /// Builds an instance from encoded params, catching a panic in the constructor.
    ///
    /// # Errors
    /// Params that do not decode ([`FailureKind::Codec`]), or a panicking `init`.
    pub fn instantiate(
        &self,
        params: &[u8],
    ) -> Result<Box<dyn TaskInstance<In, Out>>, TaskFailure> {
        match catch_unwind(AssertUnwindSafe(|| (self.make)(params))) {
            Ok(r) => r,
            Err(p) => Err(TaskFailure::new(FailureKind::Panic, panic_message(&*p))),
        }
    }
}

/// A task with its params: what a stage runs. Cheap to clone; shared across threads.
///
/// Either one registered task ([`TaskDef::bind`], [`TaskDef::bind_with`]) or a chain of
/// them ([`BoundTask::then`]), which runs every step on each item in one instance: in a
/// worker process, one hop for the whole chain.
pub struct BoundTask<In: 'static, Out: 'static> {
    bound: Bound<In, Out>,
}

enum Bound<In: 'static, Out: 'static> {
    One {
        def: &'static TaskDef<In, Out>,
        params: Arc<[u8]>,
    },
    Chain(Arc<chain::TaskChain<In, Out>>),
}

impl<In: 'static, Out: 'static> Clone for BoundTask<In, Out> {
    fn clone(&self) -> Self {
        let bound = match &self.bound {
            Bound::One { def, params } => Bound::One {
                def,
                params: Arc::clone(params),
            },
            Bound::Chain(c) => Bound::Chain(Arc::clone(c)),
        };
        BoundTask { bound }
    }
}

impl<In: 'static, Out: 'static> fmt::Debug for BoundTask<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bound {
            Bound::One { def, params } => f
                .debug_struct("BoundTask")
                .field("def", def)
                .field("params_len", &params.len())
                .finish(),
            Bound::Chain(c) => f
                .debug_struct("BoundTask")
                .field("steps", &c.steps)
                .field("input_type", &type_name::<In>())
                .field("output_type", &type_name::<Out>())
                .finish(),
        }
    }
}

impl<In: 'static, Out: 'static> BoundTask<In, Out> {
    /// The registered name; for a chain, its steps' names joined by
    /// [`CHAIN_SEPARATOR`] (what a worker resolves).
    pub fn name(&self) -> &str {
        match &self.bound {
            Bound::One { def, .. } => def.name,
            Bound::Chain(c) => &c.name,
        }
    }

    /// The registered names of the tasks run, in order (one, unless this is a chain).
    pub fn steps(&self) -> Vec<&'static str> {
        match &self.bound {
            Bound::One { def, .. } => vec![def.name],
            Bound::Chain(c) => c.steps.clone(),
        }
    }

    /// The encoded params (sent to workers in `Welcome`); for a chain, the list of its
    /// steps' params.
    pub fn params(&self) -> &[u8] {
        match &self.bound {
            Bound::One { params, .. } => params,
            Bound::Chain(c) => &c.params,
        }
    }

    /// `std::any::type_name` of the input.
    pub fn input_type(&self) -> &'static str {
        type_name::<In>()
    }

    /// `std::any::type_name` of the output.
    pub fn output_type(&self) -> &'static str {
        type_name::<Out>()
    }

    /// The task's kind; a chain is a [`TaskKind::FlatMap`] if any step is, else a
    /// [`TaskKind::Map`].
    pub fn kind(&self) -> TaskKind {
        match &self.bound {
            Bound::One { def, .. } => def.kind,
            Bound::Chain(c) => c.kind,
        }
    }

    /// Name, kind, types and version: what a worker must announce at handshake.
    pub fn identity(&self) -> crate::protocol::TaskIdentity {
        crate::protocol::TaskIdentity {
            name: self.name().to_string(),
            kind: self.kind(),
            input_type: self.input_type().to_string(),
            output_type: self.output_type().to_string(),
            version: self.version().map(str::to_string),
        }
    }

    /// Whether a call may give other than exactly one output.
    pub fn is_flat_map(&self) -> bool {
        self.kind() == TaskKind::FlatMap
    }

    /// The definition this was bound from; `None` for a chain.
    pub fn def(&self) -> Option<&'static TaskDef<In, Out>> {
        match &self.bound {
            Bound::One { def, .. } => Some(def),
            Bound::Chain(_) => None,
        }
    }

    /// The scale declared with the task ([`TaskDef::workers`], [`TaskDef::processes`]); for
    /// a chain, that of its first step that declares one.
    pub fn default_scale(&self) -> Option<DefaultScale> {
        match &self.bound {
            Bound::One { def, .. } => def.scale,
            Bound::Chain(c) => c.scale,
        }
    }

    /// The version declared with the task ([`TaskDef::version`]); for a chain, its steps'
    /// versions joined by [`CHAIN_SEPARATOR`] (an undeclared one empty), or `None` if no
    /// step declares one.
    ///
    /// ```
    /// fn double(x: u64) -> u64 { x * 2 }
    /// fn show(x: u64) -> String { x.to_string() }
    /// skorche_worker::task! {
    ///     static DOUBLE: u64 => u64 = map("doc_version_double", double).version("2");
    ///     static SHOW: u64 => String = map("doc_version_show", show);
    /// }
    /// assert_eq!(DOUBLE.bind().version(), Some("2"));
    /// assert_eq!(SHOW.bind().version(), None);
    /// assert_eq!(DOUBLE.then(&SHOW).version(), Some("2 => "));
    /// ```
    pub fn version(&self) -> Option<&str> {
        match &self.bound {
            Bound::One { def, .. } => def.version,
            Bound::Chain(c) => c.version.as_deref(),
        }
    }

    /// Builds an instance (state from params) to run in this process, as thread mode does.
    ///
    /// # Errors
    /// As [`TaskDef::instantiate`]; for a chain, the first step that cannot be built.
    pub fn instantiate(&self) -> Result<Box<dyn TaskInstance<In, Out>>, TaskFailure> {
        match &self.bound {
            Bound::One { def, params } => def.instantiate(params),
            Bound::Chain(c) => (c.make)(),
        }
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

fn guarded<R>(f: impl FnOnce() -> Result<R, TaskFailure>) -> Result<R, TaskFailure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(TaskFailure::new(FailureKind::Panic, panic_message(&*p))),
    }
}

fn task_error(e: impl fmt::Display) -> TaskFailure {
    TaskFailure::new(FailureKind::Error, e.to_string())
}

// ------------------------------------------------------------------ instances

struct MapInstance<F>(F);
impl<In, Out, F: FnMut(In) -> Out + Send> TaskInstance<In, Out> for MapInstance<F> {
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure> {
        guarded(|| Ok(Outputs::One((self.0)(input))))
    }
}

struct TryMapInstance<F>(F);
impl<In, Out, E: fmt::Display, F: FnMut(In) -> Result<Out, E> + Send> TaskInstance<In, Out>
    for TryMapInstance<F>
{
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure> {
        guarded(|| (self.0)(input).map(Outputs::One).map_err(task_error))
    }
}

struct FlatMapInstance<F>(F);
impl<In, Out, I: IntoIterator<Item = Out>, F: FnMut(In) -> I + Send> TaskInstance<In, Out>
    for FlatMapInstance<F>
{
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure> {
        guarded(|| Ok(Outputs::Many((self.0)(input).into_iter().collect())))
    }
}

struct StatefulInstance<S, F> {
    state: S,
    run: F,
}
impl<In, Out, S: Send, F: FnMut(&mut S, In) -> Out + Send> TaskInstance<In, Out>
    for StatefulInstance<S, F>
{
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure> {
        guarded(|| Ok(Outputs::One((self.run)(&mut self.state, input))))
    }
}

struct TryStatefulInstance<S, F> {
    state: S,
    run: F,
}
impl<In, Out, E: fmt::Display, S: Send, F: FnMut(&mut S, In) -> Result<Out, E> + Send>
    TaskInstance<In, Out> for TryStatefulInstance<S, F>
{
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure> {
        guarded(|| {
            (self.run)(&mut self.state, input)
                .map(Outputs::One)
                .map_err(task_error)
        })
    }
}

struct FillBytesInstance<Z, F> {
    size: Z,
    fill: F,
}
impl<In, Z, F> TaskInstance<In, Vec<u8>> for FillBytesInstance<Z, F>
where
    Z: FnMut(&In) -> usize + Send,
    F: FnMut(In, &mut [u8]) + Send,
{
    fn call(&mut self, input: In) -> Result<Outputs<Vec<u8>>, TaskFailure> {
        guarded(|| {
            let mut out = vec![0u8; (self.size)(&input)];
            (self.fill)(input, &mut out);
            Ok(Outputs::One(out))
        })
    }

    fn call_into(
        &mut self,
        input: In,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure> {
        let ring = io.output_ring.and_then(|i| io.rings.get(i));
        guarded(|| {
            let len = (self.size)(&input);
            // Written in place: no intermediate buffer. A panic in `fill` drops the
            // reservation uncommitted. A value the ring cannot take goes inline.
            let reserved = match ring {
                Some(ring) if len >= io.shm_threshold => {
                    io.reserve_output(ring, len).map_err(encode_failure)?
                }
                _ => None,
            };
            match reserved {
                Some(mut res) => {
                    (self.fill)(input, &mut res[..]);
                    out.push_shm(res.commit());
                }
                None => {
                    let mut buf = vec![0u8; len];
                    (self.fill)(input, &mut buf);
                    out.push_bytes(&buf);
                }
            }
            Ok(1)
        })
    }
}

#[doc(hidden)]
pub mod __private {
    pub use super::version::suffix;
    use super::*;

    type Made<In, Out> = Result<Box<dyn TaskInstance<In, Out>>, TaskFailure>;

    pub fn map<In: 'static, Out: 'static, F>(f: F) -> Made<In, Out>
    where
        F: FnMut(In) -> Out + Send + 'static,
    {
        Ok(Box::new(MapInstance(f)))
    }

    pub fn try_map<In: 'static, Out: 'static, E: fmt::Display, F>(f: F) -> Made<In, Out>
    where
        F: FnMut(In) -> Result<Out, E> + Send + 'static,
    {
        Ok(Box::new(TryMapInstance(f)))
    }

    pub fn flat_map<In: 'static, Out: 'static, I: IntoIterator<Item = Out>, F>(
        f: F,
    ) -> Made<In, Out>
    where
        F: FnMut(In) -> I + Send + 'static,
    {
        Ok(Box::new(FlatMapInstance(f)))
    }

    pub fn fill_bytes<In: 'static, Z, F>(size: Z, fill: F) -> Made<In, Vec<u8>>
    where
        Z: FnMut(&In) -> usize + Send + 'static,
        F: FnMut(In, &mut [u8]) + Send + 'static,
    {
        Ok(Box::new(FillBytesInstance { size, fill }))
    }

    pub fn map_in_place<In: in_place::BytesInput + 'static, Out: 'static, F>(f: F) -> Made<In, Out>
    where
        F: FnMut(&[u8]) -> Out + Send + 'static,
    {
        Ok(Box::new(in_place::InPlaceInstance(f)))
    }

    pub fn map_slice<In: 'static, T: bytemuck::Pod + Send + Sync, F>(
        f: F,
    ) -> Made<In, crate::shm::ShmSlice<T>>
    where
        F: FnMut(In) -> Vec<T> + Send + 'static,
    {
        Ok(Box::new(in_place::SliceInstance(f)))
    }

    pub fn fill_slice<In: 'static, T: bytemuck::Pod + Send + Sync, Z, F>(
        size: Z,
        fill: F,
    ) -> Made<In, crate::shm::ShmSlice<T>>
    where
        Z: FnMut(&In) -> usize + Send + 'static,
        F: FnMut(In, &mut [T]) + Send + 'static,
    {
        Ok(Box::new(in_place::FillSliceInstance { size, fill }))
    }

    fn params<P: DeserializeOwned>(bytes: &[u8], task: &str) -> Result<P, TaskFailure> {
        codec::decode::<P>(bytes).map_err(|e| {
            TaskFailure::new(
                FailureKind::Codec,
                format!("task {task:?}: bad params: {e}"),
            )
        })
    }

    pub fn stateful<In: 'static, Out: 'static, P: DeserializeOwned, S: Send + 'static, I, F>(
        task: &str,
        bytes: &[u8],
        init: I,
        run: F,
    ) -> Made<In, Out>
    where
        I: FnOnce(P) -> S,
        F: FnMut(&mut S, In) -> Out + Send + 'static,
    {
        let p = params::<P>(bytes, task)?;
        Ok(Box::new(StatefulInstance {
            state: init(p),
            run,
        }))
    }

    pub fn try_stateful<In: 'static, Out: 'static, P, S, E, I, F>(
        task: &str,
        bytes: &[u8],
        init: I,
        run: F,
    ) -> Made<In, Out>
    where
        P: DeserializeOwned,
        S: Send + 'static,
        E: fmt::Display,
        I: FnOnce(P) -> S,
        F: FnMut(&mut S, In) -> Result<Out, E> + Send + 'static,
    {
        let p = params::<P>(bytes, task)?;
        Ok(Box::new(TryStatefulInstance {
            state: init(p),
            run,
        }))
    }
}

// ------------------------------------------------------------------ erased registry

/// A registered task seen without its types: what a worker process looks up by name.
pub trait ErasedTask: Sync {
    /// The stable registered name.
    fn name(&self) -> &'static str;
    /// `std::any::type_name` of the input.
    fn input_type(&self) -> &'static str;
    /// `std::any::type_name` of the output.
    fn output_type(&self) -> &'static str;
    /// The task's kind.
    fn kind(&self) -> TaskKind;
    /// The version declared with the task ([`TaskDef::version`]).
    fn version(&self) -> Option<&'static str>;
    /// Builds an instance that decodes inputs and encodes outputs as [`Payload`]s.
    ///
    /// # Errors
    /// As [`TaskDef::instantiate`].
    fn instantiate_erased(&self, params: &[u8]) -> Result<Box<dyn ErasedInstance>, TaskFailure>;
    /// Builds an instance to run as one step of a chain ([`resolve`]).
    ///
    /// # Errors
    /// As [`TaskDef::instantiate`].
    fn instantiate_step(&self, params: &[u8]) -> Result<Box<dyn StepInstance>, TaskFailure>;
}

/// A task instance over encoded payloads (worker side).
pub trait ErasedInstance: Send {
    /// Decodes `input`, runs the task, and appends its encoded outputs to `out`; returns
    /// how many it appended.
    ///
    /// # Errors
    /// The task's failure, or [`FailureKind::Codec`] when the input does not decode or an
    /// output cannot be encoded or stored. On an error nothing of this call is left on
    /// `out`, and outputs already written to a ring are released.
    fn call_value(
        &mut self,
        input: ValueRef<'_>,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure>;
}

struct Erased<In, Out>(Box<dyn TaskInstance<In, Out>>);

impl<In, Out> ErasedInstance for Erased<In, Out>
where
    In: DeserializeOwned + 'static,
    Out: Serialize + 'static,
{
    fn call_value(
        &mut self,
        input: ValueRef<'_>,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure> {
        self.0.call_value(input, io, out)
    }
}

impl<In, Out> ErasedTask for TaskDef<In, Out>
where
    In: DeserializeOwned + 'static,
    Out: Serialize + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }
    fn input_type(&self) -> &'static str {
        type_name::<In>()
    }
    fn output_type(&self) -> &'static str {
        type_name::<Out>()
    }
    fn kind(&self) -> TaskKind {
        self.kind
    }
    fn version(&self) -> Option<&'static str> {
        self.version
    }
    fn instantiate_erased(&self, params: &[u8]) -> Result<Box<dyn ErasedInstance>, TaskFailure> {
        Ok(Box::new(Erased(self.instantiate(params)?)))
    }
    fn instantiate_step(&self, params: &[u8]) -> Result<Box<dyn StepInstance>, TaskFailure> {
        Ok(Box::new(Erased(self.instantiate(params)?)))
    }
}

impl<In, Out> StepInstance for Erased<In, Out>
where
    In: DeserializeOwned + 'static,
    Out: Serialize + 'static,
{
    fn decode(&self, input: ValueRef<'_>, io: &PayloadIo) -> Result<StepValue, TaskFailure> {
        let value: In = crate::zero_copy::decode_input(input, io).map_err(decode_failure)?;
        Ok(Box::new(value))
    }

    fn call(&mut self, input: StepValue) -> Result<Vec<StepValue>, TaskFailure> {
        let input = step_input::<In>(input)?;
        let outputs = self.0.call(input)?.into_vec();
        Ok(outputs
            .into_iter()
            .map(|o| Box::new(o) as StepValue)
            .collect())
    }

    fn call_into(
        &mut self,
        input: StepValue,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure> {
        let input = step_input::<In>(input)?;
        self.0.call_into(input, io, out)
    }
}

/// The value a step was handed, as its input type (which [`resolve`] checked by name).
fn step_input<In: 'static>(input: StepValue) -> Result<In, TaskFailure> {
    input.downcast::<In>().map(|b| *b).map_err(|_| {
        TaskFailure::new(
            FailureKind::Codec,
            format!(
                "a chain step was handed another type than its input {}",
                type_name::<In>()
            ),
        )
    })
}

/// An entry in the distributed registry, submitted by [`task!`](crate::task).
pub struct Registration {
    task: &'static dyn ErasedTask,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.task.name())
            .finish()
    }
}

impl Registration {
    /// Wraps a task definition for [`inventory::submit!`].
    pub const fn new(task: &'static dyn ErasedTask) -> Self {
        Registration { task }
    }

    /// The registered task.
    pub fn task(&self) -> &'static dyn ErasedTask {
        self.task
    }
}

inventory::collect!(Registration);

/// Finds a registered task by name. If several share the name, the first found wins (see
/// [`duplicate_names`]).
pub fn lookup(name: &str) -> Option<&'static dyn ErasedTask> {
    inventory::iter::<Registration>()
        .find(|r| r.task.name() == name)
        .map(|r| r.task)
}

/// All registered tasks, in no particular order.
pub fn tasks() -> impl Iterator<Item = &'static dyn ErasedTask> {
    inventory::iter::<Registration>().map(|r| r.task)
}

/// Sorted names of all registered tasks.
pub fn task_names() -> Vec<&'static str> {
    let mut names: Vec<_> = tasks().map(|t| t.name()).collect();
    names.sort_unstable();
    names
}

/// Names registered more than once (a program error: a test should assert this is empty).
pub fn duplicate_names() -> Vec<&'static str> {
    let names = task_names();
    let mut dups: Vec<_> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    dups.dedup();
    dups
}

/// Declares a task under a stable name and registers it in every binary that links it.
///
/// Forms (`$f`, `$init`, `$run` are paths to functions):
///
/// ```text
/// [pub] static NAME: In => Out = map("name", f);             // fn(In) -> Out
/// [pub] static NAME: In => Out = try_map("name", f);         // fn(In) -> Result<Out, E: Display>
/// [pub] static NAME: In => Out = flat_map("name", f);        // fn(In) -> impl IntoIterator<Item = Out> (Option<Out>: a filter-map)
/// [pub] static NAME: In => Out = stateful("name", init, run);     // init: fn(P) -> S, run: fn(&mut S, In) -> Out
/// [pub] static NAME: In => Out = try_stateful("name", init, run); // run: fn(&mut S, In) -> Result<Out, E>
/// [pub] static NAME: In => Vec<u8> = fill_bytes("name", size, fill); // size: fn(&In) -> usize, fill: fn(In, &mut [u8])
/// [pub] static NAME: In => Out = map_in_place("name", f);        // In: Vec<u8> or ShmBytes, f: fn(&[u8]) -> Out
/// [pub] static NAME: In => ShmSlice<T> = map_slice("name", f);   // T: Pod, f: fn(In) -> Vec<T>
/// [pub] static NAME: In => ShmSlice<T> = fill_slice("name", size, fill); // size: fn(&In) -> usize (values), fill: fn(In, &mut [T])
/// ```
///
/// Any form may end with a default scale, `.workers(n)` or `.processes(n)` (see
/// [`DefaultScale`]): a stage that runs the task without setting its own worker count gets
/// it. `static RESIZE: Img => Img = map("resize", resize).processes(4);`
///
/// Any form may also end with a version, `.version("2")`, before or after a scale (see
/// [`TaskDef::version`]): bump it whenever the task's code changes what it returns. A
/// cached stage running the task (`queue.cached().map_task(&TASK)`) keys its results on
/// it, so results of another version are not used; and a worker process whose binary
/// declares the task with another version is refused at handshake.
/// `static RESIZE: Img => Img = map("resize", resize).version("3").processes(4);`
///
/// The last three skip copies in a worker process. `map_in_place` hands the task a view of
/// its input where it lies in the input ring (no copy out of shared memory; in thread mode,
/// a view of the value). `map_slice` stores a typed array as its raw bytes, and `fill_slice`
/// has the task fill it straight inside the output ring; the driver reads either in place as
/// a [`ShmSlice<T>`](crate::rings::ShmSlice) (declare the stage with `map_task_as`).
///
/// ```
/// use skorche_worker::rings::{ShmBytes, ShmSlice};
///
/// fn count_zeros(bytes: &[u8]) -> u64 { bytes.iter().filter(|&&b| b == 0).count() as u64 }
/// fn ramp(n: u64) -> Vec<f32> { (0..n).map(|i| i as f32).collect() }
/// fn ramp_len(n: &u64) -> usize { *n as usize }
/// fn fill_ramp(_: u64, out: &mut [f32]) {
///     for (i, x) in out.iter_mut().enumerate() { *x = i as f32; }
/// }
/// skorche_worker::task! {
///     static ZEROS: ShmBytes => u64 = map_in_place("doc_zeros", count_zeros);
///     static RAMP: u64 => ShmSlice<f32> = map_slice("doc_ramp", ramp);
///     static RAMP_IN_PLACE: u64 => ShmSlice<f32> = fill_slice("doc_ramp_in_place", ramp_len, fill_ramp);
/// }
///
/// let zeros = ZEROS.bind().instantiate()?.call(ShmBytes::from(vec![0, 1, 0]))?;
/// assert_eq!(zeros.into_vec(), vec![2]);
/// let a = RAMP.bind().instantiate()?.call(4)?.into_vec().remove(0);
/// let b = RAMP_IN_PLACE.bind().instantiate()?.call(4)?.into_vec().remove(0);
/// assert_eq!(&a[..], &[0.0, 1.0, 2.0, 3.0]);
/// assert_eq!(a, b);
/// # Ok::<(), skorche_worker::protocol::TaskFailure>(())
/// ```
///
/// A `flat_map` task whose function returns an `Option` is a filter-map: `Some(v)` is one
/// output and `None` none (`Option<Out>` is an `IntoIterator<Item = Out>`). Bound with
/// `map_task`, it filters on threads and in worker processes alike, and inside an ordered
/// section a `None` leaves an empty position that `order_load` does not wait for:
///
/// ```
/// fn parse(line: String) -> Option<u64> {
///     line.trim().parse().ok()
/// }
/// skorche_worker::task! {
///     static PARSE_OR_SKIP: String => u64 = flat_map("doc_parse_or_skip", parse);
/// }
///
/// let mut task = PARSE_OR_SKIP.bind().instantiate()?;
/// assert_eq!(task.call(" 42 ".to_string())?.into_vec(), vec![42]);
/// assert!(task.call("forty-two".to_string())?.into_vec().is_empty());
/// # Ok::<(), skorche_worker::protocol::TaskFailure>(())
/// ```
///
/// `P` is decoded from the params given to [`TaskDef::bind_with`]. Several declarations may
/// share one invocation. Names must be unique in the program ([`duplicate_names`] finds
/// clashes). Registration uses [`inventory`]: a task is known in every binary that links the
/// module declaring it, on platforms `inventory` supports (Linux, macOS, Windows ...).
///
/// The declared types are checked against the function by the compiler:
///
/// ```compile_fail
/// fn halve(x: u32) -> u32 { x / 2 }
/// skorche_worker::task! {
///     static HALVE: u64 => u64 = map("doc_halve_wrong_types", halve);
/// }
/// ```
///
/// ```
/// fn scale_init(factor: u64) -> u64 { factor }
/// fn scale(factor: &mut u64, x: u64) -> u64 { x * *factor }
/// skorche_worker::task! {
///     /// Multiplies by a per-worker constant.
///     pub static SCALE: u64 => u64 = stateful("doc_scale", scale_init, scale);
/// }
/// let out = SCALE.bind_with(&3u64).instantiate()?.call(5)?;
/// assert_eq!(out.into_vec(), vec![15]);
/// # Ok::<(), skorche_worker::protocol::TaskFailure>(())
/// ```
#[macro_export]
macro_rules! task {
    () => {};
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = map($name:expr, $f:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, Map, [$($set($n))*],
            |_p: &[u8]| $crate::registry::__private::map::<$In, $Out, _>($f));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = try_map($name:expr, $f:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, TryMap, [$($set($n))*],
            |_p: &[u8]| $crate::registry::__private::try_map::<$In, $Out, _, _>($f));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = flat_map($name:expr, $f:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, FlatMap, [$($set($n))*],
            |_p: &[u8]| $crate::registry::__private::flat_map::<$In, $Out, _, _>($f));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = stateful($name:expr, $init:path, $run:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, Stateful, [$($set($n))*],
            |p: &[u8]| $crate::registry::__private::stateful::<$In, $Out, _, _, _, _>($name, p, $init, $run));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = try_stateful($name:expr, $init:path, $run:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, TryStateful, [$($set($n))*],
            |p: &[u8]| $crate::registry::__private::try_stateful::<$In, $Out, _, _, _, _, _>($name, p, $init, $run));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = fill_bytes($name:expr, $size:path, $fill:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, FillBytes, [$($set($n))*],
            |_p: &[u8]| $crate::registry::__private::fill_bytes::<$In, _, _>($size, $fill));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = map_in_place($name:expr, $f:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, Map, [$($set($n))*],
            |_p: &[u8]| $crate::registry::__private::map_in_place::<$In, $Out, _>($f));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = map_slice($name:expr, $f:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, Map, [$($set($n))*],
            |_p: &[u8]| $crate::registry::__private::map_slice::<$In, _, _>($f));
        $crate::task!($($rest)*);
    };
    ($(#[$m:meta])* $vis:vis static $N:ident : $In:ty => $Out:ty = fill_slice($name:expr, $size:path, $fill:path) $(.$set:ident($n:expr))*; $($rest:tt)*) => {
        $crate::task!(@def $(#[$m])* $vis $N, $In, $Out, $name, FillBytes, [$($set($n))*],
            |_p: &[u8]| $crate::registry::__private::fill_slice::<$In, _, _, _>($size, $fill));
        $crate::task!($($rest)*);
    };
    (@def $(#[$m:meta])* $vis:vis $N:ident, $In:ty, $Out:ty, $name:expr, $kind:ident, [$($set:ident($n:expr))*], $make:expr) => {
        $(#[$m])*
        $vis static $N: $crate::registry::TaskDef<$In, $Out> = {
            let def = $crate::registry::TaskDef::from_parts($name, $crate::registry::TaskKind::$kind, $make);
            // Suffixes are free functions, so that `version` can name both the suffix and
            // the getter `TaskDef::version`.
            $(let def = $crate::registry::__private::suffix::$set(def, $n);)*
            def
        };
        $crate::inventory::submit! {
            $crate::registry::Registration::new(&$N)
        }
    };
}

mod chain;
mod in_place;
mod resolve;
mod scale;
mod version;

#[cfg(test)]
mod tests;
