"""The OpenAPI document (`/docs.json`) and the Swagger UI page (`/docs`) the service serves.

BentoML writes the document from the APIs and the mounted routes; `document` completes it so that
it tells the truth: the bearer scheme (`securitySchemes`) and `security` on every operation that
needs a key, so Swagger's "Try it out" sends one; every status an operation can answer besides
its own (401, 403, 404, 409, 410, 413, 415, 422, 503, 504) with the one error body,
`ErrorBody`, which replaces BentoML's and FastAPI's error schemas; no pages (`/ui` is for
browsers, not the API); our own `info` (BentoML's default description pulls badge images from
third-party sites).
OpenAPI 3.1, because the schemas pydantic writes are JSON Schema 2020-12.

`DOCS_PAGE` is a Swagger UI page of our own over BentoML's bundled swagger-ui files: BentoML's
page loads Google Tag Manager, a third-party script on the service's origin.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from pathlib import Path
from typing import Any

from serving.api.auth import needs_key, roles_for
from serving.api.errors import ErrorBody
from serving.api.idempotency import HEADER, MAX_KEY

DOCS_PAGE = (Path(__file__).parent / "static" / "docs.html").read_bytes()
"""The Swagger UI page (its scripts are BentoML's, served at `/static_content/`)."""
SCHEME = "bearer"
"""The security scheme's name."""
ERROR_REF = "#/components/schemas/ErrorBody"
TITLE = "regrade"
DESCRIPTION = (
    "Grade, price and route returned units; the review, pricing-decision and outcome routes.\n\n"
    "Authenticate with an API key (**Authorize**, then `Authorization: Bearer <key>`); the key's "
    "roles (intake, grader, pricing, admin) decide the operations it may call. Every refusal "
    "answers `ErrorBody`: `error`, and the `field` at fault."
)
PAGES = "/ui"
"""Paths under it are the people's pages, left out of the API's document."""
UPLOADS = frozenset({"/grade", "/assess"})
"""Operations that take multipart photos only (415 otherwise)."""
JSON_ONLY = frozenset({"/price"})
"""Operations that take JSON only (415 otherwise)."""
CONFLICTS = frozenset(
    {
        ("post", "/assess"),
        ("post", "/reviews/{case_id}/resolve"),
        ("post", "/second-gradings/{case_id}/grade"),
        ("post", "/pricing/{case_id}/decision"),
    }
)
"""Operations that refuse a request contradicting what is recorded (409)."""
IDEMPOTENT = frozenset({("post", "/assess")})
"""Operations that take an `Idempotency-Key` header (BentoML does not document headers)."""
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
WHY = {
    400: "The body cannot be read or does not match its schema, a photo is refused, or a header "
    "(Authorization, Idempotency-Key) is sent twice or malformed.",
    401: "No key, or an unknown key: send `Authorization: Bearer <key>`.",
    403: "The key's roles may not call this operation.",
    404: "No such case or photo.",
    409: "Contradicts what is recorded: a different resolution or decision, a decision while the "
    "review is open, an Idempotency-Key already used with another body.",
    410: "The photo is recorded but its file is gone.",
    413: "The body, or a photo, is over its size limit.",
    415: "The body is not of the type this operation takes.",
    422: "A value the schema or the store refuses (`field` names it).",
    500: "The service failed; the server log has the details.",
    503: "The case database cannot be reached or written, or the grader shed the unit under load; "
    "nothing was stored.",
    504: "Reading and grading the photos took longer than the request timeout; nothing was stored.",
}


def _error(status: int) -> dict[str, Any]:
    return {
        "description": WHY[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def _statuses(method: str, path: str, operation: dict[str, Any]) -> dict[int, bool]:
    """Which error statuses `operation` can answer (True) or cannot (False)."""
    bentoml_api = "x-bentoml-name" in operation
    return {
        400: bentoml_api or "requestBody" in operation or needs_key(path),
        401: needs_key(path),
        403: needs_key(path) and roles_for(method.upper(), path) is not None,
        404: "{" in path,
        409: (method, path) in CONFLICTS,
        410: path.startswith("/photos/"),
        413: method == "post",
        415: method == "post" and path in UPLOADS | JSON_ONLY,
        422: "422" in operation.get("responses", {}),
        500: bentoml_api,
        503: needs_key(path),
        504: method == "post" and path in UPLOADS,
    }


def _idempotency_key() -> dict[str, Any]:
    return {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": "A retry with the same key and body answers the first case (409 with "
        "another body).",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "^[!-~]+$"},
    }


def _complete(method: str, path: str, operation: dict[str, Any]) -> None:
    # BentoML keys its responses by int, FastAPI by str: as JSON both are the same key, twice.
    responses = {str(k): v for k, v in operation.get("responses", {}).items()}
    operation["responses"] = responses
    for status, answered in _statuses(method, path, operation).items():
        if answered:
            responses[str(status)] = _error(status)
        else:
            responses.pop(str(status), None)
    if needs_key(path):
        operation["security"] = [{SCHEME: []}]
    if (method, path) in IDEMPOTENT:
        operation["parameters"] = [*operation.get("parameters", []), _idempotency_key()]
    responses.setdefault("200", {"description": HTTPStatus.OK.phrase})


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """The API's OpenAPI document: BentoML's `spec`, completed (see the module); `spec` is kept.

    Args:
        spec: What BentoML's `Service.openapi_spec.asdict()` gives.
    """
    spec = copy.deepcopy(spec)
    spec["openapi"] = "3.1.0"
    version = str((spec.get("info") or {}).get("version"))
    version = "dev" if version in ("", "None") else version  # BentoML's when not in a bento
    spec["info"] = {"title": TITLE, "version": version, "description": DESCRIPTION}
    paths = {p: item for p, item in spec.get("paths", {}).items() if not _is_page(p)}
    for path, item in paths.items():
        for method in METHODS:
            if isinstance(item.get(method), dict):
                _complete(method, path, item[method])
    spec["paths"] = paths
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    components["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`Authorization: Bearer <key>`); its roles pick the routes.",
        }
    }
    return spec


def _is_page(path: str) -> bool:
    return path == PAGES or path.startswith(PAGES + "/")
