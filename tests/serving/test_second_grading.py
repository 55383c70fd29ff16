"""The double-grading sample on SQLite and PostgreSQL: who is sampled, what the second grader
sees (never the first decision), how the second grade is kept, and the inter-grader kappa."""

from __future__ import annotations

import uuid

import pytest

from serving.analytics.report import build_report
from serving.store.errors import ConflictError, InvalidInput, NotFoundError
from serving.store.second_grades import in_sample
from serving.store.tables import SecondGrading
from tests.serving.analytics_data import build_known_store
from tests.serving.store_helpers import count, new_case

FIRST_DECISION = {"final_grade", "final_counterfeit", "resolution", "route", "reasons"}
FIRST_DECISION |= {"price_result", "decision", "review_status", "final_price"}


def test_the_sample_is_drawn_by_case_id_at_the_share():
    ids = [str(uuid.UUID(int=i, version=4)) for i in range(20_000)]
    picked = [c for c in ids if in_sample(c, 0.05)]
    assert 0.045 < len(picked) / len(ids) < 0.055  # binomial sd 0.0015
    assert picked == [c for c in ids if in_sample(c, 0.05)]  # the same cases every time
    assert set(picked) <= {c for c in ids if in_sample(c, 0.2)}  # a larger share adds cases
    assert not any(in_sample(c, 0.0) for c in ids[:100])
    assert all(in_sample(c, 1.0) for c in ids[:100])


def test_the_second_grader_sees_the_unit_not_the_first_decision(store):
    case = new_case(store, "u1", grade="B")
    with pytest.raises(ConflictError, match="not resolved"):
        store.request_second_grading(case.case_id)
    store.resolve_review(
        case.case_id, grade="A", counterfeit=False, grader_id="first-grader", note="first-note"
    )
    request = store.request_second_grading(case.case_id, actor="first-grader")
    assert (request.status, request.grade, request.grader_id) == ("open", None, None)
    assert store.request_second_grading(case.case_id) == request  # once
    [blind] = store.second_grading_queue()
    shown = set(type(blind).model_fields)
    assert not shown & FIRST_DECISION
    assert blind.case_id == case.case_id and len(blind.photos) == 2
    assert blind.grade_result["grade"] == "B" and blind.requested_at == request.requested_at
    assert "first-grader" not in blind.model_dump_json()
    assert "first-note" not in blind.model_dump_json()
    assert store.second_grading_queue("resolved") == []
    with pytest.raises(InvalidInput, match="open or resolved"):
        store.second_grading_queue("all")


def test_the_second_grade_is_kept_beside_the_first(store):
    case = new_case(store, "u1")
    store.resolve_review(case.case_id, grade="A", counterfeit=False, grader_id="g1")
    with pytest.raises(NotFoundError):
        store.resolve_second_grading(case.case_id, grade="B", counterfeit=False, grader_id="g2")
    store.request_second_grading(case.case_id)
    with pytest.raises(ConflictError, match="g1 gave the first grade"):
        store.resolve_second_grading(case.case_id, grade="A", counterfeit=False, grader_id="g1")
    with pytest.raises(InvalidInput):
        store.resolve_second_grading(case.case_id, grade="Z", counterfeit=False, grader_id="g2")
    second = store.resolve_second_grading(
        case.case_id, grade="B", counterfeit=False, grader_id="g2", note="scuff"
    )
    assert (second.status, second.grade, second.grader_id, second.note) == (
        "resolved",
        "B",
        "g2",
        "scuff",
    )
    again = store.resolve_second_grading(case.case_id, grade="B", counterfeit=False, grader_id="g3")
    assert again == second
    with pytest.raises(ConflictError, match="already has a second grade from g2"):
        store.resolve_second_grading(case.case_id, grade="C", counterfeit=False, grader_id="g2")
    stored = store.get_case(case.case_id)
    assert (stored.final_grade, stored.grade) == ("A", "A")  # the first grade stays in force
    kinds = [e.kind for e in store.events(case.case_id)]
    assert kinds[-2:] == ["second_grading_requested", "second_grading_resolved"]
    assert store.second_grading_queue() == []
    assert [c.case_id for c in store.second_grading_queue("resolved")] == [case.case_id]


def test_sampling_sends_resolved_cases_once(store):
    cases = [new_case(store, f"u{i}", seed=3 * i) for i in range(4)]
    for case in cases[:3]:
        store.resolve_review(case.case_id, grade="B", counterfeit=False, grader_id="g1")
    assert store.sample_second_gradings(0.0) == 0
    assert store.sample_second_gradings(1.0) == 3  # the unresolved one is not sent
    assert store.sample_second_gradings(1.0) == 0
    assert count(store, SecondGrading) == 3
    with pytest.raises(InvalidInput, match="from 0 to 1"):
        store.sample_second_gradings(1.5)


def test_the_report_gives_inter_grader_kappa_per_pair(store):
    ids = build_known_store(store)
    for name in ("c1", "c2", "c4", "c8"):
        store.request_second_grading(ids[name])
    assert build_report(store.engine).grading.second_gradings_open == 4
    for name, grade, grader in (("c1", "B", "g2"), ("c2", "C", "g2"), ("c4", "A", "g1")):
        store.resolve_second_grading(ids[name], grade=grade, counterfeit=False, grader_id=grader)
    store.resolve_second_grading(ids["c8"], grade="B", counterfeit=False, grader_id="g3")
    grading = build_report(store.engine).grading
    assert grading.second_gradings_open == 0
    overall = grading.double_graded
    assert (overall.units, overall.agreement) == (4, 0.75)
    assert overall.kappa == pytest.approx(5 / 9)
    g1_g2, g2_g3 = grading.grader_pairs
    assert (g1_g2.group, g1_g2.rater_1, g1_g2.rater_2) == ("g1 / g2", "g1", "g2")
    assert g1_g2.confusion == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]  # c4 counted g1 first too
    assert (g1_g2.units, g1_g2.agreement, g1_g2.kappa) == (3, pytest.approx(2 / 3), 0.5)
    assert (g2_g3.group, g2_g3.units, g2_g3.agreement, g2_g3.kappa) == ("g2 / g3", 1, 1.0, None)
