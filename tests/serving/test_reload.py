"""Live swap: `POST /admin/reload` (admin only) and the alias poll load a new @champion without a
restart; requests made during the swap are all answered, by the old or the new models; /readyz and
answers show the new versions; a model that fails to load leaves the old ones answering. In a
real server with batching, the alias poll's thread swaps the runner's grader too (BentoML's
blocking client refused that thread: the poll failed every time)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.serving.api_models import (
    auth,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)

INTAKE, ADMIN = auth("k-intake"), auth("k-admin")
ITEM = {"item_id": "r1", "category": "phone", "grade": "B", "new_price": 500, "age_months": 12}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.mktemp("reload-models"))


def register_pricing(home: Path, seed: int, *, broken: bool = False) -> str:
    """Register a new pricing version as @champion (a broken folder when `broken`)."""
    from models.pricing.artifact import save_artifact
    from serving.settings import load_settings
    from tests.pricing_data import fast_config, make_table
    from training.pricing.train import train_pricing_model
    from training.tracking import tracked_run

    settings = load_settings({"REGRADE_HOME": str(home)})
    out = home / "runs" / f"pricing-{seed}"
    if broken:
        folder = out / "model"
        folder.mkdir(parents=True)
        (folder / "pricing.json").write_text("{not json")
    else:
        trained = train_pricing_model(make_table(300, seed=seed), fast_config())
        folder = save_artifact(trained.artifact, out / "model")
    with tracked_run("pricing", out=out, config={}, settings=settings) as run:
        return run.register(folder, "regrade-pricing", promote=True)


def pricing_version(client) -> str:
    return client.get("/readyz").json()["models"]["pricing"]["version"]


def test_admin_reload_swaps_models_without_dropping_requests(home, tmp_path):
    env = service_env(home, REGRADE_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}")
    with running_service(env) as client:
        assert pricing_version(client) == "1"
        assert client.post("/admin/reload", headers=INTAKE).status_code == 403
        new = register_pricing(home, seed=21)
        assert pricing_version(client) == "1"  # nothing changes before the reload

        answers: list[tuple[int, str | None]] = []
        stop = threading.Event()

        def keep_pricing():
            while not stop.is_set():
                response = client.post("/price", json={"items": [ITEM]}, headers=INTAKE)
                version = response.json().get("model_versions", {}).get("pricing", {})
                answers.append((response.status_code, version.get("version")))

        workers = [threading.Thread(target=keep_pricing) for _ in range(3)]
        for worker in workers:
            worker.start()
        while len(answers) < 6:
            stop.wait(0.01)
        reloaded = client.post("/admin/reload", headers=ADMIN)
        after = len(answers)
        while len(answers) < after + 6:
            stop.wait(0.01)
        stop.set()
        for worker in workers:
            worker.join()

        assert reloaded.status_code == 200, reloaded.text
        body = reloaded.json()
        assert body["ok"] and body["changed"] and body["previous"]["pricing"]["version"] == "1"
        assert body["models"]["pricing"]["version"] == new
        assert {status for status, _ in answers} == {200}
        assert {version for _, version in answers} == {"1", new}
        assert answers[-1][1] == new and pricing_version(client) == new

        broken = register_pricing(home, seed=22, broken=True)
        failed = client.post("/admin/reload", headers=ADMIN)
        assert failed.status_code == 500
        assert failed.json()["ok"] is False and "pricing" in failed.json()["error"]
        assert pricing_version(client) == new != broken
        assert client.post("/price", json={"items": [ITEM]}, headers=INTAKE).status_code == 200

        from serving.api.reload import AliasPoller
        from serving.api.service import SLOT
        from serving.settings import load_settings
        from training.tracking import promote

        promote("regrade-pricing", "1", load_settings({"REGRADE_HOME": str(home)}))
        poller = AliasPoller(SLOT, 0)
        assert poller.poll_once() is True and pricing_version(client) == "1"
        assert poller.poll_once() is False  # nothing moved since


def test_the_alias_poll_swaps_the_batching_runners_grader_in_a_real_server(home, tmp_path):
    from serving.settings import load_settings
    from tests.serving.test_live_server import running_server
    from training.tracking import tracked_run

    env = {
        **os.environ,
        **service_env(home, REGRADE_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}"),
        "REGRADE_RELOAD_S": "1",
        "REGRADE_BATCHING": "1",
    }
    with running_server(env, tmp_path / "serve.log") as (client, ready):
        assert ready["batching"] is True
        before = ready["models"]["grader"]["version"]
        settings = load_settings({"REGRADE_HOME": str(home)})
        with tracked_run("grader", out=tmp_path / "run", config={}, settings=settings) as run:
            new = run.register(home / "runs" / "grader" / "model", "regrade-grader", promote=True)
        assert new != before
        deadline = time.monotonic() + 60
        while client.get("/readyz").json()["models"]["grader"]["version"] != new:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        # the worker swaps its runtime only once the runner has loaded the new grader
        graded = client.post("/grade", files=photo_files(toy_photos(home)), headers=INTAKE)
        assert graded.status_code == 200, graded.text
        assert graded.json()["model_versions"]["grader"]["version"] == new
    assert "alias poll: reload failed" not in (tmp_path / "serve.log").read_text()
