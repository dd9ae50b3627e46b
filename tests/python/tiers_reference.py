"""An independent implementation of the tier rules in plain Python ``Decimal``.

Written from the rules in the README, sharing no code with the dbt models, so the end-to-end
tests can check every customer of the export against it.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tests.python.conftest import Row

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Threshold:
    """One row of the thresholds CSV."""

    name: str
    rank: int
    min_spent: Decimal
    min_count: int


@dataclass(frozen=True)
class Expected:
    """The tier the rules give one customer, and why (the next tier and the gaps)."""

    total_spent: Decimal
    transaction_count: int
    tier: str
    rank: int
    next_tier: str | None = None
    spend_to_next_tier: Decimal | None = None
    transactions_to_next_tier: int | None = None
    spend_above_tier_minimum: Decimal = Decimal(0)
    transactions_above_tier_minimum: int = 0


def months_before(day: dt.date, months: int) -> dt.date:
    """MySQL's ``DATE_SUB(day, INTERVAL months MONTH)``: clamp to the target month's last day."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def read_thresholds(path: Path) -> list[Threshold]:
    """Parse the seed CSV."""
    with path.open(newline="") as handle:
        return [
            Threshold(
                r["tier_name"],
                int(r["tier_rank"]),
                Decimal(r["min_total_spent"]),
                int(r["min_transaction_count"]),
            )
            for r in csv.DictReader(handle)
        ]


def expected_tiers(
    rows: list[Row],
    thresholds: list[Threshold],
    as_of: dt.date,
    months: int = 12,
    policy: str = "impute_same_day_avg",
) -> dict[int, Expected]:
    """Tiers per customer under the documented rules."""
    start = months_before(as_of, months)
    known = {cid for _, cid, day, _ in rows if cid is not None and day is not None and day <= as_of}
    qualifying = [
        r for r in rows if r[1] is not None and r[2] is not None and start <= r[2] <= as_of
    ]
    if policy == "exclude":
        qualifying = [r for r in qualifying if r[3] is not None]
    same_day: dict[tuple[int, dt.date], list[Decimal]] = defaultdict(list)
    for _, cid, day, amount in qualifying:
        if amount is not None:
            same_day[(cid, day)].append(amount)  # type: ignore[index]
    spent: dict[int, Decimal] = defaultdict(Decimal)
    count: dict[int, int] = defaultdict(int)
    for _, cid, day, amount in qualifying:
        assert cid is not None
        count[cid] += 1
        if amount is None and policy == "impute_same_day_avg" and same_day[(cid, day)]:
            values = same_day[(cid, day)]
            amount = (sum(values, Decimal(0)) / len(values)).quantize(CENT, ROUND_HALF_UP)
        if amount is not None:
            spent[cid] += amount
    catch_all = min(thresholds, key=lambda t: t.rank)
    by_rank = sorted(thresholds, key=lambda t: -t.rank)
    result = {}
    for cid in known:
        total, n = spent[cid], count[cid]
        tier = next((t for t in by_rank if total >= t.min_spent and n >= t.min_count), catch_all)
        above = [t for t in thresholds if t.rank > tier.rank]
        up = min(above, key=lambda t: t.rank) if above else None
        result[cid] = Expected(
            total,
            n,
            tier.name,
            tier.rank,
            next_tier=up.name if up else None,
            spend_to_next_tier=max(up.min_spent - total, Decimal("0.00")) if up else None,
            transactions_to_next_tier=max(up.min_count - n, 0) if up else None,
            spend_above_tier_minimum=total - tier.min_spent,
            transactions_above_tier_minimum=n - tier.min_count,
        )
    return result


def expected_movements(
    previous: dict[int, Expected], current: dict[int, Expected]
) -> dict[int, str]:
    """Movement per customer between two as-of dates, as documented in the README."""
    moves = {}
    for cid in previous.keys() | current.keys():
        if cid not in current:
            moves[cid] = "removed"
        elif cid not in previous:
            moves[cid] = "new"
        else:
            before, after = previous[cid].rank, current[cid].rank
            moves[cid] = "upgrade" if after > before else "downgrade" if after < before else "same"
    return moves
