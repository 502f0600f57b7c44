//! One test per operation of the thread executor.

mod support;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use skorche::core::{Chain, FailureKind, Pipeline, PipelineError};
use support::watchdog;

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn map_applies_the_task_to_every_item_in_order_on_one_worker() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..1000u64).map(|x| x * 3 + 1);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(out, (0..1000u64).map(|x| x * 3 + 1).collect::<Vec<_>>());
}

#[test]
fn map_on_four_workers_applies_the_task_to_every_item_once() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..10_000u64).map(|x| x * 2).workers(4);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(
        sorted(out),
        (0..10_000u64).map(|x| x * 2).collect::<Vec<_>>()
    );
}

#[test]
fn try_map_passes_ok_values_on() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(vec!["1", "22", "333"])
            .try_map(|s: &str| s.parse::<u32>());
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(out, [1, 22, 333]);
}

#[test]
fn try_map_error_stops_the_run_naming_stage_seq_and_error() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(vec!["1", "2", "x", "4"])
            .try_map(|s: &str| s.parse::<u32>())
            .name("parse");
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(err.failures().len(), 1);
    assert_eq!(f.stage, "parse");
    assert_eq!(f.seq, Some(2));
    assert_eq!(f.kind, FailureKind::Task);
    assert!(f.message.contains("invalid digit"), "{}", f.message);
}

#[test]
fn map_with_builds_one_state_per_worker_and_lends_it_to_every_item() {
    const WORKERS: usize = 4;
    let inits = Arc::new(AtomicUsize::new(0));
    let inits2 = inits.clone();
    let out = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..4000u64)
            .map_with(
                move || {
                    // `Rc` is not Send: the state must stay in its worker.
                    let id = inits2.fetch_add(1, Ordering::SeqCst);
                    (Rc::new(id), 0u64)
                },
                |(id, seen), x| {
                    *seen += 1;
                    (**id, *seen, x)
                },
            )
            .workers(WORKERS);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(inits.load(Ordering::SeqCst), WORKERS, "one init per worker");
    assert_eq!(out.len(), 4000);
    // Each state counted 1, 2, 3, ... over the items it saw: its counts are exactly 1..=n.
    let mut per_state: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for &(id, seen, _) in &out {
        per_state.entry(id).or_default().push(seen);
    }
    assert!(per_state.keys().all(|&id| id < WORKERS));
    let mut total = 0;
    for counts in per_state.values() {
        let counts = sorted(counts.clone());
        assert_eq!(counts, (1..=counts.len() as u64).collect::<Vec<_>>());
        total += counts.len();
    }
    assert_eq!(total, 4000);
    let items: Vec<u64> = sorted(out.iter().map(|t| t.2).collect());
    assert_eq!(items, (0..4000).collect::<Vec<_>>());
}

#[test]
fn chain_runs_its_steps_in_sequence_in_one_stage() {
    let (out, report) = watchdog(|| {
        let p = Pipeline::new();
        let steps = Chain::new("parse", |s: String| s.parse::<u32>())
            .then("double", |n: u32| Ok::<_, std::convert::Infallible>(n * 2))
            .then("show", |n: u32| {
                Ok::<_, std::convert::Infallible>(format!("<{n}>"))
            });
        let q = p
            .source(vec!["1".to_string(), "2".into(), "30".into()])
            .chain(steps);
        p.run_iter(q).unwrap().collect_report()
    })
    .unwrap();
    assert_eq!(out, ["<2>", "<4>", "<60>"]);
    // One stage for three steps.
    let chains: Vec<_> = report
        .stages
        .iter()
        .filter(|s| s.kind == skorche::StageKind::Chain)
        .collect();
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0].items_in, 3);
    assert_eq!(chains[0].items_out, 3);
}

#[test]
fn chain_error_names_the_failing_step() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let steps = Chain::new("parse", |s: &str| s.parse::<u32>()).then("check", |n: u32| {
            if n < 10 {
                Ok(n)
            } else {
                Err(format!("{n} too big"))
            }
        });
        let q = p
            .source(vec!["1", "5", "12", "3"])
            .chain(steps)
            .name("steps");
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(f.stage, "steps");
    assert_eq!(f.seq, Some(2));
    assert!(f.message.contains("check"), "{}", f.message);
    assert!(f.message.contains("12 too big"), "{}", f.message);
}

#[test]
fn filter_keeps_only_matching_items() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..1000u32).filter(|x| x % 7 == 0).workers(3);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(
        sorted(out),
        (0..1000).filter(|x| x % 7 == 0).collect::<Vec<_>>()
    );
}

#[test]
fn flat_map_emits_zero_or_more_items_per_input_kept_together_in_order_on_one_worker() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        // Item n becomes n copies of (n, i): item 0 becomes nothing.
        let q = p.source(0..50u32).flat_map(|n| (0..n).map(move |i| (n, i)));
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    let expected: Vec<(u32, u32)> = (0..50u32)
        .flat_map(|n| (0..n).map(move |i| (n, i)))
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn flat_map_on_three_workers_emits_every_item_with_each_inputs_items_in_order() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..200u32)
            .flat_map(|n| (0..n % 13).map(move |i| (n, i)))
            .workers(3);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    // Workers interleave on the shared output queue; within one input the order holds.
    let mut per_input: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (n, i) in out {
        per_input.entry(n).or_default().push(i);
    }
    for n in 0..200u32 {
        let got = per_input.remove(&n).unwrap_or_default();
        assert_eq!(got, (0..n % 13).collect::<Vec<_>>(), "items of input {n}");
    }
    assert!(per_input.is_empty());
}

#[test]
fn split_sends_each_item_to_the_first_queue_if_the_predicate_holds_else_the_second() {
    let (even, odd) = watchdog(|| {
        let p = Pipeline::new();
        let (even, odd) = p.source(0..500u32).split(|x| x % 2 == 0);
        let even = p.output(even);
        let odd = p.output(odd);
        let mut running = p.start().unwrap();
        let (even, odd) = (running.take(even), running.take(odd));
        let reader = std::thread::spawn(move || odd.collect::<Result<Vec<_>, _>>());
        let even = even.collect::<Result<Vec<_>, _>>().unwrap();
        (even, reader.join().unwrap().unwrap())
    });
    assert_eq!(even, (0..500).filter(|x| x % 2 == 0).collect::<Vec<_>>());
    assert_eq!(odd, (0..500).filter(|x| x % 2 == 1).collect::<Vec<_>>());
}

#[test]
fn split_by_sends_each_item_to_the_queue_its_key_names() {
    const N: usize = 5;
    let outs = watchdog(|| {
        let p = Pipeline::new();
        let qs = p.source(0..1000usize).split_by(N, |x| x % N).into_iter();
        // Tag each branch with its index and merge them back.
        let tagged: Vec<_> = qs
            .enumerate()
            .map(|(i, q)| q.map(move |x| (i, x)))
            .collect();
        let all = p.merge(tagged);
        p.run_iter(all).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(outs.len(), 1000);
    for &(branch, x) in &outs {
        assert_eq!(branch, x % N, "item {x} went to branch {branch}");
    }
    let items: Vec<usize> = sorted(outs.iter().map(|t| t.1).collect());
    assert_eq!(items, (0..1000).collect::<Vec<_>>());
}

#[test]
fn split_by_key_out_of_range_fails_naming_the_item() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let qs = p
            .source(0..100usize)
            .split_by(3, |&x| if x == 42 { 3 } else { x % 3 });
        let all = p.merge(qs);
        p.run_iter(all).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(f.stage, "split");
    assert_eq!(f.seq, Some(42));
    assert!(f.message.contains("out of range"), "{}", f.message);
}

#[test]
fn merge_carries_every_item_of_every_input() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let a = p.source(0..300u32);
        let b = p.source(1000..1200u32).map(|x| x + 1);
        let c = p.source(5000..5100u32);
        let all = p.merge([a, b, c]);
        p.run_iter(all).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    let expected: Vec<u32> = (0..300).chain(1001..1201).chain(5000..5100).collect();
    assert_eq!(sorted(out), expected);
}

#[test]
fn zip_pairs_the_items_of_two_queues_one_to_one_in_order() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let left = p.source(0..1000u32);
        let right = p.source((0..1000u32).map(|x| format!("#{x}")));
        let pairs = p.zip(left, right);
        p.run_iter(pairs).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    let expected: Vec<(u32, String)> = (0..1000).map(|x| (x, format!("#{x}"))).collect();
    assert_eq!(out, expected);
}

#[test]
fn zip_of_unequal_lengths_fails_naming_the_zip_stage() {
    let err: PipelineError = watchdog(|| {
        let p = Pipeline::new();
        let pairs = p.zip(p.source(0..10u32), p.source(0..7u32)).name("pairs");
        p.run_iter(pairs).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(f.stage, "pairs");
    assert_eq!(f.seq, Some(7));
    assert!(f.message.contains("right input ended"), "{}", f.message);
}

#[test]
fn batch_groups_items_and_emits_the_last_partial_batch() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..23u32).batch(5);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(
        out,
        vec![
            (0..5).collect::<Vec<u32>>(),
            (5..10).collect(),
            (10..15).collect(),
            (15..20).collect(),
            (20..23).collect(),
        ]
    );
}

#[test]
fn batch_of_an_exact_multiple_emits_no_empty_batch() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..20u32).batch(5);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|b| b.len() == 5));
}

#[test]
fn unbatch_turns_each_batch_back_into_its_items_in_order() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..1003u32).batch(10).unbatch();
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(out, (0..1003).collect::<Vec<_>>());
}

#[test]
fn unbatch_of_empty_batches_emits_nothing_for_them() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(vec![vec![], vec![1u8, 2], vec![], vec![3]])
            .unbatch();
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn every_operation_composes_in_one_graph() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let total = watchdog(move || {
        let p = Pipeline::new();
        let (even, odd) = p.source(0..1000u64).split(|n| n % 2 == 0);
        let halves = even.map(|n| n / 2).workers(2);
        let tripled = odd.try_map(|n| Ok::<_, String>(n * 3)).workers(2);
        let all = p.merge([halves, tripled]).filter(|_| true);
        let numbered = p.zip(all, p.source(0u64..1000));
        let sums = numbered
            .map(|(v, _)| v)
            .batch(100)
            .map(|b| b.iter().sum::<u64>())
            .flat_map(|s| [s, 0]);
        let out: Vec<u64> = p.run_iter(sums).unwrap().collect::<Result<_, _>>().unwrap();
        seen2.lock().unwrap().extend(out.iter().copied());
        out.iter().sum::<u64>()
    });
    let expected: u64 = (0..1000u64)
        .map(|n| if n % 2 == 0 { n / 2 } else { n * 3 })
        .sum();
    assert_eq!(total, expected);
    assert_eq!(seen.lock().unwrap().len(), 20);
}
