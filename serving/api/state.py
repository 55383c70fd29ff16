"""The running service's runtime, handed explicitly to its middlewares and routes.

BentoML builds the ASGI app and its middlewares before the service instance loads the models,
so each middleware and the routes' app are given one `RuntimeSlot` when they are built; the
service instance fills it at start-up and empties it at shutdown (/readyz then answers 503).
Routes take the runtime as a FastAPI dependency (`current_runtime`), reading the slot from their
app's state.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

from serving.api import heap
from serving.runtime import Runtime
from serving.settings import Settings

SLOT_STATE = "runtime_slot"
"""Name of the slot in the routes app's `state`."""


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: the models answering after it, and why it failed if it did.

    Attributes:
        ok: The new models are answering (False: the old ones still are).
        changed: Some model's folder or version differs from before.
        models: Name and version per role answering now.
        previous: Name and version per role before the reload.
        error: Why loading failed (None when ok).
        at: When it finished (UTC, ISO 8601).
    """

    ok: bool
    changed: bool
    models: dict[str, Any]
    previous: dict[str, Any]
    error: str | None
    at: str

    def to_dict(self) -> dict[str, Any]:
        """As the /admin/reload answer."""
        return asdict(self)


class RuntimeSlot:
    """Holds the runtime a service instance loaded (None before start-up and after shutdown).

    `reload` swaps in a runtime built by the `loader` the service set: requests that already
    hold the old runtime finish on it, new ones get the new one; a loader that fails leaves the
    old runtime answering.
    """

    def __init__(self) -> None:
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.loader: Callable[[Runtime], Runtime] | None = None
        self.last_reload: ReloadOutcome | None = None
        self.grader_check: Callable[[], None] | None = None
        """Raises when the grading runner cannot answer (set by the service when batching)."""
        self.form_answer: Callable[..., Awaitable[Response]] | None = None
        """Answers an upload form the upload guard has read, `(form, scope)` (set by the
        service; `serving.api.uploads.UploadGuard`)."""

    def fill(self, runtime: Runtime | None) -> None:
        """Make `runtime` the one answering (None: not ready)."""
        with self._lock:
            self._runtime = runtime

    @property
    def runtime(self) -> Runtime | None:
        """The runtime answering, or None."""
        return self._runtime

    def reload(self) -> ReloadOutcome:
        """Build a runtime from the current one with `loader` and make it answer (one at a time).

        Never raises for a failed load: the outcome says why, and the old runtime still answers.
        """
        with self._reload_lock:
            old = self._runtime
            now = dt.datetime.now(dt.UTC).isoformat()
            if old is None or self.loader is None:
                outcome = ReloadOutcome(False, False, {}, {}, "the service is not started", now)
            else:
                try:
                    new = self.loader(old)
                except Exception as exc:  # any failure keeps the old models answering
                    error = f"{type(exc).__name__}: {exc}"
                    outcome = ReloadOutcome(
                        False, False, old.versions(), old.versions(), error, now
                    )
                else:
                    self.fill(new)
                    changed = {k: (str(m.path), m.version) for k, m in new.models.items()} != {
                        k: (str(m.path), m.version) for k, m in old.models.items()
                    }
                    outcome = ReloadOutcome(
                        True, changed, new.versions(), old.versions(), None, now
                    )
            self.last_reload = outcome
        if outcome.changed:
            del old, new  # this frame's references
            heap.settle()  # the replaced models' cycles are collected now, the new ones frozen
        return outcome

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
