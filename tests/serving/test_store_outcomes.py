"""Outcomes, open serial numbers and the retraining exports, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import math
import threading

import pytest

from features.photos import load_photo_dataset
from features.schema import MANIFEST_COLUMNS, OUTCOME_COLUMNS
from features.tables import check_table, write_table
from serving.store import operations
from serving.store.errors import InvalidInput, NotFoundError
from serving.store.tables import CaseEvent, Outcome
from tests.serving.store_helpers import count, new_case


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"sold": 2}, "sold", "must be 0 or 1"),
        ({"sold": "yes"}, "sold", "must be 0 or 1"),
        ({"days_listed": -1}, "days_listed", "negative"),
        ({"days_listed": math.nan}, "days_listed", "finite"),
        ({"days_listed": None}, "days_listed", "required"),
        ({"sold_price": None}, "sold_price", "required when sold is 1"),
        ({"sold_price": -5.0}, "sold_price", "negative"),
        ({"sold": 0}, "sold_price", "must be empty when sold is 0"),
        ({"case_id": None}, "case_id", "give the case_id or the item_id"),
        ({"item_id": "u9"}, "item_id", "is for item 'u1'"),
    ],
)
def test_outcome_validation_names_the_field(store, values, field, message):
    case = new_case(store)
    args = {"case_id": case.case_id, "sold_price": 100.0, "days_listed": 3, "sold": 1} | values
    with pytest.raises(InvalidInput, match=message) as error:
        store.record_outcome(**args)
    assert error.value.field == field
    assert count(store, Outcome) == 0


def test_outcomes_by_case_or_item_are_stored_once_per_change(store):
    old = new_case(store, "u1")
    newest = new_case(store, "u1", seed=10)
    unsold = store.record_outcome(item_id="u1", sold_price=None, days_listed=30, sold=0)
    assert (unsold.case_id, unsold.item_id, unsold.sold) == (newest.case_id, "u1", 0)
    assert store.record_outcome(item_id="u1", sold_price=None, days_listed=30, sold=False) == unsold
    sold = store.record_outcome(
        case_id=newest.case_id, sold_price=95.5, days_listed=41, sold=True, actor="ops"
    )
    assert sold.id != unsold.id and sold.sold_price == 95.5
    assert count(store, Outcome) == 2
    assert [e.kind for e in store.events(newest.case_id)].count("outcome_recorded") == 2
    assert store.events(newest.case_id)[-1].actor == "ops"
    assert [e.kind for e in store.events(old.case_id)] == ["case_created"]
    with pytest.raises(NotFoundError):
        store.record_outcome(item_id="ghost", sold_price=None, days_listed=1, sold=0)
    with pytest.raises(NotFoundError):
        store.record_outcome(case_id="ghost", sold_price=None, days_listed=1, sold=0)


def test_the_same_outcome_from_two_replicas_at_once_is_stored_once(store, monkeypatch):
    """Both writers find the case, then wait for each other before reading the last outcome:
    without the case-row lock both would see none and add one each (PostgreSQL)."""
    case = new_case(store, "u1")
    barrier, failed = threading.Barrier(2, timeout=1), []
    find_case = operations.outcome_case

    def found_then_wait(*args):
        found = find_case(*args)
        # broken when the other writer holds the lock (SQLite: the database) until it commits
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return found

    def record() -> None:
        try:
            store.record_outcome(case_id=case.case_id, sold_price=99.0, days_listed=3, sold=1)
        except Exception as exc:  # reported by the assertion below
            failed.append(exc)

    monkeypatch.setattr(operations, "outcome_case", found_then_wait)
    threads = [threading.Thread(target=record) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failed == []
    assert count(store, Outcome) == 1
    assert [e.kind for e in store.events(case.case_id)].count("outcome_recorded") == 1


def test_open_serials_are_those_of_cases_still_in_progress(store):
    in_review = new_case(store, "a", serial_number=" sn-1 ")
    pricing = new_case(store, "b", kinds=(), serial_number="SN-2")
    new_case(store, "c", kinds=(), recommended=None, serial_number="SN-3")  # nothing pending
    new_case(store, "d", serial_number=None)
    sold = new_case(store, "e", kinds=(), serial_number="SN-5")
    store.record_outcome(case_id=sold.case_id, sold_price=80.0, days_listed=2, sold=1)
    assert store.open_serials() == {"SN-1", "SN-2"}
    assert store.open_serials(exclude_case_id=in_review.case_id) == {"SN-2"}
    store.decide_pricing(pricing.case_id, action="approve", analyst_id="a1")
    store.resolve_review(in_review.case_id, grade="A", counterfeit=False, grader_id="g1")
    assert store.open_serials() == {"SN-1"}  # still waiting for its price decision


def test_outcomes_export_follows_the_outcomes_contract(store):
    reviewed = new_case(store, "u1", grade="B")
    store.resolve_review(reviewed.case_id, grade="A", counterfeit=False, grader_id="g1")
    auto = new_case(store, "u2", kinds=(), grade="C", attr_colour="red")
    new_case(store, "u3")  # no outcome: not exported
    store.record_outcome(case_id=reviewed.case_id, sold_price=None, days_listed=20, sold=0)
    store.record_outcome(case_id=reviewed.case_id, sold_price=130.0, days_listed=26, sold=1)
    store.record_outcome(item_id="u2", sold_price=None, days_listed=60, sold=0)
    frame = store.export_outcomes()
    _, problems = check_table(frame, OUTCOME_COLUMNS, file="export", unique=("item_id",))
    assert problems == []
    assert list(frame["item_id"]) == ["u1", "u2"]
    assert list(frame["grade"]) == ["A", "C"]
    assert list(frame["grade_source"]) == ["grader", "model"]
    assert frame.loc[0, "sold_price"] == 130.0 and math.isnan(frame.loc[1, "sold_price"])
    assert list(frame["sold"]) == [1.0, 0.0] and list(frame["days_listed"]) == [26.0, 60.0]
    assert frame["new_price"].dtype == "float64" and frame.loc[0, "benchmark_ebay"] == 150.0
    assert list(frame["attr_storage_gb"]) == [128.0, 128.0]
    assert frame.loc[1, "attr_colour"] == "red" and frame.loc[1, "case_id"] == auto.case_id
    columns = list(frame.columns)
    assert columns[:3] == ["item_id", "category", "grade"]
    assert columns[-5:] == ["sold_price", "days_listed", "sold", "case_id", "grade_source"]


def test_empty_exports_still_have_their_columns(store):
    outcomes = store.export_outcomes()
    assert len(outcomes) == 0 and {"item_id", "category", "grade", "sold"} <= set(outcomes)
    decisions = store.export_grader_decisions()
    assert len(decisions) == 0 and list(decisions.columns[:3]) == ["image", "item_id", "grade"]


def test_grader_export_is_a_photo_dataset_manifest(store, tmp_path):
    first = new_case(store, "u1", photos=2, seed=0)
    store.resolve_review(first.case_id, grade="C", counterfeit=True, grader_id="g1")
    again = new_case(store, "u1", photos=1, seed=20)  # the same item reviewed again later
    store.resolve_review(again.case_id, grade="B", counterfeit=False, grader_id="g2")
    other = new_case(store, "u2", photos=2, seed=40)
    store.resolve_review(other.case_id, grade="A", counterfeit=False, grader_id="g1")
    new_case(store, "u3", seed=60)  # still open: not exported
    frame = store.export_grader_decisions()
    _, problems = check_table(frame, MANIFEST_COLUMNS, file="export")
    assert problems == []
    assert list(zip(frame["item_id"], frame["grade"], frame["counterfeit"], strict=True)) == [
        ("u1", "B", 0.0),
        ("u2", "A", 0.0),
        ("u2", "A", 0.0),
    ]
    assert list(frame["model_grade"]) == ["B", "B", "B"]
    assert list(frame["position"]) == [0, 0, 1]
    write_table(frame, store.photos.root / "manifest.csv")
    dataset = load_photo_dataset(store.photos.root, decode=True)
    assert sorted(dataset["item_id"]) == ["u1", "u2", "u2"]
    absolute = store.export_grader_decisions(absolute_paths=True)
    expected = [str((store.photos.root / p).resolve()) for p in frame["image"]]
    assert list(absolute["image"]) == expected
    assert count(store, CaseEvent) == 7
