"""Errors of the request intake: a posted value the service refuses, naming the field.

The case store's own errors are in `serving.store.errors`; `serving.api.errors` maps both to HTTP
statuses.
"""

from __future__ import annotations

from http import HTTPStatus


class IntakeError(ValueError):
    """A posted value the service refuses; `field` names it, `status` is the HTTP status."""

    def __init__(self, field: str, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        self.field = field
        self.message = message
        self.status = status
        super().__init__(f"{field}: {message}")
