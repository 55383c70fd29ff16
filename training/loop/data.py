"""A retrain's data: the champion's own training data plus what the store learned, less the holdout.

Pricing: the base outcomes table (the champion's `data_path`, or `--base`) with the store's
outcomes export appended; one row per item, the store's (newer) row winning. The holdout's items
are removed and its own rows appended marked `split=test`, so the training pipeline trains on
every other row and reports its metrics on the fixed holdout. Written as `outcomes.csv` (with the
base's `truth.csv` rows beside it when there is one) and read back through the outcomes contract.

Grader: the base photo dataset with the graders' decisions appended (the store's photos, the
grader's grade and counterfeit verdict); an item the store decided drops all its base photos.
Holdout items are removed and the holdout's photos added as `split=test`; every other item gets
train or val by a hash of its id. The photos are hard-linked (copied where links fail) into one
folder whose `manifest.csv` is read back through the photo-dataset contract.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.photos import MANIFEST, is_photo_dataset, load_photo_dataset
from features.problems import DataError, Problem
from features.tables import write_table
from serving.store.exports import OUTCOME_EXTRAS
from training.fingerprints import file_fingerprint, photo_dataset_fingerprint
from training.loop.holdout import Holdout
from training.pricing.data import OUTCOMES, TRUTH, load_run_data

VAL_SHARE = 0.15 / 0.85
"""Share of the non-holdout grader items used for validation (the grader's default 70/15/15)."""
STORE_EXTRAS = ("case_id", "position", "grader_id", "resolved_at", "model_grade")
"""Columns of the graders' decisions export that are not manifest columns."""


@dataclass(frozen=True)
class RetrainData:
    """The merged data a retrain trains and compares on.

    Attributes:
        path: The outcomes table or photo dataset folder handed to the training pipeline.
        fingerprint: Its SHA-256 (`training.fingerprints`).
        base: The base data it started from.
        n_base_items: Items in the base data.
        n_store_items: Items the store contributed (new or replacing a base row).
        n_replaced: Base items the store's newer row replaced.
        n_held_out: Items removed from training because they are in the holdout.
        train_ids: The items the model may train on (train and val).
        test_ids: The holdout's items (split=test).
    """

    path: Path
    fingerprint: str
    base: Path
    n_base_items: int
    n_store_items: int
    n_replaced: int
    n_held_out: int
    train_ids: frozenset[str]
    test_ids: frozenset[str]

    def summary(self) -> dict:
        """The counts, for config.json and the report."""
        return {
            "data": str(self.path),
            "data_fingerprint": self.fingerprint,
            "base": str(self.base),
            "base_items": self.n_base_items,
            "store_items": self.n_store_items,
            "replaced_items": self.n_replaced,
            "held_out_items_removed": self.n_held_out,
            "train_items": len(self.train_ids),
            "holdout_items": len(self.test_ids),
        }


def _bucket(item_id: str) -> float:
    return int.from_bytes(hashlib.sha256(f"split:{item_id}".encode()).digest()[:8], "big") / 2**64


def _ids(frame: pd.DataFrame) -> pd.Series:
    return frame["item_id"].astype(str)


def pricing_data(
    base: Path, store_rows: pd.DataFrame, holdout: Holdout, folder: Path
) -> RetrainData:
    """Merge, hold out and write the pricing data (see the module notes).

    Raises:
        DataError: the base or the merged table breaks the outcomes contract.
    """
    loaded = load_run_data(base)
    base_rows = loaded.frame.drop(columns=["split"], errors="ignore")
    store_rows = store_rows.drop(columns=list(OUTCOME_EXTRAS), errors="ignore")
    replaced = int(_ids(base_rows).isin(set(_ids(store_rows))).sum())
    merged = pd.concat([base_rows.astype(object), store_rows.astype(object)], ignore_index=True)
    merged = merged.drop_duplicates("item_id", keep="last")
    held = _ids(merged).isin(holdout.item_ids)
    train = merged[~held].assign(split="train")
    test = holdout.frame().assign(split="test")
    table = pd.concat([train, test.astype(object)], ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / OUTCOMES
    write_table(table, path)
    if loaded.truth is not None and "item_id" in loaded.truth.columns:
        truth = loaded.truth[loaded.truth["item_id"].astype(str).isin(set(_ids(table)))]
        write_table(truth, folder / TRUTH)
    checked = load_run_data(path).frame  # the contract, as every training input
    split = checked["split"].astype(str)
    return RetrainData(
        path=path,
        fingerprint=file_fingerprint(path),
        base=loaded.table,
        n_base_items=len(base_rows),
        n_store_items=len(store_rows),
        n_replaced=replaced,
        n_held_out=int(held.sum()),
        train_ids=frozenset(_ids(checked[split != "test"])),
        test_ids=frozenset(_ids(checked[split == "test"])),
    )


def _train_val(ids: pd.Series) -> list[str]:
    """train or val per photo by a hash of its item, with at least one item of each (the grader's
    loader draws a fresh split, holdout included, unless train, val and test are all present)."""
    buckets = {i: _bucket(i) for i in ids.unique()}
    val = {i for i, b in buckets.items() if b < VAL_SHARE}
    if len(buckets) >= 2:
        ordered = sorted(buckets, key=buckets.get)
        if not val:
            val = {ordered[0]}
        if val == set(buckets):
            val.discard(ordered[-1])
    return ["val" if i in val else "train" for i in ids]


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _placed(rows: pd.DataFrame, root: Path, folder: Path, prefix: str) -> pd.DataFrame:
    """`rows` with their photos linked under `folder/prefix/` and `image` pointing there."""
    rows = rows.copy()
    images = []
    for pos, image in enumerate(rows["image"]):
        source = root / image  # an absolute image path stays itself
        target = Path(prefix) / f"{pos:06d}{source.suffix.lower()}"
        _link(source, folder / target)
        images.append(target.as_posix())
    rows["image"] = images
    return rows


def photo_root(data: Path) -> Path:
    """The photo dataset inside `data`: the folder itself, or its `photos/`."""
    if not is_photo_dataset(data) and is_photo_dataset(data / "photos"):
        return data / "photos"
    return data


def grader_data(
    base: Path, store_rows: pd.DataFrame, holdout: Holdout, folder: Path
) -> RetrainData:
    """Merge, hold out and write the grader's photo dataset (see the module notes).

    Args:
        base: The base photo dataset (or a folder holding one in `photos/`).
        store_rows: The graders' decisions export with absolute image paths.
        holdout: The grader's holdout.
        folder: Where the merged dataset is written (its `manifest.csv` and photos).

    Raises:
        DataError: the base or the merged dataset breaks the photo-dataset contract.
    """
    root = photo_root(base)
    base_rows = load_photo_dataset(root)
    store_rows = store_rows.drop(columns=list(STORE_EXTRAS), errors="ignore")
    store_ids = set(_ids(store_rows))
    base_ids = set(_ids(base_rows))
    kept = base_rows[~_ids(base_rows).isin(store_ids)].drop(columns=["split"])
    new = store_rows.drop(columns=["split"], errors="ignore")
    held_base = _ids(kept).isin(holdout.item_ids)
    held_store = _ids(new).isin(holdout.item_ids)
    held_out = set(_ids(kept[held_base])) | set(_ids(new[held_store]))
    if folder.exists():
        shutil.rmtree(folder)
    parts = [
        _placed(kept[~held_base], root, folder, "base"),
        _placed(new[~held_store], Path("/"), folder, "store"),
    ]
    train = pd.concat(parts, ignore_index=True)
    train["split"] = _train_val(_ids(train))
    test = _placed(holdout.frame(), holdout.data, folder, "holdout").assign(split="test")
    manifest = pd.concat([train, test], ignore_index=True)
    columns = ["image", "item_id", "grade", "counterfeit", "category", "brand", "split"]
    manifest = manifest[[c for c in columns if c in manifest.columns]]
    if len(train) == 0:
        raise DataError([Problem(folder, "no item left to train on outside the holdout")])
    manifest.to_csv(folder / MANIFEST, index=False)
    checked = load_photo_dataset(folder)  # the contract, as every training input
    split = checked["split"].astype(str)
    return RetrainData(
        path=folder,
        fingerprint=photo_dataset_fingerprint(folder),
        base=root,
        n_base_items=len(base_ids),
        n_store_items=len(store_ids),
        n_replaced=len(base_ids & store_ids),
        n_held_out=len(held_out),
        train_ids=frozenset(_ids(checked[split != "test"])),
        test_ids=frozenset(_ids(checked[split == "test"])),
    )
