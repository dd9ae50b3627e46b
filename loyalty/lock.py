"""One run at a time per ``LOYALTY_HOME``.

The embedded Derby metastore and dlt's working folder are single-writer: a second run on the
same home would collide in the metastore or interleave loads. The lock is an ``flock`` on a file
in the home, released by the kernel when the process dies, so a killed run never leaves a stale
lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class HomeLockedError(RuntimeError):
    """Another run holds this ``LOYALTY_HOME``."""


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``home`` for the duration of the block.

    Raises:
        HomeLockedError: Another process holds it; the message names the home and its pid.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise HomeLockedError(
                f"another loyalty run (pid {holder}) is using LOYALTY_HOME={home}; wait for it "
                "to finish, or set a different LOYALTY_HOME"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
