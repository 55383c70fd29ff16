"""Bounded thread pools for the APIs' blocking work, so one slow request holds up no other.

BentoML runs every sync API of a worker in one shared thread (its `threads` setting, 1 by
default), so a `/grade` decoding large photos held `/price` and every other `/grade` behind it.
The APIs are async instead and hand each blocking step to a lane, a thread pool of its own:

| lane | work | threads |
|---|---|---|
| decode | reading and decoding photos | `DECODE_THREADS` |
| grade | the grader in this worker (batching off) | 1: one unit at a time |
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
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

DECODE_THREADS = 2
"""Photos decoded at once (a decoded 40 Mpx photo is 120 MB: this also bounds memory)."""
PRICE_THREADS = 4
"""`/price` requests priced at once."""
STORE_THREADS = 4
"""`/assess` cases priced and written at once."""
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


class Lanes:
    """The thread pools of one API worker (see the module's table)."""

    def __init__(self) -> None:
        """Start the pools (their threads start with the first work)."""
        self.decode = ThreadPoolExecutor(
            DECODE_THREADS, thread_name_prefix="regrade-decode", initializer=_lower_priority
        )
        self.grade = ThreadPoolExecutor(
            1, thread_name_prefix="regrade-grade", initializer=_lower_priority
        )
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
        for pool in (self.decode, self.grade, self.price, self.store):
            pool.shutdown(wait=False, cancel_futures=True)
