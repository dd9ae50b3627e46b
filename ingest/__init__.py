"""dlt ingest: MySQL ``transactions`` into the warehouse (a local Parquet lake by default).

Nothing runs at import. Entry points: :func:`ingest.pipeline.run_ingest` and ``python -m ingest``.
"""

from ingest.config import ConfigError, SourceConfig
from ingest.pipeline import IngestError, IngestResult, run_ingest

__all__ = ["ConfigError", "IngestError", "IngestResult", "SourceConfig", "run_ingest"]
