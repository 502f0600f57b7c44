#!/usr/bin/env python3
"""tinypl's benchmark cases, run against tinypl and against skorche, side by side.

Usage (in a venv with the skorche wheel, tinypl and numpy installed)::

    python skorche-py/bench/vs_tinypl.py            # every case, both libraries
    python skorche-py/bench/vs_tinypl.py --quick    # fewer items, one repeat

The cases are those of tinypl's own benchmark (``shared/peers/tinypl_bench.py``): each runs
in a fresh subprocess, REPEATS times, and reports the median run (pipeline construction and
teardown included) plus the min and max. The last column is skorche's speed over tinypl's,
from the same run of this script.
"""

import os
import statistics
import subprocess
import sys
import time

QUICK = "--quick" in sys.argv
N_THREAD = 50_000 if QUICK else 200_000
N_PROC = 20_000 if QUICK else 50_000
N_BIG = 50 if QUICK else 200
BIG = 8 * 1024 * 1024
RING = 128 * 1024 * 1024
WORKERS = 2
REPEATS = 1 if QUICK else 3
TIMEOUT_S = 120


def _make_big(i):
    import numpy as np
    return np.full(BIG, i % 251, dtype=np.uint8)


def _timed(make, consume, n):
    runs = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        pipe = make()
        consume(pipe)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), min(runs), max(runs)


def _sum_ints(n):
    def consume(pipe):
        total = count = 0
        for x in pipe:
            total += x
            count += 1
        assert count == n and total == n * (n - 1) // 2, (count, total)
    return consume


def _sum_big(pipe, read=lambda a: a):
    s = count = 0
    for a in pipe:
        a = read(a)
        assert a.nbytes == BIG
        s += int(a[0])
        count += 1
    assert count == N_BIG and s == sum(i % 251 for i in range(N_BIG))


def case(lib, name):
    if lib == "tinypl":
        import tinypl as pl
    else:
        import skorche as pl
    if name == "thread":
        return _timed(lambda: pl.thread.map(range(N_THREAD), lambda x: x, workers=WORKERS),
                      _sum_ints(N_THREAD), N_THREAD), N_THREAD, None
    if name == "process":
        return _timed(lambda: pl.process.map(range(N_PROC), lambda x: x, workers=WORKERS),
                      _sum_ints(N_PROC), N_PROC), N_PROC, None
    if name == "numpy":
        # tinypl: arrays pickled through its queues; skorche: its shared-memory ring.
        return _timed(lambda: pl.process.map(range(N_BIG), _make_big, workers=WORKERS),
                      _sum_big, N_BIG), N_BIG, BIG
    if name == "numpy-ring":
        # tinypl's SharedMemoryRingBuffer (worker copies in, main copies out); skorche as
        # above (its ring is the default path).
        if lib == "skorche":
            return case(lib, "numpy")
        import numpy as np

        def run():
            rb = pl.process.SharedMemoryRingBuffer(RING)

            def produce(i, rb=rb):
                return rb.write(np.full(BIG, i % 251, dtype=np.uint8))
            _sum_big(pl.process.map(range(N_BIG), produce, workers=WORKERS), rb.read)
            rb.close()
        runs = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            run()
            runs.append(time.perf_counter() - t0)
        return (statistics.median(runs), min(runs), max(runs)), N_BIG, BIG
    if name == "memcpy":
        import numpy as np
        src = np.full(BIG, 7, dtype=np.uint8)

        def run():
            for i in range(N_BIG):
                np.copy(np.full(BIG, i % 251, dtype=np.uint8))
        runs = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            run()
            runs.append(time.perf_counter() - t0)
        del src
        return (statistics.median(runs), min(runs), max(runs)), N_BIG, BIG
    raise ValueError(name)


CASES = [
    ("thread", f"thread.map identity, {N_THREAD} ints, workers={WORKERS}"),
    ("process", f"process.map identity (lambda), {N_PROC} ints, workers={WORKERS}"),
    ("numpy", f"process.map 8 MiB numpy arrays, {N_BIG} items, workers={WORKERS}"),
    ("numpy-ring", "same, tinypl through its SharedMemoryRingBuffer(128 MiB)"),
]


def _child(lib, name):
    (med, lo, hi), n, nbytes = case(lib, name)
    print(f"{med} {lo} {hi} {n} {nbytes or 0}")


def _run(lib, name):
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", lib, name]
                       + (["--quick"] if QUICK else []),
                       capture_output=True, text=True, timeout=TIMEOUT_S)
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"FAILED: {tail}"
    med, lo, hi, n, nbytes = r.stdout.split()
    med, lo, hi, n, nbytes = float(med), float(lo), float(hi), int(n), int(nbytes)
    rate = n / med
    text = f"{rate:>12,.0f} items/s"
    if nbytes:
        text += f" {n * nbytes / med / 1e9:5.2f} GB/s"
    return rate, text + f" (median {med:.3f}s, {lo:.3f}-{hi:.3f})"


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    import platform
    from importlib.metadata import version
    print(f"# tinypl {version('tinypl')} vs skorche {version('skorche')}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, repeats={REPEATS}")
    print(f"{'case':<62} | {'tinypl':<52} | {'skorche':<52} | skorche/tinypl")
    for name, title in CASES:
        t_rate, t_text = _run("tinypl", name)
        s_rate, s_text = _run("skorche", name)
        ratio = f"{s_rate / t_rate:6.1f}x" if t_rate and s_rate else "-"
        print(f"{title:<62} | {t_text:<52} | {s_text:<52} | {ratio}", flush=True)
    (med, _, _), n, nbytes = case("skorche", "memcpy")
    print(f"{'baseline: np.full + np.copy 8 MiB in one thread':<62} | "
          f"{n * nbytes / med / 1e9:5.2f} GB/s")


if __name__ == "__main__":
    main()
