"""Set up the demo database: the ``transactions`` DDL and the bundled sample of the replaced system.

The sample (``data/sample/transaction_records.sql``) is one INSERT of 10,300 rows for 650
customers, 2024-08-07 .. 2025-08-07, with 1,325 NULL amounts; it carries no CREATE TABLE, so the
table is created here from the schema in the product description.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mysql.connector

from ingest.config import PROJECT_DIR, SourceConfig

log = logging.getLogger(__name__)

SAMPLE_SQL = PROJECT_DIR / "data" / "sample" / "transaction_records.sql"
SAMPLE_AS_OF_DATE = "2025-08-07"
DEMO_DATABASE = "loyalty_demo"

TRANSACTIONS_DDL = """
create table transactions (
    transaction_id int primary key,
    customer_id int,
    transaction_date date,
    amount decimal(10, 2)
)
"""


def load_sample(config: SourceConfig, sample: Path = SAMPLE_SQL) -> int:
    """(Re)create ``config.database`` with the ``transactions`` table and load the sample.

    The database is dropped first, so the demo is repeatable.

    Returns:
        Rows now in ``transactions``.
    """
    connection = mysql.connector.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        connection_timeout=config.connect_timeout_s,
        read_timeout=config.read_timeout_s,
    )
    try:
        cursor = connection.cursor()
        quoted = f"`{config.database}`"
        cursor.execute(f"drop database if exists {quoted}")
        cursor.execute(f"create database {quoted}")
        cursor.execute(f"use {quoted}")
        cursor.execute(TRANSACTIONS_DDL)
        cursor.execute(sample.read_text(encoding="utf-8"))
        connection.commit()
        cursor.execute("select count(*) from transactions")
        (count,) = cursor.fetchone() or (0,)
        rows = int(str(count))
    finally:
        connection.close()
    log.info("demo: loaded %d sample rows into %s", rows, config.describe())
    return rows
