//! Cached registered tasks in worker processes: a hit is answered by the driver and its item
//! never goes to a worker; misses are stored as the workers answered them (inline or through
//! shared memory), in the positions a worker's answer takes.

#[path = "support/cache.rs"]
mod cache_support;
mod support;

use cache_support::StoreDir;
use skorche::worker::builtin;
use skorche::{Event, Pipeline, Placement, StageReport};

const WORKER: &str = env!("CARGO_BIN_EXE_skorche-test-worker");

/// Values that crossed between the driver and the stage's workers.
fn crossed(s: &StageReport) -> u64 {
    s.inline + s.via_shm
}

#[test]
fn a_second_run_sends_no_item_to_a_worker() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-proc-hits");
        let run = |items: Vec<(u64, u64)>| {
            let p = Pipeline::new();
            p.worker_program(WORKER).cache_dir(dir.path());
            // Outputs of 256 KiB go through the workers' shared-memory rings.
            let bytes = p
                .source(items)
                .cached()
                .version("1")
                .map_task(&builtin::PRODUCE_BYTES)
                .processes(2);
            let sums =
                bytes.map(|b: Vec<u8>| (b.len(), b.iter().map(|&x| u64::from(x)).sum::<u64>()));
            let (mut out, report) = p.run_iter(sums).unwrap().collect_report().unwrap();
            out.sort();
            (out, report.stage("produce_bytes").unwrap().clone())
        };
        let items: Vec<(u64, u64)> = (0..12)
            .map(|i| (i, if i % 2 == 0 { 256 << 10 } else { 100 }))
            .collect();
        let (first, stage) = run(items.clone());
        assert_eq!((stage.cache.hits, stage.cache.misses), (0, 12));
        assert!(stage.via_shm > 0, "large outputs came through the rings");
        assert!(stage.cache.bytes_written > 6 * (256 << 10));

        let (second, stage) = run(items.clone());
        assert_eq!(second, first);
        assert_eq!((stage.cache.hits, stage.cache.misses), (12, 0));
        assert_eq!(crossed(&stage), 0, "no item went to a worker");
        assert_eq!(stage.items_out, 12);

        // One new item: only it goes to a worker.
        let mut more = items;
        more.push((99, 1000));
        let (third, stage) = run(more);
        assert_eq!(third.len(), 13);
        assert_eq!((stage.cache.hits, stage.cache.misses), (12, 1));
        assert_eq!(crossed(&stage), 2, "its input and its output");
    });
}

#[test]
fn hits_keep_their_places_among_markers_and_in_ordered_sections() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-proc-order");
        let run = || {
            let p = Pipeline::new();
            p.worker_program(WORKER).cache_dir(dir.path());
            let (src, _m) = p.source(1..=9u64).insert_periodic(3, Placement::After);
            let (src, point) = src.order_save(32);
            let repeated = src
                .cached()
                .version("1")
                .map_task(&builtin::REPEAT_N) // n copies of n: a flat map
                .processes(2)
                .order_load(point);
            let mut out = p.run_iter(repeated).unwrap();
            let mut seen = Vec::new();
            while let Some(e) = out.next_event() {
                seen.push(match e.unwrap() {
                    Event::Item(n) => n.to_string(),
                    Event::Marker(id) => format!("M{}", id.count),
                });
            }
            (
                seen,
                out.report().unwrap().stage("repeat_n").unwrap().clone(),
            )
        };
        let (first, stage) = run();
        assert_eq!(stage.cache.misses, 9);
        let expected: Vec<String> = (1..=9u64)
            .flat_map(|n| {
                let marker = (n % 3 == 0).then(|| format!("M{}", n / 3 - 1));
                std::iter::repeat_n(n.to_string(), n as usize).chain(marker)
            })
            .collect();
        assert_eq!(first, expected);
        let (second, stage) = run();
        assert_eq!((stage.cache.hits, crossed(&stage)), (9, 0));
        assert_eq!(second, expected);
    });
}

#[test]
fn thread_and_process_results_are_kept_apart() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-proc-modes");
        let run = |processes: bool| {
            let p = Pipeline::new();
            p.worker_program(WORKER).cache_dir(dir.path());
            let q = p
                .source(0..5u64)
                .cached()
                .version("1")
                .map_task(&builtin::IDENTITY_U64);
            let q = if processes { q.processes(1) } else { q };
            let (mut out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
            out.sort();
            (out, report.stage("identity_u64").unwrap().cache)
        };
        let (threads, c) = run(false);
        assert_eq!((c.hits, c.misses), (0, 5));
        // Stored in another form in processes: computed there once, then read.
        let (procs, c) = run(true);
        assert_eq!((threads, c.misses), (procs.clone(), 5));
        let (again, c) = run(true);
        assert_eq!((again, c.hits), (procs, 5));
    });
}
