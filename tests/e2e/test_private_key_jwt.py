"""private_key_jwt (RFC 7523 §2.2, OIDC Core §9) against a real server, over HTTP.

Assertions are built here with joserfc and keys made by ``cryptography``; the server
knows the clients' public keys from their registered ``jwks`` or, for one client, from
a ``jwks_uri`` served by a small HTTP server on 127.0.0.1 (an operator-made client:
only such a client may use a loopback address).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey, OKPKey, RSAKey

from tests.e2e.conftest import SENSORS, Seed, free_port, seed_database, start_server, stop
from tollhouse.models import AuthMethod, Client, GrantType
from tollhouse.randomness import identifier
from tollhouse.storage.sql.storage import open_storage

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SERVICE = "pk-service"
OTHER = "pk-other"
ROTATING = "pk-rotating"
INTROSPECTOR = "pk-introspector"
Key = ECKey | OKPKey | RSAKey


def _key(kind: str, kid: str) -> Key:
    if kind == "ES256":
        return ECKey.import_key(ec.generate_private_key(ec.SECP256R1()), {"kid": kid})
    if kind == "EdDSA":
        return OKPKey.import_key(ed25519.Ed25519PrivateKey.generate(), {"kid": kid})
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RSAKey.import_key(private, {"kid": kid, "alg": kind})


def public_set(*keys: Key) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


@dataclass
class Keys:
    service: dict[str, Key] = field(
        default_factory=lambda: {
            alg: _key(alg, f"svc-{alg}") for alg in ("ES256", "EdDSA", "PS256", "RS256")
        }
    )
    other: Key = field(default_factory=lambda: _key("ES256", "other-1"))
    rotating: list[Key] = field(
        default_factory=lambda: [_key("ES256", f"rot-{n}") for n in range(3)]
    )
    introspector: Key = field(default_factory=lambda: _key("EdDSA", "rs-1"))


class JwksServer:
    """Serves ``document`` at /jwks.json on 127.0.0.1; counts the requests."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class PkServer:
    base_url: str
    keys: Keys
    jwks: JwksServer

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)


def _client(client_id: str, grants: tuple[str, ...], **extra: Any) -> Client:
    return Client(
        client_id=client_id,
        name=client_id,
        redirect_uris=(),
        grant_types=grants,
        token_endpoint_auth_method=AuthMethod.PRIVATE_KEY_JWT,
        created_at=int(time.time()),
        **extra,
    )


async def _seed_keys(url: str, keys: Keys, jwks_url: str) -> None:
    storage = await open_storage(url)
    cc = (GrantType.CLIENT_CREDENTIALS,)
    try:
        await storage.add_client(
            _client(SERVICE, cc, jwks=json.dumps(public_set(*keys.service.values())))
        )
        await storage.add_client(_client(OTHER, cc, jwks=json.dumps(public_set(keys.other))))
        await storage.add_client(_client(ROTATING, cc, jwks_uri=jwks_url))
        await storage.add_client(
            _client(
                INTROSPECTOR,
                cc,
                jwks=json.dumps(public_set(keys.introspector)),
                introspect_audiences=(SENSORS,),
            )
        )
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def pk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PkServer]:
    data_dir = tmp_path_factory.mktemp("pkjwt")
    database_url = f"sqlite:///{data_dir / 'tollhouse.db'}"
    keys, jwks = Keys(), JwksServer()
    jwks.document = public_set(keys.rotating[0])
    asyncio.run(seed_database(database_url, Seed()))
    asyncio.run(_seed_keys(database_url, keys, jwks.url))
    port = free_port()
    process, _ = start_server(data_dir, port)
    try:
        yield PkServer(f"http://127.0.0.1:{port}", keys, jwks)
    finally:
        stop(process)
        jwks.close()


def assertion(
    key: Key,
    client_id: str,
    aud: Any,
    *,
    alg: str | None = None,
    iss: str | None = None,
    lifetime: int = 60,
    jti: str | None = None,
    kid: str | bool | None = True,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss or client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now + lifetime,
        "iat": now,
        "jti": jti or identifier(16),
    }
    chosen = alg or key.as_dict().get("alg") or ("ES256" if isinstance(key, ECKey) else "EdDSA")
    header: dict[str, Any] = {"alg": chosen}
    if kid is True:
        header["kid"] = key.kid
    elif isinstance(kid, str):
        header["kid"] = kid
    return sign(key, header, claims)


def sign(key: Key, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """RFC 7515 compact JWS, signed with ``cryptography`` as RFC 7518 says."""
    signing_input = _unsigned(header, claims).encode()
    private: Any = key.private_key
    alg = header["alg"]
    if alg == "ES256":
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32) + s.to_bytes(32)
    elif alg == "EdDSA":
        signature = private.sign(signing_input)
    elif alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = private.sign(signing_input, pss, hashes.SHA256())
    else:
        signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + _b64(signature)


def client_credentials(pk: PkServer, signed: str, **extra: str) -> httpx.Response:
    with pk.client() as http:
        return http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": signed,
                **extra,
            },
        )


def refused(response: httpx.Response, words: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_client"
    assert words in body["error_description"], body["error_description"]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256", "RS256"])
def test_each_algorithm_authenticates(pk: PkServer, alg: str) -> None:
    signed = assertion(pk.keys.service[alg], SERVICE, pk.base_url, alg=alg)
    response = client_credentials(pk, signed, client_id=SERVICE)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_token_endpoint_url_and_audience_array_are_accepted(pk: PkServer) -> None:
    key = pk.keys.service["ES256"]
    for aud in (pk.base_url + "/token", ["https://elsewhere.example", pk.base_url]):
        response = client_credentials(pk, assertion(key, SERVICE, aud))
        assert response.status_code == 200, (aud, response.text)


@pytest.mark.parametrize("path", ["/introspect", "/revoke", "/par", "/userinfo"])
def test_other_endpoint_urls_are_not_an_audience(pk: PkServer, path: str) -> None:
    """CVE-2025-27370/27371: an assertion made for another endpoint (of this server or
    a look-alike one) is not accepted at the token endpoint."""
    signed = assertion(pk.keys.service["ES256"], SERVICE, pk.base_url + path)
    refused(client_credentials(pk, signed), "aud must be the issuer")


def test_an_assertion_is_accepted_once(pk: PkServer) -> None:
    signed = assertion(pk.keys.service["EdDSA"], SERVICE, pk.base_url)
    assert client_credentials(pk, signed).status_code == 200
    refused(client_credentials(pk, signed), "jti was used before")


def test_a_refused_assertion_does_not_spend_its_jti(pk: PkServer) -> None:
    jti = identifier(16)
    forged = assertion(pk.keys.other, SERVICE, pk.base_url, jti=jti, kid="svc-ES256")
    refused(client_credentials(pk, forged), "signature")
    honest = assertion(pk.keys.service["ES256"], SERVICE, pk.base_url, jti=jti)
    assert client_credentials(pk, honest).status_code == 200


def test_long_lived_and_expired_assertions_are_refused(pk: PkServer) -> None:
    key = pk.keys.service["ES256"]
    refused(
        client_credentials(pk, assertion(key, SERVICE, pk.base_url, lifetime=3600)),
        "more than 300 seconds ahead",
    )
    refused(client_credentials(pk, assertion(key, SERVICE, pk.base_url, lifetime=-120)), "expired")


def test_iss_must_be_the_client(pk: PkServer) -> None:
    signed = assertion(pk.keys.service["ES256"], SERVICE, pk.base_url, iss=OTHER)
    refused(client_credentials(pk, signed), "iss and sub")


def test_unknown_kid_and_another_clients_key_are_refused(pk: PkServer) -> None:
    key = pk.keys.service["ES256"]
    refused(
        client_credentials(pk, assertion(key, SERVICE, pk.base_url, kid="nope")), "no key with kid"
    )
    # The other client's own key, named by its own kid, does not speak for SERVICE.
    refused(
        client_credentials(pk, assertion(pk.keys.other, SERVICE, pk.base_url)), "no key with kid"
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def test_alg_none_and_hs256_with_the_public_key_are_refused(pk: PkServer) -> None:
    now = int(time.time())
    claims = {
        "iss": SERVICE,
        "sub": SERVICE,
        "aud": pk.base_url,
        "exp": now + 60,
        "jti": identifier(16),
    }
    refused(client_credentials(pk, _unsigned({"alg": "none"}, claims) + "."), "alg 'none'")
    # The public key as an HMAC secret (the classic key-confusion forgery).
    public = json.dumps(pk.keys.service["ES256"].as_dict(private=False)).encode()
    head = _unsigned({"alg": "HS256", "kid": "svc-ES256"}, claims)
    mac = hmac.new(public, head.encode(), hashlib.sha256).digest()
    refused(client_credentials(pk, head + "." + _b64(mac)), "alg 'HS256'")


def test_a_secret_does_not_authenticate_a_key_client_nor_the_reverse(pk: PkServer) -> None:
    with pk.client() as http:
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(SERVICE, "guess"),
        )
    refused(response, "private_key_jwt")
    seed = Seed()
    signed = assertion(pk.keys.other, seed.machine_id, pk.base_url)
    refused(client_credentials(pk, signed), "not registered for private_key_jwt")


def test_introspection_and_revocation_take_assertions(pk: PkServer) -> None:
    token = client_credentials(
        pk, assertion(pk.keys.service["ES256"], SERVICE, pk.base_url), scope="read_sensors"
    ).json()["access_token"]
    key = pk.keys.introspector
    with pk.client() as http:
        answer = http.post(
            "/introspect",
            data={
                "token": token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(key, INTROSPECTOR, pk.base_url),
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["active"] is True
        revoked = http.post(
            "/revoke",
            data={
                "token": token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(pk.keys.service["PS256"], SERVICE, pk.base_url),
            },
        )
        assert revoked.status_code == 200, revoked.text


def test_jwks_uri_rotation_is_picked_up_on_an_unknown_kid(pk: PkServer) -> None:
    first, second, third = pk.keys.rotating
    assert client_credentials(pk, assertion(first, ROTATING, pk.base_url)).status_code == 200
    hits = pk.jwks.hits
    # The client rotates; its set is cached for an hour, but an unknown kid refreshes it.
    pk.jwks.document = public_set(second)
    assert client_credentials(pk, assertion(second, ROTATING, pk.base_url)).status_code == 200
    assert pk.jwks.hits == hits + 1
    # Another unknown kid within the minute does not fetch again.
    pk.jwks.document = public_set(third)
    refused(client_credentials(pk, assertion(third, ROTATING, pk.base_url)), "no key with kid")
    assert pk.jwks.hits == hits + 1


def test_discovery_lists_private_key_jwt(pk: PkServer) -> None:
    with pk.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    for endpoint in ("token", "revocation", "introspection"):
        assert "private_key_jwt" in doc[f"{endpoint}_endpoint_auth_methods_supported"]
        algs = doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert set(algs) == {"ES256", "EdDSA", "PS256", "RS256"}


def test_the_revocation_feed_takes_an_assertion_in_the_query(pk: PkServer) -> None:
    """/revocations is a GET: RFC 7523's parameters come in the query there."""
    key = pk.keys.introspector
    with pk.client() as http:
        feed = http.get(
            "/revocations",
            params={
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(key, INTROSPECTOR, pk.base_url),
            },
        )
        stranger = http.get(
            "/revocations",
            params={
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(pk.keys.other, INTROSPECTOR, pk.base_url),
            },
        )
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("application/jwt")
    refused(stranger, "no key with kid")
