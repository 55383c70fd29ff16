"""A stratified subsample of a photo dataset that keeps the full set's split, for small-data runs.

The full set's split is rebuilt as training would build it (`split_items`, seed 0: the manifest's
own, or the seeded 70/15/15 split by item); about `--items` items are then drawn from every
(split, grade) stratum in proportion (at least 2 each, seeded), so the subsample's test items are
the full set's test items. The subsample's manifest names that split in its `split` column; its
`images/` is a symlink to the source's. `--rest DIR` also writes the items left out (no split)
as a second dataset, e.g. a large held-out set for `benchmarks/bench_grader_crossfit.py --split
all`.

    .venv/bin/python benchmarks/subsample_photos.py --data SRC --out DIR --items 200 [--rest DIR2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from features.photos import load_photo_dataset
from training.grader.data import split_items

MANIFEST = "manifest.csv"


def _write(source: Path, out: Path, manifest: pd.DataFrame) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "images").exists():
        (out / "images").symlink_to((source / "images").resolve())
    manifest.to_csv(out / MANIFEST, index=False)


def main() -> None:
    """Parse the arguments, write the subsample (and the rest), print the strata's counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a manifest photo dataset")
    parser.add_argument("--out", type=Path, required=True, help="the subsample's folder")
    parser.add_argument("--items", type=int, required=True, help="items wanted (about)")
    parser.add_argument("--rest", type=Path, help="also write the left-out items here")
    parser.add_argument("--seed", type=int, default=0, help="seeds the draw")
    args = parser.parse_args()
    frame = load_photo_dataset(args.data, decode=False)
    items = frame.drop_duplicates("item_id").reset_index(drop=True)
    items = items[["item_id", "grade", "counterfeit", "category", "brand", "split"]].copy()
    items["split"] = split_items(items, 0)[0].to_numpy()
    rng = np.random.default_rng(args.seed)
    share = args.items / len(items)
    keep: list[str] = []
    for _, group in items.groupby(["split", "grade"]):
        k = min(len(group), max(2, round(len(group) * share)))
        keep += list(rng.choice(group["item_id"].to_numpy(), size=k, replace=False))
    split_of = items.set_index("item_id")["split"]
    manifest = pd.read_csv(args.data / MANIFEST)
    chosen = manifest[manifest["item_id"].isin(keep)].copy()
    chosen["split"] = chosen["item_id"].map(split_of)
    _write(args.data, args.out, chosen)
    counts = chosen.drop_duplicates("item_id").groupby(["split", "grade"]).size()
    print(f"{chosen['item_id'].nunique()} items: {counts.to_dict()}")
    if args.rest is not None:
        rest = manifest[~manifest["item_id"].isin(keep)]
        _write(args.data, args.rest, rest.drop(columns=["split"], errors="ignore"))
        print(f"rest: {rest['item_id'].nunique()} items")


if __name__ == "__main__":
    main()
