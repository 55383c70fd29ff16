"""Damage drawn on training photos on the fly (the `damage_share` setting).

The training set holds too few heavily damaged items for the networks to learn every shape,
place, size and surface of the damage (docs/experiments/grader.md). This draws more, each epoch
afresh, with the synthetic generator's own drawers (`training.synth.damage`), on the resized
training photos: a share of the items in every batch take the whole damage plan of a worse
grade (`plan_damage`: an A item becomes B or C, a B or C item C), each mark shown in the views
the generator's `mark_visibility` picks, and are graded by it.

The drawers need to know where the product is; a stored photo does not say, so `object_mask`
guesses it from how far each pixel is from the background (each row's edge colours, blended
across). Damaged photos take no part in the counterfeit losses (a mark may land on the brand
mark, which the generator keeps clear). The damage looks like the generator's because it is
drawn by the same code: the option suits photos like the synthetic ones, and real photos only
as far as their damage looks like it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from features.schema import GRADES
from training.synth.damage import Damage, apply_damage, plan_damage
from training.synth.photos import mark_visibility

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


def worse_plan(grade: int, category: object, rng: np.random.Generator) -> tuple[int, list[Damage]]:
    """The worse grade a chosen item of `grade` (0 = A) takes and the generator's damage plan
    for it (kinds weighted for the category as the generator weighs them; all alike when
    unknown): an A item becomes B or C with equal chance, a B or C item C."""
    worst = len(GRADES) - 1
    known = category if isinstance(category, str) else None
    new = int(rng.integers(min(grade + 1, worst), worst + 1))
    return new, plan_damage(GRADES[new], rng, known)


def draw_damage(
    images: torch.Tensor,
    item_index: torch.Tensor,
    target: torch.Tensor,
    categories: Sequence[object],
    share: float,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw damage on a share of a batch's items and grade them accordingly.

    Args:
        images: uint8 photos `[N, 3, S, S]` (not changed).
        item_index: Item (0..n_items-1) of each photo, `[N]`.
        target: Grade targets of the items, `[n_items]` (0 = A, the best; not changed).
        categories: Category of each item (unknown ones weigh every kind alike).
        share: Chance that an item is chosen.
        rng: Decides the items, grades, kinds, severities, shapes and views.

    Returns:
        The photos (a new tensor when any changed), the items' targets, and a bool `[N]`
        marking the photos damage was drawn on. Which view shows which mark is drawn as the
        generator draws it (`mark_visibility`).
    """
    marked = torch.zeros(len(images), dtype=torch.bool)
    chosen = np.flatnonzero(rng.random(len(target)) < share)
    if len(chosen) == 0:
        return images, target, marked
    images, target = images.clone(), target.clone()
    photo_item = np.asarray(item_index)
    for item in chosen:
        rows = np.flatnonzero(photo_item == item)
        if len(rows) == 0:
            continue
        grade, marks = worse_plan(int(target[item]), categories[item], rng)
        shows = mark_visibility(len(marks), len(rows), rng)
        for k, row in enumerate(rows):
            view_marks = [mark for j, mark in enumerate(marks) if shows[j, k]]
            if not view_marks:
                continue
            photo = images[row].permute(1, 2, 0).numpy().astype(np.float32) / 255.0
            drawn = apply_damage(photo, view_marks, object_mask(photo))
            pixels = np.round(np.clip(drawn, 0.0, 1.0) * 255.0).astype(np.uint8)
            images[row] = torch.from_numpy(pixels).permute(2, 0, 1)
            marked[row] = True
        target[item] = grade
    return images, target, marked
