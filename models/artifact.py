"""The metadata block every model artifact carries: `artifact.json` inside the model folder.

Both kinds write the same block beside their own files (the grader's `config.json` and weights,
the pricing model's `pricing.json` and boosters), so any model folder says what it is, which code
and data made it, with which training config, and how it measured: format and version, kind,
git sha, data fingerprint and location, training config, metrics and the time it was made.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.kinds import ModelKind

META_FILE = "artifact.json"


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

    @classmethod
    def new(cls, kind: ModelKind, **values: Any) -> ArtifactMeta:
        """A block for a new artifact of `kind` (format and version filled in)."""
        return cls(format=kind.artifact_format, format_version=kind.format_version, **values)


def write_meta(folder: Path | str, meta: ArtifactMeta) -> Path:
    """Write `artifact.json` into `folder` (created if needed); returns its path."""
    path = Path(folder) / META_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(meta.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


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
