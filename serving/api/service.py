"""The regrade BentoML service: `/grade`, `/price`, `/assess`, and the people's routes mounted.

`Regrade` is what `regrade serve` (`bentoml serve serving.api.service:Regrade`) runs. Photos are
graded in the API worker, the units queued while it grades going together
(`serving.api.lanes.GradeQueue`); with `REGRADE_BATCHING=1` by `GraderRunner` instead, a second
service whose batchable API groups the photos of concurrent requests into one forward pass
(adaptive batching; docs/service.md says when each pays). Either way each photo is decoded once, by
the upload check; the runner gets it resized to the grader's input in the API worker (the grader's
own resize, so the same answer), the in-line grader gets the decoded image. The review,
pricing-decision, outcome, case and photo routes are the FastAPI app of `serving.api.routes`.
Middleware adds API-key auth (`serving.api.auth`), the body size limit and upload-form checks
(`serving.api.uploads.UploadGuard`, which then answers `/grade` and `/assess` from the form it
read, `Regrade._form_answer`: BentoML's APIs of those routes document them and answer only where
the guard does not), a `/readyz` that reports the model versions, `/docs` and
`/docs.json` (`serving.api.probes`), and refusals in one error shape, logged as one INFO line each
(`serving.api.refusals`). The middlewares and the routes get the runtime this service loads through
one `RuntimeSlot` (`serving.api.state`); each request reads the slot once, so `POST /admin/reload`
(or the `REGRADE_RELOAD_S` alias poll, `serving.api.reload`) swaps in the new champions while
requests in flight finish on the old.

The three APIs are async: their blocking steps (decoding, grading, pricing, the case write) run in
bounded thread pools of their own (`serving.api.lanes`), so `/price` never waits behind a slow
`/grade`. A `/grade` or `/assess` may post at most `max_request_pixels` in all (413 before any
photo is decoded) and must have read and graded its photos within `request_timeout_s` (504). Each
worker dies with `regrade serve` (`serving.api.lifeline`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio.from_thread
import anyio.lowlevel
import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from models.artifact import ArtifactError
from models.kinds import GRADER
from serving import assess
from serving.api import heap
from serving.api.answer_models import AssessResponse, GradeResponse, PriceResponse
from serving.api.auth import ApiKeyAuth, actor_in
from serving.api.errors import ANSWERED, error_response, validation_body
from serving.api.idempotency import HEADER, intake_key
from serving.api.lanes import Lanes
from serving.api.lifeline import die_with_parent
from serving.api.probes import Probes
from serving.api.refusals import Refusals, log_refusals
from serving.api.reload import AliasPoller
from serving.api.request_models import AssessForm, GradeForm, Item, ItemFacts, PriceRequest
from serving.api.routes import create_app
from serving.api.state import RuntimeSlot
from serving.api.uploads import (
    NAMES_KEY,
    Limits,
    PastDeadline,
    Photo,
    PostedForm,
    UploadGuard,
    read_photos,
)
from serving.errors import Overloaded, TimedOut
from serving.results import GradeResult
from serving.runtime import (
    Runtime,
    StartupError,
    grader_input_size,
    load_grader,
    load_grader_at,
    load_runtime,
    reload_runtime,
    resize_for_grader,
)
from serving.settings import load_settings
from serving.store.records import PhotoInput

MAX_BATCH_ITEMS = 32
"""Most units (each with all its photos) in one batched forward pass."""
MAX_LATENCY_MS = 2000
"""Adaptive batching's latency budget per request (it waits at most a fraction of this)."""
TIMEOUT_S = 120
"""Longest a request may take."""
RUNNER_ATTEMPTS = 3
"""Calls to `GraderRunner` per unit when the connection is cut (see `_cut_off`)."""

log = logging.getLogger(__name__)

SLOT = RuntimeSlot()
"""This worker's runtime, for the middlewares and routes (filled by `Regrade` at start-up)."""


def _unexpected(path: str, exc: Exception) -> JSONResponse:
    """The answer BentoML gives an API's unexpected error: a BentoML error's own status (a
    4xx body as BentoML writes it, which `Refusals` rewrites), else 500, logged with its
    traceback naming the route `path`."""
    message = {"error": "An unexpected error has occurred, please check the server log."}
    status, body = 500, message
    if isinstance(exc, BentoMLException):
        status = exc.error_code.value
        if status in (401, 403):
            body = {"error": "Authorization error"}
        elif status < 500:
            body = [{"error": str(exc)}]
    if status >= 500:
        log.error("%s failed", path, exc_info=exc)
    return JSONResponse(body, status_code=status)


def _refused(exc: Exception, ctx: bentoml.Context | None = None) -> JSONResponse:
    """The error's answer (BentoML takes the status from `ctx` when given)."""
    response = error_response(exc)
    if ctx is not None:
        ctx.response.status_code = response.status_code
    return response


def _cut_off(exc: Exception) -> bool:
    """Whether a call to the runner failed because BentoML's client cut its connection.

    The client (`bentoml.depends`) replaces its HTTP session every 100 calls (or 5 minutes)
    and closes the old one under the calls still in flight on it; they fail with "Server
    disconnected" or "Session is closed" (bentoml issues 5540, 4971). Grading is idempotent,
    so such a call is made again.
    """
    if isinstance(exc, aiohttp.ClientConnectionError):
        return True
    return isinstance(exc, RuntimeError) and "Session is closed" in str(exc)


def _photo_names(ctx: bentoml.Context) -> list[str | None] | None:
    """The posted photos' file names, as the upload guard left them in the ASGI scope."""
    return (ctx.request.scope.get("state") or {}).get(NAMES_KEY)


# The BentoML service name, not a registered model name (that is `models.kinds.GRADER`).
@bentoml.service(name="regrade-grader", traffic={"timeout": TIMEOUT_S})
class GraderRunner:
    """The grader behind adaptive batching: units of concurrent requests graded together."""

    def __init__(self) -> None:
        die_with_parent()
        settings = load_settings()
        # BentoML starts a declared dependency whatever the settings; with batching off the API
        # worker grades in-line and never calls this one, which then loads no grader (about a
        # gigabyte less)
        self.predictor = load_grader(settings) if settings.batching else None
        heap.settle()

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_ITEMS, max_latency_ms=MAX_LATENCY_MS)
    def grade_units(self, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Grade units, each `{"photos": [decoded image or its pixels, ...], "brand": ...}`."""
        if self.predictor is None:
            raise StartupError("this grading runner holds no grader: REGRADE_BATCHING is off")
        results = self.predictor.predict_items(*_split(units))
        return [r.to_dict() for r in results]

    @bentoml.api
    def alive(self) -> dict[str, Any]:
        """The grader this runner holds (the API worker's /readyz asks: is the runner up?)."""
        if self.predictor is None:
            return {"name": None, "version": None}
        return {"name": self.predictor.name, "version": self.predictor.version}

    @bentoml.api
    def reload(self, path: str, name: str, version: str = "") -> dict[str, Any]:
        """Swap in the grader at `path` (the API worker's /admin/reload or alias poll calls it)."""
        self.predictor = load_grader_at(path, name, version or None)
        heap.settle()  # the replaced grader's cycles are collected now
        return {"name": name, "version": version or None}


@bentoml.service(name="regrade", traffic={"timeout": TIMEOUT_S})
@bentoml.asgi_app(create_app(SLOT), path="/")
class Regrade:
    """Grade, price and assess returned units; reviews, pricing decisions and outcomes."""

    grader_runner = bentoml.depends(GraderRunner)

    def __init__(self) -> None:
        die_with_parent()
        settings = load_settings()
        runtime = load_runtime(settings, with_grader=not settings.batching)
        self.limits = Limits.from_settings(settings)
        self.lanes = Lanes(settings.grade_calls)
        log_refusals()
        # built on the worker's event loop: the alias poll's thread calls the runner through it
        self._loop = _loop_token()
        if runtime.grader is None:  # photos are resized here for the runner: load torch now
            _input_size(str(runtime.models["grader"].path))
        SLOT.loader = self._reloaded
        SLOT.grader_check = self._runner_alive
        SLOT.form_answer = self._form_answer
        SLOT.fill(runtime)
        heap.settle()  # loaded: full collections no longer walk the start-up objects
        self._poller = AliasPoller(SLOT, settings.reload_s)
        self._poller.start()

    @property
    def runtime(self) -> Runtime:
        """The runtime answering now; each request reads it once and keeps it (a reload swaps
        the slot's runtime, requests in flight finish on the one they hold)."""
        runtime = SLOT.runtime
        if runtime is None:
            raise StartupError("the service is not started")
        return runtime

    def _runner_alive(self) -> None:
        """Ask the grading runner for its model (raises when it does not answer); /readyz calls
        it. The runner's client is only set up once the server runs, hence a method here."""
        self.grader_runner.alive()

    def _reloaded(self, current: Runtime) -> Runtime:
        """The runtime with the current champions (the batching runner's grader swapped too)."""
        new = reload_runtime(current)
        if new.grader is None:  # batching: the runner grades
            found = new.models["grader"]
            self._call_runner(
                "reload",
                path=str(found.path),
                name=found.name or GRADER.registered_name,
                version=found.version or "",
            )
        return new

    def _call_runner(self, api: str, /, **kwargs: Any) -> Any:
        """Call the runner's API `api` from a thread that is not the event loop's.

        BentoML's blocking client works only in the worker's own threads (those that run a
        blocking route, such as `POST /admin/reload`); the alias poll's thread is not one, so
        the call is made with the runner's async client on the worker's event loop.
        """
        remote = getattr(self.grader_runner, "to_async", None)
        if remote is None or self._loop is None:  # in-process: a local GraderRunner
            return getattr(self.grader_runner, api)(**kwargs)
        call = functools.partial(getattr(remote, api), **kwargs)
        return anyio.from_thread.run(call, token=self._loop)

    @bentoml.on_shutdown
    def close(self) -> None:
        """Stop answering (/readyz 503) and close the database connections."""
        self._poller.stop()
        self.lanes.close()
        runtime = SLOT.runtime
        SLOT.fill(None)
        if runtime is not None:
            runtime.store.engine.dispose()

    async def _grade(self, runtime: Runtime, images: list[Image.Image], brand: str | None) -> Any:
        facts = {"brand": brand}
        if runtime.grader is not None:  # batching off: in this worker, in the grade lane
            return await self.lanes.grade.grade(runtime.grader.predict_items, images, facts)
        remote = getattr(self.grader_runner, "to_async", None)  # served: the runner's client
        if remote is not None:  # its calls wait on the event loop, holding no thread
            # as arrays, pickled out of band: a PIL image would be copied on the event loop;
            # resized here to the network's input, so a 40 Mpx photo crosses as a few KB
            grader_dir = str(runtime.models["grader"].path)
            arrays = await self.lanes.run(self.lanes.decode, _arrays, images, grader_dir)
            sent = [{"photos": arrays, **facts}]
            for attempt in range(1, RUNNER_ATTEMPTS + 1):
                try:
                    return (await remote.grade_units(sent))[0]
                except (aiohttp.ClientConnectionError, RuntimeError) as exc:
                    if attempt == RUNNER_ATTEMPTS or not _cut_off(exc):
                        raise
                except ServiceUnavailable as exc:  # the batcher's load shedding
                    raise Overloaded(
                        "the grader is overloaded (its queue passed its latency budget of "
                        f"{MAX_LATENCY_MS} ms); nothing was stored, retry in a moment"
                    ) from exc
        # in-process (a test client): a local GraderRunner's grader, in this worker's grade lane
        predict = self.grader_runner.predictor.predict_items
        return await self.lanes.grade.grade(predict, images, facts)

    async def _photos_and_grade(
        self,
        runtime: Runtime,
        files: list[Path] | list[bytes],
        names: list[str | None] | None,
        brand: str | None,
    ) -> tuple[list[Photo], GradeResult]:
        """The posted photos, decoded, and their grade, within `request_timeout_s`.

        Args:
            files: The photos as posted (files BentoML wrote, or their bytes).
            names: The client's file names, when known.
            brand: The unit's brand (its counterfeit reference bank).

        Raises:
            TimedOut: past the time limit (photos not yet started are not decoded).
        """
        lanes, limit_s = self.lanes, self.limits.request_timeout_s
        deadline = asyncio.timeout(limit_s)
        try:
            async with deadline:
                photos = await lanes.run(
                    lanes.decode, read_photos, files, self.limits, names, time.monotonic() + limit_s
                )
                result = await self._grade(runtime, [p.image for p in photos], brand)
        except TimeoutError as exc:
            if not (deadline.expired() or isinstance(exc, PastDeadline)):
                raise
            raise TimedOut(
                f"reading and grading the photos took over the limit of {limit_s:g} s "
                "(request_timeout_s); nothing was stored, retry with fewer or smaller photos"
            ) from exc
        return photos, GradeResult.of(result, [p.filename for p in photos])

    @bentoml.api(route="/grade", input_spec=GradeForm)
    async def grade(self, ctx: bentoml.Context, **form: Any) -> GradeResponse:
        """Grade one unit from 1..N photos: grade, calibrated probabilities, counterfeit flag.

        Multipart form: `photos` (files) and, optionally, the unit's facts (`brand` picks the
        counterfeit reference bank). Nothing is stored.
        """
        try:
            return await self._graded(form, form["photos"], _photo_names(ctx))
        except ANSWERED as exc:
            return _refused(exc, ctx)  # type: ignore[return-value]

    async def _graded(
        self, form: dict[str, Any], files: list[Path] | list[bytes], names: list[str | None] | None
    ) -> GradeResponse:
        """`/grade`'s answer to a checked form (raises the errors in `ANSWERED`)."""
        runtime = self.runtime
        _, graded = await self._photos_and_grade(runtime, files, names, form.get("brand"))
        return GradeResponse(**graded.model_dump(), model_versions=runtime.versions())

    async def _form_answer(self, read: PostedForm, scope: dict[str, Any]) -> Response:
        """The answer to an upload form the upload guard has read (`UploadGuard`): the `grade`
        or `assess` API's checks and answer, without BentoML's reading of the request.

        Answers as BentoML answers the APIs: a failed schema check 400 (the one error shape),
        the errors in `ANSWERED` theirs, anything else 500 with the error logged.
        """
        path = scope["path"]
        spec = GradeForm if path == "/grade" else AssessForm
        try:
            try:
                checked = spec.model_validate(read.fields)
            except ValidationError as exc:
                errors = exc.errors(include_context=False, include_input=False)
                return JSONResponse(validation_body(errors), status_code=400)
            form = {name: getattr(checked, name) for name in spec.model_fields}
            try:
                if spec is GradeForm:
                    answer: BaseModel = await self._graded(form, read.photos, read.names)
                else:
                    keys = Headers(scope=scope).getlist(HEADER)
                    answer = await self._assessed(form, read.photos, read.names, keys, scope)
            except ANSWERED as exc:
                return error_response(exc)
        except Exception as exc:
            return _unexpected(path, exc)
        return Response(answer.model_dump_json(), media_type="application/json")

    @bentoml.api(route="/price", input_spec=PriceRequest)
    async def price(self, items: list[Item]) -> PriceResponse:
        """Price band, days to sell, floor, ceiling, margin, route and reasons per unit."""
        runtime = self.runtime
        try:
            return await self.lanes.run(self.lanes.price, _price, runtime, items)
        except ANSWERED as exc:
            return _refused(exc)  # type: ignore[return-value]

    @bentoml.api(route="/assess", input_spec=AssessForm)
    async def assess(self, ctx: bentoml.Context, **form: Any) -> AssessResponse:
        """Grade, price and route one unit and store it as a case; queued for review if needed.

        Multipart form: `photos` (files), `item_id`, `category` and the unit's facts (costs,
        source, return reason, order id, serial number, ...).

        With an `Idempotency-Key` header, a retry (the same key, the same fields and photos)
        answers the first answer, status 200 and the same case id, and stores nothing; the same
        key with another body is a 409; a bad key is a 400 naming the header.
        """
        try:
            return await self._assessed(
                form,
                form["photos"],
                _photo_names(ctx),
                ctx.request.headers.getlist(HEADER),
                ctx.request.scope,
            )
        except ANSWERED as exc:
            return _refused(exc, ctx)  # type: ignore[return-value]

    async def _assessed(
        self,
        form: dict[str, Any],
        files: list[Path] | list[bytes],
        names: list[str | None] | None,
        keys: list[str],
        scope: dict[str, Any],
    ) -> AssessResponse:
        """`/assess`'s answer to a checked form (raises the errors in `ANSWERED`).

        Args:
            keys: Every value of the request's `Idempotency-Key` header.
            scope: The request's ASGI scope (the caller's identity, `actor_in`).
        """
        facts = {name: form.get(name) for name in ItemFacts.model_fields}
        item = {
            "item_id": form["item_id"],
            "category": form["category"],
            **ItemFacts.model_construct(**facts).columns(),
        }
        runtime, actor = self.runtime, actor_in(scope)
        key = intake_key(keys, item, files, names, actor.key_hash if actor else "")
        first = (
            await self.lanes.run(self.lanes.store, runtime.store.replay_intake, key)
            if key is not None
            else None
        )
        if first is not None:
            return AssessResponse.model_validate(
                {**first.model_dump(), "grade": first.grade_result, "price": first.price_result}
            )
        photos, graded = await self._photos_and_grade(runtime, files, names, form.get("brand"))
        # past the time limit's reach: a case write, once started, is never abandoned
        case, assessment = await self.lanes.run(
            self.lanes.store,
            assess.assess_unit,
            runtime,
            item,
            graded,
            [PhotoInput(p.data, p.filename, header=p.header) for p in photos],
            actor=actor,
            intake_key=key,
        )
        answer = {"grade": graded, "price": assessment.price, "model_versions": case.model_versions}
        return AssessResponse.model_validate({**case.model_dump(), **answer})


@functools.lru_cache(maxsize=8)
def _input_size(grader_dir: str) -> int | None:
    """The input side of the grader in `grader_dir` (None when its config cannot be read)."""
    try:
        return grader_input_size(grader_dir)
    except ArtifactError as exc:
        log.warning("photos go to the runner at full size: %s", exc)
        return None


def _loop_token() -> anyio.lowlevel.EventLoopToken | None:
    """The running event loop, for calls from other threads (None outside one: tests)."""
    try:
        return anyio.lowlevel.current_token()
    except RuntimeError:
        return None


def _arrays(images: list[Image.Image], grader_dir: str | None = None) -> list[np.ndarray]:
    """The photos' pixels (height x width x 3, uint8) for the hop to the runner, resized to the
    input side of the grader in `grader_dir` exactly as the grader resizes them (`to_uint8`),
    so the runner's own resize leaves them as they are and the answer is the same as from the
    full photo (full size when the side cannot be read).

    A reload swaps the runner's grader a moment before this worker's runtime: a request in
    flight then may reach a grader of another input size, which resizes the photos again.
    """
    size = _input_size(grader_dir) if grader_dir else None
    if size is None:
        return [np.asarray(image) for image in images]
    return [resize_for_grader(image, size) for image in images]


def _split(units: list[dict[str, Any]]) -> tuple[list[list[Image.Image]], list[dict[str, Any]]]:
    """Units as `predict_items` takes them: the photos per unit (arrays made images again),
    the facts per unit."""
    photos = [
        [Image.fromarray(p) if isinstance(p, np.ndarray) else p for p in u["photos"]] for u in units
    ]
    return photos, [{"brand": u.get("brand")} for u in units]


def _price(runtime: Runtime, items: list[Item]) -> PriceResponse:
    """`/price`'s answer (in the price lane)."""
    frame = assess.items_frame([item.columns() for item in items])
    results = assess.price_results(runtime, frame)
    return PriceResponse(items=results, model_versions=runtime.versions())


Regrade.add_asgi_middleware(ApiKeyAuth, slot=SLOT)
Regrade.add_asgi_middleware(Probes, slot=SLOT, spec=lambda: Regrade.openapi_spec.asdict())
Regrade.add_asgi_middleware(Refusals)
Regrade.add_asgi_middleware(UploadGuard, slot=SLOT)

__all__ = ["GraderRunner", "Regrade"]
