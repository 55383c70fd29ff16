"""`/grade` and `/assess` are answered from the form the upload guard read, as BentoML's APIs
answer them.

The guard has parsed every upload form already; answering from it skips BentoML's second
reading of the request (each photo written to a temporary file and read back, its input and
output models), about a third of the event loop's work a `/grade`. These tests post each form
twice, once answered by the guard and once with the guard's answer turned off so that BentoML's
API answers it, and compare the two: the same status, the same body.
"""

from __future__ import annotations

import logging

import pytest

from serving.api.service import SLOT
from tests.serving.api_models import (
    auth,
    count_cases,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)

ITEM = {"item_id": "u-form", "category": "phone", "new_price": "600", "acquisition_cost": "40"}
CASE_ONLY = ("case_id",)
"""What two stored cases of the same unit do not share."""


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    url = f"sqlite:///{tmp_path_factory.mktemp('form') / 'regrade.db'}"
    with running_service(service_env(home, REGRADE_DATABASE_URL=url)) as client:
        yield client, home, url


def _post(client, monkeypatch, route, files, data, guard: bool, headers=None):
    """`route`'s answer with the guard answering (it must, once) or BentoML's API."""
    calls = []
    answer = SLOT.form_answer
    assert answer is not None, "the service sets the guard's answer at start-up"

    async def counted(*args):
        calls.append(args)
        return await answer(*args)

    with monkeypatch.context() as patch:
        patch.setattr(SLOT, "form_answer", counted if guard else None)
        headers = {**auth("k-intake"), **(headers or {})}
        response = client.post(route, files=files, data=data, headers=headers)
    assert len(calls) == int(guard)
    return response


def _both(client, monkeypatch, route, files, data):
    return [_post(client, monkeypatch, route, files, data, guard) for guard in (True, False)]


FORMS = {
    "two photos": ({}, 2),
    "a brand": ({"brand": "Nova"}, 1),
    "a brand that reads as JSON": ({"brand": "123"}, 1),
    "a brand too long": ({"brand": "x" * 300}, 1),
    "a cost below zero": ({"refurb_cost": "-5"}, 1),
    "a cost that is not a number": ({"refurb_cost": "lots"}, 1),
    "a field the form does not have": ({"colour": "red"}, 1),
}


def _same(guard, bentoml):
    assert guard.status_code == bentoml.status_code, (guard.text, bentoml.text)
    assert guard.headers["content-type"] == bentoml.headers["content-type"]
    first, second = guard.json(), bentoml.json()
    if guard.status_code == 200:
        for key in CASE_ONLY:
            first.pop(key, None)
            second.pop(key, None)
    assert first == second


@pytest.mark.parametrize("route", ["/grade", "/assess"])
@pytest.mark.parametrize("case", FORMS)
def test_the_guard_answers_a_form_as_the_api_does(service, monkeypatch, route, case):
    client, home, _ = service
    data, count = FORMS[case]
    data = {**ITEM, **data} if route == "/assess" else data
    files = photo_files(toy_photos(home, count))
    _same(*_both(client, monkeypatch, route, files, data))


@pytest.mark.parametrize("missing", ["item_id", "category"])
def test_an_assess_form_without_its_unit_is_refused_alike(service, monkeypatch, missing):
    client, home, _ = service
    data = {k: v for k, v in ITEM.items() if k != missing}
    guard, bentoml = _both(client, monkeypatch, "/assess", photo_files(toy_photos(home, 1)), data)
    _same(guard, bentoml)
    assert guard.status_code == 400
    assert guard.json()["field"] == missing


@pytest.mark.parametrize("route", ["/grade", "/assess"])
def test_the_guard_answers_a_bad_photo_as_the_api_does(service, monkeypatch, route):
    client, home, url = service
    files = photo_files([toy_photos(home, 1)[0], b"not a photo"])
    cases = count_cases(url)
    guard, bentoml = _both(client, monkeypatch, route, files, ITEM if route == "/assess" else {})
    _same(guard, bentoml)
    assert guard.status_code == 400
    assert guard.json()["field"] == "photos[1]"
    assert count_cases(url) == cases


def test_a_retry_is_the_first_answer_whichever_path_answers(service, monkeypatch):
    client, home, url = service
    files = photo_files(toy_photos(home, 2))
    data = {**ITEM, "item_id": "u-retry"}
    key = {"Idempotency-Key": "retry-across-paths-1"}
    first = _post(client, monkeypatch, "/assess", files, data, guard=True, headers=key)
    cases = count_cases(url)
    again = _post(client, monkeypatch, "/assess", files, data, guard=False, headers=key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    other = {**data, "refurb_cost": "99"}  # the same key with another body
    conflict = _post(client, monkeypatch, "/assess", files, other, guard=True, headers=key)
    assert conflict.status_code == 409, conflict.text
    assert count_cases(url) == cases


@pytest.mark.parametrize("route", ["/grade", "/assess"])
def test_an_answer_names_the_photos_as_posted(service, route):
    client, home, _ = service
    files = [
        ("photos", (name, data, "image/jpeg"))
        for name, data in zip(["front.jpg", "back.jpg"], toy_photos(home, 2), strict=True)
    ]
    data = {**ITEM, "item_id": "u-names"} if route == "/assess" else {}
    answer = client.post(route, files=files, data=data, headers=auth("k-intake"))
    assert answer.status_code == 200, answer.text
    graded = answer.json() if route == "/grade" else answer.json()["grade"]
    assert [p["filename"] for p in graded["photos"]] == ["front.jpg", "back.jpg"]


@pytest.mark.parametrize("route", ["/grade", "/assess"])
def test_an_unexpected_error_is_a_500_in_the_apis_words_and_logged(
    service, monkeypatch, caplog, route
):
    client, home, url = service

    async def broken(*args, **kwargs):
        raise RuntimeError("the grader fell over")

    files = photo_files(toy_photos(home, 1))
    cases = count_cases(url)
    with monkeypatch.context() as patch, caplog.at_level(logging.ERROR):
        patch.setattr(type(SLOT.form_answer.__self__), "_photos_and_grade", broken)
        answer = client.post(
            route, files=files, data=ITEM if route == "/assess" else {}, headers=auth("k-intake")
        )
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "An unexpected error has occurred, please check the server log."
    }
    assert f"{route} failed" in caplog.text
    assert "the grader fell over" in caplog.text
    assert count_cases(url) == cases
    assert client.get("/readyz").status_code == 200
