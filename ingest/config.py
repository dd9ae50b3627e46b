"""Configuration for the ingest, read from the environment (and a ``.env`` file).

The names are the project's configuration contract (see the README): ``DB_HOST``, ``DB_PORT``,
``DB_NAME``, ``DB_USER``, ``DB_PASSWORD``, ``LOYALTY_HOME`` and friends. The password is kept
out of every ``repr`` and message on purpose: it must never reach a log, a trace or an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.engine import URL

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The repository root (the dbt project); the flat layout keeps packages beside it."""


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def load_env(
    env: Mapping[str, str] | None = None, dotenv_path: Path | None = None
) -> dict[str, str]:
    """Merge a ``.env`` file under the process environment.

    The environment wins over the file, as in the replaced system, so CI and Databricks jobs can
    override anything a developer keeps in ``.env``. The file is read, never exported to
    ``os.environ``: secrets stay in this mapping.

    Args:
        env: The environment to use; ``os.environ`` when omitted.
        dotenv_path: The ``.env`` file; when omitted, ``LOYALTY_ENV_FILE`` if set, else ``.env``
            in the current directory.

    Returns:
        A new dict: file values overridden by environment values.
    """
    base = dict(os.environ if env is None else env)
    if dotenv_path is not None:
        path = dotenv_path
    else:
        path = Path(base.get("LOYALTY_ENV_FILE", "").strip() or Path.cwd() / ".env")
    merged = (
        {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    )
    merged.update(base)
    return merged


def _int_setting(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class SourceConfig:
    """Where the MySQL ``transactions`` table lives, and how long to wait for it.

    Attributes:
        host: Server host name or address.
        port: TCP port.
        database: Database (schema) holding ``transactions``.
        user: Login name.
        password: Login password; excluded from ``repr`` and :meth:`describe`.
        table: The source table name.
        connect_timeout_s: Seconds to wait for the TCP connect and handshake.
        read_timeout_s: Seconds to wait for any single read from the server, so that a server
            that accepts and then goes silent fails the run instead of hanging it.
    """

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    table: str = "transactions"
    connect_timeout_s: int = 10
    read_timeout_s: int = 120

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_database: str = "loyalty") -> SourceConfig:
        """Read ``DB_*`` variables, applying the documented defaults.

        Args:
            env: Variables, typically from :func:`load_env`.
            default_database: ``DB_NAME`` when unset (``loyalty``; the demo uses ``loyalty_demo``).

        Returns:
            The validated configuration.

        Raises:
            ConfigError: A value is malformed (the message names the variable, never a secret).
        """
        database = env.get("DB_NAME", "").strip() or default_database
        if not database.replace("_", "").replace("$", "").isalnum():
            raise ConfigError(
                f"DB_NAME must be a plain identifier (letters, digits, _), got {database!r}"
            )
        port = _int_setting(env, "DB_PORT", 3306)
        if port > 65535:
            raise ConfigError(f"DB_PORT must be at most 65535, got {port}")
        return cls(
            host=env.get("DB_HOST", "").strip() or "127.0.0.1",
            port=port,
            database=database,
            user=env.get("DB_USER", "").strip() or "root",
            password=env.get("DB_PASSWORD", ""),
            connect_timeout_s=_int_setting(env, "DB_CONNECT_TIMEOUT", 10),
            read_timeout_s=_int_setting(env, "DB_READ_TIMEOUT", 120),
        )

    def describe(self) -> str:
        """Name the source for messages: ``user@host:port/database.table``, never the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}.{self.table}"

    def sqlalchemy_url(self) -> URL:
        """Build the SQLAlchemy URL for mysql-connector-python (its ``repr`` masks the password)."""
        return URL.create(
            "mysql+mysqlconnector",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=self.database,
        )

    def connect_args(self) -> dict[str, object]:
        """Driver arguments: timeouts, and the pure-Python path never silently chosen for us."""
        return {
            "connection_timeout": self.connect_timeout_s,
            "read_timeout": self.read_timeout_s,
            "write_timeout": self.read_timeout_s,
        }


def loyalty_home(env: Mapping[str, str]) -> Path:
    """Resolve ``LOYALTY_HOME`` (default ``.loyalty`` in the project) to an absolute path.

    Everything local lives below it: the Parquet lake, dlt's pipeline state, the Spark warehouse
    and metastore. Two runs with different homes share nothing.
    """
    raw = env.get("LOYALTY_HOME", "").strip()
    path = Path(raw).expanduser() if raw else PROJECT_DIR / ".loyalty"
    return path.resolve()
