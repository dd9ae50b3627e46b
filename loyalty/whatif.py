"""Threshold what-if: proposed thresholds against the current ones, on the current customers.

An analyst edits a copy of ``seeds/tier_thresholds.csv`` and runs ``loyalty what-if FILE``.
The proposed rows are checked against the seed's rules, then passed to ``dbt show`` as an
inline ``values`` relation: the same ``assign_loyalty_tier`` macro that builds the published
tiers assigns the proposed ones to the customers of ``customer_loyalty_tiers`` (the last build),
and the query returns customers and spend per (current tier, proposed tier). ``dbt show`` only
selects: no seed, table, history or export is written, so nothing published changes.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

REQUIRED_COLUMNS = ("tier_name", "tier_rank", "min_total_spent", "min_transaction_count")
_MONEY = re.compile(r"^[0-9]{1,18}(\.[0-9]{1,2})?$")
_COUNT = re.compile(r"^[0-9]{1,9}$")


class ThresholdsError(ValueError):
    """The proposed thresholds break a rule the seed's tests enforce; the message says which."""


@dataclass(frozen=True)
class Threshold:
    """One proposed tier."""

    name: str
    rank: int
    min_total_spent: Decimal
    min_transaction_count: int


@dataclass(frozen=True)
class WhatIfLine:
    """Customers and spend that move from one current tier to one proposed tier."""

    current_tier: str
    current_rank: int
    proposed_tier: str
    proposed_rank: int
    customers: int
    total_spent: Decimal


def read_thresholds(path: Path) -> list[Threshold]:
    """Parse and validate a thresholds CSV (same columns and rules as the seed).

    Raises:
        ThresholdsError: A column is missing, a value is malformed, or a seed rule is broken.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ThresholdsError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except OSError as exc:
        raise ThresholdsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    thresholds = [_parse_row(path, number, row) for number, row in enumerate(rows, start=2)]
    check_rules(thresholds)
    return thresholds


def _parse_row(path: Path, line: int, row: dict[str, str]) -> Threshold:
    name = (row.get("tier_name") or "").strip()
    rank, spent, count = (
        (row.get(c) or "").strip()
        for c in ("tier_rank", "min_total_spent", "min_transaction_count")
    )
    where = f"{path}, line {line}"
    if not name:
        raise ThresholdsError(f"{where}: tier_name is empty")
    if any(c in name for c in "{}"):
        # The names are rendered into dbt's Jinja: braces would be templated, not stored.
        raise ThresholdsError(f"{where}: tier_name must not contain braces, got {name!r}")
    if not re.fullmatch(r"-?[0-9]{1,9}", rank):
        raise ThresholdsError(f"{where}: tier_rank must be a whole number, got {rank!r}")
    if not _MONEY.match(spent):
        raise ThresholdsError(
            f"{where}: min_total_spent must be a non-negative amount with at most two "
            f"decimals, got {spent!r}"
        )
    if not _COUNT.match(count):
        raise ThresholdsError(
            f"{where}: min_transaction_count must be a whole number >= 0, got {count!r}"
        )
    try:
        return Threshold(name, int(rank), Decimal(spent), int(count))
    except InvalidOperation as exc:  # pragma: no cover - the patterns above rule it out
        raise ThresholdsError(f"{where}: {exc}") from exc


def check_rules(thresholds: Sequence[Threshold]) -> None:
    """The seed's rules (tests/dbt/tier_thresholds_*.sql and the seed's YAML tests).

    Raises:
        ThresholdsError: Naming the first broken rule.
    """
    if not thresholds:
        raise ThresholdsError("no tiers: the file needs at least the catch-all tier")
    for attribute, label in (("name", "tier_name"), ("rank", "tier_rank")):
        values = [getattr(t, attribute) for t in thresholds]
        duplicates = sorted({str(v) for v in values if values.count(v) > 1})
        if duplicates:
            raise ThresholdsError(f"{label} must be unique: {', '.join(duplicates)} repeated")
    ordered = sorted(thresholds, key=lambda t: t.rank)
    lowest = ordered[0]
    zero = [t.name for t in thresholds if t.min_total_spent == 0 and t.min_transaction_count == 0]
    if zero != [lowest.name]:
        raise ThresholdsError(
            "need exactly one catch-all tier: the lowest rank with minimums 0 and 0 "
            f"(lowest rank is {lowest.name}; tiers with minimums 0 and 0: {zero or 'none'})"
        )
    for lower, higher in itertools.pairwise(ordered):
        if (
            higher.min_total_spent < lower.min_total_spent
            or higher.min_transaction_count < lower.min_transaction_count
        ):
            raise ThresholdsError(
                f"thresholds must not decrease with rank: {higher.name} asks for less than "
                f"{lower.name}"
            )


def _literal(text: str) -> str:
    """A Spark SQL string literal (backslash and quote escaped, as the seed loader does)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def what_if_sql(thresholds: Sequence[Threshold]) -> str:
    """The inline dbt SQL: current vs proposed tier per customer, aggregated."""
    values = ",\n        ".join(
        f"({_literal(t.name)}, cast({t.rank} as int), "
        f"cast('{t.min_total_spent}' as decimal(20, 2)), cast({t.min_transaction_count} as int))"
        for t in thresholds
    )
    # Values are validated numbers and escaped names (no Jinja braces): nothing user-supplied
    # reaches the SQL unquoted.
    return f"""
with

proposed_thresholds as (
    select * from values
        {values}
        as proposed_thresholds (tier_name, tier_rank, min_total_spent, min_transaction_count)
),

customers as (
    select customer_id, total_spent, transaction_count, loyalty_tier, tier_rank
    from {{{{ ref('customer_loyalty_tiers') }}}}
),

proposed as (
    {{{{ assign_loyalty_tier('customers', thresholds='proposed_thresholds') }}}}
)

select
    customers.loyalty_tier as current_tier,
    customers.tier_rank as current_rank,
    proposed.loyalty_tier as proposed_tier,
    cast(proposed.tier_rank as int) as proposed_rank,
    count(*) as customers,
    cast(sum(customers.total_spent) as decimal(30, 2)) as total_spent
from customers
inner join proposed
    on customers.customer_id = proposed.customer_id
group by customers.loyalty_tier, customers.tier_rank, proposed.loyalty_tier, proposed.tier_rank
"""  # noqa: S608


def parse_lines(rows: Sequence[dict[str, Any]]) -> list[WhatIfLine]:
    """The ``dbt show`` rows as typed lines."""
    return [
        WhatIfLine(
            str(r["current_tier"]),
            int(r["current_rank"]),
            str(r["proposed_tier"]),
            int(r["proposed_rank"]),
            int(r["customers"]),
            Decimal(str(r["total_spent"])),
        )
        for r in rows
    ]


def render(lines: Sequence[WhatIfLine], source: Path, console: Console) -> None:
    """Distribution (current vs proposed) and the current -> proposed migration matrix."""
    total = sum(line.customers for line in lines) or 1
    current: dict[tuple[int, str], int] = {}
    proposed: dict[tuple[int, str], int] = {}
    for line in lines:
        key_c, key_p = (
            (line.current_rank, line.current_tier),
            (line.proposed_rank, line.proposed_tier),
        )
        current[key_c] = current.get(key_c, 0) + line.customers
        proposed[key_p] = proposed.get(key_p, 0) + line.customers
    console.print(f"What-if: {source} against the current thresholds", style="bold")
    distribution = Table(title="Tier distribution", box=box.SIMPLE_HEAD, title_justify="left")
    for name, justify in (
        ("tier", "left"),
        ("current", "right"),
        ("share", "right"),
        ("proposed", "right"),
        ("share ", "right"),
        ("change", "right"),
    ):
        distribution.add_column(name, justify=justify)  # type: ignore[arg-type]
    names = sorted({*current, *proposed}, reverse=True)
    for _rank, name in _unique_names(names):
        before = sum(v for (r, n), v in current.items() if n == name)
        after = sum(v for (r, n), v in proposed.items() if n == name)
        distribution.add_row(
            name,
            f"{before:,}",
            f"{before / total:.1%}",
            f"{after:,}",
            f"{after / total:.1%}",
            f"{after - before:+,}",
        )
    distribution.add_row("all", f"{total:,}", "", f"{total:,}", "", "", style="bold")
    console.print(distribution)
    matrix = Table(title="Current -> proposed", box=box.SIMPLE_HEAD, title_justify="left")
    rows = [n for _, n in _unique_names(sorted(current, reverse=True))]
    columns = [n for _, n in _unique_names(sorted(proposed, reverse=True))]
    matrix.add_column("current \\ proposed")
    for column in columns:
        matrix.add_column(column, justify="right")
    cells = {(line.current_tier, line.proposed_tier): line.customers for line in lines}
    for row in rows:
        matrix.add_row(row, *(f"{cells.get((row, c), 0):,}" for c in columns))
    console.print(matrix)
    moved = sum(line.customers for line in lines if line.current_tier != line.proposed_tier)
    console.print(f"  customers whose tier would change: {moved:,} of {total:,}", markup=False)
    console.print("  nothing was written: the seed, history, tables and exports are unchanged")


def _unique_names(keys: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    result = []
    for rank, name in keys:
        if name not in seen:
            seen.add(name)
            result.append((rank, name))
    return result
