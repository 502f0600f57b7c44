//! The worker side: bootstrap from the environment, handshake, and the work loop.

use crate::codec::PayloadIo;
use crate::protocol::{FromWorker, Hello, ItemResult, ToWorker, Welcome, PROTOCOL_VERSION};
use crate::registry::{self, ErasedInstance, ErasedTask};
use crate::shm::Ring;
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use std::time::Duration;

/// Environment variable holding the coordinator's one-shot server name. Its presence makes
/// [`enter`] run a worker.
pub const ENV_SERVER: &str = "SKORCHE_WORKER_SERVER";
/// Environment variable holding the registered task name.
pub const ENV_TASK: &str = "SKORCHE_WORKER_TASK";
/// Environment variable holding the stage name (for logs).
pub const ENV_STAGE: &str = "SKORCHE_WORKER_STAGE";
/// Environment variable holding the coordinator's pid.
pub const ENV_PARENT: &str = "SKORCHE_WORKER_PARENT";

/// How long a worker waits for space in its full output ring before failing the item.
pub const OUTPUT_RESERVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Exit codes of a worker process.
pub mod exit_code {
    /// `End` received and all results sent.
    pub const OK: i32 = 0;
    /// The bootstrap environment is malformed.
    pub const BAD_ENV: i32 = 64;
    /// The coordinator is gone (hang-up, or the parent changed).
    pub const ORPHANED: i32 = 65;
    /// The task is unknown in this binary.
    pub const UNKNOWN_TASK: i32 = 66;
    /// The coordinator rejected the handshake.
    pub const REJECTED: i32 = 67;
    /// Rings could not be attached or the task state could not be built.
    pub const INIT_FAILED: i32 = 68;
    /// The coordinator sent an invalid message.
    pub const PROTOCOL: i32 = 69;
}

/// The worker entry: call it first thing in `main`.
///
/// Without the bootstrap environment ([`ENV_SERVER`] unset) it returns at once: the program
/// is the driver. With it, the process is a worker: it removes the bootstrap variables (so its
/// own children do not inherit them), arranges to be killed if its parent dies, connects to
/// the coordinator, runs the task until end of stream, and exits; it never returns.
///
/// Code that runs before `enter` in `main` runs in every worker too; keep it side-effect free,
/// and call `enter` before starting threads (it edits the environment).
///
/// ```no_run
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     skorche_worker::enter();
///     // driver code: build and run the pipeline
/// }
/// ```
pub fn enter() {
    let Some(server) = std::env::var_os(ENV_SERVER) else {
        return;
    };
    let task = std::env::var(ENV_TASK).ok();
    let stage = std::env::var(ENV_STAGE).unwrap_or_default();
    let parent = std::env::var(ENV_PARENT)
        .ok()
        .and_then(|p| p.parse::<i32>().ok());
    for var in [ENV_SERVER, ENV_TASK, ENV_STAGE, ENV_PARENT] {
        std::env::remove_var(var);
    }
    let code = match (server.into_string(), task) {
        (Ok(server), Some(task)) => run(&server, &task, &stage, parent),
        _ => {
            fatal("", "malformed bootstrap environment");
            exit_code::BAD_ENV
        }
    };
    std::process::exit(code);
}

/// A fatal worker error: logged with `tracing` and, since a worker usually has no subscriber,
/// also written to its stderr (which the coordinator's spawn inherits).
fn fatal(stage: &str, msg: &str) {
    tracing::error!(stage, pid = std::process::id(), "{msg}");
    eprintln!(
        "skorche worker (stage {stage:?}, pid {}): {msg}",
        std::process::id()
    );
}

fn guard_parent(parent: Option<i32>) -> Result<(), i32> {
    #[cfg(target_os = "linux")]
    {
        if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
            tracing::warn!("cannot set PR_SET_PDEATHSIG: {e}");
        }
    }
    if let Some(expected) = parent {
        // The parent may have died before the death signal was armed.
        if nix::unistd::getppid().as_raw() != expected {
            fatal("", &format!("parent {expected} is gone"));
            return Err(exit_code::ORPHANED);
        }
    }
    Ok(())
}

fn run(server: &str, task_name: &str, stage: &str, parent: Option<i32>) -> i32 {
    if let Err(code) = guard_parent(parent) {
        return code;
    }
    let pid = std::process::id();
    let to_coord = match IpcSender::<FromWorker>::connect(server.to_string()) {
        Ok(s) => s,
        Err(e) => {
            fatal(stage, &format!("cannot connect to coordinator server: {e}"));
            return exit_code::ORPHANED;
        }
    };
    let Some(task) = registry::lookup(task_name) else {
        let known: Vec<String> = registry::task_names()
            .into_iter()
            .map(String::from)
            .collect();
        let reason =
            format!("task {task_name:?} is not registered in this binary (known: {known:?})");
        fatal(stage, &reason);
        let _ = to_coord.send(FromWorker::Refuse {
            version: PROTOCOL_VERSION,
            pid,
            reason,
            known,
        });
        return exit_code::UNKNOWN_TASK;
    };
    let (reply, from_coord) = match ipc::channel::<ToWorker>() {
        Ok(c) => c,
        Err(e) => {
            fatal(stage, &format!("cannot create channel: {e}"));
            return exit_code::ORPHANED;
        }
    };
    let hello = Hello {
        version: PROTOCOL_VERSION,
        pid,
        task: task_name.to_string(),
        input_type: task.input_type().to_string(),
        output_type: task.output_type().to_string(),
        reply,
    };
    if to_coord.send(FromWorker::Hello(hello)).is_err() {
        return exit_code::ORPHANED;
    }
    let welcome = match from_coord.recv() {
        Ok(ToWorker::Welcome(w)) => w,
        Ok(ToWorker::Reject { reason }) => {
            fatal(stage, &format!("coordinator rejected handshake: {reason}"));
            return exit_code::REJECTED;
        }
        Ok(other) => {
            fatal(stage, &format!("expected Welcome, got {other:?}"));
            return exit_code::PROTOCOL;
        }
        Err(e) => {
            fatal(stage, &format!("coordinator hung up during handshake: {e}"));
            return exit_code::ORPHANED;
        }
    };
    let (io, instance) = match setup(task, &welcome) {
        Ok(x) => x,
        Err(reason) => {
            fatal(&welcome.stage, &reason);
            let _ = to_coord.send(FromWorker::Refuse {
                version: PROTOCOL_VERSION,
                pid,
                reason,
                known: Vec::new(),
            });
            return exit_code::INIT_FAILED;
        }
    };
    if to_coord.send(FromWorker::Ready).is_err() {
        return exit_code::ORPHANED;
    }
    tracing::debug!(stage = welcome.stage, task = task_name, pid, "worker ready");
    serve(&welcome.stage, instance, &io, &from_coord, &to_coord)
}

fn setup(
    task: &dyn ErasedTask,
    welcome: &Welcome,
) -> Result<(PayloadIo, Box<dyn ErasedInstance>), String> {
    let mut rings = Vec::with_capacity(welcome.rings.len());
    for (index, desc) in welcome.rings.iter().enumerate() {
        let ring = Ring::open(desc)
            .map_err(|source| crate::error::AttachError { index, source }.to_string())?;
        rings.push(ring);
    }
    if let Some(i) = welcome.output_ring {
        if i >= rings.len() {
            return Err(format!(
                "output ring index {i} out of range ({} rings)",
                rings.len()
            ));
        }
    }
    let io = PayloadIo {
        rings,
        output_ring: welcome.output_ring,
        shm_threshold: welcome.shm_threshold,
        reserve_timeout: OUTPUT_RESERVE_TIMEOUT,
    };
    let instance = task
        .instantiate_erased(&welcome.params)
        .map_err(|f| format!("task {:?}: cannot build state: {f}", task.name()))?;
    Ok((io, instance))
}

fn serve(
    stage: &str,
    mut instance: Box<dyn ErasedInstance>,
    io: &PayloadIo,
    from_coord: &IpcReceiver<ToWorker>,
    to_coord: &IpcSender<FromWorker>,
) -> i32 {
    loop {
        match from_coord.recv() {
            Ok(ToWorker::Work(items)) => {
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    let result = match instance.call_payload(item.payload, io) {
                        Ok(outputs) => ItemResult::Done {
                            seq: item.seq,
                            outputs,
                        },
                        Err(failure) => ItemResult::Failed {
                            seq: item.seq,
                            failure,
                        },
                    };
                    results.push(result);
                }
                if let Err(e) = to_coord.send(FromWorker::Results(results)) {
                    fatal(stage, &format!("cannot send results: {e}"));
                    return exit_code::ORPHANED;
                }
            }
            Ok(ToWorker::End) => {
                let _ = to_coord.send(FromWorker::Bye);
                tracing::debug!(stage, "end of stream");
                return exit_code::OK;
            }
            Ok(other) => {
                fatal(stage, &format!("unexpected message {other:?}"));
                return exit_code::PROTOCOL;
            }
            Err(ipc_channel::IpcError::Disconnected) => {
                fatal(stage, "coordinator hung up");
                return exit_code::ORPHANED;
            }
            Err(e) => {
                fatal(stage, &format!("bad message from coordinator: {e}"));
                return exit_code::PROTOCOL;
            }
        }
    }
}
