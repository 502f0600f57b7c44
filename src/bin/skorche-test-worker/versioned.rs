//! A task declared here with another version than the facade's tests declare it with
//! (`tests/cache_task_version.rs`): the same name, types and kind, so that only the version
//! tells the two apart, across binaries as across releases of one program. And one declared
//! exactly as the tests declare it, whose workers they accept.
//!
//! `skorche-test-worker drive-cached <store-dir>` runs it cached on threads over `0..5`,
//! printing `outputs <sorted outputs> hits <h> misses <m>`. A worker process started for it
//! by a driver that declares another version is refused at handshake.

use skorche::Pipeline;

/// This binary's code of the task: the tests' version "2" adds 1.
fn square(n: u64) -> u64 {
    n * n
}

/// The same code and version as the tests'.
fn cube(n: u64) -> u64 {
    n * n * n
}

skorche::task! {
    static VERSIONED_SQUARE: u64 => u64 = map("test_versioned_square", square).version("1");
    static VERSIONED_CUBE: u64 => u64 = map("test_versioned_cube", cube).version("1");
}

/// Runs the cached pipeline in the store at `args[0]`; returns the exit code.
pub fn drive(args: &[String]) -> i32 {
    let Some(dir) = args.first() else {
        eprintln!("drive-cached: give the store directory");
        return 2;
    };
    let p = Pipeline::new();
    p.cache_dir(dir);
    let q = p.source(0..5u64).cached().map_task(&VERSIONED_SQUARE);
    let (mut out, report) = match p.run_iter(q).and_then(|o| o.collect_report()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drive-cached: {e}");
            return 1;
        }
    };
    out.sort_unstable();
    let cache = &report
        .stage("test_versioned_square")
        .expect("the stage")
        .cache;
    println!(
        "outputs {out:?} hits {} misses {}",
        cache.hits, cache.misses
    );
    0
}
