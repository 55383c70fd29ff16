"""Run a loaded model once on a fixed input before it answers anyone (the start-up probe).

A model that loads can still fail when it runs (weights of the wrong shape for the backbone,
a booster LightGBM reads but cannot apply) or answer NaN (a corrupted or diverged model). The
service probes every model when it loads one, so such a model stops the start (or a reload)
with one line naming its folder instead of crash-looping a worker or answering requests. The
inputs are fixed: a small generated photo for the grader, one ordinary unit for pricing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from PIL import Image

from features.schema import ITEM_COLUMNS
from features.tables import check_table
from models.routing import NOT_FINITE

PROBE_PHOTO_SIZE = 64
"""Side of the generated probe photo, in pixels (the grader resizes it to its own size)."""
PROBE_ITEM: dict[str, Any] = {
    "item_id": "probe",
    "category": "phone",
    "grade": "B",
    "brand": "probe",
    "age_months": 12.0,
    "new_price": 500.0,
    "acquisition_cost": 150.0,
    "refurb_cost": 20.0,
    "logistics_cost": 10.0,
}
"""The pricing probe: one ordinary unit (unknown category and brand are allowed)."""


class ProbeError(ValueError):
    """A model failed its start-up probe; the message names the model's folder and why."""


class _Grader(Protocol):
    def predict_items(self, items: Any, metadata: Any = None) -> list[Any]: ...


class _Pricing(Protocol):
    has_time_to_sell: bool

    def predict(self, items: pd.DataFrame) -> pd.DataFrame: ...


def probe_photo() -> Image.Image:
    """The grader's probe: a smooth colour gradient (the same pixels every time)."""
    ramp = np.linspace(0, 255, PROBE_PHOTO_SIZE, dtype=np.float64)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128.0), axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), mode="RGB")


def probe_grader(predictor: _Grader, folder: Path | str) -> None:
    """Grade the probe photo once.

    Raises:
        ProbeError: the grader raised, or its output was not finite; names `folder`.
    """
    try:
        result = predictor.predict_items([[probe_photo()]], [{"brand": None}])[0]
    except Exception as exc:  # any failure to run is the same verdict: not servable
        raise ProbeError(f"{folder}: the grader fails on the probe photo: {exc}") from exc
    if NOT_FINITE in result.reasons:
        raise ProbeError(f"{folder}: the grader's output on the probe photo is not finite (NaN)")


def probe_pricing(predictor: _Pricing, folder: Path | str) -> None:
    """Price the probe unit (`PROBE_ITEM`) once.

    Raises:
        ProbeError: the model raised, or a price (or, where it has one, time to sell) is not
            finite; names `folder`.
    """
    items, problems = check_table(pd.DataFrame([PROBE_ITEM]), ITEM_COLUMNS, file="probe")
    if problems:  # a fixed row: only a change of the item contract can get here
        raise ProbeError(f"the probe unit breaks the item contract: {problems[0].message}")
    try:
        row = predictor.predict(items).iloc[0]
    except Exception as exc:
        raise ProbeError(f"{folder}: the pricing model fails on the probe unit: {exc}") from exc
    names = ["price_p10", "price_p50", "price_p90"]
    if predictor.has_time_to_sell:
        names += ["days_to_sell_p50", "days_to_sell_p90"]
    bad = [name for name in names if not math.isfinite(float(row[name]))]
    if bad:
        raise ProbeError(
            f"{folder}: the pricing model's {', '.join(bad)} on the probe unit is not finite (NaN)"
        )
