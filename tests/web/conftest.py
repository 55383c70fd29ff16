"""A live `regrade serve` with tiny models, a listing-webhook receiver and a headless chromium.

The server is the one `regrade serve` starts (pages mounted at /ui); the browser is Debian's
`chromium` driven by Playwright (`executable_path`; Playwright's own browser download is not
used). Tests skip, saying why, when no chromium is installed (`.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.serving.api_models import auth, photo_files, service_env, service_home, toy_photos
from tests.serving.test_live_server import running_server

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """The system browser Playwright drives: `REGRADE_TEST_CHROMIUM`, else one on the PATH."""
    named = os.environ.get("REGRADE_TEST_CHROMIUM")
    if named:
        return named
    return next((found for n in CHROMIUM_NAMES if (found := shutil.which(n))), None)


@dataclass
class Receiver:
    """A webhook endpoint: refuses each listing's first delivery (503), accepts the next."""

    url: str = ""
    calls: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, key: str | None, body: dict) -> int:
        with self.lock:
            seen = any(c["key"] == key for c in self.calls)
            self.calls.append({"key": key, "body": body, "status": 200 if seen else 503})
            return 200 if seen else 503

    def accepted(self) -> dict[str, dict]:
        with self.lock:
            return {c["key"]: c["body"] for c in self.calls if c["status"] == 200}


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """A listing-webhook receiver on a loopback port, stopped after the session."""
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = found.record(self.headers.get("Idempotency-Key"), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/listings"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


@dataclass
class Live:
    """The running service: its base URL, a JSON client and the tiny models' home."""

    base: str
    client: httpx.Client
    home: Path

    def assess(self, item_id: str, **fields) -> dict:
        """Post one phone for intake: no ledger and phones need one, so it waits for a grader."""
        data = {
            "item_id": item_id, "category": "phone", "brand": "Nova", "new_price": 600,
            "acquisition_cost": 10, "serial_number": f"SN-{item_id}", "order_id": f"O-{item_id}",
            **fields,
        }  # fmt: skip
        answer = self.client.post(
            "/assess",
            files=photo_files(toy_photos(self.home, 2)),
            data=data,
            headers=auth("k-intake"),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def case(self, case_id: str) -> dict:
        answer = self.client.get(f"/cases/{case_id}", headers=auth("k-admin"))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def resolve(self, case_id: str, grade: str = "B") -> dict:
        decision = {"grade": grade, "counterfeit": False, "grader_id": "api-grader"}
        answer = self.client.post(
            f"/reviews/{case_id}/resolve", json=decision, headers=auth("k-grader")
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="session")
def live(tmp_path_factory, receiver) -> Iterator[Live]:
    """`regrade serve` over tiny champions, its own database, the webhook set to `receiver`."""
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    work = tmp_path_factory.mktemp("web")
    policy = work / "policy.toml"
    policy.write_text('provenance_required_categories = ["phone"]\n')
    env = {
        **os.environ,
        **service_env(
            home,
            REGRADE_DATABASE_URL=f"sqlite:///{work / 'regrade.db'}",
            REGRADE_POLICY=str(policy),
            REGRADE_BATCHING="0",
            REGRADE_LISTING_WEBHOOK=receiver.url,
        ),
    }
    with running_server(env, work / "serve.log") as (client, _):
        yield Live(str(client.base_url).rstrip("/"), client, home)


@pytest.fixture(scope="session")
def browser():
    """A headless chromium (the system's), or a skip saying how to install one."""
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium found: `apt-get install -y chromium` (as .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser, live):
    """Pages in fresh browser contexts (own cookies), closed after the test."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page, key: str, name: str = "", next_path: str = "/ui/") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/ui/signin?next={next_path}")
    page.fill("input[name=key]", key)
    if name:
        page.fill("input[name=name]", name)
    with page.expect_navigation():
        page.click("button[type=submit]")
