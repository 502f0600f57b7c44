"""Stages in worker processes.

Workers are started as ``python -m skorche._worker`` (never forked), with the driver's
``sys.path``. The function travels by reference (``module:qualname``) when the worker can
import it, else by value through cloudpickle (lambdas, closures, functions of
``__main__``). Items are pickled (protocol 5); values from ``shm_threshold`` bytes on
cross through the worker's shared-memory ring: ``bytes`` as a read-only ``memoryview``,
numpy arrays (any pickle-5 out-of-band buffer) as read-only arrays over the ring record,
released when the last view dies. Inputs reach the function as plain pickle gives them
(``bytes`` stay ``bytes``, arrays are writable copies).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from ._ops import ProcessStage
from ._stage import Stage

__all__ = ["map"]


def map(pipe: Iterable[Any], f: Callable[[Any], Any], workers: int = 1,  # noqa: A001
        maxsize: Optional[int] = None, *, name: Optional[str] = None, retries: int = 0,
        on_error: str = "fail", dead_letter: Optional[Callable[[Any], Any]] = None,
        restart_workers: int = 0, shm_threshold: int = 64 * 1024,
        ring_capacity: Optional[int] = None, ring_wait: float = 0.2,
        max_failures: Optional[int] = None, backoff: Any = None,
        poison_after: Optional[int] = None, timeout: Optional[float] = None) -> Stage:
    """``f(x)`` for every item, in ``workers`` worker processes.

    - ``retries``, ``on_error="skip"``, ``dead_letter``: as in ``sk.thread.map``; the
      error's message carries the worker's Python traceback.
    - ``max_failures``, ``backoff``: as in ``sk.thread.map``.
    - ``restart_workers``: how many times a worker that died (killed, crashed) is replaced;
      its items are retried on the new worker. Without it a dead worker fails the run.
      ``poison_after=k``: an item on which ``k`` workers died in a row fails (default 3).
    - ``timeout``: seconds an item may take; a worker stuck longer is killed and the item
      fails, named.
    - ``shm_threshold``: values from this many bytes on travel through shared memory.
    - ``ring_capacity``: bytes of each worker's ring (default: the core's).
    - ``ring_wait``: seconds a worker waits for room in its ring (views you still hold pin
      their records) before sending a value through the socket instead: holding views
      slows a stage down, it never stops it.
    """
    return ProcessStage(pipe, f, workers=workers, maxsize=maxsize, name=name,
                        retries=retries, on_error=on_error, dead_letter=dead_letter,
                        restart_workers=restart_workers, shm_threshold=shm_threshold,
                        ring_capacity=ring_capacity, ring_wait=ring_wait,
                        max_failures=max_failures, backoff=backoff,
                        poison_after=poison_after, timeout=timeout)
