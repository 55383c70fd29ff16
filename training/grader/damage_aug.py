"""Structural damage drawn on training photos on the fly (the `damage_share` setting).

The C items the networks call B carry a tear, dent or crack at high severity (docs/grader.md,
eighth round): 1,050 training items hold too few such marks for the networks to learn every
shape, place and surface. This draws more of them, each epoch afresh, with the synthetic
generator's own drawers (`training.synth.damage`), on the resized training photos: a share of
the items in every batch get one structural mark, shown in each of their views with the
generator's chance (at least one view), and become grade C, as the generator's grade plans
have it (structural damage at a C severity makes a unit C).

The drawers need to know where the product is; a stored photo does not say, so `object_mask`
guesses it from how far each pixel is from the background (each row's edge colours, blended
across). Damaged photos take no part in the counterfeit losses (a mark may land on the brand
mark, which the generator keeps clear), as toned photos do not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from training.synth.damage import (
    CATEGORY_KINDS,
    GRADE_PLANS,
    STRUCTURAL_KINDS,
    Damage,
    apply_damage,
)

SEVERITY: tuple[float, float] = GRADE_PLANS["C"].structural_severity
"""Severity of a drawn mark: the generator's range for grade C's structural damage."""
VIEW_SHOWS = 0.8
"""Chance that a view of a chosen item shows its mark (at least one view does), as in the
generator (`training.synth.photos.VIEW_SHOWS_DAMAGE`)."""
MASK_THRESHOLD = 0.1
"""A pixel this far (largest channel difference, 0..1) from the background model is product."""
EDGE_SHARE = 1 / 24
"""Width of the left and right strips that sample each row's background, share of the side."""
MIN_OBJECT = 0.08
"""Below this share of the photo the guess is not trusted: the central box is used instead."""
CENTRAL_BOX = (0.2, 0.8)
"""The fallback product region, as shares of the side (products sit near the centre)."""


def object_mask(photo: np.ndarray) -> np.ndarray:
    """Where the product probably is in a photo on a plain backdrop.

    Args:
        photo: `(H, W, 3)` floats in [0, 1].

    Returns:
        `(H, W)` bool: pixels differing from the background model (per row, the median colours
        of the left and right edge strips blended linearly across) by more than
        `MASK_THRESHOLD`, away from the edge strips; the central box when that finds too little.
    """
    h, w, _ = photo.shape
    edge = max(1, round(w * EDGE_SHARE))
    left = np.median(photo[:, :edge], axis=1)
    right = np.median(photo[:, -edge:], axis=1)
    t = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    background = left[:, None] * (1.0 - t) + right[:, None] * t
    mask = np.abs(photo - background).max(axis=2) > MASK_THRESHOLD
    mask[:, :edge] = False
    mask[:, w - edge :] = False
    if mask.mean() < MIN_OBJECT:
        mask = np.zeros((h, w), bool)
        lo, hi = CENTRAL_BOX
        mask[round(lo * h) : round(hi * h), round(lo * w) : round(hi * w)] = True
    return mask


def structural_kind(category: object, rng: np.random.Generator) -> str:
    """A structural kind plausible for the category (weights of `CATEGORY_KINDS`; all alike
    for an unknown or missing category)."""
    weights = CATEGORY_KINDS.get(category if isinstance(category, str) else "", {})
    kinds = [k for k in STRUCTURAL_KINDS if weights.get(k, 0.0 if weights else 1.0) > 0]
    p = np.array([weights.get(k, 1.0) for k in kinds], float)
    return kinds[int(rng.choice(len(kinds), p=p / p.sum()))]


def draw_structural(
    images: torch.Tensor,
    item_index: torch.Tensor,
    target: torch.Tensor,
    categories: Sequence[object],
    share: float,
    worst: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Give a share of a batch's items one structural mark and grade them `worst`.

    Args:
        images: uint8 photos `[N, 3, S, S]` (not changed).
        item_index: Item (0..n_items-1) of each photo, `[N]`.
        target: Grade targets of the items, `[n_items]` (0 = best; not changed).
        categories: Category of each item (unknown ones weigh every kind alike).
        share: Chance that an item is chosen.
        worst: Target of the worst grade, which a chosen item takes.
        rng: Decides the items, kinds, severities, shapes and views.

    Returns:
        The photos (a new tensor when any changed), the items' targets, and a bool `[N]`
        marking the photos a mark was drawn on.
    """
    n = len(images)
    marked = torch.zeros(n, dtype=torch.bool)
    chosen = np.flatnonzero(rng.random(len(target)) < share)
    if len(chosen) == 0:
        return images, target, marked
    images, target = images.clone(), target.clone()
    photo_item = np.asarray(item_index)
    for item in chosen:
        rows = np.flatnonzero(photo_item == item)
        if len(rows) == 0:
            continue
        mark = Damage(
            kind=structural_kind(categories[item], rng),
            severity=float(rng.uniform(*SEVERITY)),
            seed=int(rng.integers(2**62)),
        )
        shows = rng.random(len(rows)) < VIEW_SHOWS
        shows[int(rng.integers(len(rows)))] = True
        for row in rows[shows]:
            photo = images[row].permute(1, 2, 0).numpy().astype(np.float32) / 255.0
            drawn = apply_damage(photo, [mark], object_mask(photo))
            pixels = np.round(np.clip(drawn, 0.0, 1.0) * 255.0).astype(np.uint8)
            images[row] = torch.from_numpy(pixels).permute(2, 0, 1)
            marked[row] = True
        target[item] = worst
    return images, target, marked
