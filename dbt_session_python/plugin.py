"""The plugin and the ``session`` submission helper (see the package docstring)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from dbt.plugins.manager import dbtPlugin

log = logging.getLogger(__name__)

SUBMISSION_METHOD = "session"
_PATCHED_FLAG = "_loyalty_session_python_patched"


class SessionPythonJobHelper:
    """Execute a compiled dbt Python model in the running SparkSession.

    dbt-spark's generated footer expects a global ``spark``; it calls ``model(dbt, spark)`` and
    saves the returned DataFrame with ``saveAsTable``. Running that code in this process reuses
    the session dbt's SQL models run in: same metastore, same warehouse, no second JVM.
    """

    def __init__(self, parsed_model: dict[str, Any], credentials: Any) -> None:
        self.parsed_model = parsed_model
        self.credentials = credentials

    def submit(self, compiled_code: str) -> None:
        """Run the compiled code; exceptions propagate to dbt and fail the model."""
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        # UDF workers must start the interpreter that has our venv, not whatever is on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        name = self.parsed_model.get("unique_id", "python model")
        code = compile(compiled_code, f"<dbt python model {name}>", "exec")
        namespace: dict[str, Any] = {"spark": spark, "__name__": "__dbt_python_model__"}
        exec(code, namespace)  # noqa: S102 - the compiled model is the user's own project code


def register() -> bool:
    """Add the ``session`` method to dbt-spark's adapter; idempotent.

    Returns:
        True when dbt-spark is installed and the method is (now) registered.
    """
    try:
        from dbt.adapters.spark.impl import SparkAdapter
    except ImportError:  # dbt-spark not installed: nothing to extend
        return False
    if getattr(SparkAdapter, _PATCHED_FLAG, False):
        return True
    # The property objects themselves (not their values), to wrap them.
    helpers_property: Any = SparkAdapter.__dict__["python_submission_helpers"]
    default_property: Any = SparkAdapter.__dict__["default_python_submission_method"]

    def python_submission_helpers(self: Any) -> dict[str, Any]:
        helpers = dict(helpers_property.fget(self))
        helpers[SUBMISSION_METHOD] = SessionPythonJobHelper
        return helpers

    def default_python_submission_method(self: Any) -> str:
        method = getattr(self.config.credentials, "method", None)
        if str(method) == SUBMISSION_METHOD or getattr(method, "value", None) == SUBMISSION_METHOD:
            return SUBMISSION_METHOD
        return str(default_property.fget(self))

    setattr(SparkAdapter, "python_submission_helpers", property(python_submission_helpers))  # noqa: B010
    setattr(  # noqa: B010 - replacing a property on the class, mypy rejects plain assignment
        SparkAdapter, "default_python_submission_method", property(default_python_submission_method)
    )
    setattr(SparkAdapter, _PATCHED_FLAG, True)
    log.debug("dbt_session_python: registered the %r submission method", SUBMISSION_METHOD)
    return True


class SessionPythonModelsPlugin(dbtPlugin):
    """dbt plugin whose only job is :func:`register` at project load."""

    def initialize(self) -> None:
        """Register the submission method (called by dbt when it loads the project)."""
        register()
