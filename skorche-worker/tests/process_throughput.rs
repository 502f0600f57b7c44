//! Throughput figure for small items through one worker (prints; asserts only completeness).
//! Run: `cargo test --release -p skorche-worker --test process_throughput -- --nocapture`

mod support;

use skorche_worker::builtin;
use skorche_worker::client::WorkerEvent;
use std::time::Instant;
use support::*;

#[test]
fn small_items_throughput_is_printed() {
    let _w = watchdog(60);
    let n: u64 = if cfg!(debug_assertions) {
        50_000
    } else {
        1_000_000
    };
    const BATCH: u64 = 512;
    let (tx, mut rx, handle) = spawn(&builtin::IDENTITY_U64.bind()).split();
    // Pre-encode outside the timed region, as a coordinator forwarding payloads would.
    let batches: Vec<_> = (0..n)
        .step_by(BATCH as usize)
        .map(|i| items(i..(i + BATCH).min(n)))
        .collect();
    let t0 = Instant::now();
    let feeder = std::thread::spawn(move || {
        for b in batches {
            tx.send(b).unwrap();
        }
        tx.end().unwrap();
    });
    let mut count = 0u64;
    while let WorkerEvent::Results(r) = rx.recv().unwrap() {
        count += r.len() as u64;
    }
    let dt = t0.elapsed();
    feeder.join().unwrap();
    assert_eq!(count, n);
    assert!(handle.wait().success());
    eprintln!(
        "identity_u64: {n} items in {dt:?}: {:.2} M items/s (batch {BATCH})",
        n as f64 / dt.as_secs_f64() / 1e6
    );
}
