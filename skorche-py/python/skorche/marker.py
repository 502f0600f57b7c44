"""Markers: virtual items that pass every stage in their place and fire callbacks."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ._ops import InsertPeriodic, Marker, OnMarker
from ._stage import Stage

__all__ = ["Marker", "insert_periodic", "on", "until"]


def insert_periodic(pipe: Iterable[Any], n: int, after: bool = True) -> tuple[Stage, Marker]:
    """Inserts a marker every ``n`` items, after them (or before); returns the stage and the
    marker's name for ``on`` and ``until``."""
    m = Marker()
    return InsertPeriodic(pipe, n, after, m), m


def on(pipe: Iterable[Any], callback: Callable[[], Any], marker: Marker) -> Stage:
    """Calls ``callback()`` each time ``marker`` passes this point."""
    return OnMarker(pipe, callback, marker)


def until(pipe: Stage, marker: Marker) -> Iterator[Any]:
    """The items of ``pipe`` up to the next ``marker`` (consumed) or its end."""
    run = pipe._start()
    if not hasattr(run, "next_until"):
        raise TypeError("marker.until reads a stage whose pipeline has markers")
    handle = marker._handle
    while True:
        item, ended = run.next_until(handle)
        if ended:
            return
        yield item
