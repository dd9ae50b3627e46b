"""The Databricks Asset Bundle (``databricks.yml`` + ``resources/``), validated offline.

The Databricks CLI is not installable from PyPI, so ``databricks bundle validate`` cannot run
here. Instead every key we use is checked against the bundle JSON schema's field names (the
subset below is copied from databricks/cli ``bundle/schema/jsonschema.json``: ``Root``,
``resources.Job``, ``jobs.Task``, ``jobs.DbtTask``, ``jobs.PythonWheelTask``,
``jobs.CronSchedule``, ``jobs.JobEnvironment``, ``compute.Environment``), and the rules the Jobs
API enforces on what we rely on: dbt commands start with ``dbt`` (at most 10), task dependencies
name real tasks and order ingest before dbt, the schedule is paused unless told otherwise.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from ingest.config import PROJECT_DIR
from ingest.databricks_job import parse_settings

# Field names per object type, as the bundle JSON schema defines them (additionalProperties:
# false everywhere). "*" marks a map whose keys are names we choose.
SCHEMA: dict[str, set[str]] = {
    "root": {
        "bundle",
        "include",
        "artifacts",
        "variables",
        "targets",
        "resources",
        "workspace",
        "run_as",
        "permissions",
        "sync",
        "presets",
        "experimental",
        "git",
    },
    "bundle": {"name", "databricks_cli_version", "cluster_id", "compute_id", "git", "uuid"},
    "artifact": {"type", "path", "build", "files", "executable"},
    "variable": {"description", "default", "lookup", "type"},
    "target": {
        "mode",
        "default",
        "variables",
        "workspace",
        "run_as",
        "permissions",
        "resources",
        "artifacts",
        "bundle",
        "cluster_id",
        "compute_id",
        "git",
        "presets",
        "sync",
    },
    "workspace": {"host", "profile", "root_path", "artifact_path", "file_path", "state_path"},
    "run_as": {"service_principal_name", "user_name"},
    "job": {
        "name",
        "description",
        "max_concurrent_runs",
        "schedule",
        "email_notifications",
        "tasks",
        "environments",
        "timeout_seconds",
        "tags",
        "parameters",
        "queue",
        "permissions",
        "run_as",
        "trigger",
        "health",
        "job_clusters",
        "notification_settings",
        "webhook_notifications",
        "git_source",
        "continuous",
        "performance_target",
        "budget_policy_id",
    },
    "schedule": {"quartz_cron_expression", "timezone_id", "pause_status"},
    "email_notifications": {
        "on_failure",
        "on_success",
        "on_start",
        "on_duration_warning_threshold_exceeded",
        "on_streaming_backlog_exceeded",
        "no_alert_for_skipped_runs",
    },
    "task": {
        "task_key",
        "depends_on",
        "description",
        "environment_key",
        "max_retries",
        "min_retry_interval_millis",
        "retry_on_timeout",
        "timeout_seconds",
        "run_if",
        "dbt_task",
        "python_wheel_task",
        "spark_python_task",
        "notebook_task",
        "libraries",
        "existing_cluster_id",
        "job_cluster_key",
        "new_cluster",
        "email_notifications",
        "health",
        "notification_settings",
        "webhook_notifications",
        "disabled",
    },
    "depends_on": {"task_key", "outcome"},
    "dbt_task": {
        "commands",
        "project_directory",
        "profiles_directory",
        "warehouse_id",
        "catalog",
        "schema",
        "source",
    },
    "python_wheel_task": {"package_name", "entry_point", "parameters", "named_parameters"},
    "environment": {"environment_key", "spec"},
    "environment_spec": {"environment_version", "dependencies", "client"},
}
REQUIRED = {
    "task": {"task_key"},
    "dbt_task": {"commands"},
    "python_wheel_task": {"package_name", "entry_point"},
    "schedule": {"quartz_cron_expression", "timezone_id"},
    "environment": {"environment_key", "spec"},
}
VAR_REFERENCE = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)\}")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    """``databricks.yml`` with every included resource file merged in, as the CLI does."""
    root = _load(PROJECT_DIR / "databricks.yml")
    resources: dict[str, Any] = {}
    for pattern in root.get("include", []):
        for path in sorted(PROJECT_DIR.glob(pattern)):
            for kind, items in _load(path).get("resources", {}).items():
                resources.setdefault(kind, {}).update(items)
    root["resources"] = resources
    return root


@pytest.fixture(scope="module")
def job(bundle: dict[str, Any]) -> dict[str, Any]:
    jobs = bundle["resources"]["jobs"]
    assert list(jobs) == ["loyalty_tiers"]
    result: dict[str, Any] = jobs["loyalty_tiers"]
    return result


def _check(kind: str, obj: Any, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: expected a mapping, got {type(obj).__name__}"]
    problems = [f"{where}.{key}: not a {kind} field" for key in obj if key not in SCHEMA[kind]]
    problems += [f"{where}: missing {key}" for key in REQUIRED.get(kind, set()) - set(obj)]
    return problems


def _schema_problems(bundle: dict[str, Any]) -> Iterator[str]:
    yield from _check("root", bundle, "root")
    yield from _check("bundle", bundle["bundle"], "bundle")
    for name, artifact in bundle.get("artifacts", {}).items():
        yield from _check("artifact", artifact, f"artifacts.{name}")
    for name, variable in bundle.get("variables", {}).items():
        yield from _check("variable", variable, f"variables.{name}")
    for name, target in bundle.get("targets", {}).items():
        yield from _check("target", target, f"targets.{name}")
        if "workspace" in target:
            yield from _check("workspace", target["workspace"], f"targets.{name}.workspace")
        if "run_as" in target:
            yield from _check("run_as", target["run_as"], f"targets.{name}.run_as")
    for name, job in bundle["resources"]["jobs"].items():
        where = f"resources.jobs.{name}"
        yield from _check("job", job, where)
        yield from _check("schedule", job.get("schedule", {}), f"{where}.schedule")
        notifications = job.get("email_notifications", {})
        yield from _check("email_notifications", notifications, f"{where}.email_notifications")
        for env in job.get("environments", []):
            yield from _check("environment", env, f"{where}.environments")
            yield from _check("environment_spec", env["spec"], f"{where}.environments.spec")
        for task in job["tasks"]:
            task_where = f"{where}.tasks.{task.get('task_key')}"
            yield from _check("task", task, task_where)
            for dependency in task.get("depends_on", []):
                yield from _check("depends_on", dependency, f"{task_where}.depends_on")
            for kind in ("dbt_task", "python_wheel_task"):
                if kind in task:
                    yield from _check(kind, task[kind], f"{task_where}.{kind}")


def test_every_key_is_a_bundle_schema_field(bundle: dict[str, Any]) -> None:
    assert list(_schema_problems(bundle)) == []


def test_dev_and_prod_targets(bundle: dict[str, Any]) -> None:
    targets = bundle["targets"]
    assert targets["dev"]["mode"] == "development"
    assert targets["dev"]["default"] is True
    assert targets["prod"]["mode"] == "production"
    # production mode needs one shared root path and a non-personal identity
    assert "root_path" in targets["prod"]["workspace"]
    assert "service_principal_name" in targets["prod"]["run_as"]


def test_every_variable_used_is_declared_and_has_a_value(bundle: dict[str, Any]) -> None:
    text = (PROJECT_DIR / "databricks.yml").read_text() + "".join(
        path.read_text() for path in (PROJECT_DIR / "resources").glob("*.yml")
    )
    used = set(VAR_REFERENCE.findall(text))
    declared = set(bundle["variables"])
    assert used - declared == set()
    assert declared - used == set(), "declared but never used"
    # Required variables (no default) are what a deploy must pass with --var: keep them few.
    required = {name for name, spec in bundle["variables"].items() if "default" not in spec}
    assert required == {"warehouse_id", "mysql_host", "failure_email"}
    assert bundle["variables"]["python_submission_method"]["default"] == "serverless_cluster"


def _tasks(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["task_key"]: task for task in job["tasks"]}


def _run_order(job: dict[str, Any]) -> list[str]:
    """A topological order of the tasks; fails on unknown dependencies and cycles."""
    tasks = _tasks(job)
    order: list[str] = []
    pending = {key: {d["task_key"] for d in t.get("depends_on", [])} for key, t in tasks.items()}
    for key, deps in pending.items():
        assert deps <= set(tasks), f"{key} depends on unknown tasks {deps - set(tasks)}"
    while pending:
        ready = sorted(key for key, deps in pending.items() if deps <= set(order))
        assert ready, f"dependency cycle among {sorted(pending)}"
        order.extend(ready)
        for key in ready:
            del pending[key]
    return order


def test_ingest_runs_before_dbt(job: dict[str, Any]) -> None:
    assert _run_order(job) == ["ingest", "dbt"]
    tasks = _tasks(job)
    assert [d["task_key"] for d in tasks["dbt"]["depends_on"]] == ["ingest"]
    # a failed ingest must stop the build (no run_if that would run dbt anyway)
    assert tasks["dbt"].get("run_if", "ALL_SUCCESS") == "ALL_SUCCESS"


def test_dbt_task_builds_with_tests_then_generates_docs(job: dict[str, Any]) -> None:
    commands: list[str] = _tasks(job)["dbt"]["dbt_task"]["commands"]
    assert 1 <= len(commands) <= 10
    assert all(command.split()[0] == "dbt" for command in commands)
    verbs = [
        " ".join(word for word in command.split()[1:3] if not word.startswith("-"))
        for command in commands
    ]
    assert verbs == ["build", "docs generate"]
    for command in commands:
        assert "--target databricks" in command
    # both commands see the same project configuration
    assert len({command.split("--vars", 1)[1] for command in commands}) == 1


def test_dbt_task_reads_the_committed_profile(job: dict[str, Any]) -> None:
    dbt_task = _tasks(job)["dbt"]["dbt_task"]
    assert "warehouse_id" not in dbt_task  # profiles_directory only works without it
    profiles = PROJECT_DIR / dbt_task["profiles_directory"] / "profiles.yml"
    assert profiles.read_bytes() == (PROJECT_DIR / "profiles.example.yml").read_bytes(), (
        "dbt_profiles/profiles.yml must be a copy of profiles.example.yml: "
        "cp profiles.example.yml dbt_profiles/profiles.yml"
    )
    assert (PROJECT_DIR / dbt_task["project_directory"].replace("../", "")).resolve() == (
        PROJECT_DIR
    )


def test_schedule_is_monthly_and_paused_by_default(
    bundle: dict[str, Any], job: dict[str, Any]
) -> None:
    schedule = job["schedule"]
    pause = schedule["pause_status"]
    match = VAR_REFERENCE.fullmatch(pause)
    resolved = bundle["variables"][match.group(1)]["default"] if match else pause
    assert resolved == "PAUSED"
    fields = schedule["quartz_cron_expression"].split()
    assert len(fields) in {6, 7}
    seconds, minutes, hours, day_of_month, month = fields[:5]
    assert day_of_month.isdigit(), "once a month, on a fixed day"
    assert month == "*", "every month"
    assert all(part.isdigit() for part in (seconds, minutes, hours))


def test_tasks_retry_and_failures_are_mailed(bundle: dict[str, Any], job: dict[str, Any]) -> None:
    for key, task in _tasks(job).items():
        assert task.get("max_retries", 0) >= 1, key
        assert task.get("min_retry_interval_millis", 0) >= 60_000, key
        assert task.get("timeout_seconds", 0) > 0, key
    recipients = job["email_notifications"]["on_failure"]
    assert recipients == ["${var.failure_email}"]
    assert "default" not in bundle["variables"]["failure_email"]
    assert job["max_concurrent_runs"] == 1


def test_serverless_environments_exist_and_pin_what_we_test(job: dict[str, Any]) -> None:
    environments = {env["environment_key"]: env["spec"] for env in job["environments"]}
    for key, task in _tasks(job).items():
        assert task["environment_key"] in environments, key
    # environment 2 is Python 3.11, which pyproject.toml requires
    assert {spec["environment_version"] for spec in environments.values()} == {"2"}
    dbt_deps = environments[_tasks(job)["dbt"]["environment_key"]]["dependencies"]
    lock = dict(
        line.lower().split("==")
        for line in (PROJECT_DIR / "requirements" / "lock.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for requirement in dbt_deps:
        name, version = requirement.lower().split("==")
        assert lock[name] == version, f"{requirement} differs from requirements/lock.txt"
    assert environments[_tasks(job)["ingest"]["environment_key"]]["dependencies"] == [
        "../dist/*.whl"
    ]


def test_ingest_task_runs_our_wheel_entry_point(
    bundle: dict[str, Any], job: dict[str, Any]
) -> None:
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    wheel_task = _tasks(job)["ingest"]["python_wheel_task"]
    assert wheel_task["package_name"].replace("_", "-") == project["name"]
    target = project["scripts"][wheel_task["entry_point"]]
    assert target == "ingest.databricks_job:main"
    # the wheel must not drag pyspark (or dbt) into serverless compute
    assert not [d for d in project["dependencies"] if re.match(r"(pyspark|dbt-)", d)]
    artifact = bundle["artifacts"]["loyalty_wheel"]
    assert artifact["type"] == "whl"
    assert "--no-deps" in artifact["build"]


def test_ingest_parameters_hold_no_secret(job: dict[str, Any]) -> None:
    parameters: list[str] = _tasks(job)["ingest"]["python_wheel_task"]["parameters"]
    settings = parse_settings(p for p in parameters if not p.startswith("--"))
    assert settings["LOYALTY_DESTINATION"] == "databricks"
    assert {"DB_HOST", "DESTINATION__DATABRICKS__CREDENTIALS__CATALOG"} <= set(settings)
    assert "--secret-scope=${var.secret_scope}" in parameters
