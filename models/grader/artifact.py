"""The grader artifact: a plain folder, no pickle.

artifact.json          the metadata block every model folder carries (`models.artifact`): format
                       and version, training config, git sha, data fingerprint, metrics
config.json            backbone, label map, preprocessing, calibration, counterfeit settings,
                       validation metrics, training details (seeds, members)
weights.safetensors    the network's state dict (an ensemble's members under `members.K.`)
references.safetensors the one-class reference banks (brand names listed in config.json)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from features.schema import GRADES
from models.artifact import (
    META_FILE,
    ArtifactError,
    ArtifactMeta,
    read_meta,
    verify_files,
    write_meta,
)
from models.grader.calibration import Calibration
from models.grader.counterfeit import ReferenceBank
from models.grader.heads import GraderEnsemble, GraderNet
from models.grader.preprocess import PreprocessConfig
from models.kinds import GRADER

LEGACY_FORMAT = f"{GRADER.artifact_format}/{GRADER.format_version}"
"""The `format` of config.json in folders saved before artifact.json existed."""
CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
REFERENCES = "references.safetensors"


@dataclass(frozen=True)
class CounterfeitConfig:
    """How the counterfeit score is made and where the flag starts.

    Attributes:
        kind: "supervised" (the network's head, trained on labels) or "oneclass" (patch distance).
        threshold: Flag when the score is above this (set on held-out authentic items).
        target_fpr: The false-positive rate the threshold was set for.
        oneclass_threshold: The same, for the one-class score (always reported).
    """

    kind: str
    threshold: float
    target_fpr: float
    oneclass_threshold: float


@dataclass
class GraderArtifact:
    """Everything a predictor needs, in memory."""

    backbone: str
    preprocess: PreprocessConfig
    calibration: Calibration
    counterfeit: CounterfeitConfig
    net: GraderNet | GraderEnsemble
    references: ReferenceBank
    labels: tuple[str, ...] = GRADES
    tta: str = "hflip"
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    meta: ArtifactMeta | None = None
    """The metadata block; None for a folder saved before it existed (provenance unknown)."""


def save_artifact(artifact: GraderArtifact, model_dir: Path | str) -> Path:
    """Write the artifact folder (created if needed) and return it.

    The metadata block is `artifact.meta`, or a bare one (format and version only) when None.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in artifact.net.state_dict().items()}
    save_file(state, str(model_dir / WEIGHTS))
    tensors, names = artifact.references.tensors()
    save_file(tensors, str(model_dir / REFERENCES))
    config = {
        "backbone": artifact.backbone,
        "members": len(artifact.net.members) if isinstance(artifact.net, GraderEnsemble) else 1,
        "labels": list(artifact.labels),
        "preprocess": artifact.preprocess.to_dict(),
        "calibration": artifact.calibration.to_dict(),
        "counterfeit": {**artifact.counterfeit.__dict__, "reference_brands": names},
        "tta": artifact.tta,
        "metrics": artifact.metrics,
        "info": artifact.info,
    }
    (model_dir / CONFIG).write_text(json.dumps(config, indent=2, allow_nan=True) + "\n")
    write_meta(model_dir, artifact.meta or ArtifactMeta.new(GRADER))
    return model_dir


def _read_config(model_dir: Path) -> tuple[dict[str, Any], ArtifactMeta | None]:
    """The folder's config.json and metadata block, checked to be a grader artifact.

    A folder without artifact.json (saved before it existed) must carry the old format tag in
    config.json; its metadata is then unknown (None).
    """
    path = model_dir / CONFIG
    if not path.is_file():
        raise ArtifactError(f"{model_dir}: not a grader model folder (no {CONFIG})")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON: {exc}") from exc
    if (model_dir / META_FILE).is_file():
        return config, read_meta(model_dir, GRADER)
    if config.get("format") != LEGACY_FORMAT:
        raise ArtifactError(
            f"{path}: format {config.get('format')!r}, expected {LEGACY_FORMAT!r} "
            f"(or a {META_FILE} beside it)"
        )
    return config, None


def input_size(model_dir: Path | str) -> int:
    """The side of the square network input the artifact's networks take, without loading them.

    Raises:
        ArtifactError: when the folder is not a grader artifact (a ValueError).
    """
    config, _ = _read_config(Path(model_dir))
    try:
        return int(config["preprocess"]["image_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{Path(model_dir) / CONFIG}: no preprocess.image_size") from exc


def network_count(model_dir: Path | str) -> int:
    """How many networks the artifact folder holds (its ensemble members), without loading them.

    Raises:
        ArtifactError: when the folder is not a grader artifact (a ValueError).
    """
    config, _ = _read_config(Path(model_dir))
    return int(config.get("members", 1))


def _tensors(path: Path) -> dict[str, Any]:
    """A safetensors file's tensors; an unreadable (e.g. truncated) file is an ArtifactError."""
    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorError, OSError: the file is not usable either way
        raise ArtifactError(f"{path}: cannot read the tensors: {exc}") from exc


def load_artifact(model_dir: Path | str) -> GraderArtifact:
    """Read an artifact folder written by `save_artifact` (or saved before artifact.json).

    Every file is checked against the digests in `artifact.json` first (`verify_files`).

    Raises:
        ArtifactError: when the folder is not a grader artifact, a file does not match its
            digest, or the weights cannot be read (a ValueError); the message names the file.
    """
    model_dir = Path(model_dir)
    config, meta = _read_config(model_dir)
    verify_files(model_dir, meta)
    members = [
        GraderNet(config["backbone"], n_classes=len(config["labels"]))
        for _ in range(int(config.get("members", 1)))
    ]
    net = members[0] if len(members) == 1 else GraderEnsemble(members)
    net.load_state_dict(_tensors(model_dir / WEIGHTS))
    net.eval()
    fake = dict(config["counterfeit"])
    names = fake.pop("reference_brands")
    references = ReferenceBank.from_tensors(_tensors(model_dir / REFERENCES), names)
    return GraderArtifact(
        backbone=config["backbone"],
        preprocess=PreprocessConfig.from_dict(config["preprocess"]),
        calibration=Calibration.from_dict(config["calibration"]),
        counterfeit=CounterfeitConfig(**fake),
        net=net,
        references=references,
        labels=tuple(config["labels"]),
        tta=config.get("tta") or ("hflip" if config.get("tta_hflip", True) else "none"),
        metrics=config.get("metrics", {}),
        info=config.get("info", {}),
        meta=meta,
    )
