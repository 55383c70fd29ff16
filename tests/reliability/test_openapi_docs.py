"""A truthful OpenAPI document, our own docs page, refusals as one INFO line (#25, finding 10)."""

from __future__ import annotations

import json
import logging
import re

import jsonschema
import pytest

from serving.api.errors import ErrorBody, field_name, validation_body
from serving.api.openapi import document
from serving.api.refusals import error_body
from tests.reliability.inprocess import ADMIN, ITEM, admin_service
from tests.serving.api_models import photo_files

PROTECTED = {
    ("post", "/grade"), ("post", "/price"), ("post", "/assess"), ("get", "/reviews"),
    ("post", "/reviews/{case_id}/resolve"), ("get", "/pricing/pending"),
    ("post", "/pricing/{case_id}/decision"), ("post", "/outcomes"), ("get", "/cases/{case_id}"),
    ("get", "/photos/{sha256}"), ("get", "/listings"), ("post", "/admin/reload"),
}  # fmt: skip


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    models = tmp_path_factory.getbasetemp() / "service-models"
    yield from admin_service(tmp_path_factory.mktemp("docs"), models)


@pytest.fixture(scope="module")
def spec(service):
    answer = service.client.get("/docs.json")
    assert answer.status_code == 200
    return answer.json()


def test_the_document_has_no_duplicated_keys(service):
    def unique(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
        return dict(pairs)

    json.loads(service.client.get("/docs.json").text, object_pairs_hook=unique)


def test_the_document_declares_bearer_auth_on_every_protected_operation(spec):
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for method, path in PROTECTED:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearer": []}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
    for path in ("/readyz", "/livez"):
        assert "security" not in spec["paths"][path]["get"]
        assert "401" not in spec["paths"][path]["get"]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "statuses", "absent"),
    [
        ("post", "/assess", {"400", "409", "413", "415"}, {"404", "410"}),
        ("post", "/grade", {"400", "413", "415", "503", "504"}, {"404", "409"}),
        ("post", "/price", {"400", "413", "415"}, {"404", "409"}),
        ("post", "/reviews/{case_id}/resolve", {"400", "404", "409", "413", "422"}, {"415"}),
        ("post", "/pricing/{case_id}/decision", {"404", "409", "422"}, {"410"}),
        ("get", "/photos/{sha256}", {"404", "410"}, {"409", "413"}),
        ("get", "/reviews", {"400", "422", "503"}, {"404", "409", "413"}),
    ],
)
def test_each_operation_documents_the_statuses_it_answers(spec, method, path, statuses, absent):
    responses = spec["paths"][path][method]["responses"]
    assert statuses <= set(responses) and not absent & set(responses), sorted(responses)
    for status in statuses:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_assess_documents_its_idempotency_key_header(spec):
    (header,) = [p for p in spec["paths"]["/assess"]["post"]["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is False


def test_the_pages_are_left_out_of_the_api_document():
    spec = {
        "openapi": "3.0.2",
        "paths": {
            "/ui/reviews": {"get": {"responses": {}}},
            "/price": {"post": {"x-bentoml-name": "price", "responses": {"404": {}}}},
        },
    }
    completed = document(spec)
    assert list(completed["paths"]) == ["/price"] and completed["openapi"] == "3.1.0"
    assert "404" not in completed["paths"]["/price"]["post"]["responses"]
    assert spec["paths"]["/price"]["post"]["responses"] == {"404": {}}  # the input is kept


def validator(spec):
    schema = {"$ref": "#/components/schemas/ErrorBody", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_400_bodies_on_the_bentoml_routes_match_the_documented_error_body(service, spec):
    client = service.client
    price = client.post("/price", json={"items": [{"item_id": "a"}]}, headers=ADMIN)
    assess = client.post("/assess", files=photo_files([b"not a photo"]), data=ITEM, headers=ADMIN)
    form = client.post(
        "/grade", files=photo_files([b"x"]), data={"age_months": "old"}, headers=ADMIN
    )
    check = validator(spec)
    for answer, field in (
        (price, "items[0].category"),
        (assess, "photos[0]"),
        (form, "age_months"),
    ):
        assert answer.status_code == 400, answer.text
        check.validate(answer.json())
        assert answer.json()["field"] == field, answer.json()
    assert price.json()["detail"][0]["loc"] == ["items", 0, "category"]


def test_the_document_links_to_no_other_site(spec):
    assert spec["info"]["title"] == "regrade"
    assert not re.findall(r"https?://", json.dumps(spec["info"])), spec["info"]


def test_the_docs_page_is_ours_with_no_third_party_script(service):
    for path in ("/docs", "/"):
        page = service.client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "googletagmanager" not in page.text.lower() and "gtm" not in page.text.lower()
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/static_content/") for s in sources), sources
        for source in sources:
            assert service.client.get(source).status_code == 200, source


def test_a_refusal_is_one_info_line_not_a_traceback(service, caplog):
    caplog.set_level(logging.INFO)
    body = {"items": [{"item_id": "a", "category": "phone", "grade": "A", "refurb_cost": -1}]}
    answer = service.client.post("/price", json=body, headers=ADMIN)
    assert answer.status_code == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and "400 items[0].refurb_cost" in lines[0], lines
    assert [r.levelno for r in caplog.records if "refused" in r.getMessage()] == [logging.INFO]


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("body", "sold_price"), "sold_price"),
        (("items", 0, "refurb_cost"), "items[0].refurb_cost"),
        (("query", "offset"), "offset"),
        (("body",), "body"),
        ((), "body"),
    ],
)
def test_field_names(loc, name):
    assert field_name(loc) == name


def test_bentoml_bodies_are_rewritten_in_the_one_shape():
    listed = error_body(b'[{"error": "bad multipart"}]', 400)
    assert listed == {"error": "bad multipart", "field": "body"}
    detail = b'{"error": "1 validation error", "detail": [{"loc": ["x"], "msg": "m", "type": "t"}]}'
    assert error_body(detail, 400) == validation_body([{"loc": ["x"], "msg": "m", "type": "t"}])
    assert error_body(b"not json", 404) == {"error": "not json"}
    ours = {"error": "photos[0]: empty file", "field": "photos[0]"}
    assert error_body(b'{"error": "photos[0]: empty file", "field": "photos[0]"}', 400) == ours
    for body in (listed, validation_body([{"loc": ["x"], "msg": "m", "type": "t"}])):
        ErrorBody.model_validate(body)
