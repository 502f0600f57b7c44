//! A worker program from "another build": the registry of `skorche-test-remote` plus one
//! task of its own, so a driver linking only the former must be refused by it
//! (tests/remote_nats.rs).

fn triple(n: u64) -> u64 {
    n * 3
}

skorche::task! {
    /// Only in this binary: the difference a refusal must name.
    static OTHER_ONLY: u64 => u64 = map("remote_other_only", triple).version("other");
}

fn main() {
    skorche::nats::enter();
    // Never reached when started as a worker; otherwise name what this binary is for.
    eprintln!(
        "skorche-test-remote-other: a worker for tests ({} registered); start it with \
         --skorche-nats-worker <url> --job <job>",
        OTHER_ONLY.name()
    );
    std::process::exit(2);
}
