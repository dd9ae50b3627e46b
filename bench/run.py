"""``make bench``: ours, the peers and the floors on the same generated data, side by side.

Order (each step repeated ``--repeat`` times, median reported):

1. generate N rows into MySQL database ``loyalty_bench_<N>`` (bulk ``LOAD DATA``);
2. floors: ``mariadb --batch`` streaming the table to ``/dev/null`` (and with ``--quick``);
3. peers: the replaced system's approach, and one SQL statement inside MySQL;
4. ours, full refresh: ``loyalty ingest --full-refresh`` then ``loyalty run --skip-ingest --force``
   (dbt build with data tests, the export and the summary), each in its own process so the two
   phases are measured apart;
5. floor: plain PySpark aggregating the lake our ingest wrote;
6. ours, incremental: append 1% new rows, then ``loyalty run`` (ingest + dbt build);
7. ours, no change: ``loyalty run`` again (the build is skipped when nothing changed).

Every command runs under :func:`bench.measure.measure` (wall time and peak summed RSS of the
whole process tree, the Spark JVM included). Results go to ``bench/results/<date>-<N>.md`` (and
``.json`` for the cross-N memory target).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from bench.generate import AS_OF_DATE, append_rows, increment_batch
from bench.measure import measure
from bench.report import Step, Target, combine, ratio, render_ratios, render_table, render_targets
from ingest.config import PROJECT_DIR

log = logging.getLogger("bench")
RESULTS = PROJECT_DIR / "bench" / "results"
SELECT_ALL = "select transaction_id, customer_id, transaction_date, amount from transactions"


def load1() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


class Bench:
    """Runs measured commands for one N and keeps the steps."""

    def __init__(self, rows: int, repeat: int, workdir: Path, env: dict[str, str]) -> None:
        self.rows = rows
        self.repeat = repeat
        self.workdir = workdir
        self.env = env
        self.steps: dict[str, Step] = {}
        self.repeat_slow = repeat
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def once(
        self,
        step: Step,
        command: Sequence[str],
        before: Callable[[], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Run ``command`` once under the meter; append to ``step``; stop on failure."""
        if before is not None:
            before()
        log_path = self.logs / f"{step.key}-{len(step.seconds) + 1}.log"
        start_load = load1()
        with log_path.open("w") as handle:
            result = measure(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env or self.env,
                cwd=PROJECT_DIR,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text().splitlines()[-30:])
            raise RuntimeError(f"{step.label} failed ({result.returncode}); {log_path}:\n{tail}")
        step.seconds.append(result.seconds)
        step.peak_rss.append(result.peak_rss_bytes)
        step.load.append((start_load, load1()))
        log.info(
            "%-40s %6.1f s  %5.2f GiB  load %.2f→%.2f",
            step.label,
            result.seconds,
            result.peak_rss_bytes / 2**30,
            *step.load[-1],
        )

    def step(self, key: str, label: str, rows: int | None = None) -> Step:
        """Register a new step."""
        self.steps[key] = Step(key, label, self.rows if rows is None else rows)
        return self.steps[key]

    def repeated(
        self, key: str, label: str, command: Sequence[str], times: int | None = None
    ) -> Step:
        """Measure ``command`` ``times`` times (default ``repeat``)."""
        step = self.step(key, label)
        for _ in range(self.repeat if times is None else times):
            self.once(step, command)
        return step


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in [
        "dlt",
        "dbt-core",
        "dbt-spark",
        "pyspark",
        "pyarrow",
        "mysql-connector-python",
        "connectorx",
        "SQLAlchemy",
        "PyMySQL",
    ]:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    for name, command in {
        "java": ["java", "-version"],
        "mariadb server": ["mariadb", "-h127.0.0.1", "-uroot", "-N", "-e", "select version()"],
    }.items():
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        found[name] = (
            (out.stdout or out.stderr).splitlines()[0].strip()
            if (out.stdout or out.stderr)
            else "?"
        )
    return found


def machine() -> dict[str, str]:
    """nproc, memory, CPU model, kernel, versions."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kb / 2**20:.1f} GiB",
        "cpu": cpu,
        "kernel": platform.release(),
        **_versions(),
    }


def dbt_profile(home: Path, top: int = 12) -> list[tuple[str, float]]:
    """The slowest dbt nodes of the last build (from ``run_results.json``)."""
    path = home / "dbt" / "target" / "run_results.json"
    if not path.is_file():
        return []
    results = json.loads(path.read_text())["results"]
    timed = sorted(
        ((r["unique_id"], float(r["execution_time"])) for r in results), key=lambda x: -x[1]
    )
    return timed[:top]


def dlt_profile(home: Path) -> list[tuple[str, float]]:
    """Extract / normalize / load seconds of the last ingest (dlt's trace)."""
    import dlt

    from ingest.pipeline import PIPELINE_NAME

    try:
        pipeline = dlt.attach(PIPELINE_NAME, pipelines_dir=str(home / "dlt"))
        trace = pipeline.last_trace
    except Exception:
        return []
    if trace is None:
        return []
    return [
        (s.step, (s.finished_at - s.started_at).total_seconds())
        for s in trace.steps
        if s.finished_at is not None
    ]


def run(rows: int, repeat: int, skip_generate: bool, repeat_slow: int | None = None) -> Path:
    """The whole benchmark for ``rows``; returns the results file.

    ``repeat_slow`` (default ``repeat``) repeats the Spark-heavy steps fewer times: dbt build,
    the Spark floor, the incremental and the no-change runs.
    """
    slow = repeat if repeat_slow is None else repeat_slow
    database = f"loyalty_bench_{rows}"
    workdir = (RESULTS / "tmp" / str(rows)).resolve()
    home = workdir / "home"
    py = sys.executable
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOYALTY_", "DBT_"))},
        "DB_NAME": database,
        "LOYALTY_HOME": str(home),
        "LOYALTY_AS_OF_DATE": AS_OF_DATE.isoformat(),
        "LOYALTY_EXPORT_PATH": str(workdir / "export" / "loyalty_tiers.parquet"),
        "LOYALTY_ENV_FILE": os.devnull,
        "SPARK_CONF_DIR": str(PROJECT_DIR / "conf"),
        "PYSPARK_PYTHON": py,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    bench = Bench(rows, repeat, workdir, env)
    bench.repeat_slow = slow
    started = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()

    gen = bench.step("generate", "generate + LOAD DATA (once)")
    shutil.rmtree(home, ignore_errors=True)
    if skip_generate:  # drop earlier increments so every run starts from the same N rows
        subprocess.run(
            [
                "mariadb",
                "-h127.0.0.1",
                "-uroot",
                database,
                "-e",
                f"delete from transactions where transaction_id > {rows}",
            ],
            check=True,
        )
    else:
        bench.once(
            gen,
            [
                py,
                "-m",
                "bench.generate",
                "--rows",
                str(rows),
                "--database",
                database,
                "--workdir",
                str(workdir),
            ],
        )

    client = ["mariadb", "-h127.0.0.1", "-uroot", database]
    bench.repeated(
        "floor_stream",
        "floor: mariadb --batch > /dev/null",
        ["bash", "-c", f"{' '.join(client)} --batch -e '{SELECT_ALL}' > /dev/null"],
    )
    bench.repeated(
        "floor_stream_quick",
        "floor: mariadb --batch --quick > /dev/null",
        ["bash", "-c", f"{' '.join(client)} --batch --quick -e '{SELECT_ALL}' > /dev/null"],
    )
    peers = workdir / "peers"
    bench.repeated(
        "peer_replaced",
        "peer (a): replaced system (fetch, CSV, PySpark)",
        [
            py,
            "-m",
            "bench.peers",
            "replaced",
            "--database",
            database,
            "--out",
            str(peers / "replaced"),
        ],
    )
    bench.repeated(
        "peer_sql",
        "peer (b): one SQL statement in MySQL → Parquet",
        [py, "-m", "bench.peers", "sql", "--database", database, "--out", str(peers / "sql")],
    )

    ingest = bench.step("ours_ingest", "ours: ingest --full-refresh")
    build = bench.step("ours_build", "ours: dbt build + export + summary")
    pyarrow_ingest = bench.step(
        "ours_ingest_pyarrow", "ours: ingest --full-refresh, pyarrow backend (before)"
    )
    pyarrow_env = {**env, "LOYALTY_INGEST_BACKEND": "pyarrow"}
    for i in range(repeat):
        bench.once(
            pyarrow_ingest, [py, "-m", "loyalty", "ingest", "--full-refresh"], env=pyarrow_env
        )
        bench.once(ingest, [py, "-m", "loyalty", "ingest", "--full-refresh"])
        if i < slow:
            # what `loyalty run` does after its ingest: dbt build (data tests, no unit tests),
            # the export and the summary/report; --force: the lake was just reloaded anyway
            bench.once(build, [py, "-m", "loyalty", "run", "--skip-ingest", "--force"])
    ingest_profile = dlt_profile(home)
    build_profile = dbt_profile(home)
    full = combine("ours_full", "ours: full refresh (ingest + dbt)", [ingest, build])
    bench.steps["ours_full"] = full

    bench.repeated(
        "floor_spark",
        "floor: plain PySpark on the lake Parquet",
        [
            py,
            "-m",
            "bench.peers",
            "spark-floor",
            "--lake",
            str(home / "lake" / "raw_mysql" / "transactions"),
            "--out",
            str(peers / "spark"),
        ],
        times=slow,
    )

    incr = bench.step(
        "ours_incremental", "ours: incremental run (+1% rows)", rows=increment_batch(rows, 1).rows
    )
    for round_no in range(1, slow + 1):
        bench.once(
            incr,
            [py, "-m", "loyalty", "run"],
            before=functools.partial(
                append_rows, database, increment_batch(rows, round_no), workdir
            ),
        )
    bench.repeated("ours_nochange", "ours: no-change run", [py, "-m", "loyalty", "run"], times=slow)
    bench.steps["ours_nochange"].rows = 0

    floor = combine(
        "floor",
        "floor: stream + Spark aggregate",
        [bench.steps["floor_stream"], bench.steps["floor_spark"]],
    )
    bench.steps["floor"] = floor
    finished = dt.datetime.now(dt.UTC)
    return write_results(
        bench,
        machine(),
        started,
        finished,
        load_start,
        os.getloadavg(),
        ingest_profile,
        build_profile,
    )


def _other_ingest_rss(rows: int) -> tuple[int, float] | None:
    """Ingest peak RSS measured at another N (1M when this is 10M), from its JSON."""
    other = 1_000_000 if rows != 1_000_000 else 10_000_000
    files = sorted(RESULTS.glob(f"*-{other}.json"))
    if not files:
        return None
    data = json.loads(files[-1].read_text())
    step = next((s for s in data["steps"] if s["key"] == "ours_ingest"), None)
    return (other, max(step["peak_rss"]) / 2**30) if step else None


def write_results(
    bench: Bench,
    host: dict[str, str],
    started: dt.datetime,
    finished: dt.datetime,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    ingest_profile: list[tuple[str, float]],
    build_profile: list[tuple[str, float]],
) -> Path:
    """Write ``bench/results/<date>-<N>.md`` and ``.json``; print the tables."""
    s = bench.steps
    order = [
        "generate",
        "floor_stream",
        "floor_stream_quick",
        "floor_spark",
        "floor",
        "peer_replaced",
        "peer_sql",
        "ours_ingest_pyarrow",
        "ours_ingest",
        "ours_build",
        "ours_full",
        "ours_incremental",
        "ours_nochange",
    ]
    shown = [s[k] for k in order if k in s and s[k].seconds]
    full = s["ours_full"]
    ratios = render_ratios(
        full,
        {
            "peer (a) replaced system": s["peer_replaced"],
            "peer (b) SQL in MySQL": s["peer_sql"],
            "floor (stream + Spark aggregate)": s["floor"],
            "floor: mariadb --batch stream only": s["floor_stream"],
            "floor: plain PySpark only": s["floor_spark"],
        },
    )
    targets = [
        Target("full refresh / floor", ratio(full, s["floor"]), 2.0),
        Target("replaced system / ours (speed-up)", ratio(s["peer_replaced"], full), 5.0, True),
        Target("incremental (+1%) / full refresh", ratio(s["ours_incremental"], full), 0.25),
    ]
    other = _other_ingest_rss(bench.rows)
    rss_line = ""
    if other is not None:
        this_gb = s["ours_ingest"].peak_gb
        small, large = (other[1], this_gb) if other[0] < bench.rows else (this_gb, other[1])
        targets.append(Target("ingest peak RSS 10M / 1M", large / small, 1.5))
        rss_line = f"Ingest peak RSS: {this_gb:.2f} GiB here, {other[1]:.2f} GiB at N={other[0]:,}."
    text = "\n".join(
        [
            f"# Benchmark N={bench.rows:,} ({started:%Y-%m-%d})",
            "",
            f"Command: `make bench N={bench.rows} REPEAT={bench.repeat} "
            f"REPEAT_SLOW={bench.repeat_slow}`; "
            f"started {started:%H:%M:%S}Z, finished {finished:%H:%M:%S}Z.",
            f"Load average (1, 5, 15 min) at start {load_start[0]:.2f} {load_start[1]:.2f} "
            f"{load_start[2]:.2f}, at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}.",
            "",
            "## Machine",
            "",
            *[f"- {k}: {v}" for k, v in host.items()],
            "",
            "## Results",
            "",
            f"Median of {bench.repeat} runs ({bench.repeat_slow} for dbt, Spark floor, incremental "
            "and no-change runs: see the runs column); peak RSS is the largest of the runs, "
            "summed over the whole process tree (Spark JVM included).",
            "",
            render_table(shown),
            "",
            render_ratios.__doc__.splitlines()[0] if render_ratios.__doc__ else "",
            "",
            ratios,
            "",
            "## Targets (issue 5)",
            "",
            render_targets(targets),
            "",
            rss_line,
            "",
            "## Profile",
            "",
            "Last full-refresh ingest, dlt steps (s): "
            + ", ".join(f"{name} {sec:.1f}" for name, sec in ingest_profile),
            "",
            "Slowest dbt nodes of the last full-refresh build (s):",
            "",
            *[f"- {uid}: {sec:.1f}" for uid, sec in build_profile],
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{started:%Y-%m-%d}-{bench.rows}"
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "rows": bench.rows,
                "repeat": bench.repeat,
                "machine": host,
                "steps": [asdict(x) for x in bench.steps.values()],
            },
            indent=1,
        )
    )
    print(text)
    return stem.with_suffix(".md")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--repeat-slow", type=int, help="repetitions of the Spark-heavy steps (default: --repeat)"
    )
    parser.add_argument(
        "--skip-generate", action="store_true", help="reuse loyalty_bench_<N> as it is"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.monotonic()
    path = run(args.rows, args.repeat, args.skip_generate, args.repeat_slow)
    log.info("results: %s (%.0f s)", path, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
