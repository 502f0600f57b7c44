"""Graph operations, rendering and the report."""

import skorche as sk


def test_split_merge(no_leaks):
    evens, odds = sk.split(sk.source(range(10)), lambda x: x % 2 == 0)
    out = sk.merge(sk.thread.map(evens, lambda x: x // 2), sk.map(odds, lambda x: x * x))
    assert sorted(out) == sorted([0, 1, 2, 3, 4] + [1, 9, 25, 49, 81])


def test_zip_and_tee(no_leaks):
    a, b = sk.tee(sk.source(range(5)))
    out = sk.zip(sk.map(a, str), sk.thread.map(b, lambda x: x * 10))
    assert list(out) == [(str(i), i * 10) for i in range(5)]


def test_batch_and_unbatch_in_a_pipeline(no_leaks):
    s = sk.thread.map(range(10), lambda x: x, workers=1)
    batches = sk.batch(s, 4)
    assert list(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    flat = sk.unbatch(sk.batch(sk.thread.map(range(10), lambda x: x), 3))
    assert list(flat) == list(range(10))


def test_rendering_and_report(no_leaks):
    s = sk.thread.map(range(100), lambda x: x + 1, workers=2, name="inc")
    s = sk.process.map(s, abs, workers=2, name="absolute")
    dot = s.to_dot()
    assert "inc" in dot and "absolute" in dot and dot.startswith("digraph")
    assert "inc" in s.to_mermaid()
    assert s.report() is None
    assert sorted(s) == list(range(1, 101))
    report = s.report()
    stages = {st["name"]: st for st in report["stages"]}
    assert stages["inc"]["items_out"] == 100 and stages["absolute"]["items_out"] == 100
    assert "absolute" in s.report_table()


def test_pipeline_class(no_leaks):
    p = sk.Pipeline()
    evens, odds = p.split(p.source(range(10)), lambda x: x % 2 == 0)
    out = p.merge(p.map(evens, lambda x: -x), odds)
    assert "digraph" in p.to_dot(out)
    assert sorted(p.run(out)) == sorted([0, -2, -4, -6, -8, 1, 3, 5, 7, 9])
    assert p.report() is not None
