"""A very large photo is shrunk by a whole factor before the grader's resize (Python's lock is
not held for a 40 Mpx copy); the grader's input stays what the plain resize gives."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from torchvision.transforms import v2

from models.grader.preprocess import REDUCE_TO, to_uint8


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth colour with thin dark and bright scratches (what a hairline looks like)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 50, width // 50, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, x1 = rng.integers(0, width, 2)
        y0, y1 = rng.integers(0, height, 2)
        draw.line((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 255, 3)), width=3)
    return image


def _plain(image: Image.Image, size: int):
    return v2.Compose([v2.PILToTensor(), v2.Resize((size, size), antialias=True)])(image)


def _reductions(monkeypatch) -> list[int]:
    """The factors `Image.reduce` is called with from now on."""
    factors, reduce = [], Image.Image.reduce

    def spy(self, factor, *args, **kwargs):
        factors.append(factor)
        return reduce(self, factor, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "reduce", spy)
    return factors


@pytest.mark.parametrize(("width", "height", "size"), [(4032, 3024, 96), (3200, 3200, 160)])
def test_a_large_photo_gives_the_input_of_the_plain_resize(width, height, size, monkeypatch):
    image = _photo(width, height)
    plain = _plain(image, size).int()
    factors = _reductions(monkeypatch)
    got = to_uint8(image, size).int()
    assert factors == [min(width, height) // (REDUCE_TO * size)] and factors[0] >= 2  # shrunk
    assert got.shape == plain.shape == (3, size, size)
    diff = (got - plain).abs().float()
    assert diff.mean() < 0.5 and diff.max() <= 3


def test_a_photo_below_the_threshold_is_resized_as_before(monkeypatch):
    image = _photo(1200, 900)
    factors = _reductions(monkeypatch)
    assert (to_uint8(image, 96) == _plain(image, 96)).all()
    assert factors == []  # not shrunk
