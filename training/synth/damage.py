"""Cosmetic and structural damage drawn on product photos, at a graded severity.

Seven primitives, each `draw_<kind>(image, rng, severity, region=None)`: scratch, scuff, stain,
crack, dent, tear, fading. They take a PIL image or an (H, W, 3) array and return a new one of
the same type; `region` limits where the damage lands (a bbox `(x0, y0, x1, y1)` or a boolean
mask), the whole image when omitted, so any photo can be damaged (e.g. a crack on a grade A photo).

`plan_damage` decides what a unit of a grade carries (A: nothing or one barely visible blemish;
B: light cosmetic wear; C: structural damage or heavy wear); `apply_damage` draws a plan, each
mark from its own seed so the same mark lands identically on every view that shows it.
`apply_grade_damage` does both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from training.synth.damage_kinds import KIND_DRAWERS
from training.synth.damage_plan import (
    CATEGORY_KINDS,
    GRADE_PLANS,
    KINDS,
    LIGHT_KINDS,
    STRUCTURAL_KINDS,
    Damage,
    GradePlan,
    plan_damage,
)

__all__ = [
    "CATEGORY_KINDS",
    "GRADE_PLANS",
    "KINDS",
    "LIGHT_KINDS",
    "STRUCTURAL_KINDS",
    "Damage",
    "GradePlan",
    "apply_damage",
    "apply_grade_damage",
    "draw_crack",
    "draw_dent",
    "draw_fading",
    "draw_scratch",
    "draw_scuff",
    "draw_stain",
    "draw_tear",
    "plan_damage",
]

Region = tuple[float, float, float, float] | np.ndarray | None


def _mask_of(region: Region, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if region is None:
        return np.ones((h, w), np.float32)
    if isinstance(region, np.ndarray):
        if region.shape != (h, w):
            raise ValueError(f"region mask is {region.shape}, image is {(h, w)}")
        return region.astype(np.float32)
    x0, y0, x1, y1 = (round(v) for v in region)
    mask = np.zeros((h, w), np.float32)
    mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1.0
    return mask


def _as_float(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), np.float32) / 255.0
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)


def _like(arr: np.ndarray, image: Image.Image | np.ndarray) -> Image.Image | np.ndarray:
    if isinstance(image, Image.Image):
        return Image.fromarray(np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8), "RGB")
    if np.asarray(image).dtype == np.uint8:
        return np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)
    return np.clip(arr, 0, 1)


def _draw(kind: str, image, rng: np.random.Generator, severity: float, region: Region):
    arr = _as_float(image)
    mask = _mask_of(region, arr.shape[:2])
    sev = float(np.clip(severity, 0.0, 1.0))
    return _like(KIND_DRAWERS[kind](arr, rng, sev, mask, mask), image)


def draw_scratch(image, rng: np.random.Generator, severity: float, region: Region = None):
    """Thin bright (on dark) or dark (on light) lines; more, longer and stronger with severity.

    Args:
        image: A PIL image or an (H, W, 3) array (uint8, or float in [0, 1]).
        rng: The random generator that fixes where and how the damage lands.
        severity: 0 (barely visible) to 1 (heavy).
        region: Where the damage may land: bbox `(x0, y0, x1, y1)` or an (H, W) boolean mask;
            the whole image when None.

    Returns:
        A new image of the same type; the input is not changed.
    """
    return _draw("scratch", image, rng, severity, region)


def draw_scuff(image, rng: np.random.Generator, severity: float, region: Region = None):
    """Grainy abraded patches, paler and greyer than the surface (arguments as `draw_scratch`)."""
    return _draw("scuff", image, rng, severity, region)


def draw_stain(image, rng: np.random.Generator, severity: float, region: Region = None):
    """An irregular brown blot, or a pale salt mark on dark surfaces (as `draw_scratch`)."""
    return _draw("stain", image, rng, severity, region)


def draw_crack(image, rng: np.random.Generator, severity: float, region: Region = None):
    """Dark branching fractures with a pale halo, radiating from a point of impact.

    Works on any photo, e.g. to check that a crack never improves a grade (as `draw_scratch`).
    """
    return _draw("crack", image, rng, severity, region)


def draw_dent(image, rng: np.random.Generator, severity: float, region: Region = None):
    """A shaded bowl (lit on one side, shadowed on the other) with a crease (as `draw_scratch`)."""
    return _draw("dent", image, rng, severity, region)


def draw_tear(image, rng: np.random.Generator, severity: float, region: Region = None):
    """A dark open gash with frayed pale fibres along its edges (as `draw_scratch`)."""
    return _draw("tear", image, rng, severity, region)


def draw_fading(image, rng: np.random.Generator, severity: float, region: Region = None):
    """Sun bleaching: colour washed out towards one side of the region (as `draw_scratch`)."""
    return _draw("fading", image, rng, severity, region)


def apply_damage(
    image,
    damages: Sequence[Damage],
    region: Region = None,
    *,
    regions: Mapping | None = None,
    avoid: np.ndarray | None = None,
):
    """Draw planned damage, each mark from its own seed (identical wherever it is drawn).

    Args:
        image: A PIL image or an (H, W, 3) array.
        damages: What to draw, in order.
        region: Where damage may land (bbox or mask); the whole image when None.
        regions: Optional masks by kind (e.g. a watch's crystal for cracks) used instead of
            `region` for those kinds.
        avoid: Optional (H, W) boolean mask where no damage is centred (e.g. under a badge that
            will cover it); the damage may still reach under it.

    Returns:
        A new image of the same type.
    """
    arr = _as_float(image)
    default = _mask_of(region, arr.shape[:2])
    for damage in damages:
        mask = default
        if regions and damage.kind in regions:
            mask = _mask_of(regions[damage.kind], arr.shape[:2])
        spots = mask if avoid is None else mask * (~avoid)
        if not (spots > 0.5).any():
            spots = mask
        rng = np.random.default_rng(damage.seed)
        arr = KIND_DRAWERS[damage.kind](
            arr, rng, float(np.clip(damage.severity, 0, 1)), mask, spots
        )
    return _like(arr, image)


def apply_grade_damage(
    image,
    grade: str,
    rng: np.random.Generator,
    object_mask_or_bbox: Region = None,
    *,
    category: str | None = None,
):
    """Damage an image as a unit of `grade` would be (see `plan_damage`).

    Args:
        image: A PIL image or an (H, W, 3) array.
        grade: "A", "B" or "C".
        rng: Decides the kinds, severities and shapes.
        object_mask_or_bbox: Where the product is: a bbox or boolean mask; whole image if None.
        category: Product category, to choose plausible kinds (a phone cracks, a bag tears).

    Returns:
        A new image of the same type.
    """
    return apply_damage(image, plan_damage(grade, rng, category), object_mask_or_bbox)
