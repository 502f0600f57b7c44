//! `order save` / `order load` through every operation, with bounded reorder memory.

use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::Duration;

use skorche::core::{Pipeline, Queue};

fn collect<T: Send + 'static>(p: Pipeline, q: Queue<T>) -> Vec<T> {
    p.run_iter(q)
        .expect("pipeline starts")
        .collect::<Result<Vec<_>, _>>()
        .expect("pipeline succeeds")
}

/// A per-item delay that scrambles arrival order across workers.
fn jitter(x: u64) -> Duration {
    Duration::from_micros((x.wrapping_mul(2654435761) % 7) * 150)
}

#[test]
fn slow_first_item_never_holds_more_than_the_window() {
    let p = Pipeline::new();
    let window = 8;
    let (q, point) = p.source(0..200u64).order_save(window);
    let high_water = point.high_water();
    let q = q
        .map(|x| {
            if x == 0 {
                sleep(Duration::from_millis(100));
            }
            x
        })
        .workers(4);
    let out = collect(p, q.order_load(point));
    assert_eq!(out, (0..200).collect::<Vec<_>>());
    let held = high_water.load(Ordering::Relaxed);
    assert!(
        held <= window,
        "reorder buffer held {held} items, window is {window}"
    );
    assert!(held > 0, "item 0 was slow, so later items must have waited");
}

#[test]
fn filter_leaves_no_hole_for_load_to_wait_on() {
    let p = Pipeline::new();
    let (q, point) = p.source(0..300u64).order_save(16);
    let q = q
        .map(|x| {
            sleep(jitter(x));
            x
        })
        .workers(4)
        .filter(|x| x % 3 != 0)
        .workers(3);
    let out = collect(p, q.order_load(point));
    assert_eq!(out, (0..300).filter(|x| x % 3 != 0).collect::<Vec<_>>());
}

#[test]
fn flat_map_outputs_stay_together_in_their_input_place() {
    let p = Pipeline::new();
    let (q, point) = p.source(0..100u64).order_save(16);
    let q = q
        .flat_map(|x| {
            sleep(jitter(x));
            (0..x % 4).map(move |i| x * 10 + i)
        })
        .workers(4);
    let out = collect(p, q.order_load(point));
    let expected: Vec<u64> = (0..100u64)
        .flat_map(|x| (0..x % 4).map(move |i| x * 10 + i))
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn batch_then_unbatch_restores_positions() {
    let p = Pipeline::new();
    let (q, point) = p.source(0..250u64).order_save(32);
    let q = q
        .map(|x| {
            sleep(jitter(x));
            x
        })
        .workers(4)
        .batch(7)
        .map(|b| b.into_iter().map(|x| x + 1).collect::<Vec<_>>())
        .workers(2)
        .unbatch();
    let out = collect(p, q.order_load(point));
    assert_eq!(out, (1..=250).collect::<Vec<_>>());
}

#[test]
fn batch_larger_than_the_window_does_not_stall() {
    let p = Pipeline::new();
    let (q, point) = p.source(0..100u64).order_save(4);
    let q = q.map(|x| x).workers(2).batch(10).unbatch();
    let out = collect(p, q.order_load(point));
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}

#[test]
fn merge_after_split_restores_global_order() {
    let p = Pipeline::new();
    let (q, point) = p.source(0..400u64).order_save(32);
    let (even, odd) = q.split(|x| x % 2 == 0);
    let even = even
        .map(|x| {
            sleep(jitter(x) * 2);
            x
        })
        .workers(3);
    let odd = odd.map(|x| x + 1000).workers(2);
    let merged = p.merge([even, odd]);
    let out = collect(p, merged.order_load(point));
    let expected: Vec<u64> = (0..400)
        .map(|x| if x % 2 == 0 { x } else { x + 1000 })
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn split_by_three_then_merge_restores_global_order() {
    let p = Pipeline::new();
    let (q, point) = p.source(0..300u64).order_save(16);
    let branches = q.split_by(3, |x| (*x % 3) as usize);
    let branches: Vec<_> = branches
        .into_iter()
        .map(|b| {
            b.map(|x| {
                sleep(jitter(x));
                x
            })
            .workers(2)
        })
        .collect();
    let merged = p.merge(branches);
    let out = collect(p, merged.order_load(point));
    assert_eq!(out, (0..300).collect::<Vec<_>>());
}

#[test]
fn load_on_one_branch_of_a_split_skips_the_other_branch() {
    let p = Pipeline::new();
    let (q, point) = p.source(0..200u64).order_save(8);
    let (small, _large) = q.split(|x| *x < 100);
    let small = small
        .map(|x| {
            sleep(jitter(x));
            x
        })
        .workers(3);
    let out = collect(p, small.order_load(point));
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}

#[test]
fn chain_and_ordered_convenience_keep_input_order() {
    use skorche::core::Chain;
    let p = Pipeline::new();
    let steps = Chain::new("delay", |x: u64| {
        sleep(jitter(x));
        Ok::<_, std::convert::Infallible>(x)
    })
    .then("square", |x| Ok::<_, std::convert::Infallible>(x * x));
    let q = p.source(0..150u64).chain(steps).workers(4).ordered();
    let out = collect(p, q);
    assert_eq!(out, (0..150u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn a_save_point_without_load_is_rejected_before_running() {
    let p = Pipeline::new();
    let (q, _point) = p.source(0..10u64).order_save(4);
    let err = p
        .run_iter(q)
        .expect_err("an unmatched save point cannot run");
    assert!(err.to_string().contains("no matching order load"), "{err}");
}
