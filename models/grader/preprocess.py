"""Preprocessing: one config saved with the model; transforms rebuilt from it alone.

Every photo is decoded by `features.images.open_image` (RGB, EXIF-upright; grayscale becomes
three equal channels), squashed to a square of `image_size` (no crop: damage near an edge must
stay in view) and normalised with the mean and std measured on the training photos. Training
adds torchvision v2 augmentation on top of the same resize.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

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


AUGMENTATIONS = ("light", "geometric", "tone")
"""`light`: mirror and brightness. `geometric`: also vertical mirror, quarter turns, whole-pixel
shifts (at most `MAX_SHIFT` of the side, so only the outer margin can leave the frame) and
contrast/saturation jitter; damage and brand marks keep their meaning under all of them, and
none resamples (blur would wipe thin scratches out at 64-96 px). `tone`: `geometric`, then
`TONE_SHARE` of the photos change tone (`retone`: colour channels swapped, light and dark
inverted, or both), so damage is seen in tones the training set rarely shows it in (a pale tear
on dark leather, a dark one on pale canvas); brand marks change colour too, so those photos are
reported as toned and take no part in the counterfeit losses."""

MAX_SHIFT = 0.08
"""Largest shift of the `geometric` augmentation, as a share of the side (edges replicated)."""

TONE_SHARE = 0.5
"""Share of photos whose tone the `tone` augmentation changes."""

CHANNEL_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
TONES = 2 * len(CHANNEL_ORDERS)
"""Tone changes `retone` knows: a channel order, with or without inversion; 0 is no change."""


def retone(x: torch.Tensor, tone: torch.Tensor) -> torch.Tensor:
    """Change the tone of photos in [0, 1] `[N, 3, S, S]`: `tone[i]` in `range(TONES)` picks
    the channel order `CHANNEL_ORDERS[tone // 2]`, inverted (1 - x) when `tone` is odd.

    Exact per pixel (nothing resamples or clips): edges, shapes and textures stay where they
    are, only their colours and which side of them is light change.
    """
    orders = torch.tensor(CHANNEL_ORDERS)[tone // 2]
    out = torch.gather(x, 1, orders[:, :, None, None].expand_as(x))
    invert = (tone % 2 == 1)[:, None, None, None]
    return torch.where(invert, 1.0 - out, out)


def train_augment(
    config: PreprocessConfig, kind: str = "light", generator: torch.Generator | None = None
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Batched augmentation of resized uint8 photos `[N, 3, S, S]`, then normalisation.

    The returned callable gives the normalised photos and a bool `[N]` marking those whose
    tone changed (only `tone` changes any), which the counterfeit losses leave out.

    Every photo draws its own parameters from `generator`, in whole-batch tensor operations (a
    per-photo torchvision call costs more than the network on a 2-core CPU). No crops that
    could cut damage out of view (shifts are small) and no affine resampling, which at 64-96 px
    blurred thin cracks and blowholes away (with it the network learned nothing beyond the
    class shares in 8 epochs on magnetic_tile; without it, it did).

    Args:
        config: Normalisation statistics.
        kind: One of `AUGMENTATIONS`.
        generator: Source of the random draws (seeded by the training loop).
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}: expected one of {AUGMENTATIONS}")
    mean_t = torch.tensor(config.mean).view(1, 3, 1, 1)
    std_t = torch.tensor(config.std).view(1, 3, 1, 1)
    geometric = kind in ("geometric", "tone")
    tone = kind == "tone"

    def draw(n: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    def pick(mask: torch.Tensor, changed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.where(mask[:, None, None, None], changed, x)

    def augment(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
        toned = torch.zeros(n, dtype=torch.bool)
        if tone:  # drawn after the geometric draws, so `geometric` runs stay as they were
            toned = draw(n) < TONE_SHARE
            changes = torch.randint(1, TONES, (n,), generator=generator)
            x = retone(x, torch.where(toned, changes, 0))
        return (x - mean_t) / std_t, toned

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


TTA_KINDS = ("none", "hflip", "dihedral")
"""Test-time augmentations: none, the mirror image, or all eight flips and quarter turns. Each
is a group containing the horizontal flip (or nothing), so a mirrored photo gets the same score."""


def tta_views(x: torch.Tensor, kind: str) -> list[torch.Tensor]:
    """The views of a normalised batch `[N, 3, S, S]` whose outputs are averaged at inference."""
    if kind not in TTA_KINDS:
        raise ValueError(f"unknown test-time augmentation {kind!r}: expected one of {TTA_KINDS}")
    if kind == "none":
        return [x]
    views = [x, x.flip(-1)]
    if kind == "dihedral":
        views += [v.flip(-2) for v in views]
        if x.shape[-1] == x.shape[-2]:
            views += [v.transpose(-1, -2) for v in views]
    return views


def fit_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a uint8 `[N, 3, S, S]` stack, in [0, 1] units."""
    x = images.float() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
