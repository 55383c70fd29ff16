"""A real `regrade serve` on a free loopback port, called as the four kinds of users would.

The intake portal assesses a unit, a grader resolves it from the review queue, a pricing analyst
approves its price and the portal reports the sale. The category needs a verified sale and no
ledger is configured, so the case always goes to a grader (the tiny models' own flags vary).
The server runs in a subprocess that is always terminated.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from tests.conftest import REPO
from tests.serving.api_models import auth, photo_files, service_env, service_home, toy_photos
from tests.serving.live_services import free_port, stop_process

START_TIMEOUT_S = 150


def serve_command(port: int) -> list[str]:
    """`regrade serve` (`python -m training` is the same program)."""
    return [sys.executable, "-m", "training", "serve", "--host", "127.0.0.1", "--port", str(port)]


def wait_ready(process: subprocess.Popen, base: str, log) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"regrade serve exited {process.returncode}:\n{log.read()[-3000:]}")
        try:
            ready = httpx.get(f"{base}/readyz", timeout=2)
            if ready.status_code == 200:
                return ready.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    log.seek(0)
    pytest.fail(f"regrade serve not ready in {START_TIMEOUT_S} s:\n{log.read()[-3000:]}")


@contextmanager
def running_server(env: dict[str, str], log_path) -> Iterator[tuple[httpx.Client, dict]]:
    """`regrade serve` on a free port with `env`: a client on it and its /readyz answer.

    The server's output goes to `log_path` (shown when it fails to start); it is always
    terminated, killed if SIGTERM does not stop it within 30 s.
    """
    with running_servers([env], [log_path]) as servers:
        yield servers[0]


@contextmanager
def running_servers(envs: list[dict[str, str]], log_paths: list) -> Iterator[list[tuple]]:
    """One `regrade serve` per environment, all started at once (replicas): (client, /readyz).

    Each on a free port, its output in its log path; all are always terminated.
    """
    with ExitStack() as stack:
        started = []
        for env, log_path in zip(envs, log_paths, strict=True):
            port = free_port()
            log = stack.enter_context(open(log_path, "w+"))
            process = subprocess.Popen(
                serve_command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            stack.callback(stop_process, process)
            started.append((process, f"http://127.0.0.1:{port}", log))
        servers = []
        for process, base, log in started:
            ready = wait_ready(process, base, log)
            client = stack.enter_context(httpx.Client(base_url=base, timeout=60))
            servers.append((client, ready))
        yield servers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    work = tmp_path_factory.mktemp("live")
    policy = work / "policy.toml"
    policy.write_text('provenance_required_categories = ["phone"]\n')
    env = {
        **os.environ,
        **service_env(
            home,
            REGRADE_DATABASE_URL=f"sqlite:///{work / 'regrade.db'}",
            REGRADE_POLICY=str(policy),
        ),
    }
    with running_server(env, work / "serve.log") as (client, ready):
        yield client, home, ready


def test_four_users_work_one_unit_through_a_real_server(server):
    client, home, ready = server
    assert ready["models"]["grader"] == {"name": "regrade-grader", "version": "1"}
    assert client.get("/docs.json").status_code == 200
    assert client.get("/metrics").status_code == 200  # open, like /livez and /readyz
    assert client.post("/assess").status_code == 401

    # intake portal: photos and facts in, a persisted case out
    item = {"item_id": "live-1", "category": "phone", "serial_number": "SN-9", "new_price": 600}
    costs = {"acquisition_cost": 40, "refurb_cost": 15, "logistics_cost": 10}
    answer = client.post(
        "/assess",
        files=photo_files(toy_photos(home, 3)),
        data={**item, **costs},
        headers=auth("k-intake"),
    )
    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert case["route"] == "authenticate" and case["review_status"] == "open"
    assert "provenance_not_verified" in {k["code"] for k in case["review_kinds"]}
    assert case["price"]["floor_price"] == pytest.approx(81.25)
    case_id = case["case_id"]

    # grader: the queue with photos and model output, one decision, sent twice
    queue = client.get("/reviews", headers=auth("k-grader")).json()
    queued = next(c for c in queue if c["case_id"] == case_id)
    assert len(queued["photos"]) == 3 and queued["grade_result"]["probabilities"]
    photo = client.get(queued["photos"][0]["url"], headers=auth("k-grader"))
    assert photo.status_code == 200 and photo.content == toy_photos(home, 1)[0]
    decision = {"grade": "A", "counterfeit": False, "grader_id": "g-live", "note": "genuine"}
    resolved = client.post(f"/reviews/{case_id}/resolve", json=decision, headers=auth("k-grader"))
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["review_status"] == "resolved"
    assert resolved.json()["route"] not in ("authenticate", "review")
    again = client.post(f"/reviews/{case_id}/resolve", json=decision, headers=auth("k-grader"))
    assert again.json()["updated_at"] == resolved.json()["updated_at"]

    # pricing analyst: the pending price, approved once
    pending = client.get("/pricing/pending", headers=auth("k-pricing")).json()
    waiting = next(c for c in pending if c["case_id"] == case_id)
    approve = {"action": "approve", "analyst_id": "p-live"}
    decided = client.post(f"/pricing/{case_id}/decision", json=approve, headers=auth("k-pricing"))
    assert decided.status_code == 200, decided.text
    assert decided.json()["final_price"] == pytest.approx(waiting["recommended_price"])
    assert decided.json()["final_price"] >= waiting["floor_price"]

    # intake portal (or admin): the sale, for retraining
    sold = {"case_id": case_id, "sold_price": 120.0, "days_listed": 4, "sold": 1}
    stored = client.post("/outcomes", json=sold, headers=auth("k-admin"))
    assert stored.status_code == 200 and stored.json()["sold_price"] == 120.0
    assert client.get("/readyz").status_code == 200


def test_serve_without_a_champion_says_so_and_exits_2(tmp_path):
    env = {**os.environ, "REGRADE_HOME": str(tmp_path / "empty")}
    done = subprocess.run(
        serve_command(free_port()), cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "no grader model at models:/regrade-grader@champion" in done.stderr
    assert "regrade promote grader" in done.stderr
