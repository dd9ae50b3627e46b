"""Faults around dbt and the export, on the real local Spark: the published export survives.

Each run starts its own Spark (a subprocess with its own LOYALTY_HOME), so these are slow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest.config import PROJECT_DIR
from loyalty.demo import SAMPLE_SQL
from tests.python.conftest import SourceDatabase, connect, create_database, drop_database, run_cli
from tests.python.test_end_to_end import EXPORT_SCHEMA

pytestmark = pytest.mark.slow

PROJECT_PARTS = (
    "dbt_project.yml",
    "profiles.example.yml",
    "models",
    "macros",
    "seeds",
    "tests/dbt",
)


def copy_project(destination: Path) -> Path:
    """A copy of the dbt project that a test may edit (as an analyst edits the seed)."""
    for part in PROJECT_PARTS:
        source = PROJECT_DIR / part
        target = destination / part
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return destination


def export_fingerprint(export: Path) -> tuple[str, dict[str, str]]:
    """Where the export link points, and a hash of every file in that version."""
    version = export.resolve()
    return str(version), {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(version.iterdir())
    }


@dataclass
class Published:
    """A home with a published export from a first successful run, and an editable project."""

    database: SourceDatabase
    home: Path
    export: Path
    project: Path

    def env(self, **extra: str) -> dict[str, str]:
        """CLI variables: this database, home, export and the editable project copy."""
        return {
            **self.database.env(),
            "LOYALTY_HOME": str(self.home),
            "LOYALTY_EXPORT_PATH": str(self.export),
            "LOYALTY_AS_OF_DATE": "2025-08-07",
            "LOYALTY_DBT_PROJECT_DIR": str(self.project),
            **extra,
        }

    def edit_seed(self, replacements: dict[str, str]) -> None:
        """Write the project copy's seed: the shipped CSV with ``replacements`` applied."""
        seed = self.project / "seeds" / "tier_thresholds.csv"
        text = (PROJECT_DIR / "seeds" / "tier_thresholds.csv").read_text()
        for old, new in replacements.items():
            assert old in text
            text = text.replace(old, new)
        seed.write_text(text)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    root = tmp_path_factory.mktemp("faults")
    database = create_database("loyalty_fault")
    database.execute(SAMPLE_SQL.read_text())
    state = Published(
        database, root / "home", root / "out" / "tiers.parquet", copy_project(root / "project")
    )
    try:
        done = run_cli(["run"], state.env())
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield state
    finally:
        drop_database(database)


def test_broken_seed_stops_dbt_build_before_the_export(published: Published) -> None:
    before = export_fingerprint(published.export)
    published.edit_seed({"Gold,3,50000.00,10": "Gold,3,10000.00,10"})
    # Plain `dbt build`, as people who drive dbt themselves run it: the seed tests stop it.
    profiles = published.home / "profiles-manual"
    profiles.mkdir(exist_ok=True)
    shutil.copyfile(published.project / "profiles.example.yml", profiles / "profiles.yml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOYALTY_", "DBT_"))},
        **published.env(),
        "DBT_PROFILES_DIR": str(profiles),
        "DBT_TARGET_PATH": str(published.home / "dbt" / "target-manual"),
        "SPARK_CONF_DIR": str(PROJECT_DIR / "conf"),
        "PYSPARK_PYTHON": sys.executable,
    }
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [str(dbt), "build"],
        cwd=published.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode != 0
    assert "FAIL 1 tier_thresholds_increase_with_rank" in done.stdout
    assert "SKIP relation loyalty.loyalty_tiers_export" in done.stdout or (
        "loyalty_tiers_export"
        not in done.stdout.split("tier_thresholds_increase_with_rank")[1]
        .split("Finished running")[0]
        .replace("SKIP", "")
    )
    assert export_fingerprint(published.export) == before
    assert pq.read_table(published.export).num_rows == 650

    # `loyalty run` refuses the same CSV before it ingests or starts Spark, naming line and rule.
    started = time.monotonic()
    refused = run_cli(["run"], published.env())
    assert refused.returncode == 1
    assert "line 4 (tier 'Gold'): thresholds must not decrease with rank" in refused.stderr
    assert time.monotonic() - started < 30
    assert export_fingerprint(published.export) == before


def test_build_killed_while_exporting_keeps_the_export_then_rerun_publishes(
    published: Published,
) -> None:
    before = export_fingerprint(published.export)
    before_counts = Counter(r["tier_rank"] for r in pq.read_table(published.export).to_pylist())
    versions = published.export.parent / f".{published.export.name}.versions"
    existing = set(versions.iterdir())
    # Renamed tiers with quotes and commas: they must neither break nor inject into SQL.
    published.edit_seed({"Gold,3": "\"Pay'n'Save, Gold\",3", "Platinum,4": "O'Brien's Platinum,4"})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOYALTY_", "DBT_"))},
        **published.env(),
        "LOYALTY_ENV_FILE": os.devnull,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "loyalty", "run", "--skip-ingest"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if set(versions.iterdir()) - existing:  # the new version is being written: kill now
            break
        time.sleep(0.005)
    assert process.poll() is None, "the build ended before the export started"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert export_fingerprint(published.export) == before
    assert pq.read_table(published.export).num_rows == 650

    done = run_cli(["run", "--skip-ingest"], published.env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Pay'n'Save, Gold" in done.stdout
    rows = pq.read_table(published.export).to_pylist()
    names = {r["tier_rank"]: r["loyalty_tier"] for r in rows}
    assert names == {1: "Bronze", 2: "Silver", 3: "Pay'n'Save, Gold", 4: "O'Brien's Platinum"}
    assert Counter(r["tier_rank"] for r in rows) == before_counts
    assert export_fingerprint(published.export)[0] != before[0]
    leftovers = [p for p in versions.iterdir() if not (p / "_SUCCESS").exists()]
    assert leftovers == []  # the killed run's partial version was cleaned up


def test_empty_source_exports_an_empty_valid_dataset_and_leaks_no_secret(
    tmp_path: Path,
) -> None:
    database = create_database("loyalty_empty")
    user, password = f"le_{database.name[-8:]}", f"Pw-{os.urandom(6).hex()}-secret"
    conn = connect()
    try:
        cursor = conn.cursor()
        for host in ("%", "localhost"):
            cursor.execute(f"create user '{user}'@'{host}' identified by '{password}'")
            cursor.execute(f"grant select on `{database.name}`.* to '{user}'@'{host}'")
    finally:
        conn.close()
    try:
        export = tmp_path / "out" / "tiers.parquet"
        env = {
            **database.env(),
            "DB_USER": user,
            "DB_PASSWORD": password,
            "LOYALTY_HOME": str(tmp_path / "home"),
            "LOYALTY_EXPORT_PATH": str(export),
            "LOYALTY_AS_OF_DATE": dt.date(2025, 8, 7).isoformat(),
        }
        done = run_cli(["-v", "run"], env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        table = pq.read_table(export)
        assert table.num_rows == 0
        assert table.schema.remove_metadata() == EXPORT_SCHEMA
        assert "rows ingested: 0" in done.stdout
        assert password not in done.stdout + done.stderr
        leaked = [
            p for p in tmp_path.rglob("*") if p.is_file() and password.encode() in p.read_bytes()
        ]
        assert leaked == []
    finally:
        conn = connect()
        try:
            conn.cursor().execute(f"drop user if exists '{user}'@'%', '{user}'@'localhost'")
        finally:
            conn.close()
        drop_database(database)
