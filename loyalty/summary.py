"""The end-of-run summary: rows ingested, customers per tier, exclusions, where the export is.

Read from the published Parquet export and the ``loyalty_exclusions`` table files, with pyarrow:
what the summary reports is what marketing will read, not a second computation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from ingest import IngestResult


@dataclass(frozen=True)
class TierLine:
    """Customers and spend in one tier."""

    tier: str
    rank: int
    customers: int
    total_spent: Decimal


@dataclass
class RunSummary:
    """Everything the summary prints."""

    export_path: Path
    as_of_date: str | None
    tiers: list[TierLine]
    exclusions: dict[str, int] = field(default_factory=dict)
    amount_checks: dict[str, int] = field(default_factory=dict)
    ingest: IngestResult | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def customers(self) -> int:
        """All customers in the export."""
        return sum(line.customers for line in self.tiers)

    def render(self) -> str:
        """A short plain-text report for the terminal."""
        lines = [f"Loyalty tiers as of {self.as_of_date or 'n/a'}"]
        if self.ingest is not None:
            mode = "full refresh" if self.ingest.full_refresh else "incremental"
            took = f"{self.ingest.seconds:.1f} s"
            lines.append(f"  rows ingested: {self.ingest.rows_loaded:,} ({mode}, {took})")
        lines.append(f"  {'tier':<16}{'customers':>10}{'share':>8}{'total spent':>20}")
        total = self.customers or 1
        for line in self.tiers:
            lines.append(
                f"  {line.tier:<16}{line.customers:>10,}{line.customers / total:>8.1%}"
                f"{line.total_spent:>20,.2f}"
            )
        lines.append(f"  {'all':<16}{self.customers:>10,}")
        if self.exclusions:
            shown = ", ".join(f"{k} {v:,}" for k, v in self.exclusions.items())
            lines.append(f"  transactions not counted: {shown}")
        if self.amount_checks:
            shown = ", ".join(f"{k} {v:,}" for k, v in self.amount_checks.items())
            lines.append(f"  amounts of counted transactions: {shown}")
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        lines.append(f"  export: {self.export_path}")
        return "\n".join(lines)


def read_summary(export: Path, warehouse_schema_dir: Path | None = None) -> RunSummary:
    """Summarise the published export (and the exclusions table, when its files are found)."""
    table = pq.read_table(
        export, columns=["loyalty_tier", "tier_rank", "total_spent", "as_of_date"]
    )
    counts: Counter[tuple[str, int]] = Counter()
    spend: dict[tuple[str, int], Decimal] = {}
    as_of: str | None = None
    for row in table.to_pylist():
        key = (row["loyalty_tier"], row["tier_rank"])
        counts[key] += 1
        spend[key] = spend.get(key, Decimal(0)) + row["total_spent"]
        as_of = as_of or str(row["as_of_date"])
    tiers = [
        TierLine(tier, rank, counts[(tier, rank)], spend[(tier, rank)])
        for tier, rank in sorted(counts, key=lambda key: -key[1])
    ]
    summary = RunSummary(export_path=export, as_of_date=as_of, tiers=tiers)
    if warehouse_schema_dir is not None:
        summary.exclusions = _counts(
            warehouse_schema_dir / "loyalty_exclusions", "exclusion_reason"
        )
        summary.amount_checks = _counts(
            warehouse_schema_dir / "loyalty_amount_checks", "check_name"
        )
    return summary


def _counts(table_dir: Path, key: str) -> dict[str, int]:
    """``{key: transaction_count}`` from a small count table's files, in table order."""
    if not table_dir.is_dir():
        return {}
    return {row[key]: int(row["transaction_count"]) for row in pq.read_table(table_dir).to_pylist()}
