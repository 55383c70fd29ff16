"""A tiny, fast toy photo dataset for tests and smoke runs (not the product's synthetic data).

Each item is a coloured object on a noisy background with a square brand mark in one corner;
counterfeit marks are smaller and shifted in colour. Grade B items get light scratches and grade
C items heavy dark strokes, on a random subset of their views (as in real intake).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from features.schema import GRADES

BRAND_COLOURS = {"acme": (200, 40, 40), "zeta": (40, 40, 200)}


def toy_photo(
    grade: str, brand: str, counterfeit: bool, damaged: bool, size: int, rng
) -> Image.Image:
    """One toy photo; `damaged` draws the grade's damage on it."""
    background = rng.integers(150, 230, size=3)
    pixels = np.clip(background + rng.normal(0, 8, size=(size, size, 3)), 0, 255)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    body = tuple(int(v) for v in rng.integers(60, 140, size=3))
    pad = size // 8 + int(rng.integers(0, size // 16 + 1))
    draw.rectangle((pad, pad, size - pad, size - pad), fill=body)
    colour = np.array(BRAND_COLOURS.get(brand, (40, 160, 40)))
    side = size // 5
    if counterfeit:
        colour = np.clip(colour + np.array([40, 60, 0]), 0, 255)
        side = int(side * 0.7)
    draw.rectangle((pad + 2, pad + 2, pad + 2 + side, pad + 2 + side), fill=tuple(colour))
    if damaged and grade != "A":
        heavy = grade == "C"
        for _ in range(3 if heavy else 2):
            x0, y0, x1, y1 = (int(v) for v in rng.integers(pad, size - pad, size=4))
            width = max(1, size // 16) if heavy else max(1, size // 48)
            shade = (15, 15, 15) if heavy else (235, 235, 235)
            draw.line((x0, y0, x1, y1), fill=shade, width=width)
    return image


def write_toy_dataset(
    root: Path | str,
    *,
    n_items: int = 48,
    photos_per_item: int = 2,
    image_size: int = 48,
    counterfeit_rate: float = 0.25,
    with_split: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Write `root/images/*.png` and `root/manifest.csv`; returns the manifest."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        grade = GRADES[i % len(GRADES)]
        brand = ("acme", "zeta")[(i // 3) % 2]
        fake = bool(rng.random() < counterfeit_rate)
        split = ("train", "train", "train", "train", "val", "test")[(i // 3) % 6]
        damaged_view = int(rng.integers(photos_per_item))
        for k in range(photos_per_item):
            damaged = k == damaged_view or rng.random() < 0.5
            image = toy_photo(grade, brand, fake, damaged, image_size, rng)
            rel = f"images/item{i:04d}_{k}.png"
            image.save(root / rel)
            row = {
                "image": rel,
                "item_id": f"item{i:04d}",
                "grade": grade,
                "counterfeit": int(fake),
                "category": "widget",
                "brand": brand,
            }
            if with_split:
                row["split"] = split
            rows.append(row)
    manifest = pd.DataFrame(rows)
    manifest.to_csv(root / "manifest.csv", index=False)
    return manifest
