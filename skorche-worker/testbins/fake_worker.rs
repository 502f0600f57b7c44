//! A misbehaving worker for the client's fault tests; the task name picks the misbehaviour.
//!
//! - `fake_garbage`: handshakes, then answers `Work` with a message that is not a `FromWorker`.
//! - `fake_foreign_handle`: answers `Work` with a `Shm` handle into a ring it was not given.
//! - `fake_old_version`: greets with another protocol version.
//! - `fake_no_ready`: never confirms `Welcome`.
//! - `fake_no_bye`: exits 0 on `End` without saying `Bye`.

use ipc_channel::ipc::{self, IpcSender};
use serde::{Deserialize, Serialize};
use skorche_worker::protocol::{
    FromWorker, Hello, ItemResult, Payload, ToWorker, PROTOCOL_VERSION,
};
use skorche_worker::rings::{Handle, RingId};

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

fn main() {
    let server = std::env::var(skorche_worker::ENV_SERVER).expect("server");
    let task = std::env::var(skorche_worker::ENV_TASK).expect("task");
    let tx = IpcSender::<FromWorker>::connect(server).expect("connect");
    let (reply, rx) = ipc::channel::<ToWorker>().expect("channel");
    let version = if task == "fake_old_version" {
        PROTOCOL_VERSION + 100
    } else {
        PROTOCOL_VERSION
    };
    tx.send(FromWorker::Hello(Hello {
        version,
        pid: std::process::id(),
        task: task.clone(),
        input_type: "u64".into(),
        output_type: "u64".into(),
        reply,
    }))
    .expect("hello");
    match rx.recv() {
        Ok(ToWorker::Welcome(_)) => {}
        _ => std::process::exit(3),
    }
    if task == "fake_no_ready" {
        std::thread::sleep(std::time::Duration::from_secs(100));
    }
    tx.send(FromWorker::Ready).expect("ready");
    loop {
        match rx.recv() {
            Ok(ToWorker::Work(items)) => match task.as_str() {
                "fake_garbage" => {
                    let junk: IpcSender<Junk> = tx.clone().to_opaque().to();
                    junk.send(Junk::J(7)).expect("junk");
                }
                "fake_foreign_handle" => {
                    let h = Handle {
                        ring: RingId(12345),
                        offset: 0,
                        len: 8,
                        generation: 1,
                    };
                    let results = items
                        .iter()
                        .map(|i| ItemResult::Done {
                            seq: i.seq,
                            outputs: vec![Payload::Shm(h)],
                        })
                        .collect();
                    tx.send(FromWorker::Results(results)).expect("results");
                }
                _ => {
                    let results = items
                        .into_iter()
                        .map(|i| ItemResult::Done {
                            seq: i.seq,
                            outputs: vec![i.payload],
                        })
                        .collect();
                    tx.send(FromWorker::Results(results)).expect("results");
                }
            },
            Ok(ToWorker::End) => {
                if task != "fake_no_bye" {
                    let _ = tx.send(FromWorker::Bye);
                }
                std::process::exit(0);
            }
            _ => std::process::exit(4),
        }
    }
}
