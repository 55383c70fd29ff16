"""The one place errors become HTTP answers: each typed error's status and JSON body.

Intake errors (`serving.errors`) and the case store's errors (`serving.store.errors`) are raised
as they are by the BentoML APIs, the routes and the upload guard, and answered here:

| error | status | body |
|---|---|---|
| `UploadTooLarge` | 413 | error, field |
| `NotAForm` | 415 | error, field |
| `IntakeError` | 400 | error, field |
| `InvalidInput` | 422 | error, field |
| `PolicyViolation` | 422 | error, field `price`, floor_price |
| `NotFoundError` | 404 | error |
| `ConflictError` | 409 | error |
| `Unavailable` | 503 | error (the database cannot be reached or written; nothing stored) |
| `Overloaded` | 503 | error |
| `TimedOut` | 504 | error |
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from serving.errors import IntakeError, NotAForm, Overloaded, TimedOut, UploadTooLarge
from serving.store.errors import (
    ConflictError,
    InvalidInput,
    NotFoundError,
    PolicyViolation,
    Unavailable,
)

STATUSES: dict[type[Exception], HTTPStatus] = {
    UploadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    NotAForm: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    IntakeError: HTTPStatus.BAD_REQUEST,
    InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
    PolicyViolation: HTTPStatus.UNPROCESSABLE_ENTITY,
    NotFoundError: HTTPStatus.NOT_FOUND,
    ConflictError: HTTPStatus.CONFLICT,
    Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    Overloaded: HTTPStatus.SERVICE_UNAVAILABLE,
    TimedOut: HTTPStatus.GATEWAY_TIMEOUT,
}
"""Status per error class; a subclass not listed takes its nearest listed base's."""

ANSWERED = tuple(STATUSES)
"""The errors answered here (anything else is a 500)."""


def status_of(exc: Exception) -> HTTPStatus:
    """The HTTP status of an error in `ANSWERED`."""
    for cls in type(exc).__mro__:
        if cls in STATUSES:
            return STATUSES[cls]
    raise TypeError(f"{type(exc).__name__} has no HTTP status") from exc


def body_of(exc: Exception) -> dict[str, Any]:
    """The JSON body: the message, and the field at fault where there is one."""
    if isinstance(exc, PolicyViolation):
        return {"error": str(exc), "field": "price", "floor_price": exc.floor_price}
    if isinstance(exc, IntakeError | InvalidInput):
        return {"error": str(exc), "field": exc.field}
    return {"error": str(exc)}


def error_response(exc: Exception) -> JSONResponse:
    """The answer to an error in `ANSWERED`."""
    return JSONResponse(body_of(exc), status_code=int(status_of(exc)))


async def _handle(_: Request, exc: Exception) -> JSONResponse:
    return error_response(exc)


def install(app: FastAPI) -> None:
    """Answer every error in `ANSWERED` raised by `app`'s routes."""
    for cls in ANSWERED:
        app.add_exception_handler(cls, _handle)
