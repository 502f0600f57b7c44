"""Every example of tinypl's README, translated to skorche (``pl`` -> ``sk``): same values."""

import itertools
import random
import time

import numpy as np
import skorche as sk


def test_basics(no_leaks):
    pipe = range(100)
    pipe = sk.map(pipe, lambda x: 3 * x + 1)
    pipe = sk.filter(pipe, lambda x: x % 2 == 0)
    pipe = sk.partition(pipe, 2)
    expected = [x for x in (3 * i + 1 for i in range(100)) if x % 2 == 0]
    expected = [expected[i:i + 2] for i in range(0, len(expected), 2)]
    assert next(pipe) == expected[0]
    assert list(pipe) == expected[1:]


def test_intermediate_stages_stay_valid():
    input = range(100)
    pipe_mapped = sk.map(input, lambda x: x + 1)
    pipe_even_only = sk.filter(pipe_mapped, lambda x: x % 2 == 0)
    pipe_odd_only = sk.filter(pipe_mapped, lambda x: x % 2 == 1)
    assert next(pipe_mapped) == 1
    assert next(pipe_odd_only) == 3  # discards 2
    assert next(pipe_even_only) == 4
    assert next(pipe_even_only) == 6  # discards 5
    assert next(pipe_mapped) == 7


def test_iterables_and_iterators():
    numbers = [0, 1, 2, 3, 4]
    pipe1 = sk.map(numbers, lambda x: x + 1)
    pipe2 = sk.map(numbers, lambda x: x + 1)
    assert next(pipe1) == 1
    assert next(pipe2) == 1  # another iterator over numbers

    numbers = iter([0, 1, 2, 3, 4])
    pipe1 = sk.map(numbers, lambda x: x + 1)
    pipe2 = sk.map(numbers, lambda x: x + 1)
    assert next(pipe1) == 1
    assert next(pipe2) == 2  # the same iterator


def test_thread_queue(no_leaks):
    pipe = range(100)
    pipe = sk.map(pipe, lambda x: 2 * x)
    pipe = sk.thread.queue(pipe, workers=4, maxsize=8)
    first = next(pipe)
    assert first % 2 == 0 and first < 200
    assert sorted([first] + list(pipe)) == [2 * x for x in range(100)]


def test_stacked_thread_queues(no_leaks):
    pipe = range(100)
    pipe = sk.map(pipe, lambda x: x + 1)
    pipe = sk.thread.queue(pipe, workers=4, maxsize=8)
    pipe = sk.map(pipe, lambda x: x * 2)
    pipe = sk.thread.queue(pipe, workers=4, maxsize=8)
    assert sorted(pipe) == [(x + 1) * 2 for x in range(100)]


def test_thread_map(no_leaks):
    pipe = sk.thread.map(range(100), lambda x: 2 * x, workers=4, maxsize=8)
    assert sorted(pipe) == [2 * x for x in range(100)]


def test_thread_mutex(no_leaks):
    def numbers():  # raises "generator already executing" when pulled concurrently
        i = 0
        while True:
            i += 2
            yield i

    pipe = numbers()
    pipe = sk.thread.mutex(pipe)
    pipe = sk.thread.map(pipe, lambda x: x // 2, workers=16)
    got = list(itertools.islice(pipe, 1000))
    pipe.close()  # an endless source: stop the run
    assert len(set(got)) == 1000 and all(x >= 1 for x in got)


def test_process_map(no_leaks):
    pipe = sk.process.map(range(100), lambda x: 2 * x, workers=4, maxsize=8)
    assert sorted(pipe) == [2 * x for x in range(100)]


def test_thread_and_process_intermixed(no_leaks):
    pipe = range(100)
    pipe = sk.thread.map(pipe, lambda x: 1 + x, workers=4, maxsize=8)
    pipe = sk.process.map(pipe, lambda x: 2 * x, workers=4, maxsize=8)
    assert sorted(pipe) == [2 * (1 + x) for x in range(100)]


def test_large_arrays_through_shared_memory(no_leaks):
    # tinypl's SharedMemoryRingBuffer example: in skorche the ring is built in; the array
    # comes back as a read-only view of the worker's ring.
    def stage1(i):
        return np.random.default_rng(i).random((256, 1024))  # 2 MiB

    pipe = sk.process.map(range(20), stage1, workers=4)
    arrays = list(pipe)
    assert sorted(a[0, 0] for a in arrays) == sorted(
        np.random.default_rng(i).random((256, 1024))[0, 0] for i in range(20))
    assert all(a.shape == (256, 1024) and not a.flags.writeable for a in arrays)


def test_markers():
    pipe = [range(i + 1) for i in range(50)]
    pipe, marker = sk.marker.insert_periodic(pipe, n=1, after=True)
    pipe = sk.flatten(pipe)
    pipe = sk.map(pipe, lambda x: x + 1)
    hellos = []
    pipe = sk.marker.on(pipe, lambda: hellos.append("Hello world!"), marker=marker)
    assert list(sk.marker.until(pipe, marker=marker)) == [1]
    assert list(sk.marker.until(pipe, marker=marker)) == [1, 2]
    assert list(sk.marker.until(pipe, marker=marker)) == [1, 2, 3]
    assert len(hellos) >= 3
    pipe.close()


def test_ordering(no_leaks):
    pipe = range(50)
    pipe = order = sk.order.save(pipe, maxsize=8)
    pipe = sk.thread.each(pipe, lambda x: time.sleep(random.uniform(0.1, 0.01)), workers=8)
    pipe = sk.order.load(pipe, order)
    assert list(pipe) == list(range(50))
