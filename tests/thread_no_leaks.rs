//! No thread outlives a run. One #[test] only: cargo runs the tests of one file in
//! parallel threads of one process, so this file counts the `skorche:*` threads alone.

mod support;

use skorche::core::Pipeline;

/// The live threads of this process whose name starts with `skorche:`.
fn skorche_threads() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = entry.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // exited while we looked
        };
        // A thread that has exited but is not yet reaped shows state Z or X.
        let state = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let dead = state
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'));
        if comm.starts_with("skorche:") && !dead {
            names.push(comm.trim().to_string());
        }
    }
    names
}

fn assert_no_skorche_threads(case: &str) {
    let left = skorche_threads();
    assert!(left.is_empty(), "{case}: threads left running: {left:?}");
}

#[test]
fn no_thread_outlives_run_in_success_task_error_panic_and_dropped_output() {
    support::watchdog(|| {
        assert_no_skorche_threads("before any run");

        // Success.
        let p = Pipeline::new();
        let q = p.source(0..10_000u64).map(|x| x + 1).workers(4);
        let (a, b) = q.split(|x| x % 2 == 0);
        let all = p.merge([a, b.map(|x| x)]).batch(10).unbatch();
        drop(all);
        p.run().unwrap();
        assert_no_skorche_threads("success");

        // Task error.
        let p = Pipeline::new();
        let q = p
            .source(0u64..)
            .map(|x| x)
            .workers(3)
            .try_map(|x| if x == 777 { Err("error") } else { Ok(x) })
            .workers(2);
        drop(q);
        assert!(p.run().is_err());
        assert_no_skorche_threads("task error");

        // Panic, through the iterator form.
        let p = Pipeline::new();
        let q = p
            .source(0u64..)
            .map(|x| {
                assert!(x != 300, "panic at {x}");
                x
            })
            .workers(4)
            .filter(|_| true);
        let r: Result<Vec<u64>, _> = p.run_iter(q).unwrap().collect();
        assert!(r.is_err());
        assert_no_skorche_threads("panic");

        // Output dropped early on an endless source.
        let p = Pipeline::new();
        let q = p.source(0u64..).map(|x| x * 2).workers(2);
        let first: Vec<_> = p.run_iter(q).unwrap().take(50).collect();
        assert_eq!(first.len(), 50);
        assert_no_skorche_threads("dropped output");

        // A declared output nobody takes is drained, then its drain thread is joined.
        let p = Pipeline::new();
        let q = p.source(0..5_000u64).map(|x| x);
        let _never_taken = p.output(q);
        p.run().unwrap();
        assert_no_skorche_threads("untaken output");

        // While a run is going, its threads do show up (the count is meaningful).
        let p = Pipeline::new();
        let q = p.source(0u64..).map(|x| x).workers(2);
        let mut out = p.run_iter(q).unwrap();
        out.next().unwrap().unwrap();
        // A thread takes its name once it runs: on a loaded machine a worker may not have
        // been scheduled yet when the first item arrives.
        let named_by = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut during = skorche_threads();
        while during.len() < 3 && std::time::Instant::now() < named_by {
            std::thread::sleep(std::time::Duration::from_millis(10));
            during = skorche_threads();
        }
        drop(out);
        assert!(during.len() >= 3, "threads during a run: {during:?}");
        assert_no_skorche_threads("after dropping a running output");
    });
}
