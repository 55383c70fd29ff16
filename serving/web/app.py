"""The pages' app, mounted at `/ui`: sign-in and sign-out, the start page, photos, error pages.

The graders' pages are in `serving.web.reviews`, the analysts' in `serving.web.pricing`, case
pages in `serving.web.cases`. A page without a session sends the browser to sign-in (GET) or
answers the sign-in page with 401 (POST); a wrong role gets a 403 page that names the role
needed; a form without its CSRF token a 403 page; an unknown case a 404 page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from serving.api.state import SLOT_STATE, RuntimeSlot, current_runtime
from serving.store.errors import NotFoundError
from serving.web import analytics, cases, heatmaps, pricing, reviews
from serving.web.pages import HERE, base_of, render, sessions_of, signed_in, viewer_of
from serving.web.session import (
    COOKIE,
    MAX_AGE_S,
    SIGNIN_COOKIE,
    CsrfRefused,
    RoleNeeded,
    SignInNeeded,
    Viewer,
    same_token,
    signin_token,
)

router = APIRouter()


def _safe_next(request: Request, target: str | None) -> str:
    """Where to go after sign-in: a page under the mount, else the start page."""
    base = base_of(request)
    if target and target.startswith(base + "/") and not target.startswith("//"):
        return target
    return base + "/"


def signin_page(
    request: Request, *, error: str | None = None, status_code: int = 200, target: str = ""
) -> Response:
    """The sign-in form, with a fresh double-submit token in its cookie."""
    token = signin_token()
    response = render(
        request, "signin.html", None, status_code, error=error, token=token, next=target
    )
    response.set_cookie(
        SIGNIN_COOKIE, token, max_age=1800, path=base_of(request) or "/",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.get("/", include_in_schema=False)
def start(request: Request) -> Response:
    """Signed in: the viewer's pages; else the sign-in page."""
    viewer = viewer_of(request)
    if viewer is None:
        return RedirectResponse(f"{base_of(request)}/signin", status_code=303)
    return render(request, "start.html", viewer)


@router.get("/signin", include_in_schema=False)
def signin_form(request: Request, next: str = "") -> Response:
    """The sign-in form."""
    return signin_page(request, target=next)


@router.post("/signin", include_in_schema=False)
async def signin(request: Request) -> Response:
    """An API key (and an optional name) in; a session cookie out."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    target = fields.get("next", "")
    if not same_token(fields.get("csrf"), request.cookies.get(SIGNIN_COOKIE)):
        return signin_page(
            request, error="The form expired: sign in again.", status_code=403, target=target
        )
    name = (fields.get("name") or "").strip()[:80] or None
    made = sessions_of(current_runtime(request)).sign_in((fields.get("key") or "").strip(), name)
    if made is None:
        return signin_page(
            request, error="That API key is not known.", status_code=401, target=target
        )
    cookie, _ = made
    response = RedirectResponse(_safe_next(request, target), status_code=303)
    response.set_cookie(
        COOKIE, cookie, max_age=MAX_AGE_S, path=base_of(request) or "/",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    response.delete_cookie(SIGNIN_COOKIE, path=base_of(request) or "/")
    return response


@router.post("/signout", include_in_schema=False)
async def signout(request: Request, viewer: Annotated[Viewer, Depends(signed_in())]) -> Response:
    """End the session."""
    form = await request.form()
    if not same_token(str(form.get("csrf") or ""), viewer.csrf):
        raise CsrfRefused()
    response = RedirectResponse(f"{base_of(request)}/signin", status_code=303)
    response.delete_cookie(COOKIE, path=base_of(request) or "/")
    return response


@router.get("/photos/{sha256}", include_in_schema=False)
def photo(
    request: Request, sha256: str, viewer: Annotated[Viewer, Depends(signed_in())]
) -> Response:
    """A stored photo's bytes, for any signed-in person."""
    store = current_runtime(request).store
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise HTTPException(404, "no such photo")
    record = store.get_photo(sha256)
    return Response(
        store.photos.read(sha256, record.content_type),
        media_type=record.content_type,
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"{base_of(request)}/signin?next={target}", status_code=303)
    return signin_page(request, error="Sign in first.", status_code=401)


async def _role_needed(request: Request, exc: RoleNeeded) -> Response:
    return render(
        request, "forbidden.html", viewer_of(request), 403, needed=exc.needed, have=exc.have
    )


async def _csrf(request: Request, exc: Exception) -> Response:
    return render(
        request,
        "error.html",
        viewer_of(request),
        403,
        title="Form refused",
        message="The form did not carry this session's security token (CSRF): reload the page "
        "and try again.",
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(
        request, "error.html", viewer_of(request), 404, title="Not found", message=str(exc)
    )


def create_web_app(slot: RuntimeSlot) -> FastAPI:
    """The pages as an app whose handlers use the runtime in `slot` (mount it at `/ui`)."""
    app = FastAPI(title="regrade pages", docs_url=None, redoc_url=None, openapi_url=None)
    setattr(app.state, SLOT_STATE, slot)
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(RoleNeeded, _role_needed)
    app.add_exception_handler(CsrfRefused, _csrf)
    app.add_exception_handler(NotFoundError, _not_found)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.include_router(reviews.router)
    app.include_router(pricing.router)
    app.include_router(cases.router)
    app.include_router(heatmaps.router)
    app.include_router(analytics.router)
    return app
