//! A misbehaving worker for the transport's fault tests; the task name picks the misbehaviour.
//!
//! It reads its socket from [`ENV_FD`](skorche_worker::ENV_FD) as a real worker does and
//! speaks the framing of `transport::local::frame`, announcing the task
//! `{name, Map, u64 => u64}` (the identity of `identity_u64` under the asked name):
//!
//! - `fake_garbage`: handshakes, then answers `Work` with a frame that is not a `FromWorker`.
//! - `fake_foreign_handle`: answers `Work` with a `Shm` handle into a ring it was not given.
//! - `fake_old_version`: greets with another protocol version.
//! - `fake_wrong_kind`: greets with the right name and types but as a flat-map.
//! - `fake_no_ready`: never confirms `Welcome`.
//! - `fake_no_bye`: exits 0 on `End` without saying `Bye`.
//! - `fake_hello_twice`: answers `Work` with a second `Hello`.
//! - `fake_huge_frame`: answers `Work` with a header announcing 2^40 bytes, a few bytes, and
//!   waits.
//! - `fake_huge_hello`: greets with a header announcing 2^40 bytes, a few bytes, and waits.
//! - `fake_truncated`: answers `Work` with half a `Results` frame and exits 0.
//! - `fake_welcome`: answers each item with the `Debug` text of the rings its `Welcome` named
//!   (an encoded `String`).
//!
//! Any other name: an echo worker (each input's payload is its one output).

use std::io::{BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use skorche_worker::protocol::{
    FromWorker, Hello, Outcome, Results, TaskIdentity, ToWorker, Work, PROTOCOL_VERSION,
};
use skorche_worker::registry::TaskKind;
use skorche_worker::rings::{Handle, RingId};
use skorche_worker::transport::local::frame;
use skorche_worker::values::{ValueRef, Values};

/// Variant 9 is out of range for `FromWorker`.
#[derive(Serialize, Deserialize)]
#[allow(dead_code)]
enum Junk {
    A,
    B,
    C,
    D,
    E,
    F,
    G,
    H,
    I,
    J(u64),
}

fn identity(task: &str, kind: TaskKind) -> TaskIdentity {
    TaskIdentity {
        name: task.to_string(),
        kind,
        input_type: "u64".into(),
        output_type: "u64".into(),
        version: None,
    }
}

fn hello(task: &str, version: u32, kind: TaskKind) -> FromWorker {
    FromWorker::Hello(Hello {
        version,
        pid: std::process::id(),
        task: identity(task, kind),
    })
}

/// A frame header announcing 2^40 bytes, then a few of them; the stream stays open.
fn huge_frame_and_wait(out: &mut UnixStream) -> ! {
    let mut bytes = (1u64 << 40).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"abc");
    out.write_all(&bytes).expect("huge header");
    std::thread::sleep(Duration::from_secs(100));
    std::process::exit(5);
}

/// Every input answered with one output made by `output`.
fn answer(work: &Work, mut output: impl FnMut(ValueRef<'_>, &mut Values)) -> FromWorker {
    let mut outputs = Values::default();
    for v in work.items.iter() {
        output(v, &mut outputs);
    }
    FromWorker::Results(Results {
        batch: work.batch,
        first: 0,
        outcomes: vec![Outcome::Done(1); work.items.len()],
        outputs,
        last: true,
        busy_ns: work.items.len() as u64,
    })
}

fn echo(work: Work) -> FromWorker {
    answer(&work, |v, out| match v {
        ValueRef::Inline(b) => out.push_bytes(b),
        ValueRef::Shm(h) => out.push_shm(*h),
    })
}

fn main() {
    let fd: i32 = std::env::var(skorche_worker::ENV_FD)
        .expect("fd")
        .parse()
        .expect("fd number");
    let task = std::env::var(skorche_worker::ENV_TASK).expect("task");
    // SAFETY: the coordinator placed this descriptor, our end of its socket, at this number
    // for this process; nothing else here owns it.
    let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut out = stream.try_clone().expect("clone");
    let mut input = BufReader::new(stream);
    let send = |out: &mut UnixStream, msg: &FromWorker| frame::write(out, msg).expect("send");
    let recv = |input: &mut BufReader<UnixStream>| -> ToWorker {
        match frame::read(input, frame::MAX_FRAME) {
            Ok(m) => m,
            Err(_) => std::process::exit(3),
        }
    };
    match task.as_str() {
        "fake_huge_hello" => huge_frame_and_wait(&mut out),
        "fake_old_version" => send(
            &mut out,
            &hello(&task, PROTOCOL_VERSION + 100, TaskKind::Map),
        ),
        "fake_wrong_kind" => send(&mut out, &hello(&task, PROTOCOL_VERSION, TaskKind::FlatMap)),
        _ => send(&mut out, &hello(&task, PROTOCOL_VERSION, TaskKind::Map)),
    }
    let welcome = match recv(&mut input) {
        ToWorker::Welcome(w) => w,
        _ => std::process::exit(3),
    };
    if task == "fake_no_ready" {
        std::thread::sleep(Duration::from_secs(100));
    }
    send(&mut out, &FromWorker::Ready);
    loop {
        match recv(&mut input) {
            ToWorker::Work(work) => match task.as_str() {
                "fake_garbage" => frame::write(&mut out, &Junk::J(7)).expect("junk"),
                "fake_foreign_handle" => {
                    let h = Handle {
                        ring: RingId(12345),
                        offset: 0,
                        len: 8,
                        generation: 1,
                    };
                    send(&mut out, &answer(&work, |_, out| out.push_shm(h)));
                }
                "fake_welcome" => {
                    let text = skorche_worker::codec::encode(&format!("{:?}", welcome.rings))
                        .expect("encode");
                    send(&mut out, &answer(&work, |_, out| out.push_bytes(&text)));
                }
                "fake_hello_twice" => {
                    send(&mut out, &hello(&task, PROTOCOL_VERSION, TaskKind::Map));
                    std::thread::sleep(Duration::from_secs(100));
                }
                "fake_huge_frame" => huge_frame_and_wait(&mut out),
                "fake_truncated" => {
                    let mut buf = Vec::new();
                    frame::write(&mut buf, &echo(work)).expect("encode");
                    out.write_all(&buf[..buf.len() / 2]).expect("half a frame");
                    std::process::exit(0);
                }
                _ => send(&mut out, &echo(work)),
            },
            ToWorker::End => {
                if task != "fake_no_bye" {
                    send(&mut out, &FromWorker::Bye);
                }
                std::process::exit(0);
            }
            _ => std::process::exit(4),
        }
    }
}
