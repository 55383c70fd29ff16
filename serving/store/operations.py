"""The writes behind each `Store` operation, inside a session the store opens and commits.

Each function changes rows and appends the audit event for the change in the same session; the
store owns the transaction, so an error anywhere leaves nothing behind. An event's `actor` is
the authenticated caller (`Actor`) when the service passes one; the grader or analyst id of a
request body is kept in the payload as a label and is the actor only for callers without a key
(the command line, the library).

A pricing decision follows the case: none is taken while the case's review is open (its grade,
and so its price, may still change), and a resolution that changes the grade or the route voids
a decision taken before it (a `pricing_reopened` event records the old decision and why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store import checks
from serving.store.errors import ConflictError, InvalidInput, NotFoundError, PolicyViolation
from serving.store.photos import StoredPhoto
from serving.store.records import Actor, PhotoInput, effective_grade
from serving.store.tables import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseReviewKind,
    Outcome,
    Photo,
    PricingDecision,
    ReviewResolution,
    utcnow,
)


def add_event(
    session: Session, case_id: str, kind: str, actor: Actor | str | None, payload: dict
) -> None:
    """Append one entry to a case's audit trail (`actor` recorded as `name:key-hash`)."""
    who = None if actor is None else str(actor)
    session.add(CaseEvent(case_id=case_id, kind=kind, actor=who, payload=payload, at=utcnow()))


def existing_resolution(session: Session, case_id: str) -> ReviewResolution | None:
    """The resolution recorded for a case, if any."""
    return session.scalar(select(ReviewResolution).where(ReviewResolution.case_id == case_id))


def existing_decision(session: Session, case_id: str) -> PricingDecision | None:
    """The pricing decision recorded for a case, if any."""
    return session.scalar(select(PricingDecision).where(PricingDecision.case_id == case_id))


def insert_case(
    session: Session,
    case: Case,
    kinds: list[str],
    stored: Sequence[StoredPhoto],
    photos: Sequence[PhotoInput],
    results: Sequence[dict[str, Any] | None],
    actor: Actor | str | None,
) -> None:
    """Add a new case with its photo rows (new photos only once), review kinds and first event."""
    for photo in {p.sha256: p for p in stored}.values():
        if session.get(Photo, photo.sha256) is None:
            session.add(
                Photo(
                    sha256=photo.sha256,
                    content_type=photo.content_type,
                    bytes=photo.size,
                    width=photo.width,
                    height=photo.height,
                    created_at=case.created_at,
                )
            )
    case.photos = [
        CasePhoto(position=pos, sha256=p.sha256, filename=src.filename, result=result)
        for pos, (p, src, result) in enumerate(zip(stored, photos, results, strict=True))
    ]
    case.kinds = [CaseReviewKind(kind=kind) for kind in kinds]
    session.add(case)
    session.flush()
    payload = {
        "route": case.route,
        "review_kinds": kinds,
        "pricing_status": case.pricing_status,
        "photos": [p.sha256 for p in stored],
    }
    add_event(session, case.case_id, "case_created", actor, payload)
    session.flush()


def resolve(
    session: Session,
    case: Case,
    *,
    grade: str,
    counterfeit: bool,
    grader_id: str,
    note: str | None,
    update: dict[str, Any],
    actor: Actor | None = None,
) -> None:
    """Record a grader's decision on a queued case, or nothing when it repeats the recorded one.

    A pricing decision taken before it stays when the grade and route stay; otherwise it is
    voided (`reopen_pricing`) and the case's price waits for a decision again.

    Raises:
        ConflictError: the case was never queued, or was resolved differently.
    """
    if case.review_status == "none":
        raise ConflictError(f"case {case.case_id} was not queued for review")
    existing = existing_resolution(session, case.case_id)
    if existing is not None:
        checks.same_resolution(existing, grade, counterfeit)
        session.expire(case)  # loaded before a concurrent writer committed this resolution
        return
    now = utcnow()
    resolution = ReviewResolution(
        case_id=case.case_id,
        grade=grade,
        counterfeit=counterfeit,
        grader_id=grader_id,
        note=note,
        resolved_at=now,
    )
    session.add(resolution)
    session.flush()  # a concurrent resolution fails here, on the unique case_id
    before = {"grade": effective_grade(None, case.grade_result, case.item), "route": case.route}
    case.final_grade, case.final_counterfeit = grade, counterfeit
    case.review_status, case.updated_at = "resolved", now
    payload = {"grade": grade, "counterfeit": counterfeit, "note": note, "grader_id": grader_id}
    payload.update({k: v for k, v in update.items() if k in ("route", "reasons", "price_result")})
    add_event(session, case.case_id, "review_resolved", actor or grader_id, payload)
    changed = [
        name
        for name, new in (("grade", grade), ("route", update.get("route", case.route)))
        if new != before[name]
    ]
    if case.pricing_status in ("approved", "overridden"):
        if changed:
            after = {"grade": grade, "route": update.get("route", case.route)}
            reopen_pricing(session, case, before, after, changed, actor or grader_id)
        else:  # the same grade and route: the decided price stands
            update = {k: v for k, v in update.items() if k not in checks.PRICE_COLUMNS}
    for name, value in update.items():
        setattr(case, name, value)
    session.flush()
    session.expire(case, ["resolution", "decision"])


def reopen_pricing(
    session: Session,
    case: Case,
    before: dict[str, Any],
    after: dict[str, Any],
    changed: list[str],
    actor: Actor | str | None,
) -> None:
    """Void a case's pricing decision: the resolution changed what the price was decided for.

    The decision row goes (so a new one can be taken, and the listing feed drops the old
    price); a `pricing_reopened` event keeps it, with what changed from what.
    """
    decision = existing_decision(session, case.case_id)
    voided = None
    if decision is not None:
        voided = {
            "action": decision.action,
            "price": decision.price,
            "reason": decision.reason,
            "analyst_id": decision.analyst_id,
            "decided_at": decision.decided_at.isoformat(),
        }
        session.delete(decision)
    case.final_price = None
    case.pricing_status = "pending" if case.recommended_price is not None else "not_applicable"
    payload = {
        "why": [f"{name}_changed" for name in changed],
        "from": before,
        "to": after,
        "voided": voided,
    }
    add_event(session, case.case_id, "pricing_reopened", actor, payload)


def decide(
    session: Session,
    case: Case,
    *,
    action: str,
    analyst_id: str,
    price: float | None,
    reason: str | None,
    floor_price: float | None,
    actor: Actor | None = None,
) -> PolicyViolation | None:
    """Record a pricing decision, or nothing when it repeats the recorded one.

    Returns:
        The refusal of a price below the floor (its event is recorded; the caller commits that
        and raises it), or None when the decision stands.

    Raises:
        ConflictError: the case has no price to decide, its review is still open, or it was
            decided differently.
    """
    if case.pricing_status == "not_applicable":
        raise ConflictError(f"case {case.case_id} has no price waiting for a decision")
    if case.review_status == "open":
        raise ConflictError(
            f"case {case.case_id} is still in review: its grade, and so its price, may change; "
            "decide once a grader has resolved it"
        )
    final = checks.decision_price(action, price, case.recommended_price)
    existing = existing_decision(session, case.case_id)
    if existing is not None:
        checks.same_decision(existing, action, final)
        session.expire(case)  # loaded before a concurrent writer committed this decision
        return None
    floor = case.floor_price if floor_price is None else floor_price
    payload = {
        "action": action,
        "price": final,
        "reason": reason,
        "floor_price": floor,
        "analyst_id": analyst_id,
    }
    refused = checks.below_floor(action, final, floor)
    if refused is not None:
        add_event(session, case.case_id, "pricing_refused", actor or analyst_id, payload)
        return refused
    now = utcnow()
    session.add(
        PricingDecision(
            case_id=case.case_id,
            action=action,
            price=final,
            reason=reason,
            analyst_id=analyst_id,
            decided_at=now,
        )
    )
    session.flush()  # a concurrent decision fails here, on the unique case_id
    case.pricing_status = "approved" if action == "approve" else "overridden"
    case.final_price, case.updated_at = final, now
    add_event(session, case.case_id, f"pricing_{case.pricing_status}", actor or analyst_id, payload)
    session.flush()
    session.expire(case, ["decision"])
    return None


def outcome_case(session: Session, case_id: Any, item_id: Any) -> Case:
    """The case an outcome is for: by id, else the newest case of the item.

    Raises:
        InvalidInput: neither id given, or an item id that is not the case's.
        NotFoundError: no such case, or no case for the item.
    """
    if case_id is None and item_id is None:
        raise InvalidInput("case_id", "give the case_id or the item_id of the unit")
    if case_id is not None:
        case = session.get(Case, checks.text(case_id, "case_id"))
        if case is None:
            raise NotFoundError(f"no case {case_id!r}")
        if item_id is not None and checks.text(item_id, "item_id") != case.item_id:
            raise InvalidInput("item_id", f"case {case_id} is for item {case.item_id!r}")
        return case
    item_id = checks.text(item_id, "item_id")
    newest = select(Case).where(Case.item_id == item_id)
    case = session.scalar(newest.order_by(Case.created_at.desc(), Case.case_id.desc()).limit(1))
    if case is None:
        raise NotFoundError(f"no case for item {item_id!r}")
    return case


def add_outcome(
    session: Session, case: Case, values: dict[str, Any], actor: Actor | str | None
) -> Outcome:
    """Store an outcome for a case, or return the last one when it is the same.

    The case row is locked first (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's write
    transaction already holds the database), so two replicas storing the same outcome at once
    take turns: the second sees the first's row and returns it instead of adding a duplicate.
    """
    session.execute(select(Case.case_id).where(Case.case_id == case.case_id).with_for_update())
    last = session.scalar(
        select(Outcome).where(Outcome.case_id == case.case_id).order_by(Outcome.id.desc())
    )
    if last is not None and checks.same_outcome(last, values):
        return last
    row = Outcome(case_id=case.case_id, item_id=case.item_id, recorded_at=utcnow(), **values)
    session.add(row)
    session.flush()
    add_event(session, case.case_id, "outcome_recorded", actor, dict(values))
    return row
