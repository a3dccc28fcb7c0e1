"""HTTP metrics (web/request_context.py) are labelled by route template, never by raw
path; the request is bound for the audit trail while it runs."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tollhouse.errors import TemporarilyUnavailable
from tollhouse.observability import metrics
from tollhouse.observability.audit import current_request
from tollhouse.protocol.results import JsonResult
from tollhouse.web.observe import observe_token_response
from tollhouse.web.request_context import RequestContext


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def show(request: Request) -> Response:
    bound = current_request()
    assert bound is not None
    return JSONResponse({"request_id": bound.request_id, "client_ip": bound.client_ip})


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


def with_state(app: ASGIApp) -> ASGIApp:
    """What TrustedProxies puts in the scope before RequestContext runs."""

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = {"client_ip": "203.0.113.7"}
        await app(scope, receive, send)

    return outer


INNER = Starlette(
    routes=[
        Route("/items/{item_id}", show),
        Route("/boom", boom),
        Route("/plain", lambda r: PlainTextResponse("ok")),
    ]
)
APP = with_state(RequestContext(INNER, hsts=False, routes=INNER.routes))


async def get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP, raise_app_exceptions=False)
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
    assert (await get("/boom")).status_code == 500
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


async def test_a_request_answered_before_routing_is_counted_under_its_route() -> None:
    inner = Starlette(routes=[Route("/token", show, methods=["POST"])])

    async def too_many(scope: Scope, receive: Receive, send: Send) -> None:
        # What a rate limit in front of the router does: answer without routing.
        await PlainTextResponse("slow down", status_code=429)(scope, receive, send)

    app = with_state(RequestContext(too_many, hsts=False, routes=inner.routes))
    before = value("tollhouse_http_requests_total", endpoint="/token", status="429")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        assert (await http.post("/token")).status_code == 429
        assert (await http.post("/nowhere")).status_code == 429
    assert value("tollhouse_http_requests_total", endpoint="/token", status="429") == before + 1


async def test_an_unavailable_database_is_counted_under_the_status_the_client_got() -> None:
    async def down(scope: Scope, receive: Receive, send: Send) -> None:
        raise TemporarilyUnavailable("the database cannot be reached")

    routes = Starlette(routes=[Route("/token", show, methods=["POST"])]).routes
    app = with_state(RequestContext(down, hsts=False, routes=routes))
    before = value("tollhouse_http_requests_total", endpoint="/token", status="503")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        answer = await http.post("/token")
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert value("tollhouse_http_requests_total", endpoint="/token", status="503") == before + 1
