"""Preprocessing: one config saved with the model; transforms rebuilt from it alone.

Every photo is decoded by `features.images.open_image` (RGB, EXIF-upright; grayscale becomes
three equal channels), squashed to a square of `image_size` (no crop: damage near an edge must
stay in view) and normalised with the mean and std measured on the training photos. Training
adds torchvision v2 augmentation on top of the same resize.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import v2

from features.images import open_image


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything needed to turn a photo into the network's input.

    Attributes:
        image_size: Side of the square input, pixels.
        mean: Per-channel mean of training pixels in [0, 1].
        std: Per-channel standard deviation of training pixels.
    """

    image_size: int = 96
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        """Rebuild from `to_dict` output."""
        return cls(
            image_size=int(data["image_size"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
        )


def to_uint8(image: Image.Image | bytes, image_size: int) -> torch.Tensor:
    """Decode (when bytes) and resize a photo to a `[3, S, S]` uint8 tensor."""
    if isinstance(image, bytes | bytearray):
        image = open_image(bytes(image))
    elif image.mode != "RGB":
        image = image.convert("RGB")
    resize = v2.Compose([v2.PILToTensor(), v2.Resize((image_size, image_size), antialias=True)])
    return resize(image)


def normalize(config: PreprocessConfig) -> v2.Compose:
    """uint8 `[..., 3, S, S]` -> normalised float32, for training and inference alike."""
    return v2.Compose(
        [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(config.mean), list(config.std))]
    )


def eval_transform(config: PreprocessConfig):
    """Photo (PIL or bytes) -> normalised `[3, S, S]` float tensor."""
    norm = normalize(config)

    def transform(image: Image.Image | bytes) -> torch.Tensor:
        return norm(to_uint8(image, config.image_size))

    return transform


def train_augment(config: PreprocessConfig) -> v2.Compose:
    """Augmentation of a resized uint8 `[3, S, S]` photo, followed by normalisation.

    Mirror and brightness only: no crops that could cut damage out of view, and no affine
    resampling, which at 64-96 px blurred thin cracks and blowholes away (with it the network
    learned nothing beyond the class shares in 8 epochs on magnetic_tile; without it, it did).
    """
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.1),
            normalize(config),
        ]
    )


def fit_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a uint8 `[N, 3, S, S]` stack, in [0, 1] units."""
    x = images.float() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
