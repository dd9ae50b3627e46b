"""Export the published tiers and this run's tier movements as Parquet datasets.

Two datasets, one mechanism: the tiers (``LOYALTY_EXPORT_PATH``, for marketing and BI) and the
movements (``loyalty_tier_movements.parquet`` next to it, the feed for tier-change
notifications). Each is written to a fresh version folder beside its path and its row count
checked; only when both versions are complete do the paths (symbolic links) switch, each with one
``rename``. A run that fails at any point before the swaps leaves both exports exactly as they
were; readers never see a half-written dataset. The previous version of each is kept until the
next swap so a reader that opened it mid-swap can finish.
"""

import datetime
import os
import shutil
import uuid

EXPORT_COLUMNS = [
    "customer_id",
    "total_spent",
    "transaction_count",
    "loyalty_tier",
    "tier_rank",
    "as_of_date",
    "qualifying_start_date",
    "next_tier",
    "spend_to_next_tier",
    "transactions_to_next_tier",
    "spend_above_tier_minimum",
    "transactions_above_tier_minimum",
]
MOVEMENT_COLUMNS = [
    "customer_id",
    "as_of_date",
    "previous_as_of_date",
    "previous_tier",
    "previous_tier_rank",
    "loyalty_tier",
    "tier_rank",
    "movement",
]
MOVEMENTS_FILE_NAME = "loyalty_tier_movements.parquet"
KEEP_VERSIONS = 2


def _versions_dir(target):
    parent, name = os.path.split(target)
    return os.path.join(parent, f".{name}.versions")


def _write_version(frame, target, expected_rows):
    """Write the dataset into a new version folder and verify it; remove it on any failure."""
    versions = _versions_dir(target)
    os.makedirs(versions, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    version = os.path.join(versions, f"{stamp}-{uuid.uuid4().hex[:8]}")
    try:
        frame.coalesce(1).write.mode("errorifexists").parquet("file://" + version)
        written = frame.sparkSession.read.parquet("file://" + version).count()
        if written != expected_rows:
            raise RuntimeError(
                f"export check failed: wrote {written} rows to {version}, expected {expected_rows}"
            )
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    return version


def _swap(target, version):
    """Point ``target`` at ``version`` with one atomic rename of a symbolic link."""
    parent = os.path.dirname(target)
    link = os.path.join(parent, f".{os.path.basename(target)}.{uuid.uuid4().hex}.swap")
    os.symlink(os.path.relpath(version, parent), link)
    try:
        if os.path.isdir(target) and not os.path.islink(target):
            # A plain folder from another tool: keep it as a version, then link.
            legacy = os.path.join(_versions_dir(target), "legacy-" + uuid.uuid4().hex[:8])
            os.rename(target, legacy)
        os.replace(link, target)
    except BaseException:
        if os.path.lexists(link):
            os.unlink(link)
        raise


def _prune(target):
    """Keep the current version and the one before it; remove older ones."""
    versions = _versions_dir(target)
    current = os.path.realpath(target)
    folders = sorted(
        (os.path.join(versions, name) for name in os.listdir(versions)),
        key=os.path.getmtime,
        reverse=True,
    )
    kept = 0
    for folder in folders:
        if os.path.realpath(folder) == current or kept < KEEP_VERSIONS - 1:
            kept += os.path.realpath(folder) != current
            continue
        shutil.rmtree(folder, ignore_errors=True)


def publish_parquet(datasets):
    """Publish each ``(frame, path)`` as the Parquet dataset at ``path``, atomically.

    Every version is written and checked before the first swap, so a failure while writing any
    of them leaves all the published datasets untouched.
    """
    staged = []
    try:
        for frame, path in datasets:
            target = os.path.abspath(path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            staged.append((target, _write_version(frame, target, frame.count())))
    except BaseException:
        for _, version in staged:
            shutil.rmtree(version, ignore_errors=True)
        raise
    for target, version in staged:
        _swap(target, version)
        _prune(target)
    return [target for target, _ in staged]


def model(dbt, session):
    tiers = dbt.ref("customer_loyalty_tiers").select(*EXPORT_COLUMNS)
    movements = dbt.ref("loyalty_tier_movements").select(*MOVEMENT_COLUMNS)
    export_path = dbt.config.meta_get("export_path")
    if not export_path:
        raise ValueError("loyalty_tiers_export needs meta.export_path (LOYALTY_EXPORT_PATH)")
    export_dir = os.path.dirname(os.path.abspath(export_path))
    movements_path = os.path.join(export_dir, MOVEMENTS_FILE_NAME)
    publish_parquet([(tiers, export_path), (movements, movements_path)])
    return tiers
