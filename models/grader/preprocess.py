"""Preprocessing: one config saved with the model; transforms rebuilt from it alone.

Every photo is decoded by `features.images.open_image` (RGB, EXIF-upright; grayscale becomes
three equal channels), squashed to a square of `image_size` (no crop: damage near an edge must
stay in view) and normalised with the mean and std measured on the training photos. Training
adds a batched augmentation (`train_augment`) between the same resize and normalisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
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


REDUCE_TO = 8
"""A photo whose shorter side is at least twice this many times the input side is first
shrunk by a whole factor (box averaging, in C without Python's lock) to between this many and
twice as many times the input side, then resized as any other. Copying a photo of tens of
megapixels into a tensor holds Python's lock throughout, which stalled every other request of
the service's worker; the shrunk photo resizes to nearly the same input
(tests/code/test_preprocess_large.py bounds the difference)."""


def to_uint8(image: Image.Image | bytes, image_size: int) -> torch.Tensor:
    """Decode (when bytes) and resize a photo to a `[3, S, S]` uint8 tensor (a very large one
    shrunk first: `REDUCE_TO`)."""
    if isinstance(image, bytes | bytearray):
        image = open_image(bytes(image))
    elif image.mode != "RGB":
        image = image.convert("RGB")
    factor = min(image.size) // (REDUCE_TO * image_size)
    if factor >= 2:
        image = image.reduce(factor)
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


Augmentation = Literal["light", "geometric"]
"""`light`: mirror and brightness. `geometric` (the default): also vertical mirror, quarter turns,
whole-pixel shifts (at most `MAX_SHIFT` of the side, so only the outer margin can leave the
frame) and contrast/saturation jitter. Damage and brand marks keep their meaning under all of
them, and none resamples (resampling blurs thin scratches away at these input sizes)."""
AUGMENTATIONS: tuple[str, ...] = get_args(Augmentation)

MAX_SHIFT = 0.08
"""Largest shift of the `geometric` augmentation, as a share of the side (edges replicated)."""


def train_augment(
    config: PreprocessConfig, kind: str = "light", generator: torch.Generator | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batched augmentation of resized uint8 photos `[N, 3, S, S]`, then normalisation.

    Every photo draws its own parameters from `generator`, in whole-batch tensor operations
    (per-photo torchvision calls cost more than the network on a CPU). No crops that could cut
    damage out of view (shifts are small) and no affine resampling, which blurs thin cracks and
    blowholes away at these input sizes (docs/grader.md).

    Args:
        config: Normalisation statistics.
        kind: One of `AUGMENTATIONS`.
        generator: Source of the random draws (seeded by the training loop).
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}: expected one of {AUGMENTATIONS}")
    mean_t = torch.tensor(config.mean).view(1, 3, 1, 1)
    std_t = torch.tensor(config.std).view(1, 3, 1, 1)
    geometric = kind == "geometric"

    def draw(n: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    def pick(mask: torch.Tensor, changed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.where(mask[:, None, None, None], changed, x)

    def augment(images: torch.Tensor) -> torch.Tensor:
        n = len(images)
        x = images
        x = pick(draw(n) < 0.5, x.flip(-1), x)
        if geometric:
            x = pick(draw(n) < 0.5, x.flip(-2), x)
            if x.shape[-1] == x.shape[-2]:
                x = pick(draw(n) < 0.5, x.transpose(-1, -2), x)
            x = _shift(x, MAX_SHIFT, generator)
        x = x.float() / 255.0
        x = x * draw(n, 0.9, 1.1)[:, None, None, None]
        if geometric:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = mean + (x - mean) * draw(n, 0.85, 1.15)[:, None, None, None]
            gray = x.mean(dim=1, keepdim=True)
            x = gray + (x - gray) * draw(n, 0.8, 1.2)[:, None, None, None]
        x = x.clamp(0, 1)
        return (x - mean_t) / std_t

    return augment


def _shift(x: torch.Tensor, share: float, generator: torch.Generator | None) -> torch.Tensor:
    """Shift each photo by whole pixels (up to `share` of its side), replicating the edges."""
    size = x.shape[-1]
    pad = round(share * size)
    if pad == 0:
        return x
    padded = F.pad(x.float(), (pad, pad, pad, pad), mode="replicate").to(x.dtype)
    offsets = torch.randint(0, 2 * pad + 1, (len(x), 2), generator=generator).tolist()
    h, w = x.shape[-2:]
    return torch.stack(
        [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)]
    )


Tta = Literal["none", "hflip"]
"""Test-time augmentation: the photo alone, or averaged with its mirror image (`hflip`, the
default), so a mirrored photo gets the same score."""
TTA_KINDS: tuple[str, ...] = get_args(Tta)


def tta_views(x: torch.Tensor, kind: str) -> list[torch.Tensor]:
    """The views of a normalised batch `[N, 3, S, S]` whose outputs are averaged at inference."""
    if kind not in TTA_KINDS:
        raise ValueError(f"unknown test-time augmentation {kind!r}: expected one of {TTA_KINDS}")
    return [x] if kind == "none" else [x, x.flip(-1)]


def fit_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a uint8 `[N, 3, S, S]` stack, in [0, 1] units."""
    x = images.float() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
