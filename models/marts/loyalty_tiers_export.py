"""Export the published tiers as a Parquet dataset for marketing and BI.

The export is replaced atomically: the new dataset is written to a fresh version folder beside
the export, its row count checked, and only then does the export path (a symbolic link) switch to
it in one ``rename``. A run that fails at any point leaves the previous export exactly as it was;
readers never see a half-written dataset. The previous version is kept until the next swap so a
reader that opened it mid-swap can finish.
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
]
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
    """Keep the current version and the newest complete one before it; remove the rest.

    A folder without ``_SUCCESS`` is what a killed run left behind (runs are serialised by the
    ``LOYALTY_HOME`` lock, so no other run can be writing it): always removed.
    """
    versions = _versions_dir(target)
    current = os.path.realpath(target)
    folders = sorted(
        (os.path.join(versions, name) for name in os.listdir(versions)),
        key=os.path.getmtime,
        reverse=True,
    )
    previous_kept = 0
    for folder in folders:
        if os.path.realpath(folder) == current:
            continue
        complete = os.path.exists(os.path.join(folder, "_SUCCESS"))
        if complete and previous_kept < KEEP_VERSIONS - 1:
            previous_kept += 1
            continue
        shutil.rmtree(folder, ignore_errors=True)


def publish_parquet(frame, export_path):
    """Write ``frame`` as the Parquet dataset at ``export_path``, atomically."""
    target = os.path.abspath(export_path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    expected_rows = frame.count()
    version = _write_version(frame, target, expected_rows)
    _swap(target, version)
    _prune(target)
    return target


def model(dbt, session):
    tiers = dbt.ref("customer_loyalty_tiers").select(*EXPORT_COLUMNS)
    export_path = dbt.config.meta_get("export_path")
    if not export_path:
        raise ValueError("loyalty_tiers_export needs meta.export_path (LOYALTY_EXPORT_PATH)")
    publish_parquet(tiers, export_path)
    return tiers
