"""Relying-party libraries against a real Tollhouse served over HTTPS.

``tollhouse serve`` without ``--insecure-http`` creates a self-signed certificate for
localhost in its data dir; the issuer is ``https://localhost:PORT``. Python clients
trust that certificate through an ``ssl`` context (httpx) or ``REQUESTS_CA_BUNDLE``
(requests, for Authlib); Node.js through ``NODE_EXTRA_CA_CERTS``. No library is told
to accept plain HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from tests.e2e.conftest import HASHER, TOLLHOUSE, free_port, stop
from tests.e2e.flows import Callback, browse
from tollhouse.models import Api, AuthMethod, Client, GrantType, User
from tollhouse.storage.sql.storage import open_storage

SECRET = "interop-secret-" + "i" * 30
CLIENT_KEY = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()), {"kid": "interop-1"})
"""The private_key_jwt client's key (rp-pkjwt): its public half is registered."""
USERNAME = "erin"
PASSWORD = "erin's long and secret passphrase"
CALLBACKS = "http://127.0.0.1:7711"
"""Loopback redirect URIs (RFC 8252 §7.3); nothing listens: the walk stops there."""
INTEROP_API = "https://api.interop.test"
"""The API of the DPoP machine client's tokens (tests/interop/dpop_resource.py)."""


@dataclass
class HttpsIdp:
    issuer: str
    ca_file: Path
    data_dir: Path

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.issuer, verify=self.ssl_context(), timeout=10)

    def sign_in(self, authorization_url: str) -> Callback:
        """The browser's part: the login and consent forms, driven by httpx."""
        parts = urlsplit(authorization_url)
        assert f"{parts.scheme}://{parts.netloc}" == self.issuer
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.client() as http:
            result = browse(http, params, username=USERNAME, password=PASSWORD)
        assert isinstance(result, Callback), getattr(result, "text", result)
        return result


async def _seed(url: str) -> None:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        grants = (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN)
        for client_id, alg in (("rp-authlib", None), ("rp-es256", "ES256")):
            await storage.add_client(
                Client(client_id, f"Interop {client_id}", (f"{CALLBACKS}/{client_id}/cb",), grants,
                       AuthMethod.CLIENT_SECRET_BASIC, now, HASHER.hash(SECRET),
                       id_token_signed_response_alg=alg)
            )  # fmt: skip
        await storage.add_client(
            Client("rp-node", "Interop oauth4webapi", (f"{CALLBACKS}/rp-node/cb",),
                   (GrantType.AUTHORIZATION_CODE,), AuthMethod.NONE, now)
        )  # fmt: skip
        await storage.add_client(
            Client("rp-dpop", "Interop oauth4webapi DPoP", (f"{CALLBACKS}/rp-dpop/cb",),
                   grants, AuthMethod.NONE, now)
        )  # fmt: skip
        await storage.add_client(
            Client("rp-device", "Interop device", (), (GrantType.DEVICE_CODE,), AuthMethod.NONE, now)
        )  # fmt: skip
        await storage.add_client(
            Client("rp-pkjwt", "Interop private_key_jwt", (f"{CALLBACKS}/rp-pkjwt/cb",),
                   grants, AuthMethod.PRIVATE_KEY_JWT, now,
                   jwks=json.dumps({"keys": [CLIENT_KEY.as_dict(private=False)]}),
                   require_pushed_authorization_requests=True)
        )  # fmt: skip
        await storage.add_client(
            Client("rp-authlib-key", "Interop Authlib private_key_jwt", (),
                   (GrantType.CLIENT_CREDENTIALS,), AuthMethod.PRIVATE_KEY_JWT, now,
                   jwks=json.dumps({"keys": [CLIENT_KEY.as_dict(private=False)]}))
        )  # fmt: skip
        # oauth4webapi's DPoP client_credentials and protected-resource call.
        await storage.add_api(Api(INTEROP_API, ("read_readings",), now, "Interop API"))
        await storage.add_client(
            Client("rp-machine", "Interop oauth4webapi DPoP machine", (),
                   (GrantType.CLIENT_CREDENTIALS,), AuthMethod.CLIENT_SECRET_BASIC, now,
                   HASHER.hash(SECRET))
        )  # fmt: skip
        await storage.add_user(
            User("erin-id", USERNAME, HASHER.hash(PASSWORD), now, email="erin@example.test",
                 name="Erin Example", email_verified=True)
        )  # fmt: skip
    finally:
        await storage.close()


@contextmanager
def serve_https(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[HttpsIdp]:
    """A real server over HTTPS (its own development certificate) on a seeded database."""
    asyncio.run(_seed(f"sqlite:///{data_dir / 'tollhouse.db'}"))
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TOLLHOUSE), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )  # fmt: skip
    issuer = f"https://localhost:{port}"
    ca_file = data_dir / "tls" / "localhost.crt"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"https server did not start:\n{log_path.read_text()}")
            if ca_file.exists():
                try:
                    context = ssl.create_default_context(cafile=str(ca_file))
                    if httpx.get(f"{issuer}/healthz", verify=context, timeout=1).is_success:
                        break
                except (httpx.HTTPError, ssl.SSLError, OSError):
                    pass
            time.sleep(0.1)
        yield HttpsIdp(issuer, ca_file, data_dir)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def https_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsIdp]:
    with serve_https(tmp_path_factory.mktemp("interop-idp")) as idp:
        yield idp
