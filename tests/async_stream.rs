//! `Output` as a `futures_core::Stream` and `Pipeline::source_stream`, on tokio runtimes
//! (feature `stream`, on by default).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use skorche::{Pipeline, PipelineError};

fn slow_double(x: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(30));
    x * 2
}

/// On a single-threaded runtime, a blocking read would starve every other task until the
/// stream ended; the stream must instead yield the thread while it waits.
#[test]
fn awaiting_results_never_blocks_the_runtime_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(5));
            loop {
                every.tick().await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let p = Pipeline::new();
        let out = p.source(0..10u32).map(slow_double);
        let mut results = p.run_iter(out).unwrap().into_stream();
        let mut got = Vec::new();
        while let Some(item) = results.next().await {
            got.push(item.unwrap());
        }
        let ticked_while_reading = ticks.load(Ordering::Relaxed);
        ticker.abort();
        assert_eq!(got, (0..10).map(|x| x * 2).collect::<Vec<_>>());
        // 10 items of 30 ms: about 60 ticks of 5 ms happen while the stream waits.
        assert!(
            ticked_while_reading >= 10,
            "the runtime thread was blocked: {ticked_while_reading} ticks in 300 ms"
        );
        assert!(results.report().is_some(), "the report is there at the end");
    });
}

#[test]
fn a_failed_run_yields_its_error_then_ends() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let p = Pipeline::new();
        let out = p.source(0..100u32).try_map(|x| {
            if x == 7 {
                Err(format!("item {x} is bad"))
            } else {
                Ok(x)
            }
        });
        let mut results = p.run_iter(out).unwrap().into_stream();
        let mut items = 0;
        let mut error = None;
        while let Some(item) = results.next().await {
            match item {
                Ok(_) => items += 1,
                Err(e) => error = Some(e),
            }
        }
        let error = error.expect("the run's error is yielded");
        assert!(error.to_string().contains("item 7 is bad"), "{error}");
        assert!(items <= 7);
        assert!(results.next().await.is_none(), "fused after the end");
    });
}

#[test]
fn dropping_the_stream_early_stops_an_endless_pipeline() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let finished = rt.block_on(async {
        let p = Pipeline::new();
        let out = p.source(0u64..).map(|x| x + 1);
        let mut results = p.run_iter(out).unwrap().into_stream();
        let first: Vec<u64> = (&mut results).take(5).map(Result::unwrap).collect().await;
        assert_eq!(first, [1, 2, 3, 4, 5]);
        let started = Instant::now();
        drop(results);
        started.elapsed()
    });
    assert!(finished < Duration::from_secs(10), "drop took {finished:?}");
}

#[test]
fn polled_then_iterated_yields_every_item_once_in_order() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = Pipeline::new();
    let out = p.source(0..200u32).map(|x| x + 1).workers(3).ordered();
    let mut results = p.run_iter(out).unwrap();
    let head: Vec<u32> = rt.block_on(async {
        let mut head = Vec::new();
        for _ in 0..50 {
            // `Output` is a `Stream` itself; by path, since it is an `Iterator` too.
            head.push(StreamExt::next(&mut results).await.unwrap().unwrap());
        }
        head
    });
    // Iterator methods by path too: `StreamExt` is in scope in this file.
    let tail: Vec<u32> = Iterator::map(&mut results, Result::unwrap).collect();
    let all: Vec<u32> = head.into_iter().chain(tail).collect();
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
    assert!(results.report().is_some());
}

#[test]
fn an_async_source_feeds_a_pipeline_from_tokio_tasks() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<u32>(8);
    rt.spawn(async move {
        for i in 0..100 {
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tx.send(i).await.unwrap();
        }
    });
    let items =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let p = Pipeline::new();
    let out = p.source_stream(items).map(|x| x * 3).workers(2).ordered();
    let got: Vec<u32> = Iterator::map(p.run_iter(out).unwrap(), Result::unwrap).collect();
    assert_eq!(got, (0..100).map(|x| x * 3).collect::<Vec<_>>());
}

/// Both ends async: the source is a stream and the results are awaited, on one runtime.
#[test]
fn a_stream_in_and_a_stream_out_on_one_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
        tokio::spawn(async move {
            for word in ["tokio", "and", "skorche"] {
                tx.send(word.to_string()).await.unwrap();
            }
        });
        let words =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
            );
        let p = Pipeline::new();
        let lens = p.source_stream(words).map(|w| w.len());
        let got: Vec<usize> = p
            .run_iter(lens)
            .unwrap()
            .into_stream()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(got, [5, 3, 7]);
    });
}

/// A stream with nothing ready must not keep a graceful stop waiting.
#[test]
fn a_stop_is_seen_while_the_async_source_waits() {
    let p = Pipeline::new();
    let out = p.source_stream(futures_util::stream::pending::<u32>());
    let results = p.run_iter(out).unwrap();
    let stop = results.stop_handle();
    let started = Instant::now();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
    });
    let got: Vec<Result<u32, PipelineError>> = Iterator::collect(results);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopping took {:?}",
        started.elapsed()
    );
    match got.as_slice() {
        [] | [Err(PipelineError::Interrupted(_))] => {}
        other => panic!("unexpected: {other:?}"),
    }
}
