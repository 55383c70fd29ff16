"""Smoothed target and count encodings of high-cardinality levels (brand, category paths, attrs).

A LightGBM categorical split needs enough rows per level; real tables have thousands of brands,
category paths and models seen a handful of times. Each encoded key becomes two numbers:

- the smoothed mean of log1p(sold price) of its level, `(sum + m * prior) / (count + m)` with
  `m = smoothing` (a level seen once moves little from the overall mean; unseen levels get the
  prior), and
- the log1p of the level's row count in training (how common it is: popular brands, niche paths).

On the training rows themselves the target encoding is **out of fold**: rows are cut into
`folds` folds by a hash of `item_id` (the same fold for a row whatever subset of the table is
transformed), and a row's encoding comes from the other folds only, so the model never sees its
own price through the feature. At serving every level uses all training rows. The fold sums are
kept in memory only; the artifact stores the full-table tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

FOLDS = 5
SMOOTHING = 20.0


def fold_of(item_ids: pd.Series, folds: int) -> np.ndarray:
    """A stable fold per item id (hash, not position): the same row gets the same fold always."""
    ids = item_ids.astype(str).to_numpy()
    return np.array(
        [int.from_bytes(hashlib.blake2b(i.encode(), digest_size=4).digest()) % folds for i in ids]
    )


@dataclass
class LevelEncoding:
    """Target and count encoding of one key (a column or a combination of columns).

    Attributes:
        name: The key's name (used in feature names: `te_<name>`, `n_<name>`).
        prior: Mean log1p(sold price) of the training rows.
        smoothing: Pseudo-rows of the prior added to each level.
        table: level -> [sum of log1p(price) over sold rows, sold count, all-rows count].
    """

    name: str
    prior: float = 0.0
    smoothing: float = SMOOTHING
    table: dict[str, list[float]] = field(default_factory=dict)
    _folds: pd.DataFrame | None = field(default=None, repr=False)

    def fit(self, keys: pd.Series, target: np.ndarray, folds: np.ndarray) -> LevelEncoding:
        """Learn level sums from training keys (None: missing) and log1p prices (NaN: unsold)."""
        sold = np.isfinite(target)
        self.prior = float(np.mean(target[sold])) if sold.any() else 0.0
        frame = pd.DataFrame(
            {"key": keys.to_numpy(dtype=object), "y": np.where(sold, target, 0.0), "s": sold}
        )
        frame["fold"] = folds
        frame = frame[frame["key"].notna()]
        self._folds = frame.groupby(["key", "fold"]).agg(y=("y", "sum"), s=("s", "sum"))
        total = frame.groupby("key").agg(y=("y", "sum"), s=("s", "sum"), n=("y", "size"))
        self.table = {str(k): [float(r.y), float(r.s), float(r.n)] for k, r in total.iterrows()}
        return self

    def encode(self, keys: pd.Series, folds: np.ndarray | None = None) -> list[np.ndarray]:
        """[target encoding, log1p count] per row; out of fold when `folds` is given."""
        codes, uniques = pd.factorize(keys.to_numpy(dtype=object), use_na_sentinel=True)
        stats = np.array([self.table.get(str(u), [0.0, 0.0, 0.0]) for u in uniques] + [[0.0] * 3])
        rows = stats[codes]  # code -1 (missing) picks the zero row
        sums, sold, count = rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2]
        if folds is not None and self._folds is not None and len(self._folds):
            own = pd.MultiIndex.from_arrays([keys.to_numpy(dtype=object), folds])
            mine = self._folds.reindex(own)
            sums -= np.nan_to_num(mine["y"].to_numpy(dtype="float64"))
            sold -= np.nan_to_num(mine["s"].to_numpy(dtype="float64"))
        encoded = (sums + self.smoothing * self.prior) / (sold + self.smoothing)
        missing = codes < 0
        encoded[missing] = np.nan
        counted = np.log1p(count)
        counted[missing] = np.nan
        return [encoded, counted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, prior, smoothing and the level table."""
        return {
            "name": self.name,
            "prior": self.prior,
            "smoothing": self.smoothing,
            "table": self.table,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelEncoding:
        """Rebuild from `to_dict` output (no fold sums: serving encodes with the full table)."""
        return cls(
            name=str(data["name"]),
            prior=float(data["prior"]),
            smoothing=float(data["smoothing"]),
            table={str(k): [float(x) for x in v] for k, v in data["table"].items()},
        )
