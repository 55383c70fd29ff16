"""A few months of synthetic program history: cases, grader and pricing decisions, outcomes.

Units and their truth come from the generator (`make_items`, `make_outcomes`); each unit is
then taken through the service's life, with the same numbers the service stores:

1. Intake at a time spread over the window; the model grade is the true grade, or a
   neighbour for a share of units, and asks for review more often when it is wrong.
   Counterfeits go to authentication and, once a grader confirms them, to scrap.
2. Review: one of four graders, each with an accuracy of their own, gives the grade in force;
   a share of resolved cases is graded again, blind, by another grader (the double-grading
   sample, `serving.store.second_grades.in_sample`).
3. Pricing at the grade in force: a P10/P50/P90 band around the true value, the guardrails'
   floor and ceiling (`models.guardrails`, the default policy), the recommended price inside
   them; units whose floor is above P90 are liquidated (or scrapped when liquidation
   recovers under `SCRAP_BELOW`); returns in grade A for a restock reason are restocked; a
   share of B and C units is refurbished one grade up.
4. One of three analysts approves or overrides the price (each with a habit of their own); a
   refurbished unit, priced as-is at intake, is repriced at its better grade by an override.
5. The unit lists at its price and sells after a Weibull time at the generator's hazard for
   that price (at the better grade's value when refurbished), or is still unsold at the end
   of the window (censored); it sells at its price less an accepted offer's small discount,
   never below the floor. Liquidated units sell in bulk within a week at the liquidation value.

The same arguments give the same rows. Nothing here touches a database: `write_history` in
`training.synth.history_store` stores the rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.schema import GRADES
from models.guardrails import ceiling_price, floor_price, margin, margin_pct
from models.policy import Policy
from serving.store.second_grades import in_sample
from training.synth.items import make_items
from training.synth.outcomes import make_outcomes

HISTORY_STREAM = 7
"""Mixed into the seed so the history draws independently of the items and outcomes."""
MODEL_ERROR = 0.12
"""Share of units whose model grade is a neighbour of the true grade."""
REVIEW_IF_RIGHT, REVIEW_IF_WRONG = 0.12, 0.6
GRADERS = {"g-ana": 0.95, "g-ben": 0.90, "g-cleo": 0.84, "g-dev": 0.92}
"""Grader id -> the share of units each grades right (else a neighbouring grade)."""
ANALYSTS = {"a-kim": (0.85, 0.0), "a-lee": (0.6, 0.08), "a-mo": (0.7, -0.06)}
"""Analyst id -> (share approved, mean relative change of an override)."""
GRADE_STEP = 0.85
"""Value ratio of one grade worse (the band at another grade than the true one)."""
BAND_NOISE_SD, BAND_HALF_WIDTH = 0.08, 0.18
REFURB_SHARE = 0.15
SCRAP_BELOW = 5.0
OFFER_DISCOUNT_SD = 0.03
"""Sales close at the listed price less an accepted offer's discount (never below the floor)."""
UNDECIDED_SHARE = 0.03
"""Share of priced units still waiting for an analyst at the end of the window."""
SECOND_GRADE_DONE = 0.8
"""Share of double-graded cases whose second grade is in by the end of the window."""


@dataclass
class History:
    """Rows for the store's tables (column names as in `serving.store.tables`)."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    second_gradings: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def _neighbour(grade: int, rng: np.random.Generator) -> int:
    if grade == 0:
        return 1
    if grade == 2:
        return 1
    return grade + (1 if rng.random() < 0.5 else -1)


def _clean(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _item(row: pd.Series) -> dict[str, Any]:
    targets = {"sold_price", "days_listed", "sold", "list_price", "grade", "listed_date"}
    return {k: _clean(v) for k, v in row.items() if k not in targets and _clean(v) is not None}


class _Writer:
    """Turns one unit's simulated life into rows."""

    def __init__(self, history: History, rng: np.random.Generator, policy: Policy):
        self.h, self.rng, self.policy = history, rng, policy

    def event(self, case_id: str, kind: str, actor: str | None, at: dt.datetime, **payload):
        self.h.events.append(
            {"case_id": case_id, "kind": kind, "actor": actor, "payload": payload, "at": at}
        )


def draw_history(
    cases: int,
    *,
    end: dt.date,
    months: int = 4,
    seed: int = 0,
    double_grading_share: float = 0.05,
    counterfeit_rate: float = 0.02,
    progress: Callable[..., Iterable] | None = None,
) -> History:
    """Draw `cases` units' history over the `months` (of 30 days) ending on `end` (see notes).

    `progress`, a `progress(iterable, total)` wrapper, is shown over the units.

    Raises:
        ValueError: a negative count, no months, or a share outside [0, 1].
    """
    if cases < 0 or months < 1 or not 0 <= double_grading_share <= 1:
        raise ValueError("cases must be >= 0, months >= 1, double_grading_share within [0, 1]")
    rng = np.random.default_rng([HISTORY_STREAM, seed])
    policy = Policy()
    items = make_items(cases, counterfeit_rate=counterfeit_rate, seed=seed)
    items["item_id"] = [f"h{seed}-{i}" for i in items["item_id"]]
    outcomes, truth = make_outcomes(items, seed=seed)
    units = outcomes.merge(truth, on="item_id").set_index("item_id")
    end_at = dt.datetime.combine(end, dt.time(23, 59), tzinfo=dt.UTC)
    window_s = months * 30 * 86400
    history = History()
    writer = _Writer(history, rng, policy)
    rows = items.itertuples(index=False)
    for row in progress(rows, len(items)) if progress is not None else rows:
        created = end_at - dt.timedelta(seconds=float(rng.uniform(0, window_s)))
        case_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        if row.counterfeit:
            _counterfeit(writer, case_id, row, created)
        else:
            _unit(
                writer,
                case_id,
                units.loc[row.item_id],
                row.item_id,
                created,
                end_at,
                double_grading_share,
            )
    history.cases.sort(key=lambda c: c["created_at"])
    return history


def _grade_result(grade: str, wrong: bool, review: bool, counterfeit: bool) -> dict[str, Any]:
    confidence = 0.55 if review else (0.8 if wrong else 0.93)
    rest = (1 - confidence) / 2
    probabilities = {g: (confidence if g == grade else rest) for g in GRADES}
    return {
        "grade": grade,
        "probabilities": probabilities,
        "confidence": confidence,
        "prediction_set": [g for g, p in probabilities.items() if p >= rest and review] or [grade],
        "needs_review": review,
        "counterfeit": {
            "score": 0.9 if counterfeit else 0.05,
            "flagged": counterfeit,
            "threshold": 0.5,
        },
        "photos": [],
        "model_name": "synthetic-history",
        "model_version": None,
    }


def _base_case(case_id: str, item_id: str, item: dict, created: dt.datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "created_at": created,
        "updated_at": created,
        "item_id": item_id,
        "category": item.get("category"),
        "brand": item.get("brand"),
        "order_id": None,
        "serial_number": None,
        "item": item,
        "final_grade": None,
        "final_counterfeit": None,
        "recommended_price": None,
        "floor_price": None,
        "final_price": None,
        "model_versions": {},
    }


def _counterfeit(w: _Writer, case_id: str, row: Any, created: dt.datetime) -> None:
    item = {"item_id": row.item_id, "category": row.category, "brand": row.brand}
    case = _base_case(case_id, row.item_id, item, created)
    resolved = created + dt.timedelta(hours=float(w.rng.uniform(1, 30)))
    grader = str(w.rng.choice(list(GRADERS)))
    case.update(
        grade_result=_grade_result(row.grade, False, False, True),
        price_result=None,
        route="scrap",
        reasons=["counterfeit_flagged"],
        review_status="resolved",
        final_grade=row.grade,
        final_counterfeit=True,
        pricing_status="not_applicable",
        updated_at=resolved,
        kinds=["counterfeit_flagged"],
    )
    w.h.cases.append(case)
    w.h.resolutions.append(
        {
            "case_id": case_id,
            "grade": row.grade,
            "counterfeit": True,
            "grader_id": grader,
            "note": "counterfeit confirmed",
            "resolved_at": resolved,
        }
    )
    w.event(case_id, "case_created", "intake", created, route="authenticate")
    w.event(case_id, "review_resolved", grader, resolved, grade=row.grade, counterfeit=True)


def _unit(
    w: _Writer,
    case_id: str,
    u: pd.Series,
    item_id: str,
    created: dt.datetime,
    end_at: dt.datetime,
    share: float,
) -> None:
    rng = w.rng
    true = GRADES.index(u["grade"])
    wrong = rng.random() < MODEL_ERROR
    model = _neighbour(true, rng) if wrong else true
    review = rng.random() < (REVIEW_IF_WRONG if wrong else REVIEW_IF_RIGHT)
    item = _item(u.rename(None))
    item["item_id"] = item_id
    case = _base_case(case_id, item_id, item, created)
    case["grade_result"] = _grade_result(GRADES[model], wrong, review, False)
    case["kinds"] = ["grade_uncertain"] if review else []
    w.event(case_id, "case_created", "intake", created, route="review" if review else "listed")
    grade, at = model, created
    if review:
        grader = str(rng.choice(list(GRADERS)))
        grade = true if rng.random() < GRADERS[grader] else _neighbour(true, rng)
        at = created + dt.timedelta(hours=float(rng.uniform(1, 30)))
        w.h.resolutions.append(
            {
                "case_id": case_id,
                "grade": GRADES[grade],
                "counterfeit": False,
                "grader_id": grader,
                "note": None,
                "resolved_at": at,
            }
        )
        w.event(case_id, "review_resolved", grader, at, grade=GRADES[grade], counterfeit=False)
        case.update(final_grade=GRADES[grade], final_counterfeit=False, updated_at=at)
        if in_sample(case_id, share):
            _second_grade(w, case_id, true, grader, at, end_at)
    case["review_status"] = "resolved" if review else "none"
    _price_and_sell(w, case, u, GRADES[grade], true, at, end_at)
    w.h.cases.append(case)


def _second_grade(
    w: _Writer, case_id: str, true: int, first: str, at: dt.datetime, end_at: dt.datetime
) -> None:
    rng = w.rng
    requested = at + dt.timedelta(minutes=1)
    row = {
        "case_id": case_id,
        "status": "open",
        "requested_at": requested,
        "grade": None,
        "counterfeit": None,
        "grader_id": None,
        "note": None,
        "resolved_at": None,
    }
    w.event(case_id, "second_grading_requested", first, requested)
    done = requested + dt.timedelta(hours=float(rng.uniform(2, 72)))
    if rng.random() < SECOND_GRADE_DONE and done < end_at:
        grader = str(rng.choice([g for g in GRADERS if g != first]))
        grade = true if rng.random() < GRADERS[grader] else _neighbour(true, rng)
        row.update(
            status="resolved",
            grade=GRADES[grade],
            counterfeit=False,
            grader_id=grader,
            resolved_at=done,
        )
        w.event(case_id, "second_grading_resolved", grader, done, grade=GRADES[grade])
    w.h.second_gradings.append(row)


def _number(value: Any, default: float = 0.0) -> float:
    value = _clean(value)
    return default if value is None else float(value)


def _price_and_sell(
    w: _Writer,
    case: dict[str, Any],
    u: pd.Series,
    grade: str,
    true: int,
    at: dt.datetime,
    end_at: dt.datetime,
) -> None:
    rng, settings = w.rng, w.policy.for_category(u["category"])
    value = float(u["market_value"]) * GRADE_STEP ** (GRADES.index(grade) - true)
    p50 = value * float(np.exp(rng.normal(0, BAND_NOISE_SD)))
    band = {
        "p10": round(p50 * (1 - BAND_HALF_WIDTH), 2),
        "p50": round(p50, 2),
        "p90": round(p50 * (1 + BAND_HALF_WIDTH), 2),
    }
    refurb = _number(u["refurb_cost"])
    cost = _number(u["acquisition_cost"]) + refurb + _number(u["logistics_cost"])
    floor = float(floor_price(cost, settings.min_margin, settings.fee_rate))
    new_price = _clean(u["new_price"])
    ceiling = (
        float(ceiling_price(new_price, settings.max_fraction_of_new[grade]))
        if new_price
        else np.inf
    )
    listable = floor <= min(band["p90"], ceiling)
    restock = (
        u["source"] == "return"
        and grade == "A"
        and u.get("return_reason") in ("changed_mind", "sizing")
    )
    if not listable:
        liquidation = settings.liquidation_fraction * band["p10"]
        route = "liquidate" if liquidation >= SCRAP_BELOW else "scrap"
        reasons = ["liquidation_recovers_value" if route == "liquidate" else "no_liquidation_value"]
    elif restock:
        route, reasons = "restock", ["restock_unopened_return"]
    elif grade != "A" and refurb > 0 and rng.random() < REFURB_SHARE:
        route, reasons = "refurbish", ["refurb_pays"]
    else:
        route, reasons = "resell", ["resell_profitable"]
    recommended = round(min(max(band["p50"], floor), ceiling), 2) if listable else None
    case.update(route=route, reasons=reasons, floor_price=round(floor, 2))
    case["price_result"] = {
        "item_id": case["item_id"],
        "grade": grade,
        "price": band,
        "days_to_sell": {"p50": None, "p90": None},
        "recommended_price": recommended,
        "floor_price": round(floor, 2),
        "ceiling_price": None if not np.isfinite(ceiling) else round(ceiling, 2),
        "margin": None
        if recommended is None
        else round(float(margin(recommended, cost, settings.fee_rate)), 2),
        "margin_pct": None
        if recommended is None
        else round(float(margin_pct(recommended, cost, settings.fee_rate)), 4),
        "route": route,
        "reasons": reasons,
        "list_check": None,
        "contributions": [],
        "model_versions": {},
    }
    case["recommended_price"] = recommended
    case["pricing_status"] = "pending" if recommended is not None else "not_applicable"
    if route == "liquidate":
        days = float(rng.uniform(1, 7))
        sold_at = at + dt.timedelta(days=days)
        if sold_at < end_at:
            price = round(settings.liquidation_fraction * band["p10"], 2)
            _outcome(w, case, price, days, True, sold_at)
        return
    if recommended is None or rng.random() < UNDECIDED_SHARE:
        return
    analyst = str(rng.choice(list(ANALYSTS)))
    approve_share, change = ANALYSTS[analyst]
    decided = at + dt.timedelta(hours=float(rng.uniform(1, 48)))
    if decided >= end_at:
        return
    if route == "refurbish":  # priced as-is at intake; repriced at the better grade once done
        better = GRADES[GRADES.index(grade) - 1]
        top = (
            float(ceiling_price(new_price, settings.max_fraction_of_new[better]))
            if new_price
            else np.inf
        )
        action, price = "override", round(max(floor, min(band["p50"] / GRADE_STEP, top)), 2)
    elif rng.random() < approve_share:
        action, price = "approve", recommended
    else:
        step = change + rng.normal(0, 0.04)
        action, price = "override", round(max(floor, min(recommended * (1 + step), ceiling)), 2)
    w.h.decisions.append(
        {
            "case_id": case["case_id"],
            "action": action,
            "price": price,
            "reason": None if action == "approve" else "market check",
            "analyst_id": analyst,
            "decided_at": decided,
        }
    )
    w.event(
        case["case_id"],
        f"pricing_{'approved' if action == 'approve' else 'overridden'}",
        analyst,
        decided,
        action=action,
        price=price,
    )
    case.update(
        pricing_status="approved" if action == "approve" else "overridden",
        final_price=price,
        updated_at=decided,
    )
    sell_value = value / GRADE_STEP if route == "refurbish" else value
    ratio = price / sell_value
    rate = (
        float(u["base_hazard"])
        * float(u["season_factor"])
        * float(u["demand_factor"])
        * ratio ** -float(u["price_elasticity"])
    )
    time = (-np.log(rng.random())) ** (1 / float(u["weibull_shape"])) / rate
    open_days = (end_at - decided).total_seconds() / 86400
    if time <= open_days:
        accepted = price * (1 - abs(rng.normal(0, OFFER_DISCOUNT_SD)))  # an accepted offer
        sold_price = round(max(accepted, min(price, floor)), 2)
        _outcome(
            w, case, sold_price, round(time, 1), True, decided + dt.timedelta(days=float(time))
        )
    else:
        _outcome(w, case, None, round(open_days, 1), False, end_at)


def _outcome(
    w: _Writer, case: dict, price: float | None, days: float, sold: bool, at: dt.datetime
) -> None:
    w.h.outcomes.append(
        {
            "case_id": case["case_id"],
            "item_id": case["item_id"],
            "sold_price": price,
            "days_listed": days,
            "sold": int(sold),
            "recorded_at": at,
        }
    )
    w.event(
        case["case_id"],
        "outcome_recorded",
        "intake",
        at,
        sold=int(sold),
        sold_price=price,
        days_listed=days,
    )
