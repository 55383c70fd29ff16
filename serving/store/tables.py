"""The case database's tables: typed ORM models, portable between SQLite and PostgreSQL.

Tables: `cases` (one assessed unit: item fields, model results, route, review and pricing state),
`case_photos` (a case's photos in order), `photos` (content-addressed photo metadata; the bytes
live in `serving.store.photos`), `case_review_kinds` (why a case is in the review queue),
`review_resolutions` and `pricing_decisions` (at most one per case, enforced by a unique key, so a
decision sent twice is applied once even from two sessions at the same time), `case_events` (the
append-only audit trail), `outcomes` (what happened after listing, for retraining) and
`idempotency_keys` (an `/assess` request's `Idempotency-Key`, scoped to its API key, unique,
with the case it made).

Types are portable (String ids, `sqlalchemy.JSON`, Float money, UTC timestamps) so SQLite and
PostgreSQL behave the same. The schema is created by the Alembic migrations in
`serving/store/migrations` (see `serving.store.migrate`), never by `create_all` in production.
The engine that connects to it is made by `serving.store.engine.make_engine`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ID = String(36)
CODE = String(40)
TEXT_ID = String(200)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _json() -> JSON:
    return JSON(none_as_null=True)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names, so later migrations can alter them (SQLite batch mode needs names)."""


class Base(DeclarativeBase):
    """Declarative base of the service's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Case(Base):
    """One assessed unit: what was posted, what the models said, and where it stands."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    item_id: Mapped[str] = mapped_column(TEXT_ID, index=True)
    category: Mapped[str | None] = mapped_column(TEXT_ID)
    brand: Mapped[str | None] = mapped_column(TEXT_ID)
    order_id: Mapped[str | None] = mapped_column(TEXT_ID)
    serial_number: Mapped[str | None] = mapped_column(TEXT_ID, index=True)
    item: Mapped[dict[str, Any]] = mapped_column(_json())
    grade_result: Mapped[dict[str, Any] | None] = mapped_column(_json())
    price_result: Mapped[dict[str, Any] | None] = mapped_column(_json())
    route: Mapped[str] = mapped_column(CODE)
    reasons: Mapped[list[str]] = mapped_column(_json())
    review_status: Mapped[str] = mapped_column(String(16), index=True)
    final_grade: Mapped[str | None] = mapped_column(String(1))
    final_counterfeit: Mapped[bool | None] = mapped_column(Boolean)
    pricing_status: Mapped[str] = mapped_column(String(16), index=True)
    recommended_price: Mapped[float | None] = mapped_column(Float)
    floor_price: Mapped[float | None] = mapped_column(Float)
    final_price: Mapped[float | None] = mapped_column(Float)
    model_versions: Mapped[dict[str, Any]] = mapped_column(_json())

    photos: Mapped[list[CasePhoto]] = relationship(
        order_by="CasePhoto.position", cascade="all, delete-orphan"
    )
    kinds: Mapped[list[CaseReviewKind]] = relationship(cascade="all, delete-orphan")
    resolution: Mapped[ReviewResolution | None] = relationship()
    decision: Mapped[PricingDecision | None] = relationship()

    @property
    def review_kinds(self) -> list[str]:
        """Why the case waits (or waited) for a grader, as sorted codes."""
        return sorted(k.kind for k in self.kinds)


class Photo(Base):
    """A stored photo, keyed by the sha256 of its bytes (the same bytes are stored once)."""

    __tablename__ = "photos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CasePhoto(Base):
    """A case's photo at a position (0-based, in the order posted) with its per-photo result."""

    __tablename__ = "case_photos"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("photos.sha256"), index=True)
    filename: Mapped[str | None] = mapped_column(TEXT_ID)
    result: Mapped[dict[str, Any] | None] = mapped_column(_json())

    photo: Mapped[Photo] = relationship(lazy="joined")

    # The photo's own columns, so a case's photo reads as one record (`PhotoRecord`).
    @property
    def content_type(self) -> str:
        """The photo's content type."""
        return self.photo.content_type

    @property
    def bytes(self) -> int:
        """The photo's size in bytes."""
        return self.photo.bytes

    @property
    def width(self) -> int | None:
        """The photo's width in pixels."""
        return self.photo.width

    @property
    def height(self) -> int | None:
        """The photo's height in pixels."""
        return self.photo.height


class CaseReviewKind(Base):
    """One reason a case waits for a grader (grade_uncertain, counterfeit_flagged, provenance)."""

    __tablename__ = "case_review_kinds"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(CODE, primary_key=True, index=True)


class ReviewResolution(Base):
    """A grader's decision on a case; `case_id` is unique, so a case is resolved once."""

    __tablename__ = "review_resolutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), unique=True)
    grade: Mapped[str] = mapped_column(String(1))
    counterfeit: Mapped[bool] = mapped_column(Boolean)
    grader_id: Mapped[str] = mapped_column(TEXT_ID)
    note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PricingDecision(Base):
    """An analyst's approval or override of a recommended price; one per case (unique key)."""

    __tablename__ = "pricing_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    price: Mapped[float] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    analyst_id: Mapped[str] = mapped_column(TEXT_ID)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CaseEvent(Base):
    """One entry of a case's append-only audit trail; `id` gives the order."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    kind: Mapped[str] = mapped_column(CODE)
    actor: Mapped[str | None] = mapped_column(TEXT_ID)
    payload: Mapped[dict[str, Any]] = mapped_column(_json())
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Outcome(Base):
    """What happened to a listed unit: the targets of the price and time-to-sell models."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.case_id"), index=True)
    item_id: Mapped[str] = mapped_column(TEXT_ID, index=True)
    sold_price: Mapped[float | None] = mapped_column(Float)
    days_listed: Mapped[float] = mapped_column(Float)
    sold: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SecondGrading(Base):
    """A resolved case sent back to a second grader, who grades it without seeing the first
    decision (the double-grading sample); one per case (unique key).

    `status` is `open` until the second grade is in (`grade`, `counterfeit`, `grader_id`,
    `resolved_at` then set).
    """

    __tablename__ = "second_gradings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    grade: Mapped[str | None] = mapped_column(String(1))
    counterfeit: Mapped[bool | None] = mapped_column(Boolean)
    grader_id: Mapped[str | None] = mapped_column(TEXT_ID)
    note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """The `Idempotency-Key` an `/assess` request came with: the key is the primary key, so a
    retry finds the case the first request made, across workers and replicas.

    `request_sha256` is the hash of the request body (item fields and photos), so the same key
    with another body is told apart; `answer` is the case as it was first answered.
    """

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), unique=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    answer: Mapped[dict[str, Any]] = mapped_column(_json())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
