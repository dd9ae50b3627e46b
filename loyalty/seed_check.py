"""Pre-flight check of ``seeds/tier_thresholds.csv``, the file analysts edit by hand.

The dbt tests on the seed enforce the same rules inside ``dbt build`` (for people who run dbt
themselves); this check runs first in ``loyalty run`` so a broken CSV stops the run in a second,
before anything is ingested or rebuilt, with one message per broken rule naming the CSV line.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

REQUIRED_COLUMNS = ("tier_name", "tier_rank", "min_total_spent", "min_transaction_count")
MAX_SPEND = Decimal("999999999999999999.99")  # decimal(20,2)
MAX_INT = 2**31 - 1


class SeedError(ValueError):
    """The thresholds CSV breaks a rule; the message lists every problem with its line."""


@dataclass(frozen=True)
class Tier:
    """One valid row of the thresholds CSV."""

    line: int
    name: str
    rank: int
    min_spent: Decimal
    min_count: int


def _parse_row(line: int, row: dict[str, str | None], problems: list[str]) -> Tier | None:
    name = (row.get("tier_name") or "").strip()
    where = f"line {line}" + (f" (tier {name!r})" if name else "")
    before = len(problems)
    if not name:
        problems.append(f"{where}: tier_name is empty")
    elif any(ch in name for ch in "\r\n\t\x00"):
        problems.append(f"{where}: tier_name contains a control character")
    rank = count = 0
    spent = Decimal(0)
    raw_rank = (row.get("tier_rank") or "").strip()
    try:
        rank = int(raw_rank)
        if not -MAX_INT <= rank <= MAX_INT:
            raise ValueError
    except ValueError:
        problems.append(f"{where}: tier_rank {raw_rank!r} is not a whole number")
    raw_spent = (row.get("min_total_spent") or "").strip()
    try:
        spent = Decimal(raw_spent)
        if not spent.is_finite():
            raise InvalidOperation
        if spent < 0:
            problems.append(f"{where}: min_total_spent {raw_spent} is negative")
        elif spent != spent.quantize(Decimal("0.01")) or spent > MAX_SPEND:
            problems.append(
                f"{where}: min_total_spent {raw_spent} needs at most 2 decimals and 18 digits"
            )
    except InvalidOperation:
        problems.append(f"{where}: min_total_spent {raw_spent!r} is not a number")
    raw_count = (row.get("min_transaction_count") or "").strip()
    try:
        count = int(raw_count)
        if count < 0:
            problems.append(f"{where}: min_transaction_count {raw_count} is negative")
        elif count > MAX_INT:
            raise ValueError
    except ValueError:
        problems.append(f"{where}: min_transaction_count {raw_count!r} is not a whole number")
    return Tier(line, name, rank, spent, count) if len(problems) == before else None


def _check_set(tiers: list[Tier], problems: list[str]) -> None:
    for attribute, label in (("name", "tier_name"), ("rank", "tier_rank")):
        seen: dict[object, int] = {}
        for tier in tiers:
            key = getattr(tier, attribute)
            if key in seen:
                problems.append(
                    f"line {tier.line}: duplicate {label} {key!r} (also on line {seen[key]})"
                )
            seen.setdefault(key, tier.line)
    ordered = sorted(tiers, key=lambda t: t.rank)
    catch_alls = [t for t in tiers if t.min_spent == 0 and t.min_count == 0]
    if ordered and ordered[0] not in catch_alls:
        problems.append(
            f"line {ordered[0].line} (tier {ordered[0].name!r}): the lowest rank is the catch-all "
            "and must have min_total_spent 0 and min_transaction_count 0"
        )
    for extra in [t for t in catch_alls if ordered and t is not ordered[0]]:
        problems.append(
            f"line {extra.line} (tier {extra.name!r}): only the lowest-ranked tier may have both "
            "minimums at 0 (exactly one catch-all)"
        )
    for lower, higher in itertools.pairwise(ordered):
        if higher.min_spent < lower.min_spent or higher.min_count < lower.min_count:
            problems.append(
                f"line {higher.line} (tier {higher.name!r}): thresholds must not decrease with "
                f"rank, but rank {higher.rank} asks for {higher.min_spent} / {higher.min_count} "
                f"and rank {lower.rank} ({lower.name!r}) for {lower.min_spent} / {lower.min_count}"
            )


def check_thresholds(path: Path) -> list[Tier]:
    """Validate the thresholds CSV.

    Returns:
        The tiers, lowest rank first.

    Raises:
        SeedError: Every broken rule, one per line of the message, naming the CSV line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"{path}: cannot read the thresholds CSV ({exc})") from None
    if not text.strip():
        raise SeedError(f"{path}: the file is empty; it needs a header and at least one tier")
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise SeedError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    problems: list[str] = []
    tiers = []
    for row in reader:
        if None in row:
            problems.append(f"line {reader.line_num}: more fields than columns (unquoted comma?)")
            continue
        tier = _parse_row(reader.line_num, row, problems)
        if tier is not None:
            tiers.append(tier)
    if not tiers and not problems:
        problems.append("line 2: no tiers; at least the catch-all tier is needed")
    _check_set(tiers, problems)
    if problems:
        raise SeedError(f"{path}: " + "; ".join(problems))
    return sorted(tiers, key=lambda t: t.rank)
