"""OpenID Connect over real HTTP: ID Token, UserInfo, single sign-on across two
clients, RP-initiated logout with back-channel logout to a real receiver."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest

from tests.e2e.conftest import HASHER, free_port, start_server, stop
from tests.e2e.flows import Callback, browse, exchange, pkce_pair
from tollhouse.models import AuthMethod, Client, GrantType, User
from tollhouse.storage.sql.storage import open_storage

SECRET = "oidc-secret-" + "s" * 30
APP_A = "http://127.0.0.1:9100/cb"
APP_B = "http://127.0.0.1:9200/cb"
BYE = "http://127.0.0.1:9100/bye"


class Receiver(BaseHTTPRequestHandler):
    tokens: list[str] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        Receiver.tokens.append(form["logout_token"][0])
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/backchannel"
    finally:
        server.shutdown()
        server.server_close()


async def seed(url: str, backchannel: str) -> None:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        grants = (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN)
        await storage.add_client(
            Client("app-a", "App A", (APP_A,), grants, AuthMethod.CLIENT_SECRET_BASIC, now, HASHER.hash(SECRET),
                   post_logout_redirect_uris=(BYE,), backchannel_logout_uri=backchannel)
        )  # fmt: skip
        await storage.add_client(
            Client("app-b", "App B", (APP_B,), grants, AuthMethod.CLIENT_SECRET_BASIC, now, HASHER.hash(SECRET),
                   backchannel_logout_uri=backchannel, id_token_signed_response_alg="ES256")
        )  # fmt: skip
        await storage.add_user(
            User("carol-id", "carol", HASHER.hash("carol's password"), now, email="carol@example.test", name="Carol", email_verified=True)
        )  # fmt: skip
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, receiver: str) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("oidc")
    asyncio.run(seed(f"sqlite:///{data_dir / 'tollhouse.db'}", receiver))
    port = free_port()
    process, _ = start_server(data_dir, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def sign_in(
    http: httpx.Client,
    client_id: str,
    redirect: str,
    *,
    password: str | None,
    scope: str = "openid profile email",
) -> tuple[dict[str, str], str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": scope,
        "state": "st", "nonce": f"nonce-{client_id}", "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    result = browse(http, params, username="carol" if password else None, password=password)
    assert isinstance(result, Callback), getattr(result, "text", result)
    response = exchange(
        http, result.code, verifier=verifier, redirect_uri=redirect, auth=(client_id, SECRET)
    )
    assert response.status_code == 200, response.text
    return response.json(), params["nonce"]


def validate_id_token(
    http: httpx.Client, issuer: str, id_token: str, audience: str
) -> dict[str, object]:
    jwks = http.get("/jwks.json").json()
    header = jwt.get_unverified_header(id_token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    return jwt.decode(
        id_token, key=jwt.PyJWK(key), algorithms=[header["alg"]], audience=audience, issuer=issuer
    )


def test_sso_userinfo_and_logout_with_backchannel(idp: str) -> None:
    Receiver.tokens.clear()
    with httpx.Client(base_url=idp, timeout=10) as http:
        doc = http.get("/.well-known/openid-configuration").json()
        assert doc["userinfo_endpoint"] == idp + "/userinfo"
        assert doc["end_session_endpoint"] == idp + "/logout"
        assert "RS256" in doc["id_token_signing_alg_values_supported"]
        assert doc["backchannel_logout_supported"] is True
        assert {"openid", "profile", "email", "offline_access"} <= set(doc["scopes_supported"])

        tokens_a, nonce = sign_in(
            http,
            "app-a",
            APP_A,
            password="carol's password",
            scope="openid profile email offline_access",
        )
        claims = validate_id_token(http, idp, tokens_a["id_token"], "app-a")
        assert claims["nonce"] == nonce and claims["sub"] == "carol-id"
        assert jwt.get_unverified_header(tokens_a["id_token"])["alg"] == "RS256"

        info = http.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens_a['access_token']}"}
        )
        assert info.status_code == 200 and info.headers["cache-control"] == "no-store"
        assert info.json() == {
            "sub": "carol-id",
            "name": "Carol",
            "preferred_username": "carol",
            "email": "carol@example.test",
            "email_verified": True,
            "updated_at": info.json()["updated_at"],
        }
        posted = http.post("/userinfo", data={"access_token": tokens_a["access_token"]})
        assert posted.json()["sub"] == "carol-id"
        assert http.get("/userinfo").status_code == 401

        # Single sign-on: the second client gets in without a password.
        tokens_b, _ = sign_in(http, "app-b", APP_B, password=None, scope="openid")
        claims_b = validate_id_token(http, idp, tokens_b["id_token"], "app-b")
        assert jwt.get_unverified_header(tokens_b["id_token"])["alg"] == "ES256"
        assert claims_b["sid"] == claims["sid"]

        logout = http.get(
            "/logout",
            params={
                "id_token_hint": tokens_a["id_token"],
                "post_logout_redirect_uri": BYE,
                "state": "bye-state",
            },
        )
        assert logout.status_code == 303
        assert logout.headers["location"] == BYE + "?state=bye-state"
        # Logout tokens go out in the background, after the response (issue 21).
        deadline = time.monotonic() + 10
        while len(Receiver.tokens) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(Receiver.tokens) == 2
        audiences = set()
        for logout_token in Receiver.tokens:
            header = jwt.get_unverified_header(logout_token)
            assert header["typ"] == "logout+jwt"
            payload = jwt.decode(logout_token, options={"verify_signature": False})
            assert payload["sid"] == claims["sid"]
            audiences.add(payload["aud"])
        assert audiences == {"app-a", "app-b"}

        # Logged out: a new authorization needs the password again...
        _, challenge = pkce_pair()
        again = http.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": "app-b",
                "redirect_uri": APP_B,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "prompt": "none",
            },
        )
        assert "error=login_required" in again.headers["location"]
        # ...app-b's session-bound refresh token died; app-a's offline one lives on.
        dead = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens_b["refresh_token"]},
            auth=("app-b", SECRET),
        )
        assert dead.json()["error"] == "invalid_grant"
        alive = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens_a["refresh_token"]},
            auth=("app-a", SECRET),
        )
        assert alive.status_code == 200


def test_built_in_password_login_reports_pwd_as_amr_in_every_id_token(idp: str) -> None:
    with httpx.Client(base_url=idp, timeout=10) as http:
        tokens, _ = sign_in(http, "app-a", APP_A, password="carol's password", scope="openid")
        claims = validate_id_token(http, idp, tokens["id_token"], "app-a")
        assert claims["amr"] == ["pwd"]
        # Single sign-on: the session's amr, not a new authentication.
        tokens_b, _ = sign_in(http, "app-b", APP_B, password=None, scope="openid")
        claims_b = validate_id_token(http, idp, tokens_b["id_token"], "app-b")
        assert claims_b["amr"] == ["pwd"] and claims_b["auth_time"] == claims["auth_time"]
        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=("app-a", SECRET),
        )
        assert refreshed.status_code == 200, refreshed.text
        again = validate_id_token(http, idp, refreshed.json()["id_token"], "app-a")
        assert again["amr"] == ["pwd"] and again["auth_time"] == claims["auth_time"]


def test_logout_without_hint_asks_for_confirmation(idp: str) -> None:
    with httpx.Client(base_url=idp, timeout=10) as http:
        sign_in(http, "app-a", APP_A, password="carol's password", scope="openid")
        page = http.get("/logout", params={"client_id": "app-a", "post_logout_redirect_uri": BYE})
        assert page.status_code == 200 and "Sign out" in page.text
        from tests.e2e.forms import parse

        form = parse(page.text).forms[0]
        done = http.post("/logout", data=form.inputs)
        assert done.status_code == 303 and done.headers["location"] == BYE
        unregistered = http.get(
            "/logout",
            params={"client_id": "app-a", "post_logout_redirect_uri": "http://127.0.0.1:9100/evil"},
        )
        assert unregistered.status_code == 400 and "location" not in unregistered.headers


def test_prompt_login_forces_reauthentication(idp: str) -> None:
    with httpx.Client(base_url=idp, timeout=10) as http:
        sign_in(http, "app-a", APP_A, password="carol's password", scope="openid")
        _, challenge = pkce_pair()
        response = http.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": "app-a",
                "redirect_uri": APP_A,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "prompt": "login",
            },
        )
        assert response.status_code == 303 and response.headers["location"].startswith("/login?")


def test_userinfo_post_with_bearer_header_and_empty_body(idp: str) -> None:
    """OIDC Core §5.3.1: POST is allowed; RP libraries send the token in the header with
    no body, declaring a form type or none at all."""
    with httpx.Client(base_url=idp, timeout=10) as http:
        tokens, _ = sign_in(http, "app-a", APP_A, password="carol's password", scope="openid")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        for content_type in (None, "application/x-www-form-urlencoded", "application/json"):
            headers = bearer if content_type is None else {**bearer, "Content-Type": content_type}
            answer = http.post("/userinfo", headers=headers, content=b"")
            assert answer.status_code == 200, (content_type, answer.text)
            assert answer.json()["sub"] == "carol-id"
        json_body = http.post("/userinfo", headers=bearer, json={"a": 1})
        assert json_body.status_code == 400


def _signed_in(idp: str, http: httpx.Client) -> bool:
    """The browser still has a session: ``prompt=none`` gets a code, not login_required."""
    _, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": "app-a", "redirect_uri": APP_A, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "none",
    }  # fmt: skip
    location = http.get("/authorize", params=params).headers["location"]
    return "code=" in location and "error=" not in location


def test_id_token_hint_of_another_session_asks_before_signing_out(idp: str) -> None:
    """RP-Initiated Logout 1.0 §2/§4: a hint proves the RP knows *this* session only when
    its ``sid`` is the session's; an ID Token of another session of the same user (an
    old one, another browser's) must not sign this browser out unasked."""
    with (
        httpx.Client(base_url=idp, timeout=10) as first,
        httpx.Client(base_url=idp, timeout=10) as second,
    ):
        tokens_1, _ = sign_in(first, "app-a", APP_A, password="carol's password", scope="openid")
        tokens_2, _ = sign_in(second, "app-a", APP_A, password="carol's password", scope="openid")
        sid_1 = validate_id_token(first, idp, tokens_1["id_token"], "app-a")["sid"]
        sid_2 = validate_id_token(second, idp, tokens_2["id_token"], "app-a")["sid"]
        assert sid_1 != sid_2

        foreign = second.get(
            "/logout",
            params={"id_token_hint": tokens_1["id_token"], "post_logout_redirect_uri": BYE},
        )
        assert foreign.status_code == 200 and "Sign out" in foreign.text
        assert 'name="confirm"' in foreign.text
        assert _signed_in(idp, second) and _signed_in(idp, first)

        own = second.get(
            "/logout",
            params={"id_token_hint": tokens_2["id_token"], "post_logout_redirect_uri": BYE},
        )
        assert own.status_code == 303 and own.headers["location"] == BYE
        assert not _signed_in(idp, second)
        assert _signed_in(idp, first)
