//! `Queue::cached`: the next stage's results kept in the pipeline's cache store.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::{encode_param, Identity};
use crate::error::{BoxError, FailureKind};
use crate::queue::Queue;
use crate::stage::cached::{CachedFactory, CachedRunner, ProcessLaunch, TaskIdentity};
use crate::StageKind;

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

    /// Declares the cached stage that `runner` parts make, on this queue.
    pub(crate) fn stage<U: Serialize + DeserializeOwned + Send + 'static>(
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
