"""Calls from the API worker to the batching runner survive BentoML cutting its connections,
and the photos cross to the runner at the grader's input size with the same answer.

BentoML's client replaces its HTTP session every 100 calls and closes the old one under the
calls in flight; once `/grade` calls were concurrent (issue #25 finding 4), a load test lost 7
of 120 requests to "Server disconnected". Such a call is made again (grading is idempotent);
any other error is not retried. A unit the runner sheds (its latency budget passed) is a 503
with the reason, not a bare 500.
"""

from __future__ import annotations

import asyncio
import os
import threading
from types import SimpleNamespace

import aiohttp
import numpy as np
import pytest
from bentoml.exceptions import ServiceUnavailable
from PIL import Image

from features.images import open_image
from models.kinds import GRADER
from serving.api.errors import error_response
from serving.api.lanes import PHOTO_NICE, Lanes
from serving.api.service import RUNNER_ATTEMPTS, Regrade, _split
from serving.errors import Overloaded
from serving.runtime import load_grader
from serving.settings import load_settings
from tests.serving.api_models import service_home, toy_photos


class FlakyRunner:
    """A runner client whose first `failures` calls raise `error`."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0
        self.to_async = self

    async def grade_units(self, units):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.sent = units[0]["photos"]
        return [{"grade": "B", "photos": len(units[0]["photos"])}]


def grade(runner: FlakyRunner, photos=None, grader_dir="no-grader-here"):
    """`/grade`'s hop to `runner` (batching on) with `photos` and the grader folder the worker's
    runtime names (a folder that is no grader: the photos go at full size)."""
    service = SimpleNamespace(grader_runner=runner, lanes=Lanes())
    grader = SimpleNamespace(path=grader_dir)
    runtime = SimpleNamespace(grader=None, models={"grader": grader})
    photos = photos or [Image.new("RGB", (4, 3), (10, 20, 30))]
    try:
        return asyncio.run(Regrade.inner._grade(service, runtime, photos, None))
    finally:
        service.lanes.close()


@pytest.mark.parametrize(
    "error",
    [aiohttp.ServerDisconnectedError(), RuntimeError("Session is closed")],
    ids=["server-disconnected", "session-closed"],
)
def test_a_cut_connection_is_retried(error):
    runner = FlakyRunner(RUNNER_ATTEMPTS - 1, error)
    assert grade(runner) == {"grade": "B", "photos": 1}
    assert runner.calls == RUNNER_ATTEMPTS
    # the pixels go as an array (pickled out of band), the same pixels
    assert isinstance(runner.sent[0], np.ndarray) and runner.sent[0].shape == (3, 4, 3)
    assert runner.sent[0][2, 3].tolist() == [10, 20, 30]


def test_retries_stop_after_the_last_attempt():
    runner = FlakyRunner(RUNNER_ATTEMPTS, aiohttp.ServerDisconnectedError())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        grade(runner)
    assert runner.calls == RUNNER_ATTEMPTS


def test_other_errors_are_not_retried():
    runner = FlakyRunner(1, RuntimeError("the model failed"))
    with pytest.raises(RuntimeError, match="the model failed"):
        grade(runner)
    assert runner.calls == 1


def test_a_shed_request_is_503_with_the_reason_not_retried():
    runner = FlakyRunner(1, ServiceUnavailable("process is overloaded"))
    with pytest.raises(Overloaded) as raised:
        grade(runner)
    assert runner.calls == 1
    answer = error_response(raised.value)
    assert answer.status_code == 503
    assert b"the grader is overloaded" in answer.body and b"retry" in answer.body


def test_photos_cross_at_the_grader_input_size_and_grade_the_same(tmp_path_factory):
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    settings = load_settings({"REGRADE_HOME": str(home)})
    grader_dir = str(settings.resolve_model(GRADER.champion_uri).path)
    predictor = load_grader(settings)
    size = predictor.artifact.preprocess.image_size
    pixels = np.random.default_rng(3).integers(0, 256, (700, 900, 3), dtype=np.uint8)
    photos = [open_image(p) for p in toy_photos(home)] + [Image.fromarray(pixels)]
    runner = FlakyRunner(0, RuntimeError("unused"))
    grade(runner, photos, grader_dir)
    assert [a.shape for a in runner.sent] == [(size, size, 3)] * len(photos)
    assert sum(a.nbytes for a in runner.sent) < pixels.nbytes / 100
    direct = predictor.predict_items([photos])[0].to_dict()
    crossed = predictor.predict_items(*_split([{"photos": runner.sent}]))[0].to_dict()
    assert crossed == direct  # the runner's resize leaves them as they are: the same answer


def test_photo_lanes_run_below_the_price_lane():
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    lanes = Lanes()
    try:
        run = lambda lane: asyncio.run(Lanes.run(lane, niceness))  # noqa: E731
        base = niceness()
        assert run(lanes.price) == run(lanes.store) == base
        graded = asyncio.run(lanes.grade.grade(lambda _, facts: [niceness()], [], {}))
        assert run(lanes.decode) == graded == min(19, base + PHOTO_NICE)
    finally:
        lanes.close()
