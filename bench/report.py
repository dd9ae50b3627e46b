"""Benchmark results: one row per measured step, medians, ratios and the Markdown report.

Pure functions over plain data, so the arithmetic of the table is unit-tested
(``tests/python/test_bench_report.py``) without running anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Step:
    """One measured thing, repeated.

    Attributes:
        key: Short identifier used for ratios (``ours_full``, ``peer_replaced``, ...).
        label: What the reader sees.
        rows: Rows the step processes (for rows/s).
        seconds: Wall seconds of each repetition.
        peak_rss: Peak summed RSS (bytes) of the whole process tree, per repetition.
        load: 1-minute load average before and after each repetition.
    """

    key: str
    label: str
    rows: int
    seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    load: list[tuple[float, float]] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        """Median wall seconds (the number every ratio uses)."""
        return statistics.median(self.seconds)

    @property
    def rows_per_s(self) -> float:
        """Rows per second at the median time."""
        return self.rows / self.median_s if self.median_s > 0 else float("inf")

    @property
    def peak_gb(self) -> float:
        """The largest peak over the repetitions, in GiB (conservative)."""
        return max(self.peak_rss) / 2**30 if self.peak_rss else 0.0


def combine(key: str, label: str, parts: Sequence[Step]) -> Step:
    """A step made of sequential parts (ingest then dbt): seconds add, memory is the max.

    With equal repetitions, run ``i`` of the result is the sum of run ``i`` of every part. When
    the parts were repeated a different number of times (the slow dbt steps fewer), the result
    is one run: the sum of the parts' medians, with the largest peak of each.
    """
    combined = Step(key, label, rows=parts[0].rows)
    counts = {len(p.seconds) for p in parts}
    if len(counts) > 1:
        combined.seconds.append(sum(p.median_s for p in parts))
        combined.peak_rss.append(max(max(p.peak_rss) for p in parts))
        combined.load.append((parts[0].load[0][0], parts[-1].load[-1][1]))
        return combined
    for i in range(counts.pop()):
        combined.seconds.append(sum(p.seconds[i] for p in parts))
        combined.peak_rss.append(max(p.peak_rss[i] for p in parts))
        combined.load.append((parts[0].load[i][0], parts[-1].load[i][1]))
    return combined


def ratio(numerator: Step, denominator: Step) -> float:
    """``numerator`` median time over ``denominator`` median time."""
    return numerator.median_s / denominator.median_s


def _fmt_s(values: Iterable[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def render_table(steps: Sequence[Step]) -> str:
    """The main Markdown table: median, all runs, rows/s, peak memory, load."""
    lines = [
        "| step | rows | median s | runs s | rows/s | peak RSS GiB | load 1m before→after |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for s in steps:
        load = "; ".join(f"{a:.2f}→{b:.2f}" for a, b in s.load)
        lines.append(
            f"| {s.label} | {s.rows:,} | {s.median_s:.1f} | {_fmt_s(s.seconds)} | "
            f"{s.rows_per_s:,.0f} | {s.peak_gb:.2f} | {load} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """A target of issue 5: a measured ratio against a limit."""

    name: str
    value: float
    limit: float
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        """Whether the measured value satisfies the limit."""
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


def render_ratios(ours: Step, others: Mapping[str, Step]) -> str:
    """``ours / other`` for every other step (below 1 means ours is faster)."""
    lines = ["| ours (full refresh) / … | ratio | ours faster by |", "|---|---:|---:|"]
    for label, other in others.items():
        r = ratio(ours, other)
        lines.append(f"| {label} | {r:.2f} | {1 / r:.2f}x |")
    return "\n".join(lines)


def render_targets(targets: Sequence[Target]) -> str:
    """Targets, the measured value and whether each is met."""
    lines = ["| target | measured | limit | met |", "|---|---:|---:|---|"]
    for t in targets:
        sign = "≥" if t.higher_is_better else "≤"
        lines.append(
            f"| {t.name} | {t.value:.2f} | {sign} {t.limit:g} | {'yes' if t.met else '**no**'} |"
        )
    return "\n".join(lines)
