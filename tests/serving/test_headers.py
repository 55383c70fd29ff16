"""Issue 25, finding 11: two Authorization headers are refused (400, the header named), never
one of them picked; and each regrade home keeps its own Prometheus multiprocess folder, so a
second `regrade serve` on the host does not wipe the first one's metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.api.auth import ApiKeyAuth, actor_in
from serving.settings import load_settings
from tests.conftest import REPO
from training.cli import serve

KEYS = {"k-grader": ["grader"], "k-admin": {"roles": ["admin"], "name": "ops"}}


class _Slot:
    """What `ApiKeyAuth` reads of a runtime slot: the settings in force."""

    settings = load_settings({"REGRADE_API_KEYS": json.dumps(KEYS)})


def _who(request):
    found = actor_in(request.scope)
    return PlainTextResponse(str(found))


def _client() -> TestClient:
    app = Starlette(
        routes=[Route("/reviews", _who), Route("/admin/reload", _who, methods=["POST"])]
    )
    return TestClient(ApiKeyAuth(app, _Slot()))


def test_two_authorization_headers_are_refused_naming_the_header():
    client = _client()
    one = client.get("/reviews", headers={"Authorization": "Bearer k-grader"})
    assert one.status_code == 200 and one.text.startswith("grader:")
    for pair in (("k-grader", "k-admin"), ("nobody", "k-admin"), ("k-admin", "k-admin")):
        headers = [("Authorization", f"Bearer {key}") for key in pair]
        twice = client.post("/admin/reload", headers=headers)
        assert twice.status_code == 400, pair
        assert twice.json() == {
            "error": "send one Authorization header, not several",
            "field": "Authorization",
        }


def test_a_named_key_is_the_actor_of_its_requests():
    client = _client()
    answer = client.post("/admin/reload", headers={"Authorization": "Bearer k-admin"})
    assert answer.status_code == 200 and answer.text.startswith("ops:")
    assert "k-admin" not in answer.text


def _pinned_env(home: Path) -> dict[str, str]:
    """The environment `regrade serve` hands `bentoml serve` for a home (this one's restored)."""
    with mock.patch.dict(os.environ):
        os.environ["REGRADE_HOME"] = str(home)
        os.environ.pop("BENTOML_HOME", None)
        serve._pin_paths(load_settings())
        return dict(os.environ)


def test_each_home_keeps_its_own_prometheus_folder(tmp_path):
    folders = []
    for name in ("one", "two"):
        env = _pinned_env(tmp_path / name)
        code = (
            "from bentoml._internal.configuration.containers import BentoMLContainer as c;"
            "print(c.prometheus_multiproc_dir.get())"
        )
        found = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
            check=True, timeout=120,
        )  # fmt: skip
        folders.append(Path(found.stdout.strip().splitlines()[-1]))
    assert folders[0] != folders[1]
    assert folders[0].is_relative_to(tmp_path / "one" / "bentoml")
    assert folders[1].is_relative_to(tmp_path / "two" / "bentoml")
