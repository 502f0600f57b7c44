//! A driver that forgot `skorche::worker::enter()`: its `main` runs a small pipeline with a
//! process stage whose worker program is, by default, this executable itself. Used by
//! `tests/process_forgot_enter.rs`.
//!
//! Prints `done <count>` and exits 0 on success; prints the error to stderr and exits 1 on
//! error.

fn main() {
    // Deliberately no `skorche::worker::enter()` here.
    let p = skorche::Pipeline::new();
    let q = p
        .source(0..10u64)
        .map_task(&skorche::worker::builtin::IDENTITY_U64)
        .processes(1)
        .name("noenter");
    let result = p
        .run_iter(q)
        .and_then(|out| out.collect::<Result<Vec<u64>, _>>());
    match result {
        Ok(items) => println!("done {}", items.len()),
        Err(e) => {
            eprintln!("skorche-test-noenter: {e}");
            std::process::exit(1);
        }
    }
}
