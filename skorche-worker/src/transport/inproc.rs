//! The in-process transport: the worker loop on a thread, over channels.
//!
//! For coordinator tests without processes (and for debugging a task under the coordinator
//! with an ordinary debugger). The messages and the handshake are the real ones; rings are
//! opened through their descriptors as a worker process would. A thread cannot be killed:
//! [`WorkerControl::kill`] ends the link at once and the thread exits when its current
//! item returns.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{HandshakeError, LinkError, SpawnError};
use crate::handshake;
use crate::protocol::{FromWorker, ToWorker, Welcome, Work};
use crate::serve::{Inbox, Outbox};
use crate::transport::{
    EventReceiver, ExitCause, Transport, WorkSender, WorkerControl, WorkerEvent, WorkerId,
    WorkerLink, WorkerSpec,
};
use crate::worker::{exit_code, handshake_and_serve};

/// Starts workers as threads of this process. The task must be registered in this binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

static NEXT: AtomicU64 = AtomicU64::new(0);
const POLL: Duration = Duration::from_millis(5);

struct ThreadInbox(Receiver<ToWorker>);

impl Inbox for ThreadInbox {
    fn recv(&mut self) -> Result<ToWorker, (i32, String)> {
        self.0
            .recv()
            .map_err(|_| (exit_code::ORPHANED, "coordinator hung up".to_string()))
    }
}

struct ThreadOutbox(Sender<FromWorker>);

impl Outbox for ThreadOutbox {
    fn send(&mut self, msg: FromWorker) -> Result<(), String> {
        self.0
            .send(msg)
            .map_err(|_| "coordinator hung up".to_string())
    }
}

#[derive(Debug)]
struct State {
    index: u64,
    killed: AtomicBool,
    code: Mutex<Option<i32>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl State {
    /// Waits for the worker thread, once.
    fn join(&self) {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    fn cause(&self) -> ExitCause {
        if self.killed.load(Ordering::Relaxed) {
            return ExitCause::Signal(nix::sys::signal::Signal::SIGKILL as i32);
        }
        match *self.code.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(c) => ExitCause::Code(c),
            None => ExitCause::Unknown,
        }
    }
}

impl Transport for InProcess {
    fn start_worker(&self, spec: &WorkerSpec) -> Result<WorkerLink, SpawnError> {
        let (to_worker, worker_rx) = channel::<ToWorker>();
        let (worker_tx, from_worker) = channel::<FromWorker>();
        let index = NEXT.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(State {
            index,
            killed: AtomicBool::new(false),
            code: Mutex::new(None),
            thread: Mutex::new(None),
        });
        let (task, stage, st) = (spec.task.name.clone(), spec.stage.clone(), state.clone());
        let thread = std::thread::Builder::new()
            .name(format!("skorche-inproc-{index}"))
            .spawn(move || {
                let code = handshake_and_serve(
                    &mut ThreadInbox(worker_rx),
                    &mut ThreadOutbox(worker_tx),
                    &task,
                    &stage,
                );
                *st.code.lock().unwrap_or_else(|e| e.into_inner()) = Some(code);
            })
            .map_err(|source| SpawnError::Setup {
                stage: spec.stage.clone(),
                source,
            })?;
        *state.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        let deadline = Instant::now() + spec.handshake_timeout;
        let protocol = |detail: String| -> SpawnError {
            HandshakeError::Protocol {
                stage: spec.stage.clone(),
                detail,
            }
            .into()
        };
        let next = || {
            from_worker
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| protocol("the worker thread ended or did not greet in time".into()))
        };
        let hello = match next()? {
            FromWorker::Hello(h) => h,
            FromWorker::Refuse { reason, known, .. } => {
                return Err(HandshakeError::UnknownTask {
                    stage: spec.stage.clone(),
                    task: spec.task.name.clone(),
                    known,
                    reason,
                }
                .into())
            }
            other => return Err(protocol(format!("expected Hello, got {}", other.name()))),
        };
        if let Err(e) = handshake::validate(&spec.stage, &spec.task, &hello) {
            let _ = to_worker.send(ToWorker::Reject {
                reason: e.to_string(),
            });
            return Err(e.into());
        }
        let welcome = Welcome {
            stage: spec.stage.clone(),
            params: spec.params.clone(),
            rings: spec.rings.iter().map(|r| r.descriptor()).collect(),
            output_ring: spec.output_ring,
            shm_threshold: spec.shm_threshold,
            keep_inputs: spec.keep_inputs,
        };
        let _ = to_worker.send(ToWorker::Welcome(welcome));
        match next()? {
            FromWorker::Ready => {}
            FromWorker::Refuse { reason, .. } => {
                return Err(SpawnError::Init {
                    stage: spec.stage.clone(),
                    pid: std::process::id(),
                    reason,
                })
            }
            other => return Err(protocol(format!("expected Ready, got {}", other.name()))),
        }
        Ok(WorkerLink {
            sender: Box::new(ThreadSender {
                tx: to_worker,
                stage: spec.stage.clone(),
                index,
            }),
            receiver: Box::new(ThreadReceiver {
                rx: from_worker,
                state: state.clone(),
                over: false,
            }),
            control: Arc::new(ThreadControl { state }),
        })
    }
}

#[derive(Debug)]
struct ThreadSender {
    tx: Sender<ToWorker>,
    stage: String,
    index: u64,
}

impl ThreadSender {
    fn error(&self) -> LinkError {
        LinkError::Send {
            stage: self.stage.clone(),
            worker: WorkerId::InProcess { index: self.index }.to_string(),
            detail: "the worker thread is gone".into(),
        }
    }
}

impl WorkSender for ThreadSender {
    fn send(&mut self, work: Work) -> Result<(), (Work, LinkError)> {
        match self.tx.send(ToWorker::Work(work)) {
            Ok(()) => Ok(()),
            Err(std::sync::mpsc::SendError(ToWorker::Work(work))) => Err((work, self.error())),
            Err(_) => unreachable!("sent as Work"),
        }
    }

    fn end(&mut self) -> Result<(), LinkError> {
        self.tx.send(ToWorker::End).map_err(|_| self.error())
    }
}

#[derive(Debug)]
struct ThreadReceiver {
    rx: Receiver<FromWorker>,
    state: Arc<State>,
    over: bool,
}

impl EventReceiver for ThreadReceiver {
    fn recv(&mut self) -> WorkerEvent {
        loop {
            if self.over || self.state.killed.load(Ordering::Relaxed) {
                self.over = true;
                return WorkerEvent::Exited(self.state.cause());
            }
            match self.rx.recv_timeout(POLL) {
                Ok(FromWorker::Results(r)) => return WorkerEvent::Results(r),
                Ok(FromWorker::Bye) => {
                    self.over = true;
                    self.state.join();
                    return WorkerEvent::Finished;
                }
                Ok(other) => {
                    self.over = true;
                    self.state.killed.store(true, Ordering::Relaxed);
                    return WorkerEvent::Protocol(format!(
                        "unexpected {} after the handshake",
                        other.name()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.over = true;
                    return WorkerEvent::Exited(self.state.cause());
                }
            }
        }
    }
}

#[derive(Debug)]
struct ThreadControl {
    state: Arc<State>,
}

impl WorkerControl for ThreadControl {
    fn id(&self) -> WorkerId {
        WorkerId::InProcess {
            index: self.state.index,
        }
    }

    fn kill(&self) {
        self.state.killed.store(true, Ordering::Relaxed);
    }

    fn wait(&self) -> ExitCause {
        if !self.state.killed.load(Ordering::Relaxed) {
            self.state.join();
        }
        self.state.cause()
    }
}
