//! Micro-batched hops between thread stages: packets travel in chunks when they are
//! queued, yet a lone item is never held back, no worker of a slow stage hoards a chunk,
//! order and markers hold, and `max_in_flight` stays a true bound.

mod support;

use std::thread::{sleep, ThreadId};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use skorche::core::{Event, Pipeline, Placement, Queue};
use support::{watchdog, Live, LiveCounter};

/// Well under the gap between two items: an item held in a buffer would wait for the next
/// one (or the end of the stream), so it would come at least a gap late.
const LATE: Duration = Duration::from_millis(40);

fn assert_none_late(got: &[(u64, Duration)], n: u64) {
    let order: Vec<u64> = got.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, (0..n).collect::<Vec<_>>());
    for (i, waited) in got {
        assert!(
            *waited < LATE,
            "item {i} reached the reader {waited:?} after it was made: held back in a buffer"
        );
    }
}

#[test]
fn a_slow_trickle_crosses_three_stages_without_waiting_for_company() {
    const N: u64 = 8;
    let got = watchdog(|| {
        let p = Pipeline::new();
        let made = (0..N).map(|i| {
            sleep(Duration::from_millis(50));
            (i, Instant::now())
        });
        let q = p.source(made).map(|x| x).map(|x| x).map(|x| x);
        p.run_iter(q)
            .unwrap()
            .map(|r| {
                let (i, made) = r.unwrap();
                (i, made.elapsed())
            })
            .collect::<Vec<_>>()
    });
    assert_none_late(&got, N);
}

#[test]
fn each_output_of_a_slow_stage_leaves_before_its_next_call() {
    // The source hands all items over at once; the slow stage holds them in one chunk and
    // must still ship each result before it starts on the next item.
    const N: u64 = 8;
    let got = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..N)
            .map(|i| {
                sleep(Duration::from_millis(30));
                (i, Instant::now())
            })
            .map(|x| x)
            .map(|x| x);
        p.run_iter(q)
            .unwrap()
            .map(|r| {
                let (i, made) = r.unwrap();
                (i, made.elapsed())
            })
            .collect::<Vec<_>>()
    });
    assert_none_late(&got, N);
}

#[test]
fn a_slow_stage_with_several_workers_gets_its_items_one_at_a_time() {
    // A fast source would put all 16 items in one chunk; taken by one worker, it would
    // leave the other three idle.
    let workers = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..16u64)
            .map(|i| {
                sleep(Duration::from_millis(20));
                (i, std::thread::current().id())
            })
            .workers(4);
        let mut ids: Vec<ThreadId> = p.run_iter(q).unwrap().map(|r| r.unwrap().1).collect();
        ids.sort_by_key(|id| format!("{id:?}"));
        ids.dedup();
        ids.len()
    });
    assert!(workers >= 2, "only {workers} of 4 workers got items");
}

#[test]
fn a_million_items_keep_their_order_and_markers_through_batched_hops() {
    const N: u64 = 1_000_000;
    const EVERY: u64 = 1000;
    let (items, markers) = watchdog(|| {
        let p = Pipeline::new();
        let (q, m) = p.source(0..N).insert_periodic(EVERY, Placement::After);
        let q = q
            .map(|x| x + 1)
            .map(|x| x * 2)
            .workers(3)
            .ordered()
            .map(|x| x - 2);
        let mut out = p.run_iter(q).unwrap();
        let (mut items, mut markers) = (0u64, 0u64);
        while let Some(event) = out.next_event() {
            match event.unwrap() {
                Event::Item(v) => {
                    assert_eq!(v, items * 2, "item {items} out of order");
                    items += 1;
                }
                Event::Marker(id) => {
                    assert!(m.matches(id));
                    assert_eq!(id.count, markers, "markers out of order");
                    markers += 1;
                    assert_eq!(items, markers * EVERY, "marker {} out of place", id.count);
                }
            }
        }
        (items, markers)
    });
    assert_eq!((items, markers), (N, N / EVERY));
}

#[test]
fn a_slow_reader_never_sees_more_than_max_in_flight_with_default_capacities() {
    let counter = LiveCounter::new();
    let c2 = counter.clone();
    let (bound, n) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source((0..3000u64).map(move |i| Live::new(i, &c2)))
            .map(|x: Live| x)
            .workers(3)
            .filter(|x: &Live| x.value % 7 != 3)
            .map(|x: Live| x);
        let bound = p.max_in_flight();
        let mut n = 0;
        for item in p.run_iter(q).unwrap() {
            drop(item.unwrap());
            n += 1;
            if n % 8 == 0 {
                sleep(Duration::from_micros(500)); // the slow reader
            }
        }
        (bound, n)
    });
    assert_eq!(n, 3000 - 3000 / 7 - 1);
    let max = counter.max();
    assert!(max <= bound, "{max} items alive at once, bound {bound}");
    // The reader was slow enough for the queues to fill: backpressure was exercised.
    assert!(max >= 64, "only {max} items were ever alive at once");
    assert_eq!(counter.live(), 0);
}

#[derive(Debug, Clone)]
struct Step {
    keep_all: bool,
    workers: usize,
    capacity: usize,
}

fn step() -> impl Strategy<Value = Step> {
    (any::<bool>(), 1usize..5, 1usize..100).prop_map(|(keep_all, workers, capacity)| Step {
        keep_all,
        workers,
        capacity,
    })
}

/// Item `x` after step `s`: `None` if the step's filter drops it.
fn apply(x: u64, s: usize, step: &Step) -> Option<u64> {
    let y = x * 3 + s as u64;
    (step.keep_all || y % 4 != 1).then_some(y)
}

fn build(mut q: Queue<u64>, steps: &[Step]) -> Queue<u64> {
    for (s, step) in steps.iter().cloned().enumerate() {
        let (workers, capacity) = (step.workers, step.capacity);
        q = q
            .flat_map(move |x| apply(x, s, &step))
            .workers(workers)
            .capacity(capacity);
    }
    q
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_capacities_and_worker_counts_keep_order_and_markers_in_an_ordered_section(
        n in 0u64..3000,
        every in 1u64..200,
        window in 1usize..300,
        default_capacity in 1usize..100,
        steps in proptest::collection::vec(step(), 1..4),
    ) {
        let expected: Vec<Option<u64>> = {
            let mut out = Vec::new();
            for i in 0..n {
                let mut x = Some(i);
                for (s, step) in steps.iter().enumerate() {
                    x = x.and_then(|x| apply(x, s, step));
                }
                out.extend(x.map(Some));
                if (i + 1) % every == 0 {
                    out.push(None);
                }
            }
            out
        };
        let got = watchdog(move || {
            let p = Pipeline::new();
            p.default_capacity(default_capacity);
            let (q, _) = p.source(0..n).insert_periodic(every, Placement::After);
            let (q, point) = q.order_save(window);
            let q = build(q, &steps).order_load(point);
            let mut out = p.run_iter(q).unwrap();
            let mut got = Vec::new();
            while let Some(event) = out.next_event() {
                got.push(match event.unwrap() {
                    Event::Item(v) => Some(v),
                    Event::Marker(_) => None,
                });
            }
            got
        });
        prop_assert_eq!(got, expected);
    }
}
