"""Deterministic benchmark workload: N transactions for N/10 customers, bulk-loaded into MySQL.

The rows are drawn with NumPy from a fixed seed, written as a CSV with pyarrow (vectorised, so
10,000,000 rows take seconds, not minutes) and loaded with one ``LOAD DATA LOCAL INFILE``.
Shape (Bronze, Silver and Gold all well populated under the default thresholds):

- ``transaction_id`` 1..N (batches appended later continue the sequence);
- ``customer_id`` uniform over 1..N/10 (about ten transactions per customer);
- ``transaction_date`` uniform over the 18 months ending on :data:`AS_OF_DATE`;
- ``amount`` DECIMAL(10,2): log-normal around 3,000 (cents exact), 1% refunds (negative),
  about 10% NULL.

Usage: ``python -m bench.generate --rows N --database loyalty_bench_N``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from loyalty.demo import TRANSACTIONS_DDL

log = logging.getLogger(__name__)

AS_OF_DATE = dt.date(2025, 8, 7)
"""The as-of date every measured run uses, so results do not depend on the day of the run."""
FIRST_DATE = dt.date(2024, 2, 7)
"""18 months before :data:`AS_OF_DATE`."""
NULL_AMOUNT_SHARE = 0.10
REFUND_SHARE = 0.01
SEED = 20261203

SCHEMA = pa.schema(
    [
        ("transaction_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("transaction_date", pa.date32()),
        ("amount", pa.decimal128(10, 2)),
    ]
)


@dataclass(frozen=True)
class Batch:
    """Which rows to draw: ids ``first_id .. first_id + rows - 1`` for ``customers`` customers.

    Attributes:
        first_id: The first ``transaction_id``.
        rows: How many rows.
        customers: Customer ids are drawn from ``1 .. customers``.
        first_date: Earliest transaction date (inclusive).
        last_date: Latest transaction date (inclusive).
        seed: The random stream; one seed per batch keeps batches independent and repeatable.
    """

    first_id: int
    rows: int
    customers: int
    first_date: dt.date = FIRST_DATE
    last_date: dt.date = AS_OF_DATE
    seed: int = SEED


def base_batch(rows: int) -> Batch:
    """The initial workload: ``rows`` transactions for ``rows // 10`` customers."""
    return Batch(first_id=1, rows=rows, customers=max(1, rows // 10))


def increment_batch(base_rows: int, round_no: int, share: float = 0.01) -> Batch:
    """``share`` of ``base_rows`` new transactions (round 1, 2, ...) dated in the last month.

    New rows continue the id sequence after the base and after earlier rounds, and go to the
    same customers, the way new purchases arrive.
    """
    rows = max(1, int(base_rows * share))
    return Batch(
        first_id=base_rows + (round_no - 1) * rows + 1,
        rows=rows,
        customers=max(1, base_rows // 10),
        first_date=AS_OF_DATE - dt.timedelta(days=30),
        last_date=AS_OF_DATE,
        seed=SEED + round_no,
    )


def _decimal_from_cents(cents: np.ndarray, nulls: np.ndarray) -> pa.Array:
    """Exact ``decimal128(10, 2)`` from integer cents (no float ever touches the value)."""
    low = cents.astype(np.int64)
    words = np.empty((len(low), 2), dtype=np.int64)
    words[:, 0] = low
    words[:, 1] = np.where(low < 0, -1, 0)  # two's-complement sign extension to 128 bits
    validity = pa.array(~nulls).buffers()[1]
    return pa.Array.from_buffers(
        pa.decimal128(10, 2), len(low), [validity, pa.py_buffer(words.tobytes())]
    )


def generate(batch: Batch) -> pa.Table:
    """Draw the batch's rows; the same batch always gives the same table."""
    rng = np.random.default_rng(batch.seed)
    n = batch.rows
    ids = np.arange(batch.first_id, batch.first_id + n, dtype=np.int64)
    customers = rng.integers(1, batch.customers + 1, size=n, dtype=np.int64)
    span = (batch.last_date - batch.first_date).days
    days = rng.integers(0, span + 1, size=n, dtype=np.int32)
    epoch_day = (batch.first_date - dt.date(1970, 1, 1)).days
    dates = pa.array(days + epoch_day, pa.int32()).cast(pa.date32())
    cents = np.rint(rng.lognormal(mean=np.log(300_000), sigma=0.9, size=n)).astype(np.int64)
    cents = np.clip(cents, 1, 99_999_999)  # stays inside DECIMAL(10,2) at 1,000,000.00
    cents = np.where(rng.random(n) < REFUND_SHARE, -cents // 10, cents)
    nulls = rng.random(n) < NULL_AMOUNT_SHARE
    return pa.table(
        [pa.array(ids), pa.array(customers), dates, _decimal_from_cents(cents, nulls)],
        schema=SCHEMA,
    )


def write_csv(table: pa.Table, path: Path) -> Path:
    """Write rows as a header-less CSV for ``LOAD DATA`` (NULL as an empty field)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    as_text = pa.table(
        {name: pc.cast(table.column(name), pa.string()) for name in table.column_names}
    )
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pacsv.write_csv(as_text, path, write_options=options)
    return path


def mysql_command(database: str | None, host: str, port: int, user: str) -> list[str]:
    """The ``mariadb`` client command line (local infile enabled)."""
    command = ["mariadb", "--local-infile=1", f"-h{host}", f"-P{port}", f"-u{user}"]
    return [*command, database] if database else command


def _sql(sql: str, database: str | None, host: str, port: int, user: str) -> None:
    subprocess.run(mysql_command(database, host, port, user), input=sql, text=True, check=True)


def load_csv_sql(path: Path) -> str:
    """``LOAD DATA`` for :func:`write_csv` output; an empty amount becomes NULL."""
    return (
        f"load data local infile '{path}' into table transactions "
        "fields terminated by ',' lines terminated by '\\n' "
        "(transaction_id, customer_id, transaction_date, @amount) "
        "set amount = nullif(@amount, '');"
    )


def create_database(
    database: str,
    rows: int,
    workdir: Path,
    host: str = "127.0.0.1",
    port: int = 3306,
    user: str = "root",
) -> None:
    """(Re)create ``database`` holding ``rows`` generated transactions.

    Only databases named ``loyalty_bench_*`` are ever dropped: the server is shared.
    """
    if not database.startswith("loyalty_bench_"):
        raise ValueError(f"benchmark databases are named loyalty_bench_*, got {database!r}")
    csv_path = write_csv(generate(base_batch(rows)), workdir / f"{database}.csv")
    _sql(
        f"drop database if exists `{database}`; create database `{database}`; "
        f"use `{database}`; {TRANSACTIONS_DDL};"
        "set unique_checks = 0; " + load_csv_sql(csv_path),
        None,
        host,
        port,
        user,
    )
    csv_path.unlink()


def append_rows(
    database: str,
    batch: Batch,
    workdir: Path,
    host: str = "127.0.0.1",
    port: int = 3306,
    user: str = "root",
) -> None:
    """Append a batch (e.g. :func:`increment_batch`) to ``database.transactions``."""
    csv_path = write_csv(generate(batch), workdir / f"{database}-{batch.first_id}.csv")
    _sql(load_csv_sql(csv_path), database, host, port, user)
    csv_path.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: create a benchmark database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/tmp"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    create_database(args.database, args.rows, args.workdir.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
