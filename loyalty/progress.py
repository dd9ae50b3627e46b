"""Progress for the long steps (ingest, dbt), on stderr so stdout stays the report.

On a terminal a rich spinner shows the step, the elapsed time and, for dbt, how many nodes are
done and which ran last. Elsewhere (CI logs, pytest) nothing animates: the step's start and end
are logged, which is what a log reader wants.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

log = logging.getLogger(__name__)

Update = Callable[[str], None]


@contextmanager
def step(description: str) -> Iterator[Update]:
    """Show ``description`` while the block runs; yields a function to update the detail text."""
    started = time.monotonic()
    if not sys.stderr.isatty():
        log.info("%s ...", description)
        yield lambda _detail: None
        log.info("%s: done in %.1f s", description, time.monotonic() - started)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}", style="dim"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=None, detail="")
        yield lambda detail: progress.update(task, detail=detail)
    log.info("%s: done in %.1f s", description, time.monotonic() - started)


def dbt_node_counter(update: Update) -> Callable[[Any], None]:
    """A dbtRunner callback reporting ``N nodes done, last: NAME (STATUS)`` via ``update``."""
    done = 0

    def callback(event: Any) -> None:
        nonlocal done
        if event.info.name != "NodeFinished":
            return
        done += 1
        node = getattr(event.data, "node_info", None)
        name = getattr(node, "node_name", "?")
        status = getattr(node, "node_status", "")
        update(f"{done} nodes done, last: {name} ({status})")

    return callback
