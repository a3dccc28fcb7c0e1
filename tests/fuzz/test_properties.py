"""Property tests over real HTTP: whatever a client sends to /authorize, /token,
/revoke, /introspect or /register, the answer is a well-formed protocol response
(2xx/3xx/4xx, never 5xx), and a refused request changes no stored state.

Well-formed means: JSON endpoints answer ``application/json`` with an RFC 6749 §5.2
error object (``error`` in the §5.2 character set, never cached) when they refuse, and
401 comes with ``WWW-Authenticate``; /authorize answers with an HTML error page (never
a redirect to an unverified URI) or a redirect carrying ``error`` and ``iss`` back to a
registered URI, or on to the login page.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import CALLBACK
from tests.e2e.flows import pkce_pair
from tests.fuzz.conftest import FuzzServer

ERROR_CODE = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]+$")
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
_, CHALLENGE = pkce_pair()

# Values: random text, edge cases, and the valid values that take requests deeper.
_text = st.text(max_size=40)
_edge = st.sampled_from(
    ["", " ", "\x00", "%00", "é", "a" * 5000, "null", "[]", "{}", "../..", "%", "+", "=", "&"]
)
_valid = st.sampled_from(
    [
        "code",
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "grid-monitor",
        "native-app",
        "meter-reader",
        CALLBACK,
        CALLBACK + "/",
        "read_sensors",
        "read_sensors read_billing",
        "openid",
        "https://sensors.example.test",
        "S256",
        "plain",
        CHALLENGE,
        "none",
        "login",
        "access_token",
    ]
)
_values = st.one_of(_text, _edge, _valid)


Pairs = list[tuple[str, str]]


def _pairs(names: list[str], bases: list[Pairs] | None = None) -> st.SearchStrategy[Pairs]:
    """Random parameters; with ``bases`` (valid requests), often one of them as is, or
    with parameters dropped and random ones added, so the fuzzing gets past the first
    checks."""
    keys = st.one_of(st.sampled_from(names), st.text(max_size=8))
    extra = st.lists(st.tuples(keys, _values), max_size=8)
    if not bases:
        return extra

    @st.composite
    def near_valid(draw: st.DrawFn) -> Pairs:
        base = draw(st.sampled_from(bases))
        mostly = st.sampled_from([True, True, True, False])
        keep = draw(st.lists(mostly, min_size=len(base), max_size=len(base)))
        more = draw(st.lists(st.tuples(keys, _values), max_size=1))
        return [pair for pair, kept in zip(base, keep, strict=True) if kept] + more

    return st.one_of(extra, st.sampled_from(bases), near_valid(), near_valid())


TOKEN_NAMES = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "resource",
    "client_id",
    "client_secret",
]
TOKEN_USE_NAMES = ["token", "token_type_hint", "client_id", "client_secret"]
AUTHORIZE_BASES = [
    [
        ("response_type", "code"),
        ("client_id", "native-app"),
        ("redirect_uri", "http://127.0.0.1:7000/cb"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("scope", "read_sensors"),
        ("state", "xyz"),
    ],
    [
        ("response_type", "code"),
        ("client_id", "grid-monitor"),
        ("redirect_uri", CALLBACK),
        ("scope", "read_sensors"),
        ("prompt", "none"),
    ],
]
TOKEN_BASES = [
    [("grant_type", "client_credentials"), ("scope", "read_sensors")],
    [
        ("grant_type", "authorization_code"),
        ("code", "not-a-code"),
        ("code_verifier", "v" * 43),
        ("redirect_uri", CALLBACK),
    ],
    [("grant_type", "refresh_token"), ("refresh_token", "not-a-refresh-token")],
]
TOKEN_USE_BASES = [
    [("token", "not-a-token")],
    [("token", "a.b.c"), ("token_type_hint", "access_token")],
]
AUTHORIZE_NAMES = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "resource",
    "response_mode",
    "login_hint",
    "request",
]


def _authorizations(server: FuzzServer) -> st.SearchStrategy[str | None]:
    seed = server.seed
    # A header value as HTTP/1.1 can carry it (RFC 9110 §5.5: no control characters,
    # no surrounding whitespace); obs-text (0x80-0xFF) included.
    visible = [chr(c) for c in (*range(0x21, 0x7F), *range(0x80, 0x100))]
    latin1 = st.text(st.sampled_from([*visible, " "]), max_size=40).map(str.strip)
    valid = st.sampled_from(
        [
            server.basic(seed.confidential_id, seed.confidential_secret),
            server.basic(seed.machine_id, seed.confidential_secret),
            server.basic(seed.resource_server_id, seed.confidential_secret),
        ]
    )
    return st.one_of(
        st.none(),
        valid,
        st.just(server.basic(seed.confidential_id, "wrong")),
        st.just(server.basic(seed.public_id, "")),
        st.builds(lambda t: "Basic " + t, latin1),
        st.builds(lambda t: "Bearer " + t, latin1),
        latin1,
    )


_content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/json",
        "text/plain",
        None,
    ]
)


def _body(pairs: list[tuple[str, str]], raw: bytes | None) -> bytes:
    return raw if raw is not None else urlencode(pairs).encode("utf-8", "surrogatepass")


def assert_json_protocol_response(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = json.loads(response.content)
    assert isinstance(body, dict)
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and ERROR_CODE.match(body["error"]), body
        description = body.get("error_description")
        assert description is None or ERROR_CODE.match(description), body
        assert "no-store" in response.headers.get("cache-control", "")
        if response.status_code == 401:
            assert response.headers.get("www-authenticate")
    return body


def _client_requests(
    server: FuzzServer, names: list[str], bases: list[Pairs] | None
) -> st.SearchStrategy[tuple[Pairs, bytes | None, str | None, str | None]]:
    """(parameters, raw body, Authorization, Content-Type): half anything at all, half
    well-formed (a confidential client's credentials, a form body) with near-valid
    parameters, so the grant and token rules are reached, not only the parsing."""
    anything = st.tuples(
        _pairs(names, bases),
        st.one_of(st.none(), st.binary(max_size=300)),
        _authorizations(server),
        _content_types,
    )
    seed = server.seed
    well_formed = st.tuples(
        _pairs(names, bases),
        st.none(),
        st.sampled_from(
            [
                server.basic(seed.confidential_id, seed.confidential_secret),
                server.basic(seed.machine_id, seed.confidential_secret),
                server.basic(seed.resource_server_id, seed.confidential_secret),
                None,  # credentials in the body, or none (public client)
            ]
        ),
        st.just("application/x-www-form-urlencoded"),
    )
    return st.one_of(anything, well_formed)


def _client_endpoint_property(
    server: FuzzServer,
    path: str,
    names: list[str],
    bases: list[Pairs] | None = None,
) -> Any:
    @FUZZ
    @given(request=_client_requests(server, names, bases))
    def check(request: tuple[Pairs, bytes | None, str | None, str | None]) -> None:
        pairs, raw, authorization, content_type = request
        headers: dict[str, str | bytes] = {}
        if authorization:
            headers["Authorization"] = authorization.strip().encode("latin-1")
        if content_type is not None:
            headers["Content-Type"] = content_type
        before = server.snapshot()
        with server.client() as http:
            response = http.post(path, content=_body(pairs, raw), headers=headers)
        body = assert_json_protocol_response(response)
        event(f"{response.status_code} {body.get('error', '')}")
        if response.status_code >= 400:
            assert server.snapshot() == before, f"{path} changed stored state on error"

    return check


def test_token_endpoint_answers_any_input_with_a_protocol_response(
    fuzz_server: FuzzServer,
) -> None:
    _client_endpoint_property(fuzz_server, "/token", TOKEN_NAMES, TOKEN_BASES)()


def test_revocation_endpoint_answers_any_input_with_a_protocol_response(
    fuzz_server: FuzzServer,
) -> None:
    _client_endpoint_property(fuzz_server, "/revoke", TOKEN_USE_NAMES, TOKEN_USE_BASES)()


def test_introspection_endpoint_answers_any_input_with_a_protocol_response(
    fuzz_server: FuzzServer,
) -> None:
    _client_endpoint_property(fuzz_server, "/introspect", TOKEN_USE_NAMES, TOKEN_USE_BASES)()


def test_authorization_endpoint_answers_any_input_with_a_page_or_a_safe_redirect(
    fuzz_server: FuzzServer,
) -> None:
    registered = {CALLBACK, "http://127.0.0.1:9000/other", "http://127.0.0.1:7000/cb"}

    @FUZZ
    @given(pairs=_pairs(AUTHORIZE_NAMES, AUTHORIZE_BASES), post=st.booleans())
    def check(pairs: list[tuple[str, str]], post: bool) -> None:
        # Creating a pending sign-in (a redirect to /login) is what a valid request does.
        before = fuzz_server.snapshot(skip=("interactions",))
        with fuzz_server.client() as http:
            if post:
                response = http.post(
                    "/authorize",
                    content=_body(pairs, None),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            else:
                response = http.get("/authorize?" + urlencode(pairs))
        status = response.status_code
        event(f"{status} {urlsplit(response.headers.get('location', '')).path}")
        assert status < 500, (status, response.text)
        refused = status >= 400
        if status in (302, 303):
            location = urlsplit(response.headers["location"])
            target = f"{location.scheme}://{location.netloc}{location.path}"
            if location.scheme:
                assert target in registered, response.headers["location"]
                query = parse_qs(location.query)
                assert "error" in query and query["iss"] == [fuzz_server.base_url], query
                refused = True
            else:
                assert location.path == "/login", response.headers["location"]
        else:
            assert status in (200, 400), status
            assert response.headers["content-type"].startswith("text/html")
            if status == 400:
                assert "Correlation id" in response.text
        if refused:
            assert fuzz_server.snapshot(skip=("interactions",)) == before

    check()


def test_registration_endpoint_answers_any_input_with_a_protocol_response(
    fuzz_server: FuzzServer,
) -> None:
    metadata = st.dictionaries(
        st.one_of(
            st.sampled_from(
                [
                    "redirect_uris",
                    "client_name",
                    "grant_types",
                    "response_types",
                    "token_endpoint_auth_method",
                    "scope",
                    "jwks",
                ]
            ),
            st.text(max_size=8),
        ),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), _values),
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=5,
        ),
        max_size=6,
    )

    @FUZZ
    @given(
        body=st.one_of(
            metadata.map(lambda m: json.dumps(m).encode()),
            st.binary(max_size=200),
        ),
        authorization=_authorizations(fuzz_server),
        content_type=_content_types,
    )
    def check(body: bytes, authorization: str | None, content_type: str | None) -> None:
        headers: dict[str, str | bytes] = {}
        if authorization:
            headers["Authorization"] = authorization.strip().encode("latin-1")
        if content_type is not None:
            headers["Content-Type"] = content_type
        before = fuzz_server.snapshot()
        with fuzz_server.client() as http:
            response = http.post("/register", content=body, headers=headers)
        body = assert_json_protocol_response(response)
        event(f"{response.status_code} {body.get('error', '')}")
        if response.status_code >= 400:
            assert fuzz_server.snapshot() == before, "/register changed stored state on error"

    with fuzz_server.client() as http:
        probe = http.post("/register", json={})
    if probe.status_code in (404, 405):
        # Dynamic registration (RFC 7591) is not routed in this build.
        assert probe.status_code != 500
        return
    check()
