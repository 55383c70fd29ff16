"""The exports the retraining loop reads, on SQLite and PostgreSQL: `since` keeps what was
recorded from then on; the cases export carries the model's and the grader's grades, the band,
the newest outcome and every photo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tests.serving.store_helpers import new_case

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def test_since_filters_resolutions_and_outcomes(store):
    case = new_case(store, "u1")
    store.resolve_review(case.case_id, grade="A", counterfeit=False, grader_id="g1")
    store.record_outcome(case_id=case.case_id, sold_price=90.0, days_listed=4, sold=1)
    assert len(store.export_grader_decisions()) == 2  # two photos
    assert len(store.export_outcomes()) == 1
    assert store.export_grader_decisions(since=LATER).empty
    assert store.export_outcomes(since=LATER).empty
    naive = (LATER - dt.timedelta(days=2)).replace(tzinfo=None)  # naive times are UTC
    assert len(store.export_outcomes(since=naive)) == 1


def test_cases_export_for_monitoring(store):
    reviewed = new_case(store, "u1", photos=2)
    store.resolve_review(reviewed.case_id, grade="A", counterfeit=False, grader_id="g1")
    sold = new_case(store, "u2", kinds=(), photos=3, seed=5, benchmark_ebay=140.0)
    store.record_outcome(case_id=sold.case_id, sold_price=100.0, days_listed=7, sold=1)
    store.record_outcome(case_id=sold.case_id, sold_price=110.0, days_listed=9, sold=1)

    cases, photos = store.export_cases()
    rows = cases.set_index("item_id")
    assert list(cases["item_id"]) == ["u1", "u2"]
    assert (rows.loc["u1", "model_grade"], rows.loc["u1", "final_grade"]) == ("B", "A")
    assert rows.loc["u1", "resolved_at"] is not None and pd.isna(rows.loc["u1", "sold"])
    assert (rows.loc["u2", "sold_price"], rows.loc["u2", "days_listed"]) == (110.0, 9)
    assert rows.loc["u2", "age_months"] == 14 and rows.loc["u2", "benchmark_ebay"] == 140.0
    assert photos.groupby("case_id").size().to_dict() == {reviewed.case_id: 2, sold.case_id: 3}
    assert all(
        Path(store.photos.root).resolve() in Path(p).resolve().parents for p in photos["image"]
    )
    later, later_photos = store.export_cases(since=LATER)
    assert later.empty and later_photos.empty
