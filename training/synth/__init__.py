"""Synthetic intake photos and sales outcomes with known ground truth.

`synthesize` writes `DIR/photos/` (images and manifest.csv), `DIR/outcomes.csv`,
`DIR/truth.csv` and `DIR/damage.csv` (the marks each photo shows) for one set of items; the
same arguments give the same bytes. The folder is built beside its destination and renamed into
place, so an interrupted run leaves nothing half written.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from features.problems import DataError, Problem
from training.synth.items import make_items
from training.synth.outcomes import make_outcomes
from training.synth.photos import write_photos

PHOTOS = "photos"
OUTCOMES = "outcomes.csv"
TRUTH = "truth.csv"
DAMAGE = "damage.csv"
"""The generator's truth per photo: each drawn damage mark a photo shows (kind, severity)."""


@dataclass(frozen=True)
class SynthSummary:
    """What `synthesize` wrote."""

    out: Path
    items: int
    photos: int
    outcome_rows: int
    sold: int


def synthesize(
    out: Path,
    *,
    items: int = 1000,
    photos_per_item: int = 3,
    image_size: int = 224,
    counterfeit_rate: float = 0.1,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> SynthSummary:
    """Generate a synthetic data set into `out`.

    Args:
        out: Destination folder; must not exist or be empty unless `overwrite`.
        items: Number of units.
        photos_per_item: Views per unit; 0 writes no photos.
        image_size: Photo side in pixels.
        counterfeit_rate: Share of counterfeit units.
        seed: Random seed; the same seed gives the same bytes.
        overwrite: Replace an existing non-empty `out`.
        progress: Wraps the per-item photo loop, e.g. a progress bar.

    Raises:
        DataError: a bad argument or an existing destination, named.
    """
    problems = []
    if items < 1:
        problems.append(Problem("--items", f"must be at least 1, got {items}"))
    if photos_per_item < 0:
        problems.append(Problem("--photos-per-item", f"must be 0 or more, got {photos_per_item}"))
    if not 16 <= image_size <= 2048:
        problems.append(Problem("--image-size", f"must be 16..2048 pixels, got {image_size}"))
    if not 0.0 <= counterfeit_rate <= 1.0:
        problems.append(Problem("--counterfeit-rate", f"must be in 0..1, got {counterfeit_rate}"))
    out = Path(out)
    if out.exists() and not out.is_dir():
        problems.append(Problem(out, "exists and is not a folder"))
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        problems.append(Problem(out, "folder exists and is not empty (use --overwrite)"))
    if problems:
        raise DataError(problems)

    table = make_items(items, counterfeit_rate=counterfeit_rate, seed=seed)
    outcomes, truth = make_outcomes(table, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        manifest = write_photos(
            table,
            staging / PHOTOS,
            photos_per_item=photos_per_item,
            image_size=image_size,
            seed=seed,
            progress=progress,
            damage_file=staging / DAMAGE,
        )
        outcomes.to_csv(staging / OUTCOMES, index=False)
        truth.to_csv(staging / TRUTH, index=False)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SynthSummary(
        out=out,
        items=len(table),
        photos=len(manifest),
        outcome_rows=len(outcomes),
        sold=int(outcomes["sold"].sum()),
    )
