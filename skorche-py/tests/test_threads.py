"""Thread stages: persistent thread states, the GIL released while waiting, bounded queues."""

import threading
import time

import skorche as sk


def test_threading_local_survives_between_calls(no_leaks):
    local = threading.local()

    def count(x):
        local.n = getattr(local, "n", 0) + 1
        return threading.get_ident(), local.n

    seen = list(sk.thread.map(range(2000), count, workers=2))
    per_thread: dict[int, list[int]] = {}
    for ident, n in seen:
        per_thread.setdefault(ident, []).append(n)
    # Each worker thread counts 1, 2, 3, ... through the whole run: its local survived.
    assert sum(len(v) for v in per_thread.values()) == 2000
    for counts in per_thread.values():
        assert sorted(counts) == list(range(1, len(counts) + 1))
    assert threading.get_ident() not in per_thread


def test_gil_is_released_while_the_reader_waits(no_leaks):
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        # The reader waits ~0.3 s for slow items; a Python thread must run meanwhile.
        out = list(sk.thread.map(range(6), lambda x: time.sleep(0.05) or x, workers=1))
    finally:
        stop.set()
        t.join()
    assert out == list(range(6))
    assert len(ticks) > 50


def test_slow_functions_run_in_parallel(no_leaks):
    started = time.monotonic()
    list(sk.thread.map(range(16), lambda x: time.sleep(0.05), workers=8))
    assert time.monotonic() - started < 16 * 0.05 / 2


def test_a_slow_reader_bounds_what_is_pulled(no_leaks):
    pulled = []

    def source():
        for i in range(100_000):
            pulled.append(i)
            yield i

    stage = sk.thread.map(source(), lambda x: x, workers=2, maxsize=4)
    for i, _ in enumerate(stage):
        if i == 10:
            time.sleep(0.3)
            break
    # Bounded queues: the source ran only a little ahead of the reader.
    assert len(pulled) < 5_000
    stage.close()


def test_each_and_flat_map_and_filter_on_threads(no_leaks):
    seen = []
    s = sk.thread.each(range(10), seen.append, workers=2)
    s = sk.thread.flat_map(s, lambda x: [x] * (x % 3), workers=2)
    s = sk.thread.filter(s, lambda x: x % 2 == 0, workers=2)
    assert sorted(s) == sorted(y for x in range(10) for y in [x] * (x % 3) if y % 2 == 0)
    assert sorted(seen) == list(range(10))
