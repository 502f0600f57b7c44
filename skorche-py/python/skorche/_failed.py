"""``Failed``: what a dead-letter callback receives."""

from __future__ import annotations

from typing import Any, NamedTuple


class Failed(NamedTuple):
    """An item whose task failed, with the stage, the message (the Python traceback) and
    the number of attempts made."""

    item: Any
    stage: str
    message: str
    attempts: int
