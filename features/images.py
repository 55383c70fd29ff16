"""Decoding intake photos safely: size limits, truncation, EXIF orientation, RGB.

The same function reads photos for validation, training and serving.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "MPO")
MAX_PIXELS = 40_000_000
"""Largest image (width x height) accepted; bigger ones are treated as decompression bombs."""


class ImageError(ValueError):
    """A photo that cannot be used: not an image, truncated, unsupported or too large."""


def open_image(source: Path | str | bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a photo fully and return it as RGB, upright per its EXIF orientation.

    Args:
        source: A file path or the file's bytes.
        max_pixels: Refuse images with more pixels than this before decoding them.

    Raises:
        ImageError: with a message saying what is wrong.
    """
    data = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(data)
            if image.format not in ALLOWED_FORMATS:
                raise ImageError(f"unsupported image format {image.format}: use JPEG, PNG or WebP")
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"image is {width}x{height} pixels, over the limit of {max_pixels:,} "
                    "(possible decompression bomb)"
                )
            if width < 1 or height < 1:
                raise ImageError("image has no pixels")
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError("not an image (JPEG, PNG or WebP expected)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image too large (possible decompression bomb): {exc}") from exc
    except FileNotFoundError as exc:
        raise ImageError("file not found") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        text = str(exc)
        lowered = text.lower()
        if "truncated" in lowered or "broken data stream" in lowered or "incomplete" in lowered:
            raise ImageError(f"truncated image: {text}") from exc
        raise ImageError(f"unreadable image: {text}") from exc
    image = ImageOps.exif_transpose(image)
    return image.convert("RGB")
