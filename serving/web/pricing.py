"""The pricing analysts' pages: the queue of prices waiting for a decision, and one decision.

`GET /ui/pricing` lists pending units (band, days to sell, recommended price, floor, ceiling,
margin, route and reasons), sortable by margin, days to sell or value. `GET /ui/pricing/{id}`
shows the top feature contributions as a bar chart and the price against band, floor and
ceiling on one line. `POST /ui/pricing/{id}` approves (one key: `a`) or overrides with a price
and a required reason through the store's `decide_pricing`, as `POST /pricing/{id}/decision`
does; a price below the floor is refused in place, showing the floor.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from serving import listings
from serving.api.state import current_runtime
from serving.store.errors import ConflictError, InvalidInput, PolicyViolation
from serving.store.queues import PRICING_SORTS
from serving.store.records import CaseRecord
from serving.web.pages import base_of, money, posted_form, render, signed_in
from serving.web.session import Viewer

router = APIRouter()
PAGE = 50
Analyst = Annotated[Viewer, Depends(signed_in("pricing"))]


def price_line(price: dict[str, Any], final: float | None = None) -> dict[str, Any]:
    """Positions (0..100 %) of band, floor, ceiling and price on one scale, for the page."""
    band = price.get("price") or {}
    marks = {
        "p10": band.get("p10"),
        "p50": band.get("p50"),
        "p90": band.get("p90"),
        "floor": price.get("floor_price"),
        "ceiling": price.get("ceiling_price"),
        "recommended": price.get("recommended_price"),
        "final": final,
    }
    known = [v for v in marks.values() if v is not None and math.isfinite(v)]
    if not known:
        return {"marks": {}, "low": None, "high": None}
    low, high = min(known), max(known)
    pad = (high - low) * 0.08 or max(abs(high), 1.0) * 0.1
    low, high = low - pad, high + pad
    return {
        "marks": {
            k: {"value": v, "at": round(100 * (v - low) / (high - low), 2)}
            for k, v in marks.items()
            if v is not None and math.isfinite(v)
        },
        "low": low,
        "high": high,
    }


def contribution_bars(price: dict[str, Any]) -> list[dict[str, Any]]:
    """The top feature contributions with their bar width (% of the largest)."""
    found = [c for c in price.get("contributions") or [] if c.get("contribution") is not None]
    top = max((abs(c["contribution"]) for c in found), default=0.0) or 1.0
    return [
        {**c, "width": round(100 * abs(c["contribution"]) / top, 1), "up": c["contribution"] >= 0}
        for c in found
    ]


@router.get("/pricing", include_in_schema=False)
def pricing_queue(
    request: Request,
    viewer: Analyst,
    sort: str = "age",
    dir: str = "asc",
    page: int = 1,
    done: str = "",
) -> Response:
    """Prices waiting for a decision, sortable by margin, days to sell and value."""
    sort = sort if sort in PRICING_SORTS else "age"
    descending = dir == "desc"
    store = current_runtime(request).store
    _, total = store.pricing_queue(sort, descending=descending, limit=1)
    pages = max(1, math.ceil(total / PAGE))
    page = min(max(1, page), pages)
    cases, total = store.pricing_queue(
        sort, descending=descending, limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request, "pricing.html", viewer,
        cases=cases, sort=sort, dir="desc" if descending else "asc", page=page, pages=pages,
        total=total, sorts=PRICING_SORTS, done=done,
    )  # fmt: skip


def _decision_page(
    request: Request,
    viewer: Viewer,
    case: CaseRecord,
    *,
    status_code: int = 200,
    error: str | None = None,
    floor: float | None = None,
    form: dict[str, str] | None = None,
    done: str = "",
) -> Response:
    price = case.price_result or {}
    return render(
        request, "decision.html", viewer, status_code,
        case=case, price=price, line=price_line(price, case.final_price),
        bars=contribution_bars(price), error=error, floor=floor, form=form or {}, done=done,
    )  # fmt: skip


@router.get("/pricing/{case_id}", include_in_schema=False)
def decision_page(request: Request, case_id: str, viewer: Analyst, done: str = "") -> Response:
    """One unit's recommended price, its reasons and contributions, and the decision forms."""
    case = current_runtime(request).store.get_case(case_id)
    return _decision_page(request, viewer, case, done=done)


@router.post("/pricing/{case_id}", include_in_schema=False)
async def decide(request: Request, case_id: str, viewer: Analyst) -> Response:
    """Approve or override; below the floor is refused on the same page."""
    runtime = current_runtime(request)
    fields = await posted_form(request, viewer)
    case = runtime.store.get_case(case_id)
    action = fields.get("action")
    price: float | None = None
    reason = (fields.get("reason") or "").strip() or None
    if action == "override":
        try:
            price = float(fields.get("price") or "")
        except ValueError:
            return _decision_page(
                request, viewer, case, status_code=422, error="Enter a price.", form=fields
            )
        if not math.isfinite(price) or price <= 0:
            return _decision_page(
                request, viewer, case, status_code=422, error="Enter a positive price.",
                form=fields,
            )  # fmt: skip
        if reason is None:
            return _decision_page(
                request, viewer, case, status_code=422,
                error="An override needs a reason.", form=fields,
            )  # fmt: skip
    try:
        decided = runtime.store.decide_pricing(
            case_id,
            action=action or "",
            analyst_id=viewer.name,
            price=price,
            reason=reason,
            actor=viewer.actor,
        )
    except PolicyViolation as exc:
        return _decision_page(
            request, viewer, runtime.store.get_case(case_id), status_code=422,
            error=f"Refused: {money(price)} is below the floor of {money(exc.floor_price)}.",
            floor=exc.floor_price, form=fields,
        )  # fmt: skip
    except (ConflictError, InvalidInput) as exc:
        return _decision_page(
            request, viewer, runtime.store.get_case(case_id), status_code=409
            if isinstance(exc, ConflictError) else 422, error=str(exc), form=fields,
        )  # fmt: skip
    listings.announce(runtime, decided)
    following, _ = runtime.store.pricing_queue(limit=1)
    base = base_of(request)
    if following:
        return RedirectResponse(
            f"{base}/pricing/{following[0].case_id}?done={case_id}", status_code=303
        )
    return RedirectResponse(f"{base}/pricing?done={case_id}", status_code=303)
