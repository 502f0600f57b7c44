//! The worker entry: no-op without the bootstrap environment, and prompt exits when the
//! environment is bad, the parent is not the expected one, or the coordinator hangs up.

mod support;

use skorche_worker::protocol::{FromWorker, ToWorker, Welcome};
use skorche_worker::transport::local::frame;
use skorche_worker::{exit_code, ENV_FD, ENV_PARENT, ENV_STAGE, ENV_TASK};
use std::io::BufReader;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn worker() -> Command {
    let mut c = Command::new(EXE);
    c.env_remove(ENV_FD)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn without_bootstrap_environment_the_binary_prints_usage_and_exits_2() {
    let _w = watchdog(30);
    let out = worker().stderr(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("identity_u64"));
}

#[test]
fn malformed_environment_exits_with_bad_env() {
    let _w = watchdog(30);
    let status = worker()
        .env(ENV_FD, "x")
        .env(ENV_TASK, "identity_u64")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(exit_code::BAD_ENV));
    let status = worker()
        .env(ENV_FD, "3")
        .env_remove(ENV_TASK)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(exit_code::BAD_ENV));
}

#[test]
fn a_descriptor_that_is_not_a_socket_exits_with_bad_env() {
    let _w = watchdog(30);
    // Descriptor 0 is /dev/null here; descriptor 250 is not open at all.
    for fd in ["0", "250"] {
        let status = worker()
            .env(ENV_FD, fd)
            .env(ENV_TASK, "identity_u64")
            .env(ENV_STAGE, "s")
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(exit_code::BAD_ENV), "fd {fd}");
    }
}

#[test]
fn wrong_parent_exits_at_once() {
    let _w = watchdog(30);
    let status = worker()
        .env(ENV_FD, "3")
        .env(ENV_TASK, "identity_u64")
        .env(ENV_STAGE, "s")
        .env(ENV_PARENT, "1")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(exit_code::ORPHANED));
}

#[test]
fn coordinator_hang_up_makes_the_worker_exit_promptly() {
    let _w = watchdog(30);
    let (ours, theirs) = UnixStream::pair().unwrap();
    let fd = theirs.as_raw_fd();
    let mut command = worker();
    command
        .env(ENV_FD, fd.to_string())
        .env(ENV_TASK, "identity_u64")
        .env(ENV_STAGE, "s")
        .env(ENV_PARENT, std::process::id().to_string());
    // SAFETY: runs between fork and exec and only calls fcntl (async-signal-safe) on a
    // descriptor open in the parent, clearing close-on-exec in the child's table only.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    drop(theirs);
    let mut input = BufReader::new(ours.try_clone().unwrap());
    let mut output = ours;
    let FromWorker::Hello(hello) = frame::read(&mut input, 1 << 20).unwrap() else {
        panic!("expected Hello")
    };
    assert_eq!(hello.pid, child.id());
    assert_eq!(hello.task.name, "identity_u64");
    let welcome = Welcome {
        stage: "s".into(),
        params: vec![],
        rings: vec![],
        output_ring: None,
        shm_threshold: usize::MAX,
        keep_inputs: false,
    };
    frame::write(&mut output, &ToWorker::Welcome(welcome)).unwrap();
    assert!(matches!(
        frame::read(&mut input, 1 << 20).unwrap(),
        FromWorker::Ready
    ));
    let t0 = Instant::now();
    drop(output);
    drop(input);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(exit_code::ORPHANED));
    assert!(t0.elapsed() < Duration::from_secs(5));
}
