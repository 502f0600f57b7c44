//! Throughput of the ring against a plain `memcpy`, in one table.
//!
//! (a) memcpy of the payload between two warm heap buffers (the 8 MiB row is the baseline);
//! (b) one process: reserve + copy the payload in + commit + read (guard, touch first and last
//!     byte: reading in place costs nothing more) + release;
//! (b') the same with a full read pass over the payload (sum of u64 words);
//! (c) two processes: this process writes and sends handles over a pipe, a child process (this
//!     bench re-executed) reads in place (touching first and last byte) and releases.
//!
//! Run: `cargo bench -p skorche-shm --bench ring`. Best of 3 runs of ~512 MiB each per cell.

use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skorche_shm::{Handle, ReserveError, Ring, RingDescriptor};

const ROLE: &str = "SKORCHE_SHM_BENCH_ROLE";
const DESC: &str = "SKORCHE_SHM_BENCH_DESC";
const SIZES: [usize; 5] = [4 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20];
const BYTES_PER_RUN: usize = 512 << 20;
const T: Duration = Duration::from_secs(30);

fn gbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

fn best_of_3(mut run: impl FnMut() -> Duration) -> Duration {
    (0..3).map(|_| run()).min().unwrap()
}

fn count(size: usize) -> usize {
    (BYTES_PER_RUN / size).max(8)
}

/// Room for `records` records (at least 1 MiB). One process reuses one slot, so the working set
/// (source + ring) equals memcpy's (source + destination); two processes use two slots, so the
/// writer fills one while the reader reads the other.
fn ring_for(size: usize, records: usize) -> Ring {
    Ring::create((records * (size + 64)).max(1 << 20)).expect("create ring")
}

fn sum(bytes: &[u8]) -> u64 {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .fold(0u64, u64::wrapping_add)
}

/// Copies between two halves of one allocation, with `dst - src = size + 320` so that the
/// source and destination are not 4 KiB-aliased (page-aligned pairs hit a slow path of
/// `rep movsb` on some CPUs, which would flatter the ring). 320 is the ring's own offset of a
/// first payload in its segment.
fn memcpy(size: usize) -> Duration {
    let mut buf = vec![7u8; 2 * size + 4096];
    let (src, dst) = buf.split_at_mut(size + 320);
    let (src, dst) = (&src[..size], &mut dst[..size]);
    dst.copy_from_slice(src);
    let n = count(size);
    best_of_3(|| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(&mut *dst).copy_from_slice(black_box(src));
        }
        start.elapsed()
    })
}

fn one_process(size: usize, full_read: bool) -> Duration {
    let ring = ring_for(size, 1);
    let src = vec![7u8; size];
    let round = |n: usize| {
        for _ in 0..n {
            let mut r = ring.reserve(size, T).unwrap();
            r.copy_from_slice(black_box(&src));
            let h = r.commit();
            let g = ring.read(&h).unwrap();
            if full_read {
                black_box(sum(&g));
            } else {
                black_box((g[0], g[size - 1]));
            }
            drop(g);
            ring.release(&h).unwrap();
        }
    };
    round(ring.capacity() / size + 2); // warm the ring's pages
    let n = count(size);
    best_of_3(|| {
        let start = Instant::now();
        round(n);
        start.elapsed()
    })
}

fn two_processes(size: usize) -> Duration {
    let ring = ring_for(size, 2);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "reader")
        .env(DESC, serde_json::to_string(&ring.descriptor()).unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn reader process");
    let mut to_child = BufWriter::new(child.stdin.take().unwrap());
    let mut from_child = BufReader::new(child.stdout.take().unwrap()).lines();
    let src = vec![7u8; size];
    let mut round = |n: usize| {
        for _ in 0..n {
            // Send the handles batched, but never sit on them while waiting for space.
            let mut r = match ring.try_reserve(size) {
                Ok(r) => r,
                Err(ReserveError::Full { .. }) => {
                    to_child.flush().unwrap();
                    ring.reserve(size, T).unwrap()
                }
                Err(e) => panic!("{e}"),
            };
            r.copy_from_slice(black_box(&src));
            let h = r.commit();
            writeln!(to_child, "{} {} {}", h.offset, h.len, h.generation).unwrap();
        }
        writeln!(to_child, "end").unwrap();
        to_child.flush().unwrap();
        assert_eq!(from_child.next().unwrap().unwrap(), "done");
    };
    round(ring.capacity() / size + 2); // warm both processes' page tables
    let n = count(size);
    let t = best_of_3(|| {
        let start = Instant::now();
        round(n);
        start.elapsed()
    });
    drop(to_child);
    assert!(child.wait().unwrap().success());
    t
}

/// The child of `two_processes`: read in place and release every handle; answer `end`.
fn reader() {
    let desc: RingDescriptor = serde_json::from_str(&std::env::var(DESC).unwrap()).unwrap();
    let ring = Ring::open(&desc).expect("open ring");
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        if line == "end" {
            writeln!(out, "done").unwrap();
            out.flush().unwrap();
            continue;
        }
        let f: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        let h = Handle {
            ring: ring.id(),
            offset: f[0],
            len: f[1],
            generation: f[2],
        };
        let g = ring.read(&h).unwrap();
        black_box((g[0], g[g.len() - 1]));
        drop(g);
        ring.release(&h).unwrap();
    }
}

fn main() {
    if std::env::var(ROLE).is_ok() {
        return reader();
    }
    // The first large copies of a fresh process run far slower here (page-table and allocator
    // warm-up); run one of each kind and discard it.
    memcpy(8 << 20);
    one_process(8 << 20, false);
    let rows: Vec<(usize, [f64; 4])> = SIZES
        .iter()
        .map(|&size| {
            let bytes = count(size) * size;
            let cells = [
                gbps(bytes, memcpy(size)),
                gbps(bytes, one_process(size, false)),
                gbps(bytes, one_process(size, true)),
                gbps(bytes, two_processes(size)),
            ];
            (size, cells)
        })
        .collect();
    let baseline = rows.iter().find(|r| r.0 == 8 << 20).unwrap().1[0];
    println!(
        "skorche-shm ring throughput in GB/s; (ratio) to (a) memcpy at 8 MiB = {baseline:.2} GB/s"
    );
    println!(
        "{:>8} | {:>15} | {:>15} | {:>16} | {:>15}",
        "payload", "(a) memcpy", "(b) 1 process", "(b') + full read", "(c) 2 processes"
    );
    for (size, cells) in rows {
        let label = if size >= 1 << 20 {
            format!("{} MiB", size >> 20)
        } else {
            format!("{} KiB", size >> 10)
        };
        let c: Vec<String> = cells
            .iter()
            .map(|g| format!("{g:6.2} ({:4.2}x)", g / baseline))
            .collect();
        println!(
            "{label:>8} | {:>15} | {:>15} | {:>16} | {:>15}",
            c[0], c[1], c[2], c[3]
        );
    }
}
