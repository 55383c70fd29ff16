"""The metadata block every model artifact carries: `artifact.json` inside the model folder.

Both kinds write the same block beside their own files (the grader's `config.json` and weights,
the pricing model's `pricing.json` and boosters), so any model folder says what it is, which code
and data made it, with which training config, and how it measured: format and version, kind,
git sha, data fingerprint and location, training config, metrics and the time it was made.

It also records the SHA-256 of every other file of the folder (`files`), taken when the block
is written (the last step of saving); `verify_files` checks a folder against it before a model
is loaded, so a changed, truncated or missing file is refused with its name instead of being
served or crashing a worker. Folders saved before digests existed still load, with one warning.
The registry records the digest of `artifact.json` itself at registration (`models.registry`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.kinds import ModelKind

META_FILE = "artifact.json"
SOURCE_FILE = "regrade-source.json"
"""Where a registry model came from, written by the model cache beside the model's files."""
NOT_RECORDED = frozenset({META_FILE, SOURCE_FILE})
"""Files of a model folder that `files` does not cover (the block itself, the cache's note)."""
CHUNK = 1 << 20

log = logging.getLogger(__name__)
_warned: set[str] = set()


class ArtifactError(ValueError):
    """A folder is not a readable artifact of the expected kind; the message names the file."""


class ArtifactMeta(BaseModel):
    """What a model folder is and where it came from.

    Attributes:
        format: The kind's artifact format (`regrade-grader`, `regrade-pricing`).
        format_version: Layout version of the folder.
        created_at: When the artifact was written (UTC, ISO 8601).
        git_sha: The commit of the code that trained it (None outside a git checkout).
        data_fingerprint: SHA-256 of the training data (file bytes, or a dataset's manifest).
        data_path: Where the training data was read from, as given.
        training_config: The run config that trained it.
        metrics: Its evaluation metrics (held-out split of its own run).
        files: SHA-256 of every other file of the folder by its path inside it (None: saved
            before digests were recorded).
    """

    model_config = ConfigDict(extra="forbid")

    format: str
    format_version: int
    created_at: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    git_sha: str | None = None
    data_fingerprint: str | None = None
    data_path: str | None = None
    training_config: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] | None = None

    @classmethod
    def new(cls, kind: ModelKind, **values: Any) -> ArtifactMeta:
        """A block for a new artifact of `kind` (format and version filled in)."""
        return cls(format=kind.artifact_format, format_version=kind.format_version, **values)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(folder: Path | str) -> dict[str, str]:
    """SHA-256 of every file under `folder` (but `NOT_RECORDED`), by its POSIX path inside it."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() not in NOT_RECORDED
    }


def write_meta(folder: Path | str, meta: ArtifactMeta) -> Path:
    """Write `artifact.json` into `folder` (created if needed), with the digests of the files
    already in it (write it last); returns its path."""
    path = Path(folder) / META_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = meta.model_copy(update={"files": file_digests(path.parent)})
    path.write_text(meta.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def verify_files(folder: Path | str, meta: ArtifactMeta | None) -> None:
    """Check every file `meta` recorded against its digest.

    A folder without digests (saved before they were recorded, or without `artifact.json`)
    is let through with one WARNING per folder.

    Raises:
        ArtifactError: a recorded file is missing or its bytes changed; the message names it.
    """
    folder = Path(folder)
    if meta is None or meta.files is None:
        if str(folder) not in _warned:
            _warned.add(str(folder))
            log.warning(
                "%s: no file digests recorded (saved before they were): not verified", folder
            )
        return
    for name, expected in meta.files.items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{path}: missing; {META_FILE} records it")
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactError(
                f"{path}: sha256 {actual[:16]}... does not match {expected[:16]}... recorded in "
                f"{META_FILE}; the file changed after the model was saved (truncated or tampered)"
            )


def read_meta(folder: Path | str, kind: ModelKind) -> ArtifactMeta:
    """The metadata block of a model folder of `kind`.

    Raises:
        ArtifactError: no block, unreadable JSON, or another kind or format version; the
            message names the file.
    """
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: missing; not a {kind.name} model folder")
    try:
        meta = ArtifactMeta.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise ArtifactError(f"{path}: not a valid artifact metadata block: {exc}") from exc
    if meta.format != kind.artifact_format or meta.format_version != kind.format_version:
        raise ArtifactError(
            f"{path}: format {meta.format!r} v{meta.format_version}, expected "
            f"{kind.artifact_format!r} v{kind.format_version}"
        )
    return meta
