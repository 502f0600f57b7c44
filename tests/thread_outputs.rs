//! Several outputs, the run report, and the DOT/Mermaid renderings.

mod support;

use skorche::core::{Mode, Pipeline};
use support::watchdog;

#[test]
fn several_outputs_are_read_concurrently_to_the_end() {
    let (small, large, doubled) = watchdog(|| {
        let p = Pipeline::new();
        let (small, large) = p.source(0..10_000u32).split(|&n| n < 100);
        let (large, doubled) = large.split(|n| n % 2 == 0);
        let small = p.output(small);
        let large = p.output(large);
        let doubled = p.output(doubled.map(|n| n * 2).workers(2));
        let mut running = p.start().unwrap();
        let (small, large, doubled) = (
            running.take(small),
            running.take(large),
            running.take(doubled),
        );
        let r1 = std::thread::spawn(move || large.collect::<Result<Vec<_>, _>>());
        let r2 = std::thread::spawn(move || doubled.collect::<Result<Vec<_>, _>>());
        let small = small.collect::<Result<Vec<_>, _>>().unwrap();
        (
            small,
            r1.join().unwrap().unwrap(),
            r2.join().unwrap().unwrap(),
        )
    });
    assert_eq!(small, (0..100).collect::<Vec<_>>());
    assert_eq!(
        large,
        (100..10_000).filter(|n| n % 2 == 0).collect::<Vec<_>>()
    );
    let mut doubled = doubled;
    doubled.sort();
    let expected: Vec<u32> = (100..10_000)
        .filter(|n| n % 2 == 1)
        .map(|n| n * 2)
        .collect();
    assert_eq!(doubled, expected);
}

#[test]
fn run_returns_a_report_with_right_items_in_and_out_per_stage() {
    let report = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..1000u32)
            .name("numbers")
            .filter(|x| x % 4 != 0)
            .workers(2)
            .name("drop_fourths")
            .flat_map(|x| [x, x])
            .name("twice")
            .batch(100)
            .name("hundreds")
            .unbatch()
            .name("items")
            .map(|x| x + 1)
            .workers(3)
            .name("plus_one");
        drop(q);
        p.run().unwrap()
    });
    let io = |name: &str| {
        let s = report.stage(name).unwrap();
        (s.items_in, s.items_out)
    };
    assert_eq!(io("numbers"), (1000, 1000));
    assert_eq!(io("drop_fourths"), (1000, 750));
    assert_eq!(io("twice"), (750, 1500));
    assert_eq!(io("hundreds"), (1500, 15));
    assert_eq!(io("items"), (15, 1500));
    assert_eq!(io("plus_one"), (1500, 1500));
    assert_eq!(report.stage("plus_one").unwrap().mode, Mode::Threads(3));
    assert!(report.stages.iter().all(|s| s.errors == 0));
    let table = report.to_string();
    assert!(
        table.contains("drop_fourths") && table.contains("750"),
        "{table}"
    );
}

#[test]
fn iterator_form_report_counts_the_items_it_yielded() {
    let (out, report) = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..500u64).map(|x| x * x).name("square");
        p.run_iter(q).unwrap().collect_report()
    })
    .unwrap();
    assert_eq!(out.len(), 500);
    assert_eq!(report.stage("square").unwrap().items_in, 500);
    assert_eq!(report.stage("square").unwrap().items_out, 500);
}

fn rendered_pipeline() -> Pipeline {
    let p = Pipeline::new();
    let q = p
        .source(0..10u32)
        .name("read")
        .capacity(17)
        .map(|x| x + 1)
        .workers(3)
        .name("parse")
        .capacity(5)
        .filter(|_| true)
        .name("keep");
    drop(q);
    p
}

#[test]
fn to_dot_shows_stage_names_worker_counts_and_capacities() {
    let dot = rendered_pipeline().to_dot();
    assert!(dot.starts_with("digraph"), "{dot}");
    for needle in [
        "read",
        "parse",
        "keep",
        "3 threads",
        "1 thread",
        "[17]",
        "[5]",
    ] {
        assert!(dot.contains(needle), "{needle:?} missing from\n{dot}");
    }
    assert!(dot.contains("->"));
}

#[test]
fn to_mermaid_shows_stage_names_worker_counts_and_capacities() {
    let m = rendered_pipeline().to_mermaid();
    assert!(m.starts_with("flowchart"), "{m}");
    for needle in [
        "read",
        "parse",
        "keep",
        "3 threads",
        "1 thread",
        "[17]",
        "[5]",
    ] {
        assert!(m.contains(needle), "{needle:?} missing from\n{m}");
    }
    assert!(m.contains("-->"));
}

#[test]
fn run_with_a_declared_output_never_taken_drops_its_items_and_finishes() {
    // More items than the output queue holds: nobody reads them, and the run must not
    // block on the full queue.
    let report = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..1000u32).map(|x| x + 1).name("inc");
        let _never_taken = p.output(q);
        p.run()
    })
    .unwrap();
    assert_eq!(report.stage("inc").unwrap().items_out, 1000);
}
