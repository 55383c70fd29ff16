"""What `regrade serve` runs: the API service (`serving.api.service.Regrade`) with the pages.

The pages' app (`serving.web.app`) is mounted on the same service at `/ui`, sharing its
runtime slot, so one process answers the JSON API and the pages from the same store and
models. `BrowserHome`, the outermost middleware, sends `GET /` to `/ui/`; the API's
documentation stays at `/docs` (`serving.api.probes`).
The mount is made here, above `serving.api` in the layers, because the API may not import
the pages.
"""

from __future__ import annotations

from serving.api.service import SLOT, GraderRunner, Regrade
from serving.web.app import create_web_app

MOUNT = "/ui"


class BrowserHome:
    """ASGI middleware: `/` and `/ui` redirect to the pages' start page."""

    def __init__(self, app) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            path = scope.get("path")
            if path == "/":
                headers = [(b"location", f"{MOUNT}/".encode()), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 307, "headers": headers})
                return await send({"type": "http.response.body", "body": b""})
            if path == MOUNT:
                headers = [(b"location", f"{MOUNT}/".encode()), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 308, "headers": headers})
                return await send({"type": "http.response.body", "body": b""})
        return await self.app(scope, receive, send)


Regrade.mount_asgi_app(create_web_app(SLOT), path=MOUNT, name="ui")
# Outermost, so a browser's `/` goes to the pages before the probes answer it with the API docs.
Regrade.middlewares.insert(0, (BrowserHome, {}))

__all__ = ["GraderRunner", "Regrade"]
