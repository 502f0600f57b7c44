//! The collector: receives a worker's answers, checks each against the batch it answers,
//! decodes the outputs and puts them downstream with their inputs' positions.

use std::time::{Duration, Instant};

use skorche_worker::protocol::{Outcome, Payload, Results};
use skorche_worker::transport::{EventReceiver, WorkerEvent};
use skorche_worker::values::ValueRef;

use crate::coordinator::dispatch::{Sent, Slot};
use crate::coordinator::{catch, list_seqs, Ended, Stage};
use crate::error::{FailureKind, StageFailure};
use crate::exec::emit::{emit, kind_of};
use crate::exec::send::send;
use crate::exec::worker_cx::WorkerCx;
use crate::failure::attempt::dropped;
use crate::failure::guard::Decision;
use crate::hop::{Outlet, Tx};
use crate::order::Tag;
use crate::packet::Packet;

pub(crate) struct Collector<'a, V, W> {
    pub(crate) stage: &'a Stage<V, W>,
    pub(crate) slot: &'a Slot<W>,
    pub(crate) receiver: Box<dyn EventReceiver>,
    pub(crate) output_ring: &'a std::sync::Arc<skorche_worker::rings::Ring>,
    /// The ring the feeder writes inputs to (kept inputs are released from it when answered).
    pub(crate) input_ring: &'a skorche_worker::rings::Ring,
    /// The stage's output, opened in the collector's own thread.
    pub(crate) out: Outlet<W>,
}

/// A fault of the worker's, found in an answer: the stage fails with it.
struct Breach(Option<u64>, String);

impl<V, W: Send + 'static> Collector<'_, V, W> {
    pub(crate) fn run(mut self, cx: &mut WorkerCx) -> Ended {
        let worker = self.slot.control().id();
        let restarts = self.stage.opts.restart.is_some();
        let tx = self.out.clone().open();
        loop {
            match self.receiver.recv() {
                WorkerEvent::Results(part) => {
                    if let Err(Breach(seq, why)) = self.take(cx, &tx, part) {
                        self.slot.control().kill();
                        if !cx.aborted() {
                            cx.fail(seq, FailureKind::Protocol, format!("{worker}: {why}"));
                        }
                        return Ended::Over;
                    }
                    if cx.aborted() {
                        return Ended::Over;
                    }
                }
                WorkerEvent::Finished => {
                    let held = self.slot.held();
                    if !held.is_empty() && !cx.aborted() {
                        cx.fail(
                            held.first().copied(),
                            FailureKind::Protocol,
                            format!(
                                "{worker} said goodbye while holding items {}",
                                list_seqs(&held)
                            ),
                        );
                    }
                    return Ended::Over;
                }
                WorkerEvent::Exited(cause) => {
                    if cx.aborted() {
                        return Ended::Over;
                    }
                    if restarts {
                        self.slot.mark_dead();
                        return Ended::Died(cause);
                    }
                    let held = self.slot.held();
                    cx.fail(
                        held.first().copied(),
                        FailureKind::WorkerDied,
                        format!("{worker} {cause} while holding items {}", list_seqs(&held)),
                    );
                    return Ended::Over;
                }
                WorkerEvent::Protocol(why) => {
                    if !cx.aborted() {
                        let held = self.slot.held();
                        cx.fail(
                            held.first().copied(),
                            FailureKind::Protocol,
                            format!("{worker}: {why}"),
                        );
                    }
                    return Ended::Over;
                }
                _ => {
                    self.slot.control().kill();
                    cx.fail(
                        None,
                        FailureKind::Protocol,
                        format!("{worker}: unknown event"),
                    );
                    return Ended::Over;
                }
            }
        }
    }

    /// Checks one answer against its batch, then emits it. `Err`: the worker broke the
    /// protocol (nothing of this answer was emitted).
    fn take(&mut self, cx: &mut WorkerCx, tx: &Tx<W>, part: Results) -> Result<(), Breach> {
        let n = part.outcomes.len();
        if let Err(e) = part.validate() {
            return Err(Breach(
                self.slot.current().map(|(seq, _)| seq),
                e.to_string(),
            ));
        }
        let asked: Vec<Sent> = {
            let mut f = self.slot.lock();
            f.progress = Instant::now();
            let Some(batch) = f.batches.front_mut() else {
                return Err(Breach(
                    None,
                    format!("answered batch {} that it does not hold", part.batch),
                ));
            };
            if part.batch != batch.id {
                return Err(Breach(
                    batch.items.get(batch.answered).map(|s| s.seq),
                    format!(
                        "answered batch {} while batch {} was due",
                        part.batch, batch.id
                    ),
                ));
            }
            let end = batch.answered + n;
            if part.first as usize != batch.answered || end > batch.items.len() {
                return Err(Breach(
                    batch.items.get(batch.answered).map(|s| s.seq),
                    format!(
                        "answered items {}..{} of batch {}, which has {} items, {} answered",
                        part.first,
                        part.first as usize + n,
                        batch.id,
                        batch.items.len(),
                        batch.answered
                    ),
                ));
            }
            // A part may answer the last items without ending the batch (an empty last part
            // follows); a last part must answer every item.
            if part.last && end != batch.items.len() {
                return Err(Breach(
                    batch.items.get(batch.answered).map(|s| s.seq),
                    format!(
                        "ended batch {} after {end} of its {} items",
                        batch.id,
                        batch.items.len()
                    ),
                ));
            }
            // Checked before anything is emitted: one output each for a map.
            if !self.stage.flat {
                for (outcome, sent) in part.outcomes.iter().zip(&batch.items[batch.answered..end]) {
                    if let Outcome::Done(count) = outcome {
                        if *count != 1 {
                            return Err(Breach(
                                Some(sent.seq),
                                format!("answered {count} outputs for one input of a map task"),
                            ));
                        }
                    }
                }
            }
            // The positions move to the emitted items; seqs stay for error reports.
            let asked: Vec<Sent> = batch.items[batch.answered..end]
                .iter_mut()
                .map(|s| Sent {
                    seq: s.seq,
                    tag: std::mem::replace(&mut s.tag, Tag::NONE),
                    payload: s.payload.take(),
                    crashes: s.crashes,
                    attempts: s.attempts,
                    done: s.done,
                    key: s.key,
                })
                .collect();
            batch.answered = end;
            batch.busy += Duration::from_nanos(part.busy_ns);
            batch.out_bytes += part.outputs.byte_len();
            // The worker is done with these: it may take more while they are emitted. The
            // collector holds at most this one part, which the bound counts separately.
            if part.last {
                f.open = f.open.saturating_sub(1);
            }
            self.slot.release(&mut f, n);
            asked
        };
        cx.local.busy += Duration::from_nanos(part.busy_ns);
        // One sample per part: the mean time of its items (the worker times the part).
        if !part.outcomes.is_empty() {
            cx.sample_task(part.busy_ns / part.outcomes.len() as u64);
        }
        cx.publish();

        let mut outputs = part.outputs.iter();
        for (outcome, mut sent) in part.outcomes.into_iter().zip(asked) {
            match outcome {
                Outcome::Done(count) => {
                    self.release_input(&mut sent);
                    let mine = (&mut outputs).take(count as usize);
                    let mine: Vec<ValueRef<'_>> = mine.collect();
                    if let (Some(key), Some(cache)) = (&sent.key, self.stage.cache.as_deref()) {
                        self.keep(cx, cache, key, &mine);
                    }
                    if !self.emit(cx, tx, sent, mine.into_iter()) {
                        return Ok(());
                    }
                }
                Outcome::Failed(failure) => {
                    let failure = StageFailure {
                        stage: cx.stats.name.clone(),
                        seq: Some(sent.seq),
                        kind: kind_of(&failure),
                        message: failure.message,
                        source: None,
                    };
                    if !self.failed(cx, tx, sent, failure) {
                        return Ok(());
                    }
                }
            }
        }
        // The part goes downstream now: this thread next blocks on the worker, and once the
        // batch is let go the feeder may send a control packet straight behind it.
        if !tx.flush() {
            return Ok(());
        }
        let mut f = self.slot.lock();
        if part.last {
            // Under the lock, so that a control packet the feeder routes now cannot pass
            // the ones queued behind this batch.
            let Some(mut batch) = f.batches.pop_front() else {
                return Ok(());
            };
            for control in batch.after.drain(..) {
                if !send(tx, cx, control) {
                    return Ok(());
                }
            }
            if !tx.flush() {
                return Ok(());
            }
            let items = batch.items.len();
            f.sizer.observe(items, batch.busy, batch.out_bytes);
        }
        Ok(())
    }

    /// Stores a missed item's outputs as the worker encoded them (read from the output ring
    /// before they are emitted, since emitting may hand the records on). An output that
    /// cannot be read is not stored: decoding it reports the fault.
    fn keep(
        &self,
        cx: &WorkerCx,
        cache: &dyn crate::coordinator::cached::StageCache<V>,
        key: &crate::coordinator::cached::ItemKey,
        outputs: &[ValueRef<'_>],
    ) {
        let mut guards = Vec::new();
        let mut bytes: Vec<&[u8]> = Vec::with_capacity(outputs.len());
        for v in outputs {
            if let ValueRef::Shm(h) = v {
                match self.output_ring.read(h) {
                    Ok(g) => guards.push(g),
                    Err(_) => return,
                }
            }
        }
        let mut shm = guards.iter();
        for v in outputs {
            match v {
                ValueRef::Inline(b) => bytes.push(b),
                ValueRef::Shm(_) => bytes.push(shm.next().expect("read above")),
            }
        }
        cache.keep(key, &bytes, &cx.stats);
    }

    /// An input kept for another attempt is done with: its ring record goes back.
    fn release_input(&self, sent: &mut Sent) {
        if let Some(p @ Payload::Shm(_)) = sent.payload.take() {
            let _ =
                skorche_worker::codec::release_payload(&p, std::slice::from_ref(self.input_ring));
        }
    }

    /// Carries out the stage's failure policy for a failed attempt. `false`: the stage
    /// failed or the run stops.
    fn failed(&self, cx: &mut WorkerCx, tx: &Tx<W>, mut sent: Sent, failure: StageFailure) -> bool {
        let Some(guard) = &self.stage.guard else {
            self.slot.control().kill();
            cx.fail(failure.seq, failure.kind, failure.message);
            return false;
        };
        match guard.decide(&failure, sent.attempts) {
            Decision::Retry { after } => {
                sent.attempts += 1;
                self.slot.retry_at(Instant::now() + after, sent);
                true
            }
            decision @ (Decision::Skip | Decision::DeadLetter) => {
                if decision == Decision::DeadLetter {
                    if let (Some(letter), Some(payload)) = (&self.stage.letter, &sent.payload) {
                        if let Err(e) =
                            letter(sent.seq, payload, self.input_ring, failure, sent.attempts)
                        {
                            self.slot.control().kill();
                            cx.fail(sent.seq.into(), FailureKind::Protocol, e);
                            return false;
                        }
                    }
                }
                self.release_input(&mut sent);
                match dropped(sent.tag) {
                    Some(p) => send(tx, cx, p),
                    None => true,
                }
            }
            Decision::Fail(f) => {
                self.slot.control().kill();
                cx.fail(f.seq, f.kind, f.message);
                false
            }
            Decision::Stop => {
                self.slot.control().kill();
                false
            }
        }
    }

    /// Decodes one input's outputs; `None` when the stage failed.
    /// Decodes one input's outputs and puts them downstream; `false`: stop.
    fn emit<'v>(
        &self,
        cx: &mut WorkerCx,
        tx: &Tx<W>,
        sent: Sent,
        outputs: impl Iterator<Item = ValueRef<'v>>,
    ) -> bool {
        let mut decoded = outputs.map(|v| self.decode(cx, sent.seq, v));
        if !self.stage.flat {
            // A map's one output (checked) goes on without a vector of its own.
            let Some(Some(value)) = decoded.next() else {
                return false;
            };
            return send(
                tx,
                cx,
                Packet::Item {
                    seq: sent.seq,
                    tag: sent.tag,
                    value,
                },
            );
        }
        let Some(values) = decoded.collect::<Option<Vec<W>>>() else {
            return false;
        };
        emit(tx, cx, sent.seq, sent.tag, values, true)
    }

    /// Decodes one output; `None` when it is bad (the stage has failed).
    fn decode(&self, cx: &mut WorkerCx, seq: u64, value: ValueRef<'_>) -> Option<W> {
        match value {
            ValueRef::Shm(_) => cx.local.via_shm += 1,
            ValueRef::Inline(_) => cx.local.inline += 1,
        }
        match catch(|| (self.stage.decode)(value, self.output_ring)) {
            Ok(Ok(v)) => {
                if self.stage.forwarding {
                    cx.stats
                        .forwarded
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Some(v)
            }
            Ok(Err(e)) => {
                self.slot.control().kill();
                cx.fail(
                    Some(seq),
                    FailureKind::Protocol,
                    format!("bad output from {}: {e}", self.slot.control().id()),
                );
                None
            }
            Err(panic) => {
                self.slot.control().kill();
                cx.fail(
                    Some(seq),
                    FailureKind::Panic,
                    format!("decoding an output panicked (its Deserialize impl): {panic}"),
                );
                None
            }
        }
    }
}
