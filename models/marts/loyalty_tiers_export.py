"""Export the published tiers and this run's tier movements as Parquet datasets.

Two datasets: the tiers (``LOYALTY_EXPORT_PATH``, for marketing and BI) and the movements
(``loyalty_tier_movements.parquet`` next to it, the feed for tier-change notifications). Neither
is ever partial. Each new dataset is written to a fresh version folder beside its path and its
row count checked; only then do readers get switched to it:

* locally (``export_publish: symlink``) each path is a symbolic link, swapped in one atomic
  ``rename``, and only once *both* versions are complete: readers simply read the paths;
* on Databricks (``export_publish: pointer``; Unity Catalog volumes have no symbolic links and no
  atomic folder rename) a small JSON pointer file ``<path>.current.json`` per dataset is written
  to a temporary name and renamed over the old one. Readers read the pointer, then the folder.

A run that fails at any point before the switch leaves the previous exports exactly as they
were. The previous version is kept until the next publish so a reader that opened it mid-switch
can finish.
"""

import datetime
import json
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


POINTER_SUFFIX = ".current.json"
VOLUME_PREFIX = "/Volumes/"


def _write_version(frame, target, expected_rows, scheme="file://"):
    """Write the dataset into a new version folder and verify it; remove it on any failure."""
    versions = _versions_dir(target)
    os.makedirs(versions, exist_ok=True)
    # timezone.utc, not datetime.UTC: Databricks clusters may run Python 3.10.
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")  # noqa: UP017
    version = os.path.join(versions, f"{stamp}-{uuid.uuid4().hex[:8]}")
    try:
        frame.coalesce(1).write.mode("errorifexists").parquet(scheme + version)
        written = frame.sparkSession.read.parquet(scheme + version).count()
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


def pointer_path(export_path):
    """Where the pointer to the current version lives (``export_publish: pointer``)."""
    return export_path.rstrip("/") + POINTER_SUFFIX


def _check_volume_path(target):
    """Fail before writing anything when the export cannot live on a Unity Catalog volume."""
    parts = target[len(VOLUME_PREFIX) :].split("/") if target.startswith(VOLUME_PREFIX) else []
    if len(parts) < 4 or not all(parts):
        raise ValueError(
            "on Databricks LOYALTY_EXPORT_PATH (var export_path) must be a file path inside a "
            f"Unity Catalog volume, /Volumes/<catalog>/<schema>/<volume>/<name>; got {target!r}"
        )
    volume_root = VOLUME_PREFIX + "/".join(parts[:3])
    if not os.path.isdir(volume_root):
        raise FileNotFoundError(
            f"volume {volume_root} does not exist or is not readable: create it first with "
            f"CREATE VOLUME IF NOT EXISTS {'.'.join(parts[:3])} (and grant WRITE VOLUME)"
        )


def _write_pointer(target, version, rows):
    """Replace the pointer file in one rename: readers see the old pointer or the new one."""
    pointer = pointer_path(target)
    document = {
        "path": version,
        "version": os.path.basename(version),
        "rows": rows,
        "published_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),  # noqa: UP017
    }
    temporary = f"{pointer}.{uuid.uuid4().hex}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    try:
        os.replace(temporary, pointer)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def read_pointer(export_path):
    """The pointer document (``path``, ``version``, ``rows``, ``published_at``), or None."""
    try:
        with open(pointer_path(export_path), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def _prune_versions(target, current):
    """Keep ``current`` and the newest other version; remove older ones (pointer mode)."""
    versions = _versions_dir(target)
    folders = sorted(
        (os.path.join(versions, name) for name in os.listdir(versions)),
        key=os.path.getmtime,
        reverse=True,
    )
    others = [folder for folder in folders if folder != current]
    for folder in others[KEEP_VERSIONS - 1 :]:
        shutil.rmtree(folder, ignore_errors=True)


def publish_parquet_pointer(frame, export_path, require_volume=True):
    """Write ``frame`` as a new version and point ``<export_path>.current.json`` at it.

    For storage without symbolic links or atomic folder renames (Unity Catalog volumes). The
    pointer is only replaced after the new version is complete and its row count checked.
    """
    target = export_path.rstrip("/")
    if require_volume:
        _check_volume_path(target)
    elif not os.path.isabs(target):
        raise ValueError(f"the export path must be absolute, got {export_path!r}")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    expected_rows = frame.count()
    version = _write_version(frame, target, expected_rows, scheme="")
    _write_pointer(target, version, expected_rows)
    _prune_versions(target, version)
    return pointer_path(target)


def model(dbt, session):
    tiers = dbt.ref("customer_loyalty_tiers").select(*EXPORT_COLUMNS)
    movements = dbt.ref("loyalty_tier_movements").select(*MOVEMENT_COLUMNS)
    export_path = dbt.config.meta_get("export_path")
    if not export_path:
        raise ValueError("loyalty_tiers_export needs meta.export_path (LOYALTY_EXPORT_PATH)")
    export_dir = os.path.dirname(os.path.abspath(export_path))
    movements_path = os.path.join(export_dir, MOVEMENTS_FILE_NAME)
    publish = dbt.config.meta_get("export_publish", "symlink")
    if publish == "pointer":
        publish_parquet_pointer(tiers, export_path)
        publish_parquet_pointer(
            movements, os.path.join(os.path.dirname(export_path), MOVEMENTS_FILE_NAME)
        )
    elif publish == "symlink":
        publish_parquet([(tiers, export_path), (movements, movements_path)])
    else:
        raise ValueError(f"meta.export_publish must be 'symlink' or 'pointer', got {publish!r}")
    return tiers
