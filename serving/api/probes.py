"""ASGI middleware answering `/readyz` with the model versions, and sending `/docs` to the docs.

`/readyz` is 200 with the loaded models and whether grading is batched once the runtime is in
its slot (the models were verified and probed while it loaded, `serving.runtime`) and the
service can do its work now: the case database takes a write (a write rolled back,
`Store.unwritable`) and, when grading is batched, the grading runner answers. Otherwise it is
503 with the reason: before start-up finished, after shutdown began, a read-only or lost
database, a runner that is down. `/docs.json` is the OpenAPI document completed by
`serving.api.openapi.document` (security, error statuses, one error body), and `/docs` and `/`
are our Swagger UI page over it (BentoML's own page loads a third-party script).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from serving.api.answer_models import Ready
from serving.api.openapi import DOCS_PAGE, document
from serving.api.state import RuntimeSlot

CHECK_TIMEOUT_S = 5.0
"""Longest /readyz waits for the database or the runner before calling it not ready."""
DOCS_PATHS = frozenset({"/docs", "/"})
"""Where the Swagger UI page is served."""


class Probes:
    """ASGI middleware: `/readyz` with the model versions, `/docs.json` and the Swagger UI."""

    def __init__(self, app, slot: RuntimeSlot, spec: Callable[[], dict[str, Any]]) -> None:
        """Wrap `app`; readiness is whether `slot` holds a runtime; `spec` gives BentoML's
        OpenAPI document (completed here)."""
        self.app = app
        self.slot = slot
        self.spec = spec
        self._document: dict[str, Any] | None = None

    async def ready(self) -> Ready:
        """What /readyz answers."""
        runtime = self.slot.runtime
        if runtime is None:
            return Ready(ready=False, models={}, batching=False, reason="not started")
        reason = await _within(runtime.store.unwritable, "the case database")
        if reason is None and runtime.grader is None and self.slot.grader_check is not None:
            reason = await _within(_raised(self.slot.grader_check), "the grading runner")
        return Ready(
            ready=reason is None,
            models=runtime.versions(),
            batching=runtime.grader is None,
            reason=reason,
        )

    def document(self) -> dict[str, Any]:
        """The OpenAPI document (made once: the routes do not change while serving)."""
        if self._document is None:
            self._document = document(self.spec())
        return self._document

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            path = scope["path"]
            if path == "/readyz":
                ready = await self.ready()
                response = JSONResponse(ready.model_dump(), status_code=200 if ready.ready else 503)
                return await response(scope, receive, send)
            if path == "/docs.json":
                return await JSONResponse(self.document())(scope, receive, send)
            if path in DOCS_PATHS:
                page = Response(DOCS_PAGE, media_type="text/html; charset=utf-8")
                return await page(scope, receive, send)
        return await self.app(scope, receive, send)


def _raised(check):
    """`check` (raises when unhealthy) as a function returning why, or None."""

    def reason() -> str | None:
        try:
            check()
        except Exception as exc:  # any failure: the runner cannot grade now
            return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return None

    return reason


async def _within(check, what: str) -> str | None:
    """Run a blocking `check` (None: healthy, else why) off the event loop, bounded in time."""
    try:
        reason = await asyncio.wait_for(run_in_threadpool(check), CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"{what} did not answer within {CHECK_TIMEOUT_S:g} s"
    return None if reason is None else f"{what}: {reason}"
