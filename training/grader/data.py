"""Grader data: a photo dataset folder decoded once into uint8 tensors, split by item.

The manifest's `split` column is used when every item has one: as it is when it names train,
val and test, with val carved from train when it names only train and test (`split_items`);
otherwise items get a deterministic split stratified by grade (and counterfeit flag), seeded.
Photos that cannot be decoded are reported by name and left out; an item left without photos is
dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
"""Train, val and test shares of items when the manifest has no usable split."""
VAL_FROM_TRAIN = 0.15 / 0.85
"""Share of the manifest's train items carved off as val when it gives only train and test
(the val share of `SPLIT_FRACTIONS` among the items that are not test)."""

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
    split_info: dict[str, Any] = field(default_factory=dict)

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


def _seeded_split(
    index: np.ndarray, strata: pd.Series | None, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`index` split into (kept, carved) with `share` carved off, stratified when it can be."""
    try:
        kept, carved = train_test_split(index, test_size=share, random_state=seed, stratify=strata)
    except ValueError:  # strata too small to split: fall back to a plain seeded split
        kept, carved = train_test_split(index, test_size=share, random_state=seed)
    return np.asarray(kept), np.asarray(carved)


def _seeded_splits(items: pd.DataFrame, seed: int) -> pd.Series:
    """Train, val and test by item (`SPLIT_FRACTIONS`), stratified by grade and counterfeit flag.

    The same items and seed always give the same split: `evaluate` rebuilds it from the seed.
    """
    strata = _grade_strata(items)
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


def _grade_strata(items: pd.DataFrame, with_counterfeit: bool = True) -> pd.Series | None:
    """Grade (and counterfeit flag where each such stratum holds 4 items) per item, or None
    when even the grades are too rare to stratify by."""
    grades = items["grade"].astype(str)
    if not with_counterfeit:
        return grades if grades.value_counts().min() >= 2 else None
    strata = grades + items["counterfeit"].fillna(-1).astype(str)
    strata = strata.where(strata.map(strata.value_counts()) >= 4, grades)
    return strata if strata.value_counts().min() >= 4 else None


def split_items(items: pd.DataFrame, seed: int) -> tuple[pd.Series, dict[str, Any]]:
    """The split of every item and what was done to get it.

    - The manifest gives train, val and test for every item: used as it is.
    - It gives only train and test for every item: test is kept exactly; val is carved from the
      manifest's train items (`VAL_FROM_TRAIN` of them, stratified by grade, seeded).
    - Otherwise (no split column, a split missing on some items, no test or no train split): a
      seeded split by item, stratified by grade and counterfeit flag (`SPLIT_FRACTIONS`).

    Returns:
        The split per item (aligned with `items`) and a JSON-ready record of the choice
        (`source`, `val_from` when val was carved, `reason` when the manifest's split was not
        used, and the item count of each split), saved in the model's config.json.
    """
    given = items["split"]
    present = set(given.dropna().astype(str))
    index = np.arange(len(items))
    if given.notna().all() and {"train", "val", "test"} <= present:
        split, info = given.astype(str), {"source": "manifest"}
    elif given.notna().all() and present == {"train", "test"}:
        split = given.astype(str).copy()
        train = index[(split == "train").to_numpy()]
        strata = _grade_strata(items.iloc[train], with_counterfeit=False)
        _, val = _seeded_split(train, strata, VAL_FROM_TRAIN, seed)
        split.iloc[val] = "val"
        info = {"source": "manifest", "val_from": "train", "val_share_of_train": VAL_FROM_TRAIN}
    else:
        if given.isna().all():
            reason = "the manifest has no split"
        elif given.isna().any():
            reason = (
                f"the manifest gives a split for {int(given.notna().sum())} of {len(items)} items"
            )
        else:
            reason = f"the manifest's splits are {sorted(present)}: train and test are both needed"
        split = _seeded_splits(items, seed)
        info = {"source": "seeded", "fractions": list(SPLIT_FRACTIONS), "reason": reason}
    counts = split.value_counts()
    info["items"] = {name: int(counts.get(name, 0)) for name in ("train", "val", "test")}
    return split, info


def assign_splits(items: pd.DataFrame, seed: int) -> pd.Series:
    """The split of every item (`split_items` without the record of how)."""
    return split_items(items, seed)[0]


def describe_split(info: dict[str, Any]) -> str:
    """One line for the log: where the split came from and its item counts."""
    counts = ", ".join(f"{n} {name}" for name, n in info.get("items", {}).items())
    if info.get("val_from"):
        how = "the manifest's train and test; val carved from train (stratified by grade, seeded)"
    elif info.get("source") == "manifest":
        how = "the manifest's train, val and test"
    else:
        how = f"a seeded split by item, stratified by grade ({info.get('reason', '')})"
    return f"split: {how}: {counts} items"


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
        seed: Seeds the split (or the val carved from train) when the manifest has none.
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
    split, split_info = split_items(items, seed)
    items["split"] = split.to_numpy()
    position = {item_id: i for i, item_id in enumerate(items["item_id"])}
    item_index = frame["item_id"].map(position).to_numpy(dtype=np.int64)
    images = torch.stack(tensors) if tensors else torch.empty(0, 3, image_size, image_size)
    return PhotoSet(images.to(torch.uint8), item_index, items, split_info), problems
