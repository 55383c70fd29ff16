"""Content-addressed photo files: the bytes of a photo live at a path made of their sha256.

`PhotoStore.put` writes `ab/cdef....<ext>` under the store's root (the first two hex digits of
the sha256 are the folder, the rest the file name, the extension from the image format read
from the bytes, never from what a client claims). Writes are atomic (a temporary file renamed
into place) and idempotent: the same bytes are stored once. Nothing is created until the first
`put`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from PIL import Image, UnidentifiedImageError

CONTENT_TYPES: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
}
"""Pillow format -> (content type, file extension) of the photos the store accepts."""

EXTENSIONS: dict[str, str] = {ctype: ext for ctype, ext in CONTENT_TYPES.values()}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PhotoFormatError(ValueError):
    """The bytes are not a JPEG, PNG or WebP image."""


class PhotoHeader(NamedTuple):
    """What an image's header says: its content type and pixel size."""

    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class StoredPhoto:
    """A photo in the store.

    Attributes:
        sha256: Hex digest of the bytes; the photo's identity.
        content_type: image/jpeg, image/png or image/webp.
        size: Number of bytes.
        width: Pixels across, from the image header.
        height: Pixels down, from the image header.
        path: Where the bytes are.
    """

    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    path: Path


def sniff(data: bytes) -> PhotoHeader:
    """The content type and pixel size of an image, read from its header only.

    Raises:
        PhotoFormatError: the bytes are not a JPEG, PNG or WebP image.
    """
    if not isinstance(data, bytes | bytearray):
        raise PhotoFormatError(f"a photo must be bytes, got {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
    except Image.DecompressionBombError as exc:
        raise PhotoFormatError(f"image too large (possible decompression bomb): {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PhotoFormatError("not an image (JPEG, PNG or WebP expected)") from exc
    if fmt not in CONTENT_TYPES:
        raise PhotoFormatError(f"unsupported image format {fmt}: use JPEG, PNG or WebP")
    return PhotoHeader(CONTENT_TYPES[fmt][0], width, height)


def relative_path(sha256: str, content_type: str) -> str:
    """A photo's path under a store's root, with forward slashes (e.g. `ab/cdef....jpg`).

    Raises:
        ValueError: `sha256` is not 64 lower-case hex digits, or the type is not a photo's.
    """
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    if content_type not in EXTENSIONS:
        raise ValueError(f"not a stored photo type: {content_type!r}")
    return f"{sha256[:2]}/{sha256[2:]}{EXTENSIONS[content_type]}"


class PhotoStore:
    """Photo files under one root folder, addressed by the sha256 of their bytes."""

    def __init__(self, root: Path | str):
        """Use `root` (created on the first write) as the store's folder."""
        self.root = Path(root)

    def path_for(self, sha256: str, content_type: str) -> Path:
        """Where the photo with this digest and type is (or would be) stored."""
        return self.root / relative_path(sha256, content_type)

    def put(self, data: bytes, header: PhotoHeader | None = None) -> StoredPhoto:
        """Store the bytes of a photo unless the same bytes are already stored.

        Args:
            data: The photo's bytes.
            header: Its type and size when the caller has read them (else `sniff` reads them).

        Raises:
            PhotoFormatError: the bytes are not a JPEG, PNG or WebP image.
        """
        content_type, width, height = header or sniff(data)
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256, content_type)
        if not (path.is_file() and path.stat().st_size == len(data)):
            _write_atomic(path, data)
        return StoredPhoto(sha256, content_type, len(data), width, height, path)

    def read(self, sha256: str, content_type: str) -> bytes:
        """The stored bytes of a photo.

        Raises:
            FileNotFoundError: no photo with this digest and type is stored.
            ValueError: the digest is malformed.
        """
        return self.path_for(sha256, content_type).read_bytes()

    def exists(self, sha256: str, content_type: str) -> bool:
        """Whether the photo's file is present."""
        return self.path_for(sha256, content_type).is_file()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write into a temporary file next to `path`, flush it to disk, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
