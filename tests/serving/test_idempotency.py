"""Idempotent /assess (issue 25, finding 9): the store's side on SQLite and PostgreSQL, and the
header through the API.

The same key and body give one case whoever comes second (a retry, or a try racing on another
worker: the key is the table's primary key); the same key with another body is a conflict; a
bad key is a 400 naming the header.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.api.idempotency import MAX_KEY, body_sha256, header_key
from serving.errors import IntakeError
from serving.store.errors import ConflictError
from serving.store.idempotency import IntakeKey
from serving.store.records import PhotoInput
from serving.store.tables import Case, IdempotencyKey, utcnow
from tests.serving.api_models import (
    auth,
    count_cases,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)
from tests.serving.store_helpers import count, item, new_case, photo_bytes

INTAKE = auth("k-intake")


def _create(store, key: IntakeKey, item_id: str = "u-idem"):
    return store.create_case(
        item(item_id), [PhotoInput(photo_bytes(3), "p.png")], {"grade": "B"},
        {"recommended_price": 120.0, "floor_price": 80.0}, "resell", ["resell_profitable"], [],
        {}, intake_key=key,
    )  # fmt: skip


def test_the_same_key_stores_one_case_and_answers_it_as_first_answered(store):
    key = IntakeKey("retry-1", "a" * 64)
    first = _create(store, key)
    assert store.replay_intake(key) == first
    store.decide_pricing(first.case_id, action="approve", analyst_id="a1")  # the case moves on
    again = _create(store, key)
    assert again == first and again.pricing_status == "pending"  # the first answer
    assert count(store, Case) == 1
    with pytest.raises(ConflictError, match="another request body"):
        _create(store, IntakeKey("retry-1", "b" * 64))
    with pytest.raises(ConflictError, match="another request body"):
        store.replay_intake(IntakeKey("retry-1", "b" * 64))
    assert count(store, Case) == 1
    assert store.replay_intake(IntakeKey("never-seen", "a" * 64)) is None


def test_two_tries_racing_with_one_key_store_one_case(store):
    key, start, found, failed = IntakeKey("race-1", "c" * 64), threading.Barrier(4), [], []

    def attempt():
        start.wait()
        try:
            found.append(_create(store, key, "u-race").case_id)
        except Exception as exc:  # any failure fails the test below
            failed.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == [] and len(found) == 4 and len(set(found)) == 1
    assert count(store, Case) == 1 and count(store, IdempotencyKey) == 1


def test_the_database_holds_a_key_once(store):
    one, two = new_case(store, "u-a", kinds=()), new_case(store, "u-b", kinds=())
    row = {"key": "k", "request_sha256": "d" * 64, "answer": {}, "created_at": utcnow()}
    with Session(store.engine) as session, session.begin():
        session.add(IdempotencyKey(case_id=one.case_id, **row))
    with pytest.raises(IntegrityError), Session(store.engine) as session, session.begin():
        session.add(IdempotencyKey(case_id=two.case_id, **row))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["a", "b"], "one Idempotency-Key header"),
        ([""], "must not be empty"),
        (["x" * (MAX_KEY + 1)], f"at most {MAX_KEY}"),
        (["has space"], "visible ASCII"),
        (["tab\there"], "visible ASCII"),
        (["caf\u00e9"], "visible ASCII"),
    ],
)
def test_a_bad_key_names_the_header(values, message):
    with pytest.raises(IntakeError, match=message) as error:
        header_key(values)
    assert error.value.field == "Idempotency-Key"


def test_the_body_hash_covers_fields_photo_names_and_bytes(tmp_path):
    (tmp_path / "a").write_bytes(b"one")
    (tmp_path / "b").write_bytes(b"two")
    base = body_sha256({"item_id": "u", "x": 1}, [tmp_path / "a"], ["a.jpg"])
    assert base == body_sha256({"x": 1, "item_id": "u"}, [tmp_path / "a"], ["a.jpg"])
    assert base != body_sha256({"item_id": "u", "x": 2}, [tmp_path / "a"], ["a.jpg"])
    assert base != body_sha256({"item_id": "u", "x": 1}, [tmp_path / "b"], ["a.jpg"])
    assert base != body_sha256({"item_id": "u", "x": 1}, [tmp_path / "a"], ["b.jpg"])
    assert base != body_sha256({"item_id": "u", "x": 1}, [tmp_path / "a"] * 2, ["a.jpg"] * 2)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


@pytest.fixture(scope="module")
def client(home, tmp_path_factory):
    work = tmp_path_factory.mktemp("idempotency")
    env = service_env(home, REGRADE_DATABASE_URL=f"sqlite:///{work / 'regrade.db'}")
    with running_service(env) as client:
        client.database_url = env["REGRADE_DATABASE_URL"]
        yield client


def test_assess_with_the_same_key_and_body_answers_the_first_case(client, home):
    data = {"item_id": "u-retry", "category": "phone", "new_price": 600, "acquisition_cost": 40}
    photos = toy_photos(home)

    def post(key: str, fields=data, files=photos):
        headers = {**INTAKE, "Idempotency-Key": key}
        return client.post("/assess", files=photo_files(files), data=fields, headers=headers)

    before = count_cases(client.database_url)
    first = post("9b1f0c3e-retry")
    assert first.status_code == 200, first.text
    again = post("9b1f0c3e-retry")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert count_cases(client.database_url) == before + 1
    other_body = post("9b1f0c3e-retry", fields={**data, "acquisition_cost": 41})
    assert other_body.status_code == 409 and "another request body" in other_body.json()["error"]
    other_photos = post("9b1f0c3e-retry", files=photos[:2])
    assert other_photos.status_code == 409
    fresh = post("9b1f0c3e-other")
    assert fresh.status_code == 200 and fresh.json()["case_id"] != first.json()["case_id"]
    bad = post("x" * 201)
    assert bad.status_code == 400 and bad.json()["field"] == "Idempotency-Key"
    assert count_cases(client.database_url) == before + 2


def test_a_key_belongs_to_the_api_key_that_sent_it(client, home):
    data = {"item_id": "u-scoped", "category": "phone", "new_price": 600, "acquisition_cost": 40}
    photos = toy_photos(home)

    def post(api_key: str):
        headers = {**auth(api_key), "Idempotency-Key": "shared-key-1"}
        answer = client.post("/assess", files=photo_files(photos), data=data, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["case_id"]

    before = count_cases(client.database_url)
    mine, theirs = post("k-intake"), post("k-admin")
    assert mine != theirs  # another client's same key is not a retry of mine
    assert post("k-intake") == mine and post("k-admin") == theirs
    assert count_cases(client.database_url) == before + 2
