"""What a training or evaluation pipeline hands back: the run folder, metrics and version.

The CLI and the demo print a training run's `report()`, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.kinds import CHALLENGER, CHAMPION, ModelKind


def summary(metrics: Mapping[str, Any], keys: Sequence[str]) -> str:
    """One line of the main metrics: `key value` pairs, floats to 4 significant digits."""
    parts = []
    for key in keys:
        value = metrics.get(key)
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(parts)


@dataclass(frozen=True)
class TrainingRun:
    """A trained, evaluated and registered model.

    Attributes:
        kind: Which model.
        run_dir: The run folder (config.json, metrics.json, plots, predictions, model/).
        model_dir: The saved artifact folder inside it.
        metrics: The evaluation metrics (as in metrics.json).
        version: The registered version (None when not registered: a dry run).
        promoted: Whether the version was also made `@champion`.
        summary_keys: The metrics `report()` shows.
    """

    kind: ModelKind
    run_dir: Path
    model_dir: Path
    metrics: dict[str, Any]
    version: str | None
    promoted: bool
    summary_keys: tuple[str, ...]

    @property
    def alias(self) -> str:
        """`@champion` when promoted, else `@challenger`."""
        return f"@{CHAMPION if self.promoted else CHALLENGER}"

    def report(self) -> list[str]:
        """The lines a person reads: what was registered where, then the main metrics."""
        return [
            f"trained {self.kind.registered_name} version {self.version} ({self.alias}) "
            f"in {self.run_dir}",
            summary(self.metrics, self.summary_keys),
        ]


@dataclass(frozen=True)
class EvaluationRun:
    """An evaluated model.

    Attributes:
        run_dir: The run folder (config.json, metrics.json, plots, predictions).
        data: The data it was evaluated on (the photo dataset folder or outcomes table).
        n_items: Held-out items (grader) or rows (pricing) evaluated.
        metrics: The evaluation metrics (as in metrics.json).
    """

    run_dir: Path
    data: Path
    n_items: int
    metrics: dict[str, Any]
