"""Idempotent intake: the case an `/assess` request with an `Idempotency-Key` made.

A client that retries after a dropped connection sends the same key and the same body again and
gets the first answer back (the case as it was first answered, same case id), never a second
case. The key is the primary key of `idempotency_keys`, written in the transaction that stores
the case, so two tries racing on two workers or replicas store one case: the loser's insert
fails on the key, and the store's retry finds the winner's. The same key with another body (its
hash differs) is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from serving.store.errors import ConflictError
from serving.store.records import CaseRecord
from serving.store.tables import IdempotencyKey, utcnow


@dataclass(frozen=True)
class IntakeKey:
    """An `/assess` request's idempotency key and the SHA-256 of its body (hex)."""

    key: str
    request_sha256: str


def replay(session: Session, intake: IntakeKey) -> CaseRecord | None:
    """The first answer to this key, or None when the key is new.

    Raises:
        ConflictError: the key came before with another body.
    """
    row = session.get(IdempotencyKey, intake.key)
    if row is None:
        return None
    if row.request_sha256 != intake.request_sha256:
        raise ConflictError(
            f"Idempotency-Key {intake.key!r} was used before with another request body; "
            "use a new key for a new request"
        )
    return CaseRecord.model_validate(row.answer)


def remember(session: Session, intake: IntakeKey, answer: CaseRecord) -> None:
    """Store the key with the case it made (fails on the key when another try stored it)."""
    session.add(
        IdempotencyKey(
            key=intake.key,
            case_id=answer.case_id,
            request_sha256=intake.request_sha256,
            answer=answer.model_dump(mode="json"),
            created_at=utcnow(),
        )
    )
    session.flush()
