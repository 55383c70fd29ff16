"""In-process API tests of every route as the four users call them (tiny @champion models)."""

from __future__ import annotations

import pytest

from serving.store.engine import make_engine
from serving.store.photos import PhotoStore
from serving.store.writes import Store
from tests.serving.api_models import (
    auth,
    photo_files,
    review_env,
    running_service,
    service_home,
    toy_photos,
)

INTAKE, GRADER, PRICING, ADMIN = (auth(k) for k in ("k-intake", "k-grader", "k-pricing", "k-admin"))
WORKED = {"acquisition_cost": 40.0, "refurb_cost": 15.0, "logistics_cost": 10.0}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


@pytest.fixture(scope="module")
def client(home, tmp_path_factory):
    work = tmp_path_factory.mktemp("routes")
    env = review_env(home, work)
    with running_service(env) as client:
        client.database_url = env["REGRADE_DATABASE_URL"]
        yield client


def assess(client, home, **fields):
    data = {"item_id": "u-1", "category": "phone", "new_price": 600, **WORKED, **fields}
    return client.post("/assess", files=photo_files(toy_photos(home)), data=data, headers=INTAKE)


def test_readyz_reports_the_champion_versions_and_docs_are_open(client):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["models"] == {
        "grader": {"name": "regrade-grader", "version": "1"},
        "pricing": {"name": "regrade-pricing", "version": "1"},
    }
    docs = client.get("/docs", follow_redirects=False)
    assert docs.status_code == 200 and 'id="swagger-ui"' in docs.text
    spec = client.get("/docs.json").json()
    for path in ("/grade", "/price", "/assess", "/reviews", "/pricing/pending", "/outcomes"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/assess"]["post"]["requestBody"]["content"]
    assert client.get("/livez").status_code == 200


def test_grade_answers_a_calibrated_grade_for_every_photo(client, home):
    answer = client.post(
        "/grade", files=photo_files(toy_photos(home)), data={"brand": "acme"}, headers=INTAKE
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["grade"] in "ABC" and body["grade"] in body["prediction_set"]
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert body["confidence"] == pytest.approx(body["probabilities"][body["grade"]])
    assert [p["index"] for p in body["photos"]] == [0, 1, 2]
    assert [p["filename"] for p in body["photos"]] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    fake = body["counterfeit"]
    assert fake["flagged"] == (fake["score"] > fake["threshold"])
    assert (body["model_name"], body["model_version"]) == ("regrade-grader", "1")
    assert body["model_versions"]["pricing"]["version"] == "1"


def test_price_applies_the_guardrails_and_explains(client):
    items = [
        {"item_id": "a", "category": "phone", "grade": "B", "new_price": 600.0, **WORKED},
        {"item_id": "b", "category": "sneaker", "grade": "C", "list_price": 70.0, **WORKED},
    ]
    answer = client.post("/price", json={"items": items}, headers=PRICING)
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["items"]
    assert [first["item_id"], second["item_id"]] == ["a", "b"]
    assert first["floor_price"] == pytest.approx(65 / 0.8)  # SPEC: total cost 65, margin 20%
    assert first["ceiling_price"] == pytest.approx(600 * 0.65)
    assert first["margin"] == pytest.approx(first["recommended_price"] - 65)
    assert first["recommended_price"] >= first["floor_price"]
    assert first["price"]["p10"] <= first["price"]["p50"] <= first["price"]["p90"]
    assert first["reasons"] and all(r["message"] for r in first["reasons"])
    assert 0 < len(first["contributions"]) <= 5
    assert second["ceiling_price"] is None  # no new price, no ceiling
    listed = second["list_check"]  # 70 is above cost 65 but below the floor 81.25
    assert {v["code"] for v in listed["violations"]} == {"below_floor"}
    assert listed["margin"] == pytest.approx(5.0) and first["list_check"] is None
    assert first["model_versions"]["pricing"] == {"name": "regrade-pricing", "version": "1"}
    assert client.post("/price", json={"items": items[:1]}, headers=INTAKE).status_code == 200


def test_assess_stores_a_case_with_its_photos(client, home):
    answer = assess(client, home, item_id="u-store", brand="acme")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["item_id"] == "u-store" and body["route"] == body["price"]["route"]
    assert body["price"]["floor_price"] == pytest.approx(65 / 0.8)
    case = client.get(f"/cases/{body['case_id']}", headers=INTAKE).json()
    assert case["grade_result"]["grade"] == body["grade"]["grade"]
    assert case["item"]["acquisition_cost"] == 40.0 and case["brand"] == "acme"
    assert len(case["photos"]) == 3
    photo = client.get(case["photos"][0]["url"], headers=GRADER)
    assert photo.status_code == 200 and photo.content == toy_photos(home)[0]
    assert case["photos"][0]["result"]["index"] == 0
    assert [p["filename"] for p in case["photos"]] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    store = Store(make_engine(client.database_url), PhotoStore(home / "photos"))
    created = store.events(body["case_id"])[0]
    assert created.kind == "case_created" and created.actor.startswith("intake:")
    assert "k-intake" not in created.actor
    store.engine.dispose()


def test_review_resolution_reroutes_and_is_applied_once(client, home):
    case_id = assess(client, home, item_id="u-review", category="unit").json()["case_id"]
    queue = client.get("/reviews", headers=GRADER).json()
    queued = next(c for c in queue if c["case_id"] == case_id)
    assert queued["review_status"] == "open" and queued["route"] == "authenticate"
    assert "provenance_not_verified" in {k["code"] for k in queued["review_kinds"]}
    assert queued["photos"][0]["url"].startswith("/photos/")
    assert queued["grade_result"]["probabilities"]
    decision = {"grade": "A", "counterfeit": False, "grader_id": "g-1", "note": "clean"}
    first = client.post(f"/reviews/{case_id}/resolve", json=decision, headers=GRADER)
    assert first.status_code == 200, first.text
    resolved = first.json()
    assert resolved["review_status"] == "resolved" and resolved["grade"] == "A"
    assert resolved["route"] not in ("review", "authenticate")
    assert resolved["price_result"]["grade"] == "A"
    assert "provenance_not_verified" not in {r["code"] for r in resolved["reasons"]}
    history = client.get("/reviews", params={"status": "resolved"}, headers=GRADER).json()
    assert [c["case_id"] for c in history] == [case_id]
    again = client.post(f"/reviews/{case_id}/resolve", json=decision, headers=GRADER)
    assert again.status_code == 200 and again.json()["updated_at"] == resolved["updated_at"]
    other = {**decision, "grade": "C"}
    conflict = client.post(f"/reviews/{case_id}/resolve", json=other, headers=GRADER)
    assert conflict.status_code == 409
    missing = client.post("/reviews/nope/resolve", json=decision, headers=GRADER)
    assert missing.status_code == 404
    bad = client.post(f"/reviews/{case_id}/resolve", json={**decision, "x": 1}, headers=GRADER)
    assert bad.status_code == 422 and "x" in bad.text


def test_pricing_decision_refuses_below_floor_and_is_applied_once(client, home):
    assessed = assess(client, home, item_id="u-price").json()
    case_id = assessed["case_id"]
    if assessed["review_status"] == "open":  # no price is decided while the grade may change
        early = {"action": "approve", "analyst_id": "p-1"}
        refused = client.post(f"/pricing/{case_id}/decision", json=early, headers=PRICING)
        assert refused.status_code == 409 and "still in review" in refused.json()["error"]
        grade = {"grade": assessed["grade"]["grade"], "counterfeit": False, "grader_id": "g-1"}
        assert client.post(f"/reviews/{case_id}/resolve", json=grade, headers=GRADER).is_success
    pending = client.get("/pricing/pending", headers=PRICING)
    case = next(c for c in pending.json() if c["case_id"] == case_id)
    floor = case["floor_price"]
    low = {"action": "override", "price": floor - 1, "reason": "clear it", "analyst_id": "p-1"}
    refused = client.post(f"/pricing/{case_id}/decision", json=low, headers=PRICING)
    assert refused.status_code == 422 and refused.json()["floor_price"] == pytest.approx(floor)
    approve = {"action": "approve", "analyst_id": "p-1"}
    done = client.post(f"/pricing/{case_id}/decision", json=approve, headers=PRICING)
    assert done.status_code == 200, done.text
    assert done.json()["final_price"] == pytest.approx(case["recommended_price"])
    again = client.post(f"/pricing/{case_id}/decision", json=approve, headers=PRICING)
    assert again.status_code == 200 and again.json()["updated_at"] == done.json()["updated_at"]
    high = {**low, "price": floor + 50}
    assert (
        client.post(f"/pricing/{case_id}/decision", json=high, headers=PRICING).status_code == 409
    )


def test_outcomes_are_stored_once_and_checked(client, home):
    case_id = assess(client, home, item_id="u-sold").json()["case_id"]
    sold = {"case_id": case_id, "sold_price": 118.0, "days_listed": 6, "sold": True}
    first = client.post("/outcomes", json=sold, headers=INTAKE)
    assert first.status_code == 200, first.text
    assert first.json()["item_id"] == "u-sold" and first.json()["sold"] == 1
    again = client.post("/outcomes", json=sold, headers=ADMIN)
    assert again.json()["id"] == first.json()["id"]
    by_item = {"item_id": "u-sold", "sold_price": None, "days_listed": 30, "sold": False}
    assert client.post("/outcomes", json=by_item, headers=INTAKE).status_code == 200
    unpriced = client.post("/outcomes", json={**sold, "sold_price": None}, headers=INTAKE)
    assert unpriced.status_code == 422 and unpriced.json()["field"] == "sold_price"
    negative = client.post("/outcomes", json={**sold, "days_listed": -1}, headers=INTAKE)
    assert negative.status_code == 422 and "days_listed" in negative.text
    unknown = client.post("/outcomes", json={**sold, "case_id": "nope"}, headers=INTAKE)
    assert unknown.status_code == 404
