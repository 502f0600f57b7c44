"""Functions the tests run in worker processes by reference (``helpers:double``)."""

import os
import signal
from pathlib import Path


def double(x):
    return 2 * x


def fail_on_seven(x):
    if x == 7:
        raise ValueError("seven")
    return x


_attempts: dict = {}


def flaky(x):
    """Fails the first attempt at each item in this worker process."""
    _attempts[x] = _attempts.get(x, 0) + 1
    if _attempts[x] == 1:
        raise RuntimeError(f"first attempt at {x}")
    return x


def die_on_five(x):
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def die_once(arg):
    """Kills its worker the first time it sees item 5 (``arg`` is ``(x, flag_path)``)."""
    x, flag = arg
    if x == 5 and not Path(flag).exists():
        Path(flag).write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def pid_of(_):
    return os.getpid()
