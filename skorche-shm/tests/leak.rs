//! Leak checks on the real OS: after a normal drop, after a panic and after SIGKILL of the
//! creating process, no segment of the ring remains in `/dev/shm`.
#![cfg(not(loom))]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use skorche_shm::{BackingDescriptor, Handle, Ring, RingDescriptor};
use support::{spawn_child, Watchdog, ROLE};

const ENTRY: &str = "child_entry";
const PAYLOAD: &[u8] = b"survives the death of its writer";

fn shm_path(desc: &RingDescriptor) -> String {
    match &desc.backing {
        BackingDescriptor::Named { name } => format!("/dev/shm{name}"),
        other => panic!("not a named ring: {other:?}"),
    }
}

/// Entries of /dev/shm whose name mentions `needle`.
fn shm_entries(needle: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn named_ring_is_unlinked_on_drop() {
    let sut = Ring::create_named(4096).unwrap();
    let path = shm_path(&sut.descriptor());
    assert!(path.starts_with("/dev/shm/skorche-"));
    let meta = std::fs::metadata(&path).expect("segment exists while the ring lives");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    drop(sut);
    assert!(!Path::new(&path).exists(), "{path} leaked after drop");
}

#[test]
fn named_ring_is_unlinked_when_its_owner_panics() {
    let path = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(|| {
        let sut = Ring::create_named(4096).unwrap();
        *path.lock().unwrap() = shm_path(&sut.descriptor());
        sut.write(b"in flight", Duration::from_secs(1)).unwrap();
        panic!("owner panics with the ring alive");
    });
    assert!(result.is_err());
    let path = path.into_inner().unwrap();
    assert!(!path.is_empty());
    assert!(!Path::new(&path).exists(), "{path} leaked after panic");
}

#[test]
fn unlink_after_open_keeps_the_ring_usable() {
    let sut = Ring::create_named(4096).unwrap();
    let path = shm_path(&sut.descriptor());
    let peer = Ring::open(&sut.descriptor()).unwrap();
    sut.unlink().unwrap();
    sut.unlink().unwrap();
    assert!(!Path::new(&path).exists());
    let h = sut.write(b"after unlink", Duration::from_secs(1)).unwrap();
    assert_eq!(&*peer.read(&h).unwrap(), b"after unlink");
    peer.release(&h).unwrap();
}

/// The owner side: creates a ring of the given backing, writes one record, prints the
/// descriptor and handle, unlinks when told, then waits to be killed.
#[test]
#[ignore = "child process entry, run by the other tests"]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let ring = match role.as_str() {
        "named-owner" => Ring::create_named(1 << 20).unwrap(),
        "memfd-owner" => Ring::create(1 << 20).unwrap(),
        other => panic!("unknown role {other}"),
    };
    let h = ring.write(PAYLOAD, Duration::from_secs(1)).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\nDESC {}",
        serde_json::to_string(&ring.descriptor()).unwrap()
    )
    .unwrap();
    writeln!(out, "HANDLE {}", serde_json::to_string(&h).unwrap()).unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        if line.unwrap() == "unlink" {
            ring.unlink().unwrap();
            writeln!(out, "UNLINKED").unwrap();
            out.flush().unwrap();
        }
    }
    // Killed before stdin closes; if the parent vanished instead, just wait to be reaped.
    std::thread::sleep(Duration::from_secs(60));
}

/// Starts an owner child (under a watchdog) and returns it with the ring's descriptor and the
/// record's handle.
fn start_owner(
    role: &str,
) -> (
    std::process::Child,
    Watchdog,
    impl Iterator<Item = String>,
    RingDescriptor,
    Handle,
) {
    let mut child = spawn_child(ENTRY, role, &[]);
    let watchdog = Watchdog::arm(child.id(), Duration::from_secs(60));
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut value = |tag: &str| {
        lines
            .by_ref()
            .find_map(|l| l.strip_prefix(tag).map(str::to_owned))
            .unwrap_or_else(|| panic!("child did not print {tag}"))
    };
    let desc: RingDescriptor = serde_json::from_str(&value("DESC ")).unwrap();
    let handle: Handle = serde_json::from_str(&value("HANDLE ")).unwrap();
    (child, watchdog, lines, desc, handle)
}

fn sigkill(child: &mut std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

#[test]
fn named_ring_unlinked_after_attach_leaves_nothing_when_owner_is_killed() {
    let (mut child, _watchdog, mut lines, desc, handle) = start_owner("named-owner");
    let path = shm_path(&desc);
    assert!(Path::new(&path).exists());
    let peer = Ring::open(&desc).unwrap();
    // Every peer has opened the ring: tell the owner to unlink.
    writeln!(child.stdin.as_mut().unwrap(), "unlink").unwrap();
    assert!(lines.any(|l| l == "UNLINKED"));
    assert!(
        !Path::new(&path).exists(),
        "{path} still named after unlink"
    );
    sigkill(&mut child);
    assert!(!Path::new(&path).exists(), "{path} leaked after SIGKILL");
    // The surviving peer still reads the dead writer's record.
    assert_eq!(&*peer.read(&handle).unwrap(), PAYLOAD);
    peer.release(&handle).unwrap();
}

#[test]
fn memfd_ring_never_appears_in_dev_shm_even_when_owner_is_killed() {
    let (mut child, _watchdog, _lines, desc, handle) = start_owner("memfd-owner");
    let pid_tag = format!("skorche-{}-", child.id());
    let id_tag = format!("{:016x}", desc.ring.0);
    assert!(matches!(desc.backing, BackingDescriptor::Memfd { .. }));
    let peer = Ring::open(&desc).unwrap();
    assert!(shm_entries(&pid_tag).is_empty() && shm_entries(&id_tag).is_empty());
    sigkill(&mut child);
    assert!(shm_entries(&pid_tag).is_empty() && shm_entries(&id_tag).is_empty());
    // The mapping outlives the creator; the memory is freed with the last mapping.
    assert_eq!(&*peer.read(&handle).unwrap(), PAYLOAD);
    peer.release(&handle).unwrap();
    // The creator is gone, so the ring can no longer be opened by a new peer.
    assert!(Ring::open(&desc).is_err());
}
