"""The in-process service the reliability tests call: tiny models, SQLite, an admin key.

`admin_service` yields a started service (`TestClient` over `Regrade.to_asgi()`, lifespan run)
with a few stored cases, so the case, photo and queue routes have something to answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from starlette.testclient import TestClient

from tests.serving.api_models import (
    auth,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)

ADMIN = auth("k-admin")
ITEM = {"item_id": "u-rel", "category": "phone", "acquisition_cost": 40, "source": "return"}


@dataclass
class Service:
    """A started in-process service and what a test needs to know about it."""

    client: TestClient
    home: Path
    database_url: str
    case: dict


def admin_service(root: Path, models: Path) -> Iterator[Service]:
    """A started service over a fresh SQLite database under `root`, with one stored case.

    Args:
        root: A folder of the test's own (the database).
        models: The folder `service_home` builds the tiny models under (shared per process).
    """
    home = service_home(models)
    url = f"sqlite:///{root / 'regrade.db'}"
    metrics = root / "prometheus"  # what `bentoml serve` sets up for /metrics
    metrics.mkdir(exist_ok=True)
    env = service_env(home, REGRADE_DATABASE_URL=url, PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with running_service(env) as client:
        answer = client.post(
            "/assess", files=photo_files(toy_photos(home, 2)), data=ITEM, headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        yield Service(client, home, url, answer.json())
