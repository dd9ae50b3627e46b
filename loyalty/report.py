"""The run report: rich tables in the terminal, a chart (PNG) and an HTML page next to the export.

Everything here presents a :class:`~loyalty.summary.RunSummary`, which is read from the
published exports; nothing is computed twice. The chart uses matplotlib's Agg backend, so it
renders on servers without a display. Files are written to a temporary name and renamed, so a
reader never opens a half-written report.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from loyalty.summary import MOVEMENT_ORDER, RunSummary

REPORT_HTML = "loyalty_run_report.html"
REPORT_PNG = "loyalty_run_report.png"
NEAR_SHOWN = 10


def tier_table(summary: RunSummary) -> Table:
    """Customers per tier with share and spend, highest tier first."""
    table = Table(title="Customers per tier", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("tier")
    for name in ("customers", "share", "total spent"):
        table.add_column(name, justify="right")
    total = summary.customers or 1
    for line in summary.tiers:
        table.add_row(
            line.tier,
            f"{line.customers:,}",
            f"{line.customers / total:.1%}",
            f"{line.total_spent:,.2f}",
        )
    table.add_row("all", f"{summary.customers:,}", "", "", style="bold")
    return table


def exclusion_table(summary: RunSummary) -> Table:
    """Transactions not counted, by reason (zero included)."""
    table = Table(title="Transactions not counted", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("reason")
    table.add_column("transactions", justify="right")
    for reason, count in summary.exclusions.items():
        table.add_row(reason, f"{count:,}")
    return table


def movement_table(summary: RunSummary) -> Table:
    """The from -> to migration matrix since the previous as-of date."""
    since = summary.previous_as_of_date or "(first as-of date in the history)"
    table = Table(title=f"Movements since {since}", box=box.SIMPLE_HEAD, title_justify="left")
    sources, targets = _matrix_axes(summary)
    table.add_column("from \\ to")
    for target in targets:
        table.add_column(target, justify="right")
    for source in sources:
        table.add_row(source, *(f"{summary.migration.get((source, t), 0):,}" for t in targets))
    return table


def near_table(summary: RunSummary) -> Table:
    """Customers within 5% of the next tier's minimums on both dimensions, closest first."""
    table = Table(
        title=f"Within 5% of the next tier: {len(summary.near_next_tier):,} customers",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for name, justify in (
        ("customer", "right"),
        ("tier", "left"),
        ("next tier", "left"),
        ("spend still needed", "right"),
        ("transactions still needed", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for near in summary.near_next_tier[:NEAR_SHOWN]:
        table.add_row(
            str(near.customer_id),
            near.tier,
            near.next_tier,
            f"{near.spend_to_next_tier:,.2f}",
            f"{near.transactions_to_next_tier:,}",
        )
    if len(summary.near_next_tier) > NEAR_SHOWN:
        table.caption = f"closest {NEAR_SHOWN} shown; all of them in the HTML report"
    return table


def print_summary(summary: RunSummary, console: Console) -> None:
    """The end-of-run summary: plain key lines (stable for logs and tests) and rich tables."""
    console.print(f"Loyalty tiers as of {summary.as_of_date or 'n/a'}", style="bold")
    lines = [
        summary.ingest_line(),
        summary.exclusions_line(),
        summary.amount_checks_line(),
        summary.movements_line(),
    ]
    for line in lines:
        if line:
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(tier_table(summary))
    if summary.exclusions:
        console.print(exclusion_table(summary))
    if summary.movements:
        console.print(movement_table(summary))
    if summary.tiers:
        console.print(near_table(summary))
    for warning in summary.warnings:
        console.print(f"  warning: {warning}", markup=False, style="yellow", soft_wrap=True)
    for line in summary.path_lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def write_report(summary: RunSummary, directory: Path) -> tuple[Path, Path]:
    """Write the chart (PNG) and the HTML report that embeds it into ``directory``.

    Returns:
        The HTML and PNG paths (also set on ``summary``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    png = render_chart(summary)
    chart_path, report_path = directory / REPORT_PNG, directory / REPORT_HTML
    _write_atomically(chart_path, png)
    _write_atomically(report_path, render_html(summary, png).encode())
    summary.report_path, summary.chart_path = report_path, chart_path
    return report_path, chart_path


def render_chart(summary: RunSummary) -> bytes:
    """Two bar charts as PNG bytes: customers per tier, and movements by direction."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    figure, (tiers_ax, moves_ax) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    try:
        ordered = list(reversed(summary.tiers))  # lowest tier on the left
        bars = tiers_ax.bar([t.tier for t in ordered], [t.customers for t in ordered])
        tiers_ax.bar_label(bars, labels=[f"{t.customers:,}" for t in ordered])
        tiers_ax.set_title(f"Customers per tier, as of {summary.as_of_date or 'n/a'}")
        tiers_ax.set_ylabel("customers")
        counts = [summary.movements.get(k, 0) for k in MOVEMENT_ORDER]
        colours = ["#2e7d32", "#c62828", "#9e9e9e", "#1565c0", "#6d4c41"]
        bars = moves_ax.bar(list(MOVEMENT_ORDER), counts, color=colours)
        moves_ax.bar_label(bars, labels=[f"{c:,}" for c in counts])
        since = summary.previous_as_of_date
        moves_ax.set_title(f"Movements since {since}" if since else "Movements (first as-of date)")
        moves_ax.set_ylabel("customers")
        for axis in (tiers_ax, moves_ax):
            axis.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def render_html(summary: RunSummary, png: bytes) -> str:
    """A self-contained page: the chart inlined as base64 and every table of the summary."""
    sources, targets = _matrix_axes(summary)
    total = summary.customers or 1
    sections = [
        _html_table(
            "Customers per tier",
            ["tier", "customers", "share", "total spent"],
            [
                [t.tier, f"{t.customers:,}", f"{t.customers / total:.1%}", f"{t.total_spent:,.2f}"]
                for t in summary.tiers
            ]
            + [["all", f"{summary.customers:,}", "", ""]],
        ),
        _html_table(
            "Transactions not counted",
            ["reason", "transactions"],
            [[k, f"{v:,}"] for k, v in summary.exclusions.items()],
        ),
        _html_table(
            f"Movements since {summary.previous_as_of_date or '(first as-of date)'}",
            ["from \\ to", *targets],
            [[s, *(f"{summary.migration.get((s, t), 0):,}" for t in targets)] for s in sources],
        ),
        _html_table(
            f"Within 5% of the next tier ({len(summary.near_next_tier):,} customers)",
            ["customer", "tier", "next tier", "spend still needed", "transactions still needed"],
            [
                [
                    str(n.customer_id),
                    n.tier,
                    n.next_tier,
                    f"{n.spend_to_next_tier:,.2f}",
                    f"{n.transactions_to_next_tier:,}",
                ]
                for n in summary.near_next_tier
            ],
        ),
    ]
    facts = [summary.ingest_line(), summary.movements_line(), f"export: {summary.export_path}"]
    title = f"Loyalty tiers as of {summary.as_of_date or 'n/a'}"
    image = base64.b64encode(png).decode()
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em;max-width:72em}"
            "table{border-collapse:collapse;margin-bottom:1.5em}"
            "th,td{padding:.2em .8em;border-bottom:1px solid #ddd}"
            "td{text-align:right}td:first-child{text-align:left}</style>",
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
            "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in facts if f) + "</ul>",
            f'<img alt="customers per tier and movements" src="data:image/png;base64,{image}">',
            *sections,
            "</body></html>",
        ]
    )


def _html_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _matrix_axes(summary: RunSummary) -> tuple[list[str], list[str]]:
    """Row and column labels of the migration matrix, highest tier first, then new/removed."""
    rank = {line.tier: line.rank for line in summary.tiers}

    def order(label: str) -> tuple[int, str]:
        return (-rank.get(label, -1), label)

    sources = sorted({s for s, _ in summary.migration}, key=order)
    targets = sorted({t for _, t in summary.migration}, key=order)
    return sources, targets


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
