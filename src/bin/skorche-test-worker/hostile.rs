//! A worker that breaks the protocol on purpose, for the coordinator's fault tests
//! (`tests/process_hostile_workers.rs`).
//!
//! In a process started as a worker (the bootstrap variable
//! [`ENV_FD`](skorche::worker::ENV_FD) is set) whose environment also holds
//! `SKORCHE_TEST_HOSTILE=<mode>`, `main` calls [`run`] instead of
//! [`enter`](skorche::worker::enter). It speaks the local transport's framing over the
//! inherited socket, runs the asked task for real (so that what it answers is right except for
//! the fault), and misbehaves per mode:
//!
//! | mode | what it does |
//! |---|---|
//! | `truncated` | on the first `Work`, writes half of its `Results` frame and exits 0 |
//! | `hello-twice` | sends a second `Hello` right after `Ready`, then serves normally |
//! | `huge-frame` | on the first `Work`, writes a frame header announcing 2^40 bytes and three bytes, then waits |
//! | `wrong-batch` | answers the first `Work` under a batch id the coordinator never used |
//! | `wrong-first` | answers the first `Work` with the right batch id but claiming to start at its second item |
//! | `lying-count` | answers the first `Work` announcing one output more than the message holds |
//! | `wrong-count` | answers the first `Work` with two outputs for its first input (wrong for a map task) |
//! | `too-few` | answers the first `Work` with one result fewer than it had items, marked `last` |
//! | `wrong-kind` | greets with the asked task's name and types but as a `FlatMap` |
//! | `garbage-ring` | writes an unaligned head (3) into its output ring's header, then answers every item with a handle into that ring where no record was committed |
//! | `garbage-input-ring` | writes an unaligned head (3) into the header of every ring other than its output ring (the rings the coordinator writes its inputs to), then serves normally |
//!
//! "Waits" means: reads its socket until the coordinator closes it or kills the process, so
//! that a hostile worker never outlives its coordinator. Any other mode name exits 2.

use std::io::{BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;

use skorche::worker::codec::PayloadIo;
use skorche::worker::protocol::{
    FromWorker, Hello, Outcome, Results, TaskIdentity, ToWorker, Welcome, Work, PROTOCOL_VERSION,
};
use skorche::worker::registry::{self, ErasedInstance, TaskKind};
use skorche::worker::rings::{BackingDescriptor, Handle, Ring, RingDescriptor};
use skorche::worker::transport::local::frame;
use skorche::worker::values::{ValueRef, Values};

/// The environment variable that selects a mode.
pub const ENV_HOSTILE: &str = "SKORCHE_TEST_HOSTILE";

/// Byte offset of the `head` counter in a ring segment's header (skorche-shm's layout).
const RING_HEAD_OFFSET: u64 = 64;

/// The mode, when this process was started as a worker and asked to misbehave.
pub fn requested() -> Option<String> {
    std::env::var_os(skorche::worker::ENV_FD)?;
    std::env::var(ENV_HOSTILE).ok()
}

/// Which first-batch fault a mode injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Truncated,
    HelloTwice,
    HugeFrame,
    WrongBatch,
    WrongFirst,
    LyingCount,
    WrongCount,
    TooFew,
    WrongKind,
    GarbageRing,
    GarbageInputRing,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "truncated" => Mode::Truncated,
            "hello-twice" => Mode::HelloTwice,
            "huge-frame" => Mode::HugeFrame,
            "wrong-batch" => Mode::WrongBatch,
            "wrong-first" => Mode::WrongFirst,
            "lying-count" => Mode::LyingCount,
            "wrong-count" => Mode::WrongCount,
            "too-few" => Mode::TooFew,
            "wrong-kind" => Mode::WrongKind,
            "garbage-ring" => Mode::GarbageRing,
            "garbage-input-ring" => Mode::GarbageInputRing,
            _ => return None,
        })
    }
}

fn die(code: i32, why: &str) -> ! {
    eprintln!("hostile worker (pid {}): {why}", std::process::id());
    std::process::exit(code);
}

struct Link {
    input: BufReader<UnixStream>,
    output: UnixStream,
}

impl Link {
    fn send(&mut self, msg: &FromWorker) {
        if let Err(e) = frame::write(&mut self.output, msg) {
            die(3, &format!("cannot send: {e}"));
        }
    }

    fn recv(&mut self) -> ToWorker {
        match frame::read(&mut self.input, frame::MAX_FRAME) {
            Ok(m) => m,
            Err(e) => die(3, &format!("coordinator gone: {e}")),
        }
    }

    /// Reads until the coordinator hangs up (or kills this process), then exits.
    fn wait(&mut self) -> ! {
        let mut sink = [0u8; 4096];
        while matches!(self.input.read(&mut sink), Ok(n) if n > 0) {}
        die(3, "coordinator hung up");
    }
}

/// Runs the worker side of `mode`; never returns.
pub fn run(mode: &str) -> ! {
    let Some(mode) = Mode::parse(mode) else {
        die(2, &format!("unknown {ENV_HOSTILE} mode {mode:?}"));
    };
    let fd: i32 = std::env::var(skorche::worker::ENV_FD)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| die(64, "malformed bootstrap environment"));
    let task_name =
        std::env::var(skorche::worker::ENV_TASK).unwrap_or_else(|_| die(64, "no task named"));
    // SAFETY: the coordinator placed our end of its socket at this number for this process;
    // nothing else in this process owns the descriptor.
    let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut link = Link {
        input: BufReader::new(
            stream
                .try_clone()
                .unwrap_or_else(|e| die(3, &e.to_string())),
        ),
        output: stream,
    };
    let Some(task) = registry::lookup(&task_name) else {
        die(66, &format!("task {task_name:?} is not registered"));
    };
    let identity = TaskIdentity {
        name: task.name().to_string(),
        kind: if mode == Mode::WrongKind {
            TaskKind::FlatMap
        } else {
            task.kind()
        },
        input_type: task.input_type().to_string(),
        output_type: task.output_type().to_string(),
        version: task.version().map(str::to_string),
    };
    let hello = FromWorker::Hello(Hello {
        version: PROTOCOL_VERSION,
        pid: std::process::id(),
        task: identity,
    });
    link.send(&hello);
    let welcome = match link.recv() {
        ToWorker::Welcome(w) => w,
        ToWorker::Reject { reason } => die(67, &format!("rejected: {reason}")),
        other => die(69, &format!("expected Welcome, got {}", other.name())),
    };
    match mode {
        Mode::GarbageRing => {
            if let Some(out) = welcome.output_ring {
                corrupt_head(&welcome.rings[out]);
            }
        }
        Mode::GarbageInputRing => {
            for (i, desc) in welcome.rings.iter().enumerate() {
                if Some(i) != welcome.output_ring {
                    corrupt_head(desc);
                }
            }
        }
        _ => {}
    }
    let (io, mut instance) = attach(task, &welcome);
    link.send(&FromWorker::Ready);
    if mode == Mode::HelloTwice {
        link.send(&hello);
    }
    let mut first = true;
    loop {
        let work = match link.recv() {
            ToWorker::Work(w) => w,
            ToWorker::End => {
                link.send(&FromWorker::Bye);
                std::process::exit(0);
            }
            other => die(69, &format!("unexpected {}", other.name())),
        };
        let fault = std::mem::replace(&mut first, false);
        if mode == Mode::GarbageRing {
            link.send(&forged_answer(&welcome, work));
            continue;
        }
        let mut answer = answer(instance.as_mut(), &io, work);
        if fault {
            match mode {
                Mode::Truncated => {
                    let mut buf = Vec::new();
                    frame::write(&mut buf, &FromWorker::Results(answer))
                        .unwrap_or_else(|e| die(3, &e.to_string()));
                    let _ = link.output.write_all(&buf[..buf.len() / 2]);
                    std::process::exit(0);
                }
                Mode::HugeFrame => {
                    let mut bytes = (1u64 << 40).to_le_bytes().to_vec();
                    bytes.extend_from_slice(b"abc");
                    let _ = link.output.write_all(&bytes);
                    link.wait();
                }
                Mode::WrongBatch => answer.batch = u64::MAX - answer.batch,
                Mode::WrongFirst => answer.first += 1,
                Mode::LyingCount => {
                    if let Some(Outcome::Done(n)) = answer.outcomes.first_mut() {
                        *n += 1;
                    }
                }
                Mode::WrongCount => {
                    // The first input answered with two outputs: its own twice.
                    if let Some(Outcome::Done(n)) = answer.outcomes.first_mut() {
                        *n += 1;
                        let mut outputs = Values::default();
                        let mut old = answer.outputs.iter();
                        let first = old.next();
                        for v in first.into_iter().chain(first).chain(old) {
                            push(&mut outputs, v);
                        }
                        answer.outputs = outputs;
                    }
                }
                Mode::TooFew => {
                    if let Some(Outcome::Done(n)) = answer.outcomes.pop() {
                        let mut outputs = Values::default();
                        let keep = answer.outputs.len() - n as usize;
                        for v in answer.outputs.iter().take(keep) {
                            push(&mut outputs, v);
                        }
                        answer.outputs = outputs;
                    }
                }
                _ => {}
            }
        }
        link.send(&FromWorker::Results(answer));
    }
}

/// Opens the rings of the Welcome and builds the task's state, as a real worker does.
fn attach(
    task: &'static dyn registry::ErasedTask,
    welcome: &Welcome,
) -> (PayloadIo, Box<dyn ErasedInstance>) {
    let rings: Vec<Ring> = welcome
        .rings
        .iter()
        .map(|d| Ring::open(d).unwrap_or_else(|e| die(68, &format!("cannot attach: {e}"))))
        .collect();
    let io = PayloadIo::new(rings, welcome.output_ring, welcome.shm_threshold, None);
    let instance = task
        .instantiate_erased(&welcome.params)
        .unwrap_or_else(|e| die(68, &format!("cannot build the task: {e}")));
    (io, instance)
}

/// What an honest worker answers, in one part.
fn answer(instance: &mut dyn ErasedInstance, io: &PayloadIo, work: Work) -> Results {
    let mut outputs = Values::default();
    let outcomes = work
        .items
        .iter()
        .map(|item| {
            io.begin_call();
            match instance.call_value(item, io, &mut outputs) {
                Ok(n) => Outcome::Done(n),
                Err(failure) => Outcome::Failed(failure),
            }
        })
        .collect();
    Results {
        batch: work.batch,
        first: 0,
        outcomes,
        outputs,
        last: true,
        busy_ns: 1,
    }
}

/// Copies one value onto `out`.
fn push(out: &mut Values, v: ValueRef<'_>) {
    match v {
        ValueRef::Inline(b) => out.push_bytes(b),
        ValueRef::Shm(h) => out.push_shm(*h),
    }
}

/// Answers every item with a handle to offset 0 of the output ring, where nothing was
/// committed (or, without an output ring, into a ring that does not exist).
fn forged_answer(welcome: &Welcome, work: Work) -> FromWorker {
    let (ring, capacity) = match welcome.output_ring {
        Some(i) => (welcome.rings[i].ring, welcome.rings[i].capacity),
        None => (skorche::worker::rings::RingId(0x0bad_0bad), 1 << 20),
    };
    let handle = Handle {
        ring,
        offset: 0,
        len: capacity.saturating_sub(64).min(4096),
        generation: 1,
    };
    let mut outputs = Values::default();
    for _ in work.items.iter() {
        outputs.push_shm(handle);
    }
    FromWorker::Results(Results {
        batch: work.batch,
        first: 0,
        outcomes: vec![Outcome::Done(1); work.items.len()],
        outputs,
        last: true,
        busy_ns: 1,
    })
}

/// Writes an unaligned head counter (3) into a ring's segment header.
fn corrupt_head(desc: &RingDescriptor) {
    let path = match &desc.backing {
        BackingDescriptor::Inherited { fd } => format!("/proc/self/fd/{fd}"),
        BackingDescriptor::Memfd { pid, fd } => format!("/proc/{pid}/fd/{fd}"),
        BackingDescriptor::Named { name } => format!("/dev/shm{name}"),
        other => die(68, &format!("cannot reach ring {other:?}")),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| die(68, &format!("cannot open {path}: {e}")));
    file.write_all_at(&3u64.to_le_bytes(), RING_HEAD_OFFSET)
        .unwrap_or_else(|e| die(68, &format!("cannot write {path}: {e}")));
}
