"""The gateway app (``/check``, ``/nginx/check``) and the ``tollhouse gateway`` command."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from click.testing import CliRunner

from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.cli.main import cli
from tollhouse.resource import TokenValidator
from tollhouse.resource.gateway import create_app


@pytest.fixture
async def gateway(issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    validator = TokenValidator(issuer.url, AUDIENCE)
    transport = httpx.ASGITransport(app=create_app(validator))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        yield http
    validator.close()


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def test_check_passes_identity_headers(
    issuer: FakeIssuer, gateway: httpx.AsyncClient
) -> None:
    response = await gateway.get("/check", headers=bearer(issuer.mint(sub="u-1\r\nX: y")))
    assert response.status_code == 200
    assert response.headers["x-auth-subject"] == "u-1%0D%0AX: y"  # no header injection
    assert response.headers["x-auth-scopes"] == "read write"
    assert response.headers["x-auth-client-id"] == "client-1"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "HEAD"])
async def test_any_method_and_subpath(
    issuer: FakeIssuer, gateway: httpx.AsyncClient, method: str
) -> None:
    response = await gateway.request(method, "/check/api/v1/x", headers=bearer(issuer.mint()))
    assert response.status_code == 200


async def test_required_scopes_from_query_or_header(
    issuer: FakeIssuer, gateway: httpx.AsyncClient
) -> None:
    token = issuer.mint(scope="read")
    assert (await gateway.get("/check?scope=read", headers=bearer(token))).status_code == 200
    by_query = await gateway.get("/check", params={"scope": "read admin"}, headers=bearer(token))
    assert by_query.status_code == 403
    assert 'scope="read admin"' in by_query.headers["www-authenticate"]
    by_header = await gateway.get("/check", headers=bearer(token, **{"X-Required-Scopes": "x"}))
    assert by_header.status_code == 403


async def test_refusals_follow_rfc6750(issuer: FakeIssuer, gateway: httpx.AsyncClient) -> None:
    missing = await gateway.get("/check")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer realm="{AUDIENCE}"'
    invalid = await gateway.get("/check", headers=bearer(issuer.mint(exp=1)))
    assert invalid.status_code == 401
    assert invalid.json()["error"] == "invalid_token"
    malformed = await gateway.get("/check", headers={"Authorization": "Bearer a b"})
    assert malformed.status_code == 400


async def test_nginx_check_turns_400_into_401(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/nginx/check", headers={"Authorization": "Bearer a b"})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_healthz_reports_keys(issuer: FakeIssuer, gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/healthz")).status_code == 503  # nothing loaded yet
    await gateway.get("/check", headers=bearer(issuer.mint()))
    assert (await gateway.get("/healthz")).json()["status"] == "ok"


def test_cli_requires_issuer_and_audience() -> None:
    result = CliRunner().invoke(cli, ["gateway"], env={"TOLLHOUSE_GATEWAY_ISSUER": None})
    assert result.exit_code == 2
    assert "--issuer" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--issuer", "http://idp.example.test"], "https"),
        (["--revocation", "redis"], "--redis-url"),
        (["--revocation", "feed"], "--client-id"),
        (["--revocation", "introspection", "--client-id", "x"], "--client-secret"),
    ],
)
def test_cli_refuses_bad_configuration_with_one_line(args: list[str], message: str) -> None:
    base = ["gateway", "--issuer", "http://127.0.0.1:9", "--audience", AUDIENCE]
    result = CliRunner().invoke(cli, [*base, *args])
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.strip().count("\n") == 0


def test_cli_auto_mode_needs_a_reachable_issuer_only_with_credentials() -> None:
    base = ["gateway", "--issuer", "http://127.0.0.1:9", "--audience", AUDIENCE]
    result = CliRunner().invoke(cli, [*base, "--client-id", "a", "--client-secret", "b"])
    assert result.exit_code == 1
    assert "discovery" in result.output
