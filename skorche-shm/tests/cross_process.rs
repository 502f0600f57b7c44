//! Two real processes share a ring: 10,000 records of random sizes (1 B to 4 MiB) go through a
//! 16 MiB ring, each checked by checksum and released out of order; in both directions.
#![cfg(not(loom))]

mod support;

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use skorche_shm::{Handle, Ring, RingDescriptor};
use support::{checksum, fill, spawn_child, Watchdog, DESC, ROLE};

const RECORDS: usize = 10_000;
const MAX: usize = 4 << 20;
const CAPACITY: usize = 16 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);
const ENTRY: &str = "child_entry";

/// Skewed sizes: mostly small, some medium, a few large, and exactly 4 MiB every 1000th.
fn size(rng: &mut StdRng, i: usize) -> usize {
    if i % 1000 == 500 {
        return MAX;
    }
    match rng.gen_range(0..100) {
        0 => rng.gen_range(1..=MAX),
        1..=9 => rng.gen_range(1..=256 << 10),
        _ => rng.gen_range(1..=16 << 10),
    }
}

/// Writes `RECORDS` records, sending `offset len generation checksum` lines to `out`.
fn produce(ring: &Ring, out: impl Write) {
    let mut out = BufWriter::new(out);
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for i in 0..RECORDS {
        let len = size(&mut rng, i);
        let mut r = ring.reserve(len, TIMEOUT).expect("reserve");
        fill(&mut r, i as u64 + 1);
        let sum = checksum(&r);
        let h = r.commit();
        writeln!(out, "H {} {} {} {}", h.offset, h.len, h.generation, sum).unwrap();
        out.flush().unwrap();
    }
}

/// Reads handle lines (`H offset len generation checksum`, possibly after other text) from
/// `input`, checks each record, releases them out of order.
/// Returns the number of records and the largest length seen.
fn consume(ring: &Ring, input: impl BufRead) -> (usize, u64) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut pending: Vec<Handle> = Vec::new();
    let (mut count, mut largest, mut out_of_order, mut total) = (0usize, 0u64, 0usize, 0u64);
    for line in input.lines() {
        let line = line.expect("read handle line");
        let Some(at) = line.find("H ") else {
            continue;
        };
        let f: Vec<u64> = line[at + 2..]
            .split(' ')
            .map(|x| x.parse().expect("number"))
            .collect();
        let h = Handle {
            ring: ring.id(),
            offset: f[0],
            len: f[1],
            generation: f[2],
        };
        let guard = ring.read(&h).expect("read");
        assert_eq!(checksum(&guard), f[3], "record {count} ({h:?}) corrupted");
        drop(guard);
        count += 1;
        largest = largest.max(h.len);
        total += h.len;
        pending.push(h);
        // Release a random pending record, but the oldest one whenever the ring fills up: a
        // consumer that holds the oldest record while waiting for more input would deadlock
        // against a writer waiting for space.
        while pending.len() > 16 || (ring.used() > CAPACITY / 4 && !pending.is_empty()) {
            let i = if ring.used() > CAPACITY / 4 {
                0
            } else {
                rng.gen_range(0..pending.len())
            };
            out_of_order += usize::from(i != 0);
            let h = pending.remove(i);
            ring.release(&h).expect("release");
        }
    }
    while !pending.is_empty() {
        let h = pending.swap_remove(rng.gen_range(0..pending.len()));
        ring.release(&h).expect("release");
    }
    assert!(out_of_order > RECORDS / 4, "releases were mostly in order");
    assert!(
        total > 8 * CAPACITY as u64,
        "{total} bytes: the ring must be much smaller than the data"
    );
    eprintln!("{count} records, {total} bytes, {out_of_order} released out of order");
    (count, largest)
}

/// The child side of both tests; does nothing unless started by them.
#[test]
#[ignore = "child process entry, run by the other tests"]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let desc: RingDescriptor = serde_json::from_str(&std::env::var(DESC).unwrap()).unwrap();
    let ring = Ring::open(&desc).expect("open ring in child");
    match role.as_str() {
        "writer" => produce(&ring, std::io::stdout().lock()),
        "reader" => {
            let (count, largest) = consume(&ring, std::io::stdin().lock());
            println!("done {count} {largest}");
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn child_writes_parent_reads_and_releases_out_of_order() {
    let ring = Ring::create(CAPACITY).unwrap();
    let desc = serde_json::to_string(&ring.descriptor()).unwrap();
    let mut child = spawn_child(ENTRY, "writer", &[(DESC, desc)]);
    let _watchdog = Watchdog::arm(child.id(), Duration::from_secs(120));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // Streams: the child blocks on the full ring until we release, so the 16 MiB ring carries
    // several hundred MiB.
    let (count, largest) = consume(&ring, stdout);
    let status = child.wait().unwrap();
    assert!(status.success(), "child writer failed: {status}");
    assert_eq!(count, RECORDS);
    assert_eq!(largest, MAX as u64);
    // The child dropped its writer claim on exit; every record was released, so the whole ring
    // can be reclaimed for one maximal record.
    let all = ring
        .try_reserve(ring.max_payload())
        .expect("whole ring free again");
    drop(all);
}

#[test]
fn parent_writes_child_reads_and_releases_out_of_order() {
    let ring = Ring::create(CAPACITY).unwrap();
    let desc = serde_json::to_string(&ring.descriptor()).unwrap();
    let mut child = spawn_child(ENTRY, "reader", &[(DESC, desc)]);
    let _watchdog = Watchdog::arm(child.id(), Duration::from_secs(120));
    let stdin = child.stdin.take().unwrap();
    produce(&ring, stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child reader failed: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("done {RECORDS} {MAX}")),
        "child output: {text}"
    );
}
