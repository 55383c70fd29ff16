"""The listing feed's parts without a server: SKUs, the webhook sender, its settings."""

from __future__ import annotations

import itertools
import threading
import time

import httpx
import pytest

from serving.listings import Listing, WebhookSender, resale_sku
from serving.settings import SettingsError, load_settings


def listing(cursor: int = 7) -> Listing:
    return Listing(
        cursor=cursor, sku="u-1-RB", case_id="c-1", item_id="u-1", category="phone",
        brand="Nova", grade="B", condition_notes="Good.", price=120.0, route="resell",
        photo_urls=["/photos/ab"], provenance_verified=True, decided_at="2026-01-01T00:00:00",
        model_versions={},
    )  # fmt: skip


class Case:
    item_id, grade, case_id = "u-1", "B", "c-1"


def test_the_resale_sku_follows_the_pattern_and_differs_from_the_item_id():
    assert resale_sku("{item_id}-R{grade}", Case()) == "u-1-RB"
    assert resale_sku("RS-{grade}-{item_id}", Case()) == "RS-B-u-1"


def test_a_bad_sku_pattern_or_webhook_url_is_refused_naming_the_variable(tmp_path):
    env = {"REGRADE_HOME": str(tmp_path)}
    with pytest.raises(SettingsError, match="REGRADE_LISTING_SKU_PATTERN"):
        load_settings({**env, "REGRADE_LISTING_SKU_PATTERN": "{item_id}-{colour}"})
    with pytest.raises(SettingsError, match="REGRADE_LISTING_WEBHOOK"):
        load_settings({**env, "REGRADE_LISTING_WEBHOOK": "ftp://example"})
    with pytest.raises(SettingsError, match="REGRADE_SESSION_SECRET"):
        load_settings({**env, "REGRADE_SESSION_SECRET": "short"})


def test_the_webhook_retries_with_the_same_idempotency_key_and_backs_off():
    calls = []

    def post(url, *, json, headers, timeout):
        calls.append((time.monotonic(), headers["Idempotency-Key"], json["sku"]))
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(500 if len(calls) == 2 else 200)

    sender = WebhookSender("http://hook", attempts=4, first_delay_s=0.05, post=post)
    assert sender.deliver(listing()) is True
    assert [key for _, key, _ in calls] == ["listing-c-1-7"] * 3
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # doubled


def test_the_webhook_gives_up_after_its_attempts():
    sender = WebhookSender(
        "http://hook", attempts=2, first_delay_s=0.0, post=lambda *a, **k: httpx.Response(503)
    )
    sender.send(listing())
    assert sender.wait(5)
    assert sender.failed == ["listing-c-1-7"] and sender.delivered == []


def test_sending_never_waits_for_the_receiver():
    release = threading.Event()

    def slow_post(*args, **kwargs):
        release.wait(10)
        return httpx.Response(200)

    sender = WebhookSender("http://hook", post=slow_post)
    sender.send(listing(1))
    sender.send(listing(2))  # returns while the first delivery is still blocked
    assert sender.delivered == []
    release.set()
    assert sender.wait(5)
    assert sender.delivered == ["listing-c-1-1", "listing-c-1-2"]
