//! The worker program of the multi-host tests and bench: serves remote stages
//! (`--skorche-nats-worker <url> --job <job> --threads <n> [--once]`) with the tasks of
//! `skorche::fixtures` and `skorche::worker::builtin`, the same registry as the test binary
//! that drives it.
//!
//! `skorche-test-remote --print-registry` prints that registry, one task a line (see
//! `skorche::fixtures::registry_lines`), for a test to check that it is the test's own.

fn main() {
    skorche::nats::enter();
    if std::env::args().nth(1).as_deref() == Some("--print-registry") {
        for line in skorche::fixtures::registry_lines() {
            println!("{line}");
        }
        return;
    }
    eprintln!(
        "usage: skorche-test-remote --skorche-nats-worker <url> --job <job> --threads <n> [--once]\n\
         \x20      skorche-test-remote --print-registry"
    );
    std::process::exit(2);
}
