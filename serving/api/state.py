"""The running service's runtime, handed explicitly to its middlewares and routes.

BentoML builds the ASGI app and its middlewares before the service instance loads the models,
so each middleware and the routes' app are given one `RuntimeSlot` when they are built; the
service instance fills it at start-up and empties it at shutdown (/readyz then answers 503).
Routes take the runtime as a FastAPI dependency (`current_runtime`), reading the slot from their
app's state.
"""

from __future__ import annotations

import threading

from fastapi import HTTPException, Request

from serving.runtime import Runtime
from serving.settings import Settings

SLOT_STATE = "runtime_slot"
"""Name of the slot in the routes app's `state`."""


class RuntimeSlot:
    """Holds the runtime a service instance loaded (None before start-up and after shutdown)."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def fill(self, runtime: Runtime | None) -> None:
        """Make `runtime` the one answering (None: not ready)."""
        with self._lock:
            self._runtime = runtime

    @property
    def runtime(self) -> Runtime | None:
        """The runtime answering, or None."""
        return self._runtime

    @property
    def settings(self) -> Settings | None:
        """The settings in force, or None before start-up."""
        runtime = self._runtime
        return runtime.settings if runtime is not None else None


def current_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the runtime of the app serving `request`.

    Raises:
        HTTPException: 503 while the service is starting.
    """
    runtime = getattr(request.app.state, SLOT_STATE).runtime
    if runtime is None:
        raise HTTPException(503, "the service is starting")
    return runtime
