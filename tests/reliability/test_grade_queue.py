"""The in-worker grade lane (`REGRADE_BATCHING=0`): units of concurrent requests go together.

While the lane's thread grades one call, the units of the requests that arrive queue up and go
in the next call together (fewer, larger calls answer more `/grade`s a second:
benchmarks/README.md). Each request still gets its own answer, a unit whose request gave up is
never graded, one bad unit fails only its own request, and units for different graders (a
reload between requests) never share a call.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from serving.api.lanes import GradeQueue


class Grader:
    """A `predict_items` stand-in that records its calls and can hold the first one."""

    def __init__(self, hold_first: bool = False):
        self.calls: list[list[str]] = []
        self.started, self.release = threading.Event(), threading.Event()
        if not hold_first:
            self.release.set()

    def predict_items(self, photos, facts):
        names = [f["name"] for f in facts]
        self.calls.append(names)
        self.started.set()
        self.release.wait(10)
        if any(name.startswith("bad") for name in names):
            raise ValueError(f"cannot grade {[n for n in names if n.startswith('bad')]}")
        return [f"{name}:{len(p)}" for name, p in zip(names, photos, strict=True)]


async def _occupy(lane, grader, name="a"):
    """Queue a one-photo unit for `grader` and wait until the lane's thread is busy with it
    (held there until `grader.release` is set); its answer's future."""
    first = asyncio.ensure_future(lane.grade(grader.predict_items, ["p"], {"name": name}))
    await asyncio.to_thread(grader.started.wait, 10)
    return first


async def _grade_while_held(lane, grader, names):
    """Grade the first name alone while the rest queue behind it; all answers (or errors), in
    order."""
    predict = grader.predict_items
    first = await _occupy(lane, grader, names[0])
    rest = [asyncio.ensure_future(lane.grade(predict, ["p", "q"], {"name": n})) for n in names[1:]]
    await asyncio.sleep(0.05)  # all queued
    grader.release.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def test_units_queued_while_the_lane_is_busy_go_in_one_call():
    lane, grader = GradeQueue(), Grader(hold_first=True)
    try:
        answers = asyncio.run(_grade_while_held(lane, grader, ["a", "b", "c", "d"]))
    finally:
        lane.close()
    assert answers == ["a:1", "b:2", "c:2", "d:2"]  # each request its own answer
    assert grader.calls == [["a"], ["b", "c", "d"]]


def test_a_call_holds_at_most_max_units():
    lane, grader = GradeQueue(max_units=2), Grader(hold_first=True)
    try:
        answers = asyncio.run(_grade_while_held(lane, grader, ["a", "b", "c", "d", "e"]))
    finally:
        lane.close()
    assert answers == ["a:1", "b:2", "c:2", "d:2", "e:2"]
    assert grader.calls == [["a"], ["b", "c"], ["d", "e"]]


def test_one_bad_unit_fails_only_its_own_request():
    lane, grader = GradeQueue(), Grader(hold_first=True)
    try:
        answers = asyncio.run(_grade_while_held(lane, grader, ["a", "b", "bad-c", "d"]))
    finally:
        lane.close()
    assert answers[:2] == ["a:1", "b:2"] and answers[3] == "d:2"
    assert isinstance(answers[2], ValueError) and "bad-c" in str(answers[2])
    # together first; when that failed, each alone
    assert grader.calls == [["a"], ["b", "bad-c", "d"], ["b"], ["bad-c"], ["d"]]


def test_a_request_that_gave_up_before_its_call_is_not_graded():
    lane, grader = GradeQueue(), Grader(hold_first=True)

    async def scenario():
        first = await _occupy(lane, grader)
        quitter = asyncio.ensure_future(lane.grade(grader.predict_items, ["p"], {"name": "b"}))
        staying = asyncio.ensure_future(lane.grade(grader.predict_items, ["p"], {"name": "c"}))
        await asyncio.sleep(0.05)
        quitter.cancel()  # its time limit passed while it was queued
        await asyncio.sleep(0.05)  # the cancellation reaches its queued unit
        grader.release.set()
        return await asyncio.gather(first, staying)

    try:
        assert asyncio.run(scenario()) == ["a:1", "c:1"]
    finally:
        lane.close()
    assert grader.calls == [["a"], ["c"]]


def test_units_for_different_graders_never_share_a_call():
    lane, old, new = GradeQueue(), Grader(hold_first=True), Grader()

    async def scenario():
        first = await _occupy(lane, old)
        rest = [
            asyncio.ensure_future(lane.grade(grader.predict_items, ["p"], {"name": name}))
            for grader, name in ((old, "b"), (new, "c"), (old, "d"))
        ]
        await asyncio.sleep(0.05)
        old.release.set()
        return await asyncio.gather(first, *rest)

    try:
        assert asyncio.run(scenario()) == ["a:1", "b:1", "c:1", "d:1"]
    finally:
        lane.close()
    assert old.calls == [["a"], ["b", "d"]] and new.calls == [["c"]]


class FirstAnswerOnly(Grader):
    """Answers only the first unit of each call (a broken grader)."""

    def predict_items(self, photos, facts):
        return super().predict_items(photos, facts)[:1]


def test_a_wrong_number_of_answers_is_an_error_not_a_mixup():
    lane, grader = GradeQueue(), FirstAnswerOnly(hold_first=True)
    try:
        answers = asyncio.run(_grade_while_held(lane, grader, ["a", "b", "c"]))
    finally:
        lane.close()
    # the call of two gave one answer: no request takes another's; each is graded alone again
    assert answers == ["a:1", "b:2", "c:2"]
    assert grader.calls == [["a"], ["b", "c"], ["b"], ["c"]]


def test_closing_cancels_the_units_still_queued():
    lane, grader = GradeQueue(), Grader(hold_first=True)

    async def scenario():
        first = await _occupy(lane, grader)
        queued = asyncio.ensure_future(lane.grade(grader.predict_items, ["p"], {"name": "b"}))
        await asyncio.sleep(0.05)
        lane.close()
        grader.release.set()
        assert await first == "a:1"  # the call running finishes
        with pytest.raises(asyncio.CancelledError):
            await queued

    asyncio.run(scenario())
    assert grader.calls == [["a"]]
    with pytest.raises(RuntimeError, match="the grade lane is closed"):
        asyncio.run(lane.grade(grader.predict_items, ["p"], {"name": "c"}))


def test_a_real_grader_answers_each_unit_together_as_alone(tmp_path_factory):
    """Grouping changes no answer: the tiny served grader, units of 1-3 photos."""
    from features.images import open_image
    from serving.runtime import load_grader
    from serving.settings import load_settings
    from tests.serving.api_models import service_home, toy_photos

    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    predictor = load_grader(load_settings({"REGRADE_HOME": str(home)}))
    photos = [open_image(p) for p in toy_photos(home, 3)]
    units = [photos[:1], photos, photos[1:], photos[2:]]
    alone = [predictor.predict_items([unit], [{"brand": None}])[0] for unit in units]
    lane, started, release = GradeQueue(), threading.Event(), threading.Event()
    calls = []

    def held(photos, facts):  # the first call waits until every other unit is queued
        calls.append(len(photos))
        started.set()
        release.wait(10)
        return predictor.predict_items(photos, facts)

    async def scenario():
        first = asyncio.ensure_future(lane.grade(held, units[0], {"brand": None}))
        await asyncio.to_thread(started.wait, 10)
        rest = [asyncio.ensure_future(lane.grade(held, u, {"brand": None})) for u in units[1:]]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest)

    try:
        together = asyncio.run(scenario())
    finally:
        lane.close()
    assert calls == [1, 3]
    for one, other in zip(alone, together, strict=True):
        assert other.grade == one.grade and len(other.photos) == len(one.photos)
        assert other.probabilities == pytest.approx(one.probabilities, abs=1e-5)
        assert other.counterfeit.score == pytest.approx(one.counterfeit.score, abs=1e-5)


def test_the_lane_lives_on_when_a_call_fails_outside_the_grader(monkeypatch):
    """A bug around the grader's call answers that call's units with the error; the lane's
    thread goes on grading (were it to die, every later request would wait out its limit)."""
    import serving.api.lanes as lanes

    lane, grader = GradeQueue(), Grader()
    real, failures = lanes._grade_together, []

    def broken_once(units):
        if not failures:
            failures.append(len(units))
            raise KeyError("a bug")
        return real(units)

    monkeypatch.setattr(lanes, "_grade_together", broken_once)
    try:
        with pytest.raises(KeyError, match="a bug"):
            asyncio.run(lane.grade(grader.predict_items, ["p"], {"name": "a"}))
        assert asyncio.run(lane.grade(grader.predict_items, ["p"], {"name": "b"})) == "b:1"
    finally:
        lane.close()
    assert failures == [1] and grader.calls == [["b"]]


class HoldsA(Grader):
    """Holds only the calls that grade unit `a` (until `release`)."""

    def predict_items(self, photos, facts):
        names = [f["name"] for f in facts]
        self.calls.append(names)
        if "a" in names:
            self.started.set()
            self.release.wait(10)
        return [f"{name}:{len(p)}" for name, p in zip(names, photos, strict=True)]


def test_with_two_threads_a_call_runs_beside_a_slow_one():
    """One call per core: a unit queued while a call runs is graded by the free thread at once,
    not after it."""
    lane, grader = GradeQueue(threads=2), HoldsA(hold_first=True)

    async def scenario():
        first = await _occupy(lane, grader)
        second = await asyncio.wait_for(lane.grade(grader.predict_items, ["p"], {"name": "b"}), 5)
        held = not first.done()
        grader.release.set()
        return held, second, await first

    try:
        held, second, first = asyncio.run(scenario())
    finally:
        lane.close()
    assert held and second == "b:1" and first == "a:1"
    assert grader.calls == [["a"], ["b"]]


def test_closing_stops_every_thread_of_the_lane():
    lane, grader = GradeQueue(threads=3), Grader(hold_first=True)

    async def scenario():
        first = await _occupy(lane, grader)
        lane.close()  # one thread is busy, two wait for units
        grader.release.set()
        return await first

    assert asyncio.run(scenario()) == "a:1"  # the call running finishes
    for thread in lane._threads:
        thread.join(5)
    assert len(lane._threads) == 3 and not any(t.is_alive() for t in lane._threads)
