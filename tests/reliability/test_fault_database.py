"""Fault injection on the case database and the grading runner: /readyz tells the truth.

Issue #25 finding 3: /readyz said ready with a database that could not be written, and /assess
answered a generic 500. The store now probes a write (rolled back) for /readyz, and its
operational errors are `Unavailable`, answered 503 with the reason; nothing is stored.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from serving.store.engine import make_engine
from serving.store.errors import Unavailable
from serving.store.migrate import migrate
from serving.store.photos import PhotoStore
from serving.store.writes import Store
from tests.serving.api_models import (
    auth,
    count_cases,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)
from tests.serving.conftest import _schema, postgres_url  # noqa: F401 (a fixture)
from tests.serving.store_helpers import new_case

UNIT = {
    "item_id": "ro-1",
    "category": "phone",
    "new_price": 600,
    "acquisition_cost": 40.0,
    "refurb_cost": 15.0,
    "logistics_cost": 10.0,
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


def read_only_store(path, photos) -> Store:
    """A store over the SQLite file at `path` opened read-only (as a read-only mount is)."""
    return Store(make_engine(f"sqlite:///file:{path}?mode=ro&uri=true"), photos)


def test_a_read_only_database_is_not_ready_and_assess_answers_503(home, tmp_path):
    from serving.api.service import SLOT

    path = tmp_path / "regrade.db"
    env = service_env(home, REGRADE_DATABASE_URL=f"sqlite:///{path}", REGRADE_BATCHING="0")
    with running_service(env) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["reason"] is None
        runtime = SLOT.runtime
        SLOT.fill(replace(runtime, store=read_only_store(path, runtime.store.photos)))
        try:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            reason = ready.json()["reason"]
            assert reason.startswith("the case database: ") and "readonly" in reason
            files = photo_files(toy_photos(home))
            answer = client.post("/assess", files=files, data=UNIT, headers=auth("k-intake"))
            assert answer.status_code == 503, answer.text
            assert "readonly" in answer.json()["error"]
            listed = client.get("/reviews", headers=auth("k-grader"))
            assert listed.status_code == 200  # reads still work
        finally:
            SLOT.runtime.store.engine.dispose()
            SLOT.fill(runtime)
        assert client.get("/readyz").status_code == 200
    assert count_cases(f"sqlite:///{path}") == 0


def test_a_grading_runner_that_does_not_answer_is_not_ready(home, tmp_path):
    from serving.api.service import SLOT

    database = f"sqlite:///{tmp_path / 'regrade.db'}"
    env = service_env(home, REGRADE_DATABASE_URL=database, REGRADE_BATCHING="1")
    with running_service(env) as client:
        ready = client.get("/readyz").json()
        assert ready["ready"] is True and ready["batching"] is True
        alive = SLOT.grader_check

        def down() -> None:
            raise ConnectionError("connection refused")

        SLOT.grader_check = down
        try:
            answer = client.get("/readyz")
        finally:
            SLOT.grader_check = alive
        assert answer.status_code == 503
        assert answer.json()["reason"] == (
            "the grading runner: ConnectionError: connection refused"
        )


def test_the_write_probe_stores_nothing_and_sees_a_read_only_file(tmp_path):
    path = tmp_path / "regrade.db"
    migrate(f"sqlite:///{path}")
    photos = PhotoStore(tmp_path / "photos")
    store = Store(make_engine(f"sqlite:///{path}"), photos)
    assert store.unwritable() is None
    read_only = read_only_store(path, photos)
    assert "readonly" in read_only.unwritable()
    with pytest.raises(Unavailable, match=r"the case database is unavailable: .*readonly"):
        new_case(read_only, photos=0)
    assert store.list_reviews() == []
    read_only.engine.dispose()
    store.engine.dispose()


@pytest.mark.postgres
def test_a_read_only_postgres_transaction_is_unavailable(postgres_url, tmp_path):  # noqa: F811
    photos = PhotoStore(tmp_path / "photos")
    for schema in _schema(postgres_url):
        writable = make_engine(postgres_url, schema=schema)
        migrate(writable)
        options = f"-c search_path={schema} -c default_transaction_read_only=on"
        read_only = Store(make_engine(postgres_url, connect_args={"options": options}), photos)
        try:
            assert Store(writable, photos).unwritable() is None
            assert "read-only transaction" in read_only.unwritable()
            with pytest.raises(Unavailable, match="read-only transaction"):
                new_case(read_only, photos=0)
            assert Store(writable, photos).list_reviews() == []
        finally:
            read_only.engine.dispose()
            writable.dispose()
