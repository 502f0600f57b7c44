"""The stubs let mypy check a chain: item types flow from stage to stage."""

import shutil
import subprocess
import sys
import textwrap

import pytest


@pytest.mark.skipif(shutil.which("mypy") is None and subprocess.run(
    [sys.executable, "-m", "mypy", "--version"], capture_output=True).returncode != 0,
    reason="mypy is not installed")
def test_mypy_checks_item_types_through_a_chain(tmp_path):
    program = tmp_path / "chain.py"
    program.write_text(textwrap.dedent("""
        import skorche as sk

        lengths = sk.thread.map(["a", "bb"], len, workers=2)
        doubled = sk.process.map(lengths, lambda n: n * 2.0)
        batches = sk.batch(doubled, 2)
        pairs = sk.zip(lengths, sk.source(["x"]))
        ok_float: sk.Stage[list[float]] = batches
        ok_pair: sk.Stage[tuple[int, str]] = pairs
        bad: sk.Stage[str] = lengths  # error: Stage[int]
        sk.map(lengths, lambda s: s.upper())  # error: int has no upper
    """))
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          str(program)], capture_output=True, text=True)
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, out.stdout
    assert ":10:" in errors[0] and "Stage[int]" in errors[0], errors
    assert ":11:" in errors[1] and "upper" in errors[1], errors
