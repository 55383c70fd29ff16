"""Bad input gets a 4xx naming the field, the server stays up and no partial case is stored."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.serving.api_models import (
    auth,
    count_cases,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)

INTAKE = auth("k-intake")
MAX_PHOTO_BYTES = 200_000
MAX_REQUEST_BYTES = 1_500_000
ITEM = {"item_id": "u-bad", "category": "phone", "acquisition_cost": 40}


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    url = f"sqlite:///{tmp_path_factory.mktemp('bad') / 'regrade.db'}"
    env = service_env(
        home,
        REGRADE_DATABASE_URL=url,
        REGRADE_MAX_PHOTOS="4",
        REGRADE_MAX_PHOTO_BYTES=str(MAX_PHOTO_BYTES),
        REGRADE_MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES),
    )
    with running_service(env) as client:
        yield client, home, url


def bad_photos(home):
    good = toy_photos(home, 1)[0]
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    return {
        "not_an_image": ([good, b"hello, not a photo"], "photos[1]", 400, "not an image"),
        "truncated": ([good[: len(good) // 2]], "photos[0]", 400, "truncated"),
        "bomb": ([png(np.zeros((6000, 8000), np.uint8))], "photos[0]", 400, "bomb"),
        "too_large": ([png(noise)], "photos[0]", 413, "over the limit"),
        "too_many": ([good] * 5, "photos", 400, "at most 4"),
        "empty": ([b""], "photos[0]", 400, "empty"),
    }


@pytest.mark.parametrize("route", ["/assess", "/grade"])
@pytest.mark.parametrize(
    "case", ["not_an_image", "truncated", "bomb", "too_large", "too_many", "empty"]
)
def test_bad_photos_are_refused_by_name_and_nothing_is_stored(service, route, case):
    client, home, url = service
    photos, field, status, words = bad_photos(home)[case]
    before = count_cases(url)
    answer = client.post(route, files=photo_files(photos), data=ITEM, headers=INTAKE)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field and words in answer.json()["error"].lower()
    assert count_cases(url) == before
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**ITEM, "acquisition_cost": -5}, "acquisition_cost"),
        ({**ITEM, "bogus": "1"}, "bogus"),
        ({**ITEM, "age_months": "old"}, "age_months"),
        ({**ITEM, "source": "found_it"}, "source"),
        ({**ITEM, "opened": "maybe"}, "opened"),
        ({"category": "phone"}, "item_id"),
        ({**ITEM, "benchmark_ebay": -3}, "extras"),
    ],
)
def test_bad_fields_are_refused_by_name_and_nothing_is_stored(service, data, field):
    client, home, url = service
    before = count_cases(url)
    answer = client.post(
        "/assess", files=photo_files(toy_photos(home, 1)), data=data, headers=INTAKE
    )
    assert answer.status_code == 400, answer.text
    assert [d["loc"][0] for d in answer.json()["detail"]] == [field]
    assert count_cases(url) == before


def multipart(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A multipart body of text fields only (httpx sends a form without files urlencoded)."""
    parts = [
        f'--zz\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    body = ("".join(parts) + "--zz--\r\n").encode()
    return body, {**INTAKE, "Content-Type": "multipart/form-data; boundary=zz"}


def test_no_photo_and_an_oversized_body_are_refused(service):
    client, home, url = service
    before = count_cases(url)
    body, headers = multipart({k: str(v) for k, v in ITEM.items()})
    none = client.post("/assess", content=body, headers=headers)
    assert none.status_code == 400 and none.json()["field"] == "photos", none.text
    huge = [b"\xff" * (MAX_REQUEST_BYTES + 10)]
    big = client.post("/assess", files=photo_files(huge), data=ITEM, headers=INTAKE)
    assert big.status_code == 413 and "over the limit" in big.json()["error"]
    assert count_cases(url) == before
    good = client.post("/assess", files=photo_files(toy_photos(home, 2)), data=ITEM, headers=INTAKE)
    assert good.status_code == 200 and count_cases(url) == before + 1


@pytest.mark.parametrize(
    ("item", "loc"),
    [
        ({"bogus": 1}, ["items", 0, "bogus"]),
        ({"refurb_cost": -1}, ["items", 0, "refurb_cost"]),
        ({"age_months": "old"}, ["items", 0, "age_months"]),
        ({"grade": "Z"}, ["items", 0, "grade"]),
        ({"item_id": None}, ["items", 0, "item_id"]),
    ],
)
def test_price_refuses_bad_items_by_name(service, item, loc):
    client, _, _ = service
    body = {"items": [{"item_id": "a", "category": "phone", "grade": "A", **item}]}
    answer = client.post("/price", json=body, headers=INTAKE)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"][0]["loc"] == loc


def test_price_refuses_an_empty_list_and_unknown_top_level_fields(service):
    client, _, _ = service
    assert client.post("/price", json={"items": []}, headers=INTAKE).status_code == 400
    extra = {"items": [{"item_id": "a", "category": "c", "grade": "A"}], "x": 1}
    answer = client.post("/price", json=extra, headers=INTAKE)
    assert answer.status_code == 400 and "x" in str(answer.json())


@pytest.mark.parametrize("route", ["/assess", "/grade"])
def test_malformed_uploads_are_refused_before_parsing(service, route):
    client, home, url = service
    before = count_cases(url)
    body, headers = multipart({**ITEM, "photos": "http://127.0.0.1:9/x.jpg"})
    as_text = client.post(route, content=body, headers=headers)
    assert as_text.status_code == 400 and as_text.json()["field"] == "photos[0]"
    server_path = client.post(route, json={**ITEM, "photos": ["/etc/hostname"]}, headers=INTAKE)
    assert server_path.status_code == 415
    broken = client.post(route, content=b"garbage", headers=headers)
    assert broken.status_code == 400 and broken.json()["field"] == "body"
    files = [*photo_files(toy_photos(home, 1)), ("brand", ("b.txt", b"acme", "text/plain"))]
    misplaced = client.post(route, files=files, data=ITEM, headers=INTAKE)
    assert misplaced.status_code == 400 and misplaced.json()["field"] == "brand"
    assert count_cases(url) == before
    assert client.get("/readyz").status_code == 200
