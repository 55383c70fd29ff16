"""The repository the service calls: cases, the review queue, pricing decisions and outcomes.

One transaction per operation, so nothing is half-written: a case is stored with its photos,
review kinds and first audit event, or not at all. Every state change appends a `case_events`
row in the same transaction (the writes are in `serving.store.operations`). A resolution or decision
sent twice is applied once: the same one again returns the case unchanged and records nothing;
a different one raises `ConflictError`. The unique keys on `review_resolutions.case_id` and
`pricing_decisions.case_id` make this hold between concurrent sessions too: the loser's insert
fails, and the store retries, re-reads and answers as if it had come second. Photo bytes go to
the `PhotoStore` before the database transaction; a failed transaction can leave an unreferenced
photo file, never a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.store import checks, idempotency, operations, second_grades
from serving.store.engine import make_engine
from serving.store.errors import InvalidInput
from serving.store.idempotency import IntakeKey
from serving.store.migrate import migrate
from serving.store.photos import PhotoFormatError, PhotoStore, sniff
from serving.store.reads import Reader
from serving.store.records import (
    Actor,
    CaseRecord,
    OutcomeRecord,
    PhotoInput,
    SecondGradingRecord,
    jsonable,
)
from serving.store.tables import Case, SecondGrading, utcnow

T = TypeVar("T")

RACE_RETRIES = 2
"""Attempts of a write that lost a race on a unique key (the next attempt sees the winner)."""


class Store(Reader):
    """Cases, reviews, pricing decisions and outcomes: the reads of `Reader` and the writes."""

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a write transaction, again if it lost a race on a unique key."""
        for attempt in range(RACE_RETRIES):
            try:
                with self._session(write=True) as session:
                    return work(session)
            except IntegrityError:
                if attempt == RACE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def create_case(
        self,
        item: dict[str, Any],
        photos: list[PhotoInput | bytes],
        grade_result: dict[str, Any] | None,
        price_result: dict[str, Any] | None,
        route: str,
        reasons: list[str],
        review_kinds: list[str],
        model_versions: dict[str, Any],
        *,
        actor: Actor | str | None = None,
        intake_key: IntakeKey | None = None,
    ) -> CaseRecord:
        """Store a new case with its photos; it joins the review queue when `review_kinds` is set.

        With an `intake_key`, a key stored before answers the case it made, as first answered,
        and nothing new is stored (`serving.store.idempotency`).

        Photos are `PhotoInput`s (bytes, upload name, per-photo result) or plain bytes; their
        type and size are read from the bytes unless the input carries them (`header`). Pricing
        waits for an analyst (`pending`) when `price_result` has a `recommended_price`, and is
        `not_applicable` otherwise.

        Raises:
            InvalidInput: naming the field at fault (e.g. `item.item_id`, `photos[2]`, `route`).
            ConflictError: the `intake_key` came before with another body.
        """
        columns, kinds = checks.case_fields(item, route, reasons, review_kinds)
        photos = [p if isinstance(p, PhotoInput) else PhotoInput(p) for p in photos]
        item = jsonable(item, "item")
        grade_result = jsonable(grade_result, "grade_result")
        price_result = jsonable(price_result, "price_result")
        columns.update(checks.result_prices(price_result))
        versions = jsonable(model_versions or {}, "model_versions")
        results = [jsonable(p.result, f"photos[{pos}].result") for pos, p in enumerate(photos)]
        headers = []
        for pos, photo in enumerate(photos):  # every photo is checked before any is written
            try:
                headers.append(photo.header or sniff(photo.data))
            except PhotoFormatError as exc:
                raise InvalidInput(f"photos[{pos}]", str(exc)) from exc
        stored = [self.photos.put(p.data, h) for p, h in zip(photos, headers, strict=True)]

        def work(session: Session) -> CaseRecord:
            if intake_key is not None:
                first = idempotency.replay(session, intake_key)
                if first is not None:
                    return first
            now = utcnow()
            case = Case(
                case_id=str(uuid.uuid4()),
                created_at=now,
                updated_at=now,
                item=item,
                grade_result=grade_result,
                price_result=price_result,
                model_versions=versions,
                **columns,
            )
            operations.insert_case(session, case, kinds, stored, photos, results, actor)
            record = CaseRecord.model_validate(self._case(session, case.case_id))
            if intake_key is not None:
                idempotency.remember(session, intake_key, record)
            return record

        # A retry covers another case storing the same new photo, or the same key.
        return self._write(work)

    def replay_intake(self, intake_key: IntakeKey) -> CaseRecord | None:
        """The case an intake key made, as first answered, or None for a new key.

        Raises:
            ConflictError: the key came before with another body.
        """
        with self._session() as session:
            return idempotency.replay(session, intake_key)

    def resolve_review(
        self,
        case_id: str,
        *,
        grade: str,
        counterfeit: bool,
        grader_id: str,
        note: str | None = None,
        route: str | None = None,
        reasons: list[str] | None = None,
        price_result: dict[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> CaseRecord:
        """Record a grader's decision; the same decision again changes nothing.

        A pricing decision taken before it is voided when the grade or the route changes
        (`operations.reopen_pricing`).

        Args:
            case_id: A case in the review queue.
            grade: A, B or C.
            counterfeit: The grader's verdict.
            grader_id: Who decided, as they name themselves (a label).
            note: Free text kept with the decision.
            route: The case re-routed at the grader's grade, when the service computed it.
            reasons: The reasons of that route.
            price_result: The case re-priced at the grader's grade (sets the pricing status
                and prices as `create_case` does).
            actor: The authenticated caller, recorded in the audit trail (else `grader_id`).

        Raises:
            NotFoundError: no such case.
            ConflictError: the case was never queued, or was resolved differently.
            InvalidInput: a bad grade, counterfeit flag, grader id, route or price result.
        """
        counterfeit, grader_id = checks.resolution(grade, counterfeit, grader_id, note)
        update = checks.reroute(route, reasons, jsonable(price_result, "price_result"))

        def work(session: Session) -> CaseRecord:
            case = self._case(session, case_id)
            operations.resolve(
                session,
                case,
                grade=grade,
                counterfeit=counterfeit,
                grader_id=grader_id,
                note=note,
                update=update,
                actor=actor,
            )
            return CaseRecord.model_validate(case)

        return self._write(work)

    def decide_pricing(
        self,
        case_id: str,
        *,
        action: str,
        analyst_id: str,
        price: float | None = None,
        reason: str | None = None,
        floor_price: float | None = None,
        actor: Actor | None = None,
    ) -> CaseRecord:
        """Approve the recommended price or override it; the same decision again changes nothing.

        Args:
            case_id: A case with a recommended price, not in review.
            action: approve or override.
            analyst_id: Who decided, as they name themselves (a label).
            price: The new price of an override (an approval keeps the recommended price).
            reason: Why the price was overridden (required for an override).
            floor_price: The floor in force; the case's stored floor when None.
            actor: The authenticated caller, recorded in the audit trail (else `analyst_id`).

        Raises:
            NotFoundError: no such case.
            ConflictError: the case has no price to decide, its review is open, or it was
                decided differently.
            PolicyViolation: a price below the floor (recorded as a `pricing_refused` event).
            InvalidInput: a bad action, price, reason or analyst id.
        """
        analyst_id = checks.decision_fields(action, analyst_id, price, reason)

        def work(session: Session) -> tuple[CaseRecord, Exception | None]:
            case = self._case(session, case_id)
            refused = operations.decide(
                session,
                case,
                action=action,
                analyst_id=analyst_id,
                price=price,
                reason=reason,
                floor_price=floor_price,
                actor=actor,
            )
            return CaseRecord.model_validate(case), refused

        record, refused = self._write(work)  # commits the refusal's event before raising it
        if refused is not None:
            raise refused
        return record

    def record_outcome(
        self,
        *,
        case_id: str | None = None,
        item_id: str | None = None,
        sold_price: float | None,
        days_listed: float,
        sold: int | bool,
        actor: Actor | str | None = None,
    ) -> OutcomeRecord:
        """Store what happened to a listed unit, for retraining.

        The unit is named by its case, or by its item id (then its newest case). The same
        outcome again returns the stored one; a different one is stored and supersedes it.

        Raises:
            InvalidInput: naming the field: a negative number, sold not 0/1, a sold unit
                without a sold_price or an unsold one with one, or neither id given.
            NotFoundError: no case with this id, or no case for this item id.
        """
        values = checks.outcome(sold_price, days_listed, sold)

        def work(session: Session) -> OutcomeRecord:
            case = operations.outcome_case(session, case_id, item_id)
            return OutcomeRecord.model_validate(
                operations.add_outcome(session, case, values, actor)
            )

        return self._write(work)

    def request_second_grading(
        self, case_id: str, *, actor: Actor | str | None = None
    ) -> SecondGradingRecord:
        """Send a resolved case to a second grader, blind (once; again returns the request).

        Raises:
            NotFoundError: no such case.
            ConflictError: the case is not resolved.
        """

        def work(session: Session) -> SecondGradingRecord:
            case = self._case(session, case_id)
            return SecondGradingRecord.model_validate(second_grades.request(session, case, actor))

        return self._write(work)

    def sample_second_gradings(self, share: float, *, actor: Actor | str | None = None) -> int:
        """Send every resolved case in the double-grading sample at `share` that was not sent
        yet to a second grader (`serving.store.second_grades.in_sample`); how many were sent.

        Raises:
            InvalidInput: a share outside [0, 1].
        """
        share = checks.number(share, "share")
        if not 0 <= share <= 1:
            raise InvalidInput("share", f"must be from 0 to 1, got {share}")
        sent = select(SecondGrading.case_id)
        query = select(Case.case_id).where(
            Case.review_status == "resolved", Case.case_id.not_in(sent)
        )
        with self._session() as session:
            chosen = [c for c in session.scalars(query) if second_grades.in_sample(c, share)]
        for case_id in chosen:
            self.request_second_grading(case_id, actor=actor)
        return len(chosen)

    def resolve_second_grading(
        self,
        case_id: str,
        *,
        grade: str,
        counterfeit: bool,
        grader_id: str,
        note: str | None = None,
        actor: Actor | None = None,
    ) -> SecondGradingRecord:
        """Record a second grader's blind grade; the grade in force stays the first one.

        `actor` is the authenticated caller: recorded in the audit trail (else `grader_id`),
        and refused when it is the personal key that gave the first grade.

        Raises:
            NotFoundError: the case is not waiting for a second grade.
            ConflictError: the first grader grading again, or a different second grade.
            InvalidInput: a bad grade, counterfeit flag, grader id or note.
        """
        counterfeit, grader_id = checks.resolution(grade, counterfeit, grader_id, note)

        def work(session: Session) -> SecondGradingRecord:
            row = second_grades.resolve(
                session,
                case_id,
                grade=grade,
                counterfeit=counterfeit,
                grader_id=grader_id,
                note=note,
                actor=actor,
            )
            return SecondGradingRecord.model_validate(row)

        return self._write(work)


def open_store(database_url: str, photos_dir: Path, *, upgrade: bool = True) -> Store:
    """The store of a database and a photo folder (schema migrated).

    Args:
        database_url: An SQLAlchemy URL (a SQLite file's folder must exist).
        photos_dir: The photo store's root (created on the first photo).
        upgrade: Bring the database to the newest migration first.
    """
    engine = make_engine(database_url)
    if upgrade:
        migrate(engine)
    return Store(engine, PhotoStore(photos_dir))
