//! The local transport: workers are child processes of the driver.
//!
//! Starting a worker:
//! 1. a socket pair is made; the child's end and a duplicate of each ring's memfd are
//!    placed at fixed descriptor numbers in the child (and nowhere else): the worker opens
//!    only the rings it was given, and no rendezvous name exists anywhere, so a driver killed
//!    at any moment leaves nothing in the temporary directory;
//! 2. the worker program (the driver re-executed, or a worker binary) starts in a process
//!    group of its own, with the bootstrap variables of [`crate::enter`];
//! 3. the worker greets with its task identity; a wrong protocol version, name, kind, type
//!    or task version is refused before any item flows; the coordinator answers with the
//!    rings (as inherited descriptors) and the params, and the worker says `Ready`.
//!
//! Messages then travel as length-checked frames ([`frame`]). Stopping a worker signals its
//! whole process group, so what its task started dies with it; the worker itself is killed
//! by the kernel if the driver dies (`PR_SET_PDEATHSIG`), and takes its group with it.

pub mod frame;

mod child;
mod spawn;
mod spawner;

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{HandshakeError, LinkError, SpawnError};
use crate::handshake;
use crate::protocol::{FromWorker, ToWorker, Welcome, Work};
use crate::transport::{
    EventReceiver, ExitCause, Transport, WorkSender, WorkerControl, WorkerEvent, WorkerId,
    WorkerLink, WorkerSpec,
};
use child::ChildSlot;

/// How long a worker that said `Bye` (or hung up) may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Starts workers as child processes running `program`.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    program: PathBuf,
    /// Arguments given to every worker (`-m skorche._worker` for a Python interpreter).
    args: Vec<std::ffi::OsString>,
    /// The thread workers are forked from, while any worker or start needs it.
    spawner: Arc<std::sync::Mutex<std::sync::Weak<spawner::Spawner>>>,
}

impl LocalTransport {
    /// Workers run `program`: the driver itself (`std::env::current_exe()`, whose `main` calls
    /// [`crate::enter`] first) or a worker binary that links the tasks.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        LocalTransport {
            program: program.into(),
            args: Vec::new(),
            spawner: Arc::default(),
        }
    }

    /// Workers run `program` with these arguments: an interpreter that must be told which
    /// module serves (`python -m skorche._worker`), or a program with a worker subcommand.
    ///
    /// ```
    /// let t = skorche_worker::transport::local::LocalTransport::new("/usr/bin/python3")
    ///     .with_args(["-m", "skorche._worker"]);
    /// assert_eq!(t.args().len(), 2);
    /// ```
    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The arguments every worker is started with.
    pub fn args(&self) -> &[std::ffi::OsString] {
        &self.args
    }

    /// The worker program.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }
}

impl Transport for LocalTransport {
    fn start_worker(&self, spec: &WorkerSpec) -> Result<WorkerLink, SpawnError> {
        let deadline = Instant::now() + spec.handshake_timeout;
        let spawner = spawner::Spawner::get(&self.spawner).map_err(|source| SpawnError::Setup {
            stage: spec.stage.clone(),
            source,
        })?;
        let started = spawn::start(&self.program, &self.args, spec, spawner)?;
        let slot = Arc::new(started.slot);
        let stream = started.stream;
        let fail = |e: SpawnError| {
            slot.reap_within(EXIT_GRACE);
            e
        };
        let exited = |slot: &ChildSlot| {
            let status = slot.reap_within(EXIT_GRACE);
            spawn::exited_error(&self.program, spec, slot.pid, status)
        };
        let mut reader = BufReader::new(stream.try_clone().map_err(|source| {
            fail(SpawnError::Setup {
                stage: spec.stage.clone(),
                source,
            })
        })?);
        let mut writer = stream;
        let timeout = |slot: &ChildSlot| {
            slot.kill();
            slot.wait();
            SpawnError::Timeout {
                stage: spec.stage.clone(),
                exe: self.program.clone(),
                pid: slot.pid,
                timeout: spec.handshake_timeout,
            }
        };
        let mut next = |slot: &ChildSlot| -> Result<FromWorker, SpawnError> {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout(slot));
            }
            let _ = reader.get_ref().set_read_timeout(Some(left));
            match frame::read::<_, FromWorker>(&mut reader, HANDSHAKE_FRAME_LIMIT) {
                Ok(m) => Ok(m),
                Err(frame::FrameError::Closed) => Err(exited(slot)),
                Err(frame::FrameError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    Err(timeout(slot))
                }
                Err(e) => {
                    slot.kill();
                    Err(fail(
                        HandshakeError::Protocol {
                            stage: spec.stage.clone(),
                            detail: e.to_string(),
                        }
                        .into(),
                    ))
                }
            }
        };
        let hello = match next(&slot)? {
            FromWorker::Hello(h) => h,
            FromWorker::Refuse { reason, known, .. } => {
                return Err(fail(
                    HandshakeError::UnknownTask {
                        stage: spec.stage.clone(),
                        task: spec.task.name.clone(),
                        known,
                        reason,
                    }
                    .into(),
                ))
            }
            other => {
                slot.kill();
                return Err(fail(
                    HandshakeError::Protocol {
                        stage: spec.stage.clone(),
                        detail: format!("expected Hello, got {}", other.name()),
                    }
                    .into(),
                ));
            }
        };
        if let Err(e) = handshake::validate(&spec.stage, &spec.task, &hello) {
            let _ = frame::write(
                &mut writer,
                &ToWorker::Reject {
                    reason: e.to_string(),
                },
            );
            return Err(fail(e.into()));
        }
        let welcome = Welcome {
            stage: spec.stage.clone(),
            params: spec.params.clone(),
            rings: spec
                .rings
                .iter()
                .zip(&started.ring_fds)
                .map(|(ring, &fd)| ring.inherited_descriptor(fd))
                .collect(),
            output_ring: spec.output_ring,
            shm_threshold: spec.shm_threshold,
            keep_inputs: spec.keep_inputs,
        };
        if let Err(e) = frame::write(&mut writer, &ToWorker::Welcome(welcome)) {
            return Err(fail(SpawnError::Init {
                stage: spec.stage.clone(),
                pid: slot.pid,
                reason: format!("cannot send Welcome: {e}"),
            }));
        }
        match next(&slot)? {
            FromWorker::Ready => {}
            FromWorker::Refuse { reason, .. } => {
                return Err(fail(SpawnError::Init {
                    stage: spec.stage.clone(),
                    pid: slot.pid,
                    reason,
                }))
            }
            other => {
                slot.kill();
                return Err(fail(
                    HandshakeError::Protocol {
                        stage: spec.stage.clone(),
                        detail: format!("expected Ready, got {}", other.name()),
                    }
                    .into(),
                ));
            }
        }
        let _ = reader.get_ref().set_read_timeout(None);
        tracing::debug!(stage = spec.stage, pid = slot.pid, task = %spec.task, "worker ready");
        Ok(WorkerLink {
            sender: Box::new(LocalSender {
                scratch: Vec::new(),
                out: writer,
                slot: slot.clone(),
            }),
            receiver: Box::new(LocalReceiver {
                input: reader,
                slot: slot.clone(),
                over: None,
            }),
            control: Arc::new(LocalControl { slot }),
        })
    }
}

/// Handshake messages are small: a worker announcing more before `Ready` is not a worker.
const HANDSHAKE_FRAME_LIMIT: u64 = 1 << 20;

#[derive(Debug)]
struct LocalSender {
    /// The frame being written, kept between messages.
    scratch: Vec<u8>,
    /// Frames are built whole in `scratch`: one write each, no second buffer.
    out: UnixStream,
    slot: Arc<ChildSlot>,
}

impl LocalSender {
    fn error(&self, e: std::io::Error) -> LinkError {
        LinkError::Send {
            stage: self.slot.stage.clone(),
            worker: WorkerId::Local { pid: self.slot.pid }.to_string(),
            detail: e.to_string(),
        }
    }
}

impl WorkSender for LocalSender {
    fn send(&mut self, work: Work) -> Result<(), (Work, LinkError)> {
        let msg = ToWorker::Work(work);
        match frame::write_with(&mut self.out, &msg, &mut self.scratch) {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = self.error(e);
                match msg {
                    ToWorker::Work(work) => Err((work, err)),
                    _ => unreachable!("built as Work above"),
                }
            }
        }
    }

    fn end(&mut self) -> Result<(), LinkError> {
        frame::write(&mut self.out, &ToWorker::End).map_err(|e| self.error(e))
    }
}

#[derive(Debug)]
struct LocalReceiver {
    input: BufReader<UnixStream>,
    slot: Arc<ChildSlot>,
    /// Set once the link is over: what every later `recv` returns.
    over: Option<ExitCause>,
}

impl LocalReceiver {
    fn exited(&mut self) -> WorkerEvent {
        let status = self.slot.reap_within(EXIT_GRACE);
        let cause = ChildSlot::cause(status);
        self.over = Some(cause);
        WorkerEvent::Exited(cause)
    }

    fn protocol(&mut self, detail: String) -> WorkerEvent {
        self.slot.kill();
        let status = self.slot.wait();
        self.over = Some(ChildSlot::cause(status));
        WorkerEvent::Protocol(detail)
    }
}

impl EventReceiver for LocalReceiver {
    fn recv(&mut self) -> WorkerEvent {
        if let Some(cause) = self.over {
            return WorkerEvent::Exited(cause);
        }
        match frame::read::<_, FromWorker>(&mut self.input, frame::MAX_FRAME) {
            Ok(FromWorker::Results(r)) => WorkerEvent::Results(r),
            Ok(FromWorker::Bye) => {
                let status = self.slot.reap_within(EXIT_GRACE);
                let cause = ChildSlot::cause(status);
                self.over = Some(cause);
                if status.success() {
                    WorkerEvent::Finished
                } else {
                    WorkerEvent::Exited(cause)
                }
            }
            Ok(other) => self.protocol(format!("unexpected {} after the handshake", other.name())),
            Err(frame::FrameError::Closed) => self.exited(),
            Err(frame::FrameError::Io(e)) => {
                // A reset or a read error: the worker is gone or going.
                tracing::debug!(stage = self.slot.stage, pid = self.slot.pid, "read: {e}");
                self.exited()
            }
            Err(e @ frame::FrameError::Truncated { .. }) => {
                // A worker killed while writing leaves half a frame: that is a death, not a
                // protocol breach. One that closed mid-frame and lives on is a breach.
                let deadline = Instant::now() + Duration::from_millis(50);
                loop {
                    if let Some(status) = self.slot.try_wait() {
                        let cause = ChildSlot::cause(status);
                        self.over = Some(cause);
                        return match cause {
                            ExitCause::Signal(_) => WorkerEvent::Exited(cause),
                            _ => WorkerEvent::Protocol(format!("{e}; then the worker {cause}")),
                        };
                    }
                    if Instant::now() >= deadline {
                        return self.protocol(e.to_string());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Err(e) => self.protocol(e.to_string()),
        }
    }
}

#[derive(Debug)]
struct LocalControl {
    slot: Arc<ChildSlot>,
}

impl WorkerControl for LocalControl {
    fn id(&self) -> WorkerId {
        WorkerId::Local { pid: self.slot.pid }
    }

    fn kill(&self) {
        self.slot.kill();
    }

    fn wait(&self) -> ExitCause {
        ChildSlot::cause(self.slot.wait())
    }
}
