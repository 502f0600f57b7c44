//! The worker entry: no-op without the bootstrap environment, and prompt exits when the
//! environment is bad, the parent is not the expected one, or the coordinator hangs up.

mod support;

use ipc_channel::ipc::IpcOneShotServer;
use skorche_worker::protocol::{FromWorker, ToWorker, Welcome};
use skorche_worker::{exit_code, ENV_PARENT, ENV_SERVER, ENV_STAGE, ENV_TASK};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn worker() -> Command {
    let mut c = Command::new(EXE);
    c.env_remove(ENV_SERVER)
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
        .env(ENV_SERVER, "x")
        .env_remove(ENV_TASK)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(exit_code::BAD_ENV));
}

#[test]
fn wrong_parent_exits_at_once() {
    let _w = watchdog(30);
    let (_server, name) = IpcOneShotServer::<FromWorker>::new().unwrap();
    let status = worker()
        .env(ENV_SERVER, name)
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
    let (server, name) = IpcOneShotServer::<FromWorker>::new().unwrap();
    let mut child = worker()
        .env(ENV_SERVER, name)
        .env(ENV_TASK, "identity_u64")
        .env(ENV_STAGE, "s")
        .env(ENV_PARENT, std::process::id().to_string())
        .spawn()
        .unwrap();
    let (rx, hello) = server.accept().unwrap();
    let FromWorker::Hello(hello) = hello else {
        panic!("expected Hello")
    };
    let welcome = Welcome {
        stage: "s".into(),
        params: vec![],
        rings: vec![],
        output_ring: None,
        shm_threshold: usize::MAX,
    };
    hello.reply.send(ToWorker::Welcome(welcome)).unwrap();
    assert!(matches!(rx.recv().unwrap(), FromWorker::Ready));
    let t0 = Instant::now();
    drop(hello.reply);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(exit_code::ORPHANED));
    assert!(t0.elapsed() < Duration::from_secs(5));
}
