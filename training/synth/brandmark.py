"""Procedural brand marks: one badge per brand name, and the subtle but systematic flaws of fakes.

A brand's genuine mark follows from its name alone (outline shape, fill colour, glyph and its
colour), and every genuine mark meets the same "house standard": glyph size and centring, rim
width and inset, stitch pitch, place on the product. A counterfeit always misses it on its glyph
size (a third too large), its badge size (a sixth too large), its fill colour (a hue off by
30-45 degrees) and its place on the product (a few percent low), its product's build is off
(see `products`), and it misses on one more detail (glyph centring, rim width, or stitch
pitch and regularity) drawn per item: subtle without a genuine one beside it, but systematic, and
independent of the unit's condition.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "rounded_square", "hexagon", "shield", "diamond")
GLYPHS: tuple[str, ...] = ("chevron", "bars", "triangle", "ring_dot", "cross", "zigzag", "star")

GLYPH_SCALE = 0.46
"""Glyph extent as a share of the mark (the genuine standard)."""
RIM_INSET = 0.15
"""Distance from the outline to the printed rim, as a share of the mark."""
RIM_WIDTH = 0.055
STITCH_INSET = 0.06
STITCH_PITCH = 0.075
"""Distance between stitches along the outline, as a share of the mark."""
SUPERSAMPLE = 3

FAKE_GLYPH_SCALE = (1.3, 1.45)
"""Range of a fake's glyph size relative to the genuine one (copies overdraw the glyph)."""
FAKE_MARK_SCALE = (1.12, 1.2)
"""Range of a fake mark's size relative to the genuine one (copies oversize the badge)."""
FAKE_GLYPH_OFFSET = (0.08, 0.12)
"""Range of a fake's glyph displacement from the centre, as a share of the mark."""
FAKE_HUE_SHIFT = (0.08, 0.13)
"""Range of a fake's fill hue error (fraction of the colour wheel, either direction)."""
FAKE_MARK_SHIFT = (0.045, 0.065)
"""Range of a fake mark's displacement from its standard place, as a share of the product canvas."""
FAKE_BUILD = (1.0, 1.4)
"""Range of a copy's build error (1 is the typical error each product drawing defines)."""
FAKE_RIM_SCALES = (0.4, 1.8)
FAKE_STITCH_PITCH = (1.7, 2.2)
"""A fake's stitch pitch relative to the genuine one."""
FAKE_STITCH_JITTER = 0.35
"""Relative irregularity of a fake's stitches (genuine stitching is perfectly even)."""


@dataclass(frozen=True)
class MarkStyle:
    """A brand's genuine mark, fixed by its name."""

    brand: str
    shape: str
    glyph: str
    fill: tuple[float, float, float]
    ink: tuple[float, float, float]
    thread: tuple[float, float, float]


@dataclass(frozen=True)
class MarkFlaws:
    """How a mark departs from its brand's standard; the defaults are a genuine mark."""

    glyph_scale: float = 1.0
    glyph_offset: tuple[float, float] = (0.0, 0.0)
    mark_scale: float = 1.0
    """Size of the whole mark relative to the brand standard."""
    mark_shift: tuple[float, float] = (0.0, 0.0)
    """Displacement of the whole mark on the product, as a share of the product's canvas."""
    build: float = 0.0
    """How far a copy's build is off its category's standard (camera module, sole, handle,
    bezel; see `products`): 0 for genuine."""
    hue_shift: float = 0.0
    rim_scale: float = 1.0
    stitch_pitch: float = 1.0
    stitch_jitter: float = 0.0

    @property
    def genuine(self) -> bool:
        """True when the mark meets its brand's standard."""
        return self == MarkFlaws()


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def mark_style(brand: str) -> MarkStyle:
    """The genuine mark of a brand, derived from its name only (the same on every machine)."""
    d = _digest(f"regrade-brand:{brand}")
    hue, sat, val = d[2] / 256, 0.55 + 0.4 * d[3] / 255, 0.35 + 0.5 * d[4] / 255
    fill = colorsys.hsv_to_rgb(hue, sat, val)
    inks = [(0.97, 0.96, 0.92), (0.93, 0.78, 0.35), (0.08, 0.08, 0.1)]
    ink = inks[d[5] % 2] if val < 0.7 else inks[1 + d[5] % 2]
    thread = tuple(min(1.0, c * 0.5 + 0.5) for c in fill) if val < 0.6 else (0.15, 0.13, 0.12)
    return MarkStyle(
        brand=brand,
        shape=SHAPES[d[0] % len(SHAPES)],
        glyph=GLYPHS[d[1] % len(GLYPHS)],
        fill=tuple(float(c) for c in fill),
        ink=ink,
        thread=tuple(float(c) for c in thread),
    )


def draw_flaws(rng: np.random.Generator) -> MarkFlaws:
    """A counterfeit's departures: glyph and badge size, fill colour, placement and the
    product's build always, plus one of glyph centring, rim width or stitching."""
    turn = np.pi / 2 + rng.uniform(-0.6, 0.6)  # downwards on the product, give or take
    dist = rng.uniform(*FAKE_MARK_SHIFT)
    flaws: dict = {
        "glyph_scale": float(rng.uniform(*FAKE_GLYPH_SCALE)),
        "mark_scale": float(rng.uniform(*FAKE_MARK_SCALE)),
        "hue_shift": float(rng.choice([-1, 1]) * rng.uniform(*FAKE_HUE_SHIFT)),
        "mark_shift": (float(dist * np.cos(turn)), float(dist * np.sin(turn))),
        "build": float(rng.uniform(*FAKE_BUILD)),
    }
    extra = ("centring", "rim", "stitch")[int(rng.integers(3))]
    if extra == "centring":
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(*FAKE_GLYPH_OFFSET)
        flaws["glyph_offset"] = (float(dist * np.cos(angle)), float(dist * np.sin(angle)))
    elif extra == "rim":
        flaws["rim_scale"] = float(FAKE_RIM_SCALES[int(rng.integers(2))])
    else:
        flaws["stitch_pitch"] = float(rng.uniform(*FAKE_STITCH_PITCH))
        flaws["stitch_jitter"] = FAKE_STITCH_JITTER
    return MarkFlaws(**flaws)


def outline(shape: str, n: int = 96) -> np.ndarray:
    """The closed outline of a mark shape, (n, 2) points in [-0.5, 0.5]."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    if shape == "circle":
        return 0.5 * np.stack([c, s], 1)
    if shape == "rounded_square":
        return 0.5 * np.stack([np.sign(c) * np.abs(c) ** 0.4, np.sign(s) * np.abs(s) ** 0.4], 1)
    if shape == "diamond":
        r = 0.5 / (np.abs(c) + np.abs(s))
        return np.stack([r * c, r * s], 1)
    if shape == "hexagon":
        k = np.pi / 3
        r = 0.5 * np.cos(k / 2) / np.cos((t % k) - k / 2)
        return np.stack([r * c, r * s], 1)
    # shield: flat top, straight sides, pointed bottom
    top = np.stack([np.linspace(-0.45, 0.45, n // 4), np.full(n // 4, -0.45)], 1)
    side = np.stack([np.full(n // 4, 0.45), np.linspace(-0.45, 0.1, n // 4)], 1)
    u = np.linspace(0, 1, n // 4)
    curve = np.stack([0.45 * (1 - u), 0.1 + 0.4 * np.sin(u * np.pi / 2)], 1)
    left = np.stack([-curve[::-1, 0], curve[::-1, 1]], 1)
    return np.concatenate([top, side, curve, left, side[::-1] * [-1, 1]])


def _glyph(draw: ImageDraw.ImageDraw, kind: str, centre, extent: float, colour) -> None:
    """Draw a glyph of total size `extent` (pixels) around `centre`."""
    cx, cy = centre
    e, w = extent / 2, max(1, round(extent * 0.14))

    def pts(seq):
        return [(cx + x * e, cy + y * e) for x, y in seq]

    if kind == "chevron":
        draw.line(pts([(-0.9, -0.6), (0, 0.6), (0.9, -0.6)]), colour, w, joint="curve")
    elif kind == "bars":
        for x in (-0.65, 0.0, 0.65):
            draw.rectangle(pts([(x - 0.17, -0.9), (x + 0.17, 0.9)]), colour)
    elif kind == "triangle":
        draw.polygon(pts([(0, -0.95), (0.95, 0.75), (-0.95, 0.75)]), colour)
    elif kind == "ring_dot":
        draw.ellipse(pts([(-0.9, -0.9), (0.9, 0.9)]), outline=colour, width=w)
        draw.ellipse(pts([(-0.3, -0.3), (0.3, 0.3)]), colour)
    elif kind == "cross":
        draw.rectangle(pts([(-0.18, -0.95), (0.18, 0.95)]), colour)
        draw.rectangle(pts([(-0.95, -0.18), (0.95, 0.18)]), colour)
    elif kind == "zigzag":
        zig = [(-0.95, -0.5), (-0.47, 0.5), (0, -0.5), (0.47, 0.5), (0.95, -0.5)]
        draw.line(pts(zig), colour, w, joint="curve")
    else:  # star
        t = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
        r = np.where(np.arange(10) % 2 == 0, 0.95, 0.4)
        draw.polygon(pts(zip(r * np.cos(t), r * np.sin(t), strict=True)), colour)


def stitch_dashes(
    path: np.ndarray, pitch: float, jitter: float, rng: np.random.Generator | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Dashes (start, end) every `pitch` along a closed path; `jitter` varies each stitch."""
    closed = np.concatenate([path, path[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    dashes, at = [], 0.0
    while at < cum[-1] - pitch * 0.5:
        step = pitch * (1.0 + (rng.uniform(-jitter, jitter) if jitter and rng else 0.0))
        length = step * 0.55
        a, b = at, min(at + length, cum[-1])
        ends = [
            np.array([np.interp(v, cum, closed[:, 0]), np.interp(v, cum, closed[:, 1])])
            for v in (a, b)
        ]
        dashes.append((ends[0], ends[1]))
        at += step
    return dashes


def _rgb(colour) -> tuple[int, int, int]:
    return tuple(round(255 * min(max(float(c), 0.0), 1.0)) for c in colour)


def render_mark(
    brand: str,
    counterfeit: bool,
    rng: np.random.Generator,
    size: int,
    *,
    flaws: MarkFlaws | None = None,
) -> Image.Image:
    """Render a brand's mark as an RGBA badge of `size` x `size` pixels.

    Args:
        brand: Any brand name; the genuine design follows from it.
        counterfeit: Draw a fake: its flaws come from `rng` unless `flaws` is given.
        rng: Used only for a fake's flaws and stitch jitter; a genuine mark ignores it.
        size: Side of the badge in pixels.
        flaws: Explicit departures from the standard (overrides `counterfeit`).

    Returns:
        An RGBA image, transparent outside the badge.
    """
    style = mark_style(brand)
    if flaws is None:
        flaws = draw_flaws(rng) if counterfeit else MarkFlaws()
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre = np.array([big / 2, big / 2])
    shape = outline(style.shape)
    h, s, v = colorsys.rgb_to_hsv(*style.fill)
    fill = colorsys.hsv_to_rgb((h + flaws.hue_shift) % 1.0, s, v)
    draw.polygon([tuple(p) for p in centre + shape * big * 0.98], (*_rgb(fill), 255))
    stitch_path = shape * big * (1 - 2 * STITCH_INSET)
    pitch = STITCH_PITCH * big * flaws.stitch_pitch
    for a, b in stitch_dashes(stitch_path, pitch, flaws.stitch_jitter, rng):
        draw.line([tuple(centre + a), tuple(centre + b)], _rgb(style.thread), round(big * 0.022))
    rim = [tuple(p) for p in centre + shape * big * (1 - 2 * RIM_INSET)]
    rim_width = max(1, round(big * RIM_WIDTH * flaws.rim_scale))
    draw.line([*rim, rim[0]], _rgb(style.ink), rim_width, joint="curve")
    offset = np.array(flaws.glyph_offset) * big
    extent = big * GLYPH_SCALE * flaws.glyph_scale
    _glyph(draw, style.glyph, centre + offset, extent, _rgb(style.ink))
    return image.resize((size, size), Image.LANCZOS)


def paste_mark(
    image: Image.Image,
    brand: str,
    counterfeit: bool,
    rng: np.random.Generator,
    centre: tuple[float, float],
    size: float,
    angle: float = 0.0,
    *,
    flaws: MarkFlaws | None = None,
) -> Image.Image:
    """Stamp a (genuine or fake) mark over a photo, e.g. over the mark a rendered view carries.

    Args:
        image: The photo; not changed.
        brand: Brand whose mark to draw.
        counterfeit: Draw a fake mark (flaws from `rng` unless `flaws` is given).
        rng: As for `render_mark`.
        centre: Where the mark's centre goes, in pixels.
        size: Side of the mark in pixels.
        angle: Counter-clockwise rotation in degrees.
        flaws: Explicit departures from the standard.

    Returns:
        A new RGB image.
    """
    side = max(2, round(size))
    mark = render_mark(brand, counterfeit, rng, side, flaws=flaws)
    if angle:
        mark = mark.rotate(angle, resample=Image.BICUBIC, expand=True)
    out = image.convert("RGBA")
    corner = (round(centre[0] - mark.width / 2), round(centre[1] - mark.height / 2))
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    layer.paste(mark, corner)
    return Image.alpha_composite(out, layer).convert("RGB")
