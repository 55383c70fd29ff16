"""Synthetic intake photos: 1..K views per unit with graded damage and (sometimes) a fake mark.

Each unit is drawn once in its own frame (`products.draw_product`), its damage planned once for
its grade (`damage.plan_damage`); every view then shows a subset of that damage (as in real
intake, where a scratch on the back is not in the front shot; each mark shows in at least one
view), and is posed (rotation, scale, position), lit (brightness, gradient, colour temperature),
set on a background with a shadow, blurred a little at times, given sensor noise and, when
written, JPEG artefacts.

Randomness comes in independent streams split off the unit's generator (product, damage plan,
mark flaws, visibility, background, views), so the same generator state gives the same scene
whatever the grade or counterfeit flag: rendering a unit as grade A and as grade C differs only
by the damage, as genuine and as fake only by the mark and the product's build. `write_photos`
seeds each unit from (seed, item_id), so output does not depend on the order of items: same
seed, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from features.photos import DATASET_INFO, MANIFEST, PHOTO_COLUMNS
from features.tables import write_table
from training.synth.brandmark import MarkFlaws, draw_flaws
from training.synth.damage import Damage, apply_damage, plan_damage
from training.synth.products import draw_product

SUPERSAMPLE = 2
"""Products are drawn at this multiple of the photo size, then scaled down (anti-aliasing);
damage is drawn at the photo size."""
SCALE = (0.66, 0.88)
"""Range of the product canvas's displayed side, as a share of the photo side."""
ROTATION_DEG = 20.0
SHIFT = 0.07
"""Largest offset of the product from the photo centre, as a share of the photo side."""
VIEW_SHOWS_DAMAGE = 0.8
"""Chance that a view shows a given damage mark (each mark shows in at least one view)."""
BRIGHTNESS = (0.82, 1.12)
LIGHT_GRADIENT = (0.0, 0.3)
WARMTH = 0.05
BLUR_RATE, BLUR_RADIUS = 0.3, (0.3, 0.8)
NOISE_SIGMA = (1.0, 5.0)
"""Range of the sensor noise's standard deviation, in 8-bit levels."""
JPEG_QUALITY = (70, 95)
BADGE_CLEAR = 0.5
"""No damage is centred within this many mark sides of the mark's standard place (the badge is
laid over the damaged surface and would hide it)."""
BACKGROUNDS = [
    (0.92, 0.92, 0.9), (0.8, 0.78, 0.74), (0.6, 0.62, 0.64), (0.55, 0.42, 0.3),
    (0.3, 0.32, 0.36), (0.7, 0.75, 0.8), (0.85, 0.82, 0.72),
]  # fmt: skip

ProgressFn = Callable[[Iterable, int], Iterable]

SYNTH_SOURCE = "regrade data synth"
"""The `source` the generator writes into its photo folder's dataset.json."""
DAMAGE_COLUMNS = ["image", "item_id", "view", "kind", "severity"]
"""The damage table `write_photos` can write beside a data set: what each photo shows, for error
analysis (which drawn marks did the grader miss) as a join on `image`."""


@dataclass
class View:
    """One rendered photo and where things are in it.

    Attributes:
        image: The RGB photo.
        mark_centre: Centre of the brand mark, in photo pixels.
        mark_size: Side of the (unrotated) brand mark, in photo pixels.
        mark_angle: Rotation of the mark, degrees counter-clockwise.
        damage: The damage marks this view shows.
    """

    image: Image.Image
    mark_centre: tuple[float, float]
    mark_size: float
    mark_angle: float
    damage: list[Damage] = field(default_factory=list)


def mark_visibility(n_marks: int, n_views: int, rng: np.random.Generator) -> np.ndarray:
    """Which view shows which mark, `[n_marks, n_views]` bool: each with `VIEW_SHOWS_DAMAGE`,
    and every mark in at least one view."""
    shown = rng.random((n_marks, n_views)) < VIEW_SHOWS_DAMAGE
    for j in np.flatnonzero(~shown.any(axis=1)):
        shown[j, int(rng.integers(n_views))] = True
    return shown


def _background(size: int, base, rng: np.random.Generator) -> np.ndarray:
    colour = np.clip(np.asarray(base) + rng.normal(0, 0.02, 3), 0, 1).astype(np.float32)
    ramp = np.linspace(1.0, rng.uniform(0.8, 0.95), size, dtype=np.float32)[:, None, None]
    cells = rng.random((6, 6)).astype(np.float32)
    cloth = Image.fromarray((cells * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    texture = 1.0 + 0.05 * (np.asarray(cloth, np.float32)[..., None] / 255.0 - 0.5)
    return colour * ramp * texture


def _light(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = arr.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 1.0 + rng.uniform(*LIGHT_GRADIENT) * (xs * np.cos(angle) + ys * np.sin(angle))
    warm = rng.uniform(-WARMTH, WARMTH)
    tint = np.array([1 + warm, 1.0, 1 - warm], np.float32)
    return arr * (rng.uniform(*BRIGHTNESS) * gradient)[..., None] * tint


def _pose(product_rgba: Image.Image, size: int, rng: np.random.Generator):
    """Scale, rotate and place the product; returns the layer and the canvas -> photo map."""
    n = product_rgba.width
    angle = float(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    m = max(2, round(rng.uniform(*SCALE) * size))
    small = product_rgba.convert("RGBa").resize((m, m), Image.LANCZOS)
    turned = small.rotate(angle, resample=Image.BICUBIC, expand=True)
    centre = size / 2 + rng.uniform(-SHIFT, SHIFT, 2) * size
    corner = (round(centre[0] - turned.width / 2), round(centre[1] - turned.height / 2))
    layer = Image.new("RGBa", (size, size), (0, 0, 0, 0))
    layer.paste(turned, corner)
    rad = np.deg2rad(angle)

    def to_photo(x: float, y: float) -> tuple[float, float]:
        dx, dy = (x - n / 2) * m / n, (y - n / 2) * m / n
        rx, ry = dx * np.cos(rad) + dy * np.sin(rad), -dx * np.sin(rad) + dy * np.cos(rad)
        return corner[0] + turned.width / 2 + rx, corner[1] + turned.height / 2 + ry

    return layer, to_photo, m / n, angle


def _compose(layer: Image.Image, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = background.shape[0]
    rgba = np.asarray(layer, np.float32) / 255.0  # premultiplied
    alpha = rgba[..., 3:]
    shadow = layer.getchannel(3).filter(ImageFilter.GaussianBlur(size * 0.025))
    dx, dy = (rng.uniform(-0.04, 0.04, 2) * size).round().astype(int)
    cast = np.roll(np.asarray(shadow, np.float32) / 255.0, (dy, dx), axis=(0, 1))[..., None]
    scene = background * (1.0 - rng.uniform(0.3, 0.5) * cast)
    return scene * (1.0 - alpha) + rgba[..., :3]


def _finish(arr: np.ndarray, rng: np.random.Generator) -> Image.Image:
    arr = np.clip(_light(arr, rng), 0, 1)
    image = Image.fromarray(np.round(arr * 255).astype(np.uint8), "RGB")
    if rng.random() < BLUR_RATE:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*BLUR_RADIUS)))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(*NOISE_SIGMA), arr.shape)
    return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8), "RGB")


def render_item_scenes(
    item: Mapping, n_views: int, image_size: int, rng: np.random.Generator, *, damage: bool = True
) -> list[View]:
    """Render the views of one unit, with where its mark is and which damage each view shows.

    Args:
        item: Has `category`, `brand`, `grade` (A/B/C) and `counterfeit` (0/1).
        n_views: Number of photos.
        image_size: Side of each square photo in pixels.
        rng: The unit's generator; the same state gives the same scene.
        damage: False renders the unit undamaged (e.g. to measure what damage changes).

    Returns:
        `n_views` views; view k has the same pose, light and background whatever `n_views`
        is (which damage it shows may differ: every mark shows in at least one view).
    """
    product_seed, plan_seed, mark_seed, vis_seed, bg_seed, view_seed = rng.integers(2**62, size=6)
    category, brand = str(item["category"]), str(item["brand"])
    mark_rng = np.random.default_rng(mark_seed)
    fake = bool(item.get("counterfeit", 0) == 1)
    flaws = draw_flaws(mark_rng) if fake else MarkFlaws()
    product = draw_product(
        category,
        brand,
        flaws,
        np.random.default_rng(product_seed),
        image_size,
        mark_rng,
        supersample=SUPERSAMPLE,
    )
    base = np.asarray(product.image, np.float32)
    regions = dict(product.regions)
    mark_centre, mark_size = product.mark_centre, product.mark_size
    plan = plan_damage(str(item["grade"]), np.random.default_rng(plan_seed), category)
    plan = plan if damage else []
    shown = mark_visibility(len(plan), n_views, np.random.default_rng(vis_seed))
    ys, xs = np.mgrid[0:image_size, 0:image_size]
    home = product.mark_home  # the same for genuine and fake: damage lands in the same places
    badge = np.hypot(xs - home[0], ys - home[1]) < BADGE_CLEAR * product.home_size
    object_region = regions.pop("object")
    bg_rng = np.random.default_rng(bg_seed)
    backdrop = BACKGROUNDS[int(bg_rng.integers(len(BACKGROUNDS)))]
    views = []
    for k in range(n_views):
        vrng = np.random.default_rng([int(view_seed), k])
        marks = [d for j, d in enumerate(plan) if shown[j, k]]
        rgba = base.copy()
        if marks:
            rgb = apply_damage(
                rgba[..., :3] / 255.0, marks, object_region, regions=regions, avoid=badge
            )
            rgba[..., :3] = rgb * 255.0
        drawn = product.with_mark(Image.fromarray(np.round(rgba).astype(np.uint8), "RGBA"))
        layer, to_photo, f, angle = _pose(drawn, image_size, vrng)
        scene = _compose(layer, _background(image_size, backdrop, vrng), vrng)
        views.append(
            View(
                image=_finish(scene, vrng),
                mark_centre=to_photo(*mark_centre),
                mark_size=mark_size * f,
                mark_angle=angle,
                damage=marks,
            )
        )
    return views


def render_item_views(
    item: Mapping, n_views: int, image_size: int, rng: np.random.Generator, *, damage: bool = True
) -> list[Image.Image]:
    """Render `n_views` RGB photos of one unit (see `render_item_scenes`)."""
    return [v.image for v in render_item_scenes(item, n_views, image_size, rng, damage=damage)]


def item_rng(seed: int, item_id: str) -> np.random.Generator:
    """The generator of one unit: from the run's seed and the item id, not the item's position."""
    digest = hashlib.sha256(str(item_id).encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def _file_stem(item_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", item_id)
    if safe != item_id:
        safe += "-" + hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:8]
    return safe


def write_photos(
    items: pd.DataFrame,
    out_dir: Path,
    *,
    photos_per_item: int = 3,
    image_size: int = 224,
    seed: int = 0,
    progress: ProgressFn | None = None,
    damage_file: Path | None = None,
) -> pd.DataFrame:
    """Write a photo dataset: `out_dir/images/<item_id>_<k>.jpg`, `out_dir/manifest.csv` and
    `out_dir/dataset.json` (names the generator, so the grader knows its own data).

    Args:
        items: Columns item_id, category, brand, grade, counterfeit, split.
        out_dir: The photo dataset folder (e.g. `DIR/photos`).
        photos_per_item: Views per unit; 0 writes nothing at all.
        image_size: Side of each square photo in pixels.
        seed: Same seed, same bytes.
        progress: Wraps the loop over items: `progress(iterable, total)`.
        damage_file: Where to write the damage each photo shows, when given (`DAMAGE_COLUMNS`:
            a row per photo and mark, image paths as in the manifest; no rows for a clean photo).

    Returns:
        The manifest (image, item_id, grade, counterfeit, category, brand, split): a row a photo.
    """
    if photos_per_item <= 0 or len(items) == 0:
        return pd.DataFrame(columns=PHOTO_COLUMNS)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    records = items.to_dict("records")
    rows, marks = [], []
    for item in progress(records, len(records)) if progress else records:
        item_id = str(item["item_id"])
        fake = int(pd.notna(item.get("counterfeit")) and int(item["counterfeit"]) == 1)
        rng = item_rng(seed, item_id)
        views = render_item_scenes({**item, "counterfeit": fake}, photos_per_item, image_size, rng)
        for k, view in enumerate(views):
            name = f"images/{_file_stem(item_id)}_{k}.jpg"
            view.image.save(
                out_dir / name, "JPEG", quality=int(rng.integers(*JPEG_QUALITY, endpoint=True))
            )
            rows.append(
                [name, item_id, item["grade"], fake, item["category"], item["brand"], item["split"]]
            )
            marks += [[name, item_id, k, d.kind, d.severity] for d in view.damage]
    manifest = pd.DataFrame(rows, columns=PHOTO_COLUMNS)
    write_table(manifest, out_dir / MANIFEST)
    origin = {"source": SYNTH_SOURCE, "seed": seed, "image_size": image_size}
    (out_dir / DATASET_INFO).write_text(json.dumps(origin, indent=2) + "\n")
    if damage_file is not None:
        write_table(pd.DataFrame(marks, columns=DAMAGE_COLUMNS), Path(damage_file))
    return manifest
