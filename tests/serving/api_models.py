"""Tiny champion models for the service tests, trained and registered once per process.

`service_home(root)` makes a REGRADE_HOME with an MLflow store holding a tiny grader (32 px toy
photos, 1 epoch) and a small pricing model, both `@champion`, and returns the home with a few
toy photos to post. Tests may import training/ (runtime code may not).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image
from starlette.testclient import TestClient

SIZE = 32
KEYS = {
    "k-intake": ["intake"],
    "k-grader": ["grader"],
    "k-pricing": ["pricing"],
    "k-admin": ["admin"],
    "k-nobody": ["grader", "pricing"],
}
_BUILT: dict[Path, Path] = {}
_BUILT_APP: dict[str, object] = {}


def _train_and_register(home: Path, image_size: int, backbone: str, tta: str) -> None:
    from serving.settings import load_settings
    from tests.pricing_data import fast_config, make_table
    from training.grader.config import GraderConfig
    from training.grader.data import load_photoset
    from training.grader.toy import write_toy_dataset
    from training.grader.train import train_grader_model
    from training.pricing.train import train_pricing_model
    from training.tracking import tracked_run

    settings = load_settings({"REGRADE_HOME": str(home)})
    toy = home / "toy"
    write_toy_dataset(toy, n_items=36, photos_per_item=2, image_size=image_size)
    data, problems = load_photoset(toy, image_size)
    assert problems == []
    config = GraderConfig(
        epochs=1, image_size=image_size, backbone=backbone, batch_items=8,
        reference_bank_size=32, tta=tta,
    )  # fmt: skip
    with tracked_run("grader", out=home / "runs" / "grader", config={}, settings=settings) as run:
        result = train_grader_model(config, data, home / "runs" / "grader" / "model")
        run.register(result.model_dir, "regrade-grader", promote=True)

    from models.pricing.artifact import save_artifact

    trained = train_pricing_model(make_table(400, seed=1), fast_config())
    folder = save_artifact(trained.artifact, home / "runs" / "pricing" / "model")
    with tracked_run("pricing", out=home / "runs" / "pricing", config={}, settings=settings) as run:
        run.register(folder, "regrade-pricing", promote=True)


def service_home(
    root: Path,
    *,
    image_size: int = SIZE,
    backbone: str = "resnet10t_quarter",
    tta: str = "none",
) -> Path:
    """A REGRADE_HOME under `root` with tiny @champion models (built once per process).

    The defaults train fast; the benchmark asks for the production architecture and size
    (trained for speed measurements, not accuracy).
    """
    root = Path(root)
    if root not in _BUILT:
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        _train_and_register(home, image_size, backbone, tta)
        _BUILT[root] = home
    return _BUILT[root]


def service_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment a service over `home` runs with (its own database per call site)."""
    return {
        "REGRADE_HOME": str(home),
        "REGRADE_API_KEYS": json.dumps(KEYS),
        **extra,
    }


def review_env(home: Path, work: Path, **extra: str) -> dict[str, str]:
    """`service_env` with a SQLite database in `work` and a policy under which category "unit"
    needs a verified sale (there is no ledger, so such a unit goes to review)."""
    policy = work / "policy.toml"
    policy.write_text('provenance_required_categories = ["unit"]\n')
    return service_env(
        home, REGRADE_DATABASE_URL=f"sqlite:///{work / 'regrade.db'}", REGRADE_POLICY=str(policy),
        **extra,
    )  # fmt: skip


def toy_photos(home: Path, n: int = 3, fmt: str = "JPEG") -> list[bytes]:
    """`n` toy photos of one item, encoded as `fmt`."""
    out = []
    for path in sorted((home / "toy" / "images").glob("*.png"))[:n]:
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, format=fmt)
        out.append(buffer.getvalue())
    return out


def auth(key: str) -> dict[str, str]:
    """The Authorization header for `key`."""
    return {"Authorization": f"Bearer {key}"}


def _app():
    """The service's ASGI app, built once per process (BentoML's metrics register globally)."""
    if "app" not in _BUILT_APP:
        from serving.api.service import Regrade

        _BUILT_APP["app"] = Regrade.to_asgi()
    return _BUILT_APP["app"]


@contextmanager
def running_service(env: dict[str, str]) -> Iterator[TestClient]:
    """An in-process service (lifespan run) with `env` set while it exists."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with TestClient(_app()) as client:
            yield client
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def photo_files(photos: list[bytes], kind: str = "image/jpeg") -> list[tuple]:
    """Multipart `photos` entries for httpx."""
    return [("photos", (f"p{i}.jpg", data, kind)) for i, data in enumerate(photos)]


def count_cases(database_url: str) -> int:
    """Rows in the cases table."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM cases")).scalar_one())
    finally:
        engine.dispose()
