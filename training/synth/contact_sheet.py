"""A contact sheet of a photo dataset: samples by grade and counterfeit flag, for people to see.

Rows are grade A, B, C, each genuine then counterfeit; each row shows `per_cell` photos of
different units, cycling through the categories so every kind of product shows up. Rows are
labelled with the grade, the flag and how many units the dataset holds of that kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from features.images import ImageError, open_image
from features.photos import load_photo_dataset
from features.schema import GRADES

THUMB = 160
"""Side of each sample on the sheet, in pixels."""
LABEL_WIDTH = 170
GAP = 4
BACKDROP = (250, 250, 250)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _pick(group: pd.DataFrame, per_cell: int, rng: np.random.Generator) -> list[str]:
    """One photo each of up to `per_cell` units, alternating categories."""
    units = group.drop_duplicates("item_id")
    units = units.iloc[rng.permutation(len(units))]
    turn = units.groupby(units["category"].fillna(""), sort=False).cumcount()
    chosen = units.assign(_turn=turn.to_numpy()).sort_values("_turn", kind="stable")
    paths = []
    for item_id in chosen["item_id"].head(per_cell):
        photos = group.loc[group["item_id"] == item_id, "image"].tolist()
        paths.append(photos[int(rng.integers(len(photos)))])
    return paths


def _thumb(path: Path) -> Image.Image:
    try:
        image = open_image(path)
    except ImageError:
        return Image.new("RGB", (THUMB, THUMB), (200, 60, 60))
    image.thumbnail((THUMB, THUMB), Image.LANCZOS)
    tile = Image.new("RGB", (THUMB, THUMB), BACKDROP)
    tile.paste(image, ((THUMB - image.width) // 2, (THUMB - image.height) // 2))
    return tile


def make_contact_sheet(photo_dir: Path, out_png: Path, *, per_cell: int = 4, seed: int = 0) -> Path:
    """Tile samples of a photo dataset in a labelled grid: rows grade x counterfeit.

    Args:
        photo_dir: A photo dataset folder (with `manifest.csv`, or A/B/C folders).
        out_png: Where to write the sheet (PNG).
        per_cell: Photos (of different units) per row.
        seed: Which units are shown.

    Returns:
        `out_png`.

    Raises:
        DataError: when the dataset cannot be read.
    """
    photo_dir, out_png = Path(photo_dir), Path(out_png)
    frame = load_photo_dataset(photo_dir)
    frame["counterfeit"] = pd.to_numeric(frame["counterfeit"], errors="coerce").fillna(0)
    rng = np.random.default_rng(seed)
    rows = [(g, c) for g in GRADES for c in (0, 1)]
    cell = THUMB + GAP
    sheet = Image.new(
        "RGB", (LABEL_WIDTH + per_cell * cell + GAP, len(rows) * cell + GAP), BACKDROP
    )
    draw = ImageDraw.Draw(sheet)
    title, small = _font(22), _font(14)
    for r, (grade, fake) in enumerate(rows):
        group = frame[(frame["grade"] == grade) & (frame["counterfeit"] == fake)]
        y = GAP + r * cell
        label = "counterfeit" if fake else "genuine"
        draw.text((10, y + THUMB // 2 - 26), f"grade {grade}", fill=(20, 20, 20), font=title)
        colour = (180, 30, 30) if fake else (30, 110, 40)
        draw.text((10, y + THUMB // 2 + 2), label, fill=colour, font=small)
        units = group["item_id"].nunique()
        draw.text((10, y + THUMB // 2 + 20), f"{units} units", fill=(90, 90, 90), font=small)
        if group.empty:
            continue
        for c, rel in enumerate(_pick(group, per_cell, rng)):
            sheet.paste(_thumb(photo_dir / rel), (LABEL_WIDTH + c * cell, y))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png, "PNG")
    return out_png
