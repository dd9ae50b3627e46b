"""Shared fixtures: real MariaDB databases (created and dropped per test) and isolated homes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import mysql.connector
import pytest

from ingest.config import PROJECT_DIR, SourceConfig
from loyalty.demo import TRANSACTIONS_DDL

DB_HOST = os.environ.get("TEST_DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("TEST_DB_PORT", "3306"))
DB_USER = os.environ.get("TEST_DB_USER", "root")
DB_PASSWORD = os.environ.get("TEST_DB_PASSWORD", "")

Row = tuple[int, int | None, Any, Decimal | None]


def connect(database: str | None = None) -> Any:
    """A connection to the test server (MariaDB at 127.0.0.1:3306 unless TEST_DB_* say else)."""
    return mysql.connector.connect(
        host=DB_HOST,
        port=DB_PORT,
        user=DB_USER,
        password=DB_PASSWORD,
        database=database,
        connection_timeout=10,
    )


@dataclass
class SourceDatabase:
    """A throwaway MySQL database holding a ``transactions`` table."""

    name: str

    @property
    def config(self) -> SourceConfig:
        """The ingest's view of this database."""
        return SourceConfig(
            host=DB_HOST, port=DB_PORT, database=self.name, user=DB_USER, password=DB_PASSWORD
        )

    def env(self) -> dict[str, str]:
        """``DB_*`` variables naming this database."""
        return {
            "DB_HOST": DB_HOST,
            "DB_PORT": str(DB_PORT),
            "DB_NAME": self.name,
            "DB_USER": DB_USER,
            "DB_PASSWORD": DB_PASSWORD,
        }

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement and commit."""
        conn = connect(self.name)
        try:
            cursor = conn.cursor()
            cursor.execute(sql, params or ())
            conn.commit()
        finally:
            conn.close()

    def insert(self, rows: Sequence[Row]) -> None:
        """Insert transactions."""
        conn = connect(self.name)
        try:
            cursor = conn.cursor()
            cursor.executemany(
                "insert into transactions"
                " (transaction_id, customer_id, transaction_date, amount)"
                " values (%s, %s, %s, %s)",
                list(rows),
            )
            conn.commit()
        finally:
            conn.close()

    def rows(self) -> list[Row]:
        """All transactions, ordered by id."""
        conn = connect(self.name)
        try:
            cursor = conn.cursor()
            cursor.execute(
                "select transaction_id, customer_id, transaction_date, amount"
                " from transactions order by transaction_id"
            )
            return [tuple(r) for r in cursor.fetchall()]
        finally:
            conn.close()


def create_database(prefix: str = "loyalty_t") -> SourceDatabase:
    """Create an empty database with the ``transactions`` table."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = connect()
    try:
        cursor = conn.cursor()
        cursor.execute(f"create database `{name}`")
        cursor.execute(f"use `{name}`")
        cursor.execute(TRANSACTIONS_DDL)
        conn.commit()
    finally:
        conn.close()
    return SourceDatabase(name)


def drop_database(db: SourceDatabase) -> None:
    """Drop a database made by :func:`create_database`."""
    conn = connect()
    try:
        conn.cursor().execute(f"drop database if exists `{db.name}`")
    finally:
        conn.close()


@pytest.fixture
def database() -> Iterator[SourceDatabase]:
    """A fresh database for one test, dropped afterwards."""
    db = create_database()
    try:
        yield db
    finally:
        drop_database(db)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An isolated ``LOYALTY_HOME``."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def run_cli(
    args: Sequence[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loyalty ARGS`` in a fresh process (own JVM, own Spark session)."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOYALTY_", "DBT_"))
    }
    full_env["LOYALTY_ENV_FILE"] = os.devnull  # a developer's .env must not leak into tests
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "loyalty", *args],
        cwd=PROJECT_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
