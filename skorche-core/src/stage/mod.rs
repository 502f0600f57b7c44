//! One runner per operation. Each file holds the runner of one operation and its worker
//! loop; all of them pass control packets (skips, markers) through untouched.

pub(crate) mod batch;
pub(crate) mod filter;
pub(crate) mod flat_map;
pub(crate) mod map;
pub(crate) mod marker;
pub(crate) mod order;
pub(crate) mod source;
pub(crate) mod split;
pub(crate) mod task;
pub(crate) mod zip;

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
