//! Cache keys: blake3 digests of a stage's identity and of the value it is given.
//!
//! A key is content-addressed at each cached stage: `key = H(stage identity, H(encoded
//! input))`. The input is whatever reached the stage, so a change anywhere upstream (a
//! changed source item, a new version of a cached stage, an edited uncached closure) changes
//! the key exactly where it changed the value, and an upstream change that leaves the value
//! as it was costs nothing below it ("early cutoff").

use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;

/// The format of keys and stored values: bumped when either changes, so an old store's
/// entries are never read as new ones (they age out by eviction).
const FORMAT: &str = "skorche cache 1";

/// A blake3 digest naming one cached result (or one stored value).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub(crate) [u8; 32]);

impl Key {
    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest of `bytes` (plain blake3).
    pub(crate) fn digest(bytes: &[u8]) -> Key {
        Key(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex, as object files are named.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &self.to_hex()[..16])
    }
}

/// What names a cached stage: the contract between two runs that their results agree.
///
/// Rust cannot hash a closure's code (nor the functions it calls), so the **version** is the
/// contract: bump it whenever the stage's code changes what it returns. Strict mode adds a
/// digest of the running executable, so any rebuild invalidates the stage's entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub(crate) version: String,
    /// Each declared parameter: its name and encoded value, in declaration order.
    pub(crate) params: Vec<(String, Vec<u8>)>,
    pub(crate) strict: bool,
}

impl Identity {
    /// The digest of this identity for the stage named `name` of operation `kind`.
    pub(crate) fn key(&self, kind: &str, name: &str) -> Key {
        let mut h = blake3::Hasher::new_derive_key(FORMAT);
        for part in [kind.as_bytes(), name.as_bytes(), self.version.as_bytes()] {
            field(&mut h, part);
        }
        for (name, value) in &self.params {
            field(&mut h, name.as_bytes());
            field(&mut h, value);
        }
        if self.strict {
            field(&mut h, b"strict");
            field(&mut h, &executable_digest().0);
        }
        Key(*h.finalize().as_bytes())
    }
}

/// The key of one input of a stage whose identity digest is `stage`.
pub(crate) fn item_key(stage: &Key, encoded_input: &[u8]) -> Key {
    let mut h = blake3::Hasher::new_keyed(&stage.0);
    h.update(encoded_input);
    Key(*h.finalize().as_bytes())
}

/// Length-prefixed, so that `("ab", "c")` and `("a", "bc")` differ.
fn field(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The blake3 digest of the running executable (strict mode), computed once per process.
/// An executable that cannot be read gives a digest of its path's error message, which
/// still differs from every real build's.
pub(crate) fn executable_digest() -> Key {
    static DIGEST: OnceLock<Key> = OnceLock::new();
    *DIGEST.get_or_init(|| {
        let bytes = std::env::current_exe()
            .and_then(std::fs::read)
            .unwrap_or_else(|e| format!("unreadable executable: {e}").into_bytes());
        Key::digest(&bytes)
    })
}

/// Encodes a parameter with the codec the store uses.
pub(crate) fn encode_param<P: Serialize + ?Sized>(value: &P) -> Vec<u8> {
    crate::cache::encode(value).expect("a parameter value encodes")
}
