"""The OpenAPI document, fuzzed against the live API process with an organization's key.

For every operation of ``/openapi.json`` Schemathesis generates valid and invalid requests and
checks each answer: never a 5xx, the status code and content type are declared, the body matches
the declared schema (problem+json included), invalid input is refused. Ids it invents match
nothing, so the calls stay cheap (404s, 422s, small creates); no operation is excluded. Examples
per operation and mode are few, so the run stays well under a minute.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from tests.support import create_tenant

EXAMPLES = 8
# Not checked: "schema-valid requests are accepted". The server also refuses what JSON Schema cannot
# say (date_from after date_to, a cron that does not parse, a source config invalid for its kind),
# with a 422 naming the field; those 422s are declared and their bodies are checked like any other.


@pytest.fixture(scope="module")
def fuzz_headers(stack, dsp_sandbox) -> dict[str, str]:
    tenant = asyncio.run(create_tenant(stack.settings.database.url,
                                       source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token}))
    return tenant.headers


# HTTP framing and connection handling are the HTTP server's, not the API's: a made-up Content-Length
# ("Ef") is refused by uvicorn's parser with a plain-text 400 before any route sees the request.
FRAMING_HEADERS = {"content-length", "transfer-encoding", "host", "connection", "upgrade", "expect", "te",
                   "trailer", "keep-alive", "proxy-connection", "http2-settings"}


def fuzz(operation, mode: schemathesis.GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        if case.headers:
            case.headers = {name: value for name, value in case.headers.items()
                            if name.lower() not in FRAMING_HEADERS}
        # A case whose headers are the invalid part (Authorization left out or garbled) goes as generated:
        # our key would mend it, and the invalid query beside it may serialise to nothing (an empty list),
        # so the request would be valid after all; the API's 401 is the answer to check then.
        negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
        case.call_and_validate(headers=None if negative_headers else headers, timeout=30,
                               excluded_checks=[positive_data_acceptance])

    run()


def test_every_operation_answers_as_documented(stack, fuzz_headers):
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures = []
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            try:
                fuzz(operation, mode, fuzz_headers)
            except Unsatisfiable:
                assert mode is schemathesis.GenerationMode.NEGATIVE  # nothing to get wrong: no input at all
            except Exception as exc:  # every operation's failure is collected, then all reported
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)


def test_the_document_declares_the_bearer_scheme_and_problem_answers(stack):
    import httpx

    assert httpx.get(f"{stack.api_url}/docs").status_code == 200
    document = httpx.get(f"{stack.api_url}/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer etl_…`"}
    operations = [(path, operation) for path, item in document["paths"].items() if path.startswith("/api/v1/etl")
                  for operation in item.values()]
    assert len(operations) >= 30
    for path, operation in operations:
        assert operation["security"] == [{"HTTPBearer": []}], path
        for status in ("401", "404", "422", "503"):
            content = operation["responses"][status]["content"]
            assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "HTTPValidationError" not in document["components"]["schemas"]  # 422s are problems, not FastAPI's shape
