"""The GitHub workflow runs what ``.ci/run`` runs, never a copy that could drift from it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from ingest.config import PROJECT_DIR

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def jobs() -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    result: dict[str, Any] = workflow["jobs"]
    return result


def _commands(job: dict[str, Any]) -> list[str]:
    return [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines()]


def test_test_job_runs_ci_run_against_a_mariadb_service(jobs: dict[str, Any]) -> None:
    job = jobs["test"]
    assert _commands(job) == ["bash .ci/run"]
    service = job["services"]["mariadb"]
    assert service["image"].startswith("mariadb:")
    assert "3306:3306" in service["ports"]  # where .ci/run and the tests look for it
    assert "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" in service["env"]


def test_ci_run_still_is_make_venv_then_make_test() -> None:
    script = (PROJECT_DIR / ".ci" / "run").read_text()
    make_lines = [line.strip() for line in script.splitlines() if re.match(r"\s*make ", line)]
    assert make_lines == ["make venv", "make test"]
    assert "127.0.0.1/3306" in script


def test_parse_job_uses_the_same_venv_and_parses_for_databricks(jobs: dict[str, Any]) -> None:
    commands = _commands(jobs["databricks-parse"])
    assert commands[0] == "make venv"
    assert any(c.startswith(".venv/bin/dbt parse") and "--target databricks" in c for c in commands)
    # only placeholders: nothing secret in the offline job
    env = next(step["env"] for step in jobs["databricks-parse"]["steps"] if "env" in step)
    assert "secrets." not in str(env)


def test_live_databricks_job_only_runs_when_configured(jobs: dict[str, Any]) -> None:
    job = jobs["databricks"]
    assert "vars.DATABRICKS_HOST" in job["if"]
    # the secret comes from the repository's secrets, never from the file
    assert job["env"]["DATABRICKS_CLIENT_SECRET"].startswith("${{ secrets.")
    commands = _commands(job)
    assert any(c.startswith(".venv/bin/dbt build --target databricks") for c in commands)
