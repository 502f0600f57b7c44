//! Property: any pipeline of map / filter / flat_map / batch+unbatch / split+merge /
//! tee+merge (each branch a map or a flat_map), with
//! random worker counts and random per-item delays, wrapped in `order save`/`order load`,
//! yields exactly what a plain sequential evaluation yields.

use std::thread::sleep;
use std::time::Duration;

use proptest::prelude::*;
use skorche::core::{Pipeline, Queue};

#[derive(Debug, Clone)]
enum Op {
    Map {
        add: u64,
        workers: usize,
    },
    Filter {
        modulo: u64,
        workers: usize,
    },
    FlatMap {
        max: u64,
        workers: usize,
    },
    BatchUnbatch {
        size: usize,
        workers: usize,
    },
    SplitMerge {
        ways: usize,
        workers: usize,
    },
    /// Every item down each of `ways` branches; odd branches flat_map, even ones map.
    TeeMerge {
        ways: usize,
        max: u64,
        workers: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let w = 1usize..5;
    prop_oneof![
        (0u64..100, w.clone()).prop_map(|(add, workers)| Op::Map { add, workers }),
        (2u64..5, w.clone()).prop_map(|(modulo, workers)| Op::Filter { modulo, workers }),
        (0u64..4, w.clone()).prop_map(|(max, workers)| Op::FlatMap { max, workers }),
        (1usize..9, w.clone()).prop_map(|(size, workers)| Op::BatchUnbatch { size, workers }),
        (2usize..4, w.clone()).prop_map(|(ways, workers)| Op::SplitMerge { ways, workers }),
        (1usize..4, 0u64..3, w).prop_map(|(ways, max, workers)| Op::TeeMerge {
            ways,
            max,
            workers
        }),
    ]
}

fn delay(x: u64, salt: u64) -> Duration {
    Duration::from_micros(((x ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) * 15)
}

fn expand(x: u64, max: u64) -> impl Iterator<Item = u64> {
    (0..(x % (max + 1))).map(move |i| x * 8 + i)
}

/// What branch `i` of a tee makes of `x`.
fn tee_branch(x: u64, i: usize, max: u64) -> Vec<u64> {
    let x = x + i as u64 * 1_000_000;
    if i % 2 == 1 {
        expand(x, max).collect()
    } else {
        vec![x]
    }
}

/// The reference: the same operations, one item at a time.
fn sequential(input: &[u64], ops: &[Op]) -> Vec<u64> {
    let mut items = input.to_vec();
    for op in ops {
        items = match *op {
            Op::Map { add, .. } => items.into_iter().map(|x| x + add).collect(),
            Op::Filter { modulo, .. } => items.into_iter().filter(|x| x % modulo != 0).collect(),
            Op::FlatMap { max, .. } => items.into_iter().flat_map(|x| expand(x, max)).collect(),
            Op::BatchUnbatch { .. } => items.into_iter().map(|x| x * 3).collect(),
            Op::SplitMerge { ways, .. } => items
                .into_iter()
                .map(|x| x + (x % ways as u64) * 1_000_000)
                .collect(),
            Op::TeeMerge { ways, max, .. } => items
                .into_iter()
                .flat_map(|x| (0..ways).flat_map(move |i| tee_branch(x, i, max)))
                .collect(),
        };
    }
    items
}

fn build(p: &Pipeline, mut q: Queue<u64>, ops: &[Op], salt: u64) -> Queue<u64> {
    for op in ops.iter().cloned() {
        q = match op {
            Op::Map { add, workers } => q
                .map(move |x| {
                    sleep(delay(x, salt));
                    x + add
                })
                .workers(workers),
            Op::Filter { modulo, workers } => q
                .filter(move |x| {
                    sleep(delay(*x, salt));
                    x % modulo != 0
                })
                .workers(workers),
            Op::FlatMap { max, workers } => q
                .flat_map(move |x| {
                    sleep(delay(x, salt));
                    expand(x, max)
                })
                .workers(workers),
            Op::BatchUnbatch { size, workers } => q
                .batch(size)
                .map(|b| b.into_iter().map(|x| x * 3).collect::<Vec<_>>())
                .workers(workers)
                .unbatch(),
            Op::SplitMerge { ways, workers } => {
                let branches = q.split_by(ways, move |x| (x % ways as u64) as usize);
                let branches: Vec<_> = branches
                    .into_iter()
                    .enumerate()
                    .map(|(i, b)| {
                        b.map(move |x| {
                            sleep(delay(x, salt + i as u64));
                            x + i as u64 * 1_000_000
                        })
                        .workers(workers)
                    })
                    .collect();
                p.merge(branches)
            }
            Op::TeeMerge { ways, max, workers } => {
                let branches: Vec<_> = q
                    .tee(ways)
                    .into_iter()
                    .enumerate()
                    .map(|(i, b)| {
                        let salt = salt + i as u64;
                        if i % 2 == 0 {
                            // A copy kept as it is: it stays at the item's own position.
                            b.map(move |x| {
                                sleep(delay(x, salt));
                                x + i as u64 * 1_000_000
                            })
                            .workers(workers)
                        } else {
                            b.flat_map(move |x| {
                                sleep(delay(x, salt));
                                tee_branch(x, i, max)
                            })
                            .workers(workers)
                        }
                    })
                    .collect();
                p.merge(branches)
            }
        };
    }
    q
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn ordered_section_equals_sequential_evaluation(
        input in proptest::collection::vec(0u64..1000, 0..60),
        ops in proptest::collection::vec(op(), 1..5),
        window in 1usize..20,
        salt in any::<u64>(),
    ) {
        if std::env::var_os("ORDER_PROPERTY_TRACE").is_some() {
            eprintln!("case: window={window} salt={salt} input={input:?} ops={ops:?}");
        }
        let expected = sequential(&input, &ops);
        let p = Pipeline::new();
        let (q, point) = p.source(input.clone()).order_save(window);
        let high_water = point.high_water();
        let q = build(&p, q, &ops, salt).order_load(point);
        let (tx, rx) = std::sync::mpsc::channel();
        // The pipeline is declared on this thread (Pipeline is not Send); run it here and
        // let a watchdog thread fail the test if it ever hangs.
        let watchdog = std::thread::spawn(move || {
            if rx.recv_timeout(Duration::from_secs(60)).is_err() {
                eprintln!("ordered pipeline hung");
                std::process::abort();
            }
        });
        let got: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
        tx.send(()).unwrap();
        watchdog.join().unwrap();
        prop_assert_eq!(got, expected);
        // The window bounds positions; a position holds at most the product of the
        // flat_map fan-outs (each input expands to at most `max` outputs).
        let fan_out: usize = ops
            .iter()
            .map(|op| match op {
                Op::FlatMap { max, .. } => (*max as usize).max(1),
                Op::TeeMerge { ways, max, .. } => ways * (*max as usize).max(1),
                _ => 1,
            })
            .product();
        let held = high_water.load(std::sync::atomic::Ordering::Relaxed);
        prop_assert!(held <= window * fan_out, "held {} > window {} x fan-out {}", held, window, fan_out);
    }
}
