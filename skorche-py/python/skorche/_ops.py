"""The stage kinds: each declares itself into a skorche pipeline, and the plain ones also
know how to run lazily in the caller (see ``_stage``)."""

from __future__ import annotations

import itertools
import pickle
import sys
from typing import Any, Callable, Iterator, Optional, Sequence

from ._stage import Stage, _Build, _name_of


class Policy:
    """A stage's size and failure policy, checked where the stage is declared."""

    def __init__(self, workers: Optional[int], maxsize: Optional[int], retries: int = 0,
                 on_error: str = "fail", dead_letter: Optional[Callable[[Any], Any]] = None,
                 max_failures: Optional[int] = None, backoff: Any = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers={workers}: a stage needs at least one worker")
        if maxsize is not None and maxsize < 1:
            raise ValueError(f"maxsize={maxsize}: a queue holds at least one item")
        if on_error not in ("fail", "skip"):
            raise ValueError(f'on_error={on_error!r}: expected "fail" or "skip" '
                             "(or pass dead_letter=callback)")
        if retries < 0:
            raise ValueError(f"retries={retries}: retries count from 0")
        self.workers = workers
        self.maxsize = maxsize
        self._args = {"retries": retries, "on_error": on_error, "dead_letter": dead_letter,
                      "max_failures": max_failures, "backoff": _backoff(backoff)}

    def is_default(self) -> bool:
        """No workers or queue size asked for, no failure policy."""
        a = self._args
        return (self.workers is None and self.maxsize is None and a["retries"] == 0
                and a["on_error"] == "fail" and a["dead_letter"] is None
                and a["max_failures"] is None and a["backoff"] is None)

    def args(self) -> dict[str, Any]:
        return self._args


def _backoff(backoff: Any) -> Optional[tuple[float, float, bool]]:
    """``0.1``: a fixed delay between retries; ``(0.01, 1.0)``: exponential, capped."""
    if backoff is None:
        return None
    if isinstance(backoff, (int, float)):
        return (float(backoff), float(backoff), False)
    initial, cap = backoff
    return (float(initial), float(cap), True)


class Source(Stage):
    """A Python iterable as a stage."""

    _plain = True

    def __init__(self, iterable: Any, name: Optional[str] = None, maxsize: Optional[int] = None):
        super().__init__((), name)
        self._iterable = iterable
        self._maxsize = maxsize

    def _declare(self, build: _Build) -> int:
        return build.graph.source(self._iterable, name=self._name, maxsize=self._maxsize)

    def _lazy_iter(self) -> Iterator[Any]:
        return iter(self._iterable)


class ThreadStage(Stage):
    """``map``, ``filter``, ``flat_map``, ``each`` or a prefetching queue, on threads."""

    def __init__(self, src: Any, kind: str, f: Optional[Callable[..., Any]], *,
                 workers: Optional[int] = None, maxsize: Optional[int] = None,
                 name: Optional[str] = None, plain: bool = False, **policy: Any) -> None:
        super().__init__((src,), name or _name_of(f, kind))
        self._policy = Policy(workers, maxsize, **policy)
        self._kind = kind
        self._f = f
        # Plain (no workers asked for, no failure policy): may run lazily in the caller.
        self._plain = plain and self._policy.is_default()

    def _declare(self, build: _Build) -> int:
        q = build.queue(self._parents[0])
        return build.graph.thread_stage(
            q, self._kind, self._f, self._policy.args(), workers=self._policy.workers or 1,
            maxsize=self._policy.maxsize, name=self._name)

    def _lazy(self, inputs: list[Iterator[Any]]) -> Iterator[Any]:
        src, f, kind = inputs[0], self._f, self._kind
        if kind == "map":
            return map(f, src)  # type: ignore[arg-type]
        if kind == "filter":
            return filter(f, src)
        if kind == "flat_map":
            if f is None:
                return itertools.chain.from_iterable(src)
            return itertools.chain.from_iterable(map(f, src))
        if kind == "each":
            def each(src: Iterator[Any] = src) -> Iterator[Any]:
                for x in src:
                    f(x)  # type: ignore[misc]
                    yield x
            return each()
        return src


class Batch(Stage):
    """Lists of ``n`` items; the last may be shorter."""

    _plain = True

    def __init__(self, src: Any, n: int) -> None:
        if n < 1:
            raise ValueError(f"batch size {n}: a batch holds at least one item")
        super().__init__((src,), f"batch({n})")
        self._n = n

    def _declare(self, build: _Build) -> int:
        return build.graph.batch(build.queue(self._parents[0]), self._n)

    def _lazy(self, inputs: list[Iterator[Any]]) -> Iterator[Any]:
        src, n = inputs[0], self._n

        def batches() -> Iterator[list[Any]]:
            while True:
                chunk = list(itertools.islice(src, n))
                if not chunk:
                    return
                yield chunk
        return batches()


def _pickle_function(f: Callable[..., Any]) -> bytes:
    """By reference (``module:qualname``) when a worker can import it; else cloudpickle."""
    module = getattr(f, "__module__", None)
    if module not in (None, "__main__"):
        try:
            data = pickle.dumps(f, protocol=5)
            pickle.loads(data)  # the reference resolves here, so it will in the worker
            return data
        except Exception:
            pass
    import cloudpickle

    return cloudpickle.dumps(f, protocol=5)


class ProcessStage(Stage):
    """``map`` in worker processes started as ``python -m skorche._worker``."""

    def __init__(self, src: Any, f: Callable[..., Any], *, workers: int = 1,
                 maxsize: Optional[int] = None, name: Optional[str] = None,
                 restart_workers: int = 0, shm_threshold: int = 64 * 1024,
                 ring_capacity: Optional[int] = None, ring_wait: float = 0.2,
                 poison_after: Optional[int] = None, timeout: Optional[float] = None,
                 **policy: Any) -> None:
        super().__init__((src,), name or _name_of(f, "process.map"))
        self._policy = Policy(workers, maxsize, **policy)
        if not callable(f):
            raise TypeError(f"process.map needs a callable, got {type(f).__name__}")
        self._f = f
        self._function = _pickle_function(f)
        self._process = {
            "raw_threshold": shm_threshold, "shm_threshold": shm_threshold,
            "ring_capacity": ring_capacity, "ring_wait_ms": int(ring_wait * 1000),
            "restart_workers": restart_workers, "poison_after": poison_after,
            "item_timeout": timeout,
        }

    def _declare(self, build: _Build) -> int:
        q = build.queue(self._parents[0])
        return build.graph.process_stage(
            q, self._function, _name_of(self._f, "function"),
            [p for p in sys.path if isinstance(p, str)],
            (sys.version_info[0], sys.version_info[1]), sys.executable, self._policy.args(),
            workers=self._policy.workers or 1, maxsize=self._policy.maxsize, name=self._name,
            **self._process)


class OrderSave(Stage):
    """Numbers the items, for an ``order.load`` downstream (``maxsize`` bounds the gap)."""

    def __init__(self, src: Any, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"order.save maxsize={maxsize}: at least one item must pass")
        super().__init__((src,), "order.save")
        self._maxsize = maxsize

    def _declare(self, build: _Build) -> int:
        q, order = build.graph.order_save(build.queue(self._parents[0]), self._maxsize)
        build.orders[id(self)] = order
        return q


class OrderLoad(Stage):
    """Puts items back in the order ``order`` saw them."""

    def __init__(self, src: Any, order: OrderSave) -> None:
        if not isinstance(order, OrderSave):
            raise TypeError("order.load needs the stage order.save returned")
        super().__init__((src,), "order.load")
        self._order = order

    def _extra_inputs(self) -> Sequence[Any]:
        return (self._order,)

    def _declare(self, build: _Build) -> int:
        q = build.queue(self._parents[0])
        order = build.orders.get(id(self._order))
        if order is None:
            raise RuntimeError(
                "order.load: its order.save is not part of this pipeline (it runs in "
                "another one, read by several consumers or already started)")
        return build.graph.order_load(q, order)


class Marker:
    """Names the markers one ``marker.insert_periodic`` inserts."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._build: Optional[_Build] = None

    def _in(self, build: _Build) -> Any:
        if self._build is not build or self._handle is None:
            raise RuntimeError("this marker is inserted in another pipeline than the one "
                               "reading it")
        return self._handle

    def __repr__(self) -> str:
        return "<skorche.Marker>"


class InsertPeriodic(Stage):
    def __init__(self, src: Any, n: int, after: bool, marker: Marker) -> None:
        if n < 1:
            raise ValueError(f"insert_periodic n={n}: at most one marker per item")
        super().__init__((src,), "marker.insert_periodic")
        self._n = n
        self._after = after
        self._marker = marker

    def _declare(self, build: _Build) -> int:
        q, handle = build.graph.insert_periodic(build.queue(self._parents[0]), self._n,
                                                self._after)
        self._marker._handle = handle
        self._marker._build = build
        return q


class OnMarker(Stage):
    def __init__(self, src: Any, callback: Callable[[], Any], marker: Marker) -> None:
        super().__init__((src,), "marker.on")
        self._callback = callback
        self._marker = marker

    def _declare(self, build: _Build) -> int:
        q = build.queue(self._parents[0])
        return build.graph.on_marker(q, self._marker._in(build), self._callback)


class Group(Stage):
    """One declaration with several output queues (``split``, ``tee``)."""

    def __init__(self, src: Any, kind: str, arg: Any) -> None:
        super().__init__((src,), kind)
        self._kind = kind
        self._arg = arg

    def _external(self) -> bool:
        return False

    def queues(self, build: _Build) -> tuple[int, ...]:
        key = id(self)
        if key not in build.groups:
            q = build.queue(self._parents[0])
            if self._kind == "split":
                build.groups[key] = tuple(build.graph.split(q, self._arg))
            else:
                build.groups[key] = tuple(build.graph.tee(q, self._arg))
        return build.groups[key]


class Branch(Stage):
    def __init__(self, group: Group, index: int) -> None:
        super().__init__((group,), f"{group._kind}[{index}]")
        self._group = group
        self._index = index

    def _declare(self, build: _Build) -> int:
        return self._group.queues(build)[self._index]


class Merge(Stage):
    def __init__(self, srcs: Sequence[Any]) -> None:
        if not srcs:
            raise ValueError("merge needs at least one stage")
        super().__init__(tuple(srcs), "merge")

    def _declare(self, build: _Build) -> int:
        return build.graph.merge([build.queue(s) for s in self._parents])


class Zip(Stage):
    def __init__(self, a: Any, b: Any) -> None:
        super().__init__((a, b), "zip")

    def _declare(self, build: _Build) -> int:
        return build.graph.zip(build.queue(self._parents[0]), build.queue(self._parents[1]))
