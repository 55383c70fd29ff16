"""The double-grading sample through the API: a resolution at share 1 sends the case to
`/second-gradings`, whose answer never shows the first decision; the first grader may not
grade it again; only graders (and admin) may call these routes."""

from __future__ import annotations

import pytest

from tests.serving.api_models import (
    auth,
    photo_files,
    review_env,
    running_service,
    service_home,
    toy_photos,
)

INTAKE, GRADER = auth("k-intake"), auth("k-grader")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


@pytest.fixture(scope="module")
def client(home, tmp_path_factory):
    work = tmp_path_factory.mktemp("second-grading")
    env = review_env(home, work, REGRADE_DOUBLE_GRADING_SHARE="1")
    with running_service(env) as client:
        yield client


def test_a_resolved_case_goes_to_a_blind_second_grader(client, home):
    data = {"item_id": "u-2", "category": "unit", "new_price": 600, "acquisition_cost": 40}
    posted = client.post("/assess", files=photo_files(toy_photos(home)), data=data, headers=INTAKE)
    case_id = posted.json()["case_id"]
    assert client.get("/second-gradings", headers=GRADER).json() == []
    first = {"grade": "A", "counterfeit": False, "grader_id": "first-grader", "note": "n-1"}
    assert client.post(f"/reviews/{case_id}/resolve", json=first, headers=GRADER).is_success
    [blind] = client.get("/second-gradings", headers=GRADER).json()
    assert blind["case_id"] == case_id and len(blind["photos"]) == 3
    assert blind["grade_result"]["probabilities"] and blind["requested_at"]
    for hidden in ("final_grade", "resolution", "route", "price_result", "decision"):
        assert hidden not in blind
    assert "first-grader" not in str(blind) and "n-1" not in str(blind)
    again = client.post(f"/second-gradings/{case_id}/grade", json=first, headers=GRADER)
    assert again.status_code == 409 and "first grade" in again.text
    second = {"grade": "B", "counterfeit": False, "grader_id": "second-grader"}
    graded = client.post(f"/second-gradings/{case_id}/grade", json=second, headers=GRADER)
    assert graded.status_code == 200, graded.text
    assert {k: graded.json()[k] for k in ("status", "grade", "grader_id")} == {
        "status": "resolved",
        "grade": "B",
        "grader_id": "second-grader",
    }
    assert client.get(f"/cases/{case_id}", headers=GRADER).json()["final_grade"] == "A"
    assert client.get("/second-gradings", headers=GRADER).json() == []
    done = client.get("/second-gradings", params={"status": "resolved"}, headers=GRADER)
    assert [c["case_id"] for c in done.json()] == [case_id]


def test_second_grading_routes_are_for_graders(client):
    assert client.get("/second-gradings", headers=INTAKE).status_code == 403
    grade = {"grade": "B", "counterfeit": False, "grader_id": "x"}
    assert client.post("/second-gradings/c/grade", json=grade, headers=INTAKE).status_code == 403
    assert client.post("/second-gradings/c/grade", json=grade, headers=GRADER).status_code == 404
    bad = client.get("/second-gradings", params={"status": "all"}, headers=GRADER)
    assert bad.status_code == 422 and "status" in bad.text
