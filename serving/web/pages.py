"""What every page handler shares: the runtime, the signed-in viewer, templates and forms.

`signed_in(*roles)` is the FastAPI dependency a page declares: it reads the session cookie
(`serving.web.session`), raises `SignInNeeded` without one and `RoleNeeded` without a role the
page needs (admin has every role); `serving.web.app` turns those into the sign-in page and a
403 page naming the role. `posted_form` reads a form POST and refuses it (`CsrfRefused`)
unless it carries the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from features.provenance import PROVENANCE_REASONS
from models.routing import explain
from serving.api.state import current_runtime
from serving.runtime import Runtime
from serving.web.session import (
    COOKIE,
    CsrfRefused,
    RoleNeeded,
    Sessions,
    SignInNeeded,
    Viewer,
    same_token,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

REVIEW_KINDS = ("grade_uncertain", "counterfeit_flagged", "provenance_not_verified")
"""Why a case waits for a grader, as the queue filters them."""

_SESSIONS: dict[int, Sessions] = {}


def sessions_of(runtime: Runtime) -> Sessions:
    """The session maker of the runtime's settings (one per settings object)."""
    key = id(runtime.settings)
    if key not in _SESSIONS:
        _SESSIONS[key] = Sessions(runtime.settings)
    return _SESSIONS[key]


def base_of(request: Request) -> str:
    """Where the pages are mounted (`/ui`), for links."""
    return request.scope.get("root_path", "").rstrip("/")


def viewer_of(request: Request) -> Viewer | None:
    """The signed-in viewer of a request, or None."""
    runtime = current_runtime(request)
    return sessions_of(runtime).read(request.cookies.get(COOKIE))


def signed_in(*roles: str) -> Callable[[Request], Viewer]:
    """A dependency: the viewer, who must have one of `roles` (none given: any role)."""

    def dependency(request: Request) -> Viewer:
        viewer = viewer_of(request)
        if viewer is None:
            raise SignInNeeded()
        if roles and not viewer.may(*roles):
            raise RoleNeeded(roles, list(viewer.roles))
        return viewer

    return dependency


async def posted_form(request: Request, viewer: Viewer) -> dict[str, str]:
    """The fields of a form POST that carries the viewer's CSRF token.

    Raises:
        CsrfRefused: no token, or another session's.
    """
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not same_token(fields.get("csrf"), viewer.csrf):
        raise CsrfRefused()
    return fields


def money(value: Any) -> str:
    """A price as shown: two decimals, or a dash."""
    return "–" if value is None else f"{float(value):,.2f}"


def number(value: Any, digits: int = 2) -> str:
    """A number as shown, or a dash."""
    return "–" if value is None else f"{float(value):.{digits}f}"


def percent(value: Any) -> str:
    """A share as a percentage, or a dash."""
    return "–" if value is None else f"{100 * float(value):.1f}%"


def sentences(codes: Any) -> list[dict[str, str]]:
    """Reason codes (or `{code, message}`s) with their sentence."""
    if not codes:
        return []
    return explain([c if isinstance(c, str) else c.get("code", "") for c in codes])


templates.env.filters.update(money=money, number=number, percent=percent)
UNVERIFIED_CODES = sorted(
    {*PROVENANCE_REASONS, "provenance_not_verified"} - {"provenance_verified"}
)
"""Reason codes that say a unit's sale could not be verified."""

templates.env.globals.update(sentences=sentences, unverified_codes=UNVERIFIED_CODES)


def render(
    request: Request,
    template: str,
    viewer: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page from `template` with the base path, the viewer and `context`."""
    return templates.TemplateResponse(
        request,
        template,
        {"base": base_of(request), "viewer": viewer, **context},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
