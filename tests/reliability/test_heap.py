"""Full garbage collections stay off requests: a loaded worker freezes its long-lived objects
(`serving.api.heap`), and a reload that swaps the models settles again."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace

import pytest

from serving.api import heap
from serving.api.state import RuntimeSlot
from tests.reliability.inprocess import admin_service


class Node:
    """An object in a reference cycle (only the cyclic collector frees it)."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_settle_collects_the_garbage_then_freezes_the_survivors(unfrozen):
    kept, dropped = Node(), Node()
    dropped_ref = weakref.ref(dropped)
    del dropped
    heap.settle()
    assert dropped_ref() is None
    assert gc.get_freeze_count() > 0
    assert all(o is not kept for o in gc.get_objects())  # frozen objects are not listed


def test_a_later_settle_collects_what_was_frozen_and_dropped_since(unfrozen):
    node = Node()
    ref = weakref.ref(node)
    heap.settle()
    del node
    gc.collect()
    assert ref() is not None  # frozen: out of the collector's sight
    heap.settle()
    assert ref() is None


def _runtime(version: str):
    model = SimpleNamespace(path=f"/models/{version}", version=version)
    return SimpleNamespace(models={"pricing": model}, versions=lambda: {"pricing": version})


def test_a_reload_that_swaps_models_settles_and_one_that_does_not_does_not(monkeypatch):
    settled = []
    monkeypatch.setattr(heap, "settle", lambda: settled.append(True))
    slot = RuntimeSlot()
    slot.fill(_runtime("1"))
    slot.loader = lambda current: _runtime("1")
    assert not slot.reload().changed and settled == []
    slot.loader = lambda current: _runtime("2")
    assert slot.reload().changed and settled == [True]


def test_a_started_service_has_settled(tmp_path_factory, unfrozen):
    models = tmp_path_factory.getbasetemp() / "service-models"
    service = admin_service(tmp_path_factory.mktemp("heap"), models)
    started = next(service)
    try:
        assert started.client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the service's modules and models
    finally:
        service.close()
