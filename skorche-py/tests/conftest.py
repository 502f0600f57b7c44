import os

import pytest


def children(pid: int | None = None) -> list[int]:
    """The live child processes of ``pid`` (default: this process)."""
    pid = pid or os.getpid()
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def shm_entries() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@pytest.fixture
def no_leaks():
    """Checks that the test leaves no child process, thread or /dev/shm entry behind."""
    import gc
    import time

    before_threads, before_shm = threads(), shm_entries()
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (children() or threads() > before_threads):
        time.sleep(0.05)
    assert children() == [], "worker processes left behind"
    assert threads() <= before_threads, f"threads left: {threads()} > {before_threads}"
    assert shm_entries() <= before_shm, f"/dev/shm entries left: {shm_entries() - before_shm}"
