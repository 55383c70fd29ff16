"""Champion against challenger on the same fixed holdout, in the same process.

Both models are scored by the kind's own evaluation code (`training.pricing.evaluate`,
`training.grader.evaluate`) on the same rows; the comparison holds every metric key of both, the
difference (challenger minus champion), a paired bootstrap 95% interval of the difference on the
primary metric (grader `qwk`, higher is better; pricing `rmsle`, lower is better), each model's
folder size (the "cheaper" of the promotion rule) and both calibration plots side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import cohen_kappa_score

from features.problems import DataError, Problem
from models.kinds import GRADER, PRICING, ModelKind
from training.pricing import metrics as pm

PRIMARY = {GRADER.name: "qwk", PRICING.name: "rmsle"}
"""The metric a challenger must win on, per kind."""
LOWER_IS_BETTER = frozenset(
    {
        "rmsle",
        "mape",
        "ece",
        "interval_width_80",
        "baseline_benchmark_rmsle",
        "baseline_depreciation_rmsle",
        "baseline_median_rmsle",
        "baseline_lgbm_rmsle",
        "noise_floor_rmsle",
        "rmsle_above_floor",
        "counterfeit_flag_fpr",
    }
)
"""Metrics where smaller is better (every other one: larger is better)."""
CONFIDENCE = 0.95


@dataclass
class Scored:
    """One model scored on the holdout.

    Attributes:
        metrics: Every metric key of its kind's evaluation.
        predictions: One row per holdout item (pricing: sold rows carry `sold_price`).
        figure: Its calibration plot (reliability diagram, or price calibration).
        size_bytes: Its model folder's size.
        extra: Kind-specific facts (the grader's target accuracy).
    """

    metrics: dict[str, Any]
    predictions: pd.DataFrame
    figure: Figure
    size_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)


def folder_size(folder: Path) -> int:
    """Bytes of every file under a model folder."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def primary_statistic(kind: ModelKind) -> Callable[[pd.DataFrame, str], float]:
    """The primary metric computed from a joined prediction frame, for one model's column."""
    if kind is GRADER:

        def qwk(frame: pd.DataFrame, column: str) -> float:
            return float(
                cohen_kappa_score(
                    frame["target"], frame[column], weights="quadratic", labels=[0, 1, 2]
                )
            )

        return qwk

    def rmsle(frame: pd.DataFrame, column: str) -> float:
        return pm.rmsle(frame["y"].to_numpy(), frame[column].to_numpy())

    return rmsle


def paired_frame(kind: ModelKind, champion: Scored, challenger: Scored) -> pd.DataFrame:
    """The holdout items both models scored, with each model's prediction side by side.

    Columns: grader `target, champion, challenger` (predicted class index); pricing `y` (sold
    price), `champion, challenger` (predicted P50); sold rows only for pricing.
    """
    a, b = champion.predictions, challenger.predictions
    if kind is GRADER:
        joined = a[["item_id", "target", "pred_index"]].merge(
            b[["item_id", "pred_index"]], on="item_id", suffixes=("_a", "_b")
        )
        return joined.rename(columns={"pred_index_a": "champion", "pred_index_b": "challenger"})
    a = a.dropna(subset=["sold_price"])
    b = b.dropna(subset=["sold_price"])
    joined = a[["item_id", "sold_price", "price_p50"]].merge(
        b[["item_id", "price_p50"]], on="item_id", suffixes=("_a", "_b")
    )
    return joined.rename(
        columns={"sold_price": "y", "price_p50_a": "champion", "price_p50_b": "challenger"}
    )


def bootstrap_difference(
    kind: ModelKind, paired: pd.DataFrame, rounds: int, seed: int = 0
) -> tuple[float, float, float]:
    """The primary metric's difference (challenger minus champion) and its bootstrap 95% interval.

    Items are resampled with replacement, the same resample for both models (paired).
    """
    if len(paired) < 2:
        raise DataError([Problem("holdout", f"{len(paired)} scorable holdout items; need 2+")])
    stat = primary_statistic(kind)
    observed = stat(paired, "challenger") - stat(paired, "champion")
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    n = len(paired)
    for i in range(rounds):
        sample = paired.iloc[rng.integers(0, n, n)]
        diffs[i] = stat(sample, "challenger") - stat(sample, "champion")
    diffs = diffs[np.isfinite(diffs)]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]) if len(diffs) else (np.nan, np.nan)
    return float(observed), float(low), float(high)


def _difference(key: str, champion: Any, challenger: Any) -> float | None:
    numeric = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (champion, challenger)
    )
    if not numeric or not np.isfinite(champion) or not np.isfinite(challenger):
        return None
    return float(challenger) - float(champion)


@dataclass
class Comparison:
    """Champion and challenger on one holdout version.

    Attributes:
        kind: The model kind.
        holdout: The holdout's label (`<kind>/v<N>`) and SHA-256.
        champion_version: The champion's registered version.
        challenger_version: The challenger's version (None in a dry run).
        champion: The champion's metrics.
        challenger: The challenger's metrics.
        primary: The primary metric's key.
        difference: Its difference, challenger minus champion.
        interval: The bootstrap 95% interval of the difference.
        n_paired: Holdout items the interval resampled.
        sizes: Model folder bytes, champion and challenger.
        extra: Kind-specific facts of the challenger (the grader's target accuracy).
    """

    kind: ModelKind
    holdout: dict[str, str]
    champion_version: str | None
    challenger_version: str | None
    champion: dict[str, Any]
    challenger: dict[str, Any]
    primary: str
    difference: float
    interval: tuple[float, float]
    n_paired: int
    sizes: tuple[int, int]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """Every metric key either model reported, the primary first."""
        names = list(dict.fromkeys([*self.champion, *self.challenger]))
        return [self.primary, *(k for k in names if k != self.primary)]

    def rows(self) -> list[dict[str, Any]]:
        """One row per metric: champion, challenger, difference, and which way is better."""
        return [
            {
                "metric": key,
                "champion": self.champion.get(key),
                "challenger": self.challenger.get(key),
                "difference": _difference(key, self.champion.get(key), self.challenger.get(key)),
                "better": "lower" if key in LOWER_IS_BETTER else "higher",
            }
            for key in self.keys
        ]

    def cheaper(self, by: float) -> bool:
        """Whether the challenger's model folder is smaller than the champion's by share `by`."""
        return self.sizes[1] <= (1 - by) * self.sizes[0]

    def to_dict(self) -> dict[str, Any]:
        """The comparison as written to comparison.json."""
        return {
            "kind": self.kind.name,
            "holdout": self.holdout,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "primary": {
                "metric": self.primary,
                "better": "lower" if self.primary in LOWER_IS_BETTER else "higher",
                "difference": self.difference,
                "interval_95": list(self.interval),
                "n_items": self.n_paired,
            },
            "size_bytes": {"champion": self.sizes[0], "challenger": self.sizes[1]},
            "metrics": self.rows(),
            "extra": self.extra,
        }

    def table(self) -> str:
        """The comparison as a plain-text table (the primary metric's interval below it)."""
        lines = [f"{'metric':<30} {'champion':>12} {'challenger':>12} {'difference':>12}"]
        for row in self.rows():
            cells = [_cell(row[k]) for k in ("champion", "challenger", "difference")]
            lines.append(f"{row['metric']:<30} {cells[0]:>12} {cells[1]:>12} {cells[2]:>12}")
        low, high = self.interval
        lines.append(
            f"{self.primary} difference (challenger - champion) {self.difference:+.4f}, "
            f"bootstrap 95% interval [{low:+.4f}, {high:+.4f}] over {self.n_paired} items "
            f"of holdout {self.holdout['label']}"
        )
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare(
    kind: ModelKind,
    champion: Scored,
    challenger: Scored,
    *,
    holdout: dict[str, str],
    versions: tuple[str | None, str | None],
    rounds: int,
) -> Comparison:
    """Compare two models scored on the same holdout (see the module notes)."""
    paired = paired_frame(kind, champion, challenger)
    observed, low, high = bootstrap_difference(kind, paired, rounds)
    return Comparison(
        kind=kind,
        holdout=holdout,
        champion_version=versions[0],
        challenger_version=versions[1],
        champion=champion.metrics,
        challenger=challenger.metrics,
        primary=PRIMARY[kind.name],
        difference=observed,
        interval=(low, high),
        n_paired=len(paired),
        sizes=(champion.size_bytes, challenger.size_bytes),
        extra=challenger.extra,
    )


def _pixels(figure: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def side_by_side(left: Figure, right: Figure, titles: tuple[str, str]) -> Figure:
    """Two figures as one, left and right, each under its title."""
    images = [_pixels(left), _pixels(right)]
    height = max(i.shape[0] for i in images) / 110
    width = sum(i.shape[1] for i in images) / 110
    figure = Figure(figsize=(width, height + 0.4))
    for axis, image, title in zip(figure.subplots(1, 2), images, titles, strict=True):
        axis.imshow(image)
        axis.set_axis_off()
        axis.set_title(title)
    return figure
