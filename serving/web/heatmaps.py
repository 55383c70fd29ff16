"""Where the model looked: heat maps over a case's photos, computed on demand for the review page.

`GET /ui/reviews/{case_id}/heatmap/{position}.png?kind=damage|counterfeit` (grader) renders one
photo's map from `GraderPredictor.photo_maps` as a transparent red PNG laid over the photo:
`damage`, how strongly each spot moves the severity score; `counterfeit`, each patch's distance
to the brand's authentic references on the scale of the one-class threshold. The grader is the
worker's own when it grades in-line; otherwise it is loaded once per worker on the first map.
"""

from __future__ import annotations

import io
import threading
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from PIL import Image
from starlette.responses import Response

from serving.api.state import current_runtime
from serving.runtime import Runtime, load_grader
from serving.web.pages import signed_in
from serving.web.session import Viewer

router = APIRouter()
KINDS = ("damage", "counterfeit")
SIZE = 256
"""Side of the map image (the page stretches it over the photo)."""

_LOADED: list = [None, None]
"""The runtime the maps' grader was loaded for, and that grader (one at a time)."""
_LOCK = threading.Lock()


def grader_of(runtime: Runtime):
    """The runtime's in-line grader, else one loaded for the maps (again after a reload)."""
    if runtime.grader is not None:
        return runtime.grader
    with _LOCK:
        if _LOADED[0] is not runtime:
            _LOADED[:] = [runtime, load_grader(runtime.settings)]
        return _LOADED[1]


def overlay(values: np.ndarray, *, low: float | None = None, top: float | None = None) -> bytes:
    """A map as a PNG: red, opaque where high, clear where low.

    Args:
        values: The map.
        low: The value shown clear (default: the map's least).
        top: The value shown full red (default: the map's largest).
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    low = float(values.min()) if low is None else low
    high = top if top is not None and top > low else float(values.max())
    scaled = np.clip((values - low) / (high - low), 0, 1) if high > low else values * 0
    alpha = Image.fromarray((scaled * 255).astype(np.uint8), mode="L").resize(
        (SIZE, SIZE), Image.Resampling.BILINEAR
    )
    rgba = Image.new("RGBA", (SIZE, SIZE), (230, 30, 20, 0))
    rgba.putalpha(alpha)
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@router.get("/reviews/{case_id}/heatmap/{position}.png", include_in_schema=False)
def heatmap(
    request: Request,
    case_id: str,
    position: int,
    viewer: Annotated[Viewer, Depends(signed_in("grader"))],
    kind: str = "damage",
) -> Response:
    """One photo's map of `kind` as a PNG."""
    if kind not in KINDS:
        raise HTTPException(404, f"kind must be one of {list(KINDS)}")
    runtime = current_runtime(request)
    case = runtime.store.get_case(case_id)
    photo = next((p for p in case.photos if p.position == position), None)
    if photo is None:
        raise HTTPException(404, f"case {case_id} has no photo {position}")
    data = runtime.store.photos.read(photo.sha256, photo.content_type)
    maps = grader_of(runtime).photo_maps([data], case.brand)[0]
    if kind == "damage":
        png = overlay(maps.damage)
    else:
        png = overlay(maps.counterfeit, low=0.0, top=maps.counterfeit_scale)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})
