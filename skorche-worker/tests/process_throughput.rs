//! Throughput figure for small items through one worker (prints; asserts only completeness).
//! Run: `cargo test --release -p skorche-worker --test process_throughput -- --nocapture`

mod support;

use skorche_worker::builtin;
use skorche_worker::protocol::Outcome;
use skorche_worker::transport::{ExitCause, WorkerEvent};
use skorche_worker::values::ValueRef;
use std::sync::Arc;
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
    for batch in [64u64, 512, 4096] {
        let link = spawn(&builtin::IDENTITY_U64.bind());
        let (mut tx, mut rx, control) = (link.sender, link.receiver, link.control);
        // Pre-encode outside the timed region, as a coordinator forwarding payloads would.
        let batches: Vec<_> = (0..n)
            .step_by(batch as usize)
            .map(|i| work(i / batch, items(i..(i + batch).min(n))))
            .collect();
        let t0 = Instant::now();
        let feeder = std::thread::spawn(move || {
            for b in batches {
                tx.send(b).map_err(|(_, e)| e).unwrap();
            }
            tx.end().unwrap();
        });
        let mut count = 0u64;
        let end = loop {
            match rx.recv() {
                WorkerEvent::Results(r) => count += r.outcomes.len() as u64,
                other => break other,
            }
        };
        let dt = t0.elapsed();
        feeder.join().unwrap();
        assert!(matches!(end, WorkerEvent::Finished), "{end:?}");
        assert_eq!(count, n);
        assert_eq!(control.wait(), ExitCause::Code(0));
        eprintln!(
            "identity_u64: {n} items in {dt:?}: {:.2} M items/s (batch {batch})",
            n as f64 / dt.as_secs_f64() / 1e6
        );
    }
}

#[test]
fn large_payload_throughput_is_printed() {
    for task in [&builtin::PRODUCE_BYTES, &builtin::PRODUCE_BYTES_IN_PLACE] {
        large_payloads(task);
    }
}

fn large_payloads(task: &'static skorche_worker::registry::TaskDef<(u64, u64), Vec<u8>>) {
    use skorche_worker::rings::Ring;
    let _w = watchdog(60);
    const LEN: u64 = 8 << 20;
    let n: u64 = if cfg!(debug_assertions) { 4 } else { 64 };
    let ring = Arc::new(Ring::create(64 << 20).expect("ring"));
    let mut spec = spec("big", &task.bind());
    spec.rings = vec![ring.clone()];
    spec.output_ring = Some(0);
    let link = start(&spec);
    let (mut tx, mut rx, control) = (link.sender, link.receiver, link.control);
    let rings = std::slice::from_ref(&*ring);
    let t0 = Instant::now();
    let feeder = std::thread::spawn(move || {
        for i in 0..n {
            tx.send(work(
                i,
                vec![WorkItem {
                    seq: i,
                    payload: inline((i, LEN)),
                }],
            ))
            .map_err(|(_, e)| e)
            .unwrap();
        }
        tx.end().unwrap();
    });
    let mut bytes = 0u64;
    while let WorkerEvent::Results(r) = rx.recv() {
        assert!(r.outcomes.iter().all(|o| *o == Outcome::Done(1)), "{r:?}");
        for output in r.outputs.iter() {
            let ValueRef::Shm(h) = output else {
                panic!("inline")
            };
            // Read in place, then release.
            bytes += skorche_worker::codec::read_shm(h, rings, |b| Ok(b.len() as u64)).unwrap();
        }
    }
    let dt = t0.elapsed();
    feeder.join().unwrap();
    assert_eq!(control.wait(), ExitCause::Code(0));
    assert_eq!(bytes, n * LEN);
    eprintln!(
        "{} 8 MiB via ring: {n} items in {dt:?}: {:.2} GB/s (includes generating the bytes)",
        task.name(),
        bytes as f64 / dt.as_secs_f64() / 1e9
    );
}
