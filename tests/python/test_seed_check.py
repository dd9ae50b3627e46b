"""The thresholds CSV pre-flight: every rule analysts can break gives a message naming the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.config import PROJECT_DIR
from loyalty.seed_check import SeedError, check_thresholds

HEADER = "tier_name,tier_rank,min_total_spent,min_transaction_count,description\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "tier_thresholds.csv"
    path.write_text(header + body)
    return path


def test_shipped_seed_is_valid() -> None:
    tiers = check_thresholds(PROJECT_DIR / "seeds" / "tier_thresholds.csv")
    assert [t.name for t in tiers] == ["Bronze", "Silver", "Gold", "Platinum"]


def test_quotes_and_commas_inside_quoted_names_are_fine(tmp_path: Path) -> None:
    body = 'Bronze,1,0,0,x\n"Pay\'n\'Save, Gold",2,10.50,1,"a, b"\n'
    tiers = check_thresholds(write(tmp_path, body))
    assert tiers[1].name == "Pay'n'Save, Gold"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Bronze,1,0,0,x\nSilver,2,50000,5,x\nGold,3,20000,10,x\n",
            "line 4 (tier 'Gold'): thresholds must not decrease with rank",
        ),
        (
            "Bronze,1,0,0,x\nSilver,2,20000,10,x\nGold,3,50000,5,x\n",
            "line 4 (tier 'Gold'): thresholds must not decrease with rank",
        ),
        ("Bronze,1,0,0,x\nGold,2,1,1,x\nGold,3,2,2,x\n", "line 4: duplicate tier_name 'Gold'"),
        ("Bronze,1,0,0,x\nSilver,2,1,1,x\nGold,2,2,2,x\n", "line 4: duplicate tier_rank 2"),
        (
            "Bronze,1,10,1,x\nGold,2,20,2,x\n",
            "line 2 (tier 'Bronze'): the lowest rank is the catch-all",
        ),
        ("Bronze,1,0,0,x\nBasic,2,0,0,x\n", "line 3 (tier 'Basic'): only the lowest-ranked tier"),
        ("Bronze,1,0,0,x\nGold,2,-5,1,x\n", "line 3 (tier 'Gold'): min_total_spent -5 is negative"),
        (
            "Bronze,1,0,0,x\nGold,2,5,-1,x\n",
            "line 3 (tier 'Gold'): min_transaction_count -1 is negative",
        ),
        (
            "Bronze,1,0,0,x\nGold,2,abc,1,x\n",
            "line 3 (tier 'Gold'): min_total_spent 'abc' is not a number",
        ),
        ("Bronze,1,0,0,x\nGold,2,1.005,1,x\n", "min_total_spent 1.005 needs at most 2 decimals"),
        (
            "Bronze,1,0,0,x\nGold,two,1,1,x\n",
            "line 3 (tier 'Gold'): tier_rank 'two' is not a whole number",
        ),
        ("Bronze,1,0,0,x\n,2,1,1,x\n", "line 3: tier_name is empty"),
        ("Bronze,1,0,0,x\nPay'n'Save, Gold,2,1,1,x\n", "line 3: more fields than columns"),
        ("", "line 2: no tiers"),
    ],
)
def test_broken_rule_names_the_line_and_the_rule(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(SeedError, match=re.escape(expected)):
        check_thresholds(write(tmp_path, body))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="the file is empty"):
        check_thresholds(write(tmp_path, "", header=""))


def test_missing_column(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"missing column.*min_transaction_count"):
        check_thresholds(
            write(tmp_path, "Bronze,1,0\n", header="tier_name,tier_rank,min_total_spent\n")
        )
