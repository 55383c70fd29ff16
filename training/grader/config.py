"""The grader's typed run config, read from a TOML or YAML file's `[grader]` table, then the CLI.

The defaults are the synthetic recipe docs/grader.md describes (a preset, chosen by the data,
may change some before a run: `training.grader.presets`); every choice and bound is declared on its
field, and `load_config` turns a bad value into a `DataError` naming the setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.grader.backbones import DEFAULT_BACKBONE, backbone_spec
from models.grader.preprocess import Augmentation, Tta
from training.configs import load_run_config

Grade = Literal["A", "B", "C"]
Preset = Literal["auto", "synthetic", "real", "real-small"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "bf16", "fp32"]


class GraderConfig(BaseModel):
    """Every setting of a grader training run (saved with the run and in MLflow params)."""

    model_config = ConfigDict(extra="forbid")

    preset: Preset = Field(
        "auto",
        description="The settings a run starts from (`training.grader.presets`): `auto` picks "
        "`synthetic` for the generator's own data, else `real-small` or `real` by item count; "
        "settings given in the file or on the command line win over it.",
    )
    epochs: int = Field(120, ge=1, description="Passes over the training items, per member.")
    members: int = Field(
        3,
        ge=1,
        description="Networks trained from seeds `seed, seed + 1, ...` and averaged "
        "(`models.grader.heads.GraderEnsemble`); 1 trains a single network.",
    )
    image_size: int = Field(96, gt=0, description="Side of the square network input, pixels.")
    backbone: str = Field(
        DEFAULT_BACKBONE,
        description="A registered backbone name or a timm name (`models.grader.backbones`).",
    )
    batch_items: int = Field(
        24, ge=1, description="Items per training batch (all their photos go in together)."
    )
    lr: float = Field(3e-3, gt=0, description="Peak learning rate (AdamW, one-cycle schedule).")
    weight_decay: float = Field(5e-4, ge=0, description="AdamW weight decay.")
    seed: int = Field(
        0, ge=0, description="Seeds weights, shuffling, augmentation, drawn damage and the split."
    )
    target_accuracy: float = Field(
        0.97, gt=0, le=1, description="Accuracy wanted on items answered without review."
    )
    review_level: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Confidence of the one-sided Clopper-Pearson upper bound on the error of "
        "val items answered without review: the review cut is the lowest whose bound is at "
        "most 1 - target_accuracy, and with none every item goes to review. 0 takes the point "
        "estimate instead (the synthetic recipe, as its targets were measured); the real "
        "presets set 0.95.",
    )
    decision: Literal["median", "shares"] = Field(
        "median",
        description="How a severity score becomes a grade: `median`, the calibrated "
        "distribution's median class (the synthetic recipe); `shares`, cut points at the "
        "held-out items' grade shares, so each grade is called about as often as it occurs "
        "(the `real-small` preset: a weak score otherwise calls most doubtful units the "
        "commonest grade). Probabilities and confidence are calibrated either way.",
    )
    target_fpr: float = Field(
        0.02, gt=0, lt=1, description="Counterfeit false-positive rate on authentic items."
    )
    counterfeit_weight: float = Field(
        1.0, ge=0, description="Weight of the supervised counterfeit loss (0 turns it off)."
    )
    photo_weight: float = Field(
        0.5,
        ge=0,
        description="Weight of the per-photo losses (each view with its item's labels) next to "
        "the item-level (worst-view) losses; 0 trains on item losses only.",
    )
    aux_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of an auxiliary K-way cross-entropy grade classifier on the same "
        "features (item: max over views; per view with `photo_weight`); 0 turns it off.",
    )
    class_balance: bool = Field(
        False, description="Weight the grade loss by inverse class frequency."
    )
    reference_bank_size: int = Field(
        512, ge=1, description="Patches kept per brand in the one-class memory bank."
    )
    reference_grades: list[Grade] = Field(
        default_factory=lambda: ["A", "B", "C"],
        description="Grades of the authentic training photos used as one-class references.",
    )
    augment: Augmentation = Field(
        "geometric",
        description="Training augmentation (`models.grader.preprocess.train_augment`).",
    )
    damage_share: float = Field(
        0.2,
        ge=0,
        le=1,
        strict=True,
        description="Share of the items in each training batch given a worse grade's drawn "
        "damage for that batch (`training.grader.damage_aug`); 0 draws none. The damage is "
        "the synthetic generator's: set 0 for photos whose damage looks nothing like it.",
    )
    ema_decay: float = Field(
        0.995,
        ge=0,
        lt=1,
        description="Validate and keep an exponential moving average of the weights with this "
        "decay per step (0 keeps the raw weights).",
    )
    keep_best: bool = Field(
        True,
        description="Keep the validated state (averaged or raw) with the lowest validation "
        "loss; False keeps the last one (the real presets: on a few dozen val items the "
        "lowest loss fell on an early, under-trained state while accuracy still rose).",
    )
    tta: Tta = Field(
        "hflip",
        description="Test-time augmentation: average over the photo and its mirror (`hflip`) "
        "or not (`none`).",
    )
    baseline_epochs: int = Field(
        30,
        ge=0,
        description="Epochs of the plain baseline trained for the final evaluation "
        "(`training.grader.baseline`); 0 skips it.",
    )
    pretrained_file: str | None = Field(
        None,
        description="Local backbone weights to start from (a timm checkpoint; the `config.json` "
        "beside it, when there is one, gives the input size and normalisation).",
    )
    freeze_epochs: int = Field(
        0,
        ge=0,
        description="First epochs that train only the heads, the backbone frozen (weights and "
        "batch-norm statistics); then everything trains. With `pretrained_file` and no value "
        "given, a tenth of `epochs` (at least 1).",
    )
    members_from: list[str] = Field(
        default_factory=list,
        description="Grader model folders whose trained networks become members instead of "
        "being trained again (an ensemble folder gives all its networks); the remaining "
        "`members` are trained from seeds the reused networks did not use. Their backbone, "
        "input size and normalisation must match this run's (the same training data).",
    )
    crossfit_folds: int = Field(
        0,
        ge=0,
        description="K-fold cross-fitting over train+val for small data (0 = off; the "
        "`real-small` preset sets 5): K networks, each trained on the other folds, score their "
        "held-out fold; calibration, the review cut and the counterfeit thresholds are fitted "
        "on these out-of-fold scores of every train+val item, and the K networks are the "
        "model's ensemble (`members` and `members_from` are not used; `nproc` must be 1).",
    )
    threads: int = Field(
        1,
        ge=1,
        description="Torch CPU threads per process (one avoids spin-waiting on a shared "
        "machine; docs/grader.md).",
    )
    workers: int = Field(
        0,
        ge=0,
        description="Processes that train ensemble members side by side (each with `threads`); "
        "0 picks one per member, up to twice the usable CPUs divided by `threads`. The "
        "workers are spawned: a script that calls `train_grader_model` with more than one "
        'needs the usual `if __name__ == "__main__":` guard (the `regrade` command has it).',
    )
    nproc: int = Field(
        1,
        ge=1,
        description="Processes that train each network together with DistributedDataParallel "
        "(gloo), each on its share of every batch; 1 trains in this process alone. With more "
        "than one, members are trained one after another (on all of them) and `workers` is "
        "not used; the spawned processes need the same `__main__` guard.",
    )

    device: Device = Field(
        "auto",
        description="Where each network trains: `cpu`, `cuda` (a GPU per process; with `nproc` "
        "above 1 or under torchrun, DDP over NCCL with synchronised batch norm) or `auto` (a "
        "GPU where torch sees one). Calibration, references and the artifact stay on the CPU.",
    )
    precision: Precision = Field(
        "auto",
        description="Training arithmetic: `bf16` runs the forward pass under bfloat16 autocast "
        "with channels-last tensors (the weights, the optimiser and the losses stay float32); "
        "`fp32` runs everything in float32; `auto` (the default) takes `bf16` where the "
        "training device computes it natively (a CPU with AVX-512 BF16 or AMX, a GPU with "
        "bf16), else `fp32`. The artifact is float32 either way.",
    )

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, name: str) -> str:
        backbone_spec(name)  # raises ValueError for a name neither registered nor in timm
        return name

    @field_validator("crossfit_folds")
    @classmethod
    def _fold_count(cls, k: int) -> int:
        if k == 1:
            raise ValueError("must be 0 (off) or at least 2 folds, got 1")
        return k

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return self.model_dump()


def load_config(path: Path | str | None = None, **overrides: Any) -> GraderConfig:
    """Defaults, then the file's `[grader]` table (or the whole file), then the non-None
    `overrides`.

    Raises:
        DataError: unreadable file, unknown setting, or a value outside its choices or bounds,
            naming the setting.
    """
    return load_run_config(GraderConfig, path, "grader", **overrides)
