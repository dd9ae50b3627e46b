"""The ``loyalty`` command: ``run``, ``demo``, ``ingest``, ``build``, ``backfill``, ``what-if``.

``loyalty run`` is the main job: ingest new MySQL rows into the lake with dlt, then ``dbt build``
(seeds, models, tests, the history, the Python exports) on local Spark in this same process, then
the run report. ``backfill`` rebuilds the tier history for past as-of dates; ``what-if`` shows
what proposed thresholds would do. Configuration comes from the environment and ``.env`` (see
the README).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console

from ingest.config import ConfigError, SourceConfig, load_env, loyalty_home
from ingest.pipeline import IngestError, IngestResult, run_ingest
from loyalty import whatif
from loyalty.backfill import BackfillError, backfill, resolve_dates
from loyalty.build import BuildError, BuildResult, export_path, prepare_environment, run_dbt
from loyalty.demo import DEMO_DATABASE, SAMPLE_AS_OF_DATE, load_sample
from loyalty.lock import HomeLockedError, home_lock
from loyalty.progress import dbt_node_counter, step
from loyalty.report import print_summary, write_report
from loyalty.summary import read_summary

log = logging.getLogger("loyalty")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="ingest, dbt build (with tests and export), summary")
    run.add_argument("--full-refresh", action="store_true", help="reload every row from MySQL")
    run.add_argument("--skip-ingest", action="store_true", help="rebuild from the lake as it is")
    demo = commands.add_parser(
        "demo", help="load the bundled sample into a demo database, then run"
    )
    demo.add_argument("--no-run", action="store_true", help="only (re)create the demo database")
    ingest = commands.add_parser("ingest", help="only load new MySQL rows into the lake")
    ingest.add_argument("--full-refresh", action="store_true", help="reload every row from MySQL")
    build = commands.add_parser("build", help="only run dbt (any dbt arguments after --)")
    build.add_argument("dbt_args", nargs=argparse.REMAINDER, help="default: build")
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


def _ingest(
    env: Mapping[str, str], home: Path, default_db: str, full_refresh: bool
) -> IngestResult:
    config = SourceConfig.from_env(env, default_database=default_db)
    with step(f"ingest from {config.describe()}"):
        return run_ingest(config, home, full_refresh=full_refresh, env=env)


def _build_and_summarise(
    env: Mapping[str, str], home: Path, ingest: IngestResult | None, dbt_args: Sequence[str]
) -> None:
    prepare_environment(env, home)
    with step(f"dbt {' '.join(dbt_args)}") as update:
        result: BuildResult = run_dbt(dbt_args, [dbt_node_counter(update)])
    schema = os.environ.get("LOYALTY_SCHEMA", "loyalty")
    export = export_path(os.environ)
    summary = read_summary(export, home / "spark" / "warehouse" / f"{schema}.db")
    summary.ingest = ingest
    summary.warnings = result.warnings
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (0 ok, 1 failed, 2 bad config)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    env = load_env()
    try:
        home = loyalty_home(env)
        with home_lock(home):
            if args.command == "ingest":
                _ingest(env, home, "loyalty", args.full_refresh)
            elif args.command == "build":
                prepare_environment(env, home)
                run_dbt(
                    args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args or ["build"]
                )
            elif args.command == "backfill":
                _backfill(env, home, args)
            elif args.command == "what-if":
                _what_if(env, home, args.thresholds)
            elif args.command == "demo":
                demo_env = {**env, "DB_NAME": env.get("DB_NAME") or DEMO_DATABASE}
                demo_env.setdefault("LOYALTY_AS_OF_DATE", SAMPLE_AS_OF_DATE)
                load_sample(SourceConfig.from_env(demo_env, default_database=DEMO_DATABASE))
                if not args.no_run:
                    demo_ingest = _ingest(demo_env, home, DEMO_DATABASE, full_refresh=True)
                    _build_and_summarise(demo_env, home, demo_ingest, ["build"])
            else:
                ingested: IngestResult | None = (
                    None if args.skip_ingest else _ingest(env, home, "loyalty", args.full_refresh)
                )
                _build_and_summarise(env, home, ingested, ["build"])
    except (ConfigError, BackfillError, whatif.ThresholdsError) as exc:
        log.error("configuration: %s", exc)
        return 2
    except (IngestError, BuildError, HomeLockedError) as exc:
        log.error("%s", exc)
        return 1
    return 0
