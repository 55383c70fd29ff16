"""Per-request limits of /grade and /assess: pixels in all photos (413) and time (504).

Issue #25 finding 4: four 6300x6300 1-bit PNGs of 4.9 KB each, each under the 40 Mpx limit per
photo, held the worker for ~18 s. The photos' headers are now summed before any is decoded
(`max_request_pixels`) and reading and grading must finish within `request_timeout_s`.
Nothing is stored either way. In-process service (the same code as under `regrade serve`).
"""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from serving.api import uploads
from serving.api.uploads import Limits, PastDeadline, read_photos
from tests.serving.api_models import (
    auth,
    count_cases,
    photo_files,
    running_service,
    service_env,
    service_home,
)

ITEM = {"item_id": "lim-1", "category": "phone", "new_price": "500"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


def blank_png(width: int, height: int) -> bytes:
    """A 1-bit PNG: a few KB for many pixels."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def service(home, tmp_path, **extra):
    url = f"sqlite:///{tmp_path / 'regrade.db'}"
    return running_service(service_env(home, REGRADE_DATABASE_URL=url, **extra)), url


@pytest.mark.parametrize("route", ["/grade", "/assess"])
def test_photos_over_the_pixel_limit_together_are_refused_naming_it(home, tmp_path, route):
    photo = blank_png(1200, 1000)  # 1.2 Mpx each
    running, url = service(home, tmp_path, REGRADE_MAX_REQUEST_PIXELS="2000000")
    with running as client:
        one = client.post(
            route, files=photo_files([photo], "image/png"), data=ITEM, headers=auth("k-intake")
        )
        assert one.status_code == 200, one.text
        before = count_cases(url)
        two = client.post(
            route,
            files=photo_files([photo, photo], "image/png"),
            data=ITEM,
            headers=auth("k-intake"),
        )
    assert two.status_code == 413, two.text
    body = two.json()
    assert body["field"] == "photos"
    assert "2,400,000 pixels in 2 photos" in body["error"]
    assert "limit of 2,000,000 (max_request_pixels)" in body["error"]
    assert count_cases(url) == before


def test_the_default_limit_refuses_four_large_one_bit_pngs(home, tmp_path):
    photo = blank_png(6300, 6300)  # 39.7 Mpx, under the 40 Mpx per photo
    assert len(photo) < 10_000
    running, _ = service(home, tmp_path)
    with running as client:
        answer = client.post(
            "/grade", files=photo_files([photo] * 4, "image/png"), headers=auth("k-intake")
        )
    assert answer.status_code == 413, answer.text
    assert "158,760,000 pixels in 4 photos" in answer.json()["error"]


@pytest.mark.parametrize("route", ["/grade", "/assess"])
def test_a_request_over_its_time_limit_is_504_with_the_reason_and_stores_nothing(
    home, tmp_path, route
):
    photo = blank_png(3000, 3000)  # decoding 9 Mpx takes far longer than 1 ms
    running, url = service(home, tmp_path, REGRADE_REQUEST_TIMEOUT_S="0.001")
    with running as client:
        answer = client.post(
            route, files=photo_files([photo] * 2, "image/png"), data=ITEM, headers=auth("k-intake")
        )
        assert client.get("/readyz").status_code == 200  # the worker is still answering
    assert answer.status_code == 504, answer.text
    assert "over the limit of 0.001 s (request_timeout_s)" in answer.json()["error"]
    assert count_cases(url) == 0


def _posted(tmp_path, photos: list[bytes]) -> list:
    paths = []
    for pos, data in enumerate(photos):
        paths.append(tmp_path / f"p{pos}.png")
        paths[-1].write_bytes(data)
    return paths


LIMITS = Limits(max_photos=8, max_photo_bytes=10**7, max_request_bytes=10**8,
                max_request_pixels=10**8, request_timeout_s=60.0)  # fmt: skip


def test_read_photos_decodes_each_photo_of_a_unit_in_one_call(tmp_path):
    paths = _posted(tmp_path, [blank_png(30, 20), blank_png(40, 10)])
    photos = read_photos(paths, LIMITS, ["a.png", None], deadline=time.monotonic() + 60)
    assert [p.image.size for p in photos] == [(30, 20), (40, 10)]
    assert [p.image.mode for p in photos] == ["RGB", "RGB"]
    assert [p.filename for p in photos] == ["a.png", None]


def test_read_photos_decodes_no_photo_begun_past_its_deadline(tmp_path, monkeypatch):
    paths = _posted(tmp_path, [blank_png(30, 20)] * 3)
    decoded = []

    def slow_decode(posted):
        decoded.append(posted.field)
        time.sleep(0.05)
        return posted

    monkeypatch.setattr(uploads, "decode_photo", slow_decode)
    with pytest.raises(PastDeadline, match=r"photos\[1\] was not decoded"):
        read_photos(paths, LIMITS, deadline=time.monotonic() + 0.02)
    assert decoded == ["photos[0]"]
    with pytest.raises(PastDeadline, match=r"photos\[0\]"):
        read_photos(paths, LIMITS, deadline=time.monotonic() - 1)
    assert decoded == ["photos[0]"]
