"""Which items a holdout takes: stratified, chosen by a hash of item_id, never the champion's.

`pick_items` takes about `share` of each stratum (pricing: grade x category; grader: grade x
counterfeit flag), the items with the smallest SHA-256 of their id first, so the same data always
gives the same holdout. `champion_trained_ids` reads the items the current champion trained on
(its data, less its own test split) from its `artifact.json`: a holdout must not contain them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from features.photos import load_photo_dataset
from models.artifact import ArtifactError, read_meta
from models.kinds import GRADER, PRICING, ModelKind
from models.registry import ModelNotFoundError
from serving.settings import Settings
from training.grader.data import assign_splits
from training.pricing.data import holdout_mask, load_run_data

STRATA = {PRICING.name: ("grade", "category"), GRADER.name: ("grade", "counterfeit")}
"""Columns a holdout is stratified by, per kind (those the data has)."""


def champion_trained_ids(settings: Settings, kind: ModelKind) -> frozenset[str] | None:
    """The items the current champion trained on (its data less its own test split), or None
    when there is no champion or its data cannot be read.

    A holdout must not contain them, or the comparison would favour the champion.
    """
    try:
        resolved = settings.resolve_model(kind.champion_uri)
        meta = read_meta(resolved.path, kind)
    except (ModelNotFoundError, ArtifactError):
        return None
    if not meta.data_path or not Path(meta.data_path).exists():
        return None
    config = meta.training_config
    if kind is PRICING:
        frame = load_run_data(Path(meta.data_path)).frame
        held = holdout_mask(frame, float(config.get("holdout_fraction", 0.2)))
        return frozenset(frame.loc[~held, "item_id"].astype(str))
    items = load_photo_dataset(meta.data_path).drop_duplicates("item_id").reset_index(drop=True)
    items["counterfeit"] = pd.to_numeric(items["counterfeit"], errors="coerce").astype(float)
    split = assign_splits(items, int(config.get("seed", 0)))
    return frozenset(items.loc[(split != "test").to_numpy(), "item_id"].astype(str))


def _bucket(item_id: str) -> int:
    return int.from_bytes(hashlib.sha256(str(item_id).encode()).digest()[:8], "big")


def pick_items(
    items: pd.DataFrame,
    share: float,
    strata: tuple[str, ...],
    exclude: frozenset[str] = frozenset(),
) -> list[str]:
    """About `share` of the items of each stratum, the same ones for the same items.

    Args:
        items: One row per item: `item_id` and the stratum columns.
        share: Share of each stratum held out (at least one item of a stratum of 2+ items).
        strata: Stratum columns (those missing from `items` are ignored).
        exclude: Items never picked (a stratum then gives fewer when too few others are left).
    """
    by = [c for c in strata if c in items.columns]
    keys = items[by].astype(str).agg("|".join, axis=1) if by else pd.Series("", index=items.index)
    picked: list[str] = []
    for _, group in items.groupby(keys, sort=True):
        ids = sorted(group["item_id"].astype(str), key=_bucket)
        n = round(share * len(ids))
        if n == 0 and len(ids) >= 2 and share > 0:
            n = 1
        picked.extend([i for i in ids if i not in exclude][:n])
    return sorted(picked)


def strata_counts(items: pd.DataFrame, strata: tuple[str, ...]) -> dict[str, int]:
    """Items per stratum (for the holdout's manifest)."""
    by = [c for c in strata if c in items.columns]
    if not by:
        return {"all": len(items)}
    keys = items[by].astype(str).agg("|".join, axis=1)
    return {str(k): int(v) for k, v in keys.value_counts().sort_index().items()}
