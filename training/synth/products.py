"""Procedural drawings of the four product categories, each carrying its brand's mark.

`draw_product` draws one unit on a square transparent canvas in its own frame (upright, centred):
a phone seen from the back, a sneaker from the side, a handbag from the front, a watch face on
its strap. Colours vary per unit; the brand mark (genuine or fake) sits where a buyer looks for
it. A copy also gets the build a little wrong (`MarkFlaws.build`): a phone's camera module too
big with a lens too many, a sneaker's sole too thick, a handbag's handle too tall and thin, a
watch's bezel ring too heavy; its stitching flaws show on the product's seams too. The masks
returned say where damage may land (the whole product, or a watch's crystal for cracks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training.synth.brandmark import STITCH_PITCH, MarkFlaws, render_mark, stitch_dashes

PALETTES: dict[str, list[tuple[float, float, float]]] = {
    "phone": [
        (0.1, 0.1, 0.11),
        (0.9, 0.9, 0.88),
        (0.72, 0.74, 0.77),
        (0.2, 0.3, 0.5),
        (0.6, 0.15, 0.17),
        (0.3, 0.45, 0.37),
        (0.86, 0.76, 0.62),
    ],
    "sneaker": [
        (0.93, 0.93, 0.92),
        (0.12, 0.12, 0.13),
        (0.75, 0.2, 0.2),
        (0.2, 0.35, 0.65),
        (0.55, 0.6, 0.45),
        (0.85, 0.7, 0.3),
        (0.6, 0.6, 0.63),
    ],
    "handbag": [
        (0.45, 0.27, 0.14),
        (0.75, 0.55, 0.35),
        (0.12, 0.11, 0.11),
        (0.55, 0.1, 0.14),
        (0.18, 0.22, 0.38),
        (0.85, 0.8, 0.7),
        (0.3, 0.38, 0.3),
    ],
    "watch": [(0.78, 0.79, 0.8), (0.8, 0.65, 0.35), (0.15, 0.15, 0.16), (0.6, 0.45, 0.4)],
}
"""Base colours per category (a watch's are its case), jittered per unit."""
STRAPS = [(0.35, 0.2, 0.1), (0.1, 0.09, 0.09), (0.6, 0.42, 0.25), (0.2, 0.25, 0.4), (0.7, 0.7, 0.7)]
DIALS = [(0.95, 0.95, 0.93), (0.1, 0.1, 0.12), (0.15, 0.25, 0.45), (0.2, 0.35, 0.25)]


@dataclass
class Product:
    """One unit drawn in its own frame.

    Attributes:
        image: RGBA drawing without its brand mark, transparent around the product.
        mark: The brand mark (RGBA), a raised badge laid over the product after any damage.
        regions: Boolean masks where damage may land: "object", plus per-kind masks
            (e.g. "crack" on a watch's crystal).
        mark_centre: Centre of the brand mark in canvas pixels.
        mark_size: Side of the brand mark in canvas pixels.
        mark_home: Where the brand's standard puts the mark (a fake's may be off it).
        home_size: The standard side of the mark (a fake's may be larger).
    """

    image: Image.Image
    mark: Image.Image
    regions: dict[str, np.ndarray]
    mark_centre: tuple[float, float]
    mark_size: float
    mark_home: tuple[float, float]
    home_size: float

    def with_mark(self, image: Image.Image | None = None) -> Image.Image:
        """The product (or a damaged copy of it) with its mark laid on."""
        out = (image if image is not None else self.image).copy()
        corner = (
            round(self.mark_centre[0] - self.mark.width / 2),
            round(self.mark_centre[1] - self.mark.height / 2),
        )
        out.alpha_composite(self.mark, corner)
        return out


def _rgb(c, a: int = 255) -> tuple[int, int, int, int]:
    return (*(round(255 * min(max(float(v), 0.0), 1.0)) for v in c), a)


def _jitter(rng: np.random.Generator, colour, amount: float = 0.06):
    return tuple(np.clip(np.asarray(colour) + rng.normal(0, amount, 3), 0, 1))


def _shade(c, f: float):
    return tuple(np.clip(np.asarray(c) * f, 0, 1))


def _smooth(points, rounds: int = 2) -> list[tuple[float, float]]:
    """Round a closed polygon's corners (Chaikin's corner cutting)."""
    pts = np.asarray(points, float)
    for _ in range(rounds):
        nxt = np.roll(pts, -1, axis=0)
        pts = np.stack([0.75 * pts + 0.25 * nxt, 0.25 * pts + 0.75 * nxt], 1).reshape(-1, 2)
    return [tuple(q) for q in pts]


def _seam(draw, path, n, flaws: MarkFlaws, rng, colour, closed=False) -> None:
    """A stitched seam along `path` (pixels); a fake's pitch and irregularity show here too."""
    path = np.asarray(path, float)
    if not closed:  # stitch_dashes walks a closed path: go out and stop halfway
        path = np.concatenate([path, path[::-1][1:-1]])
    pitch = STITCH_PITCH * 0.22 * n * flaws.stitch_pitch
    dashes = stitch_dashes(path, pitch, flaws.stitch_jitter, rng)
    ink, width = _rgb(colour), max(1, round(n * 0.006))
    for a, b in dashes if closed else dashes[: len(dashes) // 2]:
        draw.line([tuple(a), tuple(b)], ink, width)


def _phone(draw, n, rng, flaws, mark_rng):
    body = _jitter(rng, PALETTES["phone"][int(rng.integers(len(PALETTES["phone"])))])
    w = n * rng.uniform(0.22, 0.25)
    box = [n / 2 - w, n * 0.05, n / 2 + w, n * 0.95]
    draw.rounded_rectangle(box, radius=n * 0.07, fill=_rgb(body))
    draw.rounded_rectangle(
        box, radius=n * 0.07, outline=_rgb(_shade(body, 0.7)), width=round(n * 0.01)
    )
    side = n * 0.16 * (1 + 0.3 * flaws.build)  # a copy's camera module is too big
    cam = [n / 2 - w + n * 0.04, n * 0.09, n / 2 - w + n * 0.04 + side, n * 0.09 + side]
    draw.rounded_rectangle(cam, radius=n * 0.03, fill=_rgb(_shade(body, 0.75)))
    lenses = [(cam[0] + n * 0.045, cam[1] + n * 0.045), (cam[0] + n * 0.045, cam[3] - n * 0.045)]
    if flaws.build > 0:  # ... and has a lens too many
        lenses.append((cam[2] - n * 0.045, cam[3] - n * 0.045))
    for cx, cy in lenses:
        r = n * 0.028
        draw.ellipse(
            [cx - r, cy - r, cx + r, cy + r],
            fill=_rgb((0.05, 0.05, 0.07)),
            outline=_rgb((0.5, 0.5, 0.55)),
            width=round(n * 0.006),
        )
    fx, fy = cam[2] - n * 0.035, cam[1] + n * 0.04
    draw.ellipse(
        [fx - n * 0.012, fy - n * 0.012, fx + n * 0.012, fy + n * 0.012],
        fill=_rgb((0.95, 0.9, 0.7)),
    )
    return (n / 2, n * 0.55), n * 0.3, {}


def _sneaker(draw, n, rng, flaws, mark_rng):
    upper = _jitter(rng, PALETTES["sneaker"][int(rng.integers(len(PALETTES["sneaker"])))])
    accent = _jitter(rng, PALETTES["sneaker"][int(rng.integers(len(PALETTES["sneaker"])))], 0.1)
    sole = _jitter(
        rng, [(0.95, 0.94, 0.9), (0.2, 0.2, 0.2), (0.7, 0.5, 0.3)][int(rng.integers(3))], 0.03
    )

    def p(u, v):
        return (n * (0.05 + 0.9 * u), n * (0.24 + 0.52 * v))

    def shape(points, rounds=2):
        return [p(*q) for q in _smooth(points, rounds)]

    shoe = [(0.03, 0.82), (0.0, 0.55), (0.03, 0.3), (0.1, 0.14), (0.22, 0.22), (0.3, 0.04),
            (0.4, 0.0), (0.46, 0.12), (0.6, 0.3), (0.76, 0.44), (0.9, 0.53), (0.98, 0.64),
            (1.0, 0.78), (0.96, 0.84)]  # fmt: skip
    draw.polygon(shape(shoe), fill=_rgb(upper))
    toe = [(0.74, 0.45), (0.9, 0.53), (0.98, 0.64), (1.0, 0.78), (0.96, 0.84), (0.74, 0.84),
           (0.7, 0.64)]  # fmt: skip
    draw.polygon(shape(toe), fill=_rgb(accent))
    heel = [(0.0, 0.55), (0.03, 0.3), (0.1, 0.3), (0.17, 0.5), (0.17, 0.84), (0.03, 0.82)]
    draw.polygon(shape(heel), fill=_rgb(accent))
    top = 0.12 * flaws.build  # a copy's sole is too thick
    sole_shape = [(0.0, 0.78 - top), (0.5, 0.77 - top), (1.0, 0.74 - top), (1.01, 0.86),
                  (0.96, 0.97), (0.5, 0.99), (0.04, 1.0), (-0.01, 0.9)]  # fmt: skip
    draw.polygon(shape(sole_shape, 1), fill=_rgb(sole))
    draw.line([p(0.01, 0.9), p(0.99, 0.87)], _rgb(_shade(sole, 0.8)), round(n * 0.008))
    lace = (0.95, 0.95, 0.95) if sum(upper) < 1.5 else (0.15, 0.15, 0.15)
    for i in range(6):  # laces across the vamp
        u, v = 0.44 + i * 0.05, 0.12 + i * 0.058
        draw.line([p(u + 0.02, v - 0.045), p(u - 0.025, v + 0.06)], _rgb(lace), round(n * 0.012))
    thread = (0.9, 0.88, 0.8) if sum(upper) < 1.6 else (0.25, 0.22, 0.2)
    _seam(draw, [p(0.04, 0.74), p(0.5, 0.73), p(0.95, 0.7)], n, flaws, mark_rng, thread)
    _seam(draw, [p(0.77, 0.47), p(0.72, 0.64), p(0.76, 0.7)], n, flaws, mark_rng, thread)
    return p(0.45, 0.55), n * 0.25, {}


def _handbag(draw, n, rng, flaws, mark_rng):
    leather = _jitter(rng, PALETTES["handbag"][int(rng.integers(len(PALETTES["handbag"])))])
    dark = _shade(leather, 0.7)
    lift = 0.08 * flaws.build  # a copy's handle is too tall and too thin
    draw.arc(
        [n * 0.3, n * (0.1 - lift), n * 0.7, n * 0.62],
        180,
        360,
        fill=_rgb(dark),
        width=round(n * 0.04 * (1 - 0.4 * min(flaws.build, 1.0))),
    )
    body = [(n * 0.2, n * 0.36), (n * 0.8, n * 0.36), (n * 0.9, n * 0.9), (n * 0.1, n * 0.9)]
    draw.polygon(body, fill=_rgb(leather))
    pitch = n * 0.065 * (1.35 if flaws.stitch_pitch > 1 else 1.0)  # a fake's monogram spacing
    tone = _rgb(_shade(leather, 0.86 if sum(leather) > 0.6 else 1.6))
    for j, y in enumerate(np.arange(n * 0.4, n * 0.88, pitch)):
        for x in np.arange(n * 0.14 + (j % 2) * pitch / 2, n * 0.88, pitch):
            half = n * (0.3 + 0.1 * (y - n * 0.36) / (n * 0.54)) - n * 0.025
            if abs(x - n / 2) < half:  # inside the trapezoid, clear of its seam
                draw.regular_polygon((x, y, n * 0.01), 4, fill=tone)
    flap = [(n * 0.2, n * 0.36), (n * 0.8, n * 0.36), (n * 0.81, n * 0.52)]
    flap += [
        (n * (0.5 + 0.31 * np.cos(t)), n * (0.52 + 0.1 * np.sin(t)))
        for t in np.linspace(0, np.pi, 12)
    ]
    draw.polygon(flap, fill=_rgb(dark))
    thread = (0.9, 0.85, 0.7) if sum(leather) < 1.8 else (0.3, 0.25, 0.2)
    _seam(draw, [(x, y + n * 0.015) for x, y in flap], n, flaws, mark_rng, thread)
    inset = [
        (n * 0.22, n * 0.38),
        (n * 0.78, n * 0.38),
        (n * 0.875, n * 0.88),
        (n * 0.125, n * 0.88),
    ]
    _seam(draw, [*inset, inset[0]], n, flaws, mark_rng, thread)
    return (n / 2, n * 0.7), n * 0.22, {}


def _watch(draw, n, rng, flaws, mark_rng):
    case = _jitter(rng, PALETTES["watch"][int(rng.integers(len(PALETTES["watch"])))], 0.04)
    strap = _jitter(rng, STRAPS[int(rng.integers(len(STRAPS)))], 0.04)
    dial = _jitter(rng, DIALS[int(rng.integers(len(DIALS)))], 0.03)
    draw.rounded_rectangle(
        [n * 0.35, n * 0.01, n * 0.65, n * 0.99], radius=n * 0.05, fill=_rgb(strap)
    )
    thread = (0.85, 0.8, 0.7) if sum(strap) < 1.5 else (0.2, 0.2, 0.2)
    for x in (0.37, 0.63):
        for y0, y1 in ((0.03, 0.2), (0.8, 0.97)):
            _seam(draw, [(n * x, n * y0), (n * x, n * y1)], n, flaws, mark_rng, thread)
    for y in (0.85, 0.9):
        draw.ellipse(
            [n * 0.49, n * y - n * 0.01, n * 0.51, n * y + n * 0.01], fill=_rgb(_shade(strap, 0.4))
        )
    draw.rectangle([n * 0.78, n * 0.47, n * 0.84, n * 0.53], fill=_rgb(_shade(case, 0.85)))
    r, rd = n * 0.31, n * 0.255
    draw.ellipse([n / 2 - r, n / 2 - r, n / 2 + r, n / 2 + r], fill=_rgb(case))
    draw.ellipse(
        [n / 2 - r * 0.92, n / 2 - r * 0.92, n / 2 + r * 0.92, n / 2 + r * 0.92],
        outline=_rgb(_shade(case, 0.75)),
        width=round(n * 0.01 * (1 + 2.5 * flaws.build)),  # a copy's bezel ring is too heavy
    )
    draw.ellipse([n / 2 - rd, n / 2 - rd, n / 2 + rd, n / 2 + rd], fill=_rgb(dial))
    ink = (0.1, 0.1, 0.1) if sum(dial) > 1.5 else (0.92, 0.92, 0.9)
    for k in range(12):
        a = k * np.pi / 6
        u = np.array([np.sin(a), -np.cos(a)])
        draw.line(
            [tuple(n / 2 + u * rd * 0.8), tuple(n / 2 + u * rd * 0.95)], _rgb(ink), round(n * 0.01)
        )
    for length, width in ((0.55, 0.018), (0.85, 0.01)):  # hands stay in the upper half
        a = rng.uniform(-1.2, 1.2)
        tip = n / 2 + np.array([np.sin(a), -np.cos(a)]) * rd * length
        draw.line([(n / 2, n / 2), tuple(tip)], _rgb(ink), round(n * width))
    glass = Image.new("L", (n, n), 0)
    ImageDraw.Draw(glass).ellipse([n / 2 - rd, n / 2 - rd, n / 2 + rd, n / 2 + rd], 255)
    return (n / 2, n * 0.6), n * 0.2, {"crack": np.asarray(glass) > 127}


def _parcel(draw, n, rng, flaws, mark_rng):
    box = _jitter(rng, (0.7, 0.55, 0.4))
    draw.rounded_rectangle([n * 0.15, n * 0.2, n * 0.85, n * 0.8], radius=n * 0.03, fill=_rgb(box))
    return (n / 2, n / 2), n * 0.25, {}


DRAWERS: dict[str, Callable] = {
    "phone": _phone,
    "sneaker": _sneaker,
    "handbag": _handbag,
    "watch": _watch,
}
"""Drawing per category; any other category is drawn as a plain boxed unit."""


def _relief(image: Image.Image) -> Image.Image:
    """Rounded-edge shading and a soft top-to-bottom falloff, so products look solid."""
    n = image.width
    arr = np.asarray(image, np.float32)
    alpha = arr[..., 3] / 255.0
    soft = np.asarray(image.getchannel("A").filter(ImageFilter.GaussianBlur(n * 0.015)), np.float32)
    ramp = np.linspace(1.06, 0.9, n, dtype=np.float32)[:, None]
    arr[..., :3] *= ((0.78 + 0.22 * soft / 255.0) * ramp)[..., None]
    arr[..., 3] = alpha * 255.0
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGBA")


def draw_product(
    category: str,
    brand: str,
    flaws: MarkFlaws,
    rng: np.random.Generator,
    canvas: int,
    mark_rng: np.random.Generator,
    *,
    supersample: int = 2,
) -> Product:
    """Draw one unit of `category` in its own frame.

    Args:
        category: phone, sneaker, handbag or watch (anything else: a plain boxed unit).
        brand: Brand whose mark the product carries.
        flaws: The mark's departures from the brand standard (`MarkFlaws()` for genuine).
        rng: Decides the unit's colours and details.
        canvas: Side of the square canvas in pixels.
        mark_rng: Stitch irregularities of a fake (unused by genuine marks).
        supersample: Drawn at this multiple of `canvas`, then scaled down (smooth edges).

    Returns:
        The drawing and its mark, its damage masks and where the mark goes, at `canvas` pixels.
    """
    big = canvas * supersample
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    home, size, regions = DRAWERS.get(category, _parcel)(draw, big, rng, flaws, mark_rng)
    k = supersample
    side = max(2, round(size * flaws.mark_scale / k))
    mark = render_mark(brand, not flaws.genuine, mark_rng, side, flaws=flaws)
    image = _relief(image.resize((canvas, canvas), Image.LANCZOS))
    regions = {name: mask[k // 2 :: k, k // 2 :: k] for name, mask in regions.items()}
    regions["object"] = np.asarray(image.getchannel("A")) > 127
    home = (home[0] / k, home[1] / k)
    return Product(
        image=image,
        mark=mark,
        regions=regions,
        mark_centre=(
            home[0] + flaws.mark_shift[0] * canvas,
            home[1] + flaws.mark_shift[1] * canvas,
        ),
        mark_size=float(side),
        mark_home=home,
        home_size=size / k,
    )
