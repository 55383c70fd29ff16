"""The people's routes, a FastAPI app mounted next to the BentoML APIs.

Graders: `GET /reviews`, `POST /reviews/{case_id}/resolve`. Pricing analysts:
`GET /pricing/pending`, `POST /pricing/{case_id}/decision`. Intake or admin: `POST /outcomes`.
Anyone with a key: `GET /cases/{case_id}`, `GET /photos/{sha256}` (the links in a case).
Auth is the service-wide middleware (`serving.auth`). Store errors map to statuses:
`InvalidInput` 422 naming the field, `NotFoundError` 404, `ConflictError` 409,
`PolicyViolation` 422 (an override below the floor). A resolution or decision sent twice is
applied once (the store's idempotency).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from serving import assess
from serving.api.answer_models import CaseView, Outcome
from serving.api.auth import ACTOR_KEY
from serving.api.request_models import Decision, OutcomeIn, Resolution
from serving.errors import IntakeError
from serving.runtime import Runtime, active
from serving.store.errors import ConflictError, InvalidInput, NotFoundError, PolicyViolation

app = FastAPI(title="regrade review, pricing and outcome routes")


def _runtime() -> Runtime:
    runtime = active()
    if runtime is None:
        raise HTTPException(503, "the service is starting")
    return runtime


def _actor(request: Request) -> str | None:
    return (request.scope.get("state") or {}).get(ACTOR_KEY)


@app.exception_handler(InvalidInput)
async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
    return JSONResponse({"error": str(exc), "field": exc.field}, status_code=422)


@app.exception_handler(IntakeError)
async def _intake(_: Request, exc: IntakeError) -> JSONResponse:
    return JSONResponse({"error": str(exc), "field": exc.field}, status_code=int(exc.status))


@app.exception_handler(NotFoundError)
async def _missing(_: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=404)


@app.exception_handler(ConflictError)
async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=409)


@app.exception_handler(PolicyViolation)
async def _policy(_: Request, exc: PolicyViolation) -> JSONResponse:
    body = {"error": str(exc), "field": "price", "floor_price": exc.floor_price}
    return JSONResponse(body, status_code=422)


@app.get("/reviews", response_model=list[CaseView], tags=["grader"])
def list_reviews(
    status: Annotated[str | None, Query(description="open (default), resolved or all")] = "open",
    kind: Annotated[str | None, Query(description="e.g. counterfeit_flagged")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """Cases in the review queue, oldest first, with photo links and the model's output."""
    cases = _runtime().store.list_reviews(
        None if status == "all" else status, kind=kind, limit=limit, offset=offset
    )
    return [assess.case_view(c) for c in cases]


@app.post("/reviews/{case_id}/resolve", response_model=CaseView, tags=["grader"])
def resolve_review(
    case_id: str,
    resolution: Annotated[
        Resolution,
        Body(examples=[{"grade": "B", "counterfeit": False, "grader_id": "grader-7"}]),
    ],
) -> dict[str, Any]:
    """Record a grader's grade and counterfeit verdict; the case is re-priced and re-routed.

    The same resolution again changes nothing; a different one is a 409.
    """
    runtime = _runtime()
    case = runtime.store.get_case(case_id)
    item = {**case.item, "grade": resolution.grade}
    verdict = {"counterfeit": {"flagged": resolution.counterfeit}, "needs_review": False}
    price, _ = assess.assess_item(
        runtime, item, verdict, exclude_case_id=case_id, verified_by_grader=True
    )
    updated = runtime.store.resolve_review(
        case_id,
        grade=resolution.grade,
        counterfeit=resolution.counterfeit,
        grader_id=resolution.grader_id,
        note=resolution.note,
        route=price["route"],
        reasons=[r["code"] for r in price["reasons"]],
        price_result=price,
    )
    return assess.case_view(updated)


@app.get("/pricing/pending", response_model=list[CaseView], tags=["pricing"])
def pending_pricing(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    include_in_review: bool = False,
) -> list[dict[str, Any]]:
    """Recommended prices waiting for a decision, oldest first (cases in review left out)."""
    cases = _runtime().store.pending_pricing(limit, offset, include_in_review=include_in_review)
    return [assess.case_view(c) for c in cases]


@app.post("/pricing/{case_id}/decision", response_model=CaseView, tags=["pricing"])
def decide_price(
    case_id: str,
    decision: Annotated[
        Decision, Body(examples=[{"action": "approve", "analyst_id": "analyst-2"}])
    ],
) -> dict[str, Any]:
    """Approve the recommended price or override it; below the floor is refused (422)."""
    updated = _runtime().store.decide_pricing(
        case_id,
        action=decision.action,
        analyst_id=decision.analyst_id,
        price=decision.price,
        reason=decision.reason,
    )
    return assess.case_view(updated)


@app.post("/outcomes", response_model=Outcome, tags=["outcomes"])
def record_outcome(
    request: Request,
    outcome: Annotated[
        OutcomeIn,
        Body(examples=[{"item_id": "u-1001", "sold_price": 118.0, "days_listed": 6, "sold": 1}]),
    ],
) -> dict[str, Any]:
    """Store what happened to a listed unit, for retraining."""
    stored = _runtime().store.record_outcome(
        case_id=outcome.case_id,
        item_id=outcome.item_id,
        sold_price=outcome.sold_price,
        days_listed=outcome.days_listed,
        sold=int(outcome.sold),
        actor=_actor(request),
    )
    return {**stored.__dict__, "recorded_at": stored.recorded_at.isoformat()}


@app.get("/cases/{case_id}", response_model=CaseView, tags=["cases"])
def get_case(case_id: str) -> dict[str, Any]:
    """One case with its photos, model output and decisions."""
    return assess.case_view(_runtime().store.get_case(case_id))


@app.get("/photos/{sha256}", tags=["cases"], response_class=Response)
def get_photo(sha256: str) -> Response:
    """A stored photo's bytes (the links in a case)."""
    store = _runtime().store
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise HTTPException(404, "no such photo")
    record = store.get_photo(sha256)
    return Response(store.photos.read(sha256, record.content_type), media_type=record.content_type)
