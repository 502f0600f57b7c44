//! One connection to a NATS server, with the small runtime that drives it.
//!
//! The client is async (tokio); skorche's stages are threads. The connection owns a
//! multi-thread runtime with one worker thread (the client's I/O runs there) and callers
//! block on its handle from their own threads, so users of skorche write no async code and
//! a slow stage never stalls the client's I/O.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, context::Context};
use async_nats::HeaderMap;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::error::NatsError;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected client, its JetStream context, and the runtime they run on.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) url: String,
    pub(crate) client: async_nats::Client,
    pub(crate) js: Context,
    runtime: tokio::runtime::Runtime,
}

impl Connection {
    pub(crate) fn connect(url: &str) -> Result<Self, NatsError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("skorche-nats")
            .enable_all()
            .build()
            .map_err(NatsError::Runtime)?;
        let connect = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .name("skorche")
            .connect(url);
        let client = runtime.block_on(connect).map_err(|e| NatsError::Connect {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
        // The context spawns its acknowledgement task: it must be made inside the runtime.
        let js = {
            let _inside = runtime.enter();
            jetstream::new(client.clone())
        };
        Ok(Connection {
            url: url.to_string(),
            client,
            js,
            runtime,
        })
    }

    /// Runs `f` to completion on the calling thread (which must not be one of the
    /// runtime's).
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// As [`Connection::block_on`], giving up after `limit` (`None`).
    pub(crate) fn block_on_for<F: Future>(&self, limit: Duration, f: F) -> Option<F::Output> {
        // The timer must be made inside the runtime.
        self.runtime
            .block_on(async { tokio::time::timeout(limit, f).await.ok() })
    }

    /// Runs `f` in the background.
    pub(crate) fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(f)
    }

    /// Publishes to a JetStream subject with a message id (the stream drops a second
    /// message with the same id: a redelivered batch's results are stored once) and waits
    /// for the server's acknowledgement. A full stream (bounded, discard-new) is backpressure:
    /// it waits and publishes again, for as long as `keep_going` says so.
    pub(crate) fn publish(
        &self,
        subject: &str,
        id: &str,
        payload: Vec<u8>,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<(), NatsError> {
        let payload = Bytes::from(payload);
        let mut wait = Duration::from_millis(1);
        loop {
            let mut headers = HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
            let sent = self.block_on(async {
                let ack = self
                    .js
                    .publish_with_headers(subject.to_string(), headers, payload.clone())
                    .await?;
                ack.await
            });
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if is_full(&e.to_string()) && keep_going() => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(NatsError::js(format!("publish to {subject}"), e)),
            }
        }
    }

    /// Stores `data` as object `name` of `bucket`.
    pub(crate) fn put_object(
        &self,
        bucket: &str,
        name: &str,
        data: &[u8],
    ) -> Result<(), NatsError> {
        self.block_on(async {
            let store = self.js.get_object_store(bucket).await?;
            let mut reader = data;
            store.put(name, &mut reader).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .map_err(|e| NatsError::js(format!("store object {name} in {bucket}"), e))
    }

    /// Reads object `name` of `bucket`, checking it has `len` bytes (the store itself checks
    /// its digest).
    pub(crate) fn get_object(
        &self,
        bucket: &str,
        name: &str,
        len: u64,
    ) -> Result<Vec<u8>, NatsError> {
        let data = self
            .block_on(async {
                let store = self.js.get_object_store(bucket).await?;
                let mut object = store.get(name).await?;
                let mut data = Vec::with_capacity(len as usize);
                object.read_to_end(&mut data).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(data)
            })
            .map_err(|e| NatsError::js(format!("read object {name} of {bucket}"), e))?;
        if data.len() as u64 != len {
            return Err(NatsError::Malformed {
                what: "object",
                detail: format!("object {name} has {} bytes, expected {len}", data.len()),
            });
        }
        Ok(data)
    }

    /// Deletes objects in the background (they are only garbage once read).
    pub(crate) fn delete_objects(&self, bucket: &str, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let js = self.js.clone();
        let bucket = bucket.to_string();
        self.spawn(async move {
            if let Ok(store) = js.get_object_store(&bucket).await {
                for name in names {
                    let _ = store.delete(&name).await;
                }
            }
        });
    }
}

/// Whether a publish error says the stream is full (its discard-new limit).
fn is_full(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("maximum messages") || e.contains("maximum bytes") || e.contains("resource limits")
}
