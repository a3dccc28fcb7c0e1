"""Deeply nested and lone-surrogate input on every endpoint of a real server (issue 21,
item 9): each answer is a 2xx/3xx/4xx in the protocol's format, never a 500, and a
refused request changes no stored state.

Each endpoint gets a bounded number of examples (:data:`HOSTILE`), drawn from
:mod:`tests.fuzz.strategies`, in every place it reads input: query, form, JSON body,
``Authorization`` header and path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import CALLBACK
from tests.e2e.flows import pkce_pair
from tests.fuzz.conftest import FuzzServer
from tests.fuzz.strategies import (
    form_body,
    hostile_json_object,
    hostile_tokens,
    hostile_values,
    nested_token,
    with_lone_surrogate,
)
from tests.fuzz.test_properties import assert_json_protocol_response

HOSTILE = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CRASHERS = (nested_token(1_000), nested_token(1_500), "x\ud800y", '"\\udfff"')
"""Inputs that gave 500s before issue 21: each endpoint always gets these first."""
_, CHALLENGE = pkce_pair()
AUTHORIZE = {
    "response_type": "code",
    "client_id": "grid-monitor",
    "redirect_uri": CALLBACK,
    "scope": "read_sensors",
    "state": "s",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
}
REGISTRATION_NAMES = [
    "client_name",
    "redirect_uris",
    "grant_types",
    "scope",
    "token_endpoint_auth_method",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "jwks",
    "contacts",
]

REGISTRATION_BASE: dict[str, object] = {
    "grant_types": ["client_credentials"],
    "client_name": "Fuzzed",
    "scope": "read_sensors",
}
"""A registration that succeeds: hostile members replace or join it."""

Send = Callable[[httpx.Client, FuzzServer, str], httpx.Response]
"""One request carrying one hostile value somewhere."""


@dataclass(frozen=True)
class Case:
    name: str
    send: Send
    names: tuple[str, ...] = ()
    json_protocol: bool = False
    base: tuple[tuple[str, str], ...] = ()
    """A valid request the hostile value goes into, so it is read, not refused early."""


def _form(path: str, *, auth: str | None = None) -> Send:
    def send(http: httpx.Client, server: FuzzServer, pairs_text: str) -> httpx.Response:
        headers = dict(FORM)
        if auth is not None:
            headers["Authorization"] = server.basic(auth, server.seed.confidential_secret)
        return http.post(path, content=pairs_text.encode("ascii"), headers=headers)

    return send


def _query(path: str, method: str = "GET") -> Send:
    def send(http: httpx.Client, server: FuzzServer, pairs_text: str) -> httpx.Response:
        if method == "GET":
            return http.get(f"{path}?{pairs_text}")
        return http.post(path, content=pairs_text.encode("ascii"), headers=FORM)

    return send


def _bearer(method: str) -> Send:
    def send(http: httpx.Client, server: FuzzServer, token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **(FORM if method == "POST" else {})}
        return http.request(method, "/userinfo", headers=headers)

    return send


def _path(method: str, template: str) -> Send:
    def send(http: httpx.Client, server: FuzzServer, value: str) -> httpx.Response:
        segment = quote(value.encode("utf-8", "surrogatepass"), safe="")
        return http.request(method, template.format(segment), headers={"Content-Type": "x"})

    return send


CODE_GRANT = (
    ("grant_type", "authorization_code"),
    ("code", "c"),
    ("code_verifier", "v" * 43),
    ("redirect_uri", CALLBACK),
)
REFRESH_GRANT = (("grant_type", "refresh_token"), ("refresh_token", "r"), ("scope", "openid"))
FORM_CASES = [
    Case("code", _form("/token", auth="grid-monitor"), ("code", "code_verifier"), True, CODE_GRANT),
    Case(
        "refresh",
        _form("/token", auth="grid-monitor"),
        ("refresh_token", "scope"),
        True,
        REFRESH_GRANT,
    ),
    Case(
        "token_public",
        _form("/token"),
        ("client_id", "code"),
        True,
        (*CODE_GRANT, ("client_id", "native-app")),
    ),
    Case("revoke", _form("/revoke", auth="grid-monitor"), ("token", "token_type_hint"), True),
    Case("introspect", _form("/introspect", auth="sensors-api"), ("token",), True),
    Case("userinfo_post", _form("/userinfo"), ("access_token",)),
    Case("logout_get", _query("/logout"), ("id_token_hint", "client_id", "state")),
    Case("logout_post", _query("/logout", "POST"), ("id_token_hint", "ui_locales")),
    Case(
        "authorize_get",
        _query("/authorize"),
        ("id_token_hint", "login_hint", "state", "scope"),
        base=tuple(AUTHORIZE.items()),
    ),
    Case(
        "authorize_post",
        _query("/authorize", "POST"),
        ("id_token_hint", "nonce", "max_age", "ui_locales"),
        base=tuple(AUTHORIZE.items()),
    ),
    Case("login_get", _query("/login"), ("interaction",)),
    Case("login_post", _query("/login", "POST"), ("interaction", "username", "csrf_token")),
    Case("consent_get", _query("/consent"), ("interaction",)),
    Case("consent_post", _query("/consent", "POST"), ("interaction", "grant", "csrf_token")),
    Case("revocations", _query("/revocations"), ("since",)),
    Case("interaction_callback", _query("/interaction/callback"), ("verifier",)),
]
PATH_CASES = [
    Case("register_read", _path("GET", "/register/{}")),
    Case("register_delete", _path("DELETE", "/register/{}")),
    Case("admin_interaction", _path("GET", "/admin/interactions/{}")),
    Case("admin_accept_login", _path("PUT", "/admin/interactions/{}/accept-login")),
]


def _check(response: httpx.Response, case: Case) -> None:
    assert response.status_code < 500, (case.name, response.status_code, response.text[:300])
    assert "Traceback" not in response.text and "RecursionError" not in response.text
    if case.json_protocol:
        assert_json_protocol_response(response)


@pytest.mark.parametrize("case", FORM_CASES, ids=lambda c: c.name)
def test_hostile_parameters_get_a_protocol_answer(fuzz_server: FuzzServer, case: Case) -> None:
    @HOSTILE
    @given(
        name=st.sampled_from(case.names),
        value=st.one_of(hostile_values, with_lone_surrogate()),
    )
    @example(name=case.names[0], value=CRASHERS[0])
    @example(name=case.names[0], value=CRASHERS[1])
    @example(name=case.names[0], value=CRASHERS[2])
    @example(name=case.names[-1], value=CRASHERS[3])
    def check(name: str, value: str) -> None:
        pairs = [(k, v) for k, v in case.base if k != name] + [(name, value)]
        before = fuzz_server.snapshot(skip=("interactions",))
        with fuzz_server.client() as http:
            response = case.send(http, fuzz_server, form_body(pairs).decode("ascii"))
        _check(response, case)
        if response.status_code >= 400:
            assert fuzz_server.snapshot(skip=("interactions",)) == before, case.name

    check()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_hostile_bearer_tokens_at_userinfo_are_invalid_token(
    fuzz_server: FuzzServer, method: str
) -> None:
    @HOSTILE
    @given(token=hostile_tokens)
    @example(token=CRASHERS[0])
    @example(token=CRASHERS[1])
    def check(token: str) -> None:
        with fuzz_server.client() as http:
            response = _bearer(method)(http, fuzz_server, token)
        assert response.status_code == 401, (response.status_code, response.text[:300])
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    check()


@pytest.mark.parametrize("case", PATH_CASES, ids=lambda c: c.name)
def test_hostile_path_segments_get_a_protocol_answer(fuzz_server: FuzzServer, case: Case) -> None:
    @HOSTILE
    @given(value=st.one_of(hostile_values, with_lone_surrogate()))
    @example(value=CRASHERS[0])
    @example(value=CRASHERS[2])
    def check(value: str) -> None:
        with fuzz_server.client() as http:
            response = case.send(http, fuzz_server, value)
        _check(response, case)

    check()


def _with_member(base: dict[str, object], name: str, raw_json: str) -> bytes:
    members = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in base.items() if k != name]
    return ("{" + ", ".join([*members, f"{json.dumps(name)}: {raw_json}"]) + "}").encode()


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_hostile_registration_metadata_is_refused_without_a_trace(
    fuzz_server: FuzzServer, method: str
) -> None:
    """POST /register (open registration on the fuzz server) and RFC 7592 PUT
    /register/{id}, whose registration access token rotates on every success."""
    path, base = "/register", dict(REGISTRATION_BASE)
    headers = {"Content-Type": "application/json"}
    if method == "PUT":
        # Its own name: client names are unique, and the POST case may have taken the base's.
        base["client_name"] = "Fuzzed by PUT"
        with fuzz_server.client() as http:
            created = http.post(path, json=base).json()
        path = f"/register/{created['client_id']}"
        base["client_id"] = created["client_id"]
        headers["Authorization"] = f"Bearer {created['registration_access_token']}"

    @HOSTILE
    @given(body=hostile_json_object(REGISTRATION_NAMES, base))
    @example(body=_with_member(base, "client_name", '"\\ud800"'))
    @example(body=_with_member(base, "client_name", '"x\\udfffy"'))
    @example(body=_with_member(base, "redirect_uris", '["https://a.example/\\ud800"]'))
    @example(body=_with_member(base, "client_name", "[" * 5_000 + "]" * 5_000))
    def check(body: bytes) -> None:
        before = fuzz_server.snapshot()
        with fuzz_server.client() as http:
            response = http.request(method, path, content=body, headers=headers)
        answer = assert_json_protocol_response(response)
        if response.status_code >= 400:
            assert fuzz_server.snapshot() == before, "a refused registration changed stored state"
        elif method == "PUT":
            headers["Authorization"] = f"Bearer {answer['registration_access_token']}"

    check()


def test_the_query_strings_sent_are_what_the_server_reads() -> None:
    """The hostile values reach the server as written (no client-side normalisation)."""
    pairs = [("a", "[" * 3), ("b", "\ud800")]
    assert form_body(pairs) == b"a=%5B%5B%5B&b=%ED%A0%80"
    assert urlencode([("a", "[[[")]) == "a=%5B%5B%5B"
