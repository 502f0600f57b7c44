//! Backpressure: a fast source and a slow sink never hold more than the declared
//! capacities in flight; an endless source stops cleanly when the output is dropped.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use skorche::core::Pipeline;
use support::{watchdog, Live, LiveCounter};

#[test]
fn fast_source_and_slow_sink_never_exceed_max_in_flight() {
    let counter = LiveCounter::new();
    let c2 = counter.clone();
    let (bound, n) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source((0..400u64).map(move |i| Live::new(i, &c2)))
            .capacity(8)
            .map(|mut x: Live| {
                x.value += 1;
                x
            })
            .workers(2)
            .capacity(4)
            .map(|x| x)
            .capacity(16);
        let bound = p.max_in_flight();
        let mut n = 0;
        for item in p.run_iter(q).unwrap() {
            drop(item.unwrap());
            n += 1;
            std::thread::sleep(Duration::from_micros(300)); // the slow sink
        }
        (bound, n)
    });
    assert_eq!(n, 400);
    // 3 queues (8 + 4 + 16), plus the chunks held outside them (half a queue's capacity
    // each): the source's output chunk (4), each of the 2 map workers' input and output
    // chunks (4 + 2), the last map's (2 + 8), and the reader's (8). The sink holds at most
    // one more item between receiving and dropping it.
    assert_eq!(bound, 8 + 4 + 16 + 4 + 2 * (4 + 2) + (2 + 8) + 8);
    let max = counter.max();
    assert!(max <= bound + 1, "{max} items alive at once, bound {bound}");
    // The queues did fill up (the test exercised backpressure).
    assert!(
        max >= 8 + 4 + 16,
        "only {max} items were ever alive at once"
    );
    assert_eq!(counter.live(), 0);
}

#[test]
fn endless_source_stops_cleanly_when_the_output_is_dropped_after_n_items() {
    let counter = LiveCounter::new();
    let c2 = counter.clone();
    let pulled = Arc::new(AtomicU64::new(0));
    let pulled2 = pulled.clone();
    let (first, bound) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source((0u64..).map(move |i| {
                pulled2.fetch_add(1, Ordering::SeqCst);
                Live::new(i, &c2)
            }))
            .map(|x: Live| x)
            .workers(2)
            .capacity(4);
        let bound = p.max_in_flight() as u64;
        let first: Vec<u64> = p
            .run_iter(q)
            .unwrap()
            .take(100)
            .map(|r| r.unwrap().value)
            .collect();
        // The output was dropped here: that stopped and joined the run.
        (first, bound)
    });
    let mut sorted = first.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 100, "100 distinct items");
    // Two workers may reorder, but only within what is in flight.
    assert!(sorted.iter().all(|&v| v < 100 + bound), "{sorted:?}");
    let n = pulled.load(Ordering::SeqCst);
    assert!(n <= 100 + bound + 1, "pulled {n} items, bound {bound}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        n,
        "the source is still pulled"
    );
    assert_eq!(counter.live(), 0, "items alive after the run stopped");
}

#[test]
fn endless_repeat_source_stops_cleanly_when_the_output_is_dropped() {
    let got = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(std::iter::repeat(7u8)).filter(|_| true).batch(3);
        let got: Vec<Vec<u8>> = p
            .run_iter(q)
            .unwrap()
            .take(10)
            .collect::<Result<_, _>>()
            .unwrap();
        got
    });
    assert_eq!(got, vec![vec![7u8; 3]; 10]);
}
