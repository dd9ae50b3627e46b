"""The whole pipeline on the bundled sample: MariaDB -> dlt -> lake -> dbt on Spark -> export.

Runs the real CLI in a subprocess (its own JVM and metastore under a temporary LOYALTY_HOME),
then checks every customer of the Parquet export against the independent Decimal computation
in ``tiers_reference``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.config import PROJECT_DIR
from loyalty.demo import SAMPLE_SQL
from tests.python.conftest import (
    SourceDatabase,
    connect,
    create_database,
    drop_database,
    run_cli,
)
from tests.python.tiers_reference import expected_tiers, read_thresholds

pytestmark = pytest.mark.slow

AS_OF = dt.date(2025, 8, 7)
THRESHOLDS = read_thresholds(PROJECT_DIR / "seeds" / "tier_thresholds.csv")
D = Decimal

EXPORT_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("total_spent", pa.decimal128(20, 2)),
        ("transaction_count", pa.int64()),
        ("loyalty_tier", pa.string()),
        ("tier_rank", pa.int32()),
        ("as_of_date", pa.date32()),
        ("qualifying_start_date", pa.date32()),
    ]
)


@dataclass
class Pipeline:
    """A source database and an isolated home, run through the CLI."""

    database: SourceDatabase
    home: Path
    export: Path

    def env(self) -> dict[str, str]:
        """Variables for the CLI: the database, the home, the export, the sample as-of date."""
        return {
            **self.database.env(),
            "LOYALTY_HOME": str(self.home),
            "LOYALTY_EXPORT_PATH": str(self.export),
            "LOYALTY_AS_OF_DATE": AS_OF.isoformat(),
        }

    def run(self, *args: str) -> str:
        """``loyalty run ARGS``; fails the test with dbt's output unless it succeeds."""
        done = run_cli(["run", *args], self.env())
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        return done.stdout

    def export_rows(self) -> dict[int, dict[str, object]]:
        """The export by customer, after checking its exact schema."""
        table = pq.read_table(self.export)
        assert table.schema.remove_metadata() == EXPORT_SCHEMA
        return {row["customer_id"]: row for row in table.to_pylist()}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    database = create_database("loyalty_e2e")
    database.execute(SAMPLE_SQL.read_text())
    root = tmp_path_factory.mktemp("e2e")
    try:
        yield Pipeline(database, root / "home", root / "out" / "loyalty_tiers.parquet")
    finally:
        drop_database(database)


def assert_matches_reference(pipeline: Pipeline) -> None:
    expected = expected_tiers(pipeline.database.rows(), THRESHOLDS, AS_OF)
    exported = pipeline.export_rows()
    assert set(exported) == set(expected)
    mismatches = [
        (cid, row, expected[cid])
        for cid, row in exported.items()
        if (row["total_spent"], row["transaction_count"], row["loyalty_tier"], row["tier_rank"])
        != (
            expected[cid].total_spent,
            expected[cid].transaction_count,
            expected[cid].tier,
            expected[cid].rank,
        )
    ]
    assert not mismatches, mismatches[:5]
    assert {row["as_of_date"] for row in exported.values()} == {AS_OF}
    assert {row["qualifying_start_date"] for row in exported.values()} == {dt.date(2024, 8, 7)}


def test_sample_run_exports_the_reference_tiers_for_every_customer(pipeline: Pipeline) -> None:
    stdout = pipeline.run()
    assert len(pipeline.database.rows()) == 10_300
    assert_matches_reference(pipeline)
    assert len(pipeline.export_rows()) == 650
    assert "rows ingested: 10,300" in stdout
    assert f"export: {pipeline.export}" in stdout
    for tier in ("Platinum", "Gold", "Silver", "Bronze"):
        assert tier in stdout
    # the export is a link to a complete version folder, swapped in atomically
    assert pipeline.export.is_symlink()
    assert (pipeline.export.resolve() / "_SUCCESS").exists()


def test_incremental_run_with_edge_rows_matches_reference_and_keeps_previous_version(
    pipeline: Pipeline,
) -> None:
    first_version = pipeline.export.resolve()
    pipeline.database.insert(
        [
            (20001, None, dt.date(2025, 8, 1), D("100.00")),  # unattributable: no customer
            (20002, 101, None, D("100.00")),  # unattributable: no date
            (20003, 101, dt.date(2025, 8, 8), D("1000000.00")),  # after the as-of date
            (20004, 101, dt.date(2024, 8, 6), D("1000000.00")),  # one day before the window
            (20005, 101, dt.date(2024, 8, 7), D("0.01")),  # first day of the window
            (20006, 102, AS_OF, D("-250.00")),  # refund
            (20007, 99001, dt.date(2025, 9, 1), D("5.00")),  # customer seen only later
            (20008, 99002, dt.date(2023, 1, 1), D("5.00")),  # known, nothing qualifies
            (20009, 99003, AS_OF, D("99999999.99")),
            (20010, 99003, AS_OF, D("99999999.99")),
            (20011, 99003, AS_OF, None),  # imputed: same-day average
            (20012, 102, dt.date(1000, 1, 1), D("7.00")),  # far past
            (20013, 102, dt.date(9999, 12, 31), D("7.00")),  # far future
            (20014, 102, AS_OF, D("0.00")),  # zero amount
        ]
        # the largest DECIMAL(10,2), many times for one customer: no overflow anywhere
        + [(30000 + i, 99004, AS_OF, D("99999999.99")) for i in range(200)]
    )
    conn = connect(pipeline.database.name)
    try:
        cursor = conn.cursor()
        cursor.execute("set session sql_mode = ''")  # the server allows zero dates: one arrives
        cursor.execute("insert into transactions values (20015, 102, '0000-00-00', 3.00)")
        conn.commit()
    finally:
        conn.close()
    stdout = pipeline.run()
    assert "rows ingested: 215 (incremental" in stdout
    assert (
        "missing_customer_id 1, missing_transaction_date 2, after_as_of_date 3, "
        "before_qualifying_window 3, missing_amount 0"
    ) in stdout
    assert "negative_amount 1, zero_amount 1" in stdout
    assert_matches_reference(pipeline)
    rows = pipeline.export_rows()
    assert 99001 not in rows
    assert rows[99002]["loyalty_tier"] == "Bronze"
    assert rows[99002]["total_spent"] == D("0.00")
    assert rows[99003]["total_spent"] == D("299999999.97")
    assert rows[99003]["transaction_count"] == 3
    assert rows[99004]["total_spent"] == D("19999999998.00")
    assert rows[99004]["loyalty_tier"] == "Platinum"
    versions = sorted(p.name for p in first_version.parent.iterdir())
    assert first_version.name in versions
    assert len(versions) == 2
    assert pipeline.export.resolve() != first_version


def test_catalog_columns_match_the_documented_columns(pipeline: Pipeline) -> None:
    """Docs never drift from code: every relation's real columns are exactly those documented."""
    done = run_cli(["build", "docs", "generate"], pipeline.env())
    assert done.returncode == 0, done.stdout[-3000:]
    target = pipeline.home / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    checked = 0
    for unique_id, node in catalog["nodes"].items():
        if not unique_id.startswith(("model.", "seed.")):
            continue
        real = {name.lower() for name in node["columns"]}
        documented = {name.lower() for name in manifest["nodes"][unique_id]["columns"]}
        assert real == documented, (unique_id, real ^ documented)
        checked += 1
    assert checked == len([n for n in manifest["nodes"] if n.startswith(("model.", "seed."))])
    for unique_id, node in manifest["nodes"].items():
        if unique_id.startswith(("model.", "seed.")):
            assert node["description"].strip(), f"{unique_id} has no description"
            for column in node["columns"].values():
                assert column["description"].strip(), f"{unique_id}.{column['name']} undocumented"
    assert (target / "index.html").exists()
    assert os.path.getsize(target / "index.html") > 10_000
