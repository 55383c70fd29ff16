"""The graders' pages: the review queue and one case's review page, decided from the keyboard.

`GET /ui/reviews` lists open cases oldest first, filtered by why they wait, with counts per
kind and paging. `GET /ui/reviews/{case_id}` shows the unit's photos, the model's output per
photo and for the unit, and why it asks. `POST /ui/reviews/{case_id}` records the decision
through `serving.assess.resolve_review`, the same idempotent resolve as
`POST /reviews/{id}/resolve`, and opens the next open case. A case another grader resolved
meanwhile shows who decided what and when (409), never a stack trace.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from features.schema import GRADES
from serving import assess
from serving.api.state import current_runtime
from serving.store.errors import ConflictError, InvalidInput
from serving.store.records import CaseRecord
from serving.web.pages import REVIEW_KINDS, base_of, posted_form, render, signed_in
from serving.web.session import Viewer

router = APIRouter()
PAGE = 50
"""Cases per page of the queue."""

Grader = Annotated[Viewer, Depends(signed_in("grader"))]


def _kind(kind: str | None) -> str | None:
    return kind if kind in REVIEW_KINDS else None


def _kind_query(kind: str | None) -> str:
    return f"?kind={kind}" if kind else ""


@router.get("/reviews", include_in_schema=False)
def review_queue(
    request: Request, viewer: Grader, kind: str | None = None, page: int = 1, done: str = ""
) -> Response:
    """Open cases, oldest first, with counts per kind and paging."""
    runtime = current_runtime(request)
    kind = _kind(kind)
    counts = runtime.store.review_counts()
    total = counts.get(kind, 0) if kind else counts["all"]
    pages = max(1, math.ceil(total / PAGE))
    page = min(max(1, page), pages)
    cases = runtime.store.list_reviews("open", kind=kind, limit=PAGE, offset=(page - 1) * PAGE)
    return render(
        request, "reviews.html", viewer,
        cases=cases, counts=counts, kinds=REVIEW_KINDS, kind=kind, page=page, pages=pages,
        total=total, done=done, kind_query=_kind_query(kind),
    )  # fmt: skip


def _review_page(
    request: Request,
    viewer: Viewer,
    case: CaseRecord,
    kind: str | None,
    *,
    status_code: int = 200,
    error: str | None = None,
    done: str = "",
) -> Response:
    runtime = current_runtime(request)
    previous, following = (None, None)
    if case.review_status == "open":
        previous, following = runtime.store.review_neighbours(case.case_id, kind)
    return render(
        request, "review.html", viewer, status_code,
        case=case, kind=kind, kind_query=_kind_query(kind), previous=previous,
        following=following, grades=GRADES, error=error, done=done,
        photo_results=[p.result or {} for p in case.photos],
    )  # fmt: skip


@router.get("/reviews/{case_id}", include_in_schema=False)
def review_case(
    request: Request, case_id: str, viewer: Grader, kind: str | None = None, done: str = ""
) -> Response:
    """One case's review page (a resolved case shows who decided it)."""
    case = current_runtime(request).store.get_case(case_id)
    return _review_page(request, viewer, case, _kind(kind), done=done)


@router.post("/reviews/{case_id}", include_in_schema=False)
async def resolve_case(request: Request, case_id: str, viewer: Grader) -> Response:
    """Record the grader's decision, then open the next case in the queue."""
    runtime = current_runtime(request)
    fields = await posted_form(request, viewer)
    kind = _kind(fields.get("kind"))
    case = runtime.store.get_case(case_id)
    if case.review_status == "resolved" and case.resolution.grader_id != viewer.name:
        return _review_page(request, viewer, case, kind, status_code=409)
    grade = fields.get("grade")
    if grade not in GRADES:
        return _review_page(
            request, viewer, case, kind, status_code=422, error="Pick a grade: 1/2/3 or a/b/c."
        )
    note = (fields.get("note") or "").strip() or None
    try:
        resolved = assess.resolve_review(
            runtime,
            case_id,
            grade=grade,
            counterfeit=fields.get("counterfeit") == "1",
            grader_id=viewer.name,
            note=note,
            actor=viewer.actor,
        )
    except ConflictError:  # someone resolved it between the read and the write
        return _review_page(request, viewer, runtime.store.get_case(case_id), kind, status_code=409)
    except InvalidInput as exc:
        return _review_page(request, viewer, case, kind, status_code=422, error=str(exc))
    if resolved.resolution is not None and resolved.resolution.grader_id != viewer.name:
        return _review_page(request, viewer, resolved, kind, status_code=409)
    following = runtime.store.next_open_review(kind, exclude=case_id)
    base = base_of(request)
    target = f"{base}/reviews/{following}" if following else f"{base}/reviews"
    sep = "&" if kind else "?"
    return RedirectResponse(f"{target}{_kind_query(kind)}{sep}done={case_id}", status_code=303)
