"""Backbone factory: a timm convolutional network chosen by name, trained from scratch here.

One registry maps short names to a timm architecture plus constructor arguments (narrower
widths for a 2-core CPU); any other name is passed to `timm.create_model` as is. The network is
built with `features_only=True` so the grader can use the last two stages: the deepest for the
grade and counterfeit heads, both for PatchCore-style patch embeddings.

A spec may fold each `s x s` block of pixels into channels before the network (space to depth,
as TResNet's stem does): a photo of side `s * n` then costs about what side `n` costs (only the
first convolution sees `s * s` times the channels) while fine detail such as thin scratches and
tear fibres is kept instead of being averaged away by the resize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

DEFAULT_BACKBONE = "resnet10t_half"
"""Best measured quality within the 10-minute training budget on a 2-core CPU (docs/grader.md)."""


@dataclass(frozen=True)
class BackboneSpec:
    """A named backbone: the timm architecture and the arguments that make it ours."""

    arch: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    space_to_depth: int = 1
    """Side of the pixel blocks folded into channels before the network (1: none)."""


BACKBONES: dict[str, BackboneSpec] = {
    "resnet10t_half": BackboneSpec("resnet10t", {"channels": (32, 64, 128, 256), "stem_width": 16}),
    "resnet10t_quarter": BackboneSpec(
        "resnet10t", {"channels": (16, 32, 64, 128), "stem_width": 8}
    ),
    "resnet10t_half_s2d": BackboneSpec(
        "resnet10t", {"channels": (32, 64, 128, 256), "stem_width": 16}, space_to_depth=2
    ),
    "resnet14t_half": BackboneSpec("resnet14t", {"channels": (32, 64, 128, 256), "stem_width": 16}),
    "resnet18d_half": BackboneSpec("resnet18d", {"channels": (32, 64, 128, 256), "stem_width": 16}),
    "resnet10t": BackboneSpec("resnet10t"),
    "lcnet_100": BackboneSpec("lcnet_100"),
    "mobilenetv3_small_100": BackboneSpec("mobilenetv3_small_100"),
    "test_resnet": BackboneSpec("test_resnet"),
}
"""Registered names; others go to timm unchanged."""


def backbone_spec(name: str) -> BackboneSpec:
    """The spec for a registered name, or the timm architecture of that name."""
    if name in BACKBONES:
        return BACKBONES[name]
    if name not in timm.list_models():
        raise ValueError(
            f"unknown backbone {name!r}: use one of {sorted(BACKBONES)} or a timm name"
        )
    return BackboneSpec(name)


class SpaceToDepth(nn.Module):
    """Fold `factor x factor` pixel blocks into channels, then run `model`.

    Args:
        model: A timm `features_only` network built for `3 * factor**2` input channels.
        factor: Block side.
    """

    def __init__(self, model: nn.Module, factor: int):
        super().__init__()
        self.unshuffle = nn.PixelUnshuffle(factor)
        self.model = model
        self.feature_info = model.feature_info

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The wrapped network's feature maps for photos `[N, C, S, S]` (S divisible by factor)."""
        return self.model(self.unshuffle(x))


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
        A timm `features_only` module (wrapped in `SpaceToDepth` when the spec folds pixels);
        `module(x)` gives a list of two maps, `[N, C_i, H_i, W_i]`, and
        `module.feature_info.channels()` their widths.
    """
    spec = backbone_spec(name)
    factor = spec.space_to_depth
    model = timm.create_model(
        spec.arch,
        pretrained=False,
        features_only=True,
        out_indices=(-2, -1),
        in_chans=in_chans * factor * factor,
        **spec.kwargs,
    )
    if pretrained_file is not None:
        load_pretrained(model, Path(pretrained_file))
    return model if factor == 1 else SpaceToDepth(model, factor)


def load_pretrained(model: nn.Module, path: Path) -> int:
    """Copy matching tensors from a local weights file into `model`; returns how many matched."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

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
