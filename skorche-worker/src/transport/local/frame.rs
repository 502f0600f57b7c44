//! Length-checked frames over a byte stream: `[u64 little-endian length][message]`.
//!
//! A peer controls the length it announces, so a reader never allocates for it up front: the
//! body grows with the bytes that actually arrive (at most [`GROW`] beyond them), a length
//! above the reader's limit is refused before any allocation, and a stream that ends inside
//! a frame is a [`FrameError::Truncated`], never a hang or a short message.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest frame either side accepts: 4 GiB. Values larger than a ring travel inline, so a
/// frame may be large; beyond this a value must go through a ring.
pub const MAX_FRAME: u64 = 4 << 30;

/// Most bytes a reader allocates ahead of what it has received.
const GROW: usize = 16 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The stream ended between frames.
    #[error("the peer closed the connection")]
    Closed,
    /// The stream ended inside a frame.
    #[error("truncated frame: {got} of {want} bytes before the connection closed")]
    Truncated {
        /// Bytes of the frame (header included) received.
        got: u64,
        /// Bytes the frame announced (header included).
        want: u64,
    },
    /// The announced length exceeds the limit.
    #[error("frame announces {len} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Announced body length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// The body is not a message of the expected type.
    #[error("undecodable message: {0}")]
    Decode(String),
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

/// Writes one message as a frame (one `write_all` of header and body).
///
/// # Errors
/// When the message cannot be encoded or the stream fails.
pub fn write<W: Write, M: Serialize>(w: &mut W, msg: &M) -> io::Result<()> {
    write_with(w, msg, &mut Vec::new())
}

/// As [`write`], building the frame in `scratch` (cleared first), so a sender that keeps
/// one buffer allocates nothing per message once it has grown.
///
/// # Errors
/// When the message cannot be encoded or the stream fails.
pub fn write_with<W: Write, M: Serialize>(
    w: &mut W,
    msg: &M,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    scratch.extend_from_slice(&[0u8; 8]);
    crate::codec::encode_into(msg, scratch).map_err(io::Error::other)?;
    let len = (scratch.len() - 8) as u64;
    scratch[..8].copy_from_slice(&len.to_le_bytes());
    w.write_all(scratch)?;
    w.flush()?;
    // A huge inline value must not stay allocated for the rest of the run.
    if scratch.capacity() > KEEP_SCRATCH {
        *scratch = Vec::new();
    }
    Ok(())
}

/// Largest frame buffer a sender keeps between messages.
const KEEP_SCRATCH: usize = 4 << 20;

/// Reads one frame's body, refusing bodies longer than `limit`.
///
/// # Errors
/// See [`FrameError`].
pub fn read_body<R: Read>(r: &mut R, limit: u64) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 8];
    let got = read_full(r, &mut header)?;
    if got == 0 {
        return Err(FrameError::Closed);
    }
    if got < 8 {
        return Err(FrameError::Truncated {
            got: got as u64,
            want: 8,
        });
    }
    let len = u64::from_le_bytes(header);
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    let len = usize::try_from(len).map_err(|_| FrameError::TooLarge { len, limit })?;
    let mut body = Vec::with_capacity(len.min(GROW));
    while body.len() < len {
        let start = body.len();
        let step = (len - start).min(GROW);
        body.resize(start + step, 0);
        let n = read_full(r, &mut body[start..])?;
        if n < step {
            return Err(FrameError::Truncated {
                got: (8 + start + n) as u64,
                want: 8 + len as u64,
            });
        }
    }
    Ok(body)
}

/// Reads one frame and decodes it as an `M`.
///
/// # Errors
/// See [`FrameError`].
pub fn read<R: Read, M: DeserializeOwned>(r: &mut R, limit: u64) -> Result<M, FrameError> {
    let body = read_body(r, limit)?;
    crate::codec::decode(&body).map_err(|e| FrameError::Decode(e.to_string()))
}

/// Fills `buf` unless the stream ends first; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        write(&mut buf, &(7u64, "seven".to_string())).unwrap();
        let back: (u64, String) = read(&mut buf.as_slice(), MAX_FRAME).unwrap();
        assert_eq!(back, (7, "seven".to_string()));
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let mut buf = (1u64 << 40).to_le_bytes().to_vec();
        buf.extend_from_slice(b"abc");
        let e = read_body(&mut buf.as_slice(), MAX_FRAME).unwrap_err();
        assert!(
            matches!(e, FrameError::TooLarge { len, .. } if len == 1 << 40),
            "{e}"
        );
    }

    #[test]
    fn truncated_header_and_body() {
        let e = read_body(&mut [1u8, 2, 3].as_slice(), MAX_FRAME).unwrap_err();
        assert!(
            matches!(e, FrameError::Truncated { got: 3, want: 8 }),
            "{e}"
        );
        let mut buf = 100u64.to_le_bytes().to_vec();
        buf.extend_from_slice(&[0; 10]);
        let e = read_body(&mut buf.as_slice(), MAX_FRAME).unwrap_err();
        assert!(
            matches!(e, FrameError::Truncated { got: 18, want: 108 }),
            "{e}"
        );
        let e = read_body(&mut [].as_slice(), MAX_FRAME).unwrap_err();
        assert!(matches!(e, FrameError::Closed), "{e}");
    }

    #[test]
    fn a_large_announced_length_with_little_data_allocates_little() {
        // 3 GiB announced, 1 KiB sent: the reader must fail with Truncated, having grown its
        // buffer by at most GROW, not by 3 GiB.
        let mut buf = (3u64 << 30).to_le_bytes().to_vec();
        buf.extend_from_slice(&[0; 1024]);
        let e = read_body(&mut buf.as_slice(), MAX_FRAME).unwrap_err();
        assert!(matches!(e, FrameError::Truncated { .. }), "{e}");
    }
}
