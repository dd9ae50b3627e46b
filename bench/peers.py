"""The peers and the Spark floor the benchmark runs beside ours, each as its own process.

- ``replaced``: the replaced system's approach: fetch every row with mysql-connector-python,
  write a CSV, read it with PySpark, group and assign tiers, write Parquet.
- ``sql``: the same logic as one SQL statement inside MySQL (group by + case), fetched with
  mysql-connector-python and written to Parquet with pyarrow.
- ``spark-floor``: plain PySpark aggregating the lake Parquet our ingest wrote (no dbt).

All three apply the simple rule (12-month window ending on the as-of date, NULL amounts count as
a transaction and add nothing, default thresholds as literals): the same work, minus our dedupe,
same-day imputation, exclusion report, tests and atomic export.

Usage: ``python -m bench.peers replaced|sql|spark-floor --database DB --out DIR [--lake DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import mysql.connector
import pyarrow as pa
import pyarrow.parquet as pq

from bench.generate import AS_OF_DATE

AS_OF = AS_OF_DATE.isoformat()
COLUMNS = "transaction_id, customer_id, transaction_date, amount"

# Default thresholds of seeds/tier_thresholds.csv, as the replaced system hard-coded them.
TIER_CASE = """
    case
        when total_spent >= 100000 and transaction_count >= 20 then 'Platinum'
        when total_spent >= 50000 and transaction_count >= 10 then 'Gold'
        when total_spent >= 20000 and transaction_count >= 5 then 'Silver'
        else 'Bronze'
    end
"""

MYSQL_TIERS = f"""
select customer_id, total_spent, transaction_count, {TIER_CASE} as loyalty_tier
from (
    select
        customer_id,
        coalesce(sum(amount), 0) as total_spent,
        count(*) as transaction_count
    from transactions
    where
        customer_id is not null
        and transaction_date between date_sub('{AS_OF}', interval 12 month) and '{AS_OF}'
    group by customer_id
) as totals
"""

SPARK_TIERS = f"""
select customer_id, total_spent, transaction_count, {TIER_CASE} as loyalty_tier
from (
    select
        customer_id,
        cast(coalesce(sum(amount), 0) as decimal(20, 2)) as total_spent,
        count(*) as transaction_count
    from transactions
    where
        customer_id is not null
        and transaction_date between add_months(date'{AS_OF}', -12) and date'{AS_OF}'
    group by customer_id
) as totals
"""


def _connect(database: str) -> Any:
    return mysql.connector.connect(
        host=os.environ.get("DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("DB_PORT", "3306")),
        user=os.environ.get("DB_USER", "root"),
        password=os.environ.get("DB_PASSWORD", ""),
        database=database,
    )


def _spark(workdir: Path) -> Any:
    """A local Spark with the same settings our dbt profile gives the session method."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[*]")
        .appName("loyalty-bench-peer")
        .config("spark.driver.memory", os.environ.get("LOYALTY_SPARK_DRIVER_MEMORY", "2g"))
        .config(
            "spark.sql.shuffle.partitions",
            os.environ.get("LOYALTY_SPARK_SHUFFLE_PARTITIONS", "4"),
        )
        .config("spark.sql.warehouse.dir", str(workdir / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={workdir}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def replaced(database: str, out: Path) -> int:
    """The replaced system: fetch all, CSV, PySpark, Parquet. Returns customers written."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "transactions.csv"
    connection = _connect(database)
    try:
        cursor = connection.cursor()
        cursor.execute(f"select {COLUMNS} from transactions")
        rows = cursor.fetchall()
    finally:
        connection.close()
    with csv_path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    del rows
    spark = _spark(out)
    try:
        schema = (
            "transaction_id bigint, customer_id bigint, transaction_date date, amount decimal(10,2)"
        )
        spark.read.csv(str(csv_path), schema=schema).createOrReplaceTempView("transactions")
        tiers = spark.sql(SPARK_TIERS)
        tiers.write.mode("overwrite").parquet(str(out / "tiers.parquet"))
        customers = int(spark.read.parquet(str(out / "tiers.parquet")).count())
    finally:
        spark.stop()
    csv_path.unlink()
    return customers


def in_mysql(database: str, out: Path) -> int:
    """One SQL statement inside MySQL, the result written as Parquet. Returns customers."""
    out.mkdir(parents=True, exist_ok=True)
    connection = _connect(database)
    try:
        cursor = connection.cursor()
        cursor.execute(MYSQL_TIERS)
        rows = cursor.fetchall()
    finally:
        connection.close()
    ids, spent, counts, tiers = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 4
    table = pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "total_spent": pa.array([Decimal(str(v)) for v in spent], pa.decimal128(20, 2)),
            "transaction_count": pa.array(counts, pa.int64()),
            "loyalty_tier": pa.array([str(t) for t in tiers], pa.string()),
        }
    )
    pq.write_table(table, out / "tiers.parquet")
    return int(table.num_rows)


def spark_floor(lake: Path, out: Path) -> int:
    """Plain PySpark over the lake Parquet: read, aggregate, assign tiers, write. Customers."""
    out.mkdir(parents=True, exist_ok=True)
    spark = _spark(out)
    try:
        spark.read.parquet(str(lake / "*.parquet")).createOrReplaceTempView("transactions")
        spark.sql(SPARK_TIERS).write.mode("overwrite").parquet(str(out / "tiers.parquet"))
        customers = int(spark.read.parquet(str(out / "tiers.parquet")).count())
    finally:
        spark.stop()
    return customers


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run one peer, print the customer count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=["replaced", "sql", "spark-floor"])
    parser.add_argument("--database", default="")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lake", type=Path, help="the lake's transactions folder (spark-floor)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    if args.peer == "replaced":
        customers = replaced(args.database, out)
    elif args.peer == "sql":
        customers = in_mysql(args.database, out)
    else:
        customers = spark_floor(args.lake, out)
    print(f"{args.peer}: {customers} customers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
