"""Sampling profiles of the processes under load, with py-spy (the dev extras pin it).

``BENCH_PROFILE=1`` makes bench/sessions.py and bench/webhooks.py record the server or
worker processes during each measured phase and print the top lines (by time spent in a
function and below it, and in the function itself) after the phase; the collapsed stacks
are kept in ``var/bench-profiles/`` for a flame graph.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench-profiles"


def enabled() -> bool:
    return os.environ.get("BENCH_PROFILE") == "1"


def _py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def profiled(name: str, pids: list[int], *, top: int = 18) -> Iterator[None]:
    """Sample ``pids`` (and their children) while the block runs; print the top lines."""
    py_spy = _py_spy() if enabled() else None
    if py_spy is None:
        if enabled():
            print("BENCH_PROFILE=1 but py-spy is not installed (pip install -e '.[dev]')")
        yield
        return
    OUT.mkdir(parents=True, exist_ok=True)
    procs = []
    for pid in pids:
        out = OUT / f"{name}-{pid}.txt"
        procs.append(
            (
                out,
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--subprocesses",
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--output",
                        str(out),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        )
    try:
        yield
    finally:
        for _, proc in procs:
            proc.send_signal(signal.SIGINT)
        for _, proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(summary(name, [out for out, _ in procs], top=top), flush=True)


def _short(frame: str) -> str:
    # py-spy writes "function (path/to/file.py:line)".
    function, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, line = where.rpartition(":")
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{function} ({path}:{line})" if path else function


def summary(name: str, files: list[Path], *, top: int = 18) -> str:
    """The top functions of collapsed stacks: inclusive share, then self share."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
            frames = [f for f in frames if not f.startswith("<module>")]
            if not frames or frames[-1].startswith(("wait (", "select (", "poll (")):
                # Idle threads (a pool waiting for work) say nothing about the cost.
                continue
            total += count
            for frame in set(frames):
                inclusive[_short(frame)] += count
            own[_short(frames[-1])] += count
    if not total:
        return f"profile {name}: no samples"
    lines = [f"profile {name}: {total} busy samples (inclusive / self share)"]
    # Inclusive: the product's own functions and the libraries' entry points below 90%
    # (the frames above them are the server's loop, in every sample).
    shown = [
        (frame, count)
        for frame, count in inclusive.most_common()
        if count < 0.9 * total and not frame.startswith(("_", "<"))
    ]
    for frame, count in shown[:top]:
        lines.append(f"  {count / total:6.1%} {own[frame] / total:6.1%}  {frame}")
    lines.append("  top self:")
    for frame, count in own.most_common(8):
        lines.append(f"  {inclusive[frame] / total:6.1%} {count / total:6.1%}  {frame}")
    return "\n".join(lines)
