"""The no-change skip: which inputs make ``loyalty run`` rebuild, and the recorded state.

Fast (no Spark, no database): a project copy, a lake and an export laid out on disk. The
end-to-end module checks the skip through the CLI on real data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path

import pytest

from ingest.config import PROJECT_DIR
from loyalty import freshness

TODAY = dt.date(2026, 12, 3)


class Home:
    """A home with a lake file, a table folder and a published export; a project copy."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.project = root / "project"
        self.export = root / "out" / "loyalty_tiers.parquet"
        self.settings = {"LOYALTY_AS_OF_DATE": "2025-08-07", "PATH": "/usr/bin"}
        lake = self.home / "lake" / "raw_mysql" / "transactions"
        lake.mkdir(parents=True)
        (lake / "1.parquet").write_bytes(b"rows")
        table = self.home / "spark" / "warehouse" / "loyalty.db" / "customer_loyalty_tiers"
        table.mkdir(parents=True)
        (table / "part-0.parquet").write_bytes(b"tiers")
        for part in ("models", "macros", "seeds", "tests/dbt"):
            shutil.copytree(PROJECT_DIR / part, self.project / part)
        for name in ("dbt_project.yml", "profiles.example.yml"):
            shutil.copy(PROJECT_DIR / name, self.project / name)
        self.publish("v1")

    def publish(self, version: str) -> None:
        """Point both export links at a new version folder, as the export model does."""
        for name in ("loyalty_tiers.parquet", "loyalty_tier_movements.parquet"):
            folder = self.export.parent / f".{name}.versions" / version
            folder.mkdir(parents=True, exist_ok=True)
            link = self.export.parent / name
            link.unlink(missing_ok=True)
            link.symlink_to(folder.relative_to(self.export.parent))

    def fingerprint(self, today: dt.date = TODAY) -> dict[str, str] | None:
        """The fingerprint of this layout on ``today``."""
        return freshness.fingerprint(self.settings, self.home, self.project, self.export, today)


@pytest.fixture
def layout(tmp_path: Path) -> Home:
    return Home(tmp_path)


def test_the_same_inputs_give_the_same_fingerprint(layout: Home) -> None:
    first = layout.fingerprint()
    assert first is not None
    assert layout.fingerprint() == first
    # the LOYALTY_/DBT_/SPARK_/PYSPARK_/DATABRICKS_ variables count, others do not
    layout.settings["PYSPARK_PYTHON"] = "/opt/python"
    assert freshness.changed(first, layout.fingerprint() or {}) == ["settings"]
    del layout.settings["PYSPARK_PYTHON"]
    layout.settings["JAVA_HOME"] = "/opt/java"
    assert layout.fingerprint() == first


def edit_seed(layout: Home) -> None:
    seed = layout.project / "seeds" / "tier_thresholds.csv"
    seed.write_text(seed.read_text().replace("100000", "100001"))


def add_lake_file(layout: Home) -> None:
    (layout.home / "lake" / "raw_mysql" / "transactions" / "2.parquet").write_bytes(b"new")


def grow_table_file(layout: Home) -> None:
    path = layout.home / "spark" / "warehouse" / "loyalty.db" / "customer_loyalty_tiers"
    (path / "part-0.parquet").write_bytes(b"tiers, rebuilt by hand")


def edit_model(layout: Home) -> None:
    model = layout.project / "models" / "marts" / "customer_loyalty_tiers.sql"
    model.write_text(model.read_text() + "\n-- edited\n")


def change_setting(layout: Home) -> None:
    layout.settings["LOYALTY_NULL_AMOUNT_POLICY"] = "zero"


def republish(layout: Home) -> None:
    layout.publish("v2")


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (add_lake_file, "lake"),
        (edit_seed, "project"),
        (edit_model, "project"),
        (grow_table_file, "tables"),
        (change_setting, "settings"),
        (republish, "export"),
    ],
)
def test_each_input_that_changes_is_named(layout: Home, change: object, kind: str) -> None:
    before = layout.fingerprint()
    assert before is not None
    change(layout)  # type: ignore[operator]
    after = layout.fingerprint()
    assert after is not None
    assert freshness.changed(before, after) == [kind]


def test_without_an_as_of_date_a_new_day_rebuilds(layout: Home) -> None:
    assert layout.fingerprint() == layout.fingerprint(TODAY + dt.timedelta(days=1))
    del layout.settings["LOYALTY_AS_OF_DATE"]
    before = layout.fingerprint()
    assert before is not None
    after = layout.fingerprint(TODAY + dt.timedelta(days=1))
    assert after is not None
    assert freshness.changed(before, after) == ["as_of_date"]


def test_a_missing_or_dangling_export_never_counts_as_fresh(layout: Home) -> None:
    target = layout.export.resolve()
    shutil.rmtree(target)
    assert layout.fingerprint() is None
    layout.export.unlink()
    assert layout.fingerprint() is None


def test_state_round_trip_stores_digests_only(layout: Home) -> None:
    layout.settings["DBT_ACCESS_TOKEN"] = "dapi-secret-token-123"  # noqa: S105 (a fake token)
    digest = layout.fingerprint()
    assert digest is not None
    freshness.record_build(layout.home, digest, ["stg: 3 rows without a customer"])
    state_file = layout.home / "dbt" / freshness.STATE_FILE
    assert "dapi-secret-token-123" not in state_file.read_text()
    last = freshness.read_last_build(layout.home)
    assert last is not None
    assert last.fingerprint == digest
    assert last.warnings == ["stg: 3 rows without a customer"]
    assert dt.datetime.fromisoformat(last.finished_at).tzinfo is not None
    assert not list(state_file.parent.glob(".*partial"))
    freshness.record_build(layout.home, None, [])  # a build starts: no fresh state any more
    assert freshness.read_last_build(layout.home) is None


def test_an_unreadable_state_means_build(layout: Home, caplog: pytest.LogCaptureFixture) -> None:
    state_file = layout.home / "dbt" / freshness.STATE_FILE
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"fingerprint": "not a mapping"}))
    with caplog.at_level(logging.WARNING):
        assert freshness.read_last_build(layout.home) is None
    assert "ignoring unreadable" in caplog.text
