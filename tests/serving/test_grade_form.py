"""`/grade` is answered from the form the upload guard read, as BentoML's API answers it.

The guard has parsed every upload form already; answering `/grade` from it skips BentoML's
second reading of the request (each photo written to a temporary file and read back, its input
and output models), about a third of the event loop's work a request. These tests post each
form twice, once answered by the guard and once with the guard's answer turned off so that
BentoML's API answers it, and compare the two: the same status, the same body.
"""

from __future__ import annotations

import logging

import pytest

from serving.api.service import SLOT
from tests.serving.api_models import (
    auth,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    url = f"sqlite:///{tmp_path_factory.mktemp('form') / 'regrade.db'}"
    with running_service(service_env(home, REGRADE_DATABASE_URL=url)) as client:
        yield client, home


def _both(client, monkeypatch, files, data):
    """The guard's answer and BentoML's to the same form; checks the guard answered once."""
    calls = []
    answer = SLOT.grade_form
    assert answer is not None, "the service sets the guard's /grade answer at start-up"

    async def counted(*args):
        calls.append(args)
        return await answer(*args)

    with monkeypatch.context() as patch:
        patch.setattr(SLOT, "grade_form", counted)
        guard = client.post("/grade", files=files, data=data, headers=auth("k-intake"))
    assert len(calls) == 1
    with monkeypatch.context() as patch:
        patch.setattr(SLOT, "grade_form", None)
        bentoml = client.post("/grade", files=files, data=data, headers=auth("k-intake"))
    return guard, bentoml


FORMS = {
    "two photos": ({}, 2),
    "a brand": ({"brand": "Nova"}, 1),
    "a brand that reads as JSON": ({"brand": "123"}, 1),
    "a brand too long": ({"brand": "x" * 300}, 1),
    "a cost below zero": ({"refurb_cost": "-5"}, 1),
    "a cost that is not a number": ({"refurb_cost": "lots"}, 1),
    "a field the form does not have": ({"colour": "red"}, 1),
}


@pytest.mark.parametrize("case", FORMS)
def test_the_guard_answers_a_grade_form_as_the_api_does(service, monkeypatch, case):
    client, home = service
    data, count = FORMS[case]
    files = photo_files(toy_photos(home, count))
    guard, bentoml = _both(client, monkeypatch, files, data)
    assert guard.status_code == bentoml.status_code, (guard.text, bentoml.text)
    assert guard.json() == bentoml.json()
    assert guard.headers["content-type"] == bentoml.headers["content-type"]


def test_the_guard_answers_a_bad_photo_as_the_api_does(service, monkeypatch):
    client, home = service
    files = photo_files([toy_photos(home, 1)[0], b"not a photo"])
    guard, bentoml = _both(client, monkeypatch, files, {})
    assert guard.status_code == bentoml.status_code == 400
    assert guard.json() == bentoml.json()
    assert guard.json()["field"] == "photos[1]"


def test_a_graded_answer_names_the_photos_as_posted(service):
    client, home = service
    files = [
        ("photos", (name, data, "image/jpeg"))
        for name, data in zip(["front.jpg", "back.jpg"], toy_photos(home, 2), strict=True)
    ]
    answer = client.post("/grade", files=files, headers=auth("k-intake"))
    assert answer.status_code == 200, answer.text
    assert [p["filename"] for p in answer.json()["photos"]] == ["front.jpg", "back.jpg"]


def test_an_unexpected_error_is_a_500_in_the_apis_words_and_logged(service, monkeypatch, caplog):
    client, home = service

    async def broken(*args, **kwargs):
        raise RuntimeError("the grader fell over")

    files = photo_files(toy_photos(home, 1))
    with monkeypatch.context() as patch, caplog.at_level(logging.ERROR):
        patch.setattr(type(SLOT.grade_form.__self__), "_photos_and_grade", broken)
        answer = client.post("/grade", files=files, headers=auth("k-intake"))
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "An unexpected error has occurred, please check the server log."
    }
    assert "the grader fell over" in caplog.text
    assert client.get("/readyz").status_code == 200
