//! The worker loop, over any transport: receive batches, run the task, answer in parts.
//!
//! A batch is answered in parts, in order: after an item whose outputs went into the output
//! ring (the coordinator can only release what it was told about, and the worker may need
//! the room), and, by a reporter thread, whenever the current item has run for
//! [`REPORT_AFTER`] while finished results wait. So the coordinator always knows which item
//! a worker is on, within a millisecond: a per-item timeout names the item that hung, and
//! results of fast items never wait behind a slow one in the same batch.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::codec::release_handles;
use crate::codec::PayloadIo;
use crate::exit::{exit_code, fatal};
use crate::protocol::{FailureKind, FromWorker, Outcome, Results, TaskFailure, ToWorker, Work};
use crate::registry::{panic_message, ErasedInstance};
use crate::values::Values;

/// Finished results are sent once the current item has run this long.
pub const REPORT_AFTER: Duration = Duration::from_millis(1);

/// How long the reporter keeps polling after a batch before it sleeps until the next.
const IDLE_SLEEP: Duration = Duration::from_millis(50);

/// Where a worker receives its messages.
pub trait Inbox {
    /// The next message.
    ///
    /// # Errors
    /// When the coordinator is gone or sent something unreadable: a description, and the
    /// exit code the worker should end with.
    fn recv(&mut self) -> Result<ToWorker, (i32, String)>;
}

/// Where a worker sends its messages.
pub trait Outbox: Send {
    /// Sends a message.
    ///
    /// # Errors
    /// When the coordinator is gone.
    fn send(&mut self, msg: FromWorker) -> Result<(), String>;
}

/// Results finished and not yet sent, and what the worker is doing.
struct Pending {
    batch: u64,
    /// Index in the batch of the first unsent result.
    first: u32,
    outcomes: Vec<Outcome>,
    outputs: Values,
    busy_ns: u64,
    /// When the current item started; `None` between batches.
    item_started: Option<Instant>,
    /// When the last batch ended.
    idle_since: Instant,
    /// The reporter waits without a timeout: a new batch must wake it.
    reporter_asleep: bool,
    stop: bool,
}

struct Shared<'a> {
    out: Mutex<&'a mut dyn Outbox>,
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared<'_> {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the finished results as one part (`last` ends the batch). The outbox lock is
    /// taken first, so parts leave in the order they were cut.
    fn send_part(&self, last: bool) -> Result<(), String> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let part = {
            let mut p = self.pending();
            if p.outcomes.is_empty() && !last {
                return Ok(());
            }
            let outcomes = std::mem::take(&mut p.outcomes);
            let outputs = std::mem::take(&mut p.outputs);
            let first = p.first;
            p.first += outcomes.len() as u32;
            Results {
                batch: p.batch,
                first,
                outcomes,
                outputs,
                last,
                busy_ns: std::mem::take(&mut p.busy_ns),
            }
        };
        out.send(FromWorker::Results(part))
    }
}

/// Serves batches until `End` (answering `Bye`, returning [`exit_code::OK`]) or until the
/// coordinator is gone or breaks the protocol (returning the matching exit code).
pub fn serve(
    stage: &str,
    instance: &mut dyn ErasedInstance,
    io: &PayloadIo,
    inbox: &mut dyn Inbox,
    outbox: &mut dyn Outbox,
) -> i32 {
    let shared = Shared {
        out: Mutex::new(outbox),
        pending: Mutex::new(Pending {
            batch: 0,
            first: 0,
            outcomes: Vec::new(),
            outputs: Values::default(),
            busy_ns: 0,
            item_started: None,
            idle_since: Instant::now(),
            reporter_asleep: false,
            stop: false,
        }),
        wake: Condvar::new(),
    };
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("skorche-worker-reporter".into())
            .spawn_scoped(scope, || report(&shared))
            .map_err(|e| fatal(stage, &format!("no reporter thread: {e}")))
            .ok();
        let code = serve_loop(stage, instance, io, inbox, &shared);
        shared.pending().stop = true;
        shared.wake.notify_all();
        code
    })
}

/// The reporter: sends finished results when the current item runs long.
fn report(shared: &Shared<'_>) {
    let mut p = shared.pending();
    loop {
        if p.stop {
            return;
        }
        let wait = match p.item_started {
            // Between batches it keeps polling for a while (batches usually follow each
            // other closely, and a wake-up per batch costs more than a poll), then sleeps.
            None if p.idle_since.elapsed() < IDLE_SLEEP => Some(REPORT_AFTER),
            None => {
                p.reporter_asleep = true;
                None
            }
            Some(started) => {
                let ran = started.elapsed();
                if ran >= REPORT_AFTER && !p.outcomes.is_empty() {
                    drop(p);
                    if shared.send_part(false).is_err() {
                        return;
                    }
                    p = shared.pending();
                    continue;
                }
                Some(
                    REPORT_AFTER
                        .saturating_sub(ran)
                        .max(Duration::from_micros(200)),
                )
            }
        };
        p = match wait {
            None => shared.wake.wait(p).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                shared
                    .wake
                    .wait_timeout(p, d)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}

fn serve_loop(
    stage: &str,
    instance: &mut dyn ErasedInstance,
    io: &PayloadIo,
    inbox: &mut dyn Inbox,
    shared: &Shared<'_>,
) -> i32 {
    loop {
        match inbox.recv() {
            Ok(ToWorker::Work(work)) => {
                if let Err(e) = work.items.validate() {
                    fatal(stage, &format!("batch {}: {e}", work.batch));
                    return exit_code::PROTOCOL;
                }
                if let Err(e) = run_batch(instance, io, shared, work) {
                    fatal(stage, &format!("cannot send results: {e}"));
                    return exit_code::ORPHANED;
                }
            }
            Ok(ToWorker::End) => {
                let sent = shared
                    .out
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send(FromWorker::Bye);
                if sent.is_err() {
                    return exit_code::ORPHANED;
                }
                tracing::debug!(stage, "end of stream");
                return exit_code::OK;
            }
            Ok(other) => {
                fatal(stage, &format!("unexpected message {}", other.name()));
                return exit_code::PROTOCOL;
            }
            Err((code, why)) => {
                fatal(stage, &why);
                return code;
            }
        }
    }
}

fn run_batch(
    instance: &mut dyn ErasedInstance,
    io: &PayloadIo,
    shared: &Shared<'_>,
    work: Work,
) -> Result<(), String> {
    let n = work.items.len();
    let mut prev = Instant::now();
    {
        let mut p = shared.pending();
        p.batch = work.batch;
        p.first = 0;
        p.outcomes = Vec::with_capacity(n);
        p.outputs = Values::with_capacity(n);
        p.busy_ns = 0;
        p.item_started = Some(prev);
        if std::mem::take(&mut p.reporter_asleep) {
            shared.wake.notify_all();
        }
    }
    // One item's outputs are written here, then moved to the pending part under the lock:
    // the reporter may send a part while the task runs. Its capacity is reused.
    let mut scratch = Values::default();
    for (i, item) in work.items.iter().enumerate() {
        io.begin_call();
        // The task's own panics are caught inside the instance; this also catches a panic in
        // a user type's Deserialize or Serialize, which must fail the item, not the worker.
        let outcome = match catch_unwind(AssertUnwindSafe(|| {
            instance.call_value(item, io, &mut scratch)
        })) {
            Ok(Ok(count)) => Outcome::Done(count),
            Ok(Err(failure)) => Outcome::Failed(failure),
            Err(payload) => {
                release_handles(&scratch.clear(), &io.rings);
                Outcome::Failed(TaskFailure::new(
                    FailureKind::Codec,
                    format!(
                        "panic while decoding the input or encoding an output: {}",
                        panic_message(&*payload)
                    ),
                ))
            }
        };
        let now = Instant::now();
        {
            let mut p = shared.pending();
            p.busy_ns += now.duration_since(prev).as_nanos() as u64;
            p.outcomes.push(outcome);
            p.outputs.append(&mut scratch);
            p.item_started = Some(now);
        }
        prev = now;
        if io.stored_in_call() > 0 && i + 1 < n {
            shared.send_part(false)?;
        }
    }
    {
        let mut p = shared.pending();
        p.item_started = None;
        p.idle_since = Instant::now();
    }
    shared.send_part(true)
}
