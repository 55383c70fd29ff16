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
| `MissingFile` | 410 | error |
| `NotFoundError` | 404 | error |
| `ConflictError` | 409 | error |
| `Unavailable` | 503 | error (the database cannot be reached or written; nothing stored) |
| `Overloaded` | 503 | error |
| `TimedOut` | 504 | error |
| a failed schema check | 400 (`/grade`, `/price`, `/assess`), 422 (routes) | error, field, detail |

Every refusal has the one shape `ErrorBody` (documented in the OpenAPI, `serving.api.openapi`):
`error` a sentence, `field` the field at fault where there is one (`items[0].refurb_cost`,
`offset`, `photos[1]`, `body`), `detail` the schema's findings (`loc`, `msg`, `type`; never the
input, which may be NaN and cannot be written as JSON). Refusals are logged as one INFO line
(`log_refusal`), not as tracebacks: they are the client's error, not the service's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from serving.errors import IntakeError, NotAForm, Overloaded, TimedOut, UploadTooLarge
from serving.store.errors import (
    ConflictError,
    InvalidInput,
    MissingFile,
    NotFoundError,
    PolicyViolation,
    Unavailable,
)

log = logging.getLogger(__name__)

STATUSES: dict[type[Exception], HTTPStatus] = {
    UploadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    NotAForm: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    IntakeError: HTTPStatus.BAD_REQUEST,
    InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
    PolicyViolation: HTTPStatus.UNPROCESSABLE_ENTITY,
    MissingFile: HTTPStatus.GONE,
    NotFoundError: HTTPStatus.NOT_FOUND,
    ConflictError: HTTPStatus.CONFLICT,
    Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    Overloaded: HTTPStatus.SERVICE_UNAVAILABLE,
    TimedOut: HTTPStatus.GATEWAY_TIMEOUT,
}
"""Status per error class; a subclass not listed takes its nearest listed base's."""

ANSWERED = tuple(STATUSES)
"""The errors answered here (anything else is a 500)."""
LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})
"""Where FastAPI says a field was; left out of the field's name."""


class ErrorDetail(BaseModel):
    """One finding of a schema check."""

    loc: list[str | int] = Field(..., description="Where: the path to the field.")
    msg: str = Field(..., description="What is wrong with it.")
    type: str = Field(..., description="The kind of error (pydantic's code).")


class ErrorBody(BaseModel):
    """Every refusal's body: what is wrong and the field at fault."""

    error: str = Field(..., description="What is wrong, in a sentence.")
    field: str | None = Field(
        None, description="The field at fault, e.g. items[0].refurb_cost, offset, photos[1], body."
    )
    floor_price: float | None = Field(None, description="The floor (an override below it).")
    detail: list[ErrorDetail] | None = Field(None, description="Each schema finding.")


def field_name(loc: Iterable[str | int]) -> str:
    """A validation error's location as a field name: `items[0].refurb_cost`, `offset`, `body`.

    Args:
        loc: pydantic's or FastAPI's location, e.g. `("body", "sold_price")` or
            `("items", 0, "refurb_cost")`.
    """
    parts = list(loc)
    if parts and parts[0] in LOCATIONS:
        parts = parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def validation_body(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The `ErrorBody` of failed schema checks: every finding, the first one's field named.

    Args:
        errors: pydantic's `ValidationError.errors()` (or FastAPI's); their inputs are dropped.
    """
    details = [
        {"loc": list(e.get("loc") or ()), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in errors
    ]
    if not details:
        return {"error": "the request does not match its schema", "field": "body"}
    message = "; ".join(f"{field_name(d['loc'])}: {d['msg']}" for d in details)
    return {"error": message, "field": field_name(details[0]["loc"]), "detail": details}


def log_refusal(method: str, path: str, status: int, body: Mapping[str, Any]) -> None:
    """One INFO line for a refused request: status, route, field and message."""
    field, error = body.get("field"), str(body.get("error"))
    if field and not error.startswith(f"{field}: "):
        error = f"{field}: {error}"
    log.info("refused %s %s: %d %s", method, path, status, error)


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


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """A request that fails its schema (422); NaN inputs are not echoed, so it always answers."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(validation_body(errors), status_code=422)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (no such route, method not allowed) in the one shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    headers = exc.headers if isinstance(exc, HTTPException) else None
    return JSONResponse({"error": str(detail)}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Answer every error in `ANSWERED`, schema failures and HTTP errors raised by `app`."""
    for cls in ANSWERED:
        app.add_exception_handler(cls, _handle)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
