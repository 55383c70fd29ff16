"""The double-grading sample: resolved cases graded again, blind, by a second grader.

A share of resolved cases (a setting; the service passes it) is sent back to a second grader,
who sees the unit, its photos and the model's output at intake, never the first decision. The
sample is drawn by the case id: `in_sample(case_id, share)` hashes the id to a number in [0, 1)
and keeps the case when it is below `share`, so the same case is always in or out at a given
share, whichever process asks, and about `share` of all cases are in. The second grade is kept
beside the first (`second_gradings`); the grade in force stays the first grader's. A second
grade must come from another grader than the first: with a personal key (`Actor.personal`,
a key configured with its holder's name), another key than the first grade's; else another
grader id; the same grade again changes nothing; a
different one is a conflict.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store.errors import ConflictError, NotFoundError
from serving.store.operations import add_event, existing_resolution
from serving.store.records import Actor
from serving.store.tables import Case, CaseEvent, SecondGrading, utcnow

HASH_SPACE = 16**12


def in_sample(case_id: str, share: float) -> bool:
    """Whether a case belongs to the double-grading sample at this share (0 none, 1 all)."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"second-grading:{case_id}".encode()).hexdigest()
    return int(digest[:12], 16) / HASH_SPACE < share


def existing(session: Session, case_id: str, *, lock: bool = False) -> SecondGrading | None:
    """The second grading of a case, if one was requested (`lock`: locked for the update)."""
    query = select(SecondGrading).where(SecondGrading.case_id == case_id)
    return session.scalar(query.with_for_update() if lock else query)


def first_actor(session: Session, case_id: str) -> str | None:
    """Who the audit trail says resolved the case first (`name:key-hash`), if anyone."""
    query = select(CaseEvent.actor).where(
        CaseEvent.case_id == case_id, CaseEvent.kind == "review_resolved"
    )
    return session.scalar(query.order_by(CaseEvent.id).limit(1))


def request(session: Session, case: Case, actor: Actor | str | None) -> SecondGrading:
    """Send a resolved case to a second grader (once; asking again returns the request).

    Raises:
        ConflictError: the case is not resolved.
    """
    found = existing(session, case.case_id)
    if found is not None:
        return found
    if case.review_status != "resolved":
        raise ConflictError(f"case {case.case_id} is not resolved: nothing to grade again")
    row = SecondGrading(case_id=case.case_id, status="open", requested_at=utcnow())
    session.add(row)
    session.flush()  # a concurrent request fails here, on the unique case_id
    add_event(session, case.case_id, "second_grading_requested", actor, {})
    return row


def resolve(
    session: Session,
    case_id: str,
    *,
    grade: str,
    counterfeit: bool,
    grader_id: str,
    note: str | None,
    actor: Actor | None = None,
) -> SecondGrading:
    """Record the second grade, or nothing when it repeats the recorded one.

    Raises:
        NotFoundError: no second grading was requested for the case.
        ConflictError: the first grader grading again, or a different second grade.
    """
    row = existing(session, case_id, lock=True)
    if row is None:
        raise NotFoundError(f"case {case_id!r} is not waiting for a second grade")
    if row.status == "resolved":
        if (row.grade, row.counterfeit) != (grade, counterfeit):
            raise ConflictError(
                f"case {case_id} already has a second grade from {row.grader_id}: grade "
                f"{row.grade}, counterfeit {str(row.counterfeit).lower()}"
            )
        return row
    if actor is not None and actor.personal:  # a person's own key: who they are, not a label
        if first_actor(session, case_id) == str(actor):
            raise ConflictError(
                f"{actor.name} gave the first grade (same key): a second grader must grade it"
            )
    else:
        first = existing_resolution(session, case_id)
        if first is not None and first.grader_id == grader_id:
            raise ConflictError(f"{grader_id} gave the first grade: a second grader must grade it")
    row.status, row.grade, row.counterfeit = "resolved", grade, counterfeit
    row.grader_id, row.note, row.resolved_at = grader_id, note, utcnow()
    add_event(
        session,
        case_id,
        "second_grading_resolved",
        actor or grader_id,
        {"grade": grade, "counterfeit": counterfeit, "note": note, "grader_id": grader_id},
    )
    session.flush()
    return row
