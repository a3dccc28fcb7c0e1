"""RFC 8705 §3 certificate-bound access tokens behind a TLS-terminating proxy: the
client certificate comes in a header that only a trusted proxy is believed on.

The attack of other IdPs: a client that reaches the server directly sends the header
itself, naming any certificate. Here a server that does not trust the peer ignores it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.e2e.certs import client_certificate as certificate
from tests.e2e.conftest import Seed, Server, free_port, seed_database, start_server, stop
from tests.e2e.flows import Callback, browse, pkce_pair

HEADER = "X-SSL-Client-Cert"


def start(tmp: pytest.TempPathFactory, name: str, trusted: str) -> Iterator[Server]:
    data_dir = tmp.mktemp(name)
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    env = {"TOLLHOUSE_TLS_CLIENT_CERT_HEADER": HEADER, "TOLLHOUSE_TRUSTED_PROXIES": trusted}
    process, log_path = start_server(data_dir, port, env=env)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The tests' connections come from 127.0.0.1, here the trusted proxy."""
    yield from start(tmp_path_factory, "mtls-proxied", "127.0.0.1")


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The proxy is elsewhere: 127.0.0.1 is any client reaching the server directly."""
    yield from start(tmp_path_factory, "mtls-direct", "10.9.8.7")


def machine_token(server: Server, http: httpx.Client, cert: str | None) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "read_sensors"},
        auth=(server.seed.machine_id, server.seed.confidential_secret),
        headers={HEADER: cert} if cert else {},
    )


def test_discovery_says_tokens_can_be_certificate_bound(behind_proxy: Server) -> None:
    with behind_proxy.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    assert doc["tls_client_certificate_bound_access_tokens"] is True


def test_a_certificate_from_the_trusted_proxy_binds_the_token(behind_proxy: Server) -> None:
    cert, x5t = certificate("meter-reader")
    with behind_proxy.client() as http:
        response = machine_token(behind_proxy, http, cert)
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "Bearer"
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"x5t#S256": x5t}
        seen = http.post(
            "/introspect",
            data={"token": response.json()["access_token"]},
            auth=(behind_proxy.seed.resource_server_id, behind_proxy.seed.confidential_secret),
        ).json()
        assert seen["cnf"] == {"x5t#S256": x5t}


def test_the_header_from_an_untrusted_peer_is_ignored(direct: Server) -> None:
    cert, _ = certificate("forged")
    with direct.client() as http:
        response = machine_token(direct, http, cert)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert "cnf" not in claims


def test_a_malformed_certificate_header_is_a_400(behind_proxy: Server) -> None:
    with behind_proxy.client() as http:
        response = machine_token(behind_proxy, http, "-----BEGIN%20CERTIFICATE-----%0Axx")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_userinfo_wants_the_certificate_the_token_is_bound_to(behind_proxy: Server) -> None:
    cert, _ = certificate("native-app")
    other, _ = certificate("thief")
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": behind_proxy.seed.public_id,
        "redirect_uri": "http://127.0.0.1:7000/cb",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with behind_proxy.client() as http:
        result = browse(
            http, params, username=behind_proxy.seed.username, password=behind_proxy.seed.password
        )
        assert isinstance(result, Callback), result
        response = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": result.code,
                "code_verifier": verifier,
                "redirect_uri": "http://127.0.0.1:7000/cb",
                "client_id": behind_proxy.seed.public_id,
            },
            headers={HEADER: cert},
        )
        assert response.status_code == 200, response.text
        bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
        assert http.get("/userinfo", headers={**bearer, HEADER: cert}).status_code == 200
        for headers in (bearer, {**bearer, HEADER: other}):
            refused = http.get("/userinfo", headers=headers)
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
