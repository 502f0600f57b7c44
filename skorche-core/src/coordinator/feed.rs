//! The feeder: takes items off the stage's queue as credits allow, encodes them, sends
//! batches; control packets (markers, skips) wait behind the batch they followed.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use skorche_worker::codec::OnFull;
use skorche_worker::protocol::{Payload, Work, WorkItem};
use skorche_worker::transport::WorkSender;

use crate::coordinator::dispatch::{Batch, Sent, Slot};
use crate::coordinator::{catch, Stage};
use crate::error::FailureKind;
use crate::exec::send::send;
use crate::exec::worker_cx::WorkerCx;
use crate::packet::Packet;

/// How often a blocked feeder looks at the run's stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(20);

pub(crate) struct Feeder<'a, V, W> {
    pub(crate) stage: &'a Stage<V, W>,
    pub(crate) slot: &'a Slot<W>,
    pub(crate) sender: Box<dyn WorkSender>,
    pub(crate) input_ring: &'a skorche_worker::rings::Ring,
    pub(crate) rx: Receiver<Packet<V>>,
    pub(crate) tx: Sender<Packet<W>>,
    pub(crate) wire: u64,
}

impl<V: Send + 'static, W: Send + 'static> Feeder<'_, V, W> {
    pub(crate) fn run(mut self, cx: &mut WorkerCx) {
        loop {
            let Some(room) = self.slot.wait_credit(POLL, || cx.aborted()) else {
                return;
            };
            let first = loop {
                match self.rx.recv_timeout(POLL) {
                    Ok(p) => break Some(p),
                    Err(RecvTimeoutError::Timeout) if !cx.aborted() => continue,
                    Err(RecvTimeoutError::Timeout) => return,
                    Err(RecvTimeoutError::Disconnected) => break None,
                }
            };
            let Some(first) = first else { break };
            if cx.aborted() {
                return;
            }
            let mut items = Vec::with_capacity(room);
            let mut sent = Vec::with_capacity(room);
            let mut next = Some(first);
            // Whether the batch being built holds ring records.
            let mut holding = false;
            while let Some(packet) = next.take() {
                match packet.into_control::<W>() {
                    Ok(control) => {
                        // The batch before a marker or skip leaves first; the control packet
                        // follows its results.
                        if !self.flush(cx, &mut items, &mut sent) {
                            return;
                        }
                        if !self.after_last(cx, control) {
                            return;
                        }
                        // The credits were for one batch: ask again.
                        break;
                    }
                    Err((seq, tag, value)) => {
                        // Counted against the worker's credits when the batch is flushed:
                        // only this feeder spends them, and it took no more than `room`.
                        cx.local.items_in += 1;
                        let Some(payload) = self.encode(cx, seq, value, holding) else {
                            return;
                        };
                        match &payload {
                            Payload::Shm(_) => {
                                cx.local.via_shm += 1;
                                holding = true;
                            }
                            Payload::Inline(_) => cx.local.inline += 1,
                        }
                        items.push(WorkItem {
                            seq: self.wire,
                            payload,
                        });
                        sent.push(Sent {
                            seq,
                            tag,
                            wire: self.wire,
                        });
                        self.wire += 1;
                    }
                }
                if items.len() < room {
                    next = self.rx.try_recv().ok();
                }
            }
            if !self.flush(cx, &mut items, &mut sent) {
                return;
            }
        }
        if !cx.aborted() {
            // A failed `end` means the worker is gone: the collector reports it.
            let _ = self.sender.end();
        }
    }

    /// Encodes one input; `None` when the stage failed or the run is stopping.
    fn encode(&self, cx: &mut WorkerCx, seq: u64, value: V, holding: bool) -> Option<Payload> {
        let shared = cx.shared.clone();
        let mut on_full = || {
            if shared.is_aborted() {
                OnFull::Stop
            } else if holding {
                // The ring holds records of this unsent batch: the worker cannot release
                // them before it gets the batch, so waiting would never end.
                OnFull::Inline
            } else {
                OnFull::Wait
            }
        };
        let ring = self.input_ring;
        let encoded = catch(|| (self.stage.encode)(value, ring, &mut on_full));
        match encoded {
            Ok(Ok(p)) => Some(p),
            Ok(Err(_)) if cx.aborted() => None,
            Ok(Err(e)) => {
                cx.fail(
                    Some(seq),
                    FailureKind::Protocol,
                    format!("cannot encode the input: {e}"),
                );
                self.slot.control.kill();
                None
            }
            Err(panic) => {
                cx.fail(
                    Some(seq),
                    FailureKind::Panic,
                    format!("encoding the input panicked (its Serialize impl): {panic}"),
                );
                self.slot.control.kill();
                None
            }
        }
    }

    /// Sends the batch being built. `false`: stop feeding.
    fn flush(
        &mut self,
        cx: &mut WorkerCx,
        items: &mut Vec<WorkItem>,
        sent: &mut Vec<Sent>,
    ) -> bool {
        if items.is_empty() {
            return true;
        }
        let id = {
            let mut f = self.slot.lock();
            let id = f.next_batch;
            f.next_batch += 1;
            f.items += sent.len();
            f.open += 1;
            if f.batches.is_empty() {
                // An idle worker starts on this batch now, not when it last answered.
                f.progress = Instant::now();
            }
            f.batches.push_back(Batch {
                id,
                items: std::mem::take(sent),
                answered: 0,
                after: Vec::new(),
                sent: Instant::now(),
                out_bytes: 0,
                busy: Duration::ZERO,
            });
            id
        };
        let work = Work {
            batch: id,
            items: std::mem::take(items),
        };
        // A send error means the worker is gone: the collector sees it end and reports it.
        self.sender.send(work).is_ok() && !cx.aborted()
    }

    /// Puts a control packet behind the last batch in flight, or sends it on if none is.
    fn after_last(&self, cx: &mut WorkerCx, control: Packet<W>) -> bool {
        let mut f = self.slot.lock();
        match f.batches.back_mut() {
            Some(last) => {
                last.after.push(control);
                true
            }
            // Nothing in flight: everything before it was emitted. The lock keeps the
            // collector from emitting meanwhile, so the order holds.
            None => send(&self.tx, cx, control),
        }
    }
}
