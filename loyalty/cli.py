"""The ``loyalty`` command: run, demo, ingest, build, reconcile, backfill, what-if.

``loyalty run`` is the main job: check the thresholds CSV, ingest new MySQL rows into the lake
with dlt, then ``dbt build`` (seeds, models, tests, the history, the Python exports) on local
Spark in this same process, then the run report. ``backfill`` rebuilds the tier history for past
as-of dates; ``what-if`` shows what proposed thresholds would do; ``reconcile`` compares MySQL
with the lake. Configuration comes from the environment and ``.env`` (see the README).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console

from ingest.config import ConfigError, SourceConfig, _int_setting, load_env, loyalty_home
from ingest.destination import destination_kind
from ingest.pipeline import IngestError, IngestResult, lake_dir, run_ingest
from loyalty import freshness, whatif
from loyalty.backfill import BackfillError, backfill, resolve_dates
from loyalty.build import (
    BuildError,
    BuildResult,
    dbt_project_dir,
    export_path,
    prepare_environment,
    run_dbt,
)
from loyalty.demo import DEMO_DATABASE, SAMPLE_AS_OF_DATE, load_sample
from loyalty.lock import HomeLockedError, home_lock
from loyalty.progress import dbt_node_counter, step
from loyalty.reconcile import reconcile
from loyalty.report import print_summary, write_report
from loyalty.seed_check import SeedError, check_thresholds
from loyalty.summary import read_summary

log = logging.getLogger("loyalty")


class DriftError(RuntimeError):
    """The lake no longer matches MySQL over the qualifying window."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="ingest, dbt build (with tests and export), summary")
    run.add_argument("--full-refresh", action="store_true", help="reload every row from MySQL")
    run.add_argument("--skip-ingest", action="store_true", help="rebuild from the lake as it is")
    run.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run dbt's unit tests (they test the SQL, not the data: CI runs them)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="build even when nothing changed since the last build (no data, code or settings)",
    )
    demo = commands.add_parser(
        "demo", help="load the bundled sample into a demo database, then run"
    )
    demo.add_argument("--no-run", action="store_true", help="only (re)create the demo database")
    ingest = commands.add_parser("ingest", help="only load new MySQL rows into the lake")
    ingest.add_argument("--full-refresh", action="store_true", help="reload every row from MySQL")
    build = commands.add_parser("build", help="only run dbt (any dbt arguments after --)")
    build.add_argument("dbt_args", nargs=argparse.REMAINDER, help="default: build")
    commands.add_parser(
        "reconcile", help="compare MySQL and the lake over the qualifying window (exit 1 on drift)"
    )
    back = commands.add_parser(
        "backfill", help="rebuild the tier history for past as-of dates (exports untouched)"
    )
    back.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first as-of date")
    back.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last as-of date")
    back.add_argument("--every", choices=["day", "week", "month"], default="month")
    back.add_argument(
        "--dates", action="append", metavar="D1,D2", help="as-of dates instead of a range"
    )
    what = commands.add_parser(
        "what-if", help="tier distribution and migration under proposed thresholds (no writes)"
    )
    what.add_argument("thresholds", type=Path, help="a CSV shaped like seeds/tier_thresholds.csv")
    return parser


def _console() -> Console:
    """Rich output on stdout; a fixed width off a terminal keeps logs and tests stable."""
    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, width=None if tty else 110, highlight=False)


def _apply_umask(env: Mapping[str, str]) -> None:
    """Create every file (lake, Spark warehouse, export) readable by the owner only by default."""
    raw = env.get("LOYALTY_UMASK", "").strip() or "077"
    try:
        mask = int(raw, 8)
    except ValueError:
        raise ConfigError(
            f"LOYALTY_UMASK must be an octal mask such as 077 or 022, got {raw!r}"
        ) from None
    if not 0 <= mask <= 0o777:
        raise ConfigError(f"LOYALTY_UMASK must be between 000 and 777, got {raw!r}")
    os.umask(mask)


def _check_seed(env: Mapping[str, str]) -> None:
    check_thresholds(dbt_project_dir(env) / "seeds" / "tier_thresholds.csv")


def _ingest(
    env: Mapping[str, str], home: Path, default_db: str, full_refresh: bool
) -> IngestResult:
    config = SourceConfig.from_env(env, default_database=default_db)
    with step(f"ingest from {config.describe()}"):
        return run_ingest(config, home, full_refresh=full_refresh, env=env)


def _build_and_summarise(
    env: Mapping[str, str],
    home: Path,
    ingest: IngestResult | None,
    dbt_args: Sequence[str],
    skip_unchanged: bool = False,
) -> None:
    """Run dbt, then print and write the summary of what was published.

    With ``skip_unchanged`` (``loyalty run`` without ``--force``), a local build whose inputs
    all match the last successful build is skipped (:mod:`loyalty.freshness`).
    """
    if destination_kind(env) != "local" and not env.get("DBT_TARGET"):
        # data landed in Databricks: build there too (the profile's databricks target)
        env = {**env, "DBT_TARGET": "databricks"}
    prepare_environment(env, home)
    local = os.environ.get("DBT_TARGET", "local") == "local"
    settings = dict(os.environ)  # before dbt and Spark add variables of their own
    export = export_path(os.environ)
    project = dbt_project_dir(os.environ)
    today = dt.datetime.now(dt.UTC).date()
    if local and skip_unchanged:
        last = freshness.read_last_build(home)
        current = freshness.fingerprint(settings, home, project, export, today)
        if last is None or current is None:
            log.info("building: no earlier build recorded for this export")
        elif differs := freshness.changed(last.fingerprint, current):
            log.info("building: changed since the last build: %s", ", ".join(differs))
        else:
            sys.stdout.write(
                f"dbt build skipped: nothing changed since the build of {last.finished_at} "
                "(same lake, project, seed, settings and published export); "
                "`loyalty run --force` rebuilds\n"
            )
            _summarise(home, export, ingest, last.warnings)
            return
    freshness.record_build(home, None, [])  # a failed or killed build leaves no fresh state
    with step(f"dbt {' '.join(dbt_args)}") as update:
        result: BuildResult = run_dbt(dbt_args, [dbt_node_counter(update)])
    if not local:
        done = ", ".join(f"{status} {count}" for status, count in sorted(result.nodes.items()))
        sys.stdout.write(
            f"dbt build on target {os.environ['DBT_TARGET']}: {done}\n"
            f"  export: {os.environ.get('LOYALTY_EXPORT_PATH', '(see the target)')}\n"
        )
        return
    digest = freshness.fingerprint(settings, home, project, export, today)
    freshness.record_build(home, digest, result.warnings)
    _summarise(home, export, ingest, result.warnings)


def _summarise(
    home: Path, export: Path, ingest: IngestResult | None, warnings: Sequence[str]
) -> None:
    schema = os.environ.get("LOYALTY_SCHEMA", "loyalty")
    summary = read_summary(export, home / "spark" / "warehouse" / f"{schema}.db")
    summary.ingest = ingest
    summary.warnings = list(warnings)
    write_report(summary, export.parent)
    print_summary(summary, _console())


def _backfill(env: Mapping[str, str], home: Path, args: argparse.Namespace) -> None:
    dates = resolve_dates(args.dates, args.start, args.end, args.every)
    prepare_environment(env, home)
    with step(f"backfill of {len(dates)} as-of date(s)") as update:
        backfill(
            dates,
            export_path(os.environ),
            [dbt_node_counter(update)],
            on_date=lambda n, day: update(f"as of {day} ({n} of {len(dates)})"),
        )
    sys.stdout.write(
        f"history rebuilt for {len(dates)} as-of date(s): {', '.join(map(str, dates))}\n"
    )


def _what_if(env: Mapping[str, str], home: Path, thresholds_csv: Path) -> None:
    thresholds = whatif.read_thresholds(thresholds_csv)
    prepare_environment(env, home)
    sql = whatif.what_if_sql(thresholds)
    with step("what-if on the current customers"):
        result = run_dbt(["--log-level", "none", "show", "--inline", sql, "--limit", "-1"])
    if not result.rows:
        raise BuildError("what-if: no customers; run `loyalty run` (or `make run`) first")
    whatif.render(whatif.parse_lines(result.rows), thresholds_csv, _console())


def _reconcile(env: Mapping[str, str], home: Path) -> None:
    config = SourceConfig.from_env(env)
    raw_date = env.get("LOYALTY_AS_OF_DATE", "").strip()
    try:
        as_of = dt.date.fromisoformat(raw_date) if raw_date else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise ConfigError(
            f"LOYALTY_AS_OF_DATE must be a date YYYY-MM-DD, got {raw_date!r}"
        ) from None
    months = _int_setting(env, "LOYALTY_QUALIFYING_MONTHS", 12)
    dataset = lake_dir(home, env)
    try:
        result = reconcile(config, dataset, as_of, months)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if config.password:
            reason = reason.replace(config.password, "***")
        raise IngestError(f"cannot reconcile {config.describe()}: {reason}") from None
    sys.stdout.write(result.render() + "\n")
    if result.drifted:
        raise DriftError("the lake has drifted from MySQL; run with --full-refresh")


def _dispatch(args: argparse.Namespace, env: dict[str, str], home: Path) -> None:
    if args.command == "ingest":
        _ingest(env, home, "loyalty", args.full_refresh)
    elif args.command == "reconcile":
        _reconcile(env, home)
    elif args.command == "backfill":
        _check_seed(env)
        _backfill(env, home, args)
    elif args.command == "what-if":
        _what_if(env, home, args.thresholds)
    elif args.command == "build":
        _check_seed(env)
        prepare_environment(env, home)
        dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
        run_dbt(dbt_args or ["build"])
    elif args.command == "demo":
        demo_env = {**env, "DB_NAME": env.get("DB_NAME") or DEMO_DATABASE}
        demo_env.setdefault("LOYALTY_AS_OF_DATE", SAMPLE_AS_OF_DATE)
        _check_seed(demo_env)
        load_sample(SourceConfig.from_env(demo_env, default_database=DEMO_DATABASE))
        if not args.no_run:
            demo_ingest = _ingest(demo_env, home, DEMO_DATABASE, full_refresh=True)
            _build_and_summarise(demo_env, home, demo_ingest, build_args(demo_env))
    else:
        _check_seed(env)
        ingested: IngestResult | None = (
            None if args.skip_ingest else _ingest(env, home, "loyalty", args.full_refresh)
        )
        _build_and_summarise(
            env,
            home,
            ingested,
            build_args(env, args.unit_tests),
            skip_unchanged=not (args.force or args.full_refresh or args.unit_tests),
        )


def build_args(env: Mapping[str, str], unit_tests: bool = False) -> list[str]:
    """``dbt build`` for a run: seeds, models, data tests and the export.

    Unit tests check the SQL against fixed fixtures, not the data, so a production run skips
    them (as dbt's docs advise): seven Spark jobs, ~10 s at 10M rows (bench/, issue 5). CI runs
    them (``--unit-tests`` or ``LOYALTY_UNIT_TESTS=1``), and so does a plain ``dbt build``.
    """
    wanted = unit_tests or env.get("LOYALTY_UNIT_TESTS", "").strip().lower() in {"1", "true", "yes"}
    return ["build"] if wanted else ["build", "--exclude-resource-type", "unit_test"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed, 2 bad configuration)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    env = load_env()
    try:
        _apply_umask(env)
        home = loyalty_home(env)
        with home_lock(home):
            _dispatch(args, env, home)
    except (ConfigError, BackfillError, whatif.ThresholdsError) as exc:
        log.error("configuration: %s", exc)
        return 2
    except SeedError as exc:
        log.error("tier thresholds: %s", exc)
        return 1
    except (IngestError, BuildError, HomeLockedError, DriftError) as exc:
        log.error("%s", exc)
        return 1
    return 0
