//! Emitting a task's outputs (threads and processes alike).

use crate::exec::send::send;
use crate::exec::worker_cx::WorkerCx;
use crate::hop::Tx;
use crate::order::Tag;
use crate::packet::Packet;

/// Sends the outputs of one input: a map task's one output keeps the input's position; a
/// flat-map task's outputs take child positions, and none leaves the position empty.
pub(crate) fn emit<U: Send + 'static>(
    tx: &Tx<U>,
    cx: &mut WorkerCx,
    seq: u64,
    tag: Tag,
    outputs: Vec<U>,
    flat: bool,
) -> bool {
    if !flat || !tag.is_ordered() {
        return outputs.into_iter().all(|value| {
            send(
                tx,
                cx,
                Packet::Item {
                    seq,
                    tag: tag.clone(),
                    value,
                },
            )
        });
    }
    let n = outputs.len() as u64;
    if n == 0 {
        return send(tx, cx, Packet::Skip(tag));
    }
    outputs.into_iter().enumerate().all(|(i, value)| {
        let child = tag.child(i as u64, i as u64 + 1 == n);
        send(
            tx,
            cx,
            Packet::Item {
                seq,
                tag: child,
                value,
            },
        )
    })
}

/// The kind of stage failure a registered task's failure is.
#[cfg(feature = "process")]
pub(crate) fn kind_of(f: &skorche_worker::protocol::TaskFailure) -> crate::FailureKind {
    use skorche_worker::protocol::FailureKind as WireKind;
    match f.kind {
        WireKind::Panic => crate::FailureKind::Panic,
        WireKind::Codec => crate::FailureKind::Protocol,
        _ => crate::FailureKind::Task,
    }
}
