"""Auth on every route: no key or an unknown key 401, a key without the role 403, admin passes."""

from __future__ import annotations

import pytest

from tests.serving.api_models import auth, running_service, service_env, service_home

SHA = "0" * 64
# (method, path, a key with the role, a key without it or None when every role may call it)
ROUTES = [
    ("POST", "/grade", "k-intake", "k-grader"),
    ("POST", "/price", "k-pricing", "k-grader"),
    ("POST", "/assess", "k-intake", "k-pricing"),
    ("GET", "/reviews", "k-grader", "k-intake"),
    ("POST", "/reviews/c1/resolve", "k-grader", "k-pricing"),
    ("GET", "/pricing/pending", "k-pricing", "k-grader"),
    ("POST", "/pricing/c1/decision", "k-pricing", "k-intake"),
    ("POST", "/outcomes", "k-intake", "k-nobody"),
    ("GET", f"/photos/{SHA}", "k-grader", None),
    ("GET", "/cases/c1", "k-pricing", None),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    db = tmp_path_factory.mktemp("auth") / "regrade.db"
    with running_service(service_env(home, REGRADE_DATABASE_URL=f"sqlite:///{db}")) as client:
        yield client


def call(client, method, path, headers=None):
    if method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, json={}, headers=headers)


@pytest.mark.parametrize(("method", "path", "good", "wrong"), ROUTES)
def test_every_route_needs_a_key_with_its_role(client, method, path, good, wrong):
    missing = call(client, method, path)
    assert missing.status_code == 401 and "API key" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert call(client, method, path, auth("not-a-key")).status_code == 401
    assert call(client, method, path, {"Authorization": "Basic k-admin"}).status_code == 401
    if wrong is not None:
        refused = call(client, method, path, auth(wrong))
        assert refused.status_code == 403 and path.split("/")[1] in refused.json()["error"]
    for key in (good, "k-admin"):
        assert call(client, method, path, auth(key)).status_code not in (401, 403), key


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/docs", "/docs.json"])
def test_probes_metrics_and_docs_are_open(client, path):
    assert client.get(path, follow_redirects=False).status_code in (200, 307)


def test_an_unlisted_route_still_needs_a_key(client):
    assert client.get("/schema.json").status_code == 401
