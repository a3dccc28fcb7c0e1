"""HTTP metrics (web/request_context.py, counted by the pipeline) are labelled by route
template, never by raw path; the request is bound for the audit trail while it runs."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tollhouse.errors import TemporarilyUnavailable
from tollhouse.observability import metrics
from tollhouse.observability.audit import current_request
from tollhouse.protocol.results import JsonResult
from tollhouse.security.ratelimit import Decision
from tollhouse.web.observe import observe_token_response
from tollhouse.web.pipeline import Pipeline
from tollhouse.web.proxy import TrustedProxies
from tollhouse.web.request_context import RequestContext


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def show(request: Request) -> Response:
    bound = current_request()
    assert bound is not None
    return JSONResponse({"request_id": bound.request_id, "client_ip": bound.client_ip})


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


def piped(app: Starlette) -> ASGIApp:
    return Pipeline(app, TrustedProxies(), RequestContext(hsts=False))


INNER = Starlette(
    routes=[
        Route("/items/{item_id}", show),
        Route("/boom", boom),
        Route("/plain", lambda r: PlainTextResponse("ok")),
    ]
)
APP = piped(INNER)


async def get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        return await http.get(path)


async def test_requests_are_counted_by_route_template_not_raw_path() -> None:
    before = value("tollhouse_http_requests_total", endpoint="/items/{item_id}", status="200")
    for item in ("a1", "b2", "c3"):
        assert (await get(f"/items/{item}")).status_code == 200
    after = value("tollhouse_http_requests_total", endpoint="/items/{item_id}", status="200")
    assert after - before == 3
    assert value("tollhouse_http_requests_total", endpoint="/items/a1", status="200") == 0
    count = value("tollhouse_http_request_duration_seconds_count", endpoint="/items/{item_id}")
    assert count >= 3


async def test_unrouted_paths_share_one_label() -> None:
    before = value("tollhouse_http_requests_total", endpoint="unmatched", status="404")
    await get("/no/such/path/12345")
    await get("/another/one")
    assert value("tollhouse_http_requests_total", endpoint="unmatched", status="404") == before + 2


async def test_an_unhandled_error_is_counted_as_500() -> None:
    before = value("tollhouse_http_requests_total", endpoint="/boom", status="500")
    answer = await get("/boom")
    assert answer.status_code == 500
    assert answer.json()["error"] == "server_error"  # the pipeline's, not Starlette's page
    assert answer.headers["x-request-id"] in answer.json()["error_description"]
    assert value("tollhouse_http_requests_total", endpoint="/boom", status="500") == before + 1


async def test_request_id_and_client_ip_are_bound_while_the_request_runs() -> None:
    response = await get("/items/x")
    assert response.json() == {
        "request_id": response.headers["x-request-id"],
        "client_ip": "203.0.113.7",
    }
    assert current_request() is None


@pytest.mark.parametrize(
    ("grant_type", "outcome", "labels"),
    [
        (
            "client_credentials",
            JsonResult(200, {"access_token": "t"}),
            ("client_credentials", "ok"),
        ),
        (
            "authorization_code",
            JsonResult(400, {"error": "invalid_grant"}),
            ("authorization_code", "invalid_grant"),
        ),
        (
            "urn:made:up",
            JsonResult(400, {"error": "unsupported_grant_type"}),
            ("unsupported", "unsupported_grant_type"),
        ),
        (None, Response(b'{"error":"invalid_client"}', 401), ("none", "invalid_client")),
        (None, Response(b"not json", 400), ("none", "error")),
    ],
)
def test_token_requests_are_counted_by_known_grant_type_and_error_code(
    grant_type: str | None, outcome: JsonResult | Response, labels: tuple[str, str]
) -> None:
    supported = ("authorization_code", "client_credentials", "refresh_token")
    name = "tollhouse_token_requests_total"
    before = value(name, grant_type=labels[0], status=labels[1])
    observe_token_response(grant_type, supported, outcome)
    assert value(name, grant_type=labels[0], status=labels[1]) == before + 1


class Refusing:
    """A provider whose every rate limit is exhausted."""

    class rate_limits:
        @staticmethod
        async def take(limit: str, key: str, cost: int = 1) -> Decision:
            return Decision(False, 30)


async def test_a_request_answered_before_routing_is_counted_under_its_route() -> None:
    inner = Starlette(routes=[Route("/register/{client_id}", show, methods=["GET"])])
    inner.state.provider = Refusing()
    app = piped(inner)
    before = value("tollhouse_http_requests_total", endpoint="/register/{client_id}", status="429")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        refused = await http.get("/register/abc")
    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down" and refused.headers["retry-after"] == "30"
    assert refused.headers["x-request-id"]
    after = value("tollhouse_http_requests_total", endpoint="/register/{client_id}", status="429")
    assert after == before + 1


async def test_an_unavailable_database_is_counted_under_the_status_the_client_got() -> None:
    async def down(request: Request) -> Response:
        raise TemporarilyUnavailable("the database cannot be reached")

    app = piped(Starlette(routes=[Route("/readyz", down)]))
    before = value("tollhouse_http_requests_total", endpoint="/readyz", status="503")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        answer = await http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer.headers["retry-after"] and answer.headers["x-request-id"]
    assert value("tollhouse_http_requests_total", endpoint="/readyz", status="503") == before + 1
