"""A bounded schemathesis run against a real server, driven by its own ``/openapi.json``:
no request yields a 5xx, and every response has a documented status code, a documented
content type and a body matching the documented schema.

Each operation gets schema-conforming (positive) and schema-violating (negative) cases,
``MAX_EXAMPLES`` of each. The operations are taken from the published document; the
parametrisation lists them from :mod:`tollhouse.web.openapi` so each is its own test.
(schemathesis' own lazy pytest loader does not run under pytest 9, hence ``as_strategy``.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import FuzzServer
from tollhouse.web.openapi import PATHS

MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [(path, method.upper()) for path, item in PATHS.items() for method in item]
CASES = [
    (path, method.upper(), mode)
    for path, item in PATHS.items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # An operation without inputs has no schema-violating request.
    if mode is GenerationMode.POSITIVE or {"parameters", "requestBody"} & set(operation)
]


@pytest.fixture(scope="module")
def published_schema(fuzz_server: FuzzServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server.base_url}/openapi.json")


@pytest.fixture(scope="module")
def session(fuzz_server: FuzzServer) -> Iterator[object]:
    import requests

    with requests.Session() as http:
        yield http


def test_the_published_document_lists_every_described_operation(fuzz_server: FuzzServer) -> None:
    served = httpx.get(f"{fuzz_server.base_url}/openapi.json", timeout=10).json()
    assert [(p, m.upper()) for p, item in served["paths"].items() for m in item] == OPERATIONS


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_json_endpoints_conform_to_their_openapi_description(
    published_schema: schemathesis.BaseSchema,
    session: object,
    fuzz_server: FuzzServer,
    path: str,
    method: str,
    mode: GenerationMode,
) -> None:
    operation = published_schema[path][method]
    seed = fuzz_server.seed
    credentials = st.sampled_from(
        [
            None,
            fuzz_server.basic(seed.confidential_id, seed.confidential_secret),
            fuzz_server.basic(seed.machine_id, seed.confidential_secret),
        ]
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode), authorization=credentials)
    def check(case: schemathesis.Case, authorization: str | None) -> None:
        # Some cases authenticate as a real client, so the grant and token rules answer,
        # not only client authentication.
        headers = {"Authorization": authorization} if authorization else None
        response = case.call(session=session, headers=headers, timeout=10)
        case.validate_response(response, checks=CHECKS)

    check()
