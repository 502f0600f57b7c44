//! Operating-system backings: anonymous sealed memfd (default) and named POSIX shm.
//!
//! All calls go through `nix` 0.30 (the workspace's version); see the crate docs for why the
//! `shared_memory` crate is not used.
//!
//! # Platforms
//! This is the crate's one platform file: every system call of the rings is here, and
//! [`DEFAULT_BACKING`] is the backing [`Ring::create`](crate::Ring::create) uses. Only Linux
//! is supported (memfd, its seals and `/proc/<pid>/fd`). A port adds its backing here: on
//! macOS or the BSDs, a named segment (`shm_open`, as [`create_named`] already does) as the
//! default, unlinked once its peers have opened it. Until then other platforms stop at the
//! `compile_error!` below; skorche itself builds there without its `process` feature.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "skorche-shm supports Linux only (anonymous memfd rings): add a backing for this platform \
     in skorche-shm/src/os.rs, or build skorche without its `process` feature (threads only)"
);

use std::fs::{File, OpenOptions, Permissions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;

use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::Mode;
use nix::unistd::ftruncate;

use crate::error::{CreateError, OpenError};
use crate::ring::Backing;

/// The backing of [`Ring::create`](crate::Ring::create) on this platform.
pub(crate) const DEFAULT_BACKING: Backing = Backing::Memfd;

fn os(op: &'static str) -> impl FnOnce(nix::Error) -> CreateError {
    move |e| CreateError::Os {
        op,
        source: e.into(),
    }
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> CreateError {
    move |source| CreateError::Os { op, source }
}

/// Sets the size and owner-only permissions of a fresh segment file.
fn size_and_protect(fd: OwnedFd, len: usize) -> Result<File, CreateError> {
    let len = i64::try_from(len).map_err(|_| CreateError::Os {
        op: "ftruncate",
        source: std::io::Error::other("segment size exceeds i64"),
    })?;
    ftruncate(&fd, len).map_err(os("ftruncate"))?;
    let file = File::from(fd);
    file.set_permissions(Permissions::from_mode(0o600))
        .map_err(io("fchmod"))?;
    Ok(file)
}

/// Creates an anonymous memfd of `len` bytes, mode 0600, sealed against shrinking and growing.
pub(crate) fn create_memfd(len: usize) -> Result<File, CreateError> {
    let fd = memfd_create(
        c"skorche-ring",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(os("memfd_create"))?;
    let file = size_and_protect(fd, len)?;
    fcntl(
        &file,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
        ),
    )
    .map_err(os("fcntl(F_ADD_SEALS)"))?;
    Ok(file)
}

/// Creates a new named POSIX segment (`O_CREAT | O_EXCL`, mode 0600) of `len` bytes.
pub(crate) fn create_named(name: &str, len: usize) -> Result<File, CreateError> {
    let fd = shm_open(
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .map_err(os("shm_open"))?;
    match size_and_protect(fd, len) {
        Ok(file) => Ok(file),
        Err(e) => {
            let _ = shm_unlink(name);
            Err(e)
        }
    }
}

/// Path under which a peer opens a memfd held by process `pid` as descriptor `fd`.
pub(crate) fn proc_fd_path(pid: u32, fd: i32) -> String {
    format!("/proc/{pid}/fd/{fd}")
}

/// Opens the memfd that process `pid` holds as `fd`, and checks it is sealed against shrinking.
pub(crate) fn open_memfd(pid: u32, fd: i32) -> Result<(File, String), OpenError> {
    let path = proc_fd_path(pid, fd);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| OpenError::Os {
            op: "open",
            path: path.clone(),
            source,
        })?;
    let seals = fcntl(&file, FcntlArg::F_GET_SEALS).map_err(|e| OpenError::Os {
        op: "fcntl(F_GET_SEALS)",
        path: path.clone(),
        source: e.into(),
    })?;
    if SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK) {
        Ok((file, path))
    } else {
        Err(OpenError::NotSealed { path })
    }
}

/// Opens the memfd this process inherited as `fd`, checks its seals, and closes the inherited
/// descriptor (the returned file is a fresh open of the same memory).
pub(crate) fn open_inherited(fd: i32) -> Result<(File, String), OpenError> {
    let (file, path) = open_memfd(std::process::id(), fd)?;
    // The reopened file keeps the memory; the inherited number is no longer needed.
    let _ = nix::unistd::close(fd);
    Ok((file, path))
}

/// Opens an existing named POSIX segment read-write.
pub(crate) fn open_named(name: &str) -> Result<File, OpenError> {
    let fd = shm_open(name, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
        OpenError::Os {
            op: "shm_open",
            path: name.to_owned(),
            source: e.into(),
        }
    })?;
    Ok(File::from(fd))
}

/// Removes a named segment's name; mappings stay valid.
pub(crate) fn unlink_named(name: &str) -> std::io::Result<()> {
    shm_unlink(name).map_err(Into::into)
}

/// The raw descriptor number of a file (for the memfd descriptor).
pub(crate) fn raw_fd(file: &File) -> i32 {
    file.as_raw_fd()
}
