"""The people's routes, a FastAPI app mounted next to the BentoML APIs.

Graders: `GET /reviews`, `POST /reviews/{case_id}/resolve`. Pricing analysts:
`GET /pricing/pending`, `POST /pricing/{case_id}/decision`. Intake or admin: `POST /outcomes`.
Graders, the double-grading sample: `GET /second-gradings` (blind: no first decision),
`POST /second-gradings/{case_id}/grade`. Anyone with a key: `GET /cases/{case_id}`,
`GET /photos/{sha256}` (the links in a case).
Auth is the service-wide middleware (`serving.api.auth`); errors become statuses in
`serving.api.errors`. A resolution or decision sent twice is applied once (the store's
idempotency). Each route gets the runtime as a dependency (`serving.api.state`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from serving import assess
from serving.api import errors
from serving.api.answer_models import BlindCaseView, CaseView, Outcome, SecondGrade
from serving.api.auth import actor_in
from serving.api.request_models import Decision, OutcomeIn, Resolution
from serving.api.state import SLOT_STATE, RuntimeSlot, current_runtime
from serving.runtime import Runtime

TITLE = "regrade review, pricing and outcome routes"

router = APIRouter()
Served = Annotated[Runtime, Depends(current_runtime)]


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
    status: Annotated[str | None, Query(description="open (default), resolved or all")] = "open",
    kind: Annotated[str | None, Query(description="e.g. counterfeit_flagged")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CaseView]:
    """Cases in the review queue, oldest first, with photo links and the model's output."""
    cases = runtime.store.list_reviews(
        None if status == "all" else status, kind=kind, limit=limit, offset=offset
    )
    return [CaseView.model_validate(c) for c in cases]


@router.post("/reviews/{case_id}/resolve", response_model=CaseView, tags=["grader"])
def resolve_review(
    runtime: Served,
    case_id: str,
    resolution: Annotated[
        Resolution,
        Body(examples=[{"grade": "B", "counterfeit": False, "grader_id": "grader-7"}]),
    ],
) -> CaseView:
    """Record a grader's grade and counterfeit verdict; the case is re-priced and re-routed.

    The same resolution again changes nothing; a different one is a 409.
    """
    updated = assess.resolve_review(runtime, case_id, **resolution.model_dump())
    return CaseView.model_validate(updated)


@router.get("/second-gradings", response_model=list[BlindCaseView], tags=["grader"])
def second_grading_queue(
    runtime: Served,
    status: Annotated[str, Query(description="open (default) or resolved")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[BlindCaseView]:
    """Resolved cases sent back for a blind second grade: photos and model output only."""
    cases = runtime.store.second_grading_queue(status, limit=limit, offset=offset)
    return [BlindCaseView.model_validate(c) for c in cases]


@router.post("/second-gradings/{case_id}/grade", response_model=SecondGrade, tags=["grader"])
def second_grade(
    runtime: Served,
    case_id: str,
    resolution: Annotated[
        Resolution,
        Body(examples=[{"grade": "B", "counterfeit": False, "grader_id": "grader-9"}]),
    ],
) -> SecondGrade:
    """Record a second grader's blind grade; the first grader may not give it (409).

    The same grade again changes nothing; a different one is a 409.
    """
    stored = runtime.store.resolve_second_grading(case_id, **resolution.model_dump())
    return SecondGrade.model_validate(stored)


@router.get("/pricing/pending", response_model=list[CaseView], tags=["pricing"])
def pending_pricing(
    runtime: Served,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    include_in_review: bool = False,
) -> list[CaseView]:
    """Recommended prices waiting for a decision, oldest first (cases in review left out)."""
    cases = runtime.store.pending_pricing(limit, offset, include_in_review=include_in_review)
    return [CaseView.model_validate(c) for c in cases]


@router.post("/pricing/{case_id}/decision", response_model=CaseView, tags=["pricing"])
def decide_price(
    runtime: Served,
    case_id: str,
    decision: Annotated[
        Decision, Body(examples=[{"action": "approve", "analyst_id": "analyst-2"}])
    ],
) -> CaseView:
    """Approve the recommended price or override it; below the floor is refused (422)."""
    updated = runtime.store.decide_pricing(case_id, **decision.model_dump())
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
def get_case(runtime: Served, case_id: str) -> CaseView:
    """One case with its photos, model output and decisions."""
    return CaseView.model_validate(runtime.store.get_case(case_id))


@router.get("/photos/{sha256}", tags=["cases"], response_class=Response)
def get_photo(runtime: Served, sha256: str) -> Response:
    """A stored photo's bytes (the links in a case)."""
    store = runtime.store
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise HTTPException(404, "no such photo")
    record = store.get_photo(sha256)
    return Response(store.photos.read(sha256, record.content_type), media_type=record.content_type)
