"""Run the dlt pipeline: MySQL ``transactions`` -> the lake under ``LOYALTY_HOME``.

Layout written by dlt's filesystem destination (Parquet)::

    $LOYALTY_HOME/lake/raw_mysql/transactions/<load_id>.<file_id>.parquet
    $LOYALTY_HOME/lake/raw_mysql/_dlt_loads/...          (one row per *completed* load)
    $LOYALTY_HOME/dlt/                                   (pipeline working state)

Every row carries ``_dlt_load_id``; dbt staging keeps only rows whose load completed and
dedupes ``transaction_id`` (latest load wins), so a killed load never shows half its rows.

With ``LOYALTY_DESTINATION=databricks`` the same resource loads Unity Catalog tables instead
(see :mod:`ingest.destination`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from ingest import destination as destinations
from ingest.config import ConfigError, SourceConfig, _int_setting
from ingest.source import BACKENDS, SourceSchemaError, transactions_resource

log = logging.getLogger(__name__)

PIPELINE_NAME = "loyalty_mysql"
TABLE_NAME = "transactions"

# dlt settings this pipeline relies on; users may still override them in the environment.
_DLT_DEFAULTS = {
    # staging filters on _dlt_load_id to read completed loads only
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    # no second copy of every load file in dlt's working folder
    "LOAD__DELETE_COMPLETED_JOBS": "true",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "WARNING",
}


class IngestError(RuntimeError):
    """The ingest could not complete; the message names the source and the cause, no secret."""


@dataclass(frozen=True)
class IngestResult:
    """What one ingest run did.

    Attributes:
        rows_loaded: Rows written to the lake by this run (0 when nothing was new).
        load_id: dlt's load id, or ``None`` when nothing was loaded.
        lake_dir: The dataset folder in the lake.
        seconds: Wall time of the run.
        full_refresh: Whether the lake table was dropped and reloaded.
    """

    rows_loaded: int
    load_id: str | None
    lake_dir: Path
    seconds: float
    full_refresh: bool


def lake_dir(home: Path, env: Mapping[str, str] | None = None) -> Path:
    """The dataset folder dbt registers as the ``mysql`` source (local destination).

    Named by ``LOYALTY_RAW_SCHEMA`` (default ``raw_mysql``), the same variable the dbt source
    and the lake registration read, so the two can never point at different folders.
    """
    return home / "lake" / destinations.raw_schema(os.environ if env is None else env)


def _redact(message: str, config: SourceConfig) -> str:
    if config.password:
        message = message.replace(config.password, "***")
    return destinations.redact(message)


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _describe_failure(exc: BaseException, config: SourceConfig) -> str:
    cause = _root_cause(exc)
    text = " ".join(str(cause).split()) or type(cause).__name__
    return _redact(f"{type(cause).__name__}: {text}", config)


def _check_source_identity(home: Path, config: SourceConfig, full_refresh: bool) -> Path:
    """Refuse to mix two MySQL databases into one lake without a full refresh."""
    marker = home / "lake" / "source.json"
    identity = {
        "host": config.host,
        "port": config.port,
        "database": config.database,
        "table": config.table,
    }
    if marker.is_file() and not full_refresh:
        recorded = json.loads(marker.read_text())
        if recorded != identity:
            raise IngestError(
                f"LOYALTY_HOME={home} holds a lake loaded from "
                f"{recorded.get('host')}:{recorded.get('port')}/{recorded.get('database')}, "
                f"but this run reads {config.host}:{config.port}/{config.database}. "
                "Run with --full-refresh to replace it, or use another LOYALTY_HOME."
            )
    return marker


def _rows_loaded(info: LoadInfo | None, pipeline: dlt.Pipeline) -> int:
    trace = pipeline.last_trace
    if info is None or trace is None or trace.last_normalize_info is None:
        return 0
    counts: Mapping[str, int] = trace.last_normalize_info.row_counts
    return int(counts.get(TABLE_NAME, 0))


def build_pipeline(home: Path, env: Mapping[str, str] | None = None) -> dlt.Pipeline:
    """Create (or attach to) the pipeline whose state (and lake) live under ``home``.

    The destination follows ``LOYALTY_DESTINATION`` in ``env`` (``os.environ`` if omitted).
    """
    settings = os.environ if env is None else env
    kind = destinations.destination_kind(settings)
    destination, staging, _ = destinations.build_destination(kind, home, settings)
    return dlt.pipeline(
        pipeline_name=destinations.PIPELINE_NAMES[kind],
        destination=destination,
        staging=staging,
        dataset_name=destinations.raw_schema(settings),
        pipelines_dir=str(home / "dlt"),
    )


def ingest_backend(env: Mapping[str, str]) -> str:
    """``LOYALTY_INGEST_BACKEND``: ``connectorx`` (default) or ``pyarrow``."""
    raw = env.get("LOYALTY_INGEST_BACKEND", "").strip().lower() or BACKENDS[0]
    if raw not in BACKENDS:
        raise ConfigError(
            f"LOYALTY_INGEST_BACKEND must be one of {', '.join(BACKENDS)}, got {raw!r}"
        )
    return raw


def run_ingest(
    config: SourceConfig,
    home: Path,
    *,
    full_refresh: bool = False,
    env: Mapping[str, str] | None = None,
) -> IngestResult:
    """Load new MySQL rows into the lake (all rows with ``full_refresh``).

    Args:
        config: The MySQL source.
        home: ``LOYALTY_HOME`` (absolute).
        full_refresh: Drop the lake table and the incremental state first, then reload all rows.
        env: Variables for tunables (``LOYALTY_INGEST_CHUNK_SIZE``, ``LOYALTY_INGEST_BACKEND``);
            ``os.environ`` if omitted.

    Returns:
        What was loaded.

    Raises:
        IngestError: The source is unreachable, refuses, is missing, or changed schema. The
            message names ``user@host:port/db.table`` and the cause; the password never appears.
    """
    settings = os.environ if env is None else env
    for key, value in _DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        chunk_size = _int_setting(settings, "LOYALTY_INGEST_CHUNK_SIZE", 100_000)
        attempts = _int_setting(settings, "LOYALTY_INGEST_ATTEMPTS", 3)
        backoff_s = float(_int_setting(settings, "LOYALTY_INGEST_BACKOFF_MS", 1000, 0)) / 1000
        kind = destinations.destination_kind(settings)
        backend = ingest_backend(settings)
    except ConfigError as exc:
        raise IngestError(str(exc)) from None
    home.mkdir(parents=True, exist_ok=True)
    marker = _check_source_identity(home, config, full_refresh)
    started = time.monotonic()
    log.info("ingest: reading %s (full_refresh=%s)", config.describe(), full_refresh)
    try:
        pipeline = build_pipeline(home, settings)
    except (ConfigError, destinations.DestinationError) as exc:
        raise IngestError(f"cannot load into {kind}: {destinations.redact(str(exc))}") from None
    rows = _finish_interrupted_load(pipeline, config)
    info = None
    attempt = 0
    while True:
        attempt += 1
        try:
            info = _extract_and_load(pipeline, config, chunk_size, full_refresh, backend)
            break
        except BaseException as exc:
            if not isinstance(exc, Exception) and not _is_panic(exc):
                raise  # KeyboardInterrupt, SystemExit: not ours to translate
            schema_error = _find(exc, SourceSchemaError)
            if schema_error is not None:
                raise IngestError(f"cannot ingest {config.describe()}: {schema_error}") from None
            reason = _describe_failure(exc, config)
            if _is_panic(exc) and backend == "connectorx":
                # ConnectorX reports a value it cannot read (a 0000-00-00 date) as a Rust panic
                # before anything is written. The pyarrow backend reads such a date as NULL, so
                # the row is excluded and counted downstream instead of failing the run.
                log.warning(
                    "ingest: ConnectorX could not read a value (%s); reading with pyarrow", reason
                )
                backend = "pyarrow"
                attempt -= 1
                rows += _finish_interrupted_load(pipeline, config)
                continue
            if attempt >= attempts or not _is_transient(exc):
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise IngestError(f"cannot ingest {config.describe()}{tries}: {reason}") from None
            delay = backoff_s * 2 ** (attempt - 1)
            log.warning(
                "ingest: attempt %d/%d failed (%s); retrying in %.1f s",
                attempt,
                attempts,
                reason,
                delay,
            )
            time.sleep(delay)
            # an attempt that failed mid-load leaves a package to finish before extracting again
            rows += _finish_interrupted_load(pipeline, config)
    rows += _rows_loaded(info, pipeline)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {
                "host": config.host,
                "port": config.port,
                "database": config.database,
                "table": config.table,
            }
        )
    )
    load_id = info.loads_ids[-1] if info is not None and info.loads_ids else None
    seconds = time.monotonic() - started
    where = (
        lake_dir(home, settings)
        if kind == "local"
        else f"databricks schema {pipeline.dataset_name}"
    )
    log.info("ingest: %d rows loaded into %s in %.1f s", rows, where, seconds)
    return IngestResult(rows, load_id, lake_dir(home, settings), seconds, full_refresh)


# MySQL client/server errors worth retrying: the server may come back or the network recover.
# Auth (1045), unknown database (1049), missing table (1146) and schema changes are final.
_TRANSIENT_ERRNOS = frozenset({1040, 1205, 1213, 2002, 2003, 2006, 2013, 2055})


def _is_transient(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        errno = getattr(current, "errno", None)
        if isinstance(errno, int) and errno in _TRANSIENT_ERRNOS:
            return True
        if isinstance(current, (TimeoutError, ConnectionError)):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def _finish_interrupted_load(pipeline: dlt.Pipeline, config: SourceConfig) -> int:
    """Complete a load package a killed or failed run left behind; return its row count.

    dlt keeps extracted/normalized packages until they are loaded; its state (and so the
    incremental cursor) only advances with the load. Finishing the package first means the
    rows it holds land exactly once, and the extract that follows starts after them.
    """
    if not pipeline.has_pending_data:
        return 0
    log.warning("ingest: finishing a load interrupted in an earlier run")
    try:
        pipeline.run()
    except Exception as exc:
        raise IngestError(
            f"cannot finish the interrupted load for {config.describe()}: "
            f"{_describe_failure(exc, config)}"
        ) from None
    return _rows_loaded(pipeline.last_trace and pipeline.last_trace.last_load_info, pipeline)


def _extract_and_load(
    pipeline: dlt.Pipeline,
    config: SourceConfig,
    chunk_size: int,
    full_refresh: bool,
    backend: str,
) -> LoadInfo:
    resource = transactions_resource(config, chunk_size=chunk_size, backend=backend)
    run_kwargs: dict[str, Any] = {"loader_file_format": "parquet"}
    if full_refresh:
        run_kwargs["refresh"] = "drop_sources"
    info: LoadInfo = pipeline.run(resource, **run_kwargs)
    return info


def _is_panic(exc: BaseException) -> bool:
    """Whether ``exc`` or anything in its chain is pyo3's ``PanicException`` (from ConnectorX).

    Matched by name: ``pyo3_runtime`` only exists once a Rust extension has been loaded.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if type(current).__name__ == "PanicException":
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
