"""The dbt project on the Databricks target, checked offline: parse, macro dispatch, manifest.

No workspace is reachable here, and none is needed: ``dbt parse`` and a ``run-operation`` of a
macro that issues no query render the profile and every node for the ``databricks`` adapter
without connecting. Three dbt processes run side by side, each in its own folder:

* the job's dbt command, exactly as ``resources/loyalty_job.yml`` gives it (``--vars`` from the
  bundle, ``dbt_profiles/``, only the ``DBT_HOST``/``DBT_ACCESS_TOKEN`` Databricks injects);
* the developer's path: ``profiles.example.yml`` and ``DATABRICKS_*``/``LOYALTY_*`` variables,
  running the on-run-start macro for real;
* the local target, for the contrast (Parquet, session submission, symlinked export).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from ingest.config import PROJECT_DIR

# Fake secrets: the tests look for them everywhere dbt writes and must never find them.
FAKE_TOKEN = "dapi-FAKE-job-token-0f1e2d3c"  # noqa: S105
FAKE_CLIENT_SECRET = "dose-FAKE-client-secret-9a8b7c"  # noqa: S105
# What a `databricks bundle deploy --var ...` would substitute; any values will do offline.
BUNDLE_VALUES = {
    "warehouse_id": "0123456789abcdef",
    "catalog": "loyalty_prod",
    "schema": "tiers",
    "raw_schema": "raw_mysql",
    "export_volume": "exports",
    "python_submission_method": "all_purpose_cluster",
    "python_cluster_id": "",  # the bundle default
}
JOB_PROFILES = PROJECT_DIR / "dbt_profiles"
# Every model file in the project: a model added later is checked without editing this test.
MODELS = {
    path.stem
    for path in (PROJECT_DIR / "models").rglob("*")
    if path.suffix in {".sql", ".py"} and not path.name.startswith("_")
}


@dataclass
class DbtRun:
    """One finished dbt process and the manifest it wrote."""

    returncode: int
    output: str
    manifest: dict[str, Any]
    folder: Path

    def node(self, name: str) -> dict[str, Any]:
        """The model or seed called ``name``."""
        for node in self.manifest["nodes"].values():
            if node["resource_type"] in {"model", "seed"} and node["name"] == name:
                result: dict[str, Any] = node
                return result
        raise KeyError(name)

    def source(self, table: str) -> dict[str, Any]:
        """The ``mysql`` source table called ``table``."""
        result: dict[str, Any] = self.manifest["sources"][f"source.loyalty_tiers.mysql.{table}"]
        return result


def _dbt() -> str:
    dbt = Path(os.environ.get("VIRTUAL_ENV", PROJECT_DIR / ".venv")) / "bin" / "dbt"
    return str(dbt) if dbt.exists() else shutil.which("dbt") or "dbt"


def _clean_env(folder: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The process environment minus anything that could steer dbt or Databricks auth."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOYALTY_", "DBT_", "DB_", "DATABRICKS_", "DESTINATION__"))
    }
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "DBT_TARGET_PATH": str(folder / "target"),
            "DBT_LOG_PATH": str(folder / "logs"),
            **extra,
        }
    )
    return env


def job_dbt_commands() -> list[str]:
    """The dbt task's commands from the bundle, with bundle variables substituted."""
    job = yaml.safe_load((PROJECT_DIR / "resources" / "loyalty_job.yml").read_text())
    tasks = job["resources"]["jobs"]["loyalty_tiers"]["tasks"]
    commands: list[str] = next(t for t in tasks if "dbt_task" in t)["dbt_task"]["commands"]
    return [
        re.sub(r"\$\{var\.([a-z_]+)\}", lambda m: BUNDLE_VALUES[m.group(1)], command)
        for command in commands
    ]


def _as_parse(command: str) -> list[str]:
    """``dbt build --target x --vars y`` -> ``dbt parse --target x --vars y`` (no connection)."""
    words = shlex.split(command)
    assert words[0] == "dbt"
    flags = [w for w in words[1:] if w.startswith("--")]
    first_flag = words.index(flags[0]) if flags else len(words)
    return ["parse", *words[first_flag:]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DbtRun]:
    """Run the three dbt processes in parallel and collect them (about 15 s together)."""
    base = tmp_path_factory.mktemp("dbx_dbt")
    example = base / "example_profiles"
    example.mkdir()
    shutil.copyfile(PROJECT_DIR / "profiles.example.yml", example / "profiles.yml")
    plans: dict[str, tuple[list[str], dict[str, str]]] = {
        # The Databricks job: dbt_profiles/ and the variables Databricks injects, nothing else.
        "job": (
            [
                *_as_parse(job_dbt_commands()[0]),
                "--profiles-dir",
                str(PROJECT_DIR / "dbt_profiles"),
            ],
            {"DBT_HOST": "adb-1234567890.12.azuredatabricks.net", "DBT_ACCESS_TOKEN": FAKE_TOKEN},
        ),
        # A developer or CI: profiles.example.yml, DATABRICKS_* variables, OAuth M2M, the
        # default (serverless) submission, the raw tables in another catalog. No LOYALTY_HOME:
        # the on-run-start macro must not need the local lake here.
        "env": (
            [
                "run-operation",
                "register_lake_sources",
                "--target",
                "databricks",
                "--profiles-dir",
                str(example),
            ],
            {
                "DATABRICKS_HOST": "https://127.0.0.1/",
                "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/fedcba9876543210",
                "DATABRICKS_CATALOG": "analytics",
                "DATABRICKS_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
                "DATABRICKS_CLIENT_SECRET": FAKE_CLIENT_SECRET,
                "DATABRICKS_CLUSTER_ID": "0101-010101-abcdefgh",
                "LOYALTY_RAW_CATALOG": "landing",
                "LOYALTY_SCHEMA": "loyalty_ci",
            },
        ),
        "local": (
            ["parse", "--target", "local", "--profiles-dir", str(example)],
            {"LOYALTY_HOME": str(base / "home")},
        ),
    }
    processes = {}
    for name, (args, extra) in plans.items():
        folder = base / name
        folder.mkdir()
        processes[name] = (
            folder,
            subprocess.Popen(
                [_dbt(), *args, "--no-partial-parse", "--project-dir", str(PROJECT_DIR)],
                env=_clean_env(folder, extra),
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
    results = {}
    for name, (folder, process) in processes.items():
        output, _ = process.communicate(timeout=300)
        manifest_path = folder / "target" / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        results[name] = DbtRun(process.returncode, output, manifest, folder)
    return results


@pytest.mark.parametrize("name", ["job", "env", "local"])
def test_dbt_succeeds_offline(runs: dict[str, DbtRun], name: str) -> None:
    assert runs[name].returncode == 0, runs[name].output[-3000:]


def test_every_model_is_in_the_databricks_manifest(runs: dict[str, DbtRun]) -> None:
    for name in ("job", "env"):
        models = {
            n["name"]
            for n in runs[name].manifest["nodes"].values()
            if n["resource_type"] == "model"
        }
        assert models == MODELS, name
        assert runs[name].manifest["metadata"]["adapter_type"] == "databricks"
    assert runs["local"].manifest["metadata"]["adapter_type"] == "spark"


def test_on_run_start_macro_is_a_no_op_on_databricks(runs: dict[str, DbtRun]) -> None:
    # The spark__ version would demand LOYALTY_HOME (unset here) or query the warehouse.
    assert runs["env"].returncode == 0, runs["env"].output[-3000:]
    assert "LOYALTY_HOME" not in runs["env"].output


def test_tables_are_delta_on_databricks_and_parquet_locally(runs: dict[str, DbtRun]) -> None:
    for name in (*MODELS, "tier_thresholds"):
        assert runs["job"].node(name)["config"]["file_format"] == "delta", name
        assert runs["env"].node(name)["config"]["file_format"] == "delta", name
        assert runs["local"].node(name)["config"]["file_format"] == "parquet", name


def test_python_model_submits_through_databricks(runs: dict[str, DbtRun]) -> None:
    job = runs["job"].node("loyalty_tiers_export")["config"]
    assert job["submission_method"] == "all_purpose_cluster"  # from the job's --vars
    assert job["cluster_id"] == ""  # an empty var falls back to DATABRICKS_CLUSTER_ID, not null
    env = runs["env"].node("loyalty_tiers_export")["config"]
    assert env["submission_method"] == "serverless_cluster"  # the default
    assert env["cluster_id"] == "0101-010101-abcdefgh"
    local = runs["local"].node("loyalty_tiers_export")["config"]
    assert local["submission_method"] == "session"


def test_export_goes_to_a_volume_through_a_pointer_on_databricks(runs: dict[str, DbtRun]) -> None:
    job = runs["job"].node("loyalty_tiers_export")["config"]["meta"]
    assert job["export_path"] == "/Volumes/loyalty_prod/tiers/exports/loyalty_tiers.parquet"
    assert job["export_publish"] == "pointer"
    env = runs["env"].node("loyalty_tiers_export")["config"]["meta"]
    # no LOYALTY_EXPORT_PATH: the default volume in the target catalog and schema
    assert env["export_path"] == "/Volumes/analytics/loyalty_ci/exports/loyalty_tiers.parquet"
    local = runs["local"].node("loyalty_tiers_export")["config"]["meta"]
    assert local["export_path"] == "exports/loyalty_tiers.parquet"
    assert local["export_publish"] == "symlink"


def test_source_points_at_unity_catalog_on_databricks_and_the_lake_locally(
    runs: dict[str, DbtRun],
) -> None:
    for table in ("transactions", "_dlt_loads"):
        job = runs["job"].source(table)
        assert (job["database"], job["schema"]) == ("loyalty_prod", "raw_mysql")
        assert job["relation_name"] == f"`loyalty_prod`.`raw_mysql`.`{table}`"
        env = runs["env"].source(table)
        assert (env["database"], env["schema"]) == ("landing", "raw_mysql")
        local = runs["local"].source(table)
        assert (local["database"], local["schema"]) == (None, "raw_mysql")
        assert local["relation_name"] == f"raw_mysql.{table}"


def test_models_land_in_the_configured_catalog_and_schema(runs: dict[str, DbtRun]) -> None:
    tiers = runs["job"].node("customer_loyalty_tiers")
    assert (tiers["database"], tiers["schema"]) == ("loyalty_prod", "tiers")
    tiers = runs["env"].node("customer_loyalty_tiers")
    assert (tiers["database"], tiers["schema"]) == ("analytics", "loyalty_ci")


def test_no_secret_reaches_dbt_artifacts_or_output(runs: dict[str, DbtRun]) -> None:
    for name in ("job", "env"):
        assert FAKE_TOKEN not in runs[name].output
        assert FAKE_CLIENT_SECRET not in runs[name].output
        for path in runs[name].folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert FAKE_TOKEN.encode() not in data, path
                assert FAKE_CLIENT_SECRET.encode() not in data, path
