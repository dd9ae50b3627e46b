"""Skip the dbt build of ``loyalty run`` when nothing it reads has changed since the last one.

A build reads the lake, the dbt project (models, macros, the thresholds seed, tests), the
``session`` plugin, the settings and the published tables. After every successful local build
``loyalty run`` records a fingerprint of all of them in ``$LOYALTY_HOME/dbt/last_build.json``; the
next run compares before starting Spark. Identical means the build would publish the same rows
again, so the run reprints the summary of the published export instead (a no-change run at 10M
rows: ~100 s of dbt and Spark, see bench/). Anything different (one new row, an edited seed, a
new day when no as-of date is set, a deleted export, a history partition written by
``loyalty backfill``) rebuilds. ``loyalty run --force`` always rebuilds.

Only digests are stored: no setting value (some ``DBT_*`` variables hold tokens) is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ingest.config import PROJECT_DIR
from ingest.pipeline import lake_dir

log = logging.getLogger(__name__)

STATE_FILE = "last_build.json"
PROJECT_PARTS = (
    "models",
    "macros",
    "seeds",
    "tests/dbt",
    "analyses",
    "dbt_project.yml",
    "profiles.example.yml",
)
SETTING_PREFIXES = ("LOYALTY_", "DBT_", "SPARK_", "PYSPARK_", "DATABRICKS_")
PACKAGES = ("dbt-core", "dbt-spark", "pyspark", "dlt", "pyarrow")


@dataclass(frozen=True)
class LastBuild:
    """The state recorded after a successful build."""

    fingerprint: dict[str, str]
    finished_at: str
    warnings: list[str]


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
    elif root.is_dir():
        files = (p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        yield from sorted(files)


def _listing(root: Path) -> Iterator[str]:
    """Path, size and modification time of every file under ``root`` (no reads: the lake)."""
    for path in _files(root):
        stat = path.stat()
        yield f"{path.relative_to(root)} {stat.st_size} {stat.st_mtime_ns}"


def _contents(root: Path, base: Path) -> Iterator[str]:
    """Path and sha256 of every file under ``root`` (the project: small text files)."""
    for path in _files(root):
        yield f"{path.relative_to(base)} {hashlib.sha256(path.read_bytes()).hexdigest()}"


def _link(path: Path) -> str:
    """Where a published export link points, or why it cannot be trusted."""
    if not path.is_symlink():
        return "missing" if not path.exists() else "not a link"
    target = os.readlink(path)
    return target if path.exists() else f"dangling {target}"


def fingerprint(
    settings: Mapping[str, str], home: Path, project_dir: Path, export: Path, today: dt.date
) -> dict[str, str] | None:
    """A digest per kind of input a build reads; ``None`` when the export is not published.

    ``settings`` is the environment as dbt will see it, taken before dbt and Spark add variables
    of their own.
    """
    export_state = _link(export)
    if export_state.startswith(("missing", "not a link", "dangling")):
        return None
    schema = settings.get("LOYALTY_SCHEMA", "loyalty")
    defaults = [] if settings.get("LOYALTY_AS_OF_DATE", "").strip() else [today.isoformat()]
    parts: dict[str, Iterable[str]] = {
        "lake": _listing(lake_dir(home, settings)),
        "tables": _listing(home / "spark" / "warehouse" / f"{schema}.db"),
        "project": (
            line for part in PROJECT_PARTS for line in _contents(project_dir / part, project_dir)
        ),
        "plugin": _contents(PROJECT_DIR / "dbt_session_python", PROJECT_DIR),
        "settings": [
            f"{k}={settings[k]}" for k in sorted(settings) if k.startswith(SETTING_PREFIXES)
        ],
        # with no LOYALTY_AS_OF_DATE the as-of date is the run's UTC day
        "as_of_date": defaults,
        "packages": [f"{p}=={metadata.version(p)}" for p in PACKAGES],
        "export": [export_state, _link(export.parent / "loyalty_tier_movements.parquet")],
    }
    return {
        kind: hashlib.sha256("\n".join(lines).encode()).hexdigest() for kind, lines in parts.items()
    }


def changed(previous: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """The kinds of input that differ between two fingerprints."""
    return sorted(k for k in {*previous, *current} if previous.get(k) != current.get(k))


def read_last_build(home: Path) -> LastBuild | None:
    """The recorded state, or ``None`` when there is none or it cannot be read."""
    path = home / "dbt" / STATE_FILE
    try:
        raw = json.loads(path.read_text())
        digests = {str(k): str(v) for k, v in dict(raw["fingerprint"]).items()}
        return LastBuild(digests, str(raw["finished_at"]), [str(w) for w in raw["warnings"]])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s (%s): the build runs", path, exc)
        return None


def record_build(home: Path, digest: Mapping[str, str] | None, warnings: list[str]) -> None:
    """Record a successful build (atomically); with no digest, forget any earlier one."""
    path = home / "dbt" / STATE_FILE
    if digest is None:
        path.unlink(missing_ok=True)
        return
    state = {
        "fingerprint": dict(digest),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "warnings": warnings,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(partial, path)
