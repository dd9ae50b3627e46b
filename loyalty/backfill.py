"""Backfill: rebuild ``loyalty_tier_history`` for chosen as-of dates from the lake.

One process, one Spark session: dbt is invoked once per date (the as-of date is compiled into
the models), always with ``--select +loyalty_tier_history``, which is the source views and the
history model only. ``customer_loyalty_tiers``, the movements and the exports are not selected,
so nothing published changes; the history's partition for each date is replaced, never
duplicated. Same lake + same seed gives the same rows.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from loyalty.build import run_dbt

log = logging.getLogger(__name__)

STEPS = ("day", "week", "month")
MAX_DATES = 400
HISTORY_SELECTOR = "+loyalty_tier_history"
# After the dates, the source views are rebuilt for the published as-of date so ad-hoc queries on
# them agree with the published table again.
VIEWS_SELECTOR = "+int_customers_aggregated"


class BackfillError(ValueError):
    """The requested dates are invalid (the message says why)."""


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` as a date.

    Raises:
        BackfillError: Not a real calendar date in that format.
    """
    try:
        if len(text.strip()) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise BackfillError(f"as-of dates must be YYYY-MM-DD, got {text!r}") from None


def add_months(day: dt.date, months: int, month_end: bool) -> dt.date:
    """``day`` plus ``months``, clamped to the month's last day (or on it when ``month_end``)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, last if month_end else min(day.day, last))


def date_range(start: dt.date, end: dt.date, every: str) -> list[dt.date]:
    """Dates from ``start`` to ``end`` inclusive, every day, week or month.

    Monthly steps keep the day of the month (clamped), and a start on a month's last day stays
    on month ends: 2025-01-31 -> 2025-02-28 -> 2025-03-31.

    Raises:
        BackfillError: ``end`` before ``start``, unknown step, or more than ``MAX_DATES`` dates.
    """
    if every not in STEPS:
        raise BackfillError(f"--every must be one of {', '.join(STEPS)}, got {every!r}")
    if end < start:
        raise BackfillError(f"--to {end} is before --from {start}")
    month_end = start.day == calendar.monthrange(start.year, start.month)[1]
    dates: list[dt.date] = []
    day = start
    while day <= end:
        dates.append(day)
        if len(dates) > MAX_DATES:
            raise BackfillError(f"more than {MAX_DATES} as-of dates; choose a coarser --every")
        if every == "month":
            day = add_months(start, len(dates), month_end)
        else:
            day = start + dt.timedelta(days=len(dates) * (7 if every == "week" else 1))
    return dates


def resolve_dates(
    dates: Iterable[str] | None, start: str | None, end: str | None, every: str
) -> list[dt.date]:
    """The as-of dates from ``--dates`` or ``--from``/``--to``/``--every``, sorted, unique.

    Raises:
        BackfillError: Neither or both forms given, or an invalid date.
    """
    listed = [d for item in dates or [] for d in item.split(",") if d.strip()]
    if listed and (start or end):
        raise BackfillError("give either --dates or --from/--to, not both")
    if listed:
        return sorted({parse_date(d) for d in listed})
    if not (start and end):
        raise BackfillError("give --dates D1,D2,... or both --from and --to")
    return date_range(parse_date(start), parse_date(end), every)


def published_as_of_date(export: Path) -> str | None:
    """The as-of date of the published export, or None when there is none yet."""
    if not export.exists():
        return None
    table = pq.read_table(export, columns=["as_of_date"])
    if table.num_rows == 0:
        return None
    value = table.column("as_of_date")[0].as_py()
    return value.isoformat() if isinstance(value, dt.date) else None


def backfill(
    dates: Sequence[dt.date],
    export: Path,
    callbacks: Sequence[Callable[[Any], None]] = (),
    on_date: Callable[[int, dt.date], None] | None = None,
) -> None:
    """Rebuild the history for ``dates`` (in order), then test it and restore the source views.

    The seed is loaded (and its rules tested) first, so the history uses the CSV as it is now.

    Raises:
        loyalty.build.BuildError: A dbt step failed; dates before it are already rebuilt.
    """
    run_dbt(["build", "--select", "tier_thresholds", "--indirect-selection", "cautious"], callbacks)
    for number, day in enumerate(dates, start=1):
        if on_date is not None:
            on_date(number, day)
        log.info("backfill: as of %s (%d of %d)", day, number, len(dates))
        run_dbt(["run", "--select", HISTORY_SELECTOR, "--vars", _as_of(day.isoformat())], callbacks)
    # Only the tests whose every parent is the history: the check against the published tiers
    # compares with another as-of date here, by design.
    run_dbt(
        ["test", "--select", "loyalty_tier_history", "--indirect-selection", "cautious"],
        callbacks,
    )
    published = published_as_of_date(export)
    if published is not None:
        run_dbt(["run", "--select", VIEWS_SELECTOR, "--vars", _as_of(published)], callbacks)


def _as_of(day: str) -> str:
    return json.dumps({"as_of_date": day})
