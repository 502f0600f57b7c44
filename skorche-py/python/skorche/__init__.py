"""skorche: data-processing pipelines on threads and worker processes, in tinypl's shape.

Each call declares a stage and returns a lazy iterable; nothing runs until the first item
is pulled (``for``, ``next``, ``list``)::

    import skorche as sk

    pipe = sk.thread.map(range(100), parse, workers=4)
    pipe = sk.process.map(pipe, heavy, workers=4)
    for x in pipe:
        ...

See ``sk.thread``, ``sk.process``, ``sk.order``, ``sk.marker`` and :class:`Pipeline`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from . import marker, order, process, thread
from ._failed import Failed
from ._ops import Batch, Branch, Group, Merge, Source, ThreadStage, Zip
from ._skorche import PipelineError, Record
from ._stage import Stage

__all__ = [
    "Failed", "Pipeline", "PipelineError", "Record", "Stage", "batch", "each", "filter",
    "flat_map", "flatten", "map", "marker", "merge", "order", "partition", "process",
    "source", "split", "tee", "thread", "unbatch", "zip",
]


def source(iterable: Iterable[Any], name: Optional[str] = None) -> Stage:
    """A stage over any iterable or iterator."""
    return Source(iterable, name)


def map(pipe: Iterable[Any], f: Callable[[Any], Any]) -> Stage:  # noqa: A001
    """``f(x)`` for every item (one worker; see ``sk.thread.map`` for more)."""
    return ThreadStage(pipe, "map", f, plain=True)


def filter(pipe: Iterable[Any], f: Callable[[Any], Any]) -> Stage:  # noqa: A001
    """The items for which ``f(x)`` is true."""
    return ThreadStage(pipe, "filter", f, plain=True)


def flat_map(pipe: Iterable[Any], f: Callable[[Any], Iterable[Any]]) -> Stage:
    """Every item of ``f(x)``, for every item."""
    return ThreadStage(pipe, "flat_map", f, plain=True)


def flatten(pipe: Iterable[Iterable[Any]]) -> Stage:
    """Every item of every item (markers pass in place)."""
    return ThreadStage(pipe, "flat_map", None, plain=True, name="flatten")


unbatch = flatten


def each(pipe: Iterable[Any], f: Callable[[Any], Any]) -> Stage:
    """Calls ``f(x)`` for every item and passes the item on."""
    return ThreadStage(pipe, "each", f, plain=True)


def batch(pipe: Iterable[Any], n: int) -> Stage:
    """Lists of ``n`` items (the last may be shorter)."""
    return Batch(pipe, n)


partition = batch


def split(pipe: Iterable[Any], pred: Callable[[Any], Any]) -> tuple[Stage, Stage]:
    """Two stages: the items where ``pred(x)`` is true, and the others. Read both in one
    pipeline (``merge`` or ``zip`` them, say)."""
    g = Group(pipe, "split", pred)
    return Branch(g, 0), Branch(g, 1)


def tee(pipe: Iterable[Any], n: int = 2) -> tuple[Stage, ...]:
    """``n`` stages, each with every item; the slowest sets the pace."""
    if n < 1:
        raise ValueError(f"tee({n}): at least one branch")
    g = Group(pipe, "tee", n)
    return tuple(Branch(g, i) for i in range(n))


def merge(*pipes: Iterable[Any]) -> Stage:
    """Every item of each stage, as they come."""
    return Merge(pipes)


def zip(a: Iterable[Any], b: Iterable[Any]) -> Stage:  # noqa: A001
    """Pairs ``(x, y)``, one item of each."""
    return Zip(a, b)


class Pipeline:
    """The graph operations as methods, and the report of the last stage it ran::

        p = sk.Pipeline()
        evens, odds = p.split(p.source(range(10)), lambda x: x % 2 == 0)
        out = p.merge(p.map(evens, half), odds)
        print(p.to_dot(out))
        print(sorted(p.run(out)), p.report())
    """

    def __init__(self) -> None:
        self._last: Optional[Stage] = None

    source = staticmethod(source)
    map = staticmethod(map)
    filter = staticmethod(filter)
    flat_map = staticmethod(flat_map)
    batch = staticmethod(batch)
    unbatch = staticmethod(unbatch)
    split = staticmethod(split)
    tee = staticmethod(tee)
    merge = staticmethod(merge)
    zip = staticmethod(zip)

    def to_dot(self, stage: Stage) -> str:
        """``stage``'s pipeline as Graphviz DOT, before it runs."""
        return stage.to_dot()

    def to_mermaid(self, stage: Stage) -> str:
        """``stage``'s pipeline as a Mermaid flowchart, before it runs."""
        return stage.to_mermaid()

    def run(self, stage: Stage) -> Stage:
        """Starts ``stage``'s pipeline and returns it to iterate; ``report()`` follows it."""
        self._last = stage
        iter(stage)
        return stage

    def report(self) -> Optional[dict[str, Any]]:
        """The report of the stage last given to ``run``, once read to its end."""
        return None if self._last is None else self._last.report()
