"""Fast tests of the analyst tools: near-tier rule, backfill dates, what-if input, the report.

No Spark or database: the end-to-end module runs the same code through the CLI on real data.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from loyalty import whatif
from loyalty.backfill import BackfillError, date_range, resolve_dates
from loyalty.report import print_summary, write_report
from loyalty.summary import (
    NearCustomer,
    RunSummary,
    TierLine,
    is_near_next_tier,
    near_next_tier_mask,
    read_summary,
)

D = Decimal
SEED = Path(__file__).resolve().parents[2] / "seeds" / "tier_thresholds.csv"


NEAR_CASES = [
    (D("95000.00"), 20, D("5000.00"), 0, True),  # exactly 5% of 100,000 short
    (D("94999.99"), 20, D("5000.01"), 0, False),  # one cent more than 5%
    (D("100000.00"), 19, D("0.00"), 1, True),  # 1 of 20 transactions = 5%
    (D("50000.00"), 9, D("0.00"), 1, False),  # 1 of 10 transactions = 10%
    (D("95000.00"), 19, D("5000.00"), 1, True),  # both dimensions at exactly 5%
    (D("99999.99"), 18, D("0.01"), 2, False),  # spend close, count 10% short
    (D("150000.00"), 30, None, None, False),  # top tier: nothing to reach
    (D("-500.00"), 3, D("20500.00"), 2, False),  # catch-all with refunds
]


@pytest.mark.parametrize(("total", "count", "spend_gap", "count_gap", "near"), NEAR_CASES)
def test_near_next_tier_means_within_5_percent_on_both_dimensions(
    total: Decimal, count: int, spend_gap: Decimal | None, count_gap: int | None, near: bool
) -> None:
    assert is_near_next_tier(total, count, spend_gap, count_gap) is near


def export_table(
    rows: list[tuple[int, str, int, Decimal, int, Decimal | None, int | None]],
) -> pa.Table:
    """A tiers export with the columns the summary reads, exactly typed."""
    return pa.table(
        {
            "customer_id": pa.array([r[0] for r in rows], pa.int64()),
            "loyalty_tier": pa.array([r[1] for r in rows], pa.string()),
            "tier_rank": pa.array([r[2] for r in rows], pa.int32()),
            "total_spent": pa.array([r[3] for r in rows], pa.decimal128(20, 2)),
            "transaction_count": pa.array([r[4] for r in rows], pa.int64()),
            "next_tier": pa.array([None if r[5] is None else "Next" for r in rows], pa.string()),
            "spend_to_next_tier": pa.array([r[5] for r in rows], pa.decimal128(20, 2)),
            "transactions_to_next_tier": pa.array([r[6] for r in rows], pa.int64()),
            "as_of_date": pa.array([dt.date(2025, 8, 7)] * len(rows), pa.date32()),
        }
    )


def test_vectorised_near_mask_agrees_with_the_rule_row_by_row() -> None:
    table = export_table(
        [
            (i, "T", 1, total, count, gap, cgap)
            for i, (total, count, gap, cgap, _) in enumerate(NEAR_CASES)
        ]
    )
    assert near_next_tier_mask(table).to_pylist() == [case[-1] for case in NEAR_CASES]


def test_summary_counts_and_sums_tiers_exactly_from_the_export(tmp_path: Path) -> None:
    big = D("99999999999999999.99")  # the largest decimal(20,2): sums must not overflow or round
    rows = [
        (1, "Gold", 3, big, 12, D("5000.00"), 8),
        (2, "Gold", 3, big, 20, D("0.00"), 1),  # near: 1 of 21 transactions is under 5%
        (3, "Bronze", 1, D("-0.01"), 1, D("20000.01"), 4),
        (4, "Platinum", 4, D("100000.00"), 20, None, None),
    ]
    export = tmp_path / "loyalty_tiers.parquet"
    pq.write_table(export_table(rows), export)
    summary = read_summary(export)
    assert summary.tiers == [
        TierLine("Platinum", 4, 1, D("100000.00")),
        TierLine("Gold", 3, 2, 2 * big),
        TierLine("Bronze", 1, 1, D("-0.01")),
    ]
    assert summary.as_of_date == "2025-08-07"
    assert [n.customer_id for n in summary.near_next_tier] == [2]


def test_monthly_backfill_from_a_month_end_stays_on_month_ends() -> None:
    assert date_range(dt.date(2024, 11, 30), dt.date(2025, 3, 31), "month") == [
        dt.date(2024, 11, 30),
        dt.date(2024, 12, 31),
        dt.date(2025, 1, 31),
        dt.date(2025, 2, 28),
        dt.date(2025, 3, 31),
    ]
    assert date_range(dt.date(2024, 1, 15), dt.date(2024, 3, 14), "month") == [
        dt.date(2024, 1, 15),
        dt.date(2024, 2, 15),
    ]
    assert date_range(dt.date(2025, 1, 1), dt.date(2025, 1, 15), "week") == [
        dt.date(2025, 1, 1),
        dt.date(2025, 1, 8),
        dt.date(2025, 1, 15),
    ]


def test_backfill_dates_are_sorted_unique_and_validated() -> None:
    assert resolve_dates(["2025-07-31,2025-06-30", "2025-07-31"], None, None, "month") == [
        dt.date(2025, 6, 30),
        dt.date(2025, 7, 31),
    ]
    for dates, start, end, message in [
        (["2025-02-30"], None, None, "YYYY-MM-DD"),
        (None, "2025-03-01", "2025-01-01", "is before --from"),
        (None, "2025-01-01", None, "both --from and --to"),
        (["2025-01-01"], "2025-01-01", "2025-02-01", "not both"),
        (None, "2000-01-01", "2025-01-01", "more than 400"),
    ]:
        with pytest.raises(BackfillError, match=message):
            resolve_dates(dates, start, end, "day")


def test_what_if_accepts_the_live_seed() -> None:
    thresholds = whatif.read_thresholds(SEED)
    assert [t.name for t in thresholds] == ["Bronze", "Silver", "Gold", "Platinum"]


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("tier_name,tier_rank,min_total_spent\nBronze,1,0\n", "missing column"),
        ("Bronze,1,0.00,0\nSilver,1,10.00,1\n", "tier_rank must be unique"),
        ("Bronze,1,0.00,0\nBronze,2,10.00,1\n", "tier_name must be unique"),
        ("Bronze,1,0.00,0\nSilver,2,-1.00,1\n", "non-negative amount"),
        ("Bronze,1,0.00,0\nSilver,2,1.005,1\n", "at most two decimals"),
        ("Bronze,1,0.00,0\nSilver,2,10.00,1.5\n", "whole number"),
        ("Bronze,1,5.00,0\nSilver,2,10.00,1\n", "exactly one catch-all"),
        ("Bronze,1,0.00,0\nSilver,2,0.00,0\n", "exactly one catch-all"),
        ("Bronze,1,0.00,0\nSilver,2,10.00,5\nGold,3,20.00,4\n", "Gold asks for less than Silver"),
        ("Bronze,1,0.00,0\n{{ evil }},2,10.00,5\n", "must not contain braces"),
    ],
)
def test_what_if_rejects_thresholds_the_seed_tests_would_reject(
    tmp_path: Path, csv_text: str, message: str
) -> None:
    path = tmp_path / "proposed.csv"
    header = "tier_name,tier_rank,min_total_spent,min_transaction_count\n"
    path.write_text(csv_text if csv_text.startswith("tier_name") else header + csv_text)
    with pytest.raises(whatif.ThresholdsError, match=message):
        whatif.read_thresholds(path)


def test_what_if_sql_quotes_names_and_keeps_amounts_exact() -> None:
    sql = whatif.what_if_sql(
        [
            whatif.Threshold("Everyone", 1, D("0.00"), 0),
            whatif.Threshold("Pay'n'Save Gold", 2, D("19999.99"), 5),
        ]
    )
    assert r"'Pay\'n\'Save Gold'" in sql
    assert "cast('19999.99' as decimal(20, 2))" in sql
    assert "assign_loyalty_tier('customers', thresholds='proposed_thresholds')" in sql


def sample_summary(tmp_path: Path) -> RunSummary:
    summary = RunSummary(
        export_path=tmp_path / "loyalty_tiers.parquet",
        as_of_date="2025-08-07",
        tiers=[
            TierLine("Gold", 3, 3, D("160000.00")),
            TierLine("Bronze <b>", 1, 1, D("-5.00")),
        ],
        exclusions={"missing_customer_id": 2, "missing_amount": 0},
        previous_as_of_date="2025-07-31",
        movements={"upgrade": 2, "new": 2},
        migration={("Bronze <b>", "Gold"): 2, ("(new)", "Gold"): 1, ("(new)", "Bronze <b>"): 1},
        near_next_tier=[NearCustomer(7, "Gold", "Platinum", D("0.00"), 1)],
    )
    return summary


def test_report_writes_a_png_chart_and_an_html_page_embedding_it(tmp_path: Path) -> None:
    summary = sample_summary(tmp_path)
    html_path, png_path = write_report(summary, tmp_path / "out")
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html_path.read_text()
    assert "data:image/png;base64," in page
    assert "<td>Gold</td><td>3</td><td>75.0%</td><td>160,000.00</td>" in page
    assert "Bronze &lt;b&gt;" in page  # escaped
    assert "Bronze <b>" not in page
    assert "<td>(new)</td><td>1</td><td>1</td>" in page  # matrix row: new -> Gold, Bronze
    assert "Within 5% of the next tier (1 customers)" in page
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind


def test_summary_keeps_the_plain_lines_logs_and_tests_rely_on(tmp_path: Path) -> None:
    summary = sample_summary(tmp_path)
    buffer = io.StringIO()
    print_summary(summary, Console(file=buffer, width=110))
    text = buffer.getvalue()
    assert "transactions not counted: missing_customer_id 2, missing_amount 0" in text
    assert "movements since 2025-07-31: upgrade 2, downgrade 0, same 0, new 2, removed 0" in text
    assert f"export: {summary.export_path}" in text
    assert "Within 5% of the next tier: 1 customers" in text
