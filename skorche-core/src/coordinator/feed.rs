//! The feeder: takes items off the stage's queue as credits allow, encodes them, sends
//! batches; control packets (markers, skips) wait behind the batch they followed.

use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use skorche_worker::codec::OnFull;
use skorche_worker::protocol::{Payload, Work};
use skorche_worker::transport::WorkSender;
use skorche_worker::values::Values;

use crate::autoscale::gate::ScaleGate;
use crate::coordinator::dispatch::{Batch, Sent, Slot};
use crate::coordinator::{catch, Stage};
use crate::error::FailureKind;
use crate::exec::send::send;
use crate::exec::worker_cx::WorkerCx;
use crate::hop::{Rx, Tx};
use crate::packet::Packet;

/// How often a blocked feeder looks at the run's stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(20);

pub(crate) struct Feeder<'a, V, W> {
    pub(crate) stage: &'a Stage<V, W>,
    pub(crate) slot: &'a Slot<W>,
    pub(crate) sender: Box<dyn WorkSender>,
    pub(crate) input_ring: &'a skorche_worker::rings::Ring,
    /// The worker's output ring: cached outputs are decoded as if the worker answered them.
    pub(crate) output_ring: &'a std::sync::Arc<skorche_worker::rings::Ring>,
    /// Borrowed: the chunk it holds stays for the feeder of a restarted worker.
    pub(crate) rx: &'a mut Rx<V>,
    pub(crate) tx: &'a Tx<W>,
    /// The autoscaler's gate and this worker's index, in a stage whose surplus workers
    /// are stopped: past the target, the feeder ends its worker's stream between chunks.
    pub(crate) scale: Option<(&'a ScaleGate, usize)>,
    /// Set when the feeder ended the stream because the autoscaler lowered the target.
    pub(crate) retired: bool,
}

impl<V: Send + 'static, W: Send + 'static> Feeder<'_, V, W> {
    /// Feeds until the input ends (then sends `End`), the run stops, or the worker dies;
    /// in the last case, returns the items taken and not yet sent, for the next worker.
    /// Past the autoscaler's target it ends the stream as at the end of input, once the
    /// chunk in hand is sent (and, under a failure policy, every retry answered).
    pub(crate) fn run(&mut self, cx: &mut WorkerCx) -> Option<Batch<W>> {
        loop {
            let slot = self.slot;
            let room = slot.wait_credit(POLL, || cx.aborted() || slot.is_dead())?;
            // The producers upstream ship in chunks only to a fast consumer: the worker's
            // batches grow only while its items take under 100 µs each, so a batch cap above
            // one says it is fast (a slow worker must leave the other items to its peers).
            let fast = slot.lock().sizer.cap() > 1;
            crate::hop::outbox::set_pace(!fast);
            if !self.send_retries(cx, room) {
                return None;
            }
            if self.past_target() {
                if self.stage.guard.is_some() && slot.busy() {
                    if slot.is_dead() || cx.aborted() {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                self.retired = true;
                break;
            }
            let first = match self.rx.recv_timeout(POLL) {
                Ok(p) => Some(p),
                // An idle feeder looks again whether it is past the target.
                Err(RecvTimeoutError::Timeout) if !cx.aborted() && !slot.is_dead() => continue,
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => None,
            };
            let Some(first) = first else {
                // End of input: items still out may come back for another attempt.
                if self.stage.guard.is_some() && slot.busy() {
                    if slot.is_dead() || cx.aborted() {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                break;
            };
            if cx.aborted() {
                return None;
            }
            let mut items = Values::with_capacity(room);
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
                            return None;
                        }
                        if !self.after_last(cx, control) {
                            return None;
                        }
                        // The credits were for one batch: ask again.
                        break;
                    }
                    Err((seq, tag, value)) => {
                        // Counted against the worker's credits when the batch is flushed:
                        // only this feeder spends them, and it took no more than `room`.
                        cx.local.items_in += 1;
                        // The feeder times no task call: it publishes its count itself.
                        if cx.local.items_in % 16 == 0 {
                            cx.publish();
                        }
                        if let Some(g) = &self.stage.guard {
                            g.item_seen();
                        }
                        let cache = self.stage.cache.as_deref();
                        let key = cache.and_then(|c| c.key(&value));
                        let hit = key.and_then(|k| cache?.lookup(&k, &cx.stats));
                        if let Some(outputs) = hit {
                            // Answered here, without a worker; it leaves after what was sent
                            // before it, like a control packet.
                            let packets = self.answer(cx, seq, tag, outputs)?;
                            if !self.flush(cx, &mut items, &mut sent) {
                                return None;
                            }
                            for packet in packets {
                                if !self.after_last(cx, packet) {
                                    return None;
                                }
                            }
                            break;
                        }
                        if self.encode(cx, seq, value, holding, &mut items)? {
                            cx.local.via_shm += 1;
                            holding = true;
                        } else {
                            cx.local.inline += 1;
                        }
                        let kept = if self.stage.keep {
                            items.last().map(|v| v.to_payload())
                        } else {
                            None
                        };
                        sent.push(Sent {
                            seq,
                            tag,
                            payload: kept,
                            crashes: 0,
                            attempts: 1,
                            done: false,
                            key,
                        });
                    }
                }
                if items.len() < room {
                    next = self.rx.try_recv().ok();
                }
            }
            if slot.is_dead() {
                // Taken, not sent: the next worker gets them.
                return Some(Batch::new(u64::MAX, std::mem::take(&mut sent)));
            }
            if !self.flush(cx, &mut items, &mut sent) {
                return None;
            }
        }
        if !cx.aborted() {
            // A failed `end` means the worker is gone: the collector reports it.
            let _ = self.sender.end();
        }
        None
    }

    /// Whether the autoscaler stopped this worker, with no packet of a chunk in hand.
    fn past_target(&self) -> bool {
        use crate::hop::Gate;
        self.scale
            .is_some_and(|(gate, index)| gate.stopped(index) && !self.rx.holds())
    }

    /// Sends the items whose retry is due (at most `room`). `false`: stop.
    fn send_retries(&mut self, cx: &mut WorkerCx, room: usize) -> bool {
        if self.stage.guard.is_none() {
            return true;
        }
        let mut sent = self.slot.due_retries(room);
        if sent.is_empty() {
            return true;
        }
        // Only kept items are ever retried: every one has its payload.
        let mut items = Values::with_capacity(sent.len());
        for s in &sent {
            if let Some(p) = &s.payload {
                items.push_payload(p.clone());
            }
        }
        self.flush(cx, &mut items, &mut sent)
    }

    /// Sends a restarted worker what its predecessor held, in order, before anything new.
    /// Records in the dead worker's input ring are copied into the new one. `false`: stop.
    pub(crate) fn hand_over(
        &mut self,
        cx: &mut WorkerCx,
        batches: Vec<Batch<W>>,
        old_input: Option<&skorche_worker::rings::Ring>,
    ) -> bool {
        let mut gone = false;
        for mut batch in batches {
            if batch.items.is_empty() {
                for control in batch.after.drain(..) {
                    if !self.after_last(cx, control) {
                        return false;
                    }
                }
                continue;
            }
            let mut items = Values::with_capacity(batch.items.len());
            for sent in &mut batch.items {
                let payload = match sent.payload.take() {
                    Some(Payload::Shm(h)) => {
                        let copied = old_input
                            .ok_or_else(|| "no ring to copy it from".to_string())
                            .and_then(|ring| {
                                skorche_worker::codec::read_kept_bytes(&h, ring)
                                    .map_err(|e| e.to_string())
                            })
                            .map(|bytes| self.store_raw(bytes));
                        match copied {
                            Ok(p) => p,
                            Err(e) => {
                                cx.fail(
                                    Some(sent.seq),
                                    FailureKind::Protocol,
                                    format!(
                                        "cannot hand item #{} to the next worker: {e}",
                                        sent.seq
                                    ),
                                );
                                return false;
                            }
                        }
                    }
                    Some(p) => p,
                    None => {
                        cx.fail(
                            Some(sent.seq),
                            FailureKind::Protocol,
                            format!("item #{} was not kept for the next worker", sent.seq),
                        );
                        return false;
                    }
                };
                sent.payload = Some(payload.clone());
                items.push_payload(payload);
            }
            let id = {
                let mut f = self.slot.lock();
                let id = f.next_batch;
                f.next_batch += 1;
                f.items += batch.items.len();
                f.open += 1;
                if f.batches.is_empty() {
                    f.progress = Instant::now();
                }
                batch.id = id;
                batch.sent = Instant::now();
                f.batches.push_back(batch);
                id
            };
            // Once the new worker is gone too, the rest are not sent but still recorded as
            // held, so the worker after it gets every one of them.
            if !gone && self.sender.send(Work { batch: id, items }).is_err() {
                gone = true; // the collector sees the death
            }
        }
        true
    }

    /// Puts already-encoded bytes into this worker's input ring (inline if they cannot fit).
    fn store_raw(&self, bytes: Vec<u8>) -> Payload {
        let ring = self.input_ring;
        let mut on_full = || OnFull::Inline;
        skorche_worker::codec::encode_payload_with(bytes, Some(ring), 0, &mut on_full)
            .unwrap_or_else(|_| unreachable!("raw bytes always encode"))
    }

    /// Encodes one input onto the batch being built: `Some(true)` when it went into the
    /// ring, `None` when the stage failed or the run is stopping.
    fn encode(
        &self,
        cx: &mut WorkerCx,
        seq: u64,
        value: V,
        holding: bool,
        items: &mut Values,
    ) -> Option<bool> {
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
        let encoded = catch(|| (self.stage.encode)(value, ring, &mut on_full, items));
        match encoded {
            Ok(Ok(p)) => Some(p),
            Ok(Err(_)) if cx.aborted() => None,
            Ok(Err(e)) => {
                cx.fail(
                    Some(seq),
                    FailureKind::Protocol,
                    format!("cannot encode the input: {e}"),
                );
                self.slot.control().kill();
                None
            }
            Err(panic) => {
                cx.fail(
                    Some(seq),
                    FailureKind::Panic,
                    format!("encoding the input panicked (its Serialize impl): {panic}"),
                );
                self.slot.control().kill();
                None
            }
        }
    }

    /// Sends the batch being built. `false`: stop feeding.
    fn flush(&mut self, cx: &mut WorkerCx, items: &mut Values, sent: &mut Vec<Sent>) -> bool {
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
            f.batches.push_back(Batch::new(id, std::mem::take(sent)));
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
    /// The packets of a cached answer: its outputs decoded as a worker's would be, in the
    /// positions a worker's answer would take. `None`: one did not decode (the stage failed).
    fn answer(
        &self,
        cx: &mut WorkerCx,
        seq: u64,
        tag: crate::order::Tag,
        outputs: Vec<Vec<u8>>,
    ) -> Option<Vec<Packet<W>>> {
        let mut values = Vec::with_capacity(outputs.len());
        for bytes in &outputs {
            let value = skorche_worker::values::ValueRef::Inline(bytes);
            match catch(|| (self.stage.decode)(value, self.output_ring)) {
                Ok(Ok(v)) => values.push(v),
                Ok(Err(e)) | Err(e) => {
                    cx.fail(
                        Some(seq),
                        FailureKind::Protocol,
                        format!("a cached output does not decode: {e}"),
                    );
                    return None;
                }
            }
        }
        if !self.stage.flat || !tag.is_ordered() {
            let packets = values.into_iter().map(|value| Packet::Item {
                seq,
                tag: tag.clone(),
                value,
            });
            return Some(packets.collect());
        }
        let n = values.len() as u64;
        if n == 0 {
            return Some(vec![Packet::Skip(tag)]);
        }
        let packets = values
            .into_iter()
            .enumerate()
            .map(|(i, value)| Packet::Item {
                seq,
                tag: tag.child(i as u64, i as u64 + 1 == n),
                value,
            });
        Some(packets.collect())
    }

    fn after_last(&self, cx: &mut WorkerCx, control: Packet<W>) -> bool {
        let mut f = self.slot.lock();
        match f.batches.back_mut() {
            Some(last) => {
                last.after.push(control);
                true
            }
            // Nothing in flight: everything before it was emitted. The lock keeps the
            // collector from emitting meanwhile, so the order holds (the collector ships
            // what it emitted before it lets go of a batch).
            None => send(self.tx, cx, control) && self.tx.flush(),
        }
    }
}
