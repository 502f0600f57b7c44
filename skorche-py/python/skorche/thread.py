"""Stages on skorche's worker threads.

Each worker thread keeps one Python thread state for its whole life (``threading.local``
survives between calls) and holds the GIL only while it calls Python: a function that
releases the GIL (numpy, I/O, most C extensions) runs in parallel.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from ._ops import ThreadStage
from ._stage import Stage

__all__ = ["each", "filter", "flat_map", "map", "mutex", "queue"]


def map(pipe: Iterable[Any], f: Callable[[Any], Any], workers: int = 1,  # noqa: A001
        maxsize: Optional[int] = None, *, name: Optional[str] = None, retries: int = 0,
        on_error: str = "fail", dead_letter: Optional[Callable[[Any], Any]] = None,
        max_failures: Optional[int] = None, backoff: Any = None) -> Stage:
    """``f(x)`` for every item, on ``workers`` threads; ``maxsize`` bounds the output queue.

    A failure (an exception ``f`` raises) stops the pipeline with ``skorche.PipelineError``
    naming the stage, the item and the traceback, unless ``retries`` retries it (waiting
    ``backoff`` seconds between attempts, or ``(initial, cap)`` doubling),
    ``on_error="skip"`` drops the item, or ``dead_letter`` is called with a
    ``skorche.Failed`` (item, stage, message, attempts) for it. ``max_failures``: the run
    fails anyway once more items than that failed for good.
    """
    return ThreadStage(pipe, "map", f, workers=workers, maxsize=maxsize, name=name,
                       retries=retries, on_error=on_error, dead_letter=dead_letter,
                       max_failures=max_failures, backoff=backoff)


def filter(pipe: Iterable[Any], f: Callable[[Any], Any], workers: int = 1,  # noqa: A001
           maxsize: Optional[int] = None, **policy: Any) -> Stage:
    """The items for which ``f(x)`` is true, on ``workers`` threads."""
    return ThreadStage(pipe, "filter", f, workers=workers, maxsize=maxsize, **policy)


def flat_map(pipe: Iterable[Any], f: Callable[[Any], Iterable[Any]], workers: int = 1,
             maxsize: Optional[int] = None, **policy: Any) -> Stage:
    """Every item of ``f(x)``, on ``workers`` threads."""
    return ThreadStage(pipe, "flat_map", f, workers=workers, maxsize=maxsize, **policy)


def each(pipe: Iterable[Any], f: Callable[[Any], Any], workers: int = 1,
         maxsize: Optional[int] = None, **policy: Any) -> Stage:
    """Calls ``f(x)`` on ``workers`` threads and passes each item on."""
    return ThreadStage(pipe, "each", f, workers=workers, maxsize=maxsize, **policy)


def queue(pipe: Iterable[Any], workers: int = 1, maxsize: Optional[int] = None) -> Stage:
    """Prefetches items into a queue of ``maxsize`` (tinypl's ``thread.queue``)."""
    return ThreadStage(pipe, "identity", None, workers=workers, maxsize=maxsize,
                       name="queue")


def mutex(pipe: Iterable[Any]) -> Stage:
    """The stages before this one are pulled by one thread at a time. In skorche a source is
    always pulled by one thread, so this only marks the place (tinypl's ``thread.mutex``)."""
    return ThreadStage(pipe, "identity", None, plain=True, name="mutex")
