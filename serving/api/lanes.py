"""Bounded thread pools for the APIs' blocking work, so one slow request holds up no other.

BentoML runs every sync API of a worker in one shared thread (its `threads` setting, 1 by
default), so a `/grade` decoding large photos held `/price` and every other `/grade` behind it.
The APIs are async instead and hand each blocking step to a lane, a thread pool of its own:

| lane | work | threads |
|---|---|---|
| decode | reading and decoding photos | `DECODE_THREADS` |
| grade | the grader in this worker (batching off): `GradeQueue` | `grade_threads` (one per core) |
| price | `/price` | `PRICE_THREADS` |
| store | `/assess`'s pricing, provenance check and case write | `STORE_THREADS` |

With batching on, the call to `GraderRunner` is awaited on the event loop (BentoML's client),
holding no thread. A request waits only behind requests in its own lane; `/price` never waits
behind grading. The photo lanes' threads also run at a lower CPU priority (`PHOTO_NICE`), so on
a machine whose cores are all busy with photos the event loop and `/price` still get a core at
once: a 40 Mpx photo takes seconds of CPU, a price a few milliseconds.
Work still queued when a request gives up (its time limit) is cancelled; a step already
running finishes in its thread, which the lane's size bounds.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

DECODE_THREADS = 2
"""Photos decoded at once (a decoded 40 Mpx photo is 120 MB: this also bounds memory)."""
PRICE_THREADS = 4
"""`/price` requests priced at once."""
STORE_THREADS = 4
"""`/assess` cases priced and written at once."""
GROUP_UNITS = 16
"""Most units the grade lane grades in one call (those queued while the last call ran)."""
PHOTO_NICE = 19
"""How much lower the decode and grade lanes' threads run (Linux thread niceness; a thread
cannot raise its priority back, so only these lanes' threads are lowered). The lowest priority:
photos take all the CPU nothing else wants, and yield it to a price at once (at 5 levels lower
they still took a quarter of its core and doubled its latency; benchmarks/README.md). On a host
shared with other busy jobs, photos then wait behind them."""


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority by `PHOTO_NICE` (where the system allows)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + PHOTO_NICE)
    except (AttributeError, OSError):  # no per-thread priorities here: run as it is
        pass


Predict = Callable[[list[Any], list[dict[str, Any]]], Sequence[R]]
"""A grader's `predict_items`: the photos of each unit and its facts in, a result per unit out."""


@dataclass
class _Unit(Generic[R]):
    predict: Predict[R]
    photos: list[Any]
    facts: dict[str, Any]
    context: contextvars.Context
    future: Future = field(default_factory=Future)


class GradeQueue:
    """The grade lane: `threads` threads grading the units of concurrent requests.

    Each request queues its unit and awaits its answer. A free thread takes the first unit
    queued and every unit queued behind it (at most `max_units`, waiting for none), and grades
    those with the same grader in one `predict_items` call: while calls run, the requests that
    arrive queue up and go together in the next, which costs less per unit than one call each
    and no request waits for a batch to fill. With several threads, calls run side by side:
    on a few cores, one call per core (each on one thread) answers more units a second than
    one call at a time on all of them (docs/service.md). A unit whose request gave up before
    its call started is skipped. When a call of several units fails, each is graded alone
    again, so one bad unit fails only its own request.
    """

    def __init__(self, max_units: int = GROUP_UNITS, threads: int = 1) -> None:
        """Start the lane's threads (at the photo lanes' lower priority)."""
        self.max_units = max_units
        self._closed = False
        self._units: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"regrade-grade_{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    async def grade(self, predict: Predict[R], photos: list[Any], facts: dict[str, Any]) -> R:
        """The result of `predict([photos], [facts])[0]`, graded in one of this lane's threads
        with the other units queued beside it for the same `predict` (cancelling the await
        before its call starts skips the unit).

        Raises:
            RuntimeError: the lane is closed (the worker is stopping).
        """
        if self._closed:
            raise RuntimeError("the grade lane is closed: the worker is stopping")
        unit = _Unit(predict, photos, facts, contextvars.copy_context())
        self._units.put(unit)
        if self._closed:  # closed meanwhile: its thread may be gone already
            unit.future.cancel()
        return await asyncio.wrap_future(unit.future)

    def close(self) -> None:
        """Stop the threads after the calls running now; units still queued are cancelled."""
        self._closed = True
        self._cancel_queued()
        self._units.put(None)  # wakes a thread; each one leaving wakes the next

    def _serve(self) -> None:
        _lower_priority()
        while True:
            taken = self._take()
            if self._closed:
                for unit in taken:
                    unit.future.cancel()
                self._cancel_queued()
                self._units.put(None)  # the next thread's wake-up
                return
            for predict in dict.fromkeys(u.predict for u in taken):  # in order, per grader
                group = [u for u in taken if u.predict == predict]
                try:
                    _grade_together(group)
                except Exception as exc:  # the thread must live on: later units wait on it
                    log.exception("the grade lane failed a call")
                    for unit in group:
                        if not unit.future.done():
                            unit.future.set_exception(exc)

    def _take(self) -> list[_Unit]:
        """The first unit queued (waiting for it) and the units behind it, up to `max_units`
        (`close` queues a None after setting `_closed`)."""
        taken = [self._units.get()]
        while len(taken) < self.max_units and taken[-1] is not None:
            try:
                taken.append(self._units.get_nowait())
            except queue.Empty:
                break
        return [unit for unit in taken if unit is not None]

    def _cancel_queued(self) -> None:
        while True:
            try:
                unit = self._units.get_nowait()
            except queue.Empty:
                return
            if unit is not None:
                unit.future.cancel()


def _grade_together(units: list[_Unit]) -> None:
    """Grade `units` (one grader's) in one call and answer each; alone again if it fails."""
    live = [u for u in units if u.future.set_running_or_notify_cancel()]
    if not live:
        return
    call = functools.partial(live[0].predict, [u.photos for u in live], [u.facts for u in live])
    try:
        results = list(live[0].context.run(call))
        if len(results) != len(live):
            raise RuntimeError(f"the grader answered {len(results)} units of {len(live)}")
    except BaseException as exc:  # answered below, never raised in the lane's thread
        if len(live) == 1:
            live[0].future.set_exception(exc)
            return
        for unit in live:
            _grade_alone(unit)
        return
    for unit, result in zip(live, results, strict=True):
        unit.future.set_result(result)


def _grade_alone(unit: _Unit) -> None:
    try:
        result = unit.context.run(unit.predict, [unit.photos], [unit.facts])[0]
    except BaseException as exc:
        unit.future.set_exception(exc)
    else:
        unit.future.set_result(result)


class Lanes:
    """The thread pools of one API worker (see the module's table)."""

    def __init__(self, grade_threads: int = 1) -> None:
        """Start the pools (the pools' threads start with the first work; the grade lane's
        `grade_threads` at once)."""
        self.decode = ThreadPoolExecutor(
            DECODE_THREADS, thread_name_prefix="regrade-decode", initializer=_lower_priority
        )
        self.grade = GradeQueue(threads=grade_threads)
        self.price = ThreadPoolExecutor(PRICE_THREADS, thread_name_prefix="regrade-price")
        self.store = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="regrade-store")

    @staticmethod
    async def run(lane: ThreadPoolExecutor, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`func(*args, **kwargs)` in `lane`'s threads (with this task's context), awaited.

        Cancelling the await (a time limit) cancels the call if it has not started yet.
        """
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(lane, call)

    def close(self) -> None:
        """Stop the pools: queued work is cancelled, running work is not waited for."""
        for pool in (self.decode, self.price, self.store):
            pool.shutdown(wait=False, cancel_futures=True)
        self.grade.close()
