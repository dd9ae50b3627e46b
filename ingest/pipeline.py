"""Run the dlt pipeline: MySQL ``transactions`` -> the lake under ``LOYALTY_HOME``.

Layout written by dlt's filesystem destination (Parquet)::

    $LOYALTY_HOME/lake/raw_mysql/transactions/<load_id>.<file_id>.parquet
    $LOYALTY_HOME/lake/raw_mysql/_dlt_loads/...          (one row per *completed* load)
    $LOYALTY_HOME/dlt/                                   (pipeline working state)

Every row carries ``_dlt_load_id``; dbt staging keeps only rows whose load completed and
dedupes ``transaction_id`` (latest load wins), so a killed load never shows half its rows.
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

from ingest.config import ConfigError, SourceConfig, _int_setting
from ingest.source import BACKENDS, SourceSchemaError, transactions_resource

log = logging.getLogger(__name__)

PIPELINE_NAME = "loyalty_mysql"
DATASET_NAME = "raw_mysql"
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


def lake_dir(home: Path) -> Path:
    """The dataset folder dbt registers as the ``mysql`` source (local destination)."""
    return home / "lake" / DATASET_NAME


def _redact(message: str, config: SourceConfig) -> str:
    if config.password:
        message = message.replace(config.password, "***")
    return message


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


def build_pipeline(home: Path) -> dlt.Pipeline:
    """Create (or attach to) the pipeline whose state and lake live under ``home``."""
    destination = dlt.destinations.filesystem(bucket_url=(home / "lake").as_uri())
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=destination,
        dataset_name=DATASET_NAME,
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
        backend = ingest_backend(settings)
    except ConfigError as exc:
        raise IngestError(str(exc)) from None
    home.mkdir(parents=True, exist_ok=True)
    marker = _check_source_identity(home, config, full_refresh)
    started = time.monotonic()
    log.info("ingest: reading %s (full_refresh=%s)", config.describe(), full_refresh)
    try:
        resource = transactions_resource(config, chunk_size=chunk_size, backend=backend)
        pipeline = build_pipeline(home)
        run_kwargs: dict[str, Any] = {"loader_file_format": "parquet"}
        if full_refresh:
            run_kwargs["refresh"] = "drop_sources"
        info = pipeline.run(resource, **run_kwargs)
    except SourceSchemaError as exc:
        raise IngestError(f"cannot ingest {config.describe()}: {exc}") from None
    except BaseException as exc:
        if not isinstance(exc, Exception) and not _is_panic(exc):
            raise  # KeyboardInterrupt, SystemExit: not ours to translate
        if _is_panic(exc):
            # ConnectorX reports an unreadable value (e.g. a 0000-00-00 date) as a Rust panic,
            # a BaseException that "except Exception" would let through as a raw traceback.
            raise IngestError(
                f"cannot ingest {config.describe()}: ConnectorX could not read a value "
                f"({_describe_failure(exc, config)}). Fix the row in MySQL, or read with "
                "LOYALTY_INGEST_BACKEND=pyarrow (which reads a zero date as NULL)."
            ) from None
        schema_error = _find(exc, SourceSchemaError)
        if schema_error is not None:
            raise IngestError(f"cannot ingest {config.describe()}: {schema_error}") from None
        raise IngestError(
            f"cannot ingest {config.describe()}: {_describe_failure(exc, config)}"
        ) from None
    rows = _rows_loaded(info, pipeline)
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
    log.info("ingest: %d rows loaded into %s in %.1f s", rows, lake_dir(home), seconds)
    return IngestResult(rows, load_id, lake_dir(home), seconds, full_refresh)


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
