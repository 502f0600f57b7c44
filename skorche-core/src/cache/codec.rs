//! The store's format: how inputs are encoded for their keys, and outputs for the store.
//!
//! It is postcard 1, the format of skorche-worker's codec (`skorche_worker::codec::encode`
//! writes the same bytes; a test checks it), called here directly so that a thread-only
//! build (without the `process` feature) caches without linking the worker runtime.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a value did not encode or decode.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    /// serde or postcard refused the value or the bytes.
    #[error("{0}")]
    Postcard(#[from] postcard::Error),
    /// The bytes held a value and more: not what was stored.
    #[error("{0} bytes left over after the value")]
    TrailingBytes(usize),
}

/// Encodes a value in the store's format.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(postcard::to_stdvec(value)?)
}

/// Decodes a value written by [`encode`]; every byte must be consumed.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_it_encodes_and_refuses_extra_bytes() {
        let value = (7u64, "seven".to_string(), vec![1u8, 2, 3]);
        let bytes = encode(&value).unwrap();
        assert_eq!(decode::<(u64, String, Vec<u8>)>(&bytes).unwrap(), value);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode::<(u64, String, Vec<u8>)>(&longer),
            Err(CodecError::TrailingBytes(1))
        ));
    }

    /// Keys of cached task stages are the same whether the worker codec or this one
    /// encodes an input: both are postcard.
    #[cfg(feature = "process")]
    #[test]
    fn writes_the_bytes_of_the_worker_codec() {
        let value = (
            u64::MAX,
            -3i32,
            "text".to_string(),
            vec![vec![0u8; 300]],
            Some(1.5f64),
        );
        let ours = encode(&value).unwrap();
        assert_eq!(ours, skorche_worker::codec::encode(&value).unwrap());
        let outputs: Vec<&[u8]> = vec![b"a", &[0u8; 200]];
        assert_eq!(
            encode(&outputs).unwrap(),
            skorche_worker::codec::encode(&outputs).unwrap()
        );
    }
}
