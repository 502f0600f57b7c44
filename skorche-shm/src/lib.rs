//! A bounded, crash-safe, zero-copy byte ring between processes.
#![warn(missing_docs)]

mod error;
mod layout;
#[cfg(not(loom))]
mod os;
mod ring;
mod segment;
mod sync;

pub use error::{CreateError, HandleError, OpenError, ReserveError};
pub use layout::RECORD_ALIGN;
pub use ring::{
    Backing, BackingDescriptor, Handle, ReadGuard, Reservation, Ring, RingDescriptor, RingId,
};
