"""A store with known cases, decisions and outcomes, whose figures the analytics tests know.

Every unit costs 40 + 15 + 10 = 65 (the field's worked example). Cases c1 and c2 are dated
2026-01-15, the others 2026-02-10.

| case | category | route | model | grader | band | recommended (margin) | decision | outcome |
|---|---|---|---|---|---|---|---|---|
| c1 | phone | review | B | g1: B | 90/120/150 | 120 (55) | a1 approve | sold 120 after 10 d |
| c2 | phone | review | A | g1: B | 100/130/160 | 130 (65) | a2 override 110 | sold 100 after 45 d |
| c3 | sneaker | resell | C | - | 50/70/90 | 90 (25) | a1 override 100 | sold 80 after 70 d |
| c4 | sneaker | review | A | g2: A | 100/120/140 | 120 (55) | a2 approve | unsold 30, then 100 d |
| c5 | phone | liquidate | B | - | 35/45/60 | none | - | sold 30 after 5 d |
| c6 | watch | scrap | C | - | - | none | - | - |
| c7 | phone | refurbish | C | - | 80/100/120 at C | 100 (35) | a1 approve | sold 140 after 20 d |
| c8 | handbag | review | C | g2: B | - | none | - | - |
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from serving.store.records import PhotoInput
from serving.store.tables import Case
from serving.store.writes import Store
from tests.serving.store_helpers import photo_bytes

COSTS = {"acquisition_cost": 40.0, "refurb_cost": 15.0, "logistics_cost": 10.0}
JANUARY = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
FEBRUARY = dt.datetime(2026, 2, 10, 12, tzinfo=dt.UTC)


def _case(
    store: Store,
    name: str,
    category: str,
    route: str,
    model_grade: str,
    *,
    band: tuple[float, float, float] | None = None,
    recommended: float | None = None,
    margin: float | None = None,
    review: bool = False,
    source: str = "trade_in",
) -> str:
    price = None
    if band is not None:
        price = {
            "grade": model_grade,
            "price": dict(zip(("p10", "p50", "p90"), band, strict=True)),
            "recommended_price": recommended,
            "floor_price": 81.25,
            "margin": margin,
        }
    case = store.create_case(
        {"item_id": name, "category": category, "source": source, **COSTS},
        [PhotoInput(photo_bytes(int(name[1:])), f"{name}.png")],
        {"grade": model_grade, "confidence": 0.6},
        price,
        route,
        [route],
        ["grade_uncertain"] if review else [],
        {},
    )
    return case.case_id


def build_known_store(store: Store) -> dict[str, str]:
    """Fill an empty store with the cases of the module notes; their ids by name."""
    ids: dict[str, Any] = {}
    ids["c1"] = _case(
        store,
        "c1",
        "phone",
        "review",
        "B",
        band=(90, 120, 150),
        recommended=120,
        margin=55,
        review=True,
    )
    ids["c2"] = _case(
        store,
        "c2",
        "phone",
        "review",
        "A",
        band=(100, 130, 160),
        recommended=130,
        margin=65,
        review=True,
        source="return",
    )
    ids["c3"] = _case(
        store, "c3", "sneaker", "resell", "C", band=(50, 70, 90), recommended=90, margin=25
    )
    ids["c4"] = _case(
        store,
        "c4",
        "sneaker",
        "review",
        "A",
        band=(100, 120, 140),
        recommended=120,
        margin=55,
        review=True,
    )
    ids["c5"] = _case(store, "c5", "phone", "liquidate", "B", band=(35, 45, 60), source="buy_back")
    ids["c6"] = _case(store, "c6", "watch", "scrap", "C")
    ids["c7"] = _case(
        store, "c7", "phone", "refurbish", "C", band=(80, 100, 120), recommended=100, margin=35
    )
    ids["c8"] = _case(store, "c8", "handbag", "review", "C", review=True)

    store.resolve_review(ids["c1"], grade="B", counterfeit=False, grader_id="g1")
    store.resolve_review(ids["c2"], grade="B", counterfeit=False, grader_id="g1")
    store.resolve_review(ids["c4"], grade="A", counterfeit=False, grader_id="g2")
    store.resolve_review(ids["c8"], grade="B", counterfeit=False, grader_id="g2")

    store.decide_pricing(ids["c1"], action="approve", analyst_id="a1")
    store.decide_pricing(ids["c2"], action="override", price=110, reason="r", analyst_id="a2")
    store.decide_pricing(ids["c3"], action="override", price=100, reason="r", analyst_id="a1")
    store.decide_pricing(ids["c4"], action="approve", analyst_id="a2")
    store.decide_pricing(ids["c7"], action="approve", analyst_id="a1")

    for name, sold_price, days in (
        ("c1", 120, 10),
        ("c2", 100, 45),
        ("c3", 80, 70),
        ("c5", 30, 5),
        ("c7", 140, 20),
    ):
        store.record_outcome(case_id=ids[name], sold_price=sold_price, days_listed=days, sold=1)
    store.record_outcome(case_id=ids["c4"], sold_price=None, days_listed=30, sold=0)
    store.record_outcome(case_id=ids["c4"], sold_price=None, days_listed=100, sold=0)

    with store.engine.begin() as connection:
        for name, case_id in ids.items():
            when = JANUARY if name in ("c1", "c2") else FEBRUARY
            connection.execute(update(Case).where(Case.case_id == case_id).values(created_at=when))
    return ids
