//! Simulated hosts for the multi-host tests and bench: network namespaces on a bridge
//! (`.ci/netns.sh`), a JetStream `nats-server` of our own on the bridge address, and worker
//! processes started inside the namespaces. Everything is torn down on drop, also when a
//! test panics.
//!
//! The namespace and bridge names are fixed, so one [`Cluster`] exists at a time on the
//! machine: [`Cluster::up`] takes an exclusive `flock` of [`LOCK_FILE`] through a file
//! description of its own, which serializes the tests of one binary (threads) as well as
//! several binaries and the bench (processes).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

#[path = "watchdog.rs"]
mod watchdog;

/// The script that builds and removes the namespaces.
pub const NETNS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/netns.sh");
/// The bridge's address in the root namespace: where the server listens.
pub const BRIDGE_IP: &str = "10.77.0.1";
/// Held while a cluster exists, by every process that builds one.
pub const LOCK_FILE: &str = "/tmp/skorche-netns.lock";

/// Whether this machine can run the multi-host tests; `Err` says what is missing. The
/// tests fail (never skip) on `Err`: CI has both.
pub fn check_prerequisites() -> Result<(), String> {
    if effective_uid() != Some(0) {
        return Err(
            "the multi-host tests need root (network namespaces): run them as root, \
                    as .ci/run does"
                .into(),
        );
    }
    match Command::new("nats-server").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            return Err(
                "nats-server is not installed (apt-get install -y nats-server; \
                        .ci/run installs it)"
                    .into(),
            )
        }
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("the ip command is missing (apt-get install -y iproute2)".into()),
    }
}

/// Runs `.ci/netns.sh` with `args`, panicking with its output if it fails.
pub fn netns(args: &[&str]) {
    let out = Command::new("bash")
        .arg(NETNS)
        .args(args)
        .output()
        .expect("running .ci/netns.sh");
    assert!(
        out.status.success(),
        ".ci/netns.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A worker process started in a host's namespace.
#[derive(Debug)]
pub struct Worker {
    /// Which host (namespace `skh<host>`) it runs in.
    pub host: usize,
    /// `ip netns exec` execs the worker in place: this is the worker's own process.
    pub child: Child,
    /// Where its stderr goes.
    pub stderr: PathBuf,
    /// Its exit status, once reaped.
    pub status: Option<ExitStatus>,
}

impl Worker {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// `hosts` namespaces, a JetStream server on the bridge, and the workers started in them.
#[derive(Debug)]
pub struct Cluster {
    hosts: usize,
    dir: PathBuf,
    server: Child,
    port: u16,
    monitor: u16,
    /// The workers started, in order.
    pub workers: Vec<Worker>,
    _machine: Flock<File>,
}

impl Cluster {
    /// Builds `hosts` namespaces and starts a JetStream server on a free port of the
    /// bridge address, storing in a fresh directory; waits until it accepts clients.
    ///
    /// # Panics
    /// When a prerequisite is missing ([`check_prerequisites`]) or the server does not come
    /// up within 10 s.
    pub fn up(hosts: usize) -> Cluster {
        if let Err(missing) = check_prerequisites() {
            panic!("{missing}");
        }
        let lock = File::create(LOCK_FILE).expect("creating the netns lock file");
        let machine = Flock::lock(lock, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("locking the netns lock file");
        // Whatever a killed earlier run left behind goes first.
        netns(&["down"]);
        netns(&["up", &hosts.to_string()]);
        let dir = std::env::temp_dir().join(format!(
            "skorche-remote-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(dir.join("js")).expect("creating the server's store");
        let port = free_port();
        let monitor = free_port();
        let log = File::create(dir.join("nats-server.log")).expect("server log");
        let server = Command::new("nats-server")
            .args(["-a", BRIDGE_IP, "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("js"))
            // The monitoring endpoint tells when every worker has connected.
            .args(["-m", &monitor.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting nats-server");
        let cluster = Cluster {
            hosts,
            dir,
            server,
            port,
            monitor,
            workers: Vec::new(),
            _machine: machine,
        };
        cluster.wait_server(Duration::from_secs(10));
        cluster
    }

    fn wait_server(&self, limit: Duration) {
        let addr: SocketAddr = format!("{BRIDGE_IP}:{}", self.port).parse().unwrap();
        let start = Instant::now();
        loop {
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                let mut info = [0u8; 4];
                s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                if s.read_exact(&mut info).is_ok() && &info == b"INFO" {
                    return;
                }
            }
            assert!(
                start.elapsed() < limit,
                "nats-server did not accept clients on {addr} within {limit:?}; its log:\n{}",
                std::fs::read_to_string(self.dir.join("nats-server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's URL, as the driver and the workers reach it.
    pub fn url(&self) -> String {
        format!("nats://{BRIDGE_IP}:{}", self.port)
    }

    /// A job name no other run on this server has used.
    pub fn job(&self, what: &str) -> String {
        format!("{what}-{}-{}", std::process::id(), unique())
    }

    /// Starts `program` as a worker of `job` in host `host` with `threads` threads, each
    /// exiting after the run it serves (`--once`); returns its index in [`Cluster::workers`].
    pub fn start_worker(
        &mut self,
        program: &Path,
        host: usize,
        job: &str,
        threads: usize,
    ) -> usize {
        assert!((1..=self.hosts).contains(&host), "no host {host}");
        let index = self.workers.len();
        let stderr = self.dir.join(format!("worker-{index}-host{host}.err"));
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("skh{host}")])
            .arg(program)
            .args(["--skorche-nats-worker", &self.url(), "--job", job])
            .args(["--threads", &threads.to_string(), "--once"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("worker stderr file"))
            .spawn()
            .expect("starting a worker with ip netns exec");
        self.workers.push(Worker {
            host,
            child,
            stderr,
            status: None,
        });
        index
    }

    /// Starts `per_host` workers of `threads` threads in each host.
    pub fn start_workers(&mut self, program: &Path, job: &str, per_host: usize, threads: usize) {
        for host in 1..=self.hosts {
            for _ in 0..per_host {
                self.start_worker(program, host, job, threads);
            }
        }
    }

    /// How many clients of the server connect from each host (by its address
    /// 10.77.0.(10+i)), from the server's monitoring endpoint.
    pub fn connections_per_host(&self) -> BTreeMap<usize, usize> {
        let mut per_host = BTreeMap::new();
        let Some(connz) = http_get(BRIDGE_IP, self.monitor, "/connz?limit=4096") else {
            return per_host;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&connz) else {
            return per_host;
        };
        for conn in json["connections"].as_array().into_iter().flatten() {
            let host = conn["ip"]
                .as_str()
                .and_then(|ip| ip.strip_prefix("10.77.0."))
                .and_then(|last| last.parse::<usize>().ok())
                .and_then(|last| last.checked_sub(10));
            if let Some(host) = host.filter(|&h| h >= 1) {
                *per_host.entry(host).or_default() += 1;
            }
        }
        per_host
    }

    /// Waits up to `limit` until each host has at least as many connections to the server
    /// as running workers, so a run starts with every worker ready to pull work.
    pub fn wait_workers_connected(&self, limit: Duration) {
        let mut wanted: BTreeMap<usize, usize> = BTreeMap::new();
        for w in self.workers.iter().filter(|w| w.status.is_none()) {
            *wanted.entry(w.host).or_default() += 1;
        }
        let start = Instant::now();
        loop {
            let have = self.connections_per_host();
            if wanted
                .iter()
                .all(|(h, n)| have.get(h).copied().unwrap_or(0) >= *n)
            {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "workers per host {wanted:?} not connected within {limit:?}: connections {have:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pids of the processes in host `host`'s namespace.
    pub fn pids_in(&self, host: usize) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &format!("skh{host}")])
            .output()
            .expect("ip netns pids");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// `kill -9` of every process in host `host`: the host is lost.
    pub fn kill_host(&self, host: usize) -> Vec<i32> {
        let pids = self.pids_in(host);
        for &pid in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        pids
    }

    /// Takes host `host`'s link down.
    pub fn cut(&self, host: usize) {
        netns(&["cut", &host.to_string()]);
    }

    /// Brings host `host`'s link back up.
    pub fn heal(&self, host: usize) {
        netns(&["heal", &host.to_string()]);
    }

    /// Waits up to `limit` for every worker to exit and reaps it; panics naming the
    /// workers still running (which are then killed by drop).
    pub fn wait_workers(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            let mut running = Vec::new();
            for (i, w) in self.workers.iter_mut().enumerate() {
                if w.status.is_none() {
                    match w.child.try_wait().expect("waiting for a worker") {
                        Some(s) => w.status = Some(s),
                        None => running.push((i, w.host, w.pid())),
                    }
                }
            }
            if running.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "workers (index, host, pid) {running:?} still run {limit:?} after the run"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics unless every worker not in `killed_hosts` exited with status 0.
    pub fn assert_workers_exited_cleanly(&self, killed_hosts: &[usize]) {
        for (i, w) in self.workers.iter().enumerate() {
            if killed_hosts.contains(&w.host) {
                continue;
            }
            let status = w.status.expect("wait_workers first");
            assert!(
                status.success(),
                "worker {i} (host {}, pid {}) exited with {status}; its stderr:\n{}",
                w.host,
                w.pid(),
                w.stderr()
            );
        }
    }

    /// The server's log so far (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats-server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if w.status.is_none() {
                let _ = w.child.kill();
                let _ = w.child.wait();
            }
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.server.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while matches!(self.server.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        netns(&["down"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Children of this process that are zombies (exited, not reaped).
pub fn zombie_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: the fields follow the last ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<i32>().ok());
        if state == Some("Z") && ppid == Some(me) {
            out.push(pid);
        }
    }
    out
}

/// The effective user id, from /proc (nix's `geteuid` needs a feature the workspace does not
/// turn on).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The body of an HTTP/1.0 GET, or `None` if the server cannot be reached.
fn http_get(host: &str, port: u16, path: &str) -> Option<String> {
    use std::io::Write;
    let mut s = TcpStream::connect((host, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some(body.to_string())
}

fn free_port() -> u16 {
    let l = TcpListener::bind((BRIDGE_IP, 0)).expect("binding a free port on the bridge");
    l.local_addr().expect("its address").port()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    (nanos << 8) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Tears the machine down and aborts the test process if not dropped within `limit`: a
/// hang fails loudly, and leaves no namespace, worker or server behind (an abort skips
/// the [`Cluster`]'s drop).
pub struct Watchdog;

impl Watchdog {
    /// Arms it for `what`, with the server of `cluster` to kill on expiry.
    pub fn arm(what: &'static str, cluster: &Cluster, limit: Duration) -> watchdog::Watchdog {
        let server = cluster.server.id() as i32;
        watchdog::Watchdog::arm_then(what, limit, move || {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(server),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = Command::new("bash").arg(NETNS).arg("down").status();
        })
    }
}
