//! Worker host for skorche's built-in tasks (`skorche_worker::builtin`).
//!
//! Run by a coordinator with the bootstrap environment; run by hand it prints usage.

fn main() {
    skorche_worker::enter();
    eprintln!(
        "usage: skorche-worker is started by a skorche coordinator (environment {}); \
         it hosts these tasks: {}",
        skorche_worker::ENV_FD,
        skorche_worker::registry::task_names().join(", ")
    );
    std::process::exit(2);
}
