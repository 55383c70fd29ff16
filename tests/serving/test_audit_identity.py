"""The audit trail records who called, not who the body says (issue 25, finding 6), and a
price follows the case through the API and the pages (finding 5).

Keys carry a name (`{"roles": [...], "name": "alice"}`); resolutions, second grades, pricing
decisions and outcomes record the key's name and hash as the event's actor, the body's
grader_id / analyst_id only as a label; a personal key that gave the first grade may not give
the second under another label. The pages record the signed-in key the same way and show why a
decision is refused.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from starlette.testclient import TestClient

from serving.api.service import SLOT
from serving.store.engine import make_engine
from serving.store.photos import PhotoStore
from serving.store.writes import Store
from serving.web.app import create_web_app
from serving.web.pages import sessions_of
from serving.web.session import COOKIE
from tests.serving.api_models import (
    auth,
    photo_files,
    review_env,
    running_service,
    service_home,
    toy_photos,
)

KEYS = {
    "k-intake": ["intake"],
    "k-alice": {"roles": ["grader"], "name": "alice"},
    "k-bob": {"roles": ["grader"], "name": "bob"},
    "k-carol": {"roles": ["pricing"], "name": "carol"},
}
INTAKE, ALICE, BOB, CAROL = (auth(k) for k in ("k-intake", "k-alice", "k-bob", "k-carol"))


def actor(key: str, name: str) -> str:
    return f"{name}:{hashlib.sha256(key.encode()).hexdigest()[:10]}"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


@pytest.fixture(scope="module")
def client(home, tmp_path_factory):
    work = tmp_path_factory.mktemp("identity")
    env = review_env(
        home, work, REGRADE_API_KEYS=json.dumps(KEYS), REGRADE_DOUBLE_GRADING_SHARE="1"
    )
    with running_service(env) as client:
        client.store = Store(make_engine(env["REGRADE_DATABASE_URL"]), PhotoStore(home / "photos"))
        yield client
        client.store.engine.dispose()


def in_review(client, home, item_id: str) -> str:
    data = {"item_id": item_id, "category": "unit", "new_price": 600, "acquisition_cost": 40}
    posted = client.post("/assess", files=photo_files(toy_photos(home)), data=data, headers=INTAKE)
    assert posted.status_code == 200, posted.text
    assert posted.json()["review_status"] == "open"
    return posted.json()["case_id"]


def test_events_record_the_key_and_keep_the_body_id_as_a_label(client, home):
    case_id = in_review(client, home, "u-who")
    early = client.post(
        f"/pricing/{case_id}/decision", json={"action": "approve", "analyst_id": "x"}, headers=CAROL
    )
    assert early.status_code == 409 and "still in review" in early.json()["error"]
    pending = client.get("/pricing/pending", headers=CAROL).json()
    assert case_id not in {c["case_id"] for c in pending}
    claimed = {"grade": "A", "counterfeit": False, "grader_id": "bob"}  # alice says she is bob
    assert client.post(f"/reviews/{case_id}/resolve", json=claimed, headers=ALICE).is_success
    as_second = {**claimed, "grader_id": "someone-else"}
    refused = client.post(f"/second-gradings/{case_id}/grade", json=as_second, headers=ALICE)
    assert refused.status_code == 409 and "same key" in refused.json()["error"]
    second = {"grade": "B", "counterfeit": False, "grader_id": "bob"}
    assert client.post(f"/second-gradings/{case_id}/grade", json=second, headers=BOB).is_success
    decision = {"action": "approve", "analyst_id": "dave"}
    decided = client.post(f"/pricing/{case_id}/decision", json=decision, headers=CAROL)
    assert decided.status_code == 200, decided.text
    sold = {"case_id": case_id, "sold_price": 118.0, "days_listed": 6, "sold": True}
    assert client.post("/outcomes", json=sold, headers=INTAKE).is_success
    trail = {e.kind: e for e in client.store.events(case_id)}
    assert trail["review_resolved"].actor == actor("k-alice", "alice")
    assert trail["review_resolved"].payload["grader_id"] == "bob"
    assert trail["second_grading_requested"].actor == actor("k-alice", "alice")
    assert trail["second_grading_resolved"].actor == actor("k-bob", "bob")
    assert trail["pricing_approved"].actor == actor("k-carol", "carol")
    assert trail["pricing_approved"].payload["analyst_id"] == "dave"
    assert trail["outcome_recorded"].actor == actor("k-intake", "intake")
    assert all("k-" not in (e.actor or "") for e in trail.values())


def test_the_pages_record_the_signed_in_key_and_show_a_refusal(client, home):
    case_id = in_review(client, home, "u-page")
    pages = TestClient(create_web_app(SLOT))
    cookie, viewer = sessions_of(SLOT.runtime).sign_in("k-carol", "carol-at-desk-3")
    pages.cookies.set(COOKIE, cookie)
    form = {"csrf": viewer.csrf, "action": "approve"}
    early = pages.post(f"/pricing/{case_id}", data=form, follow_redirects=False)
    assert early.status_code == 409
    assert re.search(r'id="refused"[^>]*>[^<]*still in review', early.text)
    resolve = {"grade": "A", "counterfeit": False, "grader_id": "alice"}
    assert client.post(f"/reviews/{case_id}/resolve", json=resolve, headers=ALICE).is_success
    done = pages.post(f"/pricing/{case_id}", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    approved = client.store.events(case_id)[-1]
    assert approved.kind == "pricing_approved"
    assert approved.actor == actor("k-carol", "carol")
    assert approved.payload["analyst_id"] == "carol-at-desk-3"
    trail = pages.get(f"/cases/{case_id}").text
    assert actor("k-carol", "carol") in trail and "carol-at-desk-3" in trail
