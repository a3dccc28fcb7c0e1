"""/readyz names the dependency that fails; /metrics speaks the Prometheus text format."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tollhouse.provider import Provider
from tollhouse.provider.parts import MetricsAccess
from tollhouse.web import health


class Storage:
    def __init__(self, error: Exception | None = None, delay: float = 0) -> None:
        self.error, self.delay = error, delay

    async def ping(self) -> None:
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error


class KeyRing:
    def __init__(self, algorithms: tuple[str, ...] = ("ES256", "RS256")) -> None:
        self.default_alg = "ES256"
        self.algorithms = algorithms


class FakeProvider:
    """The parts of a provider its readiness checks use, with the provider's checks."""

    readiness_checks = Provider.readiness_checks
    _signing_keys_ready = Provider._signing_keys_ready
    _redis_ready = Provider._redis_ready

    def __init__(self, **parts: Any) -> None:
        self.storage = parts.get("storage", Storage())
        self.keyring = parts.get("keyring", KeyRing())
        self.mirrors = parts.get("mirrors", ())
        self.settings = SimpleNamespace(redis=parts.get("redis"))
        self.metrics_access = MetricsAccess()


async def get(path: str, **parts: Any) -> httpx.Response:
    provider = FakeProvider(**parts)
    app = Starlette(routes=health.routes())
    app.state.provider = provider
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        return await http.get(path)


async def test_ready_when_database_and_keys_answer() -> None:
    response = await get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "signing_keys": "ok"},
    }
    assert response.headers["cache-control"] == "no-store"


async def test_database_down_is_503_naming_the_database_without_the_drivers_message() -> None:
    down = Storage(OSError("connection to db.internal:5432 as admin refused"))
    response = await get("/readyz", storage=down)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == "unavailable (OSError)"
    assert "db.internal" not in response.text
    assert response.headers["retry-after"] == "5"


async def test_redis_is_checked_only_when_configured_and_named_when_down() -> None:
    class DownRedis:
        async def ping(self) -> None:
            raise ConnectionError("redis down")

    assert "redis" not in (await get("/readyz", mirrors=(DownRedis(),))).json()["checks"]
    response = await get("/readyz", redis="redis://127.0.0.1:1", mirrors=(DownRedis(),))
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


async def test_no_signing_key_is_not_ready() -> None:
    response = await get("/readyz", keyring=KeyRing(algorithms=("RS256",)))
    assert response.status_code == 503
    assert response.json()["failed"] == ["signing_keys"]


async def test_a_dependency_that_hangs_counts_as_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.05)
    response = await get("/readyz", storage=Storage(delay=1))
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("timed out")


async def test_metrics_endpoint_serves_the_prometheus_text_format() -> None:
    response = await get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE tollhouse_http_requests_total counter" in response.text
    assert "# TYPE tollhouse_http_request_duration_seconds histogram" in response.text
