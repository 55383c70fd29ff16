"""Broken copies of the tiny service models: NaN weights, flipped bytes, truncated files.

Faults are made on copies under the test's own folder; the session's shared models
(`tests.serving.api_models.service_home`) are never touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from models.artifact import META_FILE, read_meta, write_meta
from models.kinds import GRADER


def copy_model(home: Path, kind: str, dst: Path) -> Path:
    """A copy of the service home's `kind` model folder (as trained and registered) at `dst`."""
    return Path(shutil.copytree(home / "runs" / kind / "model", dst))


def nan_weights(folder: Path) -> Path:
    """Overwrite every floating weight of a grader folder with NaN, then record the new
    digests (a model that diverged and was saved as such, not a tampered one)."""
    import torch
    from safetensors.torch import load_file, save_file

    path = folder / "weights.safetensors"
    state = load_file(str(path))
    nan = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
        for k, v in state.items()
    }
    save_file(nan, str(path))
    write_meta(folder, read_meta(folder, GRADER))
    return folder


def flip_byte(path: Path, at: int | None = None) -> Path:
    """Change one byte of a file in place (the middle one by default)."""
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to `keep` of its length (an interrupted copy)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def forget_digests(folder: Path) -> Path:
    """Make a folder look saved before digests were recorded (no `files` in artifact.json)."""
    path = folder / META_FILE
    meta = json.loads(path.read_text())
    meta.pop("files", None)
    path.write_text(json.dumps(meta, indent=2))
    return folder
