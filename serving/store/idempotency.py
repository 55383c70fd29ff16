"""Idempotent intake: the case an `/assess` request with an `Idempotency-Key` made.

A client that retries after a dropped connection sends the same key and the same body again and
gets the first answer back (the case as it was first answered, same case id), never a second
case. The key is the primary key of `idempotency_keys`, written in the transaction that stores
the case, so two tries racing on two workers or replicas store one case: the loser's insert
fails on the key, and the store's retry finds the winner's. The same key with another body (its
hash differs) is a conflict.

A key belongs to the API key that sent it: the row's key is a hash of both (`IntakeKey.row_key`),
so two clients that happen to choose the same key get a case each, and neither can learn of the
other's case or provoke a conflict with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from serving.store.errors import ConflictError
from serving.store.records import CaseRecord
from serving.store.tables import IdempotencyKey, utcnow


@dataclass(frozen=True)
class IntakeKey:
    """An `/assess` request's idempotency key and the SHA-256 of its body (hex).

    Attributes:
        key: The key as the client sent it.
        request_sha256: The body's hash.
        owner: The hash of the API key that sent it (empty: unscoped, as in direct store use).
    """

    key: str
    request_sha256: str
    owner: str = ""

    @property
    def row_key(self) -> str:
        """The key as stored: the client's key, scoped to its API key when it has one."""
        if not self.owner:
            return self.key
        return "k:" + hashlib.sha256(f"{self.owner}\0{self.key}".encode()).hexdigest()


def replay(session: Session, intake: IntakeKey) -> CaseRecord | None:
    """The first answer to this key, or None when the key is new.

    Raises:
        ConflictError: the key came before with another body.
    """
    row = session.get(IdempotencyKey, intake.row_key)
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
            key=intake.row_key,
            case_id=answer.case_id,
            request_sha256=intake.request_sha256,
            answer=answer.model_dump(mode="json"),
            created_at=utcnow(),
        )
    )
    session.flush()
