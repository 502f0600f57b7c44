//! The driver's results router: one thread per run reads the results stream and hands
//! each worker's answer (its large outputs fetched from the object store) to the link that
//! sent the batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, Consumer};
use crossbeam_channel::Sender;
use futures_util::StreamExt;
use skorche_worker::protocol::Results;

use crate::connection::Connection;
use crate::objects;
use crate::wire::{self, WireResults};

/// What the router hands a link.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    Results(Results),
    /// A results message that is not the protocol.
    Protocol(String),
    /// Something changed (killed, ended): look again.
    Wake,
}

/// Where the router hands each link its events, by link id.
pub(crate) type Routes = Arc<Mutex<HashMap<u32, Sender<LinkEvent>>>>;

/// Starts the thread that reads the run's results stream and hands each answer to its link.
pub(crate) fn start(
    conn: Arc<Connection>,
    results: Consumer<pull::Config>,
    links: Routes,
    closing: Arc<AtomicBool>,
    (objects_bucket, stage): (String, String),
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("skorche-nats-results-{stage}"))
        .spawn(move || {
            let mut messages = match conn.block_on(results.messages()) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(stage, "cannot read the results stream: {e}");
                    return;
                }
            };
            while !closing.load(Ordering::Acquire) {
                let next = conn.block_on_for(Duration::from_millis(200), messages.next());
                let msg = match next {
                    None => continue,
                    Some(None) => break,
                    Some(Some(Err(e))) => {
                        tracing::debug!(stage, "results stream: {e}");
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    Some(Some(Ok(msg))) => msg,
                };
                let (link, event) = match wire::decode::<WireResults>("results", &msg.payload) {
                    Ok(r) => {
                        let link = r.link;
                        (Some(link), to_event(&conn, &objects_bucket, r))
                    }
                    Err(e) => (None, LinkEvent::Protocol(e.to_string())),
                };
                let targets: Vec<Sender<LinkEvent>> = {
                    let links = links.lock().unwrap_or_else(|e| e.into_inner());
                    match link {
                        Some(l) => links.get(&l).cloned().into_iter().collect(),
                        None => links.values().cloned().collect(),
                    }
                };
                if let Some(tx) = targets.first() {
                    // Blocks while the link's receiver is behind: backpressure on results.
                    let _ = tx.send(event);
                }
                let _ = conn.block_on(msg.ack());
            }
        })
        .expect("a thread for the results router")
}

/// Reads a worker's answer (fetching its large outputs) into the protocol's `Results`.
fn to_event(conn: &Connection, bucket: &str, r: WireResults) -> LinkEvent {
    match objects::from_wire(conn, bucket, r.outputs) {
        Ok((outputs, names)) => {
            conn.delete_objects(bucket, names);
            let results = Results {
                batch: r.batch,
                first: 0,
                outcomes: r.outcomes,
                outputs,
                last: true,
                busy_ns: r.busy_ns,
            };
            match results.validate() {
                Ok(()) => LinkEvent::Results(results),
                Err(e) => LinkEvent::Protocol(format!("worker {}: {e}", r.worker)),
            }
        }
        Err(e) => LinkEvent::Protocol(format!(
            "results of batch {} from {}: {e}",
            r.batch, r.worker
        )),
    }
}
