//! A stage served by workers through NATS JetStream, all on this machine: the example starts
//! two worker processes of itself (`--skorche-nats-worker URL`), as you would on other hosts,
//! then runs a pipeline whose middle stage they serve.
//!
//! Needs a NATS server with JetStream (`nats-server -js`); the address is `$NATS_URL` or
//! `nats://127.0.0.1:4222`:
//!
//! ```sh
//! nats-server -js &
//! cargo run --release --features nats --example remote_pipeline
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skorche::nats::{NatsTransport, Remote};
use skorche::prelude::*;

/// Stands in for work that waits (a download, a model server): 5 ms per item.
fn fetch_score(id: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(5));
    id * id % 1000
}

/// A large value (an image, a tensor): it travels through the server's object store.
fn render(id: u64) -> Vec<u8> {
    vec![(id % 251) as u8; 512 * 1024]
}

skorche::task! {
    static SCORE: u64 => u64 = map("example_fetch_score", fetch_score);
    static RENDER: u64 => Vec<u8> = map("example_render", render);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Started with --skorche-nats-worker, this process is a worker: it serves and exits.
    skorche::nats::enter();
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let job = format!("example-{}", std::process::id());
    let nats = NatsTransport::builder(url.as_str())
        .job(job.as_str())
        .connect()?;

    // Two "hosts", 4 threads each: on real hosts, run the same command there.
    let exe = std::env::current_exe()?;
    let workers = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--skorche-nats-worker",
                    &url,
                    "--job",
                    &job,
                    "--threads",
                    "4",
                    "--once",
                ])
                .stdout(Stdio::null())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;

    let started = Instant::now();
    let p = Pipeline::new();
    let (ids, point) = p.source(0..800u64).order_save(256);
    let scores = ids.map_task(&SCORE).remote(&nats, 8).order_load(point);
    let (scores, report) = p.run_iter(scores)?.collect_report()?;
    assert_eq!(
        scores,
        (0..800u64).map(|id| id * id % 1000).collect::<Vec<_>>()
    );
    println!(
        "800 items of 5 ms on 2 workers x 4 threads, in input order: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    println!("{report}");

    let p = Pipeline::new();
    let images = p.source(0..16u64).map_task(&RENDER).remote(&nats, 8);
    let (images, _) = p.run_iter(images)?.collect_report()?;
    let bytes: usize = images.iter().map(Vec::len).sum();
    println!("16 values of 512 KiB through the object store: {bytes} bytes back");

    for mut w in workers {
        let status = w.wait()?;
        println!("worker {} exited: {status}", w.id());
    }
    Ok(())
}
