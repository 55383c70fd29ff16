"""Shared test helpers: tiny images and tables made inside each test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("REGRADE_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


def write_image(path: Path, *, size=(32, 24), mode="RGB", fmt=None, seed=0, exif=None) -> Path:
    """Write a small random image; format from the suffix unless `fmt` is given."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = rng.integers(0, 255, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode=mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(path, format=fmt, **kwargs)
    return path


@pytest.fixture(scope="session")
def mlflow_home(tmp_path_factory) -> Path:
    """One MLflow store for the whole session: creating a SQLite store takes seconds.

    Tests that register models use names of their own so they do not see each other.
    """
    return tmp_path_factory.mktemp("regrade-home")


@pytest.fixture
def settings(mlflow_home):
    """Settings whose home (database, MLflow store, runs, cache) is the session's store."""
    from serving.settings import load_settings

    return load_settings({"REGRADE_HOME": str(mlflow_home)})


@pytest.fixture
def real_data() -> Path:
    """The public real data sets, or a skip saying why they are not here."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder not found ({REAL_DATA.name}); set REGRADE_REAL_DATA")
    return REAL_DATA
