//! A cached stage: each input's result read from the store when it is there, computed and
//! stored when it is not. Control packets pass through untouched, and outputs take their
//! input's place exactly as an uncached `map` or `flat_map` would place them.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::{item_key, CacheCounts, Identity, Key, Settings, SharedSettings, Store};
use crate::error::{FailureKind, PipelineError};
use crate::exec::emit::emit;
use crate::launch::{Launch, Runner};
use crate::mode::Mode;
use crate::stage::send;

/// What a cached task's call failed with: the kind and message of a stage failure.
pub(crate) type Fault = (FailureKind, String);

/// One worker's task instance: all outputs of one input (one for a map).
pub(crate) type CachedFn<T, U> = Box<dyn FnMut(T) -> Result<Vec<U>, Fault>>;

/// Builds a task instance, on the worker's thread, the first time an input misses.
pub(crate) type CachedFactory<T, U> = Arc<dyn Fn() -> Result<CachedFn<T, U>, String> + Send + Sync>;

/// Starts the stage in worker processes (a registered task), with its result cache.
#[cfg(feature = "process")]
pub(crate) type ProcessLaunch<T> = Box<
    dyn FnOnce(
            &mut Launch<'_>,
            Option<Box<dyn crate::coordinator::cached::StageCache<T>>>,
        ) -> Result<(), PipelineError>
        + Send,
>;

/// A thread-only build has no process mode: no cached stage can have one.
#[cfg(not(feature = "process"))]
pub(crate) type ProcessLaunch<T> = (std::convert::Infallible, std::marker::PhantomData<T>);

/// What names a registered task in a cached stage's identity.
pub(crate) struct TaskIdentity {
    pub(crate) name: String,
    pub(crate) params: Vec<u8>,
    /// `task!`'s `.version(..)`: combined with the stage's own version, not replaced by it.
    pub(crate) version: Option<String>,
}

pub(crate) struct CachedRunner<T, U> {
    pub(crate) factory: CachedFactory<T, U>,
    /// Whether outputs take child positions in an ordered section (flat_map kinds).
    pub(crate) flat: bool,
    pub(crate) kind: &'static str,
    /// A registered task's name, parameters and declared version; `None` for a closure
    /// (named by its stage).
    pub(crate) task: Option<TaskIdentity>,
    pub(crate) identity: Identity,
    pub(crate) settings: SharedSettings,
    /// A registered task's process mode; `None` for closures.
    pub(crate) process: Option<ProcessLaunch<T>>,
}

impl<T, U> Runner for CachedRunner<T, U>
where
    T: Serialize + Send + 'static,
    U: Serialize + DeserializeOwned + Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let in_processes = matches!(cx.mode, Mode::Processes(_)) && self.process.is_some();
        let stage = self.stage_key(&cx.stats.name, in_processes);
        // Opened here, so that a store that cannot be opened fails the run before any
        // item flows, naming the stage; each worker thread then opens its own connection.
        if settings.enabled {
            Store::open_with_limit(&settings.dir, settings.limit)
                .map_err(|e| PipelineError::Invalid(format!("stage '{}': {e}", cx.stats.name)))?;
        }
        if let (true, Some(process)) = (in_processes, self.process) {
            return launch_in_processes(process, cx, stage, &settings);
        }
        let flat = self.flat;
        cx.spawn_each(|cx| {
            let mut rx = cx.input::<T>(0);
            let tx = cx.output::<U>(0);
            let factory = self.factory.clone();
            let settings = settings.clone();
            move |cx| {
                let tx = tx.open();
                let mut store = if settings.enabled {
                    match Store::open_with_limit(&settings.dir, settings.limit) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            return cx.fail(None, FailureKind::Invalid, e.to_string());
                        }
                    }
                } else {
                    None
                };
                let mut task: Option<CachedFn<T, U>> = None;
                let mut counts = CacheCounts::default();
                for packet in rx.iter() {
                    if cx.aborted() {
                        break;
                    }
                    let (seq, tag, value) = match packet.into_control::<U>() {
                        Ok(control) => {
                            if !send(&tx, cx, control) {
                                break;
                            }
                            continue;
                        }
                        Err(item) => item,
                    };
                    cx.local.items_in += 1;
                    let key = store.as_ref().and_then(|_| key_of(&stage, &value));
                    let hit = match (&mut store, &key) {
                        (Some(s), Some(k)) => lookup::<U>(s, k, &mut counts),
                        _ => None,
                    };
                    let outputs = match hit {
                        Some(outputs) => outputs,
                        None => {
                            if task.is_none() {
                                match factory() {
                                    Ok(t) => task = Some(t),
                                    Err(e) => {
                                        cx.fail(
                                            Some(seq),
                                            FailureKind::Task,
                                            format!("building the task: {e}"),
                                        );
                                        break;
                                    }
                                }
                            }
                            let t = task.as_mut().expect("built above");
                            let result = cx.timed(|| {
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t(value)))
                            });
                            let outputs = match result {
                                Ok(Ok(outputs)) => outputs,
                                Ok(Err((kind, message))) => {
                                    cx.fail(Some(seq), kind, message);
                                    break;
                                }
                                Err(p) => {
                                    let message = crate::exec::worker_cx::panic_message(&*p);
                                    cx.fail(Some(seq), FailureKind::Panic, message);
                                    break;
                                }
                            };
                            if let (Some(s), Some(k)) = (&mut store, &key) {
                                counts.misses += 1;
                                keep(s, k, &outputs, &mut counts);
                            }
                            outputs
                        }
                    };
                    if !emit(&tx, cx, seq, tag, outputs, flat) {
                        break;
                    }
                }
                cx.stats.cache.add(&counts);
            }
        });
        Ok(())
    }
}

impl<T, U> CachedRunner<T, U> {
    /// The digest of this stage's identity: a registered task's name, parameters and version
    /// or the stage's name, its types, the declared version and parameters (and build, if
    /// strict).
    fn stage_key(&self, stage_name: &str, in_processes: bool) -> Key {
        let mut identity = self.identity.clone();
        let name = match &self.task {
            Some(task) => {
                let params = ("task params".to_string(), task.params.clone());
                identity.params.insert(0, params);
                // Only a declared version is a field: an unversioned task keeps the keys it
                // had before tasks could carry one.
                if let Some(version) = &task.version {
                    let version = ("task version".to_string(), version.clone().into_bytes());
                    identity.params.insert(1, version);
                }
                task.name.as_str()
            }
            None => stage_name,
        };
        // The types too: two stages that swapped default names between two builds then
        // differ at least when their types do.
        let types = [std::any::type_name::<T>(), std::any::type_name::<U>()].join(" -> ");
        identity
            .params
            .insert(0, ("types".into(), types.into_bytes()));
        if in_processes {
            // Stored as the workers encode outputs, not in the threads' form: keys of their
            // own, so that neither reads the other's.
            let form = ("stored as".to_string(), b"worker outputs".to_vec());
            identity.params.push(form);
        }
        identity.key(self.kind, name)
    }
}

/// Starts a cached task stage in worker processes, keyed by `stage` when the store is on.
#[cfg(feature = "process")]
fn launch_in_processes<T: Serialize + 'static>(
    process: ProcessLaunch<T>,
    cx: &mut Launch<'_>,
    stage: Key,
    settings: &Settings,
) -> Result<(), PipelineError> {
    use crate::coordinator::cached::StageCache;
    let cache = settings.enabled.then(|| {
        let cache = crate::cache::process::ProcessCache {
            stage,
            settings: settings.clone(),
        };
        Box::new(cache) as Box<dyn StageCache<T>>
    });
    process(cx, cache)
}

#[cfg(not(feature = "process"))]
fn launch_in_processes<T>(
    process: ProcessLaunch<T>,
    _: &mut Launch<'_>,
    _: Key,
    _: &Settings,
) -> Result<(), PipelineError> {
    match process.0 {}
}

/// The key of one input; `None` (run uncached) if the input does not encode.
fn key_of<T: Serialize>(stage: &Key, value: &T) -> Option<Key> {
    match crate::cache::encode(value) {
        Ok(bytes) => Some(item_key(stage, &bytes)),
        Err(e) => {
            tracing::warn!("cache: an input does not encode ({e}): computed, not cached");
            None
        }
    }
}

/// The stored outputs of `key`; `None` is a miss (absent, damaged, or unreadable).
fn lookup<U: DeserializeOwned>(
    store: &mut Store,
    key: &Key,
    counts: &mut CacheCounts,
) -> Option<Vec<U>> {
    let bytes = match store.get(key) {
        Ok(bytes) => bytes?,
        Err(e) => {
            tracing::warn!("cache lookup failed, computing instead: {e}");
            return None;
        }
    };
    match crate::cache::decode::<Vec<U>>(&bytes) {
        Ok(outputs) => {
            counts.hits += 1;
            counts.bytes_read += bytes.len() as u64;
            Some(outputs)
        }
        Err(e) => {
            // Bytes that match their digest but not the type: another build's layout of a
            // type under an unchanged version. Computed again and replaced.
            tracing::warn!("cache entry does not decode as this stage's output ({e}): recomputed");
            None
        }
    }
}

/// Stores the outputs of `key`; a failure is logged, the run goes on.
fn keep<U: Serialize>(store: &mut Store, key: &Key, outputs: &Vec<U>, counts: &mut CacheCounts) {
    let bytes = match crate::cache::encode(outputs) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("cache: an output does not encode ({e}): not stored");
            return;
        }
    };
    match store.put(key, &bytes) {
        Ok(()) => counts.bytes_written += bytes.len() as u64,
        Err(e) => tracing::warn!("cache write failed: {e}"),
    }
}
