"""A pricing decision follows the case (issue 25, finding 5), on SQLite and PostgreSQL.

No price is decided while the grade is in review (409, nothing recorded); a decision taken
before a resolution (a database from before this rule) is voided when the resolution changes
the grade or the route, with a `pricing_reopened` event saying why, and kept when neither
changes.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from serving.store.errors import ConflictError
from serving.store.tables import Case, PricingDecision, utcnow
from serving.store.writes import Store
from tests.serving.store_helpers import count, new_case

PRICED_C = {"recommended_price": 60.0, "floor_price": 50.0}


def test_no_price_is_decided_while_the_review_is_open(store):
    case = new_case(store, "u-open")
    assert case.review_status == "open" and case.pricing_status == "pending"
    for decision in (
        {"action": "approve", "analyst_id": "a1"},
        {"action": "override", "price": 150.0, "reason": "demand", "analyst_id": "a1"},
    ):
        with pytest.raises(ConflictError, match="still in review"):
            store.decide_pricing(case.case_id, **decision)
    after = store.get_case(case.case_id)
    assert (after.pricing_status, after.final_price, after.decision) == ("pending", None, None)
    assert count(store, PricingDecision) == 0
    assert [e.kind for e in store.events(case.case_id)] == ["case_created"]
    assert case.case_id not in {c.case_id for c in store.pending_pricing()}
    store.resolve_review(case.case_id, grade="B", counterfeit=False, grader_id="g1")
    decided = store.decide_pricing(case.case_id, action="approve", analyst_id="a1")
    assert (decided.pricing_status, decided.final_price) == ("approved", 120.0)


def _decided_in_review(store: Store, item_id: str) -> str:
    """A case routed to resell but queued for review (grade uncertain) and approved at 120
    while its review was open, as a database from before the rule may hold."""
    case = new_case(store, item_id, grade="B")
    with Session(store.engine) as session, session.begin():
        session.add(
            PricingDecision(
                case_id=case.case_id, action="approve", price=120.0, reason=None,
                analyst_id="a-early", decided_at=utcnow(),
            )
        )  # fmt: skip
        row = session.get(Case, case.case_id)
        row.pricing_status, row.final_price, row.route = "approved", 120.0, "resell"
    return case.case_id


def test_a_resolution_that_changes_the_grade_and_route_reopens_the_price(store):
    case_id = _decided_in_review(store, "u-early")
    assert store.listed_cases(("resell",), case_id=case_id)  # listed at the early price
    resolved = store.resolve_review(
        case_id, grade="C", counterfeit=True, grader_id="g1",
        route="authenticate", reasons=["counterfeit_flagged"], price_result=PRICED_C,
    )  # fmt: skip
    assert resolved.route == "authenticate" and resolved.decision is None
    assert (resolved.pricing_status, resolved.final_price) == ("pending", None)
    assert resolved.recommended_price == 60.0
    assert count(store, PricingDecision) == 0
    assert store.listed_cases(("resell", "authenticate"), case_id=case_id) == []
    events = store.events(case_id)
    assert [e.kind for e in events] == ["case_created", "review_resolved", "pricing_reopened"]
    reopened = events[-1].payload
    assert reopened["why"] == ["grade_changed", "route_changed"]
    assert reopened["from"] == {"grade": "B", "route": "resell"}
    assert reopened["to"] == {"grade": "C", "route": "authenticate"}
    assert reopened["voided"]["action"] == "approve" and reopened["voided"]["price"] == 120.0
    assert reopened["voided"]["analyst_id"] == "a-early"
    again = store.decide_pricing(case_id, action="approve", analyst_id="a2")
    assert (again.pricing_status, again.final_price) == ("approved", 60.0)


def test_a_resolution_that_keeps_grade_and_route_keeps_the_decided_price(store):
    case_id = _decided_in_review(store, "u-kept")
    kept = store.resolve_review(
        case_id, grade="B", counterfeit=False, grader_id="g1",
        route="resell", reasons=["resell_profitable"], price_result={"recommended_price": 99.0},
    )  # fmt: skip
    assert (kept.pricing_status, kept.final_price, kept.recommended_price) == (
        "approved", 120.0, 120.0,
    )  # fmt: skip
    assert kept.decision is not None and kept.decision.analyst_id == "a-early"
    assert [e.kind for e in store.events(case_id)] == ["case_created", "review_resolved"]


def test_a_reopened_price_without_a_new_one_waits_again(store):
    case_id = _decided_in_review(store, "u-grade-only")
    resolved = store.resolve_review(case_id, grade="A", counterfeit=False, grader_id="g1")
    assert (resolved.pricing_status, resolved.final_price) == ("pending", None)
    assert store.events(case_id)[-1].payload["why"] == ["grade_changed"]
