//! The worker side: bootstrap from the environment, handshake, and the work loop.

use std::io::BufReader;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;

use crate::codec::PayloadIo;
use crate::protocol::{FromWorker, Hello, ToWorker, Welcome, PROTOCOL_VERSION};
use crate::registry::{self, ErasedInstance, Resolved};
use crate::serve::{serve, Inbox, Outbox};
use crate::shm::Ring;
use crate::transport::local::frame;

/// Environment variable holding the descriptor number of the worker's end of its socket.
/// Its presence makes [`enter`] run a worker.
pub const ENV_FD: &str = "SKORCHE_WORKER_FD";
/// Environment variable holding the registered task name.
pub const ENV_TASK: &str = "SKORCHE_WORKER_TASK";
/// Environment variable holding the stage name (for logs).
pub const ENV_STAGE: &str = "SKORCHE_WORKER_STAGE";
/// Environment variable holding the coordinator's pid.
pub const ENV_PARENT: &str = "SKORCHE_WORKER_PARENT";

pub use crate::exit::exit_code;
use crate::exit::fatal;

/// The worker entry: call it first thing in `main`.
///
/// Without the bootstrap environment ([`ENV_FD`] unset) it returns at once: the program is
/// the driver. With it, the process is a worker: it removes the bootstrap variables (so its
/// own children do not inherit them), arranges to be killed, with whatever its task started,
/// if its parent dies, greets the coordinator, runs the task until end of stream, and exits;
/// it never returns.
///
/// Code that runs before `enter` in `main` runs in every worker too; keep it side-effect free,
/// and call `enter` before starting threads (it edits the environment). A worker whose `main`
/// forgets `enter` and starts a pipeline is stopped there (see [`refuse_pipeline_in_worker`]).
///
/// ```no_run
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     skorche_worker::enter();
///     // driver code: build and run the pipeline
/// }
/// ```
pub fn enter() {
    let Some(fd) = std::env::var_os(ENV_FD) else {
        return;
    };
    let task = std::env::var(ENV_TASK).ok();
    let stage = std::env::var(ENV_STAGE).unwrap_or_default();
    let parent = std::env::var(ENV_PARENT)
        .ok()
        .and_then(|p| p.parse::<i32>().ok());
    for var in [ENV_FD, ENV_TASK, ENV_STAGE, ENV_PARENT] {
        std::env::remove_var(var);
    }
    let fd = fd.into_string().ok().and_then(|s| s.parse::<i32>().ok());
    let code = match (fd, task) {
        (Some(fd), Some(task)) => run(fd, &task, &stage, parent),
        _ => {
            fatal("", "malformed bootstrap environment");
            exit_code::BAD_ENV
        }
    };
    std::process::exit(code);
}

/// Whether this process was started as a worker and has not called [`enter`].
pub fn started_as_worker() -> bool {
    std::env::var_os(ENV_FD).is_some()
}

/// Called by every pipeline start: in a process started as a worker whose `main` did not
/// call [`enter`] first, starting a pipeline would make each worker start workers of its own.
/// Instead the process says why on stderr and exits with [`exit_code::NO_ENTER`]; the
/// coordinator that spawned it reports that `enter` must be called first in `main`.
pub fn refuse_pipeline_in_worker() {
    if started_as_worker() {
        fatal(
            &std::env::var(ENV_STAGE).unwrap_or_default(),
            "this process was started as a skorche worker, but its main started a pipeline \
             instead of serving: call skorche::worker::enter() as the first thing in main",
        );
        std::process::exit(exit_code::NO_ENTER);
    }
}

static PARENT: OnceLock<i32> = OnceLock::new();

/// Whether the coordinator that started this worker is still its parent.
fn parent_alive() -> bool {
    PARENT
        .get()
        .is_none_or(|&p| nix::unistd::getppid().as_raw() == p)
}

/// Sent by the kernel when the parent dies: the worker takes its whole process group down.
extern "C" fn on_parent_death(_: libc::c_int) {
    // SAFETY: kill(2) is async-signal-safe; pid 0 means this process's group, which is the
    // worker and what its task started (the coordinator put the worker in a group of its own).
    unsafe {
        libc::kill(0, libc::SIGKILL);
    }
}

fn guard_parent(parent: Option<i32>) -> Result<(), i32> {
    #[cfg(target_os = "linux")]
    {
        let sig = libc::SIGRTMIN();
        // SAFETY: installs a handler that only calls an async-signal-safe function; the
        // sigaction struct is fully initialized (zeroed, then the handler set).
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_parent_death as *const () as usize;
            libc::sigaction(sig, &action, std::ptr::null_mut()) == 0
        };
        let deathsig = if installed { sig } else { libc::SIGKILL };
        // SAFETY: prctl(PR_SET_PDEATHSIG, n) reads one integer argument and touches no memory.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, deathsig as libc::c_ulong) } != 0 {
            tracing::warn!(
                "cannot set PR_SET_PDEATHSIG: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    if let Some(expected) = parent {
        let _ = PARENT.set(expected);
        // The parent may have died before the death signal was armed.
        if nix::unistd::getppid().as_raw() != expected {
            fatal("", &format!("parent {expected} is gone"));
            return Err(exit_code::ORPHANED);
        }
    }
    Ok(())
}

/// The worker's end of the socket, as the coordinator placed it.
fn socket(fd: i32) -> Result<UnixStream, String> {
    let stat = nix::sys::stat::fstat(
        // SAFETY: borrowing the raw descriptor for one fstat call; it is not closed meanwhile.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
    )
    .map_err(|e| format!("descriptor {fd} from {ENV_FD} is not open: {e}"))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(format!("descriptor {fd} from {ENV_FD} is not a socket"));
    }
    // SAFETY: the coordinator placed this descriptor at this number for this process only
    // (checked above to be an open socket); nothing else in the process owns it, so the
    // OwnedFd becomes its only owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // What the task starts must not inherit the coordinator's connection.
    let _ = nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Ok(UnixStream::from(owned))
}

/// Frames from the inherited socket.
struct SocketInbox(BufReader<UnixStream>);

impl Inbox for SocketInbox {
    fn recv(&mut self) -> Result<ToWorker, (i32, String)> {
        match frame::read(&mut self.0, frame::MAX_FRAME) {
            Ok(m) => Ok(m),
            Err(frame::FrameError::Closed) => {
                Err((exit_code::ORPHANED, "coordinator hung up".into()))
            }
            Err(e) => Err((
                exit_code::PROTOCOL,
                format!("bad message from coordinator: {e}"),
            )),
        }
    }
}

/// Frames to the inherited socket, each built whole in the buffer and written at once.
struct SocketOutbox(UnixStream, Vec<u8>);

impl Outbox for SocketOutbox {
    fn send(&mut self, msg: FromWorker) -> Result<(), String> {
        frame::write_with(&mut self.0, &msg, &mut self.1).map_err(|e| e.to_string())
    }
}

fn run(fd: i32, task_name: &str, stage: &str, parent: Option<i32>) -> i32 {
    if let Err(code) = guard_parent(parent) {
        return code;
    }
    let stream = match socket(fd) {
        Ok(s) => s,
        Err(e) => {
            fatal(stage, &e);
            return exit_code::BAD_ENV;
        }
    };
    let (mut inbox, mut outbox) = match stream.try_clone() {
        Ok(read) => (
            SocketInbox(BufReader::with_capacity(64 << 10, read)),
            SocketOutbox(stream, Vec::new()),
        ),
        Err(e) => {
            fatal(stage, &format!("cannot use the coordinator socket: {e}"));
            return exit_code::ORPHANED;
        }
    };
    handshake_and_serve(&mut inbox, &mut outbox, task_name, stage)
}

/// The worker's side of the handshake, then [`serve`]. Used by every transport.
pub(crate) fn handshake_and_serve(
    inbox: &mut dyn Inbox,
    outbox: &mut dyn Outbox,
    task_name: &str,
    stage: &str,
) -> i32 {
    let pid = std::process::id();
    // A chain of tasks is named by its steps' names: the worker runs them all on each item.
    let task = match registry::resolve(task_name) {
        Ok(task) => task,
        Err(registry::Unresolved { reason, known }) => {
            let reason = if known.is_empty() {
                reason
            } else {
                format!("{reason} (known: {known:?})")
            };
            fatal(stage, &reason);
            let _ = outbox.send(FromWorker::Refuse {
                version: PROTOCOL_VERSION,
                pid,
                reason,
                known,
            });
            return exit_code::UNKNOWN_TASK;
        }
    };
    let hello = Hello {
        version: PROTOCOL_VERSION,
        pid,
        task: task.identity(),
    };
    if outbox.send(FromWorker::Hello(hello)).is_err() {
        return exit_code::ORPHANED;
    }
    let welcome = match inbox.recv() {
        Ok(ToWorker::Welcome(w)) => w,
        Ok(ToWorker::Reject { reason }) => {
            fatal(stage, &format!("coordinator rejected handshake: {reason}"));
            return exit_code::REJECTED;
        }
        Ok(other) => {
            fatal(stage, &format!("expected Welcome, got {}", other.name()));
            return exit_code::PROTOCOL;
        }
        Err((code, why)) => {
            fatal(stage, &format!("during handshake: {why}"));
            return code;
        }
    };
    let (io, mut instance) = match setup(task_name, &task, &welcome) {
        Ok(x) => x,
        Err(reason) => {
            fatal(&welcome.stage, &reason);
            let _ = outbox.send(FromWorker::Refuse {
                version: PROTOCOL_VERSION,
                pid,
                reason,
                known: Vec::new(),
            });
            return exit_code::INIT_FAILED;
        }
    };
    if outbox.send(FromWorker::Ready).is_err() {
        return exit_code::ORPHANED;
    }
    tracing::debug!(stage = welcome.stage, task = task_name, pid, "worker ready");
    serve(&welcome.stage, instance.as_mut(), &io, inbox, outbox)
}

fn setup(
    task_name: &str,
    task: &Resolved,
    welcome: &Welcome,
) -> Result<(PayloadIo, Box<dyn ErasedInstance>), String> {
    let mut rings = Vec::with_capacity(welcome.rings.len());
    for (index, desc) in welcome.rings.iter().enumerate() {
        let ring = Ring::open(desc)
            .map_err(|source| crate::error::AttachError { index, source }.to_string())?;
        // Mapped: the descriptor is no longer needed, and nothing else may reach it.
        ring.forget_fd();
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
    let mut io = PayloadIo::new(
        rings,
        welcome.output_ring,
        welcome.shm_threshold,
        Some(parent_alive),
    );
    io.keep_inputs = welcome.keep_inputs;
    let instance = task
        .instantiate(&welcome.params)
        .map_err(|f| format!("task {task_name:?}: cannot build state: {f}"))?;
    Ok((io, instance))
}
