"""Reconciliation: does the lake still agree with MySQL over the qualifying window?

The incremental cursor on ``transaction_id`` sees new rows only; a row deleted in MySQL or an
amount corrected in place never reaches the lake. This check compares, for the qualifying
window, the row count, the count of non-NULL amounts and the exact sum of amounts in MySQL with
the same figures over the lake as dbt reads it (completed loads, latest delivery per id). Any
difference means the lake has drifted: run with ``--full-refresh``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import mysql.connector
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.config import SourceConfig


@dataclass(frozen=True)
class WindowFigures:
    """Counts and the exact sum over the qualifying window."""

    rows: int
    amounts: int
    amount_sum: Decimal


@dataclass(frozen=True)
class Reconciliation:
    """Source vs lake over ``[start, as_of]``."""

    start: dt.date
    as_of: dt.date
    source: WindowFigures
    lake: WindowFigures

    @property
    def drifted(self) -> bool:
        """True when the lake no longer matches the source."""
        return self.source != self.lake

    def render(self) -> str:
        """One line per figure, and the advice when they differ."""
        lines = [f"reconciliation over {self.start} .. {self.as_of} (source vs lake):"]
        for field in ("rows", "amounts", "amount_sum"):
            mine, theirs = getattr(self.source, field), getattr(self.lake, field)
            mark = "ok" if mine == theirs else "DIFFERENT"
            lines.append(f"  {field:<11} {mine!s:>22} {theirs!s:>22}  {mark}")
        if self.drifted:
            lines.append(
                "  the lake has drifted from MySQL (rows deleted or changed in place, which an "
                "id cursor cannot see): run `loyalty run --full-refresh` (make run FULL_REFRESH=1)"
            )
        return "\n".join(lines)


def source_figures(
    config: SourceConfig, as_of: dt.date, months: int
) -> tuple[dt.date, WindowFigures]:
    """Window start (MySQL's own DATE_SUB) and the figures, computed inside MySQL."""
    connection = mysql.connector.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        database=config.database,
        connection_timeout=config.connect_timeout_s,
        read_timeout=config.read_timeout_s,
    )
    try:
        cursor = connection.cursor()
        cursor.execute("select date_sub(%s, interval %s month)", (as_of, months))
        (start_value,) = cursor.fetchone()  # type: ignore[misc]
        start = dt.date.fromisoformat(str(start_value))
        cursor.execute(
            f"select count(*), count(amount), coalesce(sum(amount), 0) from `{config.table}`"  # noqa: S608 - identifier from config, values bound
            " where transaction_date between %s and %s",
            (start, as_of),
        )
        rows, amounts, total = cursor.fetchone()  # type: ignore[misc]
    finally:
        connection.close()
    return start, WindowFigures(int(str(rows)), int(str(amounts)), Decimal(str(total)))


def _completed_load_ids(dataset: Path) -> set[str]:
    ids: set[str] = set()
    for path in (dataset / "_dlt_loads").glob("*"):
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("status") == 0:
                    ids.add(str(record["load_id"]))
    return ids


def lake_figures(dataset: Path, start: dt.date, as_of: dt.date) -> WindowFigures:
    """The same figures over the lake as staging reads it (completed loads, latest per id)."""
    files = sorted((dataset / "transactions").glob("*.parquet"))
    completed = _completed_load_ids(dataset)
    if not files or not completed:
        return WindowFigures(0, 0, Decimal(0))
    columns = ["transaction_id", "transaction_date", "amount", "_dlt_load_id"]
    table = pa.concat_tables(pq.read_table(f, columns=columns) for f in files)
    table = table.cast(
        pa.schema(
            [(n, pa.string()) if n == "_dlt_load_id" else table.schema.field(n) for n in columns]
        )
    )
    table = table.filter(pc.is_in(table["_dlt_load_id"], pa.array(sorted(completed))))
    table = table.sort_by([("transaction_id", "ascending"), ("_dlt_load_id", "descending")])
    ids = table["transaction_id"].to_numpy()
    latest = np.ones(len(ids), dtype=bool)
    latest[1:] = ids[1:] != ids[:-1]
    table = table.filter(pa.array(latest))
    dates = table["transaction_date"]
    in_window = pc.and_(
        pc.greater_equal(dates, pa.scalar(start, pa.date32())),
        pc.less_equal(dates, pa.scalar(as_of, pa.date32())),
    )
    window = table.filter(pc.fill_null(in_window, False))
    total = pc.sum(window["amount"]).as_py()
    return WindowFigures(
        window.num_rows,
        window.num_rows - window["amount"].null_count,
        Decimal(total) if total is not None else Decimal(0),
    )


def reconcile(config: SourceConfig, dataset: Path, as_of: dt.date, months: int) -> Reconciliation:
    """Compare MySQL and the lake over the qualifying window ending ``as_of``."""
    start, source = source_figures(config, as_of, months)
    return Reconciliation(start, as_of, source, lake_figures(dataset, start, as_of))
