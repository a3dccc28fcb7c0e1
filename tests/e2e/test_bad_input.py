"""Bad input of every kind gets the specific RFC error and status, never a 500."""

from __future__ import annotations

import base64

import pytest

from tests.e2e.conftest import CALLBACK, Server
from tests.e2e.flows import Callback, browse, code_params, exchange, pkce_pair


def authorize_params(server: Server, **overrides: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return code_params(server.seed, challenge, **{"state": "s1", **overrides})


def new_code(server: Server, verifier_challenge: tuple[str, str]) -> str:
    _, challenge = verifier_challenge
    with server.client() as http:
        result = browse(
            http,
            authorize_params(server, code_challenge=challenge),
            username=server.seed.username,
            password=server.seed.password,
        )
    assert isinstance(result, Callback), result
    return result.code


def auth(server: Server) -> tuple[str, str]:
    return (server.seed.confidential_id, server.seed.confidential_secret)


def test_unknown_client_gets_an_html_error_page_not_a_redirect(server: Server) -> None:
    with server.client() as http:
        response = http.get("/authorize", params=authorize_params(server, client_id="nobody"))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "nobody" in response.text
    request_id = response.headers["x-request-id"]
    assert request_id in response.text
    assert request_id in server.logs()


@pytest.mark.parametrize(
    "uri",
    [
        CALLBACK + "/",
        "HTTP://127.0.0.1:9000/callback",
        "http://127.0.0.1:9000/Callback",
        "http://127.0.0.1:9001/callback",
        "https://evil.example.test/callback",
        CALLBACK + "?next=evil",
    ],
)
def test_mismatched_redirect_uri_gets_an_error_page(server: Server, uri: str) -> None:
    with server.client() as http:
        response = http.get("/authorize", params=authorize_params(server, redirect_uri=uri))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "is not registered" in response.text
    # Loopback development mode (--insecure-http on 127.0.0.1) lists the registered ones.
    assert CALLBACK in response.text


def test_duplicate_authorize_parameter_is_refused_without_redirect(server: Server) -> None:
    with server.client() as http:
        response = http.get(
            "/authorize?client_id=grid-monitor&client_id=grid-monitor&response_type=code"
        )
    assert response.status_code == 400
    assert "more than once" in response.text


def test_missing_response_type_redirects_with_invalid_request(server: Server) -> None:
    params = authorize_params(server)
    del params["response_type"]
    with server.client() as http:
        response = http.get("/authorize", params=params)
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]
    assert "state=s1" in response.headers["location"]


def test_wrong_pkce_verifier_is_invalid_grant(server: Server) -> None:
    pair = pkce_pair()
    code = new_code(server, pair)
    with server.client() as http:
        response = exchange(http, code, verifier="w" * 50, redirect_uri=CALLBACK, auth=auth(server))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_reused_code_is_invalid_grant(server: Server) -> None:
    pair = pkce_pair()
    code = new_code(server, pair)
    with server.client() as http:
        first = exchange(http, code, verifier=pair[0], redirect_uri=CALLBACK, auth=auth(server))
        second = exchange(http, code, verifier=pair[0], redirect_uri=CALLBACK, auth=auth(server))
    assert first.status_code == 200
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert "code_replay" in server.logs()


def test_wrong_secret_is_invalid_client_with_www_authenticate(server: Server) -> None:
    with server.client() as http:
        response = exchange(
            http,
            "x",
            verifier=None,
            redirect_uri=CALLBACK,
            auth=(server.seed.confidential_id, "bad"),
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_duplicate_token_parameter_is_invalid_request(server: Server) -> None:
    with server.client() as http:
        response = http.post(
            "/token",
            content=b"grant_type=authorization_code&code=a&code=b",
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=auth(server),
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"grant_type": "authorization_code"}', "application/json"),
        (b"grant_type=authorization_code", "text/plain"),
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b"grant_type=authorization_code&code=%FF%FE", "application/x-www-form-urlencoded"),
        (b"a=" + b"x" * 70_000, "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_token_bodies_get_invalid_request(
    server: Server, body: bytes, content_type: str
) -> None:
    with server.client() as http:
        response = http.post(
            "/token", content=body, headers={"content-type": content_type}, auth=auth(server)
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest x"],
)
def test_malformed_authorization_header_is_invalid_client(server: Server, header: str) -> None:
    with server.client() as http:
        response = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "x"},
            headers={"authorization": header},
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_get_on_token_endpoint_is_405(server: Server) -> None:
    with server.client() as http:
        response = http.get("/token")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"


def test_fast_lane_answers_carry_the_same_headers_as_the_others(server: Server) -> None:
    """/token and /jwks.json are served outside Starlette (web/fast_lane.py); the
    request id, security headers and a HEAD on the same path stay as everywhere."""
    with server.client() as http:
        token = http.post("/token", data={"grant_type": "password"}, auth=auth(server))
        page = http.get("/healthz")
        head = http.head("/jwks.json")
        jwks = http.get("/jwks.json")
    for response in (token, page, head, jwks):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-request-id"]
    assert token.headers["cache-control"] == "no-store"
    assert token.headers["pragma"] == "no-cache"
    assert token.headers["content-type"] == "application/json"
    assert head.status_code == 200 and head.content == b""
    assert jwks.json()["keys"] and jwks.headers["content-length"] == str(len(jwks.content))
    assert token.headers["x-request-id"] != jwks.headers["x-request-id"]


def test_unsupported_grant_type(server: Server) -> None:
    with server.client() as http:
        response = http.post("/token", data={"grant_type": "password"}, auth=auth(server))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_login_form_without_csrf_token_is_refused(server: Server) -> None:
    with server.client() as http:
        response = http.get("/authorize", params=authorize_params(server))
        login = http.get(response.headers["location"])
        assert login.status_code == 200
        interaction = response.headers["location"].split("interaction=")[1]
        forged = http.post(
            "/login",
            data={
                "interaction": interaction,
                "username": server.seed.username,
                "password": server.seed.password,
            },
        )
    assert forged.status_code == 400
    assert "set-cookie" not in forged.headers


def test_login_form_from_another_browser_is_refused(server: Server) -> None:
    """The CSRF cookie binds the pending request to the browser that started it."""
    with server.client() as victim, server.client() as attacker:
        started = attacker.get("/authorize", params=authorize_params(server))
        interaction = started.headers["location"].split("interaction=")[1]
        csrf = attacker.cookies.get("tollhouse_csrf")
        victim.cookies.set("tollhouse_csrf", "something-else", domain="127.0.0.1")
        response = victim.post(
            "/login",
            data={
                "interaction": interaction,
                "csrf_token": csrf or "",
                "username": server.seed.username,
                "password": server.seed.password,
            },
        )
    assert response.status_code == 400


def test_no_response_is_a_500_and_no_secret_is_logged(server: Server) -> None:
    logs = server.logs()
    assert '"status":500' not in logs
    assert "Traceback" not in logs
    assert server.seed.confidential_secret not in logs
    assert server.seed.password not in logs
