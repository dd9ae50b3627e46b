"""The whole pipeline on the bundled sample: MariaDB -> dlt -> lake -> dbt on Spark -> export.

Runs the real CLI in a subprocess (its own JVM and metastore under a temporary LOYALTY_HOME),
then checks every customer of the Parquet export, the tier history and the movements against
the independent Decimal computation in ``tiers_reference``. The tests share one pipeline and run
in file order: sample run, backfill, incremental run, what-if, docs (with a real browser).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.config import PROJECT_DIR
from loyalty.demo import SAMPLE_SQL
from tests.python.conftest import (
    Row,
    SourceDatabase,
    connect,
    create_database,
    drop_database,
    run_cli,
)
from tests.python.tiers_reference import (
    Expected,
    expected_movements,
    expected_tiers,
    read_thresholds,
)

pytestmark = pytest.mark.slow

AS_OF = dt.date(2025, 8, 7)
THRESHOLDS = read_thresholds(PROJECT_DIR / "seeds" / "tier_thresholds.csv")
D = Decimal

EXPORT_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("total_spent", pa.decimal128(20, 2)),
        ("transaction_count", pa.int64()),
        ("loyalty_tier", pa.string()),
        ("tier_rank", pa.int32()),
        ("as_of_date", pa.date32()),
        ("qualifying_start_date", pa.date32()),
        ("next_tier", pa.string()),
        ("spend_to_next_tier", pa.decimal128(20, 2)),
        ("transactions_to_next_tier", pa.int64()),
        ("spend_above_tier_minimum", pa.decimal128(20, 2)),
        ("transactions_above_tier_minimum", pa.int64()),
    ]
)
MOVEMENTS_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("as_of_date", pa.date32()),
        ("previous_as_of_date", pa.date32()),
        ("previous_tier", pa.string()),
        ("previous_tier_rank", pa.int32()),
        ("loyalty_tier", pa.string()),
        ("tier_rank", pa.int32()),
        ("movement", pa.string()),
    ]
)
BACKFILLED = (dt.date(2025, 6, 30), dt.date(2025, 7, 31))
# Generous: a 2-core CI box shared with other Spark jobs can take minutes per dbt build.
CLI_TIMEOUT = 1500


@dataclass
class Pipeline:
    """A source database and an isolated home, run through the CLI."""

    database: SourceDatabase
    home: Path
    export: Path
    sample_rows: list[Row] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Variables for the CLI: the database, the home, the export, the sample as-of date."""
        return {
            **self.database.env(),
            "LOYALTY_HOME": str(self.home),
            "LOYALTY_EXPORT_PATH": str(self.export),
            "LOYALTY_AS_OF_DATE": AS_OF.isoformat(),
        }

    def run(self, *args: str) -> str:
        """``loyalty run ARGS``; fails the test with dbt's output unless it succeeds."""
        done = run_cli(["run", *args], self.env(), timeout=CLI_TIMEOUT)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        return done.stdout

    def export_rows(self) -> dict[int, dict[str, object]]:
        """The export by customer, after checking its exact schema."""
        table = pq.read_table(self.export)
        assert table.schema.remove_metadata() == EXPORT_SCHEMA
        return {row["customer_id"]: row for row in table.to_pylist()}

    @property
    def movements(self) -> Path:
        """The movements export: next to the tiers export."""
        return self.export.parent / "loyalty_tier_movements.parquet"

    def movement_rows(self) -> dict[int, dict[str, object]]:
        """The movements export by customer, after checking its exact schema."""
        table = pq.read_table(self.movements)
        assert table.schema.remove_metadata() == MOVEMENTS_SCHEMA
        return {row["customer_id"]: row for row in table.to_pylist()}

    def history(self) -> dict[dt.date, dict[int, dict[str, object]]]:
        """The tier history table's files, by as-of date then customer (duplicates fail)."""
        folder = self.home / "spark" / "warehouse" / "loyalty.db" / "loyalty_tier_history"
        by_date: dict[dt.date, dict[int, dict[str, object]]] = {}
        for partition in sorted(folder.glob("as_of_date=*")):
            day = dt.date.fromisoformat(partition.name.split("=", 1)[1])
            rows = pq.read_table(partition).to_pylist()
            by_date[day] = {row["customer_id"]: row for row in rows}
            assert len(by_date[day]) == len(rows), f"duplicate customers on {day}"
        return by_date

    def exports_digest(self) -> dict[str, str]:
        """sha256 of every file under the export folder and where each link points."""
        digest = {}
        for path in sorted(self.export.parent.rglob("*")):
            key = str(path.relative_to(self.export.parent))
            if path.is_symlink():
                digest[key] = "-> " + os.readlink(path)
            elif path.is_file():
                digest[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return digest


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    database = create_database("loyalty_e2e")
    database.execute(SAMPLE_SQL.read_text())
    root = tmp_path_factory.mktemp("e2e")
    try:
        yield Pipeline(database, root / "home", root / "out" / "loyalty_tiers.parquet")
    finally:
        drop_database(database)


def exported_facts(row: dict[str, object]) -> tuple[object, ...]:
    """The tier and why-this-tier columns of an export row, in the reference's order."""
    return tuple(row[c] for c in FACT_COLUMNS)


FACT_COLUMNS = (
    "total_spent",
    "transaction_count",
    "loyalty_tier",
    "tier_rank",
    "next_tier",
    "spend_to_next_tier",
    "transactions_to_next_tier",
    "spend_above_tier_minimum",
    "transactions_above_tier_minimum",
)


def expected_facts(expected: Expected) -> tuple[object, ...]:
    return (
        expected.total_spent,
        expected.transaction_count,
        expected.tier,
        expected.rank,
        expected.next_tier,
        expected.spend_to_next_tier,
        expected.transactions_to_next_tier,
        expected.spend_above_tier_minimum,
        expected.transactions_above_tier_minimum,
    )


def assert_history_matches(
    rows: dict[int, dict[str, object]], expected: dict[int, Expected]
) -> None:
    assert set(rows) == set(expected)
    mismatches = [
        (cid, row)
        for cid, row in rows.items()
        if (row["total_spent"], row["transaction_count"], row["loyalty_tier"], row["tier_rank"])
        != expected_facts(expected[cid])[:4]
    ]
    assert not mismatches, mismatches[:5]


def assert_matches_reference(pipeline: Pipeline) -> None:
    expected = expected_tiers(pipeline.database.rows(), THRESHOLDS, AS_OF)
    exported = pipeline.export_rows()
    assert set(exported) == set(expected)
    mismatches = [
        (cid, exported_facts(row), expected_facts(expected[cid]))
        for cid, row in exported.items()
        if exported_facts(row) != expected_facts(expected[cid])
    ]
    assert not mismatches, mismatches[:5]
    # every run replaces its own as-of date in the history: exactly the export, never twice
    assert_history_matches(pipeline.history()[AS_OF], expected)
    assert {row["as_of_date"] for row in exported.values()} == {AS_OF}
    assert {row["qualifying_start_date"] for row in exported.values()} == {dt.date(2024, 8, 7)}


def executed(pipeline: Pipeline) -> dict[str, str]:
    """Status of every node the last dbt invocation of this home ran, by unique id."""
    results = json.loads((pipeline.home / "dbt" / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r["status"] for r in results["results"]}


def test_sample_run_exports_the_reference_tiers_for_every_customer(pipeline: Pipeline) -> None:
    stdout = pipeline.run("--unit-tests")
    # CI's run includes the dbt unit tests (tier boundaries, window, NULL policies, dedupe)
    unit_tests = {k: v for k, v in executed(pipeline).items() if k.startswith("unit_test.")}
    assert len(unit_tests) >= 8
    assert set(unit_tests.values()) == {"pass"}
    pipeline.sample_rows = pipeline.database.rows()
    assert len(pipeline.sample_rows) == 10_300
    assert_matches_reference(pipeline)
    assert len(pipeline.export_rows()) == 650
    assert "rows ingested: 10,300" in stdout
    assert f"export: {pipeline.export}" in stdout
    for tier in ("Platinum", "Gold", "Silver", "Bronze"):
        assert tier in stdout
    # the export is a link to a complete version folder, swapped in atomically
    assert pipeline.export.is_symlink()
    assert (pipeline.export.resolve() / "_SUCCESS").exists()
    # first as-of date in the history: everyone is new; the movements are published beside it
    assert pipeline.movements.is_symlink()
    movements = pipeline.movement_rows()
    assert set(movements) == set(pipeline.export_rows())
    assert {row["movement"] for row in movements.values()} == {"new"}
    assert {row["previous_as_of_date"] for row in movements.values()} == {None}
    assert "movements since none (first as-of date in the history): upgrade 0" in stdout
    # the run report: chart and HTML next to the export, the HTML shows the tiers
    report = pipeline.export.parent / "loyalty_run_report.html"
    assert f"report: {report}" in stdout
    page = report.read_text()
    assert "data:image/png;base64," in page
    assert "<td>Platinum</td><td>80</td>" in page
    assert (pipeline.export.parent / "loyalty_run_report.png").read_bytes()[:8] == PNG_MAGIC


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_rerun_with_nothing_new_skips_the_build_and_keeps_the_export(pipeline: Pipeline) -> None:
    links = {k: v for k, v in pipeline.exports_digest().items() if v.startswith("->")}
    results = pipeline.home / "dbt" / "target" / "run_results.json"
    results_before = results.read_bytes()
    stdout = pipeline.run()
    assert "rows ingested: 0" in stdout
    assert "dbt build skipped: nothing changed since the build of" in stdout
    assert results.read_bytes() == results_before  # dbt never started
    assert {k: v for k, v in pipeline.exports_digest().items() if v.startswith("->")} == links
    # the summary is still printed, from the published export
    assert "Platinum" in stdout
    assert f"export: {pipeline.export}" in stdout


def test_backfill_rebuilds_past_dates_without_touching_the_exports(pipeline: Pipeline) -> None:
    before = pipeline.exports_digest()
    published_history = pipeline.history()[AS_OF]
    done = run_cli(
        ["backfill", "--dates", ",".join(d.isoformat() for d in BACKFILLED)],
        pipeline.env(),
        timeout=CLI_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "history rebuilt for 2 as-of date(s): 2025-06-30, 2025-07-31" in done.stdout
    history = pipeline.history()
    assert sorted(history) == [*BACKFILLED, AS_OF]
    for day in BACKFILLED:
        assert_history_matches(history[day], expected_tiers(pipeline.sample_rows, THRESHOLDS, day))
    assert history[AS_OF] == published_history
    assert pipeline.exports_digest() == before


def test_incremental_run_with_edge_rows_matches_reference_and_keeps_previous_version(
    pipeline: Pipeline,
) -> None:
    first_version = pipeline.export.resolve()
    pipeline.database.insert(
        [
            (20001, None, dt.date(2025, 8, 1), D("100.00")),  # unattributable: no customer
            (20002, 101, None, D("100.00")),  # unattributable: no date
            (20003, 101, dt.date(2025, 8, 8), D("1000000.00")),  # after the as-of date
            (20004, 101, dt.date(2024, 8, 6), D("1000000.00")),  # one day before the window
            (20005, 101, dt.date(2024, 8, 7), D("0.01")),  # first day of the window
            (20006, 102, AS_OF, D("-250.00")),  # refund
            (20007, 99001, dt.date(2025, 9, 1), D("5.00")),  # customer seen only later
            (20008, 99002, dt.date(2023, 1, 1), D("5.00")),  # known, nothing qualifies
            (20009, 99003, AS_OF, D("99999999.99")),
            (20010, 99003, AS_OF, D("99999999.99")),
            (20011, 99003, AS_OF, None),  # imputed: same-day average
            (20012, 102, dt.date(1000, 1, 1), D("7.00")),  # far past
            (20013, 102, dt.date(9999, 12, 31), D("7.00")),  # far future
            (20014, 102, AS_OF, D("0.00")),  # zero amount
        ]
        # the largest DECIMAL(10,2), many times for one customer: no overflow anywhere
        + [(30000 + i, 99004, AS_OF, D("99999999.99")) for i in range(200)]
    )
    conn = connect(pipeline.database.name)
    try:
        cursor = conn.cursor()
        cursor.execute("set session sql_mode = ''")  # the server allows zero dates: one arrives
        cursor.execute("insert into transactions values (20015, 102, '0000-00-00', 3.00)")
        conn.commit()
    finally:
        conn.close()
    history_before = pipeline.history()
    stdout = pipeline.run()
    assert "rows ingested: 215 (incremental" in stdout
    # a production run: data tests, no unit tests
    statuses = executed(pipeline)
    assert not [k for k in statuses if k.startswith("unit_test.")]
    assert any(k.startswith("test.") for k in statuses)
    assert (
        "missing_customer_id 1, missing_transaction_date 2, after_as_of_date 3, "
        "before_qualifying_window 3, missing_amount 0"
    ) in stdout
    assert "negative_amount 1, zero_amount 1" in stdout
    assert_matches_reference(pipeline)
    # the same as-of date again: its partition replaced, the backfilled dates untouched
    history = pipeline.history()
    assert sorted(history) == [*BACKFILLED, AS_OF]
    for day in BACKFILLED:
        assert history[day] == history_before[day]
    # movements against the latest earlier date in the history (the backfilled 2025-07-31)
    previous = expected_tiers(pipeline.sample_rows, THRESHOLDS, BACKFILLED[-1])
    current = expected_tiers(pipeline.database.rows(), THRESHOLDS, AS_OF)
    movements = pipeline.movement_rows()
    assert {cid: row["movement"] for cid, row in movements.items()} == expected_movements(
        previous, current
    )
    assert {row["previous_as_of_date"] for row in movements.values()} == {BACKFILLED[-1]}
    assert "movements since 2025-07-31: upgrade" in stdout
    rows = pipeline.export_rows()
    assert 99001 not in rows
    assert rows[99002]["loyalty_tier"] == "Bronze"
    assert rows[99002]["total_spent"] == D("0.00")
    assert rows[99003]["total_spent"] == D("299999999.97")
    assert rows[99003]["transaction_count"] == 3
    assert rows[99004]["total_spent"] == D("19999999998.00")
    assert rows[99004]["loyalty_tier"] == "Platinum"
    versions = sorted(p.name for p in first_version.parent.iterdir())
    assert first_version.name in versions
    assert len(versions) == 2
    assert pipeline.export.resolve() != first_version


def test_catalog_columns_match_the_documented_columns(pipeline: Pipeline) -> None:
    """Docs never drift from code: every relation's real columns are exactly those documented."""
    done = run_cli(["build", "docs", "generate"], pipeline.env(), timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:]
    target = pipeline.home / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    checked = 0
    for unique_id, node in catalog["nodes"].items():
        if not unique_id.startswith(("model.", "seed.")):
            continue
        real = {name.lower() for name in node["columns"]}
        documented = {name.lower() for name in manifest["nodes"][unique_id]["columns"]}
        assert real == documented, (unique_id, real ^ documented)
        checked += 1
    assert checked == len([n for n in manifest["nodes"] if n.startswith(("model.", "seed."))])
    for unique_id, node in manifest["nodes"].items():
        if unique_id.startswith(("model.", "seed.")):
            assert node["description"].strip(), f"{unique_id} has no description"
            for column in node["columns"].values():
                assert column["description"].strip(), f"{unique_id}.{column['name']} undocumented"
    assert (target / "index.html").exists()
    assert os.path.getsize(target / "index.html") > 10_000


PROPOSED_CSV = """tier_name,tier_rank,min_total_spent,min_transaction_count,description
Bronze,1,0.00,0,Everyone else
Silver,2,20000.00,5,same as now
Gold,3,60000.00,12,harder
Platinum,4,100000.00,20,same as now
Diamond,5,150000.00,25,new top tier
"""


def test_what_if_shows_proposed_tiers_and_leaves_everything_published_untouched(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    proposed_csv = tmp_path / "proposed.csv"
    proposed_csv.write_text(PROPOSED_CSV)
    seed = PROJECT_DIR / "seeds" / "tier_thresholds.csv"
    seed_before, exports_before, history_before = (
        seed.read_bytes(),
        pipeline.exports_digest(),
        pipeline.history(),
    )
    done = run_cli(["what-if", str(proposed_csv)], pipeline.env(), timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # byte for byte: the exports (files and links), the history and the seed are as they were
    assert pipeline.exports_digest() == exports_before
    assert pipeline.history() == history_before
    assert seed.read_bytes() == seed_before
    # the numbers are the reference's under each set of thresholds
    rows = pipeline.database.rows()
    current = expected_tiers(rows, THRESHOLDS, AS_OF)
    proposed = expected_tiers(rows, read_thresholds(proposed_csv), AS_OF)
    shown = {
        match[1]: (int(match[2].replace(",", "")), int(match[3].replace(",", "")))
        for match in re.finditer(
            r"^\s+(\w+)\s+([\d,]+)\s+[\d.]+%\s+([\d,]+)\s+[\d.]+%", done.stdout, re.MULTILINE
        )
    }
    for tier in ("Diamond", "Platinum", "Gold", "Silver", "Bronze"):
        assert shown[tier] == (
            sum(e.tier == tier for e in current.values()),
            sum(e.tier == tier for e in proposed.values()),
        ), (tier, done.stdout)
    changed = sum(current[cid].tier != proposed[cid].tier for cid in current)
    assert changed > 0
    assert f"customers whose tier would change: {changed:,} of {len(current):,}" in done.stdout


def test_what_if_rejects_thresholds_that_break_the_seed_rules(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text(PROPOSED_CSV.replace("Gold,3,60000.00", "Gold,3,10000.00"))
    done = run_cli(["what-if", str(broken)], pipeline.env(), timeout=CLI_TIMEOUT)
    assert done.returncode == 2
    assert "thresholds must not decrease with rank: Gold asks for less than Silver" in done.stderr


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",  # lets the docs single-page app fetch and render
]


def chromium(args: list[str], profile: Path) -> str:
    """Run Debian's headless chromium with a fresh profile; return stdout (e.g. the DOM)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def page_text(dom: str) -> str:
    """The visible text of the docs page's main view (not the hidden search results)."""
    marker = dom.find('class="app-body ng-scope"')
    start = dom.find(">", marker) + 1
    end = dom.find('class="app-body ng-hide"', start)
    body = dom[start:end] if marker >= 0 and end > start else dom
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.fixture
def docs_site(pipeline: Pipeline) -> Iterator[str]:
    """The generated docs served on 127.0.0.1 (a free port), as `make docs` serves them."""
    target = pipeline.home / "dbt" / "target"
    assert (target / "index.html").exists(), "run after the docs generate test"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=target,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/index.html"
        for _ in range(50):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_docs_site_renders_overview_lineage_export_and_exposure_in_a_browser(
    docs_site: str, tmp_path: Path
) -> None:
    overview = page_text(chromium(["--dump-dom", f"{docs_site}#!/overview"], tmp_path / "p1"))
    assert "How to change a tier threshold (analysts)" in overview
    assert "Trying thresholds before publishing them (what-if)" in overview
    assert "loyalty backfill" in overview

    export_page = f"{docs_site}#!/model/model.loyalty_tiers.loyalty_tiers_export"
    model = page_text(chromium(["--dump-dom", export_page], tmp_path / "p2"))
    assert model.startswith("loyalty_tiers_export table")
    assert "Referenced By Data Tests Exposures" in model
    assert "Depends On Models customer_loyalty_tiers loyalty_tier_movements" in model

    exposure_page = f"{docs_site}#!/exposure/exposure.loyalty_tiers.marketing_tier_export"
    exposure = page_text(chromium(["--dump-dom", exposure_page], tmp_path / "p3"))
    assert exposure.startswith("Marketing tier export (Parquet) exposure")
    assert "Depends On Models loyalty_tier_movements loyalty_tiers_export" in exposure

    # the lineage graph: cytoscape draws the nodes on a canvas that is sized once it has loaded
    graph_dom = chromium(["--dump-dom", f"{export_page}?g_v=1"], tmp_path / "p4")
    node_layer = re.search(r'<canvas[^>]*data-id="layer2-node"[^>]*width="(\d+)"', graph_dom)
    assert node_layer is not None
    assert int(node_layer[1]) > 100
    shot = tmp_path / "lineage.png"
    chromium(
        ["--window-size=1400,1000", f"--screenshot={shot}", f"{export_page}?g_v=1"],
        tmp_path / "p5",
    )
    assert shot.read_bytes()[:8] == PNG_MAGIC
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
