//! Spawning a worker child with its socket and ring descriptors inherited at known numbers.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;

use super::child::ChildSlot;
use super::spawner::Spawner;
use crate::error::SpawnError;
use crate::exit::exit_code;
use crate::transport::WorkerSpec;
use crate::worker::{ENV_FD, ENV_PARENT, ENV_STAGE, ENV_TASK};

/// A started child, before its handshake.
pub(super) struct Started {
    pub(super) slot: ChildSlot,
    /// Our end of the socket pair.
    pub(super) stream: UnixStream,
    /// The descriptor number of each of `spec.rings` in the child.
    pub(super) ring_fds: Vec<RawFd>,
}

pub(super) fn start(
    program: &Path,
    args: &[std::ffi::OsString],
    spec: &WorkerSpec,
    spawner: Arc<Spawner>,
) -> Result<Started, SpawnError> {
    let setup = |source: std::io::Error| SpawnError::Setup {
        stage: spec.stage.clone(),
        source,
    };
    let (ours, theirs) = UnixStream::pair().map_err(setup)?;
    let mut passed: Vec<OwnedFd> = vec![OwnedFd::from(theirs)];
    for ring in &spec.rings {
        match ring.dup_fd() {
            Some(fd) => passed.push(fd.map_err(setup)?),
            None => {
                return Err(setup(std::io::Error::other(format!(
                    "ring {} has no descriptor to share (a heap ring, or its descriptor was \
                     already closed)",
                    ring.id()
                ))))
            }
        }
    }
    // Each descriptor reaches the child at the number it has here: it stays open in this
    // process until the spawn is over, so nothing the spawn itself opens (the /dev/null of
    // stdin, the pipe that reports a failed exec) can take its number, and the child only has
    // to clear its close-on-exec flag. (Moving descriptors to fixed numbers with dup2 could
    // land on that pipe: a failed exec then reported garbage on the worker's socket instead
    // of an error.) Numbers 0-2 are the child's stdio: a descriptor there moves up first.
    for fd in &mut passed {
        if fd.as_raw_fd() <= 2 {
            // std duplicates with F_DUPFD_CLOEXEC from 3 up.
            *fd = fd.try_clone().map_err(setup)?;
        }
    }
    let numbers: Vec<RawFd> = passed.iter().map(|f| f.as_raw_fd()).collect();
    let mut command = Command::new(program);
    command
        .args(args)
        .env(ENV_FD, numbers[0].to_string())
        .env(ENV_TASK, &spec.task.name)
        .env(ENV_STAGE, &spec.stage)
        .env(ENV_PARENT, std::process::id().to_string())
        .stdin(Stdio::null())
        .process_group(0);
    let plan = numbers.clone();
    let strays = stray_ranges(&numbers);
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it makes plain fcntl and close_range system calls,
    // on descriptor numbers computed in the parent, and allocates nothing. Clearing
    // close-on-exec in the child's descriptor table (the parent's flags are its own) is how
    // these descriptors reach the worker; marking every other descriptor above stdio
    // close-on-exec is how nothing else does (descriptors this process inherited without the
    // flag, say a pipe of whoever started the driver, would otherwise leak into every worker).
    unsafe {
        command.pre_exec(move || {
            #[cfg(target_os = "linux")]
            for &(first, last) in &strays {
                // Best effort: a kernel without close_range (before 5.11) leaves them as they are.
                libc::syscall(
                    libc::SYS_close_range,
                    first,
                    last,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
            }
            for &fd in &plan {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = spawner.spawn(command).map_err(|source| SpawnError::Exec {
        stage: spec.stage.clone(),
        exe: program.to_path_buf(),
        source,
    })?;
    // Our copies of the child's ends close now: a worker that dies is seen as end of stream.
    drop(passed);
    Ok(Started {
        slot: ChildSlot::new(spec.stage.clone(), child, spawner),
        stream: ours,
        ring_fds: numbers[1..].to_vec(),
    })
}

/// The descriptor ranges above stdio (inclusive) that hold none of `keep`.
fn stray_ranges(keep: &[RawFd]) -> Vec<(libc::c_uint, libc::c_uint)> {
    let mut keep: Vec<libc::c_uint> = keep.iter().map(|&fd| fd as libc::c_uint).collect();
    keep.sort_unstable();
    let mut ranges = Vec::with_capacity(keep.len() + 1);
    let mut first: libc::c_uint = 3;
    for fd in keep {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = first.max(fd + 1);
    }
    ranges.push((first, libc::c_uint::MAX));
    ranges
}

/// The error for a worker that ended before completing the handshake.
pub(super) fn exited_error(
    program: &Path,
    spec: &WorkerSpec,
    pid: u32,
    status: ExitStatus,
) -> SpawnError {
    if status.code() == Some(exit_code::NO_ENTER) {
        return SpawnError::NoEnter {
            stage: spec.stage.clone(),
            exe: program.to_path_buf(),
            pid,
        };
    }
    SpawnError::Exited {
        stage: spec.stage.clone(),
        exe: program.to_path_buf(),
        pid,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::stray_ranges;

    #[test]
    fn stray_ranges_cover_everything_above_stdio_but_the_kept_descriptors() {
        assert_eq!(stray_ranges(&[]), vec![(3, u32::MAX)]);
        assert_eq!(stray_ranges(&[3]), vec![(4, u32::MAX)]);
        assert_eq!(
            stray_ranges(&[9, 4, 5]),
            vec![(3, 3), (6, 8), (10, u32::MAX)]
        );
    }
}
