"""Where the ingest loads: the local Parquet lake (default) or Databricks Unity Catalog.

``LOYALTY_DESTINATION`` picks one:

* ``local`` (default): dlt's filesystem destination, Parquet under ``$LOYALTY_HOME/lake``.
* ``databricks``: dlt's databricks destination, Delta tables in a Unity Catalog catalog, schema
  ``LOYALTY_RAW_SCHEMA`` (default ``raw_mysql``, the dataset name used locally). The same
  resource, the same ``transaction_id`` cursor, the same ``decimal(10,2)`` amounts.

The Databricks connection is dlt's own configuration: ``DESTINATION__DATABRICKS__CREDENTIALS__*``
environment variables or ``[destination.databricks.credentials]`` in ``.dlt/secrets.toml``
(``server_hostname``, ``http_path``, ``catalog``, and ``client_id`` + ``client_secret`` of a
service principal, or ``access_token``). Inside a Databricks job none of the secrets are needed:
dlt authenticates as the job's principal. Loads are staged through a Unity Catalog volume
(``DESTINATION__DATABRICKS__STAGING_VOLUME_NAME``), or through a cloud bucket when
``LOYALTY_DATABRICKS_STAGING_BUCKET`` is set.

Unreachable workspaces fail in bounded time: the SQL connector's retries are capped
(``LOYALTY_DATABRICKS_RETRY_ATTEMPTS``, ``LOYALTY_DATABRICKS_RETRY_SECONDS``) where its default
is 30 attempts over 900 s, and the host is probed once before dlt starts because the
Databricks SDK retries OAuth discovery for 300 s whatever the connector says. No secret value is
ever logged or put into an exception message; :func:`redact` scrubs any that a library might
echo.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration import resolve_configuration
from dlt.destinations.impl.databricks.configuration import DatabricksCredentials

from ingest.config import ConfigError, _int_setting

log = logging.getLogger(__name__)

DESTINATION_VARIABLE = "LOYALTY_DESTINATION"
DESTINATIONS = ("local", "databricks")
DEFAULT_RAW_SCHEMA = "raw_mysql"

# A separate pipeline (working folder and state) per destination: the incremental cursor of the
# local lake must never decide which rows Databricks gets, and the other way round.
PIPELINE_NAMES = {"local": "loyalty_mysql", "databricks": "loyalty_mysql_databricks"}

# dlt settings the databricks destination relies on; users may still override them.
_DATABRICKS_DLT_DEFAULTS = {
    # files PUT into the staging volume are deleted once COPY INTO has loaded them
    "DESTINATION__DATABRICKS__KEEP_STAGED_FILES": "false",
}

_CREDENTIAL_SECTIONS = ("destination", "databricks", "credentials")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_SECRET_VALUES: set[str] = set()


class DestinationError(RuntimeError):
    """The destination is misconfigured or unreachable; the message names it, never a secret."""


def destination_kind(env: Mapping[str, str]) -> str:
    """Read ``LOYALTY_DESTINATION`` (``local`` when unset).

    Raises:
        ConfigError: Any other value; the message lists the accepted ones.
    """
    raw = env.get(DESTINATION_VARIABLE, "").strip().lower() or "local"
    if raw not in DESTINATIONS:
        raise ConfigError(
            f"{DESTINATION_VARIABLE} must be one of {', '.join(DESTINATIONS)}, "
            f"got {env.get(DESTINATION_VARIABLE)!r}"
        )
    return raw


def raw_schema(env: Mapping[str, str]) -> str:
    """The Databricks schema (dlt dataset) for the raw tables: ``LOYALTY_RAW_SCHEMA``."""
    name = env.get("LOYALTY_RAW_SCHEMA", "").strip() or DEFAULT_RAW_SCHEMA
    if not name.replace("_", "").isalnum():
        raise ConfigError(f"LOYALTY_RAW_SCHEMA must be a plain identifier, got {name!r}")
    return name


@dataclass(frozen=True)
class DatabricksSettings:
    """Our knobs for the databricks destination (dlt's own keys hold the connection).

    Attributes:
        retry_attempts: Most attempts of one request by the SQL connector.
        retry_seconds: Longest time the SQL connector keeps retrying one request.
        probe_timeout_s: Seconds to wait for a TCP connection to the workspace before dlt starts.
        staging_bucket: A cloud bucket URL to stage load files in, instead of a UC volume.
    """

    retry_attempts: int = 5
    retry_seconds: int = 120
    probe_timeout_s: int = 10
    staging_bucket: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabricksSettings:
        """Read ``LOYALTY_DATABRICKS_*``, applying the defaults above."""
        return cls(
            retry_attempts=_int_setting(env, "LOYALTY_DATABRICKS_RETRY_ATTEMPTS", 5),
            retry_seconds=_int_setting(env, "LOYALTY_DATABRICKS_RETRY_SECONDS", 120),
            probe_timeout_s=_int_setting(env, "LOYALTY_DATABRICKS_PROBE_TIMEOUT", 10),
            staging_bucket=env.get("LOYALTY_DATABRICKS_STAGING_BUCKET", "").strip() or None,
        )

    def connection_parameters(self) -> dict[str, Any]:
        """The connector's retry bounds (its defaults: 30 attempts, 900 s)."""
        return {
            "_retry_stop_after_attempts_count": self.retry_attempts,
            "_retry_stop_after_attempts_duration": float(self.retry_seconds),
            "_retry_delay_max": float(min(10, self.retry_seconds)),
        }


def redact(text: str) -> str:
    """Replace every secret value this process resolved for Databricks with ``***``."""
    for secret in sorted(_SECRET_VALUES, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _remember_secrets(credentials: DatabricksCredentials) -> None:
    for value in (credentials.access_token, credentials.client_secret, credentials.client_id):
        if isinstance(value, str) and len(value) >= 4:
            _SECRET_VALUES.add(value)


def resolve_databricks_credentials(settings: DatabricksSettings) -> DatabricksCredentials:
    """Resolve dlt's databricks credentials from env / ``.dlt/secrets.toml``, retries bounded.

    Connection parameters the user configured win over our retry bounds.

    Raises:
        DestinationError: A required key is missing; dlt's message lists every key it tried.
    """
    try:
        credentials = resolve_configuration(DatabricksCredentials(), sections=_CREDENTIAL_SECTIONS)
    except Exception as exc:
        raise DestinationError(
            "databricks destination is not configured: "
            + redact(" ".join(str(exc).split()) or type(exc).__name__)
        ) from None
    _remember_secrets(credentials)
    credentials.connection_parameters = {
        **settings.connection_parameters(),
        **(credentials.connection_parameters or {}),
    }
    return credentials


def probe_workspace(credentials: DatabricksCredentials, timeout_s: float) -> None:
    """Open (and close) one TCP connection to the workspace, so a dead host fails in seconds.

    Skipped behind an HTTPS proxy, where only the proxy is reachable directly.

    Raises:
        DestinationError: The host does not resolve or does not accept connections in time.
    """
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return
    host = str(credentials.server_hostname or "").removeprefix("https://").rstrip("/")
    port = int((credentials.connection_parameters or {}).get("_port", 443))
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise DestinationError(
            f"cannot reach the Databricks workspace {host}:{port} within {timeout_s:g} s "
            f"({type(exc).__name__}: {exc}); check DESTINATION__DATABRICKS__CREDENTIALS__"
            "SERVER_HOSTNAME and the network"
        ) from None


def describe(kind: str, home: Path, credentials: DatabricksCredentials | None = None) -> str:
    """Name the destination for messages: a lake folder or ``databricks://host/path/catalog``."""
    if kind == "local":
        return str(home / "lake")
    return str(credentials) if credentials is not None else "databricks"


def build_destination(
    kind: str, home: Path, env: Mapping[str, str]
) -> tuple[Any, Any, DatabricksCredentials | None]:
    """Create the dlt destination (and staging) for ``kind``.

    Returns:
        ``(destination, staging or None, databricks credentials or None)``.

    Raises:
        ConfigError: A ``LOYALTY_DATABRICKS_*`` value is malformed.
        DestinationError: Databricks credentials are missing or the workspace is unreachable.
    """
    if kind == "local":
        return dlt.destinations.filesystem(bucket_url=(home / "lake").as_uri()), None, None
    settings = DatabricksSettings.from_env(env)
    for key, value in _DATABRICKS_DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    credentials = resolve_databricks_credentials(settings)
    probe_workspace(credentials, settings.probe_timeout_s)
    staging = None
    if settings.staging_bucket:
        staging = dlt.destinations.filesystem(bucket_url=settings.staging_bucket)
    destination = dlt.destinations.databricks(credentials=credentials)
    log.info(
        "ingest: destination %s, staging through %s",
        credentials,
        settings.staging_bucket or "a Unity Catalog volume",
    )
    return destination, staging, credentials
