"""RFC 8705 on ``tollhouse serve``'s own TLS: with ``TOLLHOUSE_TLS_CLIENT_CA`` the
server asks for a client certificate optionally and verifies it against the CA; the
certificate authenticates a ``tls_client_auth`` client and binds its token. A client
without a certificate (a browser) still connects; a certificate the CA did not issue
ends the handshake."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.certs import issue, write_ca, write_certificate
from tests.e2e.conftest import TOLLHOUSE, Seed, free_port, seed_database, stop
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.resource.mtls import pem_thumbprint
from tollhouse.storage.sql.storage import open_storage

DN = "CN=billing-batch,O=Example Grid"


async def add_client(url: str) -> None:
    storage = await open_storage(url)
    try:
        await storage.add_client(
            Client(
                client_id="billing-batch",
                name="Billing batch",
                redirect_uris=(),
                grant_types=(GrantType.CLIENT_CREDENTIALS,),
                token_endpoint_auth_method=AuthMethod.TLS_CLIENT_AUTH,
                created_at=int(time.time()),
                tls_client_auth_kind="subject_dn",
                tls_client_auth_name=DN,
            )
        )
    finally:
        await storage.close()


class TlsServer:
    def __init__(self, port: int, data_dir: Path, ca: tuple[x509.Name, ec.EllipticCurvePrivateKey]):
        self.url, self.data_dir, self.ca = f"https://127.0.0.1:{port}", data_dir, ca

    def client(self, cert: Path | None = None) -> httpx.Client:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if cert is not None:
            context.load_cert_chain(cert)
        return httpx.Client(base_url=self.url, verify=context, timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    data_dir = tmp_path_factory.mktemp("builtin-mtls")
    url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    asyncio.run(seed_database(url, Seed()))
    asyncio.run(add_client(url))
    cert, key, ca = data_dir / "server.crt", data_dir / "server.key", data_dir / "ca.pem"
    write_certificate(cert, key, 7)
    authority = write_ca(ca)
    port = free_port()
    log_path = data_dir / "server.log"
    env = {"TOLLHOUSE_TLS_CLIENT_CA": str(ca), "TOLLHOUSE_MTLS_BASE_URL": "https://mtls.example"}
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            [
                *(str(TOLLHOUSE), "serve", "--host", "127.0.0.1", "--port", str(port)),
                *("--data-dir", str(data_dir), "--tls-cert", str(cert), "--tls-key", str(key)),
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    running = TlsServer(port, data_dir, authority)
    try:
        for _ in range(300):
            assert process.poll() is None, log_path.read_text()
            try:
                with running.client() as http:
                    if http.get("/healthz").status_code == 200:
                        break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield running
    finally:
        stop(process)


def token(http: httpx.Client) -> httpx.Response:
    return http.post(
        "/token", data={"grant_type": "client_credentials", "client_id": "billing-batch"}
    )


def test_a_ca_issued_certificate_authenticates_and_binds(server: TlsServer, tmp_path: Path) -> None:
    pem = issue(tmp_path / "client.pem", DN, *server.ca)
    x5t = pem_thumbprint(pem.read_text().split("-----BEGIN PRIVATE KEY-----")[0])
    with server.client(pem) as http:
        response = token(http)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": x5t}


def test_no_certificate_still_connects_but_authenticates_nobody(server: TlsServer) -> None:
    with server.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
        response = token(http)
    assert "tls_client_auth" in doc["token_endpoint_auth_methods_supported"]
    assert doc["mtls_endpoint_aliases"]["token_endpoint"] == "https://mtls.example/token"
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_certificate_the_ca_did_not_issue_ends_the_handshake(
    server: TlsServer, tmp_path: Path
) -> None:
    own = ec.generate_private_key(ec.SECP256R1())
    forged = issue(tmp_path / "forged.pem", DN, x509.Name.from_rfc4514_string(DN), own)
    with server.client(forged) as http, pytest.raises(httpx.HTTPError):
        token(http)
