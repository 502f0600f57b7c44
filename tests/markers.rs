//! Markers: virtual items that pass every stage untouched and fire callbacks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use skorche::core::{Event, Pipeline, Placement};

fn jitter(x: u64) -> Duration {
    Duration::from_micros((x.wrapping_mul(2654435761) % 5) * 200)
}

#[test]
fn until_reads_the_stream_one_segment_at_a_time() {
    let p = Pipeline::new();
    let (q, epoch) = p.source(0..10u64).insert_periodic(4, Placement::After);
    let q = q.map(|x| x * 2).workers(1);
    let mut out = p.run_iter(q).unwrap();
    let segments: Vec<Vec<u64>> = (0..3)
        .map(|_| out.until(epoch).collect::<Result<_, _>>().unwrap())
        .collect();
    assert_eq!(
        segments,
        [vec![0, 2, 4, 6], vec![8, 10, 12, 14], vec![16, 18]]
    );
    assert!(out.next().is_none());
}

#[test]
fn before_placement_opens_each_segment() {
    let p = Pipeline::new();
    let (q, m) = p.source(0..5u64).insert_periodic(2, Placement::Before);
    let mut out = p.run_iter(q).unwrap();
    let mut events = Vec::new();
    while let Some(e) = out.next_event() {
        events.push(match e.unwrap() {
            Event::Item(v) => format!("{v}"),
            Event::Marker(id) => {
                assert!(m.matches(id));
                format!("M{}", id.count)
            }
        });
    }
    assert_eq!(events, ["M0", "0", "1", "M1", "2", "3", "M2", "4"]);
}

#[test]
fn markers_are_never_given_to_tasks_and_on_fires_once_each() {
    let p = Pipeline::new();
    let seen_by_task = Arc::new(AtomicU64::new(0));
    let fired = Arc::new(Mutex::new(Vec::new()));
    let (q, m) = p.source(0..100u64).insert_periodic(10, Placement::After);
    let counter = seen_by_task.clone();
    let q = q
        .map(move |x| {
            counter.fetch_add(1, Ordering::Relaxed);
            x
        })
        .workers(4);
    let log = fired.clone();
    let q = q.on(m, move |id| log.lock().unwrap().push(id.count));
    let n = p.run_iter(q).unwrap().count();
    assert_eq!(n, 100);
    assert_eq!(seen_by_task.load(Ordering::Relaxed), 100);
    let mut fired = fired.lock().unwrap().clone();
    fired.sort();
    assert_eq!(fired, (0..10).collect::<Vec<_>>());
}

#[test]
fn markers_keep_their_place_through_an_ordered_parallel_section() {
    let p = Pipeline::new();
    let (q, m) = p.source(0..60u64).insert_periodic(5, Placement::After);
    let (q, point) = q.order_save(8);
    let q = q
        .map(|x| {
            sleep(jitter(x));
            x
        })
        .workers(4)
        .flat_map(|x| [x, x + 1000])
        .workers(3)
        .order_load(point);
    let mut out = p.run_iter(q).unwrap();
    for segment in 0..12u64 {
        let got: Vec<u64> = out.until(m).collect::<Result<_, _>>().unwrap();
        let expected: Vec<u64> = (segment * 5..segment * 5 + 5)
            .flat_map(|x| [x, x + 1000])
            .collect();
        assert_eq!(got, expected, "segment {segment}");
    }
}

#[test]
fn a_marker_is_never_put_inside_a_batch() {
    let p = Pipeline::new();
    let (q, m) = p.source(0..10u64).insert_periodic(3, Placement::After);
    let q = q.batch(4);
    let mut out = p.run_iter(q).unwrap();
    let segments: Vec<Vec<Vec<u64>>> = (0..4)
        .map(|_| out.until(m).collect::<Result<_, _>>().unwrap())
        .collect();
    assert_eq!(
        segments,
        [
            vec![vec![0, 1, 2]],
            vec![vec![3, 4, 5]],
            vec![vec![6, 7, 8]],
            vec![vec![9]]
        ]
    );
}

#[test]
fn markers_pass_unbatch_and_split_merge_in_an_ordered_section() {
    let p = Pipeline::new();
    let (q, m) = p.source(0..40u64).insert_periodic(8, Placement::After);
    let (q, point) = q.order_save(16);
    let (a, b) = q.split(|x| x % 3 == 0);
    let a = a
        .map(|x| {
            sleep(jitter(x));
            x
        })
        .workers(2);
    let b = b
        .batch(3)
        .map(|v| v.into_iter().map(|x| x + 100).collect::<Vec<_>>())
        .workers(2)
        .unbatch();
    let q = p.merge([a, b]).order_load(point);
    let mut out = p.run_iter(q).unwrap();
    for segment in 0..5u64 {
        let got: Vec<u64> = out.until(m).collect::<Result<_, _>>().unwrap();
        let expected: Vec<u64> = (segment * 8..segment * 8 + 8)
            .map(|x| if x % 3 == 0 { x } else { x + 100 })
            .collect();
        assert_eq!(got, expected, "segment {segment}");
    }
    assert!(out.next().is_none());
}
