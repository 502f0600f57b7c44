//! Worker program for the facade's integration tests and benches: hosts skorche's built-in
//! tasks (`skorche::worker::builtin`). Integration tests find it through
//! `env!("CARGO_BIN_EXE_skorche-test-worker")`.

fn main() {
    skorche::worker::enter();
    eprintln!(
        "skorche-test-worker is started by a skorche coordinator; it hosts the built-in tasks"
    );
    std::process::exit(2);
}
