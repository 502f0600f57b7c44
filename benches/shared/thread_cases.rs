//! The 3-stage identity pipeline over `0..n` u64, written several ways; each returns the
//! wrapping sum of what came out, for the caller to check. Shared by the criterion bench
//! (`benches/thread_pipeline.rs`) and the table (`examples/bench_thread.rs`).
//!
//! Shape of the pipelines: a source, three identity stages and the reader on the calling
//! thread, so 4 hops per item (rayon has no stages: it is the bound of a parallel map).

use std::hint::black_box;

use crossbeam_channel::bounded;

/// One way to run the pipeline.
pub struct Case {
    /// A short id (criterion's benchmark name).
    pub id: &'static str,
    pub name: &'static str,
    pub run: fn(u64) -> u64,
}

/// Every case, the per-item crossbeam baseline first.
pub fn all() -> Vec<Case> {
    vec![
        Case {
            id: "crossbeam_per_item",
            name: "crossbeam, per item (baseline): 4 threads, bounded(64)",
            run: crossbeam_per_item,
        },
        Case {
            id: "crossbeam_chunks_64",
            name: "crossbeam, chunks of 64: 4 threads, bounded(2) of Vec",
            run: crossbeam_chunked,
        },
        Case {
            id: "rayon_par_bridge",
            name: "rayon `par_bridge().map()` (one stage, unordered)",
            run: rayon_par_bridge,
        },
        Case {
            id: "pariter_3_stages",
            name: "dpc-pariter `parallel_map` x3 (ordered)",
            run: pariter_3_stages,
        },
        Case {
            id: "skorche",
            name: "skorche thread mode, `map(|x| x)` x3, defaults",
            run: skorche_identity,
        },
        Case {
            id: "skorche_metrics_off",
            name: "skorche, the same with `metrics(false)` (the analyzer's overhead)",
            run: skorche_identity_no_metrics,
        },
        Case {
            id: "skorche_capacity_256",
            name: "skorche, the same with `default_capacity(256)` (4x the default bound)",
            run: skorche_identity_256,
        },
    ]
}

/// The expected result of every case.
pub fn expected(n: u64) -> u64 {
    (0..n).fold(0u64, u64::wrapping_add)
}

/// Threads and bounded channels, one send and one receive per item per hop.
pub fn crossbeam_per_item(n: u64) -> u64 {
    let (tx0, rx0) = bounded::<u64>(64);
    let mut threads = vec![std::thread::spawn(move || {
        for i in 0..n {
            tx0.send(i).unwrap();
        }
    })];
    let mut rx = rx0;
    for _ in 0..3 {
        let (tx, next) = bounded::<u64>(64);
        let input = rx;
        threads.push(std::thread::spawn(move || {
            for v in input.iter() {
                tx.send(black_box(v)).unwrap();
            }
        }));
        rx = next;
    }
    let sum = rx.iter().fold(0u64, u64::wrapping_add);
    for t in threads {
        t.join().unwrap();
    }
    sum
}

const CHUNK: usize = 64;

/// The same threads passing `Vec`s of 64 items: what micro-batching can reach at best
/// with a channel operation and an allocation per chunk.
pub fn crossbeam_chunked(n: u64) -> u64 {
    let (tx0, rx0) = bounded::<Vec<u64>>(2);
    let mut threads = vec![std::thread::spawn(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        for i in 0..n {
            chunk.push(i);
            if chunk.len() == CHUNK {
                tx0.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                    .unwrap();
            }
        }
        if !chunk.is_empty() {
            tx0.send(chunk).unwrap();
        }
    })];
    let mut rx = rx0;
    for _ in 0..3 {
        let (tx, next) = bounded::<Vec<u64>>(2);
        let input = rx;
        threads.push(std::thread::spawn(move || {
            for chunk in input.iter() {
                let out: Vec<u64> = chunk.into_iter().map(black_box).collect();
                tx.send(out).unwrap();
            }
        }));
        rx = next;
    }
    let sum = rx.iter().flatten().fold(0u64, u64::wrapping_add);
    for t in threads {
        t.join().unwrap();
    }
    sum
}

/// Rayon's global pool pulling from the range through `par_bridge`.
pub fn rayon_par_bridge(n: u64) -> u64 {
    use rayon::prelude::*;
    (0..n)
        .par_bridge()
        .map(black_box)
        .reduce(|| 0, u64::wrapping_add)
}

/// Three ordered parallel maps of dpc-pariter (the deprecated name of `pariter` 0.5).
pub fn pariter_3_stages(n: u64) -> u64 {
    #[allow(deprecated)]
    use dpc_pariter::IteratorExt;
    (0..n)
        .parallel_map(black_box)
        .parallel_map(black_box)
        .parallel_map(black_box)
        .fold(0u64, u64::wrapping_add)
}

/// skorche: a source, three identity `map` stages, the output read on this thread.
pub fn skorche_identity(n: u64) -> u64 {
    skorche_3_maps(n, None)
}

/// The same with larger queues: how much of the cost is threads waiting for room.
pub fn skorche_identity_256(n: u64) -> u64 {
    skorche_3_maps(n, Some(256))
}

/// The defaults without live metrics: what measuring costs.
pub fn skorche_identity_no_metrics(n: u64) -> u64 {
    skorche_3_maps_with(n, None, false)
}

fn skorche_3_maps(n: u64, capacity: Option<usize>) -> u64 {
    skorche_3_maps_with(n, capacity, true)
}

fn skorche_3_maps_with(n: u64, capacity: Option<usize>, metrics: bool) -> u64 {
    let p = skorche::core::Pipeline::new();
    p.metrics(metrics);
    if let Some(c) = capacity {
        p.default_capacity(c);
    }
    let q = p
        .source(0..n)
        .map(|x: u64| x)
        .map(|x: u64| x)
        .map(|x: u64| x);
    p.run_iter(q)
        .expect("start")
        .map(|v| v.expect("identity cannot fail"))
        .fold(0u64, u64::wrapping_add)
}
