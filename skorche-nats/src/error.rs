//! What can go wrong talking to NATS, for the driver and for a remote worker.

/// An error of the NATS transport or of a remote worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The server could not be reached.
    #[error("cannot connect to NATS at {url}: {detail}")]
    Connect {
        /// The server's address.
        url: String,
        /// The client's error.
        detail: String,
    },
    /// A JetStream request failed (creating a stream, publishing, fetching, ...).
    #[error("NATS JetStream: {what}: {detail}")]
    JetStream {
        /// What was being done.
        what: String,
        /// The client's error.
        detail: String,
    },
    /// A message on the wire could not be decoded (another version of skorche, or not ours).
    #[error("malformed {what} message: {detail}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// This worker refused to serve a run: its task registry differs from the driver's.
    #[error("refused run {run} of stage {stage:?}: {reason}")]
    Refused {
        /// The run's id.
        run: String,
        /// The stage.
        stage: String,
        /// The difference, naming the tasks.
        reason: String,
    },
    /// The worker's command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The runtime could not start (no threads).
    #[error("cannot start the NATS client runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl NatsError {
    pub(crate) fn js(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        NatsError::JetStream {
            what: what.into(),
            detail: e.to_string(),
        }
    }
}
