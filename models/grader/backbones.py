"""Backbone factory: a timm convolutional network chosen by name, trained from scratch here.

One registry maps short names to a timm architecture plus constructor arguments (narrower
widths than timm's, for training on a CPU); any other name is passed to `timm.create_model` as
is. The network is built with `features_only=True` so the grader can use the last two stages:
the deepest for the grade and counterfeit heads, both for PatchCore-style patch embeddings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file
from torch import nn

DEFAULT_BACKBONE = "resnet10t_half"
"""Half-width timm resnet10t: the best measured quality for its training cost (docs/grader.md)."""


@dataclass(frozen=True)
class BackboneSpec:
    """A named backbone: the timm architecture and the arguments that make it ours."""

    arch: str
    kwargs: dict[str, Any] = field(default_factory=dict)


BACKBONES: dict[str, BackboneSpec] = {
    "resnet10t_half": BackboneSpec("resnet10t", {"channels": (32, 64, 128, 256), "stem_width": 16}),
    "resnet10t_quarter": BackboneSpec(
        "resnet10t", {"channels": (16, 32, 64, 128), "stem_width": 8}
    ),
}
"""Registered names: the default and a quarter-width net that trains in seconds (tests, demos);
other names go to timm unchanged."""


def backbone_spec(name: str) -> BackboneSpec:
    """The spec for a registered name, or the timm architecture of that name.

    Raises:
        ValueError: the name is neither registered nor a timm model.
    """
    if name in BACKBONES:
        return BACKBONES[name]
    if name not in timm.list_models():
        raise ValueError(
            f"unknown backbone {name!r}: use one of {sorted(BACKBONES)} or a timm name"
        )
    return BackboneSpec(name)


def create_backbone(
    name: str, *, in_chans: int = 3, pretrained_file: Path | str | None = None
) -> nn.Module:
    """Build a feature-extracting backbone returning its last two stages' feature maps.

    Args:
        name: A registered name (`BACKBONES`) or any timm CNN name.
        in_chans: Input channels.
        pretrained_file: Local weights (safetensors or a torch state dict) for the timm
            architecture; keys that do not fit (e.g. a classifier) are skipped. Nothing is
            downloaded.

    Returns:
        A timm `features_only` module: `module(x)` gives a list of two maps,
        `[N, C_i, H_i, W_i]`, and `module.feature_info.channels()` their widths.
    """
    spec = backbone_spec(name)
    model = timm.create_model(
        spec.arch,
        pretrained=False,
        features_only=True,
        out_indices=(-2, -1),
        in_chans=in_chans,
        **spec.kwargs,
    )
    if pretrained_file is not None:
        load_pretrained(model, Path(pretrained_file))
    return model


def load_pretrained(model: nn.Module, path: Path) -> int:
    """Copy matching tensors from a local weights file into `model`; returns how many matched."""
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise ValueError(f"{path}: no tensor matches the backbone's parameters")
    model.load_state_dict(matched, strict=False)
    return len(matched)


CHECKPOINT_CONFIG = "config.json"
"""The file beside a local checkpoint that says how its photos were preprocessed (timm's hub
layout: `pretrained_cfg` with `mean`, `std` and `input_size`, or those keys at its top)."""


@dataclass(frozen=True)
class CheckpointPreprocess:
    """The preprocessing a pretrained checkpoint was trained with (None where it does not say).

    Attributes:
        mean: Per-channel mean in [0, 1] units.
        std: Per-channel standard deviation.
        image_size: Side of its square input, pixels.
    """

    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    image_size: int | None


def _channels(value: Any, name: str, path: Path) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError(f"{path}: {name} must list 3 channel values, got {value!r}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def checkpoint_preprocess(weights: Path | str) -> CheckpointPreprocess | None:
    """The preprocessing in the `config.json` beside a checkpoint, or None when there is none.

    Raises:
        ValueError: the file is not valid JSON or its values have the wrong shape (names it).
    """
    path = Path(weights).parent / CHECKPOINT_CONFIG
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    cfg = data.get("pretrained_cfg", data) if isinstance(data, dict) else {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: pretrained_cfg must be a table")
    size = cfg.get("input_size")
    if size is not None and (not isinstance(size, list | tuple) or len(size) != 3):
        raise ValueError(f"{path}: input_size must be [channels, height, width], got {size!r}")
    return CheckpointPreprocess(
        mean=_channels(cfg.get("mean"), "mean", path),
        std=_channels(cfg.get("std"), "std", path),
        image_size=int(size[-1]) if size is not None else None,
    )
