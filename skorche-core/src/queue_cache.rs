//! `Queue::cached`: the next stage's results kept in the pipeline's cache store.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::{encode_param, Identity};
use crate::error::{BoxError, FailureKind};
use crate::queue::Queue;
use crate::stage::cached::{CachedFactory, CachedRunner, ProcessLaunch, TaskIdentity};
use crate::StageKind;
use skorche_worker::registry::IntoTask;

impl<T: Serialize + Send + 'static> Queue<T> {
    /// Keeps the results of the stage declared next on this queue in the pipeline's cache
    /// store, keyed by this queue's items: a later run reads them instead of running the
    /// task. See [the `cache` module](crate::cache) for keys, versions and the store.
    ///
    /// The items of this queue must be `Serialize` (they are hashed in their encoded
    /// form); the next stage's outputs must be `Serialize + DeserializeOwned` (they are
    /// stored). A closure stage's identity is its name (with its input and output types),
    /// so name cached stages ([`Queue::name`]): a default name depends on the order of
    /// declaration. Declare a version, and bump it whenever the task's code changes:
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// # let dir = std::env::temp_dir().join(format!("skorche-cached-doc-{}", std::process::id()));
    /// let p = Pipeline::new();
    /// p.cache_dir(&dir);
    /// let words = p.source(vec!["a".to_string(), "bb".into()]);
    /// let lengths = words.cached().version("2").param("unit", "chars").map(|w| w.len());
    /// assert_eq!(p.run_iter(lengths)?.collect::<Result<Vec<_>, _>>()?, [1, 2]);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// A cached closure runs on threads ([`Queue::workers`]); a cached registered task
    /// ([`Cached::map_task`]) also in worker processes. A cached stage takes no failure
    /// policy (`retry`, `skip_failures`, `dead_letter`): a failed item fails the run and
    /// stores nothing.
    pub fn cached(self) -> Cached<T> {
        Cached {
            queue: self,
            identity: Identity::default(),
        }
    }
}

impl Queue<std::path::PathBuf> {
    /// Each path with the digest of its file's content, so that a cached stage after this
    /// one keys on what the files hold: an edited file misses, a touched but unchanged one
    /// hits. Digests are kept in the pipeline's store by path, size and modification time,
    /// so an unchanged file is read only once across runs.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// # let dir = std::env::temp_dir().join(format!("skorche-track-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let file = dir.join("words.txt");
    /// std::fs::write(&file, "a few words")?;
    /// let p = Pipeline::new();
    /// p.cache_dir(dir.join("cache"));
    /// let counts = p
    ///     .source([file])
    ///     .track_files()
    ///     .cached()
    ///     .try_map(|f| std::fs::read_to_string(f.path()).map(|s| s.split_whitespace().count()));
    /// assert_eq!(p.run_iter(counts)?.collect::<Result<Vec<_>, _>>()?, [3]);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A file that cannot be read fails the stage like a task error.
    pub fn track_files(self) -> Queue<crate::cache::TrackedFile> {
        let settings = self.graph.borrow().cache.clone();
        let q = self.try_map_with(
            move || {
                let s = settings.lock().unwrap_or_else(|e| e.into_inner()).clone();
                // Without a store (cache off, or not writable) files are hashed each time.
                s.enabled
                    .then(|| crate::cache::Store::open_with_limit(&s.dir, s.limit).ok())
                    .flatten()
            },
            |store, path: std::path::PathBuf| -> Result<_, BoxError> {
                let digest = match store {
                    Some(store) => store.file_digest(&path)?,
                    None => crate::cache::Key::digest(&std::fs::read(&path)?),
                };
                Ok(crate::cache::TrackedFile::new(path, digest))
            },
        );
        q.set_default_name("track_files");
        q
    }
}

/// A queue whose next stage is cached: declare the version and parameters, then the stage.
///
/// Created by [`Queue::cached`].
#[must_use = "declaring a stage runs nothing; a Cached declares no stage until map or flat_map"]
pub struct Cached<T> {
    queue: Queue<T>,
    identity: Identity,
}

impl<T> std::fmt::Debug for Cached<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("queue", &self.queue)
            .field("version", &self.identity.version)
            .field("strict", &self.identity.strict)
            .finish()
    }
}

impl<T: Serialize + Send + 'static> Cached<T> {
    /// The stage's version: results stored under another version are not used. Bump it
    /// whenever the task's code (or code it calls) changes what it returns.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.identity.version = version.into();
        self
    }

    /// A parameter of the stage (a constant the task was built with): part of its
    /// identity, so results made with another value are not used.
    ///
    /// # Panics
    /// If `value` cannot be encoded (a map with non-string keys, for instance).
    pub fn param<P: Serialize + ?Sized>(mut self, name: impl Into<String>, value: &P) -> Self {
        self.identity
            .params
            .push((name.into(), encode_param(value)));
        self
    }

    /// Strict mode: the stage's identity also includes a digest of the running executable,
    /// so every rebuild of the binary invalidates its results (safe when versions are not
    /// kept up to date, at the cost of recomputing after any change).
    pub fn strict(mut self) -> Self {
        self.identity.strict = true;
        self
    }

    /// A cached [`Queue::map`].
    pub fn map<U, F>(self, f: F) -> Queue<U>
    where
        U: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        self.try_map(move |x| Ok::<_, std::convert::Infallible>(f(x)))
    }

    /// A cached [`Queue::try_map`]: an error stops the pipeline and nothing is stored.
    pub fn try_map<U, E, F>(self, f: F) -> Queue<U>
    where
        U: Serialize + DeserializeOwned + Send + 'static,
        E: Into<BoxError>,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let factory: CachedFactory<T, U> = Arc::new(move || {
            let f = f.clone();
            Ok(Box::new(move |x| match f(x) {
                Ok(u) => Ok(vec![u]),
                Err(e) => Err((FailureKind::Task, e.into().to_string())),
            }))
        });
        self.stage(StageKind::CachedMap, false, None, factory, None)
    }

    /// A cached [`Queue::flat_map`]: all outputs of one input are stored together.
    pub fn flat_map<I, F>(self, f: F) -> Queue<I::Item>
    where
        I: IntoIterator + 'static,
        I::Item: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let factory: CachedFactory<T, I::Item> = Arc::new(move || {
            let f = f.clone();
            Ok(Box::new(move |x| Ok(f(x).into_iter().collect())))
        });
        self.stage(StageKind::CachedFlatMap, true, None, factory, None)
    }

    /// A cached [`Queue::map_task`]: the registered task's name, parameters and version
    /// (`task!`'s `.version(..)`) are part of the stage's identity. On threads or in worker
    /// processes ([`Queue::processes`]); in processes, a hit is answered by the driver and
    /// its item never goes to a worker.
    ///
    /// The task's version and the stage's ([`Cached::version`]) are combined, not one in
    /// place of the other: bumping either misses. Declare the version with the task, where
    /// its code is, and keep the stage's for what the stage adds (or leave it unset).
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// # let dir = std::env::temp_dir().join(format!("skorche-task-version-doc-{}", std::process::id()));
    /// fn square(n: u64) -> u64 { n * n }
    /// skorche_worker::task! {
    ///     static SQUARE: u64 => u64 = map("doc_cached_square", square).version("2");
    /// }
    /// let run = || -> Result<u64, skorche_core::PipelineError> {
    ///     let p = Pipeline::new();
    ///     p.cache_dir(&dir);
    ///     let squares = p.source(1..=3u64).cached().map_task(&SQUARE);
    ///     let (_, report) = p.run_iter(squares)?.collect_report()?;
    ///     Ok(report.stage("doc_cached_square").unwrap().cache.hits)
    /// };
    /// assert_eq!(run()?, 0);
    /// assert_eq!(run()?, 3); // keyed on "doc_cached_square" version "2"
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn map_task<U>(self, task: impl IntoTask<T, U>) -> Queue<U, crate::TaskStage>
    where
        T: DeserializeOwned,
        U: Serialize + DeserializeOwned + Send + 'static,
    {
        let task = task.into_task();
        let flat = task.is_flat_map();
        let name = task.name().to_string();
        let identity = TaskIdentity {
            name: name.clone(),
            params: task.params().to_vec(),
            version: task.version().map(str::to_string),
        };
        let in_processes = task.clone();
        let process: ProcessLaunch<T> = Box::new(move |cx, cache| {
            let decode = skorche_worker::zero_copy::decode_output::<U>;
            crate::coordinator::launch_cached(in_processes, decode, None, cache, cx)
        });
        let factory: CachedFactory<T, U> = Arc::new(move || {
            let mut instance = task.instantiate().map_err(|f| f.message)?;
            Ok(Box::new(move |x| {
                instance
                    .call(x)
                    .map(|out| out.into_vec())
                    .map_err(|f| (crate::exec::emit::kind_of(&f), f.message))
            }))
        });
        let q = self.stage(
            StageKind::CachedTask,
            flat,
            Some(identity),
            factory,
            Some(process),
        );
        {
            let mut g = q.graph.borrow_mut();
            let producer = g.queues[q.id].producer;
            g.nodes[producer].process_capable = true;
            if let Some(n) = g.default_processes {
                g.nodes[producer].mode = crate::mode::Mode::Processes(n);
            }
        }
        q.set_default_name(&name);
        q.reshape()
    }

    fn stage<U: Serialize + DeserializeOwned + Send + 'static>(
        self,
        kind: StageKind,
        flat: bool,
        task: Option<TaskIdentity>,
        factory: CachedFactory<T, U>,
        process: Option<ProcessLaunch<T>>,
    ) -> Queue<U> {
        let settings = self.queue.graph.borrow().cache.clone();
        let runner = CachedRunner {
            factory,
            flat,
            kind: kind.as_str(),
            task,
            identity: self.identity,
            settings,
            process,
        };
        self.queue
            .add_stage(kind, None, true, Box::new(runner), 1)
            .pop()
            .expect("one output was declared")
    }
}
