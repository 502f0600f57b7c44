"""Stages: lazy iterables that describe a pipeline, and the builder that runs them.

A stage is declared by a call (``sk.map(src, f)``) and runs on its first ``next``. At
that point the stages it reads from are gathered into one skorche pipeline and started:

- a stage read by more than one consumer, or already running, is not part of the new
  pipeline: the new pipeline pulls it as a Python iterator (tinypl's shared pulls);
- a group of plain stages (``map``, ``filter``, ``flat_map``, ``batch``, ``each`` without
  workers) fed by Python iterables only runs lazily in the caller's thread, item by item,
  exactly as tinypl runs it: there is nothing to run in parallel;
- anything else (a ``thread`` or ``process`` stage, ``order``, markers, ``split``,
  ``merge``, ``zip``, ``tee``) makes the whole group one skorche pipeline on skorche's
  threads and worker processes, read a chunk at a time with the GIL released.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
import weakref
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from . import _skorche

#: Runs not yet read to their end; closed at interpreter exit, before threads are torn down.
_live_runs: "weakref.WeakSet[Any]" = weakref.WeakSet()


@atexit.register
def _close_live_runs() -> None:
    for run in list(_live_runs):
        run.close()


_sigint_installed = False
_starting = threading.RLock()


def _install_sigint() -> None:
    """Ctrl-C closes every live run (threads and worker processes end, rings are unmapped),
    then does what it did before: ``KeyboardInterrupt`` by default, or the program's own
    handler. Installed once, from the main thread, at the first run; a program that
    ignores SIGINT keeps ignoring it."""
    global _sigint_installed
    if _sigint_installed or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        return

    def on_sigint(signum: int, frame: Any) -> Any:
        _close_live_runs()
        if callable(previous):
            return previous(signum, frame)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the default: die by the signal
        os.kill(os.getpid(), signal.SIGINT)
        return None

    signal.signal(signal.SIGINT, on_sigint)
    _sigint_installed = True


class _Build:
    """One pipeline being declared: which stage became which queue."""

    def __init__(self) -> None:
        self.graph = _skorche.Graph()
        self.queues: dict[int, Any] = {}
        self.groups: dict[int, Any] = {}
        self.orders: dict[int, int] = {}
        self.stages: list["Stage"] = []

    def queue(self, node: Any) -> int:
        if isinstance(node, Stage) and not node._external():
            key = id(node)
            if key not in self.queues:
                self.stages.append(node)
                self.queues[key] = node._declare(self)
            return self.queues[key]
        # A Python iterable, or a stage pulled as one: a source of this pipeline.
        source = _pull(node) if isinstance(node, Stage) else node
        return self.graph.source(source)


def _pull(stage: "Stage") -> Iterator[Any]:
    # A generator, so declaring the source does not start the stage: it starts on the
    # first pull.
    while True:
        try:
            item = next(stage)
        except StopIteration:
            return
        yield item


class Stage:
    """A lazy iterable over a pipeline stage's output (see the module documentation)."""

    _plain = False

    def __init__(self, parents: Sequence[Any], name: Optional[str] = None) -> None:
        self._parents = tuple(parents)
        self._consumers = 0
        self._it: Optional[Iterator[Any]] = None
        self._run: Any = None
        self._name = name
        for p in self._parents:
            if isinstance(p, Stage):
                p._consumers += 1

    # --- declaring ---------------------------------------------------------------------

    def _declare(self, build: _Build) -> int:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def _lazy(self, inputs: list[Iterator[Any]]) -> Iterator[Any]:  # pragma: no cover
        raise NotImplementedError

    def _external(self) -> bool:
        """Whether another pipeline reads this stage as a Python iterator."""
        return self._it is not None or self._consumers > 1

    def _segment(self) -> list["Stage"]:
        """The stages (this one and its ancestors) that would run in this stage's pipeline."""
        seen: dict[int, Stage] = {}

        def walk(node: Any, top: bool) -> None:
            if not isinstance(node, Stage) or (not top and node._external()):
                return
            if id(node) in seen:
                return
            seen[id(node)] = node
            for p in node._parents:
                walk(p, False)
            for p in node._extra_inputs():
                walk(p, False)

        walk(self, True)
        return list(seen.values())

    def _extra_inputs(self) -> Sequence[Any]:
        return ()

    # --- running -----------------------------------------------------------------------

    def _start(self) -> Iterator[Any]:
        if self._it is not None:
            return self._it
        with _starting:  # two threads pulling a stage first at once start one run
            if self._it is not None:
                return self._it
            return self._start_now()

    def _start_now(self) -> Iterator[Any]:
        if all(s._plain for s in self._segment()):
            self._it = self._lazy_iter()
            return self._it
        build = _Build()
        q = build.queue(_Top(self))
        _install_sigint()
        run = build.graph.run(q)
        _live_runs.add(run)
        self._run = run
        self._it = run
        return run

    def _lazy_iter(self) -> Iterator[Any]:
        inputs = []
        for p in self._parents:
            if isinstance(p, Stage) and not p._external():
                inputs.append(p._lazy_iter())
            elif isinstance(p, Stage):
                inputs.append(_pull(p))
            else:
                inputs.append(iter(p))
        return self._lazy(inputs)

    def __iter__(self) -> Iterator[Any]:
        return self._start()

    def __next__(self) -> Any:
        return next(self._it if self._it is not None else self._start())

    # --- looking at it -----------------------------------------------------------------

    def to_dot(self) -> str:
        """The pipeline this stage would run, as Graphviz DOT (nothing runs)."""
        build = _Build()
        build.queue(_Top(self))
        return build.graph.to_dot()

    def to_mermaid(self) -> str:
        """The pipeline this stage would run, as a Mermaid flowchart (nothing runs)."""
        build = _Build()
        build.queue(_Top(self))
        return build.graph.to_mermaid()

    def report(self) -> Optional[dict[str, Any]]:
        """The run's report once this stage has been read to its end, else ``None``.

        Per stage: items in and out, errors, busy and wall time, mean queue depth and
        throughput (the same fields as the Rust ``Report``, as JSON).
        """
        if self._run is None:
            return None
        text = self._run.report_json()
        return None if text is None else json.loads(text)

    def report_table(self) -> Optional[str]:
        """The report as a table, one row per stage (``None`` before the end)."""
        return None if self._run is None else self._run.report_table()

    def close(self) -> None:
        """Stops this stage's run at once: every thread and worker process ends."""
        if self._run is not None:
            self._run.close()

    def __repr__(self) -> str:
        return f"<skorche.{type(self).__name__} {self._name or ''}>".replace(" >", ">")


class _Top(Stage):
    """The output of a build: the stage itself, declared even if others read it too."""

    def __init__(self, stage: Stage) -> None:
        self._parents = (stage,)
        self._consumers = 0
        self._it = None
        self._run = None
        self._name = None
        self._stage = stage

    def _external(self) -> bool:
        return False

    def _declare(self, build: _Build) -> int:
        stage = self._stage
        key = id(stage)
        if key not in build.queues:
            build.stages.append(stage)
            build.queues[key] = stage._declare(build)
        return build.queues[key]


def _name_of(f: Optional[Callable[..., Any]], default: str) -> str:
    if f is None:
        return default
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or default
