"""Data fingerprints for the artifact metadata block: which data trained a model.

A table's fingerprint is the SHA-256 of its bytes. A photo dataset's is the SHA-256 of its
`manifest.csv` bytes (when it has one) followed by one `path<TAB>size` line per image file under
the folder, sorted by path: renaming, adding, removing or resizing a photo changes it, without
reading every image.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from features.images import IMAGE_SUFFIXES
from features.photos import MANIFEST


def file_fingerprint(path: Path | str) -> str:
    """SHA-256 of a file's bytes; of a folder (a table in Parquet parts), SHA-256 of one
    `name<TAB>sha256` line per `*.parquet` part, sorted by name."""
    path = Path(path)
    if path.is_dir():
        lines = (f"{p.name}\t{file_fingerprint(p)}\n" for p in sorted(path.glob("*.parquet")))
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def photo_dataset_fingerprint(root: Path | str) -> str:
    """SHA-256 of a photo dataset: its manifest's bytes, then every image's path and size."""
    root = Path(root)
    digest = hashlib.sha256()
    manifest = root / MANIFEST
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    images = sorted(
        (path.relative_to(root).as_posix(), path.stat().st_size)
        for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )
    for name, size in images:
        digest.update(f"{name}\t{size}\n".encode())
    return digest.hexdigest()
