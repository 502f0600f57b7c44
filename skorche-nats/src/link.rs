//! A coordinator's worker slot on a remote run: batches out to the run's work stream,
//! results back from the router, in the order the batches were sent.
//!
//! Any remote worker may take any batch, so results come back in any order, and a batch
//! whose worker died is answered again by the next one. A link keeps the ids it sent, in
//! order, hands the coordinator each batch's results once, when every earlier batch is
//! answered, and drops any later copy: the coordinator sees a worker that answers in order,
//! exactly once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use skorche_worker::error::LinkError;
use skorche_worker::protocol::{Results, Work};
use skorche_worker::transport::{
    EventReceiver, ExitCause, WorkSender, WorkerControl, WorkerEvent, WorkerId, WorkerLink,
};
use skorche_worker::values::ValueRef;

use crate::objects;
use crate::router::LinkEvent;
use crate::run::Run;
use crate::wire::{self, WireWork};

/// Results a link holds for its receiver before the router waits.
const LINK_BACKLOG: usize = 64;

#[derive(Debug, Default)]
struct State {
    /// Batch ids sent and not yet handed over, in the order sent.
    order: VecDeque<u64>,
    /// Answers that came before an earlier batch's.
    ready: HashMap<u64, Results>,
    /// Input objects of each batch, deleted once it is answered.
    inputs: HashMap<u64, Vec<String>>,
    ended: bool,
    killed: bool,
    over: Option<ExitCause>,
}

#[derive(Debug)]
struct Link {
    run: Arc<Run>,
    id: u32,
    state: Mutex<State>,
    wake: Sender<LinkEvent>,
}

impl Link {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn name(&self) -> String {
        format!("remote slot #{} via {}", self.id, self.run.conn.url)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.run
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Opens a new link on `run`.
pub(crate) fn open(run: Arc<Run>) -> WorkerLink {
    let id = run.next_link.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = crossbeam_channel::bounded(LINK_BACKLOG);
    run.links
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, tx.clone());
    let link = Arc::new(Link {
        run,
        id,
        state: Mutex::new(State::default()),
        wake: tx,
    });
    WorkerLink {
        sender: Box::new(LinkSender(link.clone())),
        receiver: Box::new(LinkReceiver {
            link: link.clone(),
            rx,
        }),
        control: Arc::new(LinkControl(link)),
    }
}

#[derive(Debug)]
struct LinkSender(Arc<Link>);

impl WorkSender for LinkSender {
    fn send(&mut self, work: Work) -> Result<(), (Work, LinkError)> {
        let link = &self.0;
        let run = &link.run;
        let fail = |detail: String| LinkError::Send {
            stage: run.stage.clone(),
            worker: link.name(),
            detail,
        };
        if link.state().killed {
            return Err((work, fail("the slot was stopped".into())));
        }
        let mut inline = Vec::with_capacity(work.items.len());
        for value in work.items.iter() {
            match value {
                ValueRef::Inline(bytes) => inline.push(bytes),
                ValueRef::Shm(_) => {
                    let why = "a value in shared memory (ShmBytes) cannot go to a remote worker: \
                               send it as Vec<u8>";
                    return Err((work, fail(why.into())));
                }
            }
        }
        let prefix = format!("in.{}.{}", link.id, work.batch);
        let sent = objects::to_wire(
            &run.conn,
            &run.objects,
            &prefix,
            inline.into_iter(),
            run.inline_limit,
        )
        .and_then(|(items, names)| {
            let message = WireWork {
                link: link.id,
                batch: work.batch,
                items,
            };
            let bytes = wire::encode("work", &message)?;
            {
                let mut s = link.state();
                s.order.push_back(work.batch);
                s.inputs.insert(work.batch, names);
            }
            let id = format!("{}.{}.{}", run.id, link.id, work.batch);
            let going = || !link.state().killed && !run.closing.load(Ordering::Acquire);
            run.conn.publish(&run.work_subject, &id, bytes, &going)
        });
        match sent {
            Ok(()) => Ok(()),
            Err(e) => {
                let mut s = link.state();
                s.order.retain(|&b| b != work.batch);
                if let Some(names) = s.inputs.remove(&work.batch) {
                    run.conn.delete_objects(&run.objects, names);
                }
                drop(s);
                Err((work, fail(e.to_string())))
            }
        }
    }

    fn end(&mut self) -> Result<(), LinkError> {
        self.0.state().ended = true;
        let _ = self.0.wake.try_send(LinkEvent::Wake);
        Ok(())
    }
}

#[derive(Debug)]
struct LinkReceiver {
    link: Arc<Link>,
    rx: Receiver<LinkEvent>,
}

impl EventReceiver for LinkReceiver {
    fn recv(&mut self) -> WorkerEvent {
        let link = &self.link;
        loop {
            {
                let mut s = link.state();
                if let Some(cause) = s.over {
                    return match cause {
                        ExitCause::Code(0) => WorkerEvent::Finished,
                        cause => WorkerEvent::Exited(cause),
                    };
                }
                if s.killed {
                    s.over = Some(ExitCause::Unknown);
                    return WorkerEvent::Exited(ExitCause::Unknown);
                }
                if let Some(&front) = s.order.front() {
                    if let Some(results) = s.ready.remove(&front) {
                        s.order.pop_front();
                        if let Some(names) = s.inputs.remove(&front) {
                            link.run.conn.delete_objects(&link.run.objects, names);
                        }
                        return WorkerEvent::Results(results);
                    }
                }
                if s.ended && s.order.is_empty() {
                    s.over = Some(ExitCause::Code(0));
                    return WorkerEvent::Finished;
                }
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(LinkEvent::Results(results)) => {
                    let mut s = link.state();
                    if s.order.contains(&results.batch) && !s.ready.contains_key(&results.batch) {
                        s.ready.insert(results.batch, results);
                    } else {
                        tracing::debug!(
                            stage = link.run.stage,
                            batch = results.batch,
                            "dropping a second answer to a batch (redelivered)"
                        );
                    }
                }
                Ok(LinkEvent::Protocol(why)) => {
                    link.state().over = Some(ExitCause::Unknown);
                    return WorkerEvent::Protocol(why);
                }
                Ok(LinkEvent::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    link.state().over = Some(ExitCause::Unknown);
                    return WorkerEvent::Exited(ExitCause::Unknown);
                }
            }
        }
    }
}

#[derive(Debug)]
struct LinkControl(Arc<Link>);

impl WorkerControl for LinkControl {
    fn id(&self) -> WorkerId {
        WorkerId::Remote {
            endpoint: self.0.run.conn.url.clone(),
            link: self.0.id,
        }
    }

    /// Stops the slot: it sends nothing more and its receiver ends. Batches it sent stay in
    /// the run's stream until the run is removed.
    fn kill(&self) {
        self.0.state().killed = true;
        let _ = self.0.wake.try_send(LinkEvent::Wake);
    }

    fn wait(&self) -> ExitCause {
        loop {
            {
                let s = self.0.state();
                if let Some(cause) = s.over {
                    return cause;
                }
                if s.killed {
                    return ExitCause::Unknown;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
