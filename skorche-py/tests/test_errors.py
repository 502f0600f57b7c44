"""Failures tell the truth: stage, item, Python traceback; policies skip, retry, dead-letter."""

import os

import pytest
import skorche as sk

import helpers


def test_thread_error_names_stage_item_and_traceback(no_leaks):
    with pytest.raises(sk.PipelineError) as info:
        list(sk.thread.map(range(20), helpers.fail_on_seven, workers=2))
    e = info.value
    assert "stage 'fail_on_seven'" in str(e) and "item #7" in str(e)
    assert "Traceback" in str(e) and 'raise ValueError("seven")' in str(e)
    assert isinstance(e.__cause__, ValueError) and str(e.__cause__) == "seven"
    assert e.failures[0]["stage"] == "fail_on_seven" and e.failures[0]["item"] == 7


def test_process_error_carries_the_worker_traceback(no_leaks):
    with pytest.raises(sk.PipelineError) as info:
        list(sk.process.map(range(20), helpers.fail_on_seven, workers=2))
    msg = str(info.value)
    assert "fail_on_seven" in msg and "item #7" in msg
    assert "Traceback" in msg and "ValueError: seven" in msg and "helpers.py" in msg


def test_lambda_error_in_a_process(no_leaks):
    with pytest.raises(sk.PipelineError, match="ZeroDivisionError"):
        list(sk.process.map([1, 0, 2], lambda x: 1 / x))


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_skip_drops_only_the_failing_item(mode, no_leaks):
    stage = getattr(sk, mode).map(range(20), helpers.fail_on_seven, workers=2, on_error="skip")
    assert sorted(stage) == [x for x in range(20) if x != 7]


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_retries(mode, no_leaks):
    stage = getattr(sk, mode).map(range(20), helpers.flaky, workers=1, retries=1)
    assert sorted(stage) == list(range(20))


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_dead_letter_gets_item_and_cause(mode, no_leaks):
    dead = []
    stage = getattr(sk, mode).map(range(20), helpers.fail_on_seven, workers=2,
                                  dead_letter=dead.append)
    assert sorted(stage) == [x for x in range(20) if x != 7]
    assert [d.item for d in dead] == [7]
    assert "ValueError" in dead[0].message and dead[0].stage == "fail_on_seven"
    assert isinstance(dead[0], sk.Failed) and dead[0].attempts >= 1


def test_killed_worker_fails_the_run_and_names_the_stage(no_leaks):
    with pytest.raises(sk.PipelineError) as info:
        list(sk.process.map(range(20), helpers.die_on_five, workers=2))
    assert "die_on_five" in str(info.value)


def test_dead_worker_is_restarted(tmp_path, no_leaks):
    flag = str(tmp_path / "died")
    stage = sk.process.map([(x, flag) for x in range(20)], helpers.die_once, workers=2,
                           restart_workers=1)
    assert sorted(stage) == list(range(20))
    assert os.path.exists(flag)


def test_source_error_names_the_index(no_leaks):
    def items():
        yield 1
        yield 2
        raise OSError("disk gone")

    with pytest.raises(sk.PipelineError) as info:
        list(sk.thread.map(items(), lambda x: x))
    assert "disk gone" in str(info.value) and "#2" in str(info.value)


def test_bad_declarations_fail_where_they_are_made():
    with pytest.raises(ValueError, match="workers=0"):
        sk.thread.map(range(3), str, workers=0)
    with pytest.raises(ValueError, match="maxsize=0"):
        sk.process.map(range(3), str, maxsize=0)
    with pytest.raises(TypeError, match="callable"):
        sk.process.map(range(3), 42)
    with pytest.raises(ValueError, match="on_error"):
        sk.thread.map(range(3), str, on_error="ignore")
    with pytest.raises(ValueError, match="batch size 0"):
        sk.batch(range(3), 0)


def test_unpicklable_result_is_an_error_not_a_hang(no_leaks):
    with pytest.raises(sk.PipelineError, match="pickle"):
        list(sk.process.map(range(3), lambda x: (lambda: x)))


def test_a_stage_read_by_two_consumers_gives_each_item_once(no_leaks):
    src = sk.thread.map(range(50), lambda x: x)
    a = sk.map(src, lambda x: x + 1000)
    b = sk.map(src, lambda x: x + 2000)
    first_a = next(a)
    # Two consumers of one stage pull from it in turn (tinypl's rule): every item once.
    rest = list(b) + list(a)
    originals = [x % 1000 for x in [first_a] + rest]
    assert sorted(originals) == list(range(50))


def test_max_failures_ends_a_skipping_stage(no_leaks):
    with pytest.raises(sk.PipelineError, match="max_failures"):
        list(sk.thread.map(range(100), lambda x: 1 / (x % 10), on_error="skip",
                           max_failures=2))


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_retries_with_backoff(mode, no_leaks):
    stage = getattr(sk, mode).map(range(5), helpers.flaky, retries=2, backoff=(0.001, 0.01))
    assert sorted(stage) == list(range(5))


def test_item_timeout_names_the_item(no_leaks):
    import time

    def hang_on_three(x):
        if x == 3:
            time.sleep(60)
        return x

    started = time.monotonic()
    with pytest.raises(sk.PipelineError) as info:
        list(sk.process.map(range(6), hang_on_three, workers=2, timeout=0.5))
    assert "item #3" in str(info.value)
    assert time.monotonic() - started < 30


def test_poison_item_fails_after_k_worker_deaths(no_leaks):
    with pytest.raises(sk.PipelineError) as info:
        list(sk.process.map(range(10), helpers.die_on_five, workers=2, restart_workers=10,
                            poison_after=2))
    assert "item #5" in str(info.value)
