"""Routing: every route is reachable, the SPEC precedence holds, every reason has a sentence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.routing import (
    LISTING_ROUTES,
    REASONS,
    ROUTES,
    RouteInputs,
    better_grade,
    explain,
    route,
)
from tests.conftest import REPO

RESTOCK = ("changed_mind", "sizing")

# A grade-B trade-in that sells at a profit: resell, unless a test changes a fact.
BASE = RouteInputs(
    counterfeit_flagged=False,
    needs_review=False,
    grade="B",
    source="trade_in",
    opened=np.nan,
    return_reason=None,
    price_as_is=100.0,
    price_better=110.0,
    refurb_cost=15.0,
    listable=True,
    liquidation_value=20.0,
)


def one(inputs: RouteInputs, uplift: float = 10.0, price_codes=None):
    result = route(
        inputs, min_refurb_uplift=uplift, restock_reasons=RESTOCK, price_codes=price_codes
    )
    return str(result.route[0]), str(result.codes[0])


CASES = {
    "authenticate": {"counterfeit_flagged": True},
    "review": {"needs_review": True},
    "restock": {"source": "return", "opened": 0.0, "grade": "A", "return_reason": "sizing"},
    "refurbish": {"price_better": 130.0},
    "resell": {},
    "liquidate": {"listable": False},
    "scrap": {"listable": False, "liquidation_value": 0.0},
}


@pytest.mark.parametrize("expected", ROUTES)
def test_every_route_is_reachable(expected):
    assert one(replace(BASE, **CASES[expected]))[0] == expected


SWITCH_ON = {
    **CASES,
    "resell": {"listable": True},
    "liquidate": {"liquidation_value": 20.0},
    "scrap": {"listable": False, "liquidation_value": 0.0},
}


def test_precedence_first_match_wins():
    facts: dict = {}
    for expected in reversed(ROUTES):  # switch conditions on from the bottom up
        facts.update(SWITCH_ON[expected])
        assert one(replace(BASE, **facts))[0] == expected, facts


def test_route_codes():
    assert one(replace(BASE, counterfeit_flagged=True))[1] == "counterfeit_flagged"
    assert one(replace(BASE, needs_review=True))[1] == "grade_uncertain"
    assert one(replace(BASE, **CASES["restock"]))[1] == "restock_unopened_return"
    assert one(replace(BASE, price_better=130.0))[1] == "refurb_pays"
    assert one(BASE, price_codes=["priced_at_floor"])[1] == "resell_profitable;priced_at_floor"
    liquidate = one(replace(BASE, listable=False), price_codes="no_profitable_price")
    assert liquidate == ("liquidate", "liquidation_recovers_value;no_profitable_price")
    assert one(replace(BASE, **CASES["scrap"]))[1] == "no_liquidation_value"


def test_provenance_only_where_the_category_requires_it():
    unverified = replace(BASE, provenance_verified=False, provenance_codes="order_not_found")
    assert one(unverified)[0] == "resell"
    required = replace(unverified, provenance_required=True)
    assert one(required) == ("authenticate", "provenance_not_verified;order_not_found")
    verified = replace(required, provenance_verified=True, provenance_codes="provenance_verified")
    assert one(verified) == ("resell", "resell_profitable")
    both = replace(required, counterfeit_flagged=True)
    assert one(both)[1] == "counterfeit_flagged;provenance_not_verified;order_not_found"


def test_refurbish_needs_the_full_uplift_and_a_better_grade():
    # gain = price_better - refurb_cost - price_as_is
    assert one(replace(BASE, price_better=125.0))[0] == "refurbish"  # gain 10 == uplift
    assert one(replace(BASE, price_better=124.99))[0] == "resell"
    assert one(replace(BASE, price_better=125.0), uplift=10.01)[0] == "resell"
    assert one(replace(BASE, price_better=200.0, grade="A"))[0] == "resell"
    assert one(replace(BASE, price_better=200.0, refurb_cost=np.nan))[0] == "resell"
    assert one(replace(BASE, price_better=np.nan))[0] == "resell"


@pytest.mark.parametrize(
    "change",
    [
        {"opened": 1.0},
        {"opened": np.nan},
        {"grade": "B"},
        {"return_reason": "defect"},
        {"return_reason": None},
        {"source": "trade_in"},
    ],
)
def test_restock_needs_every_condition(change):
    facts = {**CASES["restock"], **change}
    assert one(replace(BASE, **facts))[0] != "restock"


def test_vectorised_rows_match_single_rows():
    names = list(ROUTES)
    columns = {field: [] for field in BASE.__dataclass_fields__}
    for name in names:
        row = replace(BASE, **CASES[name])
        for field in columns:
            columns[field].append(getattr(row, field))
    result = route(RouteInputs(**columns), min_refurb_uplift=10.0, restock_reasons=RESTOCK)
    assert result.route.tolist() == names
    assert result.conditions["scrap"].all()
    assert [r[0]["code"] for r in (result.reasons(i) for i in range(len(names)))] == [
        "counterfeit_flagged",
        "grade_uncertain",
        "restock_unopened_return",
        "refurb_pays",
        "resell_profitable",
        "liquidation_recovers_value",
        "no_liquidation_value",
    ]


def test_counterfeit_is_never_listed():
    for name in ROUTES:
        facts = {**CASES[name], "counterfeit_flagged": True}
        assert one(replace(BASE, **facts))[0] == "authenticate"
    assert "authenticate" not in LISTING_ROUTES


def test_reasons_carry_sentences():
    assert all(len(s) > 20 and s.endswith(".") for s in REASONS.values())
    shown = explain("resell_profitable;capped_at_ceiling")
    assert [r["code"] for r in shown] == ["resell_profitable", "capped_at_ceiling"]
    assert shown[1]["message"] == REASONS["capped_at_ceiling"]
    assert explain("") == []


def test_better_grade():
    assert better_grade(["A", "B", "C", None]).tolist() == [None, "A", "B", None]


def test_docs_list_every_reason_code():
    text = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    missing = [
        code for code, sentence in REASONS.items() if f"| `{code}` | {sentence} |" not in text
    ]
    assert missing == []
