"""The ingest's Databricks destination, offline: configuration, types, bounded failure, no leaks.

No workspace is reachable, so "unreachable" is real here: ``127.0.0.1`` refuses HTTPS. The
failure tests run in a subprocess that logs everything at DEBUG and prints the traceback and
dlt's trace, so the fake secrets can be looked for in every line that could ever be shown.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest

from ingest import destination
from ingest.config import PROJECT_DIR, ConfigError, SourceConfig
from ingest.pipeline import _DLT_DEFAULTS, IngestError, build_pipeline, run_ingest

# Fake secrets: the tests look for them in every log line, trace and message.
FAKE_TOKEN = "dapi-FAKE-ingest-token-5e6f7a8b"  # noqa: S105
FAKE_CLIENT_SECRET = "dose-FAKE-ingest-secret-1c2d3e4f"  # noqa: S105
UNREACHABLE = "127.0.0.1"  # nothing listens on 443 here: connection refused at once

DATABRICKS_ENV = {
    "LOYALTY_DESTINATION": "databricks",
    "LOYALTY_RAW_SCHEMA": "raw_mysql",
    "DESTINATION__DATABRICKS__CREDENTIALS__SERVER_HOSTNAME": UNREACHABLE,
    "DESTINATION__DATABRICKS__CREDENTIALS__HTTP_PATH": "/sql/1.0/warehouses/0123456789abcdef",
    "DESTINATION__DATABRICKS__CREDENTIALS__CATALOG": "loyalty_prod",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
}
TOKEN_AUTH = {"DESTINATION__DATABRICKS__CREDENTIALS__ACCESS_TOKEN": FAKE_TOKEN}
OAUTH = {
    "DESTINATION__DATABRICKS__CREDENTIALS__CLIENT_ID": "11111111-2222-3333-4444-555555555555",
    "DESTINATION__DATABRICKS__CREDENTIALS__CLIENT_SECRET": FAKE_CLIENT_SECRET,
}


def lake_rows() -> pa.Table:
    """Rows with the physical types the pyarrow backend reads from MySQL ``transactions``."""
    return pa.table(
        {
            "transaction_id": pa.array([1, 2, 3], pa.int32()),
            "customer_id": pa.array([10, 11, None], pa.int32()),
            "transaction_date": pa.array(
                [datetime.date(2025, 8, 1), None, datetime.date(2025, 8, 7)], pa.date32()
            ),
            "amount": pa.array([Decimal("19999.99"), None, Decimal("-0.01")], pa.decimal128(10, 2)),
        }
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No Databricks or dlt settings from the machine; the SDK finds no workspace either."""
    import os

    for key in list(os.environ):
        if key.startswith(("DATABRICKS_", "DESTINATION__", "LOYALTY_DATABRICKS_", "DBT_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")
    monkeypatch.setenv("DESTINATION__DATABRICKS__KEEP_STAGED_FILES", "false")
    return monkeypatch


def test_local_is_the_default_destination(tmp_path: Path) -> None:
    assert destination.destination_kind({}) == "local"
    assert destination.destination_kind({"LOYALTY_DESTINATION": " Databricks "}) == "databricks"
    pipeline = build_pipeline(tmp_path, {})
    assert pipeline.destination.destination_type.endswith("filesystem")
    assert pipeline.pipeline_name == "loyalty_mysql"
    assert pipeline.dataset_name == "raw_mysql"


def test_unknown_destination_is_a_clear_error_before_any_connection(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"LOYALTY_DESTINATION must be one of local, databricks"):
        destination.destination_kind({"LOYALTY_DESTINATION": "snowflake"})
    source = SourceConfig(host="192.0.2.1", port=3306, database="x", user="u", password="")
    started = time.monotonic()
    with pytest.raises(IngestError, match=r"got 'snowflake'"):
        run_ingest(source, tmp_path, env={"LOYALTY_DESTINATION": "snowflake"})
    assert time.monotonic() - started < 5  # 192.0.2.1 is never dialled


def test_credentials_resolve_from_env_with_bounded_retries(clean_env: pytest.MonkeyPatch) -> None:
    for key, value in {**DATABRICKS_ENV, **TOKEN_AUTH}.items():
        clean_env.setenv(key, value)
    clean_env.setenv("LOYALTY_DATABRICKS_RETRY_ATTEMPTS", "3")
    settings = destination.DatabricksSettings.from_env({"LOYALTY_DATABRICKS_RETRY_ATTEMPTS": "3"})
    credentials = destination.resolve_databricks_credentials(settings)
    assert credentials.server_hostname == UNREACHABLE
    assert credentials.http_path == "/sql/1.0/warehouses/0123456789abcdef"
    assert credentials.catalog == "loyalty_prod"
    parameters = credentials.to_connector_params()
    assert parameters["_retry_stop_after_attempts_count"] == 3
    assert parameters["_retry_stop_after_attempts_duration"] == 120.0
    assert parameters["access_token"] == FAKE_TOKEN
    assert FAKE_TOKEN not in str(credentials)
    assert FAKE_TOKEN not in destination.redact(f"boom {FAKE_TOKEN} boom")


def test_connection_parameters_set_by_the_user_win(clean_env: pytest.MonkeyPatch) -> None:
    for key, value in {**DATABRICKS_ENV, **TOKEN_AUTH}.items():
        clean_env.setenv(key, value)
    clean_env.setenv(
        "DESTINATION__DATABRICKS__CREDENTIALS__CONNECTION_PARAMETERS",
        json.dumps({"_retry_stop_after_attempts_count": 9}),
    )
    credentials = destination.resolve_databricks_credentials(destination.DatabricksSettings())
    assert credentials.connection_parameters == {
        "_retry_stop_after_attempts_count": 9,
        "_retry_stop_after_attempts_duration": 120.0,
        "_retry_delay_max": 10.0,
    }


def test_missing_settings_name_the_keys_not_the_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DESTINATION__DATABRICKS__CREDENTIALS__SERVER_HOSTNAME", UNREACHABLE)
    clean_env.setenv("DESTINATION__DATABRICKS__CREDENTIALS__ACCESS_TOKEN", FAKE_TOKEN)
    with pytest.raises(destination.DestinationError) as caught:
        destination.resolve_databricks_credentials(destination.DatabricksSettings())
    message = str(caught.value)
    assert "DESTINATION__DATABRICKS__CREDENTIALS__CATALOG" in message
    assert FAKE_TOKEN not in message


def test_tables_on_databricks_keep_the_exact_lake_types(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in {**DATABRICKS_ENV, **TOKEN_AUTH, **_DLT_DEFAULTS}.items():
        clean_env.setenv(key, value)
    clean_env.setattr(destination, "probe_workspace", lambda *_args, **_kwargs: None)
    pipeline = build_pipeline(tmp_path)
    # separate working state from the local lake's pipeline: one cursor per destination
    assert pipeline.pipeline_name == "loyalty_mysql_databricks"
    assert pipeline.destination.destination_type.endswith("databricks")
    resource = dlt.resource(
        lake_rows(), name="transactions", write_disposition="append", primary_key="transaction_id"
    )
    pipeline.extract(resource, loader_file_format="parquet")
    pipeline.normalize()
    columns = pipeline.default_schema.get_table_columns("transactions")
    client: Any = pipeline.destination_client()
    ddl = " ".join(client._get_table_update_sql("transactions", list(columns.values()), False))
    assert "CREATE TABLE `loyalty_prod`.`raw_mysql`.`transactions`" in ddl
    assert "`amount` DECIMAL(10,2)" in ddl
    assert "`transaction_date` DATE" in ddl
    assert "`transaction_id` INT" in ddl
    # staging reads only completed loads through this column
    assert "`_dlt_load_id` STRING  NOT NULL" in ddl


def test_staging_through_a_bucket_when_configured(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in {**DATABRICKS_ENV, **TOKEN_AUTH}.items():
        clean_env.setenv(key, value)
    clean_env.setattr(destination, "probe_workspace", lambda *_args, **_kwargs: None)
    clean_env.setenv("LOYALTY_DATABRICKS_STAGING_BUCKET", (tmp_path / "stage").as_uri())
    pipeline = build_pipeline(tmp_path / "home")
    assert pipeline.staging is not None
    assert pipeline.staging.destination_type.endswith("filesystem")
    clean_env.delenv("LOYALTY_DATABRICKS_STAGING_BUCKET")
    assert build_pipeline(tmp_path / "home2").staging is None  # the UC volume


# Runs in a fresh interpreter: DEBUG logs on stderr, traceback and dlt's trace on stdout.
ATTEMPT = """
import json, logging, sys, time, traceback
from pathlib import Path
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from ingest import destination
from ingest.pipeline import build_pipeline
from tests.python.test_databricks_destination import lake_rows
if sys.argv[2] == "no-probe":
    destination.probe_workspace = lambda *args, **kwargs: None
started = time.monotonic()
pipeline = None
try:
    pipeline = build_pipeline(Path(sys.argv[1]))
    pipeline.run(lake_rows(), table_name="transactions", loader_file_format="parquet")
except Exception:
    traceback.print_exc(file=sys.stdout)
    print(f"FAILED after {time.monotonic() - started:.1f} s")
if pipeline is not None and pipeline.last_trace is not None:
    print(pipeline.last_trace)
    print(json.dumps(pipeline.last_trace.asdict(), default=str))
"""


def attempt_load(
    tmp_path: Path, env: dict[str, str], probe: bool, timeout_s: float
) -> tuple[str, float]:
    """Try a load against the unreachable workspace; return all output and the wall time."""
    import os

    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABRICKS_", "DESTINATION__", "LOYALTY_"))
    }
    full_env.update({"DATABRICKS_CONFIG_FILE": "/nonexistent/databrickscfg", **env})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", ATTEMPT, str(tmp_path), "probe" if probe else "no-probe"],
        cwd=PROJECT_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "FAILED after" in output, output[-3000:]
    return output, seconds


@pytest.mark.parametrize(
    ("auth", "secret"), [(TOKEN_AUTH, FAKE_TOKEN), (OAUTH, FAKE_CLIENT_SECRET)]
)
def test_unreachable_workspace_fails_in_seconds_without_leaking(
    tmp_path: Path, auth: dict[str, str], secret: str
) -> None:
    # Without the probe, OAuth discovery alone retries for 300 s and the connector for 900 s.
    output, seconds = attempt_load(tmp_path, {**DATABRICKS_ENV, **auth}, probe=True, timeout_s=90)
    assert "cannot reach the Databricks workspace 127.0.0.1:443" in output
    assert seconds < 60
    assert secret not in output


def test_connector_retries_are_bounded_without_leaking(tmp_path: Path) -> None:
    env = {
        **DATABRICKS_ENV,
        **TOKEN_AUTH,
        "LOYALTY_DATABRICKS_RETRY_ATTEMPTS": "2",
        "LOYALTY_DATABRICKS_RETRY_SECONDS": "10",
    }
    # the connector's own default would keep retrying for 900 s: the timeout would fire
    output, seconds = attempt_load(tmp_path, env, probe=False, timeout_s=120)
    assert "Max retries exceeded" in output or "MaxRetryError" in output
    assert seconds < 100
    assert FAKE_TOKEN not in output
