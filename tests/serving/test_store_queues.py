"""The store's reads behind the pages and the listing feed, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from serving.store.errors import InvalidInput
from serving.store.records import PhotoInput
from tests.serving.store_helpers import item, new_case, photo_bytes

LISTED = ("resell", "refurbish")


def priced(store, item_id, *, margin, days, recommended):
    """A case out of review whose price waits, with a margin and days to sell in its result."""
    price = {
        "recommended_price": recommended, "floor_price": 10.0, "margin": margin,
        "days_to_sell": {"p50": days, "p90": 2 * days},
    }  # fmt: skip
    return store.create_case(
        item(item_id), [PhotoInput(photo_bytes())], {"grade": "B"}, price, "resell",
        ["resell_profitable"], [], {},
    )  # fmt: skip


def test_counts_per_kind_and_neighbours_follow_the_queue(store):
    a = new_case(store, "a", kinds=("grade_uncertain",))
    b = new_case(store, "b", kinds=("counterfeit_flagged", "grade_uncertain"))
    c = new_case(store, "c", kinds=("provenance_not_verified",))
    new_case(store, "d", kinds=())
    assert store.review_counts() == {
        "grade_uncertain": 2, "counterfeit_flagged": 1, "provenance_not_verified": 1, "all": 3,
    }  # fmt: skip
    assert store.review_neighbours(b.case_id) == (a.case_id, c.case_id)
    assert store.review_neighbours(b.case_id, "grade_uncertain") == (a.case_id, None)
    assert store.next_open_review(exclude=a.case_id) == b.case_id
    store.resolve_review(a.case_id, grade="A", counterfeit=False, grader_id="g")
    assert store.review_counts()["all"] == 2
    assert store.next_open_review("grade_uncertain") == b.case_id


@pytest.mark.parametrize(
    ("sort", "descending", "order"),
    [
        ("age", False, ["x", "y", "z"]),
        ("margin", True, ["y", "z", "x"]),
        ("days", False, ["z", "x", "y"]),
        ("value", True, ["x", "z", "y"]),
    ],
)
def test_the_pricing_queue_sorts_on_the_stored_result(store, sort, descending, order):
    priced(store, "x", margin=5.0, days=10.0, recommended=300.0)
    priced(store, "y", margin=50.0, days=20.0, recommended=100.0)
    priced(store, "z", margin=20.0, days=3.0, recommended=200.0)
    new_case(store, "in-review")  # waits for a grader: not in the queue
    cases, total = store.pricing_queue(sort, descending=descending, limit=10)
    assert [c.item_id for c in cases] == order and total == 3
    page, _ = store.pricing_queue(sort, descending=descending, limit=1, offset=1)
    assert [c.item_id for c in page] == order[1:2]
    with pytest.raises(InvalidInput, match="sort"):
        store.pricing_queue("colour")


def test_listed_cases_come_by_cursor_and_only_on_listing_routes(store):
    sold = new_case(store, "s", kinds=())
    kept = new_case(store, "k", kinds=())
    pending = new_case(store, "p", kinds=())
    store.decide_pricing(sold.case_id, action="approve", analyst_id="a")
    store.decide_pricing(kept.case_id, action="override", analyst_id="a", price=130.0, reason="r")
    found = store.listed_cases(LISTED)
    assert [c.item_id for _, c in found] == ["s", "k"]
    cursors = [cursor for cursor, _ in found]
    assert cursors == sorted(cursors)
    assert [c.item_id for _, c in store.listed_cases(LISTED, since=cursors[0])] == ["k"]
    assert store.listed_cases(LISTED, since=cursors[1]) == []
    assert store.listed_cases(("liquidate",)) == []
    assert [c.item_id for _, c in store.listed_cases(LISTED, case_id=kept.case_id)] == ["k"]
    assert pending.case_id not in {c.case_id for _, c in found}
    with pytest.raises(InvalidInput, match="since"):
        store.listed_cases(LISTED, since=-1)
