"""The Databricks job's ingest entry point: parameters in, secrets from the scope, no leaks."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest

from ingest import databricks_job
from ingest.databricks_job import JobArgumentError, parse_settings, prepare

FAKE_PASSWORD = "mysql-FAKE-password-42"  # noqa: S105 - looked for in messages and logs


def scope_with_password(scope: str) -> Mapping[str, str]:
    assert scope == "loyalty"
    return {"DB_PASSWORD": FAKE_PASSWORD}


def test_parameters_and_scope_secrets_become_the_environment() -> None:
    environ: dict[str, str] = {"DB_PORT": "3307"}
    args = prepare(
        [
            "DB_HOST=mysql.internal",
            "--secret-scope",
            "loyalty",
            "DB_PORT=3306",
            "DESTINATION__DATABRICKS__CREDENTIALS__CATALOG=main",
        ],
        environ,
        scope_with_password,
    )
    assert args == ["ingest"]
    assert environ["DB_HOST"] == "mysql.internal"
    assert environ["DB_PORT"] == "3307"  # an explicit environment variable wins
    assert environ["DB_PASSWORD"] == FAKE_PASSWORD
    assert environ["LOYALTY_DESTINATION"] == "databricks"
    assert environ["LOYALTY_HOME"].startswith("/")
    assert environ["DESTINATION__DATABRICKS__CREDENTIALS__CATALOG"] == "main"


def test_full_refresh_is_passed_on() -> None:
    assert prepare(["--full-refresh"], {}, scope_with_password) == ["ingest", "--full-refresh"]


@pytest.mark.parametrize(
    "parameter",
    [
        f"DB_PASSWORD={FAKE_PASSWORD}",
        f"DESTINATION__DATABRICKS__CREDENTIALS__CLIENT_SECRET={FAKE_PASSWORD}",
        f"DESTINATION__DATABRICKS__CREDENTIALS__ACCESS_TOKEN={FAKE_PASSWORD}",
    ],
)
def test_secrets_in_job_parameters_are_refused_without_echoing_them(parameter: str) -> None:
    with pytest.raises(JobArgumentError, match="secret scope") as caught:
        parse_settings([parameter])
    assert FAKE_PASSWORD not in str(caught.value)


def test_malformed_parameter_is_refused() -> None:
    with pytest.raises(JobArgumentError, match="KEY=VALUE"):
        parse_settings(["DB_HOST"])


def test_main_exits_non_zero_on_a_bad_parameter(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SystemExit) as caught:
        databricks_job.main([f"DB_PASSWORD={FAKE_PASSWORD}"])
    assert caught.value.code == 2
    assert "secret scope" in caplog.text
    assert FAKE_PASSWORD not in caplog.text
