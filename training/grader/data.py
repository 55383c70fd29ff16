"""Grader data: a photo dataset folder decoded once into uint8 tensors, split by item.

The manifest's `split` column is used when every item has one; otherwise items get a
deterministic split stratified by grade (and counterfeit flag), seeded. Photos that cannot be
decoded are reported by name and left out; an item left without photos is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from features.images import ImageError, open_image
from features.photos import load_photo_dataset
from features.problems import Problem
from features.schema import GRADES
from models.grader.preprocess import to_uint8

SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
"""Train, val and test shares of items when the manifest has no split column."""

Progress = Callable[[Iterable, int], Iterable]


@dataclass
class PhotoSet:
    """Decoded photos and their items.

    Attributes:
        images: uint8 photos `[N, 3, S, S]`.
        item_index: Row of `items` for each photo, `[N]`.
        items: One row per item: item_id, grade, target (0 = best), counterfeit (float, NaN when
            unknown), brand (None when unknown), split.
    """

    images: torch.Tensor
    item_index: np.ndarray
    items: pd.DataFrame

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, split: str) -> PhotoSet:
        """The items (and their photos) of one split, re-indexed from 0."""
        keep = np.nonzero((self.items["split"] == split).to_numpy())[0]
        return self.take(keep)

    def take(self, item_rows: np.ndarray) -> PhotoSet:
        """The given item rows (and their photos), re-indexed from 0."""
        remap = np.full(len(self.items), -1, dtype=np.int64)
        remap[item_rows] = np.arange(len(item_rows))
        photo_rows = np.nonzero(remap[self.item_index] >= 0)[0]
        return PhotoSet(
            images=self.images[torch.as_tensor(photo_rows)],
            item_index=remap[self.item_index[photo_rows]],
            items=self.items.iloc[item_rows].reset_index(drop=True),
        )

    @property
    def brands(self) -> list[str | None]:
        """Brand per item (None when unknown)."""
        return [b if isinstance(b, str) and b else None for b in self.items["brand"]]

    @property
    def has_counterfeit_labels(self) -> bool:
        """True when both authentic and counterfeit items are labelled."""
        labels = self.items["counterfeit"].dropna()
        return labels.nunique() == 2


def assign_splits(items: pd.DataFrame, seed: int) -> pd.Series:
    """The manifest's splits when complete, else a seeded stratified split of items."""
    given = items["split"]
    if given.notna().all() and {"train", "val", "test"} <= set(given):
        return given.astype(str)
    strata = items["grade"].astype(str) + items["counterfeit"].fillna(-1).astype(str)
    counts = strata.value_counts()
    strata = strata.where(strata.map(counts) >= 4, items["grade"].astype(str))
    if strata.value_counts().min() < 4:
        strata = None
    _train_share, val_share, test_share = SPLIT_FRACTIONS
    rest_share = val_share + test_share
    index = np.arange(len(items))
    try:
        _train, rest = train_test_split(
            index, test_size=rest_share, random_state=seed, stratify=strata
        )
        val, test = train_test_split(
            rest,
            test_size=test_share / rest_share,
            random_state=seed,
            stratify=None if strata is None else strata.iloc[rest],
        )
    except ValueError:  # strata too small to split: fall back to a plain seeded split
        _train, rest = train_test_split(index, test_size=rest_share, random_state=seed)
        val, test = train_test_split(rest, test_size=test_share / rest_share, random_state=seed)
    split = pd.Series("train", index=items.index, dtype=object)
    split.iloc[val] = "val"
    split.iloc[test] = "test"
    return split


def load_photoset(
    root: Path | str,
    image_size: int,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[PhotoSet, list[Problem]]:
    """Read a photo dataset folder into a `PhotoSet`.

    Args:
        root: Photo dataset folder (manifest.csv or A/, B/, C/).
        image_size: Side of the square the photos are resized to.
        seed: Seeds the split when the manifest has none.
        progress: Wraps the decoding loop, `progress(iterable, total)`.

    Returns:
        The photo set and the photos that could not be used (reported, not raised).

    Raises:
        features.problems.DataError: the manifest itself breaks its contract.
    """
    root = Path(root)
    frame = load_photo_dataset(root, decode=False)
    problems: list[Problem] = []
    tensors, keep = [], []
    rows = enumerate(frame["image"])
    for pos, rel in progress(rows, len(frame)) if progress else rows:
        try:
            tensors.append(to_uint8(open_image(root / rel), image_size))
            keep.append(pos)
        except ImageError as exc:
            problems.append(Problem(root / rel, f"left out: {exc}"))
    frame = frame.iloc[keep].reset_index(drop=True)
    items = frame.drop_duplicates("item_id").reset_index(drop=True)
    items = items[["item_id", "grade", "counterfeit", "category", "brand", "split"]].copy()
    items["target"] = items["grade"].map({g: i for i, g in enumerate(GRADES)}).astype(int)
    items["counterfeit"] = pd.to_numeric(items["counterfeit"], errors="coerce").astype(float)
    items["split"] = assign_splits(items, seed).to_numpy()
    position = {item_id: i for i, item_id in enumerate(items["item_id"])}
    item_index = frame["item_id"].map(position).to_numpy(dtype=np.int64)
    images = torch.stack(tensors) if tensors else torch.empty(0, 3, image_size, image_size)
    return PhotoSet(images.to(torch.uint8), item_index, items), problems
