"""The repository on SQLite and PostgreSQL: cases, review queue, pricing decisions, audit trail."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.store import operations
from serving.store.engine import make_engine
from serving.store.errors import ConflictError, InvalidInput, NotFoundError, PolicyViolation
from serving.store.records import PhotoInput
from serving.store.tables import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseReviewKind,
    Photo,
    PricingDecision,
    ReviewResolution,
    utcnow,
)
from serving.store.writes import Store
from tests.serving.store_helpers import count, item, new_case, photo_bytes


def test_case_with_photos_round_trips(store):
    photos = [
        PhotoInput(photo_bytes(1, "PNG"), "front.png", {"grade": "B", "score": np.float32(0.5)}),
        PhotoInput(photo_bytes(2, "JPEG", (40, 30)), "back.jpg", None),
    ]
    grade = {"grade": "B", "confidence": np.float64(0.61), "ece": float("nan")}
    created = store.create_case(
        item("u7", serial_number=" SN-7 "),
        photos,
        grade,
        {"recommended_price": 120.0, "floor_price": 81.25, "price": {"p10": 90, "p90": 150}},
        "review",
        ["grade_uncertain"],
        ["grade_uncertain", "counterfeit_flagged", "grade_uncertain"],
        {"grader": "3"},
    )
    case = store.get_case(created.case_id)
    assert case == created
    assert case.item["attr_storage_gb"] == 128 and case.serial_number == "SN-7"
    assert case.grade_result == {"grade": "B", "confidence": 0.61, "ece": None}
    assert case.review_status == "open"
    assert case.review_kinds == ["counterfeit_flagged", "grade_uncertain"]
    assert (case.pricing_status, case.recommended_price, case.floor_price) == (
        "pending",
        120,
        81.25,
    )
    assert case.created_at.tzinfo is not None and case.created_at.utcoffset() == dt.timedelta(0)
    assert abs(case.created_at - utcnow()) < dt.timedelta(minutes=1)
    assert [(p.position, p.filename, p.content_type) for p in case.photos] == [
        (0, "front.png", "image/png"),
        (1, "back.jpg", "image/jpeg"),
    ]
    assert (case.photos[1].width, case.photos[1].height) == (40, 30)
    assert case.photos[0].result == {"grade": "B", "score": 0.5}
    for photo, sent in zip(case.photos, photos, strict=True):
        assert store.photos.read(photo.sha256, photo.content_type) == sent.data
        assert photo.path.endswith(".png" if photo.position == 0 else ".jpg")
    assert case.grade == "B"
    assert store.resolve_review(
        case.case_id, grade="C", counterfeit=np.bool_(True), grader_id="g1"
    ).final_counterfeit


def test_the_same_photo_bytes_are_stored_once(store):
    same = photo_bytes(5)
    first = store.create_case(item("u1"), [PhotoInput(same)], None, None, "resell", [], [], {})
    second = store.create_case(
        item("u2"), [PhotoInput(same), PhotoInput(same)], None, None, "resell", [], [], {}
    )
    assert first.photos[0].sha256 == second.photos[0].sha256 == second.photos[1].sha256
    assert count(store, Photo) == 1 and count(store, CasePhoto) == 3
    assert len(list(store.photos.root.rglob("*.png"))) == 1
    assert store.get_photo(first.photos[0].sha256).size == len(same)
    with pytest.raises(NotFoundError):
        store.get_photo("0" * 64)


def test_concurrent_cases_with_the_same_new_photo_store_it_once(store):
    same, barrier, errors = photo_bytes(9), threading.Barrier(4), []

    def create(pos):
        barrier.wait()
        try:
            store.create_case(item(f"u{pos}"), [same], None, None, "resell", [], [], {})
        except Exception as exc:  # collected and reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(pos,)) for pos in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert (count(store, Case), count(store, Photo), count(store, CasePhoto)) == (4, 1, 4)


def _tables_empty(store):
    return {
        model.__tablename__: count(store, model)
        for model in (Case, CasePhoto, CaseReviewKind, CaseEvent, Photo)
    }


def test_a_failure_in_the_middle_of_create_case_stores_nothing(store, monkeypatch):
    def fail_after_rows(session, *args):
        session.flush()  # the case, its photos and review kinds are in the transaction
        assert session.get(Case, args[0]) is not None
        raise RuntimeError("disk full")

    monkeypatch.setattr(operations, "add_event", fail_after_rows)
    with pytest.raises(RuntimeError, match="disk full"):
        new_case(store)
    assert set(_tables_empty(store).values()) == {0}


def test_a_bad_photo_stores_nothing_and_names_the_photo(store):
    photos = [PhotoInput(photo_bytes(1)), PhotoInput(b"GIF89a not really")]
    with pytest.raises(InvalidInput) as error:
        store.create_case(item(), photos, None, None, "resell", [], [], {})
    assert error.value.field == "photos[1]"
    assert set(_tables_empty(store).values()) == {0}
    assert not store.photos.root.exists() or not any(store.photos.root.rglob("*.*"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"route": "teleport"}, "route"),
        ({"item": {"category": "phone"}}, "item.item_id"),
        ({"review_kinds": ["Grade Uncertain"]}, "review_kinds[0]"),
        ({"grade_result": {"when": object()}}, "grade_result.when"),
        ({"price_result": {"recommended_price": -1.0}}, "price_result.recommended_price"),
    ],
)
def test_bad_case_inputs_name_the_field(store, change, field):
    args = {
        "item": item(),
        "photos": [PhotoInput(photo_bytes())],
        "grade_result": None,
        "price_result": None,
        "route": "resell",
        "reasons": [],
        "review_kinds": [],
        "model_versions": {},
    } | change
    with pytest.raises(InvalidInput) as error:
        store.create_case(**args)
    assert error.value.field == field
    assert count(store, Case) == 0


def test_review_queue_filters_by_status_and_kind_oldest_first(store):
    a = new_case(store, "a", kinds=("grade_uncertain",))
    b = new_case(store, "b", kinds=("counterfeit_flagged", "provenance"))
    new_case(store, "c", kinds=())
    d = new_case(store, "d", kinds=("grade_uncertain",))
    store.resolve_review(d.case_id, grade="A", counterfeit=False, grader_id="g1")
    assert [c.item_id for c in store.list_reviews()] == ["a", "b"]
    assert [c.item_id for c in store.list_reviews(kind="provenance")] == ["b"]
    assert [c.item_id for c in store.list_reviews(status="resolved")] == ["d"]
    assert [c.item_id for c in store.list_reviews(status=None)] == ["a", "b", "d"]
    assert [c.case_id for c in store.list_reviews(limit=1, offset=1)] == [b.case_id]
    assert store.list_reviews(limit=1)[0].case_id == a.case_id
    for bad, field in (({"status": "closed"}, "status"), ({"limit": 0}, "limit")):
        with pytest.raises(InvalidInput) as error:
            store.list_reviews(**bad)
        assert error.value.field == field


def test_a_resolution_sent_twice_is_applied_once(store):
    case = new_case(store)
    first = store.resolve_review(
        case.case_id, grade="A", counterfeit=False, grader_id="g1", note="clean"
    )
    assert (first.review_status, first.final_grade, first.final_counterfeit) == (
        "resolved",
        "A",
        False,
    )
    assert first.resolution.grader_id == "g1" and first.grade == "A"
    again = store.resolve_review(case.case_id, grade="A", counterfeit=0, grader_id="g2")
    assert again == first
    assert count(store, ReviewResolution) == 1
    assert [e.kind for e in store.events(case.case_id)].count("review_resolved") == 1
    with pytest.raises(ConflictError, match="already resolved by g1 as grade A"):
        store.resolve_review(case.case_id, grade="C", counterfeit=False, grader_id="g2")
    assert store.get_case(case.case_id).final_grade == "A"


def test_resolving_unknown_unqueued_or_bad_input_is_refused(store):
    with pytest.raises(NotFoundError):
        store.resolve_review("no-such-case", grade="A", counterfeit=False, grader_id="g1")
    plain = new_case(store, kinds=())
    with pytest.raises(ConflictError, match="not queued"):
        store.resolve_review(plain.case_id, grade="A", counterfeit=False, grader_id="g1")
    queued = new_case(store, "u2")
    for bad, field in (
        ({"grade": "D"}, "grade"),
        ({"counterfeit": "maybe"}, "counterfeit"),
        ({"grader_id": " "}, "grader_id"),
    ):
        args = {"grade": "A", "counterfeit": False, "grader_id": "g1"} | bad
        with pytest.raises(InvalidInput) as error:
            store.resolve_review(queued.case_id, **args)
        assert error.value.field == field
    assert count(store, ReviewResolution) == 0


def test_a_resolution_can_reroute_and_reprice_the_case(store):
    case = new_case(store)
    resolved = store.resolve_review(
        case.case_id,
        grade="A",
        counterfeit=False,
        grader_id="g1",
        route="resell",
        reasons=["resell_profitable"],
        price_result={"recommended_price": 150.0, "floor_price": 81.25},
    )
    assert (resolved.route, resolved.recommended_price) == ("resell", 150.0)
    assert store.events(case.case_id)[-1].payload["route"] == "resell"


def test_a_lost_race_is_answered_as_the_second_resolution(store, monkeypatch):
    """The unique key catches a resolution the check did not see; the store re-reads."""
    case = new_case(store)
    store.resolve_review(case.case_id, grade="B", counterfeit=True, grader_id="g1")
    real, calls = operations.existing_resolution, []

    def stale_once(session, case_id):
        calls.append(case_id)
        return None if len(calls) == 1 else real(session, case_id)

    monkeypatch.setattr(operations, "existing_resolution", stale_once)
    again = store.resolve_review(case.case_id, grade="B", counterfeit=True, grader_id="g2")
    assert len(calls) == 2 and again.resolution.grader_id == "g1"
    calls.clear()
    with pytest.raises(ConflictError):
        store.resolve_review(case.case_id, grade="A", counterfeit=True, grader_id="g2")
    assert count(store, ReviewResolution) == 1
    assert [e.kind for e in store.events(case.case_id)].count("review_resolved") == 1


def test_two_sessions_cannot_both_insert_a_resolution(store):
    case = new_case(store)
    row = {"case_id": case.case_id, "grade": "A", "counterfeit": False, "grader_id": "g"}
    with Session(store.engine) as one, Session(store.engine) as two:
        one.add(ReviewResolution(**row, resolved_at=utcnow()))
        one.commit()
        two.add(ReviewResolution(**row, resolved_at=utcnow()))
        with pytest.raises(IntegrityError):
            two.commit()


@pytest.mark.parametrize("grades", [("A", "A"), ("A", "C")])
def test_concurrent_resolutions_from_two_engines_apply_once(store, db_url, grades):
    case = new_case(store)
    url, schema = db_url
    engines = [make_engine(url, schema=schema) for _ in grades]
    barrier, results = threading.Barrier(len(grades)), {}

    def resolve(pos, grade):
        other = Store(engines[pos], store.photos)
        barrier.wait()
        try:
            results[pos] = other.resolve_review(
                case.case_id, grade=grade, counterfeit=False, grader_id=f"g{pos}"
            )
        except ConflictError as exc:
            results[pos] = exc

    threads = [threading.Thread(target=resolve, args=a) for a in enumerate(grades)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for engine in engines:
        engine.dispose()
    conflicts = [r for r in results.values() if isinstance(r, ConflictError)]
    assert len(results) == 2 and len(conflicts) == (0 if grades[0] == grades[1] else 1)
    assert count(store, ReviewResolution) == 1
    assert [e.kind for e in store.events(case.case_id)].count("review_resolved") == 1


@pytest.mark.parametrize("kind", ["resolution", "decision"])
def test_a_repeat_that_read_the_case_before_the_winner_committed_answers_the_winner(
    store, db_url, backend, monkeypatch, kind
):
    """Two replicas send the same decision: the one that loaded the case first answers the
    committed decision, not the case as it was before it (PostgreSQL reads each statement
    afresh; SQLite's writers take the lock before reading, so they never see a stale case)."""
    if backend == "sqlite":
        pytest.skip("SQLite write transactions begin IMMEDIATE: no writer reads a stale case")
    resolving = kind == "resolution"
    case = new_case(store) if resolving else new_case(store, kinds=())
    engine = make_engine(db_url[0], schema=db_url[1])
    other = Store(engine, store.photos)
    lookup = "existing_resolution" if resolving else "existing_decision"
    real, calls = getattr(operations, lookup), []

    def winner_commits_first(session, case_id):  # this session has loaded the case already
        if not calls:
            calls.append(case_id)
            if resolving:
                other.resolve_review(case_id, grade="B", counterfeit=False, grader_id="g1")
            else:
                other.decide_pricing(case_id, action="approve", analyst_id="a1")
        return real(session, case_id)

    monkeypatch.setattr(operations, lookup, winner_commits_first)
    try:
        if resolving:
            again = store.resolve_review(case.case_id, grade="B", counterfeit=False, grader_id="g2")
        else:
            again = store.decide_pricing(case.case_id, action="approve", analyst_id="a2")
    finally:
        engine.dispose()
    if resolving:
        assert (again.final_grade, again.review_status) == ("B", "resolved")
        assert again.resolution.grader_id == "g1"
    else:
        assert (again.pricing_status, again.final_price) == ("approved", 120.0)
        assert again.decision.analyst_id == "a1"
    assert calls == [case.case_id]
    assert again == store.get_case(case.case_id)


def test_an_override_below_the_floor_is_refused_and_audited(store):
    case = new_case(store, kinds=())
    with pytest.raises(PolicyViolation, match=r"below the floor price 81\.25") as error:
        store.decide_pricing(
            case.case_id, action="override", price=70.0, reason="clearance", analyst_id="a1"
        )
    assert (error.value.price, error.value.floor_price) == (70.0, 81.25)
    after = store.get_case(case.case_id)
    assert (after.pricing_status, after.final_price, after.decision) == ("pending", None, None)
    refused = store.events(case.case_id)[-1]
    assert (refused.kind, refused.actor, refused.payload["price"]) == ("pricing_refused", "a1", 70)
    with pytest.raises(PolicyViolation, match=r"floor price 100\.00"):  # the service's floor wins
        store.decide_pricing(
            case.case_id,
            action="override",
            price=90.0,
            reason="x",
            analyst_id="a1",
            floor_price=100.0,
        )
    with pytest.raises(PolicyViolation, match=r"approve price 120\.00 is below the floor"):
        store.decide_pricing(case.case_id, action="approve", analyst_id="a1", floor_price=130.0)
    assert count(store, PricingDecision) == 0


def test_a_decision_sent_twice_is_applied_once(store):
    case = new_case(store, kinds=())
    first = store.decide_pricing(case.case_id, action="approve", analyst_id="a1")
    assert (first.pricing_status, first.final_price, first.decision.price) == (
        "approved",
        120.0,
        120.0,
    )
    assert store.decide_pricing(case.case_id, action="approve", analyst_id="a2") == first
    assert count(store, PricingDecision) == 1
    with pytest.raises(ConflictError, match=r"already decided by a1: approve at 120\.00"):
        store.decide_pricing(
            case.case_id, action="override", price=130.0, reason="demand", analyst_id="a2"
        )
    other = new_case(store, "u2", kinds=())
    args = {"action": "override", "price": 99.5, "reason": "demand", "analyst_id": "a1"}
    once = store.decide_pricing(other.case_id, **args)
    assert store.decide_pricing(other.case_id, **args) == once
    assert (once.pricing_status, once.final_price) == ("overridden", 99.5)
    assert [e.kind for e in store.events(other.case_id)] == ["case_created", "pricing_overridden"]


def test_pricing_queue_and_decision_errors(store):
    in_review = new_case(store, "r")
    ready = new_case(store, "p", kinds=())
    unpriced = new_case(store, "n", kinds=(), recommended=None)
    assert unpriced.pricing_status == "not_applicable"
    assert [c.case_id for c in store.pending_pricing()] == [ready.case_id]
    both = store.pending_pricing(include_in_review=True)
    assert [c.case_id for c in both] == [in_review.case_id, ready.case_id]
    with pytest.raises(ConflictError, match="no price"):
        store.decide_pricing(unpriced.case_id, action="approve", analyst_id="a1")
    with pytest.raises(NotFoundError):
        store.decide_pricing("nope", action="approve", analyst_id="a1")
    for bad, field in (
        ({"action": "reject"}, "action"),
        ({"action": "override", "reason": "x"}, "price"),
        ({"action": "override", "price": 100.0}, "reason"),
        ({"action": "approve", "price": 99.0}, "price"),
        ({"analyst_id": None}, "analyst_id"),
    ):
        with pytest.raises(InvalidInput) as error:
            store.decide_pricing(ready.case_id, **({"action": "approve", "analyst_id": "a"} | bad))
        assert error.value.field == field


def test_the_audit_trail_keeps_every_change_in_order(store):
    case = new_case(store)
    store.resolve_review(case.case_id, grade="A", counterfeit=False, grader_id="g1")
    store.resolve_review(case.case_id, grade="A", counterfeit=False, grader_id="g1")
    with pytest.raises(PolicyViolation):
        store.decide_pricing(case.case_id, action="override", price=1.0, reason="x", analyst_id="a")
    store.decide_pricing(case.case_id, action="approve", analyst_id="a1")
    store.record_outcome(case_id=case.case_id, sold_price=118.0, days_listed=9, sold=1)
    events = store.events(case.case_id)
    assert [(e.kind, e.actor) for e in events] == [
        ("case_created", "intake-key"),
        ("review_resolved", "g1"),
        ("pricing_refused", "a"),
        ("pricing_approved", "a1"),
        ("outcome_recorded", None),
    ]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))
    assert events[0].payload["review_kinds"] == ["grade_uncertain"]
    with pytest.raises(NotFoundError):
        store.events("nope")
