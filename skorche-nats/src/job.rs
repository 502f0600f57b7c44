//! A job: the name under which drivers publish runs and workers look for them.

use std::time::Duration;

use async_nats::jetstream::stream;

use crate::connection::Connection;
use crate::error::NatsError;

pub(crate) fn check_job(job: &str) -> Result<(), NatsError> {
    if job.is_empty()
        || !job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NatsError::Usage(format!(
            "job name {job:?}: use letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// The name of a job's manifest stream.
pub(crate) fn job_stream_name(job: &str) -> String {
    format!("SKJ_{job}")
}

/// The subject of a run's manifest.
pub(crate) fn manifest_subject(job: &str, run: &str) -> String {
    format!("skj.{job}.run.{run}")
}

/// The job's manifest stream (one message per live run, the last per subject kept), created
/// if it does not exist. A plain stream rather than a key-value bucket: the client's bucket
/// API asks for account fields that servers before 2.10 do not send.
pub(crate) async fn job_stream(conn: &Connection, job: &str) -> Result<stream::Stream, String> {
    let name = job_stream_name(job);
    conn.js
        .get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("skj.{job}.run.*")],
            max_messages_per_subject: 1,
            storage: stream::StorageType::File,
            // A driver killed before it removed its manifest leaves it for a day at most
            // (workers find such a run's streams gone and leave it at once).
            max_age: Duration::from_secs(24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("open stream {name}: {e}"))
}
