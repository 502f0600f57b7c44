//! Putting a packet on a stage's output queue, counting items.

use crossbeam_channel::Sender;

use crate::exec::worker_cx::WorkerCx;
use crate::packet::Packet;

/// Sends a packet downstream; `false` means the run is over for this worker.
#[inline]
pub(crate) fn send<T>(tx: &Sender<Packet<T>>, cx: &mut WorkerCx, packet: Packet<T>) -> bool {
    let is_item = matches!(packet, Packet::Item { .. });
    if tx.send(packet).is_err() {
        return false;
    }
    cx.local.items_out += u64::from(is_item);
    true
}
