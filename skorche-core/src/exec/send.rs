//! Putting a packet on a stage's output queue, counting items.

use crate::exec::worker_cx::WorkerCx;
use crate::hop::Tx;
use crate::packet::Packet;

/// Sends a packet downstream; `false` means the run is over for this worker.
#[inline]
pub(crate) fn send<T: Send + 'static>(tx: &Tx<T>, cx: &mut WorkerCx, packet: Packet<T>) -> bool {
    let is_item = matches!(packet, Packet::Item { .. });
    if !tx.send(packet) {
        return false;
    }
    cx.local.items_out += u64::from(is_item);
    // Readers see the counts move even in stages that time no task call.
    if cx.local.items_out % 64 == 0 {
        cx.publish();
    }
    true
}
