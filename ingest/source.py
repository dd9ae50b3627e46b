"""The dlt resource for MySQL ``transactions``: exact types, incremental by primary key.

The resource is dlt's own ``sql_table``. Two table backends read the rows
(``LOYALTY_INGEST_BACKEND``):

- ``connectorx`` (default): ConnectorX streams Arrow batches from MySQL in native code, several
  times faster than a Python driver and with flat memory. It returns ``int32`` ids and
  ``decimal128(38, 10)`` amounts, so every batch is cast to :data:`LAKE_SCHEMA` before dlt writes
  it; the cast is *safe* (a value that would lose a digit raises instead of rounding).
- ``pyarrow``: rows through mysql-connector-python (the documented driver), converted to Arrow by
  dlt. Slower, and the ``mysql+mysqlconnector`` dialect buffers the whole result in memory.

Either way every lake file carries exactly :data:`LAKE_SCHEMA` (``decimal128(10, 2)`` amounts,
``int64`` ids), so Spark reads files written by either backend side by side. Reflection, the
schema check and every error message use mysql-connector-python with its timeouts in both
cases. The reflected table is checked
against the schema the lake and the dbt models are built for *before* a single row is read: a
column that changed type (``amount`` widened to ``DECIMAL(12,2)`` or turned into text) stops the
run with a message naming the column, instead of writing Parquet files Spark cannot read beside
the old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.extract.resource import DltResource
from dlt.sources.sql_database import sql_table

from ingest.config import SourceConfig

LAKE_COLUMNS = ("transaction_id", "customer_id", "transaction_date", "amount")
"""The source columns the lake carries; other columns in MySQL are ignored, never a crash."""

LAKE_SCHEMA = pa.schema(
    [
        pa.field("transaction_id", pa.int64(), nullable=False),
        pa.field("customer_id", pa.int64()),
        pa.field("transaction_date", pa.date32()),
        pa.field("amount", pa.decimal128(10, 2)),
    ]
)
"""The physical types of every lake file, whichever backend read the rows."""

BACKENDS = ("connectorx", "pyarrow")
"""Table backends ``LOYALTY_INGEST_BACKEND`` accepts; the first is the default."""


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


def to_lake_schema(batch: pa.Table) -> pa.Table:
    """Cast one Arrow batch to :data:`LAKE_SCHEMA`, refusing any lossy value.

    ConnectorX hands MySQL ``INT`` as ``int32`` and ``DECIMAL(10,2)`` as ``decimal128(38, 10)``.
    A safe cast rescales exactly and raises ``ArrowInvalid`` if a value would lose a digit or not
    fit, so the lake never holds a rounded amount.
    """
    columns = [batch.column(field.name).cast(field.type, safe=True) for field in LAKE_SCHEMA]
    return pa.Table.from_arrays(columns, schema=LAKE_SCHEMA)


def transactions_resource(
    config: SourceConfig, chunk_size: int = 100_000, backend: str = BACKENDS[0]
) -> DltResource:
    """Build the ``transactions`` resource: append-only, incremental on ``transaction_id``.

    An id cursor reads exactly the new rows by a primary-key range scan. It cannot see UPDATEs
    or DELETEs in MySQL; ``loyalty reconcile``-style checks and ``--full-refresh`` cover those.

    Args:
        config: Connection settings (timeouts included).
        chunk_size: Rows per Arrow batch; memory per batch grows with it.
        backend: ``connectorx`` or ``pyarrow`` (see the module docstring).

    Returns:
        The dlt resource, reflected and schema-checked (connection errors raise here).
    """
    engine = sa.create_engine(
        config.sqlalchemy_url(),
        connect_args=config.connect_args(),
        pool_pre_ping=True,
    )
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    backend_kwargs: dict[str, object] = {}
    if backend == "connectorx":
        # A stream of batches of chunk_size rows: memory stays flat as the table grows.
        backend_kwargs = {"return_type": "arrow_stream", "batch_size": chunk_size}
    resource: DltResource = sql_table(
        credentials=engine,
        table=config.table,
        backend=backend,  # type: ignore[arg-type]
        backend_kwargs=backend_kwargs,
        chunk_size=chunk_size,
        reflection_level="full_with_precision",
        included_columns=list(LAKE_COLUMNS),
        table_adapter_callback=check_table_schema,
        incremental=dlt.sources.incremental("transaction_id", row_order="asc"),
        write_disposition="append",
        primary_key="transaction_id",
    )
    return resource.add_map(to_lake_schema)
