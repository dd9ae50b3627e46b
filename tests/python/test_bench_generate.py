"""The benchmark workload: deterministic, shaped as issue 5 asks, and loaded exactly."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.generate import (
    AS_OF_DATE,
    FIRST_DATE,
    SCHEMA,
    Batch,
    append_rows,
    base_batch,
    create_database,
    generate,
    increment_batch,
)
from tests.python.conftest import SourceDatabase, drop_database

N = 20_000


def test_same_batch_gives_identical_rows() -> None:
    assert generate(base_batch(N)).equals(generate(base_batch(N)))


def test_another_seed_gives_other_rows() -> None:
    other = Batch(first_id=1, rows=N, customers=N // 10, seed=1)
    assert not generate(base_batch(N)).equals(generate(other))


def test_shape_matches_the_issue() -> None:
    table = generate(base_batch(N))
    assert table.schema == SCHEMA
    assert table.column("transaction_id").to_pylist() == list(range(1, N + 1))
    customers = pc.count_distinct(table.column("customer_id")).as_py()
    assert N // 10 * 0.95 <= customers <= N // 10  # ~10 transactions per customer
    dates = pc.min_max(table.column("transaction_date")).as_py()
    assert (dates["min"], dates["max"]) == (FIRST_DATE, AS_OF_DATE)
    assert 540 <= (AS_OF_DATE - FIRST_DATE).days <= 550  # 18 months
    null_share = table.column("amount").null_count / N
    assert 0.09 <= null_share <= 0.11
    amounts = [a for a in table.column("amount").to_pylist() if a is not None]
    assert all(a.as_tuple().exponent == -2 for a in amounts)
    assert all(abs(a) < Decimal("100000000") for a in amounts)
    assert 0.005 <= sum(a < 0 for a in amounts) / len(amounts) <= 0.015  # refunds


def test_increments_continue_the_id_sequence_inside_the_last_month() -> None:
    first, second = generate(increment_batch(N, 1)), generate(increment_batch(N, 2))
    assert first.num_rows == second.num_rows == N // 100
    ids = first.column("transaction_id").to_pylist() + second.column("transaction_id").to_pylist()
    assert ids == list(range(N + 1, N + 1 + 2 * (N // 100)))
    low = pc.min(first.column("transaction_date")).as_py()
    assert low >= AS_OF_DATE - dt.timedelta(days=30)


def test_bulk_load_puts_exactly_the_generated_rows_in_mysql(tmp_path: Path) -> None:
    name = f"loyalty_bench_test_{uuid.uuid4().hex[:8]}"
    try:
        create_database(name, 2_000, tmp_path)
        append_rows(name, increment_batch(2_000, 1), tmp_path)
        expected = pa.concat_tables(
            [generate(base_batch(2_000)), generate(increment_batch(2_000, 1))]
        )
        loaded = SourceDatabase(name).rows()
        assert loaded == [
            (r["transaction_id"], r["customer_id"], r["transaction_date"], r["amount"])
            for r in expected.to_pylist()
        ]
        assert sum(r[3] is None for r in loaded) == expected.column("amount").null_count > 0
    finally:
        drop_database(SourceDatabase(name))


def test_only_benchmark_databases_are_ever_dropped(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loyalty_bench_"):
        create_database("loyalty_demo", 10, tmp_path)
    assert not list(tmp_path.iterdir())  # refused before writing anything
