"""Drift and live-quality statistics: PSI, photo statistics, agreement and calibration over time.

The population stability index compares the share of rows in each bin (numeric: deciles of the
reference; categorical: each level, missing as its own) between a reference and a recent sample:
PSI = sum((recent - reference) * ln(recent / reference)), shares floored at 1e-4. Rules of thumb:
below 0.1 stable, 0.1 to 0.2 worth watching, above 0.2 drifted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from features.images import ImageError, open_image
from training.pricing import metrics as pm

FLOOR = 1e-4
BINS = 10
MISSING = "(missing)"


def _psi(reference: np.ndarray, recent: np.ndarray) -> float:
    reference = np.maximum(reference, FLOOR)
    recent = np.maximum(recent, FLOOR)
    return float(np.sum((recent - reference) * np.log(recent / reference)))


def psi_numeric(reference: pd.Series, recent: pd.Series, bins: int = BINS) -> float | None:
    """PSI of a numeric feature over deciles of the reference (missing values as one more bin)."""
    ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype="float64")
    cur = pd.to_numeric(recent, errors="coerce").to_numpy(dtype="float64")
    known = ref[np.isfinite(ref)]
    if len(known) == 0 or len(cur) == 0:
        return None
    edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1))[1:-1])

    def shares(values: np.ndarray) -> np.ndarray:
        finite = np.isfinite(values)
        counts = np.bincount(
            np.searchsorted(edges, values[finite], side="right"), minlength=len(edges) + 1
        )
        return np.append(counts, (~finite).sum()) / len(values)

    return _psi(shares(ref), shares(cur))


def psi_categorical(reference: pd.Series, recent: pd.Series) -> float | None:
    """PSI of a categorical feature over the levels of both samples (missing as a level)."""
    if len(reference) == 0 or len(recent) == 0:
        return None
    ref = reference.astype(object).where(reference.notna(), MISSING).astype(str)
    cur = recent.astype(object).where(recent.notna(), MISSING).astype(str)
    levels = sorted(set(ref) | set(cur))
    a = ref.value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy()
    b = cur.value_counts(normalize=True).reindex(levels, fill_value=0).to_numpy()
    return _psi(a, b)


def photo_stats(paths: list[Path | str], limit: int = 200, seed: int = 0) -> pd.DataFrame:
    """Width, height, pixel area and mean brightness (0-255) of up to `limit` photos (seeded
    sample); unreadable photos are left out."""
    paths = list(paths)
    if len(paths) > limit:
        chosen = np.random.default_rng(seed).choice(len(paths), limit, replace=False)
        paths = [paths[i] for i in sorted(chosen)]
    rows = []
    for path in paths:
        try:
            image = open_image(Path(path))
        except (ImageError, OSError):
            continue
        width, height = image.size
        small = image.convert("L")
        small.thumbnail((64, 64), Image.Resampling.BILINEAR)
        rows.append(
            {
                "width": width,
                "height": height,
                "area": width * height,
                "brightness": float(np.asarray(small, dtype=np.float64).mean()),
            }
        )
    return pd.DataFrame(rows, columns=["width", "height", "area", "brightness"])


def disagreement_over_time(cases: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Per period of resolution: resolved cases and the share whose grade the grader changed."""
    done = cases.dropna(subset=["final_grade", "model_grade", "resolved_at"])
    if done.empty:
        return pd.DataFrame(columns=["period", "resolved", "disagreement"])
    when = pd.to_datetime(done["resolved_at"], utc=True).dt.tz_localize(None)
    changed = (done["final_grade"] != done["model_grade"]).astype(float)
    grouped = changed.groupby(when.dt.to_period(freq))
    return pd.DataFrame(
        {
            "period": [str(p) for p in grouped.size().index],
            "resolved": grouped.size().to_numpy(),
            "disagreement": grouped.mean().to_numpy(),
        }
    )


def live_pricing_quality(cases: pd.DataFrame) -> dict[str, float | int | None]:
    """Band coverage of sold prices and the days-to-sell C-index on cases with an outcome."""
    result: dict[str, float | int | None] = {
        "outcomes": 0,
        "sold": 0,
        "interval_coverage_80": None,
        "tts_cindex": None,
    }
    if "sold" not in cases.columns:
        return result
    known = cases.dropna(subset=["sold", "days_listed"])
    result["outcomes"] = len(known)
    sold = known[known["sold"].astype(float) == 1].dropna(
        subset=["sold_price", "price_p10", "price_p90"]
    )
    result["sold"] = len(sold)
    if len(sold):
        y = sold["sold_price"].astype(float).to_numpy()
        result["interval_coverage_80"] = pm.interval_coverage(
            y,
            sold["price_p10"].astype(float).to_numpy(),
            sold["price_p90"].astype(float).to_numpy(),
        )
    timed = known.dropna(subset=["days_to_sell_p50"])
    if len(timed) >= 2 and timed["sold"].astype(float).sum() > 0:
        c = pm.harrell_c(
            timed["days_listed"].astype(float).to_numpy(),
            timed["sold"].astype(float).to_numpy(),
            timed["days_to_sell_p50"].astype(float).to_numpy(),
        )
        result["tts_cindex"] = c if np.isfinite(c) else None
    return result
