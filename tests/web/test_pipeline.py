"""web/pipeline.py: every request — the hot endpoints (web/fast_lane.py) and what
Starlette serves alike — gets the same steps: client IP, request id and security
headers, rate limits before the endpoint, metrics, a generic 500 and a 503 that leak
nothing. The real application over a real provider (in-memory storage, real keys),
driven in process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Message

from tests.protocol.conftest import ISSUER, SECRET, World, world  # noqa: F401 (fixture)
from tollhouse.errors import TemporarilyUnavailable
from tollhouse.observability.metrics import REGISTRY
from tollhouse.protocol.results import JsonResult
from tollhouse.provider import Provider
from tollhouse.web.app import create_app


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Plain http (HSTS only per the proxy), 127.0.0.1 a trusted proxy, /introspect a
    burst of 2 per client IP, /token a burst of 2 per client, GET /token (405) a burst of
    1 per client IP."""
    return {
        "trusted_proxies": "127.0.0.1",
        "rate_limit_introspect": "1/min,burst=2",
        "rate_limit_token_client": "1/min,burst=2",
        "rate_limit_token": "1/min,burst=3",
        "insecure_http": True,
    }


class Served:
    def __init__(self, http: httpx.AsyncClient, provider: Provider) -> None:
        self.http = http
        self.provider = provider


@pytest.fixture
async def served(world: World) -> AsyncIterator[Served]:  # noqa: F811 (the fixture)
    """``create_app`` around the protocol tests' provider, started by its lifespan."""

    async def build() -> Provider:
        return world.provider

    app = create_app(world.provider.settings, build)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        yield Served(http, world.provider)
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await lifespan


def count(endpoint: str, status: int) -> float:
    value = REGISTRY.get_sample_value(
        "tollhouse_http_requests_total", {"endpoint": endpoint, "status": str(status)}
    )
    return value or 0.0


def headers_everyone_gets(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-request-id"]


async def introspect(served: Served, client_ip: str, **headers: str) -> httpx.Response:
    return await served.http.post(
        "/introspect",
        data={"token": "not-a-token"},
        auth=("m2m", SECRET),
        headers={"x-forwarded-for": client_ip, **headers},
    )


async def test_an_unexpected_error_is_a_generic_500_naming_the_request_id(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(served.provider.introspection, "handle", broken)
    before = count("/introspect", 500)
    with caplog.at_level(logging.ERROR, logger="tollhouse.error"):
        response = await introspect(served, "192.0.2.1")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "server_error"
    assert response.headers["x-request-id"] in body["error_description"]
    assert "secret detail" not in response.text
    headers_everyone_gets(response)
    assert count("/introspect", 500) == before + 1
    assert any(r.msg == "unhandled error" and r.exc_info for r in caplog.records)


async def test_an_unreachable_database_is_503_with_retry_after(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: Any) -> None:
        raise TemporarilyUnavailable("database down", debug="connection refused by db:5432")

    monkeypatch.setattr(served.provider.introspection, "handle", down)
    response = await introspect(served, "192.0.2.2")
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"]
    assert "5432" not in response.text
    headers_everyone_gets(response)


async def test_the_per_ip_limit_answers_before_the_endpoint_by_forwarded_client(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    handle = served.provider.introspection.handle

    async def counting(request: Any) -> Any:
        seen.append(request.params["token"])
        return await handle(request)

    monkeypatch.setattr(served.provider.introspection, "handle", counting)
    answers = [(await introspect(served, "192.0.2.3")).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert len(seen) == 2  # the refused one never reached the endpoint
    # Another client behind the same trusted proxy has its own bucket.
    assert (await introspect(served, "192.0.2.4")).status_code == 200
    refused = await introspect(served, "192.0.2.3")
    assert refused.json()["error"] == "slow_down" and refused.headers["retry-after"]
    headers_everyone_gets(refused)


async def test_https_per_the_trusted_proxy_gets_hsts(served: Served) -> None:
    plain = await served.http.get("/jwks.json")
    forwarded = await served.http.get("/jwks.json", headers={"x-forwarded-proto": "https"})
    assert "strict-transport-security" not in plain.headers
    assert forwarded.headers["strict-transport-security"] == "max-age=31536000"
    assert plain.json()["keys"] and forwarded.json() == plain.json()
    headers_everyone_gets(forwarded)
    assert plain.headers["x-request-id"] != forwarded.headers["x-request-id"]


async def test_a_response_that_cannot_be_rendered_is_still_a_500(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering fails before anything is sent, so the generic 500 can still be sent."""

    async def unrenderable(*args: Any) -> JsonResult:
        return JsonResult(200, {"active": False}, {"X-Note": "snow \u2603"})  # not latin-1

    monkeypatch.setattr(served.provider.introspection, "handle", unrenderable)
    response = await introspect(served, "192.0.2.5")
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "x-note" not in response.headers
    headers_everyone_gets(response)


async def test_the_per_client_limit_is_the_same_refusal_with_its_log_line(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    form = {"grant_type": "client_credentials"}
    answers = []
    with caplog.at_level(logging.INFO, logger="tollhouse.security"):
        for address in ("192.0.2.10", "192.0.2.11", "192.0.2.12"):  # one client, 3 addresses
            answers.append(
                await served.http.post(
                    "/token", data=form, auth=("m2m", SECRET), headers={"x-forwarded-for": address}
                )
            )
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"] == "slow_down" and refused.headers["retry-after"]
    assert "for this client" in refused.json()["error_description"]
    headers_everyone_gets(refused)
    lines = [r for r in caplog.records if r.msg == "request refused: rate limit"]
    assert len(lines) == 1
    assert lines[0].endpoint == "token_client"  # type: ignore[attr-defined]
    assert lines[0].client == "192.0.2.12"  # type: ignore[attr-defined]
    assert lines[0].request_id == refused.headers["x-request-id"]  # type: ignore[attr-defined]


async def test_starlette_routes_pass_the_same_steps(served: Served) -> None:
    """Other methods on a hot path are Starlette's (405, HEAD), and get the same headers,
    the same per-IP limit and the same metrics."""
    before = count("/token", 405)
    not_allowed = await served.http.get("/token", headers={"x-forwarded-for": "192.0.2.20"})
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "POST"
    assert not_allowed.json()["error"] == "invalid_request"
    headers_everyone_gets(not_allowed)
    assert count("/token", 405) == before + 1
    head = await served.http.head("/jwks.json", headers={"x-forwarded-proto": "https"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["strict-transport-security"] == "max-age=31536000"
    headers_everyone_gets(head)
    statuses = [
        (await served.http.get("/token", headers={"x-forwarded-for": "192.0.2.21"})).status_code
        for _ in range(4)
    ]
    assert statuses == [405, 405, 405, 429]  # the /token bucket of that address


async def test_a_page_error_is_the_pipelines_generic_500(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page used to get Starlette's own plain-text 500."""

    async def broken(*args: Any) -> None:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(served.provider.revocation_feed, "handle", broken)
    response = await served.http.get("/revocations", auth=("m2m", SECRET))
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert response.headers["x-request-id"] in response.json()["error_description"]
    assert "secret detail" not in response.text
    headers_everyone_gets(response)
