"""Errors of the request intake: a posted value the service refuses, naming the field.

The case store's own errors are in `serving.store.errors`; `serving.api.errors` maps both to HTTP
statuses (an `IntakeError` is a 400, an upload too large 413, a body that is not a form 415).
"""

from __future__ import annotations


class IntakeError(ValueError):
    """A posted value the service refuses; `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class UploadTooLarge(IntakeError):
    """A photo or a request body over its size limit."""


class NotAForm(IntakeError):
    """An upload route's body is not a multipart form."""


class TimedOut(Exception):
    """A request that passed its time limit (`request_timeout_s`); the message says which."""


class Overloaded(Exception):
    """The grader shed the request (its batching queue passed its latency budget); retry."""
