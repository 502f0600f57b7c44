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

impl Pipeline {
    /// Workers the autoscaler may run in all, over the stages declared with a range
    /// ([`Queue::workers`](crate::Queue::workers)`(1..=8)`); default: the machine's cores.
    /// Stages with a fixed count are not counted. Each sized stage starts with an even
    /// share of it (within its range).
    ///
    /// # Panics
    /// If `n` is 0.
    #[track_caller]
    pub fn worker_budget(&self, n: usize) -> &Self {
        assert!(
            n > 0,
            "worker_budget(0): the autoscaler needs at least one worker"
        );
        self.graph().borrow_mut().worker_budget = Some(n);
        self
    }

    /// How often the autoscaler looks at the load and takes at most one step (default
    /// 1 s). A step is judged two periods later and reverted if it did not help; a stage
    /// shrinks after idling for five periods. Every step is in
    /// [`Report::scaling`](crate::Report::scaling).
    ///
    /// ```
    /// use std::time::Duration;
    /// use skorche_core::Pipeline;
    ///
    /// let p = Pipeline::new();
    /// p.worker_budget(4).autoscale_period(Duration::from_millis(50));
    /// let slow = p.source(0..400u32).map(|n| {
    ///     std::thread::sleep(Duration::from_millis(2));
    ///     n
    /// });
    /// let out = slow.name("slow").workers(1..=4);
    /// let report = p.run_iter(out)?.collect_report()?.1;
    /// assert!(report.final_workers("slow").is_some());
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `period` is zero.
    #[track_caller]
    pub fn autoscale_period(&self, period: std::time::Duration) -> &Self {
        assert!(
            !period.is_zero(),
            "autoscale_period(0): the autoscaler needs a period"
        );
        self.graph().borrow_mut().autoscale_period = Some(period);
        self
    }

    /// The autoscaler only recommends: stages keep their starting share of the budget, and
    /// the changes it would make are in [`Report::scaling`](crate::Report::scaling) with
    /// `applied: false`.
    pub fn autoscale_passive(&self) -> &Self {
        self.graph().borrow_mut().autoscale_passive = true;
        self
    }
}
