"""Calls from the API worker to the batching runner survive BentoML cutting its connections.

BentoML's client replaces its HTTP session every 100 calls and closes the old one under the
calls in flight; once `/grade` calls were concurrent (issue #25 finding 4), a load test lost 7
of 120 requests to "Server disconnected". Such a call is made again (grading is idempotent);
any other error is not retried. A unit the runner sheds (its latency budget passed) is a 503
with the reason, not a bare 500.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
import numpy as np
import pytest
from bentoml.exceptions import ServiceUnavailable
from PIL import Image

from serving.api.errors import error_response
from serving.api.lanes import Lanes
from serving.api.service import RUNNER_ATTEMPTS, Regrade
from serving.errors import Overloaded


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


def grade(runner: FlakyRunner):
    service = SimpleNamespace(grader_runner=runner, lanes=Lanes())
    runtime = SimpleNamespace(grader=None)  # batching on: the runner grades
    photo = Image.new("RGB", (4, 3), (10, 20, 30))
    try:
        return asyncio.run(Regrade.inner._grade(service, runtime, [photo], None))
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
