"""`regrade serve` with a broken model stops at once: exit 2 and one line naming the file.

Issue #25 finding 2: truncated weights passed the start check and the runner crash-looped; a
truncated LightGBM file crash-looped the worker with a raw JSONDecodeError. The pre-flight now
verifies, loads and probes both models before BentoML starts (each run is a subprocess with a
short timeout; the broken one stops before any worker exists).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.reliability.model_faults import copy_model, flip_byte, forget_digests, truncate
from tests.serving.api_models import service_home

TIMEOUT_S = 90


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


def serve(tmp_path, grader, pricing) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "REGRADE_HOME": str(tmp_path / "home"),
        "REGRADE_GRADER_MODEL": str(grader),
        "REGRADE_PRICING_MODEL": str(pricing),
    }
    # An address no interface has: should the pre-flight pass, binding fails (no server runs).
    command = [sys.executable, "-m", "training", "serve", "--host", "192.0.2.1", "--port", "9"]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


def errors(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "JSONDecodeError" not in done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    ("kind", "name", "fault", "digests"),
    [
        ("grader", "weights.safetensors", truncate, True),
        ("grader", "weights.safetensors", flip_byte, True),
        ("pricing", "price_p50.txt", truncate, False),
    ],
    ids=["truncated-weights", "tampered-weights", "truncated-lightgbm-no-digests"],
)
def test_serve_refuses_a_broken_model_file_naming_it(home, tmp_path, kind, name, fault, digests):
    folders = {k: copy_model(home, k, tmp_path / k) for k in ("grader", "pricing")}
    if not digests:
        forget_digests(folders[kind])
    fault(folders[kind] / name)
    lines = errors(serve(tmp_path, folders["grader"], folders["pricing"]))
    assert len(lines) == 1, lines
    assert f"{folders[kind] / name}: " in lines[0], lines[0]
