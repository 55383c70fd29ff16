"""The people's routes, a FastAPI app mounted next to the BentoML APIs.

Graders: `GET /reviews`, `POST /reviews/{case_id}/resolve`. Pricing analysts:
`GET /pricing/pending`, `POST /pricing/{case_id}/decision`. Intake or admin: `POST /outcomes`.
Anyone with a key: `GET /cases/{case_id}`, `GET /photos/{sha256}` (the links in a case).
Pricing or admin: `GET /listings` and `GET /listings.csv`, the listing feed (`serving.listings`).
Admin: `POST /admin/reload` (the current `@champion`s, without a restart).
Graders, the double-grading sample: `GET /second-gradings` (blind: no first decision),
`POST /second-gradings/{case_id}/grade`.
Auth is the service-wide middleware (`serving.api.auth`); errors become statuses in
`serving.api.errors`. A resolution or decision sent twice is applied once (the store's
idempotency). Each route gets the runtime as a dependency (`serving.api.state`). Queries are
bounded (`offset` to `MAX_OFFSET`, `since` to a 64-bit cursor) and ids may not hold control
characters, so no value reaches the database that it would refuse with a 500.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from serving import assess, listings
from serving.api import errors
from serving.api.answer_models import BlindCaseView, CaseView, Outcome, SecondGrade
from serving.api.auth import actor_in
from serving.api.request_models import Decision, OutcomeIn, Resolution
from serving.api.state import SLOT_STATE, RuntimeSlot, current_runtime
from serving.runtime import Runtime
from serving.store.checks import MAX_OFFSET
from serving.store.errors import MissingFile, NotFoundError

TITLE = "regrade review, pricing and outcome routes"
MAX_CURSOR = 2**63 - 1
"""Largest listing cursor (the databases' 64-bit integer)."""

log = logging.getLogger(__name__)
router = APIRouter()
Served = Annotated[Runtime, Depends(current_runtime)]
CaseId = Annotated[
    str,
    Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description="A case id."),
]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many first.")]
Since = Annotated[
    int, Query(ge=0, le=MAX_CURSOR, description="The last cursor seen (0: from the start)")
]


def create_app(slot: RuntimeSlot) -> FastAPI:
    """The routes as an app whose routes use the runtime in `slot`."""
    app = FastAPI(title=TITLE)
    setattr(app.state, SLOT_STATE, slot)
    errors.install(app)
    app.include_router(router)
    return app


@router.get("/reviews", response_model=list[CaseView], tags=["grader"])
def list_reviews(
    runtime: Served,
    status: Annotated[
        Literal["open", "resolved", "all"], Query(description="open (default), resolved or all")
    ] = "open",
    kind: Annotated[
        str | None, Query(max_length=100, description="e.g. counterfeit_flagged")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> list[CaseView]:
    """Cases in the review queue, oldest first, with photo links and the model's output."""
    cases = runtime.store.list_reviews(
        None if status == "all" else status, kind=kind, limit=limit, offset=offset
    )
    return [CaseView.model_validate(c) for c in cases]


@router.post("/reviews/{case_id}/resolve", response_model=CaseView, tags=["grader"])
def resolve_review(
    runtime: Served,
    request: Request,
    case_id: CaseId,
    resolution: Annotated[
        Resolution,
        Body(examples=[{"grade": "B", "counterfeit": False, "grader_id": "grader-7"}]),
    ],
) -> CaseView:
    """Record a grader's grade and counterfeit verdict; the case is re-priced and re-routed.

    The same resolution again changes nothing; a different one is a 409. A price decided
    earlier is reopened when the grade or route changes. The audit trail records the API key
    (its name and hash); `grader_id` is kept as a label.
    """
    updated = assess.resolve_review(
        runtime, case_id, **resolution.model_dump(), actor=actor_in(request.scope)
    )
    return CaseView.model_validate(updated)


@router.get("/second-gradings", response_model=list[BlindCaseView], tags=["grader"])
def second_grading_queue(
    runtime: Served,
    status: Annotated[
        Literal["open", "resolved"], Query(description="open (default) or resolved")
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> list[BlindCaseView]:
    """Resolved cases sent back for a blind second grade: photos and model output only."""
    cases = runtime.store.second_grading_queue(status, limit=limit, offset=offset)
    return [BlindCaseView.model_validate(c) for c in cases]


@router.post("/second-gradings/{case_id}/grade", response_model=SecondGrade, tags=["grader"])
def second_grade(
    runtime: Served,
    request: Request,
    case_id: CaseId,
    resolution: Annotated[
        Resolution,
        Body(examples=[{"grade": "B", "counterfeit": False, "grader_id": "grader-9"}]),
    ],
) -> SecondGrade:
    """Record a second grader's blind grade; the first grader may not give it (409).

    The same grade again changes nothing; a different one is a 409.
    """
    stored = runtime.store.resolve_second_grading(
        case_id, **resolution.model_dump(), actor=actor_in(request.scope)
    )
    return SecondGrade.model_validate(stored)


@router.get("/pricing/pending", response_model=list[CaseView], tags=["pricing"])
def pending_pricing(
    runtime: Served,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    include_in_review: bool = False,
) -> list[CaseView]:
    """Recommended prices waiting for a decision, oldest first (cases in review left out)."""
    cases = runtime.store.pending_pricing(limit, offset, include_in_review=include_in_review)
    return [CaseView.model_validate(c) for c in cases]


@router.post("/pricing/{case_id}/decision", response_model=CaseView, tags=["pricing"])
def decide_price(
    runtime: Served,
    request: Request,
    case_id: CaseId,
    decision: Annotated[
        Decision, Body(examples=[{"action": "approve", "analyst_id": "analyst-2"}])
    ],
) -> CaseView:
    """Approve the recommended price or override it; below the floor is refused (422).

    A case whose review is open is refused (409): its grade, and so its price, may change.
    The audit trail records the API key (its name and hash); `analyst_id` is kept as a label.
    """
    updated = runtime.store.decide_pricing(
        case_id, **decision.model_dump(), actor=actor_in(request.scope)
    )
    listings.announce(runtime, updated)  # queued for the listing webhook, if one is set
    return CaseView.model_validate(updated)


@router.post("/outcomes", response_model=Outcome, tags=["outcomes"])
def record_outcome(
    runtime: Served,
    request: Request,
    outcome: Annotated[
        OutcomeIn,
        Body(examples=[{"item_id": "u-1001", "sold_price": 118.0, "days_listed": 6, "sold": 1}]),
    ],
) -> Outcome:
    """Store what happened to a listed unit, for retraining."""
    stored = runtime.store.record_outcome(
        case_id=outcome.case_id,
        item_id=outcome.item_id,
        sold_price=outcome.sold_price,
        days_listed=outcome.days_listed,
        sold=int(outcome.sold),
        actor=actor_in(request.scope),
    )
    return Outcome.model_validate(stored)


@router.get("/cases/{case_id}", response_model=CaseView, tags=["cases"])
def get_case(runtime: Served, case_id: CaseId) -> CaseView:
    """One case with its photos, model output and decisions."""
    return CaseView.model_validate(runtime.store.get_case(case_id))


@router.get("/photos/{sha256}", tags=["cases"], response_class=Response)
def get_photo(runtime: Served, sha256: str) -> Response:
    """A stored photo's bytes (the links in a case); 410 when its file has gone missing."""
    store = runtime.store
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NotFoundError("no such photo")
    record = store.get_photo(sha256)
    try:
        data = store.photos.read(sha256, record.content_type)
    except FileNotFoundError as exc:
        log.warning("photo %s is recorded but its file is missing from the photo store", sha256)
        raise MissingFile(f"photo {sha256} is recorded but its file is missing") from exc
    return Response(data, media_type=record.content_type)


LISTING_COLUMNS = (
    "cursor", "sku", "case_id", "item_id", "category", "brand", "grade", "condition_notes",
    "price", "route", "photo_urls", "provenance_verified", "decided_at",
)  # fmt: skip
"""The columns of `/listings.csv` (photo URLs joined by spaces)."""


@router.get("/listings", response_model=listings.ListingPage, tags=["listings"])
def list_listings(
    runtime: Served,
    since: Since = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> listings.ListingPage:
    """Units whose price is approved or overridden and whose route lists them, oldest first.

    Each has a resale SKU, grade, condition notes, price, photo links and whether its provenance
    is verified; `next_since` is the `since` of the next page.
    """
    return listings.read_feed(runtime, since, limit)


@router.get("/listings.csv", tags=["listings"], response_class=Response)
def listings_csv(
    runtime: Served,
    since: Since = 0,
) -> Response:
    """Every listing after the cursor `since` as CSV (`LISTING_COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(LISTING_COLUMNS)
    while True:
        page = listings.read_feed(runtime, since, 500)
        for listing in page.listings:
            row = listing.model_dump()
            row["photo_urls"] = " ".join(row["photo_urls"])
            writer.writerow([row[name] for name in LISTING_COLUMNS])
        if len(page.listings) < 500:
            break
        since = page.next_since
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8")


@router.post("/admin/reload", tags=["admin"])
def reload_models(request: Request) -> JSONResponse:
    """Load the current `@champion`s without a restart (admin).

    Requests in flight finish on the old models; new ones use the new. 200 with the models now
    answering (and those before); 500 with the reason when loading failed, the old models still
    answering.
    """
    outcome = getattr(request.app.state, SLOT_STATE).reload()
    return JSONResponse(outcome.to_dict(), status_code=200 if outcome.ok else 500)
