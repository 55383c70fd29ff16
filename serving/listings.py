"""The listing feed: units whose price a person approved or overrode and whose route lists them.

A case becomes a listing once its price is decided (approved or overridden) while its route is
one that lists the unit for resale (`LISTED_ROUTES`: `resell`, and `refurbish`, priced at the
grade it is refurbished to). `restock` returns a unit to new-goods stock under its new-goods
SKU, so it is not a resale listing. Each listing carries a resale SKU distinct from the
new-goods one (`Settings.listing_sku_pattern`, `{item_id}-R{grade}` by default), the grade,
condition notes, the price, photo links and whether its provenance is verified.

The feed is read by cursor: a listing's `cursor` is its pricing decision's id, which only grows,
so `since=<last cursor seen>` returns exactly the newer listings. With a webhook URL set
(`REGRADE_LISTING_WEBHOOK`), each new listing is also POSTed there by a background thread with
an `Idempotency-Key` header (the same key on every retry), retried with exponential backoff;
the decision that made the listing never waits for it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import httpx
from pydantic import BaseModel, Field

from serving.runtime import Runtime
from serving.store.records import CaseRecord

LISTED_ROUTES = ("resell", "refurbish")
"""Routes whose decided units are listed for resale."""

CONDITION = {
    "A": "Like new: no visible wear.",
    "B": "Good: light signs of use.",
    "C": "Fair: visible wear or damage, fully described in the photos.",
}
"""The condition note shown to buyers per grade."""

WEBHOOK_ATTEMPTS = 6
"""Tries per listing before the webhook gives it up (logged)."""
WEBHOOK_FIRST_DELAY_S = 0.5
"""Wait before the first retry; it doubles after each failure."""
WEBHOOK_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)


class Listing(BaseModel):
    """One unit listed for resale."""

    cursor: int = Field(..., description="Pass as `since` to read only newer listings.")
    sku: str = Field(..., description="The resale SKU (distinct from the new-goods SKU).")
    case_id: str
    item_id: str
    category: str | None
    brand: str | None
    grade: str | None
    condition_notes: str
    price: float
    route: str
    photo_urls: list[str]
    provenance_verified: bool = Field(
        ..., description="A grader authenticated the unit, or the sales ledger verifies its sale."
    )
    decided_at: str
    model_versions: dict

    @property
    def idempotency_key(self) -> str:
        """The same for every delivery of this listing."""
        return f"listing-{self.case_id}-{self.cursor}"


class ListingPage(BaseModel):
    """A page of the feed and the cursor to ask for the next one."""

    listings: list[Listing]
    next_since: int = Field(..., description="The `since` of the next page (the last cursor).")


def resale_sku(pattern: str, case: CaseRecord) -> str:
    """The resale SKU of a case under `pattern` (`{item_id}`, `{grade}`, `{case_id}`)."""
    return pattern.format(item_id=case.item_id, grade=case.grade or "X", case_id=case.case_id)


def condition_notes(case: CaseRecord) -> str:
    """The grade's condition sentence, and the grader's note where there is one."""
    notes = CONDITION.get(case.grade or "", "Condition not graded.")
    if case.resolution is not None and case.resolution.note:
        notes = f"{notes} {case.resolution.note.strip()}"
    return notes


def listings_of(runtime: Runtime, found: list[tuple[int, CaseRecord]]) -> list[Listing]:
    """The listings of decided cases (with their cursors), provenance checked in one call."""
    if not found:
        return []
    cases = [case for _, case in found]
    ledger_ok, _ = runtime.ledger.verify_many(
        [c.order_id for c in cases], [c.serial_number for c in cases], (), [c.brand for c in cases]
    )
    out = []
    for (cursor, case), on_ledger in zip(found, ledger_ok, strict=True):
        by_grader = case.resolution is not None and not case.resolution.counterfeit
        decision = case.decision
        out.append(
            Listing(
                cursor=cursor,
                sku=resale_sku(runtime.settings.listing_sku_pattern, case),
                case_id=case.case_id,
                item_id=case.item_id,
                category=case.category,
                brand=case.brand,
                grade=case.grade,
                condition_notes=condition_notes(case),
                price=float(case.final_price if case.final_price is not None else 0.0),
                route=case.route,
                photo_urls=[f"/photos/{p.sha256}" for p in case.photos],
                provenance_verified=bool(by_grader or on_ledger),
                decided_at=decision.decided_at.isoformat() if decision else "",
                model_versions=case.model_versions,
            )
        )
    return out


def read_feed(runtime: Runtime, since: int = 0, limit: int = 100) -> ListingPage:
    """A page of listings after the cursor `since`.

    Raises:
        InvalidInput: a bad cursor or limit.
    """
    found = runtime.store.listed_cases(LISTED_ROUTES, since, limit)
    listings = listings_of(runtime, found)
    return ListingPage(listings=listings, next_since=listings[-1].cursor if listings else since)


class WebhookSender:
    """POSTs listings to one URL from a daemon thread, retrying each with backoff.

    Args:
        url: Where to POST each listing (JSON body, `Idempotency-Key` header).
        attempts: Tries per listing.
        first_delay_s: Wait before the first retry (doubling).
        post: The HTTP call (`httpx.post` by default); tests may pass another.
    """

    def __init__(
        self,
        url: str,
        *,
        attempts: int = WEBHOOK_ATTEMPTS,
        first_delay_s: float = WEBHOOK_FIRST_DELAY_S,
        post: Callable[..., httpx.Response] = httpx.post,
    ):
        self.url = url
        self.attempts = attempts
        self.first_delay_s = first_delay_s
        self._post = post
        self._queue: queue.Queue[Listing] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered: list[str] = []
        self.failed: list[str] = []

    def send(self, listing: Listing) -> None:
        """Queue `listing` for delivery and return at once."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="listing-webhook")
                self._thread.daemon = True
                self._thread.start()
        self._queue.put(listing)

    def deliver(self, listing: Listing) -> bool:
        """POST one listing until it is accepted (2xx) or the attempts run out."""
        delay = self.first_delay_s
        headers = {"Idempotency-Key": listing.idempotency_key}
        for attempt in range(1, self.attempts + 1):
            try:
                answer = self._post(
                    self.url,
                    json=listing.model_dump(),
                    headers=headers,
                    timeout=WEBHOOK_TIMEOUT_S,
                )
                if 200 <= answer.status_code < 300:
                    return True
                problem = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            log.warning(
                "listing webhook %s: %s (attempt %d of %d)",
                listing.idempotency_key,
                problem,
                attempt,
                self.attempts,
            )
            if attempt < self.attempts:
                time.sleep(delay)
                delay *= 2
        return False

    def _run(self) -> None:
        while True:
            listing = self._queue.get()
            try:
                ok = self.deliver(listing)
            except Exception:  # never let one listing stop the thread
                log.exception("listing webhook %s failed", listing.idempotency_key)
                ok = False
            (self.delivered if ok else self.failed).append(listing.idempotency_key)
            if not ok:
                log.error("listing webhook gave up on %s", listing.idempotency_key)
            self._queue.task_done()

    def wait(self, timeout_s: float) -> bool:
        """Wait until every queued listing is delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


_SENDERS: dict[str, WebhookSender] = {}
_SENDERS_LOCK = threading.Lock()


def sender_for(url: str) -> WebhookSender:
    """This process's sender for `url` (made on first use)."""
    with _SENDERS_LOCK:
        if url not in _SENDERS:
            _SENDERS[url] = WebhookSender(url)
        return _SENDERS[url]


def announce(runtime: Runtime, case: CaseRecord) -> Listing | None:
    """After a pricing decision: queue the case's listing for the webhook, if it is one.

    Returns the listing queued, or None (no webhook set, the case is not listed, or its
    listing could not be read: logged). Never blocks on the webhook, never raises.
    """
    url = runtime.settings.listing_webhook
    if url is None or case.decision is None or case.route not in LISTED_ROUTES:
        return None
    try:
        found = runtime.store.listed_cases(LISTED_ROUTES, 0, 1, case_id=case.case_id)
        listings = listings_of(runtime, found)
    except Exception:  # the decision is stored: a failed announcement must not fail it
        log.exception("listing webhook: could not read the listing of case %s", case.case_id)
        return None
    if not listings:
        return None
    sender_for(url).send(listings[0])
    return listings[0]
