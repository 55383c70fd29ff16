"""Speed of the synthetic photo generator: 1,000 photos at 224 px, written as JPEG with a manifest.

Run: `.venv/bin/python benchmarks/bench_synth_photos.py [--photos N] [--image-size PX]`.
Prints photos/s for `write_photos` and, as the baseline measured in the same run, for only
encoding and writing the same number of ready-made JPEGs (the floor any generator pays).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from training.synth.photos import write_photos

CATEGORIES = {
    "phone": ["Novaphone", "Kepler", "Orbit"],
    "sneaker": ["Stride", "Kinetic", "Aerolite"],
    "handbag": ["Maison Vale", "Lumen", "Corda"],
    "watch": ["Tempus", "Halden", "Brightwater"],
}
PHOTOS_PER_ITEM = 3


def bench_items(n_items: int, seed: int = 0) -> pd.DataFrame:
    """Units like the items generator's: 45/35/20 grades, 10% fakes, four categories."""
    rng = np.random.default_rng(seed)
    categories = rng.choice(list(CATEGORIES), n_items)
    return pd.DataFrame(
        {
            "item_id": [f"b{i:06d}" for i in range(n_items)],
            "category": categories,
            "brand": [CATEGORIES[c][int(rng.integers(3))] for c in categories],
            "grade": rng.choice(["A", "B", "C"], n_items, p=[0.45, 0.35, 0.2]),
            "counterfeit": (rng.random(n_items) < 0.1).astype(int),
            "split": rng.choice(["train", "val", "test"], n_items, p=[0.7, 0.15, 0.15]),
        }
    )


def baseline(n_photos: int, size: int, out: Path) -> float:
    """Seconds to encode and write `n_photos` noise JPEGs of the same size."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for k in range(n_photos):
        image.save(out / f"{k}.jpg", "JPEG", quality=85)
    return time.perf_counter() - start


def main() -> None:
    """Time the generator and the JPEG-writing baseline; print both and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    n_items = -(-args.photos // PHOTOS_PER_ITEM)
    items = bench_items(n_items)
    with tempfile.TemporaryDirectory() as tmp:
        floor = baseline(n_items * PHOTOS_PER_ITEM, args.image_size, Path(tmp) / "baseline")
        start = time.perf_counter()
        manifest = write_photos(
            items, Path(tmp) / "photos", photos_per_item=PHOTOS_PER_ITEM,
            image_size=args.image_size, seed=0,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
    n = len(manifest)
    size = args.image_size
    print(f"write_photos: {n} photos at {size} px in {elapsed:.1f} s: {n / elapsed:.1f} photos/s")
    print(f"baseline (JPEG encode + write only): {n / floor:.0f} photos/s")
    print(f"generator / baseline time: {elapsed / floor:.1f}x")


if __name__ == "__main__":
    main()
