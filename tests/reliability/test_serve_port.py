"""`regrade serve` on a port already taken: one line saying by what (issue #25 finding 7)."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from training.cli.ports import port_problem


class FakeRegrade(BaseHTTPRequestHandler):
    """Answers /readyz as a regrade server does."""

    def do_GET(self):
        body = json.dumps({"ready": True, "models": {"grader": {}, "pricing": {}}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_regrade():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegrade)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_free_port_has_no_problem():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert port_problem("127.0.0.1", port) is None


def test_a_port_held_by_a_regrade_server_is_named_with_its_pid(fake_regrade):
    problem = port_problem("127.0.0.1", fake_regrade)
    assert problem is not None and "\n" not in problem
    assert f"port {fake_regrade} is taken by a running regrade server" in problem
    assert f"pid {os.getpid()}" in problem
    assert "another --port" in problem


def test_a_port_held_by_another_program_says_so():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        problem = port_problem("127.0.0.1", port)
    assert problem is not None
    assert f"port {port} is taken by another program (pid {os.getpid()}" in problem
