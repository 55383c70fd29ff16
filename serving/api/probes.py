"""ASGI middleware answering `/readyz` with the model versions, and sending `/docs` to the docs.

`/readyz` is 200 with the loaded models and whether grading is batched once the runtime is in
its slot, 503 before start-up finished and after shutdown began. `/docs` redirects to `/`, the
Swagger UI of `/docs.json`.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, RedirectResponse

from serving.api.answer_models import Ready
from serving.api.state import RuntimeSlot


class Probes:
    """ASGI middleware: `/readyz` with the model versions, `/docs` to the Swagger UI."""

    def __init__(self, app, slot: RuntimeSlot) -> None:
        """Wrap `app`; readiness is whether `slot` holds a runtime."""
        self.app = app
        self.slot = slot

    def ready(self) -> Ready:
        """What /readyz answers."""
        runtime = self.slot.runtime
        if runtime is None:
            return Ready(ready=False, models={}, batching=False)
        return Ready(ready=True, models=runtime.versions(), batching=runtime.grader is None)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "GET":
            if scope["path"] == "/readyz":
                ready = self.ready()
                response = JSONResponse(ready.model_dump(), status_code=200 if ready.ready else 503)
                return await response(scope, receive, send)
            if scope["path"] == "/docs":
                return await RedirectResponse("/", status_code=307)(scope, receive, send)
        return await self.app(scope, receive, send)
