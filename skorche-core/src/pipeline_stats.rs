//! The pipeline's settings for measuring its runs.

use crate::pipeline::Pipeline;
use crate::render;
use crate::report::Report;

impl Pipeline {
    /// Whether runs keep live metrics (default: on): each worker's wait and task times,
    /// its live counts, and a task-time histogram, which [`crate::Running::stats`], the
    /// live view and the report's load figures and verdicts are made of.
    ///
    /// They cost next to nothing (no clock read and no shared write per item; the
    /// `bench_thread` example measures the ratio), so turn them off only to measure that.
    /// Off, the report still has counts, busy time and queue depths, but no load shares,
    /// task-time percentiles or verdicts.
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// let p = Pipeline::new();
    /// p.metrics(false);
    /// let out = p.source(0..100u32).map(|n| n + 1);
    /// let (_, report) = p.run_iter(out)?.collect_report()?;
    /// assert_eq!(report.stages[1].items_out, 100);
    /// assert_eq!(report.stages[1].task_p50, None);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn metrics(&self, on: bool) -> &Self {
        self.graph().borrow_mut().metrics_off = !on;
        self
    }

    /// Shows runs live on the terminal, one line per stage (see
    /// [`Running::show_progress`](crate::Running::show_progress), which this turns on for
    /// every start, `run` and `run_iter` included). Nothing is drawn when stderr is not a
    /// terminal.
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// let p = Pipeline::new();
    /// p.progress();
    /// let doubled = p.source(0..100u32).map(|n| n * 2);
    /// let report = p.run_iter(doubled)?.collect_report()?.1;
    /// assert_eq!(report.stages[1].items_out, 100);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn progress(&self) -> &Self {
        self.graph().borrow_mut().progress = true;
        self
    }
}

impl Pipeline {
    /// This declaration in Graphviz DOT, shaded by `report`, the report of a run of a
    /// pipeline declared the same way: stages are matched by name (see
    /// [`Report::to_dot`], which draws the graph that ran, when the pipeline was consumed
    /// by its run).
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// fn declare() -> (Pipeline, skorche_core::OutputPort<u32>) {
    ///     let p = Pipeline::new();
    ///     let out = p.source(0..100u32).map(|n| n * 2).name("double");
    ///     let port = p.output(out);
    ///     (p, port)
    /// }
    /// let (p, _) = declare();
    /// let report = p.run()?;
    /// let (again, _) = declare();
    /// assert!(again.to_dot_with(&report).contains("% busy"));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn to_dot_with(&self, report: &Report) -> String {
        render::to_dot(&render::Shape::of(&self.graph().borrow()), Some(report))
    }

    /// This declaration as a Mermaid flowchart, shaded by `report` like
    /// [`Pipeline::to_dot_with`].
    pub fn to_mermaid_with(&self, report: &Report) -> String {
        render::to_mermaid(&render::Shape::of(&self.graph().borrow()), Some(report))
    }
}
