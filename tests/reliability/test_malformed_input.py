"""Malformed input is refused with the field named, never a 500 (issue #25, finding 8).

Each case here was a 500, a reset connection, or a value stored or priced into nonsense.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from serving.api.service import SLOT
from tests.reliability.inprocess import ADMIN, ITEM, admin_service
from tests.serving.api_models import count_cases, photo_files, toy_photos

JSON = {**ADMIN, "Content-Type": "application/json"}
HUGE = "9223372036854775808"  # 2**63: one past the databases' 64-bit integers
PRICE_ITEM = {"item_id": "u-1", "category": "phone", "grade": "B", "acquisition_cost": 40.0}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    models = tmp_path_factory.getbasetemp() / "service-models"
    yield from admin_service(tmp_path_factory.mktemp("malformed"), models)


def count_outcomes(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM outcomes")).scalar_one())
    finally:
        engine.dispose()


def refused(answer, status: int, field: str) -> dict:
    """The answer's body, after checking it is the one error shape naming `field`."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["field"] == field, body
    assert isinstance(body["error"], str) and field.split("[")[0] in body["error"], body
    return body


OUTCOME = '"case_id": "{case}", "sold": true'
OVERRIDE = '"action": "override", "analyst_id": "a"'
RESOLUTION = '"counterfeit": false, "grader_id": "g"'


@pytest.mark.parametrize(
    ("route", "raw", "field"),
    [
        ("/outcomes", f'{{{OUTCOME}, "sold_price": NaN, "days_listed": 3}}', "sold_price"),
        ("/outcomes", f'{{{OUTCOME}, "days_listed": Infinity}}', "days_listed"),
        ("/pricing/{case}/decision", f'{{{OVERRIDE}, "price": -Infinity}}', "price"),
        ("/reviews/{case}/resolve", f'{{{RESOLUTION}, "grade": NaN}}', "grade"),
    ],
)
def test_nan_and_infinity_on_the_peoples_routes_are_refused_by_name(service, route, raw, field):
    case = service.case["case_id"]
    before = count_outcomes(service.database_url)
    body = raw.replace("{case}", case)
    answer = service.client.post(route.format(case=case), content=body, headers=JSON)
    refused(answer, 422, field)
    assert count_outcomes(service.database_url) == before


@pytest.mark.parametrize(
    ("route", "field"),
    [
        (f"/reviews?offset={HUGE}", "offset"),
        (f"/pricing/pending?offset={HUGE}", "offset"),
        (f"/second-gradings?offset={HUGE}", "offset"),
        (f"/listings?since={HUGE}", "since"),
        (f"/listings.csv?since={HUGE}", "since"),
    ],
)
def test_offsets_past_the_databases_integers_are_refused_by_name(service, route, field):
    refused(service.client.get(route, headers=ADMIN), 422, field)


def test_the_largest_offset_taken_still_answers(service):
    answer = service.client.get(f"/reviews?offset={2**62}", headers=ADMIN)
    assert answer.status_code == 200 and answer.json() == []


@pytest.mark.parametrize(
    "kind", ["multipart/form-data", "application/x-www-form-urlencoded", "text/plain"]
)
def test_price_takes_json_only(service, kind):
    answer = service.client.post(
        "/price", content=b"items=1", headers={**ADMIN, "Content-Type": kind}
    )
    refused(answer, 415, "body")


def test_a_photo_whose_file_is_missing_is_gone_not_a_500(service):
    pixels = np.random.default_rng(25).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    files = [("photos", ("only.png", buffer.getvalue(), "image/png"))]
    data = {**ITEM, "item_id": "u-gone"}
    case_id = service.client.post("/assess", files=files, data=data, headers=ADMIN).json()[
        "case_id"
    ]
    photo = service.client.get(f"/cases/{case_id}", headers=ADMIN).json()["photos"][0]
    SLOT.runtime.store.photos.path_for(photo["sha256"], photo["content_type"]).unlink()
    answer = service.client.get(photo["url"], headers=ADMIN)
    assert answer.status_code == 410, answer.text
    assert photo["sha256"] in answer.json()["error"] and "missing" in answer.json()["error"]
    assert service.client.get("/readyz").status_code == 200


def post_price(service, **fields):
    return service.client.post("/price", json={"items": [{**PRICE_ITEM, **fields}]}, headers=ADMIN)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"acquisition_cost": 1e308}, "items[0].acquisition_cost"),
        ({"refurb_cost": 1e300}, "items[0].refurb_cost"),
        ({"logistics_cost": 1e12}, "items[0].logistics_cost"),
        ({"new_price": 1e308}, "items[0].new_price"),
        ({"list_price": 1e300}, "items[0].list_price"),
        ({"benchmark_ebay": 1e308}, "items[0].extras"),
        ({"age_months": 1e300}, "items[0].age_months"),
        ({"inventory_level": 1e300}, "items[0].inventory_level"),
    ],
)
def test_price_refuses_numbers_out_of_range_by_name(service, fields, field):
    refused(post_price(service, **fields), 400, field)


def test_the_largest_cost_taken_prices_with_a_floor(service):
    answer = post_price(service, acquisition_cost=1e9)
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][0]["floor_price"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sold_price": 1e300, "days_listed": 6, "sold": True}, "sold_price"),
        ({"sold_price": 100.0, "days_listed": 1e300, "sold": True}, "days_listed"),
        ({"days_listed": 3651, "sold": False}, "days_listed"),
    ],
)
def test_outcomes_out_of_range_are_refused_and_not_stored(service, body, field):
    before = count_outcomes(service.database_url)
    body = {"case_id": service.case["case_id"], **body}
    refused(service.client.post("/outcomes", json=body, headers=ADMIN), 422, field)
    assert count_outcomes(service.database_url) == before


def test_an_override_price_out_of_range_is_refused(service):
    decision = {"action": "override", "analyst_id": "a", "price": 1e300, "reason": "typo"}
    route = f"/pricing/{service.case['case_id']}/decision"
    refused(service.client.post(route, json=decision, headers=ADMIN), 422, "price")


def test_assess_refuses_a_cost_out_of_range_and_stores_nothing(service):
    before = count_cases(service.database_url)
    files = photo_files(toy_photos(service.home, 1))
    data = {**ITEM, "refurb_cost": "1e308"}
    refused(service.client.post("/assess", files=files, data=data, headers=ADMIN), 400,
            "refurb_cost")  # fmt: skip
    assert count_cases(service.database_url) == before


RESOLVE = {"grade": "B", "counterfeit": False, "grader_id": "g"}


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/outcomes", {"item_id": "u\x00rel", "days_listed": 1, "sold": False}, "item_id"),
        ("/reviews/{case}/resolve", {**RESOLVE, "grader_id": "g\x00"}, "grader_id"),
        ("/reviews/{case}/resolve", {**RESOLVE, "note": "a\x1bb"}, "note"),
        ("/pricing/{case}/decision", {"action": "approve", "analyst_id": "a\x01"}, "analyst_id"),
        ("/price", {"items": [{**PRICE_ITEM, "brand": "No\x00va"}]}, "items[0].brand"),
        ("/price", {"items": [{**PRICE_ITEM, "attr_colour": "bl\x00ack"}]}, "items[0].extras"),
        ("/price", {"items": [{**PRICE_ITEM, "item_id": "u\x7f"}]}, "items[0].item_id"),
    ],
)
def test_control_characters_in_text_are_refused_by_name(service, route, body, field):
    route = route.format(case=service.case["case_id"])
    status = 400 if route == "/price" else 422
    body = refused(service.client.post(route, json=body, headers=ADMIN), status, field)
    assert "control character" in body["error"]


def test_assess_refuses_a_nul_byte_in_a_form_field(service):
    files = photo_files(toy_photos(service.home, 1))
    data = {**ITEM, "serial_number": "SN\x00123"}
    answer = service.client.post("/assess", files=files, data=data, headers=ADMIN)
    assert "control character" in refused(answer, 400, "serial_number")["error"]


def test_a_case_id_with_a_nul_byte_is_refused_by_name(service):
    refused(service.client.get("/cases/a%00b", headers=ADMIN), 422, "case_id")


def test_a_note_may_span_lines(service):
    route = f"/reviews/{service.case['case_id']}/resolve"
    body = {"grade": "B", "counterfeit": False, "grader_id": "g", "note": "scuff\non the back\t"}
    assert service.client.post(route, json=body, headers=ADMIN).status_code in (200, 409)
