"""The dlt resource for MySQL ``transactions``: exact types, incremental by primary key.

The resource is dlt's own ``sql_table`` with the pyarrow backend, so ``amount`` arrives as
``decimal128(10, 2)`` and stays exact all the way into the lake. The reflected table is checked
against the schema the lake and the dbt models are built for *before* a single row is read: a
column that changed type (``amount`` widened to ``DECIMAL(12,2)`` or turned into text) stops the
run with a message naming the column, instead of writing Parquet files Spark cannot read beside
the old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dlt
import sqlalchemy as sa
from dlt.extract.resource import DltResource
from dlt.sources.sql_database import sql_table

from ingest.config import SourceConfig

LAKE_COLUMNS = ("transaction_id", "customer_id", "transaction_date", "amount")
"""The source columns the lake carries; other columns in MySQL are ignored, never a crash."""


class SourceSchemaError(RuntimeError):
    """The MySQL table no longer has the column types the lake is built for."""


@dataclass(frozen=True)
class _ExpectedColumn:
    name: str
    sql: str
    matches: Callable[[sa.types.TypeEngine[object]], bool]


def _is_plain_int(column_type: sa.types.TypeEngine[object]) -> bool:
    return type(column_type).__name__ == "INTEGER" and not getattr(column_type, "unsigned", False)


def _is_date(column_type: sa.types.TypeEngine[object]) -> bool:
    return type(column_type).__name__ == "DATE"


def _is_decimal_10_2(column_type: sa.types.TypeEngine[object]) -> bool:
    return (
        isinstance(column_type, sa.Numeric)
        and not isinstance(column_type, sa.Float)
        and column_type.precision == 10
        and column_type.scale == 2
    )


EXPECTED_COLUMNS = (
    _ExpectedColumn("transaction_id", "INT", _is_plain_int),
    _ExpectedColumn("customer_id", "INT", _is_plain_int),
    _ExpectedColumn("transaction_date", "DATE", _is_date),
    _ExpectedColumn("amount", "DECIMAL(10,2)", _is_decimal_10_2),
)


def check_table_schema(table: sa.Table) -> None:
    """Fail before extraction when a lake column is missing or changed type.

    Args:
        table: The reflected SQLAlchemy table (dlt calls this as ``table_adapter_callback``).

    Raises:
        SourceSchemaError: Lists every offending column with its found and expected type.
    """
    problems = []
    for expected in EXPECTED_COLUMNS:
        column = table.columns.get(expected.name)
        if column is None:
            problems.append(f"column {expected.name!r} is missing (expected {expected.sql})")
        elif not expected.matches(column.type):
            problems.append(f"column {expected.name!r} is {column.type}, expected {expected.sql}")
    if problems:
        raise SourceSchemaError(
            f"schema contract violated for table {table.name!r}: "
            + "; ".join(problems)
            + ". Nothing was written. Restore the column type in MySQL, or change the lake "
            "schema deliberately (ingest/source.py, macros/register_lake_sources.sql) and run "
            "with --full-refresh."
        )


def transactions_resource(config: SourceConfig, chunk_size: int = 100_000) -> DltResource:
    """Build the ``transactions`` resource: append-only, incremental on ``transaction_id``.

    An id cursor reads exactly the new rows by a primary-key range scan. It cannot see UPDATEs
    or DELETEs in MySQL; ``loyalty reconcile``-style checks and ``--full-refresh`` cover those.

    Args:
        config: Connection settings (timeouts included).
        chunk_size: Rows per Arrow batch; memory per batch grows with it.

    Returns:
        The dlt resource, reflected and schema-checked (connection errors raise here).
    """
    engine = sa.create_engine(
        config.sqlalchemy_url(),
        connect_args=config.connect_args(),
        pool_pre_ping=True,
    )
    resource: DltResource = sql_table(
        credentials=engine,
        table=config.table,
        backend="pyarrow",
        chunk_size=chunk_size,
        reflection_level="full_with_precision",
        included_columns=list(LAKE_COLUMNS),
        table_adapter_callback=check_table_schema,
        incremental=dlt.sources.incremental("transaction_id", row_order="asc"),
        write_disposition="append",
        primary_key="transaction_id",
    )
    return resource
