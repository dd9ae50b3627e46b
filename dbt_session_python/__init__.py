"""Run dbt Python models inside dbt-spark's in-process ``session`` Spark.

Upstream dbt-spark submits Python models only to Databricks clusters (``job_cluster``,
``all_purpose_cluster``); with ``method: session`` a Python model fails (dbt-spark issues 415
and 1062). dbt-core's plugin manager imports every installed top-level module whose name starts
with ``dbt_`` and instantiates the classes listed in its ``plugins``. Ours registers one more
submission method, ``session``, that executes the compiled model in the SparkSession dbt already
runs, and makes it the default when the profile uses ``method: session``. Other adapters and
methods (dbt-databricks, Databricks clusters) are untouched.
"""

from dbt_session_python.plugin import SessionPythonJobHelper, SessionPythonModelsPlugin

plugins = [SessionPythonModelsPlugin]

__all__ = ["SessionPythonJobHelper", "SessionPythonModelsPlugin", "plugins"]
