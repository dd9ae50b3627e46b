"""The benchmark's arithmetic: medians, combined phases, ratios and target verdicts."""

from __future__ import annotations

import pytest

from bench.measure import measure, tree_rss
from bench.report import Step, Target, combine, ratio, render_ratios, render_table, render_targets

GIB = 2**30


def step(key: str, seconds: list[float], rss: list[int] | None = None, rows: int = 1000) -> Step:
    return Step(
        key,
        key,
        rows,
        seconds,
        rss or [GIB] * len(seconds),
        [(1.0, 2.0)] * len(seconds),
    )


def test_median_not_mean_and_rows_per_second() -> None:
    s = step("x", [10.0, 2.0, 4.0])
    assert s.median_s == 4.0
    assert s.rows_per_s == 250.0


def test_peak_is_the_largest_run() -> None:
    assert step("x", [1.0, 1.0], [GIB, 3 * GIB]).peak_gb == 3.0


def test_combined_phases_add_per_run_and_keep_the_max_memory() -> None:
    ingest = step("ingest", [1.0, 9.0, 2.0], [GIB, GIB, GIB])
    build = step("build", [10.0, 10.0, 30.0], [2 * GIB, GIB, GIB])
    full = combine("full", "full", [ingest, build])
    assert full.seconds == [11.0, 19.0, 32.0]
    assert full.median_s == 19.0  # the median of the sums, not the sum of the medians (12)
    assert full.peak_rss == [2 * GIB, GIB, GIB]


def test_parts_repeated_unequally_combine_as_the_sum_of_medians() -> None:
    ingest = step("ingest", [1.0, 9.0, 2.0], [GIB, 2 * GIB, GIB])
    build = step("build", [30.0], [GIB])
    full = combine("full", "full", [ingest, build])
    assert full.seconds == [32.0]
    assert full.peak_rss == [2 * GIB]


def test_ratio_and_rendered_speed_up() -> None:
    ours, peer = step("ours", [10.0]), step("peer", [50.0])
    assert ratio(ours, peer) == 0.2
    text = render_ratios(ours, {"peer": peer})
    assert "| peer | 0.20 | 5.00x |" in text


@pytest.mark.parametrize(
    ("target", "met"),
    [
        (Target("within 2x of floor", 2.0, 2.0), True),
        (Target("within 2x of floor", 2.01, 2.0), False),
        (Target("5x faster", 5.0, 5.0, higher_is_better=True), True),
        (Target("5x faster", 4.9, 5.0, higher_is_better=True), False),
    ],
)
def test_target_verdicts(target: Target, met: bool) -> None:
    assert target.met is met
    assert ("| yes |" if met else "| **no** |") in render_targets([target])


def test_table_shows_median_runs_and_load() -> None:
    text = render_table([step("ours", [3.0, 1.0, 2.0], [GIB // 2] * 3)])
    assert "| ours | 1,000 | 2.0 | 3.0, 1.0, 2.0 | 500 | 0.50 | 1.00→2.00; " in text


def test_meter_sees_memory_of_grandchildren() -> None:
    # bash -> python holding ~200 MB: the summed tree must see it although bash itself is small.
    hold = "b = bytearray(200 * 2**20); import time; time.sleep(1.0)"
    result = measure(["bash", "-c", f"python3 -c '{hold}'; true"])
    assert result.returncode == 0
    assert result.peak_rss_bytes > 190 * 2**20
    assert tree_rss(1 << 22) == 0  # a pid that does not exist counts nothing
