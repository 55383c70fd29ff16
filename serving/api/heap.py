"""Keep the cyclic garbage collector's full passes off requests.

A worker holds about half a million long-lived objects once its models are loaded (torch,
pandas, BentoML and the models themselves). CPython's full collection walks all of them with
every thread stopped, and starts one whenever enough new objects have survived: in the middle of
whatever request is running, which then takes a third of a second longer on a small machine
(benchmarks/README.md). `settle` runs once the worker is loaded and again after a reload has
swapped its models: it collects, then moves the survivors out of the collector's sight
(`gc.freeze`). Reference counting still frees them; each settle unfreezes first, so the cycles
of the models a reload replaced are collected then, not kept.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect everything, then freeze what survived (the loaded worker)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
