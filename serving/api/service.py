"""The regrade BentoML service: `/grade`, `/price`, `/assess`, and the people's routes mounted.

`Regrade` is what `regrade serve` (`bentoml serve serving.api.service:Regrade`) runs. Photos are
graded by `GraderRunner`, a second service whose batchable API groups the photos of concurrent
requests into one forward pass (adaptive batching); with `REGRADE_BATCHING=0` the API worker
grades in-line instead. The review, pricing-decision, outcome, case and photo routes are the
FastAPI app of `serving.api.routes`. Middleware adds API-key auth (`serving.api.auth`), the
body size limit and upload-form checks (`serving.api.uploads.UploadGuard`), a `/readyz` that
reports the model versions, and `/docs` (the Swagger UI of `/docs.json`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import bentoml
from starlette.responses import JSONResponse, RedirectResponse

from models.routing import explain
from serving import assess
from serving.api import routes
from serving.api.answer_models import AssessResponse, GradeResponse, PriceResponse
from serving.api.auth import ACTOR_KEY, ApiKeyAuth
from serving.api.request_models import AssessForm, GradeForm, Item, ItemFacts, PriceRequest
from serving.api.uploads import NAMES_KEY, Limits, UploadGuard, read_photos
from serving.errors import IntakeError
from serving.runtime import activate, active, load_grader, load_runtime
from serving.settings import load_settings
from serving.store.errors import InvalidInput
from serving.store.records import PhotoInput

MAX_BATCH_ITEMS = 32
"""Most units (each with all its photos) in one batched forward pass."""
MAX_LATENCY_MS = 2000
"""Adaptive batching's latency budget per request (it waits at most a fraction of this)."""
TIMEOUT_S = 120
"""Longest a request may take."""


def _refused(exc: IntakeError | InvalidInput, ctx: bentoml.Context | None = None) -> JSONResponse:
    """A 4xx answer naming the field at fault (BentoML takes the status from `ctx` if given)."""
    status = exc.status if isinstance(exc, IntakeError) else HTTPStatus.UNPROCESSABLE_ENTITY
    if ctx is not None:
        ctx.response.status_code = int(status)
    return JSONResponse({"error": str(exc), "field": exc.field}, status_code=int(status))


def _state(ctx: bentoml.Context) -> dict[str, Any]:
    """What the middleware left in the request's ASGI scope (caller, photo names)."""
    return ctx.request.scope.get("state") or {}


@bentoml.service(name="regrade-grader", traffic={"timeout": TIMEOUT_S})
class GraderRunner:
    """The grader behind adaptive batching: units of concurrent requests graded together."""

    def __init__(self) -> None:
        self.predictor = load_grader(load_settings())

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_ITEMS, max_latency_ms=MAX_LATENCY_MS)
    def grade_units(self, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Grade units, each `{"photos": [bytes, ...], "brand": str | None}`, in one pass."""
        results = self.predictor.predict_items(
            [unit["photos"] for unit in units], [{"brand": unit.get("brand")} for unit in units]
        )
        return [r.to_dict() for r in results]


class Probes:
    """ASGI middleware: `/readyz` with the model versions, `/docs` to the Swagger UI."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "GET":
            if scope["path"] == "/readyz":
                runtime = active()
                body = {"ready": runtime is not None, "models": {}, "batching": False}
                if runtime is not None:
                    body.update(models=runtime.versions(), batching=runtime.grader is None)
                status = 200 if runtime is not None else 503
                return await JSONResponse(body, status_code=status)(scope, receive, send)
            if scope["path"] == "/docs":
                return await RedirectResponse("/", status_code=307)(scope, receive, send)
        return await self.app(scope, receive, send)


@bentoml.service(name="regrade", traffic={"timeout": TIMEOUT_S})
@bentoml.asgi_app(routes.app, path="/")
class Regrade:
    """Grade, price and assess returned units; reviews, pricing decisions and outcomes."""

    grader_runner = bentoml.depends(GraderRunner)

    def __init__(self) -> None:
        settings = load_settings()
        self.runtime = load_runtime(settings, with_grader=not settings.batching)
        self.limits = Limits.from_settings(settings)
        activate(self.runtime)

    @bentoml.on_shutdown
    def close(self) -> None:
        """Stop answering (/readyz 503) and close the database connections."""
        activate(None)
        self.runtime.store.engine.dispose()

    def _grade(self, photos: list[Any], brand: str | None) -> dict[str, Any]:
        unit = {"photos": [p.data for p in photos], "brand": brand}
        if self.runtime.grader is not None:  # batching off: in this worker
            found = self.runtime.grader.predict_items([unit["photos"]], [{"brand": brand}])
            return found[0].to_dict()
        return self.grader_runner.grade_units([unit])[0]

    def _photos_and_grade(
        self, form: dict[str, Any], ctx: bentoml.Context
    ) -> tuple[list[Any], dict[str, Any]]:
        names = _state(ctx).get(NAMES_KEY)
        photos = read_photos(form["photos"], self.limits, names)
        grade = self._grade(photos, form.get("brand"))
        return photos, assess.grade_result(grade, [p.filename for p in photos])

    @bentoml.api(route="/grade", input_spec=GradeForm)
    def grade(self, ctx: bentoml.Context, **form: Any) -> GradeResponse:
        """Grade one unit from 1..N photos: grade, calibrated probabilities, counterfeit flag.

        Multipart form: `photos` (files) and, optionally, the unit's facts (`brand` picks the
        counterfeit reference bank). Nothing is stored.
        """
        try:
            _, grade = self._photos_and_grade(form, ctx)
        except IntakeError as exc:
            return _refused(exc, ctx)  # type: ignore[return-value]
        return GradeResponse(**grade, model_versions=self.runtime.versions())

    @bentoml.api(route="/price", input_spec=PriceRequest)
    def price(self, items: list[Item]) -> PriceResponse:
        """Price band, days to sell, floor, ceiling, margin, route and reasons per unit."""
        try:
            frame = assess.items_frame([item.columns() for item in items])
        except IntakeError as exc:
            return _refused(exc)  # type: ignore[return-value]
        results = assess.price_results(self.runtime, frame)
        return PriceResponse(items=results, model_versions=self.runtime.versions())

    @bentoml.api(route="/assess", input_spec=AssessForm)
    def assess(self, ctx: bentoml.Context, **form: Any) -> AssessResponse:
        """Grade, price and route one unit and store it as a case; queued for review if needed.

        Multipart form: `photos` (files), `item_id`, `category` and the unit's facts (costs,
        source, return reason, order id, serial number, ...).
        """
        runtime = self.runtime
        facts = {name: form.get(name) for name in ItemFacts.model_fields}
        columns = ItemFacts.model_construct(**facts).columns()
        try:
            photos, grade = self._photos_and_grade(form, ctx)
            item = {"item_id": form["item_id"], "category": form["category"], **columns}
            price, kinds = assess.assess_item(runtime, {**item, "grade": grade["grade"]}, grade)
            case = runtime.store.create_case(
                item,
                [
                    PhotoInput(p.data, p.filename, result=grade["photos"][pos])
                    for pos, p in enumerate(photos)
                ],
                grade,
                price,
                price["route"],
                [r["code"] for r in price["reasons"]],
                kinds,
                runtime.versions(),
                actor=_state(ctx).get(ACTOR_KEY),
            )
        except (IntakeError, InvalidInput) as exc:
            return _refused(exc, ctx)  # type: ignore[return-value]
        return AssessResponse(
            case_id=case.case_id,
            item_id=case.item_id,
            grade=grade,
            price=price,
            route=case.route,
            reasons=explain(case.reasons),
            review_status=case.review_status,
            review_kinds=explain(case.review_kinds),
            pricing_status=case.pricing_status,
            model_versions=runtime.versions(),
        )


Regrade.add_asgi_middleware(ApiKeyAuth)
Regrade.add_asgi_middleware(Probes)
Regrade.add_asgi_middleware(UploadGuard)

__all__ = ["GraderRunner", "Regrade"]
