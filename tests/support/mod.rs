//! Helpers shared by the thread-mode tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Generous limit for a test body: a hang fails the test instead of blocking the suite.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and returns its result, failing the test if it takes longer
/// than [`WATCHDOG`] (a hang) or panics.
pub fn watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let handle = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawning the test body");
    match rx.recv_timeout(WATCHDOG) {
        Ok(r) => {
            handle.join().expect("the test body thread");
            r
        }
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
            panic!("watchdog: the pipeline did not finish within {WATCHDOG:?} (hang)")
        }
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic.
            match handle.join() {
                Err(p) => std::panic::resume_unwind(p),
                Ok(()) => unreachable!("the body returned without sending"),
            }
        }
    }
}

/// Counts live values of [`Live`]: current and maximum.
#[derive(Debug, Default)]
pub struct LiveCounter {
    live: AtomicUsize,
    max: AtomicUsize,
    created: AtomicUsize,
}

impl LiveCounter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
}

/// A value whose constructor and `Drop` count it in a [`LiveCounter`].
#[derive(Debug)]
pub struct Live {
    pub value: u64,
    counter: Arc<LiveCounter>,
}

impl Live {
    pub fn new(value: u64, counter: &Arc<LiveCounter>) -> Self {
        let now = counter.live.fetch_add(1, Ordering::SeqCst) + 1;
        counter.max.fetch_max(now, Ordering::SeqCst);
        counter.created.fetch_add(1, Ordering::SeqCst);
        Live {
            value,
            counter: counter.clone(),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.counter.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An iterator wrapper that raises a flag when the inner iterator is exhausted.
pub struct NotifyEnd<I> {
    pub inner: I,
    pub ended: Arc<std::sync::atomic::AtomicBool>,
}

impl<I: Iterator> Iterator for NotifyEnd<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let next = self.inner.next();
        if next.is_none() {
            self.ended.store(true, Ordering::SeqCst);
        }
        next
    }
}

/// Blocks until `flag` is set (polling; the caller's watchdog bounds the wait).
pub fn wait_for(flag: &std::sync::atomic::AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
}
