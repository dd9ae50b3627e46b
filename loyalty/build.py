"""Run dbt in this process against the local Spark session (or any target of the profile).

dbt runs in-process through ``dbtRunner`` so one JVM serves the lake registration, every SQL
model, the tests and the Python export. Each ``LOYALTY_HOME`` gets its own dbt profile copy,
``target/`` and ``logs/`` folders, so two homes never share a manifest or a metastore.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.config import PROJECT_DIR

log = logging.getLogger(__name__)

DEFAULT_EXPORT_PATH = "exports/loyalty_tiers.parquet"
_FORWARDED_PREFIXES = ("LOYALTY_", "DBT_", "SPARK_", "PYSPARK_", "DATABRICKS_")


class BuildError(RuntimeError):
    """``dbt build`` failed; the message lists the failed nodes."""


@dataclass(frozen=True)
class BuildResult:
    """Outcome of one dbt invocation.

    Attributes:
        nodes: Count of executed nodes by status (``success``, ``pass``, ``warn``, ...).
        warnings: ``name: message`` for each warning (e.g. unattributable rows).
        rows: For ``dbt show``: the result rows as dicts (column name to value).
    """

    nodes: dict[str, int]
    warnings: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def dbt_project_dir(env: Mapping[str, str]) -> Path:
    """The dbt project to run: ``LOYALTY_DBT_PROJECT_DIR``, else this repository.

    Pointing it at a copy lets you try an edited seed or model without touching the repository.
    """
    raw = env.get("LOYALTY_DBT_PROJECT_DIR", "").strip()
    path = Path(raw).expanduser().resolve() if raw else PROJECT_DIR
    if not (path / "dbt_project.yml").is_file():
        raise BuildError(f"LOYALTY_DBT_PROJECT_DIR={path} has no dbt_project.yml")
    return path


def export_path(env: Mapping[str, str]) -> Path:
    """Resolve ``LOYALTY_EXPORT_PATH`` (relative paths are relative to the project)."""
    raw = env.get("LOYALTY_EXPORT_PATH", "").strip() or DEFAULT_EXPORT_PATH
    path = Path(raw).expanduser()
    # abspath, not resolve(): the export path is a symbolic link that must not be followed.
    return Path(os.path.abspath(path if path.is_absolute() else PROJECT_DIR / path))


def prepare_environment(env: Mapping[str, str], home: Path) -> dict[str, str]:
    """Set the variables dbt and Spark read, in ``os.environ``; return what was set.

    Settings from ``.env`` (``LOYALTY_*``, ``DBT_*``, ``SPARK_*``) reach dbt, but never the
    ``DB_*`` credentials: dbt does not need them.
    """
    dbt_dir = home / "dbt"
    dbt_dir.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, str] = {
        k: v for k, v in env.items() if k.startswith(_FORWARDED_PREFIXES) and k not in os.environ
    }
    wanted.update(
        {
            "LOYALTY_HOME": str(home),
            "LOYALTY_EXPORT_PATH": str(export_path(env)),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "DBT_TARGET_PATH": str(dbt_dir / "target"),
            "DBT_LOG_PATH": str(dbt_dir / "logs"),
            "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", sys.executable),
            "SPARK_CONF_DIR": env.get("SPARK_CONF_DIR", str(PROJECT_DIR / "conf")),
        }
    )
    if not env.get("DBT_PROFILES_DIR"):
        # Always the example profile as committed: a run never uses a stale private copy.
        shutil.copyfile(dbt_project_dir(env) / "profiles.example.yml", dbt_dir / "profiles.yml")
        wanted["DBT_PROFILES_DIR"] = str(dbt_dir)
    os.environ.update(wanted)
    return wanted


def run_dbt(args: Sequence[str], callbacks: Sequence[Callable[[Any], None]] = ()) -> BuildResult:
    """Invoke dbt (e.g. ``["build"]``) in-process from the project directory.

    Every call in one process shares dbt-spark's SparkSession (``getOrCreate``), so a command
    that invokes dbt several times (``loyalty backfill``) starts the JVM once.
    ``callbacks`` receive dbt's structured events (used for the progress display).

    Raises:
        BuildError: dbt reported failure; the message names each failed node and why.
    """
    from dbt.cli.main import dbtRunner

    project = dbt_project_dir(os.environ)
    cwd = Path.cwd()
    os.chdir(project)
    try:
        outcome = dbtRunner(callbacks=list(callbacks)).invoke(
            [*args, "--project-dir", str(project)]
        )
    finally:
        os.chdir(cwd)
    nodes: dict[str, int] = {}
    warnings: list[str] = []
    failures: list[str] = []
    rows: list[dict[str, Any]] = []
    for result in getattr(outcome.result, "results", None) or []:
        table = getattr(result, "agate_table", None)
        if table is not None:  # dbt show
            rows.extend(dict(zip(table.column_names, row, strict=True)) for row in table.rows)
        status = str(getattr(result.status, "value", result.status))
        nodes[status] = nodes.get(status, 0) + 1
        name = getattr(result.node, "name", "?")
        message = " ".join(str(result.message or "").split())
        if status == "warn":
            warnings.append(f"{name}: {message}")
        elif status in {"error", "fail", "runtime error"}:
            failures.append(f"{name} ({status}): {message}")
    if not outcome.success:
        detail = "; ".join(failures) if failures else _exception_text(outcome.exception)
        raise BuildError(f"dbt {' '.join(args)} failed: {detail}")
    return BuildResult(nodes, warnings, rows)


def _exception_text(exc: BaseException | None) -> str:
    if exc is None:
        return "see the dbt log above"
    return " ".join(str(exc).split()) or type(exc).__name__
