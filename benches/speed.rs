//! Criterion version of `examples/bench_speed.rs`: the same rows, at smaller sizes and with
//! sample size 10, so that it runs in about a minute and a half:
//!
//! ```text
//! cargo bench --bench speed
//! ```
//!
//! * `large_20x8MiB`: 20 values of 8 MiB made by a memset in 2 producers, read by the
//!   driver (one `u64` per 4 KiB page; `_checksum`: every byte), against alloc + memcpy;
//! * `small_100k`: 100,000 `u64` to a process and back: raw ipc-channel with 64 and 1024
//!   items per message, skorche `IDENTITY_U64` in 1 and 2 worker processes;
//! * `thread_100k`: a 3-stage identity pipeline: crossbeam one send per item and chunked,
//!   rayon `par_bridge`, skorche thread mode.
//!
//! Each row times itself (spawns and setup included, as in the example), so criterion is
//! given the rows' own durations (`iter_custom`).
//!
//! The bench binary is its own worker program and its own ipc-channel child:
//! `skorche::worker::enter()` and then `child_if_asked()` run first in `main`.

#[path = "../examples/speed_rows/mod.rs"]
mod speed_rows;

use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use speed_rows::{ItemRow, PayloadRow, Payloads, Read};

const PAYLOADS: Payloads = Payloads {
    values: 20,
    len: 8 << 20,
};
const ITEMS: u64 = 100_000;

/// Benches `row` under `name`, feeding criterion the durations the row measures itself.
fn bench_row(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut row: impl FnMut() -> Duration,
) {
    g.bench_function(BenchmarkId::from_parameter(name), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| row()).sum())
    });
}

fn large(c: &mut Criterion) {
    let mut g = c.benchmark_group("large_20x8MiB");
    g.throughput(Throughput::Bytes(PAYLOADS.bytes()));
    let rows: [(&str, PayloadRow, Read); 9] = [
        ("alloc_memcpy", speed_rows::alloc_memcpy_row, Read::Touch),
        ("ipc_bytes", speed_rows::ipc_bytes_row, Read::Touch),
        ("ipc_shared_memory", speed_rows::ipc_shm_row, Read::Touch),
        (
            "skorche_thread",
            speed_rows::skorche_thread_payloads_row,
            Read::Touch,
        ),
        (
            "process_inline",
            speed_rows::process_inline_row,
            Read::Touch,
        ),
        ("process_shm", speed_rows::process_shm_row, Read::Touch),
        (
            "process_in_place",
            speed_rows::process_in_place_row,
            Read::Touch,
        ),
        (
            "process_zero_copy",
            speed_rows::zero_copy_read_row,
            Read::Touch,
        ),
        (
            "alloc_memcpy_checksum",
            speed_rows::alloc_memcpy_row,
            Read::Checksum,
        ),
    ];
    for (name, f, how) in rows {
        bench_row(&mut g, name, || f(PAYLOADS, how));
    }
    bench_row(&mut g, "process_in_place_checksum", || {
        speed_rows::process_in_place_row(PAYLOADS, Read::Checksum)
    });
    g.finish();
}

fn small(c: &mut Criterion) {
    let mut g = c.benchmark_group("small_100k");
    g.throughput(Throughput::Elements(ITEMS));
    bench_row(&mut g, "ipc_64_per_message", || {
        speed_rows::ipc_echo_row(ITEMS, 64)
    });
    bench_row(&mut g, "ipc_1024_per_message", || {
        speed_rows::ipc_echo_row(ITEMS, 1024)
    });
    bench_row(&mut g, "process_1", || {
        speed_rows::process_identity_row(ITEMS, 1)
    });
    bench_row(&mut g, "process_2", || {
        speed_rows::process_identity_row(ITEMS, 2)
    });
    g.finish();
}

fn thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("thread_100k");
    g.throughput(Throughput::Elements(ITEMS));
    let rows: [(&str, ItemRow); 4] = [
        ("crossbeam_per_item", speed_rows::crossbeam_per_item_row),
        ("crossbeam_chunks_64", speed_rows::crossbeam_chunked_row),
        ("rayon_par_bridge", speed_rows::rayon_par_bridge_row),
        ("skorche", speed_rows::skorche_three_stages_row),
    ];
    for (name, f) in rows {
        bench_row(&mut g, name, || f(ITEMS));
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = large, small, thread
}

fn main() {
    skorche::worker::enter();
    speed_rows::child_if_asked();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
