//! The one thread a transport forks its workers from.

use std::process::{Child, Command};
use std::sync::{mpsc, Arc, Mutex, Weak};

/// The thread workers are forked from.
///
/// Linux delivers `PR_SET_PDEATHSIG` when the *thread* that forked the child exits, not the
/// process: a worker forked from a short-lived thread (a stage thread, a test thread) would
/// be killed when that thread ends. So every worker is forked from this thread, which lives
/// as long as any worker it started (each holds it) or the transport that needs it: then the
/// death signal means what it says, the driver died, and no thread of ours outlives the last
/// worker.
#[derive(Debug)]
pub(crate) struct Spawner {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

type Job = (Command, mpsc::Sender<std::io::Result<Child>>);

impl Spawner {
    /// The live spawner of `cell`, or a new one.
    pub(crate) fn get(cell: &Mutex<Weak<Spawner>>) -> std::io::Result<Arc<Spawner>> {
        let mut weak = cell.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = weak.upgrade() {
            return Ok(s);
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("skorche-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })?;
        let s = Arc::new(Spawner {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        });
        *weak = Arc::downgrade(&s);
        Ok(s)
    }

    pub(crate) fn spawn(&self, command: Command) -> std::io::Result<Child> {
        let (reply_tx, reply_rx) = mpsc::channel();
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or_else(|| std::io::Error::other("spawner is shut down"))?
            .send((command, reply_tx))
            .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
        reply_rx
            .recv()
            .map_err(|_| std::io::Error::other("spawner thread is gone"))?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}
