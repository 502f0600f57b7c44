//! The result cache on threads: what a second run, a new version or a changed source item
//! recomputes (task calls counted), and what passes through cached stages unchanged.

#[path = "support/cache.rs"]
mod cache_support;
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_support::{Calls, StoreDir};
use skorche::{Event, Pipeline, PipelineError, Placement, Report};

/// `parse -> square -> label`, every stage cached; `middle` is the version of `square`
/// and `offset` what its code adds (a new version that computes something else).
fn three_stages(
    dir: &Path,
    items: Vec<String>,
    middle: &str,
    offset: u64,
    calls: &Calls,
) -> Result<(Vec<String>, Report), PipelineError> {
    let p = Pipeline::new();
    p.cache_dir(dir);
    let (c0, c1, c2) = (calls.clone(), calls.clone(), calls.clone());
    let parsed = p
        .source(items)
        .cached()
        .version("1")
        .map(move |s: String| {
            c0.hit(0);
            s.parse::<u64>().unwrap()
        })
        .name("parse")
        .workers(2);
    let squared = parsed
        .cached()
        .version(middle)
        .map(move |n: u64| {
            c1.hit(1);
            n * n + offset
        })
        .name("square")
        .workers(2);
    let labels = squared
        .cached()
        .version("1")
        .map(move |n: u64| {
            c2.hit(2);
            format!("<{n}>")
        })
        .name("label");
    let (mut out, report) = p.run_iter(labels)?.collect_report()?;
    out.sort();
    Ok((out, report))
}

fn items(values: &[u64]) -> Vec<String> {
    values.iter().map(u64::to_string).collect()
}

fn hits(report: &Report) -> [u64; 3] {
    ["parse", "square", "label"].map(|s| report.stage(s).unwrap().cache.hits)
}

#[test]
fn a_second_run_hits_every_stage_and_runs_no_task() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-second-run");
        let calls = Calls::default();
        let (first, report) =
            three_stages(dir.path(), items(&[1, 2, 3, 4, 5, 6]), "1", 0, &calls).unwrap();
        assert_eq!(calls.take(), [6, 6, 6]);
        assert_eq!(hits(&report), [0, 0, 0]);
        assert!(report.stage("label").unwrap().cache.bytes_written > 0);

        let (second, report) =
            three_stages(dir.path(), items(&[1, 2, 3, 4, 5, 6]), "1", 0, &calls).unwrap();
        assert_eq!(calls.take(), [0, 0, 0], "no task runs on a second run");
        assert_eq!(second, first);
        assert_eq!(hits(&report), [6, 6, 6]);
        let label = report.stage("label").unwrap();
        assert_eq!(label.cache.misses, 0);
        assert_eq!(label.cache.bytes_written, 0);
        assert!(label.cache.bytes_read > 0);
        assert!(report.to_string().contains("hits"));
    });
}

#[test]
fn bumping_the_middle_version_reruns_it_and_the_last_stage_only() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-bump");
        let calls = Calls::default();
        let xs = items(&[1, 2, 3, 4]);
        three_stages(dir.path(), xs.clone(), "1", 0, &calls).unwrap();
        calls.take();

        let (out, report) = three_stages(dir.path(), xs.clone(), "2", 100, &calls).unwrap();
        assert_eq!(calls.take(), [0, 4, 4]);
        assert_eq!(hits(&report), [4, 0, 0]);
        assert_eq!(out, ["<101>", "<104>", "<109>", "<116>"]);

        // Both versions' results are kept: going back reruns nothing.
        three_stages(dir.path(), xs, "1", 0, &calls).unwrap();
        assert_eq!(calls.take(), [0, 0, 0]);
    });
}

#[test]
fn a_new_version_with_the_same_results_leaves_the_stages_below_it_hitting() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-cutoff");
        let calls = Calls::default();
        let xs = items(&[7, 8, 9]);
        three_stages(dir.path(), xs.clone(), "1", 0, &calls).unwrap();
        calls.take();
        // A refactor that returns the same values: only the bumped stage reruns.
        let (out, _) = three_stages(dir.path(), xs, "1.1", 0, &calls).unwrap();
        assert_eq!(calls.take(), [0, 3, 0]);
        assert_eq!(out, ["<49>", "<64>", "<81>"]);
    });
}

#[test]
fn a_changed_source_item_recomputes_only_its_own_path() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-source");
        let calls = Calls::default();
        three_stages(dir.path(), items(&[1, 2, 3, 4, 5]), "1", 0, &calls).unwrap();
        calls.take();
        let (out, report) =
            three_stages(dir.path(), items(&[1, 2, 30, 4, 5]), "1", 0, &calls).unwrap();
        assert_eq!(calls.take(), [1, 1, 1]);
        assert_eq!(hits(&report), [4, 4, 4]);
        let mut expected = ["<1>", "<4>", "<900>", "<16>", "<25>"];
        expected.sort();
        assert_eq!(out, expected);
    });
}

#[test]
fn no_cache_runs_every_task_and_touches_no_store() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-off");
        let calls = Calls::default();
        let p = Pipeline::new();
        p.cache_dir(dir.path()).use_cache(false);
        let c = calls.clone();
        let out = p.source(0..5u32).cached().map(move |n| {
            c.hit(0);
            n + 1
        });
        let (out, report) = p.run_iter(out).unwrap().collect_report().unwrap();
        assert_eq!(out.len(), 5);
        assert_eq!(calls.take(), [5, 0, 0]);
        assert_eq!(report.stages[1].cache, Default::default());
        assert!(!dir.path().exists());
    });
}

/// An ordered section with a cached flat_map over batches, with markers: the same items in
/// the same order, with the markers in their places, on the computing and on the reading run.
#[test]
fn order_batches_flat_map_and_markers_pass_through_cached_stages() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-order");
        let calls = Calls::default();
        let run = |calls: &Calls| {
            let p = Pipeline::new();
            p.cache_dir(dir.path());
            let (c0, c1, c2) = (calls.clone(), calls.clone(), calls.clone());
            let (src, _every4) = p.source(0..20u32).insert_periodic(4, Placement::After);
            let (src, point) = src.order_save(64);
            // A batch's results are kept together under the batch's key, and come out in
            // its members' places.
            let tens = src
                .batch(3)
                .cached()
                .version("1")
                .flat_map(move |b: Vec<u32>| {
                    c0.hit(0);
                    // Early batches finish last, so that later ones overtake them.
                    std::thread::sleep(Duration::from_millis(u64::from(20 - b[0])));
                    b.into_iter().map(|n| n * 10).collect::<Vec<_>>()
                })
                .workers(3);
            let spread = tens
                .cached()
                .version("1")
                .flat_map(move |n: u32| {
                    c1.hit(1);
                    std::thread::sleep(Duration::from_millis(u64::from(200 - n) / 20));
                    [n, n + 1]
                })
                .workers(3);
            let doubled = spread
                .cached()
                .version("1")
                .map(move |n: u32| {
                    c2.hit(2);
                    n * 2
                })
                .workers(2)
                .order_load(point);
            let mut out = p.run_iter(doubled).unwrap();
            let mut seen = Vec::new();
            while let Some(e) = out.next_event() {
                seen.push(match e.unwrap() {
                    Event::Item(n) => n.to_string(),
                    Event::Marker(id) => format!("M{}", id.count),
                });
            }
            seen
        };
        let first = run(&calls);
        let [batches, items, outputs] = calls.take();
        assert!(batches >= 7, "20 items in batches of at most 3");
        assert_eq!((items, outputs), (20, 40));
        let second = run(&calls);
        assert_eq!(calls.take(), [0, 0, 0]);
        assert_eq!(first, second);
        let expected: Vec<String> = (0..20u32)
            .flat_map(|n| {
                let marker = (n % 4 == 3).then(|| format!("M{}", n / 4));
                [(n * 20).to_string(), ((n * 10 + 1) * 2).to_string()]
                    .into_iter()
                    .chain(marker)
            })
            .collect();
        assert_eq!(first, expected);
    });
}

static DOUBLED: AtomicUsize = AtomicUsize::new(0);

fn double(n: u64) -> u64 {
    DOUBLED.fetch_add(1, Ordering::Relaxed);
    n * 2
}

skorche::task! {
    static DOUBLE: u64 => u64 = map("cache_test_double", double);
}

#[test]
fn a_registered_task_is_cached_under_its_name() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-task");
        let run = || {
            let p = Pipeline::new();
            p.cache_dir(dir.path());
            let out = p.source(0..5u64).cached().version("1").map_task(&DOUBLE);
            let (mut out, report) = p.run_iter(out).unwrap().collect_report().unwrap();
            out.sort();
            (out, report.stage("cache_test_double").unwrap().cache)
        };
        let (first, counts) = run();
        assert_eq!(first, [0, 2, 4, 6, 8]);
        assert_eq!((counts.hits, counts.misses), (0, 5));
        assert_eq!(DOUBLED.swap(0, Ordering::Relaxed), 5);
        let (second, counts) = run();
        assert_eq!(second, first);
        assert_eq!((counts.hits, counts.misses), (5, 0));
        assert_eq!(DOUBLED.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn strict_mode_and_parameters_are_part_of_the_identity() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-strict");
        let calls = Calls::default();
        let run = |strict: bool, factor: u32| {
            let p = Pipeline::new();
            p.cache_dir(dir.path());
            let c = calls.clone();
            let mut cached = p
                .source(1..=4u32)
                .cached()
                .version("1")
                .param("factor", &factor);
            if strict {
                cached = cached.strict();
            }
            let out = cached
                .map(move |n| {
                    c.hit(0);
                    n * factor
                })
                .name("scale");
            let mut out: Vec<u32> = p.run_iter(out).unwrap().map(Result::unwrap).collect();
            out.sort();
            out
        };
        assert_eq!(run(false, 2), [2, 4, 6, 8]);
        assert_eq!(calls.take()[0], 4);
        assert_eq!(
            run(false, 3),
            [3, 6, 9, 12],
            "another parameter value misses"
        );
        assert_eq!(calls.take()[0], 4);
        assert_eq!(
            run(true, 2),
            [2, 4, 6, 8],
            "strict mode is another identity"
        );
        assert_eq!(calls.take()[0], 4);
        // The same build: strict results are read back.
        assert_eq!(run(true, 2), [2, 4, 6, 8]);
        assert_eq!(calls.take()[0], 0);
    });
}
