"""Both ingest backends write the same exact lake: ``decimal128(10, 2)`` amounts, ``int64`` ids.

The proof for ConnectorX (chosen by the benchmark for speed and flat memory) runs against the real
MariaDB: every edge value survives exactly, and files written by the two backends carry identical
physical Parquet types, so Spark reads them side by side in one table.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.pipeline import IngestError, lake_dir, run_ingest
from ingest.source import BACKENDS, LAKE_SCHEMA, to_lake_schema
from tests.python.conftest import SourceDatabase, connect
from tests.python.test_ingest import EDGE_ROWS, lake_rows

LAKE_FILE_SCHEMA = LAKE_SCHEMA.append(
    pa.field("_dlt_load_id", pa.dictionary(pa.int8(), pa.string()), nullable=False)
)


def connectorx_batch(amounts: list[Decimal | None]) -> pa.Table:
    """A batch as ConnectorX returns it from MySQL: int32 ids, decimal128(38, 10) amounts."""
    n = len(amounts)
    return pa.table(
        {
            "transaction_id": pa.array(range(1, n + 1), pa.int32()),
            "customer_id": pa.array([7] * n, pa.int32()),
            "transaction_date": pa.array([dt.date(2025, 1, 1)] * n, pa.date32()),
            "amount": pa.array(amounts, pa.decimal128(38, 10)),
        }
    )


def test_cast_keeps_every_cent_and_widens_ids() -> None:
    amounts = [Decimal("99999999.99"), Decimal("-99999999.99"), Decimal("0.01"), None]
    cast = to_lake_schema(connectorx_batch(amounts))
    assert cast.schema == LAKE_SCHEMA
    assert cast.column("amount").to_pylist() == amounts
    assert cast.column("transaction_id").type == pa.int64()


@pytest.mark.parametrize("bad", [Decimal("1.005"), Decimal("100000000.00")])
def test_cast_refuses_a_value_it_would_round_or_overflow(bad: Decimal) -> None:
    with pytest.raises(pa.ArrowInvalid):
        to_lake_schema(connectorx_batch([Decimal("1.00"), bad]))


def env_for(backend: str) -> dict[str, str]:
    return {"LOYALTY_INGEST_BACKEND": backend}


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_writes_exact_rows_and_the_lake_schema(
    database: SourceDatabase, home: Path, backend: str
) -> None:
    database.insert(EDGE_ROWS)
    result = run_ingest(database.config, home, env=env_for(backend))
    assert result.rows_loaded == len(EDGE_ROWS)
    assert lake_rows(home) == database.rows()  # Decimal for Decimal, None for NULL
    files = sorted((lake_dir(home) / "transactions").glob("*.parquet"))
    assert files
    for path in files:
        assert pq.read_schema(path).remove_metadata() == LAKE_FILE_SCHEMA


def test_files_of_both_backends_have_identical_physical_types(
    database: SourceDatabase, home: Path
) -> None:
    database.insert(EDGE_ROWS[:4])
    run_ingest(database.config, home, env=env_for("pyarrow"))
    database.insert(EDGE_ROWS[4:])
    second = run_ingest(database.config, home, env=env_for("connectorx"))
    assert second.rows_loaded == len(EDGE_ROWS) - 4  # incremental across backends
    files = sorted((lake_dir(home) / "transactions").glob("*.parquet"))
    assert len(files) == 2
    physical = [pq.read_metadata(f).schema.to_arrow_schema().remove_metadata() for f in files]
    parquet_types = [str(pq.read_metadata(f).schema) for f in files]
    assert physical[0] == physical[1]
    assert parquet_types[0].split("{", 1)[1] == parquet_types[1].split("{", 1)[1]
    assert lake_rows(home) == database.rows()


def test_unknown_backend_is_a_named_configuration_error(
    database: SourceDatabase, home: Path
) -> None:
    with pytest.raises(IngestError, match="LOYALTY_INGEST_BACKEND must be one of"):
        run_ingest(database.config, home, env=env_for("pandas"))


def test_zero_date_makes_connectorx_fall_back_to_pyarrow_which_reads_null(
    database: SourceDatabase, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = connect(database.name)
    try:
        cursor = conn.cursor()
        cursor.execute("set session sql_mode = ''")  # the only way a zero date gets in
        cursor.execute("insert into transactions values (1, 1, '0000-00-00', 1.00)")
        conn.commit()
    finally:
        conn.close()
    database.insert([(2, 1, dt.date(2025, 1, 1), Decimal("2.00"))])
    with caplog.at_level(logging.WARNING):
        result = run_ingest(database.config, home, env=env_for("connectorx"))
    assert result.rows_loaded == 2
    assert any("reading with pyarrow" in r.getMessage() for r in caplog.records)
    files = sorted((lake_dir(home) / "transactions").glob("*.parquet"))
    dates = pa.concat_tables(pq.read_table(f) for f in files).sort_by("transaction_id")
    assert dates.column("transaction_date").to_pylist() == [None, dt.date(2025, 1, 1)]
