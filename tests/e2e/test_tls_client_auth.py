"""RFC 8705 §2 mutual-TLS client authentication through real HTTP, the certificate
brought by a trusted TLS-terminating proxy's header.

The attacks: a certificate naming someone else, another key under the same name
(self-signed), and a client reaching the server directly and sending the proxy's
header itself, naming the victim's certificate: refused, with nothing issued.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey

from tests.e2e.certs import named_client_certificate
from tests.e2e.conftest import SENSORS, Seed, Server, free_port, seed_database, start_server, stop
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.storage.sql.storage import open_storage

HEADER = "X-SSL-Client-Cert"
DN = "CN=billing-batch,O=Example Grid"
SELF_SIGNED_KEY = named_client_certificate("CN=edge-gateway")[2]
JWKS = json.dumps({"keys": [ECKey.import_key(SELF_SIGNED_KEY.public_key()).as_dict()]})


async def add_mtls_clients(url: str) -> None:
    storage = await open_storage(url)
    now = int(time.time())
    common = {
        "redirect_uris": (),
        "grant_types": (GrantType.CLIENT_CREDENTIALS,),
        "created_at": now,
    }
    try:
        await storage.add_client(
            Client(
                client_id="billing-batch",
                name="Billing batch",
                token_endpoint_auth_method=AuthMethod.TLS_CLIENT_AUTH,
                tls_client_auth_kind="subject_dn",
                tls_client_auth_name=DN,
                introspect_audiences=(SENSORS,),
                **common,  # type: ignore[arg-type]
            )
        )
        await storage.add_client(
            Client(
                client_id="edge-gateway",
                name="Edge gateway",
                token_endpoint_auth_method=AuthMethod.SELF_SIGNED_TLS_CLIENT_AUTH,
                jwks=JWKS,
                **common,  # type: ignore[arg-type]
            )
        )
        await storage.add_client(
            Client(
                client_id="sensor-7",
                name="Sensor 7",
                token_endpoint_auth_method=AuthMethod.TLS_CLIENT_AUTH,
                tls_client_auth_kind="san_dns",
                tls_client_auth_name="sensor-7.devices.example",
                **common,  # type: ignore[arg-type]
            )
        )
    finally:
        await storage.close()


def start(tmp: pytest.TempPathFactory, name: str, trusted: str) -> Iterator[Server]:
    data_dir = tmp.mktemp(name)
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    asyncio.run(add_mtls_clients(database_url))
    port = free_port()
    env = {"TOLLHOUSE_TLS_CLIENT_CERT_HEADER": HEADER, "TOLLHOUSE_TRUSTED_PROXIES": trusted}
    process, log_path = start_server(data_dir, port, env=env)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start(tmp_path_factory, "tls-auth-proxied", "127.0.0.1")


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The proxy is elsewhere: 127.0.0.1 is a client reaching the server directly."""
    yield from start(tmp_path_factory, "tls-auth-direct", "10.9.8.7")


def token(http: httpx.Client, client_id: str, cert: str | None, **extra: str) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": client_id, **extra},
        headers={HEADER: cert} if cert else {},
    )


def refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_discovery_offers_the_mtls_methods(proxied: Server) -> None:
    with proxied.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    methods = doc["token_endpoint_auth_methods_supported"]
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(methods)


def test_tls_client_auth_by_subject_dn_binds_the_token(proxied: Server) -> None:
    cert, x5t, _ = named_client_certificate(DN)
    with proxied.client() as http:
        response = token(http, "billing-batch", cert)
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"x5t#S256": x5t}
        assert claims["client_id"] == "billing-batch"
        # Every client-authenticated endpoint: introspection with the same certificate.
        seen = http.post(
            "/introspect",
            data={"token": response.json()["access_token"], "client_id": "billing-batch"},
            headers={HEADER: cert},
        )
        assert seen.status_code == 200 and seen.json()["active"] is True, seen.text


def test_a_certificate_naming_someone_else_is_refused(proxied: Server) -> None:
    other, _, _ = named_client_certificate("CN=billing-batch,O=Elsewhere")
    with proxied.client() as http:
        refused(token(http, "billing-batch", other))
        refused(token(http, "billing-batch", None))


def test_a_secret_beside_the_certificate_is_refused(proxied: Server) -> None:
    cert, _, _ = named_client_certificate(DN)
    with proxied.client() as http:
        refused(token(http, "billing-batch", cert, client_secret="guess"))


def test_tls_client_auth_by_dns_san(proxied: Server) -> None:
    good, _, _ = named_client_certificate("CN=x", san_dns="sensor-7.devices.example")
    bad, _, _ = named_client_certificate("CN=sensor-7.devices.example", san_dns="sensor-8.x")
    with proxied.client() as http:
        assert token(http, "sensor-7", good).status_code == 200
        refused(token(http, "sensor-7", bad))


def test_self_signed_needs_the_registered_key(proxied: Server) -> None:
    cert, x5t, _ = named_client_certificate("CN=edge-gateway", key=SELF_SIGNED_KEY)
    impostor, _, _ = named_client_certificate("CN=edge-gateway")
    with proxied.client() as http:
        response = token(http, "edge-gateway", cert)
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"x5t#S256": x5t}
        refused(token(http, "edge-gateway", impostor))


def test_the_header_from_an_untrusted_peer_authenticates_nobody(direct: Server) -> None:
    cert, _, _ = named_client_certificate(DN)
    with direct.client() as http:
        refused(token(http, "billing-batch", cert))
