"""Routing: where each unit goes, first match wins, and why (codes with a sentence each).

SPEC order: authenticate (counterfeit flagged, or provenance not verified where the category
requires it), review (the grade needs a grader), restock (return, unopened, grade A, a restock
reason; listable), refurbish (price at the better grade minus the upgrade's cost beats the
price as-is by `min_refurb_uplift`, and the better grade is listable), resell (a price at or
above the floor is one the market pays), liquidate (not listable, liquidation value above
zero), scrap.

Pure numpy over rows; the price codes of `models.guardrails.choose_price` can be appended so a
route carries the reasons behind its price too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from features.provenance import PROVENANCE_REASONS
from features.schema import GRADES
from models.guardrails import LIST_VIOLATIONS, PRICE_REASONS, ArrayLike, join_codes

ROUTES: tuple[str, ...] = (
    "authenticate",
    "review",
    "restock",
    "refurbish",
    "resell",
    "liquidate",
    "scrap",
)
"""Routes in precedence order: the first whose condition holds wins."""

LISTING_ROUTES = frozenset({"restock", "refurbish", "resell"})
"""Routes that put a unit on sale (a counterfeit-flagged unit never takes one)."""

NOT_FINITE = "model_output_not_finite"
"""Reason code of a unit a model gave a non-finite output for (fails closed: no listing)."""

ROUTE_REASONS: dict[str, str] = {
    NOT_FINITE: "A model gave no usable number for this unit (its output was not finite: a "
    "corrupted or diverged model); it is not listed, a person must grade, authenticate and "
    "price it.",
    "counterfeit_flagged": "The counterfeit detector flagged this unit; a person must "
    "authenticate it before anything else happens to it.",
    "provenance_not_verified": "This category needs a verified sale and the unit's order or "
    "serial number could not be matched to the sales ledger.",
    "grade_uncertain": "The grade is uncertain (low confidence or several plausible grades); "
    "a grader must confirm it.",
    "restock_unopened_return": "An unopened grade-A return for a restock reason goes back to "
    "stock and is sold as new.",
    "refurb_pays": "Refurbishing to the better grade is predicted to add at least "
    "min_refurb_uplift after the refurbishment cost, and the better grade has a price inside "
    "its floor and ceiling.",
    "priced_at_refurbished_grade": "The price, floor, ceiling and margin are those of the grade "
    "the refurbishment reaches, with the upgrade's cost counted once.",
    "resell_profitable": "The market pays a price at or above the floor, so the unit is listed "
    "at the recommended price.",
    "liquidation_recovers_value": "No listing keeps the minimum margin, and liquidation still "
    "recovers some value.",
    "no_liquidation_value": "No listing keeps the minimum margin and liquidation would recover "
    "nothing, so the unit is scrapped.",
}
"""Codes that decide a route, with a sentence each."""

REASONS: dict[str, str] = {
    **ROUTE_REASONS,
    **PRICE_REASONS,
    **LIST_VIOLATIONS,
    **PROVENANCE_REASONS,
}
"""Every reason code regrade emits, with the sentence shown next to it."""

BETTER_GRADE: dict[str, str] = {worse: better for better, worse in pairwise(GRADES)}
"""The grade a refurbishment reaches: C -> B, B -> A."""


def better_grade(grades: ArrayLike) -> np.ndarray:
    """The next better grade per row (C -> B, B -> A), None for A and unknown grades."""
    return np.array([BETTER_GRADE.get(g) for g in np.asarray(grades, dtype=object)], dtype=object)


@dataclass(frozen=True)
class RouteInputs:
    """What routing needs per row; every field is an array of length n (scalars broadcast).

    Attributes:
        counterfeit_flagged: The detector's flag (bool).
        needs_review: The grader asks a person (bool).
        grade: "A", "B" or "C" (None when unknown).
        source: trade_in, buy_back, return, overstock or partner (None when unknown).
        opened: 1 opened, 0 unopened, NaN unknown (an unknown unit never restocks).
        return_reason: One of the contract's return reasons, or None.
        price_as_is: The price model's P50 at the unit's grade.
        price_better: P50 at the better grade (NaN for grade A or when not computed).
        refurb_cost: Cost of refurbishing to the better grade (NaN: refurbish not considered).
        listable: From `choose_price`: a price in [floor, ceiling] is one the market pays
            (needed to resell or restock).
        refurbish_listable: The same at the better grade (needed to refurbish).
        liquidation_value: From `liquidation_value`.
        provenance_required: The category needs a verified sale (bool).
        provenance_verified: The sale was verified (bool; ignored where not required).
        provenance_codes: Codes from `features.provenance.verify`, or "" (shown when required).
    """

    counterfeit_flagged: ArrayLike
    needs_review: ArrayLike
    grade: ArrayLike
    source: ArrayLike
    opened: ArrayLike
    return_reason: ArrayLike
    price_as_is: ArrayLike
    price_better: ArrayLike
    refurb_cost: ArrayLike
    listable: ArrayLike
    liquidation_value: ArrayLike
    refurbish_listable: ArrayLike = True
    provenance_required: ArrayLike = False
    provenance_verified: ArrayLike = True
    provenance_codes: ArrayLike = ""


_FIELDS = tuple(RouteInputs.__dataclass_fields__)


@dataclass(frozen=True)
class Routing:
    """Routes and reason codes per row.

    Attributes:
        route: One of `ROUTES` per row.
        codes: Reason codes per row joined by ';' (route codes first, then provenance and price).
        conditions: Route -> the rows where its condition holds (before precedence).
    """

    route: np.ndarray
    codes: np.ndarray
    conditions: dict[str, np.ndarray] = field(default_factory=dict)

    def reasons(self, row: int) -> list[dict[str, str]]:
        """Row `row`'s reasons as `{"code", "message"}` pairs, for people and the API."""
        return explain(self.codes[row])


def explain(codes: str | Collection[str]) -> list[dict[str, str]]:
    """Codes (a list, or joined by ';') with their sentence from `REASONS`."""
    if isinstance(codes, str):
        codes = [c for c in codes.split(";") if c]
    return [{"code": c, "message": REASONS.get(c, c)} for c in codes]


def _bools(values: ArrayLike, n: int) -> np.ndarray:
    raw = np.asarray(values)
    if raw.dtype.kind in "biuf":  # NaN (unknown) counts as False
        return np.broadcast_to(np.nan_to_num(raw.astype(float), nan=0.0) != 0.0, (n,))
    raw = np.broadcast_to(raw.astype(object), (n,))
    return np.array([bool(v) and v == v for v in raw], dtype=bool)


def _texts(values: ArrayLike, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=object), (n,))


def _floats(values: ArrayLike, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=float), (n,))


def _code_texts(values: ArrayLike, n: int) -> np.ndarray:
    raw = _texts(values, n)
    return np.array(["" if v is None or v != v else str(v) for v in raw], dtype=object)


def _members(values: np.ndarray, allowed: set[str]) -> np.ndarray:
    return np.array([v in allowed for v in values], dtype=bool)


def route(
    inputs: RouteInputs,
    *,
    min_refurb_uplift: ArrayLike,
    restock_reasons: Collection[str],
    price_codes: ArrayLike | None = None,
) -> Routing:
    """Route every row, first match wins, with the codes that decided it.

    Args:
        inputs: The per-row facts.
        min_refurb_uplift: Per row or scalar (the policy's `min_refurb_uplift`).
        restock_reasons: Return reasons that allow a restock (the policy's `restock_reasons`).
        price_codes: `PriceChoice.codes()`, appended to every row's codes when given.
    """
    n = max(np.size(np.asarray(getattr(inputs, f), dtype=object)) for f in _FIELDS)
    grade = _texts(inputs.grade, n)
    gain = (
        _floats(inputs.price_better, n)
        - _floats(inputs.refurb_cost, n)
        - _floats(inputs.price_as_is, n)
    )
    counterfeit = _bools(inputs.counterfeit_flagged, n)
    unproven = _bools(inputs.provenance_required, n) & ~_bools(inputs.provenance_verified, n)
    opened = _floats(inputs.opened, n)
    listable = _bools(inputs.listable, n)
    conditions = {
        "authenticate": counterfeit | unproven,
        "review": _bools(inputs.needs_review, n),
        "restock": (_texts(inputs.source, n) == "return")
        & (opened == 0.0)
        & (grade == "A")
        & _members(_texts(inputs.return_reason, n), set(restock_reasons))
        & listable,
        "refurbish": (gain >= _floats(min_refurb_uplift, n))
        & _members(grade, set(BETTER_GRADE))
        & _bools(inputs.refurbish_listable, n),
        "resell": listable,
        "liquidate": _floats(inputs.liquidation_value, n) > 0.0,
        "scrap": np.ones(n, dtype=bool),
    }
    chosen = np.select(list(conditions.values()), list(conditions), default="scrap")
    chosen = chosen.astype(object)
    is_ = {name: chosen == name for name in ROUTES}
    provenance_detail = np.where(
        is_["authenticate"] & unproven, _code_texts(inputs.provenance_codes, n), ""
    )
    flags = {
        "counterfeit_flagged": is_["authenticate"] & counterfeit,
        "provenance_not_verified": is_["authenticate"] & unproven,
        "grade_uncertain": is_["review"],
        "restock_unopened_return": is_["restock"],
        "refurb_pays": is_["refurbish"],
        "resell_profitable": is_["resell"],
        "liquidation_recovers_value": is_["liquidate"],
        "no_liquidation_value": is_["scrap"],
    }
    codes = join_codes(flags, n)
    for extra in (provenance_detail, price_codes):
        if extra is None:
            continue
        extra = _code_texts(extra, n)
        codes = codes + np.where((codes != "") & (extra != ""), ";", "") + extra
    return Routing(route=chosen, codes=codes, conditions=conditions)
