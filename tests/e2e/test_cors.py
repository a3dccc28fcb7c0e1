"""CORS over real HTTP (protocol/cors.py, web/cors.py): which origins may read which
answers. Attacks first: a foreign origin, or another client's origin, reads nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import HASHER, free_port, start_server, stop
from tests.e2e.flows import Callback, browse, exchange, pkce_pair
from tollhouse.models import AuthMethod, Client, GrantType, User
from tollhouse.storage.sql.storage import open_storage

SPA = "http://127.0.0.1:9300"
SPA_EXTRA = "http://localhost:9301"
OTHER = "http://127.0.0.1:9400"
FOREIGN = "http://evil.example"
SECRET = "cors-secret-" + "c" * 30
PASSWORD = "ivan's long passphrase"


async def seed(url: str) -> None:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        await storage.add_client(
            Client("spa", "Field SPA", (f"{SPA}/cb",), (GrantType.AUTHORIZATION_CODE,),
                   AuthMethod.NONE, now, allowed_cors_origins=(SPA_EXTRA,))
        )  # fmt: skip
        await storage.add_client(
            Client("other", "Other App", (f"{OTHER}/cb",), (GrantType.AUTHORIZATION_CODE,),
                   AuthMethod.CLIENT_SECRET_BASIC, now, HASHER.hash(SECRET))
        )  # fmt: skip
        await storage.add_user(User("ivan-id", "ivan", HASHER.hash(PASSWORD), now, name="Ivan"))
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("cors")
    asyncio.run(seed(f"sqlite:///{data_dir / 'tollhouse.db'}"))
    port = free_port()
    process, _ = start_server(data_dir, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def access_token(idp: str) -> str:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": "spa", "redirect_uri": f"{SPA}/cb",
        "scope": "openid profile", "state": "st", "code_challenge": challenge,
        "code_challenge_method": "S256",
    }  # fmt: skip
    with httpx.Client(base_url=idp, timeout=10) as http:
        result = browse(http, params, username="ivan", password=PASSWORD)
        assert isinstance(result, Callback)
        response = exchange(
            http, result.code, verifier=verifier, redirect_uri=f"{SPA}/cb", client_id="spa"
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def token_request(idp: str, origin: str, client_id: str = "spa") -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": "not-a-code", "client_id": client_id}
    return httpx.post(f"{idp}/token", data=form, headers={"Origin": origin}, timeout=10)


def preflight(idp: str, path: str, origin: str, method: str = "POST") -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, dpop",
    }
    return httpx.options(f"{idp}{path}", headers=headers, timeout=10)


def assert_no_cors(response: httpx.Response) -> None:
    cors = [name for name in response.headers if name.lower().startswith("access-control-")]
    assert cors == [], cors


def test_token_answers_no_foreign_origin(idp: str) -> None:
    for origin in (FOREIGN, OTHER, "null"):
        answer = token_request(idp, origin)
        assert answer.status_code == 400  # the request is answered; the browser hides it
        assert_no_cors(answer)
        assert "Origin" in answer.headers["vary"]


def test_token_answers_the_origins_of_the_calling_client(idp: str) -> None:
    for origin in (SPA, SPA_EXTRA):
        answer = token_request(idp, origin)
        assert answer.json()["error"] == "invalid_grant"
        assert answer.headers["access-control-allow-origin"] == origin
        assert answer.headers["vary"] == "Origin"
        assert "access-control-allow-credentials" not in answer.headers
    # The other client's own origin reads its answers, not the SPA's.
    assert token_request(idp, OTHER, "other").headers["access-control-allow-origin"] == OTHER


def test_userinfo_answers_only_the_token_clients_origins(idp: str, access_token: str) -> None:
    bearer = {"Authorization": f"Bearer {access_token}"}
    for origin in (FOREIGN, OTHER):
        answer = httpx.get(f"{idp}/userinfo", headers={**bearer, "Origin": origin}, timeout=10)
        assert answer.status_code == 200
        assert_no_cors(answer)
    answer = httpx.get(f"{idp}/userinfo", headers={**bearer, "Origin": SPA}, timeout=10)
    assert answer.json()["sub"] == "ivan-id"
    assert answer.headers["access-control-allow-origin"] == SPA
    assert "WWW-Authenticate" in answer.headers["access-control-expose-headers"]
    posted = httpx.post(f"{idp}/userinfo", headers={**bearer, "Origin": SPA}, timeout=10)
    assert posted.headers["access-control-allow-origin"] == SPA


def test_revoke_answers_the_calling_clients_origin(idp: str) -> None:
    form = {"token": "whatever", "client_id": "spa"}
    for origin, allowed in ((SPA, True), (FOREIGN, False)):
        answer = httpx.post(f"{idp}/revoke", data=form, headers={"Origin": origin}, timeout=10)
        assert answer.status_code == 200
        assert (answer.headers.get("access-control-allow-origin") == origin) is allowed


def test_preflight_from_a_registered_origin_names_what_is_allowed(idp: str) -> None:
    for path, methods in (("/token", "POST"), ("/userinfo", "GET, POST"), ("/revoke", "POST")):
        answer = preflight(idp, path, SPA)
        assert answer.status_code == 204, path
        assert answer.headers["access-control-allow-origin"] == SPA
        assert answer.headers["access-control-allow-methods"] == methods
        allowed = {
            h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")
        }
        assert allowed == {"authorization", "content-type", "dpop"}
        assert int(answer.headers["access-control-max-age"]) > 0
        assert "Origin" in answer.headers["vary"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "access-control-allow-credentials" not in answer.headers
    assert preflight(idp, "/token", SPA_EXTRA).headers["access-control-allow-origin"] == SPA_EXTRA


def test_preflight_from_an_unregistered_origin_is_not_allowed(idp: str) -> None:
    answer = preflight(idp, "/token", FOREIGN)
    assert answer.status_code == 204 and answer.content == b""
    assert_no_cors(answer)
    assert_no_cors(preflight(idp, "/token", SPA, method="DELETE"))


def test_discovery_and_jwks_answer_any_origin(idp: str) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                 "/jwks.json"):  # fmt: skip
        answer = httpx.get(f"{idp}{path}", headers={"Origin": FOREIGN}, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == FOREIGN
        assert answer.headers["vary"] == "Origin"
        assert (
            preflight(idp, path, FOREIGN, "GET").headers["access-control-allow-origin"] == FOREIGN
        )
        plain = httpx.get(f"{idp}{path}", timeout=10)
        assert "access-control-allow-origin" not in plain.headers
        assert plain.headers["vary"] == "Origin"  # a shared cache keeps the two apart


def test_authorize_pages_and_admin_never_answer_other_origins(idp: str) -> None:
    for origin in (SPA, FOREIGN):
        for path in ("/authorize?client_id=spa", "/login", "/healthz", "/admin/clients",
                     "/introspect", "/revocations", "/openapi.json"):  # fmt: skip
            assert_no_cors(httpx.get(f"{idp}{path}", headers={"Origin": origin}, timeout=10))
        for path in ("/authorize", "/login", "/consent", "/admin/clients", "/introspect"):
            assert_no_cors(preflight(idp, path, origin))
