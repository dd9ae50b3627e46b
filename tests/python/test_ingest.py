"""The dlt ingest against the real MariaDB: exact rows, exact decimals, incremental, refresh."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.config import SourceConfig
from ingest.pipeline import IngestError, lake_dir, run_ingest
from tests.python.conftest import Row, SourceDatabase, create_database, drop_database

D = Decimal
EDGE_ROWS: list[Row] = [
    (1, 10, dt.date(2024, 1, 1), D("0.01")),
    (2, 10, dt.date(2024, 1, 1), D("-0.01")),
    (3, 11, dt.date(2024, 2, 29), D("99999999.99")),
    (4, 11, dt.date(2024, 2, 29), D("-99999999.99")),
    (5, 12, dt.date(2025, 8, 7), None),
    (6, None, dt.date(2025, 8, 7), D("1234.50")),
    (7, 13, None, D("10.10")),
    (8, 13, dt.date(1970, 1, 1), D("0.00")),
    (2147483647, 2147483647, dt.date(2999, 12, 31), D("5607.42")),
]


def lake_table(home: Path) -> pa.Table:
    """Every Parquet file of the lake's transactions table, as one Arrow table."""
    files = sorted((lake_dir(home) / "transactions").glob("*.parquet"))
    assert files, "no Parquet files in the lake"
    return pa.concat_tables(pq.read_table(f) for f in files)


def lake_rows(home: Path) -> list[Row]:
    table = lake_table(home).sort_by("transaction_id")
    cols = ["transaction_id", "customer_id", "transaction_date", "amount"]
    return [tuple(r[c] for c in cols) for r in table.to_pylist()]


def test_ingest_loads_exactly_the_source_rows_with_exact_decimals(
    database: SourceDatabase, home: Path
) -> None:
    database.insert(EDGE_ROWS)
    result = run_ingest(database.config, home)
    assert result.rows_loaded == len(EDGE_ROWS)
    assert lake_rows(home) == database.rows()
    for path in (lake_dir(home) / "transactions").glob("*.parquet"):
        schema = pq.read_schema(path)
        assert schema.field("amount").type == pa.decimal128(10, 2)
        assert schema.field("transaction_date").type == pa.date32()
    table = lake_table(home)
    load_ids = set(table.column("_dlt_load_id").to_pylist())
    assert load_ids == {result.load_id}


def test_completed_load_is_recorded_in_the_ledger(database: SourceDatabase, home: Path) -> None:
    database.insert(EDGE_ROWS[:2])
    result = run_ingest(database.config, home)
    ledger = pa.concat_tables(
        pa.Table.from_pylist([json.loads(line) for line in f.read_text().splitlines() if line])
        for f in (lake_dir(home) / "_dlt_loads").iterdir()
    )
    assert result.load_id in ledger.column("load_id").to_pylist()
    assert set(ledger.column("status").to_pylist()) == {0}


def test_second_run_loads_only_new_rows(database: SourceDatabase, home: Path) -> None:
    database.insert(EDGE_ROWS[:4])
    first = run_ingest(database.config, home)
    database.insert(EDGE_ROWS[4:7])
    second = run_ingest(database.config, home)
    third = run_ingest(database.config, home)
    assert (first.rows_loaded, second.rows_loaded, third.rows_loaded) == (4, 3, 0)
    ids = lake_table(home).column("transaction_id").to_pylist()
    assert sorted(ids) == [r[0] for r in database.rows()]  # no duplicate, nothing missing


def test_full_refresh_reloads_every_row_once(database: SourceDatabase, home: Path) -> None:
    database.insert(EDGE_ROWS[:5])
    run_ingest(database.config, home)
    database.execute("update transactions set amount = 42.42 where transaction_id = 1")
    refreshed = run_ingest(database.config, home, full_refresh=True)
    assert refreshed.rows_loaded == 5
    assert lake_rows(home) == database.rows()  # the corrected amount, and no stale copy


def test_extra_source_column_is_ignored(database: SourceDatabase, home: Path) -> None:
    database.execute("alter table transactions add column channel varchar(10) default 'web'")
    database.insert(EDGE_ROWS[:3])
    run_ingest(database.config, home)
    assert "channel" not in lake_table(home).column_names
    assert lake_rows(home) == database.rows()


@pytest.mark.parametrize("new_type", ["decimal(12, 2)", "varchar(20)", "bigint"])
def test_changed_column_type_fails_before_anything_is_written(
    database: SourceDatabase, home: Path, new_type: str
) -> None:
    database.insert(EDGE_ROWS[:3])
    run_ingest(database.config, home)
    before = sorted(p.name for p in (lake_dir(home) / "transactions").iterdir())
    column = "customer_id" if new_type == "bigint" else "amount"
    database.execute(f"alter table transactions modify {column} {new_type}")
    database.insert([(100, 1, dt.date(2024, 5, 5), D("1.00"))])
    with pytest.raises(IngestError, match=f"schema contract violated.*'{column}'"):
        run_ingest(database.config, home)
    assert sorted(p.name for p in (lake_dir(home) / "transactions").iterdir()) == before


def test_lake_refuses_a_second_source_without_full_refresh(
    database: SourceDatabase, home: Path
) -> None:
    database.insert(EDGE_ROWS[:2])
    run_ingest(database.config, home)
    other = create_database()
    try:
        other.insert(EDGE_ROWS[2:4])
        with pytest.raises(IngestError, match="Run with --full-refresh"):
            run_ingest(other.config, home)
        assert run_ingest(other.config, home, full_refresh=True).rows_loaded == 2
        assert lake_rows(home) == other.rows()
    finally:
        drop_database(other)


def test_wrong_password_names_the_source_and_never_the_password(
    database: SourceDatabase, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-Pa55-" + database.name
    config = SourceConfig(
        host=database.config.host,
        port=database.config.port,
        database=database.name,
        user="loyalty_nobody",
        password=secret,
    )
    with pytest.raises(IngestError) as raised:
        run_ingest(config, home)
    message = str(raised.value)
    assert f"loyalty_nobody@{config.host}:{config.port}/{database.name}" in message
    assert "Access denied" in message
    assert secret not in message
    assert secret not in caplog.text
    assert secret not in repr(config)


def test_missing_table_is_a_clear_error(database: SourceDatabase, home: Path) -> None:
    database.execute("drop table transactions")
    with pytest.raises(IngestError, match=r"transactions.*(NoSuchTable|doesn't exist|not found)"):
        run_ingest(database.config, home)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_silent_server_times_out_instead_of_hanging(silent_server: int, home: Path) -> None:
    config = SourceConfig(
        host="127.0.0.1",
        port=silent_server,
        database="loyalty",
        user="root",
        password="",
        connect_timeout_s=2,
        read_timeout_s=2,
    )
    started = time.monotonic()
    with pytest.raises(IngestError, match=f"127.0.0.1:{silent_server}/loyalty"):
        run_ingest(config, home)
    assert time.monotonic() - started < 30
    assert not (home / "lake" / "raw_mysql" / "transactions").exists()
