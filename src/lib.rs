//! skorche: declarative, typed data-processing pipelines.
//!
//! Write plain functions, bind them to typed, bounded queues, and run: each stage runs on
//! its own worker threads, every queue applies backpressure, and the output can be read
//! as an iterator while the pipeline runs.
//!
//! ```
//! use skorche::prelude::*;
//!
//! fn parse(line: String) -> Result<u64, std::num::ParseIntError> {
//!     line.trim().parse()
//! }
//!
//! let p = Pipeline::new();
//! let lines = p.source(vec!["3".to_string(), "14".into(), "15".into(), "92".into()]);
//! let numbers = lines.try_map(parse).workers(2).name("parse");
//! let (even, odd) = numbers.split(|n| n % 2 == 0);
//! let halves = even.map(|n| n / 2);
//! let squares = odd.map(|n| n * n);
//! let all = p.merge([halves, squares]);
//!
//! println!("{}", p.to_dot()); // the graph, before anything runs
//! let (mut out, report) = p.run_iter(all)?.collect_report()?;
//! out.sort();
//! assert_eq!(out, [7, 9, 46, 225]);
//! assert_eq!(report.stage("parse").unwrap().items_out, 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Declaring
//!
//! A [`Pipeline`] hands out [`Queue`]s: [`Pipeline::source`] makes one from any iterator,
//! and every operation consumes a queue and returns the next:
//!
//! | operation | from | to |
//! |---|---|---|
//! | [`map`](Queue::map), [`try_map`](Queue::try_map), [`map_with`](Queue::map_with) | `Queue<T>` | `Queue<U>` |
//! | [`chain`](Queue::chain) (several tasks in one stage, or one per group) | `Queue<T>` | `Queue<U>` |
//! | [`map_task`](Queue::map_task) (a registered task) | `Queue<T>` | `Queue<U, TaskStage>` |
//! | [`filter`](Queue::filter) | `Queue<T>` | `Queue<T>` |
//! | [`flat_map`](Queue::flat_map) | `Queue<T>` | `Queue<U>` |
//! | [`split`](Queue::split), [`split_by`](Queue::split_by) | `Queue<T>` | 2 or n `Queue<T>` |
//! | [`batch`](Queue::batch) / [`unbatch`](Queue::unbatch) | `Queue<T>` / `Queue<Vec<T>>` | `Queue<Vec<T>>` / `Queue<T>` |
//! | [`batch_timeout`](Queue::batch_timeout) (full, or oldest waited long enough) | `Queue<T>` | `Queue<Vec<T>>` |
//! | [`window`](Queue::window) (sliding or tumbling, by count) | `Queue<T>` | `Queue<Vec<T>>` |
//! | [`tee`](Queue::tee), [`tee2`](Queue::tee2) (every item to each) | `Queue<T>` | n or 2 `Queue<T>` |
//! | [`inspect`](Queue::inspect) (look, pass on) | `Queue<T>` | `Queue<T>` |
//! | [`fold`](Queue::fold) (one result at the end) | `Queue<T>` | `Queue<S>` |
//! | [`scan`](Queue::scan) (a running state) | `Queue<T>` | `Queue<U>` |
//! | [`stateful`](Queue::stateful) (0..n outputs per item, more at the end, through an [`Emitter`]) | `Queue<T>` | `Queue<U>` |
//! | [`Pipeline::merge`] | n `Queue<T>` | `Queue<T>` |
//! | [`Pipeline::zip`] | `Queue<A>`, `Queue<B>` | `Queue<(A, B)>` |
//!
//! [`Pipeline::source`] starts from any iterator, [`Pipeline::try_source`] from one of
//! `Result`s (an `Err` fails the run at that element). `fold`, `scan`, `stateful`,
//! `batch_timeout` and `window` are sequential: they run on one worker.
//!
//! [`workers`](Queue::workers), [`capacity`](Queue::capacity) and [`name`](Queue::name)
//! configure the stage that produced a queue. Types are checked by the compiler: a task
//! whose input type is not the queue's item type does not compile.
//!
//! ```compile_fail
//! use skorche::Pipeline;
//! let p = Pipeline::new();
//! let words = p.source(vec!["a".to_string()]); // Queue<String>
//! let _ = words.map(|n: u64| n + 1);            // a task over u64: does not compile
//! ```
//!
//! Declaring is lazy: it runs nothing, not even the source iterator.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use skorche::Pipeline;
//!
//! let calls = Arc::new(AtomicUsize::new(0));
//! let seen = calls.clone();
//! let p = Pipeline::new();
//! let out = p.source(0..10u32).map(move |x| { seen.fetch_add(1, Ordering::Relaxed); x });
//! assert_eq!(calls.load(Ordering::Relaxed), 0); // declared, not run
//! assert_eq!(p.run_iter(out)?.count(), 10);
//! assert_eq!(calls.load(Ordering::Relaxed), 10);
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! # Running
//!
//! - [`Pipeline::run`] runs to completion and returns the [`Report`]; the items of queues
//!   nobody consumes are dropped (and counted).
//! - [`Pipeline::run_iter`] starts the run and returns an [`Output`]: an iterator over one
//!   queue's items while the stages work. [`Output::collect_report`] reads it to the end
//!   and also returns the report.
//! - [`Pipeline::start`] runs a pipeline with several outputs, declared with
//!   [`Pipeline::output`] and taken from the [`Running`] pipeline. Read them concurrently
//!   (each queue is bounded, so an output nobody reads eventually stalls the run).
//!
//! ```
//! use skorche::Pipeline;
//!
//! let p = Pipeline::new();
//! let (small, large) = p.source(0..100u32).split(|&n| n < 10);
//! let small = p.output(small);
//! let large = p.output(large.map(|n| n * 2));
//! let mut running = p.start()?;
//! let (small, large) = (running.take(small), running.take(large));
//! let reader = std::thread::spawn(move || large.map(|r| r.unwrap()).sum::<u32>());
//! let small: Vec<u32> = small.collect::<Result<_, _>>()?;
//! assert_eq!(small, (0..10).collect::<Vec<_>>());
//! assert_eq!(reader.join().unwrap(), (10..100).map(|n| n * 2).sum::<u32>());
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! # Backpressure
//!
//! Every queue holds at most its [`capacity`](Queue::capacity) (default 64), and the source
//! is pulled only when there is room: a slow stage slows everything upstream, and the
//! items alive inside the run never exceed [`Pipeline::max_in_flight`]. An endless source
//! is fine.
//!
//! ```
//! use skorche::Pipeline;
//!
//! let p = Pipeline::new();
//! let squares = p.source(0u64..).map(|n| n * n).capacity(4); // an endless source
//! let first: Vec<u64> = p.run_iter(squares)?.take(5).collect::<Result<_, _>>()?;
//! assert_eq!(first, [0, 1, 4, 9, 16]); // dropping the output stopped the run
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! # Per-worker state
//!
//! [`Queue::map_with`] builds a state once in each worker (a model, a connection, a
//! scratch buffer) and lends it to the task for every item; it never crosses threads, so
//! it need not be `Send`.
//!
//! ```
//! use std::rc::Rc;
//! use skorche::Pipeline;
//!
//! let p = Pipeline::new();
//! let out = p
//!     .source(vec!["a b", "c d e"])
//!     .map_with(
//!         || (Rc::new(()), Vec::<usize>::new()), // not Send: stays in its worker
//!         |(_, scratch), line: &str| {
//!             scratch.clear();
//!             scratch.extend(line.split(' ').map(str::len));
//!             scratch.len()
//!         },
//!     )
//!     .workers(2);
//! let mut counts: Vec<usize> = p.run_iter(out)?.collect::<Result<_, _>>()?;
//! counts.sort();
//! assert_eq!(counts, [2, 3]);
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! # Errors
//!
//! A task returning `Err` (through [`Queue::try_map`] and friends) or panicking stops the
//! whole pipeline: every worker exits, and the run returns one [`PipelineError`] that
//! names each failed stage, the failing item's sequence number (its index in its source)
//! and the cause.
//!
//! ```
//! use skorche::{FailureKind, Pipeline};
//!
//! let p = Pipeline::new();
//! let parsed = p
//!     .source(vec!["1", "2", "x", "4"])
//!     .try_map(|s: &str| s.parse::<u32>())
//!     .name("parse");
//! let err = p.run_iter(parsed)?.collect::<Result<Vec<u32>, _>>().unwrap_err();
//! let failure = &err.failures()[0];
//! assert_eq!(failure.stage, "parse");
//! assert_eq!(failure.seq, Some(2)); // "x" is item #2 of the source
//! assert_eq!(failure.kind, FailureKind::Task);
//! println!("{err}"); // pipeline failed: stage 'parse', item #2: task error: invalid digit found in string
//!
//! // A StageFailure is a std::error::Error; the task's own error is its source.
//! use std::error::Error;
//! let cause = failure.source().and_then(|e| e.downcast_ref::<std::num::ParseIntError>());
//! assert!(cause.is_some());
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! [`PipelineError::Invalid`] is a mistake in the declaration found when the run starts
//! (an ordered section without its load, say); a setting that can never be right
//! (`capacity(0)`, `workers(0)`, `batch(0)`, ...) panics earlier, where it is declared.
//!
//! # Failure policies
//!
//! Instead of stopping the run, a stage may retry a failed item, skip it or send it to a
//! dead-letter queue, within a failure budget. The policy is declared on the stage's
//! *input* queue and applies to the next stage declared on it:
//! [`retry`](Queue::retry) with a [`backoff`](Queue::backoff), then
//! [`skip_failures`](Queue::skip_failures) or [`dead_letter`](Queue::dead_letter) (a typed
//! side output of [`Failed<T>`]), bounded by [`max_failures`](Queue::max_failures),
//! [`max_failure_rate`](Queue::max_failure_rate) or the run's [`Pipeline::max_failures`].
//! The [`Report`] counts, per stage, `failed`, `retried`, `skipped` and `dead_lettered`
//! items and keeps their first causes.
//!
//! Attempts are at-least-once (a retried task runs again, so a task with side effects may
//! perform them twice); emission is exactly-once per input (only a successful attempt's
//! outputs go downstream); a skipped item has no output, and in an ordered section it
//! leaves an empty position that `order_load` does not wait for; a dead-lettered item
//! appears once in the side output.
//!
//! ```
//! use std::time::Duration;
//! use skorche::{Backoff, Failed, Pipeline};
//!
//! let p = Pipeline::new();
//! let (lines, failed) = p
//!     .source(vec!["1", "2", "three", "4"])
//!     .retry(2)
//!     .backoff(Backoff::fixed(Duration::from_millis(1)))
//!     .dead_letter();
//! let numbers = lines.try_map(|s: &str| s.parse::<u32>()).workers(2).name("parse");
//! let all = p.merge([numbers.map(Ok), failed.map(Err)]);
//! let (out, report) = p.run_iter(all)?.collect_report()?;
//! let dead: Vec<&Failed<&str>> = out.iter().filter_map(|r| r.as_ref().err()).collect();
//! assert_eq!(dead.len(), 1);
//! assert_eq!((dead[0].item, dead[0].attempts), ("three", 2));
//! let parse = report.stage("parse").unwrap();
//! assert_eq!((parse.failed, parse.retried, parse.dead_lettered), (1, 1, 1));
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! # Stopping
//!
//! [`Running::stop`], or a [`StopHandle`] ([`Running::stop_handle`],
//! [`Output::stop_handle`]) from any thread, stops a run gracefully: the sources are not
//! pulled again, the items already inside run to the outputs, and the run ends with
//! [`PipelineError::Interrupted`] carrying the [`Report`]. A second stop, or the
//! [grace period](Pipeline::grace_period) running out, aborts (every worker process killed
//! and reaped). [`Pipeline::stop_on_signals`] lets SIGINT and SIGTERM do the same while the
//! run lives.
//!
//! ```
//! use skorche::{Pipeline, PipelineError, StopOutcome};
//!
//! let p = Pipeline::new();
//! let out = p.source(0u64..).map(|n| n + 1); // an endless source
//! let mut out = p.run_iter(out)?;
//! let stop = out.stop_handle();
//! let mut seen = 0u64;
//! let end = loop {
//!     match out.next() {
//!         Some(Ok(n)) => {
//!             seen += 1;
//!             assert_eq!(n, seen); // every item finished before the stop, in order
//!             if seen == 100 {
//!                 stop.stop();
//!             }
//!         }
//!         Some(Err(e)) => break e,
//!         None => unreachable!(),
//!     }
//! };
//! let PipelineError::Interrupted(stopped) = end else { panic!("{end}") };
//! assert_eq!(stopped.outcome, StopOutcome::Drained);
//! assert_eq!(stopped.report.stages[1].items_out, seen);
//! # Ok::<(), PipelineError>(())
//! ```
//!
//! # Rendering
//!
//! [`Pipeline::to_dot`] (Graphviz) and [`Pipeline::to_mermaid`] draw the declared graph
//! before it runs: each stage with its kind and workers, each queue with its item type and
//! capacity. The [`Report`]'s `Display` is a table of per-stage measurements.
//!
//! ```
//! use skorche::Pipeline;
//!
//! let p = Pipeline::new();
//! let out = p.source(0..3u8).map(u32::from).workers(2).name("widen");
//! assert!(p.to_dot().starts_with("digraph"));
//! assert!(p.to_mermaid().contains("widen"));
//! # let _ = out;
//! ```
//!
//! # Seeing where time goes
//!
//! Every run measures each worker's idle time (waiting for input), blocked time (waiting
//! for room downstream) and a sampled task-time histogram, at next to no cost
//! ([`Pipeline::metrics`] turns it off). The [`Report`] then gives each stage busy, blocked
//! and idle shares, p50/p99 task times, the queue wait and a [`Verdict`] in plain words, and
//! names the bottleneck; [`Report::to_dot`] draws the graph as a heat map.
//! [`Running::stats`] is the same live, and [`Pipeline::progress`] draws it on the terminal.
//!
//! A stage given a range of workers (`.workers(1..=8)`, `.processes(1..=8)`) is sized while
//! it runs, within [`Pipeline::worker_budget`]; [`Report::scaling`] lists the steps.
//!
//! ```
//! use std::time::Duration;
//! use skorche::{Pipeline, Verdict};
//!
//! let p = Pipeline::new();
//! let slow = p.source(0..100u32).map(|n| {
//!     std::thread::sleep(Duration::from_millis(2));
//!     n
//! });
//! let (_, report) = p.run_iter(slow.name("slow"))?.collect_report()?;
//! assert_eq!(report.bottleneck.as_deref(), Some("slow"));
//! assert!(matches!(report.stage("slow").unwrap().verdict, Some(Verdict::Bottleneck { .. })));
//! assert!(report.to_dot().contains("bold"));
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! # Zero-copy payloads
//!
//! In process mode, a value of at least [`shm_threshold`](Queue::shm_threshold) bytes goes
//! through a shared-memory ring. Declared with [`Queue::map_task_as`], a stage hands its
//! outputs to the driver where the worker wrote them: a [`ShmBytes`] (derefs to `[u8]`) or a
//! [`ShmSlice<T>`] (derefs to `[T]` for plain-old-data `T`) holds the ring record in place and
//! releases it when dropped, in any order, also after the run has ended or its worker died.
//! Holding values is backpressure on the worker, never an error. A task declared with
//! `map_in_place` reads its input where it lies in the ring; one declared with `fill_bytes`
//! or `fill_slice` writes its output straight into the ring. On threads the same code runs
//! and the values simply own their data:
//!
//! ```
//! use skorche::{Pipeline, ShmBytes, ShmSlice};
//!
//! fn zeros(len: u64) -> Vec<u8> { vec![0; len as usize] }
//! fn ones(len: &u64) -> usize { *len as usize }
//! fn fill_ones(_: u64, out: &mut [f32]) { out.fill(1.0); }
//! fn count_zeros(bytes: &[u8]) -> u64 { bytes.iter().filter(|&&b| b == 0).count() as u64 }
//! skorche::worker::task! {
//!     static ZEROS: u64 => Vec<u8> = map("doc_zeros_facade", zeros);
//!     static ONES: u64 => ShmSlice<f32> = fill_slice("doc_ones_facade", ones, fill_ones);
//!     static COUNT: ShmBytes => u64 = map_in_place("doc_count_facade", count_zeros);
//! }
//!
//! let p = Pipeline::new();
//! let bytes = p.source([3u64, 5]).map_task_as::<_, ShmBytes>(&ZEROS); // Queue<ShmBytes>
//! let counts = bytes.map_task(&COUNT);
//! assert_eq!(p.run_iter(counts)?.collect::<Result<Vec<_>, _>>()?, [3, 5]);
//!
//! let p = Pipeline::new();
//! let floats = p.source([4u64]).map_task_as::<_, ShmSlice<f32>>(&ONES);
//! let first: ShmSlice<f32> = p.run_iter(floats)?.next().unwrap()?;
//! assert_eq!(&first[..], &[1.0; 4]);
//! assert_eq!(first.into_vec(), vec![1.0; 4]);
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! `examples/zero_copy.rs` runs the same in worker processes, and
//! `examples/bench_zero_copy.rs` measures it.
//!
//! # Threads or processes
//!
//! A stage runs on threads ([`workers`](Queue::workers)) or in worker processes
//! ([`processes`](Queue::processes)). A closure cannot cross a process boundary, so a
//! process stage runs a **registered task**: a plain function declared once with
//! [`task!`], under a name unique in the program, and bound with
//! [`map_task`](Queue::map_task). The same task runs on threads unchanged:
//!
//! ```
//! use skorche::prelude::*;
//!
//! fn parse(line: String) -> Result<u64, std::num::ParseIntError> {
//!     line.trim().parse()
//! }
//! fn square(n: u64) -> u64 {
//!     n * n
//! }
//!
//! skorche::task! {
//!     static PARSE: String => u64 = try_map("doc_facade_parse", parse);
//!     static SQUARE: u64 => u64 = map("doc_facade_square", square);
//! }
//!
//! let p = Pipeline::new();
//! let lines = p.source(["3", "14", "15"].map(String::from));
//! let squares = lines.map_task(&PARSE).map_task(&SQUARE).workers(2).ordered(); // threads
//! let out: Vec<u64> = p.run_iter(squares)?.collect::<Result<_, _>>()?;
//! assert_eq!(out, [9, 196, 225]);
//! # Ok::<(), PipelineError>(())
//! ```
//!
//! In worker processes, the workers are this same executable run again, so `main` calls
//! [`enter`] first thing (in a worker process it serves the task and never returns):
//!
//! ```no_run
//! use skorche::prelude::*;
//!
//! fn square(n: u64) -> u64 {
//!     n * n
//! }
//! task! {
//!     static SQUARE: u64 => u64 = map("doc_facade_square_processes", square);
//! }
//!
//! fn main() -> Result<(), PipelineError> {
//!     skorche::enter(); // first thing in main
//!     let p = Pipeline::new();
//!     let squares = p.source(0..1000u64).map_task(&SQUARE).processes(2);
//!     let (out, report) = p.run_iter(squares)?.collect_report()?;
//!     assert_eq!(out.len(), 1000);
//!     println!("{report}");
//!     Ok(())
//! }
//! ```
//!
//! # Async applications
//!
//! With the default feature `stream`, an [`Output`] is also a `futures_core::Stream` (and
//! [`Output::into_stream`] gives a value that is only a stream, so `StreamExt` methods need
//! no disambiguation), and [`Pipeline::source_stream`] feeds a pipeline from a stream.
//! Neither blocks an async runtime's thread; see `tests/async_stream.rs` for tokio.
//!
//! # Settings the compiler checks
//!
//! The process settings ([`processes`](Queue::processes),
//! [`shm_threshold`](Queue::shm_threshold), [`item_timeout`](Queue::item_timeout),
//! [`process_batching`](Queue::process_batching), [`worker_program`](Queue::worker_program),
//! ...) exist only on the queue of a registered-task stage, a `Queue<U, TaskStage>`; a
//! closure stage's `Queue<U>` has the settings every stage has. Asking a closure stage to run
//! in processes does not compile:
//!
//! ```compile_fail
//! use skorche::prelude::*;
//! let p = Pipeline::new();
//! let q = p.source(0..10u64).map(|x| x + 1).processes(2); // no method `processes`
//! ```
//!
//! Everything that takes a queue accepts both; [`into_any`](Queue::into_any) turns a task
//! stage's queue into a `Queue<U>` for an array or a `Vec` of queues of both kinds.
//!
//! # Chains and default scales
//!
//! A [`Chain`] fuses named closures into one stage; [`Chain::workers`] gives the steps
//! declared so far a stage and a worker count of their own. A registered task chained with
//! [`then`](worker::registry::BoundTask::then) is one task: one stage, and in processes one
//! trip to a worker per item for all its steps. A task declared with `.workers(n)` or
//! `.processes(n)` in [`task!`] gets that scale in any stage that sets none:
//!
//! ```
//! use skorche::prelude::*;
//! use skorche::Mode;
//!
//! fn double(x: u64) -> u64 { x * 2 }
//! fn show(x: u64) -> String { x.to_string() }
//! task! {
//!     static DOUBLE: u64 => u64 = map("doc_facade_double_on_2", double).workers(2);
//!     static SHOW: u64 => String = map("doc_facade_show", show);
//! }
//!
//! let p = Pipeline::new();
//! let labels = p
//!     .source(0..4u64)
//!     .map_task(DOUBLE.then(&SHOW)) // one stage for both tasks, on DOUBLE's 2 threads
//!     .chain(Chain::map("tag", |s: String| format!("#{s}")).then_map("len", |s| s.len()).workers(3));
//! let mut out = p.run_iter(labels.ordered())?;
//! assert_eq!(out.by_ref().collect::<Result<Vec<_>, _>>()?, [2, 2, 2, 2]);
//! let report = out.report().unwrap();
//! assert_eq!(report.stage("doc_facade_double_on_2+doc_facade_show").unwrap().mode, Mode::Threads(2));
//! assert_eq!(report.stage("tag+len").unwrap().mode, Mode::Threads(3));
//! # Ok::<(), PipelineError>(())
//! ```
//!
//! # Caching results between runs
//!
//! A stage declared after [`Queue::cached`] keeps its results in a store on disk
//! (`.skorche/cache` by default): a later run reads them instead of running the task. The
//! [`cache`] module explains keys, versions (the contract: Rust cannot hash a closure) and
//! the store; [`cli`] gives a driver binary a command line to run, draw and report its
//! pipelines and to manage the store.
//!
//! ```
//! use skorche::Pipeline;
//! # let dir = std::env::temp_dir().join(format!("skorche-facade-cache-{}", std::process::id()));
//!
//! let run = |dir: &std::path::Path| {
//!     let p = Pipeline::new();
//!     p.cache_dir(dir);
//!     let out = p.source(0..4u32).cached().version("1").map(|n| n * 3).name("triple");
//!     p.run_iter(out)?.collect_report()
//! };
//! let (first, _) = run(&dir)?;
//! let (second, report) = run(&dir)?;
//! assert_eq!(first, second);
//! assert_eq!(report.stage("triple").unwrap().cache.hits, 4);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), skorche::PipelineError>(())
//! ```
//!
//! A registered task carries its version with it, `map("triple", triple).version("2")` in
//! [`task!`] (before or after a `.workers(n)` / `.processes(n)`): a cached `map_task` keys
//! on it, combined with the stage's own `.cached().version(..)`, and a worker process whose
//! binary declares the task with another version is refused at handshake.
//!
//! # Cargo features
//!
//! - `process` (default): stages in worker processes: [`Queue::map_task`], `task!`, `enter`,
//!   `processes`, zero-copy `ShmBytes`, and the `worker` and `shm` modules. Linux only for
//!   now (the rings' backing is chosen in `skorche-shm/src/os.rs`). Without it skorche is
//!   thread-only: no worker runtime, shared memory or `nix` is compiled, and it builds on any
//!   platform.
//! - `cache` (default): [`Queue::cached`] and the `cache` module; cached closures work
//!   without `process`.
//! - `cli` (default): the `cli` module, a command line for driver binaries (implies `cache`).
//! - `stream` (default): `Output` as a `futures_core::Stream`, `Pipeline::source_stream`.
//! - `nats` (off by default): the `nats` module, a stage's workers on other hosts through a
//!   NATS JetStream server (`.remote(&nats, n)`, `nats::enter`); see the README's "Running
//!   on several machines".
//! - `test-fixtures`: tasks that fail or abort on purpose, for skorche's own tests, and the
//!   `fixtures` module (the tasks of the multi-host tests).
//!
//! # Crates
//!
//! This facade re-exports `core` (the graph API and executor: everything at the top level
//! here) and, with `process`, `worker` (the worker-process runtime) and `shm` (the
//! shared-memory ring); `task!` and `enter` come from `worker`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "cache")]
pub use skorche_core::cache;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "test-fixtures")]
pub mod fixtures;

pub use skorche_core as core;
#[cfg(feature = "nats")]
pub use skorche_nats as nats;
#[cfg(feature = "process")]
pub use skorche_shm as shm;
#[cfg(feature = "process")]
pub use skorche_worker as worker;

pub use skorche_core::set_wait_hook;
#[cfg(feature = "process")]
pub use skorche_core::IntoTask;
#[cfg(feature = "stream")]
pub use skorche_core::OutputStream;
pub use skorche_core::{AnyStage, StageKind, TaskStage};
pub use skorche_core::{Backoff, Failed};
pub use skorche_core::{
    BoxError, Chain, Emitter, Event, FailureKind, Marker, MarkerId, Mode, OrderPoint, Output,
    OutputPort, Pipeline, PipelineError, Placement, Polled, Queue, Report, Running, StageFailure,
    StageReport, Until, DEFAULT_ORDER_WINDOW,
};
pub use skorche_core::{Interrupted, StopHandle, StopOutcome, DEFAULT_GRACE_PERIOD};
pub use skorche_core::{ScaleEvent, StageStats, Stats, Verdict, WorkerCount};
#[cfg(feature = "process")]
pub use skorche_shm::{HeldRecord, ShmBytes, ShmSlice, SliceError};
#[cfg(feature = "process")]
pub use skorche_worker::registry::BytesInput;
#[cfg(feature = "process")]
pub use skorche_worker::zero_copy::FromOutput;
#[cfg(feature = "process")]
pub use skorche_worker::{enter, task};

/// The names most pipelines need, for threads and processes alike:
/// `use skorche::prelude::*;`.
///
/// ```
/// use skorche::prelude::*;
///
/// fn double(n: u32) -> u32 {
///     n * 2
/// }
/// task! {
///     static DOUBLE: u32 => u32 = map("doc_prelude_double", double);
/// }
///
/// let p = Pipeline::new();
/// let out: Queue<u32, TaskStage> = p.source(1..4u32).map_task(&DOUBLE);
/// let mut out: Output<u32> = p.run_iter(out)?;
/// assert_eq!(out.by_ref().collect::<Result<Vec<_>, PipelineError>>()?, [2, 4, 6]);
/// let report: &Report = out.report().unwrap();
/// assert_eq!(report.stage("doc_prelude_double").unwrap().items_out, 3);
/// # Ok::<(), PipelineError>(())
/// ```
pub mod prelude {
    pub use skorche_core::{
        Backoff, BoxError, Chain, Emitter, Failed, FailureKind, Marker, Output, Pipeline,
        PipelineError, Placement, Queue, Report, StageFailure, TaskStage,
    };
    #[cfg(feature = "process")]
    pub use skorche_worker::{enter, task};
}
