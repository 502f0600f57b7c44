//! The rows of `examples/bench_speed.rs` (one table, full size) and `benches/speed.rs`
//! (criterion, smaller sizes): one function per row, each running its case once, checking
//! its result, and returning the wall time of that run.
//!
//! This file is a module of both binaries (`#[path]` from the bench); it lives in a
//! subdirectory of `examples/` so that Cargo does not take it for an example of its own.
//!
//! Every timed run includes its setup: spawning worker or child processes, creating
//! channels and rings, starting threads. Process rows and raw ipc-channel rows pay the same
//! kind of start-up, so their ratios compare transports, not spawn counts.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use ipc_channel::ipc::{
    self, IpcBytesSender, IpcOneShotServer, IpcReceiver, IpcSender, IpcSharedMemory,
};
use rayon::iter::{ParallelBridge, ParallelIterator};
use serde::{Deserialize, Serialize};
use skorche::worker::builtin::{self, checksum};
use skorche::Pipeline;

/// Set in a child spawned by the raw ipc-channel rows: the name of the one-shot server it
/// connects to. The child is this same binary, so no other program has to be built.
pub const CHILD_ENV: &str = "SKORCHE_BENCH_SPEED_CHILD";

/// The byte every large value is filled with. Not zero: a zero fill could be satisfied by
/// fresh zeroed pages without writing, and the rows must write every byte.
pub const BYTE: u8 = 0x5A;

/// Worker (or child) processes producing large values: the case is 2.
pub const PRODUCERS: usize = 2;

/// Values waiting between the producing stage and the driver, and values a worker holds
/// unanswered (`process_batching(1, WINDOW)`): one 8 MiB value per message, at most 4 in
/// flight, so a worker's unanswered outputs (32 MiB) fit its 64 MiB output ring.
pub const WINDOW: usize = 4;

/// Items per chunk of the chunked crossbeam pipeline.
pub const CHUNK: usize = 64;

/// Queue bound of the hand-written crossbeam pipelines, in items: skorche's default
/// queue capacity, so both sides of the thread-mode comparison buffer the same amount.
pub const CROSSBEAM_BOUND: usize = 64;

fn memset_bytes((byte, len): (u8, u64)) -> Vec<u8> {
    vec![byte; len as usize]
}

fn memset_len(input: &(u8, u64)) -> usize {
    input.1 as usize
}

fn memset_fill((byte, _): (u8, u64), out: &mut [u8]) {
    out.fill(byte);
}

// Registered here rather than taken from `builtin` because the case is a memset,
// and `builtin::PRODUCE_BYTES` computes a hash per word (about 3.5 GB/s on one core here),
// which would cap every row below the transport being measured. The names are scoped to
// this bench so they cannot collide with a built-in task of the same purpose.
skorche::worker::task! {
    /// `(byte, len) -> Vec<u8>`: `len` copies of `byte`, allocated then handed to the codec
    /// (in a worker, copied into the output ring at or above the shm threshold).
    pub static MEMSET_BYTES: (u8, u64) => Vec<u8> = map("bench_speed.memset_bytes", memset_bytes);
    /// The same bytes written in place: in a worker, straight into the output ring.
    pub static MEMSET_IN_PLACE: (u8, u64) => Vec<u8> =
        fill_bytes("bench_speed.memset_in_place", memset_len, memset_fill);
}

// ------------------------------------------------------------------ running rows

/// A large-payload row: one run of the case, checked, and its wall time.
pub type PayloadRow = fn(Payloads, Read) -> Duration;

/// A small-item or thread-mode row over `0..items`: one run, checked, and its wall time.
pub type ItemRow = fn(u64) -> Duration;

// ------------------------------------------------------------------ large payloads

/// The large-payload case: `values` values of `len` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Payloads {
    pub values: u64,
    pub len: usize,
}

impl Payloads {
    /// Bytes made (and read) by one run.
    pub fn bytes(&self) -> u64 {
        self.values * self.len as u64
    }

    /// The values one of [`PRODUCERS`] producers makes: the first takes the remainder.
    fn share(&self, producer: usize) -> u64 {
        let base = self.values / PRODUCERS as u64;
        if producer == 0 {
            base + self.values % PRODUCERS as u64
        } else {
            base
        }
    }
}

/// What the driver does with each value it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// One `u64` from the start of every 4 KiB page, plus the last 8 bytes: every page of
    /// the value is mapped and read in the driver, at almost no compute.
    Touch,
    /// `builtin::checksum` over every byte (a multiply per word: compute-bound at a few
    /// GB/s, so it caps any row that uses it).
    Checksum,
}

/// Reads values as [`Read`] says and checks each one: its length, and the result of the read
/// against the same read of a value made locally.
struct Reader {
    how: Read,
    len: usize,
    expected: u64,
}

impl Reader {
    fn new(how: Read, len: usize) -> Self {
        let mut r = Reader {
            how,
            len,
            expected: 0,
        };
        r.expected = r.value(&vec![BYTE; len]);
        r
    }

    fn value(&self, bytes: &[u8]) -> u64 {
        match self.how {
            Read::Checksum => checksum(bytes),
            Read::Touch => {
                let word =
                    |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
                let pages = (0..bytes.len().saturating_sub(7))
                    .step_by(4096)
                    .fold(0u64, |acc, at| acc.wrapping_add(word(at)));
                pages.wrapping_add(word(bytes.len() - 8))
            }
        }
    }

    fn read(&self, bytes: &[u8]) {
        assert_eq!(bytes.len(), self.len, "a value has the wrong length");
        assert_eq!(
            self.value(bytes),
            self.expected,
            "a value has the wrong bytes"
        );
    }
}

/// Baseline: one thread allocates each value, copies a prepared buffer into it (`memcpy`)
/// and reads it as the driver reads the values of the other rows.
pub fn alloc_memcpy_row(p: Payloads, how: Read) -> Duration {
    let reader = Reader::new(how, p.len);
    let source = vec![BYTE; p.len];
    let start = Instant::now();
    for _ in 0..p.values {
        let mut v = Vec::<u8>::with_capacity(p.len);
        v.extend_from_slice(black_box(&source));
        reader.read(black_box(&v));
    }
    start.elapsed()
}

/// Raw ipc-channel, bytes: [`PRODUCERS`] child processes fill one reused buffer with a
/// memset per value and send it with `IpcBytesSender::send`; the driver receives each value
/// as a `Vec<u8>` (`IpcBytesReceiver::recv`) and reads it. Both children share one channel.
pub fn ipc_bytes_row(p: Payloads, how: Read) -> Duration {
    let reader = Reader::new(how, p.len);
    let start = Instant::now();
    let (tx, rx) = ipc::bytes_channel().expect("bytes channel");
    let children: Vec<Child> = (0..PRODUCERS)
        .map(|k| {
            let child = Child::spawn();
            child.handoff(Handoff::Bytes {
                out: tx.clone(),
                values: p.share(k),
                len: p.len,
            });
            child
        })
        .collect();
    drop(tx);
    for _ in 0..p.values {
        reader.read(&rx.recv().expect("a value from a child"));
    }
    children.into_iter().for_each(Child::finish);
    start.elapsed()
}

/// Raw ipc-channel, shared memory: [`PRODUCERS`] child processes make each value as an
/// `IpcSharedMemory::from_byte` (a new memfd, mapped and memset) and send it; the driver
/// maps it, reads it, drops it and returns a credit to its child. A child has at most
/// [`WINDOW`] values unanswered, the bound the skorche rows have.
pub fn ipc_shm_row(p: Payloads, how: Read) -> Duration {
    let reader = Reader::new(how, p.len);
    let start = Instant::now();
    let (tx, rx) = ipc::channel::<(usize, IpcSharedMemory)>().expect("channel");
    let mut credits = Vec::new();
    let children: Vec<Child> = (0..PRODUCERS)
        .map(|k| {
            let (credit_tx, credit_rx) = ipc::channel().expect("credit channel");
            credits.push(credit_tx);
            let child = Child::spawn();
            child.handoff(Handoff::Shm {
                out: tx.clone(),
                credits: credit_rx,
                id: k,
                values: p.share(k),
                len: p.len,
            });
            child
        })
        .collect();
    drop(tx);
    for _ in 0..p.values {
        let (k, shm) = rx.recv().expect("a value from a child");
        reader.read(&shm);
        drop(shm);
        // A child that has sent its last value may already have exited and closed its
        // credit channel; the credit is then not needed.
        let _ = credits[k].send(());
    }
    children.into_iter().for_each(Child::finish);
    start.elapsed()
}

/// How a skorche large-payload row runs its stage.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// [`PRODUCERS`] worker threads.
    Threads,
    /// [`PRODUCERS`] worker processes; values at or above the default 64 KiB threshold go
    /// through the rings.
    Shm,
    /// [`PRODUCERS`] worker processes, `shm_threshold(usize::MAX)`: every value inline in
    /// the messages.
    Inline,
}

/// `values` inputs `(BYTE, len)` through `task` in a stage run as `stage`, the driver reading
/// every output from `run_iter`.
fn skorche_payloads(
    p: Payloads,
    how: Read,
    task: &'static skorche::worker::registry::TaskDef<(u8, u64), Vec<u8>>,
    stage: Stage,
) -> Duration {
    let reader = Reader::new(how, p.len);
    let start = Instant::now();
    let pl = Pipeline::new();
    let len = p.len as u64;
    let q = pl
        .source((0..p.values).map(move |_| (BYTE, len)))
        .map_task(task)
        .capacity(WINDOW);
    let q = match stage {
        Stage::Threads => q.workers(PRODUCERS),
        Stage::Shm => q.processes(PRODUCERS).process_batching(1, WINDOW),
        Stage::Inline => q
            .processes(PRODUCERS)
            .process_batching(1, WINDOW)
            .shm_threshold(usize::MAX),
    };
    let mut n = 0u64;
    for v in pl.run_iter(q).expect("start") {
        reader.read(&v.expect("a value"));
        n += 1;
    }
    assert_eq!(n, p.values, "values lost or duplicated");
    start.elapsed()
}

/// skorche thread mode: `MEMSET_BYTES` on [`PRODUCERS`] worker threads; the `Vec` moves to
/// the driver without a copy.
pub fn skorche_thread_payloads_row(p: Payloads, how: Read) -> Duration {
    skorche_payloads(p, how, &MEMSET_BYTES, Stage::Threads)
}

/// skorche process mode, inline: `MEMSET_BYTES` in [`PRODUCERS`] workers, each value
/// encoded into its message, written to the socket, read and decoded by the driver.
pub fn process_inline_row(p: Payloads, how: Read) -> Duration {
    skorche_payloads(p, how, &MEMSET_BYTES, Stage::Inline)
}

/// skorche process mode via shm: `MEMSET_BYTES` in [`PRODUCERS`] workers (a `Vec` made,
/// then copied into the output ring); the driver copies each record out into its `Vec<u8>`.
pub fn process_shm_row(p: Payloads, how: Read) -> Duration {
    skorche_payloads(p, how, &MEMSET_BYTES, Stage::Shm)
}

/// skorche process mode, shm in place: `MEMSET_IN_PLACE` writes straight into the output
/// ring; the driver still copies each record out into its `Vec<u8>`.
pub fn process_in_place_row(p: Payloads, how: Read) -> Duration {
    skorche_payloads(p, how, &MEMSET_IN_PLACE, Stage::Shm)
}

/// skorche process mode, zero-copy read: `MEMSET_IN_PLACE` writes straight into the output
/// ring and the driver reads each value as a `ShmBytes` where it lies (no copy); dropping the
/// value releases its record.
pub fn zero_copy_read_row(p: Payloads, how: Read) -> Duration {
    let reader = Reader::new(how, p.len);
    let start = Instant::now();
    let pl = Pipeline::new();
    let len = p.len as u64;
    let q = pl
        .source((0..p.values).map(move |_| (BYTE, len)))
        .map_task_as::<_, skorche::shm::ShmBytes>(&MEMSET_IN_PLACE)
        .capacity(WINDOW)
        .processes(PRODUCERS)
        .process_batching(1, WINDOW);
    let mut n = 0u64;
    for v in pl.run_iter(q).expect("start") {
        let v = v.expect("a value");
        assert!(v.in_ring(), "a large value read in place");
        reader.read(&v);
        n += 1;
    }
    assert_eq!(n, p.values, "values lost or duplicated");
    start.elapsed()
}

// ------------------------------------------------------------------ small items

/// Sum of `0..items`: what every small-item row must add up to.
fn expected_sum(items: u64) -> u64 {
    (0..items).fold(0u64, u64::wrapping_add)
}

/// Raw ipc-channel round trip: `0..items` in `Vec<u64>` messages of `per_message` items,
/// sent to one child process that sends each message back; the driver sums what returns.
/// A thread of the driver sends while its main thread receives, so the two directions
/// overlap as they do in skorche (the sockets' buffers bound what is in flight).
pub fn ipc_echo_row(items: u64, per_message: usize) -> Duration {
    let start = Instant::now();
    let child = Child::spawn();
    let (to_child, input) = ipc::channel::<Vec<u64>>().expect("channel");
    let (output, from_child) = ipc::channel::<Vec<u64>>().expect("channel");
    child.handoff(Handoff::Echo { input, output });
    let sender = std::thread::spawn(move || {
        let mut next = 0u64;
        while next < items {
            let end = (next + per_message as u64).min(items);
            to_child.send((next..end).collect()).expect("send to child");
            next = end;
        }
        // Dropping `to_child` here closes the child's input: it then ends.
    });
    let (mut n, mut sum) = (0u64, 0u64);
    while n < items {
        let batch = from_child.recv().expect("a batch back from the child");
        n += batch.len() as u64;
        sum = batch.iter().fold(sum, |s, &x| s.wrapping_add(x));
    }
    sender.join().expect("sender thread");
    child.finish();
    assert_eq!(
        (n, sum),
        (items, expected_sum(items)),
        "items lost or changed"
    );
    start.elapsed()
}

/// skorche process mode: `0..items` through `builtin::IDENTITY_U64` in `workers` worker
/// processes (default batching), the driver summing the outputs.
pub fn process_identity_row(items: u64, workers: usize) -> Duration {
    let start = Instant::now();
    let p = Pipeline::new();
    let q = p
        .source(0..items)
        .map_task(&builtin::IDENTITY_U64)
        .processes(workers);
    let sum = p
        .run_iter(q)
        .expect("start")
        .map(|r| r.expect("item"))
        .fold(0u64, u64::wrapping_add);
    assert_eq!(sum, expected_sum(items), "items lost or changed");
    start.elapsed()
}

// ------------------------------------------------------------------ thread mode

/// Hand-written crossbeam pipeline: a source thread, three identity stage threads and the
/// consumer on the calling thread, `bounded(CROSSBEAM_BOUND)` channels, one send per item.
pub fn crossbeam_per_item_row(items: u64) -> Duration {
    let start = Instant::now();
    let (tx, mut rx) = bounded::<u64>(CROSSBEAM_BOUND);
    let mut threads = vec![std::thread::spawn(move || {
        for i in 0..items {
            tx.send(i).expect("stage alive");
        }
    })];
    for _ in 0..3 {
        let (tx, next) = bounded::<u64>(CROSSBEAM_BOUND);
        let input = rx;
        threads.push(std::thread::spawn(move || {
            for v in input {
                tx.send(black_box(v)).expect("stage alive");
            }
        }));
        rx = next;
    }
    let sum = rx.iter().fold(0u64, u64::wrapping_add);
    threads
        .into_iter()
        .for_each(|t| t.join().expect("stage thread"));
    assert_eq!(sum, expected_sum(items), "items lost or changed");
    start.elapsed()
}

/// The same pipeline carrying `Vec<u64>` chunks of [`CHUNK`] items (the bound counted in
/// chunks: `CROSSBEAM_BOUND / 4`, about 1,000 items buffered per hop): what batching the hops
/// can reach by hand.
pub fn crossbeam_chunked_row(items: u64) -> Duration {
    let bound = CROSSBEAM_BOUND / 4;
    let start = Instant::now();
    let (tx, mut rx) = bounded::<Vec<u64>>(bound);
    let mut threads = vec![std::thread::spawn(move || {
        let mut next = 0u64;
        while next < items {
            let end = (next + CHUNK as u64).min(items);
            tx.send((next..end).collect()).expect("stage alive");
            next = end;
        }
    })];
    for _ in 0..3 {
        let (tx, next) = bounded::<Vec<u64>>(bound);
        let input = rx;
        threads.push(std::thread::spawn(move || {
            for mut chunk in input {
                chunk.iter_mut().for_each(|x| *x = black_box(*x));
                tx.send(chunk).expect("stage alive");
            }
        }));
        rx = next;
    }
    let sum = rx
        .iter()
        .flatten()
        .fold(0u64, |s, x| s.wrapping_add(black_box(x)));
    threads
        .into_iter()
        .for_each(|t| t.join().expect("stage thread"));
    assert_eq!(sum, expected_sum(items), "items lost or changed");
    start.elapsed()
}

/// rayon: `(0..items).par_bridge()` through three identity maps, summed on the global pool.
pub fn rayon_par_bridge_row(items: u64) -> Duration {
    let start = Instant::now();
    let sum: u64 = (0..items)
        .par_bridge()
        .map(|x| x)
        .map(|x| x)
        .map(|x| x)
        .sum();
    assert_eq!(sum, expected_sum(items), "items lost or changed");
    start.elapsed()
}

/// skorche thread mode: `source(0..items)`, three identity `map` stages, summed by the
/// driver from `run_iter`.
pub fn skorche_three_stages_row(items: u64) -> Duration {
    let start = Instant::now();
    let p = Pipeline::new();
    let q = p
        .source(0..items)
        .map(|x: u64| x)
        .map(|x: u64| x)
        .map(|x: u64| x);
    let sum = p
        .run_iter(q)
        .expect("start")
        .map(|r| r.expect("item"))
        .fold(0u64, u64::wrapping_add);
    assert_eq!(sum, expected_sum(items), "items lost or changed");
    start.elapsed()
}

// ------------------------------------------------------------------ raw ipc-channel children

/// What the driver hands a child once it has connected: its channels and its work.
#[derive(Serialize, Deserialize)]
enum Handoff {
    /// Send every message of `input` back on `output` until `input` closes.
    Echo {
        input: IpcReceiver<Vec<u64>>,
        output: IpcSender<Vec<u64>>,
    },
    /// Send `values` values of `len` bytes of [`BYTE`] on `out`.
    Bytes {
        out: IpcBytesSender,
        values: u64,
        len: usize,
    },
    /// Send `values` shared-memory values of `len` bytes of [`BYTE`] on `out`, tagged `id`,
    /// with at most [`WINDOW`] of them not yet answered by a credit.
    Shm {
        out: IpcSender<(usize, IpcSharedMemory)>,
        credits: IpcReceiver<()>,
        id: usize,
        values: u64,
        len: usize,
    },
}

/// A child process of a raw ipc-channel row: this binary, re-executed with [`CHILD_ENV`].
struct Child {
    process: std::process::Child,
    handoff: IpcSender<Handoff>,
}

impl Child {
    /// Spawns the child and waits for it to connect: it answers with a sender on which it
    /// receives its [`Handoff`] (a one-shot server can only pass a value the child makes).
    fn spawn() -> Child {
        let (server, name) =
            IpcOneShotServer::<IpcSender<Handoff>>::new().expect("one-shot server");
        let process = Command::new(std::env::current_exe().expect("current exe"))
            .env(CHILD_ENV, name)
            .spawn()
            .expect("spawn child");
        let (_, handoff) = server.accept().expect("the child connects");
        Child { process, handoff }
    }

    fn handoff(&self, work: Handoff) {
        self.handoff.send(work).expect("hand work to the child");
    }

    /// Waits for the child to exit and checks that it succeeded.
    fn finish(mut self) {
        let status = self.process.wait().expect("wait for child");
        assert!(status.success(), "a child failed: {status}");
    }
}

/// In a child spawned by a raw ipc-channel row, does the child's work and exits; elsewhere
/// returns at once. Call it first in `main`, after `skorche::worker::enter()`.
pub fn child_if_asked() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let boot = IpcSender::<IpcSender<Handoff>>::connect(name).expect("connect to the driver");
    let (tx, rx) = ipc::channel::<Handoff>().expect("channel");
    boot.send(tx).expect("send the handoff channel");
    match rx.recv().expect("handoff") {
        Handoff::Echo { input, output } => {
            // `recv` fails when the driver drops its sender: the end of the input.
            while let Ok(batch) = input.recv() {
                output.send(batch).expect("send back to the driver");
            }
        }
        Handoff::Bytes { out, values, len } => {
            let mut buf = vec![0u8; len];
            for _ in 0..values {
                buf.fill(BYTE);
                out.send(&buf).expect("send to the driver");
            }
        }
        Handoff::Shm {
            out,
            credits,
            id,
            values,
            len,
        } => {
            for i in 0..values {
                if i >= WINDOW as u64 {
                    credits.recv().expect("a credit from the driver");
                }
                out.send((id, IpcSharedMemory::from_byte(BYTE, len)))
                    .expect("send to the driver");
            }
        }
    }
    std::process::exit(0);
}
