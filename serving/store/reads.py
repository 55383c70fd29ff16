"""The read side of the store: cases, the review and pricing queues, audit trails, exports.

`Reader` opens one read transaction per call and returns detached records;
`serving.store.writes.Store` adds the writes on top of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import Engine, Select, select, text
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError
from sqlalchemy.orm import Session, selectinload

from features.provenance import normalise_serial
from serving.store import checks, queues
from serving.store.engine import WRITE_OPTION
from serving.store.errors import InvalidInput, NotFoundError, Unavailable
from serving.store.exports import cases_table, grader_decisions, outcomes_table
from serving.store.photos import PhotoStore
from serving.store.records import BlindCaseRecord, CaseRecord, EventRecord, PhotoRecord
from serving.store.tables import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseReviewKind,
    Outcome,
    Photo,
    SecondGrading,
)


def case_query() -> Select[tuple[Case]]:
    """Select cases with their photos, review kinds, resolution and decision loaded eagerly."""
    return select(Case).options(
        selectinload(Case.photos).joinedload(CasePhoto.photo),
        selectinload(Case.kinds),
        selectinload(Case.resolution),
        selectinload(Case.decision),
    )


def second_grading_query(status: str) -> Select[tuple[Case, SecondGrading]]:
    """Cases with a second grading in `status` (open or resolved), oldest request first."""
    return (
        case_query()
        .add_columns(SecondGrading)
        .join(SecondGrading, SecondGrading.case_id == Case.case_id)
        .where(SecondGrading.status == status)
        .order_by(SecondGrading.requested_at, SecondGrading.id)
    )


PROBE_WRITE = text("UPDATE alembic_version SET version_num = version_num")
"""A write that changes nothing, refused by a read-only database (rolled back anyway)."""


def _first_line(exc: Exception) -> str:
    """The driver's message (first line) of a SQLAlchemy error."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


class Reader:
    """Reads of the service's database and photo store."""

    def __init__(self, engine: Engine, photos: PhotoStore):
        """Use a migrated database (`serving.store.migrate.migrate`) and a photo store."""
        self.engine = engine
        self.photos = photos

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        Raises:
            Unavailable: the database cannot be reached or written (the driver's operational
                errors, PostgreSQL's read-only transaction); nothing was stored.
        """
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                if write:
                    session.connection(execution_options={WRITE_OPTION: True})
                yield session
        except (OperationalError, InternalError) as exc:
            raise Unavailable(f"the case database is unavailable: {_first_line(exc)}") from exc

    def unwritable(self) -> str | None:
        """Why the database cannot be written now, or None when it can (/readyz asks).

        Writes a row in a transaction that is always rolled back, so nothing is stored. A
        write lock held by another writer counts as writable (someone is writing).
        """
        try:
            with self.engine.connect() as connection:
                connection.execution_options(**{WRITE_OPTION: True})
                transaction = connection.begin()
                try:
                    connection.execute(PROBE_WRITE)
                finally:
                    transaction.rollback()
        except DBAPIError as exc:  # read-only, unreachable, or not a migrated database
            reason = _first_line(exc)
            return None if "database is locked" in reason else reason
        return None

    def _case(self, session: Session, case_id: str) -> Case:
        case = session.scalar(case_query().where(Case.case_id == case_id))
        if case is None:
            raise NotFoundError(f"no case {case_id!r}")
        return case

    def get_case(self, case_id: str) -> CaseRecord:
        """The case with this id.

        Raises:
            NotFoundError: no such case.
        """
        with self._session() as session:
            return CaseRecord.model_validate(self._case(session, case_id))

    def list_reviews(
        self,
        status: str | None = "open",
        kind: str | None = None,
        limit: int = checks.DEFAULT_PAGE,
        offset: int = 0,
    ) -> list[CaseRecord]:
        """Cases in the review queue, oldest first.

        Args:
            status: open, resolved, or None for both.
            kind: Only cases queued for this reason (e.g. counterfeit_flagged).
            limit: At most this many (1 to `checks.MAX_PAGE`).
            offset: Skip this many first.

        Raises:
            InvalidInput: a bad status, kind, limit or offset.
        """
        checks.page(limit, offset)
        query = case_query().where(Case.review_status.in_(checks.review_statuses(status)))
        if kind is not None:
            checks.code(kind, "kind")
            kinds = select(CaseReviewKind.case_id).where(CaseReviewKind.kind == kind)
            query = query.where(Case.case_id.in_(kinds))
        query = query.order_by(Case.created_at, Case.case_id).limit(limit).offset(offset)
        with self._session() as session:
            return [CaseRecord.model_validate(c) for c in session.scalars(query)]

    def pending_pricing(
        self, limit: int = checks.DEFAULT_PAGE, offset: int = 0, *, include_in_review: bool = False
    ) -> list[CaseRecord]:
        """Cases whose recommended price waits for an analyst, oldest first.

        Cases still in the review queue are left out unless `include_in_review`: their grade,
        and so their price, may still change.

        Raises:
            InvalidInput: a bad limit or offset.
        """
        checks.page(limit, offset)
        query = case_query().where(Case.pricing_status == "pending")
        if not include_in_review:
            query = query.where(Case.review_status != "open")
        query = query.order_by(Case.created_at, Case.case_id).limit(limit).offset(offset)
        with self._session() as session:
            return [CaseRecord.model_validate(c) for c in session.scalars(query)]

    def open_serials(self, exclude_case_id: str | None = None) -> set[str]:
        """Serial numbers (normalised) of open cases: in review or pricing, no outcome yet."""
        query = select(Case.serial_number).where(
            Case.serial_number.is_not(None),
            (Case.review_status == "open") | (Case.pricing_status == "pending"),
            Case.case_id.not_in(select(Outcome.case_id).where(Outcome.case_id.is_not(None))),
        )
        if exclude_case_id is not None:
            query = query.where(Case.case_id != exclude_case_id)
        with self._session() as session:
            return {s for s in map(normalise_serial, session.scalars(query)) if s}

    def events(self, case_id: str) -> list[EventRecord]:
        """A case's audit trail, oldest first.

        Raises:
            NotFoundError: no such case.
        """
        with self._session() as session:
            self._case(session, case_id)
            query = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            return [EventRecord.model_validate(e) for e in session.scalars(query)]

    def review_counts(self) -> dict[str, int]:
        """Open review cases per kind, and `all` for every open case."""
        with self._session() as session:
            return queues.review_counts(session)

    def review_neighbours(
        self, case_id: str, kind: str | None = None
    ) -> tuple[str | None, str | None]:
        """The open cases just before and after `case_id` in the review queue (of `kind`).

        Raises:
            NotFoundError: no such case.
        """
        with self._session() as session:
            return queues.review_neighbours(session, self._case(session, case_id), kind)

    def next_open_review(self, kind: str | None = None, exclude: str | None = None) -> str | None:
        """The oldest case waiting for a grader (of `kind`), other than `exclude`."""
        with self._session() as session:
            return queues.first_open_review(session, kind, exclude)

    def pricing_queue(
        self,
        sort: str = "age",
        *,
        descending: bool = False,
        limit: int = checks.DEFAULT_PAGE,
        offset: int = 0,
    ) -> tuple[list[CaseRecord], int]:
        """A page of prices waiting for a decision, sorted (`queues.PRICING_SORTS`), and the count.

        Raises:
            InvalidInput: a bad sort, limit or offset.
        """
        with self._session() as session:
            return queues.pricing_queue(session, case_query(), sort, descending, limit, offset)

    def listed_cases(
        self,
        routes: tuple[str, ...],
        since: int = 0,
        limit: int = checks.DEFAULT_PAGE,
        *,
        case_id: str | None = None,
    ) -> list[tuple[int, CaseRecord]]:
        """Cases with a decided price on one of `routes`, after the cursor `since`, with theirs.

        `case_id` narrows it to one case.

        Raises:
            InvalidInput: a bad cursor or limit.
        """
        with self._session() as session:
            return queues.listed_cases(session, case_query(), routes, since, limit, case_id)

    def get_photo(self, sha256: str) -> PhotoRecord:
        """A stored photo's metadata (read its bytes with `self.photos.read`).

        Raises:
            NotFoundError: no such photo.
        """
        with self._session() as session:
            photo = session.get(Photo, sha256)
            if photo is None:
                raise NotFoundError(f"no photo {sha256!r}")
            return PhotoRecord.model_validate(photo)

    def second_grading_queue(
        self, status: str = "open", limit: int = checks.DEFAULT_PAGE, offset: int = 0
    ) -> list[BlindCaseRecord]:
        """Cases sent to a second grader, blind: no first decision (oldest request first).

        Raises:
            InvalidInput: a status other than open or resolved, a bad limit or offset.
        """
        checks.page(limit, offset)
        if status not in ("open", "resolved"):
            raise InvalidInput("status", f"must be open or resolved, got {status!r}")
        query = second_grading_query(status).limit(limit).offset(offset)
        with self._session() as session:
            return [
                BlindCaseRecord.model_validate(case).model_copy(
                    update={"requested_at": row.requested_at}
                )
                for case, row in session.execute(query)
            ]

    def export_grader_decisions(
        self, *, absolute_paths: bool = False, since: dt.datetime | None = None
    ) -> pd.DataFrame:
        """Graders' decisions as a photo-dataset manifest (see `serving.store.exports`)."""
        with self._session() as session:
            return grader_decisions(
                session, self.photos, absolute_paths=absolute_paths, since=since
            )

    def export_outcomes(self, *, since: dt.datetime | None = None) -> pd.DataFrame:
        """Outcomes joined with their cases' item fields, as an outcomes table."""
        with self._session() as session:
            return outcomes_table(session, since=since)

    def export_cases(
        self, *, since: dt.datetime | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Cases (and their photos) since a time, for monitoring (see `serving.store.exports`)."""
        with self._session() as session:
            return cases_table(session, self.photos, since=since)
