"""The errors the case store raises on purpose; `serving.api.errors` maps them to HTTP statuses.

`InvalidInput` names the field at fault, `NotFoundError` is an unknown case or photo
(`MissingFile`: recorded, but its file is gone), `ConflictError` contradicts what is recorded,
`PolicyViolation` is a price the guardrails refuse, `Unavailable` is a database that cannot be
reached or written (read-only, down).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of the errors the store raises on purpose."""


class InvalidInput(StoreError, ValueError):
    """A value the store refuses; `field` names it (e.g. `sold_price`, `photos[1]`)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFoundError(StoreError, LookupError):
    """No case (or photo) with the given id."""


class MissingFile(NotFoundError):
    """A record whose file is gone (a stored photo deleted from the photo folder)."""


class ConflictError(StoreError):
    """The request contradicts what is already recorded (e.g. a different resolution)."""


class PolicyViolation(StoreError):
    """A pricing decision the guardrails refuse: an override below the floor price."""

    def __init__(self, message: str, *, price: float, floor_price: float):
        self.price = price
        self.floor_price = floor_price
        super().__init__(message)


class Unavailable(StoreError):
    """The database cannot be reached or written (read-only file or server, connection lost).

    Nothing was stored; the request may be retried once the database is back.
    """
