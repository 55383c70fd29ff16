"""The `Idempotency-Key` header of `/assess`: checked, and the request body hashed with it.

A key is 1 to 200 visible ASCII characters (a UUID is a good one); a key too long, empty, with
spaces or control characters, or sent twice is a 400 naming the header. The body's hash covers
the item fields as posted and every photo (its file name and bytes, in order), so a retry with
the same photos and fields matches and any other body does not. What a key then does is the
store's (`serving.store.idempotency`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serving.errors import IntakeError
from serving.store.idempotency import IntakeKey

HEADER = "Idempotency-Key"
MAX_KEY = 200
"""Longest key accepted, in characters."""
CHUNK = 1 << 20


def header_key(values: Sequence[str]) -> str | None:
    """The request's idempotency key, from every value of its header (None when absent).

    Raises:
        IntakeError: naming the header: sent more than once, empty, too long, or with a
            character other than visible ASCII.
    """
    if not values:
        return None
    if len(values) > 1:
        raise IntakeError(HEADER, "send one Idempotency-Key header, not several")
    key = values[0]
    if not key:
        raise IntakeError(HEADER, "must not be empty")
    if len(key) > MAX_KEY:
        raise IntakeError(HEADER, f"{len(key)} characters, at most {MAX_KEY}")
    if not all("!" <= c <= "~" for c in key):
        raise IntakeError(HEADER, "only visible ASCII characters (no spaces or control codes)")
    return key


def body_sha256(
    fields: dict[str, Any], photos: Sequence[Path] | Sequence[bytes], names: Sequence[str | None]
) -> str:
    """The SHA-256 (hex) of a posted unit: its fields as JSON, then each photo's name and bytes
    (`photos` the files, or their bytes: the same hash)."""
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode())
    for pos, photo in enumerate(photos):
        name = names[pos] if pos < len(names) else None
        digest.update(f"\0photo {pos} {name or ''}\0".encode())
        if isinstance(photo, bytes):
            digest.update(photo)
            continue
        with Path(photo).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def intake_key(
    values: Sequence[str],
    fields: dict[str, Any],
    photos: Sequence[Path] | Sequence[bytes],
    names: Sequence[str | None] | None,
    owner: str = "",
) -> IntakeKey | None:
    """The key and body hash of an `/assess` request, or None when it sent no key.

    Args:
        values: Every value of the request's `Idempotency-Key` header.
        fields: The item fields as posted.
        photos: The posted photos' files (or their bytes), in order.
        names: Their file names.
        owner: The hash of the API key that sent the request: a key is scoped to it.

    Raises:
        IntakeError: a bad `Idempotency-Key` header (see `header_key`).
    """
    key = header_key(values)
    if key is None:
        return None
    return IntakeKey(key, body_sha256(fields, photos, names or []), owner)
