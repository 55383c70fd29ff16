"""The grader's typed run config, overridable from a TOML or YAML file and then the CLI."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from features.problems import DataError, Problem
from models.grader.backbones import DEFAULT_BACKBONE, backbone_spec
from models.grader.heads import HEADS
from models.grader.preprocess import AUGMENTATIONS, TTA_KINDS
from training.grader.damage_aug import DAMAGE_PLANS

CHOICES: dict[str, tuple[str, ...]] = {
    "head": HEADS,
    "augment": AUGMENTATIONS,
    "photo_target": ("item", "bound"),
    "tta": TTA_KINDS,
    "damage_plan": DAMAGE_PLANS,
}
"""Settings that take one of a few names."""


@dataclass
class GraderConfig:
    """Every setting of a grader training run (saved with the run and in MLflow params).

    Attributes:
        epochs: Passes over the training items (per ensemble member).
        members: Networks trained from seeds `seed, seed + 1, ...` and averaged (see
            `models.grader.heads.GraderEnsemble`); 1 trains a single network.
        image_size: Side of the square network input, pixels.
        backbone: Backbone name (see models.grader.backbones).
        head: Grade head, `pooled` or `spatial` (see `models.grader.heads.HEADS`).
        batch_items: Items per training batch (all their photos go in together).
        lr: Peak learning rate (AdamW, one-cycle schedule).
        weight_decay: AdamW weight decay.
        seed: Seeds weights, shuffling, augmentation and the split.
        target_accuracy: Accuracy wanted on items answered without review.
        target_fpr: Counterfeit false-positive rate on authentic items.
        counterfeit_weight: Weight of the supervised counterfeit loss (0 turns it off).
        photo_weight: Weight of the per-photo losses (each view with its item's labels) next
            to the item-level (worst-view) losses; 0 trains on item losses only.
        aux_weight: Weight of an auxiliary K-way cross-entropy grade classifier on the same
            features (item: max over views; and per view with `photo_weight`); 0 turns it off.
        photo_target: What the per-photo grade loss asks of each view: `item` (the item's
            grade) or `bound` (no worse than the item's grade; a view may miss the damage).
        class_balance: Weight the grade loss by inverse class frequency.
        reference_bank_size: Patches kept per brand in the one-class memory bank.
        reference_grades: Grades of the authentic training photos used as one-class references.
        augment: Training augmentation, `light`, `geometric` or `tone` (geometric, and half
            the photos in other tones; see `models.grader.preprocess.train_augment`).
        damage_share: Share of the items in each training batch given drawn damage and a worse
            grade for that batch; 0 draws none (see `training.grader.damage_aug`). The damage
            is the synthetic generator's: set 0 for photos whose damage looks nothing like it.
        damage_plan: What `damage_share` draws: `structural` (one tear, dent or crack by
            category; the item becomes C) or `grade` (the generator's whole damage plan of a
            worse grade: A becomes B or C, B and C become C).
        ema_decay: Validate and keep an exponential moving average of the weights with this
            decay per step (0 keeps the raw weights).
        tta: Test-time augmentation: average the network over the photo and its mirror
            (`hflip`), over all eight flips and quarter turns (`dihedral`), or not (`none`).
        pretrained_file: Local backbone weights to start from.
        members_from: Grader model folders whose trained networks become members instead of
            being trained again (an ensemble folder gives all its networks); the remaining
            `members` are trained from seeds the reused networks did not use. Their backbone,
            head, input size and normalisation must match this run's (the same training data).
        threads: Torch CPU threads (1 measured 4x faster than 2 on the shared 2-core machine).
        workers: Processes that train ensemble members side by side (each with `threads`);
            0 picks one per member, up to twice the usable CPUs divided by `threads`. The workers
            are spawned: a script that calls `train_grader_model` with more than one needs the
            usual `if __name__ == "__main__":` guard (the `regrade` command has it).
    """

    epochs: int = 120
    members: int = 3
    image_size: int = 96
    backbone: str = DEFAULT_BACKBONE
    head: str = "pooled"
    batch_items: int = 24
    lr: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0
    target_accuracy: float = 0.97
    target_fpr: float = 0.02
    counterfeit_weight: float = 1.0
    photo_weight: float = 0.5
    aux_weight: float = 1.0
    photo_target: str = "item"
    class_balance: bool = False
    reference_bank_size: int = 512
    reference_grades: list[str] = field(default_factory=lambda: ["A", "B", "C"])
    augment: str = "geometric"
    damage_share: float = 0.2
    damage_plan: str = "grade"
    ema_decay: float = 0.995
    tta: str = "hflip"
    pretrained_file: str | None = None
    members_from: list[str] = field(default_factory=list)
    threads: int = 1
    workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def load_config(path: Path | str | None = None, **overrides: Any) -> GraderConfig:
    """Defaults, then the file's values, then the non-None `overrides`.

    Raises:
        DataError: unreadable file or unknown keys.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
            data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise DataError([Problem(path, f"cannot read config: {exc}")]) from exc
        data = data or {}
        data = data.get("grader", data)
        known = {f.name for f in fields(GraderConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataError([Problem(path, f"unknown grader setting(s): {', '.join(unknown)}")])
        values.update(data)
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = GraderConfig(**values)
    where = path if path is not None else "grader config"
    problems = [
        Problem(where, f"setting {name!r} must be one of {', '.join(allowed)}, got {value!r}")
        for name, allowed in CHOICES.items()
        if (value := getattr(config, name)) not in allowed
    ]
    if not isinstance(config.workers, int) or config.workers < 0:
        problems.append(
            Problem(
                where, f"setting 'workers' must be 0 (automatic) or more, not {config.workers!r}"
            )
        )
    try:
        block = backbone_spec(config.backbone).space_to_depth
    except ValueError as exc:
        problems.append(Problem(where, f"setting 'backbone': {exc}"))
        block = 1
    if config.image_size % block:
        problems.append(
            Problem(
                where,
                f"setting 'image_size' must be a multiple of {block} for backbone "
                f"{config.backbone!r} (it folds {block}x{block} pixel blocks), "
                f"not {config.image_size}",
            )
        )
    if not isinstance(config.members_from, list) or not all(
        isinstance(source, str) for source in config.members_from
    ):
        problems.append(
            Problem(
                where,
                f"setting 'members_from' must be a list of model folders or URIs, "
                f"not {config.members_from!r}",
            )
        )
    share = config.damage_share
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        problems.append(
            Problem(where, f"setting 'damage_share' must be a share from 0 to 1, not {share!r}")
        )
    if not isinstance(config.members, int) or config.members < 1:
        problems.append(
            Problem(where, f"setting 'members' must be 1 or more, not {config.members!r}")
        )
    if problems:
        raise DataError(problems)
    return config
