"""Run a command and report its wall time and the peak memory of its whole process tree.

``/usr/bin/time`` reports the largest single process, and the Spark JVM is a grandchild of the
Python process that starts it; this samples the RSS of every descendant from ``/proc`` and keeps
the peak of the sum.

Usage: ``python bench/measure.py -- COMMAND ...`` (prints one JSON line on stderr at the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measurement:
    """Wall seconds, peak summed RSS (bytes) of the process tree, and the exit code."""

    seconds: float
    peak_rss_bytes: int
    returncode: int


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text().split()
            kids.extend(int(k) for k in text)
    except OSError:
        pass
    return kids


def tree_rss(root: int) -> int:
    """Sum of resident memory of ``root`` and all its descendants, in bytes."""
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(_children(pid))
    return total


def measure(command: Sequence[str], interval: float = 0.1, **kwargs: object) -> Measurement:
    """Run ``command`` to completion while sampling its tree's memory."""
    started = time.monotonic()
    process = subprocess.Popen(list(command), **kwargs)  # type: ignore[call-overload]
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    returncode = process.wait()
    done.set()
    sampler.join()
    return Measurement(time.monotonic() - started, peak, returncode)


def main(argv: Sequence[str]) -> int:
    """Command line: everything after ``--`` is the command."""
    command = list(argv[argv.index("--") + 1 :] if "--" in argv else argv)
    result = measure(command)
    sys.stderr.write(json.dumps(asdict(result)) + "\n")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
