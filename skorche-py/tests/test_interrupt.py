"""Ctrl-C stops a pipeline cleanly: KeyboardInterrupt, workers gone, threads gone."""

import os
import signal
import subprocess
import sys
import textwrap
import time


def test_ctrl_c_stops_workers_and_raises_keyboard_interrupt(tmp_path):
    script = tmp_path / "interrupted.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        import skorche as sk

        def children():
            pid = os.getpid()
            out = []
            for t in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{t}/children") as f:
                    out += f.read().split()
            return out

        def slow(x):
            time.sleep(0.01)
            return x

        stage = sk.process.map(iter(range(10**9)), slow, workers=2)
        stage = sk.thread.map(stage, lambda x: x, workers=2)
        try:
            for i, x in enumerate(stage):
                if i == 5:
                    print("running", len(children()), flush=True)
        except KeyboardInterrupt:
            time.sleep(0.2)
            print("interrupted", len(children()), len(os.listdir("/proc/self/task")),
                  flush=True)
            sys.exit(0)
        print("not interrupted")
        sys.exit(1)
    """))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    first = child.stdout.readline().split()
    assert first[0] == "running" and int(first[1]) == 2, first
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    words = out.split()
    assert words[0] == "interrupted", out
    assert int(words[1]) == 0, "worker processes left after Ctrl-C"
    assert int(words[2]) == 1, "threads left after Ctrl-C"
    time.sleep(0.1)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_worker_of(p, child.pid)]


def _is_worker_of(pid: str, parent: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == parent
    except (FileNotFoundError, IndexError, ValueError):
        return False
