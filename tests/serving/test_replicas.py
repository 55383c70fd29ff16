"""Two `regrade serve` replicas on one PostgreSQL database, one photo folder and one MLflow server.

The MLflow server keeps its runs and registry in a PostgreSQL database of its own and serves the
artifacts. The tiny models are registered through it, a second pricing version is promoted, and
two replicas, each with a home (and model cache) of its own, start together on a fresh case
database (both migrate it; the advisory lock makes one do it). A unit then goes through assess
(replica 1), resolve (replica 2), decision (replica 1) and outcome (replica 2), and grader
decisions race across both replicas: one wins, the others get 409 (another decision) or the
winner's answer (the same decision), as for two workers of one replica (docs/persistence.md).
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from mlflow import MlflowClient
from sqlalchemy import text

from models.artifact import ArtifactError
from serving.settings import load_settings
from serving.store.engine import make_engine
from serving.store.migrate import current_revision
from tests.serving.api_models import auth, photo_files, service_env, service_home, toy_photos
from tests.serving.live_services import fresh_database, mlflow_server
from tests.serving.test_live_server import running_servers
from tests.serving.test_migrations import HEAD
from training.tracking import promote, tracked_run

pytestmark = pytest.mark.postgres

ITEM = {"item_id": "rep-1", "category": "phone", "serial_number": "SN-R1", "new_price": 600}
COSTS = {"acquisition_cost": 40, "refurb_cost": 15, "logistics_cost": 10}


class Replicas(NamedTuple):
    """The running replicas and what they share."""

    one: httpx.Client
    two: httpx.Client
    ready: tuple[dict, dict]  # their /readyz answers
    pricing_version: str  # the version promoted through the server
    cases_db: str  # the case database's URL
    work: Path  # the homes of the replicas, the MLflow artifacts
    home: Path  # the home the tiny models were trained in (toy photos)
    mlflow_uri: str


def register_through(uri: str, home: Path, work: Path) -> str:
    """Register the tiny models of `home` through the MLflow server at `uri` (both @champion),
    then the pricing model again as a challenger, promoted: its version."""
    settings = load_settings({"REGRADE_HOME": str(work / "trainer"), "REGRADE_MLFLOW_URI": uri})
    models = [("grader", "regrade-grader"), ("pricing", "regrade-pricing"), ("pricing", None)]
    for kind, name in models:
        out = work / "runs" / f"{kind}-{name is None}"
        with tracked_run(kind, out=out, config={}, settings=settings) as run:
            version = run.register(
                home / "runs" / kind / "model", name or "regrade-pricing", promote=bool(name)
            )
    assert promote("regrade-pricing", settings=settings) == version
    return version


@pytest.fixture(scope="module")
def replicas(postgres_url, tmp_path_factory):
    """Two replicas started together over a fresh case database and an MLflow server."""
    work = tmp_path_factory.mktemp("replicas")
    policy = work / "policy.toml"
    policy.write_text('provenance_required_categories = ["phone"]\n')
    models = tmp_path_factory.getbasetemp() / "service-models"  # shared with other modules
    with ThreadPoolExecutor(1) as pool:
        built = pool.submit(service_home, models)  # trains (unless built) while MLflow starts
        with (
            fresh_database(postgres_url, "regrade_test_mlflow") as mlflow_db,
            mlflow_server(mlflow_db, work / "mlartifacts", work / "mlflow.log") as uri,
            fresh_database(postgres_url) as cases_db,
        ):
            home = built.result()
            version = register_through(uri, home, work)
            shared = {
                "REGRADE_MLFLOW_URI": uri,
                "REGRADE_DATABASE_URL": cases_db,
                "REGRADE_PHOTO_STORE": str(work / "shared-photos"),
                "REGRADE_POLICY": str(policy),
                "REGRADE_BATCHING": "0",  # graded in the API worker (the runner process idles)
            }
            envs = [{**os.environ, **service_env(work / f"replica-{n}", **shared)} for n in (1, 2)]
            logs = [work / f"replica-{n}.log" for n in (1, 2)]
            with running_servers(envs, logs) as servers:
                (one, ready_1), (two, ready_2) = servers
                yield Replicas(one, two, (ready_1, ready_2), version, cases_db, work, home, uri)


def rows(url: str, sql: str, **params) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def test_replicas_load_the_promoted_models_through_the_mlflow_server(replicas):
    cases_db, work, uri = replicas.cases_db, replicas.work, replicas.mlflow_uri
    assert replicas.pricing_version == "2"
    for ready in replicas.ready:
        assert ready["models"]["grader"] == {"name": "regrade-grader", "version": "1"}
        assert ready["models"]["pricing"] == {"name": "regrade-pricing", "version": "2"}
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert client.get_model_version_by_alias("regrade-pricing", "champion").version == "2"
    assert client.get_model_version_by_alias("regrade-pricing", "challenger").version == "2"
    assert not (work / "trainer" / "mlflow.db").exists()  # registered through the server
    assert any((work / "mlartifacts").rglob("artifact.json"))  # the server keeps the artifacts
    # both replicas migrated the one database at once: it is at head, with one version row
    assert current_revision(cases_db) == HEAD
    assert rows(cases_db, "SELECT count(*) FROM alembic_version") == [(1,)]
    # each replica copied the models from the server into its own cache, digests checked
    for n in (1, 2):
        assert (work / f"replica-{n}" / "model-cache" / "regrade-pricing" / "2").is_dir()


def test_a_tampered_cached_copy_is_refused_against_the_servers_digest(replicas):
    work = replicas.work
    settings = load_settings(
        {"REGRADE_HOME": str(work / "replica-2"), "REGRADE_MLFLOW_URI": replicas.mlflow_uri}
    )
    pricing = "models:/regrade-pricing@champion"
    assert settings.resolve_model(pricing).version == "2"
    meta = work / "replica-2" / "model-cache" / "regrade-pricing" / "2" / "artifact.json"
    original = meta.read_text()
    meta.write_text(json.dumps({**json.loads(original), "tampered": True}))
    try:
        with pytest.raises(ArtifactError, match="changed after registration"):
            settings.resolve_model(pricing)
    finally:
        meta.write_text(original)


def race_resolves(clients, case_id: str, decisions: list[dict]) -> list:
    """Post every decision at once, alternating replicas: (decision, status, body) each."""
    start, results = threading.Barrier(len(decisions)), []

    def send(n: int, decision: dict) -> None:
        start.wait(timeout=30)
        answer = clients[n % 2].post(
            f"/reviews/{case_id}/resolve", json=decision, headers=auth("k-grader")
        )
        results.append((decision, answer.status_code, answer.json()))

    threads = [threading.Thread(target=send, args=a) for a in enumerate(decisions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_a_unit_goes_through_both_replicas_as_through_one_service(replicas):
    one, two, cases_db, home = replicas.one, replicas.two, replicas.cases_db, replicas.home
    form = {**ITEM, **COSTS}
    photos = photo_files(toy_photos(home, 3))
    key = {**auth("k-intake"), "Idempotency-Key": "rep-intake-1"}

    # intake on replica 1; the retry of the same request lands on replica 2: the same case
    first = one.post("/assess", files=photos, data=form, headers=key)
    assert first.status_code == 200, first.text
    case = first.json()
    assert case["review_status"] == "open"
    retry = two.post("/assess", files=photos, data=form, headers=key)
    assert retry.status_code == 200, retry.text
    assert retry.json()["case_id"] == case["case_id"]
    case_id = case["case_id"]

    # the photo written by replica 1 is served by replica 2 (one shared folder)
    queued = next(c for c in two.get("/reviews", headers=auth("k-grader")).json())
    assert queued["case_id"] == case_id
    photo = two.get(queued["photos"][0]["url"], headers=auth("k-grader"))
    assert photo.status_code == 200 and photo.content == toy_photos(home, 1)[0]

    # graders race on both replicas: one decision wins, the same one again gets its answer
    win_a = {"grade": "A", "counterfeit": False, "grader_id": "g-1", "note": "genuine"}
    win_b = {"grade": "B", "counterfeit": False, "grader_id": "g-2", "note": "scuffed"}
    results = race_resolves((one, two), case_id, [win_a, win_b, win_a, win_b, win_a, win_b])
    assert {status for _, status, _ in results} <= {200, 409}, results
    winners = {body["final_grade"] for _, status, body in results if status == 200}
    assert len(winners) == 1, results
    winner = winners.pop()
    for decision, status, _ in results:
        assert status == (200 if decision["grade"] == winner else 409)
    assert len({body["updated_at"] for _, s, body in results if s == 200}) == 1
    resolved = rows(cases_db, "SELECT grade FROM review_resolutions WHERE case_id = :c", c=case_id)
    assert resolved == [(winner,)]
    events = "SELECT count(*) FROM case_events WHERE case_id = :c AND kind = 'review_resolved'"
    assert rows(cases_db, events, c=case_id) == [(1,)]

    # the analyst approves on replica 1, the sale is reported on replica 2 (and again on 1)
    pending = two.get("/pricing/pending", headers=auth("k-pricing")).json()
    waiting = next(c for c in pending if c["case_id"] == case_id)
    approve = {"action": "approve", "analyst_id": "p-1"}
    decided = one.post(f"/pricing/{case_id}/decision", json=approve, headers=auth("k-pricing"))
    assert decided.status_code == 200, decided.text
    assert decided.json()["final_price"] == pytest.approx(waiting["recommended_price"])
    sold = {"case_id": case_id, "sold_price": 120.0, "days_listed": 4, "sold": 1}
    stored = two.post("/outcomes", json=sold, headers=auth("k-admin"))
    assert stored.status_code == 200, stored.text
    again = one.post("/outcomes", json=sold, headers=auth("k-admin"))
    assert again.json()["id"] == stored.json()["id"]

    counts = "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM idempotency_keys), "
    counts += "(SELECT count(*) FROM pricing_decisions), (SELECT count(*) FROM outcomes)"
    assert rows(cases_db, counts) == [(1, 1, 1, 1)]
    assert (
        one.get(f"/cases/{case_id}", headers=auth("k-admin")).json()
        == two.get(f"/cases/{case_id}", headers=auth("k-admin")).json()
    )
