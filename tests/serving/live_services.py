"""Real servers for replica tests and benchmarks: a throwaway PostgreSQL database, an MLflow server.

`fresh_database(url)` creates a database of its own next to the one `url` names and drops it
afterwards (a service takes a database URL, not a schema). `mlflow_server(...)` runs
`mlflow server` with a PostgreSQL backend store and served artifacts on a free loopback port,
always stopped at the end. Both are context managers; nothing is left behind.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from serving.store.engine import make_engine

MLFLOW_START_TIMEOUT_S = 180


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def fresh_database(url: str, prefix: str = "regrade_test") -> Iterator[str]:
    """A new, empty database on the server of `url`: its URL; dropped (forcibly) at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL when it has not stopped within 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def mlflow_server(backend_url: str, artifacts: Path, log_path: Path) -> Iterator[str]:
    """`mlflow server` over the PostgreSQL database `backend_url`, serving the artifacts it
    keeps under `artifacts`: its `http://` URI once /health answers.

    Raises:
        RuntimeError: the server exited or did not answer in time (with the end of its log).
    """
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_url,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    with open(log_path, "w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + MLFLOW_START_TIMEOUT_S
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    state = f"exited {process.returncode}" if process.poll() else "not ready"
                    raise RuntimeError(f"mlflow server {state}:\n{log.read()[-3000:]}")
                try:
                    if httpx.get(f"{uri}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            yield uri
        finally:
            stop_process(process)
