//! Driver and worker in one binary: `remote_smoke URL` runs a pipeline whose middle stage
//! is served by workers started as `remote_smoke --skorche-nats-worker URL --job smoke`.

use skorche_core::Pipeline;
use skorche_nats::{NatsTransport, Remote};

fn wait_double(x: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(2));
    x * 2
}

fn big(n: u64) -> Vec<u8> {
    vec![(n % 251) as u8; 300 * 1024 + n as usize]
}

skorche_worker::task! {
    static DOUBLE: u64 => u64 = map("smoke_double", wait_double);
    static BIG: u64 => Vec<u8> = map("smoke_big", big);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    skorche_nats::enter();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let nats = NatsTransport::builder(url).job("smoke").connect()?;
    let started = std::time::Instant::now();
    let p = Pipeline::new();
    let out = p.source(0..2000u64).map_task(&DOUBLE).remote(&nats, 8);
    let (got, report) = p.run_iter(out)?.collect_report()?;
    let mut got: Vec<u64> = got;
    got.sort_unstable();
    assert_eq!(got, (0..2000u64).map(|x| x * 2).collect::<Vec<_>>());
    println!("2000 items in {:?}", started.elapsed());
    println!("{report}");
    let p = Pipeline::new();
    let (src, point) = p.source(0..20u64).order_save(64);
    let out = src.map_task(&BIG).remote(&nats, 4).order_load(point);
    let (values, _) = p.run_iter(out)?.collect_report()?;
    let sizes: Vec<usize> = values.iter().map(Vec::len).collect();
    assert_eq!(sizes, (0..20).map(|n| 300 * 1024 + n).collect::<Vec<_>>());
    println!("big values in order: {}", sizes.len());
    Ok(())
}
