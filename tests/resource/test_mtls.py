"""RFC 8705 §3 at a resource server: a certificate-bound token passes only with the
client certificate it names (ASGI TLS extension, or the proxy's header at the gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.e2e.certs import client_certificate
from tests.resource.conftest import AUDIENCE, FakeIssuer
from tollhouse.resource import BearerAuthMiddleware, TokenError, TokenValidator
from tollhouse.resource.gateway import create_app
from tollhouse.resource.mtls import pem_thumbprint

HEADER = "X-SSL-Client-Cert"


async def readings(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.state.token_claims["sub"]})


def with_client_certificate(app: Any, header: str = "x-test-cert") -> Any:
    """Stands in for a server that fills the ASGI TLS extension: the test says which
    certificate the TLS handshake presented."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        values = [v.decode() for k, v in scope.get("headers", []) if k == header.encode()]
        if values:
            chain = [unquote(values[0])]
            scope["extensions"] = {"tls": {"client_cert_chain": chain}}
        await app(scope, receive, send)

    return wrapped


@pytest.fixture
async def api(issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    validator = TokenValidator(issuer.url, AUDIENCE)
    inner = Starlette(routes=[Route("/readings", readings)])
    app = with_client_certificate(BearerAuthMiddleware(inner, validator))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.test") as http:
        yield http
    validator.close()


async def test_the_middleware_wants_the_bound_certificate(
    issuer: FakeIssuer, api: httpx.AsyncClient
) -> None:
    cert, x5t = client_certificate("meter")
    other, _ = client_certificate("thief")
    token = issuer.mint(cnf={"x5t#S256": x5t})
    bearer = {"Authorization": f"Bearer {token}"}
    ok = await api.get("/readings", headers={**bearer, "x-test-cert": cert})
    assert ok.status_code == 200, ok.text
    for headers in (bearer, {**bearer, "x-test-cert": other}):
        refused = await api.get("/readings", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"


async def test_the_gateway_takes_the_certificate_from_the_proxy(issuer: FakeIssuer) -> None:
    cert, x5t = client_certificate("meter")
    validator = TokenValidator(issuer.url, AUDIENCE)
    transport = httpx.ASGITransport(app=create_app(validator, client_cert_header=HEADER))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as gw:
            bearer = {"Authorization": f"Bearer {issuer.mint(cnf={'x5t#S256': x5t})}"}
            ok = await gw.get("/nginx/check", headers={**bearer, HEADER: cert})
            assert ok.status_code == 200, ok.text
            assert (await gw.get("/nginx/check", headers=bearer)).status_code == 401
    finally:
        validator.close()


def test_validate_refuses_a_certificate_bound_token(issuer: FakeIssuer) -> None:
    _, x5t = client_certificate("meter")
    validator = TokenValidator(issuer.url, AUDIENCE)
    try:
        with pytest.raises(TokenError):
            validator.validate(issuer.mint(cnf={"x5t#S256": x5t}))
    finally:
        validator.close()


def test_thumbprint_of_escaped_and_plain_pem_agree() -> None:
    escaped, x5t = client_certificate("meter")
    assert pem_thumbprint(escaped) == pem_thumbprint(unquote(escaped)) == x5t
    with pytest.raises(ValueError):
        pem_thumbprint("-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----")
