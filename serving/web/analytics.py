"""The analytics page (`/ui/analytics`, pricing and admin): the figures of `regrade report`.

One rule, two faces: the page calls `serving.analytics.report.build_report` on the service's case
database with the service's policy, and shows the same HTML body and plots the command writes
into `report.html`. `since` and `until` (ISO days) narrow the window as the command's options do.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from markupsafe import Markup
from starlette.responses import Response

from serving.analytics.plots import draw_plots
from serving.analytics.render import html_body
from serving.analytics.report import build_report
from serving.api.state import current_runtime
from serving.web.pages import render, signed_in
from serving.web.session import Viewer

router = APIRouter()
Analyst = Annotated[Viewer, Depends(signed_in("pricing"))]


@router.get("/analytics", include_in_schema=False)
def analytics_page(
    request: Request,
    viewer: Analyst,
    since: Annotated[dt.date | None, Query(description="First intake day counted")] = None,
    until: Annotated[dt.date | None, Query(description="Last intake day counted")] = None,
) -> Response:
    """Margin, turnover, pricing decisions, grading consistency, routes and carbon."""
    runtime = current_runtime(request)
    report = build_report(runtime.store.engine, since=since, until=until, policy=runtime.policy)
    body = Markup(html_body(report, draw_plots(report)))  # built from numbers and escaped text
    return render(request, "analytics.html", viewer, body=body, since=since, until=until)
