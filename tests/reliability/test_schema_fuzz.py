"""Schemathesis over the whole OpenAPI document: no 5xx, and every answer as documented.

The in-process service (tiny models, SQLite, an admin key) answers every operation of
`/docs.json`; schemathesis generates requests from the document (valid and invalid ones) and
checks `not_a_server_error` and `response_schema_conformance` (the body matches the schema of its
status, `ErrorBody` for every refusal). The examples are bounded (`EXAMPLES` per operation) so the
file runs in well under a minute once the models are built.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.reliability.inprocess import ADMIN, admin_service
from tests.serving.api_models import _app

EXAMPLES = 12
"""Generated requests per operation."""


def http_only(app):
    """`app` for HTTP, with a lifespan of its own that does nothing.

    Schemathesis starts the lifespan of the app it is given and keeps it for the process; the
    service's own lifespan (loading the models into the one runtime slot) is the fixture's.
    """

    async def wrapped(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                return await send({"type": "lifespan.shutdown.complete"})

    return wrapped


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    models = tmp_path_factory.getbasetemp() / "service-models"
    yield from admin_service(tmp_path_factory.mktemp("fuzz"), models)


# Loaded when the module is collected (the document needs no models); pytest 9 breaks
# schemathesis's fixture-loaded schemas (`from_fixture`).
schema = schemathesis.openapi.from_asgi("/docs.json", http_only(_app()))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented_and_never_5xx(case, started):
    case.call_and_validate(headers=ADMIN, checks=[not_a_server_error, response_schema_conformance])
