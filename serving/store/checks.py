"""Checks on what the store is asked to write; each failure is an `InvalidInput` naming the field.

Also the idempotency comparisons: whether a resolution, decision or outcome sent again is the
one already recorded (then nothing happens) or a different one (a conflict, or a new outcome).
"""

from __future__ import annotations

import math
import re
from typing import Any

from features.schema import GRADES
from models.routing import ROUTES
from serving.store.errors import ConflictError, InvalidInput, PolicyViolation
from serving.store.tables import Outcome, PricingDecision, ReviewResolution

DEFAULT_PAGE = 50
"""Cases per page of the review queue and the pricing queue."""

MAX_PAGE = 500
"""Largest page a caller may ask for."""
MAX_OFFSET = 2**62
"""Largest offset into a queue: the databases' OFFSET is a signed 64-bit integer, and a larger
Python int fails in the driver (a 500) instead of answering an empty page."""

PRICE_TOLERANCE = 0.005
"""Prices closer than this (half a cent) are the same price."""

REVIEW_STATUSES = ("none", "open", "resolved")
PRICING_STATUSES = ("pending", "approved", "overridden", "not_applicable")
PRICING_ACTIONS = ("approve", "override")
PRICE_COLUMNS = ("price_result", "recommended_price", "floor_price", "pricing_status")
"""Case columns a re-pricing replaces."""
MAX_TEXT = 200
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds; anything else unchanged."""
    return value.item() if hasattr(value, "dtype") and hasattr(value, "item") else value


def text(value: Any, field: str, *, required: bool = True) -> str | None:
    """A trimmed text value of at most `MAX_TEXT` characters (None when optional and empty)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(field, "required")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidInput(field, f"must be text, got {type(value).__name__}")
    value = str(value).strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(field, f"longer than {MAX_TEXT} characters")
    return value


def code(value: Any, field: str) -> str:
    """A machine-readable code: lower-case letters, digits and underscores."""
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise InvalidInput(field, f"not a code (lower-case letters, digits, _): {value!r}")
    return value


def number(value: Any, field: str, *, required: bool = True) -> float | None:
    """A finite non-negative number (None when optional and missing)."""
    value = plain(value)
    if value is None:
        if required:
            raise InvalidInput(field, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInput(field, "must be a finite number")
    if value < 0:
        raise InvalidInput(field, f"must not be negative, got {value!r}")
    return float(value)


def page(limit: int, offset: int) -> None:
    """Check a page request."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("offset", f"must be a whole number from 0 to {MAX_OFFSET}")


def review_statuses(status: str | None) -> tuple[str, ...]:
    """The review statuses a queue filter selects (None: open and resolved)."""
    if status is None:
        return ("open", "resolved")
    if status not in ("open", "resolved"):
        raise InvalidInput("status", f"must be open or resolved, got {status!r}")
    return (status,)


def case_fields(
    item: Any, route: Any, reasons: Any, review_kinds: Any
) -> tuple[dict[str, Any], list[str]]:
    """The columns of a new case taken from its inputs, and its review kinds (deduplicated)."""
    if not isinstance(item, dict):
        raise InvalidInput("item", "must be an object of item fields")
    if route not in ROUTES:
        raise InvalidInput("route", f"must be one of {'|'.join(ROUTES)}, got {route!r}")
    if not isinstance(reasons, list | tuple):
        raise InvalidInput("reasons", "must be a list of codes")
    if not isinstance(review_kinds, list | tuple):
        raise InvalidInput("review_kinds", "must be a list of codes")
    kinds = list(dict.fromkeys(code(k, f"review_kinds[{i}]") for i, k in enumerate(review_kinds)))
    columns = {
        "item_id": text(item.get("item_id"), "item.item_id"),
        "category": text(item.get("category"), "item.category", required=False),
        "brand": text(item.get("brand"), "item.brand", required=False),
        "order_id": text(item.get("order_id"), "item.order_id", required=False),
        "serial_number": text(item.get("serial_number"), "item.serial_number", required=False),
        "route": route,
        "reasons": [code(r, f"reasons[{i}]") for i, r in enumerate(reasons)],
        "review_status": "open" if kinds else "none",
    }
    return columns, kinds


def result_prices(price_result: dict[str, Any] | None) -> dict[str, Any]:
    """Recommended and floor price of a price result, and the pricing status they imply."""
    result = price_result or {}
    prices = {
        name: number(result.get(name), f"price_result.{name}", required=False)
        for name in ("recommended_price", "floor_price")
    }
    pending = prices["recommended_price"] is not None
    return {**prices, "pricing_status": "pending" if pending else "not_applicable"}


def flag(value: Any, field: str) -> bool:
    """A yes/no value: True, False, 1 or 0."""
    value = plain(value)
    if value in (0, 1) and isinstance(value, bool | int | float):
        return bool(value)
    raise InvalidInput(field, f"must be true or false (1 or 0), got {value!r}")


def resolution(grade: Any, counterfeit: Any, grader_id: Any, note: Any) -> tuple[bool, str]:
    """Check a grader's decision; returns the counterfeit verdict and the trimmed grader id."""
    if grade not in GRADES:
        raise InvalidInput("grade", f"must be one of {'|'.join(GRADES)}, got {grade!r}")
    grader = text(grader_id, "grader_id")
    if note is not None and not isinstance(note, str):
        raise InvalidInput("note", "must be text")
    return flag(counterfeit, "counterfeit"), grader  # type: ignore[return-value]


def reroute(route: Any, reasons: Any, price_result: dict[str, Any] | None) -> dict[str, Any]:
    """The case columns a resolution replaces: a new route, reasons, price result (if given)."""
    update: dict[str, Any] = {}
    if route is not None:
        if route not in ROUTES:
            raise InvalidInput("route", f"must be one of {'|'.join(ROUTES)}, got {route!r}")
        update["route"] = route
    if reasons is not None:
        if not isinstance(reasons, list | tuple):
            raise InvalidInput("reasons", "must be a list of codes")
        update["reasons"] = [code(r, f"reasons[{i}]") for i, r in enumerate(reasons)]
    if price_result is not None:
        update["price_result"] = price_result
        update.update(result_prices(price_result))
    return update


def same_resolution(existing: ReviewResolution, grade: str, counterfeit: bool) -> None:
    """Nothing when the decision is the recorded one; `ConflictError` otherwise."""
    if (existing.grade, existing.counterfeit) != (grade, counterfeit):
        raise ConflictError(
            f"case {existing.case_id} was already resolved by {existing.grader_id} as grade "
            f"{existing.grade}, counterfeit {str(existing.counterfeit).lower()}"
        )


def decision_fields(action: Any, analyst_id: Any, price: Any, reason: Any) -> str:
    """Check a pricing decision's inputs; returns the trimmed analyst id."""
    if action not in PRICING_ACTIONS:
        raise InvalidInput("action", f"must be approve or override, got {action!r}")
    analyst = text(analyst_id, "analyst_id")
    number(price, "price", required=action == "override")
    if action == "override" and (not isinstance(reason, str) or not reason.strip()):
        raise InvalidInput("reason", "an override needs a reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("reason", "must be text")
    return analyst  # type: ignore[return-value]


def decision_price(action: str, price: float | None, recommended: float | None) -> float:
    """The price a decision sets: the recommended one for an approval, the given one otherwise."""
    if action == "override":
        return float(price)  # type: ignore[arg-type]
    if recommended is None:
        raise ConflictError("the case has no recommended price to approve")
    if price is not None and abs(price - recommended) > PRICE_TOLERANCE:
        raise InvalidInput(
            "price", f"approve keeps the recommended price {recommended:.2f}; override to change it"
        )
    return recommended


def below_floor(action: str, price: float, floor: float | None) -> PolicyViolation | None:
    """The refusal of a price below the floor, or None when the price keeps the floor."""
    if floor is None or price >= floor - PRICE_TOLERANCE:
        return None
    return PolicyViolation(
        f"{action} price {price:.2f} is below the floor price {floor:.2f}",
        price=price,
        floor_price=floor,
    )


def same_decision(existing: PricingDecision, action: str, price: float) -> None:
    """Nothing when the decision is the recorded one; `ConflictError` otherwise."""
    if existing.action != action or abs(existing.price - price) > PRICE_TOLERANCE:
        raise ConflictError(
            f"case {existing.case_id} was already decided by {existing.analyst_id}: "
            f"{existing.action} at {existing.price:.2f}"
        )


def outcome(sold_price: Any, days_listed: Any, sold: Any) -> dict[str, Any]:
    """Check an outcome: non-negative numbers, sold 0/1, a sold_price exactly when sold."""
    sold = plain(sold)
    if isinstance(sold, float) and sold in (0.0, 1.0):
        sold = int(sold)
    if sold not in (0, 1) or not isinstance(sold, bool | int):
        raise InvalidInput("sold", f"must be 0 or 1, got {sold!r}")
    days = number(days_listed, "days_listed")
    price = number(sold_price, "sold_price", required=False)
    if sold and price is None:
        raise InvalidInput("sold_price", "required when sold is 1")
    if not sold and price is not None:
        raise InvalidInput("sold_price", "must be empty when sold is 0")
    return {"sold_price": price, "days_listed": days, "sold": int(sold)}


def same_outcome(last: Outcome, values: dict[str, Any]) -> bool:
    """Whether an outcome repeats the last one recorded for its case."""
    return (last.sold, last.days_listed, last.sold_price) == (
        values["sold"],
        values["days_listed"],
        values["sold_price"],
    )
