"""The content-addressed photo store: layout, idempotent atomic writes, safe paths."""

from __future__ import annotations

import hashlib
import os

import pytest

from serving.store.photos import PhotoFormatError, PhotoStore, relative_path, sniff
from tests.serving.store_helpers import photo_bytes


def test_photos_are_stored_under_their_sha256(tmp_path):
    store = PhotoStore(tmp_path / "photos")
    assert not store.root.exists()  # nothing is created before the first write
    data = photo_bytes(1, "JPEG", (40, 30))
    digest = hashlib.sha256(data).hexdigest()
    stored = store.put(data)
    assert stored.sha256 == digest
    assert stored.path == tmp_path / "photos" / digest[:2] / f"{digest[2:]}.jpg"
    assert (stored.content_type, stored.size, stored.width, stored.height) == (
        "image/jpeg",
        len(data),
        40,
        30,
    )
    assert store.read(digest, "image/jpeg") == data
    assert relative_path(digest, "image/jpeg") == f"{digest[:2]}/{digest[2:]}.jpg"


def test_the_same_bytes_are_written_once(tmp_path, monkeypatch):
    store = PhotoStore(tmp_path)
    data = photo_bytes(2)
    first = store.put(data)
    mtime = first.path.stat().st_mtime_ns
    writes = []
    monkeypatch.setattr(os, "replace", lambda *a: writes.append(a))
    assert store.put(data) == first
    assert writes == [] and first.path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [first.path.name]


def test_a_damaged_copy_is_replaced(tmp_path):
    store = PhotoStore(tmp_path)
    data = photo_bytes(3)
    stored = store.put(data)
    stored.path.write_bytes(data[:10])
    store.put(data)
    assert store.read(stored.sha256, "image/png") == data


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    store = PhotoStore(tmp_path)

    def broken_replace(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(photo_bytes(4))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("fmt", "content_type", "suffix"),
    [("PNG", "image/png", ".png"), ("JPEG", "image/jpeg", ".jpg"), ("WEBP", "image/webp", ".webp")],
)
def test_the_type_comes_from_the_bytes(tmp_path, fmt, content_type, suffix):
    stored = PhotoStore(tmp_path).put(photo_bytes(5, fmt))
    assert stored.content_type == content_type and stored.path.suffix == suffix


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an image"),
        (b"%PDF-1.4 not a photo", "not an image"),
        (photo_bytes(6, "GIF"), "unsupported image format GIF"),
        ("text", "must be bytes"),
    ],
)
def test_non_photos_are_refused(tmp_path, data, message):
    with pytest.raises(PhotoFormatError, match=message):
        PhotoStore(tmp_path).put(data)
    with pytest.raises(PhotoFormatError):
        sniff(data)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("digest", ["../../etc/passwd", "A" * 64, "0" * 63, ""])
def test_paths_are_only_made_from_digests(tmp_path, digest):
    with pytest.raises(ValueError, match="not a sha256"):
        PhotoStore(tmp_path).path_for(digest, "image/png")


def test_reading_a_missing_photo_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        PhotoStore(tmp_path).read("0" * 64, "image/png")
    with pytest.raises(ValueError, match="not a stored photo type"):
        PhotoStore(tmp_path).path_for("0" * 64, "image/gif")
