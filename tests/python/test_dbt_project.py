"""The dbt project parses offline, is fully documented and tested, and validates its settings.

``dbt parse`` needs no Spark session, so these run in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ingest.config import PROJECT_DIR


def dbt_parse(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run ``dbt parse`` with the example profile and an isolated target folder."""
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    shutil.copyfile(PROJECT_DIR / "profiles.example.yml", profiles / "profiles.yml")
    target = tmp_path / "target"
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LOYALTY_", "DBT_", "DB_"))
    }
    full_env.update(
        {
            "LOYALTY_HOME": str(tmp_path / "home"),
            "DBT_PROFILES_DIR": str(profiles),
            "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            **env,
        }
    )
    dbt = Path(os.environ.get("VIRTUAL_ENV", PROJECT_DIR / ".venv")) / "bin" / "dbt"
    if not dbt.exists():
        dbt = Path(shutil.which("dbt") or "dbt")
    done = subprocess.run(
        [str(dbt), "parse", "--no-partial-parse", "--project-dir", str(PROJECT_DIR)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, target / "manifest.json"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    done, path = dbt_parse(tmp_path_factory.mktemp("parse"))
    assert done.returncode == 0, done.stdout[-3000:]
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def test_every_model_and_seed_has_tests(manifest: dict[str, Any]) -> None:
    tested = {
        parent
        for node in manifest["nodes"].values()
        if node["resource_type"] in {"test", "unit_test"}
        for parent in node["depends_on"]["nodes"]
    }
    tested |= {t["model"] for t in manifest.get("unit_tests", {}).values()}
    tested_ids = {
        node_id
        for node_id, node in manifest["nodes"].items()
        if node_id in tested or node["name"] in tested
    }
    untested = [
        node_id
        for node_id, node in manifest["nodes"].items()
        if node["resource_type"] in {"model", "seed"} and node_id not in tested_ids
    ]
    assert not untested


def test_every_model_seed_macro_and_source_is_described(manifest: dict[str, Any]) -> None:
    missing = [
        f"{node_id}.{column}" if column else node_id
        for node_id, node in [*manifest["nodes"].items(), *manifest["sources"].items()]
        if node["resource_type"] in {"model", "seed", "source"}
        for column in [None, *node["columns"]]
        if not (node["columns"][column]["description"] if column else node["description"]).strip()
    ]
    assert not missing
    ours = [m for m in manifest["macros"].values() if m["package_name"] == "loyalty_tiers"]
    assert ours
    assert not [m["name"] for m in ours if not m["description"].strip()]


def test_tier_macro_keeps_the_seed_in_lineage(manifest: dict[str, Any]) -> None:
    tiers = manifest["nodes"]["model.loyalty_tiers.customer_loyalty_tiers"]
    assert "seed.loyalty_tiers.tier_thresholds" in tiers["depends_on"]["nodes"]
    assert "macro.loyalty_tiers.assign_loyalty_tier" in tiers["depends_on"]["macros"]
    assert tiers["config"]["contract"]["enforced"] is True


def test_export_is_a_python_model_on_parquet_locally(manifest: dict[str, Any]) -> None:
    export = manifest["nodes"]["model.loyalty_tiers.loyalty_tiers_export"]
    assert export["language"] == "python"
    assert export["config"]["file_format"] == "parquet"
    assert export["config"]["meta"]["export_path"].endswith("loyalty_tiers.parquet")
    assert "model.loyalty_tiers.customer_loyalty_tiers" in export["depends_on"]["nodes"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOYALTY_AS_OF_DATE", "2025-02-30", "LOYALTY_AS_OF_DATE must be a date YYYY-MM-DD"),
        ("LOYALTY_AS_OF_DATE", "08/07/2025", "LOYALTY_AS_OF_DATE must be a date YYYY-MM-DD"),
        ("LOYALTY_QUALIFYING_MONTHS", "0", "LOYALTY_QUALIFYING_MONTHS must be a whole number"),
        ("LOYALTY_QUALIFYING_MONTHS", "twelve", "LOYALTY_QUALIFYING_MONTHS must be a whole"),
        ("LOYALTY_NULL_AMOUNT_POLICY", "average", "LOYALTY_NULL_AMOUNT_POLICY must be one of"),
    ],
)
def test_invalid_setting_stops_the_run_naming_it(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    done, _ = dbt_parse(tmp_path, **{variable: value})
    assert done.returncode != 0
    assert message in done.stdout


def test_exposures_reach_back_to_the_mysql_source(manifest: dict[str, Any]) -> None:
    """Lineage for BI: each consumer is described, owned, and traces back to MySQL."""
    nodes = {**manifest["nodes"], **manifest["sources"]}

    def upstream(node_id: str) -> set[str]:
        seen: set[str] = set()
        todo = [node_id]
        while todo:
            for parent in nodes.get(todo.pop(), {}).get("depends_on", {}).get("nodes", []):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    exposures = manifest["exposures"]
    assert set(exposures) == {
        "exposure.loyalty_tiers.marketing_tier_export",
        "exposure.loyalty_tiers.loyalty_bi_dashboard",
    }
    for exposure_id, exposure in exposures.items():
        assert exposure["description"].strip(), exposure_id
        assert exposure["owner"]["email"], exposure_id
        lineage = set(exposure["depends_on"]["nodes"])
        for parent in list(lineage):
            lineage |= upstream(parent)
        assert "source.loyalty_tiers.mysql.transactions" in lineage, exposure_id
        assert "seed.loyalty_tiers.tier_thresholds" in lineage, exposure_id
    marketing = exposures["exposure.loyalty_tiers.marketing_tier_export"]
    assert "model.loyalty_tiers.loyalty_tiers_export" in marketing["depends_on"]["nodes"]


def test_history_is_partitioned_by_as_of_date_and_survives_full_refresh(
    manifest: dict[str, Any],
) -> None:
    history = manifest["nodes"]["model.loyalty_tiers.loyalty_tier_history"]["config"]
    assert history["materialized"] == "incremental"
    assert history["incremental_strategy"] == "insert_overwrite"
    assert history["partition_by"] == ["as_of_date"]
    assert history["full_refresh"] is False
