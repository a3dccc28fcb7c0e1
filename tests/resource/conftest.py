"""Fixtures for the resource-server library: a fake issuer with our own keys, and a real IdP.

``FakeIssuer`` serves discovery and a JWKS from a thread on 127.0.0.1 and signs
whatever tokens a test wants (valid or hostile). ``idp`` is a real ``tollhouse serve``
process, seeded like the e2e suite, that reloads its keys every second.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.e2e.conftest import (
    CALLBACK,
    SENSORS,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import Callback, browse, exchange, pkce_pair

AUDIENCE = "https://api.example.test"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def _int_b64(value: int, size: int | None = None) -> str:
    return b64(value.to_bytes(size or (value.bit_length() + 7) // 8))


@dataclass
class SigningKey:
    alg: str
    private: PrivateKey
    kid: str = field(default_factory=lambda: secrets.token_urlsafe(8))

    def jwk(self) -> dict[str, Any]:
        base = {"kid": self.kid, "alg": self.alg, "use": "sig"}
        key = self.private.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            numbers = key.public_numbers()
            return {
                **base,
                "kty": "EC",
                "crv": "P-256",
                "x": _int_b64(numbers.x, 32),
                "y": _int_b64(numbers.y, 32),
            }
        if isinstance(key, rsa.RSAPublicKey):
            rsa_numbers = key.public_numbers()
            return {
                **base,
                "kty": "RSA",
                "n": _int_b64(rsa_numbers.n),
                "e": _int_b64(rsa_numbers.e),
            }
        raw = key.public_bytes_raw()
        return {**base, "kty": "OKP", "crv": "Ed25519", "x": b64(raw)}

    def sign(self, data: bytes) -> bytes:
        private = self.private
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32) + s.to_bytes(32)
        if isinstance(private, rsa.RSAPrivateKey):
            return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return private.sign(data)


def new_key(alg: str) -> SigningKey:
    if alg == "ES256":
        return SigningKey(alg, ec.generate_private_key(ec.SECP256R1()))
    if alg == "RS256":
        return SigningKey(alg, rsa.generate_private_key(65537, 2048))
    return SigningKey(alg, ed25519.Ed25519PrivateKey.generate())


def compact(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


class FakeIssuer:
    """Discovery + JWKS on 127.0.0.1, keys for every supported alg, hostile when asked."""

    def __init__(self, keys: dict[str, SigningKey]) -> None:
        self.keys = dict(keys)
        self.published: list[SigningKey] = list(keys.values())
        self.advertised: list[str] | None = ["ES256", "RS256", "EdDSA"]
        self.down = False
        self.delay = 0.0
        """Seconds every answer waits (a slow issuer)."""
        self.requests = 0
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.extra_metadata: dict[str, Any] = {}
        self.revoked: list[dict[str, Any]] = []
        self.feed_mode = "ok"
        self.feed_cursors: list[str | None] = []
        self.feed_credentials = ("rs-client", "rs-secret")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def metadata(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "issuer": self.url,
            "jwks_uri": self.url + "/jwks.json",
            "revocation_feed_endpoint": self.url + "/revocations",
        }
        if self.advertised is not None:
            doc["access_token_signing_alg_values_supported"] = self.advertised
        return {**doc, **self.extra_metadata}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": "user-1",
            "aud": AUDIENCE,
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "jti": secrets.token_urlsafe(12),
            "client_id": "client-1",
            "scope": "read write",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def header(self, key: SigningKey, **overrides: Any) -> dict[str, Any]:
        header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **overrides}
        return {k: v for k, v in header.items() if v is not None}

    def mint(
        self, alg: str = "ES256", *, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        key = self.keys[alg]
        return compact(self.header(key, **(header or {})), self.claims(**claims), key)

    def feed_page(self, start: int) -> str:
        """The signed feed page after cursor ``start``, spoiled as ``feed_mode`` says."""
        key = self.keys["ES256"]
        mode = self.feed_mode
        header = {"alg": "ES256", "typ": "revocations+jwt", "kid": key.kid}
        if mode == "bad_typ":
            header["typ"] = "at+jwt"
        if mode == "unknown_kid":
            header["kid"] = "nope"
        payload = {
            "iss": self.url if mode != "bad_iss" else "http://127.0.0.1:1",
            "iat": int(time.time()) - (3600 if mode == "old" else 0),
            "revoked": self.revoked[start:],
            "next": str(len(self.revoked)),
            "more": False,
        }
        token = compact(header, payload, key)
        if mode == "bad_sig":
            token = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        return token

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                issuer.requests += 1
                time.sleep(issuer.delay)
                if issuer.down:
                    self._send(503, {"error": "down"})
                elif self.path == "/.well-known/openid-configuration":
                    issuer.discovery_fetches += 1
                    self._send(200, issuer.metadata())
                elif self.path.startswith("/revocations"):
                    self._feed()
                elif self.path == "/jwks.json":
                    issuer.jwks_fetches += 1
                    self._send(200, {"keys": [k.jwk() for k in issuer.published]})
                else:
                    self._send(404, {"error": "not_found"})

            def _feed(self) -> None:
                user, secret = issuer.feed_credentials
                expected = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._send(401, {"error": "invalid_client"})
                    return
                query = parse_qs(urlsplit(self.path).query)
                since = query.get("since", [None])[0]
                issuer.feed_cursors.append(since)
                start = int(since or 0)
                self._send(200, issuer.feed_page(start), "application/jwt")

            def _send(self, status: int, body: Any, kind: str = "application/json") -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, SigningKey]:
    return {alg: new_key(alg) for alg in ("ES256", "RS256", "EdDSA")}


@pytest.fixture
def issuer(signing_keys: dict[str, SigningKey]) -> Iterator[FakeIssuer]:
    fake = FakeIssuer(signing_keys)
    try:
        yield fake
    finally:
        fake.close()


# A real identity provider -----------------------------------------------------------


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("resource-idp")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    seed = Seed()
    asyncio.run(seed_database(database_url, seed))
    port = free_port()
    process, log_path = start_server(
        data_dir, port, env={"TOLLHOUSE_KEY_RELOAD_INTERVAL": "1", "TOLLHOUSE_LOG_LEVEL": "warning"}
    )
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path)
    finally:
        stop(process)


def issue_token(server: Server, scope: str = "read_sensors") -> str:
    """An access token for ``SENSORS`` from the real IdP, through the code flow."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": server.seed.confidential_id,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with server.client() as http:
        result = browse(http, params, username=server.seed.username, password=server.seed.password)
        assert isinstance(result, Callback), getattr(result, "text", result)
        response = exchange(
            http,
            result.code,
            verifier=verifier,
            redirect_uri=CALLBACK,
            auth=(server.seed.confidential_id, server.seed.confidential_secret),
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def discovery(server: Server) -> dict[str, Any]:
    with server.client() as http:
        return dict(http.get("/.well-known/openid-configuration").json())


__all__ = ["AUDIENCE", "SENSORS", "FakeIssuer", "compact", "hs256", "issue_token", "new_key"]
