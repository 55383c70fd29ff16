"""The queries behind the people's pages and the listing feed, each given an open session.

Counts per review kind, a case's neighbours in the review queue (for next and previous), the
pricing queue sorted by a value read from the stored price result, and the decided cases that
a listing feed reads by cursor (the pricing decision's id, which only grows). `Reader` wraps
each in a read transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from serving.store import checks
from serving.store.errors import InvalidInput
from serving.store.records import CaseRecord
from serving.store.tables import Case, CaseReviewKind, PricingDecision

PRICING_SORTS = ("age", "margin", "days", "value")
"""Pricing queue orders: oldest first, margin, days to sell P50, recommended price."""


def _pricing_key(sort: str) -> ColumnElement:
    if sort == "margin":
        return Case.price_result["margin"].as_float()
    if sort == "days":
        return Case.price_result[("days_to_sell", "p50")].as_float()
    if sort == "value":
        return Case.recommended_price
    return Case.created_at


def review_counts(session: Session) -> dict[str, int]:
    """Open review cases per kind, and `all` for every open case."""
    by_kind = (
        select(CaseReviewKind.kind, func.count())
        .join(Case, Case.case_id == CaseReviewKind.case_id)
        .where(Case.review_status == "open")
        .group_by(CaseReviewKind.kind)
    )
    counts = {kind: int(n) for kind, n in session.execute(by_kind)}
    total = select(func.count()).select_from(Case).where(Case.review_status == "open")
    counts["all"] = int(session.scalar(total) or 0)
    return counts


def _open_reviews(kind: str | None):
    query = select(Case.case_id).where(Case.review_status == "open")
    if kind is not None:
        checks.code(kind, "kind")
        kinds = select(CaseReviewKind.case_id).where(CaseReviewKind.kind == kind)
        query = query.where(Case.case_id.in_(kinds))
    return query


def review_neighbours(
    session: Session, case: Case, kind: str | None
) -> tuple[str | None, str | None]:
    """The open cases just before and just after `case` in the queue (oldest first)."""
    at, cid = case.created_at, case.case_id
    before = or_(Case.created_at < at, and_(Case.created_at == at, Case.case_id < cid))
    after = or_(Case.created_at > at, and_(Case.created_at == at, Case.case_id > cid))
    query = _open_reviews(kind)
    previous = session.scalar(
        query.where(before).order_by(Case.created_at.desc(), Case.case_id.desc()).limit(1)
    )
    following = session.scalar(query.where(after).order_by(Case.created_at, Case.case_id).limit(1))
    return previous, following


def first_open_review(session: Session, kind: str | None, exclude: str | None) -> str | None:
    """The oldest open case (of `kind`), other than `exclude`."""
    query = _open_reviews(kind)
    if exclude is not None:
        query = query.where(Case.case_id != exclude)
    return session.scalar(query.order_by(Case.created_at, Case.case_id).limit(1))


def pricing_queue(
    session: Session, cases: Select, sort: str, descending: bool, limit: int, offset: int
) -> tuple[list[CaseRecord], int]:
    """A page of the cases whose price waits for a decision (not in review), and their count.

    `cases` is the query that loads cases (`serving.store.reads.case_query()`).

    Raises:
        InvalidInput: a bad sort, limit or offset.
    """
    checks.page(limit, offset)
    if sort not in PRICING_SORTS:
        raise InvalidInput("sort", f"must be one of {list(PRICING_SORTS)}, got {sort!r}")
    waiting = and_(Case.pricing_status == "pending", Case.review_status != "open")
    key = _pricing_key(sort)
    order = key.desc() if descending else key.asc()
    query = (
        cases.where(waiting)
        .order_by(order.nulls_last(), Case.created_at, Case.case_id)
        .limit(limit)
        .offset(offset)
    )
    cases = [CaseRecord.model_validate(c) for c in session.scalars(query)]
    total = int(session.scalar(select(func.count()).select_from(Case).where(waiting)) or 0)
    return cases, total


def listed_cases(
    session: Session,
    cases: Select,
    routes: Sequence[str],
    since: int,
    limit: int,
    case_id: str | None = None,
) -> list[tuple[int, CaseRecord]]:
    """Decided cases on a listing route whose decision id is above `since`, in id order.

    `cases` is the query that loads cases; each comes with its cursor (the decision's id).

    Raises:
        InvalidInput: a bad cursor or limit.
    """
    checks.page(limit, 0)
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise InvalidInput("since", "must be a whole number, 0 or more (the last cursor seen)")
    query = (
        cases.add_columns(PricingDecision.id)
        .join(PricingDecision, PricingDecision.case_id == Case.case_id)
        .where(PricingDecision.id > since, Case.route.in_(list(routes)))
        .order_by(PricingDecision.id)
        .limit(limit)
    )
    if case_id is not None:
        query = query.where(Case.case_id == case_id)
    return [(int(cursor), CaseRecord.model_validate(c)) for c, cursor in session.execute(query)]
