"""The case page (`/ui/cases/{case_id}`, any role): the whole case and its audit trail.

The trail lists every event the store recorded (who, when, what changed) and the model
versions behind each assessment or re-pricing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from serving.api.state import current_runtime
from serving.store.records import EventRecord
from serving.web.pages import render, signed_in
from serving.web.session import Viewer

router = APIRouter()
Anyone = Annotated[Viewer, Depends(signed_in())]

SHOWN = (
    "grade", "counterfeit", "note", "route", "action", "price", "reason", "floor_price",
    "grader_id", "analyst_id",
)  # fmt: skip
"""Payload fields an audit-trail row shows as "what changed"."""


def describe(event: EventRecord, case_versions: dict[str, Any]) -> dict[str, Any]:
    """An audit-trail row: what changed, in words, and the model versions it used."""
    payload = event.payload or {}
    changes = [(k, payload[k]) for k in SHOWN if payload.get(k) is not None]
    if payload.get("reasons"):
        changes.append(("reasons", ", ".join(payload["reasons"])))
    price = payload.get("price_result") or {}
    if price.get("recommended_price") is not None:
        changes.append(("recommended_price", round(price["recommended_price"], 2)))
    versions = price.get("model_versions") or (
        case_versions if event.kind == "case_created" else {}
    )
    return {
        "at": event.at,
        "kind": event.kind,
        "actor": event.actor or "–",
        "changes": changes,
        "versions": ", ".join(
            f"{v.get('name')} v{v.get('version')}" for v in versions.values() if v
        ),
    }


@router.get("/cases/{case_id}", include_in_schema=False)
def case_page(request: Request, case_id: str, viewer: Anyone) -> Response:
    """The case: facts, photos, model output, decisions and the audit trail."""
    store = current_runtime(request).store
    case = store.get_case(case_id)
    trail = [describe(e, case.model_versions) for e in store.events(case_id)]
    return render(request, "case.html", viewer, case=case, trail=trail)
