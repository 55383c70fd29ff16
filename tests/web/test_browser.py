"""The people's pages in a real browser against a live `regrade serve` with tiny models.

Graders resolve cases with the keyboard alone and race on one case; an analyst approves,
overrides and is refused below the floor; approved units appear in the listing feed and reach
the webhook; a wrong role sees the 403 page; a form without its CSRF token is refused. Each
test posts the cases it needs through the JSON API.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.serving.api_models import auth
from tests.web.conftest import sign_in

pytestmark = pytest.mark.timeout(300)


def open_count(page) -> int:
    page.goto("/ui/reviews")
    return int(page.inner_text("#open-count"))


def test_a_grader_resolves_three_cases_with_the_keyboard_and_the_queue_shrinks(live, new_page):
    seeded = [live.assess(f"kb-{i}")["case_id"] for i in range(3)]
    page = new_page()
    sign_in(page, "k-grader", "ann", "/ui/reviews")
    assert page.url.endswith("/ui/reviews")
    before = int(page.inner_text("#open-count"))
    assert before >= 3
    first = page.locator("#review-queue tbody tr").first.get_attribute("data-case")
    with page.expect_navigation():  # its load: the page's keys work once review.js has run
        page.locator("#review-queue tbody tr a").first.click()
    decided = []
    for grade_key, grade in (("1", "A"), ("b", "B"), ("3", "C")):
        page.wait_for_selector("#decide")
        case_id = page.get_attribute("#review", "data-case")
        page.keyboard.press(grade_key)
        assert page.is_checked(f"#grade-{grade}")
        flagged = page.is_checked("#counterfeit")
        page.keyboard.press("f")
        assert page.is_checked("#counterfeit") != flagged
        page.keyboard.press("f")  # back to the model's verdict
        with page.expect_navigation():
            page.keyboard.press("Enter")
        decided.append((case_id, grade, flagged))
        assert f"done={case_id}" in page.url
    assert decided[0][0] == first
    for case_id, grade, flagged in decided:
        stored = live.case(case_id)
        assert stored["review_status"] == "resolved"
        assert stored["final_grade"] == grade and stored["final_counterfeit"] == flagged
        assert stored["resolution"]["grader_id"] == "ann"
    assert open_count(page) == before - 3
    assert set(seeded) & {c for c, _, _ in decided}  # the queue is oldest first


def test_keys_move_between_cases_list_themselves_and_photos_zoom(live, new_page):
    ids = [live.assess(f"nav-{i}")["case_id"] for i in range(2)]
    page = new_page()
    sign_in(page, "k-grader", "ann", f"/ui/reviews/{ids[0]}")
    page.keyboard.press("?")
    assert page.locator("#keys").is_visible()
    assert "resolve and open the next case" in page.inner_text("#keys")
    page.keyboard.press("?")
    page.click(".photo img.shot >> nth=0")
    assert "zoomed" in page.get_attribute(".photo >> nth=0", "class")
    page.keyboard.press("Escape")
    assert "zoomed" not in page.get_attribute(".photo >> nth=0", "class")
    with page.expect_navigation():
        page.keyboard.press("j")
    assert page.get_attribute("#review", "data-case") == ids[1]
    with page.expect_navigation():
        page.keyboard.press("k")
    assert page.get_attribute("#review", "data-case") == ids[0]


def test_a_second_grader_racing_on_a_case_sees_who_won(live, new_page):
    case_id = live.assess("race-1")["case_id"]
    ann, bob = new_page(), new_page()
    sign_in(ann, "k-grader", "ann", f"/ui/reviews/{case_id}")
    sign_in(bob, "k-nobody", "bob", f"/ui/reviews/{case_id}")
    ann.keyboard.press("1")
    with ann.expect_navigation():
        ann.keyboard.press("Enter")
    bob.keyboard.press("2")
    with bob.expect_navigation():
        bob.keyboard.press("Enter")
    message = bob.inner_text("#resolved")
    assert "Already resolved by ann" in message
    assert bob.inner_text("#resolved .won-grade") == "A"
    assert "Traceback" not in bob.content()
    stored = live.case(case_id)
    assert stored["final_grade"] == "A" and stored["resolution"]["grader_id"] == "ann"


def decided_cases(live, prefix: str, n: int) -> list[dict]:
    """`n` cases resolved by a grader through the API, so their prices wait for an analyst."""
    cases = [live.resolve(live.assess(f"{prefix}-{i}")["case_id"]) for i in range(n)]
    for case in cases:
        assert case["pricing_status"] == "pending", case
    return cases


def test_an_analyst_approves_overrides_and_is_refused_below_the_floor(live, new_page, receiver):
    approve, override, low = decided_cases(live, "price", 3)
    page = new_page()
    sign_in(page, "k-pricing", "pia", "/ui/pricing")
    rows = page.locator("#pricing-queue tbody tr")
    assert rows.count() >= 3

    page.goto(f"/ui/pricing/{approve['case_id']}")
    assert page.locator("#contributions .bar").count() >= 1
    assert page.locator(".priceline .mark.floor").count() == 1
    with page.expect_navigation():
        page.keyboard.press("a")
    assert live.case(approve["case_id"])["pricing_status"] == "approved"

    new_price = round(override["recommended_price"] + 7.5, 2)
    page.goto(f"/ui/pricing/{override['case_id']}")
    page.keyboard.press("o")
    page.keyboard.type(str(new_price))
    page.fill("#override-reason", "matches the shop window")
    with page.expect_navigation():
        page.press("#override-reason", "Enter")
    stored = live.case(override["case_id"])
    assert stored["pricing_status"] == "overridden"
    assert stored["final_price"] == pytest.approx(new_price)

    page.goto(f"/ui/pricing/{low['case_id']}")
    page.fill("#override-price", "1.00")
    page.fill("#override-reason", "clear it out")
    with page.expect_navigation():
        page.click("#override")
    assert "below the floor" in page.inner_text("#refused")
    floor = float(page.inner_text("#floor-shown").replace(",", ""))
    assert floor == pytest.approx(low["floor_price"], abs=0.01)
    assert page.url.endswith(f"/ui/pricing/{low['case_id']}")
    assert live.case(low["case_id"])["pricing_status"] == "pending"

    # the feed: both decided units, with a resale SKU; the webhook got them despite a 503
    feed = live.client.get("/listings", headers=auth("k-pricing")).json()
    listed = {entry["case_id"]: entry for entry in feed["listings"]}
    checked = 0
    for case, price in ((approve, approve["recommended_price"]), (override, new_price)):
        if case["route"] not in ("resell", "refurbish"):
            assert case["case_id"] not in listed
            continue
        checked += 1
        entry = listed[case["case_id"]]
        assert entry["sku"] == f"{case['item_id']}-R{case['grade']}"
        assert entry["price"] == pytest.approx(price)
        assert entry["provenance_verified"] is True
        assert entry["photo_urls"] and entry["photo_urls"][0].startswith("/photos/")
        key = f"listing-{case['case_id']}-{entry['cursor']}"
        deadline = time.monotonic() + 20
        while key not in receiver.accepted() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert receiver.accepted()[key]["sku"] == entry["sku"]
        assert [c["status"] for c in receiver.calls if c["key"] == key] == [503, 200]
    assert checked >= 1  # costs of 10 against a 600 new price: the tiny models resell them
    assert low["case_id"] not in listed
    later = live.client.get(
        "/listings", params={"since": feed["next_since"]}, headers=auth("k-pricing")
    )
    assert later.json()["listings"] == []
    csv = live.client.get("/listings.csv", headers=auth("k-pricing"))
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("cursor,sku,")
    assert live.client.get("/listings", headers=auth("k-grader")).status_code == 403


def test_the_pricing_queue_sorts_by_margin(live, new_page):
    decided_cases(live, "sort", 2)
    page = new_page()
    sign_in(page, "k-pricing", "pia", "/ui/pricing")
    page.click("a.sort[data-sort=margin]")
    page.wait_for_url(re.compile(r"sort=margin&dir=desc"))
    shown = page.locator("#pricing-queue td.margin").all_inner_texts()
    margins = [float(text.replace(",", "")) for text in shown]
    assert len(margins) >= 2 and margins == sorted(margins, reverse=True)


def test_a_wrong_role_sees_the_403_page_naming_the_role(live, new_page):
    page = new_page()
    sign_in(page, "k-intake", "ivy")
    answer = page.goto("/ui/reviews")
    assert answer.status == 403
    assert "needs the grader role" in page.inner_text("main")


def test_a_page_without_a_session_sends_the_browser_to_sign_in(live, new_page):
    page = new_page()
    page.goto("/")
    assert re.search(r"/ui/signin$", page.url)
    docs = live.client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text  # the API's docs stay
    page.goto("/ui/pricing")
    assert "/ui/signin?next=/ui/pricing" in page.url
    page.fill("input[name=key]", "not-a-key")
    page.click("button[type=submit]")
    assert "not known" in page.inner_text(".alert")


def test_a_post_without_the_csrf_token_is_refused(live, new_page):
    case_id = live.assess("csrf-1")["case_id"]
    page = new_page()
    sign_in(page, "k-grader", "ann", f"/ui/reviews/{case_id}")
    page.evaluate("document.querySelector('#decide input[name=csrf]').remove()")
    page.keyboard.press("2")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "security token" in page.inner_text("main")
    assert live.case(case_id)["review_status"] == "open"


def test_the_session_cookie_is_signed_httponly_and_strict(live, new_page):
    page = new_page()
    sign_in(page, "k-grader", "ann")
    cookie = next(c for c in page.context.cookies() if c["name"] == "regrade_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert "k-grader" not in cookie["value"]
    page.goto("/ui/reviews")
    assert page.url.endswith("/ui/reviews")
    with page.expect_navigation():
        page.click("header .signout button")
    assert page.url.endswith("/ui/signin")
    assert not [c for c in page.context.cookies() if c["name"] == "regrade_session"]
    forged = {**cookie, "value": cookie["value"][:-4] + "AAAA"}
    page.context.add_cookies([forged])
    page.goto("/ui/reviews")
    assert "/ui/signin" in page.url


def test_the_heat_map_toggles_on_over_every_photo(live, new_page):
    case_id = live.assess("heat-1")["case_id"]
    page = new_page()
    sign_in(page, "k-grader", "ann", f"/ui/reviews/{case_id}")
    heat = page.locator("img.heat")
    assert heat.count() == 2 and not heat.first.is_visible()
    for mode in ("damage", "counterfeit"):
        with page.expect_response(re.compile(rf"/heatmap/0\.png\?kind={mode}")) as answer:
            page.keyboard.press("h")
        assert answer.value.status == 200 and answer.value.headers["content-type"] == "image/png"
        assert page.inner_text("#heat-mode") == mode
        loaded = "[...document.querySelectorAll('img.heat')].every(i => i.naturalWidth > 0)"
        page.wait_for_function(loaded)
        assert heat.first.is_visible()
    page.keyboard.press("h")
    assert not heat.first.is_visible()


def test_an_analyst_sees_the_analytics_page_with_its_plots(live, new_page):
    first = live.assess("an-1")
    live.resolve(first["case_id"], grade="C")
    page = new_page()
    sign_in(page, "k-pricing", "pia")
    answer = page.goto("/ui/analytics")
    assert answer.status == 200
    main = page.inner_text("main")
    for heading in ("Margin", "Turnover", "Grading", "Routes", "Carbon"):
        assert heading.lower() in main.lower(), heading
    plots = page.locator("#analytics img[src^='data:image/png;base64,']")
    assert plots.count() >= 4
    assert all(plots.nth(i).evaluate("i => i.naturalWidth > 100") for i in range(plots.count()))
    page.click("nav >> text=Analytics")
    assert page.url.endswith("/ui/analytics")
    grader = new_page()
    sign_in(grader, "k-grader", "gus")
    assert grader.goto("/ui/analytics").status == 403
    assert "needs the pricing role" in grader.inner_text("main")
