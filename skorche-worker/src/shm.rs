//! The one place this crate names `skorche-shm` types.
pub(crate) use skorche_shm::{
    Handle, HandleError, OpenError, Reservation, ReserveError, Ring, RingDescriptor, RingId,
    ShmBytes, ShmSlice, SliceError,
};
