"""Crafted input against a running server: every one gets a 4xx in the protocol's
format, never a 500, and a refused registration spends nothing (issue 21, item 9)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.conftest import CALLBACK, Server
from tests.e2e.flows import code_params, pkce_pair
from tests.e2e.test_registration import idp, initial_token, post_register  # noqa: F401

DEPTHS = (1_000, 1_500)
"""Past Python's recursion limit, within the 4,096 characters a parameter may have."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def nested_header_token(depth: int) -> str:
    """A compact JWS whose JOSE header is ``depth`` nested arrays."""
    header = ("[" * depth + "]" * depth).encode()
    return f"{b64url(header)}.{b64url(b'{}')}.{b64url(bytes(64))}"


def nested_tokens() -> list[str]:
    return [nested_header_token(depth) for depth in DEPTHS]


def assert_protocol_error(response: object, error: str | None = None) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert 400 <= status < 500, (status, text[:300])
    assert "Traceback" not in text and "RecursionError" not in text
    if error is not None:
        assert response.json()["error"] == error  # type: ignore[attr-defined]


def basic(server: Server, client_id: str) -> tuple[str, str]:
    return (client_id, server.seed.confidential_secret)


@pytest.mark.parametrize("token", nested_tokens(), ids=lambda t: f"len{len(t)}")
def test_nested_jose_header_on_userinfo_is_invalid_token(server: Server, token: str) -> None:
    with server.client() as http:
        response = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert_protocol_error(response)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("token", nested_tokens(), ids=lambda t: f"len{len(t)}")
def test_nested_jose_header_on_introspection_is_inactive(server: Server, token: str) -> None:
    with server.client() as http:
        response = http.post(
            "/introspect",
            data={"token": token},
            auth=basic(server, server.seed.resource_server_id),
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


@pytest.mark.parametrize("token", nested_tokens(), ids=lambda t: f"len{len(t)}")
def test_nested_jose_header_on_revocation_is_ignored(server: Server, token: str) -> None:
    """RFC 7009 §2.2: an invalid token is answered 200, like an unknown one."""
    with server.client() as http:
        response = http.post(
            "/revoke", data={"token": token}, auth=basic(server, server.seed.confidential_id)
        )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("token", nested_tokens(), ids=lambda t: f"len{len(t)}")
def test_nested_id_token_hint_on_logout_is_invalid_request(server: Server, token: str) -> None:
    with server.client() as http:
        shown = http.get("/logout", params={"id_token_hint": token})
        posted = http.post("/logout", data={"id_token_hint": token})
    assert_protocol_error(shown)
    assert_protocol_error(posted)


@pytest.mark.parametrize("token", nested_tokens(), ids=lambda t: f"len{len(t)}")
def test_nested_id_token_hint_on_authorize_is_refused(server: Server, token: str) -> None:
    _, challenge = pkce_pair()
    params = code_params(server.seed, challenge, state="s1", id_token_hint=token)
    with server.client() as http:
        response = http.get("/authorize", params=params)
    assert response.status_code in (302, 400), (response.status_code, response.text[:300])
    if response.status_code == 302:
        assert response.headers["location"].startswith(CALLBACK + "?")
        assert "error=invalid_request" in response.headers["location"]
    assert "Traceback" not in response.text


def test_lone_surrogate_in_client_name_is_refused_and_spends_no_use(
    idp: Server,  # noqa: F811
) -> None:
    token = initial_token(idp, "--uses", "1", "--expires-in", "300")
    surrogate = b'{"grant_types": ["client_credentials"], "client_name": "x\\ud800y"}'
    with idp.client() as http:
        refused = post_register(http, surrogate, token)
        nested = post_register(
            http, b'{"client_name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", token
        )
        ok = post_register(http, {"grant_types": ["client_credentials"]}, token)
    assert_protocol_error(refused, "invalid_client_metadata")
    assert_protocol_error(nested)
    assert ok.status_code == 201, ok.text


def test_lone_surrogate_in_a_registration_update_is_refused(idp: Server) -> None:  # noqa: F811
    token = initial_token(idp)
    with idp.client() as http:
        created = post_register(http, {"grant_types": ["client_credentials"]}, token).json()
        body = json.dumps(
            {"client_id": created["client_id"], "grant_types": ["client_credentials"]}
        )
        body = body[:-1] + ', "client_name": "\\udfff"}'
        response = http.put(
            f"/register/{created['client_id']}",
            content=body.encode(),
            headers={
                "Authorization": f"Bearer {created['registration_access_token']}",
                "Content-Type": "application/json",
            },
        )
    assert_protocol_error(response, "invalid_client_metadata")


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def other_spellings(token: str) -> list[str]:
    """The token with its signature spelled otherwise: unused low bits of the last
    character set (an ES256 signature of 64 octets has 4), or the base64 alphabet."""
    head, payload, signature = token.split(".")
    last = ALPHABET.index(signature[-1])
    unused = {2: 4, 3: 2}[len(signature) % 4]
    spellings = [signature[:-1] + ALPHABET[last | bits] for bits in range(1, 1 << unused)]
    spellings.append(signature.replace("-", "+").replace("_", "/"))
    spellings.append(signature[:20] + "!" + signature[20:])
    return [f"{head}.{payload}.{s}" for s in spellings if s != signature]


def test_an_access_token_has_one_spelling_at_introspection(server: Server) -> None:
    """Issue 21, item 14: the validation core accepted 16 spellings of every token."""
    with server.client() as http:
        issued = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "read_sensors"},
            auth=basic(server, server.seed.machine_id),
        )
        token = issued.json()["access_token"]
        introspector = basic(server, server.seed.resource_server_id)
        original = http.post("/introspect", data={"token": token}, auth=introspector)
        answers = [
            http.post("/introspect", data={"token": variant}, auth=introspector)
            for variant in other_spellings(token)
        ]
    assert original.json()["active"] is True
    assert len(answers) >= 15
    for answer in answers:
        assert answer.status_code == 200 and answer.json() == {"active": False}
