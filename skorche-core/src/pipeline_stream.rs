//! Feeding a pipeline from an async `Stream` (feature `stream`).

use futures_core::Stream;

use crate::pipeline::Pipeline;
use crate::queue::Queue;
use crate::stage::source_stream::StreamSourceRunner;

impl Pipeline {
    /// A queue fed from an async [`Stream`], for applications whose items arrive through
    /// async code (a socket, a tokio channel, an HTTP body). Like [`Pipeline::source`] it
    /// pulls lazily, one item per free slot downstream. The stream is polled on the
    /// source's own thread, which sleeps until the stream's waker wakes it: no async
    /// runtime is needed to run the pipeline, and none is blocked. Streams whose I/O is
    /// driven by a runtime (tokio sockets and timers) keep working as long as that runtime
    /// runs; a channel receiver fed by async tasks is the usual bridge. A graceful stop is
    /// seen within 20 ms even while the stream has nothing ready.
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let (tx, rx) = tokio::sync::mpsc::channel::<u32>(4);
    /// rt.spawn(async move {
    ///     for i in 0..5 {
    ///         tx.send(i).await.unwrap();
    ///     }
    /// });
    /// let items = futures_util::stream::unfold(rx, |mut rx| async move {
    ///     rx.recv().await.map(|x| (x, rx))
    /// });
    /// let p = Pipeline::new();
    /// let out = p.source_stream(items).map(|x| x * 10);
    /// let got: Vec<u32> = p.run_iter(out)?.collect::<Result<_, _>>()?;
    /// assert_eq!(got, [0, 10, 20, 30, 40]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn source_stream<S>(&self, items: S) -> Queue<S::Item>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        let size_hint = items.size_hint();
        self.add_source(
            Box::new(StreamSourceRunner {
                stream: Box::pin(items),
            }),
            size_hint,
        )
    }
}
