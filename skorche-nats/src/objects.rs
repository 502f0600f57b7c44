//! Large values through the run's object store: only a reference crosses the stream.
//!
//! A NATS message is bounded (1 MiB by default); a batch of values is one message. A value
//! at or above the inline limit, or one that would take the message past [`MESSAGE_BUDGET`],
//! is stored as an object named after its batch and place, and the message carries the name.
//! Names are stable, so a batch that is redelivered overwrites its own objects.

use skorche_worker::values::Values;

use crate::connection::Connection;
use crate::error::NatsError;
use crate::wire::WireValue;

/// Inline bytes one message may carry (below the server's default 1 MiB `max_payload`,
/// leaving room for the envelope).
pub(crate) const MESSAGE_BUDGET: usize = 768 * 1024;

/// Puts `values` on the wire; the ones stored as objects are named `<prefix>.<index>`.
/// Returns the wire values and the names of the objects written.
pub(crate) fn to_wire<'a>(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    values: impl Iterator<Item = &'a [u8]>,
    inline_limit: usize,
) -> Result<(Vec<WireValue>, Vec<String>), NatsError> {
    let mut wire = Vec::new();
    let mut names = Vec::new();
    let mut inline = 0usize;
    for (i, bytes) in values.enumerate() {
        if bytes.len() < inline_limit && inline + bytes.len() <= MESSAGE_BUDGET {
            inline += bytes.len();
            wire.push(WireValue::Inline(bytes.to_vec()));
        } else {
            let name = format!("{prefix}.{i}");
            conn.put_object(bucket, &name, bytes)?;
            wire.push(WireValue::Object {
                name: name.clone(),
                len: bytes.len() as u64,
            });
            names.push(name);
        }
    }
    Ok((wire, names))
}

/// Reads wire values back into a batch of inline values; returns the names of the objects
/// read (for the reader to delete once they are no longer needed).
pub(crate) fn from_wire(
    conn: &Connection,
    bucket: &str,
    wire: Vec<WireValue>,
) -> Result<(Values, Vec<String>), NatsError> {
    let mut values = Values::with_capacity(wire.len());
    let mut names = Vec::new();
    for value in wire {
        match value {
            WireValue::Inline(bytes) => values.push_bytes(&bytes),
            WireValue::Object { name, len } => {
                let bytes = conn.get_object(bucket, &name, len)?;
                values.push_bytes(&bytes);
                names.push(name);
            }
        }
    }
    Ok((values, names))
}
