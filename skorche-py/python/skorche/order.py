"""Restoring input order after parallel stages.

``save`` numbers the items; ``load`` holds early items until every earlier one has
passed. At most ``maxsize`` items are between the two: a slow item makes ``save`` wait
instead of letting ``load``'s buffer grow.
"""

from __future__ import annotations

from typing import Any, Iterable

from ._ops import OrderLoad, OrderSave
from ._stage import Stage

__all__ = ["load", "save"]


def save(pipe: Iterable[Any], maxsize: int = 64) -> OrderSave:
    """Saves the order here; pass the returned stage to ``load`` too."""
    return OrderSave(pipe, maxsize)


def load(pipe: Iterable[Any], order: OrderSave) -> Stage:
    """Items in the order ``order`` saw them."""
    return OrderLoad(pipe, order)
