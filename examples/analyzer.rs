//! The Graph Analyzer on a pipeline with an obvious bottleneck: a quick parse, a slow
//! `enrich` stage on one thread, a quick format. Shows the run live (when stderr is a
//! terminal), then prints the report (load shares, task
//! times, verdicts) and writes the graph as a DOT heat map (busy % as shade, rates on the
//! edges, the bottleneck in bold):
//!
//! `cargo run --release --example analyzer [-- OUT.dot]` (default `analyzer.dot`), then
//! `dot -Tsvg analyzer.dot > analyzer.svg` to draw it.

use std::time::Duration;

use skorche::core::Pipeline;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "analyzer.dot".into());
    let p = Pipeline::new();
    // The live view, on stderr when it is a terminal.
    p.progress();
    let lines = p.source((0..4_000u64).map(|n| format!("{n},{}", n * 7)));
    let parsed = lines
        .map(|line: String| {
            let (a, b) = line.split_once(',').expect("two fields");
            (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())
        })
        .name("parse")
        .workers(2);
    let enriched = parsed
        .map(|(a, b)| {
            // A lookup that waits on something slow.
            std::thread::sleep(Duration::from_micros(500));
            a + b
        })
        .name("enrich");
    let formatted = enriched.map(|n| format!("{n:08}")).name("format");
    let (items, report) = p.run_iter(formatted)?.collect_report()?;
    println!("{} items\n\n{report}\n", items.len());
    if let Some(b) = &report.bottleneck {
        println!("the bottleneck is '{b}'");
    }
    std::fs::write(&out_path, report.to_dot())?;
    println!("wrote {out_path}:\n{}", report.to_dot());
    println!("as Mermaid:\n{}", report.to_mermaid());
    Ok(())
}
