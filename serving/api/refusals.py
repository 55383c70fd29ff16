"""Refused requests: answered in the one error shape and logged as one line, never a traceback.

`Refusals`, an ASGI middleware, watches every answer. A refusal (400, 404, 405, 409, 410, 413,
415, 422; not 401 and 403, which the auth middleware answers and the access log records) is
logged as one INFO line naming the route, status and field (`serving.api.errors.log_refusal`),
and one BentoML wrote itself (a failed schema check on `/grade`, `/price`, `/assess`, whose
`detail` is pydantic's list, or a bare `[{"error": ...}]`) is rewritten as an `ErrorBody`.
BentoML also logs those at ERROR with a traceback; `QuietRefusals`, a logging filter installed by
`log_refusals`, drops those records (the client's errors), keeping every other one; it also sets
the refusal logger to INFO (the root logger `bentoml serve` configures is at WARNING), so the lines
appear in the server log next to the access lines.

The people's pages under `/ui` answer their own refusals as pages and pass through untouched.
It also refuses, before BentoML parses it, a `/price` body that is not JSON (415): BentoML would
read a multipart body as a form and fail with a 500 on one without a boundary.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

from serving.api.auth import WEB_PREFIX
from serving.api.errors import error_response, log, log_refusal, validation_body
from serving.errors import NotAForm

JSON_ROUTES = ("/price",)
"""BentoML APIs that take a JSON body only."""
LOGGED = frozenset({400, 404, 405, 409, 410, 413, 415, 422})
"""Statuses logged as refusals."""
BENTOML_LOGGER = "bentoml._internal.server.http_app"
"""Where BentoML logs a failed request (`log_exception`)."""


def error_body(raw: bytes, status: int) -> dict[str, Any]:
    """A refusal's body as an `ErrorBody`: kept when it is one, else rewritten.

    Args:
        raw: The body as answered (BentoML's, FastAPI's or ours).
        status: Its status, for a body that is not JSON.
    """
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], dict) and "error" in body[0]:
        return {"error": str(body[0]["error"]), "field": "body"}  # BentoML's `({"error": ...},)`
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        text = raw.decode("utf-8", "replace").strip() if raw else ""
        return {"error": text or f"refused ({status})"}
    detail = body.get("detail")
    if "field" not in body and isinstance(detail, list):  # BentoML's failed schema check
        return validation_body([d for d in detail if isinstance(d, dict)])
    return body


def _not_json(scope) -> bool:
    headers = dict(scope.get("headers") or [])
    kind = headers.get(b"content-type", b"application/json").decode("latin-1")
    return kind.split(";")[0].strip().lower() not in ("application/json", "")


class Refusals:
    """ASGI middleware: refusals in the one error shape, each logged as one INFO line."""

    def __init__(self, app) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope.get("method", "GET"), scope.get("path", "")
        if path == WEB_PREFIX or path.startswith(WEB_PREFIX + "/"):
            return await self.app(scope, receive, send)  # the pages answer refusals as pages
        if method == "POST" and path in JSON_ROUTES and _not_json(scope):
            answer = error_response(NotAForm("body", "send the items as application/json"))
            log_refusal(method, path, answer.status_code, json.loads(answer.body))
            return await answer(scope, receive, send)
        held: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def watched(event):
            nonlocal held
            if event["type"] == "http.response.start" and event["status"] in LOGGED:
                held = event
                return None
            if held is None or event["type"] != "http.response.body":
                return await send(event)
            chunks.append(event.get("body", b""))
            if event.get("more_body", False):
                return None
            status = held["status"]
            body = error_body(b"".join(chunks), status)
            log_refusal(method, path, status, body)
            answer = JSONResponse(body, status_code=status)
            kept = [(k, v) for k, v in held.get("headers", []) if k.lower() in _KEPT_HEADERS]
            headers = [*answer.raw_headers, *kept]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            return await send({"type": "http.response.body", "body": answer.body})

        return await self.app(scope, receive, watched)


_KEPT_HEADERS = frozenset({b"connection", b"www-authenticate", b"allow", b"retry-after"})
"""Headers of a refusal kept when its body is rewritten (BentoML's and ours)."""


class QuietRefusals(logging.Filter):
    """Drops BentoML's ERROR-with-traceback record of a request it refused (a 4xx)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a refused request's record (logged once by `Refusals` instead)."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            return False
        status = getattr(getattr(exc, "error_code", None), "value", None)
        return not (isinstance(status, int) and 400 <= status < 500)


def log_refusals() -> None:
    """Refusals as one INFO line each, in the server log; BentoML's tracebacks of them dropped.

    Installs `QuietRefusals` on BentoML's request logger and sets the refusal logger
    (`serving.api.errors.log`) to INFO unless a level was set; calling it again changes nothing.
    """
    logger = logging.getLogger(BENTOML_LOGGER)
    if not any(isinstance(f, QuietRefusals) for f in logger.filters):
        logger.addFilter(QuietRefusals())
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
