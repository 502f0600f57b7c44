//! The result cache: a stage's results kept across runs, keyed by blake3 digests.
//!
//! Opt in per stage with [`Queue::cached`](crate::Queue::cached), declared on the stage's
//! input like a failure policy; the stage then reads each input's result from the store
//! when it has one, and runs its task (and stores the result) when not. A hit skips the task
//! entirely; a stage whose every input hits never even builds its task.
//!
//! ```
//! use skorche_core::Pipeline;
//! # let dir = std::env::temp_dir().join(format!("skorche-cache-doc-{}", std::process::id()));
//!
//! let run = || -> Result<(Vec<u64>, u64), skorche_core::PipelineError> {
//!     let p = Pipeline::new();
//!     p.cache_dir(&dir);
//!     let squares = p.source(1..=3u64).cached().version("1").map(|n| n * n).name("square");
//!     let (out, report) = p.run_iter(squares)?.collect_report()?;
//!     Ok((out, report.stages[1].cache.hits))
//! };
//! assert_eq!(run()?, (vec![1, 4, 9], 0)); // first run: computed and stored
//! assert_eq!(run()?, (vec![1, 4, 9], 3)); // second run: every item read from the store
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), skorche_core::PipelineError>(())
//! ```
//!
//! # Keys
//! An input's key is `blake3(stage identity, blake3(encoded input))`. The identity is the
//! stage's operation and name (a registered task's name, parameters and the version declared
//! with it in `task!`, `.version("2")`), the **version** the user declares on the stage
//! ([`Cached::version`]; combined with the task's, see [`Cached::map_task`]), the declared
//! parameters ([`Cached::param`]), and, in strict mode ([`Cached::strict`]), a digest of
//! the running executable.
//!
//! Rust cannot hash a closure's code, nor the code it calls: **the version is the
//! contract**. Bump it whenever the stage's code changes what it returns; a stale version
//! returns the old results. Strict mode trades hits for safety: every rebuild of the binary
//! invalidates the stage.
//!
//! Since the key is made from the input's *value*, whatever changes upstream (a source
//! item, a cached stage's version, an uncached closure between two cached stages) changes
//! the keys exactly of the items whose value it changed: a changed source item recomputes
//! only its own path, and a new version of a stage whose results come out the same leaves
//! every stage below it hitting. A batch's key is made from its members' values; a
//! `flat_map`'s outputs for one input are kept together under the input's key. Markers,
//! skips and ordered sections pass through a cached stage as through any other.
//!
//! # Files
//! A path says nothing of what the file holds: [`Queue::track_files`](crate::Queue::track_files)
//! turns paths into [`TrackedFile`]s, keyed by their content (hashed once, then known by
//! path, size and modification time).
//!
//! # The store
//! One directory ([`DEFAULT_DIR`] by default, [`Pipeline::cache_dir`](crate::Pipeline::cache_dir)
//! to change it), shared by any number of processes at once: see [`Store`] for its layout,
//! crash safety and damage checks. Least recently used entries are evicted past a size
//! limit ([`Pipeline::cache_limit`](crate::Pipeline::cache_limit), [`DEFAULT_LIMIT`]).
//! Inside a run, the cache never fails the pipeline once the store is open: a lookup that
//! fails is a miss and a write that fails is logged.
//!
//! # Process mode
//! A cached registered task ([`Cached::map_task`]) may run in worker processes
//! ([`Queue::processes`](crate::Queue::processes)): the driver looks each item up before
//! sending it, and a hit never reaches a worker (its outputs leave behind what was sent
//! before it, like a marker). Outputs are stored as the workers encoded them, under keys
//! of their own: results computed on threads are not read in processes, and the reverse.
//! A cached process stage fed straight by another process stage (its inputs still encoded
//! in that stage's rings) is not cached: a warning says so; put a thread stage between.

#[cfg(feature = "cache")]
mod codec;
#[cfg(feature = "cache")]
mod error;
#[cfg(feature = "cache")]
mod file;
#[cfg(feature = "cache")]
mod key;
#[cfg(all(feature = "cache", feature = "process"))]
pub(crate) mod process;
mod settings;
#[cfg(feature = "cache")]
mod store;

#[cfg(feature = "cache")]
pub use crate::queue_cache::Cached;
#[cfg(feature = "cache")]
pub(crate) use codec::{decode, encode};
#[cfg(feature = "cache")]
pub use error::CacheError;
#[cfg(feature = "cache")]
pub use file::TrackedFile;
#[cfg(feature = "cache")]
pub use key::Key;
#[cfg(feature = "cache")]
pub(crate) use key::{encode_param, item_key, Identity};
pub(crate) use settings::CacheCounters;
pub use settings::CacheCounts;
#[cfg(feature = "cache")]
pub(crate) use settings::{Settings, SharedSettings};
pub use settings::{DEFAULT_DIR, DEFAULT_LIMIT};
#[cfg(feature = "cache")]
pub use store::{GcStats, Store, StoreStats};
