"""The export model's publishing, without Spark: never a partial export, on volumes or locally.

On Databricks the export lands on a Unity Catalog volume, which has no symbolic links and no
atomic folder rename, so the model writes a new version folder, checks it, and only then
replaces the pointer file ``<export>.current.json``. The model's functions take a Spark
DataFrame; a small stand-in that writes real Parquet with pyarrow drives them here.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.config import PROJECT_DIR


def _load_model() -> ModuleType:
    path = PROJECT_DIR / "models" / "marts" / "loyalty_tiers_export.py"
    spec = importlib.util.spec_from_file_location("loyalty_tiers_export", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export = _load_model()


class FakeReader:
    """``session.read``: counts what is really on disk, unless told to lie."""

    def __init__(self, rows_seen: int | None) -> None:
        self.rows_seen = rows_seen

    def parquet(self, path: str) -> FakeFrame:
        """Read back a written version."""
        table = pq.read_table(path.removeprefix("file://"))
        if self.rows_seen is not None:
            table = table.slice(0, self.rows_seen)
        return FakeFrame(table)


class FakeSession:
    """``frame.sparkSession``."""

    def __init__(self, rows_seen: int | None) -> None:
        self.read = FakeReader(rows_seen)


class FakeWriter:
    """``frame.write``: one Parquet file per folder, optionally failing after a partial write."""

    def __init__(self, frame: FakeFrame) -> None:
        self.frame = frame

    def mode(self, mode: str) -> FakeWriter:
        """Only ``errorifexists``: a version folder is never written twice."""
        assert mode == "errorifexists"
        return self

    def parquet(self, path: str) -> None:
        """Write the frame as one Parquet file in a new folder."""
        folder = path.removeprefix("file://")
        os.makedirs(folder)  # errorifexists
        pq.write_table(self.frame.table, os.path.join(folder, "part-00000.parquet"))
        if self.frame.fail_after_write:
            raise OSError("simulated: executor lost after writing part of the export")


class FakeFrame:
    """The few DataFrame methods the export model calls."""

    def __init__(
        self, table: pa.Table, fail_after_write: bool = False, rows_seen: int | None = None
    ) -> None:
        self.table = table
        self.fail_after_write = fail_after_write
        self.sparkSession = FakeSession(rows_seen)

    def count(self) -> int:
        """Rows in the frame."""
        return int(self.table.num_rows)

    def coalesce(self, partitions: int) -> FakeFrame:
        """One file per version, as in the model."""
        return self

    def select(self, *columns: str) -> FakeFrame:
        """Keep ``columns``."""
        return FakeFrame(self.table.select(list(columns)))

    @property
    def write(self) -> FakeWriter:
        """A writer for this frame."""
        return FakeWriter(self)


def tiers(customers: int) -> pa.Table:
    return pa.table({"customer_id": list(range(customers)), "loyalty_tier": ["Gold"] * customers})


def pointer(target: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(export.pointer_path(str(target))).read_text())
    return data


def test_pointer_names_a_complete_checked_version(tmp_path: Path) -> None:
    target = tmp_path / "vol" / "loyalty_tiers.parquet"
    export.publish_parquet_pointer(FakeFrame(tiers(3)), str(target), require_volume=False)
    first = pointer(target)
    export.publish_parquet_pointer(FakeFrame(tiers(5)), str(target), require_volume=False)
    second = pointer(target)
    assert second["rows"] == 5
    assert pq.read_table(second["path"]).num_rows == 5
    assert second["version"] == os.path.basename(second["path"])
    assert os.path.isdir(first["path"])  # kept for readers that opened it mid-switch
    assert not target.exists()  # readers go through the pointer, never a half-replaced folder


def test_old_versions_are_pruned_but_never_the_current(tmp_path: Path) -> None:
    target = tmp_path / "loyalty_tiers.parquet"
    for customers in (1, 2, 3, 4):
        export.publish_parquet_pointer(FakeFrame(tiers(customers)), str(target), False)
    versions = sorted(os.listdir(tmp_path / ".loyalty_tiers.parquet.versions"))
    assert len(versions) == export.KEEP_VERSIONS
    assert os.path.basename(pointer(target)["path"]) in versions


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (FakeFrame(tiers(7), fail_after_write=True), OSError),
        (FakeFrame(tiers(7), rows_seen=6), RuntimeError),  # written != expected rows
    ],
)
def test_a_failed_publish_leaves_the_previous_export(
    tmp_path: Path, frame: FakeFrame, error: type[Exception]
) -> None:
    target = tmp_path / "loyalty_tiers.parquet"
    export.publish_parquet_pointer(FakeFrame(tiers(3)), str(target), require_volume=False)
    before = pointer(target)
    with pytest.raises(error):
        export.publish_parquet_pointer(frame, str(target), require_volume=False)
    assert pointer(target) == before
    assert pq.read_table(before["path"]).num_rows == 3
    versions = os.listdir(tmp_path / ".loyalty_tiers.parquet.versions")
    assert versions == [before["version"]], "the partial version must be removed"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/srv/exports/loyalty_tiers.parquet", "must be a file path inside a Unity Catalog volume"),
        ("/Volumes/main/loyalty/loyalty_tiers.parquet", "inside a Unity Catalog volume"),
        ("/Volumes/nocat/noschema/novolume/x.parquet", "CREATE VOLUME IF NOT EXISTS nocat"),
    ],
)
def test_databricks_export_must_live_on_an_existing_volume(path: str, message: str) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        export.publish_parquet_pointer(FakeFrame(tiers(1)), path)


def test_local_symlink_swap_still_publishes_at_the_export_path(tmp_path: Path) -> None:
    target = tmp_path / "exports" / "loyalty_tiers.parquet"
    export.publish_parquet([(FakeFrame(tiers(2)), str(target))])
    export.publish_parquet([(FakeFrame(tiers(4)), str(target))])
    assert target.is_symlink()
    assert pq.read_table(target).num_rows == 4


class FakeConfig:
    """``dbt.config`` of a Python model."""

    def __init__(self, meta: dict[str, str]) -> None:
        self.meta = meta

    def meta_get(self, key: str, default: str | None = None) -> str | None:
        """A ``meta`` value, as dbt renders it for the target."""
        return self.meta.get(key, default)


class FakeDbt:
    """The ``dbt`` object a Python model receives."""

    def __init__(self, meta: dict[str, str]) -> None:
        self.config = FakeConfig(meta)

    def ref(self, name: str) -> FakeFrame:
        """The upstream models: one customer, one movement."""
        names = {
            "customer_loyalty_tiers": export.EXPORT_COLUMNS,
            "loyalty_tier_movements": export.MOVEMENT_COLUMNS,
        }
        columns = {column: [1] for column in names[name]}
        return FakeFrame(pa.table(columns))


@pytest.mark.parametrize(
    ("publish", "called"),
    [
        ("pointer", "publish_parquet_pointer"),
        ("symlink", "publish_parquet"),
        (None, "publish_parquet"),
    ],
)
def test_model_publishes_the_way_the_target_says(
    monkeypatch: pytest.MonkeyPatch, publish: str | None, called: str
) -> None:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        export,
        "publish_parquet_pointer",
        lambda frame, path: calls.append(("publish_parquet_pointer", path)),
    )
    monkeypatch.setattr(
        export,
        "publish_parquet",
        lambda datasets: calls.extend(("publish_parquet", path) for _, path in datasets),
    )
    meta = {"export_path": "/Volumes/c/s/v/loyalty_tiers.parquet"}
    if publish is not None:
        meta["export_publish"] = publish
    returned = export.model(FakeDbt(meta), None)
    assert calls == [
        (called, "/Volumes/c/s/v/loyalty_tiers.parquet"),
        (called, "/Volumes/c/s/v/loyalty_tier_movements.parquet"),
    ]
    assert returned.count() == 1


def test_model_refuses_an_unknown_publish_mode() -> None:
    meta = {"export_path": "/x/loyalty_tiers.parquet", "export_publish": "rename"}
    with pytest.raises(ValueError, match="export_publish"):
        export.model(FakeDbt(meta), None)
