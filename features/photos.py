"""Photo datasets: a folder with `manifest.csv`, or `A/`, `B/`, `C/` subfolders of images.

`check_photo_dataset` returns one row per photo (image path, item_id, grade, counterfeit,
category, brand, split) and every problem found; `load_photo_dataset` raises on any problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from features.images import IMAGE_SUFFIXES, ImageError, open_image
from features.problems import DataError, Problem
from features.schema import GRADES, MANIFEST_COLUMNS
from features.tables import check_table, read_table

MANIFEST = "manifest.csv"
DATASET_INFO = "dataset.json"
"""Optional file beside the manifest saying where the photos came from (e.g. the generator's
`{"source": "regrade data synth", ...}`); the grader's `auto` preset reads it."""
PHOTO_COLUMNS = ["image", "item_id", "grade", "counterfeit", "category", "brand", "split"]

Progress = Callable[[Iterable, int], Iterable]


def _no_progress(items: Iterable, total: int) -> Iterable:
    return items


def is_photo_dataset(path: Path) -> bool:
    """True when `path` is a folder laid out as a photo dataset."""
    return path.is_dir() and (
        (path / MANIFEST).is_file() or any((path / g).is_dir() for g in GRADES)
    )


def _from_manifest(root: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    manifest = root / MANIFEST
    try:
        raw = read_table(manifest)
    except DataError as exc:
        return None, exc.problems
    frame, problems = check_table(raw, MANIFEST_COLUMNS, file=manifest, unique=("image",))
    if len(frame) == 0:
        problems.append(Problem(manifest, "the manifest has a header but no rows"))
    if any(p.column in ("image", "item_id", "grade") and p.row is None for p in problems):
        return None, problems
    for name in PHOTO_COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    for name in ("item_id", "grade", "counterfeit", "split"):
        groups = frame.dropna(subset=[name]).groupby("item_id", sort=False)[name]
        for item_id, values in groups:
            distinct = pd.unique(values)
            if len(distinct) > 1:
                shown = ", ".join(str(v) for v in distinct)
                problems.append(
                    Problem(
                        manifest,
                        f"item {item_id!r} has photos that disagree on {name}: {shown}",
                        row=int(frame.index.get_loc(values.index[0])) + 1,
                        column=name,
                    )
                )
    return frame, problems


def _from_folders(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    rows, problems = [], []
    for grade in GRADES:
        folder = root / grade
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                problems.append(Problem(path, "not an image file (expected .jpg, .png or .webp)"))
                continue
            rows.append({"image": rel, "item_id": rel.rsplit(".", 1)[0], "grade": grade})
    frame = pd.DataFrame(rows, columns=PHOTO_COLUMNS)
    if frame.empty:
        problems.append(Problem(root, "no images found in A/, B/ or C/"))
    return frame, problems


def check_photo_dataset(
    root: Path | str, *, decode: bool = True, progress: Progress = _no_progress
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read and check a photo dataset.

    Args:
        root: The dataset folder.
        decode: Also decode every image fully (finds truncated and non-image files).
        progress: Wraps the per-image loop, e.g. a progress bar: `progress(iterable, total)`.

    Returns:
        One row per readable photo (`image` as a path relative to `root`), or None when the
        manifest itself is unusable, and every problem found. Rows whose image is missing or
        unreadable are dropped from the frame and reported.
    """
    root = Path(root)
    if not root.is_dir():
        return None, [Problem(root, "not a folder")]
    if (root / MANIFEST).is_file():
        frame, problems = _from_manifest(root)
    elif any((root / g).is_dir() for g in GRADES):
        frame, problems = _from_folders(root)
    else:
        return None, [Problem(root, f"neither {MANIFEST} nor A/, B/, C/ folders found")]
    if frame is None:
        return None, problems

    keep = []
    for pos, rel in progress(enumerate(frame["image"]), len(frame)):
        if rel is None:
            keep.append(False)
            continue
        path = root / rel
        where = root / MANIFEST if (root / MANIFEST).is_file() else path
        row = pos + 1 if where != path else None
        if not path.is_file():
            problems.append(Problem(where, f"image file not found: {rel}", row=row, column="image"))
            keep.append(False)
            continue
        if decode:
            try:
                open_image(path)
            except ImageError as exc:
                problems.append(Problem(path, str(exc), row=row, column="image"))
                keep.append(False)
                continue
        keep.append(True)
    return frame.loc[keep].reset_index(drop=True), problems


def load_photo_dataset(root: Path | str, *, decode: bool = False) -> pd.DataFrame:
    """Load a photo dataset's rows, raising on any problem.

    Raises:
        DataError: with every problem found.
    """
    frame, problems = check_photo_dataset(root, decode=decode)
    if problems or frame is None:
        raise DataError(problems)
    return frame
