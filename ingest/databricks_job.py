"""Entry point of the Databricks job's ingest task: ``loyalty-databricks-ingest``.

The bundle (``resources/loyalty_job.yml``) runs this as a ``python_wheel_task`` on serverless
compute. Serverless tasks get no environment variables, so the task passes its settings as
parameters and keeps its secrets in a Databricks secret scope:

* ``KEY=VALUE`` parameters set non-secret configuration exactly as the environment would
  (``DB_HOST=mysql.internal``, ``DESTINATION__DATABRICKS__CREDENTIALS__CATALOG=main``, ...).
  A key that names a password, secret or token is refused: job parameters are visible to
  everyone who can view the job.
* ``--secret-scope NAME`` reads the keys listed in :data:`SCOPE_KEYS` that exist in that scope
  (``DB_PASSWORD`` at least) through ``dbutils.secrets``, into this process only.
* ``--full-refresh`` reloads every row, as ``loyalty ingest --full-refresh``.

Then it runs the same ``loyalty ingest`` as everywhere else, with ``LOYALTY_DESTINATION``
defaulting to ``databricks``. Databricks credentials are not needed inside the job: dlt
authenticates as the job's run-as principal.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence

log = logging.getLogger(__name__)

SCOPE_KEYS = (
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "DESTINATION__DATABRICKS__CREDENTIALS__CLIENT_ID",
    "DESTINATION__DATABRICKS__CREDENTIALS__CLIENT_SECRET",
    "DESTINATION__DATABRICKS__CREDENTIALS__ACCESS_TOKEN",
)
"""Keys read from the secret scope when present (secret key name = variable name)."""

_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL_KEY|PRIVATE_KEY", re.IGNORECASE)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SecretReader = Callable[[str], Mapping[str, str]]
"""Given a scope name, return the :data:`SCOPE_KEYS` present in it with their values."""


class JobArgumentError(ValueError):
    """A task parameter is malformed or would put a secret into the job definition."""


def parse_settings(parameters: Iterable[str]) -> dict[str, str]:
    """Turn ``KEY=VALUE`` parameters into settings; refuse secret-looking keys.

    Raises:
        JobArgumentError: A parameter is not ``KEY=VALUE`` or its key names a secret. The message
            names the key only, never the value.
    """
    settings: dict[str, str] = {}
    for parameter in parameters:
        key, sep, value = parameter.partition("=")
        if not sep or not _KEY.match(key):
            raise JobArgumentError(
                f"task parameters must look like KEY=VALUE, got one starting {parameter[:12]!r}"
            )
        if _SECRET_NAME.search(key):
            raise JobArgumentError(
                f"{key} is a secret: put it in the secret scope (--secret-scope), never in job "
                "parameters, which everyone who can view the job can read"
            )
        settings[key] = value
    return settings


def read_scope(scope: str) -> dict[str, str]:
    """Read the :data:`SCOPE_KEYS` present in ``scope`` with ``dbutils.secrets`` (in Databricks)."""
    from databricks.sdk import WorkspaceClient

    secrets = WorkspaceClient().dbutils.secrets
    present = {item.key for item in secrets.list(scope)}
    return {key: secrets.get(scope=scope, key=key) for key in SCOPE_KEYS if key in present}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty-databricks-ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="non-secret settings")
    parser.add_argument("--secret-scope", help="Databricks secret scope holding DB_PASSWORD etc.")
    parser.add_argument("--full-refresh", action="store_true", help="reload every row")
    return parser


def prepare(
    argv: Sequence[str],
    environ: MutableMapping[str, str],
    read_secrets: SecretReader = read_scope,
) -> list[str]:
    """Apply parameters and scope secrets to ``environ``; return the ``loyalty`` arguments.

    Explicit environment variables win over parameters, parameters over defaults. Secrets from
    the scope win over the environment: the scope is the one place they are managed.
    """
    args = _parser().parse_intermixed_args(list(argv))
    for key, value in parse_settings(args.settings).items():
        environ.setdefault(key, value)
    environ.setdefault("LOYALTY_DESTINATION", "databricks")
    environ.setdefault("LOYALTY_HOME", os.path.join(tempfile.gettempdir(), "loyalty"))
    if args.secret_scope:
        found = read_secrets(args.secret_scope)
        environ.update(found)
        names = ", ".join(sorted(found)) or "nothing"
        log.info("read %s from secret scope %r", names, args.secret_scope)
    return ["ingest", *(["--full-refresh"] if args.full_refresh else [])]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingest task.

    Raises:
        SystemExit: With ``loyalty``'s exit code when it is not 0 (2 for bad parameters). A
            wheel task may call this function directly rather than through the console script,
            and only an exception fails the task.
    """
    from loyalty.cli import main as loyalty_main

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        loyalty_args = prepare(sys.argv[1:] if argv is None else argv, os.environ)
    except JobArgumentError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    code = loyalty_main(loyalty_args)
    if code:
        raise SystemExit(code)
    return 0
