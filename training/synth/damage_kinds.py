"""How each kind of damage is drawn: float RGB arrays in [0, 1], a clip mask and spots.

Every function here has the signature `(arr, rng, severity, mask, spots) -> arr`: `mask` (0..1)
clips the damage, `spots` says where it may be centred. Sizes scale with the damaged region
(geometric mean of its bounding box), so damage looks the same at any photo size. The public
entry points, with their arguments checked and types kept, are in `damage`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CANDIDATES = 12
"""Random spots tried when placing large damage (the one best inside the product wins)."""


def _frame(mask: np.ndarray) -> tuple[float, float, float, float, float]:
    """Bounding box of the mask and its scale (geometric mean of width and height)."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        h, w = mask.shape
        return 0.0, 0.0, float(w), float(h), float(np.sqrt(w * h))
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return float(x0), float(y0), float(x1), float(y1), float(np.sqrt((x1 - x0) * (y1 - y0)))


def _point(
    spots: np.ndarray,
    rng: np.random.Generator,
    reach: float = 0.0,
    margin: float = 0.15,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """A random point of `spots`, away from the edges of its bounding box.

    With `reach` > 0, the best of a few random candidates: the one whose surrounding square
    of half-side `reach` lies most inside `within` (default `spots`), so that large damage is
    not clipped away at the product's edge.
    """
    x0, y0, x1, y1, _ = _frame(spots)
    inner = spots > 0.5
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    box = np.zeros_like(inner)
    box[int(y0 + my) : int(np.ceil(y1 - my)), int(x0 + mx) : int(np.ceil(x1 - mx))] = True
    ys, xs = np.nonzero(inner & box) if (inner & box).any() else np.nonzero(inner)
    if len(xs) == 0:
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    picks = rng.integers(len(xs), size=CANDIDATES if reach > 0 else 1)
    best = int(picks[0])
    if reach > 0:
        inside_mask = (within if within is not None else spots) > 0.5
        h, w = inside_mask.shape
        table = np.pad(inside_mask.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        r = max(1, round(reach))
        ya, yb = np.clip(ys[picks] - r, 0, h), np.clip(ys[picks] + r + 1, 0, h)
        xa, xb = np.clip(xs[picks] - r, 0, w), np.clip(xs[picks] + r + 1, 0, w)
        inside = table[yb, xb] - table[ya, xb] - table[yb, xa] + table[ya, xa]
        best = int(picks[int(np.argmax(inside))])
    return np.array([xs[best] + rng.random(), ys[best] + rng.random()])


def _canvas(shape: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    layer = Image.new("L", (shape[1], shape[0]), 0)
    return layer, ImageDraw.Draw(layer)


def _alpha(layer: Image.Image, blur: float) -> np.ndarray:
    if blur > 0:
        layer = layer.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(layer, np.float32) / 255.0


def _blend(arr: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return arr * (1.0 - a) + colour * a


def _luma(arr: np.ndarray) -> np.ndarray:
    return arr @ np.array([0.299, 0.587, 0.114], np.float32)


def _local_tone(arr: np.ndarray, mask: np.ndarray) -> float:
    weights = mask > 0.5
    return float(_luma(arr)[weights].mean()) if weights.any() else float(_luma(arr).mean())


def _walk(start: np.ndarray, heading: float, length: float, steps: int, wiggle: float, rng):
    """A polyline from `start`, turning a little at every step."""
    points, pos = [start.copy()], start.copy()
    for _ in range(steps):
        heading += rng.normal(0.0, wiggle)
        pos = pos + (length / steps) * np.array([np.cos(heading), np.sin(heading)])
        points.append(pos.copy())
    return points


def _xy(points) -> list[tuple[float, float]]:
    return [(float(p[0]), float(p[1])) for p in points]


# ---------------------------------------------------------------- the seven kinds


def _scratch(arr, rng, sev, mask, spots):
    *_, scale = _frame(mask)
    light = _local_tone(arr, mask) < 0.55
    layer, draw = _canvas(mask.shape)
    for _ in range(1 + round(sev * 4)):
        start = _point(spots, rng, within=mask)
        length = scale * rng.uniform(0.2, 0.3 + 0.35 * sev)
        width = max(1, round(scale * (0.01 + 0.014 * sev)))
        draw.line(_xy(_walk(start, rng.uniform(0, 2 * np.pi), length, 6, 0.06, rng)), 255, width)
    alpha = _alpha(layer, 0.5) * mask * min(0.95, 0.15 + 1.5 * sev)
    colour = np.array([0.93, 0.93, 0.92] if light else [0.12, 0.11, 0.1], np.float32)
    return _blend(arr, colour, alpha)


def _noise_field(shape, rng, cells: int) -> np.ndarray:
    small = rng.random((cells, cells)).astype(np.float32)
    img = Image.fromarray((small * 255).astype(np.uint8)).resize(shape[::-1], Image.BICUBIC)
    return np.asarray(img, np.float32) / 255.0


def _scuff(arr, rng, sev, mask, spots):
    *_, scale = _frame(mask)
    layer, draw = _canvas(mask.shape)
    for _ in range(1 + round(sev * 3)):
        rx, ry = scale * rng.uniform(0.07, 0.1 + 0.12 * sev, size=2)
        c = _point(spots, rng, within=mask, reach=min(rx, ry))
        draw.ellipse([c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry], 255)
    grain = _noise_field(mask.shape, rng, max(8, mask.shape[0] // 6))
    alpha = _alpha(layer, scale * 0.02) * np.clip(grain * 1.6 - 0.2, 0, 1)
    alpha *= mask * min(1.0, 0.15 + 1.3 * sev)
    grey = _luma(arr)[..., None]
    abraded = np.clip(0.55 * grey + 0.45 * np.array([0.78, 0.76, 0.72], np.float32), 0, 1)
    if _local_tone(arr, mask) > 0.7:
        abraded = abraded * 0.62
    return _blend(arr, abraded, alpha)


def _stain(arr, rng, sev, mask, spots):
    *_, scale = _frame(mask)
    layer, draw = _canvas(mask.shape)
    radius = scale * (0.07 + 0.12 * sev)
    c = _point(spots, rng, within=mask, reach=radius)
    for _ in range(5):
        o = c + rng.normal(0, radius * 0.45, size=2)
        r = radius * rng.uniform(0.5, 1.0)
        draw.ellipse([o[0] - r, o[1] - r, o[0] + r, o[1] + r], 255)
    alpha = _alpha(layer, radius * 0.25) * mask * min(0.9, 0.2 + 1.0 * sev)
    dark = _local_tone(arr, mask) < 0.3
    colour = np.array([0.78, 0.74, 0.66] if dark else [0.36, 0.24, 0.1], np.float32)
    return _blend(arr, colour, alpha)


def _crack(arr, rng, sev, mask, spots):
    *_, scale = _frame(mask)
    halo, hd = _canvas(mask.shape)
    core, cd = _canvas(mask.shape)
    start = _point(spots, rng, within=mask, reach=scale * 0.15, margin=0.25)
    width = max(1, round(scale * (0.01 + 0.014 * sev)))
    lines = []
    for _ in range(3 + round(sev * 4)):  # arms from the point of impact
        reach = scale * rng.uniform(0.3 + 0.3 * sev, 0.45 + 0.45 * sev)
        lines.append(_walk(start, rng.uniform(0, 2 * np.pi), reach, 9, 0.3, rng))
    for _ in range(round(1 + sev * 8)):  # branches off the arms
        arm = lines[int(rng.integers(len(lines)))]
        at = arm[int(rng.integers(1, len(arm)))]
        lines.append(_walk(at, rng.uniform(0, 2 * np.pi), scale * (0.08 + 0.2 * sev), 4, 0.4, rng))
    for line in lines:
        hd.line(_xy(line), 255, width * 3, joint="curve")
        cd.line(_xy(line), 255, width, joint="curve")
    if sev > 0.5:  # a shattered spot where it was hit, and rings of a spider-web crack
        r = scale * 0.05 * sev
        hd.ellipse([start[0] - r, start[1] - r, start[0] + r, start[1] + r], 200)
        for ring in range(1 + round(sev)):
            r = scale * (0.12 + 0.12 * ring) * rng.uniform(0.8, 1.2)
            box = [start[0] - r, start[1] - r, start[0] + r, start[1] + r]
            begin = rng.uniform(0, 360)
            end = begin + rng.uniform(90, 220)
            cd.arc(box, begin, end, 255, width)
            hd.arc(box, begin, end, 255, width * 3)
    out = _blend(arr, np.array([0.92, 0.94, 0.96], np.float32), _alpha(halo, 1.0) * mask * 0.65)
    return _blend(out, np.array([0.04, 0.04, 0.05], np.float32), _alpha(core, 0.4) * mask * 0.95)


def _dent(arr, rng, sev, mask, spots):
    *_, scale = _frame(mask)
    radius = scale * (0.1 + 0.14 * sev)
    c = _point(spots, rng, within=mask, reach=radius, margin=0.2)
    h, w = mask.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (xs - c[0]) / radius, (ys - c[1]) / radius
    inside = np.sqrt(np.clip(1.0 - (dx * dx + dy * dy), 0.0, 1.0))
    light = rng.uniform(0, 2 * np.pi)
    slope = dx * np.cos(light) + dy * np.sin(light)  # a bowl: lit on one side, shadowed opposite
    shade = (0.3 + 0.45 * sev) * np.clip(slope * 1.5, -1, 1) * inside * mask
    out = arr + shade[..., None]
    crease, cd = _canvas(mask.shape)
    ang = rng.uniform(0, np.pi)
    u = np.array([np.cos(ang), np.sin(ang)])
    line = max(1, round(radius * 0.1))
    cd.line(_xy([c - radius * 0.7 * u, c + radius * 0.1 * u, c + radius * 0.7 * u]), 255, line)
    cd.ellipse([c[0] - radius, c[1] - radius, c[0] + radius, c[1] + radius], None, 160, line)
    dark = _local_tone(arr, mask) < 0.3
    ink = np.array([0.75, 0.75, 0.75] if dark else [0.05, 0.05, 0.05], np.float32)
    out = _blend(out, ink, _alpha(crease, 0.8) * mask * (0.3 + 0.6 * sev))
    return np.clip(out, 0.0, 1.0)


def _tear(arr, rng, sev, mask, spots):
    *_, scale = _frame(mask)
    length = scale * (0.25 + 0.4 * sev)
    width = scale * (0.04 + 0.09 * sev)
    c = _point(spots, rng, within=mask, reach=length * 0.3, margin=0.2)
    ang = rng.uniform(0, np.pi)
    along, across = np.array([np.cos(ang), np.sin(ang)]), np.array([-np.sin(ang), np.cos(ang)])
    t = np.linspace(-0.5, 0.5, 14)
    open_ = width * np.sin(np.pi * (t + 0.5)) * rng.uniform(0.6, 1.2, size=t.size)
    top = [c + along * length * ti + across * (o / 2) for ti, o in zip(t, open_, strict=True)]
    bot = [
        c + along * length * ti - across * (o / 2) * rng.uniform(0.5, 1.1)
        for ti, o in zip(t, open_, strict=True)
    ]
    hole, hd = _canvas(mask.shape)
    hd.polygon(_xy(top + bot[::-1]), 255)
    fray, fd = _canvas(mask.shape)
    for p in top + bot:
        d = across * width * rng.uniform(-0.9, 0.9) + along * width * rng.uniform(-0.4, 0.4)
        fd.line(_xy([p, p + d]), 255, max(1, round(width * 0.15)))
    dark = _local_tone(arr, mask) < 0.3  # torn dark leather shows its pale underside
    lining = np.array([0.8, 0.74, 0.62] if dark else [0.07, 0.06, 0.05], np.float32)
    fibre = np.array([0.92, 0.9, 0.84] if not dark else [0.55, 0.5, 0.42], np.float32)
    out = _blend(arr, fibre, _alpha(fray, 0.5) * mask * (0.5 + 0.4 * sev))
    return _blend(out, lining, _alpha(hole, 0.6) * mask)


def _fading(arr, rng, sev, mask, spots):
    x0, y0, x1, y1, _ = _frame(mask)
    h, w = mask.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    u = ((xs - x0) / max(x1 - x0, 1) - 0.5) * np.cos(ang) + (
        (ys - y0) / max(y1 - y0, 1) - 0.5
    ) * np.sin(ang)
    ramp = np.clip(u * 2.0 + rng.uniform(0.3, 0.6), 0.0, 1.0)  # sun-bleached towards one side
    alpha = ramp * mask * min(0.95, 0.15 + 1.1 * sev)
    grey = _luma(arr)[..., None]
    bleached = np.clip(0.35 * arr + 0.65 * (0.45 * grey + 0.55 * 0.86), 0.0, 1.0)
    return _blend(arr, bleached, alpha)


KIND_DRAWERS: dict[str, Callable] = {
    "scratch": _scratch,
    "scuff": _scuff,
    "stain": _stain,
    "crack": _crack,
    "dent": _dent,
    "tear": _tear,
    "fading": _fading,
}
