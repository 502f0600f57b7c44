"""Process stages: functions by reference or by value, zero-copy values, nothing left."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import skorche as sk

import helpers
from conftest import children


def test_function_by_reference_runs_in_other_processes(no_leaks):
    pids = set(sk.process.map(range(200), helpers.pid_of, workers=2))
    assert len(pids) >= 1 and sk.process  # ran somewhere
    import os
    assert os.getpid() not in pids
    assert sorted(sk.process.map(range(10), helpers.double, workers=2)) == [2 * x for x in range(10)]


def test_lambda_and_closure(no_leaks):
    offset = 10
    assert sorted(sk.process.map(range(5), lambda x: x + offset)) == [10, 11, 12, 13, 14]

    def make(k):
        return lambda x: x * k

    assert sorted(sk.process.map(range(5), make(3), workers=2)) == [0, 3, 6, 9, 12]


def test_main_module_function_through_cloudpickle(tmp_path):
    script = tmp_path / "main_fn.py"
    script.write_text(textwrap.dedent("""
        import skorche as sk

        def triple(x):
            return 3 * x

        if __name__ == "__main__":
            print(sorted(sk.process.map(range(5), triple, workers=2)))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[0, 3, 6, 9, 12]"


def test_values_of_every_lane_round_trip(no_leaks):
    values = [None, True, False, 0, -1, 2**62, 2**80, 1.5, "text", "ü", b"small", (1, "a"),
              {"k": [1, 2]}, bytearray(b"xy"), b"x" * (1 << 17), np.arange(10),
              np.arange(100_000, dtype=np.float64), {"arr": np.ones((300, 300))}]
    out = list(sk.process.map(sk.order.load(
        sk.thread.map(order := sk.order.save(values, maxsize=64), lambda x: x), order),
        lambda x: x))
    assert len(out) == len(values)
    for got, want in zip(out, values):
        if isinstance(want, np.ndarray):
            assert np.array_equal(got, want)
        elif isinstance(want, dict) and "arr" in want:
            assert np.array_equal(got["arr"], want["arr"])
        elif isinstance(want, bytes) and len(want) > 65536:
            assert isinstance(got, memoryview) and got.readonly and bytes(got) == want
        else:
            assert got == want and type(got) is type(want), (got, want)


def test_arrays_are_zero_copy_views_that_outlive_the_pipeline(no_leaks):
    def make(i):
        return np.full((512, 1024), i, dtype=np.uint16)  # 1 MiB

    stage = sk.process.map(range(16), make, workers=2)
    arrays = list(stage)
    assert stage.report() is not None  # the run has ended
    for a in arrays:
        assert not a.flags.writeable
        assert (a == a[0, 0]).all()
        owner = a
        while isinstance(owner, (np.ndarray, memoryview)):
            owner = owner.base if isinstance(owner, np.ndarray) else owner.obj
        assert isinstance(owner, sk.Record) and owner.in_shared_memory
    assert sorted(int(a[0, 0]) for a in arrays) == list(range(16))
    with pytest.raises(ValueError):
        arrays[0][0, 0] = 1  # read-only: other views may read the same memory


def test_large_bytes_come_back_as_read_only_memoryviews(no_leaks):
    views = list(sk.process.map(range(4), lambda i: bytes([i]) * (1 << 20), workers=2))
    assert sorted(v[0] for v in views) == [0, 1, 2, 3]
    assert all(isinstance(v, memoryview) and v.readonly and len(v) == 1 << 20 for v in views)
    assert np.frombuffer(views[0], dtype=np.uint8).sum() == views[0][0] * (1 << 20)


def test_large_inputs_reach_workers(no_leaks):
    arrays = [np.full(1 << 18, i, dtype=np.int64) for i in range(8)]  # 2 MiB each
    assert sorted(sk.process.map(arrays, lambda a: int(a.sum()) // len(a), workers=2)) == \
        list(range(8))


def test_held_views_never_stall_the_ring(tmp_path):
    # Every array is kept while more are read: their records fill the 8 MiB ring, the
    # worker waits ring_wait and sends the rest through the socket. Without the wait limit
    # this hangs (run in a child with a timeout, so a hang fails instead of blocking).
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, skorche as sk
        kept = list(sk.process.map(range(40), lambda i: np.full(1 << 20, i, np.uint8),
                                   workers=1, ring_capacity=8 << 20, ring_wait=0.05))
        assert sorted(int(a[0]) for a in kept) == list(range(40))
        print("ok", sum(a.base is not None for a in kept))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_no_worker_left_after_a_dropped_stage():
    stage = sk.process.map(iter(range(10**9)), lambda x: x, workers=2)
    assert next(stage) is not None
    assert len(children()) >= 2
    stage.close()
    assert children() == []


def test_large_inputs_arrive_as_bytes_and_writable_arrays(no_leaks):
    def double_bytes(b):
        return len(b + b)  # a memoryview would not support +

    def bump(a):
        a += 1  # in place: a read-only view would refuse
        return int(a.sum())

    assert list(sk.process.map([b"y" * (1 << 18)], double_bytes)) == [1 << 19]
    assert list(sk.process.map([np.zeros(1 << 17)], bump)) == [1 << 17]
