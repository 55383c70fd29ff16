"""Loading cases with everything a record needs, and turning rows into detached records."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from serving.store.photos import PhotoStore
from serving.store.records import (
    CaseRecord,
    DecisionRecord,
    EventRecord,
    OutcomeRecord,
    PhotoRecord,
    ResolutionRecord,
)
from serving.store.tables import Case, CaseEvent, CasePhoto, Outcome, Photo


def case_query() -> Select[tuple[Case]]:
    """Select cases with their photos, review kinds, resolution and decision loaded eagerly."""
    return select(Case).options(
        selectinload(Case.photos).joinedload(CasePhoto.photo),
        selectinload(Case.kinds),
        selectinload(Case.resolution),
        selectinload(Case.decision),
    )


def photo_record(photo: Photo, store: PhotoStore, link: CasePhoto | None = None) -> PhotoRecord:
    """A photo's record; `link` adds its position, file name and result within a case."""
    return PhotoRecord(
        position=link.position if link is not None else None,
        sha256=photo.sha256,
        content_type=photo.content_type,
        size=photo.bytes,
        width=photo.width,
        height=photo.height,
        path=store.relative_path(photo.sha256, photo.content_type),
        filename=link.filename if link is not None else None,
        result=link.result if link is not None else None,
    )


def case_record(case: Case, store: PhotoStore) -> CaseRecord:
    """A detached copy of a case loaded by `case_query`."""
    resolution = case.resolution
    decision = case.decision
    return CaseRecord(
        case_id=case.case_id,
        created_at=case.created_at,
        updated_at=case.updated_at,
        item_id=case.item_id,
        category=case.category,
        brand=case.brand,
        order_id=case.order_id,
        serial_number=case.serial_number,
        item=dict(case.item),
        grade_result=case.grade_result,
        price_result=case.price_result,
        route=case.route,
        reasons=list(case.reasons),
        review_status=case.review_status,
        review_kinds=sorted(k.kind for k in case.kinds),
        final_grade=case.final_grade,
        final_counterfeit=case.final_counterfeit,
        pricing_status=case.pricing_status,
        recommended_price=case.recommended_price,
        floor_price=case.floor_price,
        final_price=case.final_price,
        model_versions=dict(case.model_versions),
        photos=[photo_record(link.photo, store, link) for link in case.photos],
        resolution=None
        if resolution is None
        else ResolutionRecord(
            grade=resolution.grade,
            counterfeit=resolution.counterfeit,
            grader_id=resolution.grader_id,
            note=resolution.note,
            resolved_at=resolution.resolved_at,
        ),
        decision=None
        if decision is None
        else DecisionRecord(
            action=decision.action,
            price=decision.price,
            reason=decision.reason,
            analyst_id=decision.analyst_id,
            decided_at=decision.decided_at,
        ),
    )


def event_record(event: CaseEvent) -> EventRecord:
    """A detached copy of an audit event."""
    return EventRecord(
        id=event.id,
        case_id=event.case_id,
        kind=event.kind,
        actor=event.actor,
        payload=dict(event.payload),
        at=event.at,
    )


def outcome_record(outcome: Outcome) -> OutcomeRecord:
    """A detached copy of an outcome."""
    return OutcomeRecord(
        id=outcome.id,
        case_id=outcome.case_id,
        item_id=outcome.item_id,
        sold_price=outcome.sold_price,
        days_listed=outcome.days_listed,
        sold=outcome.sold,
        recorded_at=outcome.recorded_at,
    )
