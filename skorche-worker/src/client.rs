//! The coordinator's side of one worker process.
//!
//! [`WorkerProcess::spawn`] starts a worker executable, completes the handshake (protocol
//! version, task name, input and output type names) within a bounded time, and hands back a
//! process that can be [split](WorkerProcess::split) into a [`WorkerSender`] (work batches, end
//! of stream), a [`WorkerReceiver`] (results, end, death) and a [`WorkerHandle`] (pid, kill,
//! wait), so a coordinator can feed and drain a worker from two threads.
//!
//! Every child is reaped: by [`WorkerHandle::wait`], by the receiver when the worker hangs up,
//! or, at the latest, when the last of the three parts is dropped (the child is then killed
//! first if still running). No zombie outlives its `WorkerProcess`.
//!
//! # Driving a worker (what a coordinator does)
//!
//! 1. Build a [`SpawnSpec`] ([`SpawnSpec::for_task`] fills names, types and params from a
//!    [`BoundTask`]; add rings, the output ring index and the shm threshold), then
//!    [`WorkerProcess::spawn`]. Spawning forks from one process-wide thread, so the worker's
//!    parent-death signal is tied to the process, not to the calling thread.
//! 2. [`split`](WorkerProcess::split). Feed [`WorkItem`] batches with [`WorkerSender::send`]
//!    from one thread; drain [`WorkerReceiver::recv`] on another. Each batch gets exactly one
//!    [`WorkerEvent::Results`] with one [`ItemResult`] per item, in the batch's order; `seq` is
//!    yours (ordering tags, item bookkeeping).
//! 3. **Bound what is in flight** (credits): sockets have finite buffers, so a sender that never
//!    waits for results while nobody receives can block forever once both directions are full.
//!    Keep at most N batches unanswered per worker (a few batches of 64–512 small items).
//! 4. [`WorkerSender::end`], then receive until [`WorkerEvent::Finished`]: the worker has sent
//!    every result, exited 0 and been reaped.
//! 5. On [`ClientError::WorkerDied`], the items sent and not answered are the ones the worker
//!    held: re-dispatch them or fail the stage. On any error, dropping the parts kills and
//!    reaps the child.
//!
//! Payloads: encode inputs with [`codec::encode_payload`](crate::codec::encode_payload); an
//! output [`Payload::Shm`] handle lives in the worker's output ring, which the coordinator
//! created: decode it there with [`codec::decode_payload`](crate::codec::decode_payload) (which
//! releases it), or forward the `Payload` untouched in another stage's `WorkItem`, whose worker
//! attached the same ring (its reader releases it).

use crate::error::{ClientError, HandshakeError, SpawnError};
use crate::protocol::{
    FromWorker, Hello, ItemResult, Payload, ToWorker, Welcome, WorkItem, PROTOCOL_VERSION,
};
use crate::registry::BoundTask;
use crate::shm::RingDescriptor;
use crate::worker::{ENV_PARENT, ENV_SERVER, ENV_STAGE, ENV_TASK};
use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Default bound on spawn + handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default size from which outputs go to the ring: 64 KiB. Below it, a copy through the
/// socket costs less than a ring round trip; ipc-channel also fragments messages larger than
/// the socket buffer (~200 KiB) over an extra socket pair.
pub const DEFAULT_SHM_THRESHOLD: usize = 64 * 1024;

/// How often spawn checks whether the child died while waiting for its greeting.
const SPAWN_POLL: Duration = Duration::from_millis(5);

/// How long a worker that hung up may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// What to spawn: the executable, the task, and the worker's configuration.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The worker executable (the driver itself, `skorche-worker`, or a user binary).
    pub exe: PathBuf,
    /// Stage name, for logs and errors.
    pub stage: String,
    /// Registered task name.
    pub task: String,
    /// Expected `type_name` of the task's input.
    pub input_type: String,
    /// Expected `type_name` of the task's output.
    pub output_type: String,
    /// Encoded params ([`BoundTask::params`]).
    pub params: Vec<u8>,
    /// Rings the worker attaches.
    pub rings: Vec<RingDescriptor>,
    /// Index into `rings` of the worker's output ring.
    pub output_ring: Option<usize>,
    /// Outputs of at least this many bytes go to the output ring.
    pub shm_threshold: usize,
    /// Bound on spawn + handshake.
    pub handshake_timeout: Duration,
}

impl SpawnSpec {
    /// A spec for a bound task: names, types and params from the task, no rings,
    /// [`DEFAULT_SHM_THRESHOLD`] and [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn for_task<In: 'static, Out: 'static>(
        exe: impl Into<PathBuf>,
        stage: impl Into<String>,
        task: &BoundTask<In, Out>,
    ) -> Self {
        SpawnSpec {
            exe: exe.into(),
            stage: stage.into(),
            task: task.name().to_string(),
            input_type: task.input_type().to_string(),
            output_type: task.output_type().to_string(),
            params: task.params().to_vec(),
            rings: Vec::new(),
            output_ring: None,
            shm_threshold: DEFAULT_SHM_THRESHOLD,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// What a [`WorkerReceiver`] yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerEvent {
    /// The results of one `Work` batch, in the batch's order.
    Results(Vec<ItemResult>),
    /// The worker said `Bye` after `End` and exited 0; it is reaped.
    Finished {
        /// Its exit status (success).
        status: ExitStatus,
    },
}

// ------------------------------------------------------------------ the child

#[derive(Debug)]
struct Slot {
    stage: String,
    pid: u32,
    /// Reaping happens only under this lock, so `kill` never signals a reused pid.
    child: Mutex<ChildState>,
}

#[derive(Debug)]
struct ChildState {
    child: Child,
    status: Option<ExitStatus>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, ChildState> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kill(&self) {
        let mut st = self.lock();
        if st.status.is_none() {
            let _ = st.child.kill();
        }
    }

    fn try_wait(&self) -> Option<ExitStatus> {
        let mut st = self.lock();
        if st.status.is_none() {
            if let Ok(Some(s)) = st.child.try_wait() {
                st.status = Some(s);
            }
        }
        st.status
    }

    fn wait(&self) -> ExitStatus {
        if let Some(s) = self.lock().status {
            return s;
        }
        // Block without reaping and without the lock, so `kill` stays usable meanwhile.
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let flags = nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT;
        while let Err(nix::errno::Errno::EINTR) =
            nix::sys::wait::waitid(nix::sys::wait::Id::Pid(pid), flags)
        {}
        let mut st = self.lock();
        if st.status.is_none() {
            match st.child.wait() {
                Ok(s) => st.status = Some(s),
                Err(e) => {
                    tracing::error!(
                        stage = self.stage,
                        pid = self.pid,
                        "cannot reap worker: {e}"
                    );
                    st.status = Some(ExitStatus::from_raw(0xff00));
                }
            }
        }
        st.status.expect("set above")
    }

    /// Waits up to `grace` for the child to exit by itself, then kills it; always reaps.
    fn reap_within(&self, grace: Duration) -> ExitStatus {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(s) = self.try_wait() {
                return s;
            }
            thread::sleep(Duration::from_millis(1));
        }
        self.kill();
        self.wait()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            tracing::debug!(
                stage = self.stage,
                pid = self.pid,
                "killing unreaped worker"
            );
            self.kill();
            self.wait();
        }
    }
}

/// Process control of one worker: pid, kill, wait. Cloneable; the child is killed (if still
/// running) and reaped when the last handle, sender and receiver are dropped.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    slot: Arc<Slot>,
}

impl WorkerHandle {
    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.slot.pid
    }

    /// The stage name.
    pub fn stage(&self) -> &str {
        &self.slot.stage
    }

    /// Sends SIGKILL unless the child is already reaped. Does not reap; see [`Self::wait`].
    pub fn kill(&self) {
        self.slot.kill();
    }

    /// Blocks until the child exits, reaps it, and returns its status (cached afterwards).
    pub fn wait(&self) -> ExitStatus {
        self.slot.wait()
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_wait(&self) -> Option<ExitStatus> {
        self.slot.try_wait()
    }
}

// ------------------------------------------------------------------ sender / receiver

/// Sends work to one worker. Created by [`WorkerProcess::split`].
#[derive(Debug)]
pub struct WorkerSender {
    tx: IpcSender<ToWorker>,
    handle: WorkerHandle,
}

impl WorkerSender {
    /// Sends one batch; the worker answers with exactly one `Results` of the same length.
    ///
    /// # Errors
    /// [`ClientError::Send`] if the worker is gone.
    pub fn send(&self, items: Vec<WorkItem>) -> Result<(), ClientError> {
        self.send_msg(ToWorker::Work(items))
    }

    /// Signals end of stream: the worker finishes its batches, says `Bye` and exits 0.
    ///
    /// # Errors
    /// [`ClientError::Send`] if the worker is gone.
    pub fn end(&self) -> Result<(), ClientError> {
        self.send_msg(ToWorker::End)
    }

    fn send_msg(&self, msg: ToWorker) -> Result<(), ClientError> {
        self.tx.send(msg).map_err(|e| ClientError::Send {
            stage: self.handle.stage().to_string(),
            pid: self.handle.pid(),
            detail: e.to_string(),
        })
    }

    /// The process control handle.
    pub fn handle(&self) -> &WorkerHandle {
        &self.handle
    }
}

/// Receives results from one worker. Created by [`WorkerProcess::split`].
#[derive(Debug)]
pub struct WorkerReceiver {
    rx: IpcReceiver<FromWorker>,
    handle: WorkerHandle,
    /// Ring ids the worker may hand out (its output ring), checked on every handle.
    /// `(ring id, capacity)` of the worker's output ring.
    output_rings: Vec<(crate::shm::RingId, u64)>,
    finished: bool,
}

impl WorkerReceiver {
    /// Blocks for the next event.
    ///
    /// # Errors
    /// [`ClientError::WorkerDied`] when the worker hung up without `Bye` (it is reaped, the
    /// error carries its pid and exit code or signal); [`ClientError::Protocol`] for a garbled
    /// or unexpected message or a handle outside the worker's ring;
    /// [`ClientError::Finished`] after the final event.
    pub fn recv(&mut self) -> Result<WorkerEvent, ClientError> {
        if self.finished {
            return Err(self.finished_error());
        }
        let msg = self.rx.recv();
        self.on_message(msg)
    }

    /// As [`Self::recv`], giving `Ok(None)` if nothing arrived within `timeout`.
    ///
    /// # Errors
    /// As [`Self::recv`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<WorkerEvent>, ClientError> {
        if self.finished {
            return Err(self.finished_error());
        }
        match self.rx.try_recv_timeout(timeout) {
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::IpcError(e)) => self.on_message(Err(e)).map(Some),
            Ok(m) => self.on_message(Ok(m)).map(Some),
        }
    }

    /// The process control handle.
    pub fn handle(&self) -> &WorkerHandle {
        &self.handle
    }

    fn finished_error(&self) -> ClientError {
        ClientError::Finished {
            stage: self.handle.stage().to_string(),
            pid: self.handle.pid(),
        }
    }

    fn protocol(&mut self, detail: String) -> ClientError {
        self.finished = true;
        ClientError::Protocol {
            stage: self.handle.stage().to_string(),
            pid: self.handle.pid(),
            detail,
        }
    }

    fn on_message(
        &mut self,
        msg: Result<FromWorker, IpcError>,
    ) -> Result<WorkerEvent, ClientError> {
        match msg {
            Ok(FromWorker::Results(results)) => {
                for r in &results {
                    if let ItemResult::Done { seq, outputs } = r {
                        for p in outputs {
                            if let Payload::Shm(h) = p {
                                let inside = self.output_rings.iter().any(|&(id, cap)| {
                                    id == h.ring
                                        && h.offset.checked_add(h.len).is_some_and(|end| end <= cap)
                                });
                                if !inside {
                                    return Err(self.protocol(format!(
                                        "item {seq}: handle {h:?} is not inside the worker's output ring"
                                    )));
                                }
                            }
                        }
                    }
                }
                Ok(WorkerEvent::Results(results))
            }
            Ok(FromWorker::Bye) => {
                self.finished = true;
                let status = self.handle.slot.reap_within(EXIT_GRACE);
                if status.success() {
                    Ok(WorkerEvent::Finished { status })
                } else {
                    Err(self.died(status))
                }
            }
            Ok(other) => Err(self.protocol(format!("unexpected message {}", short(&other)))),
            Err(IpcError::Disconnected) => {
                self.finished = true;
                let status = self.handle.slot.reap_within(EXIT_GRACE);
                Err(self.died(status))
            }
            Err(IpcError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                self.finished = true;
                let status = self.handle.slot.reap_within(EXIT_GRACE);
                Err(self.died(status))
            }
            Err(e) => Err(self.protocol(format!("undecodable message: {e}"))),
        }
    }

    fn died(&self, status: ExitStatus) -> ClientError {
        ClientError::WorkerDied {
            stage: self.handle.stage().to_string(),
            pid: self.handle.pid(),
            status: status.code(),
            signal: status.signal(),
        }
    }
}

fn short(msg: &FromWorker) -> &'static str {
    match msg {
        FromWorker::Hello(_) => "Hello",
        FromWorker::Refuse { .. } => "Refuse",
        FromWorker::Ready => "Ready",
        FromWorker::Results(_) => "Results",
        FromWorker::Bye => "Bye",
    }
}

// ------------------------------------------------------------------ the process

/// One spawned, handshaken worker process.
#[derive(Debug)]
pub struct WorkerProcess {
    sender: WorkerSender,
    receiver: WorkerReceiver,
}

impl WorkerProcess {
    /// Spawns `spec.exe` as a worker and completes the handshake within
    /// `spec.handshake_timeout`.
    ///
    /// The child gets the bootstrap environment ([`ENV_SERVER`] ...),
    /// a null stdin and the parent's stdout and stderr.
    ///
    /// # Errors
    /// [`SpawnError::Exec`] if the executable cannot start, [`SpawnError::Exited`] if it exits
    /// before greeting (it does not speak the protocol), [`SpawnError::Timeout`] if it neither
    /// greets nor exits in time, [`SpawnError::Handshake`] for a version, task or type
    /// mismatch, [`SpawnError::Init`] if it cannot attach the rings or build the task state.
    /// In every case the child is killed and reaped before this returns.
    pub fn spawn(spec: &SpawnSpec) -> Result<WorkerProcess, SpawnError> {
        let stage = spec.stage.clone();
        let (server, name) =
            IpcOneShotServer::<FromWorker>::new().map_err(|source| SpawnError::Ipc {
                stage: stage.clone(),
                source,
            })?;
        let mut command = Command::new(&spec.exe);
        command
            .env(ENV_SERVER, &name)
            .env(ENV_TASK, &spec.task)
            .env(ENV_STAGE, &spec.stage)
            .env(ENV_PARENT, std::process::id().to_string())
            .stdin(Stdio::null());
        let child = spawn_from_long_lived_thread(command).map_err(|source| SpawnError::Exec {
            stage: stage.clone(),
            exe: spec.exe.clone(),
            source,
        })?;
        let pid = child.id();
        let slot = Arc::new(Slot {
            stage: stage.clone(),
            pid,
            child: Mutex::new(ChildState {
                child,
                status: None,
            }),
        });
        let handle = WorkerHandle { slot };
        let deadline = Instant::now() + spec.handshake_timeout;

        // accept() blocks with no timeout: run it on a helper thread, and unblock it by
        // connecting ourselves if the child dies or the deadline passes.
        let (done_tx, done_rx) = mpsc::channel();
        let acceptor = thread::Builder::new()
            .name(format!("skorche-accept-{pid}"))
            .spawn(move || {
                let _ = done_tx.send(server.accept());
            })
            .map_err(|source| SpawnError::Ipc {
                stage: stage.clone(),
                source,
            })?;
        let unblock = |acceptor: thread::JoinHandle<()>| {
            if let Ok(tx) = IpcSender::<FromWorker>::connect(name.clone()) {
                let _ = tx.send(FromWorker::Bye);
            }
            // Not joined: should the accept still be stuck (a child that connected, then
            // stalled, keeps it waiting until its socket closes), a detached thread is better
            // than a hang. The child is dead or killed at this point, so it ends soon.
            drop(acceptor);
        };
        let accepted = loop {
            match done_rx.recv_timeout(SPAWN_POLL) {
                Ok(r) => {
                    let _ = acceptor.join();
                    break r;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    handle.kill();
                    handle.wait();
                    return Err(SpawnError::Ipc {
                        stage,
                        source: std::io::Error::other("accept thread ended without a result"),
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = handle.try_wait() {
                        unblock(acceptor);
                        return Err(SpawnError::Exited {
                            stage,
                            exe: spec.exe.clone(),
                            pid,
                            status,
                        });
                    }
                    if Instant::now() >= deadline {
                        handle.kill();
                        handle.wait();
                        unblock(acceptor);
                        return Err(SpawnError::Timeout {
                            stage,
                            exe: spec.exe.clone(),
                            pid,
                            timeout: spec.handshake_timeout,
                        });
                    }
                }
            }
        };
        let fail = |e: SpawnError| {
            handle.slot.reap_within(EXIT_GRACE);
            e
        };
        let (rx, first) = accepted.map_err(|e| {
            fail(
                HandshakeError::Protocol {
                    stage: stage.clone(),
                    detail: format!("bad greeting: {e}"),
                }
                .into(),
            )
        })?;
        let hello = match first {
            FromWorker::Hello(h) => h,
            FromWorker::Refuse { reason, known, .. } => {
                return Err(fail(
                    HandshakeError::UnknownTask {
                        stage,
                        task: spec.task.clone(),
                        known,
                        reason,
                    }
                    .into(),
                ))
            }
            other => {
                return Err(fail(
                    HandshakeError::Protocol {
                        stage,
                        detail: format!("expected Hello, got {}", short(&other)),
                    }
                    .into(),
                ))
            }
        };
        if let Err(e) = validate(spec, &hello) {
            let _ = hello.reply.send(ToWorker::Reject {
                reason: e.to_string(),
            });
            return Err(fail(e.into()));
        }
        if hello.pid != pid {
            tracing::warn!(
                stage,
                pid,
                hello_pid = hello.pid,
                "worker reports another pid"
            );
        }
        let welcome = Welcome {
            stage: spec.stage.clone(),
            params: spec.params.clone(),
            rings: spec.rings.clone(),
            output_ring: spec.output_ring,
            shm_threshold: spec.shm_threshold,
        };
        let tx = hello.reply;
        if let Err(e) = tx.send(ToWorker::Welcome(welcome)) {
            return Err(fail(SpawnError::Init {
                stage,
                pid,
                reason: format!("cannot send Welcome: {e}"),
            }));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.try_recv_timeout(remaining) {
            Ok(FromWorker::Ready) => {}
            Ok(FromWorker::Refuse { reason, .. }) => {
                return Err(fail(SpawnError::Init { stage, pid, reason }));
            }
            Ok(other) => {
                return Err(fail(
                    HandshakeError::Protocol {
                        stage,
                        detail: format!("expected Ready, got {}", short(&other)),
                    }
                    .into(),
                ))
            }
            Err(TryRecvError::Empty) => {
                handle.kill();
                handle.wait();
                return Err(SpawnError::Timeout {
                    stage,
                    exe: spec.exe.clone(),
                    pid,
                    timeout: spec.handshake_timeout,
                });
            }
            Err(TryRecvError::IpcError(e)) => {
                let status = handle.slot.reap_within(EXIT_GRACE);
                return Err(SpawnError::Init {
                    stage,
                    pid,
                    reason: format!("worker hung up after Welcome ({e}); exit status {status}"),
                });
            }
        }
        let output_rings = spec
            .output_ring
            .and_then(|i| spec.rings.get(i))
            .map(ring_id_of)
            .into_iter()
            .collect();
        tracing::debug!(stage = spec.stage, pid, task = spec.task, "worker ready");
        Ok(WorkerProcess {
            sender: WorkerSender {
                tx,
                handle: handle.clone(),
            },
            receiver: WorkerReceiver {
                rx,
                handle,
                output_rings,
                finished: false,
            },
        })
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.sender.handle.pid()
    }

    /// The process control handle.
    pub fn handle(&self) -> &WorkerHandle {
        &self.sender.handle
    }

    /// See [`WorkerSender::send`].
    ///
    /// # Errors
    /// As [`WorkerSender::send`].
    pub fn send(&self, items: Vec<WorkItem>) -> Result<(), ClientError> {
        self.sender.send(items)
    }

    /// See [`WorkerSender::end`].
    ///
    /// # Errors
    /// As [`WorkerSender::end`].
    pub fn end(&self) -> Result<(), ClientError> {
        self.sender.end()
    }

    /// See [`WorkerReceiver::recv`].
    ///
    /// # Errors
    /// As [`WorkerReceiver::recv`].
    pub fn recv(&mut self) -> Result<WorkerEvent, ClientError> {
        self.receiver.recv()
    }

    /// See [`WorkerReceiver::recv_timeout`].
    ///
    /// # Errors
    /// As [`WorkerReceiver::recv`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<WorkerEvent>, ClientError> {
        self.receiver.recv_timeout(timeout)
    }

    /// Sends SIGKILL (see [`WorkerHandle::kill`]).
    pub fn kill(&self) {
        self.sender.handle.kill();
    }

    /// Waits for exit and reaps (see [`WorkerHandle::wait`]).
    pub fn wait(&self) -> ExitStatus {
        self.sender.handle.wait()
    }

    /// Splits into sender, receiver and process handle, for use from several threads.
    pub fn split(self) -> (WorkerSender, WorkerReceiver, WorkerHandle) {
        let handle = self.sender.handle.clone();
        (self.sender, self.receiver, handle)
    }
}

/// Spawns `command` from one process-wide thread that never exits.
///
/// Linux delivers `PR_SET_PDEATHSIG` when the *thread* that forked the child exits, not the
/// process: a worker spawned from a short-lived thread (a scoped stage thread, a test thread)
/// would be SIGKILLed when that thread ends. Forking from a thread that lives as long as the
/// process makes the death signal mean what it says: the coordinator process died.
fn spawn_from_long_lived_thread(command: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<std::io::Result<Mutex<mpsc::Sender<Job>>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("skorche-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })?;
        Ok(Mutex::new(tx))
    });
    let spawner = spawner
        .as_ref()
        .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply_tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

fn ring_id_of(desc: &RingDescriptor) -> (crate::shm::RingId, u64) {
    (desc.ring, desc.capacity)
}

fn validate(spec: &SpawnSpec, hello: &Hello) -> Result<(), HandshakeError> {
    let stage = spec.stage.clone();
    if hello.version != PROTOCOL_VERSION {
        return Err(HandshakeError::VersionMismatch {
            stage,
            expected: PROTOCOL_VERSION,
            found: hello.version,
        });
    }
    if hello.task != spec.task {
        return Err(HandshakeError::UnknownTask {
            stage,
            task: spec.task.clone(),
            known: Vec::new(),
            reason: format!("worker announced task {:?}", hello.task),
        });
    }
    for (which, expected, found) in [
        ("input", &spec.input_type, &hello.input_type),
        ("output", &spec.output_type, &hello.output_type),
    ] {
        if expected != found {
            return Err(HandshakeError::TypeMismatch {
                stage,
                task: spec.task.clone(),
                which,
                expected: expected.clone(),
                found: found.clone(),
            });
        }
    }
    Ok(())
}
